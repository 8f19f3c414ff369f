//! A WebSocket echo endpoint, served only with `--ws-echo`, so the Autobahn
//! conformance suite (which expects an echo server) can exercise the exact
//! WebSocket stack and configuration that `/ws` uses: same buffers, same
//! frame and message limits, same close codes for violations. It needs no
//! session and touches no chat state.

use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::Response;

use super::AppState;
use super::admission::SessionPermit;
use super::ws::{End, close, configure, end_for_error};

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
    configure(upgrade, state.hub.limits()).on_upgrade(move |socket| {
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
