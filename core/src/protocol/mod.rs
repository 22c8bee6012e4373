//! Kafka on the wire: request frames in, response frames out.
//!
//! Inputs: one frame's bytes (after the 4-byte size, which the connection reads and bounds).
//! Outputs: a decoded request for the broker, a reply that needs no broker (ApiVersions,
//! UNSUPPORTED_VERSION for legacy versions), or a [`DecodeError`] after which the connection
//! is closed with one log line, as Kafka does. Codecs come from the `kafka-protocol` crate.
//! Invariants: nothing here panics on input; a response is encoded with the header version
//! its API and version require (ApiVersions always uses header v0).

pub mod legacy;
pub mod skim;
pub mod versions;

pub use kafka_protocol::ResponseError as ErrorCode;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, RequestHeader, RequestKind, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Decodable, Encodable};

/// The largest response header: correlation id plus an empty tagged-field section.
const RESPONSE_HEADER_MAX_BYTES: usize = 5;

/// A request ready for the broker.
#[derive(Debug, Clone)]
pub struct Request {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    pub body: RequestKind,
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded {
    /// A request for the broker to handle.
    Request(Box<Request>),
    /// A complete response frame to send back as it is (or nothing, for acks=0).
    Reply(Option<Bytes>),
}

/// Why a frame cannot be answered; the connection is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {len} bytes is shorter than a request header")]
    TruncatedHeader { len: usize },
    #[error("unknown API key {api_key}")]
    UnknownApiKey { api_key: i16 },
    #[error("API {api_key:?} is not served by this broker")]
    UnsupportedApi { api_key: ApiKey },
    #[error("{api_key:?} v{api_version} is not supported (served: v{min}..=v{max})")]
    UnsupportedVersion { api_key: ApiKey, api_version: i16, min: i16, max: i16 },
    #[error(
        "malformed {api_key:?} v{api_version} request (correlation id {correlation_id}): {reason}"
    )]
    Malformed { api_key: ApiKey, api_version: i16, correlation_id: i32, reason: String },
}

/// Decodes one request frame from a broker listener.
pub fn decode_request(frame: Bytes) -> Result<Decoded, DecodeError> {
    decode_request_on(versions::ListenerKind::Broker, frame)
}

/// Decodes one request frame from a listener of `kind`, against that listener's table.
pub fn decode_request_on(
    kind: versions::ListenerKind,
    frame: Bytes,
) -> Result<Decoded, DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::TruncatedHeader { len: frame.len() });
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key =
        ApiKey::try_from(raw_key).map_err(|_| DecodeError::UnknownApiKey { api_key: raw_key })?;
    let Some(range) = versions::advertised_on(kind, api_key) else {
        return Err(DecodeError::UnsupportedApi { api_key });
    };
    let malformed =
        |reason: String| DecodeError::Malformed { api_key, api_version, correlation_id, reason };

    // A client newer than us: answer ApiVersions v0 with UNSUPPORTED_VERSION and our table,
    // without decoding a body we do not know (KIP-511). Kafka does this for every version it
    // does not support, a negative one too (`RequestContext.isUnsupportedApiVersionsRequest`);
    // odradek used to close the connection on those below v0.
    if api_key == ApiKey::ApiVersions
        && !(range.min_version..=range.max_version).contains(&api_version)
    {
        let body = ResponseKind::ApiVersions(versions::api_versions_response_on(
            kind,
            ErrorCode::UnsupportedVersion.code(),
        ));
        return encode_response(ApiKey::ApiVersions, 0, correlation_id, &body)
            .map(|b| Decoded::Reply(Some(b)))
            .map_err(malformed);
    }
    if api_version < range.served_min_version && api_version >= range.min_version {
        return legacy_reply(api_key, api_version, correlation_id, frame).map_err(malformed);
    }
    if !versions::is_served_on(kind, api_key, api_version) {
        let (min, max) = (range.served_min_version, range.max_version);
        return Err(DecodeError::UnsupportedVersion { api_key, api_version, min, max });
    }
    let mut buf = frame;
    let header = decode_request_header_from_buffer(&mut buf)
        .map_err(|e| malformed(format!("header: {e}")))?;
    // The codec sizes arrays from their counts before reading them: check every count first.
    skim::check(api_key, api_version, &buf).map_err(|e| malformed(format!("body: {e}")))?;
    let body = match api_key {
        ApiKey::ApiVersions => {
            ApiVersionsRequest::decode(&mut buf, api_version).map(RequestKind::ApiVersions)
        }
        _ => RequestKind::decode(api_key, &mut buf, api_version),
    }
    .map_err(|e| malformed(format!("body: {e}")))?;
    if buf.has_remaining() {
        // Kafka reads the fields a version defines and ignores what follows; librdkafka 2.16's
        // admin client sends Metadata v12 with three such bytes. Do as Kafka does.
        tracing::debug!(
            ?api_key,
            api_version,
            correlation_id,
            trailing_bytes = buf.remaining(),
            "ignoring bytes after the request body"
        );
    }
    Ok(Decoded::Request(Box::new(Request {
        api_key,
        api_version,
        correlation_id,
        client_id: header.client_id.map(|s| s.to_string()),
        body,
    })))
}

