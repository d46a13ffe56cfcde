//! OpenTelemetry (feature `otel`, docs/protocol.md §14): the SDK's `run` and `step` spans,
//! and the app's own `tracing` spans, exported over OTLP/HTTP protobuf.
//!
//! - **Incoming context.** The executor sends a W3C `traceparent` (and `tracestate`) with
//!   every call; the `run` span's OpenTelemetry parent is that context, so exported spans
//!   join the executor's trace.
//! - **Outgoing context.** Events sent with [`Client::send`](crate::Client::send) (and so
//!   `step.send_event`) carry the current span's `traceparent`/`tracestate`;
//!   [`inject_context`] does the same for any other outgoing request (vendor APIs).
//! - **Export.** [`Otel`] gives a `tracing_subscriber` layer whose spans are batched on a
//!   tokio task and sent to an OTLP/HTTP collector (`OTEL_EXPORTER_OTLP_ENDPOINT`) and,
//!   with [`OtelBuilder::user_traces`], the spans of each run to Inngest's
//!   `/v1/traces/userland`, where they appear in the run's trace.
//!
//! ```no_run
//! use inngest_sdk::otel::Otel;
//! use tracing_subscriber::layer::SubscriberExt as _;
//! use tracing_subscriber::util::SubscriberInitExt as _;
//!
//! # async fn start(client: inngest_sdk::Client) -> Result<(), Box<dyn std::error::Error>> {
//! // OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318, OTEL_SERVICE_NAME=my-app
//! let otel = Otel::from_env()?.user_traces(client).build()?;
//! tracing_subscriber::registry().with(otel.layer()).init();
//! // … serve the app …
//! otel.shutdown().await; // exports what is still queued
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::trace::{Span as _, SpanId, TraceContextExt as _, TraceId, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, Span, SpanData, SpanProcessor};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};
use tracing_opentelemetry::OpenTelemetryLayer;

use crate::Client;

/// `tracestate` entries the executor sets (docs/protocol.md §14).
const TRACESTATE_TRACEREF: &str = "inngest@traceref";
const TRACESTATE_FUNCTION: &str = "inngest@fn";
const TRACESTATE_APP: &str = "inngest@app";

/// Spans kept in memory while the exporter is behind; more are dropped (and counted).
const QUEUE: usize = 4096;
/// Spans per export request.
const BATCH: usize = 512;
/// Longest a finished span waits before it is exported.
const INTERVAL: Duration = Duration::from_secs(2);
/// Timeout of one export request (OTLP's default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::trace_context::inject_context;

/// Why [`Otel`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtelError {
    /// The collector's URL does not parse.
    #[error("the OTLP endpoint is not a valid URL: {0}")]
    Endpoint(url::ParseError),
    /// `OTEL_EXPORTER_OTLP_HEADERS` holds something that is not `name=value,…` (the
    /// values are not repeated here: they are often credentials).
    #[error("OTEL_EXPORTER_OTLP_HEADERS is not a list of name=value pairs")]
    Headers,
    /// Neither a collector nor Inngest's user traces: there is nowhere to send spans.
    #[error("no OTLP endpoint and no Inngest client: nowhere to export spans")]
    NoDestination,
    /// [`OtelBuilder::build`] was called outside a tokio runtime.
    #[error("the exporter needs a tokio runtime: build it inside one")]
    NoRuntime,
    /// The HTTP client could not be set up.
    #[error("the HTTP client could not be built: {0}")]
    Http(#[from] reqwest::Error),
}

/// Settings of the exporter; see [`Otel`].
pub struct OtelBuilder {
    endpoint: Option<url::Url>,
    headers: HeaderMap,
    service_name: String,
    inngest: Option<Client>,
}

impl std::fmt::Debug for OtelBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The headers are credentials of the collector: only their names.
        f.debug_struct("OtelBuilder")
            .field("endpoint", &self.endpoint.as_ref().map(url::Url::as_str))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("service_name", &self.service_name)
            .field("user_traces", &self.inngest.is_some())
            .finish()
    }
}

