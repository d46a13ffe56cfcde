//! The step tool: durable steps a function awaits.
//!
//! Every method registers its step synchronously, when it is called, so several steps
//! started before the code awaits them are found together and reported in one `206`
//! (docs/protocol.md §7.3). A step that must pause *parks*: its future stays pending for the rest
//! of the request, the engine reports what was found, and the request ends. User code never
//! sees an `Err` for a pause, so it cannot swallow one, and nothing panics on drop.

use std::convert::Infallible;
use std::future::{Future, pending, poll_fn};
use std::marker::PhantomData;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::client::Client;
use crate::clock::Clock;
use crate::core::hash::{StepIdCounter, push_step_hash};
use crate::core::op::{InvokePayload, Op, OpCode, OpOpts, Timing, Userland};
use crate::core::time::{format_duration, format_rfc3339};
use crate::core::wire::{ErrorBody, Memo, RawJson, RunMemo};
use crate::error::{Error, Retry, RetryAt, StepError};
use crate::event::{Event, EventType};
use crate::middleware::Stack;
use crate::run::{FunctionRef, RunContext};

// Step families in their own files, each with its own `impl Step`; the crate root
// re-exports their public types (a re-export here would make each child and this file
// import each other).
pub(crate) mod ai;
mod determinism;
pub(crate) mod fetch;
mod hooks;
pub(crate) mod realtime;
pub(crate) mod signal;

/// The step tool handed to a function's handler. Cheap to clone; clones share the run.
#[derive(Clone)]
pub struct Step {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step").finish_non_exhaustive()
    }
}

/// What is shared between the step tool, its step futures and the engine for one request.
pub(crate) struct Shared {
    state: Mutex<RunState>,
    /// Composite ids of invoke targets are `<app id>-<function id>` (docs/protocol.md §1.1).
    app_id: Arc<str>,
    /// Sends the events of `send_event` steps.
    client: Client,
    /// The request's "now", so `sleep_until` decides the same way on every replay.
    now: DateTime<Utc>,
    /// The endpoint's clock: how long a failing step took, so a `Retry-After` counts from
    /// when the step failed, not from when the executor called.
    clock: Arc<dyn Clock>,
    /// The run, for the step spans and logs.
    run: RunContext,
    /// Middleware around the step bodies (docs/protocol.md §7.15); empty costs one check.
    middleware: Stack,
    /// Set once `before_execution` was reported for this call.
    executing_new_code: AtomicBool,
    /// Whether a replay that diverges from the memo fails (docs/protocol.md §7.16).
    check_determinism: bool,
}

/// Per-request step state (docs/protocol.md §7.3).
pub(crate) struct RunState {
    /// Memoized values not yet consumed; each is removed when its step is reached.
    memo: Memo,
    /// Repeat counters per user step id (docs/protocol.md §1.2).
    counter: StepIdCounter,
    mode: Mode,
    /// Attempt of this request and the function's attempts, to choose StepError/StepFailed.
    attempt: u32,
    max_attempts: u32,
    /// New steps in discovery order.
    found: Vec<Found>,
    /// Hash of the step the engine chose to execute inline.
    execute: Option<String>,
    /// True while a step body runs (it may await I/O; the engine must wait for it).
    executing: bool,
    /// The result of the step body that ran in this request.
    outcome: Option<StepOutcome>,
    /// With checkpointing, a step whose `StepRun` was taken waits to be resumed with its
    /// output instead of parking for good (docs/protocol.md §7.14).
    checkpointing: bool,
    /// The step the engine resumed, and its output.
    resume: Option<(String, Box<RawValue>)>,
    /// The waker of the step waiting to be resumed.
    resume_waker: Option<Waker>,
    /// User ids of `step.ai().wrap` steps, whose ops are marked as AI (docs/protocol.md §8.9).
    ai_wrapped: Vec<String>,
}

