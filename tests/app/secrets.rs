//! Secret non-disclosure (issue 7.4; the conformance runner's `secret-redaction` and
//! `env-nondisclosure` features).
//!
//! Known values are planted in every secret setting. The app is then driven through every
//! route's success and error paths, in process (logs captured at TRACE by a test
//! subscriber) and as the real binary (stdout and stderr), including start-up with bad
//! configuration. Every log line, response (status, headers, body), configuration error and
//! `Debug` output, and every request the app sent to Inngest or a vendor (bodies; headers
//! carry credentials by design and go only to the stand-ins), is searched for every
//! 8-character window of every secret, in its plain, hex and base64 forms.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use huckleberry::config::AppConfig;
use huckleberry::discord::tokens::{LinkToken, Signer};
use huckleberry::integrations::paypal::SharedCertificateSource;
use huckleberry::startup::AppOverrides;
use huckleberry::webhooks::{WebhookSecret, stripe, svix};
use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;

use crate::process::Binary;
use crate::stand_in::{CLERK_USER, PURCHASE, StandIn, clerk_user};
use crate::support::spawn_configured_app;
use crate::webhooks::{
    CATALOG, CLERK_FIXTURE, PAYPAL_FIXTURE, PAYPAL_WEBHOOK_ID, RESEND_FIXTURE, STRIPE_FIXTURE,
    TestSignerCertificates,
};

/// A planted secret: the variable, its full value, and the public prefix that is not secret
/// (`signkey-prod-`, `whsec_`, …) and so is left out of the windows.
struct Planted {
    variable: &'static str,
    value: &'static str,
    public_prefix: &'static str,
}

pub(crate) const SIGNING_KEY: &str =
    "signkey-prod-3f9a1c7e5b2d48a6c0e1f7b9d3a5c8e2f4b6d8a0c2e4f6b8d0a2c4e6f8b0d2e4";
const SIGNING_KEY_FALLBACK: &str =
    "signkey-prod-a7c3e9f1b5d2846c0a8e6f4b2d9c7e5a3f1b8d6c4e2a0f9b7d5c3e1a8f6b4d2c";
const EVENT_KEY: &str = "Zt4Rq8Wm2Np6Lx9Vb3Hc7Jd5Kf1Gs0YaEvKy";
pub(crate) const STRIPE_SECRET: &str = "whsec_Pv7Tn3Qx9Kr5Wz1Ym8Ld4Hb6Gc2Fj0Ns";
const CLERK_WEBHOOK_SECRET: &str = "whsec_q1Xo5Jm7Rz3Tv9Bn2Lk6Wd8Yh4Ps0CfG";
const RESEND_WEBHOOK_SECRET: &str = "whsec_Mx2Vq8Zr4Tb6Nw0Kp3Jh7Ly5Gd9Fs1Ce";
const PAYPAL_CLIENT_SECRET: &str = "EPp7Xk2Qm9Vr4Tz6Wn1Hb8Lc3Jd5Gf0YsPp";
const CLERK_SECRET_KEY: &str = "sk_live_Wq9Ez3Rt7Yu1Io5Pa8Sd2Fg6Hj4Kl0Zx";
const RESEND_API_KEY: &str = "re_Bn5Mv1Cx7Za3Qw9Er2Ty6Ui8Op4As0Df";
const DISCORD_CLIENT_SECRET: &str = "Dc3Lk8Jh2Gf7Ds1Az6Xc9Vb4Nm0Qw5Er";
const DISCORD_BOT_TOKEN: &str = "Qz8Xw3Ec7Rv1Tb5Yn9Um2Ik6Ol4Pa0Sd.Hf2Jg7.Kl5Zx9Cv3Bn8Mq1Wr6Ty4Ui";
const LINK_TOKEN_KEY: &str = "Lk4Jh9Gf2Ds7Aq1Zw6Xe3Cr8Vt5By0NuLinkKey";
/// Planted only in the start-up runs that refuse a too-short link key.
const SHORT_LINK_KEY: &str = "Sh0rtK3y9Wx";

