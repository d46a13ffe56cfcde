//! Discord client: the OAuth2 code flow with PKCE (through the `oauth2` crate), `/users/@me`,
//! guild membership and roles with the bot token (docs/integrations.md §3), and the
//! [`DiscordGuild`] port.
//!
//! `oauth2` 5 is built with `default-features = false`, so it brings no reqwest 0.12: its
//! [`oauth2::AsyncHttpClient`] is implemented for any `Fn(HttpRequest) -> Future`, and
//! [`send_oauth_request`] is that function over the app's reqwest 0.13 client (no redirects).

use std::sync::Arc;

use huckleberry_functions::ids::{DiscordUserId, RoleId};
use huckleberry_functions::ports::{DiscordGuild, PortError, PortFuture};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
    TokenUrl,
};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::config::DiscordConfig;
use super::http::{TraceContext, status_error, transport_error};

/// The scopes the flow asks for (docs/integrations.md §3.1).
pub const SCOPES: [&str; 3] = ["identify", "email", "guilds.join"];

type OAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Discord's OAuth2 endpoints and REST API, acting for the academy's application and bot.
/// Cheap to clone.
#[derive(Clone)]
pub struct DiscordClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    oauth: OAuthClient,
    api_base: Url,
    bot_token: SecretString,
    guild_id: String,
}

impl std::fmt::Debug for DiscordClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordClient")
            .field("api_base", &self.inner.api_base.as_str())
            .field("guild_id", &self.inner.guild_id)
            .finish_non_exhaustive()
    }
}

/// The Discord account that authorised us.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DiscordUser {
    /// Snowflake, as a string.
    pub id: DiscordUserId,
    /// The unique username.
    pub username: String,
}

/// What adding the member did (docs/integrations.md §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuildJoin {
    /// 201: added, with the role.
    Added,
    /// 204: already a member; Discord ignored `roles`, so the role was added separately.
    AlreadyMember,
}

/// Why the code exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Discord refused the code (`invalid_grant`, …): the buyer must start again.
    #[error("Discord refused the authorization code: {0}")]
    Refused(String),
    /// Discord could not be reached or answered oddly: worth another try.
    #[error("the Discord token exchange failed: {0}")]
    Unavailable(String),
}

/// A user access token, held only for the two calls of the callback; never logged or stored.
pub struct AccessToken(SecretString);

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken([REDACTED])")
    }
}

