//! Svix-signed webhooks, shared by Clerk and Resend (docs/integrations.md §4.4, §5.2, §6).
//!
//! Each route builds its own [`SvixVerifier`] with its own secrets; the algorithm is one.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{
    InvalidSecret, VerifyError, WebhookSecret, check_body_size, check_timestamp, optional_header,
};

/// Header names, Svix first and the Standard Webhooks (white-label) fallback second (§6.1).
const ID_HEADERS: [&str; 2] = ["svix-id", "webhook-id"];
const TIMESTAMP_HEADERS: [&str; 2] = ["svix-timestamp", "webhook-timestamp"];
const SIGNATURE_HEADERS: [&str; 2] = ["svix-signature", "webhook-signature"];

/// Longest message id we accept; Svix ids are ~30 characters, and the id becomes part of an
/// Inngest event id, so an unbounded value is refused.
const MAX_ID_LEN: usize = 128;

type HmacSha256 = Hmac<Sha256>;

/// Verifies Svix signatures against one or more endpoint secrets.
#[derive(Clone)]
pub struct SvixVerifier {
    /// Decoded HMAC keys; several while a secret is rotated.
    keys: Vec<SvixKey>,
    /// Replay window around `svix-timestamp`, both directions (§6.3).
    tolerance: Duration,
}

impl std::fmt::Debug for SvixVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SvixVerifier")
            .field("keys", &format_args!("<{} redacted>", self.keys.len()))
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

/// A verified delivery's identity, read from the signed headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvixDelivery {
    /// `msg_…`: the same on every retry of one message, hence the dedupe key
    /// (`clerk-<id>` / `resend-<id>`).
    pub id: String,
    /// The signed Unix timestamp.
    pub timestamp: i64,
}

impl SvixVerifier {
    /// A verifier accepting a signature under any of `secrets` (`whsec_<base64>`, the prefix
    /// optional) within `tolerance` of now (use [`super::DEFAULT_TOLERANCE`]).
    ///
    /// # Errors
    /// [`InvalidSecret`] when no secret is given, or one is empty or not base64.
    pub fn new(secrets: Vec<WebhookSecret>, tolerance: Duration) -> Result<Self, InvalidSecret> {
        if secrets.is_empty() {
            return Err(InvalidSecret::NoSecrets);
        }
        let keys = secrets
            .iter()
            .map(SvixKey::decode)
            .collect::<Result<_, _>>()?;
        Ok(Self { keys, tolerance })
    }

    /// Verifies a request from its headers and raw body, and returns the delivery's id.
    ///
    /// # Errors
    /// [`VerifyError`] when a header is missing, duplicated or malformed, no `v1` signature
    /// matches under any secret, or the timestamp is outside the tolerance.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<SvixDelivery, VerifyError> {
        check_body_size(body)?;
        let id = header_with_fallback(headers, ID_HEADERS)?;
        let timestamp_text = header_with_fallback(headers, TIMESTAMP_HEADERS)?;
        let signatures = header_with_fallback(headers, SIGNATURE_HEADERS)?;

        if id.is_empty()
            || id.len() > MAX_ID_LEN
            || !id.bytes().all(|b| b.is_ascii_graphic() && b != b'.')
        {
            // A `.` in the id would make "{id}.{timestamp}.{body}" ambiguous.
            return Err(VerifyError::MalformedHeader(ID_HEADERS[0]));
        }
        let timestamp: i64 = timestamp_text
            .parse()
            .map_err(|_| VerifyError::MalformedHeader(TIMESTAMP_HEADERS[0]))?;

        let candidates = v1_signatures(signatures);
        if candidates.is_empty() {
            return Err(VerifyError::UnsupportedAlgorithm);
        }
        let mut matched = subtle::Choice::from(0);
        for key in &self.keys {
            let expected = key.sign(id, timestamp, body);
            for candidate in &candidates {
                matched |= expected.as_slice().ct_eq(candidate.as_slice());
            }
        }
        if !bool::from(matched) {
            return Err(VerifyError::BadSignature);
        }
        check_timestamp(timestamp, now_unix, self.tolerance)?;
        Ok(SvixDelivery {
            id: id.to_owned(),
            timestamp,
        })
    }
}

