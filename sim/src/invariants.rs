//! Replication invariants: a pure checker over omniscient snapshots of a simulated cluster
//! (anomalies.md §4.4, I1–I3, I7, I9, plus the controller's ISR/ELR rules and KRaft election
//! safety).
//!
//! Inputs: at each observation point the simulation builds a [`ClusterObservation`] (the
//! controller's committed metadata image, every replica's log as batches, every Raft node's
//! view of `__cluster_metadata-0`) and calls [`ReplicationInvariants::observe`]. Between
//! observations it reports acknowledged sends ([`ReplicationInvariants::record_ack`]) and the
//! high watermarks clients were answered ([`ReplicationInvariants::record_client_hw`]).
//! Outputs: [`Violation`]s, each named by a property of [`REPLICATION_PROPERTIES`] (part of
//! `PROPERTIES`: a cluster run is judged by them, `crate::watch` feeds them) with a
//! one-sentence explanation naming brokers, the partition, offsets and epochs.
//!
//! Ghost state kept across observations (bookkeeping no broker has): per partition the
//! committed acknowledged records (acks=all, ISR ≥ `min.insync.replicas` when acked) and their
//! offsets, the *true high watermark* (the highest high watermark a current leader reported
//! while the controller's ISR had at least `min.insync.replicas` members, or one past the
//! highest committed acknowledged offset), the highest leader epoch and partition epoch the
//! controller published, the highest high watermark a client was answered; and the leader of
//! every KRaft epoch ever seen.
//!
//! Invariants checked (property names in parentheses):
//! - I2 (`log-matching`): two replicas of a partition hold identical batches (base offset,
//!   last offset, leader epoch, CRC) wherever both hold one below the lower of their high
//!   watermarks, or below the highest batch both hold with the same base offset and leader
//!   epoch.
//! - I1 (`leader-completeness`): every committed acknowledged record is on the controller's
//!   leader when that replica is running and its broker is not awaiting re-registration after
//!   an unclean shutdown; (`no-committed-record-lost`): it is on at least one replica, running
//!   or not.
//! - I3 (`leader-candidates-complete`): every running, unfenced ISR or ELR member whose broker
//!   is not awaiting re-registration after an unclean shutdown has a log end offset of at
//!   least the true high watermark (Vanlightly's LeaderCandidateCompleteness: an unclean
//!   replica is excused until the controller has seen it restart; if it is then still an
//!   unfenced candidate, as without broker-epoch fencing, R10 and R12, the check fires).
//! - I7 (`client-hw-monotonic`): the high watermark a client is answered never goes back.
//! - `leader-in-isr`, `isr-in-replicas` (ISR and ELR ⊆ replicas), `isr-elr-disjoint`,
//!   `no-fenced-in-isr`: the controller's partition records are well formed.
//! - `epochs-monotonic`: a partition's leader epoch and partition epoch never decrease, and
//!   no replica's leader epoch is above the controller's.
//! - I9 (`stale-leader-fenced`): only the controller's leader claims leadership at the current
//!   leader epoch, and a leader at an older epoch has no high watermark above the running
//!   current leader's log end offset (its high watermark counted the new leader's fetches).
//! - `raft-election-safety`: no two nodes are, or are believed to be, Raft leader of one
//!   epoch, ever.
//!
//! Expected anomalies: on a partition whose controller record has unclean leader election
//! enabled, the data checks (I1, I2, I3, I7) report under `unclean-election-loss` instead:
//! Kafka trades these guarantees for availability there, and a scenario names it to expect it.
//!
//! Rules of reporting:
//! - A violated *state* (a record missing, two logs disagreeing, a malformed ISR) is reported
//!   once when it first appears and again only after it cleared; a violated *event* (an epoch
//!   or a high watermark going back) once per distinct value. The first sighting is what a
//!   reader needs, and counts stay comparable across observation frequencies.
//! - Output order is deterministic: by property in [`REPLICATION_PROPERTIES`] order, then by
//!   partition, broker or epoch ascending (every map here is a `BTreeMap`).
//! - Nothing panics: an observation is data. Duplicated, unsorted or malformed entries are
//!   tolerated (the last duplicate wins, batches are sorted before use, negative offsets are
//!   ignored), and a partition missing from the controller's view is not judged against it.
//!
//! Limits: records are identified by the CRC of the batch that holds them ([`RecordId`]);
//! compacted topics rewrite batches per replica and are out of scope. A replica that is down
//! should be described by what its disk holds. Unclean-shutdown exclusion (I6), the
//! replication-quorum superset (I4) and ISR admission (I5) need the leader's maximal ISR and
//! AlterPartition history, which a snapshot does not carry.

use crate::history::TopicPartitionKey;
use crate::properties::REPLICATION_PROPERTIES;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

