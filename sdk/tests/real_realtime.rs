//! Realtime (docs/protocol.md §8.10) on the real Inngest server: a subscriber holding a
//! token from `Client::subscription_token` connects to the server's WebSocket, a run
//! publishes with `step.publish` (and is retried in between), and the subscriber receives
//! each message once, in order, with the typed data.
//!
//! Needs the server binary (`INNGEST_BIN`, or `inngest-cli` / `inngest` on `PATH`):
//! `cargo test -p inngest-sdk --all-features --test real_realtime -- --ignored`.
#![cfg(all(feature = "testing", feature = "connect"))]
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::time::Duration;

use futures_util::StreamExt;
use inngest_sdk::testing::real::{InngestServer, RunStatus, ServedApp, ServerOptions};
use inngest_sdk::{
    Client, Config, Endpoint, Error, Function, FunctionOpts, Input, RealtimeMessage, Step, Topic,
    Trigger,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Progress {
    percent: u8,
    note: String,
}

fn progress() -> Topic<Progress> {
    Topic::new("progress")
}

/// Publishes 50 %, runs a step that fails its first attempt, then publishes 100 %.
fn reporter() -> Function {
    Function::new(
        FunctionOpts::new("reporter").trigger(Trigger::event("test/job.started")),
        |input: Input<Value>, step: Step| async move {
            let channel = format!("job:{}", input.event.data["job"].as_str().unwrap_or("?"));
            let half = Progress {
                percent: 50,
                note: "half way".into(),
            };
            step.publish("half", &channel, &progress(), &half).await?;
            let attempt = input.run.attempt;
            let flaky_attempt = step
                .run("flaky", || async move {
                    if attempt == 0 {
                        return Err(Error::new("fails its first attempt"));
                    }
                    Ok(attempt)
                })
                .await?;
            let done = Progress {
                percent: 100,
                note: "done".into(),
            };
            step.publish("done", &channel, &progress(), &done).await?;
            Ok::<_, Error>(json!({"flaky_attempt": flaky_attempt}))
        },
    )
}

/// A server with the app served and synced; the app answers while the `ServedApp` lives.
async fn start() -> (InngestServer, Client, ServedApp) {
    let server = InngestServer::start(ServerOptions::dev().retry_interval(1))
        .await
        .expect("needs the real Inngest server");
    let client = Client::new(Config::dev().with_base_url(server.url().clone()));
    let endpoint = Endpoint::builder("realtime-test", client.clone())
        .function(reporter())
        .build()
        .unwrap();
    let app = server.serve_and_sync(endpoint).await.unwrap();
    (server, client, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn a_subscriber_receives_a_runs_durable_publishes_once_each() {
    let (server, client, _app) = start().await;
    let token = client
        .subscription_token("job:j1", &[progress().name()])
        .await
        .unwrap();
    let (mut socket, _) = tokio_tungstenite::connect_async(token.connect_url().as_str())
        .await
        .unwrap();

    let ids = server
        .send_event(json!({"name": "test/job.started", "data": {"job": "j1"}}))
        .await
        .unwrap();

    // Every data message up to the last publish: a repeated 50 % (a publish the retry
    // repeated) would come before the 100 %.
    let mut received: Vec<RealtimeMessage> = Vec::new();
    tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(frame) = socket.next().await {
            let text = match frame.unwrap() {
                Message::Text(text) => text,
                _ => continue,
            };
            let message: RealtimeMessage = serde_json::from_str(text.as_str()).unwrap();
            if message.kind != "data" {
                continue;
            }
            let last = message.data_as::<Progress>().unwrap().percent == 100;
            received.push(message);
            if last {
                break;
            }
        }
    })
    .await
    .expect("the 100 % message within the deadline");

    let run = server
        .first_run_of(&ids[0], Duration::from_secs(60))
        .await
        .unwrap();
    let (ended, output) = server
        .wait_for_output(&run.id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(ended.status, RunStatus::Completed);
    assert_eq!(output, json!({"flaky_attempt": 1}), "the run was retried");

    let data: Vec<Progress> = received.iter().map(|m| m.data_as().unwrap()).collect();
    assert_eq!(
        data,
        [
            Progress {
                percent: 50,
                note: "half way".into()
            },
            Progress {
                percent: 100,
                note: "done".into()
            },
        ]
    );
    for message in &received {
        assert_eq!(message.channel, "job:j1");
        assert_eq!(message.topic, "progress");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn a_client_publish_reaches_a_subscriber_and_other_topics_do_not() {
    let (_server, client, _app) = start().await;
    let token = client
        .subscription_token("user:7", &["greeting"])
        .await
        .unwrap();
    let (mut socket, _) = tokio_tungstenite::connect_async(token.connect_url().as_str())
        .await
        .unwrap();

    client
        .publish("user:7", &Topic::<Value>::new("secret"), &json!({"no": 1}))
        .await
        .unwrap();
    client
        .publish(
            "user:8",
            &Topic::<Value>::new("greeting"),
            &json!({"no": 2}),
        )
        .await
        .unwrap();
    client
        .publish(
            "user:7",
            &Topic::<Value>::new("greeting"),
            &json!({"hi": "ada"}),
        )
        .await
        .unwrap();

    let message = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(frame) = socket.next().await {
            if let Message::Text(text) = frame.unwrap() {
                let message: RealtimeMessage = serde_json::from_str(text.as_str()).unwrap();
                if message.kind == "data" {
                    return message;
                }
            }
        }
        panic!("the socket closed");
    })
    .await
    .expect("a message within the deadline");
    assert_eq!(message.channel, "user:7");
    assert_eq!(message.topic, "greeting");
    assert_eq!(message.data, json!({"hi": "ada"}));
}
