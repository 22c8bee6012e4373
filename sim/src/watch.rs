//! The cluster watch: omniscient observations of a simulated KRaft cluster, checked by the
//! replication invariants ([`crate::invariants`]) as the run goes.
//!
//! Inputs: every broker's [`ServerSnapshot`] whenever it changes ([`ClusterWatch::observe`],
//! called from the broker's own task between two inputs), the supervisor's crashes
//! ([`ClusterWatch::crashed`]), every broker's disk (read with [`SimStorage`]'s inspection
//! calls, which change nothing), and the run's history (acknowledged sends). Outputs: a
//! [`ClusterObservation`] per observation point, fed to [`ReplicationInvariants::observe`];
//! the [`Violation`]s it found; the leader and the followers of a partition in the committed
//! metadata ([`ClusterWatch::leader`], [`ClusterWatch::followers`]) and the active controller
//! ([`ClusterWatch::active_controller`]), which `leader(..)`, `follower(..)`, `followers(..)`
//! and `controller` targets resolve to.
//!
//! What an observation holds:
//! - the controller view: the committed metadata image with the highest offset among the
//!   running brokers (the lowest id on a tie); a broker that crashed is awaiting
//!   re-registration (`unclean_restart_pending`: every crash of the simulation is unclean)
//!   until that image shows it registered with another broker epoch than when it crashed;
//! - every replica of every broker: a running broker's replicas as its last snapshot says,
//!   with the batches of its log read from its disk; a broker that is down (or restarted and
//!   not yet reporting) describes what its disk holds: every replica it ever reported, as
//!   last reported, not leading, with the batches its disk has now (its log end after them,
//!   its high watermark at most that); so does a running broker for a replica it has not
//!   opened again since it restarted (a partition that has no leader yet);
//! - every running broker's Raft view.
//!
//! The high watermarks clients were answered are taken at each observation too
//! (`client-hw-monotonic`). Acknowledged sends are taken from the history at each observation and given to the
//! checker identified by the CRC of the batch that held the acknowledged value at its offset
//! when the watch first read it (the watch reads a leader's disk right after the append, and
//! a broker acknowledges only after appending, so the batch was seen before its ack). An
//! acknowledged value never seen at its offset is given a CRC no batch seen there had, so the
//! checker reports it missing wherever it is looked for.
//!
//! Invariants: the watch only reads (disk inspection injects no fault and draws no
//! randomness), so a watched run behaves as an unwatched one; everything is kept in
//! `BTreeMap`s, so observations and violations come out in one order for one seed. Batches of
//! a segment file are parsed once: a file is re-read from its start only when its identity
//! says bytes before its end changed (a truncate, a crash, a new file at the name).

use crate::disk::{FileIdentity, SimStorage};
use crate::ground_truth::Violation;
use crate::history::{History, OpKind, Outcome, TopicPartitionKey};
use crate::invariants::{
    Ack, BatchView, BrokerView, ClusterObservation, ControllerView, PartitionView, RaftView,
    RecordId, ReplicaView, ReplicationInvariants,
};
use crate::workload::ClientHw;
use odradek::log::batch::{BatchHeader, BATCH_HEADER_BYTES};
use odradek::server::{PartitionSnapshot, ReplicaSnapshot, ServerSnapshot};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One segment file as far as it was parsed.
#[derive(Clone, Debug)]
struct SegmentRead {
    identity: FileIdentity,
    /// Bytes parsed into whole batches.
    parsed: u64,
    batches: Vec<BatchView>,
}

/// One broker as the watch knows it.
struct NodeWatch {
    disk: SimStorage,
    /// Its last snapshot since it (re)started; `None` while it is down or has not reported.
    running: Option<ServerSnapshot>,
    /// Every replica it ever reported, as last reported: one it does not have open (it is down,
    /// or restarted and has not opened it again) is described by its disk.
    known: BTreeMap<TopicPartitionKey, ReplicaSnapshot>,
    /// Crashed and not yet re-registered: its broker epoch when it crashed (`None`: it was
    /// not registered then).
    unclean: Option<Option<i64>>,
    /// Segment files read, by partition directory, then file name.
    segments: BTreeMap<String, BTreeMap<String, SegmentRead>>,
}

