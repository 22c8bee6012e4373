//! Bad input against the real broker: `odradek broker` on 127.0.0.1, driven with raw TCP.
//!
//! The rule under test (DESIGN.md, core rules): bad input from the network is never a panic;
//! it gets the Kafka error code, or the connection is closed with a log line. Here:
//! - malformed frames: the client sees the connection closed (or Kafka's answer where Kafka
//!   sends one), the broker log holds exactly one line naming the reason, and connections
//!   opened before and after are still served;
//! - produce-level bad input: per-partition Kafka error codes on a connection that stays open;
//! - bad configuration: a quick non-zero exit with a message naming the key, file or path;
//! - corrupt data at startup: recovery truncates at the damage, says where, and serves the rest.
//!
//! Every read has a timeout, every wait is bounded, every address is loopback. Needs the
//! `odradek` binary (`cargo build --bins`); no client tools.
#![cfg(not(madsim))]

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, CreateTopicsRequest,
    DescribeConfigsRequest, FetchRequest, FindCoordinatorRequest, InitProducerIdRequest,
    ListOffsetsRequest, MetadataRequest, ProduceRequest, RequestHeader, ResponseHeader,
    ResponseKind, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use odradek_tests::{free_port, odradek_bin, run, BrokerProcess, Output};

/// Bound on every socket read and write.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on waiting for a line to appear in the broker log.
const LOG_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on a broker that must refuse its configuration (it should take milliseconds).
const CONFIG_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

// Kafka error codes (org.apache.kafka.common.protocol.Errors).
const CORRUPT_MESSAGE: i16 = 2;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_REQUIRED_ACKS: i16 = 21;
const UNSUPPORTED_VERSION: i16 = 35;
const POLICY_VIOLATION: i16 = 44;
const INVALID_RECORD: i16 = 87;

// ---------------------------------------------------------------------------------------------
// A raw Kafka connection.
// ---------------------------------------------------------------------------------------------

/// One TCP connection to the broker, speaking Kafka frames by hand.
struct Conn {
    stream: TcpStream,
    /// Our end of the connection: the `peer` the broker names in its log lines.
    local: SocketAddr,
    next_correlation_id: i32,
}

impl Conn {
    #[track_caller]
    fn open(broker: &BrokerProcess) -> Conn {
        let addr = SocketAddr::from(([127, 0, 0, 1], broker.port()));
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
        stream.set_nodelay(true).expect("nodelay");
        let local = stream.local_addr().expect("local address");
        Conn { stream, local, next_correlation_id: 1 }
    }

    fn correlation_id(&mut self) -> i32 {
        self.next_correlation_id += 1;
        self.next_correlation_id
    }

    #[track_caller]
    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap_or_else(|e| panic!("write to the broker: {e}"));
    }

    /// Sends bytes the broker may refuse before it has read them all: a reset or a broken
    /// pipe on write is the broker having closed already, which the test checks next.
    #[track_caller]
    fn send_bad(&mut self, bytes: &[u8]) {
        match self.stream.write_all(bytes) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {}
            Err(e) => panic!("write to the broker: {e}"),
        }
    }

    /// Sends `frame` behind its 4-byte size.
    #[track_caller]
    fn send_frame(&mut self, frame: &[u8]) {
        let mut out = Vec::with_capacity(4 + frame.len());
        out.extend_from_slice(&(frame.len() as i32).to_be_bytes());
        out.extend_from_slice(frame);
        self.send_raw(&out);
    }

    /// Encodes and sends a request; returns its correlation id.
    #[track_caller]
    fn send<R: Request>(&mut self, version: i16, body: &R) -> i32 {
        let correlation_id = self.correlation_id();
        self.send_frame(&request_frame(api_key::<R>(), version, correlation_id, body));
        correlation_id
    }

    /// Reads one response frame, without its size.
    #[track_caller]
    fn read_frame(&mut self) -> Bytes {
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .unwrap_or_else(|e| panic!("no response within {IO_TIMEOUT:?}: {e}"));
        let size = i32::from_be_bytes(size);
        assert!((4..=(64 << 20)).contains(&size), "response frame size {size}");
        let mut frame = vec![0u8; size as usize];
        self.stream
            .read_exact(&mut frame)
            .unwrap_or_else(|e| panic!("response of {size} bytes cut short: {e}"));
        Bytes::from(frame)
    }

    /// Reads the response to the request with `correlation_id` and decodes all of it.
    #[track_caller]
    fn receive<R: Request>(&mut self, version: i16, correlation_id: i32) -> R::Response {
        let api_key = api_key::<R>();
        let mut frame = self.read_frame();
        let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))
            .unwrap_or_else(|e| panic!("{api_key:?} v{version} response header: {e}"));
        assert_eq!(header.correlation_id, correlation_id, "{api_key:?} v{version}");
        let body = R::Response::decode(&mut frame, version)
            .unwrap_or_else(|e| panic!("{api_key:?} v{version} response body: {e}"));
        assert!(!frame.has_remaining(), "{api_key:?} v{version}: bytes after the response");
        body
    }

    #[track_caller]
    fn call<R: Request>(&mut self, version: i16, body: &R) -> R::Response {
        let correlation_id = self.send(version, body);
        self.receive::<R>(version, correlation_id)
    }

    /// The broker has closed this connection: a read ends (EOF or reset) within the bound,
    /// having received nothing.
    #[track_caller]
    fn assert_closed_by_broker(&mut self) {
        let mut buf = [0u8; 512];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => panic!("expected the broker to close, got {n} bytes: {:?}", &buf[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("the connection is still open {IO_TIMEOUT:?} after the bad input")
                }
                Err(e) => panic!("read after the bad input: {e}"),
            }
        }
    }

    /// Nothing arrives on this connection for `quiet` (a request that gets no response).
    #[track_caller]
    fn assert_silent_for(&mut self, quiet: Duration) {
        self.stream.set_read_timeout(Some(quiet)).expect("read timeout");
        let mut buf = [0u8; 64];
        match self.stream.read(&mut buf) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(0) => panic!("the broker closed the connection"),
            Ok(n) => panic!("expected no response, got {n} bytes: {:?}", &buf[..n]),
            Err(e) => panic!("read: {e}"),
        }
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    }
}

