//! KRaft messages as Kafka APIs: [`RaftMessage`] to and from `kafka-protocol` bodies and
//! frames, so a node shell can send them over the Kafka listener.
//!
//! Inputs: messages from a [`super::RaftNode`], or frames from the network. Outputs: request
//! and response bodies and frames, or a [`WireError`] (never a panic) for input that is not a
//! KRaft message for `__cluster_metadata-0`.
//!
//! Versions: each API is spoken at its newest version that predates KIP-853 (dynamic quorums,
//! which adds directory ids and endpoints this quorum of static voters does not use) and
//! KIP-996 (pre-vote, which changes Vote's meaning):
//! - Vote v0 (v1 is KIP-853, v2 adds `PreVote`);
//! - BeginQuorumEpoch v0 and EndQuorumEpoch v0 (v1 are KIP-853; v0's EndQuorumEpoch carries
//!   `PreferredSuccessors` as plain ids);
//! - Fetch v16 (v17 adds KIP-853's `ReplicaDirectoryId`). Fetch v13+ names the topic by id:
//!   `__cluster_metadata` has Kafka's fixed id `AAAAAAAAAAAAAAAAAAAAAQ`. v15+ carries the
//!   fetcher's id in `ReplicaState` (epoch -1, as KRaft sends it).
//!
//! Requests leave `ClusterId` null, which Kafka accepts (it checks the cluster id only when
//! one is sent); a node shell that knows its cluster id can set it on the body.
//!
//! The correlation id travels in the request and response headers. A response body does not
//! name its API, so decoding a response frame takes the API key of the request it answers.

use super::message::*;
use crate::types::{LeaderEpoch, Offset};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    begin_quorum_epoch_request, begin_quorum_epoch_response, end_quorum_epoch_request,
    end_quorum_epoch_response, fetch_request, fetch_response, vote_request, vote_response, ApiKey,
    BeginQuorumEpochRequest as WireBeginRequest, BeginQuorumEpochResponse as WireBeginResponse,
    EndQuorumEpochRequest as WireEndRequest, EndQuorumEpochResponse as WireEndResponse,
    FetchRequest as WireFetchRequest, FetchResponse as WireFetchResponse, RequestHeader,
    RequestKind, ResponseHeader, ResponseKind, TopicName, VoteRequest as WireVoteRequest,
    VoteResponse as WireVoteResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use uuid::Uuid;

pub const VOTE_VERSION: i16 = 0;
pub const BEGIN_QUORUM_EPOCH_VERSION: i16 = 0;
pub const END_QUORUM_EPOCH_VERSION: i16 = 0;
pub const FETCH_VERSION: i16 = 16;
/// The metadata topic and its one partition.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
pub const METADATA_PARTITION: i32 = 0;
/// Kafka's `Uuid.METADATA_TOPIC_ID`.
pub const METADATA_TOPIC_ID: Uuid = Uuid::from_u64_pair(0, 1);

/// Why bytes or a body are not a KRaft message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{api:?} v{version}: {reason}")]
    Codec { api: ApiKey, version: i16, reason: String },
    #[error("{api:?} is not a KRaft API")]
    NotRaft { api: ApiKey },
    #[error("{api:?} v{version} is not the version spoken (v{spoken})")]
    Version { api: ApiKey, version: i16, spoken: i16 },
    #[error("{api:?} names {found}, not {METADATA_TOPIC}-{METADATA_PARTITION} alone")]
    TopicPartition { api: ApiKey, found: String },
}

/// A message as the Kafka protocol carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct WireMessage {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub body: WireBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WireBody {
    Request(RequestKind),
    Response(ResponseKind),
}

/// The API and the version it is spoken at.
pub fn api_of(message: &RaftMessage) -> (ApiKey, i16) {
    match message {
        RaftMessage::VoteRequest(_) | RaftMessage::VoteResponse(_) => (ApiKey::Vote, VOTE_VERSION),
        RaftMessage::BeginQuorumEpochRequest(_) | RaftMessage::BeginQuorumEpochResponse(_) => {
            (ApiKey::BeginQuorumEpoch, BEGIN_QUORUM_EPOCH_VERSION)
        }
        RaftMessage::EndQuorumEpochRequest(_) | RaftMessage::EndQuorumEpochResponse(_) => {
            (ApiKey::EndQuorumEpoch, END_QUORUM_EPOCH_VERSION)
        }
        RaftMessage::FetchRequest(_) | RaftMessage::FetchResponse(_) => {
            (ApiKey::Fetch, FETCH_VERSION)
        }
    }
}

