//! odradek-sim: the testbed that runs odradek under deterministic simulation.
//!
//! Inputs: scenarios and seeds. Outputs: verdicts, traces and reports. So far it holds the
//! simulated disk ([`disk`]); the cluster, faults, workloads, checkers and reports follow the
//! layout in DESIGN.md.

pub mod disk;

pub use disk::{CrashMode, CrashReport, DiskFaults, DiskStats, SimFile, SimStorage};
