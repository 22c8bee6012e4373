//! Three `odradek broker` processes as one KRaft cluster on 127.0.0.1 (every node
//! `broker,controller`), driven by confluent-kafka while the partition leader is killed with
//! SIGKILL and restarted, and described with `odradek topics --describe` as kafka-topics.sh
//! would.
//!
//! Needs the `odradek` binary (`cargo build --bins`) and the Python clients
//! (`scripts/setup-test-env.sh`); `scripts/test.sh` does both. The madsim build compiles this
//! file to nothing: there is no real network under madsim.
#![cfg(not(madsim))]

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use odradek_tests::clients::{consume, Client, StartAt};
use odradek_tests::{odradek_bin, python, run, workspace_root, ClusterProcesses, Output};

/// A CLI call against a local cluster answers well within this.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// One partition line of `odradek topics --describe`: (leader, replicas, isr).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Described {
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

fn ids(field: &str) -> Vec<i32> {
    field.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().expect("a broker id")).collect()
}

/// Runs `odradek topics --bootstrap-server <bootstrap> <args>`.
fn topics(bootstrap: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(odradek_bin());
    cmd.arg("topics").arg("--bootstrap-server").arg(bootstrap).args(args);
    run(cmd, None, CLI_TIMEOUT)
}

/// Partition 0 of `topic` as `odradek topics --describe` prints it, or why not.
fn describe(bootstrap: &str, topic: &str) -> Result<Described, String> {
    let out = topics(bootstrap, &["--describe", "--topic", topic]);
    if !out.success() {
        return Err(out.to_string());
    }
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("\tPartition: 0\t"))
        .ok_or_else(|| format!("no partition 0 line:\n{out}"))?;
    let field = |name: &str| {
        line.split('\t')
            .find_map(|f| f.strip_prefix(&format!("{name}: ")).map(str::to_string))
            .ok_or_else(|| format!("no {name} in {line:?}"))
    };
    let leader = field("Leader")?;
    Ok(Described {
        leader: if leader == "none" { -1 } else { leader.parse().map_err(|e| format!("{e}"))? },
        replicas: ids(&field("Replicas")?),
        isr: ids(&field("Isr")?),
    })
}

/// Polls `describe` until `ok` holds (at most `within`), returning the last description.
#[track_caller]
fn wait_for(
    bootstrap: &str,
    topic: &str,
    within: Duration,
    what: &str,
    ok: impl Fn(&Described) -> bool,
) -> Described {
    let deadline = Instant::now() + within;
    let mut last = Err("never described".to_string());
    while Instant::now() < deadline {
        last = describe(bootstrap, topic);
        if let Ok(d) = &last {
            if ok(d) {
                return d.clone();
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what} did not happen within {within:?}; last description: {last:?}");
}

#[test]
fn acks_all_survives_sigkill_of_the_leader_and_the_isr_heals() {
    // Setup: three combined nodes; a topic with one partition on all three, min ISR 2.
    let mut cluster = ClusterProcesses::start(3, &[("broker.session.timeout.ms", "3000")]);
    let bootstrap = cluster.bootstrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let created = topics(
            &bootstrap,
            &[
                "--create",
                "--topic",
                "orders",
                "--partitions",
                "1",
                "--replication-factor",
                "3",
                "--config",
                "min.insync.replicas=2",
            ],
        );
        if created.success() {
            break;
        }
        // The quorum may still be electing, or the brokers registering.
        assert!(Instant::now() < deadline, "the cluster never created the topic:\n{created}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let before = wait_for(&bootstrap, "orders", Duration::from_secs(30), "a full ISR", |d| {
        d.leader > 0 && d.isr.len() == 3
    });
    assert_eq!(before.replicas.len(), 3, "{before:?}");

    // A producer with acks=all runs for ~12 s; 3 s in, the leader is killed (-9).
    let (count, rate) = (1200, 100.0);
    let output_path = tempfile::NamedTempFile::new().expect("temp file");
    let mut producer = Command::new(python())
        .arg(workspace_root().join("tests/clients/ck_produce_paced.py"))
        .args(["--bootstrap", &bootstrap, "--topic", "orders", "--acks", "all"])
        .args(["--count", &count.to_string(), "--rate", &rate.to_string()])
        .stdout(Stdio::from(output_path.reopen().expect("reopen")))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the producer");
    std::thread::sleep(Duration::from_secs(3));
    let old_leader = before.leader;
    cluster.node(old_leader).kill9();
    let killed_at = Instant::now();

    // A survivor is elected within seconds, with the dead broker out of the ISR.
    let survivor = (1..=3).find(|&id| id != old_leader).expect("a survivor");
    let survivor_address = cluster.node(survivor).bootstrap();
    let after =
        wait_for(&survivor_address, "orders", Duration::from_secs(20), "a new leader", |d| {
            d.leader > 0 && d.leader != old_leader
        });
    let failover = killed_at.elapsed();
    eprintln!("new leader {} after {failover:?}: {after:?}", after.leader);
    assert!(failover < Duration::from_secs(20), "failover took {failover:?}");

    // The old leader comes back and the ISR heals to all three.
    std::thread::sleep(Duration::from_secs(2));
    cluster.node(old_leader).restart();
    let healed = wait_for(&bootstrap, "orders", Duration::from_secs(30), "the ISR healing", |d| {
        d.isr.len() == 3
    });
    eprintln!("healed: {healed:?}");

    // Every acknowledged record is there, exactly where it was acknowledged.
    let deadline = Instant::now() + Duration::from_secs(90);
    while producer.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "the producer did not finish in 90 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let printed = std::fs::read_to_string(output_path.path()).expect("producer output");
    let result: serde_json::Value = serde_json::from_str(printed.trim())
        .unwrap_or_else(|e| panic!("producer output is not JSON ({e}): {printed}"));
    assert_eq!(result["pending"], 0, "records left unresolved: {result}");
    let delivered = result["delivered"].as_array().expect("delivered");
    let errors = result["errors"].as_array().expect("errors");
    eprintln!("acknowledged {} of {count}, {} failed", delivered.len(), errors.len());
    assert!(delivered.len() >= count * 9 / 10, "most sends succeed across a failover: {result}");
    let acked: BTreeSet<(i64, String)> = delivered
        .iter()
        .map(|d| {
            let index = d["index"].as_u64().expect("index");
            (d["offset"].as_i64().expect("offset"), format!("value-{index}:"))
        })
        .collect();
    let survivor_process = cluster.node(survivor);
    let read = consume(
        Client::ConfluentKafka,
        survivor_process,
        "orders",
        &[0],
        StartAt::Beginning,
        acked.len(),
    );
    for (offset, value_prefix) in &acked {
        let record = read.iter().find(|r| r.offset == *offset).unwrap_or_else(|| {
            panic!("acknowledged offset {offset} ({value_prefix}...) is missing after failover")
        });
        let value = record.value.as_deref().unwrap_or_default();
        assert!(
            value.starts_with(value_prefix.as_str()),
            "offset {offset} holds {value:?}, but {value_prefix}... was acknowledged there"
        );
    }
}
