//! The run a call belongs to, and typed references to the functions a run may invoke: what
//! the step tool needs to know about functions, below both the step tool and the function
//! declarations that hand it to handlers.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use crate::core::config::composite_id;

/// The run a call belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    /// The run's id (a ULID).
    pub run_id: String,
    /// Zero-based attempt of the current step or call.
    pub attempt: u32,
    /// Attempts the executor makes (retries + 1).
    pub max_attempts: u32,
    /// Composite id of the function (`<app id>-<function id>`).
    pub function_id: String,
}

/// A typed reference to a function by id, for [`Step::invoke`](crate::Step::invoke): `In` is
/// its event data, `Out` its return value.
///
/// ```
/// use inngest_sdk::FunctionRef;
/// # #[derive(serde::Serialize)] struct Reminder { user: String }
/// pub const SEND_REMINDER: FunctionRef<Reminder, String> = FunctionRef::new("send-reminder");
/// ```
pub struct FunctionRef<In, Out> {
    id: Cow<'static, str>,
    /// True when `id` is already a composite id (a function of another app).
    composite: bool,
    _types: PhantomData<fn(In) -> Out>,
}

impl<In, Out> FunctionRef<In, Out> {
    /// A function of this app, by its id (without the app prefix).
    pub const fn new(id: &'static str) -> Self {
        FunctionRef {
            id: Cow::Borrowed(id),
            composite: false,
            _types: PhantomData,
        }
    }

    /// A function of any app, by its composite id `<app id>-<function id>`.
    pub fn composite(id: impl Into<Cow<'static, str>>) -> Self {
        FunctionRef {
            id: id.into(),
            composite: true,
            _types: PhantomData,
        }
    }

    /// The function id as given.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn composite_id(&self, app_id: &str) -> String {
        if self.composite {
            self.id.clone().into_owned()
        } else {
            composite_id(app_id, &self.id)
        }
    }
}

impl<In, Out> Clone for FunctionRef<In, Out> {
    fn clone(&self) -> Self {
        FunctionRef {
            id: self.id.clone(),
            composite: self.composite,
            _types: PhantomData,
        }
    }
}

impl<In, Out> fmt::Debug for FunctionRef<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FunctionRef").field(&self.id).finish()
    }
}
