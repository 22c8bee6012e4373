//! Small files beside a partition's segments: the recovery point checkpoint and the
//! clean-shutdown marker, and the atomic replacement every such file uses.
//!
//! Inputs: offsets to record. Outputs: the offset read back, or why it could not be.
//! Invariants: a checkpoint is replaced atomically (write a temporary file, sync it, rename
//! it over the old one, sync the directory), so a crash leaves the old or the new one.

use crate::storage::{OpenMode, Storage, StorageFile, StorageResult};
use crate::types::Offset;
use std::path::Path;

/// Offsets below the recovery point were synced; recovery validates from there on.
pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
/// Present only while the log is closed after a clean shutdown.
pub const CLEAN_SHUTDOWN_FILE: &str = ".clean_shutdown";
const TEMPORARY_SUFFIX: &str = ".tmp";
const CHECKPOINT_VERSION: &str = "0";

/// Writes `offset` as the recovery point, atomically and durably.
pub fn write_recovery_point<S: Storage>(
    storage: &S,
    dir: &Path,
    offset: Offset,
) -> StorageResult<()> {
    write_offset(storage, dir, RECOVERY_POINT_FILE, offset)
}

/// Writes an offset checkpoint (`version\noffset\n`) named `name`, atomically and durably.
pub fn write_offset<S: Storage>(
    storage: &S,
    dir: &Path,
    name: &str,
    offset: Offset,
) -> StorageResult<()> {
    write_atomically(storage, dir, name, format!("{CHECKPOINT_VERSION}\n{}\n", offset.0).as_bytes())
}

/// Replaces the file `name` in `dir` with `contents`, atomically and durably: a temporary
/// file is written and synced, renamed over the old one, and the directory is synced. A crash
/// at any point leaves the old file or the new one, never a mix.
pub fn write_atomically<S: Storage>(
    storage: &S,
    dir: &Path,
    name: &str,
    contents: &[u8],
) -> StorageResult<()> {
    let path = dir.join(name);
    let temporary = dir.join(format!("{name}{TEMPORARY_SUFFIX}"));
    let mut file = storage.open(&temporary, OpenMode::CreateOrExisting)?;
    file.truncate(0)?;
    file.append(contents)?;
    file.sync()?;
    drop(file);
    storage.rename(&temporary, &path)?;
    storage.sync_dir(dir)
}

/// Reads the recovery point: `Ok(None)` when there is no checkpoint, `Ok(Some(Err(why)))`
/// when the file exists but cannot be parsed.
pub fn read_recovery_point<S: Storage>(
    storage: &S,
    dir: &Path,
) -> StorageResult<Option<Result<Offset, String>>> {
    read_offset(storage, dir, RECOVERY_POINT_FILE)
}

/// Reads the offset checkpoint `name`: `Ok(None)` when there is none, `Ok(Some(Err(why)))`
/// when the file exists but cannot be parsed.
pub fn read_offset<S: Storage>(
    storage: &S,
    dir: &Path,
    name: &str,
) -> StorageResult<Option<Result<Offset, String>>> {
    let path = dir.join(name);
    if !storage.exists(&path)? {
        return Ok(None);
    }
    let bytes = storage.open(&path, OpenMode::Existing)?.read_all()?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    let parsed = match (lines.next(), lines.next(), lines.next()) {
        (Some(CHECKPOINT_VERSION), Some(offset), None) => match offset.trim().parse::<i64>() {
            Ok(offset) if offset >= 0 => Ok(Offset(offset)),
            _ => Err(format!("offset line {offset:?} is not a non-negative integer")),
        },
        (Some(version), Some(_), None) if version != CHECKPOINT_VERSION => {
            Err(format!("unknown version {version:?}"))
        }
        _ => Err(format!(
            "expected 2 lines (version, offset), found {:?}",
            text.chars().take(64).collect::<String>()
        )),
    };
    Ok(Some(parsed))
}

/// Whether a name is a leftover temporary file from an interrupted checkpoint write.
pub fn is_temporary(name: &str) -> bool {
    name.ends_with(TEMPORARY_SUFFIX)
}
