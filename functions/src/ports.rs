//! Ports: what the functions need from the outside world, as traits (docs/design.md §4).
//!
//! The app implements them with the vendor clients (Clerk, Resend, Discord) or, in local
//! development without credentials, with dry-run stand-ins; tests implement them with
//! recording fakes. Methods return boxed futures so the functions can hold
//! `Arc<dyn Port>` and the app can choose an implementation at start-up.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::ids::{ClerkUserId, DiscordUserId, PurchaseId, RoleId};

/// The future a port method returns.
pub type PortFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PortError>> + Send + 'a>>;

/// Why a port call failed, as far as retrying is concerned.
///
/// Deliberately not a `std::error::Error`: the SDK turns any such error into a retriable one,
/// which would make a permanent failure retry. `?` on a `PortError` in a step goes through
/// `From<PortError> for inngest_sdk::Error` below instead, which keeps the distinction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortError {
    /// Worth retrying: timeouts, 5xx, 429 (with the wait the vendor asked for, if any).
    Transient {
        /// What failed (no secrets, no personal data beyond ids).
        message: String,
        /// How long the vendor asked us to wait.
        retry_after: Option<std::time::Duration>,
    },
    /// Retrying cannot help: a rejected request, missing permission, bad configuration.
    Permanent(String),
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortError::Transient { message, .. } | PortError::Permanent(message) => {
                f.write_str(message)
            }
        }
    }
}

