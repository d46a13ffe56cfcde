//! Middleware: typed hooks around a run, its steps and the events it sends
//! (docs/protocol.md §7.15).
//!
//! A [`Middleware`] is registered on the [`Client`](crate::Client) (it then applies to
//! every endpoint built with it and to every event the client sends), on the
//! [`EndpointBuilder`](crate::EndpointBuilder), or on one [`Function`](crate::Function).
//! Several compose as an onion: the stack is the client's, then the endpoint's, then the
//! function's, each in registration order, and **the first registered is the outermost**.
//! "Before" hooks (`on_run_start`, `transform_input`, `before_execution`, `on_send_event`,
//! `transform_step_result`) run outermost first; "after" hooks (`after_execution`,
//! `transform_output`, `on_run_complete`, `on_run_error`) run innermost first;
//! [`Middleware::wrap_step`] nests, the outermost wrapping all the others.
//!
//! Every hook has a default that does nothing, so a middleware implements only what it
//! needs. With no middleware registered, none of this code runs: the SDK checks for an
//! empty stack once per call and per step (measured in `docs/benchmarks.md`). With one,
//! each call parses the triggering event and the function's output once more, for
//! `transform_input` and `transform_output`.
//!
//! Hooks run once per *call* of the executor, not once per run: a run of five steps is
//! usually several calls, and its memoized steps are replayed in each. A step body, and
//! so [`Middleware::wrap_step`], runs once per attempt.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::core::wire::RawJson;
use crate::error::Error;
use crate::run::RunContext;

/// A boxed, sendable future, as [`Middleware::wrap_step`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The result of a step body: its output as JSON, or the error it failed with.
pub type StepResult = Result<Box<RawValue>, Error>;

/// Typed hooks around runs, steps and sent events. See the [module docs](self) for the
/// order in which several compose.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use inngest_sdk::middleware::{BoxFuture, Middleware, Next, StepInfo, StepResult};
///
/// /// Counts failed step attempts.
/// #[derive(Default)]
/// struct FailedSteps(AtomicU64);
///
/// impl Middleware for FailedSteps {
///     fn wrap_step<'a>(
///         &'a self,
///         step: &'a StepInfo,
///         next: Next<'a>,
///     ) -> BoxFuture<'a, StepResult> {
///         Box::pin(async move {
///             let result = next.run().await;
///             if let Err(error) = &result {
///                 self.0.fetch_add(1, Ordering::Relaxed);
///                 tracing::warn!(
///                     run_id = %step.run.run_id,
///                     step = %step.id,
///                     attempt = step.run.attempt,
///                     %error,
///                     "step attempt failed"
///                 );
///             }
///             result
///         })
///     }
/// }
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// A call of the run starts: the SDK is about to replay the function. Called once per
    /// call, before the input is decoded.
    fn on_run_start(&self, run: &RunStart<'_>) {
        let _ = run;
    }

    /// Changes an event of the run (`{"name", "data", …}`) before the handler decodes it:
    /// the triggering event, then each event of the run's `events` (the batch, which holds
    /// the trigger too), so `Input::event` and `Input::events` agree.
    fn transform_input(&self, run: &RunContext, event: &mut Value) {
        let _ = (run, event);
    }

    /// The memoized steps have all been replayed: new code is about to run (a new step is
    /// reached, or the function returns). Called at most once per call; at the start of the
    /// call when nothing is memoized.
    fn before_execution(&self, run: &RunContext) {
        let _ = run;
    }

    /// The call's new code stopped (its answer is decided). Called once per call in which
    /// [`Middleware::before_execution`] was.
    fn after_execution(&self, run: &RunContext) {
        let _ = run;
    }

    /// Wraps one attempt of a step body (`step.run` and the steps built on it). Call
    /// `next.run()` to run the inner middlewares and the body; the result may be changed
    /// (a transformed output, an error mapped) before it is returned.
    fn wrap_step<'a>(&'a self, step: &'a StepInfo, next: Next<'a>) -> BoxFuture<'a, StepResult> {
        let _ = step;
        next.run()
    }

    /// Changes a step's stored result before the handler decodes it: the memoized value as
    /// the executor sent it (docs/protocol.md §7.2: `{"data": …}` or `{"error": …}` for a
    /// `step.run`-type step, the value itself for the others), and the `{"data": …}` of a
    /// step that ran earlier in the same checkpointed call. The counterpart of a
    /// [`Middleware::wrap_step`] that changes outputs (an encrypted output is decrypted here).
    fn transform_step_result(&self, run: &RunContext, result: &mut Value) {
        let _ = (run, result);
    }

    /// Changes the function's return value before it is reported.
    fn transform_output(&self, run: &RunContext, output: &mut Value) {
        let _ = (run, output);
    }

    /// The function returned: this call ends the run with `output`, as reported (after
    /// every middleware's `transform_output`).
    fn on_run_complete(&self, run: &RunContext, output: &RawValue) {
        let _ = (run, output);
    }

    /// The function returned an error (or its input did not decode).
    fn on_run_error(&self, run: &RunContext, error: &RunError<'_>) {
        let _ = (run, error);
    }

    /// Events are about to be sent by the client (`Client::send`, `step.send_event`); each
    /// is the JSON object the event API receives and may be changed. A `step.invoke`
    /// payload goes through it too, as one event `{"data": …}` (the invoked function's
    /// triggering event), so what changes sent events changes invoke payloads alike.
    fn on_send_event(&self, events: &mut Vec<Value>) {
        let _ = events;
    }
}

