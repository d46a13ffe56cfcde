//! Forgery never verifies (issue 7.1): property tests of the Stripe, Svix and PayPal
//! verifiers and of the Discord link token and OAuth cookie.
//!
//! Each verifier gets a genuine delivery, then one mutation of its body, a header or the
//! time; the mutated delivery must never verify, and the control case (the delivery as
//! signed) must. Each property tries [`CASES`] cases.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use huckleberry::discord::tokens::{LinkToken, OAuthCookie, Signer, TokenError};
use huckleberry::webhooks::paypal::{
    PaypalCertificate, PaypalVerifier, PaypalVerifierConfig, signed_message,
};
use huckleberry::webhooks::stripe::{self, StripeVerifier};
use huckleberry::webhooks::svix::{self, SvixVerifier};
use huckleberry::webhooks::{DEFAULT_TOLERANCE, WebhookSecret};
use huckleberry_functions::events::{ConnectSource, MentorshipKind};
use proptest::prelude::*;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};

use crate::webhooks::{
    CLERK_FIXTURE, CLERK_SECRET, PAYPAL_CERT_URL, PAYPAL_FIXTURE, PAYPAL_WEBHOOK_ID,
    STRIPE_FIXTURE, STRIPE_ROTATED_SECRET, STRIPE_SECRET, TEST_SIGNER_KEY,
};

/// Cases per property.
const CASES: u32 = 256;
/// A fixed "now" inside the test signer certificate's validity (2026–2036).
const NOW: i64 = 1_780_000_000;
const LINK_KEY: &[u8] = b"forgery-test-link-key-0123456789abcdef";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A changed copy of some bytes: a bit flipped, truncated, extended, or a byte replaced.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit { index: usize, bit: u8 },
    Truncate { keep: usize },
    Append(Vec<u8>),
    Replace { index: usize, byte: u8 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(index, bit)| Mutation::FlipBit { index, bit }),
        any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        prop::collection::vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
        (any::<usize>(), any::<u8>()).prop_map(|(index, byte)| Mutation::Replace { index, byte }),
    ]
}

impl Mutation {
    /// The mutated bytes, or `None` when the mutation changes nothing.
    fn apply(&self, original: &[u8]) -> Option<Vec<u8>> {
        let mut out = original.to_vec();
        if out.is_empty() {
            return None;
        }
        match self {
            Mutation::FlipBit { index, bit } => out[index % original.len()] ^= 1 << bit,
            Mutation::Truncate { keep } => out.truncate(keep % original.len()),
            Mutation::Append(extra) => out.extend_from_slice(extra),
            Mutation::Replace { index, byte } => out[index % original.len()] = *byte,
        }
        (out != original).then_some(out)
    }

    /// As [`Mutation::apply`] on text, `None` unless the result is still a header value.
    fn apply_text(&self, original: &str) -> Option<String> {
        let out = String::from_utf8(self.apply(original.as_bytes())?).ok()?;
        HeaderValue::from_str(&out).is_ok().then_some(out)
    }
}

/// A "now" at least 301 s away from `signed`, either way.
fn outside_window() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(301i64),
        Just(-301i64),
        301i64..10_000_000,
        -10_000_000i64..=-301,
    ]
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    map
}

// ---- Stripe ----------------------------------------------------------------------------

fn stripe_verifier() -> StripeVerifier {
    StripeVerifier::new(
        vec![
            WebhookSecret::new(STRIPE_SECRET),
            WebhookSecret::new(STRIPE_ROTATED_SECRET),
        ],
        DEFAULT_TOLERANCE,
    )
    .expect("valid secrets")
}

fn stripe_signed(secret: &str, t: i64) -> String {
    stripe::sign_for_test(&WebhookSecret::new(secret), STRIPE_FIXTURE, t)
}

// ---- Svix ------------------------------------------------------------------------------

const SVIX_ID: &str = "msg_2NNEqForgeryProperty01";

fn svix_verifier() -> SvixVerifier {
    SvixVerifier::new(vec![WebhookSecret::new(CLERK_SECRET)], DEFAULT_TOLERANCE)
        .expect("valid secret")
}

