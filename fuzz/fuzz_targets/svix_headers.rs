//! Arbitrary `svix-id`, `svix-timestamp` and `svix-signature` values (and their `webhook-*`
//! twins) over arbitrary bodies: no panic, and nothing random verifies.

#![no_main]

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use huckleberry::webhooks::WebhookSecret;
use huckleberry::webhooks::svix::SvixVerifier;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_780_000_000;

fuzz_target!(|input: (bool, &[u8], &[u8], &[u8], &[u8])| {
    let (unbranded, id, timestamp, signature, body) = input;
    let verifier = SvixVerifier::new(
        vec![WebhookSecret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")],
        Duration::from_secs(300),
    )
    .expect("a valid secret");
    let prefix = if unbranded { "webhook" } else { "svix" };
    let mut headers = HeaderMap::new();
    for (name, value) in [("id", id), ("timestamp", timestamp), ("signature", signature)] {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            let name = http::HeaderName::from_bytes(format!("{prefix}-{name}").as_bytes())
                .expect("a valid name");
            headers.insert(name, value);
        }
    }
    assert!(verifier.verify(&headers, body, NOW).is_err());
});
