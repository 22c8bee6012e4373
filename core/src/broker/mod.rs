//! The broker's request handling, sans IO: Kafka requests in, responses out.
//!
//! Inputs: decoded requests with a token naming where the answer goes
//! ([`Broker::handle_request`]), and the time ([`Broker::handle_timeout`]). Outputs:
//! responses drained with [`Broker::poll_output`] until it returns `None`, and the next
//! deadline from [`Broker::next_deadline_ms`]. The caller (the async shell in `node/`, or a
//! test) must drain outputs after every input. No clock, no randomness except the seeded RNG
//! given at open, and storage only through [`Storage`].
//!
//! Two ways to run: **standalone** ([`Broker::open`]) keeps its own metadata log and leads
//! every partition alone; **clustered** ([`Broker::open_clustered`], driven by the
//! [`Server`](crate::server)) takes its metadata from the controller quorum's committed image,
//! holds the replicas the image places on it, and talks to peers through [`PeerRequest`]s
//! (see `replication.rs`).
//!
//! Invariants: every request gets exactly one output (a response, or `None` for acks=0
//! produce), possibly later (a fetch waiting for data, an acks=all produce waiting for the
//! ISR, a request forwarded to the controller); metadata changes are durable (standalone) or
//! committed (clustered) before any response shows them; only a partition's leader serves
//! clients' produce, fetch and ListOffsets; one handler per API key, in the files beside
//! this one.

pub(crate) mod admin;
mod fetch;
mod list_offsets;
mod metadata;
mod produce;
mod replication;

pub use replication::{CallTarget, PeerCallToken, PeerRequest};

use crate::config::{BrokerConfig, TopicConfig};
use crate::log::batch::BatchError;
use crate::log::LogError;
use crate::metadata::store::{read_or_create_meta_properties, MetadataError, MetadataStore};
use crate::metadata::{MetadataRecord, TopicImage, METADATA_TOPIC};
use crate::partition::Partition;
use crate::protocol::{self, ErrorCode, Request};
use crate::storage::Storage;
use crate::types::{LeaderEpoch, TopicPartition};
use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, VecDeque};
use uuid::Uuid;

/// Names the connection and request an answer belongs to; chosen by the caller.
pub type RequestToken = u64;

/// An answer for the caller to send.
#[derive(Debug)]
pub struct Output {
    pub token: RequestToken,
    /// `None`: send nothing (acks=0 produce).
    pub response: Option<ResponseKind>,
}

/// One replica's offsets and epoch at a moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaState {
    pub topic_partition: TopicPartition,
    pub leader_epoch: LeaderEpoch,
    pub log_start_offset: crate::types::Offset,
    pub high_watermark: crate::types::Offset,
    pub log_end_offset: crate::types::Offset,
    /// Offsets below this are synced and survive a power loss.
    pub durable_offset: crate::types::Offset,
    pub is_leader: bool,
}

/// Why the broker could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("partition {topic_partition}: {source}")]
    Partition {
        topic_partition: TopicPartition,
        #[source]
        source: LogError,
    },
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// The committed metadata gives a topic a config this broker cannot apply.
    #[error("topic {topic}: {source}")]
    TopicConfig {
        topic: String,
        #[source]
        source: crate::config::TopicConfigError,
    },
}

/// How many producer ids one metadata record hands out.
const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// Where the broker's metadata comes from.
enum MetadataSource<S: Storage> {
    /// Standalone: the broker's own metadata log, written by its own admin handlers.
    Local(Box<MetadataStore<S>>),
    /// Clustered: the committed image the server replayed from the controller quorum;
    /// admin requests go to the active controller instead.
    Replicated(Box<crate::metadata::MetadataImage>),
}

impl<S: Storage> MetadataSource<S> {
    fn image(&self) -> &crate::metadata::MetadataImage {
        match self {
            MetadataSource::Local(store) => store.image(),
            MetadataSource::Replicated(image) => image,
        }
    }

