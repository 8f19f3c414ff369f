//! The hub: who is connected here, who is shown online, and which
//! connection hears what, in order. A small synchronous core: short-held
//! locks, no `.await`, no store calls and no wire formats in `src/hub/`
//! (ARCHITECTURE.md names the grep). Registrations and presence take the
//! hub's lock; a message's fan-out takes only its channel's route shard
//! (`routes`), so channels fan out in parallel. It never waits on a
//! connection: each gets [`Delivery`] values through a bounded queue, and one
//! that cannot keep up is dropped ([`EndWatch`], [`Ended::TooSlow`]).
//!
//! What needs time or I/O (filling a gap from the store after a wait, the
//! presence grace period, the presence interval, this node's presence
//! record on the bus) the hub asks of its driver (`app::driver`) as
//! [`HubRequest`]s; the driver answers by calling back in
//! ([`Hub::fill_from`], [`Hub::accept_message`], [`Hub::expire_presence`],
//! [`Hub::flush_presence`]).
//!
//! Presence is told in batches: changes gather for [`PRESENCE_INTERVAL`],
//! then every connection gets them as one delivery, so an arrival costs the
//! hub O(1) under its lock and a burst of N arrivals costs each connection
//! one delivery per interval, not N.
//!
//! The parts: `registry` (connections and users), `presence` (who is shown
//! online), `audience` (who hears which presence change), `routes`
//! (per-channel order and subscribers, in locked shards), `delivery` (the events and their
//! shared encodings). This file holds the hub's state and its connection
//! and delivery methods; `telling` its presence methods; `invariants` the
//! checks its tests run after every step.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::model::{
    Channel, ChannelAbout, ChannelId, ChannelKind, ChannelView, Message, ReadMarker, Rev, User, UserId,
};

mod audience;
mod delivery;
mod invariants;
mod presence;
mod queue;
mod registry;
mod routes;
mod telling;
#[cfg(test)]
mod tests;

pub use audience::WATCH_MAX;
pub use delivery::{Delivery, ENCODING_SLOTS, Event, PresenceChange};
pub use presence::{ONLINE_PAGE, OnlinePage};
pub use queue::Deliveries;
pub use registry::{ConnectionId, EndWatch, Ended, Interests, NO_SESSION, Registration, SessionKey};

use audience::Audience;
use presence::{Change, Presence};
use registry::{Offered, Registry};
use routes::RouteShards;

/// What the hub asks its driver to do outside the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubRequest {
    /// Changes of this channel wait behind a gap: read the missing ones
    /// from the store (after a short wait, as most gaps close by themselves)
    /// and hand them to [`Hub::accept_filled`], until [`Hub::fill_from`]
    /// says the gap is closed.
    FillGap(ChannelId),
    /// The user's last connection here ended: after the grace period, call
    /// [`Hub::expire_presence`] with this generation.
    ExpirePresence { user: UserId, generation: u64 },
    /// The users shown online because of this node changed to these.
    LocalPresence(Vec<(UserId, String)>),
    /// Presence changed: after [`PRESENCE_INTERVAL`], call
    /// [`Hub::flush_presence`]. Asked once per interval with changes, and
    /// every interval while a changed online page waits to be told.
    FlushPresence,
}

/// How long presence changes gather before connections are told of them,
/// in one delivery each (see the module's documentation). Short enough that
/// people see each other arrive at once; long enough that a login storm of
/// thousands per second costs each connection a few deliveries per second.
pub const PRESENCE_INTERVAL: Duration = Duration::from_millis(200);

/// Changes in one presence delivery at most (about 20 KiB of native
/// frames): a larger interval's changes go out as several, so the queue's
/// bound in deliveries is also a bound in bytes (a node that dies with
/// thousands of users online is thousands of changes at once).
pub const PRESENCE_BATCH_MAX: usize = 256;

/// Watching connections are told the online list's first page at most
/// once in this long: a change after a quiet spell goes out at the next
/// flush, a burst of them as one page when the time is up. In a login
/// storm the page changes every interval; telling every watcher five
/// pages a second would cost what watching saves.
pub const ONLINE_PAGE_EVERY: Duration = Duration::from_secs(2);

/// Who is online, as [`Hub::online_users`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineUsers {
    /// Sorted without case.
    pub names: Vec<String>,
    /// The number of the last presence change the list includes.
    pub as_of: u64,
}

