//! What a run produced: the verdict and everything it was judged on.
//!
//! Inputs: filled in by the runner. Outputs: read by the CLI and the reports. Invariant:
//! nothing here depends on wall-clock time, so a report regenerated from the same run is the
//! same bytes.

use crate::check::HistoryCheck;
use crate::ground_truth::Violation;
use crate::history::{AdminOp, History, TopicPartitionKey};
use crate::scenario::Scenario;
use crate::trace::TraceLine;
use crate::verdict::{ClaimResult, PropertyResult, Verdict};
use serde::Serialize;
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
    /// Per partition, the leader's high watermark over time: (time, broker, hw).
    pub hw_series: BTreeMap<TopicPartitionKey, Vec<(u64, u32, i64)>>,
    /// Faults and actions as fired: (time, text).
    pub steps_fired: Vec<(u64, String)>,
    /// Every metric the run measured, live and end-of-run, by name.
    pub metrics: BTreeMap<String, f64>,
    /// What steps did through the admin client.
    #[serde(skip)]
    pub admin: Vec<AdminOp>,
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
        }
    }
}
