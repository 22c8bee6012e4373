//! Calls: requests a server makes to its peers, and what came of them.
//!
//! The sans-IO [`Server`](super) emits a [`Call`] whenever it needs another node (a Raft
//! message to a voter, a registration or AlterPartition to the active controller, a replica
//! fetch to a partition leader); the async shell delivers it and hands back a [`CallResult`].
//! The server resolves node ids to addresses itself (voters from `controller.quorum.voters`,
//! brokers from their registrations), so the shell needs no metadata.
//!
//! Invariants: every call gets exactly one result, a response or a [`CallFailed`]; calls on
//! one [`Lane`] to one node share a connection and are answered in order, so work that
//! long-polls (a fetch) never shares a lane with work that must not wait behind it (a vote).

use crate::BrokerId;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

/// Names one call for its result; unique within a server's lifetime.
pub type CallId = u64;

/// Which connection to a peer a call travels on: one connection per lane and peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lane {
    /// Vote, BeginQuorumEpoch, EndQuorumEpoch: short, never blocked by a long poll.
    Quorum,
    /// Fetches of `__cluster_metadata`, long-polled by the Raft leader.
    MetadataFetch,
    /// Requests to the active controller: registration, heartbeats, AlterPartition and
    /// forwarded admin requests.
    Controller,
    /// A follower's fetches of partition data from a leader broker.
    Replication,
}

/// Where a peer listens.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerAddress {
    pub node_id: BrokerId,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {} at {}:{}", self.node_id, self.host, self.port)
    }
}

/// A request to send to a peer.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub id: CallId,
    pub to: PeerAddress,
    pub lane: Lane,
    /// The key of `request`'s variant.
    pub api_key: ApiKey,
    pub api_version: i16,
    pub request: RequestKind,
    /// How long to wait for the answer before the call fails (and its connection closes).
    pub timeout_ms: u64,
}

/// Why a call got no response: the peer was unreachable, closed the connection, did not
/// answer in time, or answered with something that could not be decoded. The server treats
/// all of them alike (back off, maybe pick another peer); the reason is for the log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("call {call} to {to} failed: {reason}")]
pub struct CallFailed {
    pub call: CallId,
    pub to: PeerAddress,
    pub reason: String,
}

/// The outcome of one call.
pub type CallResult = Result<ResponseKind, CallFailed>;
