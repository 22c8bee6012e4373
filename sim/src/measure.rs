//! End-of-run measurements: the metrics claim conditions compare ([`END_METRICS`]) and the
//! invariants that are checked once the run is over (`records-intact`, `key-partition`,
//! `segment-names`, `list-offsets-match`; and, from the final read, `offsets-dense` and
//! `missing-at-end`).
//!
//! Inputs: an [`EndOfRun`]: the scenario, the history, the admin actions, ground truth's last
//! replica states and each broker's disk. Outputs: [`Measurements`]: metric values by name
//! (a metric that could not be measured is absent) and [`Violation`]s. Invariants: a pure
//! function of its inputs (disks are only inspected, which changes nothing), ordered
//! deterministically; every check here has a test in `tests` below that makes it fail.
//!
//! How the record checks know what was sent: a value's name (`p1-000042`) names its
//! producer and sequence, and [`planned_record`] says what that producer sent as that record
//! (key, headers, timestamp, size). So a history needs no copy of what was sent.

use crate::ground_truth::{ReplicaSnapshot, Violation};
use crate::history::{AdminKind, AdminOp, History, OpKind, Outcome, TopicPartitionKey};
#[cfg(doc)]
use crate::properties::END_METRICS;
use crate::scenario::{ProducerSpec, Scenario};
use crate::workload::{parse_value_name, planned_record};
use crate::SimStorage;
use odradek::client::partitioner::partition_for_key;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// How many bytes of a segment file the name check reads: a batch's base offset.
const BASE_OFFSET_BYTES: usize = 8;

/// What a run left behind, for measuring.
pub struct EndOfRun<'a> {
    pub scenario: &'a Scenario,
    pub history: &'a History,
    pub admin: &'a [AdminOp],
    /// Ground truth's last state of every live replica, by (broker, partition).
    pub replicas: &'a BTreeMap<(u32, TopicPartitionKey), ReplicaSnapshot>,
    /// Each broker's id and disk.
    pub disks: &'a [(u32, SimStorage)],
    /// Where brokers keep their logs on their disks.
    pub log_dir: &'a Path,
    /// When the run ended: the time of every violation found here.
    pub now_ms: u64,
}

/// Metric values and violations found at the end of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measurements {
    pub metrics: BTreeMap<&'static str, f64>,
    pub violations: Vec<Violation>,
}

impl Measurements {
    fn set(&mut self, name: &'static str, value: impl Into<f64>) {
        self.metrics.insert(name, value.into());
    }
}

/// Measures everything.
pub fn measure(end: &EndOfRun<'_>) -> Measurements {
    let mut out = Measurements::default();
    let producers = &end.scenario.producers;
    let (checked, violations) = record_contents(end.history, producers, end.now_ms);
    out.set("records_checked", checked as f64);
    out.violations.extend(violations);

    let partitioning = partitioning(end.history, end.scenario, end.admin, end.now_ms);
    out.set("keys_on_several_partitions", partitioning.keys_on_several_partitions as f64);
    out.set("keyless_partitions", partitioning.keyless_partitions as f64);
    out.violations.extend(partitioning.violations);

    let (without_metadata, with_offset) = acked_metadata(end.history, producers);
    out.set("acked_without_metadata", without_metadata as f64);
    out.set("acked_with_offset", with_offset as f64);
    out.set("consume_order_inversions", consume_order_inversions(end.history) as f64);
    out.set("reread_records", reread_records(end.history) as f64);
    if let Some((min, max)) = failed_send_ms(end.history) {
        out.set("failed_send_min_ms", min as f64);
        out.set("failed_send_max_ms", max as f64);
    }

    let admin = admin_results(end.admin, end.now_ms);
    out.metrics.extend(admin.metrics);
    out.violations.extend(admin.violations);

    if let Some(start) =
        end.replicas.values().filter(|s| s.is_leader).map(|s| s.log_start_offset).min()
    {
        out.set("log_start_offset", start as f64);
    }
    if !end.replicas.is_empty() {
        let partitions: BTreeSet<&TopicPartitionKey> =
            end.replicas.keys().map(|(_, k)| k).collect();
        out.set("partitions", partitions.len() as f64);
    }

    let mut segments = 0;
    for (broker, disk) in end.disks {
        let (count, violations) = segment_files(*broker, disk, end.log_dir, end.now_ms);
        segments += count;
        out.violations.extend(violations);
    }
    out.set("segments", segments as f64);
    out
}

