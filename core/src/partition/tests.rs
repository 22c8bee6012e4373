//! Runbook tests of partition replication: a leader and its followers wired in memory, each
//! replica a `Partition` on real files (FileStorage in a temporary directory), a tiny
//! controller that commits AlterPartition proposals and elections. Then a seeded random model
//! of the same wiring that checks LogMatching, that committed records survive leader changes,
//! and that a leader's high watermark never goes back.

use super::*;
use crate::log::batch::tests::batch;
use crate::storage::FileStorage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NOW_MS: i64 = 1_700_000_000_000;
const MAX_BYTES: usize = 1 << 20;
/// The broker epoch every replica's broker registered with.
const BROKER_EPOCH: i64 = 1;
/// Kafka's INVALID_UPDATE_VERSION: the controller's answer to a stale AlterPartition.
const INVALID_UPDATE_VERSION: i16 = 95;

/// One stored batch, identified by the unique timestamp the test gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stored {
    base_offset: Offset,
    epoch: i32,
    id: i64,
}

/// Every batch of a replica's log, from its start to its end (not bounded by the HW).
fn stored(p: &Partition<FileStorage>) -> Vec<Stored> {
    let mut out = Vec::new();
    let mut offset = p.log.log_start_offset();
    while offset < p.log.log_end_offset() {
        let read = p.log.read(offset, MAX_BYTES, p.log.log_end_offset(), true).expect("read");
        for (_, h) in crate::log::batch::validate_all(&read.records).expect("stored batches") {
            out.push(Stored {
                base_offset: h.base_offset,
                epoch: h.partition_leader_epoch.0,
                id: h.max_timestamp,
            });
            offset = h.next_offset();
        }
    }
    out
}

/// The ids of the batches a consumer reads from `p` (below its HW).
fn visible(p: &Partition<FileStorage>) -> Vec<i64> {
    let mut out = Vec::new();
    let mut offset = p.log_start_offset();
    while offset < p.high_watermark() {
        let read = p.read(offset, MAX_BYTES, true).expect("read");
        for (_, h) in crate::log::batch::validate_all(&read.records).expect("stored batches") {
            out.push(h.max_timestamp);
            offset = h.next_offset();
        }
    }
    out
}

/// Replicas wired in memory, and the controller's committed state.
struct Cluster {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    settings: TopicSettings,
    historical: HistoricalBehaviours,
    replicas: BTreeMap<i32, Option<Partition<FileStorage>>>,
    state: LeaderAndIsr,
    /// The brokers the metadata has registered, unfenced and running, with their epochs.
    isr_eligible: BTreeMap<i32, i64>,
    now_ms: i64,
    next_id: i64,
}

