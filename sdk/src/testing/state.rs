//! The fake executor's state machine, without I/O: registered functions, runs, their
//! queue of calls and their pauses, and how events, timers and call responses move them
//! (docs/protocol.md §7, §8). The driver in `executor.rs` feeds it and makes the calls.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use url::Url;

use super::expr::Expression;
use super::ids::{canonical, function_uuid, ulid};
use super::record::{
    CallRecord, CheckpointRecord, EventSource, ReceivedEvent, RunId, RunRecord, RunStatus,
    StepKind, StepRecord,
};
use crate::Endpoint;
use crate::core::config::{FUNCTION_FAILED_EVENT, FUNCTION_INVOKED_EVENT};
use crate::core::time::{parse_duration, parse_time_or_duration};

mod signal;

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
    app: usize,
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
        after_seq: usize,
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
}

impl Pending {
    fn deadline(&self) -> Option<DateTime<Utc>> {
        match self {
            Pending::Planned => None,
            Pending::Sleep { until, .. } => Some(*until),
            Pending::Wait { expires, .. } => Some(*expires),
            Pending::Invoke { expires, .. } => *expires,
            Pending::Signal { expires, .. } => Some(*expires),
        }
    }
}

struct Run {
    id: RunId,
    function: usize,
    /// Sequence number of the triggering event: later events may cancel the run.
    seq: usize,
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
    run: usize,
    /// `None` for discovery, else the targeted step.
    step: Option<String>,
    attempt: u32,
    due: DateTime<Utc>,
}

/// A call ready to send.
pub(crate) struct PreparedCall {
    pub(crate) run: usize,
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
    pub(crate) apps: Vec<App>,
    functions: Vec<FunctionDef>,
    runs: Vec<Run>,
    by_id: HashMap<RunId, usize>,
    queue: VecDeque<Queued>,
    events: Vec<ReceivedEvent>,
    /// Events before this index have been processed.
    processed: usize,
    /// Event `id` → when its dedupe window ends.
    event_ids: HashMap<String, DateTime<Utc>>,
    /// (function, idempotency key) → when its window ends.
    idempotency: HashMap<(String, String), DateTime<Utc>>,
    next_id: u64,
    /// App index of the last `/fn/register`, for an out-of-band sync in progress.
    pub(crate) last_registered: Option<usize>,
    /// `GET /v0/runs/...` requests served, for tests of `use_api`.
    pub(crate) api_requests: Vec<String>,
    /// Checkpoint requests received, in order.
    pub(crate) checkpoints: Vec<CheckpointRecord>,
    /// How many of the next checkpoint requests to fail, and with which status.
    pub(crate) fail_checkpoints: usize,
    pub(crate) fail_checkpoints_status: u16,
}

impl State {
    pub(crate) fn new(options: Options) -> Self {
        State {
            options,
            apps: Vec::new(),
            functions: Vec::new(),
            runs: Vec::new(),
            by_id: HashMap::new(),
            queue: VecDeque::new(),
            events: Vec::new(),
            processed: 0,
            event_ids: HashMap::new(),
            idempotency: HashMap::new(),
            next_id: 0,
            last_registered: None,
            api_requests: Vec::new(),
            checkpoints: Vec::new(),
            fail_checkpoints: 0,
            fail_checkpoints_status: 500,
        }
    }

    fn mint(&mut self, now: DateTime<Utc>) -> String {
        self.next_id += 1;
        ulid(now.timestamp_millis(), self.next_id)
    }

    // ---- apps and functions -------------------------------------------------------------

    /// The index of the app at `url`, added with `endpoint` if new.
    pub(crate) fn app(&mut self, url: &str, endpoint: Option<Endpoint>) -> usize {
        if let Some(i) = self.apps.iter().position(|a| a.url == url) {
            if endpoint.is_some() {
                self.apps[i].endpoint = endpoint;
            }
            return i;
        }
        self.apps.push(App {
            url: url.to_owned(),
            endpoint,
        });
        self.apps.len() - 1
    }

    /// Registers the functions of a sync (the `functions` array of docs/protocol.md §6.3/§6.4),
    /// replacing earlier registrations with the same ids.
    pub(crate) fn register(&mut self, app: usize, functions: &Value) -> Result<(), String> {
        let list = functions.as_array().ok_or("`functions` is not an array")?;
        let mut defs = Vec::with_capacity(list.len());
        for f in list {
            defs.push(parse_function(app, f)?);
        }
        for def in defs {
            match self.functions.iter_mut().find(|f| f.id == def.id) {
                Some(existing) => *existing = def,
                None => self.functions.push(def),
            }
        }
        Ok(())
    }

    pub(crate) fn function_ids(&self) -> Vec<String> {
        self.functions.iter().map(|f| f.id.clone()).collect()
    }

    pub(crate) fn has_function(&self, id: &str) -> bool {
        self.functions.iter().any(|f| f.id == id)
    }

    // ---- events -------------------------------------------------------------------------

