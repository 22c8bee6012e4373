//! Runbooks for the controller: each test drives a small cluster (the controller plus an
//! image the test replays records into, as the Server would after commit) through one story
//! and checks what the metadata says afterwards. Every applied record also goes through
//! [`check_invariants`].

use super::*;
use crate::metadata::PartitionImage;
use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::alter_partition_response::PartitionData as PartitionResult;
use kafka_protocol::messages::broker_registration_request::Listener;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{
    AlterPartitionRequest, BrokerId, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteTopicsRequest, FetchRequest,
};
use uuid::Uuid;

const SESSION_MS: i64 = 9000;

struct Cluster {
    controller: QuorumController,
    image: MetadataImage,
    now_ms: i64,
    /// (topic id, partition) → (leader, leader epoch, partition epoch) last seen.
    epochs: BTreeMap<(Uuid, i32), (i32, i32, i32)>,
}

fn incarnation(broker: i32, n: u128) -> Uuid {
    Uuid::from_u128(((broker as u128) << 64) | n)
}

impl Cluster {
    fn new(config: ControllerConfig) -> Self {
        let mut controller = QuorumController::new(config);
        let image = MetadataImage::default();
        controller.activate(0, &image);
        Cluster { controller, image, now_ms: 0, epochs: BTreeMap::new() }
    }

    fn modern() -> Self {
        Self::new(ControllerConfig::default())
    }

    fn with_historical(set: impl FnOnce(&mut HistoricalBehaviours)) -> Self {
        let mut config = ControllerConfig::default();
        set(&mut config.historical);
        Self::new(config)
    }

    /// What the Server does once records commit: replay them, then record the offset.
    fn apply(&mut self, records: &[MetadataRecord]) {
        for record in records {
            self.image.replay(record);
            self.image.set_offset(self.image.offset() + 1);
        }
        check_invariants(&self.image, &self.controller.config, &mut self.epochs);
    }

    fn request(&mut self, request: RequestKind, version: i16) -> ResponseKind {
        let result =
            self.controller.handle_request(self.now_ms, &self.image, &request, version).unwrap();
        self.apply(&result.records);
        result.response
    }

