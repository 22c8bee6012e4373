//! Running a scenario: the supervisor that starts the cluster and the workload, fires the
//! steps, runs the liveness phase, and judges what happened.
//!
//! Inputs: a validated [`Scenario`] and a seed. Outputs: a [`RunOutcome`]: the history and
//! its check, the invariant violations, the end-of-run measurements ([`crate::measure`]),
//! the verdict, the claim results with the values that decided them, the trace and its
//! hash.
//!
//! Steps act on the cluster through [`FaultInjector`] (faults), through a consumer's command
//! channel (`seek`), or through an admin client on a node of its own (`create-partitions`,
//! `list-offsets`: each runs as a task, so a slow cluster does not hold up later steps; its
//! result lands in the admin log, and the run waits for it before judging). Invariants: a run is a pure function of (scenario, seed, commit) — everything runs
//! inside one madsim runtime on a fresh OS thread (so std's hash seeds come from the
//! simulation too), and every random choice comes from madsim's seeded RNG or the disks'
//! seeded RNGs. A panic anywhere in the simulation (an assertion in the broker) becomes an
//! `Error` verdict carrying the panic message, the seed and the scenario.

use crate::check::{check_history, HistoryCheck};
use crate::cluster::{BrokerStatus, SimCluster, LOG_DIR};
use crate::faults::FaultInjector;
use crate::ground_truth::GroundTruth;
use crate::history::{AdminKind, Outcome, TopicPartitionKey};
use crate::measure::{measure, missing_at_end, offsets_dense, EndOfRun};
use crate::outcome::{RunOutcome, StepFired, StepKind};
use crate::properties::PROPERTIES;
use crate::scenario::{Action, ConsumerMode, Scenario, Target, Trigger};
use crate::trace::Trace;
use crate::verdict::{holds, judge, ClaimResult, Verdict};
use crate::workload::consumer::ConsumerCommand;
use crate::workload::{self, Recorder};
use crate::{DiskFaults, SimStorage};
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId;
use odradek::client::{Admin, ClientConfig, NewTopic, OffsetSpec};
use odradek::TopicPartition;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often `when` conditions are evaluated, in simulated milliseconds.
const CONDITION_POLL_MS: u64 = 5;
/// How long setup (brokers up, topics created) may take.
const SETUP_DEADLINE_MS: u64 = 20_000;

/// Runs `scenario` with `seed` in a fresh simulation on a fresh OS thread.
pub fn run(scenario: &Scenario, seed: u64) -> RunOutcome {
    let owned = scenario.clone();
    let outcome = std::thread::Builder::new()
        .name(format!("sim-{}-{seed}", scenario.name))
        .spawn(move || {
            let mut config = madsim::Config::default();
            let (min, max) = owned.network.latency_ms;
            config.net.send_latency =
                Duration::from_millis(min)..Duration::from_millis(max.max(min) + 1);
            config.net.packet_loss_rate = owned.network.packet_loss;
            let mut runtime = madsim::runtime::Runtime::with_seed_and_config(seed, config);
            // After the safety phase, producers wait for their outstanding sends, each
            // bounded by its delivery timeout, before the liveness phase starts.
            let draining_ms =
                owned.producers.iter().map(|p| p.delivery_timeout_ms).max().unwrap_or(0);
            let limit_ms = owned.duration_ms
                + draining_ms
                + owned.liveness.deadline_ms
                + SETUP_DEADLINE_MS
                + 60_000;
            runtime.set_time_limit(Duration::from_millis(limit_ms));
            runtime.block_on(supervise(owned, seed))
        })
        .expect("spawn a simulation thread")
        .join();
    match outcome {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            RunOutcome::error(scenario, seed, format!("the simulation panicked: {message}"))
        }
    }
}

/// A client process of the workload: its node and how to stop it.
struct Client {
    id: String,
    node: NodeHandle,
}

/// What steps act through besides faults: the clients, their command channels, and the
/// admin node with the tasks it runs.
struct StepContext {
    clients: Vec<Client>,
    commands: BTreeMap<String, mpsc::UnboundedSender<ConsumerCommand>>,
    admin_node: NodeHandle,
    admin_tasks: Vec<madsim::task::JoinHandle<()>>,
    bootstrap: String,
    recorder: Recorder,
}

