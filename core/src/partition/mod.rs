//! One partition replica on this broker, as a sans-IO replication state machine: its log, its
//! leader-epoch cache, its high watermark, and its role (leader or follower) as the committed
//! metadata names it.
//!
//! Inputs: the role from committed metadata (`become_leader`, `become_follower`,
//! `update_partition_state`) and the brokers that may join an ISR
//! (`set_isr_eligible_brokers`); as leader, producer appends, follower fetches and the answers
//! to this replica's AlterPartition proposals; as follower, the leader's fetch responses;
//! time (`now_ms`) for the ISR lag rule. Outputs: fetch answers for followers, the fetch a
//! follower should send ([`Partition::fetch_position`]), ISR proposals for the controller
//! ([`Partition::poll_isr_change`]), acks=all completion, and the high watermark consumers read
//! up to. The caller owns the network: nothing here sends or waits.
//!
//! Invariants:
//! - `log_start_offset <= high_watermark <= log_end_offset`;
//! - the leader epoch never goes backwards; a leader's high watermark never goes backwards
//!   while it leads (a follower's follows its leader's, as Kafka's does);
//! - leader: the high watermark is the smallest log end offset over the *maximal ISR* (the
//!   committed ISR plus a pending expansion, KIP-497), and ISR-eligible replicas (unfenced,
//!   not shutting down, of their registered broker epoch: KIP-841) that are caught up and
//!   only waiting to join; it does not move while the committed ISR is below the effective
//!   `min.insync.replicas` (min of the setting and the replica count; KIP-966, as Kafka 4
//!   does unconditionally);
//! - leader: at most one ISR proposal in flight; a follower joins only once its log end
//!   offset reached the high watermark and the start offset of the leader's epoch (KAFKA-7128),
//!   it fetched in the current leader epoch (KIP-320) and it is ISR-eligible (KIP-841);
//! - follower: on a diverging epoch, the log is truncated before the high watermark is
//!   raised (KAFKA-14704); batches keep their leader epochs and the epoch cache records them.
//!
//! Historical switches honoured ([`HistoricalBehaviours`]): `hw_truncation` (pre-KIP-101:
//! a new follower truncates to its checkpointed high watermark, no diverging epochs),
//! `no_maximal_isr` (pre-KIP-497: the high watermark counts the committed ISR only),
//! `hw_before_truncation` (KAFKA-14704: the high watermark of a diverging response is applied
//! first, the truncation only when the next response is handled), and
//! `no_eligible_leader_replicas` (pre-KIP-966: the high watermark also moves below min ISR).
//!
//! The high watermark is checkpointed in `replication-offset-checkpoint` in the partition
//! directory (Kafka keeps one such file per log dir), replaced atomically at most every
//! [`HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS`] when it changed (Kafka's periodic checkpoint: after
//! a crash a replica restarts from an older high watermark, as Kafka's do) and at a clean
//! close, on a partition with more than one replica; a single-replica leader's high watermark
//! is its log end offset and needs no file.

#[cfg(test)]
mod tests;

use crate::config::{HistoricalBehaviours, TimestampType, TopicSettings};
use crate::log::batch::BatchHeader;
use crate::log::{checkpoint, AppendInfo, LeaderEpochCache, Log, LogError, ReadResult};
use crate::protocol::ErrorCode;
use crate::storage::Storage;
use crate::types::{LeaderEpoch, Offset, TopicPartition};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The high watermark checkpoint's name in the partition directory.
pub const HIGH_WATERMARK_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";
/// Kafka's `replica.high.watermark.checkpoint.interval.ms`: how often a changed high
/// watermark is written out. Not on every change: that is an fsync per acknowledged batch.
pub const HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS: i64 = 5_000;
/// Kafka's default `replica.lag.time.max.ms`.
pub const DEFAULT_REPLICA_LAG_TIME_MAX_MS: i64 = 30_000;

/// A partition's leader and ISR as the committed metadata has them (Kafka's
/// `PartitionRegistration`, the parts a replica needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderAndIsr {
    /// The leader's broker id; -1 when the partition has none.
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Eligible leader replicas (KIP-966); kept for the caller, not used by the leader.
    pub elr: Vec<i32>,
}

/// A follower's fetch of this partition, as the leader receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowerFetch {
    pub replica_id: i32,
    /// The follower's broker epoch (KIP-903); -1 when unknown.
    pub replica_broker_epoch: i64,
    pub fetch_offset: Offset,
    /// The epoch of the follower's last batch; -1 when unknown.
    pub last_fetched_epoch: i32,
    /// The leader epoch the follower believes in; -1 when unknown.
    pub current_leader_epoch: i32,
    pub log_start_offset: Offset,
}

/// What the leader answers a follower's fetch with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowerFetchAnswer {
    /// `Some((epoch, end_offset))` when the follower's log diverges from the leader's: no
    /// records then; the follower must truncate and fetch again.
    pub diverging_epoch: Option<(i32, i64)>,
    /// Stored batches from the fetch offset on (empty with a diverging epoch).
    pub records: Bytes,
    pub high_watermark: Offset,
    pub log_start_offset: Offset,
    /// The leader's log end offset when it read (not on the wire; for the caller's
    /// long-poll decisions).
    pub log_end_offset: Offset,
}

/// One partition of a fetch response, as a follower receives it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchedPartition {
    pub error_code: i16,
    /// -1 when the leader sent none.
    pub high_watermark: i64,
    /// -1 when the leader sent none.
    pub log_start_offset: i64,
    pub diverging_epoch: Option<(i32, i64)>,
    pub records: Bytes,
}

/// An AlterPartition proposal: the ISR this leader wants the controller to commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsrProposal {
    pub leader_epoch: i32,
    /// The partition epoch the proposal is based on (the controller rejects a stale one).
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
    /// The broker epoch each `new_isr` member last fetched with (KIP-903), -1 when unknown
    /// (the leader itself, or a member that has not fetched in this leadership).
    pub new_isr_broker_epochs: Vec<i64>,
}

