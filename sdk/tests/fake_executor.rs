//! End-to-end tests of the SDK against the fake executor: every function below runs
//! through the real serve endpoint, with requests shaped like the Inngest executor's.
#![cfg(feature = "testing")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use inngest_sdk::testing::{EventSource, FakeError, FakeExecutor, RunStatus, StepKind};
use inngest_sdk::{
    Cancel, Config, Endpoint, Error, Event, Function, FunctionOpts, FunctionRef, Input, SigningKey,
    Step, Trigger, WaitForEvent,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const KEY: &str = "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff";
const OTHER_KEY: &str =
    "signkey-test-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn endpoint(inngest: &FakeExecutor, functions: Vec<Function>) -> Endpoint {
    endpoint_with(inngest.client_config(), inngest, functions)
}

fn endpoint_with(config: Config, inngest: &FakeExecutor, functions: Vec<Function>) -> Endpoint {
    let client = inngest_sdk::Client::new(config);
    let mut builder = Endpoint::builder("app", client).clock(inngest.clock());
    for function in functions {
        builder = builder.function(function);
    }
    builder.build().expect("the endpoint builds")
}

async fn serve(functions: Vec<Function>) -> FakeExecutor {
    let inngest = FakeExecutor::start().await;
    inngest
        .serve(endpoint(&inngest, functions))
        .await
        .expect("the app syncs");
    inngest
}

fn on(event: &str, id: &str) -> FunctionOpts {
    FunctionOpts::new(id).trigger(Trigger::event(event))
}

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

#[tokio::test]
async fn a_function_without_steps_completes_with_its_output() {
    let hello = Function::new(
        on("demo/hello", "hello"),
        |input: Input<Value>, _step: Step| async move {
            Ok::<_, Error>(
                json!({ "greeting": format!("hello {}", input.event.data["name"].as_str().unwrap_or("?")) }),
            )
        },
    );
    let inngest = serve(vec![hello]).await;

    let ids = inngest
        .send(Event::new("demo/hello", json!({"name": "Ada"})))
        .await;
    inngest.run_until_idle().await;

    assert_eq!(ids.len(), 1);
    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.function_id, "app-hello");
    assert_eq!(run.output, Some(json!({"greeting": "hello Ada"})));
    assert_eq!(run.calls.len(), 1);
    assert_eq!(run.calls[0].status, 200);
    assert_eq!(inngest.runs_of("app-hello").len(), 1);
    let finished = inngest.events_named("inngest/function.finished");
    assert_eq!(finished.len(), 1);
    assert_eq!(
        finished[0].data()["result"],
        json!({"greeting": "hello Ada"})
    );
}

#[tokio::test]
async fn serial_run_sleep_run_completes_once_the_sleep_is_over() {
    // The classic protocol, call by call (tests/checkpoint.rs has the checkpointed run).
    let onboarding = Function::new(
        on("user/signed.up", "onboarding").without_checkpointing(),
        |_: Input<Value>, step: Step| async move {
            let first = step
                .run("welcome", || async {
                    Ok::<_, Error>("welcomed".to_owned())
                })
                .await?;
            step.sleep("wait-two-days", Duration::from_secs(48 * 3600))
                .await;
            let second = step
                .run("follow-up", || async {
                    Ok::<_, Error>("followed up".to_owned())
                })
                .await?;
            Ok::<_, Error>(vec![first, second])
        },
    );
    let inngest = serve(vec![onboarding]).await;

    let ids = inngest.send(Event::new("user/signed.up", json!({}))).await;
    inngest.run_until_idle().await;
    let sleeping = inngest.run(&ids[0]);
    inngest.advance(Duration::from_secs(48 * 3600)).await;
    let run = inngest.run(&ids[0]);

    assert_eq!(sleeping.status, RunStatus::Sleeping);
    assert_eq!(sleeping.step_ids(), ["welcome"]);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(json!(["welcomed", "followed up"])));
    assert_eq!(run.step_ids(), ["welcome", "wait-two-days", "follow-up"]);
    assert_eq!(
        run.step("wait-two-days").map(|s| s.kind),
        Some(StepKind::Sleep)
    );
    assert_eq!(
        run.step("wait-two-days")
            .map(|s| s.completed_at - run.started_at),
        Some(chrono::TimeDelta::hours(48))
    );
    // Discovery ran "welcome" inline, reported the sleep, then after waking ran "follow-up"
    // inline, then completed.
    let ops: Vec<Vec<String>> = run.calls.iter().map(|c| c.ops.clone()).collect();
    assert_eq!(
        ops,
        [vec!["StepRun"], vec!["Sleep"], vec!["StepRun"], vec![]]
    );
    assert_eq!(run.calls.last().map(|c| c.status), Some(200));
}

