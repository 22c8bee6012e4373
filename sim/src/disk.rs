//! SimStorage: a deterministic page-cache model of one node's disk.
//!
//! Inputs: the broker's calls through [`Storage`] and [`StorageFile`], and the testbed's
//! [`SimStorage::crash`], [`SimStorage::set_faults`] and [`SimStorage::flip_byte`]. Outputs: the
//! bytes and directory entries that reads see, the [`CrashReport`] of what a crash lost, and
//! [`DiskStats`]. Every random choice comes from one `ChaCha8Rng` seeded by
//! [`SimStorage::new`], and all state lives in `BTreeMap`s, so the same seed and the same calls
//! give the same bytes and the same reports.
//!
//! The model. A file is an inode with `durable` bytes (on the platter as of its last `sync`),
//! the ordered operations applied since (appends, truncates) and the `current` bytes that reads
//! see. A directory is an inode with `durable` entries (as of its last `sync_dir`), the ordered
//! entry operations since (link, unlink, same-directory rename) and the `current` entries.
//! - `sync` makes a file's pending operations durable, `sync_dir` a directory's.
//!   `create_dir_all` syncs every directory it adds an entry to, as the trait promises.
//! - A cross-directory rename is an unlink in one directory and a link in the other, each
//!   pending in its own directory: a crash may keep both names, one, or neither.
//! - `crash(KeepPageCache)`: the process died, the kernel did not; everything survives.
//! - `crash(LosePageCache)`: power loss. Per file, a random prefix, counted in bytes across the
//!   pending operations (a truncate counts as one), reaches the platter: none of it a quarter of
//!   the time, all of it a quarter, else any amount, as recovery bugs live at the edges. With
//!   `torn_writes`, a run of 1..=[`PAGE_BYTES`] bytes ending where the prefix ends may be garbage,
//!   and a file that lost appends may be extended by zeros (its size reached the disk, its data
//!   did not). Per directory, a random prefix of the pending entry operations survives. Inodes
//!   that no directory entry reaches afterwards are dropped.
//! - Faults on demand ([`DiskFaults`]): any call may fail with an injected I/O error, before it
//!   has any effect (a failed `sync` keeps the dirty pages; Linux may drop them, which this model
//!   does not show). A read may return one flipped bit; the stored bytes stay intact. A lying
//!   disk (`sync_is_noop`) answers `sync` and `sync_dir` with success and makes nothing durable,
//!   as a drive that acknowledges cache flushes without doing them; `create_dir_all` stays
//!   durable (the trait promises it without a flush call from the broker).
//! - Paths are taken from the disk's root, component by component: `/a/./b` is `a/b`, and `..`
//!   is refused with `InvalidInput`. Where the trait is silent, calls fail as POSIX would
//!   (`NotFound`, `AlreadyExists`, `IsADirectory`, `NotADirectory`, `DirectoryNotEmpty`).
//!
//! Invariants:
//! - bytes that were durable before a crash are never altered by it, except by surviving
//!   operations that the broker itself issued (a truncate, then appends over the same range);
//!   torn garbage and zeros only land at or beyond the durable length;
//! - after a crash every view equals the platter: no pending operation, no open handle;
//!   handles opened before it fail every call ("stale handle from before crash");
//! - an inode lives while a directory entry (current, durable or pending) or an open handle
//!   refers to it, so retention does not grow the model without bound;
//! - appends cost O(bytes appended) and `sync` O(pending operations), never O(file): the
//!   durable bytes share their prefix with the current ones, and a pending append records a
//!   range of `current` rather than a copy, copied out only if a truncate is about to cut it.
//!   Consecutive appends merge into one pending write. A crash costs O(unsynced bytes).

use odradek::storage::{OpenMode, Storage, StorageError, StorageFile, StorageResult};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The unit of a torn write: a run of garbage is at most one page long.
pub const PAGE_BYTES: usize = 4096;

/// With torn writes on, how often the cut page holds garbage.
const TORN_GARBAGE_PROBABILITY: f64 = 0.5;

/// With torn writes on, how often a file that lost appends is extended by zeros.
const ZERO_EXTENSION_PROBABILITY: f64 = 0.25;

const ROOT_INODE: InodeId = 0;

type InodeId = u64;

/// Which contents of a file [`SimStorage::inspect_file_from`] saw: equal identities mean the
/// bytes read before are still there, unchanged, at the start of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    generation: u64,
    inode: InodeId,
    rewrites: u64,
}

/// What [`SimStorage::inspect_file_from`] saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLook {
    pub identity: FileIdentity,
    /// The file's length.
    pub len: u64,
    /// Its bytes from the position asked for to the end.
    pub bytes: Vec<u8>,
}

/// How the machine dies in [`SimStorage::crash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrashMode {
    /// The process died, the kernel did not: every write and entry reaches the disk.
    KeepPageCache,
    /// Power loss: only a random prefix of what was not synced survives.
    LosePageCache {
        /// Whether the page where the cut falls may hold garbage, and the file may be extended
        /// by zeros.
        torn_writes: bool,
    },
}

/// Faults injected on every call until changed. The default injects nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskFaults {
    /// Probability that a read returns one flipped bit (the stored bytes stay intact).
    pub read_corruption_probability: f64,
    /// Probability that a call fails with an injected I/O error, without effect.
    pub io_error_probability: f64,
    /// The disk lies about fsync: `sync` and `sync_dir` succeed and make nothing durable.
    #[serde(default)]
    pub sync_is_noop: bool,
}

