//! Golden tests for the official conformance runner's six serve cases (docs/protocol.md §9.4).
//!
//! Each test replays the request sequence the runner (through the dev server's executor)
//! sends to the fixture app, and compares every response byte for byte after the runner's
//! normalisation: `displayName`, `timing`, `userland`, `metadata` cleared; a `Sleep` whose
//! `opts.duration` is set gets it as `name` and null `opts`; errors lose `name`, `data` and
//! `cause`, and `stack` becomes a constant. `data` is compared as the raw bytes sent.
#![cfg(feature = "testing")]

use bytes::Bytes;
use http::{Method, Request, Response};
use inngest_sdk::__private::signature::{self, SigningKey};
use inngest_sdk::testing::conformance::{self, APP_ID, SIGNING_KEY};
use inngest_sdk::{Client, Config, Endpoint};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// The fixture app in dev mode with the runner's signing key, as the runner requires.
fn fixture() -> Endpoint {
    let key = SigningKey::new(SIGNING_KEY).expect("key");
    let config = Config::dev().with_signing_key(key).with_in_band_sync(true);
    let mut builder = Endpoint::builder(APP_ID, Client::new(config)).framework("axum");
    for function in conformance::functions() {
        builder = builder.function(function);
    }
    builder.build().expect("fixture builds")
}

/// One executor call and the response the runner expects.
struct Exchange {
    attempt: u32,
    /// Memo as JSON.
    steps: &'static str,
    /// Completed step hashes, in order.
    stack: &'static [&'static str],
    status: u16,
    /// `X-Inngest-No-Retry` when the runner's executor reads it.
    no_retry: Option<&'static str>,
    /// The normalised body.
    body: &'static str,
}

const FIRST_STEP: &str = "98bf98df193bcce7c33e6bc50927cf2ac21206cb";
const SECOND_STEP: &str = "764e20ec975d4ef820d0f42e6a5833384bd7ee36";
const SLEEP: &str = "c3ca5f787365eae0dea86250e27d476406956478";
const WAIT: &str = "daaad336276d15594d0e765f96c17cd746bf4971";

/// A call request shaped like the executor's: JCS (sorted keys), full `ctx`, `defers`.
fn call_body(event: &Value, exchange: &Exchange, version: i64) -> Vec<u8> {
    let body = json!({
        "ctx": {
            "attempt": exchange.attempt,
            "disable_immediate_execution": false,
            "env": "",
            "fn_id": "0b1d7c4e-5bde-4f0f-9a35-5e2f6c7d8e9f",
            "max_attempts": 5,
            "qi_id": "{q:01JRUNID}",
            "run_id": "01JCONFORMANCE0000000000000",
            "stack": {"current": exchange.stack.len(), "stack": exchange.stack},
            "step_id": "step",
            "use_api": false
        },
        "defers": {},
        "event": event,
        "events": [event],
        "steps": serde_json::from_str::<Value>(exchange.steps).expect("steps json"),
        "use_api": false,
        "version": version
    });
    // serde_json's map is ordered by key: this is the canonical form the executor signs.
    serde_json::to_vec(&body).expect("json")
}

fn trigger(name: &str, data: Value) -> Value {
    json!({"data": data, "id": "01JEVENT00000000000000000", "name": name, "ts": 1734000000000_i64, "user": {}})
}

async fn replay(function: &str, event: Value, exchanges: &[Exchange]) {
    let endpoint = fixture();
    for (i, exchange) in exchanges.iter().enumerate() {
        let version = if i == 0 { -1 } else { 2 };
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/inngest?fnId={APP_ID}-{function}&stepId=step"))
            .header("content-type", "application/json")
            .header("x-run-id", "01JCONFORMANCE0000000000000")
            .header("x-inngest-step-id", "step")
            .body(Bytes::from(call_body(&event, exchange, version)))
            .expect("request");
        let response = endpoint.handle(request).await;
        let context = format!("{function}, call {}", i + 1);
        assert_eq!(response.status().as_u16(), exchange.status, "{context}");
        assert_sdk_headers(&response, &context);
        assert_eq!(
            header(&response, "x-inngest-no-retry"),
            exchange.no_retry,
            "{context}: X-Inngest-No-Retry"
        );
        assert_eq!(normalise(&response), exchange.body, "{context}: body");
    }
}

