//! Inngest SDK for Rust: durable functions served over the Inngest HTTP protocol.
//!
//! A function is declared with [`FunctionOpts`] (id, triggers, retries, flow control) and
//! an async handler that receives the typed event ([`Input`]) and a [`Step`] tool. Every
//! step is durable: Inngest calls the app when the run needs it, the SDK replays the
//! handler, and completed steps return their stored result instead of running again
//! (steps are checkpointed as they finish: see [Checkpointing](#checkpointing)). An [`Endpoint`]
//! serves the functions at one URL (`GET` introspection, `PUT` sync, `POST` execution);
//! the `axum` feature mounts it on an axum router. The `testing` feature adds a fake
//! executor that drives functions to completion in tests, with a controllable clock.
//!
//! The protocol this crate implements is described in `docs/protocol.md` at the root of its
//! repository; comments in the code cite its sections as `docs/protocol.md §N`, and
//! `sdk/ARCHITECTURE.md` explains how the crate is put together.
//!
//! # A function with several kinds of steps
//!
//! ```
//! use std::time::Duration;
//!
//! use inngest_sdk::{
//!     Client, Config, Endpoint, Error, Event, Function, FunctionOpts, FunctionRef, Input,
//!     Step, Trigger, WaitForEvent,
//! };
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Serialize, Deserialize)]
//! struct Signup {
//!     user_id: String,
//!     email: String,
//! }
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Verified {
//!     user_id: String,
//! }
//!
//! /// Another function of this app, invoked with typed input and output.
//! const SCORE_LEAD: FunctionRef<Signup, u32> = FunctionRef::new("score-lead");
//!
//! fn onboarding() -> Function {
//!     Function::new(
//!         FunctionOpts::new("onboarding")
//!             .name("Onboard a new user")
//!             .trigger(Trigger::event("user/signed.up"))
//!             .retries(3)
//!             .idempotency("event.data.user_id"),
//!         |input: Input<Signup>, step: Step| async move {
//!             let signup = input.event.data;
//!
//!             // A step's output is stored; on replay the closure does not run again.
//!             let email = signup.email.clone();
//!             let message_id: String = step
//!                 .run("send-welcome-email", move || async move {
//!                     // Call the mail API here; `?` on any error means "retry".
//!                     Ok::<_, Error>(format!("msg-for-{email}"))
//!                 })
//!                 .await?;
//!
//!             // Wait up to two days for the user to verify; `None` on timeout.
//!             let verified = step
//!                 .wait_for_event::<Verified>(
//!                     "wait-for-verification",
//!                     WaitForEvent::new("user/email.verified", Duration::from_secs(2 * 86_400))
//!                         .if_exp("async.data.user_id == event.data.user_id"),
//!                 )
//!                 .await?;
//!             if verified.is_none() {
//!                 step.sleep("grace-period", Duration::from_secs(3_600)).await;
//!             }
//!
//!             // Invoke another function and use its typed result.
//!             let score = step.invoke("score", &SCORE_LEAD, &signup, None).await?;
//!
//!             // Send an event durably: a retried run does not send it twice.
//!             step.send_event(
//!                 "announce",
//!                 vec![Event::new("user/onboarded", serde_json::json!({ "user_id": signup.user_id }))],
//!             )
//!             .await?;
//!
//!             Ok::<_, Error>(serde_json::json!({ "message_id": message_id, "score": score }))
//!         },
//!     )
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Configuration comes from the standard INNGEST_* variables (Config::from_env()).
//! let client = Client::new(Config::dev());
//! let endpoint = Endpoint::builder("my-app", client)
//!     .function(onboarding())
//!     .build()?;
//! assert_eq!(endpoint.function_ids(), ["my-app-onboarding"]);
//! # Ok(())
//! # }
//! ```
//!
//! With the `axum` feature, serve it with
//! `axum::Router::new().route("/api/inngest", inngest_sdk::axum::serve(endpoint))`.
//!
//! # Errors and retries
//!
//! In a handler or step body, `?` converts any error into [`Error`], which is retried with
//! the executor's backoff. [`Error::non_retriable`] fails at once; [`Error::retry_after`]
//! asks for a later retry. A step that failed for good resolves to a [`StepError`] the code
//! may handle; propagated, it fails the run without further retries.
//!
//! # Pauses are never errors
//!
//! A step that must wait (a new step, a sleep, a wait for an event) parks: its future stays
//! pending, the SDK reports what the run needs, and the request ends. There is no
//! "interrupt" error to propagate, so user code cannot swallow one.
//!
//! # Checkpointing
//!
//! By default (as in the TS SDK v4), a run does not cost one executor call per step: when a
//! `step.run` finishes, the SDK reports it to the Inngest API
//! (`POST /v1/checkpoint/{runID}/async`) and goes on to the next step in the same call.
//! The call is answered when the run needs the executor (a sleep, a wait, an invoke,
//! several steps at once, a step that failed and must be retried), when the function
//! returns, or when the call has run for [`Checkpointing::max_runtime`] (10 s). If the API
//! cannot take a checkpoint, the call answers the steps it could not report the classic
//! way: none is lost, none runs twice. Retries (`ctx.attempt > 0`) and targeted calls are
//! classic.
//!
//! ```
//! use std::time::Duration;
//! use inngest_sdk::{Checkpointing, Config, FunctionOpts};
//!
//! // Per client: other options, or off (`INNGEST_CHECKPOINTING=0` does the same).
//! let config = Config::dev().with_checkpointing(Checkpointing::new().buffered_steps(5));
//! let classic = Config::dev().without_checkpointing();
//! // Per function, whatever the client says.
//! let opts = FunctionOpts::new("import")
//!     .checkpointing(Checkpointing::new().max_runtime(Duration::from_secs(30)));
//! let one_call_per_step = FunctionOpts::new("audit").without_checkpointing();
//! # let _ = (config, classic, opts, one_call_per_step);
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod core;
mod endpoint;
mod engine;
mod error;
mod event;
mod function;
pub mod middleware;
mod step;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use client::{Client, SendError, SignalSent};
pub use config::{Config, EventKey, Mode};
pub use core::checkpoint::Checkpointing;
pub use core::config::{
    BatchEvents, Cancel, Concurrency, ConcurrencyScope, Debounce, FunctionOpts, Priority,
    RateLimit, Singleton, SingletonMode, Throttle, Timeouts, Trigger,
};
pub use core::signature::SigningKey;
pub use endpoint::{
    BuildError, Clock, DEFAULT_MAX_BODY_BYTES, Endpoint, EndpointBuilder, SyncError, SystemClock,
};
pub use error::{Error, Retry, RetryAt, StepError};
pub use event::{Event, FunctionFailed};
pub use function::{Function, FunctionRef, Input, RunContext};
pub use middleware::Middleware;
pub use step::{
    Ai, AiModel, ChatChoice, ChatMessage, ChatRequest, ChatResponse, ChatUsage, FetchRequest,
    FetchResponse, SendEventResult, Signal, SignalConflict, Step, WaitForEvent, WaitForSignal,
};