/// What a crash did to one file that had unsynced operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileCrashReport {
    /// The file's length that reads saw before the crash.
    pub len_before: u64,
    /// The file's length after the crash.
    pub len_after: u64,
    /// Bytes appended since the last sync (including ones a later truncate cut).
    pub unsynced_bytes: u64,
    /// Unsynced bytes that reached the platter.
    pub unsynced_bytes_kept: u64,
    /// Unsynced bytes that were lost.
    pub unsynced_bytes_lost: u64,
    /// Kept unsynced bytes replaced by garbage (a torn page).
    pub garbage_bytes: u64,
    /// Zero bytes the file was extended by (its size reached the disk, its data did not).
    pub zero_bytes: u64,
}

/// What a crash did to one directory that had unsynced entry operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DirectoryCrashReport {
    /// Entry operations (link, unlink, rename) that reached the disk.
    pub entry_ops_kept: u64,
    /// Entry operations that were lost.
    pub entry_ops_lost: u64,
}

/// What [`SimStorage::crash`] did. Keyed by the path each inode had before the crash (an
/// unlinked file still open is `<unlinked inode N>`); only inodes with unsynced operations
/// appear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CrashReport {
    pub mode: CrashMode,
    /// The disk's generation after the crash (the first crash makes it 1).
    pub generation: u64,
    pub files: BTreeMap<PathBuf, FileCrashReport>,
    pub directories: BTreeMap<PathBuf, DirectoryCrashReport>,
    /// Inodes dropped because no directory entry refers to them after the crash.
    pub inodes_dropped: u64,
}

impl CrashReport {
    /// Unsynced bytes lost over all files.
    pub fn unsynced_bytes_lost(&self) -> u64 {
        self.files.values().map(|file| file.unsynced_bytes_lost).sum()
    }

    /// Entry operations lost over all directories.
    pub fn entry_ops_lost(&self) -> u64 {
        self.directories.values().map(|dir| dir.entry_ops_lost).sum()
    }
}

/// One line for a trace: the totals.
impl fmt::Display for CrashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sum =
            |field: fn(&FileCrashReport) -> u64| -> u64 { self.files.values().map(field).sum() };
        write!(
            f,
            "crash {} ({:?}): {} files, unsynced bytes kept {} lost {} garbage {} zeros {}; \
             {} directories, entry ops kept {} lost {}; {} inodes dropped",
            self.generation,
            self.mode,
            self.files.len(),
            sum(|file| file.unsynced_bytes_kept),
            sum(|file| file.unsynced_bytes_lost),
            sum(|file| file.garbage_bytes),
            sum(|file| file.zero_bytes),
            self.directories.len(),
            self.directories.values().map(|dir| dir.entry_ops_kept).sum::<u64>(),
            self.entry_ops_lost(),
            self.inodes_dropped,
        )
    }
}

/// Counters since [`SimStorage::new`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DiskStats {
    /// Bytes accepted by `append`.
    pub bytes_written: u64,
    /// Calls of `StorageFile::sync`.
    pub syncs: u64,
    /// Calls of `Storage::sync_dir`.
    pub dir_syncs: u64,
    /// Calls of `sync` and `sync_dir` a lying disk answered without doing them.
    pub syncs_ignored: u64,
    pub crashes: u64,
    pub io_errors_injected: u64,
    pub read_corruptions_injected: u64,
    /// Files and directories alive now, the root included.
    pub inodes: u64,
}

/// The simulated disk of one node. Clones share the disk; keep one per node across restarts.
#[derive(Clone)]
pub struct SimStorage {
    disk: Arc<Mutex<Disk>>,
}

/// An open file of a [`SimStorage`]. Valid until the next crash.
pub struct SimFile {
    disk: Arc<Mutex<Disk>>,
    inode: InodeId,
    /// The disk's generation when opened; a crash bumps the disk's, making this handle stale.
    generation: u64,
    path: PathBuf,
}

struct Disk {
    rng: ChaCha8Rng,
    faults: DiskFaults,
    generation: u64,
    inodes: BTreeMap<InodeId, Inode>,
    inode_next: InodeId,
    stats: DiskStats,
}

enum Inode {
    File(FileInode),
    Directory(DirectoryInode),
}

/// The platter holds `current[..durable_shared_len]` followed by `durable_tail`: the durable
/// bytes share a prefix with the current ones, and only where they differ (after a truncate
/// below the durable length) are they stored apart. Syncing is then O(1).
#[derive(Default)]
struct FileInode {
    current: Vec<u8>,
    durable_shared_len: usize,
    durable_tail: Vec<u8>,
    /// Operations since the last sync, in order; replaying them on the durable bytes gives
    /// `current`.
    pending: Vec<FileOp>,
    handle_count: u64,
    /// How many times bytes before the end changed (a truncate that cut, a flipped byte), for
    /// [`SimStorage::inspect_file_from`]'s identity.
    rewrites: u64,
}

enum FileOp {
    Write { position: usize, data: WriteData },
    Truncate { len: usize },
}

enum WriteData {
    /// The bytes are still `current[position..position + len]`.
    InCurrent { len: usize },
    /// A truncate cut the bytes from `current`, so they were copied here first.
    Saved(Vec<u8>),
}

#[derive(Default)]
struct DirectoryInode {
    current: BTreeMap<String, InodeId>,
    durable: BTreeMap<String, InodeId>,
    /// Entry operations since the last `sync_dir`, in order; replaying them on `durable`
    /// gives `current`.
    pending: Vec<EntryOp>,
}

enum EntryOp {
    Link { name: String, inode: InodeId },
    Unlink { name: String },
    Rename { from: String, to: String },
}