/// Discovery, or a call targeting one planned step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Report new steps; execute a lone `step.run` inline when allowed (docs/protocol.md §7.7).
    Discovery {
        /// False when `ctx.disable_immediate_execution` is set.
        immediate: bool,
    },
    /// Run only the step with this hash (docs/protocol.md §7.8).
    Target(String),
}

/// A new (unmemoized) step found during discovery.
pub(crate) struct Found {
    /// The op reported if the step is not executed inline.
    pub(crate) op: Op,
    /// Whether it is a `step.run`-type step that may be executed inline.
    pub(crate) runnable: bool,
    /// The waker of the parked step future, to resume it if the engine executes it.
    waker: Option<Waker>,
}

/// The result of the one step body executed in a request.
#[derive(Debug)]
pub(crate) struct StepOutcome {
    pub(crate) op: Op,
    /// `X-Inngest-No-Retry` for a step error.
    pub(crate) no_retry: Option<bool>,
    /// `Retry-After` for a retriable step error.
    pub(crate) retry_after: Option<String>,
}

enum Registration<R = Infallible> {
    /// A memoized value of a sleep, wait or invoke; the step decodes it.
    Memoized(RawJson),
    /// The memoized result of a `step.run`, decoded once, when the step was reached.
    Ran(R),
    /// The step body runs now (the step is the target of this call).
    Execute(String),
    /// The step is new: it parks, and runs only if the engine chooses it.
    Park(String),
}

/// What a `step.run` future does: return a memoized result, or run its body (after
/// waiting for its turn when it parked).
enum RunPlan<T> {
    Done(Result<T, StepError>),
    Run {
        hash: String,
        park: bool,
        shared: Arc<Shared>,
        user_id: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Run,
    Other,
}

/// Options of [`Step::wait_for_event`], for an event whose data is a `T`.
///
/// [`WaitForEvent::of`] takes the name from `T`'s [`EventType`], so the name and the type of
/// the result cannot disagree; [`WaitForEvent::new`] takes a name known only at run time.
///
/// ```
/// use std::time::Duration;
/// use inngest_sdk::{EventType, WaitForEvent};
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Verified { user_id: String }
/// impl EventType for Verified {
///     const NAME: &'static str = "user/email.verified";
/// }
///
/// let wait = WaitForEvent::<Verified>::of(Duration::from_secs(3_600))
///     .if_exp("async.data.user_id == event.data.user_id");
/// assert_eq!(wait.event(), "user/email.verified");
/// ```
///
/// The wait resolves to an `Event<T>` of the type it names; another type does not compile:
///
/// ```compile_fail,E0308
/// use std::time::Duration;
/// use inngest_sdk::{Error, Event, EventType, Step, StepError, WaitForEvent};
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Verified { user_id: String }
/// # impl EventType for Verified { const NAME: &'static str = "user/email.verified"; }
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Signup { email: String }
/// async fn wait(step: Step) -> Result<Option<Event<Signup>>, StepError> {
///     step.wait_for_event("verify", WaitForEvent::<Verified>::of(Duration::from_secs(60)))
///         .await
/// }
/// ```
pub struct WaitForEvent<T = serde_json::Value> {
    event: String,
    timeout: Duration,
    if_exp: Option<String>,
    /// The data type of the awaited event (nothing of it is stored).
    _data: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for WaitForEvent<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitForEvent")
            .field("event", &self.event)
            .field("timeout", &self.timeout)
            .field("if_exp", &self.if_exp)
            .finish()
    }
}

impl<T> Clone for WaitForEvent<T> {
    fn clone(&self) -> Self {
        WaitForEvent {
            event: self.event.clone(),
            timeout: self.timeout,
            if_exp: self.if_exp.clone(),
            _data: PhantomData,
        }
    }
}

impl<E: EventType> WaitForEvent<E> {
    /// Wait for an event of type `E` (named [`EventType::NAME`]) for at most `timeout`.
    pub fn of(timeout: Duration) -> Self {
        WaitForEvent::new(E::NAME, timeout)
    }
}

