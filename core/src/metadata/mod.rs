//! Cluster metadata as KRaft keeps it: a log of records, replayed into an image.
//!
//! Inputs: [`MetadataRecord`]s produced by request handlers (CreateTopics, DeleteTopics,
//! CreatePartitions, InitProducerId) and by the controller (`crate::controller`: broker
//! registrations, fencing, leader and ISR changes). Outputs: the [`MetadataImage`] every
//! handler reads. Invariants: the image is a pure function of the records replayed, in order
//! (plus the offset the owner of the log says it has applied, [`MetadataImage::set_offset`]);
//! a change is durable (appended and synced) before the image shows it, so a client never sees
//! metadata that a crash could take back. Records are stored as JSON values in RecordBatch v2
//! batches of an ordinary partition log, `__cluster_metadata-0`; the controller quorum
//! replicates this same log.
//!
//! Partition invariants, asserted on replay: ISR and ELR are subsets of the replicas and
//! disjoint; the leader is in the ISR or is -1; leader epochs never go back and partition
//! epochs grow with every change. Broker epochs are handed out by the controller from
//! [`MetadataImage::next_broker_epoch`], which only grows.

pub mod store;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The directory (under the log dir) holding the metadata log, as Kafka names it.
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";
/// The reserved name of the metadata topic; clients cannot create it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// One change to the cluster's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum MetadataRecord {
    /// A topic was created.
    Topic { name: String, topic_id: Uuid },
    /// A partition of a topic was created, or its replicas, leader, ISR or ELR changed.
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        /// Eligible leader replicas (KIP-966): replicas out of the ISR that still hold every
        /// committed record, because they left it while the ISR was below
        /// `min.insync.replicas` (when the high watermark cannot advance). Absent in logs
        /// written before the controller existed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        elr: Vec<i32>,
        /// The replicas that were last eligible when the ISR and ELR both became empty
        /// (KIP-966): where an unclean recovery looks first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        last_known_elr: Vec<i32>,
    },
    /// A topic config was set (`value` some) or removed (`value` none).
    TopicConfig { topic_id: Uuid, key: String, value: Option<String> },
    /// A topic and all its partitions were deleted.
    RemoveTopic { topic_id: Uuid },
    /// Producer ids below `next_producer_id` have been handed out.
    ProducerIds { next_producer_id: i64 },
    /// A broker registered (a new broker, or a new incarnation of a known one). It starts
    /// fenced and not in controlled shutdown. `broker_epoch` comes from
    /// [`MetadataImage::next_broker_epoch`]: every registration gets a larger one.
    RegisterBroker {
        broker_id: i32,
        broker_epoch: i64,
        incarnation_id: Uuid,
        listeners: Vec<BrokerEndpoint>,
        rack: Option<String>,
        fenced: bool,
    },
    /// A registered broker was fenced or unfenced, or entered or left controlled shutdown.
    /// `None` leaves that flag as it is.
    BrokerRegistrationChange {
        broker_id: i32,
        broker_epoch: i64,
        fenced: Option<bool>,
        in_controlled_shutdown: Option<bool>,
    },
    /// A broker's registration was removed.
    UnregisterBroker { broker_id: i32, broker_epoch: i64 },
}

/// One listener a broker advertises in its registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerEndpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// A registered broker as the metadata describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerImage {
    pub broker_id: i32,
    /// Assigned by the controller at registration; a new incarnation gets a larger one.
    pub broker_epoch: i64,
    /// Names one start of the broker process.
    pub incarnation_id: Uuid,
    pub listeners: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
    /// A fenced broker leads nothing and is in no ISR (but may be in an ELR).
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

/// A partition as the metadata describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionImage {
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// Eligible leader replicas (KIP-966), disjoint from the ISR.
    pub elr: Vec<i32>,
    /// The last eligible replicas when ISR and ELR both became empty (KIP-966).
    pub last_known_elr: Vec<i32>,
}

/// A topic as the metadata describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: BTreeMap<i32, PartitionImage>,
    pub configs: BTreeMap<String, String>,
}

/// The cluster's metadata after replaying every record so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataImage {
    topics: BTreeMap<Uuid, TopicImage>,
    topic_ids: BTreeMap<String, Uuid>,
    next_producer_id: i64,
    brokers: BTreeMap<i32, BrokerImage>,
    next_broker_epoch: i64,
    offset: i64,
}

impl Default for MetadataImage {
    fn default() -> Self {
        MetadataImage {
            topics: BTreeMap::new(),
            topic_ids: BTreeMap::new(),
            next_producer_id: 0,
            brokers: BTreeMap::new(),
            next_broker_epoch: 1,
            offset: -1,
        }
    }
}

