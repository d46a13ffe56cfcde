//! `Gateway` and `AIGateway` ops (docs/protocol.md §8.8, §8.9): like the real executor, the
//! fake makes the HTTP request itself, after the call that reported the op, then memoizes
//! the result in the shape the real server stores and calls the app back.
//!
//! What the real server does, and so the fake (§8.8, §8.9):
//! - `Gateway`: any status is a response, memoized as `{"data": {"url", "status_code",
//!   "headers", "body"}}` (header names canonical, `Content-Type`, one value per name).
//! - `AIGateway` (`openai-chat`): the request is a `POST` of `opts.body` with
//!   `Authorization: Bearer <auth_key>` and `Content-Type: application/json`; a `2xx`
//!   answer is memoized as `{"data": <the model's JSON>}`.
//! - A target that cannot be reached, or (AI only) a non-`2xx` answer, is a step error:
//!   the call is made again with `ctx.attempt + 1` (the app reports the op again and the
//!   request is repeated) until the function's attempts are used up; then the step is
//!   memoized as `{"error": …}` (`GatewayError` / `AIGatewayError`) and the run discovers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::calls::{Retry, opt_str};
use super::ix::RunIx;
use super::{Outcome, Pending, State, StepDone};
use crate::testing::record::{GatewayKind, GatewayRecord, StepKind};

/// The message the real server stores when it cannot reach a `Gateway` target.
const FETCH_UNREACHABLE: &str = "Error making gateway request: Unable to reach SDK URL";
/// The same for an `AIGateway` target.
const AI_UNREACHABLE: &str = "Error making AI request: Unable to reach SDK URL";

/// A request to make for a `Gateway` / `AIGateway` op.
pub(crate) struct GatewayJob {
    run: RunIx,
    /// Index of the call (in the run's records) that reported the op.
    call: usize,
    hash: String,
    name: String,
    retry: Retry,
    pub(crate) request: GatewayRequest,
}

/// What to send. No `Debug`: an AI request holds the model's API key.
pub(crate) struct GatewayRequest {
    kind: GatewayKind,
    method: String,
    url: String,
    headers: BTreeMap<String, String>,
    body: String,
    /// `AIGateway`: sent as `Authorization: Bearer …`, never recorded.
    auth_key: Option<String>,
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

impl State {
    /// Accepts a `Gateway` / `AIGateway` op of the call just applied: the step is pending
    /// until [`State::finish_gateway`].
    pub(super) fn gateway_op(
        &mut self,
        run: RunIx,
        retry: &Retry,
        hash: String,
        name: String,
        op: &Value,
        kind: GatewayKind,
    ) -> Result<(), String> {
        let request = gateway_request(op, kind, &name)?;
        let r = &mut self.runs[run];
        r.pending.insert(hash.clone(), Pending::Gateway);
        self.gateway_jobs.push(GatewayJob {
            run,
            call: r.calls.len().saturating_sub(1),
            hash,
            name,
            retry: Retry {
                retry_after: None,
                ..retry.clone()
            },
            request,
        });
        Ok(())
    }

    /// The requests to make, in the order their ops came.
    pub(crate) fn take_gateway_jobs(&mut self) -> Vec<GatewayJob> {
        std::mem::take(&mut self.gateway_jobs)
    }

