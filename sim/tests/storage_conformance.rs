//! Storage conformance: one suite, run against FileStorage and SimStorage.
//!
//! Goal: the simulated disk behaves like real files wherever the `Storage` trait speaks, and
//! like POSIX where it is silent, so code tested on SimStorage runs the same on FileStorage.
//! Method: every case is a generic function over `S: Storage` that gets a storage and a root
//! directory that exists and is empty; `conformance!` instantiates each case twice, as
//! `conformance_file::<case>` (in a temporary directory) and `conformance_sim::<case>`.
//! Crashes and faults are SimStorage-only and live in `disk_crash.rs`.

use odradek::storage::{OpenMode, Storage, StorageError, StorageFile};
use std::io;
use std::path::Path;

/// The error of a call expected to fail (`StorageFile` has no `Debug` bound, so no
/// `unwrap_err`).
fn expect_err<T>(result: Result<T, StorageError>, what: &str) -> StorageError {
    match result {
        Ok(_) => panic!("{what}: expected an error"),
        Err(e) => e,
    }
}

fn create_new_creates_an_empty_file<S: Storage>(storage: &S, root: &Path) {
    let path = root.join("a.log");
    assert!(!storage.exists(&path).unwrap());
    let file = storage.open(&path, OpenMode::CreateNew).unwrap();
    assert!(storage.exists(&path).unwrap());
    assert_eq!(file.len().unwrap(), 0);
    assert!(file.is_empty().unwrap());
    assert_eq!(file.path(), path);
}

fn create_new_on_existing_file_is_already_exists<S: Storage>(storage: &S, root: &Path) {
    let path = root.join("a.log");
    let mut file = storage.open(&path, OpenMode::CreateNew).unwrap();
    file.append(b"kept").unwrap();
    let e = expect_err(storage.open(&path, OpenMode::CreateNew), "CreateNew twice");
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(e.op, "open");
    assert_eq!(e.path, path);
    assert_eq!(file.read_all().unwrap(), b"kept", "a failed CreateNew leaves the file alone");
}

fn open_existing_on_missing_file_is_not_found<S: Storage>(storage: &S, root: &Path) {
    let path = root.join("missing.log");
    let e = expect_err(storage.open(&path, OpenMode::Existing), "Existing on a missing file");
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert_eq!(e.op, "open");
    assert!(!storage.exists(&path).unwrap(), "a failed open creates nothing");
}

fn open_in_missing_directory_is_not_found<S: Storage>(storage: &S, root: &Path) {
    let path = root.join("no-such-dir").join("a.log");
    let e = expect_err(storage.open(&path, OpenMode::CreateOrExisting), "open under a missing dir");
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
}

fn create_or_existing_creates_then_opens<S: Storage>(storage: &S, root: &Path) {
    let path = root.join("a.log");
    let mut file = storage.open(&path, OpenMode::CreateOrExisting).unwrap();
    file.append(b"first").unwrap();
    let again = storage.open(&path, OpenMode::CreateOrExisting).unwrap();
    assert_eq!(again.read_all().unwrap(), b"first", "the second open does not truncate");
    let existing = storage.open(&path, OpenMode::Existing).unwrap();
    assert_eq!(existing.len().unwrap(), 5);
}

fn append_returns_positions<S: Storage>(storage: &S, root: &Path) {
    let mut file = storage.open(&root.join("a.log"), OpenMode::CreateNew).unwrap();
    assert_eq!(file.append(b"abc").unwrap(), 0);
    assert_eq!(file.append(b"defgh").unwrap(), 3);
    assert_eq!(file.append(b"").unwrap(), 8, "an empty append writes nothing, at the end");
    assert_eq!(file.append(b"i").unwrap(), 8);
    assert_eq!(file.len().unwrap(), 9);
    assert_eq!(file.read_all().unwrap(), b"abcdefghi");
}

fn read_at_is_short_only_at_the_end<S: Storage>(storage: &S, root: &Path) {
    let mut file = storage.open(&root.join("a.log"), OpenMode::CreateNew).unwrap();
    file.append(b"0123456789").unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(file.read_at(2, &mut buf).unwrap(), 4);
    assert_eq!(&buf, b"2345");
    let mut buf = [0u8; 4];
    assert_eq!(file.read_at(8, &mut buf).unwrap(), 2, "short read at the end");
    assert_eq!(&buf[..2], b"89");
    assert_eq!(file.read_at(10, &mut buf).unwrap(), 0, "read at the end");
    assert_eq!(file.read_at(1000, &mut buf).unwrap(), 0, "read beyond the end");
    assert_eq!(file.read_at(3, &mut []).unwrap(), 0, "empty buffer");
}