    /// Records an event; it is processed by [`State::process_events`]. `event` must be an
    /// object with a `name`; `data`, `user`, `ts` and `id` are filled in as the server does
    /// (docs/protocol.md §8.1). Returns its index.
    pub(crate) fn receive(
        &mut self,
        mut event: Value,
        source: EventSource,
        now: DateTime<Utc>,
    ) -> usize {
        let internal_id = self.mint(now);
        if let Some(obj) = event.as_object_mut() {
            if !obj.get("data").is_some_and(Value::is_object) {
                obj.insert("data".into(), json!({}));
            }
            if !obj.get("user").is_some_and(Value::is_object) {
                obj.insert("user".into(), json!({}));
            }
            if !obj.get("ts").is_some_and(Value::is_i64) {
                obj.insert("ts".into(), json!(now.timestamp_millis()));
            }
            let has_id = obj
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if !has_id {
                obj.insert("id".into(), json!(internal_id));
            }
        }
        self.events.push(ReceivedEvent {
            internal_id,
            event,
            source,
            received_at: now,
            duplicate: false,
            runs: Vec::new(),
        });
        self.events.len() - 1
    }

    pub(crate) fn event(&self, index: usize) -> &ReceivedEvent {
        &self.events[index]
    }

    pub(crate) fn events(&self) -> &[ReceivedEvent] {
        &self.events
    }

    /// Processes every received event not processed yet, including those processing emits.
    pub(crate) fn process_events(&mut self, now: DateTime<Utc>) {
        while self.processed < self.events.len() {
            let seq = self.processed;
            self.processed += 1;
            self.process_event(seq, now);
        }
    }

    /// docs/protocol.md §7.4, §8: an event resumes waits first, then cancels runs, then triggers.
    fn process_event(&mut self, seq: usize, now: DateTime<Utc>) {
        let event = self.events[seq].event.clone();
        let name = event
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        // Events the test or an app sent carry the user's `id`; the executor's own
        // (`function.failed` has the run id) follow the same rule.
        if let Some(id) = event.get("id").and_then(Value::as_str) {
            if id != self.events[seq].internal_id {
                if self.event_ids.get(id).is_some_and(|until| *until > now) {
                    self.events[seq].duplicate = true;
                    return;
                }
                self.event_ids.insert(id.to_owned(), now + DEDUPE_WINDOW);
            }
        }
        self.resume_waits(seq, &name, &event, now);
        if name == FUNCTION_FINISHED_EVENT {
            self.resume_invoke(&event, now);
        }
        self.cancel_runs(seq, &name, &event, now);
        let targets: Vec<usize> = if name == FUNCTION_INVOKED_EVENT {
            // docs/protocol.md §8.5: triggers are bypassed; `_inngest.fn_id` routes the event.
            let fn_id = event
                .pointer("/data/_inngest/fn_id")
                .and_then(Value::as_str);
            self.functions
                .iter()
                .position(|f| Some(f.id.as_str()) == fn_id)
                .into_iter()
                .collect()
        } else {
            (0..self.functions.len())
                .filter(|&f| {
                    self.functions[f]
                        .triggers
                        .iter()
                        .any(|(trigger, expression)| {
                            name_matches(trigger, &name)
                                && expression
                                    .as_deref()
                                    .is_none_or(|e| self.matches(e, &event, &Value::Null))
                        })
                })
                .collect()
        };
        for function in targets {
            if let Some(key) = self.idempotency_key(function, &event) {
                let slot = (self.functions[function].id.clone(), key);
                if self
                    .idempotency
                    .get(&slot)
                    .is_some_and(|until| *until > now)
                {
                    continue;
                }
                self.idempotency.insert(slot, now + DEDUPE_WINDOW);
            }
            let run = self.start_run(function, seq, event.clone(), now);
            self.events[seq].runs.push(run);
        }
    }

