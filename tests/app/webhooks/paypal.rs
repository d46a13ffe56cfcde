//! `POST /api/paypal/webhook` as specifications: offline verification with the test signer's
//! certificate (served by a test certificate source) and the order lookup against a PayPal
//! API stand-in.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{SecondsFormat, Utc};
use huckleberry::webhooks::paypal::signed_message;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use serde_json::{Value, json};

use super::stand_ins::PAYER_EMAIL;
use super::{PAYPAL_CERT_URL, PAYPAL_FIXTURE, PAYPAL_WEBHOOK_ID, TEST_SIGNER_KEY, WebhookApp};

const PATH: &str = "/api/paypal/webhook";

/// Headers PayPal would send for `body`, signed by the test signer `offset_secs` from now.
fn signed_with(
    body: &[u8],
    offset_secs: i64,
    cert_url: &str,
    algorithm: &str,
) -> Vec<(&'static str, String)> {
    let transmission_id = "69cd13f0-d67a-11e5-baa3-778b53f4ae55";
    let time = (Utc::now() + chrono::Duration::seconds(offset_secs))
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let message = signed_message(transmission_id, &time, PAYPAL_WEBHOOK_ID, body);
    let pem = std::str::from_utf8(TEST_SIGNER_KEY).expect("PEM is text");
    let key = RsaPrivateKey::from_pkcs8_pem(pem).expect("test key parses");
    let signature = SigningKey::<sha2::Sha256>::new(key).sign(message.as_bytes());
    vec![
        ("paypal-transmission-id", transmission_id.to_owned()),
        ("paypal-transmission-time", time),
        (
            "paypal-transmission-sig",
            STANDARD.encode(signature.to_bytes()),
        ),
        ("paypal-cert-url", cert_url.to_owned()),
        ("paypal-auth-algo", algorithm.to_owned()),
    ]
}

fn signed(body: &[u8]) -> Vec<(&'static str, String)> {
    signed_with(body, 0, PAYPAL_CERT_URL, "SHA256withRSA")
}

fn fixture_with(patch: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut event: Value = serde_json::from_slice(PAYPAL_FIXTURE).expect("fixture is JSON");
    patch(&mut event);
    serde_json::to_vec(&event).expect("serializes")
}

#[tokio::test]
async fn a_completed_capture_becomes_one_purchase_event_with_the_payer_from_the_order() {
    let app = WebhookApp::spawn().await;

    let answer = app
        .post(PATH, &signed(PAYPAL_FIXTURE), PAYPAL_FIXTURE)
        .await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(app.paypal_api.order_requests(), vec!["5O190127TN364715T"]);
    let events = app.inngest.accepted();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].name, "purchase/mentorship");
    assert_eq!(
        events[0].id.as_deref(),
        Some("paypal-WH-58D329510W468432D-8HN650336L201105X")
    );
    let data: Value = serde_json::from_str(&events[0].data).expect("data is JSON");
    assert_eq!(
        data,
        json!({
            "provider": "paypal",
            "purchase_id": "42311647XV020574X",
            "email": PAYER_EMAIL,
            "name": "Ada Buyer",
            "clerk_user_id": "user_2NNEqL2nrIRdJ194ndJqAHwEfxC",
            "mentorship": "one_on_one",
            "product": "one-on-one-2026",
            "amount_minor": 25000,
            "currency": "usd",
            "livemode": false,
            "purchased_at": "2026-01-02T03:00:01Z"
        })
    );
}

#[tokio::test]
async fn the_paypal_access_token_is_fetched_once_and_reused() {
    let app = WebhookApp::spawn().await;
    let second = fixture_with(|event| event["id"] = json!("WH-SECOND-DELIVERY"));

    let first_answer = app
        .post(PATH, &signed(PAYPAL_FIXTURE), PAYPAL_FIXTURE)
        .await;
    let second_answer = app.post(PATH, &signed(&second), &second).await;

    assert_eq!((first_answer.status, second_answer.status), (200, 200));
    assert_eq!(app.paypal_api.token_requests(), 1);
    assert_eq!(app.paypal_api.order_requests().len(), 2);
    assert_eq!(app.inngest.accepted().len(), 2);
}

#[tokio::test]
async fn a_failed_order_lookup_answers_503_and_paypals_retry_delivers_once() {
    let app = WebhookApp::spawn().await;
    app.paypal_api.fail_order_lookups(1);
    let headers = signed(PAYPAL_FIXTURE);

    let statuses = app
        .post_until_accepted(PATH, &headers, PAYPAL_FIXTURE)
        .await;

    assert_eq!(statuses, vec![503, 200]);
    let events = app.inngest.accepted();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].id.as_deref(),
        Some("paypal-WH-58D329510W468432D-8HN650336L201105X")
    );
}

