//! The embedded SQLite store: one file in WAL mode, one writer thread.
//!
//! Every operation is a job sent to a single thread that owns the connection.
//! The thread takes all the jobs waiting (up to `max_batch`), runs each inside
//! its own savepoint within one transaction, commits once, and only then
//! answers them all: group commit, so durability costs one fsync per batch
//! rather than per message, and nothing is answered before it is on disk.
//! Reads of a file database go to a few read connections of their own
//! (`sqlite/readers.rs`), so they never wait behind a batch's fsync; an
//! in-memory database, which cannot be shared, reads through the writer.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::batch::{Completion, Ran};
use super::{
    Appended, ChannelPage, Credentials, NewMessage, NewSystemLine, Queued, Store, StoreError, StoreResult,
};
use crate::metrics::Metrics;
use crate::model::{
    Channel, ChannelId, ChannelKind, ChannelName, ChannelView, GENERAL, Message, MessageId, Seq, SystemEvent,
    SystemKind, User, UserId, UserName, look_key, name_key, now_millis,
};

/// Jobs waiting for the writer thread. When it is full, new jobs are refused
/// at once (`StoreError::Busy`, which clients see as `unavailable` and retry)
/// rather than queueing without bound behind a slow disk.
pub const JOB_QUEUE: usize = 16_384;

/// Most jobs committed in one transaction. Bounds how long one batch holds the
/// writer and how many answers wait on one fsync.
pub const DEFAULT_MAX_BATCH: usize = 512;

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file; `None` for a private in-memory database.
    pub path: Option<PathBuf>,
    /// Jobs per transaction; 1 turns group commit off (for measurements).
    pub max_batch: usize,
}

impl SqliteOptions {
    /// Parses `sqlite://path`, `sqlite:path` or `sqlite::memory:`.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| format!("not a sqlite URL: {url}"))?;
        let rest = rest.split('?').next().unwrap_or_default();
        let path = match rest {
            ":memory:" => None,
            "" => return Err("sqlite URL has no path".into()),
            file => Some(PathBuf::from(file)),
        };
        Ok(Self { path, max_batch: DEFAULT_MAX_BATCH })
    }
}

mod readers;

pub struct SqliteStore {
    /// `None` once closed.
    jobs: std::sync::Mutex<Option<mpsc::SyncSender<Box<dyn Job>>>>,
    /// Read connections; `None` for an in-memory database.
    readers: Option<readers::Readers>,
    worker: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database, then starts the
    /// writer thread. Blocking: call it from `spawn_blocking` in async code.
    pub fn open(options: SqliteOptions, metrics: Arc<Metrics>) -> StoreResult<Self> {
        let connection = match &options.path {
            Some(path) => Connection::open(path),
            None => Connection::open_in_memory(),
        }
        .map_err(backend)?;
        configure(&connection, options.path.is_some())?;
        migrate(&connection)?;
        let (sender, receiver) = mpsc::sync_channel(JOB_QUEUE);
        let max_batch = options.max_batch.max(1);
        let worker = std::thread::Builder::new()
            .name("natter-sqlite".into())
            .spawn(move || run_worker(connection, receiver, max_batch, metrics))
            .map_err(|e| StoreError::Backend(format!("cannot start writer thread: {e}")))?;
        let readers = match &options.path {
            Some(path) => Some(readers::Readers::open(path, readers::READERS)?),
            None => None,
        };
        Ok(Self {
            jobs: std::sync::Mutex::new(Some(sender)),
            readers,
            worker: std::sync::Mutex::new(Some(worker)),
        })
    }

    /// Runs a read-only `op` on a read connection, or on the writer when
    /// there are none (an in-memory database).
    fn read<T, F>(&self, op: F) -> Queued<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        match &self.readers {
            Some(readers) => readers.read(op),
            None => self.submit(op),
        }
    }

    /// Queues `op` for the writer thread; the returned future resolves after
    /// the batch it ran in has committed.
    fn submit<T, F>(&self, op: F) -> Queued<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Operation { op, reply });
        queue_job(&self.jobs, job, answer)
    }
}

