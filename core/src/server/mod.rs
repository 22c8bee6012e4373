//! The server: one sans-IO state machine per process, composing the Raft node of
//! `__cluster_metadata`, the controller (on controller nodes) and the broker (on broker
//! nodes) around one metadata image. See `docs/REPLICATION.md` for the contract.
//!
//! Inputs: requests from clients and peers ([`Server::handle_request`], naming the listener
//! they came in on), the results of the server's own calls ([`Server::handle_call_result`]),
//! and the time ([`Server::handle_timeout`] at [`Server::next_deadline_ms`]). Outputs,
//! drained with [`Server::poll_output`] after every input: responses and [`Call`]s. Between
//! inputs, [`Server::observe`] copies out what a testbed may watch ([`ServerSnapshot`]).
//!
//! Two modes:
//! - **Standalone** (no `controller.quorum.voters`): the single-node [`Broker`] with its
//!   local metadata log, exactly as before clustering; it never calls a peer.
//! - **Clustered**: a [`RaftNode`] (voter on controller nodes, observer on brokers) replicates
//!   the metadata log; committed records are replayed in order into one [`MetadataImage`].
//!   The Raft leader, once it has replayed everything committed, is the active controller:
//!   it runs commands one at a time (`controller_role`), proposing their records and
//!   answering once they are committed. A node with the broker role registers and
//!   heartbeats (`lifecycle`).
//!
//!   The broker role ([`Broker`] opened with [`Broker::open_clustered`]) serves clients on
//!   the broker listeners: after every replay it gets the new image ([`Broker::apply_image`]),
//!   and its peer requests (replica fetches, AlterPartition, forwarded admin requests) become
//!   calls, to the leader broker's inter-broker listener or to the active controller (this
//!   node's own, without a network hop, when it is the one).
//!
//! Invariants: every request gets exactly one answer (or, for a Raft request the node cannot
//! take, none — the peer's call times out); every call gets exactly one result, which is
//! routed by its [`CallId`] to what made it; the image only ever shows committed records.

pub mod call;
mod controller_role;
mod lifecycle;
mod observe;
mod quorum;

pub use call::{Call, CallFailed, CallId, CallResult, Lane, PeerAddress};
pub use observe::{
    BrokerSnapshot, MetadataSnapshot, PartitionSnapshot, RaftSnapshot, ReplicaSnapshot,
    ServerSnapshot,
};

