//! [`FakeExecutor`]: drives functions through an app's real serve endpoint, one call at a
//! time, the way the Inngest executor does.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, Method};
use serde::Serialize;
use serde_json::{Value, json};
use url::Url;

use super::clock::FakeClock;
use super::record::{CheckpointRecord, EventSource, ReceivedEvent, RunId, RunRecord};
use super::server;
use super::shared::Shared;
use super::state::fetch;
use super::state::ix::AppIx;
use super::state::{CallResult, Matcher, Options, PreparedCall, State};
use crate::config::EventKey;
use crate::core::config::FUNCTION_INVOKED_EVENT;
use crate::core::signature::SigningKey;
use crate::{Client, Config, Endpoint, Event};

/// Default for [`FakeExecutorBuilder::max_calls_per_run`].
pub const DEFAULT_MAX_CALLS_PER_RUN: usize = 1000;

/// An in-process stand-in for the Inngest server; see the [module docs](super).
///
/// Cheap to clone; clones share the runs. The loopback server stops when the last clone
/// is dropped.
#[derive(Clone)]
pub struct FakeExecutor {
    shared: Arc<Shared>,
    /// Aborts the loopback server when the last clone goes away. Kept out of `Shared`
    /// because the server's routes hold `Shared`, which would keep it alive forever.
    _server: Arc<ServerTask>,
}

/// Builds a [`FakeExecutor`] with options.
pub struct FakeExecutorBuilder {
    signing_key: Option<SigningKey>,
    use_api: bool,
    matcher: Option<Arc<Matcher>>,
    max_calls_per_run: usize,
    start: DateTime<Utc>,
}

/// Why an app could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FakeError {
    /// The app answered the sync `PUT` with an error.
    #[error("the app answered the sync request with {status}: {body}")]
    SyncRejected {
        /// HTTP status.
        status: u16,
        /// The body, as text.
        body: String,
    },
    /// The sync answer or registration was not what the protocol says.
    #[error("the app's sync is invalid: {0}")]
    InvalidSync(String),
    /// The app could not be reached over HTTP.
    #[error("the app could not be reached: {0}")]
    Unreachable(String),
}

struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl fmt::Debug for FakeExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("FakeExecutor")
            .field("url", &self.shared.url.as_str())
            .field("now", &self.shared.clock.now())
            .field("functions", &state.function_ids())
            .field("runs", &state.records())
            .field("events", &state.events())
            .finish()
    }
}

impl fmt::Debug for FakeExecutorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeExecutorBuilder")
            .field("signing_key", &self.signing_key)
            .field("use_api", &self.use_api)
            .field("matcher", &self.matcher.is_some())
            .field("max_calls_per_run", &self.max_calls_per_run)
            .field("start", &self.start)
            .finish()
    }
}

impl Default for FakeExecutorBuilder {
    fn default() -> Self {
        FakeExecutorBuilder {
            signing_key: None,
            use_api: false,
            matcher: None,
            max_calls_per_run: DEFAULT_MAX_CALLS_PER_RUN,
            start: FakeClock::default().now(),
        }
    }
}

impl FakeExecutorBuilder {
    /// Signs every request to the app with `X-Inngest-Signature`, as Inngest Cloud does,
    /// and requires the key's bearer token on API requests. The app then runs in cloud
    /// mode (see [`FakeExecutor::client_config`]) and must use the fake's clock, since
    /// signatures carry the fake time.
    pub fn with_signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// Sends `use_api: true` with empty `events` and `steps`, so the app must fetch them
    /// from `GET /v0/runs/{id}/batch` and `/actions` (docs/protocol.md §7.10).
    pub fn use_api(mut self, use_api: bool) -> Self {
        self.use_api = use_api;
        self
    }

    /// Evaluates the `if`/`expression` strings the built-in CEL subset cannot:
    /// `(expression, event, async_event)` → `Some(matched)`, or `None` if it cannot either
    /// (the expression then does not match). `async_event` is `null` for triggers.
    pub fn with_matcher(
        mut self,
        matcher: impl Fn(&str, &Value, &Value) -> Option<bool> + Send + Sync + 'static,
    ) -> Self {
        self.matcher = Some(Arc::new(matcher));
        self
    }

