//! Signals (docs/protocol.md §8.7): a run waits for a named signal, and anyone with the
//! API's credentials (or another run, as a step) sends one to it.

use std::future::{Future, pending};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Registration, Step};
use crate::client::SignalSent;
use crate::core::op::{Op, OpCode, OpOpts, RawOpts};
use crate::core::time::format_duration;
use crate::error::{Error, StepError};

/// Options of [`Step::wait_for_signal`].
#[derive(Debug, Clone)]
pub struct WaitForSignal {
    signal: String,
    timeout: Duration,
    conflict: SignalConflict,
}

/// What happens when another run already waits for the same signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignalConflict {
    /// This wait fails (the step resolves to a [`StepError`]); the other keeps waiting.
    #[default]
    Fail,
    /// This wait takes the signal over; the other run keeps waiting until its timeout.
    Replace,
}

impl SignalConflict {
    fn as_str(self) -> &'static str {
        match self {
            SignalConflict::Fail => "fail",
            SignalConflict::Replace => "replace",
        }
    }
}

impl WaitForSignal {
    /// Wait for the signal named `signal` for at most `timeout`. Signal names are global to
    /// the environment: make them unique, e.g. `"approval/<document id>"`.
    pub fn new(signal: impl Into<String>, timeout: Duration) -> Self {
        WaitForSignal {
            signal: signal.into(),
            timeout,
            conflict: SignalConflict::default(),
        }
    }

    /// What to do when another run already waits for this signal (default: fail).
    pub fn on_conflict(mut self, conflict: SignalConflict) -> Self {
        self.conflict = conflict;
        self
    }
}

/// A received signal with typed data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal<T> {
    /// The signal's name.
    pub signal: String,
    /// What the sender attached.
    pub data: T,
}

/// The `opts` of a `WaitForSignal` op: exactly `signal`, `timeout` and `conflict`.
#[derive(Serialize)]
struct SignalOpts<'a> {
    signal: &'a str,
    timeout: String,
    conflict: &'static str,
}

impl Step {
    /// Waits for a signal (docs/protocol.md §8.7 `WaitForSignal`).
    ///
    /// Resolves to `Ok(None)` when the timeout passes, to the typed signal when one is
    /// sent ([`Client::send_signal`](crate::Client::send_signal) or
    /// [`Step::send_signal`]), and to a [`StepError`] when another run already waits for the
    /// signal and the conflict policy is [`SignalConflict::Fail`], or the data does not
    /// decode into `T`.
    pub fn wait_for_signal<T>(
        &self,
        id: &str,
        wait: WaitForSignal,
    ) -> impl Future<Output = Result<Option<Signal<T>>, StepError>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let registration = self.register_other(id, || {
            let mut op = Op::new(OpCode::WaitForSignal, String::new(), id);
            let opts = SignalOpts {
                signal: &wait.signal,
                timeout: format_duration(wait.timeout),
                conflict: wait.conflict.as_str(),
            };
            op.opts = serde_json::value::to_raw_value(&opts)
                .ok()
                .map(|raw| OpOpts::Json(RawOpts(raw)));
            op
        });
        let user_id = id.to_owned();
        async move {
            match registration {
                Registration::Memoized(raw) if raw.is_null() => Ok(None),
                Registration::Memoized(raw) => decode_signal(&user_id, raw.get()),
                Registration::Ran(_) | Registration::Execute(_) | Registration::Park(_) => {
                    pending().await
                }
            }
        }
    }

    /// Sends a signal as a durable step (docs/protocol.md §8.7): a retried run does not
    /// send it again once the step completed. Resolves to the run the signal resumed.
    pub fn send_signal<T>(
        &self,
        id: &str,
        signal: &str,
        data: T,
    ) -> impl Future<Output = Result<SignalSent, StepError>> + Send + 'static
    where
        T: Serialize + Send + Sync + 'static,
    {
        let client = self.shared.client.clone();
        let signal = signal.to_owned();
        self.run(id, move || async move {
            client
                .send_signal(&signal, &data)
                .await
                .map_err(Error::from)
        })
    }
}

/// A memoized signal. The executor stores a received signal as a step result,
/// `{"data": {"signal": …, "data": …}}`; a wait that could not be made (a conflict) as
/// `{"error": …}`; a timeout as `null` (handled by the caller).
fn decode_signal<T: DeserializeOwned>(
    user_id: &str,
    raw: &str,
) -> Result<Option<Signal<T>>, StepError> {
    #[derive(Deserialize)]
    struct Stored<T> {
        #[serde(default)]
        error: Option<crate::core::wire::ErrorBody>,
        #[serde(default = "none")]
        data: Option<Signal<T>>,
    }
    fn none<T>() -> Option<T> {
        None
    }
    let stored: Stored<T> = serde_json::from_str(raw)
        .map_err(|e| StepError::decode(user_id, "the received signal", &e))?;
    if let Some(error) = stored.error {
        return Err(StepError::failed(user_id, error));
    }
    Ok(stored.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_opts_have_exactly_signal_timeout_and_conflict() {
        let opts = SignalOpts {
            signal: "approval/42",
            timeout: format_duration(Duration::from_secs(3600)),
            conflict: SignalConflict::Replace.as_str(),
        };
        assert_eq!(
            serde_json::to_string(&opts).expect("serializes"),
            r#"{"signal":"approval/42","timeout":"1h","conflict":"replace"}"#
        );
    }

    #[test]
    fn a_memoized_signal_decodes_into_the_typed_data() {
        let signal: Option<Signal<u32>> =
            decode_signal("wait", r#"{"data":{"signal":"s","data":7}}"#).expect("decodes");
        assert_eq!(
            signal,
            Some(Signal {
                signal: "s".into(),
                data: 7
            })
        );
        let error = decode_signal::<u32>("wait", r#"{"error":{"name":"Error","message":"taken"}}"#)
            .expect_err("a conflict");
        assert!(error.to_string().contains("taken"), "{error}");
        let error = decode_signal::<u32>("wait", r#"{"data":{"signal":"s","data":"x"}}"#)
            .expect_err("not a u32");
        assert!(error.to_string().contains("received signal"), "{error}");
    }
}
