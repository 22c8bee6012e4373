//! Tests of the reports.
//!
//! Goal: the formats are reviewed once and then guarded (insta snapshots of a page, a
//! timeline, a JSON summary, the index and the matrix), the claim verdicts follow their
//! definitions (confirmed, refuted, depends on configuration, depends on timing, not judged,
//! not covered), the output does not depend on the order runs come in, writing twice gives
//! the same bytes and removes only stale files of ours, and every SVG is well-formed.
//!
//! Method: scenarios are parsed from TOML (as the catalog's are), and their runs come from a
//! small fake runner ([`fake_run`]) that builds a history with a chosen number of lost and
//! duplicated records, runs the real history checker and judge over it, and fires the
//! scenario's steps at their times. No simulation runs here.

use super::*;
use crate::check::check_history;
use crate::ground_truth::Violation;
use crate::history::{History, Op, OpKind, Outcome, Read, TopicPartitionKey};
use crate::outcome::{StepFired, StepKind};
use crate::properties::{PropertyKind, PROPERTIES};
use crate::scenario::{Target, Trigger};
use crate::verdict::{judge, ClaimResult};
use std::collections::BTreeMap;

// ---- Scenarios ----

fn parse(name: &str, text: &str) -> Scenario {
    let path = PathBuf::from(format!("scenarios/test/{name}.toml"));
    crate::scenario::parse(text, Some(&path)).unwrap_or_else(|e| panic!("{e}"))
}

/// Every kind of step, on three brokers: the page and timeline snapshots use it.
fn kitchen_sink() -> Scenario {
    parse(
        "kitchen-sink",
        r#"
name = "kitchen-sink"
covers = ["R6", "P5", "KIP-101"]
why = """
Every kind of fault on a three-broker cluster, to show each on the page and the timeline:
power loss of the leader, a partition, pauses, a clog, a slower network, disk faults, torn
writes and a paused consumer."""
seed = 7
duration_ms = 5000

[cluster]
brokers = 3

[cluster.broker_config]
"unclean.leader.election.enable" = "false"
"log.flush.interval.messages" = "1000"

[[cluster.topics]]
name = "orders"
partitions = 2
replication_factor = 3

[cluster.topics.config]
"min.insync.replicas" = "2"

[network]
latency_ms = [1, 5]

[[producers]]
id = "p1"
topic = "orders"
acks = "all"
idempotence = false
retries = 5
rate_per_sec = 200
partition = 0

[[producers]]
id = "p2"
topic = "orders"
acks = "1"
keys = 10
count = 100

[[consumers]]
id = "c1"
topic = "orders"
assign = [0, 1]
start = "earliest"

[[steps]]
at_ms = 1000
do = "crash"
target = "leader(orders/0)"
mode = "lose-page-cache"

[[steps]]
at_ms = 1500
do = "restart"
target = "broker-1"

[[steps]]
at_ms = 2000
do = "partition"
from = ["broker-2"]
to = ["broker-1", "broker-3"]

[[steps]]
at_ms = 2600
do = "heal"

[[steps]]
at_ms = 2800
do = "pause"
target = "broker-3"

[[steps]]
at_ms = 3000
do = "clog"
target = "broker-1"

[[steps]]
at_ms = 3200
do = "resume"
target = "broker-3"

[[steps]]
at_ms = 3300
do = "unclog"
target = "broker-1"

[[steps]]
at_ms = 3400
do = "network"
latency_ms = [5, 20]

[[steps]]
at_ms = 3600
do = "disk-faults"
target = "broker-2"
read_corruption_probability = 0.01

[[steps]]
when = "acked >= 30"
do = "crash"
target = "broker-2"
mode = "torn-writes"

[[steps]]
at_ms = 4200
do = "pause"
target = "client(c1)"

[[steps]]
at_ms = 4500
do = "resume"
target = "client(c1)"

[expect]
appear = [{ property = "missing-at-end", at_least = 1 }]
allow = ["lost-write", "unseen", "duplicate"]

[[claims]]
id = "R6"
confirmed_when = "missing-at-end >= 1"

[[claims]]
id = "P5"
confirmed_when = "missing-at-end >= 1 and acked >= 10"
"#,
    )
}

