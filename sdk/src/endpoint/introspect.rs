//! `GET`: introspection (docs/protocol.md §5).

use super::*;

impl Endpoint {
    pub(super) fn introspect(&self, headers: &HeaderMap) -> Response<Vec<u8>> {
        let (authenticated, key) = match self.authenticate(headers, b"") {
            Auth::Valid(key) => (Some(true), Some(key)),
            Auth::Invalid(_) if self.inner.client.config().mode() == Mode::Cloud => {
                return unauthorized();
            }
            Auth::Invalid(_) => (Some(false), None),
            Auth::Unsigned => (None, None),
        };
        let body = to_json(&self.introspection(authenticated));
        self.sign(json_response(StatusCode::OK, body), key)
    }

    pub(super) fn introspection(&self, authentication_succeeded: Option<bool>) -> Introspection {
        let config = self.inner.client.config();
        let authenticated =
            (authentication_succeeded == Some(true)).then(|| AuthenticatedIntrospection {
                api_origin: config.api_base_url().to_string(),
                app_id: self.inner.app_id.to_string(),
                env: config.env().map(str::to_owned),
                event_api_origin: config.event_api_base_url().to_string(),
                event_key_hash: config.event_key().map(|k| event_key_hash(k.expose())),
                framework: self.inner.framework,
                sdk_language: SDK_LANGUAGE,
                sdk_version: SDK_VERSION,
                serve_origin: config.serve_origin().map(str::to_owned),
                serve_path: config.serve_path().map(str::to_owned),
                signing_key_hash: config.signing_key().and_then(|k| k.hashed().ok()),
                signing_key_fallback_hash: config
                    .signing_key_fallback()
                    .and_then(|k| k.hashed().ok()),
            });
        Introspection {
            schema_version: SCHEMA_VERSION,
            authentication_succeeded,
            function_count: self.inner.entries.len(),
            has_event_key: config.event_key().is_some(),
            has_signing_key: config.signing_key().is_some(),
            has_signing_key_fallback: config.signing_key_fallback().is_some(),
            mode: config.mode().as_str(),
            extra: Extra {},
            capabilities: CAPABILITIES,
            authenticated,
        }
    }
}
