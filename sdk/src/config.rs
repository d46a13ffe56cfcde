//! SDK configuration from the standard `INNGEST_*` environment variables (docs/protocol.md §2.1).

use std::fmt;

use url::Url;

use crate::core::checkpoint::Checkpointing;
use crate::core::signature::{KeyError, SigningKey};

/// Dev server or Inngest Cloud (docs/protocol.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The local dev server: requests are not signed, keys are optional.
    Dev,
    /// Inngest Cloud (or a self-hosted `inngest start`): every request must be signed.
    Cloud,
}

impl Mode {
    /// `"dev"` or `"cloud"`, as introspection reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Dev => "dev",
            Mode::Cloud => "cloud",
        }
    }
}

/// Default cloud API origin.
pub const CLOUD_API_BASE_URL: &str = "https://api.inngest.com";
/// Default cloud event API origin.
pub const CLOUD_EVENT_API_BASE_URL: &str = "https://inn.gs";
/// Default dev server origin.
pub const DEV_SERVER_URL: &str = "http://127.0.0.1:8288";

/// The event key sent as a path segment to the event API; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct EventKey(String);

impl EventKey {
    /// Wraps an event key.
    pub fn new(key: impl Into<String>) -> Self {
        EventKey(key.into())
    }

    /// The key itself, for the request path.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventKey(redacted)")
    }
}

/// A configuration problem found while reading the environment. Messages name the
/// variable, never its value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A URL variable does not hold an absolute http(s) URL.
    #[error("{variable} is not an absolute http(s) URL")]
    InvalidUrl {
        /// The variable.
        variable: &'static str,
    },
    /// A signing key variable is unusable.
    #[error("{variable} is not a valid signing key: {source}")]
    InvalidSigningKey {
        /// The variable.
        variable: &'static str,
        /// Why.
        source: KeyError,
    },
}

/// Everything the SDK needs to talk to Inngest and to check who is calling.
///
/// Read it with [`Config::from_env`], or build it with [`Config::dev`] / [`Config::cloud`]
/// and the setters.
#[derive(Debug, Clone)]
pub struct Config {
    mode: Mode,
    api_base_url: Url,
    event_api_base_url: Url,
    signing_key: Option<SigningKey>,
    signing_key_fallback: Option<SigningKey>,
    event_key: Option<EventKey>,
    serve_origin: Option<String>,
    serve_path: Option<String>,
    env: Option<String>,
    allow_in_band_sync: bool,
    checkpointing: Option<Checkpointing>,
    /// Whether call requests are answered as a keep-alive stream (docs/protocol.md §7.11).
    streaming: bool,
}

impl Config {
    /// Dev mode against the dev server at `http://127.0.0.1:8288`.
    pub fn dev() -> Self {
        let dev = Url::parse(DEV_SERVER_URL).expect("constant URL");
        Config {
            mode: Mode::Dev,
            api_base_url: dev.clone(),
            event_api_base_url: dev,
            signing_key: None,
            signing_key_fallback: None,
            event_key: None,
            serve_origin: None,
            serve_path: None,
            env: None,
            allow_in_band_sync: true,
            checkpointing: Some(Checkpointing::new()),
            streaming: false,
        }
    }

    /// Cloud mode with this signing key.
    pub fn cloud(signing_key: SigningKey) -> Self {
        Config {
            mode: Mode::Cloud,
            api_base_url: Url::parse(CLOUD_API_BASE_URL).expect("constant URL"),
            event_api_base_url: Url::parse(CLOUD_EVENT_API_BASE_URL).expect("constant URL"),
            signing_key: Some(signing_key),
            ..Config::dev()
        }
    }