use crate::broker::{
    Broker, BrokerError, CallTarget, Output, PeerRequest, ReplicaState, RequestToken,
};
use crate::config::BrokerConfig;
use crate::metadata::store::read_or_create_meta_properties;
use crate::metadata::{MetadataImage, MetadataRecord};
use crate::protocol::versions::ListenerKind;
use crate::protocol::{self, Request};
use crate::raft::{RaftConfig, RaftError, RaftNode, RaftOutput};
use crate::storage::Storage;
use crate::types::Offset;
use bytes::Bytes;
use controller_role::{ControllerRole, Origin};
use kafka_protocol::messages::{RequestKind, ResponseKind};
use lifecycle::Lifecycle;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, VecDeque};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Raft(#[from] RaftError),
    #[error(transparent)]
    Metadata(#[from] crate::metadata::store::MetadataError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

/// Something for the shell to do.
#[derive(Debug)]
pub enum ServerOutput {
    /// Answer the request named by the token (`None`: send nothing).
    Response(Output),
    /// Send a request to a peer; its result comes back through
    /// [`Server::handle_call_result`].
    Call(Call),
}

/// What a call was for, so its result finds its way back.
#[derive(Debug)]
enum Purpose {
    Raft(quorum::RaftCall),
    /// A request to the active controller on behalf of this node's broker lifecycle.
    Lifecycle,
    /// A peer request of this node's broker role.
    Broker(crate::broker::PeerCallToken),
}

/// A clustered process: Raft, image, and its roles.
struct Clustered<S: Storage> {
    node_id: i32,
    raft: RaftNode<S>,
    image: MetadataImage,
    /// The next metadata offset to replay.
    applied: Offset,
    controller: Option<ControllerRole>,
    lifecycle: Option<Lifecycle>,
    /// The broker role, on nodes that have it.
    broker: Option<Broker<S>>,
    /// The image has changed since the broker role last got it: it gets it once this
    /// process's broker has caught up (see `pump`).
    broker_image_stale: bool,
    /// The inter-broker listener's name, to find a leader's address in its registration.
    inter_broker_listener: String,
    pending_peer_requests: quorum::PendingPeerRequests,
    calls: BTreeMap<CallId, Purpose>,
    voters: Vec<crate::config::QuorumVoter>,
    request_timeout_ms: u64,
    storage: S,
    log_dir: std::path::PathBuf,
}

enum Mode<S: Storage> {
    Standalone(Box<Broker<S>>),
    Clustered(Box<Clustered<S>>),
}

/// One process of the cluster, sans IO.
pub struct Server<S: Storage> {
    config: BrokerConfig,
    mode: Mode<S>,
    next_call_id: CallId,
    outputs: VecDeque<ServerOutput>,
}

impl<S: Storage> Server<S> {
    /// Opens the process's data and starts its roles.
    pub fn open(
        config: BrokerConfig,
        storage: S,
        now_ms: i64,
        seed: u64,
    ) -> Result<Server<S>, ServerError> {
        let mode = if config.cluster.is_standalone() {
            Mode::Standalone(Box::new(Broker::open(config.clone(), storage, now_ms, seed)?))
        } else {
            Mode::Clustered(Box::new(Clustered::open(&config, storage, now_ms, seed)?))
        };
        let mut server = Server { config, mode, next_call_id: 0, outputs: VecDeque::new() };
        server.pump(now_ms);
        Ok(server)
    }

    /// Handles one request that arrived on the listener named `listener`.
    pub fn handle_request(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        listener: &str,
        request: Request,
    ) {
        let kind = self.listener_kind(listener);
        match &mut self.mode {
            Mode::Standalone(broker) => broker.handle_request(now_ms, token, request),
            Mode::Clustered(cluster) => {
                cluster.handle_request(now_ms, token, kind, request, &mut self.outputs)
            }
        }
        self.pump(now_ms);
    }

    /// Handles the result of call `id`.
    pub fn handle_call_result(&mut self, now_ms: i64, id: CallId, result: CallResult) {
        if let Mode::Clustered(cluster) = &mut self.mode {
            cluster.handle_call_result(now_ms, id, result);
        }
        self.pump(now_ms);
    }

    /// Runs what is due at `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: i64) {
        match &mut self.mode {
            Mode::Standalone(broker) => broker.handle_timeout(now_ms),
            Mode::Clustered(cluster) => cluster.handle_timeout(now_ms),
        }
        self.pump(now_ms);
    }

    /// When [`Server::handle_timeout`] should next be called.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        match &self.mode {
            Mode::Standalone(broker) => broker.next_deadline_ms(),
            Mode::Clustered(cluster) => cluster.next_deadline_ms(),
        }
    }

    /// The next thing for the shell to do; drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        self.outputs.pop_front()
    }

    /// Starts a controlled shutdown (clustered brokers): the controller moves this broker's
    /// leaderships to other replicas first, so clients fail over before the process stops.
    /// The shell keeps serving until [`Server::may_stop`] or its own deadline.
    pub fn begin_controlled_shutdown(&mut self, now_ms: i64) {
        if let Mode::Clustered(cluster) = &mut self.mode {
            if let Some(lifecycle) = &mut cluster.lifecycle {
                lifecycle.begin_shutdown(now_ms);
            }
        }
        self.pump(now_ms);
    }

    /// Whether a controlled shutdown has finished (always, for a node that leads nothing:
    /// standalone, controller-only, or a broker that never registered).
    pub fn may_stop(&self) -> bool {
        match &self.mode {
            Mode::Standalone(_) => true,
            Mode::Clustered(cluster) => cluster.lifecycle.as_ref().is_none_or(Lifecycle::may_stop),
        }
    }

    /// Closes every log cleanly.
    pub fn shutdown(self, now_ms: i64) -> Result<(), ServerError> {
        match self.mode {
            Mode::Standalone(broker) => broker.shutdown(now_ms)?,
            Mode::Clustered(cluster) => cluster.shutdown(now_ms)?,
        }
        Ok(())
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Every partition replica this process holds (ground truth for the testbed).
    pub fn replica_states(&self) -> Vec<ReplicaState> {
        match &self.mode {
            Mode::Standalone(broker) => broker.replica_states(),
            Mode::Clustered(cluster) => {
                cluster.broker.as_ref().map(Broker::replica_states).unwrap_or_default()
            }
        }
    }

    /// The committed metadata this process has replayed (standalone: its local metadata).
    pub fn image(&self) -> &MetadataImage {
        match &self.mode {
            Mode::Standalone(broker) => broker.image(),
            Mode::Clustered(cluster) => &cluster.image,
        }
    }

    /// This node's Raft node, when clustered.
    pub fn raft(&self) -> Option<&RaftNode<S>> {
        match &self.mode {
            Mode::Standalone(_) => None,
            Mode::Clustered(cluster) => Some(&cluster.raft),
        }
    }

    /// Whether this node is the active controller.
    pub fn is_active_controller(&self) -> bool {
        match &self.mode {
            Mode::Standalone(_) => true,
            Mode::Clustered(cluster) => cluster.controller.as_ref().is_some_and(|c| c.is_active()),
        }
    }

    /// This node's broker epoch, once registered (clustered broker role only).
    pub fn broker_epoch(&self) -> Option<i64> {
        match &self.mode {
            Mode::Standalone(_) => None,
            Mode::Clustered(cluster) => {
                cluster.lifecycle.as_ref().and_then(Lifecycle::broker_epoch)
            }
        }
    }

    /// Whether the controller last told this node's broker role it is fenced (clustered
    /// broker role only; a fenced broker leads nothing and is in no ISR).
    pub fn is_fenced(&self) -> Option<bool> {
        match &self.mode {
            Mode::Standalone(_) => None,
            Mode::Clustered(cluster) => cluster.lifecycle.as_ref().map(Lifecycle::is_fenced),
        }
    }

    fn listener_kind(&self, listener: &str) -> ListenerKind {
        if !self.config.cluster.is_standalone()
            && self.config.cluster.is_controller_listener(listener)
        {
            ListenerKind::Controller
        } else {
            ListenerKind::Broker
        }
    }

    /// Moves every role forward until nothing changes, then collects outputs.
    fn pump(&mut self, now_ms: i64) {
        match &mut self.mode {
            Mode::Standalone(broker) => {
                while let Some(output) = broker.poll_output() {
                    self.outputs.push_back(ServerOutput::Response(output));
                }
            }
            Mode::Clustered(cluster) => {
                cluster.pump(now_ms, &mut self.next_call_id, &mut self.outputs)
            }
        }
    }
}

