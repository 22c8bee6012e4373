//! Partition log recovery on the simulated disk, one damage at a time.
//!
//! Goal: each way a disk can hurt a partition log (a torn tail after a power loss, a flipped
//! byte in synced data, a damaged index, a missing clean-shutdown marker, failing I/O) is
//! found on open, cut or rebuilt, named in the recovery report, and never a panic. Method:
//! fill a log on a `SimStorage`, damage it through the disk's own fault calls (`crash`,
//! `flip_byte`, `set_faults`) or by editing its files, reopen it, and compare what it holds
//! with what was appended. The random mix of all of these is `log_model.rs`.

use bytes::Bytes;
use odradek::log::batch::{self, BatchError};
use odradek::log::index::IndexProblem;
use odradek::log::segment::{self, Damage};
use odradek::log::{checkpoint, Log, LogConfig, LogError};
use odradek::storage::{OpenMode, Storage, StorageFile};
use odradek::{LeaderEpoch, Offset};
use odradek_sim::{CrashMode, DiskFaults, SimStorage};
use std::path::{Path, PathBuf};

const NOW_MS: i64 = 1_700_000_000_000;
const LOG_DIR: &str = "/data/orders-0";

fn small_segments() -> LogConfig {
    LogConfig { segment_bytes: 1024, index_interval_bytes: 100, ..LogConfig::default() }
}

fn open(storage: &SimStorage, config: LogConfig) -> Log<SimStorage> {
    Log::open(storage.clone(), LOG_DIR, config, NOW_MS).expect("open")
}

fn segment_path(base: Offset, suffix: &str) -> PathBuf {
    Path::new(LOG_DIR).join(segment::file_name(base, suffix))
}

/// Batch `i` of a test: 3 records with 20-byte values, all batches the same size.
fn test_batch(i: usize) -> Bytes {
    let records: Vec<_> = (0..3)
        .map(|r| (None, Some(Bytes::from(format!("batch {i:04} record {r} value")))))
        .collect();
    batch::encode(&records, NOW_MS + i as i64)
}

/// Appends batches `from..to`; returns what the log must hold for them.
fn append_batches(log: &mut Log<SimStorage>, from: usize, to: usize) -> Vec<Bytes> {
    (from..to)
        .map(|i| {
            let info = log.append(&test_batch(i), LeaderEpoch(1), NOW_MS).expect("append");
            let read = log.read(info.first_offset, 1 << 20, info.last_offset.plus(1), true);
            read.expect("read back").records
        })
        .collect()
}

/// Every batch the log holds, in offset order, as stored.
fn read_all(log: &Log<SimStorage>) -> Vec<Bytes> {
    let mut batches = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20, log.log_end_offset(), true).expect("read");
        let headers = batch::validate_all(&read.records).expect("stored batches are valid");
        assert!(!headers.is_empty(), "read at {offset} below the end returned nothing");
        for (position, header) in headers {
            batches.push(read.records.slice(position..position + header.total_bytes()));
            offset = header.next_offset();
        }
    }
    batches
}

/// Found by scanning seeds from 0: a power loss that keeps part of the unsynced batches and
/// leaves garbage in the last page it kept.
const TORN_SEED: u64 = 36;

