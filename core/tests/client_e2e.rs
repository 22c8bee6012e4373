//! The client against an odradek broker on loopback.
//!
//! Setup: the first test that needs a broker starts one in this process (its own thread and
//! runtime, a free 127.0.0.1 port, data in a temporary directory under the target directory);
//! the process's tests share it. Every test uses its own topic names, so the tests can run in
//! any order and in parallel. The test that needs no broker (send blocks for `max_block_ms` when no broker
//! answers, seed claim P7) does not start one.
#![cfg(not(madsim))]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use odradek::client::partitioner::partition_for_key;
use odradek::client::{
    Admin, AutoOffsetReset, ClientConfig, ClientError, Compression, ConfigResource, Consumer,
    ConsumerConfig, ErrorCode, NewTopic, OffsetSpec, Producer, ProducerConfig, ProducerRecord,
};
use odradek::TopicPartition;

fn bootstrap() -> String {
    static BROKER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BROKER.get_or_init(start_broker).clone()
}

/// Starts a broker on its own thread and runtime; returns its address once it accepts.
fn start_broker() -> String {
    use odradek::config::{BrokerConfig, Origin};
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // The broker outlives every test of this process, so its directory is never removed by a
    // drop: it lives under the target directory (`cargo clean` removes it), not in /tmp.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap().keep();
    let entries = [
        ("listeners", format!("PLAINTEXT://127.0.0.1:{port}")),
        ("log.dirs", dir.display().to_string()),
    ];
    let config = BrokerConfig::from_entries(
        entries.into_iter().map(|(k, v)| (k.to_string(), v, Origin::Override)).collect(),
    )
    .unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let storage = odradek::storage::FileStorage::new();
        runtime
            .block_on(odradek::node::run_broker(config, storage, std::future::pending()))
            .unwrap();
    });
    let address = format!("127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(std::time::Instant::now() < deadline, "the broker did not listen on {address}");
        std::thread::sleep(Duration::from_millis(20));
    }
    address
}

/// A topic name no other test (or earlier run) uses.
fn unique_topic(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn client_config() -> ClientConfig {
    ClientConfig { request_timeout_ms: 10_000, ..ClientConfig::new(&bootstrap()) }
}

fn producer_config(acks: i16, compression: Compression) -> ProducerConfig {
    ProducerConfig {
        client: client_config(),
        acks,
        compression,
        linger_ms: 10,
        request_timeout_ms: 10_000,
        delivery_timeout_ms: 30_000,
        max_block_ms: 10_000,
        ..ProducerConfig::default()
    }
}

fn consumer_config(reset: AutoOffsetReset) -> ConsumerConfig {
    ConsumerConfig {
        client: client_config(),
        auto_offset_reset: reset,
        fetch_max_wait_ms: 200,
        ..ConsumerConfig::default()
    }
}

async fn create_topic(admin: &Admin, name: &str, partitions: i32) {
    let results =
        admin.create_topics(vec![NewTopic::new(name, partitions, 1)], false).await.unwrap();
    results[name].as_ref().unwrap_or_else(|e| panic!("create {name}: {e}"));
}

/// Polls until `want` records arrived or 15 s passed.
async fn consume_n(consumer: &mut Consumer, want: usize) -> Vec<odradek::client::ConsumerRecord> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while got.len() < want && tokio::time::Instant::now() < deadline {
        got.extend(consumer.poll(Duration::from_millis(500)).await.unwrap());
    }
    got
}

#[tokio::test]
async fn admin_creates_describes_grows_and_deletes_a_topic() {
    let admin = Admin::new(client_config()).unwrap();
    let topic = unique_topic("admin");
    let created = admin
        .create_topics(
            vec![NewTopic::new(&topic, 2, 1).with_config("cleanup.policy", "delete")],
            false,
        )
        .await
        .unwrap();
    assert!(created[&topic].is_ok(), "{:?}", created[&topic]);

    let again = admin.create_topics(vec![NewTopic::new(&topic, 2, 1)], false).await.unwrap();
    let error = again[&topic].as_ref().unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::TopicAlreadyExists), "{error}");

    let described = admin.describe_topics(vec![topic.clone()]).await.unwrap();
    let description = described[&topic].as_ref().unwrap();
    assert_eq!(description.partitions.len(), 2);
    assert!(description.topic_id.is_some(), "Metadata v10+ names the topic's id");
    for p in &description.partitions {
        assert!(p.leader.is_some(), "partition {} has a leader", p.partition);
        assert!(!p.replicas.is_empty());
        assert_eq!(p.isr, p.replicas, "one broker: every replica in sync");
        assert!(p.offline_replicas.is_empty(), "no replica offline");
        assert_eq!(p.elr, None, "Metadata carries no eligible leader replicas");
    }

    let listed = admin.list_topics().await.unwrap();
    assert!(listed.iter().any(|t| t.name == topic && t.partition_count == 2));

    admin.create_partitions(&topic, 3).await.unwrap();
    let grown = admin.describe_topics(vec![topic.clone()]).await.unwrap();
    assert_eq!(grown[&topic].as_ref().unwrap().partitions.len(), 3);

    let deleted = admin.delete_topics(vec![topic.clone()]).await.unwrap();
    assert!(deleted[&topic].is_ok(), "{:?}", deleted[&topic]);
}