impl SimStorage {
    /// An empty disk (just the root directory) whose random choices all derive from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut inodes = BTreeMap::new();
        inodes.insert(ROOT_INODE, Inode::Directory(DirectoryInode::default()));
        let disk = Disk {
            rng: ChaCha8Rng::seed_from_u64(seed),
            faults: DiskFaults::default(),
            generation: 0,
            inodes,
            inode_next: ROOT_INODE + 1,
            stats: DiskStats::default(),
        };
        SimStorage { disk: Arc::new(Mutex::new(disk)) }
    }

    /// Injects `faults` on every later call. Probabilities must lie in `0.0..=1.0` (a
    /// scenario's values are validated before they get here).
    pub fn set_faults(&self, faults: DiskFaults) {
        for probability in [faults.read_corruption_probability, faults.io_error_probability] {
            assert!(
                (0.0..=1.0).contains(&probability),
                "fault probability {probability} outside 0..=1"
            );
        }
        self.lock().faults = faults;
    }

    pub fn faults(&self) -> DiskFaults {
        self.lock().faults
    }

    /// The machine dies: the page cache survives or not according to `mode`, every handle
    /// opened before becomes stale. Call it together with killing the node's process.
    pub fn crash(&self, mode: CrashMode) -> CrashReport {
        self.lock().crash(mode)
    }

    /// Corrupts the stored byte at `position` of the file at `path` (all its bits flipped) in
    /// both the current and the durable bytes, so it stays corrupt across crashes. A byte not
    /// yet synced is corrupted in the page cache only.
    pub fn flip_byte(&self, path: &Path, position: u64) -> StorageResult<()> {
        let op = "flip_byte";
        let mut disk = self.lock();
        let inode = disk.lookup(path).map_err(error(op, path))?;
        let file = disk.file_mut(inode).ok_or_else(|| is_a_directory(op, path))?;
        let index = usize::try_from(position).unwrap_or(usize::MAX);
        if index >= file.current.len() {
            let message =
                format!("position {position} beyond the file's {} bytes", file.current.len());
            return Err(StorageError::new(
                op,
                path,
                io::Error::new(io::ErrorKind::InvalidInput, message),
            ));
        }
        file.current[index] = !file.current[index];
        file.rewrites += 1;
        let shared = file.durable_shared_len;
        if index >= shared && index - shared < file.durable_tail.len() {
            file.durable_tail[index - shared] = !file.durable_tail[index - shared];
        }
        Ok(())
    }

    /// The counters so far.
    pub fn stats(&self) -> DiskStats {
        let disk = self.lock();
        DiskStats { inodes: disk.inodes.len() as u64, ..disk.stats }
    }

    /// How many crashes this disk has been through.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The testbed's look at a directory: its entries as reads see them, sorted, or `None`
    /// if there is no directory at `dir`. Injects no fault, draws no randomness and counts in
    /// no statistic, so looking does not change the run.
    pub fn inspect_dir(&self, dir: &Path) -> Option<Vec<String>> {
        let disk = self.lock();
        let inode = disk.lookup(dir).ok()?;
        Some(disk.directory(inode)?.current.keys().cloned().collect())
    }

    /// The testbed's look at a file: up to `max_bytes` of its bytes as reads see them, or
    /// `None` if there is no file at `path`. Like [`SimStorage::inspect_dir`], it changes
    /// nothing.
    pub fn inspect_file(&self, path: &Path, max_bytes: usize) -> Option<Vec<u8>> {
        let mut disk = self.lock();
        let inode = disk.lookup(path).ok()?;
        let file = disk.file_mut(inode)?;
        Some(file.current[..file.current.len().min(max_bytes)].to_vec())
    }

    /// The testbed's incremental look at a file: its bytes from `from` on as reads see them,
    /// with an identity that changes whenever bytes before the end may have changed since
    /// (another file at the path, a truncate that cut, a crash, a flipped byte), so a reader
    /// that saw the same identity before may keep what it read and take only the new bytes.
    /// `None` if there is no file at `path`. Like [`SimStorage::inspect_dir`], it changes
    /// nothing.
    pub fn inspect_file_from(&self, path: &Path, from: u64) -> Option<FileLook> {
        let mut disk = self.lock();
        let generation = disk.generation;
        let inode = disk.lookup(path).ok()?;
        let file = disk.file_mut(inode)?;
        let start = usize::try_from(from).unwrap_or(usize::MAX).min(file.current.len());
        Some(FileLook {
            identity: FileIdentity { generation, inode, rewrites: file.rewrites },
            len: file.current.len() as u64,
            bytes: file.current[start..].to_vec(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        self.disk.lock().expect("disk mutex poisoned by an earlier panic")
    }
}

impl fmt::Debug for SimStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let disk = self.lock();
        f.debug_struct("SimStorage")
            .field("generation", &disk.generation)
            .field("inodes", &disk.inodes.len())
            .field("faults", &disk.faults)
            .finish()
    }
}

fn error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::new(op, path, source)
}

fn is_a_directory(op: &'static str, path: &Path) -> StorageError {
    StorageError::new(op, path, io::Error::new(io::ErrorKind::IsADirectory, "is a directory"))
}

fn not_a_directory(op: &'static str, path: &Path) -> StorageError {
    StorageError::new(op, path, io::Error::new(io::ErrorKind::NotADirectory, "not a directory"))
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no such file or directory")
}

/// The names along `path` from the root. `.` and the root are skipped (every path is taken
/// from the disk's root); `..` is refused rather than resolved, as no caller needs it.
fn path_names(path: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => {
                let name = name.to_str().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "path is not valid UTF-8")
                })?;
                names.push(name.to_owned());
            }
            Component::ParentDir => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "`..` in paths is not supported",
                ));
            }
            Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "path prefixes are not supported",
                ));
            }
        }
    }
    Ok(names)
}

/// How much of `total` pending units survive a power loss: often all or nothing, the edge
/// cases recovery gets wrong, otherwise any amount.
fn surviving_prefix(rng: &mut ChaCha8Rng, total: usize) -> usize {
    match rng.gen_range(0..4) {
        0 => 0,
        1 => total,
        _ => rng.gen_range(0..=total),
    }
}

