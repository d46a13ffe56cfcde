//! The serve endpoint as the executor and the dev server see it: status codes, headers,
//! bodies, signatures, sync and the step protocol (docs/protocol.md §5–§7, checklist §12).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use inngest_sdk::{
    Client, Config, Endpoint, Error, Event, Function, FunctionOpts, FunctionRef, Input, SigningKey,
    Step, Trigger, WaitForEvent,
};
use serde_json::{Value, json};

const KEY: &str = "signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f";
const FALLBACK: &str =
    "signkey-test-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn key(k: &str) -> SigningKey {
    SigningKey::new(k).expect("key")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn endpoint(config: Config, functions: Vec<Function>) -> Endpoint {
    let mut builder = Endpoint::builder("app", Client::new(config).with_send_attempts(1));
    for f in functions {
        builder = builder.function(f);
    }
    builder.build().expect("endpoint")
}

fn request(method: Method, uri: &str, body: impl Into<Bytes>) -> Request<Bytes> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "app.example.com")
        .header("content-type", "application/json")
        .body(body.into())
        .expect("request")
}

fn signed(mut req: Request<Bytes>, k: &str, t: i64) -> Request<Bytes> {
    let value = key(k).sign(req.body(), t);
    req.headers_mut()
        .insert("x-inngest-signature", value.parse().expect("header"));
    req
}

fn header<'a>(res: &'a Response<Vec<u8>>, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

fn body_json(res: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(res.body()).expect("json body")
}

fn body_text(res: &Response<Vec<u8>>) -> &str {
    std::str::from_utf8(res.body()).expect("utf-8")
}

/// A call request body as the executor sends it.
fn call(event: Value, steps: Value, attempt: u32, disable_immediate: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ctx": {"attempt": attempt, "disable_immediate_execution": disable_immediate, "env": "",
                "fn_id": "uuid", "max_attempts": 3, "run_id": "01JRUN", "stack": {"current": 0, "stack": []},
                "step_id": "step", "use_api": false},
        "event": event, "events": [event], "steps": steps, "use_api": false, "version": 2
    }))
    .expect("json")
}

fn ev(data: Value) -> Value {
    json!({"name": "demo/event", "data": data, "id": "e1", "ts": 1, "user": {}})
}

/// A function that counts how often its code ran, to prove that refused requests run nothing.
fn counting(counter: Arc<AtomicUsize>) -> Function {
    Function::new(
        FunctionOpts::new("count").trigger(Trigger::event("demo/event")),
        move |_input: Input<Value>, _step: Step| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Error>("ran") }
        },
    )
}

fn cloud() -> Config {
    Config::cloud(key(KEY))
}