/// Puts `job` on a bounded queue (the writer's or the readers'), refusing
/// it at once when the queue is full (`Busy`) or closed, and returns the
/// future of its answer.
fn queue_job<J, T: Send + 'static>(
    jobs: &std::sync::Mutex<Option<mpsc::SyncSender<J>>>,
    job: J,
    answer: oneshot::Receiver<StoreResult<T>>,
) -> Queued<T> {
    let queued = match jobs.lock().expect("job queue lock is never poisoned").as_ref() {
        Some(sender) => match sender.try_send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Full(_)) => Err(StoreError::Busy),
            Err(mpsc::TrySendError::Disconnected(_)) => Err(StoreError::Closed),
        },
        None => Err(StoreError::Closed),
    };
    Box::pin(async move {
        queued?;
        answer.await.unwrap_or(Err(StoreError::Closed))
    })
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

fn configure(connection: &Connection, on_disk: bool) -> StoreResult<()> {
    if on_disk {
        // WAL lets readers proceed during a commit and makes each commit one
        // append + fsync; FULL syncs the WAL at every commit, so an answered
        // write survives power loss, not only a crash of natter.
        let mode: String =
            connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!("cannot enable WAL (journal_mode={mode})")));
        }
    }
    connection
        .execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(backend)
}

/// Schema versions, applied in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL,
        name_key      TEXT NOT NULL UNIQUE,
        password_hash TEXT,
        guest         INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions(user_id);
    CREATE TABLE channels (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        -- Lower-cased name; NULL for DMs. Unique among public channels only
        -- (index below): a private channel's name must not be discoverable
        -- by someone trying to create a channel of that name.
        name_key   TEXT,
        -- 'min_user_id:max_user_id' for DMs; NULL otherwise.
        dm_key     TEXT UNIQUE,
        kind       TEXT NOT NULL CHECK (kind IN ('public', 'private', 'dm')),
        created_by INTEGER REFERENCES users(id),
        created_at INTEGER NOT NULL,
        last_seq   INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE members (
        channel_id INTEGER NOT NULL REFERENCES channels(id),
        user_id    INTEGER NOT NULL REFERENCES users(id),
        read_seq   INTEGER NOT NULL DEFAULT 0,
        joined_at  INTEGER NOT NULL,
        PRIMARY KEY (channel_id, user_id)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX public_channel_names ON channels(name_key) WHERE kind = 'public';
    CREATE INDEX channel_names ON channels(name_key);
    CREATE INDEX members_by_user ON members(user_id);
    CREATE TABLE messages (
        id         INTEGER PRIMARY KEY,
        channel_id INTEGER NOT NULL REFERENCES channels(id),
        seq        INTEGER NOT NULL,
        sender_id  INTEGER NOT NULL REFERENCES users(id),
        client_id  TEXT NOT NULL,
        body       TEXT NOT NULL,
        ts         INTEGER NOT NULL,
        UNIQUE (channel_id, seq),
        UNIQUE (sender_id, client_id)
    );
    INSERT INTO channels (id, name, name_key, kind, created_at)
        VALUES (1, 'General', 'general', 'public', 0);
"#,
    r#"
    -- Who put a member into a channel (NULL when they joined themselves),
    -- so the invitee can be told who added them.
    ALTER TABLE members ADD COLUMN added_by INTEGER REFERENCES users(id);
    -- The second name key (see `ChannelName::look_key`): two names clash
    -- when either key matches.
    ALTER TABLE channels ADD COLUMN look_key TEXT;
    CREATE UNIQUE INDEX public_channel_looks ON channels(look_key) WHERE kind = 'public';
    CREATE INDEX channel_looks ON channels(look_key);
    -- Public channel pages are read in name order.
    CREATE INDEX channels_by_name ON channels(kind, name, id);
    -- System lines (joined, left, added) live in the message stream; these
    -- say which kind and whom it is about. NULL for chat messages.
    ALTER TABLE messages ADD COLUMN system_kind TEXT;
    ALTER TABLE messages ADD COLUMN system_user INTEGER REFERENCES users(id);
"#,
];

fn migrate(connection: &Connection) -> StoreResult<()> {
    let applied: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(backend)?;
    let applied = usize::try_from(applied).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        connection.execute_batch(&format!("BEGIN; {migration};")).map_err(backend)?;
        // Steps written in Rust run inside the same transaction, so a
        // migration is applied whole or not at all.
        let finished =
            if index + 1 == RENAMED_KEYS_MIGRATION { rekey_channel_names(connection) } else { Ok(()) }
                .and_then(|()| {
                    let version = format!("PRAGMA user_version = {}; COMMIT;", index + 1);
                    connection.execute_batch(&version).map_err(backend)
                });
        if let Err(error) = finished {
            let _ = connection.execute_batch("ROLLBACK");
            return Err(error);
        }
    }
    debug_assert_eq!(GENERAL, "General", "the migration above names General");
    Ok(())
}

