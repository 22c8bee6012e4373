//! Each invariant broken exactly once by a handmade observation, a healthy three-broker
//! history that breaks none, and observations that are garbage but must not panic.

use super::*;
use crate::properties::PROPERTIES;
use proptest::prelude::*;

const TOPIC: &str = "t";

fn key() -> (String, i32) {
    (TOPIC.to_owned(), 0)
}

/// The CRC a batch written at `offset` in `epoch` has (distinct per pair).
fn crc(offset: i64, epoch: i32) -> u32 {
    (offset as u32).wrapping_mul(1000).wrapping_add(epoch as u32)
}

/// One-record batches at offsets `from..to`, written in `epoch`.
fn batches(epoch: i32, from: i64, to: i64) -> Vec<BatchView> {
    (from..to)
        .map(|o| BatchView {
            base_offset: o,
            last_offset: o,
            leader_epoch: epoch,
            crc: crc(o, epoch),
        })
        .collect()
}

fn replica(
    broker: i32,
    leader_epoch: i32,
    high_watermark: i64,
    log: Vec<BatchView>,
) -> ReplicaView {
    ReplicaView {
        broker_id: broker,
        alive: true,
        topic: TOPIC.to_owned(),
        partition: 0,
        is_leader: false,
        leader_epoch,
        high_watermark,
        log_start_offset: 0,
        log_end_offset: log.last().map_or(0, |b| b.last_offset + 1),
        batches: log,
    }
}

/// A healthy cluster: brokers 1–3 registered and unfenced, `t-0` on all three with
/// `min.insync.replicas=2`, broker 1 leading at leader epoch 1 with ISR {1, 2, 3}, every
/// replica holding offsets `0..end` written in epoch 1 with high watermark `hw`; KRaft node 1
/// leading epoch 1, nodes 2 and 3 following it.
fn cluster(now_ms: i64, hw: i64, end: i64) -> ClusterObservation {
    let brokers = (1..=3)
        .map(|b| (b, BrokerView { broker_epoch: 10 + i64::from(b), ..Default::default() }))
        .collect();
    let partition = PartitionView {
        replicas: vec![1, 2, 3],
        isr: vec![1, 2, 3],
        elr: vec![],
        leader: 1,
        leader_epoch: 1,
        partition_epoch: 1,
        min_insync_replicas: 2,
        unclean_election_enabled: false,
    };
    let mut replicas: Vec<ReplicaView> =
        (1..=3).map(|b| replica(b, 1, hw, batches(1, 0, end))).collect();
    replicas[0].is_leader = true;
    let raft = (1..=3)
        .map(|n| RaftView {
            node_id: n,
            epoch: 1,
            leader: Some(1),
            is_leader: n == 1,
            high_watermark: Some(7),
        })
        .collect();
    ClusterObservation {
        now_ms,
        controller: ControllerView { brokers, partitions: [(key(), partition)].into() },
        replicas,
        raft,
    }
}

fn partition(obs: &mut ClusterObservation) -> &mut PartitionView {
    obs.controller.partitions.get_mut(&key()).expect("the test cluster has t-0")
}

fn replica_of(obs: &mut ClusterObservation, broker: i32) -> &mut ReplicaView {
    obs.replicas.iter_mut().find(|r| r.broker_id == broker).expect("the broker holds t-0")
}

/// Acknowledge offsets `from..to` as committed, with the CRCs epoch `epoch` wrote.
fn ack(checker: &mut ReplicationInvariants, at_ms: i64, epoch: i32, from: i64, to: i64) {
    for offset in from..to {
        checker.record_ack(Ack {
            at_ms,
            topic: TOPIC.to_owned(),
            partition: 0,
            offset,
            record: RecordId::BatchCrc(crc(offset, epoch)),
            acks: ACKS_ALL,
            isr_at_least_min: true,
        });
    }
}

fn names(violations: &[Violation]) -> Vec<&'static str> {
    violations.iter().map(|v| v.property).collect()
}

/// The violations of one observation seen by a fresh checker.
fn check(obs: &ClusterObservation) -> Vec<Violation> {
    ReplicationInvariants::new().observe(obs)
}

// ---- Healthy ----

