//! PayPal verification and mapping, as specifications.
//!
//! Two sources of signatures:
//! - PayPal's own 2014 vector (PayPal-Python-SDK sample + PayPal-node-SDK certificate mock,
//!   docs/integrations.md §2.4), `SHA1withRSA`: the real message format and CRC, end to end.
//! - A test-only RSA key and self-signed certificate in `tests/fixtures/paypal-test-signer/`,
//!   signing `SHA256withRSA` messages here: every rejection case on today's algorithm.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use chrono::TimeZone;
use http::{HeaderName, HeaderValue};
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use serde_json::json;

use super::*;
use crate::webhooks::{AmountError, Catalog, IgnoreReason, MapError};
use huckleberry_functions::events::MentorshipKind;

// --- PayPal's 2014 vector --------------------------------------------------------------

const V2014_BODY: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/paypal-2014/body.json"
));
const V2014_CERT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/paypal-2014/cert.pem"
));
const V2014_SIGNATURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/paypal-2014/signature.b64"
));
const V2014_TRANSMISSION_ID: &str = "efcfecb0-50a3-11e4-acdb-8d0d8bca8f12";
const V2014_TIME: &str = "2014-10-10T17:36:16Z";
const V2014_WEBHOOK_ID: &str = "40Y916089Y8324740";
const V2014_CERT_URL: &str =
    "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-35c2ed1e-21e9a5d6";

// --- our test signer ---------------------------------------------------------------------

const TEST_KEY: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/paypal-test-signer/test-only-key.pem"
));
const TEST_CERT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/paypal-test-signer/cert.pem"
));
const CAPTURE_BODY: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/paypal-payment.capture.completed.json"
));
const WEBHOOK_ID: &str = "8PT597110X687430LKGECATA";
const CERT_URL: &str =
    "https://api-m.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-7a8abba8";
const TRANSMISSION_ID: &str = "69cd13f0-d67a-11e5-baa3-778b53f4ae55";
const TIME: &str = "2026-01-02T03:00:06Z";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 0, 10).unwrap()
}

/// Serves fixed PEMs by URL, or fails like a network error.
struct FixedCertificates(Vec<(&'static str, &'static [u8])>);

impl CertificateSource for FixedCertificates {
    fn certificate_pem(
        &self,
        url: &CertificateUrl,
    ) -> impl Future<Output = Result<Vec<u8>, CertificateFetchError>> + Send {
        let found = self
            .0
            .iter()
            .find(|(u, _)| *u == url.as_str())
            .map(|(_, pem)| pem.to_vec())
            .ok_or(CertificateFetchError);
        std::future::ready(found)
    }
}

/// Drives a future that completes without waiting (the fixed source never pends), so these
/// tests need no async runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("test certificate sources never pend"),
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

fn v2014_headers(signature: &str, algo: &str) -> HeaderMap {
    headers(&[
        ("PAYPAL-TRANSMISSION-ID", V2014_TRANSMISSION_ID),
        ("PAYPAL-TRANSMISSION-TIME", V2014_TIME),
        ("PAYPAL-TRANSMISSION-SIG", signature),
        ("PAYPAL-CERT-URL", V2014_CERT_URL),
        ("PAYPAL-AUTH-ALGO", algo),
    ])
}

fn v2014_verifier(allow_sha1: bool) -> PaypalVerifier {
    PaypalVerifier::new(PaypalVerifierConfig {
        allow_sha1_with_rsa: allow_sha1,
        ..PaypalVerifierConfig::new(V2014_WEBHOOK_ID)
    })
    .unwrap()
}

fn v2014_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2014, 10, 10, 17, 36, 20).unwrap()
}

fn v2014_source() -> FixedCertificates {
    FixedCertificates(vec![(V2014_CERT_URL, V2014_CERT)])
}

fn test_source() -> FixedCertificates {
    FixedCertificates(vec![(CERT_URL, TEST_CERT)])
}

fn verifier() -> PaypalVerifier {
    PaypalVerifier::new(PaypalVerifierConfig::new(WEBHOOK_ID)).unwrap()
}

