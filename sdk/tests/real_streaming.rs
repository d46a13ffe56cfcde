//! Streamed call responses (docs/protocol.md §7.11) on the real Inngest server: the executor
//! reads `201`, the keep-alive spaces and the envelope, and applies the envelope's status,
//! headers and body as the real answer.
//!
//! Needs the server binary (`INNGEST_BIN`, or `inngest-cli` / `inngest` on `PATH`):
//! `cargo test -p inngest-sdk --all-features --test real_streaming -- --ignored`.
#![cfg(feature = "testing")]
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::Frame;
use inngest_sdk::testing::real::{InngestServer, RunStatus, ServedApp, ServerOptions};
use inngest_sdk::{
    Client, Config, Endpoint, Error, EventKey, Function, FunctionOpts, Input, SigningKey, Step,
    Trigger,
};
use serde_json::{Value, json};

/// What the app sent back to each `POST`: the status and every body byte, as sent.
type Answers = Arc<Mutex<Vec<(u16, Arc<Mutex<Vec<u8>>>)>>>;

/// A response body that records the bytes it passes on, frame by frame, without holding
/// them back (the executor sees the stream exactly as the endpoint makes it).
struct Tap {
    inner: Body,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl http_body::Body for Tap {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.seen.lock().unwrap().extend_from_slice(data);
            }
        }
        polled
    }
}

/// Serves `endpoint` on a free port with every `POST` answer recorded; returns its URL.
async fn serve(endpoint: Endpoint, answers: Answers) -> ServedApp {
    let app = axum::Router::new()
        .route("/api/inngest", inngest_sdk::axum::serve(endpoint))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let answers = Arc::clone(&answers);
                async move {
                    let post = req.method() == http::Method::POST;
                    let res: Response = next.run(req).await;
                    if !post {
                        return res;
                    }
                    let seen = Arc::new(Mutex::new(Vec::new()));
                    answers
                        .lock()
                        .unwrap()
                        .push((res.status().as_u16(), Arc::clone(&seen)));
                    res.map(|inner| Body::new(Tap { inner, seen }))
                }
            },
        ));
    ServedApp::serve_router(app).await.unwrap()
}

/// Each recorded answer as (status, leading spaces, the envelope after them).
fn streamed(answers: &Answers) -> Vec<(u16, usize, Value)> {
    answers
        .lock()
        .unwrap()
        .iter()
        .map(|(status, seen)| {
            let bytes = seen.lock().unwrap().clone();
            let spaces = bytes.iter().take_while(|b| **b == b' ').count();
            let envelope = serde_json::from_slice(&bytes[spaces..]).unwrap_or(Value::Null);
            (*status, spaces, envelope)
        })
        .collect()
}

/// `slow`: a step that takes 2 s of real time and returns `base`, then one that doubles
/// it; each counts its executions in `runs`.
fn slow(runs: Arc<[AtomicUsize; 2]>) -> Function {
    Function::new(
        FunctionOpts::new("slow").trigger(Trigger::event("test/stream.slow")),
        move |input: Input<Value>, step: Step| {
            let runs = Arc::clone(&runs);
            async move {
                let base = input.event.data["base"].as_u64().unwrap_or(0);
                let slow_runs = Arc::clone(&runs);
                let half: u64 = step
                    .run("slow", move || async move {
                        slow_runs[0].fetch_add(1, Ordering::SeqCst);
                        // Real time: the executor must wait through the keep-alive.
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        Ok::<_, Error>(base)
                    })
                    .await?;
                let whole: u64 = step
                    .run("double", move || async move {
                        runs[1].fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Error>(half * 2)
                    })
                    .await?;
                Ok::<_, Error>(json!({ "answer": whole, "note": "streamed \"ok\"" }))
            }
        },
    )
}

