//! The serve endpoint over plain `http` types: `GET` introspection (protocol §5), `PUT` sync
//! (§6), `POST` execution (§7). Framework adapters only move bytes in and out of
//! [`Endpoint::handle`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use url::Url;

use crate::client::Client;
use crate::config::Mode;
use crate::core::config::{FunctionConfig, FunctionOpts, composite_id};
use crate::core::response::{
    CallResponse, SDK_LANGUAGE, SDK_VERSION, headers, json_response, message_response, to_json,
    unauthorized,
};
use crate::core::signature::{self, SignatureError, SigningKey, event_key_hash};
use crate::core::sync::{
    AuthenticatedIntrospection, CAPABILITIES, Extra, InBandRequest, InBandResponse, Introspection,
    RegisterRequest, SCHEMA_VERSION, SyncResult,
};
use crate::core::wire::{CallRequest, ErrorBody};
use crate::engine::drive;
use crate::error::Error;
use crate::function::{ErasedHandler, Function, RawInput, RunContext};
use crate::step::{Mode as StepMode, RunState, Step};

/// Default cap on request bodies: the executor sends up to 4 MiB of state inline and
/// switches to `use_api` above that (protocol §7.5, §7.10); the margin covers encoding.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The time source for signature freshness and `sleep_until`; tests pass a fake clock.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Serves an app's functions to Inngest. Cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

struct Inner {
    app_id: Arc<str>,
    app_version: Option<String>,
    framework: Option<&'static str>,
    client: Client,
    clock: Arc<dyn Clock>,
    max_body_bytes: usize,
    /// Registry in declaration order (sync lists them in this order).
    entries: Vec<Entry>,
    /// Composite id and bare id → index in `entries`.
    by_id: HashMap<String, usize>,
}

struct Entry {
    opts: FunctionOpts,
    composite_id: String,
    handler: Arc<dyn ErasedHandler>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("app_id", &self.inner.app_id)
            .field("functions", &self.function_ids())
            .field("mode", &self.inner.client.config().mode())
            .finish_non_exhaustive()
    }
}

/// Builds an [`Endpoint`].
pub struct EndpointBuilder {
    app_id: String,
    app_version: Option<String>,
    framework: Option<&'static str>,
    client: Client,
    clock: Arc<dyn Clock>,
    max_body_bytes: usize,
    functions: Vec<Function>,
}

impl fmt::Debug for EndpointBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointBuilder")
            .field("app_id", &self.app_id)
            .field("functions", &self.functions.len())
            .finish_non_exhaustive()
    }
}

/// Why an endpoint could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The app id is empty (the server rejects it).
    #[error("the app id must not be empty")]
    EmptyAppId,
    /// Two functions share an id.
    #[error("two functions have the id \"{0}\"")]
    DuplicateFunction(String),
    /// A function id is empty.
    #[error("a function id must not be empty")]
    EmptyFunctionId,
}

/// Why an out-of-band registration failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The app URL is not an absolute http(s) URL.
    #[error("the app URL is not an absolute http(s) URL")]
    InvalidUrl,
    /// The API refused or could not be reached.
    #[error(transparent)]
    Api(#[from] crate::client::ApiError),
}

impl EndpointBuilder {
    /// Registers a function.
    pub fn function(mut self, function: Function) -> Self {
        self.functions.push(function);
        self
    }

    /// Sets the app version reported at sync.
    pub fn app_version(mut self, version: impl Into<String>) -> Self {
        self.app_version = Some(version.into());
        self
    }

    /// Sets the framework name reported at sync and introspection (adapters set it).
    pub fn framework(mut self, framework: &'static str) -> Self {
        self.framework = Some(framework);
        self
    }

    /// Sets the clock (tests use a fake one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the request body cap (default [`DEFAULT_MAX_BODY_BYTES`]).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Builds the endpoint, checking ids.
    pub fn build(self) -> Result<Endpoint, BuildError> {
        if self.app_id.trim().is_empty() {
            return Err(BuildError::EmptyAppId);
        }
        let mut entries = Vec::new();
        let mut by_id = HashMap::new();
        for function in self.functions {
            for (opts, handler) in function.into_entries(&self.app_id) {
                if opts.id().is_empty() {
                    return Err(BuildError::EmptyFunctionId);
                }
                let composite_id = composite_id(&self.app_id, opts.id());
                if by_id.contains_key(&composite_id) {
                    return Err(BuildError::DuplicateFunction(opts.id().to_owned()));
                }
                by_id.insert(composite_id.clone(), entries.len());
                by_id.entry(opts.id().to_owned()).or_insert(entries.len());
                entries.push(Entry {
                    opts,
                    composite_id,
                    handler,
                });
            }
        }
        Ok(Endpoint {
            inner: Arc::new(Inner {
                app_id: self.app_id.into(),
                app_version: self.app_version,
                framework: self.framework,
                client: self.client,
                clock: self.clock,
                max_body_bytes: self.max_body_bytes,
                entries,
                by_id,
            }),
        })
    }
}

