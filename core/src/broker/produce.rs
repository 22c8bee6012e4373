//! Produce: append producers' batches to partition leaders.
//!
//! Per partition: INVALID_REQUIRED_ACKS, UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS,
//! CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, KAFKA_STORAGE_ERROR, each with a message (v8+).
//! acks=0 gets no response at all. An append may complete fetches waiting for data.

use super::{log_error_code, str_bytes, Broker};
use crate::config::TimestampType;
use crate::partition::AppendError;
use crate::protocol::ErrorCode;
use crate::storage::Storage;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use std::collections::BTreeSet;

impl<S: Storage> Broker<S> {
    pub(super) fn handle_produce(
        &mut self,
        now_ms: i64,
        version: i16,
        request: ProduceRequest,
    ) -> Option<ProduceResponse> {
        let acks = request.acks;
        let transactional = request.transactional_id.is_some();
        let mut touched = BTreeSet::new();
        let mut responses = Vec::with_capacity(request.topic_data.len());
        for topic in request.topic_data {
            let name = topic.name.0.to_string();
            let mut partition_responses = Vec::with_capacity(topic.partition_data.len());
            for data in topic.partition_data {
                let index = data.index;
                let result: Result<(i64, i64, i64), (ErrorCode, String)> = (|| {
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
                    let partition = self.partition_mut(&name, index).ok_or((
                        ErrorCode::UnknownTopicOrPartition,
                        format!("no partition {name}-{index}"),
                    ))?;
                    let info =
                        partition.append_as_leader(&records, acks, now_ms).map_err(
                            |e| match &e {
                                AppendError::NotEnoughReplicas { .. } => {
                                    (ErrorCode::NotEnoughReplicas, e.to_string())
                                }
                                AppendError::Log(log) => (log_error_code(log), e.to_string()),
                            },
                        )?;
                    let log_append_time_ms = match partition_timestamp_type(partition) {
                        TimestampType::CreateTime => -1,
                        TimestampType::LogAppendTime => now_ms,
                    };
                    Ok((info.first_offset.0, log_append_time_ms, partition.log_start_offset().0))
                })();
                let response = PartitionProduceResponse::default().with_index(index);
                let response = match result {
                    Ok((base_offset, log_append_time_ms, log_start_offset)) => {
                        touched.insert((name.clone(), index));
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
        (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
    }
}

fn partition_timestamp_type<S: Storage>(
    partition: &crate::partition::Partition<S>,
) -> TimestampType {
    partition.settings().message_timestamp_type
}
