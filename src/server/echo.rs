//! A WebSocket echo endpoint, served only with `--ws-echo`, so the Autobahn
//! conformance suite (which expects an echo server) can exercise the
//! WebSocket stack and configuration that `/ws` uses: same read buffer,
//! same close codes for violations. Only the message limit (and with it the
//! most the write buffer may hold, four messages) differs: Autobahn's
//! section 9 echoes messages of up to 16 MiB, which `/ws` rightly refuses
//! (1009 above 64 KiB, tested on its own), so the echo takes 16 MiB and the
//! suite is judged on its own terms. It needs no session and touches no
//! chat state.

use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::Response;

use super::AppState;
use super::admission::SessionPermit;
use super::ws::{End, close, configure_with_message_limit, end_for_error};

/// The largest message Autobahn's performance cases (section 9) send.
const ECHO_MAX_BYTES: usize = 16 * 1024 * 1024;

pub(super) async fn upgrade(
    State(state): State<AppState>,
    permit: Result<SessionPermit, Response>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let permit = match permit {
        Ok(permit) => permit,
        Err(refused) => return refused,
    };
    let sessions = state.sessions.clone();
    configure_with_message_limit(upgrade, ECHO_MAX_BYTES).on_upgrade(move |socket| {
        sessions.track_future(async move {
            echo(socket).await;
            drop(permit);
        })
    })
}

async fn echo(mut socket: WebSocket) {
    let end = loop {
        match socket.recv().await {
            Some(Ok(frame @ (WsMessage::Text(_) | WsMessage::Binary(_)))) => {
                if socket.send(frame).await.is_err() {
                    break End::Gone;
                }
            }
            Some(Ok(WsMessage::Close(_))) | None => break End::Gone,
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
            Some(Err(error)) => break end_for_error(error),
        }
    };
    close(&mut socket, end).await;
}