fn api_key<R: Request>() -> ApiKey {
    ApiKey::try_from(R::KEY).expect("a known API key")
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// A request frame (without its size): the header its API and version call for, then `body`.
fn request_frame(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &impl Encodable,
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    request_header(api_key, version, correlation_id, &mut buf);
    body.encode(&mut buf, version).unwrap_or_else(|e| panic!("encode {api_key:?} v{version}: {e}"));
    buf.to_vec()
}

fn request_header(api_key: ApiKey, version: i16, correlation_id: i32, buf: &mut BytesMut) {
    RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(s("bad-input")))
        .encode(buf, api_key.request_header_version(version))
        .expect("encode a request header");
}

/// A request header v1 (key, version, correlation id, client id) for APIs and versions the
/// codec does not know, with a hand-written body after it.
fn header_v1(api_key: i16, version: i16, correlation_id: i32) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i16(api_key);
    b.put_i16(version);
    b.put_i32(correlation_id);
    put_str(&mut b, "bad-input");
    b
}

fn put_str(b: &mut BytesMut, text: &str) {
    b.put_i16(text.len() as i16);
    b.put_slice(text.as_bytes());
}

fn get_str(r: &mut Bytes) -> String {
    let len = r.get_i16();
    String::from_utf8(r.split_to(len as usize).to_vec()).expect("utf-8")
}

fn framed(frame: &[u8]) -> Vec<u8> {
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(frame);
    out
}

// ---------------------------------------------------------------------------------------------
// What the broker says and serves.
// ---------------------------------------------------------------------------------------------

/// ApiVersions and Metadata round trips succeed on `conn`.
#[track_caller]
fn assert_served(conn: &mut Conn, broker: &BrokerProcess) {
    let versions = conn.call(
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(s("bad-input"))
            .with_client_software_version(s("1.0")),
    );
    assert_eq!(versions.error_code, 0);
    assert!(versions.api_keys.iter().any(|k| k.api_key == ApiKey::Metadata as i16));
    let metadata = conn.call(12, &MetadataRequest::default().with_topics(None));
    assert_eq!(metadata.brokers.len(), 1, "{metadata:?}");
    assert_eq!(metadata.brokers[0].port, i32::from(broker.port()));
}

/// Waits (bounded) until the broker log has a line with every one of `needles`; returns all
/// such lines once none has appeared for a short grace period after the first.
#[track_caller]
fn log_lines_with(broker: &BrokerProcess, needles: &[&str]) -> Vec<String> {
    let matching = || -> Vec<String> {
        broker
            .log()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_string)
            .collect()
    };
    let deadline = Instant::now() + LOG_TIMEOUT;
    while matching().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no broker log line with {needles:?} within {LOG_TIMEOUT:?}:\n{}",
            broker.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
    // A second line for the same event would be written right after the first.
    thread::sleep(Duration::from_millis(100));
    matching()
}

/// The broker logged exactly one "closing connection" line, for `peer`, naming `reason`.
#[track_caller]
fn assert_one_close_line(broker: &BrokerProcess, peer: SocketAddr, reason: &str) {
    let peer = format!("peer={peer}");
    let lines = log_lines_with(broker, &["closing connection", &peer]);
    assert_eq!(lines.len(), 1, "one line for the closed connection: {lines:#?}");
    assert!(lines[0].contains(reason), "the line names the reason {reason:?}: {}", lines[0]);
    let all = log_lines_with(broker, &["closing connection"]);
    assert_eq!(all.len(), 1, "no other connection was closed: {all:#?}");
    assert_no_panic(broker);
}

#[track_caller]
fn assert_no_panic(broker: &BrokerProcess) {
    let log = broker.log();
    assert!(!log.contains("panicked"), "the broker panicked:\n{log}");
}

/// The runbook of every malformed-frame test: a connection opened (and served) before; the
/// bad bytes on a connection of their own, which the broker closes with exactly one log line
/// naming `reason`; then the first connection and a new one are still served.
#[track_caller]
fn bad_frame_closes_only_its_connection(broker: &BrokerProcess, bad: &[u8], reason: &str) {
    let mut before = Conn::open(broker);
    assert_served(&mut before, broker);

    let mut victim = Conn::open(broker);
    victim.send_bad(bad);
    victim.assert_closed_by_broker();
    assert_one_close_line(broker, victim.local, reason);

    assert_served(&mut before, broker);
    assert_served(&mut Conn::open(broker), broker);
}

// ---------------------------------------------------------------------------------------------
// Topics, records, produce and fetch by hand.
// ---------------------------------------------------------------------------------------------

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

/// One RecordBatch v2 holding `values`, from the codec.
fn batch(values: &[&[u8]]) -> Bytes {
    let timestamp = now_ms();
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, value)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp,
            key: None,
            value: Some(Bytes::copy_from_slice(value)),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode a batch");
    buf.freeze()
}

/// Rewrites the CRC of the batch at the start of `batch` (CRC32C over attributes .. end).
fn fix_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

#[track_caller]
fn create_topic(conn: &mut Conn, name: &str, configs: &[(&str, &str)]) {
    let topic = CreatableTopic::default()
        .with_name(TopicName(s(name)))
        .with_num_partitions(1)
        .with_replication_factor(1)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default().with_name(s(k)).with_value(Some(s(v)))
                })
                .collect(),
        );
    let response = conn
        .call(7, &CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(5000));
    let result = &response.topics[0];
    assert_eq!(result.error_code, 0, "create {name}: {:?}", result.error_message);
}

fn produce_request(topic: &str, acks: i16, records: Option<Bytes>) -> ProduceRequest {
    ProduceRequest::default().with_acks(acks).with_timeout_ms(5000).with_topic_data(vec![
        TopicProduceData::default().with_name(TopicName(s(topic))).with_partition_data(vec![
            PartitionProduceData::default().with_index(0).with_records(records),
        ]),
    ])
}

