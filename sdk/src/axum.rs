//! The axum 0.8 adapter: mounts an [`Endpoint`] on a path.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Request;
use axum::response::Response;
use axum::routing::{MethodRouter, any};

use crate::Endpoint;

/// A method router serving `endpoint` (`GET`, `PUT`, `POST`; other methods get `405`).
/// Bodies are read up to the endpoint's cap ([`Endpoint::max_body_bytes`]), whatever
/// `DefaultBodyLimit` the app sets for extractors (axum's 2 MiB default is below what the
/// executor sends); no layer is added, so no per-request boxing or extensions either.
///
/// ```no_run
/// # async fn example(endpoint: inngest_sdk::Endpoint) {
/// let app: axum::Router = axum::Router::new().route("/api/inngest", inngest_sdk::axum::serve(endpoint));
/// # }
/// ```
pub fn serve<S>(endpoint: Endpoint) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    any(handle).with_state(endpoint)
}

fn handle(
    State(endpoint): State<Endpoint>,
    request: Request<axum::body::Body>,
) -> impl Future<Output = Response> + Send {
    // Split here, not inside the future, so the future does not keep the whole request as
    // well as its parts.
    let (parts, body) = request.into_parts();
    async move {
        let bytes: Bytes = match axum::body::to_bytes(body, endpoint.max_body_bytes()).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return crate::core::response::message_response(
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large",
                )
                .map(axum::body::Body::from);
            }
        };
        let request = Request::from_parts(parts, bytes);
        if endpoint.streaming() {
            // docs/protocol.md §7.11: calls answer `201` and keep the connection alive.
            // Boxed, so this future stays the size it is without streaming (futures are
            // moved, and a larger one costs a larger copy on every call).
            Box::pin(endpoint.handle_streaming(request))
                .await
                .map(axum::body::Body::new)
        } else {
            endpoint.handle(request).await.map(axum::body::Body::from)
        }
    }
}
