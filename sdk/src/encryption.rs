//! End-to-end encryption middleware (feature `encryption`): step outputs, the function's
//! output and one field of sent events are encrypted before they leave the worker, so the
//! executor only ever stores ciphertext (docs/protocol.md §7.17).
//!
//! The format is the official SDKs' `inngest/libsodium` strategy, so a Rust function and a
//! JavaScript one sharing a key read each other's data: a value is replaced by
//! `{"__ENCRYPTED__": true, "__STRATEGY__": "inngest/libsodium", "data": "<base64>"}`, the
//! base64 (standard alphabet, padded) holding a random 24-byte nonce followed by the
//! XSalsa20-Poly1305 secretbox of the value's JSON; the 32-byte key is the BLAKE2b-256 hash
//! of the key string (trimmed).
//!
//! What is encrypted, as the official middleware does:
//! - every non-`null` step output (in [`Middleware::wrap_step`]); stored step results are
//!   decrypted before the handler decodes them ([`Middleware::transform_step_result`]);
//! - the function's non-`null` output;
//! - the `encrypted` field of each sent event's `data` (the field is configurable with
//!   [`Encryption::event_field`]), and of a `step.invoke` payload's `data` (the invoked
//!   function's event); every encrypted top-level field of a triggering event's `data`, and
//!   of each event of the run's `events` (a batch), is decrypted before the handler sees it.
//!
//! Key rotation: the first key encrypts; it and every fallback key are tried in turn to
//! decrypt. Keys never appear in `Debug` output, logs or errors.
//!
//! ```
//! use inngest_sdk::encryption::Encryption;
//! use inngest_sdk::{
//!     Client, Config, Endpoint, Error, Function, FunctionOpts, Input, Step, Trigger,
//! };
//! use serde_json::{Value, json};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The key string comes from a secret store in a real app; the old key only decrypts.
//! let encryption = Encryption::new("a long random key string")?
//!     .with_fallback_keys(["the previous key string"]);
//! let client = Client::new(Config::dev()).with_middleware(encryption);
//!
//! let profile = Function::new(
//!     FunctionOpts::new("load-profile").trigger(Trigger::event("user/signup")),
//!     |input: Input<Value>, step: Step| async move {
//!         // `data.encrypted` arrives decrypted; the step output is stored encrypted.
//!         let email = input.event.data["encrypted"]["email"].clone();
//!         let profile: Value = step
//!             .run("profile", move || async move { Ok::<_, Error>(json!({ "email": email })) })
//!             .await?;
//!         // Reported encrypted too.
//!         Ok::<_, Error>(profile)
//!     },
//! );
//! let _endpoint = Endpoint::builder("my-app", client).function(profile).build()?;
//! # Ok(())
//! # }
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use blake2::Digest as _;
use blake2::digest::consts::U32;
use crypto_secretbox::aead::{Aead, AeadCore, KeyInit, OsRng};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::middleware::{BoxFuture, Middleware, Next, StepInfo, StepResult};
use crate::run::RunContext;

/// The key marking an encrypted value (its value is `true`).
pub const ENCRYPTION_MARKER: &str = "__ENCRYPTED__";
/// The key naming the strategy of an encrypted value.
pub const STRATEGY_MARKER: &str = "__STRATEGY__";
/// This strategy's name, as the official SDKs write it.
pub const STRATEGY: &str = "inngest/libsodium";
/// The field of an event's `data` encrypted by default.
pub const DEFAULT_EVENT_FIELD: &str = "encrypted";

/// libsodium's `crypto_secretbox_NONCEBYTES`.
const NONCE_LEN: usize = 24;

/// Why a value could not be encrypted or decrypted. Never carries a key or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptionError {
    /// No key was given (or every key string was blank).
    #[error("the encryption middleware needs at least one non-blank key")]
    MissingKey,
    /// The `data` of an encrypted value is not padded standard base64.
    #[error("the encrypted value is not base64")]
    NotBase64,
    /// The ciphertext is shorter than its nonce and tag.
    #[error("the encrypted value is too short")]
    TooShort,
    /// No key opened the box: a wrong key, or the ciphertext was changed.
    #[error("no key was able to decrypt the value")]
    NoKeyDecrypts,
    /// The plaintext is not JSON.
    #[error("the decrypted value is not JSON")]
    NotJson,
    /// The value could not be encrypted.
    #[error("the value could not be encrypted")]
    Encrypt,
}

