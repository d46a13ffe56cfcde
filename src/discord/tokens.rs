//! The two signed tokens of the connection flow (docs/integrations.md §3.7): the emailed link
//! token, and the sealed cookie that carries the OAuth state across the trip to Discord.
//!
//! Both are `base64url(payload JSON) "." base64url(HMAC-SHA256(key, purpose "." payload))`,
//! where the MAC covers the *encoded* payload (what travels, so no canonical JSON is needed)
//! behind a purpose prefix (`discord-link.v1.` / `discord-oauth.v1.`), so a cookie can never
//! pass as a link token or the other way round. Verification is constant time
//! (`Mac::verify_slice`) and happens before the payload is parsed.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use huckleberry_functions::events::{ConnectSource, MentorshipKind};
use huckleberry_functions::ids::{ClerkUserId, PurchaseId};
use huckleberry_functions::ports::ConnectLinks;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::Sha256;
use url::Url;

use crate::paths;

/// The link token's MAC prefix.
pub const LINK_PURPOSE: &str = "discord-link.v1.";
/// The OAuth cookie's MAC prefix.
pub const COOKIE_PURPOSE: &str = "discord-oauth.v1.";

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not one we signed: bad shape, bad MAC, or bad payload.
    #[error("the token is malformed or its signature does not match")]
    Invalid,
    /// Signed by us, but past its expiry.
    #[error("the token has expired")]
    Expired,
}

/// What an emailed link proves: this Clerk user may connect Discord for this purchase until
/// `exp`. `nonce` makes each link distinct, so it can be marked used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkToken {
    /// Clerk user id.
    pub uid: ClerkUserId,
    /// Purchase id.
    pub pid: PurchaseId,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// 128 random bits, base64url.
    pub nonce: String,
}

/// What the OAuth cookie carries from the start of the flow to the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthCookie {
    /// The OAuth `state` sent to Discord (32 random bytes, base64url).
    pub state: String,
    /// The PKCE verifier whose challenge Discord holds.
    pub verifier: String,
    /// The Clerk user who started.
    pub uid: ClerkUserId,
    /// The purchase, when known (email links always; the dashboard from Clerk metadata).
    pub pid: Option<PurchaseId>,
    /// The mentorship kind (from Clerk metadata), which decides the role.
    pub kind: Option<MentorshipKind>,
    /// Email link or dashboard button.
    pub source: ConnectSource,
    /// When the flow started, Unix seconds: the callback refuses cookies older than 10 min.
    pub created_at: i64,
    /// The link token's nonce and expiry, to mark the link used on success.
    pub link: Option<(String, i64)>,
}

/// Signs and verifies both tokens with the link-token key. Cheap to clone.
#[derive(Clone)]
pub struct Signer {
    key: Arc<[u8]>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer([REDACTED])")
    }
}

impl Signer {
    /// A signer over `key` (at least 32 bytes; the config checks).
    pub fn new(key: &[u8]) -> Self {
        Signer { key: key.into() }
    }

    /// A signer with a fresh random key (development without `LINK_TOKEN_KEY`).
    pub fn random() -> Self {
        let key = oauth2::CsrfToken::new_random_len(32);
        Signer::new(key.secret().as_bytes())
    }

    /// Signs a link token.
    pub fn sign_link(&self, token: &LinkToken) -> String {
        self.seal(LINK_PURPOSE, token)
    }

    /// Verifies a link token's MAC, then its expiry against `now`.
    pub fn verify_link(&self, text: &str, now: DateTime<Utc>) -> Result<LinkToken, TokenError> {
        let token: LinkToken = self.open(LINK_PURPOSE, text)?;
        if token.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(token)
    }

    /// Seals the OAuth cookie's value.
    pub fn seal_cookie(&self, cookie: &OAuthCookie) -> String {
        self.seal(COOKIE_PURPOSE, cookie)
    }

    /// Opens an OAuth cookie (MAC only; the caller checks its age).
    pub fn open_cookie(&self, text: &str) -> Result<OAuthCookie, TokenError> {
        self.open(COOKIE_PURPOSE, text)
    }

    fn mac(&self, purpose: &str, payload: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(payload.as_bytes());
        mac
    }

    fn seal<T: Serialize>(&self, purpose: &str, value: &T) -> String {
        let json = serde_json::to_vec(value).expect("token payloads are plain structs");
        let payload = B64.encode(json);
        let tag = self.mac(purpose, &payload).finalize().into_bytes();
        format!("{payload}.{}", B64.encode(tag))
    }

