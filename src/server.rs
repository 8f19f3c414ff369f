//! The edge: HTTP, the `/ws` WebSocket, the `/socket.io/` endpoint and the web
//! UI. The only code that knows axum, sockets and Socket.IO; conversions
//! between domain and wire types live here.
//!
//! [`serve`] takes a bound listener and a shutdown future, so the binary and
//! the tests start the very same server.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::auth::{Accounts, AuthError};
use crate::bus::redis::{BusError, DEFAULT_PRESENCE_TTL, RedisBus, RedisOptions};
use crate::bus::{Bus, Cluster, LocalBus};
use crate::files::{BlobError, Blobs, FilesLocation, S3Settings};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::model::RegistrationMode;
use crate::store::{self, StoreError};

pub use client::{Cidr, CidrError};

mod admission;
mod api;
mod bounded;
mod budget;
mod client;
mod connections;
mod convert;
mod echo;
mod files;
mod http;
mod own_account;
mod session;
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
    /// Who may sign up with a password, until an admin sets otherwise.
    pub registration: RegistrationMode,
    /// Origins besides the server's own whose pages may open `/ws` and
    /// `/socket.io/`.
    pub allowed_origins: Vec<String>,
    pub limits: Limits,
    /// How long shutdown waits for sessions to close.
    pub drain_timeout: Duration,
    /// Serve a WebSocket echo endpoint at `/echo` on the same WebSocket
    /// configuration as `/ws`. For conformance testing only.
    pub ws_echo: bool,
    /// Proxies (`--trusted-proxy`) whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed; from anyone else they are ignored.
    pub trusted_proxies: Vec<Cidr>,
    /// Where shared files go: a folder, or `s3://bucket/prefix`. `None`:
    /// a `natter-files` folder beside the SQLite database (see
    /// [`files_location`]).
    pub files: Option<String>,
    /// How to reach an S3-compatible store (unset parts come from the
    /// standard AWS environment variables).
    pub s3: S3Settings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://natter.db".into(),
            redis_url: None,
            cluster_name: "natter".into(),
            presence_ttl: DEFAULT_PRESENCE_TTL,
            allow_guests: false,
            registration: RegistrationMode::Open,
            allowed_origins: Vec::new(),
            limits: Limits::default(),
            drain_timeout: Duration::from_secs(5),
            ws_echo: false,
            trusted_proxies: Vec::new(),
            files: None,
            s3: S3Settings::default(),
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
    #[error("--redis needs a file store all nodes share: use --files s3://BUCKET/PREFIX")]
    ClusterNeedsSharedFiles,
    #[error("cannot open the file store: {0}")]
    Files(#[from] BlobError),
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
}

/// What every handler shares, behind one pointer: each request and each
/// connection's session clones it with one reference count, and an idle
/// connection holds 8 bytes of it instead of a 120-byte copy.
#[derive(Clone)]
struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] points to.
struct SharedState {
    app: Arc<App>,
    accounts: Arc<Accounts>,
    metrics: Arc<Metrics>,
    allowed_origins: Arc<[String]>,
    admission: Arc<admission::Admission>,
    /// Reads per user and per address, over all their connections.
    reads: Arc<budget::ReadBudgets>,
    /// Whose forwarding headers say who the client is (see `client`).
    trusted_proxies: client::TrustedProxies,
    /// Engine.IO handshakes per client address: each one holds a session in
    /// socketioxide until it joins or times out, before any permit is taken.
    socketio_handshakes: Arc<std::sync::Mutex<crate::limits::AddressBuckets>>,
    /// Cancelled when the server shuts down; sessions close with 1001.
    shutdown: CancellationToken,
    /// Tracks WebSocket sessions, which outlive their HTTP request.
    sessions: TaskTracker,
    /// Where shared files' bytes are kept; `None` in a cluster started
    /// without a shared file store (uploads are then refused).
    blobs: Option<Arc<dyn Blobs>>,
    /// Uploads in flight per user.
    uploads: Arc<files::UploadsInFlight>,
}

/// Serves until `shutdown` resolves, then tells sessions to go away, waits
/// for them (up to the drain timeout) and closes the store after every queued
/// write has committed. `/metrics` is served on `listener` too.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_with_metrics(listener, None, config, shutdown).await
}

