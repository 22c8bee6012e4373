//! The broker driven request by request, without a runtime or sockets (FileStorage in a
//! temporary directory). Each test opens a broker, sends requests, drains the outputs.

use super::*;
use crate::config::Origin;
use crate::log::batch;
use crate::protocol::versions::SUPPORTED_APIS;
use crate::types::Offset;
use bytes::Bytes;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;

const NOW_MS: i64 = 1_700_000_000_000;

struct Harness {
    dir: tempfile::TempDir,
    broker: Option<Broker<crate::storage::FileStorage>>,
    next_token: u64,
}

fn config(dir: &std::path::Path, extra: &[(&str, &str)]) -> BrokerConfig {
    let mut entries = vec![("log.dirs".to_string(), dir.display().to_string(), Origin::Override)];
    entries.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string(), Origin::Override)));
    BrokerConfig::from_entries(entries).unwrap()
}

impl Harness {
    fn new(extra: &[(&str, &str)]) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let broker =
            Broker::open(config(dir.path(), extra), crate::storage::FileStorage::new(), NOW_MS, 7)
                .unwrap();
        Harness { dir, broker: Some(broker), next_token: 0 }
    }

    fn broker(&mut self) -> &mut Broker<crate::storage::FileStorage> {
        self.broker.as_mut().unwrap()
    }

    /// Sends a request; returns the outputs that came out right away.
    fn send(&mut self, api_key: ApiKey, api_version: i16, body: RequestKind) -> (u64, Vec<Output>) {
        self.next_token += 1;
        let token = self.next_token;
        let request =
            Request { api_key, api_version, correlation_id: token as i32, client_id: None, body };
        self.broker().handle_request(NOW_MS, token, request);
        (token, std::iter::from_fn(|| self.broker().poll_output()).collect())
    }

    /// Sends a request that must be answered at once; returns the answer.
    fn call(&mut self, api_key: ApiKey, api_version: i16, body: RequestKind) -> ResponseKind {
        let (token, outputs) = self.send(api_key, api_version, body);
        assert_eq!(outputs.len(), 1, "one answer");
        assert_eq!(outputs[0].token, token);
        let response = outputs.into_iter().next().unwrap().response.expect("a response");
        protocol::encode_response(api_key, api_version, 1, &response)
            .unwrap_or_else(|e| panic!("{api_key:?} v{api_version} must encode: {e}"));
        response
    }

    fn restart(&mut self, extra: &[(&str, &str)]) {
        self.broker.take().unwrap().shutdown(NOW_MS).unwrap();
        self.broker = Some(
            Broker::open(
                config(self.dir.path(), extra),
                crate::storage::FileStorage::new(),
                NOW_MS,
                8,
            )
            .unwrap(),
        );
    }

    fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> CreateTopicsResponse {
        let topic = CreatableTopic::default()
            .with_name(TopicName(str_bytes(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(str_bytes(*k))
                            .with_value(Some(str_bytes(*v)))
                    })
                    .collect(),
            );
        let ResponseKind::CreateTopics(response) = self.call(
            ApiKey::CreateTopics,
            7,
            RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(vec![topic])),
        ) else {
            panic!()
        };
        response
    }

    fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        acks: i16,
        records: Bytes,
    ) -> Option<ResponseKind> {
        let request = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(1000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(str_bytes(topic)))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records))])]);
        let (_, outputs) = self.send(ApiKey::Produce, 9, RequestKind::Produce(request));
        assert_eq!(outputs.len(), 1);
        outputs.into_iter().next().unwrap().response
    }

    fn produce_ok(&mut self, topic: &str, partition: i32, records: Bytes) -> i64 {
        let Some(ResponseKind::Produce(response)) = self.produce(topic, partition, -1, records)
        else {
            panic!("acks=-1 answers")
        };
        let p = &response.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0, "{:?}", p.error_message);
        p.base_offset
    }

    fn fetch_request(
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
        min_bytes: i32,
    ) -> FetchRequest {
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(min_bytes)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(str_bytes(topic)))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)
                    .with_current_leader_epoch(-1)])])
    }

    fn list_offset(&mut self, topic: &str, partition: i32, timestamp: i64) -> (i16, i64, i64) {
        let request =
            ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
                ListOffsetsTopic::default().with_name(TopicName(str_bytes(topic))).with_partitions(
                    vec![ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(timestamp)
                        .with_current_leader_epoch(-1)],
                ),
            ]);
        let ResponseKind::ListOffsets(response) =
            self.call(ApiKey::ListOffsets, 7, RequestKind::ListOffsets(request))
        else {
            panic!()
        };
        let p = &response.topics[0].partitions[0];
        (p.error_code, p.offset, p.timestamp)
    }
}