    /// Fails a run that makes more calls than this (default
    /// [`DEFAULT_MAX_CALLS_PER_RUN`]), so a function that loops cannot hang a test.
    pub fn max_calls_per_run(mut self, max: usize) -> Self {
        self.max_calls_per_run = max.max(1);
        self
    }

    /// Starts the clock at `start` instead of 2026-01-01T00:00:00Z.
    pub fn start_time(mut self, start: DateTime<Utc>) -> Self {
        self.start = start;
        self
    }

    /// Binds the loopback server on `127.0.0.1:0` and starts it.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound, or outside a Tokio runtime.
    pub async fn start(self) -> FakeExecutor {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("the fake executor cannot bind a loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the fake executor's port is unknown: {e}"));
        let url = Url::parse(&format!("http://{addr}/"))
            .unwrap_or_else(|e| panic!("the fake executor's URL is invalid: {e}"));
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(Options {
                use_api: self.use_api,
                max_calls_per_run: self.max_calls_per_run,
                matcher: self.matcher,
            })),
            clock: Arc::new(FakeClock::new(self.start)),
            url,
            signing_key: self.signing_key,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            driver: tokio::sync::Mutex::new(()),
            apps: AtomicUsize::new(0),
        });
        let router = server::router(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "the fake executor's server stopped");
            }
        });
        FakeExecutor {
            shared,
            _server: Arc::new(ServerTask(task)),
        }
    }
}

impl FakeExecutor {
    /// Starts a fake executor with the default options.
    ///
    /// # Panics
    ///
    /// As [`FakeExecutorBuilder::start`].
    pub async fn start() -> FakeExecutor {
        FakeExecutorBuilder::default().start().await
    }

    /// A builder, for options.
    pub fn builder() -> FakeExecutorBuilder {
        FakeExecutorBuilder::default()
    }

    /// The base URL of the fake's API and event API, for [`Config::with_base_url`].
    pub fn url(&self) -> Url {
        self.shared.url.clone()
    }

    /// The fake clock, for [`EndpointBuilder::clock`](crate::EndpointBuilder::clock).
    pub fn clock(&self) -> Arc<FakeClock> {
        Arc::clone(&self.shared.clock)
    }

    /// The current fake time.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    /// A client configuration pointing at the fake: dev mode, or cloud mode with the
    /// signing key (and a test event key) when one is set.
    pub fn client_config(&self) -> Config {
        match &self.shared.signing_key {
            Some(key) => Config::cloud(key.clone())
                .with_base_url(self.url())
                .with_event_key(EventKey::new("fake-event-key")),
            None => Config::dev().with_base_url(self.url()),
        }
    }

    /// A client with [`FakeExecutor::client_config`].
    pub fn client(&self) -> Client {
        Client::new(self.client_config())
    }

    /// Serves `endpoint` in-process: calls go straight to [`Endpoint::handle`]. Syncs
    /// first with an in-band `PUT` (docs/protocol.md §6.3) to learn the function configs, or
    /// accepts the out-of-band registration the `PUT` triggers (§6.2).
    ///
    /// # Errors
    ///
    /// [`FakeError`] when the sync fails.
    pub async fn serve(&self, endpoint: Endpoint) -> Result<(), FakeError> {
        let n = self.shared.apps.fetch_add(1, Ordering::Relaxed);
        let app_url = format!("http://app-{n}.in-process.invalid/api/inngest");
        let app = {
            let mut state = self.shared.lock();
            state.last_registered = None;
            state.app(&app_url, Some(endpoint.clone()))
        };
        let body = json!({ "url": app_url }).to_string().into_bytes();
        let mut request = http::Request::new(Bytes::from(body.clone()));
        *request.method_mut() = Method::PUT;
        *request.uri_mut() = app_url
            .parse()
            .map_err(|_| FakeError::InvalidSync("bad in-process URL".into()))?;
        *request.headers_mut() = self.shared.sync_headers(&body);
        let res = endpoint.handle(request).await;
        self.finish_sync(
            app,
            Some(endpoint),
            res.status().as_u16(),
            res.headers(),
            res.body(),
        )
    }

