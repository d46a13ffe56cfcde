//! The worker: a supervisor loop that keeps one live connection to a gateway (docs/protocol.md
//! §13.3), connection tasks that read and write one WebSocket each (§13.5), and one task per
//! executor request (§13.4). Requests belong to the worker, not to a connection: a request
//! goes on when its connection is lost, and its reply goes out on whichever connection is
//! live then, or through the flush API (§13.6).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use prost::Message as _;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use url::Url;

use super::proto::{
    AppConfiguration, AuthData, ConnectMessage, FlushResponse, GatewayConnectionReadyData,
    GatewayExecutorRequestData, MessageKind, RequestIdentity, SdkResponse, SdkResponseStatus,
    StartRequest, StartResponse, SystemAttributes, Timestamp, WorkerConnectRequestData,
    WorkerReplyAckData, WorkerRequestAckData, WorkerRequestExtendLeaseAckData,
    WorkerRequestExtendLeaseData, WorkerStatusData, empty_frame, frame,
};
use super::state::WorkerState;
use crate::core::response::{SDK_LANGUAGE, SDK_VERSION, headers};
use crate::endpoint::Endpoint;

/// The WebSocket sub-protocol of Connect (docs/protocol.md §13.2).
const SUBPROTOCOL: &str = "v0.connect.inngest.com";
/// Intervals used when the gateway names none (docs/protocol.md §13.3).
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);
const DEFAULT_EXTEND_LEASE: Duration = Duration::from_secs(5);
/// Heartbeats without an answer after which the connection counts as dead.
const MAX_MISSED_HEARTBEATS: u32 = 2;
/// A connection that lived this long resets the backoff when it is lost; one lost sooner
/// counts as a failed attempt.
const STABLE_CONNECTION: Duration = Duration::from_secs(10);
/// How long the closing sockets get to send their close frames at the end.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Flush attempts before a reply is given up (the executor then retries the step).
const FLUSH_ATTEMPTS: u32 = 20;

/// What the builder decided.
#[derive(Debug)]
pub(super) struct Options {
    pub(super) instance_id: String,
    pub(super) max_concurrency: Option<usize>,
    pub(super) gateway_url: Option<Url>,
    pub(super) handshake_timeout: Duration,
    pub(super) reply_ack_timeout: Duration,
}

/// One live connection's outbound queue.
struct Outbox {
    id: u64,
    tx: mpsc::UnboundedSender<Outbound>,
}

enum Outbound {
    Frame(Vec<u8>),
    Close,
}

/// A request being worked on.
struct InFlight {
    lease_id: Option<String>,
}

/// The state shared by the supervisor, the connections and the requests.
pub(super) struct Shared {
    endpoint: Endpoint,
    options: Options,
    state: watch::Sender<WorkerState>,
    stop: Arc<watch::Sender<bool>>,
    /// The connection replies and lease extensions go out on.
    outbox: Mutex<Option<Outbox>>,
    in_flight: Mutex<HashMap<String, InFlight>>,
    /// Replies sent and not acknowledged yet: request id → who waits for the ack.
    awaiting_ack: Mutex<HashMap<String, oneshot::Sender<()>>>,
    /// Replies not delivered yet (in flight or awaiting ack or being flushed).
    undelivered: AtomicUsize,
    /// Woken whenever a request ends and its reply is delivered (only the supervisor waits).
    settled: Notify,
    extend_lease_interval: Mutex<Duration>,
    permits: Option<Arc<Semaphore>>,
    next_connection: AtomicU64,
    pub(super) counters: Counters,
}

/// What the worker has done so far ([`super::WorkerStats`]).
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) connections: AtomicU64,
    pub(super) failed_attempts: AtomicU64,
    pub(super) requests: AtomicU64,
    pub(super) replies_acked: AtomicU64,
    pub(super) replies_flushed: AtomicU64,
    pub(super) lease_extensions: AtomicU64,
}

