//! The leader-epoch cache of one partition log, as Kafka keeps it (`LeaderEpochFileCache`).
//!
//! Inputs: the leader epoch of each batch appended (`assign`), truncations at either end of
//! the log, and requests for an epoch's end offset (OffsetsForLeaderEpoch, a Fetch's last
//! fetched epoch). Outputs: `(epoch, end_offset)` answers, and the `leader-epoch-checkpoint`
//! file beside the segments.
//!
//! Invariants (asserted after every change): entries are strictly increasing in both epoch
//! and start offset; every epoch is a real one (`>= 0`).
//!
//! Persistence: every change rewrites `leader-epoch-checkpoint` in Kafka's text format (a
//! version line `0`, a count line, then one `epoch start_offset` line per entry), atomically
//! (temporary file, sync, rename, directory sync). The file is derived data: [`load`] fits it
//! to the log (drops entries at or past the log end, cuts entries before the log start), and
//! rebuilds it from the `partition_leader_epoch` of the log's batches when it is missing or
//! does not parse, with one log line. For the fitted file to be right after a crash, callers
//! keep two orders: `assign` an epoch *before* appending its first batch (a crash then leaves
//! an entry at or past the log end, which fitting drops), and truncate the log *before* the
//! cache (a crash then leaves entries past the new end, which fitting drops; the other order
//! could leave batches of an epoch the file no longer names).
//!
//! [`load`]: LeaderEpochCache::load

use super::batch::BatchHeader;
use super::checkpoint;
use super::{Log, LogError};
use crate::storage::{OpenMode, Storage, StorageFile, StorageResult};
use crate::types::{LeaderEpoch, Offset};
use std::fmt;
use std::path::{Path, PathBuf};

/// The checkpoint's name in the partition directory, as Kafka names it.
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
const CHECKPOINT_VERSION: &str = "0";
/// How many bytes of log one read takes while rebuilding.
const REBUILD_READ_BYTES: usize = 1 << 20;

/// One epoch's first offset in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EpochEntry {
    pub epoch: LeaderEpoch,
    pub start_offset: Offset,
}

impl fmt::Display for EpochEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(epoch {}, start {})", self.epoch, self.start_offset)
    }
}

/// What [`LeaderEpochCache::load`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheLoad {
    /// The checkpoint was read (and fitted to the log).
    Read,
    /// There was no checkpoint: rebuilt from the log's batches.
    RebuiltMissing,
    /// The checkpoint did not parse (the reason): rebuilt from the log's batches.
    RebuiltCorrupt(String),
}

/// A partition's leader epochs and where each starts, persisted beside the log.
pub struct LeaderEpochCache<S: Storage> {
    storage: S,
    dir: PathBuf,
    entries: Vec<EpochEntry>,
    load: CacheLoad,
}

impl<S: Storage> fmt::Debug for LeaderEpochCache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaderEpochCache")
            .field("dir", &self.dir)
            .field("entries", &self.entries)
            .finish()
    }
}

impl<S: Storage> LeaderEpochCache<S> {
    /// Loads the cache of `log` from its directory, fitted to the log's offsets; rebuilds it
    /// from the log's batches when the checkpoint is missing or corrupt. Open the log first:
    /// opening it removes leftover temporary files, this cache's included.
    pub fn load(storage: S, log: &Log<S>) -> Result<Self, LogError> {
        let dir = log.dir().to_path_buf();
        let path = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
        let read = if storage.exists(&path)? {
            let bytes = storage.open(&path, OpenMode::Existing)?.read_all()?;
            Some(parse(&bytes))
        } else {
            None
        };
        let (entries, load) = match read {
            Some(Ok(entries)) => (entries, CacheLoad::Read),
            Some(Err(why)) => {
                let entries = rebuild(log)?;
                tracing::warn!(file = %path.display(), %why, rebuilt_entries = entries.len(), "corrupt leader-epoch checkpoint; rebuilt from the log's batches");
                (entries, CacheLoad::RebuiltCorrupt(why))
            }
            None => {
                let entries = rebuild(log)?;
                tracing::info!(file = %path.display(), rebuilt_entries = entries.len(), "no leader-epoch checkpoint; rebuilt from the log's batches");
                (entries, CacheLoad::RebuiltMissing)
            }
        };
        let mut cache = LeaderEpochCache { storage, dir, entries, load };
        cache.assert_invariants();
        let before = cache.entries.clone();
        cache.entries.retain(|e| e.start_offset < log.log_end_offset());
        fit_to_start(&mut cache.entries, log.log_start_offset());
        if cache.entries != before || cache.load != CacheLoad::Read {
            cache.write()?;
        }
        cache.assert_invariants();
        Ok(cache)
    }

