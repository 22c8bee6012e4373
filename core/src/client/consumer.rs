//! A consumer of assigned partitions (no consumer group yet).
//!
//! Inputs: an assignment, seeks, [`Consumer::poll`] calls; Fetch and ListOffsets responses.
//! Outputs: [`ConsumerRecord`]s in offset order per partition, positions.
//! Invariants: a partition's position is the offset of the next record `poll` returns; it
//! only moves forward except by an explicit seek or an offset reset; a fetch starts at the
//! offset after the last whole batch received, so records are neither skipped nor repeated
//! (a fetch returns whole batches, so records below the position are dropped); control
//! records never reach the caller; OFFSET_OUT_OF_RANGE and missing positions are resolved by
//! `auto_offset_reset`, and with `None` they are an error naming the partition. Fetch uses
//! the negotiated version (at most 12: topics by name, no fetch sessions).
//!
//! Tasks: none of its own; `poll` sends one Fetch per leader concurrently (one spawned task
//! each) and handles the answers in broker id order, so results do not depend on which
//! answer arrives first.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::cluster::OffsetSpec;
use super::error::is_invalid_metadata;
use super::records::{decode_fetched, AbortedTransaction};
use super::{ClientConfig, ClientError, Cluster, Result};
use crate::types::{BrokerId, TopicPartition};

/// What to do when a partition has no valid position (`auto.offset.reset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoOffsetReset {
    Earliest,
    #[default]
    Latest,
    /// Fail instead, naming the partition.
    None,
}

/// Which records a fetch may return (`isolation.level`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IsolationLevel {
    #[default]
    ReadUncommitted,
    /// Only up to the last stable offset, without aborted transactions.
    ReadCommitted,
}

impl IsolationLevel {
    fn wire(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// Consumer settings, named and defaulted as in Kafka's Java consumer.
#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    pub client: ClientConfig,
    /// The broker answers a fetch once it has this many bytes (or `fetch_max_wait_ms` passed).
    pub fetch_min_bytes: i32,
    pub fetch_max_wait_ms: u64,
    /// Upper bound on one fetch response (a first batch larger than this still comes back).
    pub fetch_max_bytes: i32,
    pub max_partition_fetch_bytes: i32,
    pub auto_offset_reset: AutoOffsetReset,
    pub isolation_level: IsolationLevel,
    /// Most records one `poll` returns.
    pub max_poll_records: usize,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            client: ClientConfig::default(),
            fetch_min_bytes: 1,
            fetch_max_wait_ms: 500,
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            auto_offset_reset: AutoOffsetReset::Latest,
            isolation_level: IsolationLevel::ReadUncommitted,
            max_poll_records: 500,
        }
    }
}

/// A record read from a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

#[derive(Debug, Default)]
struct PartitionState {
    /// The offset of the next record `poll` returns; `None` until a seek or reset.
    position: Option<i64>,
    /// Records fetched and not yet returned.
    buffer: VecDeque<ConsumerRecord>,
    /// Where the next fetch starts: past the buffer and any skipped control batches.
    fetch_offset: i64,
    high_watermark: Option<i64>,
}

impl PartitionState {
    fn seek(&mut self, offset: i64) {
        self.position = Some(offset);
        self.fetch_offset = offset;
        self.buffer.clear();
    }
}

/// A consumer of explicitly assigned partitions.
pub struct Consumer {
    cluster: Cluster,
    config: ConsumerConfig,
    partitions: BTreeMap<TopicPartition, PartitionState>,
}

impl Consumer {
    /// Validates the config. Connects on first use.
    pub fn new(config: ConsumerConfig) -> Result<Consumer> {
        if config.max_poll_records == 0 {
            return Err(ClientError::InvalidArgument("max_poll_records must be at least 1".into()));
        }
        let cluster = Cluster::new(config.client.clone())?;
        Ok(Consumer { cluster, config, partitions: BTreeMap::new() })
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Replaces the assignment. Partitions that stay keep their position and buffer.
    pub fn assign(&mut self, partitions: Vec<TopicPartition>) {
        let mut next = BTreeMap::new();
        for tp in partitions {
            let state = self.partitions.remove(&tp).unwrap_or_default();
            next.insert(tp, state);
        }
        self.partitions = next;
        self.cluster.add_interest(self.partitions.keys().map(|tp| tp.topic.as_str()));
    }

    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    fn state(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState> {
        self.partitions.get_mut(tp).ok_or_else(|| {
            ClientError::InvalidArgument(format!("{tp} is not assigned to this consumer"))
        })
    }

    /// The next `poll` returns records from `offset` on.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        if offset < 0 {
            return Err(ClientError::InvalidArgument(format!(
                "seek to negative offset {offset} on {tp}"
            )));
        }
        self.state(tp)?.seek(offset);
        Ok(())
    }