fn read_exact_at_beyond_the_end_is_unexpected_eof<S: Storage>(storage: &S, root: &Path) {
    let path = root.join("a.log");
    let mut file = storage.open(&path, OpenMode::CreateNew).unwrap();
    file.append(b"0123456789").unwrap();
    let mut buf = [0u8; 4];
    file.read_exact_at(6, &mut buf).unwrap();
    assert_eq!(&buf, b"6789");
    let e = expect_err(file.read_exact_at(7, &mut buf), "read_exact_at across the end");
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(e.op, "read");
    assert_eq!(e.path, path);
}

fn len_follows_appends_and_truncates<S: Storage>(storage: &S, root: &Path) {
    let mut file = storage.open(&root.join("a.log"), OpenMode::CreateNew).unwrap();
    assert_eq!(file.len().unwrap(), 0);
    file.append(&[7; 100]).unwrap();
    assert_eq!(file.len().unwrap(), 100);
    file.truncate(40).unwrap();
    assert_eq!(file.len().unwrap(), 40);
    assert!(!file.is_empty().unwrap());
    file.truncate(0).unwrap();
    assert!(file.is_empty().unwrap());
}

fn truncate_then_append<S: Storage>(storage: &S, root: &Path) {
    let mut file = storage.open(&root.join("a.log"), OpenMode::CreateNew).unwrap();
    file.append(b"0123456789").unwrap();
    file.sync().unwrap();
    file.truncate(4).unwrap();
    assert_eq!(file.append(b"xyz").unwrap(), 4, "appends go at the new end");
    assert_eq!(file.read_all().unwrap(), b"0123xyz");
    file.truncate(7).unwrap();
    assert_eq!(file.read_all().unwrap(), b"0123xyz", "truncate to the length changes nothing");
    file.sync().unwrap();
    assert_eq!(file.read_all().unwrap(), b"0123xyz");
}

fn reopen_sees_data<S: Storage>(storage: &S, root: &Path) {
    let path = root.join("a.log");
    {
        let mut file = storage.open(&path, OpenMode::CreateNew).unwrap();
        file.append(b"hello ").unwrap();
        file.sync().unwrap();
        file.append(b"world").unwrap();
    }
    let mut file = storage.open(&path, OpenMode::Existing).unwrap();
    assert_eq!(file.read_all().unwrap(), b"hello world");
    assert_eq!(file.append(b"!").unwrap(), 11, "a reopened file appends at its end");
}

fn two_handles_see_each_others_appends<S: Storage>(storage: &S, root: &Path) {
    let path = root.join("a.log");
    let mut writer = storage.open(&path, OpenMode::CreateNew).unwrap();
    let reader = storage.open(&path, OpenMode::Existing).unwrap();
    writer.append(b"abc").unwrap();
    let mut buf = [0u8; 3];
    reader.read_exact_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"abc");
}

fn rename_replaces_the_target<S: Storage>(storage: &S, root: &Path) {
    let (from, to) = (root.join("a.tmp"), root.join("a.log"));
    let mut old = storage.open(&to, OpenMode::CreateNew).unwrap();
    old.append(b"old").unwrap();
    let mut new = storage.open(&from, OpenMode::CreateNew).unwrap();
    new.append(b"new").unwrap();
    storage.rename(&from, &to).unwrap();
    assert!(!storage.exists(&from).unwrap());
    let reopened = storage.open(&to, OpenMode::Existing).unwrap();
    assert_eq!(reopened.read_all().unwrap(), b"new");
    assert_eq!(old.read_all().unwrap(), b"old", "the replaced file's handle still reads it");
    assert_eq!(new.append(b"er").unwrap(), 3, "the renamed file's handle still appends");
    // A fresh open: FileStorage caches `len` per handle (one appender per file), so an older
    // handle's `read_all` would stop at the length it knew.
    let reopened = storage.open(&to, OpenMode::Existing).unwrap();
    assert_eq!(reopened.read_all().unwrap(), b"newer");
    storage.sync_dir(root).unwrap();
    assert_eq!(storage.list_dir(root).unwrap(), ["a.log"]);
}

