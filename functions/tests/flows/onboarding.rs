//! onboarding-flow.

use chrono::TimeDelta;
use huckleberry_functions::events::{EventId, MentorshipKind};
use huckleberry_functions::ports::PortError;
use huckleberry_functions::{OnboardingStatus, OnboardingSummary};
use inngest_sdk::testing::{RunStatus, StepKind};
use serde_json::{Value, json};

use crate::support::*;

const ADA: &str = "ada@example.com";
const ADA_ID: &str = "user_ada";
const DISCORD_ID: &str = "80351110224678912";

fn summary(output: Option<Value>) -> OnboardingSummary {
    serde_json::from_value(output.expect("the run has an output")).unwrap()
}

#[tokio::test]
async fn a_buyer_with_an_account_is_onboarded_when_they_connect_discord() {
    let env = spawn().await;
    env.users.add_user(ADA_ID, ADA, Some("Ada"));
    let started = env.inngest.now();

    let runs = env
        .inngest
        .send(purchase_event(purchase("cs_1", "Ada@Example.com"), "evt_1"))
        .await;
    env.inngest.run_until_idle().await;

    // The buyer gets the connection link, and the purchase is recorded as awaiting Discord.
    let run = env.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Waiting);
    let invites = env.emails("connect_link");
    assert_eq!(invites.len(), 1);
    let invite = &invites[0];
    let link = FixedLinks::link(ADA_ID, "cs_1", 1);
    assert_eq!(invite.to(), ADA);
    assert_eq!(
        invite.email.subject,
        "Welcome to Huckleberry Art Academy: connect your Discord"
    );
    assert!(invite.email.text.contains(&link));
    assert!(invite.email.html.contains(&link.replace('&', "&amp;")));
    assert!(invite.email.text.starts_with("Hi Ada,"));
    assert_eq!(
        invite.key,
        format!("onboarding-flow/{}/send-connect-link", runs[0].as_str())
    );
    assert_eq!(
        env.links.made(),
        [(
            ADA_ID.to_owned(),
            "cs_1".to_owned(),
            started + TimeDelta::days(7)
        )]
    );
    assert_eq!(
        env.users.metadata(ADA_ID),
        json!({"mentorship": {
            "status": "awaiting_discord",
            "purchases": {"cs_1": {
                "status": "awaiting_discord",
                "kind": "one_on_one",
                "provider": "stripe",
                "product": "price_1on1",
                "purchased_at": "2026-01-02T03:04:05Z"
            }}
        }})
    );

    // The buyer connects an hour later.
    env.inngest
        .advance(std::time::Duration::from_secs(3600))
        .await;
    env.inngest
        .send(connected(ADA_ID, DISCORD_ID, Some("cs_1")))
        .await;
    env.inngest.run_until_idle().await;

    let run = env.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(
        summary(run.output.clone()),
        OnboardingSummary {
            status: OnboardingStatus::Active,
            clerk_user_id: Some(ADA_ID.into()),
            discord_user_id: Some(DISCORD_ID.into()),
            reminders_sent: 0,
        }
    );
    assert_eq!(
        run.step_ids(),
        [
            "find-buyer-in-clerk",
            "record-purchase",
            "send-connect-link",
            "wait-for-discord",
            "grant-dashboard-access",
            "grant-discord-role",
            "send-welcome-email",
            "send-onboarding-completed",
        ]
    );
    let mentorship = &env.users.metadata(ADA_ID)["mentorship"];
    assert_eq!(mentorship["status"], "active");
    assert_eq!(mentorship["discord_user_id"], DISCORD_ID);
    assert_eq!(mentorship["discord_username"], "ada_draws");
    assert_eq!(
        mentorship["connected_at"],
        (started + TimeDelta::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert_eq!(
        mentorship["purchases"]["cs_1"]["kind"], "one_on_one",
        "merged, not replaced"
    );
    assert_eq!(mentorship["purchases"]["cs_1"]["status"], "active");
    assert_eq!(
        env.guild.grants(),
        [(DISCORD_ID.to_owned(), ROLE_ONE_ON_ONE.to_owned())]
    );
    let welcome = env.emails("welcome");
    assert_eq!(welcome.len(), 1);
    assert_eq!(welcome[0].to(), ADA);
    assert!(welcome[0].email.subject.contains("1-on-1 mentorship"));
    assert!(
        welcome[0]
            .email
            .text
            .contains("https://academy.test/dashboard")
    );
    assert!(welcome[0].email.text.contains("ada_draws"));
    let completed = env.inngest.events_named("mentorship/onboarding.completed");
    assert_eq!(completed.len(), 1);
    assert_eq!(
        completed[0].event["id"],
        EventId::onboarding_completed(&"cs_1".into()).as_str()
    );
    assert_eq!(
        completed[0].data(),
        &json!({
            "clerk_user_id": ADA_ID,
            "purchase_id": "cs_1",
            "mentorship": "one_on_one",
            "discord_user_id": DISCORD_ID
        })
    );
    assert!(env.emails("staff_alert").is_empty());
    assert!(env.inngest.runs_of(FOLLOW_UP).is_empty());
}

#[tokio::test]
async fn a_buyer_signed_in_at_checkout_is_found_by_clerk_id_and_gets_the_group_role() {
    let env = spawn().await;
    // Their account address differs from the one typed at checkout.
    env.users.add_user(ADA_ID, "ada@studio.example", None);
    let mut bought = purchase("cs_2", ADA);
    bought.clerk_user_id = Some(ADA_ID.into());
    bought.mentorship = MentorshipKind::Group;

    let runs = env.inngest.send(purchase_event(bought, "evt_2")).await;
    env.inngest.run_until_idle().await;
    env.inngest.send(connected(ADA_ID, DISCORD_ID, None)).await;
    env.inngest.run_until_idle().await;

    assert_eq!(env.run(&runs[0]).status, RunStatus::Completed);
    let sent: Vec<_> = env.mailer.delivered();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|d| d.to() == "ada@studio.example"));
    assert!(
        sent[0].email.text.starts_with("Hi Ada Lovelace,"),
        "checkout name as fallback"
    );
    assert_eq!(
        env.guild.grants(),
        [(DISCORD_ID.to_owned(), ROLE_GROUP.to_owned())]
    );
    assert!(env.users.invitations().is_empty());
}

