//! Broker and topic configuration, by Kafka's key names.
//!
//! Inputs: `server.properties` text and `--override key=value` pairs (broker); the configs
//! of CreateTopics / stored topic overrides (topic). Outputs: a typed [`BrokerConfig`], the
//! effective [`TopicSettings`] of a topic, and DescribeConfigs entries with their sources.
//! Invariants: every key is either supported, accepted with no effect (documented why), or
//! an error that names it — "unknown" when Kafka has no such key, "not supported yet" when
//! Kafka has it and odradek does not. Values are checked against Kafka's ranges.

pub mod cluster;
pub mod historical;
pub mod properties;

pub use cluster::{ClusterConfig, QuorumVoter, Roles};
pub use historical::HistoricalBehaviours;

use crate::log::LogConfig;
use crate::types::BrokerId;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

/// Where a broker setting came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File { path: PathBuf, line: usize },
    Override,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Override => write!(f, "--override"),
        }
    }
}

/// A broker configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: unknown config key `{key}` (not a Kafka broker setting)")]
    UnknownKey { key: String, origin: Origin },
    #[error("{origin}: `{key}` is a Kafka setting that odradek does not support yet")]
    UnsupportedKey { key: String, origin: Origin },
    #[error("{origin}: `{key}={value}`: {reason}")]
    InvalidValue { key: String, value: String, reason: String, origin: Origin },
    /// Settings that are each valid but do not fit together.
    #[error("`{key}`: {reason}")]
    Inconsistent { key: String, reason: String },
    #[error("{origin}: malformed line: {reason}")]
    Malformed { origin: Origin, reason: String },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
}

/// A topic config that cannot be used; answered with INVALID_CONFIG.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopicConfigError {
    #[error("Unknown topic config name: {key}")]
    UnknownKey { key: String },
    #[error("Topic config `{key}` is not supported by odradek yet")]
    UnsupportedKey { key: String },
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    InvalidValue { key: String, value: String, reason: String },
}

/// `message.timestamp.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// A listener: `PLAINTEXT://127.0.0.1:9092`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub listener_name: String,
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.listener_name, self.host, self.port)
    }
}

/// The Kafka types DescribeConfigs reports (`config_type`, v3+).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    List = 7,
}

/// DescribeConfigs `config_source` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    TopicConfig = 1,
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
}

/// One entry of a DescribeConfigs answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedConfig {
    pub name: &'static str,
    pub value: String,
    pub source: ConfigSource,
    pub value_type: ValueType,
    pub read_only: bool,
    pub documentation: &'static str,
}

/// Topic-level settings with their broker-level defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSettings {
    pub log: LogConfig,
    pub min_insync_replicas: i32,
    pub message_timestamp_type: TimestampType,
    pub unclean_leader_election_enable: bool,
}

impl Default for TopicSettings {
    fn default() -> Self {
        TopicSettings {
            log: LogConfig::default(),
            min_insync_replicas: 1,
            message_timestamp_type: TimestampType::CreateTime,
            unclean_leader_election_enable: false,
        }
    }
}