#[tokio::test]
async fn cloud_post_without_signature_is_401_and_runs_nothing() {
    let counter = Arc::new(AtomicUsize::new(0));
    let ep = endpoint(cloud(), vec![counting(counter.clone())]);
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-count&stepId=step",
            call(ev(json!({})), json!({}), 0, false),
        ))
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(body_text(&res), r#"{"message":"Unauthorized"}"#);
    assert!(
        res.headers().get("x-inngest-sdk").is_none(),
        "no fingerprint on 401"
    );
    assert_eq!(counter.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cloud_post_with_a_forged_signature_tampered_body_or_old_timestamp_runs_nothing() {
    let counter = Arc::new(AtomicUsize::new(0));
    let ep = endpoint(cloud(), vec![counting(counter.clone())]);
    let uri = "/api/inngest?fnId=app-count&stepId=step";
    let body = call(ev(json!({})), json!({}), 0, false);

    let wrong_key = signed(request(Method::POST, uri, body.clone()), FALLBACK, now());
    assert_eq!(ep.handle(wrong_key).await.status(), 401);

    let mut tampered = signed(request(Method::POST, uri, body.clone()), KEY, now());
    *tampered.body_mut() = Bytes::from(call(ev(json!({"x": 1})), json!({}), 0, false));
    assert_eq!(ep.handle(tampered).await.status(), 401);

    let stale = signed(request(Method::POST, uri, body.clone()), KEY, now() - 301);
    assert_eq!(ep.handle(stale).await.status(), 401);
    let future = signed(request(Method::POST, uri, body), KEY, now() + 301);
    assert_eq!(ep.handle(future).await.status(), 401);

    assert_eq!(counter.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cloud_post_signed_with_primary_or_fallback_key_runs_and_the_response_is_signed() {
    let counter = Arc::new(AtomicUsize::new(0));
    let config = cloud().with_signing_key_fallback(key(FALLBACK));
    let ep = endpoint(config, vec![counting(counter.clone())]);
    let uri = "/api/inngest?fnId=app-count&stepId=step";
    for k in [KEY, FALLBACK] {
        let res = ep
            .handle(signed(
                request(Method::POST, uri, call(ev(json!({})), json!({}), 0, false)),
                k,
                now(),
            ))
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(body_text(&res), r#""ran""#);
        let signature = header(&res, "x-inngest-signature").expect("signed response");
        let verified = inngest_sdk::__private::signature::verify(
            Some(signature),
            res.body(),
            now(),
            &[&key(k)],
        );
        assert!(verified.is_ok(), "response signed with the validating key");
    }
    assert_eq!(counter.load(Ordering::SeqCst), 2);
}

#[test]
fn cloud_mode_without_signing_key_is_a_build_error() {
    let config = Config::from_lookup(|_| None).expect("cloud defaults");
    assert_eq!(config.mode(), inngest_sdk::Mode::Cloud);
    let built = Endpoint::builder("app", Client::new(config))
        .function(counting(Arc::default()))
        .build();
    let error = built.expect_err("no endpoint without a signing key in cloud mode");
    assert!(
        matches!(error, inngest_sdk::BuildError::MissingSigningKey),
        "{error:?}"
    );
    assert!(error.to_string().contains("INNGEST_SIGNING_KEY"), "{error}");
}

#[test]
fn dev_mode_without_signing_key_builds() {
    let config =
        Config::from_lookup(|name| (name == "INNGEST_DEV").then(|| "1".to_owned())).expect("dev");
    let built = Endpoint::builder("app", Client::new(config))
        .function(counting(Arc::default()))
        .build();
    assert!(built.is_ok());
}

#[tokio::test]
async fn dev_mode_executes_unsigned_calls() {
    let counter = Arc::new(AtomicUsize::new(0));
    let ep = endpoint(Config::dev(), vec![counting(counter.clone())]);
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-count&stepId=step",
            call(ev(json!({})), json!({}), 0, false),
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(counter.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn other_methods_are_405_with_sdk_headers() {
    let ep = endpoint(Config::dev(), vec![]);
    let res = ep.handle(request(Method::DELETE, "/api/inngest", "")).await;
    assert_eq!(res.status(), 405);
    assert!(header(&res, "x-inngest-sdk").is_some());
}

#[tokio::test]
async fn cloud_introspection_needs_a_signature_and_then_shows_hashes_not_keys() {
    let config = cloud()
        .with_signing_key_fallback(key(FALLBACK))
        .with_event_key(inngest_sdk::EventKey::new("test"))
        .with_env("preview");
    let ep = endpoint(config, vec![counting(Arc::default())]);
    let unsigned = ep.handle(request(Method::GET, "/api/inngest", "")).await;
    assert_eq!(unsigned.status(), 401);

    let res = ep
        .handle(signed(request(Method::GET, "/api/inngest", ""), KEY, now()))
        .await;
    assert_eq!(res.status(), 200);
    let json = body_json(&res);
    assert_eq!(json["authentication_succeeded"], true);
    assert_eq!(json["mode"], "cloud");
    assert_eq!(json["function_count"], 1);
    assert_eq!(json["app_id"], "app");
    assert_eq!(json["env"], "preview");
    assert_eq!(json["sdk_language"], "rust");
    assert_eq!(
        json["event_key_hash"],
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
    assert_eq!(
        json["signing_key_hash"],
        "signkey-test-1492131fd84363f17ec5fa7d96ca1b2d6558cb77c648920b96c99966f6ecffd9"
    );
    assert!(json["signing_key_fallback_hash"].is_string());
    let text = body_text(&res);
    assert!(
        !text.contains("f00f3005a3666b359a79c2bc3380ce27"),
        "raw key never shown"
    );
    let allowed = [
        "schema_version",
        "authentication_succeeded",
        "function_count",
        "has_event_key",
        "has_signing_key",
        "has_signing_key_fallback",
        "mode",
        "extra",
        "capabilities",
        "api_origin",
        "app_id",
        "env",
        "event_api_origin",
        "event_key_hash",
        "framework",
        "sdk_language",
        "sdk_version",
        "serve_origin",
        "serve_path",
        "signing_key_hash",
        "signing_key_fallback_hash",
    ];
    for k in json.as_object().expect("object").keys() {
        assert!(
            allowed.contains(&k.as_str()),
            "unexpected introspection key {k}"
        );
    }
}

#[tokio::test]
async fn dev_introspection_is_unauthenticated() {
    let ep = endpoint(Config::dev(), vec![counting(Arc::default())]);
    let res = ep.handle(request(Method::GET, "/api/inngest", "")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        body_text(&res),
        r#"{"schema_version":"2024-05-24","authentication_succeeded":null,"function_count":1,"has_event_key":false,"has_signing_key":false,"has_signing_key_fallback":false,"mode":"dev","extra":{},"capabilities":{"in_band_sync":"v1","trust_probe":"v1"}}"#
    );
}

#[tokio::test]
async fn trust_probe_is_200_when_signed_and_unknown_probes_are_400() {
    let ep = endpoint(cloud(), vec![]);
    let ok = ep
        .handle(signed(
            request(Method::POST, "/api/inngest?probe=trust", ""),
            KEY,
            now(),
        ))
        .await;
    assert_eq!(ok.status(), 200);
    assert!(header(&ok, "x-inngest-signature").is_some());
    let unsigned = ep
        .handle(request(Method::POST, "/api/inngest?probe=trust", ""))
        .await;
    assert_eq!(unsigned.status(), 401);
    let unknown = ep
        .handle(signed(
            request(Method::POST, "/api/inngest?probe=nope", ""),
            KEY,
            now(),
        ))
        .await;
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn unknown_function_is_a_500_json_error() {
    let ep = endpoint(Config::dev(), vec![]);
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-nope&stepId=step",
            call(ev(json!({})), json!({}), 0, false),
        ))
        .await;
    assert_eq!(res.status(), 500);
    assert!(
        body_json(&res)["message"]
            .as_str()
            .expect("message")
            .contains("app-nope")
    );
}

#[tokio::test]
async fn malformed_bodies_are_a_400_json_error_and_run_nothing() {
    let counter = Arc::new(AtomicUsize::new(0));
    let ep = endpoint(Config::dev(), vec![counting(counter.clone())]);
    for body in [
        &b""[..],
        b"{",
        b"[]",
        b"{\"ctx\":5}",
        b"\xff\xfe",
        b"{\"event\":{\"name\":1},\"ctx\":{}}",
    ] {
        let res = ep
            .handle(request(
                Method::POST,
                "/api/inngest?fnId=app-count&stepId=step",
                Bytes::copy_from_slice(body),
            ))
            .await;
        assert_eq!(res.status(), 400, "body {body:?}");
        assert_eq!(header(&res, "content-type"), Some("application/json"));
        assert_eq!(header(&res, "x-inngest-no-retry"), Some("true"));
        assert!(body_json(&res)["message"].is_string());
    }
    assert_eq!(counter.load(Ordering::SeqCst), 0);
}

fn steps_fn() -> Function {
    Function::new(
        FunctionOpts::new("steps").trigger(Trigger::event("demo/event")),
        |_input: Input<Value>, step: Step| async move {
            let a: u32 = step.run("a", || async { Ok::<_, Error>(1) }).await?;
            let b: u32 = step.run("a", || async { Ok::<_, Error>(2) }).await?;
            Ok::<_, Error>(a + b)
        },
    )
}

#[tokio::test]
async fn disable_immediate_execution_plans_the_step_without_running_it() {
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = ran.clone();
    let f = Function::new(
        FunctionOpts::new("planned").trigger(Trigger::event("demo/event")),
        move |_input: Input<Value>, step: Step| {
            let counter = counter.clone();
            async move {
                step.run("work", move || async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(())
                })
                .await?;
                Ok::<_, Error>(())
            }
        },
    );
    let ep = endpoint(Config::dev(), vec![f]);
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-planned&stepId=step",
            call(ev(json!({})), json!({}), 0, true),
        ))
        .await;
    assert_eq!(res.status(), 206);
    assert_eq!(
        body_text(&res),
        r#"[{"id":"e274eeff768c6396088ec6eb091f4bf4d47ab1e0","op":"StepPlanned","name":"work","displayName":"work","data":null}]"#
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn repeated_step_ids_are_hashed_with_a_repeat_suffix() {
    let ep = endpoint(Config::dev(), vec![steps_fn()]);
    let first = inngest_sdk::__private::hash::hash_step_id("a");
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-steps&stepId=step",
            call(
                ev(json!({})),
                json!({ first.clone(): {"data": 1} }),
                0,
                false,
            ),
        ))
        .await;
    assert_eq!(res.status(), 206);
    let ops = body_json(&res);
    assert_eq!(
        ops[0]["id"],
        inngest_sdk::__private::hash::hash_step_id("a:1")
    );
    assert_eq!(ops[0]["op"], "StepRun");
    assert_eq!(ops[0]["data"], 2);
    assert_eq!(ops[0]["userland"], json!({"id": "a", "index": 1}));

    let second = inngest_sdk::__private::hash::hash_step_id("a:1");
    let done = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-steps&stepId=step",
            call(
                ev(json!({})),
                json!({ first: {"data": 1}, second: {"data": 2} }),
                0,
                false,
            ),
        ))
        .await;
    assert_eq!(done.status(), 200);
    assert_eq!(body_text(&done), "3");
}

fn parallel_fn(runs: Arc<Mutex<Vec<String>>>) -> Function {
    Function::new(
        FunctionOpts::new("parallel").trigger(Trigger::event("demo/event")),
        move |_input: Input<Value>, step: Step| {
            let runs = runs.clone();
            async move {
                let r1 = runs.clone();
                let r2 = runs.clone();
                let a = step.run("left", move || async move {
                    r1.lock().expect("lock").push("left".into());
                    Ok::<_, Error>("L".to_owned())
                });
                let b = step.run("right", move || async move {
                    r2.lock().expect("lock").push("right".into());
                    Ok::<_, Error>("R".to_owned())
                });
                let c = step.sleep("nap", Duration::from_secs(60));
                let (a, b, ()) = tokio::join!(a, b, c);
                Ok::<_, Error>(format!("{}{}", a?, b?))
            }
        },
    )
}

#[tokio::test]
async fn parallel_steps_are_reported_together_and_run_one_by_one_when_targeted() {
    let runs = Arc::new(Mutex::new(Vec::new()));
    let ep = endpoint(Config::dev(), vec![parallel_fn(runs.clone())]);
    let uri = "/api/inngest?fnId=app-parallel&stepId=step";
    let res = ep
        .handle(request(
            Method::POST,
            uri,
            call(ev(json!({})), json!({}), 0, false),
        ))
        .await;
    assert_eq!(res.status(), 206);
    let ops = body_json(&res);
    let kinds: Vec<_> = ops
        .as_array()
        .expect("ops")
        .iter()
        .map(|o| (o["op"].clone(), o["name"].clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (json!("StepPlanned"), json!("left")),
            (json!("StepPlanned"), json!("right")),
            (json!("Sleep"), json!("nap")),
        ]
    );
    assert!(
        runs.lock().expect("lock").is_empty(),
        "discovery runs no body"
    );

    let right = inngest_sdk::__private::hash::hash_step_id("right");
    let res = ep
        .handle(request(
            Method::POST,
            &format!("/api/inngest?fnId=app-parallel&stepId={right}"),
            call(ev(json!({})), json!({}), 0, true),
        ))
        .await;
    assert_eq!(res.status(), 206);
    assert_eq!(
        body_json(&res),
        json!([{"id": right, "op": "StepRun", "name": "right", "displayName": "right", "data": "R"}])
    );
    assert_eq!(*runs.lock().expect("lock"), vec!["right".to_owned()]);
}

#[tokio::test(start_paused = true)]
async fn a_targeted_step_that_is_never_reached_is_a_retriable_500() {
    let ep = endpoint(Config::dev(), vec![steps_fn()]);
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-steps&stepId=0000000000000000000000000000000000000000",
            call(ev(json!({})), json!({}), 0, true),
        ))
        .await;
    assert_eq!(res.status(), 500);
    assert_eq!(header(&res, "x-inngest-no-retry"), Some("false"));
    let json = body_json(&res);
    assert_eq!(
        json["requestedStep"],
        "0000000000000000000000000000000000000000"
    );
    assert!(!body_text(&res).contains("StepNotFound"));
}

