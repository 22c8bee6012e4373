//! The client's view of the cluster: bootstrap, metadata cache, connection pool, ListOffsets.
//!
//! Inputs: bootstrap servers; Metadata responses; requests for connections to a broker id,
//! to any broker or to the controller. Outputs: [`Metadata`] snapshots (brokers, topics with
//! their ids, partitions with leader, replicas, isr, offline replicas), pooled
//! [`Connection`]s, listed offsets.
//! Invariants: metadata is replaced whole per topic and never partially edited; a snapshot
//! handed out never changes; at most one connection per broker address is being opened at a
//! time, and a closed connection is replaced on next use; metadata requests go to the live
//! connection with the fewest requests in flight (Kafka's least-loaded node), otherwise to
//! known brokers in id order, then to the bootstrap servers. Callers refresh on
//! NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE and connection
//! loss ([`ClientError::needs_metadata_refresh`]), after `retry_backoff_ms`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ListOffsetsRequest, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::{parse_host_port, ClientConfig, ClientError, Connection, ErrorCode, Result};
use crate::types::{BrokerId, LeaderEpoch, TopicId, TopicPartition};

/// A broker as Metadata describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: BrokerId,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

/// One partition as Metadata describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    pub error: Option<ErrorCode>,
    /// `None` while there is no leader (the broker sends -1).
    pub leader: Option<BrokerId>,
    pub leader_epoch: LeaderEpoch,
    /// Every replica, the preferred leader first, whether alive or not: where a client may
    /// look for the partition after its leader fails.
    pub replicas: Vec<BrokerId>,
    /// The replicas in sync with the leader: the candidates for the next leader.
    pub isr: Vec<BrokerId>,
    /// Replicas whose broker is up but whose log is not (a failed log dir): never a leader.
    /// Empty before Metadata v5.
    pub offline_replicas: Vec<BrokerId>,
}

/// One topic as Metadata describes it. `error` is set (and `partitions` usually empty) for
/// unknown topics or topics still being created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    /// `None` before Metadata v10, or when the broker sends the all-zero id.
    pub topic_id: Option<TopicId>,
    pub error: Option<ErrorCode>,
    pub is_internal: bool,
    pub partitions: BTreeMap<i32, PartitionMetadata>,
}

impl TopicMetadata {
    pub fn partition_count(&self) -> i32 {
        i32::try_from(self.partitions.len()).unwrap_or(i32::MAX)
    }

    /// Partitions that currently have a leader.
    pub fn available_partitions(&self) -> Vec<i32> {
        self.partitions.values().filter(|p| p.leader.is_some()).map(|p| p.partition).collect()
    }
}

/// A snapshot of the cluster's metadata.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    pub cluster_id: Option<String>,
    pub controller_id: Option<BrokerId>,
    pub brokers: BTreeMap<BrokerId, BrokerInfo>,
    pub topics: BTreeMap<String, TopicMetadata>,
    /// Bumped by every successful refresh.
    pub version: u64,
    /// When the last successful refresh happened (`None`: never).
    pub refreshed_at: Option<Instant>,
}

