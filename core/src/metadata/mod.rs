//! Cluster metadata as KRaft keeps it: a log of records, replayed into an image.
//!
//! Inputs: [`MetadataRecord`]s produced by request handlers (CreateTopics, DeleteTopics,
//! CreatePartitions, InitProducerId). Outputs: the [`MetadataImage`] every handler reads.
//! Invariants: the image is a pure function of the records replayed, in order; a change is
//! durable (appended and synced) before the image shows it, so a client never sees metadata
//! that a crash could take back. Records are stored as JSON values in RecordBatch v2 batches
//! of an ordinary partition log, `__cluster_metadata-0`; the controller quorum (issue 5)
//! replicates this same log.

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
    /// A partition of a topic was created, or its replicas, leader or ISR changed.
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
    },
    /// A topic config was set (`value` some) or removed (`value` none).
    TopicConfig { topic_id: Uuid, key: String, value: Option<String> },
    /// A topic and all its partitions were deleted.
    RemoveTopic { topic_id: Uuid },
    /// Producer ids below `next_producer_id` have been handed out.
    ProducerIds { next_producer_id: i64 },
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataImage {
    topics: BTreeMap<Uuid, TopicImage>,
    topic_ids: BTreeMap<String, Uuid>,
    next_producer_id: i64,
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
            } => {
                let topic = self.topics.get_mut(topic_id).expect("partition of a known topic");
                assert!(*partition >= 0, "partition index {partition}");
                assert!(!replicas.is_empty(), "a partition has replicas");
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
        }
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
}
