//! Admin APIs: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs,
//! InitProducerId, FindCoordinator.
//!
//! Errors are Kafka's, with Kafka's messages where clients show them: TOPIC_ALREADY_EXISTS,
//! INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT, INVALID_CONFIG,
//! INVALID_TOPIC_EXCEPTION, UNKNOWN_TOPIC_OR_PARTITION, TOPIC_DELETION_DISABLED,
//! POLICY_VIOLATION. Only one broker holds replicas at this stage, so any replication factor
//! above 1 is refused.

use super::{str_bytes, validate_topic_name, Broker, PRODUCER_ID_BLOCK_SIZE};
use crate::config::{ConfigSource, DescribedConfig, TopicConfig};
use crate::metadata::MetadataRecord;
use crate::protocol::ErrorCode;
use crate::storage::Storage;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    BrokerId as WireBrokerId, CreatePartitionsRequest, CreatePartitionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse, ProducerId, TopicName,
};
use std::collections::{BTreeMap, BTreeSet};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

type Refusal = (ErrorCode, String);

/// The most partitions one CreateTopics or CreatePartitions request may add, as Kafka's
/// controller (`MAX_PARTITIONS_PER_BATCH`, KAFKA-17870 and KAFKA-19673). Without it a single
/// request asking for 2^31-1 partitions made the broker build metadata for every one of them:
/// memory and disk exhaustion from one frame of bad input.
pub(crate) const MAX_PARTITIONS_PER_REQUEST: i64 = 10_000;
pub(crate) const TOO_MANY_PARTITIONS: &str = "Excessively large number of partitions per request.";

impl<S: Storage> Broker<S> {
    pub(super) fn handle_create_topics(
        &mut self,
        now_ms: i64,
        version: i16,
        request: CreateTopicsRequest,
    ) -> CreateTopicsResponse {
        // Kafka refuses the whole request, every topic with POLICY_VIOLATION.
        let partitions: i64 = request
            .topics
            .iter()
            .map(|topic| match (topic.assignments.len(), topic.num_partitions) {
                (0, -1) => i64::from(self.config.num_partitions),
                (0, n) => i64::from(n.max(0)),
                (assigned, _) => assigned as i64,
            })
            .sum();
        if partitions > MAX_PARTITIONS_PER_REQUEST {
            let topics = request.topics.into_iter().map(|topic| {
                let result = CreatableTopicResult::default().with_name(topic.name);
                refuse_topic(result, ErrorCode::PolicyViolation, TOO_MANY_PARTITIONS.into())
            });
            return CreateTopicsResponse::default().with_topics(topics.collect());
        }
        let mut seen = BTreeMap::<String, usize>::new();
        for topic in &request.topics {
            *seen.entry(topic.name.0.to_string()).or_default() += 1;
        }
        let mut results = Vec::with_capacity(request.topics.len());
        for topic in request.topics {
            let name = topic.name.0.to_string();
            let result = CreatableTopicResult::default().with_name(topic.name.clone());
            let outcome: Result<(i32, i16, TopicConfig), Refusal> = (|| {
                if seen[&name] > 1 {
                    return Err((
                        ErrorCode::InvalidRequest,
                        format!(
                            "Create topics request from client contains duplicate topic {name}"
                        ),
                    ));
                }
                validate_topic_name(&name).map_err(|m| (ErrorCode::InvalidTopicException, m))?;
                if self.metadata.image().topic(&name).is_some() {
                    return Err((
                        ErrorCode::TopicAlreadyExists,
                        format!("Topic '{name}' already exists."),
                    ));
                }
                let (partitions, replication_factor) = if topic.assignments.is_empty() {
                    let partitions = if topic.num_partitions == -1 {
                        self.config.num_partitions
                    } else {
                        topic.num_partitions
                    };
                    let replication_factor = if topic.replication_factor == -1 {
                        self.config.default_replication_factor
                    } else {
                        topic.replication_factor
                    };
                    (partitions, replication_factor)
                } else {
                    if topic.num_partitions != -1 || topic.replication_factor != -1 {
                        return Err((ErrorCode::InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into()));
                    }
                    self.check_assignments(topic.assignments.iter().map(|a| {
                        (a.partition_index, a.broker_ids.iter().map(|b| b.0).collect::<Vec<_>>())
                    }))?
                };
                if partitions < 1 {
                    return Err((
                        ErrorCode::InvalidPartitions,
                        "Number of partitions must be larger than 0.".into(),
                    ));
                }
                if replication_factor < 1 {
                    return Err((
                        ErrorCode::InvalidReplicationFactor,
                        "Replication factor must be larger than 0.".into(),
                    ));
                }
                if replication_factor > 1 {
                    return Err((
                        ErrorCode::InvalidReplicationFactor,
                        format!("Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only 1 broker(s) are registered."),
                    ));
                }
                let mut overrides = BTreeMap::new();
                for config in &topic.configs {
                    let value = config.value.as_ref().ok_or((
                        ErrorCode::InvalidConfig,
                        format!(
                            "Null value not supported for topic configs: {}",
                            config.name.as_str()
                        ),
                    ))?;
                    overrides.insert(config.name.to_string(), value.to_string());
                }
                let configs = TopicConfig::new(overrides)
                    .map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
                Ok((partitions, replication_factor, configs))
            })();
            results.push(match outcome {
                Err((code, message)) => refuse_topic(result, code, message),
                Ok((partitions, replication_factor, configs)) => {
                    let described = configs.describe(&self.config);
                    let created = if request.validate_only {
                        Ok(uuid::Uuid::nil())
                    } else {
                        self.create_topic(&name, partitions, configs, now_ms)
                    };
                    match created {
                        Err(message) => {
                            refuse_topic(result, ErrorCode::UnknownServerError, message)
                        }
                        Ok(topic_id) => {
                            let result = result.with_topic_id(topic_id);
                            if version >= 5 {
                                result
                                    .with_num_partitions(partitions)
                                    .with_replication_factor(replication_factor)
                                    .with_configs(Some(
                                        described.into_iter().map(creatable_config).collect(),
                                    ))
                            } else {
                                result
                            }
                        }
                    }
                }
            });
        }
        CreateTopicsResponse::default().with_topics(results)
    }

