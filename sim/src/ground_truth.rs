//! Ground truth: every replica's state as the run goes, and the invariants over it.
//!
//! Inputs: replica states published by each broker's observer (`observe`), and the
//! supervisor's crashes (`crashed`). Outputs: [`Violation`]s of the runtime invariants named
//! in `properties.rs`, and the high-watermark series the timeline draws.
//! Invariants checked:
//! - `hw-le-leo`: a replica's high watermark is at most its log end offset;
//! - `hw-monotonic`: the high watermark a leader reports for a partition is never below one
//!   reported before (clients would see offsets they consumed disappear);
//! - `log-start-monotonic`: likewise for the log start offset;
//! - `synced-records-survive`: after a crash, the first state a broker reports has a log end
//!   offset at least the durable offset it reported last before the crash. (The durable
//!   offset observed last is never above the true one, so this check cannot false-alarm.)

use crate::history::TopicPartitionKey;
use odradek::broker::ReplicaState;
use serde::Serialize;
use std::collections::BTreeMap;

/// A broken invariant, with what was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub property: &'static str,
    pub time_ms: u64,
    pub broker: Option<u32>,
    pub partition: Option<TopicPartitionKey>,
    pub explanation: String,
}

/// The last state of one replica, with when it was reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplicaSnapshot {
    pub time_ms: u64,
    pub leader_epoch: i32,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    pub durable_offset: i64,
    pub is_leader: bool,
}

/// The highest value of an offset seen for a partition, and who reported it when.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Highest {
    offset: i64,
    broker: u32,
    time_ms: u64,
}

#[derive(Clone, Debug, Default)]
pub struct GroundTruth {
    replicas: BTreeMap<(u32, TopicPartitionKey), ReplicaSnapshot>,
    highest_hw: BTreeMap<TopicPartitionKey, Highest>,
    highest_log_start: BTreeMap<TopicPartitionKey, Highest>,
    /// Per crashed broker: when, and the durable offsets it reported last.
    awaiting_restart: BTreeMap<u32, (u64, Vec<(TopicPartitionKey, i64)>)>,
    violations: Vec<Violation>,
    /// Every change of a leader's high watermark: (time, broker, hw), per partition.
    hw_series: BTreeMap<TopicPartitionKey, Vec<(u64, u32, i64)>>,
}

impl GroundTruth {
    /// A broker reported the state of all its replicas.
    pub fn observe(&mut self, broker: u32, time_ms: u64, states: &[ReplicaState]) {
        let restarted = self.awaiting_restart.remove(&broker);
        for state in states {
            let key = TopicPartitionKey::from(&state.topic_partition);
            let snapshot = ReplicaSnapshot {
                time_ms,
                leader_epoch: state.leader_epoch.0,
                log_start_offset: state.log_start_offset.0,
                high_watermark: state.high_watermark.0,
                log_end_offset: state.log_end_offset.0,
                durable_offset: state.durable_offset.0,
                is_leader: state.is_leader,
            };
            if snapshot.high_watermark > snapshot.log_end_offset {
                self.violate("hw-le-leo", time_ms, broker, &key, format!("broker-{broker} reports {key} with high watermark {} above its log end offset {}", snapshot.high_watermark, snapshot.log_end_offset));
            }
            if snapshot.is_leader {
                self.check_monotonic(broker, time_ms, &key, snapshot.high_watermark, true);
                self.check_monotonic(broker, time_ms, &key, snapshot.log_start_offset, false);
                let series = self.hw_series.entry(key.clone()).or_default();
                if series
                    .last()
                    .is_none_or(|&(_, b, hw)| b != broker || hw != snapshot.high_watermark)
                {
                    series.push((time_ms, broker, snapshot.high_watermark));
                }
            }
            self.replicas.insert((broker, key), snapshot);
        }
        if let Some((crash_ms, durable)) = restarted {
            for (key, durable_offset) in durable {
                let end =
                    self.replicas.get(&(broker, key.clone())).map_or(-1, |s| s.log_end_offset);
                if end < durable_offset {
                    self.violate(
                        "synced-records-survive",
                        time_ms,
                        broker,
                        &key,
                        format!("broker-{broker} had {key} synced up to offset {durable_offset} when it crashed at t={crash_ms}ms, but recovered with its log ending at {end}"),
                    );
                }
            }
        }
    }

