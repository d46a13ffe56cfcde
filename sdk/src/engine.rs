//! The engine: replays a function for one call request and decides the response
//! (docs/protocol.md §7.3).
//!
//! The handler future is polled with a waker that records whether anything woke it. When it
//! is pending and nothing woke it, every branch is either parked on a step or waiting for
//! real I/O; the handler has *stopped*, and the engine decides:
//! - a step body finished → report its outcome (`StepRun`, `StepError` or `StepFailed`);
//!   with checkpointing, a `StepRun` is posted to the checkpoint API instead and the step
//!   resumed, so the handler goes on (docs/protocol.md §7.14);
//! - discovery found new steps → run a lone `step.run` inline if allowed (§7.7), else report
//!   them all in one `206` (§7.3, parallel steps);
//! - a targeted call has not reached its step → give I/O a bounded grace period, then
//!   answer "step not found" (§7.13);
//! - otherwise the future awaits I/O, and the engine waits for its wake-up.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::client::Client;
use crate::core::checkpoint::{AsyncCheckpoint, Checkpointing, is_checkpointable};
use crate::core::op::Op;
use crate::core::response::CallResponse;
use crate::error::Retry;
use crate::function::HandlerFuture;
use crate::step::{Mode, Shared, Step, StepOutcome, retry_after_value};

/// How long a targeted call waits for its step to be reached while the code awaits I/O
/// outside steps, before answering "step not found" (docs/protocol.md §7.13).
pub(crate) const TARGET_GRACE: Duration = Duration::from_secs(5);

/// How long a discovery call that found new steps while memoized ones are unreached waits
/// for the code to reach them (a branch awaiting I/O outside steps) before it reports a
/// divergence (docs/protocol.md §7.16).
pub(crate) const DIVERGENCE_GRACE: Duration = Duration::from_secs(1);

/// Self-wakes handled in one poll before yielding to the runtime, so a handler that keeps
/// waking itself cannot starve other tasks.
const MAX_SPINS: usize = 32;

/// What a call needs to checkpoint its steps (docs/protocol.md §7.14).
pub(crate) struct Checkpoint {
    pub(crate) options: Checkpointing,
    pub(crate) client: Client,
    pub(crate) run_id: String,
    pub(crate) fn_id: String,
    pub(crate) qi_id: String,
}

/// Drives `handler` for one call and returns the response to send. With `checkpoint`,
/// finished `step.run`s are reported to the Inngest API and the code goes on in the same
/// call; without it, every decision is the classic protocol's.
pub(crate) async fn drive(
    handler: HandlerFuture,
    step: Step,
    checkpoint: Option<Checkpoint>,
) -> CallResponse {
    let mut drive = Drive {
        handler,
        shared: Arc::clone(step.shared()),
        flag: Arc::new(WakeFlag::default()),
        grace: None,
    };
    let mut session = checkpoint.map(|checkpoint| {
        drive.shared.lock().set_checkpointing(true);
        Session::new(checkpoint)
    });
    loop {
        match poll_fn(|cx| drive.poll_stop(cx)).await {
            Stop::Respond(response) => return response,
            Stop::Ran => {
                let Some(outcome) = drive.shared.lock().take_outcome() else {
                    continue;
                };
                let Some(session) = session.as_mut() else {
                    return ops_response(outcome);
                };
                if !is_checkpointable(outcome.op.op) {
                    // A failed step is answered as in the classic protocol (the executor
                    // retries it), after the steps before it are reported.
                    if let Err(fallback) = session.flush().await {
                        return fallback;
                    }
                    return ops_response(outcome);
                }
                let hash = outcome.op.id.clone();
                let output = outcome.op.data.clone().unwrap_or_else(null);
                session.buffer.push(outcome.op);
                if session.should_flush() {
                    if let Err(fallback) = session.flush().await {
                        return fallback;
                    }
                }
                drive.shared.lock().resume(&hash, output);
            }
            Stop::Found => {
                let ops = {
                    let mut state = drive.shared.lock();
                    let found = state.found();
                    let lone = matches!(state.mode(), Mode::Discovery { immediate: true })
                        && found.len() == 1
                        && found[0].runnable;
                    if lone && session.as_ref().is_none_or(|s| !s.runtime_exceeded()) {
                        state.execute_lone_step();
                        continue;
                    }
                    state
                        .take_found()
                        .into_iter()
                        .map(|found| found.op)
                        .collect()
                };
                if let Some(session) = session.as_mut() {
                    if let Err(fallback) = session.flush().await {
                        return fallback;
                    }
                }
                return CallResponse::Ops {
                    ops,
                    no_retry: None,
                    retry_after: None,
                };
            }
            Stop::Returned(result) => {
                // The run ends with the classic answer (`200` with the output, or the
                // error), after the steps not yet reported are checkpointed. The TS SDK
                // ends a checkpointed run with a `RunComplete` op in a `206` instead; the
                // server takes it, but records the whole op list as the run's output, while
                // a `200` is the output everywhere.
                if let Some(session) = session.as_mut() {
                    if let Err(fallback) = session.flush().await {
                        return fallback;
                    }
                }
                if result.is_ok() && drive.shared.checks_determinism() {
                    if let Some(diverged) = drive.shared.returned_without_memoized_steps() {
                        return diverged;
                    }
                }
                return complete(result, drive.shared.elapsed());
            }
        }
    }
}

fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_default()
}

fn ops_response(outcome: StepOutcome) -> CallResponse {
    CallResponse::Ops {
        ops: vec![outcome.op],
        no_retry: outcome.no_retry,
        retry_after: outcome.retry_after,
    }
}

/// The checkpointing state of one call.
struct Session {
    checkpoint: Checkpoint,
    /// Finished steps not yet reported.
    buffer: Vec<Op>,
    started: Instant,
    last_flush: Instant,
}

impl Session {
    fn new(checkpoint: Checkpoint) -> Self {
        let now = Instant::now();
        Session {
            checkpoint,
            buffer: Vec::new(),
            started: now,
            last_flush: now,
        }
    }

    fn should_flush(&self) -> bool {
        self.checkpoint
            .options
            .should_flush(self.buffer.len(), self.last_flush.elapsed())
    }

    fn runtime_exceeded(&self) -> bool {
        self.checkpoint
            .options
            .runtime_exceeded(self.started.elapsed())
    }

    /// Reports the buffered steps. If the API cannot take them, the call ends with the
    /// classic answer carrying them, so none is lost and none runs again.
    async fn flush(&mut self) -> Result<(), CallResponse> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let c = &self.checkpoint;
        let body = AsyncCheckpoint {
            run_id: &c.run_id,
            fn_id: &c.fn_id,
            qi_id: &c.qi_id,
            steps: &self.buffer,
        }
        .to_json();
        match c.client.checkpoint_async(&c.run_id, body).await {
            Ok(()) => {
                tracing::debug!(run_id = %c.run_id, steps = self.buffer.len(), "steps checkpointed");
                self.buffer.clear();
                self.last_flush = Instant::now();
                Ok(())
            }
            Err(error) => {
                tracing::warn!(run_id = %c.run_id, %error, "checkpointing failed; answering the executor with the unreported steps");
                Err(CallResponse::Ops {
                    ops: std::mem::take(&mut self.buffer),
                    no_retry: None,
                    retry_after: None,
                })
            }
        }
    }
}

