//! The messages nodes of the quorum exchange, as domain types.
//!
//! Each is one of Kafka's KRaft APIs reduced to the fields KRaft uses for the single
//! `__cluster_metadata-0` partition; [`super::wire`] converts them to and from the
//! `kafka-protocol` request and response bodies. Requests carry the correlation id a node
//! chose; a response echoes its request's, so a node can drop responses it no longer waits
//! for (a duplicate, a reordered one, one from before a restart). On the wire the
//! correlation id lives in the request and response headers.

use crate::types::{LeaderEpoch, Offset};
use bytes::Bytes;
use std::fmt;

/// The error codes KRaft answers with, by their Kafka names and codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RaftErrorCode {
    None,
    /// 6: the receiver is not the leader of the request's epoch.
    NotLeaderOrFollower,
    /// 42: a field is out of range.
    InvalidRequest,
    /// 74: the request's epoch is older than the receiver's.
    FencedLeaderEpoch,
    /// 75: the request's epoch is newer than the receiver's.
    UnknownLeaderEpoch,
    /// 94: the sender or the receiver is not a voter.
    InconsistentVoterSet,
    /// Any other code, kept as received.
    Other(i16),
}

impl RaftErrorCode {
    pub fn code(self) -> i16 {
        match self {
            RaftErrorCode::None => 0,
            RaftErrorCode::NotLeaderOrFollower => 6,
            RaftErrorCode::InvalidRequest => 42,
            RaftErrorCode::FencedLeaderEpoch => 74,
            RaftErrorCode::UnknownLeaderEpoch => 75,
            RaftErrorCode::InconsistentVoterSet => 94,
            RaftErrorCode::Other(code) => code,
        }
    }

    pub fn from_code(code: i16) -> Self {
        match code {
            0 => RaftErrorCode::None,
            6 => RaftErrorCode::NotLeaderOrFollower,
            42 => RaftErrorCode::InvalidRequest,
            74 => RaftErrorCode::FencedLeaderEpoch,
            75 => RaftErrorCode::UnknownLeaderEpoch,
            94 => RaftErrorCode::InconsistentVoterSet,
            other => RaftErrorCode::Other(other),
        }
    }
}

/// Vote (API key 52): a candidate asks a voter for its vote in `candidate_epoch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteRequest {
    pub correlation_id: i32,
    pub candidate_epoch: LeaderEpoch,
    pub candidate_id: i32,
    /// The epoch of the candidate's last batch (0 for an empty log).
    pub last_offset_epoch: LeaderEpoch,
    /// The candidate's log end offset.
    pub last_offset: Offset,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteResponse {
    pub correlation_id: i32,
    pub error: RaftErrorCode,
    /// The responder's epoch and leader after handling the request.
    pub leader_epoch: LeaderEpoch,
    pub leader_id: Option<i32>,
    pub vote_granted: bool,
}

/// BeginQuorumEpoch (API key 53): a new leader tells a voter it won `leader_epoch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeginQuorumEpochRequest {
    pub correlation_id: i32,
    pub leader_epoch: LeaderEpoch,
    pub leader_id: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeginQuorumEpochResponse {
    pub correlation_id: i32,
    pub error: RaftErrorCode,
    pub leader_epoch: LeaderEpoch,
    pub leader_id: Option<i32>,
}

/// EndQuorumEpoch (API key 54): a leader resigns gracefully; voters should elect one of
/// `preferred_successors` (most caught up first) without waiting for a fetch timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndQuorumEpochRequest {
    pub correlation_id: i32,
    pub leader_epoch: LeaderEpoch,
    pub leader_id: i32,
    pub preferred_successors: Vec<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndQuorumEpochResponse {
    pub correlation_id: i32,
    pub error: RaftErrorCode,
    pub leader_epoch: LeaderEpoch,
    pub leader_id: Option<i32>,
}

/// Fetch (API key 1) of `__cluster_metadata-0` by a follower or an observer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchRequest {
    pub correlation_id: i32,
    pub replica_id: i32,
    /// The epoch the fetcher believes current; the leader fences older ones.
    pub current_leader_epoch: LeaderEpoch,
    /// The fetcher's log end offset.
    pub fetch_offset: Offset,
    /// The epoch of the fetcher's last batch (0 for an empty log).
    pub last_fetched_epoch: LeaderEpoch,
    /// How long the leader may hold the request while it has no new records.
    pub max_wait_ms: i32,
    pub max_bytes: i32,
}

/// Where the fetcher's log diverged: the leader's largest epoch at or below the fetcher's
/// last fetched epoch, and where that epoch ends in the leader's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DivergingEpoch {
    pub epoch: LeaderEpoch,
    pub end_offset: Offset,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchResponse {
    pub correlation_id: i32,
    pub error: RaftErrorCode,
    /// The leader's high watermark, when it knows one.
    pub high_watermark: Option<Offset>,
    pub log_start_offset: Offset,
    pub diverging_epoch: Option<DivergingEpoch>,
    /// The responder's epoch and the leader it knows (Kafka's `CurrentLeader`).
    pub leader_epoch: LeaderEpoch,
    pub leader_id: Option<i32>,
    /// Whole record batches from the fetch offset on (empty when none or diverged).
    pub records: Bytes,
}