/// The migration after which channel name keys are confusable skeletons
/// (`model::name_key`) rather than lower-cased names.
const RENAMED_KEYS_MIGRATION: usize = 2;

/// Recomputes every channel's name key in Rust, which SQL cannot do. Every
/// key is first set aside (so no old key can block a new one), then keys are
/// given out oldest channel first: two public channels that now share a key
/// (one made to look like the other) cannot both hold it, so the younger gets
/// a key no name can produce (a control character and its id) and stays
/// listed but no longer answers to the name.
fn rekey_channel_names(connection: &Connection) -> StoreResult<()> {
    connection
        .execute(
            "UPDATE channels SET name_key = char(1) || id, look_key = char(1) || id WHERE kind <> 'dm'",
            [],
        )
        .map_err(backend)?;
    let channels: Vec<(i64, String)> = connection
        .prepare("SELECT id, name FROM channels WHERE kind <> 'dm' ORDER BY id")
        .and_then(|mut s| s.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
        .map_err(backend)?;
    for (id, name) in channels {
        let (key, look) = (name_key(&name), look_key(&name));
        let updated = connection.execute(
            "UPDATE channels SET name_key = ?1, look_key = ?2 WHERE id = ?3",
            params![key, look, id],
        );
        match updated {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                tracing::warn!(
                    channel = id,
                    "a look-alike public channel name no longer answers to its name"
                );
                let (key, look) = (format!("{key}\u{1}{id}"), format!("{look}\u{1}{id}"));
                connection
                    .execute(
                        "UPDATE channels SET name_key = ?1, look_key = ?2 WHERE id = ?3",
                        params![key, look, id],
                    )
                    .map_err(backend)?;
            }
            Err(error) => return Err(backend(error)),
        }
    }
    Ok(())
}

/// A type-erased operation for the writer thread.
trait Job: Send {
    /// Runs the operation inside the current transaction.
    fn run(self: Box<Self>, connection: &Connection) -> Box<dyn Completion>;
    /// Answers without running (the transaction could not start).
    fn fail(self: Box<Self>, error: StoreError);
}

struct Operation<T, F> {
    op: F,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Operation<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn run(self: Box<Self>, connection: &Connection) -> Box<dyn Completion> {
        let result = (self.op)(connection);
        Box::new(Ran { result, reply: self.reply })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

fn run_worker(
    connection: Connection,
    jobs: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    metrics: Arc<Metrics>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let size = batch.len();
        run_batch(&connection, &mut batch);
        metrics.commit_batch_size.observe(size as f64);
        metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
    }
    // All senders are gone: every queued job has been answered. Fold the WAL
    // back so the file is compact for the next start.
    if let Err(error) = connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(%error, "checkpoint at shutdown failed");
    }
}

fn run_batch(connection: &Connection, batch: &mut Vec<Box<dyn Job>>) {
    if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
        tracing::error!(%error, "cannot begin a transaction");
        for job in batch.drain(..) {
            job.fail(StoreError::Backend(error.to_string()));
        }
        return;
    }
    let mut completions = Vec::with_capacity(batch.len());
    let mut batch_error = None;
    for job in batch.drain(..) {
        if batch_error.is_some() {
            job.fail(StoreError::Backend("transaction aborted".into()));
            continue;
        }
        // Each job gets a savepoint, so a job that fails half-way leaves no
        // trace while the rest of the batch still commits.
        if let Err(error) = connection.execute_batch("SAVEPOINT job") {
            batch_error = Some(backend(error));
            job.fail(StoreError::Backend("transaction aborted".into()));
            continue;
        }
        let completion = job.run(connection);
        let close = if completion.succeeded() { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
        if let Err(error) = connection.execute_batch(close) {
            batch_error = Some(backend(error));
        }
        completions.push(completion);
    }
    let commit = match batch_error {
        None => connection.execute_batch("COMMIT").map_err(backend),
        Some(error) => Err(error),
    };
    if let Err(error) = &commit {
        tracing::error!(%error, jobs = completions.len(), "batch failed; nothing in it was stored");
        // After some I/O errors SQLite has rolled back already; a failing
        // ROLLBACK then only says so.
        let _ = connection.execute_batch("ROLLBACK");
    }
    for completion in completions {
        completion.finish(commit.clone());
    }
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

fn kind_of(text: String) -> rusqlite::Result<ChannelKind> {
    ChannelKind::from_db(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown channel kind {text:?}").into(),
        )
    })
}

