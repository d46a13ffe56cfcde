//! `step.fetch` (docs/protocol.md §8.8): an HTTP request the executor makes on the run's
//! behalf, so a slow request costs no worker time, and whose response is memoized.

use std::collections::BTreeMap;
use std::future::{Future, pending};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Registration, Step, decode_run_memo};
use crate::core::op::{Op, OpCode, OpOpts, RawOpts};
use crate::error::StepError;

/// A request for [`Step::fetch`]. Header values are sent as they are: do not put secrets
/// in them that should not be stored in the run's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchRequest {
    url: String,
    method: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, String>,
    body: String,
}

impl FetchRequest {
    /// A `GET` of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        FetchRequest {
            url: url.into(),
            method: "GET".into(),
            headers: BTreeMap::new(),
            body: String::new(),
        }
    }

    /// A `POST` of `body` to `url`.
    pub fn post(url: impl Into<String>, body: impl Into<String>) -> Self {
        FetchRequest {
            method: "POST".into(),
            body: body.into(),
            ..FetchRequest::get(url)
        }
    }

    /// A `POST` of `body` as JSON (with `Content-Type: application/json`).
    pub fn post_json<T: Serialize + ?Sized>(
        url: impl Into<String>,
        body: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(FetchRequest::post(url, serde_json::to_string(body)?)
            .header("content-type", "application/json"))
    }

    /// Sets the method (`PUT`, `DELETE`, …).
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = method.into();
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
}

/// The response the executor got for a [`Step::fetch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    /// HTTP status.
    pub status_code: u16,
    /// Response headers (one value per name).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body, as text.
    #[serde(default)]
    pub body: String,
    /// The URL requested.
    #[serde(default)]
    pub url: String,
}

impl FetchResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status_code)
    }

    /// The body decoded as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.body)
    }
}

impl Step {
    /// Makes an HTTP request through the executor (docs/protocol.md §8.8 `Gateway`) and
    /// resolves to its response, memoized like a step's output. Any status is a response;
    /// a request the executor could not make at all resolves to a [`StepError`].
    pub fn fetch(
        &self,
        id: &str,
        request: FetchRequest,
    ) -> impl Future<Output = Result<FetchResponse, StepError>> + Send + 'static {
        let registration = self.register_other(id, || {
            let mut op = Op::new(OpCode::Gateway, String::new(), id);
            op.opts = serde_json::value::to_raw_value(&request)
                .ok()
                .map(|raw| OpOpts::Json(RawOpts(raw)));
            op
        });
        let user_id = id.to_owned();
        async move {
            match registration {
                Registration::Memoized(raw) => decode_run_memo(&user_id, raw.get()),
                Registration::Ran(_) | Registration::Execute(_) | Registration::Park(_) => {
                    pending().await
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetch_request_serializes_as_the_gateway_opts() {
        let request = FetchRequest::post_json("http://127.0.0.1:9/x", &serde_json::json!({"a": 1}))
            .expect("json")
            .header("x-trace", "t1");
        assert_eq!(
            serde_json::to_string(&request).expect("serializes"),
            r#"{"url":"http://127.0.0.1:9/x","method":"POST","headers":{"content-type":"application/json","x-trace":"t1"},"body":"{\"a\":1}"}"#
        );
    }

    #[test]
    fn a_memoized_gateway_response_decodes() {
        let response: FetchResponse = decode_run_memo(
            "f",
            r#"{"data":{"url":"http://x","status_code":201,"headers":{"a":"b"},"body":"{\"ok\":true}"}}"#,
        )
        .expect("decodes");
        assert!(response.is_success());
        assert_eq!(
            response.json::<serde_json::Value>().expect("json")["ok"],
            true
        );
    }
}
