//! Scenario files: a full file parses into exactly the expected types, omitted keys take
//! their documented defaults, every class of mistake gives an exact message naming the file,
//! line, key path and expectation, and every file under the repository's `scenarios/`
//! (and the README's example) loads.

use odradek_sim::scenario::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn parse_ok(text: &str) -> Scenario {
    match parse(text, Some(Path::new("x.toml"))) {
        Ok(scenario) => scenario,
        Err(e) => panic!("expected a valid scenario, got: {e}"),
    }
}

/// The message of the error `text` gives, read as file `x.toml`.
fn error(text: &str) -> String {
    match parse(text, Some(Path::new("x.toml"))) {
        Ok(s) => panic!("expected an error, got {s:#?}"),
        Err(e) => e.to_string(),
    }
}

/// A valid scenario of 15 lines; tests append to it (line 16 on), which adds keys to the
/// `[[consumers]]` table unless they open another table.
const BASE: &str = r#"name = "t"
duration_ms = 60000
[cluster]
brokers = 3
[[cluster.topics]]
name = "orders"
partitions = 3
replication_factor = 3
[[producers]]
id = "p1"
topic = "orders"
[[consumers]]
id = "c1"
topic = "orders"
group = "g1"
"#;

fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn condition(text: &str, clauses: &[(&str, CompareOp, f64)]) -> Condition {
    Condition {
        clauses: clauses
            .iter()
            .map(|&(metric, op, value)| Clause { metric: metric.into(), op, value })
            .collect(),
        text: text.into(),
    }
}

const FULL: &str = r#"name = "acks1-leader-failover"
covers = ["P4", "R2", "KIP-966"]
why = "acks=1 loses acknowledged writes when the leader dies"
seed = 42
duration_ms = 60_000

[cluster]
brokers = 3
[cluster.broker_config]
"unclean.leader.election.enable" = "false"
log.flush.interval.messages = 1000

[[cluster.topics]]
name = "orders"
partitions = 3
replication_factor = 3
config = { "min.insync.replicas" = "2", "retention.ms" = 3600000 }

[[cluster.topics]]
name = "events"

[network]
latency_ms = [2, 10]
packet_loss = 0.01

[[producers]]
id = "p1"
topic = "orders"
acks = "1"
retries = 3
max_in_flight = 1
rate_per_sec = 250.5
count = 10000
keys = 16
partition = 2
payload_bytes = 64
linger_ms = 0
request_timeout_ms = 1000
delivery_timeout_ms = 5000
start_ms = 100

[[producers]]
id = "p2"
topic = "events"
acks = "all"
idempotence = false

[[consumers]]
id = "c1"
topic = "orders"
group = "g1"
start = "committed"
auto_offset_reset = "earliest"
commit = "auto"
auto_commit_interval_ms = 1000
processing = "async"
processing_delay_ms = 50
poll_timeout_ms = 20
max_poll_records = 10
start_ms = 500

[[consumers]]
id = "c2"
topic = "orders"
assign = [0, 2]
start = 5

[[steps]]
when = "acked >= 100 and time_ms > 1000"
do = "crash"
target = "leader(orders/0)"
mode = "lose-page-cache"

[[steps]]
at_ms = 10_000
do = "restart"
target = "broker-2"

[[steps]]
at_ms = 11_000
do = "partition"
from = ["broker-1", "client(p1)"]
to = ["all-brokers"]
one_way = true

[[steps]]
at_ms = 12_000
do = "heal"

[[steps]]
at_ms = 13_000
do = "network"
packet_loss = 0.5

[[steps]]
at_ms = 14_000
do = "disk-faults"
target = "broker-3"
read_corruption_probability = 0.001
io_error_probability = 0

[[steps]]
at_ms = 15_000
do = "clog"
target = "client(c2)"

[[steps]]
at_ms = 16_000
do = "pause"
target = "broker-1"

[liveness]
enabled = false
deadline_ms = 5000

[expect]
appear = [{ property = "lost-write", at_least = 1, at_most = 10 }, { property = "duplicate" }]
allow = ["unseen"]

[[claims]]
id = "P4"
confirmed_when = "lost-write >= 1"
"#;

