//! Admission of connections: a cap on the node's total and on each client
//! address, over every TCP connection (plain HTTP, WebSocket, Socket.IO
//! alike). A permit is taken when a connection is accepted and released
//! when it closes, however it closes.
//!
//! A WebSocket or Socket.IO session is admitted through its connection:
//! one that arrived directly already holds its address's place, and the
//! session shares that place rather than taking a second. A trusted
//! proxy's connections count toward the node's total only (one proxy
//! carries many clients); the client behind the proxy is counted against
//! its own address when it opens a session.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;

use super::AppState;
use super::client::client_address;
use super::ws::refusal_response;
use crate::limits::address_key;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The node holds as many connections as it may.
    NodeFull,
    /// This address holds as many connections as it may.
    AddressFull,
}

pub(super) struct Admission {
    max_total: usize,
    max_per_address: usize,
    /// Open connections per address, and in total.
    open: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// Holds one place, in the total, for an address, or both; dropping it
/// frees what it holds.
pub(super) struct Permit {
    admission: Arc<Admission>,
    address: Option<IpAddr>,
    counts_in_total: bool,
}

/// A connection's place, in the extensions of every request on it, so the
/// session opened on the connection can share it. Only the first: several
/// Engine.IO sessions opened over one keep-alive connection would otherwise
/// all count as one.
#[derive(Clone)]
pub(super) struct ConnectionPlace(Arc<Permit>, Arc<AtomicBool>);

/// A WebSocket or Socket.IO session's place: its connection's, and, behind
/// a proxy, one for the client's address.
pub(super) struct SessionPermit {
    _connection: Option<ConnectionPlace>,
    _client: Option<Permit>,
}

impl Admission {
    pub(super) fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Self { max_total, max_per_address, open: Mutex::new(Counts::default()) })
    }

    /// A connection just accepted from `peer`. A trusted proxy's
    /// (`per_address` false) counts toward the total only.
    pub(super) fn admit_connection(
        self: &Arc<Self>,
        peer: IpAddr,
        per_address: bool,
    ) -> Result<ConnectionPlace, Refusal> {
        let permit = self.take(per_address.then_some(address_key(peer)), true)?;
        Ok(ConnectionPlace(Arc::new(permit), Arc::new(AtomicBool::new(false))))
    }

    /// A session of `client` opened on `connection` (`None` only for a
    /// request that did not come through `serve`'s accept loop).
    pub(super) fn admit_session(
        self: &Arc<Self>,
        client: IpAddr,
        connection: Option<&ConnectionPlace>,
    ) -> Result<SessionPermit, Refusal> {
        let client = address_key(client);
        match connection {
            // Counted when it was accepted: the first session on it is that
            // connection. Later ones on the same connection are counted anew.
            Some(place) if place.0.address == Some(client) => {
                if place.1.swap(true, Ordering::AcqRel) {
                    return Ok(SessionPermit {
                        _connection: None,
                        _client: Some(self.take(Some(client), true)?),
                    });
                }
                Ok(SessionPermit { _connection: Some(place.clone()), _client: None })
            }
            // Through a proxy: the connection is in the total already.
            Some(place) => Ok(SessionPermit {
                _connection: Some(place.clone()),
                _client: Some(self.take(Some(client), false)?),
            }),
            None => Ok(SessionPermit { _connection: None, _client: Some(self.take(Some(client), true)?) }),
        }
    }

    fn take(self: &Arc<Self>, address: Option<IpAddr>, in_total: bool) -> Result<Permit, Refusal> {
        let mut counts = self.open.lock().expect("admission lock is never poisoned");
        if in_total && counts.total >= self.max_total {
            return Err(Refusal::NodeFull);
        }
        if let Some(address) = address {
            if counts.per_address.get(&address).copied().unwrap_or(0) >= self.max_per_address {
                return Err(Refusal::AddressFull);
            }
            *counts.per_address.entry(address).or_insert(0) += 1;
        }
        if in_total {
            counts.total += 1;
        }
        Ok(Permit { admission: Arc::clone(self), address, counts_in_total: in_total })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.admission.open.lock().expect("admission lock is never poisoned");
        if self.counts_in_total {
            counts.total -= 1;
        }
        if let Some(address) = self.address
            && let Some(from_address) = counts.per_address.get_mut(&address)
        {
            *from_address -= 1;
            if *from_address == 0 {
                counts.per_address.remove(&address);
            }
        }
    }
}

