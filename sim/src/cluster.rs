//! The simulated cluster: each broker a madsim node with its own [`SimStorage`] disk.
//!
//! Inputs: the scenario's cluster section and a seed. Outputs: running broker nodes at
//! `10.0.1.<id>:9092`, the bootstrap address, and [`GroundTruth`] fed by every broker's
//! observer. Invariants: a broker's disk outlives its node (it is captured by the node's
//! `init` closure, which madsim re-runs on restart), and nothing else does: the broker
//! rebuilds all state from its disk, as a real process would.

use crate::ground_truth::GroundTruth;
use crate::history::{History, TopicPartitionKey};
use crate::scenario::ClusterSpec;
use crate::watch::ClusterWatch;
use crate::workload::ClientHw;
use crate::SimStorage;
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId;
use odradek::broker::ReplicaState;
use odradek::config::{BrokerConfig, Origin};
use odradek::node::Observers;
use odradek::server::ServerSnapshot;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{Arc, Mutex};

pub const BROKER_PORT: u16 = 9092;

/// The controller listener's port on the voters of a cluster.
pub const CONTROLLER_PORT: u16 = 9093;

/// How many brokers of a cluster are also controllers (KRaft voters): brokers 1 to this
/// (fewer when the cluster is smaller); the others are brokers only.
pub const MAX_VOTERS: u32 = 3;

/// Where every broker keeps its logs on its disk (`log.dirs`).
pub const LOG_DIR: &str = "/data";

/// What a broker node is doing, as far as the supervisor made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerStatus {
    Running,
    Crashed,
    Paused,
}

/// One broker: its madsim node and its disk.
pub struct BrokerNode {
    pub id: u32,
    pub node: NodeHandle,
    pub ip: IpAddr,
    pub disk: SimStorage,
    pub status: BrokerStatus,
}

impl BrokerNode {
    pub fn node_id(&self) -> NodeId {
        self.node.id()
    }
}

/// The brokers of a run, and the ground truth they report.
pub struct SimCluster {
    pub brokers: Vec<BrokerNode>,
    pub truth: Arc<Mutex<GroundTruth>>,
    /// The replication invariants over the cluster's snapshots; a cluster only (`None` for
    /// one standalone broker).
    pub watch: Option<Arc<Mutex<ClusterWatch>>>,
    /// When the run started (simulated), the zero of every `*_ms` time.
    pub started: tokio::time::Instant,
}

/// Simulated milliseconds since `started`.
pub fn elapsed_ms(started: tokio::time::Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

pub fn broker_ip(id: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, id as u8))
}

/// Whether the scenario's cluster is a KRaft cluster (more than one broker); one broker runs
/// standalone, as a single `odradek broker` with no configuration does.
pub fn is_clustered(spec: &ClusterSpec) -> bool {
    spec.brokers > 1
}

/// The voters of a cluster's controller quorum: brokers 1 to `min(3, brokers)`.
pub fn voter_ids(spec: &ClusterSpec) -> std::ops::RangeInclusive<u32> {
    1..=spec.brokers.min(MAX_VOTERS)
}

/// The configuration of broker `id`: the scenario's Kafka keys, then what the simulation
/// fixes (node id, listeners, data directory and, in a cluster, the roles and the quorum:
/// the voters are `broker,controller` with a controller listener on [`CONTROLLER_PORT`], the
/// other brokers are `broker` only).
pub fn broker_config(spec: &ClusterSpec, id: u32) -> BrokerConfig {
    let mut entries: Vec<(String, String, Origin)> =
        spec.broker_config.iter().map(|(k, v)| (k.clone(), v.clone(), Origin::Override)).collect();
    let mut fixed = vec![
        ("node.id", id.to_string()),
        ("listeners", format!("PLAINTEXT://0.0.0.0:{BROKER_PORT}")),
        ("advertised.listeners", format!("PLAINTEXT://{}:{BROKER_PORT}", broker_ip(id))),
        ("log.dirs", LOG_DIR.to_string()),
    ];
    if is_clustered(spec) {
        let voters: Vec<String> =
            voter_ids(spec).map(|v| format!("{v}@{}:{CONTROLLER_PORT}", broker_ip(v))).collect();
        let voter = voter_ids(spec).contains(&id);
        fixed.extend([
            ("process.roles", if voter { "broker,controller" } else { "broker" }.to_string()),
            ("controller.quorum.voters", voters.join(",")),
            ("controller.listener.names", "CONTROLLER".to_string()),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_string(),
            ),
        ]);
        if voter {
            fixed[1].1 =
                format!("PLAINTEXT://0.0.0.0:{BROKER_PORT},CONTROLLER://0.0.0.0:{CONTROLLER_PORT}");
        }
    }
    entries.extend(fixed.into_iter().map(|(k, v)| (k.to_string(), v, Origin::Override)));
    BrokerConfig::from_entries(entries)
        .expect("scenario broker configs were validated when the scenario loaded")
}

