//! Inngest SDK for Rust: durable functions served over the Inngest HTTP protocol.
//!
//! A function is declared with [`FunctionOpts`] (id, triggers, retries, flow control) and
//! an async handler that receives the typed event ([`Input`]) and a [`Step`] tool. An event's
//! data type names its event ([`EventType`]), so the compiler checks that a trigger, a
//! handler, a wait and a send agree; the string forms remain for names known at run time. Every
//! step is durable: Inngest calls the app when the run needs it, the SDK replays the
//! handler, and completed steps return their stored result instead of running again
//! (steps are checkpointed as they finish: see [Checkpointing](#checkpointing)). An [`Endpoint`]
//! serves the functions at one URL (`GET` introspection, `PUT` sync, `POST` execution);
//! the `axum` feature mounts it on an axum router. The `connect` feature serves the same
//! endpoint over Connect instead: an outbound WebSocket to Inngest's gateway, no public URL
//! ([`connect::connect`]). The `testing` feature adds a fake executor that drives functions
//! to completion in tests, with a controllable clock.
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
//!     Client, Config, Endpoint, Error, Event, EventType, Function, FunctionOpts, FunctionRef,
//!     Input, Step, WaitForEvent,
//! };
//! use serde::{Deserialize, Serialize};
//!
//! /// `user/signed.up`: the data type carries the event's name.
//! #[derive(Debug, Clone, Serialize, Deserialize)]
//! struct Signup {
//!     user_id: String,
//!     email: String,
//! }
//!
//! impl EventType for Signup {
//!     const NAME: &'static str = "user/signed.up";
//! }
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Verified {
//!     user_id: String,
//! }
//!
//! impl EventType for Verified {
//!     const NAME: &'static str = "user/email.verified";
//! }
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Onboarded {
//!     user_id: String,
//! }
//!
//! impl EventType for Onboarded {
//!     const NAME: &'static str = "user/onboarded";
//! }
//!
//! /// Another function of this app, invoked with typed input and output.
//! const SCORE_LEAD: FunctionRef<Signup, u32> = FunctionRef::new("score-lead");
//!
//! fn onboarding() -> Function {
//!     // Triggered by `user/signed.up`, the event type of the handler's input.
//!     Function::for_event(
//!         FunctionOpts::new("onboarding")
//!             .name("Onboard a new user")
//!             .retries(3)
//!             .idempotency("event.data.user_id"),
//!         |input: Input<Signup>, step: Step| async move {
//!             let signup = input.event.data;
//!
//!             // A step's output is stored; on replay the closure does not run again. The
//!             // body borrows the handler's locals: nothing is cloned into it.
//!             let message_id: String = step
//!                 .run("send-welcome-email", || async {
//!                     // Call the mail API here; `?` on any error means "retry".
//!                     Ok::<_, Error>(format!("msg-for-{}", signup.email))
//!                 })
//!                 .await?;
//!
//!             // Wait up to two days for the user to verify; `None` on timeout.
//!             let verified: Option<Event<Verified>> = step
//!                 .wait_for_event(
//!                     "wait-for-verification",
//!                     WaitForEvent::<Verified>::of(Duration::from_secs(2 * 86_400))
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
//!             let onboarded = Onboarded { user_id: signup.user_id };
//!             step.send_event("announce", vec![Event::from_data(onboarded)]).await?;
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
//! `axum::Router::new().route("/api/inngest", inngest_sdk::axum::serve(endpoint))`
//! (`sdk/examples/signup.rs` is a whole app). In cloud mode (no `INNGEST_DEV`) the endpoint
//! needs a signing key: without one, [`EndpointBuilder::build`] fails with
//! [`BuildError::MissingSigningKey`], so the app stops at start-up instead of refusing every
//! call.
//!
//! # Typed events
//!
//! An event's data type implements [`EventType`] to carry the event's name. Then
//! [`Function::for_event`] triggers a function by its handler's input type,
//! [`WaitForEvent::of`] makes a wait resolve to that type, and [`Event::from_data`] names an
//! event after its data: the compiler rejects a handler, a wait or a send whose type and
//! name disagree. [`Trigger::event`], [`WaitForEvent::new`] and [`Event::new`] take names
//! known only at run time. [`Step::invoke`] is typed by its [`FunctionRef`].
//!
//! # Steps borrow
//!
//! A step body may borrow the handler's locals (`|| async { … &signup … }`): the step's
//! future lives inside the handler's, so nothing has to be cloned or moved into it.
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
//!
//! # Streaming
//!
//! Some hosts cut a request that sends nothing for a while (a serverless platform's
//! first-byte timeout, a proxy's idle timeout). With streaming on, a call is answered `201`
//! at once, a space is written every few seconds while the run goes on, and the real answer
//! (status, headers and body, exactly as without streaming) follows as one JSON envelope
//! that the executor applies (`docs/protocol.md §7.11`). Off by default;
//! `INNGEST_STREAMING=1` or [`Config::with_streaming`] turn it on for every endpoint of a
//! client, [`EndpointBuilder::streaming`] for one. [`Endpoint::handle_streaming`] is the
//! framework-neutral entry point (its [`StreamingBody`] is an `http_body::Body`); the axum
//! adapter uses it when streaming is on. Introspection, sync, probes and refused signatures
//! are answered plainly. Streaming keeps one call alive; [`Checkpointing::max_runtime`]
//! decides how long a call keeps starting new steps, so raise it towards the host's hard
//! limit when streaming is on.
//!
//! ```
//! use std::time::Duration;
//!
//! use inngest_sdk::{Client, Config, Endpoint, Error, Function, FunctionOpts, Input, Step, Trigger};
//! use serde_json::Value;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let report = Function::new(
//!     FunctionOpts::new("monthly-report").trigger(Trigger::event("reports/requested")),
//!     |_input: Input<Value>, step: Step| async move {
//!         // One slow step: the connection stays open while it runs.
//!         let rows: u64 = step
//!             .run("aggregate", || async {
//!                 tokio::time::sleep(Duration::from_millis(10)).await;
//!                 Ok::<_, Error>(1200)
//!             })
//!             .await?;
//!         Ok::<_, Error>(rows)
//!     },
//! );
//! let endpoint = Endpoint::builder("reports", Client::new(Config::dev()))
//!     .function(report)
//!     .streaming(true)
//!     // The default is 3 s; a proxy that gives up after 2 s of silence needs less.
//!     .streaming_interval(Duration::from_secs(1))
//!     .build()?;
//! assert!(endpoint.streaming());
//!
//! // With axum (feature `axum`), the adapter streams calls by itself:
//! //     axum::Router::new().route("/api/inngest", inngest_sdk::axum::serve(endpoint));
//! // Any other server sends the body of `handle_streaming` as it comes:
//! let body = br#"{"ctx":{"run_id":"01J","attempt":0,"stack":{"stack":[],"current":0}},
//!     "event":{"name":"reports/requested","data":{}},"steps":{},"version":2}"#;
//! let request = http::Request::post("/api/inngest?fnId=reports-monthly-report&stepId=step")
//!     .body(bytes::Bytes::from_static(body))?;
//! let response = endpoint.handle_streaming(request).await;
//! assert_eq!(response.status(), 201);
//! // Spaces while the step runs, then the envelope of the answer `handle` would give.
//! let sent = axum::body::to_bytes(axum::body::Body::new(response.into_body()), usize::MAX).await?;
//! let envelope: Value = serde_json::from_slice(sent.trim_ascii_start())?;
//! assert_eq!(envelope["status"], 206);
//! let ops: Value = serde_json::from_str(envelope["body"].as_str().unwrap_or_default())?;
//! assert_eq!((ops[0]["op"].as_str(), ops[0]["data"].as_u64()), (Some("StepRun"), Some(1200)));
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
//! ```
//!
//! # Middleware
//!
//! A [`Middleware`] sees every call of a run (`on_run_start`, `before_execution`,
//! `after_execution`), wraps each attempt of a step body (`wrap_step`), may change the
//! input event, step outputs and the function's output, hears how the run ended
//! (`on_run_complete`, `on_run_error`) and sees every event the client sends
//! (`on_send_event`). Several compose as an onion: the client's, then the endpoint's, then
//! the function's (`Function::middleware`), each in registration order, **the first registered
//! outermost** (its `wrap_step` wraps all the others; "after" hooks run innermost first). With
//! none registered they cost one check per call and per step (under 1 % of a call's instructions,
//! `docs/benchmarks.md`); a registered middleware also costs a parse of the triggering event and
//! of the output per call (for `transform_input` / `transform_output`). See [`middleware`] and
//! `docs/protocol.md §7.15`. With the `encryption` feature, `encryption::Encryption` is a
//! ready middleware encrypting step outputs, function outputs and sent events' `data.encrypted`
//! in the official SDKs' `inngest/libsodium` format (`docs/protocol.md §7.17`).
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use inngest_sdk::middleware::{BoxFuture, Next, RunError, StepInfo, StepResult};
//! use inngest_sdk::{Client, Config, Endpoint, Middleware, RunContext};
//!
//! /// Logs every failed step attempt and counts them.
//! #[derive(Default)]
//! struct StepFailures(AtomicU64);
//!
//! impl Middleware for StepFailures {
//!     fn wrap_step<'a>(
//!         &'a self,
//!         step: &'a StepInfo,
//!         next: Next<'a>,
//!     ) -> BoxFuture<'a, StepResult> {
//!         Box::pin(async move {
//!             let result = next.run().await;
//!             if let Err(error) = &result {
//!                 let total = self.0.fetch_add(1, Ordering::Relaxed) + 1;
//!                 tracing::warn!(run_id = %step.run.run_id, step = %step.id,
//!                     attempt = step.run.attempt, total, %error, "step attempt failed");
//!             }
//!             result
//!         })
//!     }
//!
//!     fn on_run_error(&self, run: &RunContext, error: &RunError<'_>) {
//!         tracing::error!(run_id = %run.run_id, error = %error.message, "run failed");
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(Config::dev()).with_middleware(StepFailures::default());
//! let endpoint = Endpoint::builder("my-app", client).build()?;
//! # let _ = endpoint;
//! # Ok(())
//! # }
//! ```
//!
//! # Signals
//!
//! A run waits for a named signal ([`Step::wait_for_signal`], with a timeout and a
//! [`SignalConflict`] policy for a second waiter), and anyone sends it with
//! [`Client::send_signal`] or, durably from another run, [`Step::send_signal`]
//! (`docs/protocol.md §8.7`).
//!
//! ```
//! use std::time::Duration;
//! use inngest_sdk::{
//!     Error, Function, FunctionOpts, Input, SignalConflict, Step, Trigger, WaitForSignal,
//! };
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Approval { approved_by: String }
//!
//! let publish = Function::new(
//!     FunctionOpts::new("publish").trigger(Trigger::event("doc/submitted")),
//!     |input: Input<serde_json::Value>, step: Step| async move {
//!         let doc = input.event.data["id"].as_str().unwrap_or_default().to_owned();
//!         let wait = WaitForSignal::new(format!("approval/{doc}"), Duration::from_secs(86_400))
//!             .on_conflict(SignalConflict::Replace);
//!         match step.wait_for_signal::<Approval>("await-approval", wait).await? {
//!             Some(signal) => Ok::<_, Error>(format!("approved by {}", signal.data.approved_by)),
//!             None => Ok("expired".to_owned()),
//!         }
//!     },
//! );
//! // Elsewhere:
//! // client.send_signal("approval/42", &Approval { approved_by: "ada".into() }).await?;
//! # let _ = publish;
//! ```
//!
//! # Realtime
//!
//! A run streams progress to a browser (`docs/protocol.md §8.10`): [`Step::publish`]
//! publishes a typed message on a channel's [`Topic`] as a durable step (a retried run does
//! not publish it again), [`Client::publish`] does the same from any backend code, and
//! [`Client::subscription_token`] mints the short-lived token a browser opens the server's
//! WebSocket with ([`SubscriptionToken::connect_url`]); each message arrives there as a
//! [`RealtimeMessage`].
//!
//! ```no_run
//! use inngest_sdk::{Client, Config, Error, Function, FunctionOpts, Input, Step, Topic, Trigger};
//!
//! #[derive(serde::Serialize)]
//! struct Progress { percent: u8 }
//!
//! fn progress() -> Topic<Progress> { Topic::new("progress") }
//!
//! let import = Function::new(
//!     FunctionOpts::new("import").trigger(Trigger::event("import/started")),
//!     |input: Input<serde_json::Value>, step: Step| async move {
//!         let id = input.event.data["id"].as_str().unwrap_or_default();
//!         let channel = format!("import:{id}");
//!         step.publish("started", &channel, &progress(), &Progress { percent: 0 }).await?;
//!         let rows = step.run("import", || async { Ok::<_, Error>(42) }).await?;
//!         step.publish("finished", &channel, &progress(), &Progress { percent: 100 }).await?;
//!         Ok::<_, Error>(rows)
//!     },
//! );
//! # let _ = import;
//!
//! // In the backend route a browser calls, after checking it may watch import 7:
//! # async fn route() -> Result<(), inngest_sdk::ApiError> {
//! let client = Client::new(Config::dev());
//! let token = client.subscription_token("import:7", &[progress().name()]).await?;
//! let url = token.connect_url(); // ws://…/v1/realtime/connect?token=…, for the browser
//! # let _ = url;
//! # Ok(())
//! # }
//! ```
//!
//! # Fetch and AI steps
//!
//! [`Step::fetch`] asks the executor to make an HTTP request for the run, and
//! `step.ai().infer` to call an OpenAI-compatible model ([`Ai::infer`]): a slow request
//! costs no worker time, and the response is memoized like a step's output
//! (`docs/protocol.md §8.8`, `§8.9`).
//!
//! ```
//! use inngest_sdk::{
//!     AiModel, ChatMessage, ChatRequest, Error, FetchRequest, Function, FunctionOpts, Input,
//!     Step, Trigger,
//! };
//!
//! let summarize = Function::new(
//!     FunctionOpts::new("summarize").trigger(Trigger::event("page/added")),
//!     |input: Input<serde_json::Value>, step: Step| async move {
//!         let url = input.event.data["url"].as_str().unwrap_or_default().to_owned();
//!         let page = step.fetch("download", FetchRequest::get(url)).await?;
//!         if !page.is_success() {
//!             let status = page.status_code;
//!             return Err(Error::non_retriable(format!("the page answered {status}")));
//!         }
//!         let model = AiModel::openai_compatible("https://api.openai.com/v1", "sk-…");
//!         let request = ChatRequest::new("gpt-4o-mini", vec![
//!             ChatMessage::system("Summarize in one sentence."),
//!             ChatMessage::user(page.body),
//!         ]);
//!         let answer = step.ai().infer("summarize", &model, &request).await?;
//!         Ok::<_, Error>(answer.text().unwrap_or_default().to_owned())
//!     },
//! );
//! # let _ = summarize;
//! ```
//!
//! # Non-determinism detection
//!
//! In dev mode (the dev server, the fake executor), a call whose replay leaves memoized
//! steps unreached while it finds new steps (after a one-second grace for I/O outside
//! steps) or returns fails the run with a non-retriable `NonDeterminismError` naming the
//! steps: a step renamed, reordered or skipped between attempts is found at once, where the
//! official SDKs only warn. Parallel steps and branches on memoized outputs are
//! deterministic and pass (`docs/protocol.md §7.16`).
//!
//! ```
//! use inngest_sdk::{Client, Config, Endpoint};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // On by default in dev mode, off in cloud mode; either can be overridden.
//! let endpoint = Endpoint::builder("my-app", Client::new(Config::dev()))
//!     .determinism_check(false)
//!     .build()?;
//! # let _ = endpoint;
//! # Ok(())
//! # }
//! ```
//!
//! # Tracing and OpenTelemetry
//!
//! Every call runs in a `tracing` span `run` (`function`, `run_id`, `attempt`) and every
//! `step.run` body in a `step` span inside it, so what a handler logs names its run and step.
//! The `otel` feature goes further (`docs/protocol.md §14`): the `run` span becomes a child of
//! the executor's span (the call's `traceparent`), events sent with [`Client::send`] and
//! `step.send_event` carry the current span's `traceparent`/`tracestate`, and
//! `otel::inject_context` adds them to any other request. `otel::Otel` exports the spans over
//! OTLP/HTTP protobuf to a collector (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`) and,
//! with `user_traces`, sends each run's spans to Inngest, where they appear in the run's
//! trace. To watch them locally, run a collector such as Jaeger all-in-one (OTLP/HTTP on
//! port 4318, UI on 16686) and set `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`.
//!
//! ```
//! # #[cfg(feature = "otel")]
//! # async fn app() -> Result<(), Box<dyn std::error::Error>> {
//! use inngest_sdk::otel::{Otel, inject_context};
//! use inngest_sdk::{Client, Config, Endpoint, Error, Function, FunctionOpts, Input, Step, Trigger};
//! use serde_json::Value;
//! use tracing::Instrument as _;
//! use tracing_subscriber::layer::SubscriberExt as _;
//! use tracing_subscriber::util::SubscriberInitExt as _;
//!
//! let client = Client::new(Config::from_env()?);
//! // Reads OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS and OTEL_SERVICE_NAME;
//! // `user_traces` also sends each run's spans to Inngest. Build it inside the runtime.
//! let otel = Otel::from_env()?.user_traces(client.clone()).build()?;
//! tracing_subscriber::registry().with(otel.layer()).init();
//!
//! let checkout = Function::new(
//!     FunctionOpts::new("checkout").trigger(Trigger::event("shop/checkout")),
//!     |_input: Input<Value>, step: Step| async move {
//!         let receipt = step
//!             .run("charge", || async {
//!                 // The app's own span: a child of the `step` span, in the executor's trace.
//!                 async {
//!                     // Headers for the payment provider's request: its spans join ours.
//!                     let mut headers = http::HeaderMap::new();
//!                     inject_context(&mut headers);
//!                     Ok::<_, Error>(format!("charged with {} trace headers", headers.len()))
//!                 }
//!                 .instrument(tracing::info_span!("payment-provider", provider = "acme"))
//!                 .await
//!             })
//!             .await?;
//!         Ok::<_, Error>(receipt)
//!     },
//! );
//! let endpoint = Endpoint::builder("shop", client).function(checkout).build()?;
//! // … serve `endpoint` (feature `axum`) until the process is asked to stop, then:
//! # drop(endpoint);
//! otel.shutdown().await; // sends the spans still queued
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod client;
mod clock;
pub mod config;
mod core;
mod endpoint;
mod engine;
mod error;
mod event;
mod function;
pub mod middleware;
mod realtime;
mod run;
mod step;
mod trace_context;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

#[cfg(feature = "connect")]
#[cfg_attr(docsrs, doc(cfg(feature = "connect")))]
pub mod connect;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

#[cfg(feature = "encryption")]
#[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
pub mod encryption;

#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;

/// Not public API: the sans-IO wire layer, reachable only for this crate's own fuzz targets,
/// benches and protocol tests (which craft call requests and signatures by hand). Nothing here
/// is stable or documented; applications use the crate root.
#[doc(hidden)]
pub mod __private {
    pub use crate::core::{checkpoint, config, hash, op, response, signature, sync, time, wire};
}

pub use client::{ApiError, Client, SendError, SignalSent};
pub use clock::{Clock, SystemClock};
pub use config::{Config, ConfigError, EventKey, Mode};
pub use core::checkpoint::Checkpointing;
pub use core::config::{
    BatchEvents, Cancel, Concurrency, ConcurrencyScope, Debounce, FunctionOpts, Priority,
    RateLimit, Singleton, SingletonMode, Throttle, Timeouts, Trigger,
};
pub use core::signature::{KeyError, SigningKey};
pub use core::time::{TimeError, parse_duration};
pub use core::wire::ErrorBody;
pub use endpoint::stream::StreamingBody;
pub use endpoint::{
    BuildError, DEFAULT_MAX_BODY_BYTES, DEFAULT_STREAMING_INTERVAL, Endpoint, EndpointBuilder,
    SyncError,
};
pub use error::{Error, Retry, RetryAt, StepError};
pub use event::{Event, EventType, FunctionFailed};
pub use function::{Function, Input};
pub use middleware::Middleware;
pub use realtime::{RealtimeMessage, SubscriptionToken, Topic};
pub use run::{FunctionRef, RunContext};
pub use step::ai::{Ai, AiModel, ChatChoice, ChatMessage, ChatRequest, ChatResponse, ChatUsage};
pub use step::fetch::{FetchRequest, FetchResponse};
pub use step::signal::{Signal, SignalConflict, WaitForSignal};
pub use step::{SendEventResult, Step, WaitForEvent};
