//! The axum adapter over real HTTP: methods, large bodies up to the endpoint's cap, and
//! refusal above it.
#![cfg(feature = "axum")]

use inngest_sdk::{Client, Config, Endpoint, Error, Function, FunctionOpts, Input, Step, Trigger};
use serde_json::{Value, json};

async fn serve(max_body_bytes: Option<usize>) -> String {
    let f = Function::new(
        FunctionOpts::new("size").trigger(Trigger::event("demo/big")),
        |input: Input<Value>, _step: Step| async move {
            Ok::<_, Error>(input.event.data["blob"].as_str().map_or(0, str::len))
        },
    );
    let mut builder = Endpoint::builder("app", Client::new(Config::dev())).function(f);
    if let Some(max) = max_body_bytes {
        builder = builder.max_body_bytes(max);
    }
    let endpoint = builder.build().expect("endpoint");
    let app = axum::Router::new().route("/api/inngest", inngest_sdk::axum::serve(endpoint));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}/api/inngest")
}

fn call_with_blob(len: usize) -> Vec<u8> {
    let event = json!({"name": "demo/big", "data": {"blob": "x".repeat(len)}, "ts": 1});
    serde_json::to_vec(&json!({
        "ctx": {"run_id": "r", "attempt": 0, "stack": {"stack": [], "current": 0}},
        "event": event, "events": [event], "steps": {}, "version": 2
    }))
    .expect("json")
}

#[tokio::test]
async fn a_body_above_axums_default_limit_is_served() {
    let url = serve(None).await;
    let len = 6 * 1024 * 1024;
    let res = reqwest::Client::new()
        .post(format!("{url}?fnId=app-size&stepId=step"))
        .header("content-type", "application/json")
        .body(call_with_blob(len))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.expect("body"), len.to_string());
}

#[tokio::test]
async fn a_body_above_the_endpoints_cap_is_refused_with_413() {
    let url = serve(Some(1024 * 1024)).await;
    let res = reqwest::Client::new()
        .post(format!("{url}?fnId=app-size&stepId=step"))
        .body(call_with_blob(2 * 1024 * 1024))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 413);
}

#[tokio::test]
async fn get_put_post_are_routed_and_other_methods_are_405() {
    let url = serve(None).await;
    let http = reqwest::Client::new();
    let get = http.get(&url).send().await.expect("get");
    assert_eq!(get.status(), 200);
    assert!(get.headers().contains_key("x-inngest-sdk"));
    let put = http
        .put(&url)
        .header("x-inngest-sync-kind", "in_band")
        .body(r#"{"url":"http://127.0.0.1:1/api/inngest"}"#)
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 200);
    assert_eq!(put.headers()["x-inngest-sync-kind"], "in_band");
    let patch = http.patch(&url).send().await.expect("patch");
    assert_eq!(patch.status(), 405);
}
