//! FileStorage: the Storage trait on real files.
//!
//! Appends are positional writes at the cached end of the file (one handle per file is the
//! log's rule); `sync` is `sync_data`, `sync_dir` opens the directory and calls `sync_all`.

use super::{OpenMode, Storage, StorageError, StorageFile, StorageResult};
use std::fs;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Real files under the host file system.
#[derive(Clone, Debug, Default)]
pub struct FileStorage;

impl FileStorage {
    pub fn new() -> Self {
        FileStorage
    }
}

fn err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::new(op, path, source)
}

impl Storage for FileStorage {
    type File = FileStorageFile;

    fn create_dir_all(&self, dir: &Path) -> StorageResult<()> {
        // The directories that do not exist yet, deepest first.
        let missing: Vec<&Path> = dir
            .ancestors()
            .filter(|d| !d.as_os_str().is_empty())
            .take_while(|d| !d.exists())
            .collect();
        fs::create_dir_all(dir).map_err(err("create_dir", dir))?;
        // Make each new entry durable in its parent, as Kafka does for new log directories.
        for created in missing.iter().rev() {
            if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
                self.sync_dir(parent)?;
            }
        }
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> StorageResult<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(err("list", dir))? {
            let entry = entry.map_err(err("list", dir))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> StorageResult<bool> {
        match fs::symlink_metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StorageError::new("stat", path, e)),
        }
    }

    fn open(&self, path: &Path, mode: OpenMode) -> StorageResult<FileStorageFile> {
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true);
        match mode {
            OpenMode::CreateNew => options.create_new(true),
            OpenMode::Existing => &mut options,
            OpenMode::CreateOrExisting => options.create(true),
        };
        let file = options.open(path).map_err(err("open", path))?;
        let len = file.metadata().map_err(err("stat", path))?.len();
        Ok(FileStorageFile { file, path: path.to_path_buf(), len })
    }

    fn rename(&self, from: &Path, to: &Path) -> StorageResult<()> {
        fs::rename(from, to).map_err(|e| {
            let source = io::Error::new(e.kind(), format!("to {}: {e}", to.display()));
            StorageError::new("rename", from, source)
        })
    }

    fn remove_file(&self, path: &Path) -> StorageResult<()> {
        fs::remove_file(path).map_err(err("remove", path))
    }

    fn remove_dir_all(&self, dir: &Path) -> StorageResult<()> {
        fs::remove_dir_all(dir).map_err(err("remove_dir", dir))
    }

    fn sync_dir(&self, dir: &Path) -> StorageResult<()> {
        let handle = fs::File::open(dir).map_err(err("sync_dir", dir))?;
        handle.sync_all().map_err(err("sync_dir", dir))
    }
}

/// An open real file; its length is cached because only this handle appends to it.
#[derive(Debug)]
pub struct FileStorageFile {
    file: fs::File,
    path: PathBuf,
    len: u64,
}

impl StorageFile for FileStorageFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, data: &[u8]) -> StorageResult<u64> {
        let position = self.len;
        self.file.write_all_at(data, position).map_err(err("append", &self.path))?;
        self.len += data.len() as u64;
        Ok(position)
    }

    fn read_at(&self, position: u64, buf: &mut [u8]) -> StorageResult<usize> {
        let mut read = 0;
        while read < buf.len() {
            match self.file.read_at(&mut buf[read..], position + read as u64) {
                Ok(0) => break,
                Ok(n) => read += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StorageError::new("read", &self.path, e)),
            }
        }
        Ok(read)
    }

    fn len(&self) -> StorageResult<u64> {
        Ok(self.len)
    }

    fn sync(&mut self) -> StorageResult<()> {
        self.file.sync_data().map_err(err("sync", &self.path))
    }

    fn truncate(&mut self, len: u64) -> StorageResult<()> {
        assert!(
            len <= self.len,
            "truncate {} to {len} beyond its length {}",
            self.path.display(),
            self.len
        );
        self.file.set_len(len).map_err(err("truncate", &self.path))?;
        self.len = len;
        Ok(())
    }
}
