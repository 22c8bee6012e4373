//! The client against a scripted in-process broker on loopback.
//!
//! Inputs: a handler per test that answers each decoded request with raw frames (or none).
//! Outputs: assertions on what the client did: which versions it negotiated, how it matched
//! responses, when it closed connections, how the producer retried.
//! Invariants: each test owns its listener on an ephemeral port; the fake answers only what
//! the test scripts, so every other behaviour seen comes from the client.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{
    decode_request_header_from_buffer, Decodable, Encodable, HeaderVersion, StrBytes,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::connection::Connection;
use super::{ClientConfig, ClientError, ErrorCode, Producer, ProducerConfig, ProducerRecord};
use crate::log::batch::BatchHeader;

type Handler = dyn Fn(&RequestHeader, Bytes) -> Vec<Bytes> + Send + Sync;

/// A broker that answers with whatever the handler returns, and logs (api key, version).
struct FakeBroker {
    port: u16,
    seen: Arc<Mutex<Vec<(i16, i16)>>>,
}

impl FakeBroker {
    async fn start(
        handler: impl Fn(&RequestHeader, Bytes) -> Vec<Bytes> + Send + Sync + 'static,
    ) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = handler.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let (mut rd, mut wr) = tokio::io::split(stream);
                    loop {
                        let Ok(size) = rd.read_i32().await else { return };
                        let mut frame = BytesMut::zeroed(size as usize);
                        if rd.read_exact(&mut frame).await.is_err() {
                            return;
                        }
                        let mut frame = frame.freeze();
                        let header = decode_request_header_from_buffer(&mut frame).unwrap();
                        log.lock()
                            .unwrap()
                            .push((header.request_api_key, header.request_api_version));
                        for out in handler(&header, frame) {
                            if wr.write_all(&out).await.is_err() || wr.flush().await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        FakeBroker { port, seen }
    }

    fn config(&self) -> ClientConfig {
        ClientConfig {
            request_timeout_ms: 2_000,
            connect_timeout_ms: 2_000,
            ..ClientConfig::new(&format!("127.0.0.1:{}", self.port))
        }
    }

    fn count(&self, api: ApiKey) -> usize {
        self.seen.lock().unwrap().iter().filter(|(k, _)| *k == api as i16).count()
    }
}

/// A response frame with the header version the API wants.
fn frame<R: Encodable + HeaderVersion>(correlation_id: i32, version: i16, body: &R) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, R::header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let size = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    buf.freeze()
}

fn api_versions(entries: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        entries
            .iter()
            .map(|&(k, min, max)| {
                ApiVersion::default()
                    .with_api_key(k as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect(),
    )
}

/// Versions like noida-db/odradek advertise.
const BROKER_VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::Produce, 0, 9),
    (ApiKey::Fetch, 0, 12),
];

/// Answers ApiVersions with `BROKER_VERSIONS`; `None` for other APIs.
fn answer_api_versions(header: &RequestHeader) -> Option<Vec<Bytes>> {
    (header.request_api_key == ApiKey::ApiVersions as i16).then(|| {
        vec![frame(
            header.correlation_id,
            header.request_api_version,
            &api_versions(BROKER_VERSIONS),
        )]
    })
}

/// Metadata naming this broker (id 1) as leader of `t`'s partition 0.
fn metadata(port: u16, header: &RequestHeader) -> Bytes {
    let body = MetadataResponse::default()
        .with_controller_id(kafka_protocol::messages::BrokerId(1))
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(kafka_protocol::messages::BrokerId(1))
            .with_host(StrBytes::from_static_str("127.0.0.1"))
            .with_port(i32::from(port))])
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
            .with_partitions(vec![MetadataResponsePartition::default()
                .with_partition_index(0)
                .with_leader_id(kafka_protocol::messages::BrokerId(1))
                .with_replica_nodes(vec![kafka_protocol::messages::BrokerId(1)])
                .with_isr_nodes(vec![kafka_protocol::messages::BrokerId(1)])])]);
    frame(header.correlation_id, header.request_api_version, &body)
}