/// Kafka's cluster ids are 16 bytes in URL-safe base64. A clustered node derives its id from
/// `controller.quorum.voters`, so every node of one quorum agrees without a format step.
fn cluster_id_for(config: &BrokerConfig) -> String {
    let voters: Vec<String> =
        config.cluster.quorum_voters.iter().map(ToString::to_string).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(fnv1a(voters.join(",").as_bytes()));
    crate::broker::base64_url(&rng.gen::<[u8; 16]>())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl<S: Storage> Clustered<S> {
    fn open(
        config: &BrokerConfig,
        storage: S,
        now_ms: i64,
        seed: u64,
    ) -> Result<Self, ServerError> {
        let log_dir = config.log_dir().to_path_buf();
        storage.create_dir_all(&log_dir)?;
        let cluster_id = read_or_create_meta_properties(
            &storage,
            &log_dir,
            config.node_id,
            &cluster_id_for(config),
        )?;
        let cluster = &config.cluster;
        let node_id = config.node_id.0;
        let mut raft_config = RaftConfig::new(node_id, cluster.voter_ids(node_id));
        raft_config.election_timeout_ms = cluster.quorum_election_timeout_ms;
        raft_config.fetch_timeout_ms = cluster.quorum_fetch_timeout_ms;
        raft_config.request_timeout_ms = cluster.quorum_request_timeout_ms;
        let raft = RaftNode::open(
            storage.clone(),
            log_dir.join(crate::metadata::METADATA_LOG_DIR),
            raft_config,
            now_ms,
            seed,
        )?;
        let roles = cluster.process_roles;
        let lifecycle = roles.broker.then(|| {
            let previous_epoch = lifecycle::take_previous_broker_epoch(&storage, &log_dir);
            Lifecycle::new(config, &cluster_id, previous_epoch, seed)
        });
        let controller = roles.controller.then(|| ControllerRole::new(config));
        let broker = if roles.broker {
            Some(Broker::open_clustered(
                config.clone(),
                storage.clone(),
                cluster_id.clone(),
                now_ms,
                seed,
            )?)
        } else {
            None
        };
        let inter_broker_listener = cluster
            .inter_broker_listener_name
            .clone()
            .unwrap_or_else(|| config.advertised_endpoint().listener_name.clone());
        tracing::info!(node_id, %roles, %cluster_id, "clustered server opened");
        Ok(Clustered {
            node_id,
            raft,
            image: MetadataImage::default(),
            applied: Offset(0),
            controller,
            lifecycle,
            broker,
            broker_image_stale: true,
            inter_broker_listener,
            pending_peer_requests: quorum::PendingPeerRequests::default(),
            calls: BTreeMap::new(),
            voters: cluster.quorum_voters.clone(),
            request_timeout_ms: cluster.quorum_request_timeout_ms as u64,
            storage,
            log_dir,
        })
    }

    /// Closes the metadata log, then leaves the broker epoch for the next start (KIP-966:
    /// only a clean stop may claim its logs are whole).
    fn shutdown(self, now_ms: i64) -> Result<(), ServerError> {
        if let Some(broker) = self.broker {
            broker.shutdown(now_ms)?;
        }
        self.raft.close(now_ms)?;
        if let Some(broker_epoch) = self.lifecycle.as_ref().and_then(Lifecycle::broker_epoch) {
            lifecycle::write_clean_shutdown_epoch(&self.storage, &self.log_dir, broker_epoch)?;
        }
        Ok(())
    }

    fn handle_request(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        kind: ListenerKind,
        request: Request,
        outputs: &mut VecDeque<ServerOutput>,
    ) {
        let respond = |outputs: &mut VecDeque<ServerOutput>, response: Option<ResponseKind>| {
            outputs.push_back(ServerOutput::Response(Output { token, response }))
        };
        if let RequestKind::ApiVersions(r) = &request.body {
            return respond(outputs, Some(protocol::api_versions_on(kind, r)));
        }
        if kind == ListenerKind::Controller && quorum::is_raft_request(&request.body) {
            let accepted = quorum::accept_peer_request(
                &mut self.pending_peer_requests,
                token,
                request.api_key,
                request.api_version,
                request.correlation_id,
                request.body,
            );
            match accepted {
                Ok((from, message)) => {
                    if let Err(error) = self.raft.handle_message(now_ms, from, message) {
                        tracing::error!(%error, "raft node failed");
                    }
                }
                Err(reason) => {
                    tracing::warn!(%reason, "unreadable raft request; not answered");
                    respond(outputs, None);
                }
            }
            return;
        }
        // On a broker listener, admin requests go to the broker role, which forwards them to
        // the active controller wherever it is.
        let for_broker = kind == ListenerKind::Broker && self.broker.is_some();
        if controller_role::is_controller_api(request.api_key) && !for_broker {
            let origin = Origin::Remote { token };
            match &mut self.controller {
                Some(controller) if controller.is_leader(&self.raft) => {
                    controller.submit(origin, request.body, request.api_version)
                }
                _ => respond(
                    outputs,
                    Some(controller_role::not_controller(&request.body, request.api_version)),
                ),
            }
            return;
        }
        match &mut self.broker {
            Some(broker) if kind == ListenerKind::Broker => {
                broker.handle_request(now_ms, token, request)
            }
            _ => {
                tracing::warn!(api = ?request.api_key, ?kind, "no role of this node serves this request here");
                respond(outputs, None)
            }
        }
    }

    fn handle_call_result(&mut self, now_ms: i64, id: CallId, result: CallResult) {
        let Some(purpose) = self.calls.remove(&id) else {
            tracing::warn!(call = id, "result of an unknown call");
            return;
        };
        match purpose {
            Purpose::Raft(call) => {
                if let Some(message) = quorum::call_result_message(&call, result) {
                    if let Err(error) = self.raft.handle_message(now_ms, call.to, message) {
                        tracing::error!(%error, "raft node failed");
                    }
                }
            }
            Purpose::Lifecycle => {
                let result = result.map_err(|failed| failed.to_string());
                if let Some(lifecycle) = &mut self.lifecycle {
                    lifecycle.handle_result(now_ms, result);
                }
            }
            Purpose::Broker(token) => {
                if let Some(broker) = &mut self.broker {
                    broker.handle_peer_result(now_ms, token, result.map_err(|f| f.to_string()));
                }
            }
        }
    }

    fn handle_timeout(&mut self, now_ms: i64) {
        if let Err(error) = self.raft.handle_timeout(now_ms) {
            tracing::error!(%error, "raft node failed");
        }
        if let Some(broker) = &mut self.broker {
            broker.handle_timeout(now_ms);
        }
    }

    fn next_deadline_ms(&self) -> Option<i64> {
        let controller = self.controller.as_ref().and_then(ControllerRole::next_deadline_ms);
        let lifecycle = self.lifecycle.as_ref().and_then(Lifecycle::next_deadline_ms);
        let broker = self.broker.as_ref().and_then(Broker::next_deadline_ms);
        [self.raft.next_deadline_ms(), controller, lifecycle, broker].into_iter().flatten().min()
    }

    fn pump(
        &mut self,
        now_ms: i64,
        next_call_id: &mut CallId,
        outputs: &mut VecDeque<ServerOutput>,
    ) {
        loop {
            let mut progress = self.drain_raft(next_call_id, outputs);
            if self.replay() {
                progress = true;
                self.broker_image_stale = true;
            }
            // The broker role acts on committed metadata only once this process registered
            // and caught up with its registration, as Kafka's broker publishes metadata to its
            // replica manager only after its initial catch-up. Its local copy of the metadata
            // log may still name it leader from before a crash: a quick reboot that lost its
            // unflushed tail would lead again at the old leader epoch, and its followers would
            // truncate committed records to match it. The controller refuses the new
            // incarnation while the old session is live, and fences the old one first.
            let started = self.lifecycle.as_ref().is_none_or(Lifecycle::has_caught_up);
            if self.broker_image_stale && started {
                if let Some(broker) = &mut self.broker {
                    broker.apply_image(now_ms, &self.image);
                    progress = true;
                }
                self.broker_image_stale = false;
            }
            if let Some(controller) = &mut self.controller {
                progress |= controller.step(
                    now_ms,
                    &mut self.raft,
                    &self.image,
                    self.applied,
                    |origin, response| match origin {
                        Origin::Remote { token } => {
                            outputs.push_back(ServerOutput::Response(Output {
                                token,
                                response: Some(response),
                            }))
                        }
                        Origin::Local => {
                            if let Some(lifecycle) = &mut self.lifecycle {
                                lifecycle.handle_result(now_ms, Ok(response));
                            }
                        }
                        Origin::LocalBroker { token } => {
                            if let Some(broker) = &mut self.broker {
                                broker.handle_peer_result(now_ms, token, Ok(response));
                            }
                        }
                    },
                );
            }
            progress |= self.step_lifecycle(now_ms, next_call_id, outputs);
            progress |= self.drain_broker(now_ms, next_call_id, outputs);
            if !progress {
                break;
            }
        }
    }

    /// Routes every Raft output. Returns whether there was any.
    fn drain_raft(
        &mut self,
        next_call_id: &mut CallId,
        outputs: &mut VecDeque<ServerOutput>,
    ) -> bool {
        let mut progress = false;
        while let Some(output) = self.raft.poll_output() {
            progress = true;
            let RaftOutput::Send { to, message } = output else {
                // High-watermark and leader changes are read from the node when replaying
                // and stepping the controller.
                continue;
            };
            match quorum::route(&mut self.pending_peer_requests, &self.voters, to, &message) {
                quorum::Routed::Call { call, lane, to, request } => {
                    *next_call_id += 1;
                    let id = *next_call_id;
                    outputs.push_back(ServerOutput::Call(quorum::make_call(
                        id,
                        &call,
                        lane,
                        to,
                        request,
                        self.request_timeout_ms,
                    )));
                    self.calls.insert(id, Purpose::Raft(call));
                }
                quorum::Routed::Respond { token, response } => outputs
                    .push_back(ServerOutput::Response(Output { token, response: Some(response) })),
                quorum::Routed::Drop(reason) => tracing::debug!(%reason, "raft message dropped"),
            }
        }
        progress
    }

    /// Replays newly committed records into the image. Returns whether any were.
    fn replay(&mut self) -> bool {
        let mut progress = false;
        loop {
            let read = match self.raft.committed(self.applied, 1 << 20) {
                Ok(read) => read,
                Err(error) => {
                    tracing::error!(%error, "cannot read committed metadata");
                    return progress;
                }
            };
            if read.next_offset <= self.applied {
                return progress;
            }
            for (offset, value) in &read.records {
                match serde_json::from_slice::<MetadataRecord>(value) {
                    Ok(record) => self.image.replay(&record),
                    // Every node skips the same record, so images stay equal; the log line
                    // names it for whoever must find the writer's bug.
                    Err(error) => {
                        tracing::error!(%offset, %error, "metadata record does not decode; skipped")
                    }
                }
            }
            self.applied = read.next_offset;
            self.image.set_offset(self.applied.0 - 1);
            progress = true;
        }
    }

    /// Routes the broker role's answers and peer requests. Returns whether there were any.
    fn drain_broker(
        &mut self,
        now_ms: i64,
        next_call_id: &mut CallId,
        outputs: &mut VecDeque<ServerOutput>,
    ) -> bool {
        let Some(broker) = &mut self.broker else { return false };
        if let Some(epoch) = self.lifecycle.as_ref().and_then(Lifecycle::broker_epoch) {
            broker.set_broker_epoch(epoch);
        }
        let mut progress = false;
        while let Some(output) = broker.poll_output() {
            progress = true;
            outputs.push_back(ServerOutput::Response(output));
        }
        let mut failed = Vec::new();
        while let Some(request) = broker.poll_peer_request() {
            progress = true;
            let PeerRequest { token, target, lane, api_key, api_version, request, timeout_ms } =
                request;
            let to = match target {
                CallTarget::Controller => {
                    if let Some(controller) = &mut self.controller {
                        if controller.is_leader(&self.raft) {
                            controller.submit(Origin::LocalBroker { token }, request, api_version);
                            continue;
                        }
                    }
                    let leader = self.raft.leader_id().filter(|&l| l != self.node_id);
                    leader.and_then(|l| self.voters.iter().find(|v| v.node_id == l)).map(|v| {
                        PeerAddress {
                            node_id: crate::BrokerId(v.node_id),
                            host: v.host.clone(),
                            port: v.port,
                        }
                    })
                }
                CallTarget::Broker(id) => self.image.broker(id).and_then(|b| {
                    let endpoint =
                        b.listeners.iter().find(|l| l.name == self.inter_broker_listener)?;
                    Some(PeerAddress {
                        node_id: crate::BrokerId(id),
                        host: endpoint.host.clone(),
                        port: endpoint.port,
                    })
                }),
            };
            let Some(to) = to else {
                failed.push((token, format!("no address for {target:?}")));
                continue;
            };
            *next_call_id += 1;
            let id = *next_call_id;
            outputs.push_back(ServerOutput::Call(Call {
                id,
                to,
                lane,
                api_key,
                api_version,
                request,
                timeout_ms,
            }));
            self.calls.insert(id, Purpose::Broker(token));
        }
        for (token, reason) in failed {
            broker.handle_peer_result(now_ms, token, Err(reason));
        }
        progress
    }

    /// Sends what the broker lifecycle has due to the active controller.
    fn step_lifecycle(
        &mut self,
        now_ms: i64,
        next_call_id: &mut CallId,
        outputs: &mut VecDeque<ServerOutput>,
    ) -> bool {
        let Some(lifecycle) = &mut self.lifecycle else { return false };
        let Some((request, api_version)) = lifecycle.poll_request(now_ms, self.applied) else {
            return false;
        };
        if let Some(controller) = &mut self.controller {
            if controller.is_leader(&self.raft) {
                controller.submit(Origin::Local, request, api_version);
                return true;
            }
        }
        let leader = self.raft.leader_id().filter(|&l| l != self.node_id);
        let Some(voter) = leader.and_then(|l| self.voters.iter().find(|v| v.node_id == l)) else {
            lifecycle.handle_result(now_ms, Err("no active controller known".into()));
            return true;
        };
        *next_call_id += 1;
        let id = *next_call_id;
        let api_key = protocol::peer_api_key(&request).expect("a controller request");
        outputs.push_back(ServerOutput::Call(Call {
            id,
            to: PeerAddress {
                node_id: crate::BrokerId(voter.node_id),
                host: voter.host.clone(),
                port: voter.port,
            },
            lane: Lane::Controller,
            api_key,
            api_version,
            request,
            timeout_ms: self.request_timeout_ms,
        }));
        self.calls.insert(id, Purpose::Lifecycle);
        true
    }
}

/// Serializes metadata records as the metadata log stores them (one JSON value each).
fn encode_records(records: &[MetadataRecord]) -> Vec<Bytes> {
    records
        .iter()
        .map(|r| Bytes::from(serde_json::to_vec(r).expect("metadata records serialize")))
        .collect()
}

#[cfg(test)]
mod tests;
