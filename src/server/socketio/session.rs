//! One Socket.IO socket's task: its identity, the channel on its screen,
//! deliveries from the hub and output to the client, on the session core
//! `/ws` uses too (`server::session`).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::extract::AckSender;
use socketioxide::socket::Socket;
use socketioxide::{SendError, SocketError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::super::convert::{
    SOCKETIO_SLOT, auth_error_code, chat_message, error_code, message_updated, socketio_payload,
    socketio_presence_payloads,
};
use super::super::session::{Cursors, EndSignals, Ending, PendingSends, Replay, RequestBudget, Shown, Step};
use super::edge::guest_cookie;
use super::{Admitted, INTERESTS, Inbound, Shared, is_https};
use crate::app::{App, RequestError};
use crate::auth::{AuthError, token_hash};
use crate::hub::{Delivery, Event, Registration, SessionKey};
use crate::model::{
    Channel, ChannelId, ChannelKind, ChannelView, Message, Rev, Seq, User, look_key, name_key,
};
use crate::protocol::ErrorCode;
use crate::protocol::socketio::{
    Ack, ERROR, ErrorEvent, MESSAGE_UPDATED, NEW_CHANNEL, NEW_MESSAGE, NEW_USER, USER_HAS_LEFT,
};

/// How often, and how many times, a socket that must go is asked to
/// disconnect while its transport buffer is full: 10 seconds in all.
const DISCONNECT_RETRY: Duration = Duration::from_millis(100);
const DISCONNECT_ATTEMPTS: u32 = 100;

/// How a session ended.
pub(super) enum SocketEnd {
    /// The client disconnected or the transport closed.
    Gone,
    /// The client read too slowly; it is told and disconnected.
    TooSlow,
    /// The server is shutting down; socketioxide closes the transports, and
    /// clients reconnect by themselves.
    ServerClosing,
    /// Storage failed at the start; the client is told and disconnected.
    Broken,
    /// The socket's login session ended (logout); it is told and disconnected.
    SessionEnded,
}

/// A refused request: becomes an `error` event (and a negative ack).
pub(super) struct RequestRefusal {
    code: ErrorCode,
    message: String,
}

impl RequestRefusal {
    pub(super) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
}

/// Why a request did not succeed: refused (the session carries on), or the
/// session is over.
pub(super) enum Failure {
    Refused(RequestRefusal),
    End(SocketEnd),
}

impl From<RequestRefusal> for Failure {
    fn from(refusal: RequestRefusal) -> Self {
        Failure::Refused(refusal)
    }
}

impl From<SocketEnd> for Failure {
    fn from(end: SocketEnd) -> Self {
        Failure::End(end)
    }
}

impl From<RequestError> for Failure {
    fn from(error: RequestError) -> Self {
        Failure::Refused(RequestRefusal::new(error_code(&error), error.to_string()))
    }
}

impl From<AuthError> for Failure {
    fn from(error: AuthError) -> Self {
        Failure::Refused(RequestRefusal::new(auth_error_code(&error), error.to_string()))
    }
}

pub(super) type Outcome = Result<Ack, Failure>;

pub(super) fn done() -> Outcome {
    Ok(Ack { ok: true, ..Ack::default() })
}

/// How the socket got its user.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Arrival {
    /// A session token at connect time.
    Authenticated,
    /// `new user` on this socket, as a guest.
    Named,
}

pub(super) struct Identity {
    pub(super) user: User,
    arrival: Arrival,
    pub(super) registration: Registration,
    /// The last presence change this socket has been shown (by its
    /// registration, an online list, or a batch): later batches emit only
    /// the changes after it, so the tutorial's page never lists a name
    /// twice or loses one to a departure older than its list.
    presence_seen: u64,
}

/// The channel on the socket's screen.
pub(super) struct Current {
    pub(super) channel: Channel,
    /// The name the client knows it by (see `app::names`): the stored name,
    /// or `name #id` when the user can see several of that name.
    pub(super) name: String,
}

/// Reads that arrived before the socket had a name, answered after `new user`.
/// Bounded by construction: flags and one channel name.
#[derive(Default)]
pub(super) struct Waiting {
    pub(super) online_users: bool,
    pub(super) channel_lists: BTreeSet<&'static str>,
    /// The latest `user changed channel`; earlier ones are superseded.
    pub(super) switch: Option<String>,
}

