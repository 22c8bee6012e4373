//! Steps 0 and 1 of the queue checker: index the history and build each partition's version
//! order.
//!
//! Inputs: the history's operations, in completion order. Outputs: an [`Index`]: partitions
//! and values interned to small ids (partition ids follow partition order, value ids the
//! order values first appear in), each value's writer, home partition and whether it must
//! have committed, the first ok read of each (partition, value), and per partition a
//! [`VersionOrder`]. Invariants: every offset any poll read (whatever the poll's outcome) and
//! every known offset of a send that must have committed is in its partition's version
//! order; a send offset below zero counts as unknown; building is one sort of every observed
//! (partition, offset, value) and otherwise single passes with hash lookups.

use crate::history::{Op, OpKind, Outcome, TopicPartitionKey};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

pub(super) type KeyId = u32;
pub(super) type ValueId = u32;
/// A position in `History::ops`.
pub(super) type OpId = usize;

/// A hash map with a fast, fixed hasher: the checker's keys are small ids and short strings
/// from our own history, so there is no adversary to defend against, and a fixed hasher
/// keeps even iteration order the same from run to run (no check relies on it).
pub(super) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
pub(super) type FastSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

/// The multiply-rotate hash rustc uses (FxHash): a few instructions per word.
#[derive(Default, Clone, Copy)]
pub(super) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply mixes upward; hashbrown picks buckets with the low bits, so bring the
        // well-mixed high bits down (as rustc-hash 2 does).
        self.hash.rotate_left(26)
    }
}

/// One record a poll returned, resolved to ids once so that every check walks integers.
#[derive(Clone, Copy, Debug)]
pub(super) struct ReadRef {
    pub key: KeyId,
    pub value: ValueId,
    pub offset: i64,
    /// Its offset's index in the partition's version order (every read offset has one).
    pub index: u32,
}

/// Where a value sits in one partition's version order.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    pub first: u32,
    pub last: u32,
    /// How many distinct offsets hold it.
    pub count: u32,
}

/// One partition's observed log: offsets holding at least one value, numbered 0, 1, 2, ...
#[derive(Default)]
pub(super) struct VersionOrder {
    /// Index `i` is offset `offsets[i]`; ascending, no repeats.
    pub offsets: Vec<i64>,
    /// The value at each index (the earliest to appear in the history if several) and the
    /// first operation that observed it there.
    pub first_value: Vec<(ValueId, OpId)>,
    /// Further values at an index (inconsistent offsets), by value id, with their witness.
    pub more_values: BTreeMap<u32, Vec<(ValueId, OpId)>>,
    pub spans: FastMap<ValueId, Span>,
    /// For values at two or more offsets: each offset, ascending, with its witness.
    pub repeated: FastMap<ValueId, Vec<(i64, OpId)>>,
}

impl VersionOrder {
    pub fn index_of_offset(&self, offset: i64) -> Option<u32> {
        self.offsets.binary_search(&offset).ok().map(|i| i as u32)
    }

    /// The index a consumer positioned at `offset` reads next: the first observed offset at
    /// or above it.
    pub fn index_at_or_after(&self, offset: i64) -> u32 {
        self.offsets.partition_point(|&o| o < offset) as u32
    }

    /// Every value at index `i`, with its witness.
    pub fn values_at(&self, i: u32) -> impl Iterator<Item = (ValueId, OpId)> + '_ {
        let first = self.first_value.get(i as usize).copied();
        first.into_iter().chain(self.more_values.get(&i).into_iter().flatten().copied())
    }

    pub fn len(&self) -> u32 {
        self.offsets.len() as u32
    }
}

/// Counts of Send operations by outcome.
#[derive(Default)]
pub(super) struct SendCounts {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub indeterminate: u64,
}

pub(super) struct Index<'h> {
    pub ops: &'h [Op],
    /// Partitions by id, in partition order.
    pub keys: Vec<&'h TopicPartitionKey>,
    key_ids: FastMap<&'h TopicPartitionKey, KeyId>,
    pub values: Vec<&'h str>,
    value_ids: FastMap<&'h str, ValueId>,
    /// Every read of every poll (whatever its outcome), in history order.
    reads: Vec<ReadRef>,
    /// Per operation: its reads in `reads` (an empty range unless it is a poll).
    op_reads: Vec<(u32, u32)>,
    /// Per operation: the value it sent (`ValueId::MAX` unless it is a send).
    op_value: Vec<ValueId>,
    /// Per operation: the partition it sent to (`KeyId::MAX` unless a send with one).
    op_key: Vec<KeyId>,
    /// Per value: the send credited with it (strongest outcome, earliest), if any.
    pub writer: Vec<Option<OpId>>,
    /// Per value: the partition it was sent to, else where an ok poll first read it.
    pub home: Vec<Option<KeyId>>,
    /// Per value: its send is Ok, or Info and some ok poll read it.
    pub committed: Vec<bool>,
    /// Per value: the first ok poll that read it, where (partition, op, offset).
    first_ok_read: Vec<Option<(KeyId, OpId, i64)>>,
    /// The first ok read of a value on any other partition than its first ok read's (rare:
    /// only garbage reads put a value on two partitions).
    other_ok_reads: FastMap<(KeyId, ValueId), (OpId, i64)>,
    /// Per partition: the highest offset an ok poll read, and the first poll that read it.
    pub max_ok_read: Vec<Option<(i64, OpId)>>,
    pub orders: Vec<VersionOrder>,
    pub sends: SendCounts,
    /// Records returned by ok polls, with repeats.
    pub polled: u64,
}