/// Produces `records` to partition 0 of `topic` (Produce v9) and returns what the partition
/// was answered.
#[track_caller]
fn produce(conn: &mut Conn, topic: &str, acks: i16, records: Bytes) -> PartitionProduceResponse {
    let response = conn.call(9, &produce_request(topic, acks, Some(records)));
    assert_eq!(response.responses.len(), 1, "{response:?}");
    assert_eq!(response.responses[0].partition_responses.len(), 1, "{response:?}");
    response.responses[0].partition_responses[0].clone()
}

/// Produces one batch of `value` with acks=all; returns its base offset.
#[track_caller]
fn produce_ok(conn: &mut Conn, topic: &str, value: &str) -> i64 {
    let answer = produce(conn, topic, -1, batch(&[value.as_bytes()]));
    assert_eq!(answer.error_code, 0, "produce to {topic}: {:?}", answer.error_message);
    answer.base_offset
}

fn fetch_request(topic: &str, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default().with_topic(TopicName(s(topic))).with_partitions(
            vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)
                .with_current_leader_epoch(-1)
                .with_log_start_offset(-1)
                .with_last_fetched_epoch(-1)],
        )])
}

/// Every record of partition 0 of `topic` from `from` up to the high watermark, as
/// (offset, value); and the high watermark.
#[track_caller]
fn fetch_all(conn: &mut Conn, topic: &str, from: i64) -> (Vec<(i64, String)>, i64) {
    let mut records = Vec::new();
    let mut next = from;
    for _ in 0..100 {
        let response = conn.call(12, &fetch_request(topic, next));
        let partition = &response.responses[0].partitions[0];
        assert_eq!(partition.error_code, 0, "fetch {topic} at {next}");
        let high_watermark = partition.high_watermark;
        if next >= high_watermark {
            return (records, high_watermark);
        }
        let mut bytes = partition.records.clone().unwrap_or_default();
        assert!(!bytes.is_empty(), "fetch at {next} below the high watermark returned nothing");
        for set in RecordBatchDecoder::decode_all(&mut bytes).expect("decode fetched batches") {
            for record in set.records.into_iter().filter(|r| r.offset >= next) {
                let value = record.value.map(|v| String::from_utf8_lossy(&v).into_owned());
                records.push((record.offset, value.unwrap_or_default()));
            }
        }
        next = records.last().map_or(next, |(offset, _)| offset + 1);
    }
    panic!("fetching {topic} from {from} did not reach the high watermark in 100 fetches");
}

