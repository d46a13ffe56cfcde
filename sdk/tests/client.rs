//! The client against an event-API stand-in: what reaches Inngest, and what the caller sees
//! when Inngest refuses or is unreachable (docs/protocol.md §8.2, checklist §12 items 5, 53, 54).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use inngest_sdk::{Client, Config, Event, EventKey, SendError, SigningKey};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct EventApi {
    received: Arc<Mutex<Vec<(String, HeaderMap, Value)>>>,
    /// Answer 500 to this many requests first.
    failures: Arc<AtomicUsize>,
    /// `x-inngest-event-id-seed` of every request, failed ones included.
    seeds: Arc<Mutex<Vec<String>>>,
}

async fn ingest(
    State(api): State<EventApi>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let body: Value = serde_json::from_str(&body).expect("json array");
    let seed = headers
        .get("x-inngest-event-id-seed")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    api.seeds.lock().expect("lock").push(seed);
    if api
        .failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"try later"}"#.into(),
        );
    }
    let events = body.as_array().expect("array").clone();
    if events.iter().any(|e| {
        e["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("inngest/"))
    }) {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"ids":[],"status":400,"error":"event name is reserved for internal use"}"#.into(),
        );
    }
    api.received
        .lock()
        .expect("lock")
        .push((key, headers, body));
    let ids: Vec<String> = (0..events.len()).map(|i| format!("01JID{i}")).collect();
    (
        StatusCode::OK,
        json!({"ids": ids, "status": 200}).to_string(),
    )
}

async fn start(api: EventApi) -> url::Url {
    let app = axum::Router::new()
        .route("/e/{key}", axum::routing::post(ingest))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    url::Url::parse(&format!("http://{addr}")).expect("url")
}

fn cloud(base: url::Url) -> Config {
    Config::cloud(SigningKey::new("signkey-prod-12345678").expect("key"))
        .with_base_url(base)
        .with_event_key(EventKey::new("secret-event-key"))
        .with_env("preview")
}

#[tokio::test]
async fn send_posts_a_batch_with_the_event_key_and_returns_the_ids_in_order() {
    let api = EventApi::default();
    let client = Client::new(cloud(start(api.clone()).await));
    let events = vec![
        Event::new("shop/order.created", json!({"order_id": "o1"})).id("stripe-evt_1"),
        Event::new("shop/order.created", json!({"order_id": "o2"})),
    ];
    let ids = client.send_many(&events).await.expect("sent");
    assert_eq!(ids, ["01JID0", "01JID1"]);

    let received = api.received.lock().expect("lock");
    let (key, headers, body) = &received[0];
    assert_eq!(key, "secret-event-key");
    assert_eq!(body[0]["name"], "shop/order.created");
    assert_eq!(body[0]["id"], "stripe-evt_1");
    assert_eq!(body[0]["data"], json!({"order_id": "o1"}));
    assert!(
        body[0]["ts"]
            .as_i64()
            .is_some_and(|ts| ts > 1_700_000_000_000)
    );
    assert!(body[1].get("id").is_none());
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-inngest-sdk"], headers["user-agent"]);
    assert_eq!(headers["x-inngest-env"], "preview");
    assert!(headers.contains_key("x-inngest-event-id-seed"));
    assert!(
        !headers.contains_key("authorization"),
        "the event API takes no bearer"
    );
}

#[tokio::test]
async fn send_one_returns_its_id() {
    let api = EventApi::default();
    let client = Client::new(cloud(start(api.clone()).await));
    let id = client
        .send(&Event::new("a/b", json!({})))
        .await
        .expect("sent");
    assert_eq!(id, "01JID0");
}

#[tokio::test]
async fn a_reserved_event_name_surfaces_the_servers_400() {
    let api = EventApi::default();
    let client = Client::new(cloud(start(api.clone()).await));
    let error = client
        .send(&Event::new("inngest/function.failed", json!({})))
        .await
        .expect_err("refused");
    match &error {
        SendError::Rejected { status, message } => {
            assert_eq!(*status, 400);
            assert_eq!(message, "event name is reserved for internal use");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(api.received.lock().expect("lock").is_empty());
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_with_the_same_seed_until_the_attempts_run_out() {
    let api = EventApi::default();
    api.failures.store(2, Ordering::SeqCst);
    let client = Client::new(cloud(start(api.clone()).await)).with_send_attempts(3);
    let ids = client
        .send(&Event::new("a/b", json!({})).id("once"))
        .await
        .expect("third attempt succeeds");
    assert_eq!(ids, "01JID0");
    let seeds = api.seeds.lock().expect("lock").clone();
    assert_eq!(seeds.len(), 3);
    assert!(
        !seeds[0].is_empty() && seeds.iter().all(|s| *s == seeds[0]),
        "{seeds:?}"
    );

    api.failures.store(5, Ordering::SeqCst);
    let error = client
        .send(&Event::new("a/b", json!({})))
        .await
        .expect_err("three failures");
    assert!(matches!(error, SendError::Rejected { status, .. } if status == 500));
}

#[tokio::test]
async fn an_unreachable_event_api_is_an_error_that_never_shows_the_event_key() {
    // Port 9 (discard) on loopback: nothing listens.
    let base = url::Url::parse("http://127.0.0.1:9").expect("url");
    let client = Client::new(cloud(base)).with_send_attempts(1);
    let error = client
        .send(&Event::new("a/b", json!({})))
        .await
        .expect_err("unreachable");
    assert!(matches!(error, SendError::Transport(_)));
    let text = format!("{error} {error:?}");
    assert!(!text.contains("secret-event-key"), "{text}");
}

#[tokio::test]
async fn cloud_mode_without_an_event_key_refuses_to_send() {
    let config = Config::cloud(SigningKey::new("signkey-prod-12345678").expect("key"));
    let error = Client::new(config)
        .send(&Event::new("a/b", json!({})))
        .await
        .expect_err("no key");
    assert!(matches!(error, SendError::MissingEventKey));
}
