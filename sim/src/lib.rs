//! odradek-sim: the testbed that runs odradek under deterministic simulation.
//!
//! Inputs: scenarios and seeds. Outputs: verdicts, traces and reports. Modules:
//! [`disk`] the simulated page cache, [`scenario`] scenario files, [`history`] what clients
//! saw, [`properties`] the names a run is judged by.

#[cfg(madsim)]
pub mod cluster;
pub mod disk;
#[cfg(madsim)]
pub mod faults;
pub mod ground_truth;
pub mod history;
pub mod properties;
pub mod scenario;
pub mod trace;
pub mod verdict;

pub use disk::{CrashMode, CrashReport, DiskFaults, DiskStats, SimFile, SimStorage};