#[tokio::test]
async fn a_capture_that_carries_its_payer_needs_no_order_lookup() {
    let app = WebhookApp::spawn().await;
    let body = fixture_with(|event| {
        event["resource"]["payer"] = json!({"email_address": "inline@example.com"});
    });

    let answer = app.post(PATH, &signed(&body), &body).await;

    assert_eq!(answer.status, 200);
    assert!(app.paypal_api.order_requests().is_empty());
    let data: Value = serde_json::from_str(&app.inngest.accepted()[0].data).expect("data is JSON");
    assert_eq!(data["email"], "inline@example.com");
}

async fn assert_rejected(app: &WebhookApp, headers: &[(&str, String)], body: &[u8], status: u16) {
    let answer = app.post(PATH, headers, body).await;
    assert_eq!(answer.status, status, "{:?}", answer.body);
    app.inngest.assert_nothing_sent();
    assert!(
        app.paypal_api.order_requests().is_empty(),
        "no order lookup"
    );
}

#[tokio::test]
async fn a_tampered_paypal_body_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let headers = signed(PAYPAL_FIXTURE);
    let tampered = String::from_utf8_lossy(PAYPAL_FIXTURE).replace("250.00", "999.00");

    assert_rejected(&app, &headers, tampered.as_bytes(), 400).await;
}

#[tokio::test]
async fn a_stale_or_future_transmission_time_is_rejected() {
    let app = WebhookApp::spawn().await;
    for offset in [-600, 600] {
        let headers = signed_with(PAYPAL_FIXTURE, offset, PAYPAL_CERT_URL, "SHA256withRSA");

        assert_rejected(&app, &headers, PAYPAL_FIXTURE, 400).await;
    }
}

#[tokio::test]
async fn a_certificate_url_outside_paypal_is_rejected_without_fetching() {
    let app = WebhookApp::spawn().await;
    let headers = signed_with(
        PAYPAL_FIXTURE,
        0,
        "https://evil.example/v1/notifications/certs/CERT-1",
        "SHA256withRSA",
    );

    assert_rejected(&app, &headers, PAYPAL_FIXTURE, 400).await;
}

#[tokio::test]
async fn sha1_with_rsa_is_an_unsupported_scheme_in_the_app() {
    let app = WebhookApp::spawn().await;
    let headers = signed_with(PAYPAL_FIXTURE, 0, PAYPAL_CERT_URL, "SHA1withRSA");

    assert_rejected(&app, &headers, PAYPAL_FIXTURE, 400).await;
}

#[tokio::test]
async fn an_unreachable_certificate_answers_503_so_paypal_retries() {
    let app = WebhookApp::spawn().await;
    let headers = signed_with(
        PAYPAL_FIXTURE,
        0,
        "https://api-m.paypal.com/v1/notifications/certs/CERT-unknown",
        "SHA256withRSA",
    );

    assert_rejected(&app, &headers, PAYPAL_FIXTURE, 503).await;
}

#[tokio::test]
async fn a_missing_or_duplicated_paypal_header_is_rejected() {
    let app = WebhookApp::spawn().await;
    let all = signed(PAYPAL_FIXTURE);
    let missing: Vec<(&str, String)> = all[1..].to_vec();
    let mut duplicated = all.clone();
    duplicated.push(all[0].clone());

    assert_rejected(&app, &missing, PAYPAL_FIXTURE, 400).await;
    assert_rejected(&app, &duplicated, PAYPAL_FIXTURE, 400).await;
}

#[tokio::test]
async fn a_pending_capture_is_ignored_with_200_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let body = fixture_with(|event| event["resource"]["status"] = json!("PENDING"));

    assert_rejected(&app, &signed(&body), &body, 200).await;
}

#[tokio::test]
async fn a_capture_for_an_unknown_product_is_422_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let body = fixture_with(|event| event["resource"]["custom_id"] = json!("not-ours"));

    assert_rejected(&app, &signed(&body), &body, 422).await;
}

#[tokio::test]
async fn a_signed_paypal_body_that_is_not_json_is_rejected() {
    let app = WebhookApp::spawn().await;
    let body = b"{\"id\": ";

    assert_rejected(&app, &signed(body), body, 400).await;
}

#[tokio::test]
async fn an_unconfigured_paypal_route_answers_503_with_the_reason() {
    let app = WebhookApp::spawn_with(&[("PAYPAL_WEBHOOK_ID", None)]).await;

    let answer = app
        .post(PATH, &signed(PAYPAL_FIXTURE), PAYPAL_FIXTURE)
        .await;

    assert_eq!(answer.status, 503);
    assert!(
        answer.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("PAYPAL_WEBHOOK_ID"))
    );
    app.inngest.assert_nothing_sent();
}
