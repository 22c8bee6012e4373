//! Workloads: producers and consumers on the core client, recording a history.
//!
//! Inputs: the scenario's producer and consumer specs, the bootstrap servers, a stop signal.
//! Outputs: operations in the shared [`History`], admin actions, live counters for `when`
//! conditions, and trace lines. Invariants: every value is unique in a run
//! (`<producer>-<sequence>`, padded to the payload size after a `|`), so a value read names
//! the one send that wrote it; everything else a record carries (key, headers, timestamp,
//! size) is a function of its producer's spec and its sequence ([`planned_record`]), so a
//! reader can check it came back intact; an operation is recorded when it completes, with
//! simulated times since the run started.

pub mod consumer;
pub mod producer;

use crate::history::{
    AdminKind, AdminOp, History, Invocation, Op, OpKind, Outcome, TopicPartitionKey,
};
use crate::scenario::{ProducerSpec, Timestamps};
use crate::trace::Trace;
use odradek::client::{ClientError, ErrorCode};
use std::sync::{Arc, Mutex};

/// Counts a scenario's `when` conditions can test while the run goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveCounters {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub indeterminate: u64,
    pub polled: u64,
}

impl LiveCounters {
    /// The value of a live metric by its scenario name.
    pub fn metric(&self, name: &str, time_ms: u64) -> Option<f64> {
        Some(match name {
            "sent" => self.sent as f64,
            "acked" => self.acked as f64,
            "failed" => self.failed as f64,
            "indeterminate" => self.indeterminate as f64,
            "polled" => self.polled as f64,
            "time_ms" => time_ms as f64,
            _ => return None,
        })
    }
}

/// A high watermark a client was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHw {
    pub at_ms: u64,
    pub client: String,
    pub partition: TopicPartitionKey,
    pub high_watermark: i64,
}

/// Where workloads record what they saw. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    pub history: Arc<Mutex<History>>,
    /// What steps did through the admin client, in completion order.
    pub admin: Arc<Mutex<Vec<AdminOp>>>,
    pub counters: Arc<Mutex<LiveCounters>>,
    pub trace: Arc<Mutex<Trace>>,
    /// Per process, the index its next invocation gets.
    invocations: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
    /// High watermarks clients were answered, each when it changed for its client: (time,
    /// client, partition, hw), in the order recorded (what `client-hw-monotonic` checks in a
    /// cluster run).
    pub client_hws: Arc<Mutex<Vec<ClientHw>>>,
    pub started: tokio::time::Instant,
}

impl Recorder {
    pub fn new(started: tokio::time::Instant) -> Recorder {
        Recorder {
            history: Arc::default(),
            admin: Arc::default(),
            counters: Arc::default(),
            trace: Arc::new(Mutex::new(Trace::new())),
            invocations: Arc::default(),
            client_hws: Arc::default(),
            started,
        }
    }

    /// Client `process` was answered high watermark `high_watermark` for `partition`; kept
    /// when it differs from the last one that client was answered for it.
    pub fn record_client_hw(
        &self,
        process: &str,
        partition: TopicPartitionKey,
        high_watermark: i64,
    ) {
        let at_ms = self.now_ms();
        let mut hws = self.client_hws.lock().expect("client hws lock");
        let last = hws
            .iter()
            .rev()
            .find(|h| h.partition == partition && h.client == process)
            .map(|h| h.high_watermark);
        if last != Some(high_watermark) {
            hws.push(ClientHw { at_ms, client: process.to_string(), partition, high_watermark });
        }
    }

    /// Marks the start of an operation of `process`: now, and its place in the process's order.
    pub fn invoke(&self, process: &str) -> Invocation {
        let mut invocations = self.invocations.lock().expect("invocations lock");
        let next = invocations.entry(process.to_string()).or_default();
        let index = *next;
        *next += 1;
        Invocation { ms: self.now_ms(), index }
    }

    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn trace(&self, source: &str, text: impl Into<String>) {
        let now = self.now_ms();
        self.trace.lock().expect("trace lock").record(now, source, text);
    }

