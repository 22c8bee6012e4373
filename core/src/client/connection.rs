//! One TCP connection to one broker, with pipelined requests.
//!
//! Inputs: a broker address, typed requests from `kafka-protocol`, response frames from the
//! socket. Outputs: typed responses matched to their requests by correlation id, or a
//! [`ClientError`]. On connect the client sends ApiVersions (v3, falling back on
//! UNSUPPORTED_VERSION) and from then on uses, per API, `min(client max, broker max)`.
//! Invariants: a frame size from the peer outside `0..=max_response_bytes` closes the
//! connection before anything is allocated; once closed (peer EOF, I/O error, protocol error,
//! request timeout, or the last handle dropped) every pending and later request fails with
//! the reason; a request whose caller gave up cannot desynchronise the stream, because only
//! the writer task touches the write half and only the reader task the read half.
//!
//! Tasks: a reader task (frames in → pending map → oneshot per request) and a writer task
//! (mpsc of encoded frames → socket, flushed after each frame so madsim delivers it). Both
//! stop when the connection closes, which drops the stream so the peer sees EOF.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, RequestKind, ResponseHeader,
    ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

use super::{ClientConfig, ClientError, ErrorCode, Result};

/// The versions this client can encode and decode, per API. Produce and Fetch stop at 12
/// because 13+ address topics by id; ListOffsets stops at 8 (no tiered-storage specs).
pub const CLIENT_API_VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
];

/// The version range this client supports for `api`, if it uses the API at all.
pub fn client_range(api: ApiKey) -> Option<(i16, i16)> {
    CLIENT_API_VERSIONS.iter().find(|(key, _, _)| *key == api).map(|&(_, min, max)| (min, max))
}

/// What the broker advertised in ApiVersions, keyed by API key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiVersions {
    broker: BTreeMap<i16, (i16, i16)>,
}

impl ApiVersions {
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        let broker = response
            .api_keys
            .iter()
            .map(|key| (key.api_key, (key.min_version, key.max_version)))
            .collect();
        ApiVersions { broker }
    }

    /// The broker's advertised range for `api`.
    pub fn broker_range(&self, api: ApiKey) -> Option<(i16, i16)> {
        self.broker.get(&(api as i16)).copied()
    }

    /// The version to use for `api`: `min(client max, broker max)`, provided it is also at
    /// least both minima; otherwise an error naming the API and both ranges.
    pub fn pick(&self, api: ApiKey, peer: &str) -> Result<i16> {
        let unsupported = |broker| ClientError::UnsupportedVersion {
            api,
            client_min: client_range(api).map_or(0, |r| r.0),
            client_max: client_range(api).map_or(-1, |r| r.1),
            broker,
            peer: peer.to_string(),
        };
        let (client_min, client_max) = client_range(api).ok_or_else(|| unsupported(None))?;
        let (broker_min, broker_max) = self.broker_range(api).ok_or_else(|| unsupported(None))?;
        let version = client_max.min(broker_max);
        if version < client_min.max(broker_min) {
            return Err(unsupported(Some((broker_min, broker_max))));
        }
        Ok(version)
    }
}

/// Checks a frame size read from the peer before anything is allocated for it.
pub fn check_frame_size(size: i32, limit_bytes: usize, peer: &str) -> Result<usize> {
    match usize::try_from(size) {
        Ok(size) if size <= limit_bytes => Ok(size),
        _ => Err(ClientError::FrameSize { peer: peer.to_string(), size: size.into(), limit_bytes }),
    }
}

/// Reads one size-prefixed frame (the size prefix is not returned).
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    limit_bytes: usize,
    peer: &str,
) -> Result<Bytes> {
    let mut size = [0u8; 4];
    if let Err(e) = reader.read_exact(&mut size).await {
        return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ClientError::ConnectionClosed {
                peer: peer.to_string(),
                reason: "the broker closed the connection".into(),
            }
        } else {
            ClientError::io(peer, e)
        });
    }
    let size = check_frame_size(i32::from_be_bytes(size), limit_bytes, peer)?;
    let mut frame = BytesMut::zeroed(size);
    reader.read_exact(&mut frame).await.map_err(|e| ClientError::io(peer, e))?;
    Ok(frame.freeze())
}

