//! Metadata: brokers, the controller, and topics with their partitions.
//!
//! A requested topic that does not exist is created when the request allows it (v4+, and
//! always before) and `auto.create.topics.enable` is on, with `num.partitions` partitions;
//! otherwise it is UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for an illegal name).
//!
//! A clustered broker answers from the committed image: every unfenced broker at the
//! endpoint of this broker's client listener, a live broker as the "controller" clients send
//! admin requests to (Kafka's KRaft brokers do the same, and forward them), leaders, replicas,
//! ISR, and as offline the replicas on brokers that are fenced or unregistered. A partition
//! with no leader is LEADER_NOT_AVAILABLE. Auto-creation asks the controller and answers
//! LEADER_NOT_AVAILABLE until the topic appears.

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
        let (brokers, controller_id) = self.metadata_brokers();
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
        let mut response = MetadataResponse::default().with_brokers(brokers).with_topics(topics);
        if version >= 1 {
            response = response.with_controller_id(WireBrokerId(controller_id));
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
        if self.is_clustered() {
            self.auto_create_topic(&name);
            return error(ErrorCode::LeaderNotAvailable, Some(name));
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

    /// The brokers a client may connect to, and the one it should treat as the controller.
    fn metadata_brokers(&self) -> (Vec<MetadataResponseBroker>, i32) {
        let own = self.config.advertised_endpoint().clone();
        let node = self.config.node_id.0;
        let entry = |id: i32, host: &str, port: u16| {
            MetadataResponseBroker::default()
                .with_node_id(WireBrokerId(id))
                .with_host(str_bytes(host))
                .with_port(i32::from(port))
        };
        if !self.is_clustered() {
            return (vec![entry(node, &own.host, own.port)], node);
        }
        let brokers: Vec<MetadataResponseBroker> = self
            .metadata
            .image()
            .unfenced_brokers()
            .filter_map(|b| {
                let endpoint = b.listeners.iter().find(|l| l.name == own.listener_name)?;
                Some(entry(b.broker_id, &endpoint.host, endpoint.port))
            })
            .collect();
        let alive = |id: i32| brokers.iter().any(|b| b.node_id.0 == id);
        let controller_id =
            if alive(node) { node } else { brokers.first().map_or(-1, |b| b.node_id.0) };
        (brokers, controller_id)
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
                let error_code = if p.leader < 0 && self.is_clustered() {
                    ErrorCode::LeaderNotAvailable.code()
                } else {
                    0
                };
                let image = self.metadata.image();
                let offline: Vec<WireBrokerId> = if self.is_clustered() {
                    p.replicas
                        .iter()
                        .filter(|&&r| image.broker(r).is_none_or(|b| b.fenced))
                        .copied()
                        .map(WireBrokerId)
                        .collect()
                } else {
                    Vec::new()
                };
                let response = MetadataResponsePartition::default()
                    .with_error_code(error_code)
                    .with_partition_index(p.partition)
                    .with_leader_id(WireBrokerId(p.leader))
                    .with_replica_nodes(p.replicas.iter().copied().map(WireBrokerId).collect())
                    .with_isr_nodes(p.isr.iter().copied().map(WireBrokerId).collect());
                let response = if version >= 5 {
                    // Replicas on fenced or unregistered brokers. A log that went offline on a
                    // live broker is not listed yet (it answers KAFKA_STORAGE_ERROR on use).
                    // Set explicitly so every v5+ answer carries the list.
                    response.with_offline_replicas(offline)
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
