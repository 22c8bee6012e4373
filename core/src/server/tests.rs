//! Servers wired to each other in memory: every call is encoded as a Kafka frame, decoded by
//! the receiving server's protocol layer on its controller listener, and its answer encoded
//! and decoded back, so these tests cover the wire as well as the state machines.

use super::*;
use crate::client::connection::encode_request_kind_frame;
use crate::config::{BrokerConfig, Origin as ConfigOrigin};
use crate::protocol::{decode_request_on, Decoded};
use crate::storage::FileStorage;
use bytes::Buf;
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Decodable;

const START_MS: i64 = 1_700_000_000_000;
const TICK_MS: i64 = 10;

/// Where an answer to a request a test server is handling goes.
#[derive(Clone, Copy, Debug)]
enum Waiter {
    /// The answer to call `call` made by node `from`.
    Peer { from: i32, call: CallId, api_key: ApiKey, api_version: i16 },
}

struct Node {
    _dir: tempfile::TempDir,
    server: Option<Server<FileStorage>>,
    config: BrokerConfig,
}

struct Cluster {
    now_ms: i64,
    nodes: BTreeMap<i32, Node>,
    waiting: BTreeMap<(i32, RequestToken), Waiter>,
    next_token: RequestToken,
}

fn node_config(id: i32, voters: &str, roles: &str, dir: &std::path::Path) -> BrokerConfig {
    let entries = [
        ("node.id", id.to_string()),
        ("process.roles", roles.to_string()),
        ("controller.quorum.voters", voters.to_string()),
        (
            "listeners",
            format!("PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}", 9000 + id, 9100 + id),
        ),
        ("log.dirs", dir.display().to_string()),
        ("broker.session.timeout.ms", "3000".to_string()),
        ("broker.heartbeat.interval.ms", "500".to_string()),
    ];
    BrokerConfig::from_entries(
        entries.into_iter().map(|(k, v)| (k.to_string(), v, ConfigOrigin::Override)).collect(),
    )
    .expect("test config")
}

impl Cluster {
    /// `n` combined nodes (broker,controller), all voters.
    fn combined(n: i32) -> Cluster {
        let voters: Vec<String> =
            (1..=n).map(|id| format!("{id}@127.0.0.1:{}", 9100 + id)).collect();
        let voters = voters.join(",");
        let mut nodes = BTreeMap::new();
        for id in 1..=n {
            let dir = tempfile::tempdir().expect("tempdir");
            let config = node_config(id, &voters, "broker,controller", dir.path());
            let server = Server::open(config.clone(), FileStorage::new(), START_MS, id as u64)
                .expect("open");
            nodes.insert(id, Node { _dir: dir, server: Some(server), config });
        }
        let mut cluster =
            Cluster { now_ms: START_MS, nodes, waiting: BTreeMap::new(), next_token: 0 };
        cluster.route_all();
        cluster
    }

    fn server(&self, id: i32) -> &Server<FileStorage> {
        self.nodes[&id].server.as_ref().expect("node is up")
    }

    /// Kills node `id` (its unsynced writes stay: FileStorage is the OS's page cache).
    fn crash(&mut self, id: i32) {
        self.nodes.get_mut(&id).expect("node").server = None;
    }

    fn restart(&mut self, id: i32) {
        let node = self.nodes.get_mut(&id).expect("node");
        node.server = Some(
            Server::open(node.config.clone(), FileStorage::new(), self.now_ms, id as u64 + 1000)
                .expect("reopen"),
        );
        self.route_all();
    }

