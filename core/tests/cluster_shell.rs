//! Three clustered nodes over loopback TCP: the shell runs the [`Server`](odradek::server)
//! with its controller listener and its peer links.
//!
//! Setup: three combined nodes (`process.roles=broker,controller`, voters 1..3), each a
//! `run_broker` task in this test's runtime with its own free ports and temporary log
//! directory. The test talks to the controller listeners with odradek's own client
//! [`Connection`]. It stops by itself: every wait is bounded, and every node is shut down
//! cleanly at the end.
#![cfg(not(madsim))]

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use odradek::client::{ClientConfig, Connection, ErrorCode};
use odradek::config::{BrokerConfig, Origin};
use odradek::node::NodeError;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const NODES: usize = 3;
/// How long the cluster may take to elect, activate and unfence, or to fail over.
const SETTLE: Duration = Duration::from_secs(30);

/// One running node.
struct Node {
    id: i32,
    controller_port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), NodeError>>>,
    _dir: tempfile::TempDir,
}

impl Node {
    /// Signals a clean shutdown and waits for it: a controlled shutdown (at most 5 s, longer
    /// only when the quorum has lost its majority), then the close.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let stopped = tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .unwrap_or_else(|_| panic!("node {} did not stop within 15 s", self.id));
            stopped.expect("the node task ran to completion").expect("the node stopped cleanly");
        }
    }
}

/// `n` distinct free loopback ports (all held at once while picking, so none repeats).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

fn node_config(
    id: i32,
    broker_port: u16,
    voters: &str,
    controller_port: u16,
    dir: &str,
) -> BrokerConfig {
    let entries = [
        ("process.roles", "broker,controller".to_string()),
        ("node.id", id.to_string()),
        ("controller.quorum.voters", voters.to_string()),
        (
            "listeners",
            format!("PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}"),
        ),
        ("advertised.listeners", format!("PLAINTEXT://127.0.0.1:{broker_port}")),
        ("controller.listener.names", "CONTROLLER".to_string()),
        ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_string()),
        ("log.dirs", dir.to_string()),
        ("broker.heartbeat.interval.ms", "500".to_string()),
        ("broker.session.timeout.ms", "6000".to_string()),
    ];
    BrokerConfig::from_entries(
        entries.into_iter().map(|(k, v)| (k.to_string(), v, Origin::Override)).collect(),
    )
    .unwrap()
}

/// Starts the three nodes, each a task of this runtime.
fn start_cluster() -> Vec<Node> {
    let ports = free_ports(2 * NODES);
    let (broker_ports, controller_ports) = ports.split_at(NODES);
    let voters: Vec<String> = controller_ports
        .iter()
        .enumerate()
        .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
        .collect();
    let voters = voters.join(",");
    (0..NODES)
        .map(|i| {
            let id = i as i32 + 1;
            let dir = tempfile::tempdir().unwrap();
            let config = node_config(
                id,
                broker_ports[i],
                &voters,
                controller_ports[i],
                &dir.path().display().to_string(),
            );
            let (stop, stopped) = oneshot::channel::<()>();
            let shutdown = async move {
                let _ = stopped.await;
            };
            let storage = odradek::storage::FileStorage::new();
            let task = tokio::spawn(odradek::node::run_broker(config, storage, shutdown));
            Node {
                id,
                controller_port: controller_ports[i],
                stop: Some(stop),
                task: Some(task),
                _dir: dir,
            }
        })
        .collect()
}

/// Sends CreateTopics for `name` to one node's controller listener; the topic's error code,
/// or why there was no answer.
async fn create_topic(
    port: u16,
    name: &str,
    partitions: i32,
    replication_factor: i16,
) -> Result<i16, String> {
    let config = ClientConfig {
        client_id: "cluster-shell-test".into(),
        request_timeout_ms: 5_000,
        connect_timeout_ms: 2_000,
        ..ClientConfig::new(&format!("127.0.0.1:{port}"))
    };
    let connection =
        Connection::connect_to_node("127.0.0.1", port, &config).await.map_err(|e| e.to_string())?;
    let version = connection.version(ApiKey::CreateTopics).map_err(|e| e.to_string())?;
    let request = CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![
        CreatableTopic::default()
            .with_name(StrBytes::from_string(name.to_string()).into())
            .with_num_partitions(partitions)
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

/// Asks each of `nodes` in turn to create `name` until one answers 0; returns its index.
/// Every other answer (NOT_CONTROLLER from a follower, INVALID_REPLICATION_FACTOR while the
/// brokers are still fenced, no answer while the quorum elects) is retried until [`SETTLE`].
async fn create_on_active_controller(
    nodes: &[Node],
    candidates: &[usize],
    name: &str,
    partitions: i32,
    replication_factor: i16,
) -> usize {
    let deadline = Instant::now() + SETTLE;
    let mut answers = Vec::new();
    // A request that went unanswered may still have created the topic.
    let mut unanswered = false;
    loop {
        for &i in candidates {
            let node = &nodes[i];
            match create_topic(node.controller_port, name, partitions, replication_factor).await {
                Ok(0) => return i,
                Ok(code) if unanswered && code == ErrorCode::TopicAlreadyExists.code() => return i,
                Ok(code) => answers.push(format!("node {}: error {code}", node.id)),
                Err(error) => {
                    unanswered = true;
                    answers.push(format!("node {}: {error}", node.id));
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

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// Creating a topic with replication factor 3 succeeds only once Raft elected a leader over
/// TCP, its controller activated, and all three brokers registered and were unfenced. Then
/// the node that answered stops, and another becomes the active controller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_a_controller_and_fail_over() {
    init_tracing();
    let started = Instant::now();
    let mut nodes = start_cluster();

    let everyone: Vec<usize> = (0..NODES).collect();
    let first = create_on_active_controller(&nodes, &everyone, "t", 3, 3).await;
    let others: Vec<usize> = everyone.iter().copied().filter(|&i| i != first).collect();
    for &i in &others {
        let code = create_topic(nodes[i].controller_port, "t", 3, 3).await;
        assert_eq!(
            code,
            Ok(ErrorCode::NotController.code()),
            "node {} is not the active controller",
            nodes[i].id
        );
    }
    eprintln!("node {} is the active controller after {:?}", nodes[first].id, started.elapsed());

    nodes[first].stop().await;
    let failed_over = Instant::now();
    let second = create_on_active_controller(&nodes, &others, "u", 3, 2).await;
    assert_ne!(second, first);
    eprintln!("node {} took over after {:?}", nodes[second].id, failed_over.elapsed());

    for node in &mut nodes {
        node.stop().await;
    }
}
