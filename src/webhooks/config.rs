//! Webhook route configuration (docs/design.md §6, docs/integrations.md §11.1): secrets, the
//! product catalog, Stripe's mode and PayPal's environment and API credentials.
//!
//! | variable | format | production |
//! |---|---|---|
//! | `STRIPE_WEBHOOK_SECRETS` | comma-separated `whsec_…`; several while a secret is rolled | required |
//! | `STRIPE_LIVEMODE` | `true` \| `false`: which Stripe mode this deployment accepts | required |
//! | `MENTORSHIP_CATALOG` | comma-separated `<reference>=<kind>`, kind `one_on_one` \| `group`; a reference is a Stripe price/product/Payment Link id in `metadata.product` or `payment_link`, or the product code of a PayPal `custom_id` | required |
//! | `PAYPAL_WEBHOOK_ID` | our webhook's id from the PayPal dashboard | required |
//! | `PAYPAL_ENVIRONMENT` | `sandbox` \| `live` | required |
//! | `PAYPAL_CLIENT_ID`, `PAYPAL_CLIENT_SECRET` | REST app credentials, for the order lookup | required |
//! | `PAYPAL_API_BASE_URL` | optional override; default by environment | optional |
//! | `CLERK_WEBHOOK_SECRET` | comma-separated `whsec_<base64>` (Svix) | required |
//! | `RESEND_WEBHOOK_SECRET` | comma-separated `whsec_<base64>` (Svix) | required |
//! | `WEBHOOK_DELIVERY_TIMEOUT_MS` | optional; how long a route waits for Inngest (default 10 000) | optional |
//!
//! In development a route whose settings are absent is not mounted: it answers 503 and
//! start-up logs why. Verification is never skipped; a set but invalid value is an error in
//! both environments.

use std::fmt;
use std::time::Duration;

use huckleberry_functions::events::MentorshipKind;
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use super::stripe::StripeVerifier;
use super::svix::SvixVerifier;
use super::{Catalog, DEFAULT_TOLERANCE, WebhookSecret};
use crate::env::{Env, Environment, parse_http_url};

/// Default for how long a route waits for Inngest to accept an event. Providers give up on a
/// delivery after 10–30 s (Svix: 15 s), and must see our 5xx before that to retry.
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// PayPal's live REST API.
pub const PAYPAL_LIVE_API: &str = "https://api-m.paypal.com";
/// PayPal's sandbox REST API.
pub const PAYPAL_SANDBOX_API: &str = "https://api-m.sandbox.paypal.com";

/// Everything the four webhook routes need.
#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    /// `POST /api/stripe/webhook`.
    pub stripe: Mount<StripeConfig>,
    /// `POST /api/paypal/webhook`.
    pub paypal: Mount<PaypalConfig>,
    /// `POST /api/clerk/webhook`.
    pub clerk: Mount<SvixConfig>,
    /// `POST /api/resend/webhook`.
    pub resend: Mount<SvixConfig>,
    /// Which mentorship each product reference sells (Stripe and PayPal).
    pub catalog: Catalog,
    /// How long a route waits for Inngest before answering 503 (the provider then retries).
    pub delivery_timeout: Duration,
}

/// Whether a route is mounted, and if not, why (said at start-up and in its 503).
#[derive(Debug, Clone)]
pub enum Mount<T> {
    /// Configured: the route verifies and forwards.
    Mounted(T),
    /// Not configured (development only): the route answers 503 with this reason.
    NotMounted(String),
}

impl<T> Mount<T> {
    /// The settings, when mounted.
    pub fn as_mounted(&self) -> Option<&T> {
        match self {
            Self::Mounted(settings) => Some(settings),
            Self::NotMounted(_) => None,
        }
    }
}

/// Stripe route settings.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// Verifies `Stripe-Signature` under every configured secret.
    pub verifier: StripeVerifier,
    /// The mode this deployment accepts; events of the other mode are ignored (§11.6).
    pub livemode: bool,
}

/// PayPal route settings.
#[derive(Clone)]
pub struct PaypalConfig {
    /// OUR webhook id: binds signatures to this endpoint and environment.
    pub webhook_id: String,
    /// Sandbox or live: decides `livemode` of purchases and the default API base URL.
    pub environment: PaypalEnvironment,
    /// REST API base URL for the OAuth token and the order lookup.
    pub api_base_url: Url,
    /// REST app client id.
    pub client_id: String,
    /// REST app client secret.
    pub client_secret: SecretString,
}

impl fmt::Debug for PaypalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaypalConfig")
            .field("webhook_id", &self.webhook_id)
            .field("environment", &self.environment)
            .field("api_base_url", &self.api_base_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// PayPal's environments: their webhook ids, hosts and credentials are separate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaypalEnvironment {
    /// `api-m.sandbox.paypal.com`; purchases have `livemode: false`.
    Sandbox,
    /// `api-m.paypal.com`; purchases have `livemode: true`.
    Live,
}

/// A Svix route's (Clerk, Resend) settings.
#[derive(Debug, Clone)]
pub struct SvixConfig {
    /// Verifies `svix-signature` under every configured secret.
    pub verifier: SvixVerifier,
}