    fn check_monotonic(
        &mut self,
        broker: u32,
        time_ms: u64,
        key: &TopicPartitionKey,
        offset: i64,
        high_watermark: bool,
    ) {
        let (map, property, what) = if high_watermark {
            (&mut self.highest_hw, "hw-monotonic", "high watermark")
        } else {
            (&mut self.highest_log_start, "log-start-monotonic", "log start offset")
        };
        match map.get(key) {
            Some(highest) if offset < highest.offset => {
                let explanation = format!(
                    "leader broker-{broker} reports {key} with {what} {offset}, below {} reported by broker-{} at t={}ms",
                    highest.offset, highest.broker, highest.time_ms
                );
                self.violate(property, time_ms, broker, key, explanation);
            }
            Some(highest) if offset == highest.offset => {}
            _ => {
                map.insert(key.clone(), Highest { offset, broker, time_ms });
            }
        }
    }

    fn violate(
        &mut self,
        property: &'static str,
        time_ms: u64,
        broker: u32,
        key: &TopicPartitionKey,
        explanation: String,
    ) {
        self.violations.push(Violation {
            property,
            time_ms,
            broker: Some(broker),
            partition: Some(key.clone()),
            explanation,
        });
    }

    /// A broker crashed at `time_ms`: remember what it had synced, forget its live state.
    pub fn crashed(&mut self, broker: u32, time_ms: u64) {
        let durable: Vec<(TopicPartitionKey, i64)> = self
            .replicas
            .iter()
            .filter(|((b, _), _)| *b == broker)
            .map(|((_, key), snapshot)| (key.clone(), snapshot.durable_offset))
            .collect();
        self.replicas.retain(|(b, _), _| *b != broker);
        // A second crash before a restart keeps the first crash's expectations.
        self.awaiting_restart.entry(broker).or_insert((time_ms, durable));
    }

    /// Adds a violation found outside the observer (e.g. by the final read).
    pub fn record(&mut self, violation: Violation) {
        self.violations.push(violation);
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// The latest state of every live replica.
    pub fn replicas(&self) -> &BTreeMap<(u32, TopicPartitionKey), ReplicaSnapshot> {
        &self.replicas
    }

    /// The leader of a partition according to the latest states, if one is live.
    pub fn leader(&self, key: &TopicPartitionKey) -> Option<u32> {
        self.replicas
            .iter()
            .filter(|((_, k), s)| k == key && s.is_leader)
            .max_by_key(|(_, s)| s.leader_epoch)
            .map(|((b, _), _)| *b)
    }

    pub fn hw_series(&self) -> &BTreeMap<TopicPartitionKey, Vec<(u64, u32, i64)>> {
        &self.hw_series
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odradek::{LeaderEpoch, Offset, TopicPartition};

    fn state(start: i64, hw: i64, end: i64, durable: i64) -> ReplicaState {
        ReplicaState {
            topic_partition: TopicPartition::new("t", 0),
            leader_epoch: LeaderEpoch(0),
            log_start_offset: Offset(start),
            high_watermark: Offset(hw),
            log_end_offset: Offset(end),
            durable_offset: Offset(durable),
            is_leader: true,
        }
    }

    #[test]
    fn a_steady_replica_breaks_nothing() {
        let mut truth = GroundTruth::default();
        truth.observe(1, 0, &[state(0, 0, 0, 0)]);
        truth.observe(1, 5, &[state(0, 10, 10, 5)]);
        truth.observe(1, 9, &[state(4, 12, 12, 12)]);
        assert!(truth.violations().is_empty(), "{:?}", truth.violations());
        assert_eq!(
            truth.hw_series()[&TopicPartitionKey { topic: "t".into(), partition: 0 }].len(),
            3
        );
    }

    #[test]
    fn losing_synced_records_or_going_backwards_is_a_violation_with_an_explanation() {
        let mut truth = GroundTruth::default();
        truth.observe(1, 5, &[state(0, 10, 10, 8)]);
        truth.crashed(1, 6);
        // The restarted broker lost more than its unsynced tail.
        truth.observe(1, 9, &[state(0, 7, 7, 7)]);
        let names: Vec<&str> = truth.violations().iter().map(|v| v.property).collect();
        assert_eq!(names, vec!["hw-monotonic", "synced-records-survive"]);
        assert_eq!(truth.violations()[1].explanation, "broker-1 had t-0 synced up to offset 8 when it crashed at t=6ms, but recovered with its log ending at 7");
        truth.observe(1, 10, &[state(0, 11, 10, 7)]);
        assert_eq!(truth.violations().last().unwrap().property, "hw-le-leo");
    }

    #[test]
    fn losing_only_unsynced_records_is_allowed_by_synced_records_survive() {
        let mut truth = GroundTruth::default();
        truth.observe(1, 5, &[state(0, 10, 10, 8)]);
        truth.crashed(1, 6);
        truth.observe(1, 9, &[state(0, 8, 8, 8)]);
        let names: Vec<&str> = truth.violations().iter().map(|v| v.property).collect();
        assert_eq!(
            names,
            vec!["hw-monotonic"],
            "the high watermark went back, synced data did not"
        );
    }
}
