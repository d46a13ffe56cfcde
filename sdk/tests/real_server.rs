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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use common::{counted_steps, counters, counts};
use inngest_sdk::testing::conformance;
use inngest_sdk::testing::real::{InngestServer, RunStatus, ServedApp, ServerOptions};
use inngest_sdk::{
    Client, Config, Endpoint, Error, EventKey, Function, FunctionOpts, Input, SigningKey, Step,
    Trigger,
};
use serde_json::{Value, json};

const NEEDS_SERVER: &str = "needs the real Inngest server";

/// The event key of the self-hosted server in these tests.
const EVENT_KEY: &str = "e2e-event-key";

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
    let app = ServedApp::serve(fixture(config)).await.unwrap();
    let report = tokio::task::spawn_blocking({
        let sdk_url = app.url().to_owned();
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
    let app = ServedApp::serve(fixture(config)).await.unwrap();
    let report = tokio::task::spawn_blocking({
        let sdk_url = app.url().to_owned();
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
    let _app = server.serve_and_sync(endpoint).await.unwrap();
    let (run, output) = server
        .run_event(
            json!({"name": "bench/steps", "data": {"n": 5}}),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.function, "real-server-test-bench-steps");
    assert_eq!(output, json!(10), "0 + 1 + 2 + 3 + 4");
    let steps = server.steps(&run.id).await.unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["step-0", "step-1", "step-2", "step-3", "step-4"],
        "{steps:?}"
    );
}

/// What the executor received from the app: one `(status, body)` per call (`POST`).
#[derive(Default)]
struct Answers(std::sync::Mutex<Vec<(u16, Value)>>);

impl Answers {
    fn all(&self) -> Vec<(u16, Value)> {
        self.0.lock().unwrap().clone()
    }

    /// `(status, ops of a 206)` per call, e.g. `(206, ["StepError"])` or `(200, [])`.
    fn summary(&self) -> Vec<(u16, Vec<String>)> {
        self.all()
            .into_iter()
            .map(|(status, body)| {
                let ops = match (status, body) {
                    (206, Value::Array(ops)) => ops
                        .iter()
                        .map(|op| op["op"].as_str().unwrap_or("?").to_owned())
                        .collect(),
                    _ => Vec::new(),
                };
                (status, ops)
            })
            .collect()
    }
}

/// Serves `endpoint` and records every answer to a call.
async fn serve_recording(endpoint: Endpoint) -> (ServedApp, std::sync::Arc<Answers>) {
    use axum::body::Body;
    let answers = std::sync::Arc::new(Answers::default());
    let recorded = std::sync::Arc::clone(&answers);
    let handler = move |request: http::Request<Body>| {
        let endpoint = endpoint.clone();
        let answers = std::sync::Arc::clone(&recorded);
        async move {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, endpoint.max_body_bytes())
                .await
                .unwrap();
            let is_call = parts.method == http::Method::POST;
            let response = endpoint
                .handle(http::Request::from_parts(parts, bytes))
                .await;
            if is_call {
                let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
                answers
                    .0
                    .lock()
                    .unwrap()
                    .push((response.status().as_u16(), body));
            }
            response.map(Body::from)
        }
    };
    let router = axum::Router::new().route("/api/inngest", axum::routing::any(handler));
    (ServedApp::serve_router(router).await.unwrap(), answers)
}

/// Sends `event`, waits for its run to end and for the server to record its output.
async fn run_to_end(
    server: &InngestServer,
    event: Value,
) -> (inngest_sdk::testing::real::Run, Value) {
    server
        .run_event(event, Duration::from_secs(120))
        .await
        .unwrap()
}

/// docs/protocol.md §7.14 on the real executor: twenty steps run in one call, each reported to the
/// checkpoint API, and the run's trace has every step in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_checkpointed_run_of_twenty_steps_takes_one_call_and_keeps_its_step_history() {
    let server = InngestServer::start(ServerOptions::dev())
        .await
        .expect(NEEDS_SERVER);
    let runs = counters(20);
    let client = Client::new(Config::dev().with_base_url(server.url().clone()));
    let endpoint = Endpoint::builder("checkpoint-test", client)
        .function(counted_steps(
            FunctionOpts::new("steps").trigger(Trigger::event("test/steps")),
            std::sync::Arc::clone(&runs),
        ))
        .build()
        .unwrap();
    let (app, answers) = serve_recording(endpoint).await;
    server.sync_app(app.url()).await.unwrap();

    let (run, output) = run_to_end(&server, json!({"name": "test/steps", "data": {"n": 20}})).await;

    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(output, json!(190), "0 + 1 + … + 19");
    assert_eq!(counts(&runs), vec![1; 20], "every step ran once");
    assert_eq!(answers.summary(), [(200, vec![])], "one call did it all");
    let steps = server.steps(&run.id).await.unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    let expected: Vec<String> = (0..20).map(|i| format!("step-{i}")).collect();
    assert_eq!(names, expected, "{steps:?}");
    assert!(steps.iter().all(|s| s.status == "COMPLETED"), "{steps:?}");
}

