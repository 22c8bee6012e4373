//! Reports: what the scenario catalog measured, as Markdown, SVG and JSON files.
//!
//! Inputs: scenarios and the [`RunOutcome`]s of their runs; [`ScenarioRuns`] is one scenario
//! run over N seeds; its page shows the run of the scenario's own seed (else the first).
//! Outputs:
//! - per run: a Markdown page ([`scenario_page`]), a timeline ([`timeline_svg`]) and a JSON
//!   summary ([`outcome_json`]);
//! - over the catalog: the index of seed claims, scenarios and bug ids with their measured
//!   verdicts ([`index`]), and the delivery-semantics matrix, configuration by fault
//!   ([`matrix`]);
//! - [`write_reports`] writes all of them under one directory (layout in its doc).
//!
//! Invariants:
//! - Everything but [`write_reports`] is a pure function of its arguments: no clock, no
//!   files, no environment, no hash-ordered maps, floats printed with fixed precision. The
//!   same runs give the same bytes, so committed reports diff clean.
//! - Verdicts are computed from what runs measured ([`ClaimResult`]s, property counts),
//!   never from what a claim or scenario says.
//! - Properties a run cannot observe are printed "n/a", never as a pass
//!   ([`not_applicable`]).
//!
//! [`ClaimResult`]: crate::verdict::ClaimResult

/// `writeln!` into a String, which cannot fail (the modules below `use std::fmt::Write`).
macro_rules! put {
    ($out:expr) => {
        $out.push('\n')
    };
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

mod catalog;
pub mod claims;
mod classify;
mod json;
mod page;
mod svg;
#[cfg(test)]
mod tests;

pub use catalog::{claim_verdict, index, matrix, ClaimVerdict};
pub use claims::{Claim, CLAIMS};
pub use classify::{Configuration, Fault};
pub use json::outcome_json;
pub use page::{scenario_page, scenario_runs_page};
pub use svg::timeline_svg;

use crate::check;
use crate::outcome::RunOutcome;
use crate::scenario::Scenario;
use std::collections::BTreeSet;
use std::io;
use std::path::{Component, Path, PathBuf};

/// One scenario run over several seeds. The scenario's page, SVG and JSON show one run
/// ([`ScenarioRuns::shown`]); the page lists every seed's verdict and counts.
#[derive(Clone, Debug)]
pub struct ScenarioRuns {
    pub scenario: Scenario,
    pub runs: Vec<RunOutcome>,
}

impl ScenarioRuns {
    /// The run the scenario's page shows: the one with the scenario's own seed (what `run`
    /// uses by default), else the first. Panics when there is no run.
    pub fn shown(&self) -> &RunOutcome {
        assert!(!self.runs.is_empty(), "scenario {} has no runs", self.scenario.name);
        self.runs.iter().find(|r| r.seed == self.scenario.seed).unwrap_or(&self.runs[0])
    }
}

/// The counts reports compare, from one judged run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub indeterminate: u64,
    pub polled: u64,
    /// Acknowledged records the final read after healing did not find.
    pub missing_at_end: u64,
    /// Acknowledged records below one a consumer read, never read.
    pub lost_write: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub unseen: u64,
}

impl RunCounts {
    /// The counts of a run, or `None` when the run could not be judged (no history check).
    pub fn of(outcome: &RunOutcome) -> Option<RunCounts> {
        let counts = &outcome.check.as_ref()?.counts;
        let missing_at_end =
            outcome.violations.iter().filter(|v| v.property == MISSING_AT_END).count() as u64;
        Some(RunCounts {
            sent: counts.sent,
            acked: counts.acked,
            failed: counts.failed,
            indeterminate: counts.indeterminate,
            polled: counts.polled,
            missing_at_end,
            lost_write: counts.lost,
            duplicated: counts.duplicated,
            reordered: counts.reordered,
            unseen: counts.unseen,
        })
    }

    /// Acknowledged records lost, at least: the larger of missing-at-end and lost-write. The
    /// two overlap (a lost write is usually missing at the end too), so their sum would count
    /// records twice; the larger is a lower bound on the distinct records lost.
    pub fn lost(&self) -> u64 {
        self.missing_at_end.max(self.lost_write)
    }
}

const MISSING_AT_END: &str = "missing-at-end";
const LIVENESS: &str = "liveness";
const OFFSETS_DENSE: &str = "offsets-dense";

