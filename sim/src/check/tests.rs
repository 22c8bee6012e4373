//! Tests of the history checker.
//!
//! Goal: each anomaly is found in a small hand-built history that shows exactly that fault,
//! and not in its twin without the fault; odd histories are reported, never panic; random
//! clean histories (a model log per partition, producers appending, consumers reading
//! contiguous ranges) show nothing, and one injected fault shows exactly its anomaly.
//! Explanations of a few anomalies are insta snapshots so their wording is reviewed.

use super::*;
use crate::history::{Op, OpKind, Outcome, Read};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;

// ---- A small history builder ----

fn tp(topic: &str, partition: i32) -> TopicPartitionKey {
    TopicPartitionKey { topic: topic.to_owned(), partition }
}

fn k0() -> TopicPartitionKey {
    tp("orders", 0)
}

fn k1() -> TopicPartitionKey {
    tp("orders", 1)
}

/// Builds a history in completion order; each operation takes 10 simulated ms and starts
/// where the previous one ended unless told otherwise.
struct Builder {
    history: History,
    t: u64,
}

fn info(error: &str) -> Outcome {
    Outcome::Info { error: error.to_owned() }
}

fn fail(error: &str) -> Outcome {
    Outcome::Fail { error: error.to_owned() }
}

impl Builder {
    fn new() -> Builder {
        Builder { history: History::default(), t: 1000 }
    }

    fn op(&mut self, process: &str, group: Option<&str>, kind: OpKind, outcome: Outcome) {
        let invoke_ms = self.t;
        self.t += 10;
        self.op_at(process, group, kind, outcome, invoke_ms, self.t);
    }

    fn op_at(
        &mut self,
        process: &str,
        group: Option<&str>,
        kind: OpKind,
        outcome: Outcome,
        invoke_ms: u64,
        complete_ms: u64,
    ) {
        self.t = self.t.max(complete_ms);
        self.history.push(Op {
            process: process.to_owned(),
            group: group.map(str::to_owned),
            invoke_ms,
            invoke_index: 0,
            complete_ms,
            kind,
            outcome,
        });
    }

    fn send_with(
        &mut self,
        p: &str,
        key: Option<TopicPartitionKey>,
        value: &str,
        offset: Option<i64>,
        outcome: Outcome,
    ) -> &mut Self {
        let kind = OpKind::Send { partition: key, key: None, value: value.to_owned(), offset };
        self.op(p, None, kind, outcome);
        self
    }

    /// An acked send.
    fn send(&mut self, p: &str, key: TopicPartitionKey, value: &str, offset: i64) -> &mut Self {
        self.send_with(p, Some(key), value, Some(offset), Outcome::Ok)
    }

    /// `n` acked sends of `p-000001...` to `key` at offsets `first..`.
    fn sends(&mut self, p: &str, key: TopicPartitionKey, first: i64, n: i64) -> &mut Self {
        for i in 0..n {
            self.send(p, key.clone(), &val(p, first + i), first + i);
        }
        self
    }

    fn poll_in(
        &mut self,
        c: &str,
        group: Option<&str>,
        reads: &[(&TopicPartitionKey, i64, &str)],
    ) -> &mut Self {
        let reads = reads
            .iter()
            .map(|(k, offset, value)| Read {
                partition: (*k).clone(),
                offset: *offset,
                value: (*value).to_owned(),
                content: None,
            })
            .collect();
        self.op(c, group, OpKind::Poll { reads }, Outcome::Ok);
        self
    }

    fn poll(&mut self, c: &str, reads: &[(&TopicPartitionKey, i64, &str)]) -> &mut Self {
        self.poll_in(c, None, reads)
    }

    /// A poll of `key` at `offsets`, the values being `p`'s at those offsets.
    fn poll_range(
        &mut self,
        c: &str,
        key: &TopicPartitionKey,
        p: &str,
        offsets: &[i64],
    ) -> &mut Self {
        self.poll_range_in(c, None, key, p, offsets)
    }

    fn poll_range_in(
        &mut self,
        c: &str,
        group: Option<&str>,
        key: &TopicPartitionKey,
        p: &str,
        offsets: &[i64],
    ) -> &mut Self {
        let values: Vec<String> = offsets.iter().map(|&o| val(p, o)).collect();
        let reads: Vec<(&TopicPartitionKey, i64, &str)> =
            offsets.iter().zip(&values).map(|(&o, v)| (key, o, v.as_str())).collect();
        self.poll_in(c, group, &reads)
    }

    fn assign_in(
        &mut self,
        c: &str,
        group: Option<&str>,
        partitions: &[&TopicPartitionKey],
        positions: &[(&TopicPartitionKey, i64)],
    ) -> &mut Self {
        let kind = OpKind::Assign {
            partitions: partitions.iter().map(|k| (*k).clone()).collect(),
            positions: positions.iter().map(|(k, o)| ((*k).clone(), *o)).collect(),
        };
        self.op(c, group, kind, Outcome::Ok);
        self
    }

    fn assign(
        &mut self,
        c: &str,
        partitions: &[&TopicPartitionKey],
        positions: &[(&TopicPartitionKey, i64)],
    ) -> &mut Self {
        self.assign_in(c, None, partitions, positions)
    }

    fn check(&self) -> HistoryCheck {
        check_history(&self.history)
    }
}

