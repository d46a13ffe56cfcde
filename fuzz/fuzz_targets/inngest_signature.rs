//! Arbitrary `X-Inngest-Signature` values over arbitrary bodies: parsing and verification
//! never panic, and nothing random verifies.

#![no_main]

use inngest_sdk::SigningKey;
use inngest_sdk::__private::signature::{parse, verify};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_780_000_000;

fuzz_target!(|input: (&str, &[u8])| {
    let (header, body) = input;
    let _ = parse(header);
    let key = SigningKey::new("signkey-prod-00112233445566778899aabbccddeeff").expect("a key");
    let fallback = SigningKey::new("signkey-prod-ffeeddccbbaa99887766554433221100").expect("key");
    assert!(verify(Some(header), body, NOW, &[&key, &fallback]).is_err());
});