#[test]
fn a_torn_tail_after_power_loss_is_cut_at_the_last_whole_batch_and_named_in_the_report() {
    let storage = SimStorage::new(TORN_SEED);
    let mut log = open(&storage, LogConfig::default());
    let mut appended = append_batches(&mut log, 0, 5);
    log.flush(NOW_MS).unwrap();
    let durable_before = log.durable_offset();
    appended.extend(append_batches(&mut log, 5, 40));
    let batch_bytes = appended[0].len() as u64;
    drop(log); // the broker dies without closing the log

    let crash = storage.crash(CrashMode::LosePageCache { torn_writes: true });

    let path = segment_path(Offset(0), ".log");
    let file = crash.files[&path];
    assert!(file.garbage_bytes > 0, "seed {TORN_SEED} no longer tears a page: {crash}");
    let kept_bytes = file.len_after - file.zero_bytes;
    let first_garbage = kept_bytes - file.garbage_bytes;
    assert!(first_garbage >= 5 * batch_bytes, "torn garbage lies above synced bytes: {crash}");
    let mut log = open(&storage, LogConfig::default());
    let cut = log.recovery_report().truncation.clone().expect("the torn tail was found");
    // The first batch the garbage touches is cut, with everything after it.
    let cut_batch = first_garbage / batch_bytes;
    assert_eq!(cut.segment, path);
    assert_eq!(cut.position, cut_batch * batch_bytes);
    assert_eq!(cut.offset, Offset(3 * cut_batch as i64));
    assert_eq!(cut.bytes_dropped, file.len_after - cut.position);
    assert!(
        matches!(
            cut.damage,
            Damage::Batch(BatchError::CrcMismatch { .. } | BatchError::BadLength { .. })
        ),
        "{:?}",
        cut.damage
    );
    assert_eq!(log.log_end_offset(), cut.offset);
    assert!(log.log_end_offset() >= durable_before);
    assert_eq!(
        read_all(&log),
        appended[..cut_batch as usize],
        "the batches before the cut are intact"
    );
    let next = log.append(&test_batch(99), LeaderEpoch(2), NOW_MS).unwrap();
    assert_eq!(next.first_offset, cut.offset, "appends continue densely from the cut");
}

#[test]
fn a_flipped_durable_byte_mid_segment_truncates_from_that_batch_and_drops_later_segments() {
    let storage = SimStorage::new(1);
    let mut log = open(&storage, small_segments());
    let appended = append_batches(&mut log, 0, 30);
    let bases = log.segment_base_offsets();
    assert!(bases.len() > 3, "several segments: {bases:?}");
    drop(log);
    // The second segment was synced when it rolled; flip a byte in the records of its second
    // batch, on the platter.
    let victim = segment_path(bases[1], ".log");
    let batch_bytes = appended[0].len() as u64;
    storage.flip_byte(&victim, batch_bytes + 70).unwrap();

    storage.crash(CrashMode::LosePageCache { torn_writes: false });

    let log = open(&storage, small_segments());
    let report = log.recovery_report().clone();
    // Rolls do not write the checkpoint before `checkpoint_interval_ms`: recovery validates
    // the whole log, as after a crash soon after start.
    assert_eq!(report.recovery_point, Offset(0));
    let cut = report.truncation.expect("the flipped byte was found");
    assert_eq!(cut.segment, victim);
    assert_eq!(cut.position, batch_bytes);
    assert_eq!(cut.offset, bases[1].plus(3));
    assert!(
        matches!(cut.damage, Damage::Batch(BatchError::CrcMismatch { .. })),
        "{:?}",
        cut.damage
    );
    let later: Vec<PathBuf> = bases[2..].iter().map(|&base| segment_path(base, ".log")).collect();
    assert_eq!(report.segments_deleted, later);
    assert_eq!(log.segment_base_offsets(), bases[..2]);
    let names = storage.list_dir(Path::new(LOG_DIR)).unwrap();
    for base in &bases[2..] {
        let name = segment::file_name(*base, ".log");
        assert!(!names.contains(&name), "{name} should be deleted: {names:?}");
    }
    let kept = bases[1].0 as usize / 3 + 1;
    assert_eq!(read_all(&log), appended[..kept]);
}