    /// Commits records to the local metadata log (standalone only: a clustered broker's
    /// admin requests are forwarded, never handled here).
    fn commit(&mut self, records: Vec<MetadataRecord>, now_ms: i64) -> Result<(), MetadataError> {
        match self {
            MetadataSource::Local(store) => store.commit(records, now_ms),
            MetadataSource::Replicated(_) => {
                panic!("a clustered broker wrote metadata itself instead of asking the controller")
            }
        }
    }

    fn next_deadline_ms(&self) -> Option<i64> {
        match self {
            MetadataSource::Local(store) => store.next_deadline_ms(),
            MetadataSource::Replicated(_) => None,
        }
    }

    fn handle_timeout(&mut self, now_ms: i64) -> Result<(), MetadataError> {
        match self {
            MetadataSource::Local(store) => store.handle_timeout(now_ms),
            MetadataSource::Replicated(_) => Ok(()),
        }
    }

    fn close(self, now_ms: i64) -> Result<(), MetadataError> {
        match self {
            MetadataSource::Local(store) => (*store).close(now_ms),
            MetadataSource::Replicated(_) => Ok(()),
        }
    }
}

/// One broker: the partitions it holds, the metadata it serves, the requests it holds.
pub struct Broker<S: Storage> {
    config: BrokerConfig,
    storage: S,
    cluster_id: String,
    metadata: MetadataSource<S>,
    /// Partitions this broker holds a replica of, by topic name and partition index.
    topics: BTreeMap<String, BTreeMap<i32, Partition<S>>>,
    delayed_fetches: Vec<fetch::DelayedFetch>,
    delayed_produces: Vec<produce::DelayedProduce>,
    /// Clustered only: replica fetchers, ISR proposals, forwarded requests.
    cluster: Option<Box<replication::ClusterState>>,
    outputs: VecDeque<Output>,
    rng: rand::rngs::StdRng,
    /// Producer ids handed out from the current block: `[next, end)`.
    producer_ids: (i64, i64),
    next_retention_check_ms: i64,
}

