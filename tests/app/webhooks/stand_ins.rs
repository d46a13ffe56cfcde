//! A local stand-in for the PayPal REST API (the Inngest event API's is `crate::inngest_stand_in`).

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::Shared;

pub(crate) const PAYPAL_CLIENT_ID: &str = "test-client-id";
pub(crate) const PAYPAL_CLIENT_SECRET: &str = "test-client-secret";
const PAYPAL_TOKEN: &str = "A21AAtest-access-token";
pub(crate) const PAYER_EMAIL: &str = "payer@example.com";

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a stand-in");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[derive(Default)]
struct PaypalState {
    token_requests: usize,
    order_requests: Vec<String>,
    /// Order lookups still to fail with 503.
    order_failures: usize,
}

/// `POST /v1/oauth2/token` (Basic auth, client credentials) and
/// `GET /v2/checkout/orders/{id}` (Bearer) like PayPal's REST API.
#[derive(Clone)]
pub(crate) struct PaypalApiStandIn {
    pub(crate) url: String,
    state: Shared<PaypalState>,
}

impl PaypalApiStandIn {
    pub(crate) async fn start() -> Self {
        let state: Shared<PaypalState> = Arc::new(Mutex::new(PaypalState::default()));
        let router = Router::new()
            .route("/v1/oauth2/token", post(token))
            .route("/v2/checkout/orders/{id}", get(order))
            .with_state(state.clone());
        PaypalApiStandIn {
            url: serve(router).await,
            state,
        }
    }

    /// The next `n` order lookups answer 503.
    pub(crate) fn fail_order_lookups(&self, n: usize) {
        self.state.lock().expect("stand-in state").order_failures = n;
    }

    pub(crate) fn token_requests(&self) -> usize {
        self.state.lock().expect("stand-in state").token_requests
    }

    pub(crate) fn order_requests(&self) -> Vec<String> {
        self.state
            .lock()
            .expect("stand-in state")
            .order_requests
            .clone()
    }
}

async fn token(
    State(state): State<Shared<PaypalState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{PAYPAL_CLIENT_ID}:{PAYPAL_CLIENT_SECRET}"))
    );
    state.lock().expect("stand-in state").token_requests += 1;
    let authorized = headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized || body.as_ref() != b"grant_type=client_credentials" {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    Json(json!({
        "scope": "https://uri.paypal.com/services/payments/payment",
        "access_token": PAYPAL_TOKEN,
        "token_type": "Bearer",
        "app_id": "APP-80W284485P519543T",
        "expires_in": 32400,
        "nonce": "2026-01-02T03:00:00Zabc"
    }))
    .into_response()
}

async fn order(
    State(state): State<Shared<PaypalState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let fail = {
        let mut state = state.lock().expect("stand-in state");
        state.order_requests.push(id.clone());
        if state.order_failures > 0 {
            state.order_failures -= 1;
            true
        } else {
            false
        }
    };
    if fail {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let bearer = format!("Bearer {PAYPAL_TOKEN}");
    if headers
        .get("authorization")
        .is_none_or(|v| v.as_bytes() != bearer.as_bytes())
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // Orders v2 "Show order details", trimmed to what a completed order carries.
    Json(json!({
        "id": id,
        "intent": "CAPTURE",
        "status": "COMPLETED",
        "payer": {
            "name": {"given_name": "Ada", "surname": "Buyer"},
            "email_address": PAYER_EMAIL,
            "payer_id": "QYR5Z8XDVJNXQ",
            "address": {"country_code": "US"}
        },
        "purchase_units": [{
            "reference_id": "default",
            "custom_id": "one-on-one-2026:user_2NNEqL2nrIRdJ194ndJqAHwEfxC"
        }]
    }))
    .into_response()
}
