//! The Socket.IO endpoint at `/socket.io/`: the Make Chat tutorial's browser
//! clients, unchanged, on the same hub and store as native clients.
//!
//! Engine.IO v4 / Socket.IO v5 (both transports, with upgrade) come from
//! socketioxide; this module only maps the tutorial's events onto the hub.
//! It also serves the official client bundle at `/socket.io/socket.io.js` and
//! applies the Origin check of `/ws` to every `/socket.io/` request.
//!
//! Fan-out: hub registrations, not socketioxide rooms. A named socket
//! registers with the hub exactly like a native connection and receives the
//! same shared [`Delivery`] values through the same bounded queue, each
//! encoded once for Socket.IO. One fan-out path serves both protocols, keeps
//! the hub's per-channel ordering and slow-client policy, and crosses nodes
//! through the bus later; rooms would be a second membership model to keep in
//! step and would only reach this node's Socket.IO sockets. "Switching
//! channel" is therefore per socket: the session shows messages of its
//! current channel only, and the hub membership a switch creates (joining a
//! public channel) persists, as natter's channels do.
//!
//! One task per socket, as `/ws` has. socketioxide runs handlers on spawned
//! tasks, which would lose a socket's order (`new user` must be handled
//! before the `new message` after it), so this module implements its
//! connect and message handler traits itself: the connect handler sets the
//! socket up synchronously, and the message handler only queues each event,
//! in arrival order, for the socket's task.
//!
//! Identity: a session token (`auth: {token}` in the handshake, a bearer
//! header, or the session cookie) makes the socket that user from the start;
//! a stale cookie is ignored, a bad explicit token is refused. Without one,
//! only a server started with `--allow-guests` admits the socket, which then
//! names itself with `new user` as a guest. Registered names are never given
//! to guests, and a name whose owner is connected is refused with `error`
//! (`name_in_use`), checked and registered under the hub's lock. Until it has
//! a name, a socket's reads (`get online users`, channel lists, `user changed
//! channel`) wait and are answered right after `new user`, in the tutorial's
//! page-load order; its sends are refused.
//!
//! Reclaim: a tutorial client that reconnects re-sends `new user` with its
//! name while its old connection is gone but the name is still shown online
//! (the presence grace period). It gets the name back when the request comes
//! from the client address the name's last Socket.IO connection closed from,
//! within the grace period. The tutorial client cannot keep a secret, so the
//! address is the only evidence it offers; the window is seconds long, the
//! name is a guest's (never a registered account's), and a live connection is
//! never displaced. A client that can keep a secret asks for an ack on `new
//! user` and gets a session token: reconnecting with `auth: {token}` is the
//! same guest from any address, at any time.
//!
//! Everything a client controls is bounded: payload and frame sizes, queued
//! requests, a request rate per socket, the hub's message rate per user, and
//! the transport buffer (full means too slow: the socket is closed).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, Event as EventName, TryData};
use socketioxide::handler::{ConnectHandler, FromConnectParts, FromMessageParts, MessageHandler, Value};
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::Socket;
use socketioxide::{SendError, SocketError, SocketIo};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::AppState;
use super::admission::{self, SessionPermit};
use super::api::{ApiError, bearer_token, cookie_token};
use super::bounded::{LIST_BUDGET, first_within, newest_within};
use super::client::{client_address, is_https};
use super::convert::{auth_error_code, chat_message, error_code, online_users, socketio_payload, user_info};
use super::ws::origin_allowed;
use crate::auth::{AuthError, token_hash};
use crate::hub::{
    ClaimError, Delivery, Event, FILL_PAGE, Hub, HubError, Interests, NO_SESSION, Registration, SessionKey,
    WireFormat, names,
};
use crate::limits::TokenBucket;
use crate::model::{
    Channel, ChannelId, ChannelKind, ChannelName, ChannelView, ClientId, MessageBody, Seq, User, UserId,
    look_key, name_key,
};
use crate::protocol::ErrorCode;
use crate::protocol::socketio::{
    Ack, Auth, CHANNEL_LIST_EVENTS, ChannelHistory, ChatMessage, ERROR, ErrorEvent, GET_ONLINE_USERS,
    NEW_CHANNEL, NEW_MESSAGE, NEW_USER, NewMessage, USER_CHANGED_CHANNEL, USER_HAS_LEFT,
};
use crate::store::Appended;

/// The official browser client, vendored from the `socket.io-client` npm
/// package (same major version as the protocol spoken here), served as the
/// Node server serves it so tutorial pages that load it by path work.
const CLIENT_BUNDLE: &[u8] = include_bytes!("../../vendor/socket.io-client/socket.io.min.js");
/// The vendored bundle's version; its banner says the same (a test checks).
const CLIENT_VERSION: &str = "4.8.4";
/// Where the bundle is served. The Node server answers both names.
const CLIENT_BUNDLE_PATHS: [&str; 2] = ["/socket.io/socket.io.js", "/socket.io/socket.io.min.js"];
/// socketioxide's path (it serves `/socket.io/` and everything below).
const SOCKETIO_PATH: &str = "/socket.io";

