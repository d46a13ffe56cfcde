//! The happy path with `INNGEST_CONNECT=1` (docs/protocol.md §13): the functions run over
//! the Connect worker's WebSocket while the HTTP server keeps serving the webhooks, the
//! Discord flow and the probes; `/readyz` follows the worker; SIGTERM drains both.

use axum::http::Method;
use inngest_sdk::testing::real::RunStatus;
use serde_json::json;

use super::{Purchase, RUN_LIMIT, Stack};
use crate::stand_in::{DISCORD_USER, GUILD, ROLE_ONE_ON_ONE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_buyer_is_onboarded_with_the_functions_served_over_connect() {
    let mut stack = Stack::dev(None).await;
    stack
        .vendors
        .add_clerk_user("user_e2e_cora", "cora@example.com", "Cora");
    stack.start_app(stack.dev_env(&[("INNGEST_CONNECT", "1")]));
    // No sync request: the worker's handshake registers the app with the gateway.
    stack.wait_synced().await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let http = http.clone();
        let url = format!("{}{path}", stack.app_url());
        async move {
            let res = http.get(url).send().await.expect("the app answers");
            (res.status().as_u16(), res.text().await.unwrap_or_default())
        }
    };
    let ready = stack
        .server
        .wait_for("/readyz to say ready", RUN_LIMIT, || async {
            let (status, body) = get("/readyz").await;
            (status == 200).then_some(body)
        })
        .await
        .expect("ready");
    assert_eq!(ready, "ready");
    assert_eq!(
        get("/api/inngest").await.0,
        404,
        "over Connect the app has no serve endpoint"
    );
    let apps = stack.server.apps().await.expect("apps");
    assert!(
        apps.iter()
            .any(|(name, functions, connected)| name == "huckleberry"
                && *functions >= 4
                && *connected),
        "{apps:?}"
    );

    // The webhook arrives over HTTP; every step of the run is executed over the socket.
    stack
        .purchase(&Purchase::new("cora@example.com", "cs_test_e2e_cora"))
        .await;
    let run = stack.purchase_run("cs_test_e2e_cora").await;
    let emails = stack.wait_emails_to("cora@example.com", 1).await;
    // The Discord flow is served over HTTP too.
    assert_eq!(stack.connect_when_waiting(&run.id, &emails[0]).await, 200);
    let run = stack.wait_run(&run.id, RunStatus::Completed).await;
    assert_eq!(
        run.output.as_ref().map(|o| &o["status"]),
        Some(&json!("active"))
    );
    let role =
        format!("/discord/api/v10/guilds/{GUILD}/members/{DISCORD_USER}/roles/{ROLE_ONE_ON_ONE}");
    assert!(
        !stack.vendors.requests_to(Method::PUT, &role).is_empty(),
        "the one-on-one role was given"
    );
    let emails = stack.wait_emails_to("cora@example.com", 2).await;
    assert!(
        emails[1]["subject"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains("welcome"),
        "{}",
        emails[1]["subject"]
    );

    // SIGTERM: the worker drains and closes beside the HTTP server; the process exits 0.
    stack.stop_app();
}
