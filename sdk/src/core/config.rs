//! Function configuration: the options a function is declared with and the JSON sent at
//! sync (docs/protocol.md §6.4).

use std::time::Duration;

use serde::{Serialize, Serializer};

use super::checkpoint::Checkpointing;
use super::time::format_duration;

/// Event name of the failure-handler trigger (docs/protocol.md §8.3).
pub const FUNCTION_FAILED_EVENT: &str = "inngest/function.failed";
/// Event name an invoked function receives (docs/protocol.md §8.5).
pub const FUNCTION_INVOKED_EVENT: &str = "inngest/function.invoked";

/// What starts a function run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Trigger {
    /// An event, optionally filtered by a CEL expression over `event`.
    Event {
        /// Event name, e.g. `shop/order.created`.
        event: String,
        /// CEL filter; omitted rather than empty (docs/protocol.md §6.4).
        #[serde(skip_serializing_if = "Option::is_none")]
        expression: Option<String>,
    },
    /// A cron schedule (5 fields, optional `TZ=<zone> ` prefix).
    Cron {
        /// The schedule.
        cron: String,
        /// Random delay of each run, 1 s to 5 min.
        #[serde(
            skip_serializing_if = "Option::is_none",
            serialize_with = "opt_duration"
        )]
        jitter: Option<Duration>,
    },
}

impl Trigger {
    /// A trigger on every event with this name.
    pub fn event(name: impl Into<String>) -> Self {
        Trigger::Event {
            event: name.into(),
            expression: None,
        }
    }

    /// A trigger on events with this name for which the CEL `expression` holds.
    pub fn event_if(name: impl Into<String>, expression: impl Into<String>) -> Self {
        Trigger::Event {
            event: name.into(),
            expression: Some(expression.into()),
        }
    }

    /// A cron trigger.
    pub fn cron(schedule: impl Into<String>) -> Self {
        Trigger::Cron {
            cron: schedule.into(),
            jitter: None,
        }
    }

    /// A cron trigger with a random delay of up to `jitter` per run.
    pub fn cron_with_jitter(schedule: impl Into<String>, jitter: Duration) -> Self {
        Trigger::Cron {
            cron: schedule.into(),
            jitter: Some(jitter),
        }
    }
}

/// Scope of a concurrency limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConcurrencyScope {
    /// Per function (default).
    Fn,
    /// Across functions of the environment sharing the key.
    Env,
    /// Across the account sharing the key.
    Account,
}

/// A concurrency limit (docs/protocol.md §6.4 `concurrency`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Concurrency {
    /// Maximum runs executing steps at once.
    pub limit: u32,
    /// CEL key: the limit applies per distinct value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Scope; `key` is required for `env` and `account`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<ConcurrencyScope>,
}

impl Concurrency {
    /// At most `limit` concurrent runs of the function.
    pub fn new(limit: u32) -> Self {
        Concurrency {
            limit,
            key: None,
            scope: None,
        }
    }

    /// Applies the limit per value of the CEL `key`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the scope.
    pub fn scope(mut self, scope: ConcurrencyScope) -> Self {
        self.scope = Some(scope);
        self
    }
}

/// Throttling: runs over the rate are delayed, not dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Throttle {
    /// Runs started per period.
    pub limit: u32,
    /// The period.
    #[serde(serialize_with = "duration")]
    pub period: Duration,
    /// Extra runs allowed in a burst.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// CEL key: one throttle per value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Rate limiting: runs over the rate are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// Runs per period.
    pub limit: u32,
    /// The period, at most 24 h.
    #[serde(serialize_with = "duration")]
    pub period: Duration,
    /// CEL key: one limit per value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Debouncing: a run starts once no new event arrived for `period`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Debounce {
    /// Quiet period, 1 s to 7 days.
    #[serde(serialize_with = "duration")]
    pub period: Duration,
    /// CEL key: one debounce per value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Maximum delay before the run starts anyway.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_duration"
    )]
    pub timeout: Option<Duration>,
}