const PLANTED: [Planted; 13] = [
    Planted {
        variable: "INNGEST_SIGNING_KEY",
        value: SIGNING_KEY,
        public_prefix: "signkey-prod-",
    },
    Planted {
        variable: "INNGEST_SIGNING_KEY_FALLBACK",
        value: SIGNING_KEY_FALLBACK,
        public_prefix: "signkey-prod-",
    },
    Planted {
        variable: "INNGEST_EVENT_KEY",
        value: EVENT_KEY,
        public_prefix: "",
    },
    Planted {
        variable: "STRIPE_WEBHOOK_SECRETS",
        value: STRIPE_SECRET,
        public_prefix: "whsec_",
    },
    Planted {
        variable: "CLERK_WEBHOOK_SECRET",
        value: CLERK_WEBHOOK_SECRET,
        public_prefix: "whsec_",
    },
    Planted {
        variable: "RESEND_WEBHOOK_SECRET",
        value: RESEND_WEBHOOK_SECRET,
        public_prefix: "whsec_",
    },
    Planted {
        variable: "PAYPAL_CLIENT_SECRET",
        value: PAYPAL_CLIENT_SECRET,
        public_prefix: "",
    },
    Planted {
        variable: "CLERK_SECRET_KEY",
        value: CLERK_SECRET_KEY,
        public_prefix: "sk_live_",
    },
    Planted {
        variable: "RESEND_API_KEY",
        value: RESEND_API_KEY,
        public_prefix: "re_",
    },
    Planted {
        variable: "DISCORD_CLIENT_SECRET",
        value: DISCORD_CLIENT_SECRET,
        public_prefix: "",
    },
    Planted {
        variable: "DISCORD_BOT_TOKEN",
        value: DISCORD_BOT_TOKEN,
        public_prefix: "",
    },
    Planted {
        variable: "LINK_TOKEN_KEY",
        value: LINK_TOKEN_KEY,
        public_prefix: "",
    },
    Planted {
        variable: "LINK_TOKEN_KEY (too short)",
        value: SHORT_LINK_KEY,
        public_prefix: "",
    },
];

/// Every 8-character window of every form of every planted secret: the secret part as
/// configured, its hex and base64 encodings (at each of the three byte alignments), and for
/// hex or base64 secrets the other encoding of the bytes they stand for.
fn needles() -> Vec<(&'static str, String)> {
    let mut needles = Vec::new();
    for planted in &PLANTED {
        let material = &planted.value[planted.public_prefix.len()..];
        let mut forms = vec![material.to_owned(), hex::encode(material)];
        for offset in 0..3 {
            let part = &material.as_bytes()[offset..];
            forms.push(STANDARD_NO_PAD.encode(part));
            forms.push(URL_SAFE_NO_PAD.encode(part));
        }
        if let Ok(bytes) = hex::decode(material) {
            forms.push(STANDARD_NO_PAD.encode(&bytes));
            forms.push(URL_SAFE_NO_PAD.encode(&bytes));
        }
        if planted.public_prefix == "whsec_"
            && let Ok(bytes) = STANDARD.decode(material)
        {
            forms.push(hex::encode(&bytes));
        }
        for form in forms {
            let chars: Vec<char> = form.chars().collect();
            // An encoding's last characters depend on what follows; drop the edge windows.
            for window in chars.windows(8) {
                needles.push((planted.variable, window.iter().collect::<String>()));
            }
        }
    }
    needles.sort();
    needles.dedup();
    needles
}

/// Everything the app said or sent, by where it was seen.
#[derive(Default)]
struct Evidence {
    places: Vec<(String, String)>,
}

impl Evidence {
    fn add(&mut self, place: impl Into<String>, text: impl Into<String>) {
        self.places.push((place.into(), text.into()));
    }

