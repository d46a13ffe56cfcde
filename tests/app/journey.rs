//! The mission end to end: a paid Stripe checkout becomes dashboard access and the Discord
//! role with no human involved. The real app runs on port 0; the SDK's fake executor plays
//! Inngest (it receives the app's events and drives the functions through `/api/inngest`
//! over HTTP); one stand-in plays Clerk, Resend and Discord.

use axum::http::Method;
use huckleberry::webhooks::WebhookSecret;
use huckleberry::webhooks::stripe::sign_for_test;
use inngest_sdk::testing::{FakeExecutor, RunStatus};
use serde_json::{Value, json};

use crate::stand_in::{DISCORD_USER, GUILD, ROLE_ONE_ON_ONE, StandIn, clerk_user};
use crate::support::spawn_app;

const STRIPE_SECRET: &str = "whsec_journey_test_secret";
const STRIPE_FIXTURE: &[u8] = include_bytes!("../fixtures/stripe-checkout.session.completed.json");
/// The buyer and purchase named by the Stripe fixture.
const BUYER: &str = "user_2NNEqL2nrIRdJ194ndJqAHwEfxC";
const SESSION: &str = "cs_test_a1vvp1B50lYAE8U2KLu1lzd6US91IMmBfnLfDXmJiKOQIzXbgFKgxUviQu";

/// The buyer as Clerk returns them, with the purchase recorded in public metadata.
fn buyer(metadata: Value) -> Value {
    let mut user = clerk_user(metadata);
    user["id"] = json!(BUYER);
    user
}

/// The first `http…/api/auth/discord?t=…` link in a text.
pub(crate) fn connect_link(text: &str) -> String {
    let start = text.find("http").expect("a link in the email");
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<')
        .collect();
    assert!(link.contains("/api/auth/discord?t="), "{link}");
    link
}

/// A browser following an emailed connect link: our start route (which sets the state
/// cookie and redirects to Discord), the Discord stand-in's consent (which redirects back),
/// then our callback with the cookie. Returns the result page's status and HTML.
pub(crate) async fn follow_connect_link(link: &str) -> (u16, String) {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let start = browser.get(link).send().await.expect("start");
    assert!(start.status().is_redirection(), "{}", start.status());
    let header = |response: &reqwest::Response, name: &str| {
        response.headers()[name]
            .to_str()
            .expect("ascii header")
            .to_owned()
    };
    let cookie = header(&start, "set-cookie")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    let consent = browser
        .get(header(&start, "location"))
        .send()
        .await
        .expect("consent");
    let page = browser
        .get(header(&consent, "location"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("callback");
    let status = page.status().as_u16();
    (status, page.text().await.expect("page"))
}

#[tokio::test]
async fn a_paid_checkout_ends_with_dashboard_access_and_the_discord_role() {
    let inngest = FakeExecutor::start().await;
    let vendors = StandIn::start().await;
    let recorded = buyer(json!({"mentorship": {
        "kind": "one_on_one", "purchase_id": SESSION, "status": "awaiting_discord"}}));
    vendors.respond(
        Method::GET,
        &format!("/clerk/v1/users/{BUYER}"),
        200,
        recorded.clone(),
    );
    vendors.respond(
        Method::PATCH,
        &format!("/clerk/v1/users/{BUYER}/metadata"),
        200,
        recorded,
    );
    vendors.respond(
        Method::POST,
        "/resend/emails",
        200,
        json!({"id": "email-1"}),
    );

    let mut env: Vec<(String, String)> = vendors
        .env()
        .into_iter()
        .filter(|(k, _)| k != "INNGEST_EVENT_API_BASE_URL")
        .collect();
    env.extend(
        [
            ("INNGEST_BASE_URL", inngest.url().to_string()),
            ("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET.to_owned()),
            ("STRIPE_LIVEMODE", "false".to_owned()),
            (
                "MENTORSHIP_CATALOG",
                "price_1QxOneOnOne2026=one_on_one".to_owned(),
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = spawn_app(&vars).await;
    inngest
        .serve_url(&format!("{}/api/inngest", app.address))
        .await
        .expect("the fake executor syncs the app");

    // 1. Stripe reports the paid checkout.
    let signature = sign_for_test(
        &WebhookSecret::new(STRIPE_SECRET),
        STRIPE_FIXTURE,
        chrono::Utc::now().timestamp(),
    );
    let delivered = app
        .http
        .post(format!("{}/api/stripe/webhook", app.address))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(STRIPE_FIXTURE)
        .send()
        .await
        .expect("webhook delivered");
    assert_eq!(delivered.status(), 200);
    inngest.run_until_idle().await;

    let runs = inngest.runs_of("huckleberry-onboarding-flow");
    assert_eq!(runs.len(), 1, "one purchase, one onboarding");
    assert_eq!(runs[0].status, RunStatus::Waiting, "{:?}", runs[0]);

    // 2. The buyer got the connection email with a signed link.
    let emails = vendors.requests_to(Method::POST, "/resend/emails");
    assert_eq!(emails.len(), 1);
    let email = emails[0].json();
    // The buyer was found by the Clerk id Stripe carried, so the email goes to the account's
    // primary address.
    assert_eq!(email["to"], json!(["ada@example.com"]));
    let link = connect_link(email["text"].as_str().expect("plain-text body"));

    // 3. They click it: our start route sends them to Discord, Discord sends them back.
    let (status, html) = follow_connect_link(&link).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("connected") || html.contains("Connected"),
        "{html}"
    );

    // 4. Inngest resumes the run: access granted, role given, welcome sent, completion announced.
    inngest.run_until_idle().await;
    let run = inngest.run(&runs[0].id);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output.as_ref().expect("summary")["status"], "active");

    let patches: Vec<Value> = vendors
        .requests_to(Method::PATCH, &format!("/clerk/v1/users/{BUYER}/metadata"))
        .iter()
        .map(|r| r.json())
        .collect();
    assert!(
        patches
            .iter()
            .any(|p| p["public_metadata"]["mentorship"]["status"] == "active"
                && p["public_metadata"]["mentorship"]["discord_user_id"] == DISCORD_USER),
        "{patches:?}"
    );
    let role_grants = vendors.requests_to(
        Method::PUT,
        &format!("/discord/api/v10/guilds/{GUILD}/members/{DISCORD_USER}/roles/{ROLE_ONE_ON_ONE}"),
    );
    assert!(!role_grants.is_empty(), "the one-on-one role was granted");
    let emails = vendors.requests_to(Method::POST, "/resend/emails");
    assert_eq!(
        emails.len(),
        2,
        "the connection email, then the welcome email"
    );
    let completed = inngest.events_named("mentorship/onboarding.completed");
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].data()["discord_user_id"], DISCORD_USER);
    assert_eq!(completed[0].data()["purchase_id"], SESSION);
}