/// Event batching: one run receives up to `max_size` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchEvents {
    /// Maximum events per run (≥ 2).
    #[serde(rename = "maxSize")]
    pub max_size: u32,
    /// How long to wait for a full batch; seconds or minutes only (docs/protocol.md §1.3).
    #[serde(serialize_with = "duration")]
    pub timeout: Duration,
    /// CEL key: one batch per value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// CEL condition for an event to be batched.
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub if_exp: Option<String>,
}

/// Priority: a CEL expression giving seconds to move the run ahead (±43200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Priority {
    /// The CEL expression.
    pub run: String,
}

/// Cancels a run when a matching event arrives (docs/protocol.md §8.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cancel {
    /// Event name.
    pub event: String,
    /// CEL over `event` (the run's trigger) and `async` (the incoming event).
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub if_exp: Option<String>,
    /// How long after the run started the cancellation stays armed.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_duration"
    )]
    pub timeout: Option<Duration>,
}

impl Cancel {
    /// Cancel on this event.
    pub fn on(event: impl Into<String>) -> Self {
        Cancel {
            event: event.into(),
            if_exp: None,
            timeout: None,
        }
    }

    /// Only when the CEL expression holds.
    pub fn if_exp(mut self, expression: impl Into<String>) -> Self {
        self.if_exp = Some(expression.into());
        self
    }

    /// Only within `timeout` of the run's start.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Run timeouts; exceeding one cancels the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timeouts {
    /// Maximum time between the trigger and the first step.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_duration"
    )]
    pub start: Option<Duration>,
    /// Maximum time from start to finish.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_duration"
    )]
    pub finish: Option<Duration>,
}

/// What a singleton does when a run with the same key is already running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SingletonMode {
    /// Skip the new run.
    Skip,
    /// Cancel the running one and start the new run.
    Cancel,
}

/// At most one run at a time (per key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Singleton {
    /// CEL key: one singleton per value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What happens to a second run.
    pub mode: SingletonMode,
}

/// Everything a function is declared with except its handler: id, name, triggers and
/// flow control. Built with chained setters:
///
/// ```
/// use std::time::Duration;
/// use inngest_sdk::{Cancel, Concurrency, FunctionOpts, Trigger};
///
/// let opts = FunctionOpts::new("process-order")
///     .name("Process order")
///     .trigger(Trigger::event("shop/order.created"))
///     .retries(3)
///     .idempotency("event.data.order_id")
///     .concurrency(Concurrency::new(1).key("event.data.customer_id"))
///     .cancel_on(
///         Cancel::on("shop/order.cancelled")
///             .if_exp("async.data.order_id == event.data.order_id"),
///     );
/// assert_eq!(opts.id(), "process-order");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionOpts {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) triggers: Vec<Trigger>,
    pub(crate) retries: Option<u32>,
    pub(crate) concurrency: Vec<Concurrency>,
    pub(crate) throttle: Option<Throttle>,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) debounce: Option<Debounce>,
    pub(crate) batch_events: Option<BatchEvents>,
    pub(crate) idempotency: Option<String>,
    pub(crate) priority: Option<Priority>,
    pub(crate) cancel: Vec<Cancel>,
    pub(crate) timeouts: Option<Timeouts>,
    pub(crate) singleton: Option<Singleton>,
    /// `None`: the client's setting; `Some(None)`: off; `Some(Some(_))`: these options.
    pub(crate) checkpointing: Option<Option<Checkpointing>>,
}

impl FunctionOpts {
    /// Options for the function with this id (unique within the app).
    pub fn new(id: impl Into<String>) -> Self {
        FunctionOpts {
            id: id.into(),
            name: None,
            triggers: Vec::new(),
            retries: None,
            concurrency: Vec::new(),
            throttle: None,
            rate_limit: None,
            debounce: None,
            batch_events: None,
            idempotency: None,
            priority: None,
            cancel: Vec::new(),
            timeouts: None,
            singleton: None,
            checkpointing: None,
        }
    }

    /// Checkpoints this function's steps with these options, whatever the client's
    /// setting (docs/protocol.md §7.14).
    pub fn checkpointing(mut self, options: Checkpointing) -> Self {
        self.checkpointing = Some(Some(options));
        self
    }

    /// Never checkpoints this function's steps: every step is answered to the executor.
    pub fn without_checkpointing(mut self) -> Self {
        self.checkpointing = Some(None);
        self
    }