#[tokio::test]
async fn a_sleep_is_not_over_before_its_time() {
    let f = Function::new(
        on("a/b", "sleeper"),
        |_: Input<Value>, step: Step| async move {
            step.sleep("nap", Duration::from_secs(3600)).await;
            Ok::<_, Error>("awake")
        },
    );
    let inngest = serve(vec![f]).await;

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    inngest.advance(Duration::from_secs(3599)).await;
    let before = inngest.run(&ids[0]);
    inngest.advance(Duration::from_secs(1)).await;
    let after = inngest.run(&ids[0]);

    assert_eq!(before.status, RunStatus::Sleeping);
    assert_eq!(before.calls.len(), 1);
    assert_eq!(after.status, RunStatus::Completed);
    assert_eq!(after.output, Some(json!("awake")));
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Approval {
    request_id: String,
    approved: bool,
}

fn approval_flow() -> Function {
    Function::new(
        on("request/created", "approval"),
        |_: Input<Value>, step: Step| async move {
            let approval = step
                .wait_for_event::<Approval>(
                    "wait-for-approval",
                    WaitForEvent::new("request/approved", Duration::from_secs(3600))
                        .if_exp("async.data.request_id == event.data.request_id"),
                )
                .await?;
            Ok::<_, Error>(approval.map(|e| e.data.approved))
        },
    )
}

#[tokio::test]
async fn wait_for_event_is_resumed_by_a_matching_event_and_not_by_another() {
    let inngest = serve(vec![approval_flow()]).await;

    let ids = inngest
        .send(Event::new("request/created", json!({"request_id": "r1"})))
        .await;
    inngest.run_until_idle().await;
    inngest
        .send(Event::new(
            "request/approved",
            json!({"request_id": "r2", "approved": false}),
        ))
        .await;
    inngest.run_until_idle().await;
    let still_waiting = inngest.run(&ids[0]);
    inngest
        .send(Event::new(
            "request/approved",
            json!({"request_id": "r1", "approved": true}),
        ))
        .await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(still_waiting.status, RunStatus::Waiting);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(json!(true)));
    let wait = run.step("wait-for-approval").expect("the wait completed");
    assert_eq!(wait.kind, StepKind::WaitForEvent);
    assert_eq!(
        wait.output
            .as_ref()
            .map(|e| e["data"]["request_id"].clone()),
        Some(json!("r1"))
    );
}

#[tokio::test]
async fn wait_for_event_times_out_with_none() {
    let inngest = serve(vec![approval_flow()]).await;

    let ids = inngest
        .send(Event::new("request/created", json!({"request_id": "r1"})))
        .await;
    inngest.run_until_idle().await;
    inngest.advance(Duration::from_secs(3600)).await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(Value::Null));
    assert_eq!(
        run.step("wait-for-approval").and_then(|s| s.output.clone()),
        Some(Value::Null)
    );
}

#[tokio::test]
async fn an_event_sent_before_the_wait_does_not_resume_it() {
    let inngest = serve(vec![approval_flow()]).await;

    inngest
        .send(Event::new(
            "request/approved",
            json!({"request_id": "r1", "approved": true}),
        ))
        .await;
    let ids = inngest
        .send(Event::new("request/created", json!({"request_id": "r1"})))
        .await;
    inngest.run_until_idle().await;

    assert_eq!(inngest.run(&ids[0]).status, RunStatus::Waiting);
}

#[derive(Debug, Deserialize)]
struct Order {
    #[allow(dead_code)]
    order_id: u64,
}

#[tokio::test]
async fn a_trigger_event_that_does_not_decode_fails_the_run_at_once_with_a_clear_error() {
    let ran = counter();
    let calls = Arc::clone(&ran);
    let f = Function::new(
        on("shop/order.created", "typed"),
        move |_: Input<Order>, _step: Step| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, Error>(()) }
        },
    );
    let inngest = serve(vec![f]).await;

    let ids = inngest
        .send(Event::new(
            "shop/order.created",
            json!({"order_id": "not a number"}),
        ))
        .await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(
        run.calls.len(),
        1,
        "a payload that does not decode is not retried"
    );
    assert_eq!(run.calls[0].status, 400);
    let error = run.error.expect("an error");
    assert_eq!(error["name"], "EventDecodeError");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not match")),
        "{error}"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_waited_event_that_does_not_decode_fails_the_run_instead_of_timing_out() {
    let inngest = serve(vec![approval_flow()]).await;

    let ids = inngest
        .send(Event::new("request/created", json!({"request_id": "r1"})))
        .await;
    inngest.run_until_idle().await;
    inngest
        .send(Event::new(
            "request/approved",
            json!({"request_id": "r1", "approved": "yes"}),
        ))
        .await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.status, RunStatus::Failed);
    let message = run
        .error
        .as_ref()
        .and_then(|e| e["message"].as_str())
        .unwrap_or("");
    assert!(message.contains("wait-for-approval"), "{message}");
    // The stored event is the same on every retry, so the run fails at once: one call that
    // planned the wait, one that failed with 400.
    let statuses: Vec<u16> = run.calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [206, 400]);
}

