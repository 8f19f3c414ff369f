//! The HTTP account API: register, login, guest, logout, me. Also where a
//! request's session token is found (cookie, bearer header or `?token=`).
//!
//! [`ApiError`] is the one translation of failures into HTTP responses.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use headers::authorization::Bearer;
use headers::{Authorization, HeaderMapExt};
use serde::de::DeserializeOwned;

use super::AppState;
use super::client::{ClientAddress, ReachedOverHttps};
use super::convert::user_info;
use crate::auth::{AuthError, Origin, Session, token_hash};
use crate::protocol::http::{
    Credentials, ErrorDetail, ErrorResponse, GuestRequest, MeResponse, Registration, SessionResponse,
};

/// The cookie that carries a browser's session token over plain HTTP.
pub(super) const SESSION_COOKIE: &str = "natter_session";
/// The same cookie when the browser reached the server over HTTPS (a
/// trusted proxy said so): `Secure`, and the `__Host-` prefix makes the
/// browser refuse it unless it is `Secure`, host-only and `Path=/`, so
/// neither a plain-HTTP page nor a sibling subdomain can plant or
/// overwrite it.
pub(super) const SECURE_SESSION_COOKIE: &str = "__Host-natter_session";

pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorResponse { error: ErrorDetail { code: self.code.into(), message: self.message } };
        (self.status, Json(body)).into_response()
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let (status, code) = match &error {
            AuthError::InvalidUsername(_) => (StatusCode::BAD_REQUEST, "invalid_username"),
            AuthError::InvalidPassword(_) => (StatusCode::BAD_REQUEST, "invalid_password"),
            AuthError::NameTaken => (StatusCode::CONFLICT, "name_taken"),
            AuthError::NameInUse => (StatusCode::CONFLICT, "name_in_use"),
            AuthError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            AuthError::GuestsDisabled => (StatusCode::FORBIDDEN, "guests_disabled"),
            AuthError::Deactivated => (StatusCode::FORBIDDEN, "deactivated"),
            AuthError::RegistrationClosed(_) => (StatusCode::FORBIDDEN, "registration_closed"),
            AuthError::InvalidInvite => (StatusCode::FORBIDDEN, "invalid_invite"),
            AuthError::InvalidReset => (StatusCode::FORBIDDEN, "invalid_reset"),
            AuthError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AuthError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        ApiError::new(status, code, error.to_string())
    }
}

/// Parses a JSON body into `T`, answering malformed input with a clear 400.
/// The body must be declared JSON: a cross-site HTML form can only send
/// form or plain-text bodies, so this stops login CSRF (a foreign page
/// signing the browser in as someone else).
pub(super) fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    let declared_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"));
    if !declared_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send JSON with Content-Type: application/json",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("invalid JSON body: {e}")))
}

/// A new session as a response: the token in the body for API clients, and
/// in an HttpOnly cookie for browsers, which then never handle it in script.
/// Where a sign-in comes from: its address and browser.
pub(super) fn origin_of(client: std::net::IpAddr, headers: &HeaderMap) -> Origin {
    let device = headers.get(header::USER_AGENT).and_then(|agent| agent.to_str().ok()).map(str::to_owned);
    Origin { address: client, device }
}