/// Runs `test/stream.slow` to its end on `server` and checks what every streamed run of it
/// shows: completed with the exact output, each step once, every answer a `201`. Returns
/// the answers as [`streamed`] reads them.
async fn run_slow(
    server: &InngestServer,
    runs: &[AtomicUsize; 2],
    answers: &Answers,
) -> Vec<(u16, usize, Value)> {
    let (run, output) = server
        .run_event(
            json!({"name": "test/stream.slow", "data": {"base": 21}}),
            Duration::from_secs(120),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(output, json!({"answer": 42, "note": "streamed \"ok\""}));
    assert_eq!(
        [
            runs[0].load(Ordering::SeqCst),
            runs[1].load(Ordering::SeqCst)
        ],
        [1, 1]
    );
    let answers = streamed(answers);
    assert!(!answers.is_empty());
    for (status, _, _) in &answers {
        assert_eq!(*status, 201, "{answers:?}");
    }
    answers
}

fn endpoint(server: &InngestServer, function: Function) -> Endpoint {
    endpoint_with(Config::dev().with_base_url(server.url().clone()), function)
}

fn endpoint_with(config: Config, function: Function) -> Endpoint {
    Endpoint::builder("streaming-test", Client::new(config))
        .function(function)
        .streaming(true)
        .streaming_interval(Duration::from_millis(300))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn a_streamed_run_with_a_slow_step_completes_with_its_output_and_each_step_runs_once() {
    let server = InngestServer::start(ServerOptions::dev().retry_interval(1))
        .await
        .expect("needs the real Inngest server");
    let runs = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let function = slow(Arc::clone(&runs));
    let answers = Answers::default();
    let app = serve(endpoint(&server, function), Arc::clone(&answers)).await;
    server.sync_app(app.url()).await.unwrap();

    let answers = run_slow(&server, &runs, &answers).await;
    for (_, _, envelope) in &answers {
        assert!(envelope["status"].is_u64(), "{answers:?}");
    }
    // The call that ran the slow step kept the connection alive while it ran.
    assert!(
        answers.iter().any(|(_, spaces, _)| *spaces >= 2),
        "{answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn a_step_that_fails_for_good_fails_the_streamed_run_without_retries() {
    let server = InngestServer::start(ServerOptions::dev().retry_interval(1))
        .await
        .expect("needs the real Inngest server");
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&attempts);
    let function = Function::new(
        FunctionOpts::new("doomed")
            .trigger(Trigger::event("test/stream.doomed"))
            .retries(2),
        move |_: Input<Value>, step: Step| {
            let attempts = Arc::clone(&counted);
            async move {
                let _: u64 = step
                    .run("charge", move || async move {
                        attempts.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(700)).await;
                        Err::<u64, _>(Error::non_retriable("card declined"))
                    })
                    .await?;
                Ok::<_, Error>(())
            }
        },
    );
    let answers = Answers::default();
    let app = serve(endpoint(&server, function), Arc::clone(&answers)).await;
    server.sync_app(app.url()).await.unwrap();

    let (run, output) = server
        .run_event(
            json!({"name": "test/stream.doomed", "data": {}}),
            Duration::from_secs(120),
        )
        .await
        .unwrap();

    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let output = output.to_string();
    assert!(output.contains("card declined"), "{output}");
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "the step ran once");
    // Two calls: the step's (206 StepFailed, no-retry), then the discovery call whose
    // uncaught step error is a 400 with no-retry: the executor honoured the envelope's
    // header and did not retry the function (it has 2 retries).
    let answers = streamed(&answers);
    let inner: Vec<(u16, Value)> = answers
        .iter()
        .map(|(status, _, envelope)| {
            assert_eq!(*status, 201, "{answers:?}");
            (
                envelope["status"].as_u64().unwrap_or(0) as u16,
                envelope["headers"]["x-inngest-no-retry"].clone(),
            )
        })
        .collect();
    assert_eq!(
        inner,
        [(206, json!("true")), (400, json!("true"))],
        "{answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn a_streamed_run_completes_against_a_signed_server() {
    const SIGNING_KEY: &str = inngest_sdk::testing::conformance::SIGNING_KEY;
    const EVENT_KEY: &str = "streaming-event-key";
    let server = InngestServer::start(ServerOptions::self_hosted(SIGNING_KEY, EVENT_KEY))
        .await
        .expect("needs the real Inngest server");
    let runs = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    // Cloud mode: every call is verified, and every envelope signed.
    let config = Config::cloud(SigningKey::new(SIGNING_KEY).unwrap())
        .with_base_url(server.url().clone())
        .with_event_key(EventKey::new(EVENT_KEY));
    let answers = Answers::default();
    let app = serve(
        endpoint_with(config, slow(Arc::clone(&runs))),
        Arc::clone(&answers),
    )
    .await;
    // An out-of-band sync: a signed `PUT` makes the app register itself with the bearer.
    let now = chrono::Utc::now().timestamp();
    let res = reqwest::Client::new()
        .put(app.url())
        .header(
            "x-inngest-signature",
            SigningKey::new(SIGNING_KEY).unwrap().sign(b"", now),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "sync: {}", res.status());

    let answers = run_slow(&server, &runs, &answers).await;
    for (_, _, envelope) in &answers {
        let signature = envelope["headers"]["x-inngest-signature"].as_str();
        assert!(
            signature.is_some_and(|s| s.starts_with("t=")),
            "{answers:?}"
        );
    }
}
