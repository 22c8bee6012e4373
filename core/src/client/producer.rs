//! The producer: partitions records, batches them per partition and sends Produce requests.
//!
//! Inputs: [`ProducerRecord`]s through [`Producer::send`], metadata from the [`Cluster`],
//! Produce responses. Outputs: a [`DeliveryFuture`] per record resolving to
//! [`RecordMetadata`] (offset -1 with acks=0) or the [`ClientError`] that ended its delivery.
//! Invariants: every record's future resolves exactly once; `send` waits at most
//! `max_block_ms` for metadata and buffer space, then fails with a timeout (seed claim P7);
//! a batch is retried on retriable errors while attempts <= `retries` and its
//! `delivery_timeout_ms` (counted from batch creation) has not passed; at most
//! `max_in_flight_requests_per_connection` Produce requests are outstanding per broker, and
//! with 1 a partition's order survives retries; no idempotence yet (producer id -1), but
//! batches keep their encoded bytes and identity across retries so sequence numbers can be
//! added without restructuring.
//!
//! Tasks: `send` appends under a mutex and wakes the sender task. The sender task (one per
//! producer, Kafka's `Sender` thread) expires old batches, drains ready ones grouped by
//! leader, and spawns one task per Produce request; that task applies the response (complete,
//! retry or fail each batch) and wakes the sender again. Metadata refreshes run in their own
//! task so the sender never blocks on them.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression as WireCompression;
use tokio::sync::{oneshot, watch, Notify};
use tokio::time::Instant;

use super::accumulator::{Accumulator, Batch};
use super::partitioner::{partition_for_key, StickyPartitioner};
use super::records::{encode_batch, estimated_record_bytes, OutgoingRecord, BATCH_OVERHEAD_BYTES};
use super::{wall_clock_ms, ClientConfig, ClientError, Cluster, Result};
use crate::types::{BrokerId, TopicPartition};

/// Batch compression (`compression.type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    fn wire(self) -> WireCompression {
        match self {
            Compression::None => WireCompression::None,
            Compression::Gzip => WireCompression::Gzip,
            Compression::Snappy => WireCompression::Snappy,
            Compression::Lz4 => WireCompression::Lz4,
            Compression::Zstd => WireCompression::Zstd,
        }
    }
}

impl FromStr for Compression {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            other => Err(ClientError::InvalidArgument(format!(
                "compression {other:?} is not one of none, gzip, snappy, lz4, zstd"
            ))),
        }
    }
}

/// Producer settings, named and defaulted as in Kafka's Java producer.
#[derive(Clone, Debug)]
pub struct ProducerConfig {
    /// Its `request_timeout_ms` and `retry_backoff_ms` are replaced by the producer's own.
    pub client: ClientConfig,
    /// -1 (all in-sync replicas), 1 (leader) or 0 (no response at all).
    pub acks: i16,
    /// How long a batch waits for more records before it is sent.
    pub linger_ms: u64,
    /// Target batch size in bytes (estimated, before compression).
    pub batch_size: usize,
    /// How many times a batch may be resent after a retriable error.
    pub retries: u32,
    pub retry_backoff_ms: u64,
    /// Upper bound from batch creation to success or failure, retries included.
    pub delivery_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// Produce requests outstanding per broker; 1 keeps each partition's order across
    /// retries.
    pub max_in_flight_requests_per_connection: usize,
    pub compression: Compression,
    /// How long `send` may wait for metadata or buffer space.
    pub max_block_ms: u64,
    /// Bytes of unsent and unacknowledged records before `send` waits (`buffer.memory`).
    pub buffer_memory: usize,
    /// The largest record (with batch overhead) and the largest request (`max.request.size`).
    pub max_request_size: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            client: ClientConfig::default(),
            acks: -1,
            linger_ms: 5,
            batch_size: 16_384,
            retries: i32::MAX as u32,
            retry_backoff_ms: 100,
            delivery_timeout_ms: 120_000,
            request_timeout_ms: 30_000,
            max_in_flight_requests_per_connection: 5,
            compression: Compression::None,
            max_block_ms: 60_000,
            buffer_memory: 32 * 1024 * 1024,
            max_request_size: 1024 * 1024,
        }
    }
}