fn failing_fn(error: fn() -> Error) -> Function {
    Function::new(
        FunctionOpts::new("failing")
            .trigger(Trigger::event("demo/event"))
            .retries(2),
        move |_input: Input<Value>, step: Step| async move {
            step.run("charge", move || async move { Err::<(), _>(error()) })
                .await?;
            Ok::<_, Error>(())
        },
    )
}

#[tokio::test]
async fn a_failing_step_is_a_step_error_until_the_last_attempt_then_step_failed() {
    let ep = endpoint(
        Config::dev(),
        vec![failing_fn(|| Error::new("card declined"))],
    );
    let uri = "/api/inngest?fnId=app-failing&stepId=step";
    let res = ep
        .handle(request(
            Method::POST,
            uri,
            call(ev(json!({})), json!({}), 0, false),
        ))
        .await;
    assert_eq!(res.status(), 206);
    assert_eq!(header(&res, "x-inngest-no-retry"), Some("false"));
    let op = &body_json(&res)[0];
    assert_eq!(op["op"], "StepError");
    assert_eq!(
        op["error"],
        json!({"name": "Error", "message": "card declined"})
    );
    assert_eq!(op["data"], Value::Null);

    // max_attempts is 3 in `call`: attempt 2 is the last.
    let res = ep
        .handle(request(
            Method::POST,
            uri,
            call(ev(json!({})), json!({}), 2, false),
        ))
        .await;
    assert_eq!(header(&res, "x-inngest-no-retry"), Some("true"));
    assert_eq!(body_json(&res)[0]["op"], "StepFailed");
}