/// A session's admission as a handler argument: refused with 429
/// (`too_many_connections`) or 503 (`server_full`).
impl FromRequestParts<AppState> for SessionPermit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let connection = parts.extensions.get::<ConnectionPlace>();
        let Some(client) = client_address(state, &parts.extensions, &parts.headers) else {
            return Err(refusal_response(Refusal::NodeFull));
        };
        state.admission.admit_session(client, connection).map_err(refusal_response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn counts(admission: &Admission) -> (usize, usize) {
        let counts = admission.open.lock().unwrap();
        (counts.total, counts.per_address.values().sum())
    }

    #[test]
    fn caps_connections_per_address_and_in_total_and_frees_on_drop() {
        let admission = Admission::new(3, 2);
        let (a, b) = (ip("127.0.0.1"), ip("127.0.0.2"));
        let first = admission.admit_connection(a, true).unwrap();
        let _second = admission.admit_connection(a, true).unwrap();
        assert_eq!(admission.admit_connection(a, true).err(), Some(Refusal::AddressFull));
        let _third = admission.admit_connection(b, true).unwrap();
        assert_eq!(admission.admit_connection(b, true).err(), Some(Refusal::NodeFull));
        drop(first);
        assert!(admission.admit_connection(a, true).is_ok());
        assert_eq!(admission.open.lock().unwrap().per_address.len(), 2);
    }

    #[test]
    fn several_sessions_on_one_connection_are_each_counted() {
        // Engine.IO may open many sessions over one keep-alive connection:
        // only the first shares the connection's place.
        let admission = Admission::new(10, 2);
        let client = ip("127.0.0.1");
        let connection = admission.admit_connection(client, true).unwrap();
        let _first = admission.admit_session(client, Some(&connection)).unwrap();
        let _second = admission.admit_session(client, Some(&connection)).unwrap();
        assert_eq!(counts(&admission), (2, 2));
        assert_eq!(admission.admit_session(client, Some(&connection)).err(), Some(Refusal::AddressFull));
    }

    #[test]
    fn an_ipv6_64_network_is_one_address() {
        let admission = Admission::new(10, 2);
        let _a = admission.admit_connection(ip("2001:db8::1"), true).unwrap();
        let _b = admission.admit_connection(ip("2001:db8::2"), true).unwrap();
        assert_eq!(admission.admit_connection(ip("2001:db8::3"), true).err(), Some(Refusal::AddressFull));
        assert!(admission.admit_connection(ip("2001:db8:0:1::1"), true).is_ok(), "another /64");
    }

    #[test]
    fn a_session_on_a_direct_connection_shares_its_place() {
        let admission = Admission::new(10, 1);
        let client = ip("127.0.0.1");
        let connection = admission.admit_connection(client, true).unwrap();
        let session = admission.admit_session(client, Some(&connection)).unwrap();
        assert_eq!(counts(&admission), (1, 1), "counted once");
        // The connection's task ends when it upgrades; the session keeps the place.
        drop(connection);
        assert_eq!(counts(&admission), (1, 1));
        drop(session);
        assert_eq!(counts(&admission), (0, 0));
    }

    #[test]
    fn sessions_behind_a_proxy_count_against_the_client() {
        let admission = Admission::new(10, 1);
        let proxy = ip("10.0.0.1");
        let connections: Vec<_> = (0..3).map(|_| admission.admit_connection(proxy, false).unwrap()).collect();
        assert_eq!(counts(&admission), (3, 0), "a proxy is not held to the per-address cap");
        let alice = admission.admit_session(ip("203.0.113.1"), Some(&connections[0])).unwrap();
        let _bob = admission.admit_session(ip("203.0.113.2"), Some(&connections[1])).unwrap();
        assert_eq!(
            admission.admit_session(ip("203.0.113.1"), Some(&connections[2])).err(),
            Some(Refusal::AddressFull)
        );
        assert_eq!(counts(&admission), (3, 2), "sessions add no connection to the total");
        drop(connections);
        drop(alice);
        assert_eq!(counts(&admission), (1, 1), "bob's session still holds its connection's place");
    }
}