#[cfg(test)]
mod tests;

pub const LOG_MATCHING: &str = "log-matching";
pub const LEADER_COMPLETENESS: &str = "leader-completeness";
pub const NO_COMMITTED_RECORD_LOST: &str = "no-committed-record-lost";
pub const LEADER_CANDIDATES_COMPLETE: &str = "leader-candidates-complete";
pub const CLIENT_HW_MONOTONIC: &str = "client-hw-monotonic";
pub const UNCLEAN_ELECTION_LOSS: &str = "unclean-election-loss";
pub const LEADER_IN_ISR: &str = "leader-in-isr";
pub const ISR_IN_REPLICAS: &str = "isr-in-replicas";
pub const ISR_ELR_DISJOINT: &str = "isr-elr-disjoint";
pub const NO_FENCED_IN_ISR: &str = "no-fenced-in-isr";
pub const EPOCHS_MONOTONIC: &str = "epochs-monotonic";
pub const STALE_LEADER_FENCED: &str = "stale-leader-fenced";
pub const RAFT_ELECTION_SAFETY: &str = "raft-election-safety";

/// Kafka's `acks=all` as sent on the wire.
pub const ACKS_ALL: i16 = -1;
/// The controller's "no leader" (an offline partition).
pub const NO_LEADER: i32 = -1;

/// How many offsets or brokers an explanation lists before "and N more".
const LIST_MAX: usize = 3;

// ---- The snapshot ----

/// Everything the simulation can see at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClusterObservation {
    /// Simulated time of the observation.
    pub now_ms: i64,
    pub controller: ControllerView,
    /// One entry per (broker, partition) the broker holds a log for.
    pub replicas: Vec<ReplicaView>,
    /// One entry per KRaft node (voter or observer).
    pub raft: Vec<RaftView>,
}

/// The controller's metadata image, replayed up to the highest committed offset of
/// `__cluster_metadata-0`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ControllerView {
    /// Every registered broker by id.
    pub brokers: BTreeMap<i32, BrokerView>,
    /// Every partition by (topic, partition index).
    pub partitions: BTreeMap<(String, i32), PartitionView>,
}

/// A broker's registration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BrokerView {
    pub broker_epoch: i64,
    pub fenced: bool,
    /// Its last shutdown was unclean (it may have lost its page cache) and the controller has
    /// not yet processed its re-registration: until then its replicas are excused from
    /// leader-completeness and leader-candidates-complete (the controller cannot have acted
    /// on the restart yet); the simulation clears it once the registration is replayed.
    pub unclean_restart_pending: bool,
}

/// A partition record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PartitionView {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Eligible leader replicas (KIP-966).
    pub elr: Vec<i32>,
    /// The leader's broker id, or [`NO_LEADER`].
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub min_insync_replicas: i32,
    pub unclean_election_enabled: bool,
}

/// One replica's state and log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReplicaView {
    pub broker_id: i32,
    /// The broker process is running (a replica that is down describes its disk).
    pub alive: bool,
    pub topic: String,
    pub partition: i32,
    pub is_leader: bool,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// The log from the log start offset to the log end offset, batch by batch.
    pub batches: Vec<BatchView>,
}

/// One record batch of a replica's log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct BatchView {
    pub base_offset: i64,
    pub last_offset: i64,
    pub leader_epoch: i32,
    pub crc: u32,
}

/// One KRaft node's view of the metadata quorum.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RaftView {
    pub node_id: i32,
    pub epoch: i32,
    /// The leader this node knows of in `epoch`, if any.
    pub leader: Option<i32>,
    pub is_leader: bool,
    pub high_watermark: Option<i64>,
}

// ---- Inputs between observations ----

/// What identifies an acknowledged record in a replica's log.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum RecordId {
    /// The CRC of the batch holding the record (the leader's batch when it acknowledged). A
    /// replica holds the record when a batch with this CRC covers its offset.
    BatchCrc(u32),
    /// The record's value id. Snapshots carry no values, so a replica holds the record when
    /// any batch covers its offset: a reused offset goes unnoticed (prefer `BatchCrc`).
    Value(String),
}

/// An acknowledged send, as the producer's client saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ack {
    pub at_ms: i64,
    pub topic: String,
    pub partition: i32,
    /// The record's offset (a batch acknowledges one record per offset).
    pub offset: i64,
    pub record: RecordId,
    /// `acks` as sent: [`ACKS_ALL`] (-1), 0 or 1.
    pub acks: i16,
    /// The leader's ISR had at least `min.insync.replicas` members when it acknowledged.
    pub isr_at_least_min: bool,
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// A property name from [`REPLICATION_PROPERTIES`].
    pub property: &'static str,
    /// Simulated time of the observation (or client answer) that showed it.
    pub at_ms: i64,
    /// The partition, when the property concerns one.
    pub partition: Option<TopicPartitionKey>,
    /// The broker (or KRaft node) at fault, when one is.
    pub broker: Option<i32>,
    pub explanation: String,
}

