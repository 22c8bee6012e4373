//! Three clustered nodes under madsim: the same shell as on loopback TCP
//! (`core/tests/cluster_shell.rs`), over the simulated network, under several seeds.
//!
//! Each seed starts three combined nodes (`process.roles=broker,controller`, voters 1..3) as
//! madsim nodes with their own [`SimStorage`], then from a client node sends CreateTopics
//! (replication factor 3) to each controller listener in turn until one answers 0: Raft
//! elected a leader over the simulated network, its controller activated, and all three
//! brokers registered and were unfenced. It then kills that node and shows another becomes
//! the active controller. Every wait is bounded in simulated time, and each run has a time
//! limit, so the test stops by itself.
#![cfg(madsim)]

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use madsim::runtime::{Handle, NodeHandle, Runtime};
use odradek::client::{ClientConfig, Connection, ErrorCode};
use odradek::config::{BrokerConfig, Origin};
use odradek_sim::SimStorage;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::time::Instant;

const NODES: u8 = 3;
const BROKER_PORT: u16 = 9092;
const CONTROLLER_PORT: u16 = 9093;
const SEEDS: std::ops::RangeInclusive<u64> = 1..=5;
/// How long (simulated) the cluster may take to settle, or to fail over.
const SETTLE: Duration = Duration::from_secs(30);

fn node_ip(id: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, id))
}

fn node_config(id: u8) -> BrokerConfig {
    let voters: Vec<String> =
        (1..=NODES).map(|i| format!("{i}@{}:{CONTROLLER_PORT}", node_ip(i))).collect();
    let entries = [
        ("process.roles", "broker,controller".to_string()),
        ("node.id", id.to_string()),
        ("controller.quorum.voters", voters.join(",")),
        (
            "listeners",
            format!("PLAINTEXT://0.0.0.0:{BROKER_PORT},CONTROLLER://0.0.0.0:{CONTROLLER_PORT}"),
        ),
        ("advertised.listeners", format!("PLAINTEXT://{}:{BROKER_PORT}", node_ip(id))),
        ("controller.listener.names", "CONTROLLER".to_string()),
        ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_string()),
        ("log.dirs", "/data".to_string()),
        ("broker.heartbeat.interval.ms", "500".to_string()),
        ("broker.session.timeout.ms", "6000".to_string()),
    ];
    BrokerConfig::from_entries(
        entries.into_iter().map(|(k, v)| (k.to_string(), v, Origin::Override)).collect(),
    )
    .unwrap()
}

fn start_node(handle: &Handle, id: u8, seed: u64) -> NodeHandle {
    let disk = SimStorage::new(seed ^ (u64::from(id) << 48));
    let config = node_config(id);
    handle
        .create_node()
        .name(format!("node-{id}"))
        .ip(node_ip(id))
        .init(move || {
            let (config, disk) = (config.clone(), disk.clone());
            async move {
                let shutdown = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                if let Err(error) = odradek::node::run_broker(config, disk, shutdown).await {
                    tracing::error!(node = id, %error, "node stopped with an error");
                }
            }
        })
        .build()
}

/// CreateTopics for `name` on one node's controller listener: the topic's error code, or why
/// there was no answer.
async fn create_topic(id: u8, name: &str, replication_factor: i16) -> Result<i16, String> {
    let config = ClientConfig {
        client_id: "cluster-shell-sim".into(),
        request_timeout_ms: 5_000,
        connect_timeout_ms: 2_000,
        ..ClientConfig::default()
    };
    let host = node_ip(id).to_string();
    let connection = Connection::connect_to_node(&host, CONTROLLER_PORT, &config)
        .await
        .map_err(|e| e.to_string())?;
    let version = connection.version(ApiKey::CreateTopics).map_err(|e| e.to_string())?;
    let request = CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![
        CreatableTopic::default()
            .with_name(StrBytes::from_string(name.to_string()).into())
            .with_num_partitions(3)
            .with_replication_factor(replication_factor),
    ]);
    let response = connection
        .request_kind(
            ApiKey::CreateTopics,
            &RequestKind::CreateTopics(request),
            version,
            Duration::from_secs(5),
        )
        .await
        .map_err(|e| e.to_string());
    connection.close();
    let ResponseKind::CreateTopics(response) = response? else {
        return Err("not a CreateTopics response".into());
    };
    match response.topics.iter().find(|t| t.name.0.as_str() == name) {
        Some(topic) => Ok(topic.error_code),
        None => Err(format!("no result for topic {name}")),
    }
}

/// Asks each of `candidates` in turn until one creates `name`; returns its id.
async fn create_on_active_controller(candidates: &[u8], name: &str, replication_factor: i16) -> u8 {
    let deadline = Instant::now() + SETTLE;
    let mut answers = Vec::new();
    // A request that went unanswered may still have created the topic.
    let mut unanswered = false;
    loop {
        for &id in candidates {
            match create_topic(id, name, replication_factor).await {
                Ok(0) => return id,
                Ok(code) if unanswered && code == ErrorCode::TopicAlreadyExists.code() => {
                    return id
                }
                Ok(code) => answers.push(format!("node {id}: error {code}")),
                Err(error) => {
                    unanswered = true;
                    answers.push(format!("node {id}: {error}"));
                }
            }
        }
        let last: Vec<&String> = answers.iter().rev().take(2 * candidates.len()).collect();
        assert!(
            Instant::now() < deadline,
            "no node created {name} within {SETTLE:?}; last answers: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One seed: settle, then fail over. Returns (first controller, second controller).
async fn elect_and_fail_over(seed: u64) -> (u8, u8) {
    let handle = Handle::current();
    let nodes: Vec<NodeHandle> = (1..=NODES).map(|id| start_node(&handle, id, seed)).collect();
    let client =
        handle.create_node().name("client").ip(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 1))).build();
    let started = Instant::now();
    let everyone: Vec<u8> = (1..=NODES).collect();
    let first = client
        .spawn(async move { create_on_active_controller(&everyone, "t", 3).await })
        .await
        .expect("the client task ran");
    for id in (1..=NODES).filter(|&id| id != first) {
        let code = client.spawn(create_topic(id, "t", 3)).await.expect("the client task ran");
        assert_eq!(code, Ok(ErrorCode::NotController.code()), "node {id} is a follower");
    }
    eprintln!("seed {seed}: node {first} is the active controller after {:?}", started.elapsed());
    handle.kill(nodes[usize::from(first - 1)].id());
    let killed = Instant::now();
    let others: Vec<u8> = (1..=NODES).filter(|&id| id != first).collect();
    let second = client
        .spawn(async move { create_on_active_controller(&others, "u", 2).await })
        .await
        .expect("the client task ran");
    eprintln!("seed {seed}: node {second} took over after {:?}", killed.elapsed());
    (first, second)
}

#[test]
fn three_simulated_nodes_elect_a_controller_and_fail_over() {
    for seed in SEEDS {
        let mut runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
        runtime.set_time_limit(Duration::from_secs(120));
        let (first, second) = runtime.block_on(elect_and_fail_over(seed));
        assert_ne!(first, second, "seed {seed}");
    }
}