fn fetched_records(response: &ResponseKind) -> (i16, i64, Vec<(i64, i32)>) {
    let ResponseKind::Fetch(fetch) = response else { panic!("a fetch response") };
    let p = &fetch.responses[0].partitions[0];
    let records = p.records.clone().unwrap_or_default();
    let batches = batch::validate_all(&records)
        .unwrap()
        .into_iter()
        .map(|(_, h)| (h.base_offset.0, h.record_count))
        .collect();
    (p.error_code, p.high_watermark, batches)
}

fn three_records() -> Bytes {
    batch::tests::batch(3, NOW_MS)
}

#[test]
fn a_created_topic_takes_produces_and_serves_fetches_and_offsets() {
    let mut h = Harness::new(&[]);
    let created = h.create_topic("orders", 2, &[]);
    assert_eq!(created.topics[0].error_code, 0, "{:?}", created.topics[0].error_message);
    assert_eq!(created.topics[0].num_partitions, 2);
    assert_eq!(h.produce_ok("orders", 1, three_records()), 0);
    assert_eq!(h.produce_ok("orders", 1, three_records()), 3);
    let fetched =
        h.call(ApiKey::Fetch, 12, RequestKind::Fetch(Harness::fetch_request("orders", 1, 0, 0, 1)));
    assert_eq!(fetched_records(&fetched), (0, 6, vec![(0, 3), (3, 3)]));
    assert_eq!(h.list_offset("orders", 1, -2), (0, 0, -1));
    assert_eq!(h.list_offset("orders", 1, -1), (0, 6, -1));
    assert_eq!(h.list_offset("orders", 1, NOW_MS + 1), (0, 1, NOW_MS + 1));
    assert_eq!(h.list_offset("orders", 1, NOW_MS + 100), (0, -1, -1));
    assert_eq!(h.list_offset("orders", 1, -3).1, 2, "the first record with the largest timestamp");
    assert_eq!(h.list_offset("orders", 5, -1).0, ErrorCode::UnknownTopicOrPartition.code());
}

