//! Hostile bodies on every route (issue 7.3): oversized, truncated, deeply nested, wrong
//! content type, invalid UTF-8 and duplicate JSON keys, unsigned and (where the route
//! verifies a signature) validly signed, so the parser behind the verifier is reached too.
//!
//! Every answer must be the route's documented one: a 4xx JSON error on the API routes, a
//! 4xx HTML page on the browser routes, `ok`/`ready` on the probes. The app never panics
//! (it still answers `/healthz`), and nothing reaches Inngest.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{SecondsFormat, Utc};
use huckleberry::webhooks::paypal::signed_message;
use huckleberry::webhooks::{MAX_BODY_BYTES, WebhookSecret, stripe, svix};
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};

use crate::webhooks::{
    CLERK_FIXTURE, CLERK_SECRET, PAYPAL_CERT_URL, PAYPAL_FIXTURE, PAYPAL_WEBHOOK_ID,
    RESEND_FIXTURE, STRIPE_FIXTURE, STRIPE_SECRET, TEST_SIGNER_KEY, WebhookApp, now_unix,
    resend_secret,
};

/// The Inngest endpoint's body cap (the SDK's default).
const INNGEST_MAX_BODY: usize = inngest_sdk::DEFAULT_MAX_BODY_BYTES;

/// One hostile request body and the content type it claims.
struct Hostile {
    name: &'static str,
    body: Vec<u8>,
    content_type: Option<&'static str>,
}

/// The hostile bodies every route gets, built around a genuine `fixture` of the route.
fn hostile_bodies(fixture: &[u8], limit: usize) -> Vec<Hostile> {
    let json = Some("application/json");
    let nested = |open: &str| open.repeat(100_000).into_bytes();
    let mut invalid_utf8 = b"{\"id\":\"evt_\xff\xfe\",\"type\":\"\xc3\x28\"}".to_vec();
    invalid_utf8.extend_from_slice(&[0xf0, 0x28, 0x8c, 0xbc]);
    vec![
        Hostile {
            name: "oversized by one byte",
            body: vec![b' '; limit + 1],
            content_type: json,
        },
        Hostile {
            name: "truncated in the middle",
            body: fixture[..fixture.len() / 2].to_vec(),
            content_type: json,
        },
        Hostile {
            name: "truncated to one byte",
            body: fixture[..1].to_vec(),
            content_type: json,
        },
        Hostile {
            name: "empty",
            body: Vec::new(),
            content_type: json,
        },
        Hostile {
            name: "100k nested arrays",
            body: nested("["),
            content_type: json,
        },
        Hostile {
            name: "100k nested objects",
            body: nested("{\"a\":"),
            content_type: json,
        },
        Hostile {
            name: "invalid UTF-8",
            body: invalid_utf8,
            content_type: json,
        },
        Hostile {
            name: "duplicate keys",
            body: duplicate_keys(fixture),
            content_type: json,
        },
        Hostile {
            name: "a JSON scalar",
            body: b"12345678901234567890123456789e999999".to_vec(),
            content_type: json,
        },
        Hostile {
            name: "wrong content type (form)",
            body: b"id=evt_1&type=checkout.session.completed".to_vec(),
            content_type: Some("application/x-www-form-urlencoded"),
        },
        Hostile {
            name: "wrong content type (text) around the genuine bytes",
            body: fixture.to_vec(),
            content_type: Some("text/plain; charset=latin1"),
        },
        Hostile {
            name: "no content type, binary",
            body: (0..=255u8).cycle().take(4096).collect(),
            content_type: None,
        },
    ]
}

/// The fixture with every top-level member repeated, the copy's values changed.
fn duplicate_keys(fixture: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(fixture).expect("fixtures are UTF-8");
    let inner = text.trim().trim_start_matches('{');
    format!(r#"{{"id":"evt_dup","type":"dup","data":{{"object":{{}}}},"ctx":{{}},{inner}"#)
        .into_bytes()
}

/// How a route must answer hostile input.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A 4xx with a JSON body (the API routes).
    JsonClientError,
    /// A 4xx HTML page (the browser routes).
    HtmlClientError,
    /// The probe's fixed 200 text.
    Probe(&'static str),
    /// Introspection: GET ignores the body and answers 200 JSON.
    Introspection,
}

struct Tally {
    cases: usize,
}

impl WebhookApp {
    async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        hostile: &Hostile,
        headers: &[(String, String)],
    ) -> (u16, String, Vec<u8>) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.address))
            .body(hostile.body.clone());
        if let Some(content_type) = hostile.content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("the app answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = response.bytes().await.expect("a complete body").to_vec();
        (status, content_type, body)
    }

    async fn assert_healthy(&self) {
        let health = self
            .http
            .get(format!("{}/healthz", self.address))
            .send()
            .await
            .expect("the app still answers");
        assert_eq!(health.status(), 200);
    }
}

