//! `POST /api/stripe/webhook`: a verified Checkout Session payment becomes
//! `purchase/mentorship` (docs/design.md §5, docs/integrations.md §1).

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
use crate::webhooks::stripe::{StripeEvent, StripeOutcome, purchase_from_event};

const PROVIDER: &str = "stripe";

/// Receives a Stripe event: verify `Stripe-Signature` over the raw bytes, then parse, then
/// map, then send `purchase/mentorship` with id `stripe-<evt id>`.
pub async fn receive_stripe_event(
    State(hooks): State<Arc<WebhookState>>,
    headers: HeaderMap,
    WebhookBody(body): WebhookBody,
) -> Result<WebhookReply, AppError> {
    let stripe = match mounted(&hooks.stripe) {
        Ok(stripe) => stripe,
        Err(not_mounted) => return Ok(not_mounted),
    };
    let now = hooks.clock.now().timestamp();
    stripe
        .verifier
        .verify(&headers, &body, now)
        .map_err(|e| rejected(PROVIDER, e))?;
    let event: StripeEvent = serde_json::from_slice(&body).map_err(|e| malformed(PROVIDER, &e))?;
    match purchase_from_event(&event, &hooks.catalog, stripe.livemode) {
        Ok(StripeOutcome::Purchase { event_id, data }) => {
            deliver(
                &hooks.events,
                hooks.delivery_timeout,
                <PurchaseMentorship as EventType>::NAME,
                event_id,
                &data,
            )
            .await
        }
        Ok(StripeOutcome::Ignored { reason }) => {
            Ok(ignored(PROVIDER, &event.id, &event.event_type, &reason))
        }
        Err(error) => Err(unmappable(PROVIDER, &event.id, &event.event_type, &error)),
    }
}
