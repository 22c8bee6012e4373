//! Scenario files: a cluster, its workload, the faults to inject, and what to expect.
//!
//! Inputs: TOML text and the path it came from ([`parse`], [`load`], [`load_dir`]).
//! Outputs: a validated [`Scenario`], or a [`ScenarioError`] naming the file, line, key
//! path and what was expected. Invariants of a parsed [`Scenario`]: unknown keys were
//! rejected; every topic, partition, broker and client it names exists; every condition
//! uses names a run measures; Kafka configs passed core's own validators; nothing in it
//! needs checking again by the runner. See `scenarios/README.md` for the format.
//!
//! (The types below are the contract between the parser, the runner and the reports.)

mod condition;
mod parse;
mod tree;
mod write;

pub use write::{action_fields, to_toml};

pub use parse::{load, load_dir, parse};

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// A scenario, validated: every name it uses exists, every value is in range.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// Claim ids from SEED-CLAIMS.md and bug ids from the anomaly catalog it covers.
    pub covers: Vec<String>,
    pub why: String,
    /// The file it was read from, for reproduce commands and error messages.
    pub source: Option<PathBuf>,
    /// The seed `run` uses when none is given.
    pub seed: u64,
    /// How long the safety phase (workload and faults) runs, in simulated milliseconds.
    pub duration_ms: u64,
    pub cluster: ClusterSpec,
    pub network: NetworkSpec,
    pub producers: Vec<ProducerSpec>,
    pub consumers: Vec<ConsumerSpec>,
    pub steps: Vec<Step>,
    pub liveness: LivenessSpec,
    pub expect: Expectations,
    /// How this run decides the claims it covers, from what it measured.
    pub claims: Vec<ClaimCheck>,
    /// The historical switch (`odradek.historical.<name>`, DESIGN.md "Historical behaviours")
    /// this scenario turns on for every broker to show the anomaly it re-enables. Loading a
    /// file adds the guarded run ([`Scenario::guarded`]), which must not show it.
    pub historical: Option<Historical>,
}

/// A scenario's historical switch, and whether this run has it on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Historical {
    /// A name of `HistoricalBehaviours::NAMES`.
    pub switch: String,
    /// `true` for the run the file describes; `false` for its guarded run.
    pub on: bool,
}

impl Scenario {
    /// The run with the guard on: the same cluster, workload, faults and seed with the
    /// historical switch off (modern Kafka). None of the anomalies `expect.appear` names may
    /// occur there (what `expect.allow` allows still may); it decides no claims. `None` for a
    /// scenario without a switch.
    pub fn guarded(&self) -> Option<Scenario> {
        let switch = &self.historical.as_ref().filter(|h| h.on)?.switch;
        let key = odradek::config::HistoricalBehaviours::config_key(switch);
        let mut guarded = self.clone();
        guarded.name = format!("{}-guarded", self.name);
        guarded.historical = Some(Historical { switch: switch.clone(), on: false });
        guarded.cluster.broker_config.insert(key.clone(), "false".to_string());
        let shown: Vec<&str> = self.expect.appear.iter().map(|b| b.property.as_str()).collect();
        guarded.why = format!(
            "`{}` with the guard on ({key} = false, as Kafka is today): the same run must show \
             none of {}.\n\n{}",
            self.name,
            shown.join(", "),
            self.why
        );
        guarded.expect.appear.clear();
        guarded.claims.clear();
        Some(guarded)
    }

    /// This scenario, then its guarded run if it has a historical switch.
    pub fn with_guarded(self) -> Vec<Scenario> {
        let guarded = self.guarded();
        std::iter::once(self).chain(guarded).collect()
    }

