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
    /// The answer to a client request the test sent.
    Client,
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
    /// Answers to client requests, by (node, token).
    answers: BTreeMap<(i32, RequestToken), Option<ResponseKind>>,
    /// Nodes whose replica fetches fail (a partition between brokers that spares the quorum).
    cut_off_replication: std::collections::BTreeSet<i32>,
    next_token: RequestToken,
}

/// A broker listens for clients on 9000 + id, a controller for the quorum on 9100 + id.
fn listeners(id: i32, roles: &str) -> String {
    let broker = format!("PLAINTEXT://127.0.0.1:{}", 9000 + id);
    let controller = format!("CONTROLLER://127.0.0.1:{}", 9100 + id);
    match roles {
        "broker" => broker,
        "controller" => controller,
        _ => format!("{broker},{controller}"),
    }
}

fn node_config(id: i32, voters: &str, roles: &str, dir: &std::path::Path) -> BrokerConfig {
    let entries = [
        ("node.id", id.to_string()),
        ("process.roles", roles.to_string()),
        ("controller.quorum.voters", voters.to_string()),
        ("listeners", listeners(id, roles)),
        ("log.dirs", dir.display().to_string()),
        ("broker.session.timeout.ms", "3000".to_string()),
        ("broker.heartbeat.interval.ms", "500".to_string()),
        ("replica.lag.time.max.ms", "2000".to_string()),
    ];
    BrokerConfig::from_entries(
        entries.into_iter().map(|(k, v)| (k.to_string(), v, ConfigOrigin::Override)).collect(),
    )
    .expect("test config")
}

impl Cluster {
    /// `n` combined nodes (broker,controller), all voters.
    fn combined(n: i32) -> Cluster {
        Cluster::with_roles(&vec!["broker,controller"; n as usize])
    }

    /// Nodes 1.. with these `process.roles`; every node with the controller role is a voter.
    fn with_roles(roles: &[&str]) -> Cluster {
        let voters: Vec<String> = (1..=roles.len() as i32)
            .filter(|&id| roles[id as usize - 1].contains("controller"))
            .map(|id| format!("{id}@127.0.0.1:{}", 9100 + id))
            .collect();
        let voters = voters.join(",");
        let mut nodes = BTreeMap::new();
        for (id, roles) in (1..).zip(roles) {
            let dir = tempfile::tempdir().expect("tempdir");
            let config = node_config(id, &voters, roles, dir.path());
            let server = Server::open(config.clone(), FileStorage::new(), START_MS, id as u64)
                .expect("open");
            nodes.insert(id, Node { _dir: dir, server: Some(server), config });
        }
        let mut cluster = Cluster {
            now_ms: START_MS,
            nodes,
            waiting: BTreeMap::new(),
            answers: BTreeMap::new(),
            cut_off_replication: Default::default(),
            next_token: 0,
        };
        cluster.route_all();
        cluster
    }

    fn server(&self, id: i32) -> &Server<FileStorage> {
        self.nodes[&id].server.as_ref().expect("node is up")
    }

    /// Kills node `id` (its unsynced writes stay: FileStorage is the OS's page cache). Calls
    /// waiting on it fail, as a closed connection fails them.
    fn crash(&mut self, id: i32) {
        self.nodes.get_mut(&id).expect("node").server = None;
        let orphans: Vec<(i32, RequestToken)> =
            self.waiting.keys().filter(|(node, _)| *node == id).copied().collect();
        for key in orphans {
            if let Some(Waiter::Peer { from, call, .. }) = self.waiting.remove(&key) {
                if let Some(caller) = self.nodes.get_mut(&from).and_then(|n| n.server.as_mut()) {
                    let failed = CallFailed {
                        call,
                        to: PeerAddress {
                            node_id: crate::BrokerId(id),
                            host: "127.0.0.1".into(),
                            port: 0,
                        },
                        reason: "connection closed".into(),
                    };
                    caller.handle_call_result(self.now_ms, call, Err(failed));
                }
            }
        }
        self.route_all();
    }

