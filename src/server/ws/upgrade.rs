//! The way into a native session: the HTTP upgrade (origin and session
//! checks), the one WebSocket configuration (small buffers, size limits),
//! and the way out (close codes, the closing handshake).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite;
use tracing::Instrument;

use super::super::AppState;
use super::super::admission::{Refusal, SessionPermit};
use super::super::api::{ApiError, session_token, unauthorized};
use super::super::client::{ClientAddress, ReachedOverHttps};
use super::{Opening, run_session};
use crate::auth::token_hash;
use crate::limits::Limits;

/// Read buffer per connection, held for the connection's life (tungstenite
/// allocates it up front; its default is 128 KiB). Requests are small: a
/// typical `send` fits in one read, a larger frame grows the buffer to fit
/// it, and every idle connection holds this much, so it is small. Reads
/// also zero the part of the buffer they use, so a small one costs less per
/// read.
const READ_BUFFER_BYTES: usize = 512;
/// Frames are buffered up to this size before being written, so a burst of
/// deliveries goes out in few syscalls.
const WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// How long closing waits for the peer to answer our close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

pub(in crate::server) async fn upgrade(
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
    let upgrade = configure(upgrade, state.app.limits());
    // axum keeps the callback for the connection's whole life: it captures
    // one box, not the session's parts.
    let accepted = Box::new((state, user, token_hash(&token), address, permit));
    upgrade.on_upgrade(move |socket| {
        let (state, user, session_key, address, permit) = *accepted;
        // A debug span: entered on every poll when enabled, which costs
        // more than it tells at the default level.
        let span = tracing::debug_span!("session", user = user.id.0);
        let opening = Opening { socket, state, user, session_key, address, permit };
        sessions.track_future(run_session(Box::new(opening)).instrument(span))
    })
}

/// The one WebSocket configuration: small buffers and the frame limits.
/// Every WebSocket endpoint uses it, so the conformance suite run against
/// the echo endpoint speaks for `/ws` too.
pub(in crate::server) fn configure(upgrade: WebSocketUpgrade, limits: &Limits) -> WebSocketUpgrade {
    configure_with_message_limit(upgrade, limits.max_frame_bytes)
}

/// [`configure`] with another message and frame limit (the echo endpoint's).
pub(in crate::server) fn configure_with_message_limit(
    upgrade: WebSocketUpgrade,
    max_bytes: usize,
) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(max_bytes * 4)
        .max_message_size(max_bytes)
        .max_frame_size(max_bytes)
}

pub(in crate::server) fn refusal_response(refusal: Refusal) -> Response {
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
pub(in crate::server) fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
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
pub(in crate::server) enum End {
    /// The peer closed, vanished or could not be written to.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

/// Maps a read error to how the session ends: the WebSocket close codes for
/// oversize (1009), bad UTF-8 (1007) and protocol violations (1002).
pub(in crate::server) fn end_for_error(error: axum::Error) -> End {
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
pub(in crate::server) async fn close(socket: &mut WebSocket, end: End) {
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