/// Why [`Hub::claim`] refused a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The user has a live connection, or is still shown online and the
    /// caller may not reclaim the name.
    #[error("someone with that name is online now")]
    InUse,
}

#[derive(Default)]
struct State {
    registry: Registry,
    presence: Presence,
    /// Connections that hear of new public channels.
    announcements: HashSet<ConnectionId>,
    /// Presence changes not yet told (see [`Hub::flush_presence`]).
    untold: UntoldPresence,
    /// Who was shown online at the last flush, sorted without case, built
    /// once per interval with changes: with the changes since, what a new
    /// connection is welcomed with ([`Hub::online_users`]).
    told: Arc<[String]>,
    /// `told` was not rebuilt at the last flush with changes, as no
    /// connection here hears everyone: the first to ask rebuilds it.
    told_stale: bool,
    /// Who hears which presence change.
    audience: Audience,
    /// The online list's first page as watching connections were last told.
    page_told: OnlinePage,
    /// When `page_told` was told (`None`: never).
    page_told_at: Option<Instant>,
    /// A changed page waits for [`ONLINE_PAGE_EVERY`] to pass.
    page_waiting: bool,
}

#[derive(Default)]
struct UntoldPresence {
    changes: Vec<Change>,
    /// This node's own list changed since it was last published.
    local_changed: bool,
    /// A [`HubRequest::FlushPresence`] is on its way.
    flush_requested: bool,
}

impl UntoldPresence {
    /// Who changed and how, in order, for [`presence::apply_changes`].
    fn name_changes(&self) -> Vec<(String, bool)> {
        self.changes.iter().map(|change| (change.name.clone(), change.online)).collect()
    }
}

pub struct Hub {
    state: Mutex<State>,
    /// Per-channel order and subscribers, outside `state`: taken after
    /// `state` when both are needed, alone for a message's fan-out.
    routes: RouteShards,
    /// Deliveries a connection may have queued before it counts as too slow.
    queue_capacity: usize,
    metrics: Arc<Metrics>,
    requests: mpsc::UnboundedSender<HubRequest>,
    /// Every connection's end signal is a child of this one, so cancelling
    /// it (the server's shutdown) ends them all.
    stop: CancellationToken,
}

impl Hub {
    /// A hub whose channels' live delivery starts after `heads` (revs), and
    /// the receiver of what it asks of its driver. Cancelling `stop` ends
    /// every connection ([`EndWatch`]).
    pub fn new(
        heads: Vec<(ChannelId, Rev)>,
        queue_capacity: usize,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<HubRequest>) {
        // Unbounded, but bounded by what feeds it: a fill per open gap, a
        // grace period per last disconnect, a presence flush and a list
        // per interval,
        // each taken at once by the driver's one loop, which never waits.
        let (requests, receiver) = mpsc::unbounded_channel();
        let routes = RouteShards::starting_at(heads);
        let hub =
            Self { state: Mutex::new(State::default()), routes, queue_capacity, metrics, requests, stop };
        (Arc::new(hub), receiver)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("hub state lock is never poisoned")
    }

    /// Asks the driver; a driver that is gone (shutdown) has nothing to do.
    fn request(&self, request: HubRequest) {
        let _ = self.requests.send(request);
    }

    // ----- connections --------------------------------------------------------

    /// Adds a connection of `user`, subscribed to nothing yet: membership
    /// changes from now on reach it, so the caller reads the user's channels
    /// after this and passes them to [`Hub::subscribe`]. The user comes online
    /// if they were not shown online (here within the grace period, or on
    /// another node).
    pub fn register(&self, user: &User, session: SessionKey, interests: Interests) -> Registration {
        let mut state = self.lock();
        self.insert(&mut state, user, session, interests)
    }