impl Shared {
    pub(super) fn new(
        endpoint: Endpoint,
        options: Options,
        state: watch::Sender<WorkerState>,
        stop: Arc<watch::Sender<bool>>,
    ) -> Arc<Self> {
        let permits = options.max_concurrency.map(|n| Arc::new(Semaphore::new(n)));
        Arc::new(Shared {
            endpoint,
            options,
            state,
            stop,
            outbox: Mutex::new(None),
            in_flight: Mutex::new(HashMap::new()),
            awaiting_ack: Mutex::new(HashMap::new()),
            undelivered: AtomicUsize::new(0),
            settled: Notify::new(),
            extend_lease_interval: Mutex::new(DEFAULT_EXTEND_LEASE),
            permits,
            next_connection: AtomicU64::new(1),
            counters: Counters::default(),
        })
    }

    pub(super) fn in_flight(&self) -> usize {
        lock(&self.in_flight).len()
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Nothing in flight and every reply delivered.
    fn drained(&self) -> bool {
        self.undelivered.load(Ordering::SeqCst) == 0
    }

    fn set_state(&self, state: WorkerState) {
        self.state.send_if_modified(|s| {
            let changed = *s != state && *s != WorkerState::Closed;
            if changed {
                tracing::info!(from = %s, to = %state, "Connect worker state");
                *s = state;
            }
            changed
        });
    }

    /// Queues a frame on the live connection; false when there is none.
    fn send(&self, bytes: Vec<u8>) -> bool {
        match &*lock(&self.outbox) {
            Some(outbox) => outbox.tx.send(Outbound::Frame(bytes)).is_ok(),
            None => false,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The default instance id: host name, process id, and a counter for several workers in
/// one process.
pub(super) fn default_instance_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "worker".to_owned());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{host}-{}-{n}", std::process::id())
}

/// The wait before reconnect attempt `attempt` (0-based): 1, 2, 5, 10, 20, 30, 60, 120, then
/// 300 s, each shortened by up to a half at random so that workers cut off together do not
/// come back together (docs/protocol.md §13.3).
pub fn backoff(attempt: u32) -> Duration {
    const SCHEDULE: [u64; 9] = [1, 2, 5, 10, 20, 30, 60, 120, 300];
    let base = Duration::from_secs(SCHEDULE[(attempt as usize).min(SCHEDULE.len() - 1)]);
    let jitter = random_fraction();
    base.mul_f64(1.0 - 0.5 * jitter)
}

/// A number in `[0, 1)` from the standard library's per-process random hasher keys.
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Why a connection attempt failed.
#[derive(Debug, thiserror::Error)]
enum ConnectFailure {
    #[error("start request: {0}")]
    Start(#[from] crate::client::ApiError),
    #[error("start response: {0}")]
    StartBody(prost::DecodeError),
    #[error("gateway URL: {0}")]
    Url(String),
    #[error("websocket: {0}")]
    Socket(#[from] tungstenite::Error),
    #[error("handshake: {0}")]
    Handshake(String),
    #[error("the handshake timed out")]
    Timeout,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connection after its handshake.
struct Established {
    socket: Socket,
    gateway_group: String,
    connection_id: String,
    heartbeat: Duration,
    status: Option<Duration>,
}

/// How a connection ended, as its task reports it to the supervisor.
#[derive(Debug)]
enum ConnectionEvent {
    /// The gateway is going away (`GATEWAY_CLOSING`): connect elsewhere.
    Closing { id: u64, group: String },
    /// The socket is gone.
    Lost { id: u64 },
}

/// The supervisor loop: keeps one live connection until a stop is requested and everything
/// is delivered.
pub(super) async fn run(shared: Arc<Shared>) {
    let (events_tx, mut events) = mpsc::unbounded_channel::<ConnectionEvent>();
    let mut stop = shared.stop.subscribe();
    let mut attempt: u32 = 0;
    let mut exclude: Vec<String> = Vec::new();
    // The live connection: its id and what closes it.
    let mut active: Option<(u64, mpsc::UnboundedSender<Outbound>)> = None;
    // A connection whose gateway is closing, kept until its replacement is live.
    let mut draining: Option<(u64, mpsc::UnboundedSender<Outbound>)> = None;
    let mut paused = false;
    // The connection tasks, awaited (briefly) at the end so their close frames go out.
    let mut tasks: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    // When the live connection was made: one lost soon after counts as a failed attempt, so a
    // gateway that accepts and drops at once is not hammered.
    let mut active_since = Instant::now();
    let mut wait_first: Option<Duration> = None;

    loop {
        if shared.stopping() {
            shared.set_state(WorkerState::Draining);
            if !paused && let Some((_, tx)) = &active {
                let _ = tx.send(Outbound::Frame(empty_frame(MessageKind::WorkerPause)));
                paused = true;
            }
            if shared.drained() {
                break;
            }
        }
        if active.is_none() {
            if shared.stopping() && shared.drained() {
                break;
            }
            if let Some(delay) = wait_first.take() {
                tracing::info!(retry_in = ?delay, "the gateway dropped a new connection; waiting");
                wait_unless_done(&shared, &mut stop, delay).await;
                if shared.stopping() && shared.drained() {
                    break;
                }
            }
            // Abandoned when a stop finds nothing left to deliver.
            let result = {
                let attempt_to_connect = establish(&shared, &exclude);
                tokio::pin!(attempt_to_connect);
                loop {
                    tokio::select! {
                        result = &mut attempt_to_connect => break Some(result),
                        _ = stop.changed() => {}
                        () = shared.settled.notified() => {}
                    }
                    if shared.stopping() && shared.drained() {
                        break None;
                    }
                }
            };
            let Some(result) = result else { break };
            match result {
                Ok(conn) => {
                    active_since = Instant::now();
                    exclude.retain(|g| g != &conn.gateway_group);
                    let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
                    shared.counters.connections.fetch_add(1, Ordering::Relaxed);
                    let (tx, rx) = mpsc::unbounded_channel();
                    // Ready for requests, unless draining: then only the replies use it.
                    let first = if shared.stopping() {
                        paused = true;
                        MessageKind::WorkerPause
                    } else {
                        MessageKind::WorkerReady
                    };
                    let _ = tx.send(Outbound::Frame(empty_frame(first)));
                    *lock(&shared.outbox) = Some(Outbox { id, tx: tx.clone() });
                    tracing::info!(
                        connection_id = %conn.connection_id,
                        gateway_group = %conn.gateway_group,
                        "connected to the Inngest gateway"
                    );
                    tasks.push(tokio::spawn(connection(
                        Arc::clone(&shared),
                        id,
                        conn,
                        rx,
                        events_tx.clone(),
                    )));
                    tasks.retain(|t| !t.is_finished());
                    active = Some((id, tx));
                    if let Some((_, old)) = draining.take() {
                        let _ = old.send(Outbound::Close);
                    }
                    if !shared.stopping() {
                        shared.set_state(WorkerState::Ready);
                    }
                }
                Err(error) => {
                    shared
                        .counters
                        .failed_attempts
                        .fetch_add(1, Ordering::Relaxed);
                    let delay = backoff(attempt);
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(%error, retry_in = ?delay, "could not connect to the Inngest gateway");
                    if !shared.stopping() {
                        shared.set_state(WorkerState::Connecting);
                    }
                    wait_unless_done(&shared, &mut stop, delay).await;
                    continue;
                }
            }
        }
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                match event {
                    ConnectionEvent::Closing { id, group } if active.as_ref().is_some_and(|(a, _)| *a == id) => {
                        tracing::info!(gateway_group = %group, "the gateway is closing; connecting to another");
                        if !group.is_empty() && !exclude.contains(&group) {
                            exclude.push(group);
                        }
                        draining = active.take();
                        paused = false;
                        if active_since.elapsed() >= STABLE_CONNECTION {
                            attempt = 0;
                        }
                    }
                    ConnectionEvent::Lost { id } => {
                        if active.as_ref().is_some_and(|(a, _)| *a == id) {
                            active = None;
                            paused = false;
                            if active_since.elapsed() < STABLE_CONNECTION {
                                wait_first = Some(backoff(attempt));
                                attempt = attempt.saturating_add(1);
                            } else {
                                attempt = 0;
                            }
                            let mut outbox = lock(&shared.outbox);
                            if outbox.as_ref().is_some_and(|o| o.id == id) {
                                *outbox = None;
                            }
                            drop(outbox);
                            if !shared.stopping() {
                                shared.set_state(WorkerState::Connecting);
                            }
                        } else if draining.as_ref().is_some_and(|(d, _)| *d == id) {
                            draining = None;
                            let mut outbox = lock(&shared.outbox);
                            if outbox.as_ref().is_some_and(|o| o.id == id) {
                                *outbox = None;
                            }
                        }
                    }
                    ConnectionEvent::Closing { .. } => {}
                }
            }
            _ = stop.changed() => {}
            () = shared.settled.notified() => {}
        }
    }

    // Drained: close what is open, politely, and give the close frames a moment to go out.
    *lock(&shared.outbox) = None;
    for (_, tx) in active.into_iter().chain(draining) {
        let _ = tx.send(Outbound::Close);
    }
    let closing = futures_util::future::join_all(tasks);
    if tokio::time::timeout(CLOSE_GRACE, closing).await.is_err() {
        tracing::debug!("a socket did not close in time");
    }
    shared.set_state(WorkerState::Closed);
}

/// Start request, WebSocket, handshake (docs/protocol.md §13.1, §13.3).
/// Waits `delay` before another connection attempt, or less: until a stop is requested and
/// nothing is left to deliver.
async fn wait_unless_done(shared: &Shared, stop: &mut watch::Receiver<bool>, delay: Duration) {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return,
            _ = stop.changed() => {}
            () = shared.settled.notified() => {}
        }
        if shared.stopping() && shared.drained() {
            return;
        }
    }
}

async fn establish(shared: &Shared, exclude: &[String]) -> Result<Established, ConnectFailure> {
    let client = shared.endpoint.client();
    let body = StartRequest {
        exclude_gateways: exclude.to_vec(),
    }
    .encode_to_vec();
    let answer = client.connect_api("start", body).await?;
    let start = StartResponse::decode(answer).map_err(ConnectFailure::StartBody)?;
    let url = match &shared.options.gateway_url {
        Some(url) => url.clone(),
        None => {
            Url::parse(&start.gateway_endpoint).map_err(|e| ConnectFailure::Url(e.to_string()))?
        }
    };
    let timeout = shared.options.handshake_timeout;
    match tokio::time::timeout(timeout, handshake(shared, url, &start)).await {
        Ok(result) => result,
        Err(_) => Err(ConnectFailure::Timeout),
    }
}

async fn handshake(
    shared: &Shared,
    url: Url,
    start: &StartResponse,
) -> Result<Established, ConnectFailure> {
    let mut request = url.as_str().into_client_request()?;
    request.headers_mut().insert(
        http::header::SEC_WEBSOCKET_PROTOCOL,
        http::HeaderValue::from_static(SUBPROTOCOL),
    );
    // Nagle off: frames are small and each one is waited for (an ack, a reply).
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;

    let hello = next_message(&mut socket).await?;
    if hello.kind != MessageKind::GatewayHello as i32 {
        return Err(ConnectFailure::Handshake(format!(
            "expected GATEWAY_HELLO, got kind {}",
            hello.kind
        )));
    }
    let endpoint = &shared.endpoint;
    let config = endpoint.client().config();
    let connect = WorkerConnectRequestData {
        connection_id: start.connection_id.clone(),
        instance_id: shared.options.instance_id.clone(),
        auth_data: Some(AuthData {
            session_token: start.session_token.clone(),
            sync_token: start.sync_token.clone(),
        }),
        capabilities: br#"{"trust_probe":"v1","connect":"v1"}"#.to_vec(),
        apps: vec![AppConfiguration {
            app_name: endpoint.app_id().to_owned(),
            app_version: endpoint.app_version().map(str::to_owned),
            functions: endpoint.connect_function_configs(),
        }],
        worker_manual_readiness_ack: true,
        system_attributes: Some(system_attributes()),
        environment: config.env().map(str::to_owned),
        framework: "connect".to_owned(),
        platform: None,
        sdk_version: SDK_VERSION.to_owned(),
        sdk_language: SDK_LANGUAGE.to_owned(),
        started_at: Some(now_timestamp()),
        max_worker_concurrency: shared
            .options
            .max_concurrency
            .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
    };
    socket
        .send(Message::binary(frame(MessageKind::WorkerConnect, &connect)))
        .await?;

    let ready = next_message(&mut socket).await?;
    match MessageKind::try_from(ready.kind) {
        Ok(MessageKind::GatewayConnectionReady) => {}
        Ok(MessageKind::SyncFailed) => {
            return Err(ConnectFailure::Handshake(format!(
                "the gateway could not sync the app: {}",
                String::from_utf8_lossy(&ready.payload)
            )));
        }
        _ => {
            return Err(ConnectFailure::Handshake(format!(
                "expected GATEWAY_CONNECTION_READY, got kind {}",
                ready.kind
            )));
        }
    }
    let data = GatewayConnectionReadyData::decode(ready.payload.as_slice())
        .map_err(|e| ConnectFailure::Handshake(e.to_string()))?;
    let heartbeat = interval(&data.heartbeat_interval).unwrap_or(DEFAULT_HEARTBEAT);
    let extend = interval(&data.extend_lease_interval).unwrap_or(DEFAULT_EXTEND_LEASE);
    *lock(&shared.extend_lease_interval) = extend;
    Ok(Established {
        socket,
        gateway_group: start.gateway_group.clone(),
        connection_id: start.connection_id.clone(),
        heartbeat,
        status: interval(&data.status_interval),
    })
}

/// A positive interval from a Go duration string; `None` for empty, zero or malformed.
fn interval(s: &str) -> Option<Duration> {
    crate::core::time::parse_duration(s)
        .ok()
        .filter(|d| !d.is_zero())
}

/// The next binary frame, skipping pings and pongs.
async fn next_message(socket: &mut Socket) -> Result<ConnectMessage, ConnectFailure> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                return ConnectMessage::decode(bytes)
                    .map_err(|e| ConnectFailure::Handshake(e.to_string()));
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(ConnectFailure::Handshake(format!(
                    "the gateway closed the socket: {}",
                    frame.map(|f| f.reason.to_string()).unwrap_or_default()
                )));
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
            None => {
                return Err(ConnectFailure::Handshake(
                    "the gateway closed the socket".into(),
                ));
            }
        }
    }
}

