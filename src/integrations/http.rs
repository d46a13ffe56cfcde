//! The one HTTP client every vendor shares, and how vendor answers become [`PortError`]s.

use std::time::Duration;

use huckleberry_functions::ports::PortError;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Longest a single vendor call may take: well inside an Inngest step's budget.
pub const VENDOR_TIMEOUT: Duration = Duration::from_secs(20);

/// The shared reqwest 0.13 client: rustls, a timeout, and no redirects (following one could
/// carry a bearer token to another host; oauth2's docs call it an SSRF risk).
pub fn vendor_http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(VENDOR_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("huckleberry/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Maps a non-success answer: 429, 5xx and 408 are worth retrying (after `Retry-After` when
/// given); any other 4xx is permanent. `what` names the call, never a secret or an address.
pub fn status_error(what: &str, status: StatusCode, headers: &HeaderMap) -> PortError {
    let message = format!("{what}: the vendor answered {status}");
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        PortError::Transient {
            message,
            retry_after: retry_after(headers),
        }
    } else {
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

/// `Retry-After` in seconds (decimals allowed, as Discord sends); the HTTP-date form is not
/// used by our vendors and is ignored.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn rate_limits_and_server_errors_are_transient_with_the_vendors_wait() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1.5"));
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
