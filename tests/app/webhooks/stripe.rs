//! `POST /api/stripe/webhook` as specifications.

use huckleberry::webhooks::WebhookSecret;
use huckleberry::webhooks::stripe::sign_for_test;
use serde_json::{Value, json};

use super::{STRIPE_FIXTURE, STRIPE_ROTATED_SECRET, STRIPE_SECRET, WebhookApp, now_unix};

const PATH: &str = "/api/stripe/webhook";

fn signature(secret: &str, body: &[u8], timestamp: i64) -> Vec<(&'static str, String)> {
    vec![(
        "stripe-signature",
        sign_for_test(&WebhookSecret::new(secret), body, timestamp),
    )]
}

/// The fixture with `patch` applied (re-serialized: the test signs whatever it sends).
fn fixture_with(patch: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut event: Value = serde_json::from_slice(STRIPE_FIXTURE).expect("fixture is JSON");
    patch(&mut event);
    serde_json::to_vec(&event).expect("serializes")
}

#[tokio::test]
async fn a_paid_checkout_session_becomes_exactly_one_purchase_event() {
    let app = WebhookApp::spawn().await;

    let answer = app
        .post(
            PATH,
            &signature(STRIPE_SECRET, STRIPE_FIXTURE, now_unix()),
            STRIPE_FIXTURE,
        )
        .await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(
        answer.body["event_id"],
        "stripe-evt_1QxTestCheckoutCompleted0001"
    );
    let events = app.inngest.accepted();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].name, "purchase/mentorship");
    assert_eq!(
        events[0].id.as_deref(),
        Some("stripe-evt_1QxTestCheckoutCompleted0001")
    );
    let data: Value = serde_json::from_str(&events[0].data).expect("data is JSON");
    assert_eq!(
        data,
        json!({
            "provider": "stripe",
            "purchase_id": "cs_test_a1vvp1B50lYAE8U2KLu1lzd6US91IMmBfnLfDXmJiKOQIzXbgFKgxUviQu",
            "email": "example@example.com",
            "name": "Ada Buyer",
            "clerk_user_id": "user_2NNEqL2nrIRdJ194ndJqAHwEfxC",
            "mentorship": "one_on_one",
            "product": "price_1QxOneOnOne2026",
            "amount_minor": 25000,
            "currency": "usd",
            "livemode": false,
            "purchased_at": "2026-01-02T03:00:00Z"
        })
    );
}

#[tokio::test]
async fn a_delivery_signed_with_the_rotated_secret_is_accepted() {
    let app = WebhookApp::spawn().await;

    let answer = app
        .post(
            PATH,
            &signature(STRIPE_ROTATED_SECRET, STRIPE_FIXTURE, now_unix()),
            STRIPE_FIXTURE,
        )
        .await;

    assert_eq!(answer.status, 200);
    assert_eq!(app.inngest.accepted().len(), 1);
}

async fn assert_rejected(app: &WebhookApp, headers: &[(&str, String)], body: &[u8], status: u16) {
    let answer = app.post(PATH, headers, body).await;
    assert_eq!(answer.status, status, "{:?}", answer.body);
    app.inngest.assert_nothing_sent();
}

#[tokio::test]
async fn a_tampered_body_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let headers = signature(STRIPE_SECRET, STRIPE_FIXTURE, now_unix());
    let tampered = String::from_utf8_lossy(STRIPE_FIXTURE).replace("25000", "1");

    assert_rejected(&app, &headers, tampered.as_bytes(), 400).await;
}

#[tokio::test]
async fn a_signature_under_another_secret_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let headers = signature("whsec_someone_else", STRIPE_FIXTURE, now_unix());

    assert_rejected(&app, &headers, STRIPE_FIXTURE, 400).await;
}

#[tokio::test]
async fn a_stale_timestamp_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let headers = signature(STRIPE_SECRET, STRIPE_FIXTURE, now_unix() - 600);

    assert_rejected(&app, &headers, STRIPE_FIXTURE, 400).await;
}

#[tokio::test]
async fn a_future_timestamp_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let headers = signature(STRIPE_SECRET, STRIPE_FIXTURE, now_unix() + 600);

    assert_rejected(&app, &headers, STRIPE_FIXTURE, 400).await;
}

#[tokio::test]
async fn a_missing_signature_header_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;

    assert_rejected(&app, &[], STRIPE_FIXTURE, 400).await;
}

