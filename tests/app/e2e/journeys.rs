//! The journeys of DESIGN's functions on the real executor: the README walk-through, a
//! buyer who never connects, a buyer without an account, a bounce, a staff resend, a
//! returning buyer and two purchases in flight.

use axum::http::Method;
use inngest_sdk::testing::real::RunStatus;
use serde_json::json;

use super::{
    EMAIL_BOUNCED, FOLLOW_UP, ONBOARDING, PRODUCT_GROUP, Purchase, RUN_LIMIT, Stack, link_in,
};
use crate::process::BIN;
use crate::stand_in::{DISCORD_USER, GUILD, ROLE_GROUP, ROLE_ONE_ON_ONE};

/// Follows redirects by hand, carrying cookies, until a page; returns its status.
async fn browse(start: &str) -> u16 {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut url = start.to_owned();
    let mut cookies: Vec<String> = Vec::new();
    for _ in 0..5 {
        let mut request = browser.get(&url);
        if !cookies.is_empty() {
            request = request.header("cookie", cookies.join("; "));
        }
        let response = request.send().await.expect("the page answers");
        for value in response.headers().get_all("set-cookie") {
            let pair = value
                .to_str()
                .expect("ascii")
                .split(';')
                .next()
                .unwrap_or("");
            cookies.push(pair.to_owned());
        }
        if !response.status().is_redirection() {
            return response.status().as_u16();
        }
        url = response.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
    }
    panic!("too many redirects from {start}");
}

/// The README's "see it work", as a newcomer does it: no vendor credentials (dry run),
/// `huckleberry simulate stripe`, the link from the logged email, the completed run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn the_readme_walk_through_onboards_a_simulated_purchase_through_the_logged_link() {
    let mut stack = Stack::dev(None).await;
    let server = stack.server.url().as_str().trim_end_matches('/').to_owned();
    stack.start_app(vec![
        ("INNGEST_DEV".into(), server),
        (
            "STRIPE_WEBHOOK_SECRETS".into(),
            "whsec_local_development_only".into(),
        ),
        (
            "MENTORSHIP_CATALOG".into(),
            "price_1QxOneOnOne2026=one_on_one".into(),
        ),
    ]);
    stack.sync().await;

    let simulated = tokio::process::Command::new(BIN)
        .args(["simulate", "stripe", "--url", &stack.app_url()])
        .env_clear()
        .env("STRIPE_WEBHOOK_SECRETS", "whsec_local_development_only")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .expect("simulate runs");
    let printed = String::from_utf8_lossy(&simulated.stdout);
    assert!(simulated.status.success(), "{printed}");
    assert!(printed.contains("-> 200 OK"), "{printed}");

    let link = tokio::task::block_in_place(|| {
        stack.app().find_log(RUN_LIMIT, |line| {
            (line["message"] == "would have sent this email")
                .then(|| crate::journey::connect_link(line["text"].as_str().unwrap_or("")))
        })
    })
    .expect("the dry-run mailer logs the connection email");
    let server = &stack.server;
    let run = server
        .wait_for("the onboarding run", RUN_LIMIT, || async {
            server.runs_of(ONBOARDING).await.ok()?.into_iter().next()
        })
        .await
        .expect("a run");
    // A wait only sees events that arrive after it started.
    wait_for_step(&stack, &run.id, "wait-for-discord").await;
    assert_eq!(browse(&link).await, 200, "the connected page");
    let run = stack.wait_run(&run.id, RunStatus::Completed).await;
    let output = run.output.expect("an output");
    assert_eq!(output["status"], "active", "{output}");
    let completed = server
        .wait_for("mentorship/onboarding.completed", RUN_LIMIT, || async {
            let events = server
                .events_named("mentorship/onboarding.completed")
                .await
                .ok()?;
            (!events.is_empty()).then_some(events)
        })
        .await
        .expect("the completion event");
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].data()["mentorship"], "one_on_one");
}

