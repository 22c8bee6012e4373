//! Storage: the only way the broker reaches a disk.
//!
//! Inputs: paths and bytes from the log. Outputs: bytes read back, and errors that name the
//! operation and the path. Two implementations: [`FileStorage`] on real files (this module) and
//! `SimStorage` in the `odradek-sim` crate, a page-cache model that loses unsynced data on a
//! crash. One conformance suite (`sim/tests/storage_conformance.rs`) runs against both.
//!
//! Durability contract, the same for both implementations:
//! - bytes written with [`StorageFile::append`] or a [`StorageFile::truncate`] are visible to
//!   reads at once, but survive a power loss only after [`StorageFile::sync`] of that file;
//! - a created, renamed or removed directory entry survives a power loss only after
//!   [`Storage::sync_dir`] of the directory that holds it;
//! - [`Storage::create_dir_all`] is durable when it returns (directories are created rarely,
//!   and the log relies on its partition directory existing after a crash).

mod file;

pub use file::{FileStorage, FileStorageFile};

use std::io;
use std::path::{Path, PathBuf};

/// How [`Storage::open`] treats a missing or existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// The file must not exist yet; it is created empty.
    CreateNew,
    /// The file must exist.
    Existing,
    /// Open the file, creating it empty if it is missing.
    CreateOrExisting,
}

/// A storage operation that failed, naming what was attempted and where.
#[derive(Debug, thiserror::Error)]
#[error("storage {op} {}: {source}", path.display())]
pub struct StorageError {
    /// The operation: `open`, `append`, `read`, `sync`, `truncate`, `rename`, ...
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl StorageError {
    pub fn new(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError { op, path: path.into(), source }
    }

    /// The `io::ErrorKind` behind the failure (`NotFound`, `AlreadyExists`, ...).
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// A directory tree of files. Cheap to clone: clones share the same disk.
pub trait Storage: Clone + Send + Sync + 'static {
    type File: StorageFile;

    /// Creates `dir` and its missing parents, each durably (its entry synced in its parent).
    fn create_dir_all(&self, dir: &Path) -> StorageResult<()>;

    /// The names of the entries of `dir` (files and directories), sorted.
    fn list_dir(&self, dir: &Path) -> StorageResult<Vec<String>>;

    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> StorageResult<bool>;

    /// Opens a file for reading and appending.
    fn open(&self, path: &Path, mode: OpenMode) -> StorageResult<Self::File>;

    /// Renames a file, replacing `to` if it exists. Durable after `sync_dir` of both parents.
    fn rename(&self, from: &Path, to: &Path) -> StorageResult<()>;

    /// Removes a file. Durable after `sync_dir` of its parent.
    fn remove_file(&self, path: &Path) -> StorageResult<()>;

    /// Removes a directory and everything under it. Durable after `sync_dir` of its parent.
    fn remove_dir_all(&self, dir: &Path) -> StorageResult<()>;

    /// Makes the entries of `dir` (creates, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> StorageResult<()>;
}

/// An open file: appended to at its end, read at any position.
///
/// One handle per file appends: a handle may cache the file's length (FileStorage does), so
/// a second handle opened on the same file must not be used to append or to read its tail.
pub trait StorageFile: Send + Sync + 'static {
    /// The path the file was opened at (for error messages).
    fn path(&self) -> &Path;

    /// Appends `data` at the end of the file; returns the position it was written at.
    fn append(&mut self, data: &[u8]) -> StorageResult<u64>;

    /// Reads up to `buf.len()` bytes at `position`; returns how many were read (fewer only at
    /// the end of the file).
    fn read_at(&self, position: u64, buf: &mut [u8]) -> StorageResult<usize>;

    /// The file's length in bytes.
    fn len(&self) -> StorageResult<u64>;

    /// Whether the file is empty.
    fn is_empty(&self) -> StorageResult<bool> {
        Ok(self.len()? == 0)
    }

    /// Makes the file's data and length durable.
    fn sync(&mut self) -> StorageResult<()>;

    /// Cuts the file to `len` bytes (`len` must not exceed the current length).
    fn truncate(&mut self, len: u64) -> StorageResult<()>;

    /// Reads exactly `buf.len()` bytes at `position`, or fails with `UnexpectedEof`.
    fn read_exact_at(&self, position: u64, buf: &mut [u8]) -> StorageResult<()> {
        let read = self.read_at(position, buf)?;
        if read < buf.len() {
            let message =
                format!("wanted {} bytes at {position}, file ends after {read}", buf.len());
            return Err(StorageError::new(
                "read",
                self.path(),
                io::Error::new(io::ErrorKind::UnexpectedEof, message),
            ));
        }
        Ok(())
    }

    /// Reads the whole file.
    fn read_all(&self) -> StorageResult<Vec<u8>> {
        let len = self.len()?;
        let len = usize::try_from(len).expect("file fits in memory");
        let mut buf = vec![0u8; len];
        self.read_exact_at(0, &mut buf)?;
        Ok(buf)
    }
}
