//! Bodies of introspection (docs/protocol.md §5), in-band sync (§6.3) and out-of-band register
//! (§6.2).

use serde::{Deserialize, Serialize};

use super::config::FunctionConfig;
use super::response::{SDK_LANGUAGE, SDK_VERSION};

/// Introspection schema version (docs/protocol.md §5).
pub const SCHEMA_VERSION: &str = "2024-05-24";

/// Capabilities this SDK implements.
#[derive(Debug, Clone, Serialize)]
pub struct Capabilities {
    /// In-band sync.
    pub in_band_sync: &'static str,
    /// Trust probe.
    pub trust_probe: &'static str,
}

/// The capabilities of this SDK: in-band sync and the trust probe (not Connect).
pub const CAPABILITIES: Capabilities = Capabilities {
    in_band_sync: "v1",
    trust_probe: "v1",
};

/// The unauthenticated introspection body (docs/protocol.md §5).
#[derive(Debug, Serialize)]
pub struct Introspection {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: &'static str,
    /// `null` unsigned, `false` signed but invalid, `true` valid.
    pub authentication_succeeded: Option<bool>,
    /// Registered configs, failure handlers included.
    pub function_count: usize,
    /// Whether an event key is configured.
    pub has_event_key: bool,
    /// Whether a signing key is configured.
    pub has_signing_key: bool,
    /// Whether a fallback signing key is configured.
    pub has_signing_key_fallback: bool,
    /// `dev` or `cloud`.
    pub mode: &'static str,
    /// Extra information (empty).
    pub extra: Extra,
    /// Implemented capabilities.
    pub capabilities: Capabilities,
    /// Present only when authenticated.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub authenticated: Option<AuthenticatedIntrospection>,
}

/// `extra` of introspection: an empty object.
#[derive(Debug, Default, Serialize)]
pub struct Extra {}

/// The fields only an authenticated caller sees (docs/protocol.md §5).
#[derive(Debug, Clone, Serialize)]
pub struct AuthenticatedIntrospection {
    /// Resolved API origin.
    pub api_origin: String,
    /// App id.
    pub app_id: String,
    /// `INNGEST_ENV` or `null`.
    pub env: Option<String>,
    /// Resolved event API origin.
    pub event_api_origin: String,
    /// Hex SHA-256 of the event key, or `null`.
    pub event_key_hash: Option<String>,
    /// Framework name.
    pub framework: Option<&'static str>,
    /// `rust`.
    pub sdk_language: &'static str,
    /// Semver without `v`.
    pub sdk_version: &'static str,
    /// Serve origin override.
    pub serve_origin: Option<String>,
    /// Serve path override.
    pub serve_path: Option<String>,
    /// Bearer-form hash of the signing key.
    pub signing_key_hash: Option<String>,
    /// Bearer-form hash of the fallback signing key.
    pub signing_key_fallback_hash: Option<String>,
}

/// The body of an in-band sync `PUT` (docs/protocol.md §6.3).
#[derive(Debug, Deserialize)]
pub struct InBandRequest {
    /// The URL Inngest wants the app to use.
    pub url: String,
}

/// The in-band sync response (docs/protocol.md §6.3).
#[derive(Debug, Serialize)]
pub struct InBandResponse<'a> {
    /// App id.
    pub app_id: &'a str,
    /// Developer-supplied app version.
    #[serde(rename = "appVersion", skip_serializing_if = "Option::is_none")]
    pub app_version: Option<&'a str>,
    /// `INNGEST_ENV` or `null`.
    pub env: Option<&'a str>,
    /// Framework or `null`.
    pub framework: Option<&'static str>,
    /// Function configs.
    pub functions: Vec<FunctionConfig<'a>>,
    /// The authenticated introspection object.
    pub inspection: Introspection,
    /// Platform or `null`.
    pub platform: Option<&'a str>,
    /// SDK author.
    pub sdk_author: &'static str,
    /// `rust`.
    pub sdk_language: &'static str,
    /// Semver without `v`.
    pub sdk_version: &'static str,
    /// The final app URL.
    pub url: String,
    /// Implemented capabilities.
    pub capabilities: Capabilities,
}

/// The out-of-band register body (docs/protocol.md §6.2).
#[derive(Debug, Serialize)]
pub struct RegisterRequest<'a> {
    /// Absolute app URL, never with `deployId`.
    pub url: String,
    /// Register format version.
    pub v: &'static str,
    /// `ping`.
    #[serde(rename = "deployType")]
    pub deploy_type: &'static str,
    /// `rust:v<semver>`.
    pub sdk: String,
    /// Framework name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framework: Option<&'static str>,
    /// App id.
    #[serde(rename = "appName")]
    pub app_name: &'a str,
    /// Developer-supplied app version.
    #[serde(rename = "appVersion", skip_serializing_if = "Option::is_none")]
    pub app_version: Option<&'a str>,
    /// Function configs.
    pub functions: Vec<FunctionConfig<'a>>,
    /// Implemented capabilities.
    pub capabilities: Capabilities,
}

impl<'a> RegisterRequest<'a> {
    /// A register body for these functions.
    pub fn new(
        url: String,
        app_name: &'a str,
        app_version: Option<&'a str>,
        framework: Option<&'static str>,
        functions: Vec<FunctionConfig<'a>>,
    ) -> Self {
        RegisterRequest {
            url,
            v: "0.1",
            deploy_type: "ping",
            sdk: format!("{SDK_LANGUAGE}:v{SDK_VERSION}"),
            framework,
            app_name,
            app_version,
            functions,
            capabilities: CAPABILITIES,
        }
    }
}

/// The answer to an out-of-band sync `PUT` (docs/protocol.md §6.2 step 4).
#[derive(Debug, Serialize)]
pub struct SyncResult<'a> {
    /// Human-readable result.
    pub message: &'a str,
    /// Whether the server's registration changed.
    pub modified: bool,
}
