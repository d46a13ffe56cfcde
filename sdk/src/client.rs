//! The client: sends events (docs/protocol.md §8.2) and calls the Inngest API with the signing key's
//! bearer token (§3.3): function registration (§6.2) and run state of large runs (§7.10).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::config::{Config, Mode};
use crate::core::response::{SDK_HEADER_VALUE, headers};
use crate::core::wire::{Memo, RawJson};
use crate::event::Event;
use crate::middleware::{Middleware, Stack};

/// Event key the dev server accepts when none is configured (it checks no keys).
const DEV_EVENT_KEY: &str = "NO_EVENT_KEY_SET";

/// Sends events and calls the Inngest API. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: Config,
    /// Attempts per send; retrying is safe because of the event id seed (docs/protocol.md §4.3).
    send_attempts: u32,
    /// Middleware of every endpoint built with this client and of its sends
    /// (docs/protocol.md §7.15).
    middleware: Stack,
}

/// Why events were not sent. Messages never contain the event key.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Cloud mode without `INNGEST_EVENT_KEY`.
    #[error("no event key is configured (set INNGEST_EVENT_KEY)")]
    MissingEventKey,
    /// An event could not be serialized.
    #[error("an event could not be serialized as JSON: {0}")]
    Serialize(#[source] serde_json::Error),
    /// The request failed (connection, timeout).
    #[error("the Inngest event API could not be reached: {0}")]
    Transport(#[source] reqwest::Error),
    /// The event API refused the events.
    #[error("the Inngest event API answered {status}: {message}")]
    Rejected {
        /// HTTP status.
        status: StatusCode,
        /// The server's error text.
        message: String,
    },
}

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No signing key to authenticate with (cloud mode).
    #[error("no signing key is configured to authenticate with the Inngest API")]
    MissingSigningKey,
    /// The request failed (connection, timeout).
    #[error("the Inngest API could not be reached: {0}")]
    Transport(#[source] reqwest::Error),
    /// The API answered with an error.
    #[error("the Inngest API answered {status}: {message}")]
    Status {
        /// HTTP status.
        status: StatusCode,
        /// The server's error text.
        message: String,
    },
    /// The API answered with a body that is not what the protocol says.
    #[error("the Inngest API answered with an unexpected body: {0}")]
    Body(#[source] serde_json::Error),
}

/// What `POST /v1/signals` answered: the run the signal resumed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalSent {
    /// The id of the run that was waiting for the signal.
    #[serde(default)]
    pub run_id: String,
}

/// What `/fn/register` answered.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RegisterResponse {
    #[serde(default)]
    pub(crate) modified: bool,
}