fn steady() -> Scenario {
    parse(
        "steady",
        r#"
name = "steady"
covers = ["M2", "P2"]
why = "No faults: the baseline."
duration_ms = 3000

[cluster]
brokers = 1

[[cluster.topics]]
name = "orders"

[[producers]]
id = "p1"
topic = "orders"

[[consumers]]
id = "c1"
topic = "orders"
assign = [0]

[[claims]]
id = "P2"
confirmed_when = "acked >= 10 and nonmonotonic-send == 0"
"#,
    )
}

/// A one-broker power loss with the given `log.flush.interval.messages` (none: unset).
fn power_loss(name: &str, flush: Option<&str>) -> Scenario {
    let config = flush.map_or(String::new(), |f| {
        format!("[cluster.broker_config]\n\"log.flush.interval.messages\" = \"{f}\"\n")
    });
    parse(
        name,
        &format!(
            r#"
name = "{name}"
covers = ["R6", "P8", "T2"]
why = "Power loss of the only broker."
duration_ms = 3000

[cluster]
brokers = 1
{config}
[[cluster.topics]]
name = "orders"

[[producers]]
id = "p1"
topic = "orders"

[[consumers]]
id = "c1"
topic = "orders"
assign = [0]

[[steps]]
at_ms = 1000
do = "crash"
target = "broker-1"
mode = "lose-page-cache"

[[steps]]
at_ms = 1500
do = "restart"
target = "broker-1"

[expect]
allow = ["missing-at-end", "lost-write", "unseen", "hw-monotonic"]

[[claims]]
id = "R6"
confirmed_when = "missing-at-end >= 1"

[[claims]]
id = "P8"
confirmed_when = "duplicate >= 1"
"#
        ),
    )
}

fn failover() -> Scenario {
    parse(
        "acks1-failover",
        r#"
name = "acks1-failover"
covers = ["P4"]
why = "acks=1 loses what the leader acknowledged alone, when the timing is wrong."
duration_ms = 3000

[cluster]
brokers = 3

[[cluster.topics]]
name = "orders"
replication_factor = 3

[[producers]]
id = "p1"
topic = "orders"
acks = "1"

[[consumers]]
id = "c1"
topic = "orders"
assign = [0]

[[steps]]
at_ms = 1000
do = "crash"
target = "leader(orders/0)"

[liveness]
enabled = false

[expect]
allow = ["lost-write", "unseen"]

[[claims]]
id = "P4"
confirmed_when = "lost-write >= 1"
"#,
    )
}

// ---- A fake runner ----

fn tp(topic: &str, partition: i32) -> TopicPartitionKey {
    TopicPartitionKey { topic: topic.to_string(), partition }
}

fn push(history: &mut History, process: &str, at: u64, kind: OpKind, outcome: Outcome) {
    history.push(Op {
        process: process.to_string(),
        group: None,
        invoke_ms: at,
        invoke_index: 0,
        complete_ms: at + 5,
        kind,
        outcome,
    });
}

/// A reader reads `key` from offset 0 to `count`, skipping `skipped` (it seeks past them).
fn read_all_but(
    history: &mut History,
    process: &str,
    at: u64,
    key: &TopicPartitionKey,
    values: &[String],
    skipped: std::ops::Range<i64>,
) {
    let assign = |position: i64| OpKind::Assign {
        partitions: vec![key.clone()],
        positions: BTreeMap::from([(key.clone(), position)]),
    };
    push(history, process, at, assign(0), Outcome::Ok);
    let read = |range: std::ops::Range<i64>| OpKind::Poll {
        reads: range
            .map(|o| Read {
                partition: key.clone(),
                offset: o,
                value: values[o as usize].clone(),
                content: None,
            })
            .collect(),
    };
    push(history, process, at + 10, read(0..skipped.start), Outcome::Ok);
    if !skipped.is_empty() {
        push(history, process, at + 20, assign(skipped.end), Outcome::Ok);
    }
    push(history, process, at + 30, read(skipped.end..values.len() as i64), Outcome::Ok);
}

