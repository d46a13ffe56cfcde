//! What the fake executor remembers and hands to tests: runs, their calls and steps, and
//! every event it received. All records are snapshots; take a new one after driving.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A run id: 26 ULID characters, unique within a [`FakeExecutor`](super::FakeExecutor).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub(crate) String);

impl RunId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunId({})", self.0)
    }
}

impl AsRef<str> for RunId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for RunId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for RunId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for RunId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// A call is queued: the next [`run_until_idle`](super::FakeExecutor::run_until_idle)
    /// makes it (or, for a retry that asked for `Retry-After`, the
    /// [`advance`](super::FakeExecutor::advance) that reaches its time).
    Running,
    /// Only sleeps are pending; [`advance`](super::FakeExecutor::advance) wakes them.
    Sleeping,
    /// A `wait_for_event` is pending.
    Waiting,
    /// An invoked function has not finished yet.
    Invoking,
    /// The function returned; see [`RunRecord::output`].
    Completed,
    /// The function failed for good; see [`RunRecord::error`].
    Failed,
    /// A `cancel` rule matched an event; the function is not called again.
    Cancelled,
}

impl RunStatus {
    /// Completed, failed or cancelled.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

/// A snapshot of one run.
#[derive(Clone)]
pub struct RunRecord {
    /// The run id (also `ctx.run_id` and `X-Run-ID`).
    pub id: RunId,
    /// Composite id of the function (`<app id>-<function id>`).
    pub function_id: String,
    /// Where the run stands.
    pub status: RunStatus,
    /// The triggering event, as the function received it.
    pub event: Value,
    /// Every event of the run (one; batching is not modelled).
    pub events: Vec<Value>,
    /// The return value, once completed.
    pub output: Option<Value>,
    /// The final error (`{name, message, stack?}`), once failed.
    pub error: Option<Value>,
    /// Completed steps, in completion order (the run's stack).
    pub steps: Vec<StepRecord>,
    /// Every call request sent to the app for this run, in order.
    pub calls: Vec<CallRecord>,
    /// Fake time the run was created.
    pub started_at: DateTime<Utc>,
    /// Fake time the run finished, if it did.
    pub ended_at: Option<DateTime<Utc>>,
}

impl RunRecord {
    /// The first completed step with this user-facing id.
    pub fn step(&self, id: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The user-facing ids of the completed steps, in completion order.
    pub fn step_ids(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.id.as_str()).collect()
    }

    /// Calls that answered with this HTTP status.
    pub fn calls_with_status(&self, status: u16) -> Vec<&CallRecord> {
        self.calls.iter().filter(|c| c.status == status).collect()
    }
}

impl fmt::Debug for RunRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("RunRecord");
        s.field("id", &self.id.0)
            .field("function_id", &self.function_id)
            .field("status", &self.status)
            .field("event", &format_args!("{}", self.event));
        if let Some(output) = &self.output {
            s.field("output", &format_args!("{output}"));
        }
        if let Some(error) = &self.error {
            s.field("error", &format_args!("{error}"));
        }
        s.field("steps", &self.steps).field("calls", &self.calls);
        s.finish()
    }
}

/// What kind of step completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// `step.run` (and `send_event`).
    Run,
    /// `step.sleep` / `sleep_until`.
    Sleep,
    /// `step.wait_for_event`.
    WaitForEvent,
    /// `step.invoke`.
    Invoke,
    /// `step.wait_for_signal`.
    WaitForSignal,
    /// `step.fetch`: a `Gateway` request the executor made.
    Fetch,
    /// `step.ai().infer`: an `AIGateway` request the executor made.
    AiInfer,
}

/// A completed step: its memoized result.
#[derive(Clone, PartialEq)]
pub struct StepRecord {
    /// The user-facing step id (the op's `name`).
    pub id: String,
    /// The hashed step id (docs/protocol.md §1.2).
    pub hashed_id: String,
    /// What kind of step it was.
    pub kind: StepKind,
    /// The step's output: `step.run` data, the received event (`null` when a wait timed
    /// out), an invoked function's result; `None` for a sleep or a failed step.
    pub output: Option<Value>,
    /// The error memoized for a step that failed for good (`{name, message, …}`).
    pub error: Option<Value>,
    /// Attempts it took: 1 when the first attempt succeeded.
    pub attempts: u32,
    /// Fake time the step completed.
    pub completed_at: DateTime<Utc>,
    /// Whether the step was reported through the checkpoint API (docs/protocol.md §7.14) rather
    /// than in a call's response.
    pub checkpointed: bool,
}

