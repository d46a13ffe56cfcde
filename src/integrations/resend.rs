//! Resend client: the [`Mailer`] port through `resend-rs` (docs/integrations.md §5).
//!
//! Why `resend-rs` (issue 3: use it unless it blocks): it takes our reqwest 0.13 client
//! (`ConfigBuilder::client`, the same major and rustls/aws-lc stack as the rest of the app, so
//! no second HTTP or TLS stack) and a base URL (`ConfigBuilder::base_url`, for the test
//! stand-in), and sends `Idempotency-Key` (`with_idempotency_key`). Its limits, handled here:
//! a 429 carries only `ratelimit-reset` (seconds), which we use as the retry delay; an error
//! answered with a non-JSON body (a proxy's 502 page) surfaces as `Error::Parse` without its
//! status, which we treat as transient — safe, because the retry carries the same idempotency
//! key. Its client-side rate limiter (9 requests per 1.1 s) stays on; our volume is far below.

use std::time::Duration;

use huckleberry_functions::ports::{Mailer, OutgoingEmail, PortError, PortFuture};
use resend_rs::types::{CreateEmailBaseOptions, Tag};
use resend_rs::{ConfigBuilder, Resend};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Sends email through Resend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ResendMailer {
    client: Resend,
    from: String,
}

impl ResendMailer {
    /// A mailer sending as `from` (`Name <address@verified-domain>`) through `api_base`.
    pub fn new(http: reqwest::Client, api_base: Url, api_key: &SecretString, from: String) -> Self {
        let config = ConfigBuilder::new(api_key.expose_secret())
            .client(http)
            .base_url(api_base)
            .build();
        ResendMailer {
            client: Resend::with_config(config),
            from,
        }
    }
}

impl Mailer for ResendMailer {
    fn send(&self, email: &OutgoingEmail, idempotency_key: &str) -> PortFuture<'_, String> {
        let mut options =
            CreateEmailBaseOptions::new(&self.from, [email.to.as_str()], &email.subject)
                .with_html(&email.html)
                .with_text(&email.text);
        for (name, value) in &email.tags {
            options = options.with_tag(Tag::new(name, value));
        }
        let request = options.with_idempotency_key(idempotency_key);
        Box::pin(async move {
            match self.client.emails.send(request).await {
                Ok(sent) => Ok(sent.id.to_string()),
                Err(error) => Err(map_error(error)),
            }
        })
    }
}

/// Resend's answer → retry decision: 429/5xx/409 (a concurrent request with the same key)
/// and transport failures are transient; other 4xx are permanent.
fn map_error(error: resend_rs::Error) -> PortError {
    const WHAT: &str = "resend send email";
    match error {
        resend_rs::Error::RateLimit {
            ratelimit_reset, ..
        } => PortError::Transient {
            message: format!("{WHAT}: rate limited"),
            retry_after: ratelimit_reset.map(|s| Duration::from_secs(s.min(3600))),
        },
        resend_rs::Error::Resend(response) => {
            let status = response.status_code;
            let message = format!("{WHAT}: the vendor answered {status} ({})", response.name);
            if status >= 500 || status == 409 || status == 408 {
                PortError::transient(message)
            } else {
                PortError::Permanent(message)
            }
        }
        resend_rs::Error::Http(error) => super::http::transport_error(WHAT, &error),
        resend_rs::Error::Parse { .. } | resend_rs::Error::Other(_) => {
            PortError::transient(format!("{WHAT}: unexpected answer"))
        }
    }
}
