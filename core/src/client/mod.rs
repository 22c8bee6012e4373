//! A Kafka client: producer, consumer (by partition) and admin, used by the `odradek` CLI and
//! by the simulator's workloads.
//!
//! Inputs: a [`ClientConfig`] (bootstrap servers, timeouts) plus per-role settings; records to
//! send; partitions to read. Outputs: acknowledgements ([`RecordMetadata`]), records
//! ([`ConsumerRecord`]), admin results, or a [`ClientError`] that says what failed.
//! Invariants: everything speaks the Kafka wire protocol through `kafka-protocol`; the code
//! runs unchanged on tokio and inside madsim (tokio is madsim-tokio): every `select!` is
//! `biased;`, every frame is flushed, streams are split with `tokio::io::split`, randomness
//! comes only from `madsim::rand::thread_rng()` and time only from `tokio::time` (plus
//! [`wall_clock_ms`] for record timestamps). No state lives in statics.
//!
//! Layout: `connection` (one socket, pipelined requests, version negotiation), `cluster`
//! (bootstrap, metadata cache, connection pool, ListOffsets), `partitioner` (Kafka's murmur2
//! and the sticky partitioner), `accumulator` (per-partition batching, sans-IO), `records`
//! (RecordBatch v2 encode/decode), `producer`, `consumer`, `admin`.

mod accumulator;
pub mod admin;
pub mod cluster;
pub mod connection;
pub mod consumer;
mod error;
#[cfg(test)]
mod loopback_tests;
pub mod partitioner;
pub mod producer;
mod records;

pub use admin::{
    Admin, ConfigEntry, ConfigResource, ConfigSource, NewTopic, PartitionDescription,
    TopicDescription, TopicListing,
};
pub use cluster::TopicMetadata;
pub use cluster::{BrokerInfo, Cluster, ListedOffset, Metadata, OffsetSpec, PartitionMetadata};
pub use connection::Connection;
pub use consumer::{AutoOffsetReset, Consumer, ConsumerConfig, ConsumerRecord, IsolationLevel};
pub use error::{ClientError, Result};
pub use producer::{
    Compression, DeliveryFuture, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};

/// Kafka's error codes, as the `kafka-protocol` crate names them.
pub use kafka_protocol::ResponseError as ErrorCode;

/// Settings every client role shares: where the cluster is and how long to wait for it.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `host:port` pairs to ask for metadata first (`bootstrap.servers`).
    pub bootstrap_servers: Vec<String>,
    /// Sent in every request header (`client.id`).
    pub client_id: String,
    /// How long one request may wait for its response before the connection is closed
    /// (`request.timeout.ms`). The producer overrides it with its own setting.
    pub request_timeout_ms: u64,
    /// How long a TCP connect plus the ApiVersions handshake may take
    /// (`socket.connection.setup.timeout.ms`).
    pub connect_timeout_ms: u64,
    /// Pause before retrying after a retriable error (`retry.backoff.ms`).
    pub retry_backoff_ms: u64,
    /// Metadata older than this is refreshed before use (`metadata.max.age.ms`).
    pub metadata_max_age_ms: u64,
    /// The largest response frame accepted; a bigger announced size closes the connection
    /// before anything is allocated.
    pub max_response_bytes: usize,
    /// Ask brokers to create unknown topics on Metadata requests
    /// (`allow.auto.create.topics`).
    pub allow_auto_create_topics: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap_servers: vec!["127.0.0.1:9092".to_string()],
            client_id: "odradek".to_string(),
            request_timeout_ms: 30_000,
            connect_timeout_ms: 10_000,
            retry_backoff_ms: 100,
            metadata_max_age_ms: 300_000,
            max_response_bytes: 100 * 1024 * 1024,
            allow_auto_create_topics: true,
        }
    }
}

impl ClientConfig {
    /// A default config pointing at `bootstrap` (comma-separated `host:port` list).
    pub fn new(bootstrap: &str) -> Self {
        ClientConfig {
            bootstrap_servers: bootstrap
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            ..ClientConfig::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.bootstrap_servers.is_empty() {
            return Err(ClientError::InvalidArgument("bootstrap_servers is empty".into()));
        }
        for server in &self.bootstrap_servers {
            parse_host_port(server)?;
        }
        if self.request_timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return Err(ClientError::InvalidArgument(
                "request_timeout_ms and connect_timeout_ms must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Splits `host:port` (IPv6 as `[::1]:9092`).
pub(crate) fn parse_host_port(address: &str) -> Result<(String, u16)> {
    let bad = || ClientError::InvalidArgument(format!("{address:?} is not host:port"));
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    let port = port.parse::<u16>().map_err(|_| bad())?;
    Ok((host.to_string(), port))
}

/// Milliseconds since the Unix epoch, for record timestamps (Kafka's CreateTime).
///
/// This is the client's only wall-clock read. Under madsim `SystemTime::now()` is served by
/// the simulator's clock (it intercepts `clock_gettime`), so timestamps stay deterministic;
/// workloads that want full control pass `timestamp_ms` explicitly.
pub(crate) fn wall_clock_ms() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(elapsed) => i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
        // A clock before 1970 gives "no timestamp", which Kafka spells -1.
        Err(_) => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parsing() {
        assert_eq!(parse_host_port("127.0.0.1:9092").unwrap(), ("127.0.0.1".into(), 9092));
        assert_eq!(parse_host_port("[::1]:19092").unwrap(), ("::1".into(), 19092));
        assert!(parse_host_port("localhost").is_err());
        assert!(parse_host_port(":9092").is_err());
        assert!(parse_host_port("h:99999").is_err());
    }

    #[test]
    fn bootstrap_list_is_split_on_commas() {
        let c = ClientConfig::new("a:1, b:2,,");
        assert_eq!(c.bootstrap_servers, vec!["a:1".to_string(), "b:2".to_string()]);
        assert!(c.validate().is_ok());
        assert!(ClientConfig::new("").validate().is_err());
    }
}