    /// Reads the process environment (docs/protocol.md §2.1).
    pub fn from_env() -> Result<Self, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (a variable name → its value), with the
    /// precedence of docs/protocol.md §2.1: `INNGEST_API_BASE_URL` / `INNGEST_EVENT_API_BASE_URL`
    /// over `INNGEST_BASE_URL` over a URL in `INNGEST_DEV` over the mode's defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let (mode, dev_url) = match var("INNGEST_DEV").as_deref() {
            None | Some("0") | Some("false") => (Mode::Cloud, None),
            Some("1") | Some("true") => (Mode::Dev, None),
            Some(other) => match parse_http_url(other) {
                Some(url) => (Mode::Dev, Some(url)),
                None => (Mode::Dev, None),
            },
        };
        let mut config = match mode {
            Mode::Dev => Config::dev(),
            Mode::Cloud => Config {
                mode: Mode::Cloud,
                api_base_url: Url::parse(CLOUD_API_BASE_URL).expect("constant URL"),
                event_api_base_url: Url::parse(CLOUD_EVENT_API_BASE_URL).expect("constant URL"),
                ..Config::dev()
            },
        };
        let base = url_var(&var, "INNGEST_BASE_URL")?.or(dev_url);
        if let Some(api) = url_var(&var, "INNGEST_API_BASE_URL")?.or_else(|| base.clone()) {
            config.api_base_url = api;
        }
        if let Some(events) = url_var(&var, "INNGEST_EVENT_API_BASE_URL")?.or(base) {
            config.event_api_base_url = events;
        }
        config.signing_key = key_var(&var, "INNGEST_SIGNING_KEY")?;
        config.signing_key_fallback = key_var(&var, "INNGEST_SIGNING_KEY_FALLBACK")?;
        config.event_key = var("INNGEST_EVENT_KEY").map(EventKey::new);
        config.serve_origin = var("INNGEST_SERVE_ORIGIN");
        config.serve_path = var("INNGEST_SERVE_PATH");
        config.env = var("INNGEST_ENV");
        config.allow_in_band_sync = !matches!(
            var("INNGEST_ALLOW_IN_BAND_SYNC").as_deref(),
            Some("0") | Some("false")
        );
        if matches!(
            var("INNGEST_CHECKPOINTING").as_deref(),
            Some("0") | Some("false")
        ) {
            config.checkpointing = None;
        }
        // docs/protocol.md §7.11: `true`/`1`, and the TS SDK's `allow`/`force`, turn it on.
        config.streaming = matches!(
            var("INNGEST_STREAMING")
                .map(|v| v.to_ascii_lowercase())
                .as_deref(),
            Some("1" | "true" | "allow" | "force")
        );
        Ok(config)
    }

    /// Sets the API origin (sync, run state).
    pub fn with_api_base_url(mut self, url: Url) -> Self {
        self.api_base_url = url;
        self
    }

    /// Sets the event API origin.
    pub fn with_event_api_base_url(mut self, url: Url) -> Self {
        self.event_api_base_url = url;
        self
    }

    /// Sets both origins, e.g. to a local dev server or a test stand-in.
    pub fn with_base_url(self, url: Url) -> Self {
        self.with_api_base_url(url.clone())
            .with_event_api_base_url(url)
    }

    /// Sets the signing key.
    pub fn with_signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// Sets the fallback signing key, tried when the primary one does not match.
    pub fn with_signing_key_fallback(mut self, key: SigningKey) -> Self {
        self.signing_key_fallback = Some(key);
        self
    }

    /// Sets the event key.
    pub fn with_event_key(mut self, key: EventKey) -> Self {
        self.event_key = Some(key);
        self
    }

    /// Replaces scheme, host and port of the URL advertised at sync.
    pub fn with_serve_origin(mut self, origin: impl Into<String>) -> Self {
        self.serve_origin = Some(origin.into());
        self
    }

    /// Replaces the path of the URL advertised at sync.
    pub fn with_serve_path(mut self, path: impl Into<String>) -> Self {
        self.serve_path = Some(path.into());
        self
    }

    /// Sets the branch environment sent as `X-Inngest-Env`.
    pub fn with_env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into());
        self
    }

    /// Allows or refuses in-band sync.
    pub fn with_in_band_sync(mut self, allow: bool) -> Self {
        self.allow_in_band_sync = allow;
        self
    }

    /// Checkpoints steps with these options (docs/protocol.md §7.14). Checkpointing is on by
    /// default, with [`Checkpointing::new`]; functions may override it
    /// ([`FunctionOpts::checkpointing`](crate::FunctionOpts::checkpointing)).
    pub fn with_checkpointing(mut self, options: Checkpointing) -> Self {
        self.checkpointing = Some(options);
        self
    }

    /// Turns checkpointing off: every step costs an executor round trip, as in the classic
    /// protocol. `INNGEST_CHECKPOINTING=0` (or `false`) does the same from the environment.
    pub fn without_checkpointing(mut self) -> Self {
        self.checkpointing = None;
        self
    }

    /// Answers call requests as a keep-alive stream: `201` at once, a space every few
    /// seconds, then the real answer in a JSON envelope (docs/protocol.md §7.11), for hosts
    /// that cut requests that send nothing for a while. Off by default;
    /// `INNGEST_STREAMING=1` turns it on. [`EndpointBuilder::streaming`](crate::EndpointBuilder::streaming)
    /// overrides it per endpoint.
    pub fn with_streaming(mut self, on: bool) -> Self {
        self.streaming = on;
        self
    }

    /// Whether call requests are streamed (docs/protocol.md §7.11).
    pub fn streaming(&self) -> bool {
        self.streaming
    }

    /// The checkpointing options, `None` when it is off.
    pub fn checkpointing(&self) -> Option<&Checkpointing> {
        self.checkpointing.as_ref()
    }

    /// Dev or cloud.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The API origin.
    pub fn api_base_url(&self) -> &Url {
        &self.api_base_url
    }

    /// The event API origin.
    pub fn event_api_base_url(&self) -> &Url {
        &self.event_api_base_url
    }

    /// The signing key.
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signing_key.as_ref()
    }

    /// The fallback signing key.
    pub fn signing_key_fallback(&self) -> Option<&SigningKey> {
        self.signing_key_fallback.as_ref()
    }

    /// The configured keys, primary first.
    pub(crate) fn signing_keys(&self) -> Vec<&SigningKey> {
        self.signing_key
            .iter()
            .chain(self.signing_key_fallback.iter())
            .collect()
    }

    /// The event key.
    pub fn event_key(&self) -> Option<&EventKey> {
        self.event_key.as_ref()
    }

    /// The serve origin override.
    pub fn serve_origin(&self) -> Option<&str> {
        self.serve_origin.as_deref()
    }

    /// The serve path override.
    pub fn serve_path(&self) -> Option<&str> {
        self.serve_path.as_deref()
    }

    /// The branch environment.
    pub fn env(&self) -> Option<&str> {
        self.env.as_deref()
    }

    /// Whether in-band sync is allowed.
    pub fn allow_in_band_sync(&self) -> bool {
        self.allow_in_band_sync
    }
}

