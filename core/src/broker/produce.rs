//! Produce: append producers' batches to partition leaders.
//!
//! Per partition: INVALID_REQUIRED_ACKS, UNKNOWN_TOPIC_OR_PARTITION, INVALID_RECORD,
//! NOT_ENOUGH_REPLICAS, CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, KAFKA_STORAGE_ERROR, each with a
//! message (v8+).
//! acks=0 gets no response at all. An append may complete fetches waiting for data.
//! acks=all waits, in [`DelayedProduce`], until the high watermark passes the appended
//! records (the ISR has them) or `timeout_ms` passes (REQUEST_TIMED_OUT); a partition whose
//! ISR fell below `min.insync.replicas` meanwhile answers NOT_ENOUGH_REPLICAS_AFTER_APPEND.

use super::{log_error_code, str_bytes, Broker, Output, RequestToken};
use crate::config::TimestampType;
use crate::log::batch::LOG_OVERHEAD_BYTES;
use crate::partition::AppendError;
use crate::protocol::ErrorCode;
use crate::storage::Storage;
use crate::types::Offset;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use std::collections::BTreeSet;

/// An acks=all produce waiting for its records to reach the ISR.
#[derive(Debug)]
pub struct DelayedProduce {
    pub token: RequestToken,
    pub deadline_ms: i64,
    version: i16,
    response: ProduceResponse,
    /// (topic index, partition index in the response, topic, partition, last offset).
    waiting: Vec<(usize, usize, String, i32, Offset)>,
}

impl<S: Storage> Broker<S> {
    pub(super) fn handle_produce(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        version: i16,
        request: ProduceRequest,
    ) {
        let acks = request.acks;
        let timeout_ms = request.timeout_ms;
        let mut waiting = Vec::new();
        let transactional = request.transactional_id.is_some();
        let mut touched = BTreeSet::new();
        let mut responses = Vec::with_capacity(request.topic_data.len());
        for (topic_index, topic) in request.topic_data.into_iter().enumerate() {
            let name = topic.name.0.to_string();
            let mut partition_responses = Vec::with_capacity(topic.partition_data.len());
            for data in topic.partition_data {
                let index = data.index;
                let result: Result<(i64, i64, i64, Offset), (ErrorCode, String)> = (|| {
                    if !matches!(acks, -1..=1) {
                        return Err((
                            ErrorCode::InvalidRequiredAcks,
                            format!("acks must be -1, 0 or 1, not {acks}"),
                        ));
                    }
                    if transactional {
                        return Err((
                            ErrorCode::InvalidRequest,
                            "transactions are not supported yet".into(),
                        ));
                    }
                    let records = data
                        .records
                        .ok_or((ErrorCode::CorruptMessage, "no records".to_string()))?;
                    let partition = self.leader_partition_mut(&name, index).map_err(|code| {
                        let why = match code {
                            ErrorCode::NotLeaderOrFollower => "this broker does not lead",
                            _ => "no partition",
                        };
                        (code, format!("{why} {name}-{index}"))
                    })?;
                    one_batch_v2(version, &records)?;
                    let info =
                        partition.append_as_leader(&records, acks, now_ms).map_err(
                            |e| match &e {
                                AppendError::NotEnoughReplicas { .. } => {
                                    (ErrorCode::NotEnoughReplicas, e.to_string())
                                }
                                AppendError::Log(log) => (log_error_code(log), e.to_string()),
                                other => (other.error_code(), e.to_string()),
                            },
                        )?;
                    let log_append_time_ms = match partition_timestamp_type(partition) {
                        TimestampType::CreateTime => -1,
                        TimestampType::LogAppendTime => now_ms,
                    };
                    Ok((
                        info.first_offset.0,
                        log_append_time_ms,
                        partition.log_start_offset().0,
                        info.last_offset,
                    ))
                })(
                );
                let response = PartitionProduceResponse::default().with_index(index);
                let response = match result {
                    Ok((base_offset, log_append_time_ms, log_start_offset, last_offset)) => {
                        touched.insert((name.clone(), index));
                        if acks == -1 {
                            let at = partition_responses.len();
                            waiting.push((topic_index, at, name.clone(), index, last_offset));
                        }
                        response
                            .with_base_offset(base_offset)
                            .with_log_append_time_ms(log_append_time_ms)
                            .with_log_start_offset(log_start_offset)
                    }
                    Err((code, message)) => {
                        tracing::debug!(topic = %name, partition = index, ?code, %message, "produce refused");
                        let response = response
                            .with_error_code(code.code())
                            .with_base_offset(-1)
                            .with_log_start_offset(-1);
                        if version >= 8 {
                            response.with_error_message(Some(str_bytes(message)))
                        } else {
                            response
                        }
                    }
                };
                partition_responses.push(response);
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(topic.name)
                    .with_partition_responses(partition_responses),
            );
        }
        if !touched.is_empty() {
            self.complete_delayed_fetches(now_ms, Some(&touched));
        }
        if acks == 0 {
            self.outputs.push_back(Output { token, response: None });
            return;
        }
        let response = ProduceResponse::default().with_responses(responses);
        let deadline_ms = now_ms.saturating_add(i64::from(timeout_ms.max(0)));
        let delayed = DelayedProduce { token, deadline_ms, version, response, waiting };
        if let Some(done) = self.try_complete_produce(now_ms, delayed) {
            self.delayed_produces.push(done);
        }
    }

