//! `POST /api/clerk/webhook` and `POST /api/resend/webhook` as specifications.

use huckleberry::webhooks::WebhookSecret;
use huckleberry::webhooks::svix::sign_for_test;
use serde_json::value::RawValue;

use super::{CLERK_FIXTURE, CLERK_SECRET, RESEND_FIXTURE, WebhookApp, now_unix, resend_secret};

const CLERK: &str = "/api/clerk/webhook";
const RESEND: &str = "/api/resend/webhook";
const MESSAGE_ID: &str = "msg_2NNEqTestClerkDelivery01";

fn headers(
    prefix: &str,
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    let signature =
        sign_for_test(&WebhookSecret::new(secret), id, timestamp, body).expect("valid secret");
    vec![
        (format!("{prefix}-id"), id.to_owned()),
        (format!("{prefix}-timestamp"), timestamp.to_string()),
        (format!("{prefix}-signature"), signature),
    ]
}

fn signed(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    headers("svix", secret, MESSAGE_ID, now_unix(), body)
}

fn as_refs(headers: &[(String, String)]) -> Vec<(&str, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect()
}

/// The exact bytes of the fixture's `data` member.
fn raw_data(fixture: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        data: &'a RawValue,
    }
    let envelope: Envelope<'_> = serde_json::from_slice(fixture).expect("fixture is JSON");
    envelope.data.get().to_owned()
}

#[tokio::test]
async fn a_clerk_user_created_is_forwarded_once_with_its_data_byte_for_byte() {
    let app = WebhookApp::spawn().await;

    let answer = app
        .post(
            CLERK,
            &as_refs(&signed(CLERK_SECRET, CLERK_FIXTURE)),
            CLERK_FIXTURE,
        )
        .await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let events = app.inngest.accepted();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].name, "clerk/user.created");
    assert_eq!(
        events[0].id.as_deref(),
        Some("clerk-msg_2NNEqTestClerkDelivery01")
    );
    assert_eq!(events[0].data, raw_data(CLERK_FIXTURE));
}

#[tokio::test]
async fn a_resend_email_bounced_is_forwarded_once_with_its_data_byte_for_byte() {
    let app = WebhookApp::spawn().await;

    let answer = app
        .post(
            RESEND,
            &as_refs(&signed(&resend_secret(), RESEND_FIXTURE)),
            RESEND_FIXTURE,
        )
        .await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let events = app.inngest.accepted();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].name, "resend/email.bounced");
    assert_eq!(
        events[0].id.as_deref(),
        Some("resend-msg_2NNEqTestClerkDelivery01")
    );
    assert_eq!(events[0].data, raw_data(RESEND_FIXTURE));
}

#[tokio::test]
async fn the_standard_webhooks_header_names_are_accepted() {
    let app = WebhookApp::spawn().await;
    let headers = headers(
        "webhook",
        CLERK_SECRET,
        MESSAGE_ID,
        now_unix(),
        CLERK_FIXTURE,
    );

    let answer = app.post(CLERK, &as_refs(&headers), CLERK_FIXTURE).await;

    assert_eq!(answer.status, 200);
    assert_eq!(app.inngest.accepted().len(), 1);
}

async fn assert_rejected(
    app: &WebhookApp,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    status: u16,
) {
    let answer = app.post(path, &as_refs(headers), body).await;
    assert_eq!(answer.status, status, "{:?}", answer.body);
    app.inngest.assert_nothing_sent();
}

#[tokio::test]
async fn a_tampered_svix_body_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let headers = signed(CLERK_SECRET, CLERK_FIXTURE);
    let tampered =
        String::from_utf8_lossy(CLERK_FIXTURE).replace("example@example.com", "evil@example.com");

    assert_rejected(&app, CLERK, &headers, tampered.as_bytes(), 400).await;
}

#[tokio::test]
async fn a_clerk_delivery_signed_with_the_resend_secret_is_rejected() {
    let app = WebhookApp::spawn().await;
    let headers = signed(&resend_secret(), CLERK_FIXTURE);

    assert_rejected(&app, CLERK, &headers, CLERK_FIXTURE, 400).await;
}