/// A buyer with an account who follows the emailed link: the happy path with live vendors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_buyer_who_follows_the_link_gets_access_the_role_and_a_welcome() {
    let mut stack = Stack::dev(None).await;
    stack
        .vendors
        .add_clerk_user("user_e2e_ada", "ada@example.com", "Ada");
    stack.start_app(stack.dev_env(&[]));
    stack.sync().await;

    stack
        .purchase(&Purchase::new("ada@example.com", "cs_test_e2e_ada"))
        .await;
    let run = stack.purchase_run("cs_test_e2e_ada").await;
    let emails = stack.wait_emails_to("ada@example.com", 1).await;
    assert_eq!(stack.connect_when_waiting(&run.id, &emails[0]).await, 200);

    let run = stack.wait_run(&run.id, RunStatus::Completed).await;
    assert_eq!(
        run.output.as_ref().map(|o| &o["status"]),
        Some(&json!("active"))
    );
    let metadata = stack.vendors.clerk_metadata("user_e2e_ada");
    assert_eq!(metadata["mentorship"]["status"], "active", "{metadata}");
    let role =
        format!("/discord/api/v10/guilds/{GUILD}/members/{DISCORD_USER}/roles/{ROLE_ONE_ON_ONE}");
    assert!(
        !stack.vendors.requests_to(Method::PUT, &role).is_empty(),
        "the one-on-one role was given"
    );
    let emails = stack.wait_emails_to("ada@example.com", 2).await;
    assert!(
        emails[1]["subject"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains("welcome"),
        "{}",
        emails[1]["subject"]
    );
    let steps = stack.server.steps(&run.id).await.expect("the trace");
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "find-buyer-in-clerk",
            "record-purchase",
            "send-connect-link",
            "wait-for-discord",
            "grant-dashboard-access",
            "grant-discord-role",
            "send-welcome-email",
            "send-onboarding-completed"
        ],
        "{steps:?}"
    );
}

/// No connection: every reminder, then a staff alert and `discord_not_connected`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_buyer_who_never_connects_gets_every_reminder_then_staff_are_alerted() {
    let mut stack = Stack::dev(None).await;
    stack
        .vendors
        .add_clerk_user("user_e2e_bo", "bo@example.com", "Bo");
    stack.start_app(stack.dev_env(&[
        ("ONBOARDING_REMINDERS", "2"),
        ("ONBOARDING_REMINDER_INTERVAL", "2s"),
    ]));
    stack.sync().await;

    stack
        .purchase(&Purchase::new("bo@example.com", "cs_test_e2e_bo"))
        .await;
    let run = stack.purchase_run("cs_test_e2e_bo").await;
    let run = stack.wait_run(&run.id, RunStatus::Completed).await;
    let output = run.output.expect("an output");
    assert_eq!(output["status"], "discord_not_connected", "{output}");
    assert_eq!(output["reminders_sent"], 2, "{output}");

    // The link, then one reminder per round, each with a fresh link.
    let emails = stack.emails_to("bo@example.com");
    assert_eq!(emails.len(), 3, "{emails:#?}");
    let alerts = stack.emails_to("staff@academy.test");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert!(
        alerts[0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("bo@example.com")
    );
    let metadata = stack.vendors.clerk_metadata("user_e2e_bo");
    assert_eq!(
        metadata["mentorship"]["status"], "discord_not_connected",
        "{metadata}"
    );
    // The reminders ran as their own function, invoked by onboarding.
    let reminders = stack.server.runs_of(FOLLOW_UP).await.expect("runs");
    assert_eq!(reminders.len(), 2, "{reminders:?}");
    assert!(reminders.iter().all(|r| r.status == RunStatus::Completed));
}

/// A buyer without an account: a Clerk invitation, then the signed `user.created` webhook
/// lets the run go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_buyer_without_an_account_is_invited_and_onboarded_after_signing_up() {
    let mut stack = Stack::dev(None).await;
    stack.start_app(stack.dev_env(&[]));
    stack.sync().await;

    stack
        .purchase(&Purchase::new("cy@example.com", "cs_test_e2e_cy"))
        .await;
    let run = stack.purchase_run("cs_test_e2e_cy").await;
    let invitations = stack
        .server
        .wait_for("the Clerk invitation", RUN_LIMIT, || async {
            let invitations = stack.vendors.clerk_invitations();
            (!invitations.is_empty()).then_some(invitations)
        })
        .await
        .expect("an invitation");
    assert_eq!(invitations[0]["email_address"], "cy@example.com");
    // Let the run reach its wait for the sign-up (waits only see later events).
    wait_for_step(&stack, &run.id, "wait-for-clerk-signup").await;

    // The buyer signs up: Clerk has the user and sends the webhook.
    stack
        .vendors
        .add_clerk_user("user_e2e_cy", "cy@example.com", "Cy");
    assert_eq!(
        stack
            .clerk_user_created("user_e2e_cy", "cy@example.com")
            .await,
        200
    );
    let emails = stack.wait_emails_to("cy@example.com", 1).await;
    assert_eq!(stack.connect_when_waiting(&run.id, &emails[0]).await, 200);

    let run = stack.wait_run(&run.id, RunStatus::Completed).await;
    let output = run.output.expect("an output");
    assert_eq!(output["status"], "active", "{output}");
    assert_eq!(output["clerk_user_id"], "user_e2e_cy", "{output}");
}