/// Why an append to the partition was refused, or how an acks=all append ended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("acks=all needs {min_insync_replicas} in-sync replicas, the ISR has {isr_size}")]
    NotEnoughReplicas { isr_size: usize, min_insync_replicas: i32 },
    #[error(
        "the records were appended, but the ISR has {isr_size} members, fewer than \
         min.insync.replicas={min_insync_replicas}"
    )]
    NotEnoughReplicasAfterAppend { isr_size: usize, min_insync_replicas: i32 },
    #[error("this replica is not the partition's leader")]
    NotLeaderOrFollower,
    #[error(transparent)]
    Log(#[from] LogError),
}

impl AppendError {
    /// The Kafka error code a produce response carries for this error.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            AppendError::NotEnoughReplicas { .. } => ErrorCode::NotEnoughReplicas,
            AppendError::NotEnoughReplicasAfterAppend { .. } => {
                ErrorCode::NotEnoughReplicasAfterAppend
            }
            AppendError::NotLeaderOrFollower => ErrorCode::NotLeaderOrFollower,
            AppendError::Log(log) => crate::broker::log_error_code(log),
        }
    }
}

/// Why a replication exchange (a follower fetch at the leader, a fetch response at the
/// follower) failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("request leader epoch {request} is older than the current {current}")]
    FencedLeaderEpoch { request: i32, current: i32 },
    #[error("request leader epoch {request} is newer than the current {current}")]
    UnknownLeaderEpoch { request: i32, current: i32 },
    #[error("not the leader or a follower of this partition: {0}")]
    NotLeaderOrFollower(String),
    #[error(
        "offset {offset} is out of range: the log holds [{log_start_offset}, {log_end_offset})"
    )]
    OffsetOutOfRange { offset: Offset, log_start_offset: Offset, log_end_offset: Offset },
    /// The leader answered the follower's fetch with this error code.
    #[error("the leader answered error code {0}")]
    Leader(i16),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl From<crate::storage::StorageError> for ReplicaError {
    fn from(error: crate::storage::StorageError) -> Self {
        ReplicaError::Log(LogError::Storage(error))
    }
}

impl ReplicaError {
    /// The Kafka error code for this error.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ReplicaError::FencedLeaderEpoch { .. } => ErrorCode::FencedLeaderEpoch,
            ReplicaError::UnknownLeaderEpoch { .. } => ErrorCode::UnknownLeaderEpoch,
            ReplicaError::NotLeaderOrFollower(_) => ErrorCode::NotLeaderOrFollower,
            ReplicaError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            ReplicaError::Leader(code) => {
                ErrorCode::try_from_code(*code).unwrap_or(ErrorCode::UnknownServerError)
            }
            ReplicaError::Log(log) => crate::broker::log_error_code(log),
        }
    }

    /// The Kafka error code as it goes on the wire.
    pub fn code(&self) -> i16 {
        self.error_code().code()
    }
}

/// What a leader knows of one follower (Kafka's `ReplicaState`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct RemoteReplica {
    /// `None` until it fetches in this leadership.
    log_end_offset: Option<Offset>,
    log_start_offset: Option<Offset>,
    /// The last time its log end offset was at the leader's (or reached what the leader's was
    /// at its previous fetch).
    last_caught_up_ms: i64,
    /// The leader's log end offset at the follower's previous fetch.
    last_fetch_leader_log_end_offset: Option<Offset>,
    last_fetch_ms: i64,
    broker_epoch: Option<i64>,
    /// Whether its last fetch named the current leader epoch (KIP-320).
    fetched_in_current_epoch: bool,
}

impl RemoteReplica {
    fn reset(now_ms: i64, in_isr: bool) -> Self {
        RemoteReplica {
            log_end_offset: None,
            log_start_offset: None,
            // An ISR member gets a full lag period to fetch; anyone else must catch up first.
            last_caught_up_ms: if in_isr { now_ms } else { 0 },
            last_fetch_leader_log_end_offset: None,
            last_fetch_ms: 0,
            broker_epoch: None,
            fetched_in_current_epoch: false,
        }
    }

    /// Kafka's `isCaughtUp`: at the leader's log end, or caught up within the lag time.
    fn is_caught_up(&self, leader_log_end_offset: Offset, now_ms: i64, max_lag_ms: i64) -> bool {
        self.log_end_offset == Some(leader_log_end_offset)
            || now_ms.saturating_sub(self.last_caught_up_ms) <= max_lag_ms
    }
}

/// What only a leader keeps.
#[derive(Debug)]
struct LeaderState {
    /// The first offset of this leader's epoch (LESO).
    epoch_start_offset: Offset,
    followers: BTreeMap<i32, RemoteReplica>,
    /// The AlterPartition proposal in flight, and whether `poll_isr_change` handed it out.
    in_flight: Option<(IsrProposal, bool)>,
}

#[derive(Debug)]
enum Role {
    /// Opened, no role from the metadata yet.
    None,
    Leader(LeaderState),
    Follower {
        leader: Option<i32>,
    },
}

/// A partition replica on this broker.
pub struct Partition<S: Storage> {
    topic_partition: TopicPartition,
    storage: S,
    dir: PathBuf,
    log: Log<S>,
    epoch_cache: LeaderEpochCache<S>,
    settings: TopicSettings,
    historical: HistoricalBehaviours,
    local_broker_id: i32,
    broker_epoch: i64,
    replica_lag_time_max_ms: i64,
    /// The brokers that may join an ISR, with their registered broker epochs: registered,
    /// unfenced and not shutting down, as the caller's metadata has them (Kafka's
    /// `isReplicaIsrEligible` reads its metadata cache). Empty until the caller says.
    isr_eligible_brokers: Arc<BTreeMap<i32, i64>>,
    leader_epoch: LeaderEpoch,
    partition_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    elr: Vec<i32>,
    role: Role,
    high_watermark: Offset,
    checkpointed_high_watermark: Option<Offset>,
    /// When the checkpoint was last written (or the replica opened): the next write of a
    /// changed high watermark is due [`HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS`] later.
    last_checkpoint_ms: i64,
    /// `hw_before_truncation` only: a diverging epoch whose truncation waits for the next
    /// fetch response.
    pending_divergence: Option<(i32, i64)>,
    opened_clean: bool,
}

impl<S: Storage> std::fmt::Debug for Partition<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("topic_partition", &self.topic_partition)
            .field("local_broker_id", &self.local_broker_id)
            .field("role", &self.role)
            .field("leader_epoch", &self.leader_epoch)
            .field("partition_epoch", &self.partition_epoch)
            .field("isr", &self.isr)
            .field("high_watermark", &self.high_watermark)
            .field("log", &self.log)
            .finish()
    }
}