    /// Answers every waiting acks=all produce that is complete, failed or expired.
    pub(super) fn complete_delayed_produces(&mut self, now_ms: i64) {
        for delayed in std::mem::take(&mut self.delayed_produces) {
            if let Some(still) = self.try_complete_produce(now_ms, delayed) {
                self.delayed_produces.push(still);
            }
        }
    }

    /// Settles what can be settled of `delayed`; answers it when nothing waits any more,
    /// else gives it back.
    fn try_complete_produce(
        &mut self,
        now_ms: i64,
        mut delayed: DelayedProduce,
    ) -> Option<DelayedProduce> {
        let expired = now_ms >= delayed.deadline_ms;
        let version = delayed.version;
        let mut still = Vec::new();
        for (topic_at, partition_at, name, index, last_offset) in delayed.waiting {
            let status = match self.partition(&name, index) {
                Some(partition) => partition.acks_all_status(last_offset),
                None => Err(AppendError::NotLeaderOrFollower),
            };
            let refusal = match status {
                Ok(true) => None,
                Ok(false) if !expired => {
                    still.push((topic_at, partition_at, name, index, last_offset));
                    None
                }
                Ok(false) => Some((
                    ErrorCode::RequestTimedOut,
                    format!("the ISR did not reach offset {last_offset} in time"),
                )),
                Err(error) => Some((error.error_code(), error.to_string())),
            };
            if let Some((code, message)) = refusal {
                let slot =
                    &mut delayed.response.responses[topic_at].partition_responses[partition_at];
                slot.error_code = code.code();
                if version >= 8 {
                    slot.error_message = Some(str_bytes(message));
                }
            }
        }
        delayed.waiting = still;
        if !delayed.waiting.is_empty() {
            return Some(delayed);
        }
        self.outputs.push_back(Output {
            token: delayed.token,
            response: Some(ResponseKind::Produce(delayed.response)),
        });
        None
    }
}

fn partition_timestamp_type<S: Storage>(
    partition: &crate::partition::Partition<S>,
) -> TimestampType {
    partition.settings().message_timestamp_type
}

/// Kafka's `ProduceRequest.validateRecords` (v3+): a partition's records are exactly one whole
/// RecordBatch v2. No whole batch, a batch of another magic, or a second batch is
/// INVALID_RECORD (an `InvalidRecordException` since KIP-467), which odradek answered with
/// CORRUPT_MESSAGE before; a length too small for any batch is CORRUPT_MESSAGE, as Kafka's
/// batch iterator says. What the batch holds (CRC, sizes, counts) the log validates next.
fn one_batch_v2(version: i16, records: &[u8]) -> Result<(), (ErrorCode, String)> {
    /// Kafka's `LegacyRecord.RECORD_OVERHEAD_V0`: the smallest length of anything batch-like.
    const MIN_RECORD_OVERHEAD: i32 = 14;
    /// Bytes up to and including the magic byte.
    const HEADER_UP_TO_MAGIC: usize = 17;
    let invalid = |what: &str| {
        Err((ErrorCode::InvalidRecord, format!("Produce requests with version {version} {what}")))
    };
    // The size of the whole batch at `rest`'s start, or `None` when there is none.
    let whole_batch = |rest: &[u8]| -> Result<Option<usize>, (ErrorCode, String)> {
        if rest.len() < HEADER_UP_TO_MAGIC {
            return Ok(None);
        }
        let length = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
        if length < MIN_RECORD_OVERHEAD {
            return Err((
                ErrorCode::CorruptMessage,
                format!(
                    "Record size {length} is less than the minimum record overhead \
                     ({MIN_RECORD_OVERHEAD})"
                ),
            ));
        }
        let size = LOG_OVERHEAD_BYTES + length as usize;
        Ok((rest.len() >= size).then_some(size))
    };
    let Some(size) = whole_batch(records)? else {
        return invalid("must have at least one record batch per partition");
    };
    if records[16] != 2 {
        return invalid("are only allowed to contain record batches with magic version 2");
    }
    if whole_batch(&records[size..])?.is_some() {
        return invalid("are only allowed to contain exactly one record batch per partition");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::tests::batch;

    #[test]
    fn one_whole_v2_batch_passes_and_anything_else_is_invalid_record() {
        let one = batch(2, 0).to_vec();
        assert_eq!(one_batch_v2(9, &one), Ok(()));
        let code = |records: &[u8]| one_batch_v2(9, records).map_err(|(code, _)| code);
        assert_eq!(code(&[]), Err(ErrorCode::InvalidRecord), "no batch");
        assert_eq!(code(&one[..one.len() - 1]), Err(ErrorCode::InvalidRecord), "no whole batch");
        let mut magic_1 = one.clone();
        magic_1[16] = 1;
        let (code_1, message) = one_batch_v2(9, &magic_1).unwrap_err();
        assert_eq!(code_1, ErrorCode::InvalidRecord);
        assert!(message.contains("magic version 2"), "{message}");
        let mut two = one.clone();
        two.extend_from_slice(&one);
        assert_eq!(code(&two), Err(ErrorCode::InvalidRecord), "two batches");
        let mut tiny = one.clone();
        tiny[8..12].copy_from_slice(&3i32.to_be_bytes());
        assert_eq!(code(&tiny), Err(ErrorCode::CorruptMessage), "a length below any batch");
        // Trailing bytes that are not a whole batch are the log's to refuse, not this check's.
        let mut trailing = one.clone();
        trailing.extend_from_slice(&[0; 5]);
        assert_eq!(one_batch_v2(9, &trailing), Ok(()));
    }
}
