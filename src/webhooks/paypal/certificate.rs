//! PayPal signing certificates: which URLs we may fetch (SSRF guard), how a fetched PEM is
//! read, and when it is valid (docs/integrations.md §2.4, §11 "PayPal-specific").

use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};
use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey as _;
use url::Url;
use x509_cert::Certificate;
use x509_cert::der::{DecodePem as _, Encode as _};

use crate::webhooks::VerifyError;

/// The only hosts PayPal serves signing certificates from (live and sandbox).
const ALLOWED_HOSTS: [&str; 4] = [
    "api.paypal.com",
    "api-m.paypal.com",
    "api.sandbox.paypal.com",
    "api-m.sandbox.paypal.com",
];

/// The path under which PayPal serves certificates.
const CERTS_PATH: &str = "/v1/notifications/certs/";

/// A `PAYPAL-CERT-URL` that passed the allow-list: `https`, an exact PayPal API host, the
/// default port, no credentials, query or fragment, and a path of
/// `/v1/notifications/certs/<name>` with a plain name.
///
/// The header is attacker-controlled until verified, and we fetch it: without this check the
/// webhook route would be an open SSRF proxy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertificateUrl(Url);

impl CertificateUrl {
    /// Checks a `PAYPAL-CERT-URL` value against the allow-list.
    ///
    /// # Errors
    /// [`VerifyError::CertificateUrlNotAllowed`] for anything else.
    pub fn parse(value: &str) -> Result<Self, VerifyError> {
        let rejected = VerifyError::CertificateUrlNotAllowed;
        // `Url` normalises `..`, percent-encoded dots and host case, so the checks below
        // see the URL that a client would actually request.
        let url = Url::parse(value).map_err(|_| rejected.clone())?;
        let host_allowed = url
            .host_str()
            .is_some_and(|host| ALLOWED_HOSTS.contains(&host));
        let name = url.path().strip_prefix(CERTS_PATH).unwrap_or("");
        let name_ok = !name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let ok = url.scheme() == "https"
            && host_allowed
            && url.port().is_none()
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none()
            && name_ok;
        if ok { Ok(Self(url)) } else { Err(rejected) }
    }

    /// The URL to fetch.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the certificate is served by a sandbox host.
    #[must_use]
    pub fn is_sandbox(&self) -> bool {
        self.0
            .host_str()
            .is_some_and(|host| host.ends_with(".sandbox.paypal.com"))
    }
}

impl fmt::Display for CertificateUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fetching a PayPal certificate failed (network, status, size); the route answers 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PayPal certificate could not be fetched")]
pub struct CertificateFetchError;

/// Where PayPal certificates come from: an HTTPS client with a cache in the app, fixed PEMs in
/// tests. Keeps this module free of I/O.
///
/// Implementations must fetch only `url` (already allow-listed), over HTTPS, without following
/// redirects, with a timeout and a body size cap, and should cache by URL (§2.4).
pub trait CertificateSource {
    /// The PEM bytes served at `url`.
    fn certificate_pem(
        &self,
        url: &CertificateUrl,
    ) -> impl Future<Output = Result<Vec<u8>, CertificateFetchError>> + Send;
}

/// A parsed PayPal signing certificate: its RSA key and validity period.
///
/// Not checked: the chain to a root and the subject name. The certificate is trusted because
/// it was fetched over HTTPS from an allow-listed PayPal host (see [`CertificateUrl`]); a chain
/// check would also reject PayPal's self-signed sandbox certificates (§2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaypalCertificate {
    /// The key that verifies transmission signatures.
    public_key: RsaPublicKey,
    /// Start of validity, Unix seconds.
    not_before: i64,
    /// End of validity, Unix seconds.
    not_after: i64,
}

impl PaypalCertificate {
    /// Reads a PEM certificate holding an RSA public key.
    ///
    /// # Errors
    /// [`VerifyError::CertificateInvalid`] when the PEM or the certificate cannot be parsed,
    /// or its key is not RSA.
    pub fn from_pem(pem: &[u8]) -> Result<Self, VerifyError> {
        let invalid = |_| VerifyError::CertificateInvalid;
        let certificate = Certificate::from_pem(pem).map_err(invalid)?;
        let tbs = &certificate.tbs_certificate;
        let spki = tbs.subject_public_key_info.to_der().map_err(invalid)?;
        let public_key = RsaPublicKey::from_public_key_der(&spki)
            .map_err(|_| VerifyError::CertificateInvalid)?;
        let unix = |time: x509_cert::time::Time| {
            i64::try_from(time.to_unix_duration().as_secs())
                .map_err(|_| VerifyError::CertificateInvalid)
        };
        Ok(Self {
            public_key,
            not_before: unix(tbs.validity.not_before)?,
            not_after: unix(tbs.validity.not_after)?,
        })
    }