#[tokio::test]
async fn a_non_retriable_step_error_fails_the_step_at_once() {
    let ep = endpoint(
        Config::dev(),
        vec![failing_fn(|| Error::non_retriable("fraud"))],
    );
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-failing&stepId=step",
            call(ev(json!({})), json!({}), 0, false),
        ))
        .await;
    assert_eq!(body_json(&res)[0]["op"], "StepFailed");
    assert_eq!(header(&res, "x-inngest-no-retry"), Some("true"));
}

#[tokio::test]
async fn a_retry_after_step_error_carries_retry_after() {
    let ep = endpoint(
        Config::dev(),
        vec![failing_fn(|| {
            Error::retry_after("rate limited", Duration::from_secs(30))
        })],
    );
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-failing&stepId=step",
            call(ev(json!({})), json!({}), 0, false),
        ))
        .await;
    assert_eq!(body_json(&res)[0]["op"], "StepError");
    // 30 s asked, plus the time the call took rounded up, plus a second of margin: never
    // earlier than asked.
    assert!(
        matches!(header(&res, "retry-after"), Some("31" | "32")),
        "{:?}",
        header(&res, "retry-after")
    );
}

#[tokio::test]
async fn an_uncaught_memoized_step_error_fails_the_run_without_retry() {
    let ep = endpoint(Config::dev(), vec![failing_fn(|| Error::new("unused"))]);
    let charge = inngest_sdk::__private::hash::hash_step_id("charge");
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-failing&stepId=step",
            call(ev(json!({})), json!({ charge: {"error": {"name": "CardError", "message": "declined", "stack": "s"}} }), 0, false),
        ))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(header(&res, "x-inngest-no-retry"), Some("true"));
    assert_eq!(body_json(&res)["message"], "declined");
    assert_eq!(body_json(&res)["name"], "CardError");
}

#[tokio::test]
async fn a_caught_step_error_lets_the_function_decide() {
    let f = Function::new(
        FunctionOpts::new("catching").trigger(Trigger::event("demo/event")),
        |_input: Input<Value>, step: Step| async move {
            match step.run("charge", || async { Ok::<u32, Error>(1) }).await {
                Ok(_) => Ok::<_, Error>("paid".to_owned()),
                Err(e) => Ok(format!("fallback after {}", e.message())),
            }
        },
    );
    let ep = endpoint(Config::dev(), vec![f]);
    let charge = inngest_sdk::__private::hash::hash_step_id("charge");
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-catching&stepId=step",
            call(
                ev(json!({})),
                json!({ charge: {"error": {"name": "Error", "message": "declined"}} }),
                0,
                false,
            ),
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(body_text(&res), r#""fallback after declined""#);
}

#[tokio::test]
async fn function_errors_map_to_500_400_and_retry_after() {
    type Case = (
        fn() -> Error,
        u16,
        Option<&'static str>,
        Option<&'static str>,
    );
    let cases: [Case; 3] = [
        (|| Error::new("broken func"), 500, Some("false"), None),
        (|| Error::non_retriable("gave up"), 400, Some("true"), None),
        (
            || Error::retry_after("later", Duration::from_secs(90)),
            500,
            Some("false"),
            // 90 s asked, plus the call's time rounded up, plus a second of margin.
            Some("92"),
        ),
    ];
    for (make, status, no_retry, retry_after) in cases {
        let f = Function::new(
            FunctionOpts::new("fails").trigger(Trigger::event("demo/event")),
            move |_input: Input<Value>, _step: Step| async move { Err::<(), _>(make()) },
        );
        let ep = endpoint(Config::dev(), vec![f]);
        let res = ep
            .handle(request(
                Method::POST,
                "/api/inngest?fnId=app-fails&stepId=step",
                call(ev(json!({})), json!({}), 0, false),
            ))
            .await;
        assert_eq!(res.status().as_u16(), status);
        assert_eq!(header(&res, "x-inngest-no-retry"), no_retry);
        match retry_after {
            Some(at_most) => {
                let value: u64 = header(&res, "retry-after")
                    .and_then(|v| v.parse().ok())
                    .expect("a Retry-After in seconds");
                let at_most: u64 = at_most.parse().expect("seconds");
                assert!((at_most - 1..=at_most).contains(&value), "{value}");
            }
            None => assert_eq!(header(&res, "retry-after"), None),
        }
        assert_eq!(body_json(&res)["name"], "Error");
    }
}

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Order {
    order_id: String,
}

#[tokio::test]
async fn an_event_that_does_not_match_the_type_is_a_non_retriable_error() {
    let f = Function::new(
        FunctionOpts::new("typed").trigger(Trigger::event("demo/event")),
        |input: Input<Order>, _step: Step| async move { Ok::<_, Error>(input.event.data.order_id) },
    );
    let ep = endpoint(Config::dev(), vec![f]);
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-typed&stepId=step",
            call(ev(json!({"order": 1})), json!({}), 0, false),
        ))
        .await;
    assert_eq!(res.status(), 400);
    assert!(
        body_json(&res)["message"]
            .as_str()
            .expect("msg")
            .contains("order_id")
    );
}