#[tokio::test]
async fn a_step_failing_twice_then_succeeding_completes_with_its_attempts_recorded() {
    let tries = counter();
    let t = Arc::clone(&tries);
    let f = Function::new(on("a/b", "flaky"), move |_: Input<Value>, step: Step| {
        let t = Arc::clone(&t);
        async move {
            let value = step
                .run("flaky-call", move || async move {
                    match t.fetch_add(1, Ordering::SeqCst) {
                        0 | 1 => Err(Error::new("temporarily unavailable")),
                        _ => Ok("done".to_owned()),
                    }
                })
                .await?;
            Ok::<_, Error>(value)
        }
    });
    let inngest = serve(vec![f]).await;

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(json!("done")));
    assert_eq!(run.step("flaky-call").map(|s| s.attempts), Some(3));
    let attempts: Vec<(u32, Vec<String>)> = run
        .calls
        .iter()
        .map(|c| (c.attempt, c.ops.clone()))
        .collect();
    assert_eq!(
        attempts,
        [
            (0, vec!["StepError".to_owned()]),
            (1, vec!["StepError".to_owned()]),
            (2, vec!["StepRun".to_owned()]),
            (0, vec![]),
        ]
    );
    assert_eq!(tries.load(Ordering::SeqCst), 3);
}

fn always_failing(retries: u32, catch: bool) -> Function {
    Function::new(
        on("a/b", "doomed").retries(retries),
        move |_: Input<Value>, step: Step| async move {
            let result = step
                .run("charge", || async {
                    Err::<String, _>(Error::new("card declined"))
                })
                .await;
            match result {
                Err(e) if catch => Ok::<_, Error>(format!("caught: {}", e.message())),
                other => Ok(other?),
            }
        },
    )
}

#[tokio::test]
async fn a_step_that_always_fails_exhausts_its_retries_and_the_code_can_catch_it() {
    let inngest = serve(vec![always_failing(2, true)]).await;

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(json!("caught: card declined")));
    let ops: Vec<String> = run.calls.iter().flat_map(|c| c.ops.clone()).collect();
    assert_eq!(ops, ["StepError", "StepError", "StepFailed"]);
    assert_eq!(run.calls[2].attempt, 2);
    assert_eq!(run.calls[2].request["ctx"]["max_attempts"], 3);
    let charge = run.step("charge").expect("the step is memoized");
    assert_eq!(charge.attempts, 3);
    assert_eq!(
        charge.error.as_ref().map(|e| e["message"].clone()),
        Some(json!("card declined"))
    );
}

