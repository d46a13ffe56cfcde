//! Responses of the serve endpoint: status codes, headers and bodies (docs/protocol.md §4.1,
//! §7.5).

use std::sync::LazyLock;

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use super::op::Op;
use super::wire::ErrorBody;

/// The SDK name and version, `inngest-rs:v<semver>` (docs/protocol.md §4.1: exactly one `:`).
pub const SDK_HEADER_VALUE: &str = concat!("inngest-rs:v", env!("CARGO_PKG_VERSION"));
/// The SDK version without `v`.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Language reported in introspection and in-band sync.
pub const SDK_LANGUAGE: &str = "rust";
/// The execution/hashing version this SDK implements (docs/protocol.md §7.9).
pub const REQUEST_VERSION: i64 = 2;

/// Header names of the protocol (docs/protocol.md §4).
pub mod headers {
    use http::HeaderName;

    /// `X-Inngest-SDK`.
    pub const SDK: HeaderName = HeaderName::from_static("x-inngest-sdk");
    /// `X-Inngest-Req-Version`.
    pub const REQ_VERSION: HeaderName = HeaderName::from_static("x-inngest-req-version");
    /// `X-Inngest-SDK-Handled`.
    pub const SDK_HANDLED: HeaderName = HeaderName::from_static("x-inngest-sdk-handled");
    /// `X-Inngest-No-Retry`.
    pub const NO_RETRY: HeaderName = HeaderName::from_static("x-inngest-no-retry");
    /// `X-Inngest-Signature`.
    pub const SIGNATURE: HeaderName = HeaderName::from_static("x-inngest-signature");
    /// `X-Inngest-Sync-Kind`.
    pub const SYNC_KIND: HeaderName = HeaderName::from_static("x-inngest-sync-kind");
    /// `X-Inngest-Server-Kind`.
    pub const SERVER_KIND: HeaderName = HeaderName::from_static("x-inngest-server-kind");
    /// `X-Inngest-Expected-Server-Kind`.
    pub const EXPECTED_SERVER_KIND: HeaderName =
        HeaderName::from_static("x-inngest-expected-server-kind");
    /// `X-Inngest-Env`.
    pub const ENV: HeaderName = HeaderName::from_static("x-inngest-env");
    /// `X-Inngest-Framework`.
    pub const FRAMEWORK: HeaderName = HeaderName::from_static("x-inngest-framework");
    /// `X-Inngest-Platform`.
    pub const PLATFORM: HeaderName = HeaderName::from_static("x-inngest-platform");
    /// `X-Inngest-Event-Id-Seed`.
    pub const EVENT_ID_SEED: HeaderName = HeaderName::from_static("x-inngest-event-id-seed");
    /// `Retry-After`.
    pub const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");
}

/// What a call request produced, ready to become a response (docs/protocol.md §7.5).
#[derive(Debug)]
pub enum CallResponse {
    /// The function returned: `200` with the JSON of its return value.
    Complete(Vec<u8>),
    /// Steps were found or one was executed: `206` with the ops.
    Ops {
        /// The ops, in discovery order.
        ops: Vec<Op>,
        /// `X-Inngest-No-Retry` when the ops carry a step error.
        no_retry: Option<bool>,
        /// `Retry-After` for a retriable step error.
        retry_after: Option<String>,
    },
    /// The function raised: `500` (retriable) or `400` (not retriable).
    Error {
        /// The error.
        body: ErrorBody,
        /// Whether the executor may retry.
        retriable: bool,
        /// `Retry-After` (seconds or RFC 3339).
        retry_after: Option<String>,
    },
    /// A targeted step was not reached: `500`, retriable (docs/protocol.md §7.13).
    StepNotFound {
        /// The hashed id that was requested.
        requested: String,
        /// Hashed ids of the unmemoized steps that were found instead.
        found: Vec<String>,
    },
}