/// The watch. See the module doc.
pub struct ClusterWatch {
    log_dir: PathBuf,
    nodes: BTreeMap<u32, NodeWatch>,
    invariants: ReplicationInvariants,
    violations: Vec<Violation>,
    history: Arc<Mutex<History>>,
    /// Operations of the history already looked at.
    history_seen: usize,
    /// High watermarks clients were answered, and how many were looked at.
    client_hws: Arc<Mutex<Vec<ClientHw>>>,
    client_hws_seen: usize,
    /// `acks` of every producer, by id.
    producer_acks: BTreeMap<String, i16>,
    /// Every (value name, batch CRC) seen at each offset of each partition.
    values: BTreeMap<(TopicPartitionKey, i64), Vec<(String, u32)>>,
    /// How many observations were checked.
    observations: u64,
}

impl ClusterWatch {
    /// A watch over `disks` (broker id and disk), whose logs live under `log_dir`.
    pub fn new(
        disks: Vec<(u32, SimStorage)>,
        log_dir: &Path,
        history: Arc<Mutex<History>>,
        client_hws: Arc<Mutex<Vec<ClientHw>>>,
        producer_acks: BTreeMap<String, i16>,
    ) -> ClusterWatch {
        let nodes = disks
            .into_iter()
            .map(|(id, disk)| {
                let node = NodeWatch {
                    disk,
                    running: None,
                    unclean: None,
                    known: BTreeMap::new(),
                    segments: BTreeMap::new(),
                };
                (id, node)
            })
            .collect();
        ClusterWatch {
            log_dir: log_dir.to_path_buf(),
            nodes,
            invariants: ReplicationInvariants::new(),
            violations: Vec::new(),
            history,
            history_seen: 0,
            client_hws,
            client_hws_seen: 0,
            producer_acks,
            values: BTreeMap::new(),
            observations: 0,
        }
    }

    /// Broker `broker` reported `snapshot` at `now_ms`: check the cluster as it is now.
    pub fn observe(&mut self, broker: u32, now_ms: u64, snapshot: &ServerSnapshot) {
        let Some(node) = self.nodes.get_mut(&broker) else { return };
        for replica in &snapshot.replicas {
            let key = TopicPartitionKey::from(&replica.state.topic_partition);
            node.known.insert(key, replica.clone());
        }
        node.running = Some(snapshot.clone());
        self.check(now_ms);
    }

    /// Broker `broker` crashed at `now_ms` (its disk has crashed too).
    pub fn crashed(&mut self, broker: u32, now_ms: u64) {
        let epoch = self.controller_snapshot().and_then(|s| {
            s.metadata
                .brokers
                .iter()
                .find(|b| i64::from(b.broker_id) == i64::from(broker))
                .map(|b| b.broker_epoch)
        });
        let Some(node) = self.nodes.get_mut(&broker) else { return };
        if node.running.take().is_some() || node.unclean.is_none() {
            node.unclean = Some(epoch);
        }
        self.check(now_ms);
    }

    /// The run is over: take the last acknowledgements and check once more.
    pub fn finish(&mut self, now_ms: u64) {
        self.check(now_ms);
    }

    /// The violations found so far, in the order found.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// How many observations were checked.
    pub fn observations(&self) -> u64 {
        self.observations
    }

    /// How many committed acknowledged records the checker holds the cluster to.
    pub fn committed_records(&self) -> usize {
        self.invariants.committed_records()
    }

    /// How many high watermarks clients were answered (each change counted once) were checked.
    pub fn client_high_watermarks(&self) -> usize {
        self.client_hws_seen
    }

    /// The leader of a partition in the committed metadata (the controller view), if it has
    /// one.
    pub fn leader(&self, key: &TopicPartitionKey) -> Option<u32> {
        u32::try_from(self.committed_partition(key)?.leader).ok()
    }