/// The broker's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    pub node_id: BrokerId,
    pub listeners: Vec<Endpoint>,
    pub advertised_listeners: Vec<Endpoint>,
    pub log_dirs: Vec<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub socket_request_max_bytes: usize,
    pub log_retention_check_interval_ms: i64,
    /// Defaults for every topic (`log.segment.bytes` → `segment.bytes`, ...).
    pub topic_defaults: TopicSettings,
    /// Keys given explicitly (file or override): DescribeConfigs reports them as static.
    pub explicit_keys: BTreeSet<String>,
    /// Historical Kafka behaviours to reproduce (`odradek.historical.<name>=true`); all off
    /// by default.
    pub historical: HistoricalBehaviours,
    /// Roles, the controller quorum and the replication timers.
    pub cluster: ClusterConfig,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let listener =
            Endpoint { listener_name: "PLAINTEXT".into(), host: "127.0.0.1".into(), port: 9092 };
        BrokerConfig {
            node_id: BrokerId(1),
            listeners: vec![listener.clone()],
            advertised_listeners: vec![listener],
            log_dirs: vec![PathBuf::from("./data")],
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics_enable: true,
            delete_topic_enable: true,
            socket_request_max_bytes: 104_857_600,
            log_retention_check_interval_ms: 300_000,
            topic_defaults: TopicSettings::default(),
            explicit_keys: BTreeSet::new(),
            historical: HistoricalBehaviours::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

/// Kafka broker keys that odradek accepts although they change nothing here, and why.
const NO_EFFECT_KEYS: &[(&str, &str)] = &[
    ("num.network.threads", "connections are tasks on the async runtime"),
    ("num.io.threads", "requests are handled by one task per broker"),
    ("num.recovery.threads.per.data.dir", "recovery runs on the broker task"),
    ("socket.send.buffer.bytes", "the OS default buffers are used"),
    ("socket.receive.buffer.bytes", "the OS default buffers are used"),
    ("background.threads", "background work runs on the broker task"),
];

/// Kafka broker keys that odradek recognises but does not implement yet.
const KAFKA_BROKER_KEYS_UNSUPPORTED: &[&str] = &[
    "zookeeper.connect",
    "zookeeper.connection.timeout.ms",
    "zookeeper.session.timeout.ms",
    "controller.quorum.bootstrap.servers",
    "security.inter.broker.protocol",
    "broker.rack",
    "offsets.topic.replication.factor",
    "offsets.topic.num.partitions",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "group.initial.rebalance.delay.ms",
    "log.cleanup.policy",
    "log.cleaner.enable",
    "log.cleaner.threads",
    "compression.type",
    "num.replica.fetchers",
    "auto.leader.rebalance.enable",
    "log.segment.delete.delay.ms",
    "log.preallocate",
    "log.index.size.max.bytes",
    "log.roll.jitter.ms",
    "log.roll.jitter.hours",
    "log.message.timestamp.difference.max.ms",
    "metadata.log.dir",
    "metadata.log.segment.bytes",
    "ssl.keystore.location",
    "ssl.truststore.location",
    "sasl.enabled.mechanisms",
    "sasl.mechanism.inter.broker.protocol",
    "authorizer.class.name",
    "super.users",
    "eligible.leader.replicas.version",
    "group.coordinator.rebalance.protocols",
    "transactional.id.expiration.ms",
    "producer.id.expiration.ms",
    "queued.max.requests",
    "max.connections",
    "max.connections.per.ip",
    "connections.max.idle.ms",
    "quota.window.num",
    "replica.selector.class",
    "offsets.retention.minutes",
];

/// Topic config keys: (topic key, broker synonym, type, documentation).
const TOPIC_KEYS: &[(&str, &str, ValueType, &str)] = &[
    (
        "cleanup.policy",
        "log.cleanup.policy",
        ValueType::List,
        "Retention policy: only `delete` is supported.",
    ),
    (
        "compression.type",
        "compression.type",
        ValueType::String,
        "Broker-side compression: only `producer` (keep what the producer sent).",
    ),
    (
        "flush.messages",
        "log.flush.interval.messages",
        ValueType::Long,
        "Sync the log after this many records.",
    ),
    (
        "flush.ms",
        "log.flush.interval.ms",
        ValueType::Long,
        "Sync the log when the last sync is older than this.",
    ),
    (
        "index.interval.bytes",
        "log.index.interval.bytes",
        ValueType::Int,
        "Bytes of log between offset index entries.",
    ),
    (
        "max.message.bytes",
        "message.max.bytes",
        ValueType::Int,
        "The largest record batch accepted.",
    ),
    (
        "message.timestamp.type",
        "log.message.timestamp.type",
        ValueType::String,
        "CreateTime or LogAppendTime.",
    ),
    (
        "min.insync.replicas",
        "min.insync.replicas",
        ValueType::Int,
        "In-sync replicas needed for an acks=all write.",
    ),
    (
        "retention.bytes",
        "log.retention.bytes",
        ValueType::Long,
        "Delete old segments while the partition is larger; -1 for no limit.",
    ),
    (
        "retention.ms",
        "log.retention.ms",
        ValueType::Long,
        "Delete segments older than this; -1 to keep forever.",
    ),
    ("segment.bytes", "log.segment.bytes", ValueType::Int, "Roll a new segment past this size."),
    (
        "segment.ms",
        "log.roll.ms",
        ValueType::Long,
        "Roll a new segment when the active one is older than this.",
    ),
    (
        "unclean.leader.election.enable",
        "unclean.leader.election.enable",
        ValueType::Boolean,
        "Allow an out-of-sync replica to become leader.",
    ),
];

/// Kafka topic keys odradek does not support yet.
const KAFKA_TOPIC_KEYS_UNSUPPORTED: &[&str] = &[
    "delete.retention.ms",
    "file.delete.delay.ms",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "message.downconversion.enable",
    "message.format.version",
    "message.timestamp.difference.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "preallocate",
    "remote.storage.enable",
    "segment.index.bytes",
    "segment.jitter.ms",
];

pub(crate) fn parse_long(value: &str, min: i64, max: i64) -> Result<i64, String> {
    let parsed: i64 =
        value.trim().parse().map_err(|_| format!("expected an integer, got {value:?}"))?;
    if parsed < min || parsed > max {
        return Err(format!("must be in [{min}, {max}]"));
    }
    Ok(parsed)
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("expected true or false, got {value:?}")),
    }
}

