//! `POST /api/clerk/webhook` and `POST /api/resend/webhook`: one Svix verifier, forwarded as
//! `clerk/<type>` / `resend/<type>` with the provider's `data` untouched (docs/design.md §3, §5;
//! docs/integrations.md §4.4–4.5, §5.2–5.3, §6).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use huckleberry_functions::events::EventId;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    WebhookBody, WebhookReply, WebhookState, deliver, ignored, malformed, mounted, rejected,
};
use crate::error::AppError;
use crate::webhooks::config::{Mount, SvixConfig};
use crate::webhooks::svix::event_name;

/// Receives a Clerk (Svix) event and forwards it as `clerk/<type>`, id `clerk-<svix-id>`.
pub async fn receive_clerk_event(
    State(hooks): State<Arc<WebhookState>>,
    headers: HeaderMap,
    WebhookBody(body): WebhookBody,
) -> Result<WebhookReply, AppError> {
    let route = SvixRoute {
        provider: "clerk",
        event_id: EventId::clerk,
    };
    route.receive(&hooks, &hooks.clerk, &headers, &body).await
}

/// Receives a Resend (Svix) event and forwards it as `resend/<type>`, id `resend-<svix-id>`.
pub async fn receive_resend_event(
    State(hooks): State<Arc<WebhookState>>,
    headers: HeaderMap,
    WebhookBody(body): WebhookBody,
) -> Result<WebhookReply, AppError> {
    let route = SvixRoute {
        provider: "resend",
        event_id: EventId::resend,
    };
    route.receive(&hooks, &hooks.resend, &headers, &body).await
}

/// The Svix envelope with `data` kept as the raw bytes received: forwarded without being
/// re-serialized, so Inngest sees exactly what the provider sent.
#[derive(Deserialize)]
struct RawSvixEvent<'a> {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// What differs between the two Svix providers.
struct SvixRoute {
    /// The event name prefix and log field.
    provider: &'static str,
    /// `EventId::clerk` or `EventId::resend`.
    event_id: fn(&str) -> EventId,
}

impl SvixRoute {
    async fn receive(
        &self,
        hooks: &WebhookState,
        mount: &Mount<SvixConfig>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<WebhookReply, AppError> {
        let svix = match mounted(mount) {
            Ok(svix) => svix,
            Err(not_mounted) => return Ok(not_mounted),
        };
        let now = hooks.clock.now().timestamp();
        let delivery = svix
            .verifier
            .verify(headers, body, now)
            .map_err(|e| rejected(self.provider, e))?;
        let event: RawSvixEvent<'_> =
            serde_json::from_slice(body).map_err(|e| malformed(self.provider, &e))?;
        let Some(name) = event_name(self.provider, &event.event_type) else {
            // Authentic but unnameable: 200, because a 4xx would make Svix retry for days and
            // then disable the endpoint, losing every later event.
            return Ok(ignored(
                self.provider,
                &delivery.id,
                &event.event_type,
                &"event type is not a valid event name",
            ));
        };
        deliver(
            &hooks.events,
            hooks.delivery_timeout,
            &name,
            (self.event_id)(&delivery.id),
            event.data,
        )
        .await
    }
}
