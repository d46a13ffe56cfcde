//! Dry-run implementations of the ports, for a laptop without vendor credentials (docs/design.md
//! §6).
//!
//! Only built when `INNGEST_DEV` is set and a vendor has no settings; start-up logs a warning
//! for each. Each one renders what it would have done to the log, so the whole flow can be
//! watched with only the Inngest dev server:
//! - [`DryRunDirectory`] keeps users in memory, keyed by email. Every buyer "already has an
//!   account": looking an address up creates the user, so onboarding does not wait seven days
//!   for a `clerk/user.created` that no real Clerk will send. Metadata merges are deep merges,
//!   as Clerk's, and are logged.
//! - [`DryRunMailer`] logs each email (to, subject, plain text with its Discord link) at info.
//! - [`DryRunGuild`] logs the role it would grant.
//!
//! The Discord OAuth dry run lives in the connect flow (`discord::flow`): it skips Discord
//! and redirects straight to the callback with a fake code.

use std::collections::HashMap;
use std::sync::Mutex;

use huckleberry_functions::ids::{ClerkUserId, DiscordUserId, RoleId};
use huckleberry_functions::ports::{
    DiscordGuild, EmailAddress, Invitation, Mailer, OutgoingEmail, PortError, PortFuture, User,
    UserDirectory,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::clerk::UserMetadata;
use huckleberry_functions::metadata::Mentorship;

/// An in-memory user directory keyed by email.
#[derive(Debug, Default)]
pub struct DryRunDirectory {
    users: Mutex<HashMap<EmailAddress, DryRunUser>>,
}

#[derive(Debug, Clone)]
struct DryRunUser {
    user: User,
    public_metadata: Value,
}

impl DryRunUser {
    /// The user with what onboarding recorded on them so far, as Clerk would return it.
    fn user_now(&self) -> User {
        User {
            mentorship: Mentorship::from_public_metadata(&self.public_metadata),
            ..self.user.clone()
        }
    }
}

impl DryRunDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EmailAddress, DryRunUser>> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get_or_create(&self, email: &EmailAddress, metadata: Option<Value>) -> User {
        let mut users = self.lock();
        let entry = users.entry(email.clone()).or_insert_with(|| {
            let user = User {
                id: ClerkUserId::new(dry_run_user_id(email)),
                primary_email: Some(email.clone()),
                first_name: None,
                mentorship: Mentorship::default(),
            };
            tracing::info!(dry_run = "clerk", user_id = %user.id, "would have found this user in Clerk; created it in memory");
            DryRunUser {
                user,
                public_metadata: Value::Object(Default::default()),
            }
        });
        if let Some(metadata) = metadata {
            merge(&mut entry.public_metadata, metadata);
        }
        entry.user_now()
    }
}

/// A stable fake Clerk id for an address, so restarts and repeated runs agree.
pub fn dry_run_user_id(email: &EmailAddress) -> String {
    let digest = Sha256::digest(email.as_str().as_bytes());
    format!("user_dryrun_{}", hex::encode(&digest[..8]))
}

impl UserDirectory for DryRunDirectory {
    fn user(&self, user_id: &ClerkUserId) -> PortFuture<'_, Option<User>> {
        let found = self
            .lock()
            .values()
            .find(|u| &u.user.id == user_id)
            .map(DryRunUser::user_now);
        Box::pin(async move { Ok(found) })
    }

    fn find_by_email(&self, email: &EmailAddress) -> PortFuture<'_, Option<User>> {
        let user = self.get_or_create(email, None);
        Box::pin(async move { Ok(Some(user)) })
    }

    fn invite(&self, email: &EmailAddress, public_metadata: Value) -> PortFuture<'_, Invitation> {
        let user = self.get_or_create(email, Some(public_metadata));
        tracing::info!(dry_run = "clerk", user_id = %user.id, "would have sent a Clerk invitation");
        Box::pin(async move {
            Ok(Invitation {
                id: format!("inv_dryrun_{}", user.id),
            })
        })
    }

    fn merge_public_metadata(&self, user_id: &ClerkUserId, patch: Value) -> PortFuture<'_, ()> {
        let mut users = self.lock();
        let result = match users.values_mut().find(|u| &u.user.id == user_id) {
            Some(user) => {
                tracing::info!(dry_run = "clerk", %user_id, patch = %patch, "would have merged Clerk public metadata");
                merge(&mut user.public_metadata, patch);
                Ok(())
            }
            None => Err(PortError::permanent("dry-run clerk: no such user")),
        };
        Box::pin(async move { result })
    }
}

