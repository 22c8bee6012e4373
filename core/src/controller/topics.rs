//! CreateTopics, DeleteTopics and CreatePartitions, as the controller answers them for the
//! brokers that forward them.
//!
//! Inputs: the request and the scratch image. Outputs: Topic, TopicConfig, Partition and
//! RemoveTopic records, and Kafka's per-topic errors (TOPIC_ALREADY_EXISTS,
//! INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT, INVALID_CONFIG,
//! INVALID_TOPIC_EXCEPTION, UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_ID, POLICY_VIOLATION).
//! Invariants: a new partition's replicas are distinct registered brokers, its ISR is its
//! unfenced replicas and its leader the first of them, epochs 0; validate_only writes
//! nothing.

use super::placement::place;
use super::{partition_change::is_eligible, QuorumController, Scratch};
use crate::broker::admin::{
    creatable_config, refuse_topic, MAX_PARTITIONS_PER_REQUEST, TOO_MANY_PARTITIONS,
};
use crate::broker::{str_bytes, validate_topic_name};
use crate::config::TopicConfig;
use crate::metadata::{MetadataImage, MetadataRecord};
use crate::protocol::ErrorCode;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

type Refusal = (ErrorCode, String);

/// Brokers new replicas may be placed on: unfenced and not shutting down, in id order.
fn usable_brokers(image: &MetadataImage) -> Vec<i32> {
    image.brokers().map(|b| b.broker_id).filter(|&b| is_eligible(image, b)).collect()
}

fn total_partitions(image: &MetadataImage) -> usize {
    image.topics().map(|t| t.partitions.len()).sum()
}

fn not_enough_brokers(replication_factor: i64, usable: usize) -> Refusal {
    (
        ErrorCode::InvalidReplicationFactor,
        format!("Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only {usable} broker(s) are registered."),
    )
}

/// Checks a manual assignment (partition index → replicas) against the registered brokers;
/// all lists must be non-empty, distinct, of one length (`expected_rf` when given), and name
/// registered brokers of which at least one is unfenced.
fn check_assignment(
    image: &MetadataImage,
    index: i32,
    replicas: &[i32],
    expected_rf: Option<usize>,
) -> Result<(), Refusal> {
    let unique: BTreeSet<_> = replicas.iter().collect();
    if replicas.is_empty()
        || unique.len() != replicas.len()
        || expected_rf.is_some_and(|rf| rf != replicas.len())
    {
        return Err((ErrorCode::InvalidReplicaAssignment, format!("Partition {index}: replicas {replicas:?} are empty, repeated, or of a different count than other partitions.")));
    }
    if let Some(missing) = replicas.iter().find(|&&b| image.broker(b).is_none()) {
        return Err((ErrorCode::InvalidReplicaAssignment, format!("The manual partition assignment includes broker {missing}, but no such broker is registered.")));
    }
    if !replicas.iter().any(|&b| is_eligible(image, b)) {
        return Err((ErrorCode::InvalidReplicaAssignment, format!("All brokers specified in the partition assignment for partition {index} are fenced or in controlled shutdown.")));
    }
    Ok(())
}

/// A new partition's record: ISR = its eligible replicas, leader = the first of them.
fn new_partition(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    replicas: Vec<i32>,
) -> MetadataRecord {
    let isr: Vec<i32> = replicas.iter().copied().filter(|&b| is_eligible(image, b)).collect();
    MetadataRecord::Partition {
        topic_id,
        partition,
        leader: isr.first().copied().unwrap_or(-1),
        replicas,
        isr,
        leader_epoch: 0,
        partition_epoch: 0,
        elr: vec![],
        last_known_elr: vec![],
    }
}