fn spoken_version(api: ApiKey) -> Result<i16, WireError> {
    match api {
        ApiKey::Vote => Ok(VOTE_VERSION),
        ApiKey::BeginQuorumEpoch => Ok(BEGIN_QUORUM_EPOCH_VERSION),
        ApiKey::EndQuorumEpoch => Ok(END_QUORUM_EPOCH_VERSION),
        ApiKey::Fetch => Ok(FETCH_VERSION),
        other => Err(WireError::NotRaft { api: other }),
    }
}

fn topic_name() -> TopicName {
    TopicName(StrBytes::from_static_str(METADATA_TOPIC))
}

fn leader_id_or_nil(leader: Option<i32>) -> i32 {
    leader.unwrap_or(-1)
}

fn optional_leader(id: i32) -> Option<i32> {
    (id >= 0).then_some(id)
}

/// Converts a message to its Kafka request or response body.
pub fn to_wire(message: &RaftMessage) -> WireMessage {
    let (api_key, api_version) = api_of(message);
    let correlation_id = message.correlation_id();
    let body =
        match message {
            RaftMessage::VoteRequest(m) => WireBody::Request(RequestKind::Vote(
                WireVoteRequest::default().with_topics(vec![vote_request::TopicData::default()
                    .with_topic_name(topic_name())
                    .with_partitions(vec![vote_request::PartitionData::default()
                        .with_partition_index(METADATA_PARTITION)
                        .with_replica_epoch(m.candidate_epoch.0)
                        .with_replica_id(m.candidate_id.into())
                        .with_last_offset_epoch(m.last_offset_epoch.0)
                        .with_last_offset(m.last_offset.0)])]),
            )),
            RaftMessage::VoteResponse(m) => WireBody::Response(ResponseKind::Vote(
                WireVoteResponse::default().with_topics(vec![vote_response::TopicData::default()
                    .with_topic_name(topic_name())
                    .with_partitions(vec![vote_response::PartitionData::default()
                        .with_partition_index(METADATA_PARTITION)
                        .with_error_code(m.error.code())
                        .with_leader_id(leader_id_or_nil(m.leader_id).into())
                        .with_leader_epoch(m.leader_epoch.0)
                        .with_vote_granted(m.vote_granted)])]),
            )),
            RaftMessage::BeginQuorumEpochRequest(m) => WireBody::Request(
                RequestKind::BeginQuorumEpoch(WireBeginRequest::default().with_topics(
                    vec![begin_quorum_epoch_request::TopicData::default()
                    .with_topic_name(topic_name())
                    .with_partitions(vec![begin_quorum_epoch_request::PartitionData::default()
                        .with_partition_index(METADATA_PARTITION)
                        .with_leader_id(m.leader_id.into())
                        .with_leader_epoch(m.leader_epoch.0)])],
                )),
            ),
            RaftMessage::BeginQuorumEpochResponse(m) => WireBody::Response(
                ResponseKind::BeginQuorumEpoch(WireBeginResponse::default().with_topics(vec![
                begin_quorum_epoch_response::TopicData::default()
                    .with_topic_name(topic_name())
                    .with_partitions(vec![begin_quorum_epoch_response::PartitionData::default()
                        .with_partition_index(METADATA_PARTITION)
                        .with_error_code(m.error.code())
                        .with_leader_id(leader_id_or_nil(m.leader_id).into())
                        .with_leader_epoch(m.leader_epoch.0)]),
            ])),
            ),
            RaftMessage::EndQuorumEpochRequest(m) => WireBody::Request(
                RequestKind::EndQuorumEpoch(WireEndRequest::default().with_topics(
                    vec![end_quorum_epoch_request::TopicData::default()
                    .with_topic_name(topic_name())
                    .with_partitions(vec![end_quorum_epoch_request::PartitionData::default()
                        .with_partition_index(METADATA_PARTITION)
                        .with_leader_id(m.leader_id.into())
                        .with_leader_epoch(m.leader_epoch.0)
                        .with_preferred_successors(m.preferred_successors.clone())])],
                )),
            ),
            RaftMessage::EndQuorumEpochResponse(m) => WireBody::Response(
                ResponseKind::EndQuorumEpoch(WireEndResponse::default().with_topics(vec![
                end_quorum_epoch_response::TopicData::default()
                    .with_topic_name(topic_name())
                    .with_partitions(vec![end_quorum_epoch_response::PartitionData::default()
                        .with_partition_index(METADATA_PARTITION)
                        .with_error_code(m.error.code())
                        .with_leader_id(leader_id_or_nil(m.leader_id).into())
                        .with_leader_epoch(m.leader_epoch.0)]),
            ])),
            ),
            RaftMessage::FetchRequest(m) => WireBody::Request(RequestKind::Fetch(
                WireFetchRequest::default()
                    .with_replica_state(
                        fetch_request::ReplicaState::default()
                            .with_replica_id(m.replica_id.into())
                            .with_replica_epoch(-1),
                    )
                    .with_max_wait_ms(m.max_wait_ms)
                    .with_min_bytes(0)
                    .with_max_bytes(m.max_bytes)
                    .with_topics(vec![fetch_request::FetchTopic::default()
                        .with_topic_id(METADATA_TOPIC_ID)
                        .with_partitions(vec![fetch_request::FetchPartition::default()
                            .with_partition(METADATA_PARTITION)
                            .with_current_leader_epoch(m.current_leader_epoch.0)
                            .with_fetch_offset(m.fetch_offset.0)
                            .with_last_fetched_epoch(m.last_fetched_epoch.0)
                            .with_log_start_offset(-1)
                            .with_partition_max_bytes(m.max_bytes)])]),
            )),
            RaftMessage::FetchResponse(m) => {
                let diverging = m.diverging_epoch.map_or_else(Default::default, |d| {
                    fetch_response::EpochEndOffset::default()
                        .with_epoch(d.epoch.0)
                        .with_end_offset(d.end_offset.0)
                });
                WireBody::Response(ResponseKind::Fetch(
                    WireFetchResponse::default().with_responses(vec![
                        fetch_response::FetchableTopicResponse::default()
                            .with_topic_id(METADATA_TOPIC_ID)
                            .with_partitions(vec![fetch_response::PartitionData::default()
                                .with_partition_index(METADATA_PARTITION)
                                .with_error_code(m.error.code())
                                .with_high_watermark(m.high_watermark.map_or(-1, |o| o.0))
                                .with_log_start_offset(m.log_start_offset.0)
                                .with_diverging_epoch(diverging)
                                .with_current_leader(
                                    fetch_response::LeaderIdAndEpoch::default()
                                        .with_leader_id(leader_id_or_nil(m.leader_id).into())
                                        .with_leader_epoch(m.leader_epoch.0),
                                )
                                .with_records(Some(m.records.clone()))]),
                    ]),
                ))
            }
        };
    WireMessage { api_key, api_version, correlation_id, body }
}

