//! The serve endpoint over plain `http` types: `GET` introspection (docs/protocol.md §5), `PUT` sync
//! (§6), `POST` execution (§7). Framework adapters only move bytes in and out of
//! [`Endpoint::handle`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use url::Url;

use crate::client::Client;
use crate::clock::{Clock, SystemClock};
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
use crate::engine::{Checkpoint, drive};
use crate::error::Error;
use crate::function::{ErasedHandler, Function, HandlerFuture, RawInput};
use crate::middleware::{Middleware, Stack};
use crate::run::RunContext;
use crate::step::{Mode as StepMode, RunState, Step};

mod call;
#[cfg(feature = "connect")]
mod connect;
mod hooks;
mod introspect;
pub(crate) mod stream;
mod sync;

/// Default keep-alive interval of a streamed call (the TS SDK's; the Go SDK uses 5 s).
pub const DEFAULT_STREAMING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3);
/// Default cap on request bodies: the executor sends up to 4 MiB of state inline and
/// switches to `use_api` above that (docs/protocol.md §7.5, §7.10); the margin covers encoding.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

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
    /// Whether replays are checked for non-determinism (docs/protocol.md §7.16).
    check_determinism: bool,
    /// Whether call requests are streamed (docs/protocol.md §7.11).
    streaming: bool,
    /// Time between two keep-alive spaces of a streamed call.
    streaming_interval: std::time::Duration,
    /// Registry in declaration order (sync lists them in this order).
    entries: Vec<Entry>,
    /// Composite id and bare id → index in `entries`; foldhash, because the ids are the
    /// app's own and the lookup runs on every call.
    by_id: HashMap<String, usize, foldhash::fast::RandomState>,
}

struct Entry {
    opts: FunctionOpts,
    composite_id: String,
    handler: Arc<dyn ErasedHandler>,
    /// The client's, the endpoint's, then the function's middleware (docs/protocol.md §7.15).
    middleware: Stack,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("app_id", &self.inner.app_id)
            .field("functions", &self.function_ids())
            .field("mode", &self.inner.client.config().mode())
            .field("streaming", &self.inner.streaming)
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
    middleware: Vec<Arc<dyn Middleware>>,
    check_determinism: Option<bool>,
    /// `None`: the client config's ([`Config::streaming`](crate::Config::streaming)).
    streaming: Option<bool>,
    /// Time between two keep-alive spaces; short in tests, longer behind lenient proxies.
    streaming_interval: std::time::Duration,
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
    /// Cloud mode without a signing key: no request could be verified, so none could be
    /// served (docs/protocol.md §2.2).
    #[error("cloud mode needs a signing key (INNGEST_SIGNING_KEY), or dev mode (INNGEST_DEV=1)")]
    MissingSigningKey,
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

    /// Adds a middleware around the runs of this endpoint's functions (docs/protocol.md
    /// §7.15), inside the client's. The first added is the outermost.
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Fails a run whose replay diverges from its memoized steps with a non-retriable
    /// `NonDeterminismError` naming them (docs/protocol.md §7.16). Default: on in dev mode,
    /// off in cloud mode.
    pub fn determinism_check(mut self, on: bool) -> Self {
        self.check_determinism = Some(on);
        self
    }

    /// Answers call requests as a keep-alive stream (docs/protocol.md §7.11): `201` at
    /// once, a space every [`EndpointBuilder::streaming_interval`], then the real answer in
    /// a JSON envelope, for hosts that cut a request that sends nothing for a while. Only
    /// [`Endpoint::handle_streaming`] (which the axum adapter uses) streams;
    /// [`Endpoint::handle`] always answers plainly. Default: the client config's
    /// ([`Config::with_streaming`](crate::Config::with_streaming), `INNGEST_STREAMING`), off
    /// unless set.
    pub fn streaming(mut self, on: bool) -> Self {
        self.streaming = Some(on);
        self
    }