    /// Seeks to the log start offset of each partition (ListOffsets, earliest).
    pub async fn seek_to_beginning(&mut self, tps: &[TopicPartition]) -> Result<()> {
        self.seek_to(tps, OffsetSpec::Earliest).await
    }

    /// Seeks to the end of each partition (ListOffsets, latest: the high watermark, or the
    /// last stable offset with read_committed).
    pub async fn seek_to_end(&mut self, tps: &[TopicPartition]) -> Result<()> {
        self.seek_to(tps, OffsetSpec::Latest).await
    }

    async fn seek_to(&mut self, tps: &[TopicPartition], spec: OffsetSpec) -> Result<()> {
        for tp in tps {
            self.state(tp)?;
        }
        let specs = tps.iter().map(|tp| (tp.clone(), spec)).collect();
        let offsets = self.cluster.list_offsets(&specs, self.config.isolation_level.wire()).await?;
        for (tp, listed) in offsets {
            self.state(&tp)?.seek(listed.offset);
        }
        Ok(())
    }

    /// The offset of the next record `poll` returns for `tp`, resolving a missing position
    /// with `auto_offset_reset` first.
    pub async fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        if self.state(tp)?.position.is_none() {
            self.reset_missing_positions().await?;
        }
        self.state(tp)?
            .position
            .ok_or_else(|| ClientError::NoOffsetForPartition { partition: tp.clone() })
    }

    /// The high watermark from the last fetch of `tp`.
    pub fn high_watermark(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions.get(tp)?.high_watermark
    }

    /// Returns the next records of the assigned partitions, waiting up to `timeout` for some
    /// to arrive. An empty result means none came in time.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let deadline = Instant::now() + timeout;
        let backoff = Duration::from_millis(self.config.client.retry_backoff_ms);
        loop {
            let records = self.drain_buffers();
            if !records.is_empty() {
                return Ok(records);
            }
            self.reset_missing_positions().await?;
            let left = deadline.saturating_duration_since(Instant::now());
            let max_wait = left.min(Duration::from_millis(self.config.fetch_max_wait_ms));
            let progressed = self.fetch_round(max_wait).await?;
            if self.partitions.values().any(|s| !s.buffer.is_empty()) {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            if !progressed {
                // Nothing could be fetched (no leader, connection lost): do not spin.
                tokio::time::sleep_until((now + backoff).min(deadline)).await;
            }
        }
    }

    /// Drops connections.
    pub fn close(self) {
        self.cluster.close();
    }

    /// Takes up to `max_poll_records` buffered records, partitions in order.
    fn drain_buffers(&mut self) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        for state in self.partitions.values_mut() {
            while out.len() < self.config.max_poll_records {
                let Some(record) = state.buffer.pop_front() else { break };
                state.position = Some(record.offset + 1);
                out.push(record);
            }
            if state.buffer.is_empty() && state.position.is_some() {
                // Past skipped control batches or compacted gaps too.
                state.position = Some(state.fetch_offset.max(state.position.unwrap_or(0)));
            }
            if out.len() >= self.config.max_poll_records {
                break;
            }
        }
        out
    }

    /// Resolves partitions without a position using `auto_offset_reset`.
    async fn reset_missing_positions(&mut self) -> Result<()> {
        let missing: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(_, s)| s.position.is_none())
            .map(|(tp, _)| tp.clone())
            .collect();
        let Some(first) = missing.first() else { return Ok(()) };
        let spec = match self.config.auto_offset_reset {
            AutoOffsetReset::Earliest => OffsetSpec::Earliest,
            AutoOffsetReset::Latest => OffsetSpec::Latest,
            AutoOffsetReset::None => {
                return Err(ClientError::NoOffsetForPartition { partition: first.clone() });
            }
        };
        self.seek_to(&missing, spec).await
    }

    /// One Fetch per leader for partitions with a position and an empty buffer. Returns
    /// whether any fetch got an answer.
    async fn fetch_round(&mut self, max_wait: Duration) -> Result<bool> {
        match self.cluster.refresh_if_stale().await {
            Ok(_) => {}
            Err(e) if e.is_retriable() => {}
            Err(e) => return Err(e),
        }
        let md = self.cluster.metadata();
        let mut by_leader: BTreeMap<BrokerId, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        let mut need_refresh = false;
        for (tp, state) in &self.partitions {
            if state.position.is_none() || !state.buffer.is_empty() {
                continue;
            }
            match md.leader(tp) {
                Some(leader) => {
                    by_leader.entry(leader).or_default().push((tp.clone(), state.fetch_offset))
                }
                None => need_refresh = true,
            }
        }
        let mut tasks = Vec::new();
        for (leader, partitions) in by_leader {
            let cluster = self.cluster.clone();
            let request = self.fetch_request(&partitions, max_wait);
            let timeout = Duration::from_millis(self.config.client.request_timeout_ms) + max_wait;
            let task = tokio::spawn(async move {
                let connection = cluster.connection(leader).await?;
                let version = connection.version(ApiKey::Fetch)?;
                connection.request_with_timeout(&request, version, timeout).await
            });
            tasks.push((leader, partitions, task));
        }
        let mut progressed = false;
        for (leader, partitions, task) in tasks {
            let response = match task.await {
                Ok(response) => response,
                Err(join) => Err(ClientError::ConnectionClosed {
                    peer: format!("broker {leader}"),
                    reason: format!("fetch task ended: {join}"),
                }),
            };
            match response {
                Ok(response) => {
                    progressed = true;
                    need_refresh |= self.apply_fetch(&response, &partitions)?;
                }
                Err(e) if e.is_retriable() => {
                    tracing::debug!(%leader, error = %e, "fetch failed; will retry");
                    need_refresh |= e.needs_metadata_refresh();
                }
                Err(e) => return Err(e),
            }
        }
        if need_refresh {
            match self.cluster.refresh_interest().await {
                Ok(_) => {}
                Err(e) if e.is_retriable() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(progressed)
    }

    fn fetch_request(
        &self,
        partitions: &[(TopicPartition, i64)],
        max_wait: Duration,
    ) -> FetchRequest {
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for (tp, offset) in partitions {
            topics.entry(tp.topic.as_str()).or_default().push(
                FetchPartition::default()
                    .with_partition(tp.partition.0)
                    .with_fetch_offset(*offset)
                    .with_partition_max_bytes(self.config.max_partition_fetch_bytes),
            );
        }
        // Session id 0 with epoch -1 is a full fetch that opens no session (KIP-227).
        FetchRequest::default()
            .with_max_wait_ms(i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX))
            .with_min_bytes(self.config.fetch_min_bytes)
            .with_max_bytes(self.config.fetch_max_bytes)
            .with_isolation_level(self.config.isolation_level.wire())
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(name, parts)| {
                        FetchTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(name.to_string())))
                            .with_partitions(parts)
                    })
                    .collect(),
            )
    }

    /// Applies one Fetch response. Returns whether metadata should be refreshed.
    fn apply_fetch(
        &mut self,
        response: &FetchResponse,
        asked: &[(TopicPartition, i64)],
    ) -> Result<bool> {
        if let Some(e) = ClientError::from_code(response.error_code, None, || "fetch".to_string()) {
            if e.is_retriable() {
                return Ok(e.needs_metadata_refresh());
            }
            return Err(e);
        }
        let read_committed = self.config.isolation_level == IsolationLevel::ReadCommitted;
        let mut need_refresh = false;
        for topic in &response.responses {
            let name = topic.topic.0.as_str();
            for p in &topic.partitions {
                let tp = TopicPartition::new(name, p.partition_index);
                let Some(&(_, asked_offset)) = asked.iter().find(|(t, _)| *t == tp) else {
                    continue; // not asked for: ignore rather than trust
                };
                let Some(state) = self.partitions.get_mut(&tp) else { continue };
                if state.fetch_offset != asked_offset || !state.buffer.is_empty() {
                    continue; // stale answer
                }
                if let Some(error) =
                    ClientError::from_code(p.error_code, None, || format!("fetch from {tp}"))
                {
                    let code = error.code().expect("from_code gives Kafka errors");
                    if code == super::ErrorCode::OffsetOutOfRange {
                        if self.config.auto_offset_reset == AutoOffsetReset::None {
                            return Err(ClientError::OffsetOutOfRange {
                                partition: tp,
                                offset: asked_offset,
                            });
                        }
                        tracing::debug!(%tp, offset = asked_offset, "offset out of range; resetting");
                        state.position = None;
                        continue;
                    }
                    if is_invalid_metadata(code) {
                        need_refresh = true;
                        continue;
                    }
                    if error.is_retriable() {
                        continue;
                    }
                    return Err(error);
                }
                state.high_watermark = Some(p.high_watermark);
                let Some(data) = p.records.as_ref() else { continue };
                let aborted: Vec<AbortedTransaction> = p
                    .aborted_transactions
                    .iter()
                    .flatten()
                    .map(|a| AbortedTransaction {
                        producer_id: a.producer_id.0,
                        first_offset: a.first_offset,
                    })
                    .collect();
                let context = || format!("decoding records of {tp}");
                let decoded =
                    decode_fetched(data, asked_offset, read_committed, &aborted, &context)?;
                if decoded.records.is_empty()
                    && decoded.truncated
                    && decoded.next_fetch_offset == asked_offset
                {
                    tracing::warn!(%tp, offset = asked_offset, "fetch returned only part of a batch; raise max_partition_fetch_bytes");
                }
                state.fetch_offset = decoded.next_fetch_offset;
                state.buffer.extend(decoded.records.into_iter().map(|r| ConsumerRecord {
                    topic: tp.topic.clone(),
                    partition: tp.partition.0,
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                }));
                if state.buffer.is_empty() {
                    state.position = Some(state.fetch_offset);
                }
            }
        }
        Ok(need_refresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer() -> Consumer {
        Consumer::new(ConsumerConfig { max_poll_records: 3, ..ConsumerConfig::default() }).unwrap()
    }

    fn record(tp: &TopicPartition, offset: i64) -> ConsumerRecord {
        ConsumerRecord {
            topic: tp.topic.clone(),
            partition: tp.partition.0,
            offset,
            timestamp_ms: 0,
            key: None,
            value: None,
            headers: vec![],
        }
    }

    #[test]
    fn assign_keeps_positions_of_partitions_that_stay() {
        let mut c = consumer();
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        c.assign(vec![a.clone(), b.clone()]);
        c.seek(&a, 42).unwrap();
        c.assign(vec![a.clone()]);
        assert_eq!(c.partitions[&a].position, Some(42));
        assert!(c.seek(&b, 1).is_err(), "b is no longer assigned");
        assert!(c.seek(&a, -1).is_err());
    }

    #[test]
    fn draining_advances_positions_and_respects_max_poll_records() {
        let mut c = consumer();
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        c.assign(vec![a.clone(), b.clone()]);
        c.seek(&a, 10).unwrap();
        c.seek(&b, 0).unwrap();
        {
            let s = c.partitions.get_mut(&a).unwrap();
            s.buffer.extend([record(&a, 10), record(&a, 11)]);
            // A control batch followed the records: the next fetch starts at 13.
            s.fetch_offset = 13;
        }
        c.partitions.get_mut(&b).unwrap().buffer.extend([record(&b, 0), record(&b, 1)]);
        c.partitions.get_mut(&b).unwrap().fetch_offset = 2;

        let first = c.drain_buffers();
        let got: Vec<(i32, i64)> = first.iter().map(|r| (r.partition, r.offset)).collect();
        assert_eq!(got, vec![(0, 10), (0, 11), (1, 0)]);
        assert_eq!(c.partitions[&a].position, Some(13), "past the control batch");
        assert_eq!(c.partitions[&b].position, Some(1));
        let second = c.drain_buffers();
        assert_eq!(second.len(), 1);
        assert_eq!(c.partitions[&b].position, Some(2));
    }
}
