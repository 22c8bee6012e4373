//! The KRaft controller as a sans-IO state machine: broker registrations and epochs,
//! heartbeats and session fencing, leader election (ISR, then KIP-966 ELR, then unclean),
//! AlterPartition, topic creation and deletion with replica placement, producer id blocks.
//!
//! Inputs: one command at a time, each against the committed [`MetadataImage`]: a request
//! ([`QuorumController::handle_request`]) or the timer ([`QuorumController::handle_timeout`]).
//! Outputs: the [`MetadataRecord`]s to propose, and for a request the response to send once
//! those records are committed and replayed. No I/O, no clock, no Raft: the caller (the
//! Server) owns the Raft node and the image, calls this only while its node is the active
//! controller ([`QuorumController::activate`] / [`QuorumController::deactivate`]), and runs
//! the next command only after the previous one's records are committed and replayed.
//!
//! In-memory state (lost on failover, rebuilt by `activate`): each broker's session (its last
//! heartbeat, and the metadata offset it must reach before it is unfenced). Everything else
//! lives in the image. An unfenced broker whose session is live holds its id: a new
//! incarnation is refused with DUPLICATE_BROKER_REGISTRATION until the session expires (or the
//! broker finishes a controlled shutdown, which fences it). A new incarnation of a broker that
//! is still unfenced in the image is fenced (out of every ISR) before it registers (R12).
//!
//! Invariants of the records produced (asserted by the image's replay, and checked by the
//! tests over random command sequences): leader ∈ ISR or leader = -1; ISR ⊆ replicas;
//! ISR ∩ ELR = ∅; no fenced broker leads or (with ELR) is in an ISR — without ELR
//! (`historical.no_eligible_leader_replicas`) the last replica standing stays in the ISR with
//! no leader, as before KIP-966; leader and partition epochs only grow; broker epochs only
//! grow.
//!
//! Broker epochs: Kafka uses the offset of the registration record. Here the controller
//! assigns them from [`MetadataImage::next_broker_epoch`], a counter in the image that every
//! `RegisterBroker` record moves past, so they are strictly increasing across incarnations
//! and controller failovers alike.
//!
//! Unfencing: a registering broker must catch up with the metadata before it is unfenced. The
//! controller remembers the image offset ([`MetadataImage::offset`], which the Server sets
//! after replaying) at the time of the registration (or of `activate`, for brokers registered
//! before this controller took over), and unfences the broker on the first heartbeat whose
//! `current_metadata_offset` reaches it.

mod alter_partition;
mod partition_change;
mod placement;
mod topics;

#[cfg(test)]
mod tests;

use crate::broker::str_bytes;
use crate::config::{HistoricalBehaviours, TopicSettings};
use crate::metadata::{BrokerEndpoint, MetadataImage, MetadataRecord};
use crate::protocol::ErrorCode;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterPartitionResponse,
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest,
    BrokerRegistrationResponse, CreatePartitionsResponse, CreateTopicsResponse,
    DeleteTopicsResponse, ProducerId, RequestKind, ResponseKind, TopicName,
};
use partition_change::{change_partitions, partitions_where, settle, shrink_isr, Scratch};
use std::collections::{BTreeMap, BTreeSet};

/// How many producer ids one AllocateProducerIds hands out, as Kafka's controller.
pub const PRODUCER_ID_BLOCK_SIZE: i32 = 1000;

/// The controller's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
    pub node_id: i32,
    /// `broker.session.timeout.ms`: a broker that has not heartbeated for this long is fenced.
    pub broker_session_timeout_ms: i64,
    /// `num.partitions`, for CreateTopics with -1 partitions.
    pub default_num_partitions: i32,
    /// `default.replication.factor`, for CreateTopics with -1.
    pub default_replication_factor: i16,
    /// The broker-level defaults of topic configs (`min.insync.replicas`,
    /// `unclean.leader.election.enable`, ...), under each topic's overrides.
    pub topic_defaults: TopicSettings,
    pub historical: HistoricalBehaviours,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            node_id: 1,
            broker_session_timeout_ms: 9000,
            default_num_partitions: 1,
            default_replication_factor: 1,
            topic_defaults: TopicSettings::default(),
            historical: HistoricalBehaviours::default(),
        }
    }
}

/// What one command produced: records to propose, and the response to send once they are
/// committed and replayed (right away when `records` is empty).
#[derive(Clone, Debug, PartialEq)]
pub struct ControllerResult {
    pub records: Vec<MetadataRecord>,
    pub response: ResponseKind,
}