fn svix_signature(secret: &str, id: &str, t: i64, body: &[u8]) -> String {
    svix::sign_for_test(&WebhookSecret::new(secret), id, t, body).expect("valid secret")
}

fn svix_headers(id: &str, t: &str, signature: &str) -> HeaderMap {
    headers(&[
        ("svix-id", id),
        ("svix-timestamp", t),
        ("svix-signature", signature),
    ])
}

// ---- PayPal ----------------------------------------------------------------------------

const TRANSMISSION_ID: &str = "69cd13f0-d67a-11e5-baa3-778b53f4ae55";

/// A genuine PayPal delivery at [`NOW`], signed once (RSA signing is slow in debug builds).
struct PaypalDelivery {
    time: String,
    signature: String,
    verifier: PaypalVerifier,
    certificate: PaypalCertificate,
}

static PAYPAL: LazyLock<PaypalDelivery> = LazyLock::new(|| {
    let time = DateTime::from_timestamp(NOW, 0)
        .expect("time")
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let message = signed_message(TRANSMISSION_ID, &time, PAYPAL_WEBHOOK_ID, PAYPAL_FIXTURE);
    let pem = std::str::from_utf8(TEST_SIGNER_KEY).expect("PEM is text");
    let key = RsaPrivateKey::from_pkcs8_pem(pem).expect("test key parses");
    let signature = SigningKey::<sha2::Sha256>::new(key).sign(message.as_bytes());
    PaypalDelivery {
        time,
        signature: STANDARD.encode(signature.to_bytes()),
        verifier: PaypalVerifier::new(PaypalVerifierConfig::new(PAYPAL_WEBHOOK_ID))
            .expect("verifier"),
        certificate: PaypalCertificate::from_pem(include_bytes!(
            "../fixtures/paypal-test-signer/cert.pem"
        ))
        .expect("certificate"),
    }
});

#[derive(Debug, Clone, Copy)]
enum PaypalHeader {
    Id,
    Time,
    Signature,
    /// Index 3 is the certificate URL, which is not signed (see its own property).
    Algorithm = 4,
}

impl PaypalDelivery {
    /// Verifies `body` with the genuine headers, one of them replaced, at `now`.
    fn verify(&self, body: &[u8], replace: Option<(PaypalHeader, &str)>, now: i64) -> bool {
        let mut values = [
            ("paypal-transmission-id", TRANSMISSION_ID),
            ("paypal-transmission-time", self.time.as_str()),
            ("paypal-transmission-sig", self.signature.as_str()),
            ("paypal-cert-url", PAYPAL_CERT_URL),
            ("paypal-auth-algo", "SHA256withRSA"),
        ];
        if let Some((which, value)) = replace {
            values[which as usize].1 = value;
        }
        let now = DateTime::from_timestamp(now, 0).expect("time");
        self.verifier
            .transmission(&headers(&values))
            .and_then(|t| {
                self.verifier
                    .verify_with_certificate(&t, body, now, &self.certificate)
            })
            .is_ok()
    }

    fn value(&self, which: PaypalHeader) -> &str {
        match which {
            PaypalHeader::Id => TRANSMISSION_ID,
            PaypalHeader::Time => &self.time,
            PaypalHeader::Signature => &self.signature,
            PaypalHeader::Algorithm => "SHA256withRSA",
        }
    }
}

// ---- Discord tokens --------------------------------------------------------------------

fn link_token() -> impl Strategy<Value = LinkToken> {
    (
        "user_[A-Za-z0-9]{1,27}",
        "(cs_test_|PAYID-)[A-Za-z0-9]{1,40}",
        NOW + 1..NOW + 7 * 86_400,
        "[A-Za-z0-9_-]{22}",
    )
        .prop_map(|(uid, pid, exp, nonce)| LinkToken {
            uid: uid.into(),
            pid: pid.into(),
            exp,
            nonce,
        })
}