/// The server's API, except that the checkpoint API answers `500` (and counts the
/// requests): everything else (the app's sync) is forwarded to `server`.
async fn api_with_broken_checkpoints(server: &url::Url) -> (url::Url, std::sync::Arc<AtomicUsize>) {
    use axum::body::Body;
    let checkpoints = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&checkpoints);
    let upstream = server.clone();
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: http::Request<Body>| {
        let counted = std::sync::Arc::clone(&counted);
        let upstream = upstream.clone();
        let http = http.clone();
        async move {
            let (parts, body) = request.into_parts();
            if parts.uri.path().starts_with("/v1/checkpoint/") {
                counted.fetch_add(1, Ordering::SeqCst);
                return http::Response::builder()
                    .status(500)
                    .body(Body::from(r#"{"error":"down"}"#))
                    .unwrap();
            }
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut forward = http
                .request(parts.method, upstream.join(path).unwrap())
                .body(body);
            for (name, value) in &parts.headers {
                if name != http::header::HOST {
                    forward = forward.header(name, value);
                }
            }
            let res = forward.send().await.unwrap();
            let status = res.status();
            let bytes = res.bytes().await.unwrap();
            http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(bytes))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, checkpoints)
}

/// When the checkpoint API fails, each call falls back to the classic answer with the step
/// it could not report: the run completes, and no step runs twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_failing_checkpoint_api_falls_back_to_the_classic_answer_without_running_a_step_twice() {
    let server = InngestServer::start(ServerOptions::dev())
        .await
        .expect(NEEDS_SERVER);
    let (api, checkpoints) = api_with_broken_checkpoints(server.url()).await;
    let runs = counters(3);
    let config = Config::dev()
        .with_base_url(server.url().clone())
        .with_api_base_url(api);
    let endpoint = Endpoint::builder("checkpoint-test", Client::new(config))
        .function(counted_steps(
            FunctionOpts::new("steps").trigger(Trigger::event("test/steps")),
            std::sync::Arc::clone(&runs),
        ))
        .build()
        .unwrap();
    let (app, answers) = serve_recording(endpoint).await;
    server.sync_app(app.url()).await.unwrap();

    let (run, output) = run_to_end(&server, json!({"name": "test/steps", "data": {"n": 3}})).await;

    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(output, json!(3));
    assert_eq!(counts(&runs), [1, 1, 1], "no step ran twice");
    let step_run = || (206, vec!["StepRun".to_owned()]);
    assert_eq!(
        answers.summary(),
        [step_run(), step_run(), step_run(), (200, vec![])]
    );
    // Three attempts per step, then the fallback.
    assert_eq!(checkpoints.load(Ordering::SeqCst), 9);
    let steps = server.steps(&run.id).await.unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["step-0", "step-1", "step-2"], "{steps:?}");
}

