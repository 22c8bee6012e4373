//! Shrinking a failing run into a minimal scenario that still fails the same way.
//!
//! Inputs: a scenario and a seed whose run fails. Outputs: a smaller scenario (fewer steps,
//! fewer clients, a shorter run, lower rates) that still fails with the seed, and the runs it
//! took. Invariants: "fails the same way" means the verdict is an error when the original was
//! one, or at least one property the original broke is still broken; every candidate is
//! written to TOML and parsed back, so the result is a valid scenario file; the search is
//! greedy and ends when no single reduction keeps the failure.

use crate::outcome::RunOutcome;
use crate::runner;
use crate::scenario::{parse, to_toml, Scenario, Target, Trigger};
use crate::verdict::Verdict;
use std::collections::BTreeSet;

/// What a failure looks like, to recognise it again.
fn signature(outcome: &RunOutcome) -> Option<(bool, BTreeSet<&'static str>)> {
    match &outcome.verdict {
        Verdict::Pass => None,
        Verdict::Error { .. } => Some((true, BTreeSet::new())),
        Verdict::Fail { .. } => Some((
            false,
            outcome.properties.iter().filter(|p| !p.met).map(|p| p.property).collect(),
        )),
    }
}

fn same_failure(original: &(bool, BTreeSet<&'static str>), candidate: &RunOutcome) -> bool {
    match signature(candidate) {
        None => false,
        Some((error, broken)) => error == original.0 && (error || !broken.is_disjoint(&original.1)),
    }
}

/// The candidates one step smaller than `s`, most promising first.
fn reductions(s: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    for i in 0..s.steps.len() {
        let mut c = s.clone();
        c.steps.remove(i);
        out.push(c);
    }
    for i in 0..s.producers.len() {
        let mut c = s.clone();
        let id = c.producers.remove(i).id;
        c.steps.retain(|step| !mentions(step, &id));
        out.push(c);
    }
    for i in 0..s.consumers.len() {
        let mut c = s.clone();
        let id = c.consumers.remove(i).id;
        c.steps.retain(|step| !mentions(step, &id));
        out.push(c);
    }
    if s.duration_ms > 1000 {
        let mut c = s.clone();
        c.duration_ms = (s.duration_ms / 2).max(1000);
        c.steps.retain(|step| {
            matches!(step.trigger, Trigger::At(at) if at < c.duration_ms)
                || matches!(step.trigger, Trigger::When(_))
        });
        for p in &mut c.producers {
            p.start_ms = p.start_ms.min(c.duration_ms - 1);
        }
        for consumer in &mut c.consumers {
            consumer.start_ms = consumer.start_ms.min(c.duration_ms - 1);
        }
        out.push(c);
    }
    for i in 0..s.producers.len() {
        if s.producers[i].rate_per_sec > 20.0 {
            let mut c = s.clone();
            c.producers[i].rate_per_sec = (s.producers[i].rate_per_sec / 2.0).max(20.0).round();
            out.push(c);
        }
    }
    out
}

/// Whether a step acts on the client `id` (a step left without its client cannot run).
fn mentions(step: &crate::scenario::Step, id: &str) -> bool {
    step.action.targets().iter().any(|t| matches!(t, Target::Client(c) if c == id))
}

/// A candidate as the file it would be saved as; `None` if it is not a valid scenario.
fn valid(candidate: &Scenario) -> Option<Scenario> {
    let mut parsed = parse(&to_toml(candidate), None).ok()?;
    parsed.source = candidate.source.clone();
    Some(parsed)
}

/// Shrinks; `progress` hears about each kept reduction. Returns the minimal scenario, its
/// failing run, and how many runs the search took; `None` when the original run passes.
pub fn shrink(
    scenario: &Scenario,
    seed: u64,
    mut progress: impl FnMut(&Scenario, &RunOutcome),
) -> Option<(Scenario, RunOutcome, usize)> {
    let first = runner::run(scenario, seed);
    let wanted = signature(&first)?;
    let (mut best, mut best_run, mut runs) = (scenario.clone(), first, 1);
    'search: loop {
        for candidate in reductions(&best) {
            let Some(candidate) = valid(&candidate) else { continue };
            let outcome = runner::run(&candidate, seed);
            runs += 1;
            if same_failure(&wanted, &outcome) {
                progress(&candidate, &outcome);
                best = candidate;
                best_run = outcome;
                continue 'search;
            }
        }
        break;
    }
    best.name = format!("{}-shrunk", scenario.name);
    Some((best, best_run, runs))
}