impl CallResponse {
    /// Encodes the response with the SDK headers.
    pub fn into_http(self) -> Response<Vec<u8>> {
        match self {
            CallResponse::Complete(body) => json_response(StatusCode::OK, body),
            CallResponse::Ops {
                ops,
                no_retry,
                retry_after,
            } => {
                let mut res = json_response(StatusCode::PARTIAL_CONTENT, to_json(&ops));
                if let Some(no_retry) = no_retry {
                    set_no_retry(&mut res, no_retry);
                }
                set_retry_after(&mut res, retry_after.as_deref());
                res
            }
            CallResponse::Error {
                body,
                retriable,
                retry_after,
            } => {
                let status = if retriable {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::BAD_REQUEST
                };
                let mut res = json_response(status, to_json(&body));
                set_no_retry(&mut res, !retriable);
                if retriable {
                    set_retry_after(&mut res, retry_after.as_deref());
                }
                res
            }
            CallResponse::StepNotFound { requested, found } => {
                #[derive(Serialize)]
                struct Body<'a> {
                    error: &'a str,
                    #[serde(rename = "requestedStep")]
                    requested_step: &'a str,
                    #[serde(rename = "foundSteps")]
                    found_steps: &'a [String],
                }
                let body = to_json(&Body {
                    error: "Could not find the requested step; the function's code may have changed",
                    requested_step: &requested,
                    found_steps: &found,
                });
                let mut res = json_response(StatusCode::INTERNAL_SERVER_ERROR, body);
                set_no_retry(&mut res, false);
                res
            }
        }
    }
}

/// The JSON envelope that ends a streamed call (docs/protocol.md §7.11):
/// `{"status": …, "headers": {…}, "body": "<the body as a JSON string>"}`. The executor
/// applies it as if `res` had been the response: it looks the headers up by lower-case
/// name (our names are lower-case already) and decodes a string body back to the exact
/// bytes, so the run sees the same answer as without streaming.
pub fn stream_envelope(res: &Response<Vec<u8>>) -> Vec<u8> {
    #[derive(Serialize)]
    struct Envelope<'a> {
        status: u16,
        headers: std::collections::BTreeMap<&'a str, &'a str>,
        body: std::borrow::Cow<'a, str>,
    }
    let headers = res
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    to_json(&Envelope {
        status: res.status().as_u16(),
        headers,
        // Our bodies are JSON, hence UTF-8; lossy only guards against a broken invariant.
        body: String::from_utf8_lossy(res.body()),
    })
}

/// A JSON response with the SDK headers every response carries (docs/protocol.md §4.1).
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Vec<u8>> {
    /// The headers, built once: cloning the map costs a fraction of building it.
    static HEADERS: LazyLock<HeaderMap> = LazyLock::new(|| {
        const SDK: HeaderValue = HeaderValue::from_static(SDK_HEADER_VALUE);
        let mut h = HeaderMap::with_capacity(8);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(headers::SDK, SDK);
        h.insert(header::USER_AGENT, SDK);
        h.insert(headers::REQ_VERSION, HeaderValue::from_static("2"));
        h.insert(headers::SDK_HANDLED, TRUE);
        h
    });
    let mut res = Response::new(body);
    *res.status_mut() = status;
    *res.headers_mut() = HEADERS.clone();
    res
}

const TRUE: HeaderValue = HeaderValue::from_static("true");
const FALSE: HeaderValue = HeaderValue::from_static("false");

/// `{"message": …}` with this status and the SDK headers.
pub fn message_response(status: StatusCode, message: &str) -> Response<Vec<u8>> {
    #[derive(Serialize)]
    struct Body<'a> {
        message: &'a str,
    }
    json_response(status, to_json(&Body { message }))
}

/// `401 {"message":"Unauthorized"}` without the headers that identify the SDK, so an
/// unauthenticated caller cannot fingerprint the deployment (docs/protocol.md §3.1).
pub fn unauthorized() -> Response<Vec<u8>> {
    let mut res = Response::new(br#"{"message":"Unauthorized"}"#.to_vec());
    *res.status_mut() = StatusCode::UNAUTHORIZED;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res.headers_mut()
        .insert(headers::SDK_HANDLED, HeaderValue::from_static("true"));
    res
}

/// Compact JSON of a value whose serialization cannot fail (no maps with non-string keys,
/// no failing `Serialize` impls).
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("protocol types always serialize")
}

