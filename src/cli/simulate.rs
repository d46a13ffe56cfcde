//! `huckleberry simulate stripe|clerk|resend`: POSTs correctly signed sample webhooks to a
//! running app and prints each answer. It is a command of the app binary so it also runs
//! inside the container: `docker compose exec app huckleberry simulate stripe`.
//!
//! Each delivery is a sample from `tests/fixtures/` used as a template: the fields the
//! options name are patched in, and every delivery gets a fresh provider event id (Stripe's
//! `id`, Svix's `svix-id`), so Inngest does not drop it as a duplicate of an earlier run.
//! Purchase ids and Clerk user ids are fresh too unless given.
//!
//! Secrets come from the environment or `.env`, as for the app: `STRIPE_WEBHOOK_SECRETS`
//! (the first one signs), `CLERK_WEBHOOK_SECRET`, `RESEND_WEBHOOK_SECRET`. The signing is
//! the library's ([`crate::webhooks::simulate`]). The Stripe sample is a test-mode payment:
//! configure `MENTORSHIP_CATALOG=price_1QxOneOnOne2026=one_on_one` (and leave
//! `STRIPE_LIVEMODE` unset or `false`) for it to become a purchase.
//! PayPal is not supported; see [`crate::webhooks::simulate`].

use std::io::Write as _;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::{ClerkArgs, Delivery, Provider, ResendArgs, StripeArgs};
use crate::paths;
use crate::webhooks::WebhookSecret;
use crate::webhooks::simulate::{SignedRequest, stripe_request, svix_request};

const STRIPE_FIXTURE: &[u8] =
    include_bytes!("../../tests/fixtures/stripe-checkout.session.completed.json");
const CLERK_FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/clerk-user.created.json");
const RESEND_FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/resend-email.bounced.json");