    /// Checks a manual replica assignment; returns (partitions, replication factor).
    fn check_assignments(
        &self,
        assignments: impl Iterator<Item = (i32, Vec<i32>)>,
    ) -> Result<(i32, i16), Refusal> {
        let mut indexes = BTreeSet::new();
        let mut replication_factor = None;
        for (index, brokers) in assignments {
            if brokers.iter().any(|&b| b != self.config.node_id.0) {
                return Err((ErrorCode::InvalidReplicaAssignment, format!("Partition {index}: replicas {brokers:?} name brokers that are not registered (only {}).", self.config.node_id)));
            }
            let unique: BTreeSet<_> = brokers.iter().collect();
            if brokers.is_empty()
                || unique.len() != brokers.len()
                || *replication_factor.get_or_insert(brokers.len()) != brokers.len()
            {
                return Err((ErrorCode::InvalidReplicaAssignment, format!("Partition {index}: replicas {brokers:?} are empty, repeated, or of a different count than other partitions.")));
            }
            indexes.insert(index);
        }
        let expected: BTreeSet<i32> = (0..indexes.len() as i32).collect();
        if indexes != expected {
            return Err((
                ErrorCode::InvalidReplicaAssignment,
                "Partitions should be a consecutive 0-based integer sequence".into(),
            ));
        }
        Ok((indexes.len() as i32, replication_factor.unwrap_or(0) as i16))
    }

    pub(super) fn handle_delete_topics(
        &mut self,
        now_ms: i64,
        version: i16,
        request: DeleteTopicsRequest,
    ) -> DeleteTopicsResponse {
        let asked: Vec<(Option<String>, uuid::Uuid)> = if version >= 6 {
            request
                .topics
                .into_iter()
                .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
                .collect()
        } else {
            request
                .topic_names
                .into_iter()
                .map(|n| (Some(n.0.to_string()), uuid::Uuid::nil()))
                .collect()
        };
        let mut responses = Vec::with_capacity(asked.len());
        for (name, topic_id) in asked {
            let found = match &name {
                Some(name) => self.metadata.image().topic(name).cloned(),
                None => self.metadata.image().topic_by_id(&topic_id).cloned(),
            };
            let result = DeletableTopicResult::default()
                .with_name(name.clone().map(|n| TopicName(str_bytes(n))))
                .with_topic_id(topic_id);
            let outcome: Result<(), Refusal> = (|| {
                if !self.config.delete_topic_enable {
                    return Err((
                        ErrorCode::TopicDeletionDisabled,
                        "Topic deletion is disabled.".into(),
                    ));
                }
                let image = found.ok_or_else(|| match &name {
                    Some(name) => (
                        ErrorCode::UnknownTopicOrPartition,
                        format!("This server does not host this topic: {name}"),
                    ),
                    None => (
                        ErrorCode::UnknownTopicId,
                        format!("This server does not host topic id {topic_id}"),
                    ),
                })?;
                self.metadata
                    .commit(vec![MetadataRecord::RemoveTopic { topic_id: image.topic_id }], now_ms)
                    .map_err(|e| (ErrorCode::UnknownServerError, e.to_string()))?;
                for partition in self.topics.remove(&image.name).unwrap_or_default().into_values() {
                    let topic_partition = partition.topic_partition().clone();
                    if let Err(error) = partition.delete() {
                        // The metadata no longer names it: the next start removes the directory.
                        tracing::error!(partition = %topic_partition, %error, "could not remove a deleted partition's directory");
                    }
                }
                tracing::info!(topic = %image.name, topic_id = %image.topic_id, "topic deleted");
                Ok(())
            })();
            responses.push(match outcome {
                Ok(()) => result,
                Err((code, message)) => {
                    let result = result.with_error_code(code.code());
                    if version >= 5 {
                        result.with_error_message(Some(str_bytes(message)))
                    } else {
                        result
                    }
                }
            });
        }
        DeleteTopicsResponse::default().with_responses(responses)
    }