const MESSAGE_COLUMNS: &str = "m.id, m.channel_id, m.seq, m.sender_id, u.name, m.client_id, m.body, m.ts, \
     m.system_kind, (SELECT name FROM users WHERE id = m.system_user)";

fn message_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    let system_kind: Option<String> = row.get(8)?;
    let system = match system_kind.as_deref().and_then(SystemKind::from_db) {
        Some(kind) => {
            Some(SystemEvent { kind, user_name: row.get::<_, Option<String>>(9)?.unwrap_or_default() })
        }
        None => None,
    };
    Ok(Message {
        id: MessageId(row.get(0)?),
        channel: ChannelId(row.get(1)?),
        seq: Seq(row.get(2)?),
        sender: UserId(row.get(3)?),
        sender_name: row.get(4)?,
        client_id: row.get(5)?,
        body: row.get(6)?,
        ts: row.get(7)?,
        system,
    })
}

fn insert_user(connection: &Connection, name: &UserName, password_hash: Option<&str>) -> StoreResult<User> {
    let now = now_millis();
    let inserted = connection.execute(
        "INSERT INTO users (name, name_key, password_hash, guest, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name.as_str(), name.key(), password_hash, password_hash.is_none(), now],
    );
    match inserted {
        Ok(_) => {}
        Err(error) if is_unique_violation(&error) => return Err(StoreError::NameTaken),
        Err(error) => return Err(backend(error)),
    }
    let id = UserId(connection.last_insert_rowid());
    join_general(connection, id)?;
    Ok(User { id, name: name.as_str().to_owned(), guest: password_hash.is_none() })
}

fn join_general(connection: &Connection, user: UserId) -> StoreResult<()> {
    connection
        .execute(
            "INSERT OR IGNORE INTO members (channel_id, user_id, read_seq, joined_at)
             SELECT id, ?1, 0, ?2 FROM channels WHERE id = 1",
            params![user.0, now_millis()],
        )
        .map_err(backend)?;
    Ok(())
}

fn load_channel(connection: &Connection, id: ChannelId) -> StoreResult<Option<Channel>> {
    connection
        .query_row("SELECT id, name, kind FROM channels WHERE id = ?1", [id.0], |row| {
            Ok(Channel { id: ChannelId(row.get(0)?), name: row.get(1)?, kind: kind_of(row.get(2)?)? })
        })
        .optional()
        .map_err(backend)
}

fn dm_member_names(connection: &Connection, channel: ChannelId) -> StoreResult<Vec<String>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT u.name FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.channel_id = ?1 ORDER BY u.name_key",
        )
        .map_err(backend)?;
    let names = statement
        .query_map([channel.0], |row| row.get(0))
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<String>>>()
        .map_err(backend)?;
    Ok(names)
}

/// Columns: id, name, kind, last_seq, read_seq (NULL when not a member),
/// the name of who added the member (NULL when they joined themselves).
fn view_from_row(connection: &Connection, row: &rusqlite::Row<'_>) -> StoreResult<ChannelView> {
    type Columns = (Channel, Seq, Option<i64>, Option<String>, Option<i64>);
    let read = |row: &rusqlite::Row<'_>| -> rusqlite::Result<Columns> {
        Ok((
            Channel { id: ChannelId(row.get(0)?), name: row.get(1)?, kind: kind_of(row.get(2)?)? },
            Seq(row.get(3)?),
            row.get(4)?,
            row.get(5)?,
            row.get(6)?,
        ))
    };
    let (channel, last_seq, read_seq, added_by, joined_at) = read(row).map_err(backend)?;
    let dm_members = if channel.kind == ChannelKind::Direct {
        dm_member_names(connection, channel.id)?
    } else {
        Vec::new()
    };
    Ok(ChannelView {
        channel,
        last_seq,
        read_seq: Seq(read_seq.unwrap_or(0)),
        member: read_seq.is_some(),
        dm_members,
        added_by,
        joined_at: joined_at.unwrap_or(0),
    })
}

fn query_views(
    connection: &Connection,
    sql: &str,
    parameters: impl rusqlite::Params,
) -> StoreResult<Vec<ChannelView>> {
    let mut statement = connection.prepare_cached(sql).map_err(backend)?;
    let mut rows = statement.query(parameters).map_err(backend)?;
    let mut views = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        views.push(view_from_row(connection, row)?);
    }
    Ok(views)
}

