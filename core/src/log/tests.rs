//! Unit tests of the partition log on real files (FileStorage in a temporary directory).
//! The model-based property test over the simulated disk lives in `sim/tests/log_model.rs`.

use super::batch::tests::batch;
use super::*;
use crate::storage::FileStorage;
use std::fs;

const NOW_MS: i64 = 1_700_000_000_000;

fn small_segments() -> LogConfig {
    LogConfig { segment_bytes: 1024, index_interval_bytes: 100, ..LogConfig::default() }
}

fn open(dir: &Path, config: LogConfig) -> Log<FileStorage> {
    Log::open(FileStorage::new(), dir, config, NOW_MS).expect("open")
}

/// Appends `batches` batches of 3 records each; returns the first offset of each.
fn fill(log: &mut Log<FileStorage>, batches: usize) -> Vec<Offset> {
    (0..batches)
        .map(|i| {
            log.append(&batch(3, NOW_MS + i as i64), LeaderEpoch(0), NOW_MS)
                .expect("append")
                .first_offset
        })
        .collect()
}

/// Reads every batch from `from` to the end; returns (base offset, record count) per batch.
fn read_all(log: &Log<FileStorage>, from: Offset) -> Vec<(Offset, i32)> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20, log.log_end_offset(), true).expect("read");
        let headers = batch::validate_all(&read.records).expect("stored batches are valid");
        assert!(!headers.is_empty(), "read at {offset} below the end returned nothing");
        for (_, h) in headers {
            out.push((h.base_offset, h.record_count));
            offset = h.next_offset();
        }
    }
    out
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

#[test]
fn appended_batches_get_dense_offsets_and_read_back_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let firsts = fill(&mut log, 4);
    assert_eq!(firsts, vec![Offset(0), Offset(3), Offset(6), Offset(9)]);
    assert_eq!(log.log_end_offset(), Offset(12));
    let read = log.read(Offset(4), 1 << 20, Offset(12), true).unwrap();
    let headers = batch::validate_all(&read.records).unwrap();
    // The batch holding offset 4 starts at 3: reads return whole batches.
    assert_eq!(headers[0].1.base_offset, Offset(3));
    assert_eq!(headers.len(), 3);
    assert_eq!(headers[0].1.partition_leader_epoch, LeaderEpoch(0));
}

#[test]
fn one_append_of_several_batches_is_stored_whole_and_dense() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let mut records = batch(2, NOW_MS).to_vec();
    records.extend_from_slice(&batch(5, NOW_MS));
    let info = log.append(&records, LeaderEpoch(3), NOW_MS).unwrap();
    assert_eq!((info.first_offset, info.last_offset, info.batch_count), (Offset(0), Offset(6), 2));
    assert_eq!(read_all(&log, Offset(0)), vec![(Offset(0), 2), (Offset(2), 5)]);
}