impl Client {
    /// A client with its own HTTP connection pool.
    pub fn new(config: Config) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            // Following redirects could send the bearer or event key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Client::with_http_client(config, http)
    }

    /// A client sharing an existing `reqwest::Client`.
    pub fn with_http_client(config: Config, http: reqwest::Client) -> Self {
        Client {
            inner: Arc::new(Inner {
                http,
                config,
                send_attempts: 3,
                middleware: Stack::default(),
            }),
        }
    }

    /// Sets how many times a send is attempted when the event API is unreachable or answers
    /// 5xx (default 3; at least 1).
    pub fn with_send_attempts(self, attempts: u32) -> Self {
        let inner = Inner {
            http: self.inner.http.clone(),
            config: self.inner.config.clone(),
            send_attempts: attempts.max(1),
            middleware: self.inner.middleware.clone(),
        };
        Client {
            inner: Arc::new(inner),
        }
    }

    /// Adds a middleware (docs/protocol.md §7.15): it wraps the runs of every endpoint built
    /// with this client (outside the endpoint's and functions' own) and sees every event
    /// the client sends. The first added is the outermost.
    pub fn with_middleware(self, middleware: impl Middleware) -> Self {
        let added: Arc<dyn Middleware> = Arc::new(middleware);
        let stack = Stack::concat(self.inner.middleware.all(), &[added]);
        let inner = Inner {
            http: self.inner.http.clone(),
            config: self.inner.config.clone(),
            send_attempts: self.inner.send_attempts,
            middleware: stack,
        };
        Client {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn middleware(&self) -> &[Arc<dyn Middleware>] {
        self.inner.middleware.all()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Sends one event and returns its internal id.
    pub async fn send<T: Serialize>(&self, event: &Event<T>) -> Result<String, SendError> {
        let mut ids = self.send_many(std::slice::from_ref(event)).await?;
        ids.pop().ok_or_else(|| SendError::Rejected {
            status: StatusCode::OK,
            message: "the event API returned no id".into(),
        })
    }

    /// Sends a batch of events and returns their internal ids, in order (docs/protocol.md §8.2).
    ///
    /// `data` that serializes to `null` is sent as `{}`, and `ts` defaults to now.
    pub async fn send_many<T: Serialize>(
        &self,
        events: &[Event<T>],
    ) -> Result<Vec<String>, SendError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut body = encode_events(events, chrono::Utc::now().timestamp_millis())?;
        if !self.inner.middleware.is_empty() {
            if let Some(changed) = self.inner.middleware.on_send_event(&body) {
                body = changed;
            }
        }
        let key = match (self.inner.config.event_key(), self.inner.config.mode()) {
            (Some(key), _) => key.expose().to_owned(),
            (None, Mode::Dev) => DEV_EVENT_KEY.to_owned(),
            (None, Mode::Cloud) => return Err(SendError::MissingEventKey),
        };
        let mut url = self.inner.config.event_api_base_url().clone();
        url.path_segments_mut()
            .map_err(|()| SendError::MissingEventKey)?
            .pop_if_empty()
            .extend(["e", key.as_str()]);
        let seed = event_id_seed();
        // With `otel`, the events carry the current span's trace context (docs/protocol.md §14.3).
        #[cfg(feature = "otel")]
        let trace = {
            let mut trace = http::HeaderMap::new();
            crate::trace_context::inject_context(&mut trace);
            trace
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let req = self.request(reqwest::Method::POST, url.clone());
            #[cfg(feature = "otel")]
            let req = req.headers(trace.clone());
            let result = req
                .header(headers::EVENT_ID_SEED, &seed)
                .body(body.clone())
                .send()
                .await;
            let retry = match result {
                Ok(res) if res.status().is_success() => return parse_ids(res).await,
                Ok(res) if res.status().is_server_error() => Err(rejected(res).await),
                Ok(res) => return Err(rejected(res).await),
                // The URL holds the event key: strip it from the error.
                Err(e) => Err(SendError::Transport(e.without_url())),
            };
            if attempt >= self.inner.send_attempts {
                return retry;
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
    }

    /// Sends a signal to the run waiting for it (`step.wait_for_signal`, docs/protocol.md
    /// §8.7): `POST {api}/v1/signals`. No run waiting for it is
    /// [`ApiError::Status`] with `404`.
    pub async fn send_signal<T: Serialize + ?Sized>(
        &self,
        signal: &str,
        data: &T,
    ) -> Result<SignalSent, ApiError> {
        #[derive(Serialize)]
        struct Body<'a, T: ?Sized> {
            signal: &'a str,
            data: &'a T,
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            data: Option<SignalSent>,
        }
        let body = serde_json::to_vec(&Body { signal, data }).map_err(ApiError::Body)?;
        let url = self.api_url(&["v1", "signals"]);
        let answer: Answer = self.api_post_json(&url, body).await?;
        Ok(answer.data.unwrap_or_default())
    }

    /// `POST {api}/fn/register` (docs/protocol.md §6.2).
    pub(crate) async fn register(
        &self,
        body: Vec<u8>,
        deploy_id: Option<&str>,
        server_kind: Option<&str>,
    ) -> Result<RegisterResponse, ApiError> {
        let mut url = self.api_url(&["fn", "register"]);
        if let Some(deploy_id) = deploy_id {
            url.query_pairs_mut().append_pair("deployId", deploy_id);
        }
        let res = self
            .api_call(|bearer| {
                let mut req = self
                    .request(reqwest::Method::POST, url.clone())
                    .header(headers::SYNC_KIND, "out_of_band")
                    .body(body.clone());
                if let Some(kind) = server_kind {
                    req = req.header(headers::EXPECTED_SERVER_KIND, kind);
                }
                with_bearer(req, bearer)
            })
            .await?;
        let bytes = res.bytes().await.map_err(ApiError::Transport)?;
        if bytes.is_empty() {
            return Ok(RegisterResponse::default());
        }
        serde_json::from_slice(&bytes).map_err(ApiError::Body)
    }

    /// `GET {api}/v0/runs/{run_id}/batch`: the run's events, as a JSON array (docs/protocol.md
    /// §7.10).
    pub(crate) async fn fetch_run_events(&self, run_id: &str) -> Result<RawJson, ApiError> {
        RawJson::parse(self.fetch_run_part(run_id, "batch").await?)
            .and_then(|events| events.require_array("the run's events"))
            .map_err(ApiError::Body)
    }

    /// `GET {api}/v0/runs/{run_id}/actions`: the run's memoized steps (docs/protocol.md §7.10).
    pub(crate) async fn fetch_run_steps(&self, run_id: &str) -> Result<Memo, ApiError> {
        Memo::parse(self.fetch_run_part(run_id, "actions").await?).map_err(ApiError::Body)
    }

    /// `POST {api}/v1/checkpoint/{run_id}/async` (docs/protocol.md §7.14): reports finished steps
    /// of a run while the call goes on. Retried (twice, after 50 and 100 ms) when the API
    /// is unreachable or answers 5xx; a 4xx is final.
    pub(crate) async fn checkpoint_async(
        &self,
        run_id: &str,
        body: Vec<u8>,
    ) -> Result<(), ApiError> {
        const ATTEMPTS: u32 = 3;
        let url = self.api_url(&["v1", "checkpoint", run_id, "async"]);
        let body = bytes::Bytes::from(body);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.api_post(&url, "application/json", body.clone()).await;
            let retriable = match &result {
                Ok(_) => return Ok(()),
                Err(ApiError::Transport(_)) => true,
                Err(ApiError::Status { status, .. }) => status.is_server_error(),
                Err(_) => false,
            };
            if !retriable || attempt >= ATTEMPTS {
                return result.map(drop);
            }
            tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
        }
    }

    /// The body of a run-state response, as text.
    async fn fetch_run_part(&self, run_id: &str, part: &str) -> Result<Arc<str>, ApiError> {
        let url = self.api_url(&["v0", "runs", run_id, part]);
        let res = self
            .api_call(|bearer| with_bearer(self.request(reqwest::Method::GET, url.clone()), bearer))
            .await?;
        let bytes = res.bytes().await.map_err(ApiError::Transport)?;
        let text =
            std::str::from_utf8(&bytes).map_err(|e| ApiError::Body(serde::de::Error::custom(e)))?;
        Ok(Arc::from(text))
    }

    /// `POST`s a protobuf body to the Connect API (`/v0/connect/<what>`, docs/protocol.md
    /// §13.1) with the signing key's bearer, the fallback key's on 401/403, and returns the
    /// protobuf answer.
    #[cfg(feature = "connect")]
    pub(crate) async fn connect_api(
        &self,
        what: &str,
        body: Vec<u8>,
    ) -> Result<bytes::Bytes, ApiError> {
        let url = self.api_url(&["v0", "connect", what]);
        let res = self
            .api_post(&url, "application/protobuf", body.into())
            .await?;
        res.bytes()
            .await
            .map_err(|e| ApiError::Transport(e.without_url()))
    }

    /// `POST`s spans of runs, an OTLP protobuf export request, to `{api}/v1/traces/userland`
    /// (docs/protocol.md §14.4).
    #[cfg(feature = "otel")]
    pub(crate) async fn send_user_traces(&self, body: Vec<u8>) -> Result<(), ApiError> {
        let url = self.api_url(&["v1", "traces", "userland"]);
        self.api_post(&url, "application/x-protobuf", body.into())
            .await
            .map(drop)
    }

    /// `POST`s `body` to the API with the SDK's headers and the bearer (the fallback key's on
    /// 401/403, [`Client::api_call`]).
    pub(crate) async fn api_post(
        &self,
        url: &url::Url,
        content_type: &'static str,
        body: bytes::Bytes,
    ) -> Result<reqwest::Response, ApiError> {
        self.api_call(|bearer| {
            with_bearer(
                self.request_as(reqwest::Method::POST, url.clone(), content_type)
                    .body(body.clone()),
                bearer,
            )
        })
        .await
    }

    /// [`Client::api_post`] of a JSON body, reading a JSON answer.
    pub(crate) async fn api_post_json<A: serde::de::DeserializeOwned>(
        &self,
        url: &url::Url,
        body: Vec<u8>,
    ) -> Result<A, ApiError> {
        let res = self.api_post(url, "application/json", body.into()).await?;
        let bytes = res.bytes().await.map_err(ApiError::Transport)?;
        serde_json::from_slice(&bytes).map_err(ApiError::Body)
    }

    /// Calls the API with the primary key's bearer, and once more with the fallback key's
    /// on 401/403 (docs/protocol.md §3.3). In dev mode without keys no bearer is sent.
    pub(crate) async fn api_call(
        &self,
        build: impl Fn(Option<&str>) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let config = &self.inner.config;
        let bearers: Vec<String> = config
            .signing_keys()
            .into_iter()
            .filter_map(|key| key.bearer_token().ok())
            .collect();
        if bearers.is_empty() && config.mode() == Mode::Cloud {
            return Err(ApiError::MissingSigningKey);
        }
        let attempts: Vec<Option<&str>> = if bearers.is_empty() {
            vec![None]
        } else {
            bearers.iter().map(|b| Some(b.as_str())).collect()
        };
        let mut last = None;
        for bearer in attempts {
            let res = build(bearer)
                .send()
                .await
                .map_err(|e| ApiError::Transport(e.without_url()))?;
            let status = res.status();
            if status.is_success() {
                return Ok(res);
            }
            let error = ApiError::Status {
                status,
                message: error_text(res).await,
            };
            if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
                return Err(error);
            }
            last = Some(error);
        }
        Err(last.unwrap_or(ApiError::MissingSigningKey))
    }

    pub(crate) fn api_url(&self, segments: &[&str]) -> url::Url {
        let mut url = self.inner.config.api_base_url().clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A request with the headers every call to Inngest carries (docs/protocol.md §4.3), of
    /// a JSON body.
    pub(crate) fn request(
        &self,
        method: reqwest::Method,
        url: url::Url,
    ) -> reqwest::RequestBuilder {
        self.request_as(method, url, "application/json")
    }

    /// [`Client::request`] of a body of another content type.
    fn request_as(
        &self,
        method: reqwest::Method,
        url: url::Url,
        content_type: &'static str,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .inner
            .http
            .request(method, url)
            .header(header::CONTENT_TYPE, content_type)
            .header(headers::SDK, SDK_HEADER_VALUE)
            .header(header::USER_AGENT, SDK_HEADER_VALUE);
        if let Some(env) = self
            .inner
            .config
            .env()
            .and_then(|e| HeaderValue::from_str(e).ok())
        {
            req = req.header(headers::ENV, env);
        }
        req
    }
}

pub(crate) fn with_bearer(
    req: reqwest::RequestBuilder,
    bearer: Option<&str>,
) -> reqwest::RequestBuilder {
    match bearer {
        Some(token) => req.header(header::AUTHORIZATION, format!("Bearer {token}")),
        None => req,
    }
}

/// Encodes events as the JSON array the event API takes, with `ts` and `data` defaulted.
fn encode_events<T: Serialize>(events: &[Event<T>], now_ms: i64) -> Result<Vec<u8>, SendError> {
    #[derive(Serialize)]
    struct Wire<'a> {
        name: &'a str,
        data: Box<RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        ts: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        v: Option<&'a str>,
    }
    let wire = events
        .iter()
        .map(|event| {
            let mut data =
                serde_json::value::to_raw_value(&event.data).map_err(SendError::Serialize)?;
            if data.get() == "null" {
                data = RawValue::from_string("{}".to_owned()).map_err(SendError::Serialize)?;
            }
            Ok(Wire {
                name: &event.name,
                data,
                id: event.id.as_deref(),
                ts: event.ts.unwrap_or(now_ms),
                v: event.v.as_deref(),
            })
        })
        .collect::<Result<Vec<_>, SendError>>()?;
    serde_json::to_vec(&wire).map_err(SendError::Serialize)
}

