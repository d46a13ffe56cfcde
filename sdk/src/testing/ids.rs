//! Identifiers the fake executor mints, and the canonical JSON it sends.

use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

/// Crockford base32, the ULID alphabet.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A ULID-shaped id (26 characters): 48 bits of `millis`, then `counter` where a real ULID
/// has randomness, so ids are unique, ordered and the same on every test run.
pub(crate) fn ulid(millis: i64, counter: u64) -> String {
    let time = u64::try_from(millis).unwrap_or(0) & ((1 << 48) - 1);
    let mut out = String::with_capacity(26);
    for i in (0..10).rev() {
        out.push(char::from(CROCKFORD[((time >> (i * 5)) & 31) as usize]));
    }
    let random = u128::from(counter);
    for i in (0..16).rev() {
        out.push(char::from(CROCKFORD[((random >> (i * 5)) & 31) as usize]));
    }
    out
}

/// A UUID-shaped internal function id derived from the composite id (docs/protocol.md §7.1: the
/// server sends its internal UUID as `ctx.fn_id`, never the composite id).
pub(crate) fn function_uuid(composite_id: &str) -> String {
    let digest = hex::encode(Sha1::digest(composite_id.as_bytes()));
    format!(
        "{}-{}-{}-{}-{}",
        &digest[0..8],
        &digest[8..12],
        &digest[12..16],
        &digest[16..20],
        &digest[20..32]
    )
}

/// `value` with every object's keys sorted, so the request body is JCS-like (docs/protocol.md
/// §7.1) whatever serde_json's map order is in this build.
pub(crate) fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut sorted = Map::new();
            for (key, value) in entries {
                sorted.insert(key, canonical(value));
            }
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_are_26_crockford_characters_and_ordered_by_counter() {
        let a = ulid(1_767_225_600_000, 1);
        let b = ulid(1_767_225_600_000, 2);
        assert_eq!(a.len(), 26);
        assert!(a.chars().all(|c| CROCKFORD.contains(&(c as u8))));
        assert!(a < b);
    }

    #[test]
    fn function_uuid_is_uuid_shaped_and_stable() {
        let id = function_uuid("app-fn");
        assert_eq!(id.len(), 36);
        assert_eq!(id, function_uuid("app-fn"));
        assert_ne!(id, function_uuid("app-other"));
    }

    #[test]
    fn canonical_sorts_nested_keys() {
        let value = canonical(serde_json::json!({"b": {"z": 1, "a": 2}, "a": [{"y": 1, "x": 2}]}));
        assert_eq!(
            serde_json::to_string(&value).expect("json"),
            r#"{"a":[{"x":2,"y":1}],"b":{"a":2,"z":1}}"#
        );
    }
}