    /// Records a request's outcome and memoizes it (or retries the call), as the real
    /// server does.
    pub(crate) fn finish_gateway(
        &mut self,
        job: GatewayJob,
        outcome: GatewayOutcome,
        now: DateTime<Utc>,
    ) {
        let GatewayJob {
            run,
            call,
            hash,
            name,
            retry,
            request,
        } = job;
        let (status, error) = match &outcome {
            GatewayOutcome::Response { status, .. } => (Some(*status), None),
            GatewayOutcome::Unreachable => (None, Some("the target could not be reached")),
        };
        if let Some(record) = self.runs[run].calls.get_mut(call) {
            record.gateway.push(GatewayRecord {
                step_id: name.clone(),
                kind: request.kind,
                method: request.method.clone(),
                url: request.url.clone(),
                headers: request.headers.clone(),
                body: request.body.clone(),
                status,
                error: error.map(str::to_owned),
                at: now,
            });
        }
        // A run that ended meanwhile (cancelled, say) takes no result.
        let r = &self.runs[run];
        if !matches!(r.outcome, Outcome::Active) || !r.pending.contains_key(&hash) {
            return;
        }
        let attempts = retry.attempt + 1;
        let step_kind = match request.kind {
            GatewayKind::Fetch => StepKind::Fetch,
            GatewayKind::AiInfer => StepKind::AiInfer,
        };
        let result = match (request.kind, outcome) {
            (
                GatewayKind::Fetch,
                GatewayOutcome::Response {
                    status,
                    headers,
                    body,
                },
            ) => Ok(json!({
                "url": request.url,
                "status_code": status,
                "headers": headers,
                "body": body,
            })),
            (GatewayKind::Fetch, GatewayOutcome::Unreachable) => Err(json!({
                "name": "GatewayError",
                "message": FETCH_UNREACHABLE,
            })),
            (GatewayKind::AiInfer, GatewayOutcome::Response { status, body, .. }) => {
                let data = serde_json::from_str::<Value>(&body)
                    .unwrap_or_else(|_| Value::String(body.clone()));
                if (200..300).contains(&status) {
                    Ok(data)
                } else {
                    Err(json!({
                        "name": "AIGatewayError",
                        "message": format!("Error making AI request: unsuccessful status code: {status}"),
                        "data": data,
                        "stack": body,
                    }))
                }
            }
            (GatewayKind::AiInfer, GatewayOutcome::Unreachable) => {
                let data = json!({"error": "Error making AI request"});
                Err(json!({
                    "name": "AIGatewayError",
                    "message": AI_UNREACHABLE,
                    "stack": data.to_string(),
                    "data": data,
                }))
            }
        };
        match result {
            Ok(data) => {
                let step = StepDone::new(&hash, name, step_kind)
                    .output(json!({ "data": data }), data)
                    .attempts(attempts);
                self.complete_step(run, step, now);
            }
            // A step error: the call again, until the attempts are used up.
            Err(_) if attempts < self.runs[run].max_attempts => {
                self.runs[run].pending.remove(&hash);
                // Two failed ops of one call repeat that call once.
                let queued = self.queue.iter().any(|q| {
                    q.run == run && q.step == retry.step && q.attempt == retry.attempt + 1
                });
                if !queued {
                    self.retry(run, retry, now);
                }
            }
            Err(error) => {
                let step = StepDone::new(&hash, name, step_kind)
                    .error(error)
                    .attempts(attempts);
                self.complete_step(run, step, now);
            }
        }
    }
}

/// The request an op asks for, from its `opts`.
fn gateway_request(op: &Value, kind: GatewayKind, name: &str) -> Result<GatewayRequest, String> {
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

/// A 206 body as recorded: every `AIGateway` op's `opts.auth_key` replaced, so the key
/// never reaches a record (nor a `Debug` print of one).
pub(super) fn redacted(body: &Value) -> Value {
    let mut body = body.clone();
    let ops: Vec<&mut Value> = match &mut body {
        Value::Array(ops) => ops.iter_mut().collect(),
        op @ Value::Object(_) => vec![op],
        _ => Vec::new(),
    };
    for op in ops {
        if let Some(key) = op.pointer_mut("/opts/auth_key") {
            *key = Value::String("[redacted]".into());
        }
    }
    body
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

    #[test]
    fn recorded_bodies_carry_no_auth_key() {
        let body = json!([{"op": "AIGateway", "opts": {"auth_key": "sk-secret", "url": "u"}}]);
        let recorded = redacted(&body);
        assert!(!recorded.to_string().contains("sk-secret"), "{recorded}");
        assert_eq!(recorded[0]["opts"]["url"], "u");
    }
}