/// Answers a legacy (advertised, not served) version of Produce or Fetch.
fn legacy_reply(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    frame: Bytes,
) -> Result<Decoded, String> {
    let mut buf = frame;
    // Legacy versions use request header v1: key, version, correlation id, client id.
    let _header = RequestHeader::decode(&mut buf, 1).map_err(|e| format!("header: {e}"))?;
    let body = match api_key {
        ApiKey::Produce => legacy::produce_unsupported(api_version, buf)?,
        ApiKey::Fetch => Some(legacy::fetch_unsupported(api_version, buf)?),
        other => return Err(format!("no legacy answer for {other:?}")),
    };
    Ok(Decoded::Reply(body.map(|body| {
        let mut out = BytesMut::with_capacity(8 + body.len());
        out.put_i32((4 + body.len()) as i32);
        out.put_i32(correlation_id);
        out.put_slice(&body);
        out.freeze()
    })))
}

/// Encodes a response frame: size, response header, body.
pub fn encode_response(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Bytes, String> {
    let header_version = api_key.response_header_version(api_version);
    let mut out =
        BytesMut::with_capacity(4 + RESPONSE_HEADER_MAX_BYTES + body_size_hint(body, api_version));
    out.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, header_version)
        .map_err(|e| format!("{api_key:?} v{api_version} response header: {e}"))?;
    body.encode(&mut out, api_version)
        .map_err(|e| format!("{api_key:?} v{api_version} response: {e}"))?;
    let size = i32::try_from(out.len() - 4)
        .map_err(|_| format!("{api_key:?} response of {} bytes is too large", out.len()))?;
    out[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(out.freeze())
}

/// Fetch responses are the large ones: reserve for their records up front.
fn body_size_hint(body: &ResponseKind, api_version: i16) -> usize {
    match body {
        ResponseKind::Fetch(fetch) => fetch.compute_size(api_version).unwrap_or(0),
        _ => 64,
    }
}

/// The body of a broker listener's ApiVersions response for a served version.
pub fn api_versions(request: &ApiVersionsRequest) -> ResponseKind {
    api_versions_on(versions::ListenerKind::Broker, request)
}

/// The body of an ApiVersions response for a served version on a listener of `kind`.
pub fn api_versions_on(kind: versions::ListenerKind, request: &ApiVersionsRequest) -> ResponseKind {
    let _ = request;
    ResponseKind::ApiVersions(versions::api_versions_response_on(kind, 0))
}

/// The API key of a request this node sends to its peers (Raft, broker-to-controller,
/// replication, forwarded admin), or `None` for a kind it never sends.
pub fn peer_api_key(request: &RequestKind) -> Option<ApiKey> {
    Some(match request {
        RequestKind::Fetch(_) => ApiKey::Fetch,
        RequestKind::Vote(_) => ApiKey::Vote,
        RequestKind::BeginQuorumEpoch(_) => ApiKey::BeginQuorumEpoch,
        RequestKind::EndQuorumEpoch(_) => ApiKey::EndQuorumEpoch,
        RequestKind::BrokerRegistration(_) => ApiKey::BrokerRegistration,
        RequestKind::BrokerHeartbeat(_) => ApiKey::BrokerHeartbeat,
        RequestKind::AlterPartition(_) => ApiKey::AlterPartition,
        RequestKind::AllocateProducerIds(_) => ApiKey::AllocateProducerIds,
        RequestKind::CreateTopics(_) => ApiKey::CreateTopics,
        RequestKind::DeleteTopics(_) => ApiKey::DeleteTopics,
        RequestKind::CreatePartitions(_) => ApiKey::CreatePartitions,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsResponse, MetadataRequest};
    use kafka_protocol::protocol::{encode_request_header_into_buffer, StrBytes};

    pub(crate) fn request_frame(
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
        body: &impl Encodable,
    ) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(api_version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut buf = BytesMut::new();
        let mut header_buf = BytesMut::new();
        encode_request_header_into_buffer(&mut header_buf, &header).unwrap();
        buf.put_slice(&header_buf);
        body.encode(&mut buf, api_version).unwrap();
        buf.freeze()
    }

    #[test]
    fn a_metadata_request_decodes_with_its_header() {
        let frame = request_frame(ApiKey::Metadata, 12, 7, &MetadataRequest::default());
        let Decoded::Request(request) = decode_request(frame).unwrap() else { panic!("a request") };
        assert_eq!(
            (request.api_key, request.api_version, request.correlation_id),
            (ApiKey::Metadata, 12, 7)
        );
        assert_eq!(request.client_id.as_deref(), Some("test"));
    }

    #[test]
    fn an_unsupported_api_versions_request_gets_a_v0_answer_with_unsupported_version() {
        for version in [9, i16::MAX, -1, i16::MIN] {
            let mut frame = BytesMut::new();
            frame.put_i16(ApiKey::ApiVersions as i16);
            frame.put_i16(version);
            frame.put_i32(11);
            frame.put_slice(&[0xde, 0xad]); // a body from the future we must not parse
            let Decoded::Reply(Some(reply)) = decode_request(frame.freeze()).unwrap() else {
                panic!("a reply to v{version}")
            };
            let mut r = reply.slice(4..);
            assert_eq!(r.get_i32(), 11, "correlation id, response header v0");
            let body = ApiVersionsResponse::decode(&mut r, 0).unwrap();
            assert_eq!(body.error_code, ErrorCode::UnsupportedVersion.code());
            assert_eq!(body.api_keys.len(), versions::SUPPORTED_APIS.len());
            assert!(!r.has_remaining());
        }
    }

    #[test]
    fn bad_frames_are_errors_that_say_what_was_wrong() {
        assert_eq!(
            decode_request(Bytes::from_static(&[0, 3, 0])).unwrap_err(),
            DecodeError::TruncatedHeader { len: 3 }
        );
        let mut unknown = BytesMut::new();
        unknown.put_i16(999);
        unknown.put_i16(0);
        unknown.put_i32(1);
        assert_eq!(
            decode_request(unknown.freeze()).unwrap_err(),
            DecodeError::UnknownApiKey { api_key: 999 }
        );
        let mut too_new =
            request_frame(ApiKey::Metadata, 12, 1, &MetadataRequest::default()).to_vec();
        too_new[3] = 13;
        assert!(matches!(
            decode_request(Bytes::from(too_new)).unwrap_err(),
            DecodeError::UnsupportedVersion { api_version: 13, .. }
        ));
        // A topic count of 2^31-1 with no topics after it: an error, and no huge allocation.
        let mut garbage =
            request_frame(ApiKey::Metadata, 4, 1, &MetadataRequest::default()).to_vec();
        garbage.truncate(garbage.len() - 5);
        garbage.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
        let error = decode_request(Bytes::from(garbage)).unwrap_err();
        assert!(
            matches!(error, DecodeError::Malformed { api_key: ApiKey::Metadata, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_controller_listener_decodes_vote_v0_and_fetch_v16() {
        use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
        use kafka_protocol::messages::vote_request::{PartitionData, TopicData};
        use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName, VoteRequest};
        use versions::ListenerKind::{Broker, Controller};

        let vote = VoteRequest::default()
            .with_cluster_id(Some(StrBytes::from_static_str("cluster-a")))
            .with_topics(vec![TopicData::default()
                .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
                .with_partitions(vec![PartitionData::default()
                    .with_replica_epoch(5)
                    .with_replica_id(BrokerId(1))
                    .with_last_offset_epoch(4)
                    .with_last_offset(100)])]);
        let frame = request_frame(ApiKey::Vote, 0, 21, &vote);
        let Decoded::Request(request) = decode_request_on(Controller, frame.clone()).unwrap()
        else {
            panic!("a Vote request")
        };
        assert_eq!(
            (request.api_key, request.api_version, request.correlation_id),
            (ApiKey::Vote, 0, 21)
        );
        assert!(matches!(&request.body, RequestKind::Vote(v) if *v == vote), "{:?}", request.body);
        assert_eq!(
            decode_request_on(Broker, frame).unwrap_err(),
            DecodeError::UnsupportedApi { api_key: ApiKey::Vote }
        );

        let fetch = FetchRequest::default()
            .with_cluster_id(Some(StrBytes::from_static_str("cluster-a")))
            .with_replica_state(
                ReplicaState::default().with_replica_id(BrokerId(2)).with_replica_epoch(9),
            )
            .with_max_wait_ms(500)
            .with_topics(vec![FetchTopic::default()
                .with_topic_id(uuid::Uuid::from_u128(1))
                .with_partitions(vec![FetchPartition::default()
                    .with_fetch_offset(42)
                    .with_last_fetched_epoch(3)])]);
        let frame = request_frame(ApiKey::Fetch, 16, 22, &fetch);
        let Decoded::Request(request) = decode_request_on(Controller, frame.clone()).unwrap()
        else {
            panic!("a Fetch request")
        };
        assert_eq!((request.api_key, request.api_version), (ApiKey::Fetch, 16));
        assert!(
            matches!(&request.body, RequestKind::Fetch(f) if *f == fetch),
            "{:?}",
            request.body
        );
        assert!(matches!(
            decode_request_on(Broker, frame).unwrap_err(),
            DecodeError::UnsupportedVersion { api_key: ApiKey::Fetch, api_version: 16, .. }
        ));

        // A Fetch v16 whose tagged replica_state claims more bytes than it holds.
        let mut lying =
            request_frame(ApiKey::Fetch, 16, 23, &fetch.clone().with_cluster_id(None)).to_vec();
        let size_at = lying.len() - 14; // tagged count, tag 1, size, then 13 bytes of state
        assert_eq!(&lying[size_at - 2..size_at + 1], &[1, 1, 13]);
        lying[size_at] = 12;
        let error = decode_request_on(Controller, Bytes::from(lying)).unwrap_err();
        assert!(
            matches!(&error, DecodeError::Malformed { reason, .. } if reason.contains("replica_state")),
            "{error}"
        );
    }

    #[test]
    fn a_controller_listener_refuses_a_heartbeat_whose_tagged_array_lies() {
        let mut frame = request_frame(
            ApiKey::BrokerHeartbeat,
            1,
            24,
            &kafka_protocol::messages::BrokerHeartbeatRequest::default(),
        )
        .to_vec();
        // The body ends with an empty tagged section: replace it with offline_log_dirs (tag
        // 0, 5 bytes) claiming 2^32 - 2 directories.
        assert_eq!(frame.pop(), Some(0));
        frame.extend_from_slice(&[1, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        let error =
            decode_request_on(versions::ListenerKind::Controller, Bytes::from(frame)).unwrap_err();
        assert!(
            matches!(&error, DecodeError::Malformed { reason, .. }
                if reason.starts_with("body: offline_log_dirs: array of")),
            "{error}"
        );
    }

    #[test]
    fn every_served_api_versions_version_round_trips_with_header_v0() {
        for version in 0..=4 {
            let body = api_versions(&ApiVersionsRequest::default());
            let frame = encode_response(ApiKey::ApiVersions, version, 5, &body).unwrap();
            let mut r = frame.slice(4..);
            assert_eq!(r.get_i32(), 5);
            let decoded = ApiVersionsResponse::decode(&mut r, version).unwrap();
            assert_eq!(decoded.api_keys.len(), versions::SUPPORTED_APIS.len());
            assert!(!r.has_remaining(), "v{version}: no tagged fields or trailing bytes");
        }
    }
}