impl<T> WaitForEvent<T> {
    /// Wait for an event with this name for at most `timeout`; its data is decoded as `T`.
    pub fn new(event: impl Into<String>, timeout: Duration) -> Self {
        WaitForEvent {
            event: event.into(),
            timeout,
            if_exp: None,
            _data: PhantomData,
        }
    }

    /// The name of the awaited event.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// Only an event for which this CEL expression holds resumes the wait; `event` is the
    /// run's triggering event, `async` the candidate (docs/protocol.md §1.4).
    pub fn if_exp(mut self, expression: impl Into<String>) -> Self {
        self.if_exp = Some(expression.into());
        self
    }
}

/// The result of a `send_event` step: the ids Inngest assigned, one per event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SendEventResult {
    /// Internal event ids, in order.
    pub ids: Vec<String>,
}

impl Step {
    pub(crate) fn new(
        app_id: Arc<str>,
        client: Client,
        clock: Arc<dyn Clock>,
        run: RunContext,
        state: RunState,
    ) -> Self {
        Step {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                app_id,
                client,
                now: clock.now(),
                clock,
                run,
                middleware: Stack::default(),
                executing_new_code: AtomicBool::new(false),
                check_determinism: false,
            }),
        }
    }

    /// Wraps the run's steps in `middleware` (a fresh step tool only, before it is shared).
    pub(crate) fn with_middleware(mut self, middleware: Stack) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.middleware = middleware;
        }
        self
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Runs `body` once, durably: its output is memoized and returned on every later replay.
    ///
    /// An `Err` is retried by the executor with backoff (per the function's retries); when
    /// the attempts are used up, or the error is [`Error::non_retriable`], the step fails
    /// for good and this future resolves to a [`StepError`] that the code may handle.
    ///
    /// The body may borrow from the handler: the step's future lives as long as `body` and
    /// its future do, and no longer than the handler that awaits it (the engine only polls
    /// the handler's future; a parked step keeps nothing but its waker in the run state).
    /// It does not borrow `self` or `id`.
    ///
    /// ```
    /// use inngest_sdk::{Error, Input, Step};
    ///
    /// /// Not `Clone`: the step reads it in place.
    /// struct Letter {
    ///     to: String,
    ///     body: String,
    /// }
    ///
    /// async fn handler(input: Input<serde_json::Value>, step: Step) -> Result<usize, Error> {
    ///     let letter = Letter { to: "ada@example.com".into(), body: "Welcome".into() };
    ///     let sent = step
    ///         .run("send", || async { Ok::<_, Error>(letter.to.len() + letter.body.len()) })
    ///         .await?;
    ///     Ok(sent)
    /// }
    /// # let _ = handler;
    /// ```
    pub fn run<T, E, F, Fut>(
        &self,
        id: &str,
        body: F,
    ) -> impl Future<Output = Result<T, StepError>> + Send + use<T, E, F, Fut>
    where
        T: Serialize + DeserializeOwned + Send,
        E: Into<Error> + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
    {
        // A memoized step is decoded when it is reached, once, in one pass straight into
        // `T`: its future only hands the result over, and nothing is allocated for a step
        // that does not run.
        let (index, registration) = self.register(
            id,
            Kind::Run,
            || Op::new(OpCode::StepPlanned, String::new(), id),
            |raw| run_result(id, raw),
        );
        self.shared.after_registration(registration.is_new());
        let plan = match registration {
            Registration::Ran(result) => RunPlan::Done(result),
            Registration::Memoized(raw) => RunPlan::Done(decode_run_memo(id, raw.get())),
            Registration::Execute(hash) => RunPlan::Run {
                hash,
                park: false,
                shared: Arc::clone(&self.shared),
                user_id: id.to_owned(),
            },
            Registration::Park(hash) => RunPlan::Run {
                hash,
                park: true,
                shared: Arc::clone(&self.shared),
                user_id: id.to_owned(),
            },
        };
        async move {
            let (hash, park, shared, user_id) = match plan {
                RunPlan::Done(result) => return result,
                RunPlan::Run {
                    hash,
                    park,
                    shared,
                    user_id,
                } => (hash, park, shared, user_id),
            };
            if park {
                wait_for_turn(&shared, &hash).await;
            }
            // Everything the body logs (a vendor call failing, say) names the run and step.
            let span = tracing::info_span!(
                "step",
                function = %shared.run.function_id,
                run_id = %shared.run.run_id,
                step = %user_id,
                attempt = shared.run.attempt,
            );
            // A checkpointed step carries when it ran (the classic ops stay as they were).
            let started = shared
                .lock()
                .checkpointing
                .then(|| (std::time::SystemTime::now(), std::time::Instant::now()));
            let body = async move {
                body()
                    .await
                    .map_err(Into::into)
                    .and_then(|output| to_raw(&output))
            };
            let result = if shared.middleware.is_empty() {
                tracing::Instrument::instrument(body, span).await
            } else {
                let wrapped =
                    Shared::wrapped_step(Arc::clone(&shared), user_id.clone(), index, body);
                tracing::Instrument::instrument(wrapped, span).await
            };
            let mut outcome = shared.step_outcome(&hash, &user_id, index, result);
            if let Some((wall, monotonic)) = started {
                outcome.op.timing = Some(timing(wall, monotonic.elapsed()));
            }
            let resumable = outcome.op.op == OpCode::StepRun;
            let checkpointing = {
                let mut state = shared.lock();
                state.finish(outcome);
                state.checkpointing
            };
            if resumable && checkpointing {
                // The engine resumes the step once its result is reported (or buffered);
                // the output is decoded from the reported JSON, as a replay would see it.
                let output = wait_for_resume(&shared, &hash).await;
                if !shared.middleware.is_empty() {
                    // As a replay would see it: through `transform_step_result`.
                    if let Ok(memo) = RawJson::parse(format!(r#"{{"data":{}}}"#, output.get())) {
                        let memo = shared.middleware.step_result(&shared.run, memo);
                        if let Some(result) = run_result(&user_id, memo.get()) {
                            return result;
                        }
                    }
                }
                return serde_json::from_str(output.get())
                    .map_err(|e| StepError::decode(&user_id, "the stored output", &e));
            }
            pending().await
        }
    }

    /// Pauses the run for `duration` (docs/protocol.md §7.4 `Sleep`).
    pub fn sleep(&self, id: &str, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        let registration = self.register_other(id, || {
            let mut op = Op::new(OpCode::Sleep, String::new(), id);
            op.opts = Some(OpOpts::Sleep {
                duration: format_duration(duration),
            });
            op
        });
        resolve_or_park(Some(registration))
    }

    /// Pauses the run until `until`. A time that has already passed does not sleep.
    pub fn sleep_until(
        &self,
        id: &str,
        until: DateTime<Utc>,
    ) -> impl Future<Output = ()> + Send + 'static {
        if until <= self.shared.now {
            // Keep the repeat counter in step with replays that do sleep (docs/protocol.md §1.2),
            // and count the sleep as reached if an earlier call made it (§7.16).
            let mut state = self.shared.lock();
            let (digest, _) = state.counter.next_digest(id);
            state.memo.take(&digest);
            drop(state);
            return resolve_or_park(None);
        }
        let registration = self.register_other(id, || {
            let mut op = Op::new(OpCode::Sleep, String::new(), id);
            op.opts = Some(OpOpts::Sleep {
                duration: format_rfc3339(until),
            });
            op
        });
        resolve_or_park(Some(registration))
    }

    /// Waits for an event (docs/protocol.md §7.4 `WaitForEvent`).
    ///
    /// Resolves to `Ok(None)` when the timeout passes and to the typed event otherwise. An
    /// event whose data does not decode into `T` is an error, never a silent timeout.
    pub fn wait_for_event<T>(
        &self,
        id: &str,
        wait: WaitForEvent<T>,
    ) -> impl Future<Output = Result<Option<Event<T>>, StepError>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let registration = self.register_other(id, || {
            let mut op = Op::new(OpCode::WaitForEvent, String::new(), id);
            op.opts = Some(OpOpts::WaitForEvent {
                event: wait.event,
                timeout: format_duration(wait.timeout),
                if_exp: wait.if_exp,
            });
            op
        });
        let user_id = id.to_owned();
        async move {
            match registration {
                Registration::Memoized(raw) if raw.is_null() => Ok(None),
                Registration::Memoized(raw) => raw
                    .decode()
                    .map(Some)
                    .map_err(|e| StepError::decode(&user_id, "the received event", &e)),
                // `Ran` is only produced for `step.run`.
                Registration::Ran(_) | Registration::Execute(_) | Registration::Park(_) => {
                    pending().await
                }
            }
        }
    }

    /// Invokes another function and resolves to its typed result (docs/protocol.md §8.5).
    ///
    /// A failed invoked function, or a timeout, resolves to a [`StepError`].
    pub fn invoke<In, Out>(
        &self,
        id: &str,
        function: &FunctionRef<In, Out>,
        data: &In,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<Out, StepError>> + Send + 'static
    where
        In: Serialize,
        Out: DeserializeOwned + Send + 'static,
    {
        let user_id = id.to_owned();
        let payload = match to_raw(data) {
            Ok(payload) => payload,
            Err(error) => {
                // Keep the repeat counter in step with replays (docs/protocol.md §1.2).
                let mut state = self.shared.lock();
                let (digest, _) = state.counter.next_digest(id);
                state.memo.take(&digest);
                drop(state);
                let failure = StepError::failed(id, error.to_body());
                return invoke_result(Err(failure), None);
            }
        };
        let function_id = function.composite_id(&self.shared.app_id);
        let registration = self.register_other(id, || {
            // The payload is an event the invoked function receives: middleware that
            // changes sent events (encryption, say) changes it too.
            let middleware = self.shared.middleware();
            let payload = if middleware.is_empty() {
                payload
            } else {
                middleware.on_invoke(&payload).unwrap_or(payload)
            };
            let mut op = Op::new(OpCode::InvokeFunction, String::new(), id);
            op.opts = Some(OpOpts::Invoke {
                function_id,
                payload: InvokePayload { data: payload },
                timeout: timeout.map(format_duration),
            });
            op
        });
        invoke_result(Ok(user_id), Some(registration))
    }

    /// Sends events as a durable step and resolves to their ids. A retried run does not
    /// send them again once the step completed.
    pub fn send_event<T>(
        &self,
        id: &str,
        events: Vec<Event<T>>,
    ) -> impl Future<Output = Result<SendEventResult, StepError>> + Send + 'static
    where
        T: Serialize + Send + Sync + 'static,
    {
        let client = self.shared.client.clone();
        self.run(id, move || async move {
            let ids = client.send_many(&events).await?;
            Ok::<_, Error>(SendEventResult { ids })
        })
    }

    /// Registers a step other than `step.run`: see [`Step::register`].
    fn register_other(&self, id: &str, op: impl FnOnce() -> Op) -> Registration {
        let registration = self.register(id, Kind::Other, op, |_| None::<Infallible>).1;
        self.shared.after_registration(registration.is_new());
        registration
    }

    /// Registers a step: hashes its id, takes its memoized value, or records it as found.
    /// A `step.run` memo goes through `ran` (under the state lock), which decodes it, or
    /// returns `None` when it is not a result: the step is then new. Returns the step's
    /// repeat index (docs/protocol.md §1.2) and what the step does.
    fn register<R>(
        &self,
        id: &str,
        kind: Kind,
        op: impl FnOnce() -> Op,
        ran: impl FnOnce(&str) -> Option<R>,
    ) -> (u32, Registration<R>) {
        let mut state = self.shared.lock();
        let (digest, index) = state.counter.next_digest(id);
        if let Some(raw) = state.memo.take(&digest) {
            let raw = if self.shared.middleware.is_empty() {
                raw
            } else {
                self.shared.middleware.step_result(&self.shared.run, raw)
            };
            match kind {
                Kind::Other => return (index, Registration::Memoized(raw)),
                Kind::Run => {
                    if let Some(result) = ran(raw.get()) {
                        return (index, Registration::Ran(result));
                    }
                }
            }
        }
        // Only a step that is not memoized needs its hash as text (an op id, a target).
        let mut hash = String::with_capacity(40);
        push_step_hash(&digest, &mut hash);
        let registration = match &state.mode {
            Mode::Target(target) if *target == hash && kind == Kind::Run => {
                state.executing = true;
                Registration::Execute(hash)
            }
            Mode::Target(_) => Registration::Park(hash),
            Mode::Discovery { .. } => {
                let mut op = op();
                op.id.clone_from(&hash);
                op.userland = (index > 0).then(|| Userland {
                    id: id.to_owned(),
                    index,
                });
                state.found.push(Found {
                    op,
                    runnable: kind == Kind::Run,
                    waker: None,
                });
                Registration::Park(hash)
            }
        };
        (index, registration)
    }
}