impl OtelBuilder {
    /// The collector's base URL (`http://127.0.0.1:4318`): spans go to `{base}/v1/traces`.
    ///
    /// # Errors
    /// When `base` is not a URL.
    pub fn endpoint(mut self, base: &str) -> Result<Self, OtelError> {
        let base = base.trim_end_matches('/');
        let url = url::Url::parse(&format!("{base}/v1/traces")).map_err(OtelError::Endpoint)?;
        self.endpoint = Some(url);
        Ok(self)
    }

    /// The full URL spans are posted to (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), used as is.
    ///
    /// # Errors
    /// When `url` is not a URL.
    pub fn traces_endpoint(mut self, url: &str) -> Result<Self, OtelError> {
        self.endpoint = Some(url::Url::parse(url).map_err(OtelError::Endpoint)?);
        Ok(self)
    }

    /// A header sent with every export request to the collector (an API key, say).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The `service.name` of the exported spans (default `inngest-app`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// Also sends the spans of each run (the `run` span and everything inside it) to
    /// Inngest's `{api}/v1/traces/userland` with this client's API URL and signing key, so
    /// they appear in the run's trace (docs/protocol.md §14.4).
    pub fn user_traces(mut self, client: Client) -> Self {
        self.inngest = Some(client);
        self
    }

    /// Starts the export task. Call it inside a tokio runtime.
    ///
    /// # Errors
    /// Outside a tokio runtime, with no destination, or when the HTTP client cannot be set
    /// up.
    pub fn build(self) -> Result<Otel, OtelError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OtelError::NoRuntime)?;
        if self.endpoint.is_none() && self.inngest.is_none() {
            return Err(OtelError::NoDestination);
        }
        let http = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let resource = Resource::builder_empty()
            .with_service_name(self.service_name)
            .with_attributes([
                KeyValue::new("telemetry.sdk.language", "rust"),
                KeyValue::new("telemetry.sdk.name", "inngest-sdk"),
                KeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
            ])
            .build();
        let (tx, rx) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let user_traces = self.inngest.is_some();
        let exporter = Exporter {
            http,
            collector: self.endpoint.map(|url| (url, self.headers)),
            inngest: self.inngest,
            resource: ResourceAttributesWithSchema::from(&resource),
            dropped: Arc::clone(&dropped),
        };
        let task = runtime.spawn(exporter.run(rx));
        let processor = Batcher {
            tx: Mutex::new(Some(tx.clone())),
            user_traces,
            runs: Mutex::new(HashMap::new()),
            steps: Mutex::new(HashMap::new()),
            dropped,
        };
        let provider = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_span_processor(processor)
            .build();
        Ok(Otel {
            tracer: provider.tracer("inngest-sdk"),
            provider,
            tx,
            task: Mutex::new(Some(task)),
        })
    }
}

/// OpenTelemetry export: a `tracing_subscriber` layer and the tokio task that sends its
/// spans in batches (every 2 s, or 512 spans at a time) over OTLP/HTTP protobuf.
///
/// Built from the standard environment with [`Otel::from_env`] or by hand with
/// [`Otel::builder`]; call [`Otel::shutdown`] before the process exits so queued spans are
/// sent. Spans that arrive while 4096 are queued are dropped, and counted in a warning.
pub struct Otel {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    tx: mpsc::Sender<Message>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Otel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Otel").finish_non_exhaustive()
    }
}

impl Otel {
    /// Settings to fill in by hand; no destination yet.
    pub fn builder() -> OtelBuilder {
        OtelBuilder {
            endpoint: None,
            headers: HeaderMap::new(),
            service_name: "inngest-app".to_owned(),
            inngest: None,
        }
    }

