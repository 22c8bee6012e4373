//! Histories: what the workload's clients saw, operation by operation.
//!
//! Inputs: the workloads record an operation when it completes, with its invocation and
//! completion times (simulated milliseconds since the run started). Outputs: the history the
//! checker reads, and the report's tables. Invariants: values are unique per run (a producer
//! name and a sequence number), so a value names exactly one send; an `Ok` send of a record
//! that was acknowledged carries its offset (none for acks=0).
//!
//! Vocabulary (Jepsen's queue workload, in Kafka's words): a *key* is a topic partition, a
//! *value* is a record's value, the *version order* of a key is its log's offset order.

use odradek::TopicPartition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Outcome {
    /// It happened: the broker said so.
    Ok,
    /// It definitely did not happen (a non-retriable error before anything was written).
    Fail { error: String },
    /// It may or may not have happened (a timeout, a lost connection, a retriable error).
    Info { error: String },
}

/// One record read by a poll.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Read {
    pub partition: TopicPartitionKey,
    pub offset: i64,
    pub value: String,
    /// What the record carried besides its value's name, when the reader recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<RecordContent>,
}

/// A record as read, besides its value's name: what `records-intact` compares with what its
/// producer sent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordContent {
    /// The key as text (lossy UTF-8), if the record had one.
    pub key: Option<String>,
    /// Header keys and values (lossy UTF-8), in record order.
    pub headers: Vec<(String, Option<String>)>,
    pub timestamp_ms: i64,
    /// The value's size in bytes (0 for a null value).
    pub value_bytes: u64,
}

/// A topic partition as a history key (serializable, ordered).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicPartitionKey {
    pub topic: String,
    pub partition: i32,
}

impl From<&TopicPartition> for TopicPartitionKey {
    fn from(tp: &TopicPartition) -> Self {
        TopicPartitionKey { topic: tp.topic.clone(), partition: tp.partition.0 }
    }
}

impl std::fmt::Display for TopicPartitionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// What an operation did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum OpKind {
    /// One record sent. `partition` is where the producer sent it (known before the send for
    /// keyed or explicitly partitioned records, and from the answer otherwise); `offset` is
    /// what the broker answered, if it answered one.
    Send {
        partition: Option<TopicPartitionKey>,
        key: Option<String>,
        value: String,
        offset: Option<i64>,
    },
    /// One poll, and the records it returned in the order returned.
    Poll { reads: Vec<Read> },
    /// The consumer's assignment changed: it now reads exactly these partitions (positions of
    /// partitions it keeps are unchanged; new ones start where `positions` says).
    Assign { partitions: Vec<TopicPartitionKey>, positions: BTreeMap<TopicPartitionKey, i64> },
    /// Offsets committed for a group (a position: the next offset to read).
    Commit { group: String, offsets: BTreeMap<TopicPartitionKey, i64> },
}

/// One completed operation of one client process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The client process: a producer's or consumer's id from the scenario (`p1`, `c1`), or
    /// `final` for the liveness phase's reader.
    pub process: String,
    /// The consumer group the process consumes for, or its own id when it assigns
    /// partitions itself (consume counts are per group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub invoke_ms: u64,
    /// The operation's place in its process's order of invocations (0, 1, 2, ...): operations
    /// invoked in the same simulated millisecond keep their order.
    #[serde(default)]
    pub invoke_index: u64,
    pub complete_ms: u64,
    #[serde(flatten)]
    pub kind: OpKind,
    pub outcome: Outcome,
}

/// When an operation was invoked: its simulated time and its place in its process's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub ms: u64,
    pub index: u64,
}

/// Every operation of a run, in completion order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub ops: Vec<Op>,
}

impl History {
    pub fn push(&mut self, op: Op) {
        if let Some(last) = self.ops.last() {
            assert!(
                op.complete_ms >= last.complete_ms,
                "operations are recorded in completion order"
            );
        }
        assert!(op.invoke_ms <= op.complete_ms, "an operation completes after it starts");
        self.ops.push(op);
    }
}

/// One action a scenario step took through the admin client, and what it saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOp {
    pub invoke_ms: u64,
    pub complete_ms: u64,
    #[serde(flatten)]
    pub kind: AdminKind,
    /// `Ok`, or the error the admin client returned.
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "admin", rename_all = "kebab-case")]
pub enum AdminKind {
    /// CreatePartitions: grow `topic` to `count` partitions.
    CreatePartitions { topic: String, count: i32 },
    /// ListOffsets earliest and latest of one partition. `earliest`/`latest` are the answers
    /// (when the call succeeded); `truth_before`/`truth_after` are the leader's
    /// (log start offset, high watermark) in ground truth when the call started and ended.
    ListOffsets {
        partition: TopicPartitionKey,
        earliest: Option<i64>,
        latest: Option<i64>,
        truth_before: Option<(i64, i64)>,
        truth_after: Option<(i64, i64)>,
    },
}