async fn supervise(scenario: Scenario, seed: u64) -> RunOutcome {
    let handle = Handle::current();
    let started = tokio::time::Instant::now();
    let recorder = Recorder::new(started);
    recorder.trace("supervisor", format!("scenario {} seed {seed}", scenario.name));
    if let Some(consumer) =
        scenario.consumers.iter().find(|c| matches!(c.mode, ConsumerMode::Group(_)))
    {
        return RunOutcome::error(
            &scenario,
            seed,
            format!("consumer {} uses a group: consumer groups are not supported yet", consumer.id),
        );
    }
    let producer_acks =
        scenario.producers.iter().map(|p| (p.id.clone(), p.acks.as_i16())).collect();
    let mut cluster = SimCluster::start(
        &scenario.cluster,
        seed,
        started,
        recorder.history.clone(),
        recorder.client_hws.clone(),
        producer_acks,
    );
    let bootstrap = cluster.bootstrap_servers();
    let mut faults = FaultInjector::new(scenario.network.clone());

    // Setup: create the topics from a client node once the brokers answer.
    let admin_node = handle.create_node().name("setup").ip(client_ip(0)).build();
    let topics: Vec<_> =
        scenario.cluster.topics.iter().filter(|t| t.create_at_setup).cloned().collect();
    let setup_bootstrap = bootstrap.clone();
    let created = admin_node
        .spawn(create_topics(setup_bootstrap, topics))
        .await
        .expect("the setup task runs to completion");
    if let Err(message) = created {
        return RunOutcome::error(&scenario, seed, format!("setup failed: {message}"));
    }
    recorder.trace("supervisor", "topics created");

    // The workload, one node per client.
    let (stop_producers, producers_stopped) = watch::channel(false);
    let (stop_consumers, consumers_stopped) = watch::channel(false);
    let mut clients = Vec::new();
    let mut commands = BTreeMap::new();
    let mut producer_tasks = Vec::new();
    let mut consumer_tasks = Vec::new();
    for (i, spec) in scenario.producers.iter().enumerate() {
        let node = handle.create_node().name(spec.id.clone()).ip(client_ip(1 + i)).build();
        producer_tasks.push(node.spawn(workload::producer::run(
            spec.clone(),
            bootstrap.clone(),
            recorder.clone(),
            producers_stopped.clone(),
        )));
        clients.push(Client { id: spec.id.clone(), node });
    }
    for (i, spec) in scenario.consumers.iter().enumerate() {
        let node = handle.create_node().name(spec.id.clone()).ip(client_ip(100 + i)).build();
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        commands.insert(spec.id.clone(), command_tx);
        consumer_tasks.push(node.spawn(workload::consumer::run(
            spec.clone(),
            bootstrap.clone(),
            recorder.clone(),
            consumers_stopped.clone(),
            command_rx,
        )));
        clients.push(Client { id: spec.id.clone(), node });
    }
    let mut steps = StepContext {
        clients,
        commands,
        admin_node: handle.create_node().name("admin").ip(client_ip(240)).build(),
        admin_tasks: Vec::new(),
        bootstrap: bootstrap.clone(),
        recorder: recorder.clone(),
    };

    // Safety phase: fire the steps.
    let mut steps_fired = Vec::new();
    let mut pending: Vec<usize> = (0..scenario.steps.len()).collect();
    loop {
        let now = recorder.now_ms();
        if now >= scenario.duration_ms {
            break;
        }
        let counters = recorder.counters.lock().expect("counters lock").clone();
        let mut fired = Vec::new();
        for &index in &pending {
            let due = match &scenario.steps[index].trigger {
                Trigger::At(at_ms) => now >= *at_ms,
                Trigger::When(condition) => holds(condition, |name| counters.metric(name, now)),
            };
            if due {
                fired.push(index);
            }
        }
        for index in &fired {
            let action = &scenario.steps[*index].action;
            // Resolved before the action runs: a leader target names who leads now.
            let brokers = brokers_named(action, &cluster);
            let text = apply(action, &mut cluster, &mut faults, &mut steps);
            let line = format!("step {} (line {}): {text}", index + 1, scenario.steps[*index].line);
            recorder.trace("supervisor", line);
            steps_fired.push(StepFired {
                time_ms: now,
                step: Some(*index),
                kind: StepKind::of(action),
                brokers,
                text,
            });
        }
        pending.retain(|i| !fired.contains(i));
        let next_at = pending.iter().filter_map(|&i| match scenario.steps[i].trigger {
            Trigger::At(at_ms) => Some(at_ms),
            Trigger::When(_) => None,
        });
        let poll = pending
            .iter()
            .any(|&i| matches!(scenario.steps[i].trigger, Trigger::When(_)))
            .then_some(now + CONDITION_POLL_MS);
        let wake = next_at
            .chain(poll)
            .chain([scenario.duration_ms])
            .min()
            .expect("the duration is always there");
        tokio::time::sleep(Duration::from_millis(wake.saturating_sub(now).max(1))).await;
    }
    let _ = stop_producers.send(true);
    recorder.trace("supervisor", "safety phase over: producers stop");

    // Liveness phase: heal everything, then every acknowledged record must become readable.
    let mut liveness_failures = Vec::new();
    let mut liveness_start_ms = None;
    if scenario.liveness.enabled {
        let now = recorder.now_ms();
        liveness_start_ms = Some(now);
        let heal = faults.heal();
        let mut healed = vec![heal.clone(), faults.reset_network()];
        let liveness_step = |kind, brokers, text: &String| StepFired {
            time_ms: now,
            step: None,
            kind,
            brokers,
            text: text.clone(),
        };
        steps_fired.push(liveness_step(StepKind::Heal, Vec::new(), &heal));
        for id in 1..=scenario.cluster.brokers {
            healed.push(faults.disk_faults(&cluster, id, DiskFaults::default()));
            let (kind, text) = match cluster.broker(id).status {
                BrokerStatus::Crashed => (StepKind::Restart, faults.restart(&mut cluster, id)),
                BrokerStatus::Paused => (StepKind::Resume, faults.resume(&mut cluster, id)),
                BrokerStatus::Running => continue,
            };
            steps_fired.push(liveness_step(kind, vec![id], &text));
            healed.push(text);
        }
        for client in &steps.clients {
            faults.pause_node(client.node.id(), false);
        }
        for text in healed {
            recorder.trace("supervisor", format!("liveness: {text}"));
        }
    }
    for task in producer_tasks {
        let _ = task.await;
    }
    let _ = stop_consumers.send(true);
    for task in consumer_tasks {
        let _ = task.await;
    }
    for task in std::mem::take(&mut steps.admin_tasks) {
        let _ = task.await;
    }
    if scenario.liveness.enabled {
        let deadline_ms = recorder.now_ms() + scenario.liveness.deadline_ms;
        let topics: Vec<String> = scenario.cluster.topics.iter().map(|t| t.name.clone()).collect();
        let reader = handle.create_node().name("final").ip(client_ip(250)).build();
        let (final_bootstrap, final_recorder) = (bootstrap.clone(), recorder.clone());
        let unfinished = reader
            .spawn(async move {
                let partitions = match workload::consumer::existing_partitions(
                    topics,
                    final_bootstrap.clone(),
                    final_recorder.clone(),
                    deadline_ms,
                )
                .await
                {
                    Ok(partitions) => partitions,
                    Err(why) => return Err(why),
                };
                Ok(workload::consumer::read_to_end(
                    partitions,
                    final_bootstrap,
                    final_recorder,
                    deadline_ms,
                )
                .await)
            })
            .await
            .expect("the final reader runs to completion");
        match unfinished {
            Ok(unfinished) => {
                for (tp, why) in unfinished {
                    liveness_failures.push(format!(
                        "{tp} could not be read to its end before the deadline: {why}"
                    ));
                }
            }
            Err(why) => liveness_failures
                .push(format!("the topics could not be described before the deadline: {why}")),
        }
    }
    if let Some(watch) = &cluster.watch {
        let mut watch = watch.lock().expect("watch lock");
        watch.finish(recorder.now_ms());
        recorder.trace(
            "supervisor",
            format!(
                "replication invariants: {} observations checked, {} committed records, {} client high watermarks, {} violations",
                watch.observations(),
                watch.committed_records(),
                watch.client_high_watermarks(),
                watch.violations().len()
            ),
        );
    }
    recorder.trace("supervisor", "run over");

    // Judge.
    let history = recorder.history.lock().expect("history lock").clone();
    let check = check_history(&history);
    let mut truth = cluster.truth.lock().expect("ground truth lock").clone();
    if let Some(watch) = &cluster.watch {
        for violation in watch.lock().expect("watch lock").violations() {
            truth.record(violation.clone());
        }
    }
    for violation in offsets_dense(&history, recorder.now_ms()) {
        truth.record(violation);
    }
    if scenario.liveness.enabled {
        let unread: Vec<&str> = liveness_failures.iter().map(String::as_str).collect();
        for violation in missing_at_end(&history, &unread, recorder.now_ms()) {
            truth.record(violation);
        }
    }
    let admin = recorder.admin.lock().expect("admin lock").clone();
    let disks: Vec<(u32, SimStorage)> =
        cluster.brokers.iter().map(|b| (b.id, b.disk.clone())).collect();
    let measured = measure(&EndOfRun {
        scenario: &scenario,
        history: &history,
        admin: &admin,
        replicas: truth.replicas(),
        disks: &disks,
        log_dir: Path::new(LOG_DIR),
        now_ms: recorder.now_ms(),
    });
    for violation in measured.violations {
        truth.record(violation);
    }
    let violations = truth.violations().to_vec();
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for property in PROPERTIES {
        let count = match property.kind {
            crate::properties::PropertyKind::Anomaly => check.count(property.name),
            crate::properties::PropertyKind::Invariant => {
                violations.iter().filter(|v| v.property == property.name).count() as u64
            }
            crate::properties::PropertyKind::Liveness => liveness_failures.len() as u64,
        };
        counts.insert(property.name, count);
    }
    let (properties, mut verdict) = judge(&scenario.expect, &counts);
    if let Verdict::Fail { reasons } = &mut verdict {
        reasons.extend(liveness_failures.iter().cloned());
    }
    let mut metrics = metric_values(&check);
    metrics.extend(measured.metrics);
    let claims = scenario
        .claims
        .iter()
        .map(|claim| {
            ClaimResult::decide(&claim.id, &claim.confirmed_when, |name| {
                counts.get(name).map(|&c| c as f64).or_else(|| metrics.get(name).copied())
            })
        })
        .collect();
    let trace: Trace = recorder.trace.lock().expect("trace lock").clone();
    RunOutcome {
        scenario: scenario.name.clone(),
        source: scenario.source.as_ref().map(|p| p.display().to_string()),
        seed,
        verdict,
        properties,
        claims,
        check: Some(check),
        violations,
        duration_ms: recorder.now_ms(),
        trace_hash: trace.hash(),
        trace: trace.lines().to_vec(),
        history,
        hw_series: truth.hw_series().clone(),
        steps_fired,
        metrics: metrics.into_iter().map(|(name, value)| (name.to_string(), value)).collect(),
        admin,
        liveness_start_ms,
        replication_observations: cluster
            .watch
            .as_ref()
            .map(|w| w.lock().expect("watch lock").observations()),
    }
}