impl Violation {
    /// The same finding in the shape the single-broker ground truth records.
    pub fn to_ground_truth(&self) -> crate::ground_truth::Violation {
        crate::ground_truth::Violation {
            property: self.property,
            time_ms: u64::try_from(self.at_ms).unwrap_or(0),
            broker: self.broker.and_then(|b| u32::try_from(b).ok()),
            partition: self.partition.clone(),
            explanation: self.explanation.clone(),
        }
    }
}

// ---- Ghost state ----

/// A committed acknowledged record.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Acked {
    record: RecordId,
    at_ms: i64,
}

/// The highest value of something, and where it came from (for explanations).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Highest<T> {
    value: T,
    source: String,
}

#[derive(Clone, Debug, Default)]
struct PartitionGhost {
    /// Committed acknowledged records by offset (two only if an offset was reused).
    acked: BTreeMap<i64, Vec<Acked>>,
    true_hwm: Option<Highest<i64>>,
    leader_epoch: Option<Highest<i32>>,
    partition_epoch: Option<Highest<i32>>,
    /// The highest high watermark each client was answered.
    client_hw: BTreeMap<String, Highest<i64>>,
    /// As of the last observation that showed the partition.
    unclean_election_enabled: bool,
}

/// The checker: ghost state across observations. See the module doc.
#[derive(Clone, Debug, Default)]
pub struct ReplicationInvariants {
    partitions: BTreeMap<(String, i32), PartitionGhost>,
    /// KRaft epoch → (leader, who first said so, when).
    raft_leaders: BTreeMap<i32, (i32, i32, i64)>,
    /// Keys of the violated states at the last observation (reported already).
    active: BTreeSet<(&'static str, String)>,
}

/// A violation with the key that says whether it is the same state as one reported before.
struct Finding {
    key: String,
    violation: Violation,
}

#[derive(Default)]
struct Findings {
    at_ms: i64,
    found: Vec<Finding>,
}

impl Findings {
    fn push(
        &mut self,
        property: &'static str,
        key: String,
        partition: Option<&(String, i32)>,
        broker: Option<i32>,
        explanation: String,
    ) {
        let partition =
            partition.map(|(topic, p)| TopicPartitionKey { topic: topic.clone(), partition: *p });
        self.found.push(Finding {
            key,
            violation: Violation { property, at_ms: self.at_ms, partition, broker, explanation },
        });
    }
}

/// A replica's batches, sorted by base offset (copied only if the view's are not).
struct Log<'a> {
    view: &'a ReplicaView,
    batches: Cow<'a, [BatchView]>,
}

impl<'a> Log<'a> {
    fn new(view: &'a ReplicaView) -> Self {
        let batches = if view.batches.is_sorted() {
            Cow::Borrowed(&view.batches[..])
        } else {
            let mut batches = view.batches.clone();
            batches.sort();
            Cow::Owned(batches)
        };
        Log { view, batches }
    }

    /// Whether this log holds `record` at `offset`: a batch covers the offset (with the
    /// record's CRC, when known), or retention already deleted it (below the log start).
    fn holds(&self, offset: i64, record: &RecordId) -> bool {
        if offset < self.view.log_start_offset {
            return true;
        }
        // The batches starting at or before the offset whose base offset is the highest
        // (several only in a malformed log); one of them must cover it.
        let i = self.batches.partition_point(|b| b.base_offset <= offset);
        let Some(last) = i.checked_sub(1).and_then(|i| self.batches.get(i)) else {
            return false;
        };
        let mut covering = self.batches[..i]
            .iter()
            .rev()
            .take_while(|b| b.base_offset == last.base_offset)
            .filter(|b| b.last_offset >= offset);
        match record {
            RecordId::BatchCrc(crc) => covering.any(|b| b.crc == *crc),
            RecordId::Value(_) => covering.next().is_some(),
        }
    }
}

impl ReplicationInvariants {
    pub fn new() -> Self {
        Self::default()
    }