#[test]
fn a_corrupt_or_oversized_batch_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { max_message_bytes: 200, ..LogConfig::default() });
    let mut corrupt = batch(1, NOW_MS).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    let mut records = batch(1, NOW_MS).to_vec();
    records.extend_from_slice(&corrupt);
    let error = log.append(&records, LeaderEpoch(0), NOW_MS).unwrap_err();
    assert!(
        matches!(error, LogError::CorruptBatch { source: BatchError::CrcMismatch { .. }, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("CRC mismatch"), "{error}");
    let error = log.append(&batch(40, NOW_MS), LeaderEpoch(0), NOW_MS).unwrap_err();
    assert!(matches!(error, LogError::BatchTooLarge { max: 200, .. }), "{error}");
    assert!(matches!(log.append(&[], LeaderEpoch(0), NOW_MS), Err(LogError::NoBatches)));
    assert_eq!(log.log_end_offset(), Offset(0));
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn segments_roll_at_segment_bytes_and_are_named_by_twenty_digit_base_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    fill(&mut log, 30);
    let bases = log.segment_base_offsets();
    assert!(bases.len() > 3, "expected several segments, got {bases:?}");
    let names = segment_files(dir.path());
    assert_eq!(names[0], "00000000000000000000.log");
    assert_eq!(names.len(), bases.len());
    for (name, base) in names.iter().zip(&bases) {
        assert_eq!(name, &format!("{:020}.log", base.0));
    }
    // Reads find the right segment for every offset, and cross segment boundaries.
    let all = read_all(&log, Offset(0));
    assert_eq!(all.len(), 30);
    for offset in 0..90 {
        let read = log.read(Offset(offset), 1, Offset(90), true).unwrap();
        let (_, h) = batch::validate_all(&read.records).unwrap()[0];
        assert!(
            h.base_offset.0 <= offset && offset <= h.last_offset().0,
            "offset {offset} in {h:?}"
        );
    }
}

#[test]
fn segments_roll_when_the_first_batch_is_older_than_segment_ms() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { segment_ms: 1000, ..LogConfig::default() });
    log.append(&batch(1, NOW_MS), LeaderEpoch(0), NOW_MS).unwrap();
    log.append(&batch(1, NOW_MS + 500), LeaderEpoch(0), NOW_MS).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![Offset(0)]);
    log.append(&batch(1, NOW_MS + 1001), LeaderEpoch(0), NOW_MS).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![Offset(0), Offset(2)]);
}

#[test]
fn reads_respect_max_bytes_upper_bound_and_min_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    fill(&mut log, 5);
    let one = batch(3, NOW_MS).len();
    let read = log.read(Offset(0), one * 2, Offset(15), false).unwrap();
    assert_eq!(read.records.len(), one * 2);
    // A limit smaller than a batch returns nothing, unless min_one_batch lets one through.
    assert!(log.read(Offset(0), 10, Offset(15), false).unwrap().records.is_empty());
    assert_eq!(log.read(Offset(0), 10, Offset(15), true).unwrap().records.len(), one);
    // The upper bound (a high watermark) hides batches that end above it.
    let read = log.read(Offset(0), 1 << 20, Offset(7), true).unwrap();
    assert_eq!(batch::validate_all(&read.records).unwrap().len(), 2);
    assert!(log.read(Offset(15), 100, Offset(15), true).unwrap().records.is_empty());
    assert!(matches!(
        log.read(Offset(16), 100, Offset(15), true),
        Err(LogError::OffsetOutOfRange { offset: Offset(16), .. })
    ));
}

#[test]
fn retention_bytes_deletes_oldest_segments_and_reads_below_the_log_start_are_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { retention_bytes: 2048, ..small_segments() });
    fill(&mut log, 40);
    let before = log.segment_base_offsets();
    let deleted = log.enforce_retention(NOW_MS, log.log_end_offset()).unwrap();
    assert!(deleted > 0);
    assert!(log.size_bytes() <= 2048 + 1024, "size {} after retention", log.size_bytes());
    assert_eq!(log.log_start_offset(), before[deleted]);
    assert_eq!(segment_files(dir.path()).len(), before.len() - deleted);
    let error = log.read(Offset(0), 100, log.log_end_offset(), true).unwrap_err();
    assert!(matches!(error, LogError::OffsetOutOfRange { offset: Offset(0), .. }), "{error}");
    // After a restart the log start is still where retention left it.
    let start = log.log_start_offset();
    drop(log);
    let log = open(dir.path(), LogConfig { retention_bytes: 2048, ..small_segments() });
    assert_eq!(log.log_start_offset(), start);
}

