//! The W3C trace context an executor sends with a call (`traceparent`, `tracestate`,
//! docs/protocol.md §4.2 and §14). Read only with the `otel` feature: without it this is a
//! zero-sized value and the headers are not even looked at. With `otel`, also the way out:
//! `inject_context` (re-exported as `otel::inject_context`), which `client.rs` uses, so the
//! client does not depend on `otel.rs` (which depends on the client).

#[cfg(feature = "otel")]
pub use propagation::inject_context;

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

    /// The context a Connect executor request carries in its `user_trace_ctx`: a JSON object
    /// of propagation fields (`{"traceparent": …, "tracestate": …}`), the same values an
    /// HTTP call brings as headers. Anything else reads as no context.
    #[cfg(feature = "connect")]
    #[inline]
    pub(crate) fn from_carrier(carrier: &[u8]) -> Self {
        #[cfg(feature = "otel")]
        {
            #[derive(serde::Deserialize)]
            struct Carrier {
                traceparent: Option<Box<str>>,
                tracestate: Option<Box<str>>,
            }
            match serde_json::from_slice::<Carrier>(carrier) {
                Ok(Carrier {
                    traceparent,
                    tracestate,
                }) => IncomingTrace {
                    traceparent,
                    tracestate,
                },
                Err(_) => IncomingTrace::default(),
            }
        }
        #[cfg(not(feature = "otel"))]
        {
            let _ = carrier;
            IncomingTrace {}
        }
    }

    /// Makes the executor's span the OpenTelemetry parent of the run's `span`, so the spans
    /// this call exports join the executor's trace. Without `otel`, nothing.
    #[inline]
    pub(crate) fn adopt(self, span: &tracing::Span) {
        #[cfg(feature = "otel")]
        if let Some(traceparent) = self.traceparent.as_deref() {
            propagation::set_remote_parent(span, traceparent, self.tracestate.as_deref());
        }
        #[cfg(not(feature = "otel"))]
        let _ = span;
    }
}

#[cfg(feature = "otel")]
mod propagation {
    use http::{HeaderMap, HeaderName, HeaderValue};
    use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
    use opentelemetry::trace::TraceContextExt as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    /// Writes the current `tracing` span's trace context into `headers` as W3C `traceparent`
    /// (and `tracestate`), for an outgoing request: the receiver's spans then join this trace.
    ///
    /// Nothing is written when there is no current span or no OpenTelemetry layer installed.
    pub fn inject_context(headers: &mut HeaderMap) {
        let context = tracing::Span::current().context();
        if !context.span().span_context().is_valid() {
            return;
        }
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
    }

    struct HeaderInjector<'a>(&'a mut HeaderMap);

    impl Injector for HeaderInjector<'_> {
        fn set(&mut self, key: &str, value: String) {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(key.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                self.0.insert(name, value);
            }
        }
    }

    struct Carrier<'a> {
        traceparent: &'a str,
        tracestate: Option<&'a str>,
    }

    impl Extractor for Carrier<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            match key {
                "traceparent" => Some(self.traceparent),
                "tracestate" => self.tracestate,
                _ => None,
            }
        }

        fn keys(&self) -> Vec<&str> {
            vec!["traceparent", "tracestate"]
        }
    }

    /// Makes the executor's span (a call's `traceparent`) the OpenTelemetry parent of `span`.
    /// A malformed `traceparent` is ignored: the span starts a trace of its own.
    pub(super) fn set_remote_parent(
        span: &tracing::Span,
        traceparent: &str,
        tracestate: Option<&str>,
    ) {
        let parent = TraceContextPropagator::new().extract(&Carrier {
            traceparent,
            tracestate,
        });
        if parent.span().span_context().is_valid() {
            // Fails only when no OpenTelemetry layer sees the span: nothing to join then.
            let _ = span.set_parent(parent);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_malformed_traceparent_is_not_a_parent() {
            let parent = TraceContextPropagator::new().extract(&Carrier {
                traceparent: "00-zz-yy-01",
                tracestate: None,
            });
            assert!(!parent.span().span_context().is_valid());
        }
    }
}

#[cfg(all(test, feature = "otel", feature = "connect"))]
mod carrier_tests {
    use super::IncomingTrace;

    #[test]
    fn a_connect_requests_carrier_gives_the_same_context_as_headers() {
        let trace = IncomingTrace::from_carrier(
            br#"{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":"inngest@traceref=x"}"#,
        );
        assert_eq!(
            trace.traceparent.as_deref(),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
        assert_eq!(trace.tracestate.as_deref(), Some("inngest@traceref=x"));
        for nothing in [&b""[..], b"null", b"[]", b"{\"traceparent\": 7}"] {
            let trace = IncomingTrace::from_carrier(nothing);
            assert!(trace.traceparent.is_none() && trace.tracestate.is_none());
        }
    }
}
