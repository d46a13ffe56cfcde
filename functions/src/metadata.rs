//! The Clerk public-metadata patches onboarding writes (integrations.md §4.2).
//!
//! Everything lives under one key, `mentorship`, which the dashboard reads to decide access:
//! `{"mentorship": {"status": "active", "kind": "one_on_one", "purchase_id": …, …}}`. Patches
//! are deep-merged by Clerk, so each one names only the fields it changes.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::events::{DiscordConnected, PurchaseMentorship};

/// `mentorship.status`: where a buyer's onboarding stands. The dashboard grants access only
/// on [`MentorshipStatus::Active`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MentorshipStatus {
    /// Invited to Clerk; set on the invitation, so it lands on the user at sign-up.
    AwaitingSignup,
    /// Purchase recorded; waiting for the Discord connection.
    AwaitingDiscord,
    /// Access granted: Discord connected, role given.
    Active,
    /// Gave up after every reminder; staff were alerted.
    DiscordNotConnected,
    /// An onboarding email bounced; staff were alerted.
    EmailBounced,
}

impl MentorshipStatus {
    /// The wire spelling, e.g. `awaiting_discord`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingSignup => "awaiting_signup",
            Self::AwaitingDiscord => "awaiting_discord",
            Self::Active => "active",
            Self::DiscordNotConnected => "discord_not_connected",
            Self::EmailBounced => "email_bounced",
        }
    }
}

/// The purchase, recorded with `status`.
#[must_use]
pub fn purchase(purchase: &PurchaseMentorship, status: MentorshipStatus) -> Value {
    json!({
        "mentorship": {
            "status": status.as_str(),
            "kind": purchase.mentorship,
            "purchase_id": purchase.purchase_id,
            "provider": purchase.provider,
            "product": purchase.product,
            "purchased_at": timestamp(purchase.purchased_at),
        }
    })
}

/// Access granted: status `active` and the connected Discord account.
#[must_use]
pub fn access_granted(connection: &DiscordConnected, at: DateTime<Utc>) -> Value {
    json!({
        "mentorship": {
            "status": MentorshipStatus::Active.as_str(),
            "discord_user_id": connection.discord_user_id,
            "discord_username": connection.discord_username,
            "connected_at": timestamp(at),
        }
    })
}

/// Only a new status.
#[must_use]
pub fn status(status: MentorshipStatus) -> Value {
    json!({ "mentorship": { "status": status.as_str() } })
}

/// A bounce: the details, and status `email_bounced` when `block` is set (not after access
/// was granted: a bounced welcome email must not take access away).
#[must_use]
pub fn email_bounced(
    reason: Option<&str>,
    email_id: Option<&str>,
    at: DateTime<Utc>,
    block: bool,
) -> Value {
    let mut mentorship = json!({
        "email_bounce": {
            "reason": reason,
            "email_id": email_id,
            "bounced_at": timestamp(at),
        }
    });
    if block {
        mentorship["status"] = json!(MentorshipStatus::EmailBounced.as_str());
    }
    json!({ "mentorship": mentorship })
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn status_spellings_match_serde() {
        for status in [
            MentorshipStatus::AwaitingSignup,
            MentorshipStatus::AwaitingDiscord,
            MentorshipStatus::Active,
            MentorshipStatus::DiscordNotConnected,
            MentorshipStatus::EmailBounced,
        ] {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                json!(status.as_str())
            );
        }
    }

    #[test]
    fn a_bounce_after_access_keeps_the_status() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();

        let blocked = email_bounced(Some("no such user"), Some("em_1"), at, true);
        let kept = email_bounced(None, None, at, false);

        assert_eq!(blocked["mentorship"]["status"], "email_bounced");
        assert_eq!(
            blocked["mentorship"]["email_bounce"]["bounced_at"],
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(kept["mentorship"].get("status"), None);
    }
}