/// Encodes a whole request frame: size prefix, header (v1 or v2 as the API version wants)
/// and body.
pub fn encode_request_frame<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: &StrBytes,
) -> Result<Bytes> {
    let api = api_key_of::<R>()?;
    encode_frame(api, version, correlation_id, client_id, |buf| {
        request.encode(buf, version).map_err(|e| e.to_string())
    })
}

/// [`encode_request_frame`] for a request whose type is only known at run time (a server's
/// calls to its peers). `api` must be the key of `request`'s variant.
pub fn encode_request_kind_frame(
    api: ApiKey,
    request: &RequestKind,
    version: i16,
    correlation_id: i32,
    client_id: &StrBytes,
) -> Result<Bytes> {
    encode_frame(api, version, correlation_id, client_id, |buf| {
        request.encode(buf, version).map_err(|e| e.to_string())
    })
}

fn encode_frame(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &StrBytes,
    encode_body: impl FnOnce(&mut BytesMut) -> std::result::Result<(), String>,
) -> Result<Bytes> {
    let context = || format!("encoding {api:?} v{version} request");
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(client_id.clone()));
    let mut buf = BytesMut::new();
    buf.put_i32(0); // size, filled in below
    header
        .encode(&mut buf, api.request_header_version(version))
        .map_err(|e| ClientError::protocol(context(), e))?;
    encode_body(&mut buf).map_err(|e| ClientError::protocol(context(), e))?;
    let size = i32::try_from(buf.len() - 4)
        .map_err(|_| ClientError::protocol(context(), "request larger than 2 GiB"))?;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

fn api_key_of<R: Request>() -> Result<ApiKey> {
    ApiKey::try_from(R::KEY).map_err(|_| {
        ClientError::protocol("encoding request", format!("unknown API key {}", R::KEY))
    })
}

/// What a connection insists the peer serves before it counts as connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Needs {
    /// A Metadata version this client speaks: a client's connection to a broker.
    Metadata,
    /// Nothing beyond ApiVersions: a node's connection to a peer's listener.
    Nothing,
}

/// A request waiting for its response.
struct Pending {
    api: ApiKey,
    version: i16,
    reply: oneshot::Sender<Result<Bytes>>,
}

/// A frame for the writer task; `written` is answered once it is flushed (acks=0 produce).
struct Outgoing {
    frame: Bytes,
    written: Option<oneshot::Sender<Result<()>>>,
}

#[derive(Default)]
struct State {
    pending: BTreeMap<i32, Pending>,
    /// Why the connection closed; set once.
    closed: Option<ClientError>,
}

/// What the reader and writer tasks share with the handles.
struct Shared {
    peer: String,
    state: Mutex<State>,
    close_signal: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes the connection: fails every pending request with `reason` and stops both tasks.
    fn close(&self, reason: ClientError) {
        let pending = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(reason.clone());
            std::mem::take(&mut state.pending)
        };
        if !matches!(reason, ClientError::Closed) {
            tracing::debug!(peer = %self.peer, %reason, "closing connection");
        }
        for (_, waiter) in pending {
            let _ = waiter.reply.send(Err(self.closed_error(&reason)));
        }
        self.close_signal.send_replace(true);
    }

    fn closed_error(&self, reason: &ClientError) -> ClientError {
        match reason {
            // Those already say what happened to this peer.
            ClientError::ConnectionClosed { .. } | ClientError::Io { .. } => reason.clone(),
            other => {
                ClientError::ConnectionClosed { peer: self.peer.clone(), reason: other.to_string() }
            }
        }
    }

    /// Hands one response frame to the request that waits for it.
    fn dispatch(&self, mut frame: Bytes) {
        if frame.len() < 4 {
            let detail = format!("response frame of {} bytes has no correlation id", frame.len());
            self.close(ClientError::protocol(format!("reading from {}", self.peer), detail));
            return;
        }
        let correlation_id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let Some(waiter) = self.lock().pending.remove(&correlation_id) else {
            // Kafka's NetworkClient treats this as fatal for the connection too: the stream
            // no longer pairs requests with responses.
            let detail = format!("response with unknown correlation id {correlation_id}");
            self.close(ClientError::protocol(format!("reading from {}", self.peer), detail));
            return;
        };
        // ApiVersions responses always use header v0 (KIP-511); the crate knows this.
        let header_version = waiter.api.response_header_version(waiter.version);
        let result = match ResponseHeader::decode(&mut frame, header_version) {
            Ok(_) => Ok(frame),
            Err(e) => Err(ClientError::protocol(
                format!(
                    "decoding {:?} v{} response header from {}",
                    waiter.api, waiter.version, self.peer
                ),
                e,
            )),
        };
        let _ = waiter.reply.send(result);
    }
}

