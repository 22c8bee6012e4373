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
        name: "liveness",
        kind: Liveness,
        meaning: "after healing, every acknowledged record became readable before the deadline",
    },
];

/// The property with this name.
pub fn property(name: &str) -> Option<&'static Property> {
    PROPERTIES.iter().find(|p| p.name == name)
}

/// Counts a condition may compare besides properties: name and meaning.
pub const METRICS: &[(&str, &str)] = &[
    ("sent", "records the producers tried to send"),
    ("acked", "records the broker acknowledged (acks=0 sends count when written)"),
    ("failed", "sends that definitely failed"),
    ("indeterminate", "sends whose outcome is unknown"),
    ("polled", "records consumers received (with repeats)"),
    ("time_ms", "simulated milliseconds since the run started"),
];