fn system_attributes() -> SystemAttributes {
    let cpu_cores = std::thread::available_parallelism()
        .map(|n| i32::try_from(n.get()).unwrap_or(i32::MAX))
        .unwrap_or(1);
    let mem_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        })
        .map_or(0, |kb| kb.saturating_mul(1024));
    SystemAttributes {
        cpu_cores,
        mem_bytes,
        os: std::env::consts::OS.to_owned(),
    }
}

fn now_timestamp() -> Timestamp {
    let now = chrono::Utc::now();
    Timestamp {
        seconds: now.timestamp(),
        nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// One connection: writes queued frames, reads the gateway's, sends heartbeats (and status
/// reports when the gateway asks for them), and reports its end to the supervisor.
async fn connection(
    shared: Arc<Shared>,
    id: u64,
    conn: Established,
    mut outbound: mpsc::UnboundedReceiver<Outbound>,
    events: mpsc::UnboundedSender<ConnectionEvent>,
) {
    let Established {
        socket,
        gateway_group,
        heartbeat,
        status,
        ..
    } = conn;
    let (mut sink, mut stream) = socket.split();
    let mut heartbeats = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    heartbeats.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let status_every = status.unwrap_or(Duration::from_secs(3600));
    let mut statuses = tokio::time::interval_at(Instant::now() + status_every, status_every);
    statuses.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut missed: u32 = 0;
    let mut closing_reported = false;

    let end = loop {
        tokio::select! {
            out = outbound.recv() => match out {
                Some(Outbound::Frame(bytes)) => {
                    if sink.send(Message::binary(bytes)).await.is_err() {
                        break ConnectionEvent::Lost { id };
                    }
                }
                Some(Outbound::Close) | None => {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code: CloseCode::Normal,
                            reason: "WORKER_SHUTDOWN".into(),
                        })))
                        .await;
                    let _ = sink.close().await;
                    break ConnectionEvent::Lost { id };
                }
            },
            message = stream.next() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    let Ok(message) = ConnectMessage::decode(bytes) else {
                        tracing::warn!("undecodable frame from the gateway ignored");
                        continue;
                    };
                    match MessageKind::try_from(message.kind) {
                        Ok(MessageKind::GatewayHeartbeat) => missed = 0,
                        Ok(MessageKind::GatewayExecutorRequest) => {
                            missed = 0;
                            accept_request(&shared, &message.payload);
                        }
                        Ok(MessageKind::WorkerRequestExtendLeaseAck) => {
                            lease_acknowledged(&shared, &message.payload);
                        }
                        Ok(MessageKind::WorkerReplyAck) => {
                            if let Ok(ack) = WorkerReplyAckData::decode(message.payload.as_slice())
                                && let Some(waiter) = lock(&shared.awaiting_ack).remove(&ack.request_id)
                            {
                                let _ = waiter.send(());
                            }
                        }
                        Ok(MessageKind::GatewayClosing) => {
                            if !closing_reported {
                                closing_reported = true;
                                let _ = events.send(ConnectionEvent::Closing {
                                    id,
                                    group: gateway_group.clone(),
                                });
                            }
                        }
                        Ok(kind) => tracing::debug!(?kind, "gateway message ignored"),
                        Err(_) => tracing::debug!(kind = message.kind, "unknown gateway message ignored"),
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break ConnectionEvent::Lost { id },
                Some(Ok(_)) => {}
            },
            _ = heartbeats.tick() => {
                if missed >= MAX_MISSED_HEARTBEATS {
                    tracing::warn!("the gateway stopped answering heartbeats");
                    break ConnectionEvent::Lost { id };
                }
                missed += 1;
                if sink.send(Message::binary(empty_frame(MessageKind::WorkerHeartbeat))).await.is_err() {
                    break ConnectionEvent::Lost { id };
                }
            }
            _ = statuses.tick(), if status.is_some() => {
                let report = WorkerStatusData {
                    in_flight_request_ids: lock(&shared.in_flight).keys().cloned().collect(),
                    shutdown_requested: shared.stopping(),
                };
                if sink.send(Message::binary(frame(MessageKind::WorkerStatus, &report))).await.is_err() {
                    break ConnectionEvent::Lost { id };
                }
            }
        }
    };
    {
        let mut outbox = lock(&shared.outbox);
        if outbox.as_ref().is_some_and(|o| o.id == id) {
            *outbox = None;
        }
    }
    let _ = events.send(end);
}