impl<S: Storage> Partition<S> {
    /// Opens the replica's log, its leader-epoch cache and its high watermark checkpoint. The
    /// replica has no role until the metadata gives it one.
    pub fn open(
        storage: S,
        dir: PathBuf,
        topic_partition: TopicPartition,
        settings: TopicSettings,
        local_broker_id: i32,
        historical: HistoricalBehaviours,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        let log = Log::open(storage.clone(), dir.clone(), settings.log.clone(), now_ms)?;
        let epoch_cache = LeaderEpochCache::load(storage.clone(), &log)?;
        let opened_clean = log.recovery_report().clean_shutdown;
        let checkpointed = read_high_watermark(&storage, &dir)?;
        let high_watermark = checkpointed
            .unwrap_or(Offset::ZERO)
            .clamp(log.log_start_offset(), log.log_end_offset());
        let partition = Partition {
            topic_partition,
            storage,
            dir,
            log,
            epoch_cache,
            settings,
            historical,
            local_broker_id,
            broker_epoch: -1,
            replica_lag_time_max_ms: DEFAULT_REPLICA_LAG_TIME_MAX_MS,
            isr_eligible_brokers: Arc::default(),
            leader_epoch: LeaderEpoch::UNKNOWN,
            partition_epoch: -1,
            replicas: Vec::new(),
            isr: Vec::new(),
            elr: Vec::new(),
            role: Role::None,
            high_watermark,
            checkpointed_high_watermark: checkpointed,
            last_checkpoint_ms: now_ms,
            pending_divergence: None,
            opened_clean,
        };
        partition.assert_invariants();
        Ok(partition)
    }

    /// Opens the replica's log and leads it alone (replicas = ISR = {this broker}) at
    /// `leader_epoch`: the single-broker path.
    pub fn open_leader(
        storage: S,
        dir: PathBuf,
        topic_partition: TopicPartition,
        settings: TopicSettings,
        leader_epoch: LeaderEpoch,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        const LOCAL: i32 = 0;
        let mut partition = Self::open(
            storage,
            dir,
            topic_partition,
            settings,
            LOCAL,
            HistoricalBehaviours::default(),
            now_ms,
        )?;
        partition.become_leader(
            now_ms,
            &LeaderAndIsr {
                leader: LOCAL,
                leader_epoch: leader_epoch.0.max(0),
                partition_epoch: 0,
                replicas: vec![LOCAL],
                isr: vec![LOCAL],
                elr: Vec::new(),
            },
        )?;
        Ok(partition)
    }

    /// This broker's epoch from its registration (KIP-903), sent in its fetches.
    pub fn set_broker_epoch(&mut self, broker_epoch: i64) {
        self.broker_epoch = broker_epoch;
    }

    /// `replica.lag.time.max.ms`: how long an ISR member may go without catching up.
    pub fn set_replica_lag_time_max_ms(&mut self, replica_lag_time_max_ms: i64) {
        assert!(replica_lag_time_max_ms >= 0, "lag time {replica_lag_time_max_ms} ms");
        self.replica_lag_time_max_ms = replica_lag_time_max_ms;
    }

    /// The brokers that may join an ISR now, with their broker epochs (registered, unfenced,
    /// not in controlled shutdown). A follower outside them neither joins the ISR nor, caught
    /// up and waiting to join, holds the high watermark back (KIP-841); one that fetched with
    /// another broker epoch is outside them too (KIP-903), unless `no_broker_epoch_fencing`.
    pub fn set_isr_eligible_brokers(
        &mut self,
        now_ms: i64,
        brokers: Arc<BTreeMap<i32, i64>>,
    ) -> Result<(), LogError> {
        self.isr_eligible_brokers = brokers;
        self.maybe_increment_high_watermark(now_ms)
    }

    /// Kafka's `isReplicaIsrEligible`.
    fn is_isr_eligible(&self, replica_id: i32, replica: &RemoteReplica) -> bool {
        self.isr_eligible_brokers.get(&replica_id).is_some_and(|&registered| {
            self.historical.no_broker_epoch_fencing
                || replica.broker_epoch.is_none_or(|fetched| fetched == registered)
        })
    }

    /// Takes leadership as `state` says. A new leader epoch starts at the log end offset in
    /// the epoch cache (checkpointed before anything is appended in it); every follower's
    /// state starts over; a proposal in flight is forgotten.
    pub fn become_leader(&mut self, now_ms: i64, state: &LeaderAndIsr) -> Result<(), LogError> {
        assert_eq!(state.leader, self.local_broker_id, "become_leader for another leader");
        assert!(state.leader_epoch >= 0, "become_leader at unknown epoch {}", state.leader_epoch);
        assert!(state.replicas.contains(&self.local_broker_id), "a leader is a replica");
        if state.leader_epoch < self.leader_epoch.0 {
            tracing::warn!(partition = %self.topic_partition.dir_name(), epoch = state.leader_epoch, current = %self.leader_epoch, "stale leadership ignored");
            return Ok(());
        }
        let new_epoch = state.leader_epoch > self.leader_epoch.0;
        if !new_epoch && matches!(self.role, Role::Leader(_)) {
            self.update_partition_state(now_ms, state);
            return Ok(());
        }
        self.pending_divergence = None;
        let epoch = LeaderEpoch(state.leader_epoch);
        let epoch_start_offset = self.log.log_end_offset();
        self.epoch_cache.assign(epoch, epoch_start_offset)?;
        self.leader_epoch = epoch;
        self.partition_epoch = state.partition_epoch;
        self.replicas = state.replicas.clone();
        self.isr = state.isr.clone();
        self.elr = state.elr.clone();
        let followers = state
            .replicas
            .iter()
            .filter(|&&id| id != self.local_broker_id)
            .map(|&id| (id, RemoteReplica::reset(now_ms, state.isr.contains(&id))))
            .collect();
        self.role = Role::Leader(LeaderState { epoch_start_offset, followers, in_flight: None });
        tracing::info!(partition = %self.topic_partition.dir_name(), %epoch, %epoch_start_offset, isr = ?self.isr, high_watermark = %self.high_watermark, "became leader");
        self.maybe_increment_high_watermark(now_ms)?;
        self.assert_invariants();
        Ok(())
    }