/// A run of `scenario` with `seed` in which `lost` acknowledged records of the first
/// partition were never read (and are missing at the end, when there is an end), and
/// `duplicated` values were read at a second offset. Steps fire at their `at_ms` (`when`
/// steps at 1500 ms); a leader target names broker-1.
fn fake_run(scenario: &Scenario, seed: u64, lost: i64, duplicated: i64) -> RunOutcome {
    let topic = scenario.producers.first().map_or("orders".to_string(), |p| p.topic.clone());
    let key = tp(&topic, 0);
    let acked = 40i64;
    let mut history = History::default();
    let mut values: Vec<String> = (0..acked).map(|i| format!("p1-{i:06}")).collect();
    for (i, value) in values.iter().enumerate() {
        let kind = OpKind::Send {
            partition: Some(key.clone()),
            key: None,
            value: value.clone(),
            offset: Some(i as i64),
        };
        push(&mut history, "p1", 100 + 50 * i as u64, kind, Outcome::Ok);
    }
    let t = 100 + 50 * acked as u64;
    for (i, outcome) in [
        Outcome::Fail { error: "NOT_ENOUGH_REPLICAS".into() },
        Outcome::Info { error: "REQUEST_TIMED_OUT".into() },
    ]
    .into_iter()
    .enumerate()
    {
        let kind = OpKind::Send {
            partition: Some(key.clone()),
            key: None,
            value: format!("p1-{:06}", acked + i as i64),
            offset: None,
        };
        push(&mut history, "p1", t + 10 * i as u64, kind, outcome);
    }
    // A duplicate: a value stored again at the end of the log.
    for d in 0..duplicated {
        values.push(values[d as usize].clone());
    }
    let skipped = 10..10 + lost;
    read_all_but(&mut history, "c1", t + 100, &key, &values, skipped.clone());
    let end_ms = scenario.duration_ms + 800;
    let liveness_start_ms = scenario.liveness.enabled.then_some(scenario.duration_ms);
    let mut violations = Vec::new();
    if let Some(start) = liveness_start_ms {
        read_all_but(&mut history, "final", start + 100, &key, &values, skipped.clone());
        for offset in skipped.clone() {
            violations.push(Violation {
                property: "missing-at-end",
                time_ms: end_ms,
                broker: None,
                partition: Some(key.clone()),
                explanation: format!(
                    "p1 sent {} to {key}, acknowledged at offset {offset}, but the final read \
                     of {key} does not hold it",
                    values[offset as usize]
                ),
            });
        }
    }
    let first_crash = scenario.steps.iter().find_map(|s| match (&s.trigger, &s.action) {
        (Trigger::At(at), crate::scenario::Action::Crash { .. }) => Some(*at),
        _ => None,
    });
    if let Some(at) = first_crash.filter(|_| lost > 0) {
        violations.push(Violation {
            property: "hw-monotonic",
            time_ms: at + 600,
            broker: Some(1),
            partition: Some(key.clone()),
            explanation: format!(
                "leader broker-1 reports {key} with high watermark 10, below {} reported by \
                 broker-1 at t={at}ms",
                10 + lost
            ),
        });
    }

    let check = check_history(&history);
    let counts: BTreeMap<&'static str, u64> = PROPERTIES
        .iter()
        .map(|p| {
            let count = match p.kind {
                PropertyKind::Anomaly => check.count(p.name),
                _ => violations.iter().filter(|v| v.property == p.name).count() as u64,
            };
            (p.name, count)
        })
        .collect();
    let (properties, verdict) = judge(&scenario.expect, &counts);
    let metric = |name: &str| match name {
        "acked" => Some(check.counts.acked as f64),
        "sent" => Some(check.counts.sent as f64),
        _ => counts.get(name).map(|&c| c as f64),
    };
    let claims = scenario
        .claims
        .iter()
        .map(|c| ClaimResult::decide(&c.id, &c.confirmed_when, metric))
        .collect();

    let mut steps_fired: Vec<StepFired> = Vec::new();
    let mut order: Vec<(u64, usize)> = scenario
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| match s.trigger {
            Trigger::At(at) => (at, i),
            Trigger::When(_) => (1500, i),
        })
        .collect();
    order.sort();
    let brokers_of = |target: &Target| match target {
        Target::Broker(id) => vec![*id],
        Target::AllBrokers => (1..=scenario.cluster.brokers).collect(),
        Target::Leader { .. } | Target::Controller => vec![1],
        Target::Follower { .. } => vec![2],
        Target::Client(_) => Vec::new(),
    };
    let mut down = std::collections::BTreeSet::new();
    for (at, i) in order {
        let step = &scenario.steps[i];
        let mut brokers: Vec<u32> = step.action.targets().iter().flat_map(brokers_of).collect();
        brokers.sort_unstable();
        brokers.dedup();
        let kind = StepKind::of(&step.action);
        if kind.is_crash() {
            down.extend(brokers.iter().copied());
        } else if kind == StepKind::Restart {
            brokers.iter().for_each(|b| {
                down.remove(b);
            });
        }
        let text = format!("{kind:?} {brokers:?}");
        steps_fired.push(StepFired { time_ms: at, step: Some(i), kind, brokers, text });
    }
    if let Some(start) = liveness_start_ms {
        let heal = |kind, brokers, text: &str| StepFired {
            time_ms: start,
            step: None,
            kind,
            brokers,
            text: text.to_string(),
        };
        steps_fired.push(heal(StepKind::Heal, Vec::new(), "heal the network"));
        for b in down {
            steps_fired.push(heal(StepKind::Restart, vec![b], &format!("restart broker-{b}")));
        }
    }

    let mut hw_series = BTreeMap::new();
    for topic in &scenario.cluster.topics {
        for partition in 0..topic.partitions {
            let mut series = Vec::new();
            let mut hw = 0;
            let mut t = 200;
            while t < scenario.duration_ms {
                let leader = if first_crash.is_some_and(|c| t >= c) { 2 } else { 1 };
                let leader = leader.min(scenario.cluster.brokers);
                hw += 3 + i64::from(partition);
                if first_crash.is_some_and(|c| t >= c && t < c + 300) {
                    hw -= lost.min(hw);
                }
                series.push((t, leader, hw));
                t += 250;
            }
            hw_series.insert(tp(&topic.name, partition), series);
        }
    }

    RunOutcome {
        scenario: scenario.name.clone(),
        source: scenario.source.as_ref().map(|p| p.display().to_string()),
        seed,
        verdict,
        properties,
        claims,
        check: Some(check),
        violations,
        duration_ms: end_ms,
        trace_hash: format!("{:016x}", seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        trace: Vec::new(),
        history,
        hw_series,
        steps_fired,
        metrics: BTreeMap::new(),
        admin: Vec::new(),
        liveness_start_ms,
        replication_observations: (scenario.cluster.brokers > 1).then_some(100),
    }
}

