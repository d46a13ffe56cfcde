//! Middleware (docs/protocol.md §7.15) on the real Inngest server: the hooks and their onion
//! order over a run of two steps, one of which fails once and is retried by the executor.
//!
//! Needs the server binary (`INNGEST_BIN`, or `inngest-cli` / `inngest` on `PATH`):
//! `cargo test -p inngest-sdk --all-features --test real_middleware -- --ignored`.
#![cfg(feature = "testing")]
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use inngest_sdk::middleware::{BoxFuture, Middleware, Next, RunStart, StepInfo, StepResult};
use inngest_sdk::testing::real::{InngestServer, RunStatus, ServerOptions};
use inngest_sdk::{
    Client, Config, Endpoint, Error, Function, FunctionOpts, Input, RunContext, Step, Trigger,
};
use serde_json::value::RawValue;
use serde_json::{Value, json};

type Log = Arc<Mutex<Vec<String>>>;

struct Recorder {
    name: &'static str,
    log: Log,
}

impl Recorder {
    fn push(&self, entry: String) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {entry}", self.name));
    }
}

impl Middleware for Recorder {
    fn on_run_start(&self, run: &RunStart<'_>) {
        self.push(format!("start memo={}", run.memoized_steps));
    }
    fn wrap_step<'a>(&'a self, step: &'a StepInfo, next: Next<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            self.push(format!("enter {}#{}", step.id, step.run.attempt));
            let result = next.run().await;
            let verdict = if result.is_ok() { "ok" } else { "err" };
            self.push(format!("leave {}#{} {verdict}", step.id, step.run.attempt));
            result
        })
    }
    fn transform_output(&self, _: &RunContext, output: &mut Value) {
        *output = json!({ self.name: output.take() });
    }
    fn on_run_complete(&self, run: &RunContext, output: &RawValue) {
        self.push(format!("complete {} {}", run.function_id, output.get()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn middleware_hooks_wrap_steps_and_retries_in_onion_order_on_the_real_executor() {
    let server = InngestServer::start(ServerOptions::dev().retry_interval(1))
        .await
        .expect("needs the real Inngest server");
    let log: Log = Arc::default();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&attempts);
    let flaky = Function::new(
        FunctionOpts::new("flaky")
            .trigger(Trigger::event("test/mw.flaky"))
            .retries(2),
        move |_: Input<Value>, step: Step| {
            let attempts = Arc::clone(&counted);
            async move {
                let a: u32 = step.run("a", || async { Ok::<_, Error>(1) }).await?;
                let b: u32 = step
                    .run("b", move || async move {
                        if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                            return Err(Error::new("flaky"));
                        }
                        Ok::<_, Error>(2)
                    })
                    .await?;
                Ok::<_, Error>(a + b)
            }
        },
    );
    let client =
        Client::new(Config::dev().with_base_url(server.url().clone())).with_middleware(Recorder {
            name: "outer",
            log: Arc::clone(&log),
        });
    let endpoint = Endpoint::builder("middleware-test", client)
        .middleware(Recorder {
            name: "inner",
            log: Arc::clone(&log),
        })
        .function(flaky)
        .build()
        .unwrap();
    let _app = server.serve_and_sync(endpoint).await.unwrap();

    let (run, output) = server
        .run_event(
            json!({"name": "test/mw.flaky", "data": {}}),
            Duration::from_secs(120),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    // transform_output runs innermost first: the endpoint's wraps, then the client's.
    assert_eq!(output, json!({"outer": {"inner": 3}}));

    let log = log.lock().unwrap().clone();
    let steps: Vec<&str> = log
        .iter()
        .filter(|e| e.contains(" enter ") || e.contains(" leave "))
        .map(String::as_str)
        .collect();
    assert_eq!(
        steps,
        [
            "outer enter a#0",
            "inner enter a#0",
            "inner leave a#0 ok",
            "outer leave a#0 ok",
            "outer enter b#0",
            "inner enter b#0",
            "inner leave b#0 err",
            "outer leave b#0 err",
            "outer enter b#1",
            "inner enter b#1",
            "inner leave b#1 ok",
            "outer leave b#1 ok",
        ],
        "{log:?}"
    );
    // on_run_complete sees the output as reported, after every transform_output.
    let completes: Vec<&str> = log
        .iter()
        .filter(|e| e.contains(" complete "))
        .map(String::as_str)
        .collect();
    assert_eq!(
        completes,
        [
            r#"inner complete middleware-test-flaky {"outer":{"inner":3}}"#,
            r#"outer complete middleware-test-flaky {"outer":{"inner":3}}"#,
        ]
    );
    // Every call of the run started outermost first; the first carried no memo.
    assert_eq!(log[0], "outer start memo=0");
    assert_eq!(log[1], "inner start memo=0");
}