    fn register_with(&mut self, broker: i32, n: u128, previous_epoch: i64) -> (i16, i64) {
        let request = BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(broker))
            .with_incarnation_id(incarnation(broker, n))
            .with_previous_broker_epoch(previous_epoch)
            .with_listeners(vec![Listener::default()
                .with_name(str_bytes("PLAINTEXT"))
                .with_host(str_bytes(format!("broker-{broker}")))
                .with_port(9092)]);
        match self.request(RequestKind::BrokerRegistration(request), 4) {
            ResponseKind::BrokerRegistration(r) => (r.error_code, r.broker_epoch),
            other => panic!("{other:?}"),
        }
    }

    fn epoch(&self, broker: i32) -> i64 {
        self.image.broker(broker).unwrap().broker_epoch
    }

    fn heartbeat_with(
        &mut self,
        broker: i32,
        broker_epoch: i64,
        offset: i64,
        want_shut_down: bool,
    ) -> BrokerHeartbeatResponse {
        let request = BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(broker))
            .with_broker_epoch(broker_epoch)
            .with_current_metadata_offset(offset)
            .with_want_shut_down(want_shut_down);
        match self.request(RequestKind::BrokerHeartbeat(request), 1) {
            ResponseKind::BrokerHeartbeat(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// A heartbeat from a broker that has replayed everything.
    fn heartbeat(&mut self, broker: i32) -> BrokerHeartbeatResponse {
        let (epoch, offset) = (self.epoch(broker), self.image.offset());
        self.heartbeat_with(broker, epoch, offset, false)
    }

    /// Registers and unfences `brokers` (first incarnation).
    fn start(&mut self, brokers: &[i32]) {
        for &b in brokers {
            assert_eq!(self.register_with(b, 1, -1).0, 0);
            assert!(!self.heartbeat(b).is_fenced);
        }
    }

    /// Moves the clock on; `alive` heartbeat first; applies whatever the timer does.
    fn advance(&mut self, ms: i64, alive: &[i32]) -> Vec<MetadataRecord> {
        self.now_ms += ms;
        for &b in alive {
            self.heartbeat(b);
        }
        let records = self.controller.handle_timeout(self.now_ms, &self.image);
        self.apply(&records);
        records
    }

    /// Lets every broker's session except `alive`'s expire.
    fn expire_all_but(&mut self, alive: &[i32]) {
        for _ in 0..3 {
            self.advance(SESSION_MS / 2, alive);
        }
    }

    fn create_topic(&mut self, name: &str, partitions: i32, rf: i16, configs: &[(&str, &str)]) {
        let result = self.create_topics(name, partitions, rf, configs, false);
        assert_eq!(result.error_code, 0, "{result:?}");
    }

    fn create_topics(
        &mut self,
        name: &str,
        partitions: i32,
        rf: i16,
        configs: &[(&str, &str)],
        validate_only: bool,
    ) -> CreatableTopicResult {
        let topic = CreatableTopic::default()
            .with_name(TopicName(str_bytes(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(rf)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(str_bytes(*k))
                            .with_value(Some(str_bytes(*v)))
                    })
                    .collect(),
            );
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_validate_only(validate_only);
        match self.request(RequestKind::CreateTopics(request), 7) {
            ResponseKind::CreateTopics(mut r) => r.topics.remove(0),
            other => panic!("{other:?}"),
        }
    }

    fn partition(&self, topic: &str, index: i32) -> PartitionImage {
        self.image.topic(topic).unwrap().partitions[&index].clone()
    }

    fn topic_id(&self, topic: &str) -> Uuid {
        self.image.topic(topic).unwrap().topic_id
    }

    /// AlterPartition v3 from the partition's current leader with its current epochs,
    /// unless overridden; `isr` as (broker, broker epoch).
    fn alter(
        &mut self,
        from: i32,
        topic: &str,
        index: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: &[(i32, i64)],
    ) -> (i16, Option<PartitionResult>) {
        let data = PartitionData::default()
            .with_partition_index(index)
            .with_leader_epoch(leader_epoch)
            .with_partition_epoch(partition_epoch)
            .with_new_isr_with_epochs(
                isr.iter()
                    .map(|&(b, e)| {
                        BrokerState::default().with_broker_id(BrokerId(b)).with_broker_epoch(e)
                    })
                    .collect(),
            );
        let request = AlterPartitionRequest::default()
            .with_broker_id(BrokerId(from))
            .with_broker_epoch(self.image.broker(from).map_or(-1, |b| b.broker_epoch))
            .with_topics(vec![TopicData::default()
                .with_topic_id(self.topic_id(topic))
                .with_partitions(vec![data])]);
        match self.request(RequestKind::AlterPartition(request), 3) {
            ResponseKind::AlterPartition(mut r) => {
                let partition = r.topics.pop().and_then(|mut t| t.partitions.pop());
                (r.error_code, partition)
            }
            other => panic!("{other:?}"),
        }
    }

    /// AlterPartition from the current leader, at the current epochs, with current broker
    /// epochs for `isr`.
    fn alter_isr(&mut self, topic: &str, index: i32, isr: &[i32]) -> PartitionResult {
        let p = self.partition(topic, index);
        let isr: Vec<(i32, i64)> = isr.iter().map(|&b| (b, self.epoch(b))).collect();
        let (code, result) =
            self.alter(p.leader, topic, index, p.leader_epoch, p.partition_epoch, &isr);
        assert_eq!(code, 0);
        result.unwrap()
    }
}

/// The controller-side invariants of KIP-966 / Vanlightly's ValidControllerIsrAndElr, plus
/// epochs that only grow and leaders that are live.
fn check_invariants(
    image: &MetadataImage,
    config: &ControllerConfig,
    epochs: &mut BTreeMap<(Uuid, i32), (i32, i32, i32)>,
) {
    let elr_enabled = !config.historical.no_eligible_leader_replicas;
    let fenced = |b: &i32| image.broker(*b).is_none_or(|b| b.fenced);
    for topic in image.topics() {
        let min_isr = partition_change::topic_settings(topic, &config.topic_defaults)
            .min_insync_replicas as usize;
        for p in topic.partitions.values() {
            let at = format!("{}-{} {p:?}", topic.name, p.partition);
            assert!(p.leader == -1 || p.isr.contains(&p.leader), "leader in ISR: {at}");
            assert!(p.leader == -1 || !fenced(&p.leader), "leader is unfenced: {at}");
            assert!(p.isr.iter().all(|r| p.replicas.contains(r)), "ISR ⊆ replicas: {at}");
            assert!(p.elr.iter().all(|r| p.replicas.contains(r)), "ELR ⊆ replicas: {at}");
            assert!(!p.isr.iter().any(|r| p.elr.contains(r)), "ISR ∩ ELR = ∅: {at}");
            if elr_enabled {
                assert!(!p.isr.iter().any(fenced), "no fenced broker in the ISR: {at}");
                assert!(p.isr.len() < min_isr || p.elr.is_empty(), "ELR empty at min ISR: {at}");
            } else {
                assert!(p.elr.is_empty() && p.last_known_elr.is_empty(), "no ELR: {at}");
                let last_standing = p.isr.len() == 1 && p.leader == -1;
                assert!(last_standing || !p.isr.iter().any(fenced), "fenced in the ISR: {at}");
            }
            let now = (p.leader, p.leader_epoch, p.partition_epoch);
            if let Some(&(leader, leader_epoch, partition_epoch)) =
                epochs.get(&(topic.topic_id, p.partition))
            {
                assert!(p.partition_epoch >= partition_epoch, "partition epoch grows: {at}");
                assert!(p.leader_epoch >= leader_epoch, "leader epoch grows: {at}");
                if p.leader != leader {
                    assert!(p.leader_epoch > leader_epoch, "a new leader, a new epoch: {at}");
                }
            }
            epochs.insert((topic.topic_id, p.partition), now);
        }
    }
}

#[test]
fn registration_hands_out_growing_epochs_and_a_retry_keeps_its_epoch() {
    let mut c = Cluster::modern();
    let (code, first) = c.register_with(1, 1, -1);
    assert_eq!(code, 0);
    let (_, second) = c.register_with(2, 1, -1);
    assert!(second > first);
    let broker = c.image.broker(1).unwrap();
    assert!(broker.fenced, "a new broker starts fenced");
    assert_eq!(broker.listeners[0].host, "broker-1");

    let offset = c.image.offset();
    assert_eq!(c.register_with(1, 1, -1), (0, first), "the same incarnation keeps its epoch");
    assert_eq!(c.image.offset(), offset, "and nothing is written");

    // A new incarnation while the old one's session is live (unfenced, heartbeating) is
    // refused, as Kafka does.
    assert!(!c.heartbeat(1).is_fenced);
    assert_eq!(c.register_with(1, 2, -1).0, ErrorCode::DuplicateBrokerRegistration.code());
    // Once the session has expired, the new incarnation gets a new epoch.
    c.expire_all_but(&[2]);
    let (code, third) = c.register_with(1, 2, first);
    assert_eq!(code, 0);
    assert!(third > second);
    assert_eq!(c.image.broker(1).unwrap().incarnation_id, incarnation(1, 2));
}

#[test]
fn a_quick_reboot_is_fenced_out_of_every_isr_before_the_new_incarnation_registers() {
    // R12: the old session expired, but the timer has not fenced it yet when the broker,
    // rebooted, registers again. The old incarnation must not stay in any ISR.
    let mut c = Cluster::modern();
    c.start(&[1, 2]);
    c.create_topic("orders", 2, 2, &[]);
    c.now_ms += SESSION_MS;
    c.heartbeat(2);
    let epoch = c.epoch(1);
    assert_eq!(c.register_with(1, 2, epoch).0, 0);
    assert!(c.image.broker(1).unwrap().fenced);
    // A heartbeat the old incarnation sent before it died, delivered late, is refused and
    // unfences nothing.
    let late = c.heartbeat_with(1, epoch, i64::MAX, false);
    assert_eq!(late.error_code, ErrorCode::StaleBrokerEpoch.code());
    assert!(c.image.broker(1).unwrap().fenced);
    for p in 0..2 {
        let p = c.partition("orders", p);
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]), "{p:?}");
    }
    // Caught up, it leads nothing until the leader adds it back to the ISR.
    c.heartbeat(1);
    assert_eq!(c.partition("orders", 0).leader, 2);
    c.alter_isr("orders", 0, &[2, 1]);
    assert_eq!(c.partition("orders", 0).isr, [2, 1]);
}