/// SplitMix64's finaliser: spreads the bits of `x`.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl QuorumController {
    /// A new topic id: a deterministic function of the inputs (time, node, image offset, how
    /// many topics this controller created, the name), never nil and never one the image
    /// holds, so a topic deleted and created again gets a new id.
    fn new_topic_id(&mut self, now_ms: i64, image: &MetadataImage, name: &str) -> Uuid {
        loop {
            self.topics_created += 1;
            let mut h = mix(now_ms as u64 ^ mix(image.offset() as u64));
            h = mix(h ^ (self.config.node_id as u64) ^ (self.topics_created << 32));
            for chunk in name.as_bytes().chunks(8) {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                h = mix(h ^ u64::from_le_bytes(word));
            }
            let low = mix(h ^ 0x5bd1_e995);
            let id = uuid::Builder::from_random_bytes(
                (u128::from(h) << 64 | u128::from(low)).to_be_bytes(),
            )
            .into_uuid();
            if !id.is_nil() && image.topic_by_id(&id).is_none() {
                return id;
            }
        }
    }

    pub(super) fn create_topics(
        &mut self,
        now_ms: i64,
        scratch: &mut Scratch<'_>,
        request: &CreateTopicsRequest,
        version: i16,
    ) -> CreateTopicsResponse {
        let partitions: i64 = request
            .topics
            .iter()
            .map(|topic| match (topic.assignments.len(), topic.num_partitions) {
                (0, -1) => i64::from(self.config.default_num_partitions),
                (0, n) => i64::from(n.max(0)),
                (assigned, _) => assigned as i64,
            })
            .sum();
        if partitions > MAX_PARTITIONS_PER_REQUEST {
            let topics = request.topics.iter().map(|topic| {
                let result = CreatableTopicResult::default().with_name(topic.name.clone());
                refuse_topic(result, ErrorCode::PolicyViolation, TOO_MANY_PARTITIONS.into())
            });
            return CreateTopicsResponse::default().with_topics(topics.collect());
        }
        let mut seen = BTreeMap::<String, usize>::new();
        for topic in &request.topics {
            *seen.entry(topic.name.0.to_string()).or_default() += 1;
        }
        let mut results = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let name = topic.name.0.to_string();
            let result = CreatableTopicResult::default().with_name(topic.name.clone());
            let image = scratch.image();
            let outcome: Result<(Vec<Vec<i32>>, i16, TopicConfig), Refusal> = (|| {
                if seen[&name] > 1 {
                    return Err((
                        ErrorCode::InvalidRequest,
                        format!(
                            "Create topics request from client contains duplicate topic {name}"
                        ),
                    ));
                }
                validate_topic_name(&name).map_err(|m| (ErrorCode::InvalidTopicException, m))?;
                if image.topic(&name).is_some() {
                    return Err((
                        ErrorCode::TopicAlreadyExists,
                        format!("Topic '{name}' already exists."),
                    ));
                }
                let assignment = if topic.assignments.is_empty() {
                    let partitions = if topic.num_partitions == -1 {
                        self.config.default_num_partitions
                    } else {
                        topic.num_partitions
                    };
                    let replication_factor = if topic.replication_factor == -1 {
                        self.config.default_replication_factor
                    } else {
                        topic.replication_factor
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
                    let usable = usable_brokers(image);
                    if replication_factor as usize > usable.len() {
                        return Err(not_enough_brokers(replication_factor.into(), usable.len()));
                    }
                    place(
                        &usable,
                        total_partitions(image),
                        partitions as usize,
                        replication_factor as usize,
                    )
                } else {
                    if topic.num_partitions != -1 || topic.replication_factor != -1 {
                        return Err((ErrorCode::InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into()));
                    }
                    let mut by_index = BTreeMap::new();
                    for a in &topic.assignments {
                        let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
                        let rf = by_index.values().next().map(Vec::len);
                        check_assignment(image, a.partition_index, &replicas, rf)?;
                        by_index.insert(a.partition_index, replicas);
                    }
                    if !by_index.keys().copied().eq(0..by_index.len() as i32) {
                        return Err((
                            ErrorCode::InvalidReplicaAssignment,
                            "Partitions should be a consecutive 0-based integer sequence".into(),
                        ));
                    }
                    by_index.into_values().collect()
                };
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
                let replication_factor = assignment[0].len() as i16;
                Ok((assignment, replication_factor, configs))
            })();
            results.push(match outcome {
                Err((code, message)) => refuse_topic(result, code, message),
                Ok((assignment, replication_factor, configs)) => {
                    let described = configs.describe_on(&self.config.topic_defaults);
                    let partitions = assignment.len() as i32;
                    let topic_id = if request.validate_only {
                        Uuid::nil()
                    } else {
                        let topic_id = self.new_topic_id(now_ms, scratch.image(), &name);
                        scratch.push(MetadataRecord::Topic { name: name.clone(), topic_id });
                        for (key, value) in configs.overrides() {
                            scratch.push(MetadataRecord::TopicConfig {
                                topic_id,
                                key: key.clone(),
                                value: Some(value.clone()),
                            });
                        }
                        for (index, replicas) in assignment.into_iter().enumerate() {
                            let record =
                                new_partition(scratch.image(), topic_id, index as i32, replicas);
                            scratch.push(record);
                        }
                        tracing::info!(topic = %name, partitions, %topic_id, "topic created");
                        topic_id
                    };
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
            });
        }
        CreateTopicsResponse::default().with_topics(results)
    }

    pub(super) fn delete_topics(
        &mut self,
        scratch: &mut Scratch<'_>,
        request: &DeleteTopicsRequest,
        version: i16,
    ) -> DeleteTopicsResponse {
        let asked: Vec<(Option<String>, Uuid)> = if version >= 6 {
            request
                .topics
                .iter()
                .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
                .collect()
        } else {
            request.topic_names.iter().map(|n| (Some(n.0.to_string()), Uuid::nil())).collect()
        };
        let mut responses = Vec::with_capacity(asked.len());
        for (name, topic_id) in asked {
            let image = scratch.image();
            let found = if topic_id.is_nil() {
                name.as_deref().and_then(|n| image.topic(n))
            } else {
                image.topic_by_id(&topic_id)
            };
            let outcome = match found {
                Some(topic) => Ok((topic.name.clone(), topic.topic_id)),
                None if topic_id.is_nil() => Err((
                    ErrorCode::UnknownTopicOrPartition,
                    format!(
                        "This server does not host this topic: {}",
                        name.as_deref().unwrap_or("")
                    ),
                )),
                None => Err((
                    ErrorCode::UnknownTopicId,
                    format!("This server does not host topic id {topic_id}"),
                )),
            };
            let response = match outcome {
                Ok((found_name, found_id)) => {
                    scratch.push(MetadataRecord::RemoveTopic { topic_id: found_id });
                    tracing::info!(topic = %found_name, topic_id = %found_id, "topic deleted");
                    DeletableTopicResult::default()
                        .with_name(Some(TopicName(str_bytes(found_name))))
                        .with_topic_id(found_id)
                }
                Err((code, message)) => {
                    let result = DeletableTopicResult::default()
                        .with_name(name.map(|n| TopicName(str_bytes(n))))
                        .with_topic_id(topic_id)
                        .with_error_code(code.code());
                    if version >= 5 {
                        result.with_error_message(Some(str_bytes(message)))
                    } else {
                        result
                    }
                }
            };
            responses.push(response);
        }
        DeleteTopicsResponse::default().with_responses(responses)
    }

    pub(super) fn create_partitions(
        &mut self,
        scratch: &mut Scratch<'_>,
        request: &CreatePartitionsRequest,
    ) -> CreatePartitionsResponse {
        let added: i64 = request
            .topics
            .iter()
            .map(|topic| {
                let current =
                    scratch.image().topic(topic.name.0.as_str()).map_or(0, |t| t.partitions.len());
                (i64::from(topic.count) - current as i64).max(0)
            })
            .sum();
        if added > MAX_PARTITIONS_PER_REQUEST {
            let results = request.topics.iter().map(|topic| {
                CreatePartitionsTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_error_code(ErrorCode::PolicyViolation.code())
                    .with_error_message(Some(str_bytes(TOO_MANY_PARTITIONS)))
            });
            return CreatePartitionsResponse::default().with_results(results.collect());
        }
        let mut results = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let name = topic.name.0.to_string();
            let image = scratch.image();
            let outcome: Result<(Uuid, i32, Vec<Vec<i32>>), Refusal> = (|| {
                let existing = image.topic(&name).ok_or((
                    ErrorCode::UnknownTopicOrPartition,
                    format!("The topic '{name}' does not exist."),
                ))?;
                let current = existing.partitions.len() as i32;
                if topic.count == current {
                    return Err((
                        ErrorCode::InvalidPartitions,
                        format!("Topic already has {current} partitions."),
                    ));
                }
                if topic.count < current {
                    return Err((ErrorCode::InvalidPartitions, format!("Topic currently has {current} partitions, which is higher than the requested {}.", topic.count)));
                }
                let replication_factor =
                    existing.partitions.values().next().map_or(1, |p| p.replicas.len());
                let new = (topic.count - current) as usize;
                let assignment = match topic.assignments.as_ref().filter(|a| !a.is_empty()) {
                    Some(assignments) => {
                        if assignments.len() != new {
                            return Err((ErrorCode::InvalidReplicaAssignment, format!("Increasing the number of partitions by {new} but {} assignments provided.", assignments.len())));
                        }
                        let mut placed = Vec::with_capacity(new);
                        for (i, a) in assignments.iter().enumerate() {
                            let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
                            let index = current + i as i32;
                            check_assignment(image, index, &replicas, Some(replication_factor))?;
                            placed.push(replicas);
                        }
                        placed
                    }
                    None => {
                        let usable = usable_brokers(image);
                        if replication_factor > usable.len() {
                            return Err(not_enough_brokers(
                                replication_factor as i64,
                                usable.len(),
                            ));
                        }
                        place(&usable, total_partitions(image), new, replication_factor)
                    }
                };
                Ok((existing.topic_id, current, assignment))
            })();
            let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            results.push(match outcome {
                Ok((topic_id, current, assignment)) => {
                    if !request.validate_only {
                        for (i, replicas) in assignment.into_iter().enumerate() {
                            let index = current + i as i32;
                            let record = new_partition(scratch.image(), topic_id, index, replicas);
                            scratch.push(record);
                        }
                        tracing::info!(topic = %name, from = current, to = topic.count, "partitions added");
                    }
                    result
                }
                Err((code, message)) => {
                    result.with_error_code(code.code()).with_error_message(Some(str_bytes(message)))
                }
            });
        }
        CreatePartitionsResponse::default().with_results(results)
    }
}