/// Signs like PayPal does, with the test-only key.
fn sign(transmission_id: &str, time: &str, webhook_id: &str, body: &[u8]) -> String {
    let key = RsaPrivateKey::from_pkcs8_pem(std::str::from_utf8(TEST_KEY).unwrap()).unwrap();
    let message = signed_message(transmission_id, time, webhook_id, body);
    let signature = SigningKey::<sha2::Sha256>::new(key).sign(message.as_bytes());
    STANDARD.encode(signature.to_vec())
}

fn signed_headers(time: &str, body: &[u8]) -> HeaderMap {
    let signature = sign(TRANSMISSION_ID, time, WEBHOOK_ID, body);
    headers(&[
        ("paypal-transmission-id", TRANSMISSION_ID),
        ("paypal-transmission-time", time),
        ("paypal-transmission-sig", &signature),
        ("paypal-cert-url", CERT_URL),
        ("paypal-auth-algo", "SHA256withRSA"),
    ])
}

fn verify(headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
    block_on(verifier().verify(headers, body, now(), &test_source()))
}

#[test]
fn signed_message_uses_the_decimal_crc32_of_the_raw_body() {
    let message = signed_message(
        V2014_TRANSMISSION_ID,
        V2014_TIME,
        V2014_WEBHOOK_ID,
        V2014_BODY,
    );

    assert_eq!(
        message,
        "efcfecb0-50a3-11e4-acdb-8d0d8bca8f12|2014-10-10T17:36:16Z|40Y916089Y8324740|3124974795"
    );
}

#[test]
fn paypals_2014_vector_verifies_when_sha1_is_allowed() {
    let headers = v2014_headers(V2014_SIGNATURE, "SHA1withRSA");

    let result =
        block_on(v2014_verifier(true).verify(&headers, V2014_BODY, v2014_now(), &v2014_source()));

    assert_eq!(result, Ok(()));
}

#[test]
fn paypals_2014_vector_is_refused_when_sha1_is_not_allowed() {
    let headers = v2014_headers(V2014_SIGNATURE, "SHA1withRSA");

    let result =
        block_on(v2014_verifier(false).verify(&headers, V2014_BODY, v2014_now(), &v2014_source()));

    assert_eq!(result, Err(VerifyError::UnsupportedAlgorithm));
}

#[test]
fn paypals_2014_signature_does_not_verify_as_sha256() {
    // The algorithm header is covered by nothing; honouring it wrongly must not help.
    let headers = v2014_headers(V2014_SIGNATURE, "SHA256withRSA");

    let result =
        block_on(v2014_verifier(true).verify(&headers, V2014_BODY, v2014_now(), &v2014_source()));

    assert_eq!(result, Err(VerifyError::BadSignature));
}

#[test]
fn paypals_2014_vector_fails_for_another_webhook_id_or_body() {
    let headers = v2014_headers(V2014_SIGNATURE, "SHA1withRSA");
    let other_webhook = PaypalVerifier::new(PaypalVerifierConfig {
        allow_sha1_with_rsa: true,
        ..PaypalVerifierConfig::new("1JE4291016473214C")
    })
    .unwrap();
    let tampered = [V2014_BODY, b" "].concat();

    let for_other_webhook =
        block_on(other_webhook.verify(&headers, V2014_BODY, v2014_now(), &v2014_source()));
    let for_tampered_body =
        block_on(v2014_verifier(true).verify(&headers, &tampered, v2014_now(), &v2014_source()));

    assert_eq!(for_other_webhook, Err(VerifyError::BadSignature));
    assert_eq!(for_tampered_body, Err(VerifyError::BadSignature));
}

#[test]
fn paypals_2014_certificate_has_expired_today() {
    // Same delivery, replayed within the window but after the certificate's notAfter (2016):
    // checked through the synchronous core with an explicit transmission time.
    let verifier = v2014_verifier(true);
    let mut transmission = verifier
        .transmission(&v2014_headers(V2014_SIGNATURE, "SHA1withRSA"))
        .unwrap();
    let later = Utc.with_ymd_and_hms(2017, 1, 1, 0, 0, 0).unwrap();
    transmission.time = later;
    let certificate = PaypalCertificate::from_pem(V2014_CERT).unwrap();

    assert_eq!(
        verifier.verify_with_certificate(&transmission, V2014_BODY, later, &certificate),
        Err(VerifyError::CertificateExpired)
    );
}

