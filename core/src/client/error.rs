//! The client's error type.
//!
//! Inputs: failures from the network, the peer's responses, local timeouts and bad arguments.
//! Outputs: [`ClientError`], cloneable so one failed batch can fail every record in it.
//! Invariants: a Kafka error keeps the wire code and the server's message; every variant says
//! what it was doing or waiting for, so a log line is enough to understand it.

use std::sync::Arc;

use kafka_protocol::messages::ApiKey;

use super::ErrorCode;
use crate::types::TopicPartition;

/// Everything that can go wrong in the client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The broker answered with a Kafka error code.
    #[error("{context}: {code} (error code {}){}", code.code(), message_suffix(.message))]
    Kafka { code: ErrorCode, message: Option<String>, context: String },

    /// A socket operation failed.
    #[error("I/O error talking to {peer}: {source}")]
    Io { peer: String, source: Arc<std::io::Error> },

    /// The connection closed (by the peer, by an earlier error, or by a request timeout) while
    /// a request was pending or about to be sent.
    #[error("connection to {peer} closed: {reason}")]
    ConnectionClosed { peer: String, reason: String },

    /// Something did not finish in time; `what` names it and the setting that bounded it.
    #[error("timed out: {what}")]
    Timeout { what: String },

    /// Bytes from the peer could not be decoded, or a response did not match its request.
    #[error("protocol error: {context}: {detail}")]
    Protocol { context: String, detail: String },

    /// A frame announced a size that is negative or above the configured limit.
    #[error("frame of {size} bytes from {peer} is outside 0..={limit_bytes}")]
    FrameSize { peer: String, size: i64, limit_bytes: usize },

    /// Client and broker share no version of an API the client needs.
    #[error("{api:?}: client supports v{client_min}..=v{client_max}, broker {peer} {}", broker_range(.broker))]
    UnsupportedVersion {
        api: ApiKey,
        client_min: i16,
        client_max: i16,
        broker: Option<(i16, i16)>,
        peer: String,
    },

    /// No bootstrap server or known broker accepted a connection.
    #[error("no broker available: {detail}")]
    NoBrokerAvailable { detail: String },

    /// A record is bigger than one request may carry.
    #[error("record of {size_bytes} bytes exceeds max_request_size={limit_bytes}")]
    RecordTooLarge { size_bytes: usize, limit_bytes: usize },

    /// A fetch position fell outside the log and `auto_offset_reset` is `None`.
    #[error("offset {offset} is out of range for {partition} and auto_offset_reset is none")]
    OffsetOutOfRange { partition: TopicPartition, offset: i64 },

    /// A partition has no position and `auto_offset_reset` is `None`.
    #[error("no position for {partition} and auto_offset_reset is none; seek first")]
    NoOffsetForPartition { partition: TopicPartition },

    /// The caller passed something the client cannot use (bad config, unknown partition, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The producer was closed (or dropped) before the operation could finish.
    #[error("producer is closed")]
    Closed,
}

fn message_suffix(message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}

fn broker_range(broker: &Option<(i16, i16)>) -> String {
    match broker {
        Some((min, max)) => format!("supports v{min}..=v{max}"),
        None => "does not support it".to_string(),
    }
}

impl ClientError {
    /// A Kafka error from a response field, `None` when the code is 0.
    pub fn from_code(
        code: i16,
        message: Option<&str>,
        context: impl FnOnce() -> String,
    ) -> Option<Self> {
        ErrorCode::try_from_code(code).map(|code| ClientError::Kafka {
            code,
            message: message.map(str::to_string),
            context: context(),
        })
    }

    pub(crate) fn io(peer: &str, source: std::io::Error) -> Self {
        ClientError::Io { peer: peer.to_string(), source: Arc::new(source) }
    }

    pub(crate) fn protocol(context: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        ClientError::Protocol { context: context.into(), detail: detail.to_string() }
    }

    /// The Kafka error code, when the broker sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether trying again may succeed: Kafka's retriable codes, lost connections and
    /// request timeouts (Kafka treats a disconnect as a retriable `NetworkException`).
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => code.is_retriable(),
            ClientError::Io { .. }
            | ClientError::ConnectionClosed { .. }
            | ClientError::Timeout { .. }
            | ClientError::NoBrokerAvailable { .. } => true,
            _ => false,
        }
    }

    /// Whether the error means the client's view of leaders is stale (Kafka's
    /// `InvalidMetadataException` family) or the connection is gone, so metadata should be
    /// refreshed before trying again.
    pub fn needs_metadata_refresh(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => is_invalid_metadata(*code),
            ClientError::Io { .. }
            | ClientError::ConnectionClosed { .. }
            | ClientError::NoBrokerAvailable { .. } => true,
            _ => false,
        }
    }
}

/// Kafka's `InvalidMetadataException` subclasses (the client asked the wrong broker or used a
/// stale leader epoch or topic id), plus NOT_CONTROLLER for admin requests routed by metadata.
pub(crate) fn is_invalid_metadata(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::UnknownTopicOrPartition
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::NotLeaderOrFollower
            | ErrorCode::KafkaStorageError
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::UnknownTopicId
            | ErrorCode::InconsistentTopicId
            | ErrorCode::NotController
    )
}

/// Shorthand for the client's results.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_show_name_code_and_server_message() {
        let e = ClientError::from_code(6, Some("not the leader"), || "produce to t-0".into())
            .expect("6 is an error");
        assert_eq!(
            e.to_string(),
            "produce to t-0: NotLeaderOrFollower (error code 6): not the leader"
        );
        assert!(e.is_retriable());
        assert!(e.needs_metadata_refresh());
        assert!(ClientError::from_code(0, None, || unreachable!()).is_none());
    }

    #[test]
    fn unsupported_version_names_the_api() {
        let e = ClientError::UnsupportedVersion {
            api: ApiKey::Fetch,
            client_min: 4,
            client_max: 12,
            broker: Some((13, 17)),
            peer: "b1:9092".into(),
        };
        assert_eq!(
            e.to_string(),
            "Fetch: client supports v4..=v12, broker b1:9092 supports v13..=v17"
        );
    }
}
