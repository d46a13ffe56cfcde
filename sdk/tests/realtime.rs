//! Realtime (docs/protocol.md §8.10) against an API stand-in that records requests: the
//! publish and token request shapes, typed errors without secrets, and a durable
//! `step.publish` on the fake executor that a retried run does not repeat.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use inngest_sdk::{ApiError, Client, Config, SigningKey, Topic};
use serde::Serialize;
use serde_json::{Value, json};

/// One recorded request: path and query, headers, body.
type Recorded = (String, HeaderMap, String);

#[derive(Clone)]
struct Api {
    received: Arc<Mutex<Vec<Recorded>>>,
    /// Status and body of every answer.
    answer: (StatusCode, &'static str),
}

async fn record(
    State(api): State<Api>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, &'static str) {
    api.received
        .lock()
        .expect("lock")
        .push((uri.to_string(), headers, body));
    api.answer
}

async fn start(answer: (StatusCode, &'static str)) -> (url::Url, Arc<Mutex<Vec<Recorded>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .fallback(axum::routing::post(record))
        .with_state(Api {
            received: Arc::clone(&received),
            answer,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (
        url::Url::parse(&format!("http://{addr}")).expect("url"),
        received,
    )
}

const KEY: &str = "signkey-prod-00112233445566778899";

fn cloud(base: url::Url) -> Config {
    Config::cloud(SigningKey::new(KEY).expect("key"))
        .with_base_url(base)
        .with_env("staging")
}

#[derive(Serialize)]
struct Progress {
    percent: u8,
    note: String,
}

#[tokio::test]
async fn publish_posts_the_data_to_the_channel_and_topic_with_the_hashed_key() {
    let (base, received) = start((StatusCode::OK, "")).await;
    let client = Client::new(cloud(base));
    let topic = Topic::<Progress>::new("progress");

    client
        .publish(
            "user:42",
            &topic,
            &Progress {
                percent: 50,
                note: "a & b".into(),
            },
        )
        .await
        .expect("published");

    let received = received.lock().expect("lock");
    assert_eq!(received.len(), 1);
    let (uri, headers, body) = &received[0];
    assert_eq!(uri, "/v1/realtime/publish?channel=user%3A42&topic=progress");
    assert_eq!(body, r#"{"percent":50,"note":"a & b"}"#);
    let bearer = SigningKey::new(KEY)
        .expect("key")
        .bearer_token()
        .expect("hashed");
    assert_eq!(headers["authorization"], format!("Bearer {bearer}"));
    assert!(
        !bearer.contains("00112233445566778899"),
        "the key is hashed"
    );
    assert_eq!(headers["x-inngest-env"], "staging");
    assert_eq!(headers["content-type"], "application/json");
}

#[tokio::test]
async fn a_refused_publish_is_a_typed_error_without_the_key() {
    let (base, _) = start((StatusCode::UNAUTHORIZED, r#"{"error":"bad key"}"#)).await;
    let client = Client::new(cloud(base));

    let error = client
        .publish("user:42", &Topic::<u32>::new("count"), &1)
        .await
        .expect_err("refused");

    assert!(
        matches!(error, ApiError::Status { status, .. } if status == StatusCode::UNAUTHORIZED),
        "{error:?}"
    );
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(!shown.contains("00112233445566778899"), "{shown}");
}

#[tokio::test]
async fn a_subscription_token_is_minted_for_the_topics_and_names_the_websocket_url() {
    let (base, received) = start((StatusCode::CREATED, r#"{"jwt":"aaa.bbb.ccc"}"#)).await;
    let client = Client::new(cloud(base.clone()));

    let token = client
        .subscription_token("user:42", &["progress", "done"])
        .await
        .expect("minted");

    let received = received.lock().expect("lock");
    assert_eq!(received.len(), 1);
    let (uri, headers, body) = &received[0];
    assert_eq!(uri, "/v1/realtime/token");
    assert_eq!(
        serde_json::from_str::<Value>(body).expect("json"),
        json!([
            {"kind": "run", "channel": "user:42", "name": "progress"},
            {"kind": "run", "channel": "user:42", "name": "done"},
        ])
    );
    assert!(
        headers["authorization"]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer signkey-prod-")
    );
    assert_eq!(token.token, "aaa.bbb.ccc");
    assert_eq!(token.channel, "user:42");
    assert_eq!(token.topics, ["progress", "done"]);
    let port = base.port().expect("port");
    assert_eq!(
        token.connect_url().as_str(),
        format!("ws://127.0.0.1:{port}/v1/realtime/connect?token=aaa.bbb.ccc")
    );
    assert!(!format!("{token:?}").contains("aaa.bbb.ccc"));
}

#[tokio::test]
async fn a_token_answer_without_a_jwt_is_a_body_error() {
    let (base, _) = start((StatusCode::CREATED, r#"{"token":"x"}"#)).await;
    let error = Client::new(cloud(base))
        .subscription_token("c", &["t"])
        .await
        .expect_err("no jwt");
    assert!(matches!(error, ApiError::Body(_)), "{error:?}");
}

#[cfg(feature = "testing")]
mod durable {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;
    use inngest_sdk::testing::{FakeExecutor, RunStatus};
    use inngest_sdk::{Endpoint, Error, Event, Function, FunctionOpts, Input, Step, Trigger};

    /// Publishes, then fails its first attempt after the publish step completed.
    fn reporter(attempts: Arc<AtomicU32>) -> Function {
        Function::new(
            FunctionOpts::new("reporter").trigger(Trigger::event("job/started")),
            move |input: Input<Value>, step: Step| {
                let attempts = Arc::clone(&attempts);
                async move {
                    let channel = format!("job:{}", input.event.data["job"]);
                    let progress = Topic::<Progress>::new("progress");
                    step.publish(
                        "half-way",
                        &channel,
                        &progress,
                        &Progress {
                            percent: 50,
                            note: "half".into(),
                        },
                    )
                    .await?;
                    if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Err(Error::new("flaky after the publish"));
                    }
                    Ok::<_, Error>(json!("done"))
                }
            },
        )
    }

    #[tokio::test]
    async fn a_retried_run_does_not_publish_twice() {
        let (realtime, received) = start((StatusCode::OK, "")).await;
        let inngest = FakeExecutor::start().await;
        let attempts = Arc::new(AtomicU32::new(0));
        // The stand-in takes the API calls, so the executor's checkpoint API is out of
        // reach: steps are reported the classic way (docs/protocol.md §7).
        let config = inngest
            .client_config()
            .with_api_base_url(realtime)
            .without_checkpointing();
        let endpoint = Endpoint::builder("app", Client::new(config))
            .clock(inngest.clock())
            .function(reporter(Arc::clone(&attempts)))
            .build()
            .expect("builds");
        inngest.serve(endpoint).await.expect("syncs");

        inngest
            .send(Event::new("job/started", json!({"job": 7})))
            .await;
        inngest.run_until_idle().await;
        inngest.advance(Duration::from_secs(24 * 3600)).await;
        inngest.run_until_idle().await;

        let runs = inngest.runs();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, RunStatus::Completed, "{:?}", runs[0]);
        assert_eq!(runs[0].output, Some(json!("done")));
        assert!(attempts.load(Ordering::SeqCst) >= 2, "the run was retried");
        let received = received.lock().expect("lock");
        let publishes: Vec<_> = received
            .iter()
            .map(|(uri, _, body)| (uri.as_str(), body.as_str()))
            .collect();
        assert_eq!(
            publishes,
            [(
                "/v1/realtime/publish?channel=job%3A7&topic=progress",
                r#"{"percent":50,"note":"half"}"#
            )]
        );
    }
}