fn set_no_retry(res: &mut Response<Vec<u8>>, no_retry: bool) {
    let value = if no_retry { TRUE } else { FALSE };
    res.headers_mut().insert(headers::NO_RETRY, value);
}

fn set_retry_after(res: &mut Response<Vec<u8>>, retry_after: Option<&str>) {
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        res.headers_mut().insert(headers::RETRY_AFTER, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::op::OpCode;

    fn header<'a>(res: &'a Response<Vec<u8>>, name: &str) -> Option<&'a str> {
        res.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn every_response_identifies_the_sdk() {
        let res = CallResponse::Complete(b"null".to_vec()).into_http();
        assert_eq!(res.status(), 200);
        let sdk = header(&res, "x-inngest-sdk").expect("sdk header");
        assert_eq!(sdk.matches(':').count(), 1);
        assert!(sdk.starts_with("inngest-rs:v"));
        assert_eq!(header(&res, "x-inngest-req-version"), Some("2"));
        assert_eq!(header(&res, "content-type"), Some("application/json"));
    }

    #[test]
    fn the_stream_envelope_carries_status_lower_case_headers_and_the_body_as_a_string() {
        let res = CallResponse::Error {
            body: ErrorBody {
                name: "Error".into(),
                message: "say \"no\"".into(),
                stack: None,
            },
            retriable: false,
            retry_after: None,
        }
        .into_http();
        let envelope: serde_json::Value =
            serde_json::from_slice(&stream_envelope(&res)).expect("JSON");
        assert_eq!(envelope["status"], 400);
        assert_eq!(envelope["headers"]["x-inngest-no-retry"], "true");
        assert_eq!(envelope["headers"]["x-inngest-req-version"], "2");
        let body = envelope["body"].as_str().expect("a string body");
        assert_eq!(body.as_bytes(), res.body().as_slice());
    }

    #[test]
    fn retriable_function_error_is_500_with_no_retry_false() {
        let res = CallResponse::Error {
            body: ErrorBody {
                name: "Error".into(),
                message: "broken func".into(),
                stack: None,
            },
            retriable: true,
            retry_after: Some("30".into()),
        }
        .into_http();
        assert_eq!(res.status(), 500);
        assert_eq!(header(&res, "x-inngest-no-retry"), Some("false"));
        assert_eq!(header(&res, "retry-after"), Some("30"));
        assert_eq!(res.body(), br#"{"name":"Error","message":"broken func"}"#);
    }

    #[test]
    fn non_retriable_function_error_is_400_with_no_retry_true() {
        let res = CallResponse::Error {
            body: ErrorBody {
                name: "Error".into(),
                message: "nope".into(),
                stack: None,
            },
            retriable: false,
            retry_after: None,
        }
        .into_http();
        assert_eq!(res.status(), 400);
        assert_eq!(header(&res, "x-inngest-no-retry"), Some("true"));
    }

    #[test]
    fn ops_are_a_compact_json_array_with_206() {
        let res = CallResponse::Ops {
            ops: vec![Op::new(OpCode::StepPlanned, "h", "a")],
            no_retry: None,
            retry_after: None,
        }
        .into_http();
        assert_eq!(res.status(), 206);
        assert_eq!(
            res.body(),
            br#"[{"id":"h","op":"StepPlanned","name":"a","displayName":"a","data":null}]"#
        );
        assert!(res.headers().get("x-inngest-no-retry").is_none());
    }

    #[test]
    fn unauthorized_hides_the_sdk_identity() {
        let res = unauthorized();
        assert_eq!(res.status(), 401);
        assert!(res.headers().get("x-inngest-sdk").is_none());
        assert_eq!(res.body(), br#"{"message":"Unauthorized"}"#);
    }
}
