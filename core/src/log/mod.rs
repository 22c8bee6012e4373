//! The partition log: record batches in segments named by base offset, with indexes,
//! retention, a flush policy and recovery.
//!
//! Inputs: producer batches (`append`, the log assigns offsets), replicated batches
//! (`append_replicated`, offsets kept), reads by offset, truncation, the time `now_ms` for
//! rolling, retention and flushing. Outputs: stored batches exactly as they were appended
//! (restamped base offset and leader epoch only), offsets, and the durable offset.
//!
//! Invariants (asserted where state changes):
//! - offsets are dense: every segment starts where the previous one ends, and the first
//!   batch of a segment starts at its base offset;
//! - `log_start_offset <= recovery_point <= log_end_offset`, and all offsets below the
//!   recovery point are synced (the durable offset);
//! - indexes are derived data: rebuilt from the log whenever they fail a check;
//! - after a storage error in a write, the log is offline (fail-stop, as Kafka takes a log
//!   dir offline): every later call fails with [`LogError::Offline`].
//!
//! Recovery on open: if the clean-shutdown marker is absent, every segment from the one
//! holding the recovery point on is validated batch by batch (length, magic, CRC, dense
//! offsets); the first invalid batch and everything after it are dropped, with one warning
//! naming the file and offset. The surviving tail is then synced.

pub mod batch;
pub mod checkpoint;
pub mod epoch_cache;
pub mod index;
pub mod segment;

pub use epoch_cache::{EpochEntry, LeaderEpochCache};

use crate::storage::{Storage, StorageError};
use crate::types::{LeaderEpoch, Offset};
use batch::{BatchError, BatchHeader};
use bytes::Bytes;
use index::IndexProblem;
use segment::{Damage, Segment};
use std::path::{Path, PathBuf};

/// Topic-level log settings, named after Kafka's topic configs (`segment.bytes`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would grow past this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: i64,
    /// `retention.ms`: delete segments whose newest record is older; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest segments while the log is larger; -1 unlimited.
    pub retention_bytes: i64,
    /// `flush.messages`: sync after this many records; `u64::MAX` never (Kafka's default).
    pub flush_messages: u64,
    /// `flush.ms`: sync when the last sync is older than this; `i64::MAX` never.
    pub flush_ms: i64,
    /// `index.interval.bytes`: bytes of log between offset index entries.
    pub index_interval_bytes: u64,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: usize,
    /// `log.flush.offset.checkpoint.interval.ms`: how often the recovery point is written.
    pub checkpoint_interval_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            flush_messages: u64::MAX,
            flush_ms: i64::MAX,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            checkpoint_interval_ms: 60_000,
        }
    }
}

/// Why the log refused an operation.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("record batch at byte {position} of the records is corrupt: {source}")]
    CorruptBatch {
        position: usize,
        #[source]
        source: BatchError,
    },
    #[error("records hold no record batch")]
    NoBatches,
    #[error("record batch of {size} bytes is larger than max.message.bytes ({max})")]
    BatchTooLarge { size: usize, max: usize },
    #[error(
        "offset {offset} is out of range: the log holds [{log_start_offset}, {log_end_offset})"
    )]
    OffsetOutOfRange { offset: Offset, log_start_offset: Offset, log_end_offset: Offset },
    #[error("replicated batch starts at offset {found}, but the log ends at {expected}")]
    NotContiguous { expected: Offset, found: Offset },
    #[error("log {} is offline after a storage error: {reason}", dir.display())]
    Offline { dir: PathBuf, reason: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What an append wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: Offset,
    pub last_offset: Offset,
    pub record_count: i64,
    pub max_timestamp: i64,
    pub batch_count: usize,
    pub bytes: usize,
}

/// What a read returned: whole batches, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadResult {
    pub records: Bytes,
    pub log_start_offset: Offset,
    pub log_end_offset: Offset,
}

/// Where recovery cut a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    pub segment: PathBuf,
    pub position: u64,
    /// The offset the log ends at after the cut.
    pub offset: Offset,
    pub damage: Damage,
    pub bytes_dropped: u64,
}

/// What opening the log found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub clean_shutdown: bool,
    /// The recovery point read from the checkpoint (0 when missing or unreadable).
    pub recovery_point: Offset,
    /// Segments validated batch by batch.
    pub segments_validated: usize,
    pub truncation: Option<Truncation>,
    /// Segments dropped because they came after damage or a gap.
    pub segments_deleted: Vec<PathBuf>,
    /// Index files rebuilt from the log, and why.
    pub indexes_rebuilt: Vec<(PathBuf, IndexProblem)>,
}

