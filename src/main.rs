//! The `natter` command: parses the command line, installs logging and calls
//! into the library. Nothing else lives here.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use natter::auth::Accounts;
use natter::bus::LocalBus;
use natter::files::S3Settings;
use natter::limits::Limits;
use natter::metrics::Metrics;
use natter::model::{RegistrationMode, UserName};
use natter::server::{self, Cidr, Config};
use natter::store;

/// Self-hosted, real-time team chat in one binary.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the chat server (the default when no command is given).
    // Boxed: the serve flags are many times larger than the other commands.
    Serve(Box<ServeArgs>),
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage the search index.
    Search {
        #[command(subcommand)]
        command: SearchCommand,
    },
    /// Copy the SQLite database to a new file while natter runs.
    ///
    /// The copy is one consistent snapshot, checked with SQLite's integrity
    /// check, and never written over an existing file. To restore, stop
    /// natter, move the database and its -wal and -shm files aside and put
    /// the copy in its place. For PostgreSQL use pg_dump (docs/deployment.md).
    Backup {
        /// Where the copy goes; must not exist yet.
        file: PathBuf,
        #[arg(long, env = "NATTER_DATABASE_URL", default_value = "sqlite://natter.db")]
        database: String,
    },
    /// Write the workspace to a directory as JSON Lines (docs/export.md).
    ///
    /// Users (without passwords or sessions), channels, memberships,
    /// messages and reactions, read in one transaction, so natter may run
    /// meanwhile. The directory must be new or empty; manifest.json, written
    /// last, marks a finished export.
    Export {
        /// Where the export goes: a new or empty directory.
        dir: PathBuf,
        #[arg(long, env = "NATTER_DATABASE_URL", default_value = "sqlite://natter.db")]
        database: String,
    },
    /// Load an export into a new, empty database, or with --slack a Slack
    /// workspace export into any (docs/export.md).
    ///
    /// A natter export: everything or nothing, in one transaction; a
    /// damaged or truncated export, or a database that is not empty, is
    /// refused and nothing is written. A Slack export: checked whole before
    /// anything is written, then added to what the database holds; running
    /// it again adds nothing twice (and carries on after a failure).
    /// Imported accounts have no password: `natter user reset-password
    /// NAME` makes a link that sets one.
    Import {
        /// A directory `natter export` wrote, or with --slack the zip Slack exported.
        path: PathBuf,
        /// PATH is a Slack workspace export (the .zip Slack's admin export gives).
        #[arg(long)]
        slack: bool,
        #[arg(long, env = "NATTER_DATABASE_URL", default_value = "sqlite://natter.db")]
        database: String,
    },
}