/// `GATEWAY_EXECUTOR_REQUEST`: acknowledge and start it, or leave it unacknowledged (the
/// gateway routes it elsewhere) when this worker cannot take it.
fn accept_request(shared: &Arc<Shared>, payload: &[u8]) {
    let Ok(request) = GatewayExecutorRequestData::decode(payload) else {
        tracing::warn!("undecodable executor request ignored");
        return;
    };
    if shared.stopping() {
        tracing::debug!(request_id = %request.request_id, "draining: executor request not taken");
        return;
    }
    if request.app_name != shared.endpoint.app_id() {
        tracing::warn!(app = %request.app_name, "executor request for another app ignored");
        return;
    }
    let permit = match &shared.permits {
        Some(permits) => match Arc::clone(permits).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                tracing::debug!(request_id = %request.request_id, "at max concurrency: executor request not taken");
                return;
            }
        },
        None => None,
    };
    {
        let mut in_flight = lock(&shared.in_flight);
        if in_flight.contains_key(&request.request_id) {
            // A duplicate delivery of a request already running here.
            return;
        }
        in_flight.insert(
            request.request_id.clone(),
            InFlight {
                lease_id: Some(request.lease_id.clone()).filter(|l| !l.is_empty()),
            },
        );
    }
    shared.undelivered.fetch_add(1, Ordering::SeqCst);
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let ack = WorkerRequestAckData::from(RequestIdentity::from(&request));
    shared.send(frame(MessageKind::WorkerRequestAck, &ack));
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let _permit = permit;
        serve_request(&shared, request).await;
        shared.undelivered.fetch_sub(1, Ordering::SeqCst);
        // `notify_one` keeps the wake-up for the supervisor if it is not waiting right now.
        shared.settled.notify_one();
    });
}

