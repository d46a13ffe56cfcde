//! Stripe webhooks: `Stripe-Signature` verification (docs/integrations.md §1.1, §11) and the
//! mapping of Checkout Session events to `purchase/mentorship` (§1.2, docs/design.md §5).

use std::collections::HashMap;
use std::time::Duration;

use chrono::DateTime;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use huckleberry_functions::events::{
    Currency, EventId, MentorshipKind, Provider, PurchaseMentorship,
};
use huckleberry_functions::ids::{ClerkUserId, PurchaseId};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{
    Catalog, IgnoreReason, InvalidSecret, MapError, VerifyError, WebhookSecret, check_body_size,
    check_timestamp, required_header,
};

/// The signature header Stripe sends.
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// The event type Stripe sends when a Checkout Session finishes.
pub const CHECKOUT_SESSION_COMPLETED: &str = "checkout.session.completed";

/// The event type Stripe sends when a delayed payment (SEPA, bank debit) of a session succeeds.
pub const CHECKOUT_SESSION_ASYNC_PAYMENT_SUCCEEDED: &str =
    "checkout.session.async_payment_succeeded";

type HmacSha256 = Hmac<Sha256>;

/// Verifies `Stripe-Signature` headers against one or more endpoint secrets.
#[derive(Debug, Clone)]
pub struct StripeVerifier {
    /// Every secret currently accepted: more than one while we roll a secret (§1.1).
    secrets: Vec<WebhookSecret>,
    /// Replay window around `t`, both directions (§11.4).
    tolerance: Duration,
}

impl StripeVerifier {
    /// A verifier accepting a signature under any of `secrets` within `tolerance` of now
    /// (use [`super::DEFAULT_TOLERANCE`]).
    ///
    /// # Errors
    /// [`InvalidSecret`] when no secret is given or one is empty: a configuration error to
    /// report at start-up, not something to discover per request.
    pub fn new(secrets: Vec<WebhookSecret>, tolerance: Duration) -> Result<Self, InvalidSecret> {
        if secrets.is_empty() {
            return Err(InvalidSecret::NoSecrets);
        }
        if secrets.iter().any(|s| s.expose().is_empty()) {
            return Err(InvalidSecret::Empty);
        }
        Ok(Self { secrets, tolerance })
    }

    /// Verifies a request from its headers (exactly one `Stripe-Signature`) and raw body.
    ///
    /// # Errors
    /// [`VerifyError`] when the header is missing, duplicated or malformed, no `v1` signature
    /// matches, or `t` is outside the tolerance.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        let header = required_header(headers, SIGNATURE_HEADER)?;
        self.verify_header(header, body, now_unix)
    }

    /// Verifies the value of a `Stripe-Signature` header over the raw body.
    ///
    /// Order as in the official SDKs: parse, compare, then check the timestamp, so a
    /// "stale" error always means an authentic but old delivery.
    ///
    /// # Errors
    /// As [`StripeVerifier::verify`].
    pub fn verify_header(
        &self,
        header: &str,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        check_body_size(body)?;
        let parsed = SignatureHeader::parse(header)?;
        if parsed.v1.is_empty() {
            // Only `v0` or unknown schemes: accepting them would allow a downgrade (§1.1).
            return Err(VerifyError::UnsupportedAlgorithm);
        }
        let mut matched = subtle::Choice::from(0);
        for secret in &self.secrets {
            let expected = signature(secret, body, parsed.timestamp);
            for candidate in &parsed.v1 {
                // Every pair is compared, without an early exit, in constant time.
                matched |= expected.as_slice().ct_eq(candidate.as_slice());
            }
        }
        if !bool::from(matched) {
            return Err(VerifyError::BadSignature);
        }
        check_timestamp(parsed.timestamp, now_unix, self.tolerance)
    }
}

