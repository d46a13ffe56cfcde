//! Inngest SDK for Rust.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod core;
