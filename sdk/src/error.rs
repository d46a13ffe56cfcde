//! Errors of function and step code.
//!
//! In a function, `?` means "retry": any error converts into [`Error`], which is retriable
//! by default. Giving up is spelled out with [`Error::non_retriable`]; asking for a retry at
//! a given time with [`Error::retry_after`]. A step that failed for good surfaces in user code
//! as a [`StepError`] that can be caught; if it is propagated, the run fails without further
//! retries (docs/protocol.md §7.5).

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::wire::ErrorBody;

/// The error type of functions and step bodies.
///
/// Every `std::error::Error` converts into it with `?`. Like `anyhow::Error`, it does not
/// itself implement `std::error::Error`, which is what makes the blanket conversion possible.
pub struct Error {
    name: Cow<'static, str>,
    message: String,
    retry: Retry,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

/// Whether and when the executor may retry after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Retry with the executor's backoff (the default).
    Backoff,
    /// Never retry: the run (or step) fails now.
    Never,
    /// Retry, not before this time.
    After(RetryAt),
}

/// When a retry may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAt {
    /// After a delay (sent as whole seconds, at least 1).
    Delay(Duration),
    /// At an instant (sent as RFC 3339).
    Instant(DateTime<Utc>),
}

impl Error {
    /// A retriable error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            name: Cow::Borrowed("Error"),
            message: message.into(),
            retry: Retry::Backoff,
            source: None,
        }
    }

    /// An error after which the executor does not retry: the step or run fails now.
    pub fn non_retriable(message: impl Into<String>) -> Self {
        Error::new(message).with_retry(Retry::Never)
    }

    /// A retriable error that asks the executor to wait `delay` before retrying.
    pub fn retry_after(message: impl Into<String>, delay: Duration) -> Self {
        Error::new(message).with_retry(Retry::After(RetryAt::Delay(delay)))
    }

    /// A retriable error that asks the executor to retry at `at`, not before.
    pub fn retry_at(message: impl Into<String>, at: DateTime<Utc>) -> Self {
        Error::new(message).with_retry(Retry::After(RetryAt::Instant(at)))
    }

    /// Sets the error name reported to Inngest (default `"Error"`).
    pub fn with_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the retry behaviour.
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Marks this error as not retriable, keeping its message and source.
    pub fn into_non_retriable(self) -> Self {
        self.with_retry(Retry::Never)
    }

    /// The message reported to Inngest.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error name reported to Inngest.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The retry behaviour.
    ///
    /// An uncaught [`StepError`] is never retried: a failed step already used its attempts
    /// (docs/protocol.md §7.5), and a stored value that does not decode into the code's type is the
    /// same on every retry.
    pub fn retry(&self) -> Retry {
        match self.step_error() {
            Some(_) => Retry::Never,
            None => self.retry,
        }
    }

    /// Whether the executor may retry.
    pub fn is_retriable(&self) -> bool {
        self.retry() != Retry::Never
    }

    /// The error this one was converted from, if any.
    pub fn source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// The source as a concrete error type, if it is one.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.source.as_deref().and_then(|e| e.downcast_ref::<E>())
    }

    /// The [`StepError`] this error came from, if any.
    pub fn step_error(&self) -> Option<&StepError> {
        self.downcast_ref::<StepError>()
    }

    /// The wire form (docs/protocol.md §7.5): `name`, exactly the message, and the cause chain as
    /// `stack` when there is one.
    pub(crate) fn to_body(&self) -> ErrorBody {
        let mut chain = String::new();
        let mut cause = self.source.as_deref().and_then(|e| e.source());
        while let Some(e) = cause {
            if !chain.is_empty() {
                chain.push('\n');
            }
            chain.push_str("caused by: ");
            chain.push_str(&e.to_string());
            cause = e.source();
        }
        let (name, message) = match self.step_error() {
            // A propagated step error keeps the step's original name and message.
            Some(step) => (step.name().to_owned(), step.message().to_owned()),
            None => (self.name.clone().into_owned(), self.message.clone()),
        };
        ErrorBody {
            name,
            message,
            stack: (!chain.is_empty()).then_some(chain),
        }
    }
}