    /// Records a completed operation (its completion time is now).
    pub fn record(
        &self,
        process: &str,
        group: Option<String>,
        invocation: Invocation,
        kind: OpKind,
        outcome: Outcome,
    ) {
        let complete_ms = self.now_ms();
        {
            let mut counters = self.counters.lock().expect("counters lock");
            match (&kind, &outcome) {
                (OpKind::Send { .. }, Outcome::Ok) => counters.acked += 1,
                (OpKind::Send { .. }, Outcome::Fail { .. }) => counters.failed += 1,
                (OpKind::Send { .. }, Outcome::Info { .. }) => counters.indeterminate += 1,
                (OpKind::Poll { reads }, Outcome::Ok) => counters.polled += reads.len() as u64,
                _ => {}
            }
        }
        let summary = summarize(&kind, &outcome);
        self.trace.lock().expect("trace lock").record(complete_ms, process, summary);
        let op = Op {
            process: process.to_string(),
            group,
            invoke_ms: invocation.ms,
            invoke_index: invocation.index,
            complete_ms,
            kind,
            outcome,
        };
        self.history.lock().expect("history lock").push(op);
    }

    /// Records a completed admin action (its completion time is now).
    pub fn record_admin(&self, invoke_ms: u64, kind: AdminKind, outcome: Outcome) {
        let complete_ms = self.now_ms();
        let what = match &kind {
            AdminKind::CreatePartitions { topic, count } => {
                format!("create-partitions {topic} to {count}")
            }
            AdminKind::ListOffsets { partition, earliest, latest, .. } => {
                let show = |o: &Option<i64>| o.map_or("-".to_string(), |o| o.to_string());
                format!(
                    "list-offsets {partition}: earliest {} latest {}",
                    show(earliest),
                    show(latest)
                )
            }
        };
        let outcome_text = match &outcome {
            Outcome::Ok => "ok".to_string(),
            Outcome::Fail { error } | Outcome::Info { error } => format!("failed ({error})"),
        };
        self.trace.lock().expect("trace lock").record(
            complete_ms,
            "admin",
            format!("{what} {outcome_text}"),
        );
        let op = AdminOp { invoke_ms, complete_ms, kind, outcome };
        self.admin.lock().expect("admin lock").push(op);
    }

    pub fn count_sent(&self) {
        self.counters.lock().expect("counters lock").sent += 1;
    }
}

fn summarize(kind: &OpKind, outcome: &Outcome) -> String {
    let outcome = match outcome {
        Outcome::Ok => "ok".to_string(),
        Outcome::Fail { error } => format!("fail ({error})"),
        Outcome::Info { error } => format!("info ({error})"),
    };
    match kind {
        OpKind::Send { partition, value, offset, .. } => {
            let at = match (partition, offset) {
                (Some(p), Some(o)) => format!(" at {p}@{o}"),
                (Some(p), None) => format!(" to {p}"),
                _ => String::new(),
            };
            format!("send {value}{at} {outcome}")
        }
        OpKind::Poll { reads } => match (reads.first(), reads.last()) {
            (Some(first), Some(last)) => format!(
                "poll {} records {}@{}..{}@{} {outcome}",
                reads.len(),
                first.partition,
                first.offset,
                last.partition,
                last.offset
            ),
            _ => format!("poll 0 records {outcome}"),
        },
        OpKind::Assign { partitions, .. } => {
            format!("assign {} partitions {outcome}", partitions.len())
        }
        OpKind::Commit { group, offsets } => {
            format!("commit {group} {} offsets {outcome}", offsets.len())
        }
    }
}

/// Record `n` of a producer with explicit timestamps carries this plus `n`: a fixed past
/// time (2020-09-13), so a reader can tell which timestamp each record was sent with. Topics
/// written this way should keep `retention.ms = -1` (time retention would delete them).
pub const EXPLICIT_TIMESTAMP_BASE_MS: i64 = 1_600_000_000_000;