/// Converts a Kafka request or response body back to a message.
pub fn from_wire(wire: WireMessage) -> Result<RaftMessage, WireError> {
    let WireMessage { api_key, api_version, correlation_id, body } = wire;
    let spoken = spoken_version(api_key)?;
    if api_version != spoken {
        return Err(WireError::Version { api: api_key, version: api_version, spoken });
    }
    let wrong = |found: String| WireError::TopicPartition { api: api_key, found };
    match body {
        WireBody::Request(RequestKind::Vote(body)) => {
            let p = single(&body.topics, |t| (&t.topic_name, &t.partitions), |p| p.partition_index)
                .map_err(wrong)?;
            Ok(RaftMessage::VoteRequest(VoteRequest {
                correlation_id,
                candidate_epoch: LeaderEpoch(p.replica_epoch),
                candidate_id: p.replica_id.0,
                last_offset_epoch: LeaderEpoch(p.last_offset_epoch),
                last_offset: Offset(p.last_offset),
            }))
        }
        WireBody::Response(ResponseKind::Vote(body)) => {
            let (error, epoch, leader, granted) = if body.error_code != 0 {
                (body.error_code, -1, -1, false)
            } else {
                let p =
                    single(&body.topics, |t| (&t.topic_name, &t.partitions), |p| p.partition_index)
                        .map_err(wrong)?;
                (p.error_code, p.leader_epoch, p.leader_id.0, p.vote_granted)
            };
            Ok(RaftMessage::VoteResponse(VoteResponse {
                correlation_id,
                error: RaftErrorCode::from_code(error),
                leader_epoch: LeaderEpoch(epoch),
                leader_id: optional_leader(leader),
                vote_granted: granted,
            }))
        }
        WireBody::Request(RequestKind::BeginQuorumEpoch(body)) => {
            let p = single(&body.topics, |t| (&t.topic_name, &t.partitions), |p| p.partition_index)
                .map_err(wrong)?;
            Ok(RaftMessage::BeginQuorumEpochRequest(BeginQuorumEpochRequest {
                correlation_id,
                leader_epoch: LeaderEpoch(p.leader_epoch),
                leader_id: p.leader_id.0,
            }))
        }
        WireBody::Response(ResponseKind::BeginQuorumEpoch(body)) => {
            let (error, epoch, leader) = if body.error_code != 0 {
                (body.error_code, -1, -1)
            } else {
                let p =
                    single(&body.topics, |t| (&t.topic_name, &t.partitions), |p| p.partition_index)
                        .map_err(wrong)?;
                (p.error_code, p.leader_epoch, p.leader_id.0)
            };
            Ok(RaftMessage::BeginQuorumEpochResponse(BeginQuorumEpochResponse {
                correlation_id,
                error: RaftErrorCode::from_code(error),
                leader_epoch: LeaderEpoch(epoch),
                leader_id: optional_leader(leader),
            }))
        }
        WireBody::Request(RequestKind::EndQuorumEpoch(body)) => {
            let p = single(&body.topics, |t| (&t.topic_name, &t.partitions), |p| p.partition_index)
                .map_err(wrong)?;
            Ok(RaftMessage::EndQuorumEpochRequest(EndQuorumEpochRequest {
                correlation_id,
                leader_epoch: LeaderEpoch(p.leader_epoch),
                leader_id: p.leader_id.0,
                preferred_successors: p.preferred_successors.clone(),
            }))
        }
        WireBody::Response(ResponseKind::EndQuorumEpoch(body)) => {
            let (error, epoch, leader) = if body.error_code != 0 {
                (body.error_code, -1, -1)
            } else {
                let p =
                    single(&body.topics, |t| (&t.topic_name, &t.partitions), |p| p.partition_index)
                        .map_err(wrong)?;
                (p.error_code, p.leader_epoch, p.leader_id.0)
            };
            Ok(RaftMessage::EndQuorumEpochResponse(EndQuorumEpochResponse {
                correlation_id,
                error: RaftErrorCode::from_code(error),
                leader_epoch: LeaderEpoch(epoch),
                leader_id: optional_leader(leader),
            }))
        }
        WireBody::Request(RequestKind::Fetch(body)) => {
            let [topic] = body.topics.as_slice() else {
                return Err(wrong(format!("{} topics", body.topics.len())));
            };
            let [p] = topic.partitions.as_slice() else {
                return Err(wrong(format!("{} partitions", topic.partitions.len())));
            };
            if topic.topic_id != METADATA_TOPIC_ID || p.partition != METADATA_PARTITION {
                return Err(wrong(format!(
                    "topic id {} partition {}",
                    topic.topic_id, p.partition
                )));
            }
            Ok(RaftMessage::FetchRequest(FetchRequest {
                correlation_id,
                replica_id: body.replica_state.replica_id.0,
                current_leader_epoch: LeaderEpoch(p.current_leader_epoch),
                fetch_offset: Offset(p.fetch_offset),
                last_fetched_epoch: LeaderEpoch(p.last_fetched_epoch),
                max_wait_ms: body.max_wait_ms,
                max_bytes: p.partition_max_bytes,
            }))
        }
        WireBody::Response(ResponseKind::Fetch(body)) => {
            if body.error_code != 0 {
                return Ok(RaftMessage::FetchResponse(FetchResponse {
                    correlation_id,
                    error: RaftErrorCode::from_code(body.error_code),
                    high_watermark: None,
                    log_start_offset: Offset(-1),
                    diverging_epoch: None,
                    leader_epoch: LeaderEpoch(-1),
                    leader_id: None,
                    records: Bytes::new(),
                }));
            }
            let [topic] = body.responses.as_slice() else {
                return Err(wrong(format!("{} topics", body.responses.len())));
            };
            let [p] = topic.partitions.as_slice() else {
                return Err(wrong(format!("{} partitions", topic.partitions.len())));
            };
            if topic.topic_id != METADATA_TOPIC_ID || p.partition_index != METADATA_PARTITION {
                return Err(wrong(format!(
                    "topic id {} partition {}",
                    topic.topic_id, p.partition_index
                )));
            }
            let diverging = (p.diverging_epoch.epoch >= 0 || p.diverging_epoch.end_offset >= 0)
                .then_some(DivergingEpoch {
                    epoch: LeaderEpoch(p.diverging_epoch.epoch),
                    end_offset: Offset(p.diverging_epoch.end_offset),
                });
            Ok(RaftMessage::FetchResponse(FetchResponse {
                correlation_id,
                error: RaftErrorCode::from_code(p.error_code),
                high_watermark: (p.high_watermark >= 0).then_some(Offset(p.high_watermark)),
                log_start_offset: Offset(p.log_start_offset),
                diverging_epoch: diverging,
                leader_epoch: LeaderEpoch(p.current_leader.leader_epoch),
                leader_id: optional_leader(p.current_leader.leader_id.0),
                records: p.records.clone().unwrap_or_default(),
            }))
        }
        WireBody::Request(_) | WireBody::Response(_) => Err(WireError::NotRaft { api: api_key }),
    }
}

