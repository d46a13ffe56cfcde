//! The ids that travel between the app, the functions and the vendors, each its own type so
//! one cannot be passed where another is meant. On the wire (events, tokens, Clerk metadata)
//! each is the plain string it wraps (`#[serde(transparent)]`), so the JSON is unchanged.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps `id` as received (from a vendor, an event or a token).
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            /// The id as the wire carries it.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id! {
    /// A Clerk user id (`user_…`).
    ClerkUserId
}

id! {
    /// A purchase id: the provider's checkout session or capture id (`cs_…`, PayPal's).
    PurchaseId
}

id! {
    /// A Discord user id (a snowflake, as a string).
    DiscordUserId
}

id! {
    /// A Discord role id (a snowflake, as a string).
    RoleId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_plain_string_on_the_wire() {
        let id = PurchaseId::new("cs_test_1");
        assert_eq!(
            serde_json::to_string(&id).expect("serializes"),
            r#""cs_test_1""#
        );
        let back: PurchaseId = serde_json::from_str(r#""cs_test_1""#).expect("parses");
        assert_eq!(back, id);
        assert_eq!(id.to_string(), "cs_test_1");
    }
}