#[test]
fn retention_ms_deletes_expired_segments_even_the_active_one_but_never_above_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let day_ms = 24 * 3600 * 1000;
    let mut log = open(dir.path(), LogConfig { retention_ms: 2 * day_ms, ..small_segments() });
    fill(&mut log, 20);
    let end = log.log_end_offset();
    // Nothing has expired yet.
    assert_eq!(log.enforce_retention(NOW_MS + day_ms, end).unwrap(), 0);
    // Everything has, but the high watermark protects the segments that reach above it.
    let hw = log.segment_base_offsets()[2];
    assert_eq!(log.enforce_retention(NOW_MS + 3 * day_ms, hw).unwrap(), 2);
    assert_eq!(log.log_start_offset(), hw);
    // With the high watermark at the end, all of it goes and an empty active segment remains.
    log.enforce_retention(NOW_MS + 3 * day_ms, end).unwrap();
    assert_eq!(log.log_start_offset(), end);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.segment_base_offsets(), vec![end]);
    let next = log.append(&batch(1, NOW_MS + 3 * day_ms), LeaderEpoch(0), NOW_MS).unwrap();
    assert_eq!(next.first_offset, end);
}

#[test]
fn truncate_to_cuts_at_a_batch_boundary_across_segments_and_appends_continue_densely() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    fill(&mut log, 30);
    let bases = log.segment_base_offsets();
    let cut = bases[2].plus(4); // inside the second batch of the third segment
    let end = log.truncate_to(cut, NOW_MS).unwrap();
    assert_eq!(end, bases[2].plus(3), "cut at the start of the batch holding {cut}");
    assert_eq!(log.segment_base_offsets(), bases[..3].to_vec());
    assert_eq!(segment_files(dir.path()).len(), 3);
    let next = log.append(&batch(2, NOW_MS), LeaderEpoch(1), NOW_MS).unwrap();
    assert_eq!(next.first_offset, end);
    assert_eq!(read_all(&log, Offset(0)).last(), Some(&(end, 2)));
    // Truncating below the log start empties the log and restarts it there.
    log.truncate_to(Offset(0), NOW_MS).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (Offset(0), Offset(0)));
    log.truncate_fully_and_start_at(Offset(500), NOW_MS).unwrap();
    assert_eq!(
        log.append(&batch(1, NOW_MS), LeaderEpoch(2), NOW_MS).unwrap().first_offset,
        Offset(500)
    );
}

#[test]
fn replicated_appends_keep_their_offsets_and_must_follow_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut leader = open(&dir.path().join("leader"), LogConfig::default());
    let mut follower = open(&dir.path().join("follower"), LogConfig::default());
    fill(&mut leader, 3);
    let fetched = leader.read(Offset(0), 1 << 20, leader.log_end_offset(), true).unwrap().records;
    let info = follower.append_replicated(&fetched, NOW_MS).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (Offset(0), Offset(8)));
    let again = follower.append_replicated(&fetched, NOW_MS).unwrap_err();
    assert!(
        matches!(again, LogError::NotContiguous { expected: Offset(9), found: Offset(0) }),
        "{again}"
    );
}

#[test]
fn flush_messages_syncs_and_moves_the_durable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { flush_messages: 5, ..LogConfig::default() });
    fill(&mut log, 1);
    assert_eq!(log.durable_offset(), Offset(0));
    fill(&mut log, 1);
    assert_eq!(log.durable_offset(), Offset(6));
    let mut timed =
        open(&dir.path().join("timed"), LogConfig { flush_ms: 1000, ..LogConfig::default() });
    fill(&mut timed, 1);
    assert_eq!(timed.next_deadline_ms(), Some(NOW_MS + 1000));
    timed.handle_timeout(NOW_MS + 999).unwrap();
    assert_eq!(timed.durable_offset(), Offset(0));
    timed.handle_timeout(NOW_MS + 1000).unwrap();
    assert_eq!(timed.durable_offset(), Offset(3));
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    // Batch i holds 3 records stamped NOW_MS + 10*i, +1, +2.
    for i in 0..30 {
        log.append(&batch(3, NOW_MS + 10 * i), LeaderEpoch(0), NOW_MS).unwrap();
    }
    let end = log.log_end_offset();
    assert_eq!(log.offset_for_timestamp(NOW_MS, end).unwrap(), Some((Offset(0), NOW_MS)));
    assert_eq!(
        log.offset_for_timestamp(NOW_MS + 101, end).unwrap(),
        Some((Offset(31), NOW_MS + 101))
    );
    assert_eq!(
        log.offset_for_timestamp(NOW_MS + 105, end).unwrap(),
        Some((Offset(33), NOW_MS + 110))
    );
    assert_eq!(log.offset_for_timestamp(NOW_MS + 10_000, end).unwrap(), None);
}