/// The one partition of the one topic, which must be `__cluster_metadata-0`.
fn single<'a, T, P>(
    topics: &'a [T],
    parts: impl Fn(&'a T) -> (&'a TopicName, &'a Vec<P>),
    index: impl Fn(&P) -> i32,
) -> Result<&'a P, String> {
    let [topic] = topics else {
        return Err(format!("{} topics", topics.len()));
    };
    let (name, partitions) = parts(topic);
    let [partition] = partitions.as_slice() else {
        return Err(format!("{} partitions", partitions.len()));
    };
    if name.0.as_str() != METADATA_TOPIC || index(partition) != METADATA_PARTITION {
        return Err(format!("{}-{}", name.0.as_str(), index(partition)));
    }
    Ok(partition)
}

/// Encodes a request's frame (header and body, without the 4-byte size) as `client_id`.
pub fn encode_request_frame(message: &RaftMessage, client_id: &str) -> Result<Bytes, WireError> {
    let wire = to_wire(message);
    let codec =
        |reason: String| WireError::Codec { api: wire.api_key, version: wire.api_version, reason };
    let WireBody::Request(body) = &wire.body else {
        return Err(codec("not a request".into()));
    };
    let mut out = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(wire.api_key as i16)
        .with_request_api_version(wire.api_version)
        .with_correlation_id(wire.correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())))
        .encode(&mut out, wire.api_key.request_header_version(wire.api_version))
        .map_err(|e| codec(format!("header: {e}")))?;
    body.encode(&mut out, wire.api_version).map_err(|e| codec(format!("body: {e}")))?;
    Ok(out.freeze())
}