/// A valid `Stripe-Signature` value for `body` at Unix time `timestamp` under `secret`:
/// `t=<timestamp>,v1=<hex hmac>`.
///
/// For tests and the local "simulate a purchase" tool; Stripe's SDKs ship the same helper
/// (`generate_signature_header`).
#[must_use]
pub fn sign_for_test(secret: &WebhookSecret, body: &[u8], timestamp: i64) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(signature(secret, body, timestamp))
    )
}

/// A Stripe event envelope: only the fields we read (§1.2); unknown fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeEvent {
    /// `evt_…`: the dedupe key (`stripe-<id>` as the Inngest event id).
    pub id: String,
    /// The event type, e.g. `checkout.session.completed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When Stripe created the event (Unix seconds): our `purchased_at`.
    pub created: i64,
    /// Whether the event is from live mode. Required, not defaulted: guessing the mode of a
    /// payment would defeat the environment check (§11.6).
    pub livemode: bool,
    /// The object the event is about.
    pub data: StripeEventData,
}

/// The `data` member of a Stripe event.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeEventData {
    /// The object (a Checkout Session for the events we handle), kept as JSON until the type
    /// says how to read it.
    pub object: serde_json::Value,
}

/// A Checkout Session: only the fields of §1.2 we read; all optional, because Stripe sends
/// `null` for many of them depending on mode and status.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckoutSession {
    /// `cs_…`: stable across `completed` and `async_payment_succeeded`, hence our purchase id.
    pub id: String,
    /// `payment` | `subscription` | `setup`.
    #[serde(default)]
    pub mode: Option<String>,
    /// `open` | `complete` | `expired`.
    #[serde(default)]
    pub status: Option<String>,
    /// `paid` | `unpaid` | `no_payment_required`.
    #[serde(default)]
    pub payment_status: Option<String>,
    /// What the buyer typed at checkout.
    #[serde(default)]
    pub customer_details: Option<CustomerDetails>,
    /// The prefill we passed when creating the session; a fallback only.
    #[serde(default)]
    pub customer_email: Option<String>,
    /// Our reference set at session creation: the Clerk user id when the buyer was signed in.
    #[serde(default)]
    pub client_reference_id: Option<String>,
    /// Our metadata: `product` (a catalog reference) and/or `mentorship` (`one_on_one`|`group`).
    #[serde(default)]
    pub metadata: Option<HashMap<String, String>>,
    /// Total in minor units.
    #[serde(default)]
    pub amount_total: Option<i64>,
    /// Lowercase ISO code.
    #[serde(default)]
    pub currency: Option<String>,
    /// The Payment Link the session came from (`plink_…`), a catalog reference when we sell
    /// through one link per product.
    #[serde(default)]
    pub payment_link: Option<String>,
}

/// `customer_details` of a Checkout Session.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CustomerDetails {
    /// The email the buyer typed.
    #[serde(default)]
    pub email: Option<String>,
    /// The name the buyer typed.
    #[serde(default)]
    pub name: Option<String>,
}

/// What a verified Stripe event means for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeOutcome {
    /// Send `purchase/mentorship` with this id and data.
    Purchase {
        /// `stripe-<evt id>`.
        event_id: EventId,
        /// The event payload.
        data: PurchaseMentorship,
    },
    /// Answer 200 and log the reason; nothing is sent.
    Ignored {
        /// Why.
        reason: IgnoreReason,
    },
}

