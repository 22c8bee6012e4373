//! SimStorage's crash and fault model, checked from the outside.
//!
//! Goal: every promise in `disk.rs`'s header holds: synced bytes and entries survive any crash,
//! unsynced ones survive a process crash and may vanish on power loss, torn pages never reach
//! durable bytes, handles do not outlive a crash, the same seed gives the same outcome, and the
//! injected faults look like what they model. Method: small workloads, crashed under many seeds
//! where the outcome is random, with the invariants checked on every seed.

use odradek::storage::{OpenMode, Storage, StorageError, StorageFile};
use odradek_sim::disk::{DiskStats, FileCrashReport, PAGE_BYTES};
use odradek_sim::{CrashMode, CrashReport, DiskFaults, SimStorage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

const SEEDS: u64 = 500;

const POWER_LOSS: CrashMode = CrashMode::LosePageCache { torn_writes: false };
const POWER_LOSS_TORN: CrashMode = CrashMode::LosePageCache { torn_writes: true };

fn p(path: &str) -> &Path {
    Path::new(path)
}

fn expect_err<T>(result: Result<T, StorageError>, what: &str) -> StorageError {
    match result {
        Ok(_) => panic!("{what}: expected an error"),
        Err(e) => e,
    }
}

/// A disk with `/data` created (durably) and the file `name` in it holding `synced` bytes,
/// synced and with its entry synced.
fn disk_with_synced_file(seed: u64, name: &str, synced: &[u8]) -> (SimStorage, impl StorageFile) {
    let storage = SimStorage::new(seed);
    storage.create_dir_all(p("/data")).unwrap();
    let mut file = storage.open(&Path::new("/data").join(name), OpenMode::CreateNew).unwrap();
    file.append(synced).unwrap();
    file.sync().unwrap();
    storage.sync_dir(p("/data")).unwrap();
    (storage, file)
}

fn read_file(storage: &SimStorage, path: &str) -> Vec<u8> {
    storage.open(p(path), OpenMode::Existing).unwrap().read_all().unwrap()
}

/// Everything a test can observe: every path under the root with a file's bytes or `None`
/// for a directory.
fn snapshot(storage: &SimStorage) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut tree = BTreeMap::new();
    let mut stack = vec![PathBuf::from("/")];
    while let Some(dir) = stack.pop() {
        for name in storage.list_dir(&dir).unwrap() {
            let path = dir.join(name);
            match storage.open(&path, OpenMode::Existing) {
                Ok(file) => {
                    tree.insert(path, Some(file.read_all().unwrap()));
                }
                Err(e) if e.kind() == io::ErrorKind::IsADirectory => {
                    tree.insert(path.clone(), None);
                    stack.push(path);
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    tree
}

#[test]
fn synced_data_and_entries_always_survive_power_loss() {
    for seed in 0..SEEDS {
        let synced: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + seed as u32) as u8).collect();
        let (storage, mut file) = disk_with_synced_file(seed, "0.log", &synced);
        file.append(&[0xEE; 9_000]).unwrap();
        // Entries made durable by sync_dir: a rename and a removal.
        storage.open(p("/data/meta.tmp"), OpenMode::CreateNew).unwrap().sync().unwrap();
        storage.open(p("/data/gone.log"), OpenMode::CreateNew).unwrap();
        storage.sync_dir(p("/data")).unwrap();
        storage.rename(p("/data/meta.tmp"), p("/data/meta")).unwrap();
        storage.remove_file(p("/data/gone.log")).unwrap();
        storage.sync_dir(p("/data")).unwrap();

        let report = storage.crash(POWER_LOSS_TORN);

        let after = read_file(&storage, "/data/0.log");
        assert!(after.len() >= synced.len(), "seed {seed}: {report}");
        assert_eq!(after[..synced.len()], synced[..], "seed {seed}: {report}");
        assert_eq!(storage.list_dir(p("/data")).unwrap(), ["0.log", "meta"], "seed {seed}");
    }
}

#[test]
fn unsynced_data_and_entries_survive_process_crash() {
    let (storage, mut file) = disk_with_synced_file(7, "0.log", b"synced ");
    // First, as create_dir_all syncs /data and would make the later entry ops durable.
    storage.create_dir_all(p("/data/topic-0")).unwrap();
    file.append(b"unsynced").unwrap();
    file.truncate(10).unwrap();
    file.append(b" tail").unwrap();
    let mut other = storage.open(p("/data/1.log"), OpenMode::CreateNew).unwrap();
    other.append(b"new file").unwrap();
    storage.rename(p("/data/1.log"), p("/data/2.log")).unwrap();
    storage.remove_file(p("/data/0.log")).unwrap();
    storage.open(p("/data/topic-0/00.log"), OpenMode::CreateNew).unwrap();
    let before = snapshot(&storage);

    let report = storage.crash(CrashMode::KeepPageCache);

    assert_eq!(snapshot(&storage), before);
    assert_eq!(report.unsynced_bytes_lost(), 0);
    assert_eq!(report.entry_ops_lost(), 0);
    let dropped = &report.files[&PathBuf::from("/data/2.log")];
    assert_eq!(dropped.unsynced_bytes_kept, 8);
    assert_eq!(
        report.files[&PathBuf::from("/data/0.log")],
        FileCrashReport {
            len_before: 15,
            len_after: 15,
            unsynced_bytes: 13,
            unsynced_bytes_kept: 13,
            ..FileCrashReport::default()
        },
        "the removed file is reported under its durable path"
    );
    assert_eq!(report.inodes_dropped, 1, "the removed 0.log has no entry left");
}

#[test]
fn unsynced_entry_ops_may_be_undone_in_order() {
    // Pending in /data, in this order: link new.log, rename old.tmp -> old.log, unlink gone.log.
    // Power loss keeps a prefix of them, so exactly four outcomes are possible.
    let mut outcomes = BTreeSet::new();
    for seed in 0..SEEDS {
        let storage = SimStorage::new(seed);
        storage.create_dir_all(p("/data")).unwrap();
        storage.open(p("/data/old.tmp"), OpenMode::CreateNew).unwrap();
        storage.open(p("/data/gone.log"), OpenMode::CreateNew).unwrap();
        storage.sync_dir(p("/data")).unwrap();
        storage.open(p("/data/new.log"), OpenMode::CreateNew).unwrap();
        storage.rename(p("/data/old.tmp"), p("/data/old.log")).unwrap();
        storage.remove_file(p("/data/gone.log")).unwrap();

        let report = storage.crash(POWER_LOSS);

        let names = storage.list_dir(p("/data")).unwrap();
        let kept = report.directories[&PathBuf::from("/data")].entry_ops_kept;
        let expected: &[&str] = match kept {
            0 => &["gone.log", "old.tmp"],
            1 => &["gone.log", "new.log", "old.tmp"],
            2 => &["gone.log", "new.log", "old.log"],
            3 => &["new.log", "old.log"],
            _ => panic!("seed {seed}: {report}"),
        };
        assert_eq!(names, expected, "seed {seed}");
        outcomes.insert(kept);
    }
    assert_eq!(outcomes, BTreeSet::from([0, 1, 2, 3]), "every prefix happens under some seed");
}

#[test]
fn unsynced_new_file_may_vanish_with_its_data() {
    let mut vanished = 0;
    for seed in 0..SEEDS {
        let storage = SimStorage::new(seed);
        storage.create_dir_all(p("/data")).unwrap();
        let mut file = storage.open(p("/data/0.log"), OpenMode::CreateNew).unwrap();
        // The data is synced, the entry is not: the file is unreachable if the link is lost.
        file.append(b"synced data, unsynced entry").unwrap();
        file.sync().unwrap();
        let stats_before = storage.stats();
        storage.crash(POWER_LOSS_TORN);
        if storage.exists(p("/data/0.log")).unwrap() {
            assert_eq!(read_file(&storage, "/data/0.log"), b"synced data, unsynced entry");
        } else {
            vanished += 1;
            assert_eq!(storage.stats().inodes, stats_before.inodes - 1, "its inode is dropped");
        }
    }
    assert!(vanished > 0 && vanished < SEEDS, "{vanished} of {SEEDS} vanished");
}

#[test]
fn cross_directory_rename_may_keep_both_names_or_neither() {
    let mut outcomes = BTreeSet::new();
    for seed in 0..SEEDS {
        let storage = SimStorage::new(seed);
        storage.create_dir_all(p("/left")).unwrap();
        storage.create_dir_all(p("/right")).unwrap();
        storage.open(p("/left/a"), OpenMode::CreateNew).unwrap().append(b"x").unwrap();
        storage.sync_dir(p("/left")).unwrap();
        storage.rename(p("/left/a"), p("/right/b")).unwrap();
        storage.crash(POWER_LOSS);
        let a = storage.exists(p("/left/a")).unwrap();
        let b = storage.exists(p("/right/b")).unwrap();
        outcomes.insert((a, b));
    }
    let all = BTreeSet::from([(true, false), (false, true), (true, true), (false, false)]);
    assert_eq!(outcomes, all, "an unlink and a link, pending in two directories");

    // Synced in both directories, the rename is final.
    for seed in 0..50 {
        let storage = SimStorage::new(seed);
        storage.create_dir_all(p("/left")).unwrap();
        storage.create_dir_all(p("/right")).unwrap();
        storage.open(p("/left/a"), OpenMode::CreateNew).unwrap();
        storage.sync_dir(p("/left")).unwrap();
        storage.rename(p("/left/a"), p("/right/b")).unwrap();
        storage.sync_dir(p("/left")).unwrap();
        storage.sync_dir(p("/right")).unwrap();
        storage.crash(POWER_LOSS_TORN);
        assert!(!storage.exists(p("/left/a")).unwrap());
        assert!(storage.exists(p("/right/b")).unwrap());
    }
}

#[test]
fn create_dir_all_is_durable_at_once() {
    for seed in 0..50 {
        let storage = SimStorage::new(seed);
        storage.create_dir_all(p("/data/topic-0/nested")).unwrap();
        storage.crash(POWER_LOSS_TORN);
        assert!(storage.exists(p("/data/topic-0/nested")).unwrap(), "seed {seed}");
    }
}

#[test]
fn remove_dir_all_is_pending_until_the_parent_is_synced() {
    let mut came_back = 0;
    for seed in 0..SEEDS {
        let storage = SimStorage::new(seed);
        storage.create_dir_all(p("/data/topic-0")).unwrap();
        let mut file = storage.open(p("/data/topic-0/0.log"), OpenMode::CreateNew).unwrap();
        file.append(b"records").unwrap();
        file.sync().unwrap();
        storage.sync_dir(p("/data/topic-0")).unwrap();
        storage.remove_dir_all(p("/data/topic-0")).unwrap();
        storage.crash(POWER_LOSS_TORN);
        if storage.exists(p("/data/topic-0")).unwrap() {
            came_back += 1;
            assert_eq!(read_file(&storage, "/data/topic-0/0.log"), b"records");
        }
    }
    assert!(came_back > 0 && came_back < SEEDS, "{came_back} of {SEEDS} came back");

    for seed in 0..50 {
        let storage = SimStorage::new(seed);
        storage.create_dir_all(p("/data/topic-0")).unwrap();
        storage.open(p("/data/topic-0/0.log"), OpenMode::CreateNew).unwrap();
        storage.sync_dir(p("/data/topic-0")).unwrap();
        storage.remove_dir_all(p("/data/topic-0")).unwrap();
        storage.sync_dir(p("/data")).unwrap();
        assert_eq!(storage.stats().inodes, 2, "the root and /data; the tree is collected");
        storage.crash(POWER_LOSS_TORN);
        assert!(!storage.exists(p("/data/topic-0")).unwrap(), "seed {seed}");
    }
}

/// Appends of random sizes with syncs at random points, then power loss with torn writes.
/// Whatever the seed: the durable bytes are intact, and after them come a prefix of the
/// unsynced bytes, at most one page of garbage ending where that prefix ends, and zeros.
#[test]
fn torn_garbage_never_touches_durable_bytes() {
    let mut seen_garbage = 0;
    let mut seen_zeros = 0;
    let mut seen_all_lost = 0;
    let mut seen_all_kept = 0;
    for seed in 0..SEEDS {
        let mut workload = ChaCha8Rng::seed_from_u64(seed ^ 0xdead_beef);
        let (storage, mut file) = disk_with_synced_file(seed, "0.log", b"");
        let mut durable = Vec::new();
        let mut unsynced = Vec::new();
        for _ in 0..workload.gen_range(1..20) {
            let mut data = vec![0u8; workload.gen_range(1..10_000)];
            workload.fill(&mut data[..]);
            file.append(&data).unwrap();
            unsynced.extend_from_slice(&data);
            if workload.gen_bool(0.3) {
                file.sync().unwrap();
                durable.append(&mut unsynced);
            }
        }

        let report = storage.crash(POWER_LOSS_TORN);

        let after = read_file(&storage, "/data/0.log");
        let context = format!("seed {seed}: {report}");
        assert_eq!(after[..durable.len()], durable[..], "{context}");
        if unsynced.is_empty() {
            assert!(report.files.is_empty(), "{context}");
            assert_eq!(after.len(), durable.len(), "{context}");
            continue;
        }
        let file_report = report.files[&PathBuf::from("/data/0.log")];
        let kept = file_report.unsynced_bytes_kept as usize;
        let garbage = file_report.garbage_bytes as usize;
        let zeros = file_report.zero_bytes as usize;
        assert_eq!(file_report.unsynced_bytes, unsynced.len() as u64, "{context}");
        assert_eq!(kept + file_report.unsynced_bytes_lost as usize, unsynced.len(), "{context}");
        assert!(garbage <= PAGE_BYTES.min(kept), "{context}");
        assert!(zeros <= PAGE_BYTES.min(unsynced.len() - kept), "{context}");
        assert_eq!(after.len(), durable.len() + kept + zeros, "{context}");
        assert_eq!(file_report.len_after, after.len() as u64, "{context}");
        let clean_end = durable.len() + kept - garbage;
        assert_eq!(after[durable.len()..clean_end], unsynced[..kept - garbage], "{context}");
        assert!(after[durable.len() + kept..].iter().all(|&b| b == 0), "{context}");

        seen_garbage += usize::from(garbage > 0);
        seen_zeros += usize::from(zeros > 0);
        seen_all_lost += usize::from(kept == 0);
        seen_all_kept += usize::from(kept == unsynced.len());
    }
    for (what, count) in [
        ("garbage", seen_garbage),
        ("zeros", seen_zeros),
        ("all lost", seen_all_lost),
        ("all kept", seen_all_kept),
    ] {
        assert!(count > 10, "{what} seen on only {count} seeds");
    }
}

/// After a truncate below the durable length, the surviving state is either the old durable
/// bytes (the truncate was lost) or the truncated prefix followed by what was appended: garbage
/// never lands below the durable length, even where a surviving truncate cut.
#[test]
fn torn_garbage_never_touches_durable_bytes_after_truncate() {
    let durable: Vec<u8> = (0..8_000u32).map(|i| (i % 251) as u8).collect();
    let mut truncate_survived = 0;
    for seed in 0..SEEDS {
        let (storage, mut file) = disk_with_synced_file(seed, "0.log", &durable);
        file.truncate(3_000).unwrap();
        let appended = vec![0xAB; 9_000];
        file.append(&appended).unwrap();

        let report = storage.crash(POWER_LOSS_TORN);

        let after = read_file(&storage, "/data/0.log");
        let context = format!("seed {seed}: {report}");
        assert_eq!(after[..3_000], durable[..3_000], "{context}");
        if after.len() >= durable.len() && after[..durable.len()] == durable[..] {
            continue;
        }
        truncate_survived += 1;
        let overlap = after.len().min(durable.len());
        assert!(after[3_000..overlap].iter().all(|&b| b == 0xAB), "{context}");
    }
    assert!(truncate_survived > 0, "the truncate survived on no seed");
}

#[test]
fn stale_handles_fail_after_crash() {
    for mode in [CrashMode::KeepPageCache, POWER_LOSS, POWER_LOSS_TORN] {
        let (storage, mut file) = disk_with_synced_file(3, "0.log", b"synced");
        let mut unlinked = storage.open(p("/data/1.log"), OpenMode::CreateNew).unwrap();
        storage.remove_file(p("/data/1.log")).unwrap();
        storage.sync_dir(p("/data")).unwrap();
        assert_eq!(unlinked.append(b"still works").unwrap(), 0, "until the crash");

        storage.crash(mode);

        let mut buf = [0u8; 4];
        let errors = [
            ("append", expect_err(file.append(b"x"), "append")),
            ("read", expect_err(file.read_at(0, &mut buf), "read_at")),
            ("len", expect_err(file.len(), "len")),
            ("sync", expect_err(file.sync(), "sync")),
            ("truncate", expect_err(file.truncate(0), "truncate")),
            ("len", expect_err(unlinked.read_all(), "read_all of the unlinked file")),
        ];
        for (op, e) in errors {
            assert_eq!(e.op, op);
            assert_eq!(e.kind(), io::ErrorKind::Other);
            assert!(e.to_string().contains("stale handle from before crash"), "{e}");
        }
        assert_eq!(storage.stats().inodes, 3, "the unlinked file died with the crash");
        // A fresh handle works, and dropping the stale ones is harmless.
        assert_eq!(read_file(&storage, "/data/0.log"), b"synced");
        drop(file);
        drop(unlinked);
        let mut reopened = storage.open(p("/data/0.log"), OpenMode::Existing).unwrap();
        assert_eq!(reopened.append(b"!").unwrap(), 6);
    }
}

/// A fixed workload over several files and directories, then a crash.
fn scripted_run(seed: u64, mode: CrashMode) -> (CrashReport, BTreeMap<PathBuf, Option<Vec<u8>>>) {
    let storage = SimStorage::new(seed);
    for topic in 0..3 {
        let dir = format!("/data/topic-{topic}");
        storage.create_dir_all(p(&dir)).unwrap();
        for segment in 0..3u8 {
            let path = format!("{dir}/{segment:020}.log");
            let mut file = storage.open(p(&path), OpenMode::CreateNew).unwrap();
            for record in 0..50u8 {
                file.append(&[topic, segment, record].repeat(37)).unwrap();
                if record % 20 == 19 {
                    file.sync().unwrap();
                }
            }
            if segment == 1 {
                storage.sync_dir(p(&dir)).unwrap();
            }
        }
        storage
            .rename(p(&format!("{dir}/{:020}.log", 2)), p(&format!("{dir}/renamed.log")))
            .unwrap();
    }
    let report = storage.crash(mode);
    (report, snapshot(&storage))
}

#[test]
fn same_seed_same_operations_same_outcome() {
    for mode in [CrashMode::KeepPageCache, POWER_LOSS, POWER_LOSS_TORN] {
        for seed in [0, 1, 42, u64::MAX] {
            assert_eq!(scripted_run(seed, mode), scripted_run(seed, mode), "seed {seed} {mode:?}");
        }
    }
    // And the seed matters: power loss outcomes differ between seeds.
    let outcomes: BTreeSet<String> =
        (0..20).map(|seed| format!("{:?}", scripted_run(seed, POWER_LOSS_TORN))).collect();
    assert!(outcomes.len() > 10, "only {} distinct outcomes over 20 seeds", outcomes.len());
}

#[test]
fn read_corruption_flips_exactly_one_bit_and_leaves_storage_intact() {
    let original: Vec<u8> = (0..1_000u32).map(|i| (i * 13) as u8).collect();
    let (storage, file) = disk_with_synced_file(11, "0.log", &original);
    storage.set_faults(DiskFaults { read_corruption_probability: 1.0, ..DiskFaults::default() });
    let mut flipped_positions = BTreeSet::new();
    for _ in 0..100 {
        let mut buf = vec![0u8; original.len()];
        assert_eq!(file.read_at(0, &mut buf).unwrap(), original.len());
        let flipped_bits: u32 = buf.iter().zip(&original).map(|(a, b)| (a ^ b).count_ones()).sum();
        assert_eq!(flipped_bits, 1);
        flipped_positions.insert(buf.iter().zip(&original).position(|(a, b)| a != b).unwrap());
    }
    assert!(flipped_positions.len() > 50, "the flipped bit moves around");
    let mut empty = [0u8; 0];
    assert_eq!(file.read_at(0, &mut empty).unwrap(), 0, "nothing read, nothing to corrupt");
    assert_eq!(storage.stats().read_corruptions_injected, 100);

    storage.set_faults(DiskFaults::default());
    assert_eq!(file.read_all().unwrap(), original, "the stored bytes were never touched");
    storage.crash(POWER_LOSS_TORN);
    assert_eq!(read_file(&storage, "/data/0.log"), original);
}

#[test]
fn injected_io_errors_name_op_and_path_and_have_no_effect() {
    let (storage, mut file) = disk_with_synced_file(5, "0.log", b"synced");
    storage.set_faults(DiskFaults { io_error_probability: 1.0, ..DiskFaults::default() });
    let mut buf = [0u8; 1];
    let errors = [
        ("append", "/data/0.log", expect_err(file.append(b"lost"), "append")),
        ("read", "/data/0.log", expect_err(file.read_at(0, &mut buf), "read_at")),
        ("sync", "/data/0.log", expect_err(file.sync(), "sync")),
        ("truncate", "/data/0.log", expect_err(file.truncate(0), "truncate")),
        (
            "open",
            "/data/1.log",
            expect_err(storage.open(p("/data/1.log"), OpenMode::CreateNew), "open"),
        ),
        (
            "rename",
            "/data/0.log",
            expect_err(storage.rename(p("/data/0.log"), p("/data/x")), "rename"),
        ),
        ("remove", "/data/0.log", expect_err(storage.remove_file(p("/data/0.log")), "remove")),
        ("sync_dir", "/data", expect_err(storage.sync_dir(p("/data")), "sync_dir")),
        ("list", "/data", expect_err(storage.list_dir(p("/data")), "list_dir")),
        (
            "create_dir",
            "/data/t",
            expect_err(storage.create_dir_all(p("/data/t")), "create_dir_all"),
        ),
    ];
    for (op, path, e) in &errors {
        assert_eq!(e.op, *op);
        assert_eq!(e.path, Path::new(path));
        assert_eq!(e.kind(), io::ErrorKind::Other);
        assert!(e.to_string().contains("injected I/O error"), "{e}");
        assert!(e.to_string().contains(path), "the message names the path: {e}");
    }
    assert_eq!(storage.stats().io_errors_injected, errors.len() as u64);

    storage.set_faults(DiskFaults::default());
    assert_eq!(
        snapshot(&storage),
        BTreeMap::from([
            (PathBuf::from("/data"), None),
            (PathBuf::from("/data/0.log"), Some(b"synced".to_vec())),
        ])
    );

    // At a probability in between, some calls fail and some succeed.
    storage.set_faults(DiskFaults { io_error_probability: 0.3, ..DiskFaults::default() });
    let results: Vec<bool> = (0..200).map(|_| file.append(b"x").is_ok()).collect();
    let succeeded = results.iter().filter(|&&ok| ok).count();
    assert!((100..180).contains(&succeeded), "{succeeded} of 200 succeeded");
    storage.set_faults(DiskFaults::default());
    assert_eq!(file.len().unwrap(), 6 + succeeded as u64);
}

#[test]
fn flip_byte_corrupts_durable_and_current_bytes() {
    let (storage, mut file) = disk_with_synced_file(9, "0.log", b"0123456789");
    storage.flip_byte(p("/data/0.log"), 3).unwrap();
    let mut expected = b"0123456789".to_vec();
    expected[3] = !expected[3];
    assert_eq!(file.read_all().unwrap(), expected);
    // After a truncate below it, the durable byte (kept apart) is corrupted too.
    file.truncate(2).unwrap();
    storage.flip_byte(p("/data/0.log"), 1).unwrap();
    expected[1] = !expected[1];
    storage.crash(POWER_LOSS);
    let after = read_file(&storage, "/data/0.log");
    if after.len() == 10 {
        assert_eq!(after, expected, "the truncate was lost: both flips are on the platter");
    } else {
        assert_eq!(after, expected[..2], "the truncate survived");
    }

    let e = storage.flip_byte(p("/data/0.log"), 1_000).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let e = storage.flip_byte(p("/data/missing"), 0).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
}

#[test]
fn flipped_byte_stays_flipped_across_crashes() {
    for seed in 0..50 {
        let (storage, mut file) = disk_with_synced_file(seed, "0.log", b"0123456789");
        file.append(b"unsynced").unwrap();
        storage.flip_byte(p("/data/0.log"), 5).unwrap();
        storage.crash(POWER_LOSS_TORN);
        assert_eq!(read_file(&storage, "/data/0.log")[..10], *b"01234\xca6789", "seed {seed}");
    }
}

#[test]
fn retention_does_not_grow_the_model() {
    let storage = SimStorage::new(1);
    storage.create_dir_all(p("/data/topic-0")).unwrap();
    let mut segments = std::collections::VecDeque::new();
    for base_offset in 0..2_000u64 {
        let path = PathBuf::from(format!("/data/topic-0/{base_offset:020}.log"));
        let mut file = storage.open(&path, OpenMode::CreateNew).unwrap();
        file.append(&[1; 1_000]).unwrap();
        file.sync().unwrap();
        segments.push_back((path, file));
        if segments.len() > 3 {
            let (oldest, handle) = segments.pop_front().unwrap();
            storage.remove_file(&oldest).unwrap();
            drop(handle);
        }
        // Kafka syncs the directory at every roll; here every tenth, so unlinks pile up a bit.
        if base_offset % 10 == 0 {
            storage.sync_dir(p("/data/topic-0")).unwrap();
        }
    }
    storage.sync_dir(p("/data/topic-0")).unwrap();
    let stats = storage.stats();
    assert_eq!(stats.inodes, 3 + 3, "root, data, topic-0 and three segments");
    assert_eq!(stats.bytes_written, 2_000_000);
    assert_eq!(stats.syncs, 2_000);
}

#[test]
fn unlinked_file_lives_while_a_handle_is_open() {
    let (storage, mut file) = disk_with_synced_file(2, "0.log", b"data");
    storage.remove_file(p("/data/0.log")).unwrap();
    storage.sync_dir(p("/data")).unwrap();
    assert_eq!(storage.stats().inodes, 3, "root, /data, and the open unlinked file");
    file.append(b" more").unwrap();
    assert_eq!(file.read_all().unwrap(), b"data more");
    drop(file);
    assert_eq!(storage.stats().inodes, 2, "collected when the last handle closes");
}

#[test]
fn bad_paths_are_errors_not_panics() {
    let storage = SimStorage::new(0);
    storage.create_dir_all(p("/data")).unwrap();
    storage.open(p("/data/f"), OpenMode::CreateNew).unwrap();
    let cases = [
        (
            expect_err(storage.open(p("/data/../f"), OpenMode::CreateOrExisting), ".."),
            io::ErrorKind::InvalidInput,
        ),
        (
            expect_err(storage.exists(p("/data/../data")), ".. in exists"),
            io::ErrorKind::InvalidInput,
        ),
        (
            expect_err(storage.open(p("/"), OpenMode::CreateOrExisting), "open root"),
            io::ErrorKind::InvalidInput,
        ),
        (expect_err(storage.remove_dir_all(p("/")), "remove root"), io::ErrorKind::InvalidInput),
        (
            expect_err(storage.open(p("/data"), OpenMode::Existing), "open a dir"),
            io::ErrorKind::IsADirectory,
        ),
        (expect_err(storage.list_dir(p("/data/f")), "list a file"), io::ErrorKind::NotADirectory),
        (
            expect_err(storage.open(p("/data/f/g"), OpenMode::CreateNew), "file as dir"),
            io::ErrorKind::NotADirectory,
        ),
        (
            expect_err(storage.remove_file(p("/data")), "remove_file a dir"),
            io::ErrorKind::IsADirectory,
        ),
        (
            expect_err(storage.remove_dir_all(p("/data/f")), "remove_dir_all a file"),
            io::ErrorKind::NotADirectory,
        ),
        (
            expect_err(storage.create_dir_all(p("/data/f")), "create_dir over a file"),
            io::ErrorKind::AlreadyExists,
        ),
        (
            expect_err(storage.rename(p("/data"), p("/data/x")), "dir into itself"),
            io::ErrorKind::InvalidInput,
        ),
    ];
    for (e, kind) in cases {
        assert_eq!(e.kind(), kind, "{e}");
    }
    // `.` and a missing leading slash name the same paths.
    assert!(storage.exists(p("data/./f")).unwrap());
}

#[test]
fn stats_count_writes_syncs_and_crashes() {
    let storage = SimStorage::new(0);
    storage.create_dir_all(p("/data")).unwrap();
    let mut file = storage.open(p("/data/0.log"), OpenMode::CreateNew).unwrap();
    file.append(&[0; 100]).unwrap();
    file.append(&[0; 23]).unwrap();
    file.sync().unwrap();
    storage.sync_dir(p("/data")).unwrap();
    storage.crash(CrashMode::KeepPageCache);
    storage.crash(POWER_LOSS);
    assert_eq!(
        storage.stats(),
        DiskStats {
            bytes_written: 123,
            syncs: 1,
            dir_syncs: 1,
            crashes: 2,
            inodes: 3,
            ..DiskStats::default()
        }
    );
    assert_eq!(storage.generation(), 2);
}

#[test]
fn large_unsynced_appends_crash_and_sync_in_proportion() {
    // 32 MiB appended then synced once, 32 MiB synced after every MiB, then 32 MiB unsynced:
    // one merged pending write, and syncs that do not copy the file.
    let chunk = vec![0x5A; 1 << 20];
    let (storage, mut file) = disk_with_synced_file(4, "0.log", b"");
    for _ in 0..32 {
        file.append(&chunk).unwrap();
    }
    file.sync().unwrap();
    for _ in 0..32 {
        file.append(&chunk).unwrap();
        file.sync().unwrap();
    }
    for _ in 0..32 {
        file.append(&chunk).unwrap();
    }
    let report = storage.crash(POWER_LOSS_TORN);
    let file_report = report.files[&PathBuf::from("/data/0.log")];
    assert_eq!(file_report.unsynced_bytes, 32 << 20);
    assert_eq!(file_report.len_before, 96 << 20);
    assert!(file_report.len_after >= 64 << 20);
    assert_eq!(read_file(&storage, "/data/0.log")[..64 << 20], vec![0x5A; 64 << 20][..]);
}

/// A lying disk answers every flush with success and makes nothing durable: on power loss,
/// bytes the caller synced can go, in every seed where the crash keeps less than everything.
#[test]
fn a_lying_disk_loses_synced_bytes_and_says_it_synced() {
    let mut lost_somewhere = false;
    for seed in 0..SEEDS {
        let (storage, mut file) = disk_with_synced_file(seed, "0.log", b"honest");
        storage.set_faults(DiskFaults { sync_is_noop: true, ..DiskFaults::default() });
        file.append(b" and then lied to").unwrap();
        file.sync().unwrap();
        let renamed = storage.open(p("/data/1.log"), OpenMode::CreateNew).unwrap();
        drop(renamed);
        storage.sync_dir(p("/data")).unwrap();
        assert_eq!(storage.stats().syncs_ignored, 2, "seed {seed}");
        storage.crash(POWER_LOSS);
        let after = read_file(&storage, "/data/0.log");
        assert!(after.starts_with(b"honest"), "seed {seed}: bytes synced honestly survive");
        if after.len() < b"honest and then lied to".len() {
            lost_somewhere = true;
        }
        assert!(storage.list_dir(p("/data")).unwrap().contains(&"0.log".to_string()));
    }
    assert!(lost_somewhere, "some seed loses bytes the caller synced");
    // An honest disk keeps them in every seed.
    for seed in 0..50 {
        let (storage, mut file) = disk_with_synced_file(seed, "0.log", b"honest");
        file.append(b" and kept").unwrap();
        file.sync().unwrap();
        storage.crash(POWER_LOSS_TORN);
        assert_eq!(read_file(&storage, "/data/0.log"), b"honest and kept");
    }
}

/// The testbed can look at a disk without changing it: no fault fires, no statistic moves,
/// and the disk's random choices stay where they were.
#[test]
fn inspecting_a_disk_changes_nothing() {
    let looked = {
        let (storage, mut file) = disk_with_synced_file(3, "00000000000000000000.log", b"abc");
        file.append(b"def").unwrap();
        storage.set_faults(DiskFaults {
            io_error_probability: 1.0,
            read_corruption_probability: 1.0,
            ..DiskFaults::default()
        });
        let stats = storage.stats();
        assert_eq!(storage.inspect_dir(p("/data")), Some(vec!["00000000000000000000.log".into()]));
        assert_eq!(
            storage.inspect_file(p("/data/00000000000000000000.log"), 4),
            Some(b"abcd".to_vec())
        );
        assert_eq!(storage.inspect_file(p("/data/missing"), 4), None);
        assert_eq!(storage.inspect_dir(p("/data/00000000000000000000.log")), None);
        assert_eq!(storage.stats(), stats);
        storage.set_faults(DiskFaults::default());
        storage.crash(POWER_LOSS);
        read_file(&storage, "/data/00000000000000000000.log")
    };
    let unlooked = {
        let (storage, mut file) = disk_with_synced_file(3, "00000000000000000000.log", b"abc");
        file.append(b"def").unwrap();
        storage.crash(POWER_LOSS);
        read_file(&storage, "/data/00000000000000000000.log")
    };
    assert_eq!(looked, unlooked, "the crash drew the same random prefix");
}