fn parse_timestamp_type(value: &str) -> Result<TimestampType, String> {
    match value.trim() {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        other => Err(format!("expected CreateTime or LogAppendTime, got {other:?}")),
    }
}

/// Parses `PLAINTEXT://host:port[,...]`.
pub fn parse_listeners(value: &str) -> Result<Vec<Endpoint>, String> {
    let mut endpoints = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, rest) =
            item.split_once("://").ok_or_else(|| format!("{item:?} is not NAME://host:port"))?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| format!("{item:?} has no port"))?;
        let port: u16 = port.parse().map_err(|_| format!("{item:?} has a bad port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("{item:?}: listener name {name:?} is not a name"));
        }
        if endpoints.iter().any(|e: &Endpoint| e.listener_name == name) {
            return Err(format!("listener {name} is named twice"));
        }
        endpoints.push(Endpoint { listener_name: name.to_string(), host: host.to_string(), port });
    }
    if endpoints.is_empty() {
        return Err("no listener given".into());
    }
    Ok(endpoints)
}

impl BrokerConfig {
    /// Reads `path` (if given) and applies `overrides` on top, in order.
    pub fn load(
        path: Option<&std::path::Path>,
        overrides: &[(String, String)],
    ) -> Result<BrokerConfig, ConfigError> {
        let mut entries = Vec::new();
        if let Some(path) = path {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
            let parsed =
                properties::parse(&text).map_err(|(line, reason)| ConfigError::Malformed {
                    origin: Origin::File { path: path.to_path_buf(), line },
                    reason,
                })?;
            for e in parsed {
                entries.push((
                    e.key,
                    e.value,
                    Origin::File { path: path.to_path_buf(), line: e.line },
                ));
            }
        }
        for (key, value) in overrides {
            entries.push((key.clone(), value.clone(), Origin::Override));
        }
        BrokerConfig::from_entries(entries)
    }

