//! Delivery to Inngest: 2xx only after Inngest accepted the event; otherwise 503, and the
//! provider's retries end with exactly one accepted event.

use huckleberry::webhooks::WebhookSecret;
use huckleberry::webhooks::stripe::sign_for_test;

use super::{STRIPE_FIXTURE, STRIPE_SECRET, WebhookApp, now_unix};
use crate::inngest_stand_in::Failure;

const PATH: &str = "/api/stripe/webhook";
const EVENT_ID: &str = "stripe-evt_1QxTestCheckoutCompleted0001";

fn stripe_delivery() -> Vec<(&'static str, String)> {
    vec![(
        "stripe-signature",
        sign_for_test(
            &WebhookSecret::new(STRIPE_SECRET),
            STRIPE_FIXTURE,
            now_unix(),
        ),
    )]
}

#[tokio::test]
async fn inngest_failing_three_times_then_recovering_ends_with_exactly_one_accepted_event() {
    let app = WebhookApp::spawn().await;
    app.inngest.fail_next(&[Failure::ServerError; 3]);
    let delivery = stripe_delivery();

    let statuses = app
        .post_until_accepted(PATH, &delivery, STRIPE_FIXTURE)
        .await;

    assert_eq!(statuses.first(), Some(&503), "the first attempt failed");
    assert_eq!(statuses.last(), Some(&200));
    assert!(app.inngest.requests() >= 4, "three failures, then success");
    let ids: Vec<Option<String>> = app.inngest.accepted().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![Some(EVENT_ID.to_owned())]);
}

#[tokio::test]
async fn a_provider_retry_after_success_is_a_duplicate_inngest_drops() {
    let app = WebhookApp::spawn().await;
    let delivery = stripe_delivery();

    let first = app.post(PATH, &delivery, STRIPE_FIXTURE).await;
    let again = app.post(PATH, &delivery, STRIPE_FIXTURE).await;

    assert_eq!((first.status, again.status), (200, 200));
    assert_eq!(app.inngest.accepted().len(), 1);
    assert_eq!(app.inngest.duplicates().len(), 1);
    assert_eq!(app.inngest.duplicates()[0].id.as_deref(), Some(EVENT_ID));
}

#[tokio::test]
async fn a_hanging_inngest_answers_503_within_the_delivery_timeout_and_the_retry_delivers() {
    let app = WebhookApp::spawn_with(&[("WEBHOOK_DELIVERY_TIMEOUT_MS", Some("300"))]).await;
    app.inngest.fail_next(&[Failure::Hang]);
    let delivery = stripe_delivery();

    let statuses = app
        .post_until_accepted(PATH, &delivery, STRIPE_FIXTURE)
        .await;

    assert_eq!(statuses, vec![503, 200]);
    let ids: Vec<Option<String>> = app.inngest.accepted().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![Some(EVENT_ID.to_owned())]);
}

#[tokio::test]
async fn an_inngest_4xx_answers_503_with_a_json_body_so_the_provider_retries() {
    let app = WebhookApp::spawn().await;
    app.inngest.fail_next(&[Failure::Rejected]);
    let delivery = stripe_delivery();

    let answer = app.post(PATH, &delivery, STRIPE_FIXTURE).await;

    assert_eq!(answer.status, 503);
    assert!(answer.body["error"].is_string(), "{:?}", answer.body);
    assert!(app.inngest.accepted().is_empty());
    let retry = app.post(PATH, &delivery, STRIPE_FIXTURE).await;
    assert_eq!(retry.status, 200);
    assert_eq!(app.inngest.accepted().len(), 1);
}

#[tokio::test]
async fn an_unreachable_inngest_answers_503_so_the_provider_retries() {
    // A port nobody listens on: bind, note the port, close.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("bound"))
    };
    let app = WebhookApp::spawn_with(&[
        ("INNGEST_BASE_URL", Some(closed.as_str())),
        ("INNGEST_EVENT_API_BASE_URL", Some(closed.as_str())),
    ])
    .await;

    let answer = app.post(PATH, &stripe_delivery(), STRIPE_FIXTURE).await;

    assert_eq!(answer.status, 503);
    assert!(answer.body["error"].is_string(), "{:?}", answer.body);
}
