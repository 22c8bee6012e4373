//! A broker's life as the controller sees it: register, then heartbeat.
//!
//! Inputs: the time, how far this node has replayed the metadata log, and the controller's
//! answers (or why none came). Outputs: the next BrokerRegistration or BrokerHeartbeat to send
//! to the active controller, at most one in flight.
//!
//! Invariants: a broker heartbeats only with the epoch its registration got; a
//! STALE_BROKER_EPOCH (the controller forgot or replaced this registration) sends it back to
//! registering; a failed call is retried after a backoff, never in a loop. The incarnation id
//! is new for every process start, which is how the controller tells a restart from a retry.
//! `previous_broker_epoch` is the epoch this broker had when it last shut down cleanly
//! (KIP-966), or -1: the controller then knows its logs may have lost their unflushed tail.

use crate::config::BrokerConfig;
use crate::protocol::ErrorCode;
use crate::storage::{OpenMode, Storage, StorageFile};
use crate::types::Offset;
use kafka_protocol::messages::{
    broker_registration_request, BrokerHeartbeatRequest, BrokerId as WireBrokerId,
    BrokerRegistrationRequest, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use rand::{Rng, SeedableRng};
use std::path::Path;
use uuid::Uuid;

/// The file that carries the broker epoch across a clean shutdown.
pub const CLEAN_SHUTDOWN_EPOCH_FILE: &str = "broker-epoch-at-clean-shutdown";
const BROKER_REGISTRATION_VERSION: i16 = 3;
const BROKER_HEARTBEAT_VERSION: i16 = 1;
/// The pause before retrying a registration or heartbeat that failed.
const RETRY_BACKOFF_MS: i64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Registering,
    Registered { broker_epoch: i64 },
}

pub struct Lifecycle {
    broker_id: i32,
    cluster_id: String,
    incarnation_id: Uuid,
    listeners: Vec<crate::config::Endpoint>,
    previous_broker_epoch: i64,
    heartbeat_interval_ms: i64,
    state: State,
    in_flight: bool,
    next_send_ms: i64,
    fenced: bool,
    /// Controlled shutdown asked for: heartbeats say `want_shut_down`.
    stopping: bool,
    /// The controller answered `should_shut_down`: leadership has moved away.
    may_stop: bool,
    /// A heartbeat of this incarnation was answered caught up (Kafka's initial catch-up).
    caught_up: bool,
}

/// Reads (and removes, so a later crash is not mistaken for a clean stop) the broker epoch
/// a clean shutdown left; -1 when there is none or it does not parse.
pub fn take_previous_broker_epoch<S: Storage>(storage: &S, log_dir: &Path) -> i64 {
    let path = log_dir.join(CLEAN_SHUTDOWN_EPOCH_FILE);
    if !storage.exists(&path).unwrap_or(false) {
        return -1;
    }
    let epoch = storage
        .open(&path, OpenMode::Existing)
        .and_then(|file| file.read_all())
        .ok()
        .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.trim().parse::<i64>().ok())
        .unwrap_or(-1);
    let removed = storage.remove_file(&path).and_then(|()| storage.sync_dir(log_dir));
    if let Err(error) = removed {
        tracing::warn!(%error, path = %path.display(), "cannot remove the clean-shutdown epoch");
    }
    epoch
}

/// Writes the broker epoch for the next start to find (after every log closed cleanly).
pub fn write_clean_shutdown_epoch<S: Storage>(
    storage: &S,
    log_dir: &Path,
    broker_epoch: i64,
) -> Result<(), crate::storage::StorageError> {
    let path = log_dir.join(CLEAN_SHUTDOWN_EPOCH_FILE);
    let mut file = storage.open(&path, OpenMode::CreateOrExisting)?;
    file.truncate(0)?;
    file.append(broker_epoch.to_string().as_bytes())?;
    file.sync()?;
    storage.sync_dir(log_dir)
}