    async fn response(&mut self, place: &str, response: reqwest::Response) -> (u16, String) {
        let status = response.status().as_u16();
        let headers = format!("{:?}", response.headers());
        let body = response.text().await.expect("a body");
        self.add(
            format!("{place} (response)"),
            format!("{status}\n{headers}\n{body}"),
        );
        (status, body)
    }

    /// Asserts that no window of any secret appears anywhere; returns (places, windows).
    fn assert_clean(&self) -> (usize, usize) {
        let needles = needles();
        let mut found = Vec::new();
        for (place, text) in &self.places {
            let lower = text.to_lowercase();
            for (variable, needle) in &needles {
                // Hex may be printed in either case.
                let hit = text.contains(needle.as_str())
                    || (needle.bytes().all(|b| b.is_ascii_hexdigit())
                        && lower.contains(&needle.to_lowercase()));
                if hit {
                    found.push(format!("{variable} window {needle:?} in {place}"));
                }
            }
        }
        assert!(found.is_empty(), "secrets disclosed:\n{}", found.join("\n"));
        (self.places.len(), needles.len())
    }
}

/// A log sink for a test subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// Production settings with a secret planted in every secret setting, every vendor and
/// Inngest pointed at `vendors`.
pub(crate) fn production_env(vendors: &StandIn) -> Vec<(String, String)> {
    let u = &vendors.url;
    let mut env: Vec<(String, String)> = vendors
        .env()
        .into_iter()
        .filter(|(k, _)| !PLANTED.iter().any(|p| p.variable == k))
        .collect();
    env.extend(
        [
            ("HOST", "127.0.0.1".to_owned()),
            ("PORT", "0".to_owned()),
            ("APP_BASE_URL", "http://127.0.0.1:0".to_owned()),
            ("INNGEST_API_BASE_URL", format!("{u}/inngest-api")),
            ("INNGEST_EVENT_API_BASE_URL", format!("{u}/inngest")),
            ("MENTORSHIP_CATALOG", CATALOG.to_owned()),
            ("STRIPE_LIVEMODE", "false".to_owned()),
            ("PAYPAL_WEBHOOK_ID", PAYPAL_WEBHOOK_ID.to_owned()),
            ("PAYPAL_ENVIRONMENT", "sandbox".to_owned()),
            ("PAYPAL_CLIENT_ID", "paypal-client-id".to_owned()),
            ("PAYPAL_API_BASE_URL", format!("{u}/paypal")),
            ("WEBHOOK_DELIVERY_TIMEOUT_MS", "2000".to_owned()),
            ("RUST_LOG", "trace".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    for planted in PLANTED.iter().filter(|p| !p.variable.contains(' ')) {
        env.push((planted.variable.to_owned(), planted.value.to_owned()));
    }
    env
}

fn lookup(env: Vec<(String, String)>) -> impl Fn(&str) -> Option<String> {
    move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// PayPal's token and order endpoints on the shared stand-in (credentials are not checked
/// here; the PayPal route's own tests do that).
fn install_paypal(vendors: &StandIn) {
    vendors.respond(
        Method::POST,
        "/paypal/v1/oauth2/token",
        200,
        json!({"access_token": "A21AAplanted-access", "token_type": "Bearer", "expires_in": 32400}),
    );
    vendors.respond(
        Method::GET,
        "/paypal/v2/checkout/orders/*",
        200,
        json!({
            "id": "5O190127TN364715T", "intent": "CAPTURE", "status": "COMPLETED",
            "payer": {"name": {"given_name": "Ada", "surname": "Buyer"},
                      "email_address": "payer@example.com", "payer_id": "QYR5Z8XDVJNXQ"},
            "purchase_units": [{"reference_id": "default",
                                "custom_id": "one-on-one-2026:user_2NNEqL2nrIRdJ194ndJqAHwEfxC"}]
        }),
    );
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn svix_headers(secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let t = now();
    let id = "msg_2NNEqSecretsDelivery1";
    let signature = svix::sign_for_test(&WebhookSecret::new(secret), id, t, body).expect("secret");
    vec![
        ("svix-id", id.to_owned()),
        ("svix-timestamp", t.to_string()),
        ("svix-signature", signature),
    ]
}

fn paypal_headers(body: &[u8]) -> Vec<(&'static str, String)> {
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    let id = "69cd13f0-d67a-11e5-baa3-778b53f4ae55";
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let message = huckleberry::webhooks::paypal::signed_message(id, &time, PAYPAL_WEBHOOK_ID, body);
    let pem = std::str::from_utf8(crate::webhooks::TEST_SIGNER_KEY).expect("PEM");
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem).expect("key");
    let signature = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key).sign(message.as_bytes());
    vec![
        ("paypal-transmission-id", id.to_owned()),
        ("paypal-transmission-time", time),
        (
            "paypal-transmission-sig",
            STANDARD.encode(signature.to_bytes()),
        ),
        (
            "paypal-cert-url",
            crate::webhooks::PAYPAL_CERT_URL.to_owned(),
        ),
        ("paypal-auth-algo", "SHA256withRSA".to_owned()),
    ]
}

/// A call request for `function` with `event`, as the executor sends it.
fn call_body(event: &Value, steps: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ctx": {"attempt": 0, "disable_immediate_execution": false, "env": "production",
                "fn_id": "uuid", "max_attempts": 4, "run_id": "01JSECRETSRUN",
                "stack": {"current": 0, "stack": []}, "use_api": false},
        "event": event, "events": [event], "steps": steps, "use_api": false, "version": 2
    }))
    .expect("json")
}

