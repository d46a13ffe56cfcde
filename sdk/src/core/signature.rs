//! Signing keys, `X-Inngest-Signature` verification and API bearer tokens (docs/protocol.md §3).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Largest accepted distance, in seconds, between a signature's timestamp and the current time.
///
/// docs/protocol.md §3.1: TS rejects |now − t| > 5 min in both directions; we do the same so a
/// captured request cannot be replayed later and a clock-skewed forgery window stays small.
pub const MAX_SIGNATURE_AGE_SECS: u64 = 300;

/// Longest `X-Inngest-Signature` value we are willing to look at.
///
/// A genuine header is about 80 bytes (`t=` + 10 digits + `&s=` + 64 hex); the cap keeps the
/// work done on a hostile header bounded even though unknown keys are ignored.
const MAX_HEADER_LEN: usize = 1024;

/// Length of a SHA-256 MAC in bytes.
const MAC_LEN: usize = 32;

/// An Inngest signing key (`INNGEST_SIGNING_KEY` or its fallback).
///
/// The key is a secret: `Debug` shows only the `signkey-<env>-` prefix.
#[derive(Clone)]
pub struct SigningKey {
    /// The trimmed key exactly as configured, prefix included, because the bearer token
    /// keeps the prefix (docs/protocol.md §3.3).
    key: String,
    /// Byte length of the `signkey-<env>-` prefix (0 when absent), computed once so the
    /// per-request MAC does not re-scan the key.
    prefix_len: usize,
}

/// Why a signing key was rejected or could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is empty, whitespace-only, or consists of a prefix with no secret after it.
    #[error("signing key is empty")]
    Empty,
    /// The part after the prefix is not even-length hex, so no bearer token can be derived.
    #[error("signing key is not hex-encoded after its prefix")]
    NotHex,
}

impl SigningKey {
    /// Wraps a configured signing key, trimming surrounding whitespace.
    ///
    /// # Errors
    ///
    /// [`KeyError::Empty`] when nothing but whitespace or a bare prefix remains.
    pub fn new(key: impl Into<String>) -> Result<Self, KeyError> {
        let mut key = key.into();
        let trimmed = key.trim();
        if trimmed.len() != key.len() {
            key = trimmed.to_owned();
        }
        let prefix_len = prefix_len(&key);
        if key.len() == prefix_len {
            return Err(KeyError::Empty);
        }
        Ok(Self { key, prefix_len })
    }

    /// The `signkey-<env>-` prefix matched by `^signkey-\w+-`, or `""` when the key has none.
    pub fn prefix(&self) -> &str {
        &self.key[..self.prefix_len]
    }

    /// Signs `body` at `unix_secs`, returning an `X-Inngest-Signature` header value
    /// `t=<secs>&s=<64 lowercase hex>`.
    ///
    /// docs/protocol.md §3.2: responses are signed over their exact bytes with the key that
    /// validated the request.
    pub fn sign(&self, body: &[u8], unix_secs: i64) -> String {
        let mac = self.mac(body, unix_secs).finalize().into_bytes();
        format!("t={unix_secs}&s={}", hex::encode(mac))
    }

    /// The `Authorization: Bearer` token for the Inngest API.
    ///
    /// docs/protocol.md §3.3: prefix + lowercase hex of SHA-256 over the hex-decoded secret.
    ///
    /// # Errors
    ///
    /// [`KeyError::NotHex`] when the secret is not even-length hex.
    pub fn bearer_token(&self) -> Result<String, KeyError> {
        let secret = hex::decode(self.hmac_key()).map_err(|_| KeyError::NotHex)?;
        let digest = Sha256::digest(secret);
        Ok(format!("{}{}", self.prefix(), hex::encode(digest)))
    }

    /// The key hash reported by introspection as `signing_key_hash` (docs/protocol.md §5).
    ///
    /// This is the bearer form, prefix included, as the Go SDK reports it.
    ///
    /// # Errors
    ///
    /// [`KeyError::NotHex`] when the secret is not even-length hex.
    pub fn hashed(&self) -> Result<String, KeyError> {
        self.bearer_token()
    }