impl DiscordClient {
    /// A client for the configured application, bot and guild.
    pub fn new(http: reqwest::Client, config: &DiscordConfig) -> Self {
        let token_url = join(&config.api_base, &["oauth2", "token"]);
        let oauth = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                config.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::from_url(config.authorize_url.clone()))
            .set_token_uri(TokenUrl::from_url(token_url))
            .set_redirect_uri(RedirectUrl::from_url(config.redirect_url.clone()));
        DiscordClient {
            inner: Arc::new(Inner {
                http,
                oauth,
                api_base: config.api_base.clone(),
                bot_token: config.bot_token.clone(),
                guild_id: config.guild_id.clone(),
            }),
        }
    }

    /// The consent URL for `state` and the PKCE challenge of `verifier`; `prompt=consent` so
    /// the buyer sees what they grant.
    pub fn authorize_url(&self, state: &str, challenge: PkceCodeChallenge) -> Url {
        let state = state.to_owned();
        let (url, _) = self
            .inner
            .oauth
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(SCOPES.map(|s| Scope::new(s.to_owned())))
            .add_extra_param("prompt", "consent")
            .set_pkce_challenge(challenge)
            .url();
        url
    }

    /// Exchanges the callback's code (with the PKCE verifier) for a user access token.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
    ) -> Result<AccessToken, ExchangeError> {
        let http = self.inner.http.clone();
        let send = move |request| send_oauth_request(http.clone(), request);
        let result = self
            .inner
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&send)
            .await;
        match result {
            Ok(token) => Ok(AccessToken(SecretString::from(
                token.access_token().secret().to_owned(),
            ))),
            Err(RequestTokenError::ServerResponse(response)) => {
                Err(ExchangeError::Refused(response.error().to_string()))
            }
            Err(RequestTokenError::Request(error)) => Err(ExchangeError::Unavailable(
                transport_error("discord token", &error).to_string(),
            )),
            Err(RequestTokenError::Parse(_, _)) => Err(ExchangeError::Unavailable(
                "unexpected token response".to_owned(),
            )),
            Err(RequestTokenError::Other(message)) => Err(ExchangeError::Unavailable(message)),
        }
    }

    /// `GET /users/@me` with the user's token.
    pub async fn current_user(&self, token: &AccessToken) -> Result<DiscordUser, PortError> {
        const WHAT: &str = "discord get current user";
        let response = self
            .inner
            .http
            .get(join(&self.inner.api_base, &["users", "@me"]))
            .bearer_auth(token.0.expose_secret())
            .trace_context()
            .send()
            .await
            .map_err(|e| transport_error(WHAT, &e))?;
        if !response.status().is_success() {
            return Err(status_error(WHAT, response.status(), response.headers()));
        }
        response.json().await.map_err(|e| transport_error(WHAT, &e))
    }

    /// `PUT /guilds/{guild}/members/{user}` with the bot token and `roles: [role]`; on 204
    /// (already a member, roles ignored) adds the role with the add-role call.
    pub async fn add_member(
        &self,
        user_id: &DiscordUserId,
        token: &AccessToken,
        role_id: Option<&RoleId>,
    ) -> Result<GuildJoin, PortError> {
        const WHAT: &str = "discord add guild member";
        let mut body = json!({ "access_token": token.0.expose_secret() });
        if let Some(role) = role_id {
            body["roles"] = json!([role]);
        }
        let response = self
            .bot(
                Method::PUT,
                &["guilds", &self.inner.guild_id, "members", user_id.as_str()],
            )
            .json(&body)
            .trace_context()
            .send()
            .await
            .map_err(|e| transport_error(WHAT, &e))?;
        match response.status() {
            StatusCode::NO_CONTENT => {
                if let Some(role) = role_id {
                    self.add_role(user_id, role).await?;
                }
                Ok(GuildJoin::AlreadyMember)
            }
            status if status.is_success() => Ok(GuildJoin::Added),
            status => Err(status_error(WHAT, status, response.headers())),
        }
    }

    /// `PUT /guilds/{guild}/members/{user}/roles/{role}` → 204. Idempotent.
    pub async fn add_role(
        &self,
        user_id: &DiscordUserId,
        role_id: &RoleId,
    ) -> Result<(), PortError> {
        const WHAT: &str = "discord add member role";
        let response = self
            .bot(
                Method::PUT,
                &[
                    "guilds",
                    &self.inner.guild_id,
                    "members",
                    user_id.as_str(),
                    "roles",
                    role_id.as_str(),
                ],
            )
            .header("X-Audit-Log-Reason", "Huckleberry mentorship onboarding")
            .trace_context()
            .send()
            .await
            .map_err(|e| transport_error(WHAT, &e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(status_error(WHAT, response.status(), response.headers()))
        }
    }

    fn bot(&self, method: Method, segments: &[&str]) -> reqwest::RequestBuilder {
        self.inner
            .http
            .request(method, join(&self.inner.api_base, segments))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Bot {}", self.inner.bot_token.expose_secret()),
            )
    }
}

impl DiscordGuild for DiscordClient {
    fn grant_role(&self, discord_user_id: &DiscordUserId, role_id: &RoleId) -> PortFuture<'_, ()> {
        let user = discord_user_id.clone();
        let role = role_id.clone();
        Box::pin(async move { self.add_role(&user, &role).await })
    }
}

/// `base` with `segments` appended, each percent-encoded.
fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// `oauth2`'s HTTP hook over our reqwest 0.13 client: the request and response are plain
/// `http` 1 types on both sides, so this is a field-by-field copy.
pub async fn send_oauth_request(
    http: reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .trace_context()
        .send()
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    let mut out = oauth2::HttpResponse::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}
