//! PayPal webhooks: offline ("self") verification of transmission signatures
//! (docs/integrations.md §2.4, §11) and the mapping of `PAYMENT.CAPTURE.COMPLETED` to
//! `purchase/mentorship` (§2.1, §2.2).
//!
//! Offline verification, step by step:
//! 1. read the five `PAYPAL-*` headers (each exactly once);
//! 2. allow-list the algorithm and the certificate URL, check the transmission time window;
//! 3. fetch the certificate through a [`CertificateSource`] and check its validity dates;
//! 4. verify RSA PKCS#1 v1.5 over `"{transmission id}|{transmission time}|{OUR webhook id}|
//!    {crc32 of the raw body, decimal}"`.
//!
//! The pieces are public and separately testable: [`signed_message`], [`verify_signature`],
//! [`CertificateUrl`], [`PaypalCertificate`], and [`PaypalVerifier::verify_with_certificate`]
//! (everything but the fetch, synchronous).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use rsa::RsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier as _;

use super::{InvalidSecret, VerifyError, check_body_size, check_timestamp, required_header};

mod amount;
mod certificate;
mod event;

pub use amount::{minor_unit_digits, parse_minor_units};
pub use certificate::{
    CertificateFetchError, CertificateSource, CertificateUrl, PaypalCertificate,
};
pub use event::{
    Capture, CapturePayer, CapturePayerName, Money, PAYMENT_CAPTURE_COMPLETED, PaypalEvent,
    PaypalOutcome, PendingPurchase, RelatedIds, SupplementaryData, purchase_from_event,
};

/// `PAYPAL-TRANSMISSION-ID`: unique per delivery; part of the signed message.
pub const TRANSMISSION_ID_HEADER: &str = "paypal-transmission-id";
/// `PAYPAL-TRANSMISSION-TIME`: RFC 3339; part of the signed message.
pub const TRANSMISSION_TIME_HEADER: &str = "paypal-transmission-time";
/// `PAYPAL-TRANSMISSION-SIG`: base64 RSA signature.
pub const TRANSMISSION_SIG_HEADER: &str = "paypal-transmission-sig";
/// `PAYPAL-CERT-URL`: where the signing certificate is served.
pub const CERT_URL_HEADER: &str = "paypal-cert-url";
/// `PAYPAL-AUTH-ALGO`: e.g. `SHA256withRSA`.
pub const AUTH_ALGO_HEADER: &str = "paypal-auth-algo";

/// Default window around `PAYPAL-TRANSMISSION-TIME`. PayPal retries for 3 days, but each
/// retry is a new transmission with a fresh time and signature, so a short window only stops
/// replays.
pub const DEFAULT_TRANSMISSION_TOLERANCE: Duration = Duration::from_secs(300);

/// A signature algorithm PayPal names in `PAYPAL-AUTH-ALGO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthAlgorithm {
    /// `SHA256withRSA`: what PayPal sends today; always accepted.
    Sha256WithRsa,
    /// `SHA1withRSA`: PayPal's 2014 scheme; accepted only when configured (the published test
    /// vector), because SHA-1 is no longer collision resistant.
    Sha1WithRsa,
}

impl AuthAlgorithm {
    /// The header spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256WithRsa => "SHA256withRSA",
            Self::Sha1WithRsa => "SHA1withRSA",
        }
    }
}

/// What the PayPal verifier needs to know about our side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaypalVerifierConfig {
    /// OUR webhook's id from the PayPal developer dashboard (per environment), never one from
    /// the request: it is what binds a signature to this endpoint (§2.4, §11.6).
    pub webhook_id: String,
    /// Window around `PAYPAL-TRANSMISSION-TIME`, both directions.
    pub transmission_tolerance: Duration,
    /// Accept `SHA1withRSA` too. Off in every real deployment.
    pub allow_sha1_with_rsa: bool,
}

impl PaypalVerifierConfig {
    /// Production defaults for `webhook_id`: SHA-256 only, [`DEFAULT_TRANSMISSION_TOLERANCE`].
    #[must_use]
    pub fn new(webhook_id: impl Into<String>) -> Self {
        Self {
            webhook_id: webhook_id.into(),
            transmission_tolerance: DEFAULT_TRANSMISSION_TOLERANCE,
            allow_sha1_with_rsa: false,
        }
    }
}

/// The signed headers of one PayPal delivery, parsed and allow-listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmission {
    /// `PAYPAL-TRANSMISSION-ID`, as sent.
    pub id: String,
    /// `PAYPAL-TRANSMISSION-TIME` exactly as sent: the signature covers this text, so it is
    /// never reformatted.
    pub time_text: String,
    /// The same time, parsed, for the replay window.
    pub time: DateTime<Utc>,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// The allow-listed certificate URL.
    pub cert_url: CertificateUrl,
    /// The allow-listed algorithm.
    pub algorithm: AuthAlgorithm,
}

/// Verifies PayPal webhook deliveries offline.
#[derive(Debug, Clone)]
pub struct PaypalVerifier {
    /// Our webhook id and policy.
    config: PaypalVerifierConfig,
}

impl PaypalVerifier {
    /// A verifier for our webhook.
    ///
    /// # Errors
    /// [`InvalidSecret::Empty`] when the webhook id is empty.
    pub fn new(config: PaypalVerifierConfig) -> Result<Self, InvalidSecret> {
        if config.webhook_id.trim().is_empty() {
            return Err(InvalidSecret::Empty);
        }
        Ok(Self { config })
    }

