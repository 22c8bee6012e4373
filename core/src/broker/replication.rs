//! The broker role in a cluster: partitions as the committed metadata places them, replica
//! fetchers, ISR proposals, and the requests only the active controller can answer.
//!
//! Inputs: the committed [`MetadataImage`] whenever the server replayed more of it
//! ([`Broker::apply_image`]), this broker's epoch from its registration, the results of the
//! peer requests this module asked for ([`Broker::handle_peer_result`]), and the time.
//! Outputs: [`PeerRequest`]s drained with [`Broker::poll_peer_request`] — Fetch to a
//! partition leader on [`Lane::Replication`], AlterPartition, AllocateProducerIds and
//! forwarded admin requests to the active controller on [`Lane::Controller`] — which the
//! server turns into calls; and responses to the client requests that waited on them.
//!
//! Invariants:
//! - a replica's role and ISR only ever come from committed metadata: the leader named in
//!   the image leads ([`Partition::become_leader`]), every other replica follows;
//! - one Fetch in flight per leader broker, naming every partition this broker follows
//!   there; an answer is applied to a partition only while it still follows the same leader
//!   at the same leader epoch as when the fetch left (an older epoch's data never lands);
//! - one AlterPartition in flight per broker, carrying every pending proposal; a failed call
//!   fails each proposal, so the next poll proposes again from current state;
//! - every forwarded request is answered exactly once: with the controller's answer, or
//!   NOT_CONTROLLER when the call failed (clients retry that after refreshing metadata).
//!
//! Followers fetch with v15 (topic ids, `ReplicaState` with their broker epoch), so a leader's
//! ISR proposals carry the epoch each member fetched with and the controller can refuse a
//! member from an older incarnation (KIP-903).
//!
//! Not yet: stray-partition removal after a broker missed a topic deletion while down, and
//! reassignment.

use super::{Broker, Output, RequestToken};
use crate::metadata::{MetadataImage, PartitionImage};
use crate::partition::{FetchedPartition, LeaderAndIsr, Partition};
use crate::protocol::ErrorCode;
use crate::server::Lane;
use crate::storage::Storage;
use crate::types::TopicPartition;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    alter_partition_request, AllocateProducerIdsRequest, AlterPartitionRequest, ApiKey,
    BrokerId as WireBrokerId, FetchRequest, InitProducerIdRequest, RequestKind, ResponseKind,
    TopicName,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Names one peer request of this broker, for its result.
pub type PeerCallToken = u64;

/// The Fetch version followers send: diverging epochs (KIP-320, KIP-595), topic ids, and the
/// follower's broker epoch in `ReplicaState` (KIP-903). Brokers serve it to followers although
/// clients are offered 12 at most.
pub const REPLICA_FETCH_VERSION: i16 = crate::protocol::versions::REPLICA_FETCH_MAX_VERSION;
/// AlterPartition with each new ISR member's broker epoch (KIP-903).
const ALTER_PARTITION_VERSION: i16 = 3;
const ALLOCATE_PRODUCER_IDS_VERSION: i16 = 0;
/// Kafka's `replica.fetch.backoff.ms`.
const REPLICA_FETCH_BACKOFF_MS: i64 = 1_000;
/// The pause before proposing again after an AlterPartition call failed.
const ALTER_PARTITION_BACKOFF_MS: i64 = 100;
/// How long a call to a peer may take beyond its own wait.
const PEER_REQUEST_TIMEOUT_MS: u64 = 30_000;

/// Who a peer request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallTarget {
    /// Whichever node is the active controller.
    Controller,
    /// The broker with this id, at its inter-broker listener.
    Broker(i32),
}

/// A request this broker wants sent to a peer; its result comes back through
/// [`Broker::handle_peer_result`] with the same token.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerRequest {
    pub token: PeerCallToken,
    pub target: CallTarget,
    pub lane: Lane,
    pub api_key: ApiKey,
    pub api_version: i16,
    pub request: RequestKind,
    pub timeout_ms: u64,
}