/// Producer `p`'s value number `n` (offsets double as sequence numbers in these tests).
fn val(p: &str, n: i64) -> String {
    format!("{p}-{n:06}")
}

/// The properties found, with their counts, e.g. `["lost-write: 1"]`.
fn found(check: &HistoryCheck) -> Vec<String> {
    let names: BTreeSet<&str> = check.anomalies.iter().map(|a| a.property).collect();
    names.into_iter().map(|p| format!("{p}: {}", check.count(p))).collect()
}

fn explanations(check: &HistoryCheck) -> String {
    check
        .anomalies
        .iter()
        .map(|a| format!("{}: {}", a.property, a.explanation))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_clean(check: &HistoryCheck) {
    assert!(check.is_clean(), "expected no anomaly, got:\n{}", explanations(check));
}

// ---- Clean run ----

#[test]
fn clean_run_has_no_anomaly() {
    let mut b = Builder::new();
    b.assign("c1", &[&k0(), &k1()], &[(&k0(), 0), (&k1(), 0)]);
    b.sends("p1", k0(), 0, 5).sends("p2", k1(), 0, 3);
    b.poll_range("c1", &k0(), "p1", &[0, 1, 2]).poll_range("c1", &k1(), "p2", &[0, 1, 2]);
    b.poll_range("c1", &k0(), "p1", &[3, 4]);
    let check = b.check();
    assert_clean(&check);
    assert_eq!(check.counts, Counts { sent: 8, acked: 8, polled: 8, ..Counts::default() },);
    assert_eq!(check.consume_counts["c1"], ConsumeCounts { never: 0, once: 8, more: 0 });
}

// ---- lost-write ----

/// p1 acked offsets 0..4; c1 read 0..1 and stopped; c2 started at `c2_from` and read to 4.
fn lost_write_history(c2_from: i64) -> Builder {
    let mut b = Builder::new();
    b.sends("p1", k0(), 0, 5);
    b.poll_range("c1", &k0(), "p1", &[0, 1]);
    b.assign("c2", &[&k0()], &[(&k0(), c2_from)]);
    let offsets: Vec<i64> = (c2_from..5).collect();
    b.poll_range("c2", &k0(), "p1", &offsets);
    b
}

#[test]
fn lost_write_below_a_read() {
    let check = lost_write_history(3).check();
    assert_eq!(found(&check), ["lost-write: 1"]);
    let lost = check.of(LOST_WRITE).next().unwrap();
    assert_eq!(lost.values, [val("p1", 2)]);
    assert_eq!(lost.offsets, [2]);
    assert_eq!(lost.key, Some(k0()));
    assert_eq!(check.counts.lost, 1);
    // Lost, so not also unseen.
    assert_eq!(check.counts.unseen, 0);
    insta::assert_snapshot!("lost_write", explanations(&check));
}

#[test]
fn lost_write_twin_read_everything() {
    assert_clean(&lost_write_history(2).check());
}

#[test]
fn overwritten_acked_record_is_lost_and_inconsistent() {
    // The acks=1 failover shape: p1's record was acked at offset 1 by the old leader; the
    // new leader's log holds p2's record there, and that is what c1 read.
    let mut b = Builder::new();
    b.send("p1", k0(), "p1-000000", 0).send("p1", k0(), "p1-000001", 1);
    b.send("p2", k0(), "p2-000000", 1);
    b.poll("c1", &[(&k0(), 0, "p1-000000"), (&k0(), 1, "p2-000000")]);
    let check = b.check();
    assert_eq!(found(&check), ["inconsistent-offsets: 1", "lost-write: 1"]);
    assert_eq!(check.of(LOST_WRITE).next().unwrap().values, ["p1-000001"]);
    insta::assert_snapshot!("overwritten", explanations(&check));
}

// ---- unseen ----

fn unseen_history(read_up_to: i64) -> Builder {
    let mut b = Builder::new();
    b.sends("p1", k0(), 0, 5);
    let offsets: Vec<i64> = (0..=read_up_to).collect();
    b.poll_range("c1", &k0(), "p1", &offsets);
    b
}

#[test]
fn unseen_at_the_end() {
    let check = unseen_history(2).check();
    assert_eq!(found(&check), ["unseen: 2"]);
    let unseen = check.of(UNSEEN).next().unwrap();
    assert_eq!(unseen.values, [val("p1", 3), val("p1", 4)]);
    assert_eq!(unseen.offsets, [3, 4]);
    insta::assert_snapshot!("unseen", explanations(&check));
}

#[test]
fn unseen_twin_read_to_the_end() {
    assert_clean(&unseen_history(4).check());
}

// ---- duplicate ----

/// p1's send of v was answered with offset 2 (a retry) though its first attempt had landed at
/// 0; p2's record is at 1. c1 read 0..1; c2 (another group) started at 2.
fn duplicate_history(retry_landed: bool) -> Builder {
    let mut b = Builder::new();
    let v_offset = if retry_landed { 2 } else { 0 };
    b.send("p1", k0(), "p1-000000", v_offset).send("p2", k0(), "p2-000000", 1);
    b.poll("c1", &[(&k0(), 0, "p1-000000"), (&k0(), 1, "p2-000000")]);
    b.assign("c2", &[&k0()], &[(&k0(), 2)]);
    if retry_landed {
        b.poll("c2", &[(&k0(), 2, "p1-000000")]);
    }
    b
}

#[test]
fn duplicate_same_value_at_two_offsets() {
    let check = duplicate_history(true).check();
    assert_eq!(found(&check), ["duplicate: 1"]);
    let dup = check.of(DUPLICATE).next().unwrap();
    assert_eq!(dup.values, ["p1-000000"]);
    assert_eq!(dup.offsets, [0, 2]);
    insta::assert_snapshot!("duplicate", explanations(&check));
}

#[test]
fn duplicate_twin_one_offset() {
    assert_clean(&duplicate_history(false).check());
}

// ---- inconsistent-offsets ----

fn inconsistent_history(w_offset: i64) -> Builder {
    let mut b = Builder::new();
    b.send("p1", k0(), "p1-000000", 0).send("p2", k0(), "p2-000000", w_offset);
    b.poll("c1", &[(&k0(), 0, "p1-000000")]);
    b.assign("c2", &[&k0()], &[(&k0(), 0)]);
    if w_offset == 0 {
        b.poll("c2", &[(&k0(), 0, "p2-000000")]);
    } else {
        b.poll("c2", &[(&k0(), 0, "p1-000000"), (&k0(), 1, "p2-000000")]);
    }
    b
}

#[test]
fn inconsistent_offsets_two_values_at_one_offset() {
    let check = inconsistent_history(0).check();
    assert_eq!(found(&check), ["inconsistent-offsets: 1"]);
    let a = check.of(INCONSISTENT_OFFSETS).next().unwrap();
    assert_eq!(a.offsets, [0]);
    assert_eq!(a.values, ["p1-000000", "p2-000000"]);
    insta::assert_snapshot!("inconsistent_offsets", explanations(&check));
}

#[test]
fn inconsistent_offsets_twin() {
    assert_clean(&inconsistent_history(1).check());
}

// ---- aborted-read ----

fn aborted_history(v_outcome: Outcome) -> Builder {
    let mut b = Builder::new();
    let offset = (v_outcome == Outcome::Ok).then_some(1);
    b.send("p2", k0(), "p2-000000", 0);
    b.send_with("p1", Some(k0()), "p1-000000", offset, v_outcome);
    b.poll("c1", &[(&k0(), 0, "p2-000000"), (&k0(), 1, "p1-000000")]);
    b
}

#[test]
fn aborted_read_of_a_failed_send() {
    let check = aborted_history(fail("INVALID_RECORD")).check();
    assert_eq!(found(&check), ["aborted-read: 1"]);
    assert_eq!(check.counts.aborted_reads, 1);
    assert_eq!(check.counts.failed, 1);
    insta::assert_snapshot!("aborted_read", explanations(&check));
}

#[test]
fn aborted_read_twin_send_succeeded() {
    assert_clean(&aborted_history(Outcome::Ok).check());
}

// ---- poll-skip, nonmonotonic-poll ----

fn poll_skip_history(second_poll: &[i64]) -> Builder {
    let mut b = Builder::new();
    b.assign("c1", &[&k0()], &[(&k0(), 0)]);
    b.sends("p1", k0(), 0, 5);
    b.poll_range("c1", &k0(), "p1", &[0, 1]);
    b.poll_range("c1", &k0(), "p1", second_poll);
    b.assign("c2", &[&k0()], &[(&k0(), 0)]);
    b.poll_range("c2", &k0(), "p1", &[0, 1, 2, 3, 4]);
    b
}

#[test]
fn poll_skip_across_polls() {
    let check = poll_skip_history(&[3, 4]).check();
    assert_eq!(found(&check), ["poll-skip: 1"]);
    let skip = check.of(POLL_SKIP).next().unwrap();
    assert_eq!(skip.process.as_deref(), Some("c1"));
    assert_eq!((skip.values.clone(), skip.offsets.clone()), (vec![val("p1", 2)], vec![2]));
    insta::assert_snapshot!("poll_skip", explanations(&check));
}

#[test]
fn poll_skip_twin_contiguous() {
    assert_clean(&poll_skip_history(&[2, 3, 4]).check());
}

#[test]
fn nonmonotonic_poll_rereads() {
    // Re-reading offset 1 also delivers it twice to c1's group: both are the truth.
    let check = poll_skip_history(&[1, 2, 3, 4]).check();
    assert_eq!(found(&check), ["consumed-more-than-once: 1", "nonmonotonic-poll: 1"]);
    let a = check.of(NONMONOTONIC_POLL).next().unwrap();
    assert_eq!(a.offsets, [1, 1]);
    insta::assert_snapshot!("nonmonotonic_poll", explanations(&check));
}

#[test]
fn assign_position_sets_and_resets_where_polls_must_start() {
    let mut b = Builder::new();
    b.sends("p1", k0(), 0, 6).sends("p2", k1(), 0, 2);
    b.assign("c2", &[&k0(), &k1()], &[(&k0(), 0), (&k1(), 0)]);
    b.poll_range("c2", &k0(), "p1", &[0, 1, 2, 3, 4, 5]).poll_range("c2", &k1(), "p2", &[0, 1]);
    // Positioned at 1, c1 starts at 3: skips 1..2.
    b.assign("c1", &[&k0()], &[(&k0(), 1)]);
    b.poll_range("c1", &k0(), "p1", &[3]);
    // Keeping orders-0 while adding orders-1 keeps the position after 3: 5 skips 4.
    b.assign("c1", &[&k0(), &k1()], &[(&k1(), 0)]);
    b.poll_range("c1", &k0(), "p1", &[5]);
    // Dropping orders-0 and taking it back without a position forgets it: no check.
    b.assign("c1", &[&k1()], &[]);
    b.assign("c1", &[&k0(), &k1()], &[]);
    b.poll_range("c1", &k0(), "p1", &[1]);
    // Reading before an assign's position goes backwards.
    b.assign("c1", &[&k0()], &[(&k0(), 4)]);
    b.poll_range("c1", &k0(), "p1", &[2]);
    let check = b.check();
    let skips: Vec<Vec<i64>> = check.of(POLL_SKIP).map(|a| a.offsets.clone()).collect();
    assert_eq!(skips, [vec![1, 2], vec![4]]);
    let back: Vec<Vec<i64>> = check.of(NONMONOTONIC_POLL).map(|a| a.offsets.clone()).collect();
    assert_eq!(back, [vec![4, 2]]);
    assert!(check.of(POLL_SKIP).next().unwrap().explanation.contains("its assign at t="));
}

// ---- int-poll-skip, int-nonmonotonic-poll ----

fn one_poll_history(offsets: &[i64]) -> Builder {
    let mut b = Builder::new();
    b.sends("p1", k0(), 0, 5);
    b.poll_range("c1", &k0(), "p1", offsets);
    b.poll_range("c2", &k0(), "p1", &[0, 1, 2, 3, 4]);
    b
}

#[test]
fn int_poll_skip_inside_one_poll() {
    let check = one_poll_history(&[0, 1, 3, 4]).check();
    assert_eq!(found(&check), ["int-poll-skip: 1"]);
    let a = check.of(INT_POLL_SKIP).next().unwrap();
    assert_eq!(a.offsets, [2]);
    insta::assert_snapshot!("int_poll_skip", explanations(&check));
}

#[test]
fn int_poll_skip_twin() {
    assert_clean(&one_poll_history(&[0, 1, 2, 3, 4]).check());
}

#[test]
fn int_nonmonotonic_poll_inside_one_poll() {
    // Going back inside a poll while reading each record once must also jump ahead.
    let check = one_poll_history(&[0, 2, 1, 3, 4]).check();
    assert_eq!(found(&check), ["int-nonmonotonic-poll: 1", "int-poll-skip: 2"]);
    let a = check.of(INT_NONMONOTONIC_POLL).next().unwrap();
    assert_eq!(a.offsets, [2, 1]);
}

// ---- nonmonotonic-send ----

/// p1 sent v0 then v1 (invoked at t=100 and t=110); v1 completed first.
fn reorder_history(v0_offset: i64, v1_offset: i64) -> Builder {
    let mut b = Builder::new();
    let send = |value: &str, offset| OpKind::Send {
        partition: Some(k0()),
        key: None,
        value: value.to_owned(),
        offset: Some(offset),
    };
    b.op_at("p1", None, send("p1-000001", v1_offset), Outcome::Ok, 1010, 1020);
    b.op_at("p1", None, send("p1-000000", v0_offset), Outcome::Ok, 1000, 1030);
    let k = k0();
    let mut reads = vec![(&k, v0_offset, "p1-000000"), (&k, v1_offset, "p1-000001")];
    reads.sort_by_key(|r| r.1);
    b.poll("c1", &reads);
    b
}

#[test]
fn nonmonotonic_send_reorders() {
    let check = reorder_history(1, 0).check();
    assert_eq!(found(&check), ["nonmonotonic-send: 1"]);
    assert_eq!(check.counts.reordered, 1);
    let a = check.of(NONMONOTONIC_SEND).next().unwrap();
    assert_eq!(a.values, ["p1-000000", "p1-000001"]);
    assert_eq!(a.offsets, [1, 0]);
    insta::assert_snapshot!("nonmonotonic_send", explanations(&check));
}

#[test]
fn nonmonotonic_send_twin_in_order() {
    assert_clean(&reorder_history(0, 1).check());
}

#[test]
fn int_send_skip_cannot_occur_and_says_so() {
    let check = reorder_history(1, 0).check();
    assert_eq!(check.count(INT_SEND_SKIP), 0);
    assert!(NOT_APPLICABLE.iter().any(|(p, _)| *p == INT_SEND_SKIP));
}

// ---- consumed-more-than-once ----

fn group_history(c2_from: i64) -> Builder {
    let mut b = Builder::new();
    b.sends("p1", k0(), 0, 5);
    b.assign_in("c1", Some("g"), &[&k0()], &[(&k0(), 0)]);
    b.poll_range_in("c1", Some("g"), &k0(), "p1", &[0, 1, 2]);
    // A rebalance moves orders-0 to c2, which resumes from the group's committed offset.
    b.assign_in("c1", Some("g"), &[], &[]);
    b.assign_in("c2", Some("g"), &[&k0()], &[(&k0(), c2_from)]);
    let offsets: Vec<i64> = (c2_from..5).collect();
    b.poll_range_in("c2", Some("g"), &k0(), "p1", &offsets);
    b
}

#[test]
fn consumed_more_than_once_in_a_group() {
    let check = group_history(1).check();
    assert_eq!(found(&check), ["consumed-more-than-once: 2"]);
    assert_eq!(check.consume_counts["g"], ConsumeCounts { never: 0, once: 3, more: 2 });
    let a = check.of(CONSUMED_MORE_THAN_ONCE).next().unwrap();
    assert_eq!(a.offsets, [1, 2]);
    insta::assert_snapshot!("consumed_more_than_once", explanations(&check));
}

#[test]
fn consumed_more_than_once_twin() {
    let check = group_history(3).check();
    assert_clean(&check);
    assert_eq!(check.consume_counts["g"], ConsumeCounts { never: 0, once: 5, more: 0 });
}

// ---- acks=0, Info sends ----

#[test]
fn acks0_sends_without_offsets() {
    let mut b = Builder::new();
    for i in 0..3 {
        b.send_with("p1", Some(k0()), &val("p1", i), None, Outcome::Ok);
    }
    b.send("p2", k0(), "p2-000000", 2);
    // p1-000002 never reached the log; p2's record took offset 2.
    b.poll("c1", &[(&k0(), 0, "p1-000000"), (&k0(), 1, "p1-000001"), (&k0(), 2, "p2-000000")]);
    let check = b.check();
    // Without an offset, an unread acks=0 record cannot be placed below a read: unseen only.
    assert_eq!(found(&check), ["unseen: 1"]);
    let a = check.of(UNSEEN).next().unwrap();
    assert_eq!((a.values.clone(), a.offsets.clone()), (vec![val("p1", 2)], vec![]));
    assert_eq!(check.counts.acked, 4);
}

#[test]
fn info_send_that_was_read_counts_as_committed() {
    let mut b = Builder::new();
    b.send("p1", k0(), "p1-000000", 0);
    b.send_with("p1", Some(k0()), "p1-000001", Some(1), info("REQUEST_TIMED_OUT"));
    b.assign_in("c1", Some("g1"), &[&k0()], &[(&k0(), 0)]);
    b.poll_in("c1", Some("g1"), &[(&k0(), 0, "p1-000000"), (&k0(), 1, "p1-000001")]);
    b.assign_in("c2", Some("g2"), &[&k0()], &[(&k0(), 0)]);
    b.poll_in("c2", Some("g2"), &[(&k0(), 0, "p1-000000")]);
    let check = b.check();
    assert_clean(&check);
    assert_eq!(check.counts.indeterminate, 1);
    assert_eq!(check.counts.acked, 1);
    // Committed, so g2 counts it as never consumed; acked only counts Ok sends, so it is not
    // unseen either.
    assert_eq!(check.consume_counts["g1"], ConsumeCounts { never: 0, once: 2, more: 0 });
    assert_eq!(check.consume_counts["g2"], ConsumeCounts { never: 1, once: 1, more: 0 });

    // The same record read twice by g1 is a double delivery of a committed record.
    b.poll_in("c1", Some("g1"), &[(&k0(), 1, "p1-000001")]);
    let check = b.check();
    assert_eq!(found(&check), ["consumed-more-than-once: 1", "nonmonotonic-poll: 1"]);
}

#[test]
fn info_send_never_read_is_not_lost() {
    let mut b = Builder::new();
    b.send("p1", k0(), "p1-000000", 0);
    b.send_with("p1", Some(k0()), "p1-000001", None, info("NETWORK_EXCEPTION"));
    // Even with an offset, an Info send nobody read did not necessarily commit.
    b.send_with("p1", Some(k0()), "p1-000002", Some(1), info("REQUEST_TIMED_OUT"));
    b.send("p1", k0(), "p1-000003", 2);
    b.poll("c1", &[(&k0(), 0, "p1-000000"), (&k0(), 2, "p1-000003")]);
    let check = b.check();
    assert_clean(&check);
    assert_eq!(check.counts.polled, 2);
    assert_eq!(check.consume_counts["c1"], ConsumeCounts { never: 0, once: 2, more: 0 });

    // A poll that failed saw p1-000002 at offset 1: that puts offset 1 in the version order
    // (so c1 skipped it), but does not make the Info send committed (so it is not lost).
    b.op(
        "c2",
        None,
        OpKind::Poll {
            reads: vec![Read {
                partition: k0(),
                offset: 1,
                value: "p1-000002".into(),
                content: None,
            }],
        },
        fail("UNKNOWN_SERVER_ERROR"),
    );
    let check = b.check();
    assert_eq!(found(&check), ["int-poll-skip: 1"]);
    assert_eq!(check.counts.polled, 2);
}

// ---- Odd histories ----

#[test]
fn reads_of_unknown_values_are_reported_not_panics() {
    let mut b = Builder::new();
    b.send("p1", k0(), "p1-000000", 0);
    // Acked without a partition: placed where it is read, or unseen under no partition.
    b.send_with("p1", None, "p1-000001", Some(0), Outcome::Ok);
    b.send_with("p1", None, "p1-000002", Some(-1), Outcome::Ok);
    b.poll("c1", &[(&k0(), 0, "p1-000000"), (&k0(), 1, "ghost"), (&k0(), 1, "ghost")]);
    b.poll("c1", &[(&k1(), 0, "p1-000001"), (&tp("nobody-sends-here", 7), 3, "p1-000000")]);
    b.op(
        "c1",
        None,
        OpKind::Commit { group: "g".into(), offsets: Default::default() },
        Outcome::Ok,
    );
    b.assign("c1", &[&tp("unknown", 0)], &[(&tp("unknown", 0), 5)]);
    let check = b.check();
    let garbage: Vec<(String, String)> = check
        .of(GARBAGE_READ)
        .map(|a| (a.key.as_ref().unwrap().to_string(), a.values[0].clone()))
        .collect();
    assert_eq!(
        garbage,
        [
            ("orders-0".to_owned(), "ghost".to_owned()),
            ("nobody-sends-here-7".to_owned(), "p1-000000".to_owned())
        ]
    );
    let unseen: Vec<_> = check.of(UNSEEN).map(|a| (a.key.clone(), a.values.clone())).collect();
    assert_eq!(unseen, [(None, vec!["p1-000002".to_owned()])]);
    // "ghost" read twice in one poll at one offset.
    assert_eq!(check.count(INT_NONMONOTONIC_POLL), 1);
    insta::assert_snapshot!("garbage_read", explanations(&check));
}

#[test]
fn empty_history_is_clean() {
    let check = check_history(&History::default());
    assert_clean(&check);
    assert_eq!(check, HistoryCheck::default());
}

#[test]
fn checked_names_are_properties() {
    for (name, _) in CHECKED {
        let p = crate::properties::property(name);
        assert!(p.is_some_and(|p| p.kind == crate::properties::PropertyKind::Anomaly), "{name}");
    }
    for (name, _) in NOT_APPLICABLE {
        assert!(CHECKED.iter().any(|(c, _)| c == name));
    }
}

#[test]
fn fmt_offsets_compacts_ranges() {
    assert_eq!(checks::fmt_offsets(&[4]), "4");
    assert_eq!(checks::fmt_offsets(&[4, 6]), "4 and 6");
    assert_eq!(checks::fmt_offsets(&[1, 2, 3, 5, 7, 8]), "1..3, 5 and 7..8");
    assert_eq!(checks::fmt_offsets(&[1, 3, 5, 7, 9]), "1, 3, 5 and 2 more");
}

// ---- Random clean histories, and injected faults ----

/// A clean history: per partition a model log; producers append (Ok with the offset, Ok
/// without one for acks=0, Info that landed or not, Fail that did not); consumers, each its
/// own group, read contiguous ranges from where they are; at the end a `final` reader reads
/// every partition from the start.
fn clean_history(
    seed: u64,
    ops: usize,
    keys: usize,
    producers: usize,
    consumers: usize,
) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keys: Vec<TopicPartitionKey> = (0..keys as i32).map(|p| tp("orders", p)).collect();
    let mut logs: Vec<Vec<String>> = vec![Vec::new(); keys.len()];
    let mut seq = vec![0u64; producers];
    let mut positions: Vec<Option<Vec<usize>>> = vec![None; consumers];
    let mut history = History::default();
    let mut t = 0u64;
    let push = |history: &mut History, t: u64, process: String, kind: OpKind, outcome: Outcome| {
        history.push(Op {
            process,
            group: None,
            invoke_ms: t,
            invoke_index: 0,
            complete_ms: t,
            kind,
            outcome,
        });
    };
    while history.ops.len() < ops {
        t += rng.gen_range(1..3);
        if consumers == 0 || rng.gen_bool(0.6) {
            let p = rng.gen_range(0..producers);
            let k = rng.gen_range(0..keys.len());
            let value = format!("p{p}-{:06}", seq[p]);
            seq[p] += 1;
            let roll = rng.gen_range(0..100);
            let (landed, offset, outcome) = match roll {
                0..85 => (true, Some(logs[k].len() as i64), Outcome::Ok),
                85..90 => (true, None, Outcome::Ok),
                90..95 => (true, None, info("REQUEST_TIMED_OUT")),
                95..98 => (false, None, info("NETWORK_EXCEPTION")),
                _ => (false, None, fail("RECORD_TOO_LARGE")),
            };
            if landed {
                logs[k].push(value.clone());
            }
            let kind = OpKind::Send { partition: Some(keys[k].clone()), key: None, value, offset };
            push(&mut history, t, format!("p{p}"), kind, outcome);
        } else {
            let c = rng.gen_range(0..consumers);
            let process = format!("c{c}");
            let Some(pos) = &mut positions[c] else {
                positions[c] = Some(vec![0; keys.len()]);
                let kind = OpKind::Assign {
                    partitions: keys.clone(),
                    positions: keys.iter().map(|k| (k.clone(), 0)).collect(),
                };
                push(&mut history, t, process, kind, Outcome::Ok);
                continue;
            };
            if rng.gen_bool(0.03) {
                // Seek to where it is: allowed, changes nothing.
                let kind = OpKind::Assign {
                    partitions: keys.clone(),
                    positions: keys.iter().cloned().zip(pos.iter().map(|&p| p as i64)).collect(),
                };
                push(&mut history, t, process, kind, Outcome::Ok);
                continue;
            }
            let mut reads = Vec::new();
            for (k, key) in keys.iter().enumerate() {
                if rng.gen_bool(0.5) {
                    let n = rng.gen_range(0..=8).min(logs[k].len() - pos[k]);
                    for (o, value) in logs[k].iter().enumerate().skip(pos[k]).take(n) {
                        let (partition, value) = (key.clone(), value.clone());
                        reads.push(Read { partition, offset: o as i64, value, content: None });
                    }
                    pos[k] += n;
                }
            }
            push(&mut history, t, process, OpKind::Poll { reads }, Outcome::Ok);
        }
    }
    t += 1;
    let kind = OpKind::Assign {
        partitions: keys.clone(),
        positions: keys.iter().map(|k| (k.clone(), 0)).collect(),
    };
    push(&mut history, t, "final".to_owned(), kind, Outcome::Ok);
    for (k, key) in keys.iter().enumerate() {
        for chunk in logs[k].chunks(50).enumerate() {
            let (c, values) = chunk;
            let reads = values
                .iter()
                .enumerate()
                .map(|(i, v)| Read {
                    partition: key.clone(),
                    offset: (c * 50 + i) as i64,
                    value: v.clone(),
                    content: None,
                })
                .collect();
            t += 1;
            push(&mut history, t, "final".to_owned(), OpKind::Poll { reads }, Outcome::Ok);
        }
    }
    history
}

