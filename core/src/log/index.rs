//! Sparse indexes of one segment: offset -> file position, and timestamp -> offset.
//!
//! Inputs: entries appended as the segment grows (one per `index.interval.bytes` of log), and
//! the index file's bytes when a segment is opened. Outputs: the position to start scanning
//! from for an offset or a timestamp.
//! Invariants: entries strictly increase in offset and position (offset index) and in
//! timestamp and offset (time index). Indexes are derived data: a file that fails
//! [`OffsetIndex::load`]'s checks is rebuilt from the log, and a position found here is
//! checked against the batch stored there before it is trusted.
//!
//! File formats are Kafka's: the offset index is (relative offset u32, position u32) pairs,
//! the time index (timestamp i64, relative offset u32) pairs, both big-endian.

use crate::storage::{StorageFile, StorageResult};
use crate::types::Offset;

pub const OFFSET_ENTRY_BYTES: usize = 8;
pub const TIME_ENTRY_BYTES: usize = 12;

/// Why an index file was not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexProblem {
    #[error("length {len} is not a multiple of the entry size {entry_bytes}")]
    RaggedLength { len: u64, entry_bytes: usize },
    #[error("entry {entry} does not increase ({detail})")]
    NotIncreasing { entry: usize, detail: String },
    #[error("entry {entry} points at position {position}, past the log's {log_bytes} bytes")]
    PastEndOfLog { entry: usize, position: u32, log_bytes: u64 },
    #[error("last entry names offset {offset} at position {position}, where the log holds another batch")]
    DisagreesWithLog { offset: Offset, position: u32 },
    #[error(
        "entry {entry} names offset {offset}, outside the segment [{base_offset}, {next_offset})"
    )]
    OutsideSegment { entry: usize, offset: Offset, base_offset: Offset, next_offset: Offset },
}

fn relative(base_offset: Offset, offset: Offset) -> u32 {
    let delta = offset.distance_from(base_offset);
    u32::try_from(delta).expect("segments roll before relative offsets overflow u32")
}

/// Offset -> position, one entry per `index.interval.bytes` of log.
#[derive(Debug)]
pub struct OffsetIndex<F: StorageFile> {
    file: F,
    base_offset: Offset,
    entries: Vec<(u32, u32)>,
}

impl<F: StorageFile> OffsetIndex<F> {
    /// An index over an empty file.
    pub fn empty(file: F, base_offset: Offset) -> Self {
        OffsetIndex { file, base_offset, entries: Vec::new() }
    }

    /// Reads and checks the index file against the log it indexes (`log_bytes` long). On a
    /// problem the index is left empty and the caller rebuilds it from the log.
    pub fn load(&mut self, log_bytes: u64) -> StorageResult<Result<(), IndexProblem>> {
        self.entries.clear();
        let bytes = self.file.read_all()?;
        if bytes.len() % OFFSET_ENTRY_BYTES != 0 {
            return Ok(Err(IndexProblem::RaggedLength {
                len: bytes.len() as u64,
                entry_bytes: OFFSET_ENTRY_BYTES,
            }));
        }
        let mut entries: Vec<(u32, u32)> = Vec::with_capacity(bytes.len() / OFFSET_ENTRY_BYTES);
        for (entry, chunk) in bytes.chunks_exact(OFFSET_ENTRY_BYTES).enumerate() {
            let relative_offset = u32::from_be_bytes(chunk[0..4].try_into().expect("4"));
            let position = u32::from_be_bytes(chunk[4..8].try_into().expect("4"));
            if u64::from(position) >= log_bytes {
                return Ok(Err(IndexProblem::PastEndOfLog { entry, position, log_bytes }));
            }
            if let Some(&(last_offset, last_position)) = entries.last() {
                if relative_offset <= last_offset || position <= last_position {
                    let detail = format!(
                        "({relative_offset}, {position}) after ({last_offset}, {last_position})"
                    );
                    return Ok(Err(IndexProblem::NotIncreasing { entry, detail }));
                }
            }
            entries.push((relative_offset, position));
        }
        self.entries = entries;
        Ok(Ok(()))
    }

    /// Adds an entry for the batch starting at `offset`, stored at `position`.
    pub fn append(&mut self, offset: Offset, position: u32) -> StorageResult<()> {
        let relative_offset = relative(self.base_offset, offset);
        if let Some(&(last_offset, last_position)) = self.entries.last() {
            assert!(relative_offset > last_offset, "offset index must increase: {offset}");
            assert!(position > last_position, "offset index positions must increase: {position}");
        }
        let mut entry = [0u8; OFFSET_ENTRY_BYTES];
        entry[0..4].copy_from_slice(&relative_offset.to_be_bytes());
        entry[4..8].copy_from_slice(&position.to_be_bytes());
        self.file.append(&entry)?;
        self.entries.push((relative_offset, position));
        Ok(())
    }

    /// The last entry at or before `offset`: where to start scanning for it. Before any
    /// entry, the segment's start.
    pub fn lookup(&self, offset: Offset) -> (Offset, u32) {
        if offset < self.base_offset {
            return (self.base_offset, 0);
        }
        let target = offset.distance_from(self.base_offset);
        let count = self
            .entries
            .partition_point(|&(relative_offset, _)| i64::from(relative_offset) <= target);
        match count {
            0 => (self.base_offset, 0),
            n => {
                let (relative_offset, position) = self.entries[n - 1];
                (self.base_offset.plus(i64::from(relative_offset)), position)
            }
        }
    }

