//! The async shell: sockets, tasks and timers around the sans-IO [`Server`].
//!
//! Written once against `tokio`, which is madsim-tokio: a normal build runs on real tokio, a
//! `--cfg madsim` build runs the same code inside the simulator. Hence the rules: every
//! `select!` is `biased;`, every frame written is flushed, streams are split with
//! `tokio::io::split`, no OS threads, time only through `tokio::time` and `SystemTime`
//! (which madsim simulates).
//!
//! Tasks: one accept loop per listener; one task per connection, which reads a frame,
//! decodes it against its listener's API table, hands it to the server task and writes the
//! answer before reading the next frame (so a connection's requests are answered in order,
//! as Kafka does by muting a connection while a request is in flight); one server task that
//! owns the [`Server`], feeds it requests, call results and timeouts, and routes its outputs:
//! responses back to the waiting connection, [`Call`](crate::server::Call)s to [`Peers`],
//! whose link tasks (one per peer and lane) deliver them and send each result back.
//!
//! Inputs: a [`BrokerConfig`], a [`Storage`], and a shutdown future; then requests on every
//! `listeners` endpoint, and the results of the server's calls to its peers. Outputs: the
//! server serving until shutdown (a standalone node — no `controller.quorum.voters` — is the
//! single-node broker and never calls a peer); when the shutdown future completes, a
//! clustered broker first asks the controller to move its leaderships away and keeps serving
//! until it has (or [`CONTROLLED_SHUTDOWN_TIMEOUT`] passed); then a clean close of every log.
//! For a testbed that passes [`Observers`]: what changed after each input.
//!
//! Invariants: a connection on a controller listener of a clustered node decodes with the
//! controller's API table, every other connection (and every connection of a standalone
//! node) with the broker's; a request the server answers with nothing (acks=0, a Raft
//! request it cannot take) gets nothing written and the connection reads its next frame;
//! every call the server makes goes to [`Peers`], which hands back exactly one result; once
//! the server task stops, every connection closes (the peer sees EOF) and every link stops.

mod peers;
pub use peers::{Delivered, Peers};

use crate::broker::{ReplicaState, RequestToken};
use crate::client::ClientConfig;
use crate::config::BrokerConfig;
use crate::protocol::versions::ListenerKind;
use crate::protocol::{self, Decoded, Request};
use crate::server::{Server, ServerError, ServerOutput, ServerSnapshot};
use crate::storage::Storage;
use bytes::Bytes;
use kafka_protocol::messages::ResponseKind;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// How long a stopping node waits for the controller to move its leaderships away (Kafka
/// retries controlled shutdown for about as long) before it stops anyway.
const CONTROLLED_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Requests queued for the server task before connections wait.
const INBOX_CAPACITY: usize = 1024;

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
}

/// A request on its way to the server task, with the listener it came in on and the way
/// back.
struct Envelope {
    listener: Arc<str>,
    request: Request,
    reply: oneshot::Sender<Option<ResponseKind>>,
}

/// Wall-clock milliseconds since the epoch: Kafka's timestamps. Under madsim, `SystemTime`
/// is the simulated clock, so this stays deterministic.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Called with every replica's state whenever one changes: how the testbed watches ground
/// truth. Production runs pass none.
pub type Observer = std::sync::Arc<dyn Fn(&[ReplicaState]) + Send + Sync>;

/// Called with a snapshot of the whole process ([`Server::observe`]: replicas, committed
/// metadata, Raft view) whenever it differs from the last one: how the testbed watches a
/// cluster. Called from the server task between two inputs, so it sees no half-done state.
pub type SnapshotObserver = std::sync::Arc<dyn Fn(&ServerSnapshot) + Send + Sync>;

/// Who watches a node. Production runs leave both empty (the default).
#[derive(Clone, Default)]
pub struct Observers {
    /// Told every replica's state when one changes.
    pub replicas: Option<Observer>,
    /// Told the process's snapshot when it changes.
    pub snapshots: Option<SnapshotObserver>,
}

/// The API table a listener serves: the controller's on a clustered node's controller
/// listeners, the broker's everywhere else (a standalone node answers every listener as a
/// broker, as the [`Server`] does).
fn listener_kind(config: &BrokerConfig, listener_name: &str) -> ListenerKind {
    if !config.cluster.is_standalone() && config.cluster.is_controller_listener(listener_name) {
        ListenerKind::Controller
    } else {
        ListenerKind::Broker
    }
}

