//! PayPal webhook envelope and `PAYMENT.CAPTURE.COMPLETED` capture, as lenient DTOs, and their
//! mapping to `purchase/mentorship` (docs/integrations.md §2.1, §2.2).

use chrono::{DateTime, Utc};
use huckleberry_functions::events::{
    Currency, EventId, MentorshipKind, Provider, PurchaseMentorship,
};
use huckleberry_functions::ids::{ClerkUserId, PurchaseId};
use serde::Deserialize;

use super::amount::{minor_unit_digits, parse_minor_units};
use crate::webhooks::{Catalog, IgnoreReason, MapError};

/// The event type that means "money captured, fulfil the order" (§2.1).
pub const PAYMENT_CAPTURE_COMPLETED: &str = "PAYMENT.CAPTURE.COMPLETED";

/// A PayPal webhook envelope: only the fields we read; unknown fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct PaypalEvent {
    /// `WH-…`: the dedupe key (`paypal-<id>` as the Inngest event id).
    pub id: String,
    /// e.g. `PAYMENT.CAPTURE.COMPLETED`.
    pub event_type: String,
    /// When PayPal created the event; fallback for `purchased_at`.
    #[serde(default)]
    pub create_time: Option<String>,
    /// `capture`, `checkout-order`, `sale`, …
    #[serde(default)]
    pub resource_type: Option<String>,
    /// The resource, kept as JSON until the type says how to read it.
    #[serde(default)]
    pub resource: serde_json::Value,
}

/// An Orders v2 capture (the `resource` of `PAYMENT.CAPTURE.*`): only the fields we read.
#[derive(Debug, Clone, Deserialize)]
pub struct Capture {
    /// The capture id: our purchase id (stable across PayPal's redeliveries).
    pub id: String,
    /// `COMPLETED` | `PENDING` | `DECLINED` | …
    #[serde(default)]
    pub status: Option<String>,
    /// What was captured.
    #[serde(default)]
    pub amount: Option<Money>,
    /// Echo of the order's `purchase_units[0].custom_id`, which we set to
    /// `<product reference>[:<clerk user id>]` when creating the order.
    #[serde(default)]
    pub custom_id: Option<String>,
    /// Echo of the order's invoice id, for support.
    #[serde(default)]
    pub invoice_id: Option<String>,
    /// Holds the Orders v2 id the capture belongs to.
    #[serde(default)]
    pub supplementary_data: Option<SupplementaryData>,
    /// When the capture happened (RFC 3339): our `purchased_at`.
    #[serde(default)]
    pub create_time: Option<String>,
    /// The payer, which captures normally do NOT carry (§2.2); read when present.
    #[serde(default)]
    pub payer: Option<CapturePayer>,
}

/// A PayPal amount: a currency and a decimal STRING (never a JSON number).
#[derive(Debug, Clone, Deserialize)]
pub struct Money {
    /// Uppercase ISO 4217 code.
    pub currency_code: String,
    /// Decimal string, e.g. `"250.00"`, `"3000"` for JPY.
    pub value: String,
}

/// `supplementary_data` of a capture.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SupplementaryData {
    /// Ids of related objects.
    #[serde(default)]
    pub related_ids: Option<RelatedIds>,
}

/// `supplementary_data.related_ids` of a capture.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RelatedIds {
    /// The Orders v2 id: where the payer's email is (`GET /v2/checkout/orders/{id}`).
    #[serde(default)]
    pub order_id: Option<String>,
}

/// A payer, when a payload carries one.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CapturePayer {
    /// The payer's PayPal email.
    #[serde(default)]
    pub email_address: Option<String>,
    /// The payer's name.
    #[serde(default)]
    pub name: Option<CapturePayerName>,
}

/// A PayPal name.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CapturePayerName {
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Surname.
    #[serde(default)]
    pub surname: Option<String>,
}

