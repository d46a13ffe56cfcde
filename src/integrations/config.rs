//! Vendor settings (Clerk, Resend, Discord) and the link-token key, read from the environment.
//!
//! Each vendor is either fully configured (live) or, only with `INNGEST_DEV` set, entirely
//! unconfigured (dry run, docs/design.md §6). A vendor with some settings but not all is a mistake
//! in either environment, so its missing settings are reported like production's.

use std::fmt;

use huckleberry_functions::config::DiscordRoles;
use huckleberry_functions::ids::RoleId;
use huckleberry_functions::ports::EmailAddress;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::env::{Env, Environment, parse_http_url};
use crate::paths::DISCORD_CALLBACK;

/// Clerk's Backend API origin, including the version path.
pub const CLERK_API_BASE_URL: &str = "https://api.clerk.com/v1";
/// Resend's API origin.
pub const RESEND_API_BASE_URL: &str = "https://api.resend.com";
/// Discord's REST API, versioned (docs/integrations.md §3.3).
pub const DISCORD_API_BASE_URL: &str = "https://discord.com/api/v10";
/// Discord's OAuth2 consent page (docs/integrations.md §3.1).
pub const DISCORD_AUTHORIZE_URL: &str = "https://discord.com/oauth2/authorize";
/// Shortest accepted link-token key: 256 bits, the HMAC-SHA256 block strength.
pub const MIN_LINK_KEY_BYTES: usize = 32;

/// Every vendor's settings. `None` for a vendor means it runs dry (development only).
#[derive(Debug, Clone)]
pub struct IntegrationsConfig {
    /// The Clerk Backend API, or `None` for the in-memory dry-run directory.
    pub clerk: Option<ClerkConfig>,
    /// Verifying Clerk session tokens for the dashboard button.
    pub clerk_session: ClerkSessionConfig,
    /// The Resend API, or `None` for the log-only dry-run mailer.
    pub resend: Option<ResendConfig>,
    /// Where emails come from and where staff alerts go (needed by live and dry-run mailers).
    pub email: EmailConfig,
    /// Discord OAuth and the bot, or `None` for the dry-run flow that skips Discord.
    pub discord: Option<DiscordConfig>,
    /// The key that signs emailed links and the OAuth cookie; `None` in development means a
    /// random key per process (links then die with the process).
    pub link_key: Option<LinkKey>,
    /// Fixed destinations of the result pages (never taken from a request).
    pub pages: PagesConfig,
}

/// Clerk Backend API settings.
#[derive(Debug, Clone)]
pub struct ClerkConfig {
    /// `CLERK_API_BASE_URL` (default [`CLERK_API_BASE_URL`]); tests point it at a stand-in.
    pub api_base: Url,
    /// `CLERK_SECRET_KEY` (`sk_live_…`): bearer for the Backend API and its JWKS.
    pub secret_key: SecretString,
}

/// How Clerk session tokens (the dashboard button) are checked.
#[derive(Debug, Clone, Default)]
pub struct ClerkSessionConfig {
    /// `CLERK_ISSUER`: the instance's Frontend API URL; the token's `iss` must equal it when set.
    pub issuer: Option<String>,
    /// `CLERK_AUTHORIZED_PARTIES` (comma-separated origins); defaults to the dashboard's
    /// origin. A token whose `azp` is not listed is refused (Clerk's CSRF advice).
    pub authorized_parties: Vec<String>,
}

/// Resend API settings.
#[derive(Debug, Clone)]
pub struct ResendConfig {
    /// `RESEND_API_BASE_URL` (default [`RESEND_API_BASE_URL`]).
    pub api_base: Url,
    /// `RESEND_API_KEY` (`re_…`).
    pub api_key: SecretString,
}

/// Addresses used by every mailer.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// `EMAIL_FROM`: `Name <address@verified-domain>`.
    pub from: String,
    /// `STAFF_ALERT_EMAIL`: where stuck-buyer and bounce alerts go.
    pub staff_alert: EmailAddress,
}