#[test]
fn produce_errors_are_per_partition_kafka_codes_with_messages() {
    let mut h = Harness::new(&[]);
    h.create_topic("t", 1, &[("max.message.bytes", "100")]);
    let code = |r: Option<ResponseKind>| match r {
        Some(ResponseKind::Produce(p)) => (
            p.responses[0].partition_responses[0].error_code,
            p.responses[0].partition_responses[0].error_message.clone().map(|m| m.to_string()),
        ),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        code(h.produce("missing", 0, 1, three_records())).0,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    assert_eq!(
        code(h.produce("t", 0, 2, three_records())).0,
        ErrorCode::InvalidRequiredAcks.code()
    );
    let (error, message) = code(h.produce("t", 0, 1, batch::tests::batch(20, NOW_MS)));
    assert_eq!(error, ErrorCode::MessageTooLarge.code());
    assert!(message.unwrap().contains("max.message.bytes (100)"));
    let mut corrupt = three_records().to_vec();
    *corrupt.last_mut().unwrap() ^= 1;
    let (error, message) = code(h.produce("t", 0, 1, Bytes::from(corrupt)));
    assert_eq!(error, ErrorCode::CorruptMessage.code());
    assert!(message.unwrap().contains("CRC mismatch"));
    // Kafka's ProduceRequest.validateRecords and LogValidator: INVALID_RECORD, not corrupt.
    let mut magic_1 = three_records().to_vec();
    magic_1[16] = 1;
    let (error, message) = code(h.produce("t", 0, 1, Bytes::from(magic_1)));
    assert_eq!(error, ErrorCode::InvalidRecord.code());
    assert!(message.unwrap().contains("magic version 2"));
    assert_eq!(code(h.produce("t", 0, 1, Bytes::new())).0, ErrorCode::InvalidRecord.code());
    let mut count = three_records().to_vec();
    count[57..61].copy_from_slice(&7i32.to_be_bytes()); // recordCount, under the CRC
    let crc = crc32c::crc32c(&count[21..]);
    count[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(code(h.produce("t", 0, 1, Bytes::from(count))).0, ErrorCode::InvalidRecord.code());
    h.create_topic("strict", 1, &[("min.insync.replicas", "2")]);
    assert_eq!(
        code(h.produce("strict", 0, -1, three_records())).0,
        ErrorCode::NotEnoughReplicas.code()
    );
    assert_eq!(
        code(h.produce("strict", 0, 1, three_records())).0,
        0,
        "acks=1 does not need the ISR"
    );
}

#[test]
fn acks_zero_gets_no_response_but_is_appended() {
    let mut h = Harness::new(&[]);
    h.create_topic("t", 1, &[]);
    assert!(h.produce("t", 0, 0, three_records()).is_none());
    assert_eq!(h.list_offset("t", 0, -1).1, 3);
}

#[test]
fn a_fetch_waits_for_data_until_a_produce_or_its_deadline() {
    let mut h = Harness::new(&[]);
    h.create_topic("t", 1, &[]);
    let (waiting, outputs) =
        h.send(ApiKey::Fetch, 12, RequestKind::Fetch(Harness::fetch_request("t", 0, 0, 500, 1)));
    assert!(outputs.is_empty(), "nothing to read yet: the fetch waits");
    assert_eq!(h.broker().next_deadline_ms().map(|d| d <= NOW_MS + 500), Some(true));
    let request =
        ProduceRequest::default().with_acks(1).with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(str_bytes("t")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(three_records()))])]);
    let (_, outputs) = h.send(ApiKey::Produce, 9, RequestKind::Produce(request));
    assert_eq!(outputs[0].token, waiting, "the produce answered the waiting fetch");
    let (late, outputs) =
        h.send(ApiKey::Fetch, 12, RequestKind::Fetch(Harness::fetch_request("t", 0, 3, 500, 1)));
    assert!(outputs.is_empty());
    h.broker().handle_timeout(NOW_MS + 499);
    assert!(h.broker().poll_output().is_none(), "not yet due");
    h.broker().handle_timeout(NOW_MS + 500);
    let expired = h.broker().poll_output().expect("the deadline answers the fetch");
    assert_eq!(expired.token, late);
    assert_eq!(fetched_records(&expired.response.unwrap()), (0, 3, vec![]));
    assert_ne!(waiting, late);
}

#[test]
fn a_waiting_fetch_is_answered_by_the_produce_that_brings_data() {
    let mut h = Harness::new(&[]);
    h.create_topic("t", 1, &[]);
    let (waiting, _) =
        h.send(ApiKey::Fetch, 12, RequestKind::Fetch(Harness::fetch_request("t", 0, 0, 10_000, 1)));
    let request =
        ProduceRequest::default().with_acks(1).with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(str_bytes("t")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(three_records()))])]);
    let (produced, outputs) = h.send(ApiKey::Produce, 9, RequestKind::Produce(request));
    let tokens: Vec<u64> = outputs.iter().map(|o| o.token).collect();
    assert_eq!(tokens, vec![waiting, produced], "the fetch completes inside the produce");
    assert_eq!(fetched_records(outputs[0].response.as_ref().unwrap()).2, vec![(0, 3)]);
}

#[test]
fn fetching_out_of_range_or_unknown_partitions_answers_at_once_with_the_error() {
    let mut h = Harness::new(&[]);
    h.create_topic("t", 1, &[]);
    h.produce_ok("t", 0, three_records());
    let out_of_range =
        h.call(ApiKey::Fetch, 12, RequestKind::Fetch(Harness::fetch_request("t", 0, 4, 10_000, 1)));
    assert_eq!(fetched_records(&out_of_range).0, ErrorCode::OffsetOutOfRange.code());
    let unknown = h.call(
        ApiKey::Fetch,
        12,
        RequestKind::Fetch(Harness::fetch_request("nope", 0, 0, 10_000, 1)),
    );
    assert_eq!(fetched_records(&unknown).0, ErrorCode::UnknownTopicOrPartition.code());
}

