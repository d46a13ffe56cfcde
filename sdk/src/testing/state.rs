//! The fake executor's state machine, without I/O: registered functions, runs, their
//! queue of calls and their pauses, and how events, timers and call responses move them
//! (docs/protocol.md §7, §8). The driver in `executor.rs` feeds it and makes the calls.
//!
//! This file holds the model (functions, runs, pauses, queued calls, finished steps); what
//! moves it is split by concern: `registry.rs` (apps and synced functions), `events.rs`
//! (dedupe, triggers, resuming waits and invokes, cancellation), `timers.rs` (sleeps and
//! timeouts), `calls.rs` (the queue, call requests, responses, ops, checkpoints) and
//! `snapshots.rs` (the records tests read).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use url::Url;

use super::ids::ulid;
use super::record::{CallRecord, CheckpointRecord, ReceivedEvent, RunId, StepKind, StepRecord};
use crate::Endpoint;
use ix::{AppIx, EventSeq, FunctionIx, IxVec, RunIx};

/// `inngest/function.finished`: resumes invokes (docs/protocol.md §8.3, §8.5).
const FUNCTION_FINISHED_EVENT: &str = "inngest/function.finished";
/// `inngest/function.cancelled` (docs/protocol.md §8.3).
const FUNCTION_CANCELLED_EVENT: &str = "inngest/function.cancelled";
/// Event ids and idempotency keys dedupe for 24 hours (docs/protocol.md §8.1, §6.4).
const DEDUPE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// The server clamps `Retry-After` to [1 s, 24 h] (docs/protocol.md §7.5).
const MIN_RETRY_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(1);
const MAX_RETRY_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Evaluates an expression the built-in evaluator cannot: `(expr, event, async)`.
pub(crate) type Matcher = dyn Fn(&str, &Value, &Value) -> Option<bool> + Send + Sync;

/// Options fixed at start.
pub(crate) struct Options {
    pub(crate) use_api: bool,
    pub(crate) max_calls_per_run: usize,
    pub(crate) matcher: Option<Arc<Matcher>>,
}

/// An app the executor calls: in-process (an [`Endpoint`]) or over HTTP.
pub(crate) struct App {
    /// The URL the app was synced with (or registered at).
    pub(crate) url: String,
    /// `Some` for the in-process transport.
    pub(crate) endpoint: Option<Endpoint>,
}

/// A function as registered at sync (docs/protocol.md §6.4), with what the fake models.
#[derive(Debug, Clone)]
pub(crate) struct FunctionDef {
    pub(crate) id: String,
    app: AppIx,
    /// `runtime.url`, with `fnId` and `stepId=step`.
    url: Url,
    triggers: Vec<(String, Option<String>)>,
    max_attempts: u32,
    idempotency: Option<String>,
    cancel: Vec<CancelDef>,
}

#[derive(Debug, Clone)]
struct CancelDef {
    event: String,
    if_exp: Option<String>,
    timeout: Option<Duration>,
}

/// How a run ended.
#[derive(Debug, Clone)]
enum Outcome {
    Active,
    Completed(Value),
    Failed(Value),
    Cancelled,
}

/// A step the run is paused on, by hashed id.
#[derive(Debug, Clone)]
enum Pending {
    /// A `StepPlanned` whose targeted call is queued or retrying.
    Planned,
    Sleep {
        name: String,
        until: DateTime<Utc>,
    },
    Wait {
        name: String,
        event: String,
        if_exp: Option<String>,
        expires: DateTime<Utc>,
        /// Only events received after the pause was created match it.
        after_seq: EventSeq,
    },
    Invoke {
        name: String,
        expires: Option<DateTime<Utc>>,
    },
    /// A `WaitForSignal` (docs/protocol.md §8.7, `state/signal.rs`).
    Signal {
        name: String,
        signal: String,
        expires: DateTime<Utc>,
    },
    /// A `Gateway` / `AIGateway` request to make (docs/protocol.md §8.8, `state/gateway.rs`).
    Gateway,
}

impl Pending {
    fn deadline(&self) -> Option<DateTime<Utc>> {
        match self {
            Pending::Planned | Pending::Gateway => None,
            Pending::Sleep { until, .. } => Some(*until),
            Pending::Wait { expires, .. } => Some(*expires),
            Pending::Invoke { expires, .. } => *expires,
            Pending::Signal { expires, .. } => Some(*expires),
        }
    }
}

struct Run {
    id: RunId,
    function: FunctionIx,
    /// Sequence number of the triggering event: later events may cancel the run.
    seq: EventSeq,
    event: Value,
    events: Vec<Value>,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    outcome: Outcome,
    /// Hashed id → memoized value (docs/protocol.md §7.2).
    memo: Map<String, Value>,
    /// Hashed ids in completion order (`ctx.stack.stack`).
    stack: Vec<String>,
    /// `-1` until the SDK announced its request version (docs/protocol.md §7.9).
    version: i64,
    /// Set by the first `StepPlanned` and kept for the rest of the run.
    disable_immediate: bool,
    max_attempts: u32,
    pending: BTreeMap<String, Pending>,
    steps: Vec<StepRecord>,
    calls: Vec<CallRecord>,
    /// `<caller run id>.<hashed step id>` when the run was invoked.
    correlation_id: Option<String>,
}

