//! `POST`: call requests, the trust probe and large run state (docs/protocol.md §7).

use super::*;
use crate::trace_context::IncomingTrace;

impl Endpoint {
    pub(super) async fn call(
        &self,
        headers: &HeaderMap,
        query: &Query<'_>,
        body: Bytes,
    ) -> Response<Vec<u8>> {
        let auth = self.authenticate(headers, &body);
        let key = match auth {
            Auth::Invalid(error) => {
                tracing::warn!(%error, "call request with an invalid signature refused");
                return unauthorized();
            }
            Auth::Valid(key) => Some(key),
            Auth::Unsigned => None,
        };
        if let Some(probe) = query.probe.as_deref() {
            let res = if probe == "trust" {
                json_response(StatusCode::OK, b"{}".to_vec())
            } else {
                message_response(StatusCode::BAD_REQUEST, "unknown probe")
            };
            return self.sign(res, key);
        }
        let trace = IncomingTrace::from_headers(headers);
        let res = self.execute(query, &body, trace).await;
        self.sign(res, key)
    }

    pub(super) async fn execute(
        &self,
        query: &Query<'_>,
        body: &[u8],
        trace: IncomingTrace,
    ) -> Response<Vec<u8>> {
        // Only what the run needs stays alive while it is driven: the request is parsed and
        // consumed in this block, so the future of a call stays small (futures are moved,
        // and large ones cost a copy each time).
        let (entry, run_id, started, step, checkpoint) = {
            let (entry, mut request) = match self.parse_call(query, body) {
                Ok(parsed) => parsed,
                Err(refused) => return refused.into_response(),
            };
            if request.use_api || request.ctx.use_api {
                // Boxed, with the request moved in: this rare path awaits HTTP calls, whose
                // state would otherwise make every call's future larger.
                request = match Box::pin(self.load_run_state(request)).await {
                    Ok(request) => request,
                    Err(refused) => return refused.into_response(),
                };
            }
            match self.start(entry, query, request) {
                Ok(Started {
                    run_id,
                    future,
                    step,
                    checkpoint,
                }) => (entry, run_id, future, step, checkpoint),
                Err(refused) => return refused.into_response(),
            }
        };
        let hooked = (!entry.middleware.is_empty()).then(|| Arc::clone(step.shared()));
        // Everything the run logs in this call (its steps' spans included) names the run.
        let span = tracing::info_span!(
            "run",
            function = %entry.composite_id,
            run_id = %run_id,
            attempt = step.shared().run_context().attempt,
        );
        // With `otel`, the span joins the executor's trace (docs/protocol.md §14).
        trace.adopt(&span);
        let mut response = match started {
            // Without a subscriber the span is disabled: the call's future is not wrapped.
            Ok(future) if span.is_disabled() => drive(future, step, checkpoint).await,
            Ok(future) => {
                tracing::Instrument::instrument(drive(future, step, checkpoint), span).await
            }
            Err(error) => error_response(&error),
        };
        if let Some(shared) = hooked {
            response = hooks::end_call(&shared, response);
        }
        log_response(&entry.composite_id, &run_id, &response);
        response.into_http()
    }

