//! One signed `POST` through the endpoint with N memoized steps: decode the body, verify
//! the signature, replay N steps from the memo, complete, respond. This is the cost Inngest
//! pays on every step of a run (the final call of a run with N steps).

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{Method, Request};
use inngest_sdk::__private::hash::hash_step_id;
use inngest_sdk::{
    Client, Config, Endpoint, Error, Function, FunctionOpts, Input, SigningKey, Step, Trigger,
};
use serde_json::{Value, json};

const KEY: &str = "signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f";

/// A middleware that overrides nothing: what one registered middleware costs a call.
struct Noop;

impl inngest_sdk::Middleware for Noop {}

fn endpoint(n: usize) -> Endpoint {
    endpoint_with(n, false)
}

fn endpoint_with(n: usize, middleware: bool) -> Endpoint {
    let function = Function::new(
        FunctionOpts::new("steps").trigger(Trigger::event("bench/run")),
        move |_input: Input<Value>, step: Step| async move {
            let mut total = 0u64;
            for i in 0..n {
                let value: u64 = step
                    .run(&format!("step-{i}"), move || async move {
                        Ok::<_, Error>(i as u64)
                    })
                    .await?;
                total += value;
            }
            Ok::<_, Error>(total)
        },
    );
    let config = Config::cloud(SigningKey::new(KEY).expect("key"));
    let mut builder = Endpoint::builder("bench", Client::new(config)).function(function);
    if middleware {
        builder = builder.middleware(Noop);
    }
    builder.build().expect("endpoint")
}

/// The executor's final call of a run whose N steps are all memoized.
fn body(n: usize) -> Vec<u8> {
    let mut steps = serde_json::Map::new();
    let mut stack = Vec::with_capacity(n);
    for i in 0..n {
        let hash = hash_step_id(&format!("step-{i}"));
        steps.insert(hash.clone(), json!({"data": i}));
        stack.push(hash);
    }
    let event = json!({"name": "bench/run", "data": {"user_id": "u_123", "plan": "pro"}, "id": "01JEVT", "ts": 1_734_000_000_000_i64, "user": {}});
    serde_json::to_vec(&json!({
        "ctx": {"attempt": 0, "disable_immediate_execution": false, "env": "", "fn_id": "uuid",
                "max_attempts": 4, "run_id": "01JRUN", "stack": {"current": n, "stack": stack},
                "step_id": "step", "use_api": false},
        "event": event, "events": [event], "steps": steps, "use_api": false, "version": 2
    }))
    .expect("json")
}

fn memoized_steps(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let key = SigningKey::new(KEY).expect("key");
    let mut group = c.benchmark_group("post_with_memoized_steps");
    for n in [1usize, 10, 100, 1000] {
        let endpoint = endpoint(n);
        let body = Bytes::from(body(n));
        let signature = key.sign(&body, chrono::Utc::now().timestamp());
        let expected = format!("{}", (0..n as u64).sum::<u64>());
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let request = Request::builder()
                    .method(Method::POST)
                    .uri("/api/inngest?fnId=bench-steps&stepId=step")
                    .header("x-inngest-signature", &signature)
                    .body(body.clone())
                    .expect("request");
                let response = runtime.block_on(endpoint.handle(black_box(request)));
                assert_eq!(response.status(), 200);
                assert_eq!(response.body(), expected.as_bytes());
                response
            });
        });
    }
    group.finish();
    // The same call with one middleware that overrides no hook (docs/protocol.md §7.15).
    let mut group = c.benchmark_group("post_with_memoized_steps_and_a_middleware");
    for n in [1usize, 10, 100] {
        let endpoint = endpoint_with(n, true);
        let body = Bytes::from(body(n));
        let signature = key.sign(&body, chrono::Utc::now().timestamp());
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let request = Request::builder()
                    .method(Method::POST)
                    .uri("/api/inngest?fnId=bench-steps&stepId=step")
                    .header("x-inngest-signature", &signature)
                    .body(body.clone())
                    .expect("request");
                let response = runtime.block_on(endpoint.handle(black_box(request)));
                assert_eq!(response.status(), 200);
                response
            });
        });
    }
    group.finish();
}

criterion_group!(benches, memoized_steps);
criterion_main!(benches);