/// Sends the deliveries `provider` asks for, printing `POST <url> -> <status>` and the body
/// of each answer.
///
/// # Errors
/// A missing or invalid secret, an unreachable app, or an answer other than 2xx (after every
/// delivery was tried).
pub async fn run(provider: Provider) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    // Fresh ids are `<millis>_<n>`: distinct across runs (milliseconds apart) and within one.
    let run = now.timestamp_millis();
    let (delivery, requests) = match provider {
        Provider::Stripe(args) => {
            let secret = first_secret("STRIPE_WEBHOOK_SECRETS")?;
            let requests = (1..=args.delivery.count)
                .map(|n| {
                    let body = stripe_body(&args, &format!("{run}_{n}"))?;
                    Ok(stripe_request(&secret, body, now.timestamp()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            (args.delivery, requests)
        }
        Provider::Clerk(args) => {
            let secret = first_secret("CLERK_WEBHOOK_SECRET")?;
            let requests = (1..=args.delivery.count)
                .map(|n| {
                    let unique = format!("{run}_{n}");
                    let body = clerk_body(&args, &unique)?;
                    svix(
                        paths::CLERK_WEBHOOK,
                        "CLERK_WEBHOOK_SECRET",
                        &secret,
                        &unique,
                        body,
                        now.timestamp(),
                    )
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            (args.delivery, requests)
        }
        Provider::Resend(args) => {
            let secret = first_secret("RESEND_WEBHOOK_SECRET")?;
            let requests = (1..=args.delivery.count)
                .map(|n| {
                    let unique = format!("{run}_{n}");
                    svix(
                        paths::RESEND_WEBHOOK,
                        "RESEND_WEBHOOK_SECRET",
                        &secret,
                        &unique,
                        resend_body(&args)?,
                        now.timestamp(),
                    )
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            (args.delivery, requests)
        }
    };
    send_all(&base_url(&delivery), requests).await
}

/// The Stripe sample with the options patched in. The sample's `client_reference_id` (a
/// Clerk user id) is cleared: the simulated buyer is found, or invited, by email.
fn stripe_body(args: &StripeArgs, unique: &str) -> anyhow::Result<Vec<u8>> {
    let mut event: Value = serde_json::from_slice(STRIPE_FIXTURE).context("the Stripe sample")?;
    event["id"] = json!(format!("evt_sim_{unique}"));
    let session = &mut event["data"]["object"];
    session["id"] = json!(
        args.purchase_id
            .clone()
            .unwrap_or_else(|| format!("cs_test_sim_{unique}"))
    );
    session["customer_details"]["email"] = json!(args.email);
    session["customer_details"]["name"] = json!(args.name);
    session["metadata"]["product"] = json!(args.product);
    session["client_reference_id"] = Value::Null;
    Ok(serde_json::to_vec(&event)?)
}

/// The Clerk sample with the options patched in.
fn clerk_body(args: &ClerkArgs, unique: &str) -> anyhow::Result<Vec<u8>> {
    let mut event: Value = serde_json::from_slice(CLERK_FIXTURE).context("the Clerk sample")?;
    let user = &mut event["data"];
    user["id"] = json!(
        args.user_id
            .clone()
            .unwrap_or_else(|| format!("user_sim_{unique}"))
    );
    user["email_addresses"][0]["email_address"] = json!(args.email);
    let (first, last) = args
        .name
        .trim()
        .split_once(' ')
        .map_or((args.name.trim(), None), |(first, last)| {
            (first, Some(last.trim()))
        });
    user["first_name"] = json!(first);
    user["last_name"] = json!(last);
    Ok(serde_json::to_vec(&event)?)
}

/// The Resend sample with the bounced recipient patched in.
fn resend_body(args: &ResendArgs) -> anyhow::Result<Vec<u8>> {
    let mut event: Value = serde_json::from_slice(RESEND_FIXTURE).context("the Resend sample")?;
    event["data"]["to"] = json!([args.email]);
    Ok(serde_json::to_vec(&event)?)
}

fn base_url(delivery: &Delivery) -> String {
    delivery.url.clone().unwrap_or_else(|| {
        let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
        format!("http://localhost:{port}")
    })
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
    secret: &WebhookSecret,
    unique: &str,
    body: Vec<u8>,
    now: i64,
) -> anyhow::Result<SignedRequest> {
    svix_request(path, secret, &format!("msg_sim_{unique}"), body, now)
        .with_context(|| format!("{variable} is not a valid Svix secret"))
}

/// POSTs every request in order, printing each answer; fails when any was not a success.
async fn send_all(base: &str, requests: Vec<SignedRequest>) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let total = requests.len();
    let mut failed = 0;
    for request in requests {
        let url = format!("{}{}", base.trim_end_matches('/'), request.path);
        let mut builder = client
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
        if !status.is_success() {
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} of {total} deliveries were not accepted (see the answers above)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> Delivery {
        Delivery {
            count: 1,
            url: None,
        }
    }

    #[test]
    fn the_stripe_sample_carries_the_options_and_fresh_ids() {
        let args = StripeArgs {
            email: "x@y.z".into(),
            name: "Grace Hopper".into(),
            product: "prod_group".into(),
            purchase_id: None,
            delivery: delivery(),
        };
        let event: Value =
            serde_json::from_slice(&stripe_body(&args, "7_1").expect("body")).expect("json");
        let session = &event["data"]["object"];
        assert_eq!(event["id"], "evt_sim_7_1");
        assert_eq!(session["id"], "cs_test_sim_7_1");
        assert_eq!(session["customer_details"]["email"], "x@y.z");
        assert_eq!(session["customer_details"]["name"], "Grace Hopper");
        assert_eq!(session["metadata"]["product"], "prod_group");
        assert_eq!(
            session["payment_status"], "paid",
            "the rest of the sample stays"
        );
    }

    #[test]
    fn the_clerk_sample_splits_the_name_and_takes_the_user_id() {
        let args = ClerkArgs {
            email: "x@y.z".into(),
            name: "Grace Brewster Hopper".into(),
            user_id: Some("user_given".into()),
            delivery: delivery(),
        };
        let event: Value =
            serde_json::from_slice(&clerk_body(&args, "7_1").expect("body")).expect("json");
        let user = &event["data"];
        assert_eq!(user["id"], "user_given");
        assert_eq!(user["email_addresses"][0]["email_address"], "x@y.z");
        assert_eq!(user["first_name"], "Grace");
        assert_eq!(user["last_name"], "Brewster Hopper");
    }

    #[test]
    fn the_resend_sample_bounces_the_given_recipient() {
        let args = ResendArgs {
            email: "x@y.z".into(),
            delivery: delivery(),
        };
        let event: Value =
            serde_json::from_slice(&resend_body(&args).expect("body")).expect("json");
        assert_eq!(event["data"]["to"], json!(["x@y.z"]));
        assert_eq!(event["type"], "email.bounced");
    }
}
