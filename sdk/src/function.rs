//! Declaring functions: options, a typed handler, an optional on-failure handler.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::core::config::{FUNCTION_FAILED_EVENT, FunctionOpts, Trigger, composite_id};
use crate::core::wire::RawJson;
use crate::error::Error;
use crate::event::{Event, EventType, FunctionFailed};
use crate::run::RunContext;
use crate::step::Step;

/// What a handler receives besides the step tool: the typed triggering event, the run, and
/// (on demand) every event of a batch.
#[derive(Debug, Clone)]
pub struct Input<T> {
    /// The triggering event (the first of a batch).
    pub event: Event<T>,
    /// The run this call belongs to.
    pub run: RunContext,
    /// Every event of the run as sent; decoded only by [`Input::events`], because most
    /// functions are not batched and decoding them again on every call is wasted work.
    raw_events: RawEvents,
}

/// The events of a run as the request carried them.
#[derive(Debug, Clone)]
enum RawEvents {
    /// The request's `events` array (a batch, or the trigger alone).
    Batch(RawJson),
    /// No `events` array, or an empty one: the trigger is the only event.
    Trigger(RawJson),
}

impl<T: DeserializeOwned> Input<T> {
    /// Every event of the run: one, or a batch (`batchEvents`), decoded into `T`.
    pub fn events(&self) -> Result<Vec<Event<T>>, Error> {
        match &self.raw_events {
            RawEvents::Batch(events) => decode_event(events.get()),
            RawEvents::Trigger(event) => Ok(vec![decode_event(event.get())?]),
        }
    }
}

/// A function: its options, its handler, and optionally an on-failure handler.
///
/// ```
/// use inngest_sdk::{Error, Function, FunctionOpts, Input, Step, Trigger};
///
/// #[derive(serde::Deserialize)]
/// struct Signup { email: String }
///
/// let welcome = Function::new(
///     FunctionOpts::new("welcome").trigger(Trigger::event("user/signed.up")),
///     |input: Input<Signup>, step: Step| async move {
///         let email = input.event.data.email;
///         step.run("send", move || async move { Ok::<_, Error>(format!("sent to {email}")) })
///             .await?;
///         Ok::<_, Error>(())
///     },
/// );
/// assert_eq!(welcome.opts().id(), "welcome");
/// ```
#[derive(Clone)]
pub struct Function {
    opts: FunctionOpts,
    handler: Arc<dyn ErasedHandler>,
    on_failure: Option<Arc<dyn ErasedHandler>>,
    /// This function's own middleware, inside the endpoint's (docs/protocol.md §7.15).
    middleware: Vec<Arc<dyn crate::middleware::Middleware>>,
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Function")
            .field("opts", &self.opts)
            .field("on_failure", &self.on_failure.is_some())
            .finish_non_exhaustive()
    }
}

impl Function {
    /// A function with these options whose handler receives events with data `T` and
    /// returns `R`.
    pub fn new<T, R, H, Fut>(opts: FunctionOpts, handler: H) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        H: Fn(Input<T>, Step) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, Error>> + Send + 'static,
    {
        Function {
            opts,
            handler: Arc::new(TypedHandler {
                handler,
                _types: PhantomData,
            }),
            on_failure: None,
            middleware: Vec::new(),
        }
    }

    /// A function triggered by the event its handler takes: a handler of `Input<E>` makes a
    /// function triggered by events of type `E`, so the trigger and the handler cannot
    /// disagree.
    ///
    /// The trigger [`Trigger::event_of::<E>()`](Trigger::event_of) is added to `opts`, unless
    /// `opts` already has an event trigger with the name `E::NAME` (one with a filter, say:
    /// [`Trigger::event_of_if`]).
    ///
    /// ```
    /// use inngest_sdk::{Error, EventType, Function, FunctionOpts, Input, Step, Trigger};
    /// # #[derive(serde::Serialize, serde::Deserialize)]
    /// # struct Signup { email: String }
    /// impl EventType for Signup {
    ///     const NAME: &'static str = "user/signed.up";
    /// }
    ///
    /// let welcome = Function::for_event(
    ///     FunctionOpts::new("welcome"),
    ///     |input: Input<Signup>, step: Step| async move {
    ///         Ok::<_, Error>(input.event.data.email)
    ///     },
    /// );
    /// assert_eq!(welcome.opts().triggers(), [Trigger::event("user/signed.up")]);
    /// ```
    ///
    /// A handler for another event type than the one named does not compile:
    ///
    /// ```compile_fail,E0631
    /// use inngest_sdk::{Error, EventType, Function, FunctionOpts, Input, Step};
    /// # #[derive(serde::Serialize, serde::Deserialize)]
    /// # struct Signup { email: String }
    /// # impl EventType for Signup { const NAME: &'static str = "user/signed.up"; }
    /// # #[derive(serde::Serialize, serde::Deserialize)]
    /// # struct Verified { user_id: String }
    /// # impl EventType for Verified { const NAME: &'static str = "user/email.verified"; }
    ///
    /// let welcome = Function::for_event::<Signup, _, _, _>(
    ///     FunctionOpts::new("welcome"),
    ///     |input: Input<Verified>, step: Step| async move { Ok::<_, Error>(()) },
    /// );
    /// ```
    ///
    /// Nor does a handler whose input type names no event:
    ///
    /// ```compile_fail,E0277
    /// use inngest_sdk::{Error, Function, FunctionOpts, Input, Step};
    ///
    /// let any = Function::for_event(
    ///     FunctionOpts::new("any"),
    ///     |input: Input<serde_json::Value>, step: Step| async move { Ok::<_, Error>(()) },
    /// );
    /// ```
    pub fn for_event<E, R, H, Fut>(opts: FunctionOpts, handler: H) -> Self
    where
        E: EventType + Send + 'static,
        R: Serialize + 'static,
        H: Fn(Input<E>, Step) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, Error>> + Send + 'static,
    {
        let listed = opts
            .triggers()
            .iter()
            .any(|trigger| matches!(trigger, Trigger::Event { event, .. } if event == E::NAME));
        let opts = if listed {
            opts
        } else {
            opts.trigger(Trigger::event_of::<E>())
        };
        Function::new(opts, handler)
    }

