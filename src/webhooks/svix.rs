//! Svix.
