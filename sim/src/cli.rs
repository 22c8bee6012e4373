//! The `odradek-sim` command line (simulation build only).

use clap::{Parser, Subcommand};
use odradek_sim::outcome::RunOutcome;
use odradek_sim::runner;
use odradek_sim::scenario::{self, Scenario};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    /// Run one scenario with one seed again, optionally printing its whole trace.
    Replay {
        path: PathBuf,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        trace: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match cli.command {
        Command::Run { path, seed } => run(&path, seed),
        Command::Replay { path, seed, trace } => replay(&path, seed, trace),
    }
}

fn load(path: &Path) -> Result<Vec<Scenario>, ExitCode> {
    let loaded = if path.is_dir() {
        scenario::load_dir(path)
    } else {
        scenario::load(path).map(|s| vec![s])
    };
    loaded.map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::from(2)
    })
}

fn run(path: &Path, seed: Option<u64>) -> ExitCode {
    let scenarios = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
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
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn replay(path: &Path, seed: u64, trace: bool) -> ExitCode {
    let scenarios = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(scenario) = scenarios.first().filter(|_| scenarios.len() == 1) else {
        eprintln!("error: replay takes one scenario file");
        return ExitCode::from(2);
    };
    let outcome = runner::run(scenario, seed);
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
        odradek_sim::verdict::Verdict::Fail { reasons } => {
            reasons.iter().for_each(|r| println!("      - {r}"))
        }
        odradek_sim::verdict::Verdict::Error { message } => println!("      - {message}"),
        odradek_sim::verdict::Verdict::Pass => {}
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
                "      reproduce: odradek-sim replay {} --seed {} --trace",
                source.display(),
                outcome.seed
            );
        }
    }
}
