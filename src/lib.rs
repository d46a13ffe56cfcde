//! Huckleberry mentorship onboarding service: the app around the Inngest functions.
//!
//! Configuration ([`config`]), start-up ([`startup`]), the route table ([`routes`]), errors
//! as responses ([`error`]), and webhook verification ([`webhooks`]); vendor clients and
//! their dry runs ([`integrations`]), the Discord connection flow ([`discord`]) and its
//! result pages ([`pages`]); the listener's connection limits ([`serve`]) and the public
//! routes' rate limits ([`rate_limit`]).

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
