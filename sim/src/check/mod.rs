//! The history checker: Jepsen's queue checker (anomalies.md §2.4) over what clients saw.
//!
//! Inputs: a [`History`] of completed operations (sends, polls, assigns, commits). Outputs: a
//! [`HistoryCheck`]: the counts reports and scenario conditions compare, every anomaly found
//! (named by a property from [`crate::properties`], with a one-sentence explanation naming the
//! operations, offsets, values and simulated times involved), and per group how many
//! committed records it consumed never, once or more than once.
//!
//! Invariants:
//! - The result is a pure function of the history, ordered deterministically: anomalies by
//!   property in [`PROPERTIES`] order, then as each check walks the history (partitions in
//!   order, offsets ascending, processes by name). Reports built from it regenerate byte for
//!   byte.
//! - No history makes it panic. A history is data: a read of a value nobody sent is a
//!   `garbage-read`, an acked send without a partition is placed by the reads of its value
//!   (or reported `unseen` under no partition), a send offset below zero (Kafka's "no
//!   offset") is treated as unknown, and a value sent twice is credited to its strongest send
//!   (Ok, then Info, then Fail; the earliest of equals).
//! - Time and memory are O(n log n) in the number of records sent and read (the log is
//!   built by one sort per partition; every other step is a single pass with hash lookups).
//!
//! Vocabulary: a *key* is a topic partition, a *value* a record value (unique per run), the
//! *version order* of a partition its offsets that some send or poll observed, densely
//! numbered by *index* (gaps left by transaction markers or unobserved offsets are skipped).
//! A value *must have committed* when its send is `Ok`, or `Info` and some ok poll read it.

mod checks;
mod index;
#[cfg(test)]
mod tests;

use crate::history::{History, TopicPartitionKey};
use crate::properties::PROPERTIES;
use serde::Serialize;
use std::collections::BTreeMap;

pub const LOST_WRITE: &str = "lost-write";
pub const UNSEEN: &str = "unseen";
pub const DUPLICATE: &str = "duplicate";
pub const INCONSISTENT_OFFSETS: &str = "inconsistent-offsets";
pub const ABORTED_READ: &str = "aborted-read";
pub const GARBAGE_READ: &str = "garbage-read";
pub const POLL_SKIP: &str = "poll-skip";
pub const NONMONOTONIC_POLL: &str = "nonmonotonic-poll";
pub const INT_POLL_SKIP: &str = "int-poll-skip";
pub const INT_NONMONOTONIC_POLL: &str = "int-nonmonotonic-poll";
pub const NONMONOTONIC_SEND: &str = "nonmonotonic-send";
pub const INT_SEND_SKIP: &str = "int-send-skip";
pub const CONSUMED_MORE_THAN_ONCE: &str = "consumed-more-than-once";

/// Every property this checker judges, with the unit [`HistoryCheck::count`] counts it in.
pub const CHECKED: &[(&str, &str)] = &[
    (LOST_WRITE, "values: committed records below a record some ok poll read, never read"),
    (UNSEEN, "values: acked records never read by any ok poll, and not already lost-write"),
    (DUPLICATE, "values: (partition, value) pairs observed at two or more offsets"),
    (INCONSISTENT_OFFSETS, "offsets: (partition, offset) pairs observed with 2+ values"),
    (ABORTED_READ, "values: (partition, value) pairs an ok poll read whose send failed"),
    (GARBAGE_READ, "values: (partition, value) pairs an ok poll read that nobody sent there"),
    (POLL_SKIP, "occurrences: a process's poll started past the next known offset"),
    (NONMONOTONIC_POLL, "occurrences: a process's poll started at or before its last read"),
    (INT_POLL_SKIP, "occurrences: two consecutive reads of one poll with records between"),
    (INT_NONMONOTONIC_POLL, "occurrences: two consecutive reads of one poll going backwards"),
    (NONMONOTONIC_SEND, "occurrences: a producer's next send landed at or before its last"),
    (INT_SEND_SKIP, "never counted: a Send op carries one record (see NOT_APPLICABLE)"),
    (CONSUMED_MORE_THAN_ONCE, "values: (group, committed value) pairs delivered 2+ times"),
];

/// Properties that cannot occur in this history model, and why. Reports should print them
/// as "not applicable" rather than as a pass.
pub const NOT_APPLICABLE: &[(&str, &str)] = &[(
    INT_SEND_SKIP,
    "each Send operation carries one record, so no two records of one send can land with \
     others between them",
)];

/// What the checker found in one history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HistoryCheck {
    pub counts: Counts,
    pub anomalies: Vec<Anomaly>,
    /// Per consumer group (an op's `group`, else its process): how many committed values of
    /// the partitions the group was assigned or read were delivered to it never, once, more.
    pub consume_counts: BTreeMap<String, ConsumeCounts>,
}

