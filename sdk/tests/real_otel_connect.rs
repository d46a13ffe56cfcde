//! OpenTelemetry over the Connect transport against the real Inngest server (docs/protocol.md
//! §14.2): an executor request's `user_trace_ctx` gives the `run` span its parent, as an HTTP
//! call's `traceparent`/`tracestate` headers do, so a user's own span inside `step.run` of a
//! run served over Connect appears in the run's trace.
//!
//! Needs the server binary (`INNGEST_BIN`, or `inngest-cli` / `inngest` on `PATH`):
//! `cargo test --workspace --all-features -- --ignored`.
#![cfg(all(feature = "otel", feature = "connect", feature = "testing"))]
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::time::Duration;

use inngest_sdk::connect::{self, WorkerState};
use inngest_sdk::otel::Otel;
use inngest_sdk::testing::real::{InngestServer, RunStatus, ServerOptions};
use inngest_sdk::{Client, Config, Endpoint, Error, Function, FunctionOpts, Input, Step, Trigger};
use serde_json::{Value, json};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn a_users_span_in_a_run_served_over_connect_appears_in_the_runs_trace() {
    let server = InngestServer::start(ServerOptions::dev())
        .await
        .expect("needs the real Inngest server");
    let client = Client::new(Config::dev().with_base_url(server.url().clone()));
    let otel = Otel::builder()
        .service_name("real-otel-connect-test")
        .user_traces(client.clone())
        .build()
        .unwrap();
    // The only test of this binary: the subscriber is the process's.
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel.layer()))
        .unwrap();

    let function = Function::new(
        FunctionOpts::new("traced-over-connect").trigger(Trigger::event("otel/connect")),
        |_input: Input<Value>, step: Step| async move {
            let n: u32 = step
                .run("work", || async {
                    async { Ok::<_, Error>(41 + 1) }
                        .instrument(tracing::info_span!("connect-user-span"))
                        .await
                })
                .await?;
            Ok::<_, Error>(n)
        },
    );
    let endpoint = Endpoint::builder("real-otel-connect", client)
        .function(function)
        .build()
        .unwrap();
    let worker = connect::connect(endpoint).start();
    tokio::time::timeout(
        LIMIT,
        worker.subscribe().wait_for(|s| *s == WorkerState::Ready),
    )
    .await
    .expect("the worker connects")
    .unwrap();
    server.wait_for_connected_app(LIMIT).await.unwrap();

    let (run, output) = server
        .run_event(json!({"name": "otel/connect", "data": {}}), LIMIT)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(output, json!(42));
    otel.flush().await;

    server
        .wait_for_userland_span(&run.id, "connect-user-span", Duration::from_secs(30))
        .await
        .unwrap();
    worker.shutdown().await;
}