    /// Settings from the standard variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (full URL)
    /// or `OTEL_EXPORTER_OTLP_ENDPOINT` (base URL, `/v1/traces` appended),
    /// `OTEL_EXPORTER_OTLP_HEADERS` (`name=value,…`, values URL-encoded) and
    /// `OTEL_SERVICE_NAME`. Unset or empty variables leave the defaults.
    ///
    /// # Errors
    /// When an endpoint is not a URL or the headers do not parse.
    pub fn from_env() -> Result<OtelBuilder, OtelError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut builder = Otel::builder();
        if let Some(url) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            builder = builder.traces_endpoint(url.trim())?;
        } else if let Some(base) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            builder = builder.endpoint(base.trim())?;
        }
        if let Some(headers) = var("OTEL_EXPORTER_OTLP_HEADERS") {
            for (name, value) in parse_headers(&headers)? {
                builder = builder.header(name, value);
            }
        }
        if let Some(name) = var("OTEL_SERVICE_NAME") {
            builder = builder.service_name(name);
        }
        Ok(builder)
    }

    /// The `tracing_subscriber` layer that turns `tracing` spans into exported
    /// OpenTelemetry spans. Add it to the subscriber once.
    pub fn layer<S>(&self) -> OpenTelemetryLayer<S, SdkTracer>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.tracer.clone())
    }

    /// Sends every span that has ended so far, and waits until it is sent (or failed).
    pub async fn flush(&self) {
        let (done, sent) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = sent.await;
        }
    }

    /// Sends what is queued and stops the export task. Spans ending later are not sent.
    pub async fn shutdown(self) {
        self.flush().await;
        // Closes the processor's side of the queue; the task ends when both sides are gone.
        let _ = self.provider.shutdown();
        let task = lock(&self.task).take();
        drop(self.tx);
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: `name=value` pairs separated by commas, values
/// URL-encoded.
fn parse_headers(text: &str) -> Result<Vec<(HeaderName, HeaderValue)>, OtelError> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').ok_or(OtelError::Headers)?;
            let value: String =
                url::form_urlencoded::parse(format!("v={}", value.trim()).as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
            Ok((
                HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| OtelError::Headers)?,
                HeaderValue::from_str(&value).map_err(|_| OtelError::Headers)?,
            ))
        })
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

enum Message {
    /// A finished span, with the attributes of its run and of its step when it is in one.
    Span(
        Box<SpanData>,
        Option<Arc<[KeyValue]>>,
        Option<Arc<[KeyValue]>>,
    ),
    Flush(oneshot::Sender<()>),
}

/// The span processor: finished spans go to the export task's queue; spans inside a run
/// are marked for Inngest's user traces.
#[derive(Debug)]
struct Batcher {
    tx: Mutex<Option<mpsc::Sender<Message>>>,
    /// Whether spans of runs are sent to Inngest: the runs and steps are tracked only then.
    user_traces: bool,
    /// Runs with an open `run` span, by trace id: the attributes Inngest needs to attach a
    /// span to the run's trace (docs/protocol.md §14.4), and how many `run` spans of the
    /// trace are open (calls of one run may overlap).
    runs: Mutex<HashMap<TraceId, OpenRun>>,
    /// Open spans inside a `step` span of a run (the step span included): the step's
    /// `inngest.step.id` and `inngest.step.attempt`.
    steps: Mutex<HashMap<SpanId, Arc<[KeyValue]>>>,
    dropped: Arc<AtomicU64>,
}

/// A run with an open `run` span in this process.
#[derive(Debug)]
struct OpenRun {
    attributes: Arc<[KeyValue]>,
    /// `run` spans of the run's trace still open.
    open: usize,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Span(..) => "Span",
            Message::Flush(_) => "Flush",
        })
    }
}

