//! One native-protocol WebSocket session: a single task per connection
//! that reads requests, writes deliveries, pipelines sends and keeps the
//! heartbeat. The way in and out is `upgrade`; requests are `requests`;
//! cursors, replays, pending sends and budgets are the shared session core
//! (`server::session`).
//!
//! Resume: the session registers with the hub first (so nothing live is
//! missed), then replays from the store what the client lacks. Per channel it
//! remembers the last seq it sent: live messages at or below it are skipped,
//! and a jump past it is filled from the store. The client sees every seq
//! once, in order.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as WsMessage, Utf8Bytes, WebSocket};
use futures_util::{FutureExt, SinkExt};

use super::AppState;
use super::admission::SessionPermit;
use super::bounded::welcome_frames;
use super::convert::{
    ChangeFrames, NATIVE_SLOT, channel_info, native_frame, native_presence_frames, online_page_frame,
    user_info,
};
use super::session::{Cursors, EndSignals, Ending, PendingSends, RequestBudget, Resume, SendOutcome, Step};
use crate::hub::{Delivery, Event, Interests, Registration, SessionKey};
use crate::model::{ChannelId, ChannelView, Rev, Seq, User};
use crate::protocol::{
    ClientMessage, ErrorCode, PresenceMode, Ref, ResumePoint, ServerMessage, close_code,
    parse_client_message, reference_of,
};

mod administering;
mod replay;
mod requests;
mod upgrade;

use requests::request_error;
pub(super) use upgrade::{
    End, close, configure_with_message_limit, end_for_error, origin_allowed, refusal_response, upgrade,
};

/// How long one write may stall before the peer is judged dead. The hub's
/// queue bound catches slow readers; this catches a peer that stopped reading
/// while the session was in the middle of a write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries written before one flush.
const DELIVERIES_PER_FLUSH: usize = 64;
/// How long the client has to say `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

struct WsSession {
    socket: WebSocket,
    state: AppState,
    user: User,
    registration: Registration,
    address: IpAddr,
    cursors: Cursors,
    /// When a typing event was last relayed, per channel (rate limit).
    typing_relayed: HashMap<ChannelId, Instant>,
    budget: RequestBudget,
    last_heard: Instant,
    /// The last presence change the client has been shown (in its welcome
    /// or a batch, or a `watching` answer); batches bring only the changes
    /// after it.
    presence_seen: u64,
    /// Watched presence: the presence change the last `online_page` shown
    /// includes; an older page queued behind it is not shown.
    page_seen: u64,
    /// The client asked for watched presence in its `hello`.
    watched_presence: bool,
    /// The connection's places under the connection limits, held until the
    /// session ends.
    _permit: SessionPermit,
}

/// What a session starts from. The task is given it boxed: an async fn
/// keeps its arguments for its whole life, and a connection that sits idle
/// for hours should not carry a second copy of its socket and state.
pub(super) struct Opening {
    pub(super) socket: WebSocket,
    pub(super) state: AppState,
    pub(super) user: User,
    pub(super) session_key: SessionKey,
    pub(super) address: IpAddr,
    pub(super) permit: SessionPermit,
}

/// One connection's task. The start (hello, registration, welcome, replay)
/// and the end (the closing handshake) run as boxed futures: they are large
/// and brief, and an idle connection holds only its session and the live
/// loop's state.
pub(super) async fn run_session(opening: Box<Opening>) {
    let Some(mut session) = Box::pin(open(unbox(opening))).await else {
        return;
    };
    let end = session.live().await;
    Box::pin(session.finish(end)).await;
}

/// Frees the box as the value leaves it (`*boxed` in place would keep the
/// allocation until the end of the caller's scope).
#[allow(clippy::boxed_local, reason = "taking the box is the point: it is freed on return")]
fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}