/// Encodes a response's frame (header and body, without the 4-byte size).
pub fn encode_response_frame(message: &RaftMessage) -> Result<Bytes, WireError> {
    let wire = to_wire(message);
    let codec =
        |reason: String| WireError::Codec { api: wire.api_key, version: wire.api_version, reason };
    let WireBody::Response(body) = &wire.body else {
        return Err(codec("not a response".into()));
    };
    let mut out = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(wire.correlation_id)
        .encode(&mut out, wire.api_key.response_header_version(wire.api_version))
        .map_err(|e| codec(format!("header: {e}")))?;
    body.encode(&mut out, wire.api_version).map_err(|e| codec(format!("body: {e}")))?;
    Ok(out.freeze())
}

/// Decodes a request frame (header and body) into a message.
pub fn decode_request_frame(frame: Bytes) -> Result<RaftMessage, WireError> {
    if frame.len() < 4 {
        return Err(WireError::Codec {
            api: ApiKey::Fetch,
            version: -1,
            reason: format!("frame of {} bytes has no header", frame.len()),
        });
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|_| WireError::Codec {
        api: ApiKey::Fetch,
        version: api_version,
        reason: format!("unknown API key {raw_key}"),
    })?;
    let spoken = spoken_version(api_key)?;
    if api_version != spoken {
        return Err(WireError::Version { api: api_key, version: api_version, spoken });
    }
    let codec = |reason: String| WireError::Codec { api: api_key, version: api_version, reason };
    let mut buf = frame;
    let header = RequestHeader::decode(&mut buf, api_key.request_header_version(api_version))
        .map_err(|e| codec(format!("header: {e}")))?;
    let body = RequestKind::decode(api_key, &mut buf, api_version)
        .map_err(|e| codec(format!("body: {e}")))?;
    from_wire(WireMessage {
        api_key,
        api_version,
        correlation_id: header.correlation_id,
        body: WireBody::Request(body),
    })
}

