//! Fetch: read batches up to the high watermark, or wait for them.
//!
//! A fetch is answered at once when it found `min_bytes`, hit an error, or may not wait
//! (`max_wait_ms` <= 0); otherwise it waits, in [`DelayedFetch`], until an append brings
//! enough bytes or its deadline passes. Batches are returned exactly as stored. The first
//! partition with data may exceed `max_bytes` by one batch (KIP-74) so consumers progress.
//! Fetch sessions (KIP-227) are not created: every response has session id 0, which tells
//! clients to send full fetches.
//!
//! A fetch naming a replica id (a follower, v < 15) reads up to the log end instead and goes
//! through [`crate::partition::Partition::handle_follower_fetch`]: its position may move the
//! high watermark (which completes waiting produces and fetches) and it may be answered with
//! a diverging epoch. Consumers may read only from the leader (NOT_LEADER_OR_FOLLOWER
//! elsewhere).

use super::{log_error_code, Broker, RequestToken};
use crate::partition::FollowerFetch;
use crate::protocol::ErrorCode;
use crate::storage::Storage;
use crate::types::Offset;
use bytes::Bytes;
use kafka_protocol::messages::fetch_response::EpochEndOffset;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ResponseKind};
use std::collections::BTreeSet;

/// A fetch waiting for data or for its deadline.
#[derive(Debug)]
pub struct DelayedFetch {
    pub token: RequestToken,
    pub deadline_ms: i64,
    version: i16,
    request: FetchRequest,
    /// The partitions it reads, by topic name (resolved once: v13+ names topics by id).
    reads: BTreeSet<(String, i32)>,
}

/// The topic a fetch names: by name before v13, by id from v13 on (followers only: clients
/// are offered v12 at most). `None`: an id the metadata does not know.
fn topic_name<S: Storage>(
    broker: &Broker<S>,
    version: i16,
    topic: &kafka_protocol::messages::fetch_request::FetchTopic,
) -> Option<String> {
    if version >= 13 {
        broker.metadata.image().topic_by_id(&topic.topic_id).map(|t| t.name.clone())
    } else {
        Some(topic.topic.0.to_string())
    }
}

/// A partition's answer before anything is known: no offsets (-1), no records.
fn unanswered(partition: i32) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(Bytes::new()))
}

/// The follower a fetch comes from, if it names one.
fn follower_id(version: i16, request: &FetchRequest) -> Option<i32> {
    let id = if version >= 15 { request.replica_state.replica_id.0 } else { request.replica_id.0 };
    (id >= 0).then_some(id)
}

impl DelayedFetch {
    fn reads_any(&self, touched: &BTreeSet<(String, i32)>) -> bool {
        !self.reads.is_disjoint(touched)
    }
}

/// What a read for a fetch found.
struct FetchRead {
    response: FetchResponse,
    bytes: usize,
    has_error: bool,
}

impl<S: Storage> Broker<S> {
    pub(super) fn handle_fetch(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        version: i16,
        request: FetchRequest,
    ) {
        if version >= 7 && request.session_id != 0 {
            // We never create sessions, so a client naming one is confused: make it start over.
            let response =
                FetchResponse::default().with_error_code(ErrorCode::FetchSessionIdNotFound.code());
            self.outputs
                .push_back(super::Output { token, response: Some(ResponseKind::Fetch(response)) });
            return;
        }
        let read = self.read(now_ms, version, &request);
        let min_bytes = request.min_bytes.max(1) as usize;
        if read.bytes >= min_bytes
            || read.has_error
            || request.max_wait_ms <= 0
            || request.topics.is_empty()
        {
            self.outputs.push_back(super::Output {
                token,
                response: Some(ResponseKind::Fetch(read.response)),
            });
            return;
        }
        let deadline_ms = now_ms.saturating_add(i64::from(request.max_wait_ms));
        let reads = request
            .topics
            .iter()
            .filter_map(|t| Some((topic_name(self, version, t)?, t)))
            .flat_map(|(name, t)| t.partitions.iter().map(move |p| (name.clone(), p.partition)))
            .collect();
        self.delayed_fetches.push(DelayedFetch { token, deadline_ms, version, request, reads });
    }

    /// Answers waiting fetches that are due: all whose deadline passed, and those reading a
    /// `touched` partition that now have enough bytes.
    pub(super) fn complete_delayed_fetches(
        &mut self,
        now_ms: i64,
        touched: Option<&BTreeSet<(String, i32)>>,
    ) {
        let waiting = std::mem::take(&mut self.delayed_fetches);
        for delayed in waiting {
            let expired = delayed.deadline_ms <= now_ms;
            if !expired && !touched.is_some_and(|t| delayed.reads_any(t)) {
                self.delayed_fetches.push(delayed);
                continue;
            }
            let read = self.read(now_ms, delayed.version, &delayed.request);
            let min_bytes = delayed.request.min_bytes.max(1) as usize;
            if expired || read.bytes >= min_bytes || read.has_error {
                self.outputs.push_back(super::Output {
                    token: delayed.token,
                    response: Some(ResponseKind::Fetch(read.response)),
                });
            } else {
                self.delayed_fetches.push(delayed);
            }
        }
    }

    /// Reads for a consumer, or for a follower (which records its position).
    fn read(&mut self, now_ms: i64, version: i16, request: &FetchRequest) -> FetchRead {
        match follower_id(version, request) {
            Some(replica_id) => self.read_for_follower(now_ms, version, replica_id, request),
            None => self.read_for_fetch(version, request),
        }
    }