    /// What loading found.
    pub fn load_outcome(&self) -> &CacheLoad {
        &self.load
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest epoch, if the log has any batch with an epoch.
    pub fn latest_epoch(&self) -> Option<LeaderEpoch> {
        self.entries.last().map(|e| e.epoch)
    }

    /// The newest entry.
    pub fn latest_entry(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// The epoch of the batch holding `offset`, as far as the cache knows: the newest entry
    /// starting at or before it.
    pub fn epoch_for_offset(&self, offset: Offset) -> Option<LeaderEpoch> {
        let after = self.entries.partition_point(|e| e.start_offset <= offset);
        (after > 0).then(|| self.entries[after - 1].epoch)
    }

    /// Records that `epoch` starts at `start_offset`; call it before appending the epoch's
    /// first batch. An entry for the newest epoch at a later offset changes nothing. Entries
    /// that would break the order (an epoch not above the newest, a start not above the
    /// newest start) are removed first, with a warning, as Kafka does.
    pub fn assign(&mut self, epoch: LeaderEpoch, start_offset: Offset) -> StorageResult<()> {
        assert!(epoch.0 >= 0, "assign of an unknown epoch {epoch} at {start_offset}");
        assert!(start_offset.0 >= 0, "assign of epoch {epoch} at negative offset {start_offset}");
        if let Some(latest) = self.entries.last() {
            if latest.epoch == epoch && latest.start_offset <= start_offset {
                return Ok(());
            }
        }
        let new = EpochEntry { epoch, start_offset };
        let before = self.entries.len();
        self.entries.retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        if self.entries.len() != before {
            tracing::warn!(dir = %self.dir.display(), entry = %new, removed = before - self.entries.len(), "leader epoch assignment out of order; removed the conflicting entries");
        }
        self.entries.push(new);
        self.assert_invariants();
        self.write()
    }

    /// Kafka's OffsetsForLeaderEpoch: for `epoch`, the largest known epoch at or below it and
    /// the offset where that epoch ends (the start of the next known epoch, or
    /// `log_end_offset` for the newest). An epoch older than every entry answers itself with
    /// the first entry's start; an epoch newer than every entry, or an empty cache, answers
    /// `None` (Kafka's UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET).
    pub fn end_offset_for(
        &self,
        epoch: LeaderEpoch,
        log_end_offset: Offset,
    ) -> Option<(LeaderEpoch, Offset)> {
        if epoch.0 < 0 {
            return None;
        }
        let latest = self.entries.last()?;
        if latest.epoch == epoch {
            return Some((epoch, log_end_offset));
        }
        let higher = self.entries.partition_point(|e| e.epoch <= epoch);
        if higher == self.entries.len() {
            return None;
        }
        let next_start = self.entries[higher].start_offset;
        if higher == 0 {
            Some((epoch, next_start))
        } else {
            Some((self.entries[higher - 1].epoch, next_start))
        }
    }

    /// Removes every entry starting at or after `offset` (the log was truncated to `offset`;
    /// truncate the log first).
    pub fn truncate_from_end(&mut self, offset: Offset) -> StorageResult<()> {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < offset);
        if self.entries.len() == before {
            return Ok(());
        }
        self.assert_invariants();
        self.write()
    }

    /// Forgets epochs that ended before `offset` (the log start moved to `offset`): the
    /// newest entry starting at or before it is kept, moved to start at `offset`.
    pub fn truncate_from_start(&mut self, offset: Offset) -> StorageResult<()> {
        let before = self.entries.clone();
        fit_to_start(&mut self.entries, offset);
        if self.entries == before {
            return Ok(());
        }
        self.assert_invariants();
        self.write()
    }

    /// The checkpoint's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(LEADER_EPOCH_CHECKPOINT_FILE)
    }

    fn write(&self) -> StorageResult<()> {
        checkpoint::write_atomically(
            &self.storage,
            &self.dir,
            LEADER_EPOCH_CHECKPOINT_FILE,
            format(&self.entries).as_bytes(),
        )
    }

