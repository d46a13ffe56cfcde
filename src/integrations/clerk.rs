//! Clerk Backend API client: the [`UserDirectory`] port, the public-metadata read the Discord
//! flow needs, and the instance JWKS for session tokens (docs/integrations.md §4).
//!
//! Why reqwest and not `clerk-rs` (issue 3 asks to say so in the code): clerk-rs 0.5.0's
//! generated `models::User` requires fields that Clerk's own documented user example does not
//! contain (`has_image`, `passkeys`, `totp_enabled`, `backup_code_enabled`, `banned`,
//! `saml_accounts`, `enterprise_accounts`, `delete_self_enabled`,
//! `create_organization_enabled`; and `reserved`, `created_at`, `updated_at` on each email
//! address), all without `#[serde(default)]`, so such a response fails to deserialize — it
//! "rejects real payloads" (see `clerks_documented_user_example_parses` below, which feeds
//! that example to our DTO). Its generated error type also drops the response headers, so a
//! 429's `Retry-After` could not reach the retry decision. Base-URL injection itself works
//! there (`Configuration::with_base_path`). We need four endpoints plus the JWKS, so this is
//! a thin client with lenient DTOs (only the fields of docs/integrations.md §4.3, unknown fields
//! ignored) on the app's one reqwest client; it pins the same API version clerk-rs pins.

use std::sync::Arc;

use huckleberry_functions::ids::ClerkUserId;
use huckleberry_functions::ports::{
    EmailAddress, Invitation, PortError, PortFuture, User, UserDirectory,
};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::http::{TraceContext, status_error, transport_error};

/// The Backend API version we speak (the one clerk-rs 0.5.0 pins; docs/integrations.md §4.1).
pub const CLERK_API_VERSION: &str = "2026-05-12";

/// Reads a user's public metadata: where onboarding records the purchase (kind, purchase id,
/// status, Discord id). Implemented by [`ClerkClient`] and the dry-run directory.
pub trait UserMetadata: Send + Sync {
    /// The user's `public_metadata`; `None` when there is no such user.
    fn public_metadata(&self, user_id: &ClerkUserId) -> PortFuture<'_, Option<Value>>;
}

/// The purchase records onboarding keeps on a Clerk user (`public_metadata.mentorship`,
/// docs/integrations.md §4.2): one type, shared with the functions that write it.
pub use huckleberry_functions::metadata::Mentorship as MentorshipRecord;

/// The Clerk Backend API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ClerkClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    /// Ends in `/v1` for the real API; a stand-in's origin in tests.
    api_base: Url,
    secret_key: SecretString,
}

impl ClerkClient {
    /// A client for `api_base` (e.g. `https://api.clerk.com/v1`) authenticating with the
    /// instance's secret key.
    pub fn new(http: reqwest::Client, api_base: Url, secret_key: SecretString) -> Self {
        ClerkClient {
            inner: Arc::new(Inner {
                http,
                api_base,
                secret_key,
            }),
        }
    }

    /// `GET /jwks`: the instance's session-token signing keys, as a raw JWKS document.
    pub async fn jwks(&self) -> Result<Value, PortError> {
        let response = self
            .call(Method::GET, &["jwks"])
            .trace_context()
            .send()
            .await;
        let response = self.check("clerk get jwks", response).await?;
        response
            .json()
            .await
            .map_err(|e| transport_error("clerk get jwks", &e))
    }

    async fn get_user(&self, user_id: &str) -> Result<Option<ClerkUser>, PortError> {
        const WHAT: &str = "clerk get user";
        let response = self
            .call(Method::GET, &["users", user_id])
            .trace_context()
            .send()
            .await;
        if let Ok(r) = &response
            && r.status() == StatusCode::NOT_FOUND
        {
            return Ok(None);
        }
        let response = self.check(WHAT, response).await?;
        response
            .json()
            .await
            .map(Some)
            .map_err(|e| transport_error(WHAT, &e))
    }

    fn call(&self, method: Method, segments: &[&str]) -> reqwest::RequestBuilder {
        let mut url = self.inner.api_base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        self.inner
            .http
            .request(method, url)
            .bearer_auth(self.inner.secret_key.expose_secret())
            .header("Clerk-API-Version", CLERK_API_VERSION)
    }

    async fn check(
        &self,
        what: &str,
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<reqwest::Response, PortError> {
        let response = response.map_err(|e| transport_error(what, &e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(status_error(what, response.status(), response.headers()))
        }
    }
}

impl UserDirectory for ClerkClient {
    fn user(&self, user_id: &ClerkUserId) -> PortFuture<'_, Option<User>> {
        let user_id = user_id.to_string();
        Box::pin(async move { Ok(self.get_user(&user_id).await?.map(ClerkUser::into_user)) })
    }

    fn find_by_email(&self, email: &EmailAddress) -> PortFuture<'_, Option<User>> {
        const WHAT: &str = "clerk find user by email";
        let email = email.clone();
        Box::pin(async move {
            let response = self
                .call(Method::GET, &["users"])
                .query(&[("email_address", email.as_str()), ("limit", "1")])
                .trace_context()
                .send()
                .await;
            let response = self.check(WHAT, response).await?;
            // A bare JSON array (docs/integrations.md §4.2).
            let users: Vec<ClerkUser> = response
                .json()
                .await
                .map_err(|e| transport_error(WHAT, &e))?;
            Ok(users.into_iter().next().map(ClerkUser::into_user))
        })
    }

