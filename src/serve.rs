//! The listener's accept loop: HTTP/1 connections with a header-read timeout, an idle
//! keep-alive timeout and a cap on how many are open at once, graceful shutdown, and the
//! open-file limit raised at start (issue 17; docs/hardening.md, "Web-facing limits").
//!
//! `axum::serve` exposes none of these knobs, so connections are served here with hyper's
//! HTTP/1 connection directly. Beyond the cap a connection is still accepted, answered
//! `503` with `Connection: close` and closed: a client (Stripe, a proxy, a person) learns at
//! once that the service is busy, where leaving it in the kernel's backlog would let it hang
//! until its own timeout. Accepting costs a file descriptor for a moment, which is why the
//! cap is kept below the open-file limit ([`RESERVED_FILES`]) and refusals that linger are
//! themselves bounded ([`REFUSALS_IN_FLIGHT`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tower_http::add_extension::AddExtension;

use crate::config::HttpLimits;

/// File descriptors kept free of connections: the listener, logs, the vendor clients'
/// outgoing connections, and the refusals below.
pub const RESERVED_FILES: u64 = 64;

/// Refused connections read from at once, each for up to [`REFUSAL_LINGER`].
pub const REFUSALS_IN_FLIGHT: usize = 32;

/// How long a refused connection is read from after its 503, so that closing it does not
/// reset a request the client was still sending (a reset can discard the 503 unread).
pub const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Pause after an accept error that is not about one connection (out of file descriptors),
/// so the loop does not spin while descriptors are released.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The answer to a connection beyond the cap, sent without reading its request.
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
x-content-type-options: nosniff\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 45\r\n\
\r\n\
{\"error\":\"too many connections, retry later\"}";

/// Raises the soft open-file limit to the hard one and logs both; returns the soft limit
/// now in force (`None` where it cannot be read). A systemd unit's default soft limit
/// (1,024) would otherwise cap the connections long before the hard limit does.
pub fn raise_open_file_limit() -> Option<u64> {
    let before = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok(limits) => limits,
        Err(error) => {
            tracing::warn!(%error, "cannot read the open-file limit");
            return None;
        }
    };
    let (soft, hard) = before;
    match rlimit::increase_nofile_limit(hard) {
        Ok(now) if now > soft => {
            tracing::info!(from = soft, to = now, hard, "raised the open-file limit");
            Some(now)
        }
        Ok(now) => {
            tracing::info!(soft = now, hard, "open-file limit already at its maximum");
            Some(now)
        }
        Err(error) => {
            tracing::warn!(%error, soft, hard, "cannot raise the open-file limit");
            Some(soft)
        }
    }
}

/// The connection cap in force: the configured one, lowered to fit `open_files` less
/// [`RESERVED_FILES`] (and at least one).
pub fn effective_max_connections(configured: usize, open_files: Option<u64>) -> usize {
    let Some(files) = open_files else {
        return configured;
    };
    let room = usize::try_from(files.saturating_sub(RESERVED_FILES).max(1)).unwrap_or(usize::MAX);
    configured.min(room)
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, asks
/// every connection to close after its in-flight request, and waits up to `grace` for them.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: &HttpLimits,
    max_connections: usize,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let settings = Arc::new(ConnectionSettings {
        header_read_timeout: limits.header_read_timeout,
        keep_alive_idle: limits.keep_alive_idle,
    });
    let permits = Arc::new(Semaphore::new(max_connections));
    let refusals = Refusals {
        lingering: Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT)),
        count: AtomicU64::new(0),
    };
    let (closing_tx, closing_rx) = watch::channel(());
    // Every connection task holds a sender; `recv` answers `None` once all are gone.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed; pausing");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                let connection = serve_connection(
                    stream,
                    peer,
                    router.clone(),
                    Arc::clone(&settings),
                    closing_rx.clone(),
                );
                let open = open_tx.clone();
                tokio::spawn(async move {
                    connection.await;
                    drop(permit);
                    drop(open);
                });
            }
            Err(_) => refusals.refuse(stream),
        }
    }
    drop(listener);
    drop(open_tx);
    let _ = closing_tx.send(());
    if tokio::time::timeout(grace, open_rx.recv()).await.is_err() {
        tracing::warn!(
            ?grace,
            "in-flight requests did not finish in time; stopping anyway"
        );
    }
}

/// Per-connection timing, shared by every connection.
#[derive(Debug)]
struct ConnectionSettings {
    /// Closes a connection whose request head has not fully arrived in time (slow headers).
    header_read_timeout: Duration,
    /// Closes a connection with nothing in flight and nothing received for this long.
    keep_alive_idle: Duration,
}

