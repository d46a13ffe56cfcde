//! The one place where errors become responses (docs/design.md §8 rules 3 and 4).
//!
//! Handlers return `Result<T, AppError>`. A client error says what was wrong; a server error
//! says little, and its cause chain is logged once, here, inside the request's span.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is wrong; the message is safe to show.
    #[error("{message}")]
    Client {
        /// The status (4xx).
        status: StatusCode,
        /// What was wrong, for the caller.
        message: String,
    },
    /// A dependency is unavailable; the caller should retry later.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Anything else: logged with its cause chain, answered with a generic 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// A client error with this status and message.
    pub fn client(status: StatusCode, message: impl Into<String>) -> Self {
        AppError::Client {
            status,
            message: message.into(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            AppError::Client { status, message } => {
                (*status, Json(ErrorBody { error: message })).into_response()
            }
            AppError::Unavailable(reason) => {
                tracing::warn!(%reason, "answering 503");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(ErrorBody {
                        error: "temporarily unavailable, retry later",
                    }),
                )
                    .into_response()
            }
            AppError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(ErrorBody {
                        error: "internal error",
                    }),
                )
                    .into_response()
            }
        }
    }
}