    /// Registers a connection only if `user` is not online here: a name-only
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
        if state.presence.is_local(user.id) && (state.registry.is_connected(user.id) || !may_reclaim) {
            return Err(ClaimError::InUse);
        }
        Ok(self.insert(&mut state, user, session, interests))
    }

    fn insert(
        &self,
        state: &mut State,
        user: &User,
        session: SessionKey,
        interests: Interests,
    ) -> Registration {
        let mut registration =
            state.registry.insert(user, session, interests, self.queue_capacity, &self.stop);
        if interests.announcements {
            state.announcements.insert(registration.id);
        }
        state.audience.add(registration.id, interests.watched_presence);
        let (change, local_changed) = state.presence.arrive(user);
        if let Some(change) = change {
            self.announce_presence(state, change);
        }
        if local_changed {
            self.local_presence_changed(state);
        }
        registration.presence_version = state.presence.version();
        self.metrics.connections.inc();
        self.metrics.connections_total.inc();
        registration
    }

    /// Subscribes a connection to channels its user may read. A channel the
    /// hub has no route for yet starts from the head in the view, so live
    /// delivery never replays history. Returns, per channel, the rev
    /// delivered last: the connection hears every change after it, and a
    /// rev past its view's was delivered between the view's read and now,
    /// so the caller reads those changes from the store.
    pub fn subscribe(&self, connection: ConnectionId, channels: &[ChannelView]) -> Vec<(ChannelId, Rev)> {
        let mut state = self.lock();
        let state = &mut *state;
        let Some(entry) = state.registry.connections.get_mut(&connection).filter(|c| !c.dropped) else {
            return Vec::new();
        };
        let mut delivered = Vec::with_capacity(channels.len());
        for view in channels {
            let channel = view.channel.id;
            entry.channels.insert(channel);
            let rev = self.routes.shard(channel).subscribe(channel, view.last_rev, connection, &entry.outlet);
            delivered.push((channel, rev));
        }
        delivered
    }

    /// Ends a connection's subscription to one channel.
    pub fn unsubscribe(&self, connection: ConnectionId, channel: ChannelId) {
        let mut state = self.lock();
        if let Some(entry) = state.registry.connections.get_mut(&connection) {
            entry.channels.remove(&channel);
        }
        self.routes.shard(channel).unsubscribe(channel, connection);
    }

    /// Whether `user` has a connection on this node.
    pub fn is_connected(&self, user: UserId) -> bool {
        self.lock().registry.is_connected(user)
    }

    /// Whether the connection hears this channel (for the hub's tests).
    #[cfg(test)]
    pub(crate) fn is_subscribed(&self, connection: ConnectionId, channel: ChannelId) -> bool {
        self.lock().registry.connections.get(&connection).is_some_and(|c| c.channels.contains(&channel))
    }

    /// Ties a connection to a login session issued after it registered (a
    /// Socket.IO guest that asked for a token), so logging that session out
    /// closes the connection too.
    pub fn attach_session(&self, connection: ConnectionId, session: SessionKey) {
        if let Some(entry) = self.lock().registry.connections.get_mut(&connection) {
            entry.session = session;
        }
    }

    /// Closes every connection opened with this login session.
    pub fn end_session(&self, session: SessionKey) {
        let state = self.lock();
        for connection in state.registry.connections.values().filter(|c| c.session == session) {
            connection.end(Ended::SessionEnded);
        }
    }

    /// Closes every connection of the user, as if their session ended (an
    /// admin deactivated them).
    pub fn end_user(&self, user: UserId) {
        let state = self.lock();
        let connections = state.registry.users.get(&user).into_iter().flatten();
        for connection in connections.filter_map(|id| state.registry.connections.get(id)) {
            connection.end(Ended::SessionEnded);
        }
    }

    /// Removes a connection. Idempotent. If it was the user's last one, the
    /// driver is asked to end their presence after the grace period, unless
    /// another connection arrives first.
    pub fn unregister(&self, id: ConnectionId) {
        let mut state = self.lock();
        let Some(connection) = state.registry.remove(id) else { return };
        for channel in &connection.channels {
            self.routes.shard(*channel).unsubscribe(*channel, id);
        }
        state.announcements.remove(&id);
        state.audience.remove(id);
        self.metrics.connections.dec();
        if !state.registry.is_connected(connection.user)
            && let Some(generation) = state.presence.generation(connection.user)
        {
            self.request(HubRequest::ExpirePresence { user: connection.user, generation });
        }
    }

    // ----- delivery (presence: `telling`) -------------------------------------

    /// Takes a committed change (a new, edited or deleted message; local or
    /// from another node) and fans out everything that is now in order.
    pub fn accept_message(&self, message: Message) {
        let channel = message.channel;
        self.accept(channel, vec![message], None);
    }

    /// Takes changes read from the store (after a gap, or to catch up), in
    /// rev order: every rev up to the last one's is there or was superseded
    /// by a later change of its message, so a gap up to it is closed.
    pub fn accept_filled(&self, channel: ChannelId, changes: Vec<Message>) {
        let covered = changes.last().map(|change| change.rev);
        self.accept(channel, changes, covered);
    }

    /// Releases what is now in order and offers it to the route's
    /// subscribers, all under the channel's shard lock only (so each
    /// subscriber gets the channel's changes in rev order); connections
    /// that could not keep up are dropped after, under the hub's lock.
    fn accept(&self, channel: ChannelId, changes: Vec<Message>, covered: Option<Rev>) {
        let mut slow = Vec::new();
        {
            let mut routes = self.routes.shard(channel);
            let released = routes.accept(channel, changes, covered);
            if released.request_fill {
                self.request(HubRequest::FillGap(channel));
            }
            for (after, message) in released.ready {
                let delivery = Delivery::new(Event::Message { message, after });
                for (id, outlet) in routes.subscribers(channel) {
                    self.count_offer(outlet.offer(&delivery), id, &mut slow);
                }
            }
        }
        self.drop_all_slow(slow);
    }

    /// Where the driver's fill of `channel` reads from next (a rev); `None`
    /// once nothing waits behind a gap any more (the fill is then over).
    pub fn fill_from(&self, channel: ChannelId) -> Option<Rev> {
        self.routes.shard(channel).fill_from(channel)
    }

    /// The rev the channel's route delivered last, if the hub has one.
    pub fn delivered_rev(&self, channel: ChannelId) -> Option<Rev> {
        self.routes.shard(channel).0.get(&channel).map(|route| route.delivered)
    }

    /// Every channel's last delivered rev, for catching up after the bus may
    /// have lost changes.
    pub fn delivered_heads(&self) -> Vec<(ChannelId, Rev)> {
        self.routes.heads()
    }

    /// Relays "typing" to the channel's other members' connections, if
    /// `connection` is subscribed to the channel. Returns whether it was.
    pub fn relay_typing(&self, connection: ConnectionId, user: &User, channel: ChannelId) -> bool {
        let subscribed =
            self.lock().registry.connections.get(&connection).is_some_and(|c| c.channels.contains(&channel));
        if subscribed {
            self.deliver_typing(channel, user.id, &user.name);
        }
        subscribed
    }

    /// Relays another node's "typing" to this node's connections.
    pub fn typing_elsewhere(&self, channel: ChannelId, user: UserId, name: &str) {
        self.deliver_typing(channel, user, name);
    }

    /// Offers "typing" to the channel's subscribers but the typist's own
    /// connections, under the channel's shard lock only, like a message.
    fn deliver_typing(&self, channel: ChannelId, user: UserId, name: &str) {
        let typing = Delivery::new(Event::Typing { channel, user: name.to_owned() });
        let mut slow = Vec::new();
        for (id, outlet) in self.routes.shard(channel).subscribers(channel) {
            if outlet.user != user {
                self.count_offer(outlet.offer(&typing), id, &mut slow);
            }
        }
        self.drop_all_slow(slow);
    }

    /// `user` is now a member of the channel: their connections that follow
    /// memberships are subscribed, and all of them are told.
    pub fn member_joined(&self, user: UserId, view: ChannelView) {
        let mut state = self.lock();
        let state = &mut *state;
        let channel = view.channel.id;
        let connections = state.registry.connections_of(user);
        // `Joined` is queued under the shard lock too, so it comes before
        // any of the channel's messages the new subscription hears.
        let slow = {
            let mut routes = self.routes.shard(channel);
            for id in &connections {
                let Some(connection) = state.registry.connections.get_mut(id) else { continue };
                if connection.interests.follows_memberships && !connection.dropped {
                    connection.channels.insert(channel);
                    routes.subscribe(channel, view.last_rev, *id, &connection.outlet);
                }
            }
            self.offer_each(state, connections, &Delivery::new(Event::Joined(view)))
        };
        for id in slow {
            self.drop_slow(state, id);
        }
    }

    /// `user` is no longer a member of the channel: all their connections
    /// are unsubscribed and told.
    pub fn member_left(&self, user: UserId, channel: ChannelId) {
        let mut state = self.lock();
        let state = &mut *state;
        for id in state.registry.connections_of(user) {
            if let Some(connection) = state.registry.connections.get_mut(&id) {
                connection.channels.remove(&channel);
            }
            self.routes.shard(channel).unsubscribe(channel, id);
        }
        self.deliver_to_user(state, user, Event::Left(channel));
    }

    /// Tells all of `user`'s connections that their settings for a channel
    /// changed.
    pub fn settings_changed(&self, user: UserId, view: ChannelView) {
        let mut state = self.lock();
        self.deliver_to_user(&mut state, user, Event::Settings(view));
    }

    /// Tells all of `user`'s connections that their read marker moved.
    pub fn read_marker_moved(&self, user: UserId, channel: ChannelId, marker: ReadMarker) {
        let mut state = self.lock();
        self.deliver_to_user(&mut state, user, Event::Read { channel, marker });
    }

    /// Tells every connection that asked for it that a public channel exists.
    pub fn announce_channel(&self, channel: Channel) {
        let mut state = self.lock();
        let listeners: Vec<ConnectionId> = state.announcements.iter().copied().collect();
        self.offer_all(&mut state, listeners, &Delivery::new(Event::ChannelCreated(channel)));
    }

    /// A channel was renamed, described or archived: every connection in it
    /// is told how it stands now, and a public channel's new name is
    /// announced as a new channel to the connections that hear of them (the
    /// Socket.IO edge's `new channel`, which tutorial pages add to their list).
    pub fn channel_changed(&self, channel: Channel, about: ChannelAbout, renamed: bool) {
        let announce = renamed && channel.kind == ChannelKind::Public && !about.archived;
        let mut state = self.lock();
        let subscribers: Vec<ConnectionId> =
            self.routes.shard(channel.id).subscribers(channel.id).map(|(id, _)| id).collect();
        let delivery = Delivery::new(Event::ChannelChanged(Box::new((channel.clone(), about))));
        self.offer_all(&mut state, subscribers, &delivery);
        if announce {
            let listeners: Vec<ConnectionId> = state.announcements.iter().copied().collect();
            self.offer_all(&mut state, listeners, &Delivery::new(Event::ChannelCreated(channel)));
        }
    }

    fn deliver_to_user(&self, state: &mut State, user: UserId, event: Event) {
        let connections = state.registry.connections_of(user);
        self.offer_all(state, connections, &Delivery::new(event));
    }

    /// Queues one delivery to each of `connections` and drops those that
    /// could not keep up.
    fn offer_all(&self, state: &mut State, connections: Vec<ConnectionId>, delivery: &Arc<Delivery>) {
        for id in self.offer_each(state, connections, delivery) {
            self.drop_slow(state, id);
        }
    }

    /// Queues one delivery to each of `connections`; returns those that
    /// could not keep up, for the caller to drop once it holds no shard.
    fn offer_each(
        &self,
        state: &State,
        connections: Vec<ConnectionId>,
        delivery: &Arc<Delivery>,
    ) -> Vec<ConnectionId> {
        let mut slow = Vec::new();
        for id in connections {
            let Some(connection) = state.registry.connections.get(&id) else { continue };
            self.count_offer(connection.outlet.offer(delivery), id, &mut slow);
        }
        slow
    }

    fn count_offer(&self, offered: Offered, id: ConnectionId, slow: &mut Vec<ConnectionId>) {
        match offered {
            Offered::Queued => self.metrics.deliveries_total.inc(),
            Offered::Skipped => self.metrics.queue_drops_total.inc(),
            Offered::Ignored => {}
            Offered::Full => slow.push(id),
        }
    }

    /// Drops connections a fan-out outside the hub's lock found too slow.
    fn drop_all_slow(&self, slow: Vec<ConnectionId>) {
        if slow.is_empty() {
            return;
        }
        let mut state = self.lock();
        for id in slow {
            self.drop_slow(&mut state, id);
        }
    }

    /// Drops a connection that could not keep up; it reconnects and resumes.
    /// It leaves every route and the announcements now; its session task
    /// sees it ended, closes (4008 on `/ws`) and unregisters, which starts
    /// the presence grace period.
    fn drop_slow(&self, state: &mut State, id: ConnectionId) {
        let Some(connection) = state.registry.connections.get_mut(&id) else { return };
        if connection.dropped {
            return;
        }
        connection.dropped = true;
        connection.end(Ended::TooSlow);
        for channel in connection.channels.drain() {
            self.routes.shard(channel).unsubscribe(channel, id);
        }
        state.announcements.remove(&id);
        state.audience.remove(id);
        self.metrics.slow_client_closes_total.inc();
        tracing::info!(connection = id.get(), "closing a connection that reads too slowly");
    }
}