/// The run's counts by metric name, for claim conditions.
fn metric_values(check: &HistoryCheck) -> BTreeMap<&'static str, f64> {
    let c = &check.counts;
    BTreeMap::from([
        ("sent", c.sent as f64),
        ("acked", c.acked as f64),
        ("failed", c.failed as f64),
        ("indeterminate", c.indeterminate as f64),
        ("polled", c.polled as f64),
    ])
}

fn client_ip(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 2 + (index / 250) as u8, (index % 250) as u8 + 1))
}

async fn create_topics(
    bootstrap: String,
    topics: Vec<crate::scenario::TopicSpec>,
) -> Result<(), String> {
    let started = tokio::time::Instant::now();
    let mut last_error = String::new();
    while started.elapsed() < Duration::from_millis(SETUP_DEADLINE_MS) {
        let attempt = async {
            let admin = Admin::new(ClientConfig::new(&bootstrap)).map_err(|e| e.to_string())?;
            let new_topics = topics
                .iter()
                .map(|t| {
                    t.config.iter().fold(
                        NewTopic::new(t.name.clone(), t.partitions, t.replication_factor),
                        |topic, (k, v)| topic.with_config(k.clone(), v.clone()),
                    )
                })
                .collect();
            let results =
                admin.create_topics(new_topics, false).await.map_err(|e| e.to_string())?;
            admin.close();
            for (name, result) in results {
                if let Err(error) = result {
                    if error.code() != Some(odradek::client::ErrorCode::TopicAlreadyExists) {
                        return Err(format!("topic {name}: {error}"));
                    }
                }
            }
            Ok(())
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(error) => last_error = error,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("the brokers did not accept the topics within {SETUP_DEADLINE_MS}ms: {last_error}"))
}

/// Applies one step; returns what was done, for the trace.
fn apply(
    action: &Action,
    cluster: &mut SimCluster,
    faults: &mut FaultInjector,
    steps: &mut StepContext,
) -> String {
    let clients = &steps.clients;
    match action {
        Action::Crash { target, kind } => {
            each_broker(target, cluster, |c, id| faults.crash(c, id, *kind))
        }
        Action::Restart { target } => each_broker(target, cluster, |c, id| faults.restart(c, id)),
        Action::Pause { target } => match target {
            Target::Client(id) => client_node(clients, id).map_or_else(
                || format!("no client {id}"),
                |n| {
                    faults.pause_node(n, true);
                    format!("pause client {id}")
                },
            ),
            _ => each_broker(target, cluster, |c, id| faults.pause(c, id)),
        },
        Action::Resume { target } => match target {
            Target::Client(id) => client_node(clients, id).map_or_else(
                || format!("no client {id}"),
                |n| {
                    faults.pause_node(n, false);
                    format!("resume client {id}")
                },
            ),
            _ => each_broker(target, cluster, |c, id| faults.resume(c, id)),
        },
        Action::Partition { from, to, one_way } => {
            let from = nodes(from, cluster, clients);
            let to = nodes(to, cluster, clients);
            faults.partition(&from, &to, *one_way)
        }
        Action::Heal => faults.heal(),
        Action::Clog { target } => nodes(std::slice::from_ref(target), cluster, clients)
            .into_iter()
            .map(|n| faults.clog(n))
            .collect::<Vec<_>>()
            .join("; "),
        Action::Unclog { target } => nodes(std::slice::from_ref(target), cluster, clients)
            .into_iter()
            .map(|n| faults.unclog(n))
            .collect::<Vec<_>>()
            .join("; "),
        Action::Network(spec) => faults.network(spec),
        Action::DiskFaults {
            target,
            read_corruption_probability,
            io_error_probability,
            sync_is_noop,
        } => {
            let disk_faults = DiskFaults {
                read_corruption_probability: *read_corruption_probability,
                io_error_probability: *io_error_probability,
                sync_is_noop: *sync_is_noop,
            };
            each_broker(target, cluster, |c, id| faults.disk_faults(c, id, disk_faults))
        }
        Action::Seek { client, partition, to } => {
            let command = ConsumerCommand::Seek { partition: *partition, to: *to };
            match steps.commands.get(client).map(|tx| tx.send(command)) {
                Some(Ok(())) => format!("tell {client} to seek {partition:?} to {to:?}"),
                _ => format!("{client} is no longer running: no seek"),
            }
        }
        Action::CreatePartitions { topic, count } => {
            let (bootstrap, recorder) = (steps.bootstrap.clone(), steps.recorder.clone());
            let (topic, count) = (topic.clone(), *count);
            let text = format!("create-partitions {topic} to {count} (admin task)");
            steps.admin_tasks.push(steps.admin_node.spawn(async move {
                let invoke_ms = recorder.now_ms();
                let outcome = match Admin::new(ClientConfig::new(&bootstrap)) {
                    Ok(admin) => {
                        let result = admin.create_partitions(&topic, count).await;
                        admin.close();
                        result.map_err(|e| e.to_string())
                    }
                    Err(error) => Err(error.to_string()),
                };
                let outcome =
                    outcome.map_or_else(|error| Outcome::Fail { error }, |()| Outcome::Ok);
                recorder.record_admin(
                    invoke_ms,
                    AdminKind::CreatePartitions { topic, count },
                    outcome,
                );
            }));
            text
        }
        Action::ListOffsets { topic, partition } => {
            let (bootstrap, recorder) = (steps.bootstrap.clone(), steps.recorder.clone());
            let truth = cluster.truth.clone();
            let tp = TopicPartition::new(topic.clone(), *partition);
            let text = format!("list-offsets {tp} (admin task)");
            steps.admin_tasks.push(steps.admin_node.spawn(async move {
                let key = TopicPartitionKey::from(&tp);
                let invoke_ms = recorder.now_ms();
                let truth_before = leader_offsets(&truth, &key);
                let listed = async {
                    let admin = Admin::new(ClientConfig::new(&bootstrap))?;
                    let earliest = admin.list_offsets(&tp, OffsetSpec::Earliest).await?;
                    let latest = admin.list_offsets(&tp, OffsetSpec::Latest).await?;
                    admin.close();
                    Ok::<_, odradek::client::ClientError>((earliest.offset, latest.offset))
                }
                .await;
                let truth_after = leader_offsets(&truth, &key);
                let (earliest, latest, outcome) = match listed {
                    Ok((earliest, latest)) => (Some(earliest), Some(latest), Outcome::Ok),
                    Err(error) => (None, None, Outcome::Fail { error: error.to_string() }),
                };
                let kind = AdminKind::ListOffsets {
                    partition: key,
                    earliest,
                    latest,
                    truth_before,
                    truth_after,
                };
                recorder.record_admin(invoke_ms, kind, outcome);
            }));
            text
        }
    }
}

/// The (log start offset, high watermark) of a partition's leader in ground truth now.
fn leader_offsets(truth: &Arc<Mutex<GroundTruth>>, key: &TopicPartitionKey) -> Option<(i64, i64)> {
    let truth = truth.lock().expect("ground truth lock");
    let leader = truth.leader(key)?;
    truth.replicas().get(&(leader, key.clone())).map(|s| (s.log_start_offset, s.high_watermark))
}

/// The broker ids a target names right now (a leader is looked up in the ground truth).
fn brokers_of(target: &Target, cluster: &SimCluster) -> Vec<u32> {
    match target {
        Target::Broker(id) => vec![*id],
        Target::AllBrokers => cluster.brokers.iter().map(|b| b.id).collect(),
        Target::Leader { topic, partition } => {
            let key = TopicPartitionKey { topic: topic.clone(), partition: *partition };
            cluster.leader(&key).into_iter().collect()
        }
        Target::Follower { topic, partition, nth } => {
            let key = TopicPartitionKey { topic: topic.clone(), partition: *partition };
            let followers = cluster.followers(&key);
            match nth {
                Some(n) => followers.get(*n as usize - 1).copied().into_iter().collect(),
                None => followers,
            }
        }
        Target::Controller => cluster.active_controller().into_iter().collect(),
        Target::Client(_) => Vec::new(),
    }
}

/// The brokers an action's targets name right now, ascending, for the timeline's lanes.
fn brokers_named(action: &Action, cluster: &SimCluster) -> Vec<u32> {
    let mut brokers: Vec<u32> =
        action.targets().iter().flat_map(|t| brokers_of(t, cluster)).collect();
    brokers.sort_unstable();
    brokers.dedup();
    brokers
}

fn each_broker(
    target: &Target,
    cluster: &mut SimCluster,
    mut act: impl FnMut(&mut SimCluster, u32) -> String,
) -> String {
    let ids = brokers_of(target, cluster);
    if ids.is_empty() {
        return format!("{target:?} names no live broker: nothing done");
    }
    ids.into_iter().map(|id| act(cluster, id)).collect::<Vec<_>>().join("; ")
}

fn client_node(clients: &[Client], id: &str) -> Option<NodeId> {
    clients.iter().find(|c| c.id == id).map(|c| c.node.id())
}

fn nodes(targets: &[Target], cluster: &SimCluster, clients: &[Client]) -> Vec<NodeId> {
    let mut nodes = Vec::new();
    for target in targets {
        match target {
            Target::Client(id) => nodes.extend(client_node(clients, id)),
            other => nodes.extend(
                brokers_of(other, cluster).into_iter().map(|id| cluster.broker(id).node_id()),
            ),
        }
    }
    nodes
}