impl WebhooksConfig {
    /// Reads the webhook settings, recording missing (production) and invalid values in `env`.
    pub fn from_env(env: &mut Env<'_>) -> Self {
        let catalog_value = env.required("MENTORSHIP_CATALOG");
        let catalog = env
            .parsed("MENTORSHIP_CATALOG", catalog_value, parse_catalog)
            .unwrap_or_default();
        let timeout_value = env.optional("WEBHOOK_DELIVERY_TIMEOUT_MS");
        let delivery_timeout = env
            .parsed(
                "WEBHOOK_DELIVERY_TIMEOUT_MS",
                timeout_value,
                |v| match v.parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
                    _ => Err("must be a positive number of milliseconds".to_owned()),
                },
            )
            .unwrap_or(DEFAULT_DELIVERY_TIMEOUT);
        WebhooksConfig {
            stripe: stripe_from_env(env),
            paypal: paypal_from_env(env),
            clerk: svix_from_env(env, "CLERK_WEBHOOK_SECRET"),
            resend: svix_from_env(env, "RESEND_WEBHOOK_SECRET"),
            catalog,
            delivery_timeout,
        }
    }
}

/// Parses `MENTORSHIP_CATALOG`: `price_123=one_on_one,prod_456=group`.
///
/// # Errors
/// A reason (never the value) when an entry is not `<reference>=<kind>`, a kind is unknown or
/// a reference is listed twice.
pub fn parse_catalog(value: &str) -> Result<Catalog, String> {
    let mut entries: Vec<(String, MentorshipKind)> = Vec::new();
    for (index, entry) in value.split(',').map(str::trim).enumerate() {
        let position = index + 1;
        if entry.is_empty() {
            continue;
        }
        let (reference, kind) = entry
            .split_once('=')
            .ok_or_else(|| format!("entry {position} is not <reference>=<kind>"))?;
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(format!("entry {position} has an empty reference"));
        }
        let kind = MentorshipKind::from_wire(kind.trim())
            .ok_or_else(|| format!("entry {position}: the kind must be `one_on_one` or `group`"))?;
        if entries.iter().any(|(r, _)| r == reference) {
            return Err(format!("entry {position} repeats a reference"));
        }
        entries.push((reference.to_owned(), kind));
    }
    Ok(entries.into_iter().collect())
}

fn stripe_from_env(env: &mut Env<'_>) -> Mount<StripeConfig> {
    const SECRETS: &str = "STRIPE_WEBHOOK_SECRETS";
    let secrets = env.required_secret(SECRETS);
    let livemode = match env.environment() {
        Environment::Production => env.required("STRIPE_LIVEMODE"),
        // Development accepts test-mode events unless told otherwise.
        Environment::Development => env.optional("STRIPE_LIVEMODE"),
    };
    let livemode = env
        .parsed("STRIPE_LIVEMODE", livemode, |v| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("must be `true` or `false`".to_owned()),
        })
        .unwrap_or(false);
    let Some(secrets) = secrets else {
        return Mount::NotMounted(format!("{SECRETS} is not set"));
    };
    match StripeVerifier::new(secret_list(&secrets), DEFAULT_TOLERANCE) {
        Ok(verifier) => Mount::Mounted(StripeConfig { verifier, livemode }),
        Err(error) => {
            env.invalid(SECRETS, error.to_string());
            Mount::NotMounted(format!("{SECRETS} is invalid"))
        }
    }
}

fn paypal_from_env(env: &mut Env<'_>) -> Mount<PaypalConfig> {
    let webhook_id = env.required("PAYPAL_WEBHOOK_ID");
    let environment_value = env.required("PAYPAL_ENVIRONMENT");
    let client_id = env.required("PAYPAL_CLIENT_ID");
    let client_secret = env.required_secret("PAYPAL_CLIENT_SECRET");
    let environment = env
        .parsed("PAYPAL_ENVIRONMENT", environment_value, |v| match v {
            "sandbox" => Ok(PaypalEnvironment::Sandbox),
            "live" => Ok(PaypalEnvironment::Live),
            _ => Err("must be `sandbox` or `live`".to_owned()),
        })
        // Development without a value talks to the sandbox, never to live.
        .unwrap_or(PaypalEnvironment::Sandbox);
    let base_value = env.optional("PAYPAL_API_BASE_URL");
    let api_base_url = env.parsed("PAYPAL_API_BASE_URL", base_value, parse_http_url);
    let mut missing = Vec::new();
    if webhook_id.is_none() {
        missing.push("PAYPAL_WEBHOOK_ID");
    }
    if client_id.is_none() {
        missing.push("PAYPAL_CLIENT_ID");
    }
    if client_secret.is_none() {
        missing.push("PAYPAL_CLIENT_SECRET");
    }
    let (Some(webhook_id), Some(client_id), Some(client_secret)) =
        (webhook_id, client_id, client_secret)
    else {
        // Without API credentials a capture (which carries no payer email) could never be
        // completed, so the route is mounted only with all three.
        return Mount::NotMounted(format!("{} not set", missing.join(", ")));
    };
    let default_base = match environment {
        PaypalEnvironment::Sandbox => PAYPAL_SANDBOX_API,
        PaypalEnvironment::Live => PAYPAL_LIVE_API,
    };
    let api_base_url = match api_base_url {
        Some(url) => url,
        None => match Url::parse(default_base) {
            Ok(url) => url,
            Err(_) => return Mount::NotMounted("PayPal API base URL is invalid".to_owned()),
        },
    };
    Mount::Mounted(PaypalConfig {
        webhook_id,
        environment,
        api_base_url,
        client_id,
        client_secret,
    })
}

