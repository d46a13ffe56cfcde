//! Wire types of call requests (docs/protocol.md §7.1) and of memoized step values (§7.2).
//!
//! A call request is parsed once, from its text, without copying any part of it: the event,
//! the batch and every memoized value stay where they are in the body (a [`RawJson`] is a
//! shared pointer to the text and a range), and each is decoded only when a step or the
//! handler asks for it, straight into the type the user asked for. The body is checked to
//! be UTF-8 once, as a whole, so nothing checks a part of it again.

use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use super::hash::{DigestTable, StepDigest, parse_step_hash, push_step_hash};

/// One JSON value inside a shared text (the body of a call request, or a run-state response
/// from the API). Cloning or keeping one costs a reference count, never a copy.
#[derive(Clone)]
pub struct RawJson {
    text: Arc<str>,
    start: usize,
    end: usize,
}

impl RawJson {
    /// Checks that `text` is one JSON value (surrounding whitespace allowed) and wraps it.
    pub fn parse(text: impl Into<Arc<str>>) -> Result<RawJson, serde_json::Error> {
        let text = text.into();
        let value: &RawValue = serde_json::from_str(&text)?;
        RawJson::borrowed(&text, value)
    }

    /// The value's JSON text.
    pub fn get(&self) -> &str {
        &self.text[self.start..self.end]
    }

    /// Decodes the value into `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.get())
    }

    /// Whether the value is JSON `null` (a finished sleep, a timed-out wait).
    pub fn is_null(&self) -> bool {
        self.get().trim() == "null"
    }

    /// The part `part` of `text` as a raw value, or `None` when `part` is not a slice of
    /// `text` (serde_json borrows raw values from the text it parses, so it always is).
    fn within(text: &Arc<str>, part: &str) -> Option<RawJson> {
        let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        let found = text.get(start..end)?;
        std::ptr::eq(found, part).then(|| RawJson {
            text: Arc::clone(text),
            start,
            end,
        })
    }

    /// A value serde_json borrowed from `text` (it borrows raw values from the text it
    /// parses, so this fails only if that ever changes).
    fn borrowed(text: &Arc<str>, value: &RawValue) -> Result<RawJson, serde_json::Error> {
        RawJson::within(text, value.get())
            .ok_or_else(|| serde::de::Error::custom("a raw value outside its text"))
    }

    /// This value, if it is a JSON array (`what` names it in the error).
    pub(crate) fn require_array(self, what: &str) -> Result<RawJson, serde_json::Error> {
        if self.get().starts_with('[') {
            Ok(self)
        } else {
            Err(serde::de::Error::custom(format!(
                "{what} is not a JSON array"
            )))
        }
    }

    /// The first element of this value, which must be a JSON array; `None` when it is
    /// empty.
    pub fn first_element(&self) -> Result<Option<RawJson>, serde_json::Error> {
        /// Reads an array's first element and skips the rest.
        struct First<'a>(Option<&'a RawValue>);
        impl<'de> Deserialize<'de> for First<'de> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct FirstVisitor;
                impl<'de> Visitor<'de> for FirstVisitor {
                    type Value = First<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("an array")
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> Result<First<'de>, A::Error> {
                        let first = seq.next_element()?;
                        while seq.next_element::<IgnoredAny>()?.is_some() {}
                        Ok(First(first))
                    }
                }
                deserializer.deserialize_seq(FirstVisitor)
            }
        }
        let First(first) = serde_json::from_str(self.get())?;
        first
            .map(|first| RawJson::borrowed(&self.text, first))
            .transpose()
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawJson").field(&self.get()).finish()
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

/// The body of a `POST` call request from the executor (docs/protocol.md §7.1).
#[derive(Debug)]
pub struct CallRequest {
    /// The triggering event (the first event of a batch). `None` when absent or `null`,
    /// which happens with `use_api`.
    pub event: Option<RawJson>,
    /// Every event of the run (a batch), as the raw JSON array; `None` when absent or
    /// `null`. May be empty when `use_api` is set.
    pub events: Option<RawJson>,
    /// The memo: hashed step id → memoized value (§7.2).
    pub steps: Memo,
    /// Run context.
    pub ctx: CallContext,
    /// The run's request version: `-1` on a new run, else what the SDK announced (§7.9).
    pub version: i64,
    /// Deprecated top-level copy of `ctx.use_api`.
    pub use_api: bool,
}