#[test]
fn a_healthy_three_broker_history_breaks_nothing() {
    let mut checker = ReplicationInvariants::new();
    let mut seen = Vec::new();

    // Empty partition, then five records replicated everywhere and acknowledged.
    seen.extend(checker.observe(&cluster(100, 0, 0)));
    ack(&mut checker, 150, 1, 0, 5);
    seen.extend(checker.record_client_hw(160, "c1", TOPIC, 0, 5));
    seen.extend(checker.observe(&cluster(200, 5, 5)));

    // The leader appends 5..8; broker 2 has them, broker 3 lags. The HW stays at 5.
    let mut obs = cluster(250, 5, 8);
    *replica_of(&mut obs, 3) = replica(3, 1, 5, batches(1, 0, 5));
    seen.extend(checker.observe(&obs));

    // Broker 3 crashes and is fenced and shrunk out of the ISR; the HW reaches 8 on {1, 2}.
    let mut obs = cluster(300, 8, 8);
    *replica_of(&mut obs, 3) = replica(3, 1, 5, batches(1, 0, 5));
    replica_of(&mut obs, 3).alive = false;
    obs.controller.brokers.entry(3).or_default().fenced = true;
    let p = partition(&mut obs);
    p.isr = vec![1, 2];
    p.partition_epoch = 2;
    seen.extend(checker.observe(&obs));
    ack(&mut checker, 310, 1, 5, 8);
    seen.extend(checker.record_client_hw(320, "c1", TOPIC, 0, 8));

    // Broker 1 (leader, and KRaft leader) crashes. During the KRaft election nobody leads
    // epoch 2 yet; the controller then elects broker 2 at leader epoch 2 with ISR {2} and
    // broker 1 in the ELR (KIP-966). Broker 2 appends 8..10 in epoch 2; with the ISR below
    // min.insync.replicas the HW stays at 8. Broker 1's dead replica still says it leads.
    let mut obs = obs.clone();
    obs.now_ms = 400;
    for r in &mut obs.raft {
        r.epoch = 2;
        r.leader = None;
        r.is_leader = false;
    }
    seen.extend(checker.observe(&obs));
    let mut log2 = batches(1, 0, 8);
    log2.extend(batches(2, 8, 10));
    let mut obs = cluster(450, 8, 8);
    replica_of(&mut obs, 1).alive = false;
    *replica_of(&mut obs, 2) = replica(2, 2, 8, log2.clone());
    replica_of(&mut obs, 2).is_leader = true;
    *replica_of(&mut obs, 3) = replica(3, 1, 5, batches(1, 0, 5));
    replica_of(&mut obs, 3).alive = false;
    for b in [1, 3] {
        obs.controller.brokers.entry(b).or_default().fenced = true;
    }
    let p = partition(&mut obs);
    (p.leader, p.leader_epoch, p.partition_epoch, p.isr, p.elr) = (2, 2, 3, vec![2], vec![1]);
    for r in &mut obs.raft {
        (r.epoch, r.leader, r.is_leader) = (2, Some(2), r.node_id == 2);
    }
    let after_election = obs.clone();
    seen.extend(checker.observe(&obs));

    // Broker 3 restarts, catches up in epoch 2 and rejoins: ISR {2, 3}, the HW reaches 10.
    let mut obs = after_election;
    obs.now_ms = 500;
    replica_of(&mut obs, 2).high_watermark = 10;
    *replica_of(&mut obs, 3) = replica(3, 2, 10, log2);
    obs.controller.brokers.entry(3).or_default().fenced = false;
    let p = partition(&mut obs);
    (p.isr, p.elr, p.partition_epoch) = (vec![2, 3], vec![], 4);
    seen.extend(checker.observe(&obs));
    ack(&mut checker, 510, 2, 8, 10);
    seen.extend(checker.record_client_hw(520, "c1", TOPIC, 0, 10));
    seen.extend(checker.observe(&obs));

    assert_eq!(seen, vec![]);
    assert_eq!(checker.true_high_watermark(TOPIC, 0), Some(10));
    assert_eq!(checker.committed_records(), 10);
}

// ---- One violation each ----

#[test]
fn log_matching_two_replicas_disagree_below_both_high_watermarks() {
    // Broker 3 holds offset 2 from epoch 2 where broker 1 holds it from epoch 1, both below
    // their high watermarks (5 and 3). Broker 2's HW is 2, so it is not held to offset 2.
    let mut obs = cluster(100, 5, 5);
    let mut log3 = batches(1, 0, 2);
    log3.extend(batches(2, 2, 3));
    *replica_of(&mut obs, 3) = replica(3, 1, 3, log3);
    replica_of(&mut obs, 2).high_watermark = 2;
    // Broker 3 is behind, so out of the ISR (else it would break leader-candidates-complete).
    partition(&mut obs).isr = vec![1, 2];
    let violations = check(&obs);
    assert_eq!(names(&violations), vec![LOG_MATCHING]);
    assert_eq!(
        violations[0].explanation,
        "broker-1 and broker-3 disagree on t-0 at offset 2, below both their high watermarks \
         (the lower is 3): broker-1 holds batch 2..=2 of leader epoch 1 (crc 0x000007d1), \
         broker-3 batch 2..=2 of leader epoch 2 (crc 0x000007d2)"
    );
    assert_eq!(violations[0].broker, Some(3));
}

