//! The consumer workloads: a consumer that assigns itself partitions, polls, and seeks when a
//! step tells it to; and the liveness phase's final reader that reads every partition from
//! its start to its end. Every record read is recorded with its key, headers, timestamp and
//! size, for `records-intact`.

use super::{value_name, Recorder};
use crate::history::{OpKind, Outcome, Read, RecordContent, TopicPartitionKey};
use crate::scenario::{ConsumerMode, ConsumerSpec, OffsetReset, SeekTo, StartPosition};
use odradek::client::{
    Admin, AutoOffsetReset, ClientConfig, Consumer, ConsumerConfig, ConsumerRecord, ErrorCode,
};
use odradek::TopicPartition;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What a step asks a running consumer to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumerCommand {
    /// Seek one assigned partition, or all of them.
    Seek { partition: Option<i32>, to: SeekTo },
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn reads(records: &[ConsumerRecord]) -> Vec<Read> {
    records
        .iter()
        .map(|r| Read {
            partition: TopicPartitionKey { topic: r.topic.clone(), partition: r.partition },
            offset: r.offset,
            value: r.value.as_deref().map(value_name).unwrap_or_default(),
            content: Some(RecordContent {
                key: r.key.as_deref().map(text),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_deref().map(text)))
                    .collect(),
                timestamp_ms: r.timestamp_ms,
                value_bytes: r.value.as_ref().map_or(0, |v| v.len() as u64),
            }),
        })
        .collect()
}

fn consumer_config(
    bootstrap: &str,
    client_id: &str,
    reset: OffsetReset,
    max_poll_records: u32,
) -> ConsumerConfig {
    let mut client = ClientConfig::new(bootstrap);
    client.client_id = client_id.to_string();
    // Consumers read what exists; only producers may make a broker auto-create a topic.
    client.allow_auto_create_topics = false;
    ConsumerConfig {
        client,
        auto_offset_reset: match reset {
            OffsetReset::Earliest => AutoOffsetReset::Earliest,
            OffsetReset::Latest => AutoOffsetReset::Latest,
            OffsetReset::None => AutoOffsetReset::None,
        },
        max_poll_records: max_poll_records as usize,
        ..ConsumerConfig::default()
    }
}