impl CallRequest {
    /// Parses a call request from its body.
    pub fn parse(text: Arc<str>) -> Result<CallRequest, serde_json::Error> {
        let wire: WireCallRequest<'_> = serde_json::from_str(&text)?;
        let raw =
            |part: Option<&RawValue>| part.map(|part| RawJson::borrowed(&text, part)).transpose();
        let events = raw(wire.events)?
            .map(|events| events.require_array("`events`"))
            .transpose()?;
        let ctx = wire.ctx;
        let stack = match ctx.stack {
            Some(stack) => Some(CallStack {
                stack: raw(stack.stack)?,
                current: stack.current,
            }),
            None => None,
        };
        Ok(CallRequest {
            event: raw(wire.event)?,
            events,
            steps: Memo::from_entries(&text, wire.steps.map(|s| s.0).unwrap_or_default())?,
            ctx: CallContext {
                run_id: ctx.run_id,
                fn_id: ctx.fn_id,
                qi_id: ctx.qi_id,
                attempt: ctx.attempt,
                max_attempts: ctx.max_attempts,
                disable_immediate_execution: ctx.disable_immediate_execution,
                use_api: ctx.use_api,
                stack,
                env: ctx.env,
            },
            version: wire.version,
            use_api: wire.use_api,
        })
    }

    /// Parses a call request from the bytes of its body, which must be UTF-8.
    pub fn from_slice(body: &[u8]) -> Result<CallRequest, serde_json::Error> {
        let text = std::str::from_utf8(body).map_err(serde::de::Error::custom)?;
        CallRequest::parse(Arc::from(text))
    }
}

/// `ctx` of a call request (docs/protocol.md §7.1). Unknown fields are ignored.
#[derive(Debug, Default)]
pub struct CallContext {
    /// The run's ULID.
    pub run_id: String,
    /// The function's internal id (a UUID, not the composite id; §7.1).
    pub fn_id: String,
    /// The queue item the executor leased for this call; checkpoints name it (§7.14).
    pub qi_id: String,
    /// Zero-based attempt of the current queue item.
    pub attempt: u32,
    /// Retries + 1; absent on old servers.
    pub max_attempts: Option<u32>,
    /// When true, every `step.run` must be planned, never executed inline (§7.7).
    pub disable_immediate_execution: bool,
    /// When true, events and steps must be fetched from the API (§7.10).
    pub use_api: bool,
    /// Hashed ids of completed steps in completion order.
    pub stack: Option<CallStack>,
    /// Environment name (empty in dev).
    pub env: Option<String>,
}

/// `ctx.stack` of a call request.
#[derive(Debug, Default)]
pub struct CallStack {
    /// Hashed ids of completed steps, in completion order, as the raw JSON array (or
    /// `None` for `null`). The engine replays in code order and never reads it, so it is
    /// not decoded into one string per step on every call.
    pub stack: Option<RawJson>,
    /// Index of the current step.
    pub current: u64,
}

/// The call request as it is on the wire, borrowing every raw part from the text.
#[derive(Deserialize)]
struct WireCallRequest<'a> {
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    events: Option<&'a RawValue>,
    #[serde(borrow, default)]
    steps: Option<MemoEntries<'a>>,
    #[serde(borrow)]
    ctx: WireContext<'a>,
    #[serde(default)]
    version: i64,
    #[serde(default)]
    use_api: bool,
}

#[derive(Deserialize)]
struct WireContext<'a> {
    #[serde(default)]
    run_id: String,
    #[serde(default)]
    fn_id: String,
    #[serde(default)]
    qi_id: String,
    #[serde(default)]
    attempt: u32,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    disable_immediate_execution: bool,
    #[serde(default)]
    use_api: bool,
    #[serde(borrow, default)]
    stack: Option<WireStack<'a>>,
    #[serde(default)]
    env: Option<String>,
}

#[derive(Deserialize)]
struct WireStack<'a> {
    #[serde(borrow, default)]
    stack: Option<&'a RawValue>,
    #[serde(default)]
    current: u64,
}

/// The memo of a call request (docs/protocol.md §7.2): memoized values by the digest of their
/// hashed step id. A key that is not a hash this SDK can compute (40 lowercase hex digits)
/// could never be looked up, so it is dropped while parsing.
#[derive(Clone)]
pub struct Memo {
    text: Arc<str>,
    /// Digest → the value's range in `text`.
    values: DigestTable<(usize, usize)>,
}

impl Default for Memo {
    fn default() -> Self {
        Memo {
            text: Arc::from(""),
            values: DigestTable::default(),
        }
    }
}

impl fmt::Debug for Memo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memo")
            .field("len", &self.values.len())
            .finish_non_exhaustive()
    }
}

impl Memo {
    /// Parses a memo from a text that is a JSON object of hashed step ids to values (the
    /// `steps` of a call request, or the run's steps fetched from the API).
    pub fn parse(text: Arc<str>) -> Result<Memo, serde_json::Error> {
        let entries: Option<MemoEntries<'_>> = serde_json::from_str(&text)?;
        Memo::from_entries(&text, entries.map(|e| e.0).unwrap_or_default())
    }