fn values(prefix: &str, offsets: std::ops::Range<i64>) -> Vec<(i64, String)> {
    offsets.map(|o| (o, format!("{prefix}-{o}"))).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Malformed frames.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_negative_frame_size_closes_the_connection_with_one_log_line() {
    let broker = BrokerProcess::start();
    bad_frame_closes_only_its_connection(
        &broker,
        &(-5i32).to_be_bytes(),
        "frame size -5 is outside [0, socket.request.max.bytes = 104857600]",
    );
}

#[test]
fn a_frame_larger_than_socket_request_max_bytes_closes_the_connection() {
    // Setup: requests of at most 4 KiB.
    let broker = BrokerProcess::start_with(&[("socket.request.max.bytes", "4096")]);
    let mut bad = 1_000_000i32.to_be_bytes().to_vec();
    bad.extend_from_slice(&[0u8; 64]); // the start of a body the broker must not wait for
    bad_frame_closes_only_its_connection(
        &broker,
        &bad,
        "frame size 1000000 is outside [0, socket.request.max.bytes = 4096]",
    );
}

#[test]
fn a_frame_of_i32_max_bytes_is_refused_at_the_default_100_mib_limit() {
    let broker = BrokerProcess::start();
    bad_frame_closes_only_its_connection(
        &broker,
        &i32::MAX.to_be_bytes(),
        "frame size 2147483647 is outside [0, socket.request.max.bytes = 104857600]",
    );
}

#[test]
fn a_frame_cut_short_by_the_client_is_logged_once_and_disturbs_no_one() {
    // Setup: a broker and a connection served before the bad one.
    let broker = BrokerProcess::start();
    let mut before = Conn::open(&broker);
    assert_served(&mut before, &broker);

    // The frame says 100 bytes; the client sends 10 and stops sending.
    let mut victim = Conn::open(&broker);
    let mut bad = 100i32.to_be_bytes().to_vec();
    bad.extend_from_slice(&[0, 3, 0, 12, 0, 0, 0, 1, 0, 0]);
    victim.send_raw(&bad);
    victim.stream.shutdown(Shutdown::Write).expect("shutdown the write half");
    victim.assert_closed_by_broker();
    assert_one_close_line(&broker, victim.local, "frame ended after 10 of 100 bytes");

    assert_served(&mut before, &broker);
    assert_served(&mut Conn::open(&broker), &broker);
}

#[test]
fn a_request_header_shorter_than_8_bytes_closes_the_connection() {
    let broker = BrokerProcess::start();
    // ApiVersions' key and version, then two bytes of a correlation id.
    bad_frame_closes_only_its_connection(
        &broker,
        &framed(&[0, 18, 0, 3, 0, 0]),
        "frame of 6 bytes is shorter than a request header",
    );
}

#[test]
fn an_unknown_api_key_closes_the_connection() {
    let broker = BrokerProcess::start();
    let frame = header_v1(999, 0, 7);
    bad_frame_closes_only_its_connection(&broker, &framed(&frame), "unknown API key 999");
}

#[test]
fn an_api_the_broker_does_not_serve_closes_the_connection() {
    let broker = BrokerProcess::start();
    // JoinGroup v5: a real Kafka API that odradek does not advertise.
    let mut frame = header_v1(ApiKey::JoinGroup as i16, 5, 7);
    put_str(&mut frame, "group");
    bad_frame_closes_only_its_connection(
        &broker,
        &framed(&frame),
        "API JoinGroup is not served by this broker",
    );
}

#[test]
fn metadata_v13_is_not_supported_and_closes_the_connection() {
    let broker = BrokerProcess::start();
    let frame = request_frame(ApiKey::Metadata, 13, 7, &MetadataRequest::default());
    bad_frame_closes_only_its_connection(
        &broker,
        &framed(&frame),
        "Metadata v13 is not supported (served: v0..=v12)",
    );
}

#[test]
fn produce_v13_is_not_supported_and_closes_the_connection() {
    let broker = BrokerProcess::start();
    let frame = request_frame(ApiKey::Produce, 13, 7, &ProduceRequest::default().with_acks(1));
    bad_frame_closes_only_its_connection(
        &broker,
        &framed(&frame),
        "Produce v13 is not supported (served: v3..=v12)",
    );
}

/// A Produce v2 request (header v1; message sets are never looked at) for partitions 0 and 3
/// of `topic`.
fn produce_v2_frame(correlation_id: i32, acks: i16, topic: &str) -> Vec<u8> {
    let mut b = header_v1(ApiKey::Produce as i16, 2, correlation_id);
    b.put_i16(acks);
    b.put_i32(5000);
    b.put_i32(1);
    put_str(&mut b, topic);
    b.put_i32(2);
    for partition in [0, 3] {
        b.put_i32(partition);
        b.put_i32(4);
        b.put_slice(b"msgs");
    }
    b.to_vec()
}

#[test]
fn produce_v2_gets_unsupported_version_for_every_partition_and_acks_0_gets_nothing() {
    // Setup: a broker and one connection that stays open throughout.
    let broker = BrokerProcess::start();
    let mut conn = Conn::open(&broker);

    // acks=1: a Produce v2 response (header v0) with UNSUPPORTED_VERSION per partition.
    conn.send_frame(&produce_v2_frame(41, 1, "legacy"));
    let mut r = conn.read_frame();
    assert_eq!(r.get_i32(), 41, "correlation id");
    assert_eq!(r.get_i32(), 1, "topics");
    assert_eq!(get_str(&mut r), "legacy");
    assert_eq!(r.get_i32(), 2, "partitions");
    for partition in [0, 3] {
        assert_eq!(r.get_i32(), partition);
        assert_eq!(r.get_i16(), UNSUPPORTED_VERSION, "partition {partition}");
        assert_eq!(r.get_i64(), -1, "base offset");
        assert_eq!(r.get_i64(), -1, "log append time (v2)");
    }
    assert_eq!(r.get_i32(), 0, "throttle time");
    assert!(!r.has_remaining(), "nothing after the v2 response");

    // acks=0: no response at all, and the connection goes on: the next request is answered
    // first.
    conn.send_frame(&produce_v2_frame(42, 0, "legacy"));
    conn.assert_silent_for(Duration::from_millis(300));
    assert_served(&mut conn, &broker);
    assert!(!broker.log().contains("closing connection"), "{}", broker.log());
    assert_no_panic(&broker);
}

#[test]
fn fetch_v3_gets_unsupported_version_for_every_partition() {
    let broker = BrokerProcess::start();
    let mut conn = Conn::open(&broker);

    let mut b = header_v1(ApiKey::Fetch as i16, 3, 43);
    b.put_i32(-1); // replica id
    b.put_i32(500); // max wait
    b.put_i32(1); // min bytes
    b.put_i32(1 << 20); // max bytes (v3)
    b.put_i32(1);
    put_str(&mut b, "legacy");
    b.put_i32(2);
    for partition in [1, 2] {
        b.put_i32(partition);
        b.put_i64(0); // fetch offset
        b.put_i32(1 << 20); // partition max bytes
    }
    conn.send_frame(&b);

    let mut r = conn.read_frame();
    assert_eq!(r.get_i32(), 43, "correlation id");
    assert_eq!(r.get_i32(), 0, "throttle time (v1+)");
    assert_eq!(r.get_i32(), 1, "topics");
    assert_eq!(get_str(&mut r), "legacy");
    assert_eq!(r.get_i32(), 2, "partitions");
    for partition in [1, 2] {
        assert_eq!(r.get_i32(), partition);
        assert_eq!(r.get_i16(), UNSUPPORTED_VERSION, "partition {partition}");
        assert_eq!(r.get_i64(), -1, "high watermark");
        assert_eq!(r.get_i32(), -1, "records: null");
    }
    assert!(!r.has_remaining(), "nothing after the v3 response");

    assert_served(&mut conn, &broker);
    assert!(!broker.log().contains("closing connection"), "{}", broker.log());
    assert_no_panic(&broker);
}

#[test]
fn api_versions_from_the_future_gets_a_v0_answer_with_unsupported_version_and_the_table() {
    let broker = BrokerProcess::start();
    let mut conn = Conn::open(&broker);

    // ApiVersions v9 (and, as Kafka treats every unsupported version alike, v-1), each with a
    // body from the future that the broker must not try to parse.
    for (version, correlation_id) in [(9, 44), (-1, 45)] {
        let mut frame = header_v1(ApiKey::ApiVersions as i16, version, correlation_id);
        frame.put_slice(&[0xde, 0xad, 0xbe, 0xef]);
        conn.send_frame(&frame);

        let mut r = conn.read_frame();
        assert_eq!(r.get_i32(), correlation_id, "correlation id, response header v0");
        let body = ApiVersionsResponse::decode(&mut r, 0).expect("an ApiVersions v0 body");
        assert!(!r.has_remaining(), "exactly a v0 body");
        assert_eq!(body.error_code, UNSUPPORTED_VERSION, "v{version}");
        let range = |key: ApiKey| {
            body.api_keys
                .iter()
                .find(|k| k.api_key == key as i16)
                .map(|k| (k.min_version, k.max_version))
        };
        assert_eq!(range(ApiKey::ApiVersions), Some((0, 4)), "{body:?}");
        assert_eq!(range(ApiKey::Produce), Some((0, 12)), "{body:?}");
        assert_eq!(range(ApiKey::Metadata), Some((0, 12)), "{body:?}");
    }

    // The client retries with a version from the table, on the same connection.
    assert_served(&mut conn, &broker);
    assert!(!broker.log().contains("closing connection"), "{}", broker.log());
}

#[test]
fn a_garbage_body_for_a_known_api_closes_the_connection() {
    let broker = BrokerProcess::start();
    let mut frame = BytesMut::new();
    request_header(ApiKey::Metadata, 12, 7, &mut frame);
    frame.put_slice(b"this is not a metadata request");
    bad_frame_closes_only_its_connection(
        &broker,
        &framed(&frame),
        "malformed Metadata v12 request (correlation id 7): body: topics: array of",
    );
}

#[test]
fn a_metadata_topic_count_that_lies_closes_the_connection_and_the_broker_stays_up() {
    // The codec would size a Vec for 2^31-1 topics before reading one: this used to abort.
    let broker = BrokerProcess::start();
    let mut frame = BytesMut::new();
    request_header(ApiKey::Metadata, 4, 7, &mut frame);
    frame.put_i32(i32::MAX); // topics, and no topic after it
    frame.put_u8(1); // allow_auto_topic_creation
    bad_frame_closes_only_its_connection(
        &broker,
        &framed(&frame),
        "malformed Metadata v4 request (correlation id 7): body: topics: array of 2147483647 \
         cannot fit",
    );
}

#[test]
fn a_create_topics_assignment_count_that_lies_closes_the_connection_and_the_broker_stays_up() {
    let broker = BrokerProcess::start();
    // CreateTopics v4: one topic whose assignments count is 2^31-1, and nothing after it.
    let mut frame = header_v1(ApiKey::CreateTopics as i16, 4, 7);
    frame.put_i32(1);
    put_str(&mut frame, "lies");
    frame.put_i32(-1); // num_partitions
    frame.put_i16(-1); // replication_factor
    frame.put_i32(i32::MAX); // assignments
    bad_frame_closes_only_its_connection(
        &broker,
        &framed(&frame),
        "malformed CreateTopics v4 request (correlation id 7): body: topics.[0].assignments: \
         array of 2147483647 cannot fit",
    );
}

/// A Produce v9 frame of exactly `len` bytes (without the size): one record whose value is
/// sized to fit.
fn produce_frame_of(len: usize, topic: &str, correlation_id: i32) -> Vec<u8> {
    let build = |value_len: usize| {
        let value = vec![b'x'; value_len];
        let records = batch(&[value.as_slice()]);
        request_frame(ApiKey::Produce, 9, correlation_id, &produce_request(topic, 1, Some(records)))
    };
    let empty = build(0).len();
    assert!(len > empty + 16, "{len} bytes cannot hold a produce request");
    let estimate = len - empty;
    (estimate.saturating_sub(8)..=estimate)
        .rev()
        .map(build)
        .find(|frame| frame.len() == len)
        .unwrap_or_else(|| panic!("no produce frame of exactly {len} bytes"))
}

#[test]
fn a_request_exactly_at_socket_request_max_bytes_is_served_and_one_byte_more_is_not() {
    // Setup: requests of at most 4096 bytes, and a topic to produce to.
    let broker = BrokerProcess::start_with(&[("socket.request.max.bytes", "4096")]);
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "limit", &[]);

    let at_limit = produce_frame_of(4096, "limit", 50);
    conn.send_frame(&at_limit);
    let response = conn.receive::<ProduceRequest>(9, 50);
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!((partition.error_code, partition.base_offset), (0, 0), "{partition:?}");

    let mut over = Conn::open(&broker);
    over.send_bad(&framed(&produce_frame_of(4097, "limit", 51)));
    over.assert_closed_by_broker();
    assert_one_close_line(
        &broker,
        over.local,
        "frame size 4097 is outside [0, socket.request.max.bytes = 4096]",
    );

    assert_served(&mut conn, &broker);
    assert_eq!(fetch_all(&mut conn, "limit", 0).1, 1, "the request at the limit was appended");
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    // Setup: a topic to produce to and fetch from.
    let broker = BrokerProcess::start();
    let mut setup = Conn::open(&broker);
    create_topic(&mut setup, "pipe", &[]);

    let metadata = |topic: Option<&str>| {
        MetadataRequest::default().with_topics(
            topic.map(|t| vec![MetadataRequestTopic::default().with_name(Some(TopicName(s(t))))]),
        )
    };
    let list_offsets =
        ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
            ListOffsetsTopic::default().with_name(TopicName(s("pipe"))).with_partitions(vec![
                ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)
                    .with_current_leader_epoch(-1),
            ]),
        ]);
    let describe =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("pipe"))
            .with_configuration_keys(None)]);
    let find = |version: i16| match version {
        0..=3 => FindCoordinatorRequest::default().with_key(s("g")),
        _ => FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g")]),
    };
    let produce_one = |value: &str| produce_request("pipe", 1, Some(batch(&[value.as_bytes()])));
    let versions = |version: i16| match version {
        0..=2 => ApiVersionsRequest::default(),
        _ => ApiVersionsRequest::default()
            .with_client_software_name(s("bad-input"))
            .with_client_software_version(s("1.0")),
    };

    // Twenty different requests: (API, version, frame with correlation id 100 + i).
    let mut requests: Vec<(ApiKey, i16, Vec<u8>)> = Vec::new();
    let mut add = |api_key: ApiKey, version: i16, body: &dyn Fn(i32) -> Vec<u8>| {
        let correlation_id = 100 + requests.len() as i32;
        requests.push((api_key, version, body(correlation_id)));
    };
    for v in 0..=3 {
        add(ApiKey::ApiVersions, v, &|c| request_frame(ApiKey::ApiVersions, v, c, &versions(v)));
    }
    add(ApiKey::Produce, 9, &|c| request_frame(ApiKey::Produce, 9, c, &produce_one("first")));
    for v in [1, 4, 9, 12] {
        add(ApiKey::Metadata, v, &|c| {
            request_frame(
                ApiKey::Metadata,
                v,
                c,
                &metadata(if v >= 4 { Some("pipe") } else { None }),
            )
        });
    }
    for v in [1, 7] {
        add(ApiKey::ListOffsets, v, &|c| request_frame(ApiKey::ListOffsets, v, c, &list_offsets));
    }
    add(ApiKey::Produce, 3, &|c| request_frame(ApiKey::Produce, 3, c, &produce_one("second")));
    for v in [4, 12] {
        add(ApiKey::Fetch, v, &|c| request_frame(ApiKey::Fetch, v, c, &fetch_request("pipe", 0)));
    }
    for v in [0, 4] {
        add(ApiKey::FindCoordinator, v, &|c| {
            request_frame(ApiKey::FindCoordinator, v, c, &find(v))
        });
    }
    for v in [1, 4] {
        add(ApiKey::DescribeConfigs, v, &|c| {
            request_frame(ApiKey::DescribeConfigs, v, c, &describe)
        });
    }
    for v in [0, 4] {
        add(ApiKey::InitProducerId, v, &|c| {
            request_frame(ApiKey::InitProducerId, v, c, &InitProducerIdRequest::default())
        });
    }
    assert_eq!(requests.len(), 20);

    // All twenty in one write, then twenty responses in the same order.
    let mut conn = Conn::open(&broker);
    let wire: Vec<u8> = requests.iter().flat_map(|(_, _, frame)| framed(frame)).collect();
    conn.send_raw(&wire);
    let mut produced = Vec::new();
    for (i, (api_key, version, _)) in requests.iter().enumerate() {
        let mut frame = conn.read_frame();
        let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(*version))
            .unwrap_or_else(|e| panic!("response {i} ({api_key:?} v{version}) header: {e}"));
        assert_eq!(header.correlation_id, 100 + i as i32, "response {i}: {api_key:?} v{version}");
        let body = ResponseKind::decode(*api_key, &mut frame, *version)
            .unwrap_or_else(|e| panic!("response {i} ({api_key:?} v{version}) body: {e}"));
        assert!(!frame.has_remaining(), "response {i} ({api_key:?} v{version}): trailing bytes");
        match body {
            ResponseKind::Produce(p) => {
                let partition = &p.responses[0].partition_responses[0];
                assert_eq!(partition.error_code, 0, "{partition:?}");
                produced.push(partition.base_offset);
            }
            ResponseKind::Fetch(f) => {
                assert_eq!(f.responses[0].partitions[0].high_watermark, 2, "both produces ran");
            }
            ResponseKind::ApiVersions(v) => assert_eq!(v.error_code, 0),
            _ => {}
        }
    }
    assert_eq!(produced, vec![0, 1], "the produces ran in the order they were sent");
    assert_no_panic(&broker);
}

