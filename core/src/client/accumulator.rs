//! The producer's record accumulator: per-partition queues of batches, sans-IO.
//!
//! Inputs: records appended with the time (`now`), drains by the sender, batches coming back
//! for a retry, completions, flush and close requests. Outputs: which partitions have a batch
//! ready to send and when to look again; batches to send; batches whose delivery timed out.
//! Invariants: a record joins the newest batch of its partition while that batch has room
//! (`batch_size`, estimated) and has never been sent, otherwise it opens a new batch (a record
//! larger than `batch_size` gets a batch of its own); a partition's head batch is ready when
//! it is full, is followed by another batch, has waited `linger_ms`, is a retry whose
//! backoff has passed, or a flush or close covers it; with ordering guaranteed
//! (`max_in_flight_requests_per_connection == 1`) a partition has at most one batch in
//! flight; a retried batch goes back to the front of its queue; every batch id stays in
//! `incomplete` from append until completion, so flush can wait for exactly the batches that
//! existed when it started.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::records::{
    estimated_record_bytes, OutgoingRecord, ProducerIdentity, BATCH_OVERHEAD_BYTES,
};
use super::ClientError;
use crate::types::TopicPartition;

/// A batch for one partition. `R` is how each record's sender is told the outcome.
#[derive(Debug)]
pub(crate) struct Batch<R> {
    pub id: u64,
    pub tp: TopicPartition,
    pub records: Vec<OutgoingRecord>,
    pub replies: Vec<R>,
    /// Estimated encoded size (uncompressed), the batch header included.
    pub estimated_bytes: usize,
    pub created_at: Instant,
    /// How many times it was handed to the sender.
    pub attempts: u32,
    pub retry_at: Option<Instant>,
    /// Why the last attempt failed, for the timeout message.
    pub last_error: Option<ClientError>,
    /// The encoded batch, kept so a retry resends the same bytes (and, with idempotence, the
    /// same sequence numbers).
    pub encoded: Option<Bytes>,
    pub identity: ProducerIdentity,
}

impl<R> Batch<R> {
    pub fn delivery_deadline(&self, delivery_timeout: Duration) -> Instant {
        self.created_at + delivery_timeout
    }

    fn open_for_appends(&self) -> bool {
        self.attempts == 0 && self.encoded.is_none()
    }
}

/// What `append` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Appended {
    pub batch_id: u64,
    /// The record opened a new batch.
    pub new_batch: bool,
    /// The batch it joined has reached `batch_size`.
    pub batch_full: bool,
}

/// What `ready` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Readiness {
    pub ready: Vec<TopicPartition>,
    /// The earliest time something changes without a new event (linger, backoff, expiry).
    pub next_check: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Accumulator<R> {
    batch_size: usize,
    linger: Duration,
    delivery_timeout: Duration,
    guarantee_order: bool,
    queues: BTreeMap<TopicPartition, VecDeque<Batch<R>>>,
    /// Partitions with a batch in flight while ordering is guaranteed.
    muted: BTreeSet<TopicPartition>,
    next_id: u64,
    /// Batch id -> its estimated bytes, from append until completion.
    incomplete: BTreeMap<u64, usize>,
    buffered_bytes: usize,
    /// Batches with an id up to this are ready regardless of linger (0: no flush).
    flush_through: u64,
    closing: bool,
}

impl<R> Accumulator<R> {
    pub fn new(
        batch_size: usize,
        linger: Duration,
        delivery_timeout: Duration,
        guarantee_order: bool,
    ) -> Self {
        Accumulator {
            batch_size: batch_size.max(1),
            linger,
            delivery_timeout,
            guarantee_order,
            queues: BTreeMap::new(),
            muted: BTreeSet::new(),
            next_id: 1,
            incomplete: BTreeMap::new(),
            buffered_bytes: 0,
            flush_through: 0,
            closing: false,
        }
    }

    /// Bytes held by batches not yet completed (for `buffer_memory`).
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// No batch is queued or in flight.
    pub fn is_empty(&self) -> bool {
        self.incomplete.is_empty()
    }

