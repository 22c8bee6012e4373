//! The server: one sans-IO state machine per process, composing the Raft node of
//! `__cluster_metadata`, the controller (on controller nodes) and the broker (on broker
//! nodes) around one metadata image. See `docs/REPLICATION.md` for the contract.
//!
//! Inputs: client and peer requests, results of the server's own [`Call`]s, timeouts.
//! Outputs: responses and calls to peers.

pub mod call;

pub use call::{Call, CallFailed, CallId, CallResult, Lane, PeerAddress};