#[test]
fn metadata_auto_creates_topics_only_when_allowed() {
    let mut h = Harness::new(&[("num.partitions", "3")]);
    let ask = |name: &str, allow: bool| {
        RequestKind::Metadata(
            MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(TopicName(str_bytes(name))))
                ]))
                .with_allow_auto_topic_creation(allow),
        )
    };
    let ResponseKind::Metadata(m) = h.call(ApiKey::Metadata, 12, ask("auto", true)) else {
        panic!()
    };
    assert_eq!((m.topics[0].error_code, m.topics[0].partitions.len()), (0, 3));
    assert_eq!(m.brokers[0].port, 9092);
    assert_eq!(m.cluster_id.as_deref(), Some(h.broker().cluster_id()));
    let ResponseKind::Metadata(m) = h.call(ApiKey::Metadata, 12, ask("not-allowed", false)) else {
        panic!()
    };
    assert_eq!(m.topics[0].error_code, ErrorCode::UnknownTopicOrPartition.code());
    let ResponseKind::Metadata(m) = h.call(ApiKey::Metadata, 12, ask("bad name!", true)) else {
        panic!()
    };
    assert_eq!(m.topics[0].error_code, ErrorCode::InvalidTopicException.code());
    let mut off = Harness::new(&[("auto.create.topics.enable", "false")]);
    let ResponseKind::Metadata(m) = off.call(ApiKey::Metadata, 12, ask("auto", true)) else {
        panic!()
    };
    assert_eq!(m.topics[0].error_code, ErrorCode::UnknownTopicOrPartition.code());
    let ResponseKind::Metadata(all) = h.call(
        ApiKey::Metadata,
        12,
        RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
    ) else {
        panic!()
    };
    assert_eq!(all.topics.len(), 1, "null topics means all");
}

#[test]
fn create_topics_refuses_with_kafka_errors() {
    let mut h = Harness::new(&[]);
    h.create_topic("t", 1, &[]);
    let code = |r: CreateTopicsResponse| {
        (r.topics[0].error_code, r.topics[0].error_message.clone().unwrap_or_default().to_string())
    };
    assert_eq!(
        code(h.create_topic("t", 1, &[])),
        (ErrorCode::TopicAlreadyExists.code(), "Topic 't' already exists.".into())
    );
    assert_eq!(code(h.create_topic("zero", 0, &[])).0, ErrorCode::InvalidPartitions.code());
    assert_eq!(
        code(h.create_topic("cfg", 1, &[("retention.msec", "1")])),
        (ErrorCode::InvalidConfig.code(), "Unknown topic config name: retention.msec".into())
    );
    assert_eq!(
        code(h.create_topic("__cluster_metadata", 1, &[])).0,
        ErrorCode::InvalidTopicException.code()
    );
    let rf3 = CreatableTopic::default()
        .with_name(TopicName(str_bytes("rf3")))
        .with_num_partitions(1)
        .with_replication_factor(3);
    let ResponseKind::CreateTopics(r) = h.call(
        ApiKey::CreateTopics,
        7,
        RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(vec![rf3])),
    ) else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, ErrorCode::InvalidReplicationFactor.code());
    let check = CreatableTopic::default()
        .with_name(TopicName(str_bytes("dry")))
        .with_num_partitions(2)
        .with_replication_factor(-1);
    let ResponseKind::CreateTopics(r) = h.call(
        ApiKey::CreateTopics,
        7,
        RequestKind::CreateTopics(
            CreateTopicsRequest::default().with_topics(vec![check]).with_validate_only(true),
        ),
    ) else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, 0);
    assert!(h.broker().metadata.image().topic("dry").is_none(), "validate_only creates nothing");
}

#[test]
fn topics_data_and_configs_survive_a_restart() {
    let mut h = Harness::new(&[]);
    h.create_topic("kept", 2, &[("retention.ms", "86400000")]);
    h.produce_ok("kept", 1, three_records());
    h.restart(&[]);
    assert_eq!(h.list_offset("kept", 1, -1).1, 3);
    assert_eq!(h.produce_ok("kept", 1, three_records()), 3);
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(str_bytes("kept"))
            .with_configuration_keys(Some(vec![str_bytes("retention.ms")]))]);
    let ResponseKind::DescribeConfigs(d) =
        h.call(ApiKey::DescribeConfigs, 4, RequestKind::DescribeConfigs(request))
    else {
        panic!()
    };
    let entry = &d.results[0].configs[0];
    assert_eq!(
        (entry.name.as_str(), entry.value.as_deref(), entry.config_source),
        ("retention.ms", Some("86400000"), 1)
    );
}

