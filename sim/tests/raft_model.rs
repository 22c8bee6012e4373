//! The KRaft quorum under a hostile network and crashing disks, checked after every step.
//!
//! Goal: whatever the network and the disks do, the quorum never breaks Raft's safety
//! properties, and once the faults stop it elects a leader and commits again. Method: a
//! deterministic discrete-event harness (Kafka's `RaftEventSimulationTest`, TigerBeetle's
//! VOPR) drives 3 or 5 voters and one observer, each a sans-IO [`RaftNode`] on its own
//! [`SimStorage`]. One seed decides everything: a message router with per-message random
//! delay (so reordering), loss and duplication, network partitions (symmetric splits and
//! one-way links), crashes (the node is dropped, its disk crashed with `KeepPageCache` or
//! `LosePageCache { torn_writes }`, and it is reopened after a while; power losses hit at
//! most a minority of voters at a time, process crashes any number, some right after a node
//! answered a Vote), disks that fail a share of their calls (the node stops at the failed
//! call, fail-stop, and is crashed there and restarted: a crash in the middle of an
//! operation), graceful resignations, and a proposer that writes unique values to whichever
//! node leads.
//!
//! Checked after every step (ghost state: the committed entries every node has reported):
//! - ElectionSafety: at most one leader per epoch, ever, over every node's election state;
//! - MonotonicEpoch: no node's epoch goes back, across restarts too;
//! - LogMatching: every node's log below its high watermark matches the committed entries
//!   (so any two nodes agree below both their high watermarks), by offset, epoch and value;
//! - LeaderCompleteness: a leader of epoch E holds every entry committed in epochs <= E;
//! - MonotonicHighWatermark: the high watermark of the newest leader never goes back, and no
//!   node's high watermark goes back within one run of its process;
//! - MajorityReachedHighWatermark: a majority of voters' logs reach the newest leader's
//!   high watermark;
//! - Durability: a majority of voters hold every committed entry in the synced part of
//!   their logs (checked incrementally, and from scratch at the end).
//!
//! Then a liveness phase heals everything (no partitions, loss or duplication; every node
//! restarted) and requires, within a bound, a leader and a new value committed on every node.
//!
//! `RAFT_MODEL_SEEDS` sets how many seeds each sweep runs (default below); `RAFT_MODEL_SEED`
//! with `RAFT_MODEL_VOTERS` runs one seed and prints its trace:
//! `RAFT_MODEL_SEED=7 RAFT_MODEL_VOTERS=5 cargo test -p odradek-sim --test raft_model one_seed -- --nocapture`.

use bytes::Bytes;
use odradek::log::LogConfig;
use odradek::raft::{
    decode_records, ProposeError, RaftConfig, RaftError, RaftMessage, RaftNode, RaftOutput, Role,
};
use odradek::{LeaderEpoch, Offset};
use odradek_sim::{CrashMode, DiskFaults, SimStorage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

const START_MS: i64 = 1_700_000_000_000;
const DIR: &str = "/data/__cluster_metadata-0";
const SEEDS_DEFAULT: u64 = 1_000;
const SAFETY_MS: i64 = 30_000;
const LIVENESS_MS: i64 = 30_000;
const OBSERVER_ID: i32 = 100;
const TRACE_LINES: usize = 400;
/// Steps at one instant before the harness calls it a livelock.
const SAME_INSTANT_STEPS_MAX: u32 = 20_000;

/// One committed entry as the ghost knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    epoch: LeaderEpoch,
    control: bool,
    value: Option<Bytes>,
}

#[derive(Clone, Debug)]
struct Committed {
    entry: Entry,
    /// The epoch of the node that first reported it committed.
    commit_epoch: LeaderEpoch,
}

struct SimNode {
    id: i32,
    storage: SimStorage,
    raft: RaftNode<SimStorage>,
    up: bool,
    /// Whether the node is down after a power loss (not a process crash).
    lost_power: bool,
    /// How often its disk fails a call (until its next crash).
    io_error_probability: f64,
    incarnation: u64,
    restart_at: Option<i64>,
    /// The committed prefix of this incarnation already compared with the ghost.
    checked_up_to: Offset,
    /// This incarnation's highest high watermark seen.
    high_watermark_seen: Option<Offset>,
    epoch_seen: LeaderEpoch,
    /// How many committed entries the synced part of this voter's log is known to match.
    durable_matched: usize,
    /// Leader completeness checked up to here, for the epoch this node leads.
    leader_checked: Option<(LeaderEpoch, usize)>,
}

struct Envelope {
    from: i32,
    to: i32,
    from_incarnation: u64,
    to_incarnation: u64,
    message: RaftMessage,
}

#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    steps: u64,
    delivered: u64,
    dropped: u64,
    crashes: u64,
    power_losses: u64,
    partitions: u64,
    proposals: u64,
    committed: usize,
    max_epoch: i32,
    liveness_ms: i64,
}