    /// Sends a client request to node `id`'s broker listener and runs the cluster until it
    /// is answered (at most `max_ms`).
    fn client(
        &mut self,
        id: i32,
        api_key: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> ResponseKind {
        let frame = encode_request_kind_frame(
            api_key,
            &body,
            version,
            9,
            &kafka_protocol::protocol::StrBytes::from_static_str("test-client"),
        )
        .expect("encode request");
        let Decoded::Request(request) =
            decode_request_on(ListenerKind::Broker, frame.slice(4..)).expect("decodes")
        else {
            panic!("a request")
        };
        self.next_token += 1;
        let token = self.next_token;
        self.waiting.insert((id, token), Waiter::Client);
        let now_ms = self.now_ms;
        self.nodes.get_mut(&id).and_then(|n| n.server.as_mut()).expect("node up").handle_request(
            now_ms,
            token,
            "PLAINTEXT",
            *request,
        );
        self.route_all();
        for _ in 0..3_000 {
            if let Some(answer) = self.answers.remove(&(id, token)) {
                return answer.expect("an answer, not silence");
            }
            self.run_for(TICK_MS);
        }
        panic!("{api_key:?} to node {id} got no answer in 30 s");
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
                let cut_off = call.lane == Lane::Replication
                    && (self.cut_off_replication.contains(&from)
                        || self.cut_off_replication.contains(&to));
                let target =
                    self.nodes.get_mut(&to).and_then(|n| n.server.as_mut()).filter(|_| !cut_off);
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
                let (kind, listener) = match call.lane {
                    Lane::Replication => (ListenerKind::Broker, "PLAINTEXT"),
                    _ => (ListenerKind::Controller, "CONTROLLER"),
                };
                let decoded = decode_request_on(kind, frame.slice(4..))
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
                server.handle_request(now_ms, token, listener, *request);
            }
            ServerOutput::Response(Output { token, response }) => {
                let (caller, call, api_key, api_version) = match self.waiting.remove(&(from, token))
                {
                    Some(Waiter::Peer { from: caller, call, api_key, api_version }) => {
                        (caller, call, api_key, api_version)
                    }
                    Some(Waiter::Client) => {
                        self.answers.insert((from, token), response);
                        return;
                    }
                    None => return,
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

fn create_topic_request(
    name: &str,
    partitions: i32,
    replication_factor: i16,
    min_isr: &str,
) -> RequestKind {
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
    let topic = CreatableTopic::default()
        .with_name(TopicName(crate::broker::str_bytes(name)))
        .with_num_partitions(partitions)
        .with_replication_factor(replication_factor)
        .with_configs(vec![CreatableTopicConfig::default()
            .with_name(crate::broker::str_bytes("min.insync.replicas"))
            .with_value(Some(crate::broker::str_bytes(min_isr)))]);
    RequestKind::CreateTopics(
        CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(5000),
    )
}

fn metadata_request() -> RequestKind {
    RequestKind::Metadata(kafka_protocol::messages::MetadataRequest::default().with_topics(None))
}

fn produce_request(topic: &str, partition: i32, acks: i16, records: Bytes) -> RequestKind {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    RequestKind::Produce(
        ProduceRequest::default().with_acks(acks).with_timeout_ms(5000).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(crate::broker::str_bytes(topic)))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records))]),
        ]),
    )
}

impl Cluster {
    /// Creates `orders` (one partition, replication factor 3, min.insync.replicas=2) through
    /// node `via`'s broker listener, and lets the replicas take their roles.
    fn create_orders(&mut self, via: i32) {
        let ResponseKind::CreateTopics(created) =
            self.client(via, ApiKey::CreateTopics, 7, create_topic_request("orders", 1, 3, "2"))
        else {
            panic!("a create-topics answer")
        };
        assert_eq!(created.topics[0].error_code, 0, "{:?}", created.topics[0].error_message);
        self.run_for(1_000);
    }

    /// (leader, replicas, isr) of `topic`-`partition` as node `id` tells a client.
    fn describe(&mut self, id: i32, topic: &str, partition: i32) -> (i32, Vec<i32>, Vec<i32>) {
        let ResponseKind::Metadata(m) = self.client(id, ApiKey::Metadata, 12, metadata_request())
        else {
            panic!("a metadata answer")
        };
        let t = m
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
            .unwrap_or_else(|| panic!("node {id} knows {topic}"));
        let p = t.partitions.iter().find(|p| p.partition_index == partition).expect("partition");
        let ids = |v: &Vec<kafka_protocol::messages::BrokerId>| v.iter().map(|b| b.0).collect();
        (p.leader_id.0, ids(&p.replica_nodes), ids(&p.isr_nodes))
    }

    /// Produces one batch of `count` records with acks=all to the partition's leader; returns
    /// (error code, base offset).
    fn produce(&mut self, leader: i32, topic: &str, count: usize) -> (i16, i64) {
        let records = crate::log::batch::tests::batch(count, START_MS);
        let ResponseKind::Produce(r) =
            self.client(leader, ApiKey::Produce, 9, produce_request(topic, 0, -1, records))
        else {
            panic!("a produce answer")
        };
        let p = &r.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    }