    fn assert_invariants(&self) {
        for entry in &self.entries {
            assert!(entry.epoch.0 >= 0, "epoch cache entry {entry} has an unknown epoch");
            assert!(entry.start_offset.0 >= 0, "epoch cache entry {entry} has a negative start");
        }
        for pair in self.entries.windows(2) {
            assert!(pair[0].epoch < pair[1].epoch, "epochs increase: {} then {}", pair[0], pair[1]);
            assert!(
                pair[0].start_offset < pair[1].start_offset,
                "start offsets increase: {} then {}",
                pair[0],
                pair[1]
            );
        }
    }
}

/// Drops entries wholly before `offset` and moves the newest one at or before it to start at
/// `offset`.
fn fit_to_start(entries: &mut Vec<EpochEntry>, offset: Offset) {
    let at_or_before = entries.partition_point(|e| e.start_offset <= offset);
    if at_or_before == 0 {
        return;
    }
    entries.drain(..at_or_before - 1);
    entries[0].start_offset = offset;
}

/// The checkpoint's text: `0`, the count, then `epoch start_offset` per line.
pub fn format(entries: &[EpochEntry]) -> String {
    let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", entries.len());
    for entry in entries {
        text.push_str(&format!("{} {}\n", entry.epoch.0, entry.start_offset.0));
    }
    text
}

/// Parses a checkpoint, or says why it is not one: wrong version, a count that does not
/// match the lines, a malformed line, or entries out of order.
pub fn parse(bytes: &[u8]) -> Result<Vec<EpochEntry>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let mut lines = text.lines();
    match lines.next() {
        Some(CHECKPOINT_VERSION) => {}
        Some(other) => return Err(format!("unknown version line {other:?}")),
        None => return Err("empty file".to_string()),
    }
    let count: usize = lines
        .next()
        .ok_or("no count line")?
        .trim()
        .parse()
        .map_err(|_| "count line is not a number".to_string())?;
    let mut entries = Vec::with_capacity(count.min(1024));
    for (i, line) in lines.enumerate() {
        let mut fields = line.split_whitespace();
        let parsed = match (fields.next(), fields.next(), fields.next()) {
            (Some(epoch), Some(offset), None) => epoch.parse::<i32>().ok().zip(offset.parse().ok()),
            _ => None,
        };
        let Some((epoch, offset)) = parsed.filter(|&(e, o)| e >= 0 && o >= 0) else {
            return Err(format!("entry line {} ({line:?}) is not `epoch start_offset`", i + 1));
        };
        let entry = EpochEntry { epoch: LeaderEpoch(epoch), start_offset: Offset(offset) };
        if let Some(previous) = entries.last() {
            let previous: &EpochEntry = previous;
            if previous.epoch >= entry.epoch || previous.start_offset >= entry.start_offset {
                return Err(format!("entry {entry} does not follow {previous}"));
            }
        }
        entries.push(entry);
    }
    if entries.len() != count {
        return Err(format!("count line says {count} entries, found {}", entries.len()));
    }
    Ok(entries)
}

/// Walks every batch header of `log` and records where each new epoch starts.
fn rebuild<S: Storage>(log: &Log<S>) -> Result<Vec<EpochEntry>, LogError> {
    let mut entries: Vec<EpochEntry> = Vec::new();
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    while offset < end {
        let read = log.read(offset, REBUILD_READ_BYTES, end, true)?;
        let mut rest = &read.records[..];
        assert!(!rest.is_empty(), "a read below the log end returns a batch");
        while !rest.is_empty() {
            let header = BatchHeader::parse(rest).expect("stored batches parse");
            let epoch = header.partition_leader_epoch;
            match entries.last() {
                _ if epoch.0 < 0 => {}
                Some(latest) if latest.epoch >= epoch => {
                    if latest.epoch > epoch {
                        tracing::warn!(log = %log.dir().display(), offset = %header.base_offset, %epoch, latest = %latest.epoch, "batch epoch below an earlier batch's; ignored by the epoch cache");
                    }
                }
                _ => entries.push(EpochEntry { epoch, start_offset: header.base_offset }),
            }
            offset = header.next_offset();
            rest = &rest[header.total_bytes()..];
        }
    }
    Ok(entries)
}

