//! The integration suite: one crate, real servers on port 0, real clients.

mod harness;

mod bad_input;
mod binary;
mod channels;
mod chat;
mod http_api;
mod presence;
mod resume;
mod socketio;
mod store;
