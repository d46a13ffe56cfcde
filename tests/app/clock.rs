//! One injected clock: the app built with a manual clock standing at 2026-01-01 (long past by
//! the system clock) reads "now" from it for emailed links, the OAuth state and webhook
//! signatures. Each test moves the clock past a limit and sees the refusal, without sleeping.

use chrono::{DateTime, Duration, Utc};
use huckleberry::clock::{Clock, ManualClock};
use huckleberry::discord::tokens::LinkToken;
use huckleberry::webhooks::WebhookSecret;
use huckleberry::webhooks::stripe::sign_for_test;

use crate::discord_flow::{flow_with_clock, signer};
use crate::stand_in::{AUTH_CODE, CLERK_USER, PURCHASE};
use crate::webhooks::{STRIPE_FIXTURE, STRIPE_SECRET, WebhookApp};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600;

fn manual_clock() -> (Clock, ManualClock) {
    let manual = ManualClock::new(DateTime::<Utc>::from_timestamp(T0, 0).expect("valid"));
    (Clock::from(manual.clone()), manual)
}

#[tokio::test]
async fn an_emailed_link_is_refused_one_second_after_it_expires_on_the_apps_clock() {
    let (clock, manual) = manual_clock();
    let flow = flow_with_clock(clock).await;
    let ttl = 3_600;
    let token = signer().sign_link(&LinkToken {
        uid: CLERK_USER.into(),
        pid: PURCHASE.into(),
        exp: T0 + ttl,
        nonce: "nonce-clock".into(),
    });
    let start = format!("/api/auth/discord?t={token}");

    manual.advance(Duration::seconds(ttl - 1));
    let in_time = flow.get(&start, None).await;
    manual.advance(Duration::seconds(2));
    let late = flow.get(&start, None).await;

    assert_eq!(
        in_time.status(),
        303,
        "valid until its expiry by the app's clock"
    );
    assert_eq!(late.status(), 410);
    let page = late.text().await.expect("body");
    assert!(page.contains("only work for a limited time"), "{page}");
}

#[tokio::test]
async fn the_oauth_state_expires_ten_minutes_after_the_start_on_the_apps_clock() {
    let (clock, manual) = manual_clock();
    let flow = flow_with_clock(clock).await;
    let token = signer().sign_link(&LinkToken {
        uid: CLERK_USER.into(),
        pid: PURCHASE.into(),
        exp: T0 + 86_400,
        nonce: "nonce-state-clock".into(),
    });
    let started = flow.start_with_link(&token).await;

    manual.advance(Duration::seconds(601));
    let (status, page) = flow
        .callback(
            &format!("code={AUTH_CODE}&state={}", started.state),
            Some(&started.cookie),
        )
        .await;

    assert_eq!(status, 410);
    assert!(page.contains("longer than ten minutes"), "{page}");
    assert!(flow.stand_in.events().is_empty(), "nothing was connected");
}

#[tokio::test]
async fn a_webhook_signed_outside_the_tolerance_of_the_apps_clock_is_refused() {
    let (clock, manual) = manual_clock();
    let app = WebhookApp::spawn_with_clock(clock).await;
    let signed_at_t0 = vec![(
        "stripe-signature",
        sign_for_test(&WebhookSecret::new(STRIPE_SECRET), STRIPE_FIXTURE, T0),
    )];

    manual.advance(Duration::seconds(301));
    let late = app
        .post("/api/stripe/webhook", &signed_at_t0, STRIPE_FIXTURE)
        .await;
    manual.advance(Duration::seconds(-2));
    let in_time = app
        .post("/api/stripe/webhook", &signed_at_t0, STRIPE_FIXTURE)
        .await;

    assert_eq!(late.status, 400, "{:?}", late.body);
    assert_eq!(in_time.status, 200, "{:?}", in_time.body);
    assert_eq!(app.inngest.accepted().len(), 1, "only the delivery in time");
}