/// The checkpoint's path in `dir` (for tests and tools).
pub fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join(LEADER_EPOCH_CHECKPOINT_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::tests::batch;
    use crate::log::LogConfig;
    use crate::storage::FileStorage;

    const NOW_MS: i64 = 1_700_000_000_000;

    fn e(epoch: i32, start: i64) -> EpochEntry {
        EpochEntry { epoch: LeaderEpoch(epoch), start_offset: Offset(start) }
    }

    struct Fixture {
        _tmp: tempfile::TempDir,
        dir: PathBuf,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("__cluster_metadata-0");
        Fixture { _tmp: tmp, dir }
    }

    fn open_log(dir: &Path) -> Log<FileStorage> {
        Log::open(FileStorage::new(), dir, LogConfig::default(), NOW_MS).expect("open log")
    }

    /// A log holding batches of 2 records stamped with `epochs`, in order.
    fn log_with_epochs(dir: &Path, epochs: &[i32]) -> Log<FileStorage> {
        let mut log = open_log(dir);
        for &epoch in epochs {
            log.append(&batch(2, NOW_MS), LeaderEpoch(epoch), NOW_MS).expect("append");
        }
        log
    }

    fn read_file(dir: &Path) -> String {
        std::fs::read_to_string(checkpoint_path(dir)).expect("checkpoint exists")
    }

    #[test]
    fn a_missing_checkpoint_is_rebuilt_from_batch_epochs_and_written() {
        let f = fixture();
        let log = log_with_epochs(&f.dir, &[1, 1, 3, 3, 3, 4]);
        let cache = LeaderEpochCache::load(FileStorage::new(), &log).expect("load");
        assert_eq!(cache.load_outcome(), &CacheLoad::RebuiltMissing);
        assert_eq!(cache.entries(), &[e(1, 0), e(3, 4), e(4, 10)]);
        assert_eq!(read_file(&f.dir), "0\n3\n1 0\n3 4\n4 10\n");
    }

    #[test]
    fn the_file_uses_kafkas_text_format_and_reads_back() {
        let f = fixture();
        let log = log_with_epochs(&f.dir, &[]);
        let mut cache = LeaderEpochCache::load(FileStorage::new(), &log).expect("load");
        assert_eq!(read_file(&f.dir), "0\n0\n");
        cache.assign(LeaderEpoch(2), Offset(0)).expect("assign");
        cache.assign(LeaderEpoch(5), Offset(7)).expect("assign");
        assert_eq!(read_file(&f.dir), "0\n2\n2 0\n5 7\n");
        assert_eq!(parse(read_file(&f.dir).as_bytes()), Ok(vec![e(2, 0), e(5, 7)]));
    }

    #[test]
    fn a_corrupt_checkpoint_is_rebuilt() {
        let f = fixture();
        let log = log_with_epochs(&f.dir, &[2, 2, 6]);
        for garbage in
            ["", "1\n0\n", "0\n2\n2 0\n", "0\n1\n2 x\n", "0\n2\n6 0\n2 4\n", "\u{0}\u{ff}"]
        {
            std::fs::write(checkpoint_path(&f.dir), garbage).expect("write");
            let cache = LeaderEpochCache::load(FileStorage::new(), &log).expect("load");
            assert!(
                matches!(cache.load_outcome(), CacheLoad::RebuiltCorrupt(_)),
                "{garbage:?} gave {:?}",
                cache.load_outcome()
            );
            assert_eq!(cache.entries(), &[e(2, 0), e(6, 4)], "{garbage:?}");
            assert_eq!(read_file(&f.dir), "0\n2\n2 0\n6 4\n");
        }
    }

    #[test]
    fn loading_drops_entries_at_or_past_the_log_end() {
        // The cache was written for an epoch whose first batch a crash then took.
        let f = fixture();
        let log = log_with_epochs(&f.dir, &[1, 1]);
        std::fs::write(checkpoint_path(&f.dir), "0\n3\n1 0\n2 4\n3 9\n").expect("write");
        let cache = LeaderEpochCache::load(FileStorage::new(), &log).expect("load");
        assert_eq!(cache.load_outcome(), &CacheLoad::Read);
        assert_eq!(cache.entries(), &[e(1, 0)]);
        assert_eq!(read_file(&f.dir), "0\n1\n1 0\n");
    }

    #[test]
    fn assign_keeps_both_columns_strictly_increasing() {
        let f = fixture();
        let log = log_with_epochs(&f.dir, &[]);
        let mut cache = LeaderEpochCache::load(FileStorage::new(), &log).expect("load");
        cache.assign(LeaderEpoch(1), Offset(0)).expect("assign");
        cache.assign(LeaderEpoch(1), Offset(5)).expect("same epoch later: no-op");
        assert_eq!(cache.entries(), &[e(1, 0)]);
        cache.assign(LeaderEpoch(3), Offset(10)).expect("assign");
        cache.assign(LeaderEpoch(4), Offset(20)).expect("assign");
        // An older epoch, or a start not above the newest, removes what conflicts.
        cache.assign(LeaderEpoch(4), Offset(15)).expect("assign");
        assert_eq!(cache.entries(), &[e(1, 0), e(3, 10), e(4, 15)]);
        cache.assign(LeaderEpoch(2), Offset(12)).expect("assign");
        assert_eq!(cache.entries(), &[e(1, 0), e(2, 12)]);
        assert_eq!(cache.latest_epoch(), Some(LeaderEpoch(2)));
    }

    #[test]
    fn end_offset_for_follows_offsets_for_leader_epoch() {
        let f = fixture();
        let log = log_with_epochs(&f.dir, &[]);
        let mut cache = LeaderEpochCache::load(FileStorage::new(), &log).expect("load");
        assert_eq!(cache.end_offset_for(LeaderEpoch(0), Offset(0)), None, "empty cache");
        cache.assign(LeaderEpoch(2), Offset(3)).expect("assign");
        cache.assign(LeaderEpoch(4), Offset(10)).expect("assign");
        cache.assign(LeaderEpoch(7), Offset(20)).expect("assign");
        let leo = Offset(25);
        let end = |epoch| cache.end_offset_for(LeaderEpoch(epoch), leo);
        assert_eq!(end(-1), None, "undefined epoch");
        assert_eq!(end(1), Some((LeaderEpoch(1), Offset(3))), "older than all: first start");
        assert_eq!(end(2), Some((LeaderEpoch(2), Offset(10))));
        assert_eq!(end(3), Some((LeaderEpoch(2), Offset(10))), "unknown epoch: the one below");
        assert_eq!(end(4), Some((LeaderEpoch(4), Offset(20))));
        assert_eq!(end(6), Some((LeaderEpoch(4), Offset(20))));
        assert_eq!(end(7), Some((LeaderEpoch(7), leo)), "newest: the log end");
        assert_eq!(end(8), None, "newer than all");
    }

    #[test]
    fn truncation_from_either_end() {
        let f = fixture();
        let log = log_with_epochs(&f.dir, &[]);
        let mut cache = LeaderEpochCache::load(FileStorage::new(), &log).expect("load");
        for (epoch, start) in [(1, 0), (2, 5), (4, 9), (5, 14)] {
            cache.assign(LeaderEpoch(epoch), Offset(start)).expect("assign");
        }
        cache.truncate_from_end(Offset(9)).expect("truncate");
        assert_eq!(cache.entries(), &[e(1, 0), e(2, 5)]);
        cache.truncate_from_end(Offset(100)).expect("no-op");
        assert_eq!(cache.entries(), &[e(1, 0), e(2, 5)]);
        cache.assign(LeaderEpoch(6), Offset(9)).expect("assign");
        cache.truncate_from_start(Offset(7)).expect("truncate");
        assert_eq!(cache.entries(), &[e(2, 7), e(6, 9)]);
        cache.truncate_from_start(Offset(9)).expect("truncate");
        assert_eq!(cache.entries(), &[e(6, 9)]);
        assert_eq!(read_file(&f.dir), "0\n1\n6 9\n");
        assert_eq!(cache.epoch_for_offset(Offset(8)), None);
        assert_eq!(cache.epoch_for_offset(Offset(30)), Some(LeaderEpoch(6)));
    }

    #[test]
    fn a_leftover_temporary_file_does_not_replace_the_checkpoint() {
        // A crash after writing the temporary file but before the rename: the log's open
        // removes the temporary file, and the old checkpoint stands.
        let f = fixture();
        drop(log_with_epochs(&f.dir, &[1, 2]));
        std::fs::write(checkpoint_path(&f.dir), "0\n2\n1 0\n2 2\n").expect("write");
        let temporary = f.dir.join(format!("{LEADER_EPOCH_CHECKPOINT_FILE}.tmp"));
        std::fs::write(&temporary, "0\n1\n9 0\n").expect("write");
        let log = open_log(&f.dir);
        let cache = LeaderEpochCache::load(FileStorage::new(), &log).expect("load");
        assert_eq!(cache.entries(), &[e(1, 0), e(2, 2)]);
        assert!(!temporary.exists());
    }
}