/// A partition's log on one broker.
pub struct Log<S: Storage> {
    storage: S,
    dir: PathBuf,
    config: LogConfig,
    /// Sorted by base offset; never empty; the last one is the active segment.
    segments: Vec<Segment<S::File>>,
    log_start_offset: Offset,
    recovery_point: Offset,
    checkpointed_recovery_point: Offset,
    unflushed_records: u64,
    last_flush_ms: i64,
    last_checkpoint_ms: i64,
    offline: Option<String>,
    recovery: RecoveryReport,
}

impl<S: Storage> std::fmt::Debug for Log<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir)
            .field("log_start_offset", &self.log_start_offset)
            .field("log_end_offset", &self.log_end_offset())
            .field("recovery_point", &self.recovery_point)
            .field("segments", &self.segments.len())
            .finish()
    }
}

impl<S: Storage> Log<S> {
    /// Opens the log in `dir` (creating it empty if missing) and recovers it if the last
    /// shutdown was not clean.
    pub fn open(
        storage: S,
        dir: impl Into<PathBuf>,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        let dir = dir.into();
        storage.create_dir_all(&dir)?;
        let names = storage.list_dir(&dir)?;
        let clean_shutdown = names.iter().any(|n| n == checkpoint::CLEAN_SHUTDOWN_FILE);
        let mut report = RecoveryReport { clean_shutdown, ..RecoveryReport::default() };
        if clean_shutdown {
            // From here on, a crash must be treated as unclean.
            storage.remove_file(&dir.join(checkpoint::CLEAN_SHUTDOWN_FILE))?;
            storage.sync_dir(&dir)?;
        } else {
            report.recovery_point = match checkpoint::read_recovery_point(&storage, &dir)? {
                Some(Ok(offset)) => offset,
                Some(Err(why)) => {
                    tracing::warn!(file = %dir.join(checkpoint::RECOVERY_POINT_FILE).display(), %why, "unreadable recovery point checkpoint; recovering the whole log");
                    Offset::ZERO
                }
                None => Offset::ZERO,
            };
        }
        for name in names.iter().filter(|n| checkpoint::is_temporary(n)) {
            storage.remove_file(&dir.join(name))?;
        }
        let mut bases: Vec<Offset> =
            names.iter().filter_map(|n| segment::parse_file_name(n, segment::LOG_SUFFIX)).collect();
        bases.sort();
        let mut segments: Vec<Segment<S::File>> = Vec::with_capacity(bases.len());
        let mut damaged = false;
        for (i, &base) in bases.iter().enumerate() {
            if damaged {
                Self::delete_segment_files(&storage, &dir, base)?;
                report
                    .segments_deleted
                    .push(dir.join(segment::file_name(base, segment::LOG_SUFFIX)));
                continue;
            }
            if let Some(previous) = segments.last() {
                if previous.next_offset() != base {
                    let damage = Damage::NotDense { expected: previous.next_offset(), found: base };
                    tracing::warn!(segment = %dir.join(segment::file_name(base, segment::LOG_SUFFIX)).display(), %damage, "gap between segments; dropping this segment and all after it");
                    damaged = true;
                    Self::delete_segment_files(&storage, &dir, base)?;
                    report
                        .segments_deleted
                        .push(dir.join(segment::file_name(base, segment::LOG_SUFFIX)));
                    continue;
                }
            }
            let ends_before_recovery_point =
                bases.get(i + 1).is_some_and(|&next| next <= report.recovery_point);
            let size_before =
                storage_len(&storage, &dir.join(segment::file_name(base, segment::LOG_SUFFIX)))?;
            let (segment, outcome) = if clean_shutdown || ends_before_recovery_point {
                let (segment, outcome, problem) = Segment::open_trusted(
                    &storage,
                    &dir,
                    base,
                    config.index_interval_bytes,
                    now_ms,
                )?;
                if let Some(problem) = problem {
                    let path = dir.join(segment::file_name(base, segment::INDEX_SUFFIX));
                    tracing::warn!(index = %path.display(), %problem, "index rebuilt from the log");
                    report.indexes_rebuilt.push((path, problem));
                }
                (segment, outcome)
            } else {
                report.segments_validated += 1;
                Segment::open_recovering(&storage, &dir, base, config.index_interval_bytes, now_ms)?
            };
            if let Some((position, damage)) = outcome.damage {
                tracing::warn!(segment = %segment.log_path().display(), position, offset = %outcome.next_offset, %damage, "damaged batch; log truncated there");
                report.truncation = Some(Truncation {
                    segment: segment.log_path().to_path_buf(),
                    position,
                    offset: outcome.next_offset,
                    damage,
                    bytes_dropped: size_before.saturating_sub(position),
                });
                damaged = true;
            }
            segments.push(segment);
        }
        if segments.is_empty() {
            segments.push(Segment::create(&storage, &dir, Offset::ZERO, now_ms)?);
            storage.sync_dir(&dir)?;
        }
        let log_start_offset = segments[0].base_offset;
        let log_end_offset = segments.last().expect("non-empty").next_offset();
        let mut log = Log {
            storage,
            dir,
            config,
            segments,
            log_start_offset,
            recovery_point: report.recovery_point.clamp(log_start_offset, log_end_offset),
            checkpointed_recovery_point: report.recovery_point,
            unflushed_records: 0,
            last_flush_ms: now_ms,
            last_checkpoint_ms: now_ms,
            offline: None,
            recovery: report,
        };
        if clean_shutdown {
            log.recovery_point = log_end_offset;
            log.checkpointed_recovery_point = log_end_offset;
        } else {
            // What survived the crash and passed validation becomes durable now, so that a
            // second crash cannot take back what recovery kept.
            for segment in &mut log.segments {
                segment.sync_all()?;
            }
            log.storage.sync_dir(&log.dir)?;
            log.recovery_point = log_end_offset;
            log.write_checkpoint(now_ms)?;
        }
        log.assert_invariants();
        Ok(log)
    }