    /// The HMAC key: everything after the prefix, as ASCII bytes.
    ///
    /// docs/protocol.md §3.1: the remaining characters are the key bytes as-is, *not* hex-decoded.
    fn hmac_key(&self) -> &[u8] {
        &self.key.as_bytes()[self.prefix_len..]
    }

    /// A MAC primed with `body ++ decimal(t)` (docs/protocol.md §3.1), ready to finalize or verify.
    fn mac(&self, body: &[u8], unix_secs: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.hmac_key())
            .expect("HMAC-SHA256 accepts keys of any length");
        mac.update(body);
        mac.update(unix_secs.to_string().as_bytes());
        mac
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}…redacted)", self.prefix())
    }
}

/// Byte length of a leading `^signkey-\w+-` match, or 0.
///
/// `\w` is ASCII `[A-Za-z0-9_]` in both RE2 and JS, and it cannot match `-`, so the greedy
/// regex matches exactly "the longest run of word characters, then a dash".
fn prefix_len(key: &str) -> usize {
    const HEAD: &str = "signkey-";
    let Some(rest) = key.strip_prefix(HEAD) else {
        return 0;
    };
    let word_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if word_len > 0 && rest.as_bytes().get(word_len) == Some(&b'-') {
        HEAD.len() + word_len + 1
    } else {
        0
    }
}

/// Hex SHA-256 of the raw event key, reported by introspection as `event_key_hash`
/// (docs/protocol.md §3.4 C, §5).
pub fn event_key_hash(event_key: &str) -> String {
    hex::encode(Sha256::digest(event_key.as_bytes()))
}

/// A parsed `X-Inngest-Signature` header.
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// The signing time `t`, in Unix seconds.
    pub timestamp: i64,
    /// The decoded MAC `s`; private so it can only come from a validated header.
    mac: [u8; MAC_LEN],
}

impl SignatureHeader {
    /// The decoded 32-byte MAC carried in `s`.
    pub fn mac(&self) -> &[u8; MAC_LEN] {
        &self.mac
    }
}

impl fmt::Debug for SignatureHeader {
    // The MAC is not secret, but it is attacker-chosen and useless in logs; keep it out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureHeader")
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// Why a request signature was not accepted.
///
/// Messages never contain key material or the received signature, so they are safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The request carries no `X-Inngest-Signature` header.
    #[error("missing X-Inngest-Signature header")]
    Missing,
    /// The header is not `t=<secs>&s=<64 hex>`; the reason is a fixed description.
    #[error("malformed X-Inngest-Signature header: {0}")]
    Malformed(&'static str),
    /// The timestamp is more than [`MAX_SIGNATURE_AGE_SECS`] away from now.
    #[error("X-Inngest-Signature timestamp is outside the accepted window")]
    Expired,
    /// No configured key produces the received MAC.
    #[error("X-Inngest-Signature does not match any signing key")]
    Mismatch,
    /// No signing key is configured, so nothing can be verified.
    #[error("no signing key configured")]
    NoKey,
}

/// Parses an `X-Inngest-Signature` value of the form `t=<secs>&s=<64 hex>`.
///
/// docs/protocol.md §3.1: the value is query-string style and the order is not guaranteed; unknown
/// keys are ignored. Parsing never allocates.
///
/// # Errors
///
/// [`SignatureError::Malformed`] for an over-long header, a missing or duplicated `t` or `s`,
/// a `t` that is not a non-negative decimal, or an `s` that is not 64 hex characters.
pub fn parse(value: &str) -> Result<SignatureHeader, SignatureError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed("header too long"));
    }
    let mut timestamp = None;
    let mut mac = None;
    for pair in value.split('&') {
        let (key, val) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "t" => set_once(&mut timestamp, parse_timestamp(val)?, "duplicate t")?,
            "s" => set_once(&mut mac, parse_mac(val)?, "duplicate s")?,
            _ => {}
        }
    }
    Ok(SignatureHeader {
        timestamp: timestamp.ok_or(SignatureError::Malformed("missing t"))?,
        mac: mac.ok_or(SignatureError::Malformed("missing s"))?,
    })
}