/// Maps a verified Stripe event to what the route should do (docs/design.md §5).
///
/// Purchases: `checkout.session.completed` with `payment_status` `paid` or
/// `no_payment_required` (100 % coupons), and `checkout.session.async_payment_succeeded`.
/// Both use the session id as `purchase_id`, so onboarding-flow's idempotency key makes the
/// second one a no-op. Everything else, and events from the other mode, is ignored.
///
/// The mentorship kind comes from the catalog (session `metadata.product`, then
/// `payment_link`), else from `metadata.mentorship`. `product` is the first of those
/// references present, else the kind's wire name.
///
/// # Errors
/// [`MapError`] for a paid session we cannot turn into a purchase (no email, unknown product,
/// no amount): the route answers 422, see [`MapError`] for why.
pub fn purchase_from_event(
    event: &StripeEvent,
    catalog: &Catalog,
    expected_livemode: bool,
) -> Result<StripeOutcome, MapError> {
    if event.livemode != expected_livemode {
        return Ok(ignored(IgnoreReason::LivemodeMismatch {
            expected: expected_livemode,
            actual: event.livemode,
        }));
    }
    let event_type = event.event_type.as_str();
    if event_type != CHECKOUT_SESSION_COMPLETED
        && event_type != CHECKOUT_SESSION_ASYNC_PAYMENT_SUCCEEDED
    {
        return Ok(ignored(IgnoreReason::UnhandledType(
            event.event_type.clone(),
        )));
    }
    let session: CheckoutSession =
        serde_json::from_value(event.data.object.clone()).map_err(|_| MapError::MalformedObject)?;

    let payment_status = session.payment_status.as_deref().unwrap_or("none");
    let paid = match event_type {
        CHECKOUT_SESSION_COMPLETED => matches!(payment_status, "paid" | "no_payment_required"),
        _ => payment_status == "paid",
    };
    if session.mode.as_deref() == Some("setup") {
        // Setup mode saves a payment method and takes no money.
        return Ok(ignored(IgnoreReason::PaymentNotCompleted(
            "mode setup".into(),
        )));
    }
    if !paid {
        return Ok(ignored(IgnoreReason::PaymentNotCompleted(format!(
            "payment_status {payment_status}"
        ))));
    }

    let details = session.customer_details.clone().unwrap_or_default();
    let email = details
        .email
        .or_else(|| session.customer_email.clone())
        .filter(|e| !e.trim().is_empty())
        .ok_or(MapError::MissingEmail)?;
    let (mentorship, product) = product_of(&session, catalog)?;
    let amount_minor = session
        .amount_total
        .ok_or(MapError::MissingField("amount_total"))?;
    let currency = session
        .currency
        .as_deref()
        .ok_or(MapError::MissingField("currency"))
        .and_then(|c| Currency::parse(c).map_err(|_| MapError::UnsupportedCurrency))?;
    let purchased_at =
        DateTime::from_timestamp(event.created, 0).ok_or(MapError::InvalidTimestamp)?;

    Ok(StripeOutcome::Purchase {
        event_id: EventId::stripe(&event.id),
        data: PurchaseMentorship {
            provider: Provider::Stripe,
            purchase_id: PurchaseId::new(session.id),
            email,
            name: details.name.filter(|n| !n.trim().is_empty()),
            clerk_user_id: session
                .client_reference_id
                .filter(|c| !c.is_empty())
                .map(ClerkUserId::new),
            mentorship,
            product,
            amount_minor,
            currency,
            livemode: event.livemode,
            purchased_at,
        },
    })
}

fn ignored(reason: IgnoreReason) -> StripeOutcome {
    StripeOutcome::Ignored { reason }
}

/// Which mentorship the session sold, and the product reference to record.
fn product_of(
    session: &CheckoutSession,
    catalog: &Catalog,
) -> Result<(MentorshipKind, String), MapError> {
    let metadata = session.metadata.as_ref();
    let references = [
        metadata.and_then(|m| m.get("product")).map(String::as_str),
        session.payment_link.as_deref(),
    ];
    for reference in references.into_iter().flatten() {
        if let Some(kind) = catalog.kind_of(reference) {
            return Ok((kind, reference.to_owned()));
        }
    }
    let kind = metadata
        .and_then(|m| m.get("mentorship"))
        .and_then(|k| MentorshipKind::from_wire(k))
        .ok_or(MapError::UnknownProduct)?;
    let product = references
        .into_iter()
        .flatten()
        .next()
        .unwrap_or(kind.as_str())
        .to_owned();
    Ok((kind, product))
}