fn rename_across_directories<S: Storage>(storage: &S, root: &Path) {
    let (left, right) = (root.join("left"), root.join("right"));
    storage.create_dir_all(&left).unwrap();
    storage.create_dir_all(&right).unwrap();
    let mut file = storage.open(&left.join("a.log"), OpenMode::CreateNew).unwrap();
    file.append(b"moved").unwrap();
    storage.rename(&left.join("a.log"), &right.join("b.log")).unwrap();
    assert!(storage.list_dir(&left).unwrap().is_empty());
    assert_eq!(storage.list_dir(&right).unwrap(), ["b.log"]);
    let moved = storage.open(&right.join("b.log"), OpenMode::Existing).unwrap();
    assert_eq!(moved.read_all().unwrap(), b"moved");
}

fn rename_of_missing_file_is_not_found<S: Storage>(storage: &S, root: &Path) {
    let e = expect_err(storage.rename(&root.join("missing"), &root.join("b")), "rename missing");
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert_eq!(e.op, "rename");
}

fn remove_file_and_missing_is_not_found<S: Storage>(storage: &S, root: &Path) {
    let path = root.join("a.log");
    let mut file = storage.open(&path, OpenMode::CreateNew).unwrap();
    file.append(b"still readable").unwrap();
    storage.remove_file(&path).unwrap();
    assert!(!storage.exists(&path).unwrap());
    assert!(storage.list_dir(root).unwrap().is_empty());
    assert_eq!(file.read_all().unwrap(), b"still readable", "an unlinked file's handle works");
    file.append(b"!").unwrap();
    let e = expect_err(storage.remove_file(&path), "remove twice");
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert_eq!(e.op, "remove");
    let e = expect_err(storage.open(&path, OpenMode::Existing), "open removed");
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    // The name is free again.
    let again = storage.open(&path, OpenMode::CreateNew).unwrap();
    assert!(again.is_empty().unwrap());
}

fn list_dir_is_sorted_and_includes_directories<S: Storage>(storage: &S, root: &Path) {
    for name in ["00000000000000000042.log", "b", "00000000000000000000.log", "a.index"] {
        storage.open(&root.join(name), OpenMode::CreateNew).unwrap();
    }
    storage.create_dir_all(&root.join("topic-0")).unwrap();
    storage.create_dir_all(&root.join("Z")).unwrap();
    let names = storage.list_dir(root).unwrap();
    let expected =
        ["00000000000000000000.log", "00000000000000000042.log", "Z", "a.index", "b", "topic-0"];
    assert_eq!(names, expected);
    assert!(storage.list_dir(&root.join("topic-0")).unwrap().is_empty());
    let e = expect_err(storage.list_dir(&root.join("missing")), "list missing dir");
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
}

fn exists_sees_files_and_directories<S: Storage>(storage: &S, root: &Path) {
    assert!(storage.exists(root).unwrap());
    assert!(!storage.exists(&root.join("x")).unwrap());
    storage.create_dir_all(&root.join("x").join("y")).unwrap();
    assert!(storage.exists(&root.join("x")).unwrap());
    assert!(storage.exists(&root.join("x").join("y")).unwrap());
    storage.open(&root.join("x").join("f"), OpenMode::CreateNew).unwrap();
    assert!(storage.exists(&root.join("x").join("f")).unwrap());
}

fn create_dir_all_is_idempotent<S: Storage>(storage: &S, root: &Path) {
    let dir = root.join("a").join("b").join("c");
    storage.create_dir_all(&dir).unwrap();
    storage.create_dir_all(&dir).unwrap();
    storage.create_dir_all(&root.join("a")).unwrap();
    assert_eq!(storage.list_dir(&root.join("a")).unwrap(), ["b"]);
    storage.sync_dir(&dir).unwrap();
}

fn remove_dir_all_removes_the_tree<S: Storage>(storage: &S, root: &Path) {
    let dir = root.join("topic-0");
    storage.create_dir_all(&dir.join("nested")).unwrap();
    let mut file = storage.open(&dir.join("0.log"), OpenMode::CreateNew).unwrap();
    file.append(b"data").unwrap();
    storage.open(&dir.join("nested").join("1.log"), OpenMode::CreateNew).unwrap();
    storage.open(&root.join("keep.log"), OpenMode::CreateNew).unwrap();
    storage.remove_dir_all(&dir).unwrap();
    assert!(!storage.exists(&dir).unwrap());
    assert!(!storage.exists(&dir.join("0.log")).unwrap());
    assert_eq!(storage.list_dir(root).unwrap(), ["keep.log"]);
    assert_eq!(file.read_all().unwrap(), b"data", "open handles outlive the directory");
    let e = expect_err(storage.remove_dir_all(&dir), "remove_dir_all twice");
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    // The name can be used again.
    storage.create_dir_all(&dir).unwrap();
    assert!(storage.list_dir(&dir).unwrap().is_empty());
}

