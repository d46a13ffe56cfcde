//! Events: what triggers functions, what waits receive, and what [`Client::send`] sends.
//!
//! [`Client::send`]: crate::Client::send

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::core::config::Trigger;
use crate::core::wire::ErrorBody;

/// The data type of an event that carries the event's name, so the compiler checks that a
/// trigger, a wait, a send and a handler agree on both.
///
/// Implement it once per event, next to the data type; then
/// [`Function::for_event`](crate::Function::for_event) triggers a function by its handler's input
/// type, [`WaitForEvent::of`](crate::WaitForEvent::of) types a wait's result and
/// [`Event::from_data`] names an event from its data. The string forms
/// ([`Trigger::event`], [`WaitForEvent::new`](crate::WaitForEvent::new), [`Event::new`]) stay
/// for names known only at run time.
///
/// ```
/// use inngest_sdk::{Event, EventType, Trigger};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Signup {
///     email: String,
/// }
///
/// impl EventType for Signup {
///     const NAME: &'static str = "user/signed.up";
/// }
///
/// let event = Event::from_data(Signup { email: "ada@example.com".into() });
/// assert_eq!(event.name, "user/signed.up");
/// assert_eq!(Trigger::event_of::<Signup>(), Trigger::event("user/signed.up"));
/// ```
pub trait EventType: Serialize + DeserializeOwned {
    /// The event's name, e.g. `user/signed.up` (docs/protocol.md §8.1).
    const NAME: &'static str;
}

impl Trigger {
    /// A trigger on every event of type `E`, by its name [`EventType::NAME`].
    pub fn event_of<E: EventType>() -> Self {
        Trigger::event(E::NAME)
    }

    /// A trigger on events of type `E` for which the CEL `expression` holds.
    pub fn event_of_if<E: EventType>(expression: impl Into<String>) -> Self {
        Trigger::event_if(E::NAME, expression)
    }
}

/// An Inngest event with typed `data` (docs/protocol.md §8.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<T = serde_json::Value> {
    /// Event name, e.g. `shop/order.created`.
    pub name: String,
    /// The payload (an object on the wire).
    pub data: T,
    /// Idempotency id: another event with the same id within 24 h triggers nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Unix milliseconds; the server fills it in when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    /// Optional schema version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<String>,
}

impl<T> Event<T> {
    /// An event with this name and data.
    pub fn new(name: impl Into<String>, data: T) -> Self {
        Event {
            name: name.into(),
            data,
            id: None,
            ts: None,
            v: None,
        }
    }

    /// The event of type `E` with this data, named [`EventType::NAME`].
    pub fn from_data(data: T) -> Self
    where
        T: EventType,
    {
        Event::new(T::NAME, data)
    }

    /// Sets the idempotency id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the timestamp (Unix milliseconds).
    pub fn ts(mut self, ts: i64) -> Self {
        self.ts = Some(ts);
        self
    }
}

/// The data of the `inngest/function.failed` event an on-failure handler receives
/// (docs/protocol.md §8.3, §8.4), with the original event typed like the function's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionFailed<T = serde_json::Value> {
    /// Composite id of the function that failed.
    pub function_id: String,
    /// Id of the failed run.
    pub run_id: String,
    /// The final error.
    pub error: ErrorBody,
    /// The event that triggered the failed run.
    pub event: Event<T>,
}