/// A request the controller cannot answer at all (not a Kafka error: those go in responses).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
    #[error("the controller does not handle {api} requests")]
    UnsupportedApi { api: String },
}

/// One broker's session, as the active controller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Session {
    last_heartbeat_ms: i64,
    /// The metadata offset the broker must have replayed before it is unfenced.
    caught_up_offset: i64,
    /// The session's expiry has been handled (the broker fenced, or found fenced already):
    /// no more deadline until the next heartbeat.
    expiry_handled: bool,
}

/// The active controller's state machine. See the module documentation.
#[derive(Debug)]
pub struct QuorumController {
    config: ControllerConfig,
    active: bool,
    sessions: BTreeMap<i32, Session>,
    /// Topics created by this controller so far: one input of new topic ids.
    topics_created: u64,
}

impl QuorumController {
    pub fn new(config: ControllerConfig) -> Self {
        QuorumController { config, active: false, sessions: BTreeMap::new(), topics_created: 0 }
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// Whether [`Self::activate`] was called more recently than [`Self::deactivate`].
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// This node became the active controller: every registered broker's session starts
    /// now, and a fenced broker must catch up to the image's current offset to be unfenced.
    pub fn activate(&mut self, now_ms: i64, image: &MetadataImage) {
        self.active = true;
        self.sessions = image
            .brokers()
            .map(|b| {
                let session = Session {
                    last_heartbeat_ms: now_ms,
                    caught_up_offset: image.offset(),
                    expiry_handled: false,
                };
                (b.broker_id, session)
            })
            .collect();
    }

    /// This node is no longer the active controller: sessions are forgotten.
    pub fn deactivate(&mut self) {
        self.active = false;
        self.sessions.clear();
    }

    /// One command from a broker (or a forwarded admin request). Kafka errors are answered
    /// in the response; `Err` only for an API the controller does not handle. Called while
    /// inactive, every handled API is answered with NOT_CONTROLLER.
    pub fn handle_request(
        &mut self,
        now_ms: i64,
        image: &MetadataImage,
        request: &RequestKind,
        api_version: i16,
    ) -> Result<ControllerResult, ControllerError> {
        if !self.active {
            let response = error_response(request, api_version, ErrorCode::NotController)?;
            return Ok(ControllerResult { records: vec![], response });
        }
        let mut scratch = Scratch::new(image);
        let response =
            match request {
                RequestKind::BrokerRegistration(request) => ResponseKind::BrokerRegistration(
                    self.broker_registration(now_ms, &mut scratch, request),
                ),
                RequestKind::BrokerHeartbeat(request) => ResponseKind::BrokerHeartbeat(
                    self.broker_heartbeat(now_ms, &mut scratch, request),
                ),
                RequestKind::AlterPartition(request) => ResponseKind::AlterPartition(
                    self.alter_partition(&mut scratch, request, api_version),
                ),
                RequestKind::CreateTopics(request) => ResponseKind::CreateTopics(
                    self.create_topics(now_ms, &mut scratch, request, api_version),
                ),
                RequestKind::DeleteTopics(request) => ResponseKind::DeleteTopics(
                    self.delete_topics(&mut scratch, request, api_version),
                ),
                RequestKind::CreatePartitions(request) => {
                    ResponseKind::CreatePartitions(self.create_partitions(&mut scratch, request))
                }
                RequestKind::AllocateProducerIds(request) => ResponseKind::AllocateProducerIds(
                    self.allocate_producer_ids(&mut scratch, request),
                ),
                other => return Err(unsupported(other)),
            };
        Ok(ControllerResult { records: scratch.into_records(), response })
    }

    /// Timer work: fence brokers whose session (last heartbeat + broker.session.timeout.ms)
    /// expired, and make the partition changes that follow. Empty when nothing is due.
    pub fn handle_timeout(&mut self, now_ms: i64, image: &MetadataImage) -> Vec<MetadataRecord> {
        if !self.active {
            return vec![];
        }
        let timeout_ms = self.config.broker_session_timeout_ms;
        let mut expired = Vec::new();
        for broker in image.brokers() {
            let session = self.sessions.entry(broker.broker_id).or_insert(Session {
                // A broker registered behind this controller's back (not expected): its
                // session starts now.
                last_heartbeat_ms: now_ms,
                caught_up_offset: image.offset(),
                expiry_handled: false,
            });
            if !session.expiry_handled && now_ms >= session.last_heartbeat_ms + timeout_ms {
                session.expiry_handled = true;
                if !broker.fenced {
                    tracing::info!(
                        broker = broker.broker_id,
                        broker_epoch = broker.broker_epoch,
                        "broker session expired: fencing"
                    );
                    expired.push(broker.broker_id);
                }
            }
        }
        self.sessions.retain(|id, _| image.broker(*id).is_some());
        let mut scratch = Scratch::new(image);
        self.fence_brokers(&mut scratch, &expired);
        scratch.into_records()
    }

    /// When [`Self::handle_timeout`] next has work: the earliest session expiry not yet
    /// handled. `None` while inactive.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        if !self.active {
            return None;
        }
        self.sessions
            .values()
            .filter(|s| !s.expiry_handled)
            .map(|s| s.last_heartbeat_ms + self.config.broker_session_timeout_ms)
            .min()
    }

    fn elr_enabled(&self) -> bool {
        !self.config.historical.no_eligible_leader_replicas
    }

    /// Whether the registered incarnation of `broker_id` still holds the id: it is unfenced
    /// and has heartbeated within the session timeout. (A fenced broker has no session.)
    fn session_is_live(&self, image: &MetadataImage, broker_id: i32, now_ms: i64) -> bool {
        image.broker(broker_id).is_some_and(|b| !b.fenced)
            && self.sessions.get(&broker_id).is_some_and(|s| {
                now_ms < s.last_heartbeat_ms + self.config.broker_session_timeout_ms
            })
    }

    /// Fences `brokers` (registered and unfenced) and moves them out of every ISR and
    /// leadership: BrokerRegistrationChange records first, then the partition changes.
    fn fence_brokers(&self, scratch: &mut Scratch<'_>, brokers: &[i32]) {
        let mut fenced = BTreeSet::new();
        for &id in brokers {
            let Some(broker) = scratch.image().broker(id) else { continue };
            if broker.fenced {
                continue;
            }
            let broker_epoch = broker.broker_epoch;
            scratch.push(MetadataRecord::BrokerRegistrationChange {
                broker_id: id,
                broker_epoch,
                fenced: Some(true),
                in_controlled_shutdown: None,
            });
            fenced.insert(id);
        }
        self.remove_from_isrs(scratch, &fenced);
    }

    /// Removes `brokers` (now fenced or shutting down) from every ISR they are in, and
    /// elects new leaders where they led.
    fn remove_from_isrs(&self, scratch: &mut Scratch<'_>, brokers: &BTreeSet<i32>) {
        if brokers.is_empty() {
            return;
        }
        let touched = partitions_where(scratch.image(), |p| {
            p.isr.iter().any(|r| brokers.contains(r)) || brokers.contains(&p.leader)
        });
        let elr_enabled = self.elr_enabled();
        let none = BTreeSet::new();
        change_partitions(
            scratch,
            &touched,
            &self.config.topic_defaults,
            elr_enabled,
            |image, rules, old| {
                let isr = shrink_isr(old, brokers, elr_enabled);
                settle(image, rules, old, isr, &none)
            },
        );
    }

    /// Elects leaders for leaderless partitions that `broker` (just unfenced) can lead.
    fn elect_after_unfence(&self, scratch: &mut Scratch<'_>, broker: i32) {
        let touched =
            partitions_where(scratch.image(), |p| p.leader == -1 && p.replicas.contains(&broker));
        let none = BTreeSet::new();
        change_partitions(
            scratch,
            &touched,
            &self.config.topic_defaults,
            self.elr_enabled(),
            |image, rules, old| settle(image, rules, old, old.isr.clone(), &none),
        );
    }

    fn broker_registration(
        &mut self,
        now_ms: i64,
        scratch: &mut Scratch<'_>,
        request: &BrokerRegistrationRequest,
    ) -> BrokerRegistrationResponse {
        let refuse = |code: ErrorCode| {
            BrokerRegistrationResponse::default().with_error_code(code.code()).with_broker_epoch(-1)
        };
        let broker_id = request.broker_id.0;
        if broker_id < 0 {
            return refuse(ErrorCode::InvalidRegistration);
        }
        let existing = scratch.image().broker(broker_id).cloned();
        if let Some(existing) = &existing {
            if existing.incarnation_id == request.incarnation_id {
                // A retry of the same process's registration: same epoch, nothing to write.
                let session = self.sessions.entry(broker_id).or_insert(Session {
                    last_heartbeat_ms: now_ms,
                    caught_up_offset: scratch.image().offset(),
                    expiry_handled: false,
                });
                session.last_heartbeat_ms = now_ms;
                session.expiry_handled = false;
                return BrokerRegistrationResponse::default()
                    .with_broker_epoch(existing.broker_epoch);
            }
            if self.session_is_live(scratch.image(), broker_id, now_ms) {
                tracing::info!(
                    broker = broker_id,
                    "registration of a new incarnation refused: the previous one's session is live"
                );
                return refuse(ErrorCode::DuplicateBrokerRegistration);
            }
            // R12: the previous incarnation is fenced before the new one registers, so a
            // quick reboot that lost data is never still in an ISR.
            self.fence_brokers(scratch, &[broker_id]);
        }
        let broker_epoch = scratch.image().next_broker_epoch();
        let listeners = request
            .listeners
            .iter()
            .map(|l| BrokerEndpoint {
                name: l.name.to_string(),
                host: l.host.to_string(),
                port: l.port,
            })
            .collect();
        let rack = request.rack.as_ref().map(|r| r.to_string()).filter(|r| !r.is_empty());
        scratch.push(MetadataRecord::RegisterBroker {
            broker_id,
            broker_epoch,
            incarnation_id: request.incarnation_id,
            listeners,
            rack,
            fenced: true,
        });
        if let Some(existing) = &existing {
            // KIP-966: the broker writes its epoch on a clean shutdown and sends it back as
            // previous_broker_epoch; anything else means its unflushed suffix may be gone,
            // so it can no longer be an eligible leader replica.
            let clean = request.previous_broker_epoch == existing.broker_epoch;
            if !clean && self.elr_enabled() {
                tracing::info!(broker = broker_id, "unclean shutdown: leaving every ELR");
                let unclean = BTreeSet::from([broker_id]);
                let touched = partitions_where(scratch.image(), |p| {
                    p.elr.contains(&broker_id) || p.isr.contains(&broker_id)
                });
                change_partitions(
                    scratch,
                    &touched,
                    &self.config.topic_defaults,
                    true,
                    |image, rules, old| {
                        let isr = shrink_isr(old, &unclean, true);
                        settle(image, rules, old, isr, &unclean)
                    },
                );
            }
        }
        self.sessions.insert(
            broker_id,
            Session {
                last_heartbeat_ms: now_ms,
                caught_up_offset: scratch.image().offset(),
                expiry_handled: false,
            },
        );
        tracing::info!(broker = broker_id, broker_epoch, "broker registered");
        BrokerRegistrationResponse::default().with_broker_epoch(broker_epoch)
    }

    fn broker_heartbeat(
        &mut self,
        now_ms: i64,
        scratch: &mut Scratch<'_>,
        request: &BrokerHeartbeatRequest,
    ) -> BrokerHeartbeatResponse {
        let broker_id = request.broker_id.0;
        let refuse = |code: ErrorCode| {
            BrokerHeartbeatResponse::default().with_error_code(code.code()).with_is_fenced(true)
        };
        let Some(broker) = scratch.image().broker(broker_id).cloned() else {
            return refuse(ErrorCode::BrokerIdNotRegistered);
        };
        if broker.broker_epoch != request.broker_epoch {
            return refuse(ErrorCode::StaleBrokerEpoch);
        }
        let offset = scratch.image().offset();
        let session = self.sessions.entry(broker_id).or_insert(Session {
            last_heartbeat_ms: now_ms,
            caught_up_offset: offset,
            expiry_handled: false,
        });
        session.last_heartbeat_ms = now_ms;
        session.expiry_handled = false;
        let is_caught_up = request.current_metadata_offset >= session.caught_up_offset;

        let mut should_shut_down = false;
        if request.want_shut_down {
            if broker.fenced {
                // A fenced broker leads nothing and is in no ISR (or, without ELR, is the
                // last replica standing, which no shutdown changes).
                should_shut_down = true;
            } else {
                if !broker.in_controlled_shutdown {
                    tracing::info!(broker = broker_id, "controlled shutdown: moving leadership");
                    scratch.push(MetadataRecord::BrokerRegistrationChange {
                        broker_id,
                        broker_epoch: broker.broker_epoch,
                        fenced: None,
                        in_controlled_shutdown: Some(true),
                    });
                    self.remove_from_isrs(scratch, &BTreeSet::from([broker_id]));
                }
                should_shut_down = !scratch
                    .image()
                    .topics()
                    .any(|t| t.partitions.values().any(|p| p.leader == broker_id));
                if should_shut_down {
                    // As Kafka's SHUTDOWN_NOW: the broker is done and fenced, so its session
                    // ends and its next incarnation may register at once.
                    self.fence_brokers(scratch, &[broker_id]);
                }
            }
        } else if request.want_fence {
            self.fence_brokers(scratch, &[broker_id]);
        } else if broker.fenced && is_caught_up && !broker.in_controlled_shutdown {
            tracing::info!(broker = broker_id, "broker caught up: unfencing");
            scratch.push(MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch: broker.broker_epoch,
                fenced: Some(false),
                in_controlled_shutdown: None,
            });
            self.elect_after_unfence(scratch, broker_id);
        }
        let is_fenced = scratch.image().broker(broker_id).is_none_or(|b| b.fenced);
        BrokerHeartbeatResponse::default()
            .with_is_caught_up(is_caught_up)
            .with_is_fenced(is_fenced)
            .with_should_shut_down(should_shut_down)
    }

    fn allocate_producer_ids(
        &mut self,
        scratch: &mut Scratch<'_>,
        request: &AllocateProducerIdsRequest,
    ) -> AllocateProducerIdsResponse {
        let registered = scratch.image().broker(request.broker_id.0);
        if registered.is_none_or(|b| b.broker_epoch != request.broker_epoch) {
            return AllocateProducerIdsResponse::default()
                .with_error_code(ErrorCode::StaleBrokerEpoch.code())
                .with_producer_id_start(ProducerId(-1));
        }
        let start = scratch.image().next_producer_id();
        let Some(end) = start.checked_add(i64::from(PRODUCER_ID_BLOCK_SIZE)) else {
            return AllocateProducerIdsResponse::default()
                .with_error_code(ErrorCode::UnknownServerError.code())
                .with_producer_id_start(ProducerId(-1));
        };
        scratch.push(MetadataRecord::ProducerIds { next_producer_id: end });
        AllocateProducerIdsResponse::default()
            .with_producer_id_start(ProducerId(start))
            .with_producer_id_len(PRODUCER_ID_BLOCK_SIZE)
    }
}

