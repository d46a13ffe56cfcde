//! `huckleberry check-config`: validates the environment exactly as start-up does and
//! starts nothing. Every problem is listed at once (exit code 1); a valid configuration gets
//! a short summary (exit code 0). Neither names a secret's value: configuration errors name
//! variables, and the summary says only whether a secret is set.
//!
//! The checks are [`AppConfig::from_lookup`] and those [`crate::startup::Application::build`]
//! makes before it serves: building the webhook routes and resolving the address to bind
//! (binding itself is left out: it would start listening).

use std::io::Write as _;
use std::net::ToSocketAddrs as _;
use std::process::ExitCode;

use url::Url;

use crate::clock::Clock;
use crate::config::{AppConfig, Environment};
use crate::paths;
use crate::webhooks::config::Mount;
use crate::webhooks::routes::WebhookState;

/// Checks the process environment and prints the outcome: problems on stderr, the summary
/// on stdout. `dotenv_problem` is why the `.env` file was not read completely, if it was not
/// ([`super::load_dotenv`]): a problem too, since settings after the bad line are missing.
pub fn run(dotenv_problem: Option<String>) -> ExitCode {
    let mut outcome = check(&|name| std::env::var(name).ok());
    if let Some(problem) = dotenv_problem {
        // main already printed it; a configuration that looks valid without those lines is
        // still not the one the operator wrote.
        if outcome.is_ok() {
            outcome = Err(vec![
                "huckleberry check-config: 1 problem(s); the settings after the bad line are missing.".to_owned(),
                format!("  {problem}"),
            ]);
        }
    }
    let printed = match &outcome {
        Ok(summary) => {
            let mut out = std::io::stdout().lock();
            summary.iter().try_for_each(|line| writeln!(out, "{line}"))
        }
        Err(problems) => {
            let mut err = std::io::stderr().lock();
            problems.iter().try_for_each(|line| writeln!(err, "{line}"))
        }
    };
    match (outcome, printed) {
        (Ok(_), Ok(())) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// Checks the configuration read through `lookup`: `Ok` with summary lines, or `Err` with a
/// heading and one line per problem.
///
/// # Errors
/// Every problem found, as lines to print.
pub fn check(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>, Vec<String>> {
    let production = crate::env::Env::new(lookup).environment() == Environment::Production;
    let mode = if production {
        "production (INNGEST_DEV is unset): every setting is required"
    } else {
        "development (INNGEST_DEV is set)"
    };
    let problems = match AppConfig::from_lookup(lookup) {
        Err(error) => {
            let missing = error.missing.iter().map(|name| format!("missing: {name}"));
            let invalid = error
                .invalid
                .iter()
                .map(|(name, reason)| format!("invalid: {name}: {reason}"));
            missing.chain(invalid).collect()
        }
        Ok(config) => match startup_problems(&config) {
            problems if problems.is_empty() => return Ok(summary(&config, mode)),
            problems => problems,
        },
    };
    let mut lines = vec![format!(
        "huckleberry check-config: {} problem(s); the service would refuse to start. Mode: {mode}.",
        problems.len()
    )];
    lines.extend(problems.into_iter().map(|problem| format!("  {problem}")));
    Err(lines)
}

/// What start-up checks after reading the configuration and before serving.
fn startup_problems(config: &AppConfig) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(error) = WebhookState::build(
        &config.webhooks,
        None,
        Clock::system(),
        inngest_sdk::Client::new(config.inngest.clone()),
    ) {
        problems.push(format!("webhook routes: {error:#}"));
    }
    let resolves = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .is_ok_and(|mut addresses| addresses.next().is_some());
    if !resolves {
        problems.push(format!(
            "invalid: HOST: {}:{} is not an address to bind",
            config.host, config.port
        ));
    }
    problems
}

/// A few lines on what would start: addresses, mounted routes, live or dry-run vendors.
fn summary(config: &AppConfig, mode: &str) -> Vec<String> {
    let webhooks = &config.webhooks;
    let route = |path: &str, mounted: bool, reason: Option<&str>| match reason {
        _ if mounted => format!("  webhook {path}: mounted"),
        Some(reason) => format!("  webhook {path}: not mounted, answers 503 ({reason})"),
        None => format!("  webhook {path}: not mounted, answers 503"),
    };
    let routes = [
        route(
            paths::STRIPE_WEBHOOK,
            webhooks.stripe.as_mounted().is_some(),
            not_mounted(&webhooks.stripe),
        ),
        route(
            paths::PAYPAL_WEBHOOK,
            webhooks.paypal.as_mounted().is_some(),
            not_mounted(&webhooks.paypal),
        ),
        route(
            paths::CLERK_WEBHOOK,
            webhooks.clerk.as_mounted().is_some(),
            not_mounted(&webhooks.clerk),
        ),
        route(
            paths::RESEND_WEBHOOK,
            webhooks.resend.as_mounted().is_some(),
            not_mounted(&webhooks.resend),
        ),
    ];
    let integrations = &config.integrations;
    let vendor =
        |name: &str, live: bool| format!("{name} {}", if live { "live" } else { "dry run" });
    let link_key = if integrations.link_key.is_some() {
        "LINK_TOKEN_KEY is set"
    } else {
        "a random key per process (links die with the process)"
    };
    let mut lines = vec![
        "configuration OK".to_owned(),
        format!("  mode: {mode}"),
        format!("  listen: {}:{}", config.host, config.port),
        format!(
            "  public URL: {}",
            without_credentials(&config.app_base_url)
        ),
        format!(
            "  Inngest: {} ({} mode)",
            without_credentials(config.inngest.api_base_url()),
            config.inngest.mode().as_str()
        ),
        format!(
            "  vendors: {}, {}, {}",
            vendor("Clerk", integrations.clerk.is_some()),
            vendor("Resend", integrations.resend.is_some()),
            vendor("Discord", integrations.discord.is_some())
        ),
        format!("  link token key: {link_key}"),
    ];
    lines.extend(routes);
    lines
}

fn not_mounted<T>(mount: &Mount<T>) -> Option<&str> {
    match mount {
        Mount::Mounted(_) => None,
        Mount::NotMounted(reason) => Some(reason),
    }
}

/// A URL for display: user name and password, if any, are dropped.
fn without_credentials(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        crate::env::test_lookup(vars)
    }

    #[test]
    fn every_problem_is_listed_and_no_value_is_printed() {
        let problems = check(&lookup(&[
            ("PORT", "not-a-port"),
            ("LINK_TOKEN_KEY", "short-secret-value"),
        ]))
        .expect_err("problems");
        let text = problems.join("\n");
        for expected in [
            "missing: APP_BASE_URL",
            "missing: INNGEST_SIGNING_KEY",
            "missing: STRIPE_WEBHOOK_SECRETS",
            "invalid: PORT",
            "invalid: LINK_TOKEN_KEY",
            "production (INNGEST_DEV is unset)",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        assert!(!text.contains("short-secret-value"), "{text}");
        assert!(!text.contains("not-a-port"), "{text}");
    }

    #[test]
    fn a_valid_development_configuration_is_summarised_without_secrets() {
        let summary = check(&lookup(&[
            ("INNGEST_DEV", "1"),
            ("HOST", "127.0.0.1"),
            ("STRIPE_WEBHOOK_SECRETS", "whsec_summary_secret_value"),
            ("APP_BASE_URL", "http://user:hunter2@localhost:3000"),
        ]))
        .expect("valid");
        let text = summary.join("\n");
        assert!(text.starts_with("configuration OK"), "{text}");
        assert!(
            text.contains("webhook /api/stripe/webhook: mounted"),
            "{text}"
        );
        assert!(text.contains("Clerk dry run"), "{text}");
        assert!(!text.contains("whsec_summary_secret_value"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn an_address_that_cannot_be_bound_is_a_problem() {
        let problems = check(&lookup(&[
            ("INNGEST_DEV", "1"),
            ("HOST", "not a host name"),
        ]))
        .expect_err("problems");
        assert!(
            problems.join("\n").contains("invalid: HOST"),
            "{problems:?}"
        );
    }
}
