//! The PostgreSQL store, for operators who run one and for several nodes
//! sharing one database.
//!
//! Writes go to the shared group-commit writer (`store/writer.rs`), one
//! task per node owning one connection (`postgres/writer.rs`): every job
//! waiting (up to `max_batch`) runs in its own savepoint inside one
//! transaction, committed once and only then answered, the same group
//! commit as the SQLite store. Reads go over a second, pipelined
//! connection, so history and lookups never wait behind a batch.
//!
//! Several nodes write the same channels. A message's seq comes from
//! `UPDATE channels SET last_seq = last_seq + 1 ... RETURNING`, and every
//! change's rev (a new message, an edit, a deletion, a reaction) likewise
//! from `last_rev`; the update holds the channel row's lock until the batch
//! commits, so writers on every node serialize per channel and seqs and
//! revs stay unique and gap-free. Each batch first locks every channel its
//! appends, edits, deletions and reactions touch, in id order, so two
//! nodes' batches never wait on each other in a cycle.
//!
//! A lost connection (PostgreSQL restarted, network cut) fails the jobs in
//! flight with `StoreError::Backend`, never answering a write that was not
//! committed; the next job reconnects.
//!
//! This file wires those together and maps each [`Store`] call to its job
//! or read; the SQL is in `schema`, `accounts`, `channels`, `messages`,
//! `changes`, `reactions` and `mentions`; `transfer` reads an export and
//! loads an import (`natter export`, `natter import`); `backfill` stores
//! history made elsewhere (`natter import --slack`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use tokio_postgres::Client;

use super::queue::JobQueue;
use super::{
    Account, Appended, Changed, ChannelPage, ChannelUpdate, Credentials, MessageEdit, MessageReaction,
    MessageRemoval, MessageSearch, NewMessage, NewSystemLine, Queued, SEARCH_TIME, SessionOrigin, Store,
    StoreError, StoreResult,
};
use crate::metrics::Metrics;
use crate::model::{
    Channel, ChannelAbout, ChannelId, ChannelKind, ChannelName, ChannelView, Message, NotifyLevel, Rev, Seq,
    User, UserId, UserName,
};

pub use super::writer::{DEFAULT_MAX_BATCH, JOB_QUEUE};

mod accounts;
mod backfill;
mod changes;
mod channel_settings;
mod channels;
mod connection;
mod files;
mod mentions;
mod messages;
mod reactions;
mod schema;
mod search;
mod sessions;
mod transfer;
mod workspace;
mod writer;

use connection::{backend, is_unique_violation};

/// Searches that may wait for or run on a node's search connection, as
/// on SQLite's search reader.
const SEARCH_QUEUE: usize = 16;

pub struct PostgresStore {
    config: tokio_postgres::Config,
    jobs: JobQueue<writer::WriteJob>,
    writer: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The read connection; replaced when it is found closed.
    reader: std::sync::Mutex<Option<Arc<Client>>>,
    /// The search connection (statements bounded by `SEARCH_TIME`), opened
    /// at the first search, so a slow search holds up only other searches.
    searcher: std::sync::Mutex<Option<Arc<Client>>>,
    /// Searches waiting for or on the search connection: past this many a
    /// search is refused at once (`Busy`), as a full queue refuses writes.
    search_slots: tokio::sync::Semaphore,
    closed: AtomicBool,
}

impl PostgresStore {
    /// Connects, migrates and starts the writer task.
    pub async fn open(url: &str, metrics: Arc<Metrics>) -> StoreResult<Self> {
        Self::open_with(url, DEFAULT_MAX_BATCH, metrics).await
    }

