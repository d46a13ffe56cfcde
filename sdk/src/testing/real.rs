//! The real Inngest server, for end-to-end tests: [`InngestServer`] starts `inngest dev` (or
//! `inngest start`, which signs every request as Inngest Cloud does) on free loopback ports,
//! waits until it answers, reads what happened through its own APIs (the event API and the
//! GraphQL API the dashboard uses), and stops it when dropped.
//!
//! The fake executor is for fast, fine-grained tests; this is the executor users run, so
//! what a test proves here holds against Inngest itself.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use inngest_sdk::testing::real::{InngestServer, RunStatus, ServerOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = InngestServer::start(ServerOptions::dev()).await?;
//! // Serve your app (with INNGEST_DEV=<server.url()>), then let the server sync it:
//! server.sync_app("http://127.0.0.1:3000/api/inngest").await?;
//! let ids = server
//!     .send_event(serde_json::json!({"name": "user/signed.up", "data": {"id": 1}}))
//!     .await?;
//! let run = server
//!     .wait_for("the run to complete", Duration::from_secs(30), || async {
//!         let runs = server.runs_of_event(&ids[0]).await.ok()?;
//!         runs.into_iter().find(|run| run.status == RunStatus::Completed)
//!     })
//!     .await?;
//! println!("{:?}", run.output);
//! # Ok(())
//! # }
//! ```
//!
//! An app under test is usually an [`Endpoint`]:
//! [`InngestServer::serve_and_sync`] serves it on a loopback port and syncs it (the
//! [`ServedApp`] it returns keeps serving until dropped), [`InngestServer::first_run_of`]
//! waits for the run an event started and [`InngestServer::wait_for_output`] for its end
//! and output; [`InngestServer::run_event`] does all three for one event.
//!
//! The binary is found in `INNGEST_BIN`, else as `inngest-cli` or `inngest` on `PATH` (what
//! `npm i -g inngest-cli` installs). A wrapper script works too, as long as it forwards
//! SIGTERM to the server.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::Endpoint;
use crate::core::signature::SigningKey;

/// How long [`InngestServer::start`] waits for `GET /health` (a first run may install and
/// initialise a database).
const START_LIMIT: Duration = Duration::from_secs(180);

/// How often [`InngestServer::wait_for`] asks again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Server output lines kept for failure reports.
const LOG_LINES: usize = 400;

/// How a test server runs.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    signed: Option<(String, String)>,
    retry_interval: Option<u32>,
    sdk_urls: Vec<String>,
    extra_args: Vec<String>,
}

impl ServerOptions {
    /// `inngest dev`: no signatures, any event key.
    pub fn dev() -> Self {
        ServerOptions::default()
    }

    /// `inngest start` with this signing key (hex) and event key: every request to the app
    /// is signed and the app must authenticate its API calls, as with Inngest Cloud.
    pub fn self_hosted(signing_key: impl Into<String>, event_key: impl Into<String>) -> Self {
        ServerOptions {
            signed: Some((signing_key.into(), event_key.into())),
            ..ServerOptions::default()
        }
    }

    /// Retries failed steps and calls after `seconds` (linear) instead of the production
    /// backoff (15 s, 30 s, 1 m, …).
    pub fn retry_interval(mut self, seconds: u32) -> Self {
        self.retry_interval = Some(seconds.max(1));
        self
    }

    /// An app URL the server syncs at start and polls (`--sdk-url`).
    pub fn sdk_url(mut self, url: impl Into<String>) -> Self {
        self.sdk_urls.push(url.into());
        self
    }

    /// Any other argument for the server's command line.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }
}

/// Why the server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No binary: set `INNGEST_BIN`, or install `inngest-cli`.
    #[error(
        "the Inngest server was not found: set INNGEST_BIN, or put inngest-cli (npm i -g inngest-cli) or inngest on PATH"
    )]
    NotFound,
    /// The process could not be started.
    #[error("starting {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server exited, or did not answer in time.
    #[error("the Inngest server did not start: {reason}\n--- server output ---\n{log}")]
    NotStarted {
        /// Why.
        reason: String,
        /// The server's last output lines.
        log: String,
    },
    /// An API call failed.
    #[error("Inngest API {what}: {message}")]
    Api {
        /// Which call.
        what: String,
        /// Why.
        message: String,
    },
    /// [`InngestServer::wait_for`] ran out of time.
    #[error("timed out after {limit:?} waiting for {what}\n--- server output ---\n{log}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        limit: Duration,
        /// The server's last output lines.
        log: String,
    },
}

