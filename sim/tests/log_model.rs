//! The partition log against a model, over the simulated disk (Redpanda's storage opfuzz).
//!
//! Goal: whatever a partition log is asked to do, and however its broker dies, it holds what
//! a plain in-memory model says it holds. Method: proptest draws a `LogConfig` with tiny
//! segments and index intervals (so rolls and index entries happen every few appends), a
//! disk seed, and a sequence of operations: producer appends, replicated appends (fetched
//! from a second "leader" log, or restamped by hand), reads, rolls, truncations, retention,
//! flushes, timeouts, clean restarts and crashes in every `CrashMode`. The model is the
//! batches by base offset (as the log must store them: restamped base offset and leader
//! epoch, every other byte as produced), the log start offset, and the durable offset the log
//! reported before a crash. After every step the whole log is read back and compared.
//!
//! Properties checked after every step:
//! - offsets are dense, segments tile `[log_start_offset, log_end_offset)`, and every stored
//!   batch is byte for byte the model's batch at that offset;
//! - `log_start_offset <= durable_offset <= log_end_offset`;
//! - a read returns exactly the batches the model predicts for its offset, `max_bytes`, upper
//!   bound and `min_one_batch` (reads stay inside one segment, as Kafka's do);
//! - after a process crash (page cache kept) the log equals the model; after a power loss
//!   (torn or not) it is a prefix of the model that keeps at least every record below the
//!   durable offset reported before the crash, with no damaged byte; appends then continue
//!   densely from the recovered end; recovery never panics.
//!
//! `PROPTEST_CASES` overrides the number of cases (2,000 by default).

use bytes::Bytes;
use odradek::log::batch::{self, BatchHeader};
use odradek::log::{Log, LogConfig, LogError};
use odradek::storage::Storage;
use odradek::{LeaderEpoch, Offset};
use odradek_sim::{CrashMode, SimStorage};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

const CASES_DEFAULT: u32 = 2_000;
const START_MS: i64 = 1_700_000_000_000;
const DAY_MS: i64 = 24 * 3600 * 1000;
const LOG_DIR: &str = "/data/orders-0";
/// The leader's partition directory, on the leader's own disk.
const LEADER_DIR: &str = "/data/orders-0";
const READ_ALL_BYTES: usize = 1 << 30;

/// One producer batch: `record_count` records with `value_bytes`-byte values.
#[derive(Clone, Debug)]
struct BatchSpec {
    record_count: usize,
    value_bytes: usize,
}

#[derive(Clone, Debug)]
enum Op {
    /// A producer's append of one or more batches.
    Append {
        batches: Vec<BatchSpec>,
        leader_epoch: i32,
    },
    /// A producer's append whose last batch has a flipped byte: refused whole.
    AppendCorrupt {
        batches: Vec<BatchSpec>,
        flip_at: u16,
    },
    /// A follower's append of batches fetched from the leader log.
    ReplicateFromLeader {
        batches: Vec<BatchSpec>,
        leader_epoch: i32,
    },
    /// A follower's append of batches stamped by hand at `log_end_offset + shift`; only a
    /// shift of 0 is contiguous.
    ReplicateRestamped {
        batches: Vec<BatchSpec>,
        leader_epoch: i32,
        shift: i8,
    },
    /// `at` picks an offset in `[log_start - 1, log_end + 1]`, `upper_bound_at` a bound in
    /// `[log_start, log_end + 2]`.
    Read {
        at: u16,
        max_bytes: u16,
        upper_bound_at: u16,
        min_one_batch: bool,
    },
    /// ListOffsets by time: `at` picks a timestamp around those of the log's batches.
    OffsetForTimestamp {
        at: u16,
        upper_bound_at: u16,
    },
    Roll,
    /// `at` picks an offset in `[log_start, log_end + 1]`, or at or below the log start.
    TruncateTo {
        at: u16,
        below_log_start: bool,
    },
    TruncateFullyAndStartAt {
        at: u16,
    },
    EnforceRetention {
        elapsed_ms: u32,
        high_watermark_at: u16,
    },
    Flush,
    HandleTimeout,
    /// `close`, optionally a power loss while closed, then `open`.
    CloseAndReopen {
        power_loss_after: bool,
    },
    /// Drop the log without closing it, crash the disk, then `open`.
    CrashAndReopen(CrashMode),
}