    /// Whether this is the guarded run of a scenario with a historical switch (the CLI picks
    /// it with `--guarded`).
    pub fn is_guarded(&self) -> bool {
        self.historical.as_ref().is_some_and(|h| !h.on)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSpec {
    pub brokers: u32,
    /// Broker settings by Kafka key, applied to every broker.
    pub broker_config: BTreeMap<String, String>,
    pub topics: Vec<TopicSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Topic configs by Kafka key.
    pub config: BTreeMap<String, String>,
    /// Whether setup creates the topic. `false` leaves it to the broker's auto-creation (or
    /// to nobody): producers may still name it, and the final read skips it if it is absent.
    pub create_at_setup: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSpec {
    /// One-way latency of each message, uniform in `[min, max]` milliseconds.
    pub latency_ms: (u64, u64),
    /// Probability that a message is lost (on TCP: delayed and retried, see madsim.md §2.3).
    pub packet_loss: f64,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec { latency_ms: (1, 5), packet_loss: 0.0 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    Zero,
    One,
    All,
}

impl Acks {
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::Zero => 0,
            Acks::One => 1,
            Acks::All => -1,
        }
    }
}

/// The timestamps a producer gives its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timestamps {
    /// None given: the client stamps each record with its clock (Kafka's CreateTime).
    CreateTime,
    /// Record `n` carries `workload::EXPLICIT_TIMESTAMP_BASE_MS + n`, so a reader can tell
    /// which timestamp each record was sent with.
    Explicit,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProducerSpec {
    pub id: String,
    pub topic: String,
    pub acks: Acks,
    pub idempotence: bool,
    pub retries: u32,
    pub max_in_flight: u32,
    /// Sends per simulated second.
    pub rate_per_sec: f64,
    /// Stop after this many sends (else at the end of the safety phase).
    pub count: Option<u64>,
    /// Distinct keys to cycle through; `None` sends keyless records.
    pub keys: Option<u32>,
    /// Send every record to this partition.
    pub partition: Option<i32>,
    pub payload_bytes: usize,
    pub linger_ms: u64,
    pub request_timeout_ms: u64,
    pub delivery_timeout_ms: u64,
    pub start_ms: u64,
    /// `max.block.ms`: how long a send may wait for metadata or buffer space.
    pub max_block_ms: u64,
    /// `metadata.max.age.ms`: how old the producer's metadata may grow before a refresh (it
    /// sees partitions added to a topic only after one).
    pub metadata_max_age_ms: u64,
    /// Headers per record: record `n` of producer `p` carries `h<i>` = `p-<n>/h<i>`.
    pub headers: u32,
    pub timestamps: Timestamps,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerMode {
    /// The consumer assigns itself these partitions (no group).
    Assign(Vec<i32>),
    /// The consumer subscribes with this group id.
    Group(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartPosition {
    Earliest,
    Latest,
    Offset(i64),
    /// The group's committed offset, else `auto.offset.reset` (groups only).
    Committed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetReset {
    Earliest,
    Latest,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitStrategy {
    /// `enable.auto.commit` every `interval_ms` (commits the previous poll's positions).
    Auto { interval_ms: u64 },
    /// commitSync after processing each poll.
    SyncAfterProcessing,
    /// commitAsync after processing each poll (no retry).
    Async,
    /// commitSync before processing (at-most-once).
    BeforeProcessing,
    /// No commits.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Processing {
    /// Records are processed inside the poll loop, before the next poll.
    InPollLoop,
    /// Records are handed to a worker that processes them `delay_ms` later.
    Async { delay_ms: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSpec {
    pub id: String,
    pub topic: String,
    pub mode: ConsumerMode,
    pub start: StartPosition,
    pub auto_offset_reset: OffsetReset,
    pub commit: CommitStrategy,
    pub processing: Processing,
    pub poll_timeout_ms: u64,
    pub max_poll_records: u32,
    pub start_ms: u64,
}

/// What a step acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `broker-<id>`: one broker by node id.
    Broker(u32),
    /// `all-brokers`.
    AllBrokers,
    /// `leader(<topic>/<partition>)`: whichever broker leads the partition when the step runs.
    Leader { topic: String, partition: i32 },
    /// `follower(<topic>/<partition>)`, `follower(<topic>/<partition>, <n>)`: the `n`-th
    /// replica (from 1, in the committed assignment's order) that does not lead the partition
    /// when the step runs; `followers(<topic>/<partition>)` (`nth: None`): all of them.
    Follower { topic: String, partition: i32, nth: Option<u32> },
    /// `controller`: the active controller (the KRaft leader) when the step runs.
    Controller,
    /// `client(<id>)`: a producer or consumer process.
    Client(String),
}

/// How a broker dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashKind {
    /// The process dies; the OS and its page cache survive (kill -9).
    KeepPageCache,
    /// The machine loses power: unsynced data is lost, a prefix may survive.
    LosePageCache,
    /// Power loss with torn pages: garbage may end the surviving prefix.
    TornWrites,
}

/// Where a `seek` step moves a consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeekTo {
    /// The log start offset (ListOffsets earliest).
    Earliest,
    /// The end of the log (ListOffsets latest).
    Latest,
    Offset(i64),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Crash {
        target: Target,
        kind: CrashKind,
    },
    Restart {
        target: Target,
    },
    Pause {
        target: Target,
    },
    Resume {
        target: Target,
    },
    /// Cut the network between two sides (one way: only messages from `from` to `to`).
    Partition {
        from: Vec<Target>,
        to: Vec<Target>,
        one_way: bool,
    },
    /// Remove every network partition and clog.
    Heal,
    Clog {
        target: Target,
    },
    Unclog {
        target: Target,
    },
    Network(NetworkSpec),
    DiskFaults {
        target: Target,
        read_corruption_probability: f64,
        io_error_probability: f64,
        /// The disk acknowledges fsync without doing it.
        sync_is_noop: bool,
    },
    /// A consumer (an assign consumer) seeks: all its partitions, or one.
    Seek {
        client: String,
        partition: Option<i32>,
        to: SeekTo,
    },
    /// Grow a topic to `count` partitions through the admin client (Kafka refuses fewer).
    CreatePartitions {
        topic: String,
        count: i32,
    },
    /// Ask a partition's log start and end offsets through the admin client (ListOffsets).
    ListOffsets {
        topic: String,
        partition: i32,
    },
}

impl Action {
    /// The targets an action names (a seek names its consumer as `client(<id>)`).
    pub fn targets(&self) -> Vec<Target> {
        match self {
            Action::Crash { target, .. }
            | Action::Restart { target }
            | Action::Pause { target }
            | Action::Resume { target }
            | Action::Clog { target }
            | Action::Unclog { target }
            | Action::DiskFaults { target, .. } => vec![target.clone()],
            Action::Partition { from, to, .. } => from.iter().chain(to).cloned().collect(),
            Action::Seek { client, .. } => vec![Target::Client(client.clone())],
            Action::Heal
            | Action::Network(_)
            | Action::CreatePartitions { .. }
            | Action::ListOffsets { .. } => Vec::new(),
        }
    }
}

/// When a step runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// At this simulated time (ms since the start).
    At(u64),
    /// The first time the condition holds (checked every few simulated milliseconds).
    When(Condition),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub trigger: Trigger,
    pub action: Action,
    /// The line of the step in the scenario file, for messages.
    pub line: usize,
}

/// `metric op number [and metric op number]...`
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub clauses: Vec<Clause>,
    /// The text as written, for reports.
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    /// A metric from `properties::METRICS` or a property name from `properties::PROPERTIES`.
    pub metric: String,
    pub op: CompareOp,
    pub value: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LivenessSpec {
    /// Run the liveness phase: heal every fault, restart crashed brokers, read everything.
    pub enabled: bool,
    /// How long convergence may take, in simulated milliseconds after the safety phase.
    pub deadline_ms: u64,
}

impl Default for LivenessSpec {
    fn default() -> Self {
        LivenessSpec { enabled: true, deadline_ms: 30_000 }
    }
}

/// A property bound: `name` must occur between `at_least` and `at_most` times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    pub property: String,
    pub at_least: u64,
    pub at_most: Option<u64>,
}

/// What the run must show. Every property not named in `appear` or `allow` must hold (occur
/// zero times).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expectations {
    pub appear: Vec<Bound>,
    pub allow: Vec<String>,
}

/// A claim this scenario tests, and the measured condition that confirms it (otherwise the
/// run refutes it).
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimCheck {
    pub id: String,
    pub confirmed_when: Condition,
}

impl fmt::Display for Target {
    /// The scenario-file syntax: `broker-2`, `all-brokers`, `leader(orders/0)`,
    /// `follower(orders/0, 2)`, `followers(orders/0)`, `controller`, `client(p1)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Broker(id) => write!(f, "broker-{id}"),
            Target::AllBrokers => f.write_str("all-brokers"),
            Target::Leader { topic, partition } => write!(f, "leader({topic}/{partition})"),
            Target::Follower { topic, partition, nth: None } => {
                write!(f, "followers({topic}/{partition})")
            }
            Target::Follower { topic, partition, nth: Some(1) } => {
                write!(f, "follower({topic}/{partition})")
            }
            Target::Follower { topic, partition, nth: Some(n) } => {
                write!(f, "follower({topic}/{partition}, {n})")
            }
            Target::Controller => f.write_str("controller"),
            Target::Client(id) => write!(f, "client({id})"),
        }
    }
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Ge => ">=",
            CompareOp::Gt => ">",
        }
    }

    /// `left op right`.
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CompareOp::Lt => left < right,
            CompareOp::Le => left <= right,
            CompareOp::Eq => left == right,
            CompareOp::Ne => left != right,
            CompareOp::Ge => left >= right,
            CompareOp::Gt => left > right,
        }
    }
}

