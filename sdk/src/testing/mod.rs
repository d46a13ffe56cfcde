//! Test support for functions built on this SDK: a fake executor.
//!
//! [`FakeExecutor`] is an in-process stand-in for the Inngest server. It drives your
//! functions to completion through the app's real serve endpoint ([`Endpoint::handle`],
//! or any app over HTTP), with call requests shaped exactly like the real executor's
//! (docs/protocol.md §4.2, §7.1), and records every call, step and event so tests can assert on
//! what Inngest would observe. Time is fake: nothing sleeps for real, and
//! [`FakeExecutor::advance`] is the only way time moves.
//!
//! ```
//! use std::time::Duration;
//!
//! use inngest_sdk::testing::{FakeExecutor, RunStatus};
//! use inngest_sdk::{
//!     Client, Config, Endpoint, Error, Event, Function, FunctionOpts, Input, Step, Trigger,
//! };
//! use serde_json::{Value, json};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let reminder = Function::new(
//!     FunctionOpts::new("reminder").trigger(Trigger::event("user/signed.up")),
//!     |input: Input<Value>, step: Step| async move {
//!         step.sleep("wait-a-day", Duration::from_secs(24 * 3600)).await;
//!         let email = input.event.data["email"].as_str().unwrap_or_default().to_owned();
//!         let sent = step
//!             .run("send-email", move || async move {
//!                 Ok::<_, Error>(format!("reminded {email}"))
//!             })
//!             .await?;
//!         Ok::<_, Error>(sent)
//!     },
//! );
//!
//! // The fake serves the event API and the API the SDK calls; point the client at it and
//! // give the endpoint its clock.
//! let inngest = FakeExecutor::start().await;
//! let client = Client::new(Config::dev().with_base_url(inngest.url()));
//! let endpoint = Endpoint::builder("app", client)
//!     .clock(inngest.clock())
//!     .function(reminder)
//!     .build()?;
//! inngest.serve(endpoint).await?;
//!
//! let runs = inngest
//!     .send(Event::new("user/signed.up", json!({"email": "ada@example.com"})))
//!     .await;
//! inngest.run_until_idle().await;
//! assert_eq!(inngest.run(&runs[0]).status, RunStatus::Sleeping);
//!
//! inngest.advance(Duration::from_secs(24 * 3600)).await;
//! let run = inngest.run(&runs[0]);
//! assert_eq!(run.status, RunStatus::Completed);
//! assert_eq!(run.output, Some(json!("reminded ada@example.com")));
//! assert_eq!(run.step_ids(), ["wait-a-day", "send-email"]);
//! // Discovery: Sleep; then discovery: "send-email" runs, is checkpointed (protocol
//! // §7.14) and the function returns in the same call: 200 (classic: a third call).
//! assert_eq!(run.calls.len(), 2);
//! assert_eq!(inngest.checkpoints().len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Driving
//!
//! [`FakeExecutor::send`] records an event and starts the runs it triggers;
//! [`FakeExecutor::run_until_idle`] makes calls, one at a time in a deterministic (FIFO)
//! order, until every run is finished or waits on time or events;
//! [`FakeExecutor::advance`] moves the clock, stopping at each timer on the way. Events an
//! app sends while a call is in flight (a `send_event` step, a [`Client`](crate::Client))
//! are only recorded, then processed between calls.
//!
//! # What is modelled
//!
//! - Triggers: event name (with a trailing `*` wildcard) and `expression` over `event`.
//!   Cron triggers never fire by themselves: start such functions with
//!   [`FakeExecutor::invoke`].
//! - Event `id` dedupe and the function `idempotency` key, each for 24 h of fake time.
//! - Cancellation (`cancel`: event, `if` over `event` and `async`, `timeout`); a cancelled
//!   run gets no further calls and emits `inngest/function.cancelled`.
//! - Responses (§7.5): `200` completes; `206` ops `StepRun`, `StepError` (retried with
//!   `ctx.attempt + 1` until `steps.step.retries.attempts + 1` attempts, or at once failed
//!   with `X-Inngest-No-Retry: true`), `StepFailed`, `StepPlanned` (targeted calls with
//!   `disable_immediate_execution: true` for the rest of the run; request-version-2
//!   coalescing: the next discovery waits for every planned sibling), `Sleep`,
//!   `WaitForEvent` (only events received after the pause match), `InvokeFunction` (with
//!   timeout), `RunComplete`, `DiscoveryRequest`. Ops for a step already pending are
//!   ignored. Other statuses are function-level errors, retried unless
//!   `X-Inngest-No-Retry: true`; a `2xx` without `X-Inngest-SDK` is an error too.
//! - Retries happen on the next call with no backoff, except that a `Retry-After` (clamped
//!   to 1 s – 24 h) is honoured on the fake clock: [`FakeExecutor::advance`] reaches it.
//! - Failure: `inngest/function.failed` (id = run id) triggers `on_failure` handlers; every
//!   finished run emits `inngest/function.finished`, which resumes invokers.
//! - Cloud mode with [`FakeExecutorBuilder::with_signing_key`] (signed calls and syncs,
//!   bearer required on the API) and large-payload mode with
//!   [`FakeExecutorBuilder::use_api`] (§7.10).
//! - Async checkpointing (docs/protocol.md §7.14): `POST /v1/checkpoint/{runID}/async` records
//!   the `StepRun` ops of a run while its call is in flight (the steps show
//!   [`StepRecord::checkpointed`]), refuses other opcodes (`400`), a wrong `fn_id` (`400`),
//!   an unknown run (`404`) and a queue item that is not the call in flight (`409`), and
//!   can be told to fail ([`FakeExecutor::fail_checkpoints`],
//!   [`FakeExecutor::fail_checkpoints_with`]); every request is kept
//!   ([`FakeExecutor::checkpoints`]).
//! - `Gateway` (`step.fetch`) and `AIGateway` (`step.ai().infer`, `openai-chat`) ops
//!   (docs/protocol.md §8.8, §8.9): as the real executor does, the fake makes the HTTP
//!   request itself after the call that reported the op, once per run, memoizes the
//!   response (`{url, status_code, headers, body}`; the model's JSON) and calls back. An
//!   unreachable target, or a non-`2xx` model answer, is a step error: the call is retried
//!   with `ctx.attempt + 1` until the attempts are used up, then the real server's
//!   `GatewayError` / `AIGatewayError` is memoized. Each request is kept on its call's
//!   [`CallRecord::gateway`]; no record holds the AI key (a recorded op's `auth_key` reads
//!   `[redacted]`).
//! - A per-run call limit ([`FakeExecutorBuilder::max_calls_per_run`]) so a looping
//!   function fails instead of hanging the test.
//!
//! Not modelled: concurrency, throttling, rate limits, debounce, batching (every run has
//! one event), priority, singleton, run timeouts, AI formats other than `openai-chat`,
//! streaming (`201`), the synchronous (durable endpoint) checkpoint API, and
//! retry backoff. Syncs must be in band or through `POST /fn/register` during the sync
//! `PUT`.
//!
//! [`Endpoint::handle`]: crate::Endpoint::handle

pub mod conformance;
pub mod expr;
pub mod real;

mod clock;
mod executor;
mod ids;
mod record;
mod server;
mod shared;
mod state;

pub use clock::FakeClock;
pub use executor::{DEFAULT_MAX_CALLS_PER_RUN, FakeError, FakeExecutor, FakeExecutorBuilder};
pub use record::{
    CallRecord, CheckpointRecord, EventSource, GatewayKind, GatewayRecord, ReceivedEvent, RunId,
    RunRecord, RunStatus, StepKind, StepRecord,
};