/// What a peer request was for.
#[derive(Debug)]
enum Purpose {
    /// A follower fetch to `leader`: each partition with the leader epoch it was sent at.
    ReplicaFetch {
        leader: i32,
        epochs: BTreeMap<(String, i32), i32>,
    },
    /// Proposals for these partitions, by topic id.
    AlterPartition {
        sent: Vec<(uuid::Uuid, i32)>,
    },
    /// A client's admin request, answered with whatever the controller answers.
    Forward {
        token: RequestToken,
        request: Box<RequestKind>,
        api_version: i16,
    },
    /// A topic created because a Metadata request named it; nobody waits for the answer.
    AutoCreate,
    AllocateProducerIds,
}

/// One leader's fetcher.
#[derive(Debug, Default)]
struct Fetcher {
    in_flight: Option<PeerCallToken>,
    /// No fetch before this time (after an error).
    backoff_until_ms: i64,
}

/// What a clustered broker keeps beyond its partitions.
#[derive(Debug)]
pub struct ClusterState {
    node_id: i32,
    broker_epoch: i64,
    next_token: PeerCallToken,
    calls: BTreeMap<PeerCallToken, Purpose>,
    requests: std::collections::VecDeque<PeerRequest>,
    fetchers: BTreeMap<i32, Fetcher>,
    alter_partition_in_flight: bool,
    alter_partition_backoff_until_ms: i64,
    /// Kafka's isr-expiration task: every `replica.lag.time.max.ms / 2`.
    next_isr_check_ms: i64,
    /// InitProducerId requests waiting for a block of producer ids.
    waiting_for_producer_ids: Vec<(RequestToken, InitProducerIdRequest)>,
    allocating_producer_ids: bool,
}

impl ClusterState {
    pub fn new(node_id: i32, now_ms: i64) -> Self {
        ClusterState {
            node_id,
            broker_epoch: -1,
            next_token: 0,
            calls: BTreeMap::new(),
            requests: std::collections::VecDeque::new(),
            fetchers: BTreeMap::new(),
            alter_partition_in_flight: false,
            alter_partition_backoff_until_ms: i64::MIN,
            next_isr_check_ms: now_ms,
            waiting_for_producer_ids: Vec::new(),
            allocating_producer_ids: false,
        }
    }

    pub fn next_deadline_ms(&self) -> Option<i64> {
        let fetch_backoffs = self
            .fetchers
            .values()
            .filter(|f| f.in_flight.is_none())
            .map(|f| f.backoff_until_ms)
            .filter(|&at| at > i64::MIN);
        let alter = (!self.alter_partition_in_flight
            && self.alter_partition_backoff_until_ms > i64::MIN)
            .then_some(self.alter_partition_backoff_until_ms);
        fetch_backoffs.chain(alter).chain([self.next_isr_check_ms]).min()
    }

    fn send(
        &mut self,
        purpose: Purpose,
        target: CallTarget,
        lane: Lane,
        request: RequestKind,
        api_version: i16,
        timeout_ms: u64,
    ) -> PeerCallToken {
        self.next_token += 1;
        let token = self.next_token;
        let api_key =
            crate::protocol::peer_api_key(&request).expect("a broker sends only peer requests");
        self.requests.push_back(PeerRequest {
            token,
            target,
            lane,
            api_key,
            api_version,
            request,
            timeout_ms,
        });
        self.calls.insert(token, purpose);
        token
    }
}

/// A partition's leader and ISR as a replica needs them.
fn leader_and_isr(image: &PartitionImage) -> LeaderAndIsr {
    LeaderAndIsr {
        leader: image.leader,
        leader_epoch: image.leader_epoch,
        partition_epoch: image.partition_epoch,
        replicas: image.replicas.clone(),
        isr: image.isr.clone(),
        elr: image.elr.clone(),
    }
}

