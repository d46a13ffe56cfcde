//! The onboarding functions driven end to end by the SDK's fake executor, with recording
//! fakes of Clerk, Resend, Discord and the link signer (issue 3, "Tests"). Assertions are on
//! what a buyer, staff or a peer observes: emails, metadata, role grants, events, run status.
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

mod bounced;
mod follow_up;
mod onboarding;
mod support;