#[derive(Subcommand)]
enum SearchCommand {
    /// Index every message again, from scratch (to repair the index; a
    /// server re-indexes by itself after an upgrade that changes the
    /// tokenizer). On SQLite stop natter first: the rebuild is one
    /// transaction holding the write lock until it is done. On PostgreSQL
    /// the nodes may run: it goes a page of messages at a time, leaving
    /// alone what they change meanwhile.
    Rebuild {
        #[arg(long, env = "NATTER_DATABASE_URL", default_value = "sqlite://natter.db")]
        database: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from standard input (one
    /// line), or prompted for without echo on a terminal.
    Add {
        name: String,
        /// Make the account an admin (may delete anyone's message).
        #[arg(long)]
        admin: bool,
        #[arg(long, env = "NATTER_DATABASE_URL", default_value = "sqlite://natter.db")]
        database: String,
    },
    /// Make an account an admin or a member.
    Role {
        name: String,
        role: Role,
        #[arg(long, env = "NATTER_DATABASE_URL", default_value = "sqlite://natter.db")]
        database: String,
    },
    /// List every account: name, role, guest or not, active or not, last login.
    List {
        #[arg(long, env = "NATTER_DATABASE_URL", default_value = "sqlite://natter.db")]
        database: String,
    },
    /// Deactivate an account: its sessions end, it cannot log in, and
    /// running servers close its connections within about a second; its
    /// messages stay.
    Deactivate {
        name: String,
        #[arg(long, env = "NATTER_DATABASE_URL", default_value = "sqlite://natter.db")]
        database: String,
    },
    /// Let a deactivated account log in again.
    Reactivate {
        name: String,
        #[arg(long, env = "NATTER_DATABASE_URL", default_value = "sqlite://natter.db")]
        database: String,
    },
    /// Make a password-reset link for an account (it works once, for 72
    /// hours): for someone who forgot their password, or an imported
    /// account that has none. Setting a password with it ends every
    /// session of the account.
    ResetPassword {
        name: String,
        #[arg(long, env = "NATTER_DATABASE_URL", default_value = "sqlite://natter.db")]
        database: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Role {
    Admin,
    Member,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, env = "NATTER_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// `sqlite://PATH` (created if missing), `sqlite::memory:` or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    #[arg(long, env = "NATTER_DATABASE_URL", default_value = "sqlite://natter.db")]
    database: String,
    /// `redis://HOST:PORT` to run as one of several nodes (needs a shared
    /// `postgres://` database): cross-node fan-out, presence and limits.
    #[arg(long, env = "NATTER_REDIS_URL")]
    redis: Option<String>,
    /// Names the cluster in Redis: its bus channel and keys start with it.
    /// Nodes of one cluster share it; clusters sharing a Redis differ.
    #[arg(long, env = "NATTER_CLUSTER_NAME", default_value = "natter")]
    cluster_name: String,
    /// Seconds a crashed node's users stay online elsewhere in the cluster.
    #[arg(long, env = "NATTER_PRESENCE_TTL_SECS", default_value_t = 15.0)]
    presence_ttl_secs: f64,
    /// Let people in with a name only, like the tutorial app.
    #[arg(long, env = "NATTER_ALLOW_GUESTS")]
    allow_guests: bool,
    /// Who may sign up with a password: `open` (anyone), `invite` (with an
    /// admin's invite link) or `closed` (only accounts admins make). Admins
    /// may change it at run time; this is the default until they do.
    #[arg(long, env = "NATTER_REGISTRATION", default_value = "open", value_parser = parse_registration)]
    registration: RegistrationMode,
    /// Another origin whose pages may open WebSockets and Socket.IO
    /// connections here (repeatable), e.g. https://chat.example.com behind a proxy.
    #[arg(long = "allowed-origin", env = "NATTER_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// Messages per second one user may send, sustained.
    #[arg(long, env = "NATTER_MESSAGES_PER_SECOND", default_value_t = Limits::default().messages_per_second)]
    messages_per_second: f64,
    /// Messages one user may send in a burst.
    #[arg(long, env = "NATTER_MESSAGE_BURST", default_value_t = Limits::default().message_burst)]
    message_burst: f64,
    /// Channels one user may create.
    #[arg(long, env = "NATTER_CHANNELS_PER_USER", default_value_t = Limits::default().channels_per_user)]
    channels_per_user: u32,
    /// Milliseconds a user stays shown online after their last connection closes.
    #[arg(long, env = "NATTER_PRESENCE_GRACE_MS", default_value_t = 5000)]
    presence_grace_ms: u64,
    /// Connections (HTTP, WebSocket, Socket.IO) this node holds at once;
    /// lowered at start to what the open-files limit allows.
    #[arg(long, env = "NATTER_MAX_CONNECTIONS", default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Connections from one client address at once.
    #[arg(long, env = "NATTER_MAX_CONNECTIONS_PER_IP", default_value_t = Limits::default().max_connections_per_ip)]
    max_connections_per_ip: usize,
    /// Seconds an HTTP connection has to send a complete request head after
    /// it opens or after its last response (closes slow and idle ones).
    #[arg(long, env = "NATTER_HTTP_HEADER_TIMEOUT_SECS", default_value_t = Limits::default().http_header_timeout.as_secs_f64())]
    http_header_timeout_secs: f64,
    /// Accounts (registered or guest) one client address may create per minute.
    #[arg(long, env = "NATTER_ACCOUNT_CREATIONS_PER_MINUTE", default_value_t = Limits::default().account_creations_per_minute)]
    account_creations_per_minute: f64,
    /// Failed logins one client address may make per minute (successful ones do not count).
    #[arg(long, env = "NATTER_FAILED_LOGINS_PER_MINUTE", default_value_t = Limits::default().failed_logins_per_minute)]
    failed_logins_per_minute: f64,
    /// Failed logins of one username before it is locked out (from that address; the
    /// name's own lock holds only against addresses that failed for it).
    #[arg(long, env = "NATTER_LOGIN_FAILURES_BEFORE_LOCKOUT", default_value_t = Limits::default().login_failures_before_lockout)]
    login_failures_before_lockout: u32,
    /// Channels one user may be added to by others per hour.
    #[arg(long, env = "NATTER_INVITATIONS_PER_HOUR", default_value_t = Limits::default().invitations_per_hour)]
    invitations_per_hour: f64,
    /// Changes one channel may have had since a resuming client's rev before
    /// the client is told to reload the channel (`reset`) instead.
    #[arg(long, env = "NATTER_MAX_RESUME_CHANGES", default_value_t = Limits::default().max_resume_changes)]
    max_resume_changes: u64,
    /// Searches one user may make per minute (also the burst).
    #[arg(long, env = "NATTER_SEARCHES_PER_MINUTE", default_value_t = Limits::default().searches_per_minute)]
    searches_per_minute: f64,
    /// A proxy (an address or CIDR range, repeatable) whose `X-Forwarded-For`
    /// names the client and whose `X-Forwarded-Proto: https` makes the
    /// session cookie `Secure`. From other peers those headers are ignored.
    #[arg(long = "trusted-proxy", env = "NATTER_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<Cidr>,
    /// Serve /metrics on this address only (e.g. 127.0.0.1:9100) instead of
    /// on --listen, so it can be kept off the public network.
    #[arg(long, env = "NATTER_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Where shared files go: a folder, or `s3://BUCKET/PREFIX` for any
    /// S3-compatible store (needed with --redis). Default: a `natter-files`
    /// folder beside the SQLite database.
    #[arg(long, env = "NATTER_FILES")]
    files: Option<String>,
    /// The S3 endpoint, e.g. http://127.0.0.1:9000 for a local server
    /// (default: AWS_ENDPOINT_URL, else AWS itself).
    #[arg(long, env = "NATTER_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// The S3 region (default: AWS_REGION or AWS_DEFAULT_REGION).
    #[arg(long, env = "NATTER_S3_REGION")]
    s3_region: Option<String>,
    /// The S3 access key id (default: AWS_ACCESS_KEY_ID).
    #[arg(long, env = "NATTER_S3_ACCESS_KEY_ID")]
    s3_access_key_id: Option<String>,
    /// The S3 secret key (default: AWS_SECRET_ACCESS_KEY). Prefer the
    /// environment to the command line, which other users can read.
    #[arg(long, env = "NATTER_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    s3_secret_access_key: Option<String>,
    /// Largest file one upload may hold, in bytes.
    #[arg(long, env = "NATTER_MAX_FILE_BYTES", default_value_t = Limits::default().max_file_bytes)]
    max_file_bytes: u64,
    /// Most bytes one user may hold in files.
    #[arg(long, env = "NATTER_UPLOAD_QUOTA_BYTES", default_value_t = Limits::default().upload_quota_bytes)]
    upload_quota_bytes: u64,
    /// Seconds an upload may wait to be attached to a message before it is deleted.
    #[arg(long, env = "NATTER_UPLOAD_TTL_SECS", default_value_t = Limits::default().upload_ttl.as_secs_f64())]
    upload_ttl_secs: f64,
    /// Serve a WebSocket echo endpoint at /echo (conformance testing only).
    #[arg(long, hide = true)]
    ws_echo: bool,
}

impl ServeArgs {
    fn into_config(self) -> Config {
        let limits = Limits {
            messages_per_second: self.messages_per_second,
            message_burst: self.message_burst,
            channels_per_user: self.channels_per_user,
            presence_grace: Duration::from_millis(self.presence_grace_ms),
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            account_creations_per_minute: self.account_creations_per_minute,
            failed_logins_per_minute: self.failed_logins_per_minute,
            login_failures_before_lockout: self.login_failures_before_lockout,
            invitations_per_hour: self.invitations_per_hour,
            max_resume_changes: self.max_resume_changes,
            searches_per_minute: self.searches_per_minute,
            max_file_bytes: self.max_file_bytes,
            upload_quota_bytes: self.upload_quota_bytes,
            upload_ttl: Duration::from_secs_f64(self.upload_ttl_secs.clamp(1.0, 365.0 * 24.0 * 3600.0)),
            http_header_timeout: Duration::from_secs_f64(self.http_header_timeout_secs.clamp(0.1, 3600.0)),
            ..Limits::default()
        };
        Config {
            database_url: self.database,
            redis_url: self.redis,
            cluster_name: self.cluster_name,
            presence_ttl: Duration::from_secs_f64(self.presence_ttl_secs.clamp(0.3, 3600.0)),
            allow_guests: self.allow_guests,
            registration: self.registration,
            allowed_origins: self.allowed_origins,
            limits,
            ws_echo: self.ws_echo,
            trusted_proxies: self.trusted_proxies,
            files: self.files,
            s3: S3Settings {
                endpoint: self.s3_endpoint,
                region: self.s3_region,
                access_key_id: self.s3_access_key_id,
                secret_access_key: self.s3_secret_access_key,
            },
            ..Config::default()
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NATTER_LOG")
                .unwrap_or_else(|_| "natter=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match cli.command {
        Some(Command::Serve(args)) => runtime.block_on(serve(*args)),
        None => {
            // No subcommand: serve with the defaults (and environment).
            let Cli { command: Some(Command::Serve(args)) } = Cli::parse_from(["natter", "serve"]) else {
                unreachable!("parsing `natter serve` yields the serve command");
            };
            runtime.block_on(serve(*args))
        }
        Some(Command::User { command: UserCommand::Add { name, admin, database } }) => {
            let password = read_password()?;
            runtime.block_on(add_user(&name, &password, admin, &database))
        }
        Some(Command::User { command: UserCommand::Role { name, role, database } }) => {
            runtime.block_on(set_role(&name, role, &database))
        }
        Some(Command::User { command: UserCommand::List { database } }) => {
            runtime.block_on(list_users(&database))
        }
        Some(Command::User { command: UserCommand::Deactivate { name, database } }) => {
            runtime.block_on(set_deactivated(&name, true, &database))
        }
        Some(Command::User { command: UserCommand::Reactivate { name, database } }) => {
            runtime.block_on(set_deactivated(&name, false, &database))
        }
        Some(Command::User { command: UserCommand::ResetPassword { name, database } }) => {
            runtime.block_on(reset_password_link(&name, &database))
        }
        Some(Command::Search { command: SearchCommand::Rebuild { database } }) => {
            runtime.block_on(rebuild_search_index(&database))
        }
        Some(Command::Backup { file, database }) => backup(&database, &file),
        Some(Command::Export { dir, database }) => runtime.block_on(export(&database, &dir)),
        Some(Command::Import { path, slack: false, database }) => runtime.block_on(import(&database, &path)),
        Some(Command::Import { path, slack: true, database }) => {
            runtime.block_on(import_slack(&database, &path))
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listen = args.listen;
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let metrics_listener = match args.metrics_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} for metrics"))?,
        ),
        None => None,
    };
    // Scripts and tests read these lines to learn the ports.
    println!("natter listening on http://{address}");
    if let Some(metrics) = &metrics_listener {
        println!("natter metrics on http://{}/metrics", metrics.local_addr()?);
    }
    server::serve_with_metrics(listener, metrics_listener, args.into_config(), shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM; only Ctrl-C stops natter");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

fn parse_registration(raw: &str) -> Result<RegistrationMode, String> {
    RegistrationMode::parse(raw).ok_or_else(|| format!("{raw:?} is not one of open, invite, closed"))
}

fn read_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ").context("cannot read the password")?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the password")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        bail!("no password given");
    }
    Ok(password)
}

async fn add_user(name: &str, password: &str, admin: bool, database: &str) -> anyhow::Result<()> {
    let store = store::open_for_admin(database, Arc::new(Metrics::default())).await?;
    let accounts = Accounts::new(
        Arc::clone(&store),
        Arc::new(LocalBus),
        &Limits::default(),
        false,
        RegistrationMode::Open,
    )
    .await?;
    let created = accounts.create_user(name, password).await;
    let promoted = match (&created, admin) {
        (Ok(user), true) => {
            store.set_admin(&UserName::parse(&user.name).map_err(anyhow::Error::msg)?, true).await
        }
        _ => Ok(true),
    };
    store.close().await;
    let user = created?;
    promoted?;
    let role = if admin { ", an admin" } else { "" };
    println!("created user {} (id {}){role}", user.name, user.id);
    Ok(())
}

async fn set_role(name: &str, role: Role, database: &str) -> anyhow::Result<()> {
    let name = UserName::parse(name).map_err(anyhow::Error::msg)?;
    let store = store::open_for_admin(database, Arc::new(Metrics::default())).await?;
    let updated = store.set_admin(&name, role == Role::Admin).await;
    store.close().await;
    if !updated? {
        bail!("no user named {}", name.as_str());
    }
    let role = if role == Role::Admin { "an admin" } else { "a member" };
    println!("{} is now {role}", name.as_str());
    Ok(())
}

/// Prints every account, a page at a time.
async fn list_users(database: &str) -> anyhow::Result<()> {
    let store = store::open_for_admin(database, Arc::new(Metrics::default())).await?;
    let listed = async {
        println!("{:<32} {:<7} {:<10} {:<11} last login", "name", "role", "kind", "state");
        let mut after = None;
        loop {
            let page = store.accounts(after.as_deref(), 500).await?;
            for account in &page {
                let role = if account.admin { "admin" } else { "member" };
                let kind = if account.user.guest { "guest" } else { "registered" };
                let state = if account.deactivated { "deactivated" } else { "active" };
                let login = account.last_login_ms.map_or_else(|| "never".to_owned(), ago);
                println!("{:<32} {role:<7} {kind:<10} {state:<11} {login}", account.user.name);
            }
            match page.last() {
                Some(last) if page.len() == 500 => after = Some(last.user.name.to_ascii_lowercase()),
                _ => return Ok::<_, store::StoreError>(()),
            }
        }
    };
    let listed = listed.await;
    store.close().await;
    Ok(listed?)
}

/// How long ago a time (ms since the epoch) was, in words.
fn ago(at_ms: i64) -> String {
    let seconds = (natter::model::now_millis() - at_ms).max(0) / 1000;
    match seconds {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", seconds / 60),
        3600..86_400 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

async fn set_deactivated(name: &str, deactivated: bool, database: &str) -> anyhow::Result<()> {
    let name = UserName::parse(name).map_err(anyhow::Error::msg)?;
    let store = store::open_for_admin(database, Arc::new(Metrics::default())).await?;
    let updated = store.set_deactivated(&name, deactivated).await;
    store.close().await;
    let Some(user) = updated? else { bail!("no user named {}", name.as_str()) };
    if deactivated {
        println!("{} is deactivated; their sessions have ended", user.name);
    } else {
        println!("{} may log in again", user.name);
    }
    Ok(())
}

async fn reset_password_link(name: &str, database: &str) -> anyhow::Result<()> {
    let name = UserName::parse(name).map_err(anyhow::Error::msg)?;
    let store = store::open_for_admin(database, Arc::new(Metrics::default())).await?;
    let made = async {
        let Some(found) = store.find_user(name.as_str()).await? else {
            bail!("no user named {}", name.as_str())
        };
        if found.deactivated {
            bail!("{} is deactivated; reactivate the account first", found.user.name);
        }
        let (token, _) = natter::auth::issue_password_reset(store.as_ref(), found.user.id).await?;
        Ok((found.user.name, token))
    };
    let made = made.await;
    store.close().await;
    let (user, token) = made?;
    println!(
        "password-reset link for {user} (works once, for {} hours): open https://YOUR-SERVER/#reset={token}",
        natter::auth::RESET_LINK_HOURS
    );
    Ok(())
}

async fn rebuild_search_index(database: &str) -> anyhow::Result<()> {
    let store = store::open_for_admin(database, Arc::new(Metrics::default())).await?;
    let started = std::time::Instant::now();
    let indexed = store.rebuild_search_index().await;
    store.close().await;
    println!("indexed {} messages in {:.1} s", indexed?, started.elapsed().as_secs_f64());
    Ok(())
}

fn backup(database: &str, file: &Path) -> anyhow::Result<()> {
    let backed_up = store::sqlite::backup(database, file)?;
    let (messages, bytes) = (backed_up.messages, backed_up.bytes);
    println!("backed up {database} to {}: {messages} messages, {bytes} bytes, integrity ok", file.display());
    Ok(())
}

async fn export(database: &str, dir: &Path) -> anyhow::Result<()> {
    let manifest =
        store::export(database, dir).await.with_context(|| format!("cannot export to {}", dir.display()))?;
    println!("exported to {}: {}", dir.display(), summary(&manifest.counts));
    Ok(())
}

async fn import(database: &str, dir: &Path) -> anyhow::Result<()> {
    let counts =
        store::import(database, dir).await.with_context(|| format!("cannot import {}", dir.display()))?;
    println!(
        "imported {}: {}; accounts have no password: give them one with natter user reset-password NAME",
        dir.display(),
        summary(&counts)
    );
    Ok(())
}

async fn import_slack(database: &str, zip: &Path) -> anyhow::Result<()> {
    let limits = natter::slack::Limits::default();
    let summary = natter::slack::import(database, zip, limits)
        .await
        .with_context(|| format!("cannot import {}", zip.display()))?;
    println!("imported {}:\n{summary}", zip.display());
    Ok(())
}

fn summary(counts: &natter::transfer::Counts) -> String {
    format!(
        "{} users, {} channels, {} memberships, {} messages, {} reactions",
        counts.users, counts.channels, counts.members, counts.messages, counts.reactions
    )
}
