//! discord-follow-up.

use huckleberry_functions::ReminderSent;
use huckleberry_functions::expressions;
use inngest_sdk::Event;
use inngest_sdk::testing::RunStatus;
use inngest_sdk::testing::expr::Expression;
use serde_json::json;

use crate::support::*;

fn follow_up_event(user: &str, purchase_id: &str) -> Event<serde_json::Value> {
    // As staff type it in the Inngest dashboard: no reminder number.
    Event::new(
        "mentorship/discord.follow-up",
        json!({"clerk_user_id": user, "purchase_id": purchase_id}),
    )
}

#[tokio::test]
async fn staff_can_resend_the_link_by_event() {
    let env = spawn().await;
    env.users
        .add_user("user_ada", "ada@example.com", Some("Ada"));

    let runs = env.inngest.send(follow_up_event("user_ada", "cs_1")).await;
    env.inngest.run_until_idle().await;

    let run = env.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.step_ids(), ["find-user", "send-reminder"]);
    let sent = env.emails("reminder");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to(), "ada@example.com");
    assert_eq!(sent[0].email.subject, "Your Discord connection link");
    assert!(
        sent[0]
            .email
            .text
            .contains(&FixedLinks::link("user_ada", "cs_1", 1))
    );
    assert_eq!(
        sent[0].key,
        format!("discord-follow-up/{}/send-reminder", runs[0].as_str())
    );
    let output: ReminderSent = serde_json::from_value(run.output.unwrap()).unwrap();
    assert_eq!(output.message_id, sent[0].id);
}

#[tokio::test]
async fn a_follow_up_is_cancelled_when_the_user_connects() {
    let env = spawn().await;
    env.users
        .add_user("user_ada", "ada@example.com", Some("Ada"));
    env.users
        .add_user("user_bob", "bob@example.com", Some("Bob"));

    let ada = env.inngest.send(follow_up_event("user_ada", "cs_1")).await;
    let bob = env.inngest.send(follow_up_event("user_bob", "cs_2")).await;
    // Ada connects before her reminder went out; Bob does not.
    env.inngest
        .send(connected("user_ada", "8035", Some("cs_1")))
        .await;
    env.inngest.run_until_idle().await;

    assert_eq!(env.run(&ada[0]).status, RunStatus::Cancelled);
    assert_eq!(env.run(&bob[0]).status, RunStatus::Completed);
    let sent = env.emails("reminder");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to(), "bob@example.com");
    assert_eq!(
        env.inngest.events_named("inngest/function.cancelled").len(),
        1
    );
}

#[tokio::test]
async fn a_follow_up_for_an_unknown_user_fails_without_retries() {
    let env = spawn().await;

    let runs = env
        .inngest
        .send(follow_up_event("user_ghost", "cs_1"))
        .await;
    env.inngest.run_until_idle().await;

    let run = env.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.step("find-user").unwrap().attempts, 1);
    assert_eq!(run.error.unwrap()["name"], "UnknownUser");
    assert!(env.mailer.delivered().is_empty());
}

#[test]
fn the_connection_expression_cannot_be_widened_by_a_crafted_user_id() {
    let crafted = expressions::discord_connected_by("x\" || true || \"");
    let expression = Expression::parse(&crafted).unwrap();
    let other = json!({"data": {"clerk_user_id": "user_bob"}});
    let trigger = json!({"data": {}});

    assert!(
        !expression
            .matches(&[("event", &trigger), ("async", &other)])
            .unwrap()
    );
}