/// A batch as the log must hold it.
#[derive(Clone, Debug)]
struct ModelBatch {
    bytes: Bytes,
    next_offset: Offset,
    max_timestamp: i64,
    record_count: i64,
    /// Which append call wrote it: a segment may exceed `segment.bytes` only with one append.
    append_id: u64,
}

/// What the log should hold.
#[derive(Debug, Default)]
struct Model {
    batches: BTreeMap<Offset, ModelBatch>,
    log_start_offset: Offset,
    log_end_offset: Offset,
    /// Records appended since the last flush, and when that was: the flush policy.
    unflushed_records: u64,
    last_flush_ms: i64,
}

impl Model {
    fn size_bytes(&self) -> u64 {
        self.batches.values().map(|b| b.bytes.len() as u64).sum()
    }

    fn is_boundary(&self, offset: Offset) -> bool {
        offset == self.log_end_offset || self.batches.contains_key(&offset)
    }

    /// The batches holding offsets in `[from, to)`, whole.
    fn batches_between(&self, from: Offset, to: Offset) -> impl Iterator<Item = &ModelBatch> {
        let first = self.batches.range(..=from).next_back().map_or(from, |(&base, _)| base);
        self.batches.range(first..to).map(|(_, b)| b).filter(move |b| b.next_offset > from)
    }

    fn push(&mut self, base: Offset, batch: ModelBatch) {
        assert_eq!(base, self.log_end_offset, "model appends are dense");
        self.log_end_offset = batch.next_offset;
        self.unflushed_records += batch.record_count as u64;
        self.batches.insert(base, batch);
    }

    /// Drops every batch at or after `end`, which must be a batch boundary.
    fn truncate_to(&mut self, end: Offset) {
        assert!(self.is_boundary(end), "{end} is not a batch boundary of the model");
        self.batches.split_off(&end);
        self.log_end_offset = end;
    }

    /// An empty log starting at `offset`.
    fn start_at(&mut self, offset: Offset) {
        self.batches.clear();
        self.log_start_offset = offset;
        self.log_end_offset = offset;
    }

    /// Drops every batch below `start`, which must be a batch boundary.
    fn advance_log_start(&mut self, start: Offset) {
        assert!(self.is_boundary(start), "{start} is not a batch boundary of the model");
        self.batches = self.batches.split_off(&start);
        self.log_start_offset = start;
    }

    /// The flush policy (`flush.messages`, `flush.ms`): is a flush due at `now_ms`?
    fn flush_due(&self, config: &LogConfig, now_ms: i64) -> bool {
        self.unflushed_records >= config.flush_messages
            || now_ms.saturating_sub(self.last_flush_ms) >= config.flush_ms
    }

    fn flushed(&mut self, now_ms: i64) {
        self.unflushed_records = 0;
        self.last_flush_ms = now_ms;
    }
}

/// The log under test, its disk, the leader it replicates from, and the model.
struct Harness {
    storage: SimStorage,
    log: Option<Log<SimStorage>>,
    leader: Log<SimStorage>,
    config: LogConfig,
    model: Model,
    now_ms: i64,
    /// Makes every record's key unique, so a batch in the wrong place cannot compare equal.
    record_sequence: u64,
    append_id: u64,
    /// The durable offset after the previous step: it only falls with the log end.
    durable_offset: Offset,
}

impl Harness {
    fn new(seed: u64, config: LogConfig) -> Self {
        let storage = SimStorage::new(seed);
        let log = Log::open(storage.clone(), LOG_DIR, config.clone(), START_MS).expect("open");
        let leader_config = LogConfig { segment_bytes: 2048, ..LogConfig::default() };
        let leader = Log::open(SimStorage::new(!seed), LEADER_DIR, leader_config, START_MS)
            .expect("open the leader");
        let model = Model { last_flush_ms: START_MS, ..Model::default() };
        Harness {
            storage,
            log: Some(log),
            leader,
            config,
            model,
            now_ms: START_MS,
            record_sequence: 0,
            append_id: 0,
            durable_offset: Offset::ZERO,
        }
    }

    fn log(&self) -> &Log<SimStorage> {
        self.log.as_ref().expect("the log is open between steps")
    }

    fn log_mut(&mut self) -> &mut Log<SimStorage> {
        self.log.as_mut().expect("the log is open between steps")
    }

