//! The webhook routes end to end: the real app on port 0, signed provider payloads from
//! `tests/fixtures/`, an Inngest event-API stand-in and a PayPal API stand-in.

mod delivery;
mod paypal;
mod stand_ins;
mod stripe;
mod svix;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use huckleberry::clock::Clock;
use huckleberry::integrations::paypal::SharedCertificateSource;
use huckleberry::startup::AppOverrides;
use huckleberry::webhooks::paypal::{CertificateFetchError, CertificateSource, CertificateUrl};

use stand_ins::PaypalApiStandIn;

use crate::inngest_stand_in::InngestStandIn;

use crate::support::spawn_app_with;

pub(crate) const STRIPE_SECRET: &str = "whsec_test_secret_for_huckleberry";
pub(crate) const STRIPE_ROTATED_SECRET: &str = "whsec_test_secret_next_rotation";
pub(crate) const CLERK_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub(crate) const PAYPAL_WEBHOOK_ID: &str = "8PT597110X687430LKGECATA";
/// The allow-listed URL our PayPal test double serves the test signer's certificate at.
pub(crate) const PAYPAL_CERT_URL: &str =
    "https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-huckleberry-test-signer";
pub(crate) const CATALOG: &str = "price_1QxOneOnOne2026=one_on_one,one-on-one-2026=one_on_one";

pub(crate) const STRIPE_FIXTURE: &[u8] =
    include_bytes!("../../fixtures/stripe-checkout.session.completed.json");
pub(crate) const PAYPAL_FIXTURE: &[u8] =
    include_bytes!("../../fixtures/paypal-payment.capture.completed.json");
pub(crate) const CLERK_FIXTURE: &[u8] = include_bytes!("../../fixtures/clerk-user.created.json");
pub(crate) const RESEND_FIXTURE: &[u8] = include_bytes!("../../fixtures/resend-email.bounced.json");
const TEST_SIGNER_CERT: &[u8] = include_bytes!("../../fixtures/paypal-test-signer/cert.pem");
pub(crate) const TEST_SIGNER_KEY: &[u8] =
    include_bytes!("../../fixtures/paypal-test-signer/test-only-key.pem");

/// Resend's test secret: a different key than Clerk's, so a mix-up would fail.
pub(crate) fn resend_secret() -> String {
    format!(
        "whsec_{}",
        STANDARD.encode(b"resend test signing key, 32 byte")
    )
}

/// A running app wired to stand-ins.
pub(crate) struct WebhookApp {
    pub(crate) address: String,
    pub(crate) http: reqwest::Client,
    pub(crate) inngest: InngestStandIn,
    pub(crate) paypal_api: PaypalApiStandIn,
}

/// A response as a provider sees it.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: serde_json::Value,
}

impl WebhookApp {
    /// Every webhook route configured (development mode), Inngest and PayPal pointed at
    /// stand-ins, PayPal certificates served from the test signer.
    pub(crate) async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// As [`WebhookApp::spawn`], with variables changed (`Some`) or removed (`None`).
    pub(crate) async fn spawn_with(changes: &[(&str, Option<&str>)]) -> Self {
        Self::spawn_full(changes, None).await
    }

    /// As [`WebhookApp::spawn`], reading "now" from `clock`.
    pub(crate) async fn spawn_with_clock(clock: Clock) -> Self {
        Self::spawn_full(&[], Some(clock)).await
    }

    async fn spawn_full(changes: &[(&str, Option<&str>)], clock: Option<Clock>) -> Self {
        let inngest = InngestStandIn::start().await;
        let paypal_api = PaypalApiStandIn::start().await;
        let mut vars: Vec<(String, String)> = [
            ("INNGEST_BASE_URL", inngest.url.clone()),
            ("INNGEST_EVENT_API_BASE_URL", inngest.url.clone()),
            (
                "STRIPE_WEBHOOK_SECRETS",
                format!("{STRIPE_SECRET},{STRIPE_ROTATED_SECRET}"),
            ),
            ("STRIPE_LIVEMODE", "false".to_owned()),
            ("MENTORSHIP_CATALOG", CATALOG.to_owned()),
            ("PAYPAL_WEBHOOK_ID", PAYPAL_WEBHOOK_ID.to_owned()),
            ("PAYPAL_ENVIRONMENT", "sandbox".to_owned()),
            ("PAYPAL_CLIENT_ID", stand_ins::PAYPAL_CLIENT_ID.to_owned()),
            (
                "PAYPAL_CLIENT_SECRET",
                stand_ins::PAYPAL_CLIENT_SECRET.to_owned(),
            ),
            ("PAYPAL_API_BASE_URL", paypal_api.url.clone()),
            ("CLERK_WEBHOOK_SECRET", CLERK_SECRET.to_owned()),
            ("RESEND_WEBHOOK_SECRET", resend_secret()),
            ("WEBHOOK_DELIVERY_TIMEOUT_MS", "2000".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (name, value) in changes {
            vars.retain(|(k, _)| k != name);
            if let Some(value) = value {
                vars.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        let overrides = AppOverrides {
            paypal_certificates: Some(SharedCertificateSource::new(TestSignerCertificates)),
            clock,
        };
        let extra: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let app = spawn_app_with(&extra, overrides).await;
        WebhookApp {
            address: app.address,
            http: app.http,
            inngest,
            paypal_api,
        }
    }

    /// POSTs `body` with `headers` to `path`, as a provider would.
    pub(crate) async fn post(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> Answer {
        let mut request = self
            .http
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("the app answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Answer { status, body }
    }

    /// Re-POSTs one delivery until it gets a 2xx, like a provider's retry schedule (without
    /// the waiting); returns every status seen.
    pub(crate) async fn post_until_accepted(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Vec<u16> {
        let mut statuses = Vec::new();
        for _ in 0..10 {
            let answer = self.post(path, headers, body).await;
            statuses.push(answer.status);
            if (200..300).contains(&answer.status) {
                return statuses;
            }
        }
        panic!("never accepted: {statuses:?}");
    }
}

/// Serves the test signer's certificate at [`PAYPAL_CERT_URL`], and nothing else (any other
/// allow-listed URL fails like an unreachable PayPal).
pub(crate) struct TestSignerCertificates;

impl CertificateSource for TestSignerCertificates {
    async fn certificate_pem(
        &self,
        url: &CertificateUrl,
    ) -> Result<Vec<u8>, CertificateFetchError> {
        if url.as_str() == PAYPAL_CERT_URL {
            Ok(TEST_SIGNER_CERT.to_vec())
        } else {
            Err(CertificateFetchError)
        }
    }
}

/// State a stand-in shares between its handlers and the test.
pub(crate) type Shared<T> = Arc<std::sync::Mutex<T>>;

/// The current Unix time: tests sign with the real clock, never sleep.
pub(crate) fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}