#[test]
fn full_example_parses_into_the_expected_types() {
    let expected = Scenario {
        name: "acks1-leader-failover".into(),
        covers: vec!["P4".into(), "R2".into(), "KIP-966".into()],
        why: "acks=1 loses acknowledged writes when the leader dies".into(),
        source: Some(PathBuf::from("x.toml")),
        seed: 42,
        duration_ms: 60_000,
        cluster: ClusterSpec {
            brokers: 3,
            broker_config: map(&[
                ("log.flush.interval.messages", "1000"),
                ("unclean.leader.election.enable", "false"),
            ]),
            topics: vec![
                TopicSpec {
                    name: "orders".into(),
                    partitions: 3,
                    replication_factor: 3,
                    config: map(&[("min.insync.replicas", "2"), ("retention.ms", "3600000")]),
                    create_at_setup: true,
                },
                TopicSpec {
                    name: "events".into(),
                    partitions: 1,
                    replication_factor: 1,
                    config: BTreeMap::new(),
                    create_at_setup: true,
                },
            ],
        },
        network: NetworkSpec { latency_ms: (2, 10), packet_loss: 0.01 },
        producers: vec![
            ProducerSpec {
                id: "p1".into(),
                topic: "orders".into(),
                acks: Acks::One,
                idempotence: false,
                retries: 3,
                max_in_flight: 1,
                rate_per_sec: 250.5,
                count: Some(10_000),
                keys: Some(16),
                partition: Some(2),
                payload_bytes: 64,
                linger_ms: 0,
                request_timeout_ms: 1000,
                delivery_timeout_ms: 5000,
                start_ms: 100,
                max_block_ms: 60_000,
                metadata_max_age_ms: 300_000,
                headers: 0,
                timestamps: Timestamps::CreateTime,
            },
            ProducerSpec {
                id: "p2".into(),
                topic: "events".into(),
                acks: Acks::All,
                idempotence: false,
                retries: 2_147_483_647,
                max_in_flight: 5,
                rate_per_sec: 100.0,
                count: None,
                keys: None,
                partition: None,
                payload_bytes: 100,
                linger_ms: 5,
                request_timeout_ms: 30_000,
                delivery_timeout_ms: 120_000,
                start_ms: 0,
                max_block_ms: 60_000,
                metadata_max_age_ms: 300_000,
                headers: 0,
                timestamps: Timestamps::CreateTime,
            },
        ],
        consumers: vec![
            ConsumerSpec {
                id: "c1".into(),
                topic: "orders".into(),
                mode: ConsumerMode::Group("g1".into()),
                start: StartPosition::Committed,
                auto_offset_reset: OffsetReset::Earliest,
                commit: CommitStrategy::Auto { interval_ms: 1000 },
                processing: Processing::Async { delay_ms: 50 },
                poll_timeout_ms: 20,
                max_poll_records: 10,
                start_ms: 500,
            },
            ConsumerSpec {
                id: "c2".into(),
                topic: "orders".into(),
                mode: ConsumerMode::Assign(vec![0, 2]),
                start: StartPosition::Offset(5),
                auto_offset_reset: OffsetReset::Latest,
                commit: CommitStrategy::None,
                processing: Processing::InPollLoop,
                poll_timeout_ms: 100,
                max_poll_records: 500,
                start_ms: 0,
            },
        ],
        steps: vec![
            Step {
                trigger: Trigger::When(condition(
                    "acked >= 100 and time_ms > 1000",
                    &[("acked", CompareOp::Ge, 100.0), ("time_ms", CompareOp::Gt, 1000.0)],
                )),
                action: Action::Crash {
                    target: Target::Leader { topic: "orders".into(), partition: 0 },
                    kind: CrashKind::LosePageCache,
                },
                line: 68,
            },
            Step {
                trigger: Trigger::At(10_000),
                action: Action::Restart { target: Target::Broker(2) },
                line: 74,
            },
            Step {
                trigger: Trigger::At(11_000),
                action: Action::Partition {
                    from: vec![Target::Broker(1), Target::Client("p1".into())],
                    to: vec![Target::AllBrokers],
                    one_way: true,
                },
                line: 79,
            },
            Step { trigger: Trigger::At(12_000), action: Action::Heal, line: 86 },
            Step {
                trigger: Trigger::At(13_000),
                // latency_ms not given: the [network] section's value is kept.
                action: Action::Network(NetworkSpec { latency_ms: (2, 10), packet_loss: 0.5 }),
                line: 90,
            },
            Step {
                trigger: Trigger::At(14_000),
                action: Action::DiskFaults {
                    target: Target::Broker(3),
                    read_corruption_probability: 0.001,
                    io_error_probability: 0.0,
                    sync_is_noop: false,
                },
                line: 95,
            },
            Step {
                trigger: Trigger::At(15_000),
                action: Action::Clog { target: Target::Client("c2".into()) },
                line: 102,
            },
            Step {
                trigger: Trigger::At(16_000),
                action: Action::Pause { target: Target::Broker(1) },
                line: 107,
            },
        ],
        liveness: LivenessSpec { enabled: false, deadline_ms: 5000 },
        expect: Expectations {
            appear: vec![
                Bound { property: "lost-write".into(), at_least: 1, at_most: Some(10) },
                Bound { property: "duplicate".into(), at_least: 1, at_most: None },
            ],
            allow: vec!["unseen".into()],
        },
        claims: vec![ClaimCheck {
            id: "P4".into(),
            confirmed_when: condition("lost-write >= 1", &[("lost-write", CompareOp::Ge, 1.0)]),
        }],
        historical: None,
    };
    assert_eq!(parse_ok(FULL), expected);
}

#[test]
fn omitted_keys_take_their_defaults() {
    let text = r#"
name = "minimal"
duration_ms = 1000
[[cluster.topics]]
name = "t"
[[producers]]
id = "p"
topic = "t"
[[consumers]]
id = "g"
topic = "t"
group = "g"
[[consumers]]
id = "a"
topic = "t"
assign = [0]
"#;
    let s = parse(text, None).expect("valid");
    assert_eq!(s.source, None);
    assert_eq!((s.seed, s.covers.len(), s.why.as_str()), (1, 0, ""));
    assert_eq!(s.cluster.brokers, 1);
    assert!(s.cluster.broker_config.is_empty());
    assert_eq!((s.cluster.topics[0].partitions, s.cluster.topics[0].replication_factor), (1, 1));
    assert_eq!(s.network, NetworkSpec { latency_ms: (1, 5), packet_loss: 0.0 });
    let p = &s.producers[0];
    assert_eq!(p.acks, Acks::All);
    assert!(!p.idempotence);
    assert_eq!((p.retries, p.max_in_flight, p.rate_per_sec), (2_147_483_647, 5, 100.0));
    assert_eq!((p.count, p.keys, p.partition, p.payload_bytes), (None, None, None, 100));
    assert_eq!((p.linger_ms, p.request_timeout_ms, p.delivery_timeout_ms), (5, 30_000, 120_000));
    assert_eq!(p.start_ms, 0);
    let g = &s.consumers[0];
    assert_eq!(g.start, StartPosition::Committed);
    assert_eq!(g.auto_offset_reset, OffsetReset::Latest);
    assert_eq!(g.commit, CommitStrategy::Auto { interval_ms: 5000 });
    assert_eq!(g.processing, Processing::InPollLoop);
    assert_eq!((g.poll_timeout_ms, g.max_poll_records, g.start_ms), (100, 500, 0));
    let a = &s.consumers[1];
    assert_eq!((a.start, a.commit), (StartPosition::Earliest, CommitStrategy::None));
    assert!(s.steps.is_empty() && s.claims.is_empty());
    assert_eq!(s.liveness, LivenessSpec { enabled: true, deadline_ms: 30_000 });
    assert_eq!(s.expect, Expectations::default());
}

#[test]
fn acks_synonyms_and_integers() {
    for (acks, expected) in
        [("\"-1\"", Acks::All), ("-1", Acks::All), ("0", Acks::Zero), ("\"0\"", Acks::Zero)]
    {
        let text = BASE.replace("id = \"p1\"", &format!("id = \"p1\"\nacks = {acks}"));
        assert_eq!(parse_ok(&text).producers[0].acks, expected, "acks = {acks}");
    }
}

#[test]
fn crash_mode_defaults_and_targets_display_as_written() {
    let s = parse_ok(&with("[[steps]]\nat_ms = 1\ndo = \"crash\"\ntarget = \"broker-3\"\n"));
    assert_eq!(
        s.steps[0].action,
        Action::Crash { target: Target::Broker(3), kind: CrashKind::KeepPageCache }
    );
    assert_eq!(s.steps[0].line, 16);
    for text in ["broker-3", "all-brokers", "leader(orders/2)", "client(c1)"] {
        let s =
            parse_ok(&with(&format!("[[steps]]\nat_ms = 1\ndo = \"clog\"\ntarget = \"{text}\"\n")));
        let Action::Clog { target } = &s.steps[0].action else { panic!("not a clog") };
        assert_eq!(target.to_string(), text);
    }
}

