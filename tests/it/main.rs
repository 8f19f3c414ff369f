//! The integration suite: one crate, real servers on port 0, real clients.

mod harness;
mod services;

mod administration;
mod backup;
mod bad_input;
mod bench;
mod binary;
mod changes;
mod changes_cluster;
mod changes_resume;
mod channels;
mod convergence;
mod cluster;
mod chat;
mod crash;
mod edge_security;
mod fuzz;
mod hashing;
mod http_api;
mod http_limits;
mod joining;
mod mentions;
mod limits;
mod nginx;
mod people;
mod presence;
mod process;
mod proxy;
mod reactions;
mod resume;
mod search;
mod security;
mod slow;
mod socketio;
mod store;
