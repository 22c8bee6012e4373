//! ListOffsets: the log start, the high watermark, or the first offset at a time.
//!
//! Special timestamps (Kafka's): -2 earliest (log start), -1 latest (high watermark; the last
//! stable offset for read_committed, the same here until transactions exist), -3 the record
//! with the largest timestamp, -4 earliest local (= earliest, no tiered storage). A time with
//! no record at or after it answers offset -1, timestamp -1.

use super::{log_error_code, Broker};
use crate::protocol::ErrorCode;
use crate::storage::Storage;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

impl<S: Storage> Broker<S> {
    pub(super) fn handle_list_offsets(
        &self,
        version: i16,
        request: ListOffsetsRequest,
    ) -> ListOffsetsResponse {
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in request.topics {
            let name = topic.name.0.as_str();
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for asked in &topic.partitions {
                let response = ListOffsetsPartitionResponse::default()
                    .with_partition_index(asked.partition_index)
                    .with_timestamp(-1)
                    .with_offset(-1);
                let found: Result<(i64, i64, i32), ErrorCode> =
                    match self.leader_partition(name, asked.partition_index) {
                        Err(code) => Err(code),
                        Ok(partition)
                            if version >= 4
                                && asked.current_leader_epoch >= 0
                                && asked.current_leader_epoch != partition.leader_epoch().0 =>
                        {
                            Err(if asked.current_leader_epoch < partition.leader_epoch().0 {
                                ErrorCode::FencedLeaderEpoch
                            } else {
                                ErrorCode::UnknownLeaderEpoch
                            })
                        }
                        Ok(partition) => {
                            let epoch = partition.leader_epoch().0;
                            match asked.timestamp {
                                EARLIEST | EARLIEST_LOCAL => {
                                    Ok((partition.log_start_offset().0, -1, epoch))
                                }
                                LATEST => Ok((partition.high_watermark().0, -1, epoch)),
                                MAX_TIMESTAMP => partition
                                    .max_timestamp()
                                    .map(|f| f.map_or((-1, -1, -1), |(o, t)| (o.0, t, epoch)))
                                    .map_err(|e| log_error_code(&e)),
                                t if t >= 0 => partition
                                    .offset_for_timestamp(t)
                                    .map(|f| f.map_or((-1, -1, -1), |(o, t)| (o.0, t, epoch)))
                                    .map_err(|e| log_error_code(&e)),
                                _ => Err(ErrorCode::InvalidRequest),
                            }
                        }
                    };
                partitions.push(match found {
                    Ok((offset, timestamp, leader_epoch)) => {
                        let response = response.with_offset(offset).with_timestamp(timestamp);
                        if version >= 4 {
                            response.with_leader_epoch(leader_epoch)
                        } else {
                            response
                        }
                    }
                    Err(code) => response.with_error_code(code.code()),
                });
            }
            topics.push(
                ListOffsetsTopicResponse::default()
                    .with_name(topic.name)
                    .with_partitions(partitions),
            );
        }
        ListOffsetsResponse::default().with_topics(topics)
    }
}
