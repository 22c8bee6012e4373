//! The Markdown page of one scenario run.
//!
//! Inputs: the [`Scenario`] and one [`RunOutcome`] (and, for [`scenario_runs_page`], the runs
//! of the other seeds). Outputs: a page a reader can act on without the trace: what the
//! scenario is and why, its whole configuration in scenario-file syntax, the verdict and its
//! reasons, the counts, every property with its rule, the findings with their explanations,
//! the claims, the timeline, the steps as fired, and the command that reproduces the run.
//! Invariants: pure and deterministic; long finding lists are cut at
//! [`FINDINGS_SHOWN_MAX`] per property with "and N more"; properties the run could not
//! observe read "n/a" ([`super::not_applicable`]).

use super::{cell, plural, reproduce_command, Configuration, Fault, RunCounts, ScenarioRuns};
use crate::outcome::RunOutcome;
use crate::properties::{self, PropertyKind, PROPERTIES};
use crate::scenario::{
    Action, CommitStrategy, ConsumerMode, OffsetReset, Processing, Scenario, StartPosition, Trigger,
};
use crate::verdict::{Rule, Verdict};
use std::fmt::Write;

/// Findings listed per property; the rest are counted.
pub const FINDINGS_SHOWN_MAX: usize = 15;

/// The page of one run of `scenario`.
pub fn scenario_page(scenario: &Scenario, outcome: &RunOutcome) -> String {
    page(scenario, outcome, &[])
}

/// The page of the shown run of `runs` ([`ScenarioRuns::shown`]), with a table of every
/// seed's verdict and counts.
///
/// Panics when `runs.runs` is empty ([`super::write_reports`] checks it first).
pub fn scenario_runs_page(runs: &ScenarioRuns) -> String {
    page(&runs.scenario, runs.shown(), &runs.runs)
}

fn page(scenario: &Scenario, outcome: &RunOutcome, seeds: &[RunOutcome]) -> String {
    let mut out = String::new();
    put!(out, "# {}", scenario.name);
    put!(out);
    if !scenario.why.trim().is_empty() {
        put!(out, "{}", scenario.why.trim());
        put!(out);
    }
    summary(&mut out, scenario, outcome);
    verdict(&mut out, outcome);
    counts(&mut out, outcome);
    configuration(&mut out, scenario);
    property_table(&mut out, outcome);
    findings(&mut out, outcome);
    claims(&mut out, outcome);
    put!(out, "## Timeline");
    put!(out);
    put!(out, "![timeline]({}.svg)", scenario.name);
    put!(out);
    put!(
        out,
        "Simulated time runs left to right. Broker lanes show crashes, restarts and pauses; \
         partition lanes the leader's high watermark (coloured by leader); the faults lane the \
         network and disk faults; the clients lane acknowledged sends per time bucket, with \
         failed and indeterminate sends marked above. The shaded band is the liveness phase."
    );
    put!(out);
    steps_fired(&mut out, scenario, outcome);
    if seeds.len() > 1 {
        seed_table(&mut out, outcome, seeds);
    }
    put!(out, "## Reproduce");
    put!(out);
    put!(out, "```sh");
    put!(out, "{}", reproduce_command(scenario, outcome));
    put!(out, "```");
    put!(out);
    if outcome.trace_hash.is_empty() {
        put!(out, "The run produced no trace.");
    } else {
        put!(
            out,
            "The same scenario file, seed and commit give the same trace, hash `{}`.",
            outcome.trace_hash
        );
    }
    out
}