fn violation(
    property: &'static str,
    time_ms: u64,
    broker: Option<u32>,
    partition: Option<&TopicPartitionKey>,
    explanation: String,
) -> Violation {
    Violation { property, time_ms, broker, partition: partition.cloned(), explanation }
}

/// `records-intact`: every record an ok poll read, of a producer of the scenario, carries the
/// key, headers, timestamp (when the producer set it) and value size its producer sent.
/// Returns how many records were checked, and a violation per record that differs.
pub fn record_contents(
    history: &History,
    producers: &[ProducerSpec],
    now_ms: u64,
) -> (u64, Vec<Violation>) {
    let by_id: BTreeMap<&str, &ProducerSpec> =
        producers.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut checked = 0;
    let mut violations = Vec::new();
    for op in history.ops.iter().filter(|op| op.outcome == Outcome::Ok) {
        let OpKind::Poll { reads } = &op.kind else { continue };
        for read in reads {
            let Some(content) = &read.content else { continue };
            let Some((producer, sequence)) = parse_value_name(&read.value) else { continue };
            let Some(spec) = by_id.get(producer) else { continue };
            checked += 1;
            let planned = planned_record(spec, sequence);
            let mut differences = Vec::new();
            if content.key != planned.key {
                differences.push(format!("key {:?} (sent {:?})", content.key, planned.key));
            }
            let headers: Vec<(String, Option<String>)> =
                planned.headers.into_iter().map(|(k, v)| (k, Some(v))).collect();
            if content.headers != headers {
                differences.push(format!("headers {:?} (sent {headers:?})", content.headers));
            }
            if let Some(sent) = planned.timestamp_ms.filter(|&t| t != content.timestamp_ms) {
                differences.push(format!("timestamp {} (sent {sent})", content.timestamp_ms));
            }
            if content.value_bytes != planned.value.len() as u64 {
                differences.push(format!(
                    "a {}-byte value (sent {} bytes)",
                    content.value_bytes,
                    planned.value.len()
                ));
            }
            if !differences.is_empty() {
                violations.push(violation(
                    "records-intact",
                    now_ms,
                    None,
                    Some(&read.partition),
                    format!(
                        "{} read {} at {} offset {} (t={}ms) with {}",
                        op.process,
                        read.value,
                        read.partition,
                        read.offset,
                        op.complete_ms,
                        differences.join(", ")
                    ),
                ));
            }
        }
    }
    (checked, violations)
}

/// Where acknowledged records landed, by key.
pub struct Partitioning {
    /// `key-partition` violations.
    pub violations: Vec<Violation>,
    /// (topic, key) pairs whose acknowledged records landed on two or more partitions.
    pub keys_on_several_partitions: u64,
    /// The most partitions of one topic that keyless, unpartitioned acked records reached.
    pub keyless_partitions: u64,
}

/// `key-partition` and the partitioner's metrics, over acknowledged sends of the scenario's
/// producers that gave no explicit partition. A keyed record may land on
/// `murmur2(key) mod n` for any partition count `n` the topic had during the run (its
/// declared count, and every count a create-partitions step reached): a producer sees a
/// new count only once its metadata is refreshed.
pub fn partitioning(
    history: &History,
    scenario: &Scenario,
    admin: &[AdminOp],
    now_ms: u64,
) -> Partitioning {
    let by_id: BTreeMap<&str, &ProducerSpec> =
        scenario.producers.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut counts: BTreeMap<&str, BTreeSet<i32>> = scenario
        .cluster
        .topics
        .iter()
        .map(|t| (t.name.as_str(), BTreeSet::from([t.partitions])))
        .collect();
    for op in admin.iter().filter(|op| op.outcome == Outcome::Ok) {
        if let AdminKind::CreatePartitions { topic, count } = &op.kind {
            counts.entry(topic.as_str()).or_default().insert(*count);
        }
    }
    let mut violations = Vec::new();
    let mut key_partitions: BTreeMap<(&str, &str), BTreeSet<i32>> = BTreeMap::new();
    let mut keyless: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for op in history.ops.iter().filter(|op| op.outcome == Outcome::Ok) {
        let OpKind::Send { partition: Some(landed), key, value, .. } = &op.kind else { continue };
        let Some(spec) = by_id.get(op.process.as_str()) else { continue };
        if spec.partition.is_some() {
            continue;
        }
        let topic = landed.topic.as_str();
        let Some(key) = key else {
            keyless.entry(topic).or_default().insert(landed.partition);
            continue;
        };
        key_partitions.entry((topic, key.as_str())).or_default().insert(landed.partition);
        let had = counts.get(topic).cloned().unwrap_or_default();
        let expected: BTreeSet<i32> =
            had.iter().map(|&n| partition_for_key(key.as_bytes(), n)).collect();
        if !expected.contains(&landed.partition) {
            let list: Vec<String> = expected.iter().map(i32::to_string).collect();
            violations.push(violation(
                "key-partition",
                now_ms,
                None,
                Some(landed),
                format!(
                    "{} sent {value} with key {key:?} and it landed on {landed}, but murmur2 of \
                     the key picks partition {} of {topic} (partition counts {:?})",
                    op.process,
                    list.join(" or "),
                    had
                ),
            ));
        }
    }
    Partitioning {
        violations,
        keys_on_several_partitions: key_partitions.values().filter(|p| p.len() > 1).count() as u64,
        keyless_partitions: keyless.values().map(|p| p.len() as u64).max().unwrap_or(0),
    }
}

