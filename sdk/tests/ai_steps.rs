//! The ops of the AI and fetch steps as the endpoint answers them (docs/protocol.md §8.8,
//! §8.9), seen by the fake executor: `step.ai().wrap` marks its `StepPlanned` and `StepRun`
//! ops, and `fetch` / `ai().infer` ops carry their options (the fake does not make the
//! requests: it fails such a run, and the real server's tests cover the rest).
#![cfg(feature = "testing")]

use inngest_sdk::testing::{FakeExecutor, RunStatus};
use inngest_sdk::{
    AiModel, ChatMessage, ChatRequest, Client, Endpoint, Error, Event, FetchRequest, Function,
    FunctionOpts, Input, Step, Trigger,
};
use serde_json::{Value, json};

async fn serve(function: Function) -> FakeExecutor {
    let inngest = FakeExecutor::start().await;
    let config = inngest.client_config().without_checkpointing();
    let endpoint = Endpoint::builder("app", Client::new(config))
        .clock(inngest.clock())
        .function(function)
        .build()
        .expect("builds");
    inngest.serve(endpoint).await.expect("syncs");
    inngest
}

#[tokio::test]
async fn ai_wrapped_steps_are_marked_when_planned_and_when_run() {
    let f = Function::new(
        FunctionOpts::new("wrap").trigger(Trigger::event("test/wrap")),
        |_: Input<Value>, step: Step| async move {
            let ai = step.ai();
            let (a, b) = tokio::join!(
                ai.wrap("first", || async { Ok::<_, Error>(1) }),
                ai.wrap("second", || async { Ok::<_, Error>(2) }),
            );
            let c: i32 = step.run("plain", || async { Ok::<_, Error>(3) }).await?;
            Ok::<_, Error>(a? + b? + c)
        },
    );
    let inngest = serve(f).await;

    let ids = inngest.send(Event::new("test/wrap", json!({}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(6)));
    let ops: Vec<(String, String, Value)> = run
        .calls
        .iter()
        .filter_map(|call| call.body.as_array())
        .flatten()
        .map(|op| {
            (
                op["op"].as_str().unwrap_or("").to_owned(),
                op["name"].as_str().unwrap_or("").to_owned(),
                op.get("opts").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    let mark = json!({"type": "step.ai.wrap"});
    assert!(
        ops.contains(&("StepPlanned".into(), "first".into(), mark.clone())),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("StepPlanned".into(), "second".into(), mark.clone())),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("StepRun".into(), "first".into(), mark.clone())),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("StepRun".into(), "second".into(), mark)),
        "{ops:?}"
    );
    assert!(
        ops.iter()
            .any(|(op, name, opts)| op == "StepRun" && name == "plain" && opts.is_null()),
        "a plain step is not marked: {ops:?}"
    );
}

#[tokio::test]
async fn fetch_and_infer_ops_carry_their_options() {
    let f = Function::new(
        FunctionOpts::new("gateway").trigger(Trigger::event("test/gateway")),
        |_: Input<Value>, step: Step| async move {
            let model = AiModel::openai_compatible("http://127.0.0.1:9/v1", "sk-secret");
            let request = ChatRequest::new("tiny", vec![ChatMessage::user("hi")]);
            let (page, answer) = tokio::join!(
                step.fetch("page", FetchRequest::get("http://127.0.0.1:9/page")),
                step.ai().infer("answer", &model, &request),
            );
            Ok::<_, Error>(json!({"status": page?.status_code, "text": answer?.text()}))
        },
    );
    let inngest = serve(f).await;

    let ids = inngest.send(Event::new("test/gateway", json!({}))).await;
    inngest.run_until_idle().await;

    let run = inngest.run(&ids[0]);
    // The fake makes no outbound requests: the run fails on the first gateway op.
    assert_eq!(run.status, RunStatus::Failed);
    let ops = run.calls[0].body.as_array().cloned().unwrap_or_default();
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert_eq!(ops[0]["op"], "Gateway");
    assert_eq!(
        ops[0]["opts"],
        json!({"url": "http://127.0.0.1:9/page", "method": "GET", "body": ""})
    );
    assert_eq!(ops[1]["op"], "AIGateway");
    assert_eq!(
        ops[1]["opts"],
        json!({
            "type": "step.ai.infer",
            "url": "http://127.0.0.1:9/v1/chat/completions",
            "auth_key": "sk-secret",
            "format": "openai-chat",
            "body": {"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}
        })
    );
}
