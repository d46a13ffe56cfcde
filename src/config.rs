//! Typed configuration from the environment (docs/design.md §6).
//!
//! Every setting is read and validated at start-up. Missing production settings are
//! collected, not reported one at a time: the error lists every one that is missing, so an
//! operator fixes the deployment in one go. Secrets are held as
//! [`SecretString`](secrecy::SecretString) and never printed; errors name variables, never values.

use std::num::NonZeroU32;
use std::time::Duration;

use url::Url;

pub use crate::env::{ConfigError, Environment};
use crate::env::{Env, parse_http_url};
use crate::integrations::config::IntegrationsConfig;
use crate::webhooks::config::WebhooksConfig;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the development default).
    Pretty,
    /// One JSON object per line (the production default).
    Json,
}

/// The app's configuration.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Development or production.
    pub environment: Environment,
    /// Address to bind; `0.0.0.0` in containers.
    pub host: String,
    /// Port to bind; 0 picks a free port (tests).
    pub port: u16,
    /// The public origin of this app, for links in emails and OAuth redirects.
    pub app_base_url: Url,
    /// Log format.
    pub log_format: LogFormat,
    /// The Inngest SDK's configuration (the standard `INNGEST_*` variables).
    pub inngest: inngest_sdk::Config,
    /// `INNGEST_CONNECT=1`: the functions are served over an outbound Connect WebSocket
    /// (docs/protocol.md §13) instead of at `/api/inngest`; the HTTP routes stay.
    pub inngest_connect: bool,
    /// The payment and vendor webhook routes' secrets, catalog and PayPal API settings.
    pub webhooks: WebhooksConfig,
    /// Clerk, Resend, Discord and the link-token key (issue 3).
    pub integrations: IntegrationsConfig,
    /// Reminder count and interval of onboarding-flow; `None` keeps docs/design.md §4's defaults.
    pub onboarding: OnboardingTiming,
    /// Connection hygiene and rate limits of the public listener (issue 17).
    pub http: HttpLimits,
}

/// How the listener treats slow, idle and too many clients, and how often one client may
/// call the public routes (docs/hardening.md, "Web-facing limits").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// `HEADER_READ_TIMEOUT_SECS` (default 10): a connection must deliver a request's whole
    /// head within this long of waiting for it, or it is closed (slow-header clients).
    pub header_read_timeout: Duration,
    /// `KEEP_ALIVE_IDLE_SECS` (default 5): a connection with no request in flight and no
    /// byte received for this long is closed. The header-read timeout also runs while a
    /// connection waits for its next request, so the longer of the two never applies.
    pub keep_alive_idle: Duration,
    /// `MAX_CONNECTIONS` (default 4096): open connections served at once; beyond it a new
    /// connection is answered 503 and closed. Lowered at start to fit the open-file limit.
    pub max_connections: usize,
    /// `DISCORD_RATE_LIMIT_PER_MINUTE` / `_BURST` (default 120 / 240): the Discord pages.
    pub discord_rate: RateLimit,
    /// `WEBHOOK_RATE_LIMIT_PER_MINUTE` / `_BURST` (default 1200 / 600): the webhook routes.
    pub webhook_rate: RateLimit,
    /// `TRUSTED_PROXY_HEADER` (unset by default): behind a reverse proxy, the header whose
    /// last entry is the client address (`X-Forwarded-For`). Unset, the peer address is the
    /// client: a header a client can write itself must never choose its rate-limit key.
    pub trusted_proxy_header: Option<http::HeaderName>,
}

/// A per-client rate: requests per minute on average, and how many may come at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per minute.
    pub per_minute: NonZeroU32,
    /// Requests allowed back to back before the rate applies.
    pub burst: NonZeroU32,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            keep_alive_idle: Duration::from_secs(5),
            max_connections: 4096,
            discord_rate: RateLimit::new(120, 240),
            webhook_rate: RateLimit::new(1200, 600),
            trusted_proxy_header: None,
        }
    }
}

