//! The named properties a run is judged by: history anomalies (Jepsen's queue checker
//! names) and runtime invariants over ground truth. Scenario `expect` sections and claim
//! conditions refer to them by these names.

/// A property: its name in scenario files and reports, and what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Property {
    pub name: &'static str,
    pub kind: PropertyKind,
    pub meaning: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyKind {
    /// Found by the history checker in what clients saw.
    Anomaly,
    /// Checked against every replica's state as the run goes.
    Invariant,
    /// Checked in the liveness phase, after faults are healed.
    Liveness,
}

use PropertyKind::*;

/// Every property, in report order.
pub const PROPERTIES: &[Property] = &[
    Property {
        name: "lost-write",
        kind: Anomaly,
        meaning: "an acknowledged record below one a consumer read was never read",
    },
    Property {
        name: "unseen",
        kind: Anomaly,
        meaning: "an acknowledged record no consumer ever read",
    },
    Property { name: "duplicate", kind: Anomaly, meaning: "one value at two or more offsets" },
    Property {
        name: "inconsistent-offsets",
        kind: Anomaly,
        meaning: "one offset seen with two or more values",
    },
    Property {
        name: "aborted-read",
        kind: Anomaly,
        meaning: "a consumer read a record whose send definitely failed",
    },
    Property {
        name: "garbage-read",
        kind: Anomaly,
        meaning: "a consumer read a record no producer sent to that partition",
    },
    Property {
        name: "poll-skip",
        kind: Anomaly,
        meaning: "a consumer's next poll skipped over records known to exist",
    },
    Property {
        name: "nonmonotonic-poll",
        kind: Anomaly,
        meaning: "a consumer's next poll started at or before where the last one ended",
    },
    Property {
        name: "int-poll-skip",
        kind: Anomaly,
        meaning: "inside one poll, records known to exist were skipped",
    },
    Property {
        name: "int-nonmonotonic-poll",
        kind: Anomaly,
        meaning: "inside one poll, offsets went backwards",
    },
    Property {
        name: "nonmonotonic-send",
        kind: Anomaly,
        meaning: "a producer's later record landed before its earlier one (reordering)",
    },
    Property {
        name: "int-send-skip",
        kind: Anomaly,
        meaning: "two records of one send landed with others between them",
    },
    Property {
        name: "consumed-more-than-once",
        kind: Anomaly,
        meaning: "a group processed a record more than once",
    },
    Property {
        name: "missing-at-end",
        kind: Invariant,
        meaning: "an acknowledged record is not in its partition when the log is read in full after healing",
    },
    Property {
        name: "hw-le-leo",
        kind: Invariant,
        meaning: "every replica's high watermark is at most its log end offset",
    },
    Property {
        name: "hw-monotonic",
        kind: Invariant,
        meaning: "a partition's high watermark never goes backwards",
    },
    Property {
        name: "log-start-monotonic",
        kind: Invariant,
        meaning: "a partition's log start offset never goes backwards",
    },
    Property {
        name: "synced-records-survive",
        kind: Invariant,
        meaning: "records below the durable offset before a crash are there after it",
    },
    Property {
        name: "offsets-dense",
        kind: Invariant,
        meaning: "every log's offsets are consecutive, with no gap or repeat",
    },
    Property {
        name: "records-intact",
        kind: Invariant,
        meaning: "every record read carries the key, headers, timestamp and value size its producer sent",
    },
    Property {
        name: "key-partition",
        kind: Invariant,
        meaning: "a keyed record sent without a partition lands on murmur2(key) mod the topic's partition count",
    },
    Property {
        name: "segment-names",
        kind: Invariant,
        meaning: "every segment file is named by the 20-digit offset of its first record",
    },
    Property {
        name: "list-offsets-match",
        kind: Invariant,
        meaning: "ListOffsets answers the leader's log start offset (earliest) and high watermark (latest)",
    },
    // The replication invariants ([`crate::invariants`]): judged in cluster runs only.
    Property {
        name: "log-matching",
        kind: Invariant,
        meaning: "two replicas of a partition hold the same batches below both their high watermarks",
    },
    Property {
        name: "leader-completeness",
        kind: Invariant,
        meaning: "a running leader holds every record acknowledged with acks=all while the ISR met min.insync.replicas",
    },
    Property {
        name: "no-committed-record-lost",
        kind: Invariant,
        meaning: "every record acknowledged with acks=all while the ISR met min.insync.replicas is on some replica",
    },
    Property {
        name: "leader-candidates-complete",
        kind: Invariant,
        meaning: "every running unfenced ISR or ELR member's log reaches the highest committed high watermark",
    },
    Property {
        name: "client-hw-monotonic",
        kind: Invariant,
        meaning: "the high watermark a client is answered for a partition never goes backwards",
    },
    Property {
        name: "unclean-election-loss",
        kind: Invariant,
        meaning: "with unclean leader election enabled, committed records were lost, replicas diverged or a client's high watermark went back (the trade Kafka makes there)",
    },
    Property {
        name: "leader-in-isr",
        kind: Invariant,
        meaning: "the controller's leader of a partition is in its ISR, or there is none",
    },
    Property {
        name: "isr-in-replicas",
        kind: Invariant,
        meaning: "every ISR and ELR member of a partition is one of its replicas",
    },
    Property {
        name: "isr-elr-disjoint",
        kind: Invariant,
        meaning: "no broker is in both the ISR and the ELR of a partition",
    },
    Property {
        name: "no-fenced-in-isr",
        kind: Invariant,
        meaning: "no fenced broker is in an ISR, except as the last member of a leaderless partition",
    },
    Property {
        name: "epochs-monotonic",
        kind: Invariant,
        meaning: "a partition's leader and partition epochs never go backwards, and no replica is ahead of the controller",
    },
    Property {
        name: "stale-leader-fenced",
        kind: Invariant,
        meaning: "only the controller's leader claims the current leader epoch, and a stale leader's high watermark stays within the new leader's log",
    },
    Property {
        name: "raft-election-safety",
        kind: Invariant,
        meaning: "no two KRaft nodes lead, or are believed to lead, the same epoch",
    },
    Property {
        name: "liveness",
        kind: Liveness,
        meaning: "after healing, every acknowledged record became readable before the deadline",
    },
];