/// The offset a send reports, if it is a real one (Kafka answers -1 for "none").
pub(super) fn send_offset(offset: Option<i64>) -> Option<i64> {
    offset.filter(|&o| o >= 0)
}

fn strength(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Ok => 2,
        Outcome::Info { .. } => 1,
        Outcome::Fail { .. } => 0,
    }
}

impl<'h> Index<'h> {
    pub fn key_id(&self, key: &TopicPartitionKey) -> Option<KeyId> {
        self.key_ids.get(key).copied()
    }

    /// The reads of operation `op` (none unless it is a poll).
    pub fn reads_of(&self, op: OpId) -> &[ReadRef] {
        let (from, to) = self.op_reads[op];
        &self.reads[from as usize..to as usize]
    }

    /// The partition operation `op` sent to, if it is a send that names one.
    pub fn sent_key(&self, op: OpId) -> Option<KeyId> {
        self.op_key.get(op).copied().filter(|&k| k != KeyId::MAX)
    }

    /// The first ok poll that read value `v` on partition `k`, and the offset.
    pub fn ok_read(&self, k: KeyId, v: ValueId) -> Option<(OpId, i64)> {
        match self.first_ok_read.get(v as usize).copied().flatten() {
            Some((key, op, offset)) if key == k => Some((op, offset)),
            Some(_) => self.other_ok_reads.get(&(k, v)).copied(),
            None => None,
        }
    }

    /// The value operation `op` sent, if it is a send.
    pub fn sent_value(&self, op: OpId) -> Option<ValueId> {
        self.op_value.get(op).copied().filter(|&v| v != ValueId::MAX)
    }

