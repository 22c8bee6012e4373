//! The producer workload: unique values at a steady rate, each send recorded when its
//! delivery completes, with the topic, partition and offset the acknowledgement named.

use super::{is_definite_failure, planned_record, Recorder};
use crate::history::{OpKind, Outcome, TopicPartitionKey};
use crate::scenario::ProducerSpec;
use bytes::Bytes;
use odradek::client::{ClientConfig, Producer, ProducerConfig, ProducerRecord};
use std::time::Duration;
use tokio::sync::watch;

/// Runs one producer until `stop` turns true or its count is reached, then waits for the
/// deliveries still outstanding (bounded by the delivery timeout).
pub async fn run(
    spec: ProducerSpec,
    bootstrap: String,
    recorder: Recorder,
    mut stop: watch::Receiver<bool>,
) {
    tokio::time::sleep(Duration::from_millis(spec.start_ms)).await;
    let mut client = ClientConfig::new(&bootstrap);
    client.client_id = spec.id.clone();
    client.request_timeout_ms = spec.request_timeout_ms;
    client.metadata_max_age_ms = spec.metadata_max_age_ms;
    let config = ProducerConfig {
        max_block_ms: spec.max_block_ms,
        client,
        acks: spec.acks.as_i16(),
        linger_ms: spec.linger_ms,
        retries: spec.retries,
        delivery_timeout_ms: spec.delivery_timeout_ms,
        request_timeout_ms: spec.request_timeout_ms,
        max_in_flight_requests_per_connection: spec.max_in_flight as usize,
        ..ProducerConfig::default()
    };
    let producer = loop {
        match Producer::new(config.clone()).await {
            Ok(producer) => break producer,
            Err(error) => {
                recorder.trace(&spec.id, format!("cannot start: {error}"));
                if *stop.borrow() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // Sends follow an absolute schedule (send n at start + n/rate), several at once when the
    // schedule is behind: sleeping 1/rate after each send would cap the rate at 1,000/s,
    // since a (simulated) sleep lasts at least a millisecond.
    let period = Duration::from_secs_f64(1.0 / spec.rate_per_sec.max(0.001));
    let schedule_start = tokio::time::Instant::now();
    let mut deliveries = Vec::new();
    let mut sequence: u64 = 0;
    while !*stop.borrow() && spec.count.is_none_or(|count| sequence < count) {
        let planned = planned_record(&spec, sequence);
        let (name, key) = (planned.name, planned.key);
        let mut record = ProducerRecord::new(spec.topic.clone(), Bytes::from(planned.value));
        if let Some(key) = &key {
            record = record.with_key(Bytes::from(key.clone()));
        }
        if let Some(partition) = spec.partition {
            record = record.with_partition(partition);
        }
        for (header, value) in planned.headers {
            record = record.with_header(header, Some(Bytes::from(value)));
        }
        if let Some(timestamp_ms) = planned.timestamp_ms {
            record = record.with_timestamp_ms(timestamp_ms);
        }
        let invocation = recorder.invoke(&spec.id);
        recorder.count_sent();
        match producer.send(record).await {
            Ok(delivery) => {
                let recorder = recorder.clone();
                let process = spec.id.clone();
                deliveries.push(tokio::spawn(async move {
                    // Where the acknowledgement says the record is (seed claim P6).
                    let (partition, offset, outcome) = match delivery.await {
                        Ok(meta) => (
                            Some(TopicPartitionKey {
                                topic: meta.topic,
                                partition: meta.partition,
                            }),
                            (meta.offset >= 0).then_some(meta.offset),
                            Outcome::Ok,
                        ),
                        Err(error) if is_definite_failure(&error) => {
                            (None, None, Outcome::Fail { error: error.to_string() })
                        }
                        Err(error) => (None, None, Outcome::Info { error: error.to_string() }),
                    };
                    recorder.record(
                        &process,
                        None,
                        invocation,
                        OpKind::Send { partition, key, value: name, offset },
                        outcome,
                    );
                }));
            }
            Err(error) => {
                let outcome = Outcome::Fail { error: error.to_string() };
                recorder.record(
                    &spec.id,
                    None,
                    invocation,
                    OpKind::Send { partition: None, key, value: name, offset: None },
                    outcome,
                );
            }
        }
        sequence += 1;
        let next_at = schedule_start + period.mul_f64(sequence as f64);
        if next_at > tokio::time::Instant::now() {
            tokio::select! {
                biased;
                _ = stop.changed() => {}
                _ = tokio::time::sleep_until(next_at) => {}
            }
        }
    }
    for delivery in deliveries {
        let _ = delivery.await;
    }
    let _ = producer.close().await;
}