    /// A send was acknowledged. Only committed records are kept: `acks=all` acknowledged while
    /// the ISR had at least `min.insync.replicas` members (acks=0 and acks=1 promise nothing
    /// after a failover, anomalies.md R1–R2). A negative offset (none answered) is ignored.
    pub fn record_ack(&mut self, ack: Ack) {
        if ack.acks != ACKS_ALL || !ack.isr_at_least_min || ack.offset < 0 {
            return;
        }
        let ghost = self.partitions.entry((ack.topic.clone(), ack.partition)).or_default();
        let committed = ack.offset.saturating_add(1);
        if ghost.true_hwm.as_ref().is_none_or(|h| h.value < committed) {
            ghost.true_hwm = Some(Highest {
                value: committed,
                source: format!(
                    "the acknowledgement of offset {} at t={}ms",
                    ack.offset, ack.at_ms
                ),
            });
        }
        let at_offset = ghost.acked.entry(ack.offset).or_default();
        if !at_offset.iter().any(|a| a.record == ack.record) {
            at_offset.push(Acked { record: ack.record, at_ms: ack.at_ms });
        }
    }

    /// Client `client` (a consumer's fetches, or ListOffsets) was answered high watermark
    /// `high_watermark` for the partition, in the order it was answered. I7: it must not be
    /// below one this client was answered before. Each client is held to its own answers:
    /// answers to different clients come over different connections, so the order they are
    /// recorded in is not the order the leader gave them (a consumer that polls from its
    /// buffer reports a high watermark older than another consumer's fresh one).
    pub fn record_client_hw(
        &mut self,
        at_ms: i64,
        client: &str,
        topic: &str,
        partition: i32,
        high_watermark: i64,
    ) -> Option<Violation> {
        let key = (topic.to_owned(), partition);
        let ghost = self.partitions.entry(key.clone()).or_default();
        let property = if ghost.unclean_election_enabled {
            UNCLEAN_ELECTION_LOSS
        } else {
            CLIENT_HW_MONOTONIC
        };
        match ghost.client_hw.get(client) {
            Some(highest) if high_watermark < highest.value => {
                let explanation = format!(
                    "client {client} was answered high watermark {high_watermark} for {}, below \
                     {} it was answered {}",
                    tp_name(&key),
                    highest.value,
                    highest.source
                );
                let partition = Some(TopicPartitionKey { topic: key.0, partition });
                Some(Violation { property, at_ms, partition, broker: None, explanation })
            }
            Some(highest) if high_watermark == highest.value => None,
            _ => {
                let highest = Highest { value: high_watermark, source: format!("at t={at_ms}ms") };
                ghost.client_hw.insert(client.to_owned(), highest);
                None
            }
        }
    }

    /// The partition was deleted: forget its ghost state, so a topic created again with the
    /// same name starts from epoch 0 without an alarm.
    pub fn forget_partition(&mut self, topic: &str, partition: i32) {
        self.partitions.remove(&(topic.to_owned(), partition));
    }

    /// The true high watermark of a partition so far (see the module doc).
    pub fn true_high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.partitions.get(&(topic.to_owned(), partition))?.true_hwm.as_ref().map(|h| h.value)
    }

    /// How many committed acknowledged records the checker holds the cluster to.
    pub fn committed_records(&self) -> usize {
        self.partitions.values().flat_map(|g| g.acked.values()).map(Vec::len).sum()
    }

    /// Check one observation against every invariant and update the ghost state. Returns the
    /// violations that appeared since the last observation, in report order.
    pub fn observe(&mut self, observation: &ClusterObservation) -> Vec<Violation> {
        let mut out = Findings { at_ms: observation.now_ms, found: Vec::new() };
        let controller = &observation.controller;

        // Replicas by partition, then broker (the last duplicate wins).
        let mut replicas: BTreeMap<(String, i32), BTreeMap<i32, Log<'_>>> = BTreeMap::new();
        for view in &observation.replicas {
            replicas
                .entry((view.topic.clone(), view.partition))
                .or_default()
                .insert(view.broker_id, Log::new(view));
        }
        let empty = BTreeMap::new();

        self.raft_election_safety(observation, &mut out);
        for (key, partition) in &controller.partitions {
            let logs = replicas.get(key).unwrap_or(&empty);
            let ghost = self.partitions.entry(key.clone()).or_default();
            ghost.unclean_election_enabled = partition.unclean_election_enabled;
            controller_record(key, partition, controller, &mut out);
            epochs_monotonic(key, partition, logs, ghost, &mut out);
            update_true_hwm(observation.now_ms, partition, logs, ghost);
            stale_leader_fenced(key, partition, controller, logs, &mut out);
            leader_candidates_complete(key, partition, controller, logs, ghost, &mut out);
        }
        for (key, logs) in &replicas {
            let unclean =
                controller.partitions.get(key).is_some_and(|p| p.unclean_election_enabled);
            log_matching(key, logs, unclean, &mut out);
        }
        for (key, partition) in &controller.partitions {
            if let Some(ghost) = self.partitions.get(key) {
                let logs = replicas.get(key).unwrap_or(&empty);
                committed_records(key, partition, controller, logs, ghost, &mut out);
            }
        }

        // Report what is new; remember every violated state.
        let mut active = BTreeSet::new();
        let mut violations = Vec::new();
        for finding in out.found {
            let key = (finding.violation.property, finding.key);
            if !self.active.contains(&key) && !active.contains(&key) {
                violations.push(finding.violation);
            }
            active.insert(key);
        }
        self.active = active;
        // Stable: within a property, the order the checks produced.
        violations.sort_by_key(|v| rank(v.property));
        violations
    }

    /// No two nodes lead, or are believed to lead, one KRaft epoch, ever.
    fn raft_election_safety(&mut self, observation: &ClusterObservation, out: &mut Findings) {
        let mut nodes: Vec<&RaftView> = observation.raft.iter().collect();
        nodes.sort_by_key(|n| (n.node_id, n.epoch));
        for node in nodes {
            let claims = node.is_leader.then_some(node.node_id).into_iter().chain(node.leader);
            for leader in claims {
                match self.raft_leaders.get(&node.epoch) {
                    None => {
                        self.raft_leaders
                            .insert(node.epoch, (leader, node.node_id, observation.now_ms));
                    }
                    Some(&(first, said_by, since)) if first != leader => {
                        let (a, b) = (first.min(leader), first.max(leader));
                        let claim = if leader == node.node_id && node.is_leader {
                            format!("KRaft node {leader} leads epoch {}", node.epoch)
                        } else {
                            format!(
                                "KRaft node {} names node {leader} leader of epoch {}",
                                node.node_id, node.epoch
                            )
                        };
                        out.push(
                            RAFT_ELECTION_SAFETY,
                            format!("{}|{a}|{b}", node.epoch),
                            None,
                            Some(node.node_id),
                            format!(
                                "{claim}, but node {said_by} saw node {first} lead it at \
                                 t={since}ms"
                            ),
                        );
                    }
                    Some(_) => {}
                }
            }
        }
    }
}