#[tokio::test]
async fn admin_describes_topic_configs() {
    let admin = Admin::new(client_config()).unwrap();
    let topic = unique_topic("configs");
    create_topic(&admin, &topic, 1).await;
    let entries = admin.describe_configs(ConfigResource::Topic(topic.clone())).await.unwrap();
    assert!(!entries.is_empty(), "a topic has configs");
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert!(names.contains(&"cleanup.policy") || names.contains(&"retention.ms"), "{names:?}");
}

#[tokio::test]
async fn admin_describes_broker_configs() {
    let admin = Admin::new(client_config()).unwrap();
    let (brokers, _controller) = admin.describe_cluster().await.unwrap();
    let broker = brokers.first().expect("at least one broker").id;
    let entries = admin.describe_configs(ConfigResource::Broker(broker)).await.unwrap();
    assert!(!entries.is_empty(), "a broker has configs");
}

#[tokio::test]
async fn keyed_records_round_trip_with_every_codec() {
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let admin = Admin::new(client_config()).unwrap();
        let topic = unique_topic(&format!("roundtrip-{compression:?}").to_lowercase());
        create_topic(&admin, &topic, 3).await;
        let producer = Producer::new(producer_config(-1, compression)).await.unwrap();
        let mut futures = Vec::new();
        for i in 0..60 {
            let record = ProducerRecord::new(&topic, format!("value-{i}"))
                .with_key(format!("key-{i}"))
                .with_header("i", Some(Bytes::from(i.to_string())))
                .with_timestamp_ms(1_700_000_000_000 + i);
            futures.push(producer.send(record).await.unwrap());
        }
        producer.flush().await.unwrap();
        let mut acked = Vec::new();
        for f in futures {
            acked.push(f.await.unwrap_or_else(|e| panic!("{compression:?}: {e}")));
        }
        // Keyed records land where Kafka's Java client would put them; offsets are dense.
        let mut next_offset: BTreeMap<i32, i64> = BTreeMap::new();
        for (i, meta) in acked.iter().enumerate() {
            assert_eq!(meta.partition, partition_for_key(format!("key-{i}").as_bytes(), 3));
            let expected = next_offset.entry(meta.partition).or_insert(0);
            assert_eq!(meta.offset, *expected, "{compression:?} record {i}");
            *expected += 1;
        }
        producer.close().await.unwrap();

        let mut consumer = Consumer::new(consumer_config(AutoOffsetReset::Earliest)).unwrap();
        let partitions: Vec<_> = (0..3).map(|p| TopicPartition::new(&topic, p)).collect();
        consumer.assign(partitions);
        let records = consume_n(&mut consumer, 60).await;
        assert_eq!(records.len(), 60, "{compression:?}");
        for r in &records {
            let i: i64 =
                std::str::from_utf8(r.key.as_ref().unwrap()).unwrap()[4..].parse().unwrap();
            let meta = &acked[i as usize];
            assert_eq!((r.partition, r.offset), (meta.partition, meta.offset));
            assert_eq!(r.value.as_deref(), Some(format!("value-{i}").as_bytes()));
            assert_eq!(r.timestamp_ms, 1_700_000_000_000 + i);
            assert_eq!(r.headers, vec![("i".to_string(), Some(Bytes::from(i.to_string())))]);
        }
    }
}

