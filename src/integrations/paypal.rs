//! PayPal over the network: the production [`CertificateSource`] and the thin REST client for
//! the order lookup (docs/integrations.md §2.2–§2.4, §11 "PayPal-specific";
//! docs/design.md §8 rule 9).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use url::Url;

use super::http::TraceContext;

use crate::webhooks::paypal::{
    CapturePayer, CertificateFetchError, CertificateSource, CertificateUrl, PaypalCertificate,
};

/// Largest certificate we read. PayPal's PEMs are about 2 KB; anything far bigger is not one.
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

/// How long a certificate fetch or a PayPal API call may take: well inside the providers'
/// delivery timeout, so a slow PayPal turns into our 503 and a retry, not a dropped delivery.
pub const PAYPAL_HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// How many certificates are cached: PayPal rotates rarely, and a bound keeps a flood of
/// distinct (allow-listed) URLs from growing memory.
const CERTIFICATE_CACHE_CAPACITY: usize = 32;

/// Fetches PayPal signing certificates over HTTPS and caches them by URL.
///
/// Only [`CertificateUrl`]s (already allow-listed to PayPal's hosts) are fetched; the client
/// refuses plain HTTP and redirects, times out after [`PAYPAL_HTTP_TIMEOUT`] and reads at most
/// [`MAX_CERTIFICATE_BYTES`]. Only PEMs that parse as a certificate are cached.
#[derive(Debug)]
pub struct HttpCertificateSource {
    /// HTTPS-only, no redirects, with a timeout.
    http: reqwest::Client,
    /// Certificate URL → PEM.
    cache: Mutex<HashMap<CertificateUrl, Arc<Vec<u8>>>>,
}

impl HttpCertificateSource {
    /// A source with its own hardened HTTP client.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PAYPAL_HTTP_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, url: &CertificateUrl) -> Option<Arc<Vec<u8>>> {
        self.cache.lock().ok()?.get(url).cloned()
    }

    fn remember(&self, url: &CertificateUrl, pem: Arc<Vec<u8>>) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CERTIFICATE_CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(url.clone(), pem);
        }
    }

    async fn fetch(&self, url: &CertificateUrl) -> Result<Vec<u8>, CertificateFetchError> {
        let fail = |reason: &str| {
            tracing::warn!(%url, reason, "PayPal certificate fetch failed");
            CertificateFetchError
        };
        let mut response = self
            .http
            .get(url.as_str())
            .trace_context()
            .send()
            .await
            .map_err(|_| fail("request failed"))?;
        if !response.status().is_success() {
            return Err(fail("non-success status"));
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_CERTIFICATE_BYTES as u64)
        {
            return Err(fail("too large"));
        }
        let mut pem = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| fail("body failed"))? {
            if pem.len() + chunk.len() > MAX_CERTIFICATE_BYTES {
                return Err(fail("too large"));
            }
            pem.extend_from_slice(&chunk);
        }
        Ok(pem)
    }
}

impl CertificateSource for HttpCertificateSource {
    async fn certificate_pem(
        &self,
        url: &CertificateUrl,
    ) -> Result<Vec<u8>, CertificateFetchError> {
        if let Some(pem) = self.cached(url) {
            return Ok(pem.as_ref().clone());
        }
        let pem = self.fetch(url).await?;
        // An error page must not be cached in place of the certificate.
        if PaypalCertificate::from_pem(&pem).is_ok() {
            self.remember(url, Arc::new(pem.clone()));
        }
        Ok(pem)
    }
}

/// A [`CertificateSource`] behind an `Arc`, so the app can hold the production source or a
/// test double without being generic over it.
#[derive(Clone)]
pub struct SharedCertificateSource(Arc<dyn DynCertificateSource>);

impl SharedCertificateSource {
    /// Wraps any certificate source.
    pub fn new(source: impl CertificateSource + Send + Sync + 'static) -> Self {
        Self(Arc::new(source))
    }
}

impl fmt::Debug for SharedCertificateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedCertificateSource")
    }
}

impl CertificateSource for SharedCertificateSource {
    fn certificate_pem(
        &self,
        url: &CertificateUrl,
    ) -> impl Future<Output = Result<Vec<u8>, CertificateFetchError>> + Send {
        // Owned copies: the boxed future cannot name the two borrows' common lifetime.
        let source = Arc::clone(&self.0);
        let url = url.clone();
        async move { source.certificate_pem_boxed(&url).await }
    }
}

type PemFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<u8>, CertificateFetchError>> + Send + 'a>>;

/// The object-safe twin of [`CertificateSource`] (whose `impl Future` return is not).
trait DynCertificateSource: Send + Sync {
    fn certificate_pem_boxed<'a>(&'a self, url: &'a CertificateUrl) -> PemFuture<'a>;
}

impl<T: CertificateSource + Send + Sync> DynCertificateSource for T {
    fn certificate_pem_boxed<'a>(&'a self, url: &'a CertificateUrl) -> PemFuture<'a> {
        Box::pin(self.certificate_pem(url))
    }
}