pub(super) fn session_response(
    state: &AppState,
    status: StatusCode,
    https: bool,
    session: Session,
) -> Response {
    let max_age_secs = state.app.limits().session_ttl.as_secs();
    let cookie = session_cookie(https, &session.token, max_age_secs);
    let body = SessionResponse { token: session.token, user: user_info(&session.user) };
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The `Set-Cookie` value for a session token (empty with `Max-Age=0` to
/// clear it): `__Host-` and `Secure` over HTTPS, the plain name otherwise.
fn session_cookie(https: bool, token: &str, max_age_secs: u64) -> String {
    let attributes = format!("HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}");
    if https {
        format!("{SECURE_SESSION_COOKIE}={token}; Secure; {attributes}")
    } else {
        format!("{SESSION_COOKIE}={token}; {attributes}")
    }
}

pub(super) async fn register(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ReachedOverHttps(https): ReachedOverHttps,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: Registration = parse_body(&headers, &body)?;
    let invite = request.invite.as_deref();
    let origin = origin_of(client, &headers);
    let session = state.accounts.register(&origin, &request.username, &request.password, invite).await?;
    Ok(session_response(&state, StatusCode::CREATED, https, session))
}

pub(super) async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ReachedOverHttps(https): ReachedOverHttps,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let credentials: Credentials = parse_body(&headers, &body)?;
    let origin = origin_of(client, &headers);
    let session = state.accounts.login(&origin, &credentials.username, &credentials.password).await?;
    Ok(session_response(&state, StatusCode::OK, https, session))
}

pub(super) async fn guest(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ReachedOverHttps(https): ReachedOverHttps,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: GuestRequest = parse_body(&headers, &body)?;
    let hub = state.app.hub();
    let origin = origin_of(client, &headers);
    let session = state.accounts.guest(&origin, &request.username, |name| hub.is_online(name)).await?;
    Ok(session_response(&state, StatusCode::OK, https, session))
}

pub(super) async fn logout(
    State(state): State<AppState>,
    ReachedOverHttps(https): ReachedOverHttps,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = session_token(&headers, None, https) {
        state.accounts.logout(&token).await?;
        state.app.end_sessions(vec![token_hash(&token)]);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    // Both names, as a browser may still hold one set before the server
    // learned it is behind HTTPS (a `Secure` cookie can only be cleared over
    // HTTPS, so that one only then).
    let clear = [Some(session_cookie(false, "", 0)), https.then(|| session_cookie(true, "", 0))];
    for cookie in clear.into_iter().flatten() {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

pub(super) async fn me(
    State(state): State<AppState>,
    ReachedOverHttps(https): ReachedOverHttps,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = session_token(&headers, None, https).ok_or_else(unauthorized)?;
    let user = state.accounts.authenticate(&token).await?.ok_or_else(unauthorized)?;
    let admin = state.app.is_admin(&user).await.map_err(|_| ApiError::from(AuthError::Unavailable))?;
    Ok(Json(MeResponse { user: user_info(&user), admin }).into_response())
}

pub(super) fn unauthorized() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "log in first")
}

/// The session token of a request: `Authorization: Bearer`, then the
/// `?token=` query value (for clients that cannot set headers on a WebSocket),
/// then the session cookie.
pub(super) fn session_token(headers: &HeaderMap, query_token: Option<&str>, https: bool) -> Option<String> {
    let explicit = bearer_token(headers).or_else(|| query_token.filter(|t| !t.is_empty()).map(str::to_owned));
    explicit.or_else(|| cookie_token(headers, https))
}

/// The token of an `Authorization: Bearer` header (the scheme in any case,
/// as HTTP has it).
pub(super) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let Authorization(bearer) = headers.typed_get::<Authorization<Bearer>>()?;
    Some(bearer.token().trim()).filter(|token| !token.is_empty()).map(str::to_owned)
}

/// Every `name=value` pair of the request's `Cookie` headers, in order
/// (values as sent: natter never encodes the ones it sets).
pub(super) fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
}

/// The token in the session cookie. Over HTTPS only the `__Host-` one
/// counts: another host of the domain (or anyone on a plain-HTTP path) could
/// have planted a plain one, signing the browser into their account. Over
/// HTTP the plain one, or a `__Host-` one left from HTTPS.
pub(super) fn cookie_token(headers: &HeaderMap, https: bool) -> Option<String> {
    let cookie = |wanted: &str| {
        cookies(headers)
            .find(|(name, _)| *name == wanted)
            .map(|(_, value)| value)
            .filter(|token| !token.is_empty())
            .map(str::to_owned)
    };
    match https {
        true => cookie(SECURE_SESSION_COOKIE),
        false => cookie(SECURE_SESSION_COOKIE).or_else(|| cookie(SESSION_COOKIE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tokens_in_order_of_precedence() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; natter_session=cookie-token"));
        assert_eq!(session_token(&headers, None, false).as_deref(), Some("cookie-token"));
        assert_eq!(session_token(&headers, Some("query-token"), false).as_deref(), Some("query-token"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer bearer-token"));
        assert_eq!(session_token(&headers, Some("query-token"), false).as_deref(), Some("bearer-token"));
        assert_eq!(session_token(&HeaderMap::new(), None, false), None);
    }

    #[test]
    fn reads_a_bearer_token_whatever_the_case_of_the_scheme() {
        let bearer = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            bearer_token(&headers)
        };
        assert_eq!(bearer("Bearer t").as_deref(), Some("t"));
        assert_eq!(bearer("bearer  t ").as_deref(), Some("t"));
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearert"), None);
        assert_eq!(bearer("Basic dDp0"), None);
    }

    #[test]
    fn reads_the_secure_cookie_before_the_plain_one() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("natter_session=old; __Host-natter_session=new"),
        );
        assert_eq!(cookie_token(&headers, false).as_deref(), Some("new"));
        headers.insert(header::COOKIE, HeaderValue::from_static("natter_session=old"));
        assert_eq!(cookie_token(&headers, false).as_deref(), Some("old"));
        // Over HTTPS a plain cookie (which another host could have planted)
        // does not count.
        assert_eq!(cookie_token(&headers, true), None);
    }

    #[test]
    fn the_cookie_is_secure_with_the_host_prefix_over_https_only() {
        let secure = session_cookie(true, "t", 60);
        assert!(secure.starts_with("__Host-natter_session=t; Secure;") && secure.contains("Path=/"));
        assert!(!secure.contains("Domain"), "__Host- cookies are host-only");
        let plain = session_cookie(false, "t", 60);
        assert!(plain.starts_with("natter_session=t;") && !plain.contains("Secure"));
    }
}