impl<S: Storage> Broker<S> {
    /// Opens a broker that takes its metadata from the controller quorum: no partition is
    /// open until [`Broker::apply_image`] places some here.
    pub fn open_clustered(
        config: crate::config::BrokerConfig,
        storage: S,
        cluster_id: String,
        now_ms: i64,
        seed: u64,
    ) -> Result<Broker<S>, super::BrokerError> {
        use rand::SeedableRng;
        storage.create_dir_all(config.log_dir())?;
        let node_id = config.node_id.0;
        Ok(Broker {
            next_retention_check_ms: now_ms + config.log_retention_check_interval_ms,
            config,
            storage,
            cluster_id,
            metadata: super::MetadataSource::Replicated(Box::default()),
            topics: BTreeMap::new(),
            delayed_fetches: Vec::new(),
            delayed_produces: Vec::new(),
            cluster: Some(Box::new(ClusterState::new(node_id, now_ms))),
            outputs: Default::default(),
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            producer_ids: (0, 0),
        })
    }

    /// Whether this broker takes its metadata from a controller quorum.
    pub fn is_clustered(&self) -> bool {
        self.cluster.is_some()
    }

    /// The broker epoch the controller gave this broker's registration (KIP-903: followers
    /// name it in their fetches, leaders in their ISR proposals).
    pub fn set_broker_epoch(&mut self, broker_epoch: i64) {
        let Some(cluster) = &mut self.cluster else { return };
        if cluster.broker_epoch == broker_epoch {
            return;
        }
        cluster.broker_epoch = broker_epoch;
        for partition in self.topics.values_mut().flat_map(|p| p.values_mut()) {
            partition.set_broker_epoch(broker_epoch);
        }
    }

    /// Takes the committed metadata: opens the replicas the image places here, gives each
    /// the role the image names, and deletes the replicas of topics that are gone.
    pub fn apply_image(&mut self, now_ms: i64, image: &MetadataImage) {
        let Some(cluster) = &self.cluster else {
            panic!("apply_image on a standalone broker");
        };
        let node_id = cluster.node_id;
        let broker_epoch = cluster.broker_epoch;
        self.metadata = super::MetadataSource::Replicated(Box::new(image.clone()));
        let isr_eligible: Arc<BTreeMap<i32, i64>> = Arc::new(
            image
                .brokers()
                .filter(|b| !b.fenced && !b.in_controlled_shutdown)
                .map(|b| (b.broker_id, b.broker_epoch))
                .collect(),
        );
        let mut placed: BTreeSet<(String, i32)> = BTreeSet::new();
        for topic in image.topics() {
            for (&index, partition_image) in &topic.partitions {
                if !partition_image.replicas.contains(&node_id) {
                    continue;
                }
                placed.insert((topic.name.clone(), index));
                if self.partition(&topic.name, index).is_none() {
                    if let Err(error) =
                        self.open_replica(topic, index, node_id, broker_epoch, now_ms)
                    {
                        tracing::error!(%error, "cannot open a replica the metadata places here");
                        continue;
                    }
                }
                let state = leader_and_isr(partition_image);
                let partition =
                    self.partition_mut(&topic.name, index).expect("opened above or before");
                if let Err(error) = partition.set_isr_eligible_brokers(now_ms, isr_eligible.clone())
                {
                    tracing::error!(partition = %partition.topic_partition(), %error, "could not checkpoint the high watermark");
                }
                if let Err(error) = reconcile(partition, node_id, now_ms, &state) {
                    tracing::error!(partition = %partition.topic_partition(), %error, "cannot take the role the metadata names");
                }
            }
        }
        self.delete_unplaced(&placed);
        self.complete_delayed_produces(now_ms);
        self.step_cluster(now_ms);
    }

