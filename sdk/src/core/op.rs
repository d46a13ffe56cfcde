//! Generator ops: what a `206` response reports to the executor (docs/protocol.md §7.4).

use serde::Serialize;
use serde_json::value::RawValue;

use super::wire::ErrorBody;

/// Op codes the SDK emits (docs/protocol.md §7.4; the server parses the names case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OpCode {
    /// A `step.run` executed in this request; `data` is its output.
    StepRun,
    /// A step failed and may be retried (`ctx.attempt + 1 < ctx.max_attempts`).
    StepError,
    /// A step failed permanently (last attempt, or a non-retriable error).
    StepFailed,
    /// A `step.run` found but not executed: the executor calls back targeting it.
    StepPlanned,
    /// `step.sleep` / `step.sleep_until`.
    Sleep,
    /// `step.wait_for_event`.
    WaitForEvent,
    /// `step.invoke`.
    InvokeFunction,
    /// `step.wait_for_signal` (docs/protocol.md §8.7).
    WaitForSignal,
    /// `step.fetch`: the executor makes the HTTP request (docs/protocol.md §8.8).
    Gateway,
    /// `step.ai.infer`: the executor calls the model (docs/protocol.md §8.9).
    #[serde(rename = "AIGateway")]
    AiGateway,
}

/// One op of a `206` body.
///
/// Serialized in the Go SDK's shape, which the conformance runner compares against
/// (docs/protocol.md §9.4): the user step id in `name`, an explicit `"data": null` on ops without
/// data, no `opts` on `StepRun`.
#[derive(Debug, Clone, Serialize)]
pub struct Op {
    /// Hashed step id.
    pub id: String,
    /// Op code.
    pub op: OpCode,
    /// The user-facing step id.
    pub name: String,
    /// Human label shown in the dashboard; the user step id.
    #[serde(rename = "displayName")]
    pub display_name: String,
    /// Op-specific options (`Sleep`, `WaitForEvent`, `InvokeFunction`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opts: Option<OpOpts>,
    /// Step output (`StepRun`), raw JSON; serialized as `null` when absent.
    pub data: Option<Box<RawValue>>,
    /// Error details for `StepError` / `StepFailed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// The user id and its repeat index, informational (docs/protocol.md §1.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userland: Option<Userland>,
    /// When the step body ran; set on checkpointed steps (docs/protocol.md §7.14), whose spans the
    /// server creates from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
}

/// `timing` of an op: Go's `interval.Interval` shape, as the TS SDK sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// Start, in nanoseconds since the Unix epoch.
    pub a: i64,
    /// Duration, in nanoseconds.
    pub b: i64,
}

/// `userland` of an op: the user's step id and its repeat index (omitted when 0).
#[derive(Debug, Clone, Serialize)]
pub struct Userland {
    /// The user's step id.
    pub id: String,
    /// Repeat index; omitted for the first occurrence.
    #[serde(skip_serializing_if = "is_zero")]
    pub index: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Options of an op (docs/protocol.md §7.4).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum OpOpts {
    /// `Sleep`: a time string or an RFC 3339 instant.
    Sleep {
        /// `2s`, `1h30m`, or `2026-01-02T03:04:05Z`.
        duration: String,
    },
    /// `WaitForEvent`: exactly `event`, `timeout` and (if given) `if`.
    WaitForEvent {
        /// Name of the event to wait for.
        event: String,
        /// Time string; the wait ends with `null` after it.
        timeout: String,
        /// CEL expression over `event` (the run's trigger) and `async` (the candidate).
        #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
        if_exp: Option<String>,
    },
    /// `InvokeFunction`.
    Invoke {
        /// Composite id of the function to invoke.
        function_id: String,
        /// `{"data": …}` (the server requires an object).
        payload: InvokePayload,
        /// Optional time string.
        #[serde(skip_serializing_if = "Option::is_none")]
        timeout: Option<String>,
    },
    /// `WaitForSignal`, `Gateway` and `AIGateway` ops: their options as built by their own
    /// modules (docs/protocol.md §8.7–8.9).
    Json(RawOpts),
}

/// Options serialized by the step that built them. `Debug` does not print them: an
/// `AIGateway` op carries the model's API key (docs/protocol.md §8.9).
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct RawOpts(pub Box<RawValue>);

impl OpOpts {
    /// `opts` of a `step.ai().wrap` op: a step run marked as AI (docs/protocol.md §8.9).
    pub(crate) fn ai_wrap() -> Self {
        let raw =
            RawValue::from_string(r#"{"type":"step.ai.wrap"}"#.to_owned()).expect("a JSON literal");
        OpOpts::Json(RawOpts(raw))
    }
}

impl std::fmt::Debug for RawOpts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawOpts(..)")
    }
}

/// The payload of an `InvokeFunction` op.
#[derive(Debug, Clone, Serialize)]
pub struct InvokePayload {
    /// The invoked function's event data, raw JSON (an object).
    pub data: Box<RawValue>,
}

impl Op {
    /// An op with the common fields set and nothing else.
    pub fn new(op: OpCode, hashed_id: impl Into<String>, user_id: impl Into<String>) -> Self {
        let name = user_id.into();
        Op {
            id: hashed_id.into(),
            op,
            display_name: name.clone(),
            name,
            opts: None,
            data: None,
            error: None,
            userland: None,
            timing: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_run_serializes_in_the_go_shape_without_opts() {
        let mut op = Op::new(
            OpCode::StepRun,
            "98bf98df193bcce7c33e6bc50927cf2ac21206cb",
            "first step",
        );
        op.data = Some(RawValue::from_string("\"first step\"".into()).expect("json"));
        let json = serde_json::to_string(&op).expect("serializes");
        assert_eq!(
            json,
            r#"{"id":"98bf98df193bcce7c33e6bc50927cf2ac21206cb","op":"StepRun","name":"first step","displayName":"first step","data":"first step"}"#
        );
    }

    #[test]
    fn sleep_carries_explicit_null_data_and_duration_opts() {
        let mut op = Op::new(OpCode::Sleep, "c3ca", "sleep");
        op.opts = Some(OpOpts::Sleep {
            duration: "2s".into(),
        });
        let json = serde_json::to_string(&op).expect("serializes");
        assert_eq!(
            json,
            r#"{"id":"c3ca","op":"Sleep","name":"sleep","displayName":"sleep","opts":{"duration":"2s"},"data":null}"#
        );
    }

    #[test]
    fn wait_for_event_opts_have_exactly_event_timeout_and_if() {
        let opts = OpOpts::WaitForEvent {
            event: "test/resume".into(),
            timeout: "10s".into(),
            if_exp: Some("async.data.id == event.data.id".into()),
        };
        assert_eq!(
            serde_json::to_string(&opts).expect("serializes"),
            r#"{"event":"test/resume","timeout":"10s","if":"async.data.id == event.data.id"}"#
        );
    }
}