/// A `POST /v1/checkpoint/{runID}/async` the fake received (docs/protocol.md §7.14).
#[derive(Debug, Clone)]
pub struct CheckpointRecord {
    /// The run id of the path.
    pub run_id: String,
    /// The request body as sent.
    pub body: Value,
    /// The status the fake answered.
    pub status: u16,
}

impl fmt::Debug for StepRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {:?} ({} attempt",
            self.kind, self.id, self.attempts
        )?;
        if self.attempts != 1 {
            f.write_str("s")?;
        }
        f.write_str(")")?;
        if let Some(output) = &self.output {
            write!(f, " -> {output}")?;
        }
        if let Some(error) = &self.error {
            write!(f, " !! {error}")?;
        }
        Ok(())
    }
}

/// One call request the fake executor sent, and what the app answered.
#[derive(Clone)]
pub struct CallRecord {
    /// `step` for a discovery call, else the hashed id of the targeted step.
    pub step_id: String,
    /// `ctx.attempt` of the call.
    pub attempt: u32,
    /// HTTP status of the answer (`0` when the app could not be reached).
    pub status: u16,
    /// The answer's body as JSON (a JSON string when it was not JSON).
    pub body: Value,
    /// The `op` of each op of a `206`, in order, e.g. `["StepPlanned", "StepPlanned"]`.
    pub ops: Vec<String>,
    /// `X-Inngest-No-Retry` of the answer.
    pub no_retry: Option<bool>,
    /// `Retry-After` of the answer.
    pub retry_after: Option<String>,
    /// The request body that was sent.
    pub request: Value,
    /// Fake time of the call.
    pub at: DateTime<Utc>,
    /// The HTTP requests the executor made for this call's `Gateway` / `AIGateway` ops,
    /// in order (docs/protocol.md §8.8, §8.9).
    pub gateway: Vec<GatewayRecord>,
}

/// Which gateway an op asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayKind {
    /// `Gateway` (`step.fetch`).
    Fetch,
    /// `AIGateway` (`step.ai().infer`).
    AiInfer,
}

/// An HTTP request the fake executor made for a `Gateway` / `AIGateway` op, as the real
/// executor does. The model's API key of an AI request is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRecord {
    /// The user-facing step id (the op's `name`).
    pub step_id: String,
    /// Which gateway.
    pub kind: GatewayKind,
    /// The method (`GET`, `POST`, …).
    pub method: String,
    /// The target URL.
    pub url: String,
    /// The headers sent, from the op (for an AI request with the `Content-Type` the
    /// executor adds; never the `Authorization` it makes from the key).
    pub headers: BTreeMap<String, String>,
    /// The body sent.
    pub body: String,
    /// The target's status; `None` when it could not be reached.
    pub status: Option<u16>,
    /// Why the request could not be made.
    pub error: Option<String>,
    /// Fake time of the request.
    pub at: DateTime<Utc>,
}

impl fmt::Debug for CallRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stepId={} attempt={} -> {}",
            self.step_id, self.attempt, self.status
        )?;
        if self.ops.is_empty() {
            write!(f, " {}", self.body)
        } else {
            write!(f, " {:?}", self.ops)
        }
    }
}

/// Who sent an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventSource {
    /// The test, with [`FakeExecutor::send`](super::FakeExecutor::send) or
    /// [`invoke`](super::FakeExecutor::invoke).
    Test,
    /// An app, through the event API (`POST /e/{key}`): a client or a `send_event` step.
    Api,
    /// The executor itself: `inngest/function.failed`, `.finished`, `.cancelled`, `.invoked`.
    Executor,
}

/// An event the fake executor received.
#[derive(Clone)]
pub struct ReceivedEvent {
    /// The internal id returned to the sender.
    pub internal_id: String,
    /// The event as functions receive it: `{name, data, id, ts, user, v?}`.
    pub event: Value,
    /// Who sent it.
    pub source: EventSource,
    /// Fake time of receipt.
    pub received_at: DateTime<Utc>,
    /// True when another event had the same `id` within 24 h: it triggered nothing.
    pub duplicate: bool,
    /// Runs this event started.
    pub runs: Vec<RunId>,
}

impl ReceivedEvent {
    /// The event name.
    pub fn name(&self) -> &str {
        self.event.get("name").and_then(Value::as_str).unwrap_or("")
    }

    /// The event data.
    pub fn data(&self) -> &Value {
        self.event.get("data").unwrap_or(&Value::Null)
    }
}

impl fmt::Debug for ReceivedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {} from {:?}",
            self.name(),
            self.data(),
            self.source
        )?;
        if self.duplicate {
            f.write_str(" (duplicate)")?;
        }
        if !self.runs.is_empty() {
            write!(f, " started {:?}", self.runs)?;
        }
        Ok(())
    }
}