    fn open_replica(
        &mut self,
        topic: &crate::metadata::TopicImage,
        index: i32,
        node_id: i32,
        broker_epoch: i64,
        now_ms: i64,
    ) -> Result<(), super::BrokerError> {
        // Another controller version may commit a config this broker does not know: the
        // replica then stays closed, with an error naming the config, instead of a panic.
        let settings = crate::config::TopicConfig::new(topic.configs.clone())
            .map_err(|source| super::BrokerError::TopicConfig {
                topic: topic.name.clone(),
                source,
            })?
            .resolve(&self.config);
        let topic_partition = TopicPartition::new(topic.name.clone(), index);
        let dir = self.config.log_dir().join(topic_partition.dir_name());
        let mut partition = Partition::open(
            self.storage.clone(),
            dir,
            topic_partition.clone(),
            settings,
            node_id,
            self.config.historical,
            now_ms,
        )
        .map_err(|source| super::BrokerError::Partition { topic_partition, source })?;
        partition.set_replica_lag_time_max_ms(self.config.cluster.replica_lag_time_max_ms);
        partition.set_broker_epoch(broker_epoch);
        self.topics.entry(topic.name.clone()).or_default().insert(index, partition);
        Ok(())
    }

    /// Deletes the replicas the metadata no longer places here (their topic was deleted).
    fn delete_unplaced(&mut self, placed: &BTreeSet<(String, i32)>) {
        let gone: Vec<(String, i32)> = self
            .topics
            .iter()
            .flat_map(|(name, partitions)| partitions.keys().map(move |&i| (name.clone(), i)))
            .filter(|key| !placed.contains(key))
            .collect();
        for (name, index) in gone {
            let partitions = self.topics.get_mut(&name).expect("listed above");
            let partition = partitions.remove(&index).expect("listed above");
            if partitions.is_empty() {
                self.topics.remove(&name);
            }
            let topic_partition = partition.topic_partition().clone();
            match partition.delete() {
                Ok(()) => tracing::info!(partition = %topic_partition, "replica deleted"),
                Err(error) => {
                    tracing::error!(partition = %topic_partition, %error, "could not delete a replica")
                }
            }
        }
    }

    /// The next request for a peer, if any; drain after every input.
    pub fn poll_peer_request(&mut self) -> Option<PeerRequest> {
        self.cluster.as_mut()?.requests.pop_front()
    }

    /// The result of peer request `token`: the peer's answer, or why there was none.
    pub fn handle_peer_result(
        &mut self,
        now_ms: i64,
        token: PeerCallToken,
        result: Result<ResponseKind, String>,
    ) {
        let Some(cluster) = &mut self.cluster else { return };
        let Some(purpose) = cluster.calls.remove(&token) else {
            tracing::warn!(token, "result of an unknown peer request");
            return;
        };
        match purpose {
            Purpose::ReplicaFetch { leader, epochs } => {
                self.handle_replica_fetch_result(now_ms, leader, &epochs, result)
            }
            Purpose::AlterPartition { sent } => {
                self.handle_alter_partition_result(now_ms, &sent, result)
            }
            Purpose::Forward { token, request, api_version } => {
                let response = match result {
                    Ok(response) => response,
                    Err(reason) => {
                        tracing::debug!(%reason, "forwarding to the controller failed");
                        crate::controller::error_response(
                            &request,
                            api_version,
                            ErrorCode::NotController,
                        )
                        .expect("only controller requests are forwarded")
                    }
                };
                self.outputs.push_back(Output { token, response: Some(response) });
            }
            Purpose::AutoCreate => {
                if let Err(reason) = result {
                    tracing::debug!(%reason, "auto-creating a topic failed");
                }
            }
            Purpose::AllocateProducerIds => self.handle_producer_ids(now_ms, result),
        }
        self.step_cluster(now_ms);
    }

    /// Sends `request` (a controller API) to the active controller and answers the client
    /// with whatever comes back.
    pub(super) fn forward_to_controller(
        &mut self,
        token: RequestToken,
        request: RequestKind,
        api_version: i16,
    ) {
        let cluster = self.cluster.as_mut().expect("only clustered brokers forward");
        cluster.send(
            Purpose::Forward { token, request: Box::new(request.clone()), api_version },
            CallTarget::Controller,
            Lane::Controller,
            request,
            api_version,
            PEER_REQUEST_TIMEOUT_MS,
        );
    }