#[tokio::test]
async fn a_buyer_without_an_account_is_invited_and_onboarded_after_signing_up() {
    let env = spawn().await;

    let runs = env
        .inngest
        .send(purchase_event(purchase("cs_3", ADA), "evt_3"))
        .await;
    env.inngest.run_until_idle().await;

    // Invited, with the purchase in the invitation's metadata; nothing emailed yet.
    let invitations = env.users.invitations();
    assert_eq!(invitations.len(), 1);
    assert_eq!(invitations[0].0, ADA);
    assert_eq!(invitations[0].1["mentorship"]["status"], "awaiting_signup");
    assert_eq!(invitations[0].1["mentorship"]["purchase_id"], "cs_3");
    assert_eq!(env.run(&runs[0]).status, RunStatus::Waiting);
    assert!(env.mailer.delivered().is_empty());

    // Someone else signs up: not our buyer.
    env.users.add_user("user_bob", "bob@example.com", None);
    env.inngest
        .send(clerk_user_created("user_bob", "bob@example.com", json!({})))
        .await;
    env.inngest.run_until_idle().await;
    assert_eq!(env.run(&runs[0]).status, RunStatus::Waiting);

    // The buyer signs up a day later.
    env.inngest
        .advance(std::time::Duration::from_secs(86_400))
        .await;
    env.users.add_user(ADA_ID, ADA, Some("Ada"));
    env.inngest
        .send(clerk_user_created(ADA_ID, ADA, invitations[0].1.clone()))
        .await;
    env.inngest.run_until_idle().await;

    let invites = env.emails("connect_link");
    assert_eq!(invites.len(), 1);
    assert_eq!(invites[0].to(), ADA);
    assert!(
        invites[0]
            .email
            .text
            .contains(&FixedLinks::link(ADA_ID, "cs_3", 1))
    );
    assert_eq!(
        env.users.metadata(ADA_ID)["mentorship"]["status"],
        "awaiting_discord"
    );

    env.inngest
        .send(connected(ADA_ID, DISCORD_ID, Some("cs_3")))
        .await;
    env.inngest.run_until_idle().await;

    let run = env.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(
        &run.step_ids()[..4],
        [
            "find-buyer-in-clerk",
            "invite-buyer-to-clerk",
            "wait-for-clerk-signup",
            "record-purchase"
        ]
    );
    assert_eq!(env.users.metadata(ADA_ID)["mentorship"]["status"], "active");
    assert_eq!(env.emails("welcome").len(), 1);
}

