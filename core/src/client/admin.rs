//! Admin operations: topics, partitions, configs, offsets.
//!
//! Inputs: admin calls; CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs,
//! Metadata and ListOffsets responses. Outputs: per-topic results that carry the Kafka error
//! code and the server's message, or a [`ClientError`] for the call as a whole.
//! Invariants: topic-changing requests go to the controller named by metadata (any broker
//! when none is named; KRaft brokers forward) and are retried after a metadata refresh on
//! NOT_CONTROLLER or a lost connection, within `request_timeout_ms`; results are keyed by
//! topic name in a BTreeMap so their order is stable.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::cluster::{ListedOffset, OffsetSpec};
use super::{ClientConfig, ClientError, Cluster, Connection, ErrorCode, Result};
use crate::types::{BrokerId, LeaderEpoch, TopicId, TopicPartition};

/// A topic to create.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    /// -1: the broker's `num.partitions`.
    pub num_partitions: i32,
    /// -1: the broker's `default.replication.factor`.
    pub replication_factor: i16,
    /// Topic configs by Kafka key (`cleanup.policy`, `min.insync.replicas`, ...).
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    pub fn new(name: impl Into<String>, num_partitions: i32, replication_factor: i16) -> Self {
        NewTopic { name: name.into(), num_partitions, replication_factor, configs: BTreeMap::new() }
    }

    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// A topic in `list_topics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicListing {
    pub name: String,
    pub is_internal: bool,
    pub partition_count: i32,
}

/// One partition in `describe_topics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionDescription {
    pub partition: i32,
    /// `None` while the partition has no leader.
    pub leader: Option<BrokerId>,
    pub leader_epoch: LeaderEpoch,
    /// Every replica, the preferred leader first.
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    pub offline_replicas: Vec<BrokerId>,
    /// Eligible leader replicas (KIP-966). `None`: not known, because the description came
    /// from a Metadata response, which does not carry them (DescribeTopicPartitions does).
    pub elr: Option<Vec<BrokerId>>,
    /// Last known eligible leader replicas (KIP-966); `None` as for `elr`.
    pub last_known_elr: Option<Vec<BrokerId>>,
}

/// A topic in `describe_topics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    /// `None` when the broker sends no topic id (Metadata before v10).
    pub topic_id: Option<TopicId>,
    pub is_internal: bool,
    /// In partition order.
    pub partitions: Vec<PartitionDescription>,
}

/// What `describe_configs` describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigResource {
    Topic(String),
    Broker(BrokerId),
}

impl ConfigResource {
    fn wire(&self) -> (i8, String) {
        match self {
            ConfigResource::Topic(name) => (2, name.clone()),
            ConfigResource::Broker(id) => (4, id.0.to_string()),
        }
    }
}

/// Where a config value comes from (DescribeConfigs v1+ `config_source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic,
    DynamicBroker,
    DynamicDefaultBroker,
    StaticBroker,
    Default,
    DynamicBrokerLogger,
    ClientMetrics,
    Group,
    Unknown(i8),
}

impl ConfigSource {
    fn from_wire(source: i8) -> Self {
        match source {
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            7 => ConfigSource::ClientMetrics,
            8 => ConfigSource::Group,
            other => ConfigSource::Unknown(other),
        }
    }
}

/// One config entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for sensitive or unset values.
    pub value: Option<String>,
    pub read_only: bool,
    /// The value is the default (source is `Default`).
    pub is_default: bool,
    pub source: ConfigSource,
    pub sensitive: bool,
}

/// Per-topic outcomes of a batch admin call.
pub type TopicResults<T = ()> = BTreeMap<String, Result<T>>;

/// An admin client.
pub struct Admin {
    cluster: Cluster,
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

impl Admin {
    /// Validates the config. Connects on first use. Its metadata requests never create
    /// topics (Kafka's admin client behaves the same), whatever `allow_auto_create_topics`
    /// says, so describing a missing topic reports it missing.
    pub fn new(config: ClientConfig) -> Result<Admin> {
        let config = ClientConfig { allow_auto_create_topics: false, ..config };
        Ok(Admin { cluster: Cluster::new(config)? })
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.cluster.config().request_timeout_ms)
    }

