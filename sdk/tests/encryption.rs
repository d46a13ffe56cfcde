//! The encryption middleware (docs/protocol.md §7.17) on the fake executor: what the executor
//! stores (step outputs, the function output, sent events) is `inngest/libsodium` ciphertext,
//! while the handler sees plain values, from the trigger and from memoized steps.
#![cfg(all(feature = "testing", feature = "encryption"))]

use inngest_sdk::encryption::{ENCRYPTION_MARKER, Encryption, STRATEGY, STRATEGY_MARKER};
use inngest_sdk::testing::{FakeExecutor, RunStatus};
use inngest_sdk::{
    Client, Endpoint, Error, Event, Function, FunctionOpts, FunctionRef, Input, Step, Trigger,
};
use serde_json::{Value, json};

const KEY: &str = "test key for the rust sdk";

/// `{"email":"ada@example.com","n":[1,2,3],"nested":{"ok":true}}`, encrypted with `KEY` by
/// the official JavaScript middleware.
const JS_VECTOR: &str = "b26XYd5lZPIEvgad9dttwmOicg7xiTUhix/L3KpVHT9+n6d9jpLZkJ5mChF4y1D9Gtr9+Y67qoR9jHJNCtaGxKdo5+VejxxlZtGIAno+xmfaUieqOKQPdI1TjARSSbxJZwxl/g==";

fn is_encrypted(value: &Value) -> bool {
    value[ENCRYPTION_MARKER] == json!(true)
        && value[STRATEGY_MARKER] == json!(STRATEGY)
        && value["data"].is_string()
}

/// Serves `functions` from one app on the fake executor's clock.
async fn serve(inngest: &FakeExecutor, client: Client, functions: Vec<Function>) {
    let mut endpoint = Endpoint::builder("app", client).clock(inngest.clock());
    for function in functions {
        endpoint = endpoint.function(function);
    }
    inngest
        .serve(endpoint.build().expect("builds"))
        .await
        .expect("syncs");
}

#[tokio::test]
async fn classic_calls_store_ciphertext_and_the_handler_sees_plain_values() {
    stores_ciphertext_and_the_handler_sees_plain_values(false).await;
}

#[tokio::test]
async fn checkpointed_calls_store_ciphertext_and_the_handler_sees_plain_values() {
    stores_ciphertext_and_the_handler_sees_plain_values(true).await;
}

async fn stores_ciphertext_and_the_handler_sees_plain_values(checkpointing: bool) {
    let inngest = FakeExecutor::start().await;
    let config = if checkpointing {
        inngest.client_config()
    } else {
        inngest.client_config().without_checkpointing()
    };
    let client = Client::new(config).with_middleware(
        Encryption::new("a newer key")
            .expect("a key")
            .with_fallback_keys([KEY]),
    );
    let function = Function::new(
        FunctionOpts::new("secret-profile").trigger(Trigger::event("test/secret")),
        |input: Input<Value>, step: Step| async move {
            // Decrypted from the JavaScript-encrypted trigger field.
            let email = input.event.data["encrypted"]["email"].clone();
            let first: Value = step
                .run("profile", move || async move {
                    Ok::<_, Error>(json!({"email": email, "plan": "pro"}))
                })
                .await?;
            // The memoized (encrypted) output comes back plain in later calls.
            let second: String = step
                .run("greeting", move || async move {
                    Ok::<_, Error>(format!("hello {}", first["email"].as_str().unwrap_or("?")))
                })
                .await?;
            step.send_event(
                "notify",
                vec![Event::new(
                    "test/notified",
                    json!({"encrypted": {"greeting": second}, "plain": 1}),
                )],
            )
            .await?;
            Ok::<_, Error>(json!({"greeting": second}))
        },
    );
    serve(&inngest, client, vec![function]).await;

    let trigger = json!({
        "encrypted": {ENCRYPTION_MARKER: true, STRATEGY_MARKER: STRATEGY, "data": JS_VECTOR},
    });
    let ids = inngest.send(Event::new("test/secret", trigger)).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(
        run.steps.iter().any(|s| s.checkpointed),
        checkpointing,
        "{run:?}"
    );

    let reader = Encryption::new(KEY)
        .expect("a key")
        .with_fallback_keys(["a newer key"]);
    let stored = |id: &str| {
        let output = run
            .step(id)
            .and_then(|s| s.output.clone())
            .expect("a step output");
        assert!(is_encrypted(&output), "{id}: {output}");
        assert!(!output.to_string().contains("ada@example.com"), "{output}");
        reader.decrypt_value(&output).expect("decrypts")
    };
    assert_eq!(
        stored("profile"),
        json!({"email": "ada@example.com", "plan": "pro"})
    );
    assert_eq!(stored("greeting"), json!("hello ada@example.com"));

    let output = run.output.clone().expect("an output");
    assert!(is_encrypted(&output), "{output}");
    assert_eq!(
        reader.decrypt_value(&output),
        Ok(json!({"greeting": "hello ada@example.com"}))
    );

    let sent = inngest.events_named("test/notified");
    assert_eq!(sent.len(), 1);
    let data = sent[0].data();
    assert_eq!(data["plain"], json!(1));
    assert!(is_encrypted(&data["encrypted"]), "{data}");
    assert_eq!(
        reader.decrypt_value(&data["encrypted"]),
        Ok(json!({"greeting": "hello ada@example.com"}))
    );
}