    /// The last entry, if any.
    pub fn last_entry(&self) -> Option<(Offset, u32)> {
        self.entries.last().map(|&(relative_offset, position)| {
            (self.base_offset.plus(i64::from(relative_offset)), position)
        })
    }

    /// Drops entries for offsets at or after `offset` (the log was cut there).
    pub fn truncate_to(&mut self, offset: Offset) -> StorageResult<()> {
        let keep = if offset <= self.base_offset {
            0
        } else {
            let target = offset.distance_from(self.base_offset);
            self.entries
                .partition_point(|&(relative_offset, _)| i64::from(relative_offset) < target)
        };
        self.entries.truncate(keep);
        self.file.truncate((keep * OFFSET_ENTRY_BYTES) as u64)
    }

    /// Forgets every entry (before a rebuild).
    pub fn clear(&mut self) -> StorageResult<()> {
        self.entries.clear();
        self.file.truncate(0)
    }

    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    pub fn sync(&mut self) -> StorageResult<()> {
        self.file.sync()
    }
}

/// Timestamp -> offset: an entry whenever the segment's largest timestamp grows by the time
/// an offset index entry is written.
#[derive(Debug)]
pub struct TimeIndex<F: StorageFile> {
    file: F,
    base_offset: Offset,
    entries: Vec<(i64, u32)>,
}

impl<F: StorageFile> TimeIndex<F> {
    pub fn empty(file: F, base_offset: Offset) -> Self {
        TimeIndex { file, base_offset, entries: Vec::new() }
    }

    /// Reads and checks the time index file; offsets must lie in `[base_offset, next_offset)`.
    /// On a problem the index is left empty and the caller rebuilds it from the log.
    pub fn load(&mut self, next_offset: Offset) -> StorageResult<Result<(), IndexProblem>> {
        self.entries.clear();
        let base_offset = self.base_offset;
        let bytes = self.file.read_all()?;
        if bytes.len() % TIME_ENTRY_BYTES != 0 {
            return Ok(Err(IndexProblem::RaggedLength {
                len: bytes.len() as u64,
                entry_bytes: TIME_ENTRY_BYTES,
            }));
        }
        let mut entries: Vec<(i64, u32)> = Vec::with_capacity(bytes.len() / TIME_ENTRY_BYTES);
        for (entry, chunk) in bytes.chunks_exact(TIME_ENTRY_BYTES).enumerate() {
            let timestamp = i64::from_be_bytes(chunk[0..8].try_into().expect("8"));
            let relative_offset = u32::from_be_bytes(chunk[8..12].try_into().expect("4"));
            let offset = base_offset.plus(i64::from(relative_offset));
            if offset >= next_offset {
                return Ok(Err(IndexProblem::OutsideSegment {
                    entry,
                    offset,
                    base_offset,
                    next_offset,
                }));
            }
            if let Some(&(last_timestamp, last_offset)) = entries.last() {
                if timestamp <= last_timestamp || relative_offset < last_offset {
                    let detail = format!(
                        "({timestamp}, {relative_offset}) after ({last_timestamp}, {last_offset})"
                    );
                    return Ok(Err(IndexProblem::NotIncreasing { entry, detail }));
                }
            }
            entries.push((timestamp, relative_offset));
        }
        self.entries = entries;
        Ok(Ok(()))
    }

    /// The largest timestamp indexed.
    pub fn last_timestamp(&self) -> Option<i64> {
        self.entries.last().map(|&(timestamp, _)| timestamp)
    }

    /// Records that the segment's largest timestamp reached `timestamp` at the batch starting
    /// at `offset`; ignored unless the timestamp grew.
    pub fn maybe_append(&mut self, timestamp: i64, offset: Offset) -> StorageResult<()> {
        if self.entries.last().is_some_and(|&(last, _)| timestamp <= last) {
            return Ok(());
        }
        let relative_offset = relative(self.base_offset, offset);
        let mut entry = [0u8; TIME_ENTRY_BYTES];
        entry[0..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..12].copy_from_slice(&relative_offset.to_be_bytes());
        self.file.append(&entry)?;
        self.entries.push((timestamp, relative_offset));
        Ok(())
    }

    /// The offset to start scanning from for the first record with a timestamp at or after
    /// `timestamp`: the entry with the largest timestamp below it, or the segment's start.
    pub fn lookup(&self, timestamp: i64) -> Offset {
        let count =
            self.entries.partition_point(|&(entry_timestamp, _)| entry_timestamp < timestamp);
        match count {
            0 => self.base_offset,
            n => self.base_offset.plus(i64::from(self.entries[n - 1].1)),
        }
    }

    /// Drops entries for offsets at or after `offset`.
    pub fn truncate_to(&mut self, offset: Offset) -> StorageResult<()> {
        let keep = if offset <= self.base_offset {
            0
        } else {
            let target = offset.distance_from(self.base_offset);
            self.entries
                .partition_point(|&(_, relative_offset)| i64::from(relative_offset) < target)
        };
        self.entries.truncate(keep);
        self.file.truncate((keep * TIME_ENTRY_BYTES) as u64)
    }

    pub fn clear(&mut self) -> StorageResult<()> {
        self.entries.clear();
        self.file.truncate(0)
    }

    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    pub fn sync(&mut self) -> StorageResult<()> {
        self.file.sync()
    }
}
