//! The integration suite: one crate, real servers on port 0, real clients.

mod harness;

mod bad_input;
mod bench;
mod binary;
mod channels;
mod chat;
mod crash;
mod http_api;
mod presence;
mod resume;
mod slow;
mod store;