// ---- The checks ----

/// `isr-in-replicas`, `isr-elr-disjoint`, `leader-in-isr`, `no-fenced-in-isr`.
fn controller_record(
    key: &(String, i32),
    p: &PartitionView,
    controller: &ControllerView,
    out: &mut Findings,
) {
    let tp = tp_name(key);
    let strays: BTreeSet<i32> =
        p.isr.iter().chain(&p.elr).copied().filter(|b| !p.replicas.contains(b)).collect();
    if !strays.is_empty() {
        out.push(
            ISR_IN_REPLICAS,
            format!("{tp}|{strays:?}"),
            Some(key),
            strays.first().copied(),
            format!(
                "the controller's record of {tp} at partition epoch {} has {} in its ISR \
                 {:?} or ELR {:?} but not among its replicas {:?}",
                p.partition_epoch,
                brokers(&strays),
                p.isr,
                p.elr,
                p.replicas
            ),
        );
    }
    let both: BTreeSet<i32> = p.isr.iter().copied().filter(|b| p.elr.contains(b)).collect();
    if !both.is_empty() {
        out.push(
            ISR_ELR_DISJOINT,
            format!("{tp}|{both:?}"),
            Some(key),
            both.first().copied(),
            format!(
                "the controller's record of {tp} at partition epoch {} has {} in both its ISR \
                 {:?} and its ELR {:?}",
                p.partition_epoch,
                brokers(&both),
                p.isr,
                p.elr
            ),
        );
    }
    if p.leader != NO_LEADER && !p.isr.contains(&p.leader) {
        out.push(
            LEADER_IN_ISR,
            format!("{tp}|{}|{}", p.leader, p.leader_epoch),
            Some(key),
            Some(p.leader),
            format!(
                "the controller's leader of {tp} at leader epoch {}, broker-{}, is not in its \
                 ISR {:?}",
                p.leader_epoch, p.leader, p.isr
            ),
        );
    }
    // Last replica standing: with no leader, Kafka keeps the last ISR member in the ISR
    // even once it is fenced, so the partition can come back with it.
    let last_standing = p.leader == NO_LEADER && p.isr.len() == 1;
    let mut reported = BTreeSet::new();
    for &member in &p.isr {
        let state = match controller.brokers.get(&member) {
            Some(b) if !b.fenced => continue,
            Some(_) => "fenced",
            None => "not registered",
        };
        if last_standing || !reported.insert(member) {
            continue;
        }
        out.push(
            NO_FENCED_IN_ISR,
            format!("{tp}|{member}"),
            Some(key),
            Some(member),
            format!(
                "broker-{member} is {state} but in the ISR {:?} of {tp} at partition epoch {} \
                 (leader broker-{}, leader epoch {})",
                p.isr, p.partition_epoch, p.leader, p.leader_epoch
            ),
        );
    }
}