impl MetadataImage {
    /// Applies one record. Records that contradict the image (a partition of an unknown
    /// topic, a second topic with a taken name) are programmer errors: they were checked
    /// before they were written.
    pub fn replay(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::Topic { name, topic_id } => {
                assert!(!self.topic_ids.contains_key(name), "topic {name} already exists");
                self.topic_ids.insert(name.clone(), *topic_id);
                let topic = TopicImage {
                    name: name.clone(),
                    topic_id: *topic_id,
                    partitions: BTreeMap::new(),
                    configs: BTreeMap::new(),
                };
                self.topics.insert(*topic_id, topic);
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                elr,
                last_known_elr,
            } => {
                let topic = self.topics.get_mut(topic_id).expect("partition of a known topic");
                assert!(*partition >= 0, "partition index {partition}");
                assert!(!replicas.is_empty(), "a partition has replicas");
                let distinct = |list: &[i32]| {
                    list.iter().collect::<std::collections::BTreeSet<_>>().len() == list.len()
                };
                assert!(distinct(replicas), "replicas {replicas:?} are distinct");
                assert!(distinct(isr) && distinct(elr), "ISR {isr:?} and ELR {elr:?} are sets");
                for list in [isr, elr, last_known_elr] {
                    assert!(
                        list.iter().all(|r| replicas.contains(r)),
                        "{list:?} is a subset of the replicas {replicas:?}"
                    );
                }
                assert!(!isr.iter().any(|r| elr.contains(r)), "ISR {isr:?} and ELR {elr:?} meet");
                assert!(
                    *leader == -1 || isr.contains(leader),
                    "leader {leader} is in the ISR {isr:?}"
                );
                if let Some(old) = topic.partitions.get(partition) {
                    assert!(*leader_epoch >= old.leader_epoch, "leader epochs never go back");
                    assert!(
                        *partition_epoch > old.partition_epoch,
                        "partition epochs grow with each change"
                    );
                }
                topic.partitions.insert(
                    *partition,
                    PartitionImage {
                        partition: *partition,
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        partition_epoch: *partition_epoch,
                        elr: elr.clone(),
                        last_known_elr: last_known_elr.clone(),
                    },
                );
            }
            MetadataRecord::TopicConfig { topic_id, key, value } => {
                let topic = self.topics.get_mut(topic_id).expect("config of a known topic");
                match value {
                    Some(value) => topic.configs.insert(key.clone(), value.clone()),
                    None => topic.configs.remove(key),
                };
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let topic = self.topics.remove(topic_id).expect("removal of a known topic");
                self.topic_ids.remove(&topic.name);
            }
            MetadataRecord::ProducerIds { next_producer_id } => {
                assert!(
                    *next_producer_id > self.next_producer_id,
                    "producer ids are never handed out twice"
                );
                self.next_producer_id = *next_producer_id;
            }
            MetadataRecord::RegisterBroker {
                broker_id,
                broker_epoch,
                incarnation_id,
                listeners,
                rack,
                fenced,
            } => {
                assert!(*broker_id >= 0, "broker id {broker_id}");
                assert!(
                    *broker_epoch >= self.next_broker_epoch,
                    "broker epoch {broker_epoch} was handed out before (next {})",
                    self.next_broker_epoch
                );
                self.next_broker_epoch = broker_epoch + 1;
                self.brokers.insert(
                    *broker_id,
                    BrokerImage {
                        broker_id: *broker_id,
                        broker_epoch: *broker_epoch,
                        incarnation_id: *incarnation_id,
                        listeners: listeners.clone(),
                        rack: rack.clone(),
                        fenced: *fenced,
                        in_controlled_shutdown: false,
                    },
                );
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                let broker = self.brokers.get_mut(broker_id).expect("change of a known broker");
                assert_eq!(broker.broker_epoch, *broker_epoch, "change of broker {broker_id}");
                if let Some(fenced) = fenced {
                    broker.fenced = *fenced;
                }
                if let Some(in_controlled_shutdown) = in_controlled_shutdown {
                    broker.in_controlled_shutdown = *in_controlled_shutdown;
                }
            }
            MetadataRecord::UnregisterBroker { broker_id, broker_epoch } => {
                let broker = self.brokers.remove(broker_id).expect("removal of a known broker");
                assert_eq!(broker.broker_epoch, *broker_epoch, "removal of broker {broker_id}");
            }
        }
    }

    /// Records that every record up to `offset` (of the metadata log) has been replayed.
    /// The image itself does not know offsets: its owner (the Server, which owns the Raft
    /// log) says so after replaying. The controller reads it to decide when a registering
    /// broker has caught up.
    pub fn set_offset(&mut self, offset: i64) {
        assert!(
            offset >= self.offset,
            "the applied offset {offset} went back from {}",
            self.offset
        );
        self.offset = offset;
    }

    /// The offset of the last metadata record replayed, as set by [`Self::set_offset`]; -1
    /// before any.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Registered brokers in id order.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.values()
    }

    pub fn broker(&self, broker_id: i32) -> Option<&BrokerImage> {
        self.brokers.get(&broker_id)
    }

    /// Registered brokers that are not fenced, in id order.
    pub fn unfenced_brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// The broker epoch the next registration gets (epochs start at 1 and only grow).
    pub fn next_broker_epoch(&self) -> i64 {
        self.next_broker_epoch
    }

    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topic_ids.get(name).and_then(|id| self.topics.get(id))
    }

    pub fn topic_by_id(&self, topic_id: &Uuid) -> Option<&TopicImage> {
        self.topics.get(topic_id)
    }

    /// Topics in name order.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topic_ids.values().map(|id| &self.topics[id])
    }

    /// The first producer id not yet handed out.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_replay_into_topics_partitions_and_configs() {
        let id = Uuid::from_u128(7);
        let mut image = MetadataImage::default();
        image.replay(&MetadataRecord::Topic { name: "orders".into(), topic_id: id });
        for p in 0..2 {
            image.replay(&MetadataRecord::Partition {
                topic_id: id,
                partition: p,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                elr: vec![],
                last_known_elr: vec![],
            });
        }
        image.replay(&MetadataRecord::TopicConfig {
            topic_id: id,
            key: "retention.ms".into(),
            value: Some("1000".into()),
        });
        let topic = image.topic("orders").unwrap();
        assert_eq!(topic.partitions.len(), 2);
        assert_eq!(topic.configs["retention.ms"], "1000");
        image.replay(&MetadataRecord::RemoveTopic { topic_id: id });
        assert!(image.topic("orders").is_none());
        assert_eq!(image.topics().count(), 0);
    }

    #[test]
    fn records_serialize_as_tagged_json() {
        let record = MetadataRecord::ProducerIds { next_producer_id: 1000 };
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(json, r#"{"type":"ProducerIds","next_producer_id":1000}"#);
        assert_eq!(serde_json::from_str::<MetadataRecord>(&json).unwrap(), record);
        assert!(serde_json::from_str::<MetadataRecord>(
            r#"{"type":"ProducerIds","next_producer_id":1,"extra":2}"#
        )
        .is_err());
    }

    #[test]
    fn partition_records_from_before_the_elr_still_decode() {
        let id = Uuid::from_u128(7);
        let json = format!(
            r#"{{"type":"Partition","topic_id":"{id}","partition":0,"replicas":[1],"isr":[1],"leader":1,"leader_epoch":0,"partition_epoch":0}}"#
        );
        let record: MetadataRecord = serde_json::from_str(&json).unwrap();
        let MetadataRecord::Partition { elr, last_known_elr, .. } = &record else {
            panic!("{record:?}")
        };
        assert!(elr.is_empty() && last_known_elr.is_empty());
        assert_eq!(serde_json::to_string(&record).unwrap(), json, "empty ELRs are not written");
    }

    #[test]
    fn brokers_register_change_and_unregister() {
        let mut image = MetadataImage::default();
        assert_eq!(image.next_broker_epoch(), 1);
        assert_eq!(image.offset(), -1);
        let endpoint = BrokerEndpoint { name: "PLAINTEXT".into(), host: "b1".into(), port: 9092 };
        let register = MetadataRecord::RegisterBroker {
            broker_id: 1,
            broker_epoch: 1,
            incarnation_id: Uuid::from_u128(11),
            listeners: vec![endpoint],
            rack: None,
            fenced: true,
        };
        let json = serde_json::to_string(&register).unwrap();
        assert_eq!(serde_json::from_str::<MetadataRecord>(&json).unwrap(), register);
        image.replay(&register);
        assert_eq!(image.next_broker_epoch(), 2);
        assert!(image.broker(1).unwrap().fenced);
        assert_eq!(image.unfenced_brokers().count(), 0);
        image.replay(&MetadataRecord::BrokerRegistrationChange {
            broker_id: 1,
            broker_epoch: 1,
            fenced: Some(false),
            in_controlled_shutdown: None,
        });
        assert_eq!(image.unfenced_brokers().map(|b| b.broker_id).collect::<Vec<_>>(), [1]);
        image.set_offset(5);
        assert_eq!(image.offset(), 5);
        image.replay(&MetadataRecord::UnregisterBroker { broker_id: 1, broker_epoch: 1 });
        assert_eq!(image.brokers().count(), 0);
        assert_eq!(image.next_broker_epoch(), 2, "epochs are never handed out again");
    }
}