#[tokio::test]
async fn a_buyer_who_signs_up_with_another_address_through_the_invitation_is_matched_by_purchase() {
    let env = spawn().await;
    let runs = env
        .inngest
        .send(purchase_event(purchase("cs_4", ADA), "evt_4"))
        .await;
    env.inngest.run_until_idle().await;
    let metadata = env.users.invitations()[0].1.clone();

    env.users.add_user(ADA_ID, "ada@gmail.example", Some("Ada"));
    env.inngest
        .send(clerk_user_created(ADA_ID, "ada@gmail.example", metadata))
        .await;
    env.inngest.run_until_idle().await;

    assert_eq!(
        env.run(&runs[0])
            .step("wait-for-clerk-signup")
            .unwrap()
            .kind,
        StepKind::WaitForEvent
    );
    let invites = env.emails("connect_link");
    assert_eq!(invites.len(), 1);
    assert_eq!(invites[0].to(), "ada@gmail.example");
}

#[tokio::test]
async fn a_buyer_who_never_signs_up_is_reported_to_staff_after_seven_days() {
    let env = spawn().await;
    let runs = env
        .inngest
        .send(purchase_event(purchase("cs_5", ADA), "evt_5"))
        .await;
    env.inngest.run_until_idle().await;

    env.inngest
        .advance(std::time::Duration::from_secs(7 * 86_400))
        .await;

    let run = env.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(summary(run.output).status, OnboardingStatus::SignupTimedOut);
    let alerts = env.emails("staff_alert");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].to(), STAFF);
    assert!(
        alerts[0]
            .email
            .subject
            .contains("has not created an account")
    );
    assert!(alerts[0].email.text.contains("cs_5"));
    assert!(env.emails("connect_link").is_empty());
}

#[tokio::test]
async fn a_buyer_who_never_connects_gets_three_reminders_then_staff_are_alerted() {
    let env = spawn().await;
    env.users.add_user(ADA_ID, ADA, Some("Ada"));
    let runs = env
        .inngest
        .send(purchase_event(purchase("cs_6", ADA), "evt_6"))
        .await;
    env.inngest.run_until_idle().await;

    for n in 1..=3 {
        env.inngest.advance(HOURS_48).await;
        let reminders = env.emails("reminder");
        assert_eq!(reminders.len(), n, "reminder {n} after {n} × 48 h");
        let latest = &reminders[n - 1];
        assert_eq!(latest.to(), ADA);
        assert!(latest.email.subject.starts_with(&format!("Reminder {n}:")));
        // A fresh link each time (link 1 was in the first email).
        let fresh = FixedLinks::link(ADA_ID, "cs_6", n + 1);
        assert!(latest.email.text.contains(&fresh));
        assert!(latest.email.html.contains(&fresh.replace('&', "&amp;")));
        assert_eq!(env.run(&runs[0]).status, RunStatus::Waiting);
        assert!(env.emails("staff_alert").is_empty());
    }
    env.inngest.advance(HOURS_48).await;

    let run = env.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(
        summary(run.output.clone()),
        OnboardingSummary {
            status: OnboardingStatus::DiscordNotConnected,
            clerk_user_id: Some(ADA_ID.into()),
            discord_user_id: None,
            reminders_sent: 3,
        }
    );
    let alerts = env.emails("staff_alert");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].to(), STAFF);
    assert_eq!(
        alerts[0].email.subject,
        "[Huckleberry Art Academy] Buyer has not connected Discord: ada@example.com"
    );
    assert!(alerts[0].email.text.contains("after 3 reminders"));
    assert!(alerts[0].email.text.contains(ADA_ID));
    assert_eq!(
        env.users.metadata(ADA_ID)["mentorship"]["status"],
        "discord_not_connected"
    );
    assert_eq!(env.emails("reminder").len(), 3);
    assert_eq!(env.inngest.runs_of(FOLLOW_UP).len(), 3);
    assert!(env.guild.grants().is_empty());
    assert!(env.emails("welcome").is_empty());
    assert_eq!(
        &run.step_ids()[3..],
        [
            "wait-for-discord",
            "send-reminder-1",
            "wait-for-discord-after-reminder-1",
            "send-reminder-2",
            "wait-for-discord-after-reminder-2",
            "send-reminder-3",
            "wait-for-discord-after-reminder-3",
            "alert-staff",
            "mark-discord-not-connected",
        ]
    );
    assert_eq!(
        run.ended_at.unwrap() - run.started_at,
        TimeDelta::hours(4 * 48)
    );
}

