//! Workloads: producers and consumers on the core client, recording a history.
//!
//! Inputs: the scenario's producer and consumer specs, the bootstrap servers, a stop signal.
//! Outputs: operations in the shared [`History`], live counters for `when` conditions, and
//! trace lines. Invariants: every value is unique in a run (`<producer>-<sequence>`, padded
//! to the payload size after a `|`), so a value read names the one send that wrote it; an
//! operation is recorded when it completes, with simulated times since the run started.

pub mod consumer;
pub mod producer;

use crate::history::{History, Op, OpKind, Outcome};
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

/// Where workloads record what they saw. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    pub history: Arc<Mutex<History>>,
    pub counters: Arc<Mutex<LiveCounters>>,
    pub trace: Arc<Mutex<Trace>>,
    pub started: tokio::time::Instant,
}

impl Recorder {
    pub fn new(started: tokio::time::Instant) -> Recorder {
        Recorder {
            history: Arc::default(),
            counters: Arc::default(),
            trace: Arc::new(Mutex::new(Trace::new())),
            started,
        }
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
        invoke_ms: u64,
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
        let op = Op { process: process.to_string(), group, invoke_ms, complete_ms, kind, outcome };
        self.history.lock().expect("history lock").push(op);
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
}
