//! The time source of an endpoint: signature freshness, `sleep_until`, `Retry-After`.

use chrono::{DateTime, Utc};

/// The time source for signature freshness and `sleep_until`; tests pass a fake clock.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