/// A bounce: the buyer's onboarding is marked and staff are told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_bounced_email_marks_the_buyer_and_alerts_staff() {
    let mut stack = Stack::dev(None).await;
    stack
        .vendors
        .add_clerk_user("user_e2e_di", "di@example.com", "Di");
    stack.start_app(stack.dev_env(&[]));
    stack.sync().await;

    assert_eq!(
        stack
            .resend_bounced("di@example.com", "msg_e2e_bounce_1")
            .await,
        200
    );
    let server = &stack.server;
    let run = server
        .wait_for("the email-bounced run", RUN_LIMIT, || async {
            server.runs_of(EMAIL_BOUNCED).await.ok()?.into_iter().next()
        })
        .await
        .expect("a run");
    let run = stack.wait_run(&run.id, RunStatus::Completed).await;
    let output = run.output.expect("an output");
    assert_eq!(output["clerk_user_id"], "user_e2e_di", "{output}");
    assert_eq!(output["blocked"], true, "{output}");
    assert_eq!(output["staff_alerted"], true, "{output}");
    let metadata = stack.vendors.clerk_metadata("user_e2e_di");
    assert_eq!(
        metadata["mentorship"]["status"], "email_bounced",
        "{metadata}"
    );
    let alerts = stack.emails_to("staff@academy.test");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
}

/// Staff resend a reminder by hand; a pending resend is cancelled when the buyer connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn staff_resend_sends_a_reminder_and_a_connection_cancels_a_pending_one() {
    let mut stack = Stack::dev(None).await;
    stack
        .vendors
        .add_clerk_user("user_e2e_ed", "ed@example.com", "Ed");
    stack.start_app(stack.dev_env(&[]));
    stack.sync().await;
    let server = &stack.server;

    // By hand, from the dashboard: a reminder with a fresh link.
    server
        .send_event(json!({"name": "mentorship/discord.follow-up",
            "data": {"clerk_user_id": "user_e2e_ed", "purchase_id": "cs_test_e2e_ed"}}))
        .await
        .expect("sent");
    let first = server
        .wait_for("the follow-up run", RUN_LIMIT, || async {
            server.runs_of(FOLLOW_UP).await.ok()?.into_iter().next()
        })
        .await
        .expect("a run");
    stack.wait_run(&first.id, RunStatus::Completed).await;
    let emails = stack.wait_emails_to("ed@example.com", 1).await;
    assert!(link_in(&emails[0]).contains("/api/auth/discord?t="));

    // A second resend while Resend is down (its retry is 15 s or more away), then the buyer
    // connects from the first link: the pending resend is cancelled, nothing more is sent.
    stack
        .vendors
        .fail_next(Method::POST, "/resend/emails", 100, 503, &[]);
    server
        .send_event(json!({"name": "mentorship/discord.follow-up",
            "data": {"clerk_user_id": "user_e2e_ed", "purchase_id": "cs_test_e2e_ed"}}))
        .await
        .expect("sent");
    let second = server
        .wait_for("the second follow-up run", RUN_LIMIT, || async {
            server
                .runs_of(FOLLOW_UP)
                .await
                .ok()?
                .into_iter()
                .find(|run| run.id != first.id)
        })
        .await
        .expect("a second run");
    server
        .wait_for("the failed send", RUN_LIMIT, || async {
            let failed = stack
                .vendors
                .requests_to(Method::POST, "/resend/emails")
                .len()
                >= 2;
            failed.then_some(())
        })
        .await
        .expect("the second send was tried");
    stack.vendors.respond(
        Method::POST,
        "/resend/emails",
        200,
        json!({"id": "email-2"}),
    );
    stack.vendors.clear_failures();
    let tried = stack
        .vendors
        .requests_to(Method::POST, "/resend/emails")
        .len();
    assert_eq!(stack.follow_link(&link_in(&emails[0])).await, 200);
    stack.wait_run(&second.id, RunStatus::Cancelled).await;
    assert_eq!(
        stack
            .vendors
            .requests_to(Method::POST, "/resend/emails")
            .len(),
        tried,
        "the cancelled resend sent nothing more"
    );
}