    /// Advances time by `ms` in ticks, firing timers and delivering everything.
    fn run_for(&mut self, ms: i64) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.now_ms += TICK_MS;
            let ids: Vec<i32> = self.nodes.keys().copied().collect();
            for id in ids {
                let now_ms = self.now_ms;
                if let Some(server) = self.nodes.get_mut(&id).and_then(|n| n.server.as_mut()) {
                    if server.next_deadline_ms().is_some_and(|at| at <= now_ms) {
                        server.handle_timeout(now_ms);
                    }
                }
            }
            self.route_all();
        }
    }

    /// Delivers outputs until the cluster is quiet at this instant.
    fn route_all(&mut self) {
        loop {
            let mut moved = false;
            let ids: Vec<i32> = self.nodes.keys().copied().collect();
            for id in ids {
                let outputs: Vec<ServerOutput> =
                    match self.nodes.get_mut(&id).and_then(|n| n.server.as_mut()) {
                        Some(server) => std::iter::from_fn(|| server.poll_output()).collect(),
                        None => continue,
                    };
                for output in outputs {
                    moved = true;
                    self.deliver(id, output);
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn deliver(&mut self, from: i32, output: ServerOutput) {
        let now_ms = self.now_ms;
        match output {
            ServerOutput::Call(call) => {
                let to = call.to.node_id.0;
                let frame = encode_request_kind_frame(
                    call.api_key,
                    &call.request,
                    call.api_version,
                    7,
                    &kafka_protocol::protocol::StrBytes::from_static_str("test"),
                )
                .expect("encode call");
                let target = self.nodes.get_mut(&to).and_then(|n| n.server.as_mut());
                let Some(server) = target else {
                    let failed =
                        CallFailed { call: call.id, to: call.to, reason: "node down".into() };
                    let caller = self
                        .nodes
                        .get_mut(&from)
                        .and_then(|n| n.server.as_mut())
                        .expect("caller up");
                    caller.handle_call_result(now_ms, failed.call, Err(failed));
                    return;
                };
                // The frame without its size prefix, as the shell hands it to the protocol layer.
                let decoded = decode_request_on(ListenerKind::Controller, frame.slice(4..))
                    .expect("the receiver decodes the call");
                let Decoded::Request(request) = decoded else { panic!("a call is a request") };
                self.next_token += 1;
                let token = self.next_token;
                self.waiting.insert(
                    (to, token),
                    Waiter::Peer {
                        from,
                        call: call.id,
                        api_key: call.api_key,
                        api_version: call.api_version,
                    },
                );
                server.handle_request(now_ms, token, "CONTROLLER", *request);
            }
            ServerOutput::Response(Output { token, response }) => {
                let Some(Waiter::Peer { from: caller, call, api_key, api_version }) =
                    self.waiting.remove(&(from, token))
                else {
                    return;
                };
                let Some(caller_server) =
                    self.nodes.get_mut(&caller).and_then(|n| n.server.as_mut())
                else {
                    return;
                };
                let result = match response {
                    Some(body) => {
                        let frame = protocol::encode_response(api_key, api_version, 7, &body)
                            .expect("encode answer");
                        let mut bytes = frame.slice(4..);
                        let header_version = api_key.response_header_version(api_version);
                        ResponseHeader::decode(&mut bytes, header_version).expect("header");
                        let body = ResponseKind::decode(api_key, &mut bytes, api_version)
                            .expect("the caller decodes the answer");
                        assert!(!bytes.has_remaining(), "{api_key:?} answer fully read");
                        Ok(body)
                    }
                    None => Err(CallFailed {
                        call,
                        to: PeerAddress {
                            node_id: crate::BrokerId(from),
                            host: "127.0.0.1".into(),
                            port: 0,
                        },
                        reason: "no answer".into(),
                    }),
                };
                caller_server.handle_call_result(now_ms, call, result);
            }
        }
    }

    fn active_controllers(&self) -> Vec<i32> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.server.as_ref().is_some_and(Server::is_active_controller))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Brokers registered and unfenced, as node `id`'s image says.
    fn unfenced_brokers(&self, id: i32) -> Vec<i32> {
        self.server(id).image().brokers().filter(|b| !b.fenced).map(|b| b.broker_id).collect()
    }
}

#[test]
fn three_combined_nodes_elect_one_controller_and_register_every_broker() {
    // Setup: three broker,controller nodes, all voters, wired in memory.
    let mut cluster = Cluster::combined(3);
    cluster.run_for(5_000);
    let active = cluster.active_controllers();
    assert_eq!(active.len(), 1, "exactly one active controller: {active:?}");
    for id in 1..=3 {
        assert_eq!(cluster.unfenced_brokers(id), vec![1, 2, 3], "node {id}'s image");
        assert!(cluster.server(id).broker_epoch().is_some(), "node {id} registered");
        assert_eq!(cluster.server(id).is_fenced(), Some(false), "node {id} heard it is unfenced");
    }
}

#[test]
fn a_crashed_broker_is_fenced_after_its_session_and_unfenced_when_it_returns() {
    // Setup: three combined nodes, settled; then a node that is not the controller dies.
    let mut cluster = Cluster::combined(3);
    cluster.run_for(5_000);
    let controller = cluster.active_controllers()[0];
    let victim = (1..=3).find(|&id| id != controller).expect("a follower");
    cluster.crash(victim);
    // broker.session.timeout.ms is 3 s in these tests.
    cluster.run_for(5_000);
    let expected: Vec<i32> = (1..=3).filter(|&id| id != victim).collect();
    assert_eq!(cluster.unfenced_brokers(controller), expected);
    cluster.restart(victim);
    cluster.run_for(5_000);
    assert_eq!(cluster.unfenced_brokers(controller), vec![1, 2, 3]);
}

#[test]
fn the_controller_moves_when_its_node_dies_and_the_new_one_keeps_the_image() {
    // Setup: three combined nodes, settled; then the active controller's node dies.
    let mut cluster = Cluster::combined(3);
    cluster.run_for(5_000);
    let old = cluster.active_controllers()[0];
    let before = cluster.server(old).image().clone();
    cluster.crash(old);
    cluster.run_for(8_000);
    let active = cluster.active_controllers();
    assert_eq!(active.len(), 1, "{active:?}");
    assert_ne!(active[0], old);
    let image = cluster.server(active[0]).image();
    for broker in before.brokers() {
        assert!(
            image.broker(broker.broker_id).is_some(),
            "broker {} still registered",
            broker.broker_id
        );
    }
    assert!(
        cluster.unfenced_brokers(active[0]).iter().all(|&b| b != old),
        "the dead node is fenced"
    );
}