/// Where the replication invariants start in [`PROPERTIES`], and how many there are.
const REPLICATION_START: usize = 23;
const REPLICATION_COUNT: usize = 13;

/// The runtime invariants of a replicated cluster ([`crate::invariants`], anomalies.md §4.4),
/// in report order: the part of [`PROPERTIES`] from `log-matching` to
/// `raft-election-safety`. A cluster run checks them on every observation of the cluster
/// (`crate::watch`); a run of one standalone broker cannot, and reports them n/a.
pub const REPLICATION_PROPERTIES: &[Property] =
    PROPERTIES.split_at(REPLICATION_START).1.split_at(REPLICATION_COUNT).0;

/// The property with this name.
pub fn property(name: &str) -> Option<&'static Property> {
    PROPERTIES.iter().find(|p| p.name == name)
}

/// Live counts a condition may compare besides properties (in steps and claims): name and
/// meaning.
pub const METRICS: &[(&str, &str)] = &[
    ("sent", "records the producers tried to send"),
    ("acked", "records the broker acknowledged (acks=0 sends count when written)"),
    ("failed", "sends that definitely failed"),
    ("indeterminate", "sends whose outcome is unknown"),
    ("polled", "records consumers received (with repeats)"),
    ("time_ms", "simulated milliseconds since the run started"),
];

/// Values measured at the end of a run, for claim conditions only (`crate::measure`). A
/// value that could not be measured (no failed send, no answered ListOffsets, no live
/// leader) is absent, and a condition naming it is false.
pub const END_METRICS: &[(&str, &str)] = &[
    ("records_checked", "records read whose key, headers, timestamp and size were checked"),
    (
        "acked_without_metadata",
        "acknowledged sends not answered with the topic sent to, a partition and an offset",
    ),
    ("acked_with_offset", "acknowledged sends answered with an offset (none with acks=0)"),
    ("keyless_partitions", "the most partitions of one topic that keyless acked records reached"),
    (
        "keys_on_several_partitions",
        "(topic, key) pairs whose acknowledged records landed on more than one partition",
    ),
    (
        "consume_order_inversions",
        "records a consumer read after a later-sent record of the same producer",
    ),
    ("reread_records", "records a consumer read again at an offset it had read, same value"),
    ("failed_send_min_ms", "the shortest time a failed send took from call to error"),
    ("failed_send_max_ms", "the longest time a failed send took from call to error"),
    ("log_start_offset", "the smallest log start offset of any partition leader at the end"),
    ("partitions", "partitions the live brokers hold at the end"),
    ("segments", "segment files (.log) on the brokers' disks at the end"),
    ("create_partitions_ok", "create-partitions steps the cluster accepted"),
    ("create_partitions_refused", "create-partitions steps the cluster refused"),
    ("list_offsets_answered", "list-offsets steps that got an answer"),
    ("listed_earliest", "the earliest offset the last answered list-offsets step got"),
    ("listed_latest", "the latest offset the last answered list-offsets step got"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replication_invariants_are_a_run_of_properties() {
        let names: Vec<&str> = REPLICATION_PROPERTIES.iter().map(|p| p.name).collect();
        assert_eq!(names.first(), Some(&"log-matching"));
        assert_eq!(names.last(), Some(&"raft-election-safety"));
        assert!(REPLICATION_PROPERTIES.iter().all(|p| p.kind == PropertyKind::Invariant));
        let before = &PROPERTIES[REPLICATION_START - 1];
        let after = &PROPERTIES[REPLICATION_START + REPLICATION_COUNT];
        assert_eq!((before.name, after.name), ("list-offsets-match", "liveness"));
        let mut all: Vec<&str> = PROPERTIES.iter().map(|p| p.name).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), PROPERTIES.len(), "property names are unique");
    }
}