impl ProducerConfig {
    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ClientError::InvalidArgument(m));
        if !matches!(self.acks, -1..=1) {
            return bad(format!("acks must be -1, 0 or 1, not {}", self.acks));
        }
        if self.max_in_flight_requests_per_connection == 0 {
            return bad("max_in_flight_requests_per_connection must be at least 1".into());
        }
        // Kafka rejects this too: a batch could expire before its first request times out.
        if self.delivery_timeout_ms < self.linger_ms + self.request_timeout_ms {
            return bad(format!(
                "delivery_timeout_ms ({}) must be >= linger_ms ({}) + request_timeout_ms ({})",
                self.delivery_timeout_ms, self.linger_ms, self.request_timeout_ms
            ));
        }
        if self.request_timeout_ms == 0 {
            return bad("request_timeout_ms must be positive".into());
        }
        Ok(())
    }
}

/// A record to send.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    pub topic: String,
    /// `None`: chosen by the default partitioner.
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// Kafka allows repeated keys; the codec keeps the last value of a repeated key.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// `None`: now (CreateTime).
    pub timestamp_ms: Option<i64>,
}

impl ProducerRecord {
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            value: Some(value.into()),
            ..ProducerRecord::default()
        }
    }

    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    pub fn with_header(mut self, key: impl Into<String>, value: Option<Bytes>) -> Self {
        self.headers.push((key.into(), value));
        self
    }

    pub fn with_timestamp_ms(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }
}

/// Where an acknowledged record landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    /// -1 with acks=0 (the broker does not answer).
    pub offset: i64,
    /// The broker's LogAppendTime when the topic uses it, else the record's CreateTime.
    pub timestamp_ms: i64,
}

type Reply = oneshot::Sender<Result<RecordMetadata>>;