/// `x-inngest-event-id-seed: <millis>,<base64 of 10 random bytes>` lets the server derive the
/// same event ids for a retried send (docs/protocol.md §4.3).
fn event_id_seed() -> String {
    use sha2::Digest;
    // Ten unpredictable bytes without another dependency: hash the time, the process id
    // and a per-process counter. Uniqueness, not secrecy, is what the seed needs.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = chrono::Utc::now();
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let digest = sha2::Sha256::new()
        .chain_update(now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes())
        .chain_update(std::process::id().to_le_bytes())
        .chain_update(count.to_le_bytes())
        .finalize();
    format!(
        "{},{}",
        now.timestamp_millis(),
        BASE64.encode(&digest[..10])
    )
}

async fn parse_ids(res: reqwest::Response) -> Result<Vec<String>, SendError> {
    #[derive(Deserialize)]
    struct Ids {
        #[serde(default)]
        ids: Vec<String>,
    }
    let status = res.status();
    let bytes = res
        .bytes()
        .await
        .map_err(|e| SendError::Transport(e.without_url()))?;
    serde_json::from_slice::<Ids>(&bytes)
        .map(|ids| ids.ids)
        .map_err(|_| SendError::Rejected {
            status,
            message: "the event API answered with an unexpected body".into(),
        })
}

