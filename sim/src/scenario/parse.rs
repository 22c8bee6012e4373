//! Reading scenario files: TOML in, a validated [`Scenario`] out.
//!
//! Inputs: the text of a scenario file (and its path, for messages), or a path, or a
//! directory of `*.toml` files. Outputs: [`Scenario`]s, or the first mistake of each file as
//! a [`ScenarioError`] with file, line, key path and what was expected. Invariants: sections
//! are read in a fixed order (top level, cluster, network, producers, consumers, steps,
//! liveness, expect, claims) so a file with several mistakes always reports the same one;
//! names are checked against what was read before them (topics before the clients that use
//! them, clients before the steps that target them); Kafka configs are checked by core's own
//! validators, so a scenario accepts exactly the keys and values a broker accepts.

use super::condition::{self, Names};
use super::tree::{self, did_you_mean, join_key, Field, Node, Table};
use super::*;
use crate::properties::{self, END_METRICS, METRICS, PROPERTIES};
use odradek::config::{
    BrokerConfig, ConfigError, HistoricalBehaviours, Origin, TopicConfig, TopicConfigError,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

type Result<T, E = ScenarioError> = std::result::Result<T, E>;

/// Parses a scenario from TOML text; `path` names the file in errors and in
/// [`Scenario::source`].
pub fn parse(text: &str, path: Option<&Path>) -> Result<Scenario> {
    let file = path.map_or_else(|| "<input>".to_string(), |p| p.display().to_string());
    let src = tree::Source { text, file: &file };
    let root_value = tree::parse_tree(text, &file)?;
    let root = Table::root(&src, &root_value)?;
    let mut scenario = read_scenario(&root)?;
    scenario.source = path.map(Path::to_path_buf);
    Ok(scenario)
}

/// Reads and parses one scenario file.
pub fn load(path: &Path) -> Result<Scenario> {
    let text = fs::read_to_string(path)
        .map_err(|source| ScenarioError::Read { path: path.to_path_buf(), source })?;
    parse(&text, Some(path))
}

/// Loads every `*.toml` file under `dir`, recursively, in path order (a scenario with a
/// `historical` switch is followed by its guarded run, [`Scenario::with_guarded`]). Every invalid file is
/// reported (one error, or [`ScenarioError::Several`]), as is a scenario name used by two
/// files, since reports are keyed by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>> {
    let mut files = Vec::new();
    collect_toml_files(dir, &mut files)?;
    files.sort();
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut errors = Vec::new();
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in files {
        match load(&file) {
            Ok(scenario) => {
                for scenario in scenario.with_guarded() {
                    if let Some(first) = names.get(&scenario.name) {
                        errors.push(ScenarioError::Invalid {
                            file: file.display().to_string(),
                            line: None,
                            column: None,
                            key: "name".into(),
                            message: format!(
                                "scenario name {:?} is also used by {}",
                                scenario.name,
                                first.display()
                            ),
                        });
                    } else {
                        names.insert(scenario.name.clone(), file.clone());
                        scenarios.push(scenario);
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(scenarios),
        1 => Err(errors.remove(0)),
        _ => Err(ScenarioError::Several { errors }),
    }
}

/// Symbolic links to directories are not followed, so a link cycle cannot recurse forever.
fn collect_toml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let read_error = |source| ScenarioError::Read { path: dir.to_path_buf(), source };
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let path = entry.path();
        if entry.file_type().map_err(read_error)?.is_dir() {
            collect_toml_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") && !path.is_dir() {
            out.push(path);
        }
    }
    Ok(())
}

const TOP_KEYS: &[&str] = &[
    "name",
    "covers",
    "why",
    "historical",
    "seed",
    "duration_ms",
    "cluster",
    "network",
    "producers",
    "consumers",
    "steps",
    "liveness",
    "expect",
    "claims",
];
const CLUSTER_KEYS: &[&str] = &["brokers", "broker_config", "topics"];
const TOPIC_KEYS: &[&str] =
    &["name", "partitions", "replication_factor", "config", "create_at_setup"];
const NETWORK_KEYS: &[&str] = &["latency_ms", "packet_loss"];
const PRODUCER_KEYS: &[&str] = &[
    "id",
    "topic",
    "acks",
    "idempotence",
    "retries",
    "max_in_flight",
    "rate_per_sec",
    "count",
    "keys",
    "partition",
    "payload_bytes",
    "linger_ms",
    "request_timeout_ms",
    "delivery_timeout_ms",
    "start_ms",
    "max_block_ms",
    "metadata_max_age_ms",
    "headers",
    "timestamps",
];
const CONSUMER_KEYS: &[&str] = &[
    "id",
    "topic",
    "assign",
    "group",
    "start",
    "auto_offset_reset",
    "commit",
    "auto_commit_interval_ms",
    "processing",
    "processing_delay_ms",
    "poll_timeout_ms",
    "max_poll_records",
    "start_ms",
];
const LIVENESS_KEYS: &[&str] = &["enabled", "deadline_ms"];
const EXPECT_KEYS: &[&str] = &["appear", "allow"];
const BOUND_KEYS: &[&str] = &["property", "at_least", "at_most"];
const CLAIM_KEYS: &[&str] = &["id", "confirmed_when"];

/// Each action of a step: its `do` name and the keys it takes besides `at_ms`, `when`, `do`.
const ACTIONS: &[(&str, &[&str])] = &[
    ("crash", &["target", "mode"]),
    ("restart", &["target"]),
    ("pause", &["target"]),
    ("resume", &["target"]),
    ("partition", &["from", "to", "one_way"]),
    ("heal", &[]),
    ("clog", &["target"]),
    ("unclog", &["target"]),
    ("network", &["latency_ms", "packet_loss"]),
    (
        "disk-faults",
        &["target", "read_corruption_probability", "io_error_probability", "sync_is_noop"],
    ),
    ("seek", &["target", "offset", "partition"]),
    ("create-partitions", &["topic", "count"]),
    ("list-offsets", &["topic", "partition"]),
];
const STEP_KEYS: &[&str] = &["at_ms", "when", "do"];

/// Broker keys the testbed sets itself, differently for each broker.
const TESTBED_BROKER_KEYS: &[&str] =
    &["node.id", "broker.id", "listeners", "advertised.listeners", "log.dirs", "log.dir"];
/// Broker keys that follow from the cluster's shape, which the testbed builds.
const TOPOLOGY_BROKER_KEYS: &[&str] = &[
    "process.roles",
    "controller.quorum.voters",
    "controller.listener.names",
    "inter.broker.listener.name",
    "listener.security.protocol.map",
];

/// `"a", "b" or "c"`.
fn one_of(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A string that must be one of `choices`.
fn choice<'c>(field: &Field<'_>, choices: &[&'c str]) -> Result<&'c str> {
    let found = match field.node {
        Node::String(s) => choices.iter().find(|c| **c == s.as_str()).copied(),
        _ => None,
    };
    found.ok_or_else(|| field.expected(&one_of(choices)))
}

fn optional<'a, T>(
    table: &Table<'a>,
    key: &str,
    read: impl FnOnce(&Field<'a>) -> Result<T>,
) -> Result<Option<T>> {
    table.get(key).map(|f| read(&f)).transpose()
}

/// Letters, digits, `.`, `_` and `-`; not empty, not `.` or `..`.
fn is_plain_id(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Ids of producers and consumers, usable inside `client(...)`.
fn client_id(field: &Field<'_>) -> Result<String> {
    match field.node {
        Node::String(s) if is_plain_id(s) => Ok(s.clone()),
        _ => Err(field.expected("an id of letters, digits, '.', '_' and '-'")),
    }
}

/// Kafka's rule for topic names (`Topic.validate`): 1 to 249 of `[a-zA-Z0-9._-]`, not `.`
/// or `..`.
fn topic_name(field: &Field<'_>) -> Result<String> {
    match field.node {
        Node::String(s) if s.len() <= 249 && is_plain_id(s) => Ok(s.clone()),
        _ => Err(field.expected(
            "a Kafka topic name (1 to 249 letters, digits, '.', '_' and '-'; not \".\" or \"..\")",
        )),
    }
}

/// Seed claims (SEED-CLAIMS.md) by prefix: how many there are.
const SEED_CLAIMS: &[(&str, u32)] = &[("M", 7), ("P", 8), ("R", 8), ("G", 15)];
/// Bug ids of the anomaly catalog (notes/anomalies.md §1) by prefix.
const BUG_IDS: &[(&str, u32)] = &[("R", 14), ("P", 2), ("T", 4), ("C", 5)];

fn numbered(id: &str, table: &[(&str, u32)]) -> bool {
    let digits = id.trim_start_matches(|c: char| c.is_ascii_uppercase());
    let prefix = &id[..id.len() - digits.len()];
    let Ok(n) = digits.parse::<u32>() else { return false };
    n.to_string() == digits && table.iter().any(|(p, max)| *p == prefix && (1..=*max).contains(&n))
}

fn is_claim_id(id: &str) -> bool {
    numbered(id, SEED_CLAIMS)
}

fn is_covered_id(id: &str) -> bool {
    let external = ["KIP-", "KAFKA-"].iter().any(|prefix| {
        id.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    external || numbered(id, SEED_CLAIMS) || numbered(id, BUG_IDS)
}

const CLAIM_IDS: &str = "a seed claim id (M1-M7, P1-P8, R1-R8, G1-G15)";
const COVERED_IDS: &str = "a seed claim id (M1-M7, P1-P8, R1-R8, G1-G15), a bug id \
                           (R1-R14, P1-P2, T1-T4, C1-C5), KIP-<n> or KAFKA-<n>";

fn read_scenario(root: &Table<'_>) -> Result<Scenario> {
    root.only(TOP_KEYS)?;
    // The name becomes report file names, so it is kept to characters safe in a path.
    let name_field = root.required("name")?;
    let name = match name_field.node {
        Node::String(s) if is_plain_id(s) => s.clone(),
        _ => return Err(name_field.expected("a name of letters, digits, '.', '_' and '-'")),
    };
    let mut covers = Vec::new();
    if let Some(field) = root.get("covers") {
        for (id, item) in field.strings()? {
            if !is_covered_id(&id) {
                return Err(item.expected(COVERED_IDS));
            }
            if covers.contains(&id) {
                return Err(item.error(format!("{id:?} is listed twice")));
            }
            covers.push(id);
        }
    }
    let why = optional(root, "why", |f| f.str().map(str::to_string))?.unwrap_or_default();
    let seed = optional(root, "seed", Field::u64)?.unwrap_or(1);
    let duration_ms = root.required("duration_ms")?.positive_u64()?;

    let mut cluster = read_cluster(root)?;
    let historical_field = root.get("historical");
    let historical = match &historical_field {
        Some(field) => Some(read_historical(field, &mut cluster)?),
        None => None,
    };
    let network = match root.get("network") {
        Some(field) => read_network(&field.table()?, &NetworkSpec::default(), NETWORK_KEYS)?,
        None => NetworkSpec::default(),
    };
    let mut refs = Refs { cluster: &cluster, clients: BTreeMap::new(), duration_ms };
    let mut producers = Vec::new();
    if let Some(field) = root.get("producers") {
        for table in field.tables()? {
            producers.push(read_producer(&table, &mut refs)?);
        }
    }
    let mut consumers = Vec::new();
    if let Some(field) = root.get("consumers") {
        for table in field.tables()? {
            consumers.push(read_consumer(&table, &mut refs)?);
        }
    }
    let mut steps = Vec::new();
    if let Some(field) = root.get("steps") {
        for table in field.tables()? {
            steps.push(read_step(&table, &refs, &network, &consumers)?);
        }
    }
    let liveness = match root.get("liveness") {
        Some(field) => {
            let table = field.table()?;
            table.only(LIVENESS_KEYS)?;
            let defaults = LivenessSpec::default();
            LivenessSpec {
                enabled: optional(&table, "enabled", Field::bool)?.unwrap_or(defaults.enabled),
                deadline_ms: optional(&table, "deadline_ms", Field::positive_u64)?
                    .unwrap_or(defaults.deadline_ms),
            }
        }
        None => LivenessSpec::default(),
    };
    let expect = match root.get("expect") {
        Some(field) => read_expect(&field.table()?, &liveness)?,
        None => Expectations::default(),
    };
    if let (Some(Historical { switch: name, .. }), Some(field)) = (&historical, &historical_field) {
        if expect.appear.is_empty() {
            return Err(field.error(format!(
                "historical = {name:?} needs an [expect] appear list: the anomalies the switch \
                 re-enables, which the run with the guard on must not show"
            )));
        }
    }
    let mut claims: Vec<ClaimCheck> = Vec::new();
    if let Some(field) = root.get("claims") {
        for table in field.tables()? {
            let claim = read_claim(&table, &covers)?;
            if claims.iter().any(|c| c.id == claim.id) {
                let id = table.required("id")?;
                return Err(id.error(format!("claim {:?} is checked twice", claim.id)));
            }
            claims.push(claim);
        }
    }
    Ok(Scenario {
        name,
        covers,
        why,
        source: None,
        seed,
        duration_ms,
        cluster,
        network,
        producers,
        consumers,
        steps,
        liveness,
        expect,
        claims,
        historical,
    })
}

/// `historical = "<switch>"`: a switch of [`HistoricalBehaviours`], turned on for every broker.
fn read_historical(field: &Field<'_>, cluster: &mut ClusterSpec) -> Result<Historical> {
    let name = field.str()?;
    if !HistoricalBehaviours::NAMES.contains(&name) {
        let hint = did_you_mean(name, &HistoricalBehaviours::NAMES);
        return Err(field.error(format!(
            "no historical switch {name:?}{hint}; known: {}",
            HistoricalBehaviours::NAMES.join(", ")
        )));
    }
    if cluster.brokers < 2 {
        return Err(field.error(format!(
            "historical = {name:?} is a replication guard: set cluster.brokers above 1"
        )));
    }
    let key = HistoricalBehaviours::config_key(name);
    if cluster.broker_config.contains_key(&key) {
        return Err(field.error(format!(
            "historical = {name:?} sets {key}; remove it from cluster.broker_config"
        )));
    }
    cluster.broker_config.insert(key, "true".to_string());
    Ok(Historical { switch: name.to_string(), on: true })
}

const TARGET_SYNTAX: &str = "broker-<id>, all-brokers, leader(<topic>/<partition>), \
    follower(<topic>/<partition>[, <n>]), followers(<topic>/<partition>), controller or \
    client(<id>)";

/// What steps and clients may refer to.
struct Refs<'c> {
    cluster: &'c ClusterSpec,
    /// Client id to the key path that defined it.
    clients: BTreeMap<String, String>,
    duration_ms: u64,
}

impl Refs<'_> {
    fn topic(&self, field: &Field<'_>) -> Result<&TopicSpec> {
        let name = field.name()?;
        if let Some(topic) = self.cluster.topics.iter().find(|t| t.name == name) {
            return Ok(topic);
        }
        let names: Vec<&str> = self.cluster.topics.iter().map(|t| t.name.as_str()).collect();
        let known = if names.is_empty() {
            "cluster.topics defines none".to_string()
        } else {
            format!("topics: {}", names.join(", "))
        };
        let hint = did_you_mean(name, &names);
        Err(field.error(format!("no topic {name:?} in cluster.topics{hint}; {known}")))
    }

    /// Checks `partition` is one of `topic`'s; `what` says how it was written.
    fn partition(
        &self,
        field: &Field<'_>,
        topic: &TopicSpec,
        partition: i64,
        what: &str,
    ) -> Result<i32> {
        match i32::try_from(partition) {
            Ok(p) if (0..topic.partitions).contains(&p) => Ok(p),
            _ => Err(field.error(format!(
                "{what}: topic {:?} has {} partition{} ({})",
                topic.name,
                topic.partitions,
                plural(topic.partitions as u64),
                if topic.partitions == 1 {
                    "only 0".to_string()
                } else {
                    format!("0 to {}", topic.partitions - 1)
                }
            ))),
        }
    }

    fn new_client(&mut self, field: &Field<'_>) -> Result<String> {
        let id = client_id(field)?;
        if let Some(first) = self.clients.get(&id) {
            return Err(
                field.error(format!("duplicate client id {id:?} (already used by {first})"))
            );
        }
        self.clients.insert(id.clone(), field.path.trim_end_matches(".id").to_string());
        Ok(id)
    }

    /// A time at which something happens during the safety phase.
    fn time_ms(&self, field: &Field<'_>) -> Result<u64> {
        let ms = field.u64()?;
        if ms >= self.duration_ms {
            return Err(field.error(format!(
                "expected a time before duration_ms ({}), got {ms}",
                self.duration_ms
            )));
        }
        Ok(ms)
    }

    /// Parses and resolves a target.
    fn target(&self, field: &Field<'_>) -> Result<Target> {
        let text = match field.node {
            Node::String(s) => s.trim(),
            _ => return Err(field.expected(TARGET_SYNTAX)),
        };
        let brokers = self.cluster.brokers;
        if text == "all-brokers" {
            return Ok(Target::AllBrokers);
        }
        if let Some(id) = text.strip_prefix("broker-") {
            let Ok(id) = id.parse::<u32>() else { return Err(field.expected(TARGET_SYNTAX)) };
            if !(1..=brokers).contains(&id) {
                let range = if brokers == 1 {
                    "only broker-1".to_string()
                } else {
                    format!("broker-1 to broker-{brokers}")
                };
                return Err(field.error(format!(
                    "no broker-{id}: the cluster has {brokers} broker{} ({range})",
                    plural(u64::from(brokers))
                )));
            }
            return Ok(Target::Broker(id));
        }
        if text == "controller" {
            return self.cluster_only(field, text).map(|()| Target::Controller);
        }
        let call = |name: &str| text.strip_prefix(name).and_then(|t| t.strip_suffix(')'));
        if let Some(inner) = call("leader(") {
            let (spec, partition) = self.topic_partition(field, inner, text)?;
            return Ok(Target::Leader { topic: spec.name.clone(), partition });
        }
        let (inner, nth) = if let Some(inner) = call("followers(") {
            (inner, None)
        } else if let Some(inner) = call("follower(") {
            match inner.split_once(',') {
                Some((tp, n)) => match n.trim().parse::<u32>() {
                    Ok(n) if n >= 1 => (tp, Some(n)),
                    _ => {
                        return Err(field.error(format!(
                            "{text}: the follower number must be 1 or more, got {:?}",
                            n.trim()
                        )))
                    }
                },
                None => (inner, Some(1)),
            }
        } else {
            return self.client_target(field, text);
        };
        let (spec, partition) = self.topic_partition(field, inner, text)?;
        let followers = i64::from(spec.replication_factor) - 1;
        if i64::from(nth.unwrap_or(1)) > followers {
            return Err(field.error(format!(
                "{text}: topic {:?} has replication factor {}, so {followers} follower{}",
                spec.name,
                spec.replication_factor,
                plural(followers.max(0) as u64)
            )));
        }
        self.cluster_only(field, text)?;
        Ok(Target::Follower { topic: spec.name.clone(), partition, nth })
    }

    /// `client(<id>)`, naming a producer or consumer defined before the step.
    fn client_target(&self, field: &Field<'_>, text: &str) -> Result<Target> {
        if let Some(id) = text.strip_prefix("client(").and_then(|t| t.strip_suffix(')')) {
            let id = id.trim();
            if !self.clients.contains_key(id) {
                let ids: Vec<&str> = self.clients.keys().map(String::as_str).collect();
                let known = if ids.is_empty() {
                    "there are none".to_string()
                } else {
                    format!("ids: {}", ids.join(", "))
                };
                return Err(
                    field.error(format!("{text}: no producer or consumer has id {id:?}; {known}"))
                );
            }
            return Ok(Target::Client(id.to_string()));
        }
        Err(field.expected(TARGET_SYNTAX))
    }

    /// `<topic>/<partition>` inside a target: a topic of the cluster and one of its partitions.
    fn topic_partition(
        &self,
        field: &Field<'_>,
        inner: &str,
        text: &str,
    ) -> Result<(&TopicSpec, i32)> {
        let Some((topic, partition)) = inner.rsplit_once('/') else {
            return Err(field.expected(TARGET_SYNTAX));
        };
        let Ok(partition) = partition.trim().parse::<i64>() else {
            return Err(field.expected(TARGET_SYNTAX));
        };
        let Some(spec) = self.cluster.topics.iter().find(|t| t.name == topic.trim()) else {
            return Err(
                field.error(format!("{text}: no topic {:?} in cluster.topics", topic.trim()))
            );
        };
        Ok((spec, self.partition(field, spec, partition, text)?))
    }

    /// Followers and the controller exist only in a KRaft cluster (`brokers` > 1).
    fn cluster_only(&self, field: &Field<'_>, text: &str) -> Result<()> {
        if self.cluster.brokers > 1 {
            return Ok(());
        }
        Err(field.error(format!(
            "{text}: a single broker has no followers and no controller quorum; set cluster.brokers above 1"
        )))
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn read_cluster(root: &Table<'_>) -> Result<ClusterSpec> {
    let Some(field) = root.get("cluster") else {
        return Ok(ClusterSpec { brokers: 1, broker_config: BTreeMap::new(), topics: Vec::new() });
    };
    let table = field.table()?;
    table.only(CLUSTER_KEYS)?;
    let brokers = optional(&table, "brokers", |f| f.u32(1))?.unwrap_or(1);

    let mut broker_config = BTreeMap::new();
    if let Some(field) = table.get("broker_config") {
        let entries = kafka_entries(&field)?;
        for entry in &entries {
            if TESTBED_BROKER_KEYS.contains(&entry.key.as_str()) {
                return Err(entry.field.error(
                    "set by the testbed, differently for each broker; it cannot be configured here",
                ));
            }
            if TOPOLOGY_BROKER_KEYS.contains(&entry.key.as_str()) {
                return Err(entry.field.error(
                    "set by the testbed from the cluster's shape; it cannot be configured here",
                ));
            }
        }
        let origins = entries.iter().map(|e| {
            let origin = Origin::File { path: e.field.src.file.into(), line: e.field.line() };
            (e.key.clone(), e.value.clone(), origin)
        });
        if let Err(error) = BrokerConfig::from_entries(origins.collect()) {
            let (key, message) = match &error {
                ConfigError::UnknownKey { key, .. } => {
                    (key, "unknown config key (not a Kafka broker setting)".to_string())
                }
                ConfigError::UnsupportedKey { key, .. } => {
                    (key, "a Kafka broker setting that odradek does not support yet".to_string())
                }
                ConfigError::InvalidValue { key, value, reason, .. } => {
                    (key, format!("invalid value {value:?}: {reason}"))
                }
                other => return Err(field.error(other.to_string())),
            };
            let at = entries.iter().find(|e| &e.key == key).map_or(&field, |e| &e.field);
            return Err(at.error(message));
        }
        broker_config = entries.into_iter().map(|e| (e.key, e.value)).collect();
    }

    let mut topics: Vec<TopicSpec> = Vec::new();
    if let Some(field) = table.get("topics") {
        for topic in field.tables()? {
            topic.only(TOPIC_KEYS)?;
            let name_field = topic.required("name")?;
            let name = topic_name(&name_field)?;
            if let Some(i) = topics.iter().position(|t| t.name == name) {
                return Err(name_field.error(format!(
                    "duplicate topic {name:?} (already defined by cluster.topics[{i}])"
                )));
            }
            let partitions =
                optional(&topic, "partitions", |f| f.int(1, i64::from(i32::MAX)))?.unwrap_or(1);
            let replication_factor = match topic.get("replication_factor") {
                Some(f) => {
                    let rf = f.int(1, i64::from(i16::MAX))?;
                    if rf > i64::from(brokers) {
                        return Err(f.error(format!(
                            "expected at most {brokers} (the cluster's brokers), got {rf}"
                        )));
                    }
                    rf as i16
                }
                None => 1,
            };
            let config = match topic.get("config") {
                Some(f) => read_topic_config(&f)?,
                None => BTreeMap::new(),
            };
            let create_at_setup = optional(&topic, "create_at_setup", Field::bool)?.unwrap_or(true);
            topics.push(TopicSpec {
                name,
                partitions: partitions as i32,
                replication_factor,
                config,
                create_at_setup,
            });
        }
    }
    Ok(ClusterSpec { brokers, broker_config, topics })
}

/// One Kafka config entry: its dotted key, its value as Kafka would read it, where it was.
struct KafkaEntry<'a> {
    key: String,
    value: String,
    field: Field<'a>,
}

/// Reads a table of Kafka configs. Unquoted dotted keys (`min.insync.replicas = "2"`) are
/// nested tables in TOML; they are joined back into Kafka's dotted names. Values may be
/// strings, integers, floats or booleans; Kafka reads them all as strings.
fn kafka_entries<'a>(field: &Field<'a>) -> Result<Vec<KafkaEntry<'a>>> {
    fn walk<'a>(
        table: &Table<'a>,
        base_path: &str,
        prefix: &str,
        out: &mut Vec<KafkaEntry<'a>>,
    ) -> Result<()> {
        for (key, mut field) in table.fields() {
            let name =
                if prefix.is_empty() { key.name.clone() } else { format!("{prefix}.{}", key.name) };
            field.path = join_key(base_path, &name);
            let value = match field.node {
                Node::Table(_) => {
                    walk(&field.table()?, base_path, &name, out)?;
                    continue;
                }
                Node::String(s) => s.clone(),
                Node::Integer(i) => i.to_string(),
                Node::Float(f) => f.to_string(),
                Node::Boolean(b) => b.to_string(),
                _ => return Err(field.expected("a Kafka config value (a string)")),
            };
            if out.iter().any(|e| e.key == name) {
                return Err(field.error("set twice (once as a quoted key, once dotted)"));
            }
            out.push(KafkaEntry { key: name, value, field });
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(&field.table()?, &field.path, "", &mut out)?;
    Ok(out)
}

fn read_topic_config(field: &Field<'_>) -> Result<BTreeMap<String, String>> {
    let entries = kafka_entries(field)?;
    let config: BTreeMap<String, String> =
        entries.iter().map(|e| (e.key.clone(), e.value.clone())).collect();
    if let Err(error) = TopicConfig::new(config.clone()) {
        let (key, message) = match &error {
            TopicConfigError::UnknownKey { key } => {
                (key, "unknown topic config key (not a Kafka topic setting)".to_string())
            }
            TopicConfigError::UnsupportedKey { key } => {
                (key, "a Kafka topic setting that odradek does not support yet".to_string())
            }
            TopicConfigError::InvalidValue { key, value, reason } => {
                (key, format!("invalid value {value:?}: {reason}"))
            }
        };
        let at = entries.iter().find(|e| &e.key == key).map_or(field, |e| &e.field);
        return Err(at.error(message));
    }
    Ok(config)
}

/// A network spec; keys not given keep `base`'s values.
fn read_network(table: &Table<'_>, base: &NetworkSpec, allowed: &[&str]) -> Result<NetworkSpec> {
    table.only(allowed)?;
    let latency_ms = match table.get("latency_ms") {
        Some(field) => {
            let items = field.array()?;
            let bounds: Option<Vec<u64>> = match items.as_slice() {
                [min, max] => min.u64().ok().zip(max.u64().ok()).map(|(a, b)| vec![a, b]),
                _ => None,
            };
            match bounds.as_deref() {
                Some(&[min, max]) if min <= max => (min, max),
                Some(&[min, max]) => {
                    return Err(field
                        .error(format!("expected [min, max] with min <= max, got [{min}, {max}]")))
                }
                _ => {
                    return Err(field
                        .error("expected [min, max]: two non-negative integers (milliseconds)"))
                }
            }
        }
        None => base.latency_ms,
    };
    let packet_loss =
        optional(table, "packet_loss", Field::probability)?.unwrap_or(base.packet_loss);
    Ok(NetworkSpec { latency_ms, packet_loss })
}

fn read_producer(table: &Table<'_>, refs: &mut Refs<'_>) -> Result<ProducerSpec> {
    table.only(PRODUCER_KEYS)?;
    let id = refs.new_client(&table.required("id")?)?;
    let topic = refs.topic(&table.required("topic")?)?.clone();
    let acks_field = table.get("acks");
    let acks = match &acks_field {
        Some(field) => match field.node {
            Node::String(s) if s == "0" => Acks::Zero,
            Node::String(s) if s == "1" => Acks::One,
            Node::String(s) if s == "all" || s == "-1" => Acks::All,
            Node::Integer(0) => Acks::Zero,
            Node::Integer(1) => Acks::One,
            Node::Integer(-1) => Acks::All,
            _ => return Err(field.expected("\"0\", \"1\" or \"all\"")),
        },
        None => Acks::All,
    };
    // Accepting `true` would report idempotent runs that were not: refused until the
    // simulated producer sends producer ids and sequence numbers.
    if let Some(field) = table.get("idempotence") {
        if field.bool()? {
            return Err(field.error(
                "idempotence = true: the simulated producer does not implement \
                 enable.idempotence yet (no producer id or sequence numbers); the broker serves \
                 idempotent real clients",
            ));
        }
    }
    let retries =
        optional(table, "retries", |f| f.int(0, i64::from(i32::MAX)))?.unwrap_or(2_147_483_647);
    let max_in_flight =
        optional(table, "max_in_flight", |f| f.int(1, i64::from(i32::MAX)))?.unwrap_or(5);
    let rate_per_sec = match table.get("rate_per_sec") {
        Some(f) => match f.number() {
            Ok(rate) if rate > 0.0 => rate,
            _ => return Err(f.expected("a positive number")),
        },
        None => 100.0,
    };
    let count = optional(table, "count", Field::u64)?;
    let keys = optional(table, "keys", |f| f.u32(1))?;
    let partition = match table.get("partition") {
        Some(f) => {
            let p = f.int(0, i64::from(i32::MAX))?;
            Some(refs.partition(&f, &topic, p, &format!("partition {p} does not exist"))?)
        }
        None => None,
    };
    let payload_bytes =
        optional(table, "payload_bytes", |f| f.int(0, i64::from(i32::MAX)))?.unwrap_or(100);
    let linger_ms = optional(table, "linger_ms", Field::u64)?.unwrap_or(5);
    let request_timeout_ms =
        optional(table, "request_timeout_ms", Field::positive_u64)?.unwrap_or(30_000);
    let delivery_timeout_ms =
        optional(table, "delivery_timeout_ms", Field::positive_u64)?.unwrap_or(120_000);
    if delivery_timeout_ms < linger_ms.saturating_add(request_timeout_ms) {
        let at = table
            .get("delivery_timeout_ms")
            .or_else(|| table.get("linger_ms"))
            .or_else(|| table.get("request_timeout_ms"));
        let message = format!(
            "delivery_timeout_ms ({delivery_timeout_ms}) must be at least linger_ms + \
             request_timeout_ms ({}), as Kafka's producer requires",
            linger_ms.saturating_add(request_timeout_ms)
        );
        return Err(match at {
            Some(f) => f.error(message),
            None => table.error(message),
        });
    }
    let start_ms = optional(table, "start_ms", |f| refs.time_ms(f))?.unwrap_or(0);
    let max_block_ms = optional(table, "max_block_ms", Field::u64)?.unwrap_or(60_000);
    let metadata_max_age_ms =
        optional(table, "metadata_max_age_ms", Field::positive_u64)?.unwrap_or(300_000);
    let headers = optional(table, "headers", |f| f.int(0, 1_000))?.unwrap_or(0) as u32;
    let timestamps = match table.get("timestamps") {
        Some(f) => match choice(&f, &["create-time", "explicit"])? {
            "explicit" => Timestamps::Explicit,
            _ => Timestamps::CreateTime,
        },
        None => Timestamps::CreateTime,
    };
    Ok(ProducerSpec {
        id,
        topic: topic.name,
        acks,
        idempotence: false,
        retries: retries as u32,
        max_in_flight: max_in_flight as u32,
        rate_per_sec,
        count,
        keys,
        partition,
        payload_bytes: payload_bytes as usize,
        linger_ms,
        request_timeout_ms,
        delivery_timeout_ms,
        start_ms,
        max_block_ms,
        metadata_max_age_ms,
        headers,
        timestamps,
    })
}

fn read_consumer(table: &Table<'_>, refs: &mut Refs<'_>) -> Result<ConsumerSpec> {
    table.only(CONSUMER_KEYS)?;
    let id = refs.new_client(&table.required("id")?)?;
    let topic = refs.topic(&table.required("topic")?)?.clone();
    let mode = match (table.get("assign"), table.get("group")) {
        (Some(_), Some(_)) => {
            return Err(table.error("expected exactly one of assign and group, got both"))
        }
        (None, None) => {
            return Err(table.error("expected exactly one of assign and group, got neither"))
        }
        (Some(field), None) => {
            let mut partitions = Vec::new();
            for item in field.array()? {
                let p = item.int(0, i64::from(i32::MAX))?;
                let p =
                    refs.partition(&item, &topic, p, &format!("partition {p} does not exist"))?;
                if partitions.contains(&p) {
                    return Err(item.error(format!("partition {p} is listed twice")));
                }
                partitions.push(p);
            }
            if partitions.is_empty() {
                return Err(field.error("expected at least one partition, got []"));
            }
            ConsumerMode::Assign(partitions)
        }
        (None, Some(field)) => ConsumerMode::Group(field.name()?.to_string()),
    };
    let grouped = matches!(mode, ConsumerMode::Group(_));
    let start = match table.get("start") {
        Some(field) => match field.node {
            Node::String(s) if s == "earliest" => StartPosition::Earliest,
            Node::String(s) if s == "latest" => StartPosition::Latest,
            Node::String(s) if s == "committed" && grouped => StartPosition::Committed,
            Node::String(s) if s == "committed" => {
                return Err(field.error(
                    "\"committed\" needs a group; a consumer with assign starts at \
                     \"earliest\", \"latest\" or an offset",
                ))
            }
            Node::Integer(offset) if *offset >= 0 => StartPosition::Offset(*offset),
            _ => {
                return Err(
                    field.expected("\"earliest\", \"latest\", \"committed\" or an offset >= 0")
                )
            }
        },
        None if grouped => StartPosition::Committed,
        None => StartPosition::Earliest,
    };
    let auto_offset_reset = match table.get("auto_offset_reset") {
        Some(f) => match choice(&f, &["earliest", "latest", "none"])? {
            "earliest" => OffsetReset::Earliest,
            "latest" => OffsetReset::Latest,
            _ => OffsetReset::None,
        },
        None => OffsetReset::Latest,
    };
    const COMMITS: &[&str] =
        &["auto", "sync-after-processing", "async", "before-processing", "none"];
    let commit_field = table.get("commit");
    let commit_name = match &commit_field {
        Some(f) => choice(f, COMMITS)?,
        None if grouped => "auto",
        None => "none",
    };
    if let (Some(f), false) = (&commit_field, grouped) {
        if commit_name != "none" {
            return Err(f.error(format!(
                "a consumer with assign has no group to commit to; expected \"none\", got \
                 {commit_name:?}"
            )));
        }
    }
    let interval = table.get("auto_commit_interval_ms");
    if let (Some(f), false) = (&interval, commit_name == "auto") {
        return Err(f.error(format!(
            "applies only to commit = \"auto\", and this consumer's commit is {commit_name:?}"
        )));
    }
    let commit = match commit_name {
        "auto" => CommitStrategy::Auto {
            interval_ms: interval.map(|f| f.positive_u64()).transpose()?.unwrap_or(5_000),
        },
        "sync-after-processing" => CommitStrategy::SyncAfterProcessing,
        "async" => CommitStrategy::Async,
        "before-processing" => CommitStrategy::BeforeProcessing,
        _ => CommitStrategy::None,
    };
    let processing_name = match table.get("processing") {
        Some(f) => choice(&f, &["in-poll-loop", "async"])?,
        None => "in-poll-loop",
    };
    let delay = table.get("processing_delay_ms");
    let processing = match (processing_name, delay) {
        ("async", Some(f)) => Processing::Async { delay_ms: f.u64()? },
        ("async", None) => {
            return Err(table.src.error(
                table.span,
                &table.key_path("processing_delay_ms"),
                "missing required key (processing = \"async\" needs it)",
            ))
        }
        (_, Some(f)) => {
            return Err(f.error("applies only to processing = \"async\""));
        }
        (_, None) => Processing::InPollLoop,
    };
    let poll_timeout_ms = optional(table, "poll_timeout_ms", Field::u64)?.unwrap_or(100);
    let max_poll_records =
        optional(table, "max_poll_records", |f| f.int(1, i64::from(i32::MAX)))?.unwrap_or(500);
    let start_ms = optional(table, "start_ms", |f| refs.time_ms(f))?.unwrap_or(0);
    Ok(ConsumerSpec {
        id,
        topic: topic.name,
        mode,
        start,
        auto_offset_reset,
        commit,
        processing,
        poll_timeout_ms,
        max_poll_records: max_poll_records as u32,
        start_ms,
    })
}

fn read_step(
    table: &Table<'_>,
    refs: &Refs<'_>,
    network: &NetworkSpec,
    consumers: &[ConsumerSpec],
) -> Result<Step> {
    let do_field = table.required("do")?;
    let names: Vec<&str> = ACTIONS.iter().map(|(name, _)| *name).collect();
    let verb = choice(&do_field, &names)?;
    let action_keys = ACTIONS.iter().find(|(name, _)| *name == verb).map_or(&[][..], |(_, k)| *k);
    let allowed: Vec<&str> = STEP_KEYS.iter().chain(action_keys).copied().collect();
    if let Some((key, _)) = table.entries.iter().find(|(k, _)| !allowed.contains(&k.name.as_str()))
    {
        let hint = did_you_mean(&key.name, &allowed);
        return Err(table.src.error(
            key.span.as_ref().or(table.span),
            &table.key_path(&key.name),
            format!("unknown key for do = {verb:?}{hint}; allowed keys: {}", allowed.join(", ")),
        ));
    }
    let trigger = match (table.get("at_ms"), table.get("when")) {
        (Some(_), Some(_)) => {
            return Err(table.error("expected exactly one of at_ms and when, got both"))
        }
        (None, None) => {
            return Err(table.error("expected exactly one of at_ms and when, got neither"))
        }
        (Some(f), None) => Trigger::At(refs.time_ms(&f)?),
        (None, Some(f)) => {
            let metrics: Vec<&str> = METRICS.iter().map(|(name, _)| *name).collect();
            let reject = |name: &str| {
                let live = metrics.join(", ");
                if END_METRICS.iter().any(|(n, _)| *n == name) {
                    format!(
                        "{name:?} is measured at the end of the run; a step's condition may use \
                         the live metrics {live} (end-of-run metrics belong in \
                         claims.confirmed_when)"
                    )
                } else if properties::property(name).is_some() {
                    format!(
                        "{name:?} is a property, known only after the run; a step's condition \
                         may use the live metrics {live} (properties belong in \
                         claims.confirmed_when)"
                    )
                } else {
                    let hint = did_you_mean(name, &metrics);
                    format!("{name:?} is not a live metric{hint}; expected one of {live}")
                }
            };
            let names = Names { allowed: &metrics, reject: &reject };
            Trigger::When(condition::parse(f.str()?, &names).map_err(|m| f.error(m))?)
        }
    };
    let target = || refs.target(&table.required("target")?);
    let broker_target = || {
        let field = table.required("target")?;
        match refs.target(&field)? {
            Target::Client(_) => {
                Err(field.error(format!("do = {verb:?} acts on brokers, not on clients")))
            }
            target => Ok(target),
        }
    };
    let action = match verb {
        "crash" => {
            let target = target()?;
            let kind = match table.get("mode") {
                Some(f) => {
                    let kind =
                        match choice(&f, &["keep-page-cache", "lose-page-cache", "torn-writes"])? {
                            "keep-page-cache" => CrashKind::KeepPageCache,
                            "lose-page-cache" => CrashKind::LosePageCache,
                            _ => CrashKind::TornWrites,
                        };
                    if matches!(target, Target::Client(_)) && kind != CrashKind::KeepPageCache {
                        return Err(f.error(
                            "a client has no log to lose; lose-page-cache and torn-writes apply \
                             to brokers",
                        ));
                    }
                    kind
                }
                None => CrashKind::KeepPageCache,
            };
            Action::Crash { target, kind }
        }
        "restart" => Action::Restart { target: target()? },
        "pause" => Action::Pause { target: target()? },
        "resume" => Action::Resume { target: target()? },
        "clog" => Action::Clog { target: target()? },
        "unclog" => Action::Unclog { target: target()? },
        "heal" => Action::Heal,
        "partition" => {
            let side = |key: &str| -> Result<(Vec<Target>, Vec<Field<'_>>)> {
                let field = table.required(key)?;
                let items = field.array()?;
                if items.is_empty() {
                    return Err(field.error("expected at least one target, got []"));
                }
                let targets = items.iter().map(|f| refs.target(f)).collect::<Result<_>>()?;
                Ok((targets, items))
            };
            let (from, _) = side("from")?;
            let (to, to_fields) = side("to")?;
            if let Some((t, f)) = to.iter().zip(&to_fields).find(|(t, _)| from.contains(t)) {
                return Err(f.error(format!("{t} is on both sides of the partition")));
            }
            let one_way = optional(table, "one_way", Field::bool)?.unwrap_or(false);
            Action::Partition { from, to, one_way }
        }
        "network" => {
            if !table.has("latency_ms") && !table.has("packet_loss") {
                return Err(table.error("do = \"network\" needs latency_ms, packet_loss or both"));
            }
            Action::Network(read_network(table, network, &allowed)?)
        }
        "seek" => read_seek(table, refs, consumers)?,
        "create-partitions" => {
            let topic = refs.topic(&table.required("topic")?)?.name.clone();
            let count = table.required("count")?.int(1, i64::from(i32::MAX))? as i32;
            Action::CreatePartitions { topic, count }
        }
        "list-offsets" => {
            let spec = refs.topic(&table.required("topic")?)?;
            let field = table.required("partition")?;
            let p = field.int(0, i64::from(i32::MAX))?;
            let partition = refs.partition(&field, spec, p, &format!("partition {p}"))?;
            Action::ListOffsets { topic: spec.name.clone(), partition }
        }
        _ => {
            let target = broker_target()?;
            let probability =
                |key| optional(table, key, Field::probability).map(|p| p.unwrap_or(0.0));
            Action::DiskFaults {
                target,
                read_corruption_probability: probability("read_corruption_probability")?,
                io_error_probability: probability("io_error_probability")?,
                sync_is_noop: optional(table, "sync_is_noop", Field::bool)?.unwrap_or(false),
            }
        }
    };
    Ok(Step { trigger, action, line: table.line() })
}

/// A `seek` step: its target must be a consumer that assigns itself partitions, and a
/// partition it names must be one of them.
fn read_seek(table: &Table<'_>, refs: &Refs<'_>, consumers: &[ConsumerSpec]) -> Result<Action> {
    let target_field = table.required("target")?;
    let client = match refs.target(&target_field)? {
        Target::Client(id) => id,
        other => {
            return Err(target_field
                .error(format!("do = \"seek\" acts on a consumer, client(<id>); got {other}")))
        }
    };
    let Some(consumer) = consumers.iter().find(|c| c.id == client) else {
        return Err(target_field.error(format!("{client:?} is a producer; only consumers seek")));
    };
    let ConsumerMode::Assign(assigned) = &consumer.mode else {
        return Err(target_field.error(format!(
            "consumer {client:?} uses a group; seek applies to consumers with assign"
        )));
    };
    let offset_field = table.required("offset")?;
    let to = match offset_field.node {
        Node::String(s) if s == "earliest" => SeekTo::Earliest,
        Node::String(s) if s == "latest" => SeekTo::Latest,
        Node::Integer(offset) if *offset >= 0 => SeekTo::Offset(*offset),
        _ => return Err(offset_field.expected("\"earliest\", \"latest\" or an offset >= 0")),
    };
    let partition = match table.get("partition") {
        Some(field) => {
            let p = field.int(0, i64::from(i32::MAX))?;
            match i32::try_from(p) {
                Ok(p) if assigned.contains(&p) => Some(p),
                _ => {
                    let list: Vec<String> = assigned.iter().map(i32::to_string).collect();
                    return Err(field.error(format!(
                        "consumer {client:?} is not assigned partition {p} (it has {})",
                        list.join(", ")
                    )));
                }
            }
        }
        None => None,
    };
    Ok(Action::Seek { client, partition, to })
}

fn unknown_property(name: &str) -> String {
    let names: Vec<&str> = PROPERTIES.iter().map(|p| p.name).collect();
    let hint = did_you_mean(name, &names);
    format!("unknown property {name:?}{hint}; properties: {}", names.join(", "))
}

fn property_name(field: &Field<'_>) -> Result<String> {
    let name = field.str()?;
    match properties::property(name) {
        Some(p) => Ok(p.name.to_string()),
        None => Err(field.error(unknown_property(name))),
    }
}

fn read_expect(table: &Table<'_>, liveness: &LivenessSpec) -> Result<Expectations> {
    table.only(EXPECT_KEYS)?;
    let mut named: BTreeSet<String> = BTreeSet::new();
    let mut check = |name: &str, field: &Field<'_>| -> Result<()> {
        if !named.insert(name.to_string()) {
            return Err(field.error(format!("property {name:?} is named twice in expect")));
        }
        if name == "liveness" && !liveness.enabled {
            return Err(field.error("\"liveness\" is not checked: liveness.enabled is false"));
        }
        Ok(())
    };
    let mut appear = Vec::new();
    if let Some(field) = table.get("appear") {
        for bound in field.tables()? {
            bound.only(BOUND_KEYS)?;
            let property_field = bound.required("property")?;
            let property = property_name(&property_field)?;
            check(&property, &property_field)?;
            let at_least = optional(&bound, "at_least", Field::u64)?.unwrap_or(1);
            let at_most = match bound.get("at_most") {
                Some(f) => {
                    let at_most = f.u64()?;
                    if at_most < at_least {
                        return Err(f.error(format!(
                            "expected at least at_least ({at_least}), got {at_most}"
                        )));
                    }
                    Some(at_most)
                }
                None => None,
            };
            appear.push(Bound { property, at_least, at_most });
        }
    }
    let mut allow = Vec::new();
    if let Some(field) = table.get("allow") {
        for item in field.array()? {
            let property = property_name(&item)?;
            check(&property, &item)?;
            allow.push(property);
        }
    }
    Ok(Expectations { appear, allow })
}

fn read_claim(table: &Table<'_>, covers: &[String]) -> Result<ClaimCheck> {
    table.only(CLAIM_KEYS)?;
    let id_field = table.required("id")?;
    let id = id_field.str()?;
    if !is_claim_id(id) {
        return Err(id_field.expected(CLAIM_IDS));
    }
    if !covers.iter().any(|c| c == id) {
        return Err(id_field.error(format!(
            "claim {id:?} is not in covers; a scenario decides only the claims it covers"
        )));
    }
    let when = table.required("confirmed_when")?;
    let mut allowed: Vec<&str> = METRICS.iter().map(|(name, _)| *name).collect();
    allowed.extend(END_METRICS.iter().map(|(name, _)| *name));
    allowed.extend(PROPERTIES.iter().map(|p| p.name));
    let reject = |name: &str| {
        let hint = did_you_mean(name, &allowed);
        format!(
            "{name:?} is neither a metric nor a property{hint}; expected one of {}",
            allowed.join(", ")
        )
    };
    let names = Names { allowed: &allowed, reject: &reject };
    let confirmed_when = condition::parse(when.str()?, &names).map_err(|m| when.error(m))?;
    Ok(ClaimCheck { id: id.to_string(), confirmed_when })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for id in ["M1", "M7", "P8", "R14", "G15", "T4", "C5", "KIP-101", "KAFKA-14704"] {
            assert!(is_covered_id(id), "{id}");
        }
        for id in ["M8", "P9", "R15", "G0", "G01", "X1", "KIP-", "kip-101", "R", "T5"] {
            assert!(!is_covered_id(id), "{id}");
        }
        assert!(is_claim_id("R8"));
        assert!(!is_claim_id("R9"));
        assert!(!is_claim_id("T1"));
    }

    #[test]
    fn quoted_choices() {
        assert_eq!(one_of(&["a"]), "\"a\"");
        assert_eq!(one_of(&["a", "b", "c"]), "\"a\", \"b\" or \"c\"");
    }
}