impl RateLimit {
    /// A rate from constants; zero is raised to one.
    pub const fn new(per_minute: u32, burst: u32) -> Self {
        RateLimit {
            per_minute: nonzero(per_minute),
            burst: nonzero(burst),
        }
    }
}

const fn nonzero(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

impl HttpLimits {
    fn from_env(env: &mut Env<'_>) -> Self {
        let defaults = HttpLimits::default();
        let seconds = |env: &mut Env<'_>, name: &'static str, max: u64, default: Duration| {
            let value = env.optional(name);
            env.parsed(name, value, |v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .map(Duration::from_secs)
                    .ok_or_else(|| format!("must be a whole number of seconds from 1 to {max}"))
            })
            .unwrap_or(default)
        };
        let header_read_timeout = seconds(
            env,
            "HEADER_READ_TIMEOUT_SECS",
            300,
            defaults.header_read_timeout,
        );
        let keep_alive_idle = seconds(env, "KEEP_ALIVE_IDLE_SECS", 3600, defaults.keep_alive_idle);
        let count = |env: &mut Env<'_>, name: &'static str, default: u32| {
            let value = env.optional(name);
            env.parsed(name, value, |v| {
                v.parse::<u32>()
                    .ok()
                    .and_then(NonZeroU32::new)
                    .ok_or_else(|| "must be a whole number of at least 1".to_owned())
            })
            .unwrap_or(nonzero(default))
        };
        let max_connections = count(
            env,
            "MAX_CONNECTIONS",
            u32::try_from(defaults.max_connections).unwrap_or(u32::MAX),
        );
        let discord_rate = RateLimit {
            per_minute: count(
                env,
                "DISCORD_RATE_LIMIT_PER_MINUTE",
                defaults.discord_rate.per_minute.get(),
            ),
            burst: count(
                env,
                "DISCORD_RATE_LIMIT_BURST",
                defaults.discord_rate.burst.get(),
            ),
        };
        let webhook_rate = RateLimit {
            per_minute: count(
                env,
                "WEBHOOK_RATE_LIMIT_PER_MINUTE",
                defaults.webhook_rate.per_minute.get(),
            ),
            burst: count(
                env,
                "WEBHOOK_RATE_LIMIT_BURST",
                defaults.webhook_rate.burst.get(),
            ),
        };
        let header = env.optional("TRUSTED_PROXY_HEADER");
        let trusted_proxy_header = env.parsed("TRUSTED_PROXY_HEADER", header, |v| {
            http::HeaderName::from_bytes(v.as_bytes())
                .map_err(|_| "must be an HTTP header name, like X-Forwarded-For".to_owned())
        });
        HttpLimits {
            header_read_timeout,
            keep_alive_idle,
            max_connections: usize::try_from(max_connections.get()).unwrap_or(usize::MAX),
            discord_rate,
            webhook_rate,
            trusted_proxy_header,
        }
    }
}

/// `ONBOARDING_REMINDERS` and `ONBOARDING_REMINDER_INTERVAL` (a time string like `48h`).
#[derive(Debug, Clone, Default)]
pub struct OnboardingTiming {
    /// How many reminders before staff are alerted (default 3).
    pub reminders: Option<u32>,
    /// How long each wait for the Discord connection lasts (default 48 h).
    pub reminder_interval: Option<std::time::Duration>,
}

impl OnboardingTiming {
    fn from_env(env: &mut Env<'_>) -> Self {
        let reminders = env.optional("ONBOARDING_REMINDERS");
        let reminders = env.parsed("ONBOARDING_REMINDERS", reminders, |v| {
            v.parse::<u32>()
                .ok()
                .filter(|n| *n <= 20)
                .ok_or_else(|| "must be a whole number from 0 to 20".to_owned())
        });
        // Seconds-long rounds let a developer (and the end-to-end tests) watch the reminders
        // and the staff alert happen; production keeps buyers from being spammed.
        let (shortest, reason) = match env.environment() {
            Environment::Development => (1, "must be a duration of at least 1s, like 48h"),
            Environment::Production => (60, "must be a duration of at least 1m, like 48h"),
        };
        let interval = env.optional("ONBOARDING_REMINDER_INTERVAL");
        let reminder_interval = env.parsed("ONBOARDING_REMINDER_INTERVAL", interval, |v| {
            inngest_sdk::parse_duration(v)
                .ok()
                .filter(|d| d.as_secs() >= shortest)
                .ok_or_else(|| reason.to_owned())
        });
        OnboardingTiming {
            reminders,
            reminder_interval,
        }
    }
}

