//! The `odradek-sim` command line (simulation build only).
//!
//! Commands: `run`, `sweep`, `swarm`, `replay`, `check-determinism`, `shrink`. Each run is
//! a pure function of (scenario, seed, commit); every failing run prints the command that
//! replays it.

use clap::{Parser, Subcommand};
use odradek_sim::outcome::RunOutcome;
use odradek_sim::scenario::{self, Scenario};
use odradek_sim::verdict::Verdict;
use odradek_sim::{runner, shrink, swarm};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Parser, Debug)]
#[command(name = "odradek-sim", about = "Run odradek scenarios under deterministic simulation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario file, or every scenario under a directory, and print a verdict each.
    Run {
        path: PathBuf,
        /// The seed (default: each scenario's own).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Run one scenario over a range of seeds, in parallel; list the failing seeds.
    Sweep {
        path: PathBuf,
        /// Seeds as `A..B` (B excluded).
        #[arg(long)]
        seeds: String,
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Run only this shard of the seeds: `i/n` takes the seeds whose index is i mod n.
        #[arg(long)]
        shard: Option<String>,
    },
    /// Run scenarios drawn whole from seeds: cluster, workload and faults.
    Swarm {
        #[arg(long)]
        seeds: String,
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        #[arg(long)]
        shard: Option<String>,
        /// Where failing seeds' scenarios are written.
        #[arg(long, default_value = "target/swarm-failures")]
        keep: PathBuf,
    },
    /// Run one scenario with one seed again, optionally printing its whole trace.
    Replay {
        path: PathBuf,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        trace: bool,
        /// Print only the trace hash.
        #[arg(long)]
        hash: bool,
        /// The guarded run of a scenario with a historical switch (the switch off).
        #[arg(long)]
        guarded: bool,
    },
    /// Run a scenario twice with one seed, in two separate processes, and compare traces.
    CheckDeterminism {
        path: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
        /// The guarded run of a scenario with a historical switch (the switch off).
        #[arg(long)]
        guarded: bool,
    },
    /// Run every scenario over a range of seeds and write the reports: a page per scenario,
    /// the claims index and the delivery-semantics matrix.
    Report {
        #[arg(default_value = "scenarios")]
        path: PathBuf,
        #[arg(long, default_value = "1..11")]
        seeds: String,
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Skip scenarios under a directory of this name (repeatable), e.g. `bench`.
        #[arg(long)]
        exclude: Vec<String>,
    },
    /// Turn a failing run into a minimal scenario file that still fails.
    Shrink {
        path: PathBuf,
        #[arg(long)]
        seed: u64,
        /// Where to write the minimal scenario (default: beside the original).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The guarded run of a scenario with a historical switch (the switch off).
        #[arg(long)]
        guarded: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let result = match cli.command {
        Command::Run { path, seed } => run(&path, seed),
        Command::Sweep { path, seeds, jobs, shard } => load_file(&path).and_then(|variants| {
            let mut code = ExitCode::SUCCESS;
            for s in &variants {
                if sweep(s, &seeds, jobs, shard.as_deref())? != ExitCode::SUCCESS {
                    code = ExitCode::FAILURE;
                }
            }
            Ok(code)
        }),
        Command::Swarm { seeds, jobs, shard, keep } => {
            swarm_seeds(&seeds, jobs, shard.as_deref(), &keep)
        }
        Command::Replay { path, seed, trace, hash, guarded } => {
            load_one(&path, guarded).map(|s| replay(&s, seed, trace, hash))
        }
        Command::CheckDeterminism { path, seed, guarded } => {
            load_one(&path, guarded).and_then(|s| check_determinism(&path, &s, seed))
        }
        Command::Shrink { path, seed, out, guarded } => {
            load_one(&path, guarded).and_then(|s| shrink_scenario(&path, &s, seed, out))
        }
        Command::Report { path, seeds, jobs, out, exclude } => {
            report(&path, &seeds, jobs, &out, &exclude)
        }
    };
    result.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    })
}

fn load(path: &Path) -> Result<Vec<Scenario>, String> {
    if path.is_dir() {
        scenario::load_dir(path).map_err(|e| e.to_string())
    } else {
        load_file(path)
    }
}

/// One file's runs: the scenario, then its guarded run if it has a historical switch.
fn load_file(path: &Path) -> Result<Vec<Scenario>, String> {
    scenario::load(path).map(Scenario::with_guarded).map_err(|e| e.to_string())
}

