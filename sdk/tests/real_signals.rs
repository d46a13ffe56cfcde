//! Signals (docs/protocol.md §8.7) on the real Inngest server: a run waits for a signal and
//! gets its typed data, sent by the client or by another run's `send_signal` step; a wait
//! that nobody signals times out with `None`.
//!
//! Needs the server binary (`INNGEST_BIN`, or `inngest-cli` / `inngest` on `PATH`):
//! `cargo test -p inngest-sdk --all-features --test real_signals -- --ignored`.
#![cfg(feature = "testing")]
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::time::Duration;

use inngest_sdk::testing::real::{InngestServer, RunStatus, ServedApp, ServerOptions};
use inngest_sdk::{
    Client, Config, Endpoint, Error, Function, FunctionOpts, Input, SignalConflict, Step, Trigger,
    WaitForSignal,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Approval {
    approved_by: String,
}

/// Waits for `approval/<data.doc>`; returns who approved, or `"nobody"` on timeout.
fn approval_flow() -> Function {
    Function::new(
        FunctionOpts::new("approval").trigger(Trigger::event("test/approval.requested")),
        |input: Input<Value>, step: Step| async move {
            let doc = input.event.data["doc"].as_str().unwrap_or("?").to_owned();
            let seconds = input.event.data["timeout_s"].as_u64().unwrap_or(120);
            let conflict = if input.event.data["replace"] == json!(true) {
                SignalConflict::Replace
            } else {
                SignalConflict::Fail
            };
            let signal = step
                .wait_for_signal::<Approval>(
                    "wait-for-approval",
                    WaitForSignal::new(format!("approval/{doc}"), Duration::from_secs(seconds))
                        .on_conflict(conflict),
                )
                .await?;
            Ok::<_, Error>(match signal {
                Some(signal) => json!({"signal": signal.signal, "by": signal.data.approved_by}),
                None => json!("nobody"),
            })
        },
    )
}

/// Sends `approval/<data.doc>` as a step.
fn approver() -> Function {
    Function::new(
        FunctionOpts::new("approver").trigger(Trigger::event("test/approve")),
        |input: Input<Value>, step: Step| async move {
            let doc = input.event.data["doc"].as_str().unwrap_or("?").to_owned();
            let sent = step
                .send_signal(
                    "approve",
                    &format!("approval/{doc}"),
                    Approval {
                        approved_by: "a run".into(),
                    },
                )
                .await?;
            Ok::<_, Error>(sent.run_id)
        },
    )
}

/// A server with the app served and synced; the app answers while the `ServedApp` lives.
async fn start() -> (InngestServer, Client, ServedApp) {
    let server = InngestServer::start(ServerOptions::dev().retry_interval(1))
        .await
        .expect("needs the real Inngest server");
    let client = Client::new(Config::dev().with_base_url(server.url().clone()));
    let endpoint = Endpoint::builder("signals-test", client.clone())
        .function(approval_flow())
        .function(approver())
        .build()
        .unwrap();
    let app = server.serve_and_sync(endpoint).await.unwrap();
    (server, client, app)
}

async fn start_run(server: &InngestServer, event: Value) -> String {
    let ids = server.send_event(event).await.unwrap();
    server
        .first_run_of(&ids[0], Duration::from_secs(60))
        .await
        .unwrap()
        .id
}

async fn output_of(server: &InngestServer, run_id: &str) -> (RunStatus, Value) {
    let (run, output) = server
        .wait_for_output(run_id, Duration::from_secs(120))
        .await
        .unwrap();
    (run.status, output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn a_signal_sent_by_the_client_resumes_the_waiting_run_with_typed_data() {
    let (server, client, _app) = start().await;
    let run_id = start_run(
        &server,
        json!({"name": "test/approval.requested", "data": {"doc": "d1"}}),
    )
    .await;

    // The signal finds no run until the wait is registered (404): retry until it lands.
    let sent = server
        .wait_for(
            "the signal to be received",
            Duration::from_secs(60),
            || async {
                client
                    .send_signal(
                        "approval/d1",
                        &Approval {
                            approved_by: "ada".into(),
                        },
                    )
                    .await
                    .ok()
            },
        )
        .await
        .unwrap();

    assert_eq!(sent.run_id, run_id);
    let (status, output) = output_of(&server, &run_id).await;
    assert_eq!(status, RunStatus::Completed, "{output}");
    assert_eq!(output, json!({"signal": "approval/d1", "by": "ada"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn a_send_signal_step_resumes_another_run_and_an_unsignalled_wait_times_out() {
    let (server, client, _app) = start().await;
    let waiting = start_run(
        &server,
        json!({"name": "test/approval.requested", "data": {"doc": "d2"}}),
    )
    .await;
    let lonely = start_run(
        &server,
        json!({"name": "test/approval.requested", "data": {"doc": "d3", "timeout_s": 2}}),
    )
    .await;
    // Wait until the first run waits (a signal to nobody is a 404), without sending one.
    server
        .wait_for("the run to wait", Duration::from_secs(60), || async {
            let steps = server.steps(&waiting).await.ok()?;
            steps
                .iter()
                .any(|s| s.name == "wait-for-approval")
                .then_some(())
        })
        .await
        .unwrap();
    let _ = &client;

    let approver = start_run(
        &server,
        json!({"name": "test/approve", "data": {"doc": "d2"}}),
    )
    .await;

    let (status, output) = output_of(&server, &approver).await;
    assert_eq!(status, RunStatus::Completed, "{output}");
    assert_eq!(output, json!(waiting));
    let (status, output) = output_of(&server, &waiting).await;
    assert_eq!(status, RunStatus::Completed, "{output}");
    assert_eq!(output, json!({"signal": "approval/d2", "by": "a run"}));
    let (status, output) = output_of(&server, &lonely).await;
    assert_eq!(status, RunStatus::Completed, "{output}");
    assert_eq!(output, json!("nobody"));
}

/// Waits until the run's wait for a signal is registered (its step shows in the trace).
async fn wait_until_waiting(server: &InngestServer, run_id: &str) {
    server
        .wait_for("the run to wait", Duration::from_secs(60), || async {
            let steps = server.steps(run_id).await.ok()?;
            steps
                .iter()
                .any(|s| s.name == "wait-for-approval")
                .then_some(())
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn a_second_wait_for_a_taken_signal_fails_or_replaces_the_first_by_its_policy() {
    let (server, client, _app) = start().await;
    let first = start_run(
        &server,
        json!({"name": "test/approval.requested", "data": {"doc": "d4"}}),
    )
    .await;
    wait_until_waiting(&server, &first).await;

    // Policy "fail": the second wait fails; the first keeps the signal.
    let second = start_run(
        &server,
        json!({"name": "test/approval.requested", "data": {"doc": "d4"}}),
    )
    .await;
    let (status, output) = output_of(&server, &second).await;
    assert_eq!(status, RunStatus::Failed, "{output}");

    // Policy "replace": the third wait takes the signal over.
    let third = start_run(
        &server,
        json!({"name": "test/approval.requested", "data": {"doc": "d4", "replace": true}}),
    )
    .await;
    wait_until_waiting(&server, &third).await;
    let sent = server
        .wait_for(
            "the signal to be received",
            Duration::from_secs(60),
            || async {
                client
                    .send_signal(
                        "approval/d4",
                        &Approval {
                            approved_by: "ada".into(),
                        },
                    )
                    .await
                    .ok()
            },
        )
        .await
        .unwrap();
    assert_eq!(sent.run_id, third);
    let (status, output) = output_of(&server, &third).await;
    assert_eq!(status, RunStatus::Completed, "{output}");
    assert_eq!(output, json!({"signal": "approval/d4", "by": "ada"}));
    // The replaced run did not get the signal: it still waits (until its timeout).
    let first_run = server.run(&first).await.unwrap().unwrap();
    assert_eq!(first_run.status, RunStatus::Running, "{first_run:?}");
}