fn runs(scenario: Scenario, seeds: &[(u64, i64, i64)]) -> ScenarioRuns {
    let runs =
        seeds.iter().map(|&(seed, lost, dup)| fake_run(&scenario, seed, lost, dup)).collect();
    ScenarioRuns { scenario, runs }
}

/// A catalog with one claim of each verdict: P2 confirmed (steady), R6 depends on
/// configuration (power loss loses records without fsync, not with fsync=1), P8 refuted
/// (no duplicate anywhere), P4 depends on timing (acks=1 lost records in one seed of
/// three), M2 not judged (covered, no rule), P5 confirmed (kitchen-sink), the rest not
/// covered. One run could not be judged.
fn catalog() -> Vec<ScenarioRuns> {
    let mut with_error =
        runs(power_loss("power-loss-default-flush", None), &[(1, 3, 0), (2, 5, 0)]);
    with_error.runs.push(RunOutcome::error(
        &with_error.scenario,
        3,
        "the simulation panicked: boom".into(),
    ));
    vec![
        runs(steady(), &[(1, 0, 0), (2, 0, 0), (3, 0, 0)]),
        with_error,
        runs(power_loss("power-loss-fsync-each", Some("1")), &[(1, 0, 0), (2, 0, 0)]),
        runs(failover(), &[(1, 0, 0), (2, 2, 0), (3, 0, 0)]),
        runs(kitchen_sink(), &[(7, 2, 1)]),
    ]
}

// ---- Snapshots ----

#[test]
fn page_snapshot() {
    let scenario = kitchen_sink();
    let run = fake_run(&scenario, 7, 2, 1);
    insta::assert_snapshot!("page", scenario_page(&scenario, &run));
}

