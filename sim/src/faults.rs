//! The fault injector: the only place faults come from.
//!
//! Inputs: scenario actions with their targets resolved to nodes. Outputs: the fault applied
//! to madsim (kill, restart, pause, clog, network config) or to a broker's [`SimStorage`]
//! (page-cache loss, torn writes, read corruption, I/O errors, a lying fsync), and a trace
//! line saying what was done. Invariants: a crash kills the node before its disk crashes (no write can land
//! after the disk's crash); a restart follows a kill (madsim keeps a live node's sockets
//! bound otherwise); `heal` undoes every partition and clog this injector made.

use crate::cluster::{BrokerStatus, SimCluster};
use crate::scenario::{CrashKind, NetworkSpec};
use crate::{CrashMode, DiskFaults};
use madsim::net::NetSim;
use madsim::runtime::Handle;
use madsim::task::NodeId;
use std::collections::BTreeSet;
use std::time::Duration;

/// Applies faults and remembers what to undo.
pub struct FaultInjector {
    handle: Handle,
    /// Directed links clogged by partitions.
    clogged_links: BTreeSet<(NodeId, NodeId)>,
    /// Nodes clogged whole.
    clogged_nodes: BTreeSet<NodeId>,
    initial_network: NetworkSpec,
}

impl FaultInjector {
    pub fn new(initial_network: NetworkSpec) -> Self {
        FaultInjector {
            handle: Handle::current(),
            clogged_links: BTreeSet::new(),
            clogged_nodes: BTreeSet::new(),
            initial_network,
        }
    }

    /// Crashes a broker: its process dies, and its disk loses what the kind says.
    pub fn crash(&mut self, cluster: &mut SimCluster, broker: u32, kind: CrashKind) -> String {
        let node = cluster.broker(broker);
        if node.status == BrokerStatus::Crashed {
            return format!("broker-{broker} is already down");
        }
        self.handle.kill(node.node_id());
        let mode = match kind {
            CrashKind::KeepPageCache => CrashMode::KeepPageCache,
            CrashKind::LosePageCache => CrashMode::LosePageCache { torn_writes: false },
            CrashKind::TornWrites => CrashMode::LosePageCache { torn_writes: true },
        };
        let report = node.disk.crash(mode);
        cluster.truth.lock().expect("ground truth lock").crashed(broker, cluster.now_ms());
        if let Some(watch) = &cluster.watch {
            watch.lock().expect("watch lock").crashed(broker, cluster.now_ms());
        }
        cluster.broker_mut(broker).status = BrokerStatus::Crashed;
        format!("crash broker-{broker} ({kind:?}): {report}")
    }

    /// Restarts a broker; a running one is killed first (its page cache survives).
    pub fn restart(&mut self, cluster: &mut SimCluster, broker: u32) -> String {
        let mut note = String::new();
        if cluster.broker(broker).status != BrokerStatus::Crashed {
            note = format!("{}; ", self.crash(cluster, broker, CrashKind::KeepPageCache));
        }
        self.handle.restart(cluster.broker(broker).node_id());
        cluster.broker_mut(broker).status = BrokerStatus::Running;
        format!("{note}restart broker-{broker}")
    }

    pub fn pause(&mut self, cluster: &mut SimCluster, broker: u32) -> String {
        if cluster.broker(broker).status == BrokerStatus::Running {
            self.handle.pause(cluster.broker(broker).node_id());
            cluster.broker_mut(broker).status = BrokerStatus::Paused;
        }
        format!("pause broker-{broker}")
    }

    pub fn resume(&mut self, cluster: &mut SimCluster, broker: u32) -> String {
        if cluster.broker(broker).status == BrokerStatus::Paused {
            self.handle.resume(cluster.broker(broker).node_id());
            cluster.broker_mut(broker).status = BrokerStatus::Running;
        }
        format!("resume broker-{broker}")
    }

    /// Pauses or resumes a client node.
    pub fn pause_node(&mut self, node: NodeId, paused: bool) {
        if paused {
            self.handle.pause(node);
        } else {
            self.handle.resume(node);
        }
    }

    /// Cuts messages from every node of `from` to every node of `to` (and back, unless
    /// `one_way`).
    pub fn partition(&mut self, from: &[NodeId], to: &[NodeId], one_way: bool) -> String {
        let net = NetSim::current();
        for &a in from {
            for &b in to {
                net.clog_link(a, b);
                self.clogged_links.insert((a, b));
                if !one_way {
                    net.clog_link(b, a);
                    self.clogged_links.insert((b, a));
                }
            }
        }
        let names =
            |nodes: &[NodeId]| nodes.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
        format!(
            "partition nodes [{}] {} [{}]",
            names(from),
            if one_way { "->" } else { "<->" },
            names(to)
        )
    }

    pub fn clog(&mut self, node: NodeId) -> String {
        NetSim::current().clog_node(node);
        self.clogged_nodes.insert(node);
        format!("clog node {node}")
    }

    pub fn unclog(&mut self, node: NodeId) -> String {
        NetSim::current().unclog_node(node);
        self.clogged_nodes.remove(&node);
        format!("unclog node {node}")
    }

    /// Removes every partition and clog.
    pub fn heal(&mut self) -> String {
        let net = NetSim::current();
        for (a, b) in std::mem::take(&mut self.clogged_links) {
            net.unclog_link(a, b);
        }
        for n in std::mem::take(&mut self.clogged_nodes) {
            net.unclog_node(n);
        }
        "heal the network".into()
    }

    pub fn network(&mut self, spec: &NetworkSpec) -> String {
        let (min, max) = spec.latency_ms;
        let loss = spec.packet_loss;
        NetSim::current().update_config(|c| {
            c.send_latency = Duration::from_millis(min)..Duration::from_millis(max.max(min) + 1);
            c.packet_loss_rate = loss;
        });
        format!("network latency {min}..{max}ms loss {loss}")
    }

    /// Back to the scenario's initial network.
    pub fn reset_network(&mut self) -> String {
        let initial = self.initial_network.clone();
        self.network(&initial)
    }

    /// Sets a broker's disk faults (the default turns them all off).
    pub fn disk_faults(&mut self, cluster: &SimCluster, broker: u32, faults: DiskFaults) -> String {
        cluster.broker(broker).disk.set_faults(faults);
        let DiskFaults { read_corruption_probability, io_error_probability, sync_is_noop } = faults;
        let lying = if sync_is_noop { ", fsync is a no-op (the disk lies)" } else { "" };
        format!("disk faults on broker-{broker}: read corruption {read_corruption_probability}, I/O errors {io_error_probability}{lying}")
    }
}
