//! Arbitrary bytes as the body of a call request: decoded as `CallRequest` with every
//! memoized value decoded as a run result, then POSTed to a dev-mode endpoint (unsigned
//! calls run) that serves a function with two steps. No input may panic or allocate without bound.

#![no_main]

use std::sync::LazyLock;

use bytes::Bytes;
use inngest_sdk::__private::wire::{CallRequest, RunMemo};
use inngest_sdk::{Client, Config, Endpoint, Error, Function, FunctionOpts, Input, Step, Trigger};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

struct App {
    endpoint: Endpoint,
    runtime: tokio::runtime::Runtime,
}

static APP: LazyLock<App> = LazyLock::new(|| {
    let function = Function::new(
        FunctionOpts::new("steps").trigger(Trigger::event("demo/event")),
        |input: Input<Value>, step: Step| async move {
            let first: Value = step
                .run("a", move || async move { Ok::<_, Error>(input.event.data) })
                .await?;
            let second: u64 = step.run("b", || async { Ok::<_, Error>(2) }).await?;
            Ok::<_, Error>((first, second))
        },
    );
    App {
        endpoint: Endpoint::builder("fuzz", Client::new(Config::dev()))
            .function(function)
            .build()
            .expect("the endpoint builds"),
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime"),
    }
});

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = CallRequest::from_slice(data) {
        for memo in request.steps.values() {
            let _ = RunMemo::<serde_json::Value>::decode(memo);
        }
    }
    let request = http::Request::builder()
        .method("POST")
        .uri("/api/inngest?fnId=fuzz-steps&stepId=step")
        .header("content-type", "application/json")
        .body(Bytes::copy_from_slice(data))
        .expect("a well-formed request");
    let response = APP.runtime.block_on(APP.endpoint.handle(request));
    // Every answer is one the protocol defines, with a JSON body.
    let status = response.status().as_u16();
    assert!(matches!(status, 200 | 206 | 400 | 500), "status {status}");
    assert!(serde_json::from_slice::<Value>(response.body()).is_ok());
});
