//! Who is connected: every connection with its user, login session, its
//! [`Outlet`] (queue and close signal), and the channels it is subscribed
//! to, and each user's connections on this node.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio_util::sync::CancellationToken;

use super::delivery::Delivery;
use super::queue::{Deliveries, DeliverySender, NotQueued, delivery_queue};
use crate::model::{ChannelId, User, UserId};

/// Identifies one connection within this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub(super) u64);

impl ConnectionId {
    /// The number, for logs.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Identifies the login session a connection was opened with (the hash of
/// its token), so that logging out can close its connections.
pub type SessionKey = [u8; 32];

/// The session key of a connection that has no login session (a Socket.IO
/// guest named by `new user`): no logout can match it.
pub const NO_SESSION: SessionKey = [0; 32];

/// What a connection hears besides its user's own events and presence.
/// Chosen per connection at registration.
#[derive(Debug, Clone, Copy)]
pub struct Interests {
    /// Announcements of new public channels. The Socket.IO edge shows them as
    /// they appear, as the tutorial app does; the native protocol lists
    /// channels on request instead.
    pub announcements: bool,
    /// Subscribed to every channel the user joins, as it is joined. A
    /// connection that shows one channel at a time (Socket.IO) leaves this
    /// off and subscribes to the channel it shows.
    pub follows_memberships: bool,
    /// Hears presence only for the names it watches, and the online list's
    /// first page ([`crate::hub::Hub::watch_presence`]), instead of every
    /// change: a native client that shows people on demand, not a list of
    /// everyone.
    pub watched_presence: bool,
}

impl Default for Interests {
    fn default() -> Self {
        Self { announcements: false, follows_memberships: true, watched_presence: false }
    }
}

/// Why the hub ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It could not keep up with its deliveries.
    TooSlow = 1,
    /// Its login session ended (logout).
    SessionEnded = 2,
}

/// A connection's end of the hub: its id, its queue and its close signal.
pub struct Registration {
    pub id: ConnectionId,
    /// Deliveries for this connection, in order.
    pub deliveries: Deliveries,
    /// When and why the connection must end.
    pub end: EndWatch,
    /// The last presence change made before the connection registered
    /// (its own arrival included): those numbered above it reach it in
    /// presence batches, those at or below it are news to nobody here.
    pub presence_version: u64,
}

/// A connection's end signal: `ended` is cancelled when the connection must
/// end, by the hub (see [`EndWatch::ended_by_hub`]) or because the token
/// the hub was built with (the server's shutdown) was. One token, so a
/// session watches one signal on every wake.
#[derive(Clone)]
pub struct EndWatch {
    pub ended: CancellationToken,
    why: Arc<AtomicU8>,
}

impl EndWatch {
    /// Why the hub ended the connection; `None` if it did not (the end
    /// came from the hub's parent token, or has not come).
    pub fn ended_by_hub(&self) -> Option<Ended> {
        Ended::from_code(self.why.load(Ordering::Acquire))
    }
}

impl Ended {
    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Ended::TooSlow),
            2 => Some(Ended::SessionEnded),
            _ => None,
        }
    }
}

pub(super) struct Connection {
    pub(super) user: UserId,
    pub(super) session: SessionKey,
    /// Shared with the routes the connection is subscribed to, which offer
    /// it messages under their own shard's lock rather than the hub's.
    pub(super) outlet: Arc<Outlet>,
    pub(super) channels: HashSet<ChannelId>,
    /// Judged too slow: gets nothing more, and waits for its task to
    /// unregister it (which starts the presence grace period).
    pub(super) dropped: bool,
    pub(super) interests: Interests,
}

/// What offering a delivery to a connection came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Offered {
    Queued,
    /// An ephemeral delivery dropped because the queue is full.
    Skipped,
    /// Not offered: the connection is dropped or closing.
    Ignored,
    /// The queue is full: the connection cannot keep up.
    Full,
}