impl Shared {
    /// Time since the executor's call started (zero on a fake clock that did not move).
    pub(crate) fn elapsed(&self) -> Duration {
        (self.clock.now() - self.now).to_std().unwrap_or_default()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, RunState> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters: the request is answered with an error either way.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Turns a step body's result into the op reported for it (docs/protocol.md §7.4–7.6).
    fn step_outcome(
        &self,
        hash: &str,
        user_id: &str,
        index: u32,
        result: Result<Box<RawValue>, Error>,
    ) -> StepOutcome {
        let (attempt, max_attempts, ai_wrapped) = {
            let state = self.lock();
            (
                state.attempt,
                state.max_attempts,
                state.is_ai_wrapped(user_id),
            )
        };
        let mut op = Op::new(OpCode::StepRun, hash, user_id);
        if ai_wrapped {
            op.opts = Some(OpOpts::ai_wrap());
        }
        op.userland = (index > 0).then(|| Userland {
            id: user_id.to_owned(),
            index,
        });
        match result {
            Ok(data) => {
                op.data = Some(data);
                StepOutcome {
                    op,
                    no_retry: None,
                    retry_after: None,
                }
            }
            Err(error) => {
                let last_attempt = attempt + 1 >= max_attempts;
                let retry = error.retry();
                let failed = last_attempt || retry == Retry::Never;
                tracing::warn!(
                    function = %self.run.function_id,
                    run_id = %self.run.run_id,
                    step = %user_id,
                    attempt,
                    error = %error,
                    retried = !failed,
                    "step failed"
                );
                op.op = if failed {
                    OpCode::StepFailed
                } else {
                    OpCode::StepError
                };
                op.error = Some(error.to_body());
                StepOutcome {
                    op,
                    no_retry: Some(failed),
                    retry_after: match retry {
                        Retry::After(at) if !failed => Some(retry_after_value(at, self.elapsed())),
                        _ => None,
                    },
                }
            }
        }
    }
}

impl RunState {
    pub(crate) fn new(memo: Memo, mode: Mode, attempt: u32, max_attempts: u32) -> Self {
        RunState {
            // A replay reaches about as many ids as the memo holds (docs/protocol.md §7.3).
            counter: StepIdCounter::with_capacity(memo.len()),
            memo,
            mode,
            attempt,
            max_attempts: max_attempts.max(1),
            found: Vec::new(),
            execute: None,
            executing: false,
            outcome: None,
            checkpointing: false,
            resume: None,
            resume_waker: None,
            ai_wrapped: Vec::new(),
        }
    }