/// `epochs-monotonic`: the controller's epochs never go back, and no replica is ahead of it.
fn epochs_monotonic(
    key: &(String, i32),
    p: &PartitionView,
    logs: &BTreeMap<i32, Log<'_>>,
    ghost: &mut PartitionGhost,
    out: &mut Findings,
) {
    let tp = tp_name(key);
    let now = out.at_ms;
    for (slot, value, what) in [
        (&mut ghost.leader_epoch, p.leader_epoch, "leader epoch"),
        (&mut ghost.partition_epoch, p.partition_epoch, "partition epoch"),
    ] {
        match slot {
            Some(highest) if value < highest.value => out.push(
                EPOCHS_MONOTONIC,
                format!("{tp}|{what}|{value}|{}", highest.value),
                Some(key),
                None,
                format!(
                    "the controller's {what} of {tp} is {value}, below {} it published {}",
                    highest.value, highest.source
                ),
            ),
            Some(highest) if value == highest.value => {}
            _ => *slot = Some(Highest { value, source: format!("at t={now}ms") }),
        }
    }
    for (&broker, log) in logs {
        let epoch = log.view.leader_epoch;
        if epoch > p.leader_epoch {
            out.push(
                EPOCHS_MONOTONIC,
                format!("{tp}|replica|{broker}|{epoch}|{}", p.leader_epoch),
                Some(key),
                Some(broker),
                format!(
                    "broker-{broker}'s replica of {tp} is at leader epoch {epoch}, above the \
                     controller's leader epoch {}",
                    p.leader_epoch
                ),
            );
        }
    }
}

/// The true high watermark rises with a current leader's high watermark while the
/// controller's ISR has at least `min.insync.replicas` members.
fn update_true_hwm(
    now_ms: i64,
    p: &PartitionView,
    logs: &BTreeMap<i32, Log<'_>>,
    ghost: &mut PartitionGhost,
) {
    let isr: BTreeSet<i32> = p.isr.iter().copied().collect();
    if (isr.len() as i64) < i64::from(p.min_insync_replicas) {
        return;
    }
    let Some(leader) = current_leader(p, logs) else { return };
    let view = leader.view;
    if !view.is_leader || view.leader_epoch != p.leader_epoch {
        return;
    }
    if ghost.true_hwm.as_ref().is_none_or(|h| h.value < view.high_watermark) {
        ghost.true_hwm = Some(Highest {
            value: view.high_watermark,
            source: format!(
                "leader broker-{}'s high watermark at leader epoch {} at t={now_ms}ms",
                view.broker_id, view.leader_epoch
            ),
        });
    }
}

/// I9, `stale-leader-fenced`.
fn stale_leader_fenced(
    key: &(String, i32),
    p: &PartitionView,
    controller: &ControllerView,
    logs: &BTreeMap<i32, Log<'_>>,
    out: &mut Findings,
) {
    let tp = tp_name(key);
    let current = current_leader(p, logs);
    for (&broker, log) in logs {
        let view = log.view;
        if !view.alive || !view.is_leader || broker == p.leader {
            continue;
        }
        if view.leader_epoch == p.leader_epoch {
            let whose = if p.leader == NO_LEADER {
                "the controller has no leader for it".to_owned()
            } else {
                format!("the controller's leader at that epoch is broker-{}", p.leader)
            };
            out.push(
                STALE_LEADER_FENCED,
                format!("{tp}|{broker}|{}|current", view.leader_epoch),
                Some(key),
                Some(broker),
                format!(
                    "broker-{broker} claims leadership of {tp} at the current leader epoch {}, \
                     but {whose}",
                    view.leader_epoch
                ),
            );
        } else if view.leader_epoch < p.leader_epoch && !p.unclean_election_enabled {
            // A stale leader's high watermark counted the new leader's fetches, so it cannot
            // pass the new leader's log end offset unless it advanced on its own.
            let Some(current) = current else { continue };
            if !current.view.alive || unclean_restart_pending(controller, p.leader) {
                continue;
            }
            let end = current.view.log_end_offset;
            if view.high_watermark > end {
                out.push(
                    STALE_LEADER_FENCED,
                    format!("{tp}|{broker}|{}|hw", view.leader_epoch),
                    Some(key),
                    Some(broker),
                    format!(
                        "broker-{broker} still leads {tp} at stale leader epoch {} with high \
                         watermark {}, above the log end offset {end} of the current leader \
                         broker-{} at leader epoch {}",
                        view.leader_epoch, view.high_watermark, p.leader, p.leader_epoch
                    ),
                );
            }
        }
    }
}