fn add_member_row(
    connection: &Connection,
    channel: ChannelId,
    user: UserId,
    added_by: Option<UserId>,
) -> StoreResult<bool> {
    let added = connection
        .execute(
            "INSERT OR IGNORE INTO members (channel_id, user_id, read_seq, joined_at, added_by)
             VALUES (?1, ?2, 0, ?3, ?4)",
            params![channel.0, user.0, now_millis(), added_by.map(|user| user.0)],
        )
        .map_err(backend)?;
    Ok(added == 1)
}

fn append(connection: &Connection, new: NewMessage) -> StoreResult<Appended> {
    let client_id = new.client_id.into_string();
    let existing = connection
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
             WHERE m.sender_id = ?1 AND m.client_id = ?2"
        ))
        .and_then(|mut s| s.query_row(params![new.sender.0, client_id], message_from_row).optional())
        .map_err(backend)?;
    if let Some(message) = existing {
        return Ok(Appended { message, created: false });
    }
    let member = connection
        .prepare_cached("SELECT 1 FROM members WHERE channel_id = ?1 AND user_id = ?2")
        .and_then(|mut s| s.exists(params![new.channel.0, new.sender.0]))
        .map_err(backend)?;
    if !member {
        return Err(match load_channel(connection, new.channel)? {
            Some(_) => StoreError::NotMember,
            None => StoreError::NoSuchChannel,
        });
    }
    let seq: i64 = connection
        .prepare_cached("UPDATE channels SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq")
        .and_then(|mut s| s.query_row([new.channel.0], |row| row.get(0)))
        .map_err(backend)?;
    let ts = now_millis();
    let body = new.body.into_string();
    connection
        .prepare_cached(
            "INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut s| s.execute(params![new.channel.0, seq, new.sender.0, client_id, body, ts]))
        .map_err(backend)?;
    let id = MessageId(connection.last_insert_rowid());
    let sender_name: String = connection
        .prepare_cached("SELECT name FROM users WHERE id = ?1")
        .and_then(|mut s| s.query_row([new.sender.0], |row| row.get(0)))
        .map_err(backend)?;
    Ok(Appended {
        message: Message {
            id,
            channel: new.channel,
            seq: Seq(seq),
            sender: new.sender,
            sender_name,
            client_id,
            body,
            ts,
            system: None,
        },
        created: true,
    })
}

/// Appends a system line: no membership check (the server writes it, also
/// for someone who just left), otherwise like a message.
fn append_system(connection: &Connection, line: NewSystemLine) -> StoreResult<Message> {
    load_channel(connection, line.channel)?.ok_or(StoreError::NoSuchChannel)?;
    let name_of = |user: UserId| -> StoreResult<String> {
        connection
            .prepare_cached("SELECT name FROM users WHERE id = ?1")
            .and_then(|mut s| s.query_row([user.0], |row| row.get(0)))
            .map_err(backend)
    };
    let (sender_name, subject_name) = (name_of(line.actor)?, name_of(line.subject)?);
    let event = SystemEvent { kind: line.kind, user_name: subject_name };
    let body = event.text(&sender_name);
    let seq: i64 = connection
        .prepare_cached("UPDATE channels SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq")
        .and_then(|mut s| s.query_row([line.channel.0], |row| row.get(0)))
        .map_err(backend)?;
    let ts = now_millis();
    connection
        .prepare_cached(
            "INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts, system_kind, system_user)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .and_then(|mut s| {
            s.execute(params![
                line.channel.0,
                seq,
                line.actor.0,
                line.client_id,
                body,
                ts,
                line.kind.as_str(),
                line.subject.0
            ])
        })
        .map_err(backend)?;
    Ok(Message {
        id: MessageId(connection.last_insert_rowid()),
        channel: line.channel,
        seq: Seq(seq),
        sender: line.actor,
        sender_name,
        client_id: line.client_id,
        body,
        ts,
        system: Some(event),
    })
}

fn query_messages(
    connection: &Connection,
    sql: &str,
    channel: ChannelId,
    bound: i64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let mut statement = connection.prepare_cached(sql).map_err(backend)?;
    statement
        .query_map(params![channel.0, bound, limit], message_from_row)
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)
}