// ---------------------------------------------------------------------------------------------
// 1b. Requests that decode but ask for too much.
// ---------------------------------------------------------------------------------------------

#[test]
fn create_topics_asking_for_two_billion_partitions_gets_policy_violation_and_the_broker_stays_up() {
    // Kafka refuses more than 10,000 new partitions per request (KAFKA-17870); odradek used to
    // try to build metadata for all of them.
    let broker = BrokerProcess::start();
    let mut conn = Conn::open(&broker);
    let topic = |name: &str, partitions: i32| {
        CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
    };
    let response = conn.call(
        7,
        &CreateTopicsRequest::default()
            .with_topics(vec![topic("huge", i32::MAX), topic("small", 1)])
            .with_timeout_ms(5000),
    );
    let codes: Vec<(String, i16)> =
        response.topics.iter().map(|t| (t.name.0.to_string(), t.error_code)).collect();
    assert_eq!(
        codes,
        vec![("huge".to_string(), POLICY_VIOLATION), ("small".to_string(), POLICY_VIOLATION)],
        "{response:?}"
    );
    assert_eq!(
        response.topics[0].error_message.as_deref(),
        Some("Excessively large number of partitions per request.")
    );

    // Nothing was created; a sensible request still works.
    let metadata = conn.call(12, &MetadataRequest::default().with_topics(None));
    assert!(metadata.topics.is_empty(), "{metadata:?}");
    create_topic(&mut conn, "small", &[]);
    assert_served(&mut conn, &broker);
    assert_no_panic(&broker);
}