// Current-thread runtime (the default): the app, the stand-in and the client all run on this
// thread, so the thread-local test subscriber sees every log line they write.
#[tokio::test]
async fn no_route_log_or_outgoing_request_discloses_a_secret() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut seen = Evidence::default();

    let vendors = StandIn::start().await;
    install_paypal(&vendors);
    let config = AppConfig::from_lookup(&lookup(production_env(&vendors)))
        .expect("the planted production configuration is valid");
    seen.add("AppConfig Debug", format!("{config:?}"));
    let overrides = AppOverrides {
        paypal_certificates: Some(SharedCertificateSource::new(TestSignerCertificates)),
        clock: None,
    };
    // Production registers with Inngest at start; the stand-in has no such route (404).
    let base = spawn_configured_app(config, overrides).await.address;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = |path: &str| format!("{base}{path}");
    let signing = inngest_sdk::SigningKey::new(SIGNING_KEY).expect("key");
    let fallback = inngest_sdk::SigningKey::new(SIGNING_KEY_FALLBACK).expect("key");

    // Probes.
    for path in ["/healthz", "/readyz", "/nowhere"] {
        let res = http.get(url(path)).send().await.expect("answer");
        seen.response(path, res).await;
    }

    // The Inngest endpoint: introspection unsigned (401) and signed with each key (hashes).
    let res = http.get(url("/api/inngest")).send().await.expect("answer");
    assert_eq!(seen.response("GET /api/inngest unsigned", res).await.0, 401);
    for key in [&signing, &fallback] {
        let res = http
            .get(url("/api/inngest"))
            .header("x-inngest-signature", key.sign(b"", now()))
            .send()
            .await
            .expect("answer");
        assert_eq!(seen.response("GET /api/inngest signed", res).await.0, 200);
    }
    // Sync: in band (signed), out of band (the register call fails at the stand-in), forged.
    let sync = json!({"url": url("/api/inngest")}).to_string();
    let res = http
        .put(url("/api/inngest"))
        .header("x-inngest-sync-kind", "in_band")
        .header("x-inngest-signature", signing.sign(sync.as_bytes(), now()))
        .body(sync.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(seen.response("PUT /api/inngest in band", res).await.0, 200);
    let res = http.put(url("/api/inngest")).send().await.expect("answer");
    seen.response("PUT /api/inngest out of band", res).await;
    let res = http
        .put(url("/api/inngest"))
        .header("x-inngest-sync-kind", "in_band")
        .header("x-inngest-signature", "t=1&s=00")
        .body(sync)
        .send()
        .await
        .expect("answer");
    assert_eq!(seen.response("PUT /api/inngest forged", res).await.0, 401);

    // Stripe: delivered, then Inngest refusing (503), then a forged signature (400).
    let stripe_header =
        |body: &[u8]| stripe::sign_for_test(&WebhookSecret::new(STRIPE_SECRET), body, now());
    let res = http
        .post(url("/api/stripe/webhook"))
        .header("stripe-signature", stripe_header(STRIPE_FIXTURE))
        .body(STRIPE_FIXTURE)
        .send()
        .await
        .expect("answer");
    assert_eq!(seen.response("Stripe delivered", res).await.0, 200);
    let purchase = vendors.events()[0].clone();
    vendors.respond(
        Method::POST,
        "/inngest/e/*",
        401,
        json!({"error": "event key not found"}),
    );
    let res = http
        .post(url("/api/stripe/webhook"))
        .header("stripe-signature", stripe_header(STRIPE_FIXTURE))
        .body(STRIPE_FIXTURE)
        .send()
        .await
        .expect("answer");
    assert_eq!(seen.response("Stripe, Inngest refuses", res).await.0, 503);
    vendors.respond(
        Method::POST,
        "/inngest/e/*",
        200,
        json!({"ids": ["01JEVENT"], "status": 200}),
    );
    let res = http
        .post(url("/api/stripe/webhook"))
        .header("stripe-signature", "t=1,v1=00")
        .body(STRIPE_FIXTURE)
        .send()
        .await
        .expect("answer");
    assert_eq!(seen.response("Stripe forged", res).await.0, 400);

    // Clerk and Resend: delivered and forged; PayPal: delivered (with the order lookup) and
    // forged.
    for (path, secret, fixture) in [
        ("/api/clerk/webhook", CLERK_WEBHOOK_SECRET, CLERK_FIXTURE),
        ("/api/resend/webhook", RESEND_WEBHOOK_SECRET, RESEND_FIXTURE),
    ] {
        let mut request = http.post(url(path)).body(fixture);
        for (name, value) in svix_headers(secret, fixture) {
            request = request.header(name, value);
        }
        let res = request.send().await.expect("answer");
        assert_eq!(seen.response(path, res).await.0, 200, "{path}");
        let mut forged = http.post(url(path)).body(fixture);
        for (name, value) in svix_headers(STRIPE_SECRET, fixture) {
            forged = forged.header(name, value);
        }
        let res = forged.send().await.expect("answer");
        assert_eq!(seen.response(path, res).await.0, 400, "{path}");
    }
    let mut request = http.post(url("/api/paypal/webhook")).body(PAYPAL_FIXTURE);
    for (name, value) in paypal_headers(PAYPAL_FIXTURE) {
        request = request.header(name, value);
    }
    let res = request.send().await.expect("answer");
    assert_eq!(seen.response("PayPal delivered", res).await.0, 200);
    let res = http
        .post(url("/api/paypal/webhook"))
        .header("paypal-transmission-id", "x")
        .body(PAYPAL_FIXTURE)
        .send()
        .await
        .expect("answer");
    assert_eq!(seen.response("PayPal forged", res).await.0, 400);
    assert!(
        !vendors
            .requests_to(Method::POST, "/paypal/v1/oauth2/token")
            .is_empty(),
        "the PayPal client secret was used"
    );

    // Executor calls: the onboarding run's first step against a Clerk that fails (the
    // step's error travels back in the response), then one that answers; a forged call.
    let onboarding = "/api/inngest?fnId=huckleberry-onboarding-flow&stepId=step";
    vendors.respond(
        Method::GET,
        "/clerk/v1/users*",
        500,
        json!({"errors": [{"message": "internal", "long_message": "planted vendor failure"}]}),
    );
    let body = call_body(&purchase, &json!({}));
    let res = http
        .post(url(onboarding))
        .header("x-inngest-signature", signing.sign(&body, now()))
        .body(body)
        .send()
        .await
        .expect("answer");
    seen.response("onboarding call, Clerk failing", res).await;
    vendors.respond(
        Method::GET,
        "/clerk/v1/users*",
        200,
        json!([clerk_user(json!({}))]),
    );
    vendors.respond(Method::GET, "/clerk/v1/users/*", 200, clerk_user(json!({})));
    let body = call_body(&purchase, &json!({}));
    let res = http
        .post(url(onboarding))
        .header("x-inngest-signature", fallback.sign(&body, now()))
        .body(body.clone())
        .send()
        .await
        .expect("answer");
    seen.response("onboarding call", res).await;
    let res = http
        .post(url(onboarding))
        .header("x-inngest-signature", "t=1&s=00")
        .body(body.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(seen.response("onboarding call forged", res).await.0, 401);
    let unknown = "/api/inngest?fnId=nope&stepId=step";
    let res = http
        .post(url(unknown))
        .header("x-inngest-signature", signing.sign(&body, now()))
        .body(body)
        .send()
        .await
        .expect("answer");
    seen.response("call of an unknown function", res).await;

    // Discord: a valid link through consent and the callback; then the error paths.
    let signer = Signer::new(LINK_TOKEN_KEY.as_bytes());
    let token = signer.sign_link(&LinkToken {
        uid: CLERK_USER.into(),
        pid: PURCHASE.into(),
        exp: now() + 3600,
        nonce: "planted-test-nonce-0001".to_owned(),
    });
    let res = http
        .get(url(&format!("/api/auth/discord?t={token}")))
        .send()
        .await
        .expect("answer");
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let to_discord = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    seen.response("Discord start", res).await;
    assert!(!to_discord.is_empty(), "the start redirects to Discord");
    let consent = http.get(&to_discord).send().await.expect("consent");
    let back = consent.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let res = http
        .get(&back)
        .header("cookie", &cookie)
        .send()
        .await
        .expect("answer");
    assert_eq!(seen.response("Discord callback", res).await.0, 200);
    vendors.respond(
        Method::POST,
        "/discord/api/v10/oauth2/token",
        401,
        json!({"error": "invalid_client", "error_description": "planted failure"}),
    );
    let token = signer.sign_link(&LinkToken {
        uid: CLERK_USER.into(),
        pid: PURCHASE.into(),
        exp: now() + 3600,
        nonce: "planted-test-nonce-0002".to_owned(),
    });
    let res = http
        .get(url(&format!("/api/auth/discord?t={token}")))
        .send()
        .await
        .expect("answer");
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let to_discord = res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    seen.response("Discord start (2)", res).await;
    let consent = http.get(&to_discord).send().await.expect("consent");
    let back = consent.headers()["location"]
        .to_str()
        .expect("loc")
        .to_owned();
    let res = http
        .get(&back)
        .header("cookie", &cookie)
        .send()
        .await
        .expect("answer");
    seen.response("Discord callback, token exchange refused", res)
        .await;
    for (place, path) in [
        ("Discord start, forged link", "/api/auth/discord?t=e30.AAAA"),
        ("Discord start, no session", "/api/auth/discord"),
        (
            "Discord callback, no cookie",
            "/api/auth/discord/callback?code=x&state=y",
        ),
        (
            "Discord callback, declined",
            "/api/auth/discord/callback?error=access_denied&state=y",
        ),
    ] {
        let res = http
            .get(url(path))
            .header("cookie", "__session=not.a.jwt")
            .send()
            .await
            .expect("answer");
        seen.response(place, res).await;
    }

    // Give the background sync's failure log a moment to be written.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // What the app sent out: events, emails, metadata, guild calls (bodies only: headers
    // carry credentials by design, to the stand-ins).
    for request in vendors.requests() {
        if request.path.ends_with("/oauth2/token") {
            // The OAuth code exchange must carry the client secret to Discord and PayPal.
            continue;
        }
        // The event API takes the event key in its path (Inngest's protocol): the path is
        // the credential's channel, like an Authorization header, so only the body counts.
        let path = if request.path.starts_with("/inngest/e/") {
            "/inngest/e/<event key>".to_owned()
        } else {
            format!("{}?{}", request.path, request.query)
        };
        seen.add(
            format!("outgoing {} {path}", request.method),
            format!("{path}\n{}", request.text()),
        );
    }
    let text = logs.text();
    assert!(
        text.contains("TRACE") || text.contains("DEBUG"),
        "the capture works"
    );
    seen.add("logs (TRACE)", text);
    let (places, windows) = seen.assert_clean();
    eprintln!(
        "secret non-disclosure in process: {} secrets planted, {places} places, {windows} windows, 0 found",
        PLANTED.len() - 1
    );
}

#[test]
fn bad_configuration_errors_name_variables_but_never_values() {
    let mut seen = Evidence::default();
    let vendors_url = "http://127.0.0.1:9";
    let mut cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "a too-short link key",
            vec![("LINK_TOKEN_KEY", SHORT_LINK_KEY.to_owned())],
        ),
        (
            "an invalid app URL holding a secret",
            vec![("APP_BASE_URL", format!("not a url {LINK_TOKEN_KEY}"))],
        ),
        (
            "an invalid Inngest URL holding a secret",
            vec![("INNGEST_BASE_URL", format!("ftp://{EVENT_KEY}@x"))],
        ),
        (
            "a Svix secret that is not base64",
            vec![(
                "CLERK_WEBHOOK_SECRET",
                format!("whsec_*{}", &RESEND_API_KEY[3..]),
            )],
        ),
        (
            "an empty signing key after its prefix",
            vec![("INNGEST_SIGNING_KEY", "signkey-prod-".to_owned())],
        ),
    ];
    cases.push(("nothing set but the secrets", vec![]));
    for (name, changes) in &cases {
        let mut env: Vec<(String, String)> = PLANTED
            .iter()
            .filter(|p| !p.variable.contains(' '))
            .map(|p| (p.variable.to_owned(), p.value.to_owned()))
            .collect();
        env.push(("APP_BASE_URL".into(), vendors_url.into()));
        for (k, v) in changes {
            env.retain(|(key, _)| key != k);
            env.push(((*k).to_owned(), v.clone()));
        }
        let error = AppConfig::from_lookup(&lookup(env)).expect_err(name);
        seen.add(format!("config error Display: {name}"), error.to_string());
        seen.add(format!("config error Debug: {name}"), format!("{error:?}"));
    }
    let (places, windows) = seen.assert_clean();
    eprintln!("bad configuration: {places} places, {windows} windows, 0 found");
}

