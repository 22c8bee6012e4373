//! One segment of a partition log: `<base offset>.log` with its `.index` and `.timeindex`.
//!
//! Inputs: validated batches whose offsets the log has already assigned; reads by offset.
//! Outputs: the bytes of whole batches; what recovery found.
//! Invariants: the segment's batches are dense from `base_offset` to `next_offset`; the
//! first batch starts at `base_offset`; `size_bytes` is the log file's length; index entries
//! point at batch starts. A position taken from an index is checked against the batch found
//! there, and the log wins when they disagree.

use super::batch::{self, BatchError, BatchHeader, BATCH_HEADER_BYTES};
use super::index::{IndexProblem, OffsetIndex, TimeIndex};
use crate::storage::{OpenMode, Storage, StorageFile, StorageResult};
use crate::types::Offset;
use bytes::Bytes;
use std::path::{Path, PathBuf};

pub const LOG_SUFFIX: &str = ".log";
pub const INDEX_SUFFIX: &str = ".index";
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";

/// Bytes read at a time while scanning a segment.
const SCAN_CHUNK_BYTES: usize = 256 * 1024;

/// `00000000000000000042.log` and friends: 20 digits, so names sort like offsets.
pub fn file_name(base_offset: Offset, suffix: &str) -> String {
    format!("{:020}{suffix}", base_offset.0)
}

/// Parses the base offset out of a segment file name, if it is one.
pub fn parse_file_name(name: &str, suffix: &str) -> Option<Offset> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok().map(Offset)
}

/// What is wrong at the place where a scan stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    #[error("{0}")]
    Batch(#[from] BatchError),
    #[error("batch starts at offset {found}, expected {expected} (offsets must be dense)")]
    NotDense { expected: Offset, found: Offset },
}

/// Where a validating scan of a segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Bytes of valid batches from the start of the scan.
    pub valid_end_position: u64,
    /// The offset after the last valid batch.
    pub next_offset: Offset,
    /// The damage that stopped the scan before the end of the file, if any.
    pub damage: Option<(u64, Damage)>,
}

/// A read-through buffer over a file, so that scanning batch headers costs one read per
/// chunk rather than one per batch.
struct Window<'f, F: StorageFile> {
    file: &'f F,
    file_bytes: u64,
    start: u64,
    data: Vec<u8>,
}

impl<'f, F: StorageFile> Window<'f, F> {
    fn new(file: &'f F, file_bytes: u64) -> Self {
        Window { file, file_bytes, start: 0, data: Vec::new() }
    }

    /// The bytes at `[position, position + len)`, or fewer if the file ends first.
    fn get(&mut self, position: u64, len: usize, chunk_bytes: usize) -> StorageResult<&[u8]> {
        let end = (position + len as u64).min(self.file_bytes);
        let covered = position >= self.start && end <= self.start + self.data.len() as u64;
        if !covered {
            let read_bytes = (self.file_bytes - position).min(len.max(chunk_bytes) as u64) as usize;
            self.data.resize(read_bytes, 0);
            self.file.read_exact_at(position, &mut self.data)?;
            self.start = position;
        }
        let from = (position - self.start) as usize;
        Ok(&self.data[from..from + (end - position) as usize])
    }
}

/// One segment, open.
#[derive(Debug)]
pub struct Segment<F: StorageFile> {
    pub base_offset: Offset,
    log: F,
    offset_index: OffsetIndex<F>,
    time_index: TimeIndex<F>,
    next_offset: Offset,
    size_bytes: u64,
    /// The largest batch timestamp in the segment, -1 when it has none.
    max_timestamp: i64,
    /// The first batch's largest timestamp: what `segment.ms` is measured from (as Kafka).
    rolling_base_timestamp: Option<i64>,
    bytes_since_last_index_entry: u64,
    /// When this process created or opened the segment: the fallback for `segment.ms` and
    /// time retention when batches carry no timestamps.
    created_ms: i64,
}

/// Paths of a segment's three files.
pub fn paths(dir: &Path, base_offset: Offset) -> [PathBuf; 3] {
    [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX]
        .map(|suffix| dir.join(file_name(base_offset, suffix)))
}