/// The encryption middleware. See the [module docs](self).
pub struct Encryption {
    /// The first key encrypts; all decrypt, in order.
    keys: Vec<XSalsa20Poly1305>,
    event_field: String,
    decrypt_only: bool,
}

impl fmt::Debug for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encryption")
            .field("keys", &self.keys.len())
            .field("event_field", &self.event_field)
            .field("decrypt_only", &self.decrypt_only)
            .finish()
    }
}

/// The secretbox key of a key string: its BLAKE2b-256 hash, as libsodium's
/// `crypto_generichash(32, key)` computes it.
fn cipher(key: &str) -> XSalsa20Poly1305 {
    let hash = blake2::Blake2b::<U32>::digest(key.as_bytes());
    XSalsa20Poly1305::new(&hash)
}

impl Encryption {
    /// A middleware encrypting with `key` (trimmed, as the official SDKs do).
    pub fn new(key: impl AsRef<str>) -> Result<Self, EncryptionError> {
        let key = key.as_ref().trim();
        if key.is_empty() {
            return Err(EncryptionError::MissingKey);
        }
        Ok(Encryption {
            keys: vec![cipher(key)],
            event_field: DEFAULT_EVENT_FIELD.to_owned(),
            decrypt_only: false,
        })
    }

    /// Adds keys that only decrypt (older keys during a rotation), tried after the main key
    /// in this order. Blank strings are skipped.
    #[must_use]
    pub fn with_fallback_keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        self.keys.extend(
            keys.into_iter()
                .map(|k| k.as_ref().trim().to_owned())
                .filter(|k| !k.is_empty())
                .map(|k| cipher(&k)),
        );
        self
    }

    /// The field of each event's `data` encrypted when events are sent (default
    /// `"encrypted"`).
    #[must_use]
    pub fn event_field(mut self, field: impl Into<String>) -> Self {
        self.event_field = field.into();
        self
    }

    /// Only decrypts: nothing is encrypted (to migrate a function off encryption).
    #[must_use]
    pub fn decrypt_only(mut self, decrypt_only: bool) -> Self {
        self.decrypt_only = decrypt_only;
        self
    }

    /// Encrypts a value with the main key: the `{"__ENCRYPTED__", "__STRATEGY__", "data"}`
    /// object that replaces it on the wire.
    pub fn encrypt_value(&self, value: &Value) -> Result<Value, EncryptionError> {
        let plaintext = serde_json::to_vec(value).map_err(|_| EncryptionError::Encrypt)?;
        let nonce = XSalsa20Poly1305::generate_nonce(&mut OsRng);
        // libsodium's `crypto_secretbox_easy` layout: the tag, then the ciphertext.
        let boxed = self.keys[0]
            .encrypt(&nonce, plaintext.as_slice())
            .map_err(|_| EncryptionError::Encrypt)?;
        let mut combined = Vec::with_capacity(NONCE_LEN + boxed.len());
        combined.extend_from_slice(&nonce);
        combined.extend_from_slice(&boxed);
        let mut envelope = Map::with_capacity(3);
        envelope.insert(ENCRYPTION_MARKER.to_owned(), Value::Bool(true));
        envelope.insert(STRATEGY_MARKER.to_owned(), Value::from(STRATEGY));
        envelope.insert("data".to_owned(), Value::from(STANDARD.encode(combined)));
        Ok(Value::Object(envelope))
    }

    /// Decrypts an encrypted value of this strategy; any other value is returned as it is.
    pub fn decrypt_value(&self, value: &Value) -> Result<Value, EncryptionError> {
        match encrypted_data(value) {
            Some(data) => self.decrypt_data(data),
            None => Ok(value.clone()),
        }
    }

    /// Opens the base64 `data` of an encrypted value with each key in turn.
    fn decrypt_data(&self, data: &str) -> Result<Value, EncryptionError> {
        let combined = STANDARD
            .decode(data)
            .map_err(|_| EncryptionError::NotBase64)?;
        if combined.len() < NONCE_LEN + 16 {
            return Err(EncryptionError::TooShort);
        }
        let (nonce, boxed) = combined.split_at(NONCE_LEN);
        let nonce = Nonce::from_slice(nonce);
        let plaintext = self
            .keys
            .iter()
            .find_map(|key| key.decrypt(nonce, boxed).ok())
            .ok_or(EncryptionError::NoKeyDecrypts)?;
        serde_json::from_slice(&plaintext).map_err(|_| EncryptionError::NotJson)
    }

    /// Decrypts `value` in place when it is encrypted; a value that does not decrypt is left
    /// as it is (the handler then fails to decode it) and logged without its content.
    fn decrypt_in_place(&self, value: &mut Value, what: &'static str) {
        if let Some(data) = encrypted_data(value) {
            match self.decrypt_data(data) {
                Ok(plain) => *value = plain,
                Err(error) => tracing::warn!(%error, what, "an encrypted value did not decrypt"),
            }
        }
    }

    /// Encrypts a non-`null` value in place.
    fn encrypt_in_place(&self, value: &mut Value) -> Result<(), EncryptionError> {
        if !value.is_null() {
            *value = self.encrypt_value(value)?;
        }
        Ok(())
    }
}