#[test]
fn deleted_topics_lose_their_directories_and_can_be_created_again() {
    let mut h = Harness::new(&[]);
    h.create_topic("gone", 2, &[]);
    h.produce_ok("gone", 0, three_records());
    let request = DeleteTopicsRequest::default()
        .with_topic_names(vec![TopicName(str_bytes("gone")), TopicName(str_bytes("never"))]);
    let ResponseKind::DeleteTopics(d) =
        h.call(ApiKey::DeleteTopics, 5, RequestKind::DeleteTopics(request))
    else {
        panic!()
    };
    assert_eq!(d.responses[0].error_code, 0);
    assert_eq!(d.responses[1].error_code, ErrorCode::UnknownTopicOrPartition.code());
    assert!(!h.dir.path().join("gone-0").exists());
    h.create_topic("gone", 1, &[]);
    assert_eq!(h.list_offset("gone", 0, -1).1, 0, "a new topic starts empty");
}

#[test]
fn a_partition_directory_unknown_to_the_metadata_is_removed_at_start() {
    let mut h = Harness::new(&[]);
    h.create_topic("t", 1, &[]);
    std::fs::create_dir_all(h.dir.path().join("stray-0")).unwrap();
    std::fs::create_dir_all(h.dir.path().join("t-5")).unwrap();
    h.restart(&[]);
    assert!(!h.dir.path().join("stray-0").exists());
    assert!(!h.dir.path().join("t-5").exists());
    assert!(h.dir.path().join("t-0").exists());
}

#[test]
fn create_partitions_only_grows_topics() {
    let mut h = Harness::new(&[]);
    h.create_topic("t", 1, &[]);
    let grow = |count: i32| {
        RequestKind::CreatePartitions(CreatePartitionsRequest::default().with_topics(vec![
            CreatePartitionsTopic::default().with_name(TopicName(str_bytes("t"))).with_count(count),
        ]))
    };
    let ResponseKind::CreatePartitions(r) = h.call(ApiKey::CreatePartitions, 3, grow(3)) else {
        panic!()
    };
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(h.produce_ok("t", 2, three_records()), 0);
    let ResponseKind::CreatePartitions(r) = h.call(ApiKey::CreatePartitions, 3, grow(2)) else {
        panic!()
    };
    assert_eq!(r.results[0].error_code, ErrorCode::InvalidPartitions.code());
    assert_eq!(
        r.results[0].error_message.as_deref(),
        Some("Topic currently has 3 partitions, which is higher than the requested 2.")
    );
}

#[test]
fn more_than_ten_thousand_new_partitions_in_one_request_is_a_policy_violation() {
    // Bad input from the network: 2^31-1 partitions used to be built, record by record.
    let mut h = Harness::new(&[]);
    let topic = |name: &str, partitions: i32| {
        CreatableTopic::default()
            .with_name(TopicName(str_bytes(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
    };
    let create =
        |topics| RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(topics));
    let ResponseKind::CreateTopics(r) =
        h.call(ApiKey::CreateTopics, 7, create(vec![topic("huge", i32::MAX), topic("t", 1)]))
    else {
        panic!()
    };
    let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![ErrorCode::PolicyViolation.code(); 2], "the whole request is refused");
    assert_eq!(
        r.topics[0].error_message.as_deref(),
        Some("Excessively large number of partitions per request.")
    );
    assert!(h.broker().metadata.image().topic("t").is_none());
    // The limit is on the sum; exactly 10,000 is allowed (validate_only: nothing is built).
    let ResponseKind::CreateTopics(r) =
        h.call(ApiKey::CreateTopics, 7, create(vec![topic("a", 6_000), topic("b", 4_001)]))
    else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, ErrorCode::PolicyViolation.code());
    let ResponseKind::CreateTopics(r) = h.call(
        ApiKey::CreateTopics,
        7,
        RequestKind::CreateTopics(
            CreateTopicsRequest::default()
                .with_topics(vec![topic("a", 6_000), topic("b", 4_000)])
                .with_validate_only(true),
        ),
    ) else {
        panic!()
    };
    assert_eq!(r.topics.iter().map(|t| t.error_code).collect::<Vec<_>>(), vec![0, 0]);

    h.create_topic("t", 1, &[]);
    let ResponseKind::CreatePartitions(r) = h.call(
        ApiKey::CreatePartitions,
        3,
        RequestKind::CreatePartitions(CreatePartitionsRequest::default().with_topics(
            vec![CreatePartitionsTopic::default()
                .with_name(TopicName(str_bytes("t")))
                .with_count(i32::MAX)],
        )),
    ) else {
        panic!()
    };
    assert_eq!(r.results[0].error_code, ErrorCode::PolicyViolation.code());
    assert_eq!(h.broker().partition("t", 1).map(|_| ()), None, "no partition was added");
}