/// Requests a socket may have queued before its task handles them. At the
/// bound, further ones are answered `rate_limited` at once and dropped.
const MAX_QUEUED_REQUESTS: usize = 64;
/// Messages of one socket awaiting their commit. At the bound the session
/// stops taking requests until commits catch up.
const MAX_SENDS_IN_FLIGHT: usize = 64;
/// Events a socket may send per second, sustained, and in a burst; a `new
/// message` counts unless it is for the channel on screen (the hub limits
/// messages per user).
const REQUESTS_PER_SECOND: f64 = 20.0;
const REQUEST_BURST: f64 = 50.0;
/// Most JSON values (nodes) an event's payload may have. Tutorial payloads
/// have a handful; a bound keeps a queued event small however it was padded
/// (64 KiB of `[0,0,...]` would otherwise be a megabyte of parsed values).
const MAX_PAYLOAD_NODES: usize = 256;
/// The history page sent with `user changed channel`: the latest messages.
const HISTORY_PAGE: u32 = 50;
/// How long the server waits for a client's pong. The ping interval is the
/// native heartbeat interval.
const PING_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a client has to join the namespace after the Engine.IO handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Departures remembered for reclaim. When full, expired ones are dropped; if
/// none have expired, a new departure is not remembered and that guest's name
/// simply comes free after the grace period.
const MAX_DEPARTURES: usize = 10_000;
/// How often, and how many times, a socket that must go is asked to
/// disconnect while its transport buffer is full: 10 seconds in all.
const DISCONNECT_RETRY: Duration = Duration::from_millis(100);
const DISCONNECT_ATTEMPTS: u32 = 100;
/// Engine.IO handshakes one client address may open per second, sustained,
/// and in a burst. Generous for people (a tab opens one per connection and
/// reconnect), tight enough that handshakes abandoned before joining (each
/// held until [`CONNECT_TIMEOUT`]) stay bounded.
pub(super) const HANDSHAKES_PER_SECOND: f64 = 50.0;
pub(super) const HANDSHAKE_BURST: f64 = 500.0;
/// Most public channels a Socket.IO channel list names (besides the
/// user's own channels); tutorial clients take the list in one event.
const LISTED_PUBLIC_CHANNELS: u32 = 1_000;
/// Socket.IO connections hear of new public channels (`new channel`).
const INTERESTS: Interests = Interests { new_channels: true };