/// What [`Middleware::on_run_start`] sees.
#[derive(Debug, Clone, Copy)]
pub struct RunStart<'a> {
    /// The run.
    pub run: &'a RunContext,
    /// How many memoized steps the call carries.
    pub memoized_steps: usize,
}

impl RunStart<'_> {
    /// Whether this is the first call of the run: nothing memoized, first attempt.
    pub fn is_first_call(&self) -> bool {
        self.memoized_steps == 0 && self.run.attempt == 0
    }
}

/// The step a [`Middleware::wrap_step`] wraps.
#[derive(Debug, Clone)]
pub struct StepInfo {
    /// The run (its `attempt` is the step's attempt).
    pub run: RunContext,
    /// The user's step id.
    pub id: String,
    /// The repeat index of the id in this run (docs/protocol.md §1.2).
    pub index: u32,
}

impl StepInfo {
    /// Whether a failure of this attempt fails the step for good (no attempts left).
    pub fn is_last_attempt(&self) -> bool {
        self.run.attempt + 1 >= self.run.max_attempts
    }
}

/// A run's failure, as [`Middleware::on_run_error`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct RunError<'a> {
    /// The error's name (`Error`, `NonRetriableError`, …).
    pub name: &'a str,
    /// The error's message.
    pub message: &'a str,
    /// Whether the executor retries the call.
    pub retriable: bool,
}

/// The rest of the onion, inside one [`Middleware::wrap_step`].
pub struct Next<'a> {
    rest: &'a [Arc<dyn Middleware>],
    step: &'a StepInfo,
    body: BoxFuture<'a, StepResult>,
}

impl fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("middlewares_left", &self.rest.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Next<'a> {
    /// Runs the inner middlewares and the step body.
    pub fn run(self) -> BoxFuture<'a, StepResult> {
        match self.rest.split_first() {
            Some((outer, rest)) => outer.wrap_step(
                self.step,
                Next {
                    rest,
                    step: self.step,
                    body: self.body,
                },
            ),
            None => self.body,
        }
    }
}

/// A stack of middlewares, outermost first. Cheap to clone; empty costs nothing.
#[derive(Clone, Default)]
pub(crate) struct Stack(Option<Arc<[Arc<dyn Middleware>]>>);

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} middleware(s)", self.all().len())
    }
}

impl Stack {
    /// The stack of `outer` followed by `inner`.
    pub(crate) fn concat(outer: &[Arc<dyn Middleware>], inner: &[Arc<dyn Middleware>]) -> Self {
        if outer.is_empty() && inner.is_empty() {
            return Stack(None);
        }
        Stack(Some(outer.iter().chain(inner).cloned().collect()))
    }