impl UserMetadata for DryRunDirectory {
    fn public_metadata(&self, user_id: &ClerkUserId) -> PortFuture<'_, Option<Value>> {
        let found = self
            .lock()
            .values()
            .find(|u| &u.user.id == user_id)
            .map(|u| u.public_metadata.clone());
        Box::pin(async move { Ok(found) })
    }
}

/// Clerk's metadata merge: objects merge key by key, recursively; `null` removes a key; any
/// other value replaces.
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    merge(target.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

/// Logs each email instead of sending it.
#[derive(Debug, Default)]
pub struct DryRunMailer {
    sent: Mutex<HashMap<String, String>>,
}

impl DryRunMailer {
    /// A mailer that only logs.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Mailer for DryRunMailer {
    fn send(&self, email: &OutgoingEmail, idempotency_key: &str) -> PortFuture<'_, String> {
        let mut sent = self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Same contract as Resend: a repeated key returns the first id and sends nothing.
        let id = match sent.get(idempotency_key) {
            Some(id) => id.clone(),
            None => {
                let id = format!("dryrun-email-{}", sent.len() + 1);
                tracing::info!(
                    dry_run = "resend",
                    email_id = %id,
                    to = %email.to,
                    subject = %email.subject,
                    %idempotency_key,
                    text = %email.text,
                    "would have sent this email"
                );
                sent.insert(idempotency_key.to_owned(), id.clone());
                id
            }
        };
        Box::pin(async move { Ok(id) })
    }
}

/// Logs each role grant instead of calling Discord.
#[derive(Debug, Default)]
pub struct DryRunGuild;

impl DiscordGuild for DryRunGuild {
    fn grant_role(&self, discord_user_id: &DiscordUserId, role_id: &RoleId) -> PortFuture<'_, ()> {
        tracing::info!(dry_run = "discord", %discord_user_id, %role_id, "would have granted this Discord role");
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn the_dry_run_directory_keeps_users_and_merges_metadata_like_clerk() {
        let directory = DryRunDirectory::new();
        let email = EmailAddress::parse("ada@example.com").unwrap();
        let user = directory.find_by_email(&email).await.unwrap().unwrap();
        assert_eq!(directory.user(&user.id).await.unwrap(), Some(user.clone()));

        directory
            .merge_public_metadata(
                &user.id,
                json!({"mentorship": {"kind": "group", "status": "awaiting_discord"}}),
            )
            .await
            .unwrap();
        directory
            .merge_public_metadata(
                &user.id,
                json!({"mentorship": {"status": "active", "kind": null}}),
            )
            .await
            .unwrap();

        assert_eq!(
            directory.public_metadata(&user.id).await.unwrap(),
            Some(json!({"mentorship": {"status": "active"}}))
        );
    }

    #[tokio::test]
    async fn the_dry_run_mailer_honours_idempotency_keys() {
        let mailer = DryRunMailer::new();
        let email = OutgoingEmail {
            to: EmailAddress::parse("ada@example.com").unwrap(),
            subject: "Connect Discord".into(),
            html: "<p>hi</p>".into(),
            text: "hi".into(),
            tags: vec![],
        };
        let first = mailer.send(&email, "k1").await.unwrap();
        assert_eq!(mailer.send(&email, "k1").await.unwrap(), first);
        assert_ne!(mailer.send(&email, "k2").await.unwrap(), first);
    }
}
