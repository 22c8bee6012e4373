//! The active controller inside a server: commands queued, run one at a time, answered once
//! their records are committed.
//!
//! Inputs: controller requests (from peers, or from this node's own broker role), the Raft
//! node (to propose records and to know whether this node leads), the committed image and
//! how far it has been replayed. Outputs: responses, delivered through a callback with the
//! origin of each command.
//!
//! Invariants: this node acts as controller only while its Raft node leads *and* it has
//! replayed every committed record (so the [`QuorumController`] reads a complete image); a
//! command's response is delivered only after the records it proposed are replayed; losing
//! leadership answers every waiting command NOT_CONTROLLER, and the command whose records
//! were proposed is answered NOT_CONTROLLER too — the records may still commit under the next
//! leader, which a retry then sees (Kafka's controller has the same window).

use super::encode_records;
use crate::broker::RequestToken;
use crate::config::BrokerConfig;
use crate::controller::{ControllerConfig, QuorumController};
use crate::metadata::MetadataImage;
use crate::protocol::ErrorCode;
use crate::raft::{RaftNode, Role};
use crate::storage::Storage;
use crate::types::Offset;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use std::collections::VecDeque;

/// Who a command's response goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A request from a peer, answered on its connection.
    Remote { token: RequestToken },
    /// This node's own broker lifecycle (registration, heartbeats).
    Local,
    /// A request of this node's broker role (AlterPartition, forwarded admin, ...).
    LocalBroker { token: crate::broker::PeerCallToken },
}

struct Command {
    origin: Origin,
    request: RequestKind,
    api_version: i16,
}

/// A command whose records are proposed and not yet replayed; `None` origin: timer work.
struct InFlight {
    last_offset: Offset,
    origin: Option<Origin>,
    request: Option<(RequestKind, i16)>,
    response: Option<ResponseKind>,
}

pub struct ControllerRole {
    controller: QuorumController,
    active: bool,
    queue: VecDeque<Command>,
    in_flight: Option<InFlight>,
}

/// APIs that only the active controller answers.
pub fn is_controller_api(api_key: ApiKey) -> bool {
    matches!(
        api_key,
        ApiKey::BrokerRegistration
            | ApiKey::BrokerHeartbeat
            | ApiKey::AlterPartition
            | ApiKey::AllocateProducerIds
            | ApiKey::CreateTopics
            | ApiKey::DeleteTopics
            | ApiKey::CreatePartitions
    )
}

/// The answer to a controller request this node cannot take: NOT_CONTROLLER, in the shape
/// of the request's response. Only controller APIs ([`is_controller_api`]) reach here.
pub fn not_controller(request: &RequestKind, api_version: i16) -> ResponseKind {
    refuse(request, api_version, ErrorCode::NotController)
}

fn refuse(request: &RequestKind, api_version: i16, code: ErrorCode) -> ResponseKind {
    crate::controller::error_response(request, api_version, code)
        .expect("is_controller_api admits only requests the controller can refuse")
}

impl ControllerRole {
    pub fn new(config: &BrokerConfig) -> ControllerRole {
        let controller = QuorumController::new(ControllerConfig {
            node_id: config.node_id.0,
            broker_session_timeout_ms: config.cluster.broker_session_timeout_ms,
            default_num_partitions: config.num_partitions,
            default_replication_factor: config.default_replication_factor,
            topic_defaults: config.topic_defaults.clone(),
            historical: config.historical,
        });
        ControllerRole { controller, active: false, queue: VecDeque::new(), in_flight: None }
    }

    /// Whether this node's Raft node leads (commands are accepted, and run once caught up).
    pub fn is_leader<S: Storage>(&self, raft: &RaftNode<S>) -> bool {
        raft.role() == Role::Leader
    }

    /// Whether this node is the active controller now.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Queues a command; it runs when the ones before it are done.
    pub fn submit(&mut self, origin: Origin, request: RequestKind, api_version: i16) {
        self.queue.push_back(Command { origin, request, api_version });
    }

    pub fn next_deadline_ms(&self) -> Option<i64> {
        if self.active && self.in_flight.is_none() {
            self.controller.next_deadline_ms()
        } else {
            None
        }
    }

    /// Moves the controller forward: activation, completion of the command in flight, the
    /// next command or timer work. Returns whether anything happened.
    pub fn step<S: Storage>(
        &mut self,
        now_ms: i64,
        raft: &mut RaftNode<S>,
        image: &MetadataImage,
        applied: Offset,
        mut deliver: impl FnMut(Origin, ResponseKind),
    ) -> bool {
        if raft.role() != Role::Leader {
            return self.resign(&mut deliver);
        }
        let mut progress = false;
        if !self.active {
            let caught_up = raft.high_watermark().is_some_and(|hw| applied >= hw);
            if !caught_up {
                return false;
            }
            tracing::info!(epoch = %raft.epoch(), "this node is the active controller");
            self.controller.activate(now_ms, image);
            self.active = true;
            progress = true;
        }
        if let Some(in_flight) = &self.in_flight {
            if applied <= in_flight.last_offset {
                return progress;
            }
            let done = self.in_flight.take().expect("checked above");
            if let (Some(origin), Some(response)) = (done.origin, done.response) {
                deliver(origin, response);
            }
            progress = true;
        }
        if let Some(command) = self.queue.pop_front() {
            let Command { origin, request, api_version } = command;
            match self.controller.handle_request(now_ms, image, &request, api_version) {
                Ok(result) if result.records.is_empty() => deliver(origin, result.response),
                Ok(result) => match raft.propose(now_ms, encode_records(&result.records)) {
                    Ok(last_offset) => {
                        self.in_flight = Some(InFlight {
                            last_offset,
                            origin: Some(origin),
                            request: Some((request, api_version)),
                            response: Some(result.response),
                        })
                    }
                    Err(error) => {
                        tracing::warn!(%error, "controller records not proposed");
                        deliver(origin, not_controller(&request, api_version));
                    }
                },
                Err(error) => {
                    tracing::error!(%error, "controller cannot handle the request");
                    deliver(origin, refuse(&request, api_version, ErrorCode::UnknownServerError));
                }
            }
            return true;
        }
        let due = self.controller.next_deadline_ms().is_some_and(|at| at <= now_ms);
        if due {
            let records = self.controller.handle_timeout(now_ms, image);
            if !records.is_empty() {
                match raft.propose(now_ms, encode_records(&records)) {
                    Ok(last_offset) => {
                        self.in_flight = Some(InFlight {
                            last_offset,
                            origin: None,
                            request: None,
                            response: None,
                        });
                        progress = true;
                    }
                    Err(error) => tracing::warn!(%error, "controller timer records not proposed"),
                }
            }
        }
        progress
    }

    /// Leadership is gone: answer everything waiting NOT_CONTROLLER.
    fn resign(&mut self, deliver: &mut impl FnMut(Origin, ResponseKind)) -> bool {
        let had_work = self.active || !self.queue.is_empty() || self.in_flight.is_some();
        if self.active {
            tracing::info!("this node is no longer the active controller");
            self.controller.deactivate();
            self.active = false;
        }
        if let Some(InFlight {
            origin: Some(origin), request: Some((request, api_version)), ..
        }) = self.in_flight.take()
        {
            deliver(origin, not_controller(&request, api_version));
        }
        while let Some(command) = self.queue.pop_front() {
            deliver(command.origin, not_controller(&command.request, command.api_version));
        }
        had_work
    }
}