/// The outcome of checking `X-Inngest-Signature`.
enum Auth<'a> {
    /// No signature and none required (dev mode).
    Unsigned,
    /// Valid, with the key that matched (it signs the response).
    Valid(&'a SigningKey),
    /// Missing where required, or invalid.
    Invalid(SignatureError),
}

impl Endpoint {
    /// Starts building the endpoint of app `app_id`, talking to Inngest through `client`.
    pub fn builder(app_id: impl Into<String>, client: Client) -> EndpointBuilder {
        EndpointBuilder {
            app_id: app_id.into(),
            app_version: None,
            framework: None,
            client,
            clock: Arc::new(SystemClock),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            functions: Vec::new(),
        }
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The request body cap adapters must enforce.
    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// Composite ids of the registered functions, failure handlers included.
    pub fn function_ids(&self) -> Vec<&str> {
        self.inner
            .entries
            .iter()
            .map(|e| e.composite_id.as_str())
            .collect()
    }

    /// Handles one request to the serve path.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Vec<u8>> {
        let (parts, body) = request.into_parts();
        if body.len() > self.inner.max_body_bytes {
            return message_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        if self.inner.client.config().mode() == Mode::Cloud
            && self.inner.client.config().signing_key().is_none()
        {
            // Protocol §2.2: without a key nothing can be verified, so nothing is served.
            tracing::error!("in cloud mode but no signing key is configured (INNGEST_SIGNING_KEY)");
            return message_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the app has no signing key configured",
            );
        }
        let query = Query::parse(parts.uri.query());
        match parts.method {
            Method::GET => self.introspect(&parts.headers),
            Method::PUT => self.sync(&parts, &query, &body).await,
            Method::POST => self.call(&parts.headers, &query, body).await,
            _ => {
                let mut res =
                    message_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
                res.headers_mut().insert(
                    http::header::ALLOW,
                    HeaderValue::from_static("GET, PUT, POST"),
                );
                res
            }
        }
    }

    /// Registers the functions with Inngest out-of-band (protocol §6.2), announcing
    /// `app_url` (after the serve origin/path overrides). Apps call this at start-up in
    /// production.
    pub async fn register(&self, app_url: &str) -> Result<bool, SyncError> {
        let url = self.advertised_url(Url::parse(app_url).map_err(|_| SyncError::InvalidUrl)?)?;
        let body = to_json(&RegisterRequest::new(
            url.to_string(),
            &self.inner.app_id,
            self.inner.app_version.as_deref(),
            self.inner.framework,
            self.function_configs(&url),
        ));
        Ok(self.inner.client.register(body, None, None).await?.modified)
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Checks the request signature. In cloud mode it is required; in dev mode it is
    /// checked only when present and a key is configured (protocol §2.2).
    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Auth<'_> {
        let config = self.inner.client.config();
        let header = headers
            .get(headers::SIGNATURE)
            .map(|v| v.to_str().unwrap_or(""));
        let no_keys = config.signing_key().is_none() && config.signing_key_fallback().is_none();
        if config.mode() == Mode::Dev && (header.is_none() || no_keys) {
            return Auth::Unsigned;
        }
        let keys = config.signing_keys();
        match signature::verify(header, body, self.now().timestamp(), &keys) {
            Ok(index) => Auth::Valid(keys[index]),
            Err(error) => Auth::Invalid(error),
        }
    }

    /// Adds `X-Inngest-Signature` over the exact response bytes (protocol §3.2).
    fn sign(&self, mut res: Response<Vec<u8>>, key: Option<&SigningKey>) -> Response<Vec<u8>> {
        if let Some(key) = key {
            let value = key.sign(res.body(), self.now().timestamp());
            if let Ok(value) = HeaderValue::from_str(&value) {
                res.headers_mut().insert(headers::SIGNATURE, value);
            }
        }
        res
    }