/// Runs one request through the endpoint while extending its lease, then delivers the reply.
async fn serve_request(shared: &Arc<Shared>, request: GatewayExecutorRequestData) {
    let request_id = request.request_id.clone();
    let work = shared.endpoint.call_over_connect(
        &request.function_slug,
        request.step_id.as_deref(),
        &request.request_payload,
        &request.user_trace_ctx,
    );
    tokio::pin!(work);
    let every = *lock(&shared.extend_lease_interval);
    let mut extend = tokio::time::interval_at(Instant::now() + every, every);
    extend.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let response = loop {
        tokio::select! {
            response = &mut work => break response,
            _ = extend.tick() => {
                let lease = lock(&shared.in_flight).get(&request_id).and_then(|f| f.lease_id.clone());
                if let Some(lease_id) = lease {
                    let msg = WorkerRequestExtendLeaseData {
                        lease_id,
                        ..RequestIdentity::from(&request).into()
                    };
                    shared.send(frame(MessageKind::WorkerRequestExtendLease, &msg));
                }
            }
        }
    };
    lock(&shared.in_flight).remove(&request_id);
    let reply = to_sdk_response(&request, &response);
    deliver(shared, &request_id, reply.encode_to_vec()).await;
}

/// The reply for an HTTP-shaped response (docs/protocol.md §13.4).
fn to_sdk_response(
    request: &GatewayExecutorRequestData,
    response: &http::Response<Vec<u8>>,
) -> SdkResponse {
    let status = match response.status().as_u16() {
        200 => SdkResponseStatus::Done,
        206 => SdkResponseStatus::NotCompleted,
        _ => SdkResponseStatus::Error,
    };
    let header = |name: &http::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    SdkResponse {
        status: status as i32,
        body: response.body().clone(),
        no_retry: header(&headers::NO_RETRY).is_some_and(|v| v == "true"),
        retry_after: header(&headers::RETRY_AFTER),
        sdk_version: format!("{SDK_LANGUAGE}:v{SDK_VERSION}"),
        request_version: header(&headers::REQ_VERSION)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
        ..RequestIdentity::from(request).into()
    }
}