/// Handles own this; when the last one goes, the connection closes.
struct Inner {
    shared: Arc<Shared>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    versions: OnceLock<ApiVersions>,
    next_correlation_id: AtomicI32,
    client_id: StrBytes,
    request_timeout: Duration,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.close(ClientError::Closed);
    }
}

/// A connection to one broker. Cheap to clone; all clones share the socket, and requests
/// from several tasks are pipelined on it.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("peer", &self.inner.shared.peer).finish()
    }
}

impl Connection {
    /// Connects to `host:port` and negotiates API versions; both within
    /// `connect_timeout_ms`. The broker must serve a Metadata version this client speaks.
    pub async fn connect(host: &str, port: u16, config: &ClientConfig) -> Result<Connection> {
        Connection::open(host, port, config, Needs::Metadata).await
    }

    /// [`Connection::connect`] to a listener of any kind: a node's controller listener (which
    /// serves no Metadata) or a broker's. Each request's version is the caller's to pick, as a
    /// server's calls to its peers do (`node::Peers`).
    pub async fn connect_to_node(
        host: &str,
        port: u16,
        config: &ClientConfig,
    ) -> Result<Connection> {
        Connection::open(host, port, config, Needs::Nothing).await
    }

    async fn open(
        host: &str,
        port: u16,
        config: &ClientConfig,
        needs: Needs,
    ) -> Result<Connection> {
        let peer = format!("{host}:{port}");
        let setup_timeout = Duration::from_millis(config.connect_timeout_ms);
        let setup = async {
            let stream =
                TcpStream::connect((host, port)).await.map_err(|e| ClientError::io(&peer, e))?;
            // Requests are small and latency-bound; a failure here changes nothing else.
            let _ = stream.set_nodelay(true);
            let connection = Connection::start(stream, peer.clone(), config);
            connection.negotiate_versions(needs).await?;
            Ok(connection)
        };
        match tokio::time::timeout(setup_timeout, setup).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                what: format!(
                    "connecting to {peer} (connect_timeout_ms={})",
                    config.connect_timeout_ms
                ),
            }),
        }
    }

    /// Wraps an established stream and starts its reader and writer tasks.
    fn start(stream: TcpStream, peer: String, config: &ClientConfig) -> Connection {
        let (close_signal, close_watch) = watch::channel(false);
        let shared = Arc::new(Shared { peer, state: Mutex::default(), close_signal });
        let (reader, writer) = tokio::io::split(stream);
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        tokio::spawn(read_loop(
            shared.clone(),
            reader,
            close_watch.clone(),
            config.max_response_bytes,
        ));
        tokio::spawn(write_loop(shared.clone(), writer, outgoing_rx, close_watch));
        Connection {
            inner: Arc::new(Inner {
                shared,
                outgoing,
                versions: OnceLock::new(),
                next_correlation_id: AtomicI32::new(0),
                client_id: StrBytes::from_string(config.client_id.clone()),
                request_timeout: Duration::from_millis(config.request_timeout_ms),
            }),
        }
    }

    /// `host:port` of the broker.
    pub fn peer(&self) -> &str {
        &self.inner.shared.peer
    }

    /// Whether the connection has closed; a closed connection never reopens.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.lock().closed.is_some()
    }

    /// Requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.inner.shared.lock().pending.len()
    }

    /// Closes the connection now; pending requests fail.
    pub fn close(&self) {
        self.inner.shared.close(ClientError::Closed);
    }

    /// What the broker advertised (empty before the handshake finished).
    pub fn api_versions(&self) -> ApiVersions {
        self.inner.versions.get().cloned().unwrap_or_default()
    }

    /// The negotiated version of `api` on this connection.
    pub fn version(&self, api: ApiKey) -> Result<i16> {
        match self.inner.versions.get() {
            Some(versions) => versions.pick(api, self.peer()),
            None => Err(ClientError::protocol(
                format!("using {:?} on {}", api, self.peer()),
                "API versions are not negotiated yet",
            )),
        }
    }

    /// Sends `request` at `version` and waits up to `request_timeout_ms` for the response.
    pub async fn request<R: Request>(&self, request: &R, version: i16) -> Result<R::Response> {
        self.request_with_timeout(request, version, self.inner.request_timeout).await
    }

    /// Like [`Connection::request`] with an explicit timeout (a Fetch waits up to its
    /// `max_wait_ms` on top of the request timeout).
    pub async fn request_with_timeout<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        let api = api_key_of::<R>()?;
        let mut body = self.round_trip(request, version, timeout).await?;
        R::Response::decode(&mut body, version).map_err(|e| {
            ClientError::protocol(
                format!("decoding {api:?} v{version} response from {}", self.peer()),
                e,
            )
        })
    }

    /// Sends a request whose type is only known at run time (`api` names its variant) and
    /// decodes the response of the same API.
    pub async fn request_kind(
        &self,
        api: ApiKey,
        request: &RequestKind,
        version: i16,
        timeout: Duration,
    ) -> Result<ResponseKind> {
        let correlation_id = self.next_id();
        let frame = encode_request_kind_frame(
            api,
            request,
            version,
            correlation_id,
            &self.inner.client_id,
        )?;
        let mut body = self.send_frame(api, version, correlation_id, frame, timeout).await?;
        ResponseKind::decode(api, &mut body, version).map_err(|e| {
            ClientError::protocol(
                format!("decoding {api:?} v{version} response from {}", self.peer()),
                e,
            )
        })
    }

    /// Sends a request that gets no response (Produce with acks=0); done once it is
    /// written and flushed.
    pub async fn send_oneway<R: Request>(&self, request: &R, version: i16) -> Result<()> {
        let api = api_key_of::<R>()?;
        let frame = encode_request_frame(request, version, self.next_id(), &self.inner.client_id)?;
        let (written, written_rx) = oneshot::channel();
        self.check_open()?;
        self.inner
            .outgoing
            .send(Outgoing { frame, written: Some(written) })
            .map_err(|_| self.closed_now())?;
        match tokio::time::timeout(self.inner.request_timeout, written_rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.closed_now()),
            Err(_) => {
                let error = self.timeout_error(api, version, self.inner.request_timeout);
                self.inner.shared.close(error.clone());
                Err(error)
            }
        }
    }

    fn next_id(&self) -> i32 {
        // Kafka's correlation ids are an int32 that may wrap; only uniqueness among the
        // requests in flight matters.
        self.inner.next_correlation_id.fetch_add(1, Ordering::Relaxed)
    }

    fn check_open(&self) -> Result<()> {
        match &self.inner.shared.lock().closed {
            Some(reason) => Err(self.inner.shared.closed_error(reason)),
            None => Ok(()),
        }
    }

    fn closed_now(&self) -> ClientError {
        match &self.inner.shared.lock().closed {
            Some(reason) => self.inner.shared.closed_error(reason),
            None => ClientError::ConnectionClosed {
                peer: self.peer().to_string(),
                reason: "the connection's tasks stopped".into(),
            },
        }
    }

    fn timeout_error(&self, api: ApiKey, version: i16, timeout: Duration) -> ClientError {
        ClientError::Timeout {
            what: format!(
                "{api:?} v{version} request to {} after {} ms (request_timeout_ms)",
                self.peer(),
                timeout.as_millis()
            ),
        }
    }

    /// Sends a request and returns the response body (header already consumed).
    async fn round_trip<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<Bytes> {
        let api = api_key_of::<R>()?;
        let correlation_id = self.next_id();
        let frame = encode_request_frame(request, version, correlation_id, &self.inner.client_id)?;
        self.send_frame(api, version, correlation_id, frame, timeout).await
    }

    /// Sends an encoded request frame and waits for its response body.
    async fn send_frame(
        &self,
        api: ApiKey,
        version: i16,
        correlation_id: i32,
        frame: Bytes,
        timeout: Duration,
    ) -> Result<Bytes> {
        let (reply, reply_rx) = oneshot::channel();
        {
            let mut state = self.inner.shared.lock();
            if let Some(reason) = &state.closed {
                return Err(self.inner.shared.closed_error(reason));
            }
            state.pending.insert(correlation_id, Pending { api, version, reply });
        }
        if self.inner.outgoing.send(Outgoing { frame, written: None }).is_err() {
            self.inner.shared.lock().pending.remove(&correlation_id);
            return Err(self.closed_now());
        }
        match tokio::time::timeout(timeout, reply_rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.closed_now()),
            Err(_) => {
                // Like Kafka's NetworkClient: a request that timed out leaves the stream in an
                // unknown state, so the whole connection goes (other requests fail and retry).
                let error = self.timeout_error(api, version, timeout);
                self.inner.shared.close(error.clone());
                Err(error)
            }
        }
    }

    /// ApiVersions handshake: v3 first; on UNSUPPORTED_VERSION the broker answers with a v0
    /// body that lists its own range, so retry with the highest version both support (v0
    /// when the broker did not say).
    async fn negotiate_versions(&self, needs: Needs) -> Result<()> {
        let mut version = client_range(ApiKey::ApiVersions).map_or(0, |r| r.1);
        loop {
            let mut request = ApiVersionsRequest::default();
            if version >= 3 {
                request = request
                    .with_client_software_name(StrBytes::from_static_str("odradek"))
                    .with_client_software_version(StrBytes::from_static_str(env!(
                        "CARGO_PKG_VERSION"
                    )));
            }
            let mut body = self.round_trip(&request, version, self.inner.request_timeout).await?;
            let context =
                || format!("decoding ApiVersions v{version} response from {}", self.peer());
            if body.len() < 2 {
                return Err(ClientError::protocol(context(), "empty body"));
            }
            let error_code = i16::from_be_bytes([body[0], body[1]]);
            if error_code == ErrorCode::UnsupportedVersion.code() && version > 0 {
                let fallback = ApiVersionsResponse::decode(&mut body, 0)
                    .ok()
                    .and_then(|r| ApiVersions::from_response(&r).broker_range(ApiKey::ApiVersions))
                    .map_or(0, |(_, broker_max)| broker_max.min(version - 1).max(0));
                tracing::debug!(peer = %self.peer(), from = version, to = fallback, "ApiVersions fallback");
                version = fallback;
                continue;
            }
            let response = ApiVersionsResponse::decode(&mut body, version)
                .map_err(|e| ClientError::protocol(context(), e))?;
            if let Some(e) = ClientError::from_code(response.error_code, None, || {
                format!("ApiVersions on {}", self.peer())
            }) {
                return Err(e);
            }
            let versions = ApiVersions::from_response(&response);
            if needs == Needs::Metadata {
                // Nothing a client does works without Metadata; say so now rather than on
                // first use.
                versions.pick(ApiKey::Metadata, self.peer())?;
            }
            let _ = self.inner.versions.set(versions);
            return Ok(());
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    shared: Arc<Shared>,
    mut reader: R,
    mut close_watch: watch::Receiver<bool>,
    limit_bytes: usize,
) {
    loop {
        let frame = tokio::select! {
            biased;
            _ = close_watch.wait_for(|closed| *closed) => return,
            frame = read_frame(&mut reader, limit_bytes, &shared.peer) => frame,
        };
        match frame {
            Ok(frame) => shared.dispatch(frame),
            Err(error) => {
                shared.close(error);
                return;
            }
        }
    }
}

async fn write_loop<W: tokio::io::AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    mut writer: W,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    mut close_watch: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            biased;
            _ = close_watch.wait_for(|closed| *closed) => return,
            next = outgoing.recv() => next,
        };
        let Some(Outgoing { frame, written }) = next else { return };
        let write = async {
            writer.write_all(&frame).await?;
            // madsim sends on flush only; real sockets send on write. Flush either way.
            writer.flush().await
        };
        let result = tokio::select! {
            biased;
            _ = close_watch.wait_for(|closed| *closed) => return,
            result = write => result,
        };
        match result {
            Ok(()) => {
                if let Some(written) = written {
                    let _ = written.send(Ok(()));
                }
            }
            Err(e) => {
                let error = ClientError::io(&shared.peer, e);
                if let Some(written) = written {
                    let _ = written.send(Err(error.clone()));
                }
                shared.close(error);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::MetadataRequest;

    fn versions(entries: &[(ApiKey, i16, i16)]) -> ApiVersions {
        let response = ApiVersionsResponse::default().with_api_keys(
            entries
                .iter()
                .map(|&(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(k as i16)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        );
        ApiVersions::from_response(&response)
    }

    #[test]
    fn picks_the_lower_of_both_maxima() {
        let v =
            versions(&[(ApiKey::Fetch, 0, 17), (ApiKey::Produce, 0, 7), (ApiKey::Metadata, 0, 12)]);
        assert_eq!(v.pick(ApiKey::Fetch, "b").unwrap(), 12, "client caps Fetch at 12");
        assert_eq!(v.pick(ApiKey::Produce, "b").unwrap(), 7, "broker caps Produce at 7");
        assert_eq!(v.pick(ApiKey::Metadata, "b").unwrap(), 12);
    }

    #[test]
    fn no_overlap_is_a_clear_error() {
        let v = versions(&[(ApiKey::Fetch, 13, 17), (ApiKey::Produce, 0, 2)]);
        let fetch = v.pick(ApiKey::Fetch, "b:1").unwrap_err();
        assert!(matches!(
            fetch,
            ClientError::UnsupportedVersion { api: ApiKey::Fetch, broker: Some((13, 17)), .. }
        ));
        let produce = v.pick(ApiKey::Produce, "b:1").unwrap_err();
        assert!(produce.to_string().contains("Produce"), "{produce}");
        let missing = v.pick(ApiKey::Metadata, "b:1").unwrap_err();
        assert!(missing.to_string().contains("does not support it"), "{missing}");
    }

    #[test]
    fn frame_size_guard_rejects_negative_and_oversized() {
        assert_eq!(check_frame_size(0, 10, "p").unwrap(), 0);
        assert_eq!(check_frame_size(10, 10, "p").unwrap(), 10);
        assert!(matches!(
            check_frame_size(11, 10, "p"),
            Err(ClientError::FrameSize { size: 11, .. })
        ));
        assert!(matches!(
            check_frame_size(-1, 10, "p"),
            Err(ClientError::FrameSize { size: -1, .. })
        ));
        assert!(check_frame_size(i32::MIN, usize::MAX, "p").is_err());
    }

    #[tokio::test]
    async fn read_frame_checks_the_size_before_reading() {
        // 2 GiB announced, 3 bytes present: must fail on the size, not try to allocate.
        let mut huge: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3];
        let err = read_frame(&mut huge, 1024, "peer").await.unwrap_err();
        assert!(matches!(err, ClientError::FrameSize { size: 2147483647, .. }), "{err}");

        let mut negative: &[u8] = &[0xff, 0xff, 0xff, 0xfe];
        assert!(matches!(
            read_frame(&mut negative, 1024, "peer").await,
            Err(ClientError::FrameSize { size: -2, .. })
        ));

        let mut ok: &[u8] = &[0, 0, 0, 3, 7, 8, 9, 42];
        assert_eq!(&read_frame(&mut ok, 1024, "peer").await.unwrap()[..], &[7, 8, 9]);

        let mut eof: &[u8] = &[];
        assert!(matches!(
            read_frame(&mut eof, 1024, "peer").await,
            Err(ClientError::ConnectionClosed { .. })
        ));
    }

    #[test]
    fn request_header_version_follows_the_api_version() {
        // Metadata v9+ is flexible: header v2 (tagged fields after client id).
        let v8 = encode_request_frame(&MetadataRequest::default(), 8, 7, &"c".into()).unwrap();
        let v9 = encode_request_frame(&MetadataRequest::default(), 9, 7, &"c".into()).unwrap();
        let mut header8 = v8.slice(4..);
        let mut header9 = v9.slice(4..);
        let h8 = RequestHeader::decode(&mut header8, 1).unwrap();
        let h9 = RequestHeader::decode(&mut header9, 2).unwrap();
        assert_eq!((h8.request_api_key, h8.request_api_version, h8.correlation_id), (3, 8, 7));
        assert_eq!((h9.request_api_version, h9.client_id.as_deref()), (9, Some("c")));
        let size = i32::from_be_bytes([v9[0], v9[1], v9[2], v9[3]]) as usize;
        assert_eq!(size, v9.len() - 4);
    }
}
