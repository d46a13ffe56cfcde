//! Runs one kind of executor call through [`Endpoint::handle`] many times, in-process, for
//! instruction-count profiling (`bench/callgrind.sh` runs it under callgrind):
//!
//! ```sh
//! cargo run --release -p inngest-sdk --example profile_call --features testing -- memo1000 100
//! ```
//!
//! Cases: `final3` (the last call of `steps-serial`, 3 memoized steps), `discovery` (its
//! first call, one step run inline), `memo<N>` (`bench-steps` with N memoized steps). The
//! endpoint is the conformance fixture in dev mode, as `bench/run.sh` serves it.

use bytes::Bytes;
use http::{Method, Request};
use inngest_sdk::__private::hash::hash_step_id;
use inngest_sdk::testing::conformance;
use inngest_sdk::{Client, Config, Endpoint};
use serde_json::{Value, json};

fn call_body(event: &Value, steps: Value, stack: &[String], version: i64) -> Vec<u8> {
    let body = json!({
        "ctx": {
            "attempt": 0, "disable_immediate_execution": false, "env": "",
            "fn_id": "0b1d7c4e-5bde-4f0f-9a35-5e2f6c7d8e9f", "max_attempts": 4,
            "qi_id": "{q:01JRUNID}", "run_id": "01JBENCHRUN000000000000000",
            "stack": {"current": stack.len(), "stack": stack},
            "step_id": "step", "use_api": false
        },
        "defers": {}, "event": event, "events": [event], "steps": steps,
        "use_api": false, "version": version
    });
    serde_json::to_vec(&body).expect("json")
}

fn event(name: &str, data: Value) -> Value {
    json!({"data": data, "id": "01JEVENT00000000000000000", "name": name, "ts": 1_734_000_000_000_i64, "user": {}})
}

/// `(fnId, body, expected status)` of a case.
fn case(name: &str) -> Option<(&'static str, Vec<u8>, u16)> {
    let serial = event("tests/step.test", json!({"steps": {"ok": "yes"}}));
    match name {
        "final3" => {
            let stack = ["first step", "sleep", "second step"].map(hash_step_id);
            let steps = json!({
                &stack[0]: {"data": "first step"},
                &stack[1]: null,
                &stack[2]: {"data": {"first": "first step", "second": true}},
            });
            Some((
                "rust-conformance-test-suite-step-test",
                call_body(&serial, steps, &stack, 2),
                200,
            ))
        }
        "discovery" => Some((
            "rust-conformance-test-suite-step-test",
            call_body(&serial, json!({}), &[], -1),
            206,
        )),
        _ => {
            let n: u64 = name.strip_prefix("memo")?.parse().ok()?;
            let stack: Vec<String> = (0..n).map(|i| hash_step_id(&format!("step-{i}"))).collect();
            let steps: serde_json::Map<String, Value> = stack
                .iter()
                .zip(0..)
                .map(|(hash, i)| (hash.clone(), json!({"data": i})))
                .collect();
            Some((
                "rust-conformance-bench-steps",
                call_body(
                    &event("bench/steps", json!({"n": n})),
                    Value::Object(steps),
                    &stack,
                    2,
                ),
                200,
            ))
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "final3".to_owned());
    let iterations: u32 = args.next().map_or(Ok(100), |n| n.parse())?;
    let (fn_id, body, status) = case(&name).ok_or("cases: final3, discovery, memo<N>")?;
    let body = Bytes::from(body);

    let mut builder = Endpoint::builder(conformance::APP_ID, Client::new(Config::dev()));
    for function in conformance::functions() {
        builder = builder.function(function);
    }
    let endpoint = builder.function(conformance::bench_steps()).build()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let uri = format!("/api/inngest?fnId={fn_id}&stepId=step");
    for _ in 0..iterations {
        let request = Request::builder()
            .method(Method::POST)
            .uri(&uri)
            .header("content-type", "application/json")
            .body(body.clone())?;
        let response = runtime.block_on(endpoint.handle(request));
        if response.status() != status {
            return Err(format!("status {}, expected {status}", response.status()).into());
        }
        std::hint::black_box(response);
    }
    Ok(())
}