/// `WORKER_REPLY` on the live connection, waiting for its ack; the flush API when there is
/// no connection or no ack in time (docs/protocol.md §13.6).
async fn deliver(shared: &Arc<Shared>, request_id: &str, reply: Vec<u8>) {
    let (ack_tx, ack_rx) = oneshot::channel();
    lock(&shared.awaiting_ack).insert(request_id.to_owned(), ack_tx);
    let sent = shared.send(frame_raw(MessageKind::WorkerReply, reply.clone()));
    if sent && let Ok(Ok(())) = tokio::time::timeout(shared.options.reply_ack_timeout, ack_rx).await
    {
        shared
            .counters
            .replies_acked
            .fetch_add(1, Ordering::Relaxed);
        return;
    }
    lock(&shared.awaiting_ack).remove(request_id);
    tracing::info!(%request_id, "reply not acknowledged over the socket; flushing it over HTTP");
    for attempt in 0..FLUSH_ATTEMPTS {
        match shared
            .endpoint
            .client()
            .connect_api("flush", reply.clone())
            .await
        {
            Ok(answer) => {
                shared
                    .counters
                    .replies_flushed
                    .fetch_add(1, Ordering::Relaxed);
                if let Ok(flushed) = FlushResponse::decode(answer) {
                    tracing::debug!(request_id = %flushed.request_id, "reply flushed");
                }
                return;
            }
            Err(crate::client::ApiError::Status { status, message })
                if status.is_client_error() =>
            {
                tracing::error!(%request_id, %status, %message, "the flush API refused a reply; the executor will retry the request");
                return;
            }
            Err(error) => {
                let delay = backoff(attempt.min(3));
                tracing::warn!(%request_id, %error, retry_in = ?delay, "flushing a reply failed");
                tokio::time::sleep(delay).await;
            }
        }
    }
    tracing::error!(%request_id, "a reply could not be delivered; the executor will retry the request");
}

