//! What the functions call out to: the vendor ports and the clock, injected by the app (live
//! or dry run) and by the tests (fakes).

use std::fmt;
use std::sync::Arc;

use inngest_sdk::{Clock, SystemClock};

use crate::ports::{ConnectLinks, DiscordGuild, Mailer, UserDirectory};

/// The ports the functions use, and the clock that dates links and metadata.
#[derive(Clone)]
pub struct Deps {
    /// The user directory (Clerk).
    pub users: Arc<dyn UserDirectory>,
    /// The mailer (Resend).
    pub mailer: Arc<dyn Mailer>,
    /// The Discord guild (bot token).
    pub guild: Arc<dyn DiscordGuild>,
    /// Signs the Discord connection links emails carry.
    pub links: Arc<dyn ConnectLinks>,
    /// "Now" for link expiry and metadata timestamps; tests pass the fake executor's clock
    /// so both follow fake time.
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    /// The ports, with the system clock.
    pub fn new(
        users: Arc<dyn UserDirectory>,
        mailer: Arc<dyn Mailer>,
        guild: Arc<dyn DiscordGuild>,
        links: Arc<dyn ConnectLinks>,
    ) -> Self {
        Self {
            users,
            mailer,
            guild,
            links,
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

impl fmt::Debug for Deps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps").finish_non_exhaustive()
    }
}