// ---------------------------------------------------------------------------------------------
// 2. Produce-level bad input: Kafka error codes, and the connection stays open.
// ---------------------------------------------------------------------------------------------

/// After a refused produce on `conn`: a good produce on the same connection lands at offset 0
/// (nothing was appended), and reads back.
#[track_caller]
fn assert_keeps_serving(conn: &mut Conn, broker: &BrokerProcess, topic: &str) {
    assert_eq!(produce_ok(conn, topic, "good-0"), 0, "the refused batch appended nothing");
    assert_eq!(fetch_all(conn, topic, 0), (values("good", 0..1), 1));
    assert!(!broker.log().contains("closing connection"), "{}", broker.log());
    assert_no_panic(broker);
}

#[test]
fn a_batch_with_a_bad_crc_gets_corrupt_message() {
    let broker = BrokerProcess::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "crc", &[]);

    let mut corrupt = batch(&[b"value"]).to_vec();
    *corrupt.last_mut().expect("a byte") ^= 0x01;
    let answer = produce(&mut conn, "crc", -1, Bytes::from(corrupt));
    assert_eq!(answer.error_code, CORRUPT_MESSAGE, "{answer:?}");
    assert!(answer.error_message.as_deref().unwrap_or("").contains("CRC"), "{answer:?}");

    assert_keeps_serving(&mut conn, &broker, "crc");
}

#[test]
fn a_batch_larger_than_max_message_bytes_gets_message_too_large() {
    let broker = BrokerProcess::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "small-batches", &[("max.message.bytes", "512")]);

    let answer = produce(&mut conn, "small-batches", 1, batch(&[&[b'x'; 1000]]));
    assert_eq!(answer.error_code, MESSAGE_TOO_LARGE, "{answer:?}");
    assert!(
        answer.error_message.as_deref().unwrap_or("").contains("max.message.bytes (512)"),
        "{answer:?}"
    );

    assert_keeps_serving(&mut conn, &broker, "small-batches");
}

