//! The vendor clients, one thin client per vendor (docs/design.md §8 rule 9), each
//! implementing the port its callers use, and the dry-run stand-ins of those ports for
//! development without credentials (docs/design.md §6). Nothing here reaches back into the
//! app's routes, their state or start-up: a client imports only the leaves (`env`, `paths`)
//! and the port it implements (the functions' ports; the PayPal verifier's certificate
//! source). `startup` picks live or dry run and hands them out.

pub mod clerk;
pub mod config;
pub mod discord;
pub mod dry_run;
pub mod http;
pub mod paypal;
pub mod resend;