fn sync_and_sync_dir_succeed<S: Storage>(storage: &S, root: &Path) {
    let mut file = storage.open(&root.join("a.log"), OpenMode::CreateNew).unwrap();
    file.sync().unwrap();
    file.append(b"x").unwrap();
    file.sync().unwrap();
    file.sync().unwrap();
    storage.sync_dir(root).unwrap();
    let e = expect_err(storage.sync_dir(&root.join("missing")), "sync_dir of a missing dir");
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
}

fn many_small_appends<S: Storage>(storage: &S, root: &Path) {
    let path = root.join("a.log");
    let mut file = storage.open(&path, OpenMode::CreateNew).unwrap();
    let mut expected = Vec::new();
    for i in 0..5_000u32 {
        let record = i.to_be_bytes();
        assert_eq!(file.append(&record).unwrap(), expected.len() as u64);
        expected.extend_from_slice(&record);
        if i % 997 == 0 {
            file.sync().unwrap();
        }
    }
    assert_eq!(file.read_all().unwrap(), expected);
    let mut buf = [0u8; 4];
    file.read_exact_at(4 * 4321, &mut buf).unwrap();
    assert_eq!(u32::from_be_bytes(buf), 4321);
    drop(file);
    let reopened = storage.open(&path, OpenMode::Existing).unwrap();
    assert_eq!(reopened.len().unwrap(), 20_000);
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod conformance_file {
            use odradek::storage::FileStorage;
            $(
                #[test]
                fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$case(&FileStorage::new(), dir.path());
                }
            )*
        }

        mod conformance_sim {
            use odradek::storage::Storage;
            use odradek_sim::SimStorage;
            use std::path::Path;
            $(
                #[test]
                fn $case() {
                    let storage = SimStorage::new(0x5eed);
                    let root = Path::new("/data/logs");
                    storage.create_dir_all(root).unwrap();
                    super::$case(&storage, root);
                }
            )*
        }
    };
}

conformance!(
    create_new_creates_an_empty_file,
    create_new_on_existing_file_is_already_exists,
    open_existing_on_missing_file_is_not_found,
    open_in_missing_directory_is_not_found,
    create_or_existing_creates_then_opens,
    append_returns_positions,
    read_at_is_short_only_at_the_end,
    read_exact_at_beyond_the_end_is_unexpected_eof,
    len_follows_appends_and_truncates,
    truncate_then_append,
    reopen_sees_data,
    two_handles_see_each_others_appends,
    rename_replaces_the_target,
    rename_across_directories,
    rename_of_missing_file_is_not_found,
    remove_file_and_missing_is_not_found,
    list_dir_is_sorted_and_includes_directories,
    exists_sees_files_and_directories,
    create_dir_all_is_idempotent,
    remove_dir_all_removes_the_tree,
    sync_and_sync_dir_succeed,
    many_small_appends,
);

/// Differential check: random operation sequences give the same results (values, or error
/// kinds) on both storages. It finds the POSIX corners the named cases above do not list.
mod differential {
    use odradek::storage::{FileStorage, OpenMode, Storage, StorageFile};
    use odradek_sim::SimStorage;
    use proptest::prelude::*;
    use std::io;
    use std::path::Path;

    /// A small namespace, so that operations collide: files and directories of the same name,
    /// nesting, renames across directories.
    const PATHS: [&str; 8] = ["a", "b", "d", "d/a", "d/b", "d/e", "d/e/a", "e"];