impl Cluster {
    /// `ids[0]` leads at epoch 0 with every replica in the ISR.
    fn new(ids: &[i32], min_isr: i32, historical: HistoricalBehaviours) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        let settings = TopicSettings { min_insync_replicas: min_isr, ..TopicSettings::default() };
        let mut cluster = Cluster {
            _tmp: tmp,
            root,
            settings,
            historical,
            replicas: BTreeMap::new(),
            state: LeaderAndIsr {
                leader: ids[0],
                leader_epoch: 0,
                partition_epoch: 0,
                replicas: ids.to_vec(),
                isr: ids.to_vec(),
                elr: Vec::new(),
            },
            isr_eligible: ids.iter().map(|&id| (id, BROKER_EPOCH)).collect(),
            now_ms: NOW_MS,
            next_id: 1,
        };
        for &id in ids {
            let p = cluster.open(id);
            cluster.replicas.insert(id, Some(p));
            cluster.assign_role(id);
        }
        cluster
    }

    fn open(&self, id: i32) -> Partition<FileStorage> {
        let mut p = Partition::open(
            FileStorage::new(),
            self.root.join(format!("broker-{id}")).join("t-0"),
            TopicPartition::new("t", 0),
            self.settings.clone(),
            id,
            self.historical,
            self.now_ms,
        )
        .expect("open");
        p.set_isr_eligible_brokers(self.now_ms, Arc::new(self.isr_eligible.clone())).unwrap();
        p
    }

    /// The controller fences `id` (its session expired): it may not join an ISR.
    fn fence(&mut self, id: i32) {
        self.isr_eligible.remove(&id);
        self.publish_brokers();
    }

    /// The controller unfences `id`.
    fn unfence(&mut self, id: i32) {
        self.isr_eligible.insert(id, BROKER_EPOCH);
        self.publish_brokers();
    }

    /// Every running replica learns the brokers' state from the metadata.
    fn publish_brokers(&mut self) {
        let (now, eligible) = (self.now_ms, Arc::new(self.isr_eligible.clone()));
        for p in self.replicas.values_mut().flatten() {
            p.set_isr_eligible_brokers(now, eligible.clone()).unwrap();
        }
    }

    fn p(&self, id: i32) -> &Partition<FileStorage> {
        self.replicas[&id].as_ref().expect("replica is up")
    }

    fn p_mut(&mut self, id: i32) -> &mut Partition<FileStorage> {
        self.replicas.get_mut(&id).unwrap().as_mut().expect("replica is up")
    }

    fn is_up(&self, id: i32) -> bool {
        self.replicas[&id].is_some()
    }

    fn assign_role(&mut self, id: i32) {
        let now = self.now_ms;
        let state = self.state.clone();
        let p = self.p_mut(id);
        if state.leader == id {
            p.become_leader(now, &state).expect("become leader");
        } else {
            p.become_follower(now, &state).expect("become follower");
        }
    }

    /// The controller elects `leader` (a new leader epoch) with `isr`.
    fn elect(&mut self, leader: i32, isr: &[i32]) {
        self.state.leader = leader;
        self.state.leader_epoch += 1;
        self.state.partition_epoch += 1;
        self.state.isr = isr.to_vec();
        let ids: Vec<i32> = self.replicas.keys().copied().collect();
        for id in ids {
            if self.is_up(id) {
                self.assign_role(id);
            }
        }
    }

    /// The controller commits an ISR change of the current leader epoch.
    fn commit_isr(&mut self, isr: &[i32]) {
        self.state.isr = isr.to_vec();
        self.state.partition_epoch += 1;
        let (now, state) = (self.now_ms, self.state.clone());
        for p in self.replicas.values_mut().flatten() {
            p.update_partition_state(now, &state);
        }
    }

    /// Sends the leader's next ISR proposal to the controller, which commits it when it is
    /// based on the current partition epoch. Returns the proposal.
    fn alter_partition(&mut self) -> Option<IsrProposal> {
        let leader = self.state.leader;
        let now = self.now_ms;
        let proposal = self.p_mut(leader).poll_isr_change(now)?;
        let current = proposal.leader_epoch == self.state.leader_epoch
            && proposal.partition_epoch == self.state.partition_epoch;
        if current {
            self.state.isr = proposal.new_isr.clone();
            self.state.partition_epoch += 1;
            let state = self.state.clone();
            self.p_mut(leader).handle_isr_change_result(now, Ok(state.clone()));
            for p in self.replicas.values_mut().flatten() {
                p.update_partition_state(now, &state);
            }
        } else {
            self.p_mut(leader).handle_isr_change_result(now, Err(INVALID_UPDATE_VERSION));
        }
        Some(proposal)
    }

    /// The leader appends one single-record batch with a fresh id (its timestamp).
    fn produce(&mut self, acks: i16) -> Result<(i64, AppendInfo), AppendError> {
        let id = self.next_id;
        self.next_id += 1;
        let (leader, now) = (self.state.leader, self.now_ms);
        let info = self.p_mut(leader).append_as_leader(&batch(1, id), acks, now)?;
        Ok((id, info))
    }

    /// What the leader answers `follower`'s fetch, as the follower receives it.
    fn leader_answer(&mut self, follower: i32) -> Option<FetchedPartition> {
        let fetch = self.p(follower).fetch_position()?;
        let leader = self.p(follower).leader_id()?;
        if !self.is_up(leader) {
            return None;
        }
        let now = self.now_ms;
        Some(match self.p_mut(leader).handle_follower_fetch(now, &fetch, MAX_BYTES) {
            Ok(answer) => FetchedPartition {
                error_code: 0,
                high_watermark: answer.high_watermark.0,
                log_start_offset: answer.log_start_offset.0,
                diverging_epoch: answer.diverging_epoch,
                records: answer.records,
            },
            Err(error) => FetchedPartition {
                error_code: error.code(),
                high_watermark: -1,
                log_start_offset: -1,
                diverging_epoch: None,
                records: Bytes::new(),
            },
        })
    }

    /// One fetch round trip of `follower`.
    fn fetch(&mut self, follower: i32) {
        let Some(response) = self.leader_answer(follower) else { return };
        let now = self.now_ms;
        if let Err(error) = self.p_mut(follower).handle_fetch_response(now, &response) {
            tracing::info!(follower, %error, "fetch response refused");
        }
    }

    fn ids(&self, p: i32) -> Vec<i64> {
        stored(self.p(p)).iter().map(|s| s.id).collect()
    }
}