/// A valid `svix-signature` value (`v1,<base64>`) for a message, for tests and local tools.
///
/// # Errors
/// [`InvalidSecret`] when the secret is empty or not base64.
pub fn sign_for_test(
    secret: &WebhookSecret,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, InvalidSecret> {
    let key = SvixKey::decode(secret)?;
    Ok(format!(
        "v1,{}",
        STANDARD.encode(key.sign(id, timestamp, body))
    ))
}

/// The envelope Clerk and Resend wrap around their objects (§4.4, §5.2): only `type` and
/// `data`, which the route forwards as `clerk/<type>` / `resend/<type>` with `data` untouched.
#[derive(Debug, Clone, Deserialize)]
pub struct SvixEvent {
    /// `user.created`, `email.bounced`, …
    #[serde(rename = "type")]
    pub event_type: String,
    /// The provider object, forwarded as-is.
    #[serde(default)]
    pub data: serde_json::Value,
}

impl SvixEvent {
    /// The Inngest event name `<prefix>/<type>` (e.g. `clerk/user.created`), or `None` when
    /// the type has characters that do not belong in an event name.
    #[must_use]
    pub fn inngest_name(&self, prefix: &str) -> Option<String> {
        event_name(prefix, &self.event_type)
    }
}

/// The Inngest event name `<prefix>/<event_type>`, or `None` when the type is empty, longer
/// than 64 bytes, or has characters that do not belong in an event name.
#[must_use]
pub fn event_name(prefix: &str, event_type: &str) -> Option<String> {
    let ok = !event_type.is_empty()
        && event_type.len() <= 64
        && event_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then(|| format!("{prefix}/{event_type}"))
}

/// A decoded Svix HMAC key.
#[derive(Clone)]
struct SvixKey(Vec<u8>);

impl SvixKey {
    /// Strips `whsec_` and base64-decodes the rest (§6.2); an empty key is a config error.
    fn decode(secret: &WebhookSecret) -> Result<Self, InvalidSecret> {
        let text = secret.expose();
        let text = text.strip_prefix("whsec_").unwrap_or(text);
        if text.is_empty() {
            return Err(InvalidSecret::Empty);
        }
        let key = STANDARD
            .decode(text)
            .map_err(|_| InvalidSecret::NotBase64)?;
        if key.is_empty() {
            return Err(InvalidSecret::Empty);
        }
        Ok(Self(key))
    }

    /// HMAC-SHA256 over `"{id}.{timestamp}.{body}"` (§6.4, §6.5).
    fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        let mut mac =
            HmacSha256::new_from_slice(&self.0).expect("HMAC-SHA256 accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

/// The first of `names` present, each checked for duplicates. The `webhook-*` fallback applies
/// per header, as in the svix crate.
fn header_with_fallback<'h>(
    headers: &'h HeaderMap,
    names: [&'static str; 2],
) -> Result<&'h str, VerifyError> {
    for name in names {
        if let Some(value) = optional_header(headers, name)? {
            return Ok(value);
        }
    }
    Err(VerifyError::MissingHeader(names[0]))
}

/// The decoded signatures of every `v1,<base64>` entry of a space-separated list (§6.6).
/// Other versions and undecodable entries are skipped: they can never match.
fn v1_signatures(header: &str) -> Vec<Vec<u8>> {
    header
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, signature)| STANDARD.decode(signature).ok())
        .collect()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use super::*;
    use crate::webhooks::DEFAULT_TOLERANCE;
    use http::HeaderValue;

    // docs/integrations.md §6: the svix crate's own test vector.
    const VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const VECTOR_TIMESTAMP: i64 = 1_649_367_553;
    const VECTOR_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const VECTOR_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
    const VECTOR_WRONG_SIGNATURE: &str = "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=";

    const CLERK_FIXTURE: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/clerk-user.created.json"
    ));
    const RESEND_FIXTURE: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/resend-email.bounced.json"
    ));
    const NOW: i64 = 1_767_322_860;

    fn verifier(secrets: &[&str]) -> SvixVerifier {
        SvixVerifier::new(
            secrets.iter().map(|s| WebhookSecret::new(*s)).collect(),
            DEFAULT_TOLERANCE,
        )
        .unwrap()
    }

    fn headers(prefix: &str, id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let mut put = |name: &str, value: &str| {
            headers.insert(
                http::HeaderName::from_bytes(format!("{prefix}-{name}").as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        };
        put("id", id);
        put("timestamp", &timestamp.to_string());
        put("signature", signature);
        headers
    }

    fn signed(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
        let signature = sign_for_test(&WebhookSecret::new(secret), id, timestamp, body).unwrap();
        headers("svix", id, timestamp, &signature)
    }

    #[test]
    fn the_published_vector_verifies() {
        let headers = headers("svix", VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_SIGNATURE);

        let delivery = verifier(&[VECTOR_SECRET])
            .verify(&headers, VECTOR_BODY, VECTOR_TIMESTAMP + 10)
            .unwrap();

        assert_eq!(
            delivery,
            SvixDelivery {
                id: VECTOR_ID.into(),
                timestamp: VECTOR_TIMESTAMP
            }
        );
    }

    #[test]
    fn sign_for_test_reproduces_the_published_vector() {
        let signature = sign_for_test(
            &WebhookSecret::new(VECTOR_SECRET),
            VECTOR_ID,
            VECTOR_TIMESTAMP,
            VECTOR_BODY,
        )
        .unwrap();

        assert_eq!(signature, VECTOR_SIGNATURE);
    }

    #[test]
    fn the_published_wrong_signature_is_rejected() {
        let headers = headers("svix", VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_WRONG_SIGNATURE);

        assert_eq!(
            verifier(&[VECTOR_SECRET]).verify(&headers, VECTOR_BODY, VECTOR_TIMESTAMP),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn the_standard_webhooks_header_names_are_accepted() {
        let headers = headers("webhook", VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_SIGNATURE);

        assert!(
            verifier(&[VECTOR_SECRET])
                .verify(&headers, VECTOR_BODY, VECTOR_TIMESTAMP)
                .is_ok()
        );
    }

    #[test]
    fn a_signed_clerk_user_created_fixture_is_accepted_and_forwarded_by_type() {
        let headers = signed(VECTOR_SECRET, "msg_clerk_1", NOW, CLERK_FIXTURE);

        let delivery = verifier(&[VECTOR_SECRET])
            .verify(&headers, CLERK_FIXTURE, NOW)
            .unwrap();
        let event: SvixEvent = serde_json::from_slice(CLERK_FIXTURE).unwrap();

        assert_eq!(delivery.id, "msg_clerk_1");
        assert_eq!(
            event.inngest_name("clerk").as_deref(),
            Some("clerk/user.created")
        );
        assert_eq!(event.data["id"], "user_2NNEqL2nrIRdJ194ndJqAHwEfxC");
    }

    #[test]
    fn a_signed_resend_email_bounced_fixture_is_accepted_and_forwarded_by_type() {
        let headers = signed(VECTOR_SECRET, "msg_resend_1", NOW, RESEND_FIXTURE);

        assert!(
            verifier(&[VECTOR_SECRET])
                .verify(&headers, RESEND_FIXTURE, NOW)
                .is_ok()
        );
        let event: SvixEvent = serde_json::from_slice(RESEND_FIXTURE).unwrap();
        assert_eq!(
            event.inngest_name("resend").as_deref(),
            Some("resend/email.bounced")
        );
        assert_eq!(event.data["bounce"]["type"], "Permanent");
    }

    #[test]
    fn an_event_type_unfit_for_an_event_name_is_not_forwarded() {
        let event = SvixEvent {
            event_type: "user/../created".into(),
            data: serde_json::Value::Null,
        };

        assert_eq!(event.inngest_name("clerk"), None);
    }

    #[test]
    fn a_tampered_body_is_rejected() {
        let headers = signed(VECTOR_SECRET, "msg_1", NOW, CLERK_FIXTURE);
        let tampered = [CLERK_FIXTURE, b" "].concat();

        assert_eq!(
            verifier(&[VECTOR_SECRET]).verify(&headers, &tampered, NOW),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_id_or_timestamp_is_rejected() {
        let good = sign_for_test(
            &WebhookSecret::new(VECTOR_SECRET),
            "msg_1",
            NOW,
            CLERK_FIXTURE,
        )
        .unwrap();

        for headers in [
            headers("svix", "msg_2", NOW, &good),
            headers("svix", "msg_1", NOW + 1, &good),
        ] {
            assert_eq!(
                verifier(&[VECTOR_SECRET]).verify(&headers, CLERK_FIXTURE, NOW),
                Err(VerifyError::BadSignature)
            );
        }
    }

    #[test]
    fn a_signature_under_another_secret_is_rejected() {
        let headers = signed(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_1",
            NOW,
            CLERK_FIXTURE,
        );

        assert_eq!(
            verifier(&[VECTOR_SECRET]).verify(&headers, CLERK_FIXTURE, NOW),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_rejected() {
        let stale = signed(VECTOR_SECRET, "msg_1", NOW - 301, CLERK_FIXTURE);
        let future = signed(VECTOR_SECRET, "msg_1", NOW + 301, CLERK_FIXTURE);

        let v = verifier(&[VECTOR_SECRET]);
        assert_eq!(
            v.verify(&stale, CLERK_FIXTURE, NOW),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            v.verify(&future, CLERK_FIXTURE, NOW),
            Err(VerifyError::FutureTimestamp)
        );
    }

    #[test]
    fn the_published_vector_is_stale_against_a_real_clock() {
        let headers = headers("svix", VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_SIGNATURE);

        assert_eq!(
            verifier(&[VECTOR_SECRET]).verify(&headers, VECTOR_BODY, NOW),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn each_missing_header_is_reported() {
        let full = signed(VECTOR_SECRET, "msg_1", NOW, CLERK_FIXTURE);
        for (name, reported) in [
            ("svix-id", "svix-id"),
            ("svix-timestamp", "svix-timestamp"),
            ("svix-signature", "svix-signature"),
        ] {
            let mut headers = full.clone();
            headers.remove(name);

            assert_eq!(
                verifier(&[VECTOR_SECRET]).verify(&headers, CLERK_FIXTURE, NOW),
                Err(VerifyError::MissingHeader(reported))
            );
        }
    }

    #[test]
    fn a_duplicated_header_is_rejected() {
        let mut headers = signed(VECTOR_SECRET, "msg_1", NOW, CLERK_FIXTURE);
        headers.append("svix-id", HeaderValue::from_static("msg_other"));

        assert_eq!(
            verifier(&[VECTOR_SECRET]).verify(&headers, CLERK_FIXTURE, NOW),
            Err(VerifyError::DuplicateHeader("svix-id"))
        );
    }

    #[test]
    fn malformed_timestamp_and_id_are_rejected() {
        let signature = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
        let mut bad_timestamp = headers("svix", "msg_1", NOW, signature);
        bad_timestamp.insert("svix-timestamp", HeaderValue::from_static("soon"));
        let dotted_id = headers("svix", "msg.1", NOW, signature);

        let v = verifier(&[VECTOR_SECRET]);
        assert_eq!(
            v.verify(&bad_timestamp, CLERK_FIXTURE, NOW),
            Err(VerifyError::MalformedHeader("svix-timestamp"))
        );
        assert_eq!(
            v.verify(&dotted_id, CLERK_FIXTURE, NOW),
            Err(VerifyError::MalformedHeader("svix-id"))
        );
    }

    #[test]
    fn a_signature_list_without_v1_is_unsupported() {
        let headers = headers("svix", VECTOR_ID, VECTOR_TIMESTAMP, "v2,abc v1a,xyz");

        assert_eq!(
            verifier(&[VECTOR_SECRET]).verify(&headers, VECTOR_BODY, VECTOR_TIMESTAMP),
            Err(VerifyError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn any_v1_in_the_list_may_match_during_rotation() {
        let list = format!("v1,bogus v2,xyz {VECTOR_WRONG_SIGNATURE} {VECTOR_SIGNATURE}");
        let headers = headers("svix", VECTOR_ID, VECTOR_TIMESTAMP, &list);

        assert!(
            verifier(&[VECTOR_SECRET])
                .verify(&headers, VECTOR_BODY, VECTOR_TIMESTAMP)
                .is_ok()
        );
    }

    #[test]
    fn the_second_configured_secret_is_accepted_during_our_rotation() {
        let headers = headers("svix", VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_SIGNATURE);
        let rotating = verifier(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", VECTOR_SECRET]);

        assert!(
            rotating
                .verify(&headers, VECTOR_BODY, VECTOR_TIMESTAMP)
                .is_ok()
        );
    }

    #[test]
    fn unusable_secrets_are_configuration_errors() {
        let build = |s: &str| SvixVerifier::new(vec![WebhookSecret::new(s)], DEFAULT_TOLERANCE);

        assert_eq!(build("whsec_").unwrap_err(), InvalidSecret::Empty);
        assert_eq!(
            build("whsec_not base64!").unwrap_err(),
            InvalidSecret::NotBase64
        );
        assert_eq!(
            SvixVerifier::new(vec![], DEFAULT_TOLERANCE).unwrap_err(),
            InvalidSecret::NoSecrets
        );
    }

    #[test]
    fn debug_output_redacts_keys() {
        let printed = format!("{:?}", verifier(&[VECTOR_SECRET]));

        assert!(!printed.contains("C2FVsBQ"));
        assert!(printed.contains("redacted"));
    }
}