    fn idempotency_key(&self, function: usize, event: &Value) -> Option<String> {
        let source = self.functions[function].idempotency.as_deref()?;
        let value = match Expression::parse(source).and_then(|e| e.eval(&[("event", event)])) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(%error, expression = source, "idempotency key not evaluated");
                return None;
            }
        };
        Some(match value {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }

    fn start_run(
        &mut self,
        function: usize,
        seq: usize,
        event: Value,
        now: DateTime<Utc>,
    ) -> RunId {
        let id = RunId(self.mint(now));
        let correlation_id = event
            .pointer("/data/_inngest/correlation_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let index = self.runs.len();
        self.runs.push(Run {
            id: id.clone(),
            function,
            seq,
            events: vec![event.clone()],
            event,
            started_at: now,
            ended_at: None,
            outcome: Outcome::Active,
            memo: Map::new(),
            stack: Vec::new(),
            version: -1,
            disable_immediate: false,
            max_attempts: self.functions[function].max_attempts,
            pending: BTreeMap::new(),
            steps: Vec::new(),
            calls: Vec::new(),
            correlation_id,
        });
        self.by_id.insert(id.clone(), index);
        self.enqueue(index, None, 0, now);
        id
    }

    fn resume_waits(&mut self, seq: usize, name: &str, event: &Value, now: DateTime<Utc>) {
        let mut resumed = Vec::new();
        for (r, run) in self.runs.iter().enumerate() {
            if !matches!(run.outcome, Outcome::Active) {
                continue;
            }
            for (hash, pending) in &run.pending {
                if let Pending::Wait {
                    event: wanted,
                    if_exp,
                    after_seq,
                    ..
                } = pending
                {
                    if wanted == name
                        && seq > *after_seq
                        && if_exp
                            .as_deref()
                            .is_none_or(|e| self.matches(e, &run.event, event))
                    {
                        resumed.push((r, hash.clone()));
                    }
                }
            }
        }
        for (run, hash) in resumed {
            if let Some(Pending::Wait { name, .. }) = self.runs[run].pending.get(&hash).cloned() {
                let step = StepDone::new(&hash, name, StepKind::WaitForEvent)
                    .output(event.clone(), event.clone());
                self.complete_step(run, step, now);
            }
        }
    }

    fn resume_invoke(&mut self, event: &Value, now: DateTime<Utc>) {
        let Some((run_id, hash)) = event
            .pointer("/data/correlation_id")
            .and_then(Value::as_str)
            .and_then(|c| c.split_once('.'))
        else {
            return;
        };
        let Some(&run) = self.by_id.get(run_id) else {
            return;
        };
        let Some(Pending::Invoke { name, .. }) = self.runs[run].pending.get(hash).cloned() else {
            return;
        };
        let step = StepDone::new(hash, name, StepKind::Invoke);
        let step = match event.pointer("/data/error") {
            Some(error) => step.error(error.clone()),
            None => {
                let result = event
                    .pointer("/data/result")
                    .cloned()
                    .unwrap_or(Value::Null);
                step.output(json!({ "data": result }), result)
            }
        };
        self.complete_step(run, step, now);
    }

    fn cancel_runs(&mut self, seq: usize, name: &str, event: &Value, now: DateTime<Utc>) {
        let cancelled: Vec<usize> = (0..self.runs.len())
            .filter(|&r| {
                let run = &self.runs[r];
                matches!(run.outcome, Outcome::Active)
                    && seq > run.seq
                    && self.functions[run.function].cancel.iter().any(|rule| {
                        rule.event == name
                            && rule.timeout.is_none_or(|t| {
                                chrono::TimeDelta::from_std(t)
                                    .is_ok_and(|t| now <= run.started_at + t)
                            })
                            && rule
                                .if_exp
                                .as_deref()
                                .is_none_or(|e| self.matches(e, &run.event, event))
                    })
            })
            .collect();
        for run in cancelled {
            self.finish(run, Outcome::Cancelled, now);
        }
    }

    /// Evaluates `expression` with `event` and `async`: the built-in evaluator, then the
    /// custom matcher. An expression neither can evaluate does not match (and is logged).
    fn matches(&self, expression: &str, event: &Value, async_event: &Value) -> bool {
        let vars = [("event", event), ("async", async_event)];
        match Expression::parse(expression).and_then(|e| e.matches(&vars)) {
            Ok(matched) => matched,
            Err(error) => {
                let custom = self
                    .options
                    .matcher
                    .as_ref()
                    .and_then(|m| m(expression, event, async_event));
                if custom.is_none() {
                    tracing::warn!(%error, expression, "expression not evaluated; treated as false");
                }
                custom.unwrap_or(false)
            }
        }
    }

    // ---- time ---------------------------------------------------------------------------

    /// Wakes sleeps and expires waits and invokes whose time has come.
    pub(crate) fn fire_timers(&mut self, now: DateTime<Utc>) {
        let mut due: Vec<(DateTime<Utc>, usize, String)> = Vec::new();
        for (r, run) in self.runs.iter().enumerate() {
            if matches!(run.outcome, Outcome::Active) {
                for (hash, pending) in &run.pending {
                    if let Some(deadline) = pending.deadline().filter(|d| *d <= now) {
                        due.push((deadline, r, hash.clone()));
                    }
                }
            }
        }
        due.sort();
        for (_, run, hash) in due {
            if !matches!(self.runs[run].outcome, Outcome::Active) {
                continue;
            }
            let step = match self.runs[run].pending.get(&hash).cloned() {
                Some(Pending::Sleep { name, .. }) => {
                    StepDone::new(&hash, name, StepKind::Sleep).memo(Value::Null)
                }
                Some(Pending::Wait { name, .. }) => {
                    StepDone::new(&hash, name, StepKind::WaitForEvent)
                        .output(Value::Null, Value::Null)
                }
                Some(Pending::Invoke { name, .. }) => StepDone::new(&hash, name, StepKind::Invoke)
                    .error(json!({
                        "name": "InngestInvokeTimeoutError",
                        "message": "Timed out waiting for invoked function to complete",
                    })),
                Some(Pending::Signal { name, .. }) => {
                    StepDone::new(&hash, name, StepKind::WaitForSignal)
                        .output(Value::Null, Value::Null)
                }
                Some(Pending::Planned) | None => continue,
            };
            self.complete_step(run, step, now);
        }
    }

    /// The earliest timer or delayed call after `now`.
    pub(crate) fn next_deadline(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let pauses = self
            .runs
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Active))
            .flat_map(|r| r.pending.values().filter_map(Pending::deadline));
        let calls = self
            .queue
            .iter()
            .filter(|q| matches!(self.runs[q.run].outcome, Outcome::Active))
            .map(|q| q.due);
        pauses.chain(calls).filter(|d| *d > now).min()
    }

    // ---- calls --------------------------------------------------------------------------

    fn enqueue(&mut self, run: usize, step: Option<String>, attempt: u32, due: DateTime<Utc>) {
        self.queue.push_back(Queued {
            run,
            step,
            attempt,
            due,
        });
    }

    /// docs/protocol.md §7.3/§7.9 (version 2): after progress, discover again unless planned
    /// siblings are still in flight or a discovery is already queued.
    fn maybe_discover(&mut self, run: usize, now: DateTime<Utc>) {
        let r = &self.runs[run];
        if !matches!(r.outcome, Outcome::Active)
            || r.pending.values().any(|p| matches!(p, Pending::Planned))
            || self.queue.iter().any(|q| q.run == run && q.step.is_none())
        {
            return;
        }
        self.enqueue(run, None, 0, now);
    }

    /// Takes the next due call, in FIFO order, and builds its request (docs/protocol.md §7.1).
    /// A run over the call limit fails instead.
    pub(crate) fn next_call(&mut self, now: DateTime<Utc>) -> Option<PreparedCall> {
        loop {
            let index = self.queue.iter().position(|q| q.due <= now)?;
            let queued = self.queue.remove(index)?;
            let run = queued.run;
            if !matches!(self.runs[run].outcome, Outcome::Active) {
                continue;
            }
            let limit = self.options.max_calls_per_run;
            if self.runs[run].calls.len() >= limit {
                let error = json!({
                    "name": "Error",
                    "message": format!("the run made {limit} calls, the fake executor's limit; does the function loop?"),
                });
                self.finish(run, Outcome::Failed(error), now);
                continue;
            }
            return Some(self.prepare(queued));
        }
    }

    fn prepare(&self, queued: Queued) -> PreparedCall {
        let run = &self.runs[queued.run];
        let function = &self.functions[run.function];
        let step_id = queued.step.clone().unwrap_or_else(|| "step".to_owned());
        let use_api = self.options.use_api;
        let body = canonical(json!({
            "ctx": {
                "attempt": queued.attempt,
                "disable_immediate_execution": run.disable_immediate,
                "env": "",
                "fn_id": function_uuid(&function.id),
                "max_attempts": run.max_attempts,
                "qi_id": format!("{}:{}", run.id, run.calls.len()),
                "run_id": run.id.as_str(),
                "stack": {"current": run.stack.len(), "stack": run.stack},
                "step_id": step_id,
                "use_api": use_api,
            },
            "event": run.event,
            "events": if use_api { json!([]) } else { json!(run.events) },
            "steps": if use_api { json!({}) } else { Value::Object(run.memo.clone()) },
            "use_api": use_api,
            "version": run.version,
        }));
        PreparedCall {
            run: queued.run,
            run_id: run.id.0.clone(),
            step: queued.step,
            attempt: queued.attempt,
            url: step_url(&function.url, &step_id),
            endpoint: self.apps[function.app].endpoint.clone(),
            version: run.version,
            body,
        }
    }

    /// Applies the app's answer to a call (docs/protocol.md §7.5, §7.6).
    pub(crate) fn apply(
        &mut self,
        call: PreparedCall,
        result: Result<CallResult, String>,
        now: DateTime<Utc>,
    ) {
        let run = call.run;
        let (status, headers, body) = match result {
            Ok(r) => (r.status, r.headers, r.body),
            Err(message) => (0, http::HeaderMap::new(), message.into_bytes()),
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let no_retry = header("x-inngest-no-retry").map(|v| v.eq_ignore_ascii_case("true"));
        let retry_after = header("retry-after").map(str::to_owned);
        let from_sdk = header("x-inngest-sdk").is_some();
        let version = header("x-inngest-req-version").and_then(|v| v.parse::<i64>().ok());
        let json_body = serde_json::from_slice::<Value>(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        let ops: Vec<Value> = match (&json_body, status) {
            (Value::Array(ops), 206) => ops.clone(),
            (op @ Value::Object(_), 206) => vec![op.clone()],
            _ => Vec::new(),
        };
        self.runs[run].calls.push(CallRecord {
            step_id: call.step.clone().unwrap_or_else(|| "step".to_owned()),
            attempt: call.attempt,
            status,
            body: json_body.clone(),
            ops: ops
                .iter()
                .map(|op| {
                    op.get("op")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned()
                })
                .collect(),
            no_retry,
            retry_after: retry_after.clone(),
            request: call.body.clone(),
            at: now,
        });
        if !matches!(self.runs[run].outcome, Outcome::Active) {
            return;
        }
        if (200..300).contains(&status) {
            if let Some(version) = version {
                self.runs[run].version = version;
            }
        }
        let retry = Retry {
            step: call.step,
            attempt: call.attempt,
            retry_after,
        };
        match status {
            0 => {
                let error = error_body(format!("the app could not be reached: {json_body}"));
                self.function_error(run, retry, error, true, now);
            }
            200..=299 if !from_sdk => {
                let error = error_body("The response did not come from an Inngest SDK".into());
                self.function_error(run, retry, error, true, now);
            }
            200 => self.finish(run, Outcome::Completed(json_body), now),
            206 if !json_body.is_array() && !json_body.is_object() => {
                let error = error_body(format!("a 206 body must be a list of ops: {json_body}"));
                self.function_error(run, retry, error, true, now);
            }
            206 => self.apply_ops(run, retry, ops, no_retry == Some(true), now),
            _ => {
                let error = match json_body {
                    Value::Object(ref o) if o.contains_key("message") || o.contains_key("name") => {
                        json_body
                    }
                    other => error_body(format!("the app answered {status}: {other}")),
                };
                self.function_error(run, retry, error, no_retry != Some(true), now);
            }
        }
    }

    /// A function-level error: retry the same call until the attempts are used up.
    fn function_error(
        &mut self,
        run: usize,
        retry: Retry,
        error: Value,
        retriable: bool,
        now: DateTime<Utc>,
    ) {
        if retriable && retry.attempt + 1 < self.runs[run].max_attempts {
            self.retry(run, retry, now);
        } else {
            self.finish(run, Outcome::Failed(error), now);
        }
    }

    fn retry(&mut self, run: usize, retry: Retry, now: DateTime<Utc>) {
        let due = retry
            .retry_after
            .as_deref()
            .and_then(|v| retry_after_due(v, now))
            .unwrap_or(now);
        self.enqueue(run, retry.step, retry.attempt + 1, due);
    }

    fn apply_ops(
        &mut self,
        run: usize,
        retry: Retry,
        ops: Vec<Value>,
        no_retry: bool,
        now: DateTime<Utc>,
    ) {
        // docs/protocol.md §7.4: pauses are processed before the other ops of a response.
        let (waits, others): (Vec<Value>, Vec<Value>) = ops
            .into_iter()
            .partition(|op| op_code(op).eq_ignore_ascii_case("WaitForEvent"));
        let mut progress = false;
        for op in waits.into_iter().chain(others) {
            if !matches!(self.runs[run].outcome, Outcome::Active) {
                return;
            }
            let hash = op
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let name = op
                .get("name")
                .and_then(Value::as_str)
                .or_else(|| op.get("displayName").and_then(Value::as_str))
                .unwrap_or(&hash)
                .to_owned();
            if self.runs[run].memo.contains_key(&hash) {
                continue;
            }
            let already_pending = self.runs[run].pending.contains_key(&hash);
            let attempts = retry.attempt + 1;
            let error = op.get("error").cloned().unwrap_or(Value::Null);
            match op_code(&op).to_ascii_lowercase().as_str() {
                "steprun" => {
                    let data = op.get("data").cloned().unwrap_or(Value::Null);
                    let step = StepDone::new(&hash, name, StepKind::Run)
                        .output(json!({ "data": data }), data)
                        .attempts(attempts);
                    self.record_step(run, step, now);
                    progress = true;
                }
                "steperror" if !no_retry && attempts < self.runs[run].max_attempts => {
                    self.retry(run, retry.clone(), now);
                }
                "steperror" | "stepfailed" => {
                    let step = StepDone::new(&hash, name, StepKind::Run)
                        .error(error)
                        .attempts(attempts);
                    self.record_step(run, step, now);
                    progress = true;
                }
                "stepplanned" if !already_pending => {
                    let r = &mut self.runs[run];
                    r.pending.insert(hash.clone(), Pending::Planned);
                    r.disable_immediate = true;
                    self.enqueue(run, Some(hash), 0, now);
                }
                "sleep" if !already_pending => {
                    let spec = opt_str(&op, "duration").unwrap_or(&name);
                    match parse_time_or_duration(spec, now) {
                        Ok(until) => {
                            self.runs[run]
                                .pending
                                .insert(hash, Pending::Sleep { name, until });
                        }
                        Err(e) => return self.invalid_op(run, format!("Sleep {name:?}: {e}"), now),
                    }
                }
                "waitforevent" if !already_pending => {
                    let event = opt_str(&op, "event").unwrap_or(&name).to_owned();
                    let timeout = opt_str(&op, "timeout").unwrap_or("");
                    let expires = if timeout.is_empty() {
                        Ok(now)
                    } else {
                        parse_time_or_duration(timeout, now)
                    };
                    match expires {
                        Ok(expires) => {
                            let pending = Pending::Wait {
                                name,
                                event,
                                if_exp: opt_str(&op, "if").map(str::to_owned),
                                expires,
                                after_seq: self.events.len().saturating_sub(1),
                            };
                            self.runs[run].pending.insert(hash, pending);
                        }
                        Err(e) => {
                            return self.invalid_op(
                                run,
                                format!("WaitForEvent {name:?}: {e}"),
                                now,
                            );
                        }
                    }
                }
                "invokefunction" if !already_pending => {
                    if let Err(message) = self.invoke(run, &hash, name, &op, now) {
                        return self.invalid_op(run, message, now);
                    }
                }
                "waitforsignal" if !already_pending => {
                    if let Err(message) = self.wait_for_signal(run, hash, name, &op, now) {
                        return self.invalid_op(run, message, now);
                    }
                }
                "runcomplete" => {
                    let data = op.get("data").cloned().unwrap_or(Value::Null);
                    return self.finish(run, Outcome::Completed(data), now);
                }
                "discoveryrequest" => progress = true,
                "stepplanned" | "sleep" | "waitforevent" | "invokefunction" | "waitforsignal" => {}
                other => {
                    return self.invalid_op(
                        run,
                        format!("the op {other:?} is not modelled by the fake executor"),
                        now,
                    );
                }
            }
        }
        if progress {
            self.maybe_discover(run, now);
        }
    }

    /// docs/protocol.md §8.5: an `InvokeFunction` op creates an `inngest/function.invoked` event
    /// routed to the target by `_inngest.fn_id`.
    fn invoke(
        &mut self,
        run: usize,
        hash: &str,
        name: String,
        op: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let function_id = opt_str(op, "function_id")
            .ok_or_else(|| format!("InvokeFunction {name:?} has no opts.function_id"))?
            .to_owned();
        let payload = op
            .pointer("/opts/payload")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("InvokeFunction {name:?} has no opts.payload object"))?;
        let expires = match opt_str(op, "timeout") {
            Some(t) => Some(
                parse_time_or_duration(t, now)
                    .map_err(|e| format!("InvokeFunction {name:?}: {e}"))?,
            ),
            None => None,
        };
        let caller = &self.runs[run];
        let mut data = payload
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        data.insert(
            "_inngest".into(),
            json!({
                "fn_id": function_id,
                "correlation_id": format!("{}.{hash}", caller.id),
                "source_fn_id": function_uuid(&self.functions[caller.function].id),
                "expire": expires.map(|e| e.timestamp_millis()),
                "name": name,
            }),
        );
        let mut event = json!({ "name": FUNCTION_INVOKED_EVENT, "data": data });
        for key in ["user", "v"] {
            if let Some(value) = payload.get(key) {
                event[key] = value.clone();
            }
        }
        self.runs[run].pending.insert(
            hash.to_owned(),
            Pending::Invoke {
                name: name.clone(),
                expires,
            },
        );
        if !self.has_function(&function_id) {
            let step = StepDone::new(hash, name, StepKind::Invoke).error(error_body(format!(
                "could not find function \"{function_id}\" to invoke"
            )));
            self.complete_step(run, step, now);
            return Ok(());
        }
        self.receive(event, EventSource::Executor, now);
        Ok(())
    }

    fn invalid_op(&mut self, run: usize, message: String, now: DateTime<Utc>) {
        self.finish(run, Outcome::Failed(error_body(message)), now);
    }

    /// Memoizes a step result, records it and discovers again if nothing else is in flight.
    fn complete_step(&mut self, run: usize, step: StepDone, now: DateTime<Utc>) {
        self.record_step(run, step, now);
        self.maybe_discover(run, now);
    }

    /// `POST /v1/checkpoint/{run_id}/async` (docs/protocol.md §7.14): saves the `StepRun` ops of
    /// a run whose call is in flight, as the server's async checkpoint API does. Returns
    /// the status and the error message to answer.
    pub(crate) fn checkpoint(
        &mut self,
        run_id: &str,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), (u16, String)> {
        if self.fail_checkpoints > 0 {
            self.fail_checkpoints -= 1;
            return Err((
                self.fail_checkpoints_status,
                "checkpoint failure injected by the test".into(),
            ));
        }
        let Some(run) = self.run_index(run_id) else {
            return Err((404, "run not found".into()));
        };
        let r = &self.runs[run];
        if body.get("run_id").and_then(Value::as_str) != Some(run_id) {
            return Err((400, "run_id does not match the path".into()));
        }
        let fn_id = function_uuid(&self.functions[r.function].id);
        if body.get("fn_id").and_then(Value::as_str) != Some(fn_id.as_str()) {
            return Err((400, "fn_id is not the run's function".into()));
        }
        // The queue item of the call in flight: `prepare` names it after the calls made.
        let qi_id = format!("{}:{}", r.id, r.calls.len());
        if body.get("qi_id").and_then(Value::as_str) != Some(qi_id.as_str())
            || !matches!(r.outcome, Outcome::Active)
        {
            return Err((409, "stale dispatch: not the queue item in flight".into()));
        }
        let Some(steps) = body.get("steps").and_then(Value::as_array) else {
            return Err((400, "steps is not an array".into()));
        };
        if let Some(op) = steps
            .iter()
            .map(op_code)
            .find(|op| !op.eq_ignore_ascii_case("StepRun") && !op.eq_ignore_ascii_case("Step"))
        {
            return Err((400, format!("cannot checkpoint opcode: {op}")));
        }
        for op in steps {
            let hash = op
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if hash.is_empty() || self.runs[run].memo.contains_key(&hash) {
                continue;
            }
            let name = op
                .get("name")
                .and_then(Value::as_str)
                .or_else(|| op.get("displayName").and_then(Value::as_str))
                .unwrap_or(&hash)
                .to_owned();
            let data = op.get("data").cloned().unwrap_or(Value::Null);
            let mut step =
                StepDone::new(&hash, name, StepKind::Run).output(json!({ "data": data }), data);
            step.checkpointed = true;
            self.record_step(run, step, now);
        }
        Ok(())
    }

    fn record_step(&mut self, run: usize, step: StepDone, now: DateTime<Utc>) {
        let r = &mut self.runs[run];
        r.pending.remove(&step.hash);
        r.memo.insert(step.hash.clone(), step.memo);
        r.stack.push(step.hash.clone());
        r.steps.push(StepRecord {
            id: step.name,
            hashed_id: step.hash,
            kind: step.kind,
            output: step.output,
            error: step.error,
            attempts: step.attempts,
            completed_at: now,
            checkpointed: step.checkpointed,
        });
    }

    /// Ends a run and emits `inngest/function.failed` / `.cancelled` and `.finished`
    /// (docs/protocol.md §8.3).
    fn finish(&mut self, run: usize, outcome: Outcome, now: DateTime<Utc>) {
        self.queue.retain(|q| q.run != run);
        let r = &mut self.runs[run];
        r.pending.clear();
        r.ended_at = Some(now);
        r.outcome = outcome.clone();
        let function_id = self.functions[r.function].id.clone();
        let mut data = json!({
            "function_id": function_id,
            "run_id": r.id.as_str(),
            "event": r.event,
            "events": r.events,
        });
        if let Some(correlation_id) = &r.correlation_id {
            data["correlation_id"] = json!(correlation_id);
        }
        let run_id = r.id.0.clone();
        match outcome {
            Outcome::Active => return,
            Outcome::Completed(output) => data["result"] = output,
            Outcome::Failed(error) => {
                data["error"] = error;
                self.receive(
                    json!({"name": FUNCTION_FAILED_EVENT, "data": data, "id": run_id}),
                    EventSource::Executor,
                    now,
                );
            }
            Outcome::Cancelled => {
                data["error"] = json!({"name": "Error", "message": "function cancelled"});
                self.receive(
                    json!({"name": FUNCTION_CANCELLED_EVENT, "data": data}),
                    EventSource::Executor,
                    now,
                );
            }
        }
        self.receive(
            json!({"name": FUNCTION_FINISHED_EVENT, "data": data}),
            EventSource::Executor,
            now,
        );
    }

    // ---- snapshots ----------------------------------------------------------------------

    pub(crate) fn run_index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn run_memo(&self, run: usize) -> &Map<String, Value> {
        &self.runs[run].memo
    }

    pub(crate) fn run_events(&self, run: usize) -> &[Value] {
        &self.runs[run].events
    }

    pub(crate) fn record(&self, run: usize) -> RunRecord {
        let r = &self.runs[run];
        let (output, error) = match &r.outcome {
            Outcome::Completed(output) => (Some(output.clone()), None),
            Outcome::Failed(error) => (None, Some(error.clone())),
            Outcome::Active | Outcome::Cancelled => (None, None),
        };
        RunRecord {
            id: r.id.clone(),
            function_id: self.functions[r.function].id.clone(),
            status: self.status(run),
            event: r.event.clone(),
            events: r.events.clone(),
            output,
            error,
            steps: r.steps.clone(),
            calls: r.calls.clone(),
            started_at: r.started_at,
            ended_at: r.ended_at,
        }
    }

    pub(crate) fn records(&self) -> Vec<RunRecord> {
        (0..self.runs.len()).map(|r| self.record(r)).collect()
    }

    fn status(&self, run: usize) -> RunStatus {
        let r = &self.runs[run];
        match r.outcome {
            Outcome::Completed(_) => return RunStatus::Completed,
            Outcome::Failed(_) => return RunStatus::Failed,
            Outcome::Cancelled => return RunStatus::Cancelled,
            Outcome::Active => {}
        }
        let has = |f: fn(&Pending) -> bool| r.pending.values().any(f);
        if self.queue.iter().any(|q| q.run == run) || has(|p| matches!(p, Pending::Planned)) {
            RunStatus::Running
        } else if has(|p| matches!(p, Pending::Wait { .. } | Pending::Signal { .. })) {
            RunStatus::Waiting
        } else if has(|p| matches!(p, Pending::Invoke { .. })) {
            RunStatus::Invoking
        } else if has(|p| matches!(p, Pending::Sleep { .. })) {
            RunStatus::Sleeping
        } else {
            RunStatus::Running
        }
    }
}

