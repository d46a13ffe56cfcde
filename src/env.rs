//! Reading the environment: development or production, variables that are required,
//! optional or secret, and every missing or invalid one collected into one [`ConfigError`]
//! (docs/design.md §6). Each feature's settings are read through an [`Env`]; `config`
//! assembles them.

use std::fmt;

use secrecy::SecretString;
use url::Url;

/// Where the app runs: decided by `INNGEST_DEV` (set → development).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// A laptop or CI with the Inngest dev server: vendors without credentials run dry.
    Development,
    /// Production: every setting is required, nothing runs dry.
    Production,
}

/// Why the configuration is unusable: every missing variable and every invalid one.
#[derive(Debug, Default)]
pub struct ConfigError {
    /// Variables production requires that are not set.
    pub missing: Vec<&'static str>,
    /// Variables that are set but invalid, with the reason (never the value).
    pub invalid: Vec<(&'static str, String)>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the configuration is incomplete or invalid")?;
        if !self.missing.is_empty() {
            write!(f, "; missing: {}", self.missing.join(", "))?;
        }
        for (variable, reason) in &self.invalid {
            write!(f, "; {variable}: {reason}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.invalid.is_empty()
    }
}

/// Reads variables through a lookup function and records what is missing or invalid.
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    environment: Environment,
    errors: ConfigError,
}

impl fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl<'a> Env<'a> {
    /// A reader over `lookup` (a variable name → its value).
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        let dev = lookup("INNGEST_DEV")
            .map(|v| v.trim().to_owned())
            .is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
        Env {
            lookup,
            environment: if dev {
                Environment::Development
            } else {
                Environment::Production
            },
            errors: ConfigError::default(),
        }
    }

    /// Development or production.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// A variable's trimmed value, `None` when unset or empty.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A secret variable, `None` when unset or empty.
    pub fn optional_secret(&self, name: &str) -> Option<SecretString> {
        self.optional(name).map(SecretString::from)
    }

    /// A variable production requires: recorded as missing when unset in production.
    /// In development it may be absent (the feature then runs dry).
    pub fn required(&mut self, name: &'static str) -> Option<String> {
        let value = self.optional(name);
        if value.is_none() && self.environment == Environment::Production {
            self.errors.missing.push(name);
        }
        value
    }

    /// A secret production requires.
    pub fn required_secret(&mut self, name: &'static str) -> Option<SecretString> {
        self.required(name).map(SecretString::from)
    }

    /// Parses a variable's value, recording a parse failure as invalid.
    pub fn parsed<T>(
        &mut self,
        name: &'static str,
        value: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = value?;
        match parse(&value) {
            Ok(parsed) => Some(parsed),
            Err(reason) => {
                self.errors.invalid.push((name, reason));
                None
            }
        }
    }

    /// Records a missing variable (for settings that are required only together with
    /// others, in either environment).
    pub fn missing(&mut self, name: &'static str) {
        if !self.errors.missing.contains(&name) {
            self.errors.missing.push(name);
        }
    }

    /// Records an invalid variable.
    pub fn invalid(&mut self, name: &'static str, reason: impl Into<String>) {
        self.errors.invalid.push((name, reason.into()));
    }

    /// Every missing and invalid variable recorded, or `Ok` when there were none.
    pub(crate) fn finish(self) -> Result<(), ConfigError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// Parses an absolute http(s) URL.
pub fn parse_http_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|_| "not an absolute URL".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err("must be an http(s) URL with a host".to_owned());
    }
    Ok(url)
}

/// A variable lookup over a fixed list, for configuration tests.
#[cfg(test)]
pub(crate) fn test_lookup(
    vars: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}
