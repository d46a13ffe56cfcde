//! Huckleberry mentorship onboarding service: the app around the Inngest functions.
//!
//! Configuration ([`config`]), start-up ([`startup`]), the route table ([`routes`]), errors
//! as responses ([`error`]), and webhook verification ([`webhooks`]).

pub mod config;
pub mod error;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod webhooks;