    /// Asks the controller to create a topic a Metadata request named (auto-creation).
    pub(super) fn auto_create_topic(&mut self, name: &str) {
        use kafka_protocol::messages::create_topics_request::CreatableTopic;
        let topic = CreatableTopic::default()
            .with_name(TopicName(super::str_bytes(name)))
            .with_num_partitions(self.config.num_partitions)
            .with_replication_factor(self.config.default_replication_factor);
        let request = kafka_protocol::messages::CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(PEER_REQUEST_TIMEOUT_MS as i32);
        let cluster = self.cluster.as_mut().expect("only clustered brokers auto-create here");
        cluster.send(
            Purpose::AutoCreate,
            CallTarget::Controller,
            Lane::Controller,
            RequestKind::CreateTopics(request),
            7,
            PEER_REQUEST_TIMEOUT_MS,
        );
    }

    /// InitProducerId on a clustered broker: ids come in blocks from the controller.
    pub(super) fn init_producer_id_clustered(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        request: InitProducerIdRequest,
    ) {
        let cluster = self.cluster.as_mut().expect("clustered");
        cluster.waiting_for_producer_ids.push((token, request));
        self.answer_producer_id_requests(now_ms);
    }

    fn answer_producer_id_requests(&mut self, now_ms: i64) {
        loop {
            let cluster = self.cluster.as_mut().expect("clustered");
            if cluster.waiting_for_producer_ids.is_empty() {
                return;
            }
            let needs_block = cluster.waiting_for_producer_ids.iter().any(|(_, r)| {
                r.transactional_id.is_none() && !(r.producer_id.0 >= 0 && r.producer_epoch >= 0)
            });
            if needs_block && self.producer_ids.0 >= self.producer_ids.1 {
                if !cluster.allocating_producer_ids {
                    cluster.allocating_producer_ids = true;
                    let request = AllocateProducerIdsRequest::default()
                        .with_broker_id(WireBrokerId(cluster.node_id))
                        .with_broker_epoch(cluster.broker_epoch);
                    cluster.send(
                        Purpose::AllocateProducerIds,
                        CallTarget::Controller,
                        Lane::Controller,
                        RequestKind::AllocateProducerIds(request),
                        ALLOCATE_PRODUCER_IDS_VERSION,
                        PEER_REQUEST_TIMEOUT_MS,
                    );
                }
                // Requests that need no new id (a bump, a refusal) need not wait, but order
                // among a connection's requests is kept by the shell, so answer them later too.
                return;
            }
            let (token, request) = cluster.waiting_for_producer_ids.remove(0);
            let response = self.handle_init_producer_id(now_ms, request);
            self.outputs.push_back(Output {
                token,
                response: Some(ResponseKind::InitProducerId(response)),
            });
        }
    }

    fn handle_producer_ids(&mut self, now_ms: i64, result: Result<ResponseKind, String>) {
        let cluster = self.cluster.as_mut().expect("clustered");
        cluster.allocating_producer_ids = false;
        match result {
            Ok(ResponseKind::AllocateProducerIds(r)) if r.error_code == 0 => {
                let start = r.producer_id_start.0;
                self.producer_ids = (start, start + i64::from(r.producer_id_len));
                self.answer_producer_id_requests(now_ms);
            }
            other => {
                let code = match other {
                    Ok(ResponseKind::AllocateProducerIds(r)) => r.error_code,
                    _ => ErrorCode::CoordinatorNotAvailable.code(),
                };
                tracing::debug!(code, "no producer id block from the controller");
                for (token, _) in std::mem::take(&mut cluster.waiting_for_producer_ids) {
                    let response = kafka_protocol::messages::InitProducerIdResponse::default()
                        .with_error_code(ErrorCode::CoordinatorNotAvailable.code())
                        .with_producer_id(kafka_protocol::messages::ProducerId(-1))
                        .with_producer_epoch(-1);
                    self.outputs.push_back(Output {
                        token,
                        response: Some(ResponseKind::InitProducerId(response)),
                    });
                }
            }
        }
    }