    fn open<T: DeserializeOwned>(&self, purpose: &str, text: &str) -> Result<T, TokenError> {
        let (payload, tag) = text.trim().split_once('.').ok_or(TokenError::Invalid)?;
        let tag = B64.decode(tag).map_err(|_| TokenError::Invalid)?;
        self.mac(purpose, payload)
            .verify_slice(&tag)
            .map_err(|_| TokenError::Invalid)?;
        let json = B64.decode(payload).map_err(|_| TokenError::Invalid)?;
        serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)
    }
}

/// Makes the emailed links: `{APP_BASE_URL}/api/auth/discord?t=<link token>`.
#[derive(Debug, Clone)]
pub struct LinkMaker {
    signer: Signer,
    app_base_url: Url,
}

impl LinkMaker {
    /// Links to `app_base_url`, signed by `signer`.
    pub fn new(signer: Signer, app_base_url: Url) -> Self {
        LinkMaker {
            signer,
            app_base_url,
        }
    }
}

impl ConnectLinks for LinkMaker {
    fn connect_link(
        &self,
        clerk_user_id: &ClerkUserId,
        purchase_id: &PurchaseId,
        expires_at: DateTime<Utc>,
    ) -> Url {
        let token = LinkToken {
            uid: clerk_user_id.clone(),
            pid: purchase_id.clone(),
            exp: expires_at.timestamp(),
            nonce: oauth2::CsrfToken::new_random_len(16).secret().clone(),
        };
        let mut url = self
            .app_base_url
            .join(paths::DISCORD_START)
            .unwrap_or_else(|_| self.app_base_url.clone());
        url.query_pairs_mut()
            .append_pair("t", &self.signer.sign_link(&token));
        url
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn signer() -> Signer {
        Signer::new(b"0123456789abcdef0123456789abcdef")
    }

    fn token(exp: i64) -> LinkToken {
        LinkToken {
            uid: "user_1".into(),
            pid: "cs_1".into(),
            exp,
            nonce: "n".into(),
        }
    }

    #[test]
    fn a_signed_link_token_verifies_until_it_expires() {
        let now = Utc::now();
        let text = signer().sign_link(&token((now + Duration::hours(1)).timestamp()));
        assert_eq!(signer().verify_link(&text, now).unwrap().uid, "user_1");
        assert_eq!(
            signer().verify_link(&text, now + Duration::hours(2)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_with_a_changed_payload_or_key_is_invalid() {
        let now = Utc::now();
        let text = signer().sign_link(&token((now + Duration::hours(1)).timestamp()));
        let (_, tag) = text.split_once('.').unwrap();
        let forged_payload =
            B64.encode(br#"{"uid":"user_2","pid":"cs_1","exp":9999999999,"nonce":"n"}"#);
        assert_eq!(
            signer().verify_link(&format!("{forged_payload}.{tag}"), now),
            Err(TokenError::Invalid)
        );
        let other = Signer::new(b"another-key-another-key-another-key!");
        assert_eq!(other.verify_link(&text, now), Err(TokenError::Invalid));
        assert_eq!(
            signer().verify_link("garbage", now),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_cookie_never_passes_as_a_link_token() {
        let cookie = OAuthCookie {
            state: "s".into(),
            verifier: "v".into(),
            uid: "user_1".into(),
            pid: Some("cs_1".into()),
            kind: None,
            source: ConnectSource::Email,
            created_at: 0,
            link: None,
        };
        let sealed = signer().seal_cookie(&cookie);
        assert_eq!(signer().open_cookie(&sealed).unwrap(), cookie);
        assert_eq!(
            signer().verify_link(&sealed, Utc::now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn connect_links_point_at_the_start_route_with_a_verifiable_token() {
        let maker = LinkMaker::new(signer(), Url::parse("https://app.example").unwrap());
        let expires = Utc::now() + Duration::days(14);
        let link = maker.connect_link(&"user_1".into(), &"cs_1".into(), expires);
        assert_eq!(link.path(), paths::DISCORD_START);
        let (_, t) = link.query_pairs().find(|(k, _)| k == "t").unwrap();
        let token = signer().verify_link(&t, Utc::now()).unwrap();
        assert_eq!((token.uid.as_str(), token.pid.as_str()), ("user_1", "cs_1"));
        assert_eq!(token.exp, expires.timestamp());
    }
}