    /// Lets finished `step.run`s wait to be resumed (checkpointing, docs/protocol.md §7.14).
    pub(crate) fn set_checkpointing(&mut self, on: bool) {
        self.checkpointing = on;
    }

    /// Resumes the step that finished with this hash: its future resolves to `output`, and
    /// it is no longer a found step.
    pub(crate) fn resume(&mut self, hash: &str, output: Box<RawValue>) {
        self.found.retain(|found| found.op.id != hash);
        self.resume = Some((hash.to_owned(), output));
        if let Some(waker) = self.resume_waker.take() {
            waker.wake();
        }
    }

    fn finish(&mut self, outcome: StepOutcome) {
        self.executing = false;
        self.outcome = Some(outcome);
    }

    pub(crate) fn mode(&self) -> &Mode {
        &self.mode
    }

    pub(crate) fn is_executing(&self) -> bool {
        self.executing
    }

    pub(crate) fn has_outcome(&self) -> bool {
        self.outcome.is_some()
    }

    pub(crate) fn take_outcome(&mut self) -> Option<StepOutcome> {
        self.outcome.take()
    }

    pub(crate) fn found(&self) -> &[Found] {
        &self.found
    }

    pub(crate) fn take_found(&mut self) -> Vec<Found> {
        std::mem::take(&mut self.found)
    }