/// Which call to repeat on a retry.
#[derive(Debug, Clone)]
struct Retry {
    step: Option<String>,
    attempt: u32,
    retry_after: Option<String>,
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

fn op_code(op: &Value) -> &str {
    op.get("op").and_then(Value::as_str).unwrap_or("")
}

fn opt_str<'a>(op: &'a Value, key: &str) -> Option<&'a str> {
    op.get("opts")
        .and_then(|o| o.get(key))
        .and_then(Value::as_str)
}

fn error_body(message: String) -> Value {
    json!({ "name": "Error", "message": message })
}

/// Event-name match, with a trailing `*` wildcard as the server allows (`app/*`).
fn name_matches(trigger: &str, name: &str) -> bool {
    match trigger.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => trigger == name,
    }
}

/// `runtime.url` with `stepId` set (docs/protocol.md §7.1).
fn step_url(url: &Url, step_id: &str) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "stepId")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut url = url.clone();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("stepId", step_id);
    url
}

/// `Retry-After`: up to 7 characters are seconds, else an RFC 3339 instant; clamped to
/// [1 s, 24 h] from now (docs/protocol.md §7.5).
fn retry_after_due(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let at = if value.len() <= 7 {
        now + chrono::TimeDelta::seconds(value.trim().parse::<i64>().ok()?)
    } else {
        DateTime::parse_from_rfc3339(value)
            .ok()?
            .with_timezone(&Utc)
    };
    Some(at.clamp(now + MIN_RETRY_AFTER, now + MAX_RETRY_AFTER))
}