    /// Wraps a bare public key with a validity period; for tests and for callers that obtained
    /// the key another way.
    #[must_use]
    pub fn from_public_key(
        public_key: RsaPublicKey,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> Self {
        Self {
            public_key,
            not_before: not_before.timestamp(),
            not_after: not_after.timestamp(),
        }
    }

    /// Checks that `now` is within the validity period (inclusive, as RFC 5280 §4.1.2.5).
    ///
    /// # Errors
    /// [`VerifyError::CertificateExpired`] outside it.
    pub fn check_validity(&self, now: DateTime<Utc>) -> Result<(), VerifyError> {
        let now = now.timestamp();
        if (self.not_before..=self.not_after).contains(&now) {
            Ok(())
        } else {
            Err(VerifyError::CertificateExpired)
        }
    }

    /// The RSA public key.
    #[must_use]
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const PAYPAL_2014_PEM: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/paypal-2014/cert.pem"
    ));

    #[test]
    fn paypal_certificate_urls_are_allowed() {
        for url in [
            "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-7a8abba8",
            "https://api-m.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-7a8abba8",
            "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-35c2ed1e-21e9a5d6",
            "https://API-M.SANDBOX.PAYPAL.COM/v1/notifications/certs/CERT-1",
            "https://api.paypal.com:443/v1/notifications/certs/CERT-1",
        ] {
            assert!(CertificateUrl::parse(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn other_certificate_urls_are_refused() {
        for url in [
            "http://api.paypal.com/v1/notifications/certs/CERT-1",
            "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1",
            "https://evil.example/v1/notifications/certs/CERT-1",
            "https://paypal.com/v1/notifications/certs/CERT-1",
            "https://www.paypal.com/v1/notifications/certs/CERT-1",
            "https://api.paypal.com:8443/v1/notifications/certs/CERT-1",
            "https://user:pw@api.paypal.com/v1/notifications/certs/CERT-1",
            "https://api.paypal.com/v1/notifications/certs/",
            "https://api.paypal.com/v1/notifications/certs/CERT-1?x=1",
            "https://api.paypal.com/v1/notifications/certs/CERT-1#x",
            "https://api.paypal.com/v1/notifications/certs/../../oauth2/token",
            "https://api.paypal.com/v1/notifications/certs/%2e%2e/%2e%2e/oauth2/token",
            "https://api.paypal.com/v1/notifications/certs/a/b",
            "https://api.paypal.com/v2/notifications/certs/CERT-1",
            "https://169.254.169.254/v1/notifications/certs/CERT-1",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert_eq!(
                CertificateUrl::parse(url),
                Err(VerifyError::CertificateUrlNotAllowed),
                "{url}"
            );
        }
    }

    #[test]
    fn sandbox_hosts_are_recognised() {
        let sandbox =
            CertificateUrl::parse("https://api.sandbox.paypal.com/v1/notifications/certs/C")
                .unwrap();
        let live =
            CertificateUrl::parse("https://api-m.paypal.com/v1/notifications/certs/C").unwrap();

        assert!(sandbox.is_sandbox());
        assert!(!live.is_sandbox());
    }

    #[test]
    fn the_2014_paypal_sandbox_certificate_parses_with_its_validity() {
        let certificate = PaypalCertificate::from_pem(PAYPAL_2014_PEM).unwrap();

        // notBefore May 12 20:56:48 2014 GMT, notAfter Jul 20 20:56:48 2016 GMT (openssl x509).
        let at = |y, m, d, h, mi, s| Utc.with_ymd_and_hms(y, m, d, h, mi, s).unwrap();
        assert_eq!(
            certificate.check_validity(at(2014, 10, 10, 17, 36, 16)),
            Ok(())
        );
        assert_eq!(
            certificate.check_validity(at(2014, 5, 12, 20, 56, 48)),
            Ok(())
        );
        assert_eq!(
            certificate.check_validity(at(2016, 7, 20, 20, 56, 48)),
            Ok(())
        );
        assert_eq!(
            certificate.check_validity(at(2016, 7, 20, 20, 56, 49)),
            Err(VerifyError::CertificateExpired)
        );
        assert_eq!(
            certificate.check_validity(at(2014, 5, 12, 20, 56, 47)),
            Err(VerifyError::CertificateExpired)
        );
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(
            PaypalCertificate::from_pem(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            ),
            Err(VerifyError::CertificateInvalid)
        );
        assert_eq!(
            PaypalCertificate::from_pem(b"<html>502 Bad Gateway</html>"),
            Err(VerifyError::CertificateInvalid)
        );
    }
}