    /// Producer batches with base offset 0, stamped with the current time.
    fn encode(&mut self, specs: &[BatchSpec]) -> Vec<Bytes> {
        specs
            .iter()
            .map(|spec| {
                let records: Vec<_> = (0..spec.record_count)
                    .map(|i| {
                        self.record_sequence += 1;
                        let key = Bytes::copy_from_slice(&self.record_sequence.to_be_bytes());
                        let value: Vec<u8> = (0..spec.value_bytes)
                            .map(|j| (self.record_sequence as usize * 31 + i + j) as u8)
                            .collect();
                        (Some(key), Some(Bytes::from(value)))
                    })
                    .collect();
                batch::encode(&records, self.now_ms)
            })
            .collect()
    }

    /// `batches` restamped from `base` on with `leader_epoch`: what the log must store.
    fn stamped(batches: &[Bytes], base: Offset, leader_epoch: LeaderEpoch) -> Vec<(Offset, Bytes)> {
        let mut next = base;
        batches
            .iter()
            .map(|b| {
                let mut copy = b.to_vec();
                batch::restamp(&mut copy, next, leader_epoch);
                let at = next;
                next = BatchHeader::parse(&copy).expect("encoded batches parse").next_offset();
                (at, Bytes::from(copy))
            })
            .collect()
    }

    fn model_batch(&self, bytes: Bytes) -> ModelBatch {
        let header = batch::validate(&bytes).expect("model batches are valid");
        ModelBatch {
            next_offset: header.next_offset(),
            max_timestamp: header.max_timestamp,
            record_count: i64::from(header.record_count),
            bytes,
            append_id: self.append_id,
        }
    }

