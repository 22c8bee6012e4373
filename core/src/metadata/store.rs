//! The single-node metadata store: the metadata log on local storage, and `meta.properties`.
//!
//! Inputs: record lists to commit. Outputs: the image, updated only after the records are
//! synced. Invariants: replaying the log from the start rebuilds the same image; a log that
//! does not decode into records is an error that names the offset (the log's own recovery
//! already dropped torn tails, so this means a bug or a hand-edited file).

use super::{MetadataImage, MetadataRecord, METADATA_LOG_DIR};
use crate::log::{batch, Log, LogConfig, LogError};
use crate::storage::{OpenMode, Storage, StorageError, StorageFile};
use crate::types::{BrokerId, LeaderEpoch, Offset};
use bytes::Bytes;
use std::path::Path;

/// Why metadata could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata log: {0}")]
    Log(#[from] LogError),
    #[error("metadata log record at offset {offset} is unreadable: {reason}")]
    Corrupt { offset: Offset, reason: String },
    #[error("{path}: {reason}")]
    MetaProperties { path: String, reason: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The metadata log and the image it replays into.
pub struct MetadataStore<S: Storage> {
    log: Log<S>,
    image: MetadataImage,
}

fn metadata_log_config() -> LogConfig {
    LogConfig {
        retention_ms: -1,
        retention_bytes: -1,
        segment_bytes: 64 << 20,
        ..LogConfig::default()
    }
}

impl<S: Storage> MetadataStore<S> {
    /// Opens (or creates) the metadata log under `log_dir` and replays it.
    pub fn open(storage: S, log_dir: &Path, now_ms: i64) -> Result<Self, MetadataError> {
        let log =
            Log::open(storage, log_dir.join(METADATA_LOG_DIR), metadata_log_config(), now_ms)?;
        let mut image = MetadataImage::default();
        let mut offset = log.log_start_offset();
        while offset < log.log_end_offset() {
            let read = log.read(offset, 1 << 20, log.log_end_offset(), true)?;
            let mut records = read.records;
            assert!(!records.is_empty(), "a read below the log end returns a batch");
            while !records.is_empty() {
                let header = batch::BatchHeader::parse(&records)
                    .map_err(|e| MetadataError::Corrupt { offset, reason: e.to_string() })?;
                let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut records)
                    .map_err(|e| MetadataError::Corrupt {
                        offset: header.base_offset,
                        reason: e.to_string(),
                    })?;
                for record in set.records {
                    let corrupt = |reason: String| MetadataError::Corrupt {
                        offset: Offset(record.offset),
                        reason,
                    };
                    let value = record
                        .value
                        .as_ref()
                        .ok_or_else(|| corrupt("record has no value".into()))?;
                    let decoded: MetadataRecord =
                        serde_json::from_slice(value).map_err(|e| corrupt(e.to_string()))?;
                    image.replay(&decoded);
                }
                offset = header.next_offset();
            }
        }
        Ok(MetadataStore { log, image })
    }

    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// Makes `records` durable, then applies them to the image.
    pub fn commit(
        &mut self,
        records: Vec<MetadataRecord>,
        now_ms: i64,
    ) -> Result<(), MetadataError> {
        if records.is_empty() {
            return Ok(());
        }
        // Replay on a copy first: a record that does not apply is a bug, and must not be
        // written where it would break every later start.
        let mut next = self.image.clone();
        for record in &records {
            next.replay(record);
        }
        let values: Vec<(Option<Bytes>, Option<Bytes>)> = records
            .iter()
            .map(|r| (None, Some(Bytes::from(serde_json::to_vec(r).expect("records serialize")))))
            .collect();
        let encoded = batch::encode(&values, now_ms);
        self.log.append(&encoded, LeaderEpoch(0), now_ms)?;
        self.log.flush(now_ms)?;
        self.image = next;
        Ok(())
    }

    pub fn handle_timeout(&mut self, now_ms: i64) -> Result<(), MetadataError> {
        Ok(self.log.handle_timeout(now_ms)?)
    }

    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.log.next_deadline_ms()
    }

    pub fn close(self, now_ms: i64) -> Result<(), MetadataError> {
        Ok(self.log.close(now_ms)?)
    }
}

/// `meta.properties` in the log dir: which cluster and node the data belongs to.
pub const META_PROPERTIES_FILE: &str = "meta.properties";

/// Reads the cluster id from `meta.properties`, or writes a new file with `new_cluster_id`
/// when there is none. A file written for another node id is an error.
pub fn read_or_create_meta_properties<S: Storage>(
    storage: &S,
    log_dir: &Path,
    node_id: BrokerId,
    new_cluster_id: &str,
) -> Result<String, MetadataError> {
    let path = log_dir.join(META_PROPERTIES_FILE);
    let problem =
        |reason: String| MetadataError::MetaProperties { path: path.display().to_string(), reason };
    if storage.exists(&path)? {
        let bytes = storage.open(&path, OpenMode::Existing)?.read_all()?;
        let text = String::from_utf8(bytes).map_err(|_| problem("not UTF-8".into()))?;
        let entries = crate::config::properties::parse(&text)
            .map_err(|(line, reason)| problem(format!("line {line}: {reason}")))?;
        let get = |key: &str| entries.iter().find(|e| e.key == key).map(|e| e.value.clone());
        let cluster_id = get("cluster.id").ok_or_else(|| problem("no cluster.id".into()))?;
        let stored_node: i32 = get("node.id")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| problem("no valid node.id".into()))?;
        if stored_node != node_id.0 {
            return Err(problem(format!(
                "the data belongs to node.id={stored_node}, but this broker is node.id={}",
                node_id.0
            )));
        }
        return Ok(cluster_id);
    }
    let temporary = log_dir.join(format!("{META_PROPERTIES_FILE}.tmp"));
    let mut file = storage.open(&temporary, OpenMode::CreateOrExisting)?;
    file.truncate(0)?;
    file.append(
        format!("version=1\ncluster.id={new_cluster_id}\nnode.id={}\n", node_id.0).as_bytes(),
    )?;
    file.sync()?;
    drop(file);
    storage.rename(&temporary, &path)?;
    storage.sync_dir(log_dir)?;
    Ok(new_cluster_id.to_string())
}
