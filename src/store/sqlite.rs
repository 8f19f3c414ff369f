//! The embedded SQLite store: one file in WAL mode, one writer thread.
//!
//! Every write is a job for the shared group-commit writer
//! (`store/writer.rs`), which runs on a thread of its own that owns the
//! write connection (`sqlite/writer.rs` says how a batch, a savepoint and a
//! commit are done here): one transaction per batch, a savepoint per job
//! (but for appends, which need none), answers after the commit, so
//! durability costs one fsync per batch rather than per message, and
//! nothing is answered before it is on disk (WAL, `synchronous = FULL`). Reads of a file database go to a few read
//! connections of their own (`sqlite/readers.rs`), so they never wait
//! behind a batch's fsync; an in-memory database, which cannot be shared,
//! reads through the writer.
//!
//! This file wires those together and maps each [`Store`] call to its job;
//! the SQL is in `schema`, `accounts`, `channels`, `messages` and
//! `changes`. `backup` copies a live database file (`natter backup`);
//! `transfer` reads an export and loads an import (`natter export`, `natter import`);
//! `backfill` stores history made elsewhere (`natter import --slack`).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::Connection;

use super::queue::JobQueue;
use super::rows::Columns;
use super::{
    Account, Appended, Changed, ChannelPage, ChannelUpdate, Credentials, MessageEdit, MessageReaction,
    MessageRemoval, MessageSearch, NewMessage, NewSystemLine, Queued, SessionOrigin, Store, StoreError,
    StoreResult,
};
use crate::metrics::Metrics;
use crate::model::{
    Channel, ChannelAbout, ChannelId, ChannelKind, ChannelName, ChannelView, Message, NotifyLevel, Rev, Seq,
    User, UserId, UserName,
};

pub use super::writer::{DEFAULT_MAX_BATCH, JOB_QUEUE};
pub use backup::{BackedUp, BackupError, backup};

mod accounts;
mod backfill;
mod backup;
mod changes;
mod channel_settings;
mod channels;
mod checkpointer;
mod files;
mod indexing;
mod mentions;
mod messages;
mod readers;
mod schema;
mod search;
mod sessions;
mod transfer;
mod workspace;
mod writer;

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

pub struct SqliteStore {
    jobs: JobQueue<writer::WriteJob>,
    /// Read connections; `None` for an in-memory database.
    readers: Option<readers::Readers>,
    /// The search connection; `None` for an in-memory database.
    searcher: Option<readers::Readers>,
    worker: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Names of senders, so an append need not read its sender's.
    sender_names: Arc<messages::SenderNames>,
    /// When new messages are next to be indexed (`search::index_pending`).
    indexing: indexing::Indexing,
    /// Checkpoints a file's WAL beside the writer; `None` in memory.
    checkpointer: Option<checkpointer::Checkpointer>,
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
        schema::configure(&connection, options.path.is_some())?;
        schema::migrate(&connection)?;
        let behind = search::is_behind(&connection)?;
        let (jobs, receiver) = JobQueue::bounded(JOB_QUEUE);
        let backend = writer::SqliteWriter::new(connection);
        let max_batch = options.max_batch;
        let worker = std::thread::Builder::new()
            .name("natter-sqlite".into())
            .spawn(move || {
                // The shared writer loop is async; a runtime of its own on
                // this thread drives it, so the blocking SQLite calls and
                // fsyncs of a batch never occupy one of the server's async
                // workers. It has no timer: SQLite's batches have no
                // deadline (`BATCH_DEADLINE`).
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("a runtime without I/O or timers needs no OS resources to build")
                    .block_on(super::writer::run(backend, receiver, max_batch, metrics));
            })
            .map_err(|e| StoreError::Backend(format!("cannot start writer thread: {e}")))?;
        let (readers, searcher, checkpointer) = match &options.path {
            Some(path) => (
                Some(readers::Readers::open(path, readers::READERS, "read", readers::READ_QUEUE)?),
                Some(readers::Readers::open(path, readers::SEARCHERS, "search", readers::SEARCH_QUEUE)?),
                Some(checkpointer::Checkpointer::start(path)?),
            ),
            None => (None, None, None),
        };
        Ok(Self {
            jobs,
            readers,
            searcher,
            worker: std::sync::Mutex::new(Some(worker)),
            sender_names: Arc::default(),
            indexing: indexing::Indexing::new(behind),
            checkpointer,
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

    /// Queues `op` for the writer; the returned future resolves after the
    /// batch it ran in has committed.
    fn submit<T, F>(&self, op: F) -> Queued<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.jobs.submit(|reply| writer::write_job(op, writer::Undo::Savepoint, reply))
    }

    /// Queues an append for the writer, without a savepoint of its own:
    /// an append writes only once it cannot be refused any more (see
    /// [`writer::Undo::Unneeded`]).
    fn submit_append<T, F>(&self, op: F) -> Queued<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.jobs.submit(|reply| writer::write_job(op, writer::Undo::Unneeded, reply))
    }