struct World {
    seed: u64,
    voters: Vec<i32>,
    rng: ChaCha8Rng,
    now: i64,
    nodes: BTreeMap<i32, SimNode>,
    queue: BTreeMap<(i64, u64), Envelope>,
    sequence: u64,
    blocked: BTreeSet<(i32, i32)>,
    drop_probability: f64,
    duplicate_probability: f64,
    max_delay_ms: i64,
    next_action_ms: i64,
    ghost: Vec<Committed>,
    leaders: BTreeMap<LeaderEpoch, i32>,
    newest_leader_high_watermark: Option<(LeaderEpoch, Offset)>,
    next_value: u64,
    trace: VecDeque<String>,
    trace_hash: std::collections::hash_map::DefaultHasher,
    stats: Stats,
    same_instant_steps: u32,
    /// Whether faults are injected (the safety phase).
    faults: bool,
}

fn raft_config(id: i32, voters: &[i32]) -> RaftConfig {
    RaftConfig {
        // Below the fetch timeout, so that one lost fetch is sent again, not an election.
        request_timeout_ms: 1_000,
        // Small fetches and segments: several round trips per catch-up, rolls and
        // truncations across segment boundaries.
        fetch_max_bytes: 2_048,
        log: LogConfig {
            segment_bytes: 4_096,
            retention_ms: -1,
            retention_bytes: -1,
            ..LogConfig::default()
        },
        ..RaftConfig::new(id, voters.to_vec())
    }
}

fn node_seed(seed: u64, id: i32, incarnation: u64) -> u64 {
    seed.wrapping_mul(1_000_003).wrapping_add(id as u64 * 7_919).wrapping_add(incarnation * 104_729)
}

impl World {
    fn new(seed: u64, voter_count: usize) -> Result<Self, String> {
        let voters: Vec<i32> = (1..=voter_count as i32).collect();
        let mut nodes = BTreeMap::new();
        for id in voters.iter().copied().chain([OBSERVER_ID]) {
            let storage = SimStorage::new(node_seed(seed, id, 0) ^ 0x5eed);
            let raft = RaftNode::open(
                storage.clone(),
                PathBuf::from(DIR),
                raft_config(id, &voters),
                START_MS,
                node_seed(seed, id, 0),
            )
            .map_err(|e| format!("open node {id}: {e}"))?;
            let node = SimNode {
                id,
                storage,
                raft,
                up: true,
                lost_power: false,
                io_error_probability: 0.0,
                incarnation: 0,
                restart_at: None,
                checked_up_to: Offset::ZERO,
                high_watermark_seen: None,
                epoch_seen: LeaderEpoch(0),
                durable_matched: 0,
                leader_checked: None,
            };
            nodes.insert(id, node);
        }
        let mut world = World {
            seed,
            voters,
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: START_MS,
            nodes,
            queue: BTreeMap::new(),
            sequence: 0,
            blocked: BTreeSet::new(),
            drop_probability: 0.0,
            duplicate_probability: 0.0,
            max_delay_ms: 10,
            next_action_ms: START_MS,
            ghost: Vec::new(),
            leaders: BTreeMap::new(),
            newest_leader_high_watermark: None,
            next_value: 0,
            trace: VecDeque::new(),
            trace_hash: Default::default(),
            stats: Stats::default(),
            same_instant_steps: 0,
            faults: true,
        };
        let ids: Vec<i32> = world.nodes.keys().copied().collect();
        for id in ids {
            world.route(id)?;
        }
        Ok(world)
    }

    fn log(&mut self, line: String) {
        line.hash(&mut self.trace_hash);
        if self.trace.len() == TRACE_LINES {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("{:>7} {line}", self.now - START_MS));
    }

    fn minority(&self) -> usize {
        (self.voters.len() - 1) / 2
    }

    fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Sends a node's outputs into the network.
    fn route(&mut self, from: i32) -> Result<(), String> {
        let mut outputs = Vec::new();
        {
            let node = self.nodes.get_mut(&from).expect("node");
            while let Some(output) = node.raft.poll_output() {
                outputs.push(output);
            }
            if !node.up {
                return Ok(());
            }
        }
        for output in outputs {
            match output {
                RaftOutput::Send { to, message } => self.send(from, to, message),
                RaftOutput::HighWatermark(offset) => self.log(format!("n{from} hw {offset}")),
                RaftOutput::LeaderChange { epoch, leader } => {
                    self.log(format!("n{from} epoch {epoch} leader {leader:?}"))
                }
            }
        }
        Ok(())
    }

