//! Async checkpointing (docs/protocol.md §7.14): the options, what may be checkpointed, and the
//! body of `POST {api}/v1/checkpoint/{runID}/async`. Sans-IO: the engine decides when to send it
//! and the client sends it.
//!
//! With checkpointing, a discovery call keeps running the function after a `step.run`
//! finishes: the step's `StepRun` op is reported to the Inngest API instead of being
//! answered in a `206`, and the code goes on to the next step in the same call. The call
//! is answered when a step needs the executor (a sleep, a wait, an invoke, several steps at
//! once), when a step fails, when a limit is reached, or when the function returns (`200`,
//! as in the classic protocol, once every step is reported).

use std::time::Duration;

use serde::Serialize;

use super::op::{Op, OpCode};

/// Default of [`Checkpointing::max_runtime`] for a serve endpoint (the TS SDK's default).
pub const DEFAULT_MAX_RUNTIME: Duration = Duration::from_secs(10);

/// Checkpointing options (the TS SDK's `checkpointing` options, with its defaults).
///
/// ```
/// use std::time::Duration;
/// use inngest_sdk::Checkpointing;
///
/// let options = Checkpointing::new()
///     .buffered_steps(5)
///     .max_interval(Duration::from_millis(500))
///     .max_runtime(Duration::from_secs(30));
/// assert_eq!(options.get_buffered_steps(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointing {
    buffered_steps: u32,
    max_interval: Duration,
    max_runtime: Duration,
}

impl Default for Checkpointing {
    fn default() -> Self {
        Checkpointing::new()
    }
}

impl Checkpointing {
    /// The defaults: checkpoint after every step, no interval, at most 10 s of steps per call.
    pub const fn new() -> Self {
        Checkpointing {
            buffered_steps: 1,
            max_interval: Duration::ZERO,
            max_runtime: DEFAULT_MAX_RUNTIME,
        }
    }

    /// Finished steps kept before they are reported in one checkpoint call (default 1; at
    /// least 1). Buffered steps not yet reported go in the response that ends the call.
    pub const fn buffered_steps(mut self, steps: u32) -> Self {
        self.buffered_steps = if steps == 0 { 1 } else { steps };
        self
    }

    /// Report buffered steps when this much time has passed since the last report, even if
    /// fewer than [`Checkpointing::buffered_steps`] are buffered (checked when a step
    /// finishes). Zero (the default) turns it off.
    pub const fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// After this much time in one call, new steps are no longer run in the call: they are
    /// planned and answered to the executor (default 10 s, below the executor's request
    /// timeout). Zero means no limit.
    pub const fn max_runtime(mut self, runtime: Duration) -> Self {
        self.max_runtime = runtime;
        self
    }

    /// See [`Checkpointing::buffered_steps`].
    pub const fn get_buffered_steps(&self) -> u32 {
        self.buffered_steps
    }

    /// See [`Checkpointing::max_interval`].
    pub const fn get_max_interval(&self) -> Duration {
        self.max_interval
    }

    /// See [`Checkpointing::max_runtime`].
    pub const fn get_max_runtime(&self) -> Duration {
        self.max_runtime
    }

    /// Whether buffered steps must be reported now: the buffer is full, or the interval
    /// since the last report has passed.
    pub fn should_flush(&self, buffered: usize, since_last_flush: Duration) -> bool {
        buffered > 0
            && (buffered >= self.buffered_steps as usize
                || (!self.max_interval.is_zero() && since_last_flush >= self.max_interval))
    }

    /// Whether the call has run for as long as steps may run in it.
    pub fn runtime_exceeded(&self, elapsed: Duration) -> bool {
        !self.max_runtime.is_zero() && elapsed >= self.max_runtime
    }
}

/// Whether the async checkpoint API accepts this op: only the result of a step that ran
/// (`StepRun`). Errors, pauses, plans and invokes need the executor, so they end the call.
pub fn is_checkpointable(op: OpCode) -> bool {
    op == OpCode::StepRun
}

/// The body of `POST {api}/v1/checkpoint/{runID}/async`.
#[derive(Debug, Serialize)]
pub struct AsyncCheckpoint<'a> {
    /// The run's ULID (`ctx.run_id`).
    pub run_id: &'a str,
    /// The function's internal UUID (`ctx.fn_id`).
    pub fn_id: &'a str,
    /// The queue item the executor leased for this call (`ctx.qi_id`).
    pub qi_id: &'a str,
    /// The finished steps, as the ops a `206` would carry.
    pub steps: &'a [Op],
}

impl AsyncCheckpoint<'_> {
    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        super::response::to_json(self)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    #[test]
    fn defaults_are_the_ts_sdks() {
        let c = Checkpointing::default();
        assert_eq!(c.get_buffered_steps(), 1);
        assert_eq!(c.get_max_interval(), Duration::ZERO);
        assert_eq!(c.get_max_runtime(), Duration::from_secs(10));
        assert_eq!(
            Checkpointing::new().buffered_steps(0).get_buffered_steps(),
            1
        );
    }

    #[test]
    fn flushes_when_the_buffer_is_full_or_the_interval_passed() {
        let c = Checkpointing::new().buffered_steps(3);
        assert!(!c.should_flush(0, Duration::from_secs(99)));
        assert!(!c.should_flush(2, Duration::from_secs(99)));
        assert!(c.should_flush(3, Duration::ZERO));
        let c = c.max_interval(Duration::from_secs(1));
        assert!(!c.should_flush(1, Duration::from_millis(999)));
        assert!(c.should_flush(1, Duration::from_secs(1)));
    }

    #[test]
    fn runtime_limit_zero_means_none() {
        let c = Checkpointing::new();
        assert!(!c.runtime_exceeded(Duration::from_millis(9_999)));
        assert!(c.runtime_exceeded(Duration::from_secs(10)));
        assert!(
            !c.max_runtime(Duration::ZERO)
                .runtime_exceeded(Duration::MAX)
        );
    }

    #[test]
    fn only_step_run_is_checkpointable() {
        assert!(is_checkpointable(OpCode::StepRun));
        for op in [
            OpCode::StepError,
            OpCode::StepFailed,
            OpCode::StepPlanned,
            OpCode::Sleep,
            OpCode::WaitForEvent,
            OpCode::InvokeFunction,
        ] {
            assert!(!is_checkpointable(op), "{op:?}");
        }
    }

    #[test]
    fn the_body_carries_the_ids_and_the_ops() {
        let mut op = Op::new(OpCode::StepRun, "h1", "a");
        op.data = Some(RawValue::from_string("1".into()).expect("json"));
        let body = AsyncCheckpoint {
            run_id: "01R",
            fn_id: "f-uuid",
            qi_id: "q",
            steps: &[op],
        }
        .to_json();
        assert_eq!(
            String::from_utf8(body).expect("utf8"),
            r#"{"run_id":"01R","fn_id":"f-uuid","qi_id":"q","steps":[{"id":"h1","op":"StepRun","name":"a","displayName":"a","data":1}]}"#
        );
    }
}