#[test]
fn heartbeats_renew_the_session_and_unfence_a_caught_up_broker() {
    let mut c = Cluster::modern();
    c.register_with(1, 1, -1);
    let epoch = c.epoch(1);
    // Registered at offset -1 of the image; anything at or past it has caught up.
    let stale = c.heartbeat_with(1, epoch + 7, 0, false);
    assert_eq!(stale.error_code, ErrorCode::StaleBrokerEpoch.code());
    let unknown = c.heartbeat_with(9, 1, 0, false);
    assert_eq!(unknown.error_code, ErrorCode::BrokerIdNotRegistered.code());

    c.register_with(2, 1, -1);
    // Broker 2 registered when the image was at offset 0: behind that it stays fenced.
    let behind = c.heartbeat_with(2, c.epoch(2), -1, false);
    assert!(!behind.is_caught_up && behind.is_fenced);
    let caught_up = c.heartbeat(2);
    assert!(caught_up.is_caught_up && !caught_up.is_fenced);
    assert!(!c.image.broker(2).unwrap().fenced);

    // Heartbeats every half session keep broker 2 unfenced; broker 1 (never unfenced) has
    // nothing to lose.
    for _ in 0..10 {
        assert!(c.advance(SESSION_MS / 2, &[2]).is_empty());
    }
    assert!(!c.image.broker(2).unwrap().fenced);
    assert_eq!(c.controller.next_deadline_ms(), Some(c.now_ms + SESSION_MS));
}

#[test]
fn session_expiry_fences_the_broker_and_reelects_from_the_isr() {
    let mut c = Cluster::modern();
    c.start(&[1, 2, 3]);
    c.create_topic("orders", 3, 3, &[]);
    let led_by_1: Vec<i32> = (0..3).filter(|&p| c.partition("orders", p).leader == 1).collect();
    assert_eq!(led_by_1.len(), 1);
    let before = c.partition("orders", led_by_1[0]);

    c.expire_all_but(&[2, 3]);
    assert!(c.image.broker(1).unwrap().fenced);
    for p in 0..3 {
        let now = c.partition("orders", p);
        assert!(!now.isr.contains(&1), "{now:?}");
        assert_eq!(now.isr.len(), 2);
        assert!(now.elr.is_empty(), "ISR 2 ≥ min.insync.replicas 1: no ELR");
    }
    let after = c.partition("orders", led_by_1[0]);
    assert_eq!(after.leader, before.isr.iter().copied().find(|&r| r != 1).unwrap());
    assert_eq!(after.leader_epoch, before.leader_epoch + 1);
    assert_eq!(after.partition_epoch, before.partition_epoch + 1);
}