fn header<'a>(response: &'a Response<Vec<u8>>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn assert_sdk_headers(response: &Response<Vec<u8>>, context: &str) {
    let sdk = header(response, "x-inngest-sdk").expect("X-Inngest-SDK");
    assert_eq!(sdk.matches(':').count(), 1, "{context}: {sdk}");
    assert_eq!(
        header(response, "x-inngest-req-version"),
        Some("2"),
        "{context}"
    );
    assert_eq!(
        header(response, "content-type"),
        Some("application/json"),
        "{context}"
    );
}

#[derive(Deserialize, Serialize)]
struct NormOp {
    id: String,
    op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    opts: Option<Value>,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<NormError>,
}

#[derive(Deserialize, Serialize)]
struct NormError {
    #[serde(default)]
    message: String,
    #[serde(rename = "noRetry", default, skip_serializing_if = "Option::is_none")]
    no_retry: Option<bool>,
    #[serde(default)]
    stack: Option<String>,
}

/// The runner's normalisation (docs/protocol.md §9.4) of a `206` body; other bodies are compared as
/// they are.
fn normalise(response: &Response<Vec<u8>>) -> String {
    let text = std::str::from_utf8(response.body()).expect("utf-8 body");
    if response.status() != 206 {
        return text.to_owned();
    }
    let mut ops: Vec<NormOp> = serde_json::from_str(text).expect("206 body is an op array");
    for op in &mut ops {
        if op.op == "Sleep" {
            let duration = op
                .opts
                .as_ref()
                .and_then(|o| o.get("duration"))
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .map(str::to_owned);
            if let Some(duration) = duration {
                op.name = Some(duration);
                op.opts = None;
            }
        }
        if let Some(error) = &mut op.error {
            error.stack = Some("<stack>".to_owned());
        }
    }
    serde_json::to_string(&ops).expect("json")
}

#[tokio::test]
async fn serve_introspection_in_band_sync_matches_the_runner() {
    let endpoint = fixture();
    let key = SigningKey::new(SIGNING_KEY).expect("key");
    let body = br#"{"url":"http://127.0.0.1:9999"}"#;
    let now = chrono::Utc::now().timestamp();
    let request = Request::builder()
        .method(Method::PUT)
        .uri("/api/inngest")
        .header("content-type", "application/json")
        .header("x-inngest-sync-kind", "in_band")
        .header("x-inngest-server-kind", "dev")
        .header("x-inngest-signature", key.sign(body, now))
        .body(Bytes::from_static(body))
        .expect("request");
    let response = endpoint.handle(request).await;
    assert_eq!(response.status(), 200);
    assert_sdk_headers(&response, "in-band sync");
    assert_eq!(header(&response, "x-inngest-sync-kind"), Some("in_band"));
    // The response is signed with the key that validated the request (docs/protocol.md §3.2).
    let signature = header(&response, "x-inngest-signature").expect("signed response");
    assert!(signature::verify(Some(signature), response.body(), now, &[&key]).is_ok());

    let expected = concat!(
        r#"{"app_id":"rust-conformance","env":null,"framework":"axum","functions":["#,
        r#"{"id":"rust-conformance-test-suite-simple-fn","name":"test-suite-simple-fn","triggers":[{"event":"tests/function.test"}],"steps":{"step":{"id":"step","name":"step","runtime":{"type":"http","url":"http://127.0.0.1:9999/?fnId=rust-conformance-test-suite-simple-fn&stepId=step"}}}},"#,
        r#"{"id":"rust-conformance-test-suite-step-test","name":"test-suite-step-test","triggers":[{"event":"tests/step.test"}],"steps":{"step":{"id":"step","name":"step","runtime":{"type":"http","url":"http://127.0.0.1:9999/?fnId=rust-conformance-test-suite-step-test&stepId=step"}}}},"#,
        r#"{"id":"rust-conformance-test-suite-retry-test","name":"test-suite-retry-test","triggers":[{"event":"tests/retry.test"}],"steps":{"step":{"id":"step","name":"step","runtime":{"type":"http","url":"http://127.0.0.1:9999/?fnId=rust-conformance-test-suite-retry-test&stepId=step"}}}},"#,
        r#"{"id":"rust-conformance-test-suite-cancel-test","name":"test-suite-cancel-test","triggers":[{"event":"tests/cancel.test"}],"steps":{"step":{"id":"step","name":"step","runtime":{"type":"http","url":"http://127.0.0.1:9999/?fnId=rust-conformance-test-suite-cancel-test&stepId=step"}}},"cancel":[{"event":"cancel/please","if":"async.data.request_id == event.data.request_id"}]},"#,
        r#"{"id":"rust-conformance-test-suite-wait-for-event","name":"test-suite-wait-for-event","triggers":[{"event":"tests/wait.test"}],"steps":{"step":{"id":"step","name":"step","runtime":{"type":"http","url":"http://127.0.0.1:9999/?fnId=rust-conformance-test-suite-wait-for-event&stepId=step"}}}}],"#,
        r#""inspection":{"schema_version":"2024-05-24","authentication_succeeded":true,"function_count":5,"has_event_key":false,"has_signing_key":true,"has_signing_key_fallback":false,"mode":"dev","extra":{},"capabilities":{"in_band_sync":"v1","trust_probe":"v1"},"#,
        r#""api_origin":"http://127.0.0.1:8288/","app_id":"rust-conformance","env":null,"event_api_origin":"http://127.0.0.1:8288/","event_key_hash":null,"framework":"axum","sdk_language":"rust","sdk_version":"#,
        "\"",
        env!("CARGO_PKG_VERSION"),
        "\",",
        r#""serve_origin":null,"serve_path":null,"signing_key_hash":"ed30c63423735b44011c49a38c01a8062833420cfb299072e0263c986242556a","signing_key_fallback_hash":null},"#,
        r#""platform":null,"sdk_author":"inngest","sdk_language":"rust","sdk_version":"#,
        "\"",
        env!("CARGO_PKG_VERSION"),
        "\",",
        r#""url":"http://127.0.0.1:9999/","capabilities":{"in_band_sync":"v1","trust_probe":"v1"}}"#,
    );
    assert_eq!(
        std::str::from_utf8(response.body()).expect("utf-8"),
        expected
    );

    // What the runner reads: app_id, functions indexed by id, url, sdk_language,
    // sdk_version, platform; every step URL carries fnId (docs/protocol.md §9.3).
    let json: Value = serde_json::from_slice(response.body()).expect("json");
    for slug in [
        "test-suite-simple-fn",
        "test-suite-step-test",
        "test-suite-retry-test",
        "test-suite-cancel-test",
        "test-suite-wait-for-event",
    ] {
        let function = json["functions"]
            .as_array()
            .expect("functions")
            .iter()
            .find(|f| {
                f["id"]
                    .as_str()
                    .is_some_and(|id| id.ends_with(&format!("-{slug}")))
            })
            .unwrap_or_else(|| panic!("fixture function {slug}"));
        let url = function["steps"]["step"]["runtime"]["url"]
            .as_str()
            .expect("url");
        assert!(url.contains(&format!("fnId={APP_ID}-{slug}")), "{url}");
    }
}