/// One scenario file's run, or its guarded run with `guarded`.
fn load_one(path: &Path, guarded: bool) -> Result<Scenario, String> {
    if path.is_dir() {
        return Err(format!(
            "{} is a directory; this command takes one scenario file",
            path.display()
        ));
    }
    let scenario = scenario::load(path).map_err(|e| e.to_string())?;
    if !guarded {
        return Ok(scenario);
    }
    scenario.guarded().ok_or_else(|| {
        format!("{}: --guarded needs a scenario with a historical switch", path.display())
    })
}

/// `A..B` into the seeds it names, keeping shard `i/n` if given.
fn seeds(range: &str, shard: Option<&str>) -> Result<Vec<u64>, String> {
    let (a, b) = range.split_once("..").ok_or_else(|| format!("--seeds {range:?} is not A..B"))?;
    let a: u64 =
        a.trim().parse().map_err(|_| format!("--seeds {range:?}: {a:?} is not a number"))?;
    let b: u64 =
        b.trim().parse().map_err(|_| format!("--seeds {range:?}: {b:?} is not a number"))?;
    if b <= a {
        return Err(format!("--seeds {range:?} is empty"));
    }
    let (index, count) = match shard {
        None => (0, 1),
        Some(shard) => {
            let (i, n) =
                shard.split_once('/').ok_or_else(|| format!("--shard {shard:?} is not i/n"))?;
            let i: u64 = i.parse().map_err(|_| format!("--shard {shard:?}: bad index"))?;
            let n: u64 = n.parse().map_err(|_| format!("--shard {shard:?}: bad count"))?;
            if n == 0 || i >= n {
                return Err(format!("--shard {shard:?}: need 0 <= i < n"));
            }
            (i, n)
        }
    };
    Ok((a..b).filter(|s| (s - a) % count == index).collect())
}

fn run(path: &Path, seed: Option<u64>) -> Result<ExitCode, String> {
    let scenarios = load(path)?;
    let mut failed = 0;
    for scenario in &scenarios {
        let outcome = runner::run(scenario, seed.unwrap_or(scenario.seed));
        print_outcome(scenario, &outcome);
        if !outcome.verdict.is_pass() {
            failed += 1;
        }
    }
    println!(
        "{} scenario(s), {} passed, {failed} failed",
        scenarios.len(),
        scenarios.len() - failed
    );
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Runs `scenario_for(seed)` for every seed on `jobs` threads, with a progress line; returns
/// the outcomes in seed order.
fn run_many(
    seeds: &[u64],
    jobs: usize,
    scenario_for: impl Fn(u64) -> Scenario + Sync,
) -> Vec<(Scenario, RunOutcome)> {
    let mut results =
        run_indexed(seeds.len(), jobs, |i| (scenario_for(seeds[i]), seeds[i]), "seeds");
    results.sort_by_key(|(_, outcome)| outcome.seed);
    results
}

/// Runs `count` runs on `jobs` threads, taking the next run as soon as a thread is free;
/// `run_for(i)` names run `i`'s scenario and seed. Results come back in run order.
fn run_indexed(
    count: usize,
    jobs: usize,
    run_for: impl Fn(usize) -> (Scenario, u64) + Sync,
    unit: &str,
) -> Vec<(Scenario, RunOutcome)> {
    let next = AtomicU64::new(0);
    let results = Mutex::new(Vec::with_capacity(count));
    let failed = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst) as usize;
                if index >= count {
                    break;
                }
                let (scenario, seed) = run_for(index);
                let outcome = runner::run(&scenario, seed);
                if !outcome.verdict.is_pass() {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
                let mut done = results.lock().expect("results lock");
                done.push((index, scenario, outcome));
                if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    continue;
                }
                let width = 30;
                let filled = done.len() * width / count;
                eprint!(
                    "\r[{}{}] {}/{count} {unit}, {} failed",
                    "#".repeat(filled),
                    ".".repeat(width - filled),
                    done.len(),
                    failed.load(Ordering::SeqCst)
                );
                let _ = std::io::stderr().flush();
            });
        }
    });
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!();
    }
    let mut results = results.into_inner().expect("results lock");
    results.sort_by_key(|(index, _, _)| *index);
    results.into_iter().map(|(_, scenario, outcome)| (scenario, outcome)).collect()
}

