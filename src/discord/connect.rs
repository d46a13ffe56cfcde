//! Discord's side of the connection (docs/design.md §5, docs/integrations.md §3): where the
//! browser goes for consent, and, back from it, code exchange → identify → guild join with
//! the purchase's role. [`LiveDiscord`] does it over the Discord client; [`DryRunDiscord`]
//! stands in for development without Discord settings. Start-up picks one, so the routes
//! never ask which.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use huckleberry_functions::config::DiscordRoles;
use huckleberry_functions::events::MentorshipKind;
use huckleberry_functions::ids::{ClerkUserId, DiscordUserId};
use oauth2::PkceCodeChallenge;
use sha2::{Digest, Sha256};
use url::Url;

use crate::integrations::discord::{DiscordClient, DiscordUser, ExchangeError};

/// The code the dry run hands its own callback in place of Discord's.
pub const DRY_RUN_CODE: &str = "dry-run-code";

/// What the callback hands over once the state and cookie checked out.
#[derive(Debug, Clone, Copy)]
pub struct ConnectRequest<'a> {
    /// The authorization code from the callback's query.
    pub code: &'a str,
    /// The PKCE verifier the start route sealed in the cookie.
    pub verifier: &'a str,
    /// The Clerk user connecting (the dry run derives its stand-in account from it).
    pub clerk_user_id: &'a ClerkUserId,
    /// The purchase's kind, which decides the role given at the join; `None` joins without one.
    pub kind: Option<MentorshipKind>,
}

/// The connected Discord account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// Who authorised us.
    pub user: DiscordUser,
    /// Whether the guild join succeeded; when it did not, onboarding grants the role later
    /// (docs/design.md §3), so the connection still counts.
    pub joined_guild: bool,
}

/// Why no account was connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// Discord refused the code: the buyer must start again.
    #[error("Discord refused the authorization code")]
    Refused,
    /// Discord could not be reached or answered oddly: trying again may work.
    #[error("Discord is unavailable")]
    Unavailable,
}

/// A boxed, sendable future: the port is used as `Arc<dyn DiscordConnect>`.
pub type ConnectFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Connected, ConnectError>> + Send + 'a>>;

/// Discord, as the connection routes use it.
pub trait DiscordConnect: Send + Sync + fmt::Debug {
    /// Where to send the browser for consent, carrying `state` and the PKCE challenge.
    fn authorize_url(&self, state: &str, challenge: PkceCodeChallenge) -> Url;

    /// Exchanges the code, identifies the account and adds it to the guild.
    fn connect<'a>(&'a self, request: ConnectRequest<'a>) -> ConnectFuture<'a>;
}

/// The real Discord: the OAuth application and the bot of the configured guild.
#[derive(Debug)]
pub struct LiveDiscord {
    client: DiscordClient,
    roles: DiscordRoles,
}

impl LiveDiscord {
    /// Connections through `client`, joining with the role `roles` gives the purchase's kind.
    pub fn new(client: DiscordClient, roles: DiscordRoles) -> Self {
        LiveDiscord { client, roles }
    }
}

impl DiscordConnect for LiveDiscord {
    fn authorize_url(&self, state: &str, challenge: PkceCodeChallenge) -> Url {
        self.client.authorize_url(state, challenge)
    }

    fn connect<'a>(&'a self, request: ConnectRequest<'a>) -> ConnectFuture<'a> {
        Box::pin(async move {
            let token = self
                .client
                .exchange_code(request.code, request.verifier)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "discord code exchange failed");
                    match e {
                        ExchangeError::Refused(_) => ConnectError::Refused,
                        ExchangeError::Unavailable(_) => ConnectError::Unavailable,
                    }
                })?;
            let user = self.client.current_user(&token).await.map_err(|e| {
                tracing::warn!(error = %e, "discord /users/@me failed");
                ConnectError::Unavailable
            })?;
            let role = request.kind.map(|kind| self.roles.for_kind(kind));
            let joined_guild = match self.client.add_member(&user.id, &token, role).await {
                Ok(join) => {
                    tracing::info!(discord_user_id = %user.id, ?join, "joined the guild");
                    true
                }
                Err(error) => {
                    // The connection itself succeeded: report it with joined_guild = false,
                    // and onboarding retries the role grant (docs/design.md §3).
                    tracing::warn!(%error, discord_user_id = %user.id, "guild join failed");
                    false
                }
            };
            Ok(Connected { user, joined_guild })
        })
    }
}

/// Development without Discord: consent is skipped (the browser goes straight to our own
/// callback with [`DRY_RUN_CODE`] and the real state, so every check of the callback still
/// runs), and the account is invented (`dryrun-…`, stable per Clerk user); the join is logged.
#[derive(Debug)]
pub struct DryRunDiscord {
    callback_url: Url,
}

impl DryRunDiscord {
    /// A dry run that redirects to `callback_url`.
    pub fn new(callback_url: Url) -> Self {
        DryRunDiscord { callback_url }
    }
}

impl DiscordConnect for DryRunDiscord {
    fn authorize_url(&self, state: &str, _challenge: PkceCodeChallenge) -> Url {
        let mut url = self.callback_url.clone();
        url.query_pairs_mut()
            .append_pair("code", DRY_RUN_CODE)
            .append_pair("state", state);
        tracing::info!(dry_run = "discord", "skipping Discord's consent screen");
        url
    }

    fn connect<'a>(&'a self, request: ConnectRequest<'a>) -> ConnectFuture<'a> {
        let user = dry_run_user(request.clerk_user_id);
        tracing::info!(
            dry_run = "discord",
            discord_user_id = %user.id,
            kind = ?request.kind,
            "would have added this user to the guild with the mentorship role"
        );
        Box::pin(async move {
            Ok(Connected {
                user,
                joined_guild: true,
            })
        })
    }
}

/// A snowflake-shaped id and a `dryrun-…` name, both derived from the Clerk user id.
fn dry_run_user(clerk_user_id: &ClerkUserId) -> DiscordUser {
    let digest = Sha256::digest(clerk_user_id.as_str().as_bytes());
    let number = u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8])) >> 1;
    DiscordUser {
        id: DiscordUserId::new(number.to_string()),
        username: format!("dryrun-{}", &hex::encode(&digest[..3])),
    }
}
