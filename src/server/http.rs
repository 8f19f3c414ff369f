//! The router: routes, security headers, body and time limits, and the two
//! operational endpoints (`/healthz`, `/metrics`, the latter on its own
//! listener when one is given).

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use socketioxide::layer::SocketIoLayer;

use super::{AppState, api, echo, files, own_account, socketio, web, ws};
use crate::limits::Limits;

/// Longest an HTTP request may take. WebSocket sessions are not requests once
/// upgraded, so this does not bound them.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest `/healthz` waits for the store before it answers 503.
const HEALTH_DEADLINE: Duration = Duration::from_secs(3);

/// The page may load only its own scripts, styles and sockets: user text that
/// slipped into markup still could not run.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'; object-src 'none'";

/// The routes, wrapped in the Socket.IO layer (which takes `/socket.io/`
/// before the request timeout, as long-polls outlast it) and, outermost, the
/// Socket.IO edge (client bundle and Origin check).
pub(super) fn router(
    state: AppState,
    limits: &Limits,
    socketio_layer: SocketIoLayer,
    ws_echo: bool,
    with_metrics: bool,
) -> Router {
    let security_headers = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ];
    let mut routes = Router::new();
    if ws_echo {
        routes = routes.route("/echo", get(echo::upgrade));
    }
    if with_metrics {
        routes = routes.route("/metrics", get(metrics));
    }
    let mut router = routes
        .route("/healthz", get(healthz))
        .route("/api/register", post(api::register))
        .route("/api/login", post(api::login))
        .route("/api/guest", post(api::guest))
        .route("/api/logout", post(api::logout))
        .route("/api/me", get(api::me))
        .route("/api/password", post(own_account::change_password))
        .route("/api/sessions", get(own_account::sessions))
        .route("/api/sessions/end", post(own_account::end_session))
        .route("/api/reset", post(own_account::reset_password))
        .route("/ws", get(ws::upgrade))
        .fallback(web::static_file)
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(limits.max_http_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        // Merged after those two layers, which would cut off large files.
        .merge(files::routes().with_state(state.clone()));
    for (name, value) in security_headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)));
    }
    router.layer(socketio_layer).layer(from_fn_with_state(state, socketio::edge))
}

/// `/metrics` alone, for its own listener (`--metrics-listen`), which an
/// operator keeps off the public network.
pub(super) fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(state)
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    // A store behind a silent network would otherwise hold the probe until
    // TCP gives up; a load balancer needs its answer now.
    match tokio::time::timeout(HEALTH_DEADLINE, state.app.health()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok"),
        Ok(Err(error)) => {
            tracing::warn!(%error, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
        }
        Err(_) => {
            tracing::warn!(deadline = ?HEALTH_DEADLINE, "health check: storage did not answer in time");
            (StatusCode::SERVICE_UNAVAILABLE, "storage did not answer in time")
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