/// Verifies a request signature and returns the index in `keys` of the key that matched.
///
/// `keys` lists the primary key first, then the fallback (docs/protocol.md §3.1); the caller signs
/// its response with the matching key (§3.2). The MAC covers the raw `body` bytes followed by
/// the decimal timestamp and is compared in constant time.
///
/// Checks run in this order: a key is configured, the header is present and well-formed, the
/// timestamp is fresh, and finally the MAC, so stale or garbage requests cost no HMAC work.
///
/// # Errors
///
/// [`SignatureError::NoKey`], [`SignatureError::Missing`], [`SignatureError::Malformed`],
/// [`SignatureError::Expired`] or [`SignatureError::Mismatch`], in that order of checking.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    now_unix: i64,
    keys: &[&SigningKey],
) -> Result<usize, SignatureError> {
    if keys.is_empty() {
        return Err(SignatureError::NoKey);
    }
    let header = parse(header.ok_or(SignatureError::Missing)?)?;
    // docs/protocol.md §3.1: reject stale signatures and ones from the future alike.
    if now_unix.abs_diff(header.timestamp) > MAX_SIGNATURE_AGE_SECS {
        return Err(SignatureError::Expired);
    }
    keys.iter()
        .position(|key| {
            key.mac(body, header.timestamp)
                .verify_slice(&header.mac)
                .is_ok()
        })
        .ok_or(SignatureError::Mismatch)
}

/// Stores `value` in an empty slot, rejecting a second occurrence of the same header key.
fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    duplicate: &'static str,
) -> Result<(), SignatureError> {
    if slot.replace(value).is_some() {
        return Err(SignatureError::Malformed(duplicate));
    }
    Ok(())
}

/// Parses `t`: ASCII digits only (no sign, no whitespace) that fit an `i64`.
fn parse_timestamp(value: &str) -> Result<i64, SignatureError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::Malformed("t is not a decimal number"));
    }
    value
        .parse()
        .map_err(|_| SignatureError::Malformed("t is out of range"))
}

