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
//! requests, the request budget per socket (`Limits`, as on `/ws`), the
//! message rate per user, and the transport buffer (full means too slow:
//! the socket is closed).
//!
//! The parts: `edge` (HTTP in front of socketioxide: the client bundle,
//! Origin, CORS, the browser's guest cookie), this module (admission and
//! the per-socket task's start), `session` (one socket's task: deliveries
//! and output, on the shared session core), `requests` (the tutorial's
//! events), `departures` (who may take a guest name back).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use socketioxide::SocketIo;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, Event as EventName, TryData};
use socketioxide::handler::{ConnectHandler, FromConnectParts, FromMessageParts, MessageHandler, Value};
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::Socket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::AppState;
use super::admission::{self, SessionPermit};
use super::api::{bearer_token, cookie_token};
use super::client::{client_address, is_https};
use crate::auth::token_hash;
use crate::hub::{Interests, SessionKey};
use crate::model::User;
use crate::protocol::ErrorCode;
use crate::protocol::socketio::{Auth, ERROR, ErrorEvent};

mod departures;
mod edge;
mod requests;
mod session;

use departures::Departures;
pub(super) use edge::edge;
use session::SocketIoSession;

/// socketioxide's path (it serves `/socket.io/` and everything below).
const SOCKETIO_PATH: &str = "/socket.io";

/// Requests a socket may have queued before its task handles them. At the
/// bound, further ones are answered `rate_limited` at once and dropped.
const MAX_QUEUED_REQUESTS: usize = 64;
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
/// Engine.IO handshakes one client address may open per second, sustained,
/// and in a burst. Generous for people (a tab opens one per connection and
/// reconnect), tight enough that handshakes abandoned before joining (each
/// held until [`CONNECT_TIMEOUT`]) stay bounded.
pub(super) const HANDSHAKES_PER_SECOND: f64 = 50.0;
pub(super) const HANDSHAKE_BURST: f64 = 500.0;
/// Most public channels a Socket.IO channel list names (besides the
/// user's own channels); tutorial clients take the list in one event.
const LISTED_PUBLIC_CHANNELS: u32 = 1_000;
/// Socket.IO connections hear of new public channels (`new channel`), and
/// of the one channel they show (subscribed as they switch).
const INTERESTS: Interests =
    Interests { announcements: true, follows_memberships: false, watched_presence: false };

/// Builds the Socket.IO layer for the router, and the handle that closes all
/// sockets at shutdown.
pub(super) fn endpoint(state: &AppState) -> (SocketIoLayer, SocketIo) {
    let limits = state.app.limits();
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
        let span = tracing::debug_span!("socketio", sid = %socket.id);
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
