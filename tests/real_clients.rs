//! The real broker with real clients: `odradek broker` on 127.0.0.1, driven by kcat (librdkafka
//! 2.0.2), confluent-kafka (bundled librdkafka) and kafka-python, each test with its own
//! broker, port and data directory.
//!
//! Needs the `odradek` binary (`cargo build --bins`) and the client tools
//! (`scripts/setup-test-env.sh`); `scripts/test.sh` does both before it runs the suite.
//! The madsim build compiles this file to nothing: there is no real network under madsim.
#![cfg(not(madsim))]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use odradek_tests::clients::{
    acks_codec_matrix, admin, consume, create_partitions, create_topic, delete_topic,
    describe_topic_configs, generated, kcat_topic_partitions, list_offsets, list_topics, produce,
    Acks, Client, Codec, Delivered, ListedOffset, OffsetSpec, Produce, Record, StartAt,
    PROCESS_TIMEOUT,
};
use odradek_tests::{run_kcat, run_python, BrokerProcess};

/// Delivery reports for `count` records appended to `partition` from `first` on.
fn landed(partition: i32, first: i64, count: u32) -> Vec<Delivered> {
    (0..i64::from(count)).map(|n| Delivered { partition, offset: first + n }).collect()
}

fn partitions(n: i32) -> Vec<i32> {
    (0..n).collect()
}

fn from_offset(records: &[Record], offset: i64) -> Vec<Record> {
    records.iter().filter(|r| r.offset >= offset).cloned().collect()
}