    /// Records a successful append of `stamped` in the model and checks what the log said.
    fn appended(&mut self, stamped: Vec<(Offset, Bytes)>, info: odradek::log::AppendInfo) {
        self.append_id += 1;
        let first = stamped[0].0;
        let bytes: usize = stamped.iter().map(|(_, b)| b.len()).sum();
        assert_eq!(info.first_offset, self.model.log_end_offset, "appends start at the log end");
        assert_eq!(info.first_offset, first);
        assert_eq!(info.batch_count, stamped.len());
        assert_eq!(info.bytes, bytes);
        assert_eq!(info.max_timestamp, self.now_ms);
        for (base, b) in stamped {
            let batch = self.model_batch(b);
            self.model.push(base, batch);
        }
        assert_eq!(info.last_offset.plus(1), self.model.log_end_offset);
        assert_eq!(info.record_count, self.model.log_end_offset.distance_from(first));
        if self.model.flush_due(&self.config, self.now_ms) {
            assert_eq!(
                self.log().durable_offset(),
                self.model.log_end_offset,
                "flush.messages {} / flush.ms {}: the append was flushed",
                self.config.flush_messages,
                self.config.flush_ms
            );
            self.model.flushed(self.now_ms);
        }
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Append { batches, leader_epoch } => {
                let encoded = self.encode(batches);
                let epoch = LeaderEpoch(*leader_epoch);
                let stamped = Self::stamped(&encoded, self.model.log_end_offset, epoch);
                let records = concat(&encoded);
                let now_ms = self.now_ms;
                let info = self.log_mut().append(&records, epoch, now_ms).expect("append");
                self.appended(stamped, info);
            }
            Op::AppendCorrupt { batches, flip_at } => {
                let encoded = self.encode(batches);
                let last = encoded.last().expect("at least one batch");
                let last_position = concat(&encoded).len() - last.len();
                let mut records = concat(&encoded).to_vec();
                // Inside the CRC'd region (from the attributes on) of the last batch.
                let crc_start = 21;
                let flip = last_position + crc_start + *flip_at as usize % (last.len() - crc_start);
                records[flip] ^= 0x01;
                let now_ms = self.now_ms;
                let error = self.log_mut().append(&records, LeaderEpoch(0), now_ms).unwrap_err();
                let position = match &error {
                    LogError::CorruptBatch { position, .. } => Some(*position),
                    _ => None,
                };
                assert_eq!(position, Some(last_position), "{error}");
            }
            Op::ReplicateFromLeader { batches, leader_epoch } => {
                let encoded = self.encode(batches);
                let epoch = LeaderEpoch(*leader_epoch);
                let end = self.model.log_end_offset;
                let now_ms = self.now_ms;
                // The leader's log holds what this follower holds up to its end (as far as
                // this fetch can tell): start it over at the follower's end if it differs.
                if self.leader.log_end_offset() != end {
                    self.leader.truncate_fully_and_start_at(end, now_ms).expect("leader restart");
                }
                let info =
                    self.leader.append(&concat(&encoded), epoch, now_ms).expect("leader append");
                assert_eq!(info.first_offset, end);
                let stamped = Self::stamped(&encoded, end, epoch);
                let mut fetched = Vec::new();
                let mut offset = end;
                while offset < self.leader.log_end_offset() {
                    let read = self
                        .leader
                        .read(offset, 1 << 20, self.leader.log_end_offset(), true)
                        .expect("leader read");
                    let headers = batch::validate_all(&read.records).expect("fetched batches");
                    assert!(!headers.is_empty(), "leader read at {offset} returned nothing");
                    offset = headers.last().expect("non-empty").1.next_offset();
                    fetched.extend_from_slice(&read.records);
                }
                assert_eq!(fetched, concat_stamped(&stamped), "the leader returns what it stored");
                let info = self.log_mut().append_replicated(&fetched, now_ms).expect("replicate");
                self.appended(stamped, info);
            }
            Op::ReplicateRestamped { batches, leader_epoch, shift } => {
                let encoded = self.encode(batches);
                let end = self.model.log_end_offset;
                let epoch = LeaderEpoch(*leader_epoch);
                let base = Offset((end.0 + i64::from(*shift)).max(0));
                let stamped = Self::stamped(&encoded, base, epoch);
                let records = concat_stamped(&stamped);
                let now_ms = self.now_ms;
                let result = self.log_mut().append_replicated(&records, now_ms);
                if base == end {
                    self.appended(stamped, result.expect("contiguous replicated append"));
                } else {
                    let error = result.unwrap_err();
                    assert!(
                        matches!(error, LogError::NotContiguous { expected, found }
                            if expected == end && found == base),
                        "{error}"
                    );
                }
            }
            Op::Read { at, max_bytes, upper_bound_at, min_one_batch } => {
                let (start, end) = (self.model.log_start_offset, self.model.log_end_offset);
                let span = end.0 - start.0 + 3;
                let offset = Offset(start.0 - 1 + i64::from(*at) % span);
                let upper_bound = Offset(start.0 + i64::from(*upper_bound_at) % span);
                self.check_read(offset, *max_bytes as usize, upper_bound, *min_one_batch);
            }
            Op::OffsetForTimestamp { at, upper_bound_at } => {
                let (start, end) = (self.model.log_start_offset, self.model.log_end_offset);
                let upper_bound =
                    Offset(start.0 + i64::from(*upper_bound_at) % (end.0 - start.0 + 2));
                let first_ms =
                    self.model.batches.values().next().map_or(self.now_ms, |b| b.max_timestamp);
                let last_ms =
                    self.model.batches.values().last().map_or(self.now_ms, |b| b.max_timestamp);
                let timestamp = first_ms - 5 + i64::from(*at) % (last_ms - first_ms + 10);
                // Every record of a batch carries the batch's timestamp, and timestamps grow
                // with offsets: the answer is the first batch stamped at or after the time,
                // if it ends below the upper bound.
                let expected = self
                    .model
                    .batches
                    .iter()
                    .find(|(_, b)| b.max_timestamp >= timestamp)
                    .filter(|(_, b)| b.next_offset <= upper_bound.min(end))
                    .map(|(&base, b)| (base, b.max_timestamp));
                let found =
                    self.log().offset_for_timestamp(timestamp, upper_bound).expect("by time");
                assert_eq!(found, expected, "offset for timestamp {timestamp} below {upper_bound}");
            }
            Op::Roll => {
                let now_ms = self.now_ms;
                let end = self.model.log_end_offset;
                let before = self.log().segment_base_offsets();
                self.log_mut().roll(now_ms).expect("roll");
                let after = self.log().segment_base_offsets();
                if before.last() == Some(&end) {
                    assert_eq!(after, before, "rolling an empty active segment does nothing");
                } else {
                    assert_eq!(after[..before.len()], before[..]);
                    assert_eq!(after[before.len()..], [end], "the new segment starts at the end");
                }
            }
            Op::TruncateTo { at, below_log_start } => {
                let (start, end) = (self.model.log_start_offset, self.model.log_end_offset);
                let offset = if *below_log_start {
                    Offset(i64::from(*at) % (start.0 + 1))
                } else {
                    Offset(start.0 + i64::from(*at) % (end.0 - start.0 + 2))
                };
                let now_ms = self.now_ms;
                let returned = self.log_mut().truncate_to(offset, now_ms).expect("truncate_to");
                if offset >= end {
                    assert_eq!(returned, end, "truncating at or above the end does nothing");
                } else if offset <= start {
                    self.model.start_at(offset);
                    self.model.unflushed_records = 0;
                    assert_eq!(returned, offset, "below the log start, the log restarts there");
                } else {
                    // The cut lands at the start of the batch holding `offset`.
                    let cut = *self.model.batches.range(..=offset).next_back().expect("a batch").0;
                    self.model.truncate_to(cut);
                    self.model.unflushed_records = 0;
                    assert_eq!(returned, cut);
                }
            }
            Op::TruncateFullyAndStartAt { at } => {
                let offset = Offset(i64::from(*at) % (self.model.log_end_offset.0 + 20));
                let now_ms = self.now_ms;
                let returned = self
                    .log_mut()
                    .truncate_fully_and_start_at(offset, now_ms)
                    .expect("truncate_fully_and_start_at");
                assert_eq!(returned, offset);
                self.model.start_at(offset);
                self.model.unflushed_records = 0;
            }
            Op::EnforceRetention { elapsed_ms, high_watermark_at } => {
                self.now_ms += i64::from(*elapsed_ms);
                let (start, end) = (self.model.log_start_offset, self.model.log_end_offset);
                let high_watermark =
                    Offset(start.0 + i64::from(*high_watermark_at) % (end.0 - start.0 + 2));
                let (expected_count, expected_start) = self.retention_outcome(high_watermark);
                let now_ms = self.now_ms;
                let count =
                    self.log_mut().enforce_retention(now_ms, high_watermark).expect("retention");
                assert_eq!(
                    (count, self.log().log_start_offset()),
                    (expected_count, expected_start),
                    "retention at {now_ms} with high watermark {high_watermark}, segments {:?}",
                    self.log().segment_base_offsets()
                );
                self.model.advance_log_start(expected_start);
            }
            Op::Flush => {
                let now_ms = self.now_ms;
                self.log_mut().flush(now_ms).expect("flush");
                assert_eq!(self.log().durable_offset(), self.model.log_end_offset);
                self.model.flushed(now_ms);
            }
            Op::HandleTimeout => {
                let now_ms = self.now_ms;
                let flush_deadline_ms =
                    self.model.last_flush_ms.saturating_add(self.config.flush_ms);
                if self.model.unflushed_records > 0 && self.config.flush_ms != i64::MAX {
                    let deadline = self.log().next_deadline_ms();
                    assert!(
                        deadline.is_some_and(|deadline| deadline <= flush_deadline_ms),
                        "next deadline {deadline:?}, a flush is due at {flush_deadline_ms}"
                    );
                }
                self.log_mut().handle_timeout(now_ms).expect("handle_timeout");
                if self.model.unflushed_records > 0 && now_ms >= flush_deadline_ms {
                    assert_eq!(self.log().durable_offset(), self.model.log_end_offset);
                    self.model.flushed(now_ms);
                }
            }
            Op::CloseAndReopen { power_loss_after } => {
                let now_ms = self.now_ms;
                self.log.take().expect("open").close(now_ms).expect("close");
                if *power_loss_after {
                    // Close synced everything: a power loss now must take nothing.
                    let report = self.storage.crash(CrashMode::LosePageCache { torn_writes: true });
                    assert_eq!(report.unsynced_bytes_lost(), 0, "{report}");
                    assert_eq!(report.entry_ops_lost(), 0, "{report}");
                }
                self.reopen();
                let report = self.log().recovery_report();
                assert!(report.clean_shutdown, "{report:?}");
                assert_eq!(report.segments_validated, 0, "{report:?}");
                assert_eq!(report.truncation, None);
                assert!(report.segments_deleted.is_empty(), "{report:?}");
            }
            Op::CrashAndReopen(mode) => {
                let durable_before = self.log().durable_offset();
                drop(self.log.take());
                let crash = self.storage.crash(*mode);
                self.reopen();
                let log = self.log();
                let report = log.recovery_report().clone();
                let context = format!("after {crash}, recovery {report:?}");
                assert!(!report.clean_shutdown, "{context}");
                assert_eq!(log.log_start_offset(), self.model.log_start_offset, "{context}");
                let recovered_end = log.log_end_offset();
                match mode {
                    CrashMode::KeepPageCache => {
                        assert_eq!(recovered_end, self.model.log_end_offset, "{context}");
                        assert_eq!(report.truncation, None, "{context}");
                        assert!(report.segments_deleted.is_empty(), "{context}");
                    }
                    CrashMode::LosePageCache { .. } => {
                        assert!(
                            recovered_end >= durable_before,
                            "durable offset {durable_before} reported before the crash, log ends \
                             at {recovered_end} after it; {context}"
                        );
                        assert!(recovered_end <= self.model.log_end_offset, "{context}");
                        assert!(
                            self.model.is_boundary(recovered_end),
                            "recovered end {recovered_end} splits a batch; {context}"
                        );
                        self.model.truncate_to(recovered_end);
                    }
                }
                self.check_log(&context);
                // Appends continue densely from the recovered end.
                self.step(&Op::Append {
                    batches: vec![BatchSpec { record_count: 2, value_bytes: 5 }],
                    leader_epoch: 9,
                });
            }
        }
    }

    fn reopen(&mut self) {
        assert!(self.log.is_none());
        let log = Log::open(self.storage.clone(), LOG_DIR, self.config.clone(), self.now_ms)
            .expect("the log reopens after any crash");
        assert_eq!(log.durable_offset(), log.log_end_offset(), "open makes what it kept durable");
        self.log = Some(log);
        self.model.flushed(self.now_ms);
    }

    /// What `enforce_retention(now, high_watermark)` must do, by Kafka's rules over the
    /// segments the log has: delete the oldest non-empty segments, each wholly below the high
    /// watermark, while they have expired or the log is larger than `retention.bytes`.
    fn retention_outcome(&self, high_watermark: Offset) -> (usize, Offset) {
        let bases = self.log().segment_base_offsets();
        let end = self.model.log_end_offset;
        let mut excess_bytes = match self.config.retention_bytes {
            -1 => 0,
            retention_bytes => self.model.size_bytes() as i64 - retention_bytes,
        };
        let mut count = 0;
        for (i, &base) in bases.iter().enumerate() {
            let next_base = bases.get(i + 1).copied().unwrap_or(end);
            let segment: Vec<_> =
                self.model.batches.range(base..next_base).map(|(_, b)| b).collect();
            if segment.is_empty() || next_base > high_watermark {
                break;
            }
            let size = segment.iter().map(|b| b.bytes.len() as i64).sum::<i64>();
            let newest_ms = segment.iter().map(|b| b.max_timestamp).max().expect("non-empty");
            let expired =
                self.config.retention_ms >= 0 && self.now_ms - newest_ms > self.config.retention_ms;
            let oversized = self.config.retention_bytes >= 0 && excess_bytes >= size;
            if !(expired || oversized) {
                break;
            }
            excess_bytes -= size;
            count += 1;
        }
        let start = if count == 0 {
            self.model.log_start_offset
        } else {
            bases.get(count).copied().unwrap_or(end)
        };
        (count, start)
    }

    /// A read returns exactly the batches of the segment holding `offset`, from the one
    /// holding `offset`, that end at or below the upper bound, within `max_bytes` (or one
    /// batch over it, the first, with `min_one_batch`).
    fn check_read(
        &self,
        offset: Offset,
        max_bytes: usize,
        upper_bound: Offset,
        min_one_batch: bool,
    ) {
        let log = self.log();
        let (start, end) = (self.model.log_start_offset, self.model.log_end_offset);
        let result = log.read(offset, max_bytes, upper_bound, min_one_batch);
        if offset < start || offset > end {
            let error = result.unwrap_err();
            assert!(matches!(error, LogError::OffsetOutOfRange { .. }), "{error}");
            return;
        }
        let read = result.expect("read in range");
        assert_eq!((read.log_start_offset, read.log_end_offset), (start, end));
        let bases = log.segment_base_offsets();
        let segment = bases.partition_point(|&base| base <= offset).max(1) - 1;
        let segment_end = bases.get(segment + 1).copied().unwrap_or(end);
        let mut expected = Vec::new();
        for b in self.model.batches_between(offset, segment_end) {
            let fits = expected.len() + b.bytes.len() <= max_bytes
                || (min_one_batch && expected.is_empty());
            if b.next_offset > upper_bound.min(end) || !fits {
                break;
            }
            expected.extend_from_slice(&b.bytes);
            if expected.len() >= max_bytes {
                break;
            }
        }
        assert_eq!(
            read.records.len(),
            expected.len(),
            "read({offset}, max_bytes {max_bytes}, upper bound {upper_bound}, min_one_batch \
             {min_one_batch}) over segments {bases:?}"
        );
        assert!(read.records == expected, "read at {offset} returned other bytes");
    }

    /// The whole log equals the model: same offsets, same segments tiling them, same bytes.
    fn check_log(&mut self, context: &str) {
        let log = self.log();
        let model = &self.model;
        let (start, end) = (model.log_start_offset, model.log_end_offset);
        assert_eq!(log.log_start_offset(), start, "log start; {context}");
        assert_eq!(log.log_end_offset(), end, "log end; {context}");
        let durable = log.durable_offset();
        assert!(start <= durable && durable <= end, "durable {durable} outside [{start}, {end}]");
        assert!(
            durable >= self.durable_offset.min(end),
            "durable offset fell from {} to {durable} with the log ending at {end}; {context}",
            self.durable_offset
        );
        let bases = log.segment_base_offsets();
        assert_eq!(bases[0], start, "the first segment starts at the log start; {context}");
        for (i, &base) in bases.iter().enumerate() {
            let next_base = bases.get(i + 1).copied().unwrap_or(end);
            if i + 1 < bases.len() {
                assert!(base < next_base, "segments {bases:?} out of order or empty; {context}");
            }
            assert!(model.is_boundary(base), "segment {base} splits a batch; {context}");
            // Each segment read whole from its base offset: exactly the model's bytes.
            let read = log.read(base, READ_ALL_BYTES, end, true).expect("read a segment");
            let expected: Vec<&ModelBatch> =
                model.batches.range(base..next_base).map(|(_, b)| b).collect();
            let headers = batch::validate_all(&read.records).expect("stored batches are valid");
            let found: Vec<Offset> = headers.iter().map(|(_, h)| h.base_offset).collect();
            let wanted: Vec<Offset> =
                model.batches.range(base..next_base).map(|(&o, _)| o).collect();
            assert_eq!(found, wanted, "batches of segment {base}; {context}");
            for ((position, header), b) in headers.iter().zip(&expected) {
                let stored = &read.records[*position..*position + header.total_bytes()];
                assert!(
                    stored == &b.bytes[..],
                    "batch {} differs from what was appended; {context}",
                    header.base_offset
                );
            }
            let size: usize = expected.iter().map(|b| b.bytes.len()).sum();
            if size as u64 > self.config.segment_bytes {
                assert!(
                    expected.iter().all(|b| b.append_id == expected[0].append_id),
                    "segment {base} of {size} bytes outgrew segment.bytes {} across appends; \
                     {context}",
                    self.config.segment_bytes
                );
            }
        }
        assert_eq!(log.size_bytes(), model.size_bytes(), "size; {context}");
        self.durable_offset = durable;
    }
}

