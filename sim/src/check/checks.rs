//! Step 2 of the queue checker: the anomaly checks over an [`Index`].
//!
//! Inputs: an indexed history (version orders built). Outputs: [`Anomaly`]s pushed to
//! [`Findings`] and the consume counts per group. Invariants: each check walks partitions,
//! offsets and processes in a fixed order, so its output is deterministic; every explanation
//! is one sentence naming operations by process and simulated completion time (`t=...ms`).
//!
//! How each check maps to anomalies.md §2.4:
//! - `inconsistent-offsets`, `duplicate`: Step 1.2 and Step 2 over the raw per-offset sets.
//! - `aborted-read` (G1a): an ok poll read a value whose every send failed. `garbage-read`
//!   (ours): an ok poll read a value no send produced, or one sent to another partition.
//! - `lost-write`: per partition, `bound` = the highest first index of any value an ok poll
//!   read; every value that must have committed, was sent to that partition, last appears at
//!   or below `bound` and no ok poll read there is lost.
//! - `unseen`: acked (`Ok`) sends no ok poll read on their partition by the end of the
//!   history, minus those already reported as lost-write; one anomaly per partition.
//! - `poll-skip` / `nonmonotonic-poll`: per process, the first read of a partition in an ok
//!   poll against the index expected next (one past the last read of the partition, or where
//!   an ok assign positioned it); an ok assign drops partitions it no longer lists.
//! - `int-poll-skip` / `int-nonmonotonic-poll`: consecutive reads of a partition in one ok
//!   poll (the history has no rebalance log, so no partition is excused).
//! - `nonmonotonic-send`: per producer, its ok/info sends in invocation order (the op's
//!   `invoke_index`, then its time, then completion order); a send landing at or before the index of the previous landed send
//!   to the same partition. `int-send-skip` cannot occur: a Send op is one record.
//! - consume counts: per group, ok-poll deliveries of each committed value of the partitions
//!   the group was assigned or read; `consumed-more-than-once` per (group, partition).

use super::index::{
    send_offset, FastMap, FastSet, Index, KeyId, OpId, ReadRef, ValueId, VersionOrder,
};
use super::*;
use crate::history::{Op, OpKind, Outcome};
use std::collections::BTreeSet;

/// How many items an explanation lists before "and N more".
const LIST_MAX: usize = 3;

#[derive(Default)]
pub(super) struct Findings {
    pub anomalies: Vec<Anomaly>,
}

impl Findings {
    fn push(
        &mut self,
        property: &'static str,
        key: Option<&TopicPartitionKey>,
        process: Option<&str>,
        values: Vec<String>,
        offsets: Vec<i64>,
        explanation: String,
    ) {
        self.anomalies.push(Anomaly {
            property,
            key: key.cloned(),
            process: process.map(str::to_owned),
            values,
            offsets,
            explanation,
        });
    }
}

// ---- Wording helpers ----

fn error_of(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Ok => "",
        Outcome::Fail { error } | Outcome::Info { error } => error,
    }
}

/// A send's outcome as a parenthesis: "acked at offset 41, t=1203ms".
fn send_status(op: &Op) -> String {
    let offset = match &op.kind {
        OpKind::Send { offset, .. } => send_offset(*offset),
        _ => None,
    };
    let t = op.complete_ms;
    match (&op.outcome, offset) {
        (Outcome::Ok, Some(o)) => format!("acked at offset {o}, t={t}ms"),
        (Outcome::Ok, None) => format!("acked without an offset, t={t}ms"),
        (Outcome::Info { error }, _) => format!("outcome unknown: {error}, t={t}ms"),
        (Outcome::Fail { error }, _) => format!("failed: {error}, t={t}ms"),
    }
}

/// Who observed something, and when: "sent by p1, acked at t=1203ms", "read by c1 at
/// t=1300ms".
fn witness(op: &Op) -> String {
    let (p, t) = (&op.process, op.complete_ms);
    match (&op.kind, &op.outcome) {
        (OpKind::Send { .. }, Outcome::Ok) => format!("sent by {p}, acked at t={t}ms"),
        (OpKind::Send { .. }, Outcome::Info { error }) => {
            format!("sent by {p}, outcome unknown ({error}) at t={t}ms")
        }
        (OpKind::Send { .. }, Outcome::Fail { error }) => {
            format!("sent by {p}, failed ({error}) at t={t}ms")
        }
        (_, Outcome::Ok) => format!("read by {p} at t={t}ms"),
        (_, other) => {
            format!("read by {p} at t={t}ms in a poll that ended with {}", error_of(other))
        }
    }
}