/// Answers a Produce request with `error_code` for every partition; on success each
/// partition's records get the next offsets from `next_offset`.
fn produce_answer(
    header: &RequestHeader,
    body: Bytes,
    error_code: i16,
    next_offset: &mut i64,
) -> Vec<Bytes> {
    let request = ProduceRequest::decode(&mut body.clone(), header.request_api_version).unwrap();
    if request.acks == 0 {
        return vec![];
    }
    let mut answer = |records: &Option<Bytes>| {
        if error_code != 0 {
            return -1;
        }
        let count = BatchHeader::parse(records.as_ref().unwrap()).unwrap().record_count;
        let base = *next_offset;
        *next_offset += i64::from(count);
        base
    };
    let response = ProduceResponse::default().with_responses(
        request
            .topic_data
            .iter()
            .map(|t| {
                TopicProduceResponse::default().with_name(t.name.clone()).with_partition_responses(
                    t.partition_data
                        .iter()
                        .map(|p| {
                            PartitionProduceResponse::default()
                                .with_index(p.index)
                                .with_error_code(error_code)
                                .with_base_offset(answer(&p.records))
                        })
                        .collect(),
                )
            })
            .collect(),
    );
    vec![frame(header.correlation_id, header.request_api_version, &response)]
}

/// A port that the handler learns after the listener is bound.
fn port_cell() -> Arc<Mutex<u16>> {
    Arc::new(Mutex::new(0))
}

#[tokio::test]
async fn api_versions_falls_back_when_the_broker_rejects_v3() {
    let broker = FakeBroker::start(|header, _| {
        if header.request_api_key != ApiKey::ApiVersions as i16 {
            return vec![];
        }
        if header.request_api_version > 2 {
            // Kafka's answer to a too-new ApiVersions: error 35, v0 body, its own range.
            let body = api_versions(&[(ApiKey::ApiVersions, 0, 2)]).with_error_code(35);
            let mut buf = BytesMut::new();
            buf.put_i32(0);
            ResponseHeader::default()
                .with_correlation_id(header.correlation_id)
                .encode(&mut buf, 0)
                .unwrap();
            body.encode(&mut buf, 0).unwrap();
            let size = (buf.len() - 4) as i32;
            buf[0..4].copy_from_slice(&size.to_be_bytes());
            return vec![buf.freeze()];
        }
        vec![frame(
            header.correlation_id,
            header.request_api_version,
            &api_versions(&[(ApiKey::ApiVersions, 0, 2), (ApiKey::Metadata, 0, 9)]),
        )]
    })
    .await;
    let connection = Connection::connect("127.0.0.1", broker.port, &broker.config()).await.unwrap();
    assert_eq!(connection.version(ApiKey::Metadata).unwrap(), 9);
    assert_eq!(*broker.seen.lock().unwrap(), vec![(18, 3), (18, 2)]);
    let missing = connection.version(ApiKey::Fetch).unwrap_err();
    assert!(matches!(
        missing,
        ClientError::UnsupportedVersion { api: ApiKey::Fetch, broker: None, .. }
    ));
}

