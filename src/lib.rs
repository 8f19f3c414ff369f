//! natter: self-hosted, real-time team chat in one binary.
//!
//! Modules in reading order, lower layers first. `ARCHITECTURE.md` follows one
//! message through them.

pub mod auth;
pub mod bus;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod protocol;
pub mod server;
pub mod store;
