//! Swarm testing: a whole scenario drawn from a seed.
//!
//! Inputs: a seed. Outputs: a [`Scenario`] — cluster, topic configs, producers, consumers
//! and a fault schedule — and the expectations its configuration promises. Invariants: the
//! same seed gives the same scenario (one ChaCha RNG, nothing else); a generated scenario
//! always passes the scenario validator (it is written back to TOML and parsed again, which
//! is also how `swarm` prints it); expectations only demand what the configuration really
//! guarantees, so a failing swarm seed is a bug, not a configuration that allows loss.
//!
//! The cluster is one broker, or three or five (every one also a KRaft controller), with a
//! topic of replication factor 1 up to the broker count, any `min.insync.replicas` up to it,
//! and unclean leader election on in some seeds. Faults: crashes (kill -9, power loss, power
//! loss with torn writes) of one broker by id, the partition leader, a follower, the active
//! controller, or every broker at once; pauses; a client cut off from a broker; a broker or a
//! partition leader cut off from the other brokers (both ways or one way); a slow network.
//! A broker named by id comes back at the step's end; one named by role (leader, follower,
//! controller) stays down until the liveness phase restarts it.
//!
//! What is always demanded: the runtime invariants (`hw-le-leo`, `log-start-monotonic`,
//! `synced-records-survive`, `offsets-dense`), the controller's metadata invariants
//! (`leader-in-isr`, `isr-in-replicas`, `isr-elr-disjoint`, `no-fenced-in-isr`,
//! `epochs-monotonic`, `stale-leader-fenced`, `raft-election-safety`), liveness, and the
//! anomalies no configuration excuses (`aborted-read`, `garbage-read`, in-poll order).
//!
//! What Kafka promises, and so what is demanded beyond that ([`Promise`]):
//! - *Committed records survive* (`leader-completeness`, `no-committed-record-lost`,
//!   `leader-candidates-complete`, `log-matching`, `client-hw-monotonic`) unless unclean
//!   leader election is on, or more unsynced copies may be lost than an acks=all write made:
//!   every record is fsynced (`flush.messages=1`), or no broker loses power, or one broker
//!   (not all at once) loses power once, `min.insync.replicas` >= 2, and nothing else crashes
//!   (a kill -9 is an unclean shutdown too: with every ELR member gone, KIP-966's balanced
//!   recovery elects the last leader even if it lost power).
//! - *Acknowledged records survive* (`missing-at-end`, `lost-write`, `unseen`,
//!   `inconsistent-offsets`, `hw-monotonic`, `poll-skip`, `nonmonotonic-poll`): all of the
//!   above, and every producer uses acks=all.
//!
//! With replication factor 2 or more the leader moves, and Kafka lets the high watermark seen
//! by a new leader's clients start up to one fetch behind the old one's (`hw-monotonic`,
//! `client-hw-monotonic`): allowed there. Retries without idempotence may duplicate and
//! reorder, so those are always allowed.

use crate::scenario::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

const TOPIC: &str = "swarm";

/// Anomalies a client sees when acknowledged records may be lost.
const LOSS: &[&str] = &[
    "missing-at-end",
    "lost-write",
    "unseen",
    "inconsistent-offsets",
    "hw-monotonic",
    "poll-skip",
    "nonmonotonic-poll",
];
/// The replication invariants that judge committed records' data: they hold only while Kafka
/// promises committed records survive (with unclean election on they report under
/// `unclean-election-loss` instead).
const COMMITTED_LOSS: &[&str] = &[
    "leader-completeness",
    "no-committed-record-lost",
    "leader-candidates-complete",
    "log-matching",
    "client-hw-monotonic",
];
/// What a moving leader shows in any configuration (see the module header).
const LEADER_MOVES: &[&str] = &["hw-monotonic", "client-hw-monotonic"];
/// Anomalies producer retries without idempotence may cause in any configuration.
const RETRIES: &[&str] = &["duplicate", "consumed-more-than-once", "nonmonotonic-send"];

/// What a drawn configuration promises, from its settings and its fault schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Promise {
    /// Records acknowledged with acks=all while the ISR met `min.insync.replicas` survive.
    pub committed_survive: bool,
    /// Every acknowledged record survives (the above, and every producer uses acks=all).
    pub acknowledged_survive: bool,
}