#[tokio::test]
async fn a_duplicated_signature_header_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let mut headers = signature(STRIPE_SECRET, STRIPE_FIXTURE, now_unix());
    headers.extend(signature(STRIPE_SECRET, STRIPE_FIXTURE, now_unix()));

    assert_rejected(&app, &headers, STRIPE_FIXTURE, 400).await;
}

#[tokio::test]
async fn a_v0_only_signature_is_an_unsupported_scheme_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let valid = sign_for_test(
        &WebhookSecret::new(STRIPE_SECRET),
        STRIPE_FIXTURE,
        now_unix(),
    );
    let downgraded = valid.replace(",v1=", ",v0=");

    let answer = app
        .post(PATH, &[("stripe-signature", downgraded)], STRIPE_FIXTURE)
        .await;

    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body["error"],
        "webhook signature scheme is not supported"
    );
    app.inngest.assert_nothing_sent();
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let body = vec![b' '; huckleberry::webhooks::MAX_BODY_BYTES + 1];
    let headers = signature(STRIPE_SECRET, &body, now_unix());

    assert_rejected(&app, &headers, &body, 413).await;
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let body = b"{\"id\": \"evt_1\", \"type\": ";
    let headers = signature(STRIPE_SECRET, body, now_unix());

    assert_rejected(&app, &headers, body, 400).await;
}

#[tokio::test]
async fn an_event_from_the_other_mode_is_ignored_with_200_and_nothing_is_sent() {
    let app = WebhookApp::spawn_with(&[("STRIPE_LIVEMODE", Some("true"))]).await;
    let headers = signature(STRIPE_SECRET, STRIPE_FIXTURE, now_unix());

    let answer = app.post(PATH, &headers, STRIPE_FIXTURE).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["status"], "ignored");
    app.inngest.assert_nothing_sent();
}

#[tokio::test]
async fn an_unpaid_session_is_ignored_with_200_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let body = fixture_with(|event| {
        event["data"]["object"]["payment_status"] = json!("unpaid");
    });
    let headers = signature(STRIPE_SECRET, &body, now_unix());

    let answer = app.post(PATH, &headers, &body).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["status"], "ignored");
    app.inngest.assert_nothing_sent();
}

#[tokio::test]
async fn other_event_types_are_ignored_with_200_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let body = fixture_with(|event| event["type"] = json!("payment_intent.created"));
    let headers = signature(STRIPE_SECRET, &body, now_unix());

    let answer = app.post(PATH, &headers, &body).await;

    assert_eq!(answer.status, 200);
    app.inngest.assert_nothing_sent();
}

#[tokio::test]
async fn an_async_payment_success_becomes_a_purchase_event() {
    let app = WebhookApp::spawn().await;
    let body = fixture_with(|event| {
        event["id"] = json!("evt_async_1");
        event["type"] = json!("checkout.session.async_payment_succeeded");
    });
    let headers = signature(STRIPE_SECRET, &body, now_unix());

    let answer = app.post(PATH, &headers, &body).await;

    assert_eq!(answer.status, 200);
    let events = app.inngest.accepted();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id.as_deref(), Some("stripe-evt_async_1"));
}

#[tokio::test]
async fn a_paid_session_for_an_unknown_product_is_422_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let body = fixture_with(|event| {
        event["data"]["object"]["metadata"] = json!({"product": "price_not_ours"});
    });
    let headers = signature(STRIPE_SECRET, &body, now_unix());

    assert_rejected(&app, &headers, &body, 422).await;
}

#[tokio::test]
async fn an_unconfigured_stripe_route_answers_503_with_the_reason() {
    let app = WebhookApp::spawn_with(&[("STRIPE_WEBHOOK_SECRETS", None)]).await;
    let headers = signature(STRIPE_SECRET, STRIPE_FIXTURE, now_unix());

    let answer = app.post(PATH, &headers, STRIPE_FIXTURE).await;

    assert_eq!(answer.status, 503);
    assert_eq!(answer.body["status"], "not_configured");
    assert!(
        answer.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("STRIPE_WEBHOOK_SECRETS")),
        "{:?}",
        answer.body
    );
    app.inngest.assert_nothing_sent();
}

#[tokio::test]
async fn the_simulate_tools_signed_stripe_request_is_accepted() {
    let app = WebhookApp::spawn().await;
    let request = huckleberry::webhooks::simulate::stripe_request(
        &WebhookSecret::new(STRIPE_SECRET),
        STRIPE_FIXTURE.to_vec(),
        now_unix(),
    );

    let answer = app
        .post(request.path, &request.headers, &request.body)
        .await;

    assert_eq!(answer.status, 200);
    assert_eq!(app.inngest.accepted().len(), 1);
}
