//! The route table: every route of the app, in one place (docs/design.md §5); the paths
//! themselves are named in [`crate::paths`].

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, get, post};
use inngest_sdk::connect::WorkerState;
use tokio::sync::watch;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::HttpLimits;
use crate::discord::flow;
use crate::pages;
use crate::paths;
use crate::rate_limit::{self, ClientAddress, ClientRateLimit};
use crate::state::AppState;
use crate::webhooks;
use crate::webhooks::routes::{paypal, stripe, svix};

/// Longest a request may take. The Inngest executor's own request timeout is longer, and a
/// step body that needs more time should be split into several steps.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The app's router.
///
/// Layers, innermost first: the webhook body cap; per-client rate limits on the webhook and
/// Discord routes only (never `/api/inngest` nor the probes); the pages' security headers
/// on the Discord routes; then, on every response, `X-Content-Type-Options: nosniff`,
/// `Referrer-Policy: no-referrer` and, when the app is served over https, HSTS.
pub fn router(
    state: AppState,
    inngest: inngest_sdk::Endpoint,
    limits: &HttpLimits,
    https: bool,
) -> Router {
    build(state, Some(inngest), None, limits, https)
}

/// The router of an app whose functions run over Connect (`INNGEST_CONNECT=1`): the same
/// routes without `/api/inngest`, and `/readyz` ready only while the worker is connected.
pub fn router_over_connect(
    state: AppState,
    worker: watch::Receiver<WorkerState>,
    limits: &HttpLimits,
    https: bool,
) -> Router {
    build(state, None, Some(worker), limits, https)
}

fn build(
    state: AppState,
    inngest: Option<inngest_sdk::Endpoint>,
    worker: Option<watch::Receiver<WorkerState>>,
    limits: &HttpLimits,
    https: bool,
) -> Router {
    let client = limits
        .trusted_proxy_header
        .clone()
        .map_or(ClientAddress::Peer, ClientAddress::ProxyHeader);
    let webhook_rate = ClientRateLimit::new(limits.webhook_rate, client.clone());
    let discord_rate = ClientRateLimit::new(limits.discord_rate, client)
        .with_page_links(state.discord.links.clone());
    let webhook = |handler: MethodRouter<AppState>| -> MethodRouter<AppState> {
        handler
            .layer::<_, Infallible>(webhook_body_limit())
            .layer(from_fn_with_state(
                webhook_rate.clone(),
                rate_limit::enforce,
            ))
    };
    let page = |handler: MethodRouter<AppState>| -> MethodRouter<AppState> {
        handler
            .layer::<_, Infallible>(from_fn_with_state(
                discord_rate.clone(),
                rate_limit::enforce,
            ))
            .layer::<_, Infallible>(SetResponseHeaderLayer::overriding(
                header::CONTENT_SECURITY_POLICY,
                pages::content_security_policy(),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("DENY"),
            ))
    };
    // Browsers honour HSTS only over https; sent over http it would be a promise the app
    // cannot keep (development, tests).
    let hsts = https.then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    let mut routes = Router::new()
        .route(paths::HEALTHZ, get(healthz))
        .route(paths::READYZ, get(move || readyz(worker.clone())));
    if let Some(inngest) = inngest {
        routes = routes.route(paths::INNGEST, inngest_sdk::axum::serve(inngest));
    }
    routes
        .route(paths::STRIPE_WEBHOOK, webhook(post(stripe::receive_stripe_event)))
        .route(paths::PAYPAL_WEBHOOK, webhook(post(paypal::receive_paypal_event)))
        .route(paths::CLERK_WEBHOOK, webhook(post(svix::receive_clerk_event)))
        .route(paths::RESEND_WEBHOOK, webhook(post(svix::receive_resend_event)))
        .route(paths::DISCORD_START, page(get(flow::start_discord_login)))
        .route(paths::DISCORD_CALLBACK, page(get(flow::complete_discord_login)))
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
        // Outermost, so that even the timeout's 503 carries them.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ))
}

/// Webhook bodies are capped before they are read (docs/integrations.md §11.2): larger → 413.
fn webhook_body_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(webhooks::MAX_BODY_BYTES)
}

/// Liveness: the process serves requests.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: configuration was valid at start-up (the app does not start otherwise) and,
/// when the functions run over Connect, the worker is connected: `503` with the worker's
/// state (`connecting`, `draining`, `closed`) otherwise.
async fn readyz(worker: Option<watch::Receiver<WorkerState>>) -> (StatusCode, &'static str) {
    match worker.map(|w| *w.borrow()) {
        None | Some(WorkerState::Ready) => (StatusCode::OK, "ready"),
        Some(state) => (StatusCode::SERVICE_UNAVAILABLE, state.as_str()),
    }
}