#[test]
fn a_sha256_signature_from_the_certificates_key_verifies() {
    let headers = signed_headers(TIME, CAPTURE_BODY);

    assert_eq!(verify(&headers, CAPTURE_BODY), Ok(()));
}

#[test]
fn the_rsa_check_works_on_a_bare_public_key() {
    let key = RsaPrivateKey::from_pkcs8_pem(std::str::from_utf8(TEST_KEY).unwrap()).unwrap();
    let message = signed_message(TRANSMISSION_ID, TIME, WEBHOOK_ID, CAPTURE_BODY);
    let signature = SigningKey::<sha2::Sha256>::new(key.clone()).sign(message.as_bytes());
    let public = key.to_public_key();

    assert_eq!(
        verify_signature(
            &public,
            AuthAlgorithm::Sha256WithRsa,
            message.as_bytes(),
            &signature.to_vec()
        ),
        Ok(())
    );
    assert_eq!(
        verify_signature(
            &public,
            AuthAlgorithm::Sha256WithRsa,
            b"another message",
            &signature.to_vec()
        ),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        verify_signature(&public, AuthAlgorithm::Sha256WithRsa, b"x", b"short"),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn verification_is_send_so_an_axum_handler_can_await_it() {
    fn assert_send<T: Send>(_: &T) {}
    let headers = signed_headers(TIME, CAPTURE_BODY);
    let verifier = verifier();
    let source = test_source();

    let future = verifier.verify(&headers, CAPTURE_BODY, now(), &source);

    assert_send(&future);
}

#[test]
fn a_tampered_body_is_rejected() {
    let headers = signed_headers(TIME, CAPTURE_BODY);
    let tampered = String::from_utf8(CAPTURE_BODY.to_vec())
        .unwrap()
        .replace("250.00", "2.50");

    assert_eq!(
        verify(&headers, tampered.as_bytes()),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_signature_for_another_webhook_id_is_rejected() {
    // A delivery signed for someone else's webhook must not verify against ours, whatever the
    // request says: the webhook id is never read from the request.
    let signature = sign(TRANSMISSION_ID, TIME, "SOMEONE-ELSES-WEBHOOK", CAPTURE_BODY);
    let headers = headers(&[
        ("paypal-transmission-id", TRANSMISSION_ID),
        ("paypal-transmission-time", TIME),
        ("paypal-transmission-sig", &signature),
        ("paypal-cert-url", CERT_URL),
        ("paypal-auth-algo", "SHA256withRSA"),
    ]);

    assert_eq!(
        verify(&headers, CAPTURE_BODY),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_key_from_another_certificate_is_rejected() {
    // Signed with the test key, checked against PayPal's 2014 key (re-dated so that only the
    // signature can fail): a certificate only vouches for its own key.
    let v2014 = PaypalCertificate::from_pem(V2014_CERT).unwrap();
    let certificate = PaypalCertificate::from_public_key(
        v2014.public_key().clone(),
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
    );
    let transmission = verifier()
        .transmission(&signed_headers(TIME, CAPTURE_BODY))
        .unwrap();

    assert_eq!(
        verifier().verify_with_certificate(&transmission, CAPTURE_BODY, now(), &certificate),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn stale_and_future_transmission_times_are_rejected() {
    let stale = signed_headers("2026-01-02T02:55:09Z", CAPTURE_BODY);
    let future = signed_headers("2026-01-02T03:05:11Z", CAPTURE_BODY);

    assert_eq!(
        verify(&stale, CAPTURE_BODY),
        Err(VerifyError::StaleTimestamp)
    );
    assert_eq!(
        verify(&future, CAPTURE_BODY),
        Err(VerifyError::FutureTimestamp)
    );
}

#[test]
fn the_transmission_window_is_configurable() {
    let stale = signed_headers("2026-01-02T02:55:09Z", CAPTURE_BODY);
    let lenient = PaypalVerifier::new(PaypalVerifierConfig {
        transmission_tolerance: Duration::from_secs(3600),
        ..PaypalVerifierConfig::new(WEBHOOK_ID)
    })
    .unwrap();

    assert_eq!(
        block_on(lenient.verify(&stale, CAPTURE_BODY, now(), &test_source())),
        Ok(())
    );
}

#[test]
fn a_certificate_outside_its_validity_is_rejected() {
    // The test certificate is valid 2026-01-01 .. 2036-01-01.
    let before = Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 0).unwrap();
    let headers = signed_headers("2025-12-31T23:59:00Z", CAPTURE_BODY);

    assert_eq!(
        block_on(verifier().verify(&headers, CAPTURE_BODY, before, &test_source())),
        Err(VerifyError::CertificateExpired)
    );
}

#[test]
fn each_missing_header_is_reported() {
    for name in [
        TRANSMISSION_ID_HEADER,
        TRANSMISSION_TIME_HEADER,
        TRANSMISSION_SIG_HEADER,
        CERT_URL_HEADER,
        AUTH_ALGO_HEADER,
    ] {
        let mut headers = signed_headers(TIME, CAPTURE_BODY);
        headers.remove(name);

        assert_eq!(
            verify(&headers, CAPTURE_BODY),
            Err(VerifyError::MissingHeader(name))
        );
    }
}

#[test]
fn a_duplicated_header_is_rejected() {
    let mut headers = signed_headers(TIME, CAPTURE_BODY);
    headers.append(
        CERT_URL_HEADER,
        HeaderValue::from_static("https://api.paypal.com/v1/notifications/certs/OTHER"),
    );

    assert_eq!(
        verify(&headers, CAPTURE_BODY),
        Err(VerifyError::DuplicateHeader(CERT_URL_HEADER))
    );
}

#[test]
fn malformed_headers_are_rejected() {
    let cases = [
        (TRANSMISSION_TIME_HEADER, "yesterday"),
        (TRANSMISSION_SIG_HEADER, "not base64!"),
        (TRANSMISSION_ID_HEADER, "a|b"),
    ];
    for (name, value) in cases {
        let mut headers = signed_headers(TIME, CAPTURE_BODY);
        headers.insert(name, HeaderValue::from_static(value));

        assert_eq!(
            verify(&headers, CAPTURE_BODY),
            Err(VerifyError::MalformedHeader(name)),
            "{name}"
        );
    }
}

#[test]
fn algorithms_outside_the_allow_list_are_rejected() {
    for algo in ["SHA1withRSA", "sha256withrsa", "SHA512withRSA", "none"] {
        let mut headers = signed_headers(TIME, CAPTURE_BODY);
        headers.insert(AUTH_ALGO_HEADER, HeaderValue::from_static(algo));

        assert_eq!(
            verify(&headers, CAPTURE_BODY),
            Err(VerifyError::UnsupportedAlgorithm),
            "{algo}"
        );
    }
}

#[test]
fn a_certificate_url_outside_the_allow_list_is_never_fetched() {
    let mut headers = signed_headers(TIME, CAPTURE_BODY);
    headers.insert(
        CERT_URL_HEADER,
        HeaderValue::from_static("https://attacker.example/v1/notifications/certs/CERT-1"),
    );
    // This source would serve the attacker's URL; the verifier must not ask it.
    let source = FixedCertificates(vec![(
        "https://attacker.example/v1/notifications/certs/CERT-1",
        TEST_CERT,
    )]);

    assert_eq!(
        block_on(verifier().verify(&headers, CAPTURE_BODY, now(), &source)),
        Err(VerifyError::CertificateUrlNotAllowed)
    );
}

#[test]
fn a_failed_certificate_fetch_is_transient() {
    let headers = signed_headers(TIME, CAPTURE_BODY);
    let empty = FixedCertificates(vec![]);

    let error = block_on(verifier().verify(&headers, CAPTURE_BODY, now(), &empty)).unwrap_err();

    assert_eq!(error, VerifyError::CertificateUnavailable);
    assert!(error.is_transient());
    assert!(!VerifyError::BadSignature.is_transient());
}

#[test]
fn a_fetched_document_that_is_not_a_certificate_is_rejected() {
    let headers = signed_headers(TIME, CAPTURE_BODY);
    let source = FixedCertificates(vec![(CERT_URL, b"<html>maintenance</html>")]);

    assert_eq!(
        block_on(verifier().verify(&headers, CAPTURE_BODY, now(), &source)),
        Err(VerifyError::CertificateInvalid)
    );
}

#[test]
fn an_empty_webhook_id_is_a_configuration_error() {
    assert_eq!(
        PaypalVerifier::new(PaypalVerifierConfig::new(" ")).unwrap_err(),
        InvalidSecret::Empty
    );
}

// --- mapping -------------------------------------------------------------------------------

fn catalog() -> Catalog {
    Catalog::new()
        .with("one-on-one-2026", MentorshipKind::OneOnOne)
        .with("group-2026", MentorshipKind::Group)
}

fn event_with(patch: impl FnOnce(&mut serde_json::Value)) -> PaypalEvent {
    let mut value: serde_json::Value = serde_json::from_slice(CAPTURE_BODY).unwrap();
    patch(&mut value);
    serde_json::from_value(value).unwrap()
}

fn pending_of(outcome: PaypalOutcome) -> PendingPurchase {
    match outcome {
        PaypalOutcome::NeedsOrderLookup { pending, .. } => pending,
        other => panic!("expected an order lookup, got {other:?}"),
    }
}

#[test]
fn a_completed_capture_without_payer_needs_an_order_lookup() {
    let event: PaypalEvent = serde_json::from_slice(CAPTURE_BODY).unwrap();

    let outcome = purchase_from_event(&event, &catalog(), false).unwrap();

    let PaypalOutcome::NeedsOrderLookup {
        event_id,
        order_id,
        pending,
    } = outcome
    else {
        panic!("expected an order lookup, got {outcome:?}");
    };
    assert_eq!(
        event_id.as_str(),
        "paypal-WH-58D329510W468432D-8HN650336L201105X"
    );
    assert_eq!(order_id, "5O190127TN364715T");
    let data = pending.complete("payer@example.com".into(), Some("Ada Buyer".into()));
    assert_eq!(
        serde_json::to_value(&data).unwrap(),
        json!({
            "provider": "paypal",
            "purchase_id": "42311647XV020574X",
            "email": "payer@example.com",
            "name": "Ada Buyer",
            "clerk_user_id": "user_2NNEqL2nrIRdJ194ndJqAHwEfxC",
            "mentorship": "one_on_one",
            "product": "one-on-one-2026",
            "amount_minor": 25000,
            "currency": "usd",
            "livemode": false,
            "purchased_at": "2026-01-02T03:00:01Z"
        })
    );
}

#[test]
fn a_capture_that_carries_the_payer_is_a_purchase_at_once() {
    let event = event_with(|v| {
        v["resource"]["payer"] = json!({
            "email_address": "payer@example.com",
            "name": {"given_name": "Ada", "surname": "Buyer"}
        });
    });

    let outcome = purchase_from_event(&event, &catalog(), true).unwrap();

    let PaypalOutcome::Purchase { data, .. } = outcome else {
        panic!("expected a purchase, got {outcome:?}");
    };
    assert_eq!(data.email, "payer@example.com");
    assert_eq!(data.name.as_deref(), Some("Ada Buyer"));
    assert!(data.livemode);
}

#[test]
fn jpy_amounts_are_whole_yen() {
    let event = event_with(|v| {
        v["resource"]["amount"] = json!({"currency_code": "JPY", "value": "30000"});
    });

    let pending = pending_of(purchase_from_event(&event, &catalog(), false).unwrap());

    assert_eq!(pending.amount_minor, 30_000);
    assert_eq!(pending.currency.as_str(), "jpy");
}

#[test]
fn usd_amounts_are_cents() {
    let event = event_with(|v| {
        v["resource"]["amount"] = json!({"currency_code": "USD", "value": "2.51"});
    });

    let pending = pending_of(purchase_from_event(&event, &catalog(), false).unwrap());

    assert_eq!(pending.amount_minor, 251);
}

#[test]
fn bad_amounts_are_map_errors() {
    let cases = [
        (
            json!({"currency_code": "JPY", "value": "30000.5"}),
            MapError::InvalidAmount(AmountError::TooPrecise),
        ),
        (
            json!({"currency_code": "USD", "value": "1.005"}),
            MapError::InvalidAmount(AmountError::TooPrecise),
        ),
        (
            json!({"currency_code": "USD", "value": "-5.00"}),
            MapError::InvalidAmount(AmountError::NotDecimal),
        ),
        (
            json!({"currency_code": "USD", "value": "1e3"}),
            MapError::InvalidAmount(AmountError::NotDecimal),
        ),
        (
            json!({"currency_code": "KWD", "value": "1.000"}),
            MapError::UnsupportedCurrency,
        ),
        (
            json!({"currency_code": "US", "value": "1.00"}),
            MapError::UnsupportedCurrency,
        ),
    ];
    for (amount, expected) in cases {
        let event = event_with(|v| v["resource"]["amount"] = amount.clone());

        assert_eq!(
            purchase_from_event(&event, &catalog(), false),
            Err(expected),
            "{amount}"
        );
    }
}

#[test]
fn an_amount_as_a_json_number_is_malformed() {
    // PayPal always sends strings; a number would invite float rounding.
    let event = event_with(|v| {
        v["resource"]["amount"] = json!({"currency_code": "USD", "value": 250.0});
    });

    assert_eq!(
        purchase_from_event(&event, &catalog(), false),
        Err(MapError::MalformedObject)
    );
}

#[test]
fn a_pending_capture_is_ignored() {
    let event = event_with(|v| v["resource"]["status"] = json!("PENDING"));

    assert_eq!(
        purchase_from_event(&event, &catalog(), false),
        Ok(PaypalOutcome::Ignored {
            reason: IgnoreReason::PaymentNotCompleted("capture status PENDING".into())
        })
    );
}

#[test]
fn other_event_types_are_ignored() {
    let event = event_with(|v| v["event_type"] = json!("CHECKOUT.ORDER.APPROVED"));

    assert_eq!(
        purchase_from_event(&event, &catalog(), false),
        Ok(PaypalOutcome::Ignored {
            reason: IgnoreReason::UnhandledType("CHECKOUT.ORDER.APPROVED".into())
        })
    );
}

#[test]
fn custom_id_may_name_the_kind_and_omit_the_user() {
    let event = event_with(|v| v["resource"]["custom_id"] = json!("group"));

    let pending = pending_of(purchase_from_event(&event, &Catalog::new(), false).unwrap());

    assert_eq!(pending.mentorship, MentorshipKind::Group);
    assert_eq!(pending.product, "group");
    assert_eq!(pending.clerk_user_id, None);
}

#[test]
fn an_unknown_or_missing_product_is_a_map_error() {
    let unknown = event_with(|v| v["resource"]["custom_id"] = json!("tshirt:user_1"));
    let missing = event_with(|v| {
        v["resource"].as_object_mut().unwrap().remove("custom_id");
    });

    assert_eq!(
        purchase_from_event(&unknown, &catalog(), false),
        Err(MapError::UnknownProduct)
    );
    assert_eq!(
        purchase_from_event(&missing, &catalog(), false),
        Err(MapError::UnknownProduct)
    );
}

#[test]
fn a_capture_without_payer_or_order_id_is_a_map_error() {
    let event = event_with(|v| {
        v["resource"]
            .as_object_mut()
            .unwrap()
            .remove("supplementary_data");
    });

    assert_eq!(
        purchase_from_event(&event, &catalog(), false),
        Err(MapError::MissingField(
            "resource.supplementary_data.related_ids.order_id"
        ))
    );
}