    /// Adds a middleware around this function's runs (and its failure handler's), inside
    /// the client's and the endpoint's (docs/protocol.md §7.15). The first added is the
    /// outermost of the function's own.
    pub fn middleware(mut self, middleware: impl crate::middleware::Middleware) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    pub(crate) fn own_middleware(&self) -> &[Arc<dyn crate::middleware::Middleware>] {
        &self.middleware
    }

    /// Adds an on-failure handler, registered as the separate function `<id>-failure`
    /// (docs/protocol.md §8.4). It runs once the function's run failed for good and receives the
    /// `inngest/function.failed` event, with the original event typed as `T`.
    pub fn on_failure<T, R, H, Fut>(mut self, handler: H) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        H: Fn(Input<FunctionFailed<T>>, Step) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, Error>> + Send + 'static,
    {
        self.on_failure = Some(Arc::new(TypedHandler {
            handler,
            _types: PhantomData,
        }));
        self
    }

    /// The function's options.
    pub fn opts(&self) -> &FunctionOpts {
        &self.opts
    }

    /// The registry entries of this function in app `app_id`: itself, and its failure
    /// handler if it has one.
    pub(crate) fn into_entries(self, app_id: &str) -> Vec<(FunctionOpts, Arc<dyn ErasedHandler>)> {
        let mut entries = Vec::with_capacity(2);
        if let Some(on_failure) = self.on_failure {
            entries.push((failure_opts(&self.opts, app_id), on_failure));
        }
        entries.insert(0, (self.opts, self.handler));
        entries
    }
}

/// The options of the `<id>-failure` function (docs/protocol.md §6.4, §8.4).
fn failure_opts(opts: &FunctionOpts, app_id: &str) -> FunctionOpts {
    let target = composite_id(app_id, &opts.id);
    let name = opts.name.as_deref().unwrap_or(&opts.id);
    FunctionOpts::new(format!("{}-failure", opts.id))
        .name(format!("{name} (failure)"))
        .trigger(Trigger::event_if(
            FUNCTION_FAILED_EVENT,
            format!("event.data.function_id == '{target}'"),
        ))
        .retries(1)
}

/// A boxed handler future.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<Box<RawValue>, Error>> + Send>>;

/// The raw input of one call, before decoding into the handler's types.
pub(crate) struct RawInput {
    pub(crate) event: RawJson,
    /// Every event of the run as a JSON array; `None` (or empty) when the executor sent
    /// only `event`.
    pub(crate) events: Option<RawJson>,
    pub(crate) run: RunContext,
}

/// A handler with its types erased, so functions of different types share one registry.
pub(crate) trait ErasedHandler: Send + Sync {
    /// Decodes the input and starts the handler. A payload that does not decode is a
    /// non-retriable error: retrying cannot change the event.
    fn start(&self, input: RawInput, step: Step) -> Result<HandlerFuture, Error>;
}

struct TypedHandler<H, T, R, Fut> {
    handler: H,
    _types: PhantomData<fn(T) -> (R, Fut)>,
}

impl<H, T, R, Fut> ErasedHandler for TypedHandler<H, T, R, Fut>
where
    T: DeserializeOwned + Send + 'static,
    R: Serialize + 'static,
    H: Fn(Input<T>, Step) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
{
    fn start(&self, input: RawInput, step: Step) -> Result<HandlerFuture, Error> {
        let event: Event<T> = decode_event(input.event.get())?;
        let raw_events = match input.events {
            Some(events) if !is_empty_array(events.get()) => RawEvents::Batch(events),
            _ => RawEvents::Trigger(input.event),
        };
        let future = (self.handler)(
            Input {
                event,
                run: input.run,
                raw_events,
            },
            step,
        );
        Ok(Box::pin(async move {
            let output = future.await?;
            serde_json::value::to_raw_value(&output).map_err(|e| {
                Error::non_retriable(format!(
                    "the function's return value cannot be serialized as JSON: {e}"
                ))
            })
        }))
    }
}

/// Whether a JSON array's text is `[]` (whitespace allowed inside).
fn is_empty_array(array: &str) -> bool {
    array
        .strip_prefix('[')
        .is_some_and(|rest| rest.trim_start().starts_with(']'))
}

/// Decodes an event (or, with `E = Vec<Event<T>>`, a batch) from its JSON text.
fn decode_event<E: DeserializeOwned>(raw: &str) -> Result<E, Error> {
    serde_json::from_str(raw).map_err(|e| {
        Error::non_retriable(format!(
            "the event does not match the function's event type: {e}"
        ))
        .with_name("EventDecodeError")
    })
}