#[test]
fn log_matching_one_batch_both_hold_pins_everything_below_it() {
    // Above every high watermark, but both hold batch 3 of epoch 1: offset 1 must match.
    let mut obs = cluster(100, 0, 4);
    let mut log2 = batches(1, 0, 4);
    log2[1].crc = 99;
    *replica_of(&mut obs, 2) = replica(2, 1, 0, log2);
    let violations = check(&obs);
    // Broker 2 disagrees with brokers 1 and 3.
    assert_eq!(names(&violations), vec![LOG_MATCHING, LOG_MATCHING]);
    assert!(violations[0]
        .explanation
        .contains("at or below the batch at offset 3 of leader epoch 1"));
}

#[test]
fn leader_completeness_the_leader_lacks_an_acknowledged_record() {
    // Offset 4 was acknowledged from epoch 1; the leader (now at epoch 2) holds another
    // batch there. The followers' HW is 4, so log matching does not reach offset 4.
    let mut checker = ReplicationInvariants::new();
    ack(&mut checker, 50, 1, 0, 5);
    let mut obs = cluster(100, 4, 5);
    let mut log1 = batches(1, 0, 4);
    log1.extend(batches(2, 4, 5));
    *replica_of(&mut obs, 1) = replica(1, 2, 5, log1);
    replica_of(&mut obs, 1).is_leader = true;
    for b in [2, 3] {
        replica_of(&mut obs, b).leader_epoch = 2;
    }
    partition(&mut obs).leader_epoch = 2;
    let violations = checker.observe(&obs);
    assert_eq!(names(&violations), vec![LEADER_COMPLETENESS]);
    assert_eq!(
        violations[0].explanation,
        "leader broker-1 of t-0 at leader epoch 2 lacks the record at offset 4 (its log spans \
         offsets 0 to 5), acknowledged with acks=all while the ISR met min.insync.replicas \
         (acknowledged at t=50ms)"
    );
}

#[test]
fn no_committed_record_lost_no_replica_holds_an_acknowledged_record() {
    // Every broker is down and fenced and none holds offset 4: the partition is offline
    // with broker 1 the last replica standing.
    let mut checker = ReplicationInvariants::new();
    ack(&mut checker, 50, 1, 0, 5);
    let mut obs = cluster(100, 4, 4);
    for r in &mut obs.replicas {
        r.alive = false;
    }
    for b in obs.controller.brokers.values_mut() {
        b.fenced = true;
    }
    let p = partition(&mut obs);
    (p.leader, p.leader_epoch, p.partition_epoch, p.isr) = (NO_LEADER, 2, 3, vec![1]);
    let violations = checker.observe(&obs);
    assert_eq!(names(&violations), vec![NO_COMMITTED_RECORD_LOST]);
    assert_eq!(
        violations[0].explanation,
        "no replica of t-0 (of broker-1, broker-2, broker-3) holds the record at offset 4, \
         acknowledged with acks=all while the ISR met min.insync.replicas (acknowledged at \
         t=50ms) (controller leader broker--1 at leader epoch 2)"
    );
}

#[test]
fn uncommitted_acknowledgements_are_not_held_to_anything() {
    let mut checker = ReplicationInvariants::new();
    for (acks, isr_at_least_min) in [(1, true), (0, true), (ACKS_ALL, false)] {
        checker.record_ack(Ack {
            at_ms: 1,
            topic: TOPIC.to_owned(),
            partition: 0,
            offset: 9,
            record: RecordId::BatchCrc(1),
            acks,
            isr_at_least_min,
        });
    }
    assert_eq!(checker.committed_records(), 0);
    assert_eq!(checker.observe(&cluster(100, 5, 5)), vec![]);
}

