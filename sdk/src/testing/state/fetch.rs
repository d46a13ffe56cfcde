//! The HTTP side of `Gateway` and `AIGateway` ops (docs/protocol.md §8.8, §8.9): the request
//! an op asks for, making it, and what came of it. `gateway.rs` applies the outcome to a run.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ix::RunIx;
use super::ops::{Retry, opt_str};
use crate::testing::record::GatewayKind;

/// A request to make for a `Gateway` / `AIGateway` op.
pub(crate) struct GatewayJob {
    pub(super) run: RunIx,
    /// Index of the call (in the run's records) that reported the op.
    pub(super) call: usize,
    pub(super) hash: String,
    pub(super) name: String,
    pub(super) retry: Retry,
    pub(crate) request: GatewayRequest,
}

/// What to send. No `Debug`: an AI request holds the model's API key.
pub(crate) struct GatewayRequest {
    pub(super) kind: GatewayKind,
    pub(super) method: String,
    pub(super) url: String,
    pub(super) headers: BTreeMap<String, String>,
    pub(super) body: String,
    /// `AIGateway`: sent as `Authorization: Bearer …`, never recorded.
    pub(super) auth_key: Option<String>,
}

/// What came of a request.
pub(crate) enum GatewayOutcome {
    /// The target answered.
    Response {
        status: u16,
        headers: BTreeMap<String, String>,
        body: String,
    },
    /// The request could not be made (connection refused, timeout, …).
    Unreachable,
}

/// The request an op asks for, from its `opts`.
pub(super) fn gateway_request(
    op: &Value,
    kind: GatewayKind,
    name: &str,
) -> Result<GatewayRequest, String> {
    let what = match kind {
        GatewayKind::Fetch => "Gateway",
        GatewayKind::AiInfer => "AIGateway",
    };
    let url = opt_str(op, "url")
        .filter(|url| !url.is_empty())
        .ok_or_else(|| format!("{what} {name:?} has no opts.url"))?
        .to_owned();
    let mut headers: BTreeMap<String, String> = op
        .pointer("/opts/headers")
        .and_then(Value::as_object)
        .map(|headers| {
            headers
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    match kind {
        GatewayKind::Fetch => Ok(GatewayRequest {
            kind,
            // The executor's default (docs/protocol.md §8.8).
            method: opt_str(op, "method").unwrap_or("POST").to_uppercase(),
            url,
            headers,
            body: opt_str(op, "body").unwrap_or("").to_owned(),
            auth_key: None,
        }),
        GatewayKind::AiInfer => {
            let format = opt_str(op, "format").unwrap_or("");
            if format != "openai-chat" {
                return Err(format!(
                    "AIGateway {name:?}: the format {format:?} is not modelled by the fake executor"
                ));
            }
            headers
                .entry("Content-Type".into())
                .or_insert_with(|| "application/json".into());
            let body = op.pointer("/opts/body").cloned().unwrap_or(Value::Null);
            Ok(GatewayRequest {
                kind,
                method: "POST".into(),
                url,
                headers,
                body: body.to_string(),
                auth_key: opt_str(op, "auth_key").map(str::to_owned),
            })
        }
    }
}

/// Makes the request (no state lock is held: this is real I/O).
pub(crate) async fn perform(http: &reqwest::Client, request: &GatewayRequest) -> GatewayOutcome {
    let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
        return GatewayOutcome::Unreachable;
    };
    let mut builder = http
        .request(method, &request.url)
        .body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(key) = &request.auth_key {
        builder = builder.bearer_auth(key);
    }
    let Ok(response) = builder.send().await else {
        return GatewayOutcome::Unreachable;
    };
    let status = response.status().as_u16();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(canonical_header(name.as_str()))
            .and_modify(|seen| {
                seen.push_str(", ");
                seen.push_str(&value);
            })
            .or_insert(value);
    }
    match response.bytes().await {
        Ok(body) => GatewayOutcome::Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        },
        Err(_) => GatewayOutcome::Unreachable,
    }
}

/// `content-type` → `Content-Type`, as the real server's response headers are named.
fn canonical_header(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let c = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical_header("content-type"), "Content-Type");
        assert_eq!(canonical_header("x-stand-in"), "X-Stand-In");
        assert_eq!(canonical_header("ETAG"), "Etag");
    }
}