const VIEW_COLUMNS: &str = "c.id, c.name, c.kind, c.last_seq, m.read_seq, \
     (SELECT name FROM users WHERE id = m.added_by), m.joined_at";

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, name: &UserName, password_hash: &str) -> StoreResult<User> {
        let (name, hash) = (name.clone(), password_hash.to_owned());
        self.submit(move |c| insert_user(c, &name, Some(&hash))).await
    }

    async fn claim_guest(&self, name: &UserName) -> StoreResult<User> {
        let name = name.clone();
        self.submit(move |c| {
            let existing = c
                .query_row("SELECT id, name, guest FROM users WHERE name_key = ?1", [name.key()], |row| {
                    Ok((UserId(row.get(0)?), row.get::<_, String>(1)?, row.get::<_, bool>(2)?))
                })
                .optional()
                .map_err(backend)?;
            match existing {
                Some((id, _, true)) => {
                    // A guest name passes to whoever claims it next, as the
                    // tutorial's names do, but as a new user: the previous
                    // holder's row gives up the name key (usernames cannot
                    // contain '~') and its sessions, and keeps its messages,
                    // DMs and idempotency keys, which the newcomer, with a
                    // fresh id, can neither see nor collide with.
                    c.execute("DELETE FROM sessions WHERE user_id = ?1", [id.0]).map_err(backend)?;
                    c.execute("UPDATE users SET name_key = '~' || id WHERE id = ?1", [id.0])
                        .map_err(backend)?;
                    insert_user(c, &name, None)
                }
                Some((_, _, false)) => Err(StoreError::NameTaken),
                None => insert_user(c, &name, None),
            }
        })
        .await
    }

    async fn find_user(&self, name: &str) -> StoreResult<Option<Credentials>> {
        let key = name.to_ascii_lowercase();
        self.read(move |c| {
            c.query_row(
                "SELECT id, name, guest, password_hash FROM users WHERE name_key = ?1",
                [key],
                |row| {
                    Ok(Credentials {
                        user: User { id: UserId(row.get(0)?), name: row.get(1)?, guest: row.get(2)? },
                        password_hash: row.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn create_session(
        &self,
        user: UserId,
        token_hash: [u8; 32],
        expires_at_ms: i64,
    ) -> StoreResult<()> {
        self.submit(move |c| {
            c.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash.as_slice(), user.0, now_millis(), expires_at_ms],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn session_user(&self, token_hash: [u8; 32], now_ms: i64) -> StoreResult<Option<User>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT u.id, u.name, u.guest FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![token_hash.as_slice(), now_ms], |row| {
                    Ok(User { id: UserId(row.get(0)?), name: row.get(1)?, guest: row.get(2)? })
                })
                .optional()
            })
            .map_err(backend)
        })
        .await
    }

    async fn delete_session(&self, token_hash: [u8; 32]) -> StoreResult<()> {
        self.submit(move |c| {
            c.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash.as_slice()])
                .map_err(backend)?;
            Ok(())
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
        self.submit(move |c| {
            // A public channel of that name, or a private one the creator is
            // already in; other private channels do not exist for them.
            let existing = c
                .query_row(
                    "SELECT c.id FROM channels c
                     LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = ?2
                     WHERE (c.name_key = ?1 OR c.look_key = ?3)
                       AND (c.kind = 'public' OR (c.kind = 'private' AND m.user_id IS NOT NULL))
                     ORDER BY c.kind = 'public' DESC LIMIT 1",
                    params![name.key(), creator.0, name.look_key()],
                    |row| row.get::<_, i64>(0),
                )
                .optional()
                .map_err(backend)?;
            if let Some(id) = existing {
                let channel = load_channel(c, ChannelId(id))?.ok_or(StoreError::NoSuchChannel)?;
                return Err(StoreError::ChannelExists(channel));
            }
            let created: u32 = c
                .query_row(
                    "SELECT COUNT(*) FROM channels WHERE created_by = ?1 AND kind != 'dm'",
                    [creator.0],
                    |row| row.get(0),
                )
                .map_err(backend)?;
            if created >= max_per_creator {
                return Err(StoreError::LimitReached);
            }
            c.execute(
                "INSERT INTO channels (name, name_key, look_key, kind, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![name.as_str(), name.key(), name.look_key(), kind.as_str(), creator.0, now_millis()],
            )
            .map_err(backend)?;
            let id = ChannelId(c.last_insert_rowid());
            add_member_row(c, id, creator, None)?;
            Ok(Channel { id, name: name.as_str().to_owned(), kind })
        })
        .await
    }

    async fn open_dm(&self, a: UserId, b: UserId) -> StoreResult<(Channel, bool)> {
        self.submit(move |c| {
            let key = format!("{}:{}", a.0.min(b.0), a.0.max(b.0));
            let existing = c
                .query_row("SELECT id FROM channels WHERE dm_key = ?1", [&key], |row| row.get::<_, i64>(0))
                .optional()
                .map_err(backend)?;
            let created = existing.is_none();
            let id = match existing {
                Some(id) => ChannelId(id),
                None => {
                    let names: Vec<String> = [a, b]
                        .iter()
                        .map(|user| {
                            c.query_row("SELECT name FROM users WHERE id = ?1", [user.0], |row| row.get(0))
                                .map_err(backend)
                        })
                        .collect::<StoreResult<_>>()?;
                    c.execute(
                        "INSERT INTO channels (name, dm_key, kind, created_by, created_at) VALUES (?1, ?2, 'dm', ?3, ?4)",
                        params![names.join(", "), key, a.0, now_millis()],
                    )
                    .map_err(backend)?;
                    ChannelId(c.last_insert_rowid())
                }
            };
            add_member_row(c, id, a, None)?;
            add_member_row(c, id, b, None)?;
            Ok((load_channel(c, id)?.ok_or(StoreError::NoSuchChannel)?, created))
        })
        .await
    }

    async fn channel(&self, id: ChannelId) -> StoreResult<Option<Channel>> {
        self.read(move |c| load_channel(c, id)).await
    }

    async fn channels_named(&self, name: &ChannelName, viewer: UserId) -> StoreResult<Vec<ChannelView>> {
        let (key, look) = (name.key(), name.look_key());
        self.read(move |c| {
            let sql = format!(
                "SELECT {VIEW_COLUMNS} FROM channels c
                 LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = ?2
                 WHERE (c.name_key = ?1 OR c.look_key = ?3)
                   AND (c.kind = 'public' OR (c.kind = 'private' AND m.user_id IS NOT NULL))
                 ORDER BY c.id"
            );
            query_views(c, &sql, params![key, viewer.0, look])
        })
        .await
    }

    async fn add_member(
        &self,
        channel: ChannelId,
        user: UserId,
        added_by: Option<UserId>,
    ) -> StoreResult<bool> {
        self.submit(move |c| {
            load_channel(c, channel)?.ok_or(StoreError::NoSuchChannel)?;
            add_member_row(c, channel, user, added_by)
        })
        .await
    }

    async fn remove_member(&self, channel: ChannelId, user: UserId) -> StoreResult<bool> {
        self.submit(move |c| {
            let removed = c
                .execute(
                    "DELETE FROM members WHERE channel_id = ?1 AND user_id = ?2",
                    params![channel.0, user.0],
                )
                .map_err(backend)?;
            Ok(removed == 1)
        })
        .await
    }

    async fn is_member(&self, channel: ChannelId, user: UserId) -> StoreResult<bool> {
        self.read(move |c| {
            c.prepare_cached("SELECT 1 FROM members WHERE channel_id = ?1 AND user_id = ?2")
                .and_then(|mut s| s.exists(params![channel.0, user.0]))
                .map_err(backend)
        })
        .await
    }

    async fn channel_view(&self, channel: ChannelId, viewer: UserId) -> StoreResult<ChannelView> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {VIEW_COLUMNS} FROM channels c
                 LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = ?1
                 WHERE c.id = ?2"
            );
            query_views(c, &sql, params![viewer.0, channel.0])?.pop().ok_or(StoreError::NoSuchChannel)
        })
        .await
    }

    async fn channels_of(&self, user: UserId) -> StoreResult<Vec<ChannelView>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {VIEW_COLUMNS} FROM members m JOIN channels c ON c.id = m.channel_id
                 WHERE m.user_id = ?1 ORDER BY c.id"
            );
            query_views(c, &sql, params![user.0])
        })
        .await
    }

    async fn public_channels(&self, viewer: UserId, page: ChannelPage) -> StoreResult<Vec<ChannelView>> {
        self.read(move |c| {
            // Names compare byte-wise (SQLite's default BINARY collation,
            // `COLLATE "C"` on PostgreSQL), so a cursor means the same on
            // both backends.
            let sql = format!(
                "SELECT {VIEW_COLUMNS} FROM channels c
                 LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = ?1
                 WHERE c.kind = 'public' AND (c.name > ?2 OR (c.name = ?2 AND c.id > ?3))
                   AND substr(c.name_key, 1, length(?4)) = ?4
                 ORDER BY c.name, c.id LIMIT ?5"
            );
            let (after_name, after_id) = page.after.unwrap_or_default();
            query_views(c, &sql, params![viewer.0, after_name, after_id.0, page.prefix, page.limit])
        })
        .await
    }

    async fn list_users(
        &self,
        prefix_key: &str,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let (from, until) = (prefix_key.to_owned(), super::user_prefix_end(prefix_key));
        let after = after_key.unwrap_or_default().to_owned();
        self.submit(move |c| {
            let mut statement = c
                .prepare_cached(
                    "SELECT id, name, guest FROM users
                     WHERE name_key >= ?1 AND name_key < ?2 AND name_key > ?3
                     ORDER BY name_key LIMIT ?4",
                )
                .map_err(backend)?;
            statement
                .query_map(rusqlite::params![from, until, after, limit], |row| {
                    Ok(User { id: UserId(row.get(0)?), name: row.get(1)?, guest: row.get(2)? })
                })
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)
        })
        .await
    }

    async fn channel_heads(&self) -> StoreResult<Vec<(ChannelId, Seq)>> {
        self.read(|c| {
            let mut statement = c.prepare("SELECT id, last_seq FROM channels").map_err(backend)?;
            statement
                .query_map([], |row| Ok((ChannelId(row.get(0)?), Seq(row.get(1)?))))
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)
        })
        .await
    }

    fn append_message(&self, message: NewMessage) -> Queued<Appended> {
        self.submit(move |c| append(c, message))
    }

    fn append_system(&self, line: NewSystemLine) -> Queued<Message> {
        self.submit(move |c| append_system(c, line))
    }

    async fn history(
        &self,
        channel: ChannelId,
        before: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let before = before.map_or(i64::MAX, |seq| seq.0);
        self.read(move |c| {
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
                 WHERE m.channel_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3"
            );
            let mut newest_first = query_messages(c, &sql, channel, before, limit)?;
            newest_first.reverse();
            Ok(newest_first)
        })
        .await
    }

    async fn messages_after(&self, channel: ChannelId, after: Seq, limit: u32) -> StoreResult<Vec<Message>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
                 WHERE m.channel_id = ?1 AND m.seq > ?2 ORDER BY m.seq LIMIT ?3"
            );
            query_messages(c, &sql, channel, after.0, limit)
        })
        .await
    }

    async fn mark_read(&self, channel: ChannelId, user: UserId, seq: Seq) -> StoreResult<Seq> {
        self.submit(move |c| {
            let marker: Option<i64> = c
                .query_row(
                    "UPDATE members
                     SET read_seq = MAX(read_seq, MIN(?3, (SELECT last_seq FROM channels WHERE id = ?1)))
                     WHERE channel_id = ?1 AND user_id = ?2
                     RETURNING read_seq",
                    params![channel.0, user.0, seq.0],
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?;
            marker.map(Seq).ok_or(StoreError::NotMember)
        })
        .await
    }

    async fn health(&self) -> StoreResult<()> {
        self.submit(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend)).await
    }

    async fn close(&self) {
        if let Some(readers) = &self.readers {
            // Reads still queued are answered; then the reader threads end.
            let threads = readers.stop();
            let _ = tokio::task::spawn_blocking(move || readers::join(threads)).await;
        }
        // Dropping the sender ends the worker's loop once the queue is empty.
        drop(self.jobs.lock().expect("store sender lock is never poisoned").take());
        let worker = self.worker.lock().expect("store worker lock is never poisoned").take();
        if let Some(worker) = worker {
            let joined = tokio::task::spawn_blocking(move || worker.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!("the storage writer thread ended abnormally");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(SqliteOptions::from_url("sqlite::memory:").unwrap().path, None);
        assert_eq!(
            SqliteOptions::from_url("sqlite://natter.db").unwrap().path,
            Some(PathBuf::from("natter.db"))
        );
        assert_eq!(
            SqliteOptions::from_url("sqlite:///var/lib/natter.db?mode=rwc").unwrap().path,
            Some(PathBuf::from("/var/lib/natter.db"))
        );
        assert!(SqliteOptions::from_url("postgres://x").is_err());
        assert!(SqliteOptions::from_url("sqlite://").is_err());
    }
}
