//! The catalog index and the delivery-semantics matrix, over every run of every scenario.
//!
//! Inputs: the seed claims ([`Claim`]) and [`ScenarioRuns`] (one scenario over N seeds).
//! Outputs: [`index`], every claim with its measured [`ClaimVerdict`] and the evidence for
//! it, every scenario with its verdict over its seeds, and the other ids scenarios cover;
//! [`matrix`], per configuration and fault, how many runs lost records and how many records
//! were lost, duplicated and reordered. Invariants: verdicts come from the runs'
//! [`ClaimResult`](crate::verdict::ClaimResult)s and counts only; rows, columns and lists are
//! ordered by value, so the same runs give the same bytes whatever order they came in
//! (scenarios are sorted by name).

use super::{cell, plural, Claim, Configuration, Fault, RunCounts, ScenarioRuns};
use crate::outcome::RunOutcome;
use crate::scenario::Condition;
use crate::verdict::Verdict;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// What the runs say about a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClaimVerdict {
    /// Every scenario deciding it confirmed it in every judged seed.
    Confirmed,
    /// No judged run confirmed it.
    Refuted,
    /// Each scenario's seeds agree, but scenarios (configurations) disagree.
    DependsOnConfiguration,
    /// The seeds of at least one scenario disagree.
    DependsOnTiming,
    /// Scenarios cover it, but none decides it (no `[[claims]]` rule) or none of their runs
    /// could be judged.
    NotJudged,
    /// No scenario covers it.
    NotCovered,
}

impl ClaimVerdict {
    pub fn label(self) -> &'static str {
        match self {
            ClaimVerdict::Confirmed => "confirmed",
            ClaimVerdict::Refuted => "refuted",
            ClaimVerdict::DependsOnConfiguration => "depends on configuration",
            ClaimVerdict::DependsOnTiming => "depends on timing",
            ClaimVerdict::NotJudged => "not judged yet",
            ClaimVerdict::NotCovered => "not covered yet",
        }
    }

    const ALL: [ClaimVerdict; 6] = [
        ClaimVerdict::Confirmed,
        ClaimVerdict::Refuted,
        ClaimVerdict::DependsOnConfiguration,
        ClaimVerdict::DependsOnTiming,
        ClaimVerdict::NotJudged,
        ClaimVerdict::NotCovered,
    ];
}

/// What one scenario's runs say about one claim it covers.
struct Evidence<'a> {
    runs: &'a ScenarioRuns,
    /// The scenario's rule for the claim; `None` when it only names the claim in `covers`.
    condition: Option<&'a Condition>,
    /// Runs that decided the claim (a run that could not be judged decides nothing).
    judged: Vec<&'a RunOutcome>,
    confirmed: usize,
}

fn evidence<'a>(claim_id: &str, all: &[&'a ScenarioRuns]) -> Vec<Evidence<'a>> {
    all.iter()
        .filter(|s| s.scenario.covers.iter().any(|c| c == claim_id))
        .map(|s| {
            let condition =
                s.scenario.claims.iter().find(|c| c.id == claim_id).map(|c| &c.confirmed_when);
            let decided: Vec<(&RunOutcome, bool)> = s
                .runs
                .iter()
                .filter_map(|r| {
                    r.claims.iter().find(|c| c.id == claim_id).map(|c| (r, c.confirmed))
                })
                .collect();
            Evidence {
                runs: s,
                condition,
                judged: decided.iter().map(|(r, _)| *r).collect(),
                confirmed: decided.iter().filter(|(_, confirmed)| *confirmed).count(),
            }
        })
        .collect()
}

