//! The webhook routes: bytes in, verify, then parse, then deliver to Inngest (docs/design.md §5,
//! docs/design.md §8 rule 7). One handler file per provider; this file holds what they share: the
//! state built at start-up, delivery to Inngest and the replies.
//!
//! Status policy (the module doc of [`crate::webhooks`] explains each choice):
//! - route not configured (development only) → 503 with the reason, before reading anything;
//! - not authentic → 400 (413 for an oversized body), nothing sent;
//! - PayPal certificate or order lookup unavailable → 503, so PayPal retries;
//! - authentic but not JSON of the envelope's shape → 400, nothing sent;
//! - ignored (other types, unpaid, other mode) → 200, logged by event id, type and reason;
//! - a purchase we cannot map → 422, logged at error level;
//! - delivered → 200 only after Inngest accepted the event; otherwise 503 (nothing is lost:
//!   the provider retries, and the event id makes the retry a duplicate Inngest drops).

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use huckleberry_functions::events::EventId;
use serde::Serialize;

use super::config::{Mount, PaypalEnvironment, StripeConfig, SvixConfig, WebhooksConfig};
use super::paypal::{PaypalVerifier, PaypalVerifierConfig};
use super::{Catalog, MapError, VerifyError};
use crate::clock::Clock;
use crate::error::AppError;
use crate::integrations::paypal::{HttpCertificateSource, PaypalClient, SharedCertificateSource};
use crate::paths;

pub mod paypal;
pub mod stripe;
pub mod svix;

/// What the webhook routes need, built once at start-up.
#[derive(Debug)]
pub struct WebhookState {
    /// Stripe verifier and mode, or why the route is not mounted.
    stripe: Mount<StripeConfig>,
    /// PayPal verifier, certificate source and API client, or why not mounted.
    paypal: Mount<PaypalRoute>,
    /// Clerk's Svix verifier, or why not mounted.
    clerk: Mount<SvixConfig>,
    /// Resend's Svix verifier, or why not mounted.
    resend: Mount<SvixConfig>,
    /// Product reference → mentorship kind, for Stripe and PayPal.
    catalog: Catalog,
    /// How long a route waits for Inngest before answering 503.
    delivery_timeout: Duration,
    /// "Now", for signature timestamp windows.
    clock: Clock,
    /// Sends the verified events to Inngest.
    events: inngest_sdk::Client,
}

/// The PayPal route's parts.
#[derive(Debug)]
struct PaypalRoute {
    verifier: PaypalVerifier,
    certificates: SharedCertificateSource,
    client: PaypalClient,
    /// Purchases from the live environment are live; sandbox ones are not.
    livemode: bool,
}

impl WebhookState {
    /// Builds the routes' state and logs, at warn, every route that is not mounted and why.
    ///
    /// # Errors
    /// When an HTTP client cannot be built or the PayPal webhook id is unusable.
    /// `certificates` replaces PayPal's certificate source (tests; `None` fetches from
    /// PayPal). It does not weaken verification: the signature is still checked against it.
    pub fn build(
        config: &WebhooksConfig,
        certificates: Option<SharedCertificateSource>,
        clock: Clock,
        events: inngest_sdk::Client,
    ) -> anyhow::Result<Self> {
        let paypal = match &config.paypal {
            Mount::NotMounted(reason) => Mount::NotMounted(reason.clone()),
            Mount::Mounted(settings) => {
                let certificates = match certificates {
                    Some(source) => source,
                    None => SharedCertificateSource::new(
                        HttpCertificateSource::new()
                            .context("building the PayPal certificate client")?,
                    ),
                };
                Mount::Mounted(PaypalRoute {
                    verifier: PaypalVerifier::new(PaypalVerifierConfig::new(
                        settings.webhook_id.clone(),
                    ))
                    .context("PAYPAL_WEBHOOK_ID is unusable")?,
                    certificates,
                    client: PaypalClient::new(
                        settings.api_base_url.clone(),
                        settings.client_id.clone(),
                        settings.client_secret.clone(),
                    )
                    .context("building the PayPal API client")?,
                    livemode: settings.environment == PaypalEnvironment::Live,
                })
            }
        };
        let state = WebhookState {
            stripe: config.stripe.clone(),
            paypal,
            clerk: config.clerk.clone(),
            resend: config.resend.clone(),
            catalog: config.catalog.clone(),
            delivery_timeout: config.delivery_timeout,
            clock,
            events,
        };
        state.log_unmounted();
        Ok(state)
    }

    fn log_unmounted(&self) {
        let routes = [
            (paths::STRIPE_WEBHOOK, reason(&self.stripe)),
            (paths::PAYPAL_WEBHOOK, reason(&self.paypal)),
            (paths::CLERK_WEBHOOK, reason(&self.clerk)),
            (paths::RESEND_WEBHOOK, reason(&self.resend)),
        ];
        for (route, reason) in routes {
            if let Some(reason) = reason {
                tracing::warn!(route, reason, "webhook route not mounted: it answers 503");
            }
        }
    }
}