#[test]
fn elr_keeps_the_last_isr_members_eligible_and_elects_them_on_unfence() {
    let mut c = Cluster::modern();
    c.start(&[1, 2, 3]);
    c.create_topic("orders", 1, 3, &[("min.insync.replicas", "2")]);
    assert_eq!(c.partition("orders", 0).leader, 1);

    // Broker 3 goes: ISR {1,2} is still at min ISR, no ELR.
    c.expire_all_but(&[1, 2]);
    assert_eq!(c.partition("orders", 0).isr, [1, 2]);
    assert!(c.partition("orders", 0).elr.is_empty());
    // Broker 2 goes: the ISR drops below min ISR, the high watermark stops, 2 is eligible.
    c.expire_all_but(&[1]);
    let p = c.partition("orders", 0);
    assert_eq!((p.leader, p.isr.clone(), p.elr.clone()), (1, vec![1], vec![2]));
    // Broker 1, the leader, goes: nobody eligible is unfenced, no leader.
    c.expire_all_but(&[]);
    let p = c.partition("orders", 0);
    assert_eq!((p.leader, p.isr.clone(), p.elr.clone()), (-1, vec![], vec![1, 2]));

    // Broker 2 restarts cleanly (it sends its last epoch) and catches up: it leads.
    let epoch_2 = c.epoch(2);
    assert_eq!(c.register_with(2, 2, epoch_2).0, 0);
    assert_eq!(c.partition("orders", 0).elr, [1, 2], "a clean shutdown keeps 2 eligible");
    assert!(!c.heartbeat(2).is_fenced);
    let p = c.partition("orders", 0);
    assert_eq!((p.leader, p.isr.clone(), p.elr.clone()), (2, vec![2], vec![1]));
    // Broker 3, never eligible, comes back: it is not elected and does not join the ISR.
    c.register_with(3, 2, -1);
    c.heartbeat(3);
    assert_eq!(c.partition("orders", 0).isr, [2]);
    // The leader adds 3 back: the ISR is at min ISR again and the ELR empties.
    let result = c.alter_isr("orders", 0, &[2, 3]);
    assert_eq!(result.isr, [BrokerId(2), BrokerId(3)]);
    assert!(c.partition("orders", 0).elr.is_empty());
}

#[test]
fn an_unclean_shutdown_takes_the_broker_out_of_every_elr() {
    let mut c = Cluster::modern();
    c.start(&[1, 2, 3]);
    c.create_topic("orders", 1, 3, &[("min.insync.replicas", "2")]);
    c.expire_all_but(&[1, 2]);
    c.expire_all_but(&[1]);
    c.expire_all_but(&[]);
    assert_eq!(c.partition("orders", 0).elr, [1, 2]);

    // Broker 1 lost its page cache: it comes back without its previous epoch.
    assert_eq!(c.register_with(1, 2, -1).0, 0);
    let p = c.partition("orders", 0);
    assert_eq!((p.leader, p.elr.clone()), (-1, vec![2]));
    // Caught up and unfenced, it still is not eligible: the partition waits for broker 2.
    assert!(!c.heartbeat(1).is_fenced);
    assert_eq!(c.partition("orders", 0).leader, -1);
    assert_eq!(c.partition("orders", 0).last_known_elr, [1], "the last leader is remembered");
    // Broker 2 also restarts uncleanly: nobody is left in the ISR or the ELR, so the last
    // leader, broker 1 (back and unfenced), is elected uncleanly: KIP-966's balanced recovery.
    c.register_with(2, 2, -1);
    let p = c.partition("orders", 0);
    assert_eq!((p.leader, p.isr.clone(), p.elr.clone()), (1, vec![1], vec![]));
    assert!(p.last_known_elr.is_empty(), "a partition with a leader has no last known leader");
}

#[test]
fn a_single_replica_partition_leads_again_after_its_broker_lost_power() {
    // Setup: three brokers; a replication-factor-1 topic on one of them.
    let mut c = Cluster::modern();
    c.start(&[1, 2, 3]);
    c.create_topic("logs", 1, 1, &[]);
    let only = c.partition("logs", 0).leader;
    let others: Vec<i32> = [1, 2, 3].into_iter().filter(|&b| b != only).collect();

    // Its broker dies: the partition is offline, remembering its last leader.
    c.expire_all_but(&others);
    let p = c.partition("logs", 0);
    assert_eq!((p.leader, p.isr.clone(), p.elr.clone()), (-1, vec![], vec![only]));
    assert_eq!(p.last_known_elr, [only]);

    // It comes back without a clean shutdown: out of the ELR, and elected again once unfenced
    // (Kafka 4.1 does the same; it is the only copy there is).
    c.register_with(only, 2, -1);
    assert_eq!(c.partition("logs", 0).leader, -1, "not while it is fenced");
    assert!(!c.heartbeat(only).is_fenced);
    let p = c.partition("logs", 0);
    assert_eq!((p.leader, p.isr.clone(), p.elr.clone()), (only, vec![only], vec![]));
}