/// Runs one consumer until `stop` turns true, carrying out `commands` between polls.
pub async fn run(
    spec: ConsumerSpec,
    bootstrap: String,
    recorder: Recorder,
    stop: watch::Receiver<bool>,
    mut commands: mpsc::UnboundedReceiver<ConsumerCommand>,
) {
    tokio::time::sleep(Duration::from_millis(spec.start_ms)).await;
    let ConsumerMode::Assign(partitions) = &spec.mode else {
        unreachable!("the runner refuses group consumers before starting workloads");
    };
    let group = Some(spec.id.clone());
    let tps: Vec<TopicPartition> =
        partitions.iter().map(|&p| TopicPartition::new(spec.topic.clone(), p)).collect();
    let mut consumer = loop {
        match Consumer::new(consumer_config(
            &bootstrap,
            &spec.id,
            spec.auto_offset_reset,
            spec.max_poll_records,
        )) {
            Ok(consumer) => break consumer,
            Err(error) => {
                recorder.trace(&spec.id, format!("cannot start: {error}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    consumer.assign(tps.clone());
    let invocation = recorder.invoke(&spec.id);
    // Position every partition as the spec says, retrying while brokers are unreachable.
    loop {
        let positioned = match spec.start {
            StartPosition::Earliest | StartPosition::Committed => {
                consumer.seek_to_beginning(&tps).await
            }
            StartPosition::Latest => consumer.seek_to_end(&tps).await,
            StartPosition::Offset(offset) => {
                tps.iter().try_for_each(|tp| consumer.seek(tp, offset))
            }
        };
        match positioned {
            Ok(()) => break,
            Err(error) => {
                recorder.trace(&spec.id, format!("cannot position: {error}"));
                if *stop.borrow() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let mut positions = BTreeMap::new();
    for tp in &tps {
        if let Ok(position) = consumer.position(tp).await {
            positions.insert(TopicPartitionKey::from(tp), position);
        }
    }
    let partitions = tps.iter().map(TopicPartitionKey::from).collect();
    recorder.record(
        &spec.id,
        group.clone(),
        invocation,
        OpKind::Assign { partitions, positions },
        Outcome::Ok,
    );
    while !*stop.borrow() {
        while let Ok(command) = commands.try_recv() {
            let ConsumerCommand::Seek { partition, to } = command;
            seek(&mut consumer, &spec, &tps, partition, to, &recorder).await;
        }
        let invocation = recorder.invoke(&spec.id);
        let polled = consumer.poll(Duration::from_millis(spec.poll_timeout_ms)).await;
        if polled.is_ok() {
            record_high_watermarks(&spec.id, &consumer, &tps, &recorder);
        }
        match polled {
            Ok(records) if records.is_empty() => {}
            Ok(records) => recorder.record(
                &spec.id,
                group.clone(),
                invocation,
                OpKind::Poll { reads: reads(&records) },
                Outcome::Ok,
            ),
            Err(error) => {
                recorder.trace(&spec.id, format!("poll failed: {error}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    consumer.close();
}

/// The high watermarks the consumer's fetches were answered, for `client-hw-monotonic`.
fn record_high_watermarks(
    process: &str,
    consumer: &Consumer,
    tps: &[TopicPartition],
    recorder: &Recorder,
) {
    for tp in tps {
        if let Some(high_watermark) = consumer.high_watermark(tp) {
            recorder.record_client_hw(process, TopicPartitionKey::from(tp), high_watermark);
        }
    }
}

/// Seeks `partition` (or every assigned partition) and records the new positions as an
/// assign op, so the checker expects the next poll there rather than after the last read.
async fn seek(
    consumer: &mut Consumer,
    spec: &ConsumerSpec,
    assigned: &[TopicPartition],
    partition: Option<i32>,
    to: SeekTo,
    recorder: &Recorder,
) {
    let invocation = recorder.invoke(&spec.id);
    let targets: Vec<TopicPartition> = assigned
        .iter()
        .filter(|tp| partition.is_none_or(|p| tp.partition.0 == p))
        .cloned()
        .collect();
    let sought = match to {
        SeekTo::Earliest => consumer.seek_to_beginning(&targets).await,
        SeekTo::Latest => consumer.seek_to_end(&targets).await,
        SeekTo::Offset(offset) => targets.iter().try_for_each(|tp| consumer.seek(tp, offset)),
    };
    if let Err(error) = sought {
        recorder.trace(&spec.id, format!("seek {to:?} failed: {error}"));
        return;
    }
    let mut positions = BTreeMap::new();
    for tp in &targets {
        if let Ok(position) = consumer.position(tp).await {
            positions.insert(TopicPartitionKey::from(tp), position);
        }
    }
    recorder.trace(&spec.id, format!("seek {to:?}"));
    recorder.record(
        &spec.id,
        Some(spec.id.clone()),
        invocation,
        OpKind::Assign {
            partitions: assigned.iter().map(TopicPartitionKey::from).collect(),
            positions,
        },
        Outcome::Ok,
    );
}

/// The partitions of `topics` that exist now, as the cluster's metadata says: topics added
/// to (create-partitions) are read whole, and topics never created are skipped. Retries
/// until the brokers answer or `deadline_ms` passes.
pub async fn existing_partitions(
    topics: Vec<String>,
    bootstrap: String,
    recorder: Recorder,
    deadline_ms: u64,
) -> Result<Vec<TopicPartition>, String> {
    let mut last_error = String::from("never asked");
    while recorder.now_ms() < deadline_ms {
        let attempt = async {
            let admin = Admin::new(ClientConfig::new(&bootstrap)).map_err(|e| e.to_string())?;
            let described =
                admin.describe_topics(topics.clone()).await.map_err(|e| e.to_string())?;
            admin.close();
            let mut partitions = Vec::new();
            for (name, description) in described {
                match description {
                    Ok(description) => partitions.extend(
                        description
                            .partitions
                            .iter()
                            .map(|p| TopicPartition::new(name.clone(), p.partition)),
                    ),
                    Err(error) if error.code() == Some(ErrorCode::UnknownTopicOrPartition) => {
                        recorder.trace("final", format!("topic {name} does not exist: skipped"));
                    }
                    Err(error) => return Err(format!("topic {name}: {error}")),
                }
            }
            partitions.sort();
            Ok(partitions)
        };
        match attempt.await {
            Ok(partitions) => return Ok(partitions),
            Err(error) => last_error = error,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last_error)
}

/// Reads every listed partition from its log start to the end offset it has when the
/// reader starts, recording polls as process `final` (`final-2`, ... for retries). Returns the partitions it could not
/// finish before `deadline_ms`.
pub async fn read_to_end(
    partitions: Vec<TopicPartition>,
    bootstrap: String,
    recorder: Recorder,
    deadline_ms: u64,
) -> Vec<(TopicPartition, String)> {
    let mut unfinished = Vec::new();
    for tp in partitions {
        let outcome = read_partition_to_end(&tp, &bootstrap, &recorder, deadline_ms).await;
        if let Err(why) = outcome {
            unfinished.push((tp, why));
        }
    }
    unfinished
}

async fn read_partition_to_end(
    tp: &TopicPartition,
    bootstrap: &str,
    recorder: &Recorder,
    deadline_ms: u64,
) -> Result<(), String> {
    let mut last_error = String::from("never started");
    let mut attempt_number = 0;
    while recorder.now_ms() < deadline_ms {
        attempt_number += 1;
        // Each attempt reads from the start again: a process of its own, so the checker
        // does not take the restart for a consumer going backwards.
        let process = if attempt_number == 1 {
            "final".to_string()
        } else {
            format!("final-{attempt_number}")
        };
        let process = process.as_str();
        let attempt = async {
            // No reset: if retention moves the log start past the position mid-read, the
            // fetch fails and the read starts over from the new start, with no gap.
            let mut consumer =
                Consumer::new(consumer_config(bootstrap, "final", OffsetReset::None, 500))
                    .map_err(|e| e.to_string())?;
            consumer.assign(vec![tp.clone()]);
            consumer.seek_to_end(std::slice::from_ref(tp)).await.map_err(|e| e.to_string())?;
            let end = consumer.position(tp).await.map_err(|e| e.to_string())?;
            consumer
                .seek_to_beginning(std::slice::from_ref(tp))
                .await
                .map_err(|e| e.to_string())?;
            let invocation = recorder.invoke(process);
            let start = consumer.position(tp).await.map_err(|e| e.to_string())?;
            let key = TopicPartitionKey::from(tp);
            recorder.record(
                process,
                None,
                invocation,
                OpKind::Assign {
                    partitions: vec![key.clone()],
                    positions: BTreeMap::from([(key, start)]),
                },
                Outcome::Ok,
            );
            let mut position = start;
            while position < end {
                if recorder.now_ms() >= deadline_ms {
                    return Err(format!("reached offset {position} of {end} by the deadline"));
                }
                let invocation = recorder.invoke(process);
                let records =
                    consumer.poll(Duration::from_millis(200)).await.map_err(|e| e.to_string())?;
                record_high_watermarks(process, &consumer, std::slice::from_ref(tp), recorder);
                if let Some(first) = records.first().filter(|r| r.offset != position) {
                    return Err(format!(
                        "asked for offset {position}, got {} first: reading again",
                        first.offset
                    ));
                }
                if let Some(last) = records.last() {
                    position = last.offset + 1;
                    recorder.record(
                        process,
                        None,
                        invocation,
                        OpKind::Poll { reads: reads(&records) },
                        Outcome::Ok,
                    );
                }
            }
            consumer.close();
            Ok(())
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(error) => {
                last_error = error;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Err(last_error)
}
