//! The Clerk public-metadata contract onboarding writes and the app reads (docs/integrations.md
//! §4.2), as one serde type, [`Mentorship`], and the patches that write it.
//!
//! Everything lives under one key, `mentorship`, which the dashboard reads to decide access:
//!
//! ```json
//! {"mentorship": {
//!   "status": "active",
//!   "discord_user_id": "8035…", "discord_username": "nelly", "connected_at": "2026-…Z",
//!   "purchases": {
//!     "cs_test_1": {"kind": "one_on_one", "status": "active", "provider": "stripe", …},
//!     "cs_test_2": {"kind": "group", "status": "awaiting_discord", …}
//!   }
//! }}
//! ```
//!
//! `status` is the dashboard's access flag: `active` while any purchase is; the Discord
//! account is the buyer's, shared by every purchase; `purchases` keeps each purchase, so a
//! second one never overwrites the first. Patches are deep-merged by Clerk, so each one names
//! only the fields it changes. Records written before `purchases` existed (one purchase with
//! `kind` and `purchase_id` at the top) are still read.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::events::{DiscordConnected, MentorshipKind, PurchaseMentorship};
use crate::ids::{DiscordUserId, PurchaseId};

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

/// `public_metadata.mentorship`, as read back. Every field is optional and an odd value
/// reads as absent: a record edited by hand in the Clerk dashboard must not break a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mentorship {
    /// The dashboard's access flag.
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<MentorshipStatus>,
    /// The connected Discord account, once there is one.
    #[serde(default, deserialize_with = "lenient")]
    pub discord_user_id: Option<String>,
    /// Its username, for the dashboard and the welcome email.
    #[serde(default, deserialize_with = "lenient")]
    pub discord_username: Option<String>,
    /// Every purchase, by purchase id.
    #[serde(default, deserialize_with = "lenient_map")]
    pub purchases: BTreeMap<String, PurchaseRecord>,
    /// A record from before `purchases`: the one purchase's kind.
    #[serde(default, deserialize_with = "lenient", alias = "mentorship")]
    pub kind: Option<MentorshipKind>,
    /// A record from before `purchases`: the one purchase's id.
    #[serde(default, deserialize_with = "lenient")]
    pub purchase_id: Option<String>,
}

/// One purchase in [`Mentorship::purchases`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseRecord {
    /// Which mentorship; decides the Discord role.
    #[serde(default, deserialize_with = "lenient")]
    pub kind: Option<MentorshipKind>,
    /// Where this purchase's onboarding stands.
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<MentorshipStatus>,
}

impl Mentorship {
    /// Reads `public_metadata.mentorship`; anything missing or odd is absent.
    #[must_use]
    pub fn from_public_metadata(metadata: &Value) -> Self {
        serde_json::from_value(metadata["mentorship"].clone()).unwrap_or_default()
    }

    /// The record of one purchase (a record from before `purchases` included).
    #[must_use]
    pub fn purchase(&self, purchase_id: &PurchaseId) -> Option<PurchaseRecord> {
        if let Some(record) = self.purchases.get(purchase_id.as_str()) {
            return Some(record.clone());
        }
        (self.purchase_id.as_deref() == Some(purchase_id.as_str())).then_some(PurchaseRecord {
            kind: self.kind,
            status: self.status,
        })
    }

    /// Whether this purchase's onboarding is done: the durable half of a link token's single
    /// use. Another purchase being connected does not count: a returning buyer's new link
    /// must work.
    #[must_use]
    pub fn is_connected_for(&self, purchase_id: &PurchaseId) -> bool {
        self.purchase(purchase_id)
            .is_some_and(|p| p.status == Some(MentorshipStatus::Active))
            || (self.purchases.is_empty()
                && self.purchase_id.as_deref() == Some(purchase_id.as_str())
                && self.discord_user_id.is_some())
    }

    /// The purchase the dashboard button connects for: the newest one still waiting for
    /// Discord, else the last one (purchase ids sort by time for both providers' formats
    /// only loosely, so "newest" is the last in the map's order when none is waiting).
    #[must_use]
    pub fn pending_purchase(&self) -> Option<PurchaseId> {
        self.purchases
            .iter()
            .rev()
            .find(|(_, p)| p.status == Some(MentorshipStatus::AwaitingDiscord))
            .or_else(|| self.purchases.iter().next_back())
            .map(|(id, _)| id.clone())
            .or_else(|| self.purchase_id.clone())
            .map(PurchaseId::new)
    }

    /// The buyer's connected Discord account (id, username), once there is one.
    #[must_use]
    pub fn connected_account(&self) -> Option<(DiscordUserId, String)> {
        let id = DiscordUserId::new(self.discord_user_id.clone()?);
        Some((id, self.discord_username.clone().unwrap_or_default()))
    }

