//! The fake's loopback HTTP server: the parts of the Inngest API an app calls (docs/protocol.md
//! §6.2, §7.10, §8.2). Handlers only record; runs move when the test drives them.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State as AxumState};
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::record::{CheckpointRecord, EventSource};
use super::shared::Shared;

/// The route table.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/e/{key}", post(receive_events))
        .route("/fn/register", post(register_functions))
        .route("/v0/runs/{run_id}/batch", get(run_batch))
        .route("/v0/runs/{run_id}/actions", get(run_actions))
        .route("/v1/checkpoint/{run_id}/async", post(checkpoint_async))
        .route("/v1/signals", post(receive_signal))
        .with_state(shared)
}

/// `POST /v1/signals` (docs/protocol.md §8.7): `{"signal", "data"}` resumes the run waiting
/// for the signal; `404` when none does.
async fn receive_signal(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !shared.authorized(&headers) {
        return json(StatusCode::UNAUTHORIZED, &json!({"error": "unauthorized"}));
    }
    let body = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let Some(signal) = body.get("signal").and_then(Value::as_str) else {
        return json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "the body has no signal"}),
        );
    };
    let data = body.get("data").cloned().unwrap_or(Value::Null);
    let now = shared.clock.now();
    match shared.lock().receive_signal(signal, data, now) {
        Some(run_id) => json(StatusCode::OK, &json!({"data": {"run_id": run_id}})),
        None => json(
            StatusCode::NOT_FOUND,
            &json!({"error": "No signal found", "data": null, "status": 404}),
        ),
    }
}

/// `POST /e/{key}`: one event or an array (docs/protocol.md §8.2). Any key is accepted.
async fn receive_events(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(_key): Path<String>,
    body: Bytes,
) -> Response {
    let events = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(events)) => events,
        Ok(event @ Value::Object(_)) => vec![event],
        _ => {
            return json(
                StatusCode::BAD_REQUEST,
                &json!({"ids": [], "status": 400, "error": "the body is not an event or an array of events"}),
            );
        }
    };
    for event in &events {
        let name = event.get("name").and_then(Value::as_str).unwrap_or("");
        let error = if name.is_empty() {
            Some("an event has no name".to_owned())
        } else if name.to_ascii_lowercase().starts_with("inngest/") {
            // docs/protocol.md §8.1: internal event names are reserved.
            Some(format!(
                "event name {name:?} is reserved for internal events"
            ))
        } else if event
            .get("data")
            .is_some_and(|d| !d.is_object() && !d.is_null())
        {
            Some(format!("the data of event {name:?} is not an object"))
        } else {
            None
        };
        if let Some(error) = error {
            return json(
                StatusCode::BAD_REQUEST,
                &json!({"ids": [], "status": 400, "error": error}),
            );
        }
    }
    let now = shared.clock.now();
    let mut state = shared.lock();
    let ids: Vec<String> = events
        .into_iter()
        .map(|mut event| {
            // docs/protocol.md §8.1: `data._inngest` is stripped from incoming events.
            if let Some(data) = event.get_mut("data").and_then(Value::as_object_mut) {
                data.remove("_inngest");
            }
            let index = state.receive(event, EventSource::Api, now);
            state.event(index).internal_id.clone()
        })
        .collect();
    json(StatusCode::OK, &json!({"ids": ids, "status": 200}))
}

/// `POST /fn/register` (docs/protocol.md §6.2): the functions become callable at their
/// `runtime.url`.
async fn register_functions(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !shared.authorized(&headers) {
        return json(StatusCode::UNAUTHORIZED, &json!({"error": "unauthorized"}));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "the body is not JSON"}),
        );
    };
    let Some(url) = body.get("url").and_then(Value::as_str) else {
        return json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "the registration has no url"}),
        );
    };
    let mut state = shared.lock();
    let app = state.app(url, None);
    match state.register(app, body.get("functions").unwrap_or(&Value::Null)) {
        Ok(()) => {
            state.last_registered = Some(app);
            json(StatusCode::OK, &json!({"ok": true, "modified": true}))
        }
        Err(error) => json(StatusCode::BAD_REQUEST, &json!({"error": error})),
    }
}

/// `GET /v0/runs/{run_id}/batch` (docs/protocol.md §7.10): the run's events.
async fn run_batch(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(run_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    run_part(&shared, &run_id, "batch", &headers)
}

/// `GET /v0/runs/{run_id}/actions` (docs/protocol.md §7.10): the run's memoized steps.
async fn run_actions(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(run_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    run_part(&shared, &run_id, "actions", &headers)
}

fn run_part(shared: &Shared, run_id: &str, part: &str, headers: &HeaderMap) -> Response {
    let mut state = shared.lock();
    state
        .api_requests
        .push(format!("GET /v0/runs/{run_id}/{part}"));
    if !shared.authorized(headers) {
        return json(StatusCode::UNAUTHORIZED, &json!({"error": "unauthorized"}));
    }
    let Some(run) = state.run_index(run_id) else {
        return json(StatusCode::NOT_FOUND, &json!({"error": "run not found"}));
    };
    let body = if part == "batch" {
        Value::Array(state.run_events(run).to_vec())
    } else {
        Value::Object(state.run_memo(run).clone())
    };
    json(StatusCode::OK, &body)
}

/// `POST /v1/checkpoint/{run_id}/async` (docs/protocol.md §7.14): steps reported while a call is
/// in flight.
async fn checkpoint_async(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(run_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = shared.clock.now();
    let body = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let mut state = shared.lock();
    let result = if shared.authorized(&headers) {
        state.checkpoint(&run_id, &body, now)
    } else {
        Err((401, "unauthorized".into()))
    };
    let status = match &result {
        Ok(()) => 200,
        Err((status, _)) => *status,
    };
    state.checkpoints.push(CheckpointRecord {
        run_id,
        body,
        status,
    });
    match result {
        Ok(()) => json(StatusCode::OK, &json!({})),
        Err((status, error)) => json(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &json!({ "error": error }),
        ),
    }
}

fn json(status: StatusCode, body: &Value) -> Response {
    let mut res = Response::new(Body::from(body.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res
}