/// Runs the binary with `env`; once it listens, `run` drives it and the binary gets SIGTERM.
/// Returns what `run` returned (`None` when the binary never listened), stdout and stderr.
fn run_binary<T>(
    env: &[(String, String)],
    run: impl FnOnce(&str) -> T,
) -> (Option<T>, String, String) {
    let binary = Binary::start(env);
    let (address, mut stdout) = binary.wait_listening(Duration::from_secs(20));
    let ran = address.map(|address| {
        let ran = run(&address);
        binary.terminate();
        ran
    });
    let (rest, stderr) = binary.finish(Duration::from_secs(30));
    stdout.extend(rest);
    (ran, stdout.join("\n"), stderr)
}

/// A blocking HTTP exchange with the binary, for its start-up paths.
fn raw(address: &str, request: &str) -> String {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_never_prints_a_secret_at_start_up_serving_or_refusing_to_start() {
    let vendors = StandIn::start().await;
    let mut seen = Evidence::default();
    let good = production_env(&vendors);

    // Start-up refused: each bad setting, every secret planted.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to hold");
    let taken_port = taken.local_addr().expect("bound").port().to_string();
    let bad: [(&str, &str, String); 4] = [
        (
            "a too-short link key",
            "LINK_TOKEN_KEY",
            SHORT_LINK_KEY.to_owned(),
        ),
        (
            "an invalid app URL",
            "APP_BASE_URL",
            format!("http//{LINK_TOKEN_KEY}"),
        ),
        (
            "an invalid Inngest URL",
            "INNGEST_API_BASE_URL",
            format!("::{EVENT_KEY}"),
        ),
        ("a port that is taken", "PORT", taken_port),
    ];
    for (name, variable, value) in bad {
        let mut env = good.clone();
        env.retain(|(k, _)| k != variable);
        env.push((variable.to_owned(), value));
        let (_, stdout, stderr) = tokio::task::spawn_blocking(move || run_binary(&env, |_| {}))
            .await
            .expect("ran");
        assert!(
            !stdout.contains("\"listening\""),
            "{name}: the binary must refuse to start"
        );
        seen.add(format!("binary stdout, {name}"), stdout);
        seen.add(format!("binary stderr, {name}"), stderr);
    }

    // A good start: serve, sync with Inngest (fails at the stand-in), answer errors, stop.
    let (answers, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run_binary(&good, |address| {
            let answers: Vec<String> = [
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                "GET /api/inngest HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                "POST /api/inngest?fnId=huckleberry-onboarding-flow HTTP/1.1\r\nHost: x\r\nX-Inngest-Signature: t=1&s=00\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                "POST /api/stripe/webhook HTTP/1.1\r\nHost: x\r\nStripe-Signature: t=1,v1=00\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                "GET /api/auth/discord?t=e30.AAAA HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ]
            .iter()
            .map(|request| raw(address, request))
            .collect();
            // Let the background sync's failure be logged before the signal.
            std::thread::sleep(Duration::from_millis(300));
            answers
        })
    })
    .await
    .expect("ran");
    let answers = answers.expect("the binary listened");
    assert!(answers[0].starts_with("HTTP/1.1 200"), "{}", answers[0]);
    assert!(stdout.contains("\"listening\""), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("syncing functions with Inngest failed"),
        "{stdout}"
    );
    seen.add("binary responses", answers.join("\n---\n"));
    seen.add("binary stdout, serving", stdout);
    seen.add("binary stderr, serving", stderr);
    let (places, windows) = seen.assert_clean();
    eprintln!("binary: {places} places, {windows} windows, 0 found");
}

/// The detector itself: a window of a secret in any of its forms is found.
#[test]
fn the_detector_finds_a_secret_window_in_plain_hex_and_base64_form() {
    let signing_hex = &SIGNING_KEY["signkey-prod-".len()..];
    let signing_bytes = hex::decode(signing_hex).expect("hex");
    let clerk_bytes = STANDARD
        .decode(&CLERK_WEBHOOK_SECRET["whsec_".len()..])
        .expect("base64");
    for leaked in [
        format!("error: bad key {}", &LINK_TOKEN_KEY[5..13]),
        format!("Bearer {}", &RESEND_API_KEY[4..20]),
        format!("key={}", signing_hex[10..30].to_uppercase()),
        format!("b64 {}", STANDARD.encode(&signing_bytes[3..20])),
        format!("hex {}", hex::encode(&clerk_bytes[2..12])),
        format!(
            "basic {}",
            STANDARD.encode(&PAYPAL_CLIENT_SECRET.as_bytes()[4..20])
        ),
    ] {
        let mut seen = Evidence::default();
        seen.add("probe", leaked.clone());
        let caught = std::panic::catch_unwind(move || seen.assert_clean());
        assert!(caught.is_err(), "not detected: {leaked}");
    }
}
