//! The PostgreSQL store, for operators who run one and for several nodes
//! sharing one database.
//!
//! Writes go to one writer task per node that owns one connection, takes
//! every job waiting (up to `max_batch`), runs each in its own savepoint
//! inside one transaction, commits once and only then answers them all: the
//! same group commit as the SQLite store. Reads go over a second, pipelined
//! connection, so history and lookups never wait behind a batch.
//!
//! Several nodes write the same channels. A message's seq comes from
//! `UPDATE channels SET last_seq = last_seq + 1 ... RETURNING`, which holds the
//! channel row's lock until the batch commits, so writers on every node
//! serialize per channel and seqs stay unique and gap-free. Each batch first
//! locks every channel its appends touch, in id order, so two nodes' batches
//! never wait on each other in a cycle.
//!
//! A lost connection (PostgreSQL restarted, network cut) fails the jobs in
//! flight with `StoreError::Backend`, never answering a write that was not
//! committed; the next job reconnects.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Row};

use super::batch::{Completion, Ran};
use super::{
    Appended, ChannelPage, Credentials, NewMessage, NewSystemLine, Queued, Store, StoreError, StoreResult,
};
use crate::metrics::Metrics;
use crate::model::{
    Channel, ChannelId, ChannelKind, ChannelName, ChannelView, GENERAL, Message, MessageId, Seq, SystemEvent,
    SystemKind, User, UserId, UserName, look_key, name_key, now_millis,
};

/// Jobs waiting for the writer task. When it is full, new jobs are refused at
/// once (`StoreError::Busy`, which clients see as `unavailable` and retry)
/// rather than queueing without bound behind a slow database.
pub const JOB_QUEUE: usize = 16_384;

/// Most jobs committed in one transaction. Bounds how long one batch holds
/// its channels' row locks, which writers on other nodes wait for.
pub const DEFAULT_MAX_BATCH: usize = 512;

/// How long opening a connection may take before the job fails. With
/// PostgreSQL unreachable, a job can wait for the batch in flight to fail
/// (`TCP_USER_TIMEOUT`) and then for its own batch's connection attempt: 4 s
/// plus this stays well within the 10 s in which `unavailable` is promised.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection whose sent data goes unacknowledged this long is closed by
/// the kernel (`TCP_USER_TIMEOUT`), so a query or `COMMIT` in flight when
/// the network goes silent fails in seconds instead of after minutes of
/// retransmission. Such a commit may or may not have happened: the job is
/// answered `unavailable`, and the client's retry with the same `client_id`
/// stores it at most once.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(4);

/// TCP keepalive on both connections: an idle connection, or one waiting
/// for an answer whose request was acknowledged (so `TCP_USER_TIMEOUT` does
/// not apply), is found dead after about idle + interval x retries = 4 s.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(2);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
const KEEPALIVE_RETRIES: u32 = 2;

/// Longest one batch may take, from `BEGIN` to the answer to `COMMIT`, on
/// natter's side. A link that stalls without failing (its data acknowledged,
/// no answer coming) is caught by neither the TCP timeouts nor the server's
/// own bounds, which never see the statements; with this, and a connect
/// timeout after it, `unavailable` comes within the 10 s promised.
const BATCH_DEADLINE: Duration = Duration::from_secs(6);

/// Server-side bounds, set per session. A node cut off in the middle of a
/// batch leaves its transaction holding channel rows locked; PostgreSQL
/// ends such an idle transaction after this, so other nodes' writers wait
/// for those rows at most this long.
const IDLE_IN_TRANSACTION_TIMEOUT_MS: u64 = 4_000;

/// Longest one statement (a lock wait included) may run on the server; longer
/// than the idle-in-transaction bound, so a writer waiting for the rows of a
/// vanished node gets them before it gives up.
const STATEMENT_TIMEOUT_MS: u64 = 8_000;

/// A key for `pg_advisory_xact_lock`, so nodes starting together migrate one
/// at a time ("natter" in ASCII).
const MIGRATION_LOCK: i64 = 0x6e61_7474_6572;

pub struct PostgresStore {
    config: tokio_postgres::Config,
    /// `None` once closed.
    jobs: std::sync::Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    writer: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The read connection; replaced when it is found closed.
    reader: std::sync::Mutex<Option<Arc<Client>>>,
    closed: AtomicBool,
}

impl PostgresStore {
    /// Connects, migrates and starts the writer task.
    pub async fn open(url: &str, metrics: Arc<Metrics>) -> StoreResult<Self> {
        Self::open_with(url, DEFAULT_MAX_BATCH, metrics).await
    }

    /// As [`open`](Self::open) with a batch size; 1 turns group commit off.
    pub async fn open_with(url: &str, max_batch: usize, metrics: Arc<Metrics>) -> StoreResult<Self> {
        let mut config = tokio_postgres::Config::from_str(url)
            // The parser's message may quote the URL, password and all.
            .map_err(|_| StoreError::Backend("cannot parse the PostgreSQL URL".into()))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("natter");
        config
            .tcp_user_timeout(TCP_USER_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES);
        let bounds = format!(
            "-c statement_timeout={STATEMENT_TIMEOUT_MS} \
             -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}"
        );
        // Keep whatever options the URL names; ours come after them.
        let options = match config.get_options() {
            Some(given) if !given.is_empty() => format!("{given} {bounds}"),
            _ => bounds,
        };
        config.options(options);
        let connection = connect(&config).await?;
        migrate(&connection).await?;
        let (sender, receiver) = mpsc::channel(JOB_QUEUE);
        let writer = Writer { config: config.clone(), connection: Some(Arc::new(connection)), metrics };
        let handle = tokio::spawn(writer.run(receiver, max_batch.max(1)));
        Ok(Self {
            config,
            jobs: std::sync::Mutex::new(Some(sender)),
            writer: std::sync::Mutex::new(Some(handle)),
            reader: std::sync::Mutex::new(None),
            closed: AtomicBool::new(false),
        })
    }

