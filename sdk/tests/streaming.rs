//! Streamed call responses (docs/protocol.md §7.11) as the executor reads them: `201` at once,
//! keep-alive spaces while the step runs, then an envelope equal to the plain answer. Time is
//! tokio's paused clock, so a 7 s step takes no real time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use http::{Method, Request, Response};
use http_body::Body;
use inngest_sdk::{
    Client, Clock, Config, Endpoint, Error, Function, FunctionOpts, Input, SigningKey, Step,
    StreamingBody, Trigger,
};
use serde_json::{Value, json};
use tokio::time::Instant;

const KEY: &str = "signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f";

/// A clock that never moves, so two answers to the same request carry the same signature.
struct Fixed(DateTime<Utc>);

impl Clock for Fixed {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
}

/// A function whose one step takes 7 s and returns `"done"`, or fails for good.
fn slow(fail: bool, runs: Arc<AtomicUsize>) -> Function {
    Function::new(
        FunctionOpts::new("slow")
            .trigger(Trigger::event("demo/event"))
            .retries(0)
            .without_checkpointing(),
        move |_input: Input<Value>, step: Step| {
            let runs = Arc::clone(&runs);
            async move {
                let out: String = step
                    .run("wait", || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_secs(7)).await;
                        if fail {
                            return Err(Error::non_retriable("the upstream said no"));
                        }
                        Ok::<_, Error>("done".to_owned())
                    })
                    .await?;
                Ok::<_, Error>(out)
            }
        },
    )
}

fn endpoint(config: Config, function: Function, streaming: bool) -> Endpoint {
    Endpoint::builder("app", Client::new(config))
        .clock(Arc::new(Fixed(at())))
        .function(function)
        .streaming(streaming)
        .build()
        .expect("endpoint")
}

fn call_body() -> Vec<u8> {
    let event = json!({"name": "demo/event", "data": {}, "id": "e1", "ts": 1, "user": {}});
    serde_json::to_vec(&json!({
        "ctx": {"attempt": 0, "disable_immediate_execution": false, "env": "",
                "fn_id": "uuid", "max_attempts": 1, "run_id": "01JRUN",
                "stack": {"current": 0, "stack": []}, "step_id": "step", "use_api": false},
        "event": event, "events": [event], "steps": {}, "use_api": false, "version": 2
    }))
    .unwrap()
}

fn request(method: Method, uri: &str, body: Vec<u8>, key: Option<&str>) -> Request<Bytes> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Bytes::from(body))
        .unwrap();
    if let Some(key) = key {
        let value = SigningKey::new(key)
            .unwrap()
            .sign(req.body(), at().timestamp());
        req.headers_mut()
            .insert("x-inngest-signature", value.parse().unwrap());
    }
    req
}

const CALL: &str = "/api/inngest?fnId=app-slow&stepId=step";

/// The frames of a body with the (paused) time each arrived, from `start`.
async fn frames(mut body: StreamingBody, start: Instant) -> Vec<(Duration, Bytes)> {
    let mut out = Vec::new();
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let data = frame.unwrap().into_data().expect("data frames only");
        out.push((start.elapsed(), data));
    }
    out
}

/// The executor's reading of a streamed answer (docs/protocol.md §7.11): leading spaces,
/// then the envelope, whose string body is the real body.
fn envelope(frames: &[(Duration, Bytes)]) -> (u16, serde_json::Map<String, Value>, Vec<u8>) {
    let all: Vec<u8> = frames.iter().flat_map(|(_, b)| b.to_vec()).collect();
    let text = std::str::from_utf8(&all).unwrap();
    let json = text.trim_start_matches(' ');
    let envelope: Value = serde_json::from_str(json).expect("one JSON envelope after the spaces");
    let status = envelope["status"].as_u64().unwrap() as u16;
    let headers = envelope["headers"].as_object().unwrap().clone();
    let body = envelope["body"]
        .as_str()
        .expect("a string body")
        .as_bytes()
        .to_vec();
    (status, headers, body)
}