    fn introspect(&self, headers: &HeaderMap) -> Response<Vec<u8>> {
        let (authenticated, key) = match self.authenticate(headers, b"") {
            Auth::Valid(key) => (Some(true), Some(key)),
            Auth::Invalid(_) if self.inner.client.config().mode() == Mode::Cloud => {
                return unauthorized();
            }
            Auth::Invalid(_) => (Some(false), None),
            Auth::Unsigned => (None, None),
        };
        let body = to_json(&self.introspection(authenticated));
        self.sign(json_response(StatusCode::OK, body), key)
    }

    fn introspection(&self, authentication_succeeded: Option<bool>) -> Introspection {
        let config = self.inner.client.config();
        let authenticated =
            (authentication_succeeded == Some(true)).then(|| AuthenticatedIntrospection {
                api_origin: config.api_base_url().to_string(),
                app_id: self.inner.app_id.to_string(),
                env: config.env().map(str::to_owned),
                event_api_origin: config.event_api_base_url().to_string(),
                event_key_hash: config.event_key().map(|k| event_key_hash(k.expose())),
                framework: self.inner.framework,
                sdk_language: SDK_LANGUAGE,
                sdk_version: SDK_VERSION,
                serve_origin: config.serve_origin().map(str::to_owned),
                serve_path: config.serve_path().map(str::to_owned),
                signing_key_hash: config.signing_key().and_then(|k| k.hashed().ok()),
                signing_key_fallback_hash: config
                    .signing_key_fallback()
                    .and_then(|k| k.hashed().ok()),
            });
        Introspection {
            schema_version: SCHEMA_VERSION,
            authentication_succeeded,
            function_count: self.inner.entries.len(),
            has_event_key: config.event_key().is_some(),
            has_signing_key: config.signing_key().is_some(),
            has_signing_key_fallback: config.signing_key_fallback().is_some(),
            mode: config.mode().as_str(),
            extra: Extra {},
            capabilities: CAPABILITIES,
            authenticated,
        }
    }

    async fn sync(
        &self,
        parts: &http::request::Parts,
        query: &Query,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        let config = self.inner.client.config();
        let in_band = parts
            .headers
            .get(headers::SYNC_KIND)
            .is_some_and(|v| v.as_bytes() == b"in_band")
            && config.allow_in_band_sync();
        let auth = self.authenticate(&parts.headers, body);
        let key = match auth {
            Auth::Invalid(error) => {
                tracing::warn!(%error, "sync request with an invalid signature refused");
                return unauthorized();
            }
            Auth::Valid(key) => Some(key),
            Auth::Unsigned => None,
        };
        if in_band {
            return self.sync_in_band(body, key);
        }
        let mut res = self.sync_out_of_band(parts, query).await;
        res.headers_mut()
            .insert(headers::SYNC_KIND, HeaderValue::from_static("out_of_band"));
        res
    }