/// A step that fails is answered as in the classic protocol: the executor retries it (a
/// classic call at attempt 1), and checkpointing resumes on the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_failing_step_is_retried_as_in_the_classic_protocol() {
    let server = InngestServer::start(ServerOptions::dev().retry_interval(1))
        .await
        .expect(NEEDS_SERVER);
    let runs = counters(3);
    let counted = std::sync::Arc::clone(&runs);
    let flaky = Function::new(
        FunctionOpts::new("flaky")
            .trigger(Trigger::event("test/flaky"))
            .retries(2),
        move |_: Input<Value>, step: Step| {
            let runs = std::sync::Arc::clone(&counted);
            async move {
                let r = std::sync::Arc::clone(&runs);
                let a = step
                    .run("a", move || async move {
                        r[0].fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Error>(1)
                    })
                    .await?;
                let r = std::sync::Arc::clone(&runs);
                let b = step
                    .run("b", move || async move {
                        if r[1].fetch_add(1, Ordering::SeqCst) == 0 {
                            return Err(Error::new("flaky"));
                        }
                        Ok(2)
                    })
                    .await?;
                let r = std::sync::Arc::clone(&runs);
                let c = step
                    .run("c", move || async move {
                        r[2].fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Error>(3)
                    })
                    .await?;
                Ok::<_, Error>(a + b + c)
            }
        },
    );
    let client = Client::new(Config::dev().with_base_url(server.url().clone()));
    let endpoint = Endpoint::builder("checkpoint-test", client)
        .function(flaky)
        .build()
        .unwrap();
    let (app, answers) = serve_recording(endpoint).await;
    server.sync_app(app.url()).await.unwrap();

    let (run, output) = run_to_end(&server, json!({"name": "test/flaky", "data": {}})).await;

    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(output, json!(6));
    assert_eq!(counts(&runs), [1, 2, 1]);
    // `a` checkpointed, then `b`'s error answered; the retry of `b` answered in the classic
    // way; then `c` checkpointed and the output.
    assert_eq!(
        answers.summary(),
        [
            (206, vec!["StepError".to_owned()]),
            (206, vec!["StepRun".to_owned()]),
            (200, vec![]),
        ]
    );
    // The trace orders spans by start: `b`'s span starts with the call that ran `a`.
    let steps = server.steps(&run.id).await.unwrap();
    let mut names: Vec<(&str, Option<u32>)> = steps
        .iter()
        .map(|s| (s.name.as_str(), s.attempts))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [("a", Some(0)), ("b", Some(1)), ("c", Some(0))],
        "{steps:?}"
    );
    assert!(steps.iter().all(|s| s.status == "COMPLETED"), "{steps:?}");
}

/// Against a signed, self-hosted server the checkpoint API takes the signing key's bearer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_checkpointed_run_completes_against_a_signed_server() {
    let server = InngestServer::start(ServerOptions::self_hosted(
        conformance::SIGNING_KEY,
        EVENT_KEY,
    ))
    .await
    .expect(NEEDS_SERVER);
    let runs = counters(5);
    let config = Config::cloud(SigningKey::new(conformance::SIGNING_KEY).unwrap())
        .with_base_url(server.url().clone())
        .with_event_key(EventKey::new(EVENT_KEY));
    let endpoint = Endpoint::builder("checkpoint-test", Client::new(config))
        .function(counted_steps(
            FunctionOpts::new("steps").trigger(Trigger::event("test/steps")),
            std::sync::Arc::clone(&runs),
        ))
        .build()
        .unwrap();
    let (app, answers) = serve_recording(endpoint).await;
    // An out-of-band sync: a signed `PUT` makes the app register itself with the bearer.
    let key = SigningKey::new(conformance::SIGNING_KEY).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let res = reqwest::Client::new()
        .put(app.url())
        .header(
            "x-inngest-signature",
            key.sign(b"", i64::try_from(now).unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "sync: {}", res.status());

    let (run, output) = run_to_end(&server, json!({"name": "test/steps", "data": {"n": 5}})).await;

    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(output, json!(10));
    assert_eq!(counts(&runs), [1, 1, 1, 1, 1]);
    assert_eq!(answers.summary(), [(200, vec![])], "one call did it all");
    let steps = server.steps(&run.id).await.unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["step-0", "step-1", "step-2", "step-3", "step-4"],
        "{steps:?}"
    );
}