fn waiting_fn() -> Function {
    Function::new(
        FunctionOpts::new("waiting").trigger(Trigger::event("demo/event")),
        |_input: Input<Value>, step: Step| async move {
            let got = step
                .wait_for_event::<Order>(
                    "wait-order",
                    WaitForEvent::new("shop/order", Duration::from_secs(48 * 3600))
                        .if_exp("async.data.id == event.data.id"),
                )
                .await?;
            Ok::<_, Error>(got.map(|e| e.data.order_id))
        },
    )
}

#[tokio::test]
async fn wait_for_event_reports_its_op_and_decodes_the_event_or_times_out() {
    let ep = endpoint(Config::dev(), vec![waiting_fn()]);
    let uri = "/api/inngest?fnId=app-waiting&stepId=step";
    let res = ep
        .handle(request(
            Method::POST,
            uri,
            call(ev(json!({})), json!({}), 0, false),
        ))
        .await;
    let wait = inngest_sdk::__private::hash::hash_step_id("wait-order");
    assert_eq!(
        body_json(&res),
        json!([{"id": wait, "op": "WaitForEvent", "name": "wait-order", "displayName": "wait-order", "data": null,
                "opts": {"event": "shop/order", "timeout": "2d", "if": "async.data.id == event.data.id"}}])
    );
    let timed_out = ep
        .handle(request(
            Method::POST,
            uri,
            call(ev(json!({})), json!({ wait.clone(): null }), 0, false),
        ))
        .await;
    assert_eq!(body_text(&timed_out), "null");
    let matched = ep
        .handle(request(Method::POST, uri, call(ev(json!({})), json!({ wait.clone(): {"name": "shop/order", "data": {"order_id": "o1"}, "id": "x", "ts": 2, "user": {}} }), 0, false)))
        .await;
    assert_eq!(body_text(&matched), r#""o1""#);
    // An event that does not decode is an error, never a silent timeout.
    let bad = ep
        .handle(request(
            Method::POST,
            uri,
            call(
                ev(json!({})),
                json!({ wait: {"name": "shop/order", "data": {"other": 1}, "ts": 2} }),
                0,
                false,
            ),
        ))
        .await;
    assert_eq!(
        bad.status(),
        400,
        "the stored event is the same on every retry"
    );
    assert!(
        body_json(&bad)["message"]
            .as_str()
            .expect("msg")
            .contains("wait-order")
    );
}

#[tokio::test]
async fn invoke_reports_the_target_composite_id_and_payload_and_returns_typed_output() {
    const OTHER: FunctionRef<Order, u32> = FunctionRef::new("other");
    let f = Function::new(
        FunctionOpts::new("caller").trigger(Trigger::event("demo/event")),
        |_input: Input<Value>, step: Step| async move {
            let n = step
                .invoke(
                    "call-other",
                    &OTHER,
                    &Order {
                        order_id: "o1".into(),
                    },
                    Some(Duration::from_secs(3600)),
                )
                .await?;
            Ok::<_, Error>(n * 2)
        },
    );
    let ep = endpoint(Config::dev(), vec![f]);
    let uri = "/api/inngest?fnId=app-caller&stepId=step";
    let res = ep
        .handle(request(
            Method::POST,
            uri,
            call(ev(json!({})), json!({}), 0, false),
        ))
        .await;
    let id = inngest_sdk::__private::hash::hash_step_id("call-other");
    assert_eq!(
        body_text(&res),
        format!(
            r#"[{{"id":"{id}","op":"InvokeFunction","name":"call-other","displayName":"call-other","opts":{{"function_id":"app-other","payload":{{"data":{{"order_id":"o1"}}}},"timeout":"1h"}},"data":null}}]"#
        )
    );
    let done = ep
        .handle(request(
            Method::POST,
            uri,
            call(ev(json!({})), json!({ id.clone(): {"data": 21} }), 0, false),
        ))
        .await;
    assert_eq!(body_text(&done), "42");
    let failed = ep
        .handle(request(Method::POST, uri, call(ev(json!({})), json!({ id: {"error": {"name": "InngestInvokeTimeoutError", "message": "Timed out waiting for invoked function to complete"}} }), 0, false)))
        .await;
    assert_eq!(failed.status(), 400);
    assert_eq!(body_json(&failed)["name"], "InngestInvokeTimeoutError");
}

#[tokio::test]
async fn sleep_until_a_past_time_does_not_sleep() {
    let f = Function::new(
        FunctionOpts::new("until").trigger(Trigger::event("demo/event")),
        |_input: Input<Value>, step: Step| async move {
            step.sleep_until("past", chrono::Utc::now() - chrono::Duration::hours(1))
                .await;
            step.sleep_until(
                "future",
                chrono::DateTime::parse_from_rfc3339("2999-01-01T00:00:00Z")
                    .expect("time")
                    .to_utc(),
            )
            .await;
            Ok::<_, Error>(())
        },
    );
    let ep = endpoint(Config::dev(), vec![f]);
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-until&stepId=step",
            call(ev(json!({})), json!({}), 0, false),
        ))
        .await;
    let ops = body_json(&res);
    assert_eq!(ops.as_array().expect("ops").len(), 1);
    assert_eq!(ops[0]["name"], "future");
    assert_eq!(ops[0]["opts"]["duration"], "2999-01-01T00:00:00Z");
}