#[test]
fn acks_2_gets_invalid_required_acks() {
    let broker = BrokerProcess::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "acks", &[]);

    let answer = produce(&mut conn, "acks", 2, batch(&[b"value"]));
    assert_eq!(answer.error_code, INVALID_REQUIRED_ACKS, "{answer:?}");

    assert_keeps_serving(&mut conn, &broker, "acks");
}

#[test]
fn an_unknown_topic_with_auto_create_off_gets_unknown_topic_or_partition() {
    let broker = BrokerProcess::start_with(&[("auto.create.topics.enable", "false")]);
    let mut conn = Conn::open(&broker);

    let answer = produce(&mut conn, "nowhere", -1, batch(&[b"value"]));
    assert_eq!(answer.error_code, UNKNOWN_TOPIC_OR_PARTITION, "{answer:?}");
    let metadata = conn.call(12, &MetadataRequest::default().with_topics(None));
    assert!(metadata.topics.is_empty(), "the produce created nothing: {metadata:?}");

    create_topic(&mut conn, "somewhere", &[]);
    assert_keeps_serving(&mut conn, &broker, "somewhere");
}

#[test]
fn a_batch_with_magic_1_gets_invalid_record() {
    // Kafka: "Produce requests with version 3 and above are only allowed to contain record
    // batches with magic version 2" (ProduceRequest.validateRecords), an InvalidRecordException,
    // which is INVALID_RECORD (87) since KIP-467.
    let broker = BrokerProcess::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "magic", &[]);

    let mut old = batch(&[b"value"]).to_vec();
    old[16] = 1; // the magic byte
    let answer = produce(&mut conn, "magic", 1, Bytes::from(old));
    assert_eq!(answer.error_code, INVALID_RECORD, "{answer:?}");
    assert!(answer.error_message.as_deref().unwrap_or("").contains("magic"), "{answer:?}");

    assert_keeps_serving(&mut conn, &broker, "magic");
}

#[test]
fn a_produce_without_exactly_one_batch_per_partition_gets_invalid_record() {
    let broker = BrokerProcess::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "one-batch", &[]);

    let answer = produce(&mut conn, "one-batch", 1, Bytes::new());
    assert_eq!(answer.error_code, INVALID_RECORD, "no batch: {answer:?}");
    let mut two = batch(&[b"a"]).to_vec();
    two.extend_from_slice(&batch(&[b"b"]));
    let answer = produce(&mut conn, "one-batch", 1, Bytes::from(two));
    assert_eq!(answer.error_code, INVALID_RECORD, "two batches: {answer:?}");

    assert_keeps_serving(&mut conn, &broker, "one-batch");
}

#[test]
fn a_batch_whose_record_count_overflows_gets_invalid_record_not_a_crash() {
    // lastOffsetDelta = i32::MAX, with a CRC that matches: `delta + 1` used to overflow (a
    // panic in a build with overflow checks, which took the whole broker down).
    let broker = BrokerProcess::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "count", &[]);

    let mut lying = batch(&[b"value"]).to_vec();
    lying[23..27].copy_from_slice(&i32::MAX.to_be_bytes()); // lastOffsetDelta
    fix_crc(&mut lying);
    let answer = produce(&mut conn, "count", 1, Bytes::from(lying));
    assert_eq!(answer.error_code, INVALID_RECORD, "{answer:?}");

    assert_keeps_serving(&mut conn, &broker, "count");
}

// ---------------------------------------------------------------------------------------------
// 3. Bad configuration.
// ---------------------------------------------------------------------------------------------

/// Runs `odradek broker` on a free loopback port with a fresh data directory and `args`; it
/// must exit with code 1 (an error, not a panic) well within the bound.
#[track_caller]
fn broker_refusing(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(odradek_bin());
    cmd.arg("broker")
        .arg("--override")
        .arg(format!("listeners=PLAINTEXT://127.0.0.1:{}", free_port()))
        .arg("--override")
        .arg(format!("log.dirs={}", dir.path().join("data").display()))
        .args(args);
    let out = run(cmd, None, CONFIG_EXIT_TIMEOUT);
    assert_eq!(out.status.code(), Some(1), "an error exit:\n{out}");
    assert!(out.elapsed < Duration::from_secs(5), "took {:?}:\n{out}", out.elapsed);
    out
}

#[track_caller]
fn assert_says(out: &Output, text: &str) {
    assert!(out.stderr.contains(text), "stderr should say {text:?}:\n{out}");
}

#[test]
fn an_unknown_override_key_is_named_and_the_broker_exits() {
    let out = broker_refusing(&["--override", "no.such.key=1"]);
    assert_says(&out, "--override: unknown config key `no.such.key` (not a Kafka broker setting)");
}

#[test]
fn a_kafka_key_odradek_does_not_support_is_named_as_such() {
    let out = broker_refusing(&["--override", "zookeeper.connect=localhost:2181"]);
    assert_says(&out, "`zookeeper.connect` is a Kafka setting that odradek does not support yet");
}

#[test]
fn a_malformed_value_names_the_key_the_value_and_what_was_expected() {
    let out = broker_refusing(&["--override", "num.partitions=many"]);
    assert_says(&out, "`num.partitions=many`: expected an integer, got \"many\"");
}

#[test]
fn an_unknown_key_in_a_config_file_names_the_file_and_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("server.properties");
    fs::write(&path, "# a broker\nnum.partitions=3\n\nbogus.setting=true\n").expect("write");
    let out = broker_refusing(&["--config", path.to_str().expect("utf-8 path")]);
    assert_says(&out, &format!("{}:4: unknown config key `bogus.setting`", path.display()));
}

#[test]
fn a_missing_config_file_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing.properties");
    let out = broker_refusing(&["--config", path.to_str().expect("utf-8 path")]);
    assert_says(&out, &format!("cannot read {}", path.display()));
}

// ---------------------------------------------------------------------------------------------
// 4. Corrupt data at startup.
// ---------------------------------------------------------------------------------------------

