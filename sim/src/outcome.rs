//! What a run produced: the verdict and everything it was judged on.
//!
//! Inputs: filled in by the runner. Outputs: read by the CLI and the reports. Invariants:
//! nothing here depends on wall-clock time, so a report regenerated from the same run is the
//! same bytes; every map is ordered; what the steps did is recorded as data ([`StepFired`]:
//! which step, what kind of action, which brokers its target named when it ran), so reports
//! never parse trace text.

use crate::check::HistoryCheck;
use crate::ground_truth::Violation;
use crate::history::{AdminOp, History, TopicPartitionKey};
use crate::scenario::{Action, CrashKind, Scenario};
use crate::trace::TraceLine;
use crate::verdict::{ClaimResult, PropertyResult, Verdict};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// Everything a run produced.
#[derive(Clone, Debug, Serialize)]
pub struct RunOutcome {
    pub scenario: String,
    pub source: Option<String>,
    pub seed: u64,
    pub verdict: Verdict,
    pub properties: Vec<PropertyResult>,
    pub claims: Vec<ClaimResult>,
    pub check: Option<HistoryCheck>,
    pub violations: Vec<Violation>,
    /// Simulated milliseconds the run took, both phases.
    pub duration_ms: u64,
    pub trace_hash: String,
    #[serde(skip)]
    pub trace: Vec<TraceLine>,
    #[serde(skip)]
    pub history: History,
    /// Per partition, the leader's high watermark over time: (time, broker, hw). Serialized
    /// as a map keyed by `topic-partition` (JSON keys must be strings).
    #[serde(serialize_with = "serialize_by_partition_name")]
    pub hw_series: BTreeMap<TopicPartitionKey, Vec<(u64, u32, i64)>>,
    /// Every metric the run measured, live and end-of-run, by name.
    pub metrics: BTreeMap<String, f64>,
    /// What steps did through the admin client.
    #[serde(skip)]
    pub admin: Vec<AdminOp>,
    /// Faults and actions as fired, in firing order; then the liveness phase's healing.
    pub steps_fired: Vec<StepFired>,
    /// When the safety phase ended and the liveness phase began (simulated ms); `None` when
    /// the scenario disables the liveness phase or the run could not be judged.
    pub liveness_start_ms: Option<u64>,
    /// How many observations of the cluster the replication invariants checked; `None` when
    /// the run had one standalone broker (no cluster to observe) or could not be judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_observations: Option<u64>,
}

/// One action the runner took: a scenario step, or the liveness phase healing a fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepFired {
    pub time_ms: u64,
    /// The index of the step in [`Scenario::steps`]; `None` for the liveness phase's healing
    /// (heal the network, restart crashed brokers, resume paused ones).
    pub step: Option<usize>,
    pub kind: StepKind,
    /// The brokers the step's target named when it ran (`leader(t/p)` resolves to whichever
    /// broker led then); empty for client targets and cluster-wide actions.
    pub brokers: Vec<u32>,
    /// What was done, as the fault injector describes it (the trace line adds the step).
    pub text: String,
}

/// What kind of action a step is: a scenario action with a crash's mode folded in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// kill -9: the process dies, the page cache survives.
    CrashKeepPageCache,
    /// Power loss: unsynced data is lost.
    CrashLosePageCache,
    /// Power loss with torn pages.
    CrashTornWrites,
    Restart,
    Pause,
    Resume,
    Partition,
    Heal,
    Clog,
    Unclog,
    Network,
    DiskFaults,
    Seek,
    CreatePartitions,
    ListOffsets,
}

impl StepKind {
    pub fn of(action: &Action) -> StepKind {
        match action {
            Action::Crash { kind: CrashKind::KeepPageCache, .. } => StepKind::CrashKeepPageCache,
            Action::Crash { kind: CrashKind::LosePageCache, .. } => StepKind::CrashLosePageCache,
            Action::Crash { kind: CrashKind::TornWrites, .. } => StepKind::CrashTornWrites,
            Action::Restart { .. } => StepKind::Restart,
            Action::Pause { .. } => StepKind::Pause,
            Action::Resume { .. } => StepKind::Resume,
            Action::Partition { .. } => StepKind::Partition,
            Action::Heal => StepKind::Heal,
            Action::Clog { .. } => StepKind::Clog,
            Action::Unclog { .. } => StepKind::Unclog,
            Action::Network(_) => StepKind::Network,
            Action::DiskFaults { .. } => StepKind::DiskFaults,
            Action::Seek { .. } => StepKind::Seek,
            Action::CreatePartitions { .. } => StepKind::CreatePartitions,
            Action::ListOffsets { .. } => StepKind::ListOffsets,
        }
    }

    /// Whether the step puts a broker down (any crash).
    pub fn is_crash(self) -> bool {
        matches!(
            self,
            StepKind::CrashKeepPageCache | StepKind::CrashLosePageCache | StepKind::CrashTornWrites
        )
    }
}

fn serialize_by_partition_name<S: Serializer>(
    series: &BTreeMap<TopicPartitionKey, Vec<(u64, u32, i64)>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    // `topic-partition` names sort like the keys only when partition numbers have equal
    // width, so the map is written in key order explicitly.
    serializer.collect_map(series.iter().map(|(key, points)| (key.to_string(), points)))
}

impl RunOutcome {
    /// A run that could not be judged.
    pub fn error(scenario: &Scenario, seed: u64, message: String) -> RunOutcome {
        RunOutcome {
            scenario: scenario.name.clone(),
            source: scenario.source.as_ref().map(|p| p.display().to_string()),
            seed,
            verdict: Verdict::Error { message },
            properties: Vec::new(),
            claims: Vec::new(),
            check: None,
            violations: Vec::new(),
            duration_ms: 0,
            trace_hash: String::new(),
            trace: Vec::new(),
            history: History::default(),
            hw_series: BTreeMap::new(),
            steps_fired: Vec::new(),
            metrics: BTreeMap::new(),
            admin: Vec::new(),
            liveness_start_ms: None,
            replication_observations: None,
        }
    }
}