impl CapturePayerName {
    /// "Given Surname", or whichever part exists.
    #[must_use]
    pub fn full(&self) -> Option<String> {
        let parts: Vec<&str> = [self.given_name.as_deref(), self.surname.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// A captured purchase still missing the buyer's email (and name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPurchase {
    /// The capture id.
    pub purchase_id: String,
    /// From `custom_id`, when the buyer was signed in when the order was created.
    pub clerk_user_id: Option<String>,
    /// Which mentorship was bought.
    pub mentorship: MentorshipKind,
    /// The product reference from `custom_id`.
    pub product: String,
    /// Minor units, parsed exactly.
    pub amount_minor: i64,
    /// Lowercase code.
    pub currency: Currency,
    /// From our configuration: sandbox or live.
    pub livemode: bool,
    /// The capture's time.
    pub purchased_at: DateTime<Utc>,
}

impl PendingPurchase {
    /// The complete event payload once the order lookup found the payer.
    #[must_use]
    pub fn complete(self, email: String, name: Option<String>) -> PurchaseMentorship {
        PurchaseMentorship {
            provider: Provider::Paypal,
            purchase_id: PurchaseId::new(self.purchase_id),
            email,
            name,
            clerk_user_id: self.clerk_user_id.map(ClerkUserId::new),
            mentorship: self.mentorship,
            product: self.product,
            amount_minor: self.amount_minor,
            currency: self.currency,
            livemode: self.livemode,
            purchased_at: self.purchased_at,
        }
    }
}

/// What a verified PayPal event means for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaypalOutcome {
    /// Send `purchase/mentorship` with this id and data.
    Purchase {
        /// `paypal-<WH id>`.
        event_id: EventId,
        /// The event payload.
        data: PurchaseMentorship,
    },
    /// A paid capture whose payload has no payer email (the normal case, §2.2): fetch
    /// `GET /v2/checkout/orders/{order_id}` → `payer.email_address`, then
    /// [`PendingPurchase::complete`] and send with `event_id`.
    NeedsOrderLookup {
        /// `paypal-<WH id>`.
        event_id: EventId,
        /// The Orders v2 id.
        order_id: String,
        /// Everything else, already validated.
        pending: PendingPurchase,
    },
    /// Answer 200 and log the reason; nothing is sent.
    Ignored {
        /// Why.
        reason: IgnoreReason,
    },
}

/// Maps a verified PayPal event to what the route should do.
///
/// `livemode` comes from our configuration (sandbox vs live credentials): PayPal payloads do
/// not say, and the webhook id already binds a delivery to one environment.
///
/// # Errors
/// [`MapError`] for a completed capture we cannot turn into a purchase (unknown product,
/// bad amount or currency, no order id to look the payer up): the route answers 422, see
/// [`MapError`] for why.
pub fn purchase_from_event(
    event: &PaypalEvent,
    catalog: &Catalog,
    livemode: bool,
) -> Result<PaypalOutcome, MapError> {
    if event.event_type != PAYMENT_CAPTURE_COMPLETED {
        return Ok(PaypalOutcome::Ignored {
            reason: IgnoreReason::UnhandledType(event.event_type.clone()),
        });
    }
    let capture: Capture =
        serde_json::from_value(event.resource.clone()).map_err(|_| MapError::MalformedObject)?;
    let status = capture.status.as_deref().unwrap_or("none");
    if status != "COMPLETED" {
        return Ok(PaypalOutcome::Ignored {
            reason: IgnoreReason::PaymentNotCompleted(format!("capture status {status}")),
        });
    }

    let (mentorship, product, clerk_user_id) = product_of(&capture, catalog)?;
    let amount = capture
        .amount
        .as_ref()
        .ok_or(MapError::MissingField("resource.amount"))?;
    let currency =
        Currency::parse(&amount.currency_code).map_err(|_| MapError::UnsupportedCurrency)?;
    let digits = minor_unit_digits(&currency).ok_or(MapError::UnsupportedCurrency)?;
    let amount_minor = parse_minor_units(&amount.value, digits)?;
    let time = capture
        .create_time
        .as_deref()
        .or(event.create_time.as_deref())
        .ok_or(MapError::MissingField("resource.create_time"))?;
    let purchased_at = DateTime::parse_from_rfc3339(time)
        .map_err(|_| MapError::InvalidTimestamp)?
        .with_timezone(&Utc);

    let event_id = EventId::paypal(&event.id);
    let pending = PendingPurchase {
        purchase_id: capture.id.clone(),
        clerk_user_id,
        mentorship,
        product,
        amount_minor,
        currency,
        livemode,
        purchased_at,
    };
    let payer = capture.payer.unwrap_or_default();
    if let Some(email) = payer.email_address.filter(|e| !e.trim().is_empty()) {
        let name = payer.name.as_ref().and_then(CapturePayerName::full);
        return Ok(PaypalOutcome::Purchase {
            event_id,
            data: pending.complete(email, name),
        });
    }
    let order_id = capture
        .supplementary_data
        .and_then(|s| s.related_ids)
        .and_then(|r| r.order_id)
        .filter(|o| !o.is_empty())
        .ok_or(MapError::MissingField(
            "resource.supplementary_data.related_ids.order_id",
        ))?;
    Ok(PaypalOutcome::NeedsOrderLookup {
        event_id,
        order_id,
        pending,
    })
}

/// Reads `custom_id` = `<product reference>[:<clerk user id>]`: the product maps through the
/// catalog, or is itself a mentorship kind (`one_on_one` | `group`).
fn product_of(
    capture: &Capture,
    catalog: &Catalog,
) -> Result<(MentorshipKind, String, Option<String>), MapError> {
    let custom_id = capture
        .custom_id
        .as_deref()
        .ok_or(MapError::UnknownProduct)?;
    let (product, clerk_user_id) = match custom_id.split_once(':') {
        Some((product, user)) => (product, Some(user).filter(|u| !u.is_empty())),
        None => (custom_id, None),
    };
    let kind = catalog
        .kind_of(product)
        .or_else(|| MentorshipKind::from_wire(product))
        .ok_or(MapError::UnknownProduct)?;
    Ok((kind, product.to_owned(), clerk_user_id.map(str::to_owned)))
}
