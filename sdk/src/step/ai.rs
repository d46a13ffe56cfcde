//! `step.ai.infer` (docs/protocol.md §8.9): a model call the executor makes on the run's
//! behalf (`AIGateway`), with typed OpenAI-compatible chat request and response.

use std::collections::BTreeMap;
use std::fmt;
use std::future::{Future, pending};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use serde::de::DeserializeOwned;

use super::{Registration, RunState, Step, decode_run_memo};
use crate::core::op::{Op, OpCode, OpOpts, RawOpts};
use crate::error::Error;
use crate::error::StepError;

/// A model behind an OpenAI-compatible chat completions API.
#[derive(Clone)]
pub struct AiModel {
    url: String,
    api_key: String,
    headers: BTreeMap<String, String>,
}

impl fmt::Debug for AiModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The API key never prints.
        f.debug_struct("AiModel")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl AiModel {
    /// A model served at `base_url` (e.g. `https://api.openai.com/v1`); requests go to
    /// `<base_url>/chat/completions` with `Authorization: Bearer <api_key>`, sent by the
    /// executor. The key travels in the op to the executor, which does not store or log it.
    pub fn openai_compatible(base_url: &str, api_key: impl Into<String>) -> Self {
        AiModel {
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            api_key: api_key.into(),
            headers: BTreeMap::new(),
        }
    }

    /// Adds a header to the model request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text (`null` in an assistant message that only calls tools).
    #[serde(default)]
    pub content: Option<String>,
}

impl ChatMessage {
    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "system".into(),
            content: Some(content.into()),
        }
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "user".into(),
            content: Some(content.into()),
        }
    }
}

/// An OpenAI-compatible chat completion request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model name.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Cap on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Any other field of the API (tools, response_format, …), sent as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// A request to `model` with these messages.
    pub fn new(model: impl Into<String>, messages: Vec<ChatMessage>) -> Self {
        ChatRequest {
            model: model.into(),
            messages,
            temperature: None,
            max_tokens: None,
            extra: Map::new(),
        }
    }
}

/// One choice of a [`ChatResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    /// Position in `choices`.
    #[serde(default)]
    pub index: u32,
    /// The generated message.
    pub message: ChatMessage,
    /// Why generation stopped (`stop`, `length`, `tool_calls`, …).
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// Token counts of a [`ChatResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChatUsage {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: u32,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u32,
    /// Both.
    #[serde(default)]
    pub total_tokens: u32,
}

/// An OpenAI-compatible chat completion response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The completion's id.
    #[serde(default)]
    pub id: String,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// The generated choices.
    #[serde(default)]
    pub choices: Vec<ChatChoice>,
    /// Token counts, when the API reports them.
    #[serde(default)]
    pub usage: Option<ChatUsage>,
}

impl ChatResponse {
    /// The text of the first choice, if any.
    pub fn text(&self) -> Option<&str> {
        self.choices.first()?.message.content.as_deref()
    }
}

/// The `opts` of an `AIGateway` op.
#[derive(Serialize)]
struct AiOpts<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    url: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: &'a BTreeMap<String, String>,
    auth_key: &'a str,
    format: &'static str,
    body: &'a ChatRequest,
}

/// The AI steps of a run: `step.ai()`.
#[derive(Debug, Clone, Copy)]
pub struct Ai<'a> {
    step: &'a Step,
}

impl Step {
    /// The AI steps (docs/protocol.md §8.9).
    pub fn ai(&self) -> Ai<'_> {
        Ai { step: self }
    }
}

impl Ai<'_> {
    /// Asks `model` for a chat completion through the executor (docs/protocol.md §8.9
    /// `AIGateway`): the executor makes the request, so a slow model costs no worker time,
    /// and the response is memoized. A stored `{"error": …}`, or a stored value that is not
    /// a chat response (a model's error body, say), resolves to a [`StepError`].
    pub fn infer(
        &self,
        id: &str,
        model: &AiModel,
        request: &ChatRequest,
    ) -> impl Future<Output = Result<ChatResponse, StepError>> + Send + 'static {
        let registration = self.step.register_other(id, || {
            let mut op = Op::new(OpCode::AiGateway, String::new(), id);
            let opts = AiOpts {
                kind: "step.ai.infer",
                url: &model.url,
                headers: &model.headers,
                auth_key: &model.api_key,
                format: "openai-chat",
                body: request,
            };
            op.opts = serde_json::value::to_raw_value(&opts)
                .ok()
                .map(|raw| OpOpts::Json(RawOpts(raw)));
            op
        });
        let user_id = id.to_owned();
        async move {
            match registration {
                Registration::Memoized(raw) => decode_run_memo(&user_id, raw.get()),
                Registration::Ran(_) | Registration::Execute(_) | Registration::Park(_) => {
                    pending().await
                }
            }
        }
    }
}

impl Ai<'_> {
    /// Runs `body` as a durable step marked as an AI call (docs/protocol.md §8.9
    /// `step.ai.wrap`): the same as [`Step::run`], with the op's `opts.type` set to
    /// `step.ai.wrap` so the executor records the step as AI.
    pub fn wrap<T, E, F, Fut>(
        &self,
        id: &str,
        body: F,
    ) -> impl Future<Output = Result<T, StepError>> + Send + 'static
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        E: Into<Error> + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.step.shared.lock().ai_wrapped.push(id.to_owned());
        let future = self.step.run(id, body);
        // A step planned rather than run carries the mark too.
        let mut state = self.step.shared.lock();
        if let Some(found) = state
            .found
            .iter_mut()
            .rev()
            .find(|found| found.op.name == id && found.op.opts.is_none())
        {
            found.op.opts = Some(OpOpts::ai_wrap());
        }
        drop(state);
        future
    }
}

impl RunState {
    /// Whether the step with this user id was started by `step.ai().wrap`.
    pub(super) fn is_ai_wrapped(&self, user_id: &str) -> bool {
        self.ai_wrapped.iter().any(|id| id == user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ai_opts_carry_the_url_key_format_and_typed_body() {
        let model = AiModel::openai_compatible("http://127.0.0.1:9/v1/", "sk-test");
        let request = ChatRequest::new("tiny", vec![ChatMessage::user("hi")]);
        let opts = AiOpts {
            kind: "step.ai.infer",
            url: &model.url,
            headers: &model.headers,
            auth_key: &model.api_key,
            format: "openai-chat",
            body: &request,
        };
        assert_eq!(
            serde_json::to_string(&opts).expect("serializes"),
            r#"{"type":"step.ai.infer","url":"http://127.0.0.1:9/v1/chat/completions","auth_key":"sk-test","format":"openai-chat","body":{"model":"tiny","messages":[{"role":"user","content":"hi"}]}}"#
        );
        assert!(
            !format!("{model:?}").contains("sk-test"),
            "the key never prints"
        );
    }

    #[test]
    fn a_chat_response_decodes_and_gives_its_text() {
        let response: ChatResponse = serde_json::from_str(
            r#"{"id":"c1","model":"tiny","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#,
        )
        .expect("decodes");
        assert_eq!(response.text(), Some("hello"));
        assert_eq!(response.usage.map(|u| u.total_tokens), Some(4));
    }
}