impl EntryOp {
    fn apply(self, entries: &mut BTreeMap<String, InodeId>) {
        match self {
            EntryOp::Link { name, inode } => {
                entries.insert(name, inode);
            }
            EntryOp::Unlink { name } => {
                let removed = entries.remove(&name);
                assert!(removed.is_some(), "unlink of missing entry {name}");
            }
            EntryOp::Rename { from, to } => {
                let inode = entries.remove(&from);
                let inode = inode.unwrap_or_else(|| panic!("rename of missing entry {from}"));
                entries.insert(to, inode);
            }
        }
    }
}

impl DirectoryInode {
    /// Records `op` as pending and applies it to the current entries.
    fn push(&mut self, op: EntryOp) {
        let current_op = match &op {
            EntryOp::Link { name, inode } => EntryOp::Link { name: name.clone(), inode: *inode },
            EntryOp::Unlink { name } => EntryOp::Unlink { name: name.clone() },
            EntryOp::Rename { from, to } => EntryOp::Rename { from: from.clone(), to: to.clone() },
        };
        current_op.apply(&mut self.current);
        self.pending.push(op);
    }

    fn sync(&mut self) {
        for op in self.pending.drain(..) {
            op.apply(&mut self.durable);
        }
        debug_assert!(
            self.durable == self.current,
            "replaying pending entry ops must give current"
        );
    }

    /// Power loss: a random prefix of the pending entry ops reaches the disk.
    fn crash(&mut self, rng: &mut ChaCha8Rng) -> DirectoryCrashReport {
        let total = self.pending.len();
        let kept = surviving_prefix(rng, total);
        for op in self.pending.drain(..).take(kept) {
            op.apply(&mut self.durable);
        }
        self.current = self.durable.clone();
        DirectoryCrashReport { entry_ops_kept: kept as u64, entry_ops_lost: (total - kept) as u64 }
    }
}

impl FileInode {
    fn durable_len(&self) -> usize {
        self.durable_shared_len + self.durable_tail.len()
    }

    fn unsynced_bytes(&self) -> usize {
        let write_len = |op: &FileOp| match op {
            FileOp::Write { data: WriteData::InCurrent { len }, .. } => *len,
            FileOp::Write { data: WriteData::Saved(bytes), .. } => bytes.len(),
            FileOp::Truncate { .. } => 0,
        };
        self.pending.iter().map(write_len).sum()
    }

    fn append(&mut self, data: &[u8]) -> usize {
        let position = self.current.len();
        if data.is_empty() {
            return position;
        }
        self.current.extend_from_slice(data);
        // Consecutive appends become one pending write, so the list stays as short as the
        // number of truncates since the last sync.
        if let Some(FileOp::Write { position: start, data: WriteData::InCurrent { len } }) =
            self.pending.last_mut()
        {
            if *start + *len == position {
                *len += data.len();
                return position;
            }
        }
        self.pending
            .push(FileOp::Write { position, data: WriteData::InCurrent { len: data.len() } });
        position
    }

    fn truncate(&mut self, len: usize) {
        assert!(len <= self.current.len());
        if len == self.current.len() {
            return;
        }
        let shared = self.durable_shared_len;
        if len < shared {
            // The durable bytes from `len` on stop being shared with `current`; keep them.
            let mut tail = self.current[len..shared].to_vec();
            tail.extend_from_slice(&self.durable_tail);
            self.durable_tail = tail;
            self.durable_shared_len = len;
        }
        // Pending writes that the cut reaches would lose their bytes; copy them out first.
        for op in &mut self.pending {
            if let FileOp::Write { position, data } = op {
                if let WriteData::InCurrent { len: write_len } = *data {
                    if *position + write_len > len {
                        *data = WriteData::Saved(
                            self.current[*position..*position + write_len].to_vec(),
                        );
                    }
                }
            }
        }
        self.current.truncate(len);
        self.pending.push(FileOp::Truncate { len });
        self.rewrites += 1;
    }

    fn sync(&mut self) {
        self.pending.clear();
        self.durable_tail.clear();
        self.durable_shared_len = self.current.len();
    }