impl PortError {
    /// A transient failure.
    pub fn transient(message: impl Into<String>) -> Self {
        PortError::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    /// A permanent failure.
    pub fn permanent(message: impl Into<String>) -> Self {
        PortError::Permanent(message.into())
    }
}

/// The step error for a port failure: transient → retried (after the vendor's wait, if it
/// gave one); permanent → the step fails now, without retries.
impl From<PortError> for inngest_sdk::Error {
    fn from(error: PortError) -> Self {
        match error {
            PortError::Transient {
                message,
                retry_after: Some(delay),
            } => inngest_sdk::Error::retry_after(message, delay),
            PortError::Transient { message, .. } => inngest_sdk::Error::new(message),
            PortError::Permanent(message) => inngest_sdk::Error::non_retriable(message),
        }
    }
}

/// An email address: trimmed, one `@`, a non-empty local part and a dotted domain, no
/// whitespace or control characters, at most 254 bytes. Compared case-insensitively in its
/// lowercase form, which is how Clerk lists addresses.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

/// Why a string is not an [`EmailAddress`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct InvalidEmail;

impl EmailAddress {
    /// Parses and normalises (lowercases) an address.
    pub fn parse(value: &str) -> Result<Self, InvalidEmail> {
        let value = value.trim();
        let (local, domain) = value.split_once('@').ok_or(InvalidEmail)?;
        let valid = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && value.len() <= 254
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if !valid {
            return Err(InvalidEmail);
        }
        Ok(EmailAddress(value.to_lowercase()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = InvalidEmail;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        EmailAddress::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(email: EmailAddress) -> Self {
        email.0
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: logs show the domain only.
        let domain = self.0.split_once('@').map_or("", |(_, d)| d);
        write!(f, "EmailAddress(…@{domain})")
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user of the academy, as the user directory (Clerk) knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Clerk user id (`user_…`).
    pub id: ClerkUserId,
    /// The primary email address, if the user has one.
    pub primary_email: Option<EmailAddress>,
    /// First name, for greetings.
    pub first_name: Option<String>,
    /// What onboarding recorded on the user: earlier purchases, the connected Discord account.
    #[serde(default)]
    pub mentorship: crate::metadata::Mentorship,
}

/// A Clerk invitation sent to a buyer without an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// Invitation id (`inv_…`).
    pub id: String,
}

/// The user directory (Clerk).
pub trait UserDirectory: Send + Sync {
    /// The user with this id; `None` when there is none.
    fn user(&self, user_id: &ClerkUserId) -> PortFuture<'_, Option<User>>;

    /// The user whose email address this is; `None` when there is none.
    fn find_by_email(&self, email: &EmailAddress) -> PortFuture<'_, Option<User>>;

    /// Invites `email` to sign up; `public_metadata` lands on the user at sign-up. Inviting
    /// an address that already has a pending invitation is not an error.
    fn invite(
        &self,
        email: &EmailAddress,
        public_metadata: serde_json::Value,
    ) -> PortFuture<'_, Invitation>;

    /// Deep-merges `patch` into the user's public metadata (a `null` value removes a key).
    fn merge_public_metadata(
        &self,
        user_id: &ClerkUserId,
        patch: serde_json::Value,
    ) -> PortFuture<'_, ()>;
}

/// An email ready to send: rendered HTML and plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// Recipient.
    pub to: EmailAddress,
    /// Subject line.
    pub subject: String,
    /// HTML body (user-supplied text already escaped).
    pub html: String,
    /// Plain-text body.
    pub text: String,
    /// Tags for the provider's dashboards and webhooks (`name`, `value`).
    pub tags: Vec<(String, String)>,
}

/// The mailer (Resend).
pub trait Mailer: Send + Sync {
    /// Sends `email`. The same `idempotency_key` within 24 h sends nothing new and returns
    /// the first send's message id, so a retried step never sends twice.
    fn send(&self, email: &OutgoingEmail, idempotency_key: &str) -> PortFuture<'_, String>;
}

/// The academy's Discord guild, acting with the bot token.
pub trait DiscordGuild: Send + Sync {
    /// Gives the member `discord_user_id` the role `role_id`. Idempotent.
    fn grant_role(&self, discord_user_id: &DiscordUserId, role_id: &RoleId) -> PortFuture<'_, ()>;

    /// As [`DiscordGuild::grant_role`], for a user who may have left the guild: `Ok(false)`
    /// when they are not a member (nothing was granted). Implementations that cannot tell
    /// grant and answer `true`.
    fn grant_role_to_member(
        &self,
        discord_user_id: &DiscordUserId,
        role_id: &RoleId,
    ) -> PortFuture<'_, bool> {
        let granted = self.grant_role(discord_user_id, role_id);
        Box::pin(async move { granted.await.map(|()| true) })
    }
}

/// Makes the signed Discord connection links that emails carry (docs/design.md §5). The app signs
/// them with its link-token key; the token expires and names the user and purchase.
pub trait ConnectLinks: Send + Sync {
    /// A fresh link for `clerk_user_id` to connect Discord for `purchase_id`, valid until
    /// `expires_at`.
    fn connect_link(
        &self,
        clerk_user_id: &ClerkUserId,
        purchase_id: &PurchaseId,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> url::Url;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_validated_and_lowercased() {
        let email = EmailAddress::parse("  Ada@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@example.com.",
        ] {
            assert!(
                EmailAddress::parse(bad).is_err(),
                "{bad:?} must be rejected"
            );
        }
    }

    #[test]
    fn email_debug_hides_the_local_part() {
        let email = EmailAddress::parse("ada@example.com").expect("valid");
        assert_eq!(format!("{email:?}"), "EmailAddress(…@example.com)");
    }

    #[test]
    fn port_errors_map_to_retry_decisions() {
        let retry = inngest_sdk::Error::from(PortError::transient("timeout"));
        assert!(retry.is_retriable());
        let stop = inngest_sdk::Error::from(PortError::permanent("missing permission"));
        assert!(!stop.is_retriable());
        let later = inngest_sdk::Error::from(PortError::Transient {
            message: "rate limited".into(),
            retry_after: Some(std::time::Duration::from_secs(5)),
        });
        assert!(matches!(later.retry(), inngest_sdk::Retry::After(_)));
    }

    /// What a step body writes: `?` on a port call, nothing else.
    async fn step_body(port: Result<(), PortError>) -> Result<(), inngest_sdk::Error> {
        port?;
        Ok(())
    }

    #[tokio::test]
    async fn question_mark_on_a_permanent_port_error_does_not_retry() {
        let stop = step_body(Err(PortError::permanent("missing permission")))
            .await
            .expect_err("the port failed");
        assert!(!stop.is_retriable());
        assert_eq!(stop.to_string(), "missing permission");
        let retry = step_body(Err(PortError::transient("timeout")))
            .await
            .expect_err("the port failed");
        assert!(retry.is_retriable());
    }
}