/// Builds the Socket.IO layer for the router, and the handle that closes all
/// sockets at shutdown.
pub(super) fn endpoint(state: &AppState) -> (SocketIoLayer, SocketIo) {
    let limits = state.hub.limits();
    let max_bytes = limits.max_frame_bytes;
    let (layer, io) = SocketIo::builder()
        .ping_interval(limits.heartbeat_interval)
        .ping_timeout(PING_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        // One polling request or WebSocket message: the same cap as `/ws`.
        .max_payload(u64::try_from(max_bytes).unwrap_or(u64::MAX))
        .ws_max_message_size(max_bytes)
        .ws_max_frame_size(max_bytes)
        // Packets waiting for the transport, per socket. A socket this far
        // behind is closed as too slow, like a native connection whose hub
        // queue overflows.
        .max_buffer_size(limits.outbound_queue)
        .build_layer();
    io.ns("/", Gate { shared: Arc::new(Shared { state: state.clone(), departures: Departures::default() }) });
    (layer, io)
}

/// In front of socketioxide: serves the client bundle, refuses foreign
/// origins (polling and WebSocket alike), and answers CORS for allowed ones.
pub(super) async fn edge(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if CLIENT_BUNDLE_PATHS.contains(&path) {
        return client_bundle(request.method(), request.headers());
    }
    let for_socketio =
        path.strip_prefix(SOCKETIO_PATH).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if !for_socketio {
        return next.run(request).await;
    }
    // The same rule as `/ws`: a browser page from elsewhere must not ride
    // the user's cookie, over either transport.
    if !origin_allowed(request.headers(), &state.allowed_origins) {
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden_origin", "this origin may not connect")
            .into_response();
    }
    // A request without `sid` opens a new Engine.IO session.
    let opens_session =
        !request.uri().query().unwrap_or_default().split('&').any(|pair| pair.starts_with("sid="));
    let address = client_address(&state, request.extensions(), request.headers());
    if let (true, Some(address)) = (opens_session && request.method() == Method::GET, address) {
        let allowed =
            state.socketio_handshakes.lock().expect("handshake limiter lock is never poisoned").take(address);
        if !allowed {
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many handshakes; slow down",
            )
            .into_response();
        }
    }
    // A browser without a Socket.IO secret gets one on its first handshake;
    // it is added to this request too, so the socket opened now has it.
    let mut request = request;
    let https = is_https(&state, request.extensions(), request.headers());
    let cookie_name = guest_cookie_name(https);
    let new_secret =
        (opens_session && guest_cookie(request.headers(), https).is_none()).then(new_guest_secret);
    if let Some(secret) = &new_secret
        && let Ok(value) = HeaderValue::from_str(&format!("{cookie_name}={secret}"))
    {
        request.headers_mut().append(header::COOKIE, value);
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = if request.method() == Method::OPTIONS {
        // A preflight for polling with extra headers (such as Authorization).
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        response
    } else {
        next.run(request).await
    };
    if let Some(secret) = new_secret {
        // Over HTTPS the `__Host-` prefix (which needs `Secure` and `Path=/`)
        // keeps other hosts of the domain from planting a secret they know.
        let cookie = match https {
            true => format!("{cookie_name}={secret}; Secure; HttpOnly; SameSite=Strict; Path=/"),
            false => format!("{cookie_name}={secret}; HttpOnly; SameSite=Strict; Path={SOCKETIO_PATH}/"),
        };
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    if let Some(origin) = origin {
        // Only origins that passed the check above get here.
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

fn client_bundle(method: &Method, headers: &HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response();
    }
    let etag = format!("\"socket.io-client-{CLIENT_VERSION}\"");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let common = [(header::ETAG, etag), (header::CACHE_CONTROL, "no-cache".to_owned())];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Bytes::from_static(CLIENT_BUNDLE),
    )
        .into_response()
}

/// What every socket's handlers share.
struct Shared {
    state: AppState,
    departures: Departures,
}

/// Who a socket was admitted as, passed from the connect middleware to the
/// connect handler in the socket's extensions.
#[derive(Clone)]
struct Admitted {
    user: User,
    /// The login session it came with, so a logout closes the socket.
    session: SessionKey,
}

/// Why a connection was refused; the client's `connect_error` says this.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("unauthorized: the session token is not valid; log in again")]
    BadToken,
    #[error("guests_disabled: guest access is disabled on this server; log in first")]
    GuestsDisabled,
    #[error("unavailable: the server could not check the session; try again")]
    Unavailable,
    #[error("too_many_connections: too many connections from your address")]
    AddressFull,
    #[error("server_full: the server is full; try later")]
    NodeFull,
}

/// A socket's place among the node's connections (see `admission`), kept in
/// its extensions from admission until the socket is gone.
#[derive(Clone)]
struct Place(#[allow(dead_code, reason = "held for its Drop")] Arc<SessionPermit>);

/// The namespace's connect handler: admission as middleware, then the
/// synchronous setup of a socket and the start of its task.
#[derive(Clone)]
struct Gate {
    shared: Arc<Shared>,
}

/// Type marker for socketioxide's handler traits.
struct GateMarker;

type MiddlewareFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(), Box<dyn fmt::Display + Send>>> + Send + 'a>>;

impl ConnectHandler<LocalAdapter, GateMarker> for Gate {
    fn call_middleware<'a>(&'a self, socket: Arc<Socket>, auth: &'a Option<Value>) -> MiddlewareFuture<'a> {
        Box::pin(async move {
            // A malformed `auth` is treated as none: the cookie may still do.
            let token = match TryData::<Auth>::from_connect_parts(&socket, auth) {
                Ok(TryData(Ok(auth))) => auth.token.filter(|token| !token.is_empty()),
                _ => None,
            };
            admit(&self.shared, &socket, token).await.map_err(|refused| {
                tracing::info!(reason = %refused, "Socket.IO connection refused");
                Box::new(refused) as Box<dyn fmt::Display + Send>
            })
        })
    }

    fn call(&self, socket: Arc<Socket>, _auth: Option<Value>) {
        let admitted = socket.extensions.get::<Admitted>();
        let (requests, inbox) = mpsc::channel(MAX_QUEUED_REQUESTS);
        let gone = CancellationToken::new();
        // Registered before anything can arrive for them: events are queued
        // in order, and the disconnect reaches the task however early.
        socket.on_fallback(Inbox { requests });
        let on_gone = gone.clone();
        socket.on_disconnect(move || async move { on_gone.cancel() });
        if !socket.connected() {
            gone.cancel();
        }
        let peer =
            client_address(&self.shared.state, &socket.req_parts().extensions, &socket.req_parts().headers);
        let span = tracing::info_span!("socketio", sid = %socket.id);
        let session = SocketIoSession::new(Arc::clone(&self.shared), socket, peer);
        let sessions = self.shared.state.sessions.clone();
        tokio::spawn(sessions.track_future(session.run(admitted, inbox, gone).instrument(span)));
    }
}

/// Decides who a connecting socket is. An explicit token (handshake `auth`
/// or bearer header) must be valid; a cookie that is not is ignored, as a
/// browser may hold a stale one. Without a user, guests must be allowed.
async fn admit(shared: &Shared, socket: &Socket, auth_token: Option<String>) -> Result<(), Refused> {
    // The same connection caps as /ws.
    let address = client_address(&shared.state, &socket.req_parts().extensions, &socket.req_parts().headers);
    if let Some(address) = address {
        let connection = socket.req_parts().extensions.get::<admission::ConnectionPlace>();
        let permit =
            shared.state.admission.admit_session(address, connection).map_err(|refusal| match refusal {
                admission::Refusal::AddressFull => Refused::AddressFull,
                admission::Refusal::NodeFull => Refused::NodeFull,
            })?;
        socket.extensions.insert(Place(Arc::new(permit)));
    }
    let accounts = &shared.state.accounts;
    let headers = &socket.req_parts().headers;
    if let Some(token) = auth_token.or_else(|| bearer_token(headers)) {
        return match accounts.authenticate(&token).await {
            Ok(Some(user)) => {
                socket.extensions.insert(Admitted { user, session: token_hash(&token) });
                Ok(())
            }
            Ok(None) => Err(Refused::BadToken),
            Err(_) => Err(Refused::Unavailable),
        };
    }
    let https = is_https(&shared.state, &socket.req_parts().extensions, headers);
    if let Some(token) = cookie_token(headers, https) {
        match accounts.authenticate(&token).await {
            Ok(Some(user)) => {
                socket.extensions.insert(Admitted { user, session: token_hash(&token) });
                return Ok(());
            }
            Ok(None) => {}
            Err(_) => return Err(Refused::Unavailable),
        }
    }
    if accounts.guests_allowed() { Ok(()) } else { Err(Refused::GuestsDisabled) }
}

/// One event from a client, queued for its socket's task.
struct Inbound {
    event: String,
    /// The first argument, or `null` when there is none.
    payload: serde_json::Value,
    /// Present when the client asked for an acknowledgement.
    ack: Option<AckSender>,
}

/// The message handler for every event: queues it for the socket's task.
#[derive(Clone)]
struct Inbox {
    requests: mpsc::Sender<Inbound>,
}

/// Type marker for socketioxide's handler traits.
struct InboxMarker;

impl MessageHandler<LocalAdapter, InboxMarker> for Inbox {
    fn call(&self, socket: Arc<Socket>, mut value: Value, ack_id: Option<i64>) {
        let Ok(EventName(event)) = EventName::from_message_parts(&socket, &mut value, &ack_id) else {
            return;
        };
        let payload = match TryData::<serde_json::Value>::from_message_parts(&socket, &mut value, &ack_id) {
            Ok(TryData(Ok(payload))) if node_count(&payload, MAX_PAYLOAD_NODES) <= MAX_PAYLOAD_NODES => {
                payload
            }
            // Too big to be a tutorial payload: handled as a missing one.
            Ok(TryData(Ok(_))) => serde_json::Value::Null,
            _ => serde_json::Value::Null,
        };
        let ack = match AckSender::from_message_parts(&socket, &mut value, &ack_id) {
            Ok(ack) => ack_id.map(|_| ack),
            Err(never) => match never {},
        };
        if let Err(mpsc::error::TrySendError::Full(request)) =
            self.requests.try_send(Inbound { event, payload, ack })
        {
            let error = ErrorEvent {
                code: ErrorCode::RateLimited,
                message: "too many requests at once; slow down".into(),
                event: request.event,
            };
            // Best effort: a client this far ahead may not be reading either.
            let _ = socket.emit(ERROR, &error);
        }
    }
}

/// The number of JSON values in `value`, counting no further than `limit + 1`.
fn node_count(value: &serde_json::Value, limit: usize) -> usize {
    let mut count = 0;
    let mut stack = vec![value];
    while let Some(next) = stack.pop() {
        count += 1;
        if count > limit {
            break;
        }
        match next {
            serde_json::Value::Array(items) => stack.extend(items),
            serde_json::Value::Object(fields) => stack.extend(fields.values()),
            _ => {}
        }
    }
    count
}

/// Remembers which browser (by the hash of its `natter_sio` cookie) each
/// named guest's last Socket.IO connection belonged to, so that browser, and
/// only it, can take the name back within the grace period. A client address
/// is no evidence: behind a proxy or in an office everyone shares one.
#[derive(Default)]
struct Departures(Mutex<HashMap<UserId, Departure>>);

struct Departure {
    secret: [u8; 32],
    at: Instant,
}

impl Departures {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Departure>> {
        self.0.lock().expect("departures lock is never poisoned")
    }

    fn record(&self, user: UserId, secret: [u8; 32], grace: Duration) {
        let mut departures = self.lock();
        if departures.len() >= MAX_DEPARTURES {
            departures.retain(|_, departure| departure.at.elapsed() < grace);
        }
        if departures.len() < MAX_DEPARTURES || departures.contains_key(&user) {
            departures.insert(user, Departure { secret, at: Instant::now() });
        }
    }

    /// Whether `user`'s last connection was this browser's, within `grace`.
    fn is_recent(&self, user: UserId, secret: [u8; 32], grace: Duration) -> bool {
        self.lock().get(&user).is_some_and(|d| d.secret == secret && d.at.elapsed() < grace)
    }

    fn forget(&self, user: UserId) {
        self.lock().remove(&user);
    }
}

/// The cookie that ties a browser's Socket.IO connections together: set on
/// the first handshake of a browser that has none, random, HttpOnly. A
/// tutorial page cannot keep a secret itself, but its browser keeps this
/// one and sends it with every reconnect.
const GUEST_COOKIE: &str = "natter_sio";
/// Its name over HTTPS: only this host can set a `__Host-` cookie.
const SECURE_GUEST_COOKIE: &str = "__Host-natter_sio";

fn guest_cookie_name(https: bool) -> &'static str {
    if https { SECURE_GUEST_COOKIE } else { GUEST_COOKIE }
}

/// The browser's Socket.IO secret, if the request carries one. Over HTTPS
/// only the `__Host-` cookie counts: a plain one may have been planted.
fn guest_cookie(headers: &HeaderMap, https: bool) -> Option<String> {
    let wanted = guest_cookie_name(https);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == wanted && value.len() == SECRET_CHARS)
        .map(|(_, value)| value.to_owned())
}