#[test]
fn page_of_several_seeds_and_of_an_error_snapshot() {
    let catalog = catalog();
    let power_loss =
        catalog.iter().find(|r| r.scenario.name == "power-loss-default-flush").unwrap();
    insta::assert_snapshot!("page_seeds", scenario_runs_page(power_loss));
    let error = &power_loss.runs[2];
    insta::assert_snapshot!("page_error", scenario_page(&power_loss.scenario, error));
}

#[test]
fn timeline_snapshot() {
    let scenario = kitchen_sink();
    let run = fake_run(&scenario, 7, 2, 1);
    let svg = timeline_svg(&scenario, &run);
    assert_well_formed(&svg);
    insta::assert_snapshot!("timeline", svg);
}

#[test]
fn json_snapshot() {
    let scenario = kitchen_sink();
    let run = fake_run(&scenario, 7, 2, 1);
    let json = outcome_json(&run);
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(parsed["counts"]["acked"], 40);
    assert_eq!(parsed["missing_at_end"], 2);
    assert_eq!(parsed["hw_series"]["orders-0"][0], serde_json::json!([200, 1, 3]));
    assert!(parsed.get("history").is_none() && parsed.get("trace").is_none());
    insta::assert_snapshot!("json", json);
}

#[test]
fn index_snapshot() {
    let catalog = catalog();
    let text = index(CLAIMS, &catalog);
    insta::assert_snapshot!("index", text);
}

#[test]
fn matrix_snapshot() {
    insta::assert_snapshot!("matrix", matrix(&catalog()));
}

// ---- Verdicts and determinism ----

#[test]
fn claim_verdicts_follow_their_definitions() {
    let catalog = catalog();
    let verdict = |id: &str| claim_verdict(id, &catalog);
    assert_eq!(verdict("P2"), ClaimVerdict::Confirmed);
    assert_eq!(verdict("P5"), ClaimVerdict::Confirmed);
    assert_eq!(verdict("R6"), ClaimVerdict::DependsOnConfiguration);
    assert_eq!(verdict("P8"), ClaimVerdict::Refuted);
    assert_eq!(verdict("P4"), ClaimVerdict::DependsOnTiming);
    assert_eq!(verdict("M2"), ClaimVerdict::NotJudged);
    assert_eq!(verdict("G1"), ClaimVerdict::NotCovered);
    // Runs that could not be judged decide nothing: a scenario whose every run errored
    // leaves its claims not judged.
    let scenario = steady();
    let errored =
        ScenarioRuns { runs: vec![RunOutcome::error(&scenario, 1, "no".into())], scenario };
    assert_eq!(claim_verdict("P2", &[errored]), ClaimVerdict::NotJudged);
}

#[test]
fn catalog_reports_do_not_depend_on_the_order_of_scenarios() {
    let catalog = catalog();
    let mut reversed = catalog.clone();
    reversed.reverse();
    assert_eq!(index(CLAIMS, &catalog), index(CLAIMS, &reversed));
    assert_eq!(matrix(&catalog), matrix(&reversed));
}

#[test]
fn configuration_and_faults_are_read_from_the_scenario() {
    let sink = kitchen_sink();
    assert_eq!(
        Configuration::of(&sink).to_string(),
        "RF=3 acks=1/all minISR=2 unclean=no fsync=every-1000 idem=no"
    );
    assert_eq!(
        Fault::set_label(&Fault::set_of(&sink)),
        "power loss + torn writes + pause broker + partition + clog + network change + disk \
         faults + pause client"
    );
    let fsync = power_loss("x", Some("1"));
    assert_eq!(
        Configuration::of(&fsync).to_string(),
        "RF=1 acks=all minISR=1 unclean=no fsync=each idem=no"
    );
    assert_eq!(Fault::set_label(&Fault::set_of(&steady())), "none");
}

#[test]
fn liveness_off_makes_final_read_properties_not_applicable() {
    let scenario = failover();
    let run = fake_run(&scenario, 1, 2, 0);
    let na: Vec<&str> = not_applicable(&run).into_iter().map(|(p, _)| p).collect();
    assert_eq!(na, ["int-send-skip", "missing-at-end", "offsets-dense", "liveness"]);
    let page = scenario_page(&scenario, &run);
    assert!(page.contains("| missing-at-end | invariant | must hold | n/a | n/a |"), "{page}");
    assert!(page.contains("| int-send-skip | anomaly | must hold | n/a | n/a |"), "{page}");
}

