//! `step.publish` (docs/protocol.md §8.10): a realtime publish made durable as a
//! `step.run`, so a retried run does not publish twice.

use std::future::Future;

use serde::Serialize;

use super::Step;
use crate::error::{Error, StepError};
use crate::realtime::Topic;

impl Step {
    /// Publishes `data` on `topic` of `channel` as a durable step named `id`: once the step
    /// completed, a retried or resumed run does not publish again. The data is serialized
    /// when the step is reached.
    ///
    /// ```no_run
    /// use inngest_sdk::{Error, Input, Step, Topic};
    /// use serde::Serialize;
    ///
    /// #[derive(Serialize)]
    /// struct Progress { percent: u8 }
    ///
    /// async fn handler(input: Input<serde_json::Value>, step: Step) -> Result<(), Error> {
    ///     let channel = format!("run:{}", input.run.run_id);
    ///     let progress = Topic::<Progress>::new("progress");
    ///     step.publish("half-way", &channel, &progress, &Progress { percent: 50 }).await?;
    ///     Ok(())
    /// }
    /// # let _ = handler;
    /// ```
    pub fn publish<T: Serialize + ?Sized>(
        &self,
        id: &str,
        channel: &str,
        topic: &Topic<T>,
        data: &T,
    ) -> impl Future<Output = Result<(), StepError>> + Send + 'static {
        let client = self.shared.client.clone();
        let channel = channel.to_owned();
        let topic = topic.name().to_owned();
        let body = serde_json::to_vec(data);
        self.run(id, move || async move {
            let body = body?;
            client
                .publish_json(&channel, &topic, body)
                .await
                .map_err(Error::from)
        })
    }
}
