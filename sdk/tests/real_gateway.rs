//! `step.fetch` and `step.ai.infer` (docs/protocol.md §8.8, §8.9) on the real Inngest
//! server: the executor makes the request to a loopback stand-in and the run gets the typed,
//! memoized response.
//!
//! Needs the server binary (`INNGEST_BIN`, or `inngest-cli` / `inngest` on `PATH`):
//! `cargo test -p inngest-sdk --all-features --test real_gateway -- --ignored`.
#![cfg(feature = "testing")]
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use inngest_sdk::testing::real::{InngestServer, RunStatus, ServerOptions};
use inngest_sdk::{
    AiModel, Client, Config, Endpoint, Error, FetchRequest, Function, FunctionOpts, Input, Step,
    Trigger,
};
use serde_json::{Value, json};

/// What the stand-in received: (path, authorization header, body).
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A stand-in for a vendor API and an OpenAI-compatible model, on a loopback port.
async fn stand_in() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let on_echo = Arc::clone(&seen);
    let on_chat = Arc::clone(&seen);
    let app = axum::Router::new()
        .route(
            "/echo",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let seen = Arc::clone(&on_echo);
                async move {
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let trace = header(&headers, "x-trace");
                    seen.lock()
                        .unwrap()
                        .push(("/echo".into(), trace, body.clone()));
                    (
                        StatusCode::CREATED,
                        [("x-stand-in", "yes"), ("content-type", "application/json")],
                        json!({"echo": body}).to_string(),
                    )
                }
            }),
        )
        .route(
            "/v1/chat/completions",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let seen = Arc::clone(&on_chat);
                async move {
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let auth = header(&headers, "authorization");
                    seen.lock()
                        .unwrap()
                        .push(("/chat".into(), auth, body.clone()));
                    let answer = common::chat_completion(&body);
                    ([("content-type", "application/json")], answer.to_string())
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn gateway_functions(base: &str) -> Vec<Function> {
    let echo_url = format!("{base}/echo");
    let fetcher = Function::new(
        FunctionOpts::new("fetcher").trigger(Trigger::event("test/fetch")),
        move |input: Input<Value>, step: Step| {
            let url = echo_url.clone();
            async move {
                let request = FetchRequest::post_json(url.clone(), &input.event.data)?
                    .header("x-trace", "t-1");
                let response = step.fetch("call-vendor", request).await?;
                let missing = step
                    .fetch(
                        "call-missing",
                        FetchRequest::get(url.replace("/echo", "/missing")),
                    )
                    .await?;
                Ok::<_, Error>(json!({
                    "missing": missing.status_code,
                    "status": response.status_code,
                    "stand_in": response.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("x-stand-in")).map(|(_, v)| v.clone()),
                    "body": response.json::<Value>()?,
                }))
            }
        },
    );
    let model = AiModel::openai_compatible(&format!("{base}/v1"), "sk-test-key");
    vec![fetcher, common::chat_writer(model)]
}

async fn run_to_end(server: &InngestServer, event: Value) -> (RunStatus, Value) {
    let (run, output) = server
        .run_event(event, Duration::from_secs(120))
        .await
        .unwrap();
    (run.status, output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn the_executor_fetches_and_calls_the_model_for_the_run_on_a_loopback_stand_in() {
    let server = InngestServer::start(ServerOptions::dev().retry_interval(1))
        .await
        .expect("needs the real Inngest server");
    let (base, seen) = stand_in().await;
    let client = Client::new(Config::dev().with_base_url(server.url().clone()));
    let mut builder = Endpoint::builder("gateway-test", client);
    for function in gateway_functions(&base) {
        builder = builder.function(function);
    }
    let endpoint = builder.build().unwrap();
    let _app = server.serve_and_sync(endpoint).await.unwrap();

    let (status, output) =
        run_to_end(&server, json!({"name": "test/fetch", "data": {"n": 7}})).await;
    assert_eq!(status, RunStatus::Completed, "{output}");
    assert_eq!(
        output,
        json!({"missing": 404, "status": 201, "stand_in": "yes", "body": {"echo": {"n": 7}}})
    );

    let (status, output) = run_to_end(
        &server,
        json!({"name": "test/infer", "data": {"prompt": "hi"}}),
    )
    .await;
    assert_eq!(status, RunStatus::Completed, "{output}");
    assert_eq!(output, json!({"text": "you said: hi", "tokens": 8}));

    // The executor, not the app, made each request once, with the headers and key given.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("/echo".to_owned(), "t-1".to_owned(), json!({"n": 7})),
            (
                "/chat".to_owned(),
                "Bearer sk-test-key".to_owned(),
                json!({"model": "tiny-model", "messages": [{"role": "user", "content": "hi"}]})
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn an_ai_wrapped_step_runs_once_and_is_reported_as_ai() {
    let server = InngestServer::start(ServerOptions::dev())
        .await
        .expect("needs the real Inngest server");
    let wrapped = Function::new(
        FunctionOpts::new("wrapped").trigger(Trigger::event("test/wrap")),
        |_: Input<Value>, step: Step| async move {
            let answer: String = step
                .ai()
                .wrap("local-model", || async {
                    Ok::<_, Error>("a local answer".to_owned())
                })
                .await?;
            let after: u32 = step.run("after", || async { Ok::<_, Error>(1) }).await?;
            Ok::<_, Error>(json!({"answer": answer, "after": after}))
        },
    );
    let client = Client::new(Config::dev().with_base_url(server.url().clone()));
    let endpoint = Endpoint::builder("wrap-test", client)
        .function(wrapped)
        .build()
        .unwrap();
    let _app = server.serve_and_sync(endpoint).await.unwrap();

    let (run, output) = server
        .run_event(
            json!({"name": "test/wrap", "data": {}}),
            Duration::from_secs(120),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{output}");
    assert_eq!(output, json!({"answer": "a local answer", "after": 1}));
    let steps = server.steps(&run.id).await.unwrap();
    eprintln!("wrapped steps: {steps:?}");
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["local-model", "after"], "{steps:?}");
}
