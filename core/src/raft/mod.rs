//! The controller quorum's Raft: KRaft (KIP-595), pull-based, sans-IO.
//!
//! Inputs: messages from other nodes ([`RaftNode::handle_message`]), the passing of time
//! ([`RaftNode::handle_timeout`], called at [`RaftNode::next_deadline_ms`]), proposals on the
//! leader ([`RaftNode::propose`]). Outputs, drained with [`RaftNode::poll_output`] until it
//! returns `None` after every input: messages to send, high-watermark advances and leader
//! changes. Time (`now_ms`) and randomness (a seed) are inputs; the disk is reached only
//! through [`Storage`]. Calls may come at any time: a spurious `handle_timeout` does nothing.
//!
//! The protocol, as Kafka's `KafkaRaftClient` runs it:
//! - Voters are the static `controller.quorum.voters` ids; any other node is an observer that
//!   only fetches. Roles: Unattached, Voted, Candidate, Leader, Follower, Resigned.
//! - Elections: a voter whose election timer (`election_timeout_ms` plus up to as much
//!   jitter, from the seeded RNG) or fetch timer expires becomes a candidate: it bumps the
//!   epoch, votes for itself, persists that, and sends Vote with its last (epoch, offset).
//!   A voter grants one vote per epoch, to a candidate whose log is at least as up to date.
//!   A candidate whose election times out, or that a majority rejects, backs off (random,
//!   binary exponential, capped at `election_backoff_max_ms`) and tries the next epoch.
//! - A new leader records its epoch in the leader-epoch cache, appends a LeaderChange control
//!   batch at the start of its epoch, and sends BeginQuorumEpoch to the voters until each
//!   has answered or fetched. A leader that resigns (or that a majority of voters stopped
//!   fetching from for 1.5 fetch timeouts: Kafka's check-quorum) sends EndQuorumEpoch with
//!   its preferred successors, most caught up first; each shortens its fetch timer by rank.
//! - Replication: followers and observers Fetch with their log end offset and last fetched
//!   epoch. The leader answers with records, or with the diverging epoch (its largest epoch
//!   at or below the fetcher's last one, and that epoch's end) when the fetcher's log went
//!   another way; the fetcher truncates (through its epoch cache) and fetches again. With
//!   nothing to send the leader holds a fetch up to its `max_wait_ms`, and answers it when
//!   records arrive, the high watermark moves, or the wait ends. A fetch of an older epoch
//!   is FENCED_LEADER_EPOCH; one of a newer epoch makes the leader step down.
//! - The high watermark is the largest offset that a majority of voters hold, flushed, in
//!   the current epoch, counted only once it passes the start of the leader's epoch (so a
//!   leader commits earlier epochs' records only through one of its own). Voters flush what
//!   they append before their next fetch reports it; the leader counts itself at its flushed
//!   offset (it flushes `append_linger_ms` after an append). Observers do not flush.
//! - Persistence: the `quorum-state` file (epoch, leader, vote) is replaced atomically and
//!   synced on every change, before a vote is answered or a candidacy starts. The epoch
//!   cache is synced on every change, before a batch of a new epoch is appended and after a
//!   truncation. After a restart a node that led its epoch is Resigned, a candidate stays a
//!   candidate in its epoch, and the high watermark is unknown until learned again.
//!
//! Invariants asserted where state changes: epochs never go back; one vote per epoch; one
//! leader per epoch as this node saw it; the high watermark never goes back and never passes
//! the log end; a truncation never goes below the high watermark; a leader never truncates.
//!
//! Not here yet: snapshots (the log is kept whole until they land: no retention, and
//! FetchSnapshot is not served), reconfiguration (KIP-853), pre-vote (KIP-996), and the
//! node shell that sends these messages as Kafka requests (see [`wire`]).

pub mod message;
pub mod quorum_state;
pub mod wire;

/// What BeginQuorumEpoch and EndQuorumEpoch responses both say.
struct QuorumEpochAnswer {
    correlation_id: i32,
    error: RaftErrorCode,
    leader_id: Option<i32>,
    leader_epoch: LeaderEpoch,
}

/// The voters still to acknowledge: a leader's BeginQuorumEpoch (`leading`), or a resigned
/// leader's EndQuorumEpoch; `None` in any other state.
fn quorum_epoch_waiters(state: &mut State, leading: bool) -> Option<&mut BTreeMap<i32, Slot>> {
    match (state, leading) {
        (State::Leader(l), true) => Some(&mut l.unacknowledged),
        (State::Resigned(r), false) => Some(&mut r.unacknowledged),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

pub use message::{
    BeginQuorumEpochRequest, BeginQuorumEpochResponse, DivergingEpoch, EndQuorumEpochRequest,
    EndQuorumEpochResponse, FetchRequest, FetchResponse, RaftErrorCode, RaftMessage, VoteRequest,
    VoteResponse,
};
pub use quorum_state::{ElectionState, QuorumStateError};

use crate::log::batch::{self, BatchHeader};
use crate::log::{LeaderEpochCache, Log, LogConfig, LogError};
use crate::storage::{Storage, StorageError};
use crate::types::{LeaderEpoch, Offset};
use bytes::{Bytes, BytesMut};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};

/// Kafka's base for the binary exponential election backoff (`RETRY_BACKOFF_BASE_MS`).
const ELECTION_BACKOFF_BASE_MS: i64 = 100;
/// The leader resigns when a majority has not fetched for this many fetch timeouts.
const CHECK_QUORUM_TIMEOUT_FACTOR: f64 = 1.5;
/// LeaderChangeMessage's control record type, and the key version.
const LEADER_CHANGE_CONTROL_TYPE: i16 = 2;

/// The quorum's settings, named after Kafka's `controller.quorum.*` configs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftConfig {
    /// `node.id`.
    pub node_id: i32,
    /// The ids of `controller.quorum.voters`; every other node is an observer.
    pub voters: Vec<i32>,
    /// `controller.quorum.election.timeout.ms`: the base of the randomized election timer.
    pub election_timeout_ms: i64,
    /// `controller.quorum.election.backoff.max.ms`: the cap of a failed candidate's backoff.
    pub election_backoff_max_ms: i64,
    /// `controller.quorum.fetch.timeout.ms`: a follower that hears nothing from its leader
    /// for this long starts an election (voter) or looks for the leader again (observer).
    pub fetch_timeout_ms: i64,
    /// How long the leader may hold a fetch that finds no new records.
    pub fetch_max_wait_ms: i64,
    /// `controller.quorum.request.timeout.ms`: when an unanswered request is sent again.
    pub request_timeout_ms: i64,
    /// `controller.quorum.retry.backoff.ms`: the pause before retrying a failed request.
    pub retry_backoff_ms: i64,
    /// `controller.quorum.append.linger.ms`: how long the leader lets appends gather before
    /// it flushes them (0 flushes every append at once).
    pub append_linger_ms: i64,
    /// The most bytes of records one fetch response carries.
    pub fetch_max_bytes: usize,
    /// The metadata log's settings (no retention until snapshots land).
    pub log: LogConfig,
}

impl RaftConfig {
    /// Kafka's defaults for `node_id` in a quorum of `voters`.
    pub fn new(node_id: i32, voters: Vec<i32>) -> Self {
        RaftConfig {
            node_id,
            voters,
            election_timeout_ms: 1_000,
            election_backoff_max_ms: 1_000,
            fetch_timeout_ms: 2_000,
            fetch_max_wait_ms: 500,
            request_timeout_ms: 2_000,
            retry_backoff_ms: 20,
            append_linger_ms: 25,
            fetch_max_bytes: 8 << 20,
            log: LogConfig {
                retention_ms: -1,
                retention_bytes: -1,
                segment_bytes: 64 << 20,
                ..LogConfig::default()
            },
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.node_id < 0 {
            return Err(format!("node.id {} is negative", self.node_id));
        }
        if self.voters.is_empty() {
            return Err("controller.quorum.voters is empty".into());
        }
        let unique: BTreeSet<i32> = self.voters.iter().copied().collect();
        if unique.len() != self.voters.len() || unique.iter().any(|&v| v < 0) {
            return Err(format!(
                "controller.quorum.voters {:?} has duplicates or negative ids",
                self.voters
            ));
        }
        for (name, value) in [
            ("election_timeout_ms", self.election_timeout_ms),
            ("fetch_timeout_ms", self.fetch_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("retry_backoff_ms", self.retry_backoff_ms),
        ] {
            if value <= 0 {
                return Err(format!("{name} must be positive, is {value}"));
            }
        }
        if self.election_backoff_max_ms < 0
            || self.append_linger_ms < 0
            || self.fetch_max_wait_ms < 0
        {
            return Err("election_backoff_max_ms, append_linger_ms and fetch_max_wait_ms must not be negative".into());
        }
        if self.request_timeout_ms <= self.fetch_max_wait_ms {
            return Err(format!(
                "request_timeout_ms ({}) must exceed fetch_max_wait_ms ({}): a held fetch is not lost",
                self.request_timeout_ms, self.fetch_max_wait_ms
            ));
        }
        if self.fetch_max_bytes == 0 {
            return Err("fetch_max_bytes must be positive".into());
        }
        Ok(())
    }
}

/// A node's role in its current epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// No leader known and no vote cast in this epoch.
    Unattached,
    /// Voted for a candidate in this epoch; no leader known yet.
    Voted,
    /// Asking for votes in this epoch.
    Candidate,
    /// Leads this epoch.
    Leader,
    /// Fetches from this epoch's leader.
    Follower,
    /// Led this epoch and gave it up; waits for the next election.
    Resigned,
}

/// What the node asks its caller to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RaftOutput {
    /// Send `message` to node `to`.
    Send { to: i32, message: RaftMessage },
    /// Records below this offset are committed (the high watermark rose to it).
    HighWatermark(Offset),
    /// The epoch or its known leader changed.
    LeaderChange { epoch: LeaderEpoch, leader: Option<i32> },
}