    /// Sets the time between two keep-alive spaces of a streamed call (default
    /// [`DEFAULT_STREAMING_INTERVAL`], 3 s; zero is taken as the default).
    pub fn streaming_interval(mut self, interval: std::time::Duration) -> Self {
        self.streaming_interval = if interval.is_zero() {
            DEFAULT_STREAMING_INTERVAL
        } else {
            interval
        };
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
        let config = self.client.config();
        if config.mode() == Mode::Cloud && config.signing_key().is_none() {
            return Err(BuildError::MissingSigningKey);
        }
        let mut entries = Vec::new();
        let mut by_id = HashMap::default();
        let middleware = Stack::concat(self.client.middleware(), &self.middleware);
        for function in self.functions {
            let function_middleware = if function.own_middleware().is_empty() {
                middleware.clone()
            } else {
                Stack::concat(middleware.all(), function.own_middleware())
            };
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
                    middleware: function_middleware.clone(),
                });
            }
        }
        let check_determinism = self
            .check_determinism
            .unwrap_or(self.client.config().mode() == Mode::Dev);
        let streaming = self.streaming.unwrap_or(self.client.config().streaming());
        Ok(Endpoint {
            inner: Arc::new(Inner {
                check_determinism,
                streaming,
                streaming_interval: self.streaming_interval,
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
            middleware: Vec::new(),
            check_determinism: None,
            streaming: None,
            streaming_interval: DEFAULT_STREAMING_INTERVAL,
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

    /// Whether call requests are streamed by [`Endpoint::handle_streaming`]
    /// (docs/protocol.md §7.11); adapters pick the handler from it.
    pub fn streaming(&self) -> bool {
        self.inner.streaming
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
    pub fn handle(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Response<Vec<u8>>> + Send + '_ {
        // Split here, not inside the future: the future would keep the whole request as
        // well as its parts.
        let (parts, body) = request.into_parts();
        async move {
            if body.len() > self.inner.max_body_bytes {
                return message_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
            }
            let query = Query::parse(parts.uri.query());
            match parts.method {
                Method::GET => self.introspect(&parts.headers),
                // Boxed: sync is rare and awaits HTTP calls, whose state would otherwise make
                // every call's future larger (and costlier to move).
                Method::PUT => Box::pin(self.sync(&parts, &query, &body)).await,
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
    }

    /// Registers the functions with Inngest out-of-band (docs/protocol.md §6.2), announcing
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
    /// checked only when present and a key is configured (docs/protocol.md §2.2).
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

    /// Adds `X-Inngest-Signature` over the exact response bytes (docs/protocol.md §3.2).
    fn sign(&self, mut res: Response<Vec<u8>>, key: Option<&SigningKey>) -> Response<Vec<u8>> {
        if let Some(key) = key {
            let value = key.sign(res.body(), self.now().timestamp());
            if let Ok(value) = HeaderValue::from_str(&value) {
                res.headers_mut().insert(headers::SIGNATURE, value);
            }
        }
        res
    }
}

/// The query parameters the protocol uses, percent-decoded (the step URL form-encodes the
/// composite id, so an id with spaces or `/` arrives encoded). Borrowed from the URI unless
/// a pair is encoded.
#[derive(Default)]
struct Query<'a> {
    fn_id: Option<Cow<'a, str>>,
    step_id: Option<Cow<'a, str>>,
    probe: Option<Cow<'a, str>>,
    deploy_id: Option<Cow<'a, str>>,
}

impl<'a> Query<'a> {
    fn parse(query: Option<&'a str>) -> Self {
        let mut q = Query::default();
        for pair in query.unwrap_or("").split('&') {
            let (key, value) = if pair.bytes().any(|b| b == b'%' || b == b'+') {
                match url::form_urlencoded::parse(pair.as_bytes()).next() {
                    Some(decoded) => decoded,
                    None => continue,
                }
            } else {
                let (key, value) = match pair.bytes().position(|b| b == b'=') {
                    Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                    None => (pair, ""),
                };
                (Cow::Borrowed(key), Cow::Borrowed(value))
            };
            let slot = match &*key {
                "fnId" => &mut q.fn_id,
                "stepId" => &mut q.step_id,
                "probe" => &mut q.probe,
                "deployId" => &mut q.deploy_id,
                _ => continue,
            };
            *slot = Some(value);
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_form_decoded_and_plain_ones_borrowed() {
        let q = Query::parse(Some(
            "fnId=app-my%20fn&stepId=step&probe&x=1&deployId=a+b&fnId2=no",
        ));
        assert_eq!(q.fn_id.as_deref(), Some("app-my fn"));
        assert!(matches!(q.step_id, Some(Cow::Borrowed("step"))));
        assert_eq!(q.probe.as_deref(), Some(""));
        assert_eq!(q.deploy_id.as_deref(), Some("a b"));
        let q = Query::parse(Some("fnId=a%2Fb&fnId=last"));
        assert_eq!(q.fn_id.as_deref(), Some("last"), "the last value wins");
        let q = Query::parse(None);
        assert!(q.fn_id.is_none() && q.step_id.is_none());
    }
}