impl<S: Storage> Broker<S> {
    /// Opens the broker's data: `meta.properties`, the metadata log, every partition's log
    /// (recovering those that were not shut down cleanly). Directories of partitions the
    /// metadata does not know (a deletion interrupted by a crash) are removed.
    pub fn open(
        config: BrokerConfig,
        storage: S,
        now_ms: i64,
        seed: u64,
    ) -> Result<Broker<S>, BrokerError> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let log_dir = config.log_dir().to_path_buf();
        storage.create_dir_all(&log_dir)?;
        let new_cluster_id = base64_url(&rng.gen::<[u8; 16]>());
        let cluster_id =
            read_or_create_meta_properties(&storage, &log_dir, config.node_id, &new_cluster_id)?;
        let metadata = MetadataStore::open(storage.clone(), &log_dir, now_ms)?;
        let mut broker = Broker {
            next_retention_check_ms: now_ms + config.log_retention_check_interval_ms,
            config,
            storage,
            cluster_id,
            metadata: MetadataSource::Local(Box::new(metadata)),
            topics: BTreeMap::new(),
            delayed_fetches: Vec::new(),
            delayed_produces: Vec::new(),
            cluster: None,
            outputs: VecDeque::new(),
            rng,
            producer_ids: (0, 0),
        };
        let images: Vec<TopicImage> = broker.metadata.image().topics().cloned().collect();
        for image in &images {
            broker.open_partitions(image, 0, now_ms)?;
        }
        broker.remove_stray_partition_dirs()?;
        tracing::info!(node_id = %broker.config.node_id, cluster_id = %broker.cluster_id, topics = images.len(), "broker opened");
        Ok(broker)
    }

    /// Opens partitions `[from, count)` of a topic the metadata holds.
    fn open_partitions(
        &mut self,
        image: &TopicImage,
        from: usize,
        now_ms: i64,
    ) -> Result<(), BrokerError> {
        let settings = TopicConfig::new(image.configs.clone())
            .expect("stored topic configs were validated")
            .resolve(&self.config);
        let partitions = self.topics.entry(image.name.clone()).or_default();
        assert_eq!(partitions.len(), from, "partitions open in order");
        for (&index, partition) in image.partitions.range(from as i32..) {
            let topic_partition = TopicPartition::new(image.name.clone(), index);
            let dir = self.config.log_dir().join(topic_partition.dir_name());
            let opened = Partition::open_leader(
                self.storage.clone(),
                dir,
                topic_partition.clone(),
                settings.clone(),
                LeaderEpoch(partition.leader_epoch),
                now_ms,
            )
            .map_err(|source| BrokerError::Partition { topic_partition, source })?;
            partitions.insert(index, opened);
        }
        Ok(())
    }

    fn remove_stray_partition_dirs(&mut self) -> Result<(), BrokerError> {
        let log_dir = self.config.log_dir().to_path_buf();
        for name in self.storage.list_dir(&log_dir)? {
            // Partition directories are `<topic>-<index>`; anything else is not ours to judge.
            let Some((topic, Ok(index))) =
                name.rsplit_once('-').map(|(t, i)| (t, i.parse::<i32>()))
            else {
                continue;
            };
            if topic == METADATA_TOPIC {
                continue;
            }
            let known = self.topics.get(topic).is_some_and(|p| p.contains_key(&index));
            if !known {
                tracing::warn!(dir = %log_dir.join(&name).display(), "removing a partition directory the metadata does not know (an interrupted deletion)");
                self.storage.remove_dir_all(&log_dir.join(&name))?;
                self.storage.sync_dir(&log_dir)?;
            }
        }
        Ok(())
    }

    /// Handles one request; its answer appears in [`Broker::poll_output`], now or later.
    pub fn handle_request(&mut self, now_ms: i64, token: RequestToken, request: Request) {
        let version = request.api_version;
        let forwarded = matches!(
            request.body,
            RequestKind::CreateTopics(_)
                | RequestKind::DeleteTopics(_)
                | RequestKind::CreatePartitions(_)
        );
        if forwarded && self.is_clustered() {
            self.forward_to_controller(token, request.body, version);
            return;
        }
        let response = match request.body {
            RequestKind::ApiVersions(r) => Some(protocol::api_versions(&r)),
            RequestKind::Metadata(r) => {
                Some(ResponseKind::Metadata(self.handle_metadata(now_ms, version, r)))
            }
            RequestKind::Produce(r) => {
                self.handle_produce(now_ms, token, version, r);
                self.step_cluster(now_ms);
                return;
            }
            RequestKind::Fetch(r) => {
                self.handle_fetch(now_ms, token, version, r);
                self.step_cluster(now_ms);
                return;
            }
            RequestKind::InitProducerId(r) if self.is_clustered() => {
                self.init_producer_id_clustered(now_ms, token, r);
                return;
            }
            RequestKind::ListOffsets(r) => {
                Some(ResponseKind::ListOffsets(self.handle_list_offsets(version, r)))
            }
            RequestKind::CreateTopics(r) => {
                Some(ResponseKind::CreateTopics(self.handle_create_topics(now_ms, version, r)))
            }
            RequestKind::DeleteTopics(r) => {
                Some(ResponseKind::DeleteTopics(self.handle_delete_topics(now_ms, version, r)))
            }
            RequestKind::CreatePartitions(r) => {
                Some(ResponseKind::CreatePartitions(self.handle_create_partitions(now_ms, r)))
            }
            RequestKind::DescribeConfigs(r) => {
                Some(ResponseKind::DescribeConfigs(self.handle_describe_configs(version, r)))
            }
            RequestKind::InitProducerId(r) => {
                Some(ResponseKind::InitProducerId(self.handle_init_producer_id(now_ms, r)))
            }
            RequestKind::FindCoordinator(r) => {
                Some(ResponseKind::FindCoordinator(admin::find_coordinator(version, r)))
            }
            other => unreachable!("the protocol layer only passes advertised APIs, not {other:?}"),
        };
        self.outputs.push_back(Output { token, response });
    }

    /// The next answer to send, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Broker::handle_timeout`] should next be called.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let fetches = self.delayed_fetches.iter().map(|f| f.deadline_ms);
        let produces = self.delayed_produces.iter().map(|p| p.deadline_ms);
        let logs = self.partitions().filter_map(|p| p.next_deadline_ms());
        let cluster = self.cluster.as_ref().and_then(|c| c.next_deadline_ms());
        fetches
            .chain(produces)
            .chain(logs)
            .chain(cluster)
            .chain(self.metadata.next_deadline_ms())
            .chain([self.next_retention_check_ms])
            .min()
    }

    /// Runs what is due at `now_ms`: expired fetch waits, log flushes and checkpoints,
    /// retention.
    pub fn handle_timeout(&mut self, now_ms: i64) {
        self.complete_delayed_fetches(now_ms, None);
        self.complete_delayed_produces(now_ms);
        self.step_cluster(now_ms);
        for partition in self.topics.values_mut().flat_map(|p| p.values_mut()) {
            if let Err(error) = partition.handle_timeout(now_ms) {
                tracing::error!(partition = %partition.topic_partition(), %error, "flush failed");
            }
        }
        if let Err(error) = self.metadata.handle_timeout(now_ms) {
            tracing::error!(%error, "metadata log flush failed");
        }
        if now_ms >= self.next_retention_check_ms {
            self.next_retention_check_ms = now_ms + self.config.log_retention_check_interval_ms;
            for partition in self.topics.values_mut().flat_map(|p| p.values_mut()) {
                match partition.enforce_retention(now_ms) {
                    Ok(0) => {}
                    Ok(deleted) => {
                        tracing::info!(partition = %partition.topic_partition(), deleted, log_start_offset = %partition.log_start_offset(), "retention deleted segments")
                    }
                    Err(error) => {
                        tracing::error!(partition = %partition.topic_partition(), %error, "retention failed")
                    }
                }
            }
        }
    }

    /// Closes every log cleanly (the next start trusts them without recovery).
    pub fn shutdown(self, now_ms: i64) -> Result<(), BrokerError> {
        for (pending, _) in self.delayed_fetches.iter().map(|f| (f.token, ())) {
            tracing::debug!(token = pending, "fetch still waiting at shutdown");
        }
        for partition in self.topics.into_values().flat_map(BTreeMap::into_values) {
            let topic_partition = partition.topic_partition().clone();
            partition
                .close(now_ms)
                .map_err(|source| BrokerError::Partition { topic_partition, source })?;
        }
        self.metadata.close(now_ms)?;
        tracing::info!("broker shut down cleanly");
        Ok(())
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The metadata this broker serves.
    pub fn image(&self) -> &crate::metadata::MetadataImage {
        self.metadata.image()
    }

    /// Every replica this broker holds, in topic and partition order: what the testbed's
    /// invariants read (ground truth, not what clients see).
    pub fn replica_states(&self) -> Vec<ReplicaState> {
        self.partitions()
            .map(|p| ReplicaState {
                topic_partition: p.topic_partition().clone(),
                leader_epoch: p.leader_epoch(),
                log_start_offset: p.log_start_offset(),
                high_watermark: p.high_watermark(),
                log_end_offset: p.log_end_offset(),
                durable_offset: p.durable_offset(),
                is_leader: p.is_leader(),
            })
            .collect()
    }

    /// Every partition replica this broker holds, in topic and partition order.
    pub fn partitions(&self) -> impl Iterator<Item = &Partition<S>> {
        self.topics.values().flat_map(BTreeMap::values)
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// A partition this broker holds.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&Partition<S>> {
        self.topics.get(topic)?.get(&partition)
    }

    fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut Partition<S>> {
        self.topics.get_mut(topic)?.get_mut(&partition)
    }

    /// The partition a client may produce to or read from here: this broker must lead it.
    /// UNKNOWN_TOPIC_OR_PARTITION when the metadata does not know it, NOT_LEADER_OR_FOLLOWER
    /// when another broker leads it (the client refreshes its metadata and goes there).
    fn leader_partition(&self, topic: &str, partition: i32) -> Result<&Partition<S>, ErrorCode> {
        match self.partition(topic, partition) {
            Some(p) if p.is_leader() => Ok(p),
            Some(_) => Err(ErrorCode::NotLeaderOrFollower),
            None => Err(self.missing_partition_code(topic, partition)),
        }
    }

    fn leader_partition_mut(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Result<&mut Partition<S>, ErrorCode> {
        let code = self.missing_partition_code(topic, partition);
        match self.partition_mut(topic, partition) {
            Some(p) if p.is_leader() => Ok(p),
            Some(_) => Err(ErrorCode::NotLeaderOrFollower),
            None => Err(code),
        }
    }

    /// Why this broker holds no replica of a partition: the metadata does not know it, or
    /// it lives on other brokers.
    fn missing_partition_code(&self, topic: &str, partition: i32) -> ErrorCode {
        let known = self
            .metadata
            .image()
            .topic(topic)
            .is_some_and(|t| t.partitions.contains_key(&partition));
        if known {
            ErrorCode::NotLeaderOrFollower
        } else {
            ErrorCode::UnknownTopicOrPartition
        }
    }

    /// Creates a topic: metadata first (durably), then its logs.
    fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        configs: TopicConfig,
        now_ms: i64,
    ) -> Result<Uuid, String> {
        let topic_id = uuid::Builder::from_random_bytes(self.rng.gen()).into_uuid();
        let node = self.config.node_id.0;
        let mut records = vec![MetadataRecord::Topic { name: name.to_string(), topic_id }];
        for (key, value) in configs.overrides() {
            records.push(MetadataRecord::TopicConfig {
                topic_id,
                key: key.clone(),
                value: Some(value.clone()),
            });
        }
        records.extend((0..partitions).map(|partition| MetadataRecord::Partition {
            topic_id,
            partition,
            replicas: vec![node],
            isr: vec![node],
            leader: node,
            leader_epoch: 0,
            partition_epoch: 0,
            elr: vec![],
            last_known_elr: vec![],
        }));
        self.commit_and_open(records, name, now_ms)?;
        tracing::info!(topic = name, partitions, %topic_id, "topic created");
        Ok(topic_id)
    }

    /// Commits metadata records, then opens the topic's partitions that are new.
    fn commit_and_open(
        &mut self,
        records: Vec<MetadataRecord>,
        topic: &str,
        now_ms: i64,
    ) -> Result<(), String> {
        self.metadata.commit(records, now_ms).map_err(|e| {
            tracing::error!(error = %e, "metadata commit failed");
            format!("metadata could not be stored: {e}")
        })?;
        let image = self.metadata.image().topic(topic).expect("just committed").clone();
        let from = self.topics.get(topic).map_or(0, BTreeMap::len);
        self.open_partitions(&image, from, now_ms).map_err(|e| {
            tracing::error!(error = %e, "opening a new partition failed");
            e.to_string()
        })
    }
}