    /// Whether any purchase gives access now.
    #[must_use]
    pub fn has_access(&self) -> bool {
        self.status == Some(MentorshipStatus::Active)
    }
}

/// Reads a field as absent when it has an unexpected shape.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// Reads the purchases map, skipping entries that are not objects.
fn lenient_map<'de, D>(deserializer: D) -> Result<BTreeMap<String, PurchaseRecord>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = Value::deserialize(deserializer)?;
    Ok(value
        .as_object()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|(id, record)| {
                    Some((id.clone(), serde_json::from_value(record.clone()).ok()?))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The purchase, recorded with `status`. `keep_access`: the buyer already has access
/// through another purchase, which this one must not take away.
#[must_use]
pub fn purchase(
    purchase: &PurchaseMentorship,
    status: MentorshipStatus,
    keep_access: bool,
) -> Value {
    let mut mentorship = json!({
        "purchases": {
            purchase.purchase_id.clone(): {
                "status": status.as_str(),
                "kind": purchase.mentorship,
                "provider": purchase.provider,
                "product": purchase.product,
                "purchased_at": timestamp(purchase.purchased_at),
            }
        }
    });
    if !keep_access {
        mentorship["status"] = json!(status.as_str());
    }
    json!({ "mentorship": mentorship })
}

/// The purchase as a Clerk invitation carries it (it lands on the user at sign-up): the
/// record, `awaiting_signup`, and the purchase id at the top, which the sign-up wait
/// matches on (`expressions::signup_of`).
#[must_use]
pub fn invitation(purchase: &PurchaseMentorship) -> Value {
    let mut patch = self::purchase(purchase, MentorshipStatus::AwaitingSignup, false);
    patch["mentorship"]["purchase_id"] = json!(purchase.purchase_id);
    patch
}

/// Access granted for `purchase_id`: status `active` and the connected Discord account.
#[must_use]
pub fn access_granted(
    connection: &DiscordConnected,
    purchase_id: &str,
    at: DateTime<Utc>,
) -> Value {
    json!({
        "mentorship": {
            "status": MentorshipStatus::Active.as_str(),
            "discord_user_id": connection.discord_user_id,
            "discord_username": connection.discord_username,
            "connected_at": timestamp(at),
            "purchases": {
                purchase_id: {
                    "status": MentorshipStatus::Active.as_str(),
                    "activated_at": timestamp(at),
                }
            }
        }
    })
}

/// A new status for one purchase, and for the access flag unless `keep_access`.
#[must_use]
pub fn status(purchase_id: &str, status: MentorshipStatus, keep_access: bool) -> Value {
    let mut mentorship = json!({ "purchases": { purchase_id: { "status": status.as_str() } } });
    if !keep_access {
        mentorship["status"] = json!(status.as_str());
    }
    json!({ "mentorship": mentorship })
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
    fn every_purchase_is_kept_and_read_back() {
        let record = Mentorship::from_public_metadata(&json!({"mentorship": {
            "status": "active", "discord_user_id": "42", "discord_username": "nelly",
            "purchases": {
                "cs_1": {"kind": "one_on_one", "status": "active"},
                "cs_2": {"kind": "group", "status": "awaiting_discord"},
                "odd": "not an object"
            }
        }}));
        assert!(record.is_connected_for(&"cs_1".into()));
        assert!(
            !record.is_connected_for(&"cs_2".into()),
            "a new purchase's link works"
        );
        assert_eq!(
            record.purchase(&"cs_2".into()).and_then(|p| p.kind),
            Some(MentorshipKind::Group)
        );
        assert_eq!(record.pending_purchase(), Some("cs_2".into()));
        assert_eq!(
            record.connected_account(),
            Some(("42".into(), "nelly".into()))
        );
        assert!(record.has_access());
        assert_eq!(record.purchases.len(), 2);
    }

    #[test]
    fn records_from_before_purchases_are_read() {
        let record = Mentorship::from_public_metadata(&json!({"mentorship": {
            "kind": "group", "purchase_id": "cs_1", "status": "active", "discord_user_id": "42"
        }}));
        assert!(record.is_connected_for(&"cs_1".into()));
        assert!(!record.is_connected_for(&"cs_2".into()));
        assert_eq!(
            record.purchase(&"cs_1".into()).and_then(|p| p.kind),
            Some(MentorshipKind::Group)
        );
        let odd = Mentorship::from_public_metadata(&json!({"mentorship": {"status": 7}}));
        assert_eq!(odd, Mentorship::default());
        assert_eq!(
            Mentorship::from_public_metadata(&json!(null)),
            Mentorship::default()
        );
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