    /// Chooses the lone found step for inline execution and wakes its parked future.
    pub(crate) fn execute_lone_step(&mut self) {
        if let Some(found) = self.found.first_mut() {
            self.execute = Some(found.op.id.clone());
            if let Some(waker) = found.waker.take() {
                waker.wake();
            }
        }
    }
}

/// Parks until the engine chooses this step for execution; never completes otherwise.
async fn wait_for_turn(shared: &Shared, hash: &str) {
    poll_fn(|cx| {
        let mut state = shared.lock();
        if state.execute.as_deref() == Some(hash) {
            state.execute = None;
            state.executing = true;
            return Poll::Ready(());
        }
        if let Some(found) = state.found.iter_mut().find(|f| f.op.id == hash) {
            found.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    })
    .await;
}

/// The `timing` of a step that started at `start` and took `took`.
fn timing(start: std::time::SystemTime, took: Duration) -> Timing {
    let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    Timing {
        a: start
            .duration_since(std::time::UNIX_EPOCH)
            .map(nanos)
            .unwrap_or_default(),
        b: nanos(took),
    }
}

/// Waits until the engine resumes the finished step with this hash; never completes
/// otherwise.
async fn wait_for_resume(shared: &Shared, hash: &str) -> Box<RawValue> {
    poll_fn(|cx| {
        let mut state = shared.lock();
        if state.resume.as_ref().is_some_and(|(h, _)| h == hash) {
            if let Some((_, output)) = state.resume.take() {
                return Poll::Ready(output);
            }
        }
        state.resume_waker = Some(cx.waker().clone());
        Poll::Pending
    })
    .await
}

/// Resolves at once when there is nothing to wait for, or when the step is memoized;
/// parks otherwise.
async fn resolve_or_park(registration: Option<Registration>) {
    match registration {
        None | Some(Registration::Memoized(_) | Registration::Ran(_)) => {}
        Some(Registration::Execute(_) | Registration::Park(_)) => pending().await,
    }
}

/// The result a memoized run-type value holds (docs/protocol.md §7.2), decoded into `T` in one
/// pass; `None` when the value is not a result (a `step.run` then runs as a new step).
fn run_result<T: DeserializeOwned>(user_id: &str, raw: &str) -> Option<Result<T, StepError>> {
    match RunMemo::decode(raw) {
        RunMemo::Data(output) => {
            Some(output.map_err(|e| StepError::decode(user_id, "the stored output", &e)))
        }
        RunMemo::Error(body) => Some(Err(StepError::failed(user_id, body))),
        RunMemo::NotCompleted => None,
    }
}

/// The result of a memoized invoke; a value that is not a result is a failed step.
fn decode_run_memo<T: DeserializeOwned>(user_id: &str, raw: &str) -> Result<T, StepError> {
    run_result(user_id, raw).unwrap_or_else(|| {
        Err(StepError::failed(
            user_id,
            ErrorBody {
                name: "Error".into(),
                message: "the step has no stored result".into(),
                stack: None,
            },
        ))
    })
}

/// Serializes a step output as raw JSON; a value that cannot be serialized (a map with
/// non-string keys, a failing `Serialize` impl) is a bug that retries cannot fix.
fn to_raw<T: Serialize + ?Sized>(value: &T) -> Result<Box<RawValue>, Error> {
    serde_json::value::to_raw_value(value).map_err(|e| {
        Error::non_retriable(format!("the step output cannot be serialized as JSON: {e}"))
    })
}

/// The future of an invoke: an immediate failure, the decoded memo, or a park.
async fn invoke_result<Out: DeserializeOwned>(
    user_id: Result<String, StepError>,
    registration: Option<Registration>,
) -> Result<Out, StepError> {
    let user_id = user_id?;
    match registration {
        Some(Registration::Memoized(raw)) => decode_run_memo(&user_id, raw.get()),
        _ => pending().await,
    }
}

/// `Retry-After`: whole seconds (at least 1) or an RFC 3339 instant (docs/protocol.md §4.1).
///
/// Never earlier than asked: a delay counts from when the error happened, `elapsed` after
/// the executor's call started, and the executor counts from about the call's start and may
/// start a retry up to half a second early (measured on the dev server: a retry 2.63 s after
/// `Retry-After: 3`). So the value is the delay plus `elapsed`, rounded up to whole seconds,
/// plus one second.
pub(crate) fn retry_after_value(at: RetryAt, elapsed: Duration) -> String {
    match at {
        RetryAt::Delay(delay) => {
            let total = delay + elapsed;
            let seconds = total.as_secs() + u64::from(total.subsec_nanos() > 0);
            (seconds.max(1) + 1).to_string()
        }
        RetryAt::Instant(instant) => format_rfc3339(instant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_never_asks_for_less_than_the_delay_plus_the_time_spent() {
        let delay = |ms| RetryAt::Delay(Duration::from_millis(ms));
        assert_eq!(retry_after_value(delay(8_000), Duration::ZERO), "9");
        assert_eq!(retry_after_value(delay(1_500), Duration::ZERO), "3");
        assert_eq!(
            retry_after_value(delay(8_000), Duration::from_millis(130)),
            "10"
        );
        assert_eq!(retry_after_value(delay(0), Duration::ZERO), "2");
    }

    #[test]
    fn a_memoized_invoke_result_decodes_into_the_output_type() {
        let value: serde_json::Value =
            decode_run_memo("call", r#"{ "data" : {"first":"a b","second":true} }"#)
                .expect("decodes");
        assert_eq!(value, serde_json::json!({"first": "a b", "second": true}));
    }

    #[test]
    fn a_memoized_invoke_error_or_non_result_is_a_step_error() {
        let error =
            decode_run_memo::<u64>("call", r#"{"error":{"name":"Error","message":"broken"}}"#)
                .expect_err("a step error");
        assert!(error.to_string().contains("broken"), "{error}");
        let error = decode_run_memo::<u64>("call", r#"{"input":[1]}"#).expect_err("no result");
        assert!(error.to_string().contains("no stored result"), "{error}");
        let error = decode_run_memo::<u64>("call", r#"{"data":"x"}"#).expect_err("not a u64");
        assert!(error.to_string().contains("stored output"), "{error}");
    }
}