/// A buyer who finished onboarding buys the other mentorship: the new role, access for the
/// new purchase and a welcome, without connecting Discord again; both purchases stay in
/// the Clerk metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_returning_buyer_gets_the_second_mentorship_without_connecting_again() {
    let mut stack = Stack::dev(None).await;
    stack
        .vendors
        .add_clerk_user("user_e2e_fay", "fay@example.com", "Fay");
    stack.start_app(stack.dev_env(&[]));
    stack.sync().await;

    stack
        .purchase(&Purchase::new("fay@example.com", "cs_test_e2e_fay_1"))
        .await;
    let first = stack.purchase_run("cs_test_e2e_fay_1").await;
    let emails = stack.wait_emails_to("fay@example.com", 1).await;
    assert_eq!(stack.connect_when_waiting(&first.id, &emails[0]).await, 200);
    stack.wait_run(&first.id, RunStatus::Completed).await;
    let sent_before = stack.emails_to("fay@example.com").len();

    stack
        .purchase(&Purchase::new("fay@example.com", "cs_test_e2e_fay_2").product(PRODUCT_GROUP))
        .await;
    let second = stack.purchase_run("cs_test_e2e_fay_2").await;
    let second = stack.wait_run(&second.id, RunStatus::Completed).await;
    let output = second.output.expect("an output");
    assert_eq!(output["status"], "active", "{output}");
    assert_eq!(output["discord_user_id"], DISCORD_USER, "{output}");

    let group_role =
        format!("/discord/api/v10/guilds/{GUILD}/members/{DISCORD_USER}/roles/{ROLE_GROUP}");
    assert!(
        !stack
            .vendors
            .requests_to(Method::PUT, &group_role)
            .is_empty()
    );
    let emails = stack.emails_to("fay@example.com");
    assert_eq!(emails.len(), sent_before + 1, "only a welcome: {emails:#?}");
    assert!(
        emails[sent_before]["subject"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains("welcome")
    );

    let metadata = stack.vendors.clerk_metadata("user_e2e_fay");
    let purchases = &metadata["mentorship"]["purchases"];
    assert_eq!(
        purchases["cs_test_e2e_fay_1"]["kind"], "one_on_one",
        "{metadata}"
    );
    assert_eq!(
        purchases["cs_test_e2e_fay_1"]["status"], "active",
        "{metadata}"
    );
    assert_eq!(
        purchases["cs_test_e2e_fay_2"]["kind"], "group",
        "{metadata}"
    );
    assert_eq!(
        purchases["cs_test_e2e_fay_2"]["status"], "active",
        "{metadata}"
    );
    assert_eq!(metadata["mentorship"]["status"], "active", "{metadata}");
}

/// Two purchases in flight at once: one connection completes both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn two_purchases_in_flight_complete_on_one_connection() {
    let mut stack = Stack::dev(None).await;
    stack
        .vendors
        .add_clerk_user("user_e2e_gus", "gus@example.com", "Gus");
    stack.start_app(stack.dev_env(&[]));
    stack.sync().await;

    stack
        .purchase(&Purchase::new("gus@example.com", "cs_test_e2e_gus_1"))
        .await;
    stack
        .purchase(&Purchase::new("gus@example.com", "cs_test_e2e_gus_2").product(PRODUCT_GROUP))
        .await;
    let first = stack.purchase_run("cs_test_e2e_gus_1").await;
    let second = stack.purchase_run("cs_test_e2e_gus_2").await;
    let emails = stack.wait_emails_to("gus@example.com", 2).await;
    wait_for_step(&stack, &first.id, "wait-for-discord").await;
    wait_for_step(&stack, &second.id, "wait-for-discord").await;

    // The second email's link, for the second purchase.
    assert_eq!(stack.follow_link(&link_in(&emails[1])).await, 200);
    let first = stack.wait_run(&first.id, RunStatus::Completed).await;
    let second = stack.wait_run(&second.id, RunStatus::Completed).await;
    assert_eq!(
        first.output.as_ref().map(|o| &o["status"]),
        Some(&json!("active"))
    );
    assert_eq!(
        second.output.as_ref().map(|o| &o["status"]),
        Some(&json!("active"))
    );
    let metadata = stack.vendors.clerk_metadata("user_e2e_gus");
    for purchase in ["cs_test_e2e_gus_1", "cs_test_e2e_gus_2"] {
        assert_eq!(
            metadata["mentorship"]["purchases"][purchase]["status"], "active",
            "{metadata}"
        );
    }
    for role in [ROLE_ONE_ON_ONE, ROLE_GROUP] {
        let path = format!("/discord/api/v10/guilds/{GUILD}/members/{DISCORD_USER}/roles/{role}");
        assert!(
            !stack.vendors.requests_to(Method::PUT, &path).is_empty(),
            "{role}"
        );
    }
}

/// Waits until the run's trace shows step `name` (a wait registered with the server).
pub(crate) async fn wait_for_step(stack: &Stack, run_id: &str, name: &str) {
    let server = &stack.server;
    server
        .wait_for(
            &format!("step {name} of run {run_id}"),
            RUN_LIMIT,
            || async {
                let steps = server.steps(run_id).await.ok()?;
                steps.iter().any(|s| s.name == name).then_some(())
            },
        )
        .await
        .expect("the step is reached");
}
