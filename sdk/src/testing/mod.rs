//! Test support for functions built on this SDK: the pieces the fake executor is made of.

pub mod expr;

mod clock;
mod executor;
mod ids;
mod record;
mod server;
mod state;

pub use clock::FakeClock;
pub use executor::{DEFAULT_MAX_CALLS_PER_RUN, FakeError, FakeExecutor, FakeExecutorBuilder};
pub use record::{
    CallRecord, EventSource, ReceivedEvent, RunId, RunRecord, RunStatus, StepKind, StepRecord,
};