impl<F: StorageFile> Segment<F> {
    /// Creates the three empty files of a new segment.
    pub fn create<S: Storage<File = F>>(
        storage: &S,
        dir: &Path,
        base_offset: Offset,
        now_ms: i64,
    ) -> StorageResult<Self> {
        let [log_path, index_path, time_index_path] = paths(dir, base_offset);
        let log = storage.open(&log_path, OpenMode::CreateNew)?;
        let index = storage.open(&index_path, OpenMode::CreateOrExisting)?;
        let time_index = storage.open(&time_index_path, OpenMode::CreateOrExisting)?;
        let mut segment = Segment {
            base_offset,
            log,
            offset_index: OffsetIndex::empty(index, base_offset),
            time_index: TimeIndex::empty(time_index, base_offset),
            next_offset: base_offset,
            size_bytes: 0,
            max_timestamp: -1,
            rolling_base_timestamp: None,
            bytes_since_last_index_entry: 0,
            created_ms: now_ms,
        };
        // A leftover index from an earlier life of this base offset indexes nothing now.
        segment.offset_index.clear()?;
        segment.time_index.clear()?;
        Ok(segment)
    }

    /// Opens an existing segment, validating every batch and rebuilding both indexes from
    /// the log (recovery after an unclean stop). Damage is cut off: the log file is
    /// truncated at the first invalid batch.
    pub fn open_recovering<S: Storage<File = F>>(
        storage: &S,
        dir: &Path,
        base_offset: Offset,
        index_interval_bytes: u64,
        now_ms: i64,
    ) -> StorageResult<(Self, ScanOutcome)> {
        let mut segment = Self::open_files(storage, dir, base_offset, now_ms)?;
        let outcome = segment.rebuild(index_interval_bytes)?;
        Ok((segment, outcome))
    }

    /// Opens an existing segment whose log is trusted (it was synced before a clean
    /// shutdown, or lies before the recovery point). The indexes are loaded if they pass
    /// their checks; the batches after the last index entry are validated to find the end.
    /// If an index fails a check, or the log disagrees with it, or the tail is damaged, the
    /// segment is rebuilt from the log as in recovery; the index problem is returned.
    pub fn open_trusted<S: Storage<File = F>>(
        storage: &S,
        dir: &Path,
        base_offset: Offset,
        index_interval_bytes: u64,
        now_ms: i64,
    ) -> StorageResult<(Self, ScanOutcome, Option<IndexProblem>)> {
        let mut segment = Self::open_files(storage, dir, base_offset, now_ms)?;
        if let Err(problem) = segment.offset_index.load(segment.size_bytes)? {
            let outcome = segment.rebuild(index_interval_bytes)?;
            return Ok((segment, outcome, Some(problem)));
        }
        let (from_offset, from_position) =
            segment.offset_index.last_entry().unwrap_or((base_offset, 0));
        let tail = scan(
            &segment.log,
            segment.size_bytes,
            u64::from(from_position),
            from_offset,
            true,
            |_, _| Ok(()),
        )?;
        if let Some((position, _)) = &tail.outcome.damage {
            let problem = (*position == u64::from(from_position) && from_position > 0).then_some(
                IndexProblem::DisagreesWithLog { offset: from_offset, position: from_position },
            );
            let outcome = segment.rebuild(index_interval_bytes)?;
            return Ok((segment, outcome, problem));
        }
        segment.next_offset = tail.outcome.next_offset;
        segment.bytes_since_last_index_entry =
            tail.outcome.valid_end_position - u64::from(from_position);
        if let Err(problem) = segment.time_index.load(segment.next_offset)? {
            let outcome = segment.rebuild(index_interval_bytes)?;
            return Ok((segment, outcome, Some(problem)));
        }
        segment.max_timestamp =
            tail.max_timestamp.max(segment.time_index.last_timestamp().unwrap_or(-1));
        segment.rolling_base_timestamp = segment.first_batch_timestamp()?;
        let outcome = ScanOutcome {
            valid_end_position: segment.size_bytes,
            next_offset: segment.next_offset,
            damage: None,
        };
        Ok((segment, outcome, None))
    }