#[test]
fn conditions_evaluate() {
    let s = parse_ok(&with("[[steps]]\nwhen = \"acked >= 10 and failed == 0\"\ndo = \"heal\"\n"));
    let Trigger::When(c) = &s.steps[0].trigger else { panic!("not a condition") };
    assert!(c.holds(|m| if m == "acked" { 10.0 } else { 0.0 }));
    assert!(!c.holds(|m| if m == "acked" { 9.0 } else { 0.0 }));
    assert_eq!(c.to_string(), "acked >= 10 and failed == 0");
}

// ---- Errors: one test per class, each asserting the whole message. ----

#[test]
fn toml_syntax_error_gives_line_and_column() {
    assert_eq!(
        error("name = \"t\"\nduration_ms = 60000\nwhy = \"unterminated\n"),
        "x.toml:3:20: invalid TOML: invalid basic string"
    );
}

#[test]
fn duplicate_toml_key_is_a_syntax_error() {
    assert_eq!(
        error("name = \"t\"\nname = \"u\"\n"),
        "x.toml:2:1: invalid TOML: duplicate key `name` in document root"
    );
}

#[test]
fn text_without_a_path_is_named_input() {
    let e = parse("name = 1\n", None).unwrap_err().to_string();
    assert_eq!(e, "<input>:1: name: expected a name of letters, digits, '.', '_' and '-', got 1");
}

#[test]
fn wrong_type() {
    assert_eq!(
        error("name = \"t\"\nduration_ms = \"60s\"\n"),
        "x.toml:2: duration_ms: expected a positive integer, got \"60s\""
    );
    assert_eq!(
        error(&with("[liveness]\nenabled = \"yes\"\n")),
        "x.toml:17: liveness.enabled: expected true or false, got \"yes\""
    );
    assert_eq!(
        error("name = \"t\"\nduration_ms = 1\ncovers = [\"P4\", 4]\n"),
        "x.toml:3: covers[1]: expected a string, got 4"
    );
    assert_eq!(
        error("name = \"t\"\nduration_ms = 1\nproducers = 5\n"),
        "x.toml:3: producers: expected an array of tables, got 5"
    );
    assert_eq!(
        error("name = \"t\"\nduration_ms = 1\ncluster = [1]\n"),
        "x.toml:3: cluster: expected a table, got an array"
    );
}

#[test]
fn names_and_ids_are_safe_in_paths_and_targets() {
    assert_eq!(
        error("name = \"../x\"\nduration_ms = 1\n"),
        "x.toml:1: name: expected a name of letters, digits, '.', '_' and '-', got \"../x\""
    );
    assert_eq!(
        error(&BASE.replace("id = \"p1\"", "id = \"p(1)\"")),
        "x.toml:10: producers[0].id: expected an id of letters, digits, '.', '_' and '-', got \
         \"p(1)\""
    );
    assert_eq!(
        error(&BASE.replace("name = \"orders\"", "name = \"or/ders\"")),
        "x.toml:6: cluster.topics[0].name: expected a Kafka topic name (1 to 249 letters, \
         digits, '.', '_' and '-'; not \".\" or \"..\"), got \"or/ders\""
    );
}

#[test]
fn missing_required_keys() {
    assert_eq!(error("duration_ms = 1\n"), "x.toml:1: name: missing required key");
    assert_eq!(error("name = \"t\"\n"), "x.toml:1: duration_ms: missing required key");
    assert_eq!(
        error(&with("[[producers]]\nid = \"p2\"\n")),
        "x.toml:16: producers[1].topic: missing required key"
    );
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\n")),
        "x.toml:16: steps[0].do: missing required key"
    );
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"crash\"\n")),
        "x.toml:16: steps[0].target: missing required key"
    );
}

#[test]
fn unknown_key_at_top_level() {
    assert_eq!(
        error("name = \"t\"\nduration = 5\n"),
        "x.toml:2: duration: unknown key (did you mean \"duration_ms\"?); allowed keys: name, \
         covers, why, historical, seed, duration_ms, cluster, network, producers, consumers, \
         steps, liveness, expect, claims"
    );
}

#[test]
fn unknown_key_in_cluster() {
    assert_eq!(
        error("name = \"t\"\nduration_ms = 1\n[cluster]\nbroker = 3\n"),
        "x.toml:4: cluster.broker: unknown key (did you mean \"brokers\"?); allowed keys: \
         brokers, broker_config, topics"
    );
}

#[test]
fn unknown_key_in_topic() {
    assert_eq!(
        error("name = \"t\"\nduration_ms = 1\n[[cluster.topics]]\nname = \"a\"\npartitons = 3\n"),
        "x.toml:5: cluster.topics[0].partitons: unknown key (did you mean \"partitions\"?); \
         allowed keys: name, partitions, replication_factor, config, create_at_setup"
    );
}

#[test]
fn unknown_key_in_producer() {
    assert_eq!(
        error(&BASE.replace(
            "topic = \"orders\"\n[[consumers]]",
            "topic = \"orders\"\nack = 1\n[[consumers]]"
        )),
        "x.toml:12: producers[0].ack: unknown key (did you mean \"acks\"?); allowed keys: id, \
         topic, acks, idempotence, retries, max_in_flight, rate_per_sec, count, keys, partition, \
         payload_bytes, linger_ms, request_timeout_ms, delivery_timeout_ms, start_ms, \
         max_block_ms, metadata_max_age_ms, headers, timestamps"
    );
}

#[test]
fn unknown_key_in_consumer() {
    assert_eq!(
        error(&with("enable_auto_commit = true\n")),
        "x.toml:16: consumers[0].enable_auto_commit: unknown key; allowed keys: id, topic, \
         assign, group, start, auto_offset_reset, commit, auto_commit_interval_ms, processing, \
         processing_delay_ms, poll_timeout_ms, max_poll_records, start_ms"
    );
}

#[test]
fn unknown_key_in_step_depends_on_its_action() {
    assert_eq!(
        error(&with(
            "[[steps]]\nat_ms = 1\ndo = \"restart\"\ntarget = \"broker-1\"\n\
         mode = \"lose-page-cache\"\n"
        )),
        "x.toml:20: steps[0].mode: unknown key for do = \"restart\"; allowed keys: at_ms, when, \
         do, target"
    );
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"heal\"\ntarget = \"broker-1\"\n")),
        "x.toml:19: steps[0].target: unknown key for do = \"heal\"; allowed keys: at_ms, when, do"
    );
}

