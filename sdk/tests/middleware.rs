//! Middleware (docs/protocol.md §7.15) on the fake executor: the hooks a run of two steps and
//! a retry goes through, the onion order of several middlewares, and transformed input,
//! step output, function output and sent events.
#![cfg(feature = "testing")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use inngest_sdk::middleware::{
    BoxFuture, Middleware, Next, RunError, RunStart, StepInfo, StepResult,
};
use inngest_sdk::testing::{FakeExecutor, RunStatus};
use inngest_sdk::{
    Client, Endpoint, Error, Event, Function, FunctionOpts, Input, RunContext, Step, Trigger,
};
use serde_json::value::RawValue;
use serde_json::{Value, json};

type Log = Arc<Mutex<Vec<String>>>;

/// Records every hook it sees as `"<name> <hook> …"`.
struct Recorder {
    name: &'static str,
    log: Log,
}

impl Recorder {
    fn push(&self, entry: String) {
        self.log
            .lock()
            .expect("not poisoned")
            .push(format!("{} {entry}", self.name));
    }
}

impl Middleware for Recorder {
    fn on_run_start(&self, run: &RunStart<'_>) {
        self.push(format!("start memo={}", run.memoized_steps));
    }
    fn before_execution(&self, _: &RunContext) {
        self.push("before".into());
    }
    fn after_execution(&self, _: &RunContext) {
        self.push("after".into());
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
    fn on_run_complete(&self, _: &RunContext, output: &RawValue) {
        self.push(format!("complete {}", output.get()));
    }
    fn on_run_error(&self, _: &RunContext, error: &RunError<'_>) {
        self.push(format!(
            "error {} retriable={}",
            error.message, error.retriable
        ));
    }
}

/// Two steps; the first fails on its first attempt.
fn flaky(attempts: Arc<AtomicUsize>) -> Function {
    Function::new(
        FunctionOpts::new("flaky")
            .trigger(Trigger::event("test/flaky"))
            .retries(2),
        move |_input: Input<Value>, step: Step| {
            let attempts = Arc::clone(&attempts);
            async move {
                let a: u32 = step
                    .run("a", move || async move {
                        if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                            return Err(Error::new("first attempt fails"));
                        }
                        Ok::<_, Error>(1)
                    })
                    .await?;
                let b: u32 = step.run("b", || async { Ok::<_, Error>(2) }).await?;
                Ok::<_, Error>(a + b)
            }
        },
    )
}

fn only(log: &Log, prefix: &str) -> Vec<String> {
    log.lock()
        .expect("not poisoned")
        .iter()
        .filter(|e| e.starts_with(prefix))
        .cloned()
        .collect()
}

#[tokio::test]
async fn client_then_endpoint_middleware_wrap_every_step_attempt_as_an_onion() {
    let inngest = FakeExecutor::start().await;
    let log: Log = Arc::default();
    let client = Client::new(inngest.client_config()).with_middleware(Recorder {
        name: "outer",
        log: Arc::clone(&log),
    });
    let endpoint = Endpoint::builder("app", client)
        .clock(inngest.clock())
        .middleware(Recorder {
            name: "inner",
            log: Arc::clone(&log),
        })
        .function(flaky(Arc::default()))
        .build()
        .expect("builds");
    inngest.serve(endpoint).await.expect("syncs");

    let ids = inngest.send(Event::new("test/flaky", json!({}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(3)));
    let steps: Vec<String> = log
        .lock()
        .expect("not poisoned")
        .iter()
        .filter(|e| e.contains(" enter ") || e.contains(" leave "))
        .cloned()
        .collect();
    assert_eq!(
        steps,
        [
            "outer enter a#0",
            "inner enter a#0",
            "inner leave a#0 err",
            "outer leave a#0 err",
            "outer enter a#1",
            "inner enter a#1",
            "inner leave a#1 ok",
            "outer leave a#1 ok",
            "outer enter b#0",
            "inner enter b#0",
            "inner leave b#0 ok",
            "outer leave b#0 ok",
        ]
    );
    // The run completed once, innermost first; every call started outermost first and had
    // its before/after pair.
    assert_eq!(
        only(&log, "inner complete")
            .into_iter()
            .chain(only(&log, "outer complete"))
            .collect::<Vec<_>>(),
        ["inner complete 3", "outer complete 3"]
    );
    let all = log.lock().expect("not poisoned").clone();
    let completes: Vec<&String> = all.iter().filter(|e| e.contains("complete")).collect();
    assert_eq!(completes, ["inner complete 3", "outer complete 3"]);
    let starts = only(&log, "outer start");
    assert_eq!(starts.len(), run.calls.len(), "{all:?}");
    assert_eq!(starts[0], "outer start memo=0");
    assert_eq!(only(&log, "outer before").len(), run.calls.len(), "{all:?}");
    assert_eq!(only(&log, "outer after").len(), run.calls.len(), "{all:?}");
    let first_call: Vec<&str> = all.iter().take(4).map(String::as_str).collect();
    assert_eq!(
        first_call,
        [
            "outer start memo=0",
            "inner start memo=0",
            "outer before",
            "inner before"
        ]
    );
}

/// Rewrites data on the way in and out.
struct Rewrite;

impl Middleware for Rewrite {
    fn transform_input(&self, _: &RunContext, event: &mut Value) {
        event["data"]["n"] = json!(event["data"]["n"].as_i64().unwrap_or(0) * 10);
    }
    fn wrap_step<'a>(&'a self, step: &'a StepInfo, next: Next<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            let output = next.run().await?;
            if step.id != "plus-one" {
                return Ok(output);
            }
            let doubled = output.get().parse::<i64>().unwrap_or(0) * 2;
            Ok(RawValue::from_string(doubled.to_string()).expect("a number is JSON"))
        })
    }
    fn transform_output(&self, _: &RunContext, output: &mut Value) {
        *output = json!({ "wrapped": output.take() });
    }
    fn on_send_event(&self, events: &mut Vec<Value>) {
        for event in events {
            event["data"]["stamped"] = json!(true);
        }
    }
}

