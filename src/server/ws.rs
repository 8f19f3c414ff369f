//! One native-protocol WebSocket session: the upgrade (origin and session
//! checks, small buffers, size limits), then a single task per connection that
//! reads requests, writes deliveries, pipelines sends and keeps the heartbeat.
//!
//! Resume: the session registers with the hub first (so nothing live is
//! missed), then replays from the store what the client lacks. Per channel it
//! remembers the last seq it sent: live messages at or below it are skipped,
//! and a jump past it is filled from the store. The client sees every seq
//! once, in order.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::FuturesOrdered;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite;
use tracing::Instrument;

use super::AppState;
use super::admission::{Refusal, SessionPermit};
use super::api::{ApiError, session_token, unauthorized};
use super::bounded::{LIST_BUDGET, first_within, newest_within, welcome_frames};
use super::client::{ClientAddress, ReachedOverHttps};
use super::convert::{channel_info, error_code, message_info, native_frame, user_info};
use crate::auth::token_hash;
use crate::hub::{Delivery, Event, Hub, HubError, Registration, SessionKey, WireFormat};
use crate::limits::{Limits, TokenBucket};
use crate::model::{ChannelId, ChannelName, ChannelView, ClientId, Message, MessageBody, Seq, User};
use crate::protocol::{
    ChannelInfo, ClientMessage, ErrorCode, Ref, ServerMessage, close_code, parse_client_message, reference_of,
};
use crate::store::Appended;

/// Read buffer per connection. tungstenite's default is 128 KiB; chat frames
/// are small, and per-connection memory is what limits how many people a
/// machine holds.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Frames are buffered up to this size before being written, so a burst of
/// deliveries goes out in few syscalls.
const WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// How long one write may stall before the peer is judged dead. The hub's
/// queue bound catches slow readers; this catches a peer that stopped reading
/// while the session was in the middle of a write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Sends awaiting their commit per connection. At the bound the session stops
/// reading until commits catch up: backpressure instead of an unbounded queue.
const MAX_SENDS_IN_FLIGHT: usize = 256;
/// Deliveries written before one flush.
const DELIVERIES_PER_FLUSH: usize = 64;
/// How long closing waits for the peer to answer our close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the client has to say `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// Most public channels in one `channels` page (fewer when their names are
/// long: pages are bounded in bytes too).
const CHANNEL_PAGE: u32 = 100;

pub(super) async fn upgrade(
    State(state): State<AppState>,
    permit: Result<SessionPermit, Response>,
    ClientAddress(address): ClientAddress,
    ReachedOverHttps(https): ReachedOverHttps,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &state.allowed_origins) {
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden_origin", "this origin may not connect")
            .into_response();
    }
    let permit = match permit {
        Ok(permit) => permit,
        Err(refused) => return refused,
    };
    let Some(token) = session_token(&headers, query.get("token").map(String::as_str), https) else {
        return unauthorized().into_response();
    };
    let user = match state.accounts.authenticate(&token).await {
        Ok(Some(user)) => user,
        Ok(None) => return unauthorized().into_response(),
        Err(error) => return ApiError::from(error).into_response(),
    };
    let sessions = state.sessions.clone();
    configure(upgrade, state.hub.limits()).on_upgrade(move |socket| {
        let span = tracing::info_span!("session", user = user.id.0);
        let session = token_hash(&token);
        let run = async move {
            run_session(socket, state, user, session, address).await;
            drop(permit);
        };
        sessions.track_future(run.instrument(span))
    })
}

/// The one WebSocket configuration: small buffers and the frame limits.
/// Every WebSocket endpoint uses it, so the conformance suite run against
/// the echo endpoint speaks for `/ws` too.
pub(super) fn configure(upgrade: WebSocketUpgrade, limits: &Limits) -> WebSocketUpgrade {
    configure_with_message_limit(upgrade, limits.max_frame_bytes)
}