    /// The replicas of a partition that do not lead it in the committed metadata, in the
    /// assignment's order (every replica when it has no leader).
    pub fn followers(&self, key: &TopicPartitionKey) -> Vec<u32> {
        let Some(partition) = self.committed_partition(key) else { return Vec::new() };
        partition
            .replicas
            .iter()
            .filter(|&&r| r != partition.leader)
            .filter_map(|&r| u32::try_from(r).ok())
            .collect()
    }

    /// A partition's record in the controller view's committed metadata.
    fn committed_partition(&self, key: &TopicPartitionKey) -> Option<&PartitionSnapshot> {
        self.controller_snapshot()?
            .metadata
            .partitions
            .iter()
            .find(|p| p.topic == key.topic && p.partition == key.partition)
    }

    /// The active controller: the running node that is KRaft leader at the highest epoch.
    pub fn active_controller(&self) -> Option<u32> {
        self.nodes
            .iter()
            .filter_map(|(&id, n)| n.running.as_ref().map(|s| (id, s)))
            .filter_map(|(id, s)| s.raft.as_ref().filter(|r| r.is_leader).map(|r| (r.epoch, id)))
            .max()
            .map(|(_, id)| id)
    }

    /// The running broker whose committed metadata is the newest (lowest id on a tie).
    fn controller_snapshot(&self) -> Option<&ServerSnapshot> {
        let mut best: Option<&ServerSnapshot> = None;
        for node in self.nodes.values() {
            if let Some(s) = &node.running {
                if best.is_none_or(|b| s.metadata.offset > b.metadata.offset) {
                    best = Some(s);
                }
            }
        }
        best
    }

    /// Builds the observation of now, feeds the acknowledgements since the last one and the
    /// observation to the checker, and keeps what it found.
    fn check(&mut self, now_ms: u64) {
        // Registrations the controller has replayed end the brokers' unclean restarts.
        let registered: BTreeMap<i32, i64> = self
            .controller_snapshot()
            .map(|s| s.metadata.brokers.iter().map(|b| (b.broker_id, b.broker_epoch)).collect())
            .unwrap_or_default();
        for (&id, node) in &mut self.nodes {
            if let Some(at_crash) = node.unclean {
                let now = i32::try_from(id).ok().and_then(|id| registered.get(&id)).copied();
                if now.is_some() && now != at_crash {
                    node.unclean = None;
                }
            }
        }
        let replicas = self.replica_views();
        self.take_acks();
        self.take_client_hws();
        let Some(controller) = self.controller_view() else { return };
        let raft = self
            .nodes
            .values()
            .filter_map(|n| n.running.as_ref())
            .filter_map(|s| {
                s.raft.as_ref().map(|r| RaftView {
                    node_id: s.node_id,
                    epoch: r.epoch,
                    leader: r.leader,
                    is_leader: r.is_leader,
                    high_watermark: r.high_watermark,
                })
            })
            .collect();
        let observation = ClusterObservation {
            now_ms: i64::try_from(now_ms).unwrap_or(i64::MAX),
            controller,
            replicas,
            raft,
        };
        self.observations += 1;
        for violation in self.invariants.observe(&observation) {
            self.violations.push(violation.to_ground_truth());
        }
    }

    fn controller_view(&self) -> Option<ControllerView> {
        let snapshot = self.controller_snapshot()?;
        let brokers = snapshot
            .metadata
            .brokers
            .iter()
            .map(|b| {
                let unclean = u32::try_from(b.broker_id)
                    .ok()
                    .and_then(|id| self.nodes.get(&id))
                    .is_some_and(|n| n.unclean.is_some());
                let view = BrokerView {
                    broker_epoch: b.broker_epoch,
                    fenced: b.fenced,
                    unclean_restart_pending: unclean,
                };
                (b.broker_id, view)
            })
            .collect();
        let partitions = snapshot
            .metadata
            .partitions
            .iter()
            .map(|p| {
                let view = PartitionView {
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    elr: p.elr.clone(),
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                    min_insync_replicas: p.min_insync_replicas,
                    unclean_election_enabled: p.unclean_leader_election_enable,
                };
                ((p.topic.clone(), p.partition), view)
            })
            .collect();
        Some(ControllerView { brokers, partitions })
    }

