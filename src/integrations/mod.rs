//! The vendor clients (one thin client per vendor, each implementing its port), their
//! dry-run stand-ins, and the wiring that picks one or the other at start-up (docs/design.md §6).

use std::sync::Arc;

use huckleberry_functions::ports::{ConnectLinks, DiscordGuild, Mailer, UserDirectory};
use url::Url;

use crate::config::{AppConfig, Environment};
use crate::discord::{DiscordAuth, flow, replay, session, tokens};
use crate::pages::PageLinks;

pub mod clerk;
pub mod config;
pub mod discord;
pub mod dry_run;
pub mod http;
pub mod resend;

/// The ports the functions use, and the connection routes' state.
#[derive(Clone)]
pub struct Integrations {
    /// Clerk (or the in-memory dry run).
    pub users: Arc<dyn UserDirectory>,
    /// Resend (or the log-only dry run).
    pub mailer: Arc<dyn Mailer>,
    /// The Discord bot (or the log-only dry run).
    pub guild: Arc<dyn DiscordGuild>,
    /// Signed links for emails.
    pub links: Arc<dyn ConnectLinks>,
    /// The connection routes' state.
    pub auth: Arc<DiscordAuth>,
}

impl std::fmt::Debug for Integrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integrations")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Integrations {
    /// Builds every client on one shared HTTP client, or its dry run where the configuration
    /// has none (only possible in development: production configuration requires them all).
    /// Each dry run is announced with a warning.
    pub fn build(config: &AppConfig, http: &reqwest::Client) -> Self {
        let settings = &config.integrations;
        let dry = |vendor: &str, what: &str| {
            tracing::warn!(
                vendor,
                "{vendor} is not configured: running it dry ({what})"
            );
        };
        debug_assert!(
            config.environment == Environment::Development
                || (settings.clerk.is_some()
                    && settings.resend.is_some()
                    && settings.discord.is_some()
                    && settings.link_key.is_some()),
            "production configuration requires every vendor"
        );

        let clerk_client = settings.clerk.as_ref().map(|c| {
            clerk::ClerkClient::new(http.clone(), c.api_base.clone(), c.secret_key.clone())
        });
        let (users, metadata): (Arc<dyn UserDirectory>, Arc<dyn clerk::UserMetadata>) =
            match &clerk_client {
                Some(client) => (Arc::new(client.clone()), Arc::new(client.clone())),
                None => {
                    dry(
                        "clerk",
                        "users live in memory, keyed by email; set CLERK_SECRET_KEY",
                    );
                    let directory = Arc::new(dry_run::DryRunDirectory::new());
                    (directory.clone(), directory)
                }
            };

        let mailer: Arc<dyn Mailer> = match &settings.resend {
            Some(r) => Arc::new(resend::ResendMailer::new(
                http.clone(),
                r.api_base.clone(),
                &r.api_key,
                settings.email.from.clone(),
            )),
            None => {
                dry(
                    "resend",
                    "emails and their links go to the log; set RESEND_API_KEY",
                );
                Arc::new(dry_run::DryRunMailer::new())
            }
        };

        // The redirect URI follows the base URL start-up settled on (it may have bound port 0).
        let discord_settings = settings.discord.clone().map(|mut d| {
            d.redirect_url = flow::callback_url(&config.app_base_url);
            d
        });
        let discord_client = discord_settings
            .as_ref()
            .map(|d| discord::DiscordClient::new(http.clone(), d));
        let guild: Arc<dyn DiscordGuild> = match &discord_client {
            Some(client) => Arc::new(client.clone()),
            None => {
                dry(
                    "discord",
                    "the connect flow skips Discord and role grants are logged; set DISCORD_*",
                );
                Arc::new(dry_run::DryRunGuild)
            }
        };

        let signer = match &settings.link_key {
            Some(key) => tokens::Signer::new(key.expose()),
            None => {
                dry(
                    "link tokens",
                    "a random key per process, so emailed links stop working on restart; set LINK_TOKEN_KEY",
                );
                tokens::Signer::random()
            }
        };
        let links = Arc::new(tokens::LinkMaker::new(
            signer.clone(),
            config.app_base_url.clone(),
        ));
        let discord_page = settings
            .pages
            .discord_guild_id
            .as_ref()
            .and_then(|g| Url::parse(&format!("https://discord.com/channels/{g}")).ok())
            .unwrap_or_else(|| {
                Url::parse("https://discord.com/app").expect("constant URL is valid")
            });
        let auth = Arc::new(DiscordAuth {
            signer,
            used: replay::UsedTokens::new(),
            sessions: session::SessionVerifier::new(clerk_client, settings.clerk_session.clone()),
            discord: discord_client,
            discord_config: discord_settings,
            metadata,
            links: PageLinks {
                dashboard: settings.pages.dashboard_url.clone(),
                discord: discord_page,
                support: settings.pages.support_email.clone(),
            },
            secure_cookies: config.app_base_url.scheme() == "https",
            callback_url: flow::callback_url(&config.app_base_url),
        });
        Integrations {
            users,
            mailer,
            guild,
            links,
            auth,
        }
    }
}