#[test]
fn without_elr_the_last_replica_standing_is_reelected_after_an_unclean_shutdown() {
    // R11: the historical setting that re-enables "last replica standing".
    let mut c = Cluster::with_historical(|h| h.no_eligible_leader_replicas = true);
    c.start(&[1, 2, 3]);
    c.create_topic("orders", 1, 3, &[("min.insync.replicas", "2")]);
    c.expire_all_but(&[1, 2]);
    c.expire_all_but(&[1]);
    assert_eq!(c.partition("orders", 0).isr, [1]);
    c.expire_all_but(&[]);
    let p = c.partition("orders", 0);
    assert_eq!((p.leader, p.isr.clone()), (-1, vec![1]), "the fenced leader stays in the ISR");
    assert!(p.elr.is_empty());

    // Broker 1 restarts uncleanly (its unflushed suffix is gone) and is elected again.
    c.register_with(1, 2, -1);
    assert!(!c.heartbeat(1).is_fenced);
    let p = c.partition("orders", 0);
    assert_eq!((p.leader, p.isr.clone()), (1, vec![1]));
}

#[test]
fn unclean_election_happens_only_with_the_topic_config() {
    for unclean in [false, true] {
        let mut c = Cluster::modern();
        c.start(&[1, 2]);
        let config = [("unclean.leader.election.enable", if unclean { "true" } else { "false" })];
        c.create_topic("orders", 1, 2, &config);
        let leader = c.partition("orders", 0).leader;
        let follower = 3 - leader;
        // The follower lags and leaves the ISR (still at min ISR 1: no ELR), then the leader
        // loses its session; the follower is alive but out of sync.
        c.alter_isr("orders", 0, &[leader]);
        c.expire_all_but(&[follower]);
        let p = c.partition("orders", 0);
        if unclean {
            assert_eq!(
                (p.leader, p.isr.clone(), p.elr.clone()),
                (follower, vec![follower], vec![])
            );
            assert_eq!(p.leader_epoch, 1);
        } else {
            // The old leader is the only one known complete: it waits in the ELR.
            assert_eq!((p.leader, p.isr.clone(), p.elr.clone()), (-1, vec![], vec![leader]));
            let epoch = c.epoch(leader);
            c.register_with(leader, 2, epoch);
            c.heartbeat(leader);
            assert_eq!(c.partition("orders", 0).leader, leader);
        }
    }
}

#[test]
fn alter_partition_fences_stale_leader_and_partition_epochs() {
    let mut c = Cluster::modern();
    c.start(&[1, 2, 3]);
    c.create_topic("orders", 1, 3, &[]);
    let p = c.partition("orders", 0);
    let isr: Vec<(i32, i64)> = [1, 2].iter().map(|&b| (b, c.epoch(b))).collect();

    let (_, r) = c.alter(1, "orders", 0, p.leader_epoch - 1, p.partition_epoch, &isr);
    assert_eq!(r.unwrap().error_code, ErrorCode::FencedLeaderEpoch.code());
    let (_, r) = c.alter(1, "orders", 0, p.leader_epoch, p.partition_epoch + 1, &isr);
    assert_eq!(r.unwrap().error_code, ErrorCode::InvalidUpdateVersion.code());
    let (_, r) = c.alter(2, "orders", 0, p.leader_epoch, p.partition_epoch, &isr);
    assert_eq!(r.unwrap().error_code, ErrorCode::NotLeaderOrFollower.code());
    let (_, r) = c.alter(1, "orders", 0, p.leader_epoch, p.partition_epoch, &[(2, c.epoch(2))]);
    assert_eq!(r.unwrap().error_code, ErrorCode::InvalidRequest.code(), "the leader stays in");

    let (code, r) = c.alter(1, "orders", 0, p.leader_epoch, p.partition_epoch, &isr);
    let r = r.unwrap();
    assert_eq!((code, r.error_code), (0, 0));
    assert_eq!(r.isr, [BrokerId(1), BrokerId(2)]);
    assert_eq!((r.leader_id, r.leader_epoch), (BrokerId(1), p.leader_epoch));
    assert_eq!(r.partition_epoch, p.partition_epoch + 1);
    // The same request again is stale now.
    let (_, r) = c.alter(1, "orders", 0, p.leader_epoch, p.partition_epoch, &isr);
    assert_eq!(r.unwrap().error_code, ErrorCode::InvalidUpdateVersion.code());

    // A requester whose own broker epoch is stale is refused as a whole.
    let request = AlterPartitionRequest::default().with_broker_id(BrokerId(1)).with_broker_epoch(0);
    match c.request(RequestKind::AlterPartition(request), 3) {
        ResponseKind::AlterPartition(r) => {
            assert_eq!(r.error_code, ErrorCode::StaleBrokerEpoch.code())
        }
        other => panic!("{other:?}"),
    }
}

