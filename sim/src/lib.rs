//! odradek-sim: the testbed that runs odradek under deterministic simulation.
//!
//! Inputs: scenarios and seeds. Outputs: verdicts, traces and reports. Modules:
//! [`disk`] the simulated page cache, [`scenario`] scenario files, [`history`] what clients
//! saw, [`check`] the history checker, [`ground_truth`] the runtime invariants,
//! [`invariants`] the replication invariants over cluster snapshots, [`properties`] the names
//! a run is judged by, [`measure`] the end-of-run metrics and checks, [`verdict`] judging a
//! run, [`outcome`] what a run produced, [`report`] the Markdown, SVG and JSON reports,
//! [`trace`] the trace and its hash, [`workload`] the clients.
//! Under `--cfg madsim` also [`cluster`], [`faults`] and [`runner`].

pub mod check;
#[cfg(madsim)]
pub mod cluster;
pub mod disk;
#[cfg(madsim)]
pub mod faults;
pub mod ground_truth;
pub mod history;
pub mod invariants;
pub mod measure;
pub mod outcome;
pub mod properties;
pub mod report;
#[cfg(madsim)]
pub mod runner;
pub mod scenario;
#[cfg(madsim)]
pub mod shrink;
pub mod swarm;
pub mod trace;
pub mod verdict;
pub mod watch;
pub mod workload;

pub use disk::{CrashMode, CrashReport, DiskFaults, DiskStats, SimFile, SimStorage};