/// [`configure`] with another message and frame limit (the echo endpoint's).
pub(super) fn configure_with_message_limit(upgrade: WebSocketUpgrade, max_bytes: usize) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(max_bytes * 4)
        .max_message_size(max_bytes)
        .max_frame_size(max_bytes)
}

pub(super) fn refusal_response(refusal: Refusal) -> Response {
    tracing::info!(?refusal, "connection refused by a limit");
    match refusal {
        Refusal::NodeFull => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_full", "the server is full; try later")
        }
        Refusal::AddressFull => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_connections", "too many connections")
        }
    }
    .into_response()
}

/// Browsers always send `Origin` on WebSocket upgrades (and on cross-origin
/// requests, such as Socket.IO's long-polling); it must be this server's own
/// origin or an allowed one, or a foreign page could ride the user's cookie.
/// Non-browser clients send none and authenticate by token.
pub(super) fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let origin = origin.trim_end_matches('/');
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let same_origin = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|origin_host| !host.is_empty() && origin_host.eq_ignore_ascii_case(host));
    same_origin || allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// Why a session ended.
pub(super) enum End {
    /// The peer closed, vanished or could not be written to.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

type PendingSend = Pin<Box<dyn Future<Output = SendOutcome> + Send>>;

struct SendOutcome {
    client_id: String,
    reference: Option<Ref>,
    result: Result<Appended, HubError>,
}

struct WsSession {
    socket: WebSocket,
    state: AppState,
    user: User,
    registration: Registration,
    /// The last seq written to the client, per channel it has history of.
    cursors: HashMap<ChannelId, Seq>,
    /// When a typing event was last relayed, per channel (rate limit).
    typing_relayed: HashMap<ChannelId, Instant>,
    /// Limits this connection has hit, each logged once.
    limits_hit: std::collections::HashSet<&'static str>,
    /// Budget for requests other than sends and typing.
    requests: TokenBucket,
    /// The client's address, for the reads budget shared per address.
    address: IpAddr,
    last_heard: Instant,
}

async fn run_session(
    mut socket: WebSocket,
    state: AppState,
    user: User,
    session_key: SessionKey,
    address: IpAddr,
) {
    let shutdown = state.shutdown.clone();
    let resume = tokio::select! {
        hello = await_hello(&mut socket) => match hello {
            Ok(resume) => resume,
            Err(end) => return close(&mut socket, end).await,
        },
        _ = shutdown.cancelled() => return close(&mut socket, End::Close(1001, "server shutting down")).await,
    };
    // Register before reading anything from the store: whatever commits or
    // changes membership from now on reaches this connection, and the reads
    // below cover what came before.
    let hub = Arc::clone(&state.hub);
    let registration = hub.register(&user, session_key);
    let connection = registration.id;
    let end = match admit(&state, &user, session_key).await {
        Ok(channels) => {
            hub.subscribe(connection, &channels);
            let mut session = WsSession {
                socket,
                state,
                user,
                registration,
                cursors: HashMap::new(),
                typing_relayed: HashMap::new(),
                limits_hit: Default::default(),
                requests: TokenBucket::new(hub.limits().requests_per_second, hub.limits().request_burst),
                address,
                last_heard: Instant::now(),
            };
            let end = session.serve(channels, resume, &hub).await;
            socket = session.socket;
            end
        }
        Err(end) => end,
    };
    hub.unregister(connection);
    close(&mut socket, end).await;
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
    state.hub.channels_of(user).await.map_err(|_| End::Close(1011, "server error"))
}

impl WsSession {
    /// Welcome, replay, then the live loop, until the session ends.
    async fn serve(&mut self, channels: Vec<ChannelView>, resume: HashMap<ChannelId, Seq>, hub: &Hub) -> End {
        let welcome = welcome_frames(
            user_info(&self.user),
            channels.iter().map(channel_info).collect(),
            hub.online_users(),
        );
        let shutdown = self.state.shutdown.clone();
        let started = tokio::select! {
            started = self.start(welcome, resume, &channels) => started,
            _ = shutdown.cancelled() => Err(End::Close(1001, "server shutting down")),
        };
        match started {
            Ok(()) => match self.run().await {
                Err(end) => end,
            },
            Err(end) => end,
        }
    }
}

/// Waits for `hello` and returns its resume points. Pings are answered;
/// anything else is refused with `bad_sequence`.
async fn await_hello(socket: &mut WebSocket) -> Result<HashMap<ChannelId, Seq>, End> {
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
            Ok(ClientMessage::Hello { resume, .. }) => {
                return Ok(resume
                    .into_iter()
                    .filter_map(|(channel, seq)| Some((ChannelId(channel.parse().ok()?), Seq(seq.max(0)))))
                    .collect());
            }
            Ok(ClientMessage::Ping { reference }) => ServerMessage::Pong { reference },
            Ok(_) => error_message(ErrorCode::BadSequence, "say hello first", reference_of(text.as_str())),
            Err((code, message)) => error_message(code, &message, reference_of(text.as_str())),
        };
        send_direct(socket, reply).await?;
    }
}