    #[derive(Clone, Debug)]
    enum Op {
        Open(usize, OpenMode),
        Close,
        Append(usize),
        ReadAt(u64, usize),
        Len,
        Truncate(u8),
        Sync,
        Rename(usize, usize),
        RemoveFile(usize),
        CreateDirAll(usize),
        RemoveDirAll(usize),
        ListDir(usize),
        Exists(usize),
        SyncDir(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let path = 0..PATHS.len();
        let mode = prop_oneof![
            Just(OpenMode::CreateNew),
            Just(OpenMode::Existing),
            Just(OpenMode::CreateOrExisting),
        ];
        prop_oneof![
            4 => (path.clone(), mode).prop_map(|(path, mode)| Op::Open(path, mode)),
            1 => Just(Op::Close),
            4 => (0..300usize).prop_map(Op::Append),
            2 => (0..400u64, 0..100usize).prop_map(|(position, len)| Op::ReadAt(position, len)),
            1 => Just(Op::Len),
            1 => (0..=100u8).prop_map(Op::Truncate),
            1 => Just(Op::Sync),
            2 => (path.clone(), path.clone()).prop_map(|(from, to)| Op::Rename(from, to)),
            2 => path.clone().prop_map(Op::RemoveFile),
            2 => path.clone().prop_map(Op::CreateDirAll),
            1 => path.clone().prop_map(Op::RemoveDirAll),
            1 => path.clone().prop_map(Op::ListDir),
            1 => path.clone().prop_map(Op::Exists),
            1 => path.prop_map(Op::SyncDir),
        ]
    }

    /// Runs `ops` with at most one open handle (FileStorage caches a file's length per handle,
    /// so two handles on one file are outside the contract); each result is a value or an
    /// error kind.
    fn run<S: Storage>(storage: &S, root: &Path, ops: &[Op]) -> Vec<Result<String, io::ErrorKind>> {
        let mut handle: Option<S::File> = None;
        let mut results = Vec::new();
        for (index, op) in ops.iter().enumerate() {
            let at = |i: usize| root.join(PATHS[i]);
            let result = match (op, handle.as_mut()) {
                (Op::Open(path, mode), _) => {
                    handle = None;
                    storage.open(&at(*path), *mode).map(|file| {
                        handle = Some(file);
                        "opened".to_owned()
                    })
                }
                (Op::Close, _) => Ok(format!("closed {}", handle.take().is_some())),
                (Op::Append(len), Some(file)) => {
                    file.append(&vec![index as u8; *len]).map(|p| p.to_string())
                }
                (Op::ReadAt(position, len), Some(file)) => {
                    let mut buf = vec![0u8; *len];
                    file.read_at(*position, &mut buf).map(|read| format!("{:?}", &buf[..read]))
                }
                (Op::Len, Some(file)) => file.len().map(|len| len.to_string()),
                (Op::Truncate(percent), Some(file)) => file.len().and_then(|len| {
                    let len = len * u64::from(*percent) / 100;
                    file.truncate(len).map(|()| len.to_string())
                }),
                (Op::Sync, Some(file)) => file.sync().map(|()| "synced".to_owned()),
                (Op::Append(_) | Op::ReadAt(..) | Op::Len | Op::Truncate(_) | Op::Sync, None) => {
                    Ok("no handle".to_owned())
                }
                (Op::Rename(from, to), _) => {
                    storage.rename(&at(*from), &at(*to)).map(|()| String::new())
                }
                (Op::RemoveFile(path), _) => {
                    storage.remove_file(&at(*path)).map(|()| String::new())
                }
                (Op::CreateDirAll(path), _) => {
                    storage.create_dir_all(&at(*path)).map(|()| String::new())
                }
                (Op::RemoveDirAll(path), _) => {
                    storage.remove_dir_all(&at(*path)).map(|()| String::new())
                }
                (Op::ListDir(path), _) => storage.list_dir(&at(*path)).map(|names| names.join(",")),
                (Op::Exists(path), _) => {
                    storage.exists(&at(*path)).map(|exists| exists.to_string())
                }
                // FileStorage fsyncs a file given to sync_dir; SimStorage refuses it, as that is a
                // caller's bug. Only directories are compared.
                (Op::SyncDir(path), _) => match storage.list_dir(&at(*path)) {
                    Ok(_) => storage.sync_dir(&at(*path)).map(|()| "synced".to_owned()),
                    Err(_) => Ok("not a directory".to_owned()),
                },
            };
            results.push(result.map_err(|e| e.kind()));
        }
        results
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn random_operations_agree(ops in proptest::collection::vec(op(), 1..60)) {
            let dir = tempfile::tempdir().unwrap();
            let file_results = run(&FileStorage::new(), dir.path(), &ops);
            let sim = SimStorage::new(0);
            let root = Path::new("/data");
            sim.create_dir_all(root).unwrap();
            let sim_results = run(&sim, root, &ops);
            prop_assert_eq!(file_results, sim_results);
        }
    }
}
