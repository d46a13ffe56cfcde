//! Events: dedupe, triggers and idempotency, and how events resume waits and invokes and
//! cancel runs (docs/protocol.md §8).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::ix::{EventSeq, FunctionIx, RunIx};
use super::{DEDUPE_WINDOW, FUNCTION_FINISHED_EVENT, Outcome, Pending, Run, State, StepDone};
use crate::core::config::FUNCTION_INVOKED_EVENT;
use crate::testing::expr::Expression;
use crate::testing::record::{EventSource, ReceivedEvent, RunId, StepKind};

impl State {
    /// Records an event; it is processed by [`State::process_events`]. `event` must be an
    /// object with a `name`; `data`, `user`, `ts` and `id` are filled in as the server does
    /// (docs/protocol.md §8.1). Returns its index.
    pub(crate) fn receive(
        &mut self,
        mut event: Value,
        source: EventSource,
        now: DateTime<Utc>,
    ) -> EventSeq {
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
        })
    }

    pub(crate) fn event(&self, index: EventSeq) -> &ReceivedEvent {
        &self.events[index]
    }

    pub(crate) fn events(&self) -> &[ReceivedEvent] {
        self.events.as_slice()
    }

    /// Processes every received event not processed yet, including those processing emits.
    pub(crate) fn process_events(&mut self, now: DateTime<Utc>) {
        while self.processed < self.events.next_ix() {
            let seq = self.processed;
            self.processed = seq.next();
            self.process_event(seq, now);
        }
    }

    /// docs/protocol.md §7.4, §8: an event resumes waits first, then cancels runs, then triggers.
    pub(super) fn process_event(&mut self, seq: EventSeq, now: DateTime<Utc>) {
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
        let targets: Vec<FunctionIx> = if name == FUNCTION_INVOKED_EVENT {
            // docs/protocol.md §8.5: triggers are bypassed; `_inngest.fn_id` routes the event.
            let fn_id = event
                .pointer("/data/_inngest/fn_id")
                .and_then(Value::as_str);
            self.functions
                .position(|f| Some(f.id.as_str()) == fn_id)
                .into_iter()
                .collect()
        } else {
            self.functions
                .indices()
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

    pub(super) fn idempotency_key(&self, function: FunctionIx, event: &Value) -> Option<String> {
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

    pub(super) fn start_run(
        &mut self,
        function: FunctionIx,
        seq: EventSeq,
        event: Value,
        now: DateTime<Utc>,
    ) -> RunId {
        let id = RunId(self.mint(now));
        let correlation_id = event
            .pointer("/data/_inngest/correlation_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let index = self.runs.push(Run {
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

    pub(super) fn resume_waits(
        &mut self,
        seq: EventSeq,
        name: &str,
        event: &Value,
        now: DateTime<Utc>,
    ) {
        let mut resumed = Vec::new();
        for (r, run) in self.runs.enumerate() {
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

    pub(super) fn resume_invoke(&mut self, event: &Value, now: DateTime<Utc>) {
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

    pub(super) fn cancel_runs(
        &mut self,
        seq: EventSeq,
        name: &str,
        event: &Value,
        now: DateTime<Utc>,
    ) {
        let cancelled: Vec<RunIx> = self
            .runs
            .indices()
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
    pub(super) fn matches(&self, expression: &str, event: &Value, async_event: &Value) -> bool {
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
}

/// Event-name match, with a trailing `*` wildcard as the server allows (`app/*`).
pub(super) fn name_matches(trigger: &str, name: &str) -> bool {
    match trigger.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => trigger == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_triggers_match_prefixes() {
        assert!(name_matches("shop/*", "shop/order.created"));
        assert!(!name_matches("shop/order", "shop/order.created"));
    }
}
