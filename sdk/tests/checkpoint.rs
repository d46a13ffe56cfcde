//! Async checkpointing (docs/protocol.md §7.14) against the fake executor: what the executor and
//! the checkpoint API observe, call by call.
#![cfg(feature = "testing")]
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

mod common;

use common::{counted_steps, counters, counts};
use inngest_sdk::testing::{FakeExecutor, RunStatus};
use inngest_sdk::{
    Checkpointing, Endpoint, Error, Event, Function, FunctionOpts, Input, Step, Trigger,
};
use serde_json::{Value, json};

fn on(id: &str) -> FunctionOpts {
    FunctionOpts::new(id).trigger(Trigger::event("demo/go"))
}

async fn serve(functions: Vec<Function>) -> FakeExecutor {
    let inngest = FakeExecutor::start().await;
    let mut builder = Endpoint::builder("app", inngest_sdk::Client::new(inngest.client_config()))
        .clock(inngest.clock());
    for function in functions {
        builder = builder.function(function);
    }
    inngest
        .serve(builder.build().unwrap())
        .await
        .expect("the app syncs");
    inngest
}

fn step_names(body: &Value) -> Vec<String> {
    body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            assert_eq!(op["op"], "StepRun", "{op}");
            op["name"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn steps_are_checkpointed_and_the_run_completes_in_one_call() {
    let runs = counters(3);
    let inngest = serve(vec![counted_steps(on("steps"), Arc::clone(&runs))]).await;

    let ids = inngest.send(Event::new("demo/go", json!({"n": 3}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.calls);
    assert_eq!(run.output, Some(json!(3)));
    assert_eq!(run.step_ids(), ["step-0", "step-1", "step-2"]);
    assert!(run.steps.iter().all(|s| s.checkpointed), "{:?}", run.steps);
    assert_eq!(counts(&runs), [1, 1, 1]);
    // One executor call, answered with the run's output.
    assert_eq!(run.calls.len(), 1, "{:?}", run.calls);
    assert_eq!(run.calls[0].status, 200);
    assert_eq!(run.calls[0].body, json!(3));
    // One checkpoint per step, naming the run, the function's UUID and the queue item.
    let checkpoints = inngest.checkpoints();
    assert_eq!(checkpoints.len(), 3, "{checkpoints:?}");
    let ctx = &run.calls[0].request["ctx"];
    for (i, checkpoint) in checkpoints.iter().enumerate() {
        assert_eq!(checkpoint.status, 200);
        assert_eq!(checkpoint.run_id, ids[0].as_str());
        assert_eq!(checkpoint.body["run_id"], ctx["run_id"]);
        assert_eq!(checkpoint.body["fn_id"], ctx["fn_id"]);
        assert_eq!(checkpoint.body["qi_id"], ctx["qi_id"]);
        assert_eq!(step_names(&checkpoint.body), [format!("step-{i}")]);
        assert_eq!(checkpoint.body["steps"][0]["data"], json!(i));
        // When the step ran: the server builds the step's span from it.
        let timing = &checkpoint.body["steps"][0]["timing"];
        assert!(
            timing["a"].as_i64().unwrap() > 1_700_000_000_000_000_000,
            "{timing}"
        );
        assert!(timing["b"].as_i64().unwrap() >= 0, "{timing}");
    }
}

#[tokio::test]
async fn a_function_without_steps_still_answers_200() {
    let hello = Function::new(on("hello"), |_: Input<Value>, _: Step| async move {
        Ok::<_, Error>("hi")
    });
    let inngest = serve(vec![hello]).await;
    let ids = inngest.send(Event::new("demo/go", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);
    assert_eq!(run.output, Some(json!("hi")));
    assert_eq!(run.calls.len(), 1);
    assert_eq!(run.calls[0].status, 200);
    assert!(inngest.checkpoints().is_empty());
}

#[tokio::test]
async fn a_failed_checkpoint_falls_back_to_the_classic_answer_and_no_step_runs_twice() {
    let runs = counters(3);
    let inngest = serve(vec![counted_steps(on("steps"), Arc::clone(&runs))]).await;
    // The SDK tries a checkpoint three times: the first step cannot be reported.
    inngest.fail_checkpoints(3);

    let ids = inngest.send(Event::new("demo/go", json!({"n": 3}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.calls);
    assert_eq!(run.output, Some(json!(3)));
    assert_eq!(counts(&runs), [1, 1, 1], "every step ran exactly once");
    assert_eq!(run.step_ids(), ["step-0", "step-1", "step-2"]);
    let checkpointed: Vec<bool> = run.steps.iter().map(|s| s.checkpointed).collect();
    assert_eq!(checkpointed, [false, true, true]);
    // The first call answers the step it could not report, as the classic protocol does;
    // the second call replays it from the memo and checkpoints the rest.
    assert_eq!(run.calls.len(), 2, "{:?}", run.calls);
    assert_eq!(run.calls[0].status, 206);
    assert_eq!(run.calls[0].ops, ["StepRun"]);
    assert_eq!(run.calls[0].body[0]["name"], "step-0");
    assert_eq!(run.calls[1].status, 200);
    let statuses: Vec<u16> = inngest.checkpoints().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [500, 500, 500, 200, 200]);
}

#[tokio::test]
async fn buffered_steps_are_reported_together() {
    let runs = counters(3);
    let opts = on("steps").checkpointing(Checkpointing::new().buffered_steps(2));
    let inngest = serve(vec![counted_steps(opts, Arc::clone(&runs))]).await;

    let ids = inngest.send(Event::new("demo/go", json!({"n": 3}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.output, Some(json!(3)));
    assert_eq!(counts(&runs), [1, 1, 1]);
    // Two steps fill the buffer; the last one is reported when the function returns.
    let checkpoints = inngest.checkpoints();
    assert_eq!(checkpoints.len(), 2, "{checkpoints:?}");
    assert_eq!(step_names(&checkpoints[0].body), ["step-0", "step-1"]);
    assert_eq!(step_names(&checkpoints[1].body), ["step-2"]);
    assert_eq!(run.calls.len(), 1, "{:?}", run.calls);
    assert_eq!(run.calls[0].status, 200);
    assert!(run.steps.iter().all(|s| s.checkpointed));
}

#[tokio::test]
async fn a_failed_checkpoint_of_buffered_steps_answers_all_of_them() {
    let runs = counters(3);
    let opts = on("steps").checkpointing(Checkpointing::new().buffered_steps(2));
    let inngest = serve(vec![counted_steps(opts, Arc::clone(&runs))]).await;
    inngest.fail_checkpoints(3);

    let ids = inngest.send(Event::new("demo/go", json!({"n": 3}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.output, Some(json!(3)), "{:?}", run.calls);
    assert_eq!(counts(&runs), [1, 1, 1]);
    assert_eq!(run.calls.len(), 2, "{:?}", run.calls);
    assert_eq!(run.calls[0].ops, ["StepRun", "StepRun"]);
    assert_eq!(run.calls[1].status, 200);
    let checkpointed: Vec<bool> = run.steps.iter().map(|s| s.checkpointed).collect();
    assert_eq!(checkpointed, [false, false, true]);
}

#[tokio::test]
async fn a_sleep_ends_the_call_after_the_steps_before_it_are_checkpointed() {
    let runs = counters(2);
    let counted = Arc::clone(&runs);
    let f = Function::new(on("nap"), move |_: Input<Value>, step: Step| {
        let runs = Arc::clone(&counted);
        async move {
            let r = Arc::clone(&runs);
            let a = step
                .run("a", move || async move {
                    r[0].fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(1)
                })
                .await?;
            step.sleep("nap", Duration::from_secs(60)).await;
            let r = Arc::clone(&runs);
            let b = step
                .run("b", move || async move {
                    r[1].fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(2)
                })
                .await?;
            Ok::<_, Error>(a + b)
        }
    });
    let inngest = serve(vec![f]).await;
    let ids = inngest.send(Event::new("demo/go", json!({}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Sleeping);
    assert_eq!(run.calls.len(), 1);
    assert_eq!(run.calls[0].ops, ["Sleep"]);
    assert_eq!(inngest.checkpoints().len(), 1);

    inngest.advance(Duration::from_secs(60)).await;
    let run = inngest.run(&ids[0]);
    assert_eq!(run.output, Some(json!(3)));
    assert_eq!(run.step_ids(), ["a", "nap", "b"]);
    assert_eq!(counts(&runs), [1, 1]);
    assert_eq!(run.calls.len(), 2, "{:?}", run.calls);
    assert_eq!(run.calls[1].status, 200);
}

#[tokio::test]
async fn a_failing_step_is_retried_by_the_executor_as_in_the_classic_protocol() {
    let runs = counters(2);
    let counted = Arc::clone(&runs);
    let f = Function::new(
        on("flaky").retries(2),
        move |_: Input<Value>, step: Step| {
            let runs = Arc::clone(&counted);
            async move {
                let r = Arc::clone(&runs);
                step.run("a", move || async move {
                    r[0].fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(1)
                })
                .await?;
                let r = Arc::clone(&runs);
                let b = step
                    .run("b", move || async move {
                        if r[1].fetch_add(1, Ordering::SeqCst) == 0 {
                            return Err(Error::new("flaky"));
                        }
                        Ok(2)
                    })
                    .await?;
                Ok::<_, Error>(b)
            }
        },
    );
    let inngest = serve(vec![f]).await;
    let ids = inngest.send(Event::new("demo/go", json!({}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.output, Some(json!(2)), "{:?}", run.calls);
    assert_eq!(counts(&runs), [1, 2]);
    // Call 1 checkpoints `a` and answers the error; call 2 (attempt 1) retries `b` in the
    // classic way; call 3 replays both and returns.
    let summary: Vec<(u32, u16, Vec<String>)> = run
        .calls
        .iter()
        .map(|c| (c.attempt, c.status, c.ops.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (0, 206, vec!["StepError".to_owned()]),
            (1, 206, vec!["StepRun".to_owned()]),
            (0, 200, vec![]),
        ]
    );
    assert_eq!(run.calls[0].no_retry, Some(false));
    assert_eq!(run.step("b").unwrap().attempts, 2);
    let checkpoints = inngest.checkpoints();
    assert_eq!(checkpoints.len(), 1);
    assert_eq!(step_names(&checkpoints[0].body), ["a"]);
}

#[tokio::test]
async fn parallel_steps_are_planned_as_in_the_classic_protocol() {
    let f = Function::new(on("fan"), |_: Input<Value>, step: Step| async move {
        let a = step.run("a", || async { Ok::<_, Error>(1) });
        let b = step.run("b", || async { Ok::<_, Error>(2) });
        let (a, b) = tokio::join!(a, b);
        Ok::<_, Error>(a? + b?)
    });
    let inngest = serve(vec![f]).await;
    let ids = inngest.send(Event::new("demo/go", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);
    assert_eq!(run.output, Some(json!(3)));
    assert_eq!(run.calls[0].ops, ["StepPlanned", "StepPlanned"]);
    // Targeted calls are never checkpointed.
    assert!(inngest.checkpoints().is_empty());
}

#[tokio::test]
async fn after_the_runtime_limit_the_next_step_is_planned() {
    let runs = counters(2);
    let opts = on("steps").checkpointing(Checkpointing::new().max_runtime(Duration::from_nanos(1)));
    let inngest = serve(vec![counted_steps(opts, Arc::clone(&runs))]).await;
    let ids = inngest.send(Event::new("demo/go", json!({"n": 2}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);
    assert_eq!(run.output, Some(json!(1)));
    assert_eq!(counts(&runs), [1, 1]);
    assert_eq!(run.calls[0].ops, ["StepPlanned"]);
}

#[tokio::test]
async fn checkpointing_can_be_turned_off_per_function_or_per_client() {
    for (config_off, function_off) in [(false, true), (true, false)] {
        let runs = counters(3);
        let mut opts = on("steps");
        if function_off {
            opts = opts.without_checkpointing();
        }
        let inngest = FakeExecutor::start().await;
        let mut config = inngest.client_config();
        if config_off {
            config = config.without_checkpointing();
        }
        let client = inngest_sdk::Client::new(config);
        let endpoint = Endpoint::builder("app", client)
            .clock(inngest.clock())
            .function(counted_steps(opts, Arc::clone(&runs)))
            .build()
            .unwrap();
        inngest.serve(endpoint).await.unwrap();

        let ids = inngest.send(Event::new("demo/go", json!({"n": 3}))).await;
        inngest.run_until_idle().await;
        let run = inngest.run(&ids[0]);
        assert_eq!(run.output, Some(json!(3)));
        assert_eq!(counts(&runs), [1, 1, 1]);
        // Classic: one call per step, then the 200.
        let statuses: Vec<u16> = run.calls.iter().map(|c| c.status).collect();
        assert_eq!(statuses, [206, 206, 206, 200]);
        assert!(inngest.checkpoints().is_empty());
    }
}

#[tokio::test]
async fn a_function_may_checkpoint_when_the_client_does_not() {
    let runs = counters(2);
    let inngest = FakeExecutor::start().await;
    let config = inngest.client_config().without_checkpointing();
    let client = inngest_sdk::Client::new(config);
    let endpoint = Endpoint::builder("app", client)
        .clock(inngest.clock())
        .function(counted_steps(
            on("steps").checkpointing(Checkpointing::new()),
            Arc::clone(&runs),
        ))
        .build()
        .unwrap();
    inngest.serve(endpoint).await.unwrap();
    let ids = inngest.send(Event::new("demo/go", json!({"n": 2}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);
    assert_eq!(run.output, Some(json!(1)));
    assert_eq!(run.calls.len(), 1);
    assert_eq!(inngest.checkpoints().len(), 2);
}

#[tokio::test]
async fn a_refused_checkpoint_is_not_retried_and_falls_back_at_once() {
    let runs = counters(2);
    let inngest = serve(vec![counted_steps(on("steps"), Arc::clone(&runs))]).await;
    // What the server answers a checkpoint for a queue item that is no longer leased.
    inngest.fail_checkpoints_with(1, 409);

    let ids = inngest.send(Event::new("demo/go", json!({"n": 2}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.output, Some(json!(1)));
    assert_eq!(counts(&runs), [1, 1]);
    let statuses: Vec<u16> = inngest.checkpoints().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [409, 200], "a 4xx is final: no retry");
    assert_eq!(run.calls[0].ops, ["StepRun"]);
    assert_eq!(run.calls[1].status, 200);
}

#[tokio::test]
async fn the_interval_reports_buffered_steps_before_the_buffer_is_full() {
    let runs = counters(3);
    let opts = on("steps").checkpointing(
        Checkpointing::new()
            .buffered_steps(100)
            .max_interval(Duration::from_nanos(1)),
    );
    let inngest = serve(vec![counted_steps(opts, Arc::clone(&runs))]).await;
    let ids = inngest.send(Event::new("demo/go", json!({"n": 3}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.output, Some(json!(3)));
    // The interval has passed by the time each step finishes: one report per step.
    let reported: Vec<Vec<String>> = inngest
        .checkpoints()
        .iter()
        .map(|c| step_names(&c.body))
        .collect();
    assert_eq!(reported, [["step-0"], ["step-1"], ["step-2"]]);
    assert_eq!(run.calls.len(), 1);
}