    /// Queues `jobs` batches of indexing (`search::index_pending`) behind
    /// every append queued so far, each of at most `indexing::ROWS_PER_JOB`
    /// messages, so none holds the writer long. Nobody waits for them; one
    /// that fails leaves its messages to the next.
    fn queue_indexing(&self, jobs: u64) {
        for _ in 0..jobs {
            drop(self.submit(|c| search::index_pending(c, Some(indexing::ROWS_PER_JOB))));
        }
    }
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// SQLite's rows in the shape the shared decoders read (`store/rows.rs`).
impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;

    fn int(&self, index: usize) -> rusqlite::Result<i64> {
        self.get(index)
    }

    fn optional_int(&self, index: usize) -> rusqlite::Result<Option<i64>> {
        self.get(index)
    }

    fn text(&self, index: usize) -> rusqlite::Result<String> {
        self.get(index)
    }

    fn optional_text(&self, index: usize) -> rusqlite::Result<Option<String>> {
        self.get(index)
    }

    fn flag(&self, index: usize) -> rusqlite::Result<bool> {
        self.get(index)
    }

    fn invalid(&self, index: usize, what: String) -> rusqlite::Error {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, what.into())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, name: &UserName, password_hash: &str) -> StoreResult<User> {
        let (name, hash) = (name.clone(), password_hash.to_owned());
        self.submit(move |c| accounts::insert_user(c, &name, Some(&hash))).await
    }

    async fn claim_guest(&self, name: &UserName) -> StoreResult<User> {
        let name = name.clone();
        self.submit(move |c| accounts::claim_guest(c, &name)).await
    }

    async fn find_user(&self, name: &str) -> StoreResult<Option<Credentials>> {
        let key = name.to_ascii_lowercase();
        self.read(move |c| accounts::find_user(c, &key)).await
    }

    async fn create_session(
        &self,
        user: UserId,
        token_hash: [u8; 32],
        expires_at_ms: i64,
        origin: &SessionOrigin,
    ) -> StoreResult<()> {
        let origin = origin.clone();
        self.submit(move |c| accounts::create_session(c, user, token_hash, expires_at_ms, &origin)).await
    }

    async fn session_user(&self, token_hash: [u8; 32], now_ms: i64) -> StoreResult<Option<User>> {
        self.read(move |c| accounts::session_user(c, token_hash, now_ms)).await
    }

    async fn delete_session(&self, token_hash: [u8; 32]) -> StoreResult<()> {
        self.submit(move |c| accounts::delete_session(c, token_hash)).await
    }

    async fn create_channel(
        &self,
        name: &ChannelName,
        kind: ChannelKind,
        creator: UserId,
        max_per_creator: u32,
    ) -> StoreResult<Channel> {
        let name = name.clone();
        self.submit(move |c| channels::create_channel(c, &name, kind, creator, max_per_creator)).await
    }

    async fn open_dm(&self, opener: UserId, others: &[UserId]) -> StoreResult<(Channel, bool)> {
        let people: Vec<UserId> = std::iter::once(opener).chain(others.iter().copied()).collect();
        self.submit(move |c| channels::open_dm(c, &people)).await
    }

    async fn channel(&self, id: ChannelId) -> StoreResult<Option<Channel>> {
        self.read(move |c| channels::load_channel(c, id)).await
    }

    async fn channels_named(&self, name: &ChannelName, viewer: UserId) -> StoreResult<Vec<ChannelView>> {
        let (key, look) = (name.key(), name.look_key());
        self.read(move |c| channels::channels_named(c, &key, &look, viewer)).await
    }

    async fn add_member(
        &self,
        channel: ChannelId,
        user: UserId,
        added_by: Option<UserId>,
    ) -> StoreResult<bool> {
        self.submit(move |c| channels::add_member(c, channel, user, added_by)).await
    }

    async fn remove_member(&self, channel: ChannelId, user: UserId) -> StoreResult<bool> {
        self.submit(move |c| channels::remove_member(c, channel, user)).await
    }

    async fn is_member(&self, channel: ChannelId, user: UserId) -> StoreResult<bool> {
        self.read(move |c| channels::is_member(c, channel, user)).await
    }

    async fn channel_view(&self, channel: ChannelId, viewer: UserId) -> StoreResult<ChannelView> {
        self.read(move |c| channels::channel_view(c, channel, viewer)).await
    }

    async fn channels_of(&self, user: UserId) -> StoreResult<Vec<ChannelView>> {
        self.read(move |c| channels::channels_of(c, user)).await
    }

    async fn public_channels(&self, viewer: UserId, page: ChannelPage) -> StoreResult<Vec<ChannelView>> {
        self.read(move |c| channels::public_channels(c, viewer, page)).await
    }

    async fn list_users(
        &self,
        prefix_key: &str,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let (from, until) = (prefix_key.to_owned(), super::user_prefix_end(prefix_key));
        let after = after_key.unwrap_or_default().to_owned();
        self.submit(move |c| accounts::list_users(c, &from, &until, &after, limit)).await
    }

    async fn channel_heads(&self) -> StoreResult<Vec<(ChannelId, Rev)>> {
        self.read(messages::channel_heads).await
    }

    fn append_message(&self, message: NewMessage) -> Queued<Appended> {
        let sender = message.sender;
        let known = self.sender_names.get(sender);
        let named = known.is_some();
        let queued = self.submit_append(move |c| messages::append(c, message, known));
        self.queue_indexing(self.indexing.appended());
        if named {
            return queued;
        }
        let sender_names = Arc::clone(&self.sender_names);
        Box::pin(async move {
            let appended = queued.await?;
            // Answered, so committed: the name is safe to remember.
            sender_names.remember(sender, &appended.message.sender_name);
            Ok(appended)
        })
    }

    fn append_system(&self, line: NewSystemLine) -> Queued<Message> {
        let queued = self.submit_append(move |c| messages::append_system(c, line));
        // A batch passes over it, but counts it.
        self.queue_indexing(self.indexing.appended());
        queued
    }

    async fn history(
        &self,
        channel: ChannelId,
        before: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let before = before.map_or(i64::MAX, |seq| seq.0);
        self.read(move |c| messages::history(c, channel, before, limit)).await
    }

    async fn messages_after(&self, channel: ChannelId, after: Seq, limit: u32) -> StoreResult<Vec<Message>> {
        self.read(move |c| messages::messages_after(c, channel, after, limit)).await
    }

    async fn changes_after(&self, channel: ChannelId, after: Rev, limit: u32) -> StoreResult<Vec<Message>> {
        self.read(move |c| changes::changes_after(c, channel, after, limit)).await
    }

    async fn rev_before(&self, channel: ChannelId, seq: Seq) -> StoreResult<Rev> {
        self.read(move |c| changes::rev_before(c, channel, seq)).await
    }

    fn edit_message(&self, edit: MessageEdit) -> Queued<Changed> {
        self.submit(move |c| changes::edit(c, edit))
    }

    fn delete_message(&self, removal: MessageRemoval) -> Queued<Changed> {
        self.submit(move |c| changes::delete(c, removal))
    }

    fn react(&self, reaction: MessageReaction) -> Queued<Changed> {
        self.submit(move |c| changes::react(c, reaction))
    }

    async fn channel_members(
        &self,
        channel: ChannelId,
        prefix_key: &str,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<String>> {
        let (from, until) = (super::names_from(prefix_key, after_key), super::user_prefix_end(prefix_key));
        self.read(move |c| channels::channel_members(c, channel, &from, &until, limit)).await
    }

    async fn set_notify(&self, channel: ChannelId, user: UserId, level: NotifyLevel) -> StoreResult<bool> {
        self.submit(move |c| channels::set_notify(c, channel, user, level)).await
    }

    async fn update_channel(&self, update: ChannelUpdate) -> StoreResult<(Channel, ChannelAbout)> {
        self.submit(move |c| channel_settings::update_channel(c, &update)).await
    }

    async fn set_admin(&self, name: &UserName, admin: bool) -> StoreResult<bool> {
        let key = name.key();
        self.submit(move |c| accounts::set_admin(c, &key, admin)).await
    }

    async fn is_admin(&self, user: UserId) -> StoreResult<bool> {
        self.read(move |c| accounts::is_admin(c, user)).await
    }

    async fn accounts(&self, after_key: Option<&str>, limit: u32) -> StoreResult<Vec<Account>> {
        let after = after_key.unwrap_or_default().to_owned();
        self.read(move |c| accounts::accounts(c, &after, limit)).await
    }

    async fn set_deactivated(&self, name: &UserName, deactivated: bool) -> StoreResult<Option<User>> {
        let key = name.key();
        self.submit(move |c| accounts::set_deactivated(c, &key, deactivated)).await
    }

    async fn deactivated_since(&self, since_ms: i64) -> StoreResult<Vec<UserId>> {
        self.read(move |c| accounts::deactivated_since(c, since_ms)).await
    }

    async fn mark_read(&self, channel: ChannelId, user: UserId, seq: Seq) -> StoreResult<Seq> {
        self.submit(move |c| channels::mark_read(c, channel, user, seq)).await
    }

    async fn search(&self, search: MessageSearch) -> StoreResult<Vec<Message>> {
        // Every message acknowledged before this search is indexed first.
        if let Some(target) = self.indexing.catch_up_target() {
            // In batches, so writes waiting behind go between them.
            while self.submit(|c| search::index_pending(c, Some(indexing::ROWS_PER_JOB))).await?
                == u64::from(indexing::ROWS_PER_JOB)
            {}
            self.indexing.caught_up_to(target);
        }
        match &self.searcher {
            Some(searcher) => searcher.read(move |c| search::search(c, &search)).await,
            None => self.read(move |c| search::search(c, &search)).await,
        }
    }

    async fn rebuild_search_index(&self) -> StoreResult<u64> {
        self.submit(search::rebuild).await
    }

    async fn refresh_search_index(&self) -> StoreResult<()> {
        self.submit(search::index_if_stale).await
    }

    async fn health(&self) -> StoreResult<()> {
        self.submit(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend)).await
    }

    async fn close(&self) {
        for readers in [&self.readers, &self.searcher].into_iter().flatten() {
            // Reads still queued are answered; then the reader threads end.
            let threads = readers.stop();
            let _ = tokio::task::spawn_blocking(move || readers::join(threads)).await;
        }
        // Stopped first: the writer's last act is a full checkpoint.
        if let Some(thread) = self.checkpointer.as_ref().and_then(checkpointer::Checkpointer::stop) {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        // The writer finishes the queued jobs, then its loop ends.
        self.jobs.close();
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
