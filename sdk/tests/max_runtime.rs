//! `Checkpointing::max_runtime` (docs/protocol.md §7.14, §7.4): once a checkpointed call has
//! run that long, the next lone `step.run` is answered as `206 StepPlanned` (this SDK never
//! emits `DiscoveryRequest`), and a function without steps is never re-entered. Time is
//! tokio's paused clock: the 11 s a step "takes" cost no real time.
#![cfg(feature = "testing")]
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use inngest_sdk::testing::{FakeExecutor, RunStatus};
use inngest_sdk::{Endpoint, Error, Event, Function, FunctionOpts, Input, Step, Trigger};
use serde_json::{Value, json};

async fn serve(function: Function) -> FakeExecutor {
    let inngest = FakeExecutor::start().await;
    let endpoint = Endpoint::builder("app", inngest_sdk::Client::new(inngest.client_config()))
        .clock(inngest.clock())
        .function(function)
        .build()
        .unwrap();
    inngest.serve(endpoint).await.expect("the app syncs");
    inngest
}

#[tokio::test(start_paused = true)]
async fn a_call_that_passes_max_runtime_between_two_steps_plans_the_second() {
    let runs = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counted = Arc::clone(&runs);
    // The default max_runtime, 10 s: the first step takes 11 s.
    let function = Function::new(
        FunctionOpts::new("long").trigger(Trigger::event("demo/go")),
        move |_: Input<Value>, step: Step| {
            let runs = Arc::clone(&counted);
            async move {
                let first = Arc::clone(&runs);
                let a: u32 = step
                    .run("first", move || async move {
                        first[0].fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_secs(11)).await;
                        Ok::<_, Error>(20)
                    })
                    .await?;
                let b: u32 = step
                    .run("second", move || async move {
                        runs[1].fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Error>(22)
                    })
                    .await?;
                Ok::<_, Error>(a + b)
            }
        },
    );
    let inngest = serve(function).await;
    let ids = inngest.send(Event::new("demo/go", json!({}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(42)));
    assert_eq!(
        [
            runs[0].load(Ordering::SeqCst),
            runs[1].load(Ordering::SeqCst)
        ],
        [1, 1],
        "each step ran once"
    );
    // The first call ran `first` inline and checkpointed it, then planned `second`.
    assert_eq!(inngest.checkpoints().len(), 1);
    assert_eq!(run.calls[0].status, 206);
    assert_eq!(run.calls[0].ops, ["StepPlanned"]);
    assert_eq!(run.calls[0].body[0]["name"], "second");
    let ops: Vec<&str> = run
        .calls
        .iter()
        .flat_map(|c| c.ops.iter().map(String::as_str))
        .collect();
    assert!(!ops.contains(&"DiscoveryRequest"), "{ops:?}");
}

#[tokio::test(start_paused = true)]
async fn a_function_without_steps_that_runs_past_max_runtime_completes_once() {
    let entered = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&entered);
    let function = Function::new(
        FunctionOpts::new("stepless").trigger(Trigger::event("demo/go")),
        move |_: Input<Value>, _step: Step| {
            let entered = Arc::clone(&counted);
            async move {
                entered.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(25)).await;
                Ok::<_, Error>("finished")
            }
        },
    );
    let inngest = serve(function).await;
    let ids = inngest.send(Event::new("demo/go", json!({}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!("finished")));
    assert_eq!(entered.load(Ordering::SeqCst), 1, "never re-entered");
    let statuses: Vec<u16> = run.calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [200]);
}