    pub(super) fn handle_create_partitions(
        &mut self,
        now_ms: i64,
        request: CreatePartitionsRequest,
    ) -> CreatePartitionsResponse {
        let added: i64 = request
            .topics
            .iter()
            .map(|topic| {
                let image = self.metadata.image();
                let current = image.topic(topic.name.0.as_str()).map_or(0, |t| t.partitions.len());
                (i64::from(topic.count) - current as i64).max(0)
            })
            .sum();
        if added > MAX_PARTITIONS_PER_REQUEST {
            let results = request.topics.into_iter().map(|topic| {
                CreatePartitionsTopicResult::default()
                    .with_name(topic.name)
                    .with_error_code(ErrorCode::PolicyViolation.code())
                    .with_error_message(Some(str_bytes(TOO_MANY_PARTITIONS)))
            });
            return CreatePartitionsResponse::default().with_results(results.collect());
        }
        let mut results = Vec::with_capacity(request.topics.len());
        for topic in request.topics {
            let name = topic.name.0.to_string();
            let outcome: Result<(), Refusal> = (|| {
                let image = self.metadata.image().topic(&name).cloned().ok_or((
                    ErrorCode::UnknownTopicOrPartition,
                    format!("The topic '{name}' does not exist."),
                ))?;
                let current = image.partitions.len() as i32;
                if topic.count == current {
                    return Err((
                        ErrorCode::InvalidPartitions,
                        format!("Topic already has {current} partitions."),
                    ));
                }
                if topic.count < current {
                    return Err((ErrorCode::InvalidPartitions, format!("Topic currently has {current} partitions, which is higher than the requested {}.", topic.count)));
                }
                if let Some(assignments) = topic.assignments.as_ref().filter(|a| !a.is_empty()) {
                    if assignments.len() as i32 != topic.count - current {
                        return Err((ErrorCode::InvalidReplicaAssignment, format!("Increasing the number of partitions by {} but {} assignments provided.", topic.count - current, assignments.len())));
                    }
                    let numbered = assignments.iter().enumerate().map(|(i, a)| {
                        (i as i32, a.broker_ids.iter().map(|b| b.0).collect::<Vec<_>>())
                    });
                    self.check_assignments(numbered)?;
                }
                if request.validate_only {
                    return Ok(());
                }
                let node = self.config.node_id.0;
                let records = (current..topic.count)
                    .map(|partition| MetadataRecord::Partition {
                        topic_id: image.topic_id,
                        partition,
                        replicas: vec![node],
                        isr: vec![node],
                        leader: node,
                        leader_epoch: 0,
                        partition_epoch: 0,
                        elr: vec![],
                        last_known_elr: vec![],
                    })
                    .collect();
                self.commit_and_open(records, &name, now_ms)
                    .map_err(|m| (ErrorCode::UnknownServerError, m))?;
                tracing::info!(topic = %name, from = current, to = topic.count, "partitions added");
                Ok(())
            })();
            let result = CreatePartitionsTopicResult::default().with_name(topic.name);
            results.push(match outcome {
                Ok(()) => result,
                Err((code, message)) => {
                    result.with_error_code(code.code()).with_error_message(Some(str_bytes(message)))
                }
            });
        }
        CreatePartitionsResponse::default().with_results(results)
    }

