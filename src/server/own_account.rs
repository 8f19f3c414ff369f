//! The HTTP API of one's own account: change the password, see and end
//! sessions, and set a password with a reset link. Every session these end
//! has its connections closed, on every node (`App::end_sessions`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::api::{ApiError, origin_of, parse_body, session_response, session_token, unauthorized};
use super::client::{ClientAddress, ReachedOverHttps};
use crate::auth::{session_id, token_hash};
use crate::model::User;
use crate::protocol::http::{EndSession, PasswordChange, PasswordReset, SessionInfo, SessionsResponse};

/// The signed-in user of a request and their session's key.
pub(super) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    https: bool,
) -> Result<(User, [u8; 32]), ApiError> {
    let token = session_token(headers, None, https).ok_or_else(unauthorized)?;
    let user = state.accounts.authenticate(&token).await?.ok_or_else(unauthorized)?;
    Ok((user, token_hash(&token)))
}

pub(super) async fn change_password(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ReachedOverHttps(https): ReachedOverHttps,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (user, session) = signed_in(&state, &headers, https).await?;
    let request: PasswordChange = parse_body(&headers, &body)?;
    let origin = origin_of(client, &headers);
    let ended = state
        .accounts
        .change_password(
            &origin,
            &user,
            session,
            &request.current,
            &request.password,
            request.end_other_sessions,
        )
        .await?;
    state.app.end_sessions(ended);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn sessions(
    State(state): State<AppState>,
    ReachedOverHttps(https): ReachedOverHttps,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (user, current) = signed_in(&state, &headers, https).await?;
    let sessions = state
        .accounts
        .sessions(&user)
        .await?
        .into_iter()
        .map(|session| SessionInfo {
            id: session_id(&session.key),
            device: session.device,
            address: session.address,
            created: session.created_ms,
            last_used: session.last_used_ms,
            expires: session.expires_ms,
            current: session.key == current,
        })
        .collect();
    Ok(Json(SessionsResponse { sessions }).into_response())
}

pub(super) async fn end_session(
    State(state): State<AppState>,
    ReachedOverHttps(https): ReachedOverHttps,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (user, _) = signed_in(&state, &headers, https).await?;
    let request: EndSession = parse_body(&headers, &body)?;
    match state.accounts.end_session(&user, &request.id).await? {
        Some(key) => {
            state.app.end_sessions(vec![key]);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "you have no session with that id")),
    }
}

pub(super) async fn reset_password(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ReachedOverHttps(https): ReachedOverHttps,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: PasswordReset = parse_body(&headers, &body)?;
    let origin = origin_of(client, &headers);
    let (session, ended) = state.accounts.reset_password(&origin, &request.token, &request.password).await?;
    state.app.end_sessions(ended);
    Ok(session_response(&state, StatusCode::OK, https, session))
}