    fn open_files<S: Storage<File = F>>(
        storage: &S,
        dir: &Path,
        base_offset: Offset,
        now_ms: i64,
    ) -> StorageResult<Self> {
        let [log_path, index_path, time_index_path] = paths(dir, base_offset);
        let log = storage.open(&log_path, OpenMode::Existing)?;
        let size_bytes = log.len()?;
        let index = storage.open(&index_path, OpenMode::CreateOrExisting)?;
        let time_index = storage.open(&time_index_path, OpenMode::CreateOrExisting)?;
        Ok(Segment {
            base_offset,
            log,
            offset_index: OffsetIndex::empty(index, base_offset),
            time_index: TimeIndex::empty(time_index, base_offset),
            next_offset: base_offset,
            size_bytes,
            max_timestamp: -1,
            rolling_base_timestamp: None,
            bytes_since_last_index_entry: 0,
            created_ms: now_ms,
        })
    }

    fn first_batch_timestamp(&self) -> StorageResult<Option<i64>> {
        if self.size_bytes < BATCH_HEADER_BYTES as u64 {
            return Ok(None);
        }
        let mut header = [0u8; BATCH_HEADER_BYTES];
        self.log.read_exact_at(0, &mut header)?;
        Ok(BatchHeader::parse(&header).ok().map(|h| h.max_timestamp))
    }

    /// Validates the whole log file, rebuilds both indexes from it and cuts off anything
    /// from the first damage on.
    fn rebuild(&mut self, index_interval_bytes: u64) -> StorageResult<ScanOutcome> {
        self.offset_index.clear()?;
        self.time_index.clear()?;
        let mut entries = Vec::new();
        let mut max_timestamp = -1;
        let mut bytes_since_last_entry = 0u64;
        let mut rolling_base_timestamp = None;
        let scanned =
            scan(&self.log, self.size_bytes, 0, self.base_offset, true, |position, header| {
                rolling_base_timestamp.get_or_insert(header.max_timestamp);
                max_timestamp = max_timestamp.max(header.max_timestamp);
                if bytes_since_last_entry > index_interval_bytes {
                    entries.push((header.base_offset, position, max_timestamp));
                    bytes_since_last_entry = 0;
                }
                bytes_since_last_entry += header.total_bytes() as u64;
                Ok(())
            })?;
        for (offset, position, timestamp) in entries {
            self.offset_index.append(offset, position as u32)?;
            self.time_index.maybe_append(timestamp, offset)?;
        }
        let outcome = scanned.outcome;
        if outcome.valid_end_position < self.size_bytes {
            self.log.truncate(outcome.valid_end_position)?;
            self.size_bytes = outcome.valid_end_position;
        }
        self.next_offset = outcome.next_offset;
        self.max_timestamp = max_timestamp;
        self.bytes_since_last_index_entry = bytes_since_last_entry;
        self.rolling_base_timestamp = rolling_base_timestamp;
        Ok(outcome)
    }

    /// Appends batches already validated and stamped with their offsets; `headers` holds
    /// each batch's position within `batches` and its header.
    pub fn append(
        &mut self,
        batches: &[u8],
        headers: &[(usize, BatchHeader)],
        index_interval_bytes: u64,
    ) -> StorageResult<()> {
        assert!(!headers.is_empty(), "append needs at least one batch");
        assert_eq!(headers[0].1.base_offset, self.next_offset, "segment appends must be dense");
        let start = self.size_bytes;
        assert!(start + batches.len() as u64 <= u64::from(u32::MAX), "segment positions fit u32");
        let written_at = self.log.append(batches)?;
        assert_eq!(written_at, start, "the segment's size matches its file");
        self.size_bytes += batches.len() as u64;
        for &(relative_position, ref header) in headers {
            self.rolling_base_timestamp.get_or_insert(header.max_timestamp);
            self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
            if self.bytes_since_last_index_entry > index_interval_bytes {
                let position = (start + relative_position as u64) as u32;
                self.offset_index.append(header.base_offset, position)?;
                self.time_index.maybe_append(self.max_timestamp, header.base_offset)?;
                self.bytes_since_last_index_entry = 0;
            }
            self.bytes_since_last_index_entry += header.total_bytes() as u64;
            assert_eq!(header.base_offset, self.next_offset, "batches within an append are dense");
            self.next_offset = header.next_offset();
        }
        Ok(())
    }