    /// Queues `op` for the writer task; the returned future resolves after
    /// the batch it ran in has committed. `lock` names the channel whose row
    /// the job will update, so the batch can lock it up front.
    fn submit<T, F>(&self, lock: Option<ChannelId>, op: F) -> Queued<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Client>) -> BoxFuture<'static, StoreResult<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Operation { lock, op, reply });
        let queued = {
            let jobs = self.jobs.lock().expect("store sender lock is never poisoned");
            match jobs.as_ref() {
                Some(sender) => match sender.try_send(job) {
                    Ok(()) => Ok(()),
                    Err(mpsc::error::TrySendError::Full(_)) => Err(StoreError::Busy),
                    Err(mpsc::error::TrySendError::Closed(_)) => Err(StoreError::Closed),
                },
                None => Err(StoreError::Closed),
            }
        };
        Box::pin(async move {
            queued?;
            answer.await.unwrap_or(Err(StoreError::Closed))
        })
    }

    /// The read connection, reconnecting if it was lost.
    async fn read(&self) -> StoreResult<Arc<Client>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let current = self.reader.lock().expect("reader lock is never poisoned").clone();
        if let Some(client) = current
            && !client.is_closed()
        {
            return Ok(client);
        }
        let client = Arc::new(connect(&self.config).await?);
        *self.reader.lock().expect("reader lock is never poisoned") = Some(Arc::clone(&client));
        Ok(client)
    }
}

/// Opens a connection and drives it on its own task.
async fn connect(config: &tokio_postgres::Config) -> StoreResult<Client> {
    // `connect_timeout` bounds the TCP connection only; a server (or link)
    // that accepts and then says nothing would hold the startup exchange
    // for ever, so the whole of it gets the same deadline.
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls))
        .await
        .map_err(|_| StoreError::Backend("PostgreSQL did not answer the connection in time".into()))?
        .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

fn backend(error: tokio_postgres::Error) -> StoreError {
    if error.is_closed() {
        StoreError::Backend(format!("PostgreSQL connection lost: {error}"))
    } else {
        StoreError::Backend(error.to_string())
    }
}