impl AppConfig {
    /// Reads the process environment (after a `.env` file, if the caller loaded one).
    pub fn from_env() -> Result<Self, ConfigError> {
        AppConfig::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Env::new(lookup);
        let environment = env.environment();
        let port_value = env.optional("PORT");
        let port = env
            .parsed("PORT", port_value, |v| {
                v.parse::<u16>().map_err(|_| "not a port number".to_owned())
            })
            .unwrap_or(3000);
        let host = env.optional("HOST").unwrap_or_else(|| "0.0.0.0".to_owned());
        let base_value = match environment {
            Environment::Production => env.required("APP_BASE_URL"),
            Environment::Development => Some(
                env.optional("APP_BASE_URL")
                    .unwrap_or_else(|| format!("http://localhost:{port}")),
            ),
        };
        let app_base_url = env.parsed("APP_BASE_URL", base_value, parse_http_url);
        let log_format = match env.optional("LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(_) => {
                env.invalid("LOG_FORMAT", "must be `json` or `pretty`");
                LogFormat::Json
            }
            None if environment == Environment::Production => LogFormat::Json,
            None => LogFormat::Pretty,
        };
        let inngest = match inngest_sdk::Config::from_lookup(lookup) {
            Ok(config) => Some(config),
            Err(error) => {
                env.invalid("INNGEST_*", error.to_string());
                None
            }
        };
        if environment == Environment::Production {
            env.required("INNGEST_SIGNING_KEY");
            env.required("INNGEST_EVENT_KEY");
        }
        let connect_setting = env.optional("INNGEST_CONNECT");
        let inngest_connect = env
            .parsed("INNGEST_CONNECT", connect_setting, parse_switch)
            .unwrap_or(false);
        let webhooks = WebhooksConfig::from_env(&mut env);
        let integrations = IntegrationsConfig::from_env(&mut env, app_base_url.as_ref());
        let onboarding = OnboardingTiming::from_env(&mut env);
        let http = HttpLimits::from_env(&mut env);
        env.finish()?;
        Ok(AppConfig {
            environment,
            host,
            port,
            app_base_url: app_base_url.expect("finish() returned Ok, so APP_BASE_URL parsed"),
            log_format,
            inngest: inngest.expect("finish() returned Ok, so the Inngest config parsed"),
            inngest_connect,
            webhooks,
            integrations: integrations
                .expect("finish() returned Ok, so every vendor setting parsed"),
            onboarding,
            http,
        })
    }
}