/// A failure that takes the node offline (fail-stop, as Kafka takes a log dir offline).
#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    #[error("invalid raft config: {0}")]
    Config(String),
    #[error("metadata log: {0}")]
    Log(#[from] LogError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    QuorumState(#[from] QuorumStateError),
    #[error("raft node {node_id} is offline after an earlier error: {reason}")]
    Offline { node_id: i32, reason: String },
}

/// Why a proposal was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// Only the leader appends; `leader_hint` is the leader this node knows, if any.
    #[error("not the leader (leader hint {leader_hint:?})")]
    NotLeader { leader_hint: Option<i32> },
    /// The records make a batch larger than the log accepts (`max.message.bytes`).
    #[error("a batch of {size} bytes is larger than max.message.bytes ({max})")]
    BatchTooLarge { size: usize, max: usize },
    #[error(transparent)]
    Raft(#[from] RaftError),
}

/// One record of the log, as [`decode_records`] reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    pub offset: Offset,
    pub epoch: LeaderEpoch,
    pub control: bool,
    pub value: Option<Bytes>,
}

/// Committed records read with [`RaftNode::committed`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CommittedRead {
    /// The values of the data records (control records skipped), with their offsets.
    pub records: Vec<(Offset, Bytes)>,
    /// Where the next read starts.
    pub next_offset: Offset,
}

/// A request that is sent until it is answered: when to send it next, and the correlation id
/// of the last one sent.
#[derive(Clone, Copy, Debug)]
struct Slot {
    correlation_id: Option<i32>,
    next_send_ms: i64,
}

/// A fetch loop: at most one fetch in flight, sent again when it times out.
#[derive(Clone, Copy, Debug)]
struct Fetcher {
    in_flight: Option<(i32, i32, i64)>,
    next_send_ms: i64,
}

impl Fetcher {
    fn ready(now_ms: i64) -> Self {
        Fetcher { in_flight: None, next_send_ms: now_ms }
    }
}

#[derive(Debug)]
struct CandidateState {
    granted: BTreeSet<i32>,
    rejected: BTreeSet<i32>,
    retries: u32,
    election_deadline_ms: i64,
    backoff_until_ms: Option<i64>,
    votes: BTreeMap<i32, Slot>,
}

#[derive(Debug)]
struct FollowerState {
    leader: i32,
    fetch_deadline_ms: i64,
    fetcher: Fetcher,
    high_watermark: Option<Offset>,
}

#[derive(Clone, Copy, Debug, Default)]
struct ReplicaState {
    end_offset: Option<Offset>,
}

#[derive(Debug)]
struct ParkedFetch {
    from: i32,
    request: FetchRequest,
    deadline_ms: i64,
}

#[derive(Debug)]
struct LeaderState {
    epoch_start_offset: Offset,
    /// Voters' replicated end offsets (this node's is its flushed offset).
    voters: BTreeMap<i32, ReplicaState>,
    observers: BTreeMap<i32, ReplicaState>,
    high_watermark: Option<Offset>,
    /// BeginQuorumEpoch to voters that have neither answered nor fetched.
    unacknowledged: BTreeMap<i32, Slot>,
    check_quorum_deadline_ms: i64,
    fetched_voters: BTreeSet<i32>,
    parked: Vec<ParkedFetch>,
    flush_deadline_ms: Option<i64>,
}

#[derive(Debug)]
struct ResignedState {
    election_deadline_ms: i64,
    preferred_successors: Vec<i32>,
    unacknowledged: BTreeMap<i32, Slot>,
}

#[derive(Debug)]
enum State {
    /// `election_deadline_ms` is `None` for observers, which look for the leader instead.
    Unattached {
        election_deadline_ms: Option<i64>,
        discovery: Fetcher,
    },
    Voted {
        election_deadline_ms: i64,
    },
    Candidate(CandidateState),
    Leader(Box<LeaderState>),
    Follower(FollowerState),
    Resigned(ResignedState),
}

/// How a response's epoch and leader were handled before its own handler runs.
enum Common {
    /// Nothing more to do with this response.
    Handled,
    /// Go on with the response's own handling.
    Continue,
}

/// One node of the KRaft quorum: its metadata log, epoch cache and election state.
pub struct RaftNode<S: Storage> {
    config: RaftConfig,
    storage: S,
    dir: PathBuf,
    log: Log<S>,
    epoch_cache: LeaderEpochCache<S>,
    election: ElectionState,
    state: State,
    rng: rand::rngs::StdRng,
    next_correlation_id: i32,
    /// The highest high watermark known since open: everything below it is committed.
    max_high_watermark: Option<Offset>,
    last_leader_change: Option<(LeaderEpoch, Option<i32>)>,
    outputs: VecDeque<RaftOutput>,
    offline: Option<String>,
}

impl<S: Storage> fmt::Debug for RaftNode<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RaftNode")
            .field("node_id", &self.config.node_id)
            .field("role", &self.role())
            .field("election", &self.election)
            .field("high_watermark", &self.high_watermark())
            .field("log_end_offset", &self.log.log_end_offset())
            .finish()
    }
}

impl<S: Storage> RaftNode<S> {
    // ---------------------------------------------------------------- open and accessors

    /// Opens the node's metadata log, epoch cache and quorum state in `dir` (creating them
    /// when missing) and resumes the role the persisted state implies.
    pub fn open(
        storage: S,
        dir: impl Into<PathBuf>,
        config: RaftConfig,
        now_ms: i64,
        seed: u64,
    ) -> Result<Self, RaftError> {
        config.validate().map_err(RaftError::Config)?;
        let dir = dir.into();
        let log = Log::open(storage.clone(), dir.clone(), config.log.clone(), now_ms)?;
        let epoch_cache = LeaderEpochCache::load(storage.clone(), &log)?;
        let stored = quorum_state::read(&storage, &dir)?;
        let election = stored.unwrap_or_default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let next_correlation_id = rng.gen_range(0..i32::MAX / 2);
        let mut node = RaftNode {
            config,
            storage,
            dir,
            log,
            epoch_cache,
            election,
            state: State::Unattached {
                election_deadline_ms: None,
                discovery: Fetcher::ready(now_ms),
            },
            rng,
            next_correlation_id,
            max_high_watermark: None,
            last_leader_change: None,
            outputs: VecDeque::new(),
            offline: None,
        };
        if stored.is_none() {
            node.write_election(node.election)?;
        }
        node.resume(now_ms)?;
        tracing::info!(node = node.config.node_id, epoch = %node.election.epoch, leader = ?node.election.leader_id, voted = ?node.election.voted_id, role = ?node.role(), log_end_offset = %node.log.log_end_offset(), "raft node opened");
        node.assert_invariants();
        Ok(node)
    }