    /// Finds the function a call is for and parses the call request.
    fn parse_call(&self, query: &Query<'_>, body: &[u8]) -> Result<(&Entry, CallRequest), Refused> {
        let Some(fn_id) = query.fn_id.as_deref() else {
            return Err(Refused::new(
                StatusCode::BAD_REQUEST,
                "the fnId query parameter is missing",
                true,
            ));
        };
        let Some(entry) = self.inner.by_id.get(fn_id).map(|&i| &self.inner.entries[i]) else {
            // docs/protocol.md §7.1: an unknown function is a 500, so a deploy in progress can recover.
            return Err(Refused::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("function \"{fn_id}\" is not served by this app"),
                false,
            ));
        };
        match CallRequest::from_slice(body) {
            Ok(request) => Ok((entry, request)),
            Err(error) => Err(Refused::new(
                StatusCode::BAD_REQUEST,
                format!("malformed call request: {error}"),
                true,
            )),
        }
    }

    /// Sets up the run's state and starts the handler (it decodes the event).
    fn start(
        &self,
        entry: &Entry,
        query: &Query<'_>,
        request: CallRequest,
    ) -> Result<Started, Refused> {
        let CallRequest {
            event,
            events,
            steps,
            ctx,
            ..
        } = request;
        // With `use_api` (the fetched batch), or from an executor that sends no `event`:
        // the trigger is the first of `events`.
        let event = event.or_else(|| {
            events
                .as_ref()
                .and_then(|events| events.first_element().ok().flatten())
        });
        let Some(event) = event else {
            return Err(Refused::new(
                StatusCode::BAD_REQUEST,
                "the call request has no event",
                true,
            ));
        };
        let max_attempts = ctx
            .max_attempts
            .unwrap_or_else(|| entry.opts.max_attempts());
        let mode = match query.step_id.as_deref() {
            None | Some("step") => StepMode::Discovery {
                immediate: !ctx.disable_immediate_execution,
            },
            Some(target) => StepMode::Target(target.to_owned()),
        };
        // docs/protocol.md §7.14: steps are checkpointed in a first-attempt discovery call that may
        // run steps inline, when the executor names the function and the queue item (as the
        // TS SDK decides). Retries and targeted calls stay classic.
        let checkpoint = entry
            .opts
            .checkpointing_with(self.inner.client.config().checkpointing())
            .filter(|_| {
                matches!(mode, StepMode::Discovery { immediate: true })
                    && ctx.attempt == 0
                    && !ctx.fn_id.is_empty()
                    && !ctx.qi_id.is_empty()
            })
            .map(|options| Checkpoint {
                options,
                client: self.inner.client.clone(),
                run_id: ctx.run_id.clone(),
                fn_id: ctx.fn_id.clone(),
                qi_id: ctx.qi_id.clone(),
            });
        let run = RunContext {
            run_id: ctx.run_id.clone(),
            attempt: ctx.attempt,
            max_attempts,
            function_id: entry.composite_id.clone(),
        };
        let memoized_steps = steps.len();
        let state = RunState::new(steps, mode, ctx.attempt, max_attempts);
        let step = Step::new(
            Arc::clone(&self.inner.app_id),
            self.inner.client.clone(),
            Arc::clone(&self.inner.clock),
            run.clone(),
            state,
        );
        let (event, events) = if entry.middleware.is_empty() {
            (event, events)
        } else {
            hooks::start_call(&entry.middleware, &run, memoized_steps, event, events)
        };
        let step = step
            .with_middleware(entry.middleware.clone())
            .with_determinism_check(self.inner.check_determinism);
        if memoized_steps == 0 && !entry.middleware.is_empty() {
            step.shared().start_new_code();
        }
        let input = RawInput { event, events, run };
        let future = entry.handler.start(input, step.clone());
        Ok(Started {
            run_id: ctx.run_id,
            future,
            step,
            checkpoint,
        })
    }

    /// Replaces the events and steps of a `use_api` request with the run's state fetched
    /// from the API (docs/protocol.md §7.10).
    async fn load_run_state(&self, mut request: CallRequest) -> Result<CallRequest, Refused> {
        let client = &self.inner.client;
        let run_id = request.ctx.run_id.as_str();
        // Sequential: this path is rare (runs over 4 MiB), and it keeps the SDK off tokio's
        // macros feature.
        let fetched = async {
            let events = client.fetch_run_events(run_id).await?;
            let steps = client.fetch_run_steps(run_id).await?;
            Ok::<_, crate::client::ApiError>((events, steps))
        };
        match fetched.await {
            Ok((events, steps)) => {
                // The trigger is the first fetched event; `start` picks it.
                request.event = None;
                request.events = Some(events);
                request.steps = steps;
                Ok(request)
            }
            Err(error) => {
                tracing::error!(%error, %run_id, "fetching run state failed");
                Err(Refused::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the run's state could not be fetched from the Inngest API",
                    false,
                ))
            }
        }
    }
}

fn error_response(error: &Error) -> CallResponse {
    CallResponse::Error {
        body: error.to_body(),
        retriable: error.is_retriable(),
        retry_after: None,
    }
}

/// A started run.
struct Started {
    run_id: String,
    /// The handler's future, or the error that kept it from starting.
    future: Result<HandlerFuture, Error>,
    /// The step tool, which shares the run's state with the engine.
    step: Step,
    /// Set when this call checkpoints its steps (docs/protocol.md §7.14).
    checkpoint: Option<Checkpoint>,
}

/// A call refused before its function ran, as the response it becomes (kept small until
/// then: results carrying it are returned by value).
struct Refused {
    status: StatusCode,
    message: Cow<'static, str>,
    no_retry: bool,
}

impl Refused {
    fn new(status: StatusCode, message: impl Into<Cow<'static, str>>, no_retry: bool) -> Self {
        Refused {
            status,
            message: message.into(),
            no_retry,
        }
    }

    fn into_response(self) -> Response<Vec<u8>> {
        call_error(self.status, &self.message, self.no_retry)
    }
}

fn call_error(status: StatusCode, message: &str, no_retry: bool) -> Response<Vec<u8>> {
    let body = ErrorBody {
        name: "Error".into(),
        message: message.to_owned(),
        stack: None,
    };
    let mut res = json_response(status, to_json(&body));
    let value = if no_retry { "true" } else { "false" };
    res.headers_mut()
        .insert(headers::NO_RETRY, HeaderValue::from_static(value));
    res
}

fn log_response(function_id: &str, run_id: &str, response: &CallResponse) {
    match response {
        CallResponse::Complete(_) => {
            tracing::debug!(function = %function_id, %run_id, "function completed");
        }
        CallResponse::Ops { ops, .. } => {
            for op in ops {
                tracing::debug!(function = %function_id, %run_id, step = %op.name, op = ?op.op, "step reported");
            }
        }
        CallResponse::Error {
            body, retriable, ..
        } => {
            tracing::warn!(function = %function_id, %run_id, error = %body.message, retriable, "function failed");
        }
        CallResponse::StepNotFound { requested, .. } => {
            tracing::warn!(function = %function_id, %run_id, step = %requested, "targeted step not found");
        }
    }
}
