//! The five fixture functions of the official conformance runner's serve cases
//! (docs/protocol.md §9.4), mirroring the Go SDK's fixture app function for function.
//!
//! They never checkpoint (see [`functions`]). The `conformance` example serves them; the golden
//! tests in `tests/conformance.rs` replay the runner's request sequences against them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Cancel, Error, Function, FunctionOpts, Input, Step, Trigger, WaitForEvent};

/// The app id the fixture serves under; the runner accepts any.
pub const APP_ID: &str = "rust-conformance";

/// The signing key the runner signs its in-band sync with (hex of `this is a test key`).
pub const SIGNING_KEY: &str = "7468697320697320612074657374206b6579";

/// What the fixture functions return: `{"body":"ok","name":<event name>}`, with keys in the
/// order Go's JSON encoder writes a map, which the runner compares against.
#[derive(Debug, Serialize)]
struct Reply {
    body: &'static str,
    name: String,
}

/// The output of `second step` in `test-suite-step-test`: `{"first":…,"second":true}`.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Second {
    first: String,
    second: bool,
}

/// The options of a fixture function: the runner's cases pin the classic call sequence
/// (one executor call per step; the official Go fixture, whose SDK checkpoints only on
/// request, serves it), so the fixture never checkpoints, whatever the client's setting
/// (docs/protocol.md §7.14). The JS SDK v4 with its default checkpointing fails `steps-serial` the
/// same way this fixture would: the first answer is the sleep, not the first step.
fn classic(id: &str) -> FunctionOpts {
    FunctionOpts::new(id).without_checkpointing()
}

/// The fixture functions. Each call returns fresh attempt counters, so `retry-basic` starts
/// over for each endpoint built from them (the runner restarts the fixture app per run).
pub fn functions() -> Vec<Function> {
    vec![
        simple_fn(),
        step_test(),
        retry_test(),
        cancel_test(),
        wait_for_event(),
    ]
}

/// The bench's `bench-steps` function (not a conformance fixture): `event.data.n`
/// sequential `step.run`s `step-0` … `step-(n-1)`, each returning its index; returns their
/// sum. The final call of a run carries all `n` steps memoized, which is what
/// `bench/run.sh` measures for large `n`; the JS twin is in `bench/js/server.mjs`.
pub fn bench_steps() -> Function {
    #[derive(serde::Deserialize)]
    struct Steps {
        n: u64,
    }
    Function::new(
        FunctionOpts::new("bench-steps").trigger(Trigger::event("bench/steps")),
        |input: Input<Steps>, step: Step| async move {
            let mut total = 0u64;
            for i in 0..input.event.data.n {
                total += step
                    .run(
                        &format!("step-{i}"),
                        move || async move { Ok::<_, Error>(i) },
                    )
                    .await?;
            }
            Ok::<_, Error>(total)
        },
    )
}

/// `basic-invoke`: returns `{"body":"ok","name":<event name>}`.
fn simple_fn() -> Function {
    Function::new(
        classic("test-suite-simple-fn").trigger(Trigger::event("tests/function.test")),
        |input: Input<Value>, _step: Step| async move {
            Ok::<_, Error>(Reply {
                body: "ok",
                name: input.event.name,
            })
        },
    )
}

/// `steps-serial`: a step, a 2 s sleep, a step using the first one's output.
fn step_test() -> Function {
    Function::new(
        classic("test-suite-step-test").trigger(Trigger::event("tests/step.test")),
        |input: Input<Value>, step: Step| async move {
            let first: String = step
                .run("first step", || async {
                    Ok::<_, Error>("first step".to_owned())
                })
                .await?;
            step.sleep("sleep", Duration::from_secs(2)).await;
            step.run("second step", move || async move {
                Ok::<_, Error>(Second {
                    first,
                    second: true,
                })
            })
            .await?;
            Ok::<_, Error>(Reply {
                body: "ok",
                name: input.event.name,
            })
        },
    )
}

/// `retry-basic`: the step fails on its first execution, the function body on its first pass.
fn retry_test() -> Function {
    let step_runs = Arc::new(AtomicU32::new(0));
    let body_runs = Arc::new(AtomicU32::new(0));
    Function::new(
        classic("test-suite-retry-test").trigger(Trigger::event("tests/retry.test")),
        move |input: Input<Value>, step: Step| {
            let step_runs = Arc::clone(&step_runs);
            let body_runs = Arc::clone(&body_runs);
            async move {
                step.run("first step", move || async move {
                    let run = step_runs.fetch_add(1, Ordering::SeqCst) + 1;
                    if run == 1 {
                        return Err(Error::new("broken"));
                    }
                    Ok(format!("yes: {run}"))
                })
                .await?;
                if body_runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err(Error::new("broken func"));
                }
                Ok(Reply {
                    body: "ok",
                    name: input.event.name,
                })
            }
        },
    )
}

/// `cancel-basic`: a 10 s sleep the runner cancels with `cancel/please`.
fn cancel_test() -> Function {
    Function::new(
        classic("test-suite-cancel-test")
            .trigger(Trigger::event("tests/cancel.test"))
            .cancel_on(
                Cancel::on("cancel/please")
                    .if_exp("async.data.request_id == event.data.request_id"),
            ),
        |input: Input<Value>, step: Step| async move {
            step.sleep("sleep", Duration::from_secs(10)).await;
            step.run("After the sleep", || async {
                Ok::<_, Error>("done".to_owned())
            })
            .await?;
            Ok::<_, Error>(Reply {
                body: "ok",
                name: input.event.name,
            })
        },
    )
}

/// `wait-for-event-basic`: waits 10 s for `test/resume` with the same `id`.
fn wait_for_event() -> Function {
    #[derive(Serialize)]
    struct Resumed {
        result: Value,
    }
    Function::new(
        classic("test-suite-wait-for-event").trigger(Trigger::event("tests/wait.test")),
        |_input: Input<Value>, step: Step| async move {
            let resumed = step
                .wait_for_event::<Value>(
                    "wait",
                    WaitForEvent::new("test/resume", Duration::from_secs(10))
                        .if_exp("async.data.resume == true && async.data.id == event.data.id"),
                )
                .await?;
            Ok::<_, Error>(match resumed {
                Some(event) => serde_json::to_value(Resumed { result: event.data })?,
                None => Value::Object(Map::new()),
            })
        },
    )
}