    /// Picks the starting role from the persisted election state (Kafka's
    /// `QuorumState.initialize`).
    fn resume(&mut self, now_ms: i64) -> Result<(), RaftError> {
        let me = self.config.node_id;
        let election = self.election;
        if election.leader_id == Some(me) {
            // A leader that restarts cannot know what it acknowledged: it gives the epoch up.
            assert!(
                self.is_voter(),
                "node {me} led epoch {} without being a voter",
                election.epoch
            );
            let deadline = now_ms + self.random_election_timeout_ms();
            self.state = State::Resigned(ResignedState {
                election_deadline_ms: deadline,
                preferred_successors: Vec::new(),
                unacknowledged: self.other_voter_slots(now_ms),
            });
            self.emit_leader_change();
            self.send_due_end_quorum_epochs(now_ms);
        } else if let Some(leader) = election.leader_id {
            self.state = State::Follower(FollowerState {
                leader,
                fetch_deadline_ms: now_ms + self.config.fetch_timeout_ms,
                fetcher: Fetcher::ready(now_ms),
                high_watermark: None,
            });
            self.emit_leader_change();
            self.send_due_fetch(now_ms);
        } else if election.voted_id == Some(me) && self.is_voter() {
            let deadline = now_ms + self.random_election_timeout_ms();
            self.state = State::Candidate(CandidateState {
                granted: BTreeSet::from([me]),
                rejected: BTreeSet::new(),
                retries: 1,
                election_deadline_ms: deadline,
                backoff_until_ms: None,
                votes: self.other_voter_slots(now_ms),
            });
            self.emit_leader_change();
            if self.candidate_has_majority() {
                self.transition_to_leader(now_ms)?;
            } else {
                self.send_due_votes(now_ms);
            }
        } else if election.voted_id.is_some() && self.is_voter() {
            let deadline = now_ms + self.random_election_timeout_ms();
            self.state = State::Voted { election_deadline_ms: deadline };
            self.emit_leader_change();
        } else {
            let deadline = self.is_voter().then(|| now_ms + self.random_election_timeout_ms());
            self.state = State::Unattached {
                election_deadline_ms: deadline,
                discovery: Fetcher::ready(now_ms),
            };
            self.emit_leader_change();
            self.send_due_fetch(now_ms);
        }
        Ok(())
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    pub fn config(&self) -> &RaftConfig {
        &self.config
    }

    pub fn is_voter(&self) -> bool {
        self.config.voters.contains(&self.config.node_id)
    }

    pub fn role(&self) -> Role {
        match self.state {
            State::Unattached { .. } => Role::Unattached,
            State::Voted { .. } => Role::Voted,
            State::Candidate(_) => Role::Candidate,
            State::Leader(_) => Role::Leader,
            State::Follower(_) => Role::Follower,
            State::Resigned(_) => Role::Resigned,
        }
    }

    pub fn epoch(&self) -> LeaderEpoch {
        self.election.epoch
    }

    /// The leader of the current epoch, if known (this node while it leads or has resigned).
    pub fn leader_id(&self) -> Option<i32> {
        self.election.leader_id
    }

    /// The candidate this node voted for in the current epoch, if any.
    pub fn voted_id(&self) -> Option<i32> {
        self.election.voted_id
    }

    /// The election state as persisted in `quorum-state`.
    pub fn election_state(&self) -> ElectionState {
        self.election
    }

    /// The high watermark this node knows in its current role: `None` for a leader that has
    /// not yet committed a record of its epoch, and for nodes between leaders.
    pub fn high_watermark(&self) -> Option<Offset> {
        match &self.state {
            State::Leader(leader) => leader.high_watermark,
            State::Follower(follower) => follower.high_watermark,
            _ => None,
        }
    }

    /// The highest high watermark known since open: records below it are committed.
    pub fn committed_offset(&self) -> Offset {
        self.max_high_watermark.unwrap_or(self.log.log_start_offset())
    }

    pub fn log_end_offset(&self) -> Offset {
        self.log.log_end_offset()
    }

    /// The epoch of the last batch in the log (0 when there is none, as in Kafka).
    pub fn last_fetched_epoch(&self) -> LeaderEpoch {
        self.epoch_cache.latest_epoch().unwrap_or(LeaderEpoch(0))
    }

    /// Offsets below this were synced.
    pub fn durable_offset(&self) -> Offset {
        self.log.durable_offset()
    }

    pub fn log(&self) -> &Log<S> {
        &self.log
    }

    pub fn epoch_cache(&self) -> &LeaderEpochCache<S> {
        &self.epoch_cache
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Why the node is offline, if it is.
    pub fn offline_reason(&self) -> Option<&str> {
        self.offline.as_deref()
    }

    /// The next output to act on; drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<RaftOutput> {
        self.outputs.pop_front()
    }

    /// When [`RaftNode::handle_timeout`] has something to do next.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        if self.offline.is_some() {
            return None;
        }
        let fetcher = |f: &Fetcher| match f.in_flight {
            Some((_, _, sent_ms)) => sent_ms + self.config.request_timeout_ms,
            None => f.next_send_ms,
        };
        let slots = |slots: &BTreeMap<i32, Slot>| slots.values().map(|s| s.next_send_ms).min();
        let state = match &self.state {
            State::Unattached { election_deadline_ms: Some(deadline), .. } => Some(*deadline),
            State::Unattached { election_deadline_ms: None, discovery } => Some(fetcher(discovery)),
            State::Voted { election_deadline_ms } => Some(*election_deadline_ms),
            State::Candidate(c) => match c.backoff_until_ms {
                Some(until) => Some(until),
                None => [Some(c.election_deadline_ms), slots(&c.votes)].into_iter().flatten().min(),
            },
            State::Follower(f) => Some(f.fetch_deadline_ms.min(fetcher(&f.fetcher))),
            State::Leader(l) => {
                let check_quorum =
                    (self.config.voters.len() > 1).then_some(l.check_quorum_deadline_ms);
                [
                    l.flush_deadline_ms,
                    l.parked.iter().map(|p| p.deadline_ms).min(),
                    slots(&l.unacknowledged),
                    check_quorum,
                ]
                .into_iter()
                .flatten()
                .min()
            }
            State::Resigned(r) => {
                [Some(r.election_deadline_ms), slots(&r.unacknowledged)].into_iter().flatten().min()
            }
        };
        [state, self.log.next_deadline_ms()].into_iter().flatten().min()
    }

    // ---------------------------------------------------------------- inputs

    /// Handles one message from node `from`.
    pub fn handle_message(
        &mut self,
        now_ms: i64,
        from: i32,
        message: RaftMessage,
    ) -> Result<(), RaftError> {
        self.check_online()?;
        tracing::trace!(node = self.config.node_id, from, %message, "raft message in");
        let result = match message {
            RaftMessage::VoteRequest(request) => self.handle_vote_request(now_ms, from, request),
            RaftMessage::VoteResponse(response) => {
                self.handle_vote_response(now_ms, from, response)
            }
            RaftMessage::BeginQuorumEpochRequest(request) => {
                self.handle_begin_quorum_epoch_request(now_ms, from, request)
            }
            RaftMessage::BeginQuorumEpochResponse(response) => {
                self.handle_begin_quorum_epoch_response(now_ms, from, response)
            }
            RaftMessage::EndQuorumEpochRequest(request) => {
                self.handle_end_quorum_epoch_request(now_ms, from, request)
            }
            RaftMessage::EndQuorumEpochResponse(response) => {
                self.handle_end_quorum_epoch_response(now_ms, from, response)
            }
            RaftMessage::FetchRequest(request) => {
                self.handle_fetch_request(now_ms, from, request, true)
            }
            RaftMessage::FetchResponse(response) => {
                self.handle_fetch_response(now_ms, from, response)
            }
        };
        let result = self.fail_stop(result);
        if result.is_ok() {
            self.assert_invariants();
        }
        result
    }

    /// Runs every timer due at `now_ms`. Spurious calls do nothing.
    pub fn handle_timeout(&mut self, now_ms: i64) -> Result<(), RaftError> {
        self.check_online()?;
        let result = self.handle_timeout_inner(now_ms);
        let result = self.fail_stop(result);
        if result.is_ok() {
            self.assert_invariants();
        }
        result
    }

    fn handle_timeout_inner(&mut self, now_ms: i64) -> Result<(), RaftError> {
        self.log.handle_timeout(now_ms)?;
        let me = self.config.node_id;
        let epoch = self.election.epoch;
        match &self.state {
            State::Unattached { election_deadline_ms: Some(deadline), .. }
            | State::Voted { election_deadline_ms: deadline } => {
                if *deadline <= now_ms {
                    tracing::info!(node = me, epoch = %epoch, "election timer expired; becoming a candidate");
                    self.transition_to_candidate(now_ms)?;
                }
            }
            State::Unattached { election_deadline_ms: None, .. } => self.send_due_fetch(now_ms),
            State::Candidate(candidate) => match candidate.backoff_until_ms {
                Some(until) if until <= now_ms => {
                    tracing::info!(node = me, epoch = %epoch, "election backoff over; standing again");
                    self.transition_to_candidate(now_ms)?;
                }
                Some(_) => {}
                None if candidate.election_deadline_ms <= now_ms => {
                    let retries = candidate.retries;
                    let backoff_ms = self.election_backoff_ms(retries);
                    tracing::info!(node = me, epoch = %epoch, backoff_ms, "election timed out; backing off");
                    self.candidate_mut().backoff_until_ms = Some(now_ms + backoff_ms);
                }
                None => self.send_due_votes(now_ms),
            },
            State::Follower(follower) => {
                if follower.fetch_deadline_ms <= now_ms {
                    let leader = follower.leader;
                    if self.is_voter() {
                        tracing::info!(node = me, epoch = %epoch, leader, "fetch timer expired; becoming a candidate");
                        self.transition_to_candidate(now_ms)?;
                    } else {
                        tracing::info!(node = me, epoch = %epoch, leader, "fetch timer expired; looking for the leader again");
                        self.transition_to_unattached(now_ms, epoch)?;
                    }
                } else {
                    self.send_due_fetch(now_ms);
                }
            }
            State::Leader(leader) => {
                if leader.flush_deadline_ms.is_some_and(|d| d <= now_ms) {
                    self.flush_leader(now_ms)?;
                }
                self.expire_parked_fetches(now_ms)?;
                self.send_due_begin_quorum_epochs(now_ms);
                let expired = match &self.state {
                    State::Leader(leader) => {
                        self.config.voters.len() > 1 && leader.check_quorum_deadline_ms <= now_ms
                    }
                    _ => false,
                };
                if expired {
                    tracing::warn!(node = me, epoch = %epoch, "no majority of voters fetched within the check-quorum timeout; resigning");
                    self.transition_to_resigned(now_ms, Vec::new())?;
                }
            }
            State::Resigned(resigned) => {
                if resigned.election_deadline_ms <= now_ms {
                    tracing::info!(node = me, epoch = %epoch, "election timer expired after resigning; becoming a candidate");
                    self.transition_to_candidate(now_ms)?;
                } else {
                    self.send_due_end_quorum_epochs(now_ms);
                }
            }
        }
        Ok(())
    }

    /// Appends `records` (one value each) as the leader; returns the offset of the last one.
    /// They are committed once the high watermark passes that offset.
    pub fn propose(&mut self, now_ms: i64, records: Vec<Bytes>) -> Result<Offset, ProposeError> {
        self.check_online()?;
        assert!(!records.is_empty(), "a proposal holds at least one record");
        if !matches!(self.state, State::Leader(_)) {
            let leader_hint = self.election.leader_id.filter(|&l| l != self.config.node_id);
            return Err(ProposeError::NotLeader { leader_hint });
        }
        let values: Vec<(Option<Bytes>, Option<Bytes>)> =
            records.into_iter().map(|value| (None, Some(value))).collect();
        let encoded = batch::encode(&values, now_ms);
        let max = self.config.log.max_message_bytes;
        if encoded.len() > max {
            return Err(ProposeError::BatchTooLarge { size: encoded.len(), max });
        }
        let result = (|| -> Result<Offset, RaftError> {
            let info = self.log.append(&encoded, self.election.epoch, now_ms)?;
            let linger_ms = self.config.append_linger_ms;
            let leader = self.leader_mut();
            if leader.flush_deadline_ms.is_none() {
                leader.flush_deadline_ms = Some(now_ms + linger_ms);
            }
            if linger_ms == 0 {
                self.flush_leader(now_ms)?;
            }
            self.complete_parked_fetches(now_ms, false)?;
            Ok(info.last_offset)
        })();
        let result = self.fail_stop(result)?;
        self.assert_invariants();
        Ok(result)
    }

    /// Gives up leadership gracefully: EndQuorumEpoch goes to the voters, naming the most
    /// caught-up followers first as successors. Does nothing unless this node leads.
    pub fn resign(&mut self, now_ms: i64) -> Result<(), RaftError> {
        self.check_online()?;
        let State::Leader(leader) = &self.state else {
            return Ok(());
        };
        let mut followers: Vec<(Offset, i32)> = leader
            .voters
            .iter()
            .filter(|(&id, _)| id != self.config.node_id)
            .map(|(&id, state)| (state.end_offset.unwrap_or(Offset(-1)), id))
            .collect();
        followers.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let successors = followers.into_iter().map(|(_, id)| id).collect();
        let result = self.transition_to_resigned(now_ms, successors);
        self.fail_stop(result)
    }

    /// Closes the metadata log cleanly (flushed, marked clean); the quorum state and epoch
    /// cache are synced on every change already.
    pub fn close(self, now_ms: i64) -> Result<(), RaftError> {
        self.check_online()?;
        self.log.close(now_ms)?;
        Ok(())
    }

    /// Committed records from `from_offset` on, at most about `max_bytes` of batches (at
    /// least one batch), below the highest high watermark known.
    pub fn committed(
        &self,
        from_offset: Offset,
        max_bytes: usize,
    ) -> Result<CommittedRead, RaftError> {
        self.check_online()?;
        let committed = self.committed_offset();
        let from = from_offset.max(self.log.log_start_offset());
        if from >= committed {
            return Ok(CommittedRead { records: Vec::new(), next_offset: from });
        }
        let read = self.log.read(from, max_bytes, committed, true)?;
        let mut next_offset = from;
        let mut records = Vec::new();
        for record in decode_records(&read.records) {
            next_offset = next_offset.max(record.offset.plus(1));
            if record.control || record.offset < from || record.offset >= committed {
                continue;
            }
            records.push((record.offset, record.value.unwrap_or_default()));
        }
        if let Some(end) = last_batch_end(&read.records) {
            next_offset = next_offset.max(end);
        }
        Ok(CommittedRead { records, next_offset: next_offset.min(committed) })
    }

    // ---------------------------------------------------------------- Vote

    fn handle_vote_request(
        &mut self,
        now_ms: i64,
        from: i32,
        request: VoteRequest,
    ) -> Result<(), RaftError> {
        let respond = |node: &mut Self, error: RaftErrorCode, granted: bool| {
            let message = RaftMessage::VoteResponse(VoteResponse {
                correlation_id: request.correlation_id,
                error,
                leader_epoch: node.election.epoch,
                leader_id: node.election.leader_id,
                vote_granted: granted,
            });
            node.send(from, message);
        };
        let candidate = request.candidate_id;
        if request.last_offset.0 < 0
            || request.last_offset_epoch.0 < 0
            || request.last_offset_epoch >= request.candidate_epoch
            || candidate != from
        {
            respond(self, RaftErrorCode::InvalidRequest, false);
            return Ok(());
        }
        if request.candidate_epoch < self.election.epoch {
            respond(self, RaftErrorCode::FencedLeaderEpoch, false);
            return Ok(());
        }
        if !self.is_voter() || !self.config.voters.contains(&candidate) {
            respond(self, RaftErrorCode::InconsistentVoterSet, false);
            return Ok(());
        }
        if request.candidate_epoch > self.election.epoch {
            self.transition_to_unattached(now_ms, request.candidate_epoch)?;
        }
        let candidate_log = (request.last_offset_epoch, request.last_offset);
        let up_to_date = candidate_log >= (self.last_fetched_epoch(), self.log.log_end_offset());
        let granted = match &self.state {
            State::Unattached { .. } => up_to_date,
            State::Voted { .. } => self.election.voted_id == Some(candidate),
            State::Candidate(_) | State::Leader(_) | State::Follower(_) | State::Resigned(_) => {
                false
            }
        };
        if granted && matches!(self.state, State::Unattached { .. }) {
            // The vote is durable before the candidate can count it.
            self.transition_to_voted(now_ms, candidate)?;
        }
        tracing::debug!(node = self.config.node_id, candidate, epoch = %request.candidate_epoch, granted, up_to_date, "vote request");
        respond(self, RaftErrorCode::None, granted);
        Ok(())
    }

    fn handle_vote_response(
        &mut self,
        now_ms: i64,
        from: i32,
        response: VoteResponse,
    ) -> Result<(), RaftError> {
        let expected = match &self.state {
            State::Candidate(c) => c
                .votes
                .get(&from)
                .is_some_and(|s| s.correlation_id == Some(response.correlation_id)),
            _ => false,
        };
        if !expected {
            tracing::debug!(
                node = self.config.node_id,
                from,
                correlation_id = response.correlation_id,
                "vote response not awaited; dropped"
            );
            return Ok(());
        }
        let retry_ms = now_ms + self.config.retry_backoff_ms;
        if let Some(slot) = self.candidate_mut().votes.get_mut(&from) {
            *slot = Slot { correlation_id: None, next_send_ms: retry_ms };
        }
        if let Common::Handled = self.handle_common_response(
            now_ms,
            response.error,
            response.leader_id,
            response.leader_epoch,
        )? {
            return Ok(());
        }
        if response.error != RaftErrorCode::None {
            tracing::debug!(node = self.config.node_id, from, error = ?response.error, "vote response with an error; retrying after backoff");
            return Ok(());
        }
        if !matches!(self.state, State::Candidate(_)) {
            return Ok(());
        }
        let retries = self.candidate_mut().retries;
        let backoff_ms = self.election_backoff_ms(retries);
        let majority = self.majority();
        let voters = self.config.voters.len();
        let (me, epoch) = (self.config.node_id, self.election.epoch);
        let candidate = self.candidate_mut();
        candidate.votes.remove(&from);
        if response.vote_granted {
            candidate.granted.insert(from);
        } else {
            candidate.rejected.insert(from);
        }
        assert!(
            candidate.granted.is_disjoint(&candidate.rejected),
            "a voter both granted and rejected"
        );
        if response.vote_granted {
            if self.candidate_has_majority() {
                self.transition_to_leader(now_ms)?;
            }
        } else if voters - candidate.rejected.len() < majority
            && candidate.backoff_until_ms.is_none()
        {
            // A majority said no: waiting for the election timeout would only stall.
            tracing::info!(node = me, epoch = %epoch, rejected = ?candidate.rejected, backoff_ms, "vote rejected by a majority; backing off");
            candidate.backoff_until_ms = Some(now_ms + backoff_ms);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- BeginQuorumEpoch

    fn handle_begin_quorum_epoch_request(
        &mut self,
        now_ms: i64,
        from: i32,
        request: BeginQuorumEpochRequest,
    ) -> Result<(), RaftError> {
        let error = if request.leader_epoch < self.election.epoch {
            RaftErrorCode::FencedLeaderEpoch
        } else if !self.is_voter()
            || !self.config.voters.contains(&request.leader_id)
            || request.leader_id != from
        {
            RaftErrorCode::InconsistentVoterSet
        } else {
            self.maybe_transition(now_ms, Some(request.leader_id), request.leader_epoch)?;
            RaftErrorCode::None
        };
        let message = RaftMessage::BeginQuorumEpochResponse(BeginQuorumEpochResponse {
            correlation_id: request.correlation_id,
            error,
            leader_epoch: self.election.epoch,
            leader_id: self.election.leader_id,
        });
        self.send(from, message);
        Ok(())
    }

    fn handle_begin_quorum_epoch_response(
        &mut self,
        now_ms: i64,
        from: i32,
        response: BeginQuorumEpochResponse,
    ) -> Result<(), RaftError> {
        let BeginQuorumEpochResponse { correlation_id, error, leader_id, leader_epoch } = response;
        let answer = QuorumEpochAnswer { correlation_id, error, leader_id, leader_epoch };
        self.handle_quorum_epoch_answer(now_ms, from, answer, true)
    }

    /// A voter answered a leader's BeginQuorumEpoch (`leading`) or a resigned leader's
    /// EndQuorumEpoch: once it said yes, stop sending it the request.
    fn handle_quorum_epoch_answer(
        &mut self,
        now_ms: i64,
        from: i32,
        answer: QuorumEpochAnswer,
        leading: bool,
    ) -> Result<(), RaftError> {
        let expected = quorum_epoch_waiters(&mut self.state, leading)
            .and_then(|pending| pending.get(&from))
            .is_some_and(|slot| slot.correlation_id == Some(answer.correlation_id));
        if !expected {
            return Ok(());
        }
        let QuorumEpochAnswer { error, leader_id, leader_epoch, .. } = answer;
        if let Common::Handled =
            self.handle_common_response(now_ms, error, leader_id, leader_epoch)?
        {
            return Ok(());
        }
        if error == RaftErrorCode::None {
            if let Some(pending) = quorum_epoch_waiters(&mut self.state, leading) {
                pending.remove(&from);
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- EndQuorumEpoch

    fn handle_end_quorum_epoch_request(
        &mut self,
        now_ms: i64,
        from: i32,
        request: EndQuorumEpochRequest,
    ) -> Result<(), RaftError> {
        let error = if request.leader_epoch < self.election.epoch {
            RaftErrorCode::FencedLeaderEpoch
        } else if !self.is_voter()
            || !self.config.voters.contains(&request.leader_id)
            || request.leader_id != from
        {
            RaftErrorCode::InconsistentVoterSet
        } else {
            self.maybe_transition(now_ms, Some(request.leader_id), request.leader_epoch)?;
            let me = self.config.node_id;
            let backoff_ms = self.end_epoch_backoff_ms(&request.preferred_successors);
            if let State::Follower(follower) = &mut self.state {
                if follower.leader == request.leader_id {
                    tracing::info!(node = me, epoch = %request.leader_epoch, leader = request.leader_id, backoff_ms, "leader resigned; election soon");
                    follower.fetch_deadline_ms =
                        follower.fetch_deadline_ms.min(now_ms + backoff_ms);
                }
            }
            RaftErrorCode::None
        };
        let message = RaftMessage::EndQuorumEpochResponse(EndQuorumEpochResponse {
            correlation_id: request.correlation_id,
            error,
            leader_epoch: self.election.epoch,
            leader_id: self.election.leader_id,
        });
        self.send(from, message);
        Ok(())
    }

    fn handle_end_quorum_epoch_response(
        &mut self,
        now_ms: i64,
        from: i32,
        response: EndQuorumEpochResponse,
    ) -> Result<(), RaftError> {
        let EndQuorumEpochResponse { correlation_id, error, leader_id, leader_epoch } = response;
        let answer = QuorumEpochAnswer { correlation_id, error, leader_id, leader_epoch };
        self.handle_quorum_epoch_answer(now_ms, from, answer, false)
    }

    // ---------------------------------------------------------------- Fetch, leader side

    fn handle_fetch_request(
        &mut self,
        now_ms: i64,
        from: i32,
        request: FetchRequest,
        may_park: bool,
    ) -> Result<(), RaftError> {
        if request.fetch_offset.0 < 0
            || request.last_fetched_epoch.0 < 0
            || request.last_fetched_epoch > request.current_leader_epoch
            || request.max_wait_ms < 0
            || request.replica_id != from
            || from == self.config.node_id
        {
            self.send_fetch_error(from, &request, RaftErrorCode::InvalidRequest);
            return Ok(());
        }
        if request.current_leader_epoch < self.election.epoch {
            self.send_fetch_error(from, &request, RaftErrorCode::FencedLeaderEpoch);
            return Ok(());
        }
        if request.current_leader_epoch > self.election.epoch {
            if matches!(self.state, State::Leader(_)) {
                // Someone follows a newer epoch: this leader is stale.
                tracing::warn!(node = self.config.node_id, epoch = %self.election.epoch, from, fetch_epoch = %request.current_leader_epoch, "fetch from a newer epoch; stepping down");
                self.transition_to_unattached(now_ms, request.current_leader_epoch)?;
            }
            self.send_fetch_error(from, &request, RaftErrorCode::UnknownLeaderEpoch);
            return Ok(());
        }
        if !matches!(self.state, State::Leader(_)) {
            self.send_fetch_error(from, &request, RaftErrorCode::NotLeaderOrFollower);
            return Ok(());
        }
        let is_voter = self.config.voters.contains(&from);
        let majority = self.majority();
        let check_quorum_ms = self.check_quorum_timeout_ms();
        let leader = self.leader_mut();
        if is_voter {
            leader.unacknowledged.remove(&from);
            leader.fetched_voters.insert(from);
            // The leader counts itself: a majority of others means majority - 1 fetchers.
            if leader.fetched_voters.len() + 1 >= majority {
                leader.fetched_voters.clear();
                leader.check_quorum_deadline_ms = now_ms + check_quorum_ms;
            }
        }
        let log_end_offset = self.log.log_end_offset();
        let (end_epoch, end_offset) = self
            .epoch_cache
            .end_offset_for(request.last_fetched_epoch, log_end_offset)
            .unwrap_or((self.last_fetched_epoch(), log_end_offset));
        if end_epoch != request.last_fetched_epoch || end_offset < request.fetch_offset {
            let diverging = DivergingEpoch { epoch: end_epoch, end_offset };
            tracing::debug!(node = self.config.node_id, from, fetch_offset = %request.fetch_offset, last_fetched_epoch = %request.last_fetched_epoch, ?diverging, "fetcher's log diverged");
            let response =
                self.fetch_response(&request, RaftErrorCode::None, Some(diverging), Bytes::new());
            self.send(from, response);
            return Ok(());
        }
        let leader = self.leader_mut();
        if is_voter {
            leader.voters.entry(from).or_default().end_offset = Some(request.fetch_offset);
        } else {
            leader.observers.entry(from).or_default().end_offset = Some(request.fetch_offset);
        }
        let advanced = self.maybe_advance_leader_high_watermark();
        let max_bytes = usize::try_from(request.max_bytes.max(1))
            .unwrap_or(usize::MAX)
            .min(self.config.fetch_max_bytes);
        let records = self.log.read(request.fetch_offset, max_bytes, log_end_offset, true)?.records;
        if records.is_empty() && request.max_wait_ms > 0 && may_park {
            let deadline_ms =
                now_ms + i64::from(request.max_wait_ms).min(self.config.fetch_max_wait_ms);
            let leader = self.leader_mut();
            // Only the newest fetch of a replica is worth answering.
            leader.parked.retain(|p| p.from != from);
            leader.parked.push(ParkedFetch { from, request, deadline_ms });
        } else {
            let response = self.fetch_response(&request, RaftErrorCode::None, None, records);
            self.send(from, response);
        }
        if advanced {
            self.complete_parked_fetches(now_ms, true)?;
        }
        Ok(())
    }

    fn fetch_response(
        &self,
        request: &FetchRequest,
        error: RaftErrorCode,
        diverging_epoch: Option<DivergingEpoch>,
        records: Bytes,
    ) -> RaftMessage {
        RaftMessage::FetchResponse(FetchResponse {
            correlation_id: request.correlation_id,
            error,
            high_watermark: if error == RaftErrorCode::None { self.high_watermark() } else { None },
            log_start_offset: self.log.log_start_offset(),
            diverging_epoch,
            leader_epoch: self.election.epoch,
            leader_id: self.election.leader_id,
            records,
        })
    }

    fn send_fetch_error(&mut self, to: i32, request: &FetchRequest, error: RaftErrorCode) {
        let response = self.fetch_response(request, error, None, Bytes::new());
        self.send(to, response);
    }

    /// Answers held fetches: all of them (`all`, the high watermark moved), or those that
    /// now find records.
    fn complete_parked_fetches(&mut self, now_ms: i64, all: bool) -> Result<(), RaftError> {
        let log_end_offset = self.log.log_end_offset();
        let parked = match &mut self.state {
            State::Leader(leader) => std::mem::take(&mut leader.parked),
            _ => return Ok(()),
        };
        let (ready, waiting): (Vec<_>, Vec<_>) =
            parked.into_iter().partition(|p| all || p.request.fetch_offset < log_end_offset);
        self.leader_mut().parked = waiting;
        for parked in ready {
            self.handle_fetch_request(now_ms, parked.from, parked.request, false)?;
        }
        Ok(())
    }

    fn expire_parked_fetches(&mut self, now_ms: i64) -> Result<(), RaftError> {
        let parked = match &mut self.state {
            State::Leader(leader) => std::mem::take(&mut leader.parked),
            _ => return Ok(()),
        };
        let (expired, waiting): (Vec<_>, Vec<_>) =
            parked.into_iter().partition(|p| p.deadline_ms <= now_ms);
        self.leader_mut().parked = waiting;
        for parked in expired {
            self.handle_fetch_request(now_ms, parked.from, parked.request, false)?;
        }
        Ok(())
    }

    fn flush_leader(&mut self, now_ms: i64) -> Result<(), RaftError> {
        self.log.flush(now_ms)?;
        let me = self.config.node_id;
        let durable = self.log.durable_offset();
        let leader = self.leader_mut();
        leader.flush_deadline_ms = None;
        leader.voters.entry(me).or_default().end_offset = Some(durable);
        if self.maybe_advance_leader_high_watermark() {
            self.complete_parked_fetches(now_ms, true)?;
        }
        Ok(())
    }

    /// Moves the leader's high watermark to the largest offset a majority of voters hold,
    /// once that passes the start of this epoch. Returns whether it moved.
    fn maybe_advance_leader_high_watermark(&mut self) -> bool {
        let voter_count = self.config.voters.len();
        let log_end_offset = self.log.log_end_offset();
        let State::Leader(leader) = &mut self.state else {
            return false;
        };
        let mut offsets: Vec<Option<Offset>> = self
            .config
            .voters
            .iter()
            .map(|v| leader.voters.get(v).and_then(|s| s.end_offset))
            .collect();
        offsets.sort_by(|a, b| b.cmp(a));
        let Some(candidate) = offsets[voter_count / 2] else {
            return false;
        };
        if candidate <= leader.epoch_start_offset {
            return false;
        }
        if leader.high_watermark.is_some_and(|hw| candidate <= hw) {
            return false;
        }
        assert!(
            candidate <= log_end_offset,
            "high watermark {candidate} would pass the log end {log_end_offset}"
        );
        leader.high_watermark = Some(candidate);
        self.raise_max_high_watermark(candidate);
        true
    }

    // ---------------------------------------------------------------- Fetch, fetcher side

    fn send_due_fetch(&mut self, now_ms: i64) {
        let timeout_ms = self.config.request_timeout_ms;
        let (fetcher, to) = match &mut self.state {
            State::Follower(f) => (&mut f.fetcher, Some(f.leader)),
            State::Unattached { election_deadline_ms: None, discovery } => (discovery, None),
            _ => return,
        };
        let due = match fetcher.in_flight {
            Some((_, _, sent_ms)) => sent_ms + timeout_ms <= now_ms,
            None => fetcher.next_send_ms <= now_ms,
        };
        if !due {
            return;
        }
        let to = match to {
            Some(leader) => leader,
            None => {
                // An observer that knows no leader asks a random voter (Kafka's
                // `maybeSendAnyVoterFetch`): any voter's answer names the leader it knows.
                let voters = &self.config.voters;
                voters[self.rng.gen_range(0..voters.len())]
            }
        };
        let correlation_id = self.next_correlation_id();
        let request = FetchRequest {
            correlation_id,
            replica_id: self.config.node_id,
            current_leader_epoch: self.election.epoch,
            fetch_offset: self.log.log_end_offset(),
            last_fetched_epoch: self.last_fetched_epoch(),
            max_wait_ms: i32::try_from(self.config.fetch_max_wait_ms).unwrap_or(i32::MAX),
            max_bytes: i32::try_from(self.config.fetch_max_bytes).unwrap_or(i32::MAX),
        };
        match &mut self.state {
            State::Follower(f) => f.fetcher.in_flight = Some((to, correlation_id, now_ms)),
            State::Unattached { discovery, .. } => {
                discovery.in_flight = Some((to, correlation_id, now_ms))
            }
            _ => unreachable!("checked above"),
        }
        self.send(to, RaftMessage::FetchRequest(request));
    }

    fn handle_fetch_response(
        &mut self,
        now_ms: i64,
        from: i32,
        response: FetchResponse,
    ) -> Result<(), RaftError> {
        let retry_ms = now_ms + self.config.retry_backoff_ms;
        let fetcher = match &mut self.state {
            State::Follower(f) => &mut f.fetcher,
            State::Unattached { election_deadline_ms: None, discovery } => discovery,
            _ => return Ok(()),
        };
        if fetcher.in_flight.map(|(to, id, _)| (to, id)) != Some((from, response.correlation_id)) {
            tracing::debug!(
                node = self.config.node_id,
                from,
                correlation_id = response.correlation_id,
                "fetch response not awaited; dropped"
            );
            return Ok(());
        }
        *fetcher = Fetcher { in_flight: None, next_send_ms: retry_ms };
        let handled = self.handle_common_response(
            now_ms,
            response.error,
            response.leader_id,
            response.leader_epoch,
        )?;
        let from_leader = matches!(&self.state, State::Follower(f) if f.leader == from);
        if matches!(handled, Common::Continue)
            && from_leader
            && response.error == RaftErrorCode::None
        {
            self.apply_fetch_response(now_ms, &response)?;
            if let State::Follower(follower) = &mut self.state {
                follower.fetch_deadline_ms = now_ms + self.config.fetch_timeout_ms;
                follower.fetcher.next_send_ms = now_ms;
            }
        }
        self.send_due_fetch(now_ms);
        Ok(())
    }

    fn apply_fetch_response(
        &mut self,
        now_ms: i64,
        response: &FetchResponse,
    ) -> Result<(), RaftError> {
        if let Some(diverging) = response.diverging_epoch {
            self.truncate_to_end_offset(now_ms, diverging)?;
            return Ok(());
        }
        if !response.records.is_empty() {
            let headers = match batch::validate_all(&response.records) {
                Ok(headers) => headers,
                Err((position, error)) => {
                    tracing::warn!(node = self.config.node_id, position, %error, "corrupt batch in a fetch response; ignored");
                    return Ok(());
                }
            };
            let mut expected = self.log.log_end_offset();
            let mut latest = self.epoch_cache.latest_epoch();
            for (_, header) in &headers {
                let epoch_goes_back = latest.is_some_and(|l| header.partition_leader_epoch < l);
                if header.base_offset != expected
                    || epoch_goes_back
                    || header.partition_leader_epoch > response.leader_epoch
                {
                    tracing::warn!(node = self.config.node_id, offset = %header.base_offset, expected = %expected, epoch = %header.partition_leader_epoch, "fetched batches do not continue the log; ignored");
                    return Ok(());
                }
                expected = header.next_offset();
                latest = Some(header.partition_leader_epoch);
            }
            // A new epoch goes into the cache before its first batch reaches the log.
            for (_, header) in &headers {
                if self.epoch_cache.latest_epoch() < Some(header.partition_leader_epoch) {
                    self.epoch_cache.assign(header.partition_leader_epoch, header.base_offset)?;
                }
            }
            self.log.append_replicated(&response.records, now_ms)?;
            if self.is_voter() {
                // The leader counts a voter's fetch offset as replicated: it must be durable.
                self.log.flush(now_ms)?;
            }
        }
        if let Some(leader_hw) = response.high_watermark {
            let new = leader_hw.min(self.log.log_end_offset());
            let State::Follower(follower) = &mut self.state else {
                unreachable!("only followers apply fetch responses");
            };
            if follower.high_watermark.is_none_or(|hw| new > hw) {
                follower.high_watermark = Some(new);
                self.raise_max_high_watermark(new);
            }
        }
        Ok(())
    }

    /// Kafka's `ReplicatedLog.truncateToEndOffset`: cuts the log where it stops agreeing with
    /// the leader's, as far as the diverging epoch tells.
    fn truncate_to_end_offset(
        &mut self,
        now_ms: i64,
        diverging: DivergingEpoch,
    ) -> Result<(), RaftError> {
        assert!(matches!(self.state, State::Follower(_)), "only followers truncate");
        let log_end_offset = self.log.log_end_offset();
        let truncation = if diverging.epoch.0 == 0 {
            diverging.end_offset.min(log_end_offset)
        } else {
            match self.epoch_cache.end_offset_for(diverging.epoch, log_end_offset) {
                Some((epoch, end)) if epoch == diverging.epoch => end.min(diverging.end_offset),
                Some((_, end)) => end,
                None => log_end_offset.min(diverging.end_offset),
            }
        };
        let truncation = truncation.max(self.log.log_start_offset());
        assert!(
            truncation >= self.committed_offset(),
            "node {}: truncation to {truncation} would drop committed records below {}",
            self.config.node_id,
            self.committed_offset()
        );
        if truncation >= log_end_offset {
            tracing::debug!(
                node = self.config.node_id,
                ?diverging,
                "diverging epoch needs no truncation"
            );
            return Ok(());
        }
        tracing::info!(node = self.config.node_id, ?diverging, from = %log_end_offset, to = %truncation, "truncating to the leader's log");
        // The log first, then the cache: a crash between leaves cache entries past the log
        // end, which the cache drops when it loads.
        let end = self.log.truncate_to(truncation, now_ms)?;
        assert!(
            end >= self.committed_offset(),
            "node {}: the log was cut at {end}, below the committed offset {}",
            self.config.node_id,
            self.committed_offset()
        );
        self.epoch_cache.truncate_from_end(end)?;
        Ok(())
    }

    // ---------------------------------------------------------------- common response handling

    /// Kafka's `maybeHandleCommonResponse`: a response from an older epoch is ignored; one
    /// from a newer epoch, or a fencing error, moves this node to the epoch and leader it
    /// names; one naming a leader this node did not know makes it a follower.
    fn handle_common_response(
        &mut self,
        now_ms: i64,
        error: RaftErrorCode,
        leader: Option<i32>,
        epoch: LeaderEpoch,
    ) -> Result<Common, RaftError> {
        if epoch < self.election.epoch || error == RaftErrorCode::UnknownLeaderEpoch {
            return Ok(Common::Handled);
        }
        if epoch > self.election.epoch
            || error == RaftErrorCode::FencedLeaderEpoch
            || error == RaftErrorCode::NotLeaderOrFollower
        {
            self.maybe_transition(now_ms, leader, epoch)?;
            return Ok(Common::Handled);
        }
        if let Some(leader) = leader {
            if !self.has_leader() && leader != self.config.node_id {
                self.transition_to_follower(now_ms, epoch, leader)?;
                return Ok(if error == RaftErrorCode::None {
                    Common::Continue
                } else {
                    Common::Handled
                });
            }
        }
        Ok(Common::Continue)
    }

    fn has_leader(&self) -> bool {
        matches!(self.state, State::Leader(_) | State::Follower(_) | State::Resigned(_))
    }

    /// Whether `(epoch, leader)` from a message agrees with what this node knows.
    fn consistent_leader(&self, epoch: LeaderEpoch, leader: Option<i32>) -> bool {
        match leader {
            Some(l) if l == self.config.node_id => {
                epoch == self.election.epoch
                    && matches!(self.state, State::Leader(_) | State::Resigned(_))
            }
            Some(l) => {
                epoch != self.election.epoch
                    || !self.has_leader()
                    || self.election.leader_id == Some(l)
            }
            None => true,
        }
    }

    fn maybe_transition(
        &mut self,
        now_ms: i64,
        leader: Option<i32>,
        epoch: LeaderEpoch,
    ) -> Result<(), RaftError> {
        if !self.consistent_leader(epoch, leader) {
            tracing::error!(node = self.config.node_id, epoch = %epoch, leader = ?leader, our_epoch = %self.election.epoch, our_leader = ?self.election.leader_id, "message names a leader inconsistent with ours; ignored");
            return Ok(());
        }
        if epoch > self.election.epoch {
            match leader {
                Some(leader) => self.transition_to_follower(now_ms, epoch, leader)?,
                None => self.transition_to_unattached(now_ms, epoch)?,
            }
        } else if let Some(leader) = leader {
            if epoch == self.election.epoch && !self.has_leader() && leader != self.config.node_id {
                self.transition_to_follower(now_ms, epoch, leader)?;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- transitions

    fn transition_to_unattached(
        &mut self,
        now_ms: i64,
        epoch: LeaderEpoch,
    ) -> Result<(), RaftError> {
        assert!(epoch >= self.election.epoch, "epochs never go back");
        assert!(
            epoch > self.election.epoch || !self.is_voter(),
            "a voter becomes unattached only in a newer epoch"
        );
        // Kafka's `transitionToUnattached`: a voter that had no leader keeps its running
        // election timer. Restarting it would let a candidate that can never win (its log is
        // behind) hold off every other voter forever by standing again and again.
        let running_deadline = match &self.state {
            State::Unattached { election_deadline_ms, .. } => *election_deadline_ms,
            State::Voted { election_deadline_ms } => Some(*election_deadline_ms),
            State::Candidate(candidate) => Some(candidate.election_deadline_ms),
            State::Leader(_) | State::Follower(_) | State::Resigned(_) => None,
        };
        let parked = self.take_parked();
        let voted = if epoch == self.election.epoch { self.election.voted_id } else { None };
        self.persist_election(ElectionState { epoch, leader_id: None, voted_id: voted })?;
        let deadline = match running_deadline {
            Some(deadline) if self.is_voter() => Some(deadline),
            _ => self.is_voter().then(|| now_ms + self.random_election_timeout_ms()),
        };
        self.state =
            State::Unattached { election_deadline_ms: deadline, discovery: Fetcher::ready(now_ms) };
        self.emit_leader_change();
        self.answer_parked(now_ms, parked)?;
        self.send_due_fetch(now_ms);
        Ok(())
    }

    fn transition_to_voted(&mut self, now_ms: i64, candidate: i32) -> Result<(), RaftError> {
        assert!(matches!(self.state, State::Unattached { .. }), "votes are cast while unattached");
        assert_eq!(self.election.voted_id, None, "one vote per epoch");
        let election = ElectionState { voted_id: Some(candidate), ..self.election };
        self.persist_election(election)?;
        self.state =
            State::Voted { election_deadline_ms: now_ms + self.random_election_timeout_ms() };
        Ok(())
    }

    fn transition_to_candidate(&mut self, now_ms: i64) -> Result<(), RaftError> {
        assert!(self.is_voter(), "only voters stand for election");
        let retries = match &self.state {
            State::Candidate(c) => c.retries + 1,
            _ => 1,
        };
        let parked = self.take_parked();
        let me = self.config.node_id;
        let epoch = LeaderEpoch(self.election.epoch.0.checked_add(1).expect("epoch overflow"));
        // The self-vote is durable before any Vote request leaves.
        self.persist_election(ElectionState { epoch, leader_id: None, voted_id: Some(me) })?;
        self.state = State::Candidate(CandidateState {
            granted: BTreeSet::from([me]),
            rejected: BTreeSet::new(),
            retries,
            election_deadline_ms: now_ms + self.random_election_timeout_ms(),
            backoff_until_ms: None,
            votes: self.other_voter_slots(now_ms),
        });
        tracing::info!(node = me, epoch = %epoch, retries, last_epoch = %self.last_fetched_epoch(), log_end_offset = %self.log.log_end_offset(), "standing for election");
        self.emit_leader_change();
        self.answer_parked(now_ms, parked)?;
        if self.candidate_has_majority() {
            self.transition_to_leader(now_ms)?;
        } else {
            self.send_due_votes(now_ms);
        }
        Ok(())
    }

    fn transition_to_leader(&mut self, now_ms: i64) -> Result<(), RaftError> {
        assert!(self.candidate_has_majority(), "a leader needs a majority of votes");
        let me = self.config.node_id;
        let epoch = self.election.epoch;
        let granting: Vec<i32> = match &self.state {
            State::Candidate(c) => c.granted.iter().copied().collect(),
            _ => unreachable!("checked by candidate_has_majority"),
        };
        self.persist_election(ElectionState { epoch, leader_id: Some(me), voted_id: Some(me) })?;
        let epoch_start_offset = self.log.log_end_offset();
        // The epoch enters the cache before its first batch, the LeaderChange record.
        self.epoch_cache.assign(epoch, epoch_start_offset)?;
        let leader_change = leader_change_batch(me, &self.config.voters, &granting, now_ms);
        let info = self.log.append(&leader_change, epoch, now_ms)?;
        assert_eq!(info.first_offset, epoch_start_offset, "the epoch starts with LeaderChange");
        self.log.flush(now_ms)?;
        let mut voters: BTreeMap<i32, ReplicaState> =
            self.config.voters.iter().map(|&v| (v, ReplicaState::default())).collect();
        voters.insert(me, ReplicaState { end_offset: Some(self.log.durable_offset()) });
        self.state = State::Leader(Box::new(LeaderState {
            epoch_start_offset,
            voters,
            observers: BTreeMap::new(),
            high_watermark: None,
            unacknowledged: self.other_voter_slots(now_ms),
            check_quorum_deadline_ms: now_ms + self.check_quorum_timeout_ms(),
            fetched_voters: BTreeSet::new(),
            parked: Vec::new(),
            flush_deadline_ms: None,
        }));
        tracing::info!(node = me, epoch = %epoch, epoch_start_offset = %epoch_start_offset, granting = ?granting, "elected leader");
        self.emit_leader_change();
        self.send_due_begin_quorum_epochs(now_ms);
        self.maybe_advance_leader_high_watermark();
        Ok(())
    }

    fn transition_to_follower(
        &mut self,
        now_ms: i64,
        epoch: LeaderEpoch,
        leader: i32,
    ) -> Result<(), RaftError> {
        assert_ne!(leader, self.config.node_id, "a node does not follow itself");
        assert!(epoch >= self.election.epoch, "epochs never go back");
        if epoch == self.election.epoch {
            assert!(
                !matches!(self.state, State::Leader(_) | State::Resigned(_)),
                "node {} led epoch {epoch}, so {leader} cannot lead it (ElectionSafety)",
                self.config.node_id
            );
            if let State::Follower(f) = &self.state {
                assert_eq!(f.leader, leader, "one leader per epoch (ElectionSafety)");
                return Ok(());
            }
        }
        let parked = self.take_parked();
        let voted = if epoch == self.election.epoch { self.election.voted_id } else { None };
        self.persist_election(ElectionState { epoch, leader_id: Some(leader), voted_id: voted })?;
        self.state = State::Follower(FollowerState {
            leader,
            fetch_deadline_ms: now_ms + self.config.fetch_timeout_ms,
            fetcher: Fetcher::ready(now_ms),
            high_watermark: None,
        });
        tracing::info!(node = self.config.node_id, epoch = %epoch, leader, "following");
        self.emit_leader_change();
        self.answer_parked(now_ms, parked)?;
        self.send_due_fetch(now_ms);
        Ok(())
    }

    fn transition_to_resigned(
        &mut self,
        now_ms: i64,
        preferred_successors: Vec<i32>,
    ) -> Result<(), RaftError> {
        assert!(matches!(self.state, State::Leader(_)), "only a leader resigns");
        let parked = self.take_parked();
        self.state = State::Resigned(ResignedState {
            election_deadline_ms: now_ms + self.random_election_timeout_ms(),
            preferred_successors,
            unacknowledged: self.other_voter_slots(now_ms),
        });
        tracing::info!(node = self.config.node_id, epoch = %self.election.epoch, "resigned");
        self.answer_parked(now_ms, parked)?;
        self.send_due_end_quorum_epochs(now_ms);
        Ok(())
    }

    fn take_parked(&mut self) -> Vec<ParkedFetch> {
        match &mut self.state {
            State::Leader(leader) => std::mem::take(&mut leader.parked),
            _ => Vec::new(),
        }
    }

    /// Answers fetches held by a leader that no longer leads (with the new state's error).
    fn answer_parked(&mut self, now_ms: i64, parked: Vec<ParkedFetch>) -> Result<(), RaftError> {
        for parked in parked {
            self.handle_fetch_request(now_ms, parked.from, parked.request, false)?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- sending requests

    fn other_voter_slots(&self, now_ms: i64) -> BTreeMap<i32, Slot> {
        self.config
            .voters
            .iter()
            .filter(|&&v| v != self.config.node_id)
            .map(|&v| (v, Slot { correlation_id: None, next_send_ms: now_ms }))
            .collect()
    }

    /// Takes the slots due at `now_ms`, stamps each with a new correlation id and its next
    /// send time; returns `(to, correlation_id)` for each.
    fn due_slots(
        slots: &mut BTreeMap<i32, Slot>,
        now_ms: i64,
        interval_ms: i64,
        next_correlation_id: &mut i32,
    ) -> Vec<(i32, i32)> {
        let mut due = Vec::new();
        for (&to, slot) in slots.iter_mut() {
            if slot.next_send_ms <= now_ms {
                let id = *next_correlation_id;
                *next_correlation_id = next_correlation_id.wrapping_add(1) & i32::MAX;
                *slot = Slot { correlation_id: Some(id), next_send_ms: now_ms + interval_ms };
                due.push((to, id));
            }
        }
        due
    }

    fn send_due_votes(&mut self, now_ms: i64) {
        let interval = self.config.request_timeout_ms;
        let State::Candidate(candidate) = &mut self.state else {
            return;
        };
        if candidate.backoff_until_ms.is_some() {
            return;
        }
        let due =
            Self::due_slots(&mut candidate.votes, now_ms, interval, &mut self.next_correlation_id);
        for (to, correlation_id) in due {
            let request = VoteRequest {
                correlation_id,
                candidate_epoch: self.election.epoch,
                candidate_id: self.config.node_id,
                last_offset_epoch: self.last_fetched_epoch(),
                last_offset: self.log.log_end_offset(),
            };
            self.send(to, RaftMessage::VoteRequest(request));
        }
    }

    fn send_due_begin_quorum_epochs(&mut self, now_ms: i64) {
        let interval = (self.config.fetch_timeout_ms / 2).max(1);
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        let due = Self::due_slots(
            &mut leader.unacknowledged,
            now_ms,
            interval,
            &mut self.next_correlation_id,
        );
        for (to, correlation_id) in due {
            let request = BeginQuorumEpochRequest {
                correlation_id,
                leader_epoch: self.election.epoch,
                leader_id: self.config.node_id,
            };
            self.send(to, RaftMessage::BeginQuorumEpochRequest(request));
        }
    }

    fn send_due_end_quorum_epochs(&mut self, now_ms: i64) {
        let interval = self.config.request_timeout_ms;
        let State::Resigned(resigned) = &mut self.state else {
            return;
        };
        let due = Self::due_slots(
            &mut resigned.unacknowledged,
            now_ms,
            interval,
            &mut self.next_correlation_id,
        );
        let successors = resigned.preferred_successors.clone();
        for (to, correlation_id) in due {
            let request = EndQuorumEpochRequest {
                correlation_id,
                leader_epoch: self.election.epoch,
                leader_id: self.config.node_id,
                preferred_successors: successors.clone(),
            };
            self.send(to, RaftMessage::EndQuorumEpochRequest(request));
        }
    }

    fn send(&mut self, to: i32, message: RaftMessage) {
        tracing::trace!(node = self.config.node_id, to, %message, "raft message out");
        self.outputs.push_back(RaftOutput::Send { to, message });
    }

    fn next_correlation_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1) & i32::MAX;
        id
    }

    // ---------------------------------------------------------------- helpers

    fn majority(&self) -> usize {
        self.config.voters.len() / 2 + 1
    }

    fn candidate_has_majority(&self) -> bool {
        match &self.state {
            State::Candidate(c) => c.granted.len() >= self.majority(),
            _ => false,
        }
    }

    fn candidate_mut(&mut self) -> &mut CandidateState {
        match &mut self.state {
            State::Candidate(c) => c,
            _ => unreachable!("not a candidate"),
        }
    }

    fn leader_mut(&mut self) -> &mut LeaderState {
        match &mut self.state {
            State::Leader(l) => l,
            _ => unreachable!("not the leader"),
        }
    }

    fn random_election_timeout_ms(&mut self) -> i64 {
        let base = self.config.election_timeout_ms;
        base + self.rng.gen_range(0..base)
    }

    /// Kafka's `binaryExponentialElectionBackoffMs`.
    fn election_backoff_ms(&mut self, retries: u32) -> i64 {
        assert!(retries > 0, "backoff after at least one try");
        let bound = 2i64 << retries.saturating_sub(1).min(20);
        (ELECTION_BACKOFF_BASE_MS * self.rng.gen_range(0..bound))
            .min(self.config.election_backoff_max_ms)
    }

    /// Kafka's `endEpochElectionBackoff`: the first successor stands at once, the others
    /// wait longer by rank (`strictExponentialElectionBackoffMs`); a voter not named waits
    /// the longest.
    fn end_epoch_backoff_ms(&self, successors: &[i32]) -> i64 {
        let max = self.config.election_backoff_max_ms;
        match successors.iter().position(|&s| s == self.config.node_id) {
            Some(0) => 0,
            Some(position) => {
                let total = successors.len() as u32;
                let base = max >> (total - 1).min(62);
                (base << (position as u32 - 1).min(62)).min(max)
            }
            None => max,
        }
    }

    fn check_quorum_timeout_ms(&self) -> i64 {
        (self.config.fetch_timeout_ms as f64 * CHECK_QUORUM_TIMEOUT_FACTOR) as i64
    }

    fn raise_max_high_watermark(&mut self, offset: Offset) {
        assert!(
            offset <= self.log.log_end_offset(),
            "high watermark {offset} passes the log end {}",
            self.log.log_end_offset()
        );
        if self.max_high_watermark.is_none_or(|max| offset > max) {
            self.max_high_watermark = Some(offset);
            self.outputs.push_back(RaftOutput::HighWatermark(offset));
        }
    }

    /// Writes the election state durably, checking that it only moves forward.
    fn persist_election(&mut self, new: ElectionState) -> Result<(), RaftError> {
        let old = self.election;
        assert!(new.epoch >= old.epoch, "epoch went back from {} to {}", old.epoch, new.epoch);
        if new.epoch == old.epoch {
            if let (Some(a), Some(b)) = (old.voted_id, new.voted_id) {
                assert_eq!(a, b, "two votes in epoch {}", new.epoch);
            }
            assert!(
                !(old.voted_id.is_some() && new.voted_id.is_none() && self.is_voter()),
                "a vote in epoch {} was forgotten",
                new.epoch
            );
            if let (Some(a), Some(b)) = (old.leader_id, new.leader_id) {
                assert_eq!(a, b, "two leaders in epoch {} (ElectionSafety)", new.epoch);
            }
        }
        if new != old {
            self.write_election(new)?;
        }
        Ok(())
    }

    fn write_election(&mut self, new: ElectionState) -> Result<(), RaftError> {
        quorum_state::write(&self.storage, &self.dir, new, &self.config.voters)?;
        self.election = new;
        Ok(())
    }

    fn emit_leader_change(&mut self) {
        let current = (self.election.epoch, self.election.leader_id);
        if self.last_leader_change != Some(current) {
            self.last_leader_change = Some(current);
            self.outputs
                .push_back(RaftOutput::LeaderChange { epoch: current.0, leader: current.1 });
        }
    }

    fn check_online(&self) -> Result<(), RaftError> {
        match &self.offline {
            Some(reason) => {
                Err(RaftError::Offline { node_id: self.config.node_id, reason: reason.clone() })
            }
            None => Ok(()),
        }
    }

    fn fail_stop<T>(&mut self, result: Result<T, RaftError>) -> Result<T, RaftError> {
        if let Err(error) = &result {
            tracing::error!(node = self.config.node_id, %error, "raft node failed; taking it offline");
            self.offline = Some(error.to_string());
        }
        result
    }

    fn assert_invariants(&self) {
        let log_end_offset = self.log.log_end_offset();
        if let Some(hw) = self.high_watermark() {
            assert!(hw <= log_end_offset, "high watermark {hw} above the log end {log_end_offset}");
        }
        if let Some(max) = self.max_high_watermark {
            assert!(
                max <= log_end_offset,
                "committed offset {max} above the log end {log_end_offset}"
            );
            if let Some(hw) = self.high_watermark() {
                assert!(hw <= max, "the current high watermark is the highest known");
            }
        }
        assert!(
            self.epoch_cache.latest_epoch().unwrap_or(LeaderEpoch(0)) <= self.election.epoch,
            "the log holds epoch {:?}, newer than the node's {}",
            self.epoch_cache.latest_epoch(),
            self.election.epoch
        );
        let me = Some(self.config.node_id);
        match &self.state {
            State::Unattached { .. } => assert_eq!(self.election.leader_id, None),
            State::Voted { .. } => {
                assert_eq!(self.election.leader_id, None);
                assert!(self.election.voted_id.is_some(), "a Voted node has voted");
            }
            State::Candidate(c) => {
                assert_eq!(self.election.voted_id, me, "a candidate votes for itself");
                assert_eq!(self.election.leader_id, None);
                assert!(c.granted.contains(&self.config.node_id));
            }
            State::Leader(l) => {
                assert_eq!(self.election.leader_id, me);
                assert_eq!(self.epoch_cache.latest_epoch(), Some(self.election.epoch));
                assert!(l.epoch_start_offset < log_end_offset, "the epoch starts with a batch");
                if let Some(hw) = l.high_watermark {
                    assert!(hw > l.epoch_start_offset, "a leader commits through its own epoch");
                }
            }
            State::Follower(f) => {
                assert_eq!(self.election.leader_id, Some(f.leader));
                assert_ne!(Some(f.leader), me);
            }
            State::Resigned(_) => assert_eq!(self.election.leader_id, me),
        }
    }
}

/// Encodes the LeaderChange control batch a new leader writes at the start of its epoch
/// (Kafka's `LeaderChangeMessage` v0 under control record key type 2).
fn leader_change_batch(leader_id: i32, voters: &[i32], granting: &[i32], now_ms: i64) -> Bytes {
    use kafka_protocol::messages::leader_change_message::{LeaderChangeMessage, Voter};
    use kafka_protocol::protocol::Encodable;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let to_voters =
        |ids: &[i32]| ids.iter().map(|&id| Voter::default().with_voter_id(id)).collect::<Vec<_>>();
    let message = LeaderChangeMessage::default()
        .with_version(0)
        .with_leader_id(leader_id.into())
        .with_voters(to_voters(voters))
        .with_granting_voters(to_voters(granting));
    let mut value = BytesMut::new();
    message.encode(&mut value, 0).expect("LeaderChangeMessage encodes");
    let mut key = BytesMut::new();
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&LEADER_CHANGE_CONTROL_TYPE.to_be_bytes());
    let record = Record {
        transactional: false,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut buf, [&record], &options)
        .expect("encoding into memory cannot fail");
    buf.freeze()
}

/// Decodes whole batches into records with their offsets and batch epochs. Batches that do
/// not decode are skipped with a warning (the log validated their CRCs when storing them).
pub fn decode_records(records: &Bytes) -> Vec<LogRecord> {
    let mut out = Vec::new();
    let mut rest = records.clone();
    while !rest.is_empty() {
        let Ok(header) = BatchHeader::parse(&rest) else {
            tracing::warn!("undecodable batch header; stopping");
            break;
        };
        let mut one = rest.slice(..header.total_bytes().min(rest.len()));
        rest = rest.slice(header.total_bytes().min(rest.len())..);
        match kafka_protocol::records::RecordBatchDecoder::decode(&mut one) {
            Ok(set) => {
                for record in set.records {
                    out.push(LogRecord {
                        offset: Offset(record.offset),
                        epoch: header.partition_leader_epoch,
                        control: record.control,
                        value: record.value,
                    });
                }
            }
            Err(error) => {
                tracing::warn!(offset = %header.base_offset, %error, "undecodable batch; skipped");
            }
        }
    }
    out
}

fn last_batch_end(records: &[u8]) -> Option<Offset> {
    let mut rest = records;
    let mut end = None;
    while let Ok(header) = BatchHeader::parse(rest) {
        end = Some(header.next_offset());
        if header.total_bytes() > rest.len() {
            break;
        }
        rest = &rest[header.total_bytes()..];
    }
    end
}