/// A call waiting to be made.
#[derive(Debug, Clone)]
struct Queued {
    run: RunIx,
    /// `None` for discovery, else the targeted step.
    step: Option<String>,
    attempt: u32,
    due: DateTime<Utc>,
}

/// A call ready to send.
pub(crate) struct PreparedCall {
    pub(crate) run: RunIx,
    pub(crate) run_id: String,
    pub(crate) step: Option<String>,
    pub(crate) attempt: u32,
    pub(crate) url: Url,
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) version: i64,
    pub(crate) body: Value,
}

/// What came back from a call.
pub(crate) struct CallResult {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// Everything the fake executor knows.
pub(crate) struct State {
    pub(crate) options: Options,
    pub(crate) apps: IxVec<AppIx, App>,
    functions: IxVec<FunctionIx, FunctionDef>,
    runs: IxVec<RunIx, Run>,
    by_id: HashMap<RunId, RunIx>,
    queue: VecDeque<Queued>,
    events: IxVec<EventSeq, ReceivedEvent>,
    /// Events before this one have been processed.
    processed: EventSeq,
    /// Event `id` → when its dedupe window ends.
    event_ids: HashMap<String, DateTime<Utc>>,
    /// (function, idempotency key) → when its window ends.
    idempotency: HashMap<(String, String), DateTime<Utc>>,
    next_id: u64,
    /// App index of the last `/fn/register`, for an out-of-band sync in progress.
    pub(crate) last_registered: Option<AppIx>,
    /// `GET /v0/runs/...` requests served, for tests of `use_api`.
    pub(crate) api_requests: Vec<String>,
    /// Checkpoint requests received, in order.
    pub(crate) checkpoints: Vec<CheckpointRecord>,
    /// How many of the next checkpoint requests to fail, and with which status.
    pub(crate) fail_checkpoints: usize,
    pub(crate) fail_checkpoints_status: u16,
    /// `Gateway` / `AIGateway` requests the executor makes after the call that reported them.
    gateway_jobs: Vec<fetch::GatewayJob>,
}

impl State {
    pub(crate) fn new(options: Options) -> Self {
        State {
            options,
            apps: IxVec::new(),
            functions: IxVec::new(),
            runs: IxVec::new(),
            by_id: HashMap::new(),
            queue: VecDeque::new(),
            events: IxVec::new(),
            processed: EventSeq::FIRST,
            event_ids: HashMap::new(),
            idempotency: HashMap::new(),
            next_id: 0,
            last_registered: None,
            api_requests: Vec::new(),
            checkpoints: Vec::new(),
            fail_checkpoints: 0,
            fail_checkpoints_status: 500,
            gateway_jobs: Vec::new(),
        }
    }

    fn mint(&mut self, now: DateTime<Utc>) -> String {
        self.next_id += 1;
        ulid(now.timestamp_millis(), self.next_id)
    }
}

/// A step result about to be memoized.
struct StepDone {
    hash: String,
    name: String,
    kind: StepKind,
    memo: Value,
    output: Option<Value>,
    error: Option<Value>,
    attempts: u32,
    checkpointed: bool,
}

impl StepDone {
    fn new(hash: &str, name: String, kind: StepKind) -> Self {
        StepDone {
            hash: hash.to_owned(),
            name,
            kind,
            memo: Value::Null,
            output: None,
            error: None,
            attempts: 1,
            checkpointed: false,
        }
    }

    fn memo(mut self, memo: Value) -> Self {
        self.memo = memo;
        self
    }

    fn output(mut self, memo: Value, output: Value) -> Self {
        self.memo = memo;
        self.output = Some(output);
        self
    }

    /// docs/protocol.md §7.2: a step that failed for good is memoized as `{"error": …}`.
    fn error(mut self, error: Value) -> Self {
        self.memo = json!({ "error": error });
        self.error = Some(error);
        self
    }

    fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }
}

