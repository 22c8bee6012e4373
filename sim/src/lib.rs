//! odradek-sim: the testbed that runs odradek under deterministic simulation.
//!
//! Inputs: scenarios and seeds. Outputs: verdicts, traces and reports. Modules:
//! [`disk`] the simulated page cache, [`scenario`] scenario files, [`history`] what clients
//! saw, [`check`] the history checker, [`properties`] the names a run is judged by.

pub mod check;
pub mod disk;
pub mod history;
pub mod properties;
pub mod scenario;

pub use disk::{CrashMode, CrashReport, DiskFaults, DiskStats, SimFile, SimStorage};