/// The base64 `data` of an encrypted value of this strategy, or `None` for any other value.
fn encrypted_data(value: &Value) -> Option<&str> {
    let object = value.as_object()?;
    if object.get(ENCRYPTION_MARKER) != Some(&Value::Bool(true))
        || object.get(STRATEGY_MARKER).and_then(Value::as_str) != Some(STRATEGY)
    {
        return None;
    }
    object.get("data")?.as_str()
}

impl Middleware for Encryption {
    fn transform_input(&self, _run: &RunContext, event: &mut Value) {
        if let Some(data) = event.get_mut("data").and_then(Value::as_object_mut) {
            data.values_mut()
                .for_each(|field| self.decrypt_in_place(field, "event data field"));
        }
    }

    fn wrap_step<'a>(&'a self, _step: &'a StepInfo, next: Next<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            let output = next.run().await?;
            if self.decrypt_only {
                return Ok(output);
            }
            let mut value: Value = serde_json::from_str(output.get())
                .map_err(|e| Error::non_retriable(format!("step output is not JSON: {e}")))?;
            if value.is_null() {
                return Ok(output);
            }
            self.encrypt_in_place(&mut value)
                .map_err(|e| Error::non_retriable(e.to_string()))?;
            RawValue::from_string(value.to_string())
                .map_err(|e| Error::non_retriable(format!("encrypted output: {e}")))
        })
    }

    fn transform_step_result(&self, _run: &RunContext, result: &mut Value) {
        // A `{"data": …}` memo holds the output encrypted; other steps' values are bare.
        if encrypted_data(result).is_some() {
            self.decrypt_in_place(result, "step result");
        } else if let Some(data) = result.get_mut("data") {
            self.decrypt_in_place(data, "step output");
        }
    }

    fn transform_output(&self, _run: &RunContext, output: &mut Value) {
        if self.decrypt_only {
            return;
        }
        if let Err(error) = self.encrypt_in_place(output) {
            // The hook cannot fail the run; the plain output is never reported instead.
            tracing::error!(%error, "the function output could not be encrypted");
            *output = Value::Null;
        }
    }

    fn on_send_event(&self, events: &mut Vec<Value>) {
        if self.decrypt_only {
            return;
        }
        for event in events {
            let Some(field) = event
                .get_mut("data")
                .and_then(Value::as_object_mut)
                .and_then(|data| data.get_mut(&self.event_field))
            else {
                continue;
            };
            if encrypted_data(field).is_some() {
                continue;
            }
            if let Err(error) = self.encrypt_in_place(field) {
                tracing::error!(%error, "an event field could not be encrypted");
                *field = Value::Null;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const KEY: &str = "test key for the rust sdk";

    /// Produced by the official JavaScript middleware's `inngest/libsodium` strategy with
    /// `KEY` from `{"email":"ada@example.com","n":[1,2,3],"nested":{"ok":true}}`.
    const JS_VECTOR: &str = "b26XYd5lZPIEvgad9dttwmOicg7xiTUhix/L3KpVHT9+n6d9jpLZkJ5mChF4y1D9Gtr9+Y67qoR9jHJNCtaGxKdo5+VejxxlZtGIAno+xmfaUieqOKQPdI1TjARSSbxJZwxl/g==";

    fn envelope(data: &str) -> Value {
        json!({ ENCRYPTION_MARKER: true, STRATEGY_MARKER: STRATEGY, "data": data })
    }

    #[test]
    fn decrypts_a_value_encrypted_by_the_javascript_middleware() {
        let encryption = Encryption::new(format!("  {KEY}\n")).expect("a key");
        let plain = encryption
            .decrypt_value(&envelope(JS_VECTOR))
            .expect("decrypts");
        assert_eq!(
            plain,
            json!({"email": "ada@example.com", "n": [1, 2, 3], "nested": {"ok": true}})
        );
    }

    #[test]
    fn round_trips_with_a_fresh_nonce_each_time() {
        let encryption = Encryption::new(KEY).expect("a key");
        let value = json!({"secret": "s3cr3t", "list": [1, null, "x"]});
        let first = encryption.encrypt_value(&value).expect("encrypts");
        let second = encryption.encrypt_value(&value).expect("encrypts");
        assert_ne!(first, second, "a random nonce per value");
        assert_eq!(first[ENCRYPTION_MARKER], json!(true));
        assert_eq!(first[STRATEGY_MARKER], json!(STRATEGY));
        let data = first["data"].as_str().expect("base64 text");
        assert!(!data.contains("s3cr3t"));
        // nonce (24) + tag (16) + the JSON text.
        let len = STANDARD.decode(data).expect("standard base64").len();
        assert_eq!(len, 24 + 16 + value.to_string().len());
        assert_eq!(encryption.decrypt_value(&first), Ok(value.clone()));
        assert_eq!(encryption.decrypt_value(&second), Ok(value));
    }

    #[test]
    fn rotation_encrypts_with_the_first_key_and_decrypts_with_any() {
        let old = Encryption::new("old key").expect("a key");
        let new = Encryption::new("new key")
            .expect("a key")
            .with_fallback_keys(["", "old key"]);
        let by_old = old.encrypt_value(&json!(1)).expect("encrypts");
        let by_new = new.encrypt_value(&json!(2)).expect("encrypts");
        assert_eq!(new.decrypt_value(&by_old), Ok(json!(1)));
        assert_eq!(new.decrypt_value(&by_new), Ok(json!(2)));
        assert_eq!(
            old.decrypt_value(&by_new),
            Err(EncryptionError::NoKeyDecrypts)
        );
    }

    #[test]
    fn tampered_or_malformed_values_fail_and_plain_values_pass_through() {
        let encryption = Encryption::new(KEY).expect("a key");
        let mut bytes = STANDARD.decode(JS_VECTOR).expect("base64");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            encryption.decrypt_value(&envelope(&STANDARD.encode(&bytes))),
            Err(EncryptionError::NoKeyDecrypts)
        );
        assert_eq!(
            encryption.decrypt_value(&envelope("not base64!")),
            Err(EncryptionError::NotBase64)
        );
        assert_eq!(
            encryption.decrypt_value(&envelope("AAAA")),
            Err(EncryptionError::TooShort)
        );
        let other_strategy =
            json!({ ENCRYPTION_MARKER: true, STRATEGY_MARKER: "other", "data": JS_VECTOR });
        assert_eq!(
            encryption.decrypt_value(&other_strategy),
            Ok(other_strategy.clone())
        );
        assert_eq!(
            encryption.decrypt_value(&json!({"a": 1})),
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            Encryption::new(" \t").err(),
            Some(EncryptionError::MissingKey)
        );
    }

    #[test]
    fn debug_and_errors_never_show_a_key() {
        let encryption = Encryption::new(KEY)
            .expect("a key")
            .with_fallback_keys(["older"]);
        let debug = format!("{encryption:?}");
        assert!(!debug.contains(KEY) && !debug.contains("older"), "{debug}");
        assert!(debug.contains("keys: 2"), "{debug}");
        let other = Encryption::new("x")
            .expect("a key")
            .encrypt_value(&json!("p"))
            .expect("encrypts");
        let error = encryption.decrypt_value(&other).expect_err("wrong key");
        assert!(!error.to_string().contains(KEY));
    }

    #[test]
    fn events_get_their_field_encrypted_and_triggers_decrypted() {
        let encryption = Encryption::new(KEY).expect("a key");
        let mut events = vec![
            json!({"name": "a", "data": {"encrypted": {"card": "4242"}, "plain": 1}}),
            json!({"name": "b", "data": {"plain": 2}}),
        ];
        encryption.on_send_event(&mut events);
        assert!(!events[0].to_string().contains("4242"));
        assert_eq!(events[0]["data"]["plain"], json!(1));
        assert_eq!(events[1], json!({"name": "b", "data": {"plain": 2}}));
        let run = RunContext {
            run_id: "run".into(),
            attempt: 0,
            max_attempts: 1,
            function_id: "app-f".into(),
        };
        let mut trigger = events[0].clone();
        encryption.transform_input(&run, &mut trigger);
        assert_eq!(
            trigger,
            json!({"name": "a", "data": {"encrypted": {"card": "4242"}, "plain": 1}})
        );
    }
}
