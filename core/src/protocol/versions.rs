//! The ApiVersions table this broker advertises, and which versions it serves.
//!
//! Inputs: an API key and version from a request header. Outputs: whether the version is
//! served, and the ApiVersions response body.
//! Invariants: every advertised key has a handler; no response carries non-default tagged
//! fields (librdkafka < 2.2 mis-skips them, `kafka-protocol.md` §1.5 pitfall 2); Produce and
//! Fetch advertise version 0 although they serve only from 3 and 4, because librdkafka enables
//! compression and RecordBatch v2 by looking at the low end of the range (pitfall 1). A request
//! below the served minimum gets UNSUPPORTED_VERSION.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

/// One advertised API: the range advertised, and the lowest version actually served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiRange {
    pub api_key: ApiKey,
    pub min_version: i16,
    pub max_version: i16,
    pub served_min_version: i16,
}

const fn range(api_key: ApiKey, min_version: i16, max_version: i16) -> ApiRange {
    ApiRange { api_key, min_version, max_version, served_min_version: min_version }
}

/// Advertised APIs, in key order.
pub const SUPPORTED_APIS: &[ApiRange] = &[
    ApiRange { api_key: ApiKey::Produce, min_version: 0, max_version: 12, served_min_version: 3 },
    ApiRange { api_key: ApiKey::Fetch, min_version: 0, max_version: 12, served_min_version: 4 },
    range(ApiKey::ListOffsets, 1, 8),
    range(ApiKey::Metadata, 0, 12),
    range(ApiKey::FindCoordinator, 0, 4),
    range(ApiKey::ApiVersions, 0, 4),
    range(ApiKey::CreateTopics, 2, 7),
    range(ApiKey::DeleteTopics, 1, 6),
    range(ApiKey::InitProducerId, 0, 4),
    range(ApiKey::DescribeConfigs, 1, 4),
    range(ApiKey::CreatePartitions, 0, 3),
];

/// What a controller listener (`controller.listener.names`) serves: the quorum's Raft
/// (Vote, BeginQuorumEpoch, EndQuorumEpoch, and Fetch of `__cluster_metadata` at the version
/// `raft::wire` speaks), the brokers' calls to the active controller, and the admin requests
/// brokers forward. Clients use the broker listeners.
pub const CONTROLLER_APIS: &[ApiRange] = &[
    range(ApiKey::Fetch, 16, 16),
    range(ApiKey::ApiVersions, 0, 4),
    range(ApiKey::CreateTopics, 2, 7),
    range(ApiKey::DeleteTopics, 1, 6),
    range(ApiKey::InitProducerId, 0, 4),
    range(ApiKey::CreatePartitions, 0, 3),
    range(ApiKey::Vote, 0, 0),
    range(ApiKey::BeginQuorumEpoch, 0, 0),
    range(ApiKey::EndQuorumEpoch, 0, 0),
    range(ApiKey::AlterPartition, 2, 3),
    range(ApiKey::BrokerRegistration, 0, 3),
    range(ApiKey::BrokerHeartbeat, 0, 1),
    range(ApiKey::AllocateProducerIds, 0, 0),
];

/// The newest Fetch version a broker listener serves although it advertises only 12: followers
/// (which are odradek brokers and know it) fetch with v15 to send their broker epoch
/// (`ReplicaState`, KIP-903). Clients never see it in ApiVersions, so they stay on topic names.
pub const REPLICA_FETCH_MAX_VERSION: i16 = 15;

/// Which table a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListenerKind {
    /// Clients, and brokers fetching from each other.
    Broker,
    /// The controller quorum and brokers' calls to it.
    Controller,
}

impl ListenerKind {
    pub fn apis(self) -> &'static [ApiRange] {
        match self {
            ListenerKind::Broker => SUPPORTED_APIS,
            ListenerKind::Controller => CONTROLLER_APIS,
        }
    }
}

/// The advertised range of an API key on a broker listener, if offered.
pub fn advertised(api_key: ApiKey) -> Option<ApiRange> {
    advertised_on(ListenerKind::Broker, api_key)
}

/// The advertised range of an API key on a listener of `kind`, if offered.
pub fn advertised_on(kind: ListenerKind, api_key: ApiKey) -> Option<ApiRange> {
    kind.apis().iter().copied().find(|r| r.api_key == api_key)
}

/// Whether `version` of `api_key` is served on a broker listener.
pub fn is_served(api_key: ApiKey, version: i16) -> bool {
    is_served_on(ListenerKind::Broker, api_key, version)
}

/// Whether `version` of `api_key` is served (decoded and answered normally) on `kind`.
pub fn is_served_on(kind: ListenerKind, api_key: ApiKey, version: i16) -> bool {
    let max = |r: &ApiRange| match (kind, r.api_key) {
        (ListenerKind::Broker, ApiKey::Fetch) => REPLICA_FETCH_MAX_VERSION,
        _ => r.max_version,
    };
    advertised_on(kind, api_key)
        .is_some_and(|r| r.served_min_version <= version && version <= max(&r))
}

/// The body of a broker listener's ApiVersions response with `error_code`.
pub fn api_versions_response(error_code: i16) -> ApiVersionsResponse {
    api_versions_response_on(ListenerKind::Broker, error_code)
}

/// The body of an ApiVersions response with `error_code` (0, or 35 for the v0 fallback).
pub fn api_versions_response_on(kind: ListenerKind, error_code: i16) -> ApiVersionsResponse {
    let api_keys = kind
        .apis()
        .iter()
        .map(|r| {
            ApiVersion::default()
                .with_api_key(r.api_key as i16)
                .with_min_version(r.min_version)
                .with_max_version(r.max_version)
        })
        .collect();
    ApiVersionsResponse::default().with_error_code(error_code).with_api_keys(api_keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_range_is_one_the_codec_can_serve() {
        for r in SUPPORTED_APIS.iter().chain(CONTROLLER_APIS) {
            let codec = r.api_key.valid_versions();
            assert!(codec.min <= r.served_min_version, "{:?} served below the codec", r.api_key);
            assert!(r.max_version <= codec.max, "{:?} advertised above the codec", r.api_key);
            assert!(r.min_version <= r.served_min_version);
        }
    }

    #[test]
    fn produce_and_fetch_advertise_version_zero_for_librdkafka_feature_detection() {
        assert_eq!(advertised(ApiKey::Produce).unwrap().min_version, 0);
        assert_eq!(advertised(ApiKey::Fetch).unwrap().min_version, 0);
        assert!(!is_served(ApiKey::Produce, 2));
        assert!(is_served(ApiKey::Produce, 3));
        assert!(!is_served(ApiKey::Produce, 13), "Produce 13 needs topic ids");
    }
}