fn summary(out: &mut String, scenario: &Scenario, outcome: &RunOutcome) {
    let covers = if scenario.covers.is_empty() { "-".into() } else { scenario.covers.join(", ") };
    let time = match outcome.liveness_start_ms {
        Some(start) => {
            format!("{} ms (safety phase to {start} ms, then liveness)", outcome.duration_ms)
        }
        None => format!("{} ms", outcome.duration_ms),
    };
    put!(out, "| | |");
    put!(out, "|---|---|");
    put!(out, "| scenario file | `{}` |", super::display_source(scenario, outcome));
    put!(out, "| covers | {} |", cell(&covers));
    put!(out, "| seed | {} |", outcome.seed);
    put!(out, "| verdict | **{}** |", outcome.verdict.label());
    put!(out, "| simulated time | {time} |");
    put!(
        out,
        "| matrix cell | row `{}`, column `{}` ([matrix](../matrix.md)) |",
        Configuration::of(scenario),
        Fault::set_label(&Fault::set_of(scenario))
    );
    put!(out);
    put!(out, "[Catalog index](../index.md)");
    put!(out);
}

fn verdict(out: &mut String, outcome: &RunOutcome) {
    put!(out, "## Verdict");
    put!(out);
    match &outcome.verdict {
        Verdict::Pass => put!(out, "**PASS**: every property met its rule."),
        Verdict::Fail { reasons } => {
            put!(out, "**FAIL**:");
            put!(out);
            for reason in reasons {
                put!(out, "- {reason}");
            }
        }
        Verdict::Error { message } => {
            put!(out, "**ERROR**: the run could not be judged: {message}")
        }
    }
    put!(out);
}

fn counts(out: &mut String, outcome: &RunOutcome) {
    put!(out, "## Counts");
    put!(out);
    let Some(c) = RunCounts::of(outcome) else {
        put!(out, "No counts: the run could not be judged.");
        put!(out);
        return;
    };
    put!(out, "| sent | acked | missing-at-end | lost-write | duplicated | reordered | unseen | indeterminate | failed | polled |");
    put!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    put!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        c.sent,
        c.acked,
        c.missing_at_end,
        c.lost_write,
        c.duplicated,
        c.reordered,
        c.unseen,
        c.indeterminate,
        c.failed,
        c.polled
    );
    put!(out);
    put!(
        out,
        "Sends carry one record each. *acked*: sends the broker acknowledged (acks=0 sends \
         count when written); *missing-at-end*: acknowledged records the final read after \
         healing did not find; *lost-write*: acknowledged records below one a consumer read, \
         never read; *duplicated*: values seen at two or more offsets; *reordered*: a \
         producer's later record landing before its earlier one; *unseen*: acknowledged \
         records no consumer read; *indeterminate*: sends whose outcome the client could not \
         know; *failed*: sends that definitely failed; *polled*: records consumers received, \
         with repeats."
    );
    put!(out);
}