    /// Whole batches holding `offset` and after, ending before `upper_bound`, at most
    /// `max_bytes` unless `min_one_batch` lets the first batch exceed it. Empty when the
    /// segment holds nothing at or after `offset` below `upper_bound`.
    pub fn read(
        &self,
        offset: Offset,
        max_bytes: usize,
        upper_bound: Offset,
        min_one_batch: bool,
    ) -> StorageResult<Bytes> {
        let position = self.position_of(offset)?;
        let mut window = Window::new(&self.log, self.size_bytes);
        let chunk_bytes = max_bytes.saturating_add(BATCH_HEADER_BYTES).min(64 << 20);
        let mut cursor = position;
        let mut first = None;
        while cursor < self.size_bytes {
            let head = window.get(cursor, BATCH_HEADER_BYTES, chunk_bytes)?;
            let Ok(header) = BatchHeader::parse(head) else { break };
            if header.next_offset() > upper_bound {
                break;
            }
            if header.last_offset() < offset {
                cursor += header.total_bytes() as u64;
                continue;
            }
            let start = *first.get_or_insert(cursor);
            let end = cursor + header.total_bytes() as u64;
            if end - start > max_bytes as u64 && !(min_one_batch && start == cursor) {
                break;
            }
            cursor = end;
            if end - start >= max_bytes as u64 {
                break;
            }
        }
        let Some(start) = first else { return Ok(Bytes::new()) };
        let len = (cursor - start) as usize;
        let bytes = window.get(start, len, len)?;
        assert_eq!(bytes.len(), len, "batches read lie inside the file");
        Ok(Bytes::copy_from_slice(bytes))
    }

    /// The file position of the batch holding `offset`, starting from the offset index and
    /// checking its entry against the log.
    fn position_of(&self, offset: Offset) -> StorageResult<u64> {
        let (indexed_offset, position) = self.offset_index.lookup(offset);
        if position == 0 {
            return Ok(0);
        }
        let mut head = [0u8; BATCH_HEADER_BYTES];
        let read = self.log.read_at(u64::from(position), &mut head)?;
        match BatchHeader::parse(&head[..read]) {
            Ok(header) if header.base_offset == indexed_offset => Ok(u64::from(position)),
            _ => {
                tracing::warn!(segment = %self.log.path().display(), %indexed_offset, position, "offset index entry disagrees with the log; scanning from the segment start");
                Ok(0)
            }
        }
    }

    /// The first batch at or after `from_offset` whose largest timestamp is at least
    /// `timestamp`, as (batch bytes), scanning from the time index's hint.
    pub fn find_batch_by_timestamp(
        &self,
        timestamp: i64,
        from_offset: Offset,
        upper_bound: Offset,
    ) -> StorageResult<Option<Bytes>> {
        let hint = self.time_index.lookup(timestamp).max(from_offset);
        let mut cursor = self.position_of(hint)?;
        let mut window = Window::new(&self.log, self.size_bytes);
        while cursor < self.size_bytes {
            let head = window.get(cursor, BATCH_HEADER_BYTES, SCAN_CHUNK_BYTES)?;
            let Ok(header) = BatchHeader::parse(head) else { break };
            if header.next_offset() > upper_bound {
                break;
            }
            if header.max_timestamp >= timestamp && header.last_offset() >= from_offset {
                let bytes = window.get(cursor, header.total_bytes(), SCAN_CHUNK_BYTES)?;
                return Ok(Some(Bytes::copy_from_slice(bytes)));
            }
            cursor += header.total_bytes() as u64;
        }
        Ok(None)
    }

