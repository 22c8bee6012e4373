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
//! the bytes left divided by the smallest encoding of one element, arrays inside the tagged
//! fields the codec knows (Fetch's `replica_state`, BrokerHeartbeat's `offline_log_dirs`)
//! included.

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

/// A field: its name (for error messages), type, the versions that carry it, and for a
/// tagged field its tag.
#[derive(Clone, Copy, Debug)]
struct Field {
    name: &'static str,
    ty: Ty,
    min: i16,
    max: i16,
    /// `Some` for a field carried in the tagged-field section (flexible versions only). The
    /// codec decodes a known tag's value from the body itself, not from the bytes its size
    /// declares, so such a value is walked like any field: a tagged array's count is checked
    /// too, and the value must take exactly the declared size.
    tag: Option<u32>,
}

const ALL: i16 = i16::MAX;

const fn field(name: &'static str, ty: Ty, min: i16, max: i16) -> Field {
    Field { name, ty, min, max, tag: None }
}

const fn tagged(name: &'static str, tag: u32, ty: Ty, min: i16, max: i16) -> Field {
    Field { name, ty, min, max, tag: Some(tag) }
}

impl Field {
    fn present(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }
}

/// A request's top-level fields, the versions its layout was written for, and the first
/// flexible version.
struct Schema {
    min_version: i16,
    max_version: i16,
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
    min_version: 3,
    max_version: 12,
    flexible_from: 9,
    fields: &[
        field("transactional_id", Ty::Str, 3, ALL),
        field("acks", Ty::I16, 0, ALL),
        field("timeout_ms", Ty::I32, 0, ALL),
        field("topic_data", Ty::Array(&Ty::Struct(TOPIC_PRODUCE_DATA)), 0, ALL),
    ],
};