#[test]
fn unclean_election_reports_the_loss_as_expected() {
    // Broker 3, out of sync with only offsets 0..3, was elected uncleanly at epoch 2.
    let mut checker = ReplicationInvariants::new();
    ack(&mut checker, 50, 1, 0, 5);
    let mut obs = cluster(100, 5, 5);
    for b in [1, 2] {
        replica_of(&mut obs, b).alive = false;
        obs.controller.brokers.entry(b).or_default().fenced = true;
    }
    *replica_of(&mut obs, 3) = replica(3, 2, 3, batches(1, 0, 3));
    replica_of(&mut obs, 3).is_leader = true;
    let p = partition(&mut obs);
    (p.leader, p.leader_epoch, p.partition_epoch, p.isr) = (3, 2, 2, vec![3]);
    p.unclean_election_enabled = true;
    let violations = checker.observe(&obs);
    // The leader lacks offsets 3 and 4 (in place of leader-completeness) and is behind the
    // true high watermark (in place of leader-candidates-complete).
    assert_eq!(names(&violations), vec![UNCLEAN_ELECTION_LOSS, UNCLEAN_ELECTION_LOSS]);
    assert!(violations.iter().any(|v| v.explanation.contains("lacks 2 records at offsets 3, 4")));
    // A client's high watermark going back is expected there too.
    assert_eq!(checker.record_client_hw(110, "c1", TOPIC, 0, 5), None);
    let back =
        checker.record_client_hw(120, "c1", TOPIC, 0, 3).expect("the high watermark went back");
    assert_eq!(back.property, UNCLEAN_ELECTION_LOSS);
}

#[test]
fn leader_in_isr_the_leader_is_outside_its_isr() {
    let mut obs = cluster(100, 5, 5);
    partition(&mut obs).isr = vec![2, 3];
    let violations = check(&obs);
    assert_eq!(names(&violations), vec![LEADER_IN_ISR]);
    assert_eq!(
        violations[0].explanation,
        "the controller's leader of t-0 at leader epoch 1, broker-1, is not in its ISR [2, 3]"
    );
}

#[test]
fn isr_in_replicas_an_isr_member_is_not_a_replica() {
    let mut obs = cluster(100, 5, 5);
    obs.controller.brokers.insert(4, BrokerView::default());
    partition(&mut obs).isr = vec![1, 2, 3, 4];
    let violations = check(&obs);
    assert_eq!(names(&violations), vec![ISR_IN_REPLICAS]);
    assert_eq!(
        violations[0].explanation,
        "the controller's record of t-0 at partition epoch 1 has broker-4 in its ISR \
         [1, 2, 3, 4] or ELR [] but not among its replicas [1, 2, 3]"
    );
}

#[test]
fn isr_elr_disjoint_a_broker_is_in_both() {
    let mut obs = cluster(100, 5, 5);
    partition(&mut obs).elr = vec![3];
    let violations = check(&obs);
    assert_eq!(names(&violations), vec![ISR_ELR_DISJOINT]);
    assert_eq!(violations[0].broker, Some(3));
}

#[test]
fn no_fenced_in_isr_a_fenced_broker_stays_in_the_isr() {
    let mut obs = cluster(100, 5, 5);
    obs.controller.brokers.entry(3).or_default().fenced = true;
    let violations = check(&obs);
    assert_eq!(names(&violations), vec![NO_FENCED_IN_ISR]);
    assert_eq!(
        violations[0].explanation,
        "broker-3 is fenced but in the ISR [1, 2, 3] of t-0 at partition epoch 1 (leader \
         broker-1, leader epoch 1)"
    );
}

#[test]
fn no_fenced_in_isr_excuses_the_last_replica_standing() {
    let mut obs = cluster(100, 5, 5);
    obs.controller.brokers.entry(3).or_default().fenced = true;
    replica_of(&mut obs, 1).is_leader = false;
    let p = partition(&mut obs);
    (p.leader, p.isr) = (NO_LEADER, vec![3]);
    assert_eq!(check(&obs), vec![]);
}

#[test]
fn epochs_monotonic_the_controllers_leader_epoch_goes_back() {
    let mut checker = ReplicationInvariants::new();
    let mut obs = cluster(100, 5, 5);
    partition(&mut obs).leader_epoch = 2;
    assert_eq!(checker.observe(&obs), vec![]);
    let violations = checker.observe(&cluster(200, 5, 5));
    assert_eq!(names(&violations), vec![EPOCHS_MONOTONIC]);
    assert_eq!(
        violations[0].explanation,
        "the controller's leader epoch of t-0 is 1, below 2 it published at t=100ms"
    );
}

