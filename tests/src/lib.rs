//! End-to-end harness: the real `odradek` binary on loopback, driven by real Kafka clients.
//!
//! - [`BrokerProcess`] starts `odradek broker` on a free 127.0.0.1 port with its own data
//!   directory, and stops, kills (-9) and restarts it; [`ClusterProcesses`] starts several as
//!   one KRaft cluster.
//! - [`run_python`] and [`run_kcat`] run the client tools with a deadline and hand back
//!   status, stdout and stderr; a deadline that passes fails the test with all output.
//! - [`clients`] wraps the scripts in `tests/clients/` and kcat as typed calls, so that a
//!   test reads as the steps a person would take: create a topic, produce, consume, compare.
//!
//! What the tests need besides cargo (kcat, a venv at `.venv` with the Python clients) is
//! installed by `scripts/setup-test-env.sh`; the binary by `cargo build --bins`.
//! Every network address is 127.0.0.1 and every wait is bounded.

mod broker;
pub mod clients;
mod cluster;
mod process;

pub use broker::{free_port, odradek_bin, BrokerProcess, Stopped, PEER_CMD_ENV};
pub use cluster::ClusterProcesses;
pub use process::{python, run, run_kcat, run_python, Output};

use std::path::{Path, PathBuf};

/// The repository root (the workspace directory above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits one level below the workspace root")
        .to_path_buf()
}
