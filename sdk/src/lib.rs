//! Inngest SDK for Rust.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod core;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