    /// Serves an app listening at `url` (e.g. `http://127.0.0.1:PORT/api/inngest`, an app
    /// started on port 0): syncs with an in-band `PUT` and calls it over HTTP.
    ///
    /// # Errors
    ///
    /// [`FakeError`] when the app cannot be reached or the sync fails.
    pub async fn serve_url(&self, url: &str) -> Result<(), FakeError> {
        let app = {
            let mut state = self.shared.lock();
            state.last_registered = None;
            state.app(url, None)
        };
        let body = json!({ "url": url }).to_string().into_bytes();
        let res = self
            .shared
            .http
            .put(url)
            .headers(self.shared.sync_headers(&body))
            .body(body)
            .send()
            .await
            .map_err(|e| FakeError::Unreachable(e.to_string()))?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| FakeError::Unreachable(e.to_string()))?;
        self.finish_sync(app, None, status, &headers, &bytes)
    }

    fn finish_sync(
        &self,
        app: AppIx,
        endpoint: Option<Endpoint>,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), FakeError> {
        if status != 200 {
            return Err(FakeError::SyncRejected {
                status,
                body: String::from_utf8_lossy(body).into_owned(),
            });
        }
        let in_band = headers
            .get("x-inngest-sync-kind")
            .is_some_and(|v| v.as_bytes() == b"in_band");
        let mut state = self.shared.lock();
        if in_band {
            let body: Value = serde_json::from_slice(body)
                .map_err(|e| FakeError::InvalidSync(format!("the body is not JSON: {e}")))?;
            let functions = body.get("functions").unwrap_or(&Value::Null);
            return state
                .register(app, functions)
                .map_err(FakeError::InvalidSync);
        }
        // Out of band: the app registered through `POST /fn/register` during the PUT.
        let registered = state.last_registered.take().ok_or_else(|| {
            FakeError::InvalidSync("the app neither synced in band nor registered".into())
        })?;
        if endpoint.is_some() {
            state.apps[registered].endpoint = endpoint;
        }
        Ok(())
    }

    /// Composite ids of the registered functions.
    pub fn function_ids(&self) -> Vec<String> {
        self.shared.lock().function_ids()
    }

    /// Sends an event as if through the event API, and returns the runs it started (none
    /// for a duplicate `id` or an idempotency key seen in the last 24 h). Pending events
    /// are processed first. Nothing runs until [`FakeExecutor::run_until_idle`].
    ///
    /// Unlike the event API, internal names (`inngest/…`) are accepted, so a test can
    /// simulate e.g. `inngest/scheduled.timer`.
    ///
    /// # Panics
    ///
    /// If the event does not serialize to a JSON object.
    pub async fn send<T: Serialize>(&self, event: Event<T>) -> Vec<RunId> {
        let value = serde_json::to_value(&event)
            .unwrap_or_else(|e| panic!("the event does not serialize: {e}"));
        assert!(value.is_object(), "an event must serialize to an object");
        self.receive(value)
    }

    /// Starts a run of the function with composite id `function_id` directly, with an
    /// `inngest/function.invoked` event carrying `data` (docs/protocol.md §8.5). This is how cron
    /// functions are run in tests.
    ///
    /// # Panics
    ///
    /// If no such function is registered.
    pub async fn invoke(&self, function_id: &str, data: Value) -> RunId {
        let known = self.shared.lock().has_function(function_id);
        assert!(
            known,
            "no function {function_id:?} is registered with the fake executor (registered: {:?})",
            self.function_ids()
        );
        let mut data = match data {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            other => panic!("invoke data must be an object, not {other}"),
        };
        data.insert("_inngest".into(), json!({ "fn_id": function_id }));
        let runs = self.receive(json!({ "name": FUNCTION_INVOKED_EVENT, "data": data }));
        runs.into_iter()
            .next()
            .unwrap_or_else(|| panic!("invoking {function_id:?} started no run (idempotency key?)"))
    }

    fn receive(&self, event: Value) -> Vec<RunId> {
        let now = self.now();
        let mut state = self.shared.lock();
        state.process_events(now);
        let index = state.receive(event, EventSource::Test, now);
        state.process_events(now);
        state.event(index).runs.clone()
    }

    /// Drives every runnable run, one call at a time in a deterministic order, until all
    /// are finished or wait on time or events. Events sent meanwhile (by `send_event`
    /// steps, clients, or the executor's own `inngest/function.*` events) are processed as
    /// they come.
    pub async fn run_until_idle(&self) {
        let _driver = self.shared.driver.lock().await;
        self.drive().await;
    }

    /// Moves the fake clock forward by `by`, stopping at every timer on the way (sleeps,
    /// wait and invoke timeouts, retries with `Retry-After`) to fire it and drive the runs,
    /// as if the time had really passed; then drives until idle.
    pub async fn advance(&self, by: Duration) {
        let _driver = self.shared.driver.lock().await;
        let by = chrono::TimeDelta::from_std(by).unwrap_or(chrono::TimeDelta::MAX);
        let target = self
            .now()
            .checked_add_signed(by)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        loop {
            self.drive().await;
            let now = self.now();
            match self.shared.lock().next_deadline(now) {
                Some(next) if next > now && next <= target => self.shared.clock.set(next),
                _ => break,
            }
        }
        self.shared.clock.set(target);
        self.drive().await;
    }

    async fn drive(&self) {
        loop {
            let call = {
                let now = self.now();
                let mut state = self.shared.lock();
                state.process_events(now);
                state.fire_timers(now);
                state.process_events(now);
                state.next_call(now)
            };
            let Some(call) = call else { break };
            // No lock is held here: the app may post events to the fake while it runs.
            let result = self.shared.send_call(&call).await;
            let now = self.now();
            self.shared.lock().apply(call, result, now);
            self.gateway_requests().await;
        }
    }

    /// Makes the HTTP requests of the `Gateway` / `AIGateway` ops just reported, as the
    /// real executor does, and memoizes what came of them (docs/protocol.md §8.8, §8.9).
    async fn gateway_requests(&self) {
        let jobs = self.shared.lock().take_gateway_jobs();
        for job in jobs {
            // No lock is held during the request.
            let outcome = fetch::perform(&self.shared.http, &job.request).await;
            let now = self.now();
            self.shared.lock().finish_gateway(job, outcome, now);
        }
    }

    /// A snapshot of a run.
    ///
    /// # Panics
    ///
    /// If there is no such run.
    pub fn run(&self, id: &RunId) -> RunRecord {
        self.find_run(id.as_str())
            .unwrap_or_else(|| panic!("the fake executor has no run {id}"))
    }

    /// A snapshot of a run, if it exists.
    pub fn find_run(&self, id: &str) -> Option<RunRecord> {
        let state = self.shared.lock();
        state.run_index(id).map(|r| state.record(r))
    }

    /// Snapshots of every run, in creation order.
    pub fn runs(&self) -> Vec<RunRecord> {
        self.shared.lock().records()
    }

    /// Snapshots of the runs of one function (by composite id), in creation order.
    pub fn runs_of(&self, function_id: &str) -> Vec<RunRecord> {
        let mut runs = self.runs();
        runs.retain(|r| r.function_id == function_id);
        runs
    }

    /// Every event received, in order: sent by the test, by apps, or by the executor.
    pub fn events(&self) -> Vec<ReceivedEvent> {
        self.shared.lock().events().to_vec()
    }

    /// The events received with this name.
    pub fn events_named(&self, name: &str) -> Vec<ReceivedEvent> {
        let mut events = self.events();
        events.retain(|e| e.name() == name);
        events
    }

    /// Answers the next `count` checkpoint requests with `500`, as an Inngest API that is
    /// down would (docs/protocol.md §7.14). The SDK retries a failed checkpoint, then answers the
    /// call with the steps it could not report.
    pub fn fail_checkpoints(&self, count: usize) {
        self.fail_checkpoints_with(count, 500);
    }

    /// Answers the next `count` checkpoint requests with `status` (a `4xx` is not retried
    /// by the SDK; `409` is what the server answers a stale queue item).
    pub fn fail_checkpoints_with(&self, count: usize, status: u16) {
        let mut state = self.shared.lock();
        state.fail_checkpoints = count;
        state.fail_checkpoints_status = status;
    }

    /// Every checkpoint request received (`POST /v1/checkpoint/{runID}/async`), in order,
    /// with the status answered.
    pub fn checkpoints(&self) -> Vec<CheckpointRecord> {
        self.shared.lock().checkpoints.clone()
    }

    /// The run-state API requests served (`GET /v0/runs/{id}/batch|actions`), in order.
    pub fn api_requests(&self) -> Vec<String> {
        self.shared.lock().api_requests.clone()
    }
}

