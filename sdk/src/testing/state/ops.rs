//! Reading ops (docs/protocol.md §7.4) and what a call retry repeats: plain helpers the
//! op-applying files (`calls.rs`, `gateway.rs`, `signal.rs`) share, with no state of their own.

use serde_json::{Value, json};

/// Which call to repeat on a retry.
#[derive(Debug, Clone)]
pub(super) struct Retry {
    pub(super) step: Option<String>,
    pub(super) attempt: u32,
    pub(super) retry_after: Option<String>,
}

pub(super) fn opt_str<'a>(op: &'a Value, key: &str) -> Option<&'a str> {
    op.get("opts")
        .and_then(|o| o.get(key))
        .and_then(Value::as_str)
}

pub(super) fn error_body(message: String) -> Value {
    json!({ "name": "Error", "message": message })
}

/// A 206 body as recorded: every `AIGateway` op's `opts.auth_key` replaced, so the key
/// never reaches a record (nor a `Debug` print of one).
pub(super) fn redacted(body: &Value) -> Value {
    let mut body = body.clone();
    let ops: Vec<&mut Value> = match &mut body {
        Value::Array(ops) => ops.iter_mut().collect(),
        op @ Value::Object(_) => vec![op],
        _ => Vec::new(),
    };
    for op in ops {
        if let Some(key) = op.pointer_mut("/opts/auth_key") {
            *key = Value::String("[redacted]".into());
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_bodies_carry_no_auth_key() {
        let body = json!([{"op": "AIGateway", "opts": {"auth_key": "sk-secret", "url": "u"}}]);
        let recorded = redacted(&body);
        assert!(!recorded.to_string().contains("sk-secret"), "{recorded}");
        assert_eq!(recorded[0]["opts"]["url"], "u");
    }
}