    /// Power loss: a random prefix of the pending ops, counted in bytes (a truncate counts as
    /// one), reaches the platter, which becomes the file. Costs O(unsynced bytes + durable
    /// tail), not O(file).
    fn crash(&mut self, rng: &mut ChaCha8Rng, torn_writes: bool) -> FileCrashReport {
        let len_before = self.current.len();
        let unsynced_bytes = self.unsynced_bytes();
        let shared = self.durable_shared_len;
        let durable_len = self.durable_len();
        // Pending writes still in `current` lie at or after `shared` (they were appended at a
        // length no smaller, and truncates below it copied them out).
        let unsynced_view = self.current[shared..].to_vec();
        let mut platter = std::mem::take(&mut self.current);
        platter.truncate(shared);
        platter.append(&mut self.durable_tail);
        assert_eq!(platter.len(), durable_len);

        let weight = |op: &FileOp| match op {
            FileOp::Write { data: WriteData::InCurrent { len }, .. } => *len,
            FileOp::Write { data: WriteData::Saved(bytes), .. } => bytes.len(),
            FileOp::Truncate { .. } => 1,
        };
        let total = self.pending.iter().map(weight).sum();
        let mut budget = surviving_prefix(rng, total);
        let mut kept = 0;
        // The range the last surviving op wrote, if it was a write: where a torn page can be.
        let mut last_write: Option<(usize, usize)> = None;
        for op in self.pending.drain(..) {
            if budget == 0 {
                break;
            }
            match op {
                FileOp::Write { position, data } => {
                    let bytes = match &data {
                        WriteData::InCurrent { len } => {
                            assert!(position >= shared);
                            &unsynced_view[position - shared..position - shared + len]
                        }
                        WriteData::Saved(bytes) => &bytes[..],
                    };
                    assert_eq!(platter.len(), position, "pending writes replay at the end");
                    let applied = bytes.len().min(budget);
                    platter.extend_from_slice(&bytes[..applied]);
                    budget -= applied;
                    kept += applied;
                    last_write = Some((position, position + applied));
                }
                FileOp::Truncate { len } => {
                    assert!(len <= platter.len());
                    platter.truncate(len);
                    budget -= 1;
                    last_write = None;
                }
            }
        }

        let mut garbage_bytes = 0;
        let mut zero_bytes = 0;
        if torn_writes {
            // Garbage only over bytes this crash kept from unsynced writes, and never below the
            // durable length: a torn page must not destroy what a sync promised.
            if let Some((start, end)) = last_write {
                let low = start.max(durable_len);
                if low < end && rng.gen_bool(TORN_GARBAGE_PROBABILITY) {
                    garbage_bytes = rng.gen_range(1..=PAGE_BYTES.min(end - low));
                    rng.fill(&mut platter[end - garbage_bytes..end]);
                }
            }
            let lost = unsynced_bytes - kept;
            if lost > 0 && platter.len() >= durable_len && rng.gen_bool(ZERO_EXTENSION_PROBABILITY)
            {
                zero_bytes = rng.gen_range(1..=PAGE_BYTES.min(lost));
                platter.resize(platter.len() + zero_bytes, 0);
            }
        }

        self.current = platter;
        self.sync();
        self.handle_count = 0;
        FileCrashReport {
            len_before: len_before as u64,
            len_after: self.current.len() as u64,
            unsynced_bytes: unsynced_bytes as u64,
            unsynced_bytes_kept: kept as u64,
            unsynced_bytes_lost: (unsynced_bytes - kept) as u64,
            garbage_bytes: garbage_bytes as u64,
            zero_bytes: zero_bytes as u64,
        }
    }
}

impl Disk {
    fn file_mut(&mut self, inode: InodeId) -> Option<&mut FileInode> {
        match self.inodes.get_mut(&inode) {
            Some(Inode::File(file)) => Some(file),
            _ => None,
        }
    }

    fn directory(&self, inode: InodeId) -> Option<&DirectoryInode> {
        match self.inodes.get(&inode) {
            Some(Inode::Directory(directory)) => Some(directory),
            _ => None,
        }
    }

    fn directory_mut(&mut self, inode: InodeId) -> Option<&mut DirectoryInode> {
        match self.inodes.get_mut(&inode) {
            Some(Inode::Directory(directory)) => Some(directory),
            _ => None,
        }
    }

    fn is_directory(&self, inode: InodeId) -> bool {
        self.directory(inode).is_some()
    }

    fn add_inode(&mut self, inode: Inode) -> InodeId {
        let id = self.inode_next;
        self.inode_next += 1;
        self.inodes.insert(id, inode);
        id
    }

    /// Fails a call with the configured probability, before it has any effect.
    fn inject_io_error(&mut self, op: &'static str, path: &Path) -> StorageResult<()> {
        let probability = self.faults.io_error_probability;
        if probability > 0.0 && self.rng.gen_bool(probability) {
            self.stats.io_errors_injected += 1;
            return Err(StorageError::new(op, path, io::Error::other("injected I/O error")));
        }
        Ok(())
    }