/// I3, `leader-candidates-complete`.
fn leader_candidates_complete(
    key: &(String, i32),
    p: &PartitionView,
    controller: &ControllerView,
    logs: &BTreeMap<i32, Log<'_>>,
    ghost: &PartitionGhost,
    out: &mut Findings,
) {
    let Some(true_hwm) = &ghost.true_hwm else { return };
    let tp = tp_name(key);
    let property =
        if p.unclean_election_enabled { UNCLEAN_ELECTION_LOSS } else { LEADER_CANDIDATES_COMPLETE };
    let isr: BTreeSet<i32> = p.isr.iter().copied().collect();
    let candidates: BTreeSet<i32> = isr.iter().chain(&p.elr).copied().collect();
    for member in candidates {
        let Some(registration) = controller.brokers.get(&member) else { continue };
        let Some(log) = logs.get(&member) else { continue };
        if registration.fenced || registration.unclean_restart_pending || !log.view.alive {
            continue;
        }
        let end = log.view.log_end_offset;
        if end >= true_hwm.value {
            continue;
        }
        let role = if isr.contains(&member) { "ISR" } else { "ELR" };
        out.push(
            property,
            format!("{tp}|{member}"),
            Some(key),
            Some(member),
            format!(
                "broker-{member} is a running unfenced {role} member of {tp} at \
                 partition epoch {} with log end offset {end}, below the true high watermark \
                 {} (from {}), so electing it would lose committed records",
                p.partition_epoch, true_hwm.value, true_hwm.source
            ),
        );
    }
}