impl SimCluster {
    /// Starts every broker. Each disk is seeded from the run's seed and the broker id. A
    /// cluster's brokers are watched ([`ClusterWatch`]): acknowledged sends are taken from
    /// `history`, with each producer's `acks` from `producer_acks`, and the high watermarks
    /// clients were answered from `client_hws`.
    pub fn start(
        spec: &ClusterSpec,
        seed: u64,
        started: tokio::time::Instant,
        history: Arc<Mutex<History>>,
        client_hws: Arc<Mutex<Vec<ClientHw>>>,
        producer_acks: BTreeMap<String, i16>,
    ) -> SimCluster {
        let handle = Handle::current();
        let truth = Arc::new(Mutex::new(GroundTruth::default()));
        let disks: Vec<(u32, SimStorage)> = (1..=spec.brokers)
            .map(|id| (id, SimStorage::new(seed ^ (u64::from(id) << 48) ^ 0x6f64_7261_6465_6b00)))
            .collect();
        let watch = is_clustered(spec).then(|| {
            Arc::new(Mutex::new(ClusterWatch::new(
                disks.clone(),
                Path::new(LOG_DIR),
                history,
                client_hws,
                producer_acks,
            )))
        });
        let brokers = disks
            .into_iter()
            .map(|(id, disk)| {
                let config = broker_config(spec, id);
                let observer_truth = truth.clone();
                let observer_watch = watch.clone();
                let node_disk = disk.clone();
                let node = handle
                    .create_node()
                    .name(format!("broker-{id}"))
                    .ip(broker_ip(id))
                    .init(move || {
                        let config = config.clone();
                        let disk = node_disk.clone();
                        let truth = observer_truth.clone();
                        let watch = observer_watch.clone();
                        async move {
                            let observers = match watch {
                                // One broker: its replica states feed the ground truth, as
                                // before clusters existed.
                                None => Observers {
                                    replicas: Some(Arc::new(move |states: &[ReplicaState]| {
                                        truth.lock().expect("ground truth lock").observe(id, elapsed_ms(started), states);
                                    })),
                                    snapshots: None,
                                },
                                // A cluster: the snapshot feeds the watch, and its replica
                                // states the ground truth when they changed.
                                Some(watch) => {
                                    let last = Mutex::new(Vec::<ReplicaState>::new());
                                    Observers {
                                        replicas: None,
                                        snapshots: Some(Arc::new(move |snapshot: &ServerSnapshot| {
                                            let now = elapsed_ms(started);
                                            let states: Vec<ReplicaState> = snapshot.replicas.iter().map(|r| r.state.clone()).collect();
                                            let mut last = last.lock().expect("last states lock");
                                            if *last != states {
                                                truth.lock().expect("ground truth lock").observe(id, now, &states);
                                                *last = states;
                                            }
                                            watch.lock().expect("watch lock").observe(id, now, snapshot);
                                        })),
                                    }
                                }
                            };
                            let shutdown = async {
                                let _ = tokio::signal::ctrl_c().await;
                            };
                            if let Err(error) = odradek::node::run_node(config, disk, shutdown, observers).await {
                                // A broker that cannot start (its disk failed) stays down, as a
                                // real process would; the run's invariants see it missing.
                                tracing::error!(broker = id, %error, "broker stopped with an error");
                            }
                        }
                    })
                    .build();
                BrokerNode { id, node, ip: broker_ip(id), disk, status: BrokerStatus::Running }
            })
            .collect();
        SimCluster { brokers, truth, watch, started }
    }

    /// The broker that leads a partition now: in a cluster, the leader of the committed
    /// metadata; with one broker, the replica that says it leads.
    pub fn leader(&self, key: &TopicPartitionKey) -> Option<u32> {
        match &self.watch {
            Some(watch) => watch.lock().expect("watch lock").leader(key),
            None => self.truth.lock().expect("ground truth lock").leader(key),
        }
    }

    /// The replicas of a partition that do not lead it now, in assignment order (a cluster
    /// only: one broker has no followers).
    pub fn followers(&self, key: &TopicPartitionKey) -> Vec<u32> {
        self.watch.as_ref().map_or_else(Vec::new, |w| w.lock().expect("watch lock").followers(key))
    }

    /// The active controller now (a cluster only).
    pub fn active_controller(&self) -> Option<u32> {
        self.watch.as_ref().and_then(|w| w.lock().expect("watch lock").active_controller())
    }

    /// `10.0.1.1:9092,10.0.1.2:9092,...`
    pub fn bootstrap_servers(&self) -> String {
        self.brokers.iter().map(|b| format!("{}:{BROKER_PORT}", b.ip)).collect::<Vec<_>>().join(",")
    }

    pub fn broker(&self, id: u32) -> &BrokerNode {
        &self.brokers[(id - 1) as usize]
    }

    pub fn broker_mut(&mut self, id: u32) -> &mut BrokerNode {
        &mut self.brokers[(id - 1) as usize]
    }

    pub fn now_ms(&self) -> u64 {
        elapsed_ms(self.started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(brokers: u32) -> ClusterSpec {
        ClusterSpec { brokers, broker_config: BTreeMap::new(), topics: Vec::new() }
    }

    #[test]
    fn one_broker_is_standalone() {
        let config = broker_config(&spec(1), 1);
        assert!(config.cluster.is_standalone());
        assert_eq!(config.listeners.len(), 1);
    }

    #[test]
    fn a_cluster_has_three_voters_and_brokers_beyond_them() {
        let five = spec(5);
        for id in 1..=5 {
            let config = broker_config(&five, id);
            let cluster = &config.cluster;
            let voters: Vec<String> = cluster.quorum_voters.iter().map(|v| v.to_string()).collect();
            assert_eq!(voters, ["1@10.0.1.1:9093", "2@10.0.1.2:9093", "3@10.0.1.3:9093"]);
            assert!(cluster.process_roles.broker);
            assert_eq!(cluster.process_roles.controller, id <= 3, "broker-{id}");
            let listeners: Vec<String> = config.listeners.iter().map(|l| l.to_string()).collect();
            let mut expected = vec!["PLAINTEXT://0.0.0.0:9092".to_string()];
            if id <= 3 {
                expected.push("CONTROLLER://0.0.0.0:9093".into());
            }
            assert_eq!(listeners, expected, "broker-{id}");
            let advertised = config.advertised_endpoint().to_string();
            assert_eq!(advertised, format!("PLAINTEXT://10.0.1.{id}:9092"));
        }
        let two = broker_config(&spec(2), 2);
        assert_eq!(two.cluster.quorum_voters.len(), 2);
    }
}
