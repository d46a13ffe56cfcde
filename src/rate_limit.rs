//! Per-client rate limits on the public routes that anyone can call: the Discord pages and
//! the webhook receivers (issue 17). Never on `/api/inngest` (the executor's calls are
//! signed and must not be dropped) nor on the probes; `routes.rs` decides where they apply.
//!
//! The limiter is [`governor`]'s GCRA, keyed by client IP: a client may send `burst`
//! requests back to back, then one per `60 s / per_minute`. Beyond it the answer is `429`
//! with `Retry-After` in whole seconds (rounded up). Webhook providers retry on a 429, so
//! nothing is lost; a person on the Discord pages sees a page saying to wait a moment.
//!
//! The client is the TCP peer. Behind a reverse proxy every request comes from the proxy,
//! so `TRUSTED_PROXY_HEADER` names the header the proxy appends the client address to
//! (`X-Forwarded-For`), and the *last* entry is used: the proxy wrote that one, while any
//! entry before it came from the client and could be anything.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::RateLimit;
use crate::error::AppError;

/// Checks between sweeps of clients that have not been seen for a full window.
const SWEEP_EVERY: u64 = 4096;

/// Refusals are logged at warn level the first time and then once per this many (with the
/// total), so a flood cannot turn into a flood of log lines; each one is at debug level.
const LOG_EVERY: u64 = 1000;

/// One rate limit over a group of routes. Cheap to clone: clones share their counts.
#[derive(Debug, Clone)]
pub struct ClientRateLimit {
    /// One GCRA state per client address seen in the last window.
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Where the client address comes from.
    client: ClientAddress,
    /// Counts checks, to sweep stale clients now and then.
    checks: Arc<AtomicU64>,
    /// Counts refusals, so a flood is logged now and then rather than once per request.
    refused: Arc<AtomicU64>,
    /// Refusals are the result pages' error page with these links (the Discord routes);
    /// `None` answers a JSON error like every other API error (webhooks).
    links: Option<Arc<crate::pages::PageLinks>>,
}

/// Where the client address of a request is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAddress {
    /// The TCP peer (no proxy in front, or it is not trusted).
    Peer,
    /// The last entry of this header, appended by a trusted reverse proxy; the peer when
    /// the header is absent or unreadable.
    ProxyHeader(HeaderName),
}

impl ClientRateLimit {
    /// A limit of `rate` per client, identified by `client`, refused with a JSON error.
    pub fn new(rate: RateLimit, client: ClientAddress) -> Self {
        let quota = Quota::per_minute(rate.per_minute).allow_burst(rate.burst);
        ClientRateLimit {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)),
            client,
            checks: Arc::new(AtomicU64::new(0)),
            refused: Arc::new(AtomicU64::new(0)),
            links: None,
        }
    }

    /// Refuses with the result pages' look, linking to `links`.
    pub fn with_page_links(mut self, links: crate::pages::PageLinks) -> Self {
        self.links = Some(Arc::new(links));
        self
    }

    /// The client address of a request, `None` when the server did not record the peer.
    pub fn client_of(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
        if let ClientAddress::ProxyHeader(name) = &self.client
            && let Some(address) = last_forwarded(headers, name)
        {
            return Some(address);
        }
        peer.map(|peer| peer.ip())
    }

    /// `Ok` when `client` may make a request now, else how many whole seconds to wait.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            // Rounded up: "retry after 0 s" would invite the same refusal again.
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The middleware: lets the request through or answers 429 with `Retry-After`.
pub async fn enforce(
    State(limit): State<ClientRateLimit>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let Some(client) = limit.client_of(request.headers(), peer) else {
        // Served without a peer address (an in-memory router in a unit test): nothing to key.
        return next.run(request).await;
    };
    match limit.check(client) {
        Ok(()) => next.run(request).await,
        Err(seconds) => {
            let refused = limit.refused.fetch_add(1, Ordering::Relaxed) + 1;
            if refused == 1 || refused.is_multiple_of(LOG_EVERY) {
                tracing::warn!(%client, retry_after = seconds, refused, "rate limit reached; answering 429");
            } else {
                tracing::debug!(%client, retry_after = seconds, "rate limit reached; answering 429");
            }
            let mut response = match &limit.links {
                Some(links) => crate::pages::Page::Error {
                    problem: crate::pages::Problem::TooManyRequests,
                }
                .respond(links),
                None => AppError::client(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many requests, retry later",
                )
                .into_response(),
            };
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        }
    }
}

/// The last address in `name`'s last value (`X-Forwarded-For: client, proxy1, proxy2`).
fn last_forwarded(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let last = value.rsplit(',').next()?.trim();
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use super::*;

    fn limit(client: ClientAddress) -> ClientRateLimit {
        ClientRateLimit::new(RateLimit::new(1, 2), client)
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_while_others_do_not() {
        let limit = limit(ClientAddress::Peer);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(limit.check(a), Ok(()));
        assert_eq!(limit.check(a), Ok(()));
        let wait = limit.check(a).unwrap_err();
        assert!((59..=60).contains(&wait), "one per minute: {wait}");
        assert_eq!(limit.check(b), Ok(()), "limits are per client");
    }

    #[test]
    fn only_the_last_hop_of_the_trusted_header_counts() {
        let limit = limit(ClientAddress::ProxyHeader(HeaderName::from_static(
            "x-forwarded-for",
        )));
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", "1.1.1.1, 2.2.2.2".parse().unwrap());
        headers.append("x-forwarded-for", "6.6.6.6, 198.51.100.7".parse().unwrap());
        assert_eq!(
            limit.client_of(&headers, Some(peer)),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(
            limit.client_of(&HeaderMap::new(), Some(peer)),
            Some(peer.ip()),
            "no header: the peer"
        );
    }

    #[test]
    fn without_a_trusted_header_a_forwarded_address_is_ignored() {
        let limit = limit(ClientAddress::Peer);
        let peer: SocketAddr = "203.0.113.9:443".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4".parse().unwrap());
        assert_eq!(limit.client_of(&headers, Some(peer)), Some(peer.ip()));
    }
}