/// I2, `log-matching`, for every pair of replicas of one partition.
fn log_matching(
    key: &(String, i32),
    logs: &BTreeMap<i32, Log<'_>>,
    unclean: bool,
    out: &mut Findings,
) {
    let tp = tp_name(key);
    let property = if unclean { UNCLEAN_ELECTION_LOSS } else { LOG_MATCHING };
    let logs: Vec<(&i32, &Log<'_>)> = logs.iter().collect();
    for (i, &(&a, log_a)) in logs.iter().enumerate() {
        for &(&b, log_b) in logs.iter().skip(i + 1) {
            let Some((at, x, y, why)) = first_disagreement(log_a, log_b) else { continue };
            out.push(
                property,
                format!("{tp}|{a}|{b}"),
                Some(key),
                Some(b),
                format!(
                    "broker-{a} and broker-{b} disagree on {tp} at offset {at}, {why}: \
                     broker-{a} holds {}, broker-{b} {}",
                    batch_name(x),
                    batch_name(y)
                ),
            );
        }
    }
}

/// Where two logs first hold different batches over the same offsets, within the range both
/// must agree on; with the reason that range must agree.
fn first_disagreement(a: &Log<'_>, b: &Log<'_>) -> Option<(i64, BatchView, BatchView, String)> {
    let below_hw = a.view.high_watermark.min(b.view.high_watermark);
    // The highest batch both hold with the same base offset and leader epoch: everything
    // up to it came from the same leader's log.
    let epochs_a: BTreeSet<(i64, i32)> =
        a.batches.iter().map(|x| (x.base_offset, x.leader_epoch)).collect();
    let common = b
        .batches
        .iter()
        .rev()
        .find(|y| epochs_a.contains(&(y.base_offset, y.leader_epoch)))
        .copied();
    let (bound, why) = match common {
        Some(c) if c.base_offset >= below_hw => (
            c.base_offset.saturating_add(1),
            format!(
                "at or below the batch at offset {} of leader epoch {} both hold",
                c.base_offset, c.leader_epoch
            ),
        ),
        _ => (below_hw, format!("below both their high watermarks (the lower is {below_hw})")),
    };
    let xs: Vec<BatchView> = a.batches.iter().copied().filter(|x| x.base_offset < bound).collect();
    let ys: Vec<BatchView> = b.batches.iter().copied().filter(|y| y.base_offset < bound).collect();
    let (mut i, mut j) = (0, 0);
    while let (Some(&x), Some(&y)) = (xs.get(i), ys.get(j)) {
        let overlap = x.base_offset <= y.last_offset && y.base_offset <= x.last_offset;
        if overlap && x != y {
            return Some((x.base_offset.max(y.base_offset), x, y, why));
        }
        match x.last_offset.cmp(&y.last_offset) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    None
}

/// I1: `leader-completeness` and `no-committed-record-lost`.
fn committed_records(
    key: &(String, i32),
    p: &PartitionView,
    controller: &ControllerView,
    logs: &BTreeMap<i32, Log<'_>>,
    ghost: &PartitionGhost,
    out: &mut Findings,
) {
    if ghost.acked.is_empty() {
        return;
    }
    let tp = tp_name(key);
    let unclean = p.unclean_election_enabled;
    let records = ghost.acked.iter().flat_map(|(&o, acked)| acked.iter().map(move |a| (o, a)));

    let leader = current_leader(p, logs)
        .filter(|l| l.view.alive && !unclean_restart_pending(controller, p.leader));
    let mut checked_leader = false;
    let mut missing = Vec::new();
    if let Some(leader) = leader {
        checked_leader = true;
        missing.extend(records.clone().filter(|(o, a)| !leader.holds(*o, &a.record)));
        if !missing.is_empty() {
            let offsets: Vec<i64> = missing.iter().map(|(o, _)| *o).collect();
            let property = if unclean { UNCLEAN_ELECTION_LOSS } else { LEADER_COMPLETENESS };
            out.push(
                property,
                format!("{tp}|{}|{}|{}", p.leader, p.leader_epoch, offsets.len()),
                Some(key),
                Some(p.leader),
                format!(
                    "leader broker-{} of {tp} at leader epoch {} lacks {} (its log spans \
                     offsets {} to {}), acknowledged with acks=all while the ISR met \
                     min.insync.replicas {}",
                    p.leader,
                    p.leader_epoch,
                    offsets_phrase(&offsets),
                    leader.view.log_start_offset,
                    leader.view.log_end_offset,
                    first_ack_phrase(&missing)
                ),
            );
        }
    }
    let unsure: Vec<(i64, &Acked)> = if checked_leader { missing } else { records.collect() };
    let lost: Vec<(i64, &Acked)> = unsure
        .into_iter()
        .filter(|(o, a)| !logs.values().any(|log| log.holds(*o, &a.record)))
        .collect();
    if !lost.is_empty() {
        let offsets: Vec<i64> = lost.iter().map(|(o, _)| *o).collect();
        let held: BTreeSet<i32> = logs.keys().copied().collect();
        let property = if unclean { UNCLEAN_ELECTION_LOSS } else { NO_COMMITTED_RECORD_LOST };
        out.push(
            property,
            format!("{tp}|{}", offsets.len()),
            Some(key),
            None,
            format!(
                "no replica of {tp} (of {}) holds {}, acknowledged with acks=all while the ISR met \
                 min.insync.replicas {} (controller leader broker-{} at leader epoch {})",
                if held.is_empty() { "none observed".to_owned() } else { brokers(&held) },
                offsets_phrase(&offsets),
                first_ack_phrase(&lost),
                p.leader,
                p.leader_epoch
            ),
        );
    }
}

// ---- Helpers ----

/// The replica of the controller's leader, if the partition has one and it was observed.
fn current_leader<'a, 'b>(
    p: &PartitionView,
    logs: &'b BTreeMap<i32, Log<'a>>,
) -> Option<&'b Log<'a>> {
    if p.leader == NO_LEADER {
        return None;
    }
    logs.get(&p.leader)
}

/// Whether the broker's unclean restart awaits the controller.
fn unclean_restart_pending(controller: &ControllerView, broker: i32) -> bool {
    controller.brokers.get(&broker).is_some_and(|b| b.unclean_restart_pending)
}

fn rank(property: &str) -> usize {
    REPLICATION_PROPERTIES
        .iter()
        .position(|p| p.name == property)
        .unwrap_or(REPLICATION_PROPERTIES.len())
}

/// "t-0": a partition as Kafka logs name it.
fn tp_name((topic, partition): &(String, i32)) -> String {
    format!("{topic}-{partition}")
}

fn batch_name(b: BatchView) -> String {
    format!(
        "batch {}..={} of leader epoch {} (crc {:#010x})",
        b.base_offset, b.last_offset, b.leader_epoch, b.crc
    )
}

/// "broker-1, broker-2 and 3 more".
fn brokers(ids: &BTreeSet<i32>) -> String {
    let names: Vec<String> = ids.iter().map(|b| format!("broker-{b}")).collect();
    listed(&names)
}

/// "the record at offset 7" or "3 records at offsets 7, 8, 9 and 2 more".
fn offsets_phrase(offsets: &[i64]) -> String {
    let names: Vec<String> = offsets.iter().map(i64::to_string).collect();
    match offsets {
        [one] => format!("the record at offset {one}"),
        _ => format!("{} records at offsets {}", offsets.len(), listed(&names)),
    }
}

/// "(the first at t=120ms)".
fn first_ack_phrase(records: &[(i64, &Acked)]) -> String {
    match records.iter().map(|(_, a)| a.at_ms).min() {
        Some(at) if records.len() == 1 => format!("(acknowledged at t={at}ms)"),
        Some(at) => format!("(the first acknowledged at t={at}ms)"),
        None => String::new(),
    }
}

fn listed(names: &[String]) -> String {
    let shown = names.len().min(LIST_MAX);
    let mut text = names[..shown].join(", ");
    if names.len() > shown {
        text.push_str(&format!(" and {} more", names.len() - shown));
    }
    text
}