#[tokio::test]
async fn connecting_fails_clearly_without_a_common_metadata_version() {
    let broker = FakeBroker::start(|header, _| {
        vec![frame(
            header.correlation_id,
            header.request_api_version,
            &api_versions(&[(ApiKey::ApiVersions, 0, 3), (ApiKey::Metadata, 13, 13)]),
        )]
    })
    .await;
    let err = Connection::connect("127.0.0.1", broker.port, &broker.config()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::UnsupportedVersion { api: ApiKey::Metadata, broker: Some((13, 13)), .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn connecting_to_a_node_needs_no_metadata() {
    // A controller listener serves the quorum's APIs and no Metadata.
    let broker = FakeBroker::start(|header, _| {
        vec![frame(
            header.correlation_id,
            header.request_api_version,
            &api_versions(&[(ApiKey::ApiVersions, 0, 3), (ApiKey::Vote, 0, 0)]),
        )]
    })
    .await;
    let connection =
        Connection::connect_to_node("127.0.0.1", broker.port, &broker.config()).await.unwrap();
    assert_eq!(connection.api_versions().broker_range(ApiKey::Vote), Some((0, 0)));
    assert!(connection.version(ApiKey::Metadata).is_err());
}

#[tokio::test]
async fn pipelined_responses_are_matched_by_correlation_id() {
    // Holds the first Metadata answer back and sends it after the second one.
    let held: Arc<Mutex<Option<Bytes>>> = Arc::default();
    let broker = FakeBroker::start(move |header, body| {
        if let Some(answer) = answer_api_versions(header) {
            return answer;
        }
        let request =
            MetadataRequest::decode(&mut body.clone(), header.request_api_version).unwrap();
        let names: Vec<_> =
            request.topics.unwrap_or_default().into_iter().filter_map(|t| t.name).collect();
        let response = MetadataResponse::default().with_topics(
            names
                .into_iter()
                .map(|n| MetadataResponseTopic::default().with_name(Some(n)).with_error_code(3))
                .collect(),
        );
        let answer = frame(header.correlation_id, header.request_api_version, &response);
        let mut held = held.lock().unwrap();
        match held.take() {
            None => {
                *held = Some(answer);
                vec![]
            }
            Some(first) => vec![answer, first],
        }
    })
    .await;
    let connection = Connection::connect("127.0.0.1", broker.port, &broker.config()).await.unwrap();
    let version = connection.version(ApiKey::Metadata).unwrap();
    let ask = |topic: &'static str| {
        let connection = connection.clone();
        async move {
            let request = MetadataRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str(topic)))),
            ]));
            let response = connection.request(&request, version).await.unwrap();
            response.topics[0].name.as_ref().unwrap().0.as_str().to_string()
        }
    };
    let first = tokio::spawn(ask("first"));
    // Make sure "first" is written before "second".
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = tokio::spawn(ask("second"));
    assert_eq!(second.await.unwrap(), "second");
    assert_eq!(first.await.unwrap(), "first");
}

#[tokio::test]
async fn an_oversized_frame_closes_the_connection_without_allocating() {
    let broker = FakeBroker::start(|header, _| {
        if let Some(answer) = answer_api_versions(header) {
            return answer;
        }
        // 2 GiB announced, never sent.
        vec![Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0])]
    })
    .await;
    let connection = Connection::connect("127.0.0.1", broker.port, &broker.config()).await.unwrap();
    let version = connection.version(ApiKey::Metadata).unwrap();
    let err = connection.request(&MetadataRequest::default(), version).await.unwrap_err();
    assert!(err.to_string().contains("2147483647 bytes"), "{err}");
    assert!(connection.is_closed());
    let later = connection.request(&MetadataRequest::default(), version).await.unwrap_err();
    assert!(matches!(later, ClientError::ConnectionClosed { .. }), "{later}");
}

#[tokio::test]
async fn a_request_timeout_closes_the_connection() {
    let broker =
        FakeBroker::start(|header, _| answer_api_versions(header).unwrap_or_default()).await;
    let config = ClientConfig { request_timeout_ms: 200, ..broker.config() };
    let connection = Connection::connect("127.0.0.1", broker.port, &config).await.unwrap();
    let version = connection.version(ApiKey::Metadata).unwrap();
    let err = connection.request(&MetadataRequest::default(), version).await.unwrap_err();
    assert!(matches!(&err, ClientError::Timeout { what } if what.contains("Metadata")), "{err}");
    assert!(err.is_retriable());
    assert!(connection.is_closed(), "Kafka closes a connection whose request timed out");
}

fn producer_config(broker: &FakeBroker) -> ProducerConfig {
    ProducerConfig {
        client: broker.config(),
        linger_ms: 0,
        retry_backoff_ms: 20,
        request_timeout_ms: 1_000,
        delivery_timeout_ms: 5_000,
        max_block_ms: 2_000,
        ..ProducerConfig::default()
    }
}