fn error_message(code: ErrorCode, message: &str, reference: Option<Ref>) -> ServerMessage {
    ServerMessage::Error { code, message: message.to_owned(), channel: None, reference }
}

async fn send_direct(socket: &mut WebSocket, message: ServerMessage) -> Result<(), End> {
    match tokio::time::timeout(WRITE_TIMEOUT, socket.send(WsMessage::text(message.to_json()))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(End::Gone),
    }
}

/// Maps a read error to how the session ends: the WebSocket close codes for
/// oversize (1009), bad UTF-8 (1007) and protocol violations (1002).
pub(super) fn end_for_error(error: axum::Error) -> End {
    match error.into_inner().downcast::<tungstenite::Error>() {
        Ok(error) => match *error {
            tungstenite::Error::Capacity(_) => End::Close(1009, "message too big"),
            tungstenite::Error::Utf8(_) => End::Close(1007, "invalid UTF-8"),
            tungstenite::Error::Protocol(_) => End::Close(1002, "protocol error"),
            _ => End::Gone,
        },
        Err(_) => End::Gone,
    }
}

/// Ends a session: sends our close frame and waits (briefly) for the peer's
/// answer, or, when the peer closed first, flushes the reply to its close
/// that the WebSocket layer has queued. Waiting matters: a socket dropped
/// with unread input is reset, and a reset can destroy our close frame
/// before the peer reads it. So when the input cannot be read any more (it
/// ended in a violation, such as a message over the limit), the socket is
/// still held until the timeout, giving the peer time to read our close.
pub(super) async fn close(socket: &mut WebSocket, end: End) {
    let closing = async {
        match end {
            End::Close(code, reason) => {
                let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
                if socket.send(WsMessage::Close(Some(frame))).await.is_err() {
                    return;
                }
                loop {
                    match socket.recv().await {
                        Some(Ok(WsMessage::Close(_))) | None => return,
                        Some(Ok(_)) => {}
                        Some(Err(_)) => std::future::pending::<()>().await,
                    }
                }
            }
            End::Gone => {
                let _ = socket.flush().await;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
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

    async fn write_message(&mut self, message: &Message) -> Result<(), End> {
        self.cursors.insert(message.channel, message.seq);
        self.write(ServerMessage::Message(message_info(message)).to_json().into()).await
    }

    /// Welcome, then the replay of every resumed channel.
    /// Writes the welcome, then replays every resumed channel. Every channel
    /// gets a cursor: the client's resume point (never past the head, which
    /// a restored database or a confused client could ask for), or the head
    /// the welcome announced, so a jump in live delivery is always filled.
    async fn start(
        &mut self,
        welcome: Vec<ServerMessage>,
        resume: HashMap<ChannelId, Seq>,
        channels: &[ChannelView],
    ) -> Result<(), End> {
        for frame in welcome {
            self.write(frame.to_json().into()).await?;
        }
        for view in channels {
            let channel = view.channel.id;
            // Resume points for channels the user is not in are ignored, as
            // are unknown ones: nothing about them is revealed.
            match resume.get(&channel) {
                Some(after) => {
                    self.cursors.insert(channel, (*after).min(view.last_seq));
                    // A client that is up to date needs no read: anything
                    // newer than the head read above arrives live.
                    if *after < view.last_seq {
                        self.catch_up(channel, None).await?;
                    }
                }
                None => {
                    self.cursors.insert(channel, view.last_seq);
                }
            }
        }
        self.flush().await
    }

    /// Writes the stored messages after this channel's cursor, up to `until`
    /// (exclusive) or to the end.
    async fn catch_up(&mut self, channel: ChannelId, until: Option<Seq>) -> Result<(), End> {
        loop {
            let after = self.cursors.get(&channel).copied().unwrap_or(Seq(0));
            if until.is_some_and(|until| after.0 + 1 >= until.0) {
                return Ok(());
            }
            // Replays read from the store like `history` does, so each page
            // waits for the user's and the address's read budgets: a resume
            // loop is slowed, never refused (it must finish to be correct).
            self.state.reads.wait_for(self.user.id, self.address).await;
            let page = match self.state.hub.messages_after(&self.user, channel, after).await {
                Ok(page) => page,
                Err(HubError::Unavailable) => return Err(End::Close(1011, "storage unavailable")),
                // Membership ended meanwhile: nothing more to replay.
                Err(_) => return Ok(()),
            };
            let full_page = page.len() as u32 >= crate::hub::FILL_PAGE;
            for message in page.iter().filter(|m| until.is_none_or(|until| m.seq < until)) {
                self.write_message(message).await?;
            }
            if !full_page || page.last().is_some_and(|m| until.is_some_and(|until| m.seq >= until)) {
                return Ok(());
            }
        }
    }

    /// Serves the session until it ends; it only ever returns how.
    async fn run(&mut self) -> Result<std::convert::Infallible, End> {
        let mut pending: FuturesOrdered<PendingSend> = FuturesOrdered::new();
        let mut heartbeat = tokio::time::interval(self.state.hub.limits().heartbeat_interval);
        heartbeat.reset();
        let shutdown = self.state.shutdown.clone();
        let too_slow = self.registration.too_slow.clone();
        let session_ended = self.registration.session_ended.clone();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Err(End::Close(1001, "server shutting down")),
                _ = too_slow.cancelled() => {
                    return Err(End::Close(close_code::TOO_SLOW, "too slow; reconnect and resume"));
                }
                _ = session_ended.cancelled() => {
                    return Err(End::Close(close_code::UNAUTHORIZED, "session ended; log in again"));
                }
                Some(outcome) = pending.next(), if !pending.is_empty() => {
                    self.finish_send(outcome).await?;
                }
                delivery = self.registration.deliveries.recv() => match delivery {
                    Some(delivery) => self.deliver_batch(delivery).await?,
                    None => return Err(End::Gone),
                },
                frame = self.socket.recv(), if pending.len() < MAX_SENDS_IN_FLIGHT => {
                    let frame = match frame {
                        None => return Err(End::Gone),
                        Some(Err(error)) => return Err(end_for_error(error)),
                        Some(Ok(frame)) => frame,
                    };
                    self.last_heard = Instant::now();
                    match frame {
                        WsMessage::Text(text) => {
                            if let Some(send) = self.handle_text(text.as_str()).await? {
                                pending.push_back(send);
                            }
                        }
                        WsMessage::Binary(_) => {
                            let error = error_message(ErrorCode::BinaryNotSupported, "send JSON text frames", None);
                            self.reply(error).await?;
                        }
                        WsMessage::Close(_) => return Err(End::Gone),
                        WsMessage::Ping(_) | WsMessage::Pong(_) => {}
                    }
                }
                _ = heartbeat.tick() => {
                    if self.last_heard.elapsed() > self.state.hub.limits().idle_timeout {
                        return Err(End::Close(1001, "idle timeout"));
                    }
                    self.socket.feed(WsMessage::Ping(Default::default())).await.map_err(|_| End::Gone)?;
                    self.flush().await?;
                }
            }
        }
    }

    /// Writes this delivery and whatever else is queued (up to a bound), then
    /// flushes once.
    async fn deliver_batch(&mut self, first: Arc<Delivery>) -> Result<(), End> {
        self.deliver(first).await?;
        for _ in 1..DELIVERIES_PER_FLUSH {
            match self.registration.deliveries.try_recv() {
                Ok(delivery) => self.deliver(delivery).await?,
                Err(_) => break,
            }
        }
        self.flush().await
    }

    async fn deliver(&mut self, delivery: Arc<Delivery>) -> Result<(), End> {
        match &delivery.event {
            Event::Message(message) => {
                let channel = message.channel;
                if let Some(cursor) = self.cursors.get(&channel).copied() {
                    if message.seq <= cursor {
                        return Ok(());
                    }
                    if message.seq.0 > cursor.0 + 1 {
                        self.catch_up(channel, Some(message.seq)).await?;
                    }
                }
                self.cursors.insert(channel, message.seq);
            }
            Event::Joined(view) => {
                // Live delivery of a newly joined channel starts after the
                // head its view announced; anything in between is filled.
                self.cursors.entry(view.channel.id).or_insert(view.last_seq);
            }
            Event::Left(channel) => {
                self.cursors.remove(channel);
            }
            // Not part of the native protocol (see `native_frame`).
            Event::ChannelCreated(_) => return Ok(()),
            _ => {}
        }
        let frame = delivery.encoded(WireFormat::Native, native_frame);
        let text = Utf8Bytes::try_from(frame).expect("frames are encoded from Rust strings");
        self.write(text).await
    }

    /// Handles one request frame. A `send` is returned as a pending commit so
    /// the loop can go on while the store works.
    async fn handle_text(&mut self, text: &str) -> Result<Option<PendingSend>, End> {
        let request = match parse_client_message(text) {
            Ok(request) => request,
            Err((code, message)) => {
                self.reply(error_message(code, &message, reference_of(text))).await?;
                return Ok(None);
            }
        };
        let hub = Arc::clone(&self.state.hub);
        let user = self.user.clone();
        // Sends have the user's message rate and typing its own interval;
        // every other request draws on the connection's request budget.
        let budgeted = !matches!(request, ClientMessage::Send { .. } | ClientMessage::Typing { .. });
        // Reads also draw on the budgets of the user and the address, which
        // all their connections share.
        let read = matches!(
            request,
            ClientMessage::History { .. }
                | ClientMessage::ListChannels { .. }
                | ClientMessage::ListUsers { .. }
        );
        let within_budget = !budgeted
            || (self.requests.try_take() && (!read || self.state.reads.take(self.user.id, self.address)));
        if !within_budget {
            self.note_limit("request rate");
            hub.count_rate_limited();
            let error =
                error_message(ErrorCode::RateLimited, "too many requests; slow down", reference_of(text));
            self.reply(error).await?;
            return Ok(None);
        }
        let reply = match request {
            ClientMessage::Send { channel, body, client_id, reference } => {
                let client_id = match ClientId::parse(client_id) {
                    Ok(client_id) => client_id,
                    Err(why) => {
                        self.reply(error_message(ErrorCode::InvalidClientId, why, reference)).await?;
                        return Ok(None);
                    }
                };
                let body = match MessageBody::parse(body) {
                    Ok(body) => body,
                    Err(why) => {
                        self.reply(error_message(ErrorCode::InvalidBody, why, reference)).await?;
                        return Ok(None);
                    }
                };
                let key = client_id.clone().into_string();
                let committed = hub.post(&user, ChannelId(channel), client_id, body);
                return Ok(Some(Box::pin(async move {
                    SendOutcome { client_id: key, reference, result: committed.await }
                })));
            }
            ClientMessage::Hello { reference, .. } => {
                error_message(ErrorCode::BadSequence, "hello was already received", reference)
            }
            ClientMessage::History { channel, before, limit, reference } => {
                let limit = limit.unwrap_or(50);
                match hub.history(&user, ChannelId(channel), before.map(Seq), limit).await {
                    Ok((messages, has_more)) => {
                        let (messages, cut) =
                            newest_within(messages.iter().map(message_info).collect(), LIST_BUDGET);
                        ServerMessage::History { channel, messages, has_more: has_more || cut, reference }
                    }
                    Err(error) => hub_error(&error, reference),
                }
            }
            ClientMessage::CreateChannel { name, private, reference } => match ChannelName::parse(&name) {
                Err(why) => error_message(ErrorCode::InvalidName, why, reference),
                Ok(name) => match hub.create_channel(&user, &name, private).await {
                    Ok(view) => ServerMessage::Channel { channel: channel_info(&view), reference },
                    Err(error) => hub_error(&error, reference),
                },
            },
            ClientMessage::ListChannels { prefix, after, reference } => {
                let prefix = prefix.unwrap_or_default();
                let after = after.as_deref().and_then(parse_channel_cursor);
                match hub.public_channels(&user, &prefix, after, CHANNEL_PAGE).await {
                    Ok(mut views) => {
                        let more_rows = views.len() > CHANNEL_PAGE as usize;
                        views.truncate(CHANNEL_PAGE as usize);
                        let (channels, rest) =
                            first_within(views.iter().map(channel_info).collect(), LIST_BUDGET);
                        let has_more = more_rows || !rest.is_empty();
                        let next = has_more.then(|| channels.last().map(channel_cursor)).flatten();
                        ServerMessage::Channels { channels, has_more, next, reference }
                    }
                    Err(error) => hub_error(&error, reference),
                }
            }
            ClientMessage::Join { channel, reference } => match hub.join(&user, ChannelId(channel)).await {
                Ok(view) => ServerMessage::Channel { channel: channel_info(&view), reference },
                Err(error) => hub_error(&error, reference),
            },
            ClientMessage::Leave { channel, reference } => match hub.leave(&user, ChannelId(channel)).await {
                Ok(()) => ServerMessage::Left { channel, reference },
                Err(error) => hub_error(&error, reference),
            },
            ClientMessage::Invite { channel, user: invitee, reference } => {
                match hub.invite(&user, ChannelId(channel), &invitee).await {
                    Ok(view) => ServerMessage::Channel { channel: channel_info(&view), reference },
                    Err(error) => hub_error(&error, reference),
                }
            }
            ClientMessage::OpenDm { user: other, reference } => match hub.open_dm(&user, &other).await {
                Ok(view) => ServerMessage::Channel { channel: channel_info(&view), reference },
                Err(error) => hub_error(&error, reference),
            },
            ClientMessage::Typing { channel, reference } => {
                let channel = ChannelId(channel);
                let interval = hub.limits().typing_interval;
                if self.typing_relayed.get(&channel).is_some_and(|at| at.elapsed() < interval) {
                    self.note_limit("typing rate");
                    hub.count_rate_limited();
                    let message = format!("at most one typing event per channel every {interval:?}");
                    error_message(ErrorCode::RateLimited, &message, reference)
                } else {
                    // Typing in a channel the connection is not in is dropped
                    // without a word: an answer would say the channel exists.
                    if hub.typing(self.registration.id, &user, channel).await {
                        self.typing_relayed.insert(channel, Instant::now());
                    }
                    return Ok(None);
                }
            }
            ClientMessage::Read { channel, seq, reference } => {
                match hub.mark_read(&user, ChannelId(channel), Seq(seq)).await {
                    // The new marker reaches this connection as a `read` delivery.
                    Ok(()) => return Ok(None),
                    Err(error) => hub_error(&error, reference),
                }
            }
            ClientMessage::ListUsers { prefix, after, limit, reference } => {
                match (directory_name(prefix), directory_name(after)) {
                    (Ok(prefix), Ok(after)) => {
                        let limit = limit.unwrap_or(DEFAULT_DIRECTORY_PAGE);
                        match hub.user_directory(prefix.as_ref(), after.as_ref(), limit).await {
                            Ok((users, has_more)) => ServerMessage::Users {
                                users: users
                                    .into_iter()
                                    .map(|(name, online)| crate::protocol::DirectoryUser { name, online })
                                    .collect(),
                                has_more,
                                reference,
                            },
                            Err(error) => hub_error(&error, reference),
                        }
                    }
                    (Err(why), _) | (_, Err(why)) => error_message(ErrorCode::BadRequest, why, reference),
                }
            }
            ClientMessage::Ping { reference } => ServerMessage::Pong { reference },
        };
        self.reply(reply).await?;
        Ok(None)
    }

    async fn finish_send(&mut self, outcome: SendOutcome) -> Result<(), End> {
        let reply = match outcome.result {
            Ok(appended) => ServerMessage::Ack {
                client_id: outcome.client_id,
                channel: appended.message.channel.0,
                id: appended.message.id.0,
                seq: appended.message.seq.0,
                reference: outcome.reference,
            },
            Err(error) => {
                if matches!(error, HubError::RateLimited) {
                    self.note_limit("message rate");
                }
                hub_error(&error, outcome.reference)
            }
        };
        self.reply(reply).await
    }

    /// Logs the first time this connection hits each limit, not every time:
    /// a flood must not become a flood of log lines.
    fn note_limit(&mut self, limit: &'static str) {
        if self.limits_hit.insert(limit) {
            tracing::info!(limit, "a client hit a limit");
        }
    }
}

/// The cursor after a channel in a `channels` page: its id and name. The
/// client passes it back as it is.
fn channel_cursor(channel: &ChannelInfo) -> String {
    format!("{}:{}", channel.id, channel.name)
}

fn parse_channel_cursor(cursor: &str) -> Option<(String, ChannelId)> {
    let (id, name) = cursor.split_once(':')?;
    Some((name.to_owned(), ChannelId(id.parse().ok()?)))
}

fn hub_error(error: &HubError, reference: Option<Ref>) -> ServerMessage {
    let channel = match error {
        HubError::ChannelExists(existing) => Some(existing.id.0),
        _ => None,
    };
    ServerMessage::Error { code: error_code(error), message: error.to_string(), channel, reference }
}

/// A `list_users` page without a `limit` holds this many users.
const DEFAULT_DIRECTORY_PAGE: u32 = 50;

/// A directory `prefix` or `after` as a name: absent or empty means none; any
/// other value must be (the start of) a valid username, so that it cannot
/// reach past the names the directory holds.
fn directory_name(raw: Option<String>) -> Result<Option<crate::model::UserName>, &'static str> {
    match raw.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => crate::model::UserName::parse(text).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn origin_policy() {
        let allowed = vec!["https://chat.example.com".to_owned()];
        assert!(origin_allowed(&headers(None, "127.0.0.1:3000"), &allowed));
        assert!(origin_allowed(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000"), &allowed));
        assert!(origin_allowed(&headers(Some("https://chat.example.com"), "10.0.0.1"), &allowed));
        assert!(!origin_allowed(&headers(Some("http://evil.example"), "127.0.0.1:3000"), &allowed));
        assert!(!origin_allowed(&headers(Some("http://127.0.0.1:3001"), "127.0.0.1:3000"), &allowed));
        assert!(!origin_allowed(&headers(Some("null"), "127.0.0.1:3000"), &allowed));
    }
}