    pub(super) fn handle_describe_configs(
        &self,
        version: i16,
        request: DescribeConfigsRequest,
    ) -> DescribeConfigsResponse {
        let mut results = Vec::with_capacity(request.resources.len());
        for resource in request.resources {
            let name = resource.resource_name.to_string();
            let described: Result<Vec<DescribedConfig>, Refusal> = match resource.resource_type {
                RESOURCE_TOPIC => match self.metadata.image().topic(&name) {
                    Some(image) => Ok(TopicConfig::new(image.configs.clone())
                        .expect("stored configs were validated")
                        .describe(&self.config)),
                    None => Err((
                        ErrorCode::UnknownTopicOrPartition,
                        format!("Topic '{name}' does not exist."),
                    )),
                },
                RESOURCE_BROKER if name.is_empty() || name == self.config.node_id.0.to_string() => {
                    Ok(self.config.describe())
                }
                RESOURCE_BROKER => Err((
                    ErrorCode::InvalidRequest,
                    format!(
                        "Unexpected broker id, expected {} or empty string, but received {name}",
                        self.config.node_id
                    ),
                )),
                other => {
                    Err((ErrorCode::InvalidRequest, format!("Unsupported resource type {other}")))
                }
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            results.push(match described {
                Err((code, message)) => {
                    result.with_error_code(code.code()).with_error_message(Some(str_bytes(message)))
                }
                Ok(configs) => {
                    let wanted: Option<BTreeSet<String>> = resource
                        .configuration_keys
                        .map(|keys| keys.iter().map(|k| k.to_string()).collect());
                    let configs = configs
                        .into_iter()
                        .filter(|c| wanted.as_ref().is_none_or(|w| w.contains(c.name)))
                        .map(|c| {
                            describe_entry(
                                c,
                                version,
                                request.include_synonyms,
                                request.include_documentation,
                            )
                        })
                        .collect();
                    result.with_configs(configs)
                }
            });
        }
        DescribeConfigsResponse::default().with_results(results)
    }

    /// Hands out a producer id (idempotence). Ids come from blocks recorded in the metadata
    /// log, so a restart never hands one out twice.
    pub(super) fn handle_init_producer_id(
        &mut self,
        now_ms: i64,
        request: InitProducerIdRequest,
    ) -> InitProducerIdResponse {
        let response = InitProducerIdResponse::default()
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        if request.transactional_id.is_some() {
            tracing::warn!(
                "InitProducerId with a transactional id: transactions are not supported yet"
            );
            return response.with_error_code(ErrorCode::InvalidRequest.code());
        }
        if request.producer_id.0 >= 0
            && request.producer_epoch >= 0
            && request.producer_epoch < i16::MAX
        {
            // KIP-360: an idempotent producer bumps its epoch to reset its sequences.
            return response
                .with_producer_id(request.producer_id)
                .with_producer_epoch(request.producer_epoch + 1);
        }
        if self.producer_ids.0 >= self.producer_ids.1 {
            let start = self.metadata.image().next_producer_id();
            let end = start + PRODUCER_ID_BLOCK_SIZE;
            if let Err(error) = self
                .metadata
                .commit(vec![MetadataRecord::ProducerIds { next_producer_id: end }], now_ms)
            {
                tracing::error!(%error, "could not allocate producer ids");
                return response.with_error_code(ErrorCode::UnknownServerError.code());
            }
            self.producer_ids = (start, end);
        }
        let id = self.producer_ids.0;
        self.producer_ids.0 += 1;
        response.with_producer_id(ProducerId(id)).with_producer_epoch(0)
    }
}

/// Groups and transactions have no coordinator yet: say so, without hanging the client.
pub(super) fn find_coordinator(
    version: i16,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let code = ErrorCode::CoordinatorNotAvailable.code();
    let message = "consumer groups and transactions are not supported yet";
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(WireBrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(message)))
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let response = FindCoordinatorResponse::default()
        .with_node_id(WireBrokerId(-1))
        .with_port(-1)
        .with_error_code(code);
    if version >= 1 {
        response.with_error_message(Some(str_bytes(message)))
    } else {
        response
    }
}

pub(crate) fn refuse_topic(
    result: CreatableTopicResult,
    code: ErrorCode,
    message: String,
) -> CreatableTopicResult {
    tracing::debug!(topic = %result.name.0.as_str(), ?code, %message, "create topic refused");
    result.with_error_code(code.code()).with_error_message(Some(str_bytes(message)))
}

pub(crate) fn creatable_config(c: DescribedConfig) -> CreatableTopicConfigs {
    CreatableTopicConfigs::default()
        .with_name(str_bytes(c.name))
        .with_value(Some(str_bytes(c.value)))
        .with_read_only(c.read_only)
        .with_config_source(c.source as i8)
}

fn describe_entry(
    c: DescribedConfig,
    version: i16,
    include_synonyms: bool,
    include_documentation: bool,
) -> DescribeConfigsResourceResult {
    let mut entry = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(c.name))
        .with_value(Some(str_bytes(c.value.clone())))
        .with_read_only(c.read_only)
        .with_config_source(c.source as i8);
    if include_synonyms && c.source != ConfigSource::DefaultConfig {
        entry = entry.with_synonyms(vec![DescribeConfigsSynonym::default()
            .with_name(str_bytes(c.name))
            .with_value(Some(str_bytes(c.value)))
            .with_source(c.source as i8)]);
    }
    if version >= 3 {
        entry = entry.with_config_type(c.value_type as i8);
        if include_documentation {
            entry = entry.with_documentation(Some(str_bytes(c.documentation)));
        }
    }
    entry
}
