//! Swarm testing: a whole scenario drawn from a seed.
//!
//! Inputs: a seed. Outputs: a [`Scenario`] — cluster, topic configs, producers, consumers
//! and a fault schedule — and the expectations its configuration promises. Invariants: the
//! same seed gives the same scenario (one ChaCha RNG, nothing else); a generated scenario
//! always passes the scenario validator (it is written back to TOML and parsed again, which
//! is also how `swarm` prints it); expectations only demand what the configuration really
//! guarantees, so a failing swarm seed is a bug, not a configuration that allows loss.
//!
//! What is always demanded: the runtime invariants (`hw-le-leo`, `log-start-monotonic`,
//! `synced-records-survive`, `offsets-dense`), liveness, and the anomalies no configuration
//! excuses (`aborted-read`, `garbage-read`, in-poll order). Durability (`missing-at-end`,
//! `lost-write`, `unseen`, `inconsistent-offsets`, `hw-monotonic`) is demanded only when
//! every producer uses acks=all and the broker syncs every record (`flush.messages=1`).
//! Retries without idempotence may duplicate and reorder, so those are always allowed.

use crate::scenario::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

const TOPIC: &str = "swarm";

/// Anomalies a configuration may show because it does not promise durability.
const LOSS: &[&str] = &[
    "missing-at-end",
    "lost-write",
    "unseen",
    "inconsistent-offsets",
    "hw-monotonic",
    "poll-skip",
    "nonmonotonic-poll",
];
/// Anomalies producer retries without idempotence may cause in any configuration.
const RETRIES: &[&str] = &["duplicate", "consumed-more-than-once", "nonmonotonic-send"];

/// The scenario of swarm seed `seed`.
pub fn scenario_for_seed(seed: u64) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let duration_ms = rng.gen_range(4..=12) * 1000;
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
    let mut steps = Vec::new();
    for _ in 0..rng.gen_range(0..=4) {
        let at_ms = rng.gen_range(200..duration_ms - 1000);
        let back_ms = (at_ms + rng.gen_range(100..=2000)).min(duration_ms - 1);
        let broker = Target::Broker(1);
        let step = |at_ms, action| Step { trigger: Trigger::At(at_ms), action, line: 0 };
        match rng.gen_range(0..4) {
            0 => {
                let kind =
                    [CrashKind::KeepPageCache, CrashKind::LosePageCache, CrashKind::TornWrites]
                        [rng.gen_range(0..3)];
                steps.push(step(at_ms, Action::Crash { target: broker.clone(), kind }));
                steps.push(step(back_ms, Action::Restart { target: broker }));
            }
            1 => {
                steps.push(step(at_ms, Action::Pause { target: broker.clone() }));
                steps.push(step(back_ms, Action::Resume { target: broker }));
            }
            2 => {
                let client =
                    Target::Client(producers[rng.gen_range(0..producers.len())].id.clone());
                steps.push(step(
                    at_ms,
                    Action::Partition {
                        from: vec![client],
                        to: vec![broker],
                        one_way: rng.gen_bool(0.3),
                    },
                ));
                steps.push(step(back_ms, Action::Heal));
            }
            _ => {
                let slow = NetworkSpec {
                    latency_ms: (rng.gen_range(5..=50), rng.gen_range(50..=300)),
                    packet_loss: 0.0,
                };
                steps.push(step(at_ms, Action::Network(slow)));
                steps.push(step(back_ms, Action::Network(NetworkSpec::default())));
            }
        }
    }
    steps.sort_by_key(|s| match s.trigger {
        Trigger::At(at) => at,
        Trigger::When(_) => 0,
    });
    let durable = fsync && producers.iter().all(|p| p.acks == Acks::All);
    let mut allow: Vec<String> = RETRIES.iter().map(|s| s.to_string()).collect();
    if !durable {
        allow.extend(LOSS.iter().map(|s| s.to_string()));
    }
    let scenario = Scenario {
        name: format!("swarm-{seed}"),
        covers: Vec::new(),
        why: format!(
            "Drawn from swarm seed {seed}: {} producer(s), {} consumer(s), {} fault step(s), {}.",
            producers.len(),
            consumers.len(),
            steps.len(),
            if fsync { "fsync per record" } else { "default flush" }
        ),
        source: None,
        seed,
        duration_ms,
        cluster: ClusterSpec {
            brokers: 1,
            broker_config,
            topics: vec![TopicSpec {
                name: TOPIC.into(),
                partitions,
                replication_factor: 1,
                config: topic_config,
                create_at_setup: true,
            }],
        },
        network: NetworkSpec::default(),
        producers,
        consumers,
        steps,
        liveness: LivenessSpec::default(),
        expect: Expectations { appear: Vec::new(), allow },
        claims: Vec::new(),
        historical: None,
    };
    // Written and read back: the scenario a seed prints is the scenario it runs.
    let text = to_toml(&scenario);
    parse(&text, None)
        .unwrap_or_else(|e| panic!("swarm seed {seed} made an invalid scenario: {e}\n{text}"))
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

    #[test]
    fn durability_is_demanded_only_from_durable_configurations() {
        for seed in 0..300 {
            let s = scenario_for_seed(seed);
            let fsync = s
                .cluster
                .broker_config
                .get("log.flush.interval.messages")
                .is_some_and(|v| v == "1");
            let all = s.producers.iter().all(|p| p.acks == Acks::All);
            let allows_loss = s.expect.allow.iter().any(|a| a == "missing-at-end");
            if fsync && all {
                assert!(!allows_loss, "seed {seed}: acks=all with fsync must not allow loss");
            } else {
                assert!(allows_loss, "seed {seed}: this configuration may lose records");
            }
        }
    }
}