fn modern() -> HistoricalBehaviours {
    HistoricalBehaviours::default()
}

#[test]
fn the_single_replica_path_commits_every_append_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = Partition::open_leader(
        FileStorage::new(),
        tmp.path().join("t-0"),
        TopicPartition::new("t", 0),
        TopicSettings { min_insync_replicas: 2, ..TopicSettings::default() },
        LeaderEpoch(3),
        NOW_MS,
    )
    .unwrap();
    assert!(p.is_leader());
    assert!(matches!(
        p.append_as_leader(&batch(2, NOW_MS), -1, NOW_MS),
        Err(AppendError::NotEnoughReplicas { isr_size: 1, min_insync_replicas: 2 })
    ));
    // min.insync.replicas above the replica count: the effective min ISR is 1 (Kafka's
    // effectiveMinIsr), so acks=1 data is committed at once.
    p.append_as_leader(&batch(2, NOW_MS), 1, NOW_MS).unwrap();
    assert_eq!(p.high_watermark(), Offset(2));
    assert_eq!(p.epoch_cache().latest_epoch(), Some(LeaderEpoch(3)));
    assert!(!tmp.path().join("t-0").join(HIGH_WATERMARK_CHECKPOINT_FILE).exists());
    assert!(!p.opened_clean());
    p.close(NOW_MS).unwrap();
    let p = Partition::open_leader(
        FileStorage::new(),
        tmp.path().join("t-0"),
        TopicPartition::new("t", 0),
        TopicSettings::default(),
        LeaderEpoch(3),
        NOW_MS,
    )
    .unwrap();
    assert!(p.opened_clean());
    assert_eq!(p.high_watermark(), Offset(2));
}

#[test]
fn acks_all_completes_once_both_followers_fetched() {
    let mut c = Cluster::new(&[1, 2, 3], 2, modern());
    let (id, info) = c.produce(-1).unwrap();
    assert!(!c.p(1).acks_all_status(info.last_offset).unwrap());
    c.fetch(2);
    c.fetch(3);
    // Both hold the record; the leader learns it from their next fetch offsets.
    assert_eq!(c.ids(2), vec![id]);
    assert_eq!(c.p(1).high_watermark(), Offset(0));
    c.fetch(2);
    assert_eq!(c.p(1).high_watermark(), Offset(0), "follower 3's position still unknown");
    assert!(!c.p(1).acks_all_status(info.last_offset).unwrap());
    c.fetch(3);
    assert_eq!(c.p(1).high_watermark(), Offset(1));
    assert!(c.p(1).acks_all_status(info.last_offset).unwrap());
    // Followers learn the HW from the answer to their next fetch.
    assert_eq!(c.p(2).high_watermark(), Offset(0));
    c.fetch(2);
    assert_eq!(c.p(2).high_watermark(), Offset(1));
    assert_eq!(visible(c.p(2)), vec![id]);
}

#[test]
fn the_isr_shrinks_after_the_lag_time_and_expands_after_catching_up() {
    let mut c = Cluster::new(&[1, 2, 3], 2, modern());
    c.produce(-1).unwrap();
    c.fetch(2);
    c.fetch(2);
    assert_eq!(c.alter_partition(), None, "within replica.lag.time.max.ms");
    assert_eq!(c.p(1).high_watermark(), Offset(0), "3 is in the ISR and holds the HW");
    c.now_ms += DEFAULT_REPLICA_LAG_TIME_MAX_MS + 1;
    c.fetch(2);
    let shrink = c.alter_partition().expect("3 lags");
    assert_eq!(shrink.new_isr, vec![1, 2]);
    assert_eq!((shrink.leader_epoch, shrink.partition_epoch), (0, 0));
    assert_eq!(c.p(1).isr(), &[1, 2]);
    assert_eq!(c.p(1).high_watermark(), Offset(1), "the HW moves on without 3");
    // 3 catches up: its first fetch is below the HW, the second at it.
    c.fetch(3);
    assert_eq!(c.alter_partition(), None);
    c.fetch(3);
    let expand = c.alter_partition().expect("3 caught up");
    assert_eq!(expand.new_isr, vec![1, 2, 3]);
    assert_eq!(c.p(1).isr(), &[1, 2, 3]);
    assert_eq!(c.p(3).isr(), &[1, 2, 3]);
}