/// How this node's links talk to its peers. A call carries its own timeout; the connect
/// timeout is the quorum's request timeout, so an unreachable peer fails a call no later
/// than an unanswered one would.
fn peer_client_config(config: &BrokerConfig) -> ClientConfig {
    let timeout_ms = config.cluster.quorum_request_timeout_ms.max(1) as u64;
    ClientConfig {
        bootstrap_servers: Vec::new(),
        client_id: format!("odradek-node-{}", config.node_id),
        request_timeout_ms: timeout_ms,
        connect_timeout_ms: timeout_ms,
        ..ClientConfig::default()
    }
}

/// Runs a node until `shutdown` completes, then closes it cleanly.
pub async fn run_broker<S: Storage>(
    config: BrokerConfig,
    storage: S,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    run_broker_observed(config, storage, shutdown, None).await
}

/// [`run_broker`], telling `observer` about every change of replica state.
pub async fn run_broker_observed<S: Storage>(
    config: BrokerConfig,
    storage: S,
    shutdown: impl Future<Output = ()>,
    observer: Option<Observer>,
) -> Result<(), NodeError> {
    run_node(config, storage, shutdown, Observers { replicas: observer, snapshots: None }).await
}

/// [`run_broker`], telling `observers` what changed after every input.
pub async fn run_node<S: Storage>(
    config: BrokerConfig,
    storage: S,
    shutdown: impl Future<Output = ()>,
    observers: Observers,
) -> Result<(), NodeError> {
    let seed = {
        use rand::Rng;
        madsim::rand::thread_rng().gen::<u64>()
    };
    let mut server = Server::open(config.clone(), storage, now_ms(), seed)?;
    let (inbox_tx, mut inbox) = mpsc::channel::<Envelope>(INBOX_CAPACITY);
    let mut accept_loops = Vec::new();
    for endpoint in &config.listeners {
        let address = format!("{}:{}", endpoint.host, endpoint.port);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| NodeError::Listen { address: address.clone(), source })?;
        let kind = listener_kind(&config, &endpoint.listener_name);
        tracing::info!(listener = %endpoint, ?kind, "listening");
        accept_loops.push(tokio::spawn(accept_loop(
            listener,
            Arc::from(endpoint.listener_name.as_str()),
            kind,
            inbox_tx.clone(),
            config.socket_request_max_bytes,
        )));
    }
    drop(inbox_tx);
    let (results_tx, mut results) = mpsc::unbounded_channel::<Delivered>();
    let mut peers = Peers::new(peer_client_config(&config), results_tx);

    let mut pending: BTreeMap<RequestToken, oneshot::Sender<Option<ResponseKind>>> =
        BTreeMap::new();
    let mut next_token: RequestToken = 0;
    let mut observed: Vec<ReplicaState> = Vec::new();
    let mut snapshot: Option<ServerSnapshot> = None;
    tokio::pin!(shutdown);
    // Set once `shutdown` completed: serve on until the controlled shutdown is done, or this.
    let mut stop_by: Option<tokio::time::Instant> = None;
    loop {
        // Opening may already have produced outputs, so drain before the first wait too.
        while let Some(output) = server.poll_output() {
            match output {
                ServerOutput::Response(output) => match pending.remove(&output.token) {
                    // The connection may be gone; its answer is then dropped.
                    Some(reply) => {
                        let _ = reply.send(output.response);
                    }
                    None => tracing::error!(token = output.token, "a response for no request"),
                },
                ServerOutput::Call(call) => peers.call(call),
            }
        }
        if let Some(observer) = &observers.replicas {
            let states = server.replica_states();
            if states != observed {
                observer(&states);
                observed = states;
            }
        }
        if let Some(observer) = &observers.snapshots {
            let now = server.observe();
            if snapshot.as_ref() != Some(&now) {
                observer(&now);
                snapshot = Some(now);
            }
        }
        if let Some(stop_by) = stop_by {
            if server.may_stop() || tokio::time::Instant::now() >= stop_by {
                break;
            }
        }
        let deadline = server.next_deadline_ms().map(|at| {
            tokio::time::Instant::now()
                + Duration::from_millis(at.saturating_sub(now_ms()).max(0) as u64)
        });
        let deadline = match (deadline, stop_by) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            biased;
            _ = &mut shutdown, if stop_by.is_none() => {
                stop_by = Some(tokio::time::Instant::now() + CONTROLLED_SHUTDOWN_TIMEOUT);
                server.begin_controlled_shutdown(now_ms());
            }
            // `Peers` holds a sender for as long as it lives, so this never ends first.
            Some((id, result)) = results.recv() => {
                server.handle_call_result(now_ms(), id, result);
            }
            envelope = inbox.recv() => {
                let Some(Envelope { listener, request, reply }) = envelope else { break };
                next_token += 1;
                pending.insert(next_token, reply);
                server.handle_request(now_ms(), next_token, &listener, request);
            }
            _ = sleep_until(deadline) => server.handle_timeout(now_ms()),
        }
    }
    for accept_loop in accept_loops {
        accept_loop.abort();
    }
    // Stops every link; closing the inbox (below) stops every connection.
    drop(peers);
    drop(inbox);
    server.shutdown(now_ms())?;
    Ok(())
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn accept_loop(
    listener: TcpListener,
    listener_name: Arc<str>,
    kind: ListenerKind,
    inbox: mpsc::Sender<Envelope>,
    max_request_bytes: usize,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // As Kafka does on every accepted socket: an answer must not wait for the
                // client's next request to acknowledge the previous one (Nagle + delayed ACK).
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
                }
                let connection = Connection {
                    peer,
                    listener_name: listener_name.clone(),
                    kind,
                    inbox: inbox.clone(),
                    max_request_bytes,
                };
                tokio::spawn(connection.serve(stream));
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Why a connection was closed by us.
#[derive(Debug, thiserror::Error)]
enum ConnectionClosed {
    #[error("frame size {size} is outside [0, socket.request.max.bytes = {max}]")]
    FrameSize { size: i32, max: usize },
    /// The client announced a frame and closed before sending all of it: bad input, so it is
    /// logged like the others (a close between frames is an ordinary end and is not).
    #[error("frame ended after {got} of {size} bytes")]
    ShortFrame { got: usize, size: i32 },
    #[error("{0}")]
    Decode(#[from] protocol::DecodeError),
    #[error("cannot encode the response: {0}")]
    Encode(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the server is shutting down")]
    ServerGone,
}

/// One accepted connection: where it came from and what it may ask.
struct Connection {
    peer: SocketAddr,
    listener_name: Arc<str>,
    kind: ListenerKind,
    inbox: mpsc::Sender<Envelope>,
    max_request_bytes: usize,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        let peer = self.peer;
        let outcome = tokio::select! {
            biased;
            // The server task stopped: close now, so the peer sees EOF rather than a
            // connection that accepts requests nobody will answer.
            _ = self.inbox.closed() => Err(ConnectionClosed::ServerGone),
            outcome = self.frames(stream) => outcome,
        };
        match outcome {
            Ok(()) | Err(ConnectionClosed::ServerGone) => {
                tracing::debug!(%peer, "connection closed")
            }
            Err(ConnectionClosed::Io(error)) => tracing::debug!(%peer, %error, "connection closed"),
            Err(reason) => tracing::warn!(%peer, %reason, "closing connection"),
        }
    }

    /// Reads, hands over and answers frames one at a time until the peer closes.
    async fn frames(&self, stream: TcpStream) -> Result<(), ConnectionClosed> {
        let (reader, mut writer) = tokio::io::split(stream);
        let mut reader = tokio::io::BufReader::new(reader);
        loop {
            let size = match reader.read_i32().await {
                Ok(size) => size,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            if size < 0 || size as usize > self.max_request_bytes {
                return Err(ConnectionClosed::FrameSize { size, max: self.max_request_bytes });
            }
            // Grow the buffer as bytes arrive rather than trusting the size up front.
            let mut frame = Vec::new();
            (&mut reader).take(size as u64).read_to_end(&mut frame).await?;
            if frame.len() < size as usize {
                return Err(ConnectionClosed::ShortFrame { got: frame.len(), size });
            }
            let response = match protocol::decode_request_on(self.kind, Bytes::from(frame))? {
                Decoded::Reply(reply) => reply,
                Decoded::Request(request) => {
                    let (api_key, api_version, correlation_id) =
                        (request.api_key, request.api_version, request.correlation_id);
                    let (reply, answer) = oneshot::channel();
                    let envelope =
                        Envelope { listener: self.listener_name.clone(), request: *request, reply };
                    self.inbox.send(envelope).await.map_err(|_| ConnectionClosed::ServerGone)?;
                    match answer.await.map_err(|_| ConnectionClosed::ServerGone)? {
                        Some(body) => Some(
                            protocol::encode_response(api_key, api_version, correlation_id, &body)
                                .map_err(ConnectionClosed::Encode)?,
                        ),
                        None => None,
                    }
                }
            };
            if let Some(frame) = response {
                writer.write_all(&frame).await?;
                writer.flush().await?;
            }
        }
    }
}