#[test]
fn a_ragged_index_file_is_rebuilt_and_a_shortened_one_is_still_usable() {
    let storage = SimStorage::new(3);
    let mut log = open(&storage, small_segments());
    let appended = append_batches(&mut log, 0, 30);
    let bases = log.segment_base_offsets();
    let end = log.log_end_offset();
    log.close(NOW_MS).unwrap();
    let index_path = segment_path(bases[0], ".index");
    let mut index = storage.open(&index_path, OpenMode::Existing).unwrap();
    let original = index.read_all().unwrap();
    assert!(original.len() >= 16, "the first segment's index has entries");
    index.truncate(original.len() as u64 - 3).unwrap();
    index.sync().unwrap();
    drop(index);

    let log = open(&storage, small_segments());

    let report = log.recovery_report();
    assert!(report.clean_shutdown);
    assert_eq!(report.indexes_rebuilt.len(), 1, "{report:?}");
    let (path, problem) = &report.indexes_rebuilt[0];
    assert_eq!(path, &index_path);
    assert!(matches!(problem, IndexProblem::RaggedLength { entry_bytes: 8, .. }), "{problem}");
    let rebuilt = storage.open(&index_path, OpenMode::Existing).unwrap().read_all().unwrap();
    assert_eq!(rebuilt, original, "the rebuilt index has the entries appends wrote");
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(read_all(&log), appended);
    log.close(NOW_MS).unwrap();

    // Whole entries lost from the end: the index is still consistent, only sparser.
    let mut index = storage.open(&index_path, OpenMode::Existing).unwrap();
    index.truncate(8).unwrap();
    index.sync().unwrap();
    drop(index);
    let log = open(&storage, small_segments());
    assert!(log.recovery_report().indexes_rebuilt.is_empty(), "{:?}", log.recovery_report());
    for offset in 0..end.0 {
        let read = log.read(Offset(offset), 1, end, true).unwrap();
        let (_, header) = batch::validate_all(&read.records).unwrap()[0];
        assert!(header.base_offset.0 <= offset && offset <= header.last_offset().0, "{offset}");
    }
}

#[test]
fn a_missing_clean_shutdown_marker_means_validating_from_the_recovery_point() {
    let storage = SimStorage::new(4);
    let mut log = open(&storage, small_segments());
    let appended = append_batches(&mut log, 0, 30);
    let segments = log.segment_base_offsets().len();
    let end = log.log_end_offset();
    log.close(NOW_MS).unwrap();
    storage.remove_file(&Path::new(LOG_DIR).join(checkpoint::CLEAN_SHUTDOWN_FILE)).unwrap();
    storage.sync_dir(Path::new(LOG_DIR)).unwrap();

    let log = open(&storage, small_segments());

    let report = log.recovery_report();
    assert!(!report.clean_shutdown);
    // Close checkpointed the end: only the active segment, which holds it, is validated.
    assert_eq!(report.recovery_point, end);
    assert_eq!(report.segments_validated, 1, "of {segments}: {report:?}");
    assert_eq!(report.truncation, None);
    assert!(report.segments_deleted.is_empty());
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.durable_offset(), end);
    assert_eq!(read_all(&log), appended);
}

#[test]
fn an_io_error_during_append_takes_the_log_offline_with_a_storage_error() {
    let storage = SimStorage::new(5);
    let mut log = open(&storage, LogConfig::default());
    let appended = append_batches(&mut log, 0, 4);
    log.flush(NOW_MS).unwrap();
    let durable = log.durable_offset();
    storage.set_faults(DiskFaults { io_error_probability: 1.0, ..DiskFaults::default() });

    let error = log.append(&test_batch(4), LeaderEpoch(1), NOW_MS).unwrap_err();

    assert!(matches!(&error, LogError::Storage(e) if e.op == "append"), "{error}");
    assert!(error.to_string().contains("injected I/O error"), "{error}");
    let reason = log.offline_reason().expect("the log is offline").to_owned();
    assert!(reason.contains("injected I/O error"), "{reason}");
    // Healing the disk does not bring the log back: its files are in an unknown state
    // (Kafka's KAFKA_STORAGE_ERROR until the log dir is reopened).
    storage.set_faults(DiskFaults::default());
    let offline = |result: Result<(), LogError>| match result {
        Err(LogError::Offline { dir, reason: why }) => {
            assert_eq!(dir, Path::new(LOG_DIR));
            assert_eq!(why, reason);
        }
        other => panic!("expected Offline, got {other:?}"),
    };
    offline(log.append(&test_batch(5), LeaderEpoch(1), NOW_MS).map(drop));
    offline(log.append_replicated(&appended[0], NOW_MS).map(drop));
    offline(log.read(Offset(0), 1 << 20, Offset(12), true).map(drop));
    offline(log.roll(NOW_MS));
    offline(log.flush(NOW_MS));
    offline(log.truncate_to(Offset(3), NOW_MS).map(drop));
    offline(log.enforce_retention(NOW_MS, Offset(12)).map(drop));
    assert!(log.handle_timeout(NOW_MS + 60_000).is_ok(), "timers of an offline log do nothing");
    offline(log.close(NOW_MS));

    // Restarting the broker recovers what was durable.
    storage.crash(CrashMode::LosePageCache { torn_writes: true });
    let mut log = open(&storage, LogConfig::default());
    assert!(log.log_end_offset() >= durable);
    assert_eq!(read_all(&log), appended[..log.log_end_offset().0 as usize / 3]);
    let end = log.log_end_offset();
    let next = log.append(&test_batch(6), LeaderEpoch(2), NOW_MS).unwrap();
    assert_eq!(next.first_offset, end, "appends continue densely after recovery");
}

