//! Helpers shared by the integration tests (each test file that needs them declares
//! `mod common;` and uses a part of them).
#![allow(dead_code, reason = "each test file uses a part of the helpers")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use inngest_sdk::{
    AiModel, ChatMessage, ChatRequest, Error, Function, FunctionOpts, Input, Step, Trigger,
};
use serde_json::{Value, json};

/// `n` sequential steps `step-0` … `step-(n-1)` (`n` from the event's `data.n`), each
/// counting its executions in `runs[i]` and returning `i`; the function returns their sum.
pub(crate) fn counted_steps(opts: FunctionOpts, runs: Arc<Vec<AtomicUsize>>) -> Function {
    Function::new(opts, move |input: Input<Value>, step: Step| {
        let runs = Arc::clone(&runs);
        async move {
            let n = input.event.data["n"].as_u64().unwrap_or(0);
            let mut total = 0;
            for i in 0..n {
                let runs = Arc::clone(&runs);
                total += step
                    .run(&format!("step-{i}"), move || async move {
                        runs[i as usize].fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Error>(i)
                    })
                    .await?;
            }
            Ok::<_, Error>(total)
        }
    })
}

/// `n` execution counters for [`counted_steps`], all at zero.
pub(crate) fn counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

/// How often each step ran so far.
pub(crate) fn counts(runs: &[AtomicUsize]) -> Vec<usize> {
    runs.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

/// `writer` (on `test/infer`): asks `model` (model name `tiny-model`) for a completion of the
/// event's `data.prompt` with `step.ai().infer("ask-model", …)`; returns the answer's
/// `text` and total `tokens`.
pub(crate) fn chat_writer(model: AiModel) -> Function {
    Function::new(
        FunctionOpts::new("writer").trigger(Trigger::event("test/infer")),
        move |input: Input<Value>, step: Step| {
            let model = model.clone();
            async move {
                let prompt = input.event.data["prompt"].as_str().unwrap_or("").to_owned();
                let request = ChatRequest::new("tiny-model", vec![ChatMessage::user(prompt)]);
                let response = step.ai().infer("ask-model", &model, &request).await?;
                Ok::<_, Error>(json!({
                    "text": response.text(),
                    "tokens": response.usage.map(|u| u.total_tokens),
                }))
            }
        },
    )
}

/// The chat completion an OpenAI-format stand-in answers to `request`: `you said: <the
/// first message>`, 8 tokens in all.
pub(crate) fn chat_completion(request: &Value) -> Value {
    let said = request["messages"][0]["content"].as_str().unwrap_or("");
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("you said: {said}")},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    })
}