/// R10: the leader asks to add broker 2 as it saw it fetch, but broker 2 has since restarted
/// (new epoch). KIP-903 refuses; before KIP-903 the stale replica joins the ISR.
fn readd_restarted_replica(c: &mut Cluster) -> i16 {
    c.start(&[1, 2]);
    c.create_topic("orders", 1, 2, &[]);
    c.alter_isr("orders", 0, &[1]);
    let old_epoch_2 = c.epoch(2);
    c.expire_all_but(&[1]);
    c.register_with(2, 2, -1);
    c.heartbeat(2);
    let p = c.partition("orders", 0);
    let (code, r) = c.alter(
        1,
        "orders",
        0,
        p.leader_epoch,
        p.partition_epoch,
        &[(1, c.epoch(1)), (2, old_epoch_2)],
    );
    assert_eq!(code, 0);
    r.unwrap().error_code
}

#[test]
fn alter_partition_refuses_a_new_isr_member_with_a_stale_broker_epoch() {
    let mut c = Cluster::modern();
    assert_eq!(readd_restarted_replica(&mut c), ErrorCode::IneligibleReplica.code());
    assert_eq!(c.partition("orders", 0).isr, [1]);
    // A fenced replica is ineligible whatever its epoch.
    c.expire_all_but(&[1]);
    let p = c.partition("orders", 0);
    let (_, r) = c.alter(
        1,
        "orders",
        0,
        p.leader_epoch,
        p.partition_epoch,
        &[(1, c.epoch(1)), (2, c.epoch(2))],
    );
    assert_eq!(r.unwrap().error_code, ErrorCode::IneligibleReplica.code());
}

#[test]
fn without_broker_epoch_fencing_the_restarted_replica_rejoins_the_isr() {
    let mut c = Cluster::with_historical(|h| h.no_broker_epoch_fencing = true);
    assert_eq!(readd_restarted_replica(&mut c), 0);
    assert_eq!(c.partition("orders", 0).isr, [1, 2]);
}

#[test]
fn placement_spreads_leaders_over_three_and_five_brokers() {
    for brokers in [vec![1, 2, 3], vec![1, 2, 3, 4, 5]] {
        let mut c = Cluster::modern();
        c.start(&brokers);
        let n = brokers.len() as i32;
        let mut leaders = BTreeMap::<i32, i32>::new();
        for (t, rf) in [(0, 3), (1, 2), (2, 1)] {
            let name = format!("t{t}");
            c.create_topic(&name, 2 * n, rf, &[]);
            for p in 0..2 * n {
                let p = c.partition(&name, p);
                assert_eq!(p.replicas.len(), rf as usize);
                let distinct: BTreeSet<i32> = p.replicas.iter().copied().collect();
                assert_eq!(distinct.len(), rf as usize, "{p:?}");
                assert_eq!(p.isr, p.replicas);
                assert_eq!(p.leader, p.replicas[0]);
                assert_eq!((p.leader_epoch, p.partition_epoch), (0, 0));
                *leaders.entry(p.leader).or_default() += 1;
            }
        }
        assert!(leaders.values().all(|&count| count == 6), "{leaders:?}");
        // One-partition topics rotate their leader from topic to topic.
        let mut single = BTreeSet::new();
        for t in 0..n {
            let name = format!("single{t}");
            c.create_topic(&name, 1, 1, &[]);
            single.insert(c.partition(&name, 0).leader);
        }
        assert_eq!(single.len(), n as usize);
    }
}

#[test]
fn controlled_shutdown_moves_leadership_away_before_the_broker_stops() {
    let mut c = Cluster::modern();
    c.start(&[1, 2, 3]);
    c.create_topic("orders", 3, 3, &[("min.insync.replicas", "2")]);
    c.create_topic("solo", 1, 1, &[]);
    let solo_owner = c.partition("solo", 0).leader;
    assert!((0..3).any(|p| c.partition("orders", p).leader == solo_owner));

    let epoch = c.epoch(solo_owner);
    let offset = c.image.offset();
    let r = c.heartbeat_with(solo_owner, epoch, offset, true);
    assert!(r.should_shut_down && r.is_fenced, "{r:?}");
    assert!(c.image.broker(solo_owner).unwrap().in_controlled_shutdown);
    for p in 0..3 {
        let p = c.partition("orders", p);
        assert_ne!(p.leader, solo_owner);
        assert!(!p.isr.contains(&solo_owner));
        assert!(p.elr.is_empty());
    }
    // Its only replica shut down cleanly: "solo" waits for it in the ELR.
    let p = c.partition("solo", 0);
    assert_eq!((p.leader, p.isr.clone(), p.elr.clone()), (-1, vec![], vec![solo_owner]));
    // Done and fenced, its session is over: it restarts at once after its clean shutdown,
    // and leads "solo" again.
    assert_eq!(c.register_with(solo_owner, 2, epoch).0, 0);
    c.heartbeat(solo_owner);
    assert_eq!(c.partition("solo", 0).leader, solo_owner);
}