    /// Every replica of every broker, reading what is new on the disks.
    fn replica_views(&mut self) -> Vec<ReplicaView> {
        let mut views = Vec::new();
        for (&id, node) in &mut self.nodes {
            let broker_id = i32::try_from(id).unwrap_or(i32::MAX);
            let open = node.running.as_ref().map_or(&[][..], |s| &s.replicas[..]);
            let open_keys: BTreeSet<TopicPartitionKey> =
                open.iter().map(|r| TopicPartitionKey::from(&r.state.topic_partition)).collect();
            // The replicas it has open as it reports them; the others as its disk holds them.
            let mut replicas: Vec<(ReplicaSnapshot, bool)> =
                open.iter().map(|r| (r.clone(), true)).collect();
            replicas.extend(
                node.known
                    .iter()
                    .filter(|(key, _)| !open_keys.contains(*key))
                    .map(|(_, r)| (r.clone(), false)),
            );
            for (replica, alive) in &replicas {
                let alive = *alive;
                let state = &replica.state;
                let tp = TopicPartitionKey::from(&state.topic_partition);
                let dir = state.topic_partition.dir_name();
                let (batches, first_segment) = read_log(
                    &node.disk,
                    &self.log_dir,
                    &dir,
                    &mut node.segments,
                    &tp,
                    &mut self.values,
                );
                let view = if alive {
                    ReplicaView {
                        broker_id,
                        alive,
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        is_leader: state.is_leader,
                        leader_epoch: state.leader_epoch.0,
                        high_watermark: state.high_watermark.0,
                        log_start_offset: state.log_start_offset.0,
                        log_end_offset: state.log_end_offset.0,
                        batches,
                    }
                } else {
                    // What the disk holds: its log starts at its first segment and ends after
                    // its last batch.
                    let log_start = first_segment.unwrap_or(state.log_start_offset.0);
                    let end = batches.last().map_or(log_start, |b| b.last_offset + 1);
                    ReplicaView {
                        broker_id,
                        alive,
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        is_leader: false,
                        leader_epoch: state.leader_epoch.0,
                        high_watermark: state.high_watermark.0.min(end),
                        log_start_offset: log_start,
                        log_end_offset: end,
                        batches,
                    }
                };
                views.push(view);
            }
        }
        views
    }

    /// Gives the checker every send acknowledged since the last look at the history.
    fn take_acks(&mut self) {
        let history = self.history.clone();
        let history = history.lock().expect("history lock");
        let new = &history.ops[self.history_seen.min(history.ops.len())..];
        self.history_seen = history.ops.len();
        for op in new {
            let OpKind::Send { partition: Some(tp), value, offset: Some(offset), .. } = &op.kind
            else {
                continue;
            };
            if op.outcome != Outcome::Ok {
                continue;
            }
            let acks = self.producer_acks.get(&op.process).copied().unwrap_or(-1);
            let seen = self.values.get(&(tp.clone(), *offset));
            let crc = match seen.and_then(|v| v.iter().find(|(name, _)| name == value)) {
                Some((_, crc)) => *crc,
                // Never seen there: a CRC none of the batches seen at that offset had.
                None => {
                    let taken: BTreeSet<u32> =
                        seen.into_iter().flatten().map(|(_, crc)| *crc).collect();
                    (0..=u32::MAX).find(|c| !taken.contains(c)).unwrap_or(0)
                }
            };
            let isr_at_least_min = self.isr_at_least_min(tp);
            self.invariants.record_ack(Ack {
                at_ms: i64::try_from(op.complete_ms).unwrap_or(i64::MAX),
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset: *offset,
                record: RecordId::BatchCrc(crc),
                acks,
                isr_at_least_min,
            });
        }
    }