/// Everything producer `spec` sends as its record `sequence`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRecord {
    /// The value's name, `<producer>-<sequence>`: what histories carry.
    pub name: String,
    /// The whole value: the name, `|`, then dots up to the payload size.
    pub value: String,
    /// `k<sequence mod keys>` when the producer has keys.
    pub key: Option<String>,
    /// `h<i>` = `<name>/h<i>` for each of the producer's headers.
    pub headers: Vec<(String, String)>,
    /// Set with explicit timestamps; `None` lets the client stamp it (CreateTime).
    pub timestamp_ms: Option<i64>,
}

/// The one definition of what a producer sends: the producer workload sends it, and
/// `records-intact` checks what consumers read against it.
pub fn planned_record(spec: &ProducerSpec, sequence: u64) -> PlannedRecord {
    let name = format!("{}-{sequence:06}", spec.id);
    let mut value = format!("{name}|");
    value.extend(std::iter::repeat_n('.', spec.payload_bytes.saturating_sub(value.len())));
    let key = spec.keys.map(|keys| format!("k{}", sequence % u64::from(keys.max(1))));
    let headers = (0..spec.headers).map(|i| (format!("h{i}"), format!("{name}/h{i}"))).collect();
    let timestamp_ms = match spec.timestamps {
        Timestamps::CreateTime => None,
        Timestamps::Explicit => {
            Some(EXPLICIT_TIMESTAMP_BASE_MS.saturating_add(i64::try_from(sequence).unwrap_or(0)))
        }
    };
    PlannedRecord { name, value, key, headers, timestamp_ms }
}

/// The producer id and sequence a value name stands for (`p1-000042` is `("p1", 42)`).
pub fn parse_value_name(name: &str) -> Option<(&str, u64)> {
    let (producer, sequence) = name.rsplit_once('-')?;
    if producer.is_empty() || !sequence.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((producer, sequence.parse().ok()?))
}

/// The history value carried by a record value: what comes before the padding.
pub fn value_name(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    text.split('|').next().unwrap_or_default().to_string()
}

/// Broker errors after which no attempt of a send can have been written: every attempt is
/// refused the same way by validation. Any other failure leaves the outcome unknown.
pub fn is_definite_failure(error: &ClientError) -> bool {
    matches!(
        error.code(),
        Some(
            ErrorCode::CorruptMessage
                | ErrorCode::MessageTooLarge
                | ErrorCode::InvalidRequiredAcks
                | ErrorCode::InvalidRecord
                | ErrorCode::RecordListTooLarge
        )
    ) || matches!(error, ClientError::RecordTooLarge { .. } | ClientError::InvalidArgument(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_carry_their_name_before_the_padding() {
        assert_eq!(value_name(b"p1-000042|......"), "p1-000042");
        assert_eq!(value_name(b"p1-000042"), "p1-000042");
    }

    #[test]
    fn a_value_name_determines_the_whole_record() {
        let text = r#"
            name = "x"
            duration_ms = 1000
            [[cluster.topics]]
            name = "t"
            [[producers]]
            id = "my-p"
            topic = "t"
            keys = 3
            headers = 2
            timestamps = "explicit"
            payload_bytes = 16
        "#;
        let scenario = crate::scenario::parse(text, None).unwrap();
        let record = planned_record(&scenario.producers[0], 42);
        assert_eq!(record.name, "my-p-000042");
        assert_eq!(record.value, "my-p-000042|....");
        assert_eq!(record.key.as_deref(), Some("k0"));
        assert_eq!(
            record.headers,
            vec![("h0".into(), "my-p-000042/h0".into()), ("h1".into(), "my-p-000042/h1".into())]
        );
        assert_eq!(record.timestamp_ms, Some(EXPLICIT_TIMESTAMP_BASE_MS + 42));
        assert_eq!(parse_value_name(&record.name), Some(("my-p", 42)));
        assert_eq!(parse_value_name("p1"), None);
        assert_eq!(parse_value_name("p1-x1"), None);
        assert_eq!(parse_value_name("-000001"), None);
    }
}
