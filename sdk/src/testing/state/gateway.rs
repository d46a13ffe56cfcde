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

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::fetch::{GatewayJob, GatewayOutcome, gateway_request};
use super::ix::RunIx;
use super::ops::Retry;
use super::{Outcome, Pending, State, StepDone};
use crate::testing::record::{GatewayKind, GatewayRecord, StepKind};

/// The message the real server stores when it cannot reach a `Gateway` target.
const FETCH_UNREACHABLE: &str = "Error making gateway request: Unable to reach SDK URL";
/// The same for an `AIGateway` target.
const AI_UNREACHABLE: &str = "Error making AI request: Unable to reach SDK URL";

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