/// Waits for `hello`, registers, admits, writes the welcome and the replay.
/// `None` when the session ended before it went live (already closed).
async fn open(opening: Opening) -> Option<WsSession> {
    let Opening { mut socket, state, user, session_key, address, permit } = opening;
    let shutdown = state.shutdown.clone();
    let (resume, presence) = tokio::select! {
        hello = await_hello(&mut socket) => match hello {
            Ok(hello) => hello,
            Err(end) => return close_early(socket, end).await,
        },
        _ = shutdown.cancelled() => return close_early(socket, End::Close(1001, "server shutting down")).await,
    };
    // Register before reading anything from the store: whatever commits or
    // changes membership from now on reaches this connection, and the reads
    // below cover what came before.
    let hub = Arc::clone(state.app.hub());
    let watched = presence == PresenceMode::Watched;
    let interests = Interests { watched_presence: watched, ..Interests::default() };
    let registration = hub.register(&user, session_key, interests);
    let channels = match admit(&state, &user, session_key).await {
        Ok(channels) => channels,
        Err(end) => {
            hub.unregister(registration.id);
            return close_early(socket, end).await;
        }
    };
    let delivered: HashMap<ChannelId, Rev> = hub.subscribe(registration.id, &channels).into_iter().collect();
    let budget = RequestBudget::new(&state, Some(address));
    // Watched: no list of everyone, but its first page (after the welcome).
    let (online, page) = match watched {
        false => (hub.online_users(), None),
        true => (crate::hub::OnlineUsers { names: Vec::new(), as_of: 0 }, Some(hub.online_page())),
    };
    let presence_seen = registration.presence_version.max(online.as_of);
    let page_seen = page.as_ref().map_or(0, |page| page.version);
    let mut session = WsSession {
        socket,
        state,
        user,
        registration,
        address,
        cursors: Cursors::default(),
        typing_relayed: HashMap::new(),
        budget,
        last_heard: Instant::now(),
        presence_seen,
        page_seen,
        watched_presence: watched,
        _permit: permit,
    };
    let mut welcome =
        welcome_frames(user_info(&session.user), channels.iter().map(channel_info).collect(), online.names);
    welcome.extend(page.as_ref().map(online_page_frame));
    let signals = EndSignals::registered(&session.registration);
    let started = tokio::select! {
        started = session.start(welcome, resume, &channels, &delivered) => started,
        ending = signals.ended() => Err(end_for(ending)),
    };
    match started {
        Ok(()) => Some(session),
        Err(end) => {
            session.finish(end).await;
            None
        }
    }
}

async fn close_early(mut socket: WebSocket, end: End) -> Option<WsSession> {
    close(&mut socket, end).await;
    None
}

/// Checks, now that the connection is registered, that its login session is
/// still alive (a logout that ran before registering could not close it),
/// and reads the user's channels.
async fn admit(state: &AppState, user: &User, session_key: SessionKey) -> Result<Vec<ChannelView>, End> {
    match state.accounts.session_is_live(session_key).await {
        Ok(true) => {}
        Ok(false) => return Err(End::Close(close_code::UNAUTHORIZED, "session ended; log in again")),
        Err(_) => return Err(End::Close(1011, "server error")),
    }
    state.app.channels_of(user).await.map_err(|_| End::Close(1011, "server error"))
}

/// How a session the server ends closes.
fn end_for(ending: Ending) -> End {
    match ending {
        Ending::ShuttingDown => End::Close(1001, "server shutting down"),
        Ending::TooSlow => End::Close(close_code::TOO_SLOW, "too slow; reconnect and resume"),
        Ending::SessionEnded => End::Close(close_code::UNAUTHORIZED, "session ended; log in again"),
    }
}

impl WsSession {
    /// The live loop, until the session ends.
    async fn live(&mut self) -> End {
        let signals = EndSignals::registered(&self.registration);
        match self.run(signals).await {
            Err(end) => end,
        }
    }