    /// The checkpointing options for this function, given the client's.
    pub fn checkpointing_with(&self, client: Option<&Checkpointing>) -> Option<Checkpointing> {
        match self.checkpointing {
            Some(own) => own,
            None => client.copied(),
        }
    }

    /// The function id, without the app prefix.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Display name in the dashboard; defaults to the id.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a trigger (at most 10). A function without triggers can only be invoked.
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.triggers.push(trigger);
        self
    }

    /// Number of retries after the first attempt (0–20; the server default is 4).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// Adds a concurrency limit (at most 2).
    pub fn concurrency(mut self, concurrency: Concurrency) -> Self {
        self.concurrency.push(concurrency);
        self
    }

    /// Sets throttling.
    pub fn throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// Sets rate limiting.
    pub fn rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    /// Sets debouncing.
    pub fn debounce(mut self, debounce: Debounce) -> Self {
        self.debounce = Some(debounce);
        self
    }

    /// Sets event batching.
    pub fn batch_events(mut self, batch: BatchEvents) -> Self {
        self.batch_events = Some(batch);
        self
    }

    /// At most one run per value of this CEL key within 24 h.
    pub fn idempotency(mut self, key: impl Into<String>) -> Self {
        self.idempotency = Some(key.into());
        self
    }

    /// Sets the priority expression.
    pub fn priority(mut self, run: impl Into<String>) -> Self {
        self.priority = Some(Priority { run: run.into() });
        self
    }

    /// Cancels runs when a matching event arrives (at most 5).
    pub fn cancel_on(mut self, cancel: Cancel) -> Self {
        self.cancel.push(cancel);
        self
    }

    /// Sets run timeouts.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = Some(timeouts);
        self
    }

    /// Makes the function a singleton.
    pub fn singleton(mut self, singleton: Singleton) -> Self {
        self.singleton = Some(singleton);
        self
    }

    /// Retries + 1: the attempts the executor makes of each step (docs/protocol.md §6.4).
    pub fn max_attempts(&self) -> u32 {
        self.retries.unwrap_or(DEFAULT_RETRIES) + 1
    }

    /// The triggers.
    pub fn triggers(&self) -> &[Trigger] {
        &self.triggers
    }

    /// The cancellation rules.
    pub fn cancellations(&self) -> &[Cancel] {
        &self.cancel
    }

    /// The idempotency key expression.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency.as_deref()
    }
}

/// The server's retry default when a function does not set one (docs/protocol.md §6.4).
pub const DEFAULT_RETRIES: u32 = 4;

/// The config JSON of one function as sent at sync (docs/protocol.md §6.4).
#[derive(Debug, Serialize)]
pub struct FunctionConfig<'a> {
    /// Composite id `<app id>-<function id>`.
    pub id: String,
    /// Display name (the server rejects an empty name).
    pub name: &'a str,
    /// Triggers.
    pub triggers: &'a [Trigger],
    /// Exactly one entry, `"step"`.
    pub steps: StepsConfig,
    /// Concurrency limits.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub concurrency: &'a [Concurrency],
    /// Throttling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle: Option<&'a Throttle>,
    /// Rate limiting.
    #[serde(rename = "rateLimit", skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<&'a RateLimit>,
    /// Debouncing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debounce: Option<&'a Debounce>,
    /// Batching.
    #[serde(rename = "batchEvents", skip_serializing_if = "Option::is_none")]
    pub batch_events: Option<&'a BatchEvents>,
    /// Idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<&'a str>,
    /// Priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<&'a Priority>,
    /// Cancellation rules.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub cancel: &'a [Cancel],
    /// Timeouts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<&'a Timeouts>,
    /// Singleton.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub singleton: Option<&'a Singleton>,
}

/// `steps` of a function config: always exactly one entry named `step`.
#[derive(Debug, Serialize)]
pub struct StepsConfig {
    /// The single step entry.
    pub step: StepConfig,
}

/// The `step` entry of a function config.
#[derive(Debug, Serialize)]
pub struct StepConfig {
    /// Always `"step"`.
    pub id: &'static str,
    /// Always `"step"`.
    pub name: &'static str,
    /// Where the executor calls.
    pub runtime: Runtime,
    /// Retry count, when the function sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<StepRetries>,
}