#[test]
fn epochs_monotonic_the_partition_epoch_goes_back() {
    let mut checker = ReplicationInvariants::new();
    let mut obs = cluster(100, 5, 5);
    partition(&mut obs).partition_epoch = 4;
    assert_eq!(checker.observe(&obs), vec![]);
    let violations = checker.observe(&cluster(200, 5, 5));
    assert_eq!(names(&violations), vec![EPOCHS_MONOTONIC]);
    assert!(violations[0].explanation.contains("partition epoch of t-0 is 1, below 4"));
}

#[test]
fn epochs_monotonic_a_replica_is_ahead_of_the_controller() {
    let mut obs = cluster(100, 5, 5);
    replica_of(&mut obs, 3).leader_epoch = 5;
    let violations = check(&obs);
    assert_eq!(names(&violations), vec![EPOCHS_MONOTONIC]);
    assert_eq!(
        violations[0].explanation,
        "broker-3's replica of t-0 is at leader epoch 5, above the controller's leader epoch 1"
    );
}

#[test]
fn forgetting_a_deleted_partition_lets_it_start_over() {
    let mut checker = ReplicationInvariants::new();
    let mut obs = cluster(100, 5, 5);
    partition(&mut obs).leader_epoch = 7;
    for r in &mut obs.replicas {
        r.leader_epoch = 7;
    }
    assert_eq!(checker.observe(&obs), vec![]);
    checker.forget_partition(TOPIC, 0);
    assert_eq!(checker.observe(&cluster(200, 0, 0)), vec![]);
}

#[test]
fn stale_leader_fenced_two_replicas_claim_the_current_epoch() {
    let mut obs = cluster(100, 5, 5);
    replica_of(&mut obs, 2).is_leader = true;
    let violations = check(&obs);
    assert_eq!(names(&violations), vec![STALE_LEADER_FENCED]);
    assert_eq!(
        violations[0].explanation,
        "broker-2 claims leadership of t-0 at the current leader epoch 1, but the \
         controller's leader at that epoch is broker-1"
    );
}

#[test]
fn stale_leader_fenced_a_stale_leader_is_ahead_of_the_new_leaders_log() {
    // Broker 2 leads at epoch 2 with offsets 0..5; broker 1, still leading at epoch 1, has
    // a high watermark of 7 it can only have advanced without broker 2.
    let mut obs = cluster(100, 5, 5);
    *replica_of(&mut obs, 1) = replica(1, 1, 7, batches(1, 0, 7));
    replica_of(&mut obs, 1).is_leader = true;
    for b in [2, 3] {
        replica_of(&mut obs, b).leader_epoch = 2;
    }
    replica_of(&mut obs, 2).is_leader = true;
    let p = partition(&mut obs);
    (p.leader, p.leader_epoch, p.partition_epoch, p.isr) = (2, 2, 2, vec![2, 3]);
    let violations = check(&obs);
    assert_eq!(names(&violations), vec![STALE_LEADER_FENCED]);
    assert_eq!(
        violations[0].explanation,
        "broker-1 still leads t-0 at stale leader epoch 1 with high watermark 7, above the log \
         end offset 5 of the current leader broker-2 at leader epoch 2"
    );
}

#[test]
fn raft_election_safety_two_leaders_of_one_epoch_over_time() {
    let mut checker = ReplicationInvariants::new();
    assert_eq!(checker.observe(&cluster(100, 0, 0)), vec![]);
    // Node 1 is partitioned away (not observed); node 2 leads epoch 1 too.
    let mut obs = cluster(200, 0, 0);
    obs.raft.retain(|r| r.node_id != 1);
    for r in &mut obs.raft {
        (r.leader, r.is_leader) = (Some(2), r.node_id == 2);
    }
    let violations = checker.observe(&obs);
    assert_eq!(names(&violations), vec![RAFT_ELECTION_SAFETY]);
    assert_eq!(
        violations[0].explanation,
        "KRaft node 2 leads epoch 1, but node 1 saw node 1 lead it at t=100ms"
    );
    assert_eq!(violations[0].broker, Some(2));
}

#[test]
fn client_hw_monotonic_a_client_sees_the_high_watermark_go_back() {
    let mut checker = ReplicationInvariants::new();
    assert_eq!(checker.record_client_hw(100, "c1", TOPIC, 0, 10), None);
    assert_eq!(checker.record_client_hw(110, "c1", TOPIC, 0, 10), None);
    let violation = checker.record_client_hw(120, "c1", TOPIC, 0, 8);
    assert_eq!(
        violation,
        Some(Violation {
            property: CLIENT_HW_MONOTONIC,
            at_ms: 120,
            partition: Some(TopicPartitionKey { topic: TOPIC.to_owned(), partition: 0 }),
            broker: None,
            explanation: "client c1 was answered high watermark 8 for t-0, below 10 it was \
                          answered at t=100ms"
                .to_owned(),
        })
    );
    assert_eq!(checker.record_client_hw(130, "c1", TOPIC, 0, 11), None);
    // Another client is held to its own answers: its older answer is no regression.
    assert_eq!(checker.record_client_hw(140, "c2", TOPIC, 0, 9), None);
    assert!(checker.record_client_hw(150, "c2", TOPIC, 0, 7).is_some());
}