async fn rejected(res: reqwest::Response) -> SendError {
    SendError::Rejected {
        status: res.status(),
        message: error_text(res).await,
    }
}

/// The `error` (or `message`) of an Inngest error body, or a short prefix of the body.
async fn error_text(res: reqwest::Response) -> String {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    let bytes = res.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<Body>(&bytes) {
        Ok(Body { error: Some(e), .. }) if !e.is_empty() => e,
        Ok(Body {
            message: Some(m), ..
        }) if !m.is_empty() => m,
        _ => String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_encoded_with_defaults_for_data_and_ts() {
        let events = [
            Event::new("a/b", serde_json::Value::Null),
            Event::new("c/d", serde_json::json!({"x": 1}))
                .id("evt-1")
                .ts(5),
        ];
        let body = encode_events(&events, 1_700_000_000_000).expect("encodes");
        assert_eq!(
            String::from_utf8(body).expect("utf8"),
            r#"[{"name":"a/b","data":{},"ts":1700000000000},{"name":"c/d","data":{"x":1},"id":"evt-1","ts":5}]"#
        );
    }

    #[test]
    fn event_id_seed_is_millis_and_ten_base64_bytes() {
        let seed = event_id_seed();
        let (millis, random) = seed.split_once(',').expect("comma");
        assert!(millis.parse::<i64>().is_ok());
        assert_eq!(random.len(), 16);
        assert_ne!(seed, event_id_seed());
    }
}
