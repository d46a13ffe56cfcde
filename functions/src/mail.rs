//! Sending an email from a step: the idempotency key, and link expiry.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use inngest_sdk::Error;

use crate::ports::{Mailer, OutgoingEmail};

/// The mailer's idempotency key for the email a step sends: `<function>/<run id>/<step id>`.
/// A retried step (say, a timeout after Resend accepted the email) sends the same key, so
/// Resend returns the first message id instead of sending again.
pub(crate) fn idempotency_key(function_id: &str, run_id: &str, step_id: &str) -> String {
    format!("{function_id}/{run_id}/{step_id}")
}

/// Sends `email` with `key`; port errors keep their retry decision.
pub(crate) async fn send(
    mailer: &dyn Mailer,
    email: &OutgoingEmail,
    key: &str,
) -> Result<String, Error> {
    Ok(mailer.send(email, key).await?)
}

/// When a link made `now` and valid for `validity` expires.
pub(crate) fn expires_at(now: DateTime<Utc>, validity: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(validity)
        .ok()
        .and_then(|delta| now.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whole days of `validity`, rounded up, for "the link works for N days".
pub(crate) fn days(validity: Duration) -> u64 {
    validity.as_secs().div_ceil(86_400)
}
