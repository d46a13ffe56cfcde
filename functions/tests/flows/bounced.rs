//! email-bounced.

use huckleberry_functions::BounceSummary;
use huckleberry_functions::ids::ClerkUserId;
use huckleberry_functions::ports::UserDirectory as _;
use inngest_sdk::Event;
use inngest_sdk::testing::RunStatus;
use serde_json::{Value, json};

use crate::support::*;

/// `resend/email.bounced` as the Resend webhook route forwards it.
fn bounce(to: &str, category: &str) -> Event<Value> {
    Event::new(
        "resend/email.bounced",
        json!({
            "email_id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c",
            "created_at": "2026-01-02T03:04:05.000Z",
            "from": "Huckleberry <hello@academy.test>",
            "to": [to],
            "subject": "Welcome to Huckleberry Art Academy: connect your Discord",
            "tags": {"category": category},
            "bounce": {
                "message": "The recipient's mailbox does not exist",
                "type": "Permanent",
                "subType": "General"
            }
        }),
    )
    .id("resend-msg_1")
}

fn result(env: &TestEnv, runs: &[inngest_sdk::testing::RunId]) -> BounceSummary {
    let run = env.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    serde_json::from_value(run.output.unwrap()).unwrap()
}

#[tokio::test]
async fn a_bounced_connect_link_marks_the_user_and_alerts_staff() {
    let env = spawn().await;
    env.users
        .add_user("user_ada", "ada@example.com", Some("Ada"));

    let runs = env
        .inngest
        .send(bounce("Ada@Example.com", "connect_link"))
        .await;
    env.inngest.run_until_idle().await;

    let summary = result(&env, &runs);
    assert_eq!(
        summary.clerk_user_id.as_ref().map(ClerkUserId::as_str),
        Some("user_ada")
    );
    assert!(summary.blocked);
    assert!(summary.staff_alerted);
    let mentorship = &env.users.metadata("user_ada")["mentorship"];
    assert_eq!(mentorship["status"], "email_bounced");
    assert_eq!(
        mentorship["email_bounce"]["reason"],
        "The recipient's mailbox does not exist"
    );
    assert_eq!(
        mentorship["email_bounce"]["email_id"],
        "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"
    );
    let alerts = env.emails("staff_alert");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].to(), STAFF);
    assert_eq!(
        alerts[0].email.subject,
        "[Huckleberry Art Academy] Email bounced: Ada@Example.com"
    );
    assert!(alerts[0].email.text.contains("user_ada"));
    assert!(alerts[0].email.text.contains("mailbox does not exist"));
    assert!(alerts[0].email.html.contains("The recipient&#39;s mailbox"));
    assert_eq!(
        env.run(&runs[0]).step_ids(),
        ["find-user", "mark-email-bounced", "alert-staff"]
    );
}

#[tokio::test]
async fn a_bounce_for_an_unknown_address_still_alerts_staff() {
    let env = spawn().await;

    let runs = env
        .inngest
        .send(bounce("nobody@example.com", "connect_link"))
        .await;
    env.inngest.run_until_idle().await;

    let summary = result(&env, &runs);
    assert_eq!(summary.clerk_user_id, None);
    assert!(!summary.blocked);
    assert!(env.users.patches().is_empty());
    let alerts = env.emails("staff_alert");
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].email.text.contains("nobody@example.com"));
    assert!(alerts[0].email.text.contains("(no matching user)"));
}

#[tokio::test]
async fn a_bounced_welcome_email_keeps_access_but_is_recorded_and_reported() {
    let env = spawn().await;
    env.users
        .add_user("user_ada", "ada@example.com", Some("Ada"));

    let runs = env.inngest.send(bounce("ada@example.com", "welcome")).await;
    env.inngest.run_until_idle().await;

    let summary = result(&env, &runs);
    assert!(!summary.blocked);
    let mentorship = &env.users.metadata("user_ada")["mentorship"];
    assert_eq!(mentorship.get("status"), None);
    assert!(mentorship["email_bounce"].is_object());
    assert_eq!(env.emails("staff_alert").len(), 1);
}

#[tokio::test]
async fn a_bounced_staff_alert_does_not_alert_again() {
    let env = spawn().await;

    let runs = env.inngest.send(bounce(STAFF, "staff_alert")).await;
    env.inngest.run_until_idle().await;

    let summary = result(&env, &runs);
    assert!(!summary.staff_alerted);
    assert!(env.mailer.delivered().is_empty());
}

#[tokio::test]
async fn a_bounce_for_a_buyer_with_access_records_it_and_keeps_the_access() {
    let env = spawn().await;
    env.users
        .add_user("user_ada", "ada@example.com", Some("Ada"));
    // An earlier purchase gave access (as onboarding records it).
    env.users
        .merge_public_metadata(
            &"user_ada".into(),
            json!({"mentorship": {"status": "active", "purchases": {"cs_1": {"status": "active"}}}}),
        )
        .await
        .expect("merged");

    let runs = env
        .inngest
        .send(bounce("ada@example.com", "connect_link"))
        .await;
    env.inngest.run_until_idle().await;

    let summary = result(&env, &runs);
    assert!(!summary.blocked, "access stays");
    assert!(summary.staff_alerted);
    let mentorship = &env.users.metadata("user_ada")["mentorship"];
    assert_eq!(mentorship["status"], "active");
    assert_eq!(
        mentorship["email_bounce"]["reason"],
        "The recipient's mailbox does not exist"
    );
}
