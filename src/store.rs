//! Durable state: accounts, sessions, channels, memberships and messages.
//!
//! [`Store`] is shaped by use cases, not tables. Backends live in submodules
//! (`sqlite`, `postgres`) and must pass the same conformance suite
//! (`tests/it/store.rs`). What they share is here once: the bounded job
//! queue (`queue`), the group-commit writer (`writer`: batches, a savepoint
//! per job unless it cannot fail half-way, answers after the commit, drain
//! on close) and the decoding of
//! the rows both select (`rows`); a backend supplies its SQL and how its
//! connection begins, savepoints and commits. This is the only place that
//! knows SQL; it knows nothing of sockets or the hub.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;

use crate::model::{
    Channel, ChannelAbout, ChannelId, ChannelKind, ChannelName, ChannelView, ClientId, Emoji, FileId,
    Message, MessageBody, NotifyLevel, Rev, Seq, SystemKind, User, UserId, UserName,
};

mod queue;
mod writer;
mod rows;
mod revs;
mod backfill;
mod channel_settings;
mod files;
mod search;
mod sessions;
mod transfer;
mod workspace;
pub mod sqlite;
pub mod postgres;

use crate::metrics::Metrics;
pub use backfill::{Backfill, BackfillMessage, BackfillUser};
pub use channel_settings::ChannelUpdate;
pub use files::{DeletedFile, Files, NewUpload};
pub use search::{MessageSearch, SEARCH_TIME};
pub use sessions::{EndedSessions, SessionOrigin, SessionRecord, Sessions};
pub use transfer::{Transfer, TransferError, export, import};
pub use workspace::{REGISTRATION_SETTING, Workspace, registration_mode};

/// Opens the store a database URL names (`sqlite://...`, `sqlite::memory:`,
/// `postgres://...` or `postgresql://...`) for serving: migrated, and its
/// search index made again if this build's tokenizer did not make it.
pub async fn open(url: &str, metrics: Arc<Metrics>) -> StoreResult<Arc<dyn Store>> {
    let store = open_for_admin(url, metrics).await?;
    store.refresh_search_index().await?;
    Ok(store)
}