    fn from_entries(
        text: &Arc<str>,
        entries: Vec<(StepDigest, &RawValue)>,
    ) -> Result<Memo, serde_json::Error> {
        let ranges = entries
            .into_iter()
            .map(|(digest, value)| {
                let value = RawJson::borrowed(text, value)?;
                Ok((digest, (value.start, value.end)))
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()?;
        Ok(Memo {
            text: Arc::clone(text),
            // Built at its final size, never rehashed while growing.
            values: DigestTable::from_entries(ranges),
        })
    }

    /// The number of memoized values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing is memoized.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The memoized value of a hashed step id, as JSON text.
    pub fn get(&self, hash: &str) -> Option<&str> {
        let digest = parse_step_hash(hash)?;
        self.values
            .get(&digest)
            .map(|&(start, end)| &self.text[start..end])
    }

    /// Every memoized value as JSON text, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.values
            .values()
            .map(|&(start, end)| &self.text[start..end])
    }

    /// The hashed ids of the memoized values, sorted.
    pub fn hashes(&self) -> Vec<String> {
        let mut hashes: Vec<String> = self
            .values
            .keys()
            .map(|digest| {
                let mut hash = String::with_capacity(40);
                push_step_hash(digest, &mut hash);
                hash
            })
            .collect();
        hashes.sort();
        hashes
    }

    /// Removes and returns the memoized value of the step with this digest.
    pub fn take(&mut self, digest: &StepDigest) -> Option<RawJson> {
        self.values.remove(digest).map(|(start, end)| RawJson {
            text: Arc::clone(&self.text),
            start,
            end,
        })
    }
}

/// The entries of a memo object, borrowed from the text, in order.
struct MemoEntries<'a>(Vec<(StepDigest, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for MemoEntries<'a> {
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

        struct EntriesVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for EntriesVisitor<'a> {
            type Value = MemoEntries<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of hashed step ids to memoized values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(Key(digest)) = map.next_key()? {
                    match digest {
                        Some(digest) => entries.push((digest, map.next_value()?)),
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(MemoEntries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(std::marker::PhantomData))
    }
}

/// The error object carried by `StepError`/`StepFailed` ops, memoized step errors and
/// function error responses (docs/protocol.md §7.4, §7.5).
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

/// The memoized value of a `step.run`-type step or an `invoke` (docs/protocol.md §7.2), decoded in
/// one pass: the output goes straight into the type the step returns.
#[derive(Debug)]
pub enum RunMemo<T> {
    /// `{"data": <json>}`: the step's output, or why it does not decode into `T`.
    Data(Result<T, serde_json::Error>),
    /// `{"error": {...}}`: the step failed permanently.
    Error(ErrorBody),
    /// `{"input": [...]}` or any other shape: not a result, the step is not memoized.
    NotCompleted,
}

impl<T: DeserializeOwned> RunMemo<T> {
    /// Decodes the JSON text of a memoized value of a run-type step. `{"data": null}` is
    /// data (`null` decoded into `T`), not a missing output; when both keys are present,
    /// `data` wins.
    pub fn decode(raw: &str) -> RunMemo<T> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "lowercase")]
        enum Field {
            Data,
            Error,
            #[serde(other)]
            Other,
        }