#[tokio::test]
async fn a_buyer_who_connects_after_the_second_reminder_gets_exactly_two_reminders() {
    let env = spawn().await;
    env.users.add_user(ADA_ID, ADA, Some("Ada"));
    let runs = env
        .inngest
        .send(purchase_event(purchase("cs_7", ADA), "evt_7"))
        .await;
    env.inngest.run_until_idle().await;
    env.inngest.advance(HOURS_48).await;
    env.inngest.advance(HOURS_48).await;
    assert_eq!(env.emails("reminder").len(), 2);

    env.inngest
        .advance(std::time::Duration::from_secs(3600))
        .await;
    env.inngest
        .send(connected(ADA_ID, DISCORD_ID, Some("cs_7")))
        .await;
    env.inngest.run_until_idle().await;
    env.inngest.advance(HOURS_48 * 3).await;

    let run = env.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Completed);
    let result = summary(run.output);
    assert_eq!(result.status, OnboardingStatus::Active);
    assert_eq!(result.reminders_sent, 2);
    assert_eq!(env.emails("reminder").len(), 2);
    assert_eq!(env.emails("welcome").len(), 1);
    assert!(env.emails("staff_alert").is_empty());
    assert_eq!(env.users.metadata(ADA_ID)["mentorship"]["status"], "active");
}

#[tokio::test]
async fn another_users_connection_does_not_complete_this_onboarding() {
    let env = spawn().await;
    env.users.add_user(ADA_ID, ADA, Some("Ada"));
    let runs = env
        .inngest
        .send(purchase_event(purchase("cs_8", ADA), "evt_8"))
        .await;
    env.inngest.run_until_idle().await;

    env.inngest
        .send(connected("user_bob", "1111", Some("cs_8")))
        .await;
    env.inngest.run_until_idle().await;

    assert_eq!(env.run(&runs[0]).status, RunStatus::Waiting);
    assert!(env.guild.grants().is_empty());
}

#[tokio::test]
async fn a_duplicate_purchase_event_runs_once() {
    let env = spawn().await;
    env.users.add_user(ADA_ID, ADA, Some("Ada"));

    let first = env
        .inngest
        .send(purchase_event(purchase("cs_9", ADA), "evt_9"))
        .await;
    // A redelivery of the same provider event (same event id) ...
    let redelivered = env
        .inngest
        .send(purchase_event(purchase("cs_9", ADA), "evt_9"))
        .await;
    // ... and Stripe's second event for the same purchase (another id, same purchase_id).
    let second_event = env
        .inngest
        .send(purchase_event(purchase("cs_9", ADA), "evt_9_async"))
        .await;
    env.inngest.run_until_idle().await;

    assert_eq!(first.len(), 1);
    assert!(redelivered.is_empty());
    assert!(second_event.is_empty());
    assert_eq!(env.inngest.runs_of(ONBOARDING).len(), 1);
    assert_eq!(env.mailer.delivered().len(), 1);
    assert_eq!(env.users.patches().len(), 1);
}

#[tokio::test]
async fn a_retried_email_step_does_not_send_twice() {
    let env = spawn().await;
    env.users.add_user(ADA_ID, ADA, Some("Ada"));
    // Resend accepts the email, but the answer times out: the step fails and is retried.
    env.mailer.fail_after_send(1);

    let runs = env
        .inngest
        .send(purchase_event(purchase("cs_10", ADA), "evt_10"))
        .await;
    env.inngest.run_until_idle().await;

    let run = env.run(&runs[0]);
    let step = run.step("send-connect-link").unwrap();
    assert_eq!(step.attempts, 2, "the step was retried");
    let key = format!("onboarding-flow/{}/send-connect-link", runs[0].as_str());
    assert_eq!(env.mailer.calls(), [key.clone(), key]);
    assert_eq!(
        env.mailer.delivered().len(),
        1,
        "exactly one email delivered"
    );
    assert_eq!(step.output, Some(json!("em_1")));
    assert_eq!(run.status, RunStatus::Waiting);
}