/// Opens and migrates the store at `url` without touching the search
/// index: for commands run beside a live server (`natter user ...`),
/// which must never re-index under it (an older server still writing
/// with another tokenizer would take the index apart).
pub async fn open_for_admin(url: &str, metrics: Arc<Metrics>) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let options = sqlite::SqliteOptions::from_url(url).map_err(StoreError::Backend)?;
        let store = tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(options, metrics))
            .await
            .map_err(|e| StoreError::Backend(format!("store start-up failed: {e}")))??;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStore::open(url, metrics).await?))
    } else {
        // Only the scheme is echoed: the rest of a URL may hold a password.
        let scheme = url.split(':').next().unwrap_or_default();
        Err(StoreError::Backend(format!(
            "unsupported database scheme {scheme:?}: use sqlite://PATH, sqlite::memory: or postgres://..."
        )))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The end of the key range of names starting with `prefix_key`: name keys are
/// made of `a-z 0-9 _ . -`, all sorting before `~`, and a guest whose name
/// passed on has a key starting with `~`, so `[prefix, prefix + "~")` holds
/// exactly the listed names with that prefix, and an index can serve it.
/// The key a DM is found by: its people's ids, sorted, between colons
/// (`3:8` for a one-to-one DM, `3:5:8` for three).
pub(crate) fn dm_key(people: &[UserId]) -> String {
    let mut ids: Vec<i64> = people.iter().map(|user| user.0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(":")
}

/// Where a page of names whose keys start with `prefix_key` begins: at the
/// prefix, or just past `after_key`. Name keys hold only ASCII letters,
/// digits, `_`, `.` and `-`, so `after_key` and `\u{1}` sorts after
/// `after_key` and before every other key greater than it (in bytes).
pub(crate) fn names_from(prefix_key: &str, after_key: Option<&str>) -> String {
    match after_key {
        Some(after) => format!("{after}\u{1}").max(prefix_key.to_owned()),
        None => prefix_key.to_owned(),
    }
}

pub(crate) fn user_prefix_end(prefix_key: &str) -> String {
    format!("{prefix_key}~")
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A user with that name (compared without case) exists.
    #[error("name is taken")]
    NameTaken,
    /// A channel with that name exists; here it is.
    #[error("channel exists")]
    ChannelExists(Channel),
    #[error("no such channel")]
    NoSuchChannel,
    #[error("not a member of the channel")]
    NotMember,
    /// No message at that seq, or it is a system line, or (for an edit)
    /// it was deleted.
    #[error("no such message")]
    NoSuchMessage,
    /// A file to attach is not an upload of the sender's to that channel
    /// that is still unattached.
    #[error("no such file")]
    NoSuchFile,
    /// Only the sender (or, to delete, an admin) may change a message.
    #[error("not your message")]
    NotSender,
    /// An edit's `if_rev` is not the message's rev any more; here is the
    /// message as it stands.
    #[error("the message changed")]
    Conflict(Box<Message>),
    /// A per-user cap was reached.
    #[error("limit reached")]
    LimitReached,
    /// The account was deactivated (a session was asked for it).
    #[error("the account is deactivated")]
    Deactivated,
    /// The change is not allowed; why, in words.
    #[error("{0}")]
    NotAllowed(&'static str),
    /// The channel is archived: read-only until an admin unarchives it.
    #[error("the channel is archived")]
    Archived,
    /// An invite link that cannot be used (see `Workspace::create_user_with_invite`).
    #[error("invalid invite")]
    InvalidInvite,
    /// The store is shutting down or its worker is gone.
    #[error("store is closed")]
    Closed,
    /// Too much work is waiting; try again shortly. Nothing was done.
    #[error("store is overloaded")]
    Busy,
    /// A search ran past its time ([`SEARCH_TIME`]) and was stopped.
    #[error("the search took too long")]
    SearchTooLong,
    /// Anything the backend reports; logged, never shown to clients.
    #[error("storage failure: {0}")]
    Backend(String),
}

/// A user record with what login needs.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    /// argon2id PHC string; `None` for guests.
    pub password_hash: Option<String>,
    /// An admin deactivated the account: it may not log in.
    pub deactivated: bool,
}

/// An account as admins see it ([`Store::accounts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: User,
    pub admin: bool,
    pub deactivated: bool,
    /// When the account was made (ms since the epoch).
    pub created_ms: i64,
    /// When they last logged in (a session was issued), if ever.
    pub last_login_ms: Option<i64>,
}

/// A message to append. The sender comes from the session, never the client.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: ChannelId,
    pub sender: UserId,
    pub client_id: ClientId,
    pub body: MessageBody,
    /// The seq of the message it replies to, in the same channel.
    pub reply_to: Option<Seq>,
    /// Uploads to attach: the sender's, to this channel, not attached yet
    /// (else `NoSuchFile`), at most `model::MAX_FILES_PER_MESSAGE`.
    pub files: Vec<FileId>,
}

/// A system line to append: `actor` (the sender) joined, left, or added
/// `subject`. `client_id` is a fresh key of the server's choosing.
#[derive(Debug, Clone)]
pub struct NewSystemLine {
    pub channel: ChannelId,
    pub actor: UserId,
    pub kind: SystemKind,
    pub subject: UserId,
    pub client_id: String,
}

/// An edit of a message's body. `if_rev`: only if the message's latest
/// change is still this one.
#[derive(Debug, Clone)]
pub struct MessageEdit {
    pub channel: ChannelId,
    pub seq: Seq,
    pub editor: UserId,
    pub body: MessageBody,
    pub if_rev: Option<Rev>,
}

/// A deletion of a message by its sender or an admin.
#[derive(Debug, Clone)]
pub struct MessageRemoval {
    pub channel: ChannelId,
    pub seq: Seq,
    pub by: UserId,
}

