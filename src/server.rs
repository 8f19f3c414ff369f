//! The edge: HTTP, the `/ws` WebSocket, the `/socket.io/` endpoint and the web
//! UI. The only code that knows axum, sockets and Socket.IO; conversions
//! between domain and wire types live here.
//!
//! [`serve`] takes a bound listener and a shutdown future, so the binary and
//! the tests start the very same server.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Accounts, AuthError};
use crate::bus::redis::{BusError, DEFAULT_PRESENCE_TTL, RedisBus, RedisOptions};
use crate::bus::{Bus, LocalBus};
use crate::hub::Hub;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::store::{self, StoreError};

mod admission;
mod api;
mod bounded;
mod budget;
mod convert;
mod echo;
mod http;
mod socketio;
mod web;
mod ws;

/// Everything `natter serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://path`, `sqlite::memory:` or `postgres://...`.
    pub database_url: String,
    /// `redis://...` when this node is one of several; they must share a
    /// PostgreSQL database.
    pub redis_url: Option<String>,
    /// Names this cluster in Redis (the bus channel and every key start with
    /// it), so clusters can share one Redis.
    pub cluster_name: String,
    /// How long a node's users stay online in the cluster after the node
    /// stops heartbeating (it died).
    pub presence_ttl: Duration,
    /// Let people in with a name only (as the tutorial app does).
    pub allow_guests: bool,
    /// Origins besides the server's own whose pages may open `/ws` and
    /// `/socket.io/`.
    pub allowed_origins: Vec<String>,
    pub limits: Limits,
    /// How long shutdown waits for sessions to close.
    pub drain_timeout: Duration,
    /// Serve a WebSocket echo endpoint at `/echo` on the same WebSocket
    /// configuration as `/ws`. For conformance testing only.
    pub ws_echo: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://natter.db".into(),
            redis_url: None,
            cluster_name: "natter".into(),
            presence_ttl: DEFAULT_PRESENCE_TTL,
            allow_guests: false,
            allowed_origins: Vec::new(),
            limits: Limits::default(),
            drain_timeout: Duration::from_secs(5),
            ws_echo: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot set up accounts: {0}")]
    Accounts(#[from] AuthError),
    #[error("{0}")]
    Bus(#[from] BusError),
    #[error("--redis needs a database all nodes share: use --database postgres://...")]
    ClusterNeedsPostgres,
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
    admission: Arc<admission::Admission>,
    /// Reads per user and per address, over all their connections.
    reads: Arc<budget::ReadBudgets>,
    /// Engine.IO handshakes per client address: each one holds a session in
    /// socketioxide until it joins or times out, before any permit is taken.
    socketio_handshakes: Arc<std::sync::Mutex<crate::limits::AddressBuckets>>,
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
    let bus: Arc<dyn Bus> = match &config.redis_url {
        Some(_) if config.database_url.starts_with("sqlite:") => {
            return Err(ServeError::ClusterNeedsPostgres);
        }
        Some(url) => {
            let options =
                RedisOptions { cluster: config.cluster_name.clone(), presence_ttl: config.presence_ttl };
            Arc::new(RedisBus::connect(url, options).await?)
        }
        None => Arc::new(LocalBus),
    };
    let store = store::open(&config.database_url, Arc::clone(&metrics)).await?;
    let hub =
        Hub::start(Arc::clone(&store), Arc::clone(&bus), config.limits.clone(), Arc::clone(&metrics)).await?;
    let accounts = Arc::new(
        Accounts::new(Arc::clone(&store), Arc::clone(&bus), &config.limits, config.allow_guests).await?,
    );
    let state = AppState {
        hub,
        accounts,
        metrics,
        allowed_origins: config.allowed_origins.into(),
        admission: admission::Admission::new(
            config.limits.max_connections,
            config.limits.max_connections_per_ip,
        ),
        reads: Arc::new(budget::ReadBudgets::new(&config.limits)),
        socketio_handshakes: Arc::new(std::sync::Mutex::new(crate::limits::AddressBuckets::new(
            socketio::HANDSHAKES_PER_SECOND,
            socketio::HANDSHAKE_BURST,
        ))),
        shutdown: CancellationToken::new(),
        sessions: TaskTracker::new(),
    };
    let (socketio_layer, socketio) = socketio::endpoint(&state);
    let router = http::router(state.clone(), &config.limits, socketio_layer, config.ws_echo);
    let stop = state.shutdown.clone();
    let drain_timeout = config.drain_timeout;
    // TCP_NODELAY: a session writes small frames back to back (a delivery,
    // then an ack); with Nagle's algorithm the second waits for the client's
    // delayed ACK, adding tens of milliseconds to every ack.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    let graceful = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down");
            stop.cancel();
            // Closes every Socket.IO transport (pending long-polls too, which
            // would otherwise hold the HTTP drain); clients reconnect by
            // themselves, as after any dropped connection.
            if tokio::time::timeout(drain_timeout, socketio.close()).await.is_err() {
                tracing::warn!("Socket.IO connections still open after the drain timeout");
            }
        });
    // The HTTP drain is bounded too: a request that never finishes (a
    // long-poll caught mid-close, a client that stopped reading) must not
    // hold the process.
    let stopping = state.shutdown.clone();
    tokio::select! {
        served = graceful.into_future() => served?,
        () = async {
            stopping.cancelled().await;
            tokio::time::sleep(drain_timeout).await;
        } => tracing::warn!("HTTP connections still open after the drain timeout; leaving them"),
    }
    state.sessions.close();
    if tokio::time::timeout(config.drain_timeout, state.sessions.wait()).await.is_err() {
        tracing::warn!("sessions still open after the drain timeout");
    }
    store.close().await;
    bus.close().await;
    tracing::info!("stopped");
    Ok(())
}