fn concat(batches: &[Bytes]) -> Vec<u8> {
    batches.iter().flat_map(|b| b.iter().copied()).collect()
}

fn concat_stamped(batches: &[(Offset, Bytes)]) -> Vec<u8> {
    batches.iter().flat_map(|(_, b)| b.iter().copied()).collect()
}

fn run(seed: u64, config: LogConfig, steps: &[(u16, Op)]) {
    let mut harness = Harness::new(seed, config);
    harness.check_log("after open");
    for (index, (elapsed_ms, op)) in steps.iter().enumerate() {
        harness.now_ms += i64::from(*elapsed_ms);
        harness.step(op);
        harness.check_log(&format!("after step {index}: {op:?}"));
    }
    // Nothing leaked outside the partition directory.
    let names = harness.storage.list_dir(Path::new(LOG_DIR)).expect("list");
    for name in names {
        assert!(
            name.ends_with(".log")
                || name.ends_with(".index")
                || name.ends_with(".timeindex")
                || name == "recovery-point-offset-checkpoint",
            "unexpected file {name} in the partition directory"
        );
    }
}

fn batch_specs() -> impl Strategy<Value = Vec<BatchSpec>> {
    let spec = (1usize..=8, 0usize..=64)
        .prop_map(|(record_count, value_bytes)| BatchSpec { record_count, value_bytes });
    proptest::collection::vec(spec, 1..=3)
}

