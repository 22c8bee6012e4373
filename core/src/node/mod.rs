//! The async shell: sockets, tasks and timers around the sans-IO [`Broker`].
//!
//! Written once against `tokio`, which is madsim-tokio: a normal build runs on real tokio, a
//! `--cfg madsim` build runs the same code inside the simulator. Hence the rules: every
//! `select!` is `biased;`, every frame written is flushed, streams are split with
//! `tokio::io::split`, no OS threads, time only through `tokio::time` and `SystemTime`
//! (which madsim simulates).
//!
//! Tasks: one accept loop per listener; one task per connection, which reads a frame,
//! decodes it, hands it to the broker task and writes the answer before reading the next
//! frame (so a connection's requests are answered in order, as Kafka does by muting a
//! connection while a request is in flight); one broker task that owns the [`Broker`], feeds
//! it requests and timeouts, and routes its outputs back.
//!
//! Inputs: a [`BrokerConfig`], a [`Storage`], and a shutdown future. Outputs: the broker
//! serving until shutdown, then a clean close of every log.

mod peers;
pub use peers::{Delivered, Peers};

use crate::broker::{Broker, BrokerError, ReplicaState, RequestToken};
use crate::config::BrokerConfig;
use crate::protocol::{self, Decoded, Request};
use crate::storage::Storage;
use bytes::Bytes;
use kafka_protocol::messages::ResponseKind;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// Requests queued for the broker task before connections wait.
const INBOX_CAPACITY: usize = 1024;

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
}

/// A request on its way to the broker task, with the way back.
struct Envelope {
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

/// Runs a broker until `shutdown` completes, then closes it cleanly.
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
    let seed = {
        use rand::Rng;
        madsim::rand::thread_rng().gen::<u64>()
    };
    let mut broker = Broker::open(config.clone(), storage, now_ms(), seed)?;
    let (inbox_tx, mut inbox) = mpsc::channel::<Envelope>(INBOX_CAPACITY);
    let mut accept_loops = Vec::new();
    for endpoint in &config.listeners {
        let address = format!("{}:{}", endpoint.host, endpoint.port);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| NodeError::Listen { address: address.clone(), source })?;
        tracing::info!(listener = %endpoint, "listening");
        accept_loops.push(tokio::spawn(accept_loop(
            listener,
            inbox_tx.clone(),
            config.socket_request_max_bytes,
        )));
    }
    drop(inbox_tx);

    let mut pending: BTreeMap<RequestToken, oneshot::Sender<Option<ResponseKind>>> =
        BTreeMap::new();
    let mut next_token: RequestToken = 0;
    let mut observed: Vec<ReplicaState> = Vec::new();
    tokio::pin!(shutdown);
    loop {
        if let Some(observer) = &observer {
            let states = broker.replica_states();
            if states != observed {
                observer(&states);
                observed = states;
            }
        }
        let deadline = broker.next_deadline_ms().map(|at| {
            tokio::time::Instant::now()
                + Duration::from_millis(at.saturating_sub(now_ms()).max(0) as u64)
        });
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            envelope = inbox.recv() => {
                let Some(Envelope { request, reply }) = envelope else { break };
                next_token += 1;
                pending.insert(next_token, reply);
                broker.handle_request(now_ms(), next_token, request);
            }
            _ = sleep_until(deadline) => broker.handle_timeout(now_ms()),
        }
        while let Some(output) = broker.poll_output() {
            let reply =
                pending.remove(&output.token).expect("every output answers a pending request");
            // The connection may be gone; its answer is then dropped.
            let _ = reply.send(output.response);
        }
    }
    for accept_loop in accept_loops {
        accept_loop.abort();
    }
    broker.shutdown(now_ms())?;
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
    inbox: mpsc::Sender<Envelope>,
    max_request_bytes: usize,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(serve_connection(stream, peer, inbox.clone(), max_request_bytes));
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
    #[error("the broker is shutting down")]
    BrokerGone,
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    inbox: mpsc::Sender<Envelope>,
    max_request_bytes: usize,
) {
    let (reader, mut writer) = tokio::io::split(stream);
    let mut reader = tokio::io::BufReader::new(reader);
    let outcome: Result<(), ConnectionClosed> = async {
        loop {
            let size = match reader.read_i32().await {
                Ok(size) => size,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            if size < 0 || size as usize > max_request_bytes {
                return Err(ConnectionClosed::FrameSize { size, max: max_request_bytes });
            }
            // Grow the buffer as bytes arrive rather than trusting the size up front.
            let mut frame = Vec::new();
            (&mut reader).take(size as u64).read_to_end(&mut frame).await?;
            if frame.len() < size as usize {
                return Err(ConnectionClosed::ShortFrame { got: frame.len(), size });
            }
            let response = match protocol::decode_request(Bytes::from(frame))? {
                Decoded::Reply(reply) => reply,
                Decoded::Request(request) => {
                    let (api_key, api_version, correlation_id) =
                        (request.api_key, request.api_version, request.correlation_id);
                    let (reply, answer) = oneshot::channel();
                    inbox
                        .send(Envelope { request: *request, reply })
                        .await
                        .map_err(|_| ConnectionClosed::BrokerGone)?;
                    match answer.await.map_err(|_| ConnectionClosed::BrokerGone)? {
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
    .await;
    match outcome {
        Ok(()) | Err(ConnectionClosed::BrokerGone) => tracing::debug!(%peer, "connection closed"),
        Err(ConnectionClosed::Io(error)) => tracing::debug!(%peer, %error, "connection closed"),
        Err(reason) => tracing::warn!(%peer, %reason, "closing connection"),
    }
}
