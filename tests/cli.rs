//! The `odradek` command-line tools against a real broker: `odradek broker` on 127.0.0.1 with
//! its own port and data directory per test, and `odradek topics ...` run as a child process,
//! its output compared line by line with what kafka-topics.sh prints.
//!
//! Needs only the `odradek` binary (`cargo build --bins`). The madsim build compiles this file
//! to nothing: there is no real network under madsim.
#![cfg(not(madsim))]

use std::process::Command;
use std::time::Duration;

use odradek_tests::{odradek_bin, run, BrokerProcess, Output};

/// A CLI call against a local broker answers well within this.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `odradek topics --bootstrap-server <broker> <args>`.
#[track_caller]
fn topics(broker: &BrokerProcess, args: &[&str]) -> Output {
    let mut cmd = Command::new(odradek_bin());
    cmd.arg("topics").arg("--bootstrap-server").arg(broker.bootstrap()).args(args);
    run(cmd, None, CLI_TIMEOUT)
}

/// The `TopicId: ...` field of a topic line, checked to be Kafka's text form of a topic id
/// (22 characters of URL-safe base64) and not the all-zero id Kafka leaves out.
#[track_caller]
fn topic_id_field<'a>(line: &'a str, out: &Output) -> &'a str {
    let field = line.split('\t').nth(1).unwrap_or_default();
    let id =
        field.strip_prefix("TopicId: ").unwrap_or_else(|| panic!("no TopicId in {line:?}:\n{out}"));
    assert_eq!(id.len(), 22, "{id:?} is not a 22-character topic id:\n{out}");
    assert!(
        id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{id:?} is not URL-safe base64:\n{out}"
    );
    assert_ne!(id, "AAAAAAAAAAAAAAAAAAAAAA", "the all-zero id is never printed:\n{out}");
    field
}

#[test]
fn topics_describe_prints_a_topic_and_its_partitions_as_kafka_topics_sh_does() {
    // Setup: one broker (node.id 1), a topic with 3 partitions and two config overrides.
    let broker = BrokerProcess::start();
    let created = topics(
        &broker,
        &[
            "--create",
            "--topic",
            "orders",
            "--partitions",
            "3",
            "--config",
            "retention.ms=86400000",
            "--config",
            "min.insync.replicas=1",
        ],
    );
    created.assert_success();
    assert_eq!(created.stdout, "Created topic orders.\n", "{created}");

    let out = topics(&broker, &["--describe", "--topic", "orders"]);
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "a topic line and one line per partition:\n{out}");
    let id = topic_id_field(lines[0], &out);
    assert_eq!(
        lines[0],
        format!(
            "Topic: orders\t{id}\tPartitionCount: 3\tReplicationFactor: 1\t\
             Configs: min.insync.replicas=1,retention.ms=86400000"
        ),
        "{out}"
    );
    for p in 0..3 {
        assert_eq!(
            lines[p + 1],
            format!(
                "\tTopic: orders\tPartition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1\t\
                 Elr: N/A\tLastKnownElr: N/A"
            ),
            "{out}"
        );
    }

    // Without --topic: every topic, in name order, each with its own id.
    topics(&broker, &["--create", "--topic", "audit", "--partitions", "1"]).assert_success();
    let all = topics(&broker, &["--describe"]);
    all.assert_success();
    let lines: Vec<&str> = all.stdout.lines().collect();
    assert_eq!(lines.len(), 2 + 4, "audit (1 partition), then orders (3):\n{all}");
    let audit_id = topic_id_field(lines[0], &all);
    assert_ne!(audit_id, id, "two topics, two ids:\n{all}");
    assert_eq!(
        lines[0],
        format!("Topic: audit\t{audit_id}\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: ")
    );
    assert_eq!(
        lines[1],
        "\tTopic: audit\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: N/A\tLastKnownElr: N/A"
    );
    assert_eq!(topic_id_field(lines[2], &all), id, "the same id on every describe:\n{all}");
    assert_eq!(&lines[2..], out.stdout.lines().collect::<Vec<_>>(), "{all}");
}

#[test]
fn topics_describe_of_a_missing_topic_names_it_and_exits_non_zero() {
    // Setup: a broker that would create topics on Metadata requests: describing must not.
    let broker = BrokerProcess::start_with(&[("auto.create.topics.enable", "true")]);

    let out = topics(&broker, &["--describe", "--topic", "nowhere"]);
    assert_eq!(out.status.code(), Some(1), "an error exit, not a panic:\n{out}");
    assert!(out.stdout.is_empty(), "nothing described:\n{out}");
    assert!(
        out.stderr.contains("Topic 'nowhere' does not exist as expected"),
        "stderr names the topic:\n{out}"
    );

    let listed = topics(&broker, &["--list"]);
    listed.assert_success();
    assert!(!listed.stdout.lines().any(|l| l == "nowhere"), "describe created it:\n{listed}");
}