fn op() -> impl Strategy<Value = Op> {
    let crash_mode = prop_oneof![
        Just(CrashMode::KeepPageCache),
        Just(CrashMode::LosePageCache { torn_writes: false }),
        Just(CrashMode::LosePageCache { torn_writes: true }),
    ];
    prop_oneof![
        8 => (batch_specs(), 0..4i32)
            .prop_map(|(batches, leader_epoch)| Op::Append { batches, leader_epoch }),
        1 => (batch_specs(), any::<u16>())
            .prop_map(|(batches, flip_at)| Op::AppendCorrupt { batches, flip_at }),
        2 => (batch_specs(), 0..4i32)
            .prop_map(|(batches, leader_epoch)| Op::ReplicateFromLeader { batches, leader_epoch }),
        2 => (batch_specs(), 0..4i32, prop_oneof![4 => Just(0i8), 1 => Just(-1i8), 1 => Just(1)])
            .prop_map(|(batches, leader_epoch, shift)| Op::ReplicateRestamped {
                batches,
                leader_epoch,
                shift
            }),
        4 => (any::<u16>(), prop_oneof![0..200u16, 200..4000u16], any::<u16>(), any::<bool>())
            .prop_map(|(at, max_bytes, upper_bound_at, min_one_batch)| Op::Read {
                at,
                max_bytes,
                upper_bound_at,
                min_one_batch
            }),
        2 => (any::<u16>(), any::<u16>())
            .prop_map(|(at, upper_bound_at)| Op::OffsetForTimestamp { at, upper_bound_at }),
        1 => Just(Op::Roll),
        1 => (any::<u16>(), proptest::bool::weighted(0.2))
            .prop_map(|(at, below_log_start)| Op::TruncateTo { at, below_log_start }),
        1 => any::<u16>().prop_map(|at| Op::TruncateFullyAndStartAt { at }),
        2 => (prop_oneof![0..2_000u32, 2_000..20_000u32], any::<u16>()).prop_map(
            |(elapsed_ms, high_watermark_at)| Op::EnforceRetention { elapsed_ms, high_watermark_at }
        ),
        1 => Just(Op::Flush),
        1 => Just(Op::HandleTimeout),
        1 => any::<bool>().prop_map(|power_loss_after| Op::CloseAndReopen { power_loss_after }),
        3 => crash_mode.prop_map(Op::CrashAndReopen),
    ]
}