    /// Leaves the hub, then closes.
    async fn finish(mut self, end: End) {
        self.state.app.hub().unregister(self.registration.id);
        close(&mut self.socket, end).await;
    }
}

/// Waits for `hello` and returns its resume points and presence mode. Pings
/// are answered; anything else is refused with `bad_sequence`.
async fn await_hello(socket: &mut WebSocket) -> Result<(HashMap<ChannelId, Resume>, PresenceMode), End> {
    let deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
    loop {
        let frame = match tokio::time::timeout_at(deadline, socket.recv()).await {
            Err(_) => return Err(End::Close(1008, "no hello")),
            Ok(None) => return Err(End::Gone),
            Ok(Some(Err(error))) => return Err(end_for_error(error)),
            Ok(Some(Ok(frame))) => frame,
        };
        let text = match frame {
            WsMessage::Text(text) => text,
            WsMessage::Close(_) => return Err(End::Gone),
            WsMessage::Binary(_) => {
                let error = error_message(ErrorCode::BinaryNotSupported, "send JSON text frames", None);
                send_direct(socket, error).await?;
                continue;
            }
            WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
        };
        let reply = match parse_client_message(text.as_str()) {
            Ok(ClientMessage::Hello { resume, presence, .. }) => {
                let resume = resume
                    .into_iter()
                    .filter_map(|(channel, point)| {
                        Some((ChannelId(channel.parse().ok()?), resume_from(point)))
                    })
                    .collect();
                return Ok((resume, presence));
            }
            Ok(ClientMessage::Ping { reference }) => ServerMessage::Pong { reference },
            Ok(_) => error_message(ErrorCode::BadSequence, "say hello first", reference_of(text.as_str())),
            Err((code, message)) => error_message(code, &message, reference_of(text.as_str())),
        };
        send_direct(socket, reply).await?;
    }
}

/// A resume point as the session core takes it; negative numbers mean 0.
fn resume_from(point: ResumePoint) -> Resume {
    match point {
        ResumePoint::Seq(seq) => Resume::After(Seq(seq.max(0))),
        ResumePoint::Rev { seq, rev, held_from } => {
            Resume::Held { seq: Seq(seq.max(0)), rev: Rev(rev.max(0)), held_from: Seq(held_from.max(0)) }
        }
    }
}

pub(super) fn error_message(code: ErrorCode, message: &str, reference: Option<Ref>) -> ServerMessage {
    ServerMessage::Error { code, message: message.to_owned(), channel: None, reference }
}

async fn send_direct(socket: &mut WebSocket, message: ServerMessage) -> Result<(), End> {
    match tokio::time::timeout(WRITE_TIMEOUT, socket.send(WsMessage::text(message.to_json()))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(End::Gone),
    }
}