#[tokio::test]
async fn serve_introspection_plain_get_is_healthy_in_dev_mode() {
    let request = Request::builder()
        .method(Method::GET)
        .uri("/api/inngest")
        .body(Bytes::new())
        .expect("request");
    let response = fixture().handle(request).await;
    assert_eq!(response.status(), 200);
    let json: Value = serde_json::from_slice(response.body()).expect("json");
    assert_eq!(json["function_count"], 5);
    assert_eq!(json["mode"], "dev");
    assert_eq!(json["authentication_succeeded"], Value::Null);
}

#[tokio::test]
async fn basic_invoke_returns_the_event_name() {
    replay(
        "test-suite-simple-fn",
        trigger("tests/function.test", json!({})),
        &[Exchange {
            attempt: 0,
            steps: "{}",
            stack: &[],
            status: 200,
            no_retry: None,
            body: r#"{"body":"ok","name":"tests/function.test"}"#,
        }],
    )
    .await;
}

#[tokio::test]
async fn steps_serial_runs_inline_sleeps_and_completes() {
    replay(
        "test-suite-step-test",
        trigger("tests/step.test", json!({"steps": {"ok": "yes"}})),
        &[
            Exchange {
                attempt: 0,
                steps: "{}",
                stack: &[],
                status: 206,
                no_retry: None,
                body: r#"[{"id":"98bf98df193bcce7c33e6bc50927cf2ac21206cb","op":"StepRun","name":"first step","data":"first step"}]"#,
            },
            Exchange {
                attempt: 0,
                steps: r#"{"98bf98df193bcce7c33e6bc50927cf2ac21206cb":{"data":"first step"}}"#,
                stack: &[FIRST_STEP],
                status: 206,
                no_retry: None,
                body: r#"[{"id":"c3ca5f787365eae0dea86250e27d476406956478","op":"Sleep","name":"2s","data":null}]"#,
            },
            Exchange {
                attempt: 0,
                steps: r#"{"98bf98df193bcce7c33e6bc50927cf2ac21206cb":{"data":"first step"},"c3ca5f787365eae0dea86250e27d476406956478":null}"#,
                stack: &[FIRST_STEP, SLEEP],
                status: 206,
                no_retry: None,
                body: r#"[{"id":"764e20ec975d4ef820d0f42e6a5833384bd7ee36","op":"StepRun","name":"second step","data":{"first":"first step","second":true}}]"#,
            },
            Exchange {
                attempt: 0,
                steps: r#"{"764e20ec975d4ef820d0f42e6a5833384bd7ee36":{"data":{"first":"first step","second":true}},"98bf98df193bcce7c33e6bc50927cf2ac21206cb":{"data":"first step"},"c3ca5f787365eae0dea86250e27d476406956478":null}"#,
                stack: &[FIRST_STEP, SLEEP, SECOND_STEP],
                status: 200,
                no_retry: None,
                body: r#"{"body":"ok","name":"tests/step.test"}"#,
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn retry_basic_reports_step_error_then_function_error_then_succeeds() {
    replay(
        "test-suite-retry-test",
        trigger("tests/retry.test", json!({})),
        &[
            Exchange {
                attempt: 0,
                steps: "{}",
                stack: &[],
                status: 206,
                no_retry: Some("false"),
                body: r#"[{"id":"98bf98df193bcce7c33e6bc50927cf2ac21206cb","op":"StepError","name":"first step","data":null,"error":{"message":"broken","stack":"<stack>"}}]"#,
            },
            Exchange {
                attempt: 1,
                steps: "{}",
                stack: &[],
                status: 206,
                no_retry: None,
                body: r#"[{"id":"98bf98df193bcce7c33e6bc50927cf2ac21206cb","op":"StepRun","name":"first step","data":"yes: 2"}]"#,
            },
            Exchange {
                attempt: 0,
                steps: r#"{"98bf98df193bcce7c33e6bc50927cf2ac21206cb":{"data":"yes: 2"}}"#,
                stack: &[FIRST_STEP],
                status: 500,
                no_retry: Some("false"),
                body: r#"{"name":"Error","message":"broken func"}"#,
            },
            Exchange {
                attempt: 1,
                steps: r#"{"98bf98df193bcce7c33e6bc50927cf2ac21206cb":{"data":"yes: 2"}}"#,
                stack: &[FIRST_STEP],
                status: 200,
                no_retry: None,
                body: r#"{"body":"ok","name":"tests/retry.test"}"#,
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn cancel_basic_reports_the_ten_second_sleep() {
    replay(
        "test-suite-cancel-test",
        trigger("tests/cancel.test", json!({"request_id": "req-1"})),
        &[Exchange {
            attempt: 0,
            steps: "{}",
            stack: &[],
            status: 206,
            no_retry: None,
            body: r#"[{"id":"c3ca5f787365eae0dea86250e27d476406956478","op":"Sleep","name":"10s","data":null}]"#,
        }],
    )
    .await;
}

#[tokio::test]
async fn wait_for_event_basic_reports_the_wait_then_returns_the_resume_data() {
    replay(
        "test-suite-wait-for-event",
        trigger("tests/wait.test", json!({"id": "123"})),
        &[
            Exchange {
                attempt: 0,
                steps: "{}",
                stack: &[],
                status: 206,
                no_retry: None,
                body: r#"[{"id":"daaad336276d15594d0e765f96c17cd746bf4971","op":"WaitForEvent","name":"wait","opts":{"event":"test/resume","if":"async.data.resume == true && async.data.id == event.data.id","timeout":"10s"},"data":null}]"#,
            },
            Exchange {
                attempt: 0,
                steps: r#"{"daaad336276d15594d0e765f96c17cd746bf4971":{"data":{"id":"123","resume":true},"id":"01JRESUME0000000000000000","name":"test/resume","ts":1734000001000,"user":{}}}"#,
                stack: &[WAIT],
                status: 200,
                no_retry: None,
                body: r#"{"result":{"id":"123","resume":true}}"#,
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn wait_for_event_basic_times_out_to_an_empty_object() {
    replay(
        "test-suite-wait-for-event",
        trigger("tests/wait.test", json!({"id": "123"})),
        &[Exchange {
            attempt: 0,
            steps: r#"{"daaad336276d15594d0e765f96c17cd746bf4971":null}"#,
            stack: &[WAIT],
            status: 200,
            no_retry: None,
            body: "{}",
        }],
    )
    .await;
}
