//! Webhook verification and mapping for Stripe, PayPal and Svix (Clerk, Resend): sans-IO.
//!
//! Every verifier follows docs/design.md §5 and docs/integrations.md §11: raw bytes in, verify
//! over exactly those bytes, and only then parse. Nothing here does I/O or reads the clock; the
//! route passes the headers, the body and "now", which keeps every rejection case testable.
//!
//! How a route answers (docs/design.md §5, docs/integrations.md §1.3, §11):
//! - [`VerifyError`]: the request is not proven to come from the provider → 400, nothing sent
//!   (except [`VerifyError::CertificateUnavailable`], see [`VerifyError::is_transient`] → 503).
//! - verified, but the body is not JSON of the envelope's shape → 400 (the provider retries,
//!   which is harmless).
//! - an `Ignored` outcome ([`IgnoreReason`]) → 200, log the provider event id and the reason.
//! - [`MapError`]: authentic, but we cannot turn it into a purchase → 422 (see [`MapError`] for
//!   why not 200).
//! - a purchase → send to Inngest with the outcome's event id; 200 once Inngest accepted it,
//!   5xx if it did not, so the provider retries and nothing is lost.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use http::HeaderMap;
use huckleberry_functions::events::MentorshipKind;

pub mod config;
pub mod paypal;
pub mod routes;
pub mod simulate;
pub mod stripe;
pub mod svix;

/// Largest webhook body a route accepts (docs/integrations.md §11.2: cap before parsing). Real
/// Stripe, PayPal, Clerk and Resend payloads are a few KB; 256 KiB leaves ample room.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Default replay window for Stripe and Svix timestamps: ±300 s, as in every official SDK
/// (docs/integrations.md §1.1, §6).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// A webhook signing secret as configured (`whsec_…` for Stripe and Svix).
///
/// `Debug` is redacted and there is no `Display`, so a secret cannot reach a log by accident
/// (docs/design.md §8 rule 8).
#[derive(Clone)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Wraps a secret read from configuration.
    #[must_use]
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself; only verifiers call this.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// A configured secret that cannot be used: a start-up (configuration) error, not a request one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSecret {
    /// No secret was configured; the verifier would reject everything.
    #[error("no webhook signing secret configured")]
    NoSecrets,
    /// A secret is empty (an HMAC with an empty key proves nothing).
    #[error("a webhook signing secret is empty")]
    Empty,
    /// A Svix secret is not base64 after its `whsec_` prefix.
    #[error("a webhook signing secret is not valid base64 after its whsec_ prefix")]
    NotBase64,
}