    fn delete_segment_files(storage: &S, dir: &Path, base: Offset) -> Result<(), StorageError> {
        for path in segment::paths(dir, base) {
            if storage.exists(&path)? {
                storage.remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// Appends a producer's batches: validates each (length, magic, CRC, size), assigns
    /// offsets from the log end offset and stamps `leader_epoch`. All or nothing.
    pub fn append(
        &mut self,
        records: &[u8],
        leader_epoch: LeaderEpoch,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.check_online()?;
        let mut headers = self.validate(records)?;
        // A producer's batch must hold the records it claims (a follower's copy was checked
        // by its leader; recovery checks CRCs, as Kafka's does).
        for (position, header) in &headers {
            batch::check_record_count(&records[*position..], header)
                .map_err(|source| LogError::CorruptBatch { position: *position, source })?;
        }
        let mut stamped = records.to_vec();
        let mut next = self.log_end_offset();
        for (position, header) in &mut headers {
            batch::restamp(&mut stamped[*position..], next, leader_epoch);
            header.base_offset = next;
            header.partition_leader_epoch = leader_epoch;
            next = header.next_offset();
        }
        self.append_stamped(&stamped, &headers, now_ms)
    }

    /// Appends batches copied from a leader, keeping their offsets: the first must start at
    /// the log end offset and the rest must follow densely.
    pub fn append_replicated(
        &mut self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.check_online()?;
        let headers = self.validate(records)?;
        let mut expected = self.log_end_offset();
        for (_, header) in &headers {
            if header.base_offset != expected {
                return Err(LogError::NotContiguous { expected, found: header.base_offset });
            }
            expected = header.next_offset();
        }
        self.append_stamped(records, &headers, now_ms)
    }

    fn validate(&self, records: &[u8]) -> Result<Vec<(usize, BatchHeader)>, LogError> {
        let headers = batch::validate_all(records)
            .map_err(|(position, source)| LogError::CorruptBatch { position, source })?;
        if headers.is_empty() {
            return Err(LogError::NoBatches);
        }
        if let Some((_, h)) =
            headers.iter().find(|(_, h)| h.total_bytes() > self.config.max_message_bytes)
        {
            return Err(LogError::BatchTooLarge {
                size: h.total_bytes(),
                max: self.config.max_message_bytes,
            });
        }
        Ok(headers)
    }

    fn append_stamped(
        &mut self,
        records: &[u8],
        headers: &[(usize, BatchHeader)],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let first = headers.first().expect("validated non-empty").1;
        let last = headers.last().expect("validated non-empty").1;
        assert_eq!(first.base_offset, self.log_end_offset(), "appends start at the log end offset");
        let result = (|| -> Result<(), LogError> {
            if self.should_roll(records.len() as u64, &first, last.last_offset(), now_ms) {
                self.roll(now_ms)?;
            }
            let index_interval_bytes = self.config.index_interval_bytes;
            self.active_mut().append(records, headers, index_interval_bytes)?;
            Ok(())
        })();
        self.fail_stop(result)?;
        let record_count = last.next_offset().distance_from(first.base_offset);
        self.unflushed_records += record_count as u64;
        let info = AppendInfo {
            first_offset: first.base_offset,
            last_offset: last.last_offset(),
            record_count,
            max_timestamp: headers.iter().map(|(_, h)| h.max_timestamp).max().expect("non-empty"),
            batch_count: headers.len(),
            bytes: records.len(),
        };
        let due = self.unflushed_records >= self.config.flush_messages
            || now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_ms;
        if due {
            self.flush(now_ms)?;
        }
        assert_eq!(
            self.log_end_offset(),
            info.last_offset.plus(1),
            "the log ends after the append"
        );
        Ok(info)
    }

    fn should_roll(
        &self,
        incoming_bytes: u64,
        first: &BatchHeader,
        last_offset: Offset,
        now_ms: i64,
    ) -> bool {
        let active = self.active();
        if active.is_empty() {
            return false;
        }
        let full = active.size_bytes() + incoming_bytes > self.config.segment_bytes;
        let aged = match active.rolling_base_timestamp().filter(|&t| t >= 0) {
            Some(base) if first.max_timestamp >= 0 => {
                first.max_timestamp.saturating_sub(base) > self.config.segment_ms
            }
            _ => now_ms.saturating_sub(active.created_ms()) > self.config.segment_ms,
        };
        let relative_overflow =
            last_offset.distance_from(active.base_offset) > i64::from(u32::MAX >> 1);
        full || aged || relative_overflow
    }

    /// Starts a new active segment at the log end offset. The old one is synced whole (as
    /// Kafka flushes a segment when it rolls), which moves the recovery point.
    pub fn roll(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.check_online()?;
        if self.active().is_empty() {
            return Ok(());
        }
        let result = (|| -> Result<(), LogError> {
            let base = self.log_end_offset();
            self.active_mut().sync_all()?;
            let segment = Segment::create(&self.storage, &self.dir, base, now_ms)?;
            self.segments.push(segment);
            self.storage.sync_dir(&self.dir)?;
            self.recovery_point = base;
            Ok(())
        })();
        self.fail_stop(result)?;
        self.maybe_checkpoint(now_ms)
    }

    /// Whole batches from the one holding `offset` on, ending at or before `upper_bound`
    /// (the high watermark for consumers, the log end for followers), at most `max_bytes`
    /// unless `min_one_batch` lets a first, larger batch through.
    pub fn read(
        &self,
        offset: Offset,
        max_bytes: usize,
        upper_bound: Offset,
        min_one_batch: bool,
    ) -> Result<ReadResult, LogError> {
        self.check_online()?;
        let log_end_offset = self.log_end_offset();
        if offset < self.log_start_offset || offset > log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset,
            });
        }
        let upper_bound = upper_bound.min(log_end_offset);
        let records = if offset >= upper_bound {
            Bytes::new()
        } else {
            self.segments[self.segment_index_of(offset)].read(
                offset,
                max_bytes,
                upper_bound,
                min_one_batch,
            )?
        };
        Ok(ReadResult { records, log_start_offset: self.log_start_offset, log_end_offset })
    }