/// Properties the run could not observe, with why: those the history model cannot express
/// ([`check::NOT_APPLICABLE`]); when the liveness phase was off, those judged by its final
/// read; and when the run had one standalone broker, the replication invariants (they check
/// observations of a cluster). Reports print them "n/a".
pub fn not_applicable(outcome: &RunOutcome) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> =
        check::NOT_APPLICABLE.iter().map(|(p, why)| (*p, (*why).to_string())).collect();
    let judged = !matches!(outcome.verdict, crate::verdict::Verdict::Error { .. });
    if judged && outcome.liveness_start_ms.is_none() {
        let why = "the liveness phase is disabled, so there is no final read after healing";
        for property in [MISSING_AT_END, OFFSETS_DENSE, LIVENESS] {
            out.push((property, why.to_string()));
        }
    }
    if judged && outcome.replication_observations.is_none() {
        let why = "one standalone broker: the replication invariants check a cluster's replicas, \
                   metadata and quorum";
        for property in crate::properties::REPLICATION_PROPERTIES {
            out.push((property.name, why.to_string()));
        }
    }
    out
}

/// The scenario file as reports name it: relative paths as given, absolute paths from their
/// `scenarios` directory on (so reports do not name the machine they were made on).
pub fn display_source(scenario: &Scenario, outcome: &RunOutcome) -> String {
    let source = outcome
        .source
        .clone()
        .or_else(|| scenario.source.as_ref().map(|p| p.display().to_string()));
    match source {
        Some(source) => portable_source(&source),
        None => format!("scenarios/{}.toml", scenario.name),
    }
}

/// A scenario path as given when relative; an absolute one from its `scenarios` directory
/// on, else its file name.
fn portable_source(source: &str) -> String {
    let path = Path::new(source);
    if !path.is_absolute() {
        return source.to_string();
    }
    let components: Vec<Component<'_>> = path.components().collect();
    match components.iter().position(|c| c.as_os_str() == "scenarios") {
        Some(at) => components[at..].iter().collect::<PathBuf>().display().to_string(),
        None => path.file_name().map_or(source.to_string(), |f| f.to_string_lossy().into_owned()),
    }
}

/// The command that reruns this run with its whole trace.
pub fn reproduce_command(scenario: &Scenario, outcome: &RunOutcome) -> String {
    format!(
        "odradek-sim replay {} --seed {} --trace{}",
        display_source(scenario, outcome),
        outcome.seed,
        if scenario.is_guarded() { " --guarded" } else { "" }
    )
}

/// Extensions of the files [`write_reports`] writes per scenario; only these are removed
/// when their scenario is gone.
const SCENARIO_FILE_EXTENSIONS: &[&str] = &["md", "svg", "json"];

/// Writes every report under `dir`:
///
/// ```text
/// dir/index.md                 claims, scenarios and bug ids with verdicts
/// dir/matrix.md                the delivery-semantics matrix
/// dir/scenarios/<name>.md      the page of the shown run (every seed in a table)
/// dir/scenarios/<name>.svg     its timeline
/// dir/scenarios/<name>.json    its JSON summary
/// ```
///
/// Files of `dir/scenarios/` with those extensions whose scenario is not in `all` are
/// removed (nothing else is touched). Returns the paths written, sorted. Errors: a scenario
/// without runs, two scenarios with one name, or a name unfit for a file name (the parser
/// already rejects those) are `InvalidInput`; I/O errors pass through.
pub fn write_reports(dir: &Path, all: &[ScenarioRuns]) -> io::Result<Vec<PathBuf>> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
    let mut names = BTreeSet::new();
    for runs in all {
        let name = &runs.scenario.name;
        if runs.runs.is_empty() {
            return Err(invalid(format!("scenario {name} has no runs to report")));
        }
        if !is_file_name(name) {
            return Err(invalid(format!("scenario name {name:?} cannot name a report file")));
        }
        if !names.insert(name.as_str()) {
            return Err(invalid(format!("two scenarios are named {name}")));
        }
    }

    let scenarios_dir = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios_dir)?;
    let mut written = Vec::new();
    let mut write = |path: PathBuf, text: String| -> io::Result<()> {
        std::fs::write(&path, text)?;
        written.push(path);
        Ok(())
    };
    write(dir.join("index.md"), index(CLAIMS, all))?;
    write(dir.join("matrix.md"), matrix(all))?;
    for runs in all {
        let name = &runs.scenario.name;
        let shown = runs.shown();
        write(scenarios_dir.join(format!("{name}.md")), scenario_runs_page(runs))?;
        write(scenarios_dir.join(format!("{name}.svg")), timeline_svg(&runs.scenario, shown))?;
        write(scenarios_dir.join(format!("{name}.json")), outcome_json(shown))?;
    }

    for entry in std::fs::read_dir(&scenarios_dir)? {
        let path = entry?.path();
        let owned = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| SCENARIO_FILE_EXTENSIONS.contains(&e));
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if owned && path.is_file() && !names.contains(stem) {
            std::fs::remove_file(&path)?;
        }
    }
    written.sort();
    Ok(written)
}

fn is_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

// ---- Text helpers shared by the Markdown reports ----

/// A table cell: no line breaks, `|` escaped.
fn cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// `name` pluralized by count: `1 run`, `2 runs`.
fn plural(count: u64, singular: &str, plural: &str) -> String {
    format!("{count} {}", if count == 1 { singular } else { plural })
}