/// A user's reaction to a message, added or taken back.
#[derive(Debug, Clone)]
pub struct MessageReaction {
    pub channel: ChannelId,
    pub seq: Seq,
    pub user: UserId,
    pub emoji: Emoji,
    /// True to add it, false to take it back: the state wanted, not a
    /// toggle, so a retry changes nothing.
    pub add: bool,
}

/// What an edit, a deletion or a reaction did.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The message as it stands now.
    pub message: Message,
    /// False when nothing changed (the same body again, a message deleted
    /// already, a reaction already there or already gone): no rev was
    /// taken.
    pub changed: bool,
}

/// What an append did.
#[derive(Debug, Clone)]
pub struct Appended {
    pub message: Message,
    /// False when `(sender, client_id)` was already stored: `message` is the
    /// original and nothing new was written.
    pub created: bool,
}

/// Which public channels to list: up to `limit` in name order (bytes, then
/// id: the same order on every backend), only those whose key starts with
/// `prefix` (in key form, `model::name_key`; empty for any), after the
/// channel `after` (its name and id; `None` to start at the beginning).
#[derive(Debug, Clone, Default)]
pub struct ChannelPage {
    pub prefix: String,
    pub after: Option<(String, ChannelId)>,
    pub limit: u32,
}

/// A future that is already queued in the store when it is returned, so
/// appends submitted in order by one caller are committed in that order.
pub type Queued<T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'static>>;