/// Partition 0's directory of `topic`, and its first segment's log file.
fn partition_dir(broker: &BrokerProcess, topic: &str) -> PathBuf {
    broker.data_dir().join(format!("{topic}-0"))
}

fn first_segment(broker: &BrokerProcess, topic: &str, suffix: &str) -> PathBuf {
    partition_dir(broker, topic).join(format!("00000000000000000000{suffix}"))
}

/// The batches stored in a segment file: (position, base offset, size in bytes).
fn stored_batches(segment: &[u8]) -> Vec<(usize, i64, usize)> {
    let mut batches = Vec::new();
    let mut position = 0;
    while position + 12 <= segment.len() {
        let base = i64::from_be_bytes(segment[position..position + 8].try_into().expect("8"));
        let length =
            i32::from_be_bytes(segment[position + 8..position + 12].try_into().expect("4"));
        let size = 12 + length as usize;
        batches.push((position, base, size));
        position += size;
    }
    assert_eq!(position, segment.len(), "the segment holds whole batches");
    batches
}

/// A broker with `topic` holding records `<topic>-0 .. <topic>-<count-1>`, one batch each,
/// stopped cleanly (SIGTERM), its clean-shutdown marker checked.
#[track_caller]
fn stopped_broker_with_records(
    overrides: &[(&str, &str)],
    topic: &str,
    count: i64,
) -> BrokerProcess {
    let mut broker = BrokerProcess::start_with(overrides);
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, topic, &[]);
    for i in 0..count {
        assert_eq!(produce_ok(&mut conn, topic, &format!("{topic}-{i}")), i);
    }
    drop(conn);
    let stopped = broker.stop();
    assert!(stopped.status.success() && !stopped.needed_sigkill, "{stopped:?}");
    assert!(partition_dir(&broker, topic).join(".clean_shutdown").exists(), "a clean shutdown");
    broker
}

/// After recovery: the broker logged exactly one truncation, naming `segment` and `offset`;
/// it serves exactly the records below `offset`, and appends continue densely from there.
#[track_caller]
fn assert_recovered_to(broker: &BrokerProcess, topic: &str, segment: &Path, offset: i64) {
    let lines = log_lines_with(broker, &["log truncated"]);
    assert_eq!(lines.len(), 1, "one truncation warning: {lines:#?}");
    assert!(lines[0].contains("WARN"), "{}", lines[0]);
    assert!(lines[0].contains(&segment.display().to_string()), "names the segment: {}", lines[0]);
    assert!(lines[0].contains(&format!("offset={offset} ")), "names offset {offset}: {}", lines[0]);

    let mut conn = Conn::open(broker);
    assert_eq!(fetch_all(&mut conn, topic, 0), (values(topic, 0..offset), offset));
    assert_eq!(produce_ok(&mut conn, topic, &format!("{topic}-{offset}")), offset);
    assert_eq!(fetch_all(&mut conn, topic, 0), (values(topic, 0..offset + 1), offset + 1));
    assert_no_panic(broker);
}

#[test]
fn a_flipped_byte_mid_segment_truncates_the_log_there_and_the_rest_is_served() {
    // Setup: ten records, one batch each, then a clean stop.
    let mut broker = stopped_broker_with_records(&[], "flip", 10);
    let segment = first_segment(&broker, "flip", ".log");

    // Damage: flip the last byte (a record's value, under the CRC) of the batch holding the
    // middle of the file, and remove the clean-shutdown marker so that recovery runs.
    let mut bytes = fs::read(&segment).expect("read the segment");
    let middle = bytes.len() / 2;
    let (position, damaged_base, size) = stored_batches(&bytes)
        .into_iter()
        .find(|&(position, _, size)| (position..position + size).contains(&middle))
        .expect("a batch holds the middle byte");
    assert!(damaged_base > 0 && damaged_base < 9, "a batch in the middle: {damaged_base}");
    bytes[position + size - 1] ^= 0xff;
    fs::write(&segment, &bytes).expect("write the segment");
    fs::remove_file(partition_dir(&broker, "flip").join(".clean_shutdown")).expect("unmark");

    broker.restart();
    assert_recovered_to(&broker, "flip", &segment, damaged_base);
}

#[test]
fn garbage_after_the_last_batch_is_cut_off_and_every_record_is_served() {
    let mut broker = stopped_broker_with_records(&[], "tail", 10);
    let segment = first_segment(&broker, "tail", ".log");

    let mut file = fs::OpenOptions::new().append(true).open(&segment).expect("open the segment");
    file.write_all(&[0xab; 100]).expect("append garbage");
    drop(file);
    fs::remove_file(partition_dir(&broker, "tail").join(".clean_shutdown")).expect("unmark");

    broker.restart();
    assert_recovered_to(&broker, "tail", &segment, 10);
}

#[test]
fn a_truncated_offset_index_is_rebuilt_and_reads_still_work() {
    // Setup: an index entry for every batch, ten batches, a clean stop.
    let mut broker = stopped_broker_with_records(&[("log.index.interval.bytes", "1")], "idx", 10);
    let index = first_segment(&broker, "idx", ".index");
    let len = fs::metadata(&index).expect("the index exists").len();
    assert!(len >= 16, "the index has entries: {len} bytes");

    // Damage: cut the index mid-entry (the marker stays: a clean start that must not trust it).
    fs::OpenOptions::new().write(true).open(&index).expect("open").set_len(len - 3).expect("cut");

    broker.restart();
    let lines = log_lines_with(&broker, &["index rebuilt from the log"]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains(&index.display().to_string()), "names the index: {}", lines[0]);

    let mut conn = Conn::open(&broker);
    assert_eq!(fetch_all(&mut conn, "idx", 7), (values("idx", 7..10), 10));
    assert_eq!(fetch_all(&mut conn, "idx", 0), (values("idx", 0..10), 10));
    assert_eq!(produce_ok(&mut conn, "idx", "idx-10"), 10);
    assert_eq!(fs::metadata(&index).expect("index").len() % 8, 0, "whole entries again");
    assert_no_panic(&broker);
}