/// Length of a guest secret: 32 random bytes, hex.
const SECRET_CHARS: usize = 64;

fn new_guest_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The newest `count` of `items`, and whether older ones were left out.
fn newest_within_count<T>(mut items: Vec<T>, count: usize) -> (Vec<T>, bool) {
    let dropped = items.len().saturating_sub(count);
    (items.split_off(dropped), dropped > 0)
}

/// The name a client used for `channel` when it asked for it by `raw`: the
/// `name #id` form if that is how it asked, else the stored name.
fn shown_name(channel: &Channel, raw: &str) -> String {
    match names::split_id_suffix(raw.trim()) {
        Some(_) => format!("{} #{}", channel.name, channel.id),
        None => channel.name.clone(),
    }
}

/// How a session ended.
enum SocketEnd {
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
struct RequestRefusal {
    code: ErrorCode,
    message: String,
}

impl RequestRefusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
}

/// Why a request did not succeed: refused (the session carries on), or the
/// session is over.
enum Failure {
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

impl From<HubError> for Failure {
    fn from(error: HubError) -> Self {
        Failure::Refused(RequestRefusal::new(error_code(&error), error.to_string()))
    }
}

impl From<AuthError> for Failure {
    fn from(error: AuthError) -> Self {
        Failure::Refused(RequestRefusal::new(auth_error_code(&error), error.to_string()))
    }
}

type Outcome = Result<Ack, Failure>;

fn done() -> Outcome {
    Ok(Ack { ok: true, ..Ack::default() })
}

type PendingSend = Pin<Box<dyn Future<Output = SendOutcome> + Send>>;

/// A message queued in the store, resolving after its commit.
type Committing = Pin<Box<dyn Future<Output = Result<Appended, HubError>> + Send>>;

struct SendOutcome {
    ack: Option<AckSender>,
    result: Result<Appended, HubError>,
}

/// How the socket got its user.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arrival {
    /// A session token at connect time.
    Authenticated,
    /// `new user` on this socket, as a guest.
    Named,
}

struct Identity {
    user: User,
    arrival: Arrival,
    registration: Registration,
}

/// The channel on the socket's screen.
struct Current {
    channel: Channel,
    /// The name the client knows it by (see `hub::names`): the stored name,
    /// or `name #id` when the user can see several of that name.
    name: String,
    /// The last seq shown; live messages at or below it are skipped, and a
    /// jump past it is filled from the store.
    cursor: Seq,
}

/// Reads that arrived before the socket had a name, answered after `new user`.
/// Bounded by construction: flags and one channel name.
#[derive(Default)]
struct Waiting {
    online_users: bool,
    channel_lists: BTreeSet<&'static str>,
    /// The latest `user changed channel`; earlier ones are superseded.
    switch: Option<String>,
}