/// How the executor calls the app: signed calls and syncs.
impl Shared {
    fn sign(&self, headers: &mut HeaderMap, body: &[u8]) {
        if let Some(key) = &self.signing_key {
            let signature = key.sign(body, self.clock.now().timestamp());
            if let Ok(value) = HeaderValue::from_str(&signature) {
                headers.insert("x-inngest-signature", value);
            }
        }
    }

    /// Headers of the in-band sync `PUT` (docs/protocol.md §4.2, §6.3).
    fn sync_headers(&self, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert("x-inngest-sync-kind", HeaderValue::from_static("in_band"));
        let kind = if self.signing_key.is_some() {
            "cloud"
        } else {
            "dev"
        };
        headers.insert("x-inngest-server-kind", HeaderValue::from_static(kind));
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static("Inngest"),
        );
        self.sign(&mut headers, body);
        headers
    }

    /// Sends one call request (docs/protocol.md §4.2, §7.1).
    async fn send_call(&self, call: &PreparedCall) -> Result<CallResult, String> {
        let body = serde_json::to_vec(&call.body).map_err(|e| e.to_string())?;
        let step_id = call.step.as_deref().unwrap_or("step");
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static("Inngest"),
        );
        for (name, value) in [
            ("x-run-id", call.run_id.clone()),
            ("x-inngest-step-id", step_id.to_owned()),
            ("x-inngest-req-version", call.version.to_string()),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        self.sign(&mut headers, &body);
        match &call.endpoint {
            Some(endpoint) => {
                let mut request = http::Request::new(Bytes::from(body));
                *request.method_mut() = Method::POST;
                *request.uri_mut() = call.url.as_str().parse().map_err(|e| format!("{e}"))?;
                *request.headers_mut() = headers;
                let res = endpoint.handle(request).await;
                let (parts, body) = res.into_parts();
                Ok(CallResult {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body,
                })
            }
            None => {
                let res = self
                    .http
                    .post(call.url.clone())
                    .headers(headers)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = res.status().as_u16();
                let headers = res.headers().clone();
                let body = res.bytes().await.map_err(|e| e.to_string())?;
                let answer = CallResult {
                    status,
                    headers,
                    body: body.to_vec(),
                };
                if status == 201 {
                    return unstream(answer);
                }
                Ok(answer)
            }
        }
    }
}