/// The status of a run, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Waiting for its first call.
    Queued,
    /// Started and not finished (sleeping and waiting runs included).
    Running,
    /// Returned.
    Completed,
    /// Failed for good.
    Failed,
    /// Cancelled (an event, the API, a timeout).
    Cancelled,
    /// Not started (idempotency, rate limit, singleton).
    Skipped,
    /// A status this harness does not know.
    #[serde(other)]
    Unknown,
}

/// A run, as the server's GraphQL API lists it.
#[derive(Debug, Clone)]
pub struct Run {
    /// The run id (a ULID).
    pub id: String,
    /// Its status.
    pub status: RunStatus,
    /// The function's slug: `<app id>-<function id>`.
    pub function: String,
    /// Internal ids of the events that triggered it.
    pub trigger_ids: Vec<String>,
    /// The return value (completed) or the error (failed), when finished.
    pub output: Option<Value>,
}

/// An event the server received.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    /// Internal id (a ULID).
    pub id: String,
    /// Name.
    pub name: String,
    /// The event as sent (`name`, `data`, `id`, `ts`, …).
    pub raw: Value,
}

impl ReceivedEvent {
    /// The event's `data`.
    pub fn data(&self) -> &Value {
        &self.raw["data"]
    }
}

/// One step of a run, from its trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedStep {
    /// The step's name (its id in the code).
    pub name: String,
    /// `RUN`, `SLEEP`, `WAIT_FOR_EVENT`, `INVOKE`, …, when the server knows it.
    pub op: Option<String>,
    /// `COMPLETED`, `FAILED`, `RUNNING`, `WAITING`, ….
    pub status: String,
    /// Attempts the step took.
    pub attempts: Option<u32>,
}

/// An app served on a free loopback port for a test server ([`ServedApp::serve`],
/// [`InngestServer::serve_and_sync`]); it stops serving when dropped.
#[derive(Debug)]
pub struct ServedApp {
    url: String,
    task: tokio::task::AbortHandle,
}

impl ServedApp {
    /// Serves `endpoint` at `/api/inngest` on a free loopback port.
    ///
    /// # Errors
    ///
    /// [`ServerError::Api`] when no loopback port can be bound.
    pub async fn serve(endpoint: Endpoint) -> Result<Self, ServerError> {
        Self::serve_router(axum::Router::new().route("/api/inngest", crate::axum::serve(endpoint)))
            .await
    }

    /// Serves `router` (which routes `/api/inngest` itself, e.g. a handler that records the
    /// endpoint's answers) on a free loopback port.
    ///
    /// # Errors
    ///
    /// [`ServerError::Api`] when no loopback port can be bound.
    pub async fn serve_router(router: axum::Router) -> Result<Self, ServerError> {
        let bind = |e: std::io::Error| ServerError::Api {
            what: "serving the app".into(),
            message: e.to_string(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(bind)?;
        let url = format!(
            "http://{}/api/inngest",
            listener.local_addr().map_err(bind)?
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        })
        .abort_handle();
        Ok(ServedApp { url, task })
    }

    /// The app's `/api/inngest` URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ServedApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running Inngest server; stopped when dropped.
pub struct InngestServer {
    child: Option<Child>,
    url: Url,
    gateway_port: u16,
    event_key: String,
    bearer: Option<String>,
    started_at: DateTime<Utc>,
    http: reqwest::Client,
    log: Arc<Mutex<VecDeque<String>>>,
    /// How it was started, and on which ports ([`InngestServer::restart`] reuses both).
    options: ServerOptions,
    ports: [u16; 4],
}

impl fmt::Debug for InngestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InngestServer")
            .field("url", &self.url.as_str())
            .field("signed", &self.bearer.is_some())
            .finish_non_exhaustive()
    }
}