/// Acknowledged sends of the scenario's producers: how many were not answered with the
/// topic they were sent to, a partition and an offset; and how many were answered with an
/// offset (none with acks=0).
pub fn acked_metadata(history: &History, producers: &[ProducerSpec]) -> (u64, u64) {
    let topics: BTreeMap<&str, &str> =
        producers.iter().map(|p| (p.id.as_str(), p.topic.as_str())).collect();
    let (mut without_metadata, mut with_offset) = (0, 0);
    for op in history.ops.iter().filter(|op| op.outcome == Outcome::Ok) {
        let OpKind::Send { partition, offset, .. } = &op.kind else { continue };
        let Some(&topic) = topics.get(op.process.as_str()) else { continue };
        let complete = partition.as_ref().is_some_and(|p| p.topic == topic && p.partition >= 0)
            && offset.is_some_and(|o| o >= 0);
        if !complete {
            without_metadata += 1;
        }
        if offset.is_some() {
            with_offset += 1;
        }
    }
    (without_metadata, with_offset)
}

/// Records a consumer (not the final reader) read after a record the same producer sent
/// later: 0 when every consumer saw each producer's records in send order.
pub fn consume_order_inversions(history: &History) -> u64 {
    let mut highest: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut inversions = 0;
    for op in history.ops.iter().filter(|op| op.outcome == Outcome::Ok) {
        let OpKind::Poll { reads } = &op.kind else { continue };
        if op.process.starts_with("final") {
            continue;
        }
        for read in reads {
            let Some((producer, sequence)) = parse_value_name(&read.value) else { continue };
            let seen = highest.entry((op.process.as_str(), producer)).or_insert(sequence);
            if sequence < *seen {
                inversions += 1;
            } else {
                *seen = sequence;
            }
        }
    }
    inversions
}

/// Records a consumer (not the final reader) read again at an offset of a partition where
/// it had read the same value before.
pub fn reread_records(history: &History) -> u64 {
    let mut seen: BTreeMap<(&str, &TopicPartitionKey, i64), &str> = BTreeMap::new();
    let mut rereads = 0;
    for op in history.ops.iter().filter(|op| op.outcome == Outcome::Ok) {
        let OpKind::Poll { reads } = &op.kind else { continue };
        if op.process.starts_with("final") {
            continue;
        }
        for read in reads {
            let key = (op.process.as_str(), &read.partition, read.offset);
            match seen.get(&key) {
                Some(&value) if value == read.value => rereads += 1,
                Some(_) => {}
                None => {
                    seen.insert(key, &read.value);
                }
            }
        }
    }
    rereads
}

/// The shortest and longest time a definitely failed send took, from the call to the error.
pub fn failed_send_ms(history: &History) -> Option<(u64, u64)> {
    let took = history.ops.iter().filter_map(|op| match (&op.kind, &op.outcome) {
        (OpKind::Send { .. }, Outcome::Fail { .. }) => Some(op.complete_ms - op.invoke_ms),
        _ => None,
    });
    took.fold(None, |acc, t| {
        Some(acc.map_or((t, t), |(lo, hi): (u64, u64)| (lo.min(t), hi.max(t))))
    })
}

