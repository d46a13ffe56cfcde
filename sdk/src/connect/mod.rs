//! The Connect transport (feature `connect`): the app opens an outbound WebSocket to
//! Inngest's gateway and receives its executor requests over it, instead of being called at a
//! public URL (docs/protocol.md §13).
//!
//! The same [`Endpoint`] serves both transports: an executor request that arrives over the
//! socket runs through the same code as an HTTP `POST` call, and its answer goes back as a
//! reply. No inbound port is needed, and more workers are simply more processes.
//!
//! ```no_run
//! use inngest_sdk::connect::{self, WorkerState};
//! use inngest_sdk::{
//!     Client, Config, Endpoint, Error, Function, FunctionOpts, Input, Step, Trigger,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let hello = Function::new(
//!     FunctionOpts::new("hello").trigger(Trigger::event("demo/hello")),
//!     |input: Input<serde_json::Value>, step: Step| async move {
//!         let greeting: String = step
//!             .run("greet", || async { Ok::<_, Error>("hello".to_owned()) })
//!             .await?;
//!         Ok::<_, Error>(format!("{greeting} {}", input.event.name))
//!     },
//! );
//! // INNGEST_DEV=1 for the dev server; INNGEST_SIGNING_KEY in production.
//! let client = Client::new(Config::from_env()?);
//! let endpoint = Endpoint::builder("my-app", client).function(hello).build()?;
//!
//! let worker = connect::connect(endpoint).max_concurrency(16).start();
//! // `Connecting` until the gateway accepted the app, then `Ready`.
//! let mut state = worker.subscribe();
//! state.wait_for(|s| *s == WorkerState::Ready).await?;
//!
//! // On SIGTERM: stop taking requests, finish the ones in flight, close.
//! tokio::signal::ctrl_c().await?;
//! worker.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! What the worker does for you: it reconnects with jittered backoff for as long as the
//! gateway cannot be reached, moves to a new gateway when its gateway says it is closing
//! without dropping the requests in flight, extends the lease of a request while it runs,
//! and delivers every reply: over the socket, or through the HTTP flush API when the socket
//! is gone or the reply is not acknowledged.

mod proto;
mod state;
#[cfg(test)]
mod tests;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use crate::endpoint::Endpoint;

pub use state::WorkerState;
pub use worker::backoff;

/// Starts building a Connect worker that serves `endpoint`'s functions.
pub fn connect(endpoint: Endpoint) -> ConnectBuilder {
    ConnectBuilder {
        endpoint,
        instance_id: None,
        max_concurrency: None,
        gateway_url: None,
        handshake_timeout: Duration::from_secs(10),
        reply_ack_timeout: Duration::from_secs(5),
    }
}

/// Builds a [`Worker`]; see [`connect`].
#[derive(Debug)]
pub struct ConnectBuilder {
    endpoint: Endpoint,
    instance_id: Option<String>,
    max_concurrency: Option<usize>,
    gateway_url: Option<Url>,
    handshake_timeout: Duration,
    reply_ack_timeout: Duration,
}

impl ConnectBuilder {
    /// The worker's instance id as the dashboard shows it (default: the host name, the
    /// process id and a per-process counter).
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// At most `n` requests run at once (at least 1); the gateway is told, and sends no more.
    /// Default: no limit.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = Some(n.max(1));
        self
    }

    /// Connects to this WebSocket URL instead of the gateway the start API names (a proxy in
    /// front of the gateway; tests).
    pub fn gateway_url(mut self, url: Url) -> Self {
        self.gateway_url = Some(url);
        self
    }

    /// How long the WebSocket handshake with the gateway may take (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long a reply waits for the gateway's acknowledgement before it is sent through
    /// the flush API instead (default 5 s).
    pub fn reply_ack_timeout(mut self, timeout: Duration) -> Self {
        self.reply_ack_timeout = timeout;
        self
    }

    /// Starts the worker on the current tokio runtime. It connects in the background; watch
    /// [`Worker::subscribe`] for [`WorkerState::Ready`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start(self) -> Worker {
        let (state_tx, state_rx) = watch::channel(WorkerState::Connecting);
        let (stop_tx, _) = watch::channel(false);
        let stop_tx = Arc::new(stop_tx);
        let shared = worker::Shared::new(
            self.endpoint,
            worker::Options {
                instance_id: self.instance_id.unwrap_or_else(worker::default_instance_id),
                max_concurrency: self.max_concurrency,
                gateway_url: self.gateway_url,
                handshake_timeout: self.handshake_timeout,
                reply_ack_timeout: self.reply_ack_timeout,
            },
            state_tx,
            Arc::clone(&stop_tx),
        );
        let task = tokio::spawn(worker::run(Arc::clone(&shared)));
        Worker {
            state: state_rx,
            stop: stop_tx,
            shared,
            task,
        }
    }
}

/// A running Connect worker. Dropping the handle leaves the worker running; call
/// [`Worker::shutdown`] (or [`StopHandle::stop`]) to drain and close it.
pub struct Worker {
    state: watch::Receiver<WorkerState>,
    stop: Arc<watch::Sender<bool>>,
    shared: Arc<worker::Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("state", &*self.state.borrow())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// The current state.
    pub fn state(&self) -> WorkerState {
        *self.state.borrow()
    }

    /// A receiver of state changes (for readiness probes and tests).
    pub fn subscribe(&self) -> watch::Receiver<WorkerState> {
        self.state.clone()
    }

    /// Requests running now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
    }

    /// What the worker has done so far.
    pub fn stats(&self) -> WorkerStats {
        let c = &self.shared.counters;
        let get = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        WorkerStats {
            connections: get(&c.connections),
            failed_attempts: get(&c.failed_attempts),
            requests: get(&c.requests),
            replies_acked: get(&c.replies_acked),
            replies_flushed: get(&c.replies_flushed),
            lease_extensions: get(&c.lease_extensions),
        }
    }

    /// A cloneable handle that starts the drain (for a signal handler elsewhere).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            stop: Arc::clone(&self.stop),
        }
    }

    /// Drains and closes: tells the gateway to send no more requests (`WORKER_PAUSE`),
    /// finishes the requests in flight, delivers their replies, closes the socket. Resolves
    /// when the worker is [`WorkerState::Closed`].
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        self.closed().await;
    }

    /// Resolves when the worker is closed (after a stop from a [`StopHandle`]).
    pub async fn closed(self) {
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the Connect worker task failed");
        }
    }
}

/// Counters of a worker's work, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Connections established (handshake completed).
    pub connections: u64,
    /// Connection attempts that failed (start refused, gateway unreachable, handshake).
    pub failed_attempts: u64,
    /// Executor requests taken (acknowledged).
    pub requests: u64,
    /// Replies the gateway acknowledged over the socket.
    pub replies_acked: u64,
    /// Replies delivered through the flush API instead.
    pub replies_flushed: u64,
    /// Lease extensions the gateway granted (acknowledged with a new lease).
    pub lease_extensions: u64,
}

/// Starts a worker's drain from anywhere; see [`Worker::stop_handle`].
#[derive(Debug, Clone)]
pub struct StopHandle {
    stop: Arc<watch::Sender<bool>>,
}

impl StopHandle {
    /// Starts the drain; [`Worker::closed`] resolves when it is done.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}
