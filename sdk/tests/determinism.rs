//! Non-determinism detection (docs/protocol.md §7.16) on the fake executor: a replay that
//! renames, reorders or skips memoized steps fails at once with a `NonDeterminismError`
//! naming them; parallel steps, branches on memoized outputs, past `sleep_until`s and I/O
//! outside steps are not reported.
//!
//! The executor's clock is advanced by hand; tokio's clock is paused, so the engine's grace
//! period for I/O outside steps (one second) passes without waiting.
#![cfg(feature = "testing")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use inngest_sdk::__private::hash::hash_step_id;
use inngest_sdk::testing::{FakeExecutor, RunStatus};
use inngest_sdk::{Client, Endpoint, Error, Event, Function, FunctionOpts, Input, Step, Trigger};
use serde_json::{Value, json};

/// Flipped by a test between two calls of a run: the "deploy" of changed code.
type Deployed = Arc<AtomicBool>;

async fn serve(functions: Vec<Function>, check: Option<bool>) -> FakeExecutor {
    let inngest = FakeExecutor::start().await;
    let mut builder =
        Endpoint::builder("app", Client::new(inngest.client_config())).clock(inngest.clock());
    if let Some(on) = check {
        builder = builder.determinism_check(on);
    }
    for function in functions {
        builder = builder.function(function);
    }
    inngest
        .serve(builder.build().expect("builds"))
        .await
        .expect("syncs");
    inngest
}

fn on(event: &str, id: &str) -> FunctionOpts {
    FunctionOpts::new(id)
        .trigger(Trigger::event(event))
        .retries(3)
}

/// `charge` → sleep → `email`; once `deployed`, `charge` is called `charge-v2`.
fn renamed(deployed: Deployed) -> Function {
    Function::new(
        on("test/renamed", "renamed"),
        move |_: Input<Value>, step: Step| {
            let deployed = Arc::clone(&deployed);
            async move {
                let id = if deployed.load(Ordering::SeqCst) {
                    "charge-v2"
                } else {
                    "charge"
                };
                step.run(id, || async { Ok::<_, Error>(1) }).await?;
                step.sleep("cool-off", Duration::from_secs(3600)).await;
                step.run("email", || async { Ok::<_, Error>(2) }).await?;
                Ok::<_, Error>("done")
            }
        },
    )
}

async fn first_call_then_deploy(
    inngest: &FakeExecutor,
    event: &str,
    deployed: &Deployed,
) -> String {
    let ids = inngest.send(Event::new(event, json!({}))).await;
    inngest.run_until_idle().await;
    assert_eq!(
        inngest.run(&ids[0]).status,
        RunStatus::Sleeping,
        "paused on the sleep"
    );
    deployed.store(true, Ordering::SeqCst);
    inngest.advance(Duration::from_secs(3600)).await;
    ids[0].as_str().to_owned()
}

#[tokio::test(start_paused = true)]
async fn a_step_renamed_between_attempts_fails_the_run_naming_both_steps() {
    let deployed = Deployed::default();
    let inngest = serve(vec![renamed(Arc::clone(&deployed))], None).await;

    let run_id = first_call_then_deploy(&inngest, "test/renamed", &deployed).await;

    let run = inngest.find_run(&run_id).expect("the run");
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let error = run.error.clone().unwrap_or_default();
    assert_eq!(error["name"], "NonDeterminismError", "{error}");
    let message = error["message"].as_str().unwrap_or("");
    assert!(message.contains(&hash_step_id("charge")), "{message}");
    assert!(message.contains(&hash_step_id("cool-off")), "{message}");
    assert!(message.contains("\"charge-v2\""), "{message}");
    // Not retried: the same code diverges the same way on every attempt.
    assert_eq!(run.calls.last().map(|c| c.status), Some(400));
    assert_eq!(run.calls.last().and_then(|c| c.no_retry), Some(true));
    assert_eq!(
        run.step_ids(),
        ["charge", "cool-off"],
        "charge-v2 never ran"
    );
}

#[tokio::test(start_paused = true)]
async fn steps_reordered_between_attempts_fail_the_run() {
    let deployed = Deployed::default();
    let reordered = Function::new(on("test/reordered", "reordered"), {
        let deployed = Arc::clone(&deployed);
        move |_: Input<Value>, step: Step| {
            let swapped = deployed.load(Ordering::SeqCst);
            let step = step.clone();
            async move {
                let (first, second) = if swapped { ("b", "a") } else { ("a", "b") };
                step.run(first, || async { Ok::<_, Error>(1) }).await?;
                step.sleep("nap", Duration::from_secs(3600)).await;
                step.run(second, || async { Ok::<_, Error>(2) }).await?;
                Ok::<_, Error>(())
            }
        }
    });
    let inngest = serve(vec![reordered], None).await;

    let run_id = first_call_then_deploy(&inngest, "test/reordered", &deployed).await;

    let run = inngest.find_run(&run_id).expect("the run");
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let error = run.error.clone().unwrap_or_default();
    assert_eq!(error["name"], "NonDeterminismError", "{error}");
    let message = error["message"].as_str().unwrap_or("");
    assert!(message.contains(&hash_step_id("a")), "{message}");
    assert!(message.contains("\"b\""), "{message}");
}

