//! The one HTTP client every vendor shares, and how vendor answers become [`PortError`]s.

use std::time::Duration;

use huckleberry_functions::ports::PortError;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Longest a single vendor call may take: well inside an Inngest step's budget.
pub const VENDOR_TIMEOUT: Duration = Duration::from_secs(20);

/// The shared reqwest 0.13 client: rustls, a timeout, and no redirects (following one could
/// carry a bearer token to another host; oauth2's docs call it an SSRF risk).
///
/// # Errors
/// When the TLS backend cannot be set up. Start-up stops then: a default client would have
/// no timeouts and would follow redirects.
pub fn vendor_http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(VENDOR_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("huckleberry/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Adds the current span's W3C trace context (`traceparent`, `tracestate`) to a vendor
/// request when the app is built with the `otel` feature, so the vendor call joins the run's
/// trace (docs/design.md, "Tracing"). Without `otel` the request is unchanged.
pub trait TraceContext {
    /// The request with the trace context headers.
    #[must_use]
    fn trace_context(self) -> Self;
}

impl TraceContext for reqwest::RequestBuilder {
    #[inline]
    fn trace_context(self) -> Self {
        #[cfg(feature = "otel")]
        {
            let mut headers = HeaderMap::new();
            inngest_sdk::otel::inject_context(&mut headers);
            self.headers(headers)
        }
        #[cfg(not(feature = "otel"))]
        self
    }
}

/// Maps a non-success answer: 429, 5xx and 408 are worth retrying (after the wait the
/// vendor asked for, when it gave one); any other 4xx is permanent. `what` names the call
/// and starts with the vendor's name (`clerk get user`), never a secret or an address.
///
/// Logged once, here, at `warn`: inside a step the line also carries the run, the step and
/// the attempt (the SDK's step span).
pub fn status_error(what: &str, status: StatusCode, headers: &HeaderMap) -> PortError {
    let message = format!("{what}: the vendor answered {status}");
    let vendor = what.split(' ').next().unwrap_or(what);
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        let retry_after = retry_after(headers, chrono::Utc::now());
        tracing::warn!(
            vendor,
            call = what,
            status = status.as_u16(),
            retry_after_ms = retry_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            "vendor call failed; it will be retried"
        );
        PortError::Transient {
            message,
            retry_after,
        }
    } else {
        tracing::warn!(
            vendor,
            call = what,
            status = status.as_u16(),
            "vendor call refused"
        );
        PortError::Permanent(message)
    }
}

/// A transport failure (connect, timeout, body read): always worth retrying.
pub fn transport_error(what: &str, error: &reqwest::Error) -> PortError {
    // `without_url`: query strings can carry an email address.
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_decode() {
        "answered with an unexpected body"
    } else {
        "failed"
    };
    PortError::transient(format!("{what}: the request {kind}"))
}

/// The longest wait a vendor may ask for; beyond it the step is retried on the executor's
/// schedule rather than parked for hours.
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

/// How long the vendor asked us to wait, from the first of these headers it sent:
/// `Retry-After` (seconds, decimals allowed as Discord sends them, or an HTTP date),
/// `RateLimit-Reset` (seconds, the IETF rate-limit headers), `X-RateLimit-Reset-After`
/// (seconds, Discord). Capped at an hour.
pub fn retry_after(headers: &HeaderMap, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let header = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    let seconds = |value: &str| {
        let seconds: f64 = value.parse().ok()?;
        (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(LONGEST_WAIT.as_secs_f64())))
    };
    if let Some(value) = header(RETRY_AFTER.as_str()) {
        if let Some(wait) = seconds(value) {
            return Some(wait);
        }
        if let Ok(at) = chrono::DateTime::parse_from_rfc2822(value) {
            let wait = (at.with_timezone(&chrono::Utc) - now)
                .to_std()
                .unwrap_or_default();
            return Some(wait.min(LONGEST_WAIT));
        }
    }
    ["ratelimit-reset", "x-ratelimit-reset-after"]
        .into_iter()
        .find_map(|name| header(name).and_then(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn rate_limits_and_server_errors_are_transient_with_the_vendors_wait() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1.5"));
        headers.insert("ratelimit-reset", HeaderValue::from_static("30"));
        let error = status_error("x", StatusCode::TOO_MANY_REQUESTS, &headers);
        assert_eq!(
            error,
            PortError::Transient {
                message: "x: the vendor answered 429 Too Many Requests".into(),
                retry_after: Some(Duration::from_millis(1500)),
            }
        );
        assert!(matches!(
            status_error("x", StatusCode::BAD_GATEWAY, &HeaderMap::new()),
            PortError::Transient {
                retry_after: None,
                ..
            }
        ));
    }

    #[test]
    fn every_form_of_a_vendors_wait_is_honoured() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .expect("instant")
            .with_timezone(&chrono::Utc);
        let wait = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            retry_after(&headers, now)
        };
        assert_eq!(wait(&[("retry-after", "8")]), Some(Duration::from_secs(8)));
        assert_eq!(
            wait(&[("retry-after", "Tue, 01 Dec 2026 10:00:12 GMT")]),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            wait(&[("ratelimit-reset", "5")]),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            wait(&[("x-ratelimit-reset-after", "0.25")]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(wait(&[("retry-after", "99999")]), Some(LONGEST_WAIT));
        assert_eq!(wait(&[("retry-after", "soon")]), None);
        assert_eq!(wait(&[]), None);
    }

    #[test]
    fn other_client_errors_are_permanent() {
        for status in [
            StatusCode::FORBIDDEN,
            StatusCode::UNAUTHORIZED,
            StatusCode::BAD_REQUEST,
        ] {
            assert!(matches!(
                status_error("x", status, &HeaderMap::new()),
                PortError::Permanent(_)
            ));
        }
    }
}