    /// Checks every high watermark clients were answered since the last look.
    fn take_client_hws(&mut self) {
        let client_hws = self.client_hws.clone();
        let client_hws = client_hws.lock().expect("client hws lock");
        let new = &client_hws[self.client_hws_seen.min(client_hws.len())..];
        self.client_hws_seen = client_hws.len();
        for hw in new {
            let at_ms = i64::try_from(hw.at_ms).unwrap_or(i64::MAX);
            let ClientHw { client, partition: tp, high_watermark, .. } = hw;
            let found = self.invariants.record_client_hw(
                at_ms,
                client,
                &tp.topic,
                tp.partition,
                *high_watermark,
            );
            if let Some(v) = found {
                self.violations.push(v.to_ground_truth());
            }
        }
    }

    /// Whether the partition's leader (the running replica that leads at the highest leader
    /// epoch) has an ISR of at least `min.insync.replicas` members, by its own account.
    fn isr_at_least_min(&self, tp: &TopicPartitionKey) -> bool {
        let min_insync = self.committed_partition(tp).map_or(1, |p| p.min_insync_replicas);
        let leader = self
            .nodes
            .values()
            .filter_map(|n| n.running.as_ref())
            .flat_map(|s| s.replicas.iter())
            .filter(|r| {
                r.state.is_leader && TopicPartitionKey::from(&r.state.topic_partition) == *tp
            })
            .max_by_key(|r| r.state.leader_epoch.0);
        leader.is_none_or(|r| r.isr.len() as i64 >= i64::from(min_insync))
    }
}

/// The batches of one partition's log on `disk`, sorted by base offset, and the base offset of
/// its first segment; new batches' record values are added to `values`.
fn read_log(
    disk: &SimStorage,
    log_dir: &Path,
    dir: &str,
    cache: &mut BTreeMap<String, BTreeMap<String, SegmentRead>>,
    tp: &TopicPartitionKey,
    values: &mut BTreeMap<(TopicPartitionKey, i64), Vec<(String, u32)>>,
) -> (Vec<BatchView>, Option<i64>) {
    let path = log_dir.join(dir);
    let names: Vec<String> = disk
        .inspect_dir(&path)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .collect();
    let segments = cache.entry(dir.to_string()).or_default();
    segments.retain(|name, _| names.contains(name));
    let mut batches = Vec::new();
    let mut first_segment = None;
    for name in &names {
        if let Some(base) = name.strip_suffix(".log").and_then(|b| b.parse::<i64>().ok()) {
            first_segment = Some(first_segment.map_or(base, |f: i64| f.min(base)));
        }
        let file = path.join(name);
        let cached = segments.remove(name);
        let from = cached.as_ref().map_or(0, |c| c.parsed);
        let Some(look) = disk.inspect_file_from(&file, from) else { continue };
        let (mut read, bytes) = match cached {
            Some(read) if read.identity == look.identity && read.parsed <= look.len => {
                (read, look.bytes)
            }
            // Bytes before the end changed: read the whole file again.
            _ => {
                let Some(whole) = disk.inspect_file_from(&file, 0) else { continue };
                let read = SegmentRead { identity: whole.identity, parsed: 0, batches: Vec::new() };
                (read, whole.bytes)
            }
        };
        parse_batches(&bytes, &mut read, tp, values);
        batches.extend(read.batches.iter().copied());
        segments.insert(name.clone(), read);
    }
    batches.sort();
    (batches, first_segment)
}

