//! The integration suite: one crate, real servers on port 0, real clients.

mod harness;
mod services;

mod bad_input;
mod bench;
mod binary;
mod channels;
mod cluster;
mod chat;
mod crash;
mod fuzz;
mod http_api;
mod limits;
mod nginx;
mod people;
mod presence;
mod resume;
mod security;
mod slow;
mod socketio;
mod store;
