//! What tests read: run records and statuses.

use serde_json::{Map, Value};

use super::ix::RunIx;
use super::{Outcome, Pending, State};
use crate::testing::record::{RunRecord, RunStatus};

impl State {
    pub(crate) fn run_index(&self, id: &str) -> Option<RunIx> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn run_memo(&self, run: RunIx) -> &Map<String, Value> {
        &self.runs[run].memo
    }

    pub(crate) fn run_events(&self, run: RunIx) -> &[Value] {
        &self.runs[run].events
    }

    pub(crate) fn record(&self, run: RunIx) -> RunRecord {
        let r = &self.runs[run];
        let (output, error) = match &r.outcome {
            Outcome::Completed(output) => (Some(output.clone()), None),
            Outcome::Failed(error) => (None, Some(error.clone())),
            Outcome::Active | Outcome::Cancelled => (None, None),
        };
        RunRecord {
            id: r.id.clone(),
            function_id: self.functions[r.function].id.clone(),
            status: self.status(run),
            event: r.event.clone(),
            events: r.events.clone(),
            output,
            error,
            steps: r.steps.clone(),
            calls: r.calls.clone(),
            started_at: r.started_at,
            ended_at: r.ended_at,
        }
    }

    pub(crate) fn records(&self) -> Vec<RunRecord> {
        self.runs.indices().map(|r| self.record(r)).collect()
    }

    pub(super) fn status(&self, run: RunIx) -> RunStatus {
        let r = &self.runs[run];
        match r.outcome {
            Outcome::Completed(_) => return RunStatus::Completed,
            Outcome::Failed(_) => return RunStatus::Failed,
            Outcome::Cancelled => return RunStatus::Cancelled,
            Outcome::Active => {}
        }
        let has = |f: fn(&Pending) -> bool| r.pending.values().any(f);
        if self.queue.iter().any(|q| q.run == run) || has(|p| matches!(p, Pending::Planned)) {
            RunStatus::Running
        } else if has(|p| matches!(p, Pending::Wait { .. } | Pending::Signal { .. })) {
            RunStatus::Waiting
        } else if has(|p| matches!(p, Pending::Invoke { .. })) {
            RunStatus::Invoking
        } else if has(|p| matches!(p, Pending::Sleep { .. })) {
            RunStatus::Sleeping
        } else {
            RunStatus::Running
        }
    }
}