    fn send(&mut self, from: i32, to: i32, message: RaftMessage) {
        let Some(target) = self.nodes.get(&to) else {
            return;
        };
        let to_incarnation = target.incarnation;
        let from_incarnation = self.nodes[&from].incarnation;
        if self.blocked.contains(&(from, to)) || self.rng.gen_bool(self.drop_probability) {
            self.stats.dropped += 1;
            return;
        }
        let copies = if self.rng.gen_bool(self.duplicate_probability) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = self.rng.gen_range(1..=self.max_delay_ms);
            self.sequence += 1;
            let envelope =
                Envelope { from, to, from_incarnation, to_incarnation, message: message.clone() };
            self.queue.insert((self.now + delay, self.sequence), envelope);
        }
    }

    /// Runs the next event; `faults` enables the random fault and proposal actions.
    fn step(&mut self, faults: bool) -> Result<(), String> {
        self.stats.steps += 1;
        let restart = self.nodes.values().filter_map(|n| n.restart_at.map(|at| (at, n.id))).min();
        let message = self.queue.keys().next().map(|&(at, _)| at);
        let timer = self
            .nodes
            .values()
            .filter(|n| n.up)
            .filter_map(|n| n.raft.next_deadline_ms().map(|at| (at, n.id)))
            .min();
        let action = faults.then_some(self.next_action_ms);
        let next = [restart.map(|r| r.0), message, timer.map(|t| t.0), action]
            .into_iter()
            .flatten()
            .min()
            .ok_or("nothing left to happen")?;
        if next <= self.now {
            self.same_instant_steps += 1;
            if self.same_instant_steps > SAME_INSTANT_STEPS_MAX {
                return Err(format!("livelock: {SAME_INSTANT_STEPS_MAX} steps at one instant"));
            }
        } else {
            self.same_instant_steps = 0;
            self.now = next;
        }
        if let Some((at, id)) = restart.filter(|r| r.0 <= self.now) {
            let _ = at;
            self.restart(id)?;
        } else if message.is_some_and(|at| at <= self.now) {
            let (_, envelope) = self.queue.pop_first().expect("a message");
            self.deliver(envelope)?;
        } else if let Some((_, id)) = timer.filter(|t| t.0 <= self.now) {
            let node = self.nodes.get_mut(&id).expect("node");
            let result = node.raft.handle_timeout(self.now);
            if self.outcome(id, result)?.is_some() {
                self.route(id)?;
            }
        } else {
            self.random_action()?;
            self.next_action_ms = self.now + self.rng.gen_range(1..120);
        }
        self.check()
    }

    fn deliver(&mut self, envelope: Envelope) -> Result<(), String> {
        let Envelope { from, to, from_incarnation, to_incarnation, message } = envelope;
        let connected = self.nodes[&from].incarnation == from_incarnation
            && self.nodes[&to].incarnation == to_incarnation
            && self.nodes[&to].up
            && !self.blocked.contains(&(from, to));
        if !connected {
            self.stats.dropped += 1;
            return Ok(());
        }
        self.stats.delivered += 1;
        self.log(format!("{from}->{to} {message}"));
        let now = self.now;
        let is_vote = matches!(message, RaftMessage::VoteRequest(_));
        let node = self.nodes.get_mut(&to).expect("node");
        let result = node.raft.handle_message(now, from, message);
        if self.outcome(to, result)?.is_none() {
            return Ok(());
        }
        self.route(to)?;
        // Crashes right after an input, answer already sent, with a quick restart: the
        // window where a node must not forget what it promised (a vote above all).
        let probability = if is_vote { 0.25 } else { 0.003 };
        if self.faults && self.rng.gen_bool(probability) {
            let downtime = self.rng.gen_range(10..800);
            self.crash_node(to, downtime)?;
        }
        Ok(())
    }

    fn random_action(&mut self) -> Result<(), String> {
        let roll = self.rng.gen_range(0..100);
        match roll {
            0..=49 => self.propose(),
            50..=53 => self.crash(),
            54..=58 => {
                self.partition();
                Ok(())
            }
            59..=64 => {
                if !self.blocked.is_empty() {
                    self.log("heal".into());
                    self.blocked.clear();
                }
                Ok(())
            }
            65..=66 => self.resign(),
            67..=70 => {
                self.drop_probability = [0.0, 0.0, 0.01, 0.05, 0.2][self.rng.gen_range(0..5)];
                self.duplicate_probability = [0.0, 0.02, 0.1][self.rng.gen_range(0..3)];
                self.max_delay_ms = [2, 10, 30, 100, 400, 1_500][self.rng.gen_range(0..6)];
                self.log(format!(
                    "network drop {} dup {} delay {}",
                    self.drop_probability, self.duplicate_probability, self.max_delay_ms
                ));
                Ok(())
            }
            71..=72 => {
                let ids: Vec<i32> = self.nodes.keys().copied().collect();
                let id = ids[self.rng.gen_range(0..ids.len())];
                let node = self.nodes.get_mut(&id).expect("node");
                if node.up {
                    let probability = [0.005, 0.02, 0.1][self.rng.gen_range(0..3)];
                    node.storage.set_faults(DiskFaults {
                        io_error_probability: probability,
                        ..DiskFaults::default()
                    });
                    node.io_error_probability = probability;
                    self.log(format!("n{id} disk fails {probability} of its calls"));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn leaders_up(&self) -> Vec<i32> {
        self.nodes
            .values()
            .filter(|n| n.up && n.raft.role() == Role::Leader)
            .map(|n| n.id)
            .collect()
    }

    /// Proposes 1..=3 new values on a random node that believes it leads; returns the
    /// offset of the last one if it was accepted.
    fn propose(&mut self) -> Result<(), String> {
        self.propose_values().map(|_| ())
    }

    fn propose_values(&mut self) -> Result<Option<(i32, Offset)>, String> {
        let leaders = self.leaders_up();
        if leaders.is_empty() {
            return Ok(None);
        }
        let id = leaders[self.rng.gen_range(0..leaders.len())];
        let count = self.rng.gen_range(1..=3);
        let values: Vec<Bytes> = (0..count)
            .map(|_| {
                self.next_value += 1;
                Bytes::from(format!("s{}-v{}", self.seed, self.next_value))
            })
            .collect();
        let now = self.now;
        let node = self.nodes.get_mut(&id).expect("node");
        match node.raft.propose(now, values) {
            Ok(offset) => {
                self.stats.proposals += 1;
                self.log(format!("n{id} propose {count} -> {offset}"));
                self.route(id)?;
                Ok(Some((id, offset)))
            }
            Err(ProposeError::NotLeader { .. }) => {
                Err(format!("n{id} leads but refused a proposal"))
            }
            Err(ProposeError::Raft(error)) => self.fail_node(id, error).map(|()| None),
            Err(error @ ProposeError::BatchTooLarge { .. }) => Err(format!("n{id}: {error}")),
        }
    }

    fn crash(&mut self) -> Result<(), String> {
        let ids: Vec<i32> = self.nodes.keys().copied().collect();
        let id = ids[self.rng.gen_range(0..ids.len())];
        let downtime = self.rng.gen_range(100..6_000);
        self.crash_node(id, downtime)
    }

    /// Crashes node `id` for `downtime` ms, unless it is down already. A process crash
    /// (page cache kept) may take any number of voters down at once; a power loss only a
    /// minority of them, counting those still down from a power loss.
    fn crash_node(&mut self, id: i32, downtime: i64) -> Result<(), String> {
        if !self.nodes[&id].up {
            return Ok(());
        }
        let mode = match self.rng.gen_range(0..10) {
            0..=3 => CrashMode::KeepPageCache,
            4..=6 => CrashMode::LosePageCache { torn_writes: false },
            _ => CrashMode::LosePageCache { torn_writes: true },
        };
        let power_lost_down =
            self.voters.iter().filter(|v| !self.nodes[v].up && self.nodes[v].lost_power).count();
        let voters_down = self.voters.iter().filter(|v| !self.nodes[v].up).count();
        if self.voters.contains(&id) {
            let too_many = match mode {
                CrashMode::KeepPageCache => voters_down + 1 > self.voters.len(),
                CrashMode::LosePageCache { .. } => power_lost_down + 1 > self.minority(),
            };
            if too_many {
                return Ok(());
            }
        }
        self.crash_with_mode(id, mode, downtime)
    }

    /// A node whose disk failed stops, as Kafka takes a failed log dir offline: the harness
    /// crashes it where it stood (a power loss when a minority allows) and restarts it.
    /// An error from a node whose disk is healthy is a bug.
    fn fail_node(&mut self, id: i32, error: RaftError) -> Result<(), String> {
        if self.nodes[&id].io_error_probability == 0.0 {
            return Err(format!("n{id}: {error}"));
        }
        let power_lost_down =
            self.voters.iter().filter(|v| !self.nodes[v].up && self.nodes[v].lost_power).count();
        let mode = if self.voters.contains(&id) && power_lost_down + 1 > self.minority() {
            CrashMode::KeepPageCache
        } else {
            [
                CrashMode::KeepPageCache,
                CrashMode::LosePageCache { torn_writes: false },
                CrashMode::LosePageCache { torn_writes: true },
            ][self.rng.gen_range(0..3)]
        };
        self.log(format!("n{id} failed on its disk: {error}"));
        let downtime = self.rng.gen_range(10..2_000);
        self.crash_with_mode(id, mode, downtime)
    }

    /// Turns a node's result into `Some` value, or fails the node (see `fail_node`).
    fn outcome<T>(&mut self, id: i32, result: Result<T, RaftError>) -> Result<Option<T>, String> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(error) => self.fail_node(id, error).map(|()| None),
        }
    }

    fn crash_with_mode(&mut self, id: i32, mode: CrashMode, downtime: i64) -> Result<(), String> {
        let now = self.now;
        let node = self.nodes.get_mut(&id).expect("node");
        let report = node.storage.crash(mode);
        node.storage.set_faults(DiskFaults::default());
        node.io_error_probability = 0.0;
        node.incarnation += 1;
        let incarnation = node.incarnation;
        // Reopen at once, so the checks can read what survived, but keep it down (no
        // messages, no timers) until it restarts.
        node.raft = RaftNode::open(
            node.storage.clone(),
            PathBuf::from(DIR),
            raft_config(id, &self.voters),
            now,
            node_seed(self.seed, id, incarnation),
        )
        .map_err(|e| format!("n{id} reopen after crash: {e}"))?;
        while node.raft.poll_output().is_some() {}
        node.up = false;
        node.lost_power = matches!(mode, CrashMode::LosePageCache { .. });
        node.restart_at = Some(now + downtime);
        node.checked_up_to = Offset::ZERO;
        node.high_watermark_seen = None;
        node.leader_checked = None;
        let log_end = node.raft.log_end_offset();
        self.stats.crashes += 1;
        if matches!(mode, CrashMode::LosePageCache { .. }) {
            self.stats.power_losses += 1;
        }
        self.log(format!("crash n{id} {mode:?} ({report}); log end {log_end}, down {downtime} ms"));
        Ok(())
    }

    fn restart(&mut self, id: i32) -> Result<(), String> {
        let now = self.now;
        let node = self.nodes.get_mut(&id).expect("node");
        node.incarnation += 1;
        let incarnation = node.incarnation;
        // The process starts again on what is on its disk (no crash: nothing more is lost).
        node.raft = RaftNode::open(
            node.storage.clone(),
            PathBuf::from(DIR),
            raft_config(id, &self.voters),
            now,
            node_seed(self.seed, id, incarnation),
        )
        .map_err(|e| format!("n{id} restart: {e}"))?;
        node.up = true;
        node.restart_at = None;
        node.checked_up_to = Offset::ZERO;
        node.high_watermark_seen = None;
        node.leader_checked = None;
        let role = node.raft.role();
        self.log(format!("restart n{id} as {role:?}"));
        self.route(id)
    }

    fn partition(&mut self) {
        let ids: Vec<i32> = self.nodes.keys().copied().collect();
        self.blocked.clear();
        self.stats.partitions += 1;
        if self.rng.gen_bool(0.25) {
            // One link, one way.
            let a = ids[self.rng.gen_range(0..ids.len())];
            let b = ids[self.rng.gen_range(0..ids.len())];
            if a != b {
                self.blocked.insert((a, b));
                self.log(format!("partition one way {a} -/-> {b}"));
            }
            return;
        }
        let side: BTreeSet<i32> = ids.iter().copied().filter(|_| self.rng.gen_bool(0.5)).collect();
        for &a in &ids {
            for &b in &ids {
                if side.contains(&a) != side.contains(&b) {
                    self.blocked.insert((a, b));
                }
            }
        }
        self.log(format!("partition {side:?} from the rest"));
    }

    fn resign(&mut self) -> Result<(), String> {
        let leaders = self.leaders_up();
        let Some(&id) = leaders.first() else {
            return Ok(());
        };
        let now = self.now;
        let result = self.nodes.get_mut(&id).expect("node").raft.resign(now);
        if self.outcome(id, result)?.is_none() {
            return Ok(());
        }
        self.log(format!("n{id} resigns"));
        self.route(id)
    }

    /// The records of `raft`'s log in `[from, to)` (a read stays inside one segment: loop).
    fn records(
        raft: &RaftNode<SimStorage>,
        from: Offset,
        to: Offset,
    ) -> Result<Vec<(Offset, Entry)>, String> {
        let mut out = Vec::new();
        let mut next = from;
        while next < to {
            // Up to the log end, not `to`: `to` may fall inside one of this node's batches.
            let read = raft
                .log()
                .read(next, usize::MAX >> 2, raft.log_end_offset(), true)
                .map_err(|e| format!("n{} read [{next}, {to}): {e}", raft.node_id()))?;
            let records = decode_records(&read.records);
            let Some(last) = records.last() else {
                return Err(format!(
                    "n{} read at {next} below {to} returned nothing",
                    raft.node_id()
                ));
            };
            let end = last.offset.plus(1);
            out.extend(
                records.into_iter().filter(|r| r.offset >= next && r.offset < to).map(|r| {
                    (r.offset, Entry { epoch: r.epoch, control: r.control, value: r.value })
                }),
            );
            next = end;
        }
        Ok(out)
    }

    fn check(&mut self) -> Result<(), String> {
        // The checks read the logs: not through a failing disk.
        self.set_disk_faults(false);
        let result = self.check_all();
        self.set_disk_faults(true);
        result
    }

    fn check_all(&mut self) -> Result<(), String> {
        let ids: Vec<i32> = self.nodes.keys().copied().collect();
        for id in ids {
            self.check_node(id)?;
        }
        self.check_newest_leader()?;
        self.check_durability()
    }

    /// Turns the injected I/O errors of failing disks on or off.
    fn set_disk_faults(&mut self, on: bool) {
        for node in self.nodes.values() {
            if node.io_error_probability > 0.0 {
                let probability = if on { node.io_error_probability } else { 0.0 };
                node.storage.set_faults(DiskFaults {
                    io_error_probability: probability,
                    ..DiskFaults::default()
                });
            }
        }
    }

    fn check_node(&mut self, id: i32) -> Result<(), String> {
        let node = self.nodes.get_mut(&id).expect("node");
        let raft = &node.raft;
        // MonotonicEpoch, across restarts.
        let epoch = raft.epoch();
        if epoch < node.epoch_seen {
            return Err(format!("MonotonicEpoch: n{id} went from {} to {epoch}", node.epoch_seen));
        }
        node.epoch_seen = epoch;
        self.stats.max_epoch = self.stats.max_epoch.max(epoch.0);
        // ElectionSafety: one leader per epoch, as any node ever believed.
        if let Some(leader) = raft.leader_id() {
            let believed = *self.leaders.entry(epoch).or_insert(leader);
            if believed != leader {
                return Err(format!(
                    "ElectionSafety: epoch {epoch} has leaders {believed} and {leader} (n{id} believes {leader})"
                ));
            }
        }
        let voter = self.voters.contains(&id);
        if !voter && !matches!(raft.role(), Role::Unattached | Role::Follower) {
            return Err(format!("n{id} is an observer but became {:?}", raft.role()));
        }
        if raft.role() == Role::Leader && raft.leader_id() != Some(id) {
            return Err(format!("n{id} leads but names {:?}", raft.leader_id()));
        }
        // MonotonicHighWatermark, per process run.
        if let Some(hw) = raft.high_watermark() {
            if node.high_watermark_seen.is_some_and(|seen| hw < seen) {
                return Err(format!(
                    "MonotonicHighWatermark: n{id} went from {:?} to {hw}",
                    node.high_watermark_seen
                ));
            }
            node.high_watermark_seen = Some(hw);
        }
        // LogMatching: the committed prefix matches every other node's, through the ghost.
        let committed = raft.committed_offset();
        if committed > node.checked_up_to {
            let records = Self::records(raft, node.checked_up_to, committed)?;
            let expected = committed.distance_from(node.checked_up_to) as usize;
            if records.len() != expected {
                return Err(format!(
                    "n{id}: {} records in [{}, {committed}), expected {expected}",
                    records.len(),
                    node.checked_up_to
                ));
            }
            for (offset, entry) in records {
                let index = offset.0 as usize;
                if index < self.ghost.len() {
                    if self.ghost[index].entry != entry {
                        return Err(format!(
                            "LogMatching: n{id} has {entry:?} at {offset}, committed was {:?}",
                            self.ghost[index].entry
                        ));
                    }
                } else {
                    assert_eq!(index, self.ghost.len(), "read in order");
                    self.ghost.push(Committed { entry, commit_epoch: epoch });
                }
            }
            node.checked_up_to = committed;
        }
        // LeaderCompleteness: a leader of epoch E holds everything committed in epochs <= E.
        if node.up && raft.role() == Role::Leader {
            let required = self.ghost.partition_point(|c| c.commit_epoch <= epoch);
            let from = match node.leader_checked {
                Some((e, upto)) if e == epoch => upto,
                _ => 0,
            };
            if required > from {
                if raft.log_end_offset().0 < required as i64 {
                    return Err(format!(
                        "LeaderCompleteness: leader n{id} of epoch {epoch} ends at {}, {required} entries are committed",
                        raft.log_end_offset()
                    ));
                }
                let records = Self::records(raft, Offset(from as i64), Offset(required as i64))?;
                for (offset, entry) in records {
                    let committed = &self.ghost[offset.0 as usize].entry;
                    if *committed != entry {
                        return Err(format!(
                            "LeaderCompleteness: leader n{id} of epoch {epoch} has {entry:?} at {offset}, committed was {committed:?}"
                        ));
                    }
                }
                node.leader_checked = Some((epoch, required));
            }
        }
        Ok(())
    }

    /// Kafka's MonotonicHighWatermark and MajorityReachedHighWatermark, on the newest leader.
    fn check_newest_leader(&mut self) -> Result<(), String> {
        let newest = self
            .nodes
            .values()
            .filter(|n| n.up && n.raft.role() == Role::Leader)
            .max_by_key(|n| n.raft.epoch());
        let Some(leader) = newest else {
            return Ok(());
        };
        let epoch = leader.raft.epoch();
        let Some(hw) = leader.raft.high_watermark() else {
            return Ok(());
        };
        if let Some((seen_epoch, seen)) = self.newest_leader_high_watermark {
            if epoch >= seen_epoch && hw < seen {
                return Err(format!(
                    "MonotonicHighWatermark: the newest leader n{} (epoch {epoch}) has {hw}, below {seen} (epoch {seen_epoch})",
                    leader.id
                ));
            }
        }
        if self.newest_leader_high_watermark.is_none_or(|(e, _)| epoch >= e) {
            self.newest_leader_high_watermark = Some((epoch, hw));
        }
        let reached =
            self.voters.iter().filter(|v| self.nodes[v].raft.log_end_offset() >= hw).count();
        if reached < self.majority() {
            return Err(format!(
                "MajorityReachedHighWatermark: {reached} voters reach the high watermark {hw} of leader n{}",
                leader.id
            ));
        }
        Ok(())
    }

    /// Durability, incrementally: each voter's synced log matches the committed entries up
    /// to `durable_matched`; a majority must match them all. The synced part of a log only
    /// shrinks by a truncation or a crash, each of which shows as a lower durable offset
    /// after the step that did it.
    fn check_durability(&mut self) -> Result<(), String> {
        let committed = self.ghost.len();
        let mut holding = Vec::new();
        for &id in &self.voters {
            let node = self.nodes.get_mut(&id).expect("voter");
            let durable = node.raft.durable_offset().0 as usize;
            node.durable_matched = node.durable_matched.min(durable);
            let target = durable.min(committed);
            if node.durable_matched < target {
                let from = Offset(node.durable_matched as i64);
                for (offset, entry) in Self::records(&node.raft, from, Offset(target as i64))? {
                    let index = offset.0 as usize;
                    if index != node.durable_matched || self.ghost[index].entry != entry {
                        break;
                    }
                    node.durable_matched += 1;
                }
            }
            if node.durable_matched >= committed {
                holding.push(id);
            }
        }
        if holding.len() < self.majority() {
            return Err(format!(
                "Durability: only voters {holding:?} hold all {committed} committed entries durably"
            ));
        }
        Ok(())
    }

    /// Durability from scratch (the end of a run cross-checks the incremental one).
    fn check_durability_full(&mut self) -> Result<(), String> {
        let committed = self.ghost.len();
        if committed == 0 {
            return Ok(());
        }
        let mut holding = Vec::new();
        for &id in &self.voters {
            let raft = &self.nodes[&id].raft;
            let durable = raft.durable_offset().min(Offset(committed as i64));
            if durable.0 < committed as i64 {
                continue;
            }
            let records = Self::records(raft, Offset::ZERO, durable)?;
            let matches = records.len() == committed
                && records.iter().all(|(o, e)| self.ghost[o.0 as usize].entry == *e);
            if matches {
                holding.push(id);
            }
        }
        if holding.len() < self.majority() {
            return Err(format!(
                "Durability: only voters {holding:?} hold all {committed} committed entries durably"
            ));
        }
        Ok(())
    }

    fn heal(&mut self) -> Result<(), String> {
        self.log("liveness phase: heal everything".into());
        self.faults = false;
        for node in self.nodes.values_mut() {
            node.storage.set_faults(DiskFaults::default());
            node.io_error_probability = 0.0;
        }
        self.blocked.clear();
        self.drop_probability = 0.0;
        self.duplicate_probability = 0.0;
        self.max_delay_ms = 10;
        let down: Vec<i32> = self.nodes.values().filter(|n| !n.up).map(|n| n.id).collect();
        for id in down {
            self.restart(id)?;
        }
        Ok(())
    }

    /// After healing: a leader, and a new value committed on every node, within the bound.
    fn liveness(&mut self) -> Result<(), String> {
        let start = self.now;
        let deadline = start + LIVENESS_MS;
        let mut marker: Option<(Offset, i64)> = None;
        loop {
            if self.now > deadline {
                let state: Vec<String> = self
                    .nodes
                    .values()
                    .map(|n| {
                        format!(
                            "n{} {:?} epoch {} leader {:?} hw {:?} leo {}",
                            n.id,
                            n.raft.role(),
                            n.raft.epoch(),
                            n.raft.leader_id(),
                            n.raft.high_watermark(),
                            n.raft.log_end_offset()
                        )
                    })
                    .collect();
                return Err(format!(
                    "liveness: no leader committing on every node {LIVENESS_MS} ms after healing: {state:?}"
                ));
            }
            let retry = marker.is_none_or(|(_, at)| self.now - at > 3_000);
            if retry {
                if let Some((_, offset)) = self.propose_values()? {
                    marker = Some((offset, self.now));
                }
            }
            if let Some((offset, _)) = marker {
                if self.ghost.len() as i64 > offset.0 {
                    let value = Bytes::from(format!("s{}-v{}", self.seed, self.next_value));
                    if self.ghost[offset.0 as usize].entry.value.as_ref() != Some(&value) {
                        // Proposed to a leader that lost its epoch: the value was cut.
                        self.log(format!("liveness marker at {offset} was lost; proposing again"));
                        marker = None;
                        continue;
                    }
                    if self.nodes.values().all(|n| n.raft.committed_offset() > offset) {
                        self.stats.liveness_ms = self.now - start;
                        return Ok(());
                    }
                }
            }
            self.step(false)?;
        }
    }

    fn final_checks(&mut self) -> Result<(), String> {
        // Every node's whole committed prefix still matches (nothing below a high watermark
        // changed since it was first checked).
        for node in self.nodes.values() {
            let committed = node.raft.committed_offset();
            let records = Self::records(&node.raft, Offset::ZERO, committed)?;
            for (offset, entry) in records {
                if self.ghost[offset.0 as usize].entry != entry {
                    return Err(format!(
                        "LogMatching at the end: n{} differs at {offset}",
                        node.id
                    ));
                }
            }
        }
        self.check_durability_full()?;
        self.stats.committed = self.ghost.len();
        Ok(())
    }

    fn failure(&self, voters: usize, error: String) -> String {
        let mut text = format!(
            "seed {} with {voters} voters failed at {} ms: {error}\nreproduce: RAFT_MODEL_SEED={} RAFT_MODEL_VOTERS={voters} cargo test -p odradek-sim --test raft_model one_seed -- --nocapture\nlast events:\n",
            self.seed,
            self.now - START_MS,
            self.seed
        );
        for line in &self.trace {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// Runs one seed: the safety phase with faults, then the liveness phase. Returns the stats
/// and the trace hash, or a failure report naming the seed.
fn run(seed: u64, voters: usize) -> Result<(Stats, u64), String> {
    let mut world = None;
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<(), String> {
            let w = world.insert(World::new(seed, voters)?);
            while w.now < START_MS + SAFETY_MS {
                w.step(true)?;
            }
            w.heal()?;
            w.liveness()?;
            w.final_checks()
        }));
    let error = match outcome {
        Ok(Ok(())) => {
            let world = world.expect("ran");
            return Ok((world.stats, world.trace_hash.finish()));
        }
        Ok(Err(error)) => error,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("panic: {message}")
        }
    };
    Err(match world {
        Some(world) => world.failure(voters, error),
        None => format!("seed {seed}: {error}"),
    })
}

fn seeds() -> u64 {
    std::env::var("RAFT_MODEL_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(SEEDS_DEFAULT)
}

fn sweep(voters: usize, first_seed: u64) {
    let count = seeds();
    let mut failures = Vec::new();
    let mut total = Stats::default();
    for seed in first_seed..first_seed + count {
        match run(seed, voters) {
            Ok((stats, _)) => {
                total.steps += stats.steps;
                total.crashes += stats.crashes;
                total.power_losses += stats.power_losses;
                total.partitions += stats.partitions;
                total.proposals += stats.proposals;
                total.committed += stats.committed;
                total.max_epoch = total.max_epoch.max(stats.max_epoch);
                total.liveness_ms = total.liveness_ms.max(stats.liveness_ms);
            }
            Err(report) => failures.push((seed, report)),
        }
    }
    println!(
        "{voters} voters, seeds {first_seed}..{}: {} steps, {} crashes ({} power losses), {} partitions, {} proposals, {} entries committed, max epoch {}, slowest recovery {} ms",
        first_seed + count,
        total.steps,
        total.crashes,
        total.power_losses,
        total.partitions,
        total.proposals,
        total.committed,
        total.max_epoch,
        total.liveness_ms
    );
    if let Some((_, first)) = failures.first() {
        let seeds: Vec<u64> = failures.iter().map(|(seed, _)| *seed).collect();
        panic!("{} of {count} seeds failed: {seeds:?}; the first:\n{first}", failures.len());
    }
}

#[test]
fn three_voters_and_an_observer_keep_raft_safe_and_recover() {
    sweep(3, 0);
}

#[test]
fn five_voters_and_an_observer_keep_raft_safe_and_recover() {
    sweep(5, 1_000_000);
}

#[test]
fn a_seed_runs_the_same_twice() {
    let (first, hash_a) = run(42, 3).expect("seed 42");
    let (second, hash_b) = run(42, 3).expect("seed 42");
    assert_eq!(hash_a, hash_b, "the trace of seed 42 differs between runs");
    assert_eq!(first.steps, second.steps);
}

/// Runs the seed in `RAFT_MODEL_SEED` (with `RAFT_MODEL_VOTERS`, default 3) and prints its
/// trace; does nothing without it.
#[test]
fn one_seed() {
    let Some(seed) = std::env::var("RAFT_MODEL_SEED").ok().and_then(|s| s.parse().ok()) else {
        return;
    };
    let voters = std::env::var("RAFT_MODEL_VOTERS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    match run(seed, voters) {
        Ok((stats, hash)) => println!("seed {seed}: {stats:?}, trace hash {hash:#x}"),
        Err(report) => panic!("{report}"),
    }
}

/// Seeds that found bugs, each with its story; they must pass forever. A seed pins a path
/// only for the harness it was found with: after changing how the harness draws from its
/// RNG, revert the fix, find failing seeds again and pin those (each bug also has a unit
/// test in `core/src/raft/tests/`, which does not depend on the harness).
const PINNED_SEEDS: &[(u64, usize, &str)] = &[
    (
        2,
        3,
        "liveness: a voter whose log is behind stood again and again; each Vote request moved \
         the others to the new epoch with a fresh election timer, so no up-to-date voter ever \
         timed out and no leader was elected after healing. Fixed by keeping the running \
         election timer on a move to Unattached (Kafka's transitionToUnattached).",
    ),
    (1_000_007, 5, "the same livelock with five voters"),
];

#[test]
fn pinned_seeds_that_found_bugs_pass() {
    for &(seed, voters, story) in PINNED_SEEDS {
        if let Err(report) = run(seed, voters) {
            panic!("pinned seed {seed} ({story}) fails again:\n{report}");
        }
    }
}
