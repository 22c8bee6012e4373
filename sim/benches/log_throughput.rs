//! Partition log throughput: appends and sequential reads on FileStorage and SimStorage,
//! each beside a raw baseline that moves the same bytes without the log.
//!
//! Run: `cargo bench -p odradek-sim --bench log_throughput` (the bench profile is release).
//! Batches are 1,000 records of 100-byte values, appended one batch per call with the
//! default flush policy (no fsync per write), then with `flush.messages` set to one batch's
//! records (an fsync per append). Reads walk the whole log with `max_bytes` 1 MiB. The
//! baselines: `write_all` of the same batches to a plain `std::fs::File` (with `sync_data`
//! per batch where the log syncs), reads of that file in 1 MiB chunks, and for SimStorage a
//! copy of the same bytes into and out of a `Vec`. Each figure is the median of three runs.
//! The output holds figures and machine basics only, no dates or paths.

use bytes::Bytes;
use odradek::log::batch::{self, BatchHeader};
use odradek::log::{Log, LogConfig};
use odradek::storage::{FileStorage, Storage};
use odradek::{LeaderEpoch, Offset};
use odradek_sim::SimStorage;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const RECORDS_PER_BATCH: usize = 1_000;
const VALUE_BYTES: usize = 100;
const FILE_BYTES_TOTAL: u64 = 200_000_000;
const SIM_BYTES_TOTAL: u64 = 200_000_000;
/// An fsync per batch is slow on most disks: a smaller log keeps the run short.
const FSYNC_BYTES_TOTAL: u64 = 20_000_000;
const READ_MAX_BYTES: usize = 1 << 20;
const RUNS: usize = 3;
const NOW_MS: i64 = 1_700_000_000_000;
const SIM_DIR: &str = "/data/bench-0";

/// One line of the table: the log's time and the raw baseline's, for the same bytes.
struct Figure {
    storage: &'static str,
    flush_policy: &'static str,
    operation: &'static str,
    bytes: u64,
    records: u64,
    log_time: Duration,
    raw_time: Duration,
}

