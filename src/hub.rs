//! The domain core: who is connected, who may see and post where, presence,
//! per-channel ordering and fan-out.
//!
//! The hub decides; the store remembers; the server edge talks to sockets. The
//! hub never touches a socket: it hands each connection [`Delivery`] values
//! through a bounded queue and never waits on one. Each delivery is encoded at
//! most once per wire format, however many connections receive it.
//!
//! Ordering: messages reach the hub in whatever order their commits finish,
//! and (later) from other nodes with possible losses. Each channel's [`Route`]
//! delivers seqs strictly in order: an early arrival waits in `pending`, and a
//! gap that does not close by itself within [`GAP_WAIT`] is filled from the store.
//!
//! No axum, no SQL, no sockets in here; state sits behind one short-held
//! `std::sync::Mutex` that is never held across an `.await`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, BusEvent, SharedTake};
use crate::limits::{Limits, TokenBucket};
use crate::metrics::Metrics;
use crate::model::{
    Channel, ChannelId, ChannelKind, ChannelName, ChannelView, ClientId, GENERAL, Message, MessageBody, Seq,
    SystemKind, User, UserId,
};
use crate::store::{Appended, ChannelPage, NewMessage, NewSystemLine, Store, StoreError};

pub mod names;

/// How long an out-of-order message waits for the ones before it before the
/// hub reads the missing range from the store. Local reorderings close within
/// microseconds; a longer gap means a lost bus message.
pub const GAP_WAIT: Duration = Duration::from_millis(250);

/// Most messages read from the store in one gap fill or replay page.
pub const FILL_PAGE: u32 = 500;

/// How many more invitations one user may receive per hour from everyone
/// than from any one inviter.
const INVITATIONS_RECEIVED_FACTOR: f64 = 10.0;

/// Largest history page a client may ask for.
pub const MAX_HISTORY_PAGE: u32 = 200;

/// Largest user directory page a client may ask for. With names of at most 32
/// ASCII characters, a page stays under 7 KiB of JSON.
pub const MAX_DIRECTORY_PAGE: u32 = 100;

/// Identifies one connection within this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId(u64);

/// What the hub tells connections.
#[derive(Debug, Clone)]
pub enum Event {
    Message(Message),
    Presence {
        user: String,
        online: bool,
        /// Everyone shown online right after this change, sorted without
        /// case; taken under the hub's lock, so it agrees with the order of
        /// presence events. The Socket.IO edge sends it whole.
        online_now: Arc<[String]>,
    },
    Typing {
        channel: ChannelId,
        user: String,
    },
    /// The receiving user is now a member of this channel.
    Joined(ChannelView),
    /// The receiving user is no longer a member of this channel.
    Left(ChannelId),
    /// The receiving user's read marker moved.
    Read {
        channel: ChannelId,
        seq: Seq,
    },
    /// A public channel now exists. Only connections registered with
    /// [`Interests::new_channels`] receive it.
    ChannelCreated(Channel),
}

/// The wire formats a delivery may be encoded in; each at most once.
#[derive(Debug, Clone, Copy)]
pub enum WireFormat {
    Native = 0,
    SocketIo = 1,
}

/// One event on its way to many connections, with its encodings cached.
#[derive(Debug)]
pub struct Delivery {
    pub event: Event,
    encoded: [OnceLock<Bytes>; 2],
}

impl Delivery {
    pub fn new(event: Event) -> Arc<Self> {
        Arc::new(Self { event, encoded: Default::default() })
    }

    /// The event in `format`, encoding it on first use only.
    /// The bytes are shared, not copied, between all recipients.
    pub fn encoded(&self, format: WireFormat, encode: impl FnOnce(&Event) -> String) -> Bytes {
        self.encoded[format as usize].get_or_init(|| Bytes::from(encode(&self.event))).clone()
    }

    /// Ephemeral deliveries are dropped, not queued, when a client is behind.
    fn is_ephemeral(&self) -> bool {
        matches!(self.event, Event::Typing { .. })
    }
}

/// Why a request was refused. The server edge maps these to protocol codes.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The channel does not exist or the user may not see it; the two are
    /// deliberately indistinguishable.
    #[error("no such channel")]
    NotFound,
    #[error("join the channel first")]
    NotMember,
    #[error("no such user")]
    UnknownUser,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    InvalidName(&'static str),
    /// A channel of that name (compared by key) exists, and the user can
    /// see it: creating never silently hands over an existing channel.
    #[error("#{} already exists", .0.name)]
    ChannelExists(Channel),
    /// The invitee is a member already.
    #[error("{0} is already a member of this channel")]
    AlreadyMember(String),
    #[error("too many messages; slow down")]
    RateLimited,
    #[error("{0}")]
    LimitReached(&'static str),
    /// Storage failed; the cause is logged where it happened.
    #[error("the server could not complete the request")]
    Unavailable,
}

impl From<StoreError> for HubError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NoSuchChannel => HubError::NotFound,
            StoreError::NotMember => HubError::NotMember,
            other => {
                tracing::error!(error = %other, "storage request failed");
                HubError::Unavailable
            }
        }
    }
}

/// Identifies the login session a connection was opened with (the hash of
/// its token), so that logging out can close its connections.
pub type SessionKey = [u8; 32];

/// The session key of a connection that has no login session (a Socket.IO
/// guest named by `new user`): no logout can match it.
pub const NO_SESSION: SessionKey = [0; 32];

/// What a connection wants to hear beyond its own channels, its user and
/// presence. Chosen per connection at registration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Interests {
    /// Announcements of new public channels. The Socket.IO edge shows them as
    /// they appear, as the tutorial app does; the native protocol lists
    /// channels on request instead, so its connections leave this off.
    pub new_channels: bool,
}

/// Why [`Hub::claim`] refused a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The user has a live connection, or is still shown online and the
    /// caller may not reclaim the name.
    #[error("someone with that name is online now")]
    InUse,
}

/// A connection's end of the hub: its id, its queue and its close signals.
pub struct Registration {
    pub id: ConnectionId,
    /// Deliveries for this connection, in order.
    pub deliveries: mpsc::Receiver<Arc<Delivery>>,
    /// Cancelled when the hub drops the connection for falling behind.
    pub too_slow: CancellationToken,
    /// Cancelled when the connection's login session ends (logout).
    pub session_ended: CancellationToken,
}