fn reason<T>(mount: &Mount<T>) -> Option<&str> {
    match mount {
        Mount::Mounted(_) => None,
        Mount::NotMounted(reason) => Some(reason),
    }
}

/// A webhook route's answer when it did not fail.
#[derive(Debug)]
pub enum WebhookReply {
    /// Inngest accepted the event: 200.
    Delivered {
        /// The event id sent (the provider's id, prefixed).
        event_id: EventId,
    },
    /// Authentic, deliberately not forwarded: 200.
    Ignored,
    /// The route is not configured in this deployment: 503 with the reason.
    NotMounted {
        /// Which settings are missing.
        reason: String,
    },
}

#[derive(Serialize)]
struct ReplyBody<'a> {
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl IntoResponse for WebhookReply {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            WebhookReply::Delivered { event_id } => (
                StatusCode::OK,
                ReplyBody {
                    status: "delivered",
                    event_id: Some(event_id.as_str()),
                    error: None,
                },
            ),
            WebhookReply::Ignored => (
                StatusCode::OK,
                ReplyBody {
                    status: "ignored",
                    event_id: None,
                    error: None,
                },
            ),
            WebhookReply::NotMounted { reason } => (
                StatusCode::SERVICE_UNAVAILABLE,
                ReplyBody {
                    status: "not_configured",
                    event_id: None,
                    error: Some(format!("this webhook route is not configured: {reason}")),
                },
            ),
        };
        (status, Json(body)).into_response()
    }
}

/// A webhook request's raw body. Reading it can fail (over the route's size cap, or a
/// broken upload); the failure is a JSON client error like every other rejection, where
/// axum's own `Bytes` rejection would answer in plain text.
#[derive(Debug)]
pub struct WebhookBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for WebhookBody {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(WebhookBody(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(
                AppError::client(rejection.status(), VerifyError::BodyTooLarge.to_string()),
            ),
            Err(rejection) => Err(AppError::client(
                rejection.status(),
                "the webhook body could not be read",
            )),
        }
    }
}

/// The mounted settings, or the 503 reply of an unmounted route.
fn mounted<T>(mount: &Mount<T>) -> Result<&T, WebhookReply> {
    match mount {
        Mount::Mounted(settings) => Ok(settings),
        Mount::NotMounted(reason) => Err(WebhookReply::NotMounted {
            reason: reason.clone(),
        }),
    }
}

/// Sends one event and waits for Inngest to accept it, at most `timeout`.
///
/// Any failure (unreachable, timeout, 4xx or 5xx) becomes a 503: the provider retries the
/// delivery with the same provider id, hence the same event id, so a send that did reach
/// Inngest after all is dropped as a duplicate and nothing is lost or doubled.
async fn deliver<T: Serialize>(
    inngest: &inngest_sdk::Client,
    timeout: Duration,
    name: &str,
    event_id: EventId,
    data: T,
) -> Result<WebhookReply, AppError> {
    let event = inngest_sdk::Event::new(name, data).id(event_id.as_str());
    match tokio::time::timeout(timeout, inngest.send(&event)).await {
        Ok(Ok(_)) => {
            tracing::info!(%event_id, name, "event delivered to Inngest");
            Ok(WebhookReply::Delivered { event_id })
        }
        Ok(Err(error)) => Err(AppError::Unavailable(format!(
            "Inngest did not accept {name} {event_id}: {error}"
        ))),
        Err(_) => Err(AppError::Unavailable(format!(
            "Inngest did not accept {name} {event_id} within {timeout:?}"
        ))),
    }
}

/// A verification failure as a response: 400 (413 for size), or 503 when it is on our side.
fn rejected(provider: &'static str, error: VerifyError) -> AppError {
    if error.is_transient() {
        return AppError::Unavailable(format!("{provider} webhook: {error}"));
    }
    tracing::warn!(provider, %error, "webhook rejected as unauthenticated");
    let status = match error {
        VerifyError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    AppError::client(status, error.to_string())
}

/// An authentic body that is not the provider's envelope: 400, nothing sent.
fn malformed(provider: &'static str, error: &serde_json::Error) -> AppError {
    tracing::warn!(provider, error = %error, "verified webhook body is not the expected JSON");
    AppError::client(
        StatusCode::BAD_REQUEST,
        "webhook body is not valid JSON of the expected shape",
    )
}

/// An authentic purchase event we cannot map: 422 and an error log (see [`MapError`]).
fn unmappable(
    provider: &'static str,
    event_id: &str,
    event_type: &str,
    error: &MapError,
) -> AppError {
    tracing::error!(
        provider,
        provider_event_id = event_id,
        event_type,
        %error,
        "authentic purchase event could not be mapped; answering 422 so the delivery stays visible and retried"
    );
    AppError::client(StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
}

/// Logs an ignored event by provider id, type and reason; the reply is 200.
fn ignored(
    provider: &'static str,
    event_id: &str,
    event_type: &str,
    reason: &dyn fmt::Display,
) -> WebhookReply {
    tracing::info!(
        provider,
        provider_event_id = event_id,
        event_type,
        %reason,
        "webhook event ignored"
    );
    WebhookReply::Ignored
}