/// The admin steps' metrics, and `list-offsets-match`: an answered ListOffsets must give
/// earliest = the leader's log start offset and latest = its high watermark, as they were
/// at some moment while the request was served (between the ground truth seen when the call
/// started and when it ended). A call that started or ended while no leader was live has no
/// such bounds and is not checked.
pub fn admin_results(admin: &[AdminOp], now_ms: u64) -> Measurements {
    let mut out = Measurements::default();
    let (mut created, mut refused, mut answered) = (0u32, 0u32, 0u32);
    for op in admin {
        match (&op.kind, &op.outcome) {
            (AdminKind::CreatePartitions { .. }, Outcome::Ok) => created += 1,
            (AdminKind::CreatePartitions { .. }, _) => refused += 1,
            (
                AdminKind::ListOffsets { partition, earliest, latest, truth_before, truth_after },
                Outcome::Ok,
            ) => {
                answered += 1;
                if let Some(e) = earliest {
                    out.set("listed_earliest", *e as f64);
                }
                if let Some(l) = latest {
                    out.set("listed_latest", *l as f64);
                }
                let (Some(before), Some(after)) = (truth_before, truth_after) else { continue };
                let within = |v: &Option<i64>, a: i64, b: i64| {
                    v.is_some_and(|v| (a.min(b)..=a.max(b)).contains(&v))
                };
                let start_ok = within(earliest, before.0, after.0);
                let end_ok = within(latest, before.1, after.1);
                if !(start_ok && end_ok) {
                    out.violations.push(violation(
                        "list-offsets-match",
                        now_ms,
                        None,
                        Some(partition),
                        format!(
                            "ListOffsets of {partition} (t={}..{}ms) answered earliest {earliest:?} \
                             and latest {latest:?}, but the leader's log start offset was {}..{} \
                             and its high watermark {}..{} meanwhile",
                            op.invoke_ms, op.complete_ms, before.0, after.0, before.1, after.1
                        ),
                    ));
                }
            }
            (AdminKind::ListOffsets { .. }, _) => {}
        }
    }
    out.set("create_partitions_ok", created);
    out.set("create_partitions_refused", refused);
    out.set("list_offsets_answered", answered);
    out
}