fn frame_raw(kind: MessageKind, payload: Vec<u8>) -> Vec<u8> {
    ConnectMessage {
        kind: kind as i32,
        payload,
    }
    .encode_to_vec()
}

/// `WORKER_REQUEST_EXTEND_LEASE_ACK`: keep the new lease, or stop extending a lost one.
fn lease_acknowledged(shared: &Shared, payload: &[u8]) {
    let Ok(ack) = WorkerRequestExtendLeaseAckData::decode(payload) else {
        return;
    };
    if let Some(entry) = lock(&shared.in_flight).get_mut(&ack.request_id) {
        if ack.new_lease_id.is_none() {
            tracing::warn!(request_id = %ack.request_id, "the lease of a running request was not extended");
        } else {
            shared
                .counters
                .lease_extensions
                .fetch_add(1, Ordering::Relaxed);
        }
        entry.lease_id = ack.new_lease_id;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_schedule_with_up_to_half_taken_off() {
        for (attempt, secs) in [
            (0, 1),
            (1, 2),
            (2, 5),
            (3, 10),
            (7, 120),
            (8, 300),
            (50, 300),
        ] {
            for _ in 0..20 {
                let d = backoff(attempt);
                let base = Duration::from_secs(secs);
                assert!(d <= base && d >= base / 2, "attempt {attempt}: {d:?}");
            }
        }
        let distinct: std::collections::HashSet<_> = (0..20).map(|_| backoff(4)).collect();
        assert!(distinct.len() > 1, "jittered, not fixed");
    }

    #[test]
    fn intervals_are_go_durations_and_zero_means_none() {
        assert_eq!(interval("10s"), Some(Duration::from_secs(10)));
        assert_eq!(interval("200ms"), Some(Duration::from_millis(200)));
        assert_eq!(interval("0s"), None);
        assert_eq!(interval(""), None);
        assert_eq!(interval("soon"), None);
    }

    fn request() -> GatewayExecutorRequestData {
        GatewayExecutorRequestData {
            request_id: "req".into(),
            account_id: "acct".into(),
            env_id: "env".into(),
            app_id: "app-uuid".into(),
            run_id: "run".into(),
            system_trace_ctx: b"sys".to_vec(),
            ..GatewayExecutorRequestData::default()
        }
    }

    #[test]
    fn replies_map_http_statuses_and_headers() {
        let res = http::Response::builder()
            .status(206)
            .header("x-inngest-req-version", "2")
            .body(b"[]".to_vec())
            .expect("response");
        let reply = to_sdk_response(&request(), &res);
        assert_eq!(reply.status, SdkResponseStatus::NotCompleted as i32);
        assert_eq!(reply.request_version, 2);
        assert_eq!(reply.body, b"[]");
        assert_eq!(
            (reply.request_id.as_str(), reply.run_id.as_str()),
            ("req", "run")
        );
        assert_eq!(reply.system_trace_ctx, b"sys");
        assert!(!reply.no_retry);

        let res = http::Response::builder()
            .status(200)
            .body(b"1".to_vec())
            .expect("response");
        assert_eq!(
            to_sdk_response(&request(), &res).status,
            SdkResponseStatus::Done as i32
        );

        let res = http::Response::builder()
            .status(400)
            .header("x-inngest-no-retry", "true")
            .header("retry-after", "30")
            .body(b"{}".to_vec())
            .expect("response");
        let reply = to_sdk_response(&request(), &res);
        assert_eq!(reply.status, SdkResponseStatus::Error as i32);
        assert!(reply.no_retry);
        assert_eq!(reply.retry_after.as_deref(), Some("30"));
    }
}