/// "41", "41 and 43", "41..43", "41, 43 and 45..50", at most a few pieces.
pub(super) fn fmt_offsets(offsets: &[i64]) -> String {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for &o in offsets {
        match runs.last_mut() {
            Some((_, hi)) if o == *hi || o == *hi + 1 => *hi = o,
            _ => runs.push((o, o)),
        }
    }
    let pieces: Vec<String> = runs
        .iter()
        .map(|&(lo, hi)| if lo == hi { lo.to_string() } else { format!("{lo}..{hi}") })
        .collect();
    fmt_list(&pieces)
}

/// "a", "a and b", "a, b and c", "a, b, c and 4 more".
fn fmt_list<S: AsRef<str>>(items: &[S]) -> String {
    let shown: Vec<&str> = items.iter().take(LIST_MAX).map(AsRef::as_ref).collect();
    let rest = items.len() - shown.len();
    match (shown.as_slice(), rest) {
        ([], _) => String::new(),
        ([one], 0) => (*one).to_owned(),
        (shown, 0) => {
            let (last, init) = shown.split_last().unwrap_or((&"", &[]));
            format!("{} and {last}", init.join(", "))
        }
        (shown, rest) => format!("{} and {rest} more", shown.join(", ")),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The values and offsets at indices `from..to` of a version order, in offset order.
fn range_contents(ix: &Index, order: &VersionOrder, from: u32, to: u32) -> (Vec<String>, Vec<i64>) {
    let mut values = Vec::new();
    let mut offsets = Vec::new();
    for i in from..to.min(order.len()) {
        for (v, _) in order.values_at(i) {
            values.push(ix.values[v as usize].to_owned());
            offsets.push(order.offsets[i as usize]);
        }
    }
    (values, offsets)
}

/// "offsets 41..42 (p1-000041 and p1-000042)".
fn describe_range(values: &[String], offsets: &[i64]) -> String {
    let noun = if offsets.first() == offsets.last() { "offset" } else { "offsets" };
    format!("{noun} {} ({})", fmt_offsets(offsets), fmt_list(values))
}

// ---- Step 1.2 and Step 2: the log itself ----

/// One anomaly per (partition, offset) observed with two or more values.
pub(super) fn inconsistent_offsets(ix: &Index, out: &mut Findings) {
    for (k, order) in ix.orders.iter().enumerate() {
        for &i in order.more_values.keys() {
            let offset = order.offsets[i as usize];
            let mut seen: Vec<(&str, OpId)> =
                order.values_at(i).map(|(v, w)| (ix.values[v as usize], w)).collect();
            seen.sort();
            let described: Vec<String> =
                seen.iter().map(|(v, w)| format!("{v} ({})", witness(&ix.ops[*w]))).collect();
            let explanation = format!(
                "{} offset {offset} holds {} different values: {}",
                ix.keys[k],
                seen.len(),
                fmt_list(&described)
            );
            let values = seen.iter().map(|(v, _)| (*v).to_owned()).collect();
            out.push(
                INCONSISTENT_OFFSETS,
                Some(ix.keys[k]),
                None,
                values,
                vec![offset],
                explanation,
            );
        }
    }
}

/// One anomaly per (partition, value) observed at two or more offsets.
pub(super) fn duplicates(ix: &Index, out: &mut Findings) {
    for (k, order) in ix.orders.iter().enumerate() {
        let mut repeated: Vec<(u32, ValueId)> =
            order.repeated.keys().map(|&v| (order.spans[&v].first, v)).collect();
        repeated.sort_unstable();
        for (_, v) in repeated {
            let at = &order.repeated[&v];
            let value = ix.values[v as usize];
            let sender = match ix.writer[v as usize] {
                Some(w) => {
                    let op = &ix.ops[w];
                    format!("{} sent {value} ({})", op.process, send_status(op))
                }
                None => format!("nobody sent {value}"),
            };
            let places: Vec<String> =
                at.iter().map(|(o, w)| format!("{o} ({})", witness(&ix.ops[*w]))).collect();
            let explanation = format!(
                "{sender}, but {} holds it at {} offsets: {}",
                ix.keys[k],
                at.len(),
                fmt_list(&places)
            );
            let offsets = at.iter().map(|(o, _)| *o).collect();
            let process = ix.writer[v as usize].map(|w| ix.ops[w].process.as_str());
            out.push(
                DUPLICATE,
                Some(ix.keys[k]),
                process,
                vec![value.to_owned()],
                offsets,
                explanation,
            );
        }
    }
}

/// `aborted-read` and `garbage-read`: one anomaly per (partition, value), at its first ok
/// read, in history order.
pub(super) fn bad_reads(ix: &Index, out: &mut Findings) {
    let mut reported: FastSet<(KeyId, ValueId)> = FastSet::default();
    for (op_id, op) in ix.ops.iter().enumerate() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        for read in ix.reads_of(op_id) {
            let (k, v) = (read.key, read.value);
            let (key, value) = (ix.keys[k as usize], ix.values[v as usize]);
            let (property, why) = match ix.writer[v as usize].map(|w| &ix.ops[w]) {
                None => (GARBAGE_READ, "no producer ever sent that value".to_owned()),
                Some(w @ Op { outcome: Outcome::Fail { error }, .. }) => (
                    ABORTED_READ,
                    format!(
                        "{}'s send of it definitely failed ({error} at t={}ms)",
                        w.process, w.complete_ms
                    ),
                ),
                Some(w) if ix.home[v as usize] != Some(k) => {
                    let why = match (&w.kind, ix.home[v as usize]) {
                        (OpKind::Send { partition: Some(p), .. }, _) => {
                            format!("{} sent it to {p} ({})", w.process, send_status(w))
                        }
                        (_, home) => format!(
                            "{} sent it without a partition ({}) and it was first read on {}",
                            w.process,
                            send_status(w),
                            home.map_or("no partition".to_owned(), |h| ix.keys[h as usize]
                                .to_string())
                        ),
                    };
                    (GARBAGE_READ, why)
                }
                Some(_) => continue,
            };
            if !reported.insert((k, v)) {
                continue;
            }
            let explanation = format!(
                "{} read {value} at {key} offset {} (t={}ms), but {why}",
                op.process, read.offset, op.complete_ms
            );
            out.push(
                property,
                Some(key),
                Some(&op.process),
                vec![value.to_owned()],
                vec![read.offset],
                explanation,
            );
        }
    }
}

/// `lost-write`: returns the lost (partition, value) pairs so that `unseen` can leave them out.
pub(super) fn lost_writes(ix: &Index, out: &mut Findings) -> FastSet<(KeyId, ValueId)> {
    // The bound per partition: the highest first index of a value an ok poll read there, and
    // the earliest read proving it (op, offset, value).
    let mut bound: Vec<Option<(u32, OpId, i64, ValueId)>> = vec![None; ix.keys.len()];
    for (op_id, op) in ix.ops.iter().enumerate() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        for read in ix.reads_of(op_id) {
            let (k, v) = (read.key, read.value);
            let Some(first) = ix.first_index(k, v) else { continue };
            let b = &mut bound[k as usize];
            if b.is_none_or(|(i, ..)| first > i) {
                *b = Some((first, op_id, read.offset, v));
            }
        }
    }
    let mut lost = FastSet::default();
    for (k, order) in ix.orders.iter().enumerate() {
        let Some((bound, reader, bound_offset, bound_value)) = bound[k] else { continue };
        let k = k as KeyId;
        for i in 0..=bound.min(order.len().saturating_sub(1)) {
            for (v, _) in order.values_at(i) {
                let vi = v as usize;
                if order.spans[&v].last != i
                    || ix.ok_read(k, v).is_some()
                    || !ix.committed[vi]
                    || ix.home[vi] != Some(k)
                {
                    continue;
                }
                lost.insert((k, v));
                let Some(w) = ix.writer[vi] else { continue };
                let (w, r) = (&ix.ops[w], &ix.ops[reader]);
                let offsets: Vec<i64> = match order.repeated.get(&v) {
                    Some(at) => at.iter().map(|(o, _)| *o).collect(),
                    None => vec![order.offsets[i as usize]],
                };
                let at = if send_offset(send_offset_of(w)) == Some(order.offsets[i as usize]) {
                    String::new()
                } else {
                    format!(" and seen at offset {}", fmt_offsets(&offsets))
                };
                let explanation = format!(
                    "{} sent {} to {} ({}){at}, but no consumer ever read it, although {} read \
                     {} at offset {bound_offset} (t={}ms)",
                    w.process,
                    ix.values[vi],
                    ix.keys[k as usize],
                    send_status(w),
                    r.process,
                    ix.values[bound_value as usize],
                    r.complete_ms
                );
                out.push(
                    LOST_WRITE,
                    Some(ix.keys[k as usize]),
                    Some(&w.process),
                    vec![ix.values[vi].to_owned()],
                    offsets,
                    explanation,
                );
            }
        }
    }
    lost
}

