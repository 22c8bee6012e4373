//! A walk over a request body that checks every length and array count against the bytes
//! actually there, before the codec decodes it.
//!
//! Why: the `kafka-protocol` codec sizes each array's `Vec` from its count before it reads
//! an element, so a 40-byte frame claiming two billion topics makes the process abort on a
//! huge allocation. Kafka's own codec has the same shape; Kafka bounds it with its frame
//! size, which does not help against a count that lies. This module knows the layout of the
//! requests this broker serves (Kafka's message schemas, at the versions advertised in
//! `versions.rs`) and refuses a body whose counts cannot be true.
//!
//! Inputs: API key, version, body bytes (after the request header). Outputs: `Ok` when every
//! string, bytes field, array and tagged field fits in the body, else an error naming the
//! field path and what was wrong. Invariant: accepting means every array count is at most
//! the bytes left divided by the smallest encoding of one element.

use kafka_protocol::messages::ApiKey;

/// A field's wire type.
#[derive(Clone, Copy, Debug)]
enum Ty {
    I8,
    I16,
    I32,
    I64,
    Uuid,
    /// A (nullable) string: i16 length, or a varint length + 1 in flexible versions.
    Str,
    /// (Nullable) bytes: i32 length, or a varint length + 1 in flexible versions.
    Bytes,
    /// A (nullable) array: i32 count, or a varint count + 1 in flexible versions.
    Array(&'static Ty),
    Struct(&'static [Field]),
}

/// A field: its name (for error messages), type, and the versions that carry it.
#[derive(Clone, Copy, Debug)]
struct Field {
    name: &'static str,
    ty: Ty,
    min: i16,
    max: i16,
}

const ALL: i16 = i16::MAX;

const fn field(name: &'static str, ty: Ty, min: i16, max: i16) -> Field {
    Field { name, ty, min, max }
}

/// A request's top-level fields and the first flexible version.
struct Schema {
    flexible_from: i16,
    fields: &'static [Field],
}

// Produce v3-12.
const PARTITION_PRODUCE_DATA: &[Field] =
    &[field("index", Ty::I32, 0, ALL), field("records", Ty::Bytes, 0, ALL)];
const TOPIC_PRODUCE_DATA: &[Field] = &[
    field("name", Ty::Str, 0, 12),
    field("topic_id", Ty::Uuid, 13, ALL),
    field("partition_data", Ty::Array(&Ty::Struct(PARTITION_PRODUCE_DATA)), 0, ALL),
];
const PRODUCE: Schema = Schema {
    flexible_from: 9,
    fields: &[
        field("transactional_id", Ty::Str, 3, ALL),
        field("acks", Ty::I16, 0, ALL),
        field("timeout_ms", Ty::I32, 0, ALL),
        field("topic_data", Ty::Array(&Ty::Struct(TOPIC_PRODUCE_DATA)), 0, ALL),
    ],
};

// Fetch v4-12.
const FETCH_PARTITION: &[Field] = &[
    field("partition", Ty::I32, 0, ALL),
    field("current_leader_epoch", Ty::I32, 9, ALL),
    field("fetch_offset", Ty::I64, 0, ALL),
    field("last_fetched_epoch", Ty::I32, 12, ALL),
    field("log_start_offset", Ty::I64, 5, ALL),
    field("partition_max_bytes", Ty::I32, 0, ALL),
];
const FETCH_TOPIC: &[Field] = &[
    field("topic", Ty::Str, 0, 12),
    field("topic_id", Ty::Uuid, 13, ALL),
    field("partitions", Ty::Array(&Ty::Struct(FETCH_PARTITION)), 0, ALL),
];
const FORGOTTEN_TOPIC: &[Field] = &[
    field("topic", Ty::Str, 7, 12),
    field("topic_id", Ty::Uuid, 13, ALL),
    field("partitions", Ty::Array(&Ty::I32), 7, ALL),
];
const FETCH: Schema = Schema {
    flexible_from: 12,
    fields: &[
        field("replica_id", Ty::I32, 0, 14),
        field("max_wait_ms", Ty::I32, 0, ALL),
        field("min_bytes", Ty::I32, 0, ALL),
        field("max_bytes", Ty::I32, 3, ALL),
        field("isolation_level", Ty::I8, 4, ALL),
        field("session_id", Ty::I32, 7, ALL),
        field("session_epoch", Ty::I32, 7, ALL),
        field("topics", Ty::Array(&Ty::Struct(FETCH_TOPIC)), 0, ALL),
        field("forgotten_topics_data", Ty::Array(&Ty::Struct(FORGOTTEN_TOPIC)), 7, ALL),
        field("rack_id", Ty::Str, 11, ALL),
    ],
};

// ListOffsets v1-8.
const LIST_OFFSETS_PARTITION: &[Field] = &[
    field("partition_index", Ty::I32, 0, ALL),
    field("current_leader_epoch", Ty::I32, 4, ALL),
    field("timestamp", Ty::I64, 0, ALL),
];
const LIST_OFFSETS_TOPIC: &[Field] = &[
    field("name", Ty::Str, 0, ALL),
    field("partitions", Ty::Array(&Ty::Struct(LIST_OFFSETS_PARTITION)), 0, ALL),
];
const LIST_OFFSETS: Schema = Schema {
    flexible_from: 6,
    fields: &[
        field("replica_id", Ty::I32, 0, ALL),
        field("isolation_level", Ty::I8, 2, ALL),
        field("topics", Ty::Array(&Ty::Struct(LIST_OFFSETS_TOPIC)), 0, ALL),
        field("timeout_ms", Ty::I32, 10, ALL),
    ],
};

// Metadata v0-12.
const METADATA_TOPIC: &[Field] =
    &[field("topic_id", Ty::Uuid, 10, ALL), field("name", Ty::Str, 0, ALL)];
const METADATA: Schema = Schema {
    flexible_from: 9,
    fields: &[
        field("topics", Ty::Array(&Ty::Struct(METADATA_TOPIC)), 0, ALL),
        field("allow_auto_topic_creation", Ty::I8, 4, ALL),
        field("include_cluster_authorized_operations", Ty::I8, 8, 10),
        field("include_topic_authorized_operations", Ty::I8, 8, ALL),
    ],
};

// FindCoordinator v0-4.
const FIND_COORDINATOR: Schema = Schema {
    flexible_from: 3,
    fields: &[
        field("key", Ty::Str, 0, 3),
        field("key_type", Ty::I8, 1, ALL),
        field("coordinator_keys", Ty::Array(&Ty::Str), 4, ALL),
    ],
};

// ApiVersions v0-4.
const API_VERSIONS: Schema = Schema {
    flexible_from: 3,
    fields: &[
        field("client_software_name", Ty::Str, 3, ALL),
        field("client_software_version", Ty::Str, 3, ALL),
    ],
};

// CreateTopics v2-7.
const CREATABLE_REPLICA_ASSIGNMENT: &[Field] =
    &[field("partition_index", Ty::I32, 0, ALL), field("broker_ids", Ty::Array(&Ty::I32), 0, ALL)];
const CREATABLE_TOPIC_CONFIG: &[Field] =
    &[field("name", Ty::Str, 0, ALL), field("value", Ty::Str, 0, ALL)];
const CREATABLE_TOPIC: &[Field] = &[
    field("name", Ty::Str, 0, ALL),
    field("num_partitions", Ty::I32, 0, ALL),
    field("replication_factor", Ty::I16, 0, ALL),
    field("assignments", Ty::Array(&Ty::Struct(CREATABLE_REPLICA_ASSIGNMENT)), 0, ALL),
    field("configs", Ty::Array(&Ty::Struct(CREATABLE_TOPIC_CONFIG)), 0, ALL),
];
const CREATE_TOPICS: Schema = Schema {
    flexible_from: 5,
    fields: &[
        field("topics", Ty::Array(&Ty::Struct(CREATABLE_TOPIC)), 0, ALL),
        field("timeout_ms", Ty::I32, 0, ALL),
        field("validate_only", Ty::I8, 1, ALL),
    ],
};

// DeleteTopics v1-6.
const DELETE_TOPIC_STATE: &[Field] =
    &[field("name", Ty::Str, 6, ALL), field("topic_id", Ty::Uuid, 6, ALL)];
const DELETE_TOPICS: Schema = Schema {
    flexible_from: 4,
    fields: &[
        field("topics", Ty::Array(&Ty::Struct(DELETE_TOPIC_STATE)), 6, ALL),
        field("topic_names", Ty::Array(&Ty::Str), 0, 5),
        field("timeout_ms", Ty::I32, 0, ALL),
    ],
};

// InitProducerId v0-4.
const INIT_PRODUCER_ID: Schema = Schema {
    flexible_from: 2,
    fields: &[
        field("transactional_id", Ty::Str, 0, ALL),
        field("transaction_timeout_ms", Ty::I32, 0, ALL),
        field("producer_id", Ty::I64, 3, ALL),
        field("producer_epoch", Ty::I16, 3, ALL),
    ],
};

// DescribeConfigs v1-4.
const DESCRIBE_CONFIGS_RESOURCE: &[Field] = &[
    field("resource_type", Ty::I8, 0, ALL),
    field("resource_name", Ty::Str, 0, ALL),
    field("configuration_keys", Ty::Array(&Ty::Str), 0, ALL),
];
const DESCRIBE_CONFIGS: Schema = Schema {
    flexible_from: 4,
    fields: &[
        field("resources", Ty::Array(&Ty::Struct(DESCRIBE_CONFIGS_RESOURCE)), 0, ALL),
        field("include_synonyms", Ty::I8, 1, ALL),
        field("include_documentation", Ty::I8, 3, ALL),
    ],
};

// CreatePartitions v0-3.
const CREATE_PARTITIONS_ASSIGNMENT: &[Field] = &[field("broker_ids", Ty::Array(&Ty::I32), 0, ALL)];
const CREATE_PARTITIONS_TOPIC: &[Field] = &[
    field("name", Ty::Str, 0, ALL),
    field("count", Ty::I32, 0, ALL),
    field("assignments", Ty::Array(&Ty::Struct(CREATE_PARTITIONS_ASSIGNMENT)), 0, ALL),
];
const CREATE_PARTITIONS: Schema = Schema {
    flexible_from: 2,
    fields: &[
        field("topics", Ty::Array(&Ty::Struct(CREATE_PARTITIONS_TOPIC)), 0, ALL),
        field("timeout_ms", Ty::I32, 0, ALL),
        field("validate_only", Ty::I8, 0, ALL),
    ],
};

fn schema(api_key: ApiKey) -> Option<&'static Schema> {
    Some(match api_key {
        ApiKey::Produce => &PRODUCE,
        ApiKey::Fetch => &FETCH,
        ApiKey::ListOffsets => &LIST_OFFSETS,
        ApiKey::Metadata => &METADATA,
        ApiKey::FindCoordinator => &FIND_COORDINATOR,
        ApiKey::ApiVersions => &API_VERSIONS,
        ApiKey::CreateTopics => &CREATE_TOPICS,
        ApiKey::DeleteTopics => &DELETE_TOPICS,
        ApiKey::InitProducerId => &INIT_PRODUCER_ID,
        ApiKey::DescribeConfigs => &DESCRIBE_CONFIGS,
        ApiKey::CreatePartitions => &CREATE_PARTITIONS,
        _ => return None,
    })
}

/// Checks a request body of `api_key` at `version`. APIs without a schema here are refused:
/// every API this broker serves must have one (a test keeps that true).
pub fn check(api_key: ApiKey, version: i16, body: &[u8]) -> Result<(), String> {
    walk(api_key, version, body).map(|_| ())
}

/// Walks a body; returns how many bytes its fields took (trailing bytes are Kafka's to
/// ignore, and ours).
pub fn walk(api_key: ApiKey, version: i16, body: &[u8]) -> Result<usize, String> {
    let Some(schema) = schema(api_key) else {
        return Err(format!("no request schema for {api_key:?}"));
    };
    let mut walker = Walker {
        body,
        position: 0,
        version,
        flexible: version >= schema.flexible_from,
        path: Vec::new(),
    };
    walker.fields(schema.fields)?;
    Ok(walker.position)
}

struct Walker<'a> {
    body: &'a [u8],
    position: usize,
    version: i16,
    flexible: bool,
    path: Vec<String>,
}

