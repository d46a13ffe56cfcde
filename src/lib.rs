//! Huckleberry mentorship onboarding service: the app around the Inngest functions.
//!
//! Leaves first: reading the environment ([`env`](mod@env)), every route path ([`paths`]) and the
//! one clock ([`clock`]); the configuration ([`config`]); thin vendor clients and their dry runs
//! ([`integrations`]). The features: webhook verification and routes ([`webhooks`]), the
//! Discord connection flow ([`discord`]) and its result pages ([`pages`]). Each feature's
//! own state ([`state`]), the route table ([`routes`]), errors as responses ([`error`]), the
//! listener's connection limits ([`serve`]) and rate limits ([`rate_limit`]); [`startup`] is
//! the one place that wires it all. No two modules import each other (`tests/layout.rs`).

pub mod cli;
pub mod clock;
pub mod config;
pub mod discord;
pub mod env;
pub mod error;
pub mod integrations;
pub mod pages;
pub mod paths;
pub mod rate_limit;
pub mod routes;
pub mod serve;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod webhooks;