#[test]
fn topics_are_validated_created_and_deleted() {
    let mut c = Cluster::modern();
    c.start(&[1, 2]);
    let r = c.create_topics("orders", 3, 3, &[], false);
    assert_eq!(r.error_code, ErrorCode::InvalidReplicationFactor.code());
    let r = c.create_topics("bad name", 1, 1, &[], false);
    assert_eq!(r.error_code, ErrorCode::InvalidTopicException.code());
    let r = c.create_topics("orders", 1, 1, &[("retention.ms", "soon")], false);
    assert_eq!(r.error_code, ErrorCode::InvalidConfig.code());
    let r = c.create_topics("orders", 3, 2, &[], true);
    assert_eq!((r.error_code, r.num_partitions), (0, 3));
    assert!(c.image.topic("orders").is_none(), "validate_only writes nothing");
    let r = c.create_topics("orders", -1, -1, &[("retention.ms", "1000")], false);
    assert_eq!((r.error_code, r.num_partitions, r.replication_factor), (0, 1, 1));
    assert_eq!(c.image.topic("orders").unwrap().configs["retention.ms"], "1000");
    let r = c.create_topics("orders", 1, 1, &[], false);
    assert_eq!(r.error_code, ErrorCode::TopicAlreadyExists.code());

    // CreatePartitions places the new partitions like the first.
    let request =
        CreatePartitionsRequest::default().with_topics(vec![CreatePartitionsTopic::default()
            .with_name(TopicName(str_bytes("orders")))
            .with_count(3)]);
    match c.request(RequestKind::CreatePartitions(request), 3) {
        ResponseKind::CreatePartitions(r) => assert_eq!(r.results[0].error_code, 0),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.image.topic("orders").unwrap().partitions.len(), 3);

    // Delete by id, then by name; a second delete knows nothing of it.
    let id = c.topic_id("orders");
    c.create_topic("other", 1, 1, &[]);
    let by_id = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default().with_topic_id(id)]);
    match c.request(RequestKind::DeleteTopics(by_id), 6) {
        ResponseKind::DeleteTopics(r) => {
            assert_eq!(r.responses[0].error_code, 0);
            assert_eq!(r.responses[0].name.as_ref().unwrap().0.as_str(), "orders");
        }
        other => panic!("{other:?}"),
    }
    let by_name = DeleteTopicsRequest::default()
        .with_topic_names(vec![TopicName(str_bytes("other")), TopicName(str_bytes("other"))]);
    match c.request(RequestKind::DeleteTopics(by_name), 5) {
        ResponseKind::DeleteTopics(r) => {
            assert_eq!(r.responses[0].error_code, 0);
            assert_eq!(r.responses[1].error_code, ErrorCode::UnknownTopicOrPartition.code());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.image.topics().count(), 0);
    // A topic created again under the same name gets a new id.
    c.create_topic("orders", 1, 1, &[]);
    assert_ne!(c.topic_id("orders"), id);
}

#[test]
fn producer_ids_come_in_blocks_of_a_thousand() {
    let mut c = Cluster::modern();
    c.start(&[1]);
    let ask = |c: &mut Cluster, epoch: i64| {
        let request = AllocateProducerIdsRequest::default()
            .with_broker_id(BrokerId(1))
            .with_broker_epoch(epoch);
        match c.request(RequestKind::AllocateProducerIds(request), 0) {
            ResponseKind::AllocateProducerIds(r) => r,
            other => panic!("{other:?}"),
        }
    };
    let epoch = c.epoch(1);
    let first = ask(&mut c, epoch);
    let second = ask(&mut c, epoch);
    assert_eq!((first.producer_id_start.0, first.producer_id_len), (0, 1000));
    assert_eq!(second.producer_id_start.0, 1000);
    assert_eq!(ask(&mut c, epoch + 1).error_code, ErrorCode::StaleBrokerEpoch.code());
}

#[test]
fn an_inactive_controller_answers_not_controller_and_unknown_apis_are_errors() {
    let mut c = Cluster::modern();
    c.controller.deactivate();
    assert_eq!(c.controller.next_deadline_ms(), None);
    match c.request(RequestKind::BrokerRegistration(BrokerRegistrationRequest::default()), 4) {
        ResponseKind::BrokerRegistration(r) => {
            assert_eq!(r.error_code, ErrorCode::NotController.code())
        }
        other => panic!("{other:?}"),
    }
    let fetch = RequestKind::Fetch(FetchRequest::default());
    let error = c.controller.handle_request(0, &c.image, &fetch, 12).unwrap_err();
    assert_eq!(error, ControllerError::UnsupportedApi { api: "Fetch".into() });
}