fn send_offset_of(op: &Op) -> Option<i64> {
    match &op.kind {
        OpKind::Send { offset, .. } => *offset,
        _ => None,
    }
}

/// `unseen`: one anomaly per partition (or none known) listing its acked, never-read values.
pub(super) fn unseen(ix: &Index, lost: &FastSet<(KeyId, ValueId)>, out: &mut Findings) {
    let mut by_key: BTreeMap<Option<KeyId>, Vec<(OpId, ValueId)>> = BTreeMap::new();
    for v in 0..ix.values.len() {
        let Some(w) = ix.writer[v] else { continue };
        if ix.ops[w].outcome != Outcome::Ok {
            continue;
        }
        let v = v as ValueId;
        let read = match ix.home[v as usize] {
            Some(k) => ix.ok_read(k, v).is_some() || lost.contains(&(k, v)),
            None => false,
        };
        if !read {
            by_key.entry(ix.home[v as usize]).or_default().push((w, v));
        }
    }
    for (k, mut values) in by_key {
        values.sort_unstable();
        let n = values.len();
        let (w, v) = values[0];
        let first = &ix.ops[w];
        let example =
            format!("{} ({}, {})", ix.values[v as usize], first.process, send_status(first));
        let records = plural(n, "record", "records");
        let listing = match n {
            1 => format!("was never read by any consumer: {example}"),
            _ => format!("were never read by any consumer, the first {example}"),
        };
        let (key, explanation) = match k {
            Some(k) => {
                let key = ix.keys[k as usize];
                let last_read = match ix.max_ok_read[k as usize] {
                    Some((o, r)) => format!(
                        "the highest offset any consumer read there was {o} ({}'s poll at t={}ms)",
                        ix.ops[r].process, ix.ops[r].complete_ms
                    ),
                    None => format!("no consumer read {key} at all"),
                };
                (Some(key), format!("{records} acked to {key} {listing}; {last_read}"))
            }
            None => (None, format!("{records} acked without a partition {listing}")),
        };
        let offsets: Vec<i64> =
            values.iter().filter_map(|&(w, _)| send_offset(send_offset_of(&ix.ops[w]))).collect();
        let values: Vec<String> =
            values.iter().map(|&(_, v)| ix.values[v as usize].to_owned()).collect();
        out.push(UNSEEN, key, None, values, offsets, explanation);
    }
}