#[test]
fn unknown_key_in_expect_and_its_bounds() {
    assert_eq!(
        error(&with("[expect]\nallowed = [\"unseen\"]\n")),
        "x.toml:17: expect.allowed: unknown key (did you mean \"allow\"?); allowed keys: \
         appear, allow"
    );
    assert_eq!(
        error(&with("[expect]\nappear = [{ property = \"unseen\", atleast = 2 }]\n")),
        "x.toml:17: expect.appear[0].atleast: unknown key (did you mean \"at_least\"?); \
         allowed keys: property, at_least, at_most"
    );
}

#[test]
fn unknown_key_in_claims() {
    assert_eq!(
        error(
            "name = \"t\"\ncovers = [\"P4\"]\nduration_ms = 1\n[[claims]]\nid = \"P4\"\n\
         when = \"lost-write >= 1\"\n"
        ),
        "x.toml:6: claims[0].when: unknown key; allowed keys: id, confirmed_when"
    );
}

#[test]
fn unknown_key_in_network_and_liveness() {
    assert_eq!(
        error(&with("[network]\nlatency = [1, 2]\n")),
        "x.toml:17: network.latency: unknown key (did you mean \"latency_ms\"?); allowed keys: \
         latency_ms, packet_loss"
    );
    assert_eq!(
        error(&with("[liveness]\ndeadline = 1\n")),
        "x.toml:17: liveness.deadline: unknown key (did you mean \"deadline_ms\"?); allowed \
         keys: enabled, deadline_ms"
    );
}

#[test]
fn bad_choice_values() {
    assert_eq!(
        error(&BASE.replace("id = \"p1\"", "id = \"p1\"\nacks = \"2\"")),
        "x.toml:11: producers[0].acks: expected \"0\", \"1\" or \"all\", got \"2\""
    );
    assert_eq!(
        error(&with("commit = \"sync\"\n")),
        "x.toml:16: consumers[0].commit: expected \"auto\", \"sync-after-processing\", \"async\", \
         \"before-processing\" or \"none\", got \"sync\""
    );
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"explode\"\n")),
        "x.toml:18: steps[0].do: expected \"crash\", \"restart\", \"pause\", \"resume\", \
         \"partition\", \"heal\", \"clog\", \"unclog\", \"network\", \"disk-faults\", \"seek\", \
         \"create-partitions\" or \"list-offsets\", got \"explode\""
    );
    assert_eq!(
        error(&with(
            "[[steps]]\nat_ms = 1\ndo = \"crash\"\ntarget = \"broker-1\"\nmode = \"power-loss\"\n"
        )),
        "x.toml:20: steps[0].mode: expected \"keep-page-cache\", \"lose-page-cache\" or \
         \"torn-writes\", got \"power-loss\""
    );
}

#[test]
fn client_names_a_topic_not_in_the_cluster() {
    assert_eq!(
        error(&BASE.replace(
            "group = \"g1\"",
            "group = \"g1\"\n[[producers]]\nid = \"p2\"\ntopic = \"order\""
        )),
        "x.toml:18: producers[1].topic: no topic \"order\" in cluster.topics (did you mean \
         \"orders\"?); topics: orders"
    );
    assert_eq!(
        error(
            "name = \"t\"\nduration_ms = 1\n[[consumers]]\nid = \"c\"\ntopic = \"x\"\n\
         group = \"g\"\n"
        ),
        "x.toml:5: consumers[0].topic: no topic \"x\" in cluster.topics; cluster.topics \
         defines none"
    );
}

#[test]
fn partition_out_of_range() {
    assert_eq!(
        error(&BASE.replace("id = \"p1\"", "id = \"p1\"\npartition = 3")),
        "x.toml:11: producers[0].partition: partition 3 does not exist: topic \"orders\" has 3 \
         partitions (0 to 2)"
    );
    assert_eq!(
        error(&BASE.replace("group = \"g1\"", "assign = [0, 7]")),
        "x.toml:15: consumers[0].assign[1]: partition 7 does not exist: topic \"orders\" has 3 \
         partitions (0 to 2)"
    );
}

#[test]
fn broker_not_in_the_cluster() {
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"crash\"\ntarget = \"broker-7\"\n")),
        "x.toml:19: steps[0].target: no broker-7: the cluster has 3 brokers (broker-1 to broker-3)"
    );
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"pause\"\ntarget = \"broker-0\"\n")),
        "x.toml:19: steps[0].target: no broker-0: the cluster has 3 brokers (broker-1 to broker-3)"
    );
}

#[test]
fn leader_of_a_partition_that_does_not_exist() {
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"crash\"\ntarget = \"leader(orders/9)\"\n")),
        "x.toml:19: steps[0].target: leader(orders/9): topic \"orders\" has 3 partitions (0 to 2)"
    );
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"crash\"\ntarget = \"leader(nope/0)\"\n")),
        "x.toml:19: steps[0].target: leader(nope/0): no topic \"nope\" in cluster.topics"
    );
}

#[test]
fn client_target_naming_no_client() {
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"crash\"\ntarget = \"client(p9)\"\n")),
        "x.toml:19: steps[0].target: client(p9): no producer or consumer has id \"p9\"; ids: c1, p1"
    );
}

#[test]
fn malformed_target() {
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"crash\"\ntarget = \"broker7\"\n")),
        "x.toml:19: steps[0].target: expected broker-<id>, all-brokers, \
         leader(<topic>/<partition>), follower(<topic>/<partition>[, <n>]), \
         followers(<topic>/<partition>), controller or client(<id>), got \"broker7\""
    );
}