fn configuration(out: &mut String, scenario: &Scenario) {
    put!(out, "## Configuration");
    put!(out);
    let cluster = &scenario.cluster;
    if cluster.brokers == 1 {
        put!(out, "- Brokers: 1 (`broker-1`).");
    } else {
        put!(out, "- Brokers: {} (`broker-1` to `broker-{}`).", cluster.brokers, cluster.brokers);
    }
    put!(out, "- Broker config: {}.", config_list(&cluster.broker_config));
    let (min, max) = scenario.network.latency_ms;
    put!(
        out,
        "- Network: one-way latency {min} to {max} ms, packet loss {:?}.",
        scenario.network.packet_loss
    );
    put!(out, "- Safety phase: {} ms of simulated time.", scenario.duration_ms);
    if scenario.liveness.enabled {
        put!(
            out,
            "- Liveness phase: on; after healing, every acknowledged record must be readable \
             within {} ms.",
            scenario.liveness.deadline_ms
        );
    } else {
        put!(out, "- Liveness phase: off.");
    }
    put!(out, "- Expected: {}.", expectations(scenario));
    put!(out);

    put!(out, "### Topics");
    put!(out);
    if cluster.topics.is_empty() {
        put!(out, "None.");
    } else {
        put!(out, "| topic | partitions | replication factor | config |");
        put!(out, "|---|---:|---:|---|");
        for topic in &cluster.topics {
            put!(
                out,
                "| {} | {} | {} | {} |",
                topic.name,
                topic.partitions,
                topic.replication_factor,
                cell(&config_list(&topic.config))
            );
        }
    }
    put!(out);

    put!(out, "### Producers");
    put!(out);
    if scenario.producers.is_empty() {
        put!(out, "None.");
    } else {
        put!(out, "| id | topic | acks | idempotence | retries | max in flight | rate/s | count | keys | partition | payload bytes | linger ms | request timeout ms | delivery timeout ms | start ms |");
        put!(out, "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for p in &scenario.producers {
            let acks = match p.acks {
                crate::scenario::Acks::Zero => "0",
                crate::scenario::Acks::One => "1",
                crate::scenario::Acks::All => "all",
            };
            let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            put!(
                out,
                "| {} | {} | {acks} | {} | {} | {} | {:?} | {} | {} | {} | {} | {} | {} | {} | {} |",
                p.id,
                p.topic,
                p.idempotence,
                p.retries,
                p.max_in_flight,
                p.rate_per_sec,
                or_dash(p.count.map(|c| c.to_string())),
                or_dash(p.keys.map(|k| k.to_string())),
                or_dash(p.partition.map(|k| k.to_string())),
                p.payload_bytes,
                p.linger_ms,
                p.request_timeout_ms,
                p.delivery_timeout_ms,
                p.start_ms
            );
        }
    }
    put!(out);

    put!(out, "### Consumers");
    put!(out);
    if scenario.consumers.is_empty() {
        put!(out, "None.");
    } else {
        put!(out, "| id | topic | mode | start | auto.offset.reset | commit | processing | poll timeout ms | max poll records | start ms |");
        put!(out, "|---|---|---|---|---|---|---|---:|---:|---:|");
        for c in &scenario.consumers {
            let mode = match &c.mode {
                ConsumerMode::Assign(partitions) => format!(
                    "assign = [{}]",
                    partitions.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
                ),
                ConsumerMode::Group(group) => format!("group = \"{group}\""),
            };
            let start = match c.start {
                StartPosition::Earliest => "earliest".to_string(),
                StartPosition::Latest => "latest".to_string(),
                StartPosition::Offset(offset) => offset.to_string(),
                StartPosition::Committed => "committed".to_string(),
            };
            let reset = match c.auto_offset_reset {
                OffsetReset::Earliest => "earliest",
                OffsetReset::Latest => "latest",
                OffsetReset::None => "none",
            };
            let commit = match c.commit {
                CommitStrategy::Auto { interval_ms } => format!("auto every {interval_ms} ms"),
                CommitStrategy::SyncAfterProcessing => "sync-after-processing".into(),
                CommitStrategy::Async => "async".into(),
                CommitStrategy::BeforeProcessing => "before-processing".into(),
                CommitStrategy::None => "none".into(),
            };
            let processing = match c.processing {
                Processing::InPollLoop => "in-poll-loop".to_string(),
                Processing::Async { delay_ms } => format!("async, {delay_ms} ms later"),
            };
            put!(
                out,
                "| {} | {} | `{}` | {start} | {reset} | {commit} | {processing} | {} | {} | {} |",
                c.id,
                c.topic,
                mode,
                c.poll_timeout_ms,
                c.max_poll_records,
                c.start_ms
            );
        }
    }
    put!(out);

    put!(out, "### Steps");
    put!(out);
    if scenario.steps.is_empty() {
        put!(out, "None: no fault is injected.");
    } else {
        put!(out, "| # | line | trigger | action |");
        put!(out, "|---:|---:|---|---|");
        for (index, step) in scenario.steps.iter().enumerate() {
            let trigger = match &step.trigger {
                Trigger::At(at_ms) => format!("at_ms = {at_ms}"),
                Trigger::When(condition) => format!("when = \"{}\"", condition.text),
            };
            put!(
                out,
                "| {} | {} | `{}` | `{}` |",
                index + 1,
                step.line,
                cell(&trigger),
                cell(&action_syntax(&step.action))
            );
        }
    }
    put!(out);
}

