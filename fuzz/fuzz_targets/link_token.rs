//! Arbitrary text as a Discord link token and as the OAuth cookie: the decoders never panic,
//! and nothing random opens.

#![no_main]

use chrono::DateTime;
use huckleberry::discord::tokens::Signer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let signer = Signer::new(b"fuzz-link-token-key-0123456789abcdef");
    let now = DateTime::from_timestamp(1_780_000_000, 0).expect("a valid time");
    assert!(signer.verify_link(text, now).is_err());
    assert!(signer.open_cookie(text).is_err());
});
