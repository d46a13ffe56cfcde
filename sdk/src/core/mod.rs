//! The sans-IO protocol core: wire types, hashing, signatures, configuration JSON and
//! responses. Nothing here performs I/O or knows about async runtimes or web frameworks.

pub mod checkpoint;
pub mod config;
pub mod hash;
pub mod op;
pub mod response;
pub mod signature;
pub mod sync;
pub mod time;
pub mod wire;