fn is_unique_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// Schema versions, applied in order; `natter_schema` counts those applied.
/// The same tables as the SQLite store's first migration, in PostgreSQL's
/// types: identities for ids, BIGINT milliseconds for times.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE users (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name          TEXT NOT NULL,
        name_key      TEXT NOT NULL UNIQUE,
        password_hash TEXT,
        guest         BOOLEAN NOT NULL DEFAULT FALSE,
        created_at    BIGINT NOT NULL
    );
    CREATE TABLE sessions (
        token_hash BYTEA PRIMARY KEY,
        user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions(user_id);
    CREATE TABLE channels (
        id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name       TEXT NOT NULL,
        -- Lower-cased name; NULL for DMs. Unique among public channels only
        -- (index below): a private channel's name must not be discoverable
        -- by someone trying to create a channel of that name.
        name_key   TEXT,
        -- 'min_user_id:max_user_id' for DMs; NULL otherwise.
        dm_key     TEXT UNIQUE,
        kind       TEXT NOT NULL CHECK (kind IN ('public', 'private', 'dm')),
        created_by BIGINT REFERENCES users(id),
        created_at BIGINT NOT NULL,
        last_seq   BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE members (
        channel_id BIGINT NOT NULL REFERENCES channels(id),
        user_id    BIGINT NOT NULL REFERENCES users(id),
        read_seq   BIGINT NOT NULL DEFAULT 0,
        joined_at  BIGINT NOT NULL,
        PRIMARY KEY (channel_id, user_id)
    );
    CREATE UNIQUE INDEX public_channel_names ON channels(name_key) WHERE kind = 'public';
    CREATE INDEX channel_names ON channels(name_key);
    CREATE INDEX members_by_user ON members(user_id);
    CREATE TABLE messages (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        channel_id BIGINT NOT NULL REFERENCES channels(id),
        seq        BIGINT NOT NULL,
        sender_id  BIGINT NOT NULL REFERENCES users(id),
        client_id  TEXT NOT NULL,
        body       TEXT NOT NULL,
        ts         BIGINT NOT NULL,
        UNIQUE (channel_id, seq),
        UNIQUE (sender_id, client_id)
    );
    INSERT INTO channels (id, name, name_key, kind, created_at)
        VALUES (1, 'General', 'general', 'public', 0);
    -- General took id 1 explicitly; the identity continues after it.
    SELECT setval(pg_get_serial_sequence('channels', 'id'), 1);
"#,
    r#"
    -- Who put a member into a channel (NULL when they joined themselves),
    -- so the invitee can be told who added them.
    ALTER TABLE members ADD COLUMN added_by BIGINT REFERENCES users(id);
    -- The second name key (see `ChannelName::look_key`): two names clash
    -- when either key matches.
    ALTER TABLE channels ADD COLUMN look_key TEXT;
    CREATE UNIQUE INDEX public_channel_looks ON channels(look_key) WHERE kind = 'public';
    CREATE INDEX channel_looks ON channels(look_key);
    -- Public channel pages are read in name order (bytes, as SQLite's).
    CREATE INDEX channels_by_name ON channels(kind, name COLLATE "C", id);
    -- System lines (joined, left, added) live in the message stream; these
    -- say which kind and whom it is about. NULL for chat messages.
    ALTER TABLE messages ADD COLUMN system_kind TEXT;
    ALTER TABLE messages ADD COLUMN system_user BIGINT REFERENCES users(id);
"#,
];

/// The migration after which channel name keys are confusable skeletons
/// (`model::name_key`) rather than lower-cased names.
const RENAMED_KEYS_MIGRATION: usize = 2;

async fn migrate(connection: &Client) -> StoreResult<()> {
    connection.batch_execute("BEGIN").await.map_err(backend)?;
    let migrated = async {
        // One node migrates at a time; the others then find nothing to do.
        connection.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        connection
            .batch_execute("CREATE TABLE IF NOT EXISTS natter_schema (version INTEGER NOT NULL)")
            .await?;
        let applied: i64 = connection.query_one("SELECT COUNT(*) FROM natter_schema", &[]).await?.get(0);
        let applied = usize::try_from(applied).unwrap_or(0);
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            connection.batch_execute(migration).await?;
            if index + 1 == RENAMED_KEYS_MIGRATION {
                rekey_channel_names(connection).await?;
            }
            let version = i32::try_from(index + 1).expect("fewer than 2^31 migrations");
            connection.execute("INSERT INTO natter_schema (version) VALUES ($1)", &[&version]).await?;
        }
        connection.batch_execute("COMMIT").await
    }
    .await;
    if let Err(error) = migrated {
        let _ = connection.batch_execute("ROLLBACK").await;
        return Err(StoreError::Backend(format!("migration failed: {error}")));
    }
    debug_assert_eq!(GENERAL, "General", "the migration above names General");
    Ok(())
}

/// Recomputes every channel's name key in Rust, which SQL cannot do, inside
/// the migration's transaction. Every key is first set aside (so no old key
/// can block a new one), then keys are given out oldest channel first: two
/// public channels that now share a key (one made to look like the other)
/// cannot both hold it, so the younger gets a key no name can produce (a
/// control character and its id) and stays listed but no longer answers to
/// the name.
async fn rekey_channel_names(connection: &Client) -> Result<(), tokio_postgres::Error> {
    connection
        .execute(
            "UPDATE channels SET name_key = chr(1) || id::text, look_key = chr(1) || id::text WHERE kind <> 'dm'",
            &[],
        )
        .await?;
    let channels =
        connection.query("SELECT id, name FROM channels WHERE kind <> 'dm' ORDER BY id", &[]).await?;
    for row in channels {
        let (id, name): (i64, String) = (row.get(0), row.get(1));
        let (key, look) = (name_key(&name), look_key(&name));
        // A savepoint per row, so one clash does not abort the migration.
        connection.batch_execute("SAVEPOINT rekey").await?;
        let rekey = "UPDATE channels SET name_key = $1, look_key = $2 WHERE id = $3";
        match connection.execute(rekey, &[&key, &look, &id]).await {
            Ok(_) => connection.batch_execute("RELEASE rekey").await?,
            Err(error) if is_unique_violation(&error) => {
                tracing::warn!(
                    channel = id,
                    "a look-alike public channel name no longer answers to its name"
                );
                connection.batch_execute("ROLLBACK TO rekey; RELEASE rekey").await?;
                let (key, look) = (format!("{key}\u{1}{id}"), format!("{look}\u{1}{id}"));
                connection.execute(rekey, &[&key, &look, &id]).await?;
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// A type-erased operation for the writer task.
trait Job: Send {
    /// The channel whose row this job updates, if any.
    fn lock(&self) -> Option<ChannelId>;
    /// Runs the operation inside the current transaction.
    fn run(self: Box<Self>, connection: Arc<Client>) -> BoxFuture<'static, Box<dyn Completion>>;
    /// Answers without running (the transaction could not start).
    fn fail(self: Box<Self>, error: StoreError);
}

struct Operation<T, F> {
    lock: Option<ChannelId>,
    op: F,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Operation<T, F>
where
    T: Send + 'static,
    F: FnOnce(Arc<Client>) -> BoxFuture<'static, StoreResult<T>> + Send + 'static,
{
    fn lock(&self) -> Option<ChannelId> {
        self.lock
    }

    fn run(self: Box<Self>, connection: Arc<Client>) -> BoxFuture<'static, Box<dyn Completion>> {
        let Operation { op, reply, .. } = *self;
        Box::pin(async move {
            let result = op(connection).await;
            Box::new(Ran { result, reply }) as Box<dyn Completion>
        })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// The writer task's state: the write connection, reopened when lost.
struct Writer {
    config: tokio_postgres::Config,
    connection: Option<Arc<Client>>,
    metrics: Arc<Metrics>,
}

impl Writer {
    async fn run(mut self, mut jobs: mpsc::Receiver<Box<dyn Job>>, max_batch: usize) {
        let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
        while let Some(first) = jobs.recv().await {
            batch.push(first);
            while batch.len() < max_batch {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let started = Instant::now();
            let size = batch.len();
            match self.connection().await {
                Ok(connection) => {
                    let ran = tokio::time::timeout(BATCH_DEADLINE, run_batch(&connection, &mut batch)).await;
                    if ran.is_err() {
                        // The link stalled with the batch in flight (the
                        // kernel sees its data acknowledged, so the TCP
                        // timeouts never fire). Jobs that ran lose their
                        // answers with the dropped batch, and their callers
                        // hear `unavailable`: the commit may or may not
                        // have happened, and a retry with the same
                        // `client_id` stores it at most once. The connection
                        // is given up; the next batch opens another.
                        tracing::error!(
                            jobs = size,
                            "a batch outlived its deadline; giving up its connection"
                        );
                        let error = StoreError::Backend("the database did not answer in time".into());
                        for job in batch.drain(..) {
                            job.fail(error.clone());
                        }
                        self.connection = None;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, jobs = size, "no database connection; failing the batch");
                    for job in batch.drain(..) {
                        job.fail(error.clone());
                    }
                }
            }
            self.metrics.commit_batch_size.observe(size as f64);
            self.metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
        }
    }

    async fn connection(&mut self) -> StoreResult<Arc<Client>> {
        if let Some(connection) = &self.connection
            && !connection.is_closed()
        {
            return Ok(Arc::clone(connection));
        }
        self.connection = None;
        let connection = Arc::new(connect(&self.config).await?);
        self.connection = Some(Arc::clone(&connection));
        Ok(connection)
    }
}

async fn run_batch(connection: &Arc<Client>, batch: &mut Vec<Box<dyn Job>>) {
    let mut locks: Vec<i64> = batch.iter().filter_map(|job| job.lock()).map(|c| c.0).collect();
    locks.sort_unstable();
    locks.dedup();
    let begun = async {
        connection.batch_execute("BEGIN").await?;
        if !locks.is_empty() {
            // In id order on every node, so batches never deadlock each other.
            connection
                .execute(
                    "SELECT id FROM channels WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
                    &[&locks],
                )
                .await?;
        }
        Ok::<(), tokio_postgres::Error>(())
    }
    .await;
    if let Err(error) = begun {
        tracing::error!(%error, "cannot begin a transaction");
        let _ = connection.batch_execute("ROLLBACK").await;
        let error = backend(error);
        for job in batch.drain(..) {
            job.fail(error.clone());
        }
        return;
    }
    let mut completions = Vec::with_capacity(batch.len());
    let mut batch_error = None;
    // How the previous job's savepoint ends; sent in front of the next job's
    // savepoint (or the COMMIT), so each job costs one round trip more than
    // its own statements rather than three.
    let mut close_previous: Option<&'static str> = None;
    for job in batch.drain(..) {
        if batch_error.is_some() {
            job.fail(StoreError::Backend("transaction aborted".into()));
            continue;
        }
        // Each job gets a savepoint, so a job that fails half-way leaves no
        // trace while the rest of the batch still commits. The savepoint is
        // pipelined with the job's first statement: the connection sends
        // requests in the order they are first polled, and `join!` polls
        // the savepoint first.
        let open = match close_previous.take() {
            Some(close) => format!("{close}; SAVEPOINT job"),
            None => "SAVEPOINT job".to_owned(),
        };
        let (opened, completion) =
            tokio::join!(connection.batch_execute(&open), job.run(Arc::clone(connection)));
        if let Err(error) = opened {
            batch_error = Some(backend(error));
        }
        close_previous =
            Some(if completion.succeeded() { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" });
        completions.push(completion);
    }
    let commit = match batch_error {
        None => {
            let commit = match close_previous {
                Some(close) => format!("{close}; COMMIT"),
                None => "COMMIT".to_owned(),
            };
            connection.batch_execute(&commit).await.map_err(backend)
        }
        Some(error) => Err(error),
    };
    if let Err(error) = &commit {
        tracing::error!(%error, jobs = completions.len(), "batch failed; nothing in it was stored");
        let _ = connection.batch_execute("ROLLBACK").await;
    }
    for completion in completions {
        completion.finish(commit.clone());
    }
}

fn kind_of(text: &str) -> StoreResult<ChannelKind> {
    ChannelKind::from_db(text).ok_or_else(|| StoreError::Backend(format!("unknown channel kind {text:?}")))
}

fn channel_from_row(row: &Row) -> StoreResult<Channel> {
    Ok(Channel { id: ChannelId(row.get(0)), name: row.get(1), kind: kind_of(row.get(2))? })
}

const MESSAGE_COLUMNS: &str = "m.id, m.channel_id, m.seq, m.sender_id, u.name, m.client_id, m.body, m.ts, \
     m.system_kind, (SELECT name FROM users WHERE id = m.system_user)";

fn message_from_row(row: &Row) -> Message {
    let system_kind: Option<&str> = row.get(8);
    let system = system_kind
        .and_then(SystemKind::from_db)
        .map(|kind| SystemEvent { kind, user_name: row.get::<_, Option<String>>(9).unwrap_or_default() });
    Message {
        id: MessageId(row.get(0)),
        channel: ChannelId(row.get(1)),
        seq: Seq(row.get(2)),
        sender: UserId(row.get(3)),
        sender_name: row.get(4),
        client_id: row.get(5),
        body: row.get(6),
        ts: row.get(7),
        system,
    }
}

fn user_from_row(row: &Row) -> User {
    User { id: UserId(row.get(0)), name: row.get(1), guest: row.get(2) }
}

async fn insert_user(c: &Client, name: &UserName, password_hash: Option<&str>) -> StoreResult<User> {
    let inserted = c
        .query_one(
            "INSERT INTO users (name, name_key, password_hash, guest, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&name.as_str(), &name.key(), &password_hash, &password_hash.is_none(), &now_millis()],
        )
        .await;
    let id = match inserted {
        Ok(row) => UserId(row.get(0)),
        Err(error) if is_unique_violation(&error) => return Err(StoreError::NameTaken),
        Err(error) => return Err(backend(error)),
    };
    c.execute(
        "INSERT INTO members (channel_id, user_id, read_seq, joined_at)
         SELECT id, $1, 0, $2 FROM channels WHERE id = 1
         ON CONFLICT DO NOTHING",
        &[&id.0, &now_millis()],
    )
    .await
    .map_err(backend)?;
    Ok(User { id, name: name.as_str().to_owned(), guest: password_hash.is_none() })
}

async fn load_channel(c: &Client, id: ChannelId) -> StoreResult<Option<Channel>> {
    let row =
        c.query_opt("SELECT id, name, kind FROM channels WHERE id = $1", &[&id.0]).await.map_err(backend)?;
    row.as_ref().map(channel_from_row).transpose()
}

/// Columns: id, name, kind, last_seq, read_seq (NULL when not a member),
/// the name of who added the member (NULL when they joined themselves).
async fn views_from_rows(c: &Client, rows: Vec<Row>) -> StoreResult<Vec<ChannelView>> {
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        let channel = channel_from_row(&row)?;
        let read_seq: Option<i64> = row.get(4);
        let dm_members = if channel.kind == ChannelKind::Direct {
            c.query(
                "SELECT u.name FROM members m JOIN users u ON u.id = m.user_id
                 WHERE m.channel_id = $1 ORDER BY u.name_key COLLATE \"C\"",
                &[&channel.id.0],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(|row| row.get(0))
            .collect()
        } else {
            Vec::new()
        };
        views.push(ChannelView {
            channel,
            last_seq: Seq(row.get(3)),
            read_seq: Seq(read_seq.unwrap_or(0)),
            member: read_seq.is_some(),
            dm_members,
            added_by: row.get(5),
            joined_at: row.get::<_, Option<i64>>(6).unwrap_or(0),
        });
    }
    Ok(views)
}

const VIEW_COLUMNS: &str = "c.id, c.name, c.kind, c.last_seq, m.read_seq, \
     (SELECT name FROM users WHERE id = m.added_by), m.joined_at";

async fn add_member_row(
    c: &Client,
    channel: ChannelId,
    user: UserId,
    added_by: Option<UserId>,
) -> StoreResult<bool> {
    let added = c
        .execute(
            "INSERT INTO members (channel_id, user_id, read_seq, joined_at, added_by) VALUES ($1, $2, 0, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&channel.0, &user.0, &now_millis(), &added_by.map(|user| user.0)],
        )
        .await
        .map_err(backend)?;
    Ok(added == 1)
}

/// One statement with typed parameters, so an append costs one round trip
/// (pipelined with its savepoint): the idempotency lookup, the membership check, the seq bump
/// under the channel's row lock and the insert. Returns the stored original
/// (`existing`) or the new row (`inserted`); no row means not a member.
const APPEND_SQL: &str = "
    WITH existing AS (
        SELECT m.id, m.channel_id, m.seq, m.sender_id, u.name, m.client_id, m.body, m.ts
        FROM messages m JOIN users u ON u.id = m.sender_id
        WHERE m.sender_id = $2::BIGINT AND m.client_id = $3::TEXT
    ), sender AS (
        SELECT u.name FROM members mb JOIN users u ON u.id = mb.user_id
        WHERE mb.channel_id = $1::BIGINT AND mb.user_id = $2::BIGINT
    ), bump AS (
        UPDATE channels SET last_seq = last_seq + 1
        WHERE id = $1::BIGINT AND NOT EXISTS (SELECT 1 FROM existing) AND EXISTS (SELECT 1 FROM sender)
        RETURNING last_seq
    ), inserted AS (
        INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts)
        SELECT $1::BIGINT, last_seq, $2::BIGINT, $3::TEXT, $4::TEXT, $5::BIGINT FROM bump
        RETURNING id, seq
    )
    SELECT FALSE AS created, e.id, e.channel_id, e.seq, e.sender_id, e.name, e.client_id, e.body, e.ts
    FROM existing e
    UNION ALL
    SELECT TRUE, i.id, $1::BIGINT, i.seq, $2::BIGINT, (SELECT name FROM sender), $3::TEXT, $4::TEXT, $5::BIGINT
    FROM inserted i";

async fn append(c: &Client, new: NewMessage) -> StoreResult<Appended> {
    let client_id = new.client_id.into_string();
    let body = new.body.into_string();
    // The batch holds this channel's row lock from its start, so another
    // node's append of the same (sender, client_id) here either committed
    // before (and `existing` finds it) or waits for this batch. The same
    // client id sent to two different channels through two nodes at once
    // fails the second with a unique violation; its retry finds the first.
    // Typed parameters: no separate prepare round trip.
    let row = c
        .query_typed_opt(
            APPEND_SQL,
            &[
                (&new.channel.0, Type::INT8),
                (&new.sender.0, Type::INT8),
                (&client_id, Type::TEXT),
                (&body, Type::TEXT),
                (&now_millis(), Type::INT8),
            ],
        )
        .await
        .map_err(backend)?;
    match row {
        Some(row) => {
            let created: bool = row.get(0);
            let message = Message {
                id: MessageId(row.get(1)),
                channel: ChannelId(row.get(2)),
                seq: Seq(row.get(3)),
                sender: UserId(row.get(4)),
                sender_name: row.get(5),
                client_id: row.get(6),
                body: row.get(7),
                ts: row.get(8),
                system: None,
            };
            Ok(Appended { message, created })
        }
        None => Err(match load_channel(c, new.channel).await? {
            Some(_) => StoreError::NotMember,
            None => StoreError::NoSuchChannel,
        }),
    }
}

/// Appends a system line: no membership check (the server writes it, also
/// for someone who just left), otherwise like a message. The batch holds the
/// channel's row lock, as for a message.
async fn append_system(c: &Client, line: NewSystemLine) -> StoreResult<Message> {
    let names = c
        .query("SELECT id, name FROM users WHERE id = $1 OR id = $2", &[&line.actor.0, &line.subject.0])
        .await
        .map_err(backend)?;
    let name_of = |user: UserId| {
        names
            .iter()
            .find(|row| row.get::<_, i64>(0) == user.0)
            .map(|row| row.get::<_, String>(1))
            .ok_or_else(|| StoreError::Backend("no such user".into()))
    };
    let (sender_name, subject_name) = (name_of(line.actor)?, name_of(line.subject)?);
    let event = SystemEvent { kind: line.kind, user_name: subject_name };
    let body = event.text(&sender_name);
    let ts = now_millis();
    let row = c
        .query_opt(
            "WITH bump AS (UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq)
             INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts, system_kind, system_user)
             SELECT $1, last_seq, $2, $3, $4, $5, $6, $7 FROM bump
             RETURNING id, seq",
            &[
                &line.channel.0,
                &line.actor.0,
                &line.client_id,
                &body,
                &ts,
                &line.kind.as_str(),
                &line.subject.0,
            ],
        )
        .await
        .map_err(backend)?
        .ok_or(StoreError::NoSuchChannel)?;
    Ok(Message {
        id: MessageId(row.get(0)),
        channel: line.channel,
        seq: Seq(row.get(1)),
        sender: line.actor,
        sender_name,
        client_id: line.client_id,
        body,
        ts,
        system: Some(event),
    })
}

async fn create_channel(
    c: &Client,
    name: &ChannelName,
    kind: ChannelKind,
    creator: UserId,
    max_per_creator: u32,
) -> StoreResult<Channel> {
    // A public channel of that name, or a private one the creator is already
    // in; other private channels do not exist for them.
    let existing = c
        .query_opt(
            "SELECT c.id FROM channels c
             LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = $2
             WHERE (c.name_key = $1 OR c.look_key = $3)
               AND (c.kind = 'public' OR (c.kind = 'private' AND m.user_id IS NOT NULL))
             ORDER BY c.kind = 'public' DESC LIMIT 1",
            &[&name.key(), &creator.0, &name.look_key()],
        )
        .await
        .map_err(backend)?;
    if let Some(row) = existing {
        let channel = load_channel(c, ChannelId(row.get(0))).await?.ok_or(StoreError::NoSuchChannel)?;
        return Err(StoreError::ChannelExists(channel));
    }
    let created: i64 = c
        .query_one("SELECT COUNT(*) FROM channels WHERE created_by = $1 AND kind <> 'dm'", &[&creator.0])
        .await
        .map_err(backend)?
        .get(0);
    if created >= i64::from(max_per_creator) {
        return Err(StoreError::LimitReached);
    }
    let inserted = c
        .query_one(
            "INSERT INTO channels (name, name_key, look_key, kind, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&name.as_str(), &name.key(), &name.look_key(), &kind.as_str(), &creator.0, &now_millis()],
        )
        .await;
    let id = match inserted {
        Ok(row) => ChannelId(row.get(0)),
        // Another node created the public channel a moment ago; the job's
        // savepoint is rolled back, and the caller gets the same answer as
        // if it had come second on one node.
        Err(error) if is_unique_violation(&error) => {
            return Err(StoreError::Backend("a channel of that name was just created; try again".into()));
        }
        Err(error) => return Err(backend(error)),
    };
    add_member_row(c, id, creator, None).await?;
    Ok(Channel { id, name: name.as_str().to_owned(), kind })
}

async fn open_dm(c: &Client, a: UserId, b: UserId) -> StoreResult<(Channel, bool)> {
    let key = format!("{}:{}", a.0.min(b.0), a.0.max(b.0));
    let names: Vec<String> = c
        .query("SELECT name FROM users WHERE id = $1 OR id = $2 ORDER BY id = $1 DESC", &[&a.0, &b.0])
        .await
        .map_err(backend)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if names.len() != 2 && a != b {
        return Err(StoreError::Backend("no such user".into()));
    }
    // ON CONFLICT: two nodes opening the same DM at once both end up with it.
    let inserted = c
        .query_opt(
            "INSERT INTO channels (name, dm_key, kind, created_by, created_at) VALUES ($1, $2, 'dm', $3, $4)
             ON CONFLICT (dm_key) DO NOTHING RETURNING id",
            &[&names.join(", "), &key, &a.0, &now_millis()],
        )
        .await
        .map_err(backend)?;
    let created = inserted.is_some();
    let id = match inserted {
        Some(row) => ChannelId(row.get(0)),
        None => ChannelId(
            c.query_one("SELECT id FROM channels WHERE dm_key = $1", &[&key]).await.map_err(backend)?.get(0),
        ),
    };
    add_member_row(c, id, a, None).await?;
    add_member_row(c, id, b, None).await?;
    Ok((load_channel(c, id).await?.ok_or(StoreError::NoSuchChannel)?, created))
}

async fn claim_guest(c: &Client, name: &UserName) -> StoreResult<User> {
    let existing = c
        .query_opt("SELECT id, name, guest FROM users WHERE name_key = $1 FOR UPDATE", &[&name.key()])
        .await
        .map_err(backend)?;
    match existing.as_ref().map(user_from_row) {
        Some(user) if user.guest => {
            // A guest name passes to whoever claims it next, as the
            // tutorial's names do, but as a new user: the previous holder's
            // row gives up the name key (usernames cannot contain '~') and
            // its sessions, and keeps its id, messages, DMs and client ids,
            // which the newcomer can neither see nor collide with.
            c.execute("DELETE FROM sessions WHERE user_id = $1", &[&user.id.0]).await.map_err(backend)?;
            c.execute("UPDATE users SET name_key = '~' || id::text WHERE id = $1", &[&user.id.0])
                .await
                .map_err(backend)?;
            insert_user(c, name, None).await
        }
        Some(_) => Err(StoreError::NameTaken),
        None => insert_user(c, name, None).await,
    }
}

async fn query_messages(
    c: &Client,
    sql: &str,
    channel: ChannelId,
    bound: i64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let rows = c.query(sql, &[&channel.0, &bound, &i64::from(limit)]).await.map_err(backend)?;
    Ok(rows.iter().map(message_from_row).collect())
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_user(&self, name: &UserName, password_hash: &str) -> StoreResult<User> {
        let (name, hash) = (name.clone(), password_hash.to_owned());
        self.submit(None, move |c| Box::pin(async move { insert_user(&c, &name, Some(&hash)).await })).await
    }

    async fn claim_guest(&self, name: &UserName) -> StoreResult<User> {
        let name = name.clone();
        self.submit(None, move |c| Box::pin(async move { claim_guest(&c, &name).await })).await
    }

    async fn find_user(&self, name: &str) -> StoreResult<Option<Credentials>> {
        let row = self
            .read()
            .await?
            .query_opt(
                "SELECT id, name, guest, password_hash FROM users WHERE name_key = $1",
                &[&name.to_ascii_lowercase()],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|row| Credentials { user: user_from_row(&row), password_hash: row.get(3) }))
    }

    async fn create_session(
        &self,
        user: UserId,
        token_hash: [u8; 32],
        expires_at_ms: i64,
    ) -> StoreResult<()> {
        self.submit(None, move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                    &[&token_hash.as_slice(), &user.0, &now_millis(), &expires_at_ms],
                )
                .await
                .map_err(backend)?;
                Ok(())
            })
        })
        .await
    }

    async fn session_user(&self, token_hash: [u8; 32], now_ms: i64) -> StoreResult<Option<User>> {
        let row = self
            .read()
            .await?
            .query_opt(
                "SELECT u.id, u.name, u.guest FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = $1 AND s.expires_at > $2",
                &[&token_hash.as_slice(), &now_ms],
            )
            .await
            .map_err(backend)?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn delete_session(&self, token_hash: [u8; 32]) -> StoreResult<()> {
        self.submit(None, move |c| {
            Box::pin(async move {
                c.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash.as_slice()])
                    .await
                    .map_err(backend)?;
                Ok(())
            })
        })
        .await
    }

    async fn create_channel(
        &self,
        name: &ChannelName,
        kind: ChannelKind,
        creator: UserId,
        max_per_creator: u32,
    ) -> StoreResult<Channel> {
        let name = name.clone();
        self.submit(None, move |c| {
            Box::pin(async move { create_channel(&c, &name, kind, creator, max_per_creator).await })
        })
        .await
    }

    async fn open_dm(&self, a: UserId, b: UserId) -> StoreResult<(Channel, bool)> {
        self.submit(None, move |c| Box::pin(async move { open_dm(&c, a, b).await })).await
    }

    async fn channel(&self, id: ChannelId) -> StoreResult<Option<Channel>> {
        load_channel(&*self.read().await?, id).await
    }

    async fn channels_named(&self, name: &ChannelName, viewer: UserId) -> StoreResult<Vec<ChannelView>> {
        let c = self.read().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {VIEW_COLUMNS} FROM channels c
                     LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = $2
                     WHERE (c.name_key = $1 OR c.look_key = $3)
                       AND (c.kind = 'public' OR (c.kind = 'private' AND m.user_id IS NOT NULL))
                     ORDER BY c.id"
                ),
                &[&name.key(), &viewer.0, &name.look_key()],
            )
            .await
            .map_err(backend)?;
        views_from_rows(&c, rows).await
    }

    async fn add_member(
        &self,
        channel: ChannelId,
        user: UserId,
        added_by: Option<UserId>,
    ) -> StoreResult<bool> {
        self.submit(None, move |c| {
            Box::pin(async move {
                load_channel(&c, channel).await?.ok_or(StoreError::NoSuchChannel)?;
                add_member_row(&c, channel, user, added_by).await
            })
        })
        .await
    }

    async fn remove_member(&self, channel: ChannelId, user: UserId) -> StoreResult<bool> {
        self.submit(None, move |c| {
            Box::pin(async move {
                let removed = c
                    .execute(
                        "DELETE FROM members WHERE channel_id = $1 AND user_id = $2",
                        &[&channel.0, &user.0],
                    )
                    .await
                    .map_err(backend)?;
                Ok(removed == 1)
            })
        })
        .await
    }

    async fn is_member(&self, channel: ChannelId, user: UserId) -> StoreResult<bool> {
        let row = self
            .read()
            .await?
            .query_opt("SELECT 1 FROM members WHERE channel_id = $1 AND user_id = $2", &[&channel.0, &user.0])
            .await
            .map_err(backend)?;
        Ok(row.is_some())
    }

    async fn channel_view(&self, channel: ChannelId, viewer: UserId) -> StoreResult<ChannelView> {
        let c = self.read().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {VIEW_COLUMNS} FROM channels c
                     LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = $1
                     WHERE c.id = $2"
                ),
                &[&viewer.0, &channel.0],
            )
            .await
            .map_err(backend)?;
        views_from_rows(&c, rows).await?.pop().ok_or(StoreError::NoSuchChannel)
    }

    async fn channels_of(&self, user: UserId) -> StoreResult<Vec<ChannelView>> {
        let c = self.read().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {VIEW_COLUMNS} FROM members m JOIN channels c ON c.id = m.channel_id
                     WHERE m.user_id = $1 ORDER BY c.id"
                ),
                &[&user.0],
            )
            .await
            .map_err(backend)?;
        views_from_rows(&c, rows).await
    }

    async fn list_users(
        &self,
        prefix_key: &str,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let until = super::user_prefix_end(prefix_key);
        let after = after_key.unwrap_or_default();
        // Byte order ("C"), as on SQLite: the key range relies on '~' sorting
        // after every character a name may hold, which a locale's order does not promise.
        let rows = self
            .read()
            .await?
            .query(
                "SELECT id, name, guest FROM users
                 WHERE name_key COLLATE \"C\" >= $1 AND name_key COLLATE \"C\" < $2
                   AND name_key COLLATE \"C\" > $3
                 ORDER BY name_key COLLATE \"C\" LIMIT $4",
                &[&prefix_key, &until, &after, &i64::from(limit)],
            )
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    async fn public_channels(&self, viewer: UserId, page: ChannelPage) -> StoreResult<Vec<ChannelView>> {
        let c = self.read().await?;
        // `COLLATE "C"` compares names byte-wise, as SQLite does, so a
        // cursor means the same on both backends.
        let (after_name, after_id) = page.after.unwrap_or_default();
        let rows = c
            .query(
                &format!(
                    "SELECT {VIEW_COLUMNS} FROM channels c
                     LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = $1
                     WHERE c.kind = 'public'
                       AND (c.name COLLATE \"C\" > $2 OR (c.name = $2 AND c.id > $3))
                       AND left(c.name_key, char_length($4)) = $4
                     ORDER BY c.name COLLATE \"C\", c.id LIMIT $5"
                ),
                &[&viewer.0, &after_name, &after_id.0, &page.prefix, &i64::from(page.limit)],
            )
            .await
            .map_err(backend)?;
        views_from_rows(&c, rows).await
    }

    async fn channel_heads(&self) -> StoreResult<Vec<(ChannelId, Seq)>> {
        let rows =
            self.read().await?.query("SELECT id, last_seq FROM channels", &[]).await.map_err(backend)?;
        Ok(rows.iter().map(|row| (ChannelId(row.get(0)), Seq(row.get(1)))).collect())
    }

    fn append_message(&self, message: NewMessage) -> Queued<Appended> {
        let channel = message.channel;
        self.submit(Some(channel), move |c| Box::pin(async move { append(&c, message).await }))
    }

    fn append_system(&self, line: NewSystemLine) -> Queued<Message> {
        let channel = line.channel;
        self.submit(Some(channel), move |c| Box::pin(async move { append_system(&c, line).await }))
    }

    async fn history(
        &self,
        channel: ChannelId,
        before: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let before = before.map_or(i64::MAX, |seq| seq.0);
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
             WHERE m.channel_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
        );
        let mut newest_first = query_messages(&*self.read().await?, &sql, channel, before, limit).await?;
        newest_first.reverse();
        Ok(newest_first)
    }

    async fn messages_after(&self, channel: ChannelId, after: Seq, limit: u32) -> StoreResult<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
             WHERE m.channel_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
        );
        query_messages(&*self.read().await?, &sql, channel, after.0, limit).await
    }

    async fn mark_read(&self, channel: ChannelId, user: UserId, seq: Seq) -> StoreResult<Seq> {
        self.submit(None, move |c| {
            Box::pin(async move {
                let marker = c
                    .query_opt(
                        "UPDATE members
                         SET read_seq = GREATEST(read_seq, LEAST($3, (SELECT last_seq FROM channels WHERE id = $1)))
                         WHERE channel_id = $1 AND user_id = $2
                         RETURNING read_seq",
                        &[&channel.0, &user.0, &seq.0],
                    )
                    .await
                    .map_err(backend)?;
                marker.map(|row| Seq(row.get(0))).ok_or(StoreError::NotMember)
            })
        })
        .await
    }

    async fn health(&self) -> StoreResult<()> {
        self.read().await?.query_one("SELECT 1", &[]).await.map_err(backend)?;
        Ok(())
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        // Dropping the sender ends the writer's loop once the queue is empty.
        drop(self.jobs.lock().expect("store sender lock is never poisoned").take());
        let writer = self.writer.lock().expect("store writer lock is never poisoned").take();
        if let Some(writer) = writer
            && writer.await.is_err()
        {
            tracing::error!("the PostgreSQL writer task ended abnormally");
        }
        drop(self.reader.lock().expect("reader lock is never poisoned").take());
    }
}
