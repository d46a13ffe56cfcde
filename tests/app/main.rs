//! The app's integration tests: one test binary, the real app on port 0.

mod binary;
mod health;
mod support;
mod webhooks;