/// A workload under random I/O errors: every failure is an error value (never a panic), a
/// failed write leaves the log offline, and after the disk heals and the broker restarts the
/// log holds at least what was durable, as appended.
#[test]
fn random_io_errors_never_panic_and_recovery_keeps_the_durable_prefix() {
    for seed in 0..300 {
        let storage = SimStorage::new(seed);
        let config = LogConfig { flush_messages: 6, ..small_segments() };
        let mut log = open(&storage, config.clone());
        let mut appended = append_batches(&mut log, 0, 5);
        storage.set_faults(DiskFaults { io_error_probability: 0.05, ..DiskFaults::default() });
        let mut durable = log.durable_offset();
        // A failed append may still have reached the file before the log went offline.
        let mut failed_append = None;
        for step in 0..60usize {
            let now_ms = NOW_MS + step as i64;
            if step % 10 == 9 {
                // Timers of an offline log do nothing, successfully.
                if let Err(error) = log.handle_timeout(now_ms) {
                    assert!(matches!(error, LogError::Storage(_)), "seed {seed}: {error}");
                }
                continue;
            }
            let result = match step % 10 {
                0..=5 => {
                    let records = test_batch(5 + step);
                    match log.append(&records, LeaderEpoch(1), now_ms) {
                        Ok(info) => {
                            assert_eq!(info.first_offset.0 as usize, appended.len() * 3);
                            appended.push(records);
                            Ok(())
                        }
                        Err(error) => {
                            if matches!(error, LogError::Storage(_)) {
                                failed_append = Some(records);
                            }
                            Err(error)
                        }
                    }
                }
                6 => log.read(Offset(0), 4096, log.log_end_offset(), true).map(drop),
                7 => log.roll(now_ms),
                _ => log.flush(now_ms),
            };
            let offline = log.offline_reason().is_some();
            match result {
                Ok(()) => {
                    assert!(!offline, "seed {seed} step {step}: success while offline");
                    durable = log.durable_offset();
                }
                Err(LogError::Storage(e)) => {
                    assert!(e.to_string().contains("injected I/O error"), "seed {seed}: {e}");
                }
                Err(LogError::Offline { .. }) => assert!(offline),
                Err(other) => panic!("seed {seed} step {step}: unexpected {other}"),
            }
        }
        let end_before_close = log.log_end_offset();
        let closed = if log.offline_reason().is_none() {
            log.close(NOW_MS).is_ok()
        } else {
            drop(log);
            false
        };
        if closed {
            durable = end_before_close;
        }
        // The broker restarts: opening may fail while the disk still fails, never panic.
        for _ in 0..3 {
            let _ = Log::open(storage.clone(), LOG_DIR, config.clone(), NOW_MS);
        }
        storage.set_faults(DiskFaults::default());
        storage.crash(CrashMode::LosePageCache { torn_writes: true });
        let log = open(&storage, config.clone());
        let end = log.log_end_offset();
        assert!(
            end >= durable,
            "seed {seed}: durable {durable}, recovered {end} (closed {closed})"
        );
        let recovered = read_all(&log);
        let produced_batches: Vec<&Bytes> = appended.iter().chain(&failed_append).collect();
        for (i, (stored, produced)) in recovered.iter().zip(&produced_batches).enumerate() {
            let header = batch::validate(stored).unwrap();
            assert_eq!(header.base_offset, Offset(3 * i as i64), "seed {seed}");
            assert_eq!(stored[21..], produced[21..], "seed {seed}: batch {i} differs");
        }
        assert!(recovered.len() <= produced_batches.len(), "seed {seed}: records nobody appended");
    }
}