    fn sync_in_band(&self, body: &[u8], key: Option<&SigningKey>) -> Response<Vec<u8>> {
        let request: InBandRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(_) => {
                return message_response(
                    StatusCode::BAD_REQUEST,
                    "an in-band sync body must be {\"url\": <string>}",
                );
            }
        };
        let url = match Url::parse(&request.url)
            .ok()
            .and_then(|url| self.advertised_url(url).ok())
        {
            Some(url) => url,
            None => {
                return message_response(
                    StatusCode::BAD_REQUEST,
                    "the sync url is not an absolute http(s) URL",
                );
            }
        };
        let config = self.inner.client.config();
        let response = InBandResponse {
            app_id: &self.inner.app_id,
            app_version: self.inner.app_version.as_deref(),
            env: config.env(),
            framework: self.inner.framework,
            functions: self.function_configs(&url),
            inspection: self.introspection(Some(true)),
            platform: None,
            sdk_author: "inngest",
            sdk_language: SDK_LANGUAGE,
            sdk_version: SDK_VERSION,
            url: url.to_string(),
            capabilities: CAPABILITIES,
        };
        let mut res = json_response(StatusCode::OK, to_json(&response));
        res.headers_mut()
            .insert(headers::SYNC_KIND, HeaderValue::from_static("in_band"));
        self.sign(res, key)
    }

    async fn sync_out_of_band(
        &self,
        parts: &http::request::Parts,
        query: &Query,
    ) -> Response<Vec<u8>> {
        let config = self.inner.client.config();
        if config.mode() == Mode::Cloud && parts.headers.get(headers::SIGNATURE).is_none() {
            // An unsigned PUT could make the app register itself at a URL derived from an
            // attacker's Host header; in cloud mode only Inngest may trigger a sync.
            return unauthorized();
        }
        let url = match request_url(parts).and_then(|url| self.advertised_url(url).ok()) {
            Some(url) => url,
            None => {
                return message_response(StatusCode::BAD_REQUEST, "cannot determine the app URL");
            }
        };
        let body = to_json(&RegisterRequest::new(
            url.to_string(),
            &self.inner.app_id,
            self.inner.app_version.as_deref(),
            self.inner.framework,
            self.function_configs(&url),
        ));
        let server_kind = parts
            .headers
            .get(headers::SERVER_KIND)
            .and_then(|v| v.to_str().ok());
        match self
            .inner
            .client
            .register(body, query.deploy_id.as_deref(), server_kind)
            .await
        {
            Ok(registered) => json_response(
                StatusCode::OK,
                to_json(&SyncResult {
                    message: "Successfully synced.",
                    modified: registered.modified,
                }),
            ),
            Err(error) => {
                tracing::error!(%error, "out-of-band sync failed");
                json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    to_json(&SyncResult {
                        message: &error.to_string(),
                        modified: false,
                    }),
                )
            }
        }
    }

    /// The URL sent at sync: `url` without `deployId`, with the serve origin and path
    /// overrides applied; the query string survives (protocol §6.2, §12 item 10).
    fn advertised_url(&self, mut url: Url) -> Result<Url, SyncError> {
        let config = self.inner.client.config();
        if let Some(origin) = config.serve_origin() {
            let origin = Url::parse(origin).map_err(|_| SyncError::InvalidUrl)?;
            url.set_scheme(origin.scheme())
                .map_err(|()| SyncError::InvalidUrl)?;
            url.set_host(origin.host_str())
                .map_err(|_| SyncError::InvalidUrl)?;
            url.set_port(origin.port())
                .map_err(|()| SyncError::InvalidUrl)?;
        }
        if let Some(path) = config.serve_path() {
            url.set_path(path);
        }
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "deployId" && k != "fnId" && k != "stepId")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(SyncError::InvalidUrl);
        }
        Ok(url)
    }

    fn function_configs(&self, url: &Url) -> Vec<FunctionConfig<'_>> {
        self.inner
            .entries
            .iter()
            .map(|entry| entry.opts.to_config(&self.inner.app_id, url))
            .collect()
    }

    async fn call(&self, headers: &HeaderMap, query: &Query, body: Bytes) -> Response<Vec<u8>> {
        let auth = self.authenticate(headers, &body);
        let key = match auth {
            Auth::Invalid(error) => {
                tracing::warn!(%error, "call request with an invalid signature refused");
                return unauthorized();
            }
            Auth::Valid(key) => Some(key),
            Auth::Unsigned => None,
        };
        if let Some(probe) = query.probe.as_deref() {
            let res = if probe == "trust" {
                json_response(StatusCode::OK, b"{}".to_vec())
            } else {
                message_response(StatusCode::BAD_REQUEST, "unknown probe")
            };
            return self.sign(res, key);
        }
        let res = self.execute(query, &body).await;
        self.sign(res, key)
    }

    async fn execute(&self, query: &Query, body: &[u8]) -> Response<Vec<u8>> {
        let Some(fn_id) = query.fn_id.as_deref() else {
            return call_error(
                StatusCode::BAD_REQUEST,
                "the fnId query parameter is missing",
                true,
            );
        };
        let Some(entry) = self.inner.by_id.get(fn_id).map(|&i| &self.inner.entries[i]) else {
            // Protocol §7.1: an unknown function is a 500, so a deploy in progress can recover.
            return call_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("function \"{fn_id}\" is not served by this app"),
                false,
            );
        };
        let mut request: CallRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(error) => {
                return call_error(
                    StatusCode::BAD_REQUEST,
                    &format!("malformed call request: {error}"),
                    true,
                );
            }
        };
        if request.use_api || request.ctx.use_api {
            if let Err(error) = self.load_run_state(&mut request).await {
                tracing::error!(%error, run_id = %request.ctx.run_id, "fetching run state failed");
                return call_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the run's state could not be fetched from the Inngest API",
                    false,
                );
            }
        }
        let events = std::mem::take(&mut request.events);
        let event = match request.event.take() {
            Some(event) if event.get() != "null" => event,
            // Only with `use_api`, or an executor that sends no `event`: use the first.
            _ => match events.first() {
                Some(event) => event.clone(),
                None => {
                    return call_error(
                        StatusCode::BAD_REQUEST,
                        "the call request has no event",
                        true,
                    );
                }
            },
        };
        let max_attempts = request
            .ctx
            .max_attempts
            .unwrap_or_else(|| entry.opts.max_attempts());
        let mode = match query.step_id.as_deref() {
            None | Some("step") => StepMode::Discovery {
                immediate: !request.ctx.disable_immediate_execution,
            },
            Some(target) => StepMode::Target(target.to_owned()),
        };
        let run = RunContext {
            run_id: request.ctx.run_id.clone(),
            attempt: request.ctx.attempt,
            max_attempts,
            function_id: entry.composite_id.clone(),
        };
        let input = RawInput {
            event: &event,
            events,
            run,
        };
        let state = RunState::new(
            std::mem::take(&mut request.steps),
            mode,
            request.ctx.attempt,
            max_attempts,
        );
        let step = Step::new(
            Arc::clone(&self.inner.app_id),
            self.inner.client.clone(),
            self.now(),
            state,
        );
        let response = match entry.handler.start(input, step.clone()) {
            Ok(future) => drive(future, step).await,
            Err(error) => error_response(&error),
        };
        log_response(&entry.composite_id, &request.ctx.run_id, &response);
        response.into_http()
    }

    async fn load_run_state(
        &self,
        request: &mut CallRequest,
    ) -> Result<(), crate::client::ApiError> {
        let client = &self.inner.client;
        let run_id = request.ctx.run_id.clone();
        // Sequential: this path is rare (runs over 4 MiB), and it keeps the SDK off tokio's
        // macros feature.
        let events = client.fetch_run_events(&run_id).await?;
        let steps = client.fetch_run_steps(&run_id).await?;
        request.event = events.first().cloned();
        request.events = events;
        request.steps = steps.into();
        Ok(())
    }
}