/// HMAC-SHA256 over `"{t}.{body}"`, keyed with the whole `whsec_…` string as UTF-8 bytes:
/// Stripe, unlike Svix, does not base64-decode its secrets (§1.1).
fn signature(secret: &WebhookSecret, body: &[u8], timestamp: i64) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// A parsed `Stripe-Signature`: `t` and every `v1`.
#[derive(Debug)]
struct SignatureHeader {
    /// The signed Unix timestamp.
    timestamp: i64,
    /// Every decodable `v1` signature; several while Stripe rolls a secret.
    v1: Vec<Vec<u8>>,
}

impl SignatureHeader {
    /// Parses `t=…,v1=…,v1=…,v0=…`. A pair without `=`, a missing, duplicated or non-integer
    /// `t` is malformed. Schemes other than `v1` are skipped, as are `v1` values that are not
    /// hex (stripe-go does the same): they could never match.
    fn parse(header: &str) -> Result<Self, VerifyError> {
        let malformed = VerifyError::MalformedHeader(SIGNATURE_HEADER);
        let mut timestamp = None;
        let mut v1 = Vec::new();
        for pair in header.split(',') {
            let (key, value) = pair.trim().split_once('=').ok_or(malformed.clone())?;
            match key {
                "t" => {
                    let t: i64 = value.parse().map_err(|_| malformed.clone())?;
                    if timestamp.replace(t).is_some() {
                        // Two `t`s: which one was signed is ambiguous, so refuse (§11.3).
                        return Err(malformed);
                    }
                }
                "v1" => {
                    if let Ok(bytes) = hex::decode(value) {
                        v1.push(bytes);
                    }
                }
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(malformed)?;
        Ok(Self { timestamp, v1 })
    }
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
    use serde_json::json;

    const SECRET: &str = "whsec_test_secret_for_huckleberry";
    const NOW: i64 = 1_767_322_800;
    const FIXTURE: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stripe-checkout.session.completed.json"
    ));

    fn secret(s: &str) -> WebhookSecret {
        WebhookSecret::new(s)
    }

    fn verifier() -> StripeVerifier {
        StripeVerifier::new(vec![secret(SECRET)], DEFAULT_TOLERANCE).unwrap()
    }

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn catalog() -> Catalog {
        Catalog::new()
            .with("price_1QxOneOnOne2026", MentorshipKind::OneOnOne)
            .with("plink_group", MentorshipKind::Group)
    }

    fn event_with(patch: impl FnOnce(&mut serde_json::Value)) -> StripeEvent {
        let mut value: serde_json::Value = serde_json::from_slice(FIXTURE).unwrap();
        patch(&mut value);
        serde_json::from_value(value).unwrap()
    }

    // --- verification -------------------------------------------------------------------

    #[test]
    fn a_correctly_signed_fixture_is_accepted() {
        let header = sign_for_test(&secret(SECRET), FIXTURE, NOW);

        assert_eq!(verifier().verify(&headers(&header), FIXTURE, NOW), Ok(()));
    }

    #[test]
    fn signature_matches_stripes_published_algorithm() {
        // HMAC-SHA256(key = "whsec_…" bytes, "1495999758.{}"), checked with Python's hmac.
        let header = sign_for_test(&secret("whsec_abc"), b"{}", 1_495_999_758);

        assert_eq!(
            header,
            "t=1495999758,v1=ed5a5ebf2708c1430b7f4ec5001406107ed1a8dd33d80ab632250369f10e8315"
        );
    }