fn oauth_cookie() -> impl Strategy<Value = OAuthCookie> {
    (
        "[A-Za-z0-9_-]{43}",
        "[A-Za-z0-9_-]{43}",
        "user_[A-Za-z0-9]{1,27}",
        proptest::option::of("cs_test_[A-Za-z0-9]{1,40}"),
        any::<bool>(),
    )
        .prop_map(|(state, verifier, uid, pid, email)| OAuthCookie {
            state,
            verifier,
            uid: uid.into(),
            pid: pid.map(Into::into),
            kind: Some(MentorshipKind::Group),
            source: if email {
                ConnectSource::Email
            } else {
                ConnectSource::Dashboard
            },
            created_at: NOW,
            link: None,
        })
}

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).expect("time")
}

proptest! {
    #![proptest_config(config())]

    // -- Stripe --

    #[test]
    fn stripe_a_mutated_body_never_verifies(m in mutation(), t in NOW - 300..=NOW + 300) {
        let header = stripe_signed(STRIPE_SECRET, t);
        let Some(body) = m.apply(STRIPE_FIXTURE) else { return Ok(()) };
        prop_assert!(stripe_verifier().verify_header(&header, &body, NOW).is_err());
    }

    #[test]
    fn stripe_a_mutated_header_never_verifies(m in mutation(), rotated in any::<bool>()) {
        let header = stripe_signed(if rotated { STRIPE_ROTATED_SECRET } else { STRIPE_SECRET }, NOW);
        let Some(forged) = m.apply_text(&header) else { return Ok(()) };
        // A header that still carries the genuine `t` and `v1` (e.g. with an extra `v1=`
        // appended) is the genuine signature, not a forgery.
        let (t, v1) = stripe_parts(&header);
        let (forged_t, forged_v1) = stripe_parts(&forged);
        prop_assume!(!(forged_t == t && forged_v1.contains(&v1[0])));
        prop_assert!(stripe_verifier().verify_header(&forged, STRIPE_FIXTURE, NOW).is_err());
    }

    #[test]
    fn stripe_a_signature_under_another_secret_never_verifies(secret in "whsec_[A-Za-z0-9]{8,40}") {
        prop_assume!(secret != STRIPE_SECRET && secret != STRIPE_ROTATED_SECRET);
        let header = stripe_signed(&secret, NOW);
        prop_assert!(stripe_verifier().verify_header(&header, STRIPE_FIXTURE, NOW).is_err());
    }

    #[test]
    fn stripe_a_signature_outside_the_window_never_verifies(offset in outside_window()) {
        let header = stripe_signed(STRIPE_SECRET, NOW + offset);
        prop_assert!(stripe_verifier().verify_header(&header, STRIPE_FIXTURE, NOW).is_err());
    }

    #[test]
    fn stripe_the_delivery_as_signed_verifies(t in NOW - 300..=NOW + 300, rotated in any::<bool>()) {
        let header = stripe_signed(if rotated { STRIPE_ROTATED_SECRET } else { STRIPE_SECRET }, t);
        prop_assert!(stripe_verifier().verify_header(&header, STRIPE_FIXTURE, NOW).is_ok());
    }

    // -- Svix (Clerk, Resend) --

    #[test]
    fn svix_a_mutated_body_never_verifies(m in mutation()) {
        let signature = svix_signature(CLERK_SECRET, SVIX_ID, NOW, CLERK_FIXTURE);
        let Some(body) = m.apply(CLERK_FIXTURE) else { return Ok(()) };
        let headers = svix_headers(SVIX_ID, &NOW.to_string(), &signature);
        prop_assert!(svix_verifier().verify(&headers, &body, NOW).is_err());
    }

    #[test]
    fn svix_a_mutated_header_never_verifies(m in mutation(), which in 0usize..3) {
        let signature = svix_signature(CLERK_SECRET, SVIX_ID, NOW, CLERK_FIXTURE);
        let mut values = [SVIX_ID.to_owned(), NOW.to_string(), signature];
        let Some(forged) = m.apply_text(&values[which]) else { return Ok(()) };
        // A timestamp that still parses to NOW ("+1780000000") or the same signature bytes
        // under other base64 padding is the same delivery, not a forgery.
        prop_assume!(!(which == 1 && forged.parse::<i64>() == Ok(NOW)));
        prop_assume!(!(which == 2 && svix_mac(&forged) == svix_mac(&values[2])));
        values[which] = forged;
        let headers = svix_headers(&values[0], &values[1], &values[2]);
        prop_assert!(svix_verifier().verify(&headers, CLERK_FIXTURE, NOW).is_err());
    }

    #[test]
    fn svix_a_signature_under_another_secret_never_verifies(key in any::<[u8; 24]>()) {
        let secret = format!("whsec_{}", STANDARD.encode(key));
        prop_assume!(secret != CLERK_SECRET);
        let signature = svix_signature(&secret, SVIX_ID, NOW, CLERK_FIXTURE);
        let headers = svix_headers(SVIX_ID, &NOW.to_string(), &signature);
        prop_assert!(svix_verifier().verify(&headers, CLERK_FIXTURE, NOW).is_err());
    }

    #[test]
    fn svix_a_signature_outside_the_window_never_verifies(offset in outside_window()) {
        let t = NOW + offset;
        let signature = svix_signature(CLERK_SECRET, SVIX_ID, t, CLERK_FIXTURE);
        let headers = svix_headers(SVIX_ID, &t.to_string(), &signature);
        prop_assert!(svix_verifier().verify(&headers, CLERK_FIXTURE, NOW).is_err());
    }

    #[test]
    fn svix_the_delivery_as_signed_verifies(t in NOW - 300..=NOW + 300) {
        let signature = svix_signature(CLERK_SECRET, SVIX_ID, t, CLERK_FIXTURE);
        let headers = svix_headers(SVIX_ID, &t.to_string(), &signature);
        prop_assert!(svix_verifier().verify(&headers, CLERK_FIXTURE, NOW).is_ok());
    }

    // -- PayPal --

    #[test]
    fn paypal_a_mutated_body_never_verifies(m in mutation()) {
        // The signature covers the body's CRC32, which catches every single-bit, single-byte
        // and short-burst change; a crafted CRC32 collision would not be caught (see
        // docs/hardening.md's note on PayPal), which random mutation does not produce.
        let Some(body) = m.apply(PAYPAL_FIXTURE) else { return Ok(()) };
        prop_assume!(crc32fast::hash(&body) != crc32fast::hash(PAYPAL_FIXTURE));
        prop_assert!(!PAYPAL.verify(&body, None, NOW));
    }

    #[test]
    fn paypal_a_mutated_header_never_verifies(
        m in mutation(),
        which in prop_oneof![
            Just(PaypalHeader::Id),
            Just(PaypalHeader::Time),
            Just(PaypalHeader::Signature),
            Just(PaypalHeader::Algorithm),
        ],
    ) {
        let Some(forged) = m.apply_text(PAYPAL.value(which)) else { return Ok(()) };
        // Base64 that decodes to the same signature bytes is the same signature.
        prop_assume!(!matches!(which, PaypalHeader::Signature)
            || STANDARD.decode(&forged).ok() != STANDARD.decode(&PAYPAL.signature).ok());
        prop_assert!(!PAYPAL.verify(PAYPAL_FIXTURE, Some((which, &forged)), NOW));
    }

    #[test]
    fn paypal_a_mutated_certificate_url_is_refused_or_still_names_paypal(m in mutation()) {
        // The URL is not signed: what protects it is the allow-list, so a changed URL is
        // either refused before any fetch or still one of PayPal's own HTTPS hosts.
        let Some(forged) = m.apply_text(PAYPAL_CERT_URL) else { return Ok(()) };
        let values = [
            ("paypal-transmission-id", TRANSMISSION_ID),
            ("paypal-transmission-time", PAYPAL.time.as_str()),
            ("paypal-transmission-sig", PAYPAL.signature.as_str()),
            ("paypal-cert-url", forged.as_str()),
            ("paypal-auth-algo", "SHA256withRSA"),
        ];
        if let Ok(transmission) = PAYPAL.verifier.transmission(&headers(&values)) {
            let url = url::Url::parse(transmission.cert_url.as_str()).expect("allow-listed URL");
            prop_assert_eq!(url.scheme(), "https");
            let host = url.host_str().unwrap_or_default();
            prop_assert!(host == "api.paypal.com" || host.ends_with(".paypal.com"), "{}", host);
        }
    }

    #[test]
    fn paypal_a_delivery_outside_the_window_never_verifies(offset in outside_window()) {
        prop_assert!(!PAYPAL.verify(PAYPAL_FIXTURE, None, NOW + offset));
    }

    #[test]
    fn paypal_the_delivery_as_signed_verifies(offset in -300i64..=300) {
        prop_assert!(PAYPAL.verify(PAYPAL_FIXTURE, None, NOW + offset));
    }

    // -- Discord link token and OAuth cookie --

    #[test]
    fn a_mutated_link_token_never_verifies(token in link_token(), m in mutation()) {
        let signed = Signer::new(LINK_KEY).sign_link(&token);
        let Some(forged) = m.apply_text(&signed) else { return Ok(()) };
        // Surrounding whitespace is trimmed, so it is the same token.
        prop_assume!(forged.trim() != signed);
        prop_assert_eq!(
            Signer::new(LINK_KEY).verify_link(&forged, at(NOW)),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_link_token_under_another_key_or_as_a_cookie_never_verifies(
        token in link_token(),
        other in prop::collection::vec(any::<u8>(), 32..64),
    ) {
        prop_assume!(other != LINK_KEY);
        let forged = Signer::new(&other).sign_link(&token);
        prop_assert!(Signer::new(LINK_KEY).verify_link(&forged, at(NOW)).is_err());
        let genuine = Signer::new(LINK_KEY).sign_link(&token);
        prop_assert!(Signer::new(LINK_KEY).open_cookie(&genuine).is_err());
    }

    #[test]
    fn an_expired_link_token_never_verifies(token in link_token(), late in 0i64..10_000_000) {
        let signed = Signer::new(LINK_KEY).sign_link(&token);
        prop_assert_eq!(
            Signer::new(LINK_KEY).verify_link(&signed, at(token.exp + late)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_link_token_as_signed_verifies(token in link_token()) {
        let signed = Signer::new(LINK_KEY).sign_link(&token);
        prop_assert_eq!(Signer::new(LINK_KEY).verify_link(&signed, at(NOW)), Ok(token));
    }

    #[test]
    fn a_mutated_or_foreign_oauth_cookie_never_opens(
        cookie in oauth_cookie(),
        m in mutation(),
        other in prop::collection::vec(any::<u8>(), 32..64),
    ) {
        let sealed = Signer::new(LINK_KEY).seal_cookie(&cookie);
        prop_assert_eq!(Signer::new(LINK_KEY).open_cookie(&sealed), Ok(cookie.clone()));
        if let Some(forged) = m.apply_text(&sealed)
            && forged.trim() != sealed
        {
            prop_assert!(Signer::new(LINK_KEY).open_cookie(&forged).is_err());
        }
        if other != LINK_KEY {
            let foreign = Signer::new(&other).seal_cookie(&cookie);
            prop_assert!(Signer::new(LINK_KEY).open_cookie(&foreign).is_err());
        }
        // A cookie never passes as a link token.
        prop_assert!(Signer::new(LINK_KEY).verify_link(&sealed, at(NOW)).is_err());
    }

    #[test]
    fn random_text_never_opens_as_a_link_token_or_cookie(
        payload in prop::collection::vec(any::<u8>(), 0..200),
        tag in prop::collection::vec(any::<u8>(), 0..48),
    ) {
        let text = format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(&tag));
        prop_assert!(Signer::new(LINK_KEY).verify_link(&text, at(NOW)).is_err());
        prop_assert!(Signer::new(LINK_KEY).open_cookie(&text).is_err());
    }
}

/// `t` and the `v1` signatures a Stripe header carries, as the verifier reads them.
fn stripe_parts(header: &str) -> (Option<String>, Vec<Vec<u8>>) {
    let mut t = None;
    let mut v1 = Vec::new();
    for pair in header.split(',') {
        match pair.trim().split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    (
        t.and_then(|t| t.parse::<i64>().ok().map(|t| t.to_string())),
        v1,
    )
}

/// The signature bytes of a `v1,<base64>` Svix signature.
fn svix_mac(value: &str) -> Option<Vec<u8>> {
    value
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .find(|(version, _)| *version == "v1")
        .and_then(|(_, signature)| STANDARD.decode(signature).ok())
}