#[test]
fn a_rejected_proposal_is_dropped_and_proposed_again() {
    let mut c = Cluster::new(&[1, 2, 3], 1, modern());
    c.now_ms += DEFAULT_REPLICA_LAG_TIME_MAX_MS + 1;
    let now = c.now_ms;
    let proposal = c.p_mut(1).poll_isr_change(now).expect("2 and 3 never fetched");
    assert_eq!(proposal.new_isr, vec![1]);
    assert_eq!(c.p_mut(1).poll_isr_change(now), None, "one in flight");
    c.p_mut(1).handle_isr_change_result(now, Err(INVALID_UPDATE_VERSION));
    assert_eq!(c.p_mut(1).poll_isr_change(now).map(|p| p.new_isr), Some(vec![1]));
}

#[test]
fn a_follower_with_a_diverging_suffix_truncates_to_the_leaders_epoch_end() {
    let mut c = Cluster::new(&[1, 2, 3], 1, modern());
    let (x0, _) = c.produce(1).unwrap();
    c.fetch(2);
    c.fetch(3);
    let (x1, _) = c.produce(1).unwrap();
    let (x2, _) = c.produce(1).unwrap();
    assert_eq!(c.ids(1), vec![x0, x1, x2]);
    c.elect(2, &[1, 2, 3]);
    let (y1, _) = c.produce(1).unwrap();
    let fetch = c.p(1).fetch_position().unwrap();
    assert_eq!((fetch.fetch_offset, fetch.last_fetched_epoch), (Offset(3), 0));
    let answer = c.leader_answer(1).unwrap();
    assert_eq!(answer.diverging_epoch, Some((0, 1)));
    assert!(answer.records.is_empty());
    let now = c.now_ms;
    c.p_mut(1).handle_fetch_response(now, &answer).unwrap();
    assert_eq!(c.ids(1), vec![x0]);
    c.fetch(1);
    assert_eq!(c.ids(1), vec![x0, y1]);
    assert_eq!(stored(c.p(1)), stored(c.p(2)));
    assert_eq!(c.p(1).epoch_cache().latest_epoch(), Some(LeaderEpoch(1)));
}

#[test]
fn a_follower_unaware_of_the_leaders_epoch_truncates_in_steps() {
    // 1 leads epochs 0 and 2 (its epoch-2 batch never replicated); 2 leads epoch 1, then 3.
    let mut c = Cluster::new(&[1, 2], 1, modern());
    let (a, _) = c.produce(1).unwrap();
    c.fetch(2);
    c.elect(2, &[1, 2]);
    let (b, _) = c.produce(1).unwrap();
    c.elect(1, &[1, 2]);
    let (stale, _) = c.produce(1).unwrap();
    assert_eq!(c.ids(1), vec![a, stale]);
    c.elect(2, &[1, 2]);
    let (d, _) = c.produce(1).unwrap();
    // 1 asks with epoch 2, which 2 does not know: 2 answers its epoch 1 ending at 2.
    for _ in 0..4 {
        c.fetch(1);
    }
    assert_eq!(c.ids(1), vec![a, b, d]);
    assert_eq!(stored(c.p(1)), stored(c.p(2)));
}