/// The same, with truncations and retention among the writes that may fail half-done: a
/// crash after any of them recovers a log whose batches are each one that was appended at
/// that offset, and which takes appends again.
#[test]
fn random_io_errors_during_truncation_and_retention_leave_a_recoverable_log() {
    use rand::{Rng, SeedableRng};
    for seed in 0..300 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let storage = SimStorage::new(seed);
        let config = LogConfig { retention_bytes: 2_000, flush_messages: 9, ..small_segments() };
        let mut log = open(&storage, config.clone());
        // Every batch ever appended at each offset, from the CRC'd attributes on.
        let mut history: std::collections::BTreeMap<Offset, Vec<Bytes>> = Default::default();
        let mut record = |log: &Log<SimStorage>, i: usize| {
            let first = log.log_end_offset();
            history.entry(first).or_default().push(test_batch(i).slice(21..));
        };
        storage.set_faults(DiskFaults {
            io_error_probability: [0.01, 0.03, 0.1][seed as usize % 3],
            ..DiskFaults::default()
        });
        for step in 0..80usize {
            let now_ms = NOW_MS + 1_000 * step as i64;
            let (start, end) = (log.log_start_offset(), log.log_end_offset());
            let result = match step % 12 {
                0..=4 => {
                    record(&log, step);
                    log.append(&test_batch(step), LeaderEpoch(1), now_ms).map(drop)
                }
                5 => log.read(start, 4096, end, true).map(drop),
                6 => log.roll(now_ms),
                7 => log.flush(now_ms),
                8 => log.truncate_to(Offset(rng.gen_range(start.0..=end.0)), now_ms).map(drop),
                9 => log.enforce_retention(now_ms, end).map(drop),
                10 if rng.gen_bool(0.3) => log
                    .truncate_fully_and_start_at(Offset(rng.gen_range(0..=end.0 + 10)), now_ms)
                    .map(drop),
                _ => log.handle_timeout(now_ms),
            };
            match result {
                Ok(()) | Err(LogError::Storage(_)) | Err(LogError::Offline { .. }) => {}
                Err(other) => panic!("seed {seed} step {step}: unexpected {other}"),
            }
        }
        drop(log);
        for _ in 0..3 {
            let _ = Log::open(storage.clone(), LOG_DIR, config.clone(), NOW_MS);
        }
        storage.set_faults(DiskFaults::default());
        storage.crash(CrashMode::LosePageCache { torn_writes: true });
        let mut log = open(&storage, config.clone());
        let mut offset = log.log_start_offset();
        for stored in read_all(&log) {
            let header = batch::validate(&stored).unwrap();
            assert_eq!(header.base_offset, offset, "seed {seed}: offsets are dense");
            let appended_here = history.get(&offset).map_or(&[][..], |v| &v[..]);
            assert!(
                appended_here.iter().any(|b| b[..] == stored[21..]),
                "seed {seed}: batch at {offset} is none that was appended there"
            );
            offset = header.next_offset();
        }
        assert_eq!(offset, log.log_end_offset(), "seed {seed}");
        let info = log.append(&test_batch(999), LeaderEpoch(2), NOW_MS).unwrap();
        assert_eq!(info.first_offset, offset, "seed {seed}: appends continue densely");
    }
}