#[test]
fn a_standalone_run_reports_the_replication_invariants_not_applicable() {
    let scenario = steady();
    let run = fake_run(&scenario, 1, 0, 0);
    assert_eq!(run.replication_observations, None);
    let na: Vec<&str> = not_applicable(&run).into_iter().map(|(p, _)| p).collect();
    let mut expected = vec!["int-send-skip"];
    expected.extend(crate::properties::REPLICATION_PROPERTIES.iter().map(|p| p.name));
    assert_eq!(na, expected);
    let page = scenario_page(&scenario, &run);
    assert!(page.contains("| log-matching | invariant | must hold | n/a | n/a |"), "{page}");
    assert!(page.contains("- n/a: `log-matching`, `leader-completeness`, "), "{page}");
}

#[test]
fn findings_are_cut_at_the_maximum_with_a_count_of_the_rest() {
    let scenario = kitchen_sink();
    let run = fake_run(&scenario, 7, 20, 0);
    let page = scenario_page(&scenario, &run);
    assert!(page.contains("- ... and 5 more"), "{page}");
}

#[test]
fn absolute_sources_are_shown_from_the_scenarios_directory() {
    let scenario = steady();
    let mut run = fake_run(&scenario, 4, 0, 0);
    run.source = Some("/home/someone/odradek/scenarios/smoke/steady.toml".into());
    assert_eq!(
        reproduce_command(&scenario, &run),
        "odradek-sim replay scenarios/smoke/steady.toml --seed 4 --trace"
    );
}

#[test]
fn writing_twice_gives_the_same_bytes_and_removes_only_stale_files_of_ours() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("scenarios/gone.md");
    let foreign = dir.path().join("scenarios/notes.txt");
    std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
    std::fs::write(&stale, "old").unwrap();
    std::fs::write(&foreign, "keep").unwrap();

    let catalog = catalog();
    let first = write_reports(dir.path(), &catalog).unwrap();
    let bytes: Vec<Vec<u8>> = first.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let second = write_reports(dir.path(), &catalog).unwrap();
    assert_eq!(first, second);
    let again: Vec<Vec<u8>> = second.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_eq!(bytes, again);

    assert!(!stale.exists(), "a page of a scenario that is gone is removed");
    assert!(foreign.exists(), "files that are not ours stay");
    let names: Vec<String> =
        first.iter().map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
    assert_eq!(names.len(), 2 + 3 * catalog.len());
    assert!(names.contains(&"index.md".to_string()));
    assert!(names.contains(&"scenarios/kitchen-sink.svg".to_string()));
    for path in first.iter().filter(|p| p.extension().is_some_and(|e| e == "svg")) {
        assert_well_formed(&std::fs::read_to_string(path).unwrap());
    }
}

#[test]
fn writing_rejects_scenarios_without_runs_or_with_one_name() {
    let dir = tempfile::tempdir().unwrap();
    let empty = ScenarioRuns { scenario: steady(), runs: Vec::new() };
    let error = write_reports(dir.path(), &[empty]).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    let twice = [runs(steady(), &[(1, 0, 0)]), runs(steady(), &[(2, 0, 0)])];
    let error = write_reports(dir.path(), &twice).unwrap_err();
    assert_eq!(error.to_string(), "two scenarios are named steady");
}

#[test]
fn every_scenario_of_the_catalog_reports_and_its_timeline_is_well_formed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let scenarios = crate::scenario::load_dir(&dir).unwrap();
    assert!(!scenarios.is_empty());
    let all: Vec<ScenarioRuns> =
        scenarios.into_iter().map(|s| runs(s, &[(1, 0, 0), (2, 3, 1)])).collect();
    for runs in &all {
        assert_well_formed(&timeline_svg(&runs.scenario, &runs.runs[1]));
        let page = scenario_runs_page(runs);
        assert!(page.contains("odradek-sim replay scenarios/"), "{page}");
        serde_json::from_str::<serde_json::Value>(&outcome_json(&runs.runs[1])).unwrap();
    }
    let text = index(CLAIMS, &all);
    assert!(text.contains("steady-single-broker"));
    matrix(&all);
}