    /// (log end offset, high watermark) of every live replica of `topic`-0.
    fn replica_offsets(&self, topic: &str) -> BTreeMap<i32, (i64, i64)> {
        self.nodes
            .iter()
            .filter_map(|(id, n)| {
                let state = n.server.as_ref()?.replica_states().into_iter().find(|r| {
                    r.topic_partition.topic == topic && r.topic_partition.partition.0 == 0
                })?;
                Some((*id, (state.log_end_offset.0, state.high_watermark.0)))
            })
            .collect()
    }
}

#[test]
fn acks_all_writes_reach_every_replica_and_survive_the_leader_crashing() {
    // Setup: three combined nodes, settled; a topic with one partition on all three
    // (replication factor 3, min.insync.replicas=2), created through a broker listener
    // (forwarded to the active controller).
    let mut cluster = Cluster::combined(3);
    cluster.run_for(5_000);
    cluster.create_orders(1);
    let (leader, replicas, isr) = cluster.describe(1, "orders", 0);
    assert_eq!((replicas.len(), isr.len()), (3, 3), "replicas {replicas:?} isr {isr:?}");
    assert!(leader > 0);

    // acks=all: each answer comes once every ISR member has the batch.
    for i in 0..5 {
        assert_eq!(cluster.produce(leader, "orders", 2), (0, i * 2));
    }
    cluster.run_for(1_000);
    let offsets = cluster.replica_offsets("orders");
    assert_eq!(offsets.len(), 3);
    assert!(offsets.values().all(|&o| o == (10, 10)), "every replica has all 10: {offsets:?}");

    // A follower refuses clients; the leader crashes; a survivor takes over within the
    // session timeout and the ISR drops the dead broker.
    let follower = replicas.iter().copied().find(|&r| r != leader).expect("a follower");
    let (code, _) = cluster.produce(follower, "orders", 1);
    assert_eq!(code, crate::protocol::ErrorCode::NotLeaderOrFollower.code());
    // The crashed leader may have been the active controller too: Raft's fetch timeout (2 s)
    // and an election come first, then the new controller's full session timeout (3 s).
    cluster.crash(leader);
    cluster.run_for(10_000);
    let survivor = follower;
    let (new_leader, _, isr) = cluster.describe(survivor, "orders", 0);
    assert!(new_leader > 0 && new_leader != leader, "new leader {new_leader}");
    assert!(!isr.contains(&leader), "the dead broker left the ISR: {isr:?}");
    assert_eq!(cluster.produce(new_leader, "orders", 3), (0, 10), "two in-sync replicas suffice");

    // The old leader comes back, catches up and rejoins the ISR.
    cluster.restart(leader);
    cluster.run_for(8_000);
    let (_, _, isr) = cluster.describe(survivor, "orders", 0);
    assert_eq!(isr.len(), 3, "the ISR healed: {isr:?}");
    let offsets = cluster.replica_offsets("orders");
    assert!(offsets.values().all(|&o| o == (13, 13)), "every replica has all 13: {offsets:?}");
}

#[test]
fn a_controlled_shutdown_moves_leadership_away_before_the_node_stops() {
    // Setup: three combined nodes, settled; a replicated topic; then its leader asks to stop.
    let mut cluster = Cluster::combined(3);
    cluster.run_for(5_000);
    cluster.create_orders(1);
    let (leader, _, _) = cluster.describe(1, "orders", 0);
    let now_ms = cluster.now_ms;
    let server = cluster.nodes.get_mut(&leader).and_then(|n| n.server.as_mut()).expect("up");
    assert!(!server.may_stop(), "a registered leader may not stop before the controller says so");
    server.begin_controlled_shutdown(now_ms);
    cluster.route_all();
    cluster.run_for(1_000);

    // Well within the session timeout, another replica leads and the stopping node may go.
    assert!(cluster.server(leader).may_stop());
    let other = (1..=3).find(|&id| id != leader).expect("another node");
    let (new_leader, _, isr) = cluster.describe(other, "orders", 0);
    assert!(new_leader > 0 && new_leader != leader, "leader moved to {new_leader}");
    assert!(!isr.contains(&leader), "the stopping broker left the ISR: {isr:?}");
}