    #[test]
    fn a_tampered_body_is_rejected() {
        let header = sign_for_test(&secret(SECRET), FIXTURE, NOW);
        let mut tampered = FIXTURE.to_vec();
        tampered.extend_from_slice(b" ");

        assert_eq!(
            verifier().verify(&headers(&header), &tampered, NOW),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn a_signature_under_another_secret_is_rejected() {
        let header = sign_for_test(&secret("whsec_someone_else"), FIXTURE, NOW);

        assert_eq!(
            verifier().verify(&headers(&header), FIXTURE, NOW),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn a_stale_timestamp_is_rejected() {
        let header = sign_for_test(&secret(SECRET), FIXTURE, NOW - 301);

        assert_eq!(
            verifier().verify(&headers(&header), FIXTURE, NOW),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn a_future_timestamp_is_rejected() {
        let header = sign_for_test(&secret(SECRET), FIXTURE, NOW + 301);

        assert_eq!(
            verifier().verify(&headers(&header), FIXTURE, NOW),
            Err(VerifyError::FutureTimestamp)
        );
    }

    #[test]
    fn timestamps_at_the_edge_of_tolerance_are_accepted() {
        for t in [NOW - 300, NOW + 300] {
            let header = sign_for_test(&secret(SECRET), FIXTURE, t);

            assert_eq!(verifier().verify(&headers(&header), FIXTURE, NOW), Ok(()));
        }
    }

    #[test]
    fn a_missing_header_is_rejected() {
        assert_eq!(
            verifier().verify(&HeaderMap::new(), FIXTURE, NOW),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn a_duplicated_header_is_rejected() {
        let header = sign_for_test(&secret(SECRET), FIXTURE, NOW);
        let mut map = headers(&header);
        map.append(SIGNATURE_HEADER, HeaderValue::from_str(&header).unwrap());

        assert_eq!(
            verifier().verify(&map, FIXTURE, NOW),
            Err(VerifyError::DuplicateHeader(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn a_duplicated_timestamp_is_rejected() {
        let header = sign_for_test(&secret(SECRET), FIXTURE, NOW);
        let twice = format!("t={NOW},{header}");

        assert_eq!(
            verifier().verify(&headers(&twice), FIXTURE, NOW),
            Err(VerifyError::MalformedHeader(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn malformed_headers_are_rejected() {
        for value in ["", "garbage", "v1=abcd", "t=soon,v1=abcd", "t=1,v1"] {
            assert_eq!(
                verifier().verify(&headers(value), FIXTURE, NOW),
                Err(VerifyError::MalformedHeader(SIGNATURE_HEADER)),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_header_with_only_a_v0_signature_is_rejected() {
        // v0 is Stripe's legacy scheme; accepting it would allow a downgrade.
        let v1 = sign_for_test(&secret(SECRET), FIXTURE, NOW);
        let v0_only = v1.replace("v1=", "v0=");

        assert_eq!(
            verifier().verify(&headers(&v0_only), FIXTURE, NOW),
            Err(VerifyError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn v0_and_unknown_schemes_beside_a_valid_v1_are_ignored() {
        let v1 = sign_for_test(&secret(SECRET), FIXTURE, NOW);
        let header = format!("{v1},v0=deadbeef,v9=zz,x=1");

        assert_eq!(verifier().verify(&headers(&header), FIXTURE, NOW), Ok(()));
    }

    #[test]
    fn any_v1_may_match_while_stripe_rolls_its_secret() {
        let good = sign_for_test(&secret(SECRET), FIXTURE, NOW);
        let good_v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t={NOW},v1={},v1={good_v1}", "ab".repeat(32));

        assert_eq!(verifier().verify(&headers(&header), FIXTURE, NOW), Ok(()));
    }

    #[test]
    fn the_second_configured_secret_is_accepted_during_our_rotation() {
        let rotating = StripeVerifier::new(
            vec![secret("whsec_old_secret"), secret(SECRET)],
            DEFAULT_TOLERANCE,
        )
        .unwrap();
        let header = sign_for_test(&secret(SECRET), FIXTURE, NOW);

        assert_eq!(rotating.verify(&headers(&header), FIXTURE, NOW), Ok(()));
    }

    #[test]
    fn an_oversized_body_is_rejected_before_hashing() {
        let body = vec![b' '; crate::webhooks::MAX_BODY_BYTES + 1];
        let header = sign_for_test(&secret(SECRET), &body, NOW);

        assert_eq!(
            verifier().verify(&headers(&header), &body, NOW),
            Err(VerifyError::BodyTooLarge)
        );
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let printed = format!("{:?}", verifier());

        assert!(!printed.contains("test_secret"));
    }

    #[test]
    fn a_verifier_without_usable_secrets_cannot_be_built() {
        assert_eq!(
            StripeVerifier::new(vec![], DEFAULT_TOLERANCE).unwrap_err(),
            InvalidSecret::NoSecrets
        );
        assert_eq!(
            StripeVerifier::new(vec![secret("")], DEFAULT_TOLERANCE).unwrap_err(),
            InvalidSecret::Empty
        );
    }

    // --- mapping ------------------------------------------------------------------------

    #[test]
    fn a_paid_checkout_session_becomes_a_purchase() {
        let event: StripeEvent = serde_json::from_slice(FIXTURE).unwrap();

        let outcome = purchase_from_event(&event, &catalog(), false).unwrap();

        let StripeOutcome::Purchase { event_id, data } = outcome else {
            panic!("expected a purchase, got {outcome:?}");
        };
        assert_eq!(event_id.as_str(), "stripe-evt_1QxTestCheckoutCompleted0001");
        assert_eq!(
            serde_json::to_value(&data).unwrap(),
            json!({
                "provider": "stripe",
                "purchase_id": "cs_test_a1vvp1B50lYAE8U2KLu1lzd6US91IMmBfnLfDXmJiKOQIzXbgFKgxUviQu",
                "email": "example@example.com",
                "name": "Ada Buyer",
                "clerk_user_id": "user_2NNEqL2nrIRdJ194ndJqAHwEfxC",
                "mentorship": "one_on_one",
                "product": "price_1QxOneOnOne2026",
                "amount_minor": 25000,
                "currency": "usd",
                "livemode": false,
                "purchased_at": "2026-01-02T03:00:00Z"
            })
        );
    }

    #[test]
    fn completed_and_async_succeeded_share_the_purchase_id() {
        let completed: StripeEvent = serde_json::from_slice(FIXTURE).unwrap();
        let succeeded = event_with(|v| {
            v["id"] = json!("evt_async");
            v["type"] = json!(CHECKOUT_SESSION_ASYNC_PAYMENT_SUCCEEDED);
        });

        let a = purchase_from_event(&completed, &catalog(), false).unwrap();
        let b = purchase_from_event(&succeeded, &catalog(), false).unwrap();

        let (
            StripeOutcome::Purchase { data: a, .. },
            StripeOutcome::Purchase {
                data: b,
                event_id: b_id,
            },
        ) = (a, b)
        else {
            panic!("both must be purchases");
        };
        assert_eq!(a.purchase_id, b.purchase_id);
        assert_eq!(b_id.as_str(), "stripe-evt_async");
    }

    #[test]
    fn an_unpaid_session_is_ignored() {
        let event = event_with(|v| v["data"]["object"]["payment_status"] = json!("unpaid"));

        let outcome = purchase_from_event(&event, &catalog(), false).unwrap();

        assert_eq!(
            outcome,
            StripeOutcome::Ignored {
                reason: IgnoreReason::PaymentNotCompleted("payment_status unpaid".into())
            }
        );
    }

    #[test]
    fn a_setup_mode_session_is_ignored() {
        let event = event_with(|v| {
            v["data"]["object"]["mode"] = json!("setup");
            v["data"]["object"]["payment_status"] = json!("no_payment_required");
        });

        let outcome = purchase_from_event(&event, &catalog(), false).unwrap();

        assert_eq!(
            outcome,
            StripeOutcome::Ignored {
                reason: IgnoreReason::PaymentNotCompleted("mode setup".into())
            }
        );
    }

    #[test]
    fn a_free_session_with_no_payment_required_is_a_purchase() {
        let event = event_with(|v| {
            v["data"]["object"]["payment_status"] = json!("no_payment_required");
            v["data"]["object"]["amount_total"] = json!(0);
        });

        let outcome = purchase_from_event(&event, &catalog(), false).unwrap();

        assert!(matches!(outcome, StripeOutcome::Purchase { data, .. } if data.amount_minor == 0));
    }

    #[test]
    fn an_event_from_the_other_mode_is_ignored() {
        let event: StripeEvent = serde_json::from_slice(FIXTURE).unwrap();

        let outcome = purchase_from_event(&event, &catalog(), true).unwrap();

        assert_eq!(
            outcome,
            StripeOutcome::Ignored {
                reason: IgnoreReason::LivemodeMismatch {
                    expected: true,
                    actual: false
                }
            }
        );
    }

    #[test]
    fn other_event_types_are_ignored() {
        let event = event_with(|v| {
            v["type"] = json!("payment_intent.succeeded");
            v["data"]["object"] = json!({"id": "pi_1", "object": "payment_intent"});
        });

        let outcome = purchase_from_event(&event, &catalog(), false).unwrap();

        assert_eq!(
            outcome,
            StripeOutcome::Ignored {
                reason: IgnoreReason::UnhandledType("payment_intent.succeeded".into())
            }
        );
    }

    #[test]
    fn metadata_mentorship_maps_when_the_catalog_does_not_know_the_product() {
        let event = event_with(|v| {
            v["data"]["object"]["metadata"] = json!({"mentorship": "group"});
        });

        let outcome = purchase_from_event(&event, &Catalog::new(), false).unwrap();

        let StripeOutcome::Purchase { data, .. } = outcome else {
            panic!("expected a purchase");
        };
        assert_eq!(data.mentorship, MentorshipKind::Group);
        assert_eq!(data.product, "group");
    }

    #[test]
    fn a_payment_link_in_the_catalog_maps_the_purchase() {
        let event = event_with(|v| {
            v["data"]["object"]["metadata"] = json!({});
            v["data"]["object"]["payment_link"] = json!("plink_group");
        });

        let outcome = purchase_from_event(&event, &catalog(), false).unwrap();

        assert!(matches!(
            outcome,
            StripeOutcome::Purchase { data, .. }
                if data.mentorship == MentorshipKind::Group && data.product == "plink_group"
        ));
    }

    #[test]
    fn a_paid_session_for_an_unknown_product_is_an_error_not_ignored() {
        let event = event_with(|v| {
            v["data"]["object"]["metadata"] = json!({"product": "price_unknown"});
        });

        assert_eq!(
            purchase_from_event(&event, &catalog(), false),
            Err(MapError::UnknownProduct)
        );
    }

    #[test]
    fn a_paid_session_without_an_email_is_an_error() {
        let event = event_with(|v| {
            v["data"]["object"]["customer_details"]["email"] = json!(null);
        });

        assert_eq!(
            purchase_from_event(&event, &catalog(), false),
            Err(MapError::MissingEmail)
        );
    }

    #[test]
    fn the_prefilled_customer_email_is_a_fallback() {
        let event = event_with(|v| {
            v["data"]["object"]["customer_details"] = json!(null);
            v["data"]["object"]["customer_email"] = json!("prefill@example.com");
        });

        let outcome = purchase_from_event(&event, &catalog(), false).unwrap();

        assert!(matches!(
            outcome,
            StripeOutcome::Purchase { data, .. }
                if data.email == "prefill@example.com" && data.name.is_none()
        ));
    }

    #[test]
    fn a_zero_decimal_currency_keeps_stripes_integer_amount() {
        let event = event_with(|v| {
            v["data"]["object"]["amount_total"] = json!(30000);
            v["data"]["object"]["currency"] = json!("jpy");
        });

        let outcome = purchase_from_event(&event, &catalog(), false).unwrap();

        assert!(matches!(
            outcome,
            StripeOutcome::Purchase { data, .. }
                if data.amount_minor == 30000 && data.currency.as_str() == "jpy"
        ));
    }

    #[test]
    fn a_session_of_the_wrong_shape_is_malformed() {
        let event = event_with(|v| v["data"]["object"] = json!({"id": 42}));

        assert_eq!(
            purchase_from_event(&event, &catalog(), false),
            Err(MapError::MalformedObject)
        );
    }
}