/// A broker for `t`-0 whose Produce answers come from `script` (called with the attempt
/// number, returns the error code; offsets start at 0).
async fn produce_broker(script: impl Fn(usize) -> i16 + Send + Sync + 'static) -> FakeBroker {
    let port = port_cell();
    let attempts = Arc::new(Mutex::new((0usize, 0i64)));
    let port_for_handler = port.clone();
    let broker = FakeBroker::start(move |header, body| {
        if let Some(answer) = answer_api_versions(header) {
            return answer;
        }
        if header.request_api_key == ApiKey::Metadata as i16 {
            return vec![metadata(*port_for_handler.lock().unwrap(), header)];
        }
        let mut guard = attempts.lock().unwrap();
        let (attempt, next_offset) = &mut *guard;
        let code = script(*attempt);
        *attempt += 1;
        produce_answer(header, body, code, next_offset)
    })
    .await;
    *port.lock().unwrap() = broker.port;
    broker
}

#[tokio::test]
async fn producer_retries_not_leader_and_refreshes_metadata() {
    let broker = produce_broker(|attempt| if attempt == 0 { 6 } else { 0 }).await;
    // One request in flight: the failed batch goes first again, so order holds.
    let config =
        ProducerConfig { max_in_flight_requests_per_connection: 1, ..producer_config(&broker) };
    let producer = Producer::new(config).await.unwrap();
    let metadata_before = broker.count(ApiKey::Metadata);
    let mut futures = Vec::new();
    for i in 0..3 {
        futures.push(producer.send(ProducerRecord::new("t", format!("v{i}"))).await.unwrap());
    }
    producer.flush().await.unwrap();
    let mut offsets = Vec::new();
    for f in futures {
        offsets.push(f.await.unwrap().offset);
    }
    assert_eq!(offsets, vec![0, 1, 2], "the failed first batch was resent before the others");
    assert!(broker.count(ApiKey::Produce) >= 2);
    assert!(
        broker.count(ApiKey::Metadata) > metadata_before,
        "NOT_LEADER_OR_FOLLOWER refreshes metadata"
    );
    producer.close().await.unwrap();
}

#[tokio::test]
async fn producer_gives_up_after_retries() {
    let broker = produce_broker(|_| 6).await;
    let producer =
        Producer::new(ProducerConfig { retries: 2, ..producer_config(&broker) }).await.unwrap();
    let err = producer.send(ProducerRecord::new("t", "v")).await.unwrap().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotLeaderOrFollower), "{err}");
    assert_eq!(broker.count(ApiKey::Produce), 3, "one attempt plus two retries");
    producer.close().await.unwrap();
}

#[tokio::test]
async fn non_retriable_errors_fail_at_once() {
    let broker = produce_broker(|_| 10).await;
    let producer = Producer::new(producer_config(&broker)).await.unwrap();
    let err = producer.send(ProducerRecord::new("t", "v")).await.unwrap().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::MessageTooLarge), "{err}");
    assert_eq!(broker.count(ApiKey::Produce), 1);
    producer.close().await.unwrap();
}

#[tokio::test]
async fn delivery_timeout_bounds_retries() {
    let broker = produce_broker(|_| 6).await;
    let config = ProducerConfig {
        request_timeout_ms: 300,
        delivery_timeout_ms: 400,
        ..producer_config(&broker)
    };
    let producer = Producer::new(config).await.unwrap();
    let err = producer.send(ProducerRecord::new("t", "v")).await.unwrap().await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Timeout { what } if what.contains("delivery_timeout_ms=400") && what.contains("NotLeaderOrFollower")),
        "{err}"
    );
    producer.close().await.unwrap();
}

#[tokio::test]
async fn acks_zero_completes_on_write() {
    let broker = produce_broker(|_| 0).await;
    let producer =
        Producer::new(ProducerConfig { acks: 0, ..producer_config(&broker) }).await.unwrap();
    let meta = producer
        .send(ProducerRecord::new("t", "v").with_timestamp_ms(42))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        (meta.topic.as_str(), meta.partition, meta.offset, meta.timestamp_ms),
        ("t", 0, -1, 42)
    );
    producer.close().await.unwrap();
}

#[tokio::test]
async fn sends_after_close_are_refused() {
    let broker = produce_broker(|_| 0).await;
    let producer = Producer::new(producer_config(&broker)).await.unwrap();
    producer.send(ProducerRecord::new("t", "v")).await.unwrap().await.unwrap();
    producer.close().await.unwrap();
    assert!(matches!(producer.send(ProducerRecord::new("t", "v")).await, Err(ClientError::Closed)));
}