#[tokio::test]
async fn middleware_transforms_input_step_output_function_output_and_sent_events() {
    let inngest = FakeExecutor::start().await;
    let client = Client::new(inngest.client_config()).with_middleware(Rewrite);
    let function = Function::new(
        FunctionOpts::new("rewrite").trigger(Trigger::event("test/rewrite")),
        |input: Input<Value>, step: Step| async move {
            let n = input.event.data["n"].as_i64().unwrap_or(-1);
            let stepped: i64 = step
                .run("plus-one", move || async move { Ok::<_, Error>(n + 1) })
                .await?;
            step.send_event(
                "announce",
                vec![Event::new("test/announced", json!({"n": stepped}))],
            )
            .await?;
            Ok::<_, Error>(stepped)
        },
    );
    let endpoint = Endpoint::builder("app", client)
        .clock(inngest.clock())
        .function(function)
        .build()
        .expect("builds");
    inngest.serve(endpoint).await.expect("syncs");

    let ids = inngest
        .send(Event::new("test/rewrite", json!({"n": 2})))
        .await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    // n = 2 → 20 (input) → 21 (step) → 42 (step output doubled) → wrapped (function output).
    assert_eq!(run.output, Some(json!({"wrapped": 42})));
    let announced = inngest.events_named("test/announced");
    assert_eq!(announced.len(), 1);
    assert_eq!(announced[0].data(), &json!({"n": 42, "stamped": true}));
}

#[tokio::test]
async fn a_failing_run_reports_its_error_to_the_middleware() {
    let inngest = FakeExecutor::start().await;
    let log: Log = Arc::default();
    let client = Client::new(inngest.client_config());
    let function = Function::new(
        FunctionOpts::new("fails")
            .trigger(Trigger::event("test/fails"))
            .retries(0),
        |_input: Input<Value>, _step: Step| async move {
            Err::<(), _>(Error::non_retriable("card declined"))
        },
    );
    let endpoint = Endpoint::builder("app", client)
        .clock(inngest.clock())
        .middleware(Recorder {
            name: "m",
            log: Arc::clone(&log),
        })
        .function(function)
        .build()
        .expect("builds");
    inngest.serve(endpoint).await.expect("syncs");

    let ids = inngest.send(Event::new("test/fails", json!({}))).await;
    inngest.run_until_idle().await;

    assert_eq!(inngest.run(&ids[0]).status, RunStatus::Failed);
    assert_eq!(
        only(&log, "m error"),
        ["m error card declined retriable=false"]
    );
}

#[tokio::test]
async fn a_function_middleware_sits_inside_the_endpoint_middleware_and_only_wraps_its_function() {
    let inngest = FakeExecutor::start().await;
    let log: Log = Arc::default();
    let own = Function::new(
        FunctionOpts::new("own").trigger(Trigger::event("test/own")),
        |_: Input<Value>, step: Step| async move {
            step.run("s", || async { Ok::<_, Error>(1) }).await?;
            Ok::<_, Error>(())
        },
    )
    .middleware(Recorder {
        name: "function",
        log: Arc::clone(&log),
    });
    let other = Function::new(
        FunctionOpts::new("other").trigger(Trigger::event("test/other")),
        |_: Input<Value>, step: Step| async move {
            step.run("t", || async { Ok::<_, Error>(1) }).await?;
            Ok::<_, Error>(())
        },
    );
    let endpoint = Endpoint::builder("app", Client::new(inngest.client_config()))
        .clock(inngest.clock())
        .middleware(Recorder {
            name: "endpoint",
            log: Arc::clone(&log),
        })
        .function(own)
        .function(other)
        .build()
        .expect("builds");
    inngest.serve(endpoint).await.expect("syncs");

    inngest.send(Event::new("test/own", json!({}))).await;
    inngest.send(Event::new("test/other", json!({}))).await;
    inngest.run_until_idle().await;

    let steps: Vec<String> = log
        .lock()
        .expect("not poisoned")
        .iter()
        .filter(|e| e.contains(" enter ") || e.contains(" leave "))
        .cloned()
        .collect();
    assert_eq!(
        steps,
        [
            "endpoint enter s#0",
            "function enter s#0",
            "function leave s#0 ok",
            "endpoint leave s#0 ok",
            "endpoint enter t#0",
            "endpoint leave t#0 ok",
        ]
    );
}