    /// Moves replication forward: ISR proposals to the controller, a fetch to every leader
    /// that has none in flight. Called after every input of a clustered broker.
    pub(super) fn step_cluster(&mut self, now_ms: i64) {
        if self.cluster.is_none() {
            return;
        }
        self.propose_isr_changes(now_ms);
        self.send_replica_fetches(now_ms);
    }

    fn propose_isr_changes(&mut self, now_ms: i64) {
        let cluster = self.cluster.as_mut().expect("clustered");
        if now_ms >= cluster.next_isr_check_ms {
            cluster.next_isr_check_ms =
                now_ms + (self.config.cluster.replica_lag_time_max_ms / 2).max(1);
        }
        if cluster.alter_partition_in_flight || now_ms < cluster.alter_partition_backoff_until_ms {
            return;
        }
        let (node_id, broker_epoch) = (cluster.node_id, cluster.broker_epoch);
        let mut by_topic: BTreeMap<uuid::Uuid, Vec<alter_partition_request::PartitionData>> =
            BTreeMap::new();
        let mut sent = Vec::new();
        let image = self.metadata.image();
        for (name, partitions) in &mut self.topics {
            let Some(topic_id) = image.topic(name).map(|t| t.topic_id) else { continue };
            for (&index, partition) in partitions.iter_mut() {
                let Some(proposal) = partition.poll_isr_change(now_ms) else { continue };
                let members = proposal
                    .new_isr
                    .iter()
                    .zip(&proposal.new_isr_broker_epochs)
                    .map(|(&id, &epoch)| {
                        alter_partition_request::BrokerState::default()
                            .with_broker_id(WireBrokerId(id))
                            .with_broker_epoch(if id == node_id { broker_epoch } else { epoch })
                    })
                    .collect();
                by_topic.entry(topic_id).or_default().push(
                    alter_partition_request::PartitionData::default()
                        .with_partition_index(index)
                        .with_leader_epoch(proposal.leader_epoch)
                        .with_new_isr_with_epochs(members)
                        .with_partition_epoch(proposal.partition_epoch),
                );
                sent.push((topic_id, index));
            }
        }
        if sent.is_empty() {
            return;
        }
        let topics = by_topic
            .into_iter()
            .map(|(topic_id, partitions)| {
                alter_partition_request::TopicData::default()
                    .with_topic_id(topic_id)
                    .with_partitions(partitions)
            })
            .collect();
        let request = AlterPartitionRequest::default()
            .with_broker_id(WireBrokerId(node_id))
            .with_broker_epoch(broker_epoch)
            .with_topics(topics);
        let cluster = self.cluster.as_mut().expect("clustered");
        cluster.alter_partition_in_flight = true;
        cluster.send(
            Purpose::AlterPartition { sent },
            CallTarget::Controller,
            Lane::Controller,
            RequestKind::AlterPartition(request),
            ALTER_PARTITION_VERSION,
            PEER_REQUEST_TIMEOUT_MS,
        );
    }