#[tokio::test]
async fn keyless_records_stick_to_a_partition_per_batch() {
    let admin = Admin::new(client_config()).unwrap();
    let topic = unique_topic("sticky");
    create_topic(&admin, &topic, 4).await;
    let producer =
        Producer::new(ProducerConfig { linger_ms: 1_000, ..producer_config(1, Compression::None) })
            .await
            .unwrap();
    let mut futures = Vec::new();
    for i in 0..20 {
        futures.push(producer.send(ProducerRecord::new(&topic, format!("v{i}"))).await.unwrap());
    }
    producer.flush().await.unwrap();
    let partitions: Vec<i32> = {
        let mut v = Vec::new();
        for f in futures {
            v.push(f.await.unwrap().partition);
        }
        v
    };
    assert!(
        partitions.iter().all(|p| *p == partitions[0]),
        "one batch, one partition: {partitions:?}"
    );
    producer.close().await.unwrap();
}

#[tokio::test]
async fn acks_zero_completes_on_write_with_offset_minus_one() {
    let admin = Admin::new(client_config()).unwrap();
    let topic = unique_topic("acks0");
    create_topic(&admin, &topic, 1).await;
    let producer = Producer::new(producer_config(0, Compression::None)).await.unwrap();
    let mut futures = Vec::new();
    for i in 0..10 {
        futures.push(
            producer
                .send(ProducerRecord::new(&topic, format!("v{i}")).with_partition(0))
                .await
                .unwrap(),
        );
    }
    for f in futures {
        assert_eq!(f.await.unwrap().offset, -1);
    }
    producer.close().await.unwrap();

    // The records did arrive.
    let mut consumer = Consumer::new(consumer_config(AutoOffsetReset::Earliest)).unwrap();
    consumer.assign(vec![TopicPartition::new(&topic, 0)]);
    assert_eq!(consume_n(&mut consumer, 10).await.len(), 10);
}

#[tokio::test]
async fn list_offsets_and_seeks() {
    let admin = Admin::new(client_config()).unwrap();
    let topic = unique_topic("offsets");
    create_topic(&admin, &topic, 1).await;
    let tp = TopicPartition::new(&topic, 0);
    let producer = Producer::new(producer_config(-1, Compression::Gzip)).await.unwrap();
    let mut futures = Vec::new();
    for i in 0..10 {
        let record = ProducerRecord::new(&topic, format!("v{i}"))
            .with_partition(0)
            .with_timestamp_ms(1_000 * (i + 1));
        futures.push(producer.send(record).await.unwrap());
    }
    for f in futures {
        f.await.unwrap();
    }
    producer.close().await.unwrap();

    assert_eq!(admin.list_offsets(&tp, OffsetSpec::Earliest).await.unwrap().offset, 0);
    assert_eq!(admin.list_offsets(&tp, OffsetSpec::Latest).await.unwrap().offset, 10);
    let by_time = admin.list_offsets(&tp, OffsetSpec::Timestamp(4_500)).await.unwrap();
    assert_eq!(by_time.offset, 4, "first record at or after 4500 ms");

    let mut consumer = Consumer::new(consumer_config(AutoOffsetReset::None)).unwrap();
    consumer.assign(vec![tp.clone()]);
    // No position and reset None: an error naming the partition.
    let err = consumer.poll(Duration::from_millis(100)).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::NoOffsetForPartition { partition } if *partition == tp),
        "{err}"
    );

    // The batch is gzip-compressed and whole: records before 7 must be dropped client-side.
    consumer.seek(&tp, 7).unwrap();
    let records = consume_n(&mut consumer, 3).await;
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![7, 8, 9]);
    assert_eq!(consumer.position(&tp).await.unwrap(), 10);

    consumer.seek_to_beginning(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(consumer.position(&tp).await.unwrap(), 0);
    consumer.seek_to_end(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(consumer.position(&tp).await.unwrap(), 10);
}

#[tokio::test]
async fn offset_out_of_range_resets_or_fails() {
    let admin = Admin::new(client_config()).unwrap();
    let topic = unique_topic("oor");
    create_topic(&admin, &topic, 1).await;
    let tp = TopicPartition::new(&topic, 0);
    let producer = Producer::new(producer_config(1, Compression::None)).await.unwrap();
    for i in 0..3 {
        producer
            .send(ProducerRecord::new(&topic, format!("v{i}")).with_partition(0))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    producer.close().await.unwrap();

    let mut strict = Consumer::new(consumer_config(AutoOffsetReset::None)).unwrap();
    strict.assign(vec![tp.clone()]);
    strict.seek(&tp, 1_000).unwrap();
    let err = strict.poll(Duration::from_secs(5)).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::OffsetOutOfRange { partition, offset: 1_000 } if *partition == tp),
        "{err}"
    );

    let mut lenient = Consumer::new(consumer_config(AutoOffsetReset::Earliest)).unwrap();
    lenient.assign(vec![tp.clone()]);
    lenient.seek(&tp, 1_000).unwrap();
    let records = consume_n(&mut lenient, 3).await;
    assert_eq!(records.first().map(|r| r.offset), Some(0), "reset to earliest");
}