    /// The earliest record whose timestamp is at least `timestamp`, below `upper_bound`:
    /// its offset and timestamp (ListOffsets by time). `None` when there is no such record.
    pub fn offset_for_timestamp(
        &self,
        timestamp: i64,
        upper_bound: Offset,
    ) -> Result<Option<(Offset, i64)>, LogError> {
        self.check_online()?;
        let upper_bound = upper_bound.min(self.log_end_offset());
        for segment in &self.segments {
            if segment.max_timestamp() < timestamp {
                continue;
            }
            let Some(mut bytes) =
                segment.find_batch_by_timestamp(timestamp, self.log_start_offset, upper_bound)?
            else {
                continue;
            };
            let header = BatchHeader::parse(&bytes).expect("stored batches parse");
            let decoded = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes);
            let found = match decoded {
                Ok(set) => set
                    .records
                    .iter()
                    .find(|r| r.timestamp >= timestamp)
                    .map(|r| (Offset(r.offset), r.timestamp)),
                Err(error) => {
                    // Records we cannot decode (an unknown codec) still have a batch header:
                    // answer at batch granularity rather than fail the request.
                    tracing::warn!(segment = %segment.log_path().display(), offset = %header.base_offset, %error, "cannot decode batch records; answering with the batch's base offset");
                    None
                }
            };
            return Ok(Some(found.unwrap_or((header.base_offset, header.max_timestamp))));
        }
        Ok(None)
    }

    /// The offset and timestamp of the record with the largest timestamp below `upper_bound`
    /// (ListOffsets MAX_TIMESTAMP); the first such record if several share it.
    pub fn max_timestamp_record(
        &self,
        upper_bound: Offset,
    ) -> Result<Option<(Offset, i64)>, LogError> {
        self.check_online()?;
        let Some(max) = self.segments.iter().map(|s| s.max_timestamp()).max().filter(|&t| t >= 0)
        else {
            return Ok(None);
        };
        self.offset_for_timestamp(max, upper_bound)
    }

    /// Removes every record at or after `offset` (a follower whose log diverged from its
    /// leader's). The cut lands at a batch boundary at or below `offset`, and is durable when
    /// this returns. Below the log start, the log is emptied and restarts at `offset`.
    pub fn truncate_to(&mut self, offset: Offset, now_ms: i64) -> Result<Offset, LogError> {
        self.check_online()?;
        if offset >= self.log_end_offset() {
            return Ok(self.log_end_offset());
        }
        if offset <= self.log_start_offset {
            return self.truncate_fully_and_start_at(offset, now_ms);
        }
        let result = (|| -> Result<(), LogError> {
            while self.active().base_offset >= offset {
                let segment = self.segments.pop().expect("a segment above the log start");
                let base = segment.base_offset;
                drop(segment);
                Self::delete_segment_files(&self.storage, &self.dir, base)?;
            }
            self.active_mut().truncate_to(offset)?;
            self.active_mut().sync_all()?;
            self.storage.sync_dir(&self.dir)?;
            Ok(())
        })();
        self.fail_stop(result)?;
        self.after_truncation(now_ms)?;
        Ok(self.log_end_offset())
    }

    /// Deletes every segment and starts an empty log at `offset` (a follower that must start
    /// over from the leader's log start).
    pub fn truncate_fully_and_start_at(
        &mut self,
        offset: Offset,
        now_ms: i64,
    ) -> Result<Offset, LogError> {
        self.check_online()?;
        let result = (|| -> Result<(), LogError> {
            // The old segments stay in the list until the new one exists: a storage error
            // half-way must leave an offline log that still has an active segment (its
            // getters, `log_end_offset` first, must not panic), not an empty list. Their
            // files are unlinked while open, which POSIX and SimStorage allow.
            let bases: Vec<Offset> = self.segments.iter().map(|s| s.base_offset).collect();
            for base in bases {
                Self::delete_segment_files(&self.storage, &self.dir, base)?;
            }
            let segment = Segment::create(&self.storage, &self.dir, offset, now_ms)?;
            self.segments = vec![segment];
            self.storage.sync_dir(&self.dir)?;
            Ok(())
        })();
        self.fail_stop(result)?;
        self.log_start_offset = offset;
        self.after_truncation(now_ms)?;
        Ok(offset)
    }

    fn after_truncation(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.recovery_point =
            self.recovery_point.min(self.log_end_offset()).max(self.log_start_offset);
        self.unflushed_records = 0;
        // A checkpoint above the new end would make a later recovery trust bytes appended
        // after this truncation without validating them: rewrite it now.
        if self.checkpointed_recovery_point > self.recovery_point {
            self.write_checkpoint(now_ms)?;
        }
        self.assert_invariants();
        Ok(())
    }

    /// Deletes whole segments that retention no longer keeps (by `retention.ms` and
    /// `retention.bytes`), never one holding offsets at or above `high_watermark`, and
    /// advances the log start. Returns how many segments were deleted.
    pub fn enforce_retention(
        &mut self,
        now_ms: i64,
        high_watermark: Offset,
    ) -> Result<usize, LogError> {
        self.check_online()?;
        let total_bytes = self.size_bytes();
        let mut excess_bytes = if self.config.retention_bytes >= 0 {
            total_bytes as i64 - self.config.retention_bytes
        } else {
            0
        };
        let mut count = 0;
        for (i, segment) in self.segments.iter().enumerate() {
            let next_base =
                self.segments.get(i + 1).map_or(self.log_end_offset(), |s| s.base_offset);
            if segment.is_empty() || next_base > high_watermark {
                break;
            }
            let newest_ms = if segment.max_timestamp() >= 0 {
                segment.max_timestamp()
            } else {
                segment.created_ms()
            };
            let expired = self.config.retention_ms >= 0
                && now_ms.saturating_sub(newest_ms) > self.config.retention_ms;
            let oversized =
                self.config.retention_bytes >= 0 && excess_bytes - segment.size_bytes() as i64 >= 0;
            if !(expired || oversized) {
                break;
            }
            excess_bytes -= segment.size_bytes() as i64;
            count += 1;
        }
        if count == 0 {
            return Ok(0);
        }
        if count == self.segments.len() {
            // The active segment goes too: roll first so the log keeps an active segment.
            self.roll(now_ms)?;
        }
        let result = (|| -> Result<(), LogError> {
            for segment in self.segments.drain(..count) {
                let base = segment.base_offset;
                drop(segment);
                Self::delete_segment_files(&self.storage, &self.dir, base)?;
            }
            self.storage.sync_dir(&self.dir)?;
            Ok(())
        })();
        self.fail_stop(result)?;
        self.log_start_offset = self.segments[0].base_offset;
        self.recovery_point = self.recovery_point.max(self.log_start_offset);
        tracing::debug!(log = %self.dir.display(), count, log_start_offset = %self.log_start_offset, "retention deleted segments");
        self.assert_invariants();
        Ok(count)
    }

    /// Deletes the whole segments that end at or before `offset`, never the active one, and
    /// advances the log start (a follower following its leader's log start offset). Returns
    /// how many segments were deleted.
    pub fn delete_segments_below(&mut self, offset: Offset) -> Result<usize, LogError> {
        self.check_online()?;
        let count =
            self.segments.windows(2).take_while(|pair| pair[1].base_offset <= offset).count();
        if count == 0 {
            return Ok(0);
        }
        let result = (|| -> Result<(), LogError> {
            for segment in self.segments.drain(..count) {
                let base = segment.base_offset;
                drop(segment);
                Self::delete_segment_files(&self.storage, &self.dir, base)?;
            }
            self.storage.sync_dir(&self.dir)?;
            Ok(())
        })();
        self.fail_stop(result)?;
        self.log_start_offset = self.segments[0].base_offset;
        self.recovery_point = self.recovery_point.max(self.log_start_offset);
        self.assert_invariants();
        Ok(count)
    }

    /// Syncs everything appended so far; the durable offset becomes the log end offset.
    pub fn flush(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.check_online()?;
        let from = self.segment_index_of(
            self.recovery_point.min(self.active().base_offset).max(self.log_start_offset),
        );
        let result = (|| -> Result<(), LogError> {
            for segment in &mut self.segments[from..] {
                segment.sync_log()?;
            }
            Ok(())
        })();
        self.fail_stop(result)?;
        self.recovery_point = self.log_end_offset();
        self.unflushed_records = 0;
        self.last_flush_ms = now_ms;
        self.maybe_checkpoint(now_ms)
    }

    /// When the next time-based flush (`flush.ms`) or checkpoint is due, if any.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let flush = (self.unflushed_records > 0 && self.config.flush_ms != i64::MAX)
            .then(|| self.last_flush_ms.saturating_add(self.config.flush_ms));
        let checkpoint = (self.recovery_point != self.checkpointed_recovery_point)
            .then(|| self.last_checkpoint_ms.saturating_add(self.config.checkpoint_interval_ms));
        flush.into_iter().chain(checkpoint).min()
    }

    /// Runs the flush and checkpoint that are due at `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: i64) -> Result<(), LogError> {
        if self.offline.is_some() {
            return Ok(());
        }
        if self.unflushed_records > 0
            && now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_ms
        {
            self.flush(now_ms)?;
        }
        self.maybe_checkpoint(now_ms)
    }

    fn maybe_checkpoint(&mut self, now_ms: i64) -> Result<(), LogError> {
        if self.recovery_point != self.checkpointed_recovery_point
            && now_ms.saturating_sub(self.last_checkpoint_ms) >= self.config.checkpoint_interval_ms
        {
            self.write_checkpoint(now_ms)?;
        }
        Ok(())
    }

    fn write_checkpoint(&mut self, now_ms: i64) -> Result<(), LogError> {
        let result =
            checkpoint::write_recovery_point(&self.storage, &self.dir, self.recovery_point)
                .map_err(LogError::from);
        self.fail_stop(result)?;
        self.checkpointed_recovery_point = self.recovery_point;
        self.last_checkpoint_ms = now_ms;
        Ok(())
    }

    /// Syncs everything, writes the checkpoint and the clean-shutdown marker: the next open
    /// trusts the log without validating it.
    pub fn close(mut self, now_ms: i64) -> Result<(), LogError> {
        self.check_online()?;
        self.flush(now_ms)?;
        let result = (|| -> Result<(), LogError> {
            for segment in &mut self.segments {
                segment.sync_all()?;
            }
            Ok(())
        })();
        self.fail_stop(result)?;
        self.write_checkpoint(now_ms)?;
        let marker = self.dir.join(checkpoint::CLEAN_SHUTDOWN_FILE);
        let mut file = self.storage.open(&marker, crate::storage::OpenMode::CreateOrExisting)?;
        crate::storage::StorageFile::sync(&mut file)?;
        self.storage.sync_dir(&self.dir)?;
        Ok(())
    }

    /// Removes the log's directory (the topic was deleted).
    pub fn delete(self) -> Result<(), LogError> {
        let Log { storage, dir, segments, .. } = self;
        drop(segments);
        storage.remove_dir_all(&dir)?;
        if let Some(parent) = dir.parent() {
            storage.sync_dir(parent)?;
        }
        Ok(())
    }

    pub fn log_start_offset(&self) -> Offset {
        self.log_start_offset
    }

    pub fn log_end_offset(&self) -> Offset {
        self.active().next_offset()
    }

    /// Offsets below this were synced and survive a power loss.
    pub fn durable_offset(&self) -> Offset {
        self.recovery_point
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size_bytes()).sum()
    }

    pub fn segment_base_offsets(&self) -> Vec<Offset> {
        self.segments.iter().map(|s| s.base_offset).collect()
    }

    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the topic-level settings (AlterConfigs); they apply from the next append.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Why the log is offline, if it is.
    pub fn offline_reason(&self) -> Option<&str> {
        self.offline.as_deref()
    }

    fn active(&self) -> &Segment<S::File> {
        self.segments.last().expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment<S::File> {
        self.segments.last_mut().expect("a log always has an active segment")
    }

    /// The index of the segment holding `offset` (the last one whose base is not above it).
    fn segment_index_of(&self, offset: Offset) -> usize {
        let after = self.segments.partition_point(|s| s.base_offset <= offset);
        assert!(after > 0, "offset {offset} lies below the first segment");
        after - 1
    }

    fn check_online(&self) -> Result<(), LogError> {
        match &self.offline {
            Some(reason) => {
                Err(LogError::Offline { dir: self.dir.clone(), reason: reason.clone() })
            }
            None => Ok(()),
        }
    }

    /// A storage error in a write leaves the files in an unknown state: stop using the log.
    fn fail_stop<T>(&mut self, result: Result<T, LogError>) -> Result<T, LogError> {
        if let Err(LogError::Storage(error)) = &result {
            tracing::error!(log = %self.dir.display(), %error, "storage error; taking the log offline");
            self.offline = Some(error.to_string());
        }
        result
    }

    fn assert_invariants(&self) {
        assert!(!self.segments.is_empty(), "a log always has an active segment");
        assert!(
            self.log_start_offset <= self.recovery_point,
            "log start {} above recovery point {}",
            self.log_start_offset,
            self.recovery_point
        );
        assert!(
            self.recovery_point <= self.log_end_offset(),
            "recovery point {} above log end {}",
            self.recovery_point,
            self.log_end_offset()
        );
        for pair in self.segments.windows(2) {
            assert_eq!(pair[0].next_offset(), pair[1].base_offset, "segments are contiguous");
        }
    }
}

fn storage_len<S: Storage>(storage: &S, path: &Path) -> Result<u64, StorageError> {
    use crate::storage::StorageFile;
    storage.open(path, crate::storage::OpenMode::Existing)?.len()
}

#[cfg(test)]
mod tests;