#[test]
fn producer_ids_are_never_handed_out_twice_across_restarts() {
    let mut h = Harness::new(&[]);
    let id = |h: &mut Harness| {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let ResponseKind::InitProducerId(r) =
            h.call(ApiKey::InitProducerId, 4, RequestKind::InitProducerId(request))
        else {
            panic!()
        };
        assert_eq!(r.error_code, 0);
        r.producer_id.0
    };
    let first = id(&mut h);
    let second = id(&mut h);
    h.restart(&[]);
    let third = id(&mut h);
    assert!(first < second && second < third, "{first} {second} {third}");
}

#[test]
fn every_served_version_of_every_api_encodes_its_response() {
    let mut h = Harness::new(&[]);
    h.create_topic("t", 1, &[]);
    h.produce_ok("t", 0, three_records());
    for range in SUPPORTED_APIS {
        for version in range.served_min_version..=range.max_version {
            let body = match range.api_key {
                ApiKey::Produce => {
                    let topic = TopicProduceData::default()
                        .with_name(TopicName(str_bytes("t")))
                        .with_partition_data(vec![PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(three_records()))]);
                    RequestKind::Produce(
                        ProduceRequest::default().with_acks(1).with_topic_data(vec![topic]),
                    )
                }
                ApiKey::Fetch => RequestKind::Fetch(Harness::fetch_request("t", 0, 0, 0, 1)),
                ApiKey::ListOffsets => {
                    let topic = ListOffsetsTopic::default()
                        .with_name(TopicName(str_bytes("t")))
                        .with_partitions(vec![ListOffsetsPartition::default()
                            .with_timestamp(-1)
                            .with_current_leader_epoch(-1)]);
                    RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![topic]))
                }
                ApiKey::Metadata => {
                    RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                        MetadataRequestTopic::default().with_name(Some(TopicName(str_bytes("t")))),
                    ])))
                }
                ApiKey::FindCoordinator => RequestKind::FindCoordinator(
                    FindCoordinatorRequest::default()
                        .with_key(str_bytes("g"))
                        .with_coordinator_keys(if version >= 4 {
                            vec![str_bytes("g")]
                        } else {
                            vec![]
                        }),
                ),
                ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
                ApiKey::CreateTopics => RequestKind::CreateTopics(
                    CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
                        .with_name(TopicName(str_bytes(format!("v{version}"))))
                        .with_num_partitions(1)
                        .with_replication_factor(1)]),
                ),
                ApiKey::DeleteTopics if version >= 6 => {
                    RequestKind::DeleteTopics(DeleteTopicsRequest::default().with_topics(vec![
                        kafka_protocol::messages::delete_topics_request::DeleteTopicState::default(
                        )
                        .with_name(Some(TopicName(str_bytes("none")))),
                    ]))
                }
                ApiKey::DeleteTopics => RequestKind::DeleteTopics(
                    DeleteTopicsRequest::default()
                        .with_topic_names(vec![TopicName(str_bytes("none"))]),
                ),
                ApiKey::InitProducerId => RequestKind::InitProducerId(
                    InitProducerIdRequest::default()
                        .with_transactional_id(None)
                        .with_producer_id(ProducerId(-1))
                        .with_producer_epoch(-1),
                ),
                ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(
                    DescribeConfigsRequest::default()
                        .with_resources(vec![
                            DescribeConfigsResource::default()
                                .with_resource_type(2)
                                .with_resource_name(str_bytes("t")),
                            DescribeConfigsResource::default()
                                .with_resource_type(4)
                                .with_resource_name(str_bytes("1")),
                        ])
                        .with_include_synonyms(version >= 1)
                        .with_include_documentation(version >= 3),
                ),
                ApiKey::CreatePartitions => RequestKind::CreatePartitions(
                    CreatePartitionsRequest::default().with_topics(vec![
                        CreatePartitionsTopic::default()
                            .with_name(TopicName(str_bytes("t")))
                            .with_count(1),
                    ]),
                ),
                other => panic!("no sample request for {other:?}"),
            };
            h.call(range.api_key, version, body);
        }
    }
    assert_eq!(
        Offset(h.list_offset("t", 0, -1).1),
        Offset(3 + 3 * 10),
        "every produce version appended"
    );
}