#[tokio::test]
async fn latest_reset_skips_existing_records() {
    let admin = Admin::new(client_config()).unwrap();
    let topic = unique_topic("latest");
    create_topic(&admin, &topic, 1).await;
    let tp = TopicPartition::new(&topic, 0);
    let producer = Producer::new(producer_config(-1, Compression::None)).await.unwrap();
    producer
        .send(ProducerRecord::new(&topic, "old").with_partition(0))
        .await
        .unwrap()
        .await
        .unwrap();

    let mut consumer = Consumer::new(consumer_config(AutoOffsetReset::Latest)).unwrap();
    consumer.assign(vec![tp.clone()]);
    assert_eq!(consumer.position(&tp).await.unwrap(), 1);
    producer
        .send(ProducerRecord::new(&topic, "new").with_partition(0))
        .await
        .unwrap()
        .await
        .unwrap();
    let records = consume_n(&mut consumer, 1).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value.as_deref(), Some(&b"new"[..]));
    producer.close().await.unwrap();
}

#[tokio::test]
async fn an_explicit_partition_outside_the_topic_is_rejected() {
    let admin = Admin::new(client_config()).unwrap();
    let topic = unique_topic("badpart");
    create_topic(&admin, &topic, 2).await;
    let producer = Producer::new(producer_config(1, Compression::None)).await.unwrap();
    let err = producer.send(ProducerRecord::new(&topic, "v").with_partition(5)).await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidArgument(_)), "{err}");
    producer.close().await.unwrap();
}

/// Seed claim P7: with no broker reachable, `send` blocks for `max_block_ms` and then fails
/// with a timeout that names the topic. Needs no broker: it connects to a closed port.
#[tokio::test]
async fn send_without_metadata_times_out_after_max_block_ms() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = ProducerConfig {
        client: ClientConfig::new(&format!("127.0.0.1:{closed_port}")),
        max_block_ms: 300,
        retry_backoff_ms: 50,
        ..ProducerConfig::default()
    };
    let producer = Producer::new(config).await.unwrap();
    let started = tokio::time::Instant::now();
    let err = producer.send(ProducerRecord::new("nowhere", "v")).await.unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(&err, ClientError::Timeout { what } if what.contains("nowhere") && what.contains("max_block_ms=300")),
        "{err}"
    );
    assert!(waited >= Duration::from_millis(300), "waited {waited:?}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    producer.close().await.unwrap();
}

#[tokio::test]
async fn many_records_keep_their_order_per_partition() {
    let admin = Admin::new(client_config()).unwrap();
    let topic = unique_topic("volume");
    create_topic(&admin, &topic, 4).await;
    let config = ProducerConfig {
        linger_ms: 5,
        batch_size: 4_096,
        max_in_flight_requests_per_connection: 1,
        ..producer_config(-1, Compression::Lz4)
    };
    let producer = Producer::new(config).await.unwrap();
    let mut futures = Vec::new();
    for i in 0..5_000 {
        let record =
            ProducerRecord::new(&topic, format!("value-{i:05}")).with_key(format!("k{}", i % 37));
        futures.push(producer.send(record).await.unwrap());
    }
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for f in futures {
        let meta = f.await.unwrap();
        let previous = last.insert(meta.partition, meta.offset);
        assert!(
            previous.is_none_or(|p| p + 1 == meta.offset),
            "dense and in send order: {meta:?} after {previous:?}"
        );
    }
    producer.close().await.unwrap();
    assert_eq!(last.values().map(|o| o + 1).sum::<i64>(), 5_000);

    let mut consumer = Consumer::new(consumer_config(AutoOffsetReset::Earliest)).unwrap();
    consumer.assign((0..4).map(|p| TopicPartition::new(&topic, p)).collect());
    let records = consume_n(&mut consumer, 5_000).await;
    assert_eq!(records.len(), 5_000);
}

#[tokio::test]
async fn describing_a_missing_topic_reports_it_and_does_not_create_it() {
    let admin = Admin::new(client_config()).unwrap();
    let topic = unique_topic("missing");
    let described = admin.describe_topics(vec![topic.clone()]).await.unwrap();
    let error = described[&topic].as_ref().unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::UnknownTopicOrPartition), "{error}");
    let listed = admin.list_topics().await.unwrap();
    assert!(!listed.iter().any(|t| t.name == topic));
}