    /// Follows `state.leader` (or waits for a leader when it is -1). With
    /// `historical.hw_truncation` the log is cut to the local high watermark first (pre-KIP-101);
    /// otherwise truncation waits for the leader's diverging-epoch answer.
    pub fn become_follower(&mut self, now_ms: i64, state: &LeaderAndIsr) -> Result<(), LogError> {
        assert_ne!(state.leader, self.local_broker_id, "become_follower of ourselves");
        if state.leader_epoch < self.leader_epoch.0 {
            tracing::warn!(partition = %self.topic_partition.dir_name(), epoch = state.leader_epoch, current = %self.leader_epoch, "stale follower state ignored");
            return Ok(());
        }
        // The same epoch again (metadata replayed): nothing to reconcile, as Kafka skips a
        // LeaderAndIsr whose epoch it already has.
        let same_epoch =
            state.leader_epoch == self.leader_epoch.0 && matches!(self.role, Role::Follower { .. });
        self.leader_epoch = LeaderEpoch(state.leader_epoch);
        self.partition_epoch = state.partition_epoch;
        self.replicas = state.replicas.clone();
        self.isr = state.isr.clone();
        self.elr = state.elr.clone();
        self.role = Role::Follower { leader: (state.leader >= 0).then_some(state.leader) };
        if self.historical.hw_truncation && !same_epoch {
            self.pending_divergence = None;
            let to = self.high_watermark;
            if to < self.log.log_end_offset() {
                tracing::warn!(partition = %self.topic_partition.dir_name(), high_watermark = %to, log_end_offset = %self.log.log_end_offset(), "pre-KIP-101: truncating to the high watermark");
                self.truncate_to(to, now_ms)?;
            }
        }
        tracing::info!(partition = %self.topic_partition.dir_name(), leader = state.leader, epoch = state.leader_epoch, "became follower");
        self.assert_invariants();
        Ok(())
    }

    /// The committed metadata changed the ISR (our AlterPartition committed, or the controller
    /// removed a fenced replica) without changing the leader epoch.
    pub fn update_partition_state(&mut self, now_ms: i64, state: &LeaderAndIsr) {
        if state.leader_epoch != self.leader_epoch.0 {
            tracing::warn!(partition = %self.topic_partition.dir_name(), epoch = state.leader_epoch, current = %self.leader_epoch, "partition state of another leader epoch ignored; call become_leader or become_follower");
            return;
        }
        if state.partition_epoch < self.partition_epoch {
            return;
        }
        self.apply_isr(now_ms, state);
    }