#[test]
fn admin_client_creates_describes_grows_and_deletes_a_topic() {
    // Setup: a fresh broker, no topics.
    let broker = BrokerProcess::start();

    // Metadata names this broker at the address the clients used.
    let meta = run_kcat(["-L", "-J", "-b", &broker.bootstrap()], None, PROCESS_TIMEOUT);
    meta.assert_success();
    let brokers = meta.json()["brokers"].clone();
    assert_eq!(brokers.as_array().map(Vec::len), Some(1), "{meta}");
    assert_eq!(brokers[0]["name"], broker.bootstrap().as_str(), "{meta}");

    create_topic(
        &broker,
        "orders",
        3,
        &[("retention.ms", "3600000"), ("cleanup.policy", "delete")],
    );
    assert_eq!(list_topics(&broker).get("orders"), Some(&3));
    assert_eq!(kcat_topic_partitions(&broker, "orders"), Ok(3));
    let configs = describe_topic_configs(&broker, "orders");
    assert_eq!(configs.get("retention.ms"), Some(&Some("3600000".to_string())), "{configs:?}");
    assert_eq!(configs.get("cleanup.policy"), Some(&Some("delete".to_string())), "{configs:?}");

    // Creating it again is refused, not ignored.
    let again = admin(&broker, "create-topic", &["--topic", "orders", "--partitions", "3"]);
    assert!(!again.success(), "{again}");
    assert_eq!(again.json()["name"], "TOPIC_ALREADY_EXISTS", "{again}");

    // Growing it to 5 partitions: the new ones exist and take records.
    create_partitions(&broker, "orders", 5);
    assert_eq!(list_topics(&broker).get("orders"), Some(&5));
    let run = Produce::new("orders", 3).partition(4);
    assert_eq!(produce(Client::ConfluentKafka, &broker, &run), landed(4, 0, 3));
    assert_eq!(
        consume(Client::Kcat, &broker, "orders", &[4], StartAt::Beginning, 3),
        run.expected(0)
    );

    // Deleting it: it leaves the metadata (within a bounded wait: deletion may be asynchronous).
    delete_topic(&broker, "orders");
    let deadline = Instant::now() + Duration::from_secs(10);
    while list_topics(&broker).contains_key("orders") {
        assert!(Instant::now() < deadline, "orders still listed 10 s after DeleteTopics");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One partition per (acks, codec) pair, 10 records each from `producer`; then every client
/// reads all partitions from the beginning and from offset 7, and must see exactly those
/// records at exactly those offsets.
fn every_acks_and_codec_from(producer: Client) {
    // Setup: a fresh broker and a topic with one partition per (acks, codec) pair.
    let broker = BrokerProcess::start();
    let topic = format!("from-{}", producer.name());
    let matrix = acks_codec_matrix();
    let n = matrix.len() as i32;
    create_topic(&broker, &topic, n, &[]);

    let mut expected = Vec::new();
    for (partition, (acks, codec)) in (0..).zip(matrix) {
        let prefix = format!("{}-acks{}-{}", producer.name(), acks.as_str(), codec.as_str());
        let run =
            Produce::new(&topic, 10).partition(partition).acks(acks).codec(codec).prefix(&prefix);
        let delivered = produce(producer, &broker, &run);
        if acks != Acks::Zero {
            assert_eq!(delivered, landed(partition, 0, 10), "{run:?}");
        }
        expected.extend(run.expected(0));
    }

    for reader in Client::ALL {
        let all =
            consume(reader, &broker, &topic, &partitions(n), StartAt::Beginning, expected.len());
        assert_eq!(all, expected, "{} reading what {} wrote", reader.name(), producer.name());
        let tail = from_offset(&expected, 7);
        let read = consume(reader, &broker, &topic, &partitions(n), StartAt::Offset(7), tail.len());
        assert_eq!(read, tail, "{} reading from offset 7", reader.name());
    }
}

#[test]
fn kcat_produces_with_every_acks_and_codec_and_every_client_reads_it_back() {
    every_acks_and_codec_from(Client::Kcat);
}

#[test]
fn confluent_kafka_produces_with_every_acks_and_codec_and_every_client_reads_it_back() {
    every_acks_and_codec_from(Client::ConfluentKafka);
}

#[test]
fn kafka_python_produces_with_every_acks_and_codec_and_every_client_reads_it_back() {
    every_acks_and_codec_from(Client::KafkaPython);
}

#[test]
fn idempotent_producers_from_kafka_python_defaults_and_librdkafka_append_in_order() {
    // Setup: a fresh broker and a one-partition topic.
    let broker = BrokerProcess::start();
    create_topic(&broker, "idempotent", 1, &[]);

    // kafka-python left at its defaults: idempotence on, acks=all (InitProducerId first).
    let out = run_python(
        "kp_produce.py",
        [
            "--bootstrap",
            &broker.bootstrap(),
            "--topic",
            "idempotent",
            "--partition",
            "0",
            "--idempotence",
            "default",
            "--key-prefix",
            "idempotent",
            "--value-prefix",
            "idempotent",
            "--count",
            "20",
        ],
        PROCESS_TIMEOUT,
    );
    out.assert_success();
    let json = out.json();
    assert_eq!(json["idempotence"], true, "{out}");
    assert_eq!(json["acks"], "-1", "{out}");
    let offsets: Vec<i64> = json["delivered"]
        .as_array()
        .expect("delivered")
        .iter()
        .map(|d| d["offset"].as_i64().expect("offset"))
        .collect();
    assert_eq!(offsets, (0..20).collect::<Vec<_>>(), "{out}");

    // A second idempotent producer (librdkafka, a new producer id) appends after it.
    let mut run = Produce::new("idempotent", 20).start(20);
    run.idempotence = true;
    assert_eq!(produce(Client::ConfluentKafka, &broker, &run), landed(0, 20, 20));

    let all = consume(Client::KafkaPython, &broker, "idempotent", &[0], StartAt::Beginning, 40);
    assert_eq!(all, generated(0, 0, "idempotent", 0, 40));
}

#[test]
fn list_offsets_finds_earliest_latest_and_the_first_offset_at_a_timestamp() {
    // Setup: a fresh broker and a one-partition topic with 20 records whose CreateTimes are
    // one second apart, starting a minute ago (recent, so that no retention applies).
    let broker = BrokerProcess::start();
    create_topic(&broker, "clock", 1, &[]);
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis();
    let base = i64::try_from(now_ms).expect("ms fit i64") - 60_000;
    let first = Produce::new("clock", 10).timestamps(base, 1000);
    let second = Produce::new("clock", 10).start(10).timestamps(base + 10_000, 1000);
    assert_eq!(produce(Client::ConfluentKafka, &broker, &first), landed(0, 0, 10));
    assert_eq!(produce(Client::KafkaPython, &broker, &second), landed(0, 10, 10));

    let offset = |spec| list_offsets(&broker, "clock", 0, spec).offset;
    assert_eq!(offset(OffsetSpec::Earliest), 0);
    assert_eq!(offset(OffsetSpec::Latest), 20);
    assert_eq!(offset(OffsetSpec::Timestamp(base)), 0);
    // Between two records: the first one at or after it.
    assert_eq!(
        list_offsets(&broker, "clock", 0, OffsetSpec::Timestamp(base + 5_500)),
        ListedOffset { offset: 6, timestamp: base + 6_000 }
    );
    assert_eq!(offset(OffsetSpec::Timestamp(base + 19_000)), 19);
    // After the last record: no such offset.
    assert_eq!(offset(OffsetSpec::Timestamp(base + 60_000)), -1);

    // kcat asks the same question with its own ListOffsets version.
    let q = run_kcat(
        ["-Q", "-J", "-b", &broker.bootstrap(), "-t", &format!("clock:0:{}", base + 12_000)],
        None,
        PROCESS_TIMEOUT,
    );
    q.assert_success();
    assert_eq!(q.json()["clock"]["0"]["offset"], 12, "{q}");

    // And the records carry the timestamps they were produced with.
    let read = consume(Client::ConfluentKafka, &broker, "clock", &[0], StartAt::Offset(12), 8);
    assert_eq!(read, generated(0, 12, "clock", 12, 8));
}

/// Three partitions written with acks=all, one per client and codec, 50 records each.
fn write_one_partition_per_client(broker: &BrokerProcess, topic: &str) -> Vec<Record> {
    let runs = [
        (Client::Kcat, Codec::Gzip),
        (Client::ConfluentKafka, Codec::Zstd),
        (Client::KafkaPython, Codec::Lz4),
    ];
    let mut expected = Vec::new();
    for (partition, (client, codec)) in (0..).zip(runs) {
        let run = Produce::new(topic, 50).partition(partition).codec(codec).prefix(client.name());
        assert_eq!(produce(client, broker, &run), landed(partition, 0, 50), "{run:?}");
        expected.extend(run.expected(0));
    }
    expected
}

/// Every client reads all three partitions back exactly; then each client appends 10 more
/// and they land at offsets 50..60, after what was there.
fn assert_all_there_and_appends_continue(broker: &BrokerProcess, topic: &str, expected: &[Record]) {
    for reader in Client::ALL {
        let read =
            consume(reader, broker, topic, &partitions(3), StartAt::Beginning, expected.len());
        assert_eq!(read, expected, "{} after the restart", reader.name());
    }
    for p in 0..3 {
        assert_eq!(list_offsets(broker, topic, p, OffsetSpec::Latest).offset, 50, "partition {p}");
    }
    for (partition, client) in (0..).zip(Client::ALL) {
        let run = Produce::new(topic, 10).partition(partition).start(50).prefix(client.name());
        assert_eq!(produce(client, broker, &run), landed(partition, 50, 10), "{run:?}");
        let read =
            consume(Client::ConfluentKafka, broker, topic, &[partition], StartAt::Offset(45), 15);
        assert_eq!(read, generated(partition, 45, client.name(), 45, 15));
    }
}

#[test]
fn a_clean_restart_keeps_every_record_and_appends_continue_after_them() {
    // Setup: a fresh broker, a 3-partition topic, 150 records acknowledged with acks=all.
    let mut broker = BrokerProcess::start();
    create_topic(&broker, "durable", 3, &[]);
    let expected = write_one_partition_per_client(&broker, "durable");

    // SIGTERM: the broker shuts down by itself, cleanly.
    let stopped = broker.stop();
    assert!(!stopped.needed_sigkill, "no exit within the stop timeout after SIGTERM: {stopped:?}");
    assert!(stopped.status.success(), "a clean shutdown exits 0: {stopped:?}");

    broker.restart();
    assert_all_there_and_appends_continue(&broker, "durable", &expected);
}

#[test]
fn a_kill_9_loses_no_record_acknowledged_with_acks_all() {
    // Setup: a fresh broker with Kafka's default flush policy (no fsync per write), a
    // 3-partition topic, 150 records acknowledged with acks=all. The process dies, the OS
    // (and its page cache) survives: every acknowledged record must be readable afterwards.
    let mut broker = BrokerProcess::start();
    create_topic(&broker, "crashy", 3, &[]);
    let expected = write_one_partition_per_client(&broker, "crashy");

    broker.kill9();
    broker.restart();
    assert_all_there_and_appends_continue(&broker, "crashy", &expected);

    // A second crash right after those appends: they survive too. Partition p now holds
    // records 0..60 of client p.
    broker.kill9();
    broker.restart();
    let all: Vec<Record> =
        (0..).zip(Client::ALL).flat_map(|(p, c)| generated(p, 0, c.name(), 0, 60)).collect();
    let read =
        consume(Client::Kcat, &broker, "crashy", &partitions(3), StartAt::Beginning, all.len());
    assert_eq!(read, all);
}

#[test]
fn producing_to_a_missing_topic_with_auto_create_off_fails_fast_instead_of_hanging() {
    // Setup: a broker that must not create topics on Metadata requests.
    let broker = BrokerProcess::start_with(&[("auto.create.topics.enable", "false")]);

    for client in ["confluent-kafka", "kafka-python"] {
        let out = run_python(
            "produce_missing_topic.py",
            [
                "--client",
                client,
                "--bootstrap",
                &broker.bootstrap(),
                "--topic",
                "nowhere",
                "--deadline",
                "20",
            ],
            PROCESS_TIMEOUT,
        );
        // Exit 1: the client reported an error (0 would be an ack, 2 a hang).
        assert_eq!(out.status.code(), Some(1), "{client} should fail with an error:\n{out}");
        assert!(out.elapsed < Duration::from_secs(20), "{client} took {:?}:\n{out}", out.elapsed);
        eprintln!("{client} on a missing topic: {}", out.json()["error"]);
    }

    // kcat too gives up with a non-zero exit status.
    let out = run_kcat(
        [
            "-P",
            "-b",
            &broker.bootstrap(),
            "-t",
            "nowhere",
            "-X",
            "topic.metadata.propagation.max.ms=3000",
            "-X",
            "message.timeout.ms=10000",
        ],
        Some("lost\n"),
        PROCESS_TIMEOUT,
    );
    assert!(!out.success(), "kcat should fail:\n{out}");
    assert!(out.elapsed < Duration::from_secs(20), "kcat took {:?}:\n{out}", out.elapsed);

    assert!(!list_topics(&broker).contains_key("nowhere"), "the topic was created anyway");
    assert!(kcat_topic_partitions(&broker, "nowhere").is_err());
}

#[test]
fn producing_to_a_missing_topic_with_auto_create_on_creates_it_with_num_partitions() {
    // Setup: a broker that creates unknown topics on Metadata requests, with 2 partitions.
    let broker = BrokerProcess::start_with(&[
        ("auto.create.topics.enable", "true"),
        ("num.partitions", "2"),
    ]);

    for client in Client::ALL {
        let topic = format!("appears-{}", client.name());
        let run = Produce::new(&topic, 5).acks(Acks::One);
        assert_eq!(produce(client, &broker, &run), landed(0, 0, 5), "{run:?}");
        assert_eq!(list_topics(&broker).get(&topic), Some(&2), "{topic}");
        let read = consume(Client::ConfluentKafka, &broker, &topic, &[0, 1], StartAt::Beginning, 5);
        assert_eq!(read, run.expected(0));
    }
}
