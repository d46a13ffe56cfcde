//! Arbitrary `Stripe-Signature` values over arbitrary bodies, through the verifier's public
//! functions: no panic, and nothing random verifies.

#![no_main]

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use huckleberry::webhooks::WebhookSecret;
use huckleberry::webhooks::stripe::StripeVerifier;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_780_000_000;

fuzz_target!(|input: (&str, &[u8])| {
    let (header, body) = input;
    let verifier = StripeVerifier::new(
        vec![WebhookSecret::new("whsec_fuzz_one"), WebhookSecret::new("whsec_fuzz_two")],
        Duration::from_secs(300),
    )
    .expect("valid secrets");
    assert!(verifier.verify_header(header, body, NOW).is_err());
    if let Ok(value) = HeaderValue::from_bytes(header.as_bytes()) {
        let mut headers = HeaderMap::new();
        headers.insert("stripe-signature", value);
        assert!(verifier.verify(&headers, body, NOW).is_err());
    }
});