fn svix_from_env(env: &mut Env<'_>, name: &'static str) -> Mount<SvixConfig> {
    let Some(secrets) = env.required_secret(name) else {
        return Mount::NotMounted(format!("{name} is not set"));
    };
    match SvixVerifier::new(secret_list(&secrets), DEFAULT_TOLERANCE) {
        Ok(verifier) => Mount::Mounted(SvixConfig { verifier }),
        Err(error) => {
            env.invalid(name, error.to_string());
            Mount::NotMounted(format!("{name} is invalid"))
        }
    }
}

/// Splits a comma-separated secret list; empty entries are dropped (a trailing comma), so an
/// all-empty list reaches the verifier as "no secrets" and is reported.
fn secret_list(value: &SecretString) -> Vec<WebhookSecret> {
    value
        .expose_secret()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(WebhookSecret::new)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{ConfigError, test_lookup};

    /// The webhook settings alone, as start-up reads them.
    fn read(vars: &'static [(&'static str, &'static str)]) -> Result<WebhooksConfig, ConfigError> {
        let lookup = test_lookup(vars);
        let mut env = Env::new(&lookup);
        let config = WebhooksConfig::from_env(&mut env);
        env.finish().map(|()| config)
    }

    #[test]
    fn the_catalog_maps_references_to_kinds() {
        let catalog = parse_catalog("price_123=one_on_one, prod_456 = group,").expect("valid");

        assert_eq!(catalog.kind_of("price_123"), Some(MentorshipKind::OneOnOne));
        assert_eq!(catalog.kind_of("prod_456"), Some(MentorshipKind::Group));
        assert_eq!(catalog.kind_of("other"), None);
    }

    #[test]
    fn a_catalog_with_an_unknown_kind_or_shape_is_invalid() {
        assert!(parse_catalog("price_123=vip").is_err());
        assert!(parse_catalog("price_123").is_err());
        assert!(parse_catalog("=group").is_err());
        assert!(parse_catalog("a=group,a=one_on_one").is_err());
    }

    #[test]
    fn production_lists_every_missing_webhook_setting() {
        let error = read(&[]).expect_err("incomplete");

        for name in [
            "MENTORSHIP_CATALOG",
            "STRIPE_WEBHOOK_SECRETS",
            "STRIPE_LIVEMODE",
            "PAYPAL_WEBHOOK_ID",
            "PAYPAL_ENVIRONMENT",
            "PAYPAL_CLIENT_ID",
            "PAYPAL_CLIENT_SECRET",
            "CLERK_WEBHOOK_SECRET",
            "RESEND_WEBHOOK_SECRET",
        ] {
            assert!(error.missing.contains(&name), "{name} is reported missing");
        }
    }

    #[test]
    fn development_without_secrets_leaves_every_route_unmounted() {
        let config = read(&[("INNGEST_DEV", "1")]).expect("valid");

        assert!(matches!(config.stripe, Mount::NotMounted(_)));
        assert!(matches!(config.paypal, Mount::NotMounted(_)));
        assert!(matches!(config.clerk, Mount::NotMounted(_)));
        assert!(matches!(config.resend, Mount::NotMounted(_)));
    }

    #[test]
    fn an_invalid_secret_is_an_error_even_in_development() {
        let error = read(&[
            ("INNGEST_DEV", "1"),
            ("CLERK_WEBHOOK_SECRET", "whsec_not*base64!"),
            ("STRIPE_LIVEMODE", "yes"),
        ])
        .expect_err("invalid");

        let names: Vec<&str> = error.invalid.iter().map(|(name, _)| *name).collect();
        assert!(names.contains(&"CLERK_WEBHOOK_SECRET"));
        assert!(names.contains(&"STRIPE_LIVEMODE"));
        assert!(!error.to_string().contains("not*base64"));
    }

    #[test]
    fn paypal_defaults_its_api_by_environment_and_redacts_the_secret() {
        let config = read(&[
            ("INNGEST_DEV", "1"),
            ("PAYPAL_WEBHOOK_ID", "WH-ID"),
            ("PAYPAL_ENVIRONMENT", "live"),
            ("PAYPAL_CLIENT_ID", "client"),
            ("PAYPAL_CLIENT_SECRET", "very-secret-value"),
        ])
        .expect("valid");

        let paypal = config.paypal.as_mounted().expect("mounted");
        assert_eq!(paypal.api_base_url.as_str(), "https://api-m.paypal.com/");
        assert_eq!(paypal.environment, PaypalEnvironment::Live);
        assert!(!format!("{paypal:?}").contains("very-secret-value"));
    }
}
