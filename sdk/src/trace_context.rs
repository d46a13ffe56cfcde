//! The W3C trace context an executor sends with a call (`traceparent`, `tracestate`,
//! docs/protocol.md §4.2 and §14). Read only with the `otel` feature: without it this is a
//! zero-sized value and the headers are not even looked at.

/// The trace context of one call request, handed from the HTTP layer to the run's span.
#[derive(Debug, Default)]
pub(crate) struct IncomingTrace {
    #[cfg(feature = "otel")]
    traceparent: Option<Box<str>>,
    #[cfg(feature = "otel")]
    tracestate: Option<Box<str>>,
}

impl IncomingTrace {
    /// The context a call request carries in its headers.
    #[inline]
    pub(crate) fn from_headers(headers: &http::HeaderMap) -> Self {
        #[cfg(feature = "otel")]
        {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(Box::from)
            };
            IncomingTrace {
                traceparent: header("traceparent"),
                tracestate: header("tracestate"),
            }
        }
        #[cfg(not(feature = "otel"))]
        {
            let _ = headers;
            IncomingTrace {}
        }
    }

    /// Makes the executor's span the OpenTelemetry parent of the run's `span`, so the spans
    /// this call exports join the executor's trace. Without `otel`, nothing.
    #[inline]
    pub(crate) fn adopt(self, span: &tracing::Span) {
        #[cfg(feature = "otel")]
        if let Some(traceparent) = self.traceparent.as_deref() {
            crate::otel::set_remote_parent(span, traceparent, self.tracestate.as_deref());
        }
        #[cfg(not(feature = "otel"))]
        let _ = span;
    }
}
