//! The floor server of `bench/run.sh`: reads the body, checks it is JSON, and answers a
//! fixed response with the same headers as an SDK (docs/protocol.md §4.1). Nothing an SDK endpoint
//! does can be cheaper than this on the same stack (tokio multi-thread runtime, hyper,
//! axum), so `ours / floor` is the share of the hardware our SDK leaves on the table.
//!
//! `POST /api/inngest?…&status=206` answers `206` with a one-op body like a discovery call;
//! any other query answers `200` with a final call's body. `PORT` sets the port.
//!
//! `FLOOR_PARSE=value` makes it parse the body into a `serde_json::Value` instead (what a
//! bare axum handler taking `Json<Value>` does): a second reference, `floor-dom` in
//! `bench/load.py`, never the floor of record.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

const FINAL: &[u8] = br#"{"body":"ok","name":"tests/step.test"}"#;
const DISCOVERY: &[u8] = br#"[{"id":"98bf98df193bcce7c33e6bc50927cf2ac21206cb","op":"StepRun","name":"first step","displayName":"first step","data":"first step"}]"#;

async fn call(State(dom): State<bool>, RawQuery(query): RawQuery, body: Bytes) -> Response {
    // By default a full syntax check of the body without building anything: the least
    // parsing any SDK must do before it can answer.
    let parsed = if dom {
        serde_json::from_slice::<serde_json::Value>(&body).map(drop)
    } else {
        serde_json::from_slice::<serde::de::IgnoredAny>(&body).map(drop)
    };
    if parsed.is_err() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let discovery = query.is_some_and(|q| q.split('&').any(|kv| kv == "status=206"));
    let (status, body) = if discovery {
        (StatusCode::PARTIAL_CONTENT, DISCOVERY)
    } else {
        (StatusCode::OK, FINAL)
    };
    let sdk = HeaderValue::from_static("inngest-rs:v0.1.0");
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (HeaderName::from_static("x-inngest-sdk"), sdk.clone()),
            (header::USER_AGENT, sdk),
            (
                HeaderName::from_static("x-inngest-req-version"),
                HeaderValue::from_static("2"),
            ),
            (
                HeaderName::from_static("x-inngest-sdk-handled"),
                HeaderValue::from_static("true"),
            ),
        ],
        body,
    )
        .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dom = std::env::var("FLOOR_PARSE").is_ok_and(|v| v == "value");
    let app = axum::Router::new()
        .route("/api/inngest", post(call))
        .with_state(dom);
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    eprintln!(
        "floor listening on http://{}/api/inngest",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