impl Lifecycle {
    pub fn new(
        config: &BrokerConfig,
        cluster_id: &str,
        previous_broker_epoch: i64,
        seed: u64,
    ) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x11fe);
        let listeners = config
            .advertised_listeners
            .iter()
            .filter(|l| !config.cluster.is_controller_listener(&l.listener_name))
            .cloned()
            .collect();
        Lifecycle {
            broker_id: config.node_id.0,
            cluster_id: cluster_id.to_string(),
            incarnation_id: uuid::Builder::from_random_bytes(rng.gen()).into_uuid(),
            listeners,
            previous_broker_epoch,
            heartbeat_interval_ms: config.cluster.broker_heartbeat_interval_ms,
            state: State::Registering,
            in_flight: false,
            next_send_ms: i64::MIN,
            fenced: true,
            stopping: false,
            may_stop: false,
            caught_up: false,
        }
    }

    pub fn broker_epoch(&self) -> Option<i64> {
        match self.state {
            State::Registered { broker_epoch } => Some(broker_epoch),
            State::Registering => None,
        }
    }

    /// Starts a controlled shutdown: the next heartbeats ask the controller to move this
    /// broker's leaderships away (Kafka's `want_shut_down`).
    pub fn begin_shutdown(&mut self, now_ms: i64) {
        if !self.stopping {
            tracing::info!("controlled shutdown: asking the controller to move leadership away");
            self.stopping = true;
            self.next_send_ms = self.next_send_ms.min(now_ms);
        }
    }

    /// Whether the process may stop now: the controller has moved every leadership away, or
    /// this broker never registered (it leads nothing).
    pub fn may_stop(&self) -> bool {
        self.may_stop || self.state == State::Registering
    }

    /// Whether the controller last said this broker is fenced.
    pub fn is_fenced(&self) -> bool {
        self.fenced
    }

    /// Whether this process's registration was accepted and a heartbeat since answered that
    /// its metadata caught up with the registration: Kafka's initial catch-up, before which a
    /// broker acts on no metadata. Once true, it stays true.
    pub fn has_caught_up(&self) -> bool {
        self.caught_up
    }

    pub fn next_deadline_ms(&self) -> Option<i64> {
        (!self.in_flight).then_some(self.next_send_ms)
    }

    /// The request due now, if any; `applied` is how far this node replayed the metadata.
    pub fn poll_request(&mut self, now_ms: i64, applied: Offset) -> Option<(RequestKind, i16)> {
        if self.in_flight || now_ms < self.next_send_ms {
            return None;
        }
        self.in_flight = true;
        Some(match self.state {
            State::Registering => {
                let listeners = self
                    .listeners
                    .iter()
                    .map(|l| {
                        broker_registration_request::Listener::default()
                            .with_name(StrBytes::from_string(l.listener_name.clone()))
                            .with_host(StrBytes::from_string(l.host.clone()))
                            .with_port(l.port)
                            .with_security_protocol(0)
                    })
                    .collect();
                let request = BrokerRegistrationRequest::default()
                    .with_broker_id(WireBrokerId(self.broker_id))
                    .with_cluster_id(StrBytes::from_string(self.cluster_id.clone()))
                    .with_incarnation_id(self.incarnation_id)
                    .with_listeners(listeners)
                    .with_previous_broker_epoch(self.previous_broker_epoch);
                (RequestKind::BrokerRegistration(request), BROKER_REGISTRATION_VERSION)
            }
            State::Registered { broker_epoch } => {
                let request = BrokerHeartbeatRequest::default()
                    .with_broker_id(WireBrokerId(self.broker_id))
                    .with_broker_epoch(broker_epoch)
                    .with_current_metadata_offset(applied.0 - 1)
                    .with_want_shut_down(self.stopping);
                (RequestKind::BrokerHeartbeat(request), BROKER_HEARTBEAT_VERSION)
            }
        })
    }

    /// The controller's answer to the request in flight, or why none came.
    pub fn handle_result(&mut self, now_ms: i64, result: Result<ResponseKind, String>) {
        if !self.in_flight {
            tracing::warn!("a lifecycle answer with nothing in flight");
            return;
        }
        self.in_flight = false;
        let retry = now_ms + RETRY_BACKOFF_MS;
        match result {
            Err(reason) => {
                tracing::debug!(%reason, "registration or heartbeat failed; retrying");
                self.next_send_ms = retry;
            }
            Ok(ResponseKind::BrokerRegistration(r)) if r.error_code == 0 => {
                tracing::info!(broker_epoch = r.broker_epoch, "registered with the controller");
                self.state = State::Registered { broker_epoch: r.broker_epoch };
                self.next_send_ms = now_ms;
            }
            Ok(ResponseKind::BrokerRegistration(r)) => {
                tracing::debug!(error_code = r.error_code, "registration refused; retrying");
                self.next_send_ms = retry;
            }
            Ok(ResponseKind::BrokerHeartbeat(r)) if r.error_code == 0 => {
                if self.fenced != r.is_fenced {
                    tracing::info!(
                        fenced = r.is_fenced,
                        "the controller changed this broker's fencing"
                    );
                }
                self.fenced = r.is_fenced;
                if r.is_caught_up && !self.caught_up {
                    tracing::info!("caught up with the metadata: the broker starts");
                    self.caught_up = true;
                }
                if self.stopping && r.should_shut_down {
                    tracing::info!("controlled shutdown: the controller moved leadership away");
                    self.may_stop = true;
                }
                // While stopping, ask again soon: the controller answers once it moved everything.
                let interval =
                    if self.stopping { RETRY_BACKOFF_MS } else { self.heartbeat_interval_ms };
                self.next_send_ms = now_ms + interval;
            }
            Ok(ResponseKind::BrokerHeartbeat(r))
                if r.error_code == ErrorCode::StaleBrokerEpoch.code() =>
            {
                tracing::warn!(
                    "the controller no longer knows this broker epoch; registering again"
                );
                self.state = State::Registering;
                self.fenced = true;
                self.next_send_ms = now_ms;
            }
            Ok(ResponseKind::BrokerHeartbeat(r)) => {
                tracing::debug!(error_code = r.error_code, "heartbeat refused; retrying");
                self.next_send_ms = retry;
            }
            Ok(other) => {
                tracing::warn!(?other, "an answer that is no registration or heartbeat");
                self.next_send_ms = retry;
            }
        }
    }
}
