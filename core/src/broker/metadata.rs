//! Metadata: brokers, the controller, and topics with their partitions.
//!
//! A requested topic that does not exist is created when the request allows it (v4+, and
//! always before) and `auto.create.topics.enable` is on, with `num.partitions` partitions;
//! otherwise it is UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for an illegal name).

use super::{str_bytes, validate_topic_name, Broker};
use crate::config::TopicConfig;
use crate::metadata::TopicImage;
use crate::protocol::ErrorCode;
use crate::storage::Storage;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId as WireBrokerId, MetadataRequest, MetadataResponse, TopicName,
};

/// Topic operations reported when a client asks (no authorizer: everything is allowed):
/// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
const ALL_TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

impl<S: Storage> Broker<S> {
    pub(super) fn handle_metadata(
        &mut self,
        now_ms: i64,
        version: i16,
        request: MetadataRequest,
    ) -> MetadataResponse {
        let endpoint = self.config.advertised_endpoint().clone();
        let node = self.config.node_id.0;
        let broker = MetadataResponseBroker::default()
            .with_node_id(WireBrokerId(node))
            .with_host(str_bytes(endpoint.host))
            .with_port(i32::from(endpoint.port));
        let allow_auto_create = (version < 4 || request.allow_auto_topic_creation)
            && self.config.auto_create_topics_enable;
        let asked: Option<Vec<(Option<String>, uuid::Uuid)>> = match request.topics {
            // v0 asks for every topic with an empty list; later versions with null.
            Some(topics) if !(version == 0 && topics.is_empty()) => Some(
                topics.into_iter().map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id)).collect(),
            ),
            _ => None,
        };
        let topics = match asked {
            None => self
                .metadata
                .image()
                .topics()
                .map(|image| {
                    self.describe_topic(image, version, request.include_topic_authorized_operations)
                })
                .collect(),
            Some(asked) => asked
                .into_iter()
                .map(|(name, topic_id)| {
                    self.metadata_for(
                        now_ms,
                        version,
                        name,
                        topic_id,
                        allow_auto_create,
                        request.include_topic_authorized_operations,
                    )
                })
                .collect(),
        };
        let mut response =
            MetadataResponse::default().with_brokers(vec![broker]).with_topics(topics);
        if version >= 1 {
            response = response.with_controller_id(WireBrokerId(node));
        }
        if version >= 2 {
            response = response.with_cluster_id(Some(str_bytes(self.cluster_id.clone())));
        }
        response
    }

    fn metadata_for(
        &mut self,
        now_ms: i64,
        version: i16,
        name: Option<String>,
        topic_id: uuid::Uuid,
        allow_auto_create: bool,
        include_operations: bool,
    ) -> MetadataResponseTopic {
        let error = |code: ErrorCode, name: Option<String>| {
            MetadataResponseTopic::default()
                .with_error_code(code.code())
                .with_name(name.map(|n| TopicName(str_bytes(n))))
                .with_topic_id(topic_id)
        };
        let Some(name) = name else {
            // Asked by topic id (v10+).
            return match self.metadata.image().topic_by_id(&topic_id) {
                Some(image) => self.describe_topic(image, version, include_operations),
                None => error(ErrorCode::UnknownTopicId, None),
            };
        };
        if let Some(image) = self.metadata.image().topic(&name) {
            return self.describe_topic(image, version, include_operations);
        }
        if let Err(reason) = validate_topic_name(&name) {
            tracing::debug!(topic = %name, %reason, "metadata for an illegal topic name");
            return error(ErrorCode::InvalidTopicException, Some(name));
        }
        if !allow_auto_create {
            return error(ErrorCode::UnknownTopicOrPartition, Some(name));
        }
        if i32::from(self.config.default_replication_factor) > 1 {
            // Only one broker can hold replicas at this stage.
            tracing::warn!(topic = %name, replication_factor = self.config.default_replication_factor, "cannot auto-create: not enough brokers");
            return error(ErrorCode::InvalidReplicationFactor, Some(name));
        }
        match self.create_topic(&name, self.config.num_partitions, TopicConfig::default(), now_ms) {
            Ok(_) => {
                let image = self.metadata.image().topic(&name).expect("just created");
                self.describe_topic(image, version, include_operations)
            }
            Err(_) => error(ErrorCode::UnknownServerError, Some(name)),
        }
    }

    fn describe_topic(
        &self,
        image: &TopicImage,
        version: i16,
        include_operations: bool,
    ) -> MetadataResponseTopic {
        let partitions = image
            .partitions
            .values()
            .map(|p| {
                let response = MetadataResponsePartition::default()
                    .with_partition_index(p.partition)
                    .with_leader_id(WireBrokerId(p.leader))
                    .with_replica_nodes(p.replicas.iter().copied().map(WireBrokerId).collect())
                    .with_isr_nodes(p.isr.iter().copied().map(WireBrokerId).collect());
                let response = if version >= 5 {
                    // Replicas whose log is offline on a live broker. Not tracked yet: a log
                    // that went offline after a storage error answers KAFKA_STORAGE_ERROR on
                    // use instead. Set explicitly so every v5+ answer carries the list.
                    response.with_offline_replicas(Vec::new())
                } else {
                    response
                };
                if version >= 7 {
                    response.with_leader_epoch(p.leader_epoch)
                } else {
                    response
                }
            })
            .collect();
        let topic = MetadataResponseTopic::default()
            .with_name(Some(TopicName(str_bytes(image.name.clone()))))
            .with_topic_id(image.topic_id)
            .with_partitions(partitions);
        if version >= 8 && include_operations {
            topic.with_topic_authorized_operations(ALL_TOPIC_OPERATIONS)
        } else {
            topic
        }
    }
}