    /// The inode at `names`, walking the current entries from the root.
    fn lookup_names(&self, names: &[String]) -> io::Result<InodeId> {
        let mut inode = ROOT_INODE;
        for name in names {
            let directory = self
                .directory(inode)
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotADirectory, "not a directory"))?;
            inode = *directory.current.get(name).ok_or_else(not_found)?;
        }
        Ok(inode)
    }

    fn lookup(&self, path: &Path) -> io::Result<InodeId> {
        self.lookup_names(&path_names(path)?)
    }

    /// The directory that holds `path`'s entry, and the entry's name.
    fn lookup_parent(&self, path: &Path) -> io::Result<(InodeId, String)> {
        let mut names = path_names(path)?;
        let name = names
            .pop()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the root has no entry"))?;
        let parent = self.lookup_names(&names)?;
        if !self.is_directory(parent) {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "parent is not a directory"));
        }
        Ok((parent, name))
    }

    fn entry(&self, parent: InodeId, name: &str) -> Option<InodeId> {
        self.directory(parent).expect("parent is a directory").current.get(name).copied()
    }

    fn push_entry_op(&mut self, parent: InodeId, op: EntryOp) {
        self.directory_mut(parent).expect("parent is a directory").push(op);
    }

    fn create_dir_all(&mut self, path: &Path) -> io::Result<()> {
        let names = path_names(path)?;
        let mut inode = ROOT_INODE;
        for (index, name) in names.iter().enumerate() {
            match self.entry(inode, name) {
                Some(child) if self.is_directory(child) => inode = child,
                Some(_) if index + 1 == names.len() => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "a file exists there",
                    ));
                }
                Some(_) => {
                    return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a directory"))
                }
                None => {
                    let child = self.add_inode(Inode::Directory(DirectoryInode::default()));
                    let parent = self.directory_mut(inode).expect("walked through directories");
                    parent.push(EntryOp::Link { name: name.clone(), inode: child });
                    // The trait promises durability, as an fsync of the parent would give.
                    parent.sync();
                    inode = child;
                }
            }
        }
        Ok(())
    }

    fn open(&mut self, path: &Path, mode: OpenMode) -> io::Result<InodeId> {
        let (parent, name) = self.lookup_parent(path)?;
        let inode = match (self.entry(parent, &name), mode) {
            // O_EXCL fails on any existing entry, a directory included, before anything else.
            (Some(_), OpenMode::CreateNew) => {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
            }
            (Some(inode), _) if self.is_directory(inode) => {
                return Err(io::Error::new(io::ErrorKind::IsADirectory, "is a directory"));
            }
            (Some(inode), OpenMode::Existing | OpenMode::CreateOrExisting) => inode,
            (None, OpenMode::Existing) => return Err(not_found()),
            (None, OpenMode::CreateNew | OpenMode::CreateOrExisting) => {
                let inode = self.add_inode(Inode::File(FileInode::default()));
                self.push_entry_op(parent, EntryOp::Link { name, inode });
                inode
            }
        };
        self.file_mut(inode).expect("checked to be a file").handle_count += 1;
        Ok(inode)
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let (from_parent, from_name) = self.lookup_parent(from)?;
        let (to_parent, to_name) = self.lookup_parent(to)?;
        let inode = self.entry(from_parent, &from_name).ok_or_else(not_found)?;
        let from_is_directory = self.is_directory(inode);
        // Linux checks ancestry before the types of source and target.
        let (from_names, to_names) = (path_names(from)?, path_names(to)?);
        if to_names.len() > from_names.len() && to_names.starts_with(&from_names) {
            let message = "cannot move a directory into itself";
            return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        }
        if from_names.len() > to_names.len() && from_names.starts_with(&to_names) {
            let message = "cannot replace an ancestor directory";
            return Err(io::Error::new(io::ErrorKind::DirectoryNotEmpty, message));
        }
        if let Some(target) = self.entry(to_parent, &to_name) {
            if target == inode {
                // POSIX: renaming onto another name of the same inode does nothing.
                return Ok(());
            }
            match (from_is_directory, self.directory(target)) {
                (false, Some(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::IsADirectory,
                        "target is a directory",
                    ))
                }
                (true, None) => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotADirectory,
                        "target is not a directory",
                    ))
                }
                (true, Some(target)) if !target.current.is_empty() => {
                    return Err(io::Error::new(
                        io::ErrorKind::DirectoryNotEmpty,
                        "target directory not empty",
                    ));
                }
                _ => {}
            }
        }
        if from_parent == to_parent {
            self.push_entry_op(from_parent, EntryOp::Rename { from: from_name, to: to_name });
        } else {
            self.push_entry_op(from_parent, EntryOp::Unlink { name: from_name });
            self.push_entry_op(to_parent, EntryOp::Link { name: to_name, inode });
        }
        Ok(())
    }

    fn remove(&mut self, path: &Path, directory: bool) -> io::Result<()> {
        let (parent, name) = self.lookup_parent(path)?;
        let inode = self.entry(parent, &name).ok_or_else(not_found)?;
        match (directory, self.is_directory(inode)) {
            (false, true) => {
                return Err(io::Error::new(io::ErrorKind::IsADirectory, "is a directory"))
            }
            (true, false) => {
                return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a directory"))
            }
            _ => {}
        }
        // A removed directory keeps its entries: they stay durable under the parent's durable
        // entry until the parent is synced, and come back if a crash loses the unlink.
        self.push_entry_op(parent, EntryOp::Unlink { name });
        Ok(())
    }

    fn sync_dir(&mut self, path: &Path) -> io::Result<()> {
        let inode = self.lookup(path)?;
        let directory = self
            .directory_mut(inode)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotADirectory, "not a directory"))?;
        directory.sync();
        self.stats.dir_syncs += 1;
        self.collect_garbage();
        Ok(())
    }

    /// Drops the inodes that no directory entry (current, durable or pending) reaches from
    /// the root and no open handle holds.
    fn collect_garbage(&mut self) -> u64 {
        let mut reachable = BTreeSet::new();
        let mut stack = vec![ROOT_INODE];
        for (&inode, node) in &self.inodes {
            if matches!(node, Inode::File(file) if file.handle_count > 0) {
                stack.push(inode);
            }
        }
        while let Some(inode) = stack.pop() {
            if !reachable.insert(inode) {
                continue;
            }
            if let Some(directory) = self.directory(inode) {
                stack.extend(directory.current.values());
                stack.extend(directory.durable.values());
                for op in &directory.pending {
                    if let EntryOp::Link { inode, .. } = op {
                        stack.push(*inode);
                    }
                }
            }
        }
        let before = self.inodes.len();
        self.inodes.retain(|inode, _| reachable.contains(inode));
        (before - self.inodes.len()) as u64
    }

    /// A name for every inode, for crash reports: its first path in the current tree, else
    /// in the durable tree, else in pending links, else `<unlinked inode N>`.
    fn inode_paths(&self) -> BTreeMap<InodeId, PathBuf> {
        let mut paths = BTreeMap::new();
        for view in 0..3 {
            let mut stack = vec![(ROOT_INODE, PathBuf::from("/"))];
            let mut visited = BTreeSet::new();
            while let Some((inode, path)) = stack.pop() {
                let Some(directory) = self.directory(inode) else {
                    continue;
                };
                let entries: Vec<(&String, InodeId)> = match view {
                    0 => directory.current.iter().map(|(name, inode)| (name, *inode)).collect(),
                    1 => directory.durable.iter().map(|(name, inode)| (name, *inode)).collect(),
                    _ => directory
                        .pending
                        .iter()
                        .filter_map(|op| match op {
                            EntryOp::Link { name, inode } => Some((name, *inode)),
                            _ => None,
                        })
                        .collect(),
                };
                for (name, child) in entries.into_iter().rev() {
                    // Descend into each directory once per view, under its first name, so
                    // a file reachable only in this view still gets a real path.
                    if visited.insert(child) {
                        let child_path = paths.entry(child).or_insert_with(|| path.join(name));
                        stack.push((child, child_path.clone()));
                    }
                }
            }
        }
        paths.insert(ROOT_INODE, PathBuf::from("/"));
        for &inode in self.inodes.keys() {
            paths
                .entry(inode)
                .or_insert_with(|| PathBuf::from(format!("<unlinked inode {inode}>")));
        }
        paths
    }

    fn crash(&mut self, mode: CrashMode) -> CrashReport {
        let paths = self.inode_paths();
        let mut files = BTreeMap::new();
        let mut directories = BTreeMap::new();
        let rng = &mut self.rng;
        // One pass in inode order, so the random choices are drawn in a fixed order.
        for (inode, node) in &mut self.inodes {
            match node {
                Inode::File(file) => {
                    file.handle_count = 0;
                    if file.pending.is_empty() {
                        continue;
                    }
                    let report = match mode {
                        CrashMode::KeepPageCache => {
                            let unsynced_bytes = file.unsynced_bytes() as u64;
                            let len = file.current.len() as u64;
                            file.sync();
                            FileCrashReport {
                                len_before: len,
                                len_after: len,
                                unsynced_bytes,
                                unsynced_bytes_kept: unsynced_bytes,
                                ..FileCrashReport::default()
                            }
                        }
                        CrashMode::LosePageCache { torn_writes } => file.crash(rng, torn_writes),
                    };
                    files.insert(paths[inode].clone(), report);
                }
                Inode::Directory(directory) => {
                    if directory.pending.is_empty() {
                        continue;
                    }
                    let report = match mode {
                        CrashMode::KeepPageCache => {
                            let kept = directory.pending.len() as u64;
                            directory.sync();
                            DirectoryCrashReport { entry_ops_kept: kept, entry_ops_lost: 0 }
                        }
                        CrashMode::LosePageCache { .. } => directory.crash(rng),
                    };
                    directories.insert(paths[inode].clone(), report);
                }
            }
        }
        self.generation += 1;
        self.stats.crashes += 1;
        let inodes_dropped = self.collect_garbage();
        CrashReport { mode, generation: self.generation, files, directories, inodes_dropped }
    }
}