    fn handle_alter_partition_result(
        &mut self,
        now_ms: i64,
        sent: &[(uuid::Uuid, i32)],
        result: Result<ResponseKind, String>,
    ) {
        let cluster = self.cluster.as_mut().expect("clustered");
        cluster.alter_partition_in_flight = false;
        let mut answers: BTreeMap<(uuid::Uuid, i32), Result<LeaderAndIsr, i16>> = BTreeMap::new();
        match result {
            Ok(ResponseKind::AlterPartition(response)) if response.error_code == 0 => {
                for topic in response.topics {
                    for p in topic.partitions {
                        let answer = if p.error_code == 0 {
                            Ok(LeaderAndIsr {
                                leader: p.leader_id.0,
                                leader_epoch: p.leader_epoch,
                                partition_epoch: p.partition_epoch,
                                replicas: Vec::new(),
                                isr: p.isr.iter().map(|b| b.0).collect(),
                                elr: Vec::new(),
                            })
                        } else {
                            Err(p.error_code)
                        };
                        answers.insert((topic.topic_id, p.partition_index), answer);
                    }
                }
            }
            other => {
                let code = match other {
                    Ok(ResponseKind::AlterPartition(r)) => r.error_code,
                    Ok(_) => ErrorCode::UnknownServerError.code(),
                    Err(reason) => {
                        tracing::debug!(%reason, "AlterPartition call failed");
                        ErrorCode::RequestTimedOut.code()
                    }
                };
                cluster.alter_partition_backoff_until_ms = now_ms + ALTER_PARTITION_BACKOFF_MS;
                for &key in sent {
                    answers.insert(key, Err(code));
                }
            }
        }
        for ((topic_id, index), answer) in answers {
            let image = self.metadata.image();
            let Some(name) = image.topic_by_id(&topic_id).map(|t| t.name.clone()) else {
                continue;
            };
            let Some(partition) = self.partition_mut(&name, index) else { continue };
            let answer = answer.map(|mut state| {
                // The answer names the ISR; the replicas are the partition's own.
                state.replicas = partition.replicas().to_vec();
                state
            });
            partition.handle_isr_change_result(now_ms, answer);
        }
        self.complete_delayed_produces(now_ms);
    }