impl SpanProcessor for Batcher {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        if !self.user_traces {
            return;
        }
        let parent = cx.span();
        let parent = parent.span_context();
        if !parent.is_valid() {
            return;
        }
        if parent.is_remote() {
            self.start_run(span, parent);
            return;
        }
        // A span inside a run: inside a step when its parent is (or is the step span).
        if !lock(&self.runs).contains_key(&span.span_context().trace_id()) {
            return;
        }
        let inherited = lock(&self.steps).get(&parent.span_id()).cloned();
        if let Some(step) = inherited.or_else(|| step_attributes(span)) {
            lock(&self.steps).insert(span.span_context().span_id(), step);
        }
    }

    fn on_end(&self, span: SpanData) {
        let trace_id = span.span_context.trace_id();
        let run = {
            let mut runs = lock(&self.runs);
            let run = runs.get(&trace_id).map(|run| Arc::clone(&run.attributes));
            // The run's root ends last: forget the run once its last open root ends.
            if run.is_some() && span.parent_span_is_remote {
                if let Some(entry) = runs.get_mut(&trace_id) {
                    entry.open = entry.open.saturating_sub(1);
                    if entry.open == 0 {
                        runs.remove(&trace_id);
                    }
                }
            }
            run
        };
        let step = if self.user_traces {
            lock(&self.steps).remove(&span.span_context.span_id())
        } else {
            None
        };
        let tx = lock(&self.tx).clone();
        if let Some(tx) = tx {
            // Never blocks the code that ended the span: a full queue drops it.
            if tx
                .try_send(Message::Span(Box::new(span), run, step))
                .is_err()
            {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Asks for an export without waiting (waiting here could block the runtime that
        // does it); `Otel::flush` waits.
        if let Some(tx) = lock(&self.tx).as_ref() {
            let (done, _) = oneshot::channel();
            let _ = tx.try_send(Message::Flush(done));
        }
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        lock(&self.tx).take();
        Ok(())
    }
}

/// `inngest.step.id` and `inngest.step.attempt` of a `step` span (its `step` and `attempt`
/// fields); `None` for any other span.
fn step_attributes(span: &Span) -> Option<Arc<[KeyValue]>> {
    let data = span.exported_data()?;
    if data.name != "step" {
        return None;
    }
    let field = |name: &str| {
        data.attributes
            .iter()
            .find(|kv| kv.key.as_str() == name)
            .map(|kv| kv.value.clone())
    };
    let id = field("step")?;
    let mut attributes = vec![KeyValue::new("inngest.step.id", id.as_str().into_owned())];
    // Inngest reads the attempt as an integer, whatever type the field was recorded as.
    if let Some(attempt) = field("attempt").and_then(|v| v.as_str().parse::<i64>().ok()) {
        attributes.push(KeyValue::new("inngest.step.attempt", attempt));
    }
    Some(Arc::from(attributes))
}

impl Batcher {
    /// Records a run's root: a span whose parent is the executor's (remote) span and whose
    /// trace state names the run's trace reference.
    fn start_run(&self, span: &Span, parent: &opentelemetry::trace::SpanContext) {
        let state = parent.trace_state();
        let Some(traceref) = state.get(TRACESTATE_TRACEREF) else {
            return;
        };
        let run_id = span.exported_data().and_then(|data| {
            data.attributes
                .into_iter()
                .find(|kv| kv.key.as_str() == "run_id")
                .map(|kv| kv.value.as_str().into_owned())
        });
        let Some(run_id) = run_id else {
            return;
        };
        let mut attributes = vec![
            KeyValue::new("inngest.traceref", traceref.to_owned()),
            KeyValue::new("sdk.run.id", run_id),
        ];
        if let Some(function) = state.get(TRACESTATE_FUNCTION) {
            attributes.push(KeyValue::new("sys.function.id", function.to_owned()));
        }
        if let Some(app) = state.get(TRACESTATE_APP) {
            attributes.push(KeyValue::new("sys.app.id", app.to_owned()));
        }
        let trace_id = span.span_context().trace_id();
        let mut runs = lock(&self.runs);
        let entry = runs.entry(trace_id).or_insert_with(|| OpenRun {
            attributes: Arc::from(attributes),
            open: 0,
        });
        entry.open += 1;
    }
}

/// The export task's state.
struct Exporter {
    http: reqwest::Client,
    collector: Option<(url::Url, HeaderMap)>,
    inngest: Option<Client>,
    resource: ResourceAttributesWithSchema,
    dropped: Arc<AtomicU64>,
}

impl Exporter {
    async fn run(self, mut rx: mpsc::Receiver<Message>) {
        let mut spans: Vec<SpanData> = Vec::new();
        let mut user: Vec<SpanData> = Vec::new();
        let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
        loop {
            let message = if spans.is_empty() && user.is_empty() {
                rx.recv().await
            } else {
                match tokio::time::timeout(INTERVAL, rx.recv()).await {
                    Ok(message) => message,
                    Err(_elapsed) => {
                        self.export(&mut spans, &mut user).await;
                        continue;
                    }
                }
            };
            match message {
                Some(Message::Span(span, run, step)) => {
                    self.queue(*span, run, step, &mut spans, &mut user);
                    if spans.len() >= BATCH || user.len() >= BATCH {
                        self.export(&mut spans, &mut user).await;
                    }
                }
                Some(Message::Flush(done)) => {
                    waiting.push(done);
                    // Everything already queued is part of this flush.
                    while let Ok(message) = rx.try_recv() {
                        match message {
                            Message::Span(span, run, step) => {
                                self.queue(*span, run, step, &mut spans, &mut user);
                            }
                            Message::Flush(done) => waiting.push(done),
                        }
                    }
                    self.export(&mut spans, &mut user).await;
                    for done in waiting.drain(..) {
                        let _ = done.send(());
                    }
                }
                None => {
                    self.export(&mut spans, &mut user).await;
                    return;
                }
            }
        }
    }

    /// Puts a finished span in the batch of each destination it goes to: the collector, and
    /// Inngest's user traces (with the run's attributes) when it belongs to a run.
    fn queue(
        &self,
        span: SpanData,
        run: Option<Arc<[KeyValue]>>,
        step: Option<Arc<[KeyValue]>>,
        spans: &mut Vec<SpanData>,
        user: &mut Vec<SpanData>,
    ) {
        if let (Some(attributes), Some(_)) = (run, &self.inngest) {
            let mut span = span.clone();
            span.attributes.extend(attributes.iter().cloned());
            span.attributes
                .extend(step.iter().flat_map(|step| step.iter().cloned()));
            user.push(span);
        }
        if self.collector.is_some() {
            spans.push(span);
        }
    }

    async fn export(&self, spans: &mut Vec<SpanData>, user: &mut Vec<SpanData>) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "OpenTelemetry spans dropped: the export queue was full"
            );
        }
        if let Some((url, headers)) = &self.collector {
            while !spans.is_empty() {
                let batch: Vec<SpanData> = spans.drain(..spans.len().min(BATCH)).collect();
                let count = batch.len();
                let body = self.encode(batch);
                let sent = self
                    .http
                    .post(url.clone())
                    .headers(headers.clone())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(res) if res.status().is_success() => {}
                    Ok(res) => {
                        tracing::warn!(
                            status = res.status().as_u16(),
                            spans = count,
                            "the OTLP collector refused spans"
                        );
                    }
                    Err(error) => {
                        let error = error.without_url();
                        tracing::warn!(%error, spans = count, "exporting spans to the OTLP collector failed");
                    }
                }
            }
        }
        if let Some(client) = &self.inngest {
            while !user.is_empty() {
                let batch: Vec<SpanData> = user.drain(..user.len().min(BATCH)).collect();
                let count = batch.len();
                let body = self.encode(batch);
                if let Err(error) = client.send_user_traces(body).await {
                    tracing::warn!(%error, spans = count, "sending spans to Inngest's user traces failed");
                }
            }
        }
    }

    fn encode(&self, batch: Vec<SpanData>) -> Vec<u8> {
        ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        }
        .encode_to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_headers_parse_with_url_encoded_values() {
        let headers = parse_headers("api-key=abc%3D%3D, x-team = blue ").expect("parses");
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[0].0.as_str(), "api-key");
        assert_eq!(headers[0].1, "abc==");
        assert_eq!(headers[1].0.as_str(), "x-team");
        assert_eq!(headers[1].1, "blue");
        assert!(matches!(parse_headers("novalue"), Err(OtelError::Headers)));
    }

    #[test]
    fn inject_without_a_layer_writes_nothing() {
        let mut headers = HeaderMap::new();
        inject_context(&mut headers);
        assert!(headers.is_empty());
    }
}