#[test]
fn fetch_errors_follow_kafka() {
    let mut c = Cluster::new(&[1, 2, 3], 1, modern());
    c.produce(1).unwrap();
    let now = c.now_ms;
    let base = c.p(2).fetch_position().unwrap();
    let code = |c: &mut Cluster, fetch: FollowerFetch| {
        c.p_mut(1).handle_follower_fetch(now, &fetch, MAX_BYTES).unwrap_err().error_code()
    };
    c.elect(1, &[1, 2, 3]);
    assert_eq!(code(&mut c, base.clone()), ErrorCode::FencedLeaderEpoch);
    let mut newer = base.clone();
    newer.current_leader_epoch = 5;
    assert_eq!(code(&mut c, newer), ErrorCode::UnknownLeaderEpoch);
    let mut stranger = base.clone();
    stranger.current_leader_epoch = 1;
    stranger.replica_id = 9;
    assert_eq!(code(&mut c, stranger), ErrorCode::NotLeaderOrFollower);
    let mut beyond = base.clone();
    beyond.current_leader_epoch = 1;
    beyond.fetch_offset = Offset(7);
    beyond.last_fetched_epoch = -1;
    assert_eq!(code(&mut c, beyond), ErrorCode::OffsetOutOfRange);
    let mut unknown_epoch = base.clone();
    unknown_epoch.current_leader_epoch = 1;
    unknown_epoch.last_fetched_epoch = 4;
    assert_eq!(code(&mut c, unknown_epoch), ErrorCode::OffsetOutOfRange);
    assert_eq!(code_of_follower(&mut c, base), ErrorCode::NotLeaderOrFollower);
    // A stale broker epoch (KIP-903) after a newer one.
    let mut fresh = c.p(2).fetch_position().unwrap();
    fresh.replica_broker_epoch = 10;
    c.p_mut(1).handle_follower_fetch(now, &fresh, MAX_BYTES).unwrap();
    fresh.replica_broker_epoch = 9;
    assert_eq!(code(&mut c, fresh), ErrorCode::NotLeaderOrFollower);
}

fn code_of_follower(c: &mut Cluster, fetch: FollowerFetch) -> ErrorCode {
    let now = c.now_ms;
    let mut fetch = fetch;
    fetch.current_leader_epoch = 1;
    c.p_mut(2).handle_follower_fetch(now, &fetch, MAX_BYTES).unwrap_err().error_code()
}

#[test]
fn not_enough_replicas_before_and_after_the_append() {
    let mut c = Cluster::new(&[1, 2], 2, modern());
    let (_, info) = c.produce(-1).unwrap();
    c.fetch(2);
    c.fetch(2);
    assert!(c.p(1).acks_all_status(info.last_offset).unwrap());
    // The ISR drops to the leader before the purgatory looks again.
    c.commit_isr(&[1]);
    assert!(matches!(
        c.p(1).acks_all_status(info.last_offset),
        Err(AppendError::NotEnoughReplicasAfterAppend { isr_size: 1, min_insync_replicas: 2 })
    ));
    assert_eq!(
        c.produce(-1).unwrap_err().error_code(),
        ErrorCode::NotEnoughReplicas,
        "acks=all is refused below min ISR"
    );
    // acks=1 is appended, but below min ISR the HW stays (KIP-966): not visible, not acked.
    let (_, one) = c.produce(1).unwrap();
    assert_eq!(c.p(1).high_watermark(), Offset(1));
    assert!(!c.p(1).acks_all_status(one.last_offset).unwrap());
    assert!(matches!(
        c.p_mut(2).append_as_leader(&batch(1, 1), 1, 0),
        Err(AppendError::NotLeaderOrFollower)
    ));
}

#[test]
fn without_eligible_leader_replicas_the_hw_moves_below_min_isr() {
    let historical = HistoricalBehaviours { no_eligible_leader_replicas: true, ..modern() };
    let mut c = Cluster::new(&[1, 2], 2, historical);
    c.commit_isr(&[1]);
    let (_, info) = c.produce(1).unwrap();
    assert_eq!(c.p(1).high_watermark(), Offset(1));
    assert!(matches!(
        c.p(1).acks_all_status(info.last_offset),
        Err(AppendError::NotEnoughReplicasAfterAppend { .. })
    ));
}

/// R5 (KIP-101 scenario 1): B truncates to its stale HW on restart, then is elected.
fn r5(historical: HistoricalBehaviours) -> (Vec<i64>, i64) {
    let mut c = Cluster::new(&[1, 2], 1, historical);
    let (m1, info) = c.produce(-1).unwrap();
    c.fetch(2);
    c.fetch(2);
    assert!(c.p(1).acks_all_status(info.last_offset).unwrap(), "m1 is acknowledged");
    assert_eq!(c.p(2).high_watermark(), Offset(0), "B has not learned the HW yet");
    // B restarts.
    drop(c.replicas.get_mut(&2).unwrap().take());
    let reopened = c.open(2);
    c.replicas.insert(2, Some(reopened));
    c.assign_role(2);
    // A dies; B, in the ISR, is elected.
    drop(c.replicas.get_mut(&1).unwrap().take());
    c.elect(2, &[2]);
    (c.ids(2), m1)
}