/// `key = "value"` pairs, or Kafka's defaults.
fn config_list(config: &std::collections::BTreeMap<String, String>) -> String {
    if config.is_empty() {
        return "Kafka defaults".to_string();
    }
    config.iter().map(|(k, v)| format!("`\"{k}\" = \"{v}\"`")).collect::<Vec<_>>().join(", ")
}

fn expectations(scenario: &Scenario) -> String {
    let expect = &scenario.expect;
    let mut parts = Vec::new();
    for bound in &expect.appear {
        parts.push(match bound.at_most {
            Some(at_most) => {
                format!("{} appears {} to {at_most} times", bound.property, bound.at_least)
            }
            None => format!(
                "{} appears at least {}",
                bound.property,
                plural(bound.at_least, "time", "times")
            ),
        });
    }
    if !expect.allow.is_empty() {
        parts.push(format!("{} may occur", expect.allow.join(", ")));
    }
    parts.push(if parts.is_empty() {
        "every property holds".to_string()
    } else {
        "every other property holds".to_string()
    });
    parts.join("; ")
}

/// A step's action as a scenario file writes it: `do = "crash", target = "broker-1", ...`.
pub(super) fn action_syntax(action: &Action) -> String {
    let fields = crate::scenario::action_fields(action);
    fields.iter().map(|(key, value)| format!("{key} = {value}")).collect::<Vec<_>>().join(", ")
}

fn property_table(out: &mut String, outcome: &RunOutcome) {
    put!(out, "## Properties");
    put!(out);
    if outcome.properties.is_empty() {
        put!(out, "No property was judged: the run could not be judged.");
        put!(out);
        return;
    }
    let not_applicable = super::not_applicable(outcome);
    put!(out, "| property | kind | rule | count | met |");
    put!(out, "|---|---|---|---:|---|");
    for result in &outcome.properties {
        let kind = match properties::property(result.property).map(|p| p.kind) {
            Some(PropertyKind::Anomaly) => "anomaly",
            Some(PropertyKind::Invariant) => "invariant",
            Some(PropertyKind::Liveness) => "liveness",
            None => "-",
        };
        let rule = match &result.rule {
            Rule::Hold => "must hold".to_string(),
            Rule::Appear { at_least, at_most: None } => format!("must appear >= {at_least}"),
            Rule::Appear { at_least, at_most: Some(m) } => format!("must appear {at_least}..={m}"),
            Rule::Allow => "allowed".to_string(),
        };
        let na = not_applicable.iter().any(|(p, _)| *p == result.property);
        let (count, met) = match (na, result.met) {
            (true, true) => ("n/a".to_string(), "n/a".to_string()),
            (true, false) => ("n/a".to_string(), "**no** (n/a)".to_string()),
            (false, true) => (result.count.to_string(), "yes".to_string()),
            (false, false) => (result.count.to_string(), "**no**".to_string()),
        };
        put!(out, "| {} | {kind} | {rule} | {count} | {met} |", result.property);
    }
    put!(out);
    // One line per reason: properties n/a for the same reason are listed together.
    for group in not_applicable.chunk_by(|a, b| a.1 == b.1) {
        let names: Vec<String> = group.iter().map(|(p, _)| format!("`{p}`")).collect();
        put!(out, "- n/a: {}: {}.", names.join(", "), group[0].1);
    }
    put!(out);
}

