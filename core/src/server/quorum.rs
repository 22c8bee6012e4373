//! The Raft node's messages as calls and requests: how a sans-IO [`RaftNode`] talks to its
//! peers through the server.
//!
//! Inputs: the node's [`RaftOutput::Send`]s, Raft requests that arrived on a controller
//! listener, and the results of the calls this module made. Outputs: [`Call`]s (a Raft
//! request to a voter) and responses to pending peer requests (a Raft response).
//!
//! Invariants: a Raft request from a peer is answered once, by the Raft node's response with
//! the same correlation id, or with nothing (the peer's call then times out) when the node
//! cannot take it; a call's result reaches the node with the correlation id the node chose,
//! whatever id the connection used on the wire.

use super::call::{Call, CallResult, Lane, PeerAddress};
use crate::broker::RequestToken;
use crate::config::QuorumVoter;
use crate::raft::wire::{self, WireBody, WireMessage, METADATA_TOPIC, METADATA_TOPIC_ID};
use crate::raft::RaftMessage;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use std::collections::BTreeMap;

/// A Raft request this server sent: where, and the id the Raft node gave it.
#[derive(Clone, Debug)]
pub struct RaftCall {
    pub to: i32,
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// Raft requests from peers waiting for the node's answer.
#[derive(Debug, Default)]
pub struct PendingPeerRequests {
    /// (peer, API, correlation id) → where the answer goes. One API travels on one lane,
    /// hence one connection, so the triple is unique while the request is pending.
    tokens: BTreeMap<(i32, i16, i32), RequestToken>,
}

/// Whether a request on a controller listener is for the Raft node.
pub fn is_raft_request(request: &RequestKind) -> bool {
    match request {
        RequestKind::Vote(_)
        | RequestKind::BeginQuorumEpoch(_)
        | RequestKind::EndQuorumEpoch(_) => true,
        RequestKind::Fetch(fetch) => fetch
            .topics
            .iter()
            .any(|t| t.topic_id == METADATA_TOPIC_ID || t.topic.0.as_str() == METADATA_TOPIC),
        _ => false,
    }
}

/// The sender a Raft request names.
fn sender(message: &RaftMessage) -> Option<i32> {
    match message {
        RaftMessage::VoteRequest(m) => Some(m.candidate_id),
        RaftMessage::BeginQuorumEpochRequest(m) => Some(m.leader_id),
        RaftMessage::EndQuorumEpochRequest(m) => Some(m.leader_id),
        RaftMessage::FetchRequest(m) => Some(m.replica_id),
        _ => None,
    }
}

/// A Raft request from a peer, decoded: its sender and message, remembered in `pending`
/// under `token`. `Err` names what was wrong; the request then gets no answer.
pub fn accept_peer_request(
    pending: &mut PendingPeerRequests,
    token: RequestToken,
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    body: RequestKind,
) -> Result<(i32, RaftMessage), String> {
    let wire = WireMessage { api_key, api_version, correlation_id, body: WireBody::Request(body) };
    let message = wire::from_wire(wire).map_err(|e| e.to_string())?;
    let from = sender(&message)
        .filter(|id| *id >= 0)
        .ok_or_else(|| format!("{} names no sender", message.api_name()))?;
    let key = (from, api_key as i16, correlation_id);
    if pending.tokens.insert(key, token).is_some() {
        tracing::warn!(
            from,
            ?api_key,
            correlation_id,
            "a peer reused a pending correlation id; the older request goes unanswered"
        );
    }
    Ok((from, message))
}

/// What to do with one [`crate::raft::RaftOutput::Send`].
pub enum Routed {
    /// A request to a voter: send this call (its id is filled in by the caller).
    Call { call: RaftCall, lane: Lane, to: PeerAddress, request: RequestKind },
    /// The answer to a peer's request.
    Respond { token: RequestToken, response: ResponseKind },
    /// Nowhere to send it (an unknown voter, or a peer request already given up).
    Drop(String),
}

/// Routes one message the Raft node wants sent to `to`.
pub fn route(
    pending: &mut PendingPeerRequests,
    voters: &[QuorumVoter],
    to: i32,
    message: &RaftMessage,
) -> Routed {
    let wire = wire::to_wire(message);
    match wire.body {
        WireBody::Request(request) => {
            let Some(voter) = voters.iter().find(|v| v.node_id == to) else {
                return Routed::Drop(format!("node {to} is not a voter with an address"));
            };
            let lane =
                if wire.api_key == ApiKey::Fetch { Lane::MetadataFetch } else { Lane::Quorum };
            Routed::Call {
                call: RaftCall {
                    to,
                    api_key: wire.api_key,
                    api_version: wire.api_version,
                    correlation_id: wire.correlation_id,
                },
                lane,
                to: PeerAddress {
                    node_id: crate::BrokerId(to),
                    host: voter.host.clone(),
                    port: voter.port,
                },
                request,
            }
        }
        WireBody::Response(response) => {
            let key = (to, wire.api_key as i16, wire.correlation_id);
            match pending.tokens.remove(&key) {
                Some(token) => Routed::Respond { token, response },
                None => Routed::Drop(format!(
                    "no pending {:?} from node {to} with correlation id {}",
                    wire.api_key, wire.correlation_id
                )),
            }
        }
    }
}

/// The Raft message a call's result carries, for the node that made the call; `None` when the
/// call failed or the answer is not a Raft message (the node retries on its own timers).
pub fn call_result_message(call: &RaftCall, result: CallResult) -> Option<RaftMessage> {
    let response = match result {
        Ok(response) => response,
        Err(failed) => {
            tracing::debug!(%failed, "raft call failed");
            return None;
        }
    };
    let wire = WireMessage {
        api_key: call.api_key,
        api_version: call.api_version,
        correlation_id: call.correlation_id,
        body: WireBody::Response(response),
    };
    match wire::from_wire(wire) {
        Ok(message) => Some(message),
        Err(error) => {
            tracing::warn!(to = call.to, %error, "raft answer is not a raft message");
            None
        }
    }
}

/// Builds the call for a routed request.
pub fn make_call(
    id: super::CallId,
    routed_call: &RaftCall,
    lane: Lane,
    to: PeerAddress,
    request: RequestKind,
    timeout_ms: u64,
) -> Call {
    Call {
        id,
        to,
        lane,
        api_key: routed_call.api_key,
        api_version: routed_call.api_version,
        request,
        timeout_ms,
    }
}