#[test]
fn leader_candidates_complete_an_isr_member_is_behind_the_true_high_watermark() {
    // The leader's HW is 5 while ISR member broker 3's log ends at 3.
    let mut obs = cluster(100, 5, 5);
    *replica_of(&mut obs, 3) = replica(3, 1, 3, batches(1, 0, 3));
    let violations = check(&obs);
    assert_eq!(names(&violations), vec![LEADER_CANDIDATES_COMPLETE]);
    assert_eq!(
        violations[0].explanation,
        "broker-3 is a running unfenced ISR member of t-0 at partition epoch 1 with log end \
         offset 3, below the true high watermark 5 (from leader broker-1's high watermark at \
         leader epoch 1 at t=100ms), so electing it would lose committed records"
    );
}

#[test]
fn leader_candidates_complete_counts_elr_members_and_excuses_fenced_or_down_ones() {
    let mut checker = ReplicationInvariants::new();
    ack(&mut checker, 50, 1, 0, 5);
    let mut obs = cluster(100, 5, 5);
    obs.controller.brokers.insert(4, BrokerView::default());
    obs.controller.brokers.insert(5, BrokerView { fenced: true, ..Default::default() });
    let p = partition(&mut obs);
    (p.replicas, p.elr) = (vec![1, 2, 3, 4, 5], vec![4, 5]);
    obs.replicas.push(replica(4, 1, 3, batches(1, 0, 3)));
    obs.replicas.push(replica(5, 1, 3, batches(1, 0, 3)));
    // Broker 3 is behind too but down: excused until it restarts.
    *replica_of(&mut obs, 3) = replica(3, 1, 3, batches(1, 0, 3));
    replica_of(&mut obs, 3).alive = false;
    let violations = checker.observe(&obs);
    assert_eq!(names(&violations), vec![LEADER_CANDIDATES_COMPLETE]);
    assert_eq!(violations[0].broker, Some(4));
    assert!(violations[0].explanation.contains("unfenced ELR member"));
    assert!(violations[0].explanation.contains("from the acknowledgement of offset 4 at t=50ms"));
}

// ---- Reporting rules ----

#[test]
fn a_violated_state_is_reported_once_until_it_clears() {
    let mut checker = ReplicationInvariants::new();
    let mut bad = cluster(100, 5, 5);
    partition(&mut bad).isr = vec![2, 3];
    assert_eq!(names(&checker.observe(&bad)), vec![LEADER_IN_ISR]);
    bad.now_ms = 200;
    assert_eq!(checker.observe(&bad), vec![]);
    assert_eq!(checker.observe(&cluster(300, 5, 5)), vec![]);
    bad.now_ms = 400;
    let again = checker.observe(&bad);
    assert_eq!(names(&again), vec![LEADER_IN_ISR]);
    assert_eq!(again[0].at_ms, 400);
}

#[test]
fn violations_come_in_property_order_and_regenerate_identically() {
    let mut obs = cluster(100, 5, 5);
    obs.controller.brokers.entry(2).or_default().fenced = true;
    replica_of(&mut obs, 3).is_leader = true;
    let p = partition(&mut obs);
    (p.isr, p.elr) = (vec![2, 3], vec![3]);
    let first = check(&obs);
    assert_eq!(
        names(&first),
        vec![LEADER_IN_ISR, ISR_ELR_DISJOINT, NO_FENCED_IN_ISR, STALE_LEADER_FENCED]
    );
    assert_eq!(check(&obs), first);
}

