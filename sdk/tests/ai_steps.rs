//! The AI and fetch steps (docs/protocol.md §8.8, §8.9) on the fake executor:
//! `step.ai().wrap` marks its `StepPlanned` and `StepRun` ops, `fetch` / `ai().infer` ops
//! carry their options, and the fake makes their requests to loopback stand-ins as the real
//! executor does (once per run, memoized in the real server's shape; unreachable targets
//! and model errors are step errors, retried, then stored as the real server stores them).
#![cfg(feature = "testing")]

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use inngest_sdk::testing::{FakeExecutor, GatewayKind, RunRecord, RunStatus, StepKind};
use inngest_sdk::{
    AiModel, ChatMessage, ChatRequest, Client, Endpoint, Error, Event, FetchRequest, Function,
    FunctionOpts, Input, Step, Trigger,
};
use serde_json::{Value, json};

async fn serve(function: Function) -> FakeExecutor {
    let inngest = FakeExecutor::start().await;
    let config = inngest.client_config().without_checkpointing();
    let endpoint = Endpoint::builder("app", Client::new(config))
        .clock(inngest.clock())
        .function(function)
        .build()
        .expect("builds");
    inngest.serve(endpoint).await.expect("syncs");
    inngest
}

/// Sends one event and drives its run until idle.
async fn run_event(inngest: &FakeExecutor, name: &str, data: Value) -> RunRecord {
    let ids = inngest.send(Event::new(name, data)).await;
    inngest.run_until_idle().await;
    inngest.run(&ids[0])
}

#[tokio::test]
async fn ai_wrapped_steps_are_marked_when_planned_and_when_run() {
    let f = Function::new(
        FunctionOpts::new("wrap").trigger(Trigger::event("test/wrap")),
        |_: Input<Value>, step: Step| async move {
            let ai = step.ai();
            let (a, b) = tokio::join!(
                ai.wrap("first", || async { Ok::<_, Error>(1) }),
                ai.wrap("second", || async { Ok::<_, Error>(2) }),
            );
            let c: i32 = step.run("plain", || async { Ok::<_, Error>(3) }).await?;
            Ok::<_, Error>(a? + b? + c)
        },
    );
    let inngest = serve(f).await;

    let run = run_event(&inngest, "test/wrap", json!({})).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(6)));
    let ops: Vec<(String, String, Value)> = run
        .calls
        .iter()
        .filter_map(|call| call.body.as_array())
        .flatten()
        .map(|op| {
            (
                op["op"].as_str().unwrap_or("").to_owned(),
                op["name"].as_str().unwrap_or("").to_owned(),
                op.get("opts").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    let mark = json!({"type": "step.ai.wrap"});
    assert!(
        ops.contains(&("StepPlanned".into(), "first".into(), mark.clone())),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("StepPlanned".into(), "second".into(), mark.clone())),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("StepRun".into(), "first".into(), mark.clone())),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("StepRun".into(), "second".into(), mark)),
        "{ops:?}"
    );
    assert!(
        ops.iter()
            .any(|(op, name, opts)| op == "StepRun" && name == "plain" && opts.is_null()),
        "a plain step is not marked: {ops:?}"
    );
}