    /// Removes every batch at or after the batch holding `offset`; returns the new
    /// `next_offset` (the start of that batch, which may be below `offset`).
    pub fn truncate_to(&mut self, offset: Offset) -> StorageResult<Offset> {
        if offset >= self.next_offset {
            return Ok(self.next_offset);
        }
        let mut cursor = self.position_of(offset)?;
        let mut window = Window::new(&self.log, self.size_bytes);
        let mut scan_offset = self.offset_index.lookup(offset).0;
        if cursor == 0 {
            scan_offset = self.base_offset;
        }
        while cursor < self.size_bytes {
            let head = window.get(cursor, BATCH_HEADER_BYTES, SCAN_CHUNK_BYTES)?;
            let header = BatchHeader::parse(head).expect("batches inside a segment were validated");
            if header.last_offset() >= offset {
                scan_offset = header.base_offset;
                break;
            }
            cursor += header.total_bytes() as u64;
            scan_offset = header.next_offset();
        }
        self.log.truncate(cursor)?;
        self.size_bytes = cursor;
        self.next_offset = scan_offset;
        self.offset_index.truncate_to(scan_offset)?;
        self.time_index.truncate_to(scan_offset)?;
        // The timestamps of what was cut may have been the largest; recompute cheaply from
        // what is left (a truncation is rare: a replica diverged).
        let mut max_timestamp = -1;
        let scanned = scan(&self.log, self.size_bytes, 0, self.base_offset, false, |_, header| {
            max_timestamp = max_timestamp.max(header.max_timestamp);
            Ok(())
        })?;
        assert!(scanned.outcome.damage.is_none(), "a truncated segment is still whole");
        self.max_timestamp = max_timestamp;
        self.bytes_since_last_index_entry = match self.offset_index.last_entry() {
            Some((_, position)) => self.size_bytes - u64::from(position),
            None => self.size_bytes,
        };
        if self.size_bytes == 0 {
            self.rolling_base_timestamp = None;
        }
        Ok(self.next_offset)
    }

    /// Makes the log file durable.
    pub fn sync_log(&mut self) -> StorageResult<()> {
        self.log.sync()
    }

    /// Makes the log file and both indexes durable (when the segment stops being active, and
    /// at shutdown).
    pub fn sync_all(&mut self) -> StorageResult<()> {
        self.log.sync()?;
        self.offset_index.sync()?;
        self.time_index.sync()
    }

    pub fn next_offset(&self) -> Offset {
        self.next_offset
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.size_bytes == 0
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    pub fn rolling_base_timestamp(&self) -> Option<i64> {
        self.rolling_base_timestamp
    }

    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }

    pub fn log_path(&self) -> &Path {
        self.log.path()
    }

    pub fn index_entry_count(&self) -> usize {
        self.offset_index.entry_count()
    }
}

/// What a scan saw: where it ended, and the largest timestamp of the batches it passed.
struct Scan {
    outcome: ScanOutcome,
    max_timestamp: i64,
}

/// Walks the batches of a segment's log file from `position` (where the batch starting at
/// `first_offset` lies) to `size_bytes`, checking density and, if `validate`, each batch's
/// length, magic and CRC. Stops at the first damage, which the outcome reports.
fn scan<F: StorageFile>(
    log: &F,
    size_bytes: u64,
    position: u64,
    first_offset: Offset,
    validate: bool,
    mut visit: impl FnMut(u64, &BatchHeader) -> Result<(), Damage>,
) -> StorageResult<Scan> {
    let mut window = Window::new(log, size_bytes);
    let mut position = position;
    let mut expected = first_offset;
    let mut max_timestamp = -1;
    let mut damage = None;
    while position < size_bytes {
        let available = (size_bytes - position) as usize;
        let head = window.get(position, BATCH_HEADER_BYTES, SCAN_CHUNK_BYTES)?;
        let mut checked = BatchHeader::parse(head).map_err(Damage::from).and_then(|header| {
            if header.total_bytes() > available {
                return Err(
                    BatchError::BadLength { batch_length: header.batch_length, available }.into()
                );
            }
            if header.base_offset != expected {
                return Err(Damage::NotDense { expected, found: header.base_offset });
            }
            Ok(header)
        });
        if let (Ok(header), true) = (&checked, validate) {
            let whole = window.get(position, header.total_bytes(), SCAN_CHUNK_BYTES)?;
            if let Err(e) = batch::validate(whole) {
                checked = Err(e.into());
            }
        }
        match checked.and_then(|header| visit(position, &header).map(|()| header)) {
            Ok(header) => {
                max_timestamp = max_timestamp.max(header.max_timestamp);
                expected = header.next_offset();
                position += header.total_bytes() as u64;
            }
            Err(found) => {
                damage = Some((position, found));
                break;
            }
        }
    }
    Ok(Scan {
        outcome: ScanOutcome { valid_end_position: position, next_offset: expected, damage },
        max_timestamp,
    })
}