/// `segment-names` on one broker's disk: every `.log` file of a topic partition's directory
/// (internal `__` directories aside) is named by 20 digits, and a non-empty one begins with
/// a batch whose base offset is that number. Returns how many segment files there are.
pub fn segment_files(
    broker: u32,
    disk: &SimStorage,
    log_dir: &Path,
    now_ms: u64,
) -> (u64, Vec<Violation>) {
    let mut count = 0;
    let mut violations = Vec::new();
    for dir in disk.inspect_dir(log_dir).unwrap_or_default() {
        if dir.starts_with("__") {
            continue;
        }
        let Some(files) = disk.inspect_dir(&log_dir.join(&dir)) else { continue };
        let partition = dir.rsplit_once('-').and_then(|(topic, p)| {
            Some(TopicPartitionKey { topic: topic.to_string(), partition: p.parse().ok()? })
        });
        for name in files.iter().filter(|n| n.ends_with(".log")) {
            count += 1;
            let stem = &name[..name.len() - ".log".len()];
            let mut bad = |why: String| {
                violations.push(violation(
                    "segment-names",
                    now_ms,
                    Some(broker),
                    partition.as_ref(),
                    format!("broker-{broker} has segment {dir}/{name}: {why}"),
                ))
            };
            let Some(base) = stem
                .parse::<i64>()
                .ok()
                .filter(|_| stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
            else {
                bad("the name is not a 20-digit offset".into());
                continue;
            };
            let bytes = disk.inspect_file(&log_dir.join(&dir).join(name), BASE_OFFSET_BYTES);
            if let Some(bytes) = bytes.filter(|b| b.len() == BASE_OFFSET_BYTES) {
                let first = i64::from_be_bytes(bytes.try_into().expect("8 bytes"));
                if first != base {
                    bad(format!("its first batch starts at offset {first}"));
                }
            }
        }
    }
    (count, violations)
}

/// The final reader's records of each partition must have consecutive offsets from the
/// first to the last (odradek writes no transaction markers, so a log has no gaps).
pub fn offsets_dense(history: &History, now_ms: u64) -> Vec<Violation> {
    let mut by_process: BTreeMap<(&str, &TopicPartitionKey), Vec<i64>> = BTreeMap::new();
    for op in history.ops.iter().filter(|op| op.process.starts_with("final")) {
        if let OpKind::Poll { reads } = &op.kind {
            for read in reads {
                by_process
                    .entry((op.process.as_str(), &read.partition))
                    .or_default()
                    .push(read.offset);
            }
        }
    }
    let mut violations = Vec::new();
    for ((process, partition), offsets) in by_process {
        if let Some(pair) = offsets.windows(2).find(|w| w[1] != w[0] + 1) {
            violations.push(Violation {
                property: "offsets-dense",
                time_ms: now_ms,
                broker: None,
                partition: Some(partition.clone()),
                explanation: format!(
                    "{process} read {partition} offset {} right after offset {}",
                    pair[1], pair[0]
                ),
            });
        }
    }
    violations
}

/// Acknowledged records that the final read of their partition did not find. Partitions the
/// final read could not finish (named in `unfinished`) are not judged: liveness reports them.
/// Nor are records acknowledged at an offset below where the final read started: retention
/// deleted them, as it may (seed claim M6), whether or not anyone read them.
pub fn missing_at_end(history: &History, unfinished: &[&str], now_ms: u64) -> Vec<Violation> {
    let mut final_reads: BTreeMap<&TopicPartitionKey, BTreeSet<&str>> = BTreeMap::new();
    let mut final_start: BTreeMap<&TopicPartitionKey, i64> = BTreeMap::new();
    for op in history.ops.iter().filter(|op| op.process.starts_with("final")) {
        if let OpKind::Poll { reads } = &op.kind {
            for read in reads {
                final_reads.entry(&read.partition).or_default().insert(read.value.as_str());
            }
        }
        if let OpKind::Assign { partitions, positions } = &op.kind {
            for partition in partitions {
                final_reads.entry(partition).or_default();
            }
            // The last attempt's start is where the final read began.
            final_start.extend(positions.iter().map(|(p, &start)| (p, start)));
        }
    }
    let mut violations = Vec::new();
    for op in &history.ops {
        let (OpKind::Send { partition: Some(partition), value, offset, .. }, Outcome::Ok) =
            (&op.kind, &op.outcome)
        else {
            continue;
        };
        let named = format!("{partition} ");
        if unfinished.iter().any(|u| u.starts_with(&named)) {
            continue;
        }
        let Some(read) = final_reads.get(partition) else { continue };
        let deleted = offset.zip(final_start.get(partition)).is_some_and(|(o, &start)| o < start);
        if !read.contains(value.as_str()) && !deleted {
            let at = offset
                .map_or("without an offset (acks=0)".to_string(), |o| format!("at offset {o}"));
            violations.push(Violation {
                property: "missing-at-end",
                time_ms: now_ms,
                broker: None,
                partition: Some(partition.clone()),
                explanation: format!("{} sent {value} to {partition}, acknowledged {at} at t={}ms, but the final read of {partition} does not hold it", op.process, op.complete_ms),
            });
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Read, RecordContent};
    use odradek::storage::{OpenMode, Storage, StorageFile};

    fn scenario() -> Scenario {
        crate::scenario::parse(
            r#"
            name = "m"
            duration_ms = 1000
            [[cluster.topics]]
            name = "t"
            partitions = 4
            [[producers]]
            id = "p1"
            topic = "t"
            keys = 5
            headers = 1
            timestamps = "explicit"
            payload_bytes = 20
            [[producers]]
            id = "p2"
            topic = "t"
            "#,
            None,
        )
        .unwrap()
    }

    fn tp(partition: i32) -> TopicPartitionKey {
        TopicPartitionKey { topic: "t".into(), partition }
    }

    fn op(process: &str, at: u64, kind: OpKind) -> Op {
        Op {
            process: process.into(),
            group: None,
            invoke_ms: at,
            invoke_index: 0,
            complete_ms: at,
            kind,
            outcome: Outcome::Ok,
        }
    }

    fn send(
        process: &str,
        sequence: u64,
        key: Option<&str>,
        partition: i32,
        offset: Option<i64>,
    ) -> Op {
        op(
            process,
            sequence,
            OpKind::Send {
                partition: Some(tp(partition)),
                key: key.map(str::to_string),
                value: format!("{process}-{sequence:06}"),
                offset,
            },
        )
    }

    fn poll(process: &str, at: u64, reads: Vec<Read>) -> Op {
        op(process, at, OpKind::Poll { reads })
    }

    fn read(partition: i32, offset: i64, value: &str, content: Option<RecordContent>) -> Read {
        Read { partition: tp(partition), offset, value: value.into(), content }
    }

    /// What p1 of `scenario()` sent as record `n`, as a consumer would see it.
    fn intact(n: u64) -> RecordContent {
        let planned = planned_record(&scenario().producers[0], n);
        RecordContent {
            key: planned.key,
            headers: planned.headers.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            timestamp_ms: planned.timestamp_ms.unwrap(),
            value_bytes: planned.value.len() as u64,
        }
    }

    #[test]
    fn records_read_as_sent_are_intact_and_any_difference_is_a_violation() {
        let s = scenario();
        let good = History {
            ops: vec![poll(
                "c1",
                1,
                vec![
                    read(0, 0, "p1-000000", Some(intact(0))),
                    read(0, 1, "p1-000007", Some(intact(7))),
                    read(0, 2, "nobody-000001", Some(intact(1))),
                    read(0, 3, "p1-000003", None),
                ],
            )],
        };
        assert_eq!(record_contents(&good, &s.producers, 9), (2, vec![]));
        let mut wrong_key = intact(1);
        wrong_key.key = Some("k2".into());
        let mut no_headers = intact(2);
        no_headers.headers.clear();
        let mut late = intact(3);
        late.timestamp_ms += 1;
        let mut short = intact(4);
        short.value_bytes -= 1;
        let bad = History {
            ops: vec![poll(
                "c1",
                5,
                vec![
                    read(0, 1, "p1-000001", Some(wrong_key)),
                    read(0, 2, "p1-000002", Some(no_headers)),
                    read(0, 3, "p1-000003", Some(late)),
                    read(0, 4, "p1-000004", Some(short)),
                ],
            )],
        };
        let (checked, violations) = record_contents(&bad, &s.producers, 9);
        assert_eq!(checked, 4);
        let texts: Vec<&str> = violations.iter().map(|v| v.explanation.as_str()).collect();
        assert_eq!(texts, [
            "c1 read p1-000001 at t-0 offset 1 (t=5ms) with key Some(\"k2\") (sent Some(\"k1\"))",
            "c1 read p1-000002 at t-0 offset 2 (t=5ms) with headers [] (sent [(\"h0\", Some(\"p1-000002/h0\"))])",
            "c1 read p1-000003 at t-0 offset 3 (t=5ms) with timestamp 1600000000004 (sent 1600000000003)",
            "c1 read p1-000004 at t-0 offset 4 (t=5ms) with a 19-byte value (sent 20 bytes)",
        ]);
        assert!(violations.iter().all(|v| v.property == "records-intact"));
    }

    #[test]
    fn keyed_records_must_follow_murmur2_and_keyless_ones_are_counted_by_partition() {
        let s = scenario();
        let home = |key: &str, n: i32| partition_for_key(key.as_bytes(), n);
        let good = History {
            ops: vec![
                send("p1", 0, Some("k0"), home("k0", 4), Some(0)),
                send("p1", 5, Some("k0"), home("k0", 4), Some(1)),
                send("p1", 1, Some("k1"), home("k1", 4), Some(0)),
                send("p2", 0, None, 0, Some(2)),
                send("p2", 1, None, 3, Some(3)),
            ],
        };
        let result = partitioning(&good, &s, &[], 9);
        assert!(result.violations.is_empty());
        assert_eq!(result.keys_on_several_partitions, 0);
        assert_eq!(result.keyless_partitions, 2);

        let wrong = (home("k2", 4) + 1) % 4;
        let bad = History {
            ops: vec![
                send("p1", 2, Some("k2"), wrong, Some(0)),
                send("p1", 7, Some("k2"), home("k2", 4), Some(1)),
            ],
        };
        let result = partitioning(&bad, &s, &[], 9);
        assert_eq!(result.violations.len(), 1);
        assert_eq!(result.violations[0].property, "key-partition");
        assert_eq!(result.keys_on_several_partitions, 1);

        // After the topic grew to 6, a key may also land where murmur2 mod 6 puts it.
        let grown = AdminOp {
            invoke_ms: 1,
            complete_ms: 2,
            kind: AdminKind::CreatePartitions { topic: "t".into(), count: 6 },
            outcome: Outcome::Ok,
        };
        let moved = History { ops: vec![send("p1", 2, Some("k2"), home("k2", 6), Some(0))] };
        assert!(partitioning(&moved, &s, std::slice::from_ref(&grown), 9).violations.is_empty());
        if home("k2", 6) != home("k2", 4) {
            assert_eq!(partitioning(&moved, &s, &[], 9).violations.len(), 1);
        }
    }

    #[test]
    fn acknowledgements_are_counted_by_what_they_named() {
        let s = scenario();
        let mut other_topic = send("p1", 3, None, 0, Some(1));
        if let OpKind::Send { partition: Some(p), .. } = &mut other_topic.kind {
            p.topic = "elsewhere".into();
        }
        let mut failed = send("p1", 4, None, 0, Some(2));
        failed.outcome = Outcome::Info { error: "timeout".into() };
        let history = History {
            ops: vec![
                send("p1", 0, None, 0, Some(0)),
                send("p1", 1, None, 0, None),
                other_topic,
                failed,
                send("stranger", 0, None, 0, Some(5)),
            ],
        };
        // Without metadata: the one without an offset and the one naming another topic.
        assert_eq!(acked_metadata(&history, &s.producers), (2, 2));
    }

    #[test]
    fn consume_order_and_rereads_are_per_consumer_and_ignore_the_final_reader() {
        let in_order = History {
            ops: vec![
                poll("c1", 1, vec![read(0, 0, "p1-000000", None), read(1, 0, "p1-000001", None)]),
                poll("c2", 1, vec![read(1, 0, "p1-000001", None)]),
                poll("c2", 2, vec![read(0, 0, "p2-000000", None)]),
                poll(
                    "final",
                    3,
                    vec![read(1, 0, "p1-000001", None), read(0, 0, "p1-000000", None)],
                ),
            ],
        };
        assert_eq!(consume_order_inversions(&in_order), 0);
        assert_eq!(reread_records(&in_order), 0);
        let shuffled = History {
            ops: vec![
                poll("c1", 1, vec![read(1, 0, "p1-000002", None), read(0, 0, "p1-000000", None)]),
                poll("c1", 2, vec![read(0, 1, "p1-000001", None), read(1, 1, "p1-000003", None)]),
                // A seek back: the same records again, and one offset with another value.
                poll("c1", 3, vec![read(0, 0, "p1-000000", None), read(0, 1, "p1-000009", None)]),
            ],
        };
        assert_eq!(consume_order_inversions(&shuffled), 3);
        assert_eq!(reread_records(&shuffled), 1);
    }

    #[test]
    fn failed_sends_are_timed_from_call_to_error() {
        let mut a = send("p1", 0, None, 0, None);
        (a.invoke_ms, a.complete_ms, a.outcome) = (10, 510, Outcome::Fail { error: "t".into() });
        let mut b = a.clone();
        (b.invoke_ms, b.complete_ms) = (600, 1300);
        let mut info = a.clone();
        (info.complete_ms, info.outcome) = (5000, Outcome::Info { error: "t".into() });
        assert_eq!(failed_send_ms(&History { ops: vec![a, b, info.clone()] }), Some((500, 700)));
        assert_eq!(failed_send_ms(&History { ops: vec![info] }), None);
    }

    fn list_offsets(earliest: i64, latest: i64, before: (i64, i64), after: (i64, i64)) -> AdminOp {
        AdminOp {
            invoke_ms: 100,
            complete_ms: 104,
            kind: AdminKind::ListOffsets {
                partition: tp(0),
                earliest: Some(earliest),
                latest: Some(latest),
                truth_before: Some(before),
                truth_after: Some(after),
            },
            outcome: Outcome::Ok,
        }
    }

    #[test]
    fn list_offsets_must_answer_the_log_start_and_the_high_watermark() {
        let refused = AdminOp {
            invoke_ms: 1,
            complete_ms: 2,
            kind: AdminKind::CreatePartitions { topic: "t".into(), count: 2 },
            outcome: Outcome::Fail { error: "INVALID_PARTITIONS".into() },
        };
        let ok = list_offsets(10, 50, (10, 48), (10, 52));
        let result = admin_results(&[refused, ok], 9);
        assert!(result.violations.is_empty());
        assert_eq!(result.metrics["create_partitions_ok"], 0.0);
        assert_eq!(result.metrics["create_partitions_refused"], 1.0);
        assert_eq!(result.metrics["list_offsets_answered"], 1.0);
        assert_eq!(result.metrics["listed_earliest"], 10.0);
        assert_eq!(result.metrics["listed_latest"], 50.0);
        // A committed offset, or 0 where the log starts later, is not what ListOffsets means.
        let zero_start = list_offsets(0, 50, (10, 50), (10, 50));
        let committed = list_offsets(10, 30, (10, 50), (10, 50));
        let result = admin_results(&[zero_start, committed], 9);
        assert_eq!(result.violations.len(), 2);
        assert!(result.violations.iter().all(|v| v.property == "list-offsets-match"));
    }

    fn assign(process: &str, at: u64, partition: i32, start: i64) -> Op {
        op(
            process,
            at,
            OpKind::Assign {
                partitions: vec![tp(partition)],
                positions: BTreeMap::from([(tp(partition), start)]),
            },
        )
    }

    #[test]
    fn the_final_read_must_be_dense_and_hold_every_acked_record_retention_kept() {
        let history = History {
            ops: vec![
                send("p1", 0, None, 0, Some(0)),
                send("p1", 1, None, 0, Some(1)),
                send("p1", 2, None, 0, Some(2)),
                send("p1", 3, None, 0, Some(3)),
                send("p1", 4, None, 1, None),
                // Retention moved partition 0's start to 1; offset 2 is gone; p1-000004 (acks=0)
                // never reached partition 1.
                assign("final", 10, 0, 1),
                poll(
                    "final",
                    11,
                    vec![read(0, 1, "p1-000001", None), read(0, 3, "p1-000003", None)],
                ),
                assign("final-2", 12, 1, 0),
            ],
        };
        let dense = offsets_dense(&history, 20);
        assert_eq!(dense.len(), 1);
        assert_eq!(dense[0].explanation, "final read t-0 offset 3 right after offset 1");
        let missing = missing_at_end(&history, &[], 20);
        let texts: Vec<&str> = missing.iter().map(|v| v.explanation.as_str()).collect();
        assert_eq!(texts, [
            "p1 sent p1-000002 to t-0, acknowledged at offset 2 at t=2ms, but the final read of t-0 does not hold it",
            "p1 sent p1-000004 to t-1, acknowledged without an offset (acks=0) at t=4ms, but the final read of t-1 does not hold it",
        ]);
        // A partition the final read could not finish is left to liveness.
        let unfinished = ["t-1 could not be read to its end before the deadline: timeout"];
        assert_eq!(missing_at_end(&history, &unfinished, 20).len(), 1);
    }

    #[test]
    fn segments_must_be_named_by_their_first_offset() {
        let disk = SimStorage::new(1);
        let dir = Path::new("/data/t-0");
        disk.create_dir_all(dir).unwrap();
        disk.create_dir_all(Path::new("/data/__cluster_metadata-0")).unwrap();
        let write = |name: &str, base: Option<i64>| {
            let mut file = disk.open(&dir.join(name), OpenMode::CreateNew).unwrap();
            if let Some(base) = base {
                file.append(&base.to_be_bytes()).unwrap();
                file.append(b"rest of the batch").unwrap();
            }
        };
        write("00000000000000000000.log", Some(0));
        write("00000000000000000042.log", Some(42));
        write("00000000000000000042.index", None);
        write("00000000000000000099.log", None);
        let (count, violations) = segment_files(1, &disk, Path::new("/data"), 9);
        assert_eq!((count, violations), (3, vec![]));
        write("00000000000000000050.log", Some(51));
        write("50.log", Some(50));
        let (count, violations) = segment_files(1, &disk, Path::new("/data"), 9);
        assert_eq!(count, 5);
        let texts: Vec<&str> = violations.iter().map(|v| v.explanation.as_str()).collect();
        assert_eq!(texts, [
            "broker-1 has segment t-0/00000000000000000050.log: its first batch starts at offset 51",
            "broker-1 has segment t-0/50.log: the name is not a 20-digit offset",
        ]);
        assert!(violations
            .iter()
            .all(|v| v.property == "segment-names" && v.partition == Some(tp(0))));
    }
}