    /// Builds a configuration from (key, value, origin) entries; later entries win.
    pub fn from_entries(
        entries: Vec<(String, String, Origin)>,
    ) -> Result<BrokerConfig, ConfigError> {
        let mut config = BrokerConfig::default();
        // Kafka's precedence: log.retention.ms over .minutes over .hours; log.roll.ms over .hours.
        let (mut retention_ms, mut retention_minutes, mut retention_hours) = (None, None, None);
        let (mut roll_ms, mut roll_hours) = (None, None);
        let mut log_dir_alias = None;
        let mut advertised_given = false;
        for (key, value, origin) in entries {
            let invalid = |reason: String| ConfigError::InvalidValue {
                key: key.clone(),
                value: value.clone(),
                reason,
                origin: origin.clone(),
            };
            let defaults = &mut config.topic_defaults;
            match key.as_str() {
                "node.id" | "broker.id" => {
                    config.node_id = BrokerId(
                        parse_long(&value, 0, i64::from(i32::MAX)).map_err(invalid)? as i32,
                    )
                }
                "listeners" => config.listeners = parse_listeners(&value).map_err(invalid)?,
                "advertised.listeners" => {
                    config.advertised_listeners = parse_listeners(&value).map_err(invalid)?;
                    advertised_given = true;
                }
                "log.dirs" => config.log_dirs = parse_dirs(&value).map_err(invalid)?,
                "log.dir" => log_dir_alias = Some(parse_dirs(&value).map_err(invalid)?),
                "num.partitions" => {
                    config.num_partitions =
                        parse_long(&value, 1, i64::from(i32::MAX)).map_err(invalid)? as i32
                }
                "default.replication.factor" => {
                    config.default_replication_factor =
                        parse_long(&value, 1, i64::from(i16::MAX)).map_err(invalid)? as i16
                }
                "auto.create.topics.enable" => {
                    config.auto_create_topics_enable = parse_bool(&value).map_err(invalid)?
                }
                "delete.topic.enable" => {
                    config.delete_topic_enable = parse_bool(&value).map_err(invalid)?
                }
                "socket.request.max.bytes" => {
                    config.socket_request_max_bytes =
                        parse_long(&value, 1, i64::from(i32::MAX)).map_err(invalid)? as usize
                }
                "log.retention.check.interval.ms" => {
                    config.log_retention_check_interval_ms =
                        parse_long(&value, 1, i64::MAX).map_err(invalid)?
                }
                "log.segment.bytes" => {
                    defaults.log.segment_bytes =
                        parse_long(&value, 14, i64::from(i32::MAX)).map_err(invalid)? as u64
                }
                "log.roll.ms" => roll_ms = Some(parse_long(&value, 1, i64::MAX).map_err(invalid)?),
                "log.roll.hours" => {
                    roll_hours = Some(parse_long(&value, 1, i64::MAX / 3_600_000).map_err(invalid)?)
                }
                "log.retention.ms" => {
                    retention_ms = Some(parse_long(&value, -1, i64::MAX).map_err(invalid)?)
                }
                "log.retention.minutes" => {
                    retention_minutes =
                        Some(parse_long(&value, -1, i64::MAX / 60_000).map_err(invalid)?)
                }
                "log.retention.hours" => {
                    retention_hours =
                        Some(parse_long(&value, -1, i64::MAX / 3_600_000).map_err(invalid)?)
                }
                "log.retention.bytes" => {
                    defaults.log.retention_bytes =
                        parse_long(&value, -1, i64::MAX).map_err(invalid)?
                }
                "log.flush.interval.messages" => {
                    defaults.log.flush_messages =
                        parse_long(&value, 1, i64::MAX).map_err(invalid)? as u64
                }
                "log.flush.interval.ms" => {
                    defaults.log.flush_ms = parse_long(&value, 0, i64::MAX).map_err(invalid)?
                }
                "log.flush.offset.checkpoint.interval.ms" => {
                    defaults.log.checkpoint_interval_ms =
                        parse_long(&value, 0, i64::from(i32::MAX)).map_err(invalid)?
                }
                "log.index.interval.bytes" => {
                    defaults.log.index_interval_bytes =
                        parse_long(&value, 0, i64::from(i32::MAX)).map_err(invalid)? as u64
                }
                "message.max.bytes" => {
                    defaults.log.max_message_bytes =
                        parse_long(&value, 0, i64::from(i32::MAX)).map_err(invalid)? as usize
                }
                "min.insync.replicas" => {
                    defaults.min_insync_replicas =
                        parse_long(&value, 1, i64::from(i32::MAX)).map_err(invalid)? as i32
                }
                "log.message.timestamp.type" => {
                    defaults.message_timestamp_type =
                        parse_timestamp_type(&value).map_err(invalid)?
                }
                "unclean.leader.election.enable" => {
                    defaults.unclean_leader_election_enable = parse_bool(&value).map_err(invalid)?
                }
                other if cluster::KEYS.contains(&other) => {
                    config.cluster.set(other, &value).map_err(invalid)?
                }
                other if other.starts_with(historical::KEY_PREFIX) => {
                    let on = parse_bool(&value).map_err(invalid)?;
                    config.historical.set(&other[historical::KEY_PREFIX.len()..], on).map_err(
                        |_| ConfigError::UnknownKey { key: key.clone(), origin: origin.clone() },
                    )?;
                }
                other if NO_EFFECT_KEYS.iter().any(|(k, _)| *k == other) => {
                    let why = NO_EFFECT_KEYS
                        .iter()
                        .find(|(k, _)| *k == other)
                        .map(|(_, w)| *w)
                        .unwrap_or_default();
                    tracing::info!(key = other, %origin, why, "accepted broker setting has no effect in odradek");
                }
                other
                    if KAFKA_BROKER_KEYS_UNSUPPORTED.contains(&other)
                        || other.starts_with("ssl.")
                        || other.starts_with("sasl.") =>
                {
                    return Err(ConfigError::UnsupportedKey { key: key.clone(), origin });
                }
                _ => return Err(ConfigError::UnknownKey { key: key.clone(), origin }),
            }
            config.explicit_keys.insert(key.clone());
        }
        let retention = retention_ms
            .or(retention_minutes.map(|m: i64| m.saturating_mul(60_000)))
            .or(retention_hours.map(|h: i64| h.saturating_mul(3_600_000)));
        if let Some(ms) = retention {
            config.topic_defaults.log.retention_ms = if ms < 0 { -1 } else { ms };
        }
        if let Some(ms) = roll_ms.or(roll_hours.map(|h: i64| h.saturating_mul(3_600_000))) {
            config.topic_defaults.log.segment_ms = ms;
        }
        if !config.explicit_keys.contains("log.dirs") {
            if let Some(dirs) = log_dir_alias {
                config.log_dirs = dirs;
            }
        }
        if !advertised_given {
            config.advertised_listeners = config.listeners.clone();
        }
        if let Err((key, reason)) = config.cluster.validate(config.node_id.0, &config.listeners) {
            return Err(ConfigError::Inconsistent { key, reason });
        }
        if config.log_dirs.len() > 1 {
            return Err(ConfigError::InvalidValue {
                key: "log.dirs".into(),
                value: config
                    .log_dirs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                reason: "more than one log directory is not supported yet".into(),
                origin: Origin::Override,
            });
        }
        Ok(config)
    }