impl InngestServer {
    /// Where the server binary is: `INNGEST_BIN`, else `inngest-cli` or `inngest` on `PATH`.
    pub fn locate() -> Result<PathBuf, ServerError> {
        if let Some(bin) = std::env::var_os("INNGEST_BIN").filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(bin));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            for name in ["inngest-cli", "inngest"] {
                let candidate = dir.join(name);
                if candidate.is_file() {
                    return Ok(candidate);
                }
            }
        }
        Err(ServerError::NotFound)
    }

    /// Starts a server on free loopback ports and waits until it answers `GET /health`.
    ///
    /// A port can still be taken between the choice and the server's bind: then the server
    /// is started again on other ports (three times at most).
    pub async fn start(options: ServerOptions) -> Result<Self, ServerError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::start_once(&options, free_ports()).await {
                Err(ServerError::NotStarted { log, .. })
                    if tries < 3 && log.contains("address already in use") =>
                {
                    continue;
                }
                started => return started,
            }
        }
    }

    /// Stops the server (as [`InngestServer::stop`] does) and starts a new one on the same
    /// ports with the same options: what a restart of the server looks like to an app and to
    /// a Connect worker. The new server starts with empty state.
    ///
    /// # Errors
    ///
    /// As [`InngestServer::start`].
    pub async fn restart(&mut self) -> Result<(), ServerError> {
        self.stop();
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::start_once(&self.options, self.ports).await {
                Ok(server) => {
                    *self = server;
                    return Ok(());
                }
                // The old server's ports may take a moment to be released.
                Err(ServerError::NotStarted { log, .. })
                    if tries < 20 && log.contains("address already in use") =>
                {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn start_once(options: &ServerOptions, ports: [u16; 4]) -> Result<Self, ServerError> {
        let binary = Self::locate()?;
        let [port, gateway, gateway_grpc, executor_grpc] = ports;
        let mut command = Command::new(&binary);
        command.arg(if options.signed.is_some() {
            "start"
        } else {
            "dev"
        });
        if options.signed.is_none() {
            command.arg("--no-discovery");
        }
        command.args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--connect-gateway-port",
            &gateway.to_string(),
            "--connect-gateway-grpc-port",
            &gateway_grpc.to_string(),
            "--connect-executor-grpc-port",
            &executor_grpc.to_string(),
        ]);
        if let Some(seconds) = options.retry_interval {
            command.args(["--retry-interval", &seconds.to_string()]);
        }
        for url in &options.sdk_urls {
            command.args(["--sdk-url", url]);
        }
        let (event_key, bearer) = match &options.signed {
            Some((signing_key, event_key)) => {
                command.args(["--signing-key", signing_key, "--event-key", event_key]);
                let bearer = SigningKey::new(signing_key.clone())
                    .and_then(|key| key.bearer_token())
                    .map_err(|e| ServerError::Api {
                        what: "signing key".into(),
                        message: e.to_string(),
                    })?;
                (event_key.clone(), Some(bearer))
            }
            None => ("test".to_owned(), None),
        };
        command.args(&options.extra_args);
        // Each server keeps its own state: never a database another test server uses.
        // The dev server reads an `inngest.json` it finds above its working directory (an
        // app's own config, with its `sdk-url`): start it where there is none.
        command
            .current_dir(std::env::temp_dir())
            .env_remove("INNGEST_POSTGRES_URI")
            .env_remove("INNGEST_DEV")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            // Its own process group, so a last-resort kill reaches everything it started.
            command.process_group(0);
        }
        let mut child = command.spawn().map_err(|source| ServerError::Spawn {
            binary: binary.display().to_string(),
            source,
        })?;
        let log = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_LINES)));
        if let Some(stdout) = child.stdout.take() {
            collect(stdout, Arc::clone(&log));
        }
        if let Some(stderr) = child.stderr.take() {
            collect(stderr, Arc::clone(&log));
        }
        let url = Url::parse(&format!("http://127.0.0.1:{port}")).map_err(|e| {
            ServerError::NotStarted {
                reason: e.to_string(),
                log: String::new(),
            }
        })?;
        let mut server = InngestServer {
            child: Some(child),
            url,
            gateway_port: gateway,
            event_key,
            bearer,
            started_at: Utc::now(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| ServerError::Api {
                    what: "client".into(),
                    message: e.to_string(),
                })?,
            log,
            options: options.clone(),
            ports,
        };
        server.wait_healthy().await?;
        Ok(server)
    }

    async fn wait_healthy(&mut self) -> Result<(), ServerError> {
        let deadline = Instant::now() + START_LIMIT;
        let health = self.endpoint("health");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(ServerError::NotStarted {
                    reason: format!("it exited with {status}"),
                    log: self.log_tail(),
                });
            }
            if let Ok(res) = self.http.get(health.clone()).send().await
                && res.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ServerError::NotStarted {
                    reason: format!("no answer from {health} within {START_LIMIT:?}"),
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The server's origin (`http://127.0.0.1:<port>`): the API, the event API and the UI.
    /// Point the app at it with `INNGEST_DEV=<url>` or `INNGEST_BASE_URL=<url>`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The port of the Connect gateway.
    pub fn gateway_port(&self) -> u16 {
        self.gateway_port
    }

    /// The event key events are sent with (`test` for a dev server).
    pub fn event_key(&self) -> &str {
        &self.event_key
    }

    /// When the server was started; runs and events before it are not this server's.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// The server's last output lines, for failure reports.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Asks the server to sync the app served at `url` (what the dashboard's "sync app"
    /// does: the server sends the app a `PUT`).
    pub async fn sync_app(&self, url: &str) -> Result<(), ServerError> {
        let data = self
            .gql(
                "mutation($url: String!) { createApp(input: {url: $url}) { id error } }",
                json!({ "url": url }),
            )
            .await?;
        match data["createApp"]["error"].as_str() {
            Some(error) if !error.is_empty() => Err(ServerError::Api {
                what: format!("sync of {url}"),
                message: error.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// Serves `endpoint` on a free loopback port ([`ServedApp::serve`]) and syncs it
    /// ([`InngestServer::sync_app`]). Keep the [`ServedApp`] for as long as the app must
    /// answer: dropping it stops serving.
    ///
    /// # Errors
    ///
    /// As [`ServedApp::serve`] and [`InngestServer::sync_app`].
    pub async fn serve_and_sync(&self, endpoint: Endpoint) -> Result<ServedApp, ServerError> {
        let app = ServedApp::serve(endpoint).await?;
        self.sync_app(app.url()).await?;
        Ok(app)
    }

    /// The apps the server knows, as `(name, function count, connected)`.
    pub async fn apps(&self) -> Result<Vec<(String, u64, bool)>, ServerError> {
        let data = self
            .gql("{ apps { name functionCount connected } }", json!({}))
            .await?;
        Ok(data["apps"]
            .as_array()
            .map(|apps| {
                apps.iter()
                    .map(|app| {
                        (
                            app["name"].as_str().unwrap_or_default().to_owned(),
                            app["functionCount"].as_u64().unwrap_or_default(),
                            app["connected"].as_bool().unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Sends one event (or an array) to `POST /e/<event key>`; returns the internal ids.
    pub async fn send_event(&self, event: Value) -> Result<Vec<String>, ServerError> {
        let url = self.endpoint(&format!("e/{}", self.event_key));
        let res = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(event.to_string())
            .send()
            .await
            .map_err(|e| api("send event", e))?;
        let status = res.status();
        let body: Value = res.json_value().await?;
        if !status.is_success() {
            return Err(ServerError::Api {
                what: "send event".into(),
                message: format!("{status}: {body}"),
            });
        }
        Ok(body["ids"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// One GraphQL query against `/v0/gql`; returns its `data`.
    pub async fn gql(&self, query: &str, variables: Value) -> Result<Value, ServerError> {
        let mut req = self
            .http
            .post(self.endpoint("v0/gql"))
            .header("content-type", "application/json")
            .body(json!({ "query": query, "variables": variables }).to_string());
        if let Some(bearer) = &self.bearer {
            req = req.header("authorization", format!("Bearer {bearer}"));
        }
        let res = req.send().await.map_err(|e| api("GraphQL", e))?;
        let body = res.json_value().await?;
        if let Some(errors) = body.get("errors").filter(|e| !e.is_null()) {
            return Err(ServerError::Api {
                what: "GraphQL".into(),
                message: errors.to_string(),
            });
        }
        Ok(body["data"].clone())
    }

    /// One run by id; `None` when the server does not know it (yet).
    pub async fn run(&self, run_id: &str) -> Result<Option<Run>, ServerError> {
        let data = self
            .gql(
                "query($id: String!) { run(runID: $id) { id status output triggerIDs function { slug } } }",
                json!({ "id": run_id }),
            )
            .await?;
        Ok(parse_run(&data["run"]))
    }

    /// Every run since the server started, newest first.
    pub async fn runs(&self) -> Result<Vec<Run>, ServerError> {
        let from = self.since();
        let data = self
            .gql(
                "query($from: Time!) { runs(filter: {from: $from}, orderBy: [{field: QUEUED_AT, direction: DESC}], first: 200) { edges { node { id status output triggerIDs function { slug } } } } }",
                json!({ "from": from }),
            )
            .await?;
        Ok(data["runs"]["edges"]
            .as_array()
            .map(|edges| edges.iter().filter_map(|e| parse_run(&e["node"])).collect())
            .unwrap_or_default())
    }

    /// The runs of one function (`<app id>-<function id>`), newest first.
    pub async fn runs_of(&self, function: &str) -> Result<Vec<Run>, ServerError> {
        let mut runs = self.runs().await?;
        runs.retain(|run| run.function == function);
        Ok(runs)
    }

    /// The runs an event (by internal id) triggered.
    pub async fn runs_of_event(&self, event_id: &str) -> Result<Vec<Run>, ServerError> {
        let mut runs = self.runs().await?;
        runs.retain(|run| run.trigger_ids.iter().any(|id| id == event_id));
        Ok(runs)
    }

    /// Events with this name the server received since it started, newest first.
    pub async fn events_named(&self, name: &str) -> Result<Vec<ReceivedEvent>, ServerError> {
        let from = self.since();
        let data = self
            .gql(
                "query($names: [String!], $from: Time!) { eventsV2(first: 200, filter: {eventNames: $names, from: $from, includeInternalEvents: true}) { edges { node { id name raw } } } }",
                json!({ "names": [name], "from": from }),
            )
            .await?;
        Ok(data["eventsV2"]["edges"]
            .as_array()
            .map(|edges| {
                edges
                    .iter()
                    .filter_map(|edge| {
                        let node = &edge["node"];
                        Some(ReceivedEvent {
                            id: node["id"].as_str()?.to_owned(),
                            name: node["name"].as_str()?.to_owned(),
                            raw: node["raw"]
                                .as_str()
                                .and_then(|raw| serde_json::from_str(raw).ok())
                                .unwrap_or(Value::Null),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits (at most `limit`) until the server lists a connected app (a Connect worker's).
    ///
    /// # Errors
    ///
    /// [`ServerError::Timeout`] when no app is connected in time.
    pub async fn wait_for_connected_app(&self, limit: Duration) -> Result<(), ServerError> {
        self.wait_for("an app to be connected", limit, || async {
            let apps = self.apps().await.ok()?;
            apps.iter()
                .any(|(_, _, connected)| *connected)
                .then_some(())
        })
        .await
    }

    /// Waits (at most `limit`) until the run's trace holds a userland span (one an SDK sent
    /// to `/v1/traces/userland`, docs/protocol.md §14.4) named `name`, and returns every span
    /// of the trace, depth first, as `(name, is userland, userland span name)`.
    ///
    /// # Errors
    ///
    /// [`ServerError::Timeout`] when no such span shows in time.
    pub async fn wait_for_userland_span(
        &self,
        run_id: &str,
        name: &str,
        limit: Duration,
    ) -> Result<Vec<(String, bool, Option<String>)>, ServerError> {
        /// Five levels: the run, its calls, their steps, and spans within those.
        const QUERY: &str = "query($id: String!) { runTrace(runID: $id) { \
            name isUserland userlandSpan { spanName } childrenSpans { \
            name isUserland userlandSpan { spanName } childrenSpans { \
            name isUserland userlandSpan { spanName } childrenSpans { \
            name isUserland userlandSpan { spanName } childrenSpans { \
            name isUserland userlandSpan { spanName } } } } } } }";
        fn walk(span: &Value, out: &mut Vec<(String, bool, Option<String>)>) {
            out.push((
                span["name"].as_str().unwrap_or_default().to_owned(),
                span["isUserland"].as_bool().unwrap_or(false),
                span["userlandSpan"]["spanName"].as_str().map(str::to_owned),
            ));
            for child in span["childrenSpans"].as_array().into_iter().flatten() {
                walk(child, out);
            }
        }
        self.wait_for(&format!("the userland span {name}"), limit, || async {
            let data = self.gql(QUERY, json!({ "id": run_id })).await.ok()?;
            let mut all = Vec::new();
            walk(&data["runTrace"], &mut all);
            all.iter()
                .any(|(span, userland, userland_name)| {
                    *userland && (span == name || userland_name.as_deref() == Some(name))
                })
                .then_some(all)
        })
        .await
    }

    /// The steps of a run, in the order its trace lists them: one entry per step (the
    /// trace may list a step's span more than once; the last one is its final state), without
    /// the executor's own spans (finalization and so on).
    pub async fn steps(&self, run_id: &str) -> Result<Vec<TracedStep>, ServerError> {
        let data = self
            .gql(
                "query($id: String!) { runTrace(runID: $id) { childrenSpans { name status attempts stepOp stepID } } }",
                json!({ "id": run_id }),
            )
            .await?;
        let mut steps: Vec<(String, TracedStep)> = Vec::new();
        for span in data["runTrace"]["childrenSpans"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(op) = span["stepOp"].as_str() else {
                continue;
            };
            let id = span["stepID"].as_str().unwrap_or_default().to_owned();
            let step = TracedStep {
                name: span["name"].as_str().unwrap_or_default().to_owned(),
                op: Some(op.to_owned()),
                status: span["status"].as_str().unwrap_or_default().to_owned(),
                attempts: span["attempts"]
                    .as_u64()
                    .and_then(|a| u32::try_from(a).ok()),
            };
            match steps
                .iter_mut()
                .find(|(seen, _)| !id.is_empty() && *seen == id)
            {
                Some((_, seen)) => *seen = step,
                None => steps.push((id, step)),
            }
        }
        Ok(steps.into_iter().map(|(_, step)| step).collect())
    }

    /// Calls `check` every 100 ms until it returns `Some`, for at most `limit`.
    pub async fn wait_for<T, F, Fut>(
        &self,
        what: &str,
        limit: Duration,
        mut check: F,
    ) -> Result<T, ServerError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(value) = check().await {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(ServerError::Timeout {
                    what: what.to_owned(),
                    limit,
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Waits for the first run the event (by internal id) triggered, for at most `limit`.
    ///
    /// # Errors
    ///
    /// [`ServerError::Timeout`] when no run is listed in time.
    pub async fn first_run_of(&self, event_id: &str, limit: Duration) -> Result<Run, ServerError> {
        self.wait_for(&format!("a run of event {event_id}"), limit, || async {
            self.runs_of_event(event_id).await.ok()?.into_iter().next()
        })
        .await
    }

    /// Waits until the run has ended ([`InngestServer::wait_for_run_end`], at most `limit`)
    /// and the server has recorded its output (at most 30 s more); returns both.
    ///
    /// # Errors
    ///
    /// [`ServerError::Timeout`] when the run does not end or has no output in time.
    pub async fn wait_for_output(
        &self,
        run_id: &str,
        limit: Duration,
    ) -> Result<(Run, Value), ServerError> {
        let run = self.wait_for_run_end(run_id, limit).await?;
        // The server records a run's output shortly after its end.
        let output = self
            .wait_for("the run's output", Duration::from_secs(30), || async {
                self.run(run_id).await.ok().flatten()?.output
            })
            .await?;
        Ok((run, output))
    }

    /// Sends one event and waits for the first run it starts ([`InngestServer::first_run_of`])
    /// and for that run's end and output ([`InngestServer::wait_for_output`]), each for at
    /// most `limit`.
    ///
    /// # Errors
    ///
    /// As [`InngestServer::send_event`], and [`ServerError::Timeout`].
    pub async fn run_event(
        &self,
        event: Value,
        limit: Duration,
    ) -> Result<(Run, Value), ServerError> {
        let ids = self.send_event(event).await?;
        let id = ids.first().ok_or_else(|| ServerError::Api {
            what: "send event".into(),
            message: "no event id in the answer".into(),
        })?;
        let run = self.first_run_of(id, limit).await?;
        self.wait_for_output(&run.id, limit).await
    }

    /// Waits until the run has one of the finished statuses and returns it.
    pub async fn wait_for_run_end(
        &self,
        run_id: &str,
        limit: Duration,
    ) -> Result<Run, ServerError> {
        self.wait_for(&format!("run {run_id} to end"), limit, || async {
            let run = self.run(run_id).await.ok()??;
            // The server may list a run as finished a moment before its output.
            let ended = match run.status {
                RunStatus::Completed | RunStatus::Failed => run.output.is_some(),
                RunStatus::Cancelled => true,
                _ => false,
            };
            ended.then_some(run)
        })
        .await
    }

    /// Stops the server: SIGTERM (it shuts down and removes what it created), then, after
    /// 20 s, SIGKILL to its whole process group.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The start of this server's history, for the queries' `from` (a minute early: the
    /// server's and this machine's clocks may differ slightly).
    fn since(&self) -> String {
        self.started_at
            .checked_sub_signed(chrono::Duration::minutes(1))
            .unwrap_or(self.started_at)
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    fn endpoint(&self, path: &str) -> Url {
        let mut url = self.url.clone();
        url.set_path(path);
        url
    }
}

impl Drop for InngestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Four distinct free ports (the server binds them itself, a moment later).
fn free_ports() -> [u16; 4] {
    let mut ports = [0u16; 4];
    let mut taken = Vec::new();
    for port in &mut ports {
        *port = pick_port(&taken);
        taken.push(*port);
    }
    ports
}

/// A port that is free now, for a process started a moment later.
///
/// Chosen at random below Linux's ephemeral range (32768 and up), where the kernel hands out
/// ports for `bind(0)` and outgoing connections: a port from there can be taken by any
/// process between this check and the server's own bind (seen in CI: another test's server
/// took one). Checked on every interface, because the server binds some of its ports (the
/// Connect gateway's gRPC) on all of them.
pub fn free_port() -> u16 {
    pick_port(&[])
}

fn pick_port(taken: &[u16]) -> u16 {
    use std::hash::{BuildHasher, Hasher};
    for attempt in 0u64..1000 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(attempt);
        let port = 20_000 + u16::try_from(hasher.finish() % 12_000).unwrap_or_default();
        let free = !taken.contains(&port)
            && std::net::TcpListener::bind(("0.0.0.0", port)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free {
            return port;
        }
    }
    // Every random pick was taken: let the kernel choose.
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_default()
}

/// Keeps the last [`LOG_LINES`] lines of a pipe, reading it to its end on a thread.
fn collect(pipe: impl std::io::Read + Send + 'static, log: Arc<Mutex<VecDeque<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            if log.len() == LOG_LINES {
                log.pop_front();
            }
            log.push_back(line);
        }
    });
}

fn parse_run(node: &Value) -> Option<Run> {
    let id = node["id"].as_str()?.to_owned();
    Some(Run {
        id,
        status: serde_json::from_value(node["status"].clone()).unwrap_or(RunStatus::Unknown),
        function: node["function"]["slug"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        trigger_ids: node["triggerIDs"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        output: node["output"]
            .as_str()
            .and_then(|output| serde_json::from_str(output).ok()),
    })
}

fn api(what: &str, error: reqwest::Error) -> ServerError {
    ServerError::Api {
        what: what.to_owned(),
        message: error.to_string(),
    }
}

/// Reads a response body as JSON (the SDK's reqwest has no `json` feature).
trait JsonBody {
    async fn json_value(self) -> Result<Value, ServerError>;
}

impl JsonBody for reqwest::Response {
    async fn json_value(self) -> Result<Value, ServerError> {
        let bytes = self.bytes().await.map_err(|e| api("body", e))?;
        serde_json::from_slice(&bytes).map_err(|e| ServerError::Api {
            what: "body".into(),
            message: format!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)),
        })
    }
}