/// Resolves when the record is acknowledged or its delivery failed.
#[derive(Debug)]
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Result<RecordMetadata>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            // Every reply is answered before it is dropped; this only happens if the sender
            // task itself went away (the runtime shut down).
            Poll::Ready(Err(_)) => Poll::Ready(Err(ClientError::Closed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

struct State {
    accumulator: Accumulator<Reply>,
    partitioner: StickyPartitioner,
    /// Produce requests outstanding per broker.
    in_flight: BTreeMap<BrokerId, usize>,
    refreshing_metadata: bool,
    closed: bool,
    sender_done: bool,
}

struct Shared {
    config: ProducerConfig,
    cluster: Cluster,
    state: Mutex<State>,
    /// Wakes the sender task (stores a permit, so no wake-up is lost).
    wake_sender: Notify,
    /// Bumped whenever batches complete or the sender stops; flush, close and `send`
    /// waiting for buffer space watch it.
    progress: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn bump_progress(&self) {
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn delivery_timeout(&self) -> Duration {
        Duration::from_millis(self.config.delivery_timeout_ms)
    }

    fn backoff(&self) -> Duration {
        Duration::from_millis(self.config.retry_backoff_ms)
    }
}

/// Closes the producer when the last handle goes (pending records are still delivered).
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        state.accumulator.close();
        drop(state);
        self.shared.wake_sender.notify_one();
    }
}

/// A Kafka producer. Cheap to clone; clones share batches and connections.
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

impl Producer {
    /// Validates the config and starts the sender task. Does not contact the cluster: like
    /// Kafka's producer it connects on first use, so it can be created before brokers are up.
    pub async fn new(config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let mut client = config.client.clone();
        client.request_timeout_ms = config.request_timeout_ms;
        client.retry_backoff_ms = config.retry_backoff_ms;
        let cluster = Cluster::new(client)?;
        let accumulator = Accumulator::new(
            config.batch_size,
            Duration::from_millis(config.linger_ms),
            Duration::from_millis(config.delivery_timeout_ms),
            config.max_in_flight_requests_per_connection == 1,
        );
        let shared = Arc::new(Shared {
            config,
            cluster,
            state: Mutex::new(State {
                accumulator,
                partitioner: StickyPartitioner::default(),
                in_flight: BTreeMap::new(),
                refreshing_metadata: false,
                closed: false,
                sender_done: false,
            }),
            wake_sender: Notify::new(),
            progress: watch::channel(0).0,
        });
        tokio::spawn(run_sender(shared.clone()));
        Ok(Producer { handle: Arc::new(Handle { shared }) })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// The cluster view this producer uses.
    pub fn cluster(&self) -> &Cluster {
        &self.shared().cluster
    }

    /// Queues `record` and returns a future for its acknowledgement. Waits up to
    /// `max_block_ms` for the topic's metadata and for buffer space.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let shared = self.shared();
        let config = &shared.config;
        if shared.lock().closed {
            return Err(ClientError::Closed);
        }
        if record.topic.is_empty() {
            return Err(ClientError::InvalidArgument("record has an empty topic".into()));
        }
        let deadline = Instant::now() + Duration::from_millis(config.max_block_ms);
        let budget = format!("max_block_ms={}", config.max_block_ms);
        let topic = shared.cluster.wait_for_topic(&record.topic, deadline, &budget).await?;
        let partition_count = topic.partition_count();
        if let Some(p) = record.partition {
            if !(0..partition_count).contains(&p) {
                return Err(ClientError::InvalidArgument(format!(
                    "partition {p} is not in [0, {partition_count}) for topic {}",
                    record.topic
                )));
            }
        }
        let outgoing = OutgoingRecord {
            key: record.key,
            value: record.value,
            headers: record.headers,
            timestamp_ms: record.timestamp_ms.unwrap_or_else(wall_clock_ms),
        };
        let size_bytes = estimated_record_bytes(&outgoing) + BATCH_OVERHEAD_BYTES;
        if size_bytes > config.max_request_size {
            return Err(ClientError::RecordTooLarge {
                size_bytes,
                limit_bytes: config.max_request_size,
            });
        }
        let available = topic.available_partitions();
        let mut progress = shared.progress.subscribe();
        loop {
            {
                let mut state = shared.lock();
                if state.closed {
                    return Err(ClientError::Closed);
                }
                let buffered = state.accumulator.buffered_bytes();
                // An empty buffer always takes one record, however big, as Kafka does.
                if buffered == 0 || buffered + size_bytes <= config.buffer_memory {
                    let partition = match (record.partition, outgoing.key.as_ref()) {
                        (Some(p), _) => p,
                        (None, Some(key)) => partition_for_key(key, partition_count),
                        // The seeded RNG under madsim; a temporary, never held across an await.
                        (None, None) => state.partitioner.partition(
                            &record.topic,
                            &available,
                            partition_count,
                            &mut madsim::rand::thread_rng(),
                        ),
                    };
                    let tp = TopicPartition::new(record.topic.clone(), partition);
                    let (reply, rx) = oneshot::channel();
                    let appended = state.accumulator.append(tp, outgoing, reply, Instant::now());
                    if appended.batch_full {
                        // The sticky partition moves on once its batch is full (KIP-480).
                        state.partitioner.on_batch_closed(
                            &record.topic,
                            partition,
                            &available,
                            partition_count,
                            &mut madsim::rand::thread_rng(),
                        );
                    }
                    drop(state);
                    if appended.new_batch || appended.batch_full {
                        shared.wake_sender.notify_one();
                    }
                    return Ok(DeliveryFuture { rx });
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, progress.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(ClientError::Closed),
                Err(_) => {
                    return Err(ClientError::Timeout {
                        what: format!(
                            "buffer space for a {size_bytes}-byte record within {budget} (buffer_memory={})",
                            config.buffer_memory
                        ),
                    })
                }
            }
        }
    }

    /// Sends every batch queued now without waiting for `linger_ms`, and waits until each
    /// is acknowledged or failed (failures are reported through the records' futures).
    pub async fn flush(&self) -> Result<()> {
        let shared = self.shared();
        let mut progress = shared.progress.subscribe();
        let through = shared.lock().accumulator.begin_flush();
        shared.wake_sender.notify_one();
        loop {
            {
                let state = shared.lock();
                if state.accumulator.flushed(through) {
                    return Ok(());
                }
                if state.sender_done {
                    return Err(ClientError::Closed);
                }
            }
            if progress.changed().await.is_err() {
                return Err(ClientError::Closed);
            }
        }
    }

    /// Stops accepting records, delivers (or fails) everything queued, then closes the
    /// connections.
    pub async fn close(&self) -> Result<()> {
        let shared = self.shared();
        let mut progress = shared.progress.subscribe();
        {
            let mut state = shared.lock();
            state.closed = true;
            state.accumulator.close();
        }
        shared.wake_sender.notify_one();
        loop {
            if shared.lock().sender_done {
                break;
            }
            if progress.changed().await.is_err() {
                break;
            }
        }
        shared.cluster.close();
        Ok(())
    }
}

/// The sender task: Kafka's `Sender.runOnce` in a loop.
async fn run_sender(shared: Arc<Shared>) {
    loop {
        let now = Instant::now();
        let mut requests: BTreeMap<BrokerId, Vec<Batch<Reply>>> = BTreeMap::new();
        let (expired, next_check, finished) = {
            let mut state = shared.lock();
            let expired = state.accumulator.expire(now);
            let metadata = shared.cluster.metadata();
            let readiness = state.accumulator.ready(now);
            let mut next_check = readiness.next_check;
            let mut need_metadata = metadata.refreshed_at.is_some_and(|at| {
                now.saturating_duration_since(at)
                    >= Duration::from_millis(shared.config.client.metadata_max_age_ms)
            });
            let mut request_bytes: BTreeMap<BrokerId, usize> = BTreeMap::new();
            for tp in readiness.ready {
                let Some(leader) = metadata.leader(&tp) else {
                    need_metadata = true;
                    continue;
                };
                let opening = !requests.contains_key(&leader);
                let in_flight = state.in_flight.get(&leader).copied().unwrap_or(0);
                if opening && in_flight >= shared.config.max_in_flight_requests_per_connection {
                    continue; // a completion wakes us
                }
                let size = state.accumulator.head_bytes(&tp);
                let used = request_bytes.get(&leader).copied().unwrap_or(0);
                if !opening && used + size > shared.config.max_request_size {
                    continue; // next round
                }
                let Some(batch) = state.accumulator.drain(&tp) else { continue };
                if opening {
                    *state.in_flight.entry(leader).or_default() += 1;
                }
                *request_bytes.entry(leader).or_default() += size;
                if let Some(t) = metadata.topic(&tp.topic) {
                    let available = t.available_partitions();
                    state.partitioner.on_batch_closed(
                        &tp.topic,
                        tp.partition.0,
                        &available,
                        t.partition_count(),
                        &mut madsim::rand::thread_rng(),
                    );
                }
                requests.entry(leader).or_default().push(batch);
            }
            if need_metadata {
                next_check = Some(
                    next_check.map_or(now + shared.backoff(), |t| t.min(now + shared.backoff())),
                );
                if !state.refreshing_metadata {
                    state.refreshing_metadata = true;
                    tokio::spawn(refresh_metadata(shared.clone()));
                }
            }
            let finished = state.closed && state.accumulator.is_empty() && requests.is_empty();
            (expired, next_check, finished)
        };
        if !expired.is_empty() {
            for batch in expired {
                let error = ClientError::Timeout {
                    what: format!(
                        "delivery of {} record(s) to {} within delivery_timeout_ms={}{}",
                        batch.records.len(),
                        batch.tp,
                        shared.config.delivery_timeout_ms,
                        batch
                            .last_error
                            .as_ref()
                            .map(|e| format!(" (last error: {e})"))
                            .unwrap_or_default()
                    ),
                };
                fail_batch(batch, error);
            }
            shared.bump_progress();
        }
        for (leader, batches) in requests {
            tokio::spawn(produce(shared.clone(), leader, batches));
        }
        if finished {
            shared.lock().sender_done = true;
            shared.bump_progress();
            return;
        }
        match next_check {
            Some(at) => {
                tokio::select! {
                    biased;
                    _ = shared.wake_sender.notified() => {}
                    _ = tokio::time::sleep_until(at) => {}
                }
            }
            None => shared.wake_sender.notified().await,
        }
    }
}

/// Refreshes the producer's topics, then lets the sender look again. Backs off after a
/// failure so an unreachable cluster is not hammered.
async fn refresh_metadata(shared: Arc<Shared>) {
    if shared.cluster.refresh_interest().await.is_err() {
        tokio::time::sleep(shared.backoff()).await;
    }
    shared.lock().refreshing_metadata = false;
    shared.wake_sender.notify_one();
}

fn fail_batch(batch: Batch<Reply>, error: ClientError) {
    for reply in batch.replies {
        let _ = reply.send(Err(error.clone()));
    }
}

/// What happened to one batch of a Produce request.
enum Outcome {
    /// Base offset (-1 with acks=0) and LogAppendTime (-1 for CreateTime).
    Acked {
        base_offset: i64,
        log_append_time_ms: i64,
    },
    Failed(ClientError),
}

/// Sends one Produce request to `leader` and settles its batches.
async fn produce(shared: Arc<Shared>, leader: BrokerId, mut batches: Vec<Batch<Reply>>) {
    let outcomes = match send_produce(&shared, leader, &mut batches).await {
        Ok(outcomes) => outcomes,
        Err(error) => batches.iter().map(|_| Outcome::Failed(error.clone())).collect(),
    };
    let now = Instant::now();
    let mut refresh = false;
    let mut settled: Vec<(Batch<Reply>, Outcome)> = Vec::new();
    let mut retry: Vec<Batch<Reply>> = Vec::new();
    for (mut batch, outcome) in batches.into_iter().zip(outcomes) {
        match outcome {
            Outcome::Failed(error) if error.is_retriable() => {
                refresh |= error.needs_metadata_refresh();
                let deadline = batch.delivery_deadline(shared.delivery_timeout());
                if batch.attempts <= shared.config.retries && now + shared.backoff() < deadline {
                    tracing::debug!(tp = %batch.tp, attempts = batch.attempts, %error, "retrying batch");
                    batch.last_error = Some(error);
                    retry.push(batch);
                } else if now + shared.backoff() >= deadline {
                    let error = ClientError::Timeout {
                        what: format!(
                            "delivery of {} record(s) to {} within delivery_timeout_ms={} (last error: {error})",
                            batch.records.len(),
                            batch.tp,
                            shared.config.delivery_timeout_ms
                        ),
                    };
                    settled.push((batch, Outcome::Failed(error)));
                } else {
                    settled.push((batch, Outcome::Failed(error)));
                }
            }
            outcome => settled.push((batch, outcome)),
        }
    }
    {
        let mut state = shared.lock();
        if let Some(n) = state.in_flight.get_mut(&leader) {
            *n = n.saturating_sub(1);
        }
        for (batch, _) in &settled {
            state.accumulator.complete(batch.id, &batch.tp);
        }
        for batch in retry {
            state.accumulator.reenqueue(batch, now, shared.backoff());
        }
        if refresh && !state.refreshing_metadata {
            state.refreshing_metadata = true;
            tokio::spawn(refresh_metadata(shared.clone()));
        }
    }
    for (batch, outcome) in settled {
        match outcome {
            Outcome::Acked { base_offset, log_append_time_ms } => {
                for (i, (reply, record)) in
                    batch.replies.into_iter().zip(&batch.records).enumerate()
                {
                    let _ = reply.send(Ok(RecordMetadata {
                        topic: batch.tp.topic.clone(),
                        partition: batch.tp.partition.0,
                        offset: if base_offset >= 0 {
                            base_offset.saturating_add(i as i64)
                        } else {
                            -1
                        },
                        timestamp_ms: if log_append_time_ms >= 0 {
                            log_append_time_ms
                        } else {
                            record.timestamp_ms
                        },
                    }));
                }
            }
            Outcome::Failed(error) => fail_batch(batch, error),
        }
    }
    shared.bump_progress();
    shared.wake_sender.notify_one();
}

/// Encodes and sends the request; returns one outcome per batch, in order.
async fn send_produce(
    shared: &Shared,
    leader: BrokerId,
    batches: &mut [Batch<Reply>],
) -> Result<Vec<Outcome>> {
    let config = &shared.config;
    let connection = shared.cluster.connection(leader).await?;
    let version = connection.version(ApiKey::Produce)?;
    if config.compression == Compression::Zstd && version < 7 {
        return Err(ClientError::UnsupportedVersion {
            api: ApiKey::Produce,
            client_min: 7,
            client_max: 12,
            broker: connection.api_versions().broker_range(ApiKey::Produce),
            peer: connection.peer().to_string(),
        });
    }
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(batches.len());
    let mut topics: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
    for batch in batches.iter_mut() {
        if batch.encoded.is_none() {
            match encode_batch(&batch.records, batch.identity, config.compression.wire()) {
                Ok(bytes) => batch.encoded = Some(bytes),
                Err(e) => {
                    outcomes.push(Some(Outcome::Failed(e)));
                    continue;
                }
            }
        }
        outcomes.push(None);
        topics.entry(batch.tp.topic.clone()).or_default().push(
            PartitionProduceData::default()
                .with_index(batch.tp.partition.0)
                .with_records(batch.encoded.clone()),
        );
    }
    if topics.is_empty() {
        return Ok(outcomes.into_iter().map(|o| o.expect("all failed to encode")).collect());
    }
    let request = ProduceRequest::default()
        .with_acks(config.acks)
        .with_timeout_ms(i32::try_from(config.request_timeout_ms).unwrap_or(i32::MAX))
        .with_topic_data(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(name)))
                        .with_partition_data(partitions)
                })
                .collect(),
        );
    let response = if config.acks == 0 {
        // The broker sends nothing back: done once written.
        connection.send_oneway(&request, version).await?;
        None
    } else {
        Some(connection.request(&request, version).await?)
    };
    Ok(batches
        .iter()
        .zip(outcomes)
        .map(|(batch, outcome)| match outcome {
            Some(failed) => failed,
            None => match &response {
                None => Outcome::Acked { base_offset: -1, log_append_time_ms: -1 },
                Some(response) => partition_outcome(response, &batch.tp, connection.peer()),
            },
        })
        .collect())
}