impl Storage for SimStorage {
    type File = SimFile;

    fn create_dir_all(&self, dir: &Path) -> StorageResult<()> {
        let mut disk = self.lock();
        disk.inject_io_error("create_dir", dir)?;
        disk.create_dir_all(dir).map_err(error("create_dir", dir))
    }

    fn list_dir(&self, dir: &Path) -> StorageResult<Vec<String>> {
        let mut disk = self.lock();
        disk.inject_io_error("list", dir)?;
        let inode = disk.lookup(dir).map_err(error("list", dir))?;
        let directory = disk.directory(inode).ok_or_else(|| not_a_directory("list", dir))?;
        // BTreeMap order is byte order, the order FileStorage sorts its names in.
        Ok(directory.current.keys().cloned().collect())
    }

    fn exists(&self, path: &Path) -> StorageResult<bool> {
        let mut disk = self.lock();
        disk.inject_io_error("stat", path)?;
        match disk.lookup(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StorageError::new("stat", path, e)),
        }
    }

    fn open(&self, path: &Path, mode: OpenMode) -> StorageResult<SimFile> {
        let mut disk = self.lock();
        disk.inject_io_error("open", path)?;
        let inode = disk.open(path, mode).map_err(error("open", path))?;
        Ok(SimFile {
            disk: Arc::clone(&self.disk),
            inode,
            generation: disk.generation,
            path: path.to_path_buf(),
        })
    }

    fn rename(&self, from: &Path, to: &Path) -> StorageResult<()> {
        let mut disk = self.lock();
        disk.inject_io_error("rename", from)?;
        disk.rename(from, to).map_err(error("rename", from))
    }

    fn remove_file(&self, path: &Path) -> StorageResult<()> {
        let mut disk = self.lock();
        disk.inject_io_error("remove", path)?;
        disk.remove(path, false).map_err(error("remove", path))
    }

    fn remove_dir_all(&self, dir: &Path) -> StorageResult<()> {
        let mut disk = self.lock();
        disk.inject_io_error("remove_dir", dir)?;
        disk.remove(dir, true).map_err(error("remove_dir", dir))
    }

    fn sync_dir(&self, dir: &Path) -> StorageResult<()> {
        let mut disk = self.lock();
        disk.inject_io_error("sync_dir", dir)?;
        if disk.faults.sync_is_noop {
            // A lying disk still fails on a path that is not a directory.
            let inode = disk.lookup(dir).map_err(error("sync_dir", dir))?;
            disk.directory(inode).ok_or_else(|| not_a_directory("sync_dir", dir))?;
            disk.stats.syncs_ignored += 1;
            return Ok(());
        }
        disk.sync_dir(dir).map_err(error("sync_dir", dir))
    }
}