/// Where a connection's deliveries go in: its queue and its close signal.
/// Held by the registry and by each route the connection is subscribed
/// to; the queue's stream ends once all of them have let go.
pub(super) struct Outlet {
    pub(super) user: UserId,
    queue: DeliverySender,
    ended: CancellationToken,
    why: Arc<AtomicU8>,
}

impl Outlet {
    /// Ends the connection for `why`; the first reason given stays.
    pub(super) fn end(&self, why: Ended) {
        let _ = self.why.compare_exchange(0, why as u8, Ordering::AcqRel, Ordering::Acquire);
        self.ended.cancel();
    }

    /// Queues a delivery without waiting. A connection the hub ended (too
    /// slow, or its login session ended) is closing and is offered nothing.
    /// A full queue ends the connection as too slow at once, here: routes
    /// offer without the hub's lock, and the hub takes it out of them
    /// (`Hub::drop_slow`) only after the fan-out, so a later message must
    /// not slip in behind the one it missed.
    pub(super) fn offer(&self, delivery: &Arc<Delivery>) -> Offered {
        if self.why.load(Ordering::Acquire) != 0 {
            return Offered::Ignored;
        }
        match self.queue.try_send(Arc::clone(delivery)) {
            Ok(()) => Offered::Queued,
            Err(NotQueued::Full) if delivery.is_ephemeral() => Offered::Skipped,
            Err(NotQueued::Full) => {
                self.end(Ended::TooSlow);
                Offered::Full
            }
            // The connection is closing; its task unregisters it.
            Err(NotQueued::Closed) => Offered::Ignored,
        }
    }
}

impl Connection {
    /// Ends the connection for `why`; the first reason given stays. An
    /// ended connection is offered nothing more (its outlet refuses), so a
    /// dropped one needs no check of its own.
    pub(super) fn end(&self, why: Ended) {
        self.outlet.end(why);
    }
}

#[derive(Default)]
pub(super) struct Registry {
    next_id: u64,
    pub(super) connections: HashMap<ConnectionId, Connection>,
    /// Each user's connections on this node; a user with none has no entry.
    pub(super) users: HashMap<UserId, HashSet<ConnectionId>>,
}

impl Registry {
    pub(super) fn insert(
        &mut self,
        user: &User,
        session: SessionKey,
        interests: Interests,
        queue_capacity: usize,
        parent: &CancellationToken,
    ) -> Registration {
        self.next_id += 1;
        let id = ConnectionId(self.next_id);
        let (queue, deliveries) = delivery_queue(queue_capacity);
        let ended = parent.child_token();
        let why = Arc::new(AtomicU8::new(0));
        let outlet = Arc::new(Outlet { user: user.id, queue, ended: ended.clone(), why: Arc::clone(&why) });
        let connection = Connection {
            user: user.id,
            session,
            outlet,
            channels: HashSet::new(),
            dropped: false,
            interests,
        };
        self.connections.insert(id, connection);
        self.users.entry(user.id).or_default().insert(id);
        // The hub numbers the presence changes; it fills in the version.
        Registration { id, deliveries, end: EndWatch { ended, why }, presence_version: 0 }
    }

    /// Removes a connection; the caller takes it out of its routes.
    pub(super) fn remove(&mut self, id: ConnectionId) -> Option<Connection> {
        let connection = self.connections.remove(&id)?;
        if let Some(ids) = self.users.get_mut(&connection.user) {
            ids.remove(&id);
            if ids.is_empty() {
                self.users.remove(&connection.user);
            }
        }
        Some(connection)
    }

    pub(super) fn is_connected(&self, user: UserId) -> bool {
        self.users.contains_key(&user)
    }

    /// The user's connections, in a stable order.
    pub(super) fn connections_of(&self, user: UserId) -> Vec<ConnectionId> {
        let mut ids: Vec<ConnectionId> = self.users.get(&user).into_iter().flatten().copied().collect();
        ids.sort_unstable();
        ids
    }
}