mod random {
    //! Random sequences of registrations, heartbeats, timeouts, AlterPartitions and topic
    //! creations never break the invariants (checked after every command by `apply`).
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Register { broker: i32, clean: bool },
        Heartbeat { broker: i32, caught_up: bool, shut_down: bool },
        Advance { ms: i64, alive: Vec<bool> },
        Alter { partition: i32, members: Vec<bool>, stale_epoch: bool },
        CreateTopic { partitions: i32, rf: i16, min_isr: u8, unclean: bool },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            2 => (1..=5i32, any::<bool>()).prop_map(|(broker, clean)| Op::Register { broker, clean }),
            3 => (1..=5i32, prop::bool::weighted(0.8), prop::bool::weighted(0.1)).prop_map(
                |(broker, caught_up, shut_down)| Op::Heartbeat { broker, caught_up, shut_down }
            ),
            3 => (1..=SESSION_MS, prop::collection::vec(prop::bool::weighted(0.6), 5))
                .prop_map(|(ms, alive)| Op::Advance { ms, alive }),
            4 => (0..12i32, prop::collection::vec(any::<bool>(), 5), prop::bool::weighted(0.2))
                .prop_map(|(partition, members, stale_epoch)| Op::Alter {
                    partition,
                    members,
                    stale_epoch
                }),
            1 => (1..4i32, 1..4i16, 1..4u8, prop::bool::weighted(0.2)).prop_map(
                |(partitions, rf, min_isr, unclean)| Op::CreateTopic {
                    partitions,
                    rf,
                    min_isr,
                    unclean
                }
            ),
        ]
    }

    fn run(historical: HistoricalBehaviours, ops: Vec<Op>) {
        let mut c = Cluster::new(ControllerConfig { historical, ..ControllerConfig::default() });
        // A running cluster to start from: five brokers, a topic at min ISR 2 and one that
        // allows unclean elections.
        c.start(&[1, 2, 3, 4, 5]);
        c.create_topic("strict", 4, 3, &[("min.insync.replicas", "2")]);
        c.create_topic("loose", 2, 2, &[("unclean.leader.election.enable", "true")]);
        let mut incarnations: BTreeMap<i32, u128> = (1..=5).map(|b| (b, 1)).collect();
        let mut topics = 0;
        for op in ops {
            match op {
                Op::Register { broker, clean } => {
                    let n = incarnations.entry(broker).or_insert(0);
                    *n += 1;
                    let previous = if clean {
                        c.image.broker(broker).map_or(-1, |b| b.broker_epoch)
                    } else {
                        -1
                    };
                    let n = *n;
                    c.register_with(broker, n, previous);
                }
                Op::Heartbeat { broker, caught_up, shut_down } => {
                    let Some(epoch) = c.image.broker(broker).map(|b| b.broker_epoch) else {
                        continue;
                    };
                    let offset = if caught_up { c.image.offset() } else { -1 };
                    c.heartbeat_with(broker, epoch, offset, shut_down);
                }
                Op::Advance { ms, alive } => {
                    let alive: Vec<i32> = (1..=5)
                        .filter(|&b| alive[(b - 1) as usize] && c.image.broker(b).is_some())
                        .collect();
                    c.advance(ms, &alive);
                }
                Op::Alter { partition, members, stale_epoch } => {
                    let all: Vec<(String, i32)> = c
                        .image
                        .topics()
                        .flat_map(|t| {
                            t.partitions.keys().map(|&p| (t.name.clone(), p)).collect::<Vec<_>>()
                        })
                        .collect();
                    if all.is_empty() {
                        continue;
                    }
                    let (topic, index) = all[partition as usize % all.len()].clone();
                    let p = c.partition(&topic, index);
                    if p.leader == -1 {
                        continue;
                    }
                    let mut isr = vec![(p.leader, c.epoch(p.leader))];
                    for (i, &r) in p.replicas.iter().enumerate() {
                        if r != p.leader && members[i] {
                            let epoch = c.epoch(r) - i64::from(stale_epoch);
                            isr.push((r, epoch));
                        }
                    }
                    c.alter(p.leader, &topic, index, p.leader_epoch, p.partition_epoch, &isr);
                }
                Op::CreateTopic { partitions, rf, min_isr, unclean } => {
                    topics += 1;
                    let min_isr = min_isr.to_string();
                    let unclean = unclean.to_string();
                    c.create_topics(
                        &format!("t{topics}"),
                        partitions,
                        rf,
                        &[
                            ("min.insync.replicas", min_isr.as_str()),
                            ("unclean.leader.election.enable", unclean.as_str()),
                        ],
                        false,
                    );
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn modern_kafka_keeps_the_invariants(ops in prop::collection::vec(op(), 1..80)) {
            run(HistoricalBehaviours::default(), ops);
        }

        #[test]
        fn historical_switches_keep_the_invariants(ops in prop::collection::vec(op(), 1..80)) {
            let historical = HistoricalBehaviours {
                no_eligible_leader_replicas: true,
                no_broker_epoch_fencing: true,
                ..HistoricalBehaviours::default()
            };
            run(historical, ops);
        }
    }
}