#[test]
fn every_claim_id_is_one_the_scenario_parser_accepts() {
    let mut text = String::from("name = \"all-claims\"\nduration_ms = 10\ncovers = [");
    text.push_str(&CLAIMS.iter().map(|c| format!("\"{}\"", c.id)).collect::<Vec<_>>().join(", "));
    text.push_str("]\n");
    for claim in CLAIMS {
        text.push_str(&format!(
            "[[claims]]\nid = \"{}\"\nconfirmed_when = \"acked >= 0\"\n",
            claim.id
        ));
    }
    let scenario = parse("all-claims", &text);
    assert_eq!(scenario.claims.len(), CLAIMS.len());
}

#[test]
fn a_run_outcome_serializes_to_json_with_partition_names_as_keys() {
    let scenario = steady();
    let run = fake_run(&scenario, 1, 0, 0);
    let value = serde_json::to_value(&run).expect("RunOutcome serializes");
    assert!(value["hw_series"]["orders-0"].is_array());
    assert!(value.get("history").is_none());
}

// ---- A tiny XML checker ----

/// Checks what a browser needs: one root `<svg>` with width and height, tags balanced and
/// properly nested, attribute values quoted and finite, `&` only in entities, no `<` or `>`
/// in text.
fn assert_well_formed(svg: &str) {
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\""), "root");
    assert!(svg.contains(" height=\""), "explicit height");
    assert!(svg.ends_with("</svg>\n"), "ends with the root");
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = svg;
    let mut roots = 0;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open]);
        let close = rest[open..].find('>').expect("every tag closes") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "no '<' inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name), "closing tag matches the open one");
        } else {
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name = body.split_whitespace().next().expect("a tag has a name");
            assert!(name.chars().all(|c| c.is_ascii_alphabetic()), "tag name {name}");
            check_attributes(&body[name.len()..]);
            if stack.is_empty() {
                roots += 1;
            }
            if !self_closing {
                stack.push(name);
            }
        }
        rest = &rest[close + 1..];
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    assert_eq!(roots, 1, "one root element");
}

fn check_text(text: &str) {
    assert!(!text.contains('>'), "'>' in text: {text}");
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;"].iter().any(|e| entity.starts_with(e)),
            "bare '&' in text: {text}"
        );
    }
}

fn check_attributes(mut attributes: &str) {
    loop {
        attributes = attributes.trim_start();
        if attributes.is_empty() {
            return;
        }
        let eq = attributes.find('=').expect("attribute = value");
        let name = &attributes[..eq];
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "attribute {name}");
        let value = &attributes[eq + 1..];
        assert!(value.starts_with('"'), "quoted value of {name}");
        let end = value[1..].find('"').expect("value closes") + 1;
        check_text(&value[1..end]);
        assert!(!value[1..end].contains("NaN") && !value[1..end].contains("inf"), "finite");
        attributes = &value[end + 1..];
    }
}

#[test]
fn a_long_high_watermark_series_stays_small_in_the_timeline() {
    // 20,000 changes over 20 s: at most a few vertices per pixel column survive.
    let scenario = steady();
    let mut run = fake_run(&scenario, 1, 0, 0);
    let series: Vec<(u64, u32, i64)> = (0..20_000).map(|i| (i, 1, i as i64)).collect();
    run.hw_series.insert(tp("orders", 0), series);
    run.duration_ms = 20_000;
    let svg = timeline_svg(&scenario, &run);
    assert_well_formed(&svg);
    assert!(svg.len() < 60_000, "the timeline is {} bytes", svg.len());
}

#[test]
fn the_page_shows_the_run_of_the_scenarios_own_seed() {
    let sweep = runs(kitchen_sink(), &[(5, 0, 0), (7, 2, 0), (9, 0, 0)]);
    assert_eq!(sweep.shown().seed, 7, "kitchen-sink's own seed");
    assert!(scenario_runs_page(&sweep).contains("This page shows seed 7;"));
    let other = runs(steady(), &[(5, 0, 0), (6, 0, 0)]);
    assert_eq!(other.shown().seed, 5, "without its own seed, the first run");
}