/// Reads a streamed answer as the executor does (docs/protocol.md §7.11): after any leading
/// whitespace, `{"status", "headers", "body"}` is the real answer; its headers are laid over
/// the `201`'s, and a string body stands for its own bytes. An envelope that does not
/// parse, or that carries an `error`, fails the attempt like an unreachable app.
fn unstream(answer: CallResult) -> Result<CallResult, String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        status: u16,
        #[serde(default)]
        headers: std::collections::HashMap<String, String>,
        #[serde(default)]
        body: Option<Box<serde_json::value::RawValue>>,
        #[serde(default)]
        error: Option<Value>,
    }
    let envelope: Envelope = serde_json::from_slice(answer.body.trim_ascii_start())
        .map_err(|e| format!("the streamed answer is not an envelope: {e}"))?;
    if let Some(error) = envelope.error {
        return Err(format!("the streamed answer carries an error: {error}"));
    }
    let mut headers = answer.headers;
    for (name, value) in &envelope.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    let body = match envelope.body {
        None => Vec::new(),
        Some(raw) => match serde_json::from_str::<String>(raw.get()) {
            Ok(text) => text.into_bytes(),
            Err(_) => raw.get().as_bytes().to_vec(),
        },
    };
    Ok(CallResult {
        status: envelope.status,
        headers,
        body,
    })
}