fn unsupported(request: &RequestKind) -> ControllerError {
    let debug = format!("{request:?}");
    let api = debug.split(['(', ' ']).next().unwrap_or("this").to_string();
    ControllerError::UnsupportedApi { api }
}

/// The response to `request` that refuses all of it with `code`: what the Server answers to
/// commands still queued when this node stops being the active controller (NOT_CONTROLLER).
pub fn error_response(
    request: &RequestKind,
    api_version: i16,
    code: ErrorCode,
) -> Result<ResponseKind, ControllerError> {
    let code_value = code.code();
    let message = || Some(str_bytes(code.to_string()));
    Ok(match request {
        RequestKind::BrokerRegistration(_) => ResponseKind::BrokerRegistration(
            BrokerRegistrationResponse::default().with_error_code(code_value).with_broker_epoch(-1),
        ),
        RequestKind::BrokerHeartbeat(_) => ResponseKind::BrokerHeartbeat(
            BrokerHeartbeatResponse::default().with_error_code(code_value).with_is_fenced(true),
        ),
        RequestKind::AlterPartition(_) => ResponseKind::AlterPartition(
            AlterPartitionResponse::default().with_error_code(code_value),
        ),
        RequestKind::AllocateProducerIds(_) => ResponseKind::AllocateProducerIds(
            AllocateProducerIdsResponse::default()
                .with_error_code(code_value)
                .with_producer_id_start(ProducerId(-1)),
        ),
        RequestKind::CreateTopics(request) => {
            let topics = request.topics.iter().map(|t| {
                CreatableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(code_value)
                    .with_error_message(message())
            });
            ResponseKind::CreateTopics(
                CreateTopicsResponse::default().with_topics(topics.collect()),
            )
        }
        RequestKind::DeleteTopics(request) => {
            let asked: Vec<(Option<TopicName>, uuid::Uuid)> = if api_version >= 6 {
                request.topics.iter().map(|t| (t.name.clone(), t.topic_id)).collect()
            } else {
                request.topic_names.iter().map(|n| (Some(n.clone()), uuid::Uuid::nil())).collect()
            };
            let responses = asked.into_iter().map(|(name, topic_id)| {
                let result = DeletableTopicResult::default()
                    .with_name(name)
                    .with_topic_id(topic_id)
                    .with_error_code(code_value);
                if api_version >= 5 {
                    result.with_error_message(message())
                } else {
                    result
                }
            });
            ResponseKind::DeleteTopics(
                DeleteTopicsResponse::default().with_responses(responses.collect()),
            )
        }
        RequestKind::CreatePartitions(request) => {
            let results = request.topics.iter().map(|t| {
                CreatePartitionsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(code_value)
                    .with_error_message(message())
            });
            ResponseKind::CreatePartitions(
                CreatePartitionsResponse::default().with_results(results.collect()),
            )
        }
        other => return Err(unsupported(other)),
    })
}
