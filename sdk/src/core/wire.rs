//! Wire types of call requests (protocol §7.1) and of memoized step values (§7.2).
//!
//! Event payloads and memoized values stay as raw JSON (`RawValue`) until a step or the
//! handler asks for them with a concrete type: a request with a thousand memoized steps is
//! parsed once, and each value is decoded once, straight into the type the user asked for.

use std::collections::HashMap;
use std::fmt;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use super::hash::{StepDigest, parse_step_hash};

/// The body of a `POST` call request from the executor (protocol §7.1).
#[derive(Debug, Deserialize)]
pub struct CallRequest {
    /// The triggering event (the first event of a batch). Absent or `null` with `use_api`.
    #[serde(default)]
    pub event: Option<Box<RawValue>>,
    /// Every event of the run (a batch); may be empty when `use_api` is set.
    #[serde(default)]
    pub events: Vec<Box<RawValue>>,
    /// The memo: hashed step id → memoized value (§7.2).
    #[serde(default, deserialize_with = "null_as_default")]
    pub steps: Memo,
    /// Run context.
    pub ctx: CallContext,
    /// The run's request version: `-1` on a new run, else what the SDK announced (§7.9).
    #[serde(default)]
    pub version: i64,
    /// Deprecated top-level copy of `ctx.use_api`.
    #[serde(default)]
    pub use_api: bool,
}

/// `ctx` of a call request (protocol §7.1). Unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct CallContext {
    /// The run's ULID.
    #[serde(default)]
    pub run_id: String,
    /// The function's internal id (a UUID, not the composite id; §7.1).
    #[serde(default)]
    pub fn_id: String,
    /// Zero-based attempt of the current queue item.
    #[serde(default)]
    pub attempt: u32,
    /// Retries + 1; absent on old servers.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// When true, every `step.run` must be planned, never executed inline (§7.7).
    #[serde(default)]
    pub disable_immediate_execution: bool,
    /// When true, events and steps must be fetched from the API (§7.10).
    #[serde(default)]
    pub use_api: bool,
    /// Hashed ids of completed steps in completion order.
    #[serde(default)]
    pub stack: Option<CallStack>,
    /// Environment name (empty in dev).
    #[serde(default)]
    pub env: Option<String>,
}

/// `ctx.stack` of a call request.
#[derive(Debug, Default, Deserialize)]
pub struct CallStack {
    /// Hashed ids of completed steps, in completion order, as the raw JSON array (or
    /// `None` for `null`). The engine replays in code order and never reads it, so it is
    /// not decoded into one string per step on every call.
    #[serde(default)]
    pub stack: Option<Box<RawValue>>,
    /// Index of the current step.
    #[serde(default)]
    pub current: u64,
}

/// The memo of a call request (protocol §7.2): memoized values by the digest of their
/// hashed step id. A key that is not a hash this SDK can compute (40 lowercase hex digits)
/// could never be looked up, so it is dropped while parsing.
#[derive(Debug, Default)]
pub struct Memo {
    values: HashMap<StepDigest, Box<RawValue>>,
}

impl Memo {
    /// The number of memoized values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing is memoized.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The memoized value of a hashed step id.
    pub fn get(&self, hash: &str) -> Option<&RawValue> {
        parse_step_hash(hash).and_then(|digest| self.values.get(&digest).map(|v| &**v))
    }

    /// Every memoized value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &RawValue> {
        self.values.values().map(|value| &**value)
    }

    /// Removes and returns the memoized value of the step with this digest.
    pub fn take(&mut self, digest: &StepDigest) -> Option<Box<RawValue>> {
        self.values.remove(digest)
    }
}

impl From<HashMap<String, Box<RawValue>>> for Memo {
    fn from(values: HashMap<String, Box<RawValue>>) -> Self {
        Memo {
            values: values
                .into_iter()
                .filter_map(|(hash, value)| Some((parse_step_hash(&hash)?, value)))
                .collect(),
        }
    }
}

impl<'de> Deserialize<'de> for Memo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// A key read as a digest straight from the JSON text, without allocating it.
        struct Key(Option<StepDigest>);

        impl<'de> Deserialize<'de> for Key {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct KeyVisitor;
                impl Visitor<'_> for KeyVisitor {
                    type Value = Key;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a hashed step id")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
                        Ok(Key(parse_step_hash(v)))
                    }
                }
                deserializer.deserialize_str(KeyVisitor)
            }
        }

        struct MemoVisitor;
        impl<'de> Visitor<'de> for MemoVisitor {
            type Value = Memo;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of hashed step ids to memoized values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Memo, A::Error> {
                // JSON gives no size hint: collect first, then build the table at its final
                // size instead of rehashing it as it grows.
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(Key(digest)) = map.next_key()? {
                    match digest {
                        Some(digest) => entries.push((digest, map.next_value()?)),
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let mut values = HashMap::with_capacity(entries.len());
                values.extend(entries);
                Ok(Memo { values })
            }
        }

        deserializer.deserialize_map(MemoVisitor)
    }
}