    /// The log directory partitions live in.
    pub fn log_dir(&self) -> &std::path::Path {
        &self.log_dirs[0]
    }

    /// The listener clients are told to connect to.
    pub fn advertised_endpoint(&self) -> &Endpoint {
        &self.advertised_listeners[0]
    }

    /// DescribeConfigs entries for this broker.
    pub fn describe(&self) -> Vec<DescribedConfig> {
        let d = &self.topic_defaults;
        let listeners =
            |v: &[Endpoint]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let entries: Vec<(&'static str, String, ValueType, &'static str)> = vec![
            ("node.id", self.node_id.0.to_string(), ValueType::Int, "This broker's id."),
            (
                "listeners",
                listeners(&self.listeners),
                ValueType::String,
                "Addresses the broker listens on.",
            ),
            (
                "advertised.listeners",
                listeners(&self.advertised_listeners),
                ValueType::String,
                "Addresses given to clients.",
            ),
            (
                "log.dirs",
                self.log_dirs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(","),
                ValueType::String,
                "Where partition logs live.",
            ),
            (
                "num.partitions",
                self.num_partitions.to_string(),
                ValueType::Int,
                "Partitions of an auto-created topic.",
            ),
            (
                "default.replication.factor",
                self.default_replication_factor.to_string(),
                ValueType::Int,
                "Replication factor of auto-created topics.",
            ),
            (
                "auto.create.topics.enable",
                self.auto_create_topics_enable.to_string(),
                ValueType::Boolean,
                "Create unknown topics asked for in Metadata.",
            ),
            (
                "delete.topic.enable",
                self.delete_topic_enable.to_string(),
                ValueType::Boolean,
                "Allow DeleteTopics.",
            ),
            (
                "socket.request.max.bytes",
                self.socket_request_max_bytes.to_string(),
                ValueType::Int,
                "The largest request accepted.",
            ),
            (
                "log.retention.check.interval.ms",
                self.log_retention_check_interval_ms.to_string(),
                ValueType::Long,
                "How often retention runs.",
            ),
            (
                "log.segment.bytes",
                d.log.segment_bytes.to_string(),
                ValueType::Int,
                "Default segment.bytes.",
            ),
            ("log.roll.ms", d.log.segment_ms.to_string(), ValueType::Long, "Default segment.ms."),
            (
                "log.retention.ms",
                d.log.retention_ms.to_string(),
                ValueType::Long,
                "Default retention.ms.",
            ),
            (
                "log.retention.bytes",
                d.log.retention_bytes.to_string(),
                ValueType::Long,
                "Default retention.bytes.",
            ),
            (
                "log.flush.interval.messages",
                d.log.flush_messages.to_string(),
                ValueType::Long,
                "Default flush.messages.",
            ),
            (
                "log.flush.interval.ms",
                d.log.flush_ms.to_string(),
                ValueType::Long,
                "Default flush.ms.",
            ),
            (
                "log.flush.offset.checkpoint.interval.ms",
                d.log.checkpoint_interval_ms.to_string(),
                ValueType::Int,
                "How often the recovery point is written.",
            ),
            (
                "log.index.interval.bytes",
                d.log.index_interval_bytes.to_string(),
                ValueType::Int,
                "Default index.interval.bytes.",
            ),
            (
                "message.max.bytes",
                d.log.max_message_bytes.to_string(),
                ValueType::Int,
                "Default max.message.bytes.",
            ),
            (
                "min.insync.replicas",
                d.min_insync_replicas.to_string(),
                ValueType::Int,
                "Default min.insync.replicas.",
            ),
            (
                "log.message.timestamp.type",
                timestamp_type_name(d.message_timestamp_type).to_string(),
                ValueType::String,
                "Default message.timestamp.type.",
            ),
            (
                "unclean.leader.election.enable",
                d.unclean_leader_election_enable.to_string(),
                ValueType::Boolean,
                "Default unclean.leader.election.enable.",
            ),
        ];
        entries
            .into_iter()
            .map(|(name, value, value_type, documentation)| DescribedConfig {
                name,
                value,
                source: if self.is_explicit(name) {
                    ConfigSource::StaticBrokerConfig
                } else {
                    ConfigSource::DefaultConfig
                },
                value_type,
                read_only: true,
                documentation,
            })
            .collect()
    }