/// Discord OAuth application and bot settings.
#[derive(Clone)]
pub struct DiscordConfig {
    /// `DISCORD_CLIENT_ID`: the OAuth application id.
    pub client_id: String,
    /// `DISCORD_CLIENT_SECRET`.
    pub client_secret: SecretString,
    /// `DISCORD_BOT_TOKEN`: the same application's bot, in the guild with `MANAGE_ROLES`.
    pub bot_token: SecretString,
    /// `DISCORD_GUILD_ID`: the academy's server.
    pub guild_id: String,
    /// `DISCORD_ROLE_ONE_ON_ONE` and `DISCORD_ROLE_GROUP`: the role each mentorship kind
    /// grants, at the guild join and in onboarding's role grant.
    pub roles: DiscordRoles,
    /// `DISCORD_API_BASE_URL` (default [`DISCORD_API_BASE_URL`]); the token endpoint is
    /// `{api}/oauth2/token`.
    pub api_base: Url,
    /// `DISCORD_AUTHORIZE_URL` (default [`DISCORD_AUTHORIZE_URL`]).
    pub authorize_url: Url,
    /// `APP_BASE_URL` + [`DISCORD_CALLBACK`]: must be registered with Discord.
    pub redirect_url: Url,
}

impl fmt::Debug for DiscordConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SecretString already redacts; listing fields explicitly keeps it that way if a
        // field's type ever changes.
        f.debug_struct("DiscordConfig")
            .field("client_id", &self.client_id)
            .field("guild_id", &self.guild_id)
            .field("roles", &self.roles)
            .field("api_base", &self.api_base.as_str())
            .field("authorize_url", &self.authorize_url.as_str())
            .field("redirect_url", &self.redirect_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Fixed destinations the result pages link to.
#[derive(Debug, Clone)]
pub struct PagesConfig {
    /// `DASHBOARD_URL`: the academy dashboard ("Try again" starts from its button).
    pub dashboard_url: Url,
    /// `SUPPORT_EMAIL` (default `STAFF_ALERT_EMAIL`): the "Contact us" mailto.
    pub support_email: Option<EmailAddress>,
    /// The guild id for "Open Discord" (`https://discord.com/channels/<guild>`), if known.
    pub discord_guild_id: Option<String>,
}

/// The HMAC key for link tokens and the OAuth cookie (`LINK_TOKEN_KEY`, ≥ 32 bytes).
#[derive(Clone)]
pub struct LinkKey(SecretString);

impl LinkKey {
    /// Wraps a key; `None` when shorter than [`MIN_LINK_KEY_BYTES`].
    pub fn new(key: SecretString) -> Option<Self> {
        (key.expose_secret().len() >= MIN_LINK_KEY_BYTES).then_some(LinkKey(key))
    }

    /// The key bytes, for the MAC only.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkKey([REDACTED])")
    }
}