    fn send_replica_fetches(&mut self, now_ms: i64) {
        let cluster = self.cluster.as_mut().expect("clustered");
        let (node_id, broker_epoch) = (cluster.node_id, cluster.broker_epoch);
        let image = self.metadata.image();
        // Partitions to fetch, by leader.
        let mut by_leader: BTreeMap<i32, Vec<(String, i32, crate::partition::FollowerFetch)>> =
            BTreeMap::new();
        for (name, partitions) in &self.topics {
            for (&index, partition) in partitions {
                let Some(position) = partition.fetch_position() else { continue };
                let Some(leader) = partition.leader_id().filter(|&l| l != node_id) else {
                    continue;
                };
                by_leader.entry(leader).or_default().push((name.clone(), index, position));
            }
        }
        cluster
            .fetchers
            .retain(|leader, f| f.in_flight.is_some() || by_leader.contains_key(leader));
        let wait_max_ms = self.config.cluster.replica_fetch_wait_max_ms;
        let max_bytes = self.config.cluster.replica_fetch_max_bytes;
        for (leader, followed) in by_leader {
            let fetcher = cluster.fetchers.entry(leader).or_default();
            if fetcher.in_flight.is_some() || now_ms < fetcher.backoff_until_ms {
                continue;
            }
            let mut topics: BTreeMap<uuid::Uuid, Vec<FetchPartition>> = BTreeMap::new();
            let mut epochs = BTreeMap::new();
            for (name, index, position) in followed {
                let Some(topic_id) = image.topic(&name).map(|t| t.topic_id) else { continue };
                epochs.insert((name.clone(), index), position.current_leader_epoch);
                topics.entry(topic_id).or_default().push(
                    FetchPartition::default()
                        .with_partition(index)
                        .with_current_leader_epoch(position.current_leader_epoch)
                        .with_fetch_offset(position.fetch_offset.0)
                        .with_last_fetched_epoch(position.last_fetched_epoch)
                        .with_log_start_offset(position.log_start_offset.0)
                        .with_partition_max_bytes(max_bytes),
                );
            }
            let request = FetchRequest::default()
                .with_replica_state(
                    kafka_protocol::messages::fetch_request::ReplicaState::default()
                        .with_replica_id(WireBrokerId(node_id))
                        .with_replica_epoch(broker_epoch),
                )
                .with_max_wait_ms(wait_max_ms)
                .with_min_bytes(1)
                .with_max_bytes(i32::MAX)
                .with_session_id(0)
                .with_session_epoch(-1)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(topic_id, partitions)| {
                            FetchTopic::default()
                                .with_topic_id(topic_id)
                                .with_partitions(partitions)
                        })
                        .collect(),
                );
            let token = cluster.send(
                Purpose::ReplicaFetch { leader, epochs },
                CallTarget::Broker(leader),
                Lane::Replication,
                RequestKind::Fetch(request),
                REPLICA_FETCH_VERSION,
                wait_max_ms.max(0) as u64 + PEER_REQUEST_TIMEOUT_MS,
            );
            cluster.fetchers.get_mut(&leader).expect("inserted above").in_flight = Some(token);
        }
    }

    fn handle_replica_fetch_result(
        &mut self,
        now_ms: i64,
        leader: i32,
        epochs: &BTreeMap<(String, i32), i32>,
        result: Result<ResponseKind, String>,
    ) {
        let mut failed = false;
        match result {
            Ok(ResponseKind::Fetch(response)) if response.error_code == 0 => {
                for topic in response.responses {
                    let image = self.metadata.image();
                    let Some(name) = image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
                    else {
                        continue;
                    };
                    for data in topic.partitions {
                        let index = data.partition_index;
                        let Some(&sent_epoch) = epochs.get(&(name.clone(), index)) else {
                            continue;
                        };
                        let Some(partition) = self.partition_mut(&name, index) else { continue };
                        let current = partition.leader_epoch().0;
                        if current != sent_epoch || partition.leader_id() != Some(leader) {
                            tracing::debug!(partition = %partition.topic_partition(), sent_epoch, current, "fetch answer of an older leadership dropped");
                            continue;
                        }
                        let diverging_epoch = (data.diverging_epoch.epoch >= 0).then_some((
                            data.diverging_epoch.epoch,
                            data.diverging_epoch.end_offset,
                        ));
                        let fetched = FetchedPartition {
                            error_code: data.error_code,
                            high_watermark: data.high_watermark,
                            log_start_offset: data.log_start_offset,
                            diverging_epoch,
                            records: data.records.unwrap_or_default(),
                        };
                        if let Err(error) = partition.handle_fetch_response(now_ms, &fetched) {
                            tracing::debug!(partition = %partition.topic_partition(), %error, "replica fetch refused");
                            failed = true;
                        }
                    }
                }
            }
            Ok(ResponseKind::Fetch(response)) => {
                tracing::debug!(leader, code = response.error_code, "replica fetch refused");
                failed = true;
            }
            Ok(_) => failed = true,
            Err(reason) => {
                tracing::debug!(leader, %reason, "replica fetch failed");
                failed = true;
            }
        }
        let cluster = self.cluster.as_mut().expect("clustered");
        if let Some(fetcher) = cluster.fetchers.get_mut(&leader) {
            fetcher.in_flight = None;
            fetcher.backoff_until_ms =
                if failed { now_ms + REPLICA_FETCH_BACKOFF_MS } else { i64::MIN };
        }
    }
}

/// Gives a replica the role and ISR `state` names. A new leader epoch (or a replica with no
/// role yet) changes the role; the same epoch with a newer partition epoch updates the ISR.
fn reconcile<S: Storage>(
    partition: &mut Partition<S>,
    node_id: i32,
    now_ms: i64,
    state: &LeaderAndIsr,
) -> Result<(), crate::log::LogError> {
    let current_epoch = partition.leader_epoch().0;
    let leads = state.leader == node_id;
    let role_matches = if leads {
        partition.is_leader()
    } else {
        !partition.is_leader()
            && partition.leader_id() == (state.leader >= 0).then_some(state.leader)
    };
    if state.leader_epoch > current_epoch || !role_matches {
        if leads {
            partition.become_leader(now_ms, state)
        } else {
            partition.become_follower(now_ms, state)
        }
    } else {
        if state.partition_epoch > partition.partition_epoch() {
            partition.update_partition_state(now_ms, state);
        }
        Ok(())
    }
}