    fn is_explicit(&self, name: &str) -> bool {
        let aliases: &[&str] = match name {
            "node.id" => &["node.id", "broker.id"],
            "log.dirs" => &["log.dirs", "log.dir"],
            "log.retention.ms" => {
                &["log.retention.ms", "log.retention.minutes", "log.retention.hours"]
            }
            "log.roll.ms" => &["log.roll.ms", "log.roll.hours"],
            other => return self.explicit_keys.contains(other),
        };
        aliases.iter().any(|a| self.explicit_keys.contains(*a))
    }
}

fn parse_dirs(value: &str) -> Result<Vec<PathBuf>, String> {
    let dirs: Vec<PathBuf> =
        value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from).collect();
    if dirs.is_empty() {
        return Err("no directory given".into());
    }
    Ok(dirs)
}

fn timestamp_type_name(t: TimestampType) -> &'static str {
    match t {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

/// A topic's explicit config overrides, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicConfig {
    overrides: BTreeMap<String, String>,
}

impl TopicConfig {
    /// Validates overrides given by CreateTopics (or read back from metadata).
    pub fn new(overrides: BTreeMap<String, String>) -> Result<TopicConfig, TopicConfigError> {
        let mut settings = TopicSettings::default();
        for (key, value) in &overrides {
            apply_topic_key(&mut settings, key, value)?;
        }
        Ok(TopicConfig { overrides })
    }

    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// The effective settings: broker defaults with this topic's overrides on top.
    pub fn resolve(&self, broker: &BrokerConfig) -> TopicSettings {
        self.resolve_on(&broker.topic_defaults)
    }

    /// The effective settings: `defaults` with this topic's overrides on top.
    pub fn resolve_on(&self, defaults: &TopicSettings) -> TopicSettings {
        let mut settings = defaults.clone();
        for (key, value) in &self.overrides {
            apply_topic_key(&mut settings, key, value).expect("overrides were validated");
        }
        settings
    }

    /// DescribeConfigs entries for a topic with these overrides.
    pub fn describe(&self, broker: &BrokerConfig) -> Vec<DescribedConfig> {
        self.describe_with(&broker.topic_defaults, |synonym| broker.is_explicit(synonym))
    }

    /// DescribeConfigs entries for a topic with these overrides on top of `defaults`, where
    /// the broker config that produced the defaults is not at hand (the controller): a
    /// value not overridden by the topic is reported as a default.
    pub fn describe_on(&self, defaults: &TopicSettings) -> Vec<DescribedConfig> {
        self.describe_with(defaults, |_| false)
    }

    fn describe_with(
        &self,
        defaults: &TopicSettings,
        is_explicit: impl Fn(&str) -> bool,
    ) -> Vec<DescribedConfig> {
        let settings = self.resolve_on(defaults);
        TOPIC_KEYS
            .iter()
            .map(|&(name, synonym, value_type, documentation)| {
                let source = if self.overrides.contains_key(name) {
                    ConfigSource::TopicConfig
                } else if is_explicit(synonym) {
                    ConfigSource::StaticBrokerConfig
                } else {
                    ConfigSource::DefaultConfig
                };
                DescribedConfig {
                    name,
                    value: topic_value(&settings, name),
                    source,
                    value_type,
                    read_only: false,
                    documentation,
                }
            })
            .collect()
    }
}