    /// Runs `call` against the controller, refreshing metadata and retrying on NOT_CONTROLLER
    /// and connection errors until `request_timeout_ms` has passed.
    async fn with_controller<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T>
    where
        F: FnMut(Connection) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let deadline = self.deadline();
        let backoff = Duration::from_millis(self.cluster.config().retry_backoff_ms);
        loop {
            let attempt = async { call(self.cluster.controller_connection().await?).await };
            let error = match attempt.await {
                Ok(value) => return Ok(value),
                Err(e) if e.is_retriable() || e.code() == Some(ErrorCode::NotController) => e,
                Err(e) => return Err(e),
            };
            let now = Instant::now();
            if now + backoff >= deadline {
                return Err(ClientError::Timeout {
                    what: format!(
                        "{what} within request_timeout_ms={} (last error: {error})",
                        self.cluster.config().request_timeout_ms
                    ),
                });
            }
            tokio::time::sleep(backoff).await;
            let _ = self.cluster.refresh(Some(&[])).await;
        }
    }

    /// Creates topics; `validate_only` checks without creating. One result per topic.
    pub async fn create_topics(
        &self,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Result<TopicResults> {
        let timeout_ms =
            i32::try_from(self.cluster.config().request_timeout_ms).unwrap_or(i32::MAX);
        let creatable: Vec<CreatableTopic> = topics
            .iter()
            .map(|t| {
                CreatableTopic::default()
                    .with_name(topic_name(&t.name))
                    .with_num_partitions(t.num_partitions)
                    .with_replication_factor(t.replication_factor)
                    .with_configs(
                        t.configs
                            .iter()
                            .map(|(k, v)| {
                                CreatableTopicConfig::default()
                                    .with_name(StrBytes::from_string(k.clone()))
                                    .with_value(Some(StrBytes::from_string(v.clone())))
                            })
                            .collect(),
                    )
            })
            .collect();
        let response = self
            .with_controller("CreateTopics", |connection| {
                let creatable = creatable.clone();
                async move {
                    let version = connection.version(ApiKey::CreateTopics)?;
                    let request = CreateTopicsRequest::default()
                        .with_topics(creatable)
                        .with_timeout_ms(timeout_ms)
                        .with_validate_only(validate_only);
                    let response = connection.request(&request, version).await?;
                    // NOT_CONTROLLER for any topic means the whole request went to the wrong node.
                    if response
                        .topics
                        .iter()
                        .any(|t| t.error_code == ErrorCode::NotController.code())
                    {
                        return Err(ClientError::Kafka {
                            code: ErrorCode::NotController,
                            message: None,
                            context: "CreateTopics".into(),
                        });
                    }
                    Ok(response)
                }
            })
            .await?;
        let mut results: TopicResults = BTreeMap::new();
        for t in &response.topics {
            let name = t.name.0.as_str().to_string();
            let message = t.error_message.as_ref().map(|m| m.as_str());
            let outcome = match ClientError::from_code(t.error_code, message, || {
                format!("create topic {name}")
            }) {
                Some(e) => Err(e),
                None => Ok(()),
            };
            results.insert(name, outcome);
        }
        for t in topics {
            results.entry(t.name.clone()).or_insert_with(|| {
                Err(ClientError::protocol(
                    "CreateTopics response",
                    format!("no result for topic {}", t.name),
                ))
            });
        }
        Ok(results)
    }

    /// Deletes topics by name. One result per topic.
    pub async fn delete_topics(&self, names: Vec<String>) -> Result<TopicResults> {
        let timeout_ms =
            i32::try_from(self.cluster.config().request_timeout_ms).unwrap_or(i32::MAX);
        let response = self
            .with_controller("DeleteTopics", |connection| {
                let names = names.clone();
                async move {
                    let version = connection.version(ApiKey::DeleteTopics)?;
                    let mut request = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
                    // v6 lists topics as (name, id) states; before that, as plain names.
                    if version >= 6 {
                        request = request.with_topics(
                            names
                                .iter()
                                .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
                                .collect(),
                        );
                    } else {
                        request =
                            request.with_topic_names(names.iter().map(|n| topic_name(n)).collect());
                    }
                    let response = connection.request(&request, version).await?;
                    if response
                        .responses
                        .iter()
                        .any(|t| t.error_code == ErrorCode::NotController.code())
                    {
                        return Err(ClientError::Kafka {
                            code: ErrorCode::NotController,
                            message: None,
                            context: "DeleteTopics".into(),
                        });
                    }
                    Ok(response)
                }
            })
            .await?;
        let mut results: TopicResults = BTreeMap::new();
        for t in &response.responses {
            let Some(name) = t.name.as_ref().map(|n| n.0.as_str().to_string()) else { continue };
            let message = t.error_message.as_ref().map(|m| m.as_str());
            let outcome = match ClientError::from_code(t.error_code, message, || {
                format!("delete topic {name}")
            }) {
                Some(e) => Err(e),
                None => Ok(()),
            };
            results.insert(name, outcome);
        }
        for name in names {
            results.entry(name.clone()).or_insert_with(|| {
                Err(ClientError::protocol(
                    "DeleteTopics response",
                    format!("no result for topic {name}"),
                ))
            });
        }
        Ok(results)
    }

    /// All topics in the cluster, by name.
    pub async fn list_topics(&self) -> Result<Vec<TopicListing>> {
        let md = self.cluster.refresh(None).await?;
        Ok(md
            .topics
            .values()
            .filter(|t| t.error.is_none())
            .map(|t| TopicListing {
                name: t.name.clone(),
                is_internal: t.is_internal,
                partition_count: t.partition_count(),
            })
            .collect())
    }

    /// Describes topics from fresh metadata (a Metadata request: no eligible leader replicas).
    /// Unknown topics get their Kafka error.
    pub async fn describe_topics(
        &self,
        names: Vec<String>,
    ) -> Result<TopicResults<TopicDescription>> {
        let md = self.cluster.refresh(Some(&names)).await?;
        let mut results = BTreeMap::new();
        for name in names {
            let outcome = match md.topics.get(&name) {
                None => Err(ClientError::Kafka {
                    code: ErrorCode::UnknownTopicOrPartition,
                    message: None,
                    context: format!("describe topic {name}"),
                }),
                Some(t) => match t.error {
                    Some(code) => Err(ClientError::Kafka {
                        code,
                        message: None,
                        context: format!("describe topic {name}"),
                    }),
                    None => Ok(TopicDescription {
                        name: t.name.clone(),
                        topic_id: t.topic_id,
                        is_internal: t.is_internal,
                        partitions: t
                            .partitions
                            .values()
                            .map(|p| PartitionDescription {
                                partition: p.partition,
                                leader: p.leader,
                                leader_epoch: p.leader_epoch,
                                replicas: p.replicas.clone(),
                                isr: p.isr.clone(),
                                offline_replicas: p.offline_replicas.clone(),
                                elr: None,
                                last_known_elr: None,
                            })
                            .collect(),
                    }),
                },
            };
            results.insert(name, outcome);
        }
        Ok(results)
    }

    /// Grows `topic` to `total_count` partitions.
    pub async fn create_partitions(&self, topic: &str, total_count: i32) -> Result<()> {
        let timeout_ms =
            i32::try_from(self.cluster.config().request_timeout_ms).unwrap_or(i32::MAX);
        let response = self
            .with_controller("CreatePartitions", |connection| async move {
                let version = connection.version(ApiKey::CreatePartitions)?;
                let request = CreatePartitionsRequest::default()
                    .with_timeout_ms(timeout_ms)
                    .with_topics(vec![
                        // assignments null: the controller places the new replicas.
                        CreatePartitionsTopic::default()
                            .with_name(topic_name(topic))
                            .with_count(total_count)
                            .with_assignments(None),
                    ]);
                let response = connection.request(&request, version).await?;
                if response.results.iter().any(|r| r.error_code == ErrorCode::NotController.code())
                {
                    return Err(ClientError::Kafka {
                        code: ErrorCode::NotController,
                        message: None,
                        context: "CreatePartitions".into(),
                    });
                }
                Ok(response)
            })
            .await?;
        let result =
            response.results.iter().find(|r| r.name.0.as_str() == topic).ok_or_else(|| {
                ClientError::protocol(
                    "CreatePartitions response",
                    format!("no result for topic {topic}"),
                )
            })?;
        let message = result.error_message.as_ref().map(|m| m.as_str());
        match ClientError::from_code(result.error_code, message, || {
            format!("create partitions for {topic}")
        }) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Describes every config of a topic or broker.
    pub async fn describe_configs(&self, resource: ConfigResource) -> Result<Vec<ConfigEntry>> {
        let (resource_type, resource_name) = resource.wire();
        let connection = match &resource {
            // Broker configs come from that broker; topic configs from anyone.
            ConfigResource::Broker(id) => {
                if !self.cluster.metadata().brokers.contains_key(id) {
                    self.cluster.refresh(Some(&[])).await?;
                }
                self.cluster.connection(*id).await?
            }
            ConfigResource::Topic(_) => self.cluster.any_connection().await?,
        };
        let version = connection.version(ApiKey::DescribeConfigs)?;
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(resource_name.clone()))
                // null: all keys (an empty list would mean none).
                .with_configuration_keys(None),
        ]);
        let response = connection.request(&request, version).await?;
        let result = response.results.first().ok_or_else(|| {
            ClientError::protocol("DescribeConfigs response", format!("no result for {resource:?}"))
        })?;
        let message = result.error_message.as_ref().map(|m| m.as_str());
        if let Some(e) = ClientError::from_code(result.error_code, message, || {
            format!("describe configs of {resource:?}")
        }) {
            return Err(e);
        }
        Ok(result
            .configs
            .iter()
            .map(|c| {
                let source = ConfigSource::from_wire(c.config_source);
                ConfigEntry {
                    name: c.name.as_str().to_string(),
                    value: c.value.as_ref().map(|v| v.as_str().to_string()),
                    read_only: c.read_only,
                    is_default: source == ConfigSource::Default,
                    source,
                    sensitive: c.is_sensitive,
                }
            })
            .collect())
    }

    /// Looks up an offset of one partition on its leader.
    pub async fn list_offsets(
        &self,
        tp: &TopicPartition,
        spec: OffsetSpec,
    ) -> Result<ListedOffset> {
        let specs = BTreeMap::from([(tp.clone(), spec)]);
        let mut offsets = self.cluster.list_offsets(&specs, 0).await?;
        offsets.remove(tp).ok_or_else(|| {
            ClientError::protocol("ListOffsets response", format!("no result for {tp}"))
        })
    }

    /// Brokers and controller from fresh metadata.
    pub async fn describe_cluster(&self) -> Result<(Vec<super::BrokerInfo>, Option<BrokerId>)> {
        let md = self.cluster.refresh(Some(&[])).await?;
        Ok((md.brokers.values().cloned().collect(), md.controller_id))
    }

    /// Drops connections.
    pub fn close(self) {
        self.cluster.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_sources_map_from_the_wire() {
        assert_eq!(ConfigSource::from_wire(5), ConfigSource::Default);
        assert_eq!(ConfigSource::from_wire(1), ConfigSource::DynamicTopic);
        assert_eq!(ConfigSource::from_wire(-1), ConfigSource::Unknown(-1));
        assert_eq!(ConfigResource::Broker(BrokerId(3)).wire(), (4, "3".to_string()));
        assert_eq!(ConfigResource::Topic("t".into()).wire(), (2, "t".to_string()));
    }
}