// ---- Order checks ----

/// Where a process expects to read a partition next.
#[derive(Clone, Copy)]
struct Cursor {
    /// The index of the version order it should read next.
    next: u32,
    /// Why: its last read there, or an assign's position.
    from: CursorFrom,
}

#[derive(Clone, Copy)]
enum CursorFrom {
    /// Its last read of the partition: the poll, the offset and the value.
    Read { op: OpId, offset: i64, value: ValueId },
    /// An assign positioned it at this offset.
    Position { op: OpId, offset: i64 },
}

/// `poll-skip`, `nonmonotonic-poll`, `int-poll-skip`, `int-nonmonotonic-poll`.
pub(super) fn poll_order(ix: &Index, out: &mut Findings) {
    let mut cursors: FastMap<&str, FastMap<KeyId, Cursor>> = FastMap::default();
    // Per partition, the last read of it in the current poll: (index, offset, value).
    let mut in_poll: Vec<Option<(u32, i64, ValueId)>> = vec![None; ix.keys.len()];
    let mut touched: Vec<KeyId> = Vec::new();
    for (op_id, op) in ix.ops.iter().enumerate() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        match &op.kind {
            OpKind::Assign { partitions, positions } => {
                let cursors = cursors.entry(op.process.as_str()).or_default();
                let keep: BTreeSet<KeyId> =
                    partitions.iter().filter_map(|p| ix.key_id(p)).collect();
                cursors.retain(|k, _| keep.contains(k));
                for (p, &offset) in positions {
                    let Some(k) = ix.key_id(p) else { continue };
                    if keep.contains(&k) {
                        let next = ix.orders[k as usize].index_at_or_after(offset);
                        cursors.insert(
                            k,
                            Cursor { next, from: CursorFrom::Position { op: op_id, offset } },
                        );
                    }
                }
            }
            OpKind::Poll { .. } => {
                let cursors = cursors.entry(op.process.as_str()).or_default();
                for read in ix.reads_of(op_id) {
                    let k = read.key;
                    match in_poll[k as usize] {
                        None => {
                            touched.push(k);
                            if let Some(cursor) = cursors.get(&k) {
                                across_polls(ix, op_id, cursor, read, out);
                            }
                        }
                        Some((i, prev_offset, _)) => {
                            within_poll(ix, op_id, (i, prev_offset), read, out);
                        }
                    }
                    in_poll[k as usize] = Some((read.index, read.offset, read.value));
                }
                for k in touched.drain(..) {
                    if let Some((j, offset, value)) = in_poll[k as usize].take() {
                        let from = CursorFrom::Read { op: op_id, offset, value };
                        cursors.insert(k, Cursor { next: j + 1, from });
                    }
                }
            }
            OpKind::Send { .. } | OpKind::Commit { .. } => {}
        }
    }
}