fn topic_value(s: &TopicSettings, name: &str) -> String {
    match name {
        "cleanup.policy" => "delete".into(),
        "compression.type" => "producer".into(),
        "flush.messages" => s.log.flush_messages.min(i64::MAX as u64).to_string(),
        "flush.ms" => s.log.flush_ms.to_string(),
        "index.interval.bytes" => s.log.index_interval_bytes.to_string(),
        "max.message.bytes" => s.log.max_message_bytes.to_string(),
        "message.timestamp.type" => timestamp_type_name(s.message_timestamp_type).into(),
        "min.insync.replicas" => s.min_insync_replicas.to_string(),
        "retention.bytes" => s.log.retention_bytes.to_string(),
        "retention.ms" => s.log.retention_ms.to_string(),
        "segment.bytes" => s.log.segment_bytes.to_string(),
        "segment.ms" => s.log.segment_ms.to_string(),
        "unclean.leader.election.enable" => s.unclean_leader_election_enable.to_string(),
        other => unreachable!("{other} is in TOPIC_KEYS"),
    }
}

fn apply_topic_key(s: &mut TopicSettings, key: &str, value: &str) -> Result<(), TopicConfigError> {
    let invalid = |reason: String| TopicConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason,
    };
    match key {
        "cleanup.policy" => match value.trim() {
            "delete" => {}
            "compact" | "compact,delete" | "delete,compact" => {
                return Err(invalid("log compaction is not supported yet".into()))
            }
            _ => return Err(invalid("expected delete".into())),
        },
        "compression.type" => match value.trim() {
            "producer" => {}
            "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd" => {
                return Err(invalid(
                    "broker-side recompression is not supported yet; use producer".into(),
                ))
            }
            _ => return Err(invalid("expected producer".into())),
        },
        "flush.messages" => {
            s.log.flush_messages = parse_long(value, 1, i64::MAX).map_err(invalid)? as u64
        }
        "flush.ms" => s.log.flush_ms = parse_long(value, 0, i64::MAX).map_err(invalid)?,
        "index.interval.bytes" => {
            s.log.index_interval_bytes =
                parse_long(value, 0, i64::from(i32::MAX)).map_err(invalid)? as u64
        }
        "max.message.bytes" => {
            s.log.max_message_bytes =
                parse_long(value, 0, i64::from(i32::MAX)).map_err(invalid)? as usize
        }
        "message.timestamp.type" => {
            s.message_timestamp_type = parse_timestamp_type(value).map_err(invalid)?
        }
        "min.insync.replicas" => {
            s.min_insync_replicas =
                parse_long(value, 1, i64::from(i32::MAX)).map_err(invalid)? as i32
        }
        "retention.bytes" => {
            s.log.retention_bytes = parse_long(value, -1, i64::MAX).map_err(invalid)?
        }
        "retention.ms" => s.log.retention_ms = parse_long(value, -1, i64::MAX).map_err(invalid)?,
        "segment.bytes" => {
            s.log.segment_bytes =
                parse_long(value, 14, i64::from(i32::MAX)).map_err(invalid)? as u64
        }
        "segment.ms" => s.log.segment_ms = parse_long(value, 1, i64::MAX).map_err(invalid)?,
        "unclean.leader.election.enable" => {
            s.unclean_leader_election_enable = parse_bool(value).map_err(invalid)?
        }
        other if KAFKA_TOPIC_KEYS_UNSUPPORTED.contains(&other) => {
            return Err(TopicConfigError::UnsupportedKey { key: other.into() })
        }
        other => return Err(TopicConfigError::UnknownKey { key: other.into() }),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> Vec<(String, String, Origin)> {
        pairs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                (
                    k.to_string(),
                    v.to_string(),
                    Origin::File { path: "server.properties".into(), line: i + 1 },
                )
            })
            .collect()
    }

    #[test]
    fn no_config_is_a_usable_single_node_on_loopback() {
        let config = BrokerConfig::from_entries(vec![]).unwrap();
        assert_eq!(config.listeners[0].to_string(), "PLAINTEXT://127.0.0.1:9092");
        assert_eq!(config.log_dir(), std::path::Path::new("./data"));
        assert!(config.auto_create_topics_enable);
        assert_eq!(
            config.topic_defaults.log.flush_messages,
            u64::MAX,
            "no fsync per write by default"
        );
    }

    #[test]
    fn kafka_keys_map_onto_topic_defaults_with_kafka_precedence() {
        let config = BrokerConfig::from_entries(entries(&[
            ("broker.id", "3"),
            ("log.retention.hours", "48"),
            ("log.retention.minutes", "30"),
            ("log.segment.bytes", "1048576"),
            ("log.flush.interval.messages", "1"),
            ("log.dir", "/tmp/kafka"),
            ("num.network.threads", "3"),
        ]))
        .unwrap();
        assert_eq!(config.node_id, BrokerId(3));
        assert_eq!(config.topic_defaults.log.retention_ms, 30 * 60_000, "minutes win over hours");
        assert_eq!(config.topic_defaults.log.segment_bytes, 1 << 20);
        assert_eq!(config.topic_defaults.log.flush_messages, 1);
        assert_eq!(config.log_dir(), std::path::Path::new("/tmp/kafka"));
    }

    #[test]
    fn bad_keys_and_values_are_errors_naming_the_key_and_line() {
        let error =
            BrokerConfig::from_entries(entries(&[("node.id", "1"), ("log.segmnet.bytes", "1")]))
                .unwrap_err();
        assert_eq!(error.to_string(), "server.properties:2: unknown config key `log.segmnet.bytes` (not a Kafka broker setting)");
        let error =
            BrokerConfig::from_entries(entries(&[("zookeeper.connect", "zk:2181")])).unwrap_err();
        assert!(
            error.to_string().contains(
                "`zookeeper.connect` is a Kafka setting that odradek does not support yet"
            ),
            "{error}"
        );
        let error = BrokerConfig::from_entries(entries(&[("num.partitions", "many")])).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("server.properties:1: `num.partitions=many`: expected an integer"),
            "{error}"
        );
        let error =
            BrokerConfig::from_entries(entries(&[("listeners", "SSL://:9093")])).unwrap_err();
        assert!(error.to_string().contains("only PLAINTEXT"), "{error}");
    }

    #[test]
    fn historical_switches_are_set_by_odradek_keys() {
        let config = BrokerConfig::from_entries(entries(&[
            ("odradek.historical.no_eligible_leader_replicas", "true"),
            ("odradek.historical.no_broker_epoch_fencing", "false"),
        ]))
        .unwrap();
        assert!(config.historical.no_eligible_leader_replicas);
        assert!(!config.historical.no_broker_epoch_fencing);
        assert_eq!(BrokerConfig::default().historical, HistoricalBehaviours::default());
        let error = BrokerConfig::from_entries(entries(&[("odradek.historical.no_isr", "true")]))
            .unwrap_err();
        assert!(error.to_string().contains("unknown config key `odradek.historical.no_isr`"));
        let error =
            BrokerConfig::from_entries(entries(&[("odradek.historical.hw_truncation", "yes")]))
                .unwrap_err();
        assert!(error.to_string().contains("expected true or false"), "{error}");
    }

    #[test]
    fn topic_overrides_are_validated_and_described_with_their_sources() {
        let broker =
            BrokerConfig::from_entries(entries(&[("log.retention.bytes", "1000")])).unwrap();
        let topic = TopicConfig::new(BTreeMap::from([(
            "retention.ms".to_string(),
            "172800000".to_string(),
        )]))
        .unwrap();
        let described = topic.describe(&broker);
        let find = |name: &str| described.iter().find(|d| d.name == name).unwrap().clone();
        assert_eq!(
            (find("retention.ms").value.as_str(), find("retention.ms").source),
            ("172800000", ConfigSource::TopicConfig)
        );
        assert_eq!(
            (find("retention.bytes").value.as_str(), find("retention.bytes").source),
            ("1000", ConfigSource::StaticBrokerConfig)
        );
        assert_eq!(find("segment.bytes").source, ConfigSource::DefaultConfig);
        assert_eq!(topic.resolve(&broker).log.retention_ms, 172_800_000);
        let bad = |k: &str, v: &str| {
            TopicConfig::new(BTreeMap::from([(k.to_string(), v.to_string())]))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(bad("retention.msec", "1"), "Unknown topic config name: retention.msec");
        assert!(bad("cleanup.policy", "compact").contains("compaction is not supported"));
        assert!(bad("segment.bytes", "1").contains("must be in [14,"));
        assert!(bad("preallocate", "true").contains("not supported by odradek yet"));
    }
}