async fn check(
    app: &WebhookApp,
    tally: &mut Tally,
    method: reqwest::Method,
    path: &str,
    hostile: &Hostile,
    headers: &[(String, String)],
    expect: Expect,
) {
    let (status, content_type, body) = app.send_raw(method.clone(), path, hostile, headers).await;
    tally.cases += 1;
    let what = format!(
        "{method} {path} with {} ({} signed): {status} {content_type} {}",
        hostile.name,
        if headers.is_empty() { "not" } else { "validly" },
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    match expect {
        Expect::JsonClientError => {
            assert!((400..500).contains(&status), "{what}");
            assert!(content_type.starts_with("application/json"), "{what}");
            let json: serde_json::Value = serde_json::from_slice(&body).expect(&what);
            assert!(
                json.get("error").or_else(|| json.get("message")).is_some(),
                "{what}"
            );
        }
        Expect::HtmlClientError => {
            assert!((400..500).contains(&status), "{what}");
            assert!(content_type.starts_with("text/html"), "{what}");
        }
        Expect::Probe(text) => {
            assert_eq!(status, 200, "{what}");
            assert_eq!(body, text.as_bytes(), "{what}");
        }
        Expect::Introspection => {
            assert_eq!(status, 200, "{what}");
            assert!(content_type.starts_with("application/json"), "{what}");
        }
    }
}

fn stripe_signed(body: &[u8]) -> Vec<(String, String)> {
    let signature = stripe::sign_for_test(&WebhookSecret::new(STRIPE_SECRET), body, now_unix());
    vec![("stripe-signature".to_owned(), signature)]
}

fn svix_signed(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    let t = now_unix();
    let id = "msg_2NNEqHostileBody0001";
    let signature =
        svix::sign_for_test(&WebhookSecret::new(secret), id, t, body).expect("valid secret");
    vec![
        ("svix-id".to_owned(), id.to_owned()),
        ("svix-timestamp".to_owned(), t.to_string()),
        ("svix-signature".to_owned(), signature),
    ]
}

fn paypal_signer() -> SigningKey<sha2::Sha256> {
    let pem = std::str::from_utf8(TEST_SIGNER_KEY).expect("PEM is text");
    SigningKey::new(RsaPrivateKey::from_pkcs8_pem(pem).expect("test key parses"))
}

fn paypal_signed(signer: &SigningKey<sha2::Sha256>, body: &[u8]) -> Vec<(String, String)> {
    let id = "69cd13f0-d67a-11e5-baa3-778b53f4ae55";
    let time = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let message = signed_message(id, &time, PAYPAL_WEBHOOK_ID, body);
    let signature = STANDARD.encode(signer.sign(message.as_bytes()).to_bytes());
    [
        ("paypal-transmission-id", id.to_owned()),
        ("paypal-transmission-time", time),
        ("paypal-transmission-sig", signature),
        ("paypal-cert-url", PAYPAL_CERT_URL.to_owned()),
        ("paypal-auth-algo", "SHA256withRSA".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[tokio::test]
async fn hostile_bodies_on_the_webhook_routes_are_4xx_json_and_send_nothing() {
    let app = WebhookApp::spawn().await;
    let mut tally = Tally { cases: 0 };
    let signer = paypal_signer();
    let routes: [(&str, &[u8]); 4] = [
        ("/api/stripe/webhook", STRIPE_FIXTURE),
        ("/api/paypal/webhook", PAYPAL_FIXTURE),
        ("/api/clerk/webhook", CLERK_FIXTURE),
        ("/api/resend/webhook", RESEND_FIXTURE),
    ];
    for (path, fixture) in routes {
        let before = tally.cases;
        for hostile in hostile_bodies(fixture, MAX_BODY_BYTES) {
            check(
                &app,
                &mut tally,
                reqwest::Method::POST,
                path,
                &hostile,
                &[],
                Expect::JsonClientError,
            )
            .await;
            // Validly signed: the body gets past the verifier to the parser. The genuine
            // fixture under a wrong content type is a genuine delivery (providers' content
            // types are not part of the signature), so it is not sent signed.
            if hostile.name.starts_with("wrong content type (text)") {
                continue;
            }
            let signed = match path {
                "/api/stripe/webhook" => stripe_signed(&hostile.body),
                "/api/paypal/webhook" => paypal_signed(&signer, &hostile.body),
                "/api/clerk/webhook" => svix_signed(CLERK_SECRET, &hostile.body),
                _ => svix_signed(&resend_secret(), &hostile.body),
            };
            check(
                &app,
                &mut tally,
                reqwest::Method::POST,
                path,
                &hostile,
                &signed,
                Expect::JsonClientError,
            )
            .await;
        }
        eprintln!("{path}: {} hostile cases", tally.cases - before);
        app.assert_healthy().await;
    }
    app.inngest.assert_nothing_sent();
    assert!(
        app.paypal_api.order_requests().is_empty(),
        "no order lookup for a hostile body"
    );
}

#[tokio::test]
async fn hostile_bodies_on_the_inngest_endpoint_are_4xx_json_and_run_nothing() {
    let app = WebhookApp::spawn().await;
    let mut tally = Tally { cases: 0 };
    let call = br#"{"ctx":{"run_id":"01JRUN","attempt":0,"disable_immediate_execution":true,"stack":{"stack":[],"current":0}},"event":{"name":"purchase/mentorship","data":{}},"events":[],"steps":{},"version":2}"#;
    let in_band = [("x-inngest-sync-kind".to_owned(), "in_band".to_owned())];
    for hostile in hostile_bodies(call, INNGEST_MAX_BODY) {
        // A call to a served function: the body must be refused before the function runs.
        check(
            &app,
            &mut tally,
            reqwest::Method::POST,
            "/api/inngest?fnId=huckleberry-onboarding-flow&stepId=step",
            &hostile,
            &[],
            Expect::JsonClientError,
        )
        .await;
        if !hostile.name.starts_with("oversized") {
            // GET ignores its body (introspection); an oversized one is still a 413.
            check(
                &app,
                &mut tally,
                reqwest::Method::GET,
                "/api/inngest",
                &hostile,
                &[],
                Expect::Introspection,
            )
            .await;
        }
        check(
            &app,
            &mut tally,
            reqwest::Method::PUT,
            "/api/inngest",
            &hostile,
            &in_band,
            Expect::JsonClientError,
        )
        .await;
    }
    eprintln!("/api/inngest: {} hostile cases", tally.cases);
    app.assert_healthy().await;
    app.inngest.assert_nothing_sent();
}

#[tokio::test]
async fn hostile_bodies_and_queries_on_the_browser_routes_and_probes_get_their_documented_answers()
{
    let app = WebhookApp::spawn().await;
    let mut tally = Tally { cases: 0 };
    let queries = [
        "",
        "?t=",
        "?t=%FF%FE",
        "?t=a.b",
        "?t=a&t=b",
        "?code=x&state=y",
        "?error=%00&state=%C3%28",
    ];
    for hostile in hostile_bodies(b"{\"t\":\"x\"}", MAX_BODY_BYTES) {
        for query in queries {
            for path in ["/api/auth/discord", "/api/auth/discord/callback"] {
                let target = format!("{path}{query}");
                check(
                    &app,
                    &mut tally,
                    reqwest::Method::GET,
                    &target,
                    &hostile,
                    &[],
                    Expect::HtmlClientError,
                )
                .await;
            }
        }
        check(
            &app,
            &mut tally,
            reqwest::Method::GET,
            "/healthz",
            &hostile,
            &[],
            Expect::Probe("ok"),
        )
        .await;
        check(
            &app,
            &mut tally,
            reqwest::Method::GET,
            "/readyz",
            &hostile,
            &[],
            Expect::Probe("ready"),
        )
        .await;
    }
    eprintln!("browser routes and probes: {} hostile cases", tally.cases);
    app.assert_healthy().await;
    app.inngest.assert_nothing_sent();
}