#[test]
fn value_ids_are_held_by_any_batch_covering_their_offset() {
    let mut checker = ReplicationInvariants::new();
    for offset in 0..5 {
        checker.record_ack(Ack {
            at_ms: 50,
            topic: TOPIC.to_owned(),
            partition: 0,
            offset,
            record: RecordId::Value(format!("v{offset}")),
            acks: ACKS_ALL,
            isr_at_least_min: true,
        });
    }
    // A single five-record batch holds them all.
    let mut obs = cluster(100, 5, 0);
    let log = vec![BatchView { base_offset: 0, last_offset: 4, leader_epoch: 1, crc: 7 }];
    for b in 1..=3 {
        *replica_of(&mut obs, b) = replica(b, 1, 5, log.clone());
    }
    replica_of(&mut obs, 1).is_leader = true;
    assert_eq!(checker.observe(&obs), vec![]);
    // Retention deleting the whole batch on the leader loses nothing.
    let leader = replica_of(&mut obs, 1);
    leader.log_start_offset = 5;
    leader.batches = vec![];
    assert_eq!(checker.observe(&obs), vec![]);
}

#[test]
fn every_property_is_named_in_properties_rs_and_judged_with_the_others() {
    let emitted = [
        LOG_MATCHING,
        LEADER_COMPLETENESS,
        NO_COMMITTED_RECORD_LOST,
        LEADER_CANDIDATES_COMPLETE,
        CLIENT_HW_MONOTONIC,
        UNCLEAN_ELECTION_LOSS,
        LEADER_IN_ISR,
        ISR_IN_REPLICAS,
        ISR_ELR_DISJOINT,
        NO_FENCED_IN_ISR,
        EPOCHS_MONOTONIC,
        STALE_LEADER_FENCED,
        RAFT_ELECTION_SAFETY,
    ];
    let listed: Vec<&str> = REPLICATION_PROPERTIES.iter().map(|p| p.name).collect();
    assert_eq!(listed, emitted);
    for p in REPLICATION_PROPERTIES {
        assert_eq!(p.kind, crate::properties::PropertyKind::Invariant, "{}", p.name);
        assert!(PROPERTIES.iter().any(|q| q == p), "{} is judged with every property", p.name);
    }
}

#[test]
fn a_violation_converts_to_a_ground_truth_violation() {
    let mut obs = cluster(100, 5, 5);
    partition(&mut obs).isr = vec![2, 3];
    let v = check(&obs).remove(0).to_ground_truth();
    assert_eq!((v.property, v.time_ms, v.broker), (LEADER_IN_ISR, 100, Some(1)));
    assert_eq!(v.partition.map(|p| p.to_string()), Some("t-0".to_owned()));
}

// ---- Garbage in, no panic ----

#[test]
fn garbage_observations_do_not_panic() {
    let mut checker = ReplicationInvariants::new();
    checker.record_ack(Ack {
        at_ms: i64::MIN,
        topic: String::new(),
        partition: i32::MIN,
        offset: i64::MAX,
        record: RecordId::BatchCrc(0),
        acks: ACKS_ALL,
        isr_at_least_min: true,
    });
    let _ = checker.record_client_hw(i64::MAX, "c1", "", i32::MIN, i64::MIN);
    let mut obs = cluster(i64::MIN, i64::MAX, 3);
    let p = partition(&mut obs);
    (p.leader, p.isr, p.elr, p.min_insync_replicas) = (i32::MIN, vec![], vec![1, 1], i32::MAX);
    for r in &mut obs.replicas {
        r.batches.reverse();
        r.batches.push(BatchView {
            base_offset: i64::MAX,
            last_offset: i64::MIN,
            leader_epoch: -1,
            crc: 0,
        });
        r.log_start_offset = i64::MIN;
    }
    obs.replicas.push(obs.replicas[0].clone());
    obs.replicas.push(ReplicaView {
        topic: String::new(),
        partition: i32::MIN,
        ..Default::default()
    });
    obs.raft.push(RaftView {
        node_id: 1,
        epoch: 1,
        leader: Some(3),
        is_leader: true,
        ..Default::default()
    });
    let _ = checker.observe(&obs);
    let _ = checker.observe(&ClusterObservation::default());
}