/// `Input::events` (the run's `events`, which hold the trigger too) is decrypted like
/// `Input::event`: the handler sees the same plain values through both.
#[tokio::test]
async fn the_runs_events_are_decrypted_like_the_trigger() {
    let inngest = FakeExecutor::start().await;
    let client =
        Client::new(inngest.client_config()).with_middleware(Encryption::new(KEY).expect("a key"));
    let function = Function::new(
        FunctionOpts::new("batch-reader").trigger(Trigger::event("test/secret")),
        |input: Input<Value>, _step: Step| async move {
            let events = input.events()?;
            Ok::<_, Error>(json!({
                "event": input.event.data["encrypted"],
                "events": events.iter().map(|e| e.data["encrypted"].clone()).collect::<Vec<_>>(),
            }))
        },
    );
    serve(&inngest, client, vec![function]).await;

    let trigger = json!({
        "encrypted": {ENCRYPTION_MARKER: true, STRATEGY_MARKER: STRATEGY, "data": JS_VECTOR},
    });
    let ids = inngest.send(Event::new("test/secret", trigger)).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let plain = json!({"email": "ada@example.com", "n": [1, 2, 3], "nested": {"ok": true}});
    let output = run.output.clone().expect("an output");
    let reader = Encryption::new(KEY).expect("a key");
    assert_eq!(
        reader.decrypt_value(&output),
        Ok(json!({"event": plain, "events": [plain]}))
    );
}

/// A `step.invoke` payload is an event the invoked function receives: its `data.encrypted`
/// leaves the worker encrypted, as in sent events, and the invoked function reads it plain.
#[tokio::test]
async fn invoke_payloads_are_encrypted_like_sent_events() {
    const CALLEE: FunctionRef<Value, String> = FunctionRef::new("callee");
    let inngest = FakeExecutor::start().await;
    let client =
        Client::new(inngest.client_config()).with_middleware(Encryption::new(KEY).expect("a key"));
    let caller = Function::new(
        FunctionOpts::new("caller").trigger(Trigger::event("test/call")),
        |_: Input<Value>, step: Step| async move {
            let data = json!({"encrypted": {"secret": "s3"}, "plain": 1});
            let answer = step.invoke("ask", &CALLEE, &data, None).await?;
            Ok::<_, Error>(json!({ "answer": answer }))
        },
    );
    let callee = Function::new(
        FunctionOpts::new("callee").trigger(Trigger::event("test/never")),
        |input: Input<Value>, _step: Step| async move {
            let secret = input.event.data["encrypted"]["secret"]
                .as_str()
                .unwrap_or("?");
            Ok::<_, Error>(format!("got {secret}"))
        },
    );
    serve(&inngest, client, vec![caller, callee]).await;

    let ids = inngest.send(Event::new("test/call", json!({}))).await;
    inngest.run_until_idle().await;
    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let reader = Encryption::new(KEY).expect("a key");
    assert_eq!(
        reader.decrypt_value(&run.output.clone().expect("an output")),
        Ok(json!({"answer": "got s3"}))
    );
    let invoked = inngest.events_named("inngest/function.invoked");
    assert_eq!(invoked.len(), 1);
    let data = invoked[0].data();
    assert_eq!(data["plain"], json!(1));
    assert!(is_encrypted(&data["encrypted"]), "{data}");
    // The plaintext's key, quoted: base64 ciphertext holds no quote, so this cannot match by
    // chance (a bare "s3" can).
    assert!(!data.to_string().contains("\"secret\""), "{data}");
    assert_eq!(
        reader.decrypt_value(&data["encrypted"]),
        Ok(json!({"secret": "s3"}))
    );
}