struct SocketIoSession {
    shared: Arc<Shared>,
    socket: Arc<Socket>,
    peer: Option<IpAddr>,
    identity: Option<Identity>,
    /// Cancelled by the hub when the registration falls behind; a token that
    /// never fires until there is a registration.
    too_slow: CancellationToken,
    /// Cancelled when the login session the socket came with ends.
    session_ended: CancellationToken,
    current: Option<Current>,
    /// The name keys of the channels the user is in (but DMs), kept current
    /// by the hub's join and leave deliveries: which names are taken for
    /// this user when a new public channel is announced.
    member_keys: HashMap<ChannelId, [String; 2]>,
    /// The browser's Socket.IO secret (the `natter_sio` cookie), hashed:
    /// the only evidence that lets a reconnecting guest take its name back.
    guest_secret: Option<[u8; 32]>,
    waiting: Waiting,
    requests: TokenBucket,
}

impl SocketIoSession {
    fn new(shared: Arc<Shared>, socket: Arc<Socket>, peer: Option<IpAddr>) -> Self {
        let parts = socket.req_parts();
        let https = is_https(&shared.state, &parts.extensions, &parts.headers);
        let guest_secret = guest_cookie(&parts.headers, https).map(|secret| token_hash(&secret));
        Self {
            shared,
            socket,
            peer,
            identity: None,
            too_slow: CancellationToken::new(),
            session_ended: CancellationToken::new(),
            current: None,
            member_keys: HashMap::new(),
            guest_secret,
            waiting: Waiting::default(),
            requests: TokenBucket::new(REQUESTS_PER_SECOND, REQUEST_BURST),
        }
    }

    fn hub(&self) -> Arc<Hub> {
        Arc::clone(&self.shared.state.hub)
    }

    /// Serves the socket until it ends, then cleans up.
    async fn run(
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
        let hub = self.hub();
        let registration = hub.register_with(&user, session, INTERESTS);
        let connection = registration.id;
        self.adopt(user.clone(), registration, Arrival::Authenticated);
        let live =
            self.shared.state.accounts.session_is_live(session).await.map_err(|_| SocketEnd::Broken)?;
        if !live {
            return Err(SocketEnd::SessionEnded);
        }
        let channels = hub.channels_of(&user).await.map_err(|_| SocketEnd::Broken)?;
        hub.subscribe(connection, &channels);
        channels.iter().for_each(|view| self.remember_membership(view));
        Ok(())
    }

    fn remember_membership(&mut self, view: &ChannelView) {
        if view.channel.kind != ChannelKind::Direct {
            let name = &view.channel.name;
            self.member_keys.insert(view.channel.id, [name_key(name), look_key(name)]);
        }
    }

    fn adopt(&mut self, user: User, registration: Registration, arrival: Arrival) {
        tracing::debug!(user = user.id.0, "Socket.IO socket signed in");
        self.too_slow = registration.too_slow.clone();
        self.session_ended = registration.session_ended.clone();
        self.identity = Some(Identity { user, arrival, registration });
    }

