//! The one stand-in for Inngest's event API (`POST /e/{key}`): records what the app sends,
//! drops a repeated event id like Inngest does, and can be told to fail the next requests.
//! It runs on its own port ([`InngestStandIn::start`], the webhook tests) or inside the
//! vendor stand-in ([`InngestStandIn::at`], `crate::stand_in`).

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

/// An event as the stand-in received it; `data` keeps the exact bytes sent.
#[derive(Debug, Clone)]
pub(crate) struct ReceivedEvent {
    pub(crate) name: String,
    pub(crate) id: Option<String>,
    pub(crate) data: String,
}

/// What the next requests should meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Answer 500.
    ServerError,
    /// Answer 400.
    Rejected,
    /// Never answer.
    Hang,
}

#[derive(Debug, Default)]
struct InngestState {
    /// Failures to inflict on the next requests, in order.
    failures: Vec<Failure>,
    /// Every request, failed or not.
    requests: usize,
    /// Events accepted as new: Inngest drops a repeated id within 24 h, and so do we.
    accepted: Vec<ReceivedEvent>,
    /// Events accepted but dropped as duplicates of an earlier id.
    duplicates: Vec<ReceivedEvent>,
}

/// Records `POST /e/{key}` bodies like Inngest's event API, dedupes by event id, and can be
/// told to fail the next requests.
#[derive(Debug, Clone)]
pub(crate) struct InngestStandIn {
    pub(crate) url: String,
    state: Arc<Mutex<InngestState>>,
}

impl InngestStandIn {
    /// The event API on its own port (`{url}/e/{key}`).
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a stand-in");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let stand_in = InngestStandIn::at(url);
        let router = Router::new()
            .route("/e/{key}", post(receive_events))
            .with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        stand_in
    }

    /// The event API served by another stand-in at `url`, which hands it its requests
    /// through [`InngestStandIn::receive`].
    pub(crate) fn at(url: String) -> Self {
        InngestStandIn {
            url,
            state: Arc::new(Mutex::new(InngestState::default())),
        }
    }

    /// The next requests meet these failures, then requests succeed again.
    pub(crate) fn fail_next(&self, failures: &[Failure]) {
        self.lock().failures = failures.to_vec();
    }

    /// Events accepted as new (duplicates excluded).
    pub(crate) fn accepted(&self) -> Vec<ReceivedEvent> {
        self.lock().accepted.clone()
    }

    /// Events the stand-in dropped as duplicates of an accepted id.
    pub(crate) fn duplicates(&self) -> Vec<ReceivedEvent> {
        self.lock().duplicates.clone()
    }

    /// How many requests reached the stand-in.
    pub(crate) fn requests(&self) -> usize {
        self.lock().requests
    }

    /// Nothing was sent at all (not even a failed attempt).
    pub(crate) fn assert_nothing_sent(&self) {
        assert_eq!(self.requests(), 0, "no request reached Inngest");
        assert!(self.accepted().is_empty());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InngestState> {
        self.state.lock().expect("stand-in state")
    }
}

#[derive(Deserialize)]
struct WireEvent<'a> {
    name: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(borrow)]
    data: &'a RawValue,
}

async fn receive_events(
    State(stand_in): State<InngestStandIn>,
    Path(_key): Path<String>,
    body: Bytes,
) -> Response {
    stand_in.receive(&body).await
}

impl InngestStandIn {
    /// Answers one `POST /e/{key}` with `body`, as Inngest's event API would.
    pub(crate) async fn receive(&self, body: &[u8]) -> Response {
        let state = &self.state;
        let failure = {
            let mut state = state.lock().expect("stand-in state");
            state.requests += 1;
            (!state.failures.is_empty()).then(|| state.failures.remove(0))
        };
        match failure {
            Some(Failure::Hang) => return std::future::pending::<Response>().await,
            Some(Failure::ServerError) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "stand-in failure"})),
                )
                    .into_response();
            }
            Some(Failure::Rejected) => {
                return (StatusCode::BAD_REQUEST, Json(json!({"error": "bad event"})))
                    .into_response();
            }
            None => {}
        }
        let Ok(events) = serde_json::from_slice::<Vec<WireEvent<'_>>>(body) else {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "not an event array"})),
            )
                .into_response();
        };
        let mut state = state.lock().expect("stand-in state");
        let mut ids = Vec::new();
        for event in events {
            let received = ReceivedEvent {
                name: event.name,
                id: event.id,
                data: event.data.get().to_owned(),
            };
            let duplicate =
                received.id.is_some() && state.accepted.iter().any(|e| e.id == received.id);
            ids.push(format!("01J-internal-{}", state.requests));
            if duplicate {
                state.duplicates.push(received);
            } else {
                state.accepted.push(received);
            }
        }
        Json(json!({"ids": ids, "status": 200})).into_response()
    }
}