    /// A follower's fetch: each partition's answer from its leader replica. High watermarks
    /// that moved complete the produces and fetches waiting on them.
    fn read_for_follower(
        &mut self,
        now_ms: i64,
        version: i16,
        replica_id: i32,
        request: &FetchRequest,
    ) -> FetchRead {
        let broker_epoch = if version >= 15 { request.replica_state.replica_epoch } else { -1 };
        let mut remaining = request.max_bytes.max(0) as usize;
        let (mut bytes, mut has_error) = (0, false);
        let mut moved = BTreeSet::new();
        let mut responses = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let name = topic_name(self, version, topic);
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for asked in &topic.partitions {
                let mut data = unanswered(asked.partition);
                let fetch = FollowerFetch {
                    replica_id,
                    replica_broker_epoch: broker_epoch,
                    fetch_offset: Offset(asked.fetch_offset),
                    last_fetched_epoch: asked.last_fetched_epoch,
                    current_leader_epoch: asked.current_leader_epoch,
                    log_start_offset: Offset(asked.log_start_offset),
                };
                let max_bytes = (asked.partition_max_bytes.max(0) as usize).min(remaining);
                let Some(name) = name.clone() else {
                    has_error = true;
                    partitions.push(data.with_error_code(ErrorCode::UnknownTopicId.code()));
                    continue;
                };
                let answer = match self.partition_mut(&name, asked.partition) {
                    None => Err(self.missing_partition_code(&name, asked.partition)),
                    Some(partition) => {
                        let before = partition.high_watermark();
                        let answer = partition
                            .handle_follower_fetch(now_ms, &fetch, max_bytes)
                            .map_err(|e| e.error_code());
                        if partition.high_watermark() != before {
                            moved.insert((name.clone(), asked.partition));
                        }
                        answer
                    }
                };
                match answer {
                    Ok(answer) => {
                        data = data
                            .with_high_watermark(answer.high_watermark.0)
                            .with_last_stable_offset(answer.high_watermark.0)
                            .with_log_start_offset(answer.log_start_offset.0);
                        if let Some((epoch, end_offset)) = answer.diverging_epoch {
                            // Answer at once: the follower must truncate before anything else.
                            has_error = true;
                            data = data.with_diverging_epoch(
                                EpochEndOffset::default()
                                    .with_epoch(epoch)
                                    .with_end_offset(end_offset),
                            );
                        }
                        bytes += answer.records.len();
                        remaining = remaining.saturating_sub(answer.records.len());
                        data = data.with_records(Some(answer.records));
                    }
                    Err(code) => {
                        has_error = true;
                        data = data.with_error_code(code.code());
                        // OFFSET_OUT_OF_RANGE: the follower restarts at the leader's log start.
                        if let Some(p) = self.partition(&name, asked.partition) {
                            data = data
                                .with_high_watermark(p.high_watermark().0)
                                .with_log_start_offset(p.log_start_offset().0);
                        }
                    }
                }
                partitions.push(data);
            }
            responses.push(
                FetchableTopicResponse::default()
                    .with_topic(topic.topic.clone())
                    .with_topic_id(topic.topic_id)
                    .with_partitions(partitions),
            );
        }
        if !moved.is_empty() {
            self.complete_delayed_fetches(now_ms, Some(&moved));
            self.complete_delayed_produces(now_ms);
        }
        FetchRead { response: FetchResponse::default().with_responses(responses), bytes, has_error }
    }

    fn read_for_fetch(&self, version: i16, request: &FetchRequest) -> FetchRead {
        let read_committed = version >= 4 && request.isolation_level == 1;
        let mut remaining =
            if version >= 3 { request.max_bytes.max(0) as usize } else { i32::MAX as usize };
        let mut min_one_batch = true;
        let mut bytes = 0;
        let mut has_error = false;
        let mut responses = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let name = topic_name(self, version, topic).unwrap_or_default();
            let name = name.as_str();
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for fetch in &topic.partitions {
                let mut data = unanswered(fetch.partition);
                let outcome = match self.leader_partition(name, fetch.partition) {
                    Err(code) => Err(code),
                    Ok(partition)
                        if version >= 9
                            && fetch.current_leader_epoch >= 0
                            && fetch.current_leader_epoch != partition.leader_epoch().0 =>
                    {
                        Err(if fetch.current_leader_epoch < partition.leader_epoch().0 {
                            ErrorCode::FencedLeaderEpoch
                        } else {
                            ErrorCode::UnknownLeaderEpoch
                        })
                    }
                    Ok(partition) => {
                        data = data
                            .with_high_watermark(partition.high_watermark().0)
                            .with_last_stable_offset(partition.high_watermark().0)
                            .with_log_start_offset(partition.log_start_offset().0);
                        let max_bytes = (fetch.partition_max_bytes.max(0) as usize).min(remaining);
                        match partition.read(
                            Offset(fetch.fetch_offset),
                            max_bytes,
                            min_one_batch && remaining > 0,
                        ) {
                            Ok(read) => Ok(read.records),
                            Err(error) => Err(log_error_code(&error)),
                        }
                    }
                };
                match outcome {
                    Ok(records) => {
                        if !records.is_empty() {
                            min_one_batch = false;
                        }
                        bytes += records.len();
                        remaining = remaining.saturating_sub(records.len());
                        data = data.with_records(Some(records));
                    }
                    Err(code) => {
                        has_error = true;
                        data = data.with_error_code(code.code());
                    }
                }
                if read_committed {
                    data = data.with_aborted_transactions(Some(Vec::new()));
                }
                partitions.push(data);
            }
            responses.push(
                FetchableTopicResponse::default()
                    .with_topic(topic.topic.clone())
                    .with_topic_id(topic.topic_id)
                    .with_partitions(partitions),
            );
        }
        FetchRead { response: FetchResponse::default().with_responses(responses), bytes, has_error }
    }
}