impl Condition {
    /// Whether every clause holds, given each name's current value.
    pub fn holds(&self, mut value_of: impl FnMut(&str) -> f64) -> bool {
        self.clauses.iter().all(|c| c.op.holds(value_of(&c.metric), c.value))
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a scenario file cannot be used. Messages read
/// `file:line: key.path: what was expected, got what`; a TOML syntax error also gives the
/// column, since the line alone does not show where the parser stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML. `file` is the path as given, or `<input>` when parsing text.
    #[error("{}: invalid TOML: {message}", place(file, *line, *column))]
    Syntax { file: String, line: Option<usize>, column: Option<usize>, message: String },
    /// TOML, but not a valid scenario: a bad key, type, value or reference.
    #[error("{}: {key}: {message}", place(file, *line, None))]
    Invalid {
        file: String,
        line: Option<usize>,
        column: Option<usize>,
        /// The key path, e.g. `producers[0].acks` or `cluster.broker_config."min.insync.replicas"`.
        key: String,
        message: String,
    },
    /// Several files of a directory are invalid (from [`load_dir`]), in path order.
    #[error("{} scenario files are invalid:\n{}", errors.len(), list(errors))]
    Several { errors: Vec<ScenarioError> },
}

fn place(file: &str, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
        (Some(line), None) => format!("{file}:{line}"),
        _ => file.to_string(),
    }
}

fn list(errors: &[ScenarioError]) -> String {
    errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
}
