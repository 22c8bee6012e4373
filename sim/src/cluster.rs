//! The simulated cluster: each broker a madsim node with its own [`SimStorage`] disk.
//!
//! Inputs: the scenario's cluster section and a seed. Outputs: running broker nodes at
//! `10.0.1.<id>:9092`, the bootstrap address, and [`GroundTruth`] fed by every broker's
//! observer. Invariants: a broker's disk outlives its node (it is captured by the node's
//! `init` closure, which madsim re-runs on restart), and nothing else does: the broker
//! rebuilds all state from its disk, as a real process would.

use crate::ground_truth::GroundTruth;
use crate::scenario::ClusterSpec;
use crate::SimStorage;
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId;
use odradek::config::{BrokerConfig, Origin};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

pub const BROKER_PORT: u16 = 9092;

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

/// The configuration of broker `id`: the scenario's Kafka keys, then what the simulation
/// fixes (node id, listener, data directory).
pub fn broker_config(spec: &ClusterSpec, id: u32) -> BrokerConfig {
    let mut entries: Vec<(String, String, Origin)> =
        spec.broker_config.iter().map(|(k, v)| (k.clone(), v.clone(), Origin::Override)).collect();
    let fixed = [
        ("node.id", id.to_string()),
        ("listeners", format!("PLAINTEXT://0.0.0.0:{BROKER_PORT}")),
        ("advertised.listeners", format!("PLAINTEXT://{}:{BROKER_PORT}", broker_ip(id))),
        ("log.dirs", LOG_DIR.to_string()),
    ];
    entries.extend(fixed.into_iter().map(|(k, v)| (k.to_string(), v, Origin::Override)));
    BrokerConfig::from_entries(entries)
        .expect("scenario broker configs were validated when the scenario loaded")
}

impl SimCluster {
    /// Starts every broker. Each disk is seeded from the run's seed and the broker id.
    pub fn start(spec: &ClusterSpec, seed: u64, started: tokio::time::Instant) -> SimCluster {
        let handle = Handle::current();
        let truth = Arc::new(Mutex::new(GroundTruth::default()));
        let brokers = (1..=spec.brokers)
            .map(|id| {
                let disk = SimStorage::new(seed ^ (u64::from(id) << 48) ^ 0x6f64_7261_6465_6b00);
                let config = broker_config(spec, id);
                let observer_truth = truth.clone();
                let node_disk = disk.clone();
                let node = handle
                    .create_node()
                    .name(format!("broker-{id}"))
                    .ip(broker_ip(id))
                    .init(move || {
                        let config = config.clone();
                        let disk = node_disk.clone();
                        let truth = observer_truth.clone();
                        async move {
                            let observer: odradek::node::Observer = Arc::new(move |states| {
                                truth.lock().expect("ground truth lock").observe(id, elapsed_ms(started), states);
                            });
                            let shutdown = async {
                                let _ = tokio::signal::ctrl_c().await;
                            };
                            if let Err(error) = odradek::node::run_broker_observed(config, disk, shutdown, Some(observer)).await {
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
        SimCluster { brokers, truth, started }
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
