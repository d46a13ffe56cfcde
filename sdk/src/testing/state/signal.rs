//! Signals in the fake executor (docs/protocol.md §8.7): a `WaitForSignal` op pauses the
//! run on a signal name; `POST /v1/signals` resumes the one run waiting for it.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::ix::RunIx;
use super::ops::{error_body, opt_str};
use super::{Outcome, Pending, State, StepDone};
use crate::core::time::parse_time_or_duration;
use crate::testing::record::StepKind;

impl State {
    /// Pauses `run` on the signal of a `WaitForSignal` op. A signal another run already
    /// waits for fails this wait (`conflict: fail`, the default) or takes it over
    /// (`replace`: the other run keeps waiting, for nothing, until its timeout; as the real
    /// server does).
    pub(super) fn wait_for_signal(
        &mut self,
        run: RunIx,
        hash: String,
        name: String,
        op: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let signal = opt_str(op, "signal")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("WaitForSignal {name:?} has no opts.signal"))?
            .to_owned();
        let expires = match opt_str(op, "timeout").filter(|t| !t.is_empty()) {
            Some(timeout) => parse_time_or_duration(timeout, now)
                .map_err(|e| format!("WaitForSignal {name:?}: {e}"))?,
            None => now + chrono::TimeDelta::days(365),
        };
        if let Some((other, other_hash)) = self.signal_waiter(&signal) {
            if opt_str(op, "conflict") == Some("replace") {
                if let Some(Pending::Signal { signal, .. }) =
                    self.runs[other].pending.get_mut(&other_hash)
                {
                    // No name is empty (checked above): the replaced wait matches nothing.
                    signal.clear();
                }
            } else {
                let step = StepDone::new(&hash, name, StepKind::WaitForSignal).error(error_body(
                    format!("another run is already waiting for the signal {signal:?}"),
                ));
                self.complete_step(run, step, now);
                return Ok(());
            }
        }
        self.runs[run].pending.insert(
            hash,
            Pending::Signal {
                name,
                signal,
                expires,
            },
        );
        Ok(())
    }

    /// `POST /v1/signals`: resumes the run waiting for `signal` with `data`; returns its
    /// id, or `None` when no run waits for it.
    pub(crate) fn receive_signal(
        &mut self,
        signal: &str,
        data: Value,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let (run, hash) = self.signal_waiter(signal)?;
        let Some(Pending::Signal { name, .. }) = self.runs[run].pending.get(&hash).cloned() else {
            return None;
        };
        let received = json!({ "signal": signal, "data": data });
        let step = StepDone::new(&hash, name, StepKind::WaitForSignal)
            .output(json!({ "data": received }), received);
        self.complete_step(run, step, now);
        Some(self.runs[run].id.as_str().to_owned())
    }

    /// The active run (and step) waiting for `signal`.
    fn signal_waiter(&self, signal: &str) -> Option<(RunIx, String)> {
        self.runs.enumerate().find_map(|(r, run)| {
            if !matches!(run.outcome, Outcome::Active) {
                return None;
            }
            run.pending
                .iter()
                .find_map(|(hash, pending)| match pending {
                    Pending::Signal { signal: s, .. } if s == signal => Some((r, hash.clone())),
                    _ => None,
                })
        })
    }
}