// Fetch v4-17: brokers serve v4-12, a controller listener v16 (the Raft fetch). v13 names
// topics by id, v15 moves the replica id into the tagged `replica_state`.
const FETCH_PARTITION: &[Field] = &[
    field("partition", Ty::I32, 0, ALL),
    field("current_leader_epoch", Ty::I32, 9, ALL),
    field("fetch_offset", Ty::I64, 0, ALL),
    field("last_fetched_epoch", Ty::I32, 12, ALL),
    field("log_start_offset", Ty::I64, 5, ALL),
    field("partition_max_bytes", Ty::I32, 0, ALL),
    tagged("replica_directory_id", 0, Ty::Uuid, 17, ALL),
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
const REPLICA_STATE: &[Field] =
    &[field("replica_id", Ty::I32, 15, ALL), field("replica_epoch", Ty::I64, 15, ALL)];
const FETCH: Schema = Schema {
    min_version: 4,
    max_version: 17,
    flexible_from: 12,
    fields: &[
        tagged("cluster_id", 0, Ty::Str, 12, ALL),
        field("replica_id", Ty::I32, 0, 14),
        tagged("replica_state", 1, Ty::Struct(REPLICA_STATE), 15, ALL),
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
    min_version: 1,
    max_version: 8,
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
    min_version: 0,
    max_version: 12,
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
    min_version: 0,
    max_version: 4,
    flexible_from: 3,
    fields: &[
        field("key", Ty::Str, 0, 3),
        field("key_type", Ty::I8, 1, ALL),
        field("coordinator_keys", Ty::Array(&Ty::Str), 4, ALL),
    ],
};

// ApiVersions v0-4.
const API_VERSIONS: Schema = Schema {
    min_version: 0,
    max_version: 4,
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
    min_version: 2,
    max_version: 7,
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
    min_version: 1,
    max_version: 6,
    flexible_from: 4,
    fields: &[
        field("topics", Ty::Array(&Ty::Struct(DELETE_TOPIC_STATE)), 6, ALL),
        field("topic_names", Ty::Array(&Ty::Str), 0, 5),
        field("timeout_ms", Ty::I32, 0, ALL),
    ],
};

// InitProducerId v0-4.
const INIT_PRODUCER_ID: Schema = Schema {
    min_version: 0,
    max_version: 4,
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
    min_version: 1,
    max_version: 4,
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
    min_version: 0,
    max_version: 3,
    flexible_from: 2,
    fields: &[
        field("topics", Ty::Array(&Ty::Struct(CREATE_PARTITIONS_TOPIC)), 0, ALL),
        field("timeout_ms", Ty::I32, 0, ALL),
        field("validate_only", Ty::I8, 0, ALL),
    ],
};

// Vote v0-2 (flexible from v0, unlike the other Raft requests). The partition fields are
// named as the codec names them; Kafka's JSON before KIP-996 calls the first two
// candidate_epoch and candidate_id.
const VOTE_PARTITION: &[Field] = &[
    field("partition_index", Ty::I32, 0, ALL),
    field("replica_epoch", Ty::I32, 0, ALL),
    field("replica_id", Ty::I32, 0, ALL),
    field("replica_directory_id", Ty::Uuid, 1, ALL),
    field("voter_directory_id", Ty::Uuid, 1, ALL),
    field("last_offset_epoch", Ty::I32, 0, ALL),
    field("last_offset", Ty::I64, 0, ALL),
    field("pre_vote", Ty::I8, 2, ALL),
];
const VOTE_TOPIC: &[Field] = &[
    field("topic_name", Ty::Str, 0, ALL),
    field("partitions", Ty::Array(&Ty::Struct(VOTE_PARTITION)), 0, ALL),
];
const VOTE: Schema = Schema {
    min_version: 0,
    max_version: 2,
    flexible_from: 0,
    fields: &[
        field("cluster_id", Ty::Str, 0, ALL),
        field("voter_id", Ty::I32, 1, ALL),
        field("topics", Ty::Array(&Ty::Struct(VOTE_TOPIC)), 0, ALL),
    ],
};

// A Raft leader's endpoint (BeginQuorumEpoch and EndQuorumEpoch v1+). The port is a uint16
// in the codec (2 bytes); Kafka's JSON of late 2024 still says int32.
const LEADER_ENDPOINT: &[Field] = &[
    field("name", Ty::Str, 1, ALL),
    field("host", Ty::Str, 1, ALL),
    field("port", Ty::I16, 1, ALL),
];

// BeginQuorumEpoch v0-1.
const BEGIN_QUORUM_EPOCH_PARTITION: &[Field] = &[
    field("partition_index", Ty::I32, 0, ALL),
    field("voter_directory_id", Ty::Uuid, 1, ALL),
    field("leader_id", Ty::I32, 0, ALL),
    field("leader_epoch", Ty::I32, 0, ALL),
];
const BEGIN_QUORUM_EPOCH_TOPIC: &[Field] = &[
    field("topic_name", Ty::Str, 0, ALL),
    field("partitions", Ty::Array(&Ty::Struct(BEGIN_QUORUM_EPOCH_PARTITION)), 0, ALL),
];
const BEGIN_QUORUM_EPOCH: Schema = Schema {
    min_version: 0,
    max_version: 1,
    flexible_from: 1,
    fields: &[
        field("cluster_id", Ty::Str, 0, ALL),
        field("voter_id", Ty::I32, 1, ALL),
        field("topics", Ty::Array(&Ty::Struct(BEGIN_QUORUM_EPOCH_TOPIC)), 0, ALL),
        field("leader_endpoints", Ty::Array(&Ty::Struct(LEADER_ENDPOINT)), 1, ALL),
    ],
};

// EndQuorumEpoch v0-1.
const END_QUORUM_EPOCH_CANDIDATE: &[Field] =
    &[field("candidate_id", Ty::I32, 1, ALL), field("candidate_directory_id", Ty::Uuid, 1, ALL)];
const END_QUORUM_EPOCH_PARTITION: &[Field] = &[
    field("partition_index", Ty::I32, 0, ALL),
    field("leader_id", Ty::I32, 0, ALL),
    field("leader_epoch", Ty::I32, 0, ALL),
    field("preferred_successors", Ty::Array(&Ty::I32), 0, 0),
    field("preferred_candidates", Ty::Array(&Ty::Struct(END_QUORUM_EPOCH_CANDIDATE)), 1, ALL),
];
const END_QUORUM_EPOCH_TOPIC: &[Field] = &[
    field("topic_name", Ty::Str, 0, ALL),
    field("partitions", Ty::Array(&Ty::Struct(END_QUORUM_EPOCH_PARTITION)), 0, ALL),
];
const END_QUORUM_EPOCH: Schema = Schema {
    min_version: 0,
    max_version: 1,
    flexible_from: 1,
    fields: &[
        field("cluster_id", Ty::Str, 0, ALL),
        field("topics", Ty::Array(&Ty::Struct(END_QUORUM_EPOCH_TOPIC)), 0, ALL),
        field("leader_endpoints", Ty::Array(&Ty::Struct(LEADER_ENDPOINT)), 1, ALL),
    ],
};

// AlterPartition v2-3 (v0-1 were removed in Kafka 4.0; v2 names topics by id, v3 carries
// each ISR member's broker epoch).
const ALTER_PARTITION_BROKER_STATE: &[Field] =
    &[field("broker_id", Ty::I32, 3, ALL), field("broker_epoch", Ty::I64, 3, ALL)];
const ALTER_PARTITION_PARTITION: &[Field] = &[
    field("partition_index", Ty::I32, 0, ALL),
    field("leader_epoch", Ty::I32, 0, ALL),
    field("new_isr", Ty::Array(&Ty::I32), 0, 2),
    field("new_isr_with_epochs", Ty::Array(&Ty::Struct(ALTER_PARTITION_BROKER_STATE)), 3, ALL),
    field("leader_recovery_state", Ty::I8, 1, ALL),
    field("partition_epoch", Ty::I32, 0, ALL),
];
const ALTER_PARTITION_TOPIC: &[Field] = &[
    field("topic_id", Ty::Uuid, 2, ALL),
    field("partitions", Ty::Array(&Ty::Struct(ALTER_PARTITION_PARTITION)), 0, ALL),
];
const ALTER_PARTITION: Schema = Schema {
    min_version: 2,
    max_version: 3,
    flexible_from: 0,
    fields: &[
        field("broker_id", Ty::I32, 0, ALL),
        field("broker_epoch", Ty::I64, 0, ALL),
        field("topics", Ty::Array(&Ty::Struct(ALTER_PARTITION_TOPIC)), 0, ALL),
    ],
};

// BrokerRegistration v0-4 (v4 changes only what the response may carry). The listener port
// is a uint16.
const BROKER_REGISTRATION_LISTENER: &[Field] = &[
    field("name", Ty::Str, 0, ALL),
    field("host", Ty::Str, 0, ALL),
    field("port", Ty::I16, 0, ALL),
    field("security_protocol", Ty::I16, 0, ALL),
];
const BROKER_REGISTRATION_FEATURE: &[Field] = &[
    field("name", Ty::Str, 0, ALL),
    field("min_supported_version", Ty::I16, 0, ALL),
    field("max_supported_version", Ty::I16, 0, ALL),
];
const BROKER_REGISTRATION: Schema = Schema {
    min_version: 0,
    max_version: 4,
    flexible_from: 0,
    fields: &[
        field("broker_id", Ty::I32, 0, ALL),
        field("cluster_id", Ty::Str, 0, ALL),
        field("incarnation_id", Ty::Uuid, 0, ALL),
        field("listeners", Ty::Array(&Ty::Struct(BROKER_REGISTRATION_LISTENER)), 0, ALL),
        field("features", Ty::Array(&Ty::Struct(BROKER_REGISTRATION_FEATURE)), 0, ALL),
        field("rack", Ty::Str, 0, ALL),
        field("is_migrating_zk_broker", Ty::I8, 1, ALL),
        field("log_dirs", Ty::Array(&Ty::Uuid), 2, ALL),
        field("previous_broker_epoch", Ty::I64, 3, ALL),
    ],
};

// BrokerHeartbeat v0-1: v1's offline log dirs are a tagged array.
const BROKER_HEARTBEAT: Schema = Schema {
    min_version: 0,
    max_version: 1,
    flexible_from: 0,
    fields: &[
        field("broker_id", Ty::I32, 0, ALL),
        field("broker_epoch", Ty::I64, 0, ALL),
        field("current_metadata_offset", Ty::I64, 0, ALL),
        field("want_fence", Ty::I8, 0, ALL),
        field("want_shut_down", Ty::I8, 0, ALL),
        tagged("offline_log_dirs", 0, Ty::Array(&Ty::Uuid), 1, ALL),
    ],
};

// AllocateProducerIds v0.
const ALLOCATE_PRODUCER_IDS: Schema = Schema {
    min_version: 0,
    max_version: 0,
    flexible_from: 0,
    fields: &[field("broker_id", Ty::I32, 0, ALL), field("broker_epoch", Ty::I64, 0, ALL)],
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
        ApiKey::Vote => &VOTE,
        ApiKey::BeginQuorumEpoch => &BEGIN_QUORUM_EPOCH,
        ApiKey::EndQuorumEpoch => &END_QUORUM_EPOCH,
        ApiKey::AlterPartition => &ALTER_PARTITION,
        ApiKey::BrokerRegistration => &BROKER_REGISTRATION,
        ApiKey::BrokerHeartbeat => &BROKER_HEARTBEAT,
        ApiKey::AllocateProducerIds => &ALLOCATE_PRODUCER_IDS,
        _ => return None,
    })
}