    pub fn append(
        &mut self,
        tp: TopicPartition,
        record: OutgoingRecord,
        reply: R,
        now: Instant,
    ) -> Appended {
        let size = estimated_record_bytes(&record);
        let batch_size = self.batch_size;
        let queue = self.queues.entry(tp.clone()).or_default();
        if let Some(last) = queue.back_mut() {
            if last.open_for_appends() && last.estimated_bytes + size <= batch_size {
                last.records.push(record);
                last.replies.push(reply);
                last.estimated_bytes += size;
                self.buffered_bytes += size;
                *self.incomplete.get_mut(&last.id).expect("a queued batch is incomplete") += size;
                return Appended {
                    batch_id: last.id,
                    new_batch: false,
                    batch_full: last.estimated_bytes >= batch_size,
                };
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let estimated_bytes = BATCH_OVERHEAD_BYTES + size;
        queue.push_back(Batch {
            id,
            tp,
            records: vec![record],
            replies: vec![reply],
            estimated_bytes,
            created_at: now,
            attempts: 0,
            retry_at: None,
            last_error: None,
            encoded: None,
            identity: ProducerIdentity::NONE,
        });
        self.buffered_bytes += estimated_bytes;
        self.incomplete.insert(id, estimated_bytes);
        Appended { batch_id: id, new_batch: true, batch_full: estimated_bytes >= batch_size }
    }

    /// Partitions whose head batch may be sent now, and when to look again.
    pub fn ready(&self, now: Instant) -> Readiness {
        let mut out = Readiness::default();
        let wake = |at: Instant, out: &mut Readiness| {
            out.next_check = Some(out.next_check.map_or(at, |t| t.min(at)));
        };
        for (tp, queue) in &self.queues {
            let Some(head) = queue.front() else { continue };
            // Expiry applies to every queued batch, muted or not.
            for batch in queue {
                wake(batch.delivery_deadline(self.delivery_timeout), &mut out);
            }
            if self.muted.contains(tp) {
                continue;
            }
            if let Some(retry_at) = head.retry_at {
                if retry_at > now {
                    wake(retry_at, &mut out);
                    continue;
                }
            }
            let linger_until = head.created_at + self.linger;
            let ready = head.attempts > 0
                || self.closing
                || head.id <= self.flush_through
                || queue.len() > 1
                || head.estimated_bytes >= self.batch_size
                || now >= linger_until;
            if ready {
                out.ready.push(tp.clone());
            } else {
                wake(linger_until, &mut out);
            }
        }
        out
    }

    /// The size the head batch of `tp` adds to a request (encoded if it was, else estimated).
    pub fn head_bytes(&self, tp: &TopicPartition) -> usize {
        self.queues
            .get(tp)
            .and_then(|q| q.front())
            .map_or(0, |b| b.encoded.as_ref().map_or(b.estimated_bytes, Bytes::len))
    }

    /// Takes the head batch of `tp` for sending.
    pub fn drain(&mut self, tp: &TopicPartition) -> Option<Batch<R>> {
        let queue = self.queues.get_mut(tp)?;
        let mut batch = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(tp);
        }
        batch.attempts += 1;
        batch.retry_at = None;
        if self.guarantee_order {
            self.muted.insert(tp.clone());
        }
        Some(batch)
    }

    /// Puts a batch back at the front of its queue, to be sent again after `backoff`. As
    /// Kafka's `reenqueue` without idempotence (`addFirst`): failed batches of one partition
    /// come back in the order their responses arrived, so the last one is sent first. That
    /// reordering is what `max.in.flight.requests.per.connection > 1` allows (seed claim P2);
    /// an idempotent producer would insert by sequence number instead.
    pub fn reenqueue(&mut self, mut batch: Batch<R>, now: Instant, backoff: Duration) {
        assert!(self.incomplete.contains_key(&batch.id), "only incomplete batches come back");
        self.muted.remove(&batch.tp);
        batch.retry_at = Some(now + backoff);
        self.queues.entry(batch.tp.clone()).or_default().push_front(batch);
    }

    /// A batch left the accumulator for good (acknowledged or failed).
    pub fn complete(&mut self, batch_id: u64, tp: &TopicPartition) {
        let bytes = self.incomplete.remove(&batch_id).expect("a batch completes once");
        self.buffered_bytes -= bytes;
        self.muted.remove(tp);
    }

    /// Removes and returns queued batches whose delivery timeout has passed (they count as
    /// complete). Batches in flight are judged when their response arrives.
    pub fn expire(&mut self, now: Instant) -> Vec<Batch<R>> {
        let mut expired = Vec::new();
        let timeout = self.delivery_timeout;
        for queue in self.queues.values_mut() {
            let mut kept = VecDeque::with_capacity(queue.len());
            for batch in queue.drain(..) {
                if now >= batch.delivery_deadline(timeout) {
                    expired.push(batch);
                } else {
                    kept.push_back(batch);
                }
            }
            *queue = kept;
        }
        self.queues.retain(|_, q| !q.is_empty());
        for batch in &expired {
            let bytes = self.incomplete.remove(&batch.id).expect("queued batches are incomplete");
            self.buffered_bytes -= bytes;
        }
        expired
    }

    /// Makes every batch that exists now ready; returns the id to wait for with `flushed`.
    pub fn begin_flush(&mut self) -> u64 {
        let through = self.next_id - 1;
        self.flush_through = self.flush_through.max(through);
        through
    }

    /// Whether every batch up to `through` has completed.
    pub fn flushed(&self, through: u64) -> bool {
        self.incomplete.range(..=through).next().is_none()
    }

    /// From now on every batch is ready at once.
    pub fn close(&mut self) {
        self.closing = true;
    }

    /// Whether `tp`'s newest batch still takes records (for the sticky partitioner).
    #[cfg(test)]
    pub fn has_open_batch(&self, tp: &TopicPartition) -> bool {
        self.queues.get(tp).and_then(|q| q.back()).is_some_and(|b| b.open_for_appends())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(value_bytes: usize) -> OutgoingRecord {
        OutgoingRecord {
            key: None,
            value: Some(Bytes::from(vec![b'x'; value_bytes])),
            headers: vec![],
            timestamp_ms: 0,
        }
    }

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    const LINGER: Duration = Duration::from_millis(10);
    const DELIVERY: Duration = Duration::from_secs(120);

    #[test]
    fn records_share_a_batch_until_linger_expires() {
        let t0 = Instant::now();
        let mut acc: Accumulator<u32> = Accumulator::new(16_384, LINGER, DELIVERY, false);
        let a = acc.append(tp(0), rec(10), 1, t0);
        let b = acc.append(tp(0), rec(10), 2, t0 + Duration::from_millis(3));
        assert!(a.new_batch && !b.new_batch);
        assert_eq!(a.batch_id, b.batch_id);

        let early = acc.ready(t0 + Duration::from_millis(5));
        assert!(early.ready.is_empty(), "linger has not passed");
        assert_eq!(early.next_check, Some(t0 + LINGER), "wake when linger ends");

        let late = acc.ready(t0 + LINGER);
        assert_eq!(late.ready, vec![tp(0)]);
        let batch = acc.drain(&tp(0)).unwrap();
        assert_eq!(batch.replies, vec![1, 2]);
        assert_eq!(batch.attempts, 1);
        assert!(!acc.is_empty(), "in flight still counts");
        acc.complete(batch.id, &batch.tp);
        assert!(acc.is_empty());
        assert_eq!(acc.buffered_bytes(), 0);
    }

    #[test]
    fn a_full_batch_is_ready_at_once_and_the_next_record_opens_another() {
        let t0 = Instant::now();
        let mut acc: Accumulator<u32> =
            Accumulator::new(333, Duration::from_secs(60), DELIVERY, false);
        let first = acc.append(tp(0), rec(100), 1, t0);
        assert!(!first.batch_full);
        let second = acc.append(tp(0), rec(100), 2, t0);
        assert!(!second.new_batch && second.batch_full, "{second:?}");
        assert_eq!(acc.ready(t0).ready, vec![tp(0)], "full batches do not linger");
        let third = acc.append(tp(0), rec(100), 3, t0);
        assert!(third.new_batch);
        assert_ne!(third.batch_id, first.batch_id);
        // The first batch is ready (full and followed); the second lingers after draining.
        let batch = acc.drain(&tp(0)).unwrap();
        assert_eq!(batch.replies, vec![1, 2]);
        assert!(acc.ready(t0).ready.is_empty());
    }

    #[test]
    fn an_oversized_record_gets_its_own_batch() {
        let t0 = Instant::now();
        let mut acc: Accumulator<u32> = Accumulator::new(100, LINGER, DELIVERY, false);
        let big = acc.append(tp(0), rec(1_000), 1, t0);
        assert!(big.new_batch && big.batch_full);
        let small = acc.append(tp(0), rec(1), 2, t0);
        assert!(small.new_batch, "no room next to the big one");
    }

    #[test]
    fn retries_go_first_after_backoff_and_stay_closed_to_appends() {
        let t0 = Instant::now();
        let backoff = Duration::from_millis(100);
        let mut acc: Accumulator<u32> = Accumulator::new(16_384, Duration::ZERO, DELIVERY, false);
        acc.append(tp(0), rec(10), 1, t0);
        let batch = acc.drain(&tp(0)).unwrap();
        acc.append(tp(0), rec(10), 2, t0);
        acc.reenqueue(batch, t0, backoff);
        let blocked = acc.ready(t0 + Duration::from_millis(50));
        assert!(blocked.ready.is_empty(), "head is backing off");
        assert_eq!(blocked.next_check, Some(t0 + backoff));
        acc.append(tp(0), rec(10), 3, t0);
        assert_eq!(acc.ready(t0 + backoff).ready, vec![tp(0)]);
        let retried = acc.drain(&tp(0)).unwrap();
        assert_eq!((retried.replies.clone(), retried.attempts), (vec![1], 2));
        let next = acc.drain(&tp(0)).unwrap();
        assert_eq!(next.replies, vec![2, 3], "new records joined the open batch, not the retry");
    }

    #[test]
    fn ordering_mutes_a_partition_while_its_batch_is_in_flight() {
        let t0 = Instant::now();
        let mut acc: Accumulator<u32> = Accumulator::new(16_384, Duration::ZERO, DELIVERY, true);
        acc.append(tp(0), rec(10), 1, t0);
        acc.append(tp(1), rec(10), 2, t0);
        let b0 = acc.drain(&tp(0)).unwrap();
        acc.append(tp(0), rec(10), 3, t0);
        assert_eq!(acc.ready(t0).ready, vec![tp(1)], "tp 0 waits for its batch");
        acc.complete(b0.id, &b0.tp);
        assert_eq!(acc.ready(t0).ready, vec![tp(0), tp(1)]);

        let mut unordered: Accumulator<u32> =
            Accumulator::new(16_384, Duration::ZERO, DELIVERY, false);
        unordered.append(tp(0), rec(10), 1, t0);
        unordered.drain(&tp(0)).unwrap();
        unordered.append(tp(0), rec(10), 2, t0);
        assert_eq!(unordered.ready(t0).ready, vec![tp(0)], "max in flight > 1 pipelines");
    }

    #[test]
    fn flush_covers_existing_batches_only() {
        let t0 = Instant::now();
        let mut acc: Accumulator<u32> =
            Accumulator::new(16_384, Duration::from_secs(60), DELIVERY, false);
        acc.append(tp(0), rec(10), 1, t0);
        let through = acc.begin_flush();
        assert_eq!(acc.ready(t0).ready, vec![tp(0)], "flush overrides linger");
        let batch = acc.drain(&tp(0)).unwrap();
        acc.append(tp(1), rec(10), 2, t0);
        assert!(!acc.flushed(through));
        acc.complete(batch.id, &batch.tp);
        assert!(acc.flushed(through), "the batch created after flush does not count");
        assert!(!acc.is_empty());
        assert!(acc.ready(t0).ready.is_empty(), "and it still lingers");
        acc.close();
        assert_eq!(acc.ready(t0).ready, vec![tp(1)]);
    }

    #[test]
    fn queued_batches_expire_after_the_delivery_timeout() {
        let t0 = Instant::now();
        let delivery = Duration::from_millis(500);
        let mut acc: Accumulator<u32> =
            Accumulator::new(16_384, Duration::from_secs(60), delivery, false);
        acc.append(tp(0), rec(10), 1, t0);
        acc.append(tp(1), rec(10), 2, t0 + Duration::from_millis(100));
        assert_eq!(acc.ready(t0).next_check, Some(t0 + delivery));
        assert!(acc.expire(t0 + Duration::from_millis(499)).is_empty());
        let expired = acc.expire(t0 + delivery);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].replies, vec![1]);
        assert!(!acc.has_open_batch(&tp(0)));
        assert!(acc.has_open_batch(&tp(1)));
        assert_eq!(acc.expire(t0 + Duration::from_secs(1)).len(), 1);
        assert!(acc.is_empty());
        assert_eq!(acc.buffered_bytes(), 0);
    }
}
