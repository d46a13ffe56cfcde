//! Where the step tool calls middleware (docs/protocol.md §7.15): the `before_execution`
//! bookkeeping of one call and the step a `wrap_step` sees.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Registration, Shared};
use crate::middleware::{BoxFuture, Stack, StepInfo, StepResult};
use crate::run::RunContext;

impl Shared {
    /// A step body inside every middleware's `wrap_step`, boxed: the step's own future stays
    /// as small as without middleware. The body may borrow from the handler (`'b`), as
    /// `Step::run`'s may.
    pub(super) fn wrapped_step<'b>(
        shared: Arc<Shared>,
        user_id: String,
        index: u32,
        body: impl Future<Output = StepResult> + Send + 'b,
    ) -> BoxFuture<'b, StepResult> {
        Box::pin(async move {
            let info = StepInfo {
                run: shared.run.clone(),
                id: user_id,
                index,
            };
            shared.middleware.wrap_step(&info, Box::pin(body)).await
        })
    }
}

impl<R> Registration<R> {
    /// Whether the step is new in this call (not replayed from the memo).
    #[inline]
    pub(super) fn is_new(&self) -> bool {
        matches!(self, Registration::Execute(_) | Registration::Park(_))
    }
}

impl Shared {
    /// After a step registered: new code runs from here when the step is new or the memo
    /// has been replayed completely.
    #[inline]
    pub(super) fn after_registration(&self, new: bool) {
        if self.middleware.is_empty() {
            return;
        }
        if new || self.lock().memo.is_empty() {
            self.start_new_code();
        }
    }

    /// Reports `before_execution` once per call.
    pub(crate) fn start_new_code(&self) {
        if !self.executing_new_code.swap(true, Ordering::AcqRel) {
            self.middleware.before_execution(&self.run);
        }
    }

    /// Reports `after_execution` when `before_execution` was reported.
    pub(crate) fn end_new_code(&self) {
        if self.executing_new_code.load(Ordering::Acquire) {
            self.middleware.after_execution(&self.run);
        }
    }

    /// The run's middleware.
    pub(crate) fn middleware(&self) -> &Stack {
        &self.middleware
    }

    /// The run this call belongs to.
    pub(crate) fn run_context(&self) -> &RunContext {
        &self.run
    }
}