impl WsSession {
    async fn write(&mut self, text: Utf8Bytes) -> Result<(), End> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.socket.feed(WsMessage::Text(text))).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    async fn flush(&mut self) -> Result<(), End> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.socket.flush()).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    async fn reply(&mut self, message: ServerMessage) -> Result<(), End> {
        self.write(message.to_json().into()).await?;
        self.flush().await
    }

    /// Serves the session until it ends; it only ever returns how. What
    /// runs rarely or reads the store (requests, acks, gap fills) is awaited
    /// boxed, so the loop's own state, which every idle connection holds,
    /// stays small.
    async fn run(&mut self, signals: EndSignals) -> Result<std::convert::Infallible, End> {
        let mut pending: PendingSends<(String, Option<Ref>)> = PendingSends::new();
        let mut heartbeat = tokio::time::interval(self.state.app.limits().heartbeat_interval);
        heartbeat.reset();
        // One future for the whole session: its waiters stay registered
        // with the tokens, instead of registering anew on every wake.
        let ended = signals.ended();
        tokio::pin!(ended);
        loop {
            tokio::select! {
                biased;
                ending = &mut ended => return Err(end_for(ending)),
                outcome = pending.next() => Box::pin(self.answer_sends(outcome, &mut pending)).await?,
                delivery = self.registration.deliveries.recv() => match delivery {
                    Some(delivery) => self.deliver_batch(delivery).await?,
                    None => return Err(End::Gone),
                },
                frame = self.socket.recv(), if pending.has_room() => {
                    let frame = match frame {
                        None => return Err(End::Gone),
                        Some(Err(error)) => return Err(end_for_error(error)),
                        Some(Ok(frame)) => frame,
                    };
                    self.last_heard = Instant::now();
                    match frame {
                        WsMessage::Text(text) => {
                            if let Some((client_id, reference, committing)) = Box::pin(self.handle_text(text.as_str())).await? {
                                pending.push((client_id, reference), committing);
                            }
                        }
                        WsMessage::Binary(_) => {
                            let error = error_message(ErrorCode::BinaryNotSupported, "send JSON text frames", None);
                            Box::pin(self.reply(error)).await?;
                        }
                        WsMessage::Close(_) => return Err(End::Gone),
                        WsMessage::Ping(_) | WsMessage::Pong(_) => {}
                    }
                }
                _ = heartbeat.tick() => {
                    if self.last_heard.elapsed() > self.state.app.limits().idle_timeout {
                        return Err(End::Close(1001, "idle timeout"));
                    }
                    self.socket.feed(WsMessage::Ping(Default::default())).await.map_err(|_| End::Gone)?;
                    self.flush().await?;
                }
            }
        }
    }

    /// Writes this delivery and whatever else is queued (up to a bound), then
    /// flushes once. One write timeout bounds the whole batch: a clock read
    /// per batch, and a timer only if the socket makes it wait.
    async fn deliver_batch(&mut self, first: Arc<Delivery>) -> Result<(), End> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.write_batch(first)).await {
            Ok(written) => written,
            Err(_) => Err(End::Gone),
        }
    }

    async fn write_batch(&mut self, first: Arc<Delivery>) -> Result<(), End> {
        self.deliver(first).await?;
        self.write_queued_deliveries(DELIVERIES_PER_FLUSH - 1).await?;
        self.socket.flush().await.map_err(|_| End::Gone)
    }

    /// Writes up to `most` deliveries already queued, without flushing.
    async fn write_queued_deliveries(&mut self, most: usize) -> Result<(), End> {
        for _ in 0..most {
            match self.registration.deliveries.try_recv() {
                Some(delivery) => self.deliver(delivery).await?,
                None => break,
            }
        }
        Ok(())
    }

    /// Writes the answer to a send, the answers to any other sends whose
    /// commits are in, and the deliveries queued by now, then flushes once:
    /// a commit's fan-out queues the sender's own delivery before its answer
    /// resolves, so the ack and that delivery go out in one write (and one
    /// TCP segment) instead of two. Acks still come before deliveries that
    /// were ready with them, as the loop's bias orders them. One write
    /// timeout bounds the whole batch, as in [`WsSession::deliver_batch`].
    async fn answer_sends(
        &mut self,
        first: SendOutcome<(String, Option<Ref>)>,
        pending: &mut PendingSends<(String, Option<Ref>)>,
    ) -> Result<(), End> {
        let written = async {
            self.write_answer(first).await?;
            while let Some(outcome) = pending.next().now_or_never() {
                self.write_answer(outcome).await?;
            }
            self.write_queued_deliveries(DELIVERIES_PER_FLUSH).await?;
            self.socket.flush().await.map_err(|_| End::Gone)
        };
        match tokio::time::timeout(WRITE_TIMEOUT, written).await {
            Ok(written) => written,
            Err(_) => Err(End::Gone),
        }
    }

    async fn deliver(&mut self, delivery: Arc<Delivery>) -> Result<(), End> {
        match &delivery.event {
            // Only channels with a cursor (from the welcome, a resume or a
            // `Joined`) are shown: a subscription that outlived a `Left`
            // (one that raced the start) shows nothing.
            Event::Message { message, after } => {
                match self.cursors.step(message, *after) {
                    Step::Skip => return Ok(()),
                    // Inside the batch's write timeout: the store answers
                    // in milliseconds, and a store that stalls for seconds
                    // leaves the client to reconnect and resume.
                    Step::FillThenShow => {
                        Box::pin(self.catch_up(message.channel, Some(message.rev), Seq(0))).await?;
                    }
                    Step::Show => {}
                }
                let Some(shown) = self.cursors.record(message, Seq(0)) else { return Ok(()) };
                let frames = delivery.encoded(NATIVE_SLOT, |_| Arc::new(ChangeFrames::default()));
                let frame = frames.frame(shown, message);
                return self.socket.feed(WsMessage::Text(frame)).await.map_err(|_| End::Gone);
            }
            // Live delivery of a newly joined channel starts after the head
            // its view announced; anything in between is filled.
            Event::Joined(view) => {
                let channel = view.channel.id;
                self.cursors.start(channel, replay::head_of(view));
                // The channel first, so the client knows it before any of
                // its messages.
                let frame = delivery.encoded(NATIVE_SLOT, |event| Utf8Bytes::from(native_frame(event)));
                self.socket.feed(WsMessage::Text(frame)).await.map_err(|_| End::Gone)?;
                // Changes delivered between the view's read and the
                // subscription never come live: read them (what came live
                // since is skipped when it arrives).
                let shown = self.cursors.get(channel).map_or(view.last_rev, |cursor| cursor.rev);
                let behind = self.state.app.hub().delivered_rev(channel).is_some_and(|rev| rev > shown);
                if behind {
                    Box::pin(self.catch_up(channel, None, Seq(0))).await?;
                }
                return Ok(());
            }
            Event::Left(channel) => self.cursors.stop(*channel),
            Event::Settings(_) | Event::ChannelChanged(_) => {}
            // Not part of the native protocol (see `native_frame`).
            Event::ChannelCreated(_) => return Ok(()),
            Event::Presence(changes) => {
                let frames = delivery.encoded(NATIVE_SLOT, |_| native_presence_frames(changes));
                for (change, frame) in changes.iter().zip(frames.iter()) {
                    // The welcome's list already showed it.
                    if change.version > self.presence_seen {
                        self.socket.feed(WsMessage::Text(frame.clone())).await.map_err(|_| End::Gone)?;
                    }
                }
                if let Some(last) = changes.last() {
                    self.presence_seen = self.presence_seen.max(last.version);
                }
                return Ok(());
            }
            Event::OnlinePage { page, .. } => {
                if page.version <= self.page_seen {
                    return Ok(());
                }
                self.page_seen = page.version;
            }
            Event::Typing { .. } | Event::Read { .. } => {}
        }
        let frame = delivery.encoded(NATIVE_SLOT, |event| Utf8Bytes::from(native_frame(event)));
        // Under the batch's write timeout (`deliver_batch`).
        self.socket.feed(WsMessage::Text(frame)).await.map_err(|_| End::Gone)
    }

    /// Writes a send's ack or error, without flushing.
    async fn write_answer(&mut self, outcome: SendOutcome<(String, Option<Ref>)>) -> Result<(), End> {
        let (client_id, reference) = outcome.answer_to;
        let reply = match outcome.result {
            Ok(stored) => ServerMessage::Ack {
                client_id,
                channel: stored.channel.0,
                id: stored.id.0,
                seq: stored.seq.0,
                reference,
            },
            Err(error) => {
                if matches!(error, crate::app::RequestError::RateLimited) {
                    self.budget.note_limit("message rate");
                }
                request_error(&error, reference)
            }
        };
        self.socket.feed(WsMessage::Text(reply.to_json().into())).await.map_err(|_| End::Gone)
    }
}