struct Drive {
    handler: HandlerFuture,
    shared: Arc<Shared>,
    flag: Arc<WakeFlag>,
    grace: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// A waker that notes that it was woken and forwards to the task's waker.
#[derive(Default)]
struct WakeFlag {
    woken: AtomicBool,
    task: std::sync::Mutex<Option<Waker>>,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let task = self
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// Why the handler stopped making progress on its own.
enum Stop {
    /// The answer is decided (a targeted call that did not reach its step).
    Respond(CallResponse),
    /// A step body finished: its outcome is in the run state.
    Ran,
    /// Discovery found new steps, all parked.
    Found,
    /// The handler returned.
    Returned(Result<Box<RawValue>, crate::error::Error>),
}

enum Next {
    Stop(Stop),
    Repoll,
    Wait,
}

impl Drive {
    /// Polls the handler until it stops on its own (see [`Stop`]).
    fn poll_stop(&mut self, cx: &mut Context<'_>) -> Poll<Stop> {
        *self
            .flag
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(cx.waker().clone());
        let waker = Waker::from(Arc::clone(&self.flag));
        for _ in 0..MAX_SPINS {
            self.flag.woken.store(false, Ordering::Release);
            let polled = self.handler.as_mut().poll(&mut Context::from_waker(&waker));
            if let Poll::Ready(result) = polled {
                return Poll::Ready(Stop::Returned(result));
            }
            match self.after_pending() {
                Next::Stop(stop) => return Poll::Ready(stop),
                Next::Repoll => continue,
                Next::Wait => return self.wait(cx),
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Decides what to do after the handler returned `Pending`.
    fn after_pending(&mut self) -> Next {
        let mut state = self.shared.lock();
        if state.has_outcome() {
            return Next::Stop(Stop::Ran);
        }
        if self.flag.woken.load(Ordering::Acquire) {
            return Next::Repoll;
        }
        if state.is_executing() {
            return Next::Wait;
        }
        match state.mode().clone() {
            Mode::Discovery { .. } => {
                if state.found().is_empty() {
                    Next::Wait
                } else if self.shared.checks_determinism() && state.has_unreached_memo() {
                    // docs/protocol.md §7.16: new steps while memoized ones are unreached; a
                    // branch awaiting other I/O may still reach them within a grace period.
                    let grace = self
                        .grace
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(DIVERGENCE_GRACE)));
                    let expired = grace
                        .as_mut()
                        .poll(&mut Context::from_waker(Waker::noop()))
                        .is_ready();
                    if expired {
                        Next::Stop(Stop::Respond(state.diverged_replay()))
                    } else {
                        Next::Wait
                    }
                } else {
                    Next::Stop(Stop::Found)
                }
            }
            Mode::Target(target) => {
                if self.grace.is_none() {
                    self.grace = Some(Box::pin(tokio::time::sleep(TARGET_GRACE)));
                }
                let expired = self.grace.as_mut().is_some_and(|grace| {
                    grace
                        .as_mut()
                        .poll(&mut Context::from_waker(Waker::noop()))
                        .is_ready()
                });
                if expired {
                    let found = state
                        .take_found()
                        .into_iter()
                        .map(|found| found.op.id)
                        .collect();
                    return Next::Stop(Stop::Respond(CallResponse::StepNotFound {
                        requested: target,
                        found,
                    }));
                }
                Next::Wait
            }
        }
    }

    /// Waits for a wake-up: I/O in the handler, or the grace timer of a targeted call.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<Stop> {
        if let Some(grace) = self.grace.as_mut() {
            if grace.as_mut().poll(cx).is_ready() {
                // The timer fired: poll once more so `after_pending` answers.
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    }
}

/// The response for a handler that returned.
fn complete(
    result: Result<Box<serde_json::value::RawValue>, crate::error::Error>,
    elapsed: Duration,
) -> CallResponse {
    match result {
        // The return value was serialized once, into `output`; its buffer becomes the body.
        Ok(output) => CallResponse::Complete(String::from(Box::<str>::from(output)).into_bytes()),
        Err(error) => {
            let retry = error.retry();
            let retry_after = match retry {
                Retry::After(at) => Some(retry_after_value(at, elapsed)),
                Retry::Backoff | Retry::Never => None,
            };
            CallResponse::Error {
                body: error.to_body(),
                retriable: retry != Retry::Never,
                retry_after,
            }
        }
    }
}
