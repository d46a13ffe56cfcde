//! Faults on the real executor: a vendor failing, a vendor asking to wait, the app
//! restarted mid-run, a duplicated delivery.

use std::time::Duration;

use axum::http::Method;
use inngest_sdk::testing::real::RunStatus;
use serde_json::Value;

use super::{Purchase, RUN_LIMIT, Stack};

/// Clerk answers 503 twice, then works: the step is retried by the executor, the run
/// completes, and each failure is a `warn` line naming run, step, attempt, vendor and status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_vendor_failing_twice_with_5xx_is_retried_and_the_run_completes() {
    let mut stack = Stack::dev(Some(1)).await;
    stack
        .vendors
        .add_clerk_user("user_e2e_hal", "hal@example.com", "Hal");
    stack.start_app(stack.dev_env(&[]));
    stack.sync().await;
    stack
        .vendors
        .fail_next(Method::GET, "/clerk/v1/users", 2, 503, &[]);

    stack
        .purchase(&Purchase::new("hal@example.com", "cs_test_e2e_hal"))
        .await;
    let run = stack.purchase_run("cs_test_e2e_hal").await;
    let emails = stack.wait_emails_to("hal@example.com", 1).await;
    assert_eq!(stack.connect_when_waiting(&run.id, &emails[0]).await, 200);
    let run = stack.wait_run(&run.id, RunStatus::Completed).await;
    assert_eq!(
        run.output.as_ref().map(|o| o["status"].clone()),
        Some("active".into())
    );
    let lookups = stack.vendors.requests_to(Method::GET, "/clerk/v1/users");
    assert!(
        lookups.len() >= 3,
        "two failures and a success: {}",
        lookups.len()
    );
    let steps = stack.server.steps(&run.id).await.expect("trace");
    let find = steps
        .iter()
        .find(|s| s.name == "find-buyer-in-clerk")
        .expect("the step is in the trace");
    assert_eq!(find.status, "COMPLETED", "{steps:?}");

    // The app's log says what failed, for each attempt.
    let mut attempts = Vec::new();
    tokio::task::block_in_place(|| {
        while attempts.len() < 2 {
            let line = stack
                .app()
                .find_log(Duration::from_secs(10), |line: &Value| {
                    (line["level"] == "WARN" && line["vendor"] == "clerk" && line["status"] == 503)
                        .then(|| line.clone())
                })
                .expect("a warn line per failed attempt");
            assert_eq!(line["span"]["run_id"], run.id.as_str(), "{line}");
            assert_eq!(line["span"]["step"], "find-buyer-in-clerk", "{line}");
            attempts.push(line["span"]["attempt"].as_u64().expect("attempt"));
        }
    });
    assert_eq!(attempts, [0, 1]);
}

/// Clerk answers 429 with `Retry-After: 3`: the executor retries no earlier than asked, and
/// long before its own backoff (15 s and more) would have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_vendor_429_is_retried_no_earlier_than_its_retry_after() {
    for header in ["retry-after", "ratelimit-reset"] {
        let mut stack = Stack::dev(None).await;
        stack
            .vendors
            .add_clerk_user("user_e2e_ivy", "ivy@example.com", "Ivy");
        stack.start_app(stack.dev_env(&[]));
        stack.sync().await;
        stack
            .vendors
            .fail_next(Method::GET, "/clerk/v1/users", 1, 429, &[(header, "3")]);

        stack
            .purchase(&Purchase::new("ivy@example.com", "cs_test_e2e_ivy"))
            .await;
        let run = stack.purchase_run("cs_test_e2e_ivy").await;
        stack.wait_emails_to("ivy@example.com", 1).await;
        let lookups = stack.vendors.requests_to(Method::GET, "/clerk/v1/users");
        assert!(lookups.len() >= 2, "{header}: {}", lookups.len());
        let gap = lookups[1].at.duration_since(lookups[0].at);
        assert!(
            gap >= Duration::from_secs(3),
            "{header}: retried after {gap:?}"
        );
        assert!(
            gap < Duration::from_secs(12),
            "{header}: retried after {gap:?}"
        );
        stack.wait_run(&run.id, RunStatus::Running).await;
    }
}

/// The app is stopped with SIGTERM and started again while the run waits for the
/// connection: the run completes on the new process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn the_app_restarted_while_a_run_waits_finishes_the_run() {
    let mut stack = Stack::dev(None).await;
    stack
        .vendors
        .add_clerk_user("user_e2e_jo", "jo@example.com", "Jo");
    stack.start_app(stack.dev_env(&[]));
    stack.sync().await;

    stack
        .purchase(&Purchase::new("jo@example.com", "cs_test_e2e_jo"))
        .await;
    let run = stack.purchase_run("cs_test_e2e_jo").await;
    let emails = stack.wait_emails_to("jo@example.com", 1).await;
    super::journeys::wait_for_step(&stack, &run.id, "wait-for-discord").await;

    stack.stop_app();
    stack.restart_app();
    assert_eq!(stack.connect_when_waiting(&run.id, &emails[0]).await, 200);
    let run = stack.wait_run(&run.id, RunStatus::Completed).await;
    assert_eq!(
        run.output.as_ref().map(|o| o["status"].clone()),
        Some("active".into())
    );
}

/// Stripe delivers the same event twice: one run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn the_same_stripe_delivery_twice_starts_one_run() {
    let mut stack = Stack::dev(None).await;
    stack
        .vendors
        .add_clerk_user("user_e2e_kim", "kim@example.com", "Kim");
    stack.start_app(stack.dev_env(&[]));
    stack.sync().await;

    let delivery = Purchase::new("kim@example.com", "cs_test_e2e_kim").delivery("evt_e2e_kim");
    assert_eq!(stack.deliver(delivery.clone()).await, 200);
    assert_eq!(stack.deliver(delivery).await, 200);
    let run = stack.purchase_run("cs_test_e2e_kim").await;
    stack.wait_emails_to("kim@example.com", 1).await;

    // Both deliveries reached the server; only one started a run.
    let server = &stack.server;
    let events = server
        .wait_for("both deliveries", RUN_LIMIT, || async {
            let events = server.events_named("purchase/mentorship").await.ok()?;
            (events.len() >= 2).then_some(events)
        })
        .await
        .expect("two events");
    let mut runs = Vec::new();
    for event in &events {
        runs.extend(server.runs_of_event(&event.id).await.expect("runs"));
    }
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].id, run.id);
    assert_eq!(stack.emails_to("kim@example.com").len(), 1);
}
