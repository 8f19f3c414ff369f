//! The store's side of `natter export` and `natter import` (the format and
//! its files are `crate::transfer`'s): a supertrait of [`super::Store`], so
//! backends keep it in a file of their own, and what both backends share,
//! the rows an export selects and how they become records, and what an
//! empty database is.
//!
//! An export reads every table in one read transaction, so it is the
//! workspace as of one commit, and hands the rows to the files as it
//! reads them. An import writes everything in one transaction into an
//! empty database and then makes what the store derives from the rows the
//! way the store makes it (reaction summaries, mentions, the revs changed
//! messages were sent at, the search index), or it writes nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::rows::Columns;
use super::{StoreError, open_for_admin, sqlite};
use crate::metrics::Metrics;
use crate::model::{ChannelKind, Deletion, NotifyLevel, SystemKind, mentions_in};
use crate::transfer::{
    ChannelLine, Counts, DeletedBy, ExportWriter, FileError, ImportReader, Manifest, MemberLine, MessageLine,
    ReactionLine, SystemLine, UserLine,
};

/// Why an export or an import did not happen. Nothing was written to the
/// database (and no export left behind) in any case.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The export's directory or files, or a line in them (for an import,
    /// also a line the database refused).
    #[error(transparent)]
    Files(#[from] FileError),
    /// An import's database holds more than a new one: these.
    #[error(
        "the database is not empty: it holds {}; natter import loads only into a new, empty database",
        .0.join(", ")
    )]
    NotEmpty(Vec<&'static str>),
    #[error("no database at {} (nothing was created there): check --database", .0.display())]
    NoDatabase(PathBuf),
    #[error(
        "sqlite::memory: lives only inside the process that opened it: \
         export from and import into a database file or PostgreSQL"
    )]
    InMemory,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait Transfer {
    /// Hands every row of the workspace to `to` (users, channels, members,
    /// messages, reactions; each table in key order), all read in one read
    /// transaction; returns the writer for the caller to finish. A writer
    /// that fails stops the export.
    async fn export_workspace(&self, to: ExportWriter) -> Result<ExportWriter, TransferError>;

    /// Stores every record of `from` in one transaction, if the database is
    /// empty (see [`EMPTINESS`]): ids, seqs, revs, times, edits, deletions,
    /// replies and reactions as they were; passwords none; then the
    /// reaction summaries, the mentions (against the imported members) and
    /// the search index, as the store makes them. Refused (`NotEmpty`, or a
    /// line the reader or the database refuses) it writes nothing.
    async fn import_workspace(&self, from: ImportReader) -> Result<Counts, TransferError>;
}

/// `natter export DIR`: the workspace at `database_url` as an export in
/// `dir` (new, or empty); returns its manifest. A missing SQLite file is
/// not created. Like every admin command, it migrates an older schema first.
pub async fn export(database_url: &str, dir: &Path) -> Result<Manifest, TransferError> {
    if let Some(path) = sqlite_path(database_url)?
        && !path.exists()
    {
        return Err(TransferError::NoDatabase(path));
    }
    // The directory is checked (and made) before the database is opened;
    // an export that stops removes what it made.
    let writer = ExportWriter::create(dir)?;
    let store = open_for_admin(database_url, Arc::new(Metrics::default())).await?;
    let exported = store.export_workspace(writer).await;
    store.close().await;
    Ok(exported?.finish()?)
}

/// `natter import DIR`: loads the export in `dir` into the database at
/// `database_url` (created if it is a SQLite file that does not exist),
/// which must be empty; returns what it loaded. The export's manifest and
/// files are looked at before the database is opened.
pub async fn import(database_url: &str, dir: &Path) -> Result<Counts, TransferError> {
    sqlite_path(database_url)?;
    let reader = ImportReader::open(dir)?;
    let store = open_for_admin(database_url, Arc::new(Metrics::default())).await?;
    let imported = store.import_workspace(reader).await;
    store.close().await;
    imported
}