impl Metadata {
    pub fn leader(&self, tp: &TopicPartition) -> Option<BrokerId> {
        self.topics.get(&tp.topic)?.partitions.get(&tp.partition.0)?.leader
    }

    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name)
    }

    /// Applies a Metadata response. `requested` is the topic list asked for (`None`: all
    /// topics, so topics missing from the response are gone).
    fn apply(
        &self,
        response: &MetadataResponse,
        requested: Option<&[String]>,
        now: Instant,
    ) -> Metadata {
        let brokers = response
            .brokers
            .iter()
            .filter_map(|b| {
                // A port outside u16 cannot be dialled; leave the broker out rather than panic.
                let port = u16::try_from(b.port).ok()?;
                Some((
                    BrokerId(b.node_id.0),
                    BrokerInfo {
                        id: BrokerId(b.node_id.0),
                        host: b.host.as_str().to_string(),
                        port,
                        rack: b.rack.as_ref().map(|r| r.as_str().to_string()),
                    },
                ))
            })
            .collect();
        let mut topics = if requested.is_some() { self.topics.clone() } else { BTreeMap::new() };
        for t in &response.topics {
            let Some(name) = t.name.as_ref().map(|n| n.0.as_str().to_string()) else {
                continue; // topic-id-only entries: we never ask by id
            };
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let ids = |v: &Vec<kafka_protocol::messages::BrokerId>| {
                        v.iter().map(|b| BrokerId(b.0)).collect::<Vec<_>>()
                    };
                    (
                        p.partition_index,
                        PartitionMetadata {
                            partition: p.partition_index,
                            error: ErrorCode::try_from_code(p.error_code),
                            leader: (p.leader_id.0 >= 0).then_some(BrokerId(p.leader_id.0)),
                            leader_epoch: LeaderEpoch(p.leader_epoch),
                            replicas: ids(&p.replica_nodes),
                            isr: ids(&p.isr_nodes),
                            offline_replicas: ids(&p.offline_replicas),
                        },
                    )
                })
                .collect();
            topics.insert(
                name.clone(),
                TopicMetadata {
                    name,
                    topic_id: TopicId::from_wire(t.topic_id),
                    error: ErrorCode::try_from_code(t.error_code),
                    is_internal: t.is_internal,
                    partitions,
                },
            );
        }
        Metadata {
            cluster_id: response.cluster_id.as_ref().map(|c| c.as_str().to_string()),
            controller_id: (response.controller_id.0 >= 0)
                .then_some(BrokerId(response.controller_id.0)),
            brokers,
            topics,
            version: self.version + 1,
            refreshed_at: Some(now),
        }
    }
}

/// What ListOffsets should look up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (high watermark, or last stable offset with read_committed).
    Latest,
    /// The first offset whose timestamp is at or after this many ms since the epoch.
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(ts) => ts,
        }
    }
}

/// One ListOffsets answer. `offset` is -1 when no record matches a timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListedOffset {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub leader_epoch: Option<i32>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Connection>>>;

struct Inner {
    config: ClientConfig,
    bootstrap: Vec<(String, u16)>,
    metadata: Mutex<Arc<Metadata>>,
    /// Topics this client uses; refreshes ask for these.
    interest: Mutex<BTreeSet<String>>,
    /// One metadata request at a time, so errors from many tasks do not stampede.
    refresh_lock: tokio::sync::Mutex<()>,
    /// One connection per `host:port`; the slot's lock is held while connecting.
    pool: Mutex<BTreeMap<String, Slot>>,
    /// When connecting to an address last failed, to try others first.
    failed_at: Mutex<BTreeMap<String, Instant>>,
}