/// The error object carried by `StepError`/`StepFailed` ops, memoized step errors and
/// function error responses (protocol §7.4, §7.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Error class; `"Error"` for generic errors.
    #[serde(default)]
    pub name: String,
    /// Exactly the error text.
    #[serde(default)]
    pub message: String,
    /// Optional stack or cause chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// The memoized value of a `step.run`-type step or an `invoke` (protocol §7.2).
#[derive(Debug)]
pub enum RunMemo<'a> {
    /// `{"data": <json>}`: the step's output.
    Data(&'a RawValue),
    /// `{"error": {...}}`: the step failed permanently.
    Error(ErrorBody),
    /// `{"input": [...]}` or any other shape: not a result, the step is not memoized.
    NotCompleted,
}

impl<'a> RunMemo<'a> {
    /// Classifies a memoized value of a run-type step.
    pub fn classify(raw: &'a RawValue) -> RunMemo<'a> {
        #[derive(Deserialize)]
        struct Shape<'b> {
            #[serde(borrow, default, deserialize_with = "present")]
            data: Option<&'b RawValue>,
            #[serde(default)]
            error: Option<ErrorBody>,
        }
        // `{"data": null}` must stay distinguishable from a missing `data` key, so `data`
        // is read as a raw value (a raw `null` is `Some`).
        match serde_json::from_str::<Shape<'a>>(raw.get()) {
            Ok(Shape {
                data: Some(data), ..
            }) => RunMemo::Data(data),
            Ok(Shape {
                error: Some(error), ..
            }) => RunMemo::Error(error),
            _ => RunMemo::NotCompleted,
        }
    }
}

/// Reads a present field as `Some`, even when its value is `null`.
fn present<'de, D>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&'de RawValue>::deserialize(deserializer).map(Some)
}

/// Whether a raw memoized value is JSON `null` (a finished sleep, a timed-out wait).
pub fn is_null(raw: &RawValue) -> bool {
    raw.get().trim() == "null"
}

/// Deserializes `null` as the type's default, so `"steps": null` reads as an empty memo.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).expect("valid json")
    }

    #[test]
    fn call_request_with_null_stack_and_no_events_parses() {
        let body =
            br#"{"ctx":{"run_id":"01J","attempt":2,"stack":null},"steps":null,"version":-1}"#;
        let req: CallRequest = serde_json::from_slice(body).expect("parses");
        assert_eq!(req.ctx.run_id, "01J");
        assert_eq!(req.ctx.attempt, 2);
        assert!(req.ctx.stack.is_none());
        assert!(req.steps.is_empty());
        assert!(req.events.is_empty());
        assert_eq!(req.version, -1);
    }

    #[test]
    fn memo_is_keyed_by_step_hash_and_drops_keys_that_are_not_hashes() {
        let first = crate::core::hash::hash_step_id("first step");
        let body = format!(
            r#"{{"ctx":{{}},"steps":{{"{first}":{{"data":"first step"}},"step":1,"{}":2}}}}"#,
            first.to_uppercase()
        );
        let req: CallRequest = serde_json::from_str(&body).expect("parses");
        assert_eq!(req.steps.len(), 1);
        assert_eq!(
            req.steps.get(&first).map(RawValue::get),
            Some(r#"{"data":"first step"}"#)
        );
    }

    #[test]
    fn memoized_data_keeps_its_raw_bytes() {
        let value = raw(r#"{"data":{"first":"first step","second":true}}"#);
        match RunMemo::classify(&value) {
            RunMemo::Data(d) => assert_eq!(d.get(), r#"{"first":"first step","second":true}"#),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn memoized_null_data_is_data_not_missing() {
        let value = raw(r#"{"data":null}"#);
        assert!(matches!(RunMemo::classify(&value), RunMemo::Data(d) if d.get() == "null"));
    }

    #[test]
    fn memoized_error_is_an_error() {
        let value = raw(r#"{"error":{"name":"Error","message":"broken","stack":"x"}}"#);
        match RunMemo::classify(&value) {
            RunMemo::Error(e) => {
                assert_eq!(e.message, "broken");
                assert_eq!(e.name, "Error");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn edited_input_is_not_a_result() {
        let value = raw(r#"{"input":[1,2]}"#);
        assert!(matches!(RunMemo::classify(&value), RunMemo::NotCompleted));
        assert!(matches!(
            RunMemo::classify(&raw("null")),
            RunMemo::NotCompleted
        ));
    }
}