/// [`serve`], with `/metrics` on `metrics_listener` alone when one is given
/// (`--metrics-listen`), so it can be kept off the public network.
pub async fn serve_with_metrics(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // Connections are files: the cap on them must fit the limit on those.
    let open_files = connections::raise_open_files_limit();
    let (max_connections, max_per_address) = connections::caps_within(
        config.limits.max_connections,
        config.limits.max_connections_per_ip,
        open_files,
    );
    if max_connections < config.limits.max_connections {
        tracing::warn!(
            max_connections,
            max_per_address,
            configured = config.limits.max_connections,
            configured_per_address = config.limits.max_connections_per_ip,
            "connection caps lowered to fit the open-files limit"
        );
    }
    let metrics = Arc::new(Metrics::default());
    let (bus, cluster): (Arc<dyn Bus>, Arc<dyn Cluster>) = match &config.redis_url {
        Some(_) if config.database_url.starts_with("sqlite:") => {
            return Err(ServeError::ClusterNeedsPostgres);
        }
        Some(url) => {
            let options =
                RedisOptions { cluster: config.cluster_name.clone(), presence_ttl: config.presence_ttl };
            let redis = Arc::new(RedisBus::connect(url, options).await?);
            (Arc::clone(&redis) as Arc<dyn Bus>, redis)
        }
        None => (Arc::new(LocalBus), Arc::new(LocalBus)),
    };
    let (blobs, temporary_files) = open_file_store(&config).await?;
    let store = store::open(&config.database_url, Arc::clone(&metrics)).await?;
    // Cancelled when the server shuts down: it ends every session.
    let sessions_end = CancellationToken::new();
    let app = App::start(
        Arc::clone(&store),
        bus,
        Arc::clone(&cluster),
        config.limits.clone(),
        Arc::clone(&metrics),
        config.registration,
        sessions_end.clone(),
    )
    .await?;
    let accounts = Arc::new(
        Accounts::new(
            Arc::clone(&store),
            Arc::clone(&cluster),
            &config.limits,
            config.allow_guests,
            config.registration,
        )
        .await?,
    );
    announce_setup_link(&accounts, listener.local_addr()?).await?;
    let state = AppState(Arc::new(SharedState {
        app,
        accounts,
        metrics,
        allowed_origins: config.allowed_origins.into(),
        admission: admission::Admission::new(max_connections, max_per_address),
        reads: Arc::new(budget::ReadBudgets::new(&config.limits)),
        trusted_proxies: client::TrustedProxies::new(&config.trusted_proxies),
        socketio_handshakes: Arc::new(std::sync::Mutex::new(crate::limits::AddressBuckets::new(
            socketio::HANDSHAKES_PER_SECOND,
            socketio::HANDSHAKE_BURST,
        ))),
        shutdown: sessions_end.clone(),
        sessions: TaskTracker::new(),
        blobs: blobs.clone(),
        uploads: Arc::default(),
    }));
    if let Some(blobs) = blobs {
        tokio::spawn(Arc::clone(&state.app).keep_files_tidy(blobs, sessions_end));
    }
    let (socketio_layer, socketio) = socketio::endpoint(&state);
    let router = http::router(
        state.clone(),
        &config.limits,
        socketio_layer,
        config.ws_echo,
        metrics_listener.is_none(),
    );
    // Cancelled once sessions have been told to go: connections then finish
    // their request in flight and close, and no more are accepted.
    let http_stop = CancellationToken::new();
    let connections = TaskTracker::new();
    let header_timeout = config.limits.http_header_timeout;
    if let Some(metrics_listener) = metrics_listener {
        let acceptor = connections::Acceptor {
            router: http::metrics_router(state.clone()),
            admission: None,
            trusted_proxies: state.trusted_proxies.clone(),
            header_timeout,
        };
        tokio::spawn(connections::accept_loop(
            metrics_listener,
            acceptor,
            connections.clone(),
            http_stop.clone(),
        ));
    }
    let acceptor = connections::Acceptor {
        router,
        admission: Some(Arc::clone(&state.admission)),
        trusted_proxies: state.trusted_proxies.clone(),
        header_timeout,
    };
    let accepting =
        tokio::spawn(connections::accept_loop(listener, acceptor, connections.clone(), http_stop.clone()));

    shutdown.await;
    tracing::info!("shutting down");
    state.shutdown.cancel();
    let drain_timeout = config.drain_timeout;
    // Closes every Socket.IO transport (pending long-polls too, which would
    // otherwise hold the HTTP drain); clients reconnect by themselves, as
    // after any dropped connection.
    if tokio::time::timeout(drain_timeout, socketio.close()).await.is_err() {
        tracing::warn!("Socket.IO connections still open after the drain timeout");
    }
    http_stop.cancel();
    if let Err(error) = accepting.await {
        tracing::error!(%error, "the accept loop failed");
    }
    // The HTTP drain is bounded too: a request that never finishes (a
    // long-poll caught mid-close, a client that stopped reading) must not
    // hold the process.
    connections.close();
    if tokio::time::timeout(drain_timeout, connections.wait()).await.is_err() {
        tracing::warn!("HTTP connections still open after the drain timeout; leaving them");
    }
    state.sessions.close();
    if tokio::time::timeout(config.drain_timeout, state.sessions.wait()).await.is_err() {
        tracing::warn!("sessions still open after the drain timeout");
    }
    store.close().await;
    if let Some(folder) = temporary_files {
        // An in-memory database's files go with it.
        let _ = std::fs::remove_dir_all(folder);
    }
    cluster.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Opens the file store `config` names, and says which folder to remove at
/// the end (an in-memory database's temporary one). Several nodes must
/// share one store: a cluster refuses a local folder, and one given no
/// `--files` runs without files (uploads answer `503 files_unavailable`)
/// rather than each node keeping its own.
async fn open_file_store(
    config: &Config,
) -> Result<(Option<Arc<dyn Blobs>>, Option<std::path::PathBuf>), ServeError> {
    let clustered = config.redis_url.is_some();
    if clustered && config.files.is_none() {
        tracing::warn!("no --files s3://...: file uploads are off on this node of a cluster");
        return Ok((None, None));
    }
    let location = files_location(config.files.as_deref(), &config.database_url)?;
    let blobs = crate::files::open(&location, &config.s3).await?;
    if clustered && !blobs.shared() {
        return Err(ServeError::ClusterNeedsSharedFiles);
    }
    tracing::info!(files = %blobs.describe(), "file store open");
    let in_memory = config.database_url.starts_with("sqlite:")
        && matches!(
            store::sqlite::SqliteOptions::from_url(&config.database_url),
            Ok(store::sqlite::SqliteOptions { path: None, .. })
        );
    let temporary = match &location {
        FilesLocation::Local(folder) if in_memory && config.files.is_none() => Some(folder.clone()),
        _ => None,
    };
    Ok((Some(blobs), temporary))
}

/// Where files go: as configured, or else a `natter-files` folder beside an
/// SQLite database file (in the working directory for PostgreSQL, and a
/// fresh temporary folder for an in-memory database, whose files should
/// not outlive it either).
pub fn files_location(configured: Option<&str>, database_url: &str) -> Result<FilesLocation, BlobError> {
    if let Some(configured) = configured {
        return FilesLocation::parse(configured);
    }
    let sqlite =
        database_url.starts_with("sqlite:").then(|| store::sqlite::SqliteOptions::from_url(database_url));
    let folder = match sqlite {
        Some(Ok(store::sqlite::SqliteOptions { path: Some(path), .. })) => {
            path.parent().unwrap_or(std::path::Path::new("")).join("natter-files")
        }
        Some(Ok(_)) => std::env::temp_dir().join(format!(
            "natter-files-{}-{}",
            std::process::id(),
            crate::model::FileId::generate().as_str()
        )),
        // The store refuses such a URL itself, saying why.
        Some(Err(_)) | None => std::path::PathBuf::from("natter-files"),
    };
    Ok(FilesLocation::Local(folder))
}

/// At first start (no admin yet) tells whoever started the server how to
/// make the first admin: a one-use setup link, shown on the console and in
/// the log only, so nobody becomes admin just by signing up first.
async fn announce_setup_link(accounts: &Accounts, address: std::net::SocketAddr) -> Result<(), AuthError> {
    let Some(token) = accounts.setup_link().await? else { return Ok(()) };
    let host = if address.ip().is_unspecified() { "localhost".to_owned() } else { address.ip().to_string() };
    let host = if address.is_ipv6() && host != "localhost" { format!("[{host}]") } else { host };
    let link = format!("http://{host}:{}/#setup={token}", address.port());
    // Not `println!`: that panics when nobody reads standard output any
    // more (a supervisor that kept only the first line); the log has it too.
    let line = format!(
        "natter setup: no admin yet; open {link} to create the first admin account (it works once)\n"
    );
    let _ = std::io::Write::write_all(&mut std::io::stdout(), line.as_bytes());
    tracing::warn!(%link, "no admin yet: open the setup link to create the first admin account");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_go_beside_a_sqlite_file_however_its_url_is_written() {
        let local = |url: &str| match files_location(None, url).unwrap() {
            FilesLocation::Local(folder) => folder,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            local("sqlite:///var/lib/natter/natter.db"),
            std::path::Path::new("/var/lib/natter/natter-files")
        );
        assert_eq!(
            local("sqlite:/var/lib/natter/natter.db"),
            std::path::Path::new("/var/lib/natter/natter-files")
        );
        assert_eq!(local("sqlite://natter.db"), std::path::Path::new("natter-files"));
        assert_eq!(local("postgres://db/natter"), std::path::Path::new("natter-files"));
        assert!(local("sqlite::memory:").starts_with(std::env::temp_dir()));
        assert!(matches!(
            files_location(Some("s3://bucket/p"), "sqlite://x.db").unwrap(),
            FilesLocation::S3 { .. }
        ));
    }
}
