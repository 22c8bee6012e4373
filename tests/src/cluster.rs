//! A cluster of `odradek broker` processes on 127.0.0.1: every node combined
//! (`process.roles=broker,controller`), all of them voters of the controller quorum, each with
//! its own client port, controller port and data directory.

use crate::broker::{free_port, BrokerProcess};

/// The nodes of one cluster, node `i + 1` at index `i`.
pub struct ClusterProcesses {
    pub nodes: Vec<BrokerProcess>,
}

impl ClusterProcesses {
    /// Starts `n` combined nodes with the cluster's settings plus `overrides` on each.
    #[track_caller]
    pub fn start(n: usize, overrides: &[(&str, &str)]) -> Self {
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let voters: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, controller))| format!("{}@127.0.0.1:{controller}", i + 1))
            .collect();
        let voters = voters.join(",");
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, &(port, controller))| {
                let node_id = (i + 1).to_string();
                let mut settings: Vec<(&str, &str)> = vec![
                    ("node.id", &node_id),
                    ("process.roles", "broker,controller"),
                    ("controller.quorum.voters", &voters),
                    ("controller.listener.names", "CONTROLLER"),
                    ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"),
                ];
                settings.extend_from_slice(overrides);
                BrokerProcess::start_node(port, Some(controller), &settings)
            })
            .collect();
        ClusterProcesses { nodes }
    }

    /// Every node's client address, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.nodes.iter().map(BrokerProcess::bootstrap).collect::<Vec<_>>().join(",")
    }

    /// Node `id` (1-based, as `node.id`).
    pub fn node(&mut self, id: i32) -> &mut BrokerProcess {
        let index = usize::try_from(id - 1).expect("node ids start at 1");
        &mut self.nodes[index]
    }
}