/// The first read of a partition in poll `op_id` against the process's cursor there.
fn across_polls(ix: &Index, op_id: OpId, cursor: &Cursor, read: &ReadRef, out: &mut Findings) {
    let (k, v, j, offset) = (read.key, read.value, read.index, read.offset);
    if j == cursor.next {
        return;
    }
    let op = &ix.ops[op_id];
    let key = ix.keys[k as usize];
    let order = &ix.orders[k as usize];
    let value = ix.values[v as usize];
    let now =
        format!("{}'s poll at t={}ms started {key} at offset {offset}", op.process, op.complete_ms);
    if j > cursor.next {
        let (values, offsets) = range_contents(ix, order, cursor.next, j);
        let before = match cursor.from {
            CursorFrom::Read { op: prev, offset: prev_offset, .. } => format!(
                "its previous poll (t={}ms) ended at offset {prev_offset}",
                ix.ops[prev].complete_ms
            ),
            CursorFrom::Position { op: assign, offset: position } => format!(
                "its assign at t={}ms positioned it at offset {position}",
                ix.ops[assign].complete_ms
            ),
        };
        let explanation =
            format!("{now}, but {before}, so it skipped {}", describe_range(&values, &offsets));
        out.push(POLL_SKIP, Some(key), Some(&op.process), values, offsets, explanation);
    } else if j < cursor.next {
        let (before, mut values, mut offsets) = match cursor.from {
            CursorFrom::Read { op: prev, offset: prev_offset, value: prev_value } => (
                format!(
                    "at or before offset {prev_offset} where its previous poll (t={}ms) ended",
                    ix.ops[prev].complete_ms
                ),
                vec![ix.values[prev_value as usize].to_owned()],
                vec![prev_offset],
            ),
            CursorFrom::Position { op: assign, offset: position } => (
                format!(
                    "before offset {position} where its assign at t={}ms positioned it",
                    ix.ops[assign].complete_ms
                ),
                Vec::new(),
                vec![position],
            ),
        };
        values.push(value.to_owned());
        offsets.push(offset);
        let explanation = format!("{now} ({value}), {before}");
        out.push(NONMONOTONIC_POLL, Some(key), Some(&op.process), values, offsets, explanation);
    }
}