/// Parses the whole batches at the start of `bytes` (the file from `read.parsed` on) into
/// `read`, stopping at a partial or unreadable one (a torn tail recovery will cut).
fn parse_batches(
    bytes: &[u8],
    read: &mut SegmentRead,
    tp: &TopicPartitionKey,
    values: &mut BTreeMap<(TopicPartitionKey, i64), Vec<(String, u32)>>,
) {
    let mut position = 0usize;
    while bytes.len() - position >= BATCH_HEADER_BYTES {
        let Ok(header) = BatchHeader::parse(&bytes[position..]) else { break };
        let total = header.total_bytes();
        if bytes.len() - position < total || header.last_offset_delta < 0 {
            break;
        }
        let batch = &bytes[position..position + total];
        position += total;
        let view = BatchView {
            base_offset: header.base_offset.0,
            last_offset: header.last_offset().0,
            leader_epoch: header.partition_leader_epoch.0,
            crc: header.crc,
        };
        read.batches.push(view);
        for (offset, name) in record_values(batch) {
            let seen = values.entry((tp.clone(), offset)).or_default();
            if !seen.iter().any(|(n, c)| *n == name && *c == header.crc) {
                seen.push((name, header.crc));
            }
        }
    }
    read.parsed += position as u64;
}

/// The offsets and value names of the records of one stored batch (none if it does not
/// decode).
fn record_values(batch: &[u8]) -> Vec<(i64, String)> {
    let mut bytes = bytes::Bytes::copy_from_slice(batch);
    match kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes) {
        Ok(set) => set
            .records
            .iter()
            .filter_map(|r| r.value.as_ref().map(|v| (r.offset, crate::workload::value_name(v))))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;
    use crate::CrashMode;
    use odradek::broker::ReplicaState;
    use odradek::log::batch;
    use odradek::server::{BrokerSnapshot, MetadataSnapshot, PartitionSnapshot};
    use odradek::storage::{OpenMode, Storage, StorageFile};
    use odradek::{LeaderEpoch, Offset, TopicPartition};

    const LOG_DIR: &str = "/data";
    const SEGMENT: &str = "/data/t-0/00000000000000000000.log";

    /// One stored batch of the values, at `base` in `epoch`.
    fn stored_batch(base: i64, epoch: i32, values: &[&str]) -> Vec<u8> {
        let records: Vec<_> =
            values.iter().map(|v| (None, Some(bytes::Bytes::from(format!("{v}|..."))))).collect();
        let mut bytes = batch::encode(&records, 1_000).to_vec();
        batch::restamp(&mut bytes, Offset(base), LeaderEpoch(epoch));
        bytes
    }

    fn append(disk: &SimStorage, bytes: &[u8]) {
        disk.create_dir_all(Path::new("/data/t-0")).unwrap();
        let mut file = disk.open(Path::new(SEGMENT), OpenMode::CreateOrExisting).unwrap();
        file.append(bytes).unwrap();
    }

    /// Broker `id`'s snapshot: it holds `t-0` (leading it when `leads`) up to `end`, and its
    /// metadata (at `offset`) has brokers 1 and 2, `t-0` led by broker 1 with ISR {1, 2}.
    fn snapshot(id: i32, leads: bool, end: i64, offset: i64) -> ServerSnapshot {
        let state = ReplicaState {
            topic_partition: TopicPartition::new("t", 0),
            leader_epoch: LeaderEpoch(0),
            log_start_offset: Offset(0),
            high_watermark: Offset(end),
            log_end_offset: Offset(end),
            durable_offset: Offset(0),
            is_leader: leads,
        };
        let broker = |broker_id| BrokerSnapshot {
            broker_id,
            broker_epoch: i64::from(broker_id),
            fenced: false,
            in_controlled_shutdown: false,
        };
        ServerSnapshot {
            node_id: id,
            replicas: vec![ReplicaSnapshot { state, isr: vec![1, 2] }],
            metadata: MetadataSnapshot {
                offset,
                brokers: vec![broker(1), broker(2)],
                partitions: vec![PartitionSnapshot {
                    topic: "t".into(),
                    partition: 0,
                    replicas: vec![1, 2],
                    isr: vec![1, 2],
                    elr: Vec::new(),
                    leader: 1,
                    leader_epoch: 0,
                    partition_epoch: 0,
                    min_insync_replicas: 2,
                    unclean_leader_election_enable: false,
                }],
            },
            raft: None,
        }
    }

    fn acked(value: &str, offset: i64, at_ms: u64) -> Op {
        Op {
            process: "p1".into(),
            group: None,
            invoke_ms: at_ms,
            invoke_index: 0,
            complete_ms: at_ms,
            kind: OpKind::Send {
                partition: Some(TopicPartitionKey { topic: "t".into(), partition: 0 }),
                key: None,
                value: value.into(),
                offset: Some(offset),
            },
            outcome: Outcome::Ok,
        }
    }

    fn watch(disks: &[&SimStorage], history: &Arc<Mutex<History>>) -> ClusterWatch {
        let disks = disks.iter().enumerate().map(|(i, d)| (i as u32 + 1, (*d).clone())).collect();
        let acks = BTreeMap::from([("p1".to_string(), -1)]);
        ClusterWatch::new(disks, Path::new(LOG_DIR), history.clone(), Arc::default(), acks)
    }

    fn names(watch: &ClusterWatch) -> Vec<&'static str> {
        watch.violations().iter().map(|v| v.property).collect()
    }

    #[test]
    fn replicas_are_read_from_the_disks_and_the_leader_from_the_newest_metadata() {
        let (one, two) = (SimStorage::new(1), SimStorage::new(2));
        let history = Arc::new(Mutex::new(History::default()));
        let mut watch = watch(&[&one, &two], &history);
        for disk in [&one, &two] {
            append(disk, &stored_batch(0, 0, &["p1-000000", "p1-000001"]));
        }
        history.lock().unwrap().push(acked("p1-000001", 1, 5));
        watch.observe(1, 5, &snapshot(1, true, 2, 7));
        watch.observe(2, 6, &snapshot(2, false, 2, 6));
        assert_eq!(watch.violations(), &[]);
        assert_eq!(watch.observations(), 2);
        let key = TopicPartitionKey { topic: "t".into(), partition: 0 };
        assert_eq!(watch.leader(&key), Some(1));
        // New batches are read from where the last look ended.
        for disk in [&one, &two] {
            append(disk, &stored_batch(2, 0, &["p1-000002"]));
        }
        watch.observe(2, 8, &snapshot(2, false, 3, 7));
        watch.observe(1, 8, &snapshot(1, true, 3, 7));
        assert_eq!(watch.violations(), &[]);
        assert_eq!(watch.values.len(), 3);
    }

    #[test]
    fn a_replica_that_lost_acknowledged_records_is_seen_on_its_disk() {
        let (one, two) = (SimStorage::new(1), SimStorage::new(2));
        let history = Arc::new(Mutex::new(History::default()));
        let mut watch = watch(&[&one, &two], &history);
        append(&one, &stored_batch(0, 0, &["p1-000000"]));
        append(&two, &stored_batch(0, 0, &["p1-000000"]));
        watch.observe(1, 5, &snapshot(1, true, 1, 7));
        watch.observe(2, 5, &snapshot(2, false, 1, 7));
        history.lock().unwrap().push(acked("p1-000000", 0, 6));
        // Broker 2 rewrites offset 0 with another record: the logs disagree below both high
        // watermarks. Then the leader loses power with nothing synced.
        let mut file = two.open(Path::new(SEGMENT), OpenMode::Existing).unwrap();
        file.truncate(0).unwrap();
        file.append(&stored_batch(0, 1, &["p2-000000"])).unwrap();
        watch.observe(2, 7, &snapshot(2, false, 1, 7));
        assert_eq!(names(&watch), vec!["log-matching"]);
        one.crash(CrashMode::LosePageCache { torn_writes: false });
        watch.crashed(1, 8);
        watch.observe(2, 9, &snapshot(2, false, 1, 7));
        // No running broker holds the record; broker 1's disk (which may have kept all, some
        // or none of its unsynced bytes) decides whether any replica still does.
        let lost = one.inspect_file_from(Path::new(SEGMENT), 0).is_none_or(|f| f.len == 0);
        let expected: Vec<&str> = if lost {
            vec!["log-matching", "no-committed-record-lost"]
        } else {
            vec!["log-matching"]
        };
        assert_eq!(names(&watch), expected, "{:?}", watch.violations());
    }
}