        struct Shape<'f, T> {
            /// Set while `data` is being decoded: an error then is the output's, not the
            /// shape's.
            in_data: &'f std::cell::Cell<bool>,
            _output: std::marker::PhantomData<T>,
        }

        impl<'de, T: DeserializeOwned> Visitor<'de> for Shape<'_, T> {
            type Value = (Option<T>, Option<ErrorBody>);
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a memoized step result")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut data, mut error) = (None, None);
                while let Some(field) = map.next_key()? {
                    match field {
                        Field::Data if data.is_none() => {
                            self.in_data.set(true);
                            data = Some(map.next_value()?);
                            self.in_data.set(false);
                        }
                        Field::Error if error.is_none() => error = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok((data, error))
            }
        }

        let in_data = std::cell::Cell::new(false);
        let mut deserializer = serde_json::Deserializer::from_str(raw);
        let shape = Shape {
            in_data: &in_data,
            _output: std::marker::PhantomData,
        };
        match deserializer.deserialize_map(shape) {
            Ok((Some(data), _)) => RunMemo::Data(Ok(data)),
            Ok((None, Some(error))) => RunMemo::Error(error),
            Ok((None, None)) => RunMemo::NotCompleted,
            Err(error) if in_data.get() => RunMemo::Data(Err(error)),
            Err(_) => RunMemo::NotCompleted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_request_with_null_stack_and_no_events_parses() {
        let body =
            br#"{"ctx":{"run_id":"01J","attempt":2,"stack":null},"steps":null,"version":-1}"#;
        let req = CallRequest::from_slice(body).expect("parses");
        assert_eq!(req.ctx.run_id, "01J");
        assert_eq!(req.ctx.attempt, 2);
        assert!(req.ctx.stack.is_none());
        assert!(req.steps.is_empty());
        assert!(req.events.is_none());
        assert_eq!(req.version, -1);
    }

    #[test]
    fn memo_is_keyed_by_step_hash_and_drops_keys_that_are_not_hashes() {
        let first = crate::core::hash::hash_step_id("first step");
        let body = format!(
            r#"{{"ctx":{{}},"steps":{{"{first}":{{"data":"first step"}},"step":1,"{}":2}}}}"#,
            first.to_uppercase()
        );
        let req = CallRequest::parse(body.into()).expect("parses");
        assert_eq!(req.steps.len(), 1);
        assert_eq!(req.steps.get(&first), Some(r#"{"data":"first step"}"#));
    }

    fn run_memo(raw: &str) -> RunMemo<serde_json::Value> {
        RunMemo::decode(raw)
    }

    #[test]
    fn memoized_data_decodes_into_the_output_type() {
        let memo = run_memo(r#"{"data":{"first":"first step","second":true}}"#);
        assert!(
            matches!(&memo, RunMemo::Data(Ok(v)) if *v == serde_json::json!({"first": "first step", "second": true})),
            "{memo:?}"
        );
        let typed: RunMemo<u64> = RunMemo::decode(r#"{"data":"not a number"}"#);
        assert!(matches!(typed, RunMemo::Data(Err(_))), "{typed:?}");
    }

    #[test]
    fn memoized_null_data_is_data_not_missing() {
        assert!(matches!(
            run_memo(r#"{"data":null}"#),
            RunMemo::Data(Ok(serde_json::Value::Null))
        ));
        let memo = run_memo(r#"{"error":{"name":"Error","message":"x"},"data":1}"#);
        assert!(matches!(memo, RunMemo::Data(Ok(_))), "data wins: {memo:?}");
    }

    #[test]
    fn memoized_error_is_an_error() {
        match run_memo(r#"{"error":{"name":"Error","message":"broken","stack":"x"}}"#) {
            RunMemo::Error(e) => {
                assert_eq!(e.message, "broken");
                assert_eq!(e.name, "Error");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn edited_input_and_other_shapes_are_not_results() {
        for raw in [
            r#"{"input":[1,2]}"#,
            "null",
            "[1]",
            r#"{"error":null}"#,
            r#"{"error":"not an error object"}"#,
        ] {
            assert!(
                matches!(run_memo(raw), RunMemo::NotCompleted),
                "{raw} is not a result"
            );
        }
    }

    #[test]
    fn a_memo_value_is_a_range_of_the_request_text() {
        let first = crate::core::hash::hash_step_id("first step");
        let text: Arc<str> = format!(r#"{{"ctx":{{}},"steps":{{"{first}":{{"data":1}}}}}}"#).into();
        let mut req = CallRequest::parse(Arc::clone(&text)).expect("parses");
        let digest = parse_step_hash(&first).expect("a hash");
        let value = req.steps.take(&digest).expect("memoized");
        assert_eq!(value.get(), r#"{"data":1}"#);
        assert!(
            std::ptr::eq(value.text.as_ptr(), text.as_ptr()),
            "shared, not copied"
        );
        assert!(req.steps.take(&digest).is_none(), "taken once");
    }

    #[test]
    fn events_must_be_an_array_and_its_first_element_is_found() {
        let err = CallRequest::from_slice(br#"{"ctx":{},"events":{"name":"x"}}"#)
            .expect_err("events is an object");
        assert!(err.to_string().contains("events"), "{err}");
        let req = CallRequest::from_slice(br#"{"ctx":{},"events":[ {"name":"a"} , {"name":"b"}]}"#)
            .expect("parses");
        let first = req
            .events
            .expect("events")
            .first_element()
            .expect("an array");
        assert_eq!(
            first.map(|e| e.get().to_owned()),
            Some(r#"{"name":"a"}"#.to_owned())
        );
        assert!(
            RawJson::parse("[]")
                .expect("json")
                .first_element()
                .expect("array")
                .is_none()
        );
    }

    #[test]
    fn a_raw_value_outside_its_text_is_refused() {
        let text: Arc<str> = Arc::from("[1,2]");
        assert!(RawJson::within(&text, "1,2").is_none());
        assert!(RawJson::within(&text, &String::from("[1,2]")).is_none());
        assert_eq!(
            RawJson::within(&text, &text[1..2])
                .map(|v| v.get().to_owned())
                .as_deref(),
            Some("1")
        );
    }
}
