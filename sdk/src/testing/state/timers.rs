//! Time: sleeps, wait and invoke timeouts, cancellation timeouts.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::ix::RunIx;
use super::{Outcome, Pending, State, StepDone};
use crate::testing::record::StepKind;

impl State {
    /// Wakes sleeps and expires waits and invokes whose time has come.
    pub(crate) fn fire_timers(&mut self, now: DateTime<Utc>) {
        let mut due: Vec<(DateTime<Utc>, RunIx, String)> = Vec::new();
        for (r, run) in self.runs.enumerate() {
            if matches!(run.outcome, Outcome::Active) {
                for (hash, pending) in &run.pending {
                    if let Some(deadline) = pending.deadline().filter(|d| *d <= now) {
                        due.push((deadline, r, hash.clone()));
                    }
                }
            }
        }
        due.sort();
        for (_, run, hash) in due {
            if !matches!(self.runs[run].outcome, Outcome::Active) {
                continue;
            }
            let step = match self.runs[run].pending.get(&hash).cloned() {
                Some(Pending::Sleep { name, .. }) => {
                    StepDone::new(&hash, name, StepKind::Sleep).memo(Value::Null)
                }
                Some(Pending::Wait { name, .. }) => {
                    StepDone::new(&hash, name, StepKind::WaitForEvent)
                        .output(Value::Null, Value::Null)
                }
                Some(Pending::Invoke { name, .. }) => StepDone::new(&hash, name, StepKind::Invoke)
                    .error(json!({
                        "name": "InngestInvokeTimeoutError",
                        "message": "Timed out waiting for invoked function to complete",
                    })),
                Some(Pending::Signal { name, .. }) => {
                    StepDone::new(&hash, name, StepKind::WaitForSignal)
                        .output(Value::Null, Value::Null)
                }
                Some(Pending::Planned | Pending::Gateway) | None => continue,
            };
            self.complete_step(run, step, now);
        }
    }

    /// The earliest timer or delayed call after `now`.
    pub(crate) fn next_deadline(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let pauses = self
            .runs
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Active))
            .flat_map(|r| r.pending.values().filter_map(Pending::deadline));
        let calls = self
            .queue
            .iter()
            .filter(|q| matches!(self.runs[q.run].outcome, Outcome::Active))
            .map(|q| q.due);
        pauses.chain(calls).filter(|d| *d > now).min()
    }
}
