//! Huckleberry onboarding workflows on Inngest: the typed events they exchange (DESIGN §3), and
//! later the ports and functions that consume them.

pub mod events;
pub mod ports;
