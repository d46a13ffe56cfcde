//! Where a call runs the middleware's run hooks (docs/protocol.md §7.15): at its start, on its
//! input, and on its answer.

use super::*;
use crate::core::wire::RawJson;
use crate::middleware::{RunError, RunStart};
use crate::step::Shared;

/// `on_run_start`, then `transform_input` on the triggering event.
pub(super) fn start_call(
    middleware: &Stack,
    run: &RunContext,
    memoized_steps: usize,
    event: RawJson,
) -> RawJson {
    middleware.on_run_start(&RunStart {
        run,
        memoized_steps,
    });
    match middleware
        .transform_input(run, event.get())
        .and_then(|changed| RawJson::parse(changed).ok())
    {
        Some(changed) => changed,
        None => event,
    }
}

/// `after_execution`, then `transform_output` and `on_run_complete`, or `on_run_error`.
pub(super) fn end_call(shared: &Shared, mut response: CallResponse) -> CallResponse {
    shared.end_new_code();
    let run = shared.run_context();
    match &mut response {
        CallResponse::Complete(output) => {
            if let Some(changed) = shared.middleware().complete(run, output) {
                *output = changed;
            }
        }
        CallResponse::Error {
            body, retriable, ..
        } => shared.middleware().on_run_error(
            run,
            &RunError {
                name: &body.name,
                message: &body.message,
                retriable: *retriable,
            },
        ),
        CallResponse::Ops { .. } | CallResponse::StepNotFound { .. } => {}
    }
    response
}