#[tokio::test]
async fn the_failure_handler_is_registered_as_its_own_function() {
    let f = Function::new(
        FunctionOpts::new("charge")
            .name("Charge card")
            .trigger(Trigger::event("demo/event")),
        |_input: Input<Value>, _step: Step| async move { Ok::<_, Error>(()) },
    )
    .on_failure(
        |input: Input<inngest_sdk::FunctionFailed<Value>>, _step: Step| async move {
            Ok::<_, Error>(input.event.data.error.message)
        },
    );
    let ep = endpoint(Config::dev(), vec![f]);
    assert_eq!(ep.function_ids(), vec!["app-charge", "app-charge-failure"]);
    let body = br#"{"url":"https://app.example.com/api/inngest"}"#;
    let mut req = request(Method::PUT, "/api/inngest", &body[..]);
    req.headers_mut()
        .insert("x-inngest-sync-kind", "in_band".parse().expect("header"));
    let res = ep.handle(req).await;
    let failure = &body_json(&res)["functions"][1];
    assert_eq!(
        *failure,
        json!({"id": "app-charge-failure", "name": "Charge card (failure)",
               "triggers": [{"event": "inngest/function.failed", "expression": "event.data.function_id == 'app-charge'"}],
               "steps": {"step": {"id": "step", "name": "step",
                   "runtime": {"type": "http", "url": "https://app.example.com/api/inngest?fnId=app-charge-failure&stepId=step"},
                   "retries": {"attempts": 1}}}})
    );
    let failed_event = json!({"name": "inngest/function.failed", "id": "01JRUN", "ts": 3, "data": {
        "function_id": "app-charge", "run_id": "01JRUN", "error": {"name": "Error", "message": "card declined"},
        "event": ev(json!({}))}});
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-charge-failure&stepId=step",
            call(failed_event, json!({}), 0, false),
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(body_text(&res), r#""card declined""#);
}

#[tokio::test]
async fn in_band_sync_rejects_a_bad_body_and_respects_the_switch() {
    let ep = endpoint(Config::dev(), vec![]);
    let mut req = request(Method::PUT, "/api/inngest", "{\"nope\":1}");
    req.headers_mut()
        .insert("x-inngest-sync-kind", "in_band".parse().expect("header"));
    assert_eq!(ep.handle(req).await.status(), 400);

    let cloud_ep = endpoint(cloud(), vec![]);
    let mut req = request(Method::PUT, "/api/inngest", r#"{"url":"https://x/api"}"#);
    req.headers_mut()
        .insert("x-inngest-sync-kind", "in_band".parse().expect("header"));
    assert_eq!(
        cloud_ep.handle(req).await.status(),
        401,
        "cloud in-band sync must be signed"
    );
}

/// A stand-in for the Inngest API that records what reaches it.
mod stand_in {
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::routing::{get, post};

    #[derive(Clone, Default)]
    pub(crate) struct Recorded {
        pub(crate) requests: Arc<Mutex<Vec<(String, HeaderMap, String)>>>,
        pub(crate) register_status: Arc<Mutex<u16>>,
        /// When set, only this `Authorization` value is accepted; others get 401.
        pub(crate) accepted_authorization: Arc<Mutex<Option<String>>>,
    }

    pub(crate) async fn start(recorded: Recorded) -> url::Url {
        *recorded.register_status.lock().expect("lock") = 200;
        let app = axum::Router::new()
            .route("/fn/register", post(register))
            .route("/v0/runs/{id}/batch", get(batch))
            .route("/v0/runs/{id}/actions", get(actions))
            .with_state(recorded);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        url::Url::parse(&format!("http://{addr}")).expect("url")
    }

    async fn register(
        State(r): State<Recorded>,
        uri: Uri,
        headers: HeaderMap,
        body: String,
    ) -> (StatusCode, String) {
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        r.requests
            .lock()
            .expect("lock")
            .push((uri.to_string(), headers, body));
        if let Some(accepted) = r.accepted_authorization.lock().expect("lock").clone() {
            if authorization.as_deref() != Some(accepted.as_str()) {
                return (
                    StatusCode::UNAUTHORIZED,
                    r#"{"error":"unauthorized"}"#.into(),
                );
            }
        }
        let status = *r.register_status.lock().expect("lock");
        if status == 200 {
            (StatusCode::OK, r#"{"ok":true,"modified":true}"#.into())
        } else {
            (
                StatusCode::from_u16(status).expect("status"),
                r#"{"error":"Expected server kind dev, got cloud"}"#.into(),
            )
        }
    }

    async fn batch(
        State(r): State<Recorded>,
        Path(id): Path<String>,
        headers: HeaderMap,
    ) -> String {
        r.requests
            .lock()
            .expect("lock")
            .push((format!("batch/{id}"), headers, String::new()));
        r#"[{"name":"demo/event","data":{"order_id":"big"},"id":"e1","ts":1}]"#.into()
    }

    async fn actions(
        State(r): State<Recorded>,
        Path(id): Path<String>,
        headers: HeaderMap,
    ) -> String {
        r.requests
            .lock()
            .expect("lock")
            .push((format!("actions/{id}"), headers, String::new()));
        format!(
            r#"{{"{}":{{"data":"memo"}}}}"#,
            inngest_sdk::__private::hash::hash_step_id("load")
        )
    }
}

#[tokio::test]
async fn out_of_band_sync_registers_with_bearer_deploy_id_and_server_kind() {
    let recorded = stand_in::Recorded::default();
    let base = stand_in::start(recorded.clone()).await;
    let config = cloud().with_base_url(base).with_env("preview");
    let ep = endpoint(config, vec![counting(Arc::default())]);
    let mut req = signed(
        request(Method::PUT, "/api/inngest?deployId=d-42&x=1", ""),
        KEY,
        now(),
    );
    req.headers_mut()
        .insert("x-inngest-server-kind", "cloud".parse().expect("header"));
    req.headers_mut()
        .insert("x-forwarded-proto", "https".parse().expect("header"));
    let res = ep.handle(req).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-inngest-sync-kind"), Some("out_of_band"));
    assert_eq!(
        body_text(&res),
        r#"{"message":"Successfully synced.","modified":true}"#
    );

    let requests = recorded.requests.lock().expect("lock");
    let (uri, headers, body) = &requests[0];
    assert_eq!(uri, "/fn/register?deployId=d-42");
    assert_eq!(
        headers["authorization"],
        "Bearer signkey-test-1492131fd84363f17ec5fa7d96ca1b2d6558cb77c648920b96c99966f6ecffd9"
    );
    assert_eq!(headers["x-inngest-expected-server-kind"], "cloud");
    assert_eq!(headers["x-inngest-env"], "preview");
    assert_eq!(headers["x-inngest-sdk"], headers["user-agent"]);
    let body: Value = serde_json::from_str(body).expect("json");
    assert_eq!(body["url"], "https://app.example.com/api/inngest?x=1");
    assert_eq!(body["deployType"], "ping");
    assert_eq!(body["v"], "0.1");
    assert_eq!(
        body["capabilities"],
        json!({"in_band_sync": "v1", "trust_probe": "v1"})
    );
    assert_eq!(body["appName"], "app");
    assert!(body["sdk"].as_str().expect("sdk").starts_with("rust:v"));
    assert_eq!(
        body["functions"][0]["steps"]["step"]["runtime"]["url"],
        "https://app.example.com/api/inngest?x=1&fnId=app-count&stepId=step"
    );
    assert!(!body.to_string().contains("deployId"));
}

#[tokio::test]
async fn out_of_band_sync_applies_serve_overrides_and_reports_failures() {
    let recorded = stand_in::Recorded::default();
    let base = stand_in::start(recorded.clone()).await;
    let config = Config::dev()
        .with_base_url(base)
        .with_serve_origin("https://public.example.org")
        .with_serve_path("/inngest");
    let ep = endpoint(config, vec![counting(Arc::default())]);
    let res = ep
        .handle(request(Method::PUT, "/api/inngest?keep=1", ""))
        .await;
    assert_eq!(res.status(), 200);
    {
        let requests = recorded.requests.lock().expect("lock");
        let body: Value = serde_json::from_str(&requests[0].2).expect("json");
        assert_eq!(body["url"], "https://public.example.org/inngest?keep=1");
        assert!(
            requests[0].1.get("authorization").is_none(),
            "no key, no bearer in dev"
        );
    }
    *recorded.register_status.lock().expect("lock") = 400;
    let res = ep.handle(request(Method::PUT, "/api/inngest", "")).await;
    assert_eq!(res.status(), 500);
    assert_eq!(header(&res, "x-inngest-sync-kind"), Some("out_of_band"));
    let json = body_json(&res);
    assert_eq!(json["modified"], false);
    assert!(
        json["message"]
            .as_str()
            .expect("message")
            .contains("Expected server kind dev")
    );
}

#[tokio::test]
async fn cloud_out_of_band_sync_must_be_signed() {
    let ep = endpoint(cloud(), vec![]);
    let res = ep.handle(request(Method::PUT, "/api/inngest", "")).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn use_api_fetches_events_and_steps_with_the_bearer() {
    let recorded = stand_in::Recorded::default();
    let base = stand_in::start(recorded.clone()).await;
    let f = Function::new(
        FunctionOpts::new("big").trigger(Trigger::event("demo/event")),
        |input: Input<Order>, step: Step| async move {
            let memo: String = step
                .run("load", || async { Ok::<_, Error>("fresh".to_owned()) })
                .await?;
            Ok::<_, Error>(format!("{}:{memo}", input.event.data.order_id))
        },
    );
    let ep = endpoint(cloud().with_base_url(base), vec![f]);
    let body = serde_json::to_vec(&json!({
        "ctx": {"attempt": 0, "run_id": "01JBIG", "use_api": true, "stack": {"stack": [], "current": 0}},
        "event": null, "events": [], "steps": {}, "use_api": true, "version": 2
    }))
    .expect("json");
    let res = ep
        .handle(signed(
            request(Method::POST, "/api/inngest?fnId=app-big&stepId=step", body),
            KEY,
            now(),
        ))
        .await;
    assert_eq!(body_text(&res), r#""big:memo""#);
    let requests = recorded.requests.lock().expect("lock");
    let paths: Vec<_> = requests.iter().map(|r| r.0.clone()).collect();
    assert!(
        paths.contains(&"batch/01JBIG".to_owned()) && paths.contains(&"actions/01JBIG".to_owned())
    );
    assert!(requests.iter().all(|r| {
        r.1["authorization"]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer signkey-test-")
    }));
}

#[tokio::test]
async fn use_api_failure_is_a_retriable_500() {
    // Nothing listens on this port: the fetch fails.
    let config = cloud().with_base_url(url::Url::parse("http://127.0.0.1:9").expect("url"));
    let ep = endpoint(config, vec![counting(Arc::default())]);
    let body = br#"{"ctx":{"run_id":"r","use_api":true},"events":[],"steps":{},"use_api":true}"#;
    let res = ep
        .handle(signed(
            request(
                Method::POST,
                "/api/inngest?fnId=app-count&stepId=step",
                &body[..],
            ),
            KEY,
            now(),
        ))
        .await;
    assert_eq!(res.status(), 500);
    assert_eq!(header(&res, "x-inngest-no-retry"), Some("false"));
}

#[tokio::test]
async fn send_event_step_sends_through_the_client_once() {
    // A send_event step is a step.run: run inline and reported with the ids it got back.
    let recorded = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = recorded.clone();
    let app = axum::Router::new().route(
        "/e/{key}",
        axum::routing::post(
            move |axum::extract::Path(key): axum::extract::Path<String>, body: String| {
                let sink = sink.clone();
                async move {
                    sink.lock().expect("lock").push(format!("{key} {body}"));
                    r#"{"ids":["01JEVT"],"status":200}"#
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let config =
        Config::dev().with_base_url(url::Url::parse(&format!("http://{addr}")).expect("url"));
    let f = Function::new(
        FunctionOpts::new("notify").trigger(Trigger::event("demo/event")),
        |_input: Input<Value>, step: Step| async move {
            let sent = step
                .send_event(
                    "notify",
                    vec![Event::new("demo/notified", json!({"n": 1})).id("n-1")],
                )
                .await?;
            Ok::<_, Error>(sent.ids)
        },
    );
    let ep = endpoint(config, vec![f]);
    let uri = "/api/inngest?fnId=app-notify&stepId=step";
    let res = ep
        .handle(request(
            Method::POST,
            uri,
            call(ev(json!({})), json!({}), 0, false),
        ))
        .await;
    assert_eq!(body_json(&res)[0]["data"], json!({"ids": ["01JEVT"]}));
    let sent = recorded.lock().expect("lock").clone();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].starts_with(
        "NO_EVENT_KEY_SET [{\"name\":\"demo/notified\",\"data\":{\"n\":1},\"id\":\"n-1\",\"ts\":"
    ));
}

#[tokio::test]
async fn a_batched_run_sees_every_event_decoded_on_demand() {
    let f = Function::new(
        FunctionOpts::new("batch").trigger(Trigger::event("demo/event")),
        |input: Input<Order>, _step: Step| async move {
            let ids: Vec<String> = input
                .events()?
                .into_iter()
                .map(|event| event.data.order_id)
                .collect();
            Ok::<_, Error>((input.event.data.order_id, ids))
        },
    );
    let ep = endpoint(Config::dev(), vec![f]);
    let first = json!({"name": "demo/event", "data": {"order_id": "o1"}, "ts": 1});
    let second = json!({"name": "demo/event", "data": {"order_id": "o2"}, "ts": 2});
    let body = serde_json::to_vec(&json!({
        "ctx": {"run_id": "r", "attempt": 0},
        "event": first, "events": [first, second], "steps": {}, "version": 2
    }))
    .expect("json");
    let res = ep
        .handle(request(
            Method::POST,
            "/api/inngest?fnId=app-batch&stepId=step",
            body,
        ))
        .await;
    assert_eq!(body_text(&res), r#"["o1",["o1","o2"]]"#);
}

#[tokio::test]
async fn an_api_call_refused_with_401_is_retried_once_with_the_fallback_keys_bearer() {
    let recorded = stand_in::Recorded::default();
    let fallback_bearer = format!("Bearer {}", key(FALLBACK).bearer_token().expect("hex key"));
    *recorded.accepted_authorization.lock().expect("lock") = Some(fallback_bearer.clone());
    let base = stand_in::start(recorded.clone()).await;
    let config = cloud()
        .with_signing_key_fallback(key(FALLBACK))
        .with_base_url(base);
    let ep = endpoint(config, vec![counting(Arc::default())]);

    let modified = ep
        .register("https://app.example.com/api/inngest")
        .await
        .expect("registered with the fallback key");
    assert!(modified);

    let requests = recorded.requests.lock().expect("lock");
    let authorizations: Vec<&str> = requests
        .iter()
        .map(|r| r.1["authorization"].to_str().expect("ascii"))
        .collect();
    assert_eq!(authorizations.len(), 2);
    assert!(authorizations[0].starts_with("Bearer signkey-test-1492131f"));
    assert_eq!(authorizations[1], fallback_bearer);
}
