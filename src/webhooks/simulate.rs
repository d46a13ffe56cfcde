//! Correctly signed sample webhooks, for the `simulate` binary (the README's "simulate a
//! purchase") and the tests: the same signing the providers do, with our configured secrets.
//!
//! PayPal is not here: its deliveries are signed with PayPal's private key, and our app only
//! trusts certificates served by PayPal's hosts, so a locally signed PayPal delivery can only
//! be verified by an app built with a test certificate source (the tests do that, with the
//! key in `tests/fixtures/paypal-test-signer/`).

use super::{InvalidSecret, WebhookSecret, stripe, svix};
use crate::paths;

/// A webhook request ready to POST to the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The route, e.g. `/api/stripe/webhook`.
    pub path: &'static str,
    /// The signature headers (name, value).
    pub headers: Vec<(&'static str, String)>,
    /// The exact bytes that were signed.
    pub body: Vec<u8>,
}

/// A Stripe delivery of `body` signed at `now_unix` under `secret`.
#[must_use]
pub fn stripe_request(secret: &WebhookSecret, body: Vec<u8>, now_unix: i64) -> SignedRequest {
    let signature = stripe::sign_for_test(secret, &body, now_unix);
    SignedRequest {
        path: paths::STRIPE_WEBHOOK,
        headers: vec![(stripe::SIGNATURE_HEADER, signature)],
        body,
    }
}

/// A Svix (Clerk or Resend) delivery of `body` with message id `message_id`, signed at
/// `now_unix` under `secret`; `path` is the route it is for.
///
/// # Errors
/// [`InvalidSecret`] when the secret is empty or not base64.
pub fn svix_request(
    path: &'static str,
    secret: &WebhookSecret,
    message_id: &str,
    body: Vec<u8>,
    now_unix: i64,
) -> Result<SignedRequest, InvalidSecret> {
    let signature = svix::sign_for_test(secret, message_id, now_unix, &body)?;
    Ok(SignedRequest {
        path,
        headers: vec![
            ("svix-id", message_id.to_owned()),
            ("svix-timestamp", now_unix.to_string()),
            ("svix-signature", signature),
        ],
        body,
    })
}