fn verdict_of(evidence: &[Evidence<'_>]) -> ClaimVerdict {
    if evidence.is_empty() {
        return ClaimVerdict::NotCovered;
    }
    let judged: Vec<&Evidence<'_>> = evidence.iter().filter(|e| !e.judged.is_empty()).collect();
    if judged.is_empty() {
        ClaimVerdict::NotJudged
    } else if judged.iter().all(|e| e.confirmed == e.judged.len()) {
        ClaimVerdict::Confirmed
    } else if judged.iter().all(|e| e.confirmed == 0) {
        ClaimVerdict::Refuted
    } else if judged.iter().any(|e| e.confirmed > 0 && e.confirmed < e.judged.len()) {
        ClaimVerdict::DependsOnTiming
    } else {
        ClaimVerdict::DependsOnConfiguration
    }
}

/// A claim's verdict over every run of `all`.
pub fn claim_verdict(claim_id: &str, all: &[ScenarioRuns]) -> ClaimVerdict {
    let sorted = sorted(all);
    verdict_of(&evidence(claim_id, &sorted))
}

fn sorted(all: &[ScenarioRuns]) -> Vec<&ScenarioRuns> {
    let mut sorted: Vec<&ScenarioRuns> = all.iter().collect();
    sorted.sort_by(|a, b| a.scenario.name.cmp(&b.scenario.name));
    sorted
}

/// The value a condition name had at the end of a run: a property's count, or a metric.
fn measured(outcome: &RunOutcome, name: &str) -> Option<u64> {
    if let Some(result) = outcome.properties.iter().find(|p| p.property == name) {
        return Some(result.count);
    }
    let counts = &outcome.check.as_ref()?.counts;
    match name {
        "sent" => Some(counts.sent),
        "acked" => Some(counts.acked),
        "failed" => Some(counts.failed),
        "indeterminate" => Some(counts.indeterminate),
        "polled" => Some(counts.polled),
        "time_ms" => Some(outcome.duration_ms),
        _ => None,
    }
}

/// `missing-at-end 3..17, acked 400`: each name of the condition, over the judged runs.
fn measured_ranges(condition: &Condition, runs: &[&RunOutcome]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for clause in &condition.clauses {
        if !names.contains(&clause.metric.as_str()) {
            names.push(&clause.metric);
        }
    }
    names
        .iter()
        .map(|name| {
            let values: Vec<u64> = runs.iter().filter_map(|r| measured(r, name)).collect();
            match (values.iter().min(), values.iter().max()) {
                (Some(min), Some(max)) if min == max => format!("{name} {min}"),
                (Some(min), Some(max)) => format!("{name} {min}..{max}"),
                _ => format!("{name} unknown"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Pass count over seeds, and a one-word verdict: `pass`, `fail`, `error`.
fn seeds_verdict(runs: &[RunOutcome]) -> (String, &'static str) {
    let passed = runs.iter().filter(|r| r.verdict.is_pass()).count();
    let errors = runs.iter().filter(|r| matches!(r.verdict, Verdict::Error { .. })).count();
    let failed = runs.len() - passed - errors;
    let word = if runs.is_empty() {
        "not run"
    } else if failed > 0 {
        "fail"
    } else if errors > 0 {
        "error"
    } else {
        "pass"
    };
    let mut text = format!("{passed}/{}", runs.len());
    if errors > 0 {
        let _ = write!(text, " ({})", plural(errors as u64, "error", "errors"));
    }
    (text, word)
}

fn page_link(runs: &ScenarioRuns) -> String {
    format!("[{}](scenarios/{}.md)", runs.scenario.name, runs.scenario.name)
}

/// The catalog index: every claim with its verdict and evidence, every scenario with its
/// verdict over its seeds, and the other ids (bugs, KIPs) scenarios cover.
pub fn index(claims: &[Claim], all: &[ScenarioRuns]) -> String {
    let all = sorted(all);
    let run_count: usize = all.iter().map(|s| s.runs.len()).sum();
    let mut out = String::new();
    put!(out, "# Catalog index");
    put!(out);
    put!(
        out,
        "What the scenario catalog measured: every seed claim (`SEED-CLAIMS.md`) with its \
         verdict, every scenario with its verdict over its seeds, and the bug ids scenarios \
         cover. Verdicts come from what the runs measured, never from what a claim says. The \
         same runs give the same file."
    );
    put!(out);
    put!(
        out,
        "{}, {}. See also the [delivery-semantics matrix](matrix.md).",
        plural(all.len() as u64, "scenario", "scenarios"),
        plural(run_count as u64, "run", "runs")
    );
    put!(out);
    put!(out, "A claim is");
    put!(out);
    put!(out, "- **confirmed** when every scenario deciding it confirms it in every seed;");
    put!(out, "- **refuted** when no run confirms it;");
    put!(
        out,
        "- **depends on configuration** when each scenario's seeds agree but scenarios \
         disagree (the evidence names which configuration confirmed and which refuted);"
    );
    put!(out, "- **depends on timing** when the seeds of one scenario disagree;");
    put!(
        out,
        "- **not judged yet** when scenarios name it in `covers` but none decides it (no \
         `[[claims]]` rule) or none of their runs could be judged;"
    );
    put!(out, "- **not covered yet** when no scenario covers it.");
    put!(out);

    let verdicts: Vec<(&Claim, Vec<Evidence<'_>>, ClaimVerdict)> = claims
        .iter()
        .map(|claim| {
            let evidence = evidence(claim.id, &all);
            let verdict = verdict_of(&evidence);
            (claim, evidence, verdict)
        })
        .collect();
    let tally: Vec<String> = ClaimVerdict::ALL
        .iter()
        .map(|v| (v, verdicts.iter().filter(|(_, _, verdict)| verdict == v).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(v, n)| format!("{n} {}", v.label()))
        .collect();
    put!(out, "Claims: {}.", tally.join(", "));
    put!(out);

    put!(out, "## Seed claims");
    let mut section = "";
    for (claim, _, verdict) in &verdicts {
        if claim.section != section {
            section = claim.section;
            put!(out);
            put!(out, "### {section}");
            put!(out);
            put!(out, "| id | seeds | claim | verdict |");
            put!(out, "|---|---|---|---|");
        }
        let verdict = match verdict {
            ClaimVerdict::NotCovered => verdict.label().to_string(),
            _ => format!("[{}](#{})", verdict.label(), claim.id.to_lowercase()),
        };
        put!(
            out,
            "| {} | {} | {} | {verdict} |",
            claim.id,
            claim.seeds.join(", "),
            cell(claim.text)
        );
    }
    put!(out);

    put!(out, "## Evidence");
    put!(out);
    let mut any_evidence = false;
    for (claim, evidence, verdict) in &verdicts {
        if evidence.is_empty() {
            continue;
        }
        any_evidence = true;
        put!(out, "### {}", claim.id);
        put!(out);
        put!(out, "> {}", claim.text);
        put!(out);
        put!(out, "**{}**{}", verdict.label(), split_summary(*verdict, evidence));
        put!(out);
        for e in evidence {
            put!(out, "- {}", evidence_line(e));
        }
        put!(out);
    }
    if !any_evidence {
        put!(out, "No scenario covers a claim yet.");
        put!(out);
    }

    put!(out, "## Scenarios");
    put!(out);
    if all.is_empty() {
        put!(out, "None yet.");
    } else {
        put!(out, "| scenario | covers | configuration | faults | seeds passed | verdict |");
        put!(out, "|---|---|---|---|---:|---|");
        for runs in &all {
            let (passed, word) = seeds_verdict(&runs.runs);
            let covers = if runs.scenario.covers.is_empty() {
                "-".to_string()
            } else {
                runs.scenario.covers.join(", ")
            };
            put!(
                out,
                "| {} | {} | `{}` | {} | {passed} | {word} |",
                page_link(runs),
                cell(&covers),
                Configuration::of(&runs.scenario),
                Fault::set_label(&Fault::set_of(&runs.scenario))
            );
        }
    }
    put!(out);

    put!(out, "## Other covered ids");
    put!(out);
    put!(
        out,
        "Ids in `covers` that are not seed claims: bugs of the anomaly catalog \
         (`notes/anomalies.md` §1), KIPs and KAFKA issues. The catalog's R1-R8 and P1-P2 share \
         their ids with seed claims; in `covers` such an id is read as the seed claim."
    );
    put!(out);
    let mut others: BTreeMap<&str, Vec<&ScenarioRuns>> = BTreeMap::new();
    for runs in &all {
        for id in &runs.scenario.covers {
            if !claims.iter().any(|c| c.id == id) {
                others.entry(id.as_str()).or_default().push(runs);
            }
        }
    }
    if others.is_empty() {
        put!(out, "None yet.");
    } else {
        put!(out, "| id | scenarios (seeds passed) |");
        put!(out, "|---|---|");
        for (id, scenarios) in &others {
            let list: Vec<String> = scenarios
                .iter()
                .map(|s| {
                    let (passed, word) = seeds_verdict(&s.runs);
                    format!("{} {word} {passed}", page_link(s))
                })
                .collect();
            put!(out, "| {id} | {} |", list.join(", "));
        }
    }
    out
}

/// For a claim that depends on configuration: `: confirmed by a, b; refuted by c.`; else `.`.
fn split_summary(verdict: ClaimVerdict, evidence: &[Evidence<'_>]) -> String {
    if verdict != ClaimVerdict::DependsOnConfiguration {
        return ".".to_string();
    }
    let names = |confirmed: bool| {
        evidence
            .iter()
            .filter(|e| !e.judged.is_empty() && (e.confirmed > 0) == confirmed)
            .map(|e| format!("`{}`", e.runs.scenario.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(": confirmed by {}; refuted by {}.", names(true), names(false))
}

/// `[s](...) confirms it in all 20 seeds (`RF=1 ...` under power loss); confirmed when
/// `...`; measured missing-at-end 3..17`: one scenario's evidence, its link first.
fn evidence_line(e: &Evidence<'_>) -> String {
    let judged = e.judged.len();
    let errors = e.runs.runs.len() - judged;
    let faults = Fault::set_of(&e.runs.scenario);
    let config = if faults.is_empty() {
        format!("`{}` with no fault", Configuration::of(&e.runs.scenario))
    } else {
        format!("`{}` under {}", Configuration::of(&e.runs.scenario), Fault::set_label(&faults))
    };
    let Some(condition) = e.condition else {
        return format!(
            "{} covers it ({config}) but has no `[[claims]]` rule for it",
            page_link(e.runs)
        );
    };
    if judged == 0 {
        return format!(
            "{} covers it ({config}), but none of its {} could be judged",
            page_link(e.runs),
            plural(errors as u64, "run", "runs")
        );
    }
    let how = match (e.confirmed, judged) {
        (1, 1) => "confirms it in its one seed".to_string(),
        (0, 1) => "refutes it in its one seed".to_string(),
        (2, 2) => "confirms it in both seeds".to_string(),
        (0, 2) => "refutes it in both seeds".to_string(),
        (c, n) if c == n => format!("confirms it in all {n} seeds"),
        (0, n) => format!("refutes it in all {n} seeds"),
        (c, n) => format!("confirms it in {c} of {n} seeds and refutes it in {}", n - c),
    };
    let mut line = format!(
        "{} {how} ({config}); confirmed when `{}`; measured {}",
        page_link(e.runs),
        condition.text,
        measured_ranges(condition, &e.judged)
    );
    if errors > 0 {
        let _ = write!(line, "; {} not judged", plural(errors as u64, "run", "runs"));
    }
    line
}

/// One matrix cell: every run of every scenario with that configuration and fault set.
#[derive(Default)]
struct MatrixCell<'a> {
    scenarios: Vec<&'a ScenarioRuns>,
    judged: u64,
    errors: u64,
    runs_with_loss: u64,
    lost: u64,
    lost_max: u64,
    duplicated: u64,
    reordered: u64,
}

impl MatrixCell<'_> {
    fn text(&self) -> String {
        let mut text = String::new();
        if self.judged > 0 {
            let _ = write!(text, "{}/{} runs lost; ", self.runs_with_loss, self.judged);
            if self.lost > 0 {
                let _ = write!(text, "{} lost, max {}; ", self.lost, self.lost_max);
            }
            let _ = write!(text, "{} dup, {} reord", self.duplicated, self.reordered);
        }
        if self.errors > 0 {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str(&plural(self.errors, "error", "errors"));
        }
        text
    }
}

/// The delivery-semantics matrix: configurations by faults, over every seed.
pub fn matrix(all: &[ScenarioRuns]) -> String {
    let all = sorted(all);
    let mut cells: BTreeMap<(Configuration, Vec<Fault>), MatrixCell<'_>> = BTreeMap::new();
    for runs in &all {
        let key = (Configuration::of(&runs.scenario), Fault::set_of(&runs.scenario));
        let cell = cells.entry(key).or_default();
        cell.scenarios.push(runs);
        for run in &runs.runs {
            let Some(counts) = RunCounts::of(run) else {
                cell.errors += 1;
                continue;
            };
            cell.judged += 1;
            let lost = counts.lost();
            if lost > 0 {
                cell.runs_with_loss += 1;
            }
            cell.lost += lost;
            cell.lost_max = cell.lost_max.max(lost);
            cell.duplicated += counts.duplicated;
            cell.reordered += counts.reordered;
        }
    }
    let rows: BTreeSet<&Configuration> = cells.keys().map(|(c, _)| c).collect();
    let columns: BTreeSet<&Vec<Fault>> = cells.keys().map(|(_, f)| f).collect();

    let mut out = String::new();
    put!(out, "# Delivery-semantics matrix");
    put!(out);
    put!(
        out,
        "How many acknowledged records each configuration lost, duplicated and reordered under \
         each fault, over every seed its scenarios ran with. From the same runs as the \
         [catalog index](index.md); the same runs give the same file."
    );
    put!(out);
    put!(
        out,
        "- **Rows** are configurations, read from each scenario's settings for the topics its \
         producers write to: `RF` replication factor; `acks` the producers' acks; `minISR` \
         min.insync.replicas (topic, else broker, else 1); `unclean` \
         unclean.leader.election.enable (else no); `fsync` the flush policy from \
         flush.messages / log.flush.interval.messages: `none` is Kafka's default (no fsync per \
         write, durability from replication), `each` syncs every record before acknowledging \
         it, `every-N` every N records; `idem` enable.idempotence. `a/b` means the scenario \
         mixes both."
    );
    put!(
        out,
        "- **Columns** are the faults a scenario's steps inject: `crash keep-page-cache` \
         (kill -9: the page cache survives), `power loss` (unsynced writes are lost), `torn \
         writes` (power loss, torn last page), `partition`, `one-way partition`, `pause \
         broker`, `clog`, `network change`, `disk faults`, `crash client`, `pause client`; \
         several are joined by `+`, `none` injects nothing. Restarts, resumes and heals end \
         faults and make no column."
    );
    put!(
        out,
        "- **Cells** sum every run of every scenario in that row and column: `X/N runs lost`, \
         runs where some acknowledged record was missing at the end or a lost write, of the N \
         runs that could be judged; `lost`, records lost over those runs, counting per run \
         the larger of missing-at-end and lost-write (a lower bound on the distinct records), \
         and `max` in the worst run (both left out when nothing was lost); `dup`, values stored at two or more offsets; `reord`, \
         a producer's later record landing before its earlier one; `errors`, runs that could \
         not be judged. An empty cell has no scenario."
    );
    put!(out);
    if cells.is_empty() {
        put!(out, "No runs yet.");
        return out;
    }
    let header: Vec<String> = columns.iter().map(|f| Fault::set_label(f)).collect();
    put!(out, "| configuration | {} |", header.join(" | "));
    put!(out, "|---|{}", "---|".repeat(columns.len()));
    for row in &rows {
        let texts: Vec<String> = columns
            .iter()
            .map(|column| {
                cells.get(&((*row).clone(), (*column).clone())).map_or(String::new(), |c| c.text())
            })
            .collect();
        put!(out, "| `{row}` | {} |", texts.join(" | "));
    }
    put!(out);
    put!(out, "## Scenarios in each cell");
    put!(out);
    put!(out, "| configuration | faults | scenarios (seeds) |");
    put!(out, "|---|---|---|");
    for ((configuration, faults), cell) in &cells {
        let list: Vec<String> =
            cell.scenarios.iter().map(|s| format!("{} ({})", page_link(s), s.runs.len())).collect();
        put!(out, "| `{configuration}` | {} | {} |", Fault::set_label(faults), list.join(", "));
    }
    out
}
