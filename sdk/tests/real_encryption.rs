//! The encryption middleware (docs/protocol.md §7.17) on the real Inngest server: what the
//! server stores of a run (step outputs from the trace, the run output, the sent event) is
//! `inngest/libsodium` ciphertext, and the run completes with the right plain values.
//!
//! Needs the server binary (`INNGEST_BIN`, or `inngest-cli` / `inngest` on `PATH`):
//! `cargo test -p inngest-sdk --all-features --test real_encryption -- --ignored`.
#![cfg(all(feature = "testing", feature = "encryption"))]
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::time::Duration;

use inngest_sdk::encryption::{ENCRYPTION_MARKER, Encryption, STRATEGY, STRATEGY_MARKER};
use inngest_sdk::testing::real::{InngestServer, RunStatus, ServedApp, ServerOptions};
use inngest_sdk::{
    BatchEvents, Client, Config, Endpoint, Error, Event, Function, FunctionOpts, Input, Step,
    Trigger,
};
use serde_json::{Value, json};

const KEY: &str = "real server encryption key";

fn is_encrypted(value: &Value) -> bool {
    value[ENCRYPTION_MARKER] == json!(true)
        && value[STRATEGY_MARKER] == json!(STRATEGY)
        && value["data"].is_string()
}

/// Serves `function` from an app whose client encrypts with [`KEY`], synced with `server`.
async fn serve_encrypted(server: &InngestServer, app: &str, function: Function) -> ServedApp {
    let client = Client::new(Config::dev().with_base_url(server.url().clone()))
        .with_middleware(Encryption::new(KEY).unwrap());
    let endpoint = Endpoint::builder(app, client)
        .function(function)
        .build()
        .unwrap();
    server.serve_and_sync(endpoint).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn the_real_server_stores_only_ciphertext_and_the_run_sees_plain_values() {
    let server = InngestServer::start(ServerOptions::dev())
        .await
        .expect("needs the real Inngest server");
    let function = Function::new(
        FunctionOpts::new("secret").trigger(Trigger::event("test/enc.secret")),
        |input: Input<Value>, step: Step| async move {
            let card = input.event.data["encrypted"]["card"].clone();
            let first: Value = step
                .run("mask", move || async move {
                    let card = card.as_str().unwrap_or("????").to_owned();
                    Ok::<_, Error>(json!({"last4": card[card.len().saturating_sub(4)..]}))
                })
                .await?;
            let second: String = step
                .run("label", move || async move {
                    Ok::<_, Error>(format!(
                        "card ending {}",
                        first["last4"].as_str().unwrap_or("?")
                    ))
                })
                .await?;
            step.send_event(
                "announce",
                vec![Event::new(
                    "test/enc.labelled",
                    json!({"encrypted": {"label": second}}),
                )],
            )
            .await?;
            Ok::<_, Error>(json!({"label": second}))
        },
    );
    let _app = serve_encrypted(&server, "encryption-test", function).await;
    let reader = Encryption::new(KEY).unwrap();
    let secret = reader
        .encrypt_value(&json!({"card": "4111111111111234"}))
        .unwrap();
    let (run, output) = server
        .run_event(
            json!({"name": "test/enc.secret", "data": {"encrypted": secret}}),
            Duration::from_secs(120),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert!(is_encrypted(&output), "{output}");
    assert_eq!(
        reader.decrypt_value(&output),
        Ok(json!({"label": "card ending 1234"}))
    );

    // Each step's output as the server stores it (the trace's span outputs).
    let trace = server
        .gql(
            "query($id: String!) { runTrace(runID: $id) { childrenSpans { name outputID } } }",
            json!({ "id": run.id }),
        )
        .await
        .unwrap();
    let mut stored = Vec::new();
    for span in trace["runTrace"]["childrenSpans"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(output_id)) = (span["name"].as_str(), span["outputID"].as_str())
        else {
            continue;
        };
        if name != "mask" && name != "label" {
            continue;
        }
        let output = server
            .gql(
                "query($id: String!) { runTraceSpanOutputByID(outputID: $id) { data } }",
                json!({ "id": output_id }),
            )
            .await
            .unwrap();
        let data = output["runTraceSpanOutputByID"]["data"]
            .as_str()
            .unwrap_or_default();
        // Words of the plaintexts; a bare "1234" can occur in base64 ciphertext by chance.
        assert!(
            !data.contains("last4") && !data.contains("card ending"),
            "{name}: {data}"
        );
        let data: Value = serde_json::from_str(data).unwrap();
        // The span output is the step's op `data`: the envelope (or `{"data": envelope}`).
        let envelope = if is_encrypted(&data) {
            data
        } else {
            data["data"].clone()
        };
        assert!(is_encrypted(&envelope), "{name}: {envelope}");
        stored.push((name.to_owned(), reader.decrypt_value(&envelope).unwrap()));
    }
    stored.sort_by(|a, b| a.0.cmp(&b.0));
    stored.dedup();
    assert_eq!(
        stored,
        [
            ("label".to_owned(), json!("card ending 1234")),
            ("mask".to_owned(), json!({"last4": "1234"})),
        ]
    );

    let sent = server
        .wait_for("the labelled event", Duration::from_secs(30), || async {
            server
                .events_named("test/enc.labelled")
                .await
                .ok()?
                .into_iter()
                .next()
        })
        .await
        .unwrap();
    assert!(is_encrypted(&sent.data()["encrypted"]), "{:?}", sent.raw);
    assert_eq!(
        reader.decrypt_value(&sent.data()["encrypted"]),
        Ok(json!({"label": "card ending 1234"}))
    );
}

/// A batch of encrypted events: the run's `events` are decrypted like its trigger, so the
/// handler reads every event's plain value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN or inngest-cli on PATH)"]
async fn a_batch_of_encrypted_events_reaches_the_handler_decrypted() {
    let server = InngestServer::start(ServerOptions::dev())
        .await
        .expect("needs the real Inngest server");
    let function = Function::new(
        FunctionOpts::new("secret-batch")
            .trigger(Trigger::event("test/enc.batched"))
            .batch_events(BatchEvents {
                max_size: 2,
                timeout: Duration::from_secs(5),
                key: None,
                if_exp: None,
            }),
        |input: Input<Value>, _step: Step| async move {
            let mut cards: Vec<String> = input
                .events()?
                .iter()
                .map(|e| {
                    e.data["encrypted"]["card"]
                        .as_str()
                        .unwrap_or("?")
                        .to_owned()
                })
                .collect();
            cards.sort();
            Ok::<_, Error>(json!({ "cards": cards }))
        },
    );
    let _app = serve_encrypted(&server, "encryption-batch-test", function).await;
    let reader = Encryption::new(KEY).unwrap();
    let event = |card: &str| {
        let secret = reader.encrypt_value(&json!({ "card": card })).unwrap();
        json!({"name": "test/enc.batched", "data": {"encrypted": secret}})
    };
    let ids = server
        .send_event(json!([event("4111"), event("5500")]))
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    let run = server
        .first_run_of(&ids[0], Duration::from_secs(60))
        .await
        .unwrap();
    let (run, output) = server
        .wait_for_output(&run.id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert!(is_encrypted(&output), "{output}");
    assert_eq!(
        reader.decrypt_value(&output),
        Ok(json!({"cards": ["4111", "5500"]}))
    );
}