impl Promise {
    /// Kafka's promise for these settings and this fault schedule.
    pub fn of(scenario: &Scenario) -> Promise {
        let topic = &scenario.cluster.topics[0];
        let topic_flag = |key: &str| topic.config.get(key).map(String::as_str);
        let fsync = scenario
            .cluster
            .broker_config
            .get("log.flush.interval.messages")
            .is_some_and(|v| v == "1");
        let unclean = topic_flag("unclean.leader.election.enable") == Some("true");
        let min_isr: i16 =
            topic_flag("min.insync.replicas").and_then(|v| v.parse().ok()).unwrap_or(1);
        let crashes: Vec<(&Target, CrashKind)> = scenario
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Crash { target, kind } => Some((target, *kind)),
                _ => None,
            })
            .collect();
        let power_losses = crashes.iter().filter(|(_, k)| *k != CrashKind::KeepPageCache).count();
        // Kafka cannot tell a kill -9 from a power loss (neither wrote a clean-shutdown
        // marker): both take a broker out of every ELR, and once nobody is left the last
        // leader is elected even if it was the one that lost power. So one power loss is
        // survived only when it is the only crash.
        let copies_survive = fsync
            || power_losses == 0
            || (crashes.len() == 1 && *crashes[0].0 != Target::AllBrokers && min_isr >= 2);
        let committed_survive = !unclean && copies_survive;
        Promise {
            committed_survive,
            acknowledged_survive: committed_survive
                && scenario.producers.iter().all(|p| p.acks == Acks::All),
        }
    }
}