/// Two consecutive reads of one partition inside poll `op_id`: the first's `(index, offset)`,
/// and the second.
fn within_poll(
    ix: &Index,
    op_id: OpId,
    (i, prev_offset): (u32, i64),
    read: &ReadRef,
    out: &mut Findings,
) {
    let (k, j, offset) = (read.key, read.index, read.offset);
    if j == i + 1 {
        return;
    }
    let op = &ix.ops[op_id];
    let key = ix.keys[k as usize];
    let order = &ix.orders[k as usize];
    let read = format!(
        "{}'s poll at t={}ms read {key} offset {prev_offset} then offset {offset}",
        op.process, op.complete_ms
    );
    if j > i + 1 {
        let (values, offsets) = range_contents(ix, order, i + 1, j);
        let explanation = format!("{read}, skipping {}", describe_range(&values, &offsets));
        out.push(INT_POLL_SKIP, Some(key), Some(&op.process), values, offsets, explanation);
    } else if j <= i {
        let (values, _) = range_contents(ix, order, j, j + 1);
        let how = if offset == prev_offset { "the same offset twice" } else { "going backwards" };
        let explanation = format!("{read}, {how}");
        out.push(
            INT_NONMONOTONIC_POLL,
            Some(key),
            Some(&op.process),
            values,
            vec![prev_offset, offset],
            explanation,
        );
    }
}

/// `nonmonotonic-send`: per producer, in invocation order.
pub(super) fn send_order(ix: &Index, out: &mut Findings) {
    // Invocation order: the process's own index first (exact even when several sends share a
    // millisecond), then the time, then completion order (histories built without indexes).
    let mut by_process: BTreeMap<&str, Vec<(u64, u64, OpId)>> = BTreeMap::new();
    for (op_id, op) in ix.ops.iter().enumerate() {
        if matches!(op.kind, OpKind::Send { .. }) && !matches!(op.outcome, Outcome::Fail { .. }) {
            let order = (op.invoke_index, op.invoke_ms, op_id);
            by_process.entry(op.process.as_str()).or_default().push(order);
        }
    }
    for (process, mut sends) in by_process {
        sends.sort_unstable();
        // Per partition: the last landed send, its index and offset.
        let mut last: FastMap<KeyId, (u32, i64, OpId)> = FastMap::default();
        for (_, _, op_id) in sends {
            let op = &ix.ops[op_id];
            let Some((k, j, offset)) = landed(ix, op_id) else { continue };
            if let Some(&(i, prev_offset, prev)) = last.get(&k) {
                if j <= i {
                    let prev = &ix.ops[prev];
                    let (pv, v) = (sent_value(prev), sent_value(op));
                    let key = ix.keys[k as usize];
                    let explanation = format!(
                        "{process} sent {v} (invoked at t={}ms) after {pv} (invoked at t={}ms), \
                         but {v} landed at {key} offset {offset}, {} {pv} at offset \
                         {prev_offset}",
                        op.invoke_ms,
                        prev.invoke_ms,
                        if j == i { "the same offset as" } else { "before" }
                    );
                    out.push(
                        NONMONOTONIC_SEND,
                        Some(key),
                        Some(process),
                        vec![pv.to_owned(), v.to_owned()],
                        vec![prev_offset, offset],
                        explanation,
                    );
                }
            }
            last.insert(k, (j, offset, op_id));
        }
    }
}

fn sent_value(op: &Op) -> &str {
    match &op.kind {
        OpKind::Send { value, .. } => value,
        _ => "",
    }
}

/// Where a send landed: its partition, index and offset, if known (its own offset when it
/// must have committed, else where its value first appears in its partition).
fn landed(ix: &Index, op_id: OpId) -> Option<(KeyId, u32, i64)> {
    let OpKind::Send { offset, .. } = &ix.ops[op_id].kind else { return None };
    let v = ix.sent_value(op_id)?;
    let k = ix.sent_key(op_id).or(ix.home[v as usize])?;
    let order = &ix.orders[k as usize];
    if let Some(o) = send_offset(*offset) {
        if let Some(j) = order.index_of_offset(o) {
            if order.values_at(j).any(|(x, _)| x == v) {
                return Some((k, j, o));
            }
        }
    }
    let j = order.spans.get(&v)?.first;
    Some((k, j, order.offsets[j as usize]))
}

// ---- Consume counts ----

