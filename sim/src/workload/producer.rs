//! The producer workload: unique values at a steady rate, each send recorded when its
//! delivery completes.

use super::{is_definite_failure, Recorder};
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
    let config = ProducerConfig {
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
        let name = format!("{}-{sequence:06}", spec.id);
        let mut value = format!("{name}|");
        value.extend(std::iter::repeat_n('.', spec.payload_bytes.saturating_sub(value.len())));
        let key = spec.keys.map(|keys| format!("k{}", sequence % u64::from(keys.max(1))));
        let mut record = ProducerRecord::new(spec.topic.clone(), Bytes::from(value));
        if let Some(key) = &key {
            record = record.with_key(Bytes::from(key.clone()));
        }
        if let Some(partition) = spec.partition {
            record = record.with_partition(partition);
        }
        let invoke_ms = recorder.now_ms();
        recorder.count_sent();
        match producer.send(record).await {
            Ok(delivery) => {
                let recorder = recorder.clone();
                let (process, topic) = (spec.id.clone(), spec.topic.clone());
                deliveries.push(tokio::spawn(async move {
                    let (partition, offset, outcome) = match delivery.await {
                        Ok(meta) => (
                            Some(meta.partition),
                            (meta.offset >= 0).then_some(meta.offset),
                            Outcome::Ok,
                        ),
                        Err(error) if is_definite_failure(&error) => {
                            (None, None, Outcome::Fail { error: error.to_string() })
                        }
                        Err(error) => (None, None, Outcome::Info { error: error.to_string() }),
                    };
                    let partition =
                        partition.map(|partition| TopicPartitionKey { topic, partition });
                    recorder.record(
                        &process,
                        None,
                        invoke_ms,
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
                    invoke_ms,
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
