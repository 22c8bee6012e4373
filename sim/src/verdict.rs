//! Judging a run: expectations, conditions and claim verdicts from measured counts.
//!
//! Inputs: how often each property occurred in a run (anomalies, invariant violations,
//! liveness failures) and the run's metrics. Outputs: per-property results, the verdict, and
//! for each claim the scenario covers whether the measurements confirm it. Invariant: a
//! verdict is computed from counts alone, never from what a claim or scenario says.

use crate::properties::PROPERTIES;
use crate::scenario::{CompareOp, Condition, Expectations};
use serde::Serialize;
use std::collections::BTreeMap;

/// The rule a property was held to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum Rule {
    /// Must not occur.
    Hold,
    /// Must occur between the bounds.
    Appear { at_least: u64, at_most: Option<u64> },
    /// May occur; reported only.
    Allow,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PropertyResult {
    pub property: &'static str,
    pub count: u64,
    pub rule: Rule,
    pub met: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail {
        reasons: Vec<String>,
    },
    /// The run could not be judged: the simulation panicked or could not start.
    Error {
        message: String,
    },
}

impl Verdict {
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass)
    }

    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail { .. } => "FAIL",
            Verdict::Error { .. } => "ERROR",
        }
    }
}

/// Holds every property to its rule: `appear` bounds, `allow`, and otherwise zero.
pub fn judge(
    expect: &Expectations,
    counts: &BTreeMap<&'static str, u64>,
) -> (Vec<PropertyResult>, Verdict) {
    let mut results = Vec::with_capacity(PROPERTIES.len());
    let mut reasons = Vec::new();
    for property in PROPERTIES {
        let count = counts.get(property.name).copied().unwrap_or(0);
        let rule = if let Some(bound) = expect.appear.iter().find(|b| b.property == property.name) {
            Rule::Appear { at_least: bound.at_least, at_most: bound.at_most }
        } else if expect.allow.iter().any(|a| a == property.name) {
            Rule::Allow
        } else {
            Rule::Hold
        };
        let met = match &rule {
            Rule::Hold => count == 0,
            Rule::Appear { at_least, at_most } => {
                count >= *at_least && at_most.is_none_or(|m| count <= m)
            }
            Rule::Allow => true,
        };
        if !met {
            reasons.push(match &rule {
                Rule::Hold => format!("{} occurred {count} time(s); it must hold", property.name),
                Rule::Appear { at_least, at_most: Some(m) } => {
                    format!("{} occurred {count} time(s); expected {at_least}..={m}", property.name)
                }
                Rule::Appear { at_least, at_most: None } => format!(
                    "{} occurred {count} time(s); expected at least {at_least}",
                    property.name
                ),
                Rule::Allow => unreachable!("allowed properties always pass"),
            });
        }
        results.push(PropertyResult { property: property.name, count, rule, met });
    }
    let verdict = if reasons.is_empty() { Verdict::Pass } else { Verdict::Fail { reasons } };
    (results, verdict)
}

/// Whether every clause of `condition` holds; a name `lookup` does not know makes it false.
pub fn holds(condition: &Condition, lookup: impl Fn(&str) -> Option<f64>) -> bool {
    condition.clauses.iter().all(|clause| {
        let Some(value) = lookup(&clause.metric) else { return false };
        match clause.op {
            CompareOp::Lt => value < clause.value,
            CompareOp::Le => value <= clause.value,
            CompareOp::Eq => value == clause.value,
            CompareOp::Ne => value != clause.value,
            CompareOp::Ge => value >= clause.value,
            CompareOp::Gt => value > clause.value,
        }
    })
}

/// A claim's verdict in one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClaimResult {
    pub id: String,
    pub condition: String,
    pub confirmed: bool,
    /// Every name the condition uses with the value the run measured (`None`: not measured),
    /// the evidence a report shows beside the verdict.
    pub measured: Vec<(String, Option<f64>)>,
}

impl ClaimResult {
    /// Decides a claim from measured values: confirmed when its condition holds.
    pub fn decide(
        id: &str,
        condition: &Condition,
        lookup: impl Fn(&str) -> Option<f64>,
    ) -> ClaimResult {
        let mut measured: Vec<(String, Option<f64>)> = Vec::new();
        for clause in &condition.clauses {
            if !measured.iter().any(|(name, _)| name == &clause.metric) {
                measured.push((clause.metric.clone(), lookup(&clause.metric)));
            }
        }
        ClaimResult {
            id: id.to_string(),
            condition: condition.text.clone(),
            confirmed: holds(condition, &lookup),
            measured,
        }
    }

    /// `acked=120 lost-write=0 listed_latest=-`: the measured values, for one line of output.
    pub fn evidence(&self) -> String {
        self.measured
            .iter()
            .map(|(name, value)| match value {
                Some(v) => format!("{name}={v}"),
                None => format!("{name}=-"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Bound, Clause};

    fn counts(pairs: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn every_unmentioned_property_must_hold() {
        let (results, verdict) = judge(&Expectations::default(), &counts(&[("lost-write", 2)]));
        assert_eq!(
            verdict,
            Verdict::Fail { reasons: vec!["lost-write occurred 2 time(s); it must hold".into()] }
        );
        assert_eq!(results.len(), PROPERTIES.len());
        let (_, verdict) = judge(&Expectations::default(), &counts(&[]));
        assert!(verdict.is_pass());
    }

    #[test]
    fn appear_needs_the_bounds_and_allow_accepts_anything() {
        let expect = Expectations {
            appear: vec![Bound { property: "lost-write".into(), at_least: 1, at_most: Some(5) }],
            allow: vec!["unseen".into()],
        };
        assert!(judge(&expect, &counts(&[("lost-write", 3), ("unseen", 40)])).1.is_pass());
        assert!(!judge(&expect, &counts(&[("lost-write", 0)])).1.is_pass());
        assert!(!judge(&expect, &counts(&[("lost-write", 6)])).1.is_pass());
    }

    #[test]
    fn conditions_compare_named_values_and_unknown_names_are_false() {
        let condition = Condition {
            clauses: vec![
                Clause { metric: "acked".into(), op: CompareOp::Ge, value: 100.0 },
                Clause { metric: "lost-write".into(), op: CompareOp::Eq, value: 0.0 },
            ],
            text: "acked >= 100 and lost-write == 0".into(),
        };
        let values = |name: &str| match name {
            "acked" => Some(150.0),
            "lost-write" => Some(0.0),
            _ => None,
        };
        assert!(holds(&condition, values));
        assert!(!holds(&condition, |name| if name == "acked" { Some(99.0) } else { values(name) }));
        assert!(!holds(&condition, |_| None));
        let claim = ClaimResult::decide("P2", &condition, values);
        assert!(claim.confirmed);
        assert_eq!(claim.evidence(), "acked=150 lost-write=0");
        let claim = ClaimResult::decide("P2", &condition, |n| (n == "acked").then_some(3.0));
        assert!(!claim.confirmed);
        assert_eq!(claim.evidence(), "acked=3 lost-write=-");
    }
}