/// Parses `s`: exactly 64 hex characters (either case).
fn parse_mac(value: &str) -> Result<[u8; MAC_LEN], SignatureError> {
    let mut mac = [0; MAC_LEN];
    hex::decode_to_slice(value, &mut mac)
        .map_err(|_| SignatureError::Malformed("s is not 64 hex characters"))?;
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f";
    const BODY_A: &str = r#"{"ctx":{"fn_id":"local-testing-local-cron","run_id":"01GQ3HTEZ01M7R8Z9PR1DMHDN1","step_id":"step"},"event":{"data":{},"id":"","name":"demo/event.sent","ts":1674082830001,"v":"1"},"events":[{"data":{},"id":"","name":"demo/event.sent","ts":1674082830001,"v":"1"}],"steps":{},"use_api":false}"#;
    const T_A: i64 = 1_687_306_735;
    const HEADER_A: &str =
        "t=1687306735&s=a060f245a5d0c3c779ef65fd15b2ac06e4ab98dd8cc9860aa0722c8481ae02ab";

    const KEY_B: &str = "7468697320697320612074657374206b6579";
    const BODY_B: &str = r#"{"url":"http://127.0.0.1:9999/api/inngest"}"#;
    const HEADER_B: &str =
        "t=1700000000&s=9bfad49ebf405409c81d4d56786bb782f619fb0f103d0c4bb76ad1911ac10a81";

    fn key(s: &str) -> SigningKey {
        SigningKey::new(s).expect("test key is valid")
    }

    #[test]
    fn vector_a_verifies_within_the_window() {
        let k = key(KEY_A);
        let matched = verify(Some(HEADER_A), BODY_A.as_bytes(), T_A + 10, &[&k]);
        assert_eq!(matched, Ok(0));
    }

    #[test]
    fn vector_a_is_expired_at_the_real_current_time() {
        let k = key(KEY_A);
        let now = chrono::Utc::now().timestamp();
        let result = verify(Some(HEADER_A), BODY_A.as_bytes(), now, &[&k]);
        assert_eq!(result, Err(SignatureError::Expired));
    }

    #[test]
    fn vector_a_is_reproduced_by_signing() {
        assert_eq!(key(KEY_A).sign(BODY_A.as_bytes(), T_A), HEADER_A);
    }

    #[test]
    fn vector_b_unprefixed_key_verifies_and_signs() {
        let k = key(KEY_B);
        assert_eq!(k.sign(BODY_B.as_bytes(), 1_700_000_000), HEADER_B);
        let matched = verify(Some(HEADER_B), BODY_B.as_bytes(), 1_700_000_000, &[&k]);
        assert_eq!(matched, Ok(0));
    }

    #[test]
    fn bearer_token_matches_the_spec_vector() {
        assert_eq!(
            key("signkey-prod-12345678").bearer_token(),
            Ok(
                "signkey-prod-b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c"
                    .into()
            )
        );
    }

    #[test]
    fn bearer_token_matches_vector_a_key() {
        assert_eq!(
            key(KEY_A).bearer_token(),
            Ok(
                "signkey-test-1492131fd84363f17ec5fa7d96ca1b2d6558cb77c648920b96c99966f6ecffd9"
                    .into()
            )
        );
    }

    #[test]
    fn bearer_token_of_unprefixed_key_has_no_prefix() {
        let expected = "ed30c63423735b44011c49a38c01a8062833420cfb299072e0263c986242556a";
        assert_eq!(key(KEY_B).bearer_token(), Ok(expected.into()));
        assert_eq!(key(KEY_B).hashed(), Ok(expected.into()));
    }

    #[test]
    fn bearer_token_of_non_hex_key_is_an_error() {
        assert_eq!(
            key("signkey-prod-xyz").bearer_token(),
            Err(KeyError::NotHex)
        );
        assert_eq!(
            key("signkey-prod-123").bearer_token(),
            Err(KeyError::NotHex)
        );
    }

    #[test]
    fn event_key_hash_is_sha256_of_the_raw_string() {
        assert_eq!(
            event_key_hash("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    #[test]
    fn fallback_key_is_accepted_and_its_index_returned() {
        let primary = key("signkey-prod-00000000");
        let fallback = key(KEY_A);
        let matched = verify(
            Some(HEADER_A),
            BODY_A.as_bytes(),
            T_A,
            &[&primary, &fallback],
        );
        assert_eq!(matched, Ok(1));
    }

    #[test]
    fn tampered_body_is_rejected() {
        let k = key(KEY_A);
        let body = BODY_A.replace("local-cron", "local-crom");
        let result = verify(Some(HEADER_A), body.as_bytes(), T_A, &[&k]);
        assert_eq!(result, Err(SignatureError::Mismatch));
    }

    #[test]
    fn timestamp_301_seconds_away_is_rejected_in_both_directions() {
        let k = key(KEY_A);
        let body = BODY_A.as_bytes();
        assert_eq!(
            verify(Some(HEADER_A), body, T_A + 301, &[&k]),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(Some(HEADER_A), body, T_A - 301, &[&k]),
            Err(SignatureError::Expired)
        );
        assert_eq!(verify(Some(HEADER_A), body, T_A + 300, &[&k]), Ok(0));
        assert_eq!(verify(Some(HEADER_A), body, T_A - 300, &[&k]), Ok(0));
    }

    #[test]
    fn extreme_timestamps_do_not_overflow_the_freshness_check() {
        let k = key(KEY_A);
        let header = format!("t={}&s={}", i64::MAX, "0".repeat(64));
        let result = verify(Some(&header), b"", i64::MIN, &[&k]);
        assert_eq!(result, Err(SignatureError::Expired));
    }

    #[test]
    fn header_fields_may_come_in_any_order_with_unknown_keys() {
        let header =
            "x=1&s=a060f245a5d0c3c779ef65fd15b2ac06e4ab98dd8cc9860aa0722c8481ae02ab&t=1687306735";
        let k = key(KEY_A);
        assert_eq!(verify(Some(header), BODY_A.as_bytes(), T_A, &[&k]), Ok(0));
    }

    #[test]
    fn duplicated_t_is_malformed() {
        let header = format!("{HEADER_A}&t=1687306735");
        assert_eq!(
            parse(&header),
            Err(SignatureError::Malformed("duplicate t"))
        );
    }

    #[test]
    fn garbage_headers_are_malformed() {
        let long = "a".repeat(MAX_HEADER_LEN + 1);
        for header in [
            "",
            "garbage",
            "t=&s=",
            "t=1687306735",
            "s=a060f245a5d0c3c779ef65fd15b2ac06e4ab98dd8cc9860aa0722c8481ae02ab",
            "t=-1&s=a060f245a5d0c3c779ef65fd15b2ac06e4ab98dd8cc9860aa0722c8481ae02ab",
            "t=+1&s=a060f245a5d0c3c779ef65fd15b2ac06e4ab98dd8cc9860aa0722c8481ae02ab",
            "t=1e9&s=a060f245a5d0c3c779ef65fd15b2ac06e4ab98dd8cc9860aa0722c8481ae02ab",
            "t=99999999999999999999&s=a060f245a5d0c3c779ef65fd15b2ac06e4ab98dd8cc9860aa0722c8481ae02ab",
            "t=1687306735&s=a060f245",
            "t=1687306735&s=zz60f245a5d0c3c779ef65fd15b2ac06e4ab98dd8cc9860aa0722c8481ae02ab",
            long.as_str(),
        ] {
            assert!(
                matches!(parse(header), Err(SignatureError::Malformed(_))),
                "{header:?} should be malformed"
            );
        }
    }

    #[test]
    fn missing_header_and_missing_keys_are_distinct_errors() {
        let k = key(KEY_A);
        assert_eq!(verify(None, b"", T_A, &[&k]), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some(HEADER_A), b"", T_A, &[]),
            Err(SignatureError::NoKey)
        );
    }

    #[test]
    fn env_prefix_does_not_change_the_mac() {
        let macs: Vec<String> = ["signkey-prod-12345678", "signkey-test-12345678", "12345678"]
            .into_iter()
            .map(|k| key(k).sign(b"{}", 1))
            .collect();
        assert_eq!(macs[0], macs[1]);
        assert_eq!(macs[1], macs[2]);
    }

    #[test]
    fn prefix_requires_a_word_and_a_dash() {
        assert_eq!(key("signkey-branch-abcd").prefix(), "signkey-branch-");
        assert_eq!(key("signkey-my_env2-abcd").prefix(), "signkey-my_env2-");
        assert_eq!(key("signkey--abcd").prefix(), "");
        assert_eq!(key("signkey-abcd").prefix(), "");
        assert_eq!(key("abcd").prefix(), "");
    }

    #[test]
    fn empty_whitespace_and_bare_prefix_keys_are_rejected() {
        for k in ["", "   \n", "signkey-prod-", "  signkey-test-  "] {
            assert_eq!(SigningKey::new(k).err(), Some(KeyError::Empty), "{k:?}");
        }
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        let k = key("  signkey-prod-12345678\n");
        assert_eq!(k.sign(b"x", 5), key("12345678").sign(b"x", 5));
        assert_eq!(k.prefix(), "signkey-prod-");
    }

    #[test]
    fn debug_shows_the_prefix_but_never_the_secret() {
        let rendered = format!("{:?}", key(KEY_A));
        assert_eq!(rendered, "SigningKey(signkey-test-…redacted)");
        assert!(!rendered.contains("f00f"));
        assert_eq!(format!("{:?}", key("12345678")), "SigningKey(…redacted)");
    }

    #[test]
    fn error_messages_never_contain_the_received_signature() {
        let header = format!("{HEADER_A}&s=a060f245");
        let err = parse(&header).expect_err("duplicate s is malformed");
        assert!(!err.to_string().contains("a060f245"));
        let k = key("signkey-prod-00000000");
        let err = verify(Some(HEADER_A), BODY_A.as_bytes(), T_A, &[&k])
            .expect_err("wrong key must not match");
        assert!(!err.to_string().contains("a060f245"));
        assert!(!format!("{err:?}").contains("a060f245"));
    }

    #[test]
    fn signed_response_roundtrips_through_verify() {
        let k = key(KEY_A);
        let body = br#"{"ok":true}"#;
        let header = k.sign(body, 1_800_000_000);
        assert_eq!(verify(Some(&header), body, 1_800_000_001, &[&k]), Ok(0));
    }
}