#[test]
fn hw_truncation_loses_a_committed_record_and_leader_epochs_keep_it() {
    let (kept, m1) = r5(modern());
    assert_eq!(kept, vec![m1]);
    let historical = HistoricalBehaviours { hw_truncation: true, ..modern() };
    let (lost, _) = r5(historical);
    assert_eq!(lost, Vec::<i64>::new(), "R5: the acknowledged m1 is gone");
}

/// 1 leads with ISR {1, 2}; 3 catches up and its expansion is in flight when 2 fetches a
/// new record.
fn joining_replica(historical: HistoricalBehaviours) -> Cluster {
    let mut c = Cluster::new(&[1, 2, 3], 1, historical);
    c.commit_isr(&[1, 2]);
    c.produce(1).unwrap();
    c.fetch(2);
    c.fetch(2);
    c.fetch(3);
    c.fetch(3);
    let now = c.now_ms;
    let expansion = c.p_mut(1).poll_isr_change(now).expect("3 caught up");
    assert_eq!(expansion.new_isr, vec![1, 2, 3]);
    c.produce(1).unwrap();
    c.fetch(2);
    c.fetch(2);
    c
}

#[test]
fn the_hw_waits_for_a_joining_replica_unless_no_maximal_isr() {
    let c = joining_replica(modern());
    assert_eq!(c.p(1).high_watermark(), Offset(1), "3 is in the maximal ISR");
    let mut c = joining_replica(HistoricalBehaviours { no_maximal_isr: true, ..modern() });
    assert_eq!(c.p(1).high_watermark(), Offset(2), "pre-KIP-497: the committed ISR only");
    // R9: the expansion commits, 3 is elected without the committed second record.
    c.state.isr = vec![1, 2, 3];
    c.state.partition_epoch += 1;
    c.elect(3, &[1, 2, 3]);
    assert_eq!(c.p(3).log_end_offset(), Offset(1));
}

#[test]
fn a_fenced_replica_neither_joins_the_isr_nor_holds_the_hw_back() {
    // KIP-841. 1 leads with ISR {1, 2}; 3 is out of it and fenced, and catches up.
    let mut c = Cluster::new(&[1, 2, 3], 1, modern());
    c.commit_isr(&[1, 2]);
    c.fence(3);
    c.produce(1).unwrap();
    c.fetch(3);
    c.fetch(3);
    assert_eq!(c.alter_partition(), None, "a fenced replica is not proposed");
    // 3 stays one record behind, within replica.lag.time.max.ms: fenced, it does not count.
    c.produce(1).unwrap();
    for _ in 0..3 {
        c.fetch(2);
    }
    assert_eq!(c.p(1).high_watermark(), Offset(2), "only the ISR bounds the HW");
    // Unfenced and caught up within the lag time, it holds the HW while it waits to join.
    c.unfence(3);
    c.produce(1).unwrap();
    c.fetch(2);
    c.fetch(2);
    assert_eq!(c.p(1).high_watermark(), Offset(2), "3, eligible, holds it");
    c.fetch(3);
    c.fetch(3);
    assert_eq!(c.p(1).high_watermark(), Offset(3));
    assert_eq!(c.alter_partition().map(|p| p.new_isr), Some(vec![1, 2, 3]));
}

/// The old leader 1 holds x1, x2 the new leader 2 never had; 2's HW is above 1's divergence.
fn old_leader_rejoins(historical: HistoricalBehaviours) -> (Cluster, FetchedPartition, i64) {
    let mut c = Cluster::new(&[1, 2, 3], 1, historical);
    c.produce(1).unwrap();
    c.fetch(2);
    c.fetch(3);
    let (x1, _) = c.produce(1).unwrap();
    c.produce(1).unwrap();
    c.elect(2, &[2, 3]);
    for _ in 0..3 {
        c.produce(1).unwrap();
    }
    c.fetch(3);
    c.fetch(3);
    assert_eq!(c.p(2).high_watermark(), Offset(4));
    let answer = c.leader_answer(1).unwrap();
    assert_eq!(answer.diverging_epoch, Some((0, 1)));
    assert_eq!(answer.high_watermark, 4);
    (c, answer, x1)
}