    fn apply_isr(&mut self, now_ms: i64, state: &LeaderAndIsr) {
        if self.is_leader() && !state.isr.contains(&self.local_broker_id) {
            tracing::warn!(partition = %self.topic_partition.dir_name(), isr = ?state.isr, "an ISR without its leader ignored");
            return;
        }
        self.partition_epoch = state.partition_epoch;
        self.isr = state.isr.clone();
        self.elr = state.elr.clone();
        if let Role::Leader(leader) = &mut self.role {
            for &id in &state.replicas {
                if id != self.local_broker_id {
                    leader
                        .followers
                        .entry(id)
                        .or_insert_with(|| RemoteReplica::reset(now_ms, false));
                }
            }
            leader.followers.retain(|id, _| state.replicas.contains(id));
            if leader
                .in_flight
                .as_ref()
                .is_some_and(|(p, _)| p.partition_epoch < state.partition_epoch)
            {
                leader.in_flight = None;
            }
        }
        self.replicas = state.replicas.clone();
        if let Err(error) = self.maybe_increment_high_watermark(now_ms) {
            tracing::error!(partition = %self.topic_partition.dir_name(), %error, "could not checkpoint the high watermark");
        }
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// Whether the log was opened after a clean shutdown (KIP-966 broker registration).
    pub fn opened_clean(&self) -> bool {
        self.opened_clean
    }

    // ---- leader

    /// Appends a producer's batches with `acks` (-1, 0 or 1).
    pub fn append_as_leader(
        &mut self,
        records: &[u8],
        acks: i16,
        now_ms: i64,
    ) -> Result<AppendInfo, AppendError> {
        if !self.is_leader() {
            return Err(AppendError::NotLeaderOrFollower);
        }
        if acks == -1 && (self.isr.len() as i32) < self.settings.min_insync_replicas {
            return Err(AppendError::NotEnoughReplicas {
                isr_size: self.isr.len(),
                min_insync_replicas: self.settings.min_insync_replicas,
            });
        }
        let info = match self.settings.message_timestamp_type {
            TimestampType::CreateTime => self.log.append(records, self.leader_epoch, now_ms)?,
            TimestampType::LogAppendTime => {
                let mut stamped = records.to_vec();
                crate::log::batch::set_log_append_time(&mut stamped, now_ms)
                    .map_err(|(position, source)| LogError::CorruptBatch { position, source })?;
                self.log.append(&stamped, self.leader_epoch, now_ms)?
            }
        };
        self.maybe_increment_high_watermark(now_ms)?;
        Ok(info)
    }

    /// A follower's fetch: checks its epochs, answers a diverging epoch or the batches from
    /// its fetch offset, and (without divergence) records its position, which may advance
    /// the high watermark and start an ISR expansion.
    pub fn handle_follower_fetch(
        &mut self,
        now_ms: i64,
        fetch: &FollowerFetch,
        max_bytes: usize,
    ) -> Result<FollowerFetchAnswer, ReplicaError> {
        self.check_request_epoch(fetch.current_leader_epoch)?;
        let Role::Leader(leader) = &self.role else {
            return Err(ReplicaError::NotLeaderOrFollower(format!(
                "broker {} does not lead {}",
                self.local_broker_id,
                self.topic_partition.dir_name()
            )));
        };
        let Some(replica) = leader.followers.get(&fetch.replica_id) else {
            return Err(ReplicaError::NotLeaderOrFollower(format!(
                "broker {} is not a follower of {} (replicas {:?})",
                fetch.replica_id,
                self.topic_partition.dir_name(),
                self.replicas
            )));
        };
        if let Some(stored) = replica.broker_epoch {
            if fetch.replica_broker_epoch >= 0 && fetch.replica_broker_epoch < stored {
                return Err(ReplicaError::NotLeaderOrFollower(format!(
                    "broker {} fetched with broker epoch {}, older than {stored}",
                    fetch.replica_id, fetch.replica_broker_epoch
                )));
            }
        }
        let high_watermark = self.high_watermark;
        let log_start_offset = self.log.log_start_offset();
        let log_end_offset = self.log.log_end_offset();
        let out_of_range = || ReplicaError::OffsetOutOfRange {
            offset: fetch.fetch_offset,
            log_start_offset,
            log_end_offset,
        };
        if fetch.last_fetched_epoch >= 0 && !self.historical.hw_truncation {
            let Some((epoch, end_offset)) = self
                .epoch_cache
                .end_offset_for(LeaderEpoch(fetch.last_fetched_epoch), log_end_offset)
            else {
                return Err(out_of_range());
            };
            if fetch.fetch_offset < log_start_offset {
                return Err(out_of_range());
            }
            if epoch.0 < fetch.last_fetched_epoch || end_offset < fetch.fetch_offset {
                return Ok(FollowerFetchAnswer {
                    diverging_epoch: Some((epoch.0, end_offset.0)),
                    records: Bytes::new(),
                    high_watermark,
                    log_start_offset,
                    log_end_offset,
                });
            }
        }
        if fetch.fetch_offset < log_start_offset || fetch.fetch_offset > log_end_offset {
            return Err(out_of_range());
        }
        let read = self.log.read(fetch.fetch_offset, max_bytes, log_end_offset, true)?;
        self.update_follower_fetch_state(now_ms, fetch, log_end_offset);
        self.maybe_expand_isr(fetch.replica_id);
        self.maybe_increment_high_watermark(now_ms)?;
        self.assert_invariants();
        Ok(FollowerFetchAnswer {
            diverging_epoch: None,
            records: read.records,
            high_watermark,
            log_start_offset,
            log_end_offset,
        })
    }

    fn check_request_epoch(&self, request: i32) -> Result<(), ReplicaError> {
        let current = self.leader_epoch.0;
        if request < 0 || request == current {
            Ok(())
        } else if request < current {
            Err(ReplicaError::FencedLeaderEpoch { request, current })
        } else {
            Err(ReplicaError::UnknownLeaderEpoch { request, current })
        }
    }

    /// Kafka's `Replica.updateFetchStateOrThrow`.
    fn update_follower_fetch_state(
        &mut self,
        now_ms: i64,
        fetch: &FollowerFetch,
        leader_log_end_offset: Offset,
    ) {
        let current_epoch = self.leader_epoch.0;
        let Role::Leader(leader) = &mut self.role else { unreachable!("checked by the caller") };
        let replica = leader.followers.get_mut(&fetch.replica_id).expect("checked by the caller");
        if fetch.fetch_offset >= leader_log_end_offset {
            replica.last_caught_up_ms = replica.last_caught_up_ms.max(now_ms);
        } else if replica.last_fetch_leader_log_end_offset.is_some_and(|o| fetch.fetch_offset >= o)
        {
            replica.last_caught_up_ms = replica.last_caught_up_ms.max(replica.last_fetch_ms);
        }
        replica.log_end_offset = Some(fetch.fetch_offset);
        replica.log_start_offset = Some(fetch.log_start_offset);
        replica.last_fetch_leader_log_end_offset = Some(
            replica
                .last_fetch_leader_log_end_offset
                .map_or(leader_log_end_offset, |o| o.max(leader_log_end_offset)),
        );
        replica.last_fetch_ms = now_ms;
        if fetch.replica_broker_epoch >= 0 {
            replica.broker_epoch = Some(fetch.replica_broker_epoch);
        }
        replica.fetched_in_current_epoch = fetch.current_leader_epoch == current_epoch;
    }

    /// Starts an expansion when `replica_id` is out of the ISR and in sync: its log end
    /// offset reached the high watermark and this epoch's start offset, in this epoch, and it
    /// is ISR-eligible.
    fn maybe_expand_isr(&mut self, replica_id: i32) {
        let high_watermark = self.high_watermark;
        let Role::Leader(leader) = &self.role else { return };
        if leader.in_flight.is_some() || self.isr.contains(&replica_id) {
            return;
        }
        let replica = &leader.followers[&replica_id];
        let in_sync = self.is_isr_eligible(replica_id, replica)
            && replica.fetched_in_current_epoch
            && replica
                .log_end_offset
                .is_some_and(|leo| leo >= high_watermark && leo >= leader.epoch_start_offset);
        if !in_sync {
            return;
        }
        let mut new_isr = self.isr.clone();
        new_isr.push(replica_id);
        tracing::info!(partition = %self.topic_partition.dir_name(), replica = replica_id, isr = ?self.isr, ?new_isr, "follower caught up; proposing ISR expansion");
        let proposal = self.proposal(new_isr);
        let Role::Leader(leader) = &mut self.role else { unreachable!() };
        leader.in_flight = Some((proposal, false));
    }

    fn proposal(&self, new_isr: Vec<i32>) -> IsrProposal {
        let Role::Leader(leader) = &self.role else { unreachable!("only a leader proposes") };
        let new_isr_broker_epochs = new_isr
            .iter()
            .map(|id| {
                if *id == self.local_broker_id {
                    self.broker_epoch
                } else {
                    leader.followers.get(id).and_then(|r| r.broker_epoch).unwrap_or(-1)
                }
            })
            .collect();
        IsrProposal {
            leader_epoch: self.leader_epoch.0,
            partition_epoch: self.partition_epoch,
            new_isr,
            new_isr_broker_epochs,
        }
    }

    /// The replicas whose log end offsets bound the high watermark: the maximal ISR (the
    /// committed ISR with a pending change's members), or the committed ISR alone with
    /// `historical.no_maximal_isr`.
    fn maximal_isr(&self) -> Vec<i32> {
        let mut members = self.isr.clone();
        if self.historical.no_maximal_isr {
            return members;
        }
        if let Role::Leader(LeaderState { in_flight: Some((proposal, _)), .. }) = &self.role {
            for id in &proposal.new_isr {
                if !members.contains(id) {
                    members.push(*id);
                }
            }
        }
        members
    }

    /// Kafka's `maybeIncrementLeaderHW`.
    fn maybe_increment_high_watermark(&mut self, now_ms: i64) -> Result<(), LogError> {
        let Role::Leader(leader) = &self.role else { return Ok(()) };
        let effective_min_isr =
            (self.settings.min_insync_replicas.max(1) as usize).min(self.replicas.len().max(1));
        if self.isr.len() < effective_min_isr && !self.historical.no_eligible_leader_replicas {
            return Ok(());
        }
        let log_end_offset = self.log.log_end_offset();
        let maximal_isr = self.maximal_isr();
        let mut new = log_end_offset;
        for (id, replica) in &leader.followers {
            let counted = if self.historical.no_maximal_isr {
                self.isr.contains(id)
            } else {
                // A replica caught up and only waiting to join holds the HW back too.
                maximal_isr.contains(id)
                    || (self.is_isr_eligible(*id, replica)
                        && replica.fetched_in_current_epoch
                        && replica.is_caught_up(
                            log_end_offset,
                            now_ms,
                            self.replica_lag_time_max_ms,
                        ))
            };
            if counted {
                new = new.min(replica.log_end_offset.unwrap_or(Offset(-1)));
            }
        }
        if new > self.high_watermark {
            self.set_high_watermark(new)?;
        }
        Ok(())
    }

    /// The next AlterPartition proposal to send, if any: an expansion a fetch started, or a
    /// shrink of the ISR members whose lag passed `replica.lag.time.max.ms`. At most one is in
    /// flight; `handle_isr_change_result` or the committed metadata ends it.
    pub fn poll_isr_change(&mut self, now_ms: i64) -> Option<IsrProposal> {
        let log_end_offset = self.log.log_end_offset();
        let max_lag_ms = self.replica_lag_time_max_ms;
        let local = self.local_broker_id;
        let Role::Leader(leader) = &mut self.role else { return None };
        if let Some((proposal, sent)) = &mut leader.in_flight {
            if *sent {
                return None;
            }
            *sent = true;
            return Some(proposal.clone());
        }
        let out_of_sync: Vec<i32> = self
            .isr
            .iter()
            .copied()
            .filter(|&id| id != local)
            .filter(|id| {
                leader
                    .followers
                    .get(id)
                    .is_none_or(|r| !r.is_caught_up(log_end_offset, now_ms, max_lag_ms))
            })
            .collect();
        if out_of_sync.is_empty() {
            return None;
        }
        let new_isr: Vec<i32> =
            self.isr.iter().copied().filter(|id| !out_of_sync.contains(id)).collect();
        tracing::info!(partition = %self.topic_partition.dir_name(), isr = ?self.isr, ?new_isr, ?out_of_sync, "followers lag; proposing ISR shrink");
        let proposal = self.proposal(new_isr);
        let Role::Leader(leader) = &mut self.role else { unreachable!() };
        leader.in_flight = Some((proposal.clone(), true));
        Some(proposal)
    }

    /// The controller's answer to the proposal in flight: the committed state (applied when it
    /// is of this leader epoch and not older than what we know) or an error code (the proposal
    /// is dropped; the next `poll_isr_change` or fetch may propose again).
    pub fn handle_isr_change_result(&mut self, now_ms: i64, result: Result<LeaderAndIsr, i16>) {
        let Role::Leader(leader) = &mut self.role else { return };
        if leader.in_flight.is_none() {
            return;
        }
        match result {
            Ok(state) => {
                leader.in_flight = None;
                if state.leader_epoch == self.leader_epoch.0
                    && state.partition_epoch >= self.partition_epoch
                {
                    self.apply_isr(now_ms, &state);
                }
            }
            Err(code) => {
                tracing::info!(partition = %self.topic_partition.dir_name(), code, "ISR change rejected");
                leader.in_flight = None;
                if let Err(error) = self.maybe_increment_high_watermark(now_ms) {
                    tracing::error!(partition = %self.topic_partition.dir_name(), %error, "could not checkpoint the high watermark");
                }
            }
        }
    }

    /// Whether an acks=all append ending at `last_offset` is complete, as Kafka's
    /// `checkEnoughReplicasReachOffset`: once the high watermark passed it, `Ok(true)` if
    /// the maximal ISR still has `min.insync.replicas` members, else
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND; `Ok(false)` while it waits. Below min ISR the high
    /// watermark does not move (KIP-966), so such a request waits for its timeout.
    pub fn acks_all_status(&self, last_offset: Offset) -> Result<bool, AppendError> {
        if !self.is_leader() {
            return Err(AppendError::NotLeaderOrFollower);
        }
        if self.high_watermark <= last_offset {
            return Ok(false);
        }
        let isr_size = self.maximal_isr().len();
        if (isr_size as i32) < self.settings.min_insync_replicas {
            return Err(AppendError::NotEnoughReplicasAfterAppend {
                isr_size,
                min_insync_replicas: self.settings.min_insync_replicas,
            });
        }
        Ok(true)
    }

    /// The leader's view of its followers' log end offsets (tests, metrics).
    pub fn follower_log_end_offsets(&self) -> BTreeMap<i32, Option<Offset>> {
        match &self.role {
            Role::Leader(leader) => {
                leader.followers.iter().map(|(id, r)| (*id, r.log_end_offset)).collect()
            }
            _ => BTreeMap::new(),
        }
    }

    /// The ISR the committed metadata has.
    pub fn isr(&self) -> &[i32] {
        &self.isr
    }

    pub fn replicas(&self) -> &[i32] {
        &self.replicas
    }

    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }

    /// The start offset of this leader's epoch, when leading.
    pub fn leader_epoch_start_offset(&self) -> Option<Offset> {
        match &self.role {
            Role::Leader(leader) => Some(leader.epoch_start_offset),
            _ => None,
        }
    }

    // ---- follower

    /// What to fetch from the leader, or `None` when not following a known leader.
    pub fn fetch_position(&self) -> Option<FollowerFetch> {
        let Role::Follower { leader: Some(_) } = self.role else { return None };
        let last_fetched_epoch = if self.historical.hw_truncation {
            -1
        } else {
            self.epoch_cache.latest_epoch().map_or(-1, |e| e.0)
        };
        Some(FollowerFetch {
            replica_id: self.local_broker_id,
            replica_broker_epoch: self.broker_epoch,
            fetch_offset: self.log.log_end_offset(),
            last_fetched_epoch,
            current_leader_epoch: self.leader_epoch.0,
            log_start_offset: self.log.log_start_offset(),
        })
    }

    pub fn leader_id(&self) -> Option<i32> {
        match self.role {
            Role::Leader(_) => Some(self.local_broker_id),
            Role::Follower { leader } => leader,
            Role::None => None,
        }
    }

    /// The leader's answer to [`fetch_position`](Self::fetch_position)'s fetch. The caller
    /// drops answers to fetches made at an older leader epoch. Diverging epoch: truncate (and
    /// fetch again). Records: appended with their offsets and leader epochs, then the high
    /// watermark becomes min(leader's, log end offset) and the log start follows the leader's.
    pub fn handle_fetch_response(
        &mut self,
        now_ms: i64,
        response: &FetchedPartition,
    ) -> Result<(), ReplicaError> {
        if !matches!(self.role, Role::Follower { leader: Some(_) }) {
            return Err(ReplicaError::NotLeaderOrFollower(format!(
                "broker {} does not follow a leader of {}",
                self.local_broker_id,
                self.topic_partition.dir_name()
            )));
        }
        if let Some(divergence) = self.pending_divergence.take() {
            self.truncate_on_divergence(divergence, now_ms)?;
        }
        if response.error_code == ErrorCode::OffsetOutOfRange.code() {
            return self.handle_out_of_range(now_ms, response);
        }
        if response.error_code != 0 {
            return Err(ReplicaError::Leader(response.error_code));
        }
        if let (Some(divergence), false) = (response.diverging_epoch, self.historical.hw_truncation)
        {
            if self.historical.hw_before_truncation {
                // KAFKA-14704: the leader's high watermark first, the truncation later.
                self.follow_high_watermark(response.high_watermark)?;
                self.pending_divergence = Some(divergence);
            } else {
                self.truncate_on_divergence(divergence, now_ms)?;
            }
            self.assert_invariants();
            return Ok(());
        }
        if !response.records.is_empty() {
            self.append_as_follower(&response.records, now_ms)?;
        }
        self.follow_high_watermark(response.high_watermark)?;
        if response.log_start_offset > self.log.log_start_offset().0 {
            let deleted = self.log.delete_segments_below(Offset(response.log_start_offset))?;
            if deleted > 0 {
                self.epoch_cache.truncate_from_start(self.log.log_start_offset())?;
                self.clamp_high_watermark()?;
            }
        }
        self.assert_invariants();
        Ok(())
    }