#[tokio::test]
async fn an_uncaught_step_failure_fails_the_run_and_runs_the_failure_handler() {
    let f = always_failing(1, false).on_failure(
        |input: Input<inngest_sdk::FunctionFailed<Value>>, _step: Step| async move {
            Ok::<_, Error>(format!(
                "{} failed: {}",
                input.event.data.function_id, input.event.data.error.message
            ))
        },
    );
    let inngest = serve(vec![f]).await;

    let ids = inngest.send(Event::new("a/b", json!({"order": 7}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);
    let handlers = inngest.runs_of("app-doomed-failure");

    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(
        run.error.as_ref().map(|e| e["message"].clone()),
        Some(json!("card declined"))
    );
    let last = run.calls.last().expect("calls");
    assert_eq!(
        (last.status, last.no_retry),
        (400, Some(true)),
        "a failed step is not retried"
    );
    let failed = inngest.events_named("inngest/function.failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].event["id"], json!(ids[0].as_str()));
    assert_eq!(failed[0].data()["event"]["data"], json!({"order": 7}));
    assert_eq!(handlers.len(), 1);
    assert_eq!(handlers[0].status, RunStatus::Completed);
    assert_eq!(
        handlers[0].output,
        Some(json!("app-doomed failed: card declined"))
    );
}

#[tokio::test]
async fn a_non_retriable_error_fails_the_run_with_one_call() {
    let f = Function::new(
        on("a/b", "strict"),
        |_: Input<Value>, _step: Step| async move {
            Err::<(), _>(Error::non_retriable("invalid input"))
        },
    );
    let inngest = serve(vec![f]).await;

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.calls.len(), 1);
    assert_eq!(
        run.error.as_ref().map(|e| e["message"].clone()),
        Some(json!("invalid input"))
    );
}

#[tokio::test]
async fn a_retriable_function_error_is_retried_up_to_max_attempts() {
    let f = Function::new(
        on("a/b", "broken").retries(2),
        |_: Input<Value>, _step: Step| async move { Err::<(), _>(Error::new("database down")) },
    );
    let inngest = serve(vec![f]).await;

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.status, RunStatus::Failed);
    let calls: Vec<(u32, u16)> = run.calls.iter().map(|c| (c.attempt, c.status)).collect();
    assert_eq!(calls, [(0, 500), (1, 500), (2, 500)]);
}

#[tokio::test]
async fn a_retry_after_is_honoured_on_the_fake_clock() {
    let tries = counter();
    let t = Arc::clone(&tries);
    let f = Function::new(
        on("a/b", "rate-limited"),
        move |_: Input<Value>, step: Step| {
            let t = Arc::clone(&t);
            async move {
                step.run("call-api", move || async move {
                    if t.fetch_add(1, Ordering::SeqCst) == 0 {
                        Err(Error::retry_after("429", Duration::from_secs(60)))
                    } else {
                        Ok(1)
                    }
                })
                .await?;
                Ok::<_, Error>(())
            }
        },
    );
    let inngest = serve(vec![f]).await;

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    let waiting = inngest.run(&ids[0]);
    inngest.advance(Duration::from_secs(60)).await;
    let too_early = inngest.run(&ids[0]);
    inngest.advance(Duration::from_secs(1)).await;
    let run = inngest.run(&ids[0]);

    // 60 s asked, plus the second of margin the SDK adds so no retry comes early.
    assert_eq!(waiting.calls.len(), 1);
    assert_eq!(waiting.calls[0].retry_after.as_deref(), Some("61"));
    assert_eq!(waiting.status, RunStatus::Running);
    assert_eq!(too_early.calls.len(), 1, "not retried before it asked");
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(
        run.calls[1].at - run.calls[0].at,
        chrono::TimeDelta::seconds(61)
    );
}

#[tokio::test]
async fn parallel_steps_are_planned_together_run_by_targeted_calls_then_discovered() {
    let f = Function::new(
        on("a/b", "fan-out"),
        |_: Input<Value>, step: Step| async move {
            let (a, b) = tokio::join!(
                step.run("fetch-a", || async { Ok::<_, Error>(1) }),
                step.run("fetch-b", || async { Ok::<_, Error>(2) }),
            );
            let sum = a? + b?;
            let doubled = step
                .run("double", move || async move { Ok::<_, Error>(sum * 2) })
                .await?;
            Ok::<_, Error>(doubled)
        },
    );
    let inngest = serve(vec![f]).await;

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(json!(6)));
    assert_eq!(run.calls[0].ops, ["StepPlanned", "StepPlanned"]);
    let targeted: Vec<&str> = run.calls[1..3].iter().map(|c| c.step_id.as_str()).collect();
    let planned: Vec<&str> = run.calls[0]
        .body
        .as_array()
        .expect("ops")
        .iter()
        .map(|op| op["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(targeted, planned);
    assert!(run.calls[1..3].iter().all(|c| c.ops == ["StepRun"]));
    // One discovery after both siblings finished (request version 2), which must plan
    // "double" because immediate execution stays disabled.
    assert_eq!(run.calls[3].step_id, "step");
    assert_eq!(
        run.calls[3].request["ctx"]["disable_immediate_execution"],
        true
    );
    assert_eq!(run.calls[3].ops, ["StepPlanned"]);
    assert_eq!(run.step_ids(), ["fetch-a", "fetch-b", "double"]);
    assert_eq!(run.calls.len(), 6);
}

#[derive(Debug, Serialize, Deserialize)]
struct Square {
    n: i64,
}

const SQUARE: FunctionRef<Square, i64> = FunctionRef::new("square");

#[tokio::test]
async fn invoke_returns_the_typed_output_of_another_function() {
    let square = Function::new(
        FunctionOpts::new("square"),
        |input: Input<Square>, _step: Step| async move {
            Ok::<_, Error>(input.event.data.n * input.event.data.n)
        },
    );
    let caller = Function::new(
        on("math/requested", "caller"),
        |_: Input<Value>, step: Step| async move {
            let squared = step
                .invoke(
                    "square-it",
                    &SQUARE,
                    &Square { n: 7 },
                    Some(Duration::from_secs(60)),
                )
                .await?;
            Ok::<_, Error>(squared + 1)
        },
    );
    let inngest = serve(vec![square, caller]).await;

    let ids = inngest.send(Event::new("math/requested", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);
    let child = &inngest.runs_of("app-square")[0];

    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(json!(50)));
    assert_eq!(
        run.step("square-it").map(|s| s.kind),
        Some(StepKind::Invoke)
    );
    assert_eq!(child.event["name"], "inngest/function.invoked");
    assert_eq!(child.event["data"]["n"], 7);
    let correlation = child.event["data"]["_inngest"]["correlation_id"]
        .as_str()
        .unwrap_or("");
    assert!(
        correlation.starts_with(&format!("{}.", ids[0])),
        "{correlation}"
    );
}

#[tokio::test]
async fn invoke_times_out_with_an_invoke_timeout_error() {
    let slow = Function::new(
        FunctionOpts::new("square"),
        |input: Input<Square>, step: Step| async move {
            step.sleep("think", Duration::from_secs(3600)).await;
            Ok::<_, Error>(input.event.data.n)
        },
    );
    let caller = Function::new(
        on("math/requested", "caller"),
        |_: Input<Value>, step: Step| async move {
            match step
                .invoke(
                    "square-it",
                    &SQUARE,
                    &Square { n: 2 },
                    Some(Duration::from_secs(60)),
                )
                .await
            {
                Ok(n) => Ok::<_, Error>(json!(n)),
                Err(e) => Ok(json!({"name": e.name(), "message": e.message()})),
            }
        },
    );
    let inngest = serve(vec![slow, caller]).await;

    let ids = inngest.send(Event::new("math/requested", json!({}))).await;
    inngest.run_until_idle().await;
    inngest.advance(Duration::from_secs(60)).await;

    assert_eq!(
        inngest.run(&ids[0]).output,
        Some(
            json!({"name": "InngestInvokeTimeoutError", "message": "Timed out waiting for invoked function to complete"})
        )
    );
}

#[tokio::test]
async fn a_send_event_step_sends_once_even_when_the_run_is_retried_later() {
    let failures = counter();
    let f_failures = Arc::clone(&failures);
    let sender = Function::new(
        on("order/placed", "notify"),
        move |_: Input<Value>, step: Step| {
            let f_failures = Arc::clone(&f_failures);
            async move {
                step.send_event(
                    "announce",
                    vec![Event::new("order/announced", json!({"id": 1}))],
                )
                .await?;
                if f_failures.fetch_add(1, Ordering::SeqCst) < 2 {
                    return Err(Error::new("flaky after sending"));
                }
                Ok::<_, Error>("sent")
            }
        },
    );
    let listener = Function::new(
        on("order/announced", "listener"),
        |input: Input<Value>, _step: Step| async move { Ok::<_, Error>(input.event.data) },
    );
    let inngest = serve(vec![sender, listener]).await;

    let ids = inngest.send(Event::new("order/placed", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);
    let announced = inngest.events_named("order/announced");

    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(announced.len(), 1);
    assert_eq!(announced[0].source, EventSource::Api);
    let sent_ids = run
        .step("announce")
        .and_then(|s| s.output.clone())
        .expect("ids");
    assert_eq!(sent_ids["ids"], json!([announced[0].internal_id]));
    assert_eq!(inngest.runs_of("app-listener").len(), 1);
    assert_eq!(
        inngest.runs_of("app-listener")[0].output,
        Some(json!({"id": 1}))
    );
}

#[tokio::test]
async fn a_cancel_event_stops_a_sleeping_run() {
    let calls = counter();
    let c = Arc::clone(&calls);
    let f = Function::new(
        on("trial/started", "trial")
            .cancel_on(Cancel::on("trial/converted").if_exp("async.data.user == event.data.user")),
        move |_: Input<Value>, step: Step| {
            c.fetch_add(1, Ordering::SeqCst);
            async move {
                step.sleep("until-trial-ends", Duration::from_secs(14 * 86400))
                    .await;
                Ok::<_, Error>("trial ended")
            }
        },
    );
    let inngest = serve(vec![f]).await;

    let ids = inngest
        .send(Event::new("trial/started", json!({"user": "u1"})))
        .await;
    let other = inngest
        .send(Event::new("trial/started", json!({"user": "u2"})))
        .await;
    inngest.run_until_idle().await;
    inngest
        .send(Event::new("trial/converted", json!({"user": "u1"})))
        .await;
    inngest.advance(Duration::from_secs(14 * 86400)).await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(run.calls.len(), 1, "a cancelled run gets no further calls");
    assert_eq!(inngest.run(&other[0]).status, RunStatus::Completed);
    assert_eq!(inngest.events_named("inngest/function.cancelled").len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_event_id_seen_within_24_hours_triggers_nothing() {
    let f = Function::new(
        on("a/b", "once"),
        |_: Input<Value>, _step: Step| async move { Ok::<_, Error>(()) },
    );
    let inngest = serve(vec![f]).await;

    let first = inngest.send(Event::new("a/b", json!({})).id("evt-1")).await;
    let duplicate = inngest.send(Event::new("a/b", json!({})).id("evt-1")).await;
    inngest.advance(Duration::from_secs(24 * 3600)).await;
    let next_day = inngest.send(Event::new("a/b", json!({})).id("evt-1")).await;
    inngest.run_until_idle().await;

    assert_eq!((first.len(), duplicate.len(), next_day.len()), (1, 0, 1));
    let received = inngest.events_named("a/b");
    assert_eq!(received.len(), 3);
    assert!(received[1].duplicate);
    assert_eq!(received[0].event["id"], "evt-1");
}

#[tokio::test]
async fn an_idempotency_key_dedupes_runs_for_24_hours() {
    let f = Function::new(
        on("invoice/paid", "receipt").idempotency("event.data.invoice_id"),
        |_: Input<Value>, _step: Step| async move { Ok::<_, Error>(()) },
    );
    let inngest = serve(vec![f]).await;

    let a = inngest
        .send(Event::new("invoice/paid", json!({"invoice_id": "i1"})))
        .await;
    let b = inngest
        .send(Event::new("invoice/paid", json!({"invoice_id": "i1"})))
        .await;
    let c = inngest
        .send(Event::new("invoice/paid", json!({"invoice_id": "i2"})))
        .await;
    inngest.run_until_idle().await;

    assert_eq!((a.len(), b.len(), c.len()), (1, 0, 1));
    assert_eq!(inngest.runs_of("app-receipt").len(), 2);
}

#[tokio::test]
async fn a_trigger_expression_filters_events() {
    let f = Function::new(
        FunctionOpts::new("big-orders")
            .trigger(Trigger::event_if("shop/order", "event.data.total > 100")),
        |_: Input<Value>, _step: Step| async move { Ok::<_, Error>(()) },
    );
    let inngest = serve(vec![f]).await;

    let small = inngest
        .send(Event::new("shop/order", json!({"total": 5})))
        .await;
    let big = inngest
        .send(Event::new("shop/order", json!({"total": 500})))
        .await;

    assert_eq!((small.len(), big.len()), (0, 1));
}

#[tokio::test]
async fn a_custom_matcher_evaluates_what_the_built_in_evaluator_cannot() {
    let f = Function::new(
        FunctionOpts::new("vip").trigger(Trigger::event_if(
            "user/login",
            "event.data.email.endsWith('@vip.example')",
        )),
        |_: Input<Value>, _step: Step| async move { Ok::<_, Error>(()) },
    );
    let inngest = FakeExecutor::builder()
        .with_matcher(|expr, event, _async| {
            let suffix = expr.split('\'').nth(1)?;
            Some(event["data"]["email"].as_str()?.ends_with(suffix))
        })
        .start()
        .await;
    inngest
        .serve(endpoint(&inngest, vec![f]))
        .await
        .expect("sync");

    let vip = inngest
        .send(Event::new("user/login", json!({"email": "a@vip.example"})))
        .await;
    let other = inngest
        .send(Event::new("user/login", json!({"email": "a@example.com"})))
        .await;

    assert_eq!((vip.len(), other.len()), (1, 0));
}

fn counted(calls: &Arc<AtomicUsize>) -> Function {
    let c = Arc::clone(calls);
    Function::new(on("a/b", "counted"), move |_: Input<Value>, step: Step| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            let n = step.run("one", || async { Ok::<_, Error>(1) }).await?;
            Ok::<_, Error>(n)
        }
    })
}

#[tokio::test]
async fn in_cloud_mode_signed_requests_are_accepted() {
    let calls = counter();
    let inngest = FakeExecutor::builder()
        .with_signing_key(SigningKey::new(KEY).expect("key"))
        .start()
        .await;
    inngest
        .serve(endpoint(&inngest, vec![counted(&calls)]))
        .await
        .expect("signed sync");

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(json!(1)));
    // The step was checkpointed with the signing key's bearer, so one call did it all.
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let checkpoints = inngest.checkpoints();
    assert_eq!(checkpoints.len(), 1);
    assert_eq!(checkpoints[0].status, 200);
}

#[tokio::test]
async fn an_app_with_another_signing_key_refuses_the_sync() {
    let inngest = FakeExecutor::builder()
        .with_signing_key(SigningKey::new(KEY).expect("key"))
        .start()
        .await;
    let config =
        Config::cloud(SigningKey::new(OTHER_KEY).expect("key")).with_base_url(inngest.url());

    let result = inngest
        .serve(endpoint_with(config, &inngest, vec![counted(&counter())]))
        .await;

    assert!(
        matches!(result, Err(FakeError::SyncRejected { status: 401, .. })),
        "{result:?}"
    );
}

/// An app served over HTTP whose endpoint the test can swap, e.g. to deploy a build with
/// another signing key after the sync.
async fn spawn_app(
    endpoint: Endpoint,
) -> (
    String,
    Arc<Mutex<Endpoint>>,
    Arc<Mutex<Vec<http::Request<Vec<u8>>>>>,
) {
    let current = Arc::new(Mutex::new(endpoint));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (Arc::clone(&current), Arc::clone(&seen));
    let handler = move |request: axum::extract::Request| {
        let (c, s) = (Arc::clone(&c), Arc::clone(&s));
        async move {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
            s.lock()
                .expect("lock")
                .push(http::Request::from_parts(parts.clone(), bytes.to_vec()));
            let endpoint = c.lock().expect("lock").clone();
            endpoint
                .handle(http::Request::from_parts(parts, bytes))
                .await
                .map(axum::body::Body::from)
        }
    };
    let app = axum::Router::new().route("/api/inngest", axum::routing::any(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/api/inngest",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, current, seen)
}

#[tokio::test]
async fn an_app_with_the_wrong_signing_key_answers_401_and_its_code_never_runs() {
    let calls = counter();
    let inngest = FakeExecutor::builder()
        .with_signing_key(SigningKey::new(KEY).expect("key"))
        .start()
        .await;
    let (url, current, _) = spawn_app(endpoint(&inngest, vec![counted(&calls)])).await;
    inngest
        .serve_url(&url)
        .await
        .expect("sync with the right key");
    let wrong =
        Config::cloud(SigningKey::new(OTHER_KEY).expect("key")).with_base_url(inngest.url());
    *current.lock().expect("lock") = endpoint_with(wrong, &inngest, vec![counted(&calls)]);

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(
        run.calls.len(),
        5,
        "401 is retried like any 4xx without X-Inngest-No-Retry"
    );
    assert!(run.calls.iter().all(|c| c.status == 401));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn requests_over_http_are_shaped_like_the_executors() {
    let calls = counter();
    let inngest = FakeExecutor::start().await;
    // Classic, so that the step costs a second call.
    let config = inngest.client_config().without_checkpointing();
    let (url, _, seen) = spawn_app(endpoint_with(config, &inngest, vec![counted(&calls)])).await;
    inngest.serve_url(&url).await.expect("sync");

    let ids = inngest
        .send(Event::new("a/b", json!({"x": 1})).id("evt-1"))
        .await;
    inngest.run_until_idle().await;

    assert_eq!(inngest.run(&ids[0]).status, RunStatus::Completed);
    let seen = seen.lock().expect("lock");
    let sync = &seen[0];
    assert_eq!(sync.method(), http::Method::PUT);
    assert_eq!(sync.headers()["x-inngest-sync-kind"], "in_band");
    let posts: Vec<&http::Request<Vec<u8>>> = seen
        .iter()
        .filter(|r| r.method() == http::Method::POST)
        .collect();
    assert_eq!(posts.len(), 2);
    let first = posts[0];
    assert_eq!(first.uri().query(), Some("fnId=app-counted&stepId=step"));
    assert_eq!(first.headers()["content-type"], "application/json");
    assert_eq!(first.headers()["x-run-id"], ids[0].as_str());
    assert_eq!(first.headers()["x-inngest-step-id"], "step");
    assert_eq!(first.headers()["x-inngest-req-version"], "-1");
    assert_eq!(posts[1].headers()["x-inngest-req-version"], "2");
    let text = std::str::from_utf8(first.body()).expect("utf8");
    assert!(
        text.starts_with(
            r#"{"ctx":{"attempt":0,"disable_immediate_execution":false,"env":"","fn_id":""#
        ),
        "{text}"
    );
    let body: Value = serde_json::from_str(text).expect("json");
    assert_eq!(body["ctx"]["run_id"], ids[0].as_str());
    assert_eq!(body["ctx"]["stack"], json!({"current": 0, "stack": []}));
    assert_eq!(body["ctx"]["max_attempts"], 5);
    assert_eq!(body["event"]["data"], json!({"x": 1}));
    assert_eq!(body["event"]["id"], "evt-1");
    assert_eq!(body["event"]["user"], json!({}));
    assert_eq!(body["events"], json!([body["event"]]));
    assert_eq!(body["version"], -1);
    let second: Value = serde_json::from_slice(posts[1].body()).expect("json");
    assert_eq!(second["ctx"]["stack"]["current"], 1);
    assert_eq!(second["version"], 2);
    assert_eq!(ids[0].as_str().len(), 26);
}

#[tokio::test]
async fn in_use_api_mode_the_app_fetches_events_and_steps_from_the_api() {
    let calls = counter();
    let inngest = FakeExecutor::builder()
        .with_signing_key(SigningKey::new(KEY).expect("key"))
        .use_api(true)
        .start()
        .await;
    let serial = Function::new(
        on("a/b", "serial"),
        |input: Input<Value>, step: Step| async move {
            let a = step.run("a", || async { Ok::<_, Error>(1) }).await?;
            let b = step.run("b", || async { Ok::<_, Error>(2) }).await?;
            Ok::<_, Error>(json!({"sum": a + b, "x": input.event.data["x"]}))
        },
    );
    // Classic, so that later calls replay memoized steps fetched from the API.
    let config = inngest.client_config().without_checkpointing();
    inngest
        .serve(endpoint_with(
            config,
            &inngest,
            vec![serial, counted(&calls)],
        ))
        .await
        .expect("sync");

    let ids = inngest.send(Event::new("a/b", json!({"x": "y"}))).await;
    inngest.run_until_idle().await;
    let run = inngest.runs_of("app-serial").remove(0);

    assert_eq!(ids.len(), 2);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(json!({"sum": 3, "x": "y"})));
    assert_eq!(
        run.calls.len(),
        3,
        "memoized steps came from the API, so nothing re-ran"
    );
    assert!(
        run.calls
            .iter()
            .all(|c| c.request["steps"] == json!({}) && c.request["use_api"] == true)
    );
    let fetched = inngest.api_requests();
    assert!(
        fetched.contains(&format!("GET /v0/runs/{}/actions", run.id)),
        "{fetched:?}"
    );
    assert!(
        fetched.contains(&format!("GET /v0/runs/{}/batch", run.id)),
        "{fetched:?}"
    );
}

#[tokio::test]
async fn a_run_that_keeps_calling_is_stopped_by_the_call_limit() {
    let f = Function::new(
        on("a/b", "looping").retries(100),
        |_: Input<Value>, _step: Step| async move { Err::<(), _>(Error::new("again")) },
    );
    let inngest = FakeExecutor::builder().max_calls_per_run(10).start().await;
    inngest
        .serve(endpoint(&inngest, vec![f]))
        .await
        .expect("sync");

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.calls.len(), 10);
    assert!(
        run.error
            .as_ref()
            .and_then(|e| e["message"].as_str())
            .is_some_and(|m| m.contains("limit"))
    );
}

#[tokio::test]
async fn invoke_starts_a_cron_function_directly() {
    let f = Function::new(
        FunctionOpts::new("nightly").trigger(Trigger::cron("0 3 * * *")),
        |input: Input<Value>, _step: Step| async move {
            Ok::<_, Error>(input.event.data["mode"].clone())
        },
    );
    let inngest = serve(vec![f]).await;

    let id = inngest.invoke("app-nightly", json!({"mode": "full"})).await;
    inngest.run_until_idle().await;

    assert_eq!(inngest.run(&id).output, Some(json!("full")));
}

/// `step_url` form-encodes the composite id into `runtime.url` (`fnId=app-send+email`);
/// the endpoint decodes it, so ids with spaces, `/`, `+`, `&` or non-ASCII are found.
#[tokio::test]
async fn a_function_whose_id_needs_url_encoding_is_found() {
    let f = Function::new(
        on("a/b", "send email"),
        |_: Input<Value>, _step: Step| async move { Ok::<_, Error>(1) },
    );
    let inngest = serve(vec![f]).await;

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.status, RunStatus::Completed, "{run:#?}");
}

#[tokio::test]
async fn a_sleep_reported_again_by_a_later_discovery_is_not_scheduled_twice() {
    let f = Function::new(
        on("a/b", "mixed"),
        |_: Input<Value>, step: Step| async move {
            let ((), a) = tokio::join!(
                step.sleep("nap", Duration::from_secs(600)),
                step.run("work", || async { Ok::<_, Error>(1) }),
            );
            Ok::<_, Error>(a?)
        },
    );
    let inngest = serve(vec![f]).await;

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    let sleeping = inngest.run(&ids[0]);
    inngest.advance(Duration::from_secs(600)).await;
    let run = inngest.run(&ids[0]);

    assert_eq!(sleeping.status, RunStatus::Sleeping);
    let ops: Vec<Vec<String>> = sleeping.calls.iter().map(|c| c.ops.clone()).collect();
    assert_eq!(
        ops,
        [vec!["Sleep", "StepPlanned"], vec!["StepRun"], vec!["Sleep"]]
    );
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(json!(1)));
    assert_eq!(run.step_ids(), ["work", "nap"]);
    assert_eq!(run.calls.len(), 4);
}

#[tokio::test]
async fn repeated_step_ids_are_memoized_separately() {
    let f = Function::new(
        on("a/b", "repeat"),
        |_: Input<Value>, step: Step| async move {
            let mut total = 0;
            for i in 1..=3 {
                total += step
                    .run("add", move || async move { Ok::<_, Error>(i) })
                    .await?;
            }
            Ok::<_, Error>(total)
        },
    );
    let inngest = serve(vec![f]).await;

    let ids = inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);

    assert_eq!(run.output, Some(json!(6)));
    assert_eq!(run.step_ids(), ["add", "add", "add"]);
    let hashes: std::collections::HashSet<&str> =
        run.steps.iter().map(|s| s.hashed_id.as_str()).collect();
    assert_eq!(hashes.len(), 3);
}

#[tokio::test]
async fn an_event_sent_with_the_client_from_a_function_triggers_another_function() {
    let inngest = FakeExecutor::start().await;
    let client = inngest.client();
    let sender = Function::new(on("a/b", "sender"), move |_: Input<Value>, _step: Step| {
        let client = client.clone();
        async move {
            client.send(&Event::new("c/d", json!({"hop": 1}))).await?;
            Ok::<_, Error>(())
        }
    });
    let receiver = Function::new(
        on("c/d", "receiver"),
        |input: Input<Value>, _step: Step| async move {
            Ok::<_, Error>(input.event.data["hop"].clone())
        },
    );
    inngest
        .serve(endpoint(&inngest, vec![sender, receiver]))
        .await
        .expect("sync");

    inngest.send(Event::new("a/b", json!({}))).await;
    inngest.run_until_idle().await;

    let received = inngest.runs_of("app-receiver");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].output, Some(json!(1)));
}