#[tokio::test]
async fn fetch_and_infer_ops_carry_their_options() {
    let closed = closed_port();
    let f = Function::new(
        FunctionOpts::new("gateway")
            .trigger(Trigger::event("test/gateway"))
            .retries(0),
        move |_: Input<Value>, step: Step| async move {
            let model =
                AiModel::openai_compatible(&format!("http://127.0.0.1:{closed}/v1"), "sk-secret");
            let request = ChatRequest::new("tiny", vec![ChatMessage::user("hi")]);
            let (page, answer) = tokio::join!(
                step.fetch(
                    "page",
                    FetchRequest::get(format!("http://127.0.0.1:{closed}/page"))
                ),
                step.ai().infer("answer", &model, &request),
            );
            Ok::<_, Error>(json!({"status": page?.status_code, "text": answer?.text()}))
        },
    );
    let inngest = serve(f).await;

    let run = run_event(&inngest, "test/gateway", json!({})).await;
    // Nothing listens on the port: both steps fail and so does the function.
    assert_eq!(run.status, RunStatus::Failed);
    let ops = run.calls[0].body.as_array().cloned().unwrap_or_default();
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert_eq!(ops[0]["op"], "Gateway");
    assert_eq!(
        ops[0]["opts"],
        json!({"url": format!("http://127.0.0.1:{closed}/page"), "method": "GET", "body": ""})
    );
    assert_eq!(ops[1]["op"], "AIGateway");
    assert_eq!(
        ops[1]["opts"],
        json!({
            "type": "step.ai.infer",
            "url": format!("http://127.0.0.1:{closed}/v1/chat/completions"),
            // The op carries the key; the record never keeps it.
            "auth_key": "[redacted]",
            "format": "openai-chat",
            "body": {"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}
        })
    );
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    listener.local_addr().expect("address").port()
}

/// One request a stand-in received: method, path, the headers it looks at, body.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

type SeenLog = Arc<Mutex<Vec<Seen>>>;

/// A vendor API and an OpenAI-compatible model on a loopback port: `/echo` answers `201`
/// with its JSON body echoed, `/page` a text page, `/v1/chat/completions` a chat
/// completion (or `401` for the model `refused`), `/broken` a `500`.
async fn stand_in() -> (String, SeenLog) {
    let seen: SeenLog = Arc::default();
    let log = Arc::clone(&seen);
    let handler = move |method: Method, uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
        let log = Arc::clone(&log);
        async move {
            let path = uri.path().to_owned();
            let body = String::from_utf8_lossy(&body).into_owned();
            let picked = ["x-trace", "authorization", "content-type"]
                .iter()
                .filter_map(|name| {
                    let value = headers.get(*name)?.to_str().ok()?;
                    Some(((*name).to_owned(), value.to_owned()))
                })
                .collect();
            log.lock().expect("log").push(Seen {
                method: method.to_string(),
                path: path.clone(),
                headers: picked,
                body: body.clone(),
            });
            let json_type = [("content-type", "application/json"), ("x-stand-in", "yes")];
            match path.as_str() {
                "/echo" => {
                    let echoed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    (
                        StatusCode::CREATED,
                        json_type,
                        json!({"echo": echoed}).to_string(),
                    )
                }
                "/page" => (
                    StatusCode::OK,
                    [("content-type", "text/plain"), ("x-stand-in", "yes")],
                    "a page".to_owned(),
                ),
                "/v1/chat/completions" => {
                    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    if request["model"] == "refused" {
                        let error = json!({"error": {"message": "bad key"}});
                        return (StatusCode::UNAUTHORIZED, json_type, error.to_string());
                    }
                    let answer = common::chat_completion(&request);
                    (StatusCode::OK, json_type, answer.to_string())
                }
                _ => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json_type,
                    "{}".to_owned(),
                ),
            }
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

#[tokio::test]
async fn fetch_requests_reach_the_target_once_per_run_and_the_function_gets_the_response() {
    let (base, seen) = stand_in().await;
    let f = Function::new(
        FunctionOpts::new("fetcher").trigger(Trigger::event("test/fetch")),
        move |input: Input<Value>, step: Step| {
            let base = base.clone();
            async move {
                let page = step
                    .fetch(
                        "get-page",
                        FetchRequest::get(format!("{base}/page")).header("x-trace", "t-1"),
                    )
                    .await?;
                let n: u64 = step.run("between", || async { Ok::<_, Error>(2) }).await?;
                let request = FetchRequest::post_json(format!("{base}/echo"), &input.event.data)?
                    .header("x-trace", "t-2");
                let echo = step.fetch("post-echo", request).await?;
                let broken = step
                    .fetch("get-broken", FetchRequest::get(format!("{base}/broken")))
                    .await?;
                Ok::<_, Error>(json!({
                    "page": [page.status_code, page.body, page.headers.get("X-Stand-In")],
                    "echo": [echo.status_code, echo.json::<Value>()?, echo.headers.get("Content-Type")],
                    "broken": broken.status_code,
                    "n": n,
                }))
            }
        },
    );
    let inngest = serve(f).await;

    let run = run_event(&inngest, "test/fetch", json!({"order": 7})).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(
        run.output,
        Some(json!({
            "page": [200, "a page", "yes"],
            "echo": [201, {"echo": {"order": 7}}, "application/json"],
            // Any status is a response (docs/protocol.md §8.8).
            "broken": 500,
            "n": 2,
        }))
    );
    // The function was called again after each step, the target once per request.
    assert!(run.calls.len() >= 4, "{:?}", run.calls);
    let seen = seen.lock().expect("log").clone();
    assert_eq!(
        seen.iter()
            .map(|s| (s.method.as_str(), s.path.as_str()))
            .collect::<Vec<_>>(),
        [("GET", "/page"), ("POST", "/echo"), ("GET", "/broken")]
    );
    assert_eq!(seen[0].headers, [("x-trace".to_owned(), "t-1".to_owned())]);
    assert_eq!(
        seen[1].headers,
        [
            ("x-trace".to_owned(), "t-2".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ]
    );
    assert_eq!(seen[1].body, r#"{"order":7}"#);
    // The records: each request under the call that reported its op, and the steps.
    let requests: Vec<_> = run.calls.iter().flat_map(|c| c.gateway.clone()).collect();
    assert_eq!(
        requests
            .iter()
            .map(|r| (r.step_id.as_str(), r.kind, r.method.as_str(), r.status))
            .collect::<Vec<_>>(),
        [
            ("get-page", GatewayKind::Fetch, "GET", Some(200)),
            ("post-echo", GatewayKind::Fetch, "POST", Some(201)),
            ("get-broken", GatewayKind::Fetch, "GET", Some(500)),
        ]
    );
    let kinds: Vec<_> = run.steps.iter().map(|s| (s.id.as_str(), s.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("get-page", StepKind::Fetch),
            ("between", StepKind::Run),
            ("post-echo", StepKind::Fetch),
            ("get-broken", StepKind::Fetch),
        ]
    );
    // Memoized as the real server stores it: `{"data": {url, status_code, headers, body}}`.
    let page = run.steps[0].output.clone().unwrap_or_default();
    assert_eq!(
        page["url"],
        json!(format!("{}/page", seen_base(&requests[0].url)))
    );
    assert_eq!(page["headers"]["Content-Type"], "text/plain");
}

/// `http://127.0.0.1:PORT/page` → `http://127.0.0.1:PORT`.
fn seen_base(url: &str) -> &str {
    url.rsplit_once('/').map_or(url, |(base, _)| base)
}

#[tokio::test]
async fn infer_posts_to_an_openai_format_target_with_the_key_as_bearer_and_records_no_key() {
    let (base, seen) = stand_in().await;
    let model = AiModel::openai_compatible(&format!("{base}/v1"), "sk-test-key");
    let f = common::chat_writer(model);
    let inngest = serve(f).await;

    let run = run_event(&inngest, "test/infer", json!({"prompt": "hi"})).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(
        run.output,
        Some(json!({"text": "you said: hi", "tokens": 8}))
    );
    let seen = seen.lock().expect("log").clone();
    // Two calls (the op, then the replay that completes), one request.
    assert_eq!(run.calls.len(), 2, "{:?}", run.calls);
    assert_eq!(seen.len(), 1, "once per run: {seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        seen[0].headers,
        [
            ("authorization".to_owned(), "Bearer sk-test-key".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ]
    );
    assert_eq!(
        serde_json::from_str::<Value>(&seen[0].body).expect("json"),
        json!({"model": "tiny-model", "messages": [{"role": "user", "content": "hi"}]})
    );
    assert_eq!(run.steps[0].kind, StepKind::AiInfer);
    let requests: Vec<_> = run.calls.iter().flat_map(|c| c.gateway.clone()).collect();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].kind, GatewayKind::AiInfer);
    assert_eq!(requests[0].status, Some(200));
    // The key reached the target and nothing else: no record prints or holds it.
    for printed in [
        format!("{run:?}"),
        format!("{:?}", inngest.runs()),
        format!("{:?}", run.calls),
        format!("{requests:?}"),
        format!("{:?}", run.steps),
        format!(
            "{}",
            json!(run.calls.iter().map(|c| &c.body).collect::<Vec<_>>())
        ),
    ] {
        assert!(!printed.contains("sk-test-key"), "{printed}");
    }
}

#[tokio::test]
async fn unreachable_targets_and_model_errors_are_retried_then_stored_as_the_real_server_does() {
    let (base, seen) = stand_in().await;
    let closed = closed_port();
    let f = Function::new(
        FunctionOpts::new("failing")
            .trigger(Trigger::event("test/failing"))
            .retries(1),
        move |_: Input<Value>, step: Step| {
            let base = base.clone();
            async move {
                let unreachable = step
                    .fetch(
                        "unreachable",
                        FetchRequest::get(format!("http://127.0.0.1:{closed}/x")),
                    )
                    .await;
                let model = AiModel::openai_compatible(&format!("{base}/v1"), "sk-test-key");
                let request = ChatRequest::new("refused", vec![ChatMessage::user("hi")]);
                let refused = step.ai().infer("refused", &model, &request).await;
                let describe = |error: Option<inngest_sdk::StepError>| error.map(|e| e.to_string());
                Ok::<_, Error>(json!({
                    "unreachable": describe(unreachable.err()),
                    "refused": describe(refused.err()),
                }))
            }
        },
    );
    let inngest = serve(f).await;

    let run = run_event(&inngest, "test/failing", json!({})).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let output = run.output.clone().unwrap_or_default();
    let unreachable = output["unreachable"].as_str().unwrap_or("");
    assert!(
        unreachable.contains("Error making gateway request: Unable to reach SDK URL"),
        "{output}"
    );
    let refused = output["refused"].as_str().unwrap_or("");
    assert!(
        refused.contains("Error making AI request: unsuccessful status code: 401"),
        "{output}"
    );
    // Each failed request was a step error: made again on the retry (`retries(1)`).
    let requests: Vec<_> = run.calls.iter().flat_map(|c| c.gateway.clone()).collect();
    assert_eq!(
        requests
            .iter()
            .map(|r| (r.step_id.as_str(), r.status))
            .collect::<Vec<_>>(),
        [
            ("unreachable", None),
            ("unreachable", None),
            ("refused", Some(401)),
            ("refused", Some(401)),
        ]
    );
    let attempts: Vec<u32> = run.calls.iter().map(|c| c.attempt).collect();
    assert_eq!(attempts, [0, 1, 0, 1, 0], "{:?}", run.calls);
    assert_eq!(
        seen.lock().expect("log").len(),
        2,
        "the model was asked twice"
    );
    // Stored as the real server stores them.
    assert_eq!(
        run.steps[0].error,
        Some(json!({
            "name": "GatewayError",
            "message": "Error making gateway request: Unable to reach SDK URL",
        }))
    );
    assert_eq!(
        run.steps[1].error,
        Some(json!({
            "name": "AIGatewayError",
            "message": "Error making AI request: unsuccessful status code: 401",
            "data": {"error": {"message": "bad key"}},
            "stack": r#"{"error":{"message":"bad key"}}"#,
        }))
    );
}