struct ConnectionEntry {
    user: UserId,
    session: SessionKey,
    queue: mpsc::Sender<Arc<Delivery>>,
    too_slow: CancellationToken,
    session_ended: CancellationToken,
    channels: HashSet<ChannelId>,
    /// Judged too slow: gets nothing more, and waits for its task to
    /// unregister it (which starts the presence grace period).
    dropped: bool,
    interests: Interests,
}

struct UserEntry {
    name: String,
    connections: HashSet<ConnectionId>,
    /// Shown online to others. Stays true through the grace period.
    online: bool,
    /// Bumped whenever a connection arrives, so a pending "go offline" timer
    /// can tell it was overtaken.
    generation: u64,
    /// Shared by all of the user's connections on this node.
    messages: TokenBucket,
    /// Set when the cluster's shared bucket for this user ran dry (the user
    /// sends through several nodes): sends are refused until then.
    shared_throttle_until: Option<std::time::Instant>,
}

/// Per-channel delivery state.
struct Route {
    subscribers: HashSet<ConnectionId>,
    /// The highest seq fanned out; the next one delivered is `delivered + 1`.
    delivered: Seq,
    /// Messages that arrived ahead of their turn.
    pending: BTreeMap<Seq, Message>,
    fill_scheduled: bool,
}

impl Route {
    fn new(delivered: Seq) -> Self {
        Self { subscribers: HashSet::new(), delivered, pending: BTreeMap::new(), fill_scheduled: false }
    }
}

#[derive(Default)]
struct State {
    connections: HashMap<ConnectionId, ConnectionEntry>,
    users: HashMap<UserId, UserEntry>,
    routes: HashMap<ChannelId, Route>,
    /// Users shown online on other nodes of the cluster, as the bus last
    /// reported; empty on a single node.
    remote_online: HashMap<UserId, String>,
    /// Invitations still allowed, per inviter and invitee and per invitee
    /// (see `Hub::take_invitation`), by bucket name.
    invitations: HashMap<String, TokenBucket>,
}

/// Names of the users shown online anywhere in the cluster, sorted without case.
fn online_names(state: &State) -> Vec<String> {
    let mut names: Vec<String> = state.users.values().filter(|u| u.online).map(|u| u.name.clone()).collect();
    let remote_only = state
        .remote_online
        .iter()
        .filter(|(id, _)| !state.users.get(id).is_some_and(|u| u.online))
        .map(|(_, name)| name.clone());
    names.extend(remote_only);
    names.sort_by_key(|name| name.to_ascii_lowercase());
    names
}

/// The users shown online on this node, for the bus's presence record.
fn local_online(state: &State) -> Vec<(UserId, String)> {
    state.users.iter().filter(|(_, u)| u.online).map(|(id, u)| (*id, u.name.clone())).collect()
}

fn presence_event(state: &State, user: &str, online: bool) -> Event {
    Event::Presence { user: user.to_owned(), online, online_now: online_names(state).into() }
}

pub struct Hub {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    limits: Limits,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
    next_connection: AtomicU64,
}

impl Hub {
    /// Loads where every channel's live delivery starts and listens to the bus.
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, StoreError> {
        let heads = store.channel_heads().await?;
        let routes = heads.into_iter().map(|(channel, seq)| (channel, Route::new(seq))).collect();
        let hub = Arc::new(Self {
            store,
            bus,
            limits,
            metrics,
            state: Mutex::new(State { routes, ..State::default() }),
            next_connection: AtomicU64::new(1),
        });
        let mut remote = hub.bus.subscribe();
        let listener = Arc::downgrade(&hub);
        tokio::spawn(async move {
            while let Some(event) = remote.recv().await {
                let Some(hub) = listener.upgrade() else { break };
                hub.on_remote_event(event).await;
            }
        });
        Ok(hub)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("hub state lock is never poisoned")
    }

    // ----- connections and presence -------------------------------------------

    /// Adds a connection of `user`, subscribed to nothing yet: membership
    /// changes from now on reach it, so the caller reads the user's channels
    /// after this and passes them to [`Hub::subscribe`]. The user comes online
    /// if this is their first connection and they were not within the grace
    /// period.
    pub fn register(&self, user: &User, session: SessionKey) -> Registration {
        self.register_with(user, session, Interests::default())
    }

    /// [`Hub::register`], with what else the connection wants to hear.
    pub fn register_with(&self, user: &User, session: SessionKey, interests: Interests) -> Registration {
        let mut state = self.lock();
        self.insert_connection(&mut state, user, session, interests)
    }

    /// Registers a connection only if `user` is not online: a name-only
    /// guest must never share a name with someone else. A user who is still
    /// shown online only because of the grace period (no live connection) may
    /// be taken back when `may_reclaim` says the caller is the same person.
    /// Checked and registered under one lock, so two claims cannot both win.
    pub fn claim(
        &self,
        user: &User,
        session: SessionKey,
        interests: Interests,
        may_reclaim: bool,
    ) -> Result<Registration, ClaimError> {
        let mut state = self.lock();
        if let Some(entry) = state.users.get(&user.id)
            && (!entry.connections.is_empty() || !may_reclaim)
        {
            return Err(ClaimError::InUse);
        }
        Ok(self.insert_connection(&mut state, user, session, interests))
    }

    fn insert_connection(
        &self,
        state: &mut State,
        user: &User,
        session: SessionKey,
        interests: Interests,
    ) -> Registration {
        let id = ConnectionId(self.next_connection.fetch_add(1, Ordering::Relaxed));
        let (queue, deliveries) = mpsc::channel(self.limits.outbound_queue);
        let too_slow = CancellationToken::new();
        let session_ended = CancellationToken::new();
        state.connections.insert(
            id,
            ConnectionEntry {
                user: user.id,
                session,
                queue,
                too_slow: too_slow.clone(),
                session_ended: session_ended.clone(),
                channels: HashSet::new(),
                dropped: false,
                interests,
            },
        );
        let limits = &self.limits;
        let entry = state.users.entry(user.id).or_insert_with(|| UserEntry {
            name: user.name.clone(),
            connections: HashSet::new(),
            online: false,
            generation: 0,
            messages: TokenBucket::new(limits.messages_per_second, limits.message_burst),
            shared_throttle_until: None,
        });
        entry.connections.insert(id);
        entry.generation += 1;
        if !entry.online {
            entry.online = true;
            // Already shown online if another node has them.
            if !state.remote_online.contains_key(&user.id) {
                let presence = Delivery::new(presence_event(state, &user.name, true));
                self.broadcast(state, &presence);
            }
            self.bus.local_presence(local_online(state));
        }
        self.metrics.connections.inc();
        self.metrics.connections_total.inc();
        Registration { id, deliveries, too_slow, session_ended }
    }