/// One message between two nodes of the quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RaftMessage {
    VoteRequest(VoteRequest),
    VoteResponse(VoteResponse),
    BeginQuorumEpochRequest(BeginQuorumEpochRequest),
    BeginQuorumEpochResponse(BeginQuorumEpochResponse),
    EndQuorumEpochRequest(EndQuorumEpochRequest),
    EndQuorumEpochResponse(EndQuorumEpochResponse),
    FetchRequest(FetchRequest),
    FetchResponse(FetchResponse),
}

impl RaftMessage {
    pub fn correlation_id(&self) -> i32 {
        match self {
            RaftMessage::VoteRequest(m) => m.correlation_id,
            RaftMessage::VoteResponse(m) => m.correlation_id,
            RaftMessage::BeginQuorumEpochRequest(m) => m.correlation_id,
            RaftMessage::BeginQuorumEpochResponse(m) => m.correlation_id,
            RaftMessage::EndQuorumEpochRequest(m) => m.correlation_id,
            RaftMessage::EndQuorumEpochResponse(m) => m.correlation_id,
            RaftMessage::FetchRequest(m) => m.correlation_id,
            RaftMessage::FetchResponse(m) => m.correlation_id,
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(
            self,
            RaftMessage::VoteRequest(_)
                | RaftMessage::BeginQuorumEpochRequest(_)
                | RaftMessage::EndQuorumEpochRequest(_)
                | RaftMessage::FetchRequest(_)
        )
    }

    /// The Kafka API this message belongs to.
    pub fn api_name(&self) -> &'static str {
        match self {
            RaftMessage::VoteRequest(_) | RaftMessage::VoteResponse(_) => "Vote",
            RaftMessage::BeginQuorumEpochRequest(_) | RaftMessage::BeginQuorumEpochResponse(_) => {
                "BeginQuorumEpoch"
            }
            RaftMessage::EndQuorumEpochRequest(_) | RaftMessage::EndQuorumEpochResponse(_) => {
                "EndQuorumEpoch"
            }
            RaftMessage::FetchRequest(_) | RaftMessage::FetchResponse(_) => "Fetch",
        }
    }
}

/// A compact line for traces.
impl fmt::Display for RaftMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RaftMessage::VoteRequest(m) => write!(
                f,
                "Vote#{} epoch {} candidate {} last ({}, {})",
                m.correlation_id,
                m.candidate_epoch,
                m.candidate_id,
                m.last_offset_epoch,
                m.last_offset
            ),
            RaftMessage::VoteResponse(m) => write!(
                f,
                "VoteResponse#{} {:?} epoch {} leader {:?} granted {}",
                m.correlation_id, m.error, m.leader_epoch, m.leader_id, m.vote_granted
            ),
            RaftMessage::BeginQuorumEpochRequest(m) => write!(
                f,
                "BeginQuorumEpoch#{} epoch {} leader {}",
                m.correlation_id, m.leader_epoch, m.leader_id
            ),
            RaftMessage::BeginQuorumEpochResponse(m) => write!(
                f,
                "BeginQuorumEpochResponse#{} {:?} epoch {} leader {:?}",
                m.correlation_id, m.error, m.leader_epoch, m.leader_id
            ),
            RaftMessage::EndQuorumEpochRequest(m) => write!(
                f,
                "EndQuorumEpoch#{} epoch {} leader {} successors {:?}",
                m.correlation_id, m.leader_epoch, m.leader_id, m.preferred_successors
            ),
            RaftMessage::EndQuorumEpochResponse(m) => write!(
                f,
                "EndQuorumEpochResponse#{} {:?} epoch {} leader {:?}",
                m.correlation_id, m.error, m.leader_epoch, m.leader_id
            ),
            RaftMessage::FetchRequest(m) => write!(
                f,
                "Fetch#{} replica {} epoch {} offset {} last epoch {} wait {}",
                m.correlation_id,
                m.replica_id,
                m.current_leader_epoch,
                m.fetch_offset,
                m.last_fetched_epoch,
                m.max_wait_ms
            ),
            RaftMessage::FetchResponse(m) => write!(
                f,
                "FetchResponse#{} {:?} epoch {} leader {:?} hw {:?} diverging {:?} {} bytes",
                m.correlation_id,
                m.error,
                m.leader_epoch,
                m.leader_id,
                m.high_watermark.map(|o| o.0),
                m.diverging_epoch.map(|d| (d.epoch.0, d.end_offset.0)),
                m.records.len()
            ),
        }
    }
}