    /// As [`open`](Self::open) with a batch size; 1 turns group commit off.
    pub async fn open_with(url: &str, max_batch: usize, metrics: Arc<Metrics>) -> StoreResult<Self> {
        let config = connection::config(url)?;
        let client = connection::connect(&config).await?;
        schema::migrate(&client).await?;
        let (jobs, receiver) = JobQueue::bounded(JOB_QUEUE);
        let backend = writer::PostgresWriter::new(config.clone(), client);
        let handle = tokio::spawn(super::writer::run(backend, receiver, max_batch, metrics));
        Ok(Self {
            config,
            jobs,
            writer: std::sync::Mutex::new(Some(handle)),
            reader: std::sync::Mutex::new(None),
            searcher: std::sync::Mutex::new(None),
            search_slots: tokio::sync::Semaphore::new(SEARCH_QUEUE),
            closed: AtomicBool::new(false),
        })
    }

    /// Queues `op` for the writer; the returned future resolves after the
    /// batch it ran in has committed. `lock` names the channel whose row the
    /// job will update (to take its next seq or rev), so the batch can lock
    /// it up front.
    fn submit<T, F>(&self, lock: Option<ChannelId>, op: F) -> Queued<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Client>) -> BoxFuture<'static, StoreResult<T>> + Send + 'static,
    {
        self.jobs.submit(|reply| writer::write_job(lock, op, reply))
    }

    /// The read connection, reconnecting if it was lost.
    async fn read(&self) -> StoreResult<Arc<Client>> {
        self.kept_connection(&self.reader, &self.config).await
    }

    /// A connection of its own without a statement bound, beside the
    /// writer, for filling the search column a page at a time (the nodes'
    /// writes go on meanwhile).
    async fn unbounded_connection(&self) -> StoreResult<Client> {
        let config = connection::with_statement_timeout(&self.config, std::time::Duration::ZERO);
        connection::connect(&config).await
    }

    /// The search connection, reconnecting if it was lost.
    async fn search_connection(&self) -> StoreResult<Arc<Client>> {
        let config = connection::with_statement_timeout(&self.config, SEARCH_TIME);
        self.kept_connection(&self.searcher, &config).await
    }

    /// The connection kept in `slot`, or a new one made with `config` if
    /// there is none or it was found closed.
    async fn kept_connection(
        &self,
        slot: &std::sync::Mutex<Option<Arc<Client>>>,
        config: &tokio_postgres::Config,
    ) -> StoreResult<Arc<Client>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let current = slot.lock().expect("connection slot lock is never poisoned").clone();
        if let Some(client) = current
            && !client.is_closed()
        {
            return Ok(client);
        }
        let client = Arc::new(connection::connect(config).await?);
        *slot.lock().expect("connection slot lock is never poisoned") = Some(Arc::clone(&client));
        Ok(client)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_user(&self, name: &UserName, password_hash: &str) -> StoreResult<User> {
        let (name, hash) = (name.clone(), password_hash.to_owned());
        self.submit(None, move |c| {
            Box::pin(async move { accounts::insert_user(&c, &name, Some(&hash)).await })
        })
        .await
    }

    async fn claim_guest(&self, name: &UserName) -> StoreResult<User> {
        let name = name.clone();
        self.submit(None, move |c| Box::pin(async move { accounts::claim_guest(&c, &name).await })).await
    }

    async fn find_user(&self, name: &str) -> StoreResult<Option<Credentials>> {
        accounts::find_user(&*self.read().await?, name).await
    }

    async fn create_session(
        &self,
        user: UserId,
        token_hash: [u8; 32],
        expires_at_ms: i64,
        origin: &SessionOrigin,
    ) -> StoreResult<()> {
        let origin = origin.clone();
        self.submit(None, move |c| {
            Box::pin(
                async move { accounts::create_session(&c, user, token_hash, expires_at_ms, &origin).await },
            )
        })
        .await
    }

    async fn session_user(&self, token_hash: [u8; 32], now_ms: i64) -> StoreResult<Option<User>> {
        accounts::session_user(&*self.read().await?, token_hash, now_ms).await
    }

    async fn delete_session(&self, token_hash: [u8; 32]) -> StoreResult<()> {
        self.submit(None, move |c| Box::pin(async move { accounts::delete_session(&c, token_hash).await }))
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
            Box::pin(async move { channels::create_channel(&c, &name, kind, creator, max_per_creator).await })
        })
        .await
    }

    async fn open_dm(&self, opener: UserId, others: &[UserId]) -> StoreResult<(Channel, bool)> {
        let people: Vec<UserId> = std::iter::once(opener).chain(others.iter().copied()).collect();
        self.submit(None, move |c| Box::pin(async move { channels::open_dm(&c, &people).await })).await
    }

    async fn channel(&self, id: ChannelId) -> StoreResult<Option<Channel>> {
        channels::load_channel(&*self.read().await?, id).await
    }

    async fn channels_named(&self, name: &ChannelName, viewer: UserId) -> StoreResult<Vec<ChannelView>> {
        channels::channels_named(&*self.read().await?, name, viewer).await
    }

    async fn add_member(
        &self,
        channel: ChannelId,
        user: UserId,
        added_by: Option<UserId>,
    ) -> StoreResult<bool> {
        self.submit(None, move |c| {
            Box::pin(async move { channels::add_member(&c, channel, user, added_by).await })
        })
        .await
    }

    async fn remove_member(&self, channel: ChannelId, user: UserId) -> StoreResult<bool> {
        self.submit(None, move |c| Box::pin(async move { channels::remove_member(&c, channel, user).await }))
            .await
    }

    async fn is_member(&self, channel: ChannelId, user: UserId) -> StoreResult<bool> {
        channels::is_member(&*self.read().await?, channel, user).await
    }

    async fn channel_view(&self, channel: ChannelId, viewer: UserId) -> StoreResult<ChannelView> {
        channels::channel_view(&*self.read().await?, channel, viewer).await
    }

    async fn channels_of(&self, user: UserId) -> StoreResult<Vec<ChannelView>> {
        channels::channels_of(&*self.read().await?, user).await
    }

    async fn list_users(
        &self,
        prefix_key: &str,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let until = super::user_prefix_end(prefix_key);
        let after = after_key.unwrap_or_default();
        accounts::list_users(&*self.read().await?, prefix_key, &until, after, limit).await
    }

    async fn public_channels(&self, viewer: UserId, page: ChannelPage) -> StoreResult<Vec<ChannelView>> {
        channels::public_channels(&*self.read().await?, viewer, page).await
    }

    async fn channel_heads(&self) -> StoreResult<Vec<(ChannelId, Rev)>> {
        messages::channel_heads(&*self.read().await?).await
    }

    fn append_message(&self, message: NewMessage) -> Queued<Appended> {
        let channel = message.channel;
        // Tokenized before the job is queued, not while the batch holds
        // the channel's row lock.
        let terms = search::tsvector(message.body.as_str());
        self.submit(Some(channel), move |c| {
            Box::pin(async move { messages::append(&c, message, terms).await })
        })
    }

    fn append_system(&self, line: NewSystemLine) -> Queued<Message> {
        let channel = line.channel;
        self.submit(Some(channel), move |c| Box::pin(async move { messages::append_system(&c, line).await }))
    }

    async fn history(
        &self,
        channel: ChannelId,
        before: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let before = before.map_or(i64::MAX, |seq| seq.0);
        messages::history(&*self.read().await?, channel, before, limit).await
    }

    async fn messages_after(&self, channel: ChannelId, after: Seq, limit: u32) -> StoreResult<Vec<Message>> {
        messages::messages_after(&*self.read().await?, channel, after, limit).await
    }

    async fn changes_after(&self, channel: ChannelId, after: Rev, limit: u32) -> StoreResult<Vec<Message>> {
        messages::changes_after(&*self.read().await?, channel, after, limit).await
    }

    async fn rev_before(&self, channel: ChannelId, seq: Seq) -> StoreResult<Rev> {
        messages::rev_before(&*self.read().await?, channel, seq).await
    }

    fn edit_message(&self, edit: MessageEdit) -> Queued<Changed> {
        let channel = edit.channel;
        self.submit(Some(channel), move |c| Box::pin(async move { changes::edit(&c, edit).await }))
    }

    fn delete_message(&self, removal: MessageRemoval) -> Queued<Changed> {
        let channel = removal.channel;
        self.submit(Some(channel), move |c| Box::pin(async move { changes::delete(&c, removal).await }))
    }

    fn react(&self, reaction: MessageReaction) -> Queued<Changed> {
        let channel = reaction.channel;
        self.submit(Some(channel), move |c| Box::pin(async move { reactions::react(&c, reaction).await }))
    }

    async fn channel_members(
        &self,
        channel: ChannelId,
        prefix_key: &str,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<String>> {
        let (from, until) = (super::names_from(prefix_key, after_key), super::user_prefix_end(prefix_key));
        channels::channel_members(&*self.read().await?, channel, &from, &until, limit).await
    }

    async fn set_notify(&self, channel: ChannelId, user: UserId, level: NotifyLevel) -> StoreResult<bool> {
        self.submit(None, move |c| {
            Box::pin(async move { channels::set_notify(&c, channel, user, level).await })
        })
        .await
    }

    async fn update_channel(&self, update: ChannelUpdate) -> StoreResult<(Channel, ChannelAbout)> {
        self.submit(Some(update.channel), move |c| {
            Box::pin(async move { channel_settings::update_channel(&c, &update).await })
        })
        .await
    }

    async fn set_admin(&self, name: &UserName, admin: bool) -> StoreResult<bool> {
        let name = name.clone();
        self.submit(None, move |c| Box::pin(async move { accounts::set_admin(&c, &name, admin).await })).await
    }

    async fn is_admin(&self, user: UserId) -> StoreResult<bool> {
        accounts::is_admin(&*self.read().await?, user).await
    }

    async fn accounts(&self, after_key: Option<&str>, limit: u32) -> StoreResult<Vec<Account>> {
        accounts::accounts(&*self.read().await?, after_key.unwrap_or_default(), limit).await
    }

    async fn set_deactivated(&self, name: &UserName, deactivated: bool) -> StoreResult<Option<User>> {
        let name = name.clone();
        self.submit(None, move |c| {
            Box::pin(async move { accounts::set_deactivated(&c, &name, deactivated).await })
        })
        .await
    }

    async fn deactivated_since(&self, since_ms: i64) -> StoreResult<Vec<UserId>> {
        accounts::deactivated_since(&*self.read().await?, since_ms).await
    }

    async fn mark_read(&self, channel: ChannelId, user: UserId, seq: Seq) -> StoreResult<Seq> {
        self.submit(None, move |c| Box::pin(async move { channels::mark_read(&c, channel, user, seq).await }))
            .await
    }

    async fn search(&self, search: MessageSearch) -> StoreResult<Vec<Message>> {
        let Ok(_slot) = self.search_slots.try_acquire() else { return Err(StoreError::Busy) };
        search::search(&*self.search_connection().await?, &search).await
    }

    async fn rebuild_search_index(&self) -> StoreResult<u64> {
        let client = self.unbounded_connection().await?;
        let indexed = search::fill(&client).await.map_err(backend)?;
        search::record_tokenizer(&client).await.map_err(backend)?;
        Ok(indexed)
    }

    async fn refresh_search_index(&self) -> StoreResult<()> {
        search::index_if_stale(&self.unbounded_connection().await?).await.map_err(backend)
    }

    async fn health(&self) -> StoreResult<()> {
        self.read().await?.query_one("SELECT 1", &[]).await.map_err(backend)?;
        Ok(())
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        // The writer finishes the queued jobs, then its loop ends.
        self.jobs.close();
        let writer = self.writer.lock().expect("store writer lock is never poisoned").take();
        if let Some(writer) = writer
            && writer.await.is_err()
        {
            tracing::error!("the PostgreSQL writer task ended abnormally");
        }
        for slot in [&self.reader, &self.searcher] {
            drop(slot.lock().expect("connection slot lock is never poisoned").take());
        }
    }
}