/// Per group: deliveries of each committed value by ok polls; `consumed-more-than-once`.
///
/// Deliveries are collected as (group, value, poll) and sorted, so that each (group, value)
/// is one run: its length is how many times the group consumed the value.
pub(super) fn consume_counts(ix: &Index, out: &mut Findings) -> BTreeMap<String, ConsumeCounts> {
    // Group ids in order of first appearance; `scope[g]`: partitions g was assigned or read.
    let mut group_ids: BTreeMap<&str, u32> = BTreeMap::new();
    let mut scope: Vec<BTreeSet<KeyId>> = Vec::new();
    let mut deliveries: Vec<(u32, ValueId, OpId)> = Vec::new();
    for (op_id, op) in ix.ops.iter().enumerate() {
        if op.outcome != Outcome::Ok
            || !matches!(op.kind, OpKind::Assign { .. } | OpKind::Poll { .. })
        {
            continue;
        }
        let name = op.group.as_deref().unwrap_or(&op.process);
        let g = *group_ids.entry(name).or_insert_with(|| {
            scope.push(BTreeSet::new());
            (scope.len() - 1) as u32
        });
        if let OpKind::Assign { partitions, .. } = &op.kind {
            scope[g as usize].extend(partitions.iter().filter_map(|p| ix.key_id(p)));
        }
        let mut last_key = None;
        for read in ix.reads_of(op_id) {
            let (k, v) = (read.key, read.value);
            if last_key != Some(k) {
                scope[g as usize].insert(k);
                last_key = Some(k);
            }
            if ix.committed[v as usize] && ix.home[v as usize] == Some(k) {
                deliveries.push((g, v, op_id));
            }
        }
    }
    deliveries.sort_unstable();

    // Per group: committed values in scope, and the values delivered once or more.
    let mut committed_by_home = vec![0u64; ix.keys.len()];
    for v in 0..ix.values.len() {
        if let (true, Some(k)) = (ix.committed[v], ix.home[v]) {
            committed_by_home[k as usize] += 1;
        }
    }
    let mut counts: Vec<ConsumeCounts> = scope
        .iter()
        .map(|keys| ConsumeCounts {
            never: keys.iter().map(|&k| committed_by_home[k as usize]).sum(),
            ..ConsumeCounts::default()
        })
        .collect();
    /// A value a group consumed more than once.
    struct Repeat {
        /// Its first index in the version order (`u32::MAX` if it has none).
        index: u32,
        value: ValueId,
        times: usize,
        /// The first two polls that delivered it.
        polls: [OpId; 2],
    }
    let mut names: Vec<&str> = vec![""; group_ids.len()];
    for (name, &g) in &group_ids {
        names[g as usize] = name;
    }
    // By (group name, partition), so that anomalies come out in that order.
    let mut more: BTreeMap<(&str, KeyId), Vec<Repeat>> = BTreeMap::new();
    for run in deliveries.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let (g, value, first) = run[0];
        let c = &mut counts[g as usize];
        c.never -= 1;
        if run.len() == 1 {
            c.once += 1;
            continue;
        }
        c.more += 1;
        let Some(k) = ix.home[value as usize] else { continue };
        let index = ix.first_index(k, value).unwrap_or(u32::MAX);
        let repeat = Repeat { index, value, times: run.len(), polls: [first, run[1].2] };
        more.entry((names[g as usize], k)).or_default().push(repeat);
    }

    for ((name, k), mut repeats) in more {
        repeats.sort_unstable_by_key(|r| (r.index, r.value));
        let key = ix.keys[k as usize];
        let order = &ix.orders[k as usize];
        let at = |o: OpId| format!("{} t={}ms", ix.ops[o].process, ix.ops[o].complete_ms);
        let examples: Vec<String> = repeats
            .iter()
            .map(|r| {
                let etc = if r.times > 2 { ", ..." } else { "" };
                let [a, b] = r.polls;
                let (value, n) = (ix.values[r.value as usize], r.times);
                format!("{value} ({n} times: {}, {}{etc})", at(a), at(b))
            })
            .collect();
        let explanation = format!(
            "group {name} was delivered {} of {key} more than once: {}",
            plural(repeats.len(), "record", "records"),
            fmt_list(&examples)
        );
        let offsets =
            repeats.iter().filter_map(|r| order.offsets.get(r.index as usize).copied()).collect();
        let values = repeats.iter().map(|r| ix.values[r.value as usize].to_owned()).collect();
        out.push(CONSUMED_MORE_THAN_ONCE, Some(key), None, values, offsets, explanation);
    }
    group_ids.into_iter().map(|(name, g)| (name.to_owned(), counts[g as usize])).collect()
}
