//! Test support for functions built on this SDK: the pieces the fake executor is made of.

pub mod conformance;
pub mod expr;
