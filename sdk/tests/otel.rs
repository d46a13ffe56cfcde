//! OpenTelemetry (feature `otel`, docs/protocol.md §14) against stand-ins on loopback: an
//! OTLP/HTTP collector, Inngest's `/v1/traces/userland` and its event API. A call arrives
//! with the executor's `traceparent`; the exported spans must join that trace, nest as the
//! run nests, reach Inngest's user traces with the run's references, and events sent inside
//! the run must carry the current span's context.
#![cfg(feature = "otel")]

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use http::{Method, Request};
use inngest_sdk::otel::Otel;
use inngest_sdk::{
    Client, Config, Endpoint, Error, Event, Function, FunctionOpts, Input, SigningKey, Step,
    Trigger,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

const KEY: &str = "signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";
const TRACEREF: &str = "%7B%22ref%22%3A1%7D";
const FUNCTION_UUID: &str = "7c2a4b4e-8f0e-4c53-9d2e-0a6f7b3e2a11";

/// One request a stand-in received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct StandIn {
    received: Arc<Mutex<Vec<Received>>>,
}

impl StandIn {
    fn of(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The spans of every export request to `path`.
    fn spans(&self, path: &str) -> Vec<Span> {
        self.of(path)
            .iter()
            .flat_map(|r| {
                let request =
                    ExportTraceServiceRequest::decode(r.body.clone()).expect("OTLP protobuf");
                request
                    .resource_spans
                    .into_iter()
                    .flat_map(|rs| rs.scope_spans)
                    .flat_map(|ss| ss.spans)
            })
            .collect()
    }
}

async fn record(
    State(s): State<StandIn>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    s.received.lock().expect("lock").push(Received {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    "{}"
}

async fn event(
    State(s): State<StandIn>,
    Path(_key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    s.received.lock().expect("lock").push(Received {
        path: "/e".to_owned(),
        headers,
        body,
    });
    r#"{"ids":["01JEVENT"],"status":200}"#
}

/// Starts the stand-ins on loopback and returns their base URL.
async fn stand_in() -> (StandIn, String) {
    let state = StandIn::default();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(record))
        .route("/v1/traces/userland", axum::routing::post(record))
        .route("/e/{key}", axum::routing::post(event))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (state, format!("http://{addr}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            any_value::Value::IntValue(i) => Some(i.to_string()),
            other => Some(format!("{other:?}")),
        })
}

fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "one `{name}` span in {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    found[0]
}

/// A function whose step opens the user's own span and sends an event inside it.
fn traced(client: Client) -> Function {
    Function::new(
        FunctionOpts::new("traced").trigger(Trigger::event("demo/event")),
        move |_input: Input<Value>, step: Step| {
            let client = client.clone();
            async move {
                step.run("greet", || async {
                    async {
                        client
                            .send(&Event::new("demo/greeted", json!({})))
                            .await
                            .map_err(|e| Error::new(e.to_string()))?;
                        Ok::<_, Error>("hi".to_owned())
                    }
                    .instrument(tracing::info_span!("user-work"))
                    .await
                })
                .await?;
                Ok::<_, Error>(())
            }
        },
    )
}

fn call_request(traceparent: Option<&str>) -> Request<Bytes> {
    let body = serde_json::to_vec(&json!({
        "ctx": {"attempt": 0, "disable_immediate_execution": false, "env": "",
                "fn_id": FUNCTION_UUID, "max_attempts": 3, "run_id": "01JRUN",
                "stack": {"current": 0, "stack": []}, "step_id": "step", "use_api": false},
        "event": {"name": "demo/event", "data": {}, "id": "e1", "ts": 1, "user": {}},
        "events": [], "steps": {}, "use_api": false, "version": 2
    }))
    .expect("json");
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/api/inngest?fnId=app-traced&stepId=step")
        .header("content-type", "application/json");
    if let Some(traceparent) = traceparent {
        req = req.header("traceparent", traceparent).header(
            "tracestate",
            format!("inngest@traceref={TRACEREF},inngest@fn={FUNCTION_UUID},inngest@app=app-uuid"),
        );
    }
    req.body(Bytes::from(body)).expect("request")
}

struct Setup {
    stand_in: StandIn,
    base: String,
    otel: Otel,
    endpoint: Endpoint,
}

async fn setup() -> Setup {
    let (stand_in, base) = stand_in().await;
    let url = url::Url::parse(&base).expect("url");
    let config = Config::dev()
        .with_base_url(url.clone())
        .without_checkpointing();
    let client = Client::new(config.clone()).with_send_attempts(1);
    let endpoint = Endpoint::builder("app", client.clone())
        .function(traced(client))
        .build()
        .expect("endpoint");
    // Inngest's API with a signing key: user traces carry its hashed bearer.
    let inngest = Client::new(config.with_signing_key(SigningKey::new(KEY).expect("key")));
    let otel = Otel::builder()
        .endpoint(&base)
        .expect("endpoint")
        .service_name("otel-test")
        .user_traces(inngest)
        .build()
        .expect("otel");
    Setup {
        stand_in,
        base,
        otel,
        endpoint,
    }
}

#[tokio::test]
async fn run_and_step_spans_join_the_executors_trace_and_reach_inngests_user_traces() {
    let Setup {
        stand_in,
        otel,
        endpoint,
        ..
    } = setup().await;
    let subscriber = tracing_subscriber::registry().with(otel.layer());
    let _guard = tracing::subscriber::set_default(subscriber);

    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01");
    let res = endpoint.handle(call_request(Some(&traceparent))).await;
    assert_eq!(res.status(), 206, "{}", String::from_utf8_lossy(res.body()));
    otel.flush().await;

    // The collector: run → step → the user's span, in the executor's trace.
    let spans = stand_in.spans("/v1/traces");
    let run = named(&spans, "run");
    let step = named(&spans, "step");
    let user = named(&spans, "user-work");
    for span in [run, step, user] {
        assert_eq!(
            hex(&span.trace_id),
            TRACE_ID,
            "{} is in the executor's trace",
            span.name
        );
    }
    assert_eq!(
        hex(&run.parent_span_id),
        PARENT_SPAN_ID,
        "run's parent is the executor's span"
    );
    assert_eq!(step.parent_span_id, run.span_id, "step is a child of run");
    assert_eq!(
        user.parent_span_id, step.span_id,
        "the user's span is a child of step"
    );
    assert_eq!(attr(run, "function").as_deref(), Some("app-traced"));
    assert_eq!(attr(run, "run_id").as_deref(), Some("01JRUN"));
    assert_eq!(attr(run, "attempt").as_deref(), Some("0"));
    assert_eq!(attr(step, "step").as_deref(), Some("greet"));
    let export = &stand_in.of("/v1/traces")[0];
    assert_eq!(export.headers["content-type"], "application/x-protobuf");
    let request = ExportTraceServiceRequest::decode(export.body.clone()).expect("protobuf");
    let service = request.resource_spans[0]
        .resource
        .as_ref()
        .expect("resource")
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value);
    assert_eq!(
        service,
        Some(any_value::Value::StringValue("otel-test".into()))
    );

    // The event sent inside the user's span carries that span's context.
    let events = stand_in.of("/e");
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].headers["traceparent"],
        format!("00-{TRACE_ID}-{}-01", hex(&user.span_id)).as_str()
    );
    assert!(
        events[0].headers["tracestate"]
            .to_str()
            .expect("ascii")
            .contains("inngest@traceref="),
        "the executor's trace state travels on"
    );

    // Inngest's user traces: the same spans, with the run's references, and the bearer.
    let userland = stand_in.of("/v1/traces/userland");
    assert!(!userland.is_empty(), "spans sent to /v1/traces/userland");
    let bearer = SigningKey::new(KEY)
        .expect("key")
        .bearer_token()
        .expect("hex key");
    assert_eq!(
        userland[0].headers["authorization"],
        format!("Bearer {bearer}").as_str()
    );
    assert_eq!(
        userland[0].headers["content-type"],
        "application/x-protobuf"
    );
    let user_spans = stand_in.spans("/v1/traces/userland");
    for name in ["run", "step", "user-work"] {
        let span = named(&user_spans, name);
        assert_eq!(
            attr(span, "inngest.traceref").as_deref(),
            Some(TRACEREF),
            "{name}"
        );
        assert_eq!(
            attr(span, "sdk.run.id").as_deref(),
            Some("01JRUN"),
            "{name}"
        );
        assert_eq!(
            attr(span, "sys.function.id").as_deref(),
            Some(FUNCTION_UUID),
            "{name}"
        );
    }
    // The step's spans name the step and its attempt; the run span is in no step.
    for name in ["step", "user-work"] {
        let span = named(&user_spans, name);
        assert_eq!(
            attr(span, "inngest.step.id").as_deref(),
            Some("greet"),
            "{name}"
        );
        assert_eq!(
            attr(span, "inngest.step.attempt").as_deref(),
            Some("0"),
            "{name}"
        );
    }
    assert_eq!(attr(named(&user_spans, "run"), "inngest.step.id"), None);
    drop(_guard);
    otel.shutdown().await;
}