fn plain_headers(res: &Response<Vec<u8>>) -> serde_json::Map<String, Value> {
    res.headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap())))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_streamed_call_answers_201_keeps_alive_then_sends_the_plain_answer_as_its_envelope() {
    let runs = Arc::new(AtomicUsize::new(0));
    let config = Config::cloud(SigningKey::new(KEY).unwrap());
    let streamed = endpoint(config.clone(), slow(false, Arc::clone(&runs)), true);

    let start = Instant::now();
    let res = streamed
        .handle_streaming(request(Method::POST, CALL, call_body(), Some(KEY)))
        .await;
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "the 201 goes out before the step runs"
    );
    assert_eq!(res.status(), 201);
    assert!(
        res.headers()["x-inngest-sdk"]
            .to_str()
            .unwrap()
            .starts_with("inngest-rs:v")
    );
    assert!(res.headers().get("x-inngest-signature").is_none());
    let (_, body) = res.into_parts();
    assert!(body.is_streaming());
    let frames = frames(body, start).await;

    // A space at 3 s and 6 s, the envelope when the step ends at 7 s.
    let spaces: Vec<Duration> = frames
        .iter()
        .filter(|(_, b)| b.as_ref() == b" ")
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(spaces, [Duration::from_secs(3), Duration::from_secs(6)]);
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert_eq!(frames[2].0, Duration::from_secs(7));

    // The same call answered plainly by an endpoint without streaming.
    let plain = endpoint(config, slow(false, Arc::clone(&runs)), false)
        .handle(request(Method::POST, CALL, call_body(), Some(KEY)))
        .await;
    let (status, headers, body) = envelope(&frames);
    assert_eq!(status, plain.status().as_u16());
    assert_eq!(status, 206);
    assert_eq!(headers, plain_headers(&plain), "signature included");
    assert!(headers.contains_key("x-inngest-signature"));
    assert_eq!(body, *plain.body());
    let ops: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ops[0]["op"], "StepRun");
    assert_eq!(ops[0]["data"], "done");
    assert_eq!(runs.load(Ordering::SeqCst), 2, "once per endpoint");
}

#[tokio::test(start_paused = true)]
async fn a_failing_steps_envelope_carries_no_retry() {
    let runs = Arc::new(AtomicUsize::new(0));
    let streamed = endpoint(Config::dev(), slow(true, Arc::clone(&runs)), true);
    let res = streamed
        .handle_streaming(request(Method::POST, CALL, call_body(), None))
        .await;
    assert_eq!(res.status(), 201);
    let frames = frames(res.into_body(), Instant::now()).await;
    let plain = endpoint(Config::dev(), slow(true, Arc::clone(&runs)), false)
        .handle(request(Method::POST, CALL, call_body(), None))
        .await;
    let (status, headers, body) = envelope(&frames);
    assert_eq!(status, 206);
    assert_eq!(headers["x-inngest-no-retry"], "true");
    assert_eq!(headers, plain_headers(&plain));
    assert_eq!(body, *plain.body());
    let ops: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ops[0]["op"], "StepFailed");
    assert_eq!(ops[0]["error"]["message"], "the upstream said no");
}