/// `runtime` of a step config.
#[derive(Debug, Serialize)]
pub struct Runtime {
    /// Always `"http"` for a serve endpoint.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The app URL with `fnId` and `stepId=step` in the query.
    pub url: String,
}

/// `retries` of a step config: the number of retries, not attempts (docs/protocol.md §6.4).
#[derive(Debug, Serialize)]
pub struct StepRetries {
    /// Number of retries.
    pub attempts: u32,
}

impl FunctionOpts {
    /// The config JSON of this function in the app `app_id` served at `app_url`.
    pub fn to_config<'a>(&'a self, app_id: &str, app_url: &url::Url) -> FunctionConfig<'a> {
        let id = composite_id(app_id, &self.id);
        FunctionConfig {
            steps: StepsConfig {
                step: StepConfig {
                    id: "step",
                    name: "step",
                    runtime: Runtime {
                        kind: "http",
                        url: step_url(app_url, &id),
                    },
                    retries: self.retries.map(|attempts| StepRetries { attempts }),
                },
            },
            id,
            name: self.name.as_deref().unwrap_or(&self.id),
            triggers: &self.triggers,
            concurrency: &self.concurrency,
            throttle: self.throttle.as_ref(),
            rate_limit: self.rate_limit.as_ref(),
            debounce: self.debounce.as_ref(),
            batch_events: self.batch_events.as_ref(),
            idempotency: self.idempotency.as_deref(),
            priority: self.priority.as_ref(),
            cancel: &self.cancel,
            timeouts: self.timeouts.as_ref(),
            singleton: self.singleton.as_ref(),
        }
    }
}

/// `<app id>-<function id>`, joined with one `-`, no slugification (docs/protocol.md §1.1).
pub fn composite_id(app_id: &str, function_id: &str) -> String {
    if app_id.is_empty() {
        return function_id.to_owned();
    }
    let mut id = String::with_capacity(app_id.len() + 1 + function_id.len());
    id.push_str(app_id);
    id.push('-');
    id.push_str(function_id);
    id
}

/// The app URL with `fnId=<composite id>&stepId=step` appended to its query (docs/protocol.md
/// §6.4).
pub fn step_url(app_url: &url::Url, composite_id: &str) -> String {
    let mut url = app_url.clone();
    url.query_pairs_mut()
        .append_pair("fnId", composite_id)
        .append_pair("stepId", "step");
    url.into()
}

fn duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