    /// Verifies a delivery: headers, time window, certificate (fetched from `certificates`),
    /// validity dates and signature over the raw body.
    ///
    /// The time window is checked before the fetch, so stale or forged deliveries cost no
    /// outbound request.
    ///
    /// # Errors
    /// [`VerifyError`]; [`VerifyError::CertificateUnavailable`] (transient) when the fetch
    /// fails.
    pub async fn verify<C: CertificateSource>(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
        certificates: &C,
    ) -> Result<(), VerifyError> {
        check_body_size(body)?;
        let transmission = self.transmission(headers)?;
        self.check_time(&transmission, now)?;
        let pem = certificates
            .certificate_pem(&transmission.cert_url)
            .await
            .map_err(|_| VerifyError::CertificateUnavailable)?;
        let certificate = PaypalCertificate::from_pem(&pem)?;
        self.verify_with_certificate(&transmission, body, now, &certificate)
    }

    /// Reads and allow-lists the five `PAYPAL-*` headers.
    ///
    /// # Errors
    /// [`VerifyError`] for a missing, duplicated or malformed header, an algorithm that is not
    /// allowed, or a certificate URL outside the allow-list.
    pub fn transmission(&self, headers: &HeaderMap) -> Result<Transmission, VerifyError> {
        let id = required_header(headers, TRANSMISSION_ID_HEADER)?;
        let time_text = required_header(headers, TRANSMISSION_TIME_HEADER)?;
        let signature = required_header(headers, TRANSMISSION_SIG_HEADER)?;
        let cert_url = required_header(headers, CERT_URL_HEADER)?;
        let algorithm = required_header(headers, AUTH_ALGO_HEADER)?;

        // A `|` would let the id shift the fields of the `|`-joined signed message.
        if id.is_empty() || id.len() > 128 || id.contains('|') {
            return Err(VerifyError::MalformedHeader(TRANSMISSION_ID_HEADER));
        }
        let time = DateTime::parse_from_rfc3339(time_text)
            .map_err(|_| VerifyError::MalformedHeader(TRANSMISSION_TIME_HEADER))?
            .with_timezone(&Utc);
        let algorithm = match algorithm {
            "SHA256withRSA" => AuthAlgorithm::Sha256WithRsa,
            "SHA1withRSA" if self.config.allow_sha1_with_rsa => AuthAlgorithm::Sha1WithRsa,
            _ => return Err(VerifyError::UnsupportedAlgorithm),
        };
        let signature = STANDARD
            .decode(signature)
            .map_err(|_| VerifyError::MalformedHeader(TRANSMISSION_SIG_HEADER))?;
        let cert_url = CertificateUrl::parse(cert_url)?;
        Ok(Transmission {
            id: id.to_owned(),
            time_text: time_text.to_owned(),
            time,
            signature,
            cert_url,
            algorithm,
        })
    }

    /// Everything but the fetch: time window, certificate validity, and the signature over
    /// the message built with OUR webhook id and the CRC32 of `body`.
    ///
    /// # Errors
    /// [`VerifyError`] when any check fails.
    pub fn verify_with_certificate(
        &self,
        transmission: &Transmission,
        body: &[u8],
        now: DateTime<Utc>,
        certificate: &PaypalCertificate,
    ) -> Result<(), VerifyError> {
        check_body_size(body)?;
        self.check_time(transmission, now)?;
        certificate.check_validity(now)?;
        let message = signed_message(
            &transmission.id,
            &transmission.time_text,
            &self.config.webhook_id,
            body,
        );
        verify_signature(
            certificate.public_key(),
            transmission.algorithm,
            message.as_bytes(),
            &transmission.signature,
        )
    }

    fn check_time(
        &self,
        transmission: &Transmission,
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        check_timestamp(
            transmission.time.timestamp(),
            now.timestamp(),
            self.config.transmission_tolerance,
        )
    }
}

/// The message PayPal signs: `"{transmission_id}|{transmission_time}|{webhook_id}|{crc}"`, where
/// `crc` is the unsigned decimal CRC32 (IEEE) of the raw body (§2.4 steps 2–3).
#[must_use]
pub fn signed_message(
    transmission_id: &str,
    transmission_time: &str,
    webhook_id: &str,
    body: &[u8],
) -> String {
    let crc = crc32fast::hash(body);
    format!("{transmission_id}|{transmission_time}|{webhook_id}|{crc}")
}

/// Verifies an RSA PKCS#1 v1.5 `signature` over `message` with the digest of `algorithm`.
///
/// # Errors
/// [`VerifyError::BadSignature`] when it does not verify (or has the wrong length).
pub fn verify_signature(
    key: &RsaPublicKey,
    algorithm: AuthAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    let signature = Signature::try_from(signature).map_err(|_| VerifyError::BadSignature)?;
    let verified = match algorithm {
        AuthAlgorithm::Sha256WithRsa => {
            VerifyingKey::<sha2::Sha256>::new(key.clone()).verify(message, &signature)
        }
        AuthAlgorithm::Sha1WithRsa => {
            VerifyingKey::<sha1::Sha1>::new(key.clone()).verify(message, &signature)
        }
    };
    verified.map_err(|_| VerifyError::BadSignature)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests;
