//! The route table: every route of the app, in one place (DESIGN §5).

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::discord;
use crate::state::AppState;
use crate::webhooks::{self, routes as hooks};

/// Longest a request may take. The Inngest executor's own request timeout is longer, and a
/// step body that needs more time should be split into several steps.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The app's router.
pub fn router(state: AppState, inngest: inngest_sdk::Endpoint) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/inngest", inngest_sdk::axum::serve(inngest))
        .route("/api/stripe/webhook", post(hooks::receive_stripe_event).layer(webhook_body_limit()))
        .route("/api/paypal/webhook", post(hooks::receive_paypal_event).layer(webhook_body_limit()))
        .route("/api/clerk/webhook", post(hooks::receive_clerk_event).layer(webhook_body_limit()))
        .route("/api/resend/webhook", post(hooks::receive_resend_event).layer(webhook_body_limit()))
        .route("/api/auth/discord", get(discord::flow::start_discord_login))
        .route(
            "/api/auth/discord/callback",
            get(discord::flow::complete_discord_login),
        )
        .with_state(state)
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), %request_id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT))
}

/// Webhook bodies are capped before they are read (integrations.md §11.2): larger → 413.
fn webhook_body_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(webhooks::MAX_BODY_BYTES)
}

/// Liveness: the process serves requests.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: configuration was valid at start-up (the app does not start otherwise).
async fn readyz() -> &'static str {
    "ready"
}