    async fn serve(&mut self, inbox: &mut mpsc::Receiver<Inbound>, gone: &CancellationToken) -> SocketEnd {
        let mut pending: FuturesOrdered<PendingSend> = FuturesOrdered::new();
        let shutdown = self.shared.state.shutdown.clone();
        loop {
            let too_slow = self.too_slow.clone();
            let session_ended = self.session_ended.clone();
            let step = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return SocketEnd::ServerClosing,
                _ = gone.cancelled() => return SocketEnd::Gone,
                _ = too_slow.cancelled() => return SocketEnd::TooSlow,
                _ = session_ended.cancelled() => return SocketEnd::SessionEnded,
                Some(outcome) = pending.next(), if !pending.is_empty() => self.finish_send(outcome),
                Some(delivery) = next_delivery(&mut self.identity) => self.deliver(delivery).await,
                request = inbox.recv(), if pending.len() < MAX_SENDS_IN_FLIGHT => match request {
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
        let hub = self.hub();
        let grace = hub.limits().presence_grace;
        if let Some(identity) = &self.identity {
            // Recorded before the connection goes, so a reconnect cannot
            // find the name lingering without the record.
            if matches!(end, SocketEnd::Gone)
                && identity.arrival == Arrival::Named
                && let Some(secret) = self.guest_secret
            {
                self.shared.departures.record(identity.user.id, secret, grace);
            }
            hub.unregister(identity.registration.id);
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

    fn emit<T: Serialize + ?Sized>(&self, event: &str, payload: &T) -> Result<(), SocketEnd> {
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
    fn conclude(&self, event: &str, ack: Option<AckSender>, outcome: Outcome) -> Result<(), SocketEnd> {
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
            Event::Message(message) => {
                let Some(current) = &self.current else { return Ok(()) };
                if current.channel.id != message.channel || message.seq <= current.cursor {
                    return Ok(());
                }
                if message.seq.0 > current.cursor.0 + 1 {
                    self.catch_up(message.seq).await?;
                }
                let Some(current) = &mut self.current else { return Ok(()) };
                current.cursor = message.seq;
                // Tutorial pages know only chat: system lines (someone
                // joined or left) are passed over, their seq counted.
                if message.system.is_some() {
                    return Ok(());
                }
                // Shared by every socket that knows the channel by its
                // stored name; one that knows it as `name #id` gets its own.
                if current.name == current.channel.name {
                    let name = current.channel.name.clone();
                    let payload =
                        delivery.encoded(WireFormat::SocketIo, |event| socketio_payload(event, &name));
                    self.emit_encoded(NEW_MESSAGE, &payload)
                } else {
                    let name = current.name.clone();
                    self.emit(NEW_MESSAGE, &chat_message(message, &name))
                }
            }
            Event::Presence { user, online: true, .. } => {
                // This socket announced itself when it got its name.
                if self.identity.as_ref().is_some_and(|me| me.user.name == *user) {
                    return Ok(());
                }
                let payload = delivery.encoded(WireFormat::SocketIo, |event| socketio_payload(event, ""));
                self.emit_encoded(NEW_USER, &payload)
            }
            Event::Presence { online: false, .. } => {
                let payload = delivery.encoded(WireFormat::SocketIo, |event| socketio_payload(event, ""));
                self.emit_encoded(USER_HAS_LEFT, &payload)
            }
            Event::ChannelCreated(channel) => {
                // A channel this user is in with a name of the same key keeps
                // the plain name (`hub::names`): the newcomer is `name #id`.
                let keys = [name_key(&channel.name), look_key(&channel.name)];
                let namesake = self
                    .member_keys
                    .iter()
                    .any(|(id, known)| *id != channel.id && known.iter().any(|key| keys.contains(key)));
                if namesake {
                    self.emit(NEW_CHANNEL, &format!("{} #{}", channel.name, channel.id))
                } else {
                    let payload = delivery.encoded(WireFormat::SocketIo, |event| socketio_payload(event, ""));
                    self.emit_encoded(NEW_CHANNEL, &payload)
                }
            }
            Event::Left(channel) => {
                self.member_keys.remove(channel);
                if self.current.as_ref().is_some_and(|current| current.channel.id == *channel) {
                    self.current = None;
                }
                Ok(())
            }
            Event::Joined(view) => {
                self.remember_membership(view);
                Ok(())
            }
            Event::Typing { .. } | Event::Read { .. } => Ok(()),
        }
    }

    /// Emits the current channel's stored messages between its cursor and
    /// `until` (exclusive).
    async fn catch_up(&mut self, until: Seq) -> Result<(), SocketEnd> {
        let hub = self.hub();
        loop {
            let (Some(current), Some(me)) = (&self.current, &self.identity) else { return Ok(()) };
            let (channel, name, after) = (current.channel.clone(), current.name.clone(), current.cursor);
            if after.0 + 1 >= until.0 {
                return Ok(());
            }
            let page = match hub.messages_after(&me.user, channel.id, after).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, channel = channel.id.0, "cannot fill a gap; skipping it");
                    return Ok(());
                }
            };
            let full_page = page.len() as u32 >= FILL_PAGE;
            for message in page.iter().filter(|message| message.seq < until) {
                if message.system.is_none() {
                    self.emit(NEW_MESSAGE, &chat_message(message, &name))?;
                }
                if let Some(current) = &mut self.current {
                    current.cursor = message.seq;
                }
            }
            if !full_page || page.last().is_some_and(|message| message.seq >= until) {
                return Ok(());
            }
        }
    }

    /// Delivers whatever the hub has queued already.
    async fn drain_deliveries(&mut self) -> Result<(), SocketEnd> {
        while let Some(delivery) =
            self.identity.as_mut().and_then(|me| me.registration.deliveries.try_recv().ok())
        {
            self.deliver(delivery).await?;
        }
        Ok(())
    }

    // ----- requests -----------------------------------------------------------

    async fn handle(
        &mut self,
        request: Inbound,
        pending: &mut FuturesOrdered<PendingSend>,
    ) -> Result<(), SocketEnd> {
        let Inbound { event, payload, ack } = request;
        // Every event draws on the socket's budget, except a `new message` to
        // the channel on screen: that costs no lookup, and the hub limits
        // messages per user. One to another channel costs store lookups even
        // when it is refused, so it pays.
        let to_current_channel = event == NEW_MESSAGE && self.names_current_channel(&payload);
        // Reads also draw on the budgets all of the user's and the
        // address's connections share.
        let read = event == USER_CHANGED_CHANNEL || CHANNEL_LIST_EVENTS.contains(&event.as_str());
        let shared_budget_spent = read
            && match (&self.identity, self.peer) {
                (Some(me), Some(address)) => !self.shared.state.reads.take(me.user.id, address),
                _ => false,
            };
        if (!to_current_channel && !self.requests.try_take()) || shared_budget_spent {
            let refusal = RequestRefusal::new(ErrorCode::RateLimited, "too many requests; slow down");
            return self.conclude(&event, ack, Err(refusal.into()));
        }
        if event == NEW_MESSAGE {
            return match self.new_message(payload).await {
                Ok(committed) => {
                    pending.push_back(Box::pin(async move { SendOutcome { ack, result: committed.await } }));
                    Ok(())
                }
                Err(failure) => self.conclude(&event, ack, Err(failure)),
            };
        }
        let outcome = match event.as_str() {
            NEW_USER => self.new_user(payload, ack.is_some()).await,
            GET_ONLINE_USERS => self.get_online_users(),
            NEW_CHANNEL => self.new_channel(payload).await,
            USER_CHANGED_CHANNEL => self.change_channel(payload).await,
            listing => match CHANNEL_LIST_EVENTS.iter().find(|name| **name == listing) {
                Some(listing) => self.list_channels(listing).await,
                None => {
                    let shown: String = event.chars().take(40).collect();
                    Err(RequestRefusal::new(ErrorCode::UnknownEvent, format!("unknown event {shown:?}"))
                        .into())
                }
            },
        };
        self.conclude(&event, ack, outcome)
    }

    fn signed_in(&self) -> Result<&User, RequestRefusal> {
        match &self.identity {
            Some(identity) => Ok(&identity.user),
            None => {
                Err(RequestRefusal::new(ErrorCode::Unauthorized, "choose a name first (new user), or log in"))
            }
        }
    }

    /// `new user`: names a guest, then answers the reads that waited.
    async fn new_user(&mut self, payload: serde_json::Value, wants_token: bool) -> Outcome {
        let serde_json::Value::String(raw) = payload else {
            return Err(RequestRefusal::bad_request("new user takes the username as a string").into());
        };
        let name = raw.trim();
        if let Some(me) = &self.identity {
            if me.user.name.eq_ignore_ascii_case(name) {
                return Ok(Ack { ok: true, user: Some(user_info(&me.user)), ..Ack::default() });
            }
            let message = format!("this connection is already signed in as {}", me.user.name);
            return Err(RequestRefusal::new(ErrorCode::AlreadyNamed, message).into());
        }
        let hub = self.hub();
        let accounts = Arc::clone(&self.shared.state.accounts);
        let grace = hub.limits().presence_grace;
        let names = accounts.guest_names().await;
        // The same client coming back within the grace period takes its own
        // guest user back, conversations and all, with no store write. Anyone
        // else gets the name as a new guest user, and only if nobody online
        // holds it: the handover never touches someone who is still here.
        let holder = accounts.existing_guest(name).await?;
        let returning = holder.filter(|holder| {
            self.guest_secret.is_some_and(|secret| self.shared.departures.is_recent(holder.id, secret, grace))
        });
        let (user, registration) = match returning {
            Some(holder) => match hub.claim(&holder, NO_SESSION, INTERESTS, true) {
                Ok(registration) => {
                    tracing::info!(user = holder.id.0, "guest name reclaimed after a reconnect");
                    (holder, registration)
                }
                Err(ClaimError::InUse) => return Err(AuthError::NameInUse.into()),
            },
            None => {
                if hub.is_online(name) {
                    return Err(AuthError::NameInUse.into());
                }
                let client = self.peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                let user = accounts.hand_over_guest(client, name).await?;
                match hub.claim(&user, NO_SESSION, INTERESTS, false) {
                    Ok(registration) => (user, registration),
                    Err(ClaimError::InUse) => return Err(AuthError::NameInUse.into()),
                }
            }
        };
        drop(names);
        self.shared.departures.forget(user.id);
        // Adopted before anything else can fail, so the registration is
        // always released when the socket ends.
        let connection = registration.id;
        self.adopt(user.clone(), registration, Arrival::Named);
        let channels = hub.channels_of(&user).await?;
        hub.subscribe(connection, &channels);
        channels.iter().for_each(|view| self.remember_membership(view));

        // In the tutorial's page-load order: the others online, then this
        // user (its clients append both to one list), then channels.
        if std::mem::take(&mut self.waiting.online_users) {
            let names = hub.online_users();
            let others = names.iter().filter(|other| !other.eq_ignore_ascii_case(&user.name));
            self.emit(GET_ONLINE_USERS, &online_users(others))?;
        }
        self.emit(NEW_USER, &user.name)?;
        for listing in std::mem::take(&mut self.waiting.channel_lists) {
            let outcome = self.list_channels(listing).await;
            self.conclude(listing, None, outcome)?;
        }
        if let Some(channel) = self.waiting.switch.take() {
            let outcome = self.switch_by_name(&channel).await;
            self.conclude(USER_CHANGED_CHANNEL, None, outcome)?;
        }
        // Only a client that asked for an ack can keep the token.
        let token = match wants_token {
            true => match accounts.session_for(user.clone()).await {
                Ok(session) => {
                    // Logging this token out must close this socket too.
                    hub.attach_session(connection, token_hash(&session.token));
                    Some(session.token)
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot issue a guest session; the name stays without one");
                    None
                }
            },
            false => None,
        };
        Ok(Ack { ok: true, user: Some(user_info(&user)), token, ..Ack::default() })
    }

    fn get_online_users(&mut self) -> Outcome {
        if self.identity.is_none() {
            self.waiting.online_users = true;
            return done();
        }
        let names = self.hub().online_users();
        self.emit(GET_ONLINE_USERS, &online_users(names.iter()))?;
        done()
    }

    async fn list_channels(&mut self, listing: &'static str) -> Outcome {
        let Some(me) = &self.identity else {
            self.waiting.channel_lists.insert(listing);
            return done();
        };
        let channels = self.hub().visible_channels(&me.user, LISTED_PUBLIC_CHANNELS).await?;
        let names: Vec<&str> = channels.iter().map(|(_, name)| name.as_str()).collect();
        // One event of at most the reply budget: the oldest channels first.
        let (names, _left_out) = first_within(names, LIST_BUDGET);
        self.emit(listing, &names)?;
        done()
    }

    async fn change_channel(&mut self, payload: serde_json::Value) -> Outcome {
        let serde_json::Value::String(name) = payload else {
            return Err(RequestRefusal::bad_request(
                "user changed channel takes the channel name as a string",
            )
            .into());
        };
        if self.identity.is_none() {
            self.waiting.switch = Some(name);
            return done();
        }
        self.switch_by_name(&name).await
    }

    async fn switch_by_name(&mut self, raw: &str) -> Outcome {
        let user = self.signed_in()?.clone();
        let channel = self.hub().resolve_channel_name(&user, raw.trim()).await?;
        let name = shown_name(&channel, raw);
        self.switch_to(&user, channel, name).await
    }

    /// Makes `channel` the one on screen, known to the client as `name`:
    /// joins it if needed and sends its latest history, oldest first.
    async fn switch_to(&mut self, user: &User, channel: Channel, name: String) -> Outcome {
        let hub = self.hub();
        hub.enter(user, &channel).await?;
        // Twice the page: system lines (not shown here) should not shorten it.
        let (messages, has_more) = hub.history(user, channel.id, None, HISTORY_PAGE * 2).await?;
        // The cursor counts system lines, which tutorial pages are not shown.
        let cursor = messages.last().map_or(Seq(0), |message| message.seq);
        let messages: Vec<ChatMessage> = messages
            .iter()
            .filter(|message| message.system.is_none())
            .map(|message| chat_message(message, &name))
            .collect();
        let (messages, more_than_a_page) = newest_within_count(messages, HISTORY_PAGE as usize);
        let (messages, cut) = newest_within(messages, LIST_BUDGET);
        let cut = cut || more_than_a_page;
        let history = ChannelHistory { channel: name.clone(), messages, has_more: has_more || cut };
        self.current = Some(Current { channel, name, cursor });
        self.emit(USER_CHANGED_CHANNEL, &history)?;
        done()
    }

    async fn new_channel(&mut self, payload: serde_json::Value) -> Outcome {
        let serde_json::Value::String(raw) = payload else {
            return Err(RequestRefusal::bad_request("new channel takes the channel name as a string").into());
        };
        let user = self.signed_in()?.clone();
        let name =
            ChannelName::parse(&raw).map_err(|why| RequestRefusal::new(ErrorCode::InvalidName, why))?;
        match self.hub().create_channel(&user, &name, false).await {
            Ok(view) => {
                // A new channel's announcement is queued already: show it
                // first, so the client knows the channel before it is
                // switched into it.
                self.drain_deliveries().await?;
                let shown = view.channel.name.clone();
                self.switch_to(&user, view.channel, shown).await
            }
            // The tutorial's "new channel" with an existing public name
            // switches to it, as the tutorial does. A private channel is
            // never the answer to "create a (public) channel": the user may
            // have been put in someone else's and think theirs is new, so
            // that is refused with `channel_exists`, like on `/ws`.
            Err(HubError::ChannelExists(_)) => {
                let existing = self.hub().resolve_channel_name(&user, name.as_str()).await?;
                if existing.kind == ChannelKind::Public {
                    let shown = existing.name.clone();
                    self.switch_to(&user, existing, shown).await
                } else {
                    Err(HubError::ChannelExists(existing).into())
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Validates a `new message` and queues it; the returned future resolves
    /// after the commit. Requests are handled one at a time, so a socket's
    /// messages are queued, and stored, in the order it sent them.
    /// Whether a `new message` payload names the channel on screen.
    fn names_current_channel(&self, payload: &serde_json::Value) -> bool {
        let named = payload.get("channel").and_then(|channel| channel.as_str()).map(str::trim);
        matches!((&self.current, named), (Some(current), Some(named)) if current.name.eq_ignore_ascii_case(named))
    }

    async fn new_message(&mut self, payload: serde_json::Value) -> Result<Committing, Failure> {
        let user = self.signed_in()?.clone();
        if payload.is_null() {
            return Err(RequestRefusal::bad_request("new message takes {message, channel}").into());
        }
        let input: NewMessage = serde_json::from_value(payload).map_err(|error| {
            RequestRefusal::bad_request(format!("new message takes {{message, channel}}: {error}"))
        })?;
        let body = MessageBody::parse(input.message)
            .map_err(|why| RequestRefusal::new(ErrorCode::InvalidBody, why))?;
        let client_id = match input.client_id {
            Some(raw) => {
                ClientId::parse(raw).map_err(|why| RequestRefusal::new(ErrorCode::InvalidClientId, why))?
            }
            None => generated_client_id(),
        };
        let channel = match &self.current {
            Some(current) if current.name.eq_ignore_ascii_case(input.channel.trim()) => current.channel.id,
            _ => self.hub().resolve_channel_name(&user, input.channel.trim()).await?.id,
        };
        let hub = self.hub();
        Ok(Box::pin(hub.post(&user, channel, client_id, body)))
    }

    fn finish_send(&self, outcome: SendOutcome) -> Result<(), SocketEnd> {
        let result = outcome.result.map(|appended| Ack {
            ok: true,
            id: Some(appended.message.id.0),
            seq: Some(appended.message.seq.0),
            ..Ack::default()
        });
        self.conclude(NEW_MESSAGE, outcome.ack, result.map_err(Failure::from))
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

/// An idempotency key for a client that sent none (the tutorial's never do):
/// random, so it never collides with the sender's others.
fn generated_client_id() -> ClientId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    ClientId::parse(format!("sio-{hex}")).expect("36 printable characters make a valid client id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_bundle_is_the_version_named() {
        let banner = std::str::from_utf8(&CLIENT_BUNDLE[..200]).expect("the banner is text");
        assert!(banner.contains(&format!("Socket.IO v{CLIENT_VERSION}")), "{banner}");
        assert!(CLIENT_VERSION.starts_with("4."), "Socket.IO v5 protocol clients are 4.x");
    }

    #[test]
    fn departures_match_the_browser_secret_and_age() {
        let departures = Departures::default();
        let (user, home, elsewhere) = (UserId(7), [1u8; 32], [2u8; 32]);
        let grace = Duration::from_secs(5);
        assert!(!departures.is_recent(user, home, grace));
        departures.record(user, home, grace);
        assert!(departures.is_recent(user, home, grace));
        assert!(!departures.is_recent(user, elsewhere, grace));
        assert!(!departures.is_recent(user, home, Duration::ZERO), "expired");
        departures.forget(user);
        assert!(!departures.is_recent(user, home, grace));
    }

    #[test]
    fn over_https_only_the_host_only_guest_cookie_counts() {
        let (plain, host_only) = ("a".repeat(SECRET_CHARS), "b".repeat(SECRET_CHARS));
        let mut headers = HeaderMap::new();
        let both = format!("natter_sio={plain}; __Host-natter_sio={host_only}");
        headers.insert(header::COOKIE, HeaderValue::from_str(&both).unwrap());
        assert_eq!(guest_cookie(&headers, false), Some(plain.clone()));
        assert_eq!(guest_cookie(&headers, true), Some(host_only), "a planted plain cookie is ignored");
        let mut planted_only = HeaderMap::new();
        planted_only.insert(header::COOKIE, HeaderValue::from_str(&format!("natter_sio={plain}")).unwrap());
        assert_eq!(guest_cookie(&planted_only, true), None);
        let mut short = HeaderMap::new();
        short.insert(header::COOKIE, HeaderValue::from_static("natter_sio=abc"));
        assert_eq!(guest_cookie(&short, false), None, "only well-formed secrets");
    }

    #[test]
    fn generated_client_ids_are_valid_and_distinct() {
        let (a, b) = (generated_client_id().into_string(), generated_client_id().into_string());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
    }
}
