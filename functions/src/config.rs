//! What the functions are configured with: reminder timing, link validity, the staff address,
//! Discord roles and the academy's branding (docs/design.md §4 gives the defaults).

use std::time::Duration;

use url::Url;

use crate::events::MentorshipKind;
use crate::ids::RoleId;
use crate::ports::EmailAddress;

/// Retries of every function after the first attempt (Inngest's default, stated so the
/// dashboard and the tests agree on it).
pub const RETRIES: u32 = 4;

/// Default number of reminders before staff are alerted (docs/design.md §4).
pub const DEFAULT_REMINDERS: u32 = 3;
/// Default wait for the Discord connection before each reminder (docs/design.md §4: 48 h).
pub const DEFAULT_REMINDER_INTERVAL: Duration = Duration::from_secs(48 * 3600);
/// Default validity of an emailed connection link.
pub const DEFAULT_LINK_VALIDITY: Duration = Duration::from_secs(7 * 86_400);
/// Default wait for a buyer without an account to accept the Clerk invitation (docs/design.md §4).
pub const DEFAULT_SIGNUP_WAIT: Duration = Duration::from_secs(7 * 86_400);
/// The academy's name as emails spell it.
pub const DEFAULT_ACADEMY_NAME: &str = "Huckleberry Art Academy";

/// The Discord role each mentorship kind grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordRoles {
    /// Role for 1-on-1 mentees.
    pub one_on_one: RoleId,
    /// Role for group mentees.
    pub group: RoleId,
}

impl DiscordRoles {
    /// The role id for `kind`.
    #[must_use]
    pub fn for_kind(&self, kind: MentorshipKind) -> &RoleId {
        match kind {
            MentorshipKind::OneOnOne => &self.one_on_one,
            MentorshipKind::Group => &self.group,
        }
    }
}

/// Configuration of the onboarding functions.
///
/// Build it with [`OnboardingConfig::new`] (the settings without a sensible default), then
/// override any public field:
///
/// ```
/// use std::time::Duration;
/// use huckleberry_functions::config::{DiscordRoles, OnboardingConfig};
/// use huckleberry_functions::ports::EmailAddress;
///
/// let mut config = OnboardingConfig::new(
///     EmailAddress::parse("staff@academy.test").expect("valid"),
///     DiscordRoles { one_on_one: "111".into(), group: "222".into() },
///     "https://academy.test/dashboard".parse().expect("valid"),
/// );
/// config.reminder_interval = Duration::from_secs(24 * 3600);
/// assert_eq!(config.reminders, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardingConfig {
    /// Reminders sent before staff are alerted; the run waits `reminder_interval` after the
    /// first email and after each reminder.
    pub reminders: u32,
    /// How long to wait for `user/discord.connected` in each round.
    pub reminder_interval: Duration,
    /// How long an emailed connection link stays valid.
    pub link_validity: Duration,
    /// How long a buyer without an account has to accept the Clerk invitation.
    pub signup_wait: Duration,
    /// Where alerts about stuck buyers and bounced emails go.
    pub staff_email: EmailAddress,
    /// The Discord role per mentorship kind.
    pub discord_roles: DiscordRoles,
    /// The academy's dashboard, linked from the welcome email.
    pub dashboard_url: Url,
    /// The academy's name in subjects and greetings.
    pub academy_name: String,
}

impl OnboardingConfig {
    /// A configuration with the docs/design.md §4 defaults: 3 reminders, 48 h apart; links valid for
    /// 7 days; 7 days to accept a Clerk invitation.
    #[must_use]
    pub fn new(staff_email: EmailAddress, discord_roles: DiscordRoles, dashboard_url: Url) -> Self {
        Self {
            reminders: DEFAULT_REMINDERS,
            reminder_interval: DEFAULT_REMINDER_INTERVAL,
            link_validity: DEFAULT_LINK_VALIDITY,
            signup_wait: DEFAULT_SIGNUP_WAIT,
            staff_email,
            discord_roles,
            dashboard_url,
            academy_name: DEFAULT_ACADEMY_NAME.to_owned(),
        }
    }
}