/// Serves one connection until the client closes it, a timeout closes it, or shutdown asks
/// it to finish its request and close.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: axum::Router,
    settings: Arc<ConnectionSettings>,
    mut closing: watch::Receiver<()>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(TrackedIo {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    // The rate limits key on the peer address, as `into_make_service_with_connect_info`
    // would provide it.
    let inner = TowerToHyperService::new(AddExtension::new(router, ConnectInfo(peer)));
    let tracked = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request| {
        let in_flight = tracked.begin_request();
        let response = hyper::service::Service::call(&inner, request);
        async move {
            let response = response.await;
            drop(in_flight);
            response
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    let mut connection = pin!(builder.serve_connection(io, service));
    let mut closing_down = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
                return;
            }
            _ = closing.changed(), if !closing_down => {
                connection.as_mut().graceful_shutdown();
                closing_down = true;
            }
            () = activity.idle_for(settings.keep_alive_idle), if !closing_down => {
                tracing::debug!(%peer, "closing an idle connection");
                connection.as_mut().graceful_shutdown();
                closing_down = true;
            }
        }
    }
}

/// How connections beyond the cap are refused.
#[derive(Debug)]
struct Refusals {
    /// Permits for refused connections still being read from.
    lingering: Arc<Semaphore>,
    /// Connections refused so far, so a flood is logged now and then, not once each.
    count: AtomicU64,
}

/// Refusals are logged at warn level the first time and then once per this many.
const LOG_EVERY: u64 = 1000;

impl Refusals {
    /// Answers a connection beyond the cap with [`BUSY_RESPONSE`] and closes it. The answer
    /// is written at once, without waiting (a fresh socket's send buffer has room for it);
    /// then, while fewer than [`REFUSALS_IN_FLIGHT`] refusals linger, what the client sends
    /// is read for up to [`REFUSAL_LINGER`] so that closing does not reset the connection
    /// before the client has read the answer. Past that budget the socket is closed at once.
    fn refuse(&self, stream: TcpStream) {
        let refused = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if refused == 1 || refused.is_multiple_of(LOG_EVERY) {
            tracing::warn!(refused, "connection cap reached; answering 503 and closing");
        }
        let Ok(mut stream) = stream.into_std() else {
            return;
        };
        let _ = io::Write::write(&mut stream, BUSY_RESPONSE);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let Ok(permit) = Arc::clone(&self.lingering).try_acquire_owned() else {
            return;
        };
        let Ok(mut stream) = TcpStream::from_std(stream) else {
            return;
        };
        tokio::spawn(async move {
            let drain = async {
                let mut sink = [0u8; 1024];
                while stream.read(&mut sink).await? > 0 {}
                Ok::<(), io::Error>(())
            };
            let _ = tokio::time::timeout(REFUSAL_LINGER, drain).await;
            drop(permit);
        });
    }
}

/// Accept errors about one connection (it went away before it was accepted): the next
/// accept may succeed at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// When a connection last moved a byte, and how many of its requests are in flight.
#[derive(Debug)]
struct Activity {
    /// The connection's start; `last` counts milliseconds from it.
    start: Instant,
    /// Milliseconds from `start` to the last byte read or written, or the last response.
    last: AtomicU64,
    /// Requests whose response has not been produced yet.
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(elapsed, Ordering::Relaxed);
    }

    fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(Arc::clone(self))
    }

    /// Resolves once no request is in flight and nothing moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            if self.in_flight.load(Ordering::Relaxed) > 0 {
                // A request's end touches `last`, so its idle time starts from there.
                tokio::time::sleep(idle).await;
                continue;
            }
            let last = self.start + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = last + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// Marks a request in flight until dropped.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream that records when bytes move, for the idle keep-alive timeout.
#[derive(Debug)]
struct TrackedIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_below_the_open_file_limit() {
        assert_eq!(effective_max_connections(4096, Some(256)), 192);
        assert_eq!(effective_max_connections(100, Some(1_048_576)), 100);
        assert_eq!(effective_max_connections(4096, Some(10)), 1);
        assert_eq!(effective_max_connections(4096, None), 4096);
    }

    #[test]
    fn the_busy_response_is_well_formed() {
        let text = std::str::from_utf8(BUSY_RESPONSE).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).expect("json body");
        assert!(json["error"].is_string());
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_without_requests_and_bytes() {
        let activity = Arc::new(Activity::new());
        let idle = Duration::from_secs(5);
        let request = activity.begin_request();
        // A request that takes longer than the idle time keeps the connection busy.
        let waited = tokio::time::timeout(Duration::from_secs(30), activity.idle_for(idle)).await;
        assert!(waited.is_err(), "busy while a request is in flight");
        drop(request);
        let ended = Instant::now();
        activity.idle_for(idle).await;
        assert_eq!(Instant::now() - ended, idle);
    }
}
