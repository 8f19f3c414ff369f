//! HTTP in front of socketioxide: the vendored client bundle, the Origin
//! rule of `/ws` on both transports, CORS for allowed origins, and the
//! browser's guest cookie (see `departures`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::super::AppState;
use super::super::api::{ApiError, cookies};
use super::super::client::{client_address, is_https};
use super::super::ws::origin_allowed;
use super::SOCKETIO_PATH;

/// The official browser client, vendored from the `socket.io-client` npm
/// package (same major version as the protocol spoken here), served as the
/// Node server serves it so tutorial pages that load it by path work.
const CLIENT_BUNDLE: &[u8] = include_bytes!("../../../vendor/socket.io-client/socket.io.min.js");
/// The vendored bundle's version; its banner says the same (a test checks).
const CLIENT_VERSION: &str = "4.8.4";
/// Where the bundle is served. The Node server answers both names.
const CLIENT_BUNDLE_PATHS: [&str; 2] = ["/socket.io/socket.io.js", "/socket.io/socket.io.min.js"];
/// In front of socketioxide: serves the client bundle, refuses foreign
/// origins (polling and WebSocket alike), and answers CORS for allowed ones.
pub(in crate::server) async fn edge(State(state): State<AppState>, request: Request, next: Next) -> Response {
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
pub(super) fn guest_cookie(headers: &HeaderMap, https: bool) -> Option<String> {
    let wanted = guest_cookie_name(https);
    cookies(headers)
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_vendored_bundle_is_the_version_named() {
        let banner = std::str::from_utf8(&CLIENT_BUNDLE[..200]).expect("the banner is text");
        assert!(banner.contains(&format!("Socket.IO v{CLIENT_VERSION}")), "{banner}");
        assert!(CLIENT_VERSION.starts_with("4."), "Socket.IO v5 protocol clients are 4.x");
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
}