/// The file of a `sqlite:` URL; `None` for another database.
fn sqlite_path(database_url: &str) -> Result<Option<PathBuf>, TransferError> {
    if !database_url.starts_with("sqlite:") {
        return Ok(None);
    }
    let options = sqlite::SqliteOptions::from_url(database_url).map_err(StoreError::Backend)?;
    options.path.map(Some).ok_or(TransferError::InMemory)
}

/// What a new database holds beyond nothing: General (channel 1, public,
/// made by nobody, without messages) and, once a server has started, setup
/// links (invites made by nobody that make an admin) and the search
/// index's record of its tokenizer. An import loads only into a database
/// holding no more: one row, each flag true when the table holds a row it
/// may not (as [`occupied`] names them). An import keeps the setup links;
/// they stop working once an active admin exists.
pub(super) const EMPTINESS: &str = "SELECT
    EXISTS (SELECT 1 FROM users), EXISTS (SELECT 1 FROM sessions), EXISTS (SELECT 1 FROM members),
    EXISTS (SELECT 1 FROM messages), EXISTS (SELECT 1 FROM reactions), EXISTS (SELECT 1 FROM mentions),
    EXISTS (SELECT 1 FROM settings), EXISTS (SELECT 1 FROM password_resets),
    EXISTS (SELECT 1 FROM invites WHERE NOT (created_by IS NULL AND makes_admin)),
    EXISTS (SELECT 1 FROM channels
            WHERE NOT (id = 1 AND kind = 'public' AND created_by IS NULL AND last_seq = 0 AND last_rev = 0))";

/// Decodes [`EMPTINESS`]: what the database holds that an empty one does not.
pub(super) fn occupied<R: Columns>(row: &R) -> Result<Vec<&'static str>, R::Error> {
    let names = [
        "users",
        "sessions",
        "memberships",
        "messages",
        "reactions",
        "mentions",
        "settings",
        "password-reset links",
        "invite links",
        "channels besides an empty General",
    ];
    let mut held = Vec::new();
    for (index, name) in names.into_iter().enumerate() {
        if row.flag(index)? {
            held.push(name);
        }
    }
    Ok(held)
}

/// Why the database refused an import's line.
pub(super) fn refused(error: impl std::fmt::Display) -> String {
    format!("cannot be stored: {error}")
}

/// Why a reaction's line was refused: its message is missing, deleted or
/// a system line, none of which take reactions.
pub(super) fn no_message_to_react_to(message: i64) -> String {
    format!(
        "message {message} is not in messages.jsonl as a chat message that stands (not deleted, not a system line)"
    )
}

/// Whether an imported message is one whose mentions the store records: a
/// chat message that stands and names someone or `@channel`.
pub(super) fn mentions_someone(message: &MessageLine) -> bool {
    let (names, everyone) = mentions_in(&message.body);
    message.system.is_none() && message.deleted.is_none() && (!names.is_empty() || everyone)
}

/// What an export reads, table by table, each in its key's order (the
/// order the files hold, which an import needs: messages by channel and
/// seq). A user holds their name unless it passed on (a key starting `~`);
/// a system line is about its sender unless it names someone.
pub(super) const EXPORT_USERS: &str = "SELECT id, name, guest, admin, deactivated_at, created_at, \
     substr(name_key, 1, 1) <> '~', display_name, time_zone FROM users ORDER BY id";
pub(super) const EXPORT_CHANNELS: &str = "SELECT id, name, kind, created_by, created_at, last_seq, last_rev, dm_key, \
     topic, description, archived_at FROM channels ORDER BY id";
pub(super) const EXPORT_MEMBERS: &str = "SELECT channel_id, user_id, joined_at, read_seq, notify, added_by \
     FROM members ORDER BY channel_id, user_id";
pub(super) const EXPORT_MESSAGES: &str = "SELECT id, channel_id, seq, rev, sender_id, client_id, body, ts, \
     system_kind, COALESCE(system_user, sender_id), edited_at, deleted, reply_to \
     FROM messages ORDER BY channel_id, seq";
