//! Calls: the queue, the call requests, and how responses, ops and checkpoints move a run
//! (docs/protocol.md §7).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use url::Url;

use super::ix::{EventSeq, RunIx};
use super::ops::{Retry, error_body, opt_str, redacted};
use super::{
    CallResult, FUNCTION_CANCELLED_EVENT, FUNCTION_FINISHED_EVENT, MAX_RETRY_AFTER,
    MIN_RETRY_AFTER, Outcome, Pending, PreparedCall, Queued, State, StepDone,
};
use crate::core::config::{FUNCTION_FAILED_EVENT, FUNCTION_INVOKED_EVENT};
use crate::core::time::parse_time_or_duration;
use crate::testing::ids::{canonical, function_uuid};
use crate::testing::record::{CallRecord, EventSource, GatewayKind, StepKind, StepRecord};

impl State {
    pub(super) fn enqueue(
        &mut self,
        run: RunIx,
        step: Option<String>,
        attempt: u32,
        due: DateTime<Utc>,
    ) {
        self.queue.push_back(Queued {
            run,
            step,
            attempt,
            due,
        });
    }

    /// docs/protocol.md §7.3/§7.9 (version 2): after progress, discover again unless planned
    /// siblings are still in flight or a discovery is already queued.
    pub(super) fn maybe_discover(&mut self, run: RunIx, now: DateTime<Utc>) {
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

    pub(super) fn prepare(&self, queued: Queued) -> PreparedCall {
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
            // An `AIGateway` op's API key never reaches a record.
            body: redacted(&json_body),
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
            gateway: Vec::new(),
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
        run: RunIx,
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

    pub(super) fn retry(&mut self, run: RunIx, retry: Retry, now: DateTime<Utc>) {
        let due = retry
            .retry_after
            .as_deref()
            .and_then(|v| retry_after_due(v, now))
            .unwrap_or(now);
        self.enqueue(run, retry.step, retry.attempt + 1, due);
    }

    fn apply_ops(
        &mut self,
        run: RunIx,
        retry: Retry,
        ops: Vec<Value>,
        no_retry: bool,
        now: DateTime<Utc>,
    ) {
        // docs/protocol.md §7.4: pauses are processed before the other ops of a response.
        let (waits, others): (Vec<_>, Vec<_>) = ops
            .into_iter()
            .map(|op| (OpCode::of(&op), op))
            .partition(|(code, _)| *code == OpCode::WaitForEvent);
        let mut progress = false;
        for (code, op) in waits.into_iter().chain(others) {
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
            match code {
                OpCode::StepRun => {
                    let data = op.get("data").cloned().unwrap_or(Value::Null);
                    let step = StepDone::new(&hash, name, StepKind::Run)
                        .output(json!({ "data": data }), data)
                        .attempts(attempts);
                    self.record_step(run, step, now);
                    progress = true;
                }
                OpCode::StepError if !no_retry && attempts < self.runs[run].max_attempts => {
                    self.retry(run, retry.clone(), now);
                }
                OpCode::StepError | OpCode::StepFailed => {
                    let step = StepDone::new(&hash, name, StepKind::Run)
                        .error(error)
                        .attempts(attempts);
                    self.record_step(run, step, now);
                    progress = true;
                }
                OpCode::StepPlanned if !already_pending => {
                    let r = &mut self.runs[run];
                    r.pending.insert(hash.clone(), Pending::Planned);
                    r.disable_immediate = true;
                    self.enqueue(run, Some(hash), 0, now);
                }
                OpCode::Sleep if !already_pending => {
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
                OpCode::WaitForEvent if !already_pending => {
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
                                after_seq: self.events.last_ix().unwrap_or(EventSeq::FIRST),
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
                OpCode::InvokeFunction if !already_pending => {
                    if let Err(message) = self.invoke(run, &hash, name, &op, now) {
                        return self.invalid_op(run, message, now);
                    }
                }
                OpCode::WaitForSignal if !already_pending => {
                    if let Err(message) = self.wait_for_signal(run, hash, name, &op, now) {
                        return self.invalid_op(run, message, now);
                    }
                }
                OpCode::Gateway if !already_pending => {
                    let kind = GatewayKind::Fetch;
                    if let Err(message) = self.gateway_op(run, &retry, hash, name, &op, kind) {
                        return self.invalid_op(run, message, now);
                    }
                }
                OpCode::AiGateway if !already_pending => {
                    let kind = GatewayKind::AiInfer;
                    if let Err(message) = self.gateway_op(run, &retry, hash, name, &op, kind) {
                        return self.invalid_op(run, message, now);
                    }
                }
                OpCode::RunComplete => {
                    let data = op.get("data").cloned().unwrap_or(Value::Null);
                    return self.finish(run, Outcome::Completed(data), now);
                }
                OpCode::DiscoveryRequest => progress = true,
                OpCode::StepPlanned
                | OpCode::Sleep
                | OpCode::WaitForEvent
                | OpCode::InvokeFunction
                | OpCode::WaitForSignal
                | OpCode::Gateway
                | OpCode::AiGateway => {}
                OpCode::Unknown(other) => {
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
    pub(super) fn invoke(
        &mut self,
        run: RunIx,
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

    pub(super) fn invalid_op(&mut self, run: RunIx, message: String, now: DateTime<Utc>) {
        self.finish(run, Outcome::Failed(error_body(message)), now);
    }

    /// Memoizes a step result, records it and discovers again if nothing else is in flight.
    pub(super) fn complete_step(&mut self, run: RunIx, step: StepDone, now: DateTime<Utc>) {
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

    pub(super) fn record_step(&mut self, run: RunIx, step: StepDone, now: DateTime<Utc>) {
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
    pub(super) fn finish(&mut self, run: RunIx, outcome: Outcome, now: DateTime<Utc>) {
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
}

/// The ops `apply_ops` models, parsed once from an op's `op` (matched case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
enum OpCode {
    StepRun,
    StepError,
    StepFailed,
    StepPlanned,
    Sleep,
    WaitForEvent,
    WaitForSignal,
    InvokeFunction,
    Gateway,
    AiGateway,
    RunComplete,
    DiscoveryRequest,
    /// Any other op, lowercased as the "not modelled" error names it.
    Unknown(String),
}

impl OpCode {
    fn of(op: &Value) -> Self {
        match op_code(op).to_ascii_lowercase().as_str() {
            "steprun" => OpCode::StepRun,
            "steperror" => OpCode::StepError,
            "stepfailed" => OpCode::StepFailed,
            "stepplanned" => OpCode::StepPlanned,
            "sleep" => OpCode::Sleep,
            "waitforevent" => OpCode::WaitForEvent,
            "waitforsignal" => OpCode::WaitForSignal,
            "invokefunction" => OpCode::InvokeFunction,
            "gateway" => OpCode::Gateway,
            "aigateway" => OpCode::AiGateway,
            "runcomplete" => OpCode::RunComplete,
            "discoveryrequest" => OpCode::DiscoveryRequest,
            other => OpCode::Unknown(other.to_owned()),
        }
    }
}

pub(super) fn op_code(op: &Value) -> &str {
    op.get("op").and_then(Value::as_str).unwrap_or("")
}

/// `runtime.url` with `stepId` set (docs/protocol.md §7.1).
pub(super) fn step_url(url: &Url, step_id: &str) -> Url {
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
pub(super) fn retry_after_due(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let at = if value.len() <= 7 {
        now + chrono::TimeDelta::seconds(value.trim().parse::<i64>().ok()?)
    } else {
        DateTime::parse_from_rfc3339(value)
            .ok()?
            .with_timezone(&Utc)
    };
    Some(at.clamp(now + MIN_RETRY_AFTER, now + MAX_RETRY_AFTER))
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
}