pub(super) struct SocketIoSession {
    pub(super) shared: Arc<Shared>,
    socket: Arc<Socket>,
    pub(super) peer: Option<IpAddr>,
    pub(super) identity: Option<Identity>,
    /// What ends the session: the shutdown, and once the socket has a
    /// registration, the hub's "too slow" and the login session's end.
    signals: EndSignals,
    /// The channel on screen; the only one the hub delivers (besides
    /// announcements and the user's own events).
    pub(super) current: Option<Current>,
    /// The last seq shown of the channel on screen.
    pub(super) cursors: Cursors,
    /// The name keys of the channels the user is in (but DMs), kept current
    /// by the hub's join and leave deliveries: which names are taken for
    /// this user when a new public channel is announced.
    member_keys: HashMap<ChannelId, [String; 2]>,
    /// The browser's Socket.IO secret (the `natter_sio` cookie), hashed:
    /// the only evidence that lets a reconnecting guest take its name back.
    pub(super) guest_secret: Option<[u8; 32]>,
    pub(super) waiting: Waiting,
    pub(super) budget: RequestBudget,
}

impl SocketIoSession {
    pub(super) fn new(shared: Arc<Shared>, socket: Arc<Socket>, peer: Option<IpAddr>) -> Self {
        let parts = socket.req_parts();
        let https = is_https(&shared.state, &parts.extensions, &parts.headers);
        let guest_secret = guest_cookie(&parts.headers, https).map(|secret| token_hash(&secret));
        Self {
            socket,
            peer,
            identity: None,
            signals: EndSignals::unregistered(&shared.state),
            current: None,
            cursors: Cursors::default(),
            member_keys: HashMap::new(),
            guest_secret,
            waiting: Waiting::default(),
            budget: RequestBudget::new(&shared.state, peer),
            shared,
        }
    }

    pub(super) fn app(&self) -> Arc<App> {
        Arc::clone(&self.shared.state.app)
    }

    /// Serves the socket until it ends, then cleans up.
    pub(super) async fn run(
        mut self,
        admitted: Option<Admitted>,
        mut inbox: mpsc::Receiver<Inbound>,
        gone: CancellationToken,
    ) {
        let end = match admitted {
            Some(Admitted { user, session }) => match self.sign_in(user, session).await {
                Ok(()) => self.serve(&mut inbox, &gone).await,
                Err(end) => end,
            },
            None => self.serve(&mut inbox, &gone).await,
        };
        self.finish(end);
    }

    /// A socket admitted with a session token: registered from the start,
    /// before its channels are read, so no membership change falls between.
    async fn sign_in(&mut self, user: User, session: SessionKey) -> Result<(), SocketEnd> {
        let app = self.app();
        let registration = app.hub().register(&user, session, INTERESTS);
        self.adopt(user.clone(), registration, Arrival::Authenticated);
        let live =
            self.shared.state.accounts.session_is_live(session).await.map_err(|_| SocketEnd::Broken)?;
        if !live {
            return Err(SocketEnd::SessionEnded);
        }
        let channels = app.channels_of(&user).await.map_err(|_| SocketEnd::Broken)?;
        channels.iter().for_each(|view| self.remember_membership(view));
        Ok(())
    }

    pub(super) fn remember_membership(&mut self, view: &ChannelView) {
        if view.channel.kind != ChannelKind::Direct {
            let name = &view.channel.name;
            self.member_keys.insert(view.channel.id, [name_key(name), look_key(name)]);
        }
    }

    pub(super) fn adopt(&mut self, user: User, registration: Registration, arrival: Arrival) {
        tracing::debug!(user = user.id.0, "Socket.IO socket signed in");
        self.signals = EndSignals::registered(&registration);
        let presence_seen = registration.presence_version;
        self.identity = Some(Identity { user, arrival, registration, presence_seen });
    }

    /// The socket was shown who is online as of presence change `version`.
    pub(super) fn shown_presence_up_to(&mut self, version: u64) {
        if let Some(me) = self.identity.as_mut() {
            me.presence_seen = me.presence_seen.max(version);
        }
    }