mod calls;
mod events;
pub(super) mod fetch;
mod gateway;
pub(crate) mod ix;
mod ops;
mod registry;
mod signal;
mod snapshots;
mod timers;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::record::{EventSource, RunStatus};

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    /// A state with one function `app-f` (2 attempts) on `a/b`, and one run of it.
    fn one_run() -> State {
        let mut state = State::new(Options {
            use_api: false,
            max_calls_per_run: 100,
            matcher: None,
        });
        let app = state.app("http://app/api/inngest", None);
        let functions = json!([{
            "id": "app-f", "name": "f", "triggers": [{"event": "a/b"}],
            "steps": {"step": {"id": "step", "name": "step", "retries": {"attempts": 1},
                "runtime": {"type": "http", "url": "http://app/api/inngest?fnId=app-f&stepId=step"}}}
        }]);
        state.register(app, &functions).expect("registers");
        state.receive(json!({"name": "a/b"}), EventSource::Test, t0());
        state.process_events(t0());
        state
    }

    fn answer(status: u16, sdk: bool, no_retry: Option<&str>, body: Value) -> CallResult {
        let mut headers = http::HeaderMap::new();
        if sdk {
            headers.insert(
                "x-inngest-sdk",
                http::HeaderValue::from_static("inngest-rs:v0.1.0"),
            );
        }
        if let Some(v) = no_retry {
            headers.insert(
                "x-inngest-no-retry",
                http::HeaderValue::from_str(v).expect("value"),
            );
        }
        CallResult {
            status,
            headers,
            body: body.to_string().into_bytes(),
        }
    }

    fn step_op(op: &str, id: &str) -> Value {
        json!({"op": op, "id": id, "name": id, "error": {"name": "Error", "message": "boom"}})
    }

    #[test]
    fn a_200_without_the_sdk_header_is_an_error_and_is_retried() {
        let mut state = one_run();
        let call = state.next_call(t0()).expect("a call");
        assert_eq!(
            call.url.as_str(),
            "http://app/api/inngest?fnId=app-f&stepId=step"
        );
        state.apply(call, Ok(answer(200, false, None, json!("ok"))), t0());

        let retry = state.next_call(t0()).expect("a retry");
        assert_eq!(retry.attempt, 1);
        state.apply(retry, Ok(answer(200, false, None, json!("ok"))), t0());
        let run = state.record(RunIx::FIRST);
        assert_eq!(run.status, RunStatus::Failed);
        assert!(
            run.error.expect("error")["message"]
                .as_str()
                .is_some_and(|m| m.contains("did not come from an Inngest SDK"))
        );
    }

    #[test]
    fn a_step_error_with_no_retry_is_treated_as_step_failed() {
        let mut state = one_run();
        let call = state.next_call(t0()).expect("a call");
        let ops = json!([step_op("StepError", "h1")]);
        state.apply(call, Ok(answer(206, true, Some("true"), ops)), t0());

        let discovery = state.next_call(t0()).expect("a discovery");
        assert_eq!(discovery.attempt, 0);
        assert_eq!(
            discovery.body["steps"]["h1"],
            json!({"error": {"name": "Error", "message": "boom"}})
        );
        assert_eq!(
            discovery.body["ctx"]["stack"],
            json!({"current": 1, "stack": ["h1"]})
        );
    }

    #[test]
    fn ops_match_case_insensitively_and_an_unknown_op_fails_the_run_naming_it() {
        let mut state = one_run();
        let call = state.next_call(t0()).expect("a call");
        let ops = json!([{"op": "steprun", "id": "h1", "name": "one", "data": 1},
            {"op": "Teleport", "id": "h2", "name": "two"}]);
        state.apply(call, Ok(answer(206, true, None, ops)), t0());
        let run = state.record(RunIx::FIRST);
        assert_eq!(run.steps.len(), 1);
        assert_eq!(run.status, RunStatus::Failed);
        let error = run.error.expect("error");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("the op \"teleport\" is not modelled")),
            "{error}"
        );
    }

    #[test]
    fn a_discovery_request_schedules_a_new_discovery_call() {
        let mut state = one_run();
        let call = state.next_call(t0()).expect("a call");
        let ops = json!([{"op": "DiscoveryRequest", "id": "d1", "name": "discovery-request"}]);
        state.apply(call, Ok(answer(206, true, None, ops)), t0());

        let discovery = state.next_call(t0()).expect("a new discovery call");
        assert_eq!(discovery.step, None);
        assert_eq!(discovery.attempt, 0);
        assert_eq!(
            discovery.url.as_str(),
            "http://app/api/inngest?fnId=app-f&stepId=step"
        );
        assert!(state.next_call(t0()).is_none(), "exactly one");
        assert_eq!(state.record(RunIx::FIRST).status, RunStatus::Running);
    }

    #[test]
    fn ops_for_steps_already_pending_are_ignored() {
        let mut state = one_run();
        let call = state.next_call(t0()).expect("a call");
        let sleep = json!({"op": "Sleep", "id": "s1", "name": "nap", "opts": {"duration": "1h"}});
        state.apply(
            call,
            Ok(answer(206, true, None, json!([sleep.clone()]))),
            t0(),
        );
        assert!(state.next_call(t0()).is_none());
        assert_eq!(
            state.next_deadline(t0()),
            Some(t0() + chrono::TimeDelta::hours(1))
        );

        let later = t0() + chrono::TimeDelta::hours(1);
        state.fire_timers(later);
        let discovery = state
            .next_call(later)
            .expect("a discovery after the wake-up");
        assert_eq!(discovery.body["steps"]["s1"], Value::Null);
        // The SDK reporting the same sleep again must not put it back to sleep.
        state.apply(
            discovery,
            Ok(answer(206, true, None, json!([sleep]))),
            later,
        );
        assert_eq!(state.next_deadline(later), None);
        assert_eq!(state.record(RunIx::FIRST).steps.len(), 1);
    }
}