fn parse_http_url(value: &str) -> Option<Url> {
    Url::parse(value)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

fn url_var(
    var: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<Url>, ConfigError> {
    var(variable)
        .map(|value| parse_http_url(&value).ok_or(ConfigError::InvalidUrl { variable }))
        .transpose()
}

fn key_var(
    var: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<SigningKey>, ConfigError> {
    var(variable)
        .map(|value| {
            SigningKey::new(value)
                .map_err(|source| ConfigError::InvalidSigningKey { variable, source })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("valid config")
    }

    #[test]
    fn streaming_is_off_by_default_and_on_with_inngest_streaming() {
        assert!(!Config::dev().streaming());
        assert!(!config(&[]).streaming());
        for on in ["1", "true", "TRUE", "allow", "force"] {
            assert!(config(&[("INNGEST_STREAMING", on)]).streaming(), "{on}");
        }
        for off in ["0", "false", "no", ""] {
            assert!(!config(&[("INNGEST_STREAMING", off)]).streaming(), "{off}");
        }
        assert!(Config::dev().with_streaming(true).streaming());
    }

    #[test]
    fn checkpointing_is_on_by_default_and_off_with_inngest_checkpointing_0() {
        assert_eq!(Config::dev().checkpointing(), Some(&Checkpointing::new()));
        assert_eq!(config(&[]).checkpointing(), Some(&Checkpointing::new()));
        for off in ["0", "false"] {
            assert_eq!(
                config(&[("INNGEST_CHECKPOINTING", off)]).checkpointing(),
                None
            );
        }
        assert!(
            config(&[("INNGEST_CHECKPOINTING", "1")])
                .checkpointing()
                .is_some()
        );
        let tuned = Config::dev().with_checkpointing(Checkpointing::new().buffered_steps(4));
        assert_eq!(
            tuned.checkpointing().map(|c| c.get_buffered_steps()),
            Some(4)
        );
        assert_eq!(tuned.without_checkpointing().checkpointing(), None);
    }

    #[test]
    fn unset_inngest_dev_selects_cloud_with_cloud_urls() {
        let c = config(&[]);
        assert_eq!(c.mode(), Mode::Cloud);
        assert_eq!(c.api_base_url().as_str(), "https://api.inngest.com/");
        assert_eq!(c.event_api_base_url().as_str(), "https://inn.gs/");
    }

    #[test]
    fn inngest_dev_1_selects_the_local_dev_server() {
        for value in ["1", "true"] {
            let c = config(&[("INNGEST_DEV", value)]);
            assert_eq!(c.mode(), Mode::Dev);
            assert_eq!(c.api_base_url().as_str(), "http://127.0.0.1:8288/");
            assert_eq!(c.event_api_base_url().as_str(), "http://127.0.0.1:8288/");
        }
        assert_eq!(config(&[("INNGEST_DEV", "0")]).mode(), Mode::Cloud);
    }

    #[test]
    fn inngest_dev_url_is_the_base_for_api_and_events() {
        let c = config(&[("INNGEST_DEV", "http://host:1234")]);
        assert_eq!(c.mode(), Mode::Dev);
        assert_eq!(c.api_base_url().as_str(), "http://host:1234/");
        assert_eq!(c.event_api_base_url().as_str(), "http://host:1234/");
    }

    #[test]
    fn specific_base_urls_override_the_shared_one() {
        let c = config(&[
            ("INNGEST_DEV", "http://dev:1"),
            ("INNGEST_BASE_URL", "http://base:2"),
            ("INNGEST_API_BASE_URL", "http://api:3"),
        ]);
        assert_eq!(c.api_base_url().as_str(), "http://api:3/");
        assert_eq!(c.event_api_base_url().as_str(), "http://base:2/");
        let c = config(&[("INNGEST_EVENT_API_BASE_URL", "http://events:4")]);
        assert_eq!(c.api_base_url().as_str(), "https://api.inngest.com/");
        assert_eq!(c.event_api_base_url().as_str(), "http://events:4/");
    }

    #[test]
    fn keys_serve_overrides_and_env_are_read() {
        let c = config(&[
            ("INNGEST_SIGNING_KEY", "signkey-prod-12345678"),
            ("INNGEST_SIGNING_KEY_FALLBACK", "signkey-prod-abcd"),
            ("INNGEST_EVENT_KEY", "evt"),
            ("INNGEST_SERVE_ORIGIN", "https://app.example.com"),
            ("INNGEST_SERVE_PATH", "/api/inngest"),
            ("INNGEST_ENV", "preview"),
            ("INNGEST_ALLOW_IN_BAND_SYNC", "false"),
        ]);
        assert_eq!(c.signing_keys().len(), 2);
        assert_eq!(c.event_key().map(EventKey::expose), Some("evt"));
        assert_eq!(c.serve_origin(), Some("https://app.example.com"));
        assert_eq!(c.serve_path(), Some("/api/inngest"));
        assert_eq!(c.env(), Some("preview"));
        assert!(!c.allow_in_band_sync());
    }

    #[test]
    fn invalid_url_is_an_error_naming_the_variable_only() {
        let err = Config::from_lookup(|name| {
            (name == "INNGEST_BASE_URL").then(|| "not a url secret123".to_owned())
        })
        .expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("INNGEST_BASE_URL"));
        assert!(!text.contains("secret123"));
    }

    #[test]
    fn debug_never_prints_keys() {
        let c = config(&[
            ("INNGEST_SIGNING_KEY", "signkey-prod-deadbeefcafe"),
            ("INNGEST_EVENT_KEY", "evtkey-very-secret"),
        ]);
        let debug = format!("{c:?}");
        assert!(!debug.contains("deadbeefcafe"));
        assert!(!debug.contains("evtkey-very-secret"));
    }
}