impl Figure {
    fn print(&self) {
        let megabytes = self.bytes as f64 / 1e6;
        let log_mb_per_s = megabytes / self.log_time.as_secs_f64();
        let raw_mb_per_s = megabytes / self.raw_time.as_secs_f64();
        let records_per_s = self.records as f64 / self.log_time.as_secs_f64();
        println!(
            "{:<6} {:<22} {:<7} {:>7.1} {:>10.0} {:>14.0} {:>10.0} {:>8.2}",
            self.storage,
            self.flush_policy,
            self.operation,
            megabytes,
            log_mb_per_s,
            records_per_s,
            raw_mb_per_s,
            log_mb_per_s / raw_mb_per_s,
        );
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// One producer batch of 1,000 records with 100-byte values, base offset 0.
fn producer_batch() -> Bytes {
    let records: Vec<_> = (0..RECORDS_PER_BATCH)
        .map(|i| {
            let value: Vec<u8> = (0..VALUE_BYTES).map(|j| (i * 7 + j * 13) as u8).collect();
            (None, Some(Bytes::from(value)))
        })
        .collect();
    batch::encode(&records, NOW_MS)
}

/// Appends `batch_count` copies of `batch`, one per call; the time excludes opening.
fn append_all<S: Storage>(
    storage: S,
    dir: &Path,
    config: LogConfig,
    batch: &[u8],
    batch_count: u64,
) -> (Duration, Log<S>) {
    let mut log = Log::open(storage, dir, config, NOW_MS).expect("open");
    let started = Instant::now();
    for _ in 0..batch_count {
        log.append(batch, LeaderEpoch(0), NOW_MS).expect("append");
    }
    let elapsed = started.elapsed();
    assert_eq!(log.log_end_offset(), Offset((batch_count * RECORDS_PER_BATCH as u64) as i64));
    (elapsed, log)
}

/// Reads the whole log from its start with `max_bytes` 1 MiB per read, as a consumer
/// fetching from offset 0 would; returns the time and the bytes read.
fn read_all<S: Storage>(log: &Log<S>) -> (Duration, u64) {
    let end = log.log_end_offset();
    let started = Instant::now();
    let mut offset = log.log_start_offset();
    let mut bytes = 0u64;
    while offset < end {
        let read = log.read(offset, READ_MAX_BYTES, end, true).expect("read");
        let mut position = 0;
        while position < read.records.len() {
            let header = BatchHeader::parse(&read.records[position..]).expect("stored batch");
            position += header.total_bytes();
            offset = header.next_offset();
        }
        bytes += read.records.len() as u64;
    }
    (started.elapsed(), bytes)
}

/// The raw baseline for appends: the same batches written to a plain file, with a
/// `sync_data` after each when `sync_each` (as `flush.messages` = one batch does).
fn raw_file_write(path: &Path, batch: &[u8], batch_count: u64, sync_each: bool) -> Duration {
    let mut file = fs::File::create(path).expect("create");
    let started = Instant::now();
    for _ in 0..batch_count {
        file.write_all(batch).expect("write");
        if sync_each {
            file.sync_data().expect("sync");
        }
    }
    started.elapsed()
}

/// The raw baseline for reads: the file read from its start in 1 MiB chunks.
fn raw_file_read(path: &Path) -> (Duration, u64) {
    let mut file = fs::File::open(path).expect("open");
    let mut buffer = vec![0u8; READ_MAX_BYTES];
    let started = Instant::now();
    let mut bytes = 0u64;
    loop {
        let read = file.read(&mut buffer).expect("read");
        if read == 0 {
            break;
        }
        bytes += read as u64;
    }
    (started.elapsed(), bytes)
}

/// The raw baseline for SimStorage appends: the same bytes copied into a growing `Vec`.
fn raw_memory_write(batch: &[u8], batch_count: u64) -> (Duration, Vec<u8>) {
    let mut memory = Vec::new();
    let started = Instant::now();
    for _ in 0..batch_count {
        memory.extend_from_slice(batch);
    }
    (started.elapsed(), memory)
}

/// The raw baseline for SimStorage reads: 1 MiB chunks copied out of memory.
fn raw_memory_read(memory: &[u8]) -> (Duration, u64) {
    let started = Instant::now();
    let mut bytes = 0u64;
    for chunk in memory.chunks(READ_MAX_BYTES) {
        let copy = Bytes::copy_from_slice(chunk);
        bytes += std::hint::black_box(copy).len() as u64;
    }
    (started.elapsed(), bytes)
}

fn flush_every_batch() -> LogConfig {
    LogConfig { flush_messages: RECORDS_PER_BATCH as u64, ..LogConfig::default() }
}

fn file_figures(batch: &[u8]) -> Vec<Figure> {
    let mut figures = Vec::new();
    for (flush_policy, config, bytes_total, sync_each) in [
        ("unset (no fsync)", LogConfig::default(), FILE_BYTES_TOTAL, false),
        ("1000 (fsync per batch)", flush_every_batch(), FSYNC_BYTES_TOTAL, true),
    ] {
        let batch_count = bytes_total / batch.len() as u64;
        let (mut append, mut read, mut raw_append, mut raw_read) = (vec![], vec![], vec![], vec![]);
        let mut read_bytes = 0;
        for _ in 0..RUNS {
            let dir = tempfile::Builder::new()
                .prefix("odradek-bench-")
                .tempdir_in("/tmp")
                .expect("a temporary directory under /tmp");
            let (elapsed, log) = append_all(
                FileStorage::new(),
                &dir.path().join("log"),
                config.clone(),
                batch,
                batch_count,
            );
            append.push(elapsed);
            if !sync_each {
                let (elapsed, bytes) = read_all(&log);
                read.push(elapsed);
                read_bytes = bytes;
            }
            drop(log);
            let raw_path = dir.path().join("raw");
            raw_append.push(raw_file_write(&raw_path, batch, batch_count, sync_each));
            if !sync_each {
                let (elapsed, bytes) = raw_file_read(&raw_path);
                assert_eq!(bytes, read_bytes, "the raw file holds the log's bytes");
                raw_read.push(elapsed);
            }
        }
        let records = batch_count * RECORDS_PER_BATCH as u64;
        figures.push(Figure {
            storage: "file",
            flush_policy,
            operation: "append",
            bytes: batch_count * batch.len() as u64,
            records,
            log_time: median(append),
            raw_time: median(raw_append),
        });
        if !sync_each {
            figures.push(Figure {
                storage: "file",
                flush_policy,
                operation: "read",
                bytes: read_bytes,
                records,
                log_time: median(read),
                raw_time: median(raw_read),
            });
        }
    }
    figures
}

fn sim_figures(batch: &[u8]) -> Vec<Figure> {
    let mut figures = Vec::new();
    for (flush_policy, config, read_too) in [
        ("unset (no fsync)", LogConfig::default(), true),
        ("1000 (fsync per batch)", flush_every_batch(), false),
    ] {
        let batch_count = SIM_BYTES_TOTAL / batch.len() as u64;
        let (mut append, mut read, mut raw_append, mut raw_read) = (vec![], vec![], vec![], vec![]);
        let mut read_bytes = 0;
        for run in 0..RUNS {
            let storage = SimStorage::new(run as u64);
            let (elapsed, log) =
                append_all(storage, Path::new(SIM_DIR), config.clone(), batch, batch_count);
            append.push(elapsed);
            if read_too {
                let (elapsed, bytes) = read_all(&log);
                read.push(elapsed);
                read_bytes = bytes;
            }
            drop(log);
            let (elapsed, memory) = raw_memory_write(batch, batch_count);
            raw_append.push(elapsed);
            if read_too {
                let (elapsed, bytes) = raw_memory_read(&memory);
                assert_eq!(bytes, read_bytes, "the copy holds the log's bytes");
                raw_read.push(elapsed);
            }
        }
        let records = batch_count * RECORDS_PER_BATCH as u64;
        figures.push(Figure {
            storage: "sim",
            flush_policy,
            operation: "append",
            bytes: batch_count * batch.len() as u64,
            records,
            log_time: median(append),
            raw_time: median(raw_append),
        });
        if read_too {
            figures.push(Figure {
                storage: "sim",
                flush_policy,
                operation: "read",
                bytes: read_bytes,
                records,
                log_time: median(read),
                raw_time: median(raw_read),
            });
        }
    }
    figures
}

/// Cores, architecture, CPU model and rustc version: what the figures depend on.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map_or_else(|| "rustc unknown".to_owned(), |version| version.trim().to_owned());
    format!("{cores} cores, {cpu}, {} {}, {rustc}", std::env::consts::OS, std::env::consts::ARCH)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, without it: then
    // only check that it runs, on a tiny log, rather than spend two minutes.
    if !std::env::args().any(|arg| arg == "--bench") {
        let batch = producer_batch();
        let (_, log) =
            append_all(SimStorage::new(0), Path::new(SIM_DIR), LogConfig::default(), &batch, 3);
        assert_eq!(read_all(&log).1, 3 * batch.len() as u64);
        return;
    }
    let batch = producer_batch();
    println!("partition log throughput: cargo bench -p odradek-sim --bench log_throughput");
    println!("machine: {}", machine());
    println!(
        "batches: {RECORDS_PER_BATCH} records x {VALUE_BYTES}-byte values = {} bytes each; \
         one batch per append; reads of max_bytes {READ_MAX_BYTES}; median of {RUNS} runs",
        batch.len()
    );
    println!(
        "raw: file = std::fs::File write_all (+ sync_data per batch when the log syncs) and \
         1 MiB reads; sim = Vec copy in and out; MB = 10^6 bytes; reads hit the page cache"
    );
    println!();
    println!(
        "{:<6} {:<22} {:<7} {:>7} {:>10} {:>14} {:>10} {:>8}",
        "disk", "flush.messages", "op", "MB", "log MB/s", "log records/s", "raw MB/s", "log/raw"
    );
    for figure in file_figures(&batch).iter().chain(&sim_figures(&batch)) {
        figure.print();
    }
}