#[test]
fn follower_and_controller_targets_parse_and_display_as_written() {
    // Setup: the base cluster of 3 brokers with a topic of replication factor 3.
    for (text, expected) in [
        (
            "follower(orders/1)",
            Target::Follower { topic: "orders".into(), partition: 1, nth: Some(1) },
        ),
        (
            "follower(orders/1, 2)",
            Target::Follower { topic: "orders".into(), partition: 1, nth: Some(2) },
        ),
        (
            "followers(orders/0)",
            Target::Follower { topic: "orders".into(), partition: 0, nth: None },
        ),
        ("controller", Target::Controller),
    ] {
        let scenario = parse_ok(&with(&format!(
            "[[steps]]\nat_ms = 1\ndo = \"pause\"\ntarget = \"{text}\"\n"
        )));
        let Action::Pause { target } = &scenario.steps[0].action else { panic!("not a pause") };
        assert_eq!(target, &expected);
        assert_eq!(target.to_string(), text);
    }
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"crash\"\ntarget = \"follower(orders/0, 3)\"\n")),
        "x.toml:19: steps[0].target: follower(orders/0, 3): topic \"orders\" has replication \
         factor 3, so 2 followers"
    );
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"crash\"\ntarget = \"follower(orders/0, 0)\"\n")),
        "x.toml:19: steps[0].target: follower(orders/0, 0): the follower number must be 1 or \
         more, got \"0\""
    );
    let single = BASE
        .replace("brokers = 3", "brokers = 1")
        .replace("replication_factor = 3", "replication_factor = 1");
    assert_eq!(
        error(&format!("{single}[[steps]]\nat_ms = 1\ndo = \"crash\"\ntarget = \"controller\"\n")),
        "x.toml:19: steps[0].target: controller: a single broker has no followers and no \
         controller quorum; set cluster.brokers above 1"
    );
}

/// BASE with `historical = ...` on its second line, and an expect section.
fn historical(switch: &str, expect: &str) -> String {
    format!("{}historical = \"{switch}\"\n{}{expect}", &BASE[..11], &BASE[11..])
}

#[test]
fn a_historical_switch_turns_on_for_every_broker_and_adds_a_guarded_run() {
    // Setup: a scenario naming the switch hw_truncation and an anomaly it must show.
    let scenario = parse_ok(&historical(
        "hw_truncation",
        "[expect]\nappear = [{ property = \"lost-write\" }]\nallow = [\"unseen\"]\n",
    ));
    assert_eq!(
        scenario.cluster.broker_config.get("odradek.historical.hw_truncation").map(String::as_str),
        Some("true")
    );
    assert_eq!(scenario.historical, Some(Historical { switch: "hw_truncation".into(), on: true }));
    assert!(!scenario.is_guarded());
    let runs = scenario.clone().with_guarded();
    assert_eq!(runs.len(), 2);
    let guarded = &runs[1];
    assert_eq!(guarded.name, "t-guarded");
    assert!(guarded.is_guarded());
    assert_eq!(
        guarded.cluster.broker_config.get("odradek.historical.hw_truncation").map(String::as_str),
        Some("false")
    );
    assert!(guarded.expect.appear.is_empty(), "the guarded run must not show the anomaly");
    assert_eq!(guarded.expect.allow, scenario.expect.allow);
    assert!(guarded.claims.is_empty());
    assert_eq!((guarded.seed, &guarded.steps), (scenario.seed, &scenario.steps));
    assert!(guarded.guarded().is_none(), "a guarded run has no guarded run of its own");
    assert_eq!(parse_ok(BASE).with_guarded().len(), 1);
}

#[test]
fn a_historical_switch_must_exist_need_a_cluster_and_name_what_it_shows() {
    assert_eq!(
        error(&historical("hw_truncaton", "[expect]\nappear = [{ property = \"lost-write\" }]\n")),
        "x.toml:2: historical: no historical switch \"hw_truncaton\" (did you mean \
         \"hw_truncation\"?); known: hw_truncation, no_maximal_isr, no_broker_epoch_fencing, \
         no_eligible_leader_replicas, hw_before_truncation"
    );
    assert_eq!(
        error(&historical("no_maximal_isr", "")),
        "x.toml:2: historical: historical = \"no_maximal_isr\" needs an [expect] appear list: \
         the anomalies the switch re-enables, which the run with the guard on must not show"
    );
    let text = historical("no_maximal_isr", "[expect]\nappear = [{ property = \"lost-write\" }]\n")
        .replace(
            "brokers = 3",
            "brokers = 3\nbroker_config = { \"odradek.historical.no_maximal_isr\" = \"true\" }",
        );
    assert_eq!(
        error(&text),
        "x.toml:2: historical: historical = \"no_maximal_isr\" sets \
         odradek.historical.no_maximal_isr; remove it from cluster.broker_config"
    );
    let single =
        historical("no_maximal_isr", "[expect]\nappear = [{ property = \"lost-write\" }]\n")
            .replace("brokers = 3", "brokers = 1")
            .replace("replication_factor = 3", "replication_factor = 1");
    assert_eq!(
        error(&single),
        "x.toml:2: historical: historical = \"no_maximal_isr\" is a replication guard: set \
         cluster.brokers above 1"
    );
}

#[test]
fn partition_sides() {
    assert_eq!(
        error(&with(
            "[[steps]]\nat_ms = 1\ndo = \"partition\"\nfrom = [\"broker-1\"]\n\
         to = [\"broker-2\", \"broker-1\"]\n"
        )),
        "x.toml:20: steps[0].to[1]: broker-1 is on both sides of the partition"
    );
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"partition\"\nfrom = []\nto = [\"broker-2\"]\n")),
        "x.toml:19: steps[0].from: expected at least one target, got []"
    );
}

#[test]
fn disk_faults_only_on_brokers() {
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"disk-faults\"\ntarget = \"client(p1)\"\n")),
        "x.toml:19: steps[0].target: do = \"disk-faults\" acts on brokers, not on clients"
    );
}

#[test]
fn duplicate_client_ids() {
    assert_eq!(
        error(&BASE.replace("id = \"c1\"", "id = \"p1\"")),
        "x.toml:13: consumers[0].id: duplicate client id \"p1\" (already used by producers[0])"
    );
}

#[test]
fn duplicate_topic_names() {
    assert_eq!(
        error(
            &BASE.replace("[[producers]]", "[[cluster.topics]]\nname = \"orders\"\n[[producers]]")
        ),
        "x.toml:10: cluster.topics[1].name: duplicate topic \"orders\" (already defined by \
         cluster.topics[0])"
    );
}

#[test]
fn step_needs_exactly_one_trigger() {
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\nwhen = \"acked > 1\"\ndo = \"heal\"\n")),
        "x.toml:16: steps[0]: expected exactly one of at_ms and when, got both"
    );
    assert_eq!(
        error(&with("[[steps]]\ndo = \"heal\"\n")),
        "x.toml:16: steps[0]: expected exactly one of at_ms and when, got neither"
    );
}

#[test]
fn step_time_within_the_safety_phase() {
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 60000\ndo = \"heal\"\n")),
        "x.toml:17: steps[0].at_ms: expected a time before duration_ms (60000), got 60000"
    );
}

