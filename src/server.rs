//! The edge: HTTP, the `/ws` WebSocket and the web UI. The only code that
//! knows axum and sockets; conversions between domain and wire types live here.
//!
//! [`serve`] takes a bound listener and a shutdown future, so the binary and
//! the tests start the very same server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Accounts, AuthError};
use crate::bus::LocalBus;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::store::{self, StoreError};

mod api;
mod convert;
mod http;
mod web;
mod ws;

/// Everything `natter serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://path` or `sqlite::memory:`.
    pub database_url: String,
    /// Let people in with a name only (as the tutorial app does).
    pub allow_guests: bool,
    /// Origins besides the server's own whose pages may open `/ws`.
    pub allowed_origins: Vec<String>,
    pub limits: Limits,
    /// How long shutdown waits for sessions to close.
    pub drain_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://natter.db".into(),
            allow_guests: false,
            allowed_origins: Vec::new(),
            limits: Limits::default(),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot set up accounts: {0}")]
    Accounts(#[from] AuthError),
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
}

/// What every handler shares.
#[derive(Clone)]
struct AppState {
    hub: Arc<Hub>,
    accounts: Arc<Accounts>,
    metrics: Arc<Metrics>,
    allowed_origins: Arc<[String]>,
    /// Cancelled when the server shuts down; sessions close with 1001.
    shutdown: CancellationToken,
    /// Tracks WebSocket sessions, which outlive their HTTP request.
    sessions: TaskTracker,
}

/// Serves until `shutdown` resolves, then tells sessions to go away, waits
/// for them (up to the drain timeout) and closes the store after every queued
/// write has committed.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let metrics = Arc::new(Metrics::default());
    let store = store::open(&config.database_url, Arc::clone(&metrics)).await?;
    let hub = Hub::start(Arc::clone(&store), Arc::new(LocalBus), config.limits.clone(), Arc::clone(&metrics))
        .await?;
    let accounts =
        Arc::new(Accounts::new(Arc::clone(&store), config.limits.session_ttl, config.allow_guests).await?);
    let state = AppState {
        hub,
        accounts,
        metrics,
        allowed_origins: config.allowed_origins.into(),
        shutdown: CancellationToken::new(),
        sessions: TaskTracker::new(),
    };
    let router = http::router(state.clone(), &config.limits);
    let stop = state.shutdown.clone();
    let listener = listener.tap_io(|stream| {
        // Chat frames are small writes. With Nagle's algorithm on, a frame
        // written while an earlier one is unacknowledged waits for that ACK,
        // which the client may delay by up to 40 ms: that was the p99 of a
        // delivery under load (docs/benchmarks.md). Send at once instead.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down");
            stop.cancel();
        })
        .await?;
    state.sessions.close();
    if tokio::time::timeout(config.drain_timeout, state.sessions.wait()).await.is_err() {
        tracing::warn!("sessions still open after the drain timeout");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
