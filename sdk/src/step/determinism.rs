//! Non-determinism detection (docs/protocol.md §7.16): a replay that does not reach its
//! memoized steps, while it finds new ones or returns, diverged from the code that made the
//! memo. Reported as a non-retriable `NonDeterminismError` naming the steps, where the
//! official SDKs only warn.

use super::{RunState, Shared, Step};
use crate::core::op::Op;
use crate::core::response::CallResponse;
use crate::core::wire::ErrorBody;

/// The error name a diverged replay fails with.
pub(crate) const NON_DETERMINISM_ERROR: &str = "NonDeterminismError";

impl Step {
    /// Turns the check on or off for this call (a fresh step tool only).
    pub(crate) fn with_determinism_check(mut self, on: bool) -> Self {
        if let Some(shared) = std::sync::Arc::get_mut(&mut self.shared) {
            shared.check_determinism = on;
        }
        self
    }
}

impl Shared {
    /// Whether this call checks its replay.
    pub(crate) fn checks_determinism(&self) -> bool {
        self.check_determinism
    }

    /// The answer for a handler that returned while memoized steps were never reached, if
    /// any were (docs/protocol.md §7.16).
    pub(crate) fn returned_without_memoized_steps(&self) -> Option<CallResponse> {
        let state = self.lock();
        if state.memo.is_empty() {
            return None;
        }
        Some(diverged(format!(
            "the function returned without reaching {} memoized step(s) {}: a step that ran in an \
             earlier attempt was skipped, so the code is not deterministic",
            state.memo.len(),
            list(&state.memo.hashes()),
        )))
    }
}

impl RunState {
    /// Whether memoized steps have not been reached yet.
    pub(crate) fn has_unreached_memo(&self) -> bool {
        !self.memo.is_empty()
    }

    /// The answer for a replay that found new steps where memoized ones were never
    /// reached (docs/protocol.md §7.16).
    pub(crate) fn diverged_replay(&self) -> CallResponse {
        let found: Vec<&Op> = self.found.iter().map(|found| &found.op).collect();
        let new = found
            .iter()
            .map(|op| format!("\"{}\" ({})", op.name, op.id))
            .collect::<Vec<_>>()
            .join(", ");
        diverged(format!(
            "the function diverged from its memoized steps: memoized step(s) {} were never \
             reached, and new step(s) {new} were found in their place (steps reordered, \
             renamed or skipped between attempts: the code is not deterministic)",
            list(&self.memo.hashes()),
        ))
    }
}

fn list(hashes: &[String]) -> String {
    format!("[{}]", hashes.join(", "))
}

fn diverged(message: String) -> CallResponse {
    tracing::error!(error = %message, "non-deterministic function");
    CallResponse::Error {
        body: ErrorBody {
            name: NON_DETERMINISM_ERROR.into(),
            message,
            stack: None,
        },
        retriable: false,
        retry_after: None,
    }
}