// ---- Recovery -------------------------------------------------------------------------

#[test]
fn a_clean_shutdown_is_trusted_and_leaves_no_marker_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    fill(&mut log, 20);
    let end = log.log_end_offset();
    log.close(NOW_MS).unwrap();
    assert!(dir.path().join(checkpoint::CLEAN_SHUTDOWN_FILE).exists());
    let log = open(dir.path(), small_segments());
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(log.recovery_report().segments_validated, 0);
    assert!(
        !dir.path().join(checkpoint::CLEAN_SHUTDOWN_FILE).exists(),
        "the marker is removed once the log is open"
    );
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.durable_offset(), end);
    assert_eq!(read_all(&log, Offset(0)).len(), 20);
}

#[test]
fn a_missing_clean_shutdown_marker_validates_from_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    fill(&mut log, 30);
    let segments = log.segment_base_offsets().len();
    let end = log.log_end_offset();
    drop(log); // no close(): as if the process died
    let log = open(dir.path(), small_segments());
    let report = log.recovery_report();
    assert!(!report.clean_shutdown);
    // Rolling synced each full segment and moved the recovery point: only the last
    // segments (from the checkpointed point) are validated.
    assert!(report.segments_validated >= 1 && report.segments_validated <= segments, "{report:?}");
    assert_eq!(report.truncation, None);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.durable_offset(), end, "recovery syncs what it kept");
}

#[test]
fn a_torn_tail_is_cut_at_the_last_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    fill(&mut log, 5);
    drop(log);
    let path = dir.path().join("00000000000000000000.log");
    let whole = fs::read(&path).unwrap();
    // Half of a sixth batch, then garbage: a write torn by a power loss.
    let mut torn = whole.clone();
    torn.extend_from_slice(&batch(3, NOW_MS)[..40]);
    torn.extend_from_slice(&[0xAB; 300]);
    fs::write(&path, &torn).unwrap();
    let log = open(dir.path(), LogConfig::default());
    let cut = log.recovery_report().truncation.clone().expect("torn tail found");
    assert_eq!(cut.position, whole.len() as u64);
    assert_eq!(cut.offset, Offset(15));
    assert_eq!(cut.bytes_dropped, 340);
    assert_eq!(log.log_end_offset(), Offset(15));
    assert_eq!(fs::read(&path).unwrap(), whole);
    let mut log = log;
    assert_eq!(fill(&mut log, 1), vec![Offset(15)]);
}

#[test]
fn a_flipped_byte_mid_segment_truncates_from_that_batch_and_drops_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    fill(&mut log, 30);
    let bases = log.segment_base_offsets();
    drop(log);
    // Forget the recovery point so that every segment is validated.
    fs::remove_file(dir.path().join(checkpoint::RECOVERY_POINT_FILE)).unwrap();
    let victim = dir.path().join(segment::file_name(bases[1], ".log"));
    let mut bytes = fs::read(&victim).unwrap();
    let second_batch = batch(3, NOW_MS).len();
    bytes[second_batch + 70] ^= 0x10; // inside the records of the segment's second batch
    fs::write(&victim, &bytes).unwrap();
    let log = open(dir.path(), small_segments());
    let report = log.recovery_report().clone();
    let cut = report.truncation.expect("damage found");
    assert_eq!(cut.segment, victim);
    assert_eq!(cut.position, second_batch as u64);
    assert!(
        matches!(cut.damage, Damage::Batch(BatchError::CrcMismatch { .. })),
        "{:?}",
        cut.damage
    );
    assert_eq!(log.log_end_offset(), bases[1].plus(3));
    assert_eq!(report.segments_deleted.len(), bases.len() - 2);
    assert_eq!(segment_files(dir.path()).len(), 2);
}