/// Why a webhook request was rejected as unauthenticated.
///
/// Messages are generic on purpose: they may reach a response body, and never contain a secret,
/// a signature or a header value (docs/integrations.md §11.3, §11.10). Header names are public.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The body is larger than [`MAX_BODY_BYTES`]; refused before any hashing.
    #[error("webhook body is too large")]
    BodyTooLarge,
    /// A required signature header is absent.
    #[error("missing webhook header {0}")]
    MissingHeader(&'static str),
    /// A signature header appears more than once; we refuse to guess which one counts.
    #[error("duplicate webhook header {0}")]
    DuplicateHeader(&'static str),
    /// A signature header cannot be parsed (bad syntax, timestamp, encoding, duplicate `t`).
    #[error("malformed webhook header {0}")]
    MalformedHeader(&'static str),
    /// The signed timestamp is older than the tolerance allows (a replay, or a slow retry).
    #[error("webhook timestamp is too old")]
    StaleTimestamp,
    /// The signed timestamp is further in the future than the tolerance allows.
    #[error("webhook timestamp is too far in the future")]
    FutureTimestamp,
    /// No signature in the request matches the body under any configured secret or key.
    #[error("webhook signature does not match")]
    BadSignature,
    /// The request only carries signatures in schemes or algorithms we do not accept
    /// (Stripe `v0` only; PayPal algorithm not allow-listed).
    #[error("webhook signature scheme is not supported")]
    UnsupportedAlgorithm,
    /// The PayPal certificate URL is not an allow-listed PayPal HTTPS URL (SSRF guard).
    #[error("webhook certificate URL is not allowed")]
    CertificateUrlNotAllowed,
    /// The PayPal certificate could not be parsed or does not hold an RSA public key.
    #[error("webhook certificate is invalid")]
    CertificateInvalid,
    /// The PayPal certificate is outside its validity period at the time of the request.
    #[error("webhook certificate is expired or not yet valid")]
    CertificateExpired,
    /// The PayPal certificate could not be fetched. Transient: see [`VerifyError::is_transient`].
    #[error("webhook certificate could not be fetched")]
    CertificateUnavailable,
}

impl VerifyError {
    /// Whether the failure is on our side and a provider retry may succeed.
    ///
    /// Only a failed certificate fetch qualifies: the route answers 503 so PayPal retries
    /// (nothing is lost), instead of 400 which would wrongly blame the sender.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::CertificateUnavailable)
    }
}

/// Why an authentic event could not be mapped to a `purchase/mentorship` event.
///
/// Route policy: answer **422** (not 200) and log the provider event id and this error at error
/// level. A paid purchase we cannot map must not be lost: a 200 would make the provider forget
/// the delivery, so the buyer would have paid and never be onboarded, with only a log line to
/// show for it. A non-2xx keeps the delivery failing and visible in the provider dashboard
/// (Stripe emails the account; PayPal retries for 3 days), so staff notice, fix the catalog or
/// onboard by hand, and resend the event. Errors that are the provider's normal behaviour
/// (other event types, unpaid sessions, the other mode) are not `MapError`s but `Ignored`
/// outcomes answered with 200.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The event's object is not the JSON shape we expect for its type.
    #[error("webhook object does not have the expected shape")]
    MalformedObject,
    /// A field that a paid purchase always carries is absent; names the field.
    #[error("webhook object lacks {0}")]
    MissingField(&'static str),
    /// The buyer's email is absent, so onboarding could not find or invite them.
    #[error("purchase has no buyer email")]
    MissingEmail,
    /// Neither the catalog nor the metadata says which mentorship was bought.
    #[error("purchase does not map to a known mentorship product")]
    UnknownProduct,
    /// The currency is not a known three-letter code.
    #[error("purchase currency is not supported")]
    UnsupportedCurrency,
    /// The amount is not a valid amount in its currency.
    #[error("purchase amount is invalid: {0}")]
    InvalidAmount(#[from] AmountError),
    /// A timestamp is not valid RFC 3339 / Unix time.
    #[error("webhook timestamp field is invalid")]
    InvalidTimestamp,
}

/// Why a decimal amount string is not a valid amount in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not of the form `digits` or `digits.digits` (signs, exponents, spaces are rejected).
    #[error("not a plain decimal number")]
    NotDecimal,
    /// More fraction digits than the currency has minor units (e.g. `1.5` JPY, `1.005` USD).
    #[error("more fraction digits than the currency allows")]
    TooPrecise,
    /// Does not fit in an `i64` of minor units.
    #[error("amount too large")]
    Overflow,
}

/// Why an event was verified and deliberately not turned into a purchase (answer 200, log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// An event type we do not act on (docs/integrations.md §11.7).
    UnhandledType(String),
    /// The payment is not (yet) complete: unpaid session, pending capture, setup mode.
    PaymentNotCompleted(String),
    /// The event is from the other mode (test vs live) than this deployment (§11.6).
    LivemodeMismatch {
        /// The mode this deployment is configured for.
        expected: bool,
        /// The mode the event says it is from.
        actual: bool,
    },
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnhandledType(kind) => write!(f, "unhandled event type {kind}"),
            Self::PaymentNotCompleted(status) => write!(f, "payment not completed ({status})"),
            Self::LivemodeMismatch { expected, actual } => {
                write!(f, "livemode mismatch (expected {expected}, got {actual})")
            }
        }
    }
}

/// Which mentorship each provider product reference sells: Stripe price, product or Payment
/// Link ids and PayPal `custom_id` product codes, as configured.
///
/// Webhook payloads carry no line items (docs/integrations.md §1.2), so the product must be
/// recognisable from a reference the payload does carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Product reference → mentorship kind.
    entries: HashMap<String, MentorshipKind>,
}

impl Catalog {
    /// An empty catalog (only explicit `mentorship` metadata then maps a purchase).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `reference` (e.g. `price_1Pq…`, `plink_…`, `one-on-one-2026`) selling `kind`.
    #[must_use]
    pub fn with(mut self, reference: impl Into<String>, kind: MentorshipKind) -> Self {
        self.entries.insert(reference.into(), kind);
        self
    }