#[tokio::test]
async fn without_a_traceparent_the_run_starts_its_own_trace_and_no_user_traces_are_sent() {
    let Setup {
        stand_in,
        otel,
        endpoint,
        ..
    } = setup().await;
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel.layer()));

    let res = endpoint.handle(call_request(None)).await;
    assert_eq!(res.status(), 206);
    otel.flush().await;

    let spans = stand_in.spans("/v1/traces");
    let run = named(&spans, "run");
    assert_ne!(hex(&run.trace_id), TRACE_ID);
    assert!(run.parent_span_id.is_empty(), "the run span is a root");
    assert_eq!(named(&spans, "step").parent_span_id, run.span_id);
    assert!(
        stand_in.of("/v1/traces/userland").is_empty(),
        "spans without the executor's trace reference are not user traces"
    );
}

#[tokio::test]
async fn client_send_carries_the_current_spans_traceparent() {
    let Setup {
        stand_in,
        otel,
        base,
        ..
    } = setup().await;
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel.layer()));
    let base = url::Url::parse(&base).expect("url");
    let client = Client::new(Config::dev().with_base_url(base)).with_send_attempts(1);

    // Outside any span: no trace context to send.
    client
        .send(&Event::new("demo/a", json!({})))
        .await
        .expect("sent");
    let span = tracing::info_span!("signup-handler");
    client
        .send(&Event::new("demo/b", json!({})))
        .instrument(span)
        .await
        .expect("sent");
    otel.flush().await;

    let events = stand_in.of("/e");
    assert_eq!(events.len(), 2);
    assert!(events[0].headers.get("traceparent").is_none());
    let exported = stand_in.spans("/v1/traces");
    let handler = named(&exported, "signup-handler");
    assert_eq!(
        events[1].headers["traceparent"],
        format!("00-{}-{}-01", hex(&handler.trace_id), hex(&handler.span_id)).as_str()
    );
}

#[tokio::test]
async fn shutdown_exports_the_spans_still_queued() {
    let Setup { stand_in, otel, .. } = setup().await;
    {
        let _guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(otel.layer()));
        tracing::info_span!("before-shutdown").in_scope(|| {});
    }
    // No flush: shutdown alone sends what is queued.
    otel.shutdown().await;
    let spans = stand_in.spans("/v1/traces");
    named(&spans, "before-shutdown");
}