/// Decodes a response frame (header and body) to a request of `api_key` into a message.
pub fn decode_response_frame(api_key: ApiKey, frame: Bytes) -> Result<RaftMessage, WireError> {
    let api_version = spoken_version(api_key)?;
    let codec = |reason: String| WireError::Codec { api: api_key, version: api_version, reason };
    let mut buf = frame;
    let header = ResponseHeader::decode(&mut buf, api_key.response_header_version(api_version))
        .map_err(|e| codec(format!("header: {e}")))?;
    let body = ResponseKind::decode(api_key, &mut buf, api_version)
        .map_err(|e| codec(format!("body: {e}")))?;
    from_wire(WireMessage {
        api_key,
        api_version,
        correlation_id: header.correlation_id,
        body: WireBody::Response(body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<RaftMessage> {
        let batch = crate::log::batch::encode(&[(None, Some(Bytes::from_static(b"v")))], 7);
        vec![
            RaftMessage::VoteRequest(VoteRequest {
                correlation_id: 11,
                candidate_epoch: LeaderEpoch(5),
                candidate_id: 2,
                last_offset_epoch: LeaderEpoch(4),
                last_offset: Offset(120),
            }),
            RaftMessage::VoteResponse(VoteResponse {
                correlation_id: 11,
                error: RaftErrorCode::None,
                leader_epoch: LeaderEpoch(5),
                leader_id: None,
                vote_granted: true,
            }),
            RaftMessage::VoteResponse(VoteResponse {
                correlation_id: 12,
                error: RaftErrorCode::FencedLeaderEpoch,
                leader_epoch: LeaderEpoch(9),
                leader_id: Some(3),
                vote_granted: false,
            }),
            RaftMessage::BeginQuorumEpochRequest(BeginQuorumEpochRequest {
                correlation_id: 13,
                leader_epoch: LeaderEpoch(5),
                leader_id: 2,
            }),
            RaftMessage::BeginQuorumEpochResponse(BeginQuorumEpochResponse {
                correlation_id: 13,
                error: RaftErrorCode::None,
                leader_epoch: LeaderEpoch(5),
                leader_id: Some(2),
            }),
            RaftMessage::EndQuorumEpochRequest(EndQuorumEpochRequest {
                correlation_id: 14,
                leader_epoch: LeaderEpoch(5),
                leader_id: 2,
                preferred_successors: vec![3, 1],
            }),
            RaftMessage::EndQuorumEpochResponse(EndQuorumEpochResponse {
                correlation_id: 14,
                error: RaftErrorCode::InconsistentVoterSet,
                leader_epoch: LeaderEpoch(5),
                leader_id: Some(2),
            }),
            RaftMessage::FetchRequest(FetchRequest {
                correlation_id: 15,
                replica_id: 3,
                current_leader_epoch: LeaderEpoch(5),
                fetch_offset: Offset(118),
                last_fetched_epoch: LeaderEpoch(4),
                max_wait_ms: 500,
                max_bytes: 1 << 20,
            }),
            RaftMessage::FetchResponse(FetchResponse {
                correlation_id: 15,
                error: RaftErrorCode::None,
                high_watermark: Some(Offset(117)),
                log_start_offset: Offset(0),
                diverging_epoch: None,
                leader_epoch: LeaderEpoch(5),
                leader_id: Some(2),
                records: batch,
            }),
            RaftMessage::FetchResponse(FetchResponse {
                correlation_id: 16,
                error: RaftErrorCode::None,
                high_watermark: None,
                log_start_offset: Offset(0),
                diverging_epoch: Some(DivergingEpoch {
                    epoch: LeaderEpoch(3),
                    end_offset: Offset(100),
                }),
                leader_epoch: LeaderEpoch(5),
                leader_id: Some(2),
                records: Bytes::new(),
            }),
            RaftMessage::FetchResponse(FetchResponse {
                correlation_id: 17,
                error: RaftErrorCode::NotLeaderOrFollower,
                high_watermark: None,
                log_start_offset: Offset(0),
                diverging_epoch: None,
                leader_epoch: LeaderEpoch(6),
                leader_id: None,
                records: Bytes::new(),
            }),
        ]
    }

    #[test]
    fn every_message_round_trips_through_its_kafka_frame() {
        for message in samples() {
            let (api_key, _) = api_of(&message);
            let decoded = if message.is_request() {
                let frame = encode_request_frame(&message, "raft-2").expect("encode");
                decode_request_frame(frame).expect("decode")
            } else {
                let frame = encode_response_frame(&message).expect("encode");
                decode_response_frame(api_key, frame).expect("decode")
            };
            assert_eq!(decoded, message, "{message}");
        }
    }

    #[test]
    fn every_message_round_trips_through_its_kafka_body() {
        for message in samples() {
            let wire = to_wire(&message);
            assert_eq!(from_wire(wire).expect("from wire"), message);
        }
    }

    #[test]
    fn the_frames_use_the_chosen_versions_and_the_metadata_topic() {
        let fetch = samples().into_iter().find(|m| matches!(m, RaftMessage::FetchRequest(_)));
        let frame = encode_request_frame(&fetch.expect("sample"), "raft-3").expect("encode");
        assert_eq!(i16::from_be_bytes([frame[0], frame[1]]), ApiKey::Fetch as i16);
        assert_eq!(i16::from_be_bytes([frame[2], frame[3]]), FETCH_VERSION);
        let wire = to_wire(&samples()[0]);
        let WireBody::Request(RequestKind::Vote(vote)) = wire.body else { panic!("vote") };
        assert_eq!(vote.topics[0].topic_name.0.as_str(), METADATA_TOPIC);
        assert_eq!(METADATA_TOPIC_ID.to_string(), "00000000-0000-0000-0000-000000000001");
    }

    #[test]
    fn other_partitions_versions_and_garbage_are_errors_not_panics() {
        let mut wire = to_wire(&samples()[0]);
        if let WireBody::Request(RequestKind::Vote(vote)) = &mut wire.body {
            vote.topics[0].partitions[0].partition_index = 1;
        }
        assert!(matches!(from_wire(wire), Err(WireError::TopicPartition { .. })));
        let mut wire = to_wire(&samples()[0]);
        wire.api_version = 1;
        assert!(matches!(from_wire(wire), Err(WireError::Version { .. })));
        let frame = encode_request_frame(&samples()[7], "x").expect("encode");
        for cut in [0, 3, 9, frame.len() / 2, frame.len() - 1] {
            let _ = decode_request_frame(frame.slice(..cut));
        }
        let mut flipped = frame.to_vec();
        flipped[1] = 0x7f;
        assert!(decode_request_frame(Bytes::from(flipped)).is_err());
    }
}