fn opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => duration(d, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_overrides_the_clients_checkpointing() {
        let client = Checkpointing::new().buffered_steps(3);
        let inherit = FunctionOpts::new("f");
        assert_eq!(inherit.checkpointing_with(Some(&client)), Some(client));
        assert_eq!(inherit.checkpointing_with(None), None);
        let off = FunctionOpts::new("f").without_checkpointing();
        assert_eq!(off.checkpointing_with(Some(&client)), None);
        let own = FunctionOpts::new("f").checkpointing(Checkpointing::new());
        assert_eq!(own.checkpointing_with(None), Some(Checkpointing::new()));
        assert_eq!(
            own.checkpointing_with(Some(&client)),
            Some(Checkpointing::new())
        );
    }

    #[test]
    fn checkpointing_is_not_part_of_the_synced_config() {
        let with = FunctionOpts::new("f").checkpointing(Checkpointing::new().buffered_steps(9));
        let without = FunctionOpts::new("f");
        let sync = |opts: &FunctionOpts| {
            serde_json::to_string(&opts.to_config("app", &url())).expect("json")
        };
        assert_eq!(sync(&with), sync(&without));
    }

    fn url() -> url::Url {
        url::Url::parse("https://app.example.com/api/inngest").expect("url")
    }

    #[test]
    fn minimal_function_config_matches_the_protocol_shape() {
        let opts = FunctionOpts::new("hello").trigger(Trigger::event("demo/hello"));
        let json = serde_json::to_string(&opts.to_config("my-app", &url())).expect("json");
        assert_eq!(
            json,
            r#"{"id":"my-app-hello","name":"hello","triggers":[{"event":"demo/hello"}],"steps":{"step":{"id":"step","name":"step","runtime":{"type":"http","url":"https://app.example.com/api/inngest?fnId=my-app-hello&stepId=step"}}}}"#
        );
    }

    #[test]
    fn every_flow_control_option_serializes_with_protocol_names() {
        let opts = FunctionOpts::new("process-order")
            .name("Process order")
            .trigger(Trigger::event_if(
                "shop/order.created",
                "event.data.total > 100",
            ))
            .trigger(Trigger::cron_with_jitter(
                "TZ=Europe/Paris 0 9 * * *",
                Duration::from_secs(30),
            ))
            .retries(3)
            .concurrency(
                Concurrency::new(10)
                    .key("event.data.user_id")
                    .scope(ConcurrencyScope::Fn),
            )
            .throttle(Throttle {
                limit: 5,
                period: Duration::from_secs(60),
                burst: Some(2),
                key: Some("event.data.user_id".into()),
            })
            .rate_limit(RateLimit {
                limit: 1,
                period: Duration::from_secs(4 * 3600),
                key: Some("event.data.user_id".into()),
            })
            .debounce(Debounce {
                period: Duration::from_secs(10),
                key: Some("event.data.user_id".into()),
                timeout: Some(Duration::from_secs(60)),
            })
            .batch_events(BatchEvents {
                max_size: 10,
                timeout: Duration::from_secs(5),
                key: Some("event.data.user_id".into()),
                if_exp: Some("event.data.batch == true".into()),
            })
            .idempotency("event.data.order_id")
            .priority("event.data.plan == 'pro' ? 120 : 0")
            .cancel_on(
                Cancel::on("shop/order.cancelled")
                    .if_exp("async.data.order_id == event.data.order_id")
                    .timeout(Duration::from_secs(86400)),
            )
            .timeouts(Timeouts {
                start: Some(Duration::from_secs(600)),
                finish: Some(Duration::from_secs(3600)),
            })
            .singleton(Singleton {
                key: Some("event.data.user_id".into()),
                mode: SingletonMode::Skip,
            });
        let json: serde_json::Value =
            serde_json::to_value(opts.to_config("my-app", &url())).expect("json");
        let expected = serde_json::json!({
            "id": "my-app-process-order",
            "name": "Process order",
            "triggers": [
                {"event": "shop/order.created", "expression": "event.data.total > 100"},
                {"cron": "TZ=Europe/Paris 0 9 * * *", "jitter": "30s"}
            ],
            "steps": {"step": {"id": "step", "name": "step",
                "runtime": {"type": "http", "url": "https://app.example.com/api/inngest?fnId=my-app-process-order&stepId=step"},
                "retries": {"attempts": 3}}},
            "concurrency": [{"limit": 10, "key": "event.data.user_id", "scope": "fn"}],
            "throttle": {"limit": 5, "period": "1m", "burst": 2, "key": "event.data.user_id"},
            "rateLimit": {"limit": 1, "period": "4h", "key": "event.data.user_id"},
            "debounce": {"period": "10s", "key": "event.data.user_id", "timeout": "1m"},
            "batchEvents": {"maxSize": 10, "timeout": "5s", "key": "event.data.user_id", "if": "event.data.batch == true"},
            "idempotency": "event.data.order_id",
            "priority": {"run": "event.data.plan == 'pro' ? 120 : 0"},
            "cancel": [{"event": "shop/order.cancelled", "if": "async.data.order_id == event.data.order_id", "timeout": "1d"}],
            "timeouts": {"start": "10m", "finish": "1h"},
            "singleton": {"key": "event.data.user_id", "mode": "skip"}
        });
        assert_eq!(json, expected);
    }

    #[test]
    fn step_url_keeps_the_existing_query() {
        let base = url::Url::parse("https://h/api/inngest?x=1").expect("url");
        assert_eq!(
            step_url(&base, "a-b"),
            "https://h/api/inngest?x=1&fnId=a-b&stepId=step"
        );
    }

    #[test]
    fn max_attempts_is_retries_plus_one_with_server_default() {
        assert_eq!(FunctionOpts::new("f").max_attempts(), 5);
        assert_eq!(FunctionOpts::new("f").retries(0).max_attempts(), 1);
    }
}