    pub(crate) fn all(&self) -> &[Arc<dyn Middleware>] {
        self.0.as_deref().unwrap_or_default()
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Runs `body` inside every middleware's `wrap_step`.
    pub(crate) fn wrap_step<'a>(
        &'a self,
        step: &'a StepInfo,
        body: BoxFuture<'a, StepResult>,
    ) -> BoxFuture<'a, StepResult> {
        Next {
            rest: self.all(),
            step,
            body,
        }
        .run()
    }

    pub(crate) fn on_run_start(&self, run: &RunStart<'_>) {
        self.all().iter().for_each(|m| m.on_run_start(run));
    }

    pub(crate) fn before_execution(&self, run: &RunContext) {
        self.all().iter().for_each(|m| m.before_execution(run));
    }

    pub(crate) fn after_execution(&self, run: &RunContext) {
        self.all().iter().rev().for_each(|m| m.after_execution(run));
    }

    /// Applies `transform_input` to an event's JSON text; the text is kept when no
    /// middleware changed it, or when it does not parse (the handler reports that).
    pub(crate) fn transform_input(&self, run: &RunContext, event: &str) -> Option<String> {
        let mut value: Value = serde_json::from_str(event).ok()?;
        self.transform_event(run, &mut value)
            .then(|| value.to_string())
    }

    /// Applies `transform_input` to each event of a JSON array of events (the run's
    /// `events`); as [`Stack::transform_input`], `None` when nothing changed or the text is
    /// not an array.
    pub(crate) fn transform_inputs(&self, run: &RunContext, events: &str) -> Option<String> {
        let mut values: Vec<Value> = serde_json::from_str(events).ok()?;
        let mut changed = false;
        for value in &mut values {
            changed |= self.transform_event(run, value);
        }
        changed.then(|| Value::Array(values).to_string())
    }

    /// Runs every middleware's `transform_input` on one event; whether it changed.
    fn transform_event(&self, run: &RunContext, event: &mut Value) -> bool {
        let before = event.clone();
        self.all()
            .iter()
            .for_each(|m| m.transform_input(run, event));
        *event != before
    }

    /// Applies `transform_step_result` (outermost first, undoing the nested `wrap_step`s)
    /// to a step's stored result; the value is kept when no middleware changed it.
    pub(crate) fn step_result(&self, run: &RunContext, raw: RawJson) -> RawJson {
        let Ok(mut value) = serde_json::from_str::<Value>(raw.get()) else {
            return raw;
        };
        let before = value.clone();
        self.all()
            .iter()
            .for_each(|m| m.transform_step_result(run, &mut value));
        if value == before {
            return raw;
        }
        RawJson::parse(value.to_string()).unwrap_or(raw)
    }

    /// Applies `transform_output` (innermost first) to the function's output and reports
    /// it to `on_run_complete`; returns the new output's bytes when one changed it.
    pub(crate) fn complete(&self, run: &RunContext, output: &[u8]) -> Option<Vec<u8>> {
        let mut changed = None;
        if let Ok(mut value) = serde_json::from_slice::<Value>(output) {
            let before = value.clone();
            self.all()
                .iter()
                .rev()
                .for_each(|m| m.transform_output(run, &mut value));
            if value != before {
                changed = serde_json::to_vec(&value).ok();
            }
        }
        let text = changed.as_deref().unwrap_or(output);
        if let Some(raw) = std::str::from_utf8(text)
            .ok()
            .and_then(|t| serde_json::from_str::<&RawValue>(t).ok())
        {
            self.all()
                .iter()
                .rev()
                .for_each(|m| m.on_run_complete(run, raw));
        }
        changed
    }

    pub(crate) fn on_run_error(&self, run: &RunContext, error: &RunError<'_>) {
        self.all()
            .iter()
            .rev()
            .for_each(|m| m.on_run_error(run, error));
    }

    /// Applies `on_send_event` to a `step.invoke` payload's `data`, as the one event
    /// `{"data": …}` the invoked function receives; `None` when nothing changed.
    pub(crate) fn on_invoke(&self, data: &RawValue) -> Option<Box<RawValue>> {
        let data: Value = serde_json::from_str(data.get()).ok()?;
        let mut events = vec![serde_json::json!({ "data": data })];
        let before = events.clone();
        self.all().iter().for_each(|m| m.on_send_event(&mut events));
        if events == before {
            return None;
        }
        let data = events.pop()?.get_mut("data").map(Value::take)?;
        serde_json::value::to_raw_value(&data).ok()
    }

    /// Applies `on_send_event` to the event API's JSON body; `None` when nothing changed.
    pub(crate) fn on_send_event(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut events: Vec<Value> = serde_json::from_slice(body).ok()?;
        let before = events.clone();
        self.all().iter().for_each(|m| m.on_send_event(&mut events));
        if events == before {
            return None;
        }
        serde_json::to_vec(&events).ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Recorder {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Middleware for Recorder {
        fn before_execution(&self, _: &RunContext) {
            self.log
                .lock()
                .expect("not poisoned")
                .push(format!("{} before", self.name));
        }
        fn after_execution(&self, _: &RunContext) {
            self.log
                .lock()
                .expect("not poisoned")
                .push(format!("{} after", self.name));
        }
        fn wrap_step<'a>(&'a self, _: &'a StepInfo, next: Next<'a>) -> BoxFuture<'a, StepResult> {
            Box::pin(async move {
                self.log
                    .lock()
                    .expect("not poisoned")
                    .push(format!("{} enter", self.name));
                let result = next.run().await;
                self.log
                    .lock()
                    .expect("not poisoned")
                    .push(format!("{} leave", self.name));
                result
            })
        }
    }

    fn run() -> RunContext {
        RunContext {
            run_id: "01RUN".into(),
            attempt: 0,
            max_attempts: 1,
            function_id: "app-fn".into(),
        }
    }

    #[tokio::test]
    async fn the_first_registered_middleware_is_the_outermost() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let outer: Arc<dyn Middleware> = Arc::new(Recorder {
            name: "outer",
            log: Arc::clone(&log),
        });
        let inner: Arc<dyn Middleware> = Arc::new(Recorder {
            name: "inner",
            log: Arc::clone(&log),
        });
        let stack = Stack::concat(&[outer], &[inner]);
        let step = StepInfo {
            run: run(),
            id: "s".into(),
            index: 0,
        };
        stack.before_execution(&step.run);
        let body_log = Arc::clone(&log);
        let result = stack
            .wrap_step(
                &step,
                Box::pin(async move {
                    body_log.lock().expect("not poisoned").push("body".into());
                    Ok(RawValue::from_string("1".into()).expect("json"))
                }),
            )
            .await;
        stack.after_execution(&step.run);
        assert_eq!(result.expect("ok").get(), "1");
        assert_eq!(
            *log.lock().expect("not poisoned"),
            [
                "outer before",
                "inner before",
                "outer enter",
                "inner enter",
                "body",
                "inner leave",
                "outer leave",
                "inner after",
                "outer after"
            ]
        );
    }

    #[test]
    fn an_empty_stack_is_not_allocated() {
        assert!(Stack::concat(&[], &[]).is_empty());
    }

    struct Tag;
    impl Middleware for Tag {
        fn transform_output(&self, _: &RunContext, output: &mut Value) {
            output["tagged"] = Value::Bool(true);
        }
        fn on_send_event(&self, events: &mut Vec<Value>) {
            for event in events {
                event["data"]["tagged"] = Value::Bool(true);
            }
        }
    }

    #[test]
    fn outputs_and_sent_events_can_be_transformed() {
        let stack = Stack::concat(&[Arc::new(Tag)], &[]);
        let out = stack.complete(&run(), br#"{"a":1}"#).expect("changed");
        assert_eq!(out, br#"{"a":1,"tagged":true}"#);
        let sent = stack
            .on_send_event(br#"[{"name":"x","data":{}}]"#)
            .expect("changed");
        assert_eq!(sent, br#"[{"data":{"tagged":true},"name":"x"}]"#);
        assert_eq!(Stack::default().on_send_event(b"[]"), None);
    }
}