pub(super) const EXPORT_REACTIONS: &str = "SELECT message_id, emoji, user_id, created_at FROM reactions \
     ORDER BY message_id, emoji, user_id";

/// Decodes a row of [`EXPORT_USERS`].
pub(super) fn user_line<R: Columns>(row: &R) -> Result<UserLine, R::Error> {
    Ok(UserLine {
        id: row.int(0)?,
        name: row.text(1)?,
        guest: row.flag(2)?,
        admin: row.flag(3)?,
        deactivated: row.optional_int(4)?,
        created: row.int(5)?,
        holds_name: row.flag(6)?,
        display_name: row.optional_text(7)?.unwrap_or_default(),
        time_zone: row.optional_text(8)?.unwrap_or_default(),
    })
}

/// Decodes a row of [`EXPORT_CHANNELS`].
pub(super) fn channel_line<R: Columns>(row: &R) -> Result<ChannelLine, R::Error> {
    let kind = row.text(2)?;
    let kind = ChannelKind::from_db(&kind)
        .ok_or_else(|| row.invalid(2, format!("unknown channel kind {kind:?}")))?;
    let dm_users = match row.optional_text(7)? {
        None => None,
        Some(key) => {
            let ids: Option<Vec<i64>> = key.split(':').map(|id| id.parse().ok()).collect();
            // One id: a note to self (a Slack import makes them).
            let ids = ids.filter(|ids| !ids.is_empty());
            Some(ids.ok_or_else(|| row.invalid(7, format!("a DM key {key:?} that is not user ids")))?)
        }
    };
    Ok(ChannelLine {
        id: row.int(0)?,
        name: row.text(1)?,
        kind: kind.into(),
        created_by: row.optional_int(3)?,
        created: row.int(4)?,
        last_seq: row.int(5)?,
        last_rev: row.int(6)?,
        dm_users,
        topic: row.optional_text(8)?.unwrap_or_default(),
        description: row.optional_text(9)?.unwrap_or_default(),
        archived: row.optional_int(10)?,
    })
}

/// Decodes a row of [`EXPORT_MEMBERS`].
pub(super) fn member_line<R: Columns>(row: &R) -> Result<MemberLine, R::Error> {
    Ok(MemberLine {
        channel: row.int(0)?,
        user: row.int(1)?,
        joined: row.int(2)?,
        read_seq: row.int(3)?,
        notify: NotifyLevel::from_db(&row.text(4)?).into(),
        added_by: row.optional_int(5)?,
    })
}

/// Decodes a row of [`EXPORT_MESSAGES`].
pub(super) fn message_line<R: Columns>(row: &R) -> Result<MessageLine, R::Error> {
    let system = match row.optional_text(8)? {
        None => None,
        Some(kind) => {
            let kind = SystemKind::from_db(&kind)
                .ok_or_else(|| row.invalid(8, format!("unknown system line kind {kind:?}")))?;
            Some(SystemLine { kind: kind.into(), user: row.int(9)? })
        }
    };
    Ok(MessageLine {
        id: row.int(0)?,
        channel: row.int(1)?,
        seq: row.int(2)?,
        rev: row.int(3)?,
        sender: row.int(4)?,
        client_id: row.text(5)?,
        body: row.text(6)?,
        ts: row.int(7)?,
        system,
        edited_at: row.optional_int(10)?,
        deleted: DeletedBy::from_deletion(Deletion::from_db(row.int(11)?)),
        reply_to: row.optional_int(12)?,
    })
}

/// Decodes a row of [`EXPORT_REACTIONS`].
pub(super) fn reaction_line<R: Columns>(row: &R) -> Result<ReactionLine, R::Error> {
    Ok(ReactionLine { message: row.int(0)?, emoji: row.text(1)?, user: row.int(2)?, created: row.int(3)? })
}