#[test]
fn producer_record_options_and_topics_left_to_auto_creation() {
    let scenario = parse_ok(&BASE.replace(
        "topic = \"orders\"\n[[consumers]]",
        "topic = \"orders\"\nmax_block_ms = 250\nmetadata_max_age_ms = 500\nheaders = 3\n\
         timestamps = \"explicit\"\n[[consumers]]",
    ));
    let p = &scenario.producers[0];
    assert_eq!(
        (p.max_block_ms, p.metadata_max_age_ms, p.headers, p.timestamps),
        (250, 500, 3, Timestamps::Explicit)
    );
    let scenario = parse_ok(&BASE.replace("replication_factor = 3\n", "create_at_setup = false\n"));
    assert!(!scenario.cluster.topics[0].create_at_setup);
    assert_eq!(
        error(&BASE.replace(
            "topic = \"orders\"\n[[consumers]]",
            "topic = \"orders\"\ntimestamps = \"log-append\"\n[[consumers]]"
        )),
        "x.toml:12: producers[0].timestamps: expected \"create-time\" or \"explicit\", got \
         \"log-append\""
    );
}

/// `BASE` with an assign consumer `c2` (partitions 0 and 2) and the step `step`.
fn with_assign_consumer_and_step(step: &str) -> String {
    with(&format!(
        "[[consumers]]\nid = \"c2\"\ntopic = \"orders\"\nassign = [0, 2]\n[[steps]]\nat_ms = 5\n{step}"
    ))
}

#[test]
fn admin_and_consumer_steps() {
    let step = |text: &str| parse_ok(&with_assign_consumer_and_step(text)).steps[0].action.clone();
    assert_eq!(
        step("do = \"seek\"\ntarget = \"client(c2)\"\noffset = 7\npartition = 2\n"),
        Action::Seek { client: "c2".into(), partition: Some(2), to: SeekTo::Offset(7) }
    );
    assert_eq!(
        step("do = \"seek\"\ntarget = \"client(c2)\"\noffset = \"earliest\"\n"),
        Action::Seek { client: "c2".into(), partition: None, to: SeekTo::Earliest }
    );
    assert_eq!(
        step("do = \"create-partitions\"\ntopic = \"orders\"\ncount = 2\n"),
        Action::CreatePartitions { topic: "orders".into(), count: 2 }
    );
    assert_eq!(
        step("do = \"list-offsets\"\ntopic = \"orders\"\npartition = 1\n"),
        Action::ListOffsets { topic: "orders".into(), partition: 1 }
    );
    assert_eq!(
        step("do = \"disk-faults\"\ntarget = \"broker-1\"\nsync_is_noop = true\n"),
        Action::DiskFaults {
            target: Target::Broker(1),
            read_corruption_probability: 0.0,
            io_error_probability: 0.0,
            sync_is_noop: true,
        }
    );
    let err = |text: &str| error(&with_assign_consumer_and_step(text));
    assert_eq!(
        err("do = \"seek\"\ntarget = \"client(p1)\"\noffset = 0\n"),
        "x.toml:23: steps[0].target: \"p1\" is a producer; only consumers seek"
    );
    assert_eq!(
        err("do = \"seek\"\ntarget = \"client(c1)\"\noffset = 0\n"),
        "x.toml:23: steps[0].target: consumer \"c1\" uses a group; seek applies to consumers \
         with assign"
    );
    assert_eq!(
        err("do = \"seek\"\ntarget = \"broker-1\"\noffset = 0\n"),
        "x.toml:23: steps[0].target: do = \"seek\" acts on a consumer, client(<id>); got broker-1"
    );
    assert_eq!(
        err("do = \"seek\"\ntarget = \"client(c2)\"\noffset = 0\npartition = 1\n"),
        "x.toml:25: steps[0].partition: consumer \"c2\" is not assigned partition 1 (it has 0, 2)"
    );
    assert_eq!(
        err("do = \"seek\"\ntarget = \"client(c2)\"\noffset = -1\n"),
        "x.toml:24: steps[0].offset: expected \"earliest\", \"latest\" or an offset >= 0, got -1"
    );
    assert_eq!(
        err("do = \"list-offsets\"\ntopic = \"orders\"\npartition = 3\n"),
        "x.toml:24: steps[0].partition: partition 3: topic \"orders\" has 3 partitions (0 to 2)"
    );
    assert_eq!(
        err("do = \"create-partitions\"\ntopic = \"order\"\ncount = 4\n"),
        "x.toml:23: steps[0].topic: no topic \"order\" in cluster.topics (did you mean \
         \"orders\"?); topics: orders"
    );
}

#[test]
fn end_of_run_metrics_belong_in_claims() {
    assert_eq!(
        error(&with("[[steps]]\nwhen = \"segments >= 1\"\ndo = \"heal\"\n")),
        "x.toml:17: steps[0].when: \"segments\" is measured at the end of the run; a step's \
         condition may use the live metrics sent, acked, failed, indeterminate, polled, time_ms \
         (end-of-run metrics belong in claims.confirmed_when)"
    );
    let scenario = parse_ok(
        &with(
            "[[claims]]\nid = \"M3\"\nconfirmed_when = \"segments >= 3 and segment-names == 0\"\n",
        )
        .replace("name = \"t\"", "name = \"t\"\ncovers = [\"M3\"]"),
    );
    assert_eq!(scenario.claims[0].confirmed_when.clauses.len(), 2);
}

#[test]
fn when_uses_only_live_metrics() {
    assert_eq!(
        error(&with("[[steps]]\nwhen = \"lost-write >= 1\"\ndo = \"heal\"\n")),
        "x.toml:17: steps[0].when: \"lost-write\" is a property, known only after the run; a \
         step's condition may use the live metrics sent, acked, failed, indeterminate, polled, \
         time_ms (properties belong in claims.confirmed_when)"
    );
    assert_eq!(
        error(&with("[[steps]]\nwhen = \"ackd >= 1\"\ndo = \"heal\"\n")),
        "x.toml:17: steps[0].when: \"ackd\" is not a live metric (did you mean \"acked\"?); \
         expected one of sent, acked, failed, indeterminate, polled, time_ms"
    );
}

#[test]
fn malformed_condition() {
    assert_eq!(
        error(&with("[[steps]]\nwhen = \"acked = 100\"\ndo = \"heal\"\n")),
        "x.toml:17: steps[0].when: after \"acked\": use == to compare for equality"
    );
    assert_eq!(
        error(&with("[[steps]]\nwhen = \"acked >= 100 or failed > 0\"\ndo = \"heal\"\n")),
        "x.toml:17: steps[0].when: after \"acked >= 100\": expected \"and\" or the end, got \"or\""
    );
}