/// Reads one function config of a sync (docs/protocol.md §6.4).
fn parse_function(app: usize, f: &Value) -> Result<FunctionDef, String> {
    let id = f
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or("a function config has no id")?
        .to_owned();
    let step = f
        .pointer("/steps/step")
        .ok_or_else(|| format!("function {id:?} has no steps.step"))?;
    let url = step
        .pointer("/runtime/url")
        .and_then(Value::as_str)
        .and_then(|u| Url::parse(u).ok())
        .ok_or_else(|| format!("function {id:?} has no valid steps.step.runtime.url"))?;
    let retries = step
        .pointer("/retries/attempts")
        .and_then(Value::as_u64)
        .map_or(crate::core::config::DEFAULT_RETRIES, |n| {
            u32::try_from(n).unwrap_or(u32::MAX - 1)
        });
    let triggers = f
        .get("triggers")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| {
                    let event = t.get("event").and_then(Value::as_str)?;
                    let expression = t.get("expression").and_then(Value::as_str);
                    Some((event.to_owned(), expression.map(str::to_owned)))
                })
                .collect()
        })
        .unwrap_or_default();
    let cancel = f
        .get("cancel")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    Some(CancelDef {
                        event: c.get("event").and_then(Value::as_str)?.to_owned(),
                        if_exp: c.get("if").and_then(Value::as_str).map(str::to_owned),
                        timeout: c
                            .get("timeout")
                            .and_then(Value::as_str)
                            .and_then(|t| parse_duration(t).ok()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(FunctionDef {
        id,
        app,
        url,
        triggers,
        max_attempts: retries + 1,
        idempotency: f
            .get("idempotency")
            .and_then(Value::as_str)
            .map(str::to_owned),
        cancel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_instants_are_clamped() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(
            retry_after_due("30", now),
            Some(now + chrono::TimeDelta::seconds(30))
        );
        assert_eq!(retry_after_due("0", now), Some(now + MIN_RETRY_AFTER));
        assert_eq!(retry_after_due("9999999", now), Some(now + MAX_RETRY_AFTER));
        assert_eq!(
            retry_after_due("2026-01-01T00:10:00Z", now),
            Some(now + chrono::TimeDelta::minutes(10))
        );
    }

    #[test]
    fn step_url_replaces_the_step_id_and_keeps_the_rest() {
        let url = Url::parse("http://h/api/inngest?x=1&fnId=app-f&stepId=step").expect("url");
        assert_eq!(
            step_url(&url, "abc").as_str(),
            "http://h/api/inngest?x=1&fnId=app-f&stepId=abc"
        );
    }

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
        let run = state.record(0);
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
        assert_eq!(state.record(0).steps.len(), 1);
    }

    #[test]
    fn wildcard_triggers_match_prefixes() {
        assert!(name_matches("shop/*", "shop/order.created"));
        assert!(!name_matches("shop/order", "shop/order.created"));
    }
}