/// An on/off setting: `1`/`true` or `0`/`false` (empty is off).
fn parse_switch(value: &str) -> Result<bool, String> {
    match value.trim() {
        "1" | "true" => Ok(true),
        "" | "0" | "false" => Ok(false),
        _ => Err("must be 1 or 0".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::test_lookup as lookup;

    #[test]
    fn development_needs_nothing_but_inngest_dev() {
        let config = AppConfig::from_lookup(&lookup(&[("INNGEST_DEV", "1")])).expect("valid");
        assert_eq!(config.environment, Environment::Development);
        assert_eq!(config.port, 3000);
        assert_eq!(config.app_base_url.as_str(), "http://localhost:3000/");
        assert_eq!(config.log_format, LogFormat::Pretty);
    }

    #[test]
    fn inngest_connect_is_off_unless_set_and_refuses_nonsense() {
        let config = AppConfig::from_lookup(&lookup(&[("INNGEST_DEV", "1")])).expect("valid");
        assert!(!config.inngest_connect);
        let config =
            AppConfig::from_lookup(&lookup(&[("INNGEST_DEV", "1"), ("INNGEST_CONNECT", "1")]))
                .expect("valid");
        assert!(config.inngest_connect);
        let config =
            AppConfig::from_lookup(&lookup(&[("INNGEST_DEV", "1"), ("INNGEST_CONNECT", "0")]))
                .expect("valid");
        assert!(!config.inngest_connect);
        let error =
            AppConfig::from_lookup(&lookup(&[("INNGEST_DEV", "1"), ("INNGEST_CONNECT", "yes")]))
                .expect_err("invalid");
        assert!(error.to_string().contains("INNGEST_CONNECT"), "{error}");
    }

    #[test]
    fn production_lists_every_missing_setting() {
        let error = AppConfig::from_lookup(&lookup(&[])).expect_err("incomplete");
        assert_eq!(
            error.missing[..3],
            ["APP_BASE_URL", "INNGEST_SIGNING_KEY", "INNGEST_EVENT_KEY"]
        );
        let text = error.to_string();
        assert!(text.contains("APP_BASE_URL, INNGEST_SIGNING_KEY, INNGEST_EVENT_KEY"));
    }

    #[test]
    fn http_limits_have_defaults_and_read_their_variables() {
        let config = AppConfig::from_lookup(&lookup(&[("INNGEST_DEV", "1")])).expect("valid");
        assert_eq!(config.http, HttpLimits::default());
        assert_eq!(config.http.header_read_timeout, Duration::from_secs(10));

        let config = AppConfig::from_lookup(&lookup(&[
            ("INNGEST_DEV", "1"),
            ("HEADER_READ_TIMEOUT_SECS", "1"),
            ("KEEP_ALIVE_IDLE_SECS", "2"),
            ("MAX_CONNECTIONS", "3"),
            ("DISCORD_RATE_LIMIT_PER_MINUTE", "4"),
            ("DISCORD_RATE_LIMIT_BURST", "5"),
            ("WEBHOOK_RATE_LIMIT_PER_MINUTE", "6"),
            ("WEBHOOK_RATE_LIMIT_BURST", "7"),
            ("TRUSTED_PROXY_HEADER", "X-Forwarded-For"),
        ]))
        .expect("valid");
        assert_eq!(
            config.http,
            HttpLimits {
                header_read_timeout: Duration::from_secs(1),
                keep_alive_idle: Duration::from_secs(2),
                max_connections: 3,
                discord_rate: RateLimit::new(4, 5),
                webhook_rate: RateLimit::new(6, 7),
                trusted_proxy_header: Some(http::HeaderName::from_static("x-forwarded-for")),
            }
        );
    }

    #[test]
    fn http_limits_refuse_zero_and_nonsense() {
        let error = AppConfig::from_lookup(&lookup(&[
            ("INNGEST_DEV", "1"),
            ("HEADER_READ_TIMEOUT_SECS", "0"),
            ("MAX_CONNECTIONS", "0"),
            ("WEBHOOK_RATE_LIMIT_BURST", "many"),
            ("TRUSTED_PROXY_HEADER", "not a header"),
        ]))
        .expect_err("invalid");
        let named: Vec<_> = error.invalid.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            named,
            [
                "HEADER_READ_TIMEOUT_SECS",
                "MAX_CONNECTIONS",
                "WEBHOOK_RATE_LIMIT_BURST",
                "TRUSTED_PROXY_HEADER"
            ]
        );
    }

    #[test]
    fn invalid_values_are_named_but_never_printed() {
        let error = AppConfig::from_lookup(&lookup(&[
            ("INNGEST_DEV", "1"),
            ("PORT", "secret-port-value"),
        ]))
        .expect_err("invalid");
        assert_eq!(error.invalid[0].0, "PORT");
        assert!(!error.to_string().contains("secret-port-value"));
    }
}
