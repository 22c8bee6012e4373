//! One partition replica on this broker: its log, leader epoch and high watermark.
//!
//! Inputs: producer appends (as leader), reads, truncation, time. Outputs: offsets, batches
//! and the high watermark consumers may read up to.
//! Invariants: `log_start_offset <= high_watermark <= log_end_offset`; the high watermark
//! never goes backwards while this replica leads; the leader epoch never goes backwards.
//! With a single replica (this stage), the ISR is {this broker} and the high watermark
//! follows the log end offset; replication (issue 5) adds followers, the ISR and its rules.

use crate::config::{TimestampType, TopicSettings};
use crate::log::{AppendInfo, Log, LogError, ReadResult};
use crate::storage::Storage;
use crate::types::{LeaderEpoch, Offset, TopicPartition};

/// A partition replica that this broker leads.
pub struct Partition<S: Storage> {
    topic_partition: TopicPartition,
    log: Log<S>,
    settings: TopicSettings,
    leader_epoch: LeaderEpoch,
    high_watermark: Offset,
    isr_size: usize,
}

impl<S: Storage> std::fmt::Debug for Partition<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("topic_partition", &self.topic_partition)
            .field("leader_epoch", &self.leader_epoch)
            .field("high_watermark", &self.high_watermark)
            .field("log", &self.log)
            .finish()
    }
}

/// Why an append to the partition was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("acks=all needs {min_insync_replicas} in-sync replicas, the ISR has {isr_size}")]
    NotEnoughReplicas { isr_size: usize, min_insync_replicas: i32 },
    #[error(transparent)]
    Log(#[from] LogError),
}

impl<S: Storage> Partition<S> {
    /// Opens the replica's log and takes leadership at `leader_epoch`.
    pub fn open_leader(
        storage: S,
        dir: std::path::PathBuf,
        topic_partition: TopicPartition,
        settings: TopicSettings,
        leader_epoch: LeaderEpoch,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        let log = Log::open(storage, dir, settings.log.clone(), now_ms)?;
        let high_watermark = log.log_end_offset();
        Ok(Partition { topic_partition, log, settings, leader_epoch, high_watermark, isr_size: 1 })
    }

    /// Appends a producer's batches with `acks` (-1, 0 or 1).
    pub fn append_as_leader(
        &mut self,
        records: &[u8],
        acks: i16,
        now_ms: i64,
    ) -> Result<AppendInfo, AppendError> {
        if acks == -1 && (self.isr_size as i32) < self.settings.min_insync_replicas {
            return Err(AppendError::NotEnoughReplicas {
                isr_size: self.isr_size,
                min_insync_replicas: self.settings.min_insync_replicas,
            });
        }
        let info = match self.settings.message_timestamp_type {
            TimestampType::CreateTime => self.log.append(records, self.leader_epoch, now_ms)?,
            TimestampType::LogAppendTime => {
                let mut stamped = records.to_vec();
                crate::log::batch::set_log_append_time(&mut stamped, now_ms)
                    .map_err(|(position, source)| LogError::CorruptBatch { position, source })?;
                self.log.append(&stamped, self.leader_epoch, now_ms)?
            }
        };
        self.advance_high_watermark();
        Ok(info)
    }

    /// With the ISR being this replica alone, everything appended is committed.
    fn advance_high_watermark(&mut self) {
        let end = self.log.log_end_offset();
        assert!(end >= self.high_watermark, "the high watermark never goes back");
        self.high_watermark = end;
    }

    /// Batches for a consumer: at most up to the high watermark.
    pub fn read(
        &self,
        offset: Offset,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadResult, LogError> {
        self.log.read(offset, max_bytes, self.high_watermark, min_one_batch)
    }

    /// The earliest offset whose timestamp is at least `timestamp`, below the high watermark.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(Offset, i64)>, LogError> {
        self.log.offset_for_timestamp(timestamp, self.high_watermark)
    }

    /// Retention, never deleting above the high watermark.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        self.log.enforce_retention(now_ms, self.high_watermark)
    }

    /// New topic settings (only log settings and min ISR change anything at runtime).
    pub fn set_settings(&mut self, settings: TopicSettings) {
        self.log.set_config(settings.log.clone());
        self.settings = settings;
    }

    pub fn handle_timeout(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.log.handle_timeout(now_ms)
    }

    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.log.next_deadline_ms()
    }

    pub fn close(self, now_ms: i64) -> Result<(), LogError> {
        self.log.close(now_ms)
    }

    pub fn delete(self) -> Result<(), LogError> {
        self.log.delete()
    }

    pub fn settings(&self) -> &TopicSettings {
        &self.settings
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.topic_partition
    }

    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.leader_epoch
    }

    pub fn high_watermark(&self) -> Offset {
        self.high_watermark
    }

    pub fn log_start_offset(&self) -> Offset {
        self.log.log_start_offset()
    }

    pub fn log_end_offset(&self) -> Offset {
        self.log.log_end_offset()
    }

    pub fn durable_offset(&self) -> Offset {
        self.log.durable_offset()
    }

    /// The offset and timestamp of the record with the largest timestamp (ListOffsets -3).
    pub fn max_timestamp(&self) -> Result<Option<(Offset, i64)>, LogError> {
        self.log.max_timestamp_record(self.high_watermark)
    }
}
