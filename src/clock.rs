//! "Now" for the whole app, created once in `startup` and handed to every part that reads the
//! time: emailed links' expiry and the OAuth state's age (the Discord routes), the signature
//! timestamp tolerance (the webhook routes), and the functions' link expiry and metadata
//! dates (through their `Deps`). Tests inject a [`ManualClock`] and move it, so expiry is
//! tested without sleeping.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

/// The app's clock. Cheap to clone; every clone reads the same source.
#[derive(Clone)]
pub struct Clock(Arc<dyn inngest_sdk::Clock>);

impl Clock {
    /// The system clock (production).
    #[must_use]
    pub fn system() -> Self {
        Clock(Arc::new(inngest_sdk::SystemClock))
    }

    /// A clock that always says `now`.
    #[must_use]
    pub fn fixed(now: DateTime<Utc>) -> Self {
        Clock::from(ManualClock::new(now))
    }

    /// The current time.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }

    /// The same clock as the functions' `Deps` take it.
    #[must_use]
    pub fn as_source(&self) -> Arc<dyn inngest_sdk::Clock> {
        Arc::clone(&self.0)
    }
}

impl From<ManualClock> for Clock {
    fn from(manual: ManualClock) -> Self {
        Clock(Arc::new(manual))
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

/// A clock that moves only when told; clones share the time. For tests: build the app with
/// `Clock::from(manual.clone())` and [`advance`](ManualClock::advance) the kept handle.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock standing at `start`.
    #[must_use]
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    /// Moves the clock by `by` (backwards when negative).
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

impl inngest_sdk::Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clone_of_a_manual_clock_reads_the_same_time() {
        let start = DateTime::from_timestamp(1_767_225_600, 0).expect("valid");
        let manual = ManualClock::new(start);
        let clock = Clock::from(manual.clone());
        let copy = clock.clone();
        manual.advance(Duration::seconds(601));
        assert_eq!(clock.now(), start + Duration::seconds(601));
        assert_eq!(copy.now(), clock.now());
        assert_eq!(clock.as_source().now(), clock.now());
    }
}