/// Kafka's topic name rules (`Topic.validate`).
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return Err(format!(
            "Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"
        ));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return Err(format!("Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"));
    }
    if name == METADATA_TOPIC {
        return Err(format!("Topic name \"{name}\" is reserved for the cluster metadata log"));
    }
    Ok(())
}

/// The Kafka error code for a log error.
pub fn log_error_code(error: &LogError) -> ErrorCode {
    match error {
        // Kafka's LogValidator: a count that disagrees with the offset range is an
        // InvalidRecordException ("Inconsistent batch offset range"), not a corrupt batch.
        LogError::CorruptBatch {
            source:
                BatchError::BadRecordCount { .. }
                | BatchError::RecordsMismatch { .. }
                | BatchError::BadRecord { .. }
                | BatchError::DecompressedTooLarge { .. },
            ..
        } => ErrorCode::InvalidRecord,
        LogError::CorruptBatch { source: BatchError::UnknownCompression { .. }, .. } => {
            ErrorCode::UnsupportedCompressionType
        }
        LogError::CorruptBatch { .. } | LogError::NoBatches => ErrorCode::CorruptMessage,
        LogError::BatchTooLarge { .. } => ErrorCode::MessageTooLarge,
        LogError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        LogError::NotContiguous { .. } => ErrorCode::UnknownServerError,
        LogError::Offline { .. } | LogError::Storage(_) => ErrorCode::KafkaStorageError,
    }
}

pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Kafka prints cluster ids as URL-safe base64 without padding (22 characters).
pub(crate) fn base64_url(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests;