/// Shared handle to the cluster view. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data behind these locks stays consistent at every await-free step; a panic
    // elsewhere must not take the client down with it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Cluster {
    /// Validates the config; connects lazily, on first use.
    pub fn new(config: ClientConfig) -> Result<Cluster> {
        config.validate()?;
        let bootstrap = config
            .bootstrap_servers
            .iter()
            .map(|s| parse_host_port(s))
            .collect::<Result<Vec<_>>>()?;
        Ok(Cluster {
            inner: Arc::new(Inner {
                config,
                bootstrap,
                metadata: Mutex::new(Arc::new(Metadata::default())),
                interest: Mutex::default(),
                refresh_lock: tokio::sync::Mutex::new(()),
                pool: Mutex::default(),
                failed_at: Mutex::default(),
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The current snapshot.
    pub fn metadata(&self) -> Arc<Metadata> {
        lock(&self.inner.metadata).clone()
    }

    /// Adds topics that later refreshes should include.
    pub fn add_interest<'a>(&self, topics: impl IntoIterator<Item = &'a str>) {
        let mut interest = lock(&self.inner.interest);
        for t in topics {
            if !interest.contains(t) {
                interest.insert(t.to_string());
            }
        }
    }

    fn interest(&self) -> Vec<String> {
        lock(&self.inner.interest).iter().cloned().collect()
    }

    /// Refreshes the topics this client uses.
    pub async fn refresh_interest(&self) -> Result<Arc<Metadata>> {
        let topics = self.interest();
        self.refresh(Some(&topics)).await
    }

    /// Refreshes when the snapshot is older than `metadata_max_age_ms` or was never taken.
    pub async fn refresh_if_stale(&self) -> Result<Arc<Metadata>> {
        let current = self.metadata();
        let max_age = Duration::from_millis(self.inner.config.metadata_max_age_ms);
        match current.refreshed_at {
            Some(at) if at.elapsed() < max_age => Ok(current),
            _ => self.refresh_interest().await,
        }
    }

    /// Asks a broker for metadata of `topics` (`None`: all topics) and stores the answer.
    /// Tries up to three brokers when connections fail on the way.
    pub async fn refresh(&self, topics: Option<&[String]>) -> Result<Arc<Metadata>> {
        let seen = self.metadata().version;
        let _one_at_a_time = self.inner.refresh_lock.lock().await;
        // Someone else refreshed while we waited; their answer covers ours if it asked for
        // the same or more (a full refresh, or the interest set, which includes ours).
        let current = self.metadata();
        if current.version != seen {
            if let Some(wanted) = topics {
                if wanted.iter().all(|t| current.topics.contains_key(t)) {
                    return Ok(current);
                }
            }
        }
        let mut last_error = None;
        for _ in 0..3 {
            match self.request_metadata(topics).await {
                Ok(response) => {
                    let mut guard = lock(&self.inner.metadata);
                    let updated = Arc::new(guard.apply(&response, topics, Instant::now()));
                    *guard = updated.clone();
                    return Ok(updated);
                }
                Err(e)
                    if e.needs_metadata_refresh() || matches!(e, ClientError::Timeout { .. }) =>
                {
                    last_error = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("the loop ran"))
    }

    async fn request_metadata(&self, topics: Option<&[String]>) -> Result<MetadataResponse> {
        let connection = self.any_connection().await?;
        let version = connection.version(ApiKey::Metadata)?;
        let topics = topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                })
                .collect()
        });
        let mut request = MetadataRequest::default().with_topics(topics);
        if version >= 4 {
            request =
                request.with_allow_auto_topic_creation(self.inner.config.allow_auto_create_topics);
        }
        connection.request(&request, version).await
    }

    /// Waits until `topic` has partitions in metadata, refreshing every `retry_backoff_ms`,
    /// until `deadline`. `budget` names the setting that set the deadline, for the error.
    pub async fn wait_for_topic(
        &self,
        topic: &str,
        deadline: Instant,
        budget: &str,
    ) -> Result<TopicMetadata> {
        self.add_interest([topic]);
        let backoff = Duration::from_millis(self.inner.config.retry_backoff_ms);
        let mut last_error: Option<ClientError> = None;
        let mut first = true;
        loop {
            let md = self.metadata();
            if let Some(t) = md.topics.get(topic) {
                // Use a cached topic without a round trip the first time; after that only a
                // fresh answer counts.
                if t.error.is_none() && !t.partitions.is_empty() {
                    return Ok(t.clone());
                }
                if let Some(code) = t.error {
                    let error = ClientError::Kafka {
                        code,
                        message: None,
                        context: format!("metadata for topic {topic}"),
                    };
                    if !code.is_retriable() {
                        return Err(error);
                    }
                    last_error = Some(error);
                }
            }
            if !first {
                let now = Instant::now();
                if now >= deadline {
                    let last =
                        last_error.map(|e| format!(" (last error: {e})")).unwrap_or_default();
                    return Err(ClientError::Timeout {
                        what: format!(
                            "metadata for topic {topic} not available within {budget}{last}"
                        ),
                    });
                }
                tokio::time::sleep_until((now + backoff).min(deadline)).await;
            }
            first = false;
            let topics = [topic.to_string()];
            let budget_left = deadline.saturating_duration_since(Instant::now());
            let refresh = tokio::time::timeout(budget_left, self.refresh(Some(&topics))).await;
            match refresh {
                Ok(Ok(_)) => {}
                Ok(Err(e)) if e.is_retriable() => last_error = Some(e),
                Ok(Err(e)) => return Err(e),
                Err(_) => {} // the deadline check above reports it
            }
        }
    }

    /// A connection to broker `broker`, opening it if needed.
    pub async fn connection(&self, broker: BrokerId) -> Result<Connection> {
        let md = self.metadata();
        let Some(info) = md.brokers.get(&broker) else {
            return Err(ClientError::NoBrokerAvailable {
                detail: format!("broker {broker} is not in metadata"),
            });
        };
        let (host, port) = (info.host.clone(), info.port);
        self.connect_to(&host, port).await
    }

    /// A connection to the controller when metadata names one, else to any broker (KRaft
    /// brokers forward controller requests).
    pub async fn controller_connection(&self) -> Result<Connection> {
        let md = self.metadata();
        if md.refreshed_at.is_none() {
            self.refresh(Some(&[])).await?;
        }
        match self.metadata().controller_id {
            Some(id) => match self.connection(id).await {
                Ok(c) => Ok(c),
                Err(_) => self.any_connection().await,
            },
            None => self.any_connection().await,
        }
    }

    /// The live connection with the fewest requests in flight, or a new one to the first
    /// known broker, or bootstrap server, that accepts.
    pub async fn any_connection(&self) -> Result<Connection> {
        let live = {
            let pool = lock(&self.inner.pool);
            pool.values()
                .filter_map(|slot| slot.try_lock().ok().and_then(|c| c.clone()))
                .filter(|c| !c.is_closed())
                .min_by_key(Connection::in_flight)
        };
        if let Some(connection) = live {
            return Ok(connection);
        }
        let md = self.metadata();
        let mut candidates: Vec<(String, u16)> =
            md.brokers.values().map(|b| (b.host.clone(), b.port)).collect();
        for b in &self.inner.bootstrap {
            if !candidates.contains(b) {
                candidates.push(b.clone());
            }
        }
        // Addresses that failed recently go last, oldest failure first.
        {
            let failed = lock(&self.inner.failed_at);
            candidates.sort_by_key(|(h, p)| failed.get(&format!("{h}:{p}")).copied());
        }
        let mut errors = Vec::new();
        for (host, port) in candidates {
            match self.connect_to(&host, port).await {
                Ok(c) => return Ok(c),
                Err(e) => errors.push(format!("{host}:{port}: {e}")),
            }
        }
        Err(ClientError::NoBrokerAvailable { detail: errors.join("; ") })
    }

    /// The pooled connection to `host:port`, opened if missing or closed.
    async fn connect_to(&self, host: &str, port: u16) -> Result<Connection> {
        let address = format!("{host}:{port}");
        let slot = lock(&self.inner.pool).entry(address.clone()).or_default().clone();
        let mut guard = slot.lock().await;
        if let Some(c) = guard.as_ref() {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        *guard = None;
        match Connection::connect(host, port, &self.inner.config).await {
            Ok(c) => {
                lock(&self.inner.failed_at).remove(&address);
                *guard = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                lock(&self.inner.failed_at).insert(address, Instant::now());
                Err(e)
            }
        }
    }

    /// Drops every pooled connection; they close once no request holds them.
    pub fn close(&self) {
        let slots: Vec<Slot> = std::mem::take(&mut *lock(&self.inner.pool)).into_values().collect();
        for slot in slots {
            if let Ok(mut guard) = slot.try_lock() {
                if let Some(c) = guard.take() {
                    c.close();
                }
            }
        }
    }

    /// Looks up offsets on each partition's leader, retrying leader changes and lost
    /// connections for up to `request_timeout_ms`. A non-retriable error for any partition
    /// fails the call with that partition named.
    pub async fn list_offsets(
        &self,
        specs: &BTreeMap<TopicPartition, OffsetSpec>,
        isolation_level: i8,
    ) -> Result<BTreeMap<TopicPartition, ListedOffset>> {
        let config = &self.inner.config;
        let deadline = Instant::now() + Duration::from_millis(config.request_timeout_ms);
        let backoff = Duration::from_millis(config.retry_backoff_ms);
        let mut remaining = specs.clone();
        let mut done = BTreeMap::new();
        let mut last_error: Option<ClientError> = None;
        self.add_interest(specs.keys().map(|tp| tp.topic.as_str()));
        loop {
            let topics: Vec<String> = remaining
                .keys()
                .map(|tp| tp.topic.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let md = self.metadata();
            if topics.iter().any(|t| md.topics.get(t).is_none_or(|m| m.partitions.is_empty())) {
                match self.refresh(Some(&topics)).await {
                    Ok(_) => {}
                    Err(e) if e.is_retriable() => last_error = Some(e),
                    Err(e) => return Err(e),
                }
            }
            let md = self.metadata();
            let mut by_leader: BTreeMap<BrokerId, Vec<(TopicPartition, OffsetSpec)>> =
                BTreeMap::new();
            for (tp, spec) in &remaining {
                match md.topics.get(&tp.topic) {
                    Some(t)
                        if !t.partitions.is_empty()
                            && !t.partitions.contains_key(&tp.partition.0) =>
                    {
                        return Err(ClientError::InvalidArgument(format!(
                            "{tp}: topic {} has {} partitions",
                            tp.topic,
                            t.partition_count()
                        )));
                    }
                    Some(t) if t.error.is_some_and(|c| !c.is_retriable()) => {
                        let code = t.error.expect("checked");
                        return Err(ClientError::Kafka {
                            code,
                            message: None,
                            context: format!("list offsets for {tp}"),
                        });
                    }
                    _ => {}
                }
                match md.leader(tp) {
                    Some(leader) => by_leader.entry(leader).or_default().push((tp.clone(), *spec)),
                    None => {
                        last_error = Some(ClientError::Kafka {
                            code: ErrorCode::LeaderNotAvailable,
                            message: None,
                            context: format!("list offsets for {tp}"),
                        })
                    }
                }
            }
            for (leader, partitions) in by_leader {
                match self.list_offsets_on(leader, &partitions, isolation_level).await {
                    Ok(answers) => {
                        for (tp, answer) in answers {
                            match answer {
                                Ok(listed) => {
                                    remaining.remove(&tp);
                                    done.insert(tp, listed);
                                }
                                Err(e) if e.is_retriable() => last_error = Some(e),
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    Err(e) if e.is_retriable() => last_error = Some(e),
                    Err(e) => return Err(e),
                }
            }
            if remaining.is_empty() {
                return Ok(done);
            }
            let now = Instant::now();
            if now >= deadline {
                let names: Vec<String> = remaining.keys().map(ToString::to_string).collect();
                let last = last_error.map(|e| format!(" (last error: {e})")).unwrap_or_default();
                return Err(ClientError::Timeout {
                    what: format!(
                        "ListOffsets for {} within request_timeout_ms={}{last}",
                        names.join(", "),
                        config.request_timeout_ms
                    ),
                });
            }
            tokio::time::sleep_until((now + backoff).min(deadline)).await;
            let _ = self.refresh(Some(&topics)).await;
        }
    }

    async fn list_offsets_on(
        &self,
        leader: BrokerId,
        partitions: &[(TopicPartition, OffsetSpec)],
        isolation_level: i8,
    ) -> Result<Vec<(TopicPartition, Result<ListedOffset>)>> {
        let connection = self.connection(leader).await?;
        let version = connection.version(ApiKey::ListOffsets)?;
        let mut by_topic: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for (tp, spec) in partitions {
            by_topic.entry(tp.topic.as_str()).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(tp.partition.0)
                    .with_timestamp(spec.wire()),
            );
        }
        let topics = by_topic
            .into_iter()
            .map(|(name, parts)| {
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name.to_string())))
                    .with_partitions(parts)
            })
            .collect();
        // replica_id -1: a consumer, not a follower (the crate's default is 0).
        let mut request = ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_topics(topics);
        if version >= 2 {
            request = request.with_isolation_level(isolation_level);
        }
        let response = connection.request(&request, version).await?;
        let mut answers = Vec::new();
        for t in &response.topics {
            for p in &t.partitions {
                let tp = TopicPartition::new(t.name.0.as_str(), p.partition_index);
                let answer = match ClientError::from_code(p.error_code, None, || {
                    format!("list offsets for {tp}")
                }) {
                    Some(e) => Err(e),
                    None => Ok(ListedOffset {
                        offset: p.offset,
                        timestamp_ms: p.timestamp,
                        leader_epoch: (version >= 4 && p.leader_epoch >= 0)
                            .then_some(p.leader_epoch),
                    }),
                };
                answers.push((tp, answer));
            }
        }
        Ok(answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    /// (topic, error code, [(partition, leader)])
    type TopicSpec<'a> = (&'a str, i16, &'a [(i32, i32)]);

    fn response(topics: &[TopicSpec]) -> MetadataResponse {
        MetadataResponse::default()
            .with_controller_id(kafka_protocol::messages::BrokerId(1))
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(kafka_protocol::messages::BrokerId(1))
                .with_host(StrBytes::from_static_str("b1"))
                .with_port(9092)])
            .with_topics(
                topics
                    .iter()
                    .map(|(name, error, parts)| {
                        MetadataResponseTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
                            .with_error_code(*error)
                            .with_partitions(
                                parts
                                    .iter()
                                    .map(|&(p, leader)| {
                                        MetadataResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_leader_id(kafka_protocol::messages::BrokerId(
                                                leader,
                                            ))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    }

    #[test]
    fn partial_refresh_keeps_other_topics_and_full_refresh_replaces_them() {
        let now = Instant::now();
        let md = Metadata::default().apply(
            &response(&[("a", 0, &[(0, 1)]), ("b", 0, &[(0, 1), (1, -1)])]),
            None,
            now,
        );
        assert_eq!(md.version, 1);
        assert_eq!(md.controller_id, Some(BrokerId(1)));
        assert_eq!(md.leader(&TopicPartition::new("b", 0)), Some(BrokerId(1)));
        assert_eq!(md.leader(&TopicPartition::new("b", 1)), None, "-1 means no leader");
        assert_eq!(md.topic("b").unwrap().available_partitions(), vec![0]);

        let only_a = ["a".to_string()];
        let md2 = md.apply(&response(&[("a", 3, &[])]), Some(&only_a), now);
        assert_eq!(md2.topic("a").unwrap().error, Some(ErrorCode::UnknownTopicOrPartition));
        assert!(md2.topic("b").is_some(), "b was not asked for, so it stays");

        let md3 = md2.apply(&response(&[("a", 0, &[(0, 1)])]), None, now);
        assert!(md3.topic("b").is_none(), "a full refresh drops topics that are gone");
        assert_eq!(md3.version, 3);
    }

    #[test]
    fn partitions_keep_replicas_isr_and_offline_replicas_and_topics_their_id() {
        let ids = |v: &[i32]| v.iter().map(|&b| kafka_protocol::messages::BrokerId(b)).collect();
        let id = uuid::Uuid::from_u128(0x72ca_027b_8166_4f5f_aafa_3d09_3479_5580);
        let mut answer = response(&[("orders", 0, &[(0, 2)]), ("old", 0, &[(0, 1)])]);
        answer.topics[0].topic_id = id;
        answer.topics[0].partitions[0] = answer.topics[0].partitions[0]
            .clone()
            .with_replica_nodes(ids(&[2, 3, 1]))
            .with_isr_nodes(ids(&[2, 1]))
            .with_offline_replicas(ids(&[3]));
        let md = Metadata::default().apply(&answer, None, Instant::now());

        let orders = md.topic("orders").unwrap();
        assert_eq!(orders.topic_id, Some(TopicId(id)));
        let p0 = &orders.partitions[&0];
        assert_eq!(p0.replicas, vec![BrokerId(2), BrokerId(3), BrokerId(1)], "assignment order");
        assert_eq!(p0.isr, vec![BrokerId(2), BrokerId(1)]);
        assert_eq!(p0.offline_replicas, vec![BrokerId(3)]);
        assert_eq!(md.topic("old").unwrap().topic_id, None, "the all-zero id means none");
    }
}
