//! Signals (docs/protocol.md §8.7) on the fake executor: typed data from the client or
//! another run's step, a timeout, and the two conflict policies.
#![cfg(feature = "testing")]

use std::time::Duration;

use inngest_sdk::testing::{FakeExecutor, RunStatus, StepKind};
use inngest_sdk::{
    Client, Endpoint, Error, Event, Function, FunctionOpts, Input, SignalConflict, Step, Trigger,
    WaitForSignal,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Approval {
    approved_by: String,
}

fn approval_flow() -> Function {
    Function::new(
        FunctionOpts::new("approval").trigger(Trigger::event("doc/submitted")),
        |input: Input<Value>, step: Step| async move {
            let doc = input.event.data["doc"].as_str().unwrap_or("?").to_owned();
            let conflict = if input.event.data["replace"] == json!(true) {
                SignalConflict::Replace
            } else {
                SignalConflict::Fail
            };
            let wait = WaitForSignal::new(format!("approval/{doc}"), Duration::from_secs(3600))
                .on_conflict(conflict);
            Ok::<_, Error>(
                match step.wait_for_signal::<Approval>("approval", wait).await? {
                    Some(signal) => json!({"by": signal.data.approved_by, "signal": signal.signal}),
                    None => json!("expired"),
                },
            )
        },
    )
}

fn approver() -> Function {
    Function::new(
        FunctionOpts::new("approver").trigger(Trigger::event("doc/approve")),
        |input: Input<Value>, step: Step| async move {
            let doc = input.event.data["doc"].as_str().unwrap_or("?").to_owned();
            let sent = step
                .send_signal(
                    "approve",
                    &format!("approval/{doc}"),
                    json!({"approved_by": "a run"}),
                )
                .await?;
            Ok::<_, Error>(sent.run_id)
        },
    )
}

async fn serve() -> FakeExecutor {
    let inngest = FakeExecutor::start().await;
    let endpoint = Endpoint::builder("app", Client::new(inngest.client_config()))
        .clock(inngest.clock())
        .function(approval_flow())
        .function(approver())
        .build()
        .expect("builds");
    inngest.serve(endpoint).await.expect("syncs");
    inngest
}

async fn submit(inngest: &FakeExecutor, data: Value) -> String {
    let ids = inngest.send(Event::new("doc/submitted", data)).await;
    inngest.run_until_idle().await;
    ids[0].as_str().to_owned()
}

#[tokio::test]
async fn a_signal_from_the_client_resumes_the_run_with_typed_data() {
    let inngest = serve().await;
    let run_id = submit(&inngest, json!({"doc": "1"})).await;
    assert_eq!(
        inngest.find_run(&run_id).expect("run").status,
        RunStatus::Waiting
    );

    let sent = inngest
        .client()
        .send_signal(
            "approval/1",
            &Approval {
                approved_by: "ada".into(),
            },
        )
        .await
        .expect("a run waits for it");
    inngest.run_until_idle().await;

    assert_eq!(sent.run_id, run_id);
    let run = inngest.find_run(&run_id).expect("run");
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(
        run.output,
        Some(json!({"by": "ada", "signal": "approval/1"}))
    );
    assert_eq!(
        run.step("approval").map(|s| s.kind),
        Some(StepKind::WaitForSignal)
    );
}

#[tokio::test]
async fn a_signal_nobody_waits_for_is_a_404_and_an_unsignalled_wait_times_out() {
    let inngest = serve().await;
    let error = inngest
        .client()
        .send_signal("approval/none", &json!({}))
        .await
        .expect_err("no run waits");
    assert!(error.to_string().contains("404"), "{error}");

    let run_id = submit(&inngest, json!({"doc": "2"})).await;
    inngest.advance(Duration::from_secs(3600)).await;

    let run = inngest.find_run(&run_id).expect("run");
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!("expired")));
}

#[tokio::test]
async fn a_send_signal_step_resumes_another_run() {
    let inngest = serve().await;
    let waiting = submit(&inngest, json!({"doc": "3"})).await;

    let ids = inngest
        .send(Event::new("doc/approve", json!({"doc": "3"})))
        .await;
    inngest.run_until_idle().await;

    let approver = inngest.run(&ids[0]);
    assert_eq!(approver.status, RunStatus::Completed, "{approver:?}");
    assert_eq!(approver.output, Some(json!(waiting)));
    let run = inngest.find_run(&waiting).expect("run");
    assert_eq!(
        run.output,
        Some(json!({"by": "a run", "signal": "approval/3"}))
    );
}

#[tokio::test]
async fn a_second_wait_fails_or_replaces_the_first_by_its_conflict_policy() {
    let inngest = serve().await;
    let first = submit(&inngest, json!({"doc": "4"})).await;
    let second = submit(&inngest, json!({"doc": "4"})).await;
    assert_eq!(
        inngest.find_run(&second).expect("run").status,
        RunStatus::Failed,
        "the default policy fails the second wait"
    );

    let third = submit(&inngest, json!({"doc": "4", "replace": true})).await;
    inngest
        .client()
        .send_signal(
            "approval/4",
            &Approval {
                approved_by: "ada".into(),
            },
        )
        .await
        .expect("the third waits");
    inngest.run_until_idle().await;
    assert_eq!(
        inngest.find_run(&third).expect("run").output,
        Some(json!({"by": "ada", "signal": "approval/4"}))
    );
    // The replaced wait got nothing and ends at its timeout.
    assert_eq!(
        inngest.find_run(&first).expect("run").status,
        RunStatus::Waiting
    );
    inngest.advance(Duration::from_secs(3600)).await;
    assert_eq!(
        inngest.find_run(&first).expect("run").output,
        Some(json!("expired"))
    );
}