#[tokio::test(start_paused = true)]
async fn a_function_that_returns_without_its_memoized_steps_fails() {
    let deployed = Deployed::default();
    let skipped = Function::new(on("test/skipped", "skipped"), {
        let deployed = Arc::clone(&deployed);
        move |_: Input<Value>, step: Step| {
            let skip = deployed.load(Ordering::SeqCst);
            let step = step.clone();
            async move {
                if skip {
                    return Ok::<_, Error>("short cut");
                }
                step.run("a", || async { Ok::<_, Error>(1) }).await?;
                step.sleep("nap", Duration::from_secs(3600)).await;
                Ok::<_, Error>("long way")
            }
        }
    });
    let inngest = serve(vec![skipped], None).await;

    let run_id = first_call_then_deploy(&inngest, "test/skipped", &deployed).await;

    let run = inngest.find_run(&run_id).expect("the run");
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let error = run.error.clone().unwrap_or_default();
    assert_eq!(error["name"], "NonDeterminismError", "{error}");
    let message = error["message"].as_str().unwrap_or("");
    assert!(
        message.contains("returned without reaching 2 memoized step(s)"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn with_the_check_off_a_renamed_step_runs_as_a_new_step() {
    let deployed = Deployed::default();
    let inngest = serve(vec![renamed(Arc::clone(&deployed))], Some(false)).await;

    let run_id = first_call_then_deploy(&inngest, "test/renamed", &deployed).await;
    inngest.run_until_idle().await;

    let run = inngest.find_run(&run_id).expect("the run");
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.step_ids(), ["charge", "cool-off", "charge-v2", "email"]);
}

/// Deterministic code that a naive check would flag: parallel branches whose later steps
/// depend on earlier outputs, a branch on a memoized output, a `sleep_until` that has
/// passed on replay, and a branch awaiting I/O outside steps before its memoized step.
#[tokio::test(start_paused = true)]
async fn parallel_steps_branches_past_sleeps_and_io_outside_steps_are_not_reported() {
    let f = Function::new(
        on("test/ok", "deterministic"),
        |input: Input<Value>, step: Step| async move {
            let (left, right) = tokio::join!(
                async {
                    // I/O outside a step before a step: later replays reach `left` only after it.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    step.run("left", || async { Ok::<_, Error>(2) }).await
                },
                async {
                    let n: i64 = step.run("right", || async { Ok::<_, Error>(3) }).await?;
                    if n > 2 {
                        step.run("right-big", move || async move { Ok::<_, Error>(n * 10) })
                            .await
                    } else {
                        step.run("right-small", move || async move { Ok::<_, Error>(n) })
                            .await
                    }
                },
            );
            let total = left? + right?;
            let wake = input.event.ts.map_or_else(chrono::Utc::now, |ms| {
                chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
            }) + chrono::TimeDelta::minutes(5);
            step.sleep_until("until-later", wake).await;
            step.run("sum", move || async move { Ok::<_, Error>(total) })
                .await?;
            Ok::<_, Error>(total)
        },
    );
    let inngest = serve(vec![f], None).await;

    let ids = inngest.send(Event::new("test/ok", json!({}))).await;
    inngest.run_until_idle().await;
    inngest.advance(Duration::from_secs(600)).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(32)));
}

/// The false positive the grace period exists for: a branch awaits I/O outside steps
/// before its memoized step `x`, and the I/O is fast in the first call (so `x` is found and
/// memoized early) and slow later, while the other branch finds a new step `z`. Within the
/// grace the slow branch reaches `x`, so nothing is reported.
#[tokio::test(start_paused = true)]
async fn a_branch_slowed_by_io_outside_steps_reaches_its_memoized_step_within_the_grace() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let f = Function::new(
        on("test/io", "io-branch"),
        move |_: Input<Value>, step: Step| {
            let first_call = calls.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                let io = if first_call { 10 } else { 500 };
                let (x, rest) = tokio::join!(
                    async {
                        tokio::time::sleep(Duration::from_millis(io)).await;
                        step.run("x", || async { Ok::<_, Error>(1) }).await
                    },
                    async {
                        let w: i64 = step
                            .run("w", || async {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                Ok::<_, Error>(2)
                            })
                            .await?;
                        let y: i64 = step.run("y", || async { Ok::<_, Error>(3) }).await?;
                        step.run("z", move || async move { Ok::<_, Error>(w + y) })
                            .await
                    },
                );
                Ok::<_, Error>(x? + rest?)
            }
        },
    );
    let inngest = serve(vec![f], None).await;

    let ids = inngest.send(Event::new("test/io", json!({}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(6)));
    // `x` was memoized before `z` was found: the case a check without grace would report.
    let order = run.step_ids();
    let x = order.iter().position(|s| *s == "x");
    let z = order.iter().position(|s| *s == "z");
    assert!(x < z, "{order:?}");
}