/// Drop the middle read of three consecutive reads of one partition in a non-final poll.
fn drop_middle_read(history: &mut History, choice: usize) -> bool {
    let mut candidates = Vec::new();
    for (op_id, op) in history.ops.iter().enumerate() {
        let OpKind::Poll { reads } = &op.kind else { continue };
        if op.process == "final" {
            continue;
        }
        for i in 1..reads.len().saturating_sub(1) {
            if reads[i - 1].partition == reads[i].partition
                && reads[i].partition == reads[i + 1].partition
            {
                candidates.push((op_id, i));
            }
        }
    }
    if candidates.is_empty() {
        return false;
    }
    let (op_id, i) = candidates[choice % candidates.len()];
    if let OpKind::Poll { reads } = &mut history.ops[op_id].kind {
        reads.remove(i);
    }
    true
}

/// A new reader finds an already-read value again, one offset past the end of its partition.
fn duplicate_at_new_offset(history: &mut History, choice: usize) -> bool {
    let mut reads: Vec<Read> = Vec::new();
    for op in &history.ops {
        if let OpKind::Poll { reads: r } = &op.kind {
            reads.extend(r.iter().cloned());
        }
    }
    if reads.is_empty() {
        return false;
    }
    let read = reads[choice % reads.len()].clone();
    let end = reads.iter().filter(|r| r.partition == read.partition).map(|r| r.offset).max();
    let t = history.ops.last().map_or(0, |op| op.complete_ms) + 1;
    let dup = Read { offset: end.unwrap_or(0) + 1, ..read };
    history.push(Op {
        process: "dup".into(),
        group: None,
        invoke_ms: t,
        invoke_index: 0,
        complete_ms: t,
        kind: OpKind::Poll { reads: vec![dup] },
        outcome: Outcome::Ok,
    });
    true
}

