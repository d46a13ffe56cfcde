//! `huckleberry simulate stripe|clerk|resend [--url http://localhost:3000]`: POSTs a
//! correctly signed sample webhook (the fixture in `tests/fixtures/`) to a running app and
//! prints the answer. It is a subcommand of the app binary so it also runs inside the
//! container: `docker compose exec app huckleberry simulate stripe`.
//!
//! Secrets come from the environment or `.env`, as for the app: `STRIPE_WEBHOOK_SECRETS`
//! (the first one signs), `CLERK_WEBHOOK_SECRET`, `RESEND_WEBHOOK_SECRET`. Each run gets a
//! fresh provider event id, so Inngest does not drop it as a duplicate of the last run.
//! The Stripe sample is a test-mode payment for `metadata.product = price_1QxOneOnOne2026`:
//! configure `MENTORSHIP_CATALOG=price_1QxOneOnOne2026=one_on_one` (and leave
//! `STRIPE_LIVEMODE` unset or `false`) for it to become a purchase.
//! PayPal is not supported; see `huckleberry::webhooks::simulate`.

use std::io::Write as _;

use crate::webhooks::WebhookSecret;
use crate::webhooks::simulate::{SignedRequest, stripe_request, svix_request};
use anyhow::{Context as _, bail};

const STRIPE_FIXTURE: &[u8] =
    include_bytes!("../tests/fixtures/stripe-checkout.session.completed.json");
const CLERK_FIXTURE: &[u8] = include_bytes!("../tests/fixtures/clerk-user.created.json");
const RESEND_FIXTURE: &[u8] = include_bytes!("../tests/fixtures/resend-email.bounced.json");
const STRIPE_FIXTURE_EVENT_ID: &str = "evt_1QxTestCheckoutCompleted0001";
const USAGE: &str =
    "usage: huckleberry simulate stripe|clerk|resend [--url http://localhost:$PORT]";

/// Runs the subcommand with the arguments after `simulate`.
pub async fn run(mut args: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let provider = args.next().context(USAGE)?;
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let mut base = format!("http://localhost:{port}");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => base = args.next().context(USAGE)?,
            _ => bail!("unexpected argument {arg:?}; {USAGE}"),
        }
    }
    let now = chrono::Utc::now();
    let unique = now.timestamp_millis();
    let request = match provider.as_str() {
        "stripe" => {
            let secret = first_secret("STRIPE_WEBHOOK_SECRETS")?;
            let body = String::from_utf8_lossy(STRIPE_FIXTURE)
                .replace(STRIPE_FIXTURE_EVENT_ID, &format!("evt_simulated_{unique}"));
            stripe_request(&secret, body.into_bytes(), now.timestamp())
        }
        "clerk" => svix(
            "/api/clerk/webhook",
            "CLERK_WEBHOOK_SECRET",
            CLERK_FIXTURE,
            unique,
            now.timestamp(),
        )?,
        "resend" => svix(
            "/api/resend/webhook",
            "RESEND_WEBHOOK_SECRET",
            RESEND_FIXTURE,
            unique,
            now.timestamp(),
        )?,
        "paypal" => bail!(
            "PayPal deliveries are signed with PayPal's key; only the tests can verify a local one"
        ),
        _ => bail!("unknown provider {provider:?}; {USAGE}"),
    };
    post(&base, request).await
}

fn first_secret(variable: &str) -> anyhow::Result<WebhookSecret> {
    let value = std::env::var(variable).with_context(|| format!("{variable} is not set"))?;
    let first = value
        .split(',')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .with_context(|| format!("{variable} is empty"))?;
    Ok(WebhookSecret::new(first))
}

fn svix(
    path: &'static str,
    variable: &str,
    fixture: &[u8],
    unique: i64,
    now: i64,
) -> anyhow::Result<SignedRequest> {
    let secret = first_secret(variable)?;
    svix_request(
        path,
        &secret,
        &format!("msg_simulated_{unique}"),
        fixture.to_vec(),
        now,
    )
    .with_context(|| format!("{variable} is not a valid Svix secret"))
}

async fn post(base: &str, request: SignedRequest) -> anyhow::Result<()> {
    let url = format!("{}{}", base.trim_end_matches('/'), request.path);
    let mut builder = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(request.body);
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    let response = builder
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let mut out = std::io::stdout().lock();
    writeln!(out, "POST {url} -> {status}")?;
    writeln!(out, "{text}")?;
    Ok(())
}
