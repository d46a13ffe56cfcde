//! `POST /api/paypal/webhook`: a verified `PAYMENT.CAPTURE.COMPLETED` becomes
//! `purchase/mentorship` (docs/design.md §5, docs/integrations.md §2).
//!
//! The order lookup for the payer's email happens here, in the route, not in the Inngest
//! function (docs/integrations.md §2.2 suggested the function): the event then carries a complete,
//! validated purchase like Stripe's, and onboarding-flow has one input shape. The cost is one
//! PayPal call per capture (the token is cached); when it fails the route answers 503 and
//! PayPal retries the delivery (up to 25 times over 3 days), so nothing is lost.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use huckleberry_functions::events::PurchaseMentorship;
use inngest_sdk::EventType;

use super::{
    WebhookBody, WebhookReply, WebhookState, deliver, ignored, malformed, mounted, rejected,
    unmappable,
};
use crate::error::AppError;
use crate::webhooks::MapError;
use crate::webhooks::paypal::{PaypalEvent, PaypalOutcome, purchase_from_event};

const PROVIDER: &str = "paypal";

/// Receives a PayPal event: verify the transmission signature offline over the raw bytes,
/// then parse, then map (looking the payer up on the order when the capture lacks them),
/// then send `purchase/mentorship` with id `paypal-<WH id>`.
pub async fn receive_paypal_event(
    State(hooks): State<Arc<WebhookState>>,
    headers: HeaderMap,
    WebhookBody(body): WebhookBody,
) -> Result<WebhookReply, AppError> {
    let paypal = match mounted(&hooks.paypal) {
        Ok(paypal) => paypal,
        Err(not_mounted) => return Ok(not_mounted),
    };
    paypal
        .verifier
        .verify(&headers, &body, hooks.clock.now(), &paypal.certificates)
        .await
        .map_err(|e| rejected(PROVIDER, e))?;
    let event: PaypalEvent = serde_json::from_slice(&body).map_err(|e| malformed(PROVIDER, &e))?;
    let unmappable = |error: MapError| unmappable(PROVIDER, &event.id, &event.event_type, &error);
    let (event_id, data) = match purchase_from_event(&event, &hooks.catalog, paypal.livemode) {
        Ok(PaypalOutcome::Purchase { event_id, data }) => (event_id, data),
        Ok(PaypalOutcome::NeedsOrderLookup {
            event_id,
            order_id,
            pending,
        }) => {
            let payer = paypal
                .client
                .order_payer(&order_id)
                .await
                .map_err(|error| {
                    AppError::Unavailable(format!(
                        "PayPal order lookup for event {} failed: {error}",
                        event.id
                    ))
                })?;
            let email = payer
                .email
                .ok_or(MapError::MissingEmail)
                .map_err(unmappable)?;
            (event_id, pending.complete(email, payer.name))
        }
        Ok(PaypalOutcome::Ignored { reason }) => {
            return Ok(ignored(PROVIDER, &event.id, &event.event_type, &reason));
        }
        Err(error) => return Err(unmappable(error)),
    };
    deliver(
        &hooks.events,
        hooks.delivery_timeout,
        <PurchaseMentorship as EventType>::NAME,
        event_id,
        &data,
    )
    .await
}
