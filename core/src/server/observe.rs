//! What a testbed can see of one process at an instant: [`Server::observe`] copies it out of
//! the server as plain data.
//!
//! Inputs: the server's state between two inputs. Output: a [`ServerSnapshot`] — every
//! partition replica this process holds (its [`ReplicaState`] and the ISR it knows), the
//! committed metadata it has replayed (brokers, partitions with their leader, ISR, ELR and
//! epochs, and each partition's effective `min.insync.replicas` and
//! `unclean.leader.election.enable`), and its Raft node's view of `__cluster_metadata-0`.
//!
//! Invariants: observing reads only memory — no storage call, no clock, no randomness — so a
//! process observed behaves exactly as one that is not; the snapshot is ordered (topics,
//! partitions and brokers ascending), so two equal states give equal snapshots and a
//! snapshot can be compared with the last one to see whether anything changed. Nothing here
//! is read by the server itself: it exists for whoever watches (the simulation's invariants).

use super::{Mode, Server};
use crate::broker::ReplicaState;
use crate::config::{BrokerConfig, TopicConfig};
use crate::metadata::MetadataImage;
use crate::storage::Storage;

/// One process, as [`Server::observe`] sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerSnapshot {
    /// `node.id`.
    pub node_id: i32,
    /// Every partition replica this process holds, in topic and partition order.
    pub replicas: Vec<ReplicaSnapshot>,
    /// The committed metadata this process has replayed (a standalone process: its local
    /// metadata, where it is the only broker).
    pub metadata: MetadataSnapshot,
    /// Its KRaft node; `None` for a standalone process, which runs no Raft node.
    pub raft: Option<RaftSnapshot>,
}

/// One partition replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaSnapshot {
    pub state: ReplicaState,
    /// The ISR as this replica knows it: a leader's own (which may be ahead of the committed
    /// metadata while an AlterPartition is in flight), a follower's from the metadata.
    pub isr: Vec<i32>,
}

/// The committed metadata image, replayed up to `offset`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataSnapshot {
    /// The offset of the last metadata record replayed, -1 before the first.
    pub offset: i64,
    /// Every registered broker, by id ascending.
    pub brokers: Vec<BrokerSnapshot>,
    /// Every partition, by topic name and partition index ascending.
    pub partitions: Vec<PartitionSnapshot>,
}

/// A broker registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerSnapshot {
    pub broker_id: i32,
    pub broker_epoch: i64,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

/// A partition record, with the topic settings the controller elects by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSnapshot {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Eligible leader replicas (KIP-966).
    pub elr: Vec<i32>,
    /// The leader's broker id, or -1.
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// The topic's effective `min.insync.replicas` (its override, else this process's
    /// broker default).
    pub min_insync_replicas: i32,
    /// The topic's effective `unclean.leader.election.enable`.
    pub unclean_leader_election_enable: bool,
}

/// A KRaft node's view of the metadata quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftSnapshot {
    pub epoch: i32,
    /// The leader this node knows of in `epoch`, if any.
    pub leader: Option<i32>,
    pub is_leader: bool,
    pub is_voter: bool,
    /// The high watermark this node knows in its current role (`None` between leaders, and
    /// for a new leader before it has committed a record of its epoch).
    pub high_watermark: Option<i64>,
}

impl MetadataSnapshot {
    /// The snapshot of `image`, with topic settings resolved on `config`'s defaults.
    pub fn of(image: &MetadataImage, config: &BrokerConfig) -> MetadataSnapshot {
        let brokers = image
            .brokers()
            .map(|b| BrokerSnapshot {
                broker_id: b.broker_id,
                broker_epoch: b.broker_epoch,
                fenced: b.fenced,
                in_controlled_shutdown: b.in_controlled_shutdown,
            })
            .collect();
        let mut partitions = Vec::new();
        for topic in image.topics() {
            // Stored configs were validated when written; fall back on the defaults if not.
            let settings = TopicConfig::new(topic.configs.clone())
                .map_or_else(|_| config.topic_defaults.clone(), |c| c.resolve(config));
            for (&index, p) in &topic.partitions {
                partitions.push(PartitionSnapshot {
                    topic: topic.name.clone(),
                    partition: index,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    elr: p.elr.clone(),
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                    min_insync_replicas: settings.min_insync_replicas,
                    unclean_leader_election_enable: settings.unclean_leader_election_enable,
                });
            }
        }
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        MetadataSnapshot { offset: image.offset(), brokers, partitions }
    }
}

impl<S: Storage> Server<S> {
    /// Everything a testbed may see of this process now (see the module doc). Reads memory
    /// only, so observing never changes what the process does.
    pub fn observe(&self) -> ServerSnapshot {
        let broker = match &self.mode {
            Mode::Standalone(broker) => Some(&**broker),
            Mode::Clustered(cluster) => cluster.broker.as_ref(),
        };
        let replicas = broker
            .map(|broker| {
                broker
                    .partitions()
                    .zip(broker.replica_states())
                    .map(|(partition, state)| ReplicaSnapshot {
                        state,
                        isr: partition.isr().to_vec(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let raft = self.raft().map(|raft| RaftSnapshot {
            epoch: raft.epoch().0,
            leader: raft.leader_id(),
            is_leader: raft.role() == crate::raft::Role::Leader,
            is_voter: raft.is_voter(),
            high_watermark: raft.high_watermark().map(|o| o.0),
        });
        ServerSnapshot {
            node_id: self.config.node_id.0,
            replicas,
            metadata: MetadataSnapshot::of(self.image(), &self.config),
            raft,
        }
    }
}
