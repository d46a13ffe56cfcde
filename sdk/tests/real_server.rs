//! The SDK against the real Inngest server (`testing::real`): the official conformance runner,
//! in dev mode and against a signed self-hosted server, and runs driven to completion by
//! the real executor.
//!
//! These tests need the server binary (`INNGEST_BIN`, or `inngest-cli` / `inngest` on
//! `PATH`), so they are ignored by default: `cargo test --workspace --all-features -- --ignored`.
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::path::Path;
use std::time::Duration;

use inngest_sdk::testing::conformance;
use inngest_sdk::testing::real::{InngestServer, RunStatus, ServerOptions};
use inngest_sdk::{Client, Config, Endpoint, EventKey, SigningKey};
use serde_json::{Value, json};

const NEEDS_SERVER: &str = "needs the real Inngest server";

/// The event key of the self-hosted server in these tests.
const EVENT_KEY: &str = "e2e-event-key";

/// Serves `endpoint` on a free loopback port; returns its `/api/inngest` URL.
async fn serve(endpoint: Endpoint) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/inngest", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/api/inngest", inngest_sdk::axum::serve(endpoint));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The conformance fixture app, as the runner needs it: in-band sync on, never
/// registering itself.
fn fixture(config: Config) -> Endpoint {
    let mut builder = Endpoint::builder(
        conformance::APP_ID,
        Client::new(config.with_in_band_sync(true)),
    );
    for function in conformance::functions() {
        builder = builder.function(function);
    }
    builder.build().unwrap()
}

/// Runs `inngest alpha conformance run` (suites `core` and `transport-serve`) and returns
/// its JSON report. The runner exits 0 even when cases fail: the report is the verdict.
fn run_conformance(sdk_url: &str, server: &InngestServer, event_key: Option<&str>) -> Value {
    let report = std::env::temp_dir().join(format!(
        "conformance-{}-{}.json",
        std::process::id(),
        server.url().port().unwrap_or_default()
    ));
    let mut command = std::process::Command::new(InngestServer::locate().unwrap());
    command.args([
        "alpha",
        "conformance",
        "run",
        "--transport",
        "serve",
        "--sdk-url",
        sdk_url,
        "--dev-url",
        server.url().as_str().trim_end_matches('/'),
        "--signing-key",
        conformance::SIGNING_KEY,
        "--suite",
        "core",
        "--suite",
        "transport-serve",
        "--report-out",
        report.to_str().unwrap(),
    ]);
    if let Some(key) = event_key {
        command.args(["--event-key", key]);
    }
    let output = command.output().expect("the conformance runner starts");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|e| {
        panic!(
            "no report ({e}); runner output:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let _ = std::fs::remove_file(Path::new(&report));
    serde_json::from_str(&text).unwrap()
}

/// Asserts a report with all six serve cases passed.
fn assert_full(report: &Value) {
    let cases: Vec<(String, String)> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            (
                case["case_id"].as_str().unwrap().to_owned(),
                case["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(report["compatibility"], "full", "{report:#}");
    assert_eq!(cases.len(), 6, "{cases:?}");
    assert!(
        cases.iter().all(|(_, status)| status == "passed"),
        "{cases:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn the_conformance_runner_passes_every_serve_case_in_dev_mode() {
    let server = InngestServer::start(ServerOptions::dev().retry_interval(1))
        .await
        .expect(NEEDS_SERVER);
    let config = Config::dev()
        .with_base_url(server.url().clone())
        .with_signing_key(SigningKey::new(conformance::SIGNING_KEY).unwrap());
    let sdk_url = serve(fixture(config)).await;
    let report = tokio::task::spawn_blocking({
        let sdk_url = sdk_url.clone();
        let server = std::sync::Arc::new(server);
        move || run_conformance(&sdk_url, &server, None)
    })
    .await
    .unwrap();
    assert_full(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn the_conformance_runner_passes_every_serve_case_against_a_signed_server() {
    let server = InngestServer::start(
        ServerOptions::self_hosted(conformance::SIGNING_KEY, EVENT_KEY).retry_interval(1),
    )
    .await
    .expect(NEEDS_SERVER);
    // Cloud mode: every request must carry a valid signature.
    let config = Config::cloud(SigningKey::new(conformance::SIGNING_KEY).unwrap())
        .with_base_url(server.url().clone())
        .with_event_key(EventKey::new(EVENT_KEY));
    let sdk_url = serve(fixture(config)).await;
    let report = tokio::task::spawn_blocking({
        let server = std::sync::Arc::new(server);
        move || run_conformance(&sdk_url, &server, Some(EVENT_KEY))
    })
    .await
    .unwrap();
    assert_full(&report);
}

/// A run of `bench-steps` driven by the real executor, synced by the server itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn the_real_executor_runs_a_function_of_several_steps_to_completion() {
    let server = InngestServer::start(ServerOptions::dev())
        .await
        .expect(NEEDS_SERVER);
    let client = Client::new(Config::dev().with_base_url(server.url().clone()));
    let endpoint = Endpoint::builder("real-server-test", client)
        .function(conformance::bench_steps())
        .build()
        .unwrap();
    let url = serve(endpoint).await;
    server.sync_app(&url).await.unwrap();
    let ids = server
        .send_event(json!({"name": "bench/steps", "data": {"n": 5}}))
        .await
        .unwrap();
    let run = server
        .wait_for("the run to start", Duration::from_secs(60), || async {
            server.runs_of_event(&ids[0]).await.ok()?.into_iter().next()
        })
        .await
        .unwrap();
    let run = server
        .wait_for_run_end(&run.id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.function, "real-server-test-bench-steps");
    assert_eq!(run.output, Some(json!(10)), "0 + 1 + 2 + 3 + 4");
    let steps = server.steps(&run.id).await.unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["step-0", "step-1", "step-2", "step-3", "step-4"],
        "{steps:?}"
    );
}
