//! Clerk session tokens for the dashboard button: a short-lived RS256 JWT in the `__session`
//! cookie or an `Authorization: Bearer` header, checked against the instance's JWKS
//! (`GET {CLERK_API_BASE_URL}/jwks` with the secret key).
//!
//! Checks: signature by a key of the JWKS (by `kid`, refetched once when a `kid` is unknown,
//! for key rotation), RS256 only, `exp` and `nbf` with 5 s leeway, `sub` present, `iss` when
//! `CLERK_ISSUER` is set, and `azp` (when the token has one) among the authorized parties —
//! Clerk's own guidance, so a token minted for another site cannot be used here.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

use crate::integrations::clerk::ClerkClient;
use crate::integrations::config::ClerkSessionConfig;

/// Why a session was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The token failed a check (signature, time, issuer, party).
    #[error("the Clerk session token is not valid: {0}")]
    Invalid(String),
    /// The JWKS could not be fetched.
    #[error("the Clerk JWKS is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    azp: Option<String>,
}

/// Verifies Clerk session tokens.
#[derive(Debug)]
pub struct SessionVerifier {
    clerk: Option<ClerkClient>,
    config: ClerkSessionConfig,
    keys: RwLock<Option<JwkSet>>,
}

impl SessionVerifier {
    /// A verifier fetching keys through `clerk`; `None` (Clerk dry run) refuses every session.
    pub fn new(clerk: Option<ClerkClient>, config: ClerkSessionConfig) -> Self {
        SessionVerifier {
            clerk,
            config,
            keys: RwLock::new(None),
        }
    }

    /// The session token in the request: the `Authorization: Bearer` header first, then the
    /// `__session` cookie.
    pub fn token_from(headers: &HeaderMap) -> Option<String> {
        if let Some(bearer) = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            return Some(bearer.trim().to_owned());
        }
        super::cookies::cookie(headers, "__session")
    }

    /// Verifies `token` and returns the Clerk user id (`sub`).
    pub async fn verify(&self, token: &str) -> Result<String, SessionError> {
        let Some(clerk) = &self.clerk else {
            return Err(SessionError::Invalid(
                "Clerk runs dry: dashboard sessions cannot be verified".into(),
            ));
        };
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| SessionError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(SessionError::Invalid("algorithm is not RS256".into()));
        }
        let kid = header
            .kid
            .ok_or_else(|| SessionError::Invalid("no key id".into()))?;
        let key = match self.key(&kid).await {
            Some(key) => key,
            None => {
                self.refresh(clerk).await?;
                self.key(&kid)
                    .await
                    .ok_or_else(|| SessionError::Invalid("unknown key id".into()))?
            }
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = 5;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(issuer) = &self.config.issuer {
            validation.set_issuer(&[issuer]);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| SessionError::Invalid(e.to_string()))?
            .claims;
        if let Some(azp) = &claims.azp
            && !self
                .config
                .authorized_parties
                .iter()
                .any(|p| p == azp.trim_end_matches('/'))
        {
            return Err(SessionError::Invalid("unauthorized party".into()));
        }
        Ok(claims.sub)
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        let keys = self.keys.read().await;
        let jwk = keys.as_ref()?.find(kid)?;
        DecodingKey::from_jwk(jwk).ok()
    }

    async fn refresh(&self, clerk: &ClerkClient) -> Result<(), SessionError> {
        let raw = clerk
            .jwks()
            .await
            .map_err(|e| SessionError::Unavailable(e.to_string()))?;
        let set: JwkSet =
            serde_json::from_value(raw).map_err(|e| SessionError::Unavailable(e.to_string()))?;
        *self.keys.write().await = Some(set);
        Ok(())
    }
}