/// The scenario of swarm seed `seed`.
pub fn scenario_for_seed(seed: u64) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let brokers: u32 = [1, 1, 3, 3, 3, 5][rng.gen_range(0..6)];
    let replication_factor: i16 = match brokers {
        1 => 1,
        3 => [1, 2, 3, 3][rng.gen_range(0..4)],
        _ => [1, 3, 3, 5][rng.gen_range(0..4)],
    };
    // A cluster needs time: a crashed leader is replaced only after its session times out.
    let duration_ms =
        if brokers == 1 { rng.gen_range(4..=12) } else { rng.gen_range(12..=30) } * 1000;
    let fsync = rng.gen_bool(0.5);
    let mut broker_config = BTreeMap::new();
    if fsync {
        broker_config.insert("log.flush.interval.messages".to_string(), "1".to_string());
    }
    let partitions = rng.gen_range(1..=3);
    let mut topic_config = BTreeMap::new();
    if rng.gen_bool(0.5) {
        topic_config.insert("segment.bytes".to_string(), rng.gen_range(4096..=65536).to_string());
    }
    if replication_factor > 1 {
        let min_isr = rng.gen_range(1..=replication_factor);
        topic_config.insert("min.insync.replicas".to_string(), min_isr.to_string());
        if rng.gen_bool(0.2) {
            topic_config.insert("unclean.leader.election.enable".to_string(), "true".to_string());
        }
    }
    let producers: Vec<ProducerSpec> = (1..=rng.gen_range(1..=3))
        .map(|i| ProducerSpec {
            id: format!("p{i}"),
            topic: TOPIC.into(),
            acks: [Acks::Zero, Acks::One, Acks::All, Acks::All][rng.gen_range(0..4)],
            idempotence: false,
            retries: 2_147_483_647,
            max_in_flight: if rng.gen_bool(0.5) { 1 } else { 5 },
            rate_per_sec: f64::from(rng.gen_range(50..=400)),
            count: None,
            keys: rng.gen_bool(0.5).then(|| rng.gen_range(1..=10)),
            partition: None,
            payload_bytes: rng.gen_range(20..=500),
            linger_ms: rng.gen_range(0..=20),
            request_timeout_ms: 5_000,
            delivery_timeout_ms: 30_000,
            start_ms: 0,
            max_block_ms: 60_000,
            metadata_max_age_ms: 300_000,
            headers: 0,
            timestamps: Timestamps::CreateTime,
        })
        .collect();
    let consumers: Vec<ConsumerSpec> = (1..=rng.gen_range(0..=2))
        .map(|i| ConsumerSpec {
            id: format!("c{i}"),
            topic: TOPIC.into(),
            mode: ConsumerMode::Assign((0..partitions).collect()),
            start: StartPosition::Earliest,
            auto_offset_reset: OffsetReset::Earliest,
            commit: CommitStrategy::None,
            processing: Processing::InPollLoop,
            poll_timeout_ms: 100,
            max_poll_records: 500,
            start_ms: 0,
        })
        .collect();
    let cluster = brokers > 1;
    let mut steps = Vec::new();
    for _ in 0..rng.gen_range(0..=if cluster { 5 } else { 4 }) {
        let at_ms = rng.gen_range(200..duration_ms - 1000);
        // Long enough, in a cluster, for the controller to fence a broker that stopped.
        let down_ms = rng.gen_range(100..=if cluster { 12_000 } else { 2000 });
        let back_ms = (at_ms + down_ms).min(duration_ms - 1);
        let target = draw_target(&mut rng, brokers, replication_factor, partitions);
        let step = |at_ms, action| Step { trigger: Trigger::At(at_ms), action, line: 0 };
        match rng.gen_range(0..if cluster { 5 } else { 4 }) {
            0 => {
                let kind =
                    [CrashKind::KeepPageCache, CrashKind::LosePageCache, CrashKind::TornWrites]
                        [rng.gen_range(0..3)];
                // Now and then the whole cluster goes down together.
                let target = if cluster && rng.gen_bool(0.1) { Target::AllBrokers } else { target };
                steps.push(step(at_ms, Action::Crash { target: target.clone(), kind }));
                // A role names whoever holds it when the step runs: that broker stays down
                // until the liveness phase (a restart would name the role's next holder).
                if matches!(target, Target::Broker(_) | Target::AllBrokers) {
                    steps.push(step(back_ms, Action::Restart { target }));
                }
            }
            1 => {
                let resume = match target {
                    Target::Broker(_) => target.clone(),
                    _ => Target::AllBrokers,
                };
                steps.push(step(at_ms, Action::Pause { target }));
                steps.push(step(back_ms, Action::Resume { target: resume }));
            }
            2 => {
                let client =
                    Target::Client(producers[rng.gen_range(0..producers.len())].id.clone());
                steps.push(step(
                    at_ms,
                    Action::Partition {
                        from: vec![client],
                        to: vec![target],
                        one_way: rng.gen_bool(0.3),
                    },
                ));
                steps.push(step(back_ms, Action::Heal));
            }
            3 => {
                let slow = NetworkSpec {
                    latency_ms: (rng.gen_range(5..=50), rng.gen_range(50..=300)),
                    packet_loss: 0.0,
                };
                steps.push(step(at_ms, Action::Network(slow)));
                steps.push(step(back_ms, Action::Network(NetworkSpec::default())));
            }
            _ => {
                // One broker cut off from the others (a partition's leader from its followers).
                let isolated = match target {
                    Target::Broker(id) => Some(id),
                    _ if replication_factor > 1 => None,
                    _ => Some(rng.gen_range(1..=brokers)),
                };
                let (from, to) = match isolated {
                    Some(id) => (
                        vec![Target::Broker(id)],
                        (1..=brokers).filter(|&b| b != id).map(Target::Broker).collect(),
                    ),
                    None => {
                        let partition = rng.gen_range(0..partitions);
                        (
                            vec![Target::Leader { topic: TOPIC.into(), partition }],
                            vec![Target::Follower { topic: TOPIC.into(), partition, nth: None }],
                        )
                    }
                };
                steps.push(step(at_ms, Action::Partition { from, to, one_way: rng.gen_bool(0.3) }));
                steps.push(step(back_ms, Action::Heal));
            }
        }
    }
    steps.sort_by_key(|s| match s.trigger {
        Trigger::At(at) => at,
        Trigger::When(_) => 0,
    });
    let mut scenario = Scenario {
        name: format!("swarm-{seed}"),
        covers: Vec::new(),
        why: format!(
            "Drawn from swarm seed {seed}: {brokers} broker(s), replication factor \
             {replication_factor}, {} producer(s), {} consumer(s), {} fault step(s), {}.",
            producers.len(),
            consumers.len(),
            steps.len(),
            if fsync { "fsync per record" } else { "default flush" }
        ),
        source: None,
        seed,
        duration_ms,
        cluster: ClusterSpec {
            brokers,
            broker_config,
            topics: vec![TopicSpec {
                name: TOPIC.into(),
                partitions,
                replication_factor,
                config: topic_config,
                create_at_setup: true,
            }],
        },
        network: NetworkSpec::default(),
        producers,
        consumers,
        steps,
        liveness: LivenessSpec::default(),
        expect: Expectations::default(),
        claims: Vec::new(),
        historical: None,
    };
    let promise = Promise::of(&scenario);
    let mut allow: Vec<&str> = RETRIES.to_vec();
    if replication_factor > 1 {
        allow.extend(LEADER_MOVES);
    }
    if !promise.committed_survive {
        allow.extend(COMMITTED_LOSS);
        allow.push(crate::invariants::UNCLEAN_ELECTION_LOSS);
    }
    if !promise.acknowledged_survive {
        allow.extend(LOSS);
    }
    allow.sort_unstable();
    allow.dedup();
    scenario.expect.allow = allow.into_iter().map(String::from).collect();
    // Written and read back: the scenario a seed prints is the scenario it runs.
    let text = to_toml(&scenario);
    parse(&text, None)
        .unwrap_or_else(|e| panic!("swarm seed {seed} made an invalid scenario: {e}\n{text}"))
}