/// Totals over the history. Record counts count Send operations (one record each).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Send operations, whatever their outcome.
    pub sent: u64,
    /// `Ok` sends (acks=0 sends included: the client counts them as done).
    pub acked: u64,
    /// `Fail` sends.
    pub failed: u64,
    /// `Info` sends.
    pub indeterminate: u64,
    /// Records returned by ok polls, with repeats.
    pub polled: u64,
    /// `lost-write` values.
    pub lost: u64,
    /// `duplicate` values.
    pub duplicated: u64,
    /// `nonmonotonic-send` occurrences.
    pub reordered: u64,
    /// `unseen` values.
    pub unseen: u64,
    /// `inconsistent-offsets` offsets.
    pub inconsistent_offsets: u64,
    /// `aborted-read` values.
    pub aborted_reads: u64,
}

/// How many committed values a group consumed never, once, more than once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConsumeCounts {
    pub never: u64,
    pub once: u64,
    pub more: u64,
}

/// One anomaly: what, where, who, and a sentence a reader can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// A property name from [`PROPERTIES`].
    pub property: &'static str,
    /// The partition, when the anomaly has one (an acked send without a partition has none).
    pub key: Option<TopicPartitionKey>,
    /// The client process whose operations show it, when one does.
    pub process: Option<String>,
    /// The values involved (lost, duplicated, skipped, ...), in offset order where known.
    pub values: Vec<String>,
    /// The offsets involved, ascending where they describe a range.
    pub offsets: Vec<i64>,
    pub explanation: String,
}

impl HistoryCheck {
    /// How many times `property` occurred, in the unit [`CHECKED`] gives for it (values for
    /// lost-write, unseen, duplicate, aborted-read, garbage-read, consumed-more-than-once;
    /// offsets for inconsistent-offsets; occurrences for the poll and send order checks).
    /// Properties this checker does not judge (runtime invariants, liveness) count 0.
    pub fn count(&self, property: &str) -> u64 {
        match property {
            LOST_WRITE => self.counts.lost,
            UNSEEN => self.counts.unseen,
            DUPLICATE => self.counts.duplicated,
            INCONSISTENT_OFFSETS => self.counts.inconsistent_offsets,
            ABORTED_READ => self.counts.aborted_reads,
            NONMONOTONIC_SEND => self.counts.reordered,
            CONSUMED_MORE_THAN_ONCE => self.consume_counts.values().map(|c| c.more).sum(),
            GARBAGE_READ
            | POLL_SKIP
            | NONMONOTONIC_POLL
            | INT_POLL_SKIP
            | INT_NONMONOTONIC_POLL => {
                self.anomalies.iter().filter(|a| a.property == property).count() as u64
            }
            _ => 0,
        }
    }

    /// The anomalies of one property, in report order.
    pub fn of(&self, property: &str) -> impl Iterator<Item = &Anomaly> {
        let property = property.to_owned();
        self.anomalies.iter().filter(move |a| a.property == property)
    }

    /// Whether the history shows no anomaly at all.
    pub fn is_clean(&self) -> bool {
        self.anomalies.is_empty()
    }
}

/// Check a history: index it, build each partition's version order, run every check.
pub fn check_history(history: &History) -> HistoryCheck {
    let ix = index::Index::build(&history.ops);
    let mut out = checks::Findings::default();
    checks::inconsistent_offsets(&ix, &mut out);
    checks::duplicates(&ix, &mut out);
    checks::bad_reads(&ix, &mut out);
    let lost = checks::lost_writes(&ix, &mut out);
    checks::unseen(&ix, &lost, &mut out);
    checks::poll_order(&ix, &mut out);
    checks::send_order(&ix, &mut out);
    let consume_counts = checks::consume_counts(&ix, &mut out);

    let mut anomalies = out.anomalies;
    // Stable: within a property, the order each check produced.
    anomalies.sort_by_key(|a| rank(a.property));
    let count = |p: &str| anomalies.iter().filter(|a| a.property == p).count() as u64;
    let value_count =
        |p: &str| anomalies.iter().filter(|a| a.property == p).map(|a| a.values.len() as u64).sum();
    let counts = Counts {
        sent: ix.sends.sent,
        acked: ix.sends.acked,
        failed: ix.sends.failed,
        indeterminate: ix.sends.indeterminate,
        polled: ix.polled,
        lost: count(LOST_WRITE),
        duplicated: count(DUPLICATE),
        reordered: count(NONMONOTONIC_SEND),
        unseen: value_count(UNSEEN),
        inconsistent_offsets: count(INCONSISTENT_OFFSETS),
        aborted_reads: count(ABORTED_READ),
    };
    HistoryCheck { counts, anomalies, consume_counts }
}

fn rank(property: &str) -> usize {
    PROPERTIES.iter().position(|p| p.name == property).unwrap_or(PROPERTIES.len())
}