    /// Validates the leader's batches, skips what the log already holds, records each new
    /// epoch in the cache (before its first batch lands), and appends keeping offsets.
    fn append_as_follower(&mut self, records: &Bytes, now_ms: i64) -> Result<(), ReplicaError> {
        let headers = crate::log::batch::validate_all(records)
            .map_err(|(position, source)| LogError::CorruptBatch { position, source })?;
        let log_end_offset = self.log.log_end_offset();
        let Some(first) = headers.iter().position(|(_, h)| h.next_offset() > log_end_offset) else {
            return Ok(());
        };
        let (position, header) = headers[first];
        if header.base_offset < log_end_offset {
            // The leader's batch straddles our log end: our last batch is not the leader's.
            tracing::warn!(partition = %self.topic_partition.dir_name(), batch = %header.base_offset, %log_end_offset, "leader batch straddles the log end; truncating to its start");
            self.truncate_to(header.base_offset, now_ms)?;
        }
        for (_, header) in &headers[first..] {
            let BatchHeader { partition_leader_epoch: epoch, base_offset, .. } = *header;
            if epoch.0 >= 0 && self.epoch_cache.latest_epoch().is_none_or(|latest| epoch > latest) {
                self.epoch_cache.assign(epoch, base_offset)?;
            }
        }
        self.log.append_replicated(&records[position..], now_ms)?;
        Ok(())
    }

    /// Kafka's `getOffsetTruncationState` for a fetch-time diverging epoch.
    fn truncate_on_divergence(
        &mut self,
        (epoch, end_offset): (i32, i64),
        now_ms: i64,
    ) -> Result<(), ReplicaError> {
        let log_end_offset = self.log.log_end_offset();
        let leader_end = Offset(end_offset.max(0));
        let to = if epoch < 0 || end_offset < 0 {
            log_end_offset.min(leader_end)
        } else {
            match self.epoch_cache.end_offset_for(LeaderEpoch(epoch), log_end_offset) {
                // We do not know the leader's epoch: cut to where our epoch below it ends;
                // the next fetch (with our new last epoch) goes on from there.
                Some((ours, our_end)) if ours.0 != epoch => our_end.min(log_end_offset),
                Some((_, our_end)) => our_end.min(leader_end).min(log_end_offset),
                None => leader_end.min(log_end_offset),
            }
        };
        tracing::info!(partition = %self.topic_partition.dir_name(), epoch, end_offset, truncate_to = %to, %log_end_offset, "diverging epoch from the leader");
        self.truncate_to(to, now_ms)?;
        Ok(())
    }

    /// OFFSET_OUT_OF_RANGE from the leader: a follower behind the leader's log start starts
    /// over there; anything else is left to the caller (Kafka asks the leader for its offsets).
    fn handle_out_of_range(
        &mut self,
        now_ms: i64,
        response: &FetchedPartition,
    ) -> Result<(), ReplicaError> {
        let log_end_offset = self.log.log_end_offset();
        if response.log_start_offset > log_end_offset.0 {
            let start = Offset(response.log_start_offset);
            tracing::warn!(partition = %self.topic_partition.dir_name(), leader_log_start_offset = %start, %log_end_offset, "behind the leader's log start; starting over there");
            self.log.truncate_fully_and_start_at(start, now_ms)?;
            self.epoch_cache.truncate_from_end(Offset::ZERO)?;
            self.set_high_watermark(start)?;
            self.assert_invariants();
            return Ok(());
        }
        Err(ReplicaError::OffsetOutOfRange {
            offset: log_end_offset,
            log_start_offset: self.log.log_start_offset(),
            log_end_offset,
        })
    }

