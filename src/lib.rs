//! natter: self-hosted, real-time team chat in one binary.
//!
//! Modules in reading order, lower layers first. `ARCHITECTURE.md` follows one
//! message through them.

pub mod model;
pub mod protocol;
pub mod limits;
pub mod search;
pub mod transfer;
pub mod metrics;
pub mod store;
pub mod files;
pub mod slack;
pub mod bus;
pub mod hub;
pub mod app;
pub mod auth;
pub mod server;