#[test]
fn a_follower_that_stops_fetching_leaves_the_isr_after_the_lag_time_and_rejoins_when_caught_up() {
    // Setup: three combined nodes (replica.lag.time.max.ms=2000), a replicated topic; then one
    // follower's replica fetches fail while its heartbeats go on (it stays unfenced).
    let mut cluster = Cluster::combined(3);
    cluster.run_for(5_000);
    cluster.create_orders(1);
    let (leader, replicas, _) = cluster.describe(1, "orders", 0);
    let laggard = replicas.iter().copied().find(|&r| r != leader).expect("a follower");
    cluster.cut_off_replication.insert(laggard);
    assert_eq!(cluster.produce(leader, "orders", 4), (0, 0), "acks=all waits, then shrinks");
    cluster.run_for(3_000);
    let (_, _, isr) = cluster.describe(leader, "orders", 0);
    assert_eq!(isr.len(), 2, "the laggard left the ISR: {isr:?}");
    assert!(!isr.contains(&laggard));
    assert!(cluster.unfenced_brokers(leader).contains(&laggard), "but it is not fenced");
    assert_eq!(cluster.produce(leader, "orders", 2), (0, 4), "two in-sync replicas suffice");

    // Its fetches work again: it catches up and the leader proposes it back.
    cluster.cut_off_replication.clear();
    cluster.run_for(3_000);
    let (_, _, isr) = cluster.describe(leader, "orders", 0);
    assert_eq!(isr.len(), 3, "the laggard rejoined: {isr:?}");
    let offsets = cluster.replica_offsets("orders");
    assert!(offsets.values().all(|&o| o == (6, 6)), "every replica has all 6: {offsets:?}");
}

#[test]
fn a_leader_rebooted_before_its_session_expires_never_leads_at_its_old_epoch() {
    // The metadata a quick reboot replays from its own disk still names it leader. Acting on
    // it would lead at the old leader epoch with whatever log survived the crash (the
    // simulation's quick-reboot-power-loss scenario lost acknowledged records that way).
    let mut cluster = Cluster::combined(3);
    cluster.run_for(5_000);
    cluster.create_orders(1);
    let (leader, replicas, _) = cluster.describe(1, "orders", 0);
    assert_eq!(cluster.produce(leader, "orders", 2), (0, 0));

    let epoch = cluster.server(leader).replica_states()[0].leader_epoch;
    cluster.crash(leader);
    cluster.run_for(100);
    cluster.restart(leader);
    // Its old session expires, the controller fences it and moves leadership; then its new
    // incarnation registers, catches up and follows. Meanwhile it never leads at the old
    // epoch.
    for _ in 0..100 {
        cluster.run_for(100);
        let states = cluster.server(leader).replica_states();
        assert!(
            states.iter().all(|s| !s.is_leader || s.leader_epoch > epoch),
            "the rebooted broker leads at the old epoch {epoch:?} at {} ms: {states:?}",
            cluster.now_ms - START_MS
        );
    }
    let survivor = replicas.iter().copied().find(|&r| r != leader).expect("a follower");
    let (new_leader, _, _) = cluster.describe(survivor, "orders", 0);
    assert!(new_leader > 0 && new_leader != leader, "new leader {new_leader}");
    assert_eq!(cluster.produce(new_leader, "orders", 1), (0, 2));
    cluster.run_for(8_000);
    let (_, _, isr) = cluster.describe(survivor, "orders", 0);
    assert_eq!(isr.len(), 3, "the ISR healed: {isr:?}");
    let offsets = cluster.replica_offsets("orders");
    assert!(offsets.values().all(|&o| o == (3, 3)), "every replica has all 3: {offsets:?}");
}

#[test]
fn separate_controllers_and_brokers_form_a_cluster_that_replicates() {
    // Setup: three controller-only voters (nodes 1-3) and three broker-only observers
    // (nodes 4-6); a replicated topic can live only on the brokers.
    let mut cluster = Cluster::with_roles(&[
        "controller",
        "controller",
        "controller",
        "broker",
        "broker",
        "broker",
    ]);
    cluster.run_for(5_000);
    assert_eq!(cluster.active_controllers().len(), 1);
    assert!(cluster.active_controllers()[0] <= 3, "a controller node is the active controller");
    assert_eq!(cluster.unfenced_brokers(4), vec![4, 5, 6], "only broker nodes register");
    cluster.create_orders(4);
    let (leader, mut replicas, isr) = cluster.describe(5, "orders", 0);
    replicas.sort_unstable();
    assert_eq!(replicas, vec![4, 5, 6]);
    assert_eq!(isr.len(), 3);
    assert_eq!(cluster.produce(leader, "orders", 3), (0, 0));
    cluster.run_for(1_000);
    let offsets = cluster.replica_offsets("orders");
    assert_eq!(offsets.keys().copied().collect::<Vec<_>>(), vec![4, 5, 6]);
    assert!(offsets.values().all(|&o| o == (3, 3)), "every replica has all 3: {offsets:?}");

    // The active controller dies: another controller takes over, and the brokers carry on.
    let controller = cluster.active_controllers()[0];
    cluster.crash(controller);
    cluster.run_for(6_000);
    let active = cluster.active_controllers();
    assert!(active.len() == 1 && active[0] != controller, "a new controller: {active:?}");
    assert_eq!(cluster.produce(leader, "orders", 2), (0, 3));
}