/// Why a PayPal API call failed; the route answers 503 so PayPal retries the delivery.
#[derive(Debug, thiserror::Error)]
pub enum PaypalApiError {
    /// The request failed (connection, TLS, timeout).
    #[error("PayPal API could not be reached: {0}")]
    Transport(#[source] reqwest::Error),
    /// PayPal answered with an error status.
    #[error("PayPal API answered {0}")]
    Status(http::StatusCode),
    /// PayPal answered with a body we cannot read.
    #[error("PayPal API answered with an unexpected body")]
    Body,
}

/// The payer of an order, as the order lookup found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPayer {
    /// `payer.email_address`, when the order has one.
    pub email: Option<String>,
    /// `payer.name` as "Given Surname", when present.
    pub name: Option<String>,
}

/// The few PayPal REST calls we need: an OAuth client-credentials token
/// (`POST /v1/oauth2/token`, cached until shortly before it expires) and
/// `GET /v2/checkout/orders/{id}` for the payer a capture does not carry (§2.2).
pub struct PaypalClient {
    /// Shared connection pool, with [`PAYPAL_HTTP_TIMEOUT`] and no redirects.
    http: reqwest::Client,
    /// `https://api-m.paypal.com`, the sandbox, or a test stand-in.
    base_url: Url,
    /// REST app client id.
    client_id: String,
    /// REST app client secret.
    client_secret: SecretString,
    /// The current access token and when to stop using it.
    token: Mutex<Option<CachedToken>>,
}

impl fmt::Debug for PaypalClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaypalClient")
            .field("base_url", &self.base_url.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

struct CachedToken {
    value: SecretString,
    refresh_at: Instant,
}

/// Tokens are refreshed this long before PayPal says they expire, so a request never carries
/// one that expires in flight.
const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(60);

impl PaypalClient {
    /// A client for the REST API at `base_url`.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new(
        base_url: Url,
        client_id: String,
        client_secret: SecretString,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PAYPAL_HTTP_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            base_url,
            client_id,
            client_secret,
            token: Mutex::new(None),
        })
    }

    /// The payer of order `order_id` (`GET /v2/checkout/orders/{id}`).
    ///
    /// # Errors
    /// [`PaypalApiError`] when the token or the order cannot be fetched.
    pub async fn order_payer(&self, order_id: &str) -> Result<OrderPayer, PaypalApiError> {
        #[derive(Deserialize)]
        struct Order {
            #[serde(default)]
            payer: Option<CapturePayer>,
        }
        let token = self.access_token().await?;
        let url = self.url(&["v2", "checkout", "orders", order_id]);
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .trace_context()
            .send()
            .await
            .map_err(|e| PaypalApiError::Transport(e.without_url()))?;
        let status = response.status();
        if status == http::StatusCode::UNAUTHORIZED {
            // The token was revoked early: forget it, so PayPal's retry gets a fresh one.
            self.forget_token();
        }
        if !status.is_success() {
            return Err(PaypalApiError::Status(status));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| PaypalApiError::Transport(e.without_url()))?;
        let order: Order = serde_json::from_slice(&bytes).map_err(|_| PaypalApiError::Body)?;
        let payer = order.payer.unwrap_or_default();
        Ok(OrderPayer {
            email: payer.email_address.filter(|e| !e.trim().is_empty()),
            name: payer.name.as_ref().and_then(|n| n.full()),
        })
    }

    async fn access_token(&self) -> Result<SecretString, PaypalApiError> {
        #[derive(Deserialize)]
        struct TokenResponse {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        if let Some(token) = self.cached_token() {
            return Ok(token);
        }
        let response = self
            .http
            .post(self.url(&["v1", "oauth2", "token"]))
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("grant_type=client_credentials")
            .trace_context()
            .send()
            .await
            .map_err(|e| PaypalApiError::Transport(e.without_url()))?;
        if !response.status().is_success() {
            return Err(PaypalApiError::Status(response.status()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| PaypalApiError::Transport(e.without_url()))?;
        let token: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|_| PaypalApiError::Body)?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(0));
        let value = SecretString::from(token.access_token);
        if let (Some(refresh_at), Ok(mut slot)) = (
            Instant::now().checked_add(lifetime.saturating_sub(TOKEN_EXPIRY_MARGIN)),
            self.token.lock(),
        ) {
            *slot = Some(CachedToken {
                value: value.clone(),
                refresh_at,
            });
        }
        Ok(value)
    }

    fn cached_token(&self) -> Option<SecretString> {
        let slot = self.token.lock().ok()?;
        slot.as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.value.clone())
    }

    fn forget_token(&self) {
        if let Ok(mut slot) = self.token.lock() {
            *slot = None;
        }
    }

    /// `base_url` with `segments` appended, each percent-encoded (an order id from a payload
    /// cannot add path segments or a query).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}