impl IntegrationsConfig {
    /// Reads every vendor's settings, recording what is missing or invalid in `env`.
    pub fn from_env(env: &mut Env<'_>, app_base_url: Option<&Url>) -> Option<Self> {
        let clerk = read_clerk(env);
        let resend = read_resend(env);
        let email = read_email(env);
        let discord = read_discord(env, app_base_url);
        let link_key = read_link_key(env);
        let dashboard = match env.environment() {
            Environment::Production => env.required("DASHBOARD_URL"),
            Environment::Development => env
                .optional("DASHBOARD_URL")
                .or_else(|| app_base_url.map(|u| u.to_string())),
        };
        let dashboard_url = env.parsed("DASHBOARD_URL", dashboard, parse_http_url);
        let support = env.optional("SUPPORT_EMAIL");
        let support_email = env
            .parsed("SUPPORT_EMAIL", support, parse_email)
            .or_else(|| email.as_ref().map(|e| e.staff_alert.clone()));
        let mut authorized_parties: Vec<String> = env
            .optional("CLERK_AUTHORIZED_PARTIES")
            .map(|v| {
                v.split(',')
                    .map(|p| p.trim().trim_end_matches('/').to_owned())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if authorized_parties.is_empty()
            && let Some(dashboard) = &dashboard_url
        {
            authorized_parties.push(dashboard.origin().ascii_serialization());
        }
        let clerk_session = ClerkSessionConfig {
            issuer: env.optional("CLERK_ISSUER"),
            authorized_parties,
        };
        let email = email?;
        let discord_guild_id = discord.as_ref().map(|d| d.guild_id.clone());
        Some(IntegrationsConfig {
            clerk,
            clerk_session,
            resend,
            email,
            discord,
            link_key,
            pages: PagesConfig {
                dashboard_url: dashboard_url?,
                support_email,
                discord_guild_id,
            },
        })
    }
}

/// Reads a group of settings that are all required for a vendor to run live: all present →
/// `Some(values)`; none present in development → `None` (dry run); otherwise each absent one
/// is reported missing.
fn group<const N: usize>(env: &mut Env<'_>, names: [&'static str; N]) -> Option<[String; N]> {
    let values = names.map(|name| env.optional(name));
    let present = values.iter().filter(|v| v.is_some()).count();
    if present == N {
        return Some(values.map(|v| v.unwrap_or_default()));
    }
    if present > 0 || env.environment() == Environment::Production {
        for (name, value) in names.iter().zip(&values) {
            if value.is_none() {
                env.missing(name);
            }
        }
    }
    None
}

/// A vendor base URL: the setting, or the vendor's own. A bare origin (no path) gets the
/// default's path, so `CLERK_API_BASE_URL=http://127.0.0.1:9000` means
/// `http://127.0.0.1:9000/v1` and `DISCORD_API_BASE_URL=https://proxy.example` means
/// `https://proxy.example/api/v10`; a URL with a path is used as it is.
fn base_url(env: &mut Env<'_>, name: &'static str, default: &str) -> Url {
    let default = Url::parse(default).expect("the default base URLs are valid");
    let value = env.optional(name);
    match env.parsed(name, value, parse_http_url) {
        Some(mut url) => {
            if url.path() == "/" {
                url.set_path(default.path());
            }
            url
        }
        None => default,
    }
}

fn read_clerk(env: &mut Env<'_>) -> Option<ClerkConfig> {
    let api_base = base_url(env, "CLERK_API_BASE_URL", CLERK_API_BASE_URL);
    let [secret_key] = group(env, ["CLERK_SECRET_KEY"])?;
    Some(ClerkConfig {
        api_base,
        secret_key: SecretString::from(secret_key),
    })
}

fn read_resend(env: &mut Env<'_>) -> Option<ResendConfig> {
    let api_base = base_url(env, "RESEND_API_BASE_URL", RESEND_API_BASE_URL);
    let [api_key] = group(env, ["RESEND_API_KEY"])?;
    Some(ResendConfig {
        api_base,
        api_key: SecretString::from(api_key),
    })
}

fn read_email(env: &mut Env<'_>) -> Option<EmailConfig> {
    // Dry-run mail still renders a sender and a staff address, so development has defaults.
    let dev = env.environment() == Environment::Development;
    let from = if dev {
        env.optional("EMAIL_FROM")
            .or_else(|| Some("Huckleberry Art Academy <onboarding@resend.dev>".to_owned()))
    } else {
        env.required("EMAIL_FROM")
    };
    let staff = if dev {
        env.optional("STAFF_ALERT_EMAIL")
            .or_else(|| Some("staff@localhost.test".to_owned()))
    } else {
        env.required("STAFF_ALERT_EMAIL")
    };
    let staff_alert = env.parsed("STAFF_ALERT_EMAIL", staff, parse_email);
    Some(EmailConfig {
        from: from?,
        staff_alert: staff_alert?,
    })
}

fn read_discord(env: &mut Env<'_>, app_base_url: Option<&Url>) -> Option<DiscordConfig> {
    let api_base = base_url(env, "DISCORD_API_BASE_URL", DISCORD_API_BASE_URL);
    let authorize_url = base_url(env, "DISCORD_AUTHORIZE_URL", DISCORD_AUTHORIZE_URL);
    let [
        client_id,
        client_secret,
        bot_token,
        guild_id,
        role_one_on_one,
        role_group,
    ] = group(
        env,
        [
            "DISCORD_CLIENT_ID",
            "DISCORD_CLIENT_SECRET",
            "DISCORD_BOT_TOKEN",
            "DISCORD_GUILD_ID",
            "DISCORD_ROLE_ONE_ON_ONE",
            "DISCORD_ROLE_GROUP",
        ],
    )?;
    let redirect_url = app_base_url?.join(DISCORD_CALLBACK).ok()?;
    Some(DiscordConfig {
        client_id,
        client_secret: SecretString::from(client_secret),
        bot_token: SecretString::from(bot_token),
        guild_id,
        roles: DiscordRoles {
            one_on_one: RoleId::new(role_one_on_one),
            group: RoleId::new(role_group),
        },
        api_base,
        authorize_url,
        redirect_url,
    })
}

fn read_link_key(env: &mut Env<'_>) -> Option<LinkKey> {
    let key = env.required_secret("LINK_TOKEN_KEY")?;
    let key = LinkKey::new(key);
    if key.is_none() {
        env.invalid(
            "LINK_TOKEN_KEY",
            format!("must be at least {MIN_LINK_KEY_BYTES} bytes"),
        );
    }
    key
}

fn parse_email(value: &str) -> Result<EmailAddress, String> {
    EmailAddress::parse(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{ConfigError, test_lookup};
    use huckleberry_functions::events::MentorshipKind;

    /// The vendor settings alone, as start-up reads them for the development base URL.
    fn read(
        vars: &'static [(&'static str, &'static str)],
    ) -> Result<IntegrationsConfig, ConfigError> {
        let lookup = test_lookup(vars);
        let mut env = Env::new(&lookup);
        let base = Url::parse("http://localhost:3000").ok();
        let config = IntegrationsConfig::from_env(&mut env, base.as_ref());
        env.finish()
            .map(|()| config.expect("finish() returned Ok, so every vendor setting parsed"))
    }

    #[test]
    fn a_bare_vendor_origin_gets_the_apis_version_path() {
        let config = read(&[
            ("INNGEST_DEV", "1"),
            ("CLERK_SECRET_KEY", "sk_test_x"),
            ("CLERK_API_BASE_URL", "http://127.0.0.1:9000"),
            ("RESEND_API_KEY", "re_x"),
            ("RESEND_API_BASE_URL", "http://127.0.0.1:9001/resend"),
        ])
        .expect("valid");
        let integrations = &config;
        let clerk = integrations.clerk.as_ref().expect("clerk is live");
        assert_eq!(clerk.api_base.as_str(), "http://127.0.0.1:9000/v1");
        let resend = integrations.resend.as_ref().expect("resend is live");
        assert_eq!(resend.api_base.as_str(), "http://127.0.0.1:9001/resend");
    }

    #[test]
    fn development_without_vendor_settings_runs_every_vendor_dry() {
        let config = read(&[("INNGEST_DEV", "1")]).expect("valid");
        let integrations = &config;
        assert!(integrations.clerk.is_none());
        assert!(integrations.resend.is_none());
        assert!(integrations.discord.is_none());
        assert!(integrations.link_key.is_none());
    }

    #[test]
    fn production_lists_every_missing_vendor_setting() {
        let error = read(&[]).expect_err("incomplete");
        for name in [
            "CLERK_SECRET_KEY",
            "RESEND_API_KEY",
            "EMAIL_FROM",
            "STAFF_ALERT_EMAIL",
            "DISCORD_CLIENT_ID",
            "DISCORD_CLIENT_SECRET",
            "DISCORD_BOT_TOKEN",
            "DISCORD_GUILD_ID",
            "DISCORD_ROLE_ONE_ON_ONE",
            "DISCORD_ROLE_GROUP",
            "LINK_TOKEN_KEY",
            "DASHBOARD_URL",
        ] {
            assert!(error.missing.contains(&name), "{name} is listed");
            assert!(error.to_string().contains(name));
        }
    }

    #[test]
    fn a_half_configured_vendor_is_an_error_even_in_development() {
        let error = read(&[("INNGEST_DEV", "1"), ("DISCORD_CLIENT_ID", "123")])
            .expect_err("incomplete Discord");
        assert!(error.missing.contains(&"DISCORD_CLIENT_SECRET"));
        assert!(error.missing.contains(&"DISCORD_BOT_TOKEN"));
        assert!(!error.missing.contains(&"CLERK_SECRET_KEY"));
    }

    #[test]
    fn a_short_link_key_is_invalid_and_its_value_never_printed() {
        let error = read(&[("INNGEST_DEV", "1"), ("LINK_TOKEN_KEY", "too-short-secret")])
            .expect_err("short key");
        assert_eq!(error.invalid[0].0, "LINK_TOKEN_KEY");
        assert!(!error.to_string().contains("too-short-secret"));
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let config = read(&[
            ("INNGEST_DEV", "1"),
            ("CLERK_SECRET_KEY", "sk_test_supersecret"),
            ("RESEND_API_KEY", "re_supersecret"),
            ("DISCORD_CLIENT_ID", "123"),
            ("DISCORD_CLIENT_SECRET", "discord-client-supersecret"),
            ("DISCORD_BOT_TOKEN", "bot-supersecret"),
            ("DISCORD_GUILD_ID", "42"),
            ("DISCORD_ROLE_ONE_ON_ONE", "7"),
            ("DISCORD_ROLE_GROUP", "8"),
            (
                "LINK_TOKEN_KEY",
                "0123456789abcdef0123456789abcdef-supersecret",
            ),
        ])
        .expect("valid");
        let debug = format!("{config:?}");
        assert!(!debug.contains("supersecret"), "{debug}");
        let discord = config.discord.expect("live Discord");
        assert_eq!(
            discord.redirect_url.as_str(),
            "http://localhost:3000/api/auth/discord/callback"
        );
        assert_eq!(discord.roles.for_kind(MentorshipKind::Group), "8");
    }
}
