//! Production mode against `inngest start` (a self-hosted server that signs every request,
//! as Inngest Cloud does): the app syncs itself at start, runs a purchase with signed calls,
//! and refuses unsigned or forged ones.

use inngest_sdk::testing::real::{RunStatus, ServerOptions};
use serde_json::json;

use super::{CATALOG, Purchase, STRIPE_SECRET, Stack};
use crate::secrets::production_env;

const SIGNING_KEY: &str = "0b7c8d12e5f04a6b9c3d2e1f00112233445566778899aabbccddeeff00112233";
const EVENT_KEY: &str = "e2e-production-event-key";

async fn production_stack() -> Stack {
    let mut stack = Stack::with_server(ServerOptions::self_hosted(SIGNING_KEY, EVENT_KEY)).await;
    stack
        .vendors
        .add_clerk_user("user_e2e_lee", "lee@example.com", "Lee");
    let server = stack.server.url().as_str().trim_end_matches('/').to_owned();
    let mut env: Vec<(String, String)> = production_env(&stack.vendors)
        .into_iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "INNGEST_API_BASE_URL"
                    | "INNGEST_EVENT_API_BASE_URL"
                    | "INNGEST_SIGNING_KEY_FALLBACK"
                    | "PORT"
                    | "APP_BASE_URL"
                    | "RUST_LOG"
            )
        })
        .collect();
    env.retain(|(k, _)| k != "INNGEST_DEV");
    let env = super::overlay(
        env,
        &[
            ("INNGEST_BASE_URL", &server),
            ("INNGEST_SIGNING_KEY", SIGNING_KEY),
            ("INNGEST_EVENT_KEY", EVENT_KEY),
            ("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET),
            ("MENTORSHIP_CATALOG", CATALOG),
            ("RUST_LOG", "info"),
        ],
    );
    stack.start_app(env);
    stack
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn in_production_the_app_syncs_itself_and_onboards_a_purchase_over_signed_calls() {
    let stack = production_stack().await;
    // Nobody syncs it: the app registers itself at start.
    stack.wait_synced().await;

    stack
        .purchase(&Purchase::new("lee@example.com", "cs_test_e2e_lee"))
        .await;
    let run = stack.purchase_run("cs_test_e2e_lee").await;
    let emails = stack.wait_emails_to("lee@example.com", 1).await;
    assert_eq!(stack.connect_when_waiting(&run.id, &emails[0]).await, 200);
    let run = stack.wait_run(&run.id, RunStatus::Completed).await;
    assert_eq!(
        run.output.as_ref().map(|o| o["status"].clone()),
        Some(json!("active"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn in_production_an_unsigned_or_forged_call_is_refused_and_reaches_no_vendor() {
    let stack = production_stack().await;
    stack.wait_synced().await;
    let before = stack.vendors.requests().len();

    let body = json!({
        "event": {"name": "purchase/mentorship", "data": {
            "provider": "stripe", "purchase_id": "cs_forged", "email": "lee@example.com",
            "mentorship": "one_on_one", "product": "p", "amount_minor": 1, "currency": "usd",
            "livemode": false, "purchased_at": "2026-01-01T00:00:00Z"}},
        "events": [], "steps": {}, "use_api": false, "version": 2,
        "ctx": {"run_id": "01FORGED", "attempt": 0, "max_attempts": 4, "fn_id": "x",
                "step_id": "step", "stack": {"stack": [], "current": 0},
                "disable_immediate_execution": false, "use_api": false}
    })
    .to_string();
    let url = format!(
        "{}/api/inngest?fnId=huckleberry-onboarding-flow&stepId=step",
        stack.app_url()
    );
    let now = chrono::Utc::now().timestamp();
    let http = reqwest::Client::new();
    for signature in [
        None,
        Some(format!("t={now}&s={}", "0".repeat(64))),
        // Signed with another key.
        Some(
            inngest_sdk::SigningKey::new("00ff00ff")
                .expect("a key")
                .sign(body.as_bytes(), now),
        ),
    ] {
        let mut request = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(signature) = &signature {
            request = request.header("x-inngest-signature", signature);
        }
        let response = request.send().await.expect("the app answers");
        assert_eq!(response.status(), 401, "{signature:?}");
    }
    // An unsigned GET reveals nothing either.
    let introspection = http
        .get(format!("{}/api/inngest", stack.app_url()))
        .send()
        .await
        .expect("answers");
    assert_eq!(introspection.status(), 401);
    assert_eq!(
        stack.vendors.requests().len(),
        before,
        "no vendor was called"
    );
}