#[tokio::test(start_paused = true)]
async fn introspection_sync_probes_and_refusals_are_answered_plainly() {
    let runs = Arc::new(AtomicUsize::new(0));
    let config = Config::cloud(SigningKey::new(KEY).unwrap());
    let streamed = endpoint(config, slow(false, Arc::clone(&runs)), true);
    let cases = [
        (
            request(Method::GET, "/api/inngest", Vec::new(), Some(KEY)),
            200,
        ),
        (
            request(
                Method::POST,
                "/api/inngest?probe=trust",
                Vec::new(),
                Some(KEY),
            ),
            200,
        ),
        // No signature in cloud mode: a plain 401, and nothing runs.
        (request(Method::POST, CALL, call_body(), None), 401),
        (request(Method::DELETE, CALL, Vec::new(), Some(KEY)), 405),
    ];
    for (req, status) in cases {
        let uri = req.uri().clone();
        let plain = streamed.handle(clone(&req)).await;
        let res = streamed.handle_streaming(req).await;
        assert_eq!(res.status(), status, "{uri}");
        assert_eq!(res.headers(), plain.headers(), "{uri}");
        assert!(!res.body().is_streaming(), "{uri}");
        let frames = frames(res.into_body(), Instant::now()).await;
        let bytes: Vec<u8> = frames.iter().flat_map(|(_, b)| b.to_vec()).collect();
        assert_eq!(bytes, *plain.body(), "{uri}");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn with_streaming_off_calls_are_answered_plainly_and_the_interval_is_configurable() {
    let runs = Arc::new(AtomicUsize::new(0));
    let off = endpoint(Config::dev(), slow(false, Arc::clone(&runs)), false);
    assert!(!off.streaming());
    let res = off
        .handle_streaming(request(Method::POST, CALL, call_body(), None))
        .await;
    assert_eq!(res.status(), 206);
    assert!(!res.body().is_streaming());

    // From the config (INNGEST_STREAMING), with a 1 s interval: seven spaces in 7 s.
    let on = Endpoint::builder("app", Client::new(Config::dev().with_streaming(true)))
        .function(slow(false, Arc::clone(&runs)))
        .streaming_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    assert!(on.streaming());
    let res = on
        .handle_streaming(request(Method::POST, CALL, call_body(), None))
        .await;
    assert_eq!(res.status(), 201);
    let frames = frames(res.into_body(), Instant::now()).await;
    let spaces = frames.iter().filter(|(_, b)| b.as_ref() == b" ").count();
    assert!((6..=7).contains(&spaces), "{frames:?}");
    assert_eq!(envelope(&frames).0, 206);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_streamed_body_cancels_the_run() {
    let finished = Arc::new(AtomicUsize::new(0));
    let done = Arc::clone(&finished);
    let function = Function::new(
        FunctionOpts::new("slow").trigger(Trigger::event("demo/event")),
        move |_input: Input<Value>, _step: Step| {
            let done = Arc::clone(&done);
            async move {
                tokio::time::sleep(Duration::from_secs(7)).await;
                done.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(())
            }
        },
    );
    let streamed = endpoint(Config::dev(), function, true);
    let res = streamed
        .handle_streaming(request(Method::POST, CALL, call_body(), None))
        .await;
    let mut body = res.into_body();
    // The first space, then the executor goes away.
    let first = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
    assert_eq!(first.unwrap().unwrap().into_data().unwrap(), " ");
    drop(body);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "no run goes on unobserved"
    );
}

fn clone(req: &Request<Bytes>) -> Request<Bytes> {
    let mut out = Request::builder()
        .method(req.method().clone())
        .uri(req.uri().clone())
        .body(req.body().clone())
        .unwrap();
    *out.headers_mut() = req.headers().clone();
    out
}

/// The fake executor reads streamed answers as the real one does: over HTTP, an app with
/// streaming on runs to completion, and every call it recorded is the envelope's answer.
#[cfg(feature = "testing")]
#[tokio::test]
async fn the_fake_executor_unwraps_streamed_answers_over_http() {
    use inngest_sdk::testing::{FakeExecutor, RunStatus};

    let inngest = FakeExecutor::start().await;
    let function = Function::new(
        FunctionOpts::new("two").trigger(Trigger::event("demo/event")),
        |_input: Input<Value>, step: Step| async move {
            let a: u32 = step.run("a", || async { Ok::<_, Error>(20) }).await?;
            let b: u32 = step.run("b", || async { Ok::<_, Error>(22) }).await?;
            Ok::<_, Error>(a + b)
        },
    );
    let endpoint = Endpoint::builder(
        "app",
        Client::new(inngest.client_config().without_checkpointing()),
    )
    .function(function)
    .streaming(true)
    .build()
    .unwrap();
    let app = axum::Router::new().route("/api/inngest", inngest_sdk::axum::serve(endpoint));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/inngest", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    inngest.serve_url(&url).await.expect("sync");

    let ids = inngest
        .send(inngest_sdk::Event::new("demo/event", json!({})))
        .await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(42)));
    let statuses: Vec<u16> = run.calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [206, 206, 200]);
}

/// Over real HTTP (the axum adapter and hyper), the `201` reaches the executor while the
/// step is still running: the step waits until the test has seen the response head.
#[cfg(feature = "axum")]
#[tokio::test]
async fn over_http_the_201_head_arrives_before_the_step_finishes() {
    let release = Arc::new(tokio::sync::Notify::new());
    let gate = Arc::clone(&release);
    let function = Function::new(
        FunctionOpts::new("slow").trigger(Trigger::event("demo/event")),
        move |_input: Input<Value>, step: Step| {
            let gate = Arc::clone(&gate);
            async move {
                let out: String = step
                    .run("wait", || async move {
                        gate.notified().await;
                        Ok::<_, Error>("released".to_owned())
                    })
                    .await?;
                Ok::<_, Error>(out)
            }
        },
    );
    let app = axum::Router::new().route(
        "/api/inngest",
        inngest_sdk::axum::serve(endpoint(Config::dev(), function, true)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{CALL}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Without streaming the head would wait for the step, which waits for the test: the
    // deadline turns that deadlock into a failure.
    let send = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(call_body())
        .send();
    let res = tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .expect("the 201 head arrives before the step ends")
        .unwrap();
    assert_eq!(res.status(), 201, "the head came while the step waits");
    assert!(res.headers().contains_key("x-inngest-sdk"));
    release.notify_one();
    let body = res.bytes().await.unwrap();
    let envelope: Value = serde_json::from_slice(body.trim_ascii_start()).unwrap();
    assert_eq!(envelope["status"], 206);
    let ops: Value = serde_json::from_str(envelope["body"].as_str().unwrap()).unwrap();
    assert_eq!(ops[0]["op"], "StepRun");
    assert_eq!(ops[0]["data"], "released");
}