impl SimFile {
    /// Locks the disk for a call named `op`: fails if a crash happened since this handle was
    /// opened, or if an I/O error is injected.
    fn begin(&self, op: &'static str) -> StorageResult<MutexGuard<'_, Disk>> {
        let mut disk = self.disk.lock().expect("disk mutex poisoned by an earlier panic");
        if disk.generation != self.generation {
            return Err(StorageError::new(
                op,
                &self.path,
                io::Error::other("stale handle from before crash"),
            ));
        }
        disk.inject_io_error(op, &self.path)?;
        Ok(disk)
    }
}

/// The inode of a live handle: an open handle keeps its inode alive until a crash.
fn handle_file(disk: &mut Disk, inode: InodeId) -> &mut FileInode {
    disk.file_mut(inode).expect("an open handle keeps its file inode alive")
}

impl StorageFile for SimFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, data: &[u8]) -> StorageResult<u64> {
        let mut disk = self.begin("append")?;
        let position = handle_file(&mut disk, self.inode).append(data);
        disk.stats.bytes_written += data.len() as u64;
        Ok(position as u64)
    }

    fn read_at(&self, position: u64, buf: &mut [u8]) -> StorageResult<usize> {
        let mut disk = self.begin("read")?;
        let file = handle_file(&mut disk, self.inode);
        let start = usize::try_from(position).unwrap_or(usize::MAX).min(file.current.len());
        let read = buf.len().min(file.current.len() - start);
        buf[..read].copy_from_slice(&file.current[start..start + read]);
        let probability = disk.faults.read_corruption_probability;
        if read > 0 && probability > 0.0 && disk.rng.gen_bool(probability) {
            let bit = disk.rng.gen_range(0..read * 8);
            buf[bit / 8] ^= 1 << (bit % 8);
            disk.stats.read_corruptions_injected += 1;
        }
        Ok(read)
    }

    fn len(&self) -> StorageResult<u64> {
        let mut disk = self.begin("len")?;
        Ok(handle_file(&mut disk, self.inode).current.len() as u64)
    }

    fn sync(&mut self) -> StorageResult<()> {
        let mut disk = self.begin("sync")?;
        disk.stats.syncs += 1;
        if disk.faults.sync_is_noop {
            disk.stats.syncs_ignored += 1;
            return Ok(());
        }
        handle_file(&mut disk, self.inode).sync();
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> StorageResult<()> {
        let mut disk = self.begin("truncate")?;
        let file = handle_file(&mut disk, self.inode);
        let current_len = file.current.len() as u64;
        // The same programmer error FileStorage asserts on; checked before any change.
        assert!(
            len <= current_len,
            "truncate {} to {len} beyond its length {current_len}",
            self.path.display()
        );
        file.truncate(len as usize);
        Ok(())
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        // A poisoned lock here means a test is already failing; panicking again would abort.
        let mut disk = self.disk.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if disk.generation != self.generation {
            // The crash already forgot every handle.
            return;
        }
        let Some(file) = disk.file_mut(self.inode) else {
            assert!(std::thread::panicking(), "an open handle keeps its file inode alive");
            return;
        };
        assert!(file.handle_count > 0 || std::thread::panicking());
        file.handle_count = file.handle_count.saturating_sub(1);
        if file.handle_count == 0 {
            disk.collect_garbage();
        }
    }
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .field("inode", &self.inode)
            .field("generation", &self.generation)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending_op_count(storage: &SimStorage, path: &str) -> usize {
        let disk = storage.lock();
        let inode = disk.lookup(Path::new(path)).unwrap();
        match &disk.inodes[&inode] {
            Inode::File(file) => file.pending.len(),
            Inode::Directory(_) => panic!("{path} is a directory"),
        }
    }

    #[test]
    fn consecutive_appends_merge_into_one_pending_write() {
        let storage = SimStorage::new(1);
        let mut file = storage.open(Path::new("/log"), OpenMode::CreateNew).unwrap();
        for _ in 0..1000 {
            file.append(b"record").unwrap();
        }
        assert_eq!(pending_op_count(&storage, "/log"), 1);
        file.truncate(10).unwrap();
        file.append(b"more").unwrap();
        file.append(b"more").unwrap();
        assert_eq!(pending_op_count(&storage, "/log"), 3, "write, truncate, write");
        file.sync().unwrap();
        assert_eq!(pending_op_count(&storage, "/log"), 0);
    }

    #[test]
    fn truncate_below_durable_keeps_durable_bytes_apart() {
        let storage = SimStorage::new(2);
        let path = Path::new("/log");
        let mut file = storage.open(path, OpenMode::CreateNew).unwrap();
        file.append(b"0123456789").unwrap();
        file.sync().unwrap();
        storage.sync_dir(Path::new("/")).unwrap();
        file.truncate(4).unwrap();
        file.append(b"abcdef").unwrap();
        assert_eq!(file.read_all().unwrap(), b"0123abcdef");
        drop(file);
        let disk = storage.lock();
        let inode = disk.lookup(path).unwrap();
        let Inode::File(file) = &disk.inodes[&inode] else { panic!() };
        assert_eq!(file.durable_shared_len, 4);
        assert_eq!(file.durable_tail, b"456789");
    }

    #[test]
    fn an_incremental_look_keeps_its_identity_until_bytes_before_the_end_change() {
        let storage = SimStorage::new(3);
        let path = Path::new("/log");
        assert_eq!(storage.inspect_file_from(path, 0), None);
        let mut file = storage.open(path, OpenMode::CreateNew).unwrap();
        file.append(b"0123").unwrap();
        let first = storage.inspect_file_from(path, 0).unwrap();
        assert_eq!((first.len, &first.bytes[..]), (4, &b"0123"[..]));
        file.append(b"45").unwrap();
        let appended = storage.inspect_file_from(path, 4).unwrap();
        assert_eq!((appended.identity, &appended.bytes[..]), (first.identity, &b"45"[..]));
        assert_eq!(storage.inspect_file_from(path, 99).unwrap().bytes, b"");
        // A truncate, even one the next appends grow past, changes the identity.
        file.truncate(2).unwrap();
        file.append(b"abcdef").unwrap();
        let rewritten = storage.inspect_file_from(path, 6).unwrap();
        assert_ne!(rewritten.identity, first.identity);
        // So does a crash, even one that loses nothing.
        storage.sync_dir(Path::new("/")).unwrap();
        drop(file);
        storage.crash(CrashMode::KeepPageCache);
        let crashed = storage.inspect_file_from(path, 0).unwrap();
        assert_ne!(crashed.identity, rewritten.identity);
        assert_eq!(crashed.bytes, b"01abcdef");
        assert_eq!(storage.stats().read_corruptions_injected, 0);
    }
}