#[test]
fn a_truncated_missing_or_garbage_index_is_rebuilt_from_the_log() {
    for damage in ["truncated", "missing", "garbage", "stale"] {
        let dir = tempfile::tempdir().unwrap();
        let mut log =
            open(dir.path(), LogConfig { index_interval_bytes: 100, ..LogConfig::default() });
        fill(&mut log, 40);
        log.close(NOW_MS).unwrap();
        let index = dir.path().join("00000000000000000000.index");
        let bytes = fs::read(&index).unwrap();
        assert!(bytes.len() >= 16, "the index has entries");
        match damage {
            "truncated" => fs::write(&index, &bytes[..bytes.len() - 3]).unwrap(),
            "missing" => fs::remove_file(&index).unwrap(),
            "garbage" => fs::write(&index, vec![0xFF; bytes.len()]).unwrap(),
            // Well-formed entries that point at the wrong place.
            _ => {
                let mut stale = bytes.clone();
                let n = stale.len();
                stale[n - 1] = stale[n - 1].wrapping_add(7);
                fs::write(&index, stale).unwrap();
            }
        }
        let log = open(dir.path(), LogConfig { index_interval_bytes: 100, ..LogConfig::default() });
        let report = log.recovery_report();
        if damage != "missing" {
            assert_eq!(report.indexes_rebuilt.len(), 1, "{damage}: {report:?}");
        }
        assert_eq!(log.log_end_offset(), Offset(120), "{damage}");
        assert_eq!(read_all(&log, Offset(0)).len(), 40, "{damage}");
        for offset in [0, 37, 61, 119] {
            let read = log.read(Offset(offset), 1, Offset(120), true).unwrap();
            let (_, h) = batch::validate_all(&read.records).unwrap()[0];
            assert!(h.base_offset.0 <= offset && offset <= h.last_offset().0, "{damage}: {offset}");
        }
    }
}

#[test]
fn an_unreadable_checkpoint_means_validating_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    fill(&mut log, 30);
    let segments = log.segment_base_offsets().len();
    drop(log);
    fs::write(dir.path().join(checkpoint::RECOVERY_POINT_FILE), "garbage").unwrap();
    let log = open(dir.path(), small_segments());
    assert_eq!(log.recovery_report().segments_validated, segments);
}

#[test]
fn a_storage_error_takes_the_log_offline() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    fill(&mut log, 1);
    // Removing the directory under the log makes the next roll fail to create files.
    fs::remove_dir_all(dir.path()).unwrap();
    let error = log.roll(NOW_MS).unwrap_err();
    assert!(matches!(error, LogError::Storage(_)), "{error}");
    let error = log.append(&batch(1, NOW_MS), LeaderEpoch(0), NOW_MS).unwrap_err();
    assert!(matches!(error, LogError::Offline { .. }), "{error}");
    assert!(log.offline_reason().is_some());
}

#[test]
fn a_storage_error_while_truncating_fully_leaves_an_offline_log_that_still_reports_its_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    fill(&mut log, 10);
    let end = log.log_end_offset();
    // The directory vanishes under the log: the new segment cannot be created.
    fs::remove_dir_all(dir.path()).unwrap();
    let error = log.truncate_fully_and_start_at(Offset(100), NOW_MS).unwrap_err();
    assert!(matches!(error, LogError::Storage(_)), "{error}");
    assert!(log.offline_reason().is_some());
    // An offline partition's offsets are still reported (metadata, ListOffsets errors,
    // logging), so reading them must not panic.
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (Offset(0), end));
    assert!(format!("{log:?}").contains("log_end_offset"));
}
