//! Events: what triggers functions, what waits receive, and what [`Client::send`] sends.
//!
//! [`Client::send`]: crate::Client::send

use serde::{Deserialize, Serialize};

use crate::core::wire::ErrorBody;

/// An Inngest event with typed `data` (docs/protocol.md §8.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<T = serde_json::Value> {
    /// Event name, e.g. `shop/order.created`.
    pub name: String,
    /// The payload (an object on the wire).
    pub data: T,
    /// Idempotency id: another event with the same id within 24 h triggers nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Unix milliseconds; the server fills it in when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    /// Optional schema version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<String>,
}

impl<T> Event<T> {
    /// An event with this name and data.
    pub fn new(name: impl Into<String>, data: T) -> Self {
        Event {
            name: name.into(),
            data,
            id: None,
            ts: None,
            v: None,
        }
    }

    /// Sets the idempotency id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the timestamp (Unix milliseconds).
    pub fn ts(mut self, ts: i64) -> Self {
        self.ts = Some(ts);
        self
    }
}

/// The data of the `inngest/function.failed` event an on-failure handler receives
/// (docs/protocol.md §8.3, §8.4), with the original event typed like the function's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionFailed<T = serde_json::Value> {
    /// Composite id of the function that failed.
    pub function_id: String,
    /// Id of the failed run.
    pub run_id: String,
    /// The final error.
    pub error: ErrorBody,
    /// The event that triggered the failed run.
    pub event: Event<T>,
}