    async fn serve(&mut self, inbox: &mut mpsc::Receiver<Inbound>, gone: &CancellationToken) -> SocketEnd {
        let mut pending: PendingSends<Option<AckSender>> = PendingSends::new();
        // Kept across wakes (its waiters stay registered with the tokens);
        // renewed only when `new user` registers the socket midway.
        let mut watching = self.identity.is_some();
        let mut ended = Box::pin(self.signals.clone().into_ended());
        loop {
            if watching != self.identity.is_some() {
                watching = self.identity.is_some();
                ended = Box::pin(self.signals.clone().into_ended());
            }
            let step = tokio::select! {
                biased;
                // A socket that is gone ends as gone (its guest name may be
                // taken back), whatever else happened meanwhile.
                _ = gone.cancelled() => return SocketEnd::Gone,
                ending = &mut ended => return match ending {
                    Ending::ShuttingDown => SocketEnd::ServerClosing,
                    Ending::TooSlow => SocketEnd::TooSlow,
                    Ending::SessionEnded => SocketEnd::SessionEnded,
                },
                outcome = pending.next() => self.finish_send(outcome),
                Some(delivery) = next_delivery(&mut self.identity) => self.deliver(delivery).await,
                request = inbox.recv(), if pending.has_room() => match request {
                    None => return SocketEnd::Gone,
                    Some(request) => self.handle(request, &mut pending).await,
                },
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    fn finish(self, end: SocketEnd) {
        let app = self.app();
        let grace = app.limits().presence_grace;
        if let Some(identity) = &self.identity {
            // Recorded before the connection goes, so a reconnect cannot
            // find the name lingering without the record.
            if matches!(end, SocketEnd::Gone)
                && identity.arrival == Arrival::Named
                && let Some(secret) = self.guest_secret
            {
                self.shared.departures.record(identity.user.id, secret, grace);
            }
            app.hub().unregister(identity.registration.id);
        }
        match end {
            SocketEnd::Gone | SocketEnd::ServerClosing => {}
            SocketEnd::TooSlow | SocketEnd::Broken | SocketEnd::SessionEnded => {
                let (code, message) = match end {
                    SocketEnd::TooSlow => (ErrorCode::TooSlow, "too slow; reconnect"),
                    SocketEnd::SessionEnded => {
                        (ErrorCode::Unauthorized, "your session has ended; log in again")
                    }
                    _ => (ErrorCode::Unavailable, "the server could not load your channels; reconnect"),
                };
                let error = ErrorEvent { code, message: message.into(), event: String::new() };
                let _ = self.socket.emit(ERROR, &error);
                tokio::spawn(disconnect_when_possible(self.socket));
            }
        }
    }

    // ----- output -------------------------------------------------------------

    pub(super) fn emit<T: Serialize + ?Sized>(&self, event: &str, payload: &T) -> Result<(), SocketEnd> {
        match self.socket.emit(event, payload) {
            Ok(()) => Ok(()),
            Err(error) => send_failed(error, event),
        }
    }

    /// Emits a payload encoded once for every recipient.
    fn emit_encoded(&self, event: &str, payload: &Bytes) -> Result<(), SocketEnd> {
        match serde_json::from_slice::<&RawValue>(payload) {
            Ok(raw) => self.emit(event, raw),
            Err(error) => {
                tracing::error!(%error, event, "an encoded Socket.IO payload is not JSON");
                Ok(())
            }
        }
    }

    fn acknowledge(&self, ack: Option<AckSender>, body: &Ack) -> Result<(), SocketEnd> {
        match ack.map(|ack| ack.send(body)) {
            None | Some(Ok(())) => Ok(()),
            Some(Err(error)) => send_failed(error, "ack"),
        }
    }

    /// Answers a request: the ack if one was asked for, and on refusal the
    /// `error` event, which tutorial clients (that never ask for acks) see.
    pub(super) fn conclude(
        &self,
        event: &str,
        ack: Option<AckSender>,
        outcome: Outcome,
    ) -> Result<(), SocketEnd> {
        match outcome {
            Ok(body) => self.acknowledge(ack, &body),
            Err(Failure::End(end)) => Err(end),
            Err(Failure::Refused(RequestRefusal { code, message })) => {
                let body =
                    Ack { ok: false, code: Some(code), message: Some(message.clone()), ..Ack::default() };
                self.emit(ERROR, &ErrorEvent { code, message, event: event.to_owned() })?;
                self.acknowledge(ack, &body)
            }
        }
    }

    // ----- deliveries from the hub --------------------------------------------

    async fn deliver(&mut self, delivery: Arc<Delivery>) -> Result<(), SocketEnd> {
        match &delivery.event {
            Event::Message { message, after } => {
                match self.cursors.step(message, *after) {
                    Step::Skip => return Ok(()),
                    Step::FillThenShow => self.catch_up(message.channel, message.rev).await?,
                    Step::Show => {}
                }
                let Some(shown) = self.cursors.record(message, Seq(0)) else { return Ok(()) };
                let Some(current) = self.current.as_ref().filter(|c| c.channel.id == message.channel) else {
                    return Ok(());
                };
                // Tutorial pages know only chat: system lines (someone
                // joined or left) are passed over, their rev counted.
                if message.system.is_some() {
                    return Ok(());
                }
                if shown == Shown::Update || message.deleted.is_some() {
                    let name = current.name.clone();
                    return self.emit_change(shown, message, &name);
                }
                // Shared by every socket that knows the channel by its
                // stored name; one that knows it as `name #id` gets its own.
                if current.name == current.channel.name {
                    let name = current.channel.name.clone();
                    let payload =
                        delivery.encoded(SOCKETIO_SLOT, |event| Bytes::from(socketio_payload(event, &name)));
                    self.emit_encoded(NEW_MESSAGE, &payload)
                } else {
                    let name = current.name.clone();
                    self.emit(NEW_MESSAGE, &chat_message(message, &name))
                }
            }
            Event::Presence(changes) => {
                // Encoded once per batch and node, when the first socket
                // needs it (`user has left` reads the list right after each
                // departure from the hub then).
                let hub = Arc::clone(self.shared.state.app.hub());
                let payloads = delivery.encoded(SOCKETIO_SLOT, |_| {
                    socketio_presence_payloads(changes, |version| hub.online_users_after(version))
                });
                let Some(me) = self.identity.as_ref() else { return Ok(()) };
                let seen = me.presence_seen;
                for (change, payload) in changes.iter().zip(payloads.iter()) {
                    // Older than what this socket was shown; and a socket
                    // announced itself when it got its name.
                    if change.version <= seen || (change.online && me.user.name == change.name) {
                        continue;
                    }
                    match change.online {
                        true => self.emit_encoded(NEW_USER, payload)?,
                        false => self.emit_encoded(USER_HAS_LEFT, payload)?,
                    }
                }
                if let Some(last) = changes.last() {
                    self.shown_presence_up_to(last.version);
                }
                Ok(())
            }
            Event::ChannelCreated(channel) => {
                // A channel this user is in with a name of the same key keeps
                // the plain name (`app::names`): the newcomer is `name #id`.
                let keys = [name_key(&channel.name), look_key(&channel.name)];
                let namesake = self
                    .member_keys
                    .iter()
                    .any(|(id, known)| *id != channel.id && known.iter().any(|key| keys.contains(key)));
                if namesake {
                    self.emit(NEW_CHANNEL, &format!("{} #{}", channel.name, channel.id))
                } else {
                    let payload =
                        delivery.encoded(SOCKETIO_SLOT, |event| Bytes::from(socketio_payload(event, "")));
                    self.emit_encoded(NEW_CHANNEL, &payload)
                }
            }
            Event::Left(channel) => {
                self.member_keys.remove(channel);
                if self.current.as_ref().is_some_and(|current| current.channel.id == *channel) {
                    self.current = None;
                    self.cursors.stop(*channel);
                }
                Ok(())
            }
            Event::Joined(view) => {
                self.remember_membership(view);
                Ok(())
            }
            // A renamed channel: its new name is what this socket's names
            // clash with from now on. (The new name itself comes as a
            // channel announcement, which tutorial pages add to their list.)
            Event::ChannelChanged(changed) => {
                let channel = &changed.0;
                if let Some(keys) = self.member_keys.get_mut(&channel.id) {
                    *keys = [name_key(&channel.name), look_key(&channel.name)];
                }
                Ok(())
            }
            // Tutorial sockets hear every presence change, never pages.
            Event::Typing { .. } | Event::Read { .. } | Event::OnlinePage { .. } | Event::Settings(_) => {
                Ok(())
            }
        }
    }

    /// Emits the channel on screen's stored messages between its cursor and
    /// `until` (exclusive). A gap that cannot be read is skipped: the
    /// tutorial's clients have no way to ask again.
    async fn catch_up(&mut self, channel: ChannelId, until: Rev) -> Result<(), SocketEnd> {
        let (Some(current), Some(me)) = (&self.current, &self.identity) else { return Ok(()) };
        if current.channel.id != channel {
            return Ok(());
        }
        let (name, user) = (current.name.clone(), me.user.clone());
        let state = self.shared.state.clone();
        // Not under the read budgets, unlike `/ws`'s replays: a gap here is
        // rare (it needs a lost bus message), and a socket parked on a spent
        // budget would fill its queue and be dropped as too slow.
        let mut replay = Replay::new(&state, &user, None, channel, Some(until));
        loop {
            let after = self.cursors.get(channel).map_or(Rev(0), |cursor| cursor.rev);
            let page = match replay.next_page(after).await {
                Ok(Some(page)) => page,
                Ok(None) => return Ok(()),
                Err(error) => {
                    tracing::warn!(?error, channel = channel.0, "cannot fill a gap; skipping it");
                    return Ok(());
                }
            };
            for message in &page {
                let Some(shown) = self.cursors.record(message, Seq(0)) else { continue };
                if message.system.is_none() {
                    self.emit_change(shown, message, &name)?;
                }
            }
        }
    }

    /// Emits a change of the channel on screen: a new message as the
    /// tutorial's `new message` (unless it is deleted already), a change
    /// of one the page may show as natter's `message updated`.
    fn emit_change(&mut self, shown: Shown, message: &Message, name: &str) -> Result<(), SocketEnd> {
        match shown {
            Shown::New if message.deleted.is_some() => Ok(()),
            Shown::New => self.emit(NEW_MESSAGE, &chat_message(message, name)),
            Shown::Update => self.emit(MESSAGE_UPDATED, &message_updated(message, name)),
        }
    }

    /// Delivers whatever the hub has queued already.
    pub(super) async fn drain_deliveries(&mut self) -> Result<(), SocketEnd> {
        while let Some(delivery) = self.identity.as_mut().and_then(|me| me.registration.deliveries.try_recv())
        {
            self.deliver(delivery).await?;
        }
        Ok(())
    }
}

/// The next hub delivery of a named socket; an anonymous one has none.
async fn next_delivery(identity: &mut Option<Identity>) -> Option<Arc<Delivery>> {
    match identity {
        Some(identity) => identity.registration.deliveries.recv().await,
        None => std::future::pending().await,
    }
}

/// Disconnects a socket whose session has ended. socketioxide refuses while
/// the transport buffer is full (as it is for a client that is too slow), so
/// this retries for a bounded time; a client that never reads at all is
/// closed by the Engine.IO heartbeat instead.
async fn disconnect_when_possible(socket: Arc<Socket>) {
    for _ in 0..DISCONNECT_ATTEMPTS {
        match Arc::clone(&socket).disconnect() {
            Err(SocketError::InternalChannelFull) => tokio::time::sleep(DISCONNECT_RETRY).await,
            Ok(()) | Err(SocketError::Closed) => return,
        }
    }
}

fn send_failed(error: SendError, event: &str) -> Result<(), SocketEnd> {
    match error {
        SendError::Socket(SocketError::InternalChannelFull) => Err(SocketEnd::TooSlow),
        SendError::Socket(SocketError::Closed) => Err(SocketEnd::Gone),
        SendError::Serialize(error) => {
            tracing::error!(%error, event, "cannot encode a Socket.IO event");
            Ok(())
        }
    }
}