    fn follow_high_watermark(&mut self, leader_high_watermark: i64) -> Result<(), LogError> {
        if leader_high_watermark < 0 {
            return Ok(());
        }
        let new = Offset(leader_high_watermark)
            .clamp(self.log.log_start_offset(), self.log.log_end_offset());
        if new != self.high_watermark {
            self.set_high_watermark(new)?;
        }
        Ok(())
    }

    /// Truncates the log, then the epoch cache (the order `epoch_cache` asks for), then the
    /// high watermark.
    fn truncate_to(&mut self, offset: Offset, now_ms: i64) -> Result<(), LogError> {
        self.log.truncate_to(offset, now_ms)?;
        self.epoch_cache.truncate_from_end(self.log.log_end_offset())?;
        self.clamp_high_watermark()
    }

    fn clamp_high_watermark(&mut self) -> Result<(), LogError> {
        let clamped =
            self.high_watermark.clamp(self.log.log_start_offset(), self.log.log_end_offset());
        if clamped != self.high_watermark {
            self.set_high_watermark(clamped)?;
        }
        Ok(())
    }

    /// Moves the high watermark; the checkpoint follows on the next interval (Kafka's
    /// periodic `replication-offset-checkpoint`), or at a clean close.
    fn set_high_watermark(&mut self, offset: Offset) -> Result<(), LogError> {
        self.high_watermark = offset;
        Ok(())
    }

    /// Whether the checkpoint is behind the high watermark (and the file is kept at all:
    /// a partition's only replica has its log end offset as high watermark and needs none).
    fn high_watermark_unsaved(&self) -> bool {
        self.replicas.len() > 1 && self.checkpointed_high_watermark != Some(self.high_watermark)
    }

    /// Replaces the checkpoint when the high watermark changed since it was written.
    fn checkpoint_high_watermark(&mut self) -> Result<(), LogError> {
        if !self.high_watermark_unsaved() {
            return Ok(());
        }
        checkpoint::write_offset(
            &self.storage,
            &self.dir,
            HIGH_WATERMARK_CHECKPOINT_FILE,
            self.high_watermark,
        )?;
        self.checkpointed_high_watermark = Some(self.high_watermark);
        Ok(())
    }

    // ---- both

    /// Batches for a consumer: at most up to the high watermark.
    pub fn read(
        &self,
        offset: Offset,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadResult, LogError> {
        self.log.read(offset, max_bytes, self.high_watermark, min_one_batch)
    }

    /// The earliest offset whose timestamp is at least `timestamp`, below the high watermark.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(Offset, i64)>, LogError> {
        self.log.offset_for_timestamp(timestamp, self.high_watermark)
    }

    /// Retention, never deleting above the high watermark.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let deleted = self.log.enforce_retention(now_ms, self.high_watermark)?;
        if deleted > 0 {
            self.epoch_cache.truncate_from_start(self.log.log_start_offset())?;
        }
        Ok(deleted)
    }

    /// New topic settings (only log settings and min ISR change anything at runtime).
    pub fn set_settings(&mut self, settings: TopicSettings) {
        self.log.set_config(settings.log.clone());
        self.settings = settings;
    }

    /// Log flushes and checkpoints due at `now_ms`, and the high watermark checkpoint.
    pub fn handle_timeout(&mut self, now_ms: i64) -> Result<(), LogError> {
        if self.high_watermark_unsaved()
            && now_ms >= self.last_checkpoint_ms + HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS
        {
            self.checkpoint_high_watermark()?;
            self.last_checkpoint_ms = now_ms;
        }
        self.log.handle_timeout(now_ms)
    }

    pub fn next_deadline_ms(&self) -> Option<i64> {
        let checkpoint = self
            .high_watermark_unsaved()
            .then_some(self.last_checkpoint_ms + HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS);
        [self.log.next_deadline_ms(), checkpoint].into_iter().flatten().min()
    }

    /// Closes cleanly: the high watermark checkpoint, then the log and its clean-shutdown
    /// marker.
    pub fn close(mut self, now_ms: i64) -> Result<(), LogError> {
        self.checkpoint_high_watermark()?;
        self.log.close(now_ms)
    }

    pub fn delete(self) -> Result<(), LogError> {
        self.log.delete()
    }

    pub fn settings(&self) -> &TopicSettings {
        &self.settings
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.topic_partition
    }

    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.leader_epoch
    }

    pub fn high_watermark(&self) -> Offset {
        self.high_watermark
    }

    pub fn log_start_offset(&self) -> Offset {
        self.log.log_start_offset()
    }

    pub fn log_end_offset(&self) -> Offset {
        self.log.log_end_offset()
    }

    pub fn durable_offset(&self) -> Offset {
        self.log.durable_offset()
    }

    /// The leader-epoch cache (OffsetsForLeaderEpoch answers).
    pub fn epoch_cache(&self) -> &LeaderEpochCache<S> {
        &self.epoch_cache
    }

    /// The offset and timestamp of the record with the largest timestamp (ListOffsets -3).
    pub fn max_timestamp(&self) -> Result<Option<(Offset, i64)>, LogError> {
        self.log.max_timestamp_record(self.high_watermark)
    }

    fn assert_invariants(&self) {
        assert!(
            self.log.log_start_offset() <= self.high_watermark
                && self.high_watermark <= self.log.log_end_offset(),
            "{}: high watermark {} outside the log [{}, {}]",
            self.topic_partition.dir_name(),
            self.high_watermark,
            self.log.log_start_offset(),
            self.log.log_end_offset()
        );
        if let Role::Leader(leader) = &self.role {
            assert!(self.isr.contains(&self.local_broker_id), "the leader is in its ISR");
            assert!(leader.epoch_start_offset <= self.log.log_end_offset(), "LESO within the log");
        }
    }
}

/// Reads the high watermark checkpoint: `None` when missing or unreadable (with a warning).
fn read_high_watermark<S: Storage>(
    storage: &S,
    dir: &std::path::Path,
) -> Result<Option<Offset>, LogError> {
    match checkpoint::read_offset(storage, dir, HIGH_WATERMARK_CHECKPOINT_FILE)? {
        None => Ok(None),
        Some(Ok(offset)) => Ok(Some(offset)),
        Some(Err(why)) => {
            let file = dir.join(HIGH_WATERMARK_CHECKPOINT_FILE);
            tracing::warn!(file = %file.display(), %why, "unreadable high watermark checkpoint; starting from the log start");
            Ok(None)
        }
    }
}
