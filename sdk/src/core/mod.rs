//! The sans-IO protocol core: wire types, hashing, signatures, configuration JSON and
//! responses. Nothing here performs I/O or knows about async runtimes or web frameworks.

pub mod hash;
pub mod signature;
pub mod time;
