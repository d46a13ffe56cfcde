//! The engine: replays a function for one call request and decides the response
//! (protocol §7.3).
//!
//! The handler future is polled with a waker that records whether anything woke it. When it
//! is pending and nothing woke it, every branch is either parked on a step or waiting for
//! real I/O. Then:
//! - a step body finished → report its outcome (`StepRun`, `StepError` or `StepFailed`);
//! - discovery found new steps → run a lone `step.run` inline if allowed (§7.7), else report
//!   them all in one `206` (§7.3, parallel steps);
//! - a targeted call has not reached its step → give I/O a bounded grace period, then
//!   answer "step not found" (§7.13);
//! - otherwise the future awaits I/O, and the engine waits for its wake-up.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crate::core::response::CallResponse;
use crate::error::Retry;
use crate::function::HandlerFuture;
use crate::step::{Mode, Shared, Step, retry_after_value};

/// How long a targeted call waits for its step to be reached while the code awaits I/O
/// outside steps, before answering "step not found" (protocol §7.13).
pub(crate) const TARGET_GRACE: Duration = Duration::from_secs(5);

/// Self-wakes handled in one poll before yielding to the runtime, so a handler that keeps
/// waking itself cannot starve other tasks.
const MAX_SPINS: usize = 32;

/// Drives `handler` for one call and returns the response to send.
pub(crate) async fn drive(handler: HandlerFuture, step: Step) -> CallResponse {
    Drive {
        handler,
        shared: Arc::clone(step.shared()),
        flag: Arc::new(WakeFlag::default()),
        grace: None,
    }
    .await
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

impl Future for Drive {
    type Output = CallResponse;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CallResponse> {
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
                return Poll::Ready(complete(result, self.shared.elapsed()));
            }
            match self.after_pending() {
                Next::Respond(response) => return Poll::Ready(response),
                Next::Repoll => continue,
                Next::Wait => return self.wait(cx),
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

enum Next {
    Respond(CallResponse),
    Repoll,
    Wait,
}

impl Drive {
    /// Decides what to do after the handler returned `Pending`.
    fn after_pending(&mut self) -> Next {
        let mut state = self.shared.lock();
        if let Some(outcome) = state.take_outcome() {
            return Next::Respond(CallResponse::Ops {
                ops: vec![outcome.op],
                no_retry: outcome.no_retry,
                retry_after: outcome.retry_after,
            });
        }
        if self.flag.woken.load(Ordering::Acquire) {
            return Next::Repoll;
        }
        if state.is_executing() {
            return Next::Wait;
        }
        match state.mode().clone() {
            Mode::Discovery { immediate } => {
                let found = state.found();
                if found.is_empty() {
                    return Next::Wait;
                }
                if immediate && found.len() == 1 && found[0].runnable {
                    state.execute_lone_step();
                    return Next::Repoll;
                }
                let ops = state
                    .take_found()
                    .into_iter()
                    .map(|found| found.op)
                    .collect();
                Next::Respond(CallResponse::Ops {
                    ops,
                    no_retry: None,
                    retry_after: None,
                })
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
                    return Next::Respond(CallResponse::StepNotFound {
                        requested: target,
                        found,
                    });
                }
                Next::Wait
            }
        }
    }

    /// Waits for a wake-up: I/O in the handler, or the grace timer of a targeted call.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<CallResponse> {
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
    result: Result<Box<serde_json::value::RawValue>, crate::Error>,
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