#[test]
fn the_hw_is_raised_after_truncation_unless_hw_before_truncation() {
    let (mut c, answer, _) = old_leader_rejoins(modern());
    let now = c.now_ms;
    c.p_mut(1).handle_fetch_response(now, &answer).unwrap();
    assert_eq!(c.p(1).log_end_offset(), Offset(1));
    assert!(c.p(1).high_watermark() <= Offset(1));

    let historical = HistoricalBehaviours { hw_before_truncation: true, ..modern() };
    let (mut c, answer, x1) = old_leader_rejoins(historical);
    c.p_mut(1).handle_fetch_response(now, &answer).unwrap();
    // KAFKA-14704: a consumer of replica 1 now reads x1, which the truncation removes.
    assert_eq!(c.p(1).high_watermark(), Offset(3));
    assert!(visible(c.p(1)).contains(&x1));
    c.fetch(1);
    assert!(!c.ids(1).contains(&x1));
    for _ in 0..3 {
        c.fetch(1);
    }
    assert_eq!(stored(c.p(1)), stored(c.p(2)));
}

#[test]
fn a_restarted_replica_knows_its_high_watermark() {
    let mut c = Cluster::new(&[1, 2], 1, modern());
    c.produce(1).unwrap();
    c.fetch(2);
    c.fetch(2);
    c.fetch(2);
    assert_eq!(c.p(2).high_watermark(), Offset(1));
    let p = c.replicas.get_mut(&2).unwrap().take().unwrap();
    let now = c.now_ms;
    p.close(now).unwrap();
    let reopened = c.open(2);
    assert!(reopened.opened_clean());
    assert_eq!(reopened.high_watermark(), Offset(1));
}

// ---- the seeded random model

/// Ghost state of the model: what was committed and what each leader showed.
#[derive(Default)]
struct Ghost {
    /// Batches below some leader's HW, by base offset.
    committed: BTreeMap<Offset, Stored>,
    /// (replica, epoch) -> the HW it last had as leader.
    leader_high_watermarks: BTreeMap<(i32, i32), Offset>,
}

impl Ghost {
    fn observe(&mut self, c: &Cluster, seed: u64, step: usize) {
        let leader = c.state.leader;
        if leader >= 0 && c.is_up(leader) && c.p(leader).is_leader() {
            let p = c.p(leader);
            let key = (leader, p.leader_epoch().0);
            let hw = p.high_watermark();
            if let Some(previous) = self.leader_high_watermarks.insert(key, hw) {
                assert!(
                    previous <= hw,
                    "seed {seed} step {step}: leader {key:?} HW {previous} -> {hw}"
                );
            }
            for s in stored(p).into_iter().filter(|s| s.base_offset < hw) {
                if let Some(known) = self.committed.insert(s.base_offset, s) {
                    assert_eq!(known, s, "seed {seed} step {step}: committed batch replaced");
                }
            }
        }
        // LogMatching: below both HWs, two replicas hold the same batches.
        let up: Vec<i32> = c.replicas.keys().copied().filter(|&id| c.is_up(id)).collect();
        for (i, &a) in up.iter().enumerate() {
            for &b in &up[i + 1..] {
                let bound = c.p(a).high_watermark().min(c.p(b).high_watermark());
                let below = |id| -> Vec<Stored> {
                    stored(c.p(id)).into_iter().filter(|s| s.base_offset < bound).collect()
                };
                let (la, lb) = (below(a), below(b));
                let from = la.first().map(|s| s.base_offset).max(lb.first().map(|s| s.base_offset));
                let trim = |l: Vec<Stored>| -> Vec<Stored> {
                    l.into_iter().filter(|s| Some(s.base_offset) >= from).collect()
                };
                assert_eq!(
                    trim(la),
                    trim(lb),
                    "seed {seed} step {step}: replicas {a} and {b} diverge below HW {bound}"
                );
            }
        }
    }