#[async_trait]
pub trait Store: Workspace + Sessions + Files + Transfer + Backfill + Send + Sync + 'static {
    /// Creates a registered user (with a password hash) and makes them a
    /// member of General. Fails with `NameTaken` if any user has the name.
    async fn create_user(&self, name: &UserName, password_hash: &str) -> StoreResult<User>;

    /// Creates a new guest user of that name (a member of General). If a
    /// guest holds the name, the name passes on: the old guest keeps its id,
    /// messages and conversations but loses the name and its sessions, so the
    /// newcomer inherits a name, never a person. Callers decide beforehand
    /// whether the holder may be displaced (not while online). Fails with
    /// `NameTaken` if a registered user has the name.
    async fn claim_guest(&self, name: &UserName) -> StoreResult<User>;

    /// Looks a user up by name, without regard to case.
    async fn find_user(&self, name: &str) -> StoreResult<Option<Credentials>>;

    /// Stores a session under the hash of its token.
    async fn create_session(
        &self,
        user: UserId,
        token_hash: [u8; 32],
        expires_at_ms: i64,
        origin: &SessionOrigin,
    ) -> StoreResult<()>;

    /// The user of an unexpired session.
    async fn session_user(&self, token_hash: [u8; 32], now_ms: i64) -> StoreResult<Option<User>>;

    /// Revokes a session. Revoking an unknown one is not an error.
    async fn delete_session(&self, token_hash: [u8; 32]) -> StoreResult<()>;

    /// Creates a public or private channel with the creator as its only member.
    /// Names are compared without case. Fails with `ChannelExists` (carrying
    /// it) if a public channel has the name, or, when creating a private one,
    /// if a private channel the creator is in has it; private channels the
    /// creator is not in never collide, so their names stay secret. Fails
    /// with `LimitReached` if the creator already created `max_per_creator`.
    async fn create_channel(
        &self,
        name: &ChannelName,
        kind: ChannelKind,
        creator: UserId,
        max_per_creator: u32,
    ) -> StoreResult<Channel>;

    /// Finds or creates the direct-message channel of `opener` and
    /// `others` (one for a one-to-one DM, up to seven for a group DM), by
    /// that set of people: the same people always get the same channel.
    /// Named after them, opener first. The flag says whether it was
    /// created now. The caller checks the count and that they differ.
    async fn open_dm(&self, opener: UserId, others: &[UserId]) -> StoreResult<(Channel, bool)>;

    async fn channel(&self, id: ChannelId) -> StoreResult<Option<Channel>>;

    /// The channels `viewer` can name `name` by (compared by key, see
    /// `ChannelName::key`): public ones and private ones `viewer` is in,
    /// oldest first. Other private channels and direct messages are never
    /// found. Several may share a name; the caller decides which one the
    /// bare name means.
    async fn channels_named(&self, name: &ChannelName, viewer: UserId) -> StoreResult<Vec<ChannelView>>;

    /// Adds a member; returns false if they already were one. `added_by`
    /// is who put them there, `None` when they joined themselves.
    async fn add_member(
        &self,
        channel: ChannelId,
        user: UserId,
        added_by: Option<UserId>,
    ) -> StoreResult<bool>;

    async fn remove_member(&self, channel: ChannelId, user: UserId) -> StoreResult<bool>;

    async fn is_member(&self, channel: ChannelId, user: UserId) -> StoreResult<bool>;

    /// One channel as `viewer` sees it (membership, read marker).
    async fn channel_view(&self, channel: ChannelId, viewer: UserId) -> StoreResult<ChannelView>;

    /// Every channel `user` is a member of, by name.
    async fn channels_of(&self, user: UserId) -> StoreResult<Vec<ChannelView>>;

    /// A page of public channels in name order, marked with whether `viewer`
    /// is a member (see [`ChannelPage`]).
    async fn public_channels(&self, viewer: UserId, page: ChannelPage) -> StoreResult<Vec<ChannelView>>;

    /// One page of the user directory, for people to find each other: up to
    /// `limit` users whose name key (the lower-case name) starts with
    /// `prefix_key` and sorts after `after_key` (from the start when `None`),
    /// ordered by name key. Only users who hold their name are listed: a guest
    /// whose name passed on to someone else is never found.
    async fn list_users(
        &self,
        prefix_key: &str,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;

    /// The latest rev of every channel: where live delivery starts after a start.
    async fn channel_heads(&self) -> StoreResult<Vec<(ChannelId, Rev)>>;

    /// Appends a message if the sender is a member: assigns the next seq, the
    /// id and the timestamp, and resolves after the commit. The job is queued
    /// before this returns (see [`Queued`]). Group-committed. A reply to a
    /// seq with no message that stands (missing, deleted, a system line) is
    /// refused with `NoSuchMessage`, unless it is a retry of one stored.
    fn append_message(&self, message: NewMessage) -> Queued<Appended>;

    /// Appends a system line (see `model::SystemEvent`): the next seq, like
    /// a message, with its text in the body; no membership is needed.
    fn append_system(&self, line: NewSystemLine) -> Queued<Message>;

    /// Up to `limit` messages with `seq < before` (all when `None`), the newest
    /// ones, returned oldest first.
    async fn history(&self, channel: ChannelId, before: Option<Seq>, limit: u32)
    -> StoreResult<Vec<Message>>;

    /// Up to `limit` messages with `seq > after`, oldest first.
    async fn messages_after(&self, channel: ChannelId, after: Seq, limit: u32) -> StoreResult<Vec<Message>>;

    /// The changes after rev `after`: up to `limit` messages whose latest
    /// rev is past it, in rev order, each as it stands now. A change that a
    /// later one superseded (an edit edited again) is not there; its
    /// message is, at its later rev.
    async fn changes_after(&self, channel: ChannelId, after: Rev, limit: u32) -> StoreResult<Vec<Message>>;

    /// Where a replay of the messages after `seq` starts in the rev stream:
    /// just before the lowest rev of any message past `seq`, or the head
    /// when there is none.
    async fn rev_before(&self, channel: ChannelId, seq: Seq) -> StoreResult<Rev>;

    /// Replaces a message's body (its sender only, a member still), taking
    /// the channel's next rev. Group-committed, like an append.
    fn edit_message(&self, edit: MessageEdit) -> Queued<Changed>;

    /// Deletes a message (its sender, or an admin; a member of the
    /// channel): the body is erased, not hidden, and the message stays as a
    /// tombstone at the channel's next rev. Deleting it again changes
    /// nothing. Group-committed.
    fn delete_message(&self, removal: MessageRemoval) -> Queued<Changed>;

    /// Adds or takes back a member's reaction (see [`MessageReaction`]),
    /// taking the channel's next rev; `LimitReached` for a new emoji on a
    /// message with [`crate::model::MAX_REACTION_KINDS`] already. A deleted
    /// message takes none (`NoSuchMessage`). Group-committed.
    fn react(&self, reaction: MessageReaction) -> Queued<Changed>;

    /// Up to `limit` members of a channel whose name key starts with
    /// `prefix_key` (and sorts after `after_key`), by name key: their names
    /// (for mention autocomplete and the member list).
    async fn channel_members(
        &self,
        channel: ChannelId,
        prefix_key: &str,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<String>>;

    /// Sets a member's notification level for a channel; false when they
    /// are not a member.
    async fn set_notify(&self, channel: ChannelId, user: UserId, level: NotifyLevel) -> StoreResult<bool>;

    /// Changes a channel's name, topic, description or archival, checking
    /// who may (`channel_settings::check`) in the same job; the channel and
    /// what it says about itself afterwards. A new name taken as for
    /// `create_channel` fails with `ChannelExists`.
    async fn update_channel(&self, update: ChannelUpdate) -> StoreResult<(Channel, ChannelAbout)>;

    /// Makes a user an admin or a member; false when there is no such user.
    async fn set_admin(&self, name: &UserName, admin: bool) -> StoreResult<bool>;

    /// Whether the user is an admin whose account is active.
    async fn is_admin(&self, user: UserId) -> StoreResult<bool>;

    /// One page of the accounts that hold their names, for admins: up to
    /// `limit`, by name key, after `after_key` (from the start when `None`).
    async fn accounts(&self, after_key: Option<&str>, limit: u32) -> StoreResult<Vec<Account>>;

    /// Deactivates the user holding that name (every session of theirs
    /// ends; they cannot log in or start one; their messages stay) or
    /// reactivates them. `None` when nobody holds the name.
    async fn set_deactivated(&self, name: &UserName, deactivated: bool) -> StoreResult<Option<User>>;

    /// The users deactivated (and not reactivated) at or after `since_ms`:
    /// how a node learns of deactivations made by the command line, or whose
    /// bus event it missed.
    async fn deactivated_since(&self, since_ms: i64) -> StoreResult<Vec<UserId>>;

    /// Moves a member's read marker forward to `seq` (clamped to the channel's
    /// head; never backwards) and returns the marker now in force.
    async fn mark_read(&self, channel: ChannelId, user: UserId, seq: Seq) -> StoreResult<Seq>;

    /// Up to `search.limit` messages matching `search` in the channels
    /// the searcher is a member of now, newest first, as they stand. Runs
    /// on a connection of its own (but for an in-memory SQLite database,
    /// which has one), so a slow search holds up only other searches, and
    /// is stopped past [`SEARCH_TIME`] (`SearchTooLong`); `Busy` when too
    /// many wait for that connection.
    async fn search(&self, search: MessageSearch) -> StoreResult<Vec<Message>>;

    /// Indexes every message again (standing chat messages by their body,
    /// nothing else) and records this build's tokenizer as the index's;
    /// returns how many were indexed.
    async fn rebuild_search_index(&self) -> StoreResult<u64>;

    /// Indexes every message again if the index was made by another
    /// tokenizer than this build's, or never filled (a database from before
    /// search). [`open`] calls it; a server starts with an index it can
    /// keep.
    async fn refresh_search_index(&self) -> StoreResult<()>;

    /// Succeeds when the store can serve.
    async fn health(&self) -> StoreResult<()>;

    /// Finishes every queued job, then stops accepting new ones.
    async fn close(&self);
}