#[tokio::test]
async fn a_stale_svix_timestamp_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let headers = headers(
        "svix",
        CLERK_SECRET,
        MESSAGE_ID,
        now_unix() - 600,
        CLERK_FIXTURE,
    );

    assert_rejected(&app, CLERK, &headers, CLERK_FIXTURE, 400).await;
}

#[tokio::test]
async fn a_future_svix_timestamp_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let headers = headers(
        "svix",
        CLERK_SECRET,
        MESSAGE_ID,
        now_unix() + 600,
        CLERK_FIXTURE,
    );

    assert_rejected(&app, CLERK, &headers, CLERK_FIXTURE, 400).await;
}

#[tokio::test]
async fn each_missing_svix_header_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let all = signed(CLERK_SECRET, CLERK_FIXTURE);
    for missing in ["svix-id", "svix-timestamp", "svix-signature"] {
        let headers: Vec<(String, String)> =
            all.iter().filter(|(k, _)| k != missing).cloned().collect();

        assert_rejected(&app, CLERK, &headers, CLERK_FIXTURE, 400).await;
    }
}

#[tokio::test]
async fn a_duplicated_svix_header_is_rejected_and_nothing_is_sent() {
    let app = WebhookApp::spawn().await;
    let mut headers = signed(CLERK_SECRET, CLERK_FIXTURE);
    headers.push(("svix-id".to_owned(), "msg_other".to_owned()));

    assert_rejected(&app, CLERK, &headers, CLERK_FIXTURE, 400).await;
}

#[tokio::test]
async fn a_signature_list_without_v1_is_an_unsupported_scheme() {
    let app = WebhookApp::spawn().await;
    let headers: Vec<(String, String)> = signed(CLERK_SECRET, CLERK_FIXTURE)
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "svix-signature" {
                v.replacen("v1,", "v2,", 1)
            } else {
                v
            };
            (k, v)
        })
        .collect();

    assert_rejected(&app, CLERK, &headers, CLERK_FIXTURE, 400).await;
}

#[tokio::test]
async fn an_oversized_svix_body_is_refused_with_413() {
    let app = WebhookApp::spawn().await;
    let body = vec![b' '; huckleberry::webhooks::MAX_BODY_BYTES + 1];
    let headers = signed(&resend_secret(), &body);

    assert_rejected(&app, RESEND, &headers, &body, 413).await;
}

#[tokio::test]
async fn a_signed_svix_body_that_is_not_an_event_envelope_is_rejected() {
    let app = WebhookApp::spawn().await;
    for body in [
        &b"not json"[..],
        br#"{"type": "user.created"}"#,
        br#"{"data": {}}"#,
    ] {
        let headers = signed(CLERK_SECRET, body);

        assert_rejected(&app, CLERK, &headers, body, 400).await;
    }
}

#[tokio::test]
async fn an_unconfigured_resend_route_answers_503_with_the_reason() {
    let app = WebhookApp::spawn_with(&[("RESEND_WEBHOOK_SECRET", None)]).await;

    let answer = app
        .post(
            RESEND,
            &as_refs(&signed(&resend_secret(), RESEND_FIXTURE)),
            RESEND_FIXTURE,
        )
        .await;

    assert_eq!(answer.status, 503);
    assert!(
        answer.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("RESEND_WEBHOOK_SECRET"))
    );
    app.inngest.assert_nothing_sent();
}

#[tokio::test]
async fn an_unconfigured_clerk_route_answers_503_while_resend_still_works() {
    let app = WebhookApp::spawn_with(&[("CLERK_WEBHOOK_SECRET", None)]).await;

    let clerk = app
        .post(
            CLERK,
            &as_refs(&signed(CLERK_SECRET, CLERK_FIXTURE)),
            CLERK_FIXTURE,
        )
        .await;
    let resend = app
        .post(
            RESEND,
            &as_refs(&signed(&resend_secret(), RESEND_FIXTURE)),
            RESEND_FIXTURE,
        )
        .await;

    assert_eq!(clerk.status, 503);
    assert_eq!(resend.status, 200);
    assert_eq!(app.inngest.accepted().len(), 1);
}