#[test]
fn expect_names_unknown_properties() {
    // The message lists every property, in the order properties.rs defines them.
    let all: Vec<&str> = odradek_sim::properties::PROPERTIES.iter().map(|p| p.name).collect();
    assert_eq!(
        error(&with("[expect]\nappear = [{ property = \"lost-writes\" }]\n")),
        format!(
            "x.toml:17: expect.appear[0].property: unknown property \"lost-writes\" (did you \
             mean \"lost-write\"?); properties: {}",
            all.join(", ")
        )
    );
    assert!(error(&with("[expect]\nallow = [\"acked\"]\n")).starts_with(
        "x.toml:17: expect.allow[0]: unknown property \"acked\"; properties: lost-write,"
    ));
}

#[test]
fn expect_bounds_and_repeats() {
    assert_eq!(
        error(&with(
            "[expect]\nappear = [{ property = \"duplicate\", at_least = 3, at_most = 2 }]\n"
        )),
        "x.toml:17: expect.appear[0].at_most: expected at least at_least (3), got 2"
    );
    assert_eq!(
        error(&with("[expect]\nappear = [{ property = \"unseen\" }]\nallow = [\"unseen\"]\n")),
        "x.toml:18: expect.allow[0]: property \"unseen\" is named twice in expect"
    );
    assert_eq!(
        error(&with("[liveness]\nenabled = false\n[expect]\nallow = [\"liveness\"]\n")),
        "x.toml:19: expect.allow[0]: \"liveness\" is not checked: liveness.enabled is false"
    );
}

#[test]
fn claims_use_metrics_and_properties_of_covered_claims() {
    let claims = |covers: &str, id: &str, when: &str| {
        format!(
            "name = \"t\"\ncovers = [{covers}]\nduration_ms = 1\n[[claims]]\n\
         id = \"{id}\"\nconfirmed_when = \"{when}\"\n"
        )
    };
    let s = parse_ok(&claims("\"G8\"", "G8", "polled > 10 and duplicate >= 1"));
    assert_eq!(s.claims[0].confirmed_when.clauses.len(), 2);
    assert_eq!(
        error(&claims("\"G8\"", "G9", "duplicate >= 1")),
        "x.toml:5: claims[0].id: claim \"G9\" is not in covers; a scenario decides only the \
         claims it covers"
    );
    assert_eq!(
        error(&claims("\"T1\"", "T1", "duplicate >= 1")),
        "x.toml:5: claims[0].id: expected a seed claim id (M1-M7, P1-P8, R1-R8, G1-G15), got \"T1\""
    );
    assert!(error(&claims("\"G8\"", "G8", "dupes >= 1")).starts_with(
        "x.toml:6: claims[0].confirmed_when: \"dupes\" is neither a metric nor a property; \
         expected one of sent, acked,"
    ));
}

#[test]
fn covers_bad_or_repeated_ids() {
    assert_eq!(
        error("name = \"t\"\nduration_ms = 1\ncovers = [\"P4\", \"P9\"]\n"),
        "x.toml:3: covers[1]: expected a seed claim id (M1-M7, P1-P8, R1-R8, G1-G15), a bug id \
         (R1-R14, P1-P2, T1-T4, C1-C5), KIP-<n> or KAFKA-<n>, got \"P9\""
    );
    assert_eq!(
        error("name = \"t\"\nduration_ms = 1\ncovers = [\"P4\", \"P4\"]\n"),
        "x.toml:3: covers[1]: \"P4\" is listed twice"
    );
}

#[test]
fn probabilities_outside_zero_one() {
    assert_eq!(
        error(&with("[network]\npacket_loss = 1.5\n")),
        "x.toml:17: network.packet_loss: expected a probability in [0, 1], got 1.5"
    );
    assert_eq!(
        error(&with(
            "[[steps]]\nat_ms = 1\ndo = \"disk-faults\"\ntarget = \"broker-1\"\n\
         io_error_probability = -0.1\n"
        )),
        "x.toml:20: steps[0].io_error_probability: expected a probability in [0, 1], got -0.1"
    );
}

#[test]
fn latency_bounds() {
    assert_eq!(
        error(&with("[network]\nlatency_ms = [9, 2]\n")),
        "x.toml:17: network.latency_ms: expected [min, max] with min <= max, got [9, 2]"
    );
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"network\"\nlatency_ms = [1]\n")),
        "x.toml:19: steps[0].latency_ms: expected [min, max]: two non-negative integers \
         (milliseconds)"
    );
    assert_eq!(
        error(&with("[[steps]]\nat_ms = 1\ndo = \"network\"\n")),
        "x.toml:16: steps[0]: do = \"network\" needs latency_ms, packet_loss or both"
    );
}

#[test]
fn kafka_broker_config_errors_use_cores_validator() {
    let config =
        |line: &str| format!("name = \"t\"\nduration_ms = 1\n[cluster.broker_config]\n{line}\n");
    assert_eq!(
        error(&config("\"min.insync.replica\" = \"2\"")),
        "x.toml:4: cluster.broker_config.\"min.insync.replica\": unknown config key (not a \
         Kafka broker setting)"
    );
    assert_eq!(
        error(&config("min.insync.replicas = \"0\"")),
        "x.toml:4: cluster.broker_config.\"min.insync.replicas\": invalid value \"0\": must be \
         in [1, 2147483647]"
    );
    assert_eq!(
        error(&config("\"unclean.leader.election.enable\" = \"maybe\"")),
        "x.toml:4: cluster.broker_config.\"unclean.leader.election.enable\": invalid value \
         \"maybe\": expected true or false, got \"maybe\""
    );
    assert_eq!(
        error(&config("\"process.roles\" = \"broker\"")),
        "x.toml:4: cluster.broker_config.\"process.roles\": set by the testbed from the \
         cluster's shape; it cannot be configured here"
    );
    assert_eq!(
        error(&config("\"zookeeper.connect\" = \"zk:2181\"")),
        "x.toml:4: cluster.broker_config.\"zookeeper.connect\": a Kafka broker setting that \
         odradek does not support yet"
    );
    assert_eq!(
        error(&config("\"node.id\" = \"1\"")),
        "x.toml:4: cluster.broker_config.\"node.id\": set by the testbed, differently for each \
         broker; it cannot be configured here"
    );
    assert_eq!(
        error(&config("\"log.retention.ms\" = [1]")),
        "x.toml:4: cluster.broker_config.\"log.retention.ms\": expected a Kafka config value (a \
         string), got an array"
    );
}