fn log_config() -> impl Strategy<Value = LogConfig> {
    (
        (256u64..=4096, 0u64..=512),
        prop_oneof![2 => Just(u64::MAX), 1 => 1u64..=40],
        prop_oneof![2 => Just(i64::MAX), 1 => 50i64..=2_000],
        prop_oneof![2 => Just(7 * DAY_MS), 1 => 200i64..=5_000],
        prop_oneof![Just(-1i64), 500i64..=10_000],
        prop_oneof![Just(-1i64), 0i64..=8_000],
        prop_oneof![Just(0i64), Just(1_000i64), Just(60_000i64)],
    )
        .prop_map(
            |(
                (segment_bytes, index_interval_bytes),
                flush_messages,
                flush_ms,
                segment_ms,
                retention_ms,
                retention_bytes,
                checkpoint_interval_ms,
            )| LogConfig {
                segment_bytes,
                segment_ms,
                retention_ms,
                retention_bytes,
                flush_messages,
                flush_ms,
                index_interval_bytes,
                checkpoint_interval_ms,
                ..LogConfig::default()
            },
        )
}

fn proptest_config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(CASES_DEFAULT);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn the_partition_log_matches_its_model_through_appends_truncations_retention_and_crashes(
        seed in any::<u64>(),
        config in log_config(),
        steps in proptest::collection::vec((0..400u16, op()), 1..300),
    ) {
        run(seed, config, &steps);
    }
}