fn partition_outcome(response: &ProduceResponse, tp: &TopicPartition, peer: &str) -> Outcome {
    let found = response
        .responses
        .iter()
        .filter(|t| t.name.0.as_str() == tp.topic)
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == tp.partition.0);
    let Some(p) = found else {
        return Outcome::Failed(ClientError::protocol(
            format!("Produce response from {peer}"),
            format!("no answer for {tp}"),
        ));
    };
    let message = p.error_message.as_ref().map(|m| m.as_str());
    match ClientError::from_code(p.error_code, message, || format!("produce to {tp}")) {
        Some(error) => Outcome::Failed(error),
        None => {
            Outcome::Acked { base_offset: p.base_offset, log_append_time_ms: p.log_append_time_ms }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_follows_kafka() {
        assert!(ProducerConfig::default().validate().is_ok());
        let bad_acks = ProducerConfig { acks: 2, ..ProducerConfig::default() };
        assert!(bad_acks.validate().is_err());
        let short = ProducerConfig { delivery_timeout_ms: 1_000, ..ProducerConfig::default() };
        let e = short.validate().unwrap_err();
        assert!(e.to_string().contains("delivery_timeout_ms"), "{e}");
    }

    #[test]
    fn compression_names() {
        assert_eq!("zstd".parse::<Compression>().unwrap(), Compression::Zstd);
        assert!("brotli".parse::<Compression>().is_err());
    }
}
