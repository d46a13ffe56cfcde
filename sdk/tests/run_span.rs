//! The `run` span (docs/protocol.md §14.1) without OpenTelemetry: every call runs inside a
//! `tracing` span named `run` with the function, the run id and the attempt, and each step's
//! `step` span is nested in it. A capture layer records the spans as a subscriber sees them.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request};
use inngest_sdk::{Client, Config, Endpoint, Error, Function, FunctionOpts, Input, Step, Trigger};
use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// A span as the subscriber saw it open.
#[derive(Debug, Clone)]
struct Opened {
    name: &'static str,
    fields: Vec<(String, String)>,
    parent: Option<&'static str>,
    id: u64,
    parent_id: Option<u64>,
}

impl Opened {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Opened>>>);

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name().to_owned(), value.to_string()));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl<S> tracing_subscriber::Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = ctx.span(id).and_then(|span| span.parent());
        self.0.lock().expect("lock").push(Opened {
            name: attrs.metadata().name(),
            fields,
            parent: parent.as_ref().map(|p| p.name()),
            id: id.into_u64(),
            parent_id: parent.map(|p| p.id().into_u64()),
        });
    }
}

fn call_body(attempt: u32) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ctx": {"attempt": attempt, "disable_immediate_execution": false, "env": "",
                "fn_id": "uuid", "max_attempts": 3, "run_id": "01JRUNSPAN",
                "stack": {"current": 0, "stack": []}, "step_id": "step", "use_api": false},
        "event": {"name": "demo/event", "data": {}, "id": "e1", "ts": 1, "user": {}},
        "events": [], "steps": {}, "use_api": false, "version": 2
    }))
    .expect("json")
}

#[tokio::test]
async fn every_call_runs_in_a_run_span_with_the_step_span_nested() {
    let function = Function::new(
        FunctionOpts::new("spanned").trigger(Trigger::event("demo/event")),
        |_input: Input<Value>, step: Step| async move {
            step.run("first", || async { Ok::<_, Error>(1) }).await?;
            Ok::<_, Error>(())
        },
    );
    let endpoint = Endpoint::builder("app", Client::new(Config::dev()))
        .function(function)
        .build()
        .expect("endpoint");
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));

    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/inngest?fnId=app-spanned&stepId=step")
        .header("content-type", "application/json")
        .body(Bytes::from(call_body(2)))
        .expect("request");
    let res = endpoint.handle(request).await;
    assert_eq!(res.status(), 206, "{}", String::from_utf8_lossy(res.body()));

    let opened = capture.0.lock().expect("lock").clone();
    let runs: Vec<&Opened> = opened.iter().filter(|s| s.name == "run").collect();
    assert_eq!(runs.len(), 1, "one run span per call: {opened:?}");
    let run = runs[0];
    assert_eq!(run.field("function"), Some("app-spanned"));
    assert_eq!(run.field("run_id"), Some("01JRUNSPAN"));
    assert_eq!(run.field("attempt"), Some("2"));
    assert_eq!(run.parent, None, "the run span is the call's root");

    let step = opened
        .iter()
        .find(|s| s.name == "step")
        .expect("a step span");
    assert_eq!(step.parent, Some("run"));
    assert_eq!(
        step.parent_id,
        Some(run.id),
        "nested in this call's run span"
    );
    assert_eq!(step.field("step"), Some("first"));
    assert_eq!(step.field("run_id"), Some("01JRUNSPAN"));
    assert_eq!(step.field("attempt"), Some("2"));
}