    fn intern(&mut self, value: &'h str) -> ValueId {
        match self.value_ids.entry(value) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let v = self.values.len() as ValueId;
                self.values.push(value);
                self.writer.push(None);
                self.home.push(None);
                self.committed.push(false);
                self.first_ok_read.push(None);
                *e.insert(v)
            }
        }
    }

    pub fn build(ops: &'h [Op]) -> Index<'h> {
        // Partitions first, so that ids follow partition order.
        let mut key_set: BTreeSet<&TopicPartitionKey> = BTreeSet::new();
        for op in ops {
            match &op.kind {
                OpKind::Send { partition: Some(p), .. } => {
                    key_set.insert(p);
                }
                OpKind::Poll { reads } => key_set.extend(reads.iter().map(|r| &r.partition)),
                _ => {}
            }
        }
        let keys: Vec<&TopicPartitionKey> = key_set.into_iter().collect();
        let key_ids = keys.iter().enumerate().map(|(i, k)| (*k, i as KeyId)).collect();
        let mut ix = Index {
            ops,
            orders: keys.iter().map(|_| VersionOrder::default()).collect(),
            max_ok_read: vec![None; keys.len()],
            keys,
            key_ids,
            values: Vec::new(),
            value_ids: FastMap::default(),
            reads: Vec::new(),
            op_reads: Vec::with_capacity(ops.len()),
            op_value: Vec::with_capacity(ops.len()),
            op_key: Vec::with_capacity(ops.len()),
            writer: Vec::new(),
            home: Vec::new(),
            committed: Vec::new(),
            first_ok_read: Vec::new(),
            other_ok_reads: FastMap::default(),
            sends: SendCounts::default(),
            polled: 0,
        };
        // Writers, reads (resolved to ids), and where each value was first read.
        let read_count = ops.iter().map(|op| match &op.kind {
            OpKind::Poll { reads } => reads.len(),
            _ => 0,
        });
        ix.reads.reserve(read_count.sum());
        let send_count = ops.iter().filter(|op| matches!(op.kind, OpKind::Send { .. })).count();
        ix.value_ids.reserve(send_count);
        // Consecutive reads are mostly of one partition: look its id up once.
        let mut last_key: Option<(&TopicPartitionKey, KeyId)> = None;
        for (op_id, op) in ops.iter().enumerate() {
            let first_read = ix.reads.len() as u32;
            let (mut sent, mut sent_key) = (ValueId::MAX, KeyId::MAX);
            match &op.kind {
                OpKind::Send { value, partition, .. } => {
                    ix.sends.sent += 1;
                    match op.outcome {
                        Outcome::Ok => ix.sends.acked += 1,
                        Outcome::Fail { .. } => ix.sends.failed += 1,
                        Outcome::Info { .. } => ix.sends.indeterminate += 1,
                    }
                    sent = ix.intern(value);
                    if let Some(p) = partition {
                        sent_key = ix.key_ids[p];
                    }
                    let v = sent as usize;
                    let stronger = match ix.writer[v] {
                        None => true,
                        Some(w) => strength(&op.outcome) > strength(&ops[w].outcome),
                    };
                    if stronger {
                        ix.writer[v] = Some(op_id);
                    }
                }
                OpKind::Poll { reads } => {
                    let ok = op.outcome == Outcome::Ok;
                    if ok {
                        ix.polled += reads.len() as u64;
                    }
                    for read in reads {
                        let value = ix.intern(&read.value);
                        let key = match last_key {
                            Some((p, k)) if *p == read.partition => k,
                            _ => ix.key_ids[&read.partition],
                        };
                        last_key = Some((&read.partition, key));
                        ix.reads.push(ReadRef { key, value, offset: read.offset, index: 0 });
                        if !ok {
                            continue;
                        }
                        match ix.first_ok_read[value as usize] {
                            None => {
                                ix.first_ok_read[value as usize] = Some((key, op_id, read.offset))
                            }
                            Some((k, ..)) if k == key => {}
                            Some(_) => {
                                ix.other_ok_reads
                                    .entry((key, value))
                                    .or_insert((op_id, read.offset));
                            }
                        }
                        let max = &mut ix.max_ok_read[key as usize];
                        if max.is_none_or(|(o, _)| read.offset > o) {
                            *max = Some((read.offset, op_id));
                        }
                    }
                }
                OpKind::Assign { .. } | OpKind::Commit { .. } => {}
            }
            ix.op_reads.push((first_read, ix.reads.len() as u32));
            ix.op_value.push(sent);
            ix.op_key.push(sent_key);
        }

        for v in 0..ix.values.len() {
            let Some(w) = ix.writer[v] else { continue };
            let first_read_key = ix.first_ok_read[v].map(|(k, ..)| k);
            ix.committed[v] = match ops[w].outcome {
                Outcome::Ok => true,
                Outcome::Info { .. } => first_read_key.is_some(),
                Outcome::Fail { .. } => false,
            };
            ix.home[v] = ix.sent_key(w).or(first_read_key);
        }

        // Step 1: the version order of each partition, from committed sends with a known
        // offset and from every poll.
        let mut entries: Vec<(KeyId, i64, ValueId, OpId)> =
            Vec::with_capacity(ix.reads.len() + send_count);
        for (op_id, op) in ops.iter().enumerate() {
            if let OpKind::Send { offset, .. } = &op.kind {
                let v = ix.op_value[op_id];
                let op_committed = match op.outcome {
                    Outcome::Ok => true,
                    Outcome::Info { .. } => ix.committed[v as usize],
                    Outcome::Fail { .. } => false,
                };
                let key = ix.sent_key(op_id).or(ix.home[v as usize]);
                if let (true, Some(k), Some(o)) = (op_committed, key, send_offset(*offset)) {
                    entries.push((k, o, v, op_id));
                }
            }
            for read in ix.reads_of(op_id) {
                entries.push((read.key, read.offset, read.value, op_id));
            }
        }
        // Sorted, each (partition, offset, value) is kept once, with its first witness.
        entries.sort_unstable();
        entries.dedup_by_key(|&mut (k, o, v, _)| (k, o, v));
        for entries in entries.chunk_by(|a, b| a.0 == b.0) {
            let order = &mut ix.orders[entries[0].0 as usize];
            order.spans.reserve(entries.len());
            for &(_, offset, v, op_id) in entries {
                if order.offsets.last() != Some(&offset) {
                    order.offsets.push(offset);
                    order.first_value.push((v, op_id));
                } else {
                    let i = order.offsets.len() as u32 - 1;
                    order.more_values.entry(i).or_default().push((v, op_id));
                }
                let i = order.offsets.len() as u32 - 1;
                order
                    .spans
                    .entry(v)
                    .and_modify(|s| {
                        s.last = i;
                        s.count += 1;
                    })
                    .or_insert(Span { first: i, last: i, count: 1 });
            }
            for &(_, offset, v, op_id) in entries {
                if order.spans[&v].count > 1 {
                    order.repeated.entry(v).or_default().push((offset, op_id));
                }
            }
        }
        // Every read offset went into its partition's version order above. Reads mostly
        // follow each other through a partition, so try the index after the last one first.
        let mut last: Option<(KeyId, u32)> = None;
        for read in &mut ix.reads {
            let order = &ix.orders[read.key as usize];
            let next = match last {
                Some((k, i)) if k == read.key => Some(i + 1),
                _ => None,
            };
            read.index = match next {
                Some(i) if order.offsets.get(i as usize) == Some(&read.offset) => i,
                _ => order.index_of_offset(read.offset).unwrap_or(order.len()),
            };
            last = Some((read.key, read.index));
        }
        ix
    }

    /// The index at which a value first appears in a partition's version order.
    pub fn first_index(&self, k: KeyId, v: ValueId) -> Option<u32> {
        self.orders[k as usize].spans.get(&v).map(|s| s.first)
    }
}