/// A broker for a fault step: by id, or by the role it holds when the step runs.
fn draw_target(
    rng: &mut ChaCha8Rng,
    brokers: u32,
    replication_factor: i16,
    partitions: i32,
) -> Target {
    let partition = rng.gen_range(0..partitions);
    match rng.gen_range(0..4) {
        _ if brokers == 1 => Target::Broker(1),
        1 => Target::Leader { topic: TOPIC.into(), partition },
        2 if replication_factor > 1 => {
            Target::Follower { topic: TOPIC.into(), partition, nth: Some(1) }
        }
        3 => Target::Controller,
        _ => Target::Broker(rng.gen_range(1..=brokers)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_gives_the_same_valid_scenario() {
        for seed in 0..300 {
            let a = scenario_for_seed(seed);
            assert_eq!(a, scenario_for_seed(seed), "seed {seed}");
        }
        assert_ne!(scenario_for_seed(1), scenario_for_seed(2));
    }

    /// A drawn scenario reshaped: three brokers, one topic with these settings, every producer
    /// with `acks`, and these crashes as its only fault steps.
    fn shaped(
        min_isr: i16,
        unclean: bool,
        fsync: bool,
        acks: Acks,
        crashes: &[(Target, CrashKind)],
    ) -> Scenario {
        let mut s = scenario_for_seed(1);
        s.cluster.brokers = 3;
        s.cluster.broker_config.clear();
        if fsync {
            s.cluster.broker_config.insert("log.flush.interval.messages".into(), "1".into());
        }
        let topic = &mut s.cluster.topics[0];
        topic.replication_factor = 3;
        topic.config.clear();
        topic.config.insert("min.insync.replicas".into(), min_isr.to_string());
        topic.config.insert("unclean.leader.election.enable".into(), unclean.to_string());
        s.producers.iter_mut().for_each(|p| p.acks = acks);
        s.steps = crashes
            .iter()
            .map(|(target, kind)| Step {
                trigger: Trigger::At(1000),
                action: Action::Crash { target: target.clone(), kind: *kind },
                line: 0,
            })
            .collect();
        s
    }

    #[test]
    fn kafka_promises_committed_records_through_one_power_loss_with_two_in_sync_replicas() {
        // Setup: RF 3, acks=all, default flush; the leader loses power once.
        let leader = Target::Leader { topic: TOPIC.into(), partition: 0 };
        let one = [(leader.clone(), CrashKind::LosePageCache)];
        let promise = Promise::of(&shaped(2, false, false, Acks::All, &one));
        assert!(promise.committed_survive && promise.acknowledged_survive);
        // With one in-sync replica enough, the leader alone held what it acknowledged.
        let promise = Promise::of(&shaped(1, false, false, Acks::All, &one));
        assert!(!promise.committed_survive && !promise.acknowledged_survive);
        // A kill -9 of another broker is an unclean shutdown too: with the ELR emptied, the
        // last leader may be elected with what it lost.
        let and_a_kill = [one[0].clone(), (Target::Broker(2), CrashKind::KeepPageCache)];
        assert!(!Promise::of(&shaped(2, false, false, Acks::All, &and_a_kill)).committed_survive);
        // Two power losses may take both copies of an acks=all write.
        let two = [one[0].clone(), (Target::Broker(2), CrashKind::TornWrites)];
        assert!(!Promise::of(&shaped(2, false, false, Acks::All, &two)).committed_survive);
        // So may the whole cluster losing power at once.
        let all = [(Target::AllBrokers, CrashKind::LosePageCache)];
        assert!(!Promise::of(&shaped(2, false, false, Acks::All, &all)).committed_survive);
        // Unless every record is fsynced before it is acknowledged.
        let promise = Promise::of(&shaped(1, false, true, Acks::All, &all));
        assert!(promise.committed_survive && promise.acknowledged_survive);
        // kill -9 keeps the page cache: any number of those lose nothing.
        let kills =
            [(Target::AllBrokers, CrashKind::KeepPageCache), (leader, CrashKind::KeepPageCache)];
        assert!(Promise::of(&shaped(1, false, false, Acks::All, &kills)).acknowledged_survive);
    }

    #[test]
    fn acks_1_and_unclean_election_promise_less() {
        // Setup: RF 3, min ISR 2, default flush, no faults.
        let promise = Promise::of(&shaped(2, false, false, Acks::One, &[]));
        assert!(promise.committed_survive, "acks=all writes of other producers still commit");
        assert!(!promise.acknowledged_survive, "an acks=1 write may die with its leader");
        let promise = Promise::of(&shaped(2, true, true, Acks::All, &[]));
        assert!(!promise.committed_survive && !promise.acknowledged_survive);
    }

    #[test]
    fn every_drawn_scenario_demands_exactly_what_its_configuration_promises() {
        for seed in 0..300 {
            let s = scenario_for_seed(seed);
            let promise = Promise::of(&s);
            let allows = |p: &str| s.expect.allow.iter().any(|a| a == p);
            assert_eq!(allows("missing-at-end"), !promise.acknowledged_survive, "seed {seed}");
            assert_eq!(
                allows("no-committed-record-lost"),
                !promise.committed_survive,
                "seed {seed}"
            );
            assert_eq!(allows("unclean-election-loss"), !promise.committed_survive, "seed {seed}");
            for always in ["hw-le-leo", "synced-records-survive", "leader-in-isr", "liveness"] {
                assert!(!allows(always), "seed {seed} allows {always}");
            }
        }
    }

    #[test]
    fn the_swarm_covers_clusters_replication_and_their_faults() {
        let scenarios: Vec<Scenario> = (0..300).map(scenario_for_seed).collect();
        let any = |what: &str, f: &dyn Fn(&Scenario) -> bool| {
            assert!(scenarios.iter().any(f), "no seed in 0..300 draws {what}");
        };
        for brokers in [1, 3, 5] {
            any("this broker count", &|s| s.cluster.brokers == brokers);
        }
        any("replication factor 5", &|s| s.cluster.topics[0].replication_factor == 5);
        any("unclean election", &|s| {
            s.cluster.topics[0].config.contains_key("unclean.leader.election.enable")
        });
        let crash = |s: &Scenario, pick: &dyn Fn(&Target, CrashKind) -> bool| {
            s.steps.iter().any(|step| {
                matches!(&step.action, Action::Crash { target, kind } if pick(target, *kind))
            })
        };
        any("a power loss of the leader", &|s| {
            crash(s, &|t, k| matches!(t, Target::Leader { .. }) && k != CrashKind::KeepPageCache)
        });
        any("a power loss of every broker", &|s| {
            crash(s, &|t, k| *t == Target::AllBrokers && k != CrashKind::KeepPageCache)
        });
        any("a crash of the active controller", &|s| crash(s, &|t, _| *t == Target::Controller));
        any("a leader cut off from its followers", &|s| {
            s.steps.iter().any(|step| {
                matches!(&step.action, Action::Partition { to, .. }
                    if matches!(to.first(), Some(Target::Follower { nth: None, .. })))
            })
        });
        any("a durable cluster that loses power", &|s| {
            s.cluster.brokers > 1
                && Promise::of(s).acknowledged_survive
                && crash(s, &|_, k| k != CrashKind::KeepPageCache)
        });
    }
}
