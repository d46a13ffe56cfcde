//! Huckleberry mentorship onboarding service: webhook verification and (later) routes.

pub mod webhooks;