fn error_response(error: &Error) -> CallResponse {
    CallResponse::Error {
        body: error.to_body(),
        retriable: error.is_retriable(),
        retry_after: None,
    }
}

fn call_error(status: StatusCode, message: &str, no_retry: bool) -> Response<Vec<u8>> {
    let body = ErrorBody {
        name: "Error".into(),
        message: message.to_owned(),
        stack: None,
    };
    let mut res = json_response(status, to_json(&body));
    let value = if no_retry { "true" } else { "false" };
    res.headers_mut()
        .insert(headers::NO_RETRY, HeaderValue::from_static(value));
    res
}

fn log_response(function_id: &str, run_id: &str, response: &CallResponse) {
    match response {
        CallResponse::Complete(_) => {
            tracing::debug!(function = %function_id, %run_id, "function completed");
        }
        CallResponse::Ops { ops, .. } => {
            for op in ops {
                tracing::debug!(function = %function_id, %run_id, step = %op.name, op = ?op.op, "step reported");
            }
        }
        CallResponse::Error {
            body, retriable, ..
        } => {
            tracing::warn!(function = %function_id, %run_id, error = %body.message, retriable, "function failed");
        }
        CallResponse::StepNotFound { requested, .. } => {
            tracing::warn!(function = %function_id, %run_id, step = %requested, "targeted step not found");
        }
    }
}

/// The request URL as the client addressed it: scheme from `X-Forwarded-Proto`, host from
/// `X-Forwarded-Host` or `Host`, path and query from the request line.
fn request_url(parts: &http::request::Parts) -> Option<Url> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
    };
    let scheme = header("x-forwarded-proto")
        .or(parts.uri.scheme_str())
        .unwrap_or("http");
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))?;
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    Url::parse(&format!("{scheme}://{host}{path_and_query}")).ok()
}

/// The query parameters the protocol uses, percent-decoded (the step URL form-encodes the
/// composite id, so an id with spaces or `/` arrives encoded).
#[derive(Default)]
struct Query {
    fn_id: Option<String>,
    step_id: Option<String>,
    probe: Option<String>,
    deploy_id: Option<String>,
}

impl Query {
    fn parse(query: Option<&str>) -> Self {
        let mut q = Query::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let slot = match &*key {
                "fnId" => &mut q.fn_id,
                "stepId" => &mut q.step_id,
                "probe" => &mut q.probe,
                "deployId" => &mut q.deploy_id,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        q
    }
}