fn findings(out: &mut String, outcome: &RunOutcome) {
    put!(out, "## Violations and anomalies");
    put!(out);
    let anomalies = outcome.check.as_ref().map_or(&[][..], |c| &c.anomalies[..]);
    if anomalies.is_empty() && outcome.violations.is_empty() {
        put!(out, "None.");
        put!(out);
        return;
    }
    put!(
        out,
        "{} from the history checker, {} of the runtime invariants.",
        plural(anomalies.len() as u64, "anomaly", "anomalies"),
        plural(outcome.violations.len() as u64, "violation", "violations")
    );
    put!(out);
    for property in PROPERTIES {
        let mut items: Vec<String> = outcome
            .violations
            .iter()
            .filter(|v| v.property == property.name)
            .map(|v| format!("t={} ms: {}", v.time_ms, v.explanation))
            .collect();
        items.extend(
            anomalies.iter().filter(|a| a.property == property.name).map(|a| a.explanation.clone()),
        );
        if items.is_empty() {
            continue;
        }
        put!(out, "### {}", property.name);
        put!(out);
        put!(out, "{}.", capitalized(property.meaning));
        put!(out);
        for item in items.iter().take(FINDINGS_SHOWN_MAX) {
            put!(out, "- {item}");
        }
        if items.len() > FINDINGS_SHOWN_MAX {
            put!(out, "- ... and {} more", items.len() - FINDINGS_SHOWN_MAX);
        }
        put!(out);
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
}

fn claims(out: &mut String, outcome: &RunOutcome) {
    put!(out, "## Claims");
    put!(out);
    if outcome.claims.is_empty() {
        put!(out, "This run decides no claim.");
        put!(out);
        return;
    }
    put!(out, "| claim | text | confirmed when | result |");
    put!(out, "|---|---|---|---|");
    for claim in &outcome.claims {
        let text = super::claims::claim(&claim.id).map_or("-", |c| c.text);
        put!(
            out,
            "| [{}](../index.md#{}) | {} | `{}` | {} |",
            claim.id,
            claim.id.to_lowercase(),
            cell(text),
            cell(&claim.condition),
            if claim.confirmed { "confirmed" } else { "refuted" }
        );
    }
    put!(out);
}

fn steps_fired(out: &mut String, scenario: &Scenario, outcome: &RunOutcome) {
    put!(out, "## Steps fired");
    put!(out);
    if outcome.steps_fired.is_empty() {
        put!(out, "None.");
        put!(out);
        return;
    }
    put!(out, "| time ms | step | what happened |");
    put!(out, "|---:|---|---|");
    for fired in &outcome.steps_fired {
        let step = match fired.step {
            Some(index) => match scenario.steps.get(index) {
                Some(step) => format!("{} (line {})", index + 1, step.line),
                None => (index + 1).to_string(),
            },
            None => "liveness".to_string(),
        };
        put!(out, "| {} | {step} | {} |", fired.time_ms, cell(&fired.text));
    }
    put!(out);
}

fn seed_table(out: &mut String, shown: &RunOutcome, seeds: &[RunOutcome]) {
    put!(out, "## Seeds");
    put!(out);
    let passed = seeds.iter().filter(|r| r.verdict.is_pass()).count();
    put!(
        out,
        "Passed {passed} of {}. This page shows seed {}; the others replay with their \
         `--seed`.",
        plural(seeds.len() as u64, "seed", "seeds"),
        shown.seed
    );
    put!(out);
    put!(out, "| seed | verdict | acked | missing-at-end | lost-write | duplicated | reordered | unseen | trace hash |");
    put!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---|");
    for run in seeds {
        let counts = match RunCounts::of(run) {
            Some(c) => format!(
                "{} | {} | {} | {} | {} | {}",
                c.acked, c.missing_at_end, c.lost_write, c.duplicated, c.reordered, c.unseen
            ),
            None => "- | - | - | - | - | -".to_string(),
        };
        let hash = if run.trace_hash.is_empty() { "-" } else { run.trace_hash.as_str() };
        put!(out, "| {} | {} | {counts} | `{hash}` |", run.seed, run.verdict.label());
    }
    put!(out);
}
