//! Where a call runs the middleware's run hooks (docs/protocol.md §7.15): at its start, on its
//! input, and on its answer.

use super::*;
use crate::core::wire::RawJson;
use crate::middleware::{RunError, RunStart};
use crate::step::Shared;

/// `on_run_start`, then `transform_input` on the triggering event and on each event of the
/// run's `events`.
pub(super) fn start_call(
    middleware: &Stack,
    run: &RunContext,
    memoized_steps: usize,
    event: RawJson,
    events: Option<RawJson>,
) -> (RawJson, Option<RawJson>) {
    middleware.on_run_start(&RunStart {
        run,
        memoized_steps,
    });
    let changed = |text: Option<String>| text.and_then(|text| RawJson::parse(text).ok());
    let event = changed(middleware.transform_input(run, event.get())).unwrap_or(event);
    let events = events
        .map(|events| changed(middleware.transform_inputs(run, events.get())).unwrap_or(events));
    (event, events)
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