    /// The leader holds every committed batch (LeaderCompleteness).
    fn check_leader(&self, c: &Cluster, seed: u64, step: usize) {
        let leader = c.state.leader;
        if leader < 0 || !c.is_up(leader) {
            return;
        }
        let log: BTreeMap<Offset, Stored> =
            stored(c.p(leader)).into_iter().map(|s| (s.base_offset, s)).collect();
        for (offset, s) in &self.committed {
            if *offset < c.p(leader).log_start_offset() {
                continue;
            }
            assert_eq!(
                log.get(offset),
                Some(s),
                "seed {seed} step {step}: leader {leader} lost committed {s:?}"
            );
        }
    }
}

/// Runs one seed; returns how many batches were committed (the model's own sanity check).
fn run_model(seed: u64, steps: usize, historical: HistoricalBehaviours) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let min_isr = rng.gen_range(1..=2);
    let mut c = Cluster::new(&[1, 2, 3], min_isr, historical);
    let mut ghost = Ghost::default();
    for step in 0..steps {
        c.now_ms += rng.gen_range(0..2_000);
        let leader = c.state.leader;
        match rng.gen_range(0..100) {
            0..=29 => {
                if leader >= 0 && c.is_up(leader) {
                    let acks = [-1, 1][rng.gen_range(0..2)];
                    let _ = c.produce(acks);
                }
            }
            30..=69 => {
                let follower = rng.gen_range(1..=3);
                if c.is_up(follower) && follower != leader {
                    if rng.gen_bool(0.1) {
                        // The answer is lost: the leader saw the fetch, the follower did not.
                        let _ = c.leader_answer(follower);
                    } else {
                        c.fetch(follower);
                    }
                }
            }
            70..=79 => {
                if leader >= 0 && c.is_up(leader) {
                    c.alter_partition();
                }
            }
            80..=87 => {
                // A leader change to a live ISR member.
                let candidates: Vec<i32> =
                    c.state.isr.iter().copied().filter(|&id| c.is_up(id)).collect();
                if !candidates.is_empty() {
                    let next = candidates[rng.gen_range(0..candidates.len())];
                    let isr = c.state.isr.clone();
                    c.elect(next, &isr);
                    ghost.check_leader(&c, seed, step);
                }
            }
            88..=94 => {
                // A crash: no close, no flush. The controller fences the broker: out of the
                // ISR unless it is the last member; a new leader if it led.
                let victim = rng.gen_range(1..=3);
                if c.is_up(victim) {
                    drop(c.replicas.get_mut(&victim).unwrap().take());
                    let rest: Vec<i32> =
                        c.state.isr.iter().copied().filter(|&id| id != victim).collect();
                    let isr = if rest.is_empty() { c.state.isr.clone() } else { rest };
                    if victim == leader {
                        let next = isr.iter().copied().find(|&id| c.is_up(id)).unwrap_or(-1);
                        c.elect(next, &isr);
                        ghost.check_leader(&c, seed, step);
                    } else if isr != c.state.isr {
                        c.commit_isr(&isr);
                    }
                }
            }
            _ => {
                // A restart.
                let down: Vec<i32> =
                    c.replicas.keys().copied().filter(|&id| !c.is_up(id)).collect();
                if !down.is_empty() {
                    let id = down[rng.gen_range(0..down.len())];
                    let reopened = c.open(id);
                    c.replicas.insert(id, Some(reopened));
                    if c.state.leader < 0 && c.state.isr.contains(&id) {
                        let isr = c.state.isr.clone();
                        c.elect(id, &isr);
                        ghost.check_leader(&c, seed, step);
                    } else {
                        c.assign_role(id);
                    }
                }
            }
        }
        ghost.observe(&c, seed, step);
    }
    ghost.committed.len()
}

#[test]
fn random_leader_changes_fetches_appends_and_crashes_keep_replication_safe() {
    let seeds: u64 =
        std::env::var("PARTITION_MODEL_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    let committed: usize = (0..seeds).map(|seed| run_model(seed, 250, modern())).sum();
    assert!(committed > 0, "the model commits something");
}

#[test]
fn the_random_model_finds_the_loss_hw_truncation_allows() {
    // Pre-KIP-101, an ISR follower truncates to its stale HW on every leader change and can
    // then be elected: some seed must lose a committed batch (the checks panic).
    let historical = HistoricalBehaviours { hw_truncation: true, ..modern() };
    let caught = (0..40u64)
        .any(|seed| std::panic::catch_unwind(|| run_model(seed, 250, historical)).is_err());
    assert!(caught, "no seed showed the pre-KIP-101 loss");
}
