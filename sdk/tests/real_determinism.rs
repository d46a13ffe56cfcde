//! Non-determinism detection (docs/protocol.md §7.16) on the real Inngest server: a step
//! renamed while the run sleeps fails the run at once with a `NonDeterminismError`, and the
//! executor does not retry it.
//!
//! Needs the server binary (`INNGEST_BIN`, or `inngest-cli` / `inngest` on `PATH`):
//! `cargo test -p inngest-sdk --all-features --test real_determinism -- --ignored`.
#![cfg(feature = "testing")]
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use inngest_sdk::testing::real::{InngestServer, RunStatus, ServerOptions};
use inngest_sdk::{Client, Config, Endpoint, Error, Function, FunctionOpts, Input, Step, Trigger};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn a_step_renamed_while_the_run_sleeps_fails_the_run_without_retries() {
    let server = InngestServer::start(ServerOptions::dev().retry_interval(1))
        .await
        .expect("needs the real Inngest server");
    let deployed = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let flag = Arc::clone(&deployed);
    let counted = Arc::clone(&calls);
    let renamed = Function::new(
        FunctionOpts::new("renamed")
            .trigger(Trigger::event("test/nd.renamed"))
            .retries(3),
        move |_: Input<Value>, step: Step| {
            let id = if flag.load(Ordering::SeqCst) {
                "charge-v2"
            } else {
                "charge"
            };
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                step.run(id, || async { Ok::<_, Error>(1) }).await?;
                step.sleep("cool-off", Duration::from_secs(2)).await;
                step.run("email", || async { Ok::<_, Error>(2) }).await?;
                Ok::<_, Error>("done")
            }
        },
    );
    // Dev mode: the check is on by default.
    let client = Client::new(Config::dev().with_base_url(server.url().clone()));
    let endpoint = Endpoint::builder("nd-test", client)
        .function(renamed)
        .build()
        .unwrap();
    let _app = server.serve_and_sync(endpoint).await.unwrap();

    let ids = server
        .send_event(json!({"name": "test/nd.renamed", "data": {}}))
        .await
        .unwrap();
    let run = server
        .first_run_of(&ids[0], Duration::from_secs(60))
        .await
        .unwrap();
    // The first call ran `charge` and answered the sleep: "deploy" the renamed step.
    server
        .wait_for("the first call", Duration::from_secs(30), || async {
            (calls.load(Ordering::SeqCst) >= 1).then_some(())
        })
        .await
        .unwrap();
    deployed.store(true, Ordering::SeqCst);
    let calls_before = calls.load(Ordering::SeqCst);

    let (run, output) = server
        .wait_for_output(&run.id, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(output["name"], "NonDeterminismError", "{output}");
    let message = output["message"].as_str().unwrap_or("");
    assert!(message.contains("\"charge-v2\""), "{message}");
    assert!(
        message.contains(&inngest_sdk::__private::hash::hash_step_id("charge")),
        "{message}"
    );
    // One call after the sleep, not retried (retries(3) would make four).
    assert_eq!(calls.load(Ordering::SeqCst), calls_before + 1);
}