impl<E> From<E> for Error
where
    E: StdError + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Error {
            name: Cow::Borrowed("Error"),
            message: error.to_string(),
            retry: Retry::Backoff,
            source: Some(Box::new(error)),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("name", &self.name)
            .field("message", &self.message)
            .field("retry", &self.retry())
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The error a step returns in user code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct StepError {
    step: String,
    kind: StepErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum StepErrorKind {
    /// The step failed permanently; its error was memoized (docs/protocol.md §7.2).
    Failed(ErrorBody),
    /// The memoized value did not decode into the requested type.
    Decode(String),
}

impl StepError {
    pub(crate) fn failed(step: &str, body: ErrorBody) -> Self {
        StepError {
            step: step.to_owned(),
            kind: StepErrorKind::Failed(body),
        }
    }

    pub(crate) fn decode(step: &str, what: &str, error: &serde_json::Error) -> Self {
        StepError {
            step: step.to_owned(),
            kind: StepErrorKind::Decode(format!(
                "step \"{step}\": {what} does not match the expected type: {error}"
            )),
        }
    }

    /// The user-facing id of the step.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// True when the step failed after its attempts or with a non-retriable error; false
    /// when its stored value did not decode into the type the code asked for.
    pub fn is_failed(&self) -> bool {
        matches!(self.kind, StepErrorKind::Failed(_))
    }

    /// The failed step's error name (`"Error"` for generic errors).
    pub fn name(&self) -> &str {
        match &self.kind {
            StepErrorKind::Failed(body) if !body.name.is_empty() => &body.name,
            StepErrorKind::Failed(_) => "Error",
            StepErrorKind::Decode(_) => "StepOutputDecodeError",
        }
    }

    /// The error message.
    pub fn message(&self) -> &str {
        match &self.kind {
            StepErrorKind::Failed(body) => &body.message,
            StepErrorKind::Decode(message) => message,
        }
    }

    /// The stack or cause chain reported with the failure, if any.
    pub fn stack(&self) -> Option<&str> {
        match &self.kind {
            StepErrorKind::Failed(body) => body.stack.as_deref(),
            StepErrorKind::Decode(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[test]
    fn question_mark_converts_any_error_into_a_retriable_error() {
        fn f() -> Result<(), Error> {
            Err(Outer(Inner))?;
            Ok(())
        }
        let err = f().expect_err("fails");
        assert!(err.is_retriable());
        let body = err.to_body();
        assert_eq!(body.name, "Error");
        assert_eq!(body.message, "outer");
        assert_eq!(body.stack.as_deref(), Some("caused by: inner"));
    }

    #[test]
    fn non_retriable_is_spelled_out() {
        assert_eq!(Error::non_retriable("card declined").retry(), Retry::Never);
        assert_eq!(Error::new("x").retry(), Retry::Backoff);
    }

    #[test]
    fn a_propagated_failed_step_error_is_not_retried_and_keeps_its_text() {
        let step = StepError::failed(
            "charge",
            ErrorBody {
                name: "CardError".into(),
                message: "declined".into(),
                stack: None,
            },
        );
        let err = Error::from(step);
        assert_eq!(err.retry(), Retry::Never);
        assert_eq!(err.to_body().name, "CardError");
        assert_eq!(err.to_body().message, "declined");
    }

    #[test]
    fn a_propagated_decode_error_is_not_retried() {
        let json_err = serde_json::from_str::<u8>("\"x\"").expect_err("mismatch");
        let err = Error::from(StepError::decode("s", "output", &json_err));
        assert!(!err.is_retriable());
        assert!(err.message().contains("step \"s\""));
    }
}