    fn invite(&self, email: &EmailAddress, public_metadata: Value) -> PortFuture<'_, Invitation> {
        const WHAT: &str = "clerk create invitation";
        let body = json!({
            "email_address": email.as_str(),
            "public_metadata": public_metadata,
            "notify": true,
            // Without it Clerk refuses an address that already has a pending invitation; the
            // port promises that re-inviting is not an error (a retried step does exactly that).
            "ignore_existing": true,
        });
        Box::pin(async move {
            let response = self
                .call(Method::POST, &["invitations"])
                .json(&body)
                .trace_context()
                .send()
                .await;
            let response = self.check(WHAT, response).await?;
            let invitation: ClerkInvitation = response
                .json()
                .await
                .map_err(|e| transport_error(WHAT, &e))?;
            Ok(Invitation { id: invitation.id })
        })
    }

    fn merge_public_metadata(&self, user_id: &ClerkUserId, patch: Value) -> PortFuture<'_, ()> {
        const WHAT: &str = "clerk merge public metadata";
        let user_id = user_id.to_string();
        Box::pin(async move {
            // PATCH deep-merges; `PATCH /users/{id}` no longer takes metadata in API version
            // 2026-05-12 (docs/integrations.md §4.1).
            let response = self
                .call(Method::PATCH, &["users", &user_id, "metadata"])
                .json(&json!({ "public_metadata": patch }))
                .trace_context()
                .send()
                .await;
            self.check(WHAT, response).await?;
            Ok(())
        })
    }
}

impl UserMetadata for ClerkClient {
    fn public_metadata(&self, user_id: &ClerkUserId) -> PortFuture<'_, Option<Value>> {
        let user_id = user_id.to_string();
        Box::pin(async move { Ok(self.get_user(&user_id).await?.map(|u| u.public_metadata)) })
    }
}

/// The fields of a Clerk user we use; everything else is ignored and nothing but `id` is
/// required, so a field Clerk stops sending cannot break onboarding.
#[derive(Debug, Deserialize)]
struct ClerkUser {
    id: String,
    #[serde(default)]
    primary_email_address_id: Option<String>,
    #[serde(default)]
    email_addresses: Vec<ClerkEmailAddress>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    public_metadata: Value,
}

#[derive(Debug, Deserialize)]
struct ClerkEmailAddress {
    #[serde(default)]
    id: Option<String>,
    email_address: String,
}

#[derive(Debug, Deserialize)]
struct ClerkInvitation {
    id: String,
}

impl ClerkUser {
    fn into_user(self) -> User {
        // The primary address is the one whose id is `primary_email_address_id`, not index 0
        // (docs/integrations.md §4.3).
        let primary = self.email_addresses.iter().find(|e| {
            e.id.is_some() && e.id.as_deref() == self.primary_email_address_id.as_deref()
        });
        User {
            mentorship: MentorshipRecord::from_public_metadata(&self.public_metadata),
            id: ClerkUserId::new(self.id),
            primary_email: primary.and_then(|e| EmailAddress::parse(&e.email_address).ok()),
            first_name: self.first_name.filter(|n| !n.is_empty()),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use super::*;

    /// Clerk's documented `user.created` example (clerk.com/docs/integrations/webhooks,
    /// "Payload structure"), whose `data` is the User object.
    const CLERK_DOCUMENTED_USER: &str = r#"{
      "birthday": "", "created_at": 1654012591514,
      "email_addresses": [{"email_address": "example@example.org",
        "id": "idn_29w83yL7CwVlJXylYLxcslromF1", "linked_to": [], "object": "email_address",
        "verification": {"status": "verified", "strategy": "ticket"}}],
      "external_accounts": [], "external_id": "567772", "first_name": "Example", "gender": "",
      "id": "user_29w83sxmDNGwOuEthce5gg56FcC", "image_url": "https://img.clerk.com/xxxxxx",
      "last_name": "Example", "last_sign_in_at": 1654012591514, "object": "user",
      "password_enabled": true, "phone_numbers": [],
      "primary_email_address_id": "idn_29w83yL7CwVlJXylYLxcslromF1",
      "primary_phone_number_id": null, "primary_web3_wallet_id": null,
      "private_metadata": {}, "profile_image_url": "https://www.gravatar.com/avatar?d=mp",
      "public_metadata": {}, "two_factor_enabled": false, "unsafe_metadata": {},
      "updated_at": 1654012591835, "username": null, "web3_wallets": []
    }"#;

    #[test]
    fn clerks_documented_user_example_parses() {
        let user: ClerkUser = serde_json::from_str(CLERK_DOCUMENTED_USER).unwrap();
        let user = user.into_user();
        assert_eq!(user.id, "user_29w83sxmDNGwOuEthce5gg56FcC");
        assert_eq!(user.primary_email.unwrap().as_str(), "example@example.org");
        assert_eq!(user.first_name.as_deref(), Some("Example"));
    }

    #[test]
    fn the_primary_email_is_found_by_id_not_position() {
        let user: ClerkUser = serde_json::from_value(json!({
            "id": "user_1",
            "primary_email_address_id": "idn_2",
            "email_addresses": [
                {"id": "idn_1", "email_address": "old@example.com"},
                {"id": "idn_2", "email_address": "New@Example.com"}
            ]
        }))
        .unwrap();
        assert_eq!(
            user.into_user().primary_email.unwrap().as_str(),
            "new@example.com"
        );
    }
}
