//! AlterPartition (v2–v3): a partition leader asks to shrink or expand its ISR.
//!
//! Inputs: the request, the scratch image. Outputs: one `Partition` record per accepted
//! change, and per partition the state the leader must adopt. Checks, in order: the
//! requester's broker epoch (top level, STALE_BROKER_EPOCH); per partition the topic id
//! (UNKNOWN_TOPIC_ID), the partition (UNKNOWN_TOPIC_OR_PARTITION), the leader epoch
//! (FENCED_LEADER_EPOCH), that the requester leads (NOT_LEADER_OR_FOLLOWER), the partition
//! epoch (INVALID_UPDATE_VERSION), the shape of the ISR (INVALID_REQUEST), and that every
//! member may be in an ISR (INELIGIBLE_REPLICA): registered, unfenced, not shutting down
//! and — KIP-903, v3 — in the broker epoch the leader saw it fetch with, unless
//! `historical.no_broker_epoch_fencing`.

use super::partition_change::{is_eligible, partition_record, settle, topic_settings, Rules};
use super::{QuorumController, Scratch};
use crate::protocol::ErrorCode;
use kafka_protocol::messages::alter_partition_response::{
    PartitionData as PartitionResult, TopicData as TopicResult,
};
use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse, BrokerId};
use std::collections::BTreeSet;

impl QuorumController {
    pub(super) fn alter_partition(
        &mut self,
        scratch: &mut Scratch<'_>,
        request: &AlterPartitionRequest,
        api_version: i16,
    ) -> AlterPartitionResponse {
        let requester = request.broker_id.0;
        let registered = scratch.image().broker(requester);
        if registered.is_none_or(|b| b.broker_epoch != request.broker_epoch) {
            return AlterPartitionResponse::default()
                .with_error_code(ErrorCode::StaleBrokerEpoch.code());
        }
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for data in &topic.partitions {
                // (broker id, broker epoch or -1 when the request carries none)
                let new_isr: Vec<(i32, i64)> = if api_version >= 3 {
                    data.new_isr_with_epochs
                        .iter()
                        .map(|s| (s.broker_id.0, s.broker_epoch))
                        .collect()
                } else {
                    data.new_isr.iter().map(|b| (b.0, -1)).collect()
                };
                let result = match self.alter_one(
                    scratch,
                    requester,
                    topic.topic_id,
                    data.partition_index,
                    data.leader_epoch,
                    data.partition_epoch,
                    data.leader_recovery_state,
                    &new_isr,
                ) {
                    Ok(result) => result,
                    Err(code) => {
                        tracing::debug!(
                            broker = requester,
                            topic_id = %topic.topic_id,
                            partition = data.partition_index,
                            ?code,
                            "AlterPartition refused"
                        );
                        PartitionResult::default()
                            .with_partition_index(data.partition_index)
                            .with_error_code(code.code())
                            .with_leader_id(BrokerId(-1))
                            .with_leader_epoch(-1)
                    }
                };
                partitions.push(result);
            }
            topics.push(
                TopicResult::default().with_topic_id(topic.topic_id).with_partitions(partitions),
            );
        }
        AlterPartitionResponse::default().with_topics(topics)
    }

    #[allow(clippy::too_many_arguments)]
    fn alter_one(
        &self,
        scratch: &mut Scratch<'_>,
        requester: i32,
        topic_id: uuid::Uuid,
        index: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        leader_recovery_state: i8,
        new_isr: &[(i32, i64)],
    ) -> Result<PartitionResult, ErrorCode> {
        let image = scratch.image();
        let topic = image.topic_by_id(&topic_id).ok_or(ErrorCode::UnknownTopicId)?;
        let old = topic.partitions.get(&index).ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if leader_epoch != old.leader_epoch {
            return Err(ErrorCode::FencedLeaderEpoch);
        }
        if old.leader != requester {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if partition_epoch != old.partition_epoch {
            return Err(ErrorCode::InvalidUpdateVersion);
        }
        if !(0..=1).contains(&leader_recovery_state) {
            return Err(ErrorCode::InvalidRequest);
        }
        let ids: Vec<i32> = new_isr.iter().map(|(id, _)| *id).collect();
        let distinct: BTreeSet<i32> = ids.iter().copied().collect();
        if ids.is_empty()
            || distinct.len() != ids.len()
            || !ids.contains(&requester)
            || !ids.iter().all(|r| old.replicas.contains(r))
        {
            return Err(ErrorCode::InvalidRequest);
        }
        let check_epochs = !self.config.historical.no_broker_epoch_fencing;
        for &(id, broker_epoch) in new_isr {
            let epoch_ok = !check_epochs
                || broker_epoch == -1
                || image.broker(id).is_some_and(|b| b.broker_epoch == broker_epoch);
            if !is_eligible(image, id) || !epoch_ok {
                tracing::info!(
                    broker = requester,
                    replica = id,
                    broker_epoch,
                    "AlterPartition names an ineligible replica"
                );
                return Err(ErrorCode::IneligibleReplica);
            }
        }
        let rules =
            Rules::new(&topic_settings(topic, &self.config.topic_defaults), self.elr_enabled());
        let current = match settle(image, rules, old, ids, &BTreeSet::new()) {
            None => old.clone(),
            Some(new) => {
                scratch.push(partition_record(topic_id, new.clone()));
                new
            }
        };
        Ok(PartitionResult::default()
            .with_partition_index(index)
            .with_leader_id(BrokerId(current.leader))
            .with_leader_epoch(current.leader_epoch)
            .with_isr(current.isr.iter().map(|&b| BrokerId(b)).collect())
            .with_partition_epoch(current.partition_epoch))
    }
}
