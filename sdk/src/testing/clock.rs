//! The fake executor's clock: it moves only when the test says so.

use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};

use crate::clock::Clock;

/// A [`Clock`] that stands still until [`FakeExecutor::advance`] moves it.
///
/// It starts at [`FakeClock::DEFAULT_START`] (2026-01-01T00:00:00Z) so that runs, ids and
/// signatures are the same on every test run. Give it to the endpoint under test with
/// [`EndpointBuilder::clock`], so that `sleep_until`, signature freshness and the fake's
/// timers agree on what "now" is.
///
/// [`FakeExecutor::advance`]: super::FakeExecutor::advance
/// [`EndpointBuilder::clock`]: crate::EndpointBuilder::clock
#[derive(Debug)]
pub struct FakeClock {
    now: Mutex<DateTime<Utc>>,
}

impl FakeClock {
    /// 2026-01-01T00:00:00Z, in Unix seconds.
    pub const DEFAULT_START: i64 = 1_767_225_600;

    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        FakeClock {
            now: Mutex::new(start),
        }
    }

    /// The current fake time.
    pub fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }

    /// Moves the clock to `t` (never backwards). Only the executor moves its clock, so its
    /// timers fire in order.
    pub(crate) fn set(&self, t: DateTime<Utc>) {
        let mut now = self.lock();
        if t > *now {
            *now = t;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        let start = Utc
            .timestamp_opt(Self::DEFAULT_START, 0)
            .single()
            .unwrap_or_default();
        FakeClock::new(start)
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        FakeClock::now(self)
    }
}
