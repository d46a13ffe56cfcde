//! End to end against the real Inngest server: the real `huckleberry` binary, the real
//! executor (`inngest dev`, or `inngest start` for production mode), and one local stand-in
//! for Clerk, Resend and Discord. Outcomes are read where a developer would read them: the
//! server's own API (runs, their output and steps, the events it received), the emails the
//! Resend stand-in was asked to send, the Clerk metadata the stand-in holds.
//!
//! Every test here needs the server binary (`INNGEST_BIN`, or `inngest-cli` / `inngest` on
//! `PATH`), so they are ignored by default and run with
//! `cargo test --workspace --all-features -- --ignored`.

mod connect;
mod faults;
mod journeys;
mod production;

use std::time::Duration;

use axum::http::Method;
use base64::Engine as _;
use huckleberry::webhooks::WebhookSecret;
use huckleberry::webhooks::simulate::{SignedRequest, stripe_request, svix_request};
use inngest_sdk::testing::real::{InngestServer, Run, RunStatus, ServerOptions};
use serde_json::{Value, json};

use crate::process::Binary;
use crate::stand_in::StandIn;

/// How long a run may take to reach an expected state (the real server polls its queue;
/// CI machines are slow).
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(90);

pub(crate) const STRIPE_SECRET: &str = "whsec_e2e_stripe_secret";
pub(crate) const PRODUCT_ONE_ON_ONE: &str = "price_1QxOneOnOne2026";
pub(crate) const PRODUCT_GROUP: &str = "price_1QxGroup2026";
pub(crate) const CATALOG: &str = "price_1QxOneOnOne2026=one_on_one,price_1QxGroup2026=group";
pub(crate) const ONBOARDING: &str = "huckleberry-onboarding-flow";
pub(crate) const FOLLOW_UP: &str = "huckleberry-discord-follow-up";
pub(crate) const EMAIL_BOUNCED: &str = "huckleberry-email-bounced";

const STRIPE_FIXTURE: &str = include_str!("../../fixtures/stripe-checkout.session.completed.json");
const CLERK_FIXTURE: &str = include_str!("../../fixtures/clerk-user.created.json");
const RESEND_FIXTURE: &str = include_str!("../../fixtures/resend-email.bounced.json");

/// A Svix secret (`whsec_` + base64) made from `seed`.
pub(crate) fn svix_secret(seed: &str) -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(seed.as_bytes())
    )
}

/// The real server, the stand-in vendors, and the binary (started and stopped by the test).
pub(crate) struct Stack {
    pub(crate) server: InngestServer,
    pub(crate) vendors: StandIn,
    pub(crate) app: Option<Binary>,
    /// The app's port: fixed, so a restarted app is found at the URL the server knows.
    pub(crate) port: u16,
    env: Vec<(String, String)>,
    http: reqwest::Client,
}

/// A Stripe purchase to deliver.
#[derive(Debug, Clone)]
pub(crate) struct Purchase {
    pub(crate) email: String,
    pub(crate) purchase_id: String,
    pub(crate) product: &'static str,
    /// The Clerk user the checkout was started by (`client_reference_id`), if any.
    pub(crate) clerk_user_id: Option<String>,
}

impl Purchase {
    pub(crate) fn new(email: &str, purchase_id: &str) -> Self {
        Purchase {
            email: email.to_owned(),
            purchase_id: purchase_id.to_owned(),
            product: PRODUCT_ONE_ON_ONE,
            clerk_user_id: None,
        }
    }

    pub(crate) fn product(mut self, product: &'static str) -> Self {
        self.product = product;
        self
    }

    /// The signed Stripe delivery of this purchase, with Stripe event id `event_id`.
    pub(crate) fn delivery(&self, event_id: &str) -> SignedRequest {
        let mut event: Value = serde_json::from_str(STRIPE_FIXTURE).expect("fixture");
        event["id"] = json!(event_id);
        let session = &mut event["data"]["object"];
        session["id"] = json!(self.purchase_id);
        session["customer_details"]["email"] = json!(self.email);
        session["client_reference_id"] = json!(self.clerk_user_id);
        session["metadata"]["product"] = json!(self.product);
        stripe_request(
            &WebhookSecret::new(STRIPE_SECRET),
            event.to_string().into_bytes(),
            chrono::Utc::now().timestamp(),
        )
    }
}

impl Stack {
    /// A dev server (`retry_interval` seconds between retries when set) and the stand-ins
    /// with a stateful Clerk.
    pub(crate) async fn dev(retry_interval: Option<u32>) -> Stack {
        let mut options = ServerOptions::dev();
        if let Some(seconds) = retry_interval {
            options = options.retry_interval(seconds);
        }
        Stack::with_server(options).await
    }