fn arbitrary_observation() -> impl Strategy<Value = ClusterObservation> {
    let ids = -1..5i32;
    let batch = (-3..12i64, 0..3i64, -1..3i32, 0..3u32).prop_map(|(base, len, epoch, crc)| {
        BatchView { base_offset: base, last_offset: base + len, leader_epoch: epoch, crc }
    });
    let replica = (
        ids.clone(),
        any::<bool>(),
        any::<bool>(),
        -1..4i32,
        -2..14i64,
        -2..4i64,
        -2..14i64,
        prop::collection::vec(batch, 0..6),
    )
        .prop_map(|(broker_id, alive, is_leader, leader_epoch, hw, start, end, batches)| {
            ReplicaView {
                broker_id,
                alive,
                topic: TOPIC.to_owned(),
                partition: 0,
                is_leader,
                leader_epoch,
                high_watermark: hw,
                log_start_offset: start,
                log_end_offset: end,
                batches,
            }
        });
    let members = prop::collection::vec(ids.clone(), 0..4);
    let partition = (
        members.clone(),
        members.clone(),
        members,
        ids.clone(),
        -1..4i32,
        -1..4i32,
        -1..4i32,
        any::<bool>(),
    )
        .prop_map(
            |(replicas, isr, elr, leader, leader_epoch, partition_epoch, min, unclean)| {
                PartitionView {
                    replicas,
                    isr,
                    elr,
                    leader,
                    leader_epoch,
                    partition_epoch,
                    min_insync_replicas: min,
                    unclean_election_enabled: unclean,
                }
            },
        );
    let broker = (ids.clone(), any::<bool>(), any::<bool>()).prop_map(|(id, fenced, unclean)| {
        (id, BrokerView { broker_epoch: 1, fenced, unclean_restart_pending: unclean })
    });
    let raft = (ids.clone(), -1..3i32, prop::option::of(ids), any::<bool>()).prop_map(
        |(node_id, epoch, leader, is_leader)| RaftView {
            node_id,
            epoch,
            leader,
            is_leader,
            high_watermark: None,
        },
    );
    (
        0..1000i64,
        prop::collection::vec(broker, 0..4),
        prop::option::of(partition),
        prop::collection::vec(replica, 0..5),
        prop::collection::vec(raft, 0..4),
    )
        .prop_map(|(now_ms, brokers, partition, replicas, raft)| ClusterObservation {
            now_ms,
            controller: ControllerView {
                brokers: brokers.into_iter().collect(),
                partitions: partition.map(|p| (key(), p)).into_iter().collect(),
            },
            replicas,
            raft,
        })
}

proptest! {
    #[test]
    fn arbitrary_observations_do_not_panic_and_name_known_properties(
        observations in prop::collection::vec(arbitrary_observation(), 1..6),
        acked in prop::collection::vec((-2..12i64, 0..3u32), 0..8),
        client_hws in prop::collection::vec(-2..12i64, 0..4),
    ) {
        let mut checker = ReplicationInvariants::new();
        let mut seen = Vec::new();
        for (offset, crc) in acked {
            checker.record_ack(Ack {
                at_ms: 0,
                topic: TOPIC.to_owned(),
                partition: 0,
                offset,
                record: RecordId::BatchCrc(crc),
                acks: ACKS_ALL,
                isr_at_least_min: true,
            });
        }
        for (i, obs) in observations.iter().enumerate() {
            seen.extend(checker.observe(obs));
            if let Some(&hw) = client_hws.get(i) {
                seen.extend(checker.record_client_hw(obs.now_ms, "c1", TOPIC, 0, hw));
            }
        }
        for v in &seen {
            prop_assert!(REPLICATION_PROPERTIES.iter().any(|p| p.name == v.property));
            prop_assert!(!v.explanation.is_empty());
        }
    }
}

#[test]
fn an_unclean_restart_is_excused_until_the_controller_has_processed_it() {
    // Broker 1, the leader, and broker 3 lost their page caches (offsets 3 and 4) and are
    // running again before the controller processed their re-registration.
    let mut checker = ReplicationInvariants::new();
    ack(&mut checker, 50, 1, 0, 5);
    assert_eq!(checker.observe(&cluster(100, 5, 5)), vec![]);
    let mut obs = cluster(200, 3, 3);
    *replica_of(&mut obs, 2) = replica(2, 1, 5, batches(1, 0, 5));
    for b in [1, 3] {
        obs.controller.brokers.entry(b).or_default().unclean_restart_pending = true;
    }
    assert_eq!(checker.observe(&obs), vec![]);
    // Registration processed without fencing or ISR removal (a historical switch): broker 3
    // is now an unfenced ISR member behind, and broker 1 a leader without offsets 3 and 4.
    for b in [1, 3] {
        obs.controller.brokers.entry(b).or_default().unclean_restart_pending = false;
    }
    obs.now_ms = 300;
    let violations = checker.observe(&obs);
    assert_eq!(
        names(&violations),
        vec![LEADER_COMPLETENESS, LEADER_CANDIDATES_COMPLETE, LEADER_CANDIDATES_COMPLETE]
    );
    let brokers: Vec<Option<i32>> = violations.iter().map(|v| v.broker).collect();
    assert_eq!(brokers, vec![Some(1), Some(1), Some(3)]);
}
