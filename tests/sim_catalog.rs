//! The scenario catalog under simulation: every scenario in `scenarios/` (but `bench/`) runs
//! with its own seed and must pass, printing the verdict of each claim it covers with the
//! values that decided it. That a run is a pure function of scenario, seed and commit is
//! checked by `scripts/test.sh`: reports/ holds the trace hash of every run over seeds 1..10,
//! made by another process, and a fresh run must reproduce them byte for byte.
//!
//! Simulation build only:
//! `RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target-sim cargo nextest run -p odradek-tests --test sim_catalog`.
#![cfg(madsim)]

use odradek_sim::runner;
use odradek_sim::scenario::{self, Scenario};
use odradek_tests::workspace_root;

/// Scenario directories the catalog leaves out: benchmarks are long by design.
const NOT_IN_CATALOG: &[&str] = &["bench"];

/// Every scenario of the catalog, in path order.
fn catalog() -> Vec<Scenario> {
    let root = workspace_root().join("scenarios");
    let mut entries: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    let mut scenarios = Vec::new();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if path.is_dir() && !NOT_IN_CATALOG.contains(&name.as_str()) {
            scenarios.extend(scenario::load_dir(&path).unwrap_or_else(|e| panic!("{e}")));
        } else if path.extension().is_some_and(|e| e == "toml") {
            scenarios.push(scenario::load(&path).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    let mut names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), scenarios.len(), "scenario names are unique across the catalog");
    assert!(scenarios.len() >= 20, "the catalog has {} scenarios", scenarios.len());
    scenarios
}

fn source(scenario: &Scenario) -> String {
    scenario.source.as_ref().map_or_else(|| scenario.name.clone(), |p| p.display().to_string())
}

#[test]
fn every_scenario_passes_with_its_seed() {
    let mut failures = Vec::new();
    for scenario in catalog() {
        let outcome = runner::run(&scenario, scenario.seed);
        println!(
            "{} {} seed {} ({} ms simulated, trace {})",
            outcome.verdict.label(),
            scenario.name,
            outcome.seed,
            outcome.duration_ms,
            outcome.trace_hash
        );
        for claim in &outcome.claims {
            println!(
                "    claim {}: {} ({}; measured {})",
                claim.id,
                if claim.confirmed { "confirmed" } else { "refuted" },
                claim.condition,
                claim.evidence()
            );
        }
        if !outcome.verdict.is_pass() {
            failures.push(format!(
                "{}: {:?}\n    reproduce: odradek-sim replay {} --seed {} --trace",
                scenario.name,
                outcome.verdict,
                source(&scenario),
                outcome.seed
            ));
        }
        assert_eq!(
            outcome.claims.len(),
            scenario.claims.len(),
            "{}: every claim checked gets a verdict",
            scenario.name
        );
    }
    assert!(failures.is_empty(), "{} scenario(s) failed:\n{}", failures.len(), failures.join("\n"));
}