    /// The mentorship `reference` sells, if configured.
    #[must_use]
    pub fn kind_of(&self, reference: &str) -> Option<MentorshipKind> {
        self.entries.get(reference).copied()
    }
}

impl FromIterator<(String, MentorshipKind)> for Catalog {
    fn from_iter<I: IntoIterator<Item = (String, MentorshipKind)>>(iter: I) -> Self {
        Self {
            entries: iter.into_iter().collect(),
        }
    }
}

/// The value of header `name`, which must appear at most once and be visible ASCII.
fn optional_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(VerifyError::DuplicateHeader(name));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| VerifyError::MalformedHeader(name))
}

/// The value of header `name`, which must appear exactly once.
fn required_header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, VerifyError> {
    optional_header(headers, name)?.ok_or(VerifyError::MissingHeader(name))
}

/// Refuses bodies over [`MAX_BODY_BYTES`]. The route's body limit should stop them first; this
/// keeps a verifier safe even when called from a route that forgot.
fn check_body_size(body: &[u8]) -> Result<(), VerifyError> {
    if body.len() > MAX_BODY_BYTES {
        Err(VerifyError::BodyTooLarge)
    } else {
        Ok(())
    }
}

/// Checks a signed Unix timestamp against `now_unix` with a symmetric tolerance: too old is a
/// replay, too new is a forged or badly skewed clock (docs/integrations.md §11.4).
fn check_timestamp(
    signed_unix: i64,
    now_unix: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let tolerance = i128::from(tolerance.as_secs());
    // i128: a hostile timestamp near i64::MIN/MAX must not overflow the subtraction.
    let age = i128::from(now_unix) - i128::from(signed_unix);
    if age > tolerance {
        Err(VerifyError::StaleTimestamp)
    } else if -age > tolerance {
        Err(VerifyError::FutureTimestamp)
    } else {
        Ok(())
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn webhook_secret_debug_never_shows_the_secret() {
        let secret = WebhookSecret::new("whsec_super_secret_value");

        let printed = format!("{secret:?}");

        assert!(!printed.contains("super_secret"));
        assert_eq!(printed, "WebhookSecret(<redacted>)");
    }

    #[test]
    fn verify_errors_never_echo_values() {
        let messages = [
            VerifyError::MissingHeader("stripe-signature").to_string(),
            VerifyError::BadSignature.to_string(),
            VerifyError::MalformedHeader("svix-signature").to_string(),
        ];

        assert_eq!(messages[0], "missing webhook header stripe-signature");
        assert_eq!(messages[1], "webhook signature does not match");
        assert_eq!(messages[2], "malformed webhook header svix-signature");
    }

    #[test]
    fn timestamps_within_tolerance_are_accepted_both_ways() {
        let tolerance = Duration::from_secs(300);

        assert_eq!(check_timestamp(1_000, 1_300, tolerance), Ok(()));
        assert_eq!(check_timestamp(1_300, 1_000, tolerance), Ok(()));
        assert_eq!(
            check_timestamp(1_000, 1_301, tolerance),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check_timestamp(1_301, 1_000, tolerance),
            Err(VerifyError::FutureTimestamp)
        );
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let tolerance = Duration::from_secs(300);

        assert_eq!(
            check_timestamp(i64::MIN, i64::MAX, tolerance),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check_timestamp(i64::MAX, i64::MIN, tolerance),
            Err(VerifyError::FutureTimestamp)
        );
    }

    #[test]
    fn a_repeated_header_is_a_duplicate() {
        let mut headers = HeaderMap::new();
        headers.append("svix-id", HeaderValue::from_static("msg_1"));
        headers.append("svix-id", HeaderValue::from_static("msg_2"));

        assert_eq!(
            required_header(&headers, "svix-id"),
            Err(VerifyError::DuplicateHeader("svix-id"))
        );
        assert_eq!(
            required_header(&headers, "svix-timestamp"),
            Err(VerifyError::MissingHeader("svix-timestamp"))
        );
    }

    #[test]
    fn catalog_maps_configured_references_only() {
        let catalog = Catalog::new()
            .with("price_1on1", MentorshipKind::OneOnOne)
            .with("price_group", MentorshipKind::Group);

        assert_eq!(
            catalog.kind_of("price_1on1"),
            Some(MentorshipKind::OneOnOne)
        );
        assert_eq!(catalog.kind_of("price_other"), None);
    }
}