#[test]
fn kafka_topic_config_errors_use_cores_validator() {
    let config = |line: &str| {
        format!(
            "name = \"t\"\nduration_ms = 1\n[[cluster.topics]]\nname = \"a\"\n\
         [cluster.topics.config]\n{line}\n"
        )
    };
    assert_eq!(
        error(&config("\"retention.msec\" = \"1\"")),
        "x.toml:6: cluster.topics[0].config.\"retention.msec\": unknown topic config key (not a \
         Kafka topic setting)"
    );
    assert_eq!(
        error(&config("segment.bytes = 10")),
        "x.toml:6: cluster.topics[0].config.\"segment.bytes\": invalid value \"10\": must be in \
         [14, 2147483647]"
    );
    assert_eq!(
        error(&config("\"cleanup.policy\" = \"compact\"")),
        "x.toml:6: cluster.topics[0].config.\"cleanup.policy\": invalid value \"compact\": log \
         compaction is not supported yet"
    );
    assert_eq!(
        error(&config("\"flush.ms\" = \"1\"\nflush.ms = \"2\"")),
        "x.toml:7: cluster.topics[0].config.\"flush.ms\": set twice (once as a quoted key, once \
         dotted)"
    );
}

#[test]
fn replication_factor_above_broker_count() {
    assert_eq!(
        error(&BASE.replace("brokers = 3", "brokers = 2")),
        "x.toml:8: cluster.topics[0].replication_factor: expected at most 2 (the cluster's \
         brokers), got 3"
    );
}

#[test]
fn consumer_mode_and_commit_rules() {
    assert_eq!(
        error(&with("assign = [0]\n")),
        "x.toml:12: consumers[0]: expected exactly one of assign and group, got both"
    );
    assert_eq!(
        error(&BASE.replace("group = \"g1\"", "assign = [0]\ncommit = \"auto\"")),
        "x.toml:16: consumers[0].commit: a consumer with assign has no group to commit to; \
         expected \"none\", got \"auto\""
    );
    assert_eq!(
        error(&BASE.replace("group = \"g1\"", "assign = [0]\nstart = \"committed\"")),
        "x.toml:16: consumers[0].start: \"committed\" needs a group; a consumer with assign \
         starts at \"earliest\", \"latest\" or an offset"
    );
    assert_eq!(
        error(&with("commit = \"async\"\nauto_commit_interval_ms = 100\n")),
        "x.toml:17: consumers[0].auto_commit_interval_ms: applies only to commit = \"auto\", and \
         this consumer's commit is \"async\""
    );
    assert_eq!(
        error(&with("processing = \"async\"\n")),
        "x.toml:12: consumers[0].processing_delay_ms: missing required key (processing = \
         \"async\" needs it)"
    );
}

#[test]
fn producer_settings_kafka_refuses() {
    assert_eq!(
        error(&BASE.replace("id = \"p1\"", "id = \"p1\"\nidempotence = true")),
        "x.toml:11: producers[0].idempotence: idempotence = true: the simulated producer does not \
         implement enable.idempotence yet (no producer id or sequence numbers); the broker serves \
         idempotent real clients"
    );
    assert_eq!(
        error(&BASE.replace("id = \"p1\"", "id = \"p1\"\ndelivery_timeout_ms = 1000")),
        "x.toml:11: producers[0].delivery_timeout_ms: delivery_timeout_ms (1000) must be at \
         least linger_ms + request_timeout_ms (30005), as Kafka's producer requires"
    );
    assert_eq!(
        error(&BASE.replace("id = \"p1\"", "id = \"p1\"\nrate_per_sec = 0")),
        "x.toml:11: producers[0].rate_per_sec: expected a positive number, got 0"
    );
}

#[test]
fn implicit_tables_still_point_at_the_right_line() {
    // `[cluster]` is never written: the cluster table only exists through its sub-tables.
    let text = "name = \"t\"\nduration_ms = 1\n\n[cluster.broker_config]\nbogus = \"1\"\n";
    assert_eq!(
        error(text),
        "x.toml:5: cluster.broker_config.bogus: unknown config key (not a Kafka broker setting)"
    );
}

#[test]
fn read_errors_name_the_file() {
    let e = load(Path::new("/nonexistent/odradek/x.toml")).unwrap_err().to_string();
    assert!(e.starts_with("cannot read /nonexistent/odradek/x.toml: "), "{e}");
}

#[test]
fn load_dir_reads_recursively_in_path_order_and_names_every_bad_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write("b.toml", "name = \"b\"\nduration_ms = 1\n");
    write("a/z.toml", "name = \"z\"\nduration_ms = 1\n");
    write("notes.md", "not a scenario");
    let names: Vec<String> =
        load_dir(dir.path()).expect("valid").into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["z", "b"]);

    write("c.toml", "name = \"c\"\n");
    write("d.toml", "name = \"b\"\nduration_ms = 1\n");
    let e = load_dir(dir.path()).unwrap_err().to_string();
    let root = dir.path().display();
    assert_eq!(
        e,
        format!(
            "2 scenario files are invalid:\n  {root}/c.toml:1: duration_ms: missing required \
             key\n  {root}/d.toml: name: scenario name \"b\" is also used by {root}/b.toml"
        )
    );
}

// Parsing never panics: every prefix of a full scenario, and every one-character
// corruption of it, gives a scenario or an error.
#[test]
fn no_input_panics() {
    for (i, _) in FULL.char_indices() {
        let _ = parse(&FULL[..i], None);
        for junk in ["\"", "[", "=", "\n", "9", "-", "é"] {
            let corrupted = format!("{}{junk}{}", &FULL[..i], &FULL[i + 1..]);
            let _ = parse(&corrupted, None);
        }
    }
}

/// The repository's `scenarios/` directory.
fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("scenarios")
}

#[test]
fn every_scenario_in_the_repository_loads() {
    let dir = scenarios_dir();
    if !dir.is_dir() {
        return;
    }
    if let Err(e) = load_dir(&dir) {
        panic!("{e}");
    }
}

#[test]
fn readme_example_parses() {
    let readme = std::fs::read_to_string(scenarios_dir().join("README.md")).expect("README");
    let start = readme.find("```toml\n").expect("a ```toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("its end");
    let scenario = parse_ok(&readme[start..end]);
    assert_eq!(scenario.name, "acks1-leader-failover");
    assert_eq!(scenario.claims[0].id, "P4");
}