    /// Subscribes a connection to channels it may read. A channel the hub
    /// has no route for yet starts from the head in the view, so live
    /// delivery never replays history.
    pub fn subscribe(&self, connection: ConnectionId, channels: &[ChannelView]) {
        let mut state = self.lock();
        if !state.connections.contains_key(&connection) {
            return;
        }
        for view in channels {
            let id = view.channel.id;
            state
                .routes
                .entry(id)
                .or_insert_with(|| Route::new(view.last_seq))
                .subscribers
                .insert(connection);
            if let Some(entry) = state.connections.get_mut(&connection) {
                entry.channels.insert(id);
            }
        }
    }

    /// Ties a connection to a login session issued after it registered (a
    /// Socket.IO guest that asked for a token), so logging that session out
    /// closes the connection too.
    pub fn attach_session(&self, connection: ConnectionId, session: SessionKey) {
        if let Some(entry) = self.lock().connections.get_mut(&connection) {
            entry.session = session;
        }
    }

    /// Closes every connection opened with this login session.
    pub fn end_session(&self, session: SessionKey) {
        let state = self.lock();
        for connection in state.connections.values().filter(|c| c.session == session) {
            connection.session_ended.cancel();
        }
    }

    /// Removes a connection. Idempotent. If it was the user's last one, they go
    /// offline after the grace period unless another connection arrives.
    pub fn unregister(self: &Arc<Self>, id: ConnectionId) {
        let mut state = self.lock();
        let Some(user) = self.remove_connection(&mut state, id) else { return };
        let Some(entry) = state.users.get(&user) else { return };
        if !entry.connections.is_empty() {
            return;
        }
        let generation = entry.generation;
        drop(state);
        let hub = Arc::clone(self);
        let grace = self.limits.presence_grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            hub.expire_presence(user, generation);
        });
    }

    fn remove_connection(&self, state: &mut State, id: ConnectionId) -> Option<UserId> {
        let entry = state.connections.remove(&id)?;
        for channel in &entry.channels {
            if let Some(route) = state.routes.get_mut(channel) {
                route.subscribers.remove(&id);
            }
        }
        if let Some(user) = state.users.get_mut(&entry.user) {
            user.connections.remove(&id);
        }
        self.metrics.connections.dec();
        Some(entry.user)
    }

    fn expire_presence(&self, user: UserId, generation: u64) {
        let mut state = self.lock();
        let Some(entry) = state.users.get_mut(&user) else { return };
        if entry.generation != generation || !entry.connections.is_empty() {
            return;
        }
        let name = entry.name.clone();
        state.users.remove(&user);
        self.bus.local_presence(local_online(&state));
        // Still shown online if another node has them.
        if !state.remote_online.contains_key(&user) {
            let presence = Delivery::new(presence_event(&state, &name, false));
            self.broadcast(&mut state, &presence);
        }
    }

    /// Takes the bus's latest view of who is online on other nodes and tells
    /// connections about everyone who came or went, cluster-wide.
    fn set_remote_presence(&self, remote: Vec<(UserId, String)>) {
        let mut state = self.lock();
        let shown = |state: &State, id: &UserId| {
            state.users.get(id).is_some_and(|u| u.online) || state.remote_online.contains_key(id)
        };
        let remote: HashMap<UserId, String> = remote.into_iter().collect();
        let mut arrived: Vec<(UserId, String)> =
            remote.iter().filter(|(id, _)| !shown(&state, id)).map(|(id, n)| (*id, n.clone())).collect();
        let mut departed: Vec<(UserId, String)> = state
            .remote_online
            .iter()
            .filter(|(id, _)| !remote.contains_key(id) && !state.users.get(id).is_some_and(|u| u.online))
            .map(|(id, n)| (*id, n.clone()))
            .collect();
        // One event per change, each carrying the list as it stands after
        // it, in name order so every node tells the same story.
        arrived.sort_by_key(|(_, name)| name.to_ascii_lowercase());
        departed.sort_by_key(|(_, name)| name.to_ascii_lowercase());
        for (id, name) in departed {
            state.remote_online.remove(&id);
            let presence = Delivery::new(presence_event(&state, &name, false));
            self.broadcast(&mut state, &presence);
        }
        for (id, name) in arrived {
            state.remote_online.insert(id, name.clone());
            let presence = Delivery::new(presence_event(&state, &name, true));
            self.broadcast(&mut state, &presence);
        }
        state.remote_online = remote;
    }

    /// Names of the users online now (including those within the grace period).
    pub fn online_users(&self) -> Vec<String> {
        online_names(&self.lock())
    }

    /// Whether a user of this name (compared without case) is online
    /// anywhere in the cluster.
    pub fn is_online(&self, name: &str) -> bool {
        let state = self.lock();
        state.users.values().any(|u| u.online && u.name.eq_ignore_ascii_case(name))
            || state.remote_online.values().any(|n| n.eq_ignore_ascii_case(name))
    }

    // ----- delivery -----------------------------------------------------------

    /// Queues a delivery to one connection. Returns false if the connection
    /// fell too far behind and must be dropped.
    fn offer(&self, connection: &ConnectionEntry, delivery: &Arc<Delivery>) -> bool {
        if connection.dropped {
            return true;
        }
        match connection.queue.try_send(Arc::clone(delivery)) {
            Ok(()) => {
                self.metrics.deliveries_total.inc();
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) if delivery.is_ephemeral() => {
                self.metrics.queue_drops_total.inc();
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => false,
            // The connection is closing; its task unregisters it.
            Err(mpsc::error::TrySendError::Closed(_)) => true,
        }
    }

    /// Drops connections that could not keep up; they reconnect and resume.
    /// They leave every route now; their session task sees `too_slow`, closes
    /// with 4008 and unregisters, which starts the presence grace period.
    fn drop_slow(&self, state: &mut State, slow: Vec<ConnectionId>) {
        for id in slow {
            let Some(entry) = state.connections.get_mut(&id) else { continue };
            if entry.dropped {
                continue;
            }
            entry.dropped = true;
            entry.too_slow.cancel();
            let channels: Vec<ChannelId> = entry.channels.drain().collect();
            for channel in channels {
                if let Some(route) = state.routes.get_mut(&channel) {
                    route.subscribers.remove(&id);
                }
            }
            self.metrics.slow_client_closes_total.inc();
            tracing::info!(connection = id.0, "closing a connection that reads too slowly");
        }
    }

    fn broadcast(&self, state: &mut State, delivery: &Arc<Delivery>) {
        let slow: Vec<ConnectionId> = state
            .connections
            .iter()
            .filter(|(_, connection)| !self.offer(connection, delivery))
            .map(|(id, _)| *id)
            .collect();
        self.drop_slow(state, slow);
    }

    /// Tells every connection that asked for it that a public channel exists.
    fn announce_channel(&self, channel: Channel) {
        let mut state = self.lock();
        let delivery = Delivery::new(Event::ChannelCreated(channel));
        let slow: Vec<ConnectionId> = state
            .connections
            .iter()
            .filter(|(_, connection)| connection.interests.new_channels && !self.offer(connection, &delivery))
            .map(|(id, _)| *id)
            .collect();
        self.drop_slow(&mut state, slow);
    }

    fn send_to_user(&self, state: &mut State, user: UserId, delivery: &Arc<Delivery>) {
        let Some(entry) = state.users.get(&user) else { return };
        let slow: Vec<ConnectionId> = entry
            .connections
            .iter()
            .filter(|id| state.connections.get(id).is_some_and(|c| !self.offer(c, delivery)))
            .copied()
            .collect();
        self.drop_slow(state, slow);
    }

    fn send_to_channel(
        &self,
        state: &mut State,
        channel: ChannelId,
        delivery: &Arc<Delivery>,
        except_user: Option<UserId>,
    ) {
        let Some(route) = state.routes.get(&channel) else { return };
        let slow: Vec<ConnectionId> = route
            .subscribers
            .iter()
            .filter(|id| {
                state
                    .connections
                    .get(id)
                    .is_some_and(|c| Some(c.user) != except_user && !self.offer(c, delivery))
            })
            .copied()
            .collect();
        self.drop_slow(state, slow);
    }

    /// Takes a committed message (local or remote) and fans out everything
    /// that is now in order.
    fn accept_message(self: &Arc<Self>, message: Message) {
        let mut state = self.lock();
        let channel = message.channel;
        let route = state.routes.entry(channel).or_insert_with(|| Route::new(Seq(message.seq.0 - 1)));
        if message.seq <= route.delivered {
            return;
        }
        route.pending.insert(message.seq, message);
        let mut ready = Vec::new();
        while let Some(next) = route.pending.remove(&Seq(route.delivered.0 + 1)) {
            route.delivered = next.seq;
            ready.push(next);
        }
        let schedule_fill = !route.pending.is_empty() && !route.fill_scheduled;
        if schedule_fill {
            route.fill_scheduled = true;
        }
        for message in ready {
            self.send_to_channel(&mut state, channel, &Delivery::new(Event::Message(message)), None);
        }
        drop(state);
        if schedule_fill {
            let hub = Arc::clone(self);
            tokio::spawn(async move { hub.fill_gap(channel).await });
        }
    }

    /// Reads a channel's missing messages from the store once the gap has
    /// had [`GAP_WAIT`] to close by itself.
    async fn fill_gap(self: Arc<Self>, channel: ChannelId) {
        tokio::time::sleep(GAP_WAIT).await;
        loop {
            let after = {
                let mut state = self.lock();
                let Some(route) = state.routes.get_mut(&channel) else { return };
                if route.pending.is_empty() {
                    route.fill_scheduled = false;
                    return;
                }
                route.delivered
            };
            match self.store.messages_after(channel, after, FILL_PAGE).await {
                Ok(messages) if !messages.is_empty() => {
                    for message in messages {
                        self.accept_message(message);
                    }
                }
                Ok(_) => {
                    // The store has nothing past `after`: the pending ones
                    // came from a store we cannot see yet. Try again later.
                    tokio::time::sleep(GAP_WAIT).await;
                }
                Err(error) => {
                    tracing::warn!(%error, channel = channel.0, "gap fill failed; retrying");
                    tokio::time::sleep(GAP_WAIT).await;
                }
            }
        }
    }

    async fn on_remote_event(self: &Arc<Self>, event: BusEvent) {
        match event {
            BusEvent::Message(message) => self.accept_message(message),
            BusEvent::Joined { channel, user } => {
                if self.lock().users.contains_key(&user) {
                    match self.store.channel_view(channel, user).await {
                        Ok(view) => self.subscribe_user(user, view),
                        Err(error) => tracing::warn!(%error, "cannot load a joined channel"),
                    }
                }
            }
            BusEvent::Left { channel, user } => self.unsubscribe_user(user, channel),
            BusEvent::Typing { channel, user, name } => {
                let mut state = self.lock();
                let typing = Delivery::new(Event::Typing { channel, user: name });
                self.send_to_channel(&mut state, channel, &typing, Some(user));
            }
            BusEvent::Read { channel, user, seq } => {
                let mut state = self.lock();
                self.send_to_user(&mut state, user, &Delivery::new(Event::Read { channel, seq }));
            }
            BusEvent::ChannelCreated(channel) => self.announce_channel(channel),
            BusEvent::Resync => self.catch_up_from_store().await,
            BusEvent::RemotePresence(remote) => self.set_remote_presence(remote),
        }
    }

    /// Reads every channel's messages past what this node delivered, after
    /// the bus may have lost some. Waiting for the next message of each
    /// channel to reveal the gap would leave a quiet channel's last messages
    /// undelivered indefinitely.
    async fn catch_up_from_store(self: &Arc<Self>) {
        let channels: Vec<(ChannelId, Seq)> =
            self.lock().routes.iter().map(|(channel, route)| (*channel, route.delivered)).collect();
        for (channel, mut after) in channels {
            loop {
                match self.store.messages_after(channel, after, FILL_PAGE).await {
                    Ok(messages) => {
                        let complete = messages.len() < FILL_PAGE as usize;
                        if let Some(last) = messages.last() {
                            after = last.seq;
                        }
                        for message in messages {
                            self.accept_message(message);
                        }
                        if complete {
                            break;
                        }
                    }
                    Err(error) => {
                        // A later message or resync reveals the gap again.
                        tracing::warn!(%error, channel = channel.0, "catch-up after a bus resync failed");
                        break;
                    }
                }
            }
        }
    }

    /// Subscribes all of a user's connections to a channel and tells them.
    fn subscribe_user(&self, user: UserId, view: ChannelView) {
        let mut state = self.lock();
        let channel = view.channel.id;
        let last_seq = view.last_seq;
        let connections: Vec<ConnectionId> =
            state.users.get(&user).map(|u| u.connections.iter().copied().collect()).unwrap_or_default();
        let mut subscribed = Vec::with_capacity(connections.len());
        for id in &connections {
            if let Some(connection) = state.connections.get_mut(id).filter(|c| !c.dropped) {
                connection.channels.insert(channel);
                subscribed.push(*id);
            }
        }
        let route = state.routes.entry(channel).or_insert_with(|| Route::new(last_seq));
        route.subscribers.extend(subscribed);
        self.send_to_user(&mut state, user, &Delivery::new(Event::Joined(view)));
    }

    fn unsubscribe_user(&self, user: UserId, channel: ChannelId) {
        let mut state = self.lock();
        let connections: Vec<ConnectionId> =
            state.users.get(&user).map(|u| u.connections.iter().copied().collect()).unwrap_or_default();
        for id in &connections {
            if let Some(connection) = state.connections.get_mut(id) {
                connection.channels.remove(&channel);
            }
            if let Some(route) = state.routes.get_mut(&channel) {
                route.subscribers.remove(id);
            }
        }
        self.send_to_user(&mut state, user, &Delivery::new(Event::Left(channel)));
    }

    // ----- requests -----------------------------------------------------------

    /// Posts a message. The store job is queued before this returns, so one
    /// connection's messages keep their order. What follows the commit (fan-out
    /// and publishing) runs in its own task, so it happens even if the sender
    /// goes away before its ack; the returned future only reports the outcome.
    pub fn post(
        self: &Arc<Self>,
        sender: &User,
        channel: ChannelId,
        client_id: ClientId,
        body: MessageBody,
    ) -> impl Future<Output = Result<Appended, HubError>> + Send + 'static {
        let allowed = {
            let mut state = self.lock();
            let now = std::time::Instant::now();
            state.users.get_mut(&sender.id).is_none_or(|entry| {
                entry.shared_throttle_until.is_none_or(|until| until <= now) && entry.messages.try_take()
            })
        };
        if allowed {
            // The cluster-wide bucket answers a round trip later; the send
            // goes ahead (so one connection's sends stay in order), and if
            // the user has used up the cluster's allowance through other
            // nodes, the sends after this one are refused.
            let hub = Arc::clone(self);
            let user = sender.id;
            tokio::spawn(async move {
                let bucket = format!("messages:{}", user.0);
                let (rate, burst) = (hub.limits.messages_per_second, hub.limits.message_burst);
                if let SharedTake::Denied { retry_after } = hub.bus.take_shared(&bucket, rate, burst).await
                    && let Some(entry) = hub.lock().users.get_mut(&user)
                {
                    entry.shared_throttle_until = Some(std::time::Instant::now() + retry_after);
                }
            });
        }
        let queued = allowed
            .then(|| self.store.append_message(NewMessage { channel, sender: sender.id, client_id, body }));
        let hub = Arc::clone(self);
        let committed = queued.map(|queued| {
            tokio::spawn(async move {
                let appended = match queued.await {
                    Err(StoreError::NotMember) => return Err(hub.refusal_for_non_member(channel).await),
                    other => other?,
                };
                // Also for a repeat: if the first attempt's fan-out never ran
                // (the process died after the commit), this delivers it; if it
                // did, the route drops it as already delivered.
                hub.accept_message(appended.message.clone());
                if appended.created {
                    hub.metrics.messages_total.inc();
                    hub.bus.publish(BusEvent::Message(appended.message.clone())).await;
                }
                Ok(appended)
            })
        });
        let metrics = Arc::clone(&self.metrics);
        async move {
            let Some(committed) = committed else {
                metrics.rate_limited_total.inc();
                return Err(HubError::RateLimited);
            };
            committed.await.unwrap_or_else(|error| {
                tracing::error!(%error, "a commit follow-up task failed");
                Err(HubError::Unavailable)
            })
        }
    }

    /// Counts a request some edge refused for its rate.
    pub fn count_rate_limited(&self) {
        self.metrics.rate_limited_total.inc();
    }

    /// What a non-member is told: public channels say "join first"; private
    /// ones and DMs look exactly like channels that do not exist.
    async fn refusal_for_non_member(&self, channel: ChannelId) -> HubError {
        match self.store.channel(channel).await {
            Ok(Some(found)) if found.kind == ChannelKind::Public => HubError::NotMember,
            Ok(_) => HubError::NotFound,
            Err(error) => error.into(),
        }
    }

    /// Relays "typing" to the channel's other members, if `connection` is in
    /// it. Returns whether it was relayed.
    pub async fn typing(&self, connection: ConnectionId, user: &User, channel: ChannelId) -> bool {
        {
            let mut state = self.lock();
            let subscribed =
                state.connections.get(&connection).is_some_and(|c| c.channels.contains(&channel));
            if !subscribed {
                return false;
            }
            let typing = Delivery::new(Event::Typing { channel, user: user.name.clone() });
            self.send_to_channel(&mut state, channel, &typing, Some(user.id));
        }
        let event = BusEvent::Typing { channel, user: user.id, name: user.name.clone() };
        self.bus.publish(event).await;
        true
    }

    /// The channels `user` belongs to, as they see them.
    pub async fn channels_of(&self, user: &User) -> Result<Vec<ChannelView>, HubError> {
        Ok(self.store.channels_of(user.id).await?)
    }

    /// A page of public channels for browsing, in name order: up to
    /// `limit` + 1 (the extra one tells the caller more exist) whose names
    /// start with `prefix` (compared by key), after the channel `after`.
    pub async fn public_channels(
        &self,
        user: &User,
        prefix: &str,
        after: Option<(String, ChannelId)>,
        limit: u32,
    ) -> Result<Vec<ChannelView>, HubError> {
        use unicode_normalization::UnicodeNormalization;
        let prefix: String = prefix.nfkc().collect();
        let page = ChannelPage {
            prefix: crate::model::name_key(prefix.trim_start()),
            after,
            limit: limit.saturating_add(1),
        };
        Ok(self.store.public_channels(user.id, page).await?)
    }

    /// One page of the user directory (names starting with `prefix`, after
    /// `after`, compared without case), each with whether they are online now,
    /// and whether more follow. Everyone may see everyone who holds a name (all
    /// are in General); a guest whose name passed on is never listed.
    pub async fn user_directory(
        &self,
        prefix: Option<&crate::model::UserName>,
        after: Option<&crate::model::UserName>,
        limit: u32,
    ) -> Result<(Vec<(String, bool)>, bool), HubError> {
        let limit = limit.clamp(1, MAX_DIRECTORY_PAGE);
        let prefix_key = prefix.map(crate::model::UserName::key).unwrap_or_default();
        let after_key = after.map(crate::model::UserName::key);
        // One more than asked tells whether another page exists.
        let mut users = self.store.list_users(&prefix_key, after_key.as_deref(), limit + 1).await?;
        let has_more = users.len() > limit as usize;
        users.truncate(limit as usize);
        let online: HashSet<String> = self.online_users().into_iter().collect();
        let page = users
            .into_iter()
            .map(|user| {
                let is_online = online.contains(&user.name);
                (user.name, is_online)
            })
            .collect();
        Ok((page, has_more))
    }

    /// A channel `user` may read: any public one, or one they are a member of.
    async fn readable_channel(&self, user: &User, channel: ChannelId) -> Result<Channel, HubError> {
        let found = self.store.channel(channel).await?.ok_or(HubError::NotFound)?;
        if found.kind == ChannelKind::Public || self.store.is_member(channel, user.id).await? {
            Ok(found)
        } else {
            Err(HubError::NotFound)
        }
    }

    /// A page of history, oldest first, and whether older messages exist.
    pub async fn history(
        &self,
        user: &User,
        channel: ChannelId,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<(Vec<Message>, bool), HubError> {
        self.readable_channel(user, channel).await?;
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        let messages = self.store.history(channel, before, limit).await?;
        let has_more = messages.first().is_some_and(|oldest| oldest.seq.0 > 1);
        Ok((messages, has_more))
    }

    /// Messages after `after`, for resuming; only for channels `user` may read.
    pub async fn messages_after(
        &self,
        user: &User,
        channel: ChannelId,
        after: Seq,
    ) -> Result<Vec<Message>, HubError> {
        self.readable_channel(user, channel).await?;
        Ok(self.store.messages_after(channel, after, FILL_PAGE).await?)
    }

    /// Creates a channel, or joins the visible one that has the name.
    pub async fn create_channel(
        &self,
        user: &User,
        name: &ChannelName,
        private: bool,
    ) -> Result<ChannelView, HubError> {
        let kind = if private { ChannelKind::Private } else { ChannelKind::Public };
        match self.store.create_channel(name, kind, user.id, self.limits.channels_per_user).await {
            Ok(channel) => {
                tracing::info!(channel = channel.id.0, "channel created");
                if channel.kind == ChannelKind::Public {
                    // Announced before the creator's join, so a client that is
                    // told both hears of the channel before it is put in it.
                    self.announce_channel(channel.clone());
                    self.bus.publish(BusEvent::ChannelCreated(channel.clone())).await;
                }
                self.joined(user.id, channel.id).await
            }
            // Never joined or handed over silently: the creator may believe
            // the channel is new (and private) when someone else made it.
            Err(StoreError::ChannelExists(existing)) => Err(HubError::ChannelExists(existing)),
            Err(StoreError::LimitReached) => {
                Err(HubError::LimitReached("you have created the most channels allowed"))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The channel a name means to `user` (see [`names`]): `name #id` for
    /// one of several of that name, the bare name for the one it belongs
    /// to. `NotFound` when the user can see no such channel.
    pub async fn resolve_channel_name(&self, user: &User, raw: &str) -> Result<Channel, HubError> {
        let (name, wanted) = match names::split_id_suffix(raw) {
            Some((name, id)) => (name, Some(id)),
            None => (raw, None),
        };
        let name = ChannelName::parse(name).map_err(HubError::InvalidName)?;
        let same_key = self.store.channels_named(&name, user.id).await?;
        let found = match wanted {
            Some(id) => same_key.iter().find(|view| view.channel.id == id),
            None => names::plain_owner(&same_key),
        };
        if let Some(view) = found {
            return Ok(view.channel.clone());
        }
        // A name the first release allowed may itself end in " #12": try it
        // whole before saying no.
        if wanted.is_some() {
            let whole = ChannelName::parse_stored(raw).map_err(HubError::InvalidName)?;
            let same_key = self.store.channels_named(&whole, user.id).await?;
            if let Some(view) = names::plain_owner(&same_key) {
                return Ok(view.channel.clone());
            }
        }
        Err(HubError::NotFound)
    }

    /// Makes `user` a member of a readable channel if they are not one yet
    /// (joining a public channel), without telling anyone when nothing changed.
    pub async fn enter(self: &Arc<Self>, user: &User, channel: &Channel) -> Result<ChannelView, HubError> {
        if self.store.is_member(channel.id, user.id).await? {
            return Ok(self.store.channel_view(channel.id, user.id).await?);
        }
        self.join(user, channel.id).await
    }

    /// The channels `user` can name, each with the name it has for them
    /// (see [`names`]): the channels they are in (but DMs) and public ones,
    /// up to `limit` public ones in name order, listed oldest first.
    pub async fn visible_channels(
        &self,
        user: &User,
        limit: u32,
    ) -> Result<Vec<(Channel, String)>, HubError> {
        let mut views: Vec<ChannelView> = self
            .store
            .channels_of(user.id)
            .await?
            .into_iter()
            .filter(|view| view.channel.kind != ChannelKind::Direct)
            .collect();
        let page = ChannelPage { limit, ..ChannelPage::default() };
        for view in self.store.public_channels(user.id, page).await? {
            if !views.iter().any(|known| known.channel.id == view.channel.id) {
                views.push(view);
            }
        }
        views.sort_by_key(|view| view.channel.id);
        let names = names::display_names(&views, |view| {
            vec![crate::model::name_key(&view.channel.name), crate::model::look_key(&view.channel.name)]
        });
        Ok(views.into_iter().map(|view| view.channel).zip(names).collect())
    }

    /// Joins a public channel.
    pub async fn join(self: &Arc<Self>, user: &User, channel: ChannelId) -> Result<ChannelView, HubError> {
        let found = self.readable_channel(user, channel).await?;
        if found.kind != ChannelKind::Public && !self.store.is_member(channel, user.id).await? {
            return Err(HubError::NotFound);
        }
        let added = self.store.add_member(channel, user.id, None).await?;
        let view = self.joined(user.id, channel).await?;
        if added {
            self.record_line(channel, user.id, SystemKind::Joined, user.id).await;
        }
        Ok(view)
    }

    /// After a membership was stored: tell the user's connections here and
    /// the other nodes, and return the channel as the user sees it.
    async fn joined(&self, user: UserId, channel: ChannelId) -> Result<ChannelView, HubError> {
        let view = self.store.channel_view(channel, user).await?;
        self.subscribe_user(user, view.clone());
        self.bus.publish(BusEvent::Joined { channel, user }).await;
        Ok(view)
    }

    /// Leaves a channel. General and DMs cannot be left.
    pub async fn leave(self: &Arc<Self>, user: &User, channel: ChannelId) -> Result<(), HubError> {
        let found = self.readable_channel(user, channel).await?;
        if found.kind == ChannelKind::Direct {
            return Err(HubError::Forbidden("direct messages cannot be left"));
        }
        if found.name.eq_ignore_ascii_case(GENERAL) && found.kind == ChannelKind::Public {
            return Err(HubError::Forbidden("everyone stays in General"));
        }
        if !self.store.remove_member(channel, user.id).await? {
            return Err(HubError::NotMember);
        }
        self.unsubscribe_user(user.id, channel);
        self.record_line(channel, user.id, SystemKind::Left, user.id).await;
        self.bus.publish(BusEvent::Left { channel, user: user.id }).await;
        Ok(())
    }

    /// Adds `invitee` to a channel the inviter is a member of.
    pub async fn invite(
        self: &Arc<Self>,
        inviter: &User,
        channel: ChannelId,
        invitee: &str,
    ) -> Result<ChannelView, HubError> {
        let found = self.readable_channel(inviter, channel).await?;
        if !self.store.is_member(channel, inviter.id).await? {
            return Err(if found.kind == ChannelKind::Public {
                HubError::NotMember
            } else {
                HubError::NotFound
            });
        }
        if found.kind == ChannelKind::Direct {
            return Err(HubError::Forbidden("direct messages are for two"));
        }
        let invitee = self.store.find_user(invitee).await?.ok_or(HubError::UnknownUser)?.user;
        if found.id == crate::model::GENERAL_ID {
            return Err(HubError::Forbidden("everyone is in General"));
        }
        if self.store.is_member(channel, invitee.id).await? {
            return Err(HubError::AlreadyMember(invitee.name));
        }
        if !self.take_invitation(inviter.id, invitee.id).await {
            return Err(HubError::LimitReached(
                "that user was added to too many channels lately; try again later",
            ));
        }
        if self.store.add_member(channel, invitee.id, Some(inviter.id)).await? {
            self.joined(invitee.id, channel).await?;
            self.record_line(channel, inviter.id, SystemKind::Added, invitee.id).await;
        }
        Ok(self.store.channel_view(channel, inviter.id).await?)
    }

    /// Writes a system line ("carol joined", "mallory added carol") into the
    /// channel's stream and delivers it like a message, here and on the
    /// other nodes. Best effort: the membership change it describes is
    /// already stored, and a line that cannot be stored is only logged.
    async fn record_line(
        self: &Arc<Self>,
        channel: ChannelId,
        actor: UserId,
        kind: SystemKind,
        subject: UserId,
    ) {
        // A line is a message its actor caused: it draws on their message
        // rate, so joining and leaving in a loop cannot flood a channel. Past
        // the rate the membership still changes; only the line is left out.
        let within_rate = self.lock().users.get_mut(&actor).is_none_or(|entry| entry.messages.try_take());
        if !within_rate {
            tracing::debug!(
                channel = channel.0,
                "a system line left out: its actor is over the message rate"
            );
            return;
        }
        let line = NewSystemLine { channel, actor, kind, subject, client_id: system_client_id() };
        match self.store.append_system(line).await {
            Ok(message) => {
                self.accept_message(message.clone());
                self.bus.publish(BusEvent::Message(message)).await;
            }
            Err(error) => tracing::warn!(%error, channel = channel.0, "cannot record a system line"),
        }
    }

    /// Takes one of the invitations `inviter` may give `invitee` per hour,
    /// and one of the (ten times more) invitations `invitee` may receive per
    /// hour from everyone, on this node and across the cluster: nobody can be
    /// buried in channels faster than they can leave them, and nobody can
    /// use up someone's invitations so their team cannot add them.
    async fn take_invitation(&self, inviter: UserId, invitee: UserId) -> bool {
        let per_hour = self.limits.invitations_per_hour;
        let buckets = [
            (format!("invitations:{}:{}", inviter.0, invitee.0), per_hour),
            (format!("invitations:{}", invitee.0), per_hour * INVITATIONS_RECEIVED_FACTOR),
        ];
        let local = {
            let mut state = self.lock();
            if state.invitations.len() >= crate::limits::TRACKED_BUCKETS {
                state.invitations.retain(|_, bucket| !bucket.is_full());
            }
            let has_tokens = buckets.iter().all(|(key, per_hour)| {
                state
                    .invitations
                    .entry(key.clone())
                    .or_insert_with(|| TokenBucket::new(per_hour / 3600.0, per_hour.max(1.0)))
                    .has_token()
            });
            if has_tokens {
                for (key, _) in &buckets {
                    state.invitations.get_mut(key).map(TokenBucket::try_take);
                }
            }
            has_tokens
        };
        if !local {
            return false;
        }
        for (key, per_hour) in &buckets {
            if self.bus.take_shared(key, per_hour / 3600.0, per_hour.max(1.0)).await != SharedTake::Allowed {
                return false;
            }
        }
        true
    }

    /// Finds or creates the DM channel between `user` and `other`.
    pub async fn open_dm(&self, user: &User, other: &str) -> Result<ChannelView, HubError> {
        let other = self.store.find_user(other).await?.ok_or(HubError::UnknownUser)?.user;
        if other.id == user.id {
            return Err(HubError::Forbidden("a direct message needs someone else"));
        }
        let (channel, created) = self.store.open_dm(user.id, other.id).await?;
        if !created {
            // Both were members all along: nobody needs telling again.
            return Ok(self.store.channel_view(channel.id, user.id).await?);
        }
        self.joined(other.id, channel.id).await?;
        self.joined(user.id, channel.id).await
    }

    /// Moves the user's read marker and tells all of their connections.
    pub async fn mark_read(&self, user: &User, channel: ChannelId, seq: Seq) -> Result<(), HubError> {
        let marker = match self.store.mark_read(channel, user.id, seq).await {
            Err(StoreError::NotMember) => return Err(self.refusal_for_non_member(channel).await),
            other => other?,
        };
        {
            let mut state = self.lock();
            let read = Delivery::new(Event::Read { channel, seq: marker });
            self.send_to_user(&mut state, user.id, &read);
        }
        self.bus.publish(BusEvent::Read { channel, user: user.id, seq: marker }).await;
        Ok(())
    }
}

/// The idempotency key of a system line: random, so it never collides with
/// the keys its sender chooses (theirs are at most 64 characters too, but a
/// 128-bit random suffix is never guessed).
fn system_client_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sys-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::LocalBus;
    use crate::model::UserName;

    async fn hub() -> Arc<Hub> {
        let metrics = Arc::new(Metrics::default());
        let store = crate::store::open("sqlite::memory:", Arc::clone(&metrics)).await.unwrap();
        // A long grace: these tests look at users inside it.
        let limits = Limits { presence_grace: Duration::from_secs(60), ..Limits::default() };
        Hub::start(store, Arc::new(LocalBus), limits, metrics).await.unwrap()
    }

    async fn guest(hub: &Hub, name: &str) -> User {
        hub.store().claim_guest(&UserName::parse(name).unwrap()).await.unwrap()
    }

    #[tokio::test]
    async fn a_guest_name_is_claimed_once_and_reclaimed_only_when_allowed() {
        let hub = hub().await;
        let bob = guest(&hub, "bob").await;
        let first = hub.claim(&bob, NO_SESSION, Interests::default(), false).expect("a free name");
        // Connected: nobody gets it, reclaim or not.
        assert_eq!(hub.claim(&bob, NO_SESSION, Interests::default(), true).err(), Some(ClaimError::InUse));
        hub.unregister(first.id);
        // Gone but still shown online (grace): only a permitted reclaim wins.
        assert!(hub.is_online("bob"));
        assert_eq!(hub.claim(&bob, NO_SESSION, Interests::default(), false).err(), Some(ClaimError::InUse));
        let again = hub.claim(&bob, NO_SESSION, Interests::default(), true).expect("reclaimed");
        assert_eq!(hub.online_users(), vec!["bob".to_owned()]);
        hub.unregister(again.id);
    }

    /// The presence events a registration has received, as (user, online).
    fn presence_seen(registration: &mut Registration) -> Vec<(String, bool)> {
        std::iter::from_fn(|| registration.deliveries.try_recv().ok())
            .filter_map(|delivery| match &delivery.event {
                Event::Presence { user, online, .. } => Some((user.clone(), *online)),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn remote_presence_is_merged_with_local_and_announced_once() {
        let hub = hub().await;
        let alice = guest(&hub, "alice").await;
        let mut watching = hub.register(&alice, NO_SESSION);
        presence_seen(&mut watching);
        let (bob_id, carol_id) = (UserId(900), UserId(901));

        // Bob and Carol are on other nodes.
        hub.set_remote_presence(vec![(bob_id, "bob".into()), (carol_id, "carol".into())]);
        assert_eq!(presence_seen(&mut watching), [("bob".into(), true), ("carol".into(), true)]);
        assert_eq!(hub.online_users(), ["alice", "bob", "carol"]);
        assert!(hub.is_online("CAROL"), "a remote name is taken");
        // The same report again is no news.
        hub.set_remote_presence(vec![(bob_id, "bob".into()), (carol_id, "carol".into())]);
        assert!(presence_seen(&mut watching).is_empty());

        // Alice also connects on another node, then Carol leaves hers: only
        // Carol's departure is news; Alice was online here all along.
        hub.set_remote_presence(vec![(alice.id, "alice".into()), (bob_id, "bob".into())]);
        assert_eq!(presence_seen(&mut watching), [("carol".into(), false)]);
        assert_eq!(hub.online_users(), ["alice", "bob"]);
        // Bob's node dies (its record expired): Bob goes offline.
        hub.set_remote_presence(vec![(alice.id, "alice".into())]);
        assert_eq!(presence_seen(&mut watching), [("bob".into(), false)]);
        assert!(!hub.is_online("bob"));
    }

    #[tokio::test]
    async fn new_public_channels_are_announced_to_those_who_asked() {
        let hub = hub().await;
        let (alice, bob) = (guest(&hub, "alice").await, guest(&hub, "bob").await);
        let mut listening = hub.register_with(&alice, NO_SESSION, Interests { new_channels: true });
        let mut native = hub.register(&bob, NO_SESSION);
        let take_presence = |registration: &mut Registration| {
            while let Ok(delivery) = registration.deliveries.try_recv() {
                assert!(matches!(delivery.event, Event::Presence { .. }), "{:?}", delivery.event);
            }
        };
        take_presence(&mut listening);
        take_presence(&mut native);

        let name = ChannelName::parse("Yogurt").unwrap();
        hub.create_channel(&bob, &name, false).await.unwrap();
        let announced = listening.deliveries.try_recv().expect("an announcement");
        assert!(matches!(&announced.event, Event::ChannelCreated(channel) if channel.name == "Yogurt"));
        assert!(
            !std::iter::from_fn(|| native.deliveries.try_recv().ok())
                .any(|d| matches!(d.event, Event::ChannelCreated(_))),
            "native connections are not told"
        );
        // Creating it again is refused, naming the channel; neither that
        // nor a private channel announces anything.
        match hub.create_channel(&alice, &ChannelName::parse("yogurt").unwrap(), false).await {
            Err(HubError::ChannelExists(existing)) => assert_eq!(existing.name, "Yogurt"),
            other => panic!("expected ChannelExists, got {other:?}"),
        }
        hub.create_channel(&alice, &ChannelName::parse("secret").unwrap(), true).await.unwrap();
        assert!(
            !std::iter::from_fn(|| listening.deliveries.try_recv().ok())
                .any(|d| matches!(d.event, Event::ChannelCreated(_))),
            "only new public channels are announced"
        );
        // And the name finds it, without case.
        let found = hub.resolve_channel_name(&alice, "YOGURT").await.unwrap();
        assert_eq!(found.name, "Yogurt");
        let visible: Vec<String> =
            hub.visible_channels(&bob, 100).await.unwrap().into_iter().map(|(_, name)| name).collect();
        assert_eq!(visible, vec!["General", "Yogurt"], "bob does not see alice's private channel");
    }

    #[tokio::test]
    async fn presence_events_say_who_is_online_after_the_change() {
        let hub = hub().await;
        let (alice, bob) = (guest(&hub, "alice").await, guest(&hub, "bob").await);
        let mut watcher = hub.register(&alice, NO_SESSION);
        let _bob = hub.register(&bob, NO_SESSION);
        let mut last = None;
        while let Ok(delivery) = watcher.deliveries.try_recv() {
            last = Some(delivery);
        }
        match &last.expect("presence").event {
            Event::Presence { user, online: true, online_now } => {
                assert_eq!(user, "bob");
                assert_eq!(&**online_now, ["alice".to_owned(), "bob".to_owned()]);
            }
            other => panic!("expected bob's presence, got {other:?}"),
        }
    }
}
