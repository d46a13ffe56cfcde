//! The Connect transport's way in (docs/protocol.md §13.4): an executor request that arrived
//! over the WebSocket runs through the same code as an HTTP `POST` call, minus the signature
//! check (the socket itself is authenticated).

use super::*;

impl Endpoint {
    /// Runs one call request for `function_slug` (the composite id) and `step_id`, exactly as
    /// a `POST ?fnId=…&stepId=…` with `body` (and the trace context of `user_trace_ctx`) would,
    /// and returns the response an HTTP caller would get (status, headers, body; unsigned).
    pub(crate) async fn call_over_connect(
        &self,
        function_slug: &str,
        step_id: Option<&str>,
        body: &[u8],
        user_trace_ctx: &[u8],
    ) -> Response<Vec<u8>> {
        if body.len() > self.inner.max_body_bytes {
            return message_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        let query = Query {
            fn_id: Some(Cow::Borrowed(function_slug)),
            step_id: step_id.map(Cow::Borrowed),
            probe: None,
            deploy_id: None,
        };
        // The request's user trace context, as an HTTP call's headers (docs/protocol.md §14.2).
        let trace = crate::trace_context::IncomingTrace::from_carrier(user_trace_ctx);
        self.execute(&query, body, trace).await
    }

    /// The function configs a Connect worker announces: the sync configs (docs/protocol.md
    /// §6.4) with runtime type `ws` and a `wss://connect` step URL, as a JSON array.
    pub(crate) fn connect_function_configs(&self) -> Vec<u8> {
        let url = Url::parse("wss://connect").expect("a constant URL parses");
        let configs: Vec<FunctionConfig<'_>> = self
            .function_configs(&url)
            .into_iter()
            .map(|mut config| {
                config.steps.step.runtime.kind = "ws";
                config
            })
            .collect();
        to_json(&configs)
    }

    /// The app version reported at sync, if any.
    pub(crate) fn app_version(&self) -> Option<&str> {
        self.inner.app_version.as_deref()
    }
}