fn sweep(
    scenario: &Scenario,
    range: &str,
    jobs: usize,
    shard: Option<&str>,
) -> Result<ExitCode, String> {
    let seeds = seeds(range, shard)?;
    let results = run_many(&seeds, jobs, |_| scenario.clone());
    let failures: Vec<&RunOutcome> =
        results.iter().map(|(_, o)| o).filter(|o| !o.verdict.is_pass()).collect();
    let source =
        scenario.source.as_ref().map_or_else(|| scenario.name.clone(), |p| p.display().to_string());
    println!(
        "{}: {} seeds, {} passed, {} failed",
        scenario.name,
        seeds.len(),
        seeds.len() - failures.len(),
        failures.len()
    );
    for outcome in &failures {
        println!("  seed {}: {}", outcome.seed, reasons(&outcome.verdict));
        println!(
            "    reproduce: odradek-sim replay {source} --seed {} --trace{}",
            outcome.seed,
            if scenario.is_guarded() { " --guarded" } else { "" }
        );
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn swarm_seeds(
    range: &str,
    jobs: usize,
    shard: Option<&str>,
    keep: &Path,
) -> Result<ExitCode, String> {
    let seeds = seeds(range, shard)?;
    for &seed in &seeds {
        let s = swarm::scenario_for_seed(seed);
        println!("seed {seed}: {}", s.why);
    }
    let results = run_many(&seeds, jobs, swarm::scenario_for_seed);
    let mut failed = 0;
    for (scenario, outcome) in &results {
        if outcome.verdict.is_pass() {
            continue;
        }
        failed += 1;
        std::fs::create_dir_all(keep)
            .map_err(|e| format!("cannot create {}: {e}", keep.display()))?;
        let file = keep.join(format!("swarm-{}.toml", outcome.seed));
        std::fs::write(&file, scenario::to_toml(scenario))
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        println!("FAIL seed {}: {}", outcome.seed, reasons(&outcome.verdict));
        println!(
            "  kept {}; reproduce: odradek-sim replay {} --seed {} --trace",
            file.display(),
            file.display(),
            outcome.seed
        );
    }
    println!("swarm: {} seeds, {} passed, {failed} failed", seeds.len(), seeds.len() - failed);
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn replay(scenario: &Scenario, seed: u64, trace: bool, hash_only: bool) -> ExitCode {
    let outcome = runner::run(scenario, seed);
    if hash_only {
        println!("{}", outcome.trace_hash);
        return ExitCode::SUCCESS;
    }
    if trace {
        for line in &outcome.trace {
            println!("{:>9}ms {:<12} {}", line.time_ms, line.source, line.text);
        }
    }
    print_outcome(scenario, &outcome);
    if outcome.verdict.is_pass() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn check_determinism(
    path: &Path,
    scenario: &Scenario,
    seed: Option<u64>,
) -> Result<ExitCode, String> {
    let seed = seed.unwrap_or(scenario.seed);
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let hash = || -> Result<String, String> {
        let output = std::process::Command::new(&exe)
            .args(["replay", &path.display().to_string(), "--seed", &seed.to_string(), "--hash"])
            .args(scenario.is_guarded().then_some("--guarded"))
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if !output.status.success() {
            return Err(format!("the replay failed: {}", String::from_utf8_lossy(&output.stderr)));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let (first, second) = (hash()?, hash()?);
    let same = first == second;
    println!(
        "{} {} seed {seed}: trace {first} then {second}",
        if same { "DETERMINISTIC" } else { "NONDETERMINISTIC" },
        scenario.name
    );
    Ok(if same { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn shrink_scenario(
    path: &Path,
    scenario: &Scenario,
    seed: u64,
    out: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let result = shrink::shrink(scenario, seed, |candidate, outcome| {
        println!(
            "  still fails with {} step(s), {} producer(s), {} consumer(s), {}ms: {}",
            candidate.steps.len(),
            candidate.producers.len(),
            candidate.consumers.len(),
            candidate.duration_ms,
            reasons(&outcome.verdict)
        );
    });
    let Some((minimal, outcome, runs)) = result else {
        println!("{} passes with seed {seed}: nothing to shrink", scenario.name);
        return Ok(ExitCode::SUCCESS);
    };
    let out = out.unwrap_or_else(|| path.with_file_name(format!("{}.toml", minimal.name)));
    std::fs::write(&out, scenario::to_toml(&minimal))
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!(
        "minimal scenario after {runs} runs: {} ({})",
        out.display(),
        reasons(&outcome.verdict)
    );
    println!("reproduce: odradek-sim replay {} --seed {seed} --trace", out.display());
    Ok(ExitCode::FAILURE)
}

fn report(
    path: &Path,
    range: &str,
    jobs: usize,
    out: &Path,
    exclude: &[String],
) -> Result<ExitCode, String> {
    let excluded = |s: &Scenario| {
        s.source.as_ref().is_some_and(|p| {
            p.components().any(|c| exclude.iter().any(|e| c.as_os_str() == e.as_str()))
        })
    };
    let scenarios: Vec<Scenario> = load(path)?.into_iter().filter(|s| !excluded(s)).collect();
    let seeds = seeds(range, None)?;
    // Every (scenario, seed) run in one queue, so that no thread waits at a scenario's end.
    let mut runs: Vec<(usize, u64)> = Vec::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        // Each scenario's own seed is always among its runs: its page shows that run.
        let mut own = seeds.clone();
        if !own.contains(&scenario.seed) {
            own.push(scenario.seed);
        }
        eprintln!("{}: {} seeds", scenario.name, own.len());
        runs.extend(own.into_iter().map(|seed| (index, seed)));
    }
    let outcomes =
        run_indexed(runs.len(), jobs, |i| (scenarios[runs[i].0].clone(), runs[i].1), "runs");
    let mut all: Vec<odradek_sim::report::ScenarioRuns> = scenarios
        .into_iter()
        .map(|scenario| odradek_sim::report::ScenarioRuns { scenario, runs: Vec::new() })
        .collect();
    for (&(index, _), (_, outcome)) in runs.iter().zip(outcomes) {
        all[index].runs.push(outcome);
    }
    for scenario_runs in &mut all {
        scenario_runs.runs.sort_by_key(|outcome| outcome.seed);
    }
    let written = odradek_sim::report::write_reports(out, &all)
        .map_err(|e| format!("cannot write the reports to {}: {e}", out.display()))?;
    let failed: Vec<String> = all
        .iter()
        .flat_map(|r| {
            r.runs
                .iter()
                .filter(|o| !o.verdict.is_pass())
                .map(move |o| format!("{} seed {}", r.scenario.name, o.seed))
        })
        .collect();
    println!(
        "wrote {} files under {}; {} runs, {} failed",
        written.len(),
        out.display(),
        all.iter().map(|r| r.runs.len()).sum::<usize>(),
        failed.len()
    );
    for run in &failed {
        println!("  failed: {run}");
    }
    Ok(ExitCode::SUCCESS)
}

fn reasons(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Pass => "pass".into(),
        Verdict::Fail { reasons } => reasons.join("; "),
        Verdict::Error { message } => message.clone(),
    }
}

fn print_outcome(scenario: &Scenario, outcome: &RunOutcome) {
    let missing = outcome.violations.iter().filter(|v| v.property == "missing-at-end").count();
    let counts = outcome.check.as_ref().map(|c| {
        let c = &c.counts;
        format!(
            "acked {} missing-at-end {missing} lost-write {} duplicated {} reordered {} unseen {}",
            c.acked, c.lost, c.duplicated, c.reordered, c.unseen
        )
    });
    println!(
        "{:<5} {} seed {} ({}ms simulated, trace {}) {}",
        outcome.verdict.label(),
        scenario.name,
        outcome.seed,
        outcome.duration_ms,
        outcome.trace_hash,
        counts.unwrap_or_default()
    );
    match &outcome.verdict {
        Verdict::Fail { reasons } => reasons.iter().for_each(|r| println!("      - {r}")),
        Verdict::Error { message } => println!("      - {message}"),
        Verdict::Pass => {}
    }
    // What broke, where and when: the first sighting of each invariant the run had to keep.
    if !outcome.verdict.is_pass() {
        let allowed = |property: &str| scenario.expect.allow.iter().any(|a| a == property);
        let mut shown = std::collections::BTreeSet::new();
        for violation in outcome.violations.iter().filter(|v| !allowed(v.property)) {
            if shown.insert(violation.property) {
                println!(
                    "      {} at {}ms: {}",
                    violation.property, violation.time_ms, violation.explanation
                );
            }
        }
    }
    for claim in &outcome.claims {
        println!(
            "      claim {}: {} ({}; measured {})",
            claim.id,
            if claim.confirmed { "confirmed" } else { "refuted" },
            claim.condition,
            claim.evidence()
        );
    }
    if let Some(source) = &scenario.source {
        if !outcome.verdict.is_pass() {
            println!(
                "      reproduce: odradek-sim replay {} --seed {} --trace{}",
                source.display(),
                outcome.seed,
                if scenario.is_guarded() { " --guarded" } else { "" }
            );
        }
    }
}
