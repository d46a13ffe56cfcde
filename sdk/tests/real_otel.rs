//! OpenTelemetry against the real Inngest server (docs/protocol.md §14): the executor's
//! `traceparent`/`tracestate` reach the `run` span, and a user's own `tracing` span inside
//! `step.run` is sent to the server's `/v1/traces/userland` and appears in the run's trace.
//!
//! Needs the server binary (`INNGEST_BIN`, or `inngest-cli` / `inngest` on `PATH`):
//! `cargo test --workspace --all-features -- --ignored`.
#![cfg(all(feature = "otel", feature = "testing"))]
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use inngest_sdk::otel::Otel;
use inngest_sdk::testing::real::{InngestServer, RunStatus, ServedApp, ServerOptions};
use inngest_sdk::{Client, Config, Endpoint, Error, Function, FunctionOpts, Input, Step, Trigger};
use serde_json::{Value, json};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

const NEEDS_SERVER: &str = "needs the real Inngest server";

/// `traceparent` and `tracestate` of one call, as the executor sent them.
type TraceHeaders = (Option<String>, Option<String>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn a_users_span_inside_a_step_appears_in_the_runs_trace() {
    let server = InngestServer::start(ServerOptions::dev())
        .await
        .expect(NEEDS_SERVER);
    let client = Client::new(Config::dev().with_base_url(server.url().clone()));
    let otel = Otel::builder()
        .service_name("real-otel-test")
        .user_traces(client.clone())
        .build()
        .unwrap();
    // The only test of this binary: the subscriber is the process's.
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel.layer()))
        .unwrap();

    let function = Function::new(
        FunctionOpts::new("traced").trigger(Trigger::event("otel/traced")),
        |_input: Input<Value>, step: Step| async move {
            let n = step
                .run("work", || async {
                    async { Ok::<_, Error>(41 + 1) }
                        .instrument(tracing::info_span!("user-span", answer = 42))
                        .await
                })
                .await?;
            Ok::<_, Error>(n)
        },
    );
    let endpoint = Endpoint::builder("real-otel", client)
        .function(function)
        .build()
        .unwrap();
    // The executor's trace headers, as each call brought them.
    let seen: Arc<Mutex<Vec<TraceHeaders>>> = Arc::default();
    let recorder = Arc::clone(&seen);
    let app = axum::Router::new()
        .route("/api/inngest", inngest_sdk::axum::serve(endpoint))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                if req.method() == http::Method::POST {
                    recorder
                        .lock()
                        .unwrap()
                        .push((header("traceparent"), header("tracestate")));
                }
                next.run(req)
            },
        ));
    let app = ServedApp::serve_router(app).await.unwrap();
    server.sync_app(app.url()).await.unwrap();

    let ids = server
        .send_event(json!({"name": "otel/traced", "data": {}}))
        .await
        .unwrap();
    let run = server
        .first_run_of(&ids[0], Duration::from_secs(60))
        .await
        .unwrap();
    let run = server
        .wait_for_run_end(&run.id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    otel.flush().await;

    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the executor called the app");
    for (traceparent, tracestate) in &seen {
        assert!(
            traceparent.is_some(),
            "every call carries a traceparent: {seen:?}"
        );
        assert!(
            tracestate
                .as_deref()
                .is_some_and(|s| s.contains("inngest@traceref=")),
            "every call names its trace reference: {seen:?}"
        );
    }

    let found = server
        .wait_for_userland_span(&run.id, "user-span", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(found.iter().any(|(_, userland, _)| *userland), "{found:?}");
}