    pub(crate) async fn with_server(options: ServerOptions) -> Stack {
        let server = InngestServer::start(options)
            .await
            .expect("the real Inngest server starts");
        let vendors = StandIn::start().await;
        vendors.use_clerk_store();
        vendors.respond(
            Method::POST,
            "/resend/emails",
            200,
            json!({"id": "email-from-stand-in"}),
        );
        // Below the ephemeral range, so no other process takes it between restarts.
        let port = inngest_sdk::testing::real::free_port();
        Stack {
            server,
            vendors,
            app: None,
            port,
            env: Vec::new(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    /// The app's origin.
    pub(crate) fn app_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Development mode against the dev server, every vendor live on the stand-in, plus
    /// `extra` (which wins).
    pub(crate) fn dev_env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .vendors
            .env()
            .into_iter()
            .filter(|(k, _)| k != "INNGEST_EVENT_API_BASE_URL")
            .collect();
        env.extend(
            [
                (
                    "INNGEST_DEV",
                    self.server.url().as_str().trim_end_matches('/'),
                ),
                ("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET),
                ("STRIPE_LIVEMODE", "false"),
                ("MENTORSHIP_CATALOG", CATALOG),
                (
                    "CLERK_WEBHOOK_SECRET",
                    &svix_secret("e2e clerk webhook secret"),
                ),
                (
                    "RESEND_WEBHOOK_SECRET",
                    &svix_secret("e2e resend webhook secret"),
                ),
                ("RUST_LOG", "info"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        overlay(env, extra)
    }

    /// Starts the binary with `env` (plus host, port and base URL) and waits for it to listen.
    pub(crate) fn start_app(&mut self, env: Vec<(String, String)>) {
        let mut env = overlay(
            env,
            &[("HOST", "127.0.0.1"), ("PORT", &self.port.to_string())],
        );
        if !env.iter().any(|(k, _)| k == "APP_BASE_URL") {
            env.push(("APP_BASE_URL".into(), self.app_url()));
        }
        self.env = env;
        self.restart_app();
    }

    /// Starts the binary again with the environment of the last `start_app`.
    pub(crate) fn restart_app(&mut self) {
        let app = tokio::task::block_in_place(|| {
            let app = Binary::start(&self.env);
            let (address, lines) = app.wait_listening(Duration::from_secs(60));
            assert!(address.is_some(), "the app did not start: {lines:#?}");
            app
        });
        self.app = Some(app);
    }

    /// SIGTERM, then waits for a clean exit.
    pub(crate) fn stop_app(&mut self) {
        let mut app = self.app.take().expect("the app runs");
        app.terminate();
        let status = tokio::task::block_in_place(|| app.wait_exit(Duration::from_secs(40)));
        assert!(status.success(), "graceful exit, got {status:?}");
    }

    /// The running binary.
    pub(crate) fn app(&self) -> &Binary {
        self.app.as_ref().expect("the app runs")
    }

    /// Lets the server sync the app and waits until it lists the app's four functions.
    pub(crate) async fn sync(&self) {
        let url = format!("{}/api/inngest", self.app_url());
        self.server
            .sync_app(&url)
            .await
            .expect("the server syncs the app");
        self.wait_synced().await;
    }

    /// Waits until the server lists the app with its functions.
    pub(crate) async fn wait_synced(&self) {
        self.server
            .wait_for("the app to be synced", RUN_LIMIT, || async {
                let apps = self.server.apps().await.ok()?;
                apps.iter()
                    .any(|(name, functions, _)| name == "huckleberry" && *functions >= 4)
                    .then_some(())
            })
            .await
            .expect("synced");
    }

    /// POSTs a signed webhook to the app; returns the status.
    pub(crate) async fn deliver(&self, request: SignedRequest) -> u16 {
        let mut builder = self
            .http
            .post(format!("{}{}", self.app_url(), request.path))
            .header("content-type", "application/json")
            .body(request.body);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        builder
            .send()
            .await
            .expect("the app answers")
            .status()
            .as_u16()
    }

    /// Delivers a purchase (a fresh Stripe event id) and asserts the app accepted it.
    pub(crate) async fn purchase(&self, purchase: &Purchase) {
        let event_id = format!("evt_e2e_{}", purchase.purchase_id);
        let status = self.deliver(purchase.delivery(&event_id)).await;
        assert_eq!(status, 200, "the Stripe webhook accepted the purchase");
    }

    /// A signed Clerk `user.created` for a new user with this id and email.
    pub(crate) async fn clerk_user_created(&self, user_id: &str, email: &str) -> u16 {
        let mut event: Value = serde_json::from_str(CLERK_FIXTURE).expect("fixture");
        event["data"]["id"] = json!(user_id);
        event["data"]["email_addresses"][0]["email_address"] = json!(email);
        let request = svix_request(
            "/api/clerk/webhook",
            &WebhookSecret::new(svix_secret("e2e clerk webhook secret")),
            &format!("msg_e2e_{user_id}"),
            event.to_string().into_bytes(),
            chrono::Utc::now().timestamp(),
        )
        .expect("valid secret");
        self.deliver(request).await
    }

    /// A signed Resend `email.bounced` for `email`.
    pub(crate) async fn resend_bounced(&self, email: &str, message_id: &str) -> u16 {
        let mut event: Value = serde_json::from_str(RESEND_FIXTURE).expect("fixture");
        event["data"]["to"] = json!([email]);
        let request = svix_request(
            "/api/resend/webhook",
            &WebhookSecret::new(svix_secret("e2e resend webhook secret")),
            message_id,
            event.to_string().into_bytes(),
            chrono::Utc::now().timestamp(),
        )
        .expect("valid secret");
        self.deliver(request).await
    }

    /// The onboarding run of a purchase, once the server started it.
    pub(crate) async fn purchase_run(&self, purchase_id: &str) -> Run {
        let server = &self.server;
        server
            .wait_for(
                &format!("the onboarding run of {purchase_id}"),
                RUN_LIMIT,
                || async {
                    let events = server.events_named("purchase/mentorship").await.ok()?;
                    // A duplicate delivery is stored too, and starts nothing.
                    for event in events
                        .iter()
                        .filter(|e| e.data()["purchase_id"] == purchase_id)
                    {
                        let runs = server.runs_of_event(&event.id).await.ok()?;
                        if let Some(run) = runs.into_iter().find(|run| run.function == ONBOARDING) {
                            return Some(run);
                        }
                    }
                    None
                },
            )
            .await
            .expect("the purchase starts onboarding")
    }

    /// Waits until the run has `status`.
    pub(crate) async fn wait_run(&self, run_id: &str, status: RunStatus) -> Run {
        let server = &self.server;
        let reached = server
            .wait_for(
                &format!("run {run_id} to be {status:?}"),
                RUN_LIMIT,
                || async {
                    let run = server.run(run_id).await.ok()??;
                    // The server may list a run as completed a moment before its output.
                    let settled = status != RunStatus::Completed || run.output.is_some();
                    (run.status == status && settled).then_some(run)
                },
            )
            .await;
        match reached {
            Ok(run) => run,
            Err(error) => {
                let run = server.run(run_id).await;
                let steps = server.steps(run_id).await;
                panic!("{error}\nrun: {run:?}\nsteps: {steps:#?}");
            }
        }
    }

    /// Waits for the `n`-th (1-based) email the Resend stand-in was asked to send to `to`;
    /// returns every email sent to `to` so far.
    pub(crate) async fn wait_emails_to(&self, to: &str, n: usize) -> Vec<Value> {
        self.server
            .wait_for(&format!("{n} email(s) to {to}"), RUN_LIMIT, || async {
                let emails = self.emails_to(to);
                (emails.len() >= n).then_some(emails)
            })
            .await
            .expect("the emails are sent")
    }

    /// The emails sent to `to` (Resend request bodies), deduplicated by idempotency key (a
    /// retried step sends the same key).
    pub(crate) fn emails_to(&self, to: &str) -> Vec<Value> {
        let mut keys = Vec::new();
        let mut emails = Vec::new();
        for request in self.vendors.requests_to(Method::POST, "/resend/emails") {
            let key = request.header("idempotency-key").unwrap_or("").to_owned();
            let body = request.json();
            let addressed = body["to"].as_array().into_iter().flatten().any(|t| t == to);
            if addressed && (key.is_empty() || !keys.contains(&key)) {
                keys.push(key);
                emails.push(body);
            }
        }
        emails
    }

    /// Once run `run_id` waits for the connection (a wait only sees events that arrive after
    /// it started), a browser follows the emailed link: see [`Stack::follow_link`].
    pub(crate) async fn connect_when_waiting(&self, run_id: &str, email: &Value) -> u16 {
        journeys::wait_for_step(self, run_id, "wait-for-discord").await;
        self.follow_link(&link_in(email)).await
    }

    /// A browser following an emailed connect link through the Discord stand-in's consent
    /// to our callback; returns the result page's status.
    pub(crate) async fn follow_link(&self, link: &str) -> u16 {
        let (status, _page) = crate::journey::follow_connect_link(link).await;
        status
    }
}

/// `base` with the pairs of `extra` set (replacing any of the same name).
pub(crate) fn overlay(
    mut base: Vec<(String, String)>,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    for (key, value) in extra {
        base.retain(|(k, _)| k != key);
        base.push(((*key).to_owned(), (*value).to_owned()));
    }
    base
}

/// The connect link in an email sent through Resend.
pub(crate) fn link_in(email: &Value) -> String {
    crate::journey::connect_link(email["text"].as_str().expect("a text part"))
}
