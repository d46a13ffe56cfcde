//! Inngest SDK for Rust.
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
mod step;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use client::{Client, SendError};
pub use config::{Config, EventKey, Mode};
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
pub use step::{SendEventResult, Step, WaitForEvent};
