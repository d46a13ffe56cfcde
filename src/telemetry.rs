//! Tracing: human-readable lines locally, JSON in production; level from `RUST_LOG`. Built
//! with the `otel` feature and `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are also exported over
//! OTLP/HTTP (docs/design.md, "Tracing").

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::LogFormat;

/// What [`init`] set up that needs stopping: the OpenTelemetry exporter, when there is one.
#[derive(Debug, Default)]
#[must_use = "call `shutdown` before exiting, so queued spans are exported"]
pub struct Telemetry {
    #[cfg(feature = "otel")]
    otel: Option<inngest_sdk::otel::Otel>,
}

impl Telemetry {
    /// Exports the spans still queued (with `otel`); nothing otherwise.
    pub async fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(otel) = self.otel {
            otel.shutdown().await;
        }
    }
}

/// Installs the global subscriber. Call once, at start-up, inside the tokio runtime.
pub fn init(format: LogFormat) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,inngest_sdk=info"));
    let telemetry = Telemetry::default();
    #[cfg(feature = "otel")]
    let (telemetry, otel_error) = match otel_from_env() {
        Ok(otel) => (Telemetry { otel }, None),
        Err(error) => (telemetry, Some(error)),
    };
    #[cfg(feature = "otel")]
    let otel_layer = telemetry.otel.as_ref().map(|otel| otel.layer());
    #[cfg(not(feature = "otel"))]
    let otel_layer: Option<tracing_subscriber::layer::Identity> = None;
    let registry = tracing_subscriber::registry().with(filter).with(otel_layer);
    // A second initialisation (tests starting several apps) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
    #[cfg(feature = "otel")]
    if let Some(error) = otel_error {
        tracing::error!(%error, "OpenTelemetry export is off: its settings are invalid");
    }
    telemetry
}

/// The exporter, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set.
#[cfg(feature = "otel")]
fn otel_from_env() -> Result<Option<inngest_sdk::otel::Otel>, inngest_sdk::otel::OtelError> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    let mut builder = inngest_sdk::otel::Otel::from_env()?;
    if !set("OTEL_SERVICE_NAME") {
        builder = builder.service_name("huckleberry");
    }
    builder.build().map(Some)
}

/// Inngest middleware: one structured line per failed step attempt (run id, function, step,
/// attempt, whether it is retried) and per failed run, with running totals, so step
/// failures can be found and counted in the logs (docs/protocol.md §7.15).
#[derive(Debug, Default)]
pub struct InngestFailureLog {
    /// Failed step attempts since start-up (each retry counts).
    step_failures: std::sync::atomic::AtomicU64,
    /// Runs that failed for good since start-up.
    run_failures: std::sync::atomic::AtomicU64,
}

impl InngestFailureLog {
    /// Failed step attempts so far.
    pub fn step_failures(&self) -> u64 {
        self.step_failures
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl inngest_sdk::Middleware for InngestFailureLog {
    fn wrap_step<'a>(
        &'a self,
        step: &'a inngest_sdk::middleware::StepInfo,
        next: inngest_sdk::middleware::Next<'a>,
    ) -> inngest_sdk::middleware::BoxFuture<'a, inngest_sdk::middleware::StepResult> {
        Box::pin(async move {
            let result = next.run().await;
            if let Err(error) = &result {
                let total = self
                    .step_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                tracing::warn!(
                    run_id = %step.run.run_id,
                    function = %step.run.function_id,
                    step = %step.id,
                    attempt = step.run.attempt,
                    retried = error.is_retriable() && !step.is_last_attempt(),
                    step_failures_total = total,
                    %error,
                    "inngest step attempt failed"
                );
            }
            result
        })
    }

    fn on_run_error(
        &self,
        run: &inngest_sdk::RunContext,
        error: &inngest_sdk::middleware::RunError<'_>,
    ) {
        if error.retriable && run.attempt + 1 < run.max_attempts {
            return;
        }
        let total = self
            .run_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        tracing::error!(
            run_id = %run.run_id,
            function = %run.function_id,
            attempt = run.attempt,
            error = %error.message,
            run_failures_total = total,
            "inngest run failed"
        );
    }
}

#[cfg(test)]
mod tests {
    use inngest_sdk::middleware::StepInfo;
    use inngest_sdk::testing::{FakeExecutor, RunStatus};
    use inngest_sdk::{Endpoint, Error, Event, Function, FunctionOpts, Input, Step, Trigger};
    use serde_json::{Value, json};

    use super::*;

    #[tokio::test]
    async fn every_failed_step_attempt_is_counted() {
        let inngest = FakeExecutor::start().await;
        let log = std::sync::Arc::new(InngestFailureLog::default());
        struct Shared(std::sync::Arc<InngestFailureLog>);
        impl inngest_sdk::Middleware for Shared {
            fn wrap_step<'a>(
                &'a self,
                step: &'a StepInfo,
                next: inngest_sdk::middleware::Next<'a>,
            ) -> inngest_sdk::middleware::BoxFuture<'a, inngest_sdk::middleware::StepResult>
            {
                self.0.wrap_step(step, next)
            }
        }
        let always_fails = Function::new(
            FunctionOpts::new("fails")
                .trigger(Trigger::event("test/fails"))
                .retries(2),
            |_: Input<Value>, step: Step| async move {
                step.run("boom", || async { Err::<(), _>(Error::new("down")) })
                    .await?;
                Ok::<_, Error>(())
            },
        );
        let endpoint = Endpoint::builder("app", inngest_sdk::Client::new(inngest.client_config()))
            .clock(inngest.clock())
            .middleware(Shared(std::sync::Arc::clone(&log)))
            .function(always_fails)
            .build()
            .expect("builds");
        inngest.serve(endpoint).await.expect("syncs");

        let ids = inngest.send(Event::new("test/fails", json!({}))).await;
        inngest.run_until_idle().await;

        assert_eq!(inngest.run(&ids[0]).status, RunStatus::Failed);
        assert_eq!(log.step_failures(), 3, "three attempts, each failed");
    }
}
