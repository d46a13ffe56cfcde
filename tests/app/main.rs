//! The app's integration tests: one test binary, the real app on port 0.

mod binary;
mod browser;
mod cli;
mod clients;
mod clock;
mod connections;
mod discord_flow;
mod dry_run;
mod e2e;
mod forgery;
mod health;
mod hostile;
mod inngest_stand_in;
mod journey;
mod load;
#[cfg(feature = "otel")]
mod otel;
mod process;
mod rate_limits;
mod secrets;
mod security_headers;
mod stand_in;
mod support;
mod webhooks;