#[tokio::test]
async fn a_permanent_discord_error_fails_the_run_without_retries_and_alerts_staff() {
    let env = spawn().await;
    env.users.add_user(ADA_ID, ADA, Some("Ada"));
    env.guild
        .fail_with(PortError::permanent("Discord: Missing Permissions (50013)"));
    let runs = env
        .inngest
        .send(purchase_event(purchase("cs_11", ADA), "evt_11"))
        .await;
    env.inngest.run_until_idle().await;

    env.inngest
        .send(connected(ADA_ID, DISCORD_ID, Some("cs_11")))
        .await;
    env.inngest.run_until_idle().await;

    let run = env.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(env.guild.attempts(), 1, "a permanent error is not retried");
    let step = run.step("grant-discord-role").unwrap();
    assert_eq!(step.attempts, 1);
    assert_eq!(
        step.error.as_ref().unwrap()["message"],
        "Discord: Missing Permissions (50013)"
    );
    assert_eq!(
        run.error.as_ref().unwrap()["message"],
        "Discord: Missing Permissions (50013)"
    );
    assert!(env.emails("welcome").is_empty());
    assert!(
        env.inngest
            .events_named("mentorship/onboarding.completed")
            .is_empty()
    );
    // The failure handler tells staff, with the error and the run id.
    let alerts = env.emails("staff_alert");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].to(), STAFF);
    assert!(alerts[0].email.subject.contains("Onboarding failed"));
    assert!(alerts[0].email.text.contains("Missing Permissions"));
    assert!(alerts[0].email.text.contains(runs[0].as_str()));
}

#[tokio::test]
async fn a_transient_discord_error_is_retried() {
    let env = spawn().await;
    env.users.add_user(ADA_ID, ADA, Some("Ada"));
    env.guild.fail_with(PortError::transient("Discord: 502"));
    let runs = env
        .inngest
        .send(purchase_event(purchase("cs_12", ADA), "evt_12"))
        .await;
    env.inngest.run_until_idle().await;

    env.inngest.send(connected(ADA_ID, DISCORD_ID, None)).await;
    env.inngest.run_until_idle().await;

    assert_eq!(env.run(&runs[0]).status, RunStatus::Failed);
    assert_eq!(
        env.guild.attempts(),
        huckleberry_functions::RETRIES + 1,
        "every attempt used"
    );
}

#[tokio::test]
async fn a_purchase_with_an_invalid_email_fails_and_alerts_staff() {
    let env = spawn().await;
    let runs = env
        .inngest
        .send(purchase_event(
            purchase("cs_13", "not-an-address"),
            "evt_13",
        ))
        .await;
    env.inngest.run_until_idle().await;

    let run = env.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.calls.len(), 1, "not retried");
    let alerts = env.emails("staff_alert");
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].email.text.contains("cs_13"));
}

#[tokio::test]
async fn a_returning_buyer_gets_the_second_mentorship_without_a_new_link() {
    let env = spawn().await;
    env.users.add_user(ADA_ID, ADA, Some("Ada"));
    let first = env
        .inngest
        .send(purchase_event(purchase("cs_1", ADA), "evt_1"))
        .await;
    env.inngest.run_until_idle().await;
    env.inngest
        .send(connected(ADA_ID, DISCORD_ID, Some("cs_1")))
        .await;
    env.inngest.run_until_idle().await;
    assert_eq!(env.run(&first[0]).status, RunStatus::Completed);

    // The same buyer buys the group mentorship.
    let mut group = purchase("cs_2", ADA);
    group.mentorship = MentorshipKind::Group;
    let second = env.inngest.send(purchase_event(group, "evt_2")).await;
    env.inngest.run_until_idle().await;

    let run = env.run(&second[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(summary(run.output.clone()).status, OnboardingStatus::Active);
    assert_eq!(
        run.step_ids(),
        [
            "find-buyer-in-clerk",
            "record-purchase",
            "grant-role-to-connected-account",
            "grant-dashboard-access",
            "send-welcome-email",
            "send-onboarding-completed",
        ]
    );
    assert_eq!(env.emails("connect_link").len(), 1, "no second link");
    assert_eq!(env.emails("welcome").len(), 2);
    assert_eq!(
        env.guild.grants(),
        [
            (DISCORD_ID.to_owned(), ROLE_ONE_ON_ONE.to_owned()),
            (DISCORD_ID.to_owned(), ROLE_GROUP.to_owned())
        ]
    );
    let mentorship = &env.users.metadata(ADA_ID)["mentorship"];
    assert_eq!(mentorship["status"], "active");
    assert_eq!(mentorship["purchases"]["cs_1"]["kind"], "one_on_one");
    assert_eq!(mentorship["purchases"]["cs_1"]["status"], "active");
    assert_eq!(mentorship["purchases"]["cs_2"]["kind"], "group");
    assert_eq!(mentorship["purchases"]["cs_2"]["status"], "active");
}
