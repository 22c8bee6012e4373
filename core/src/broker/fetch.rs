//! Fetch: read batches up to the high watermark, or wait for them.
//!
//! A fetch is answered at once when it found `min_bytes`, hit an error, or may not wait
//! (`max_wait_ms` <= 0); otherwise it waits, in [`DelayedFetch`], until an append brings
//! enough bytes or its deadline passes. Batches are returned exactly as stored. The first
//! partition with data may exceed `max_bytes` by one batch (KIP-74) so consumers progress.
//! Fetch sessions (KIP-227) are not created: every response has session id 0, which tells
//! clients to send full fetches.

use super::{log_error_code, Broker, RequestToken};
use crate::protocol::ErrorCode;
use crate::storage::Storage;
use crate::types::Offset;
use bytes::Bytes;
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
}

impl DelayedFetch {
    fn reads_any(&self, touched: &BTreeSet<(String, i32)>) -> bool {
        self.request.topics.iter().any(|t| {
            t.partitions.iter().any(|p| touched.contains(&(t.topic.0.to_string(), p.partition)))
        })
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
        let read = self.read_for_fetch(version, &request);
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
        self.delayed_fetches.push(DelayedFetch { token, deadline_ms, version, request });
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
            let read = self.read_for_fetch(delayed.version, &delayed.request);
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

    fn read_for_fetch(&self, version: i16, request: &FetchRequest) -> FetchRead {
        let read_committed = version >= 4 && request.isolation_level == 1;
        let mut remaining =
            if version >= 3 { request.max_bytes.max(0) as usize } else { i32::MAX as usize };
        let mut min_one_batch = true;
        let mut bytes = 0;
        let mut has_error = false;
        let mut responses = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let name = topic.topic.0.as_str();
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for fetch in &topic.partitions {
                let mut data = PartitionData::default()
                    .with_partition_index(fetch.partition)
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_log_start_offset(-1)
                    .with_records(Some(Bytes::new()));
                let outcome = match self.partition(name, fetch.partition) {
                    None => Err(ErrorCode::UnknownTopicOrPartition),
                    Some(partition)
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
                    Some(partition) => {
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
                    .with_partitions(partitions),
            );
        }
        FetchRead { response: FetchResponse::default().with_responses(responses), bytes, has_error }
    }
}