impl Walker<'_> {
    fn left(&self) -> usize {
        self.body.len() - self.position
    }

    fn fail<T>(&self, what: String) -> Result<T, String> {
        let path = if self.path.is_empty() { "body".to_string() } else { self.path.join(".") };
        Err(format!("{path}: {what}"))
    }

    fn skip(&mut self, n: usize) -> Result<(), String> {
        if n > self.left() {
            return self.fail(format!("needs {n} bytes, {} left", self.left()));
        }
        self.position += n;
        Ok(())
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let start = self.position;
        self.skip(N)?;
        Ok(self.body[start..start + N].try_into().expect("N bytes"))
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..35).step_by(7) {
            let [byte] = self.take::<1>()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        self.fail("varint longer than 5 bytes".into())
    }

    /// A length or count: `None` for null.
    fn length(&mut self, width: usize) -> Result<Option<usize>, String> {
        if self.flexible {
            return Ok(match self.varint()? {
                0 => None,
                n => Some((n - 1) as usize),
            });
        }
        let n = match width {
            2 => i64::from(i16::from_be_bytes(self.take::<2>()?)),
            _ => i64::from(i32::from_be_bytes(self.take::<4>()?)),
        };
        match n {
            -1 => Ok(None),
            n if n < 0 => self.fail(format!("negative length {n}")),
            n => Ok(Some(n as usize)),
        }
    }

    /// The fewest bytes one value of `ty` can take at this version.
    fn min_bytes(&self, ty: Ty) -> usize {
        match ty {
            Ty::I8 => 1,
            Ty::I16 => 2,
            Ty::I32 => 4,
            Ty::I64 => 8,
            Ty::Uuid => 16,
            Ty::Str if self.flexible => 1,
            Ty::Str => 2,
            Ty::Bytes | Ty::Array(_) if self.flexible => 1,
            Ty::Bytes | Ty::Array(_) => 4,
            Ty::Struct(fields) => {
                let present =
                    fields.iter().filter(|f| f.min <= self.version && self.version <= f.max);
                present.map(|f| self.min_bytes(f.ty)).sum::<usize>() + usize::from(self.flexible)
            }
        }
    }

    fn value(&mut self, ty: Ty) -> Result<(), String> {
        match ty {
            Ty::I8 => self.skip(1),
            Ty::I16 => self.skip(2),
            Ty::I32 => self.skip(4),
            Ty::I64 => self.skip(8),
            Ty::Uuid => self.skip(16),
            Ty::Str => match self.length(2)? {
                Some(n) => self.skip(n),
                None => Ok(()),
            },
            Ty::Bytes => match self.length(4)? {
                Some(n) => self.skip(n),
                None => Ok(()),
            },
            Ty::Array(element) => {
                let Some(count) = self.length(4)? else { return Ok(()) };
                let each = self.min_bytes(*element).max(1);
                if count > self.left() / each {
                    return self.fail(format!("array of {count} cannot fit: each element takes at least {each} bytes, {} left", self.left()));
                }
                for index in 0..count {
                    self.path.push(format!("[{index}]"));
                    self.value(*element)?;
                    self.path.pop();
                }
                Ok(())
            }
            Ty::Struct(fields) => self.fields(fields),
        }
    }

    /// The fields of a struct present at this version, then (flexible) its tagged fields.
    fn fields(&mut self, fields: &[Field]) -> Result<(), String> {
        let version = self.version;
        for f in fields.iter().filter(|f| f.min <= version && version <= f.max) {
            self.path.push(f.name.to_string());
            self.value(f.ty)?;
            self.path.pop();
        }
        if self.flexible {
            self.path.push("tagged_fields".into());
            let count = self.varint()? as usize;
            if count > self.left() / 2 {
                return self
                    .fail(format!("{count} tagged fields cannot fit in {} bytes", self.left()));
            }
            for _ in 0..count {
                let _tag = self.varint()?;
                let size = self.varint()? as usize;
                self.skip(size)?;
            }
            self.path.pop();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::versions::SUPPORTED_APIS;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::create_partitions_request::{
        CreatePartitionsAssignment, CreatePartitionsTopic,
    };
    use kafka_protocol::messages::create_topics_request::{
        CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
    };
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    fn s(text: &str) -> StrBytes {
        StrBytes::from_string(text.to_string())
    }

    fn encode(body: &RequestKind, version: i16) -> Bytes {
        let mut buf = BytesMut::new();
        body.encode(&mut buf, version).unwrap_or_else(|e| panic!("encode v{version}: {e}"));
        buf.freeze()
    }

    /// A request of each served API with every array non-empty, valid at `version`.
    fn sample(api_key: ApiKey, version: i16) -> RequestKind {
        let topic = || TopicName(s("orders"));
        match api_key {
            ApiKey::Produce => RequestKind::Produce(
                ProduceRequest::default()
                    .with_transactional_id(None)
                    .with_acks(-1)
                    .with_topic_data(vec![TopicProduceData::default()
                        .with_name(topic())
                        .with_partition_data(vec![
                            PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(Bytes::from_static(b"batch bytes"))),
                            PartitionProduceData::default().with_index(1).with_records(None),
                        ])]),
            ),
            ApiKey::Fetch => RequestKind::Fetch(
                FetchRequest::default()
                    .with_topics(vec![FetchTopic::default().with_topic(topic()).with_partitions(
                        vec![
                            FetchPartition::default().with_partition(3),
                            FetchPartition::default(),
                        ],
                    )])
                    .with_forgotten_topics_data(if version >= 7 {
                        vec![ForgottenTopic::default()
                            .with_topic(topic())
                            .with_partitions(vec![1, 2])]
                    } else {
                        vec![]
                    })
                    .with_rack_id(if version >= 11 { s("rack-a") } else { s("") }),
            ),
            ApiKey::ListOffsets => {
                RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![
                    ListOffsetsTopic::default().with_name(topic()).with_partitions(vec![
                        ListOffsetsPartition::default().with_timestamp(-1),
                        ListOffsetsPartition::default().with_partition_index(1).with_timestamp(-2),
                    ]),
                ]))
            }
            ApiKey::Metadata => {
                RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(topic())),
                    MetadataRequestTopic::default().with_name(Some(TopicName(s("payments")))),
                ])))
            }
            ApiKey::FindCoordinator if version >= 4 => RequestKind::FindCoordinator(
                FindCoordinatorRequest::default()
                    .with_key(s(""))
                    .with_coordinator_keys(vec![s("g1"), s("g2")]),
            ),
            ApiKey::FindCoordinator => {
                RequestKind::FindCoordinator(FindCoordinatorRequest::default().with_key(s("g1")))
            }
            ApiKey::ApiVersions if version >= 3 => RequestKind::ApiVersions(
                ApiVersionsRequest::default()
                    .with_client_software_name(s("test"))
                    .with_client_software_version(s("1.0")),
            ),
            ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
            ApiKey::CreateTopics => RequestKind::CreateTopics(
                CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
                    .with_name(topic())
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
                    .with_assignments(vec![CreatableReplicaAssignment::default()
                        .with_broker_ids(vec![BrokerId(1), BrokerId(2)])])
                    .with_configs(vec![
                        CreatableTopicConfig::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("1000"))),
                        CreatableTopicConfig::default().with_name(s("x")).with_value(None),
                    ])]),
            ),
            ApiKey::DeleteTopics if version >= 6 => {
                RequestKind::DeleteTopics(DeleteTopicsRequest::default().with_topics(vec![
                    DeleteTopicState::default().with_name(Some(topic())),
                    DeleteTopicState::default().with_name(None),
                ]))
            }
            ApiKey::DeleteTopics => RequestKind::DeleteTopics(
                DeleteTopicsRequest::default().with_topic_names(vec![topic(), TopicName(s("b"))]),
            ),
            ApiKey::InitProducerId => RequestKind::InitProducerId(
                InitProducerIdRequest::default().with_transactional_id(None),
            ),
            ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(
                DescribeConfigsRequest::default().with_resources(vec![
                    DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s("orders"))
                        .with_configuration_keys(Some(vec![s("retention.ms")])),
                    DescribeConfigsResource::default()
                        .with_resource_type(4)
                        .with_resource_name(s("1"))
                        .with_configuration_keys(None),
                ]),
            ),
            ApiKey::CreatePartitions => {
                RequestKind::CreatePartitions(CreatePartitionsRequest::default().with_topics(vec![
                    CreatePartitionsTopic::default()
                        .with_name(topic())
                        .with_count(3)
                        .with_assignments(Some(vec![CreatePartitionsAssignment::default()
                            .with_broker_ids(vec![BrokerId(1)])])),
                    CreatePartitionsTopic::default()
                        .with_name(TopicName(s("b")))
                        .with_count(2)
                        .with_assignments(None),
                ]))
            }
            other => panic!("no sample for {other:?}"),
        }
    }

    fn served() -> Vec<(ApiKey, i16)> {
        SUPPORTED_APIS
            .iter()
            .flat_map(|r| (r.served_min_version..=r.max_version).map(move |v| (r.api_key, v)))
            .collect()
    }

    #[test]
    fn every_served_request_is_walked_to_its_last_byte() {
        for (api_key, version) in served() {
            let body = encode(&sample(api_key, version), version);
            assert_eq!(walk(api_key, version, &body), Ok(body.len()), "{api_key:?} v{version}");
        }
    }

    #[test]
    fn a_count_that_cannot_fit_is_refused_with_its_path() {
        // Metadata v4: topics count, then allow_auto_topic_creation.
        let body = [0x7f, 0xff, 0xff, 0xff, 0x01];
        let error = check(ApiKey::Metadata, 4, &body).unwrap_err();
        assert!(error.starts_with("topics: array of 2147483647 cannot fit"), "{error}");
        // Fetch v12 (flexible): a partitions count deep inside a topic.
        let mut fetch = encode(&sample(ApiKey::Fetch, 12), 12).to_vec();
        let topic_name_at = fetch.windows(6).position(|w| w == b"orders").unwrap();
        fetch[topic_name_at + 6] = 0xff; // the partitions count becomes a 5-byte varint...
        fetch.splice(topic_name_at + 7..topic_name_at + 7, [0xff, 0xff, 0xff, 0x0f]);
        let error = check(ApiKey::Fetch, 12, &fetch).unwrap_err();
        assert!(error.starts_with("topics.[0].partitions: array of"), "{error}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Corrupt bytes of valid requests: whatever the skimmer accepts, the codec can
        /// decode without a runaway allocation (which would abort this test process).
        #[test]
        fn corrupted_requests_never_reach_the_codec_with_lying_counts(
            which in 0usize..100,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let all = served();
            let (api_key, version) = all[which % all.len()];
            let mut body = encode(&sample(api_key, version), version).to_vec();
            prop_assume!(!body.is_empty(), "ApiVersions v0-2 has no body to corrupt");
            for (at, byte) in flips {
                let i = at.index(body.len());
                body[i] = byte;
            }
            if check(api_key, version, &body).is_ok() {
                let mut bytes = Bytes::from(body);
                let _ = RequestKind::decode(api_key, &mut bytes, version);
            }
        }
    }
}