/// Swap the offsets (in the sends and in every read) of two consecutive landed acked sends
/// of one producer to one partition.
fn swap_consecutive_sends(history: &mut History, choice: usize) -> bool {
    let read: BTreeSet<String> = history
        .ops
        .iter()
        .filter_map(|op| match &op.kind {
            OpKind::Poll { reads } => Some(reads.iter().map(|r| r.value.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    // Per (producer, partition): its landed sends, in order.
    let mut landed: BTreeMap<(String, TopicPartitionKey), Vec<usize>> = BTreeMap::new();
    for (op_id, op) in history.ops.iter().enumerate() {
        if let OpKind::Send { partition: Some(p), value, .. } = &op.kind {
            if read.contains(value) {
                landed.entry((op.process.clone(), p.clone())).or_default().push(op_id);
            }
        }
    }
    let mut pairs = Vec::new();
    for sends in landed.values() {
        for w in sends.windows(2) {
            let acked_with_offset = |i: usize| {
                let op = &history.ops[i];
                op.outcome == Outcome::Ok && matches!(op.kind, OpKind::Send { offset: Some(_), .. })
            };
            if acked_with_offset(w[0]) && acked_with_offset(w[1]) {
                pairs.push((w[0], w[1]));
            }
        }
    }
    if pairs.is_empty() {
        return false;
    }
    let (a, b) = pairs[choice % pairs.len()];
    let value_and_offset = |op: &Op| match &op.kind {
        OpKind::Send { value, offset, .. } => (value.clone(), *offset),
        _ => unreachable!(),
    };
    let (va, oa) = value_and_offset(&history.ops[a]);
    let (vb, ob) = value_and_offset(&history.ops[b]);
    for (i, o) in [(a, ob), (b, oa)] {
        if let OpKind::Send { offset, .. } = &mut history.ops[i].kind {
            *offset = o;
        }
    }
    for op in &mut history.ops {
        if let OpKind::Poll { reads } = &mut op.kind {
            for r in reads {
                if r.value == va {
                    r.value = vb.clone();
                } else if r.value == vb {
                    r.value = va.clone();
                }
            }
        }
    }
    true
}

fn only(check: &HistoryCheck, property: &str, count: u64) {
    let names: BTreeSet<&str> = check.anomalies.iter().map(|a| a.property).collect();
    assert_eq!(names, BTreeSet::from([property]), "{}", explanations(check));
    assert_eq!(check.count(property), count, "{}", explanations(check));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_clean_histories_show_no_anomaly(
        seed in any::<u64>(), ops in 0usize..400, keys in 1usize..4,
        producers in 1usize..4, consumers in 0usize..4,
    ) {
        let history = clean_history(seed, ops, keys, producers, consumers);
        let check = check_history(&history);
        prop_assert!(check.is_clean(), "{}", explanations(&check));
        prop_assert_eq!(check.counts.unseen + check.counts.lost, 0);
        prop_assert_eq!(check_history(&history), check);
    }

    #[test]
    fn a_dropped_read_in_a_poll_is_an_int_poll_skip(
        seed in any::<u64>(), ops in 50usize..400, keys in 1usize..3, choice in any::<usize>(),
    ) {
        let mut history = clean_history(seed, ops, keys, 2, 2);
        prop_assume!(drop_middle_read(&mut history, choice));
        only(&check_history(&history), INT_POLL_SKIP, 1);
    }

    #[test]
    fn a_value_at_a_new_offset_is_a_duplicate(
        seed in any::<u64>(), ops in 20usize..400, keys in 1usize..3, choice in any::<usize>(),
    ) {
        let mut history = clean_history(seed, ops, keys, 2, 2);
        prop_assume!(duplicate_at_new_offset(&mut history, choice));
        only(&check_history(&history), DUPLICATE, 1);
    }

    #[test]
    fn two_sends_swapped_are_a_nonmonotonic_send(
        seed in any::<u64>(), ops in 20usize..400, keys in 1usize..3, choice in any::<usize>(),
    ) {
        let mut history = clean_history(seed, ops, keys, 2, 2);
        prop_assume!(swap_consecutive_sends(&mut history, choice));
        only(&check_history(&history), NONMONOTONIC_SEND, 1);
    }
}

// ---- Size ----

/// Nanoseconds this thread has run on a CPU (Linux), to tell the checker's cost from time
/// spent waiting on a busy machine.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

#[test]
fn two_hundred_thousand_ops_check_in_one_pass() {
    let history = clean_history(7, 200_000, 8, 4, 4);
    let (started, cpu_started) = (std::time::Instant::now(), thread_cpu_ns());
    let check = check_history(&history);
    let elapsed = started.elapsed();
    let cpu = thread_cpu_ns().zip(cpu_started).map(|(b, a)| (b - a) / 1_000_000);
    eprintln!(
        "checked {} ops ({} sent, {} polled) in {elapsed:?} ({} ms on CPU)",
        history.ops.len(),
        check.counts.sent,
        check.counts.polled,
        cpu.map_or("?".to_owned(), |ms| ms.to_string()),
    );
    assert_clean(&check);
    assert!(history.ops.len() >= 200_000);
    let (started, cpu_started) = (std::time::Instant::now(), thread_cpu_ns());
    let again = check_history(&history);
    let cpu = thread_cpu_ns().zip(cpu_started).map(|(b, a)| (b - a) / 1_000_000);
    let cpu = cpu.map_or("?".to_owned(), |ms| ms.to_string());
    eprintln!("checked it again in {:?} ({cpu} ms on CPU)", started.elapsed());
    assert_eq!(again, check);
}

#[test]
fn report_order_is_deterministic() {
    // Several anomalies at once: they come out grouped by property in PROPERTIES order, the
    // same on every run, down to the serialized bytes.
    let mut b = poll_skip_history(&[3, 4]);
    b.send_with("p9", Some(k1()), "p9-000000", None, fail("INVALID_RECORD"));
    b.send("p9", k1(), "p9-000001", 0);
    b.poll("c9", &[(&k1(), 0, "p9-000001"), (&k1(), 1, "p9-000000"), (&k1(), 2, "ghost")]);
    b.send("p9", k1(), "p9-000002", 3);
    let check = b.check();
    let ranks: Vec<usize> = check.anomalies.iter().map(|a| rank(a.property)).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
    assert_eq!(found(&check), ["aborted-read: 1", "garbage-read: 1", "poll-skip: 1", "unseen: 1"]);
    let json = serde_json::to_string(&check).unwrap();
    assert_eq!(serde_json::to_string(&b.check()).unwrap(), json);
}

/// Sends invoked in the same millisecond keep their order through `invoke_index`: completing
/// out of order is not a reorder, landing out of order is.
#[test]
fn sends_in_one_millisecond_are_ordered_by_their_invocation_index() {
    let send = |index: u64, value: &str, offset: i64, complete_ms: u64| Op {
        process: "p1".into(),
        group: None,
        invoke_ms: 10,
        invoke_index: index,
        complete_ms,
        kind: OpKind::Send {
            partition: Some(TopicPartitionKey { topic: "t".into(), partition: 0 }),
            key: None,
            value: value.into(),
            offset: Some(offset),
        },
        outcome: Outcome::Ok,
    };
    // p1-1 was invoked after p1-0 and landed after it; its delivery merely completed first.
    let in_order = History { ops: vec![send(1, "p1-1", 1, 12), send(0, "p1-0", 0, 13)] };
    assert_eq!(check_history(&in_order).count("nonmonotonic-send"), 0);
    // p1-1 was invoked after p1-0 but landed before it.
    let reordered = History { ops: vec![send(1, "p1-1", 0, 12), send(0, "p1-0", 1, 13)] };
    assert_eq!(check_history(&reordered).count("nonmonotonic-send"), 1);
}