/// Checks a request body of `api_key` at `version`. APIs and versions without a schema here
/// are refused: every version of every API a listener serves must have one (a test keeps
/// that true).
pub fn check(api_key: ApiKey, version: i16, body: &[u8]) -> Result<(), String> {
    walk(api_key, version, body).map(|_| ())
}

/// Whether a schema covers `version` of `api_key`.
pub fn covers(api_key: ApiKey, version: i16) -> bool {
    schema(api_key).is_some_and(|s| s.min_version <= version && version <= s.max_version)
}

/// Walks a body; returns how many bytes its fields took (trailing bytes are Kafka's to
/// ignore, and ours).
pub fn walk(api_key: ApiKey, version: i16, body: &[u8]) -> Result<usize, String> {
    let Some(schema) = schema(api_key) else {
        return Err(format!("no request schema for {api_key:?}"));
    };
    if !(schema.min_version..=schema.max_version).contains(&version) {
        return Err(format!(
            "no request schema for {api_key:?} v{version} (v{}..=v{})",
            schema.min_version, schema.max_version
        ));
    }
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
                let present = fields.iter().filter(|f| f.tag.is_none() && f.present(self.version));
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
        for f in fields.iter().filter(|f| f.tag.is_none() && f.present(version)) {
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
                let tag = self.varint()?;
                let size = self.varint()? as usize;
                let known = fields
                    .iter()
                    .find(|f| f.present(version) && f.tag.is_some_and(|t| u64::from(t) == tag));
                match known {
                    Some(f) => {
                        self.path.pop();
                        self.path.push(f.name.to_string());
                        self.tagged_value(f.ty, tag, size)?;
                        self.path.pop();
                        self.path.push("tagged_fields".into());
                    }
                    None => self.skip(size)?,
                }
            }
            self.path.pop();
        }
        Ok(())
    }

    /// A known tagged field's value: walked within the `size` bytes its header declares, and
    /// it must take all of them (the codec reads the value, not the size).
    fn tagged_value(&mut self, ty: Ty, tag: u64, size: usize) -> Result<(), String> {
        if size > self.left() {
            return self.fail(format!("tag {tag} declares {size} bytes, {} left", self.left()));
        }
        let end = self.position + size;
        let full = self.body;
        self.body = &full[..end];
        let walked = self.value(ty);
        self.body = full;
        walked?;
        if self.position != end {
            let took = size - (end - self.position);
            return self.fail(format!("tag {tag} declares {size} bytes, its value takes {took}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::versions::{CONTROLLER_APIS, SUPPORTED_APIS};
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::alter_partition_request::{
        BrokerState, PartitionData as AlterPartitionData, TopicData as AlterPartitionTopic,
    };
    use kafka_protocol::messages::begin_quorum_epoch_request::{
        LeaderEndpoint as BeginLeaderEndpoint, PartitionData as BeginPartition,
        TopicData as BeginTopic,
    };
    use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
    use kafka_protocol::messages::create_partitions_request::{
        CreatePartitionsAssignment, CreatePartitionsTopic,
    };
    use kafka_protocol::messages::create_topics_request::{
        CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
    };
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::end_quorum_epoch_request::{
        LeaderEndpoint as EndLeaderEndpoint, PartitionData as EndPartition, ReplicaInfo,
        TopicData as EndTopic,
    };
    use kafka_protocol::messages::fetch_request::{
        FetchPartition, FetchTopic, ForgottenTopic, ReplicaState,
    };
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::vote_request::{
        PartitionData as VotePartition, TopicData as VoteTopic,
    };
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn s(text: &str) -> StrBytes {
        StrBytes::from_string(text.to_string())
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
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
            ApiKey::Fetch => {
                // v13+ names topics by id; v15+ carries the replica in tagged `replica_state`.
                let by_id = version >= 13;
                let fetch_topic = if by_id {
                    FetchTopic::default().with_topic_id(id(7))
                } else {
                    FetchTopic::default().with_topic(topic())
                };
                let forgotten = if by_id {
                    ForgottenTopic::default().with_topic_id(id(8))
                } else {
                    ForgottenTopic::default().with_topic(topic())
                };
                RequestKind::Fetch(
                    FetchRequest::default()
                        .with_cluster_id((version >= 12).then(|| s("cluster-a")))
                        .with_replica_state(if version >= 15 {
                            ReplicaState::default()
                                .with_replica_id(BrokerId(1))
                                .with_replica_epoch(7)
                        } else {
                            ReplicaState::default()
                        })
                        .with_topics(vec![fetch_topic.with_partitions(vec![
                            FetchPartition::default().with_partition(3).with_replica_directory_id(
                                if version >= 17 { id(9) } else { Uuid::nil() },
                            ),
                            FetchPartition::default(),
                        ])])
                        .with_forgotten_topics_data(if version >= 7 {
                            vec![forgotten.with_partitions(vec![1, 2])]
                        } else {
                            vec![]
                        })
                        .with_rack_id(if version >= 11 { s("rack-a") } else { s("") }),
                )
            }
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
            ApiKey::Vote => {
                let partition = |index: i32| {
                    let p = VotePartition::default()
                        .with_partition_index(index)
                        .with_replica_epoch(5)
                        .with_replica_id(BrokerId(1))
                        .with_last_offset_epoch(4)
                        .with_last_offset(100);
                    let p = if version >= 1 {
                        p.with_replica_directory_id(id(1)).with_voter_directory_id(id(2))
                    } else {
                        p
                    };
                    p.with_pre_vote(version >= 2)
                };
                RequestKind::Vote(
                    VoteRequest::default()
                        .with_cluster_id(Some(s("cluster-a")))
                        .with_voter_id(BrokerId(if version >= 1 { 2 } else { -1 }))
                        .with_topics(vec![VoteTopic::default()
                            .with_topic_name(TopicName(s("__cluster_metadata")))
                            .with_partitions(vec![partition(0), partition(1)])]),
                )
            }
            ApiKey::BeginQuorumEpoch => {
                let v1 = version >= 1;
                RequestKind::BeginQuorumEpoch(
                    BeginQuorumEpochRequest::default()
                        .with_cluster_id(Some(s("cluster-a")))
                        .with_voter_id(BrokerId(if v1 { 2 } else { -1 }))
                        .with_topics(vec![BeginTopic::default()
                            .with_topic_name(TopicName(s("__cluster_metadata")))
                            .with_partitions(vec![
                                BeginPartition::default()
                                    .with_voter_directory_id(if v1 { id(3) } else { Uuid::nil() })
                                    .with_leader_id(BrokerId(1))
                                    .with_leader_epoch(6),
                                BeginPartition::default().with_partition_index(1),
                            ])])
                        .with_leader_endpoints(if v1 {
                            vec![BeginLeaderEndpoint::default()
                                .with_name(s("CONTROLLER"))
                                .with_host(s("c1"))
                                .with_port(9093)]
                        } else {
                            vec![]
                        }),
                )
            }
            ApiKey::EndQuorumEpoch => {
                let v1 = version >= 1;
                let partition =
                    EndPartition::default().with_leader_id(BrokerId(1)).with_leader_epoch(6);
                let partition = if v1 {
                    partition.with_preferred_candidates(vec![
                        ReplicaInfo::default()
                            .with_candidate_id(BrokerId(2))
                            .with_candidate_directory_id(id(4)),
                        ReplicaInfo::default().with_candidate_id(BrokerId(3)),
                    ])
                } else {
                    partition.with_preferred_successors(vec![2, 3])
                };
                RequestKind::EndQuorumEpoch(
                    EndQuorumEpochRequest::default()
                        .with_cluster_id(None)
                        .with_topics(vec![EndTopic::default()
                            .with_topic_name(TopicName(s("__cluster_metadata")))
                            .with_partitions(vec![partition])])
                        .with_leader_endpoints(if v1 {
                            vec![EndLeaderEndpoint::default()
                                .with_name(s("CONTROLLER"))
                                .with_host(s("c1"))
                                .with_port(9093)]
                        } else {
                            vec![]
                        }),
                )
            }
            ApiKey::AlterPartition => {
                let partition = |index: i32| {
                    let p = AlterPartitionData::default()
                        .with_partition_index(index)
                        .with_leader_epoch(3)
                        .with_leader_recovery_state(1)
                        .with_partition_epoch(9);
                    if version >= 3 {
                        p.with_new_isr_with_epochs(vec![
                            BrokerState::default()
                                .with_broker_id(BrokerId(1))
                                .with_broker_epoch(10),
                            BrokerState::default().with_broker_id(BrokerId(2)),
                        ])
                    } else {
                        p.with_new_isr(vec![BrokerId(1), BrokerId(2)])
                    }
                };
                RequestKind::AlterPartition(
                    AlterPartitionRequest::default()
                        .with_broker_id(BrokerId(1))
                        .with_broker_epoch(10)
                        .with_topics(vec![AlterPartitionTopic::default()
                            .with_topic_id(id(7))
                            .with_partitions(vec![partition(0), partition(1)])]),
                )
            }
            ApiKey::BrokerRegistration => RequestKind::BrokerRegistration(
                BrokerRegistrationRequest::default()
                    .with_broker_id(BrokerId(4))
                    .with_cluster_id(s("cluster-a"))
                    .with_incarnation_id(id(11))
                    .with_listeners(vec![
                        Listener::default()
                            .with_name(s("PLAINTEXT"))
                            .with_host(s("b4"))
                            .with_port(9092),
                        Listener::default()
                            .with_name(s("SSL"))
                            .with_host(s("b4"))
                            .with_port(9094)
                            .with_security_protocol(1),
                    ])
                    .with_features(vec![Feature::default()
                        .with_name(s("metadata.version"))
                        .with_min_supported_version(1)
                        .with_max_supported_version(21)])
                    .with_rack(Some(s("rack-a")))
                    .with_is_migrating_zk_broker(false)
                    .with_log_dirs(if version >= 2 { vec![id(12), id(13)] } else { vec![] })
                    .with_previous_broker_epoch(if version >= 3 { 41 } else { -1 }),
            ),
            ApiKey::BrokerHeartbeat => RequestKind::BrokerHeartbeat(
                BrokerHeartbeatRequest::default()
                    .with_broker_id(BrokerId(4))
                    .with_broker_epoch(42)
                    .with_current_metadata_offset(1000)
                    .with_want_fence(true)
                    .with_offline_log_dirs(if version >= 1 {
                        vec![id(12), id(13)]
                    } else {
                        vec![]
                    }),
            ),
            ApiKey::AllocateProducerIds => RequestKind::AllocateProducerIds(
                AllocateProducerIdsRequest::default()
                    .with_broker_id(BrokerId(4))
                    .with_broker_epoch(42),
            ),
            other => panic!("no sample for {other:?}"),
        }
    }

    /// Every (API, version) some listener serves.
    fn served() -> Vec<(ApiKey, i16)> {
        SUPPORTED_APIS
            .iter()
            .chain(CONTROLLER_APIS)
            .flat_map(|r| (r.served_min_version..=r.max_version).map(move |v| (r.api_key, v)))
            .collect()
    }

    /// Every (API, version) a schema here covers and the codec knows, for served APIs.
    fn covered() -> Vec<(ApiKey, i16)> {
        let mut keys: Vec<ApiKey> = served().into_iter().map(|(k, _)| k).collect();
        keys.sort_by_key(|k| *k as i16);
        keys.dedup();
        keys.into_iter()
            .flat_map(|k| {
                let s = schema(k).unwrap_or_else(|| panic!("no schema for {k:?}"));
                let codec = k.valid_versions();
                (s.min_version.max(codec.min)..=s.max_version.min(codec.max)).map(move |v| (k, v))
            })
            .collect()
    }

    #[test]
    fn every_version_every_listener_serves_has_a_schema() {
        for r in SUPPORTED_APIS.iter().chain(CONTROLLER_APIS) {
            for version in r.served_min_version..=r.max_version {
                assert!(covers(r.api_key, version), "{:?} v{version} has no schema", r.api_key);
            }
        }
        assert!(!covers(ApiKey::Fetch, 18), "Fetch v18 adds a tagged field not written here");
        let error = check(ApiKey::Vote, 3, &[0]).unwrap_err();
        assert!(error.starts_with("no request schema for Vote v3"), "{error}");
    }

    #[test]
    fn every_served_request_is_walked_to_its_last_byte() {
        for (api_key, version) in served() {
            let body = encode(&sample(api_key, version), version);
            assert_eq!(walk(api_key, version, &body), Ok(body.len()), "{api_key:?} v{version}");
        }
    }

    /// Versions a schema covers beyond what is served (Fetch v13-17, Vote v1-2, ...) walk too,
    /// so a listener that starts serving them inherits a checked layout.
    #[test]
    fn every_covered_request_is_walked_to_its_last_byte() {
        for (api_key, version) in covered() {
            let body = encode(&sample(api_key, version), version);
            assert_eq!(walk(api_key, version, &body), Ok(body.len()), "{api_key:?} v{version}");
        }
    }

    #[test]
    fn every_truncation_of_a_served_request_is_an_error() {
        for (api_key, version) in served() {
            let body = encode(&sample(api_key, version), version);
            for len in 0..body.len() {
                let error = check(api_key, version, &body[..len])
                    .expect_err(&format!("{api_key:?} v{version} cut to {len} bytes"));
                assert!(error.contains(": "), "{api_key:?} v{version}: {error}");
            }
        }
    }

    #[test]
    fn huge_counts_in_controller_requests_are_refused_with_their_path() {
        const HUGE_VARINT: [u8; 5] = [0xff, 0xff, 0xff, 0xff, 0x0f];
        const HUGE_I32: [u8; 4] = [0x7f, 0xff, 0xff, 0xff];
        let cat = |parts: &[&[u8]]| parts.concat();
        let cases: Vec<(ApiKey, i16, Vec<u8>, &str)> = vec![
            // cluster_id null, then topics.
            (ApiKey::Vote, 0, cat(&[&[0], &HUGE_VARINT]), "topics: array of"),
            (
                ApiKey::Vote,
                0,
                cat(&[&[0, 2, 2, b'm'], &HUGE_VARINT]),
                "topics.[0].partitions: array of",
            ),
            (ApiKey::BeginQuorumEpoch, 0, cat(&[&[0xff, 0xff], &HUGE_I32]), "topics: array of"),
            (
                ApiKey::EndQuorumEpoch,
                0,
                cat(&[&[0xff, 0xff, 0, 0, 0, 1, 0, 1, b'm', 0, 0, 0, 1], &[0; 12], &HUGE_I32]),
                "topics.[0].partitions.[0].preferred_successors: array of",
            ),
            (ApiKey::AlterPartition, 3, cat(&[&[0; 12], &HUGE_VARINT]), "topics: array of"),
            (
                ApiKey::AlterPartition,
                2,
                cat(&[&[0; 12], &[2], &[0; 16], &[2], &[0; 8], &HUGE_VARINT, &[0; 8]]),
                "topics.[0].partitions.[0].new_isr: array of",
            ),
            (
                ApiKey::BrokerRegistration,
                3,
                cat(&[&[0; 4], &[2, b'c'], &[0; 16], &HUGE_VARINT]),
                "listeners: array of",
            ),
            // The tagged offline_log_dirs (tag 0, 5 bytes): the codec reads its count itself.
            (
                ApiKey::BrokerHeartbeat,
                1,
                cat(&[&[0; 22], &[1, 0, 5], &HUGE_VARINT]),
                "offline_log_dirs: array of",
            ),
            (ApiKey::AllocateProducerIds, 0, cat(&[&[0; 12], &HUGE_VARINT]), "tagged_fields: "),
            (ApiKey::Fetch, 16, cat(&[&[0; 21], &HUGE_VARINT]), "topics: array of"),
        ];
        for (api_key, version, body, path) in cases {
            let error = check(api_key, version, &body).unwrap_err();
            assert!(error.starts_with(path), "{api_key:?} v{version}: {error}");
        }
    }

    #[test]
    fn a_tagged_value_must_fill_exactly_its_declared_size() {
        // Fetch v16 with only the tagged section left: replica_state (tag 1) is
        // replica_id, replica_epoch and an empty tagged section, 13 bytes.
        // max_wait_ms..session_epoch (21 bytes), empty topics and forgotten topics, rack "",
        // then one tagged field: tag 1 of `size` bytes holding `value`.
        let body = |size: u8, value: &[u8]| -> Vec<u8> {
            [&[0u8; 21][..], &[1, 1, 1], &[1, 1, size], value].concat()
        };
        let state = [[0u8; 12].as_slice(), &[0]].concat();
        assert_eq!(walk(ApiKey::Fetch, 16, &body(13, &state)), Ok(21 + 3 + 3 + 13));
        let error = check(ApiKey::Fetch, 16, &body(11, &state)).unwrap_err();
        assert_eq!(error, "replica_state.replica_epoch: needs 8 bytes, 7 left");
        let error =
            check(ApiKey::Fetch, 16, &body(14, &[state.as_slice(), &[0]].concat())).unwrap_err();
        assert_eq!(error, "replica_state: tag 1 declares 14 bytes, its value takes 13");
        let error = check(ApiKey::Fetch, 16, &body(40, &state)).unwrap_err();
        assert_eq!(error, "replica_state: tag 1 declares 40 bytes, 13 left");
        // An unknown tag is skipped by its size.
        assert_eq!(
            walk(ApiKey::Fetch, 16, &body(13, &state)),
            walk(ApiKey::Fetch, 16, &{
                let mut b = body(13, &state);
                b[21 + 4] = 9;
                b
            })
        );
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
            which in 0usize..1000,
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
