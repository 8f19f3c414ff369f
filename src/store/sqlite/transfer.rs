//! `natter export` and `natter import` on SQLite (`store::Transfer`).
//!
//! An export runs on a read connection inside one read transaction (in WAL
//! mode it blocks no writer and sees one commit throughout), stepping
//! through each table's rows and handing each to the files as it comes. An
//! in-memory database reads through the writer, inside its batch's
//! transaction, which is one snapshot too.
//!
//! An import is one job on the writer, so it runs inside the batch's
//! transaction (`BEGIN IMMEDIATE`: the write lock is held from the first
//! line to the commit) and in a savepoint of its own, which any refusal
//! rolls back: the database is as it was, or holds the whole export. It
//! writes each line as the reader hands it over, then derives the rest with
//! the store's own functions (`changes::summarize`, `mentions::record`,
//! `store::revs::DERIVE_FIRST_REVS`, `search::rebuild`).

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::super::queue::Reply;
use super::super::revs::DERIVE_FIRST_REVS;
use super::super::rows::{self, MESSAGE_COLUMNS, reactions_to_db};
use super::super::transfer::{
    EMPTINESS, EXPORT_CHANNELS, EXPORT_MEMBERS, EXPORT_MESSAGES, EXPORT_REACTIONS, EXPORT_USERS, Transfer,
    TransferError, channel_line, member_line, mentions_someone, message_line, no_message_to_react_to,
    occupied, reaction_line, refused, user_line,
};
use super::super::writer::Completion;
use super::super::{StoreError, StoreResult};
use super::writer::{RunOnConnection, Undo, WriteJob};
use super::{SqliteStore, backend, changes, mentions, search};
use crate::model::{ChannelKind, Deletion, MessageId, NotifyLevel, SystemKind};
use crate::transfer::{
    ChannelKeys, ChannelLine, Counts, ExportWriter, ImportReader, MemberLine, MessageLine, ReactionLine,
    Record, UserLine,
};

#[async_trait]
impl Transfer for SqliteStore {
    async fn export_workspace(&self, to: ExportWriter) -> Result<ExportWriter, TransferError> {
        self.read(move |c| Ok(export(c, to))).await?
    }

    async fn import_workspace(&self, from: ImportReader) -> Result<Counts, TransferError> {
        self.jobs.submit(|reply| -> WriteJob { Box::new(ImportJob { from, reply }) }).await?
    }
}

fn export(connection: &Connection, mut to: ExportWriter) -> Result<ExportWriter, TransferError> {
    // The writer's job (an in-memory database) is inside a transaction
    // already; a reader begins its own, which takes its snapshot at the
    // first read and keeps it to the end.
    let own_transaction = connection.is_autocommit();
    if own_transaction {
        connection.execute_batch("BEGIN").map_err(backend)?;
    }
    let written = export_tables(connection, &mut to);
    if own_transaction {
        // It only read: ending it either way keeps nothing.
        let _ = connection.execute_batch("ROLLBACK");
    }
    written.map(|()| to)
}

fn export_tables(c: &Connection, to: &mut ExportWriter) -> Result<(), TransferError> {
    each_row(c, EXPORT_USERS, |row| Ok(to.user(&user_line(row).map_err(backend)?)?))?;
    each_row(c, EXPORT_CHANNELS, |row| Ok(to.channel(&channel_line(row).map_err(backend)?)?))?;
    each_row(c, EXPORT_MEMBERS, |row| Ok(to.member(&member_line(row).map_err(backend)?)?))?;
    each_row(c, EXPORT_MESSAGES, |row| Ok(to.message(&message_line(row).map_err(backend)?)?))?;
    each_row(c, EXPORT_REACTIONS, |row| Ok(to.reaction(&reaction_line(row).map_err(backend)?)?))
}

/// Hands each row of `sql` to `write` as SQLite steps to it: one row in
/// memory at a time.
fn each_row(
    connection: &Connection,
    sql: &str,
    mut write: impl FnMut(&rusqlite::Row<'_>) -> Result<(), TransferError>,
) -> Result<(), TransferError> {
    let mut statement = connection.prepare(sql).map_err(backend)?;
    let mut rows = statement.query([]).map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        write(row)?;
    }
    Ok(())
}

/// The import as a writer job: it succeeds (and its savepoint is kept)
/// only when every line was stored.
struct ImportJob {
    from: ImportReader,
    reply: Reply<Result<Counts, TransferError>>,
}

impl RunOnConnection for ImportJob {
    fn undo(&self) -> Undo {
        Undo::Savepoint
    }

    fn run(self: Box<Self>, connection: &Connection) -> Box<dyn Completion> {
        let result = import(connection, self.from);
        Box::new(ImportDone { result, reply: self.reply })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        self.reply.send(Err(error));
    }
}

/// An import's outcome while its batch commits.
struct ImportDone {
    result: Result<Counts, TransferError>,
    reply: Reply<Result<Counts, TransferError>>,
}

impl Completion for ImportDone {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn finish(self: Box<Self>, commit: StoreResult<()>) {
        let answer = match (commit, self.result) {
            // A refusal says more than the batch's failure it caused.
            (Ok(()), result) | (Err(_), result @ Err(_)) => Ok(result),
            (Err(commit_error), Ok(_)) => Err(commit_error),
        };
        self.reply.send(answer);
    }
}

fn import(c: &Connection, mut from: ImportReader) -> Result<Counts, TransferError> {
    let held = c.query_row(EMPTINESS, [], |row| occupied(row)).map_err(backend)?;
    if !held.is_empty() {
        return Err(TransferError::NotEmpty(held));
    }
    while let Some(numbered) = from.next_record()? {
        let stored = match &numbered.record {
            Record::User(user, key) => insert_user(c, user, key),
            Record::Channel(channel, keys) => insert_channel(c, channel, keys),
            Record::Member(member) => insert_member(c, member),
            Record::Message(message) => insert_message(c, message),
            Record::Reaction(reaction) => insert_reaction(c, reaction),
        };
        stored.map_err(|reason| numbered.refuse(reason))?;
    }
    summarize_reactions(c)?;
    c.execute(DERIVE_FIRST_REVS, []).map_err(backend)?;
    search::rebuild(c)?;
    Ok(from.manifest().counts)
}

fn insert_user(c: &Connection, user: &UserLine, key: &str) -> Result<(), String> {
    c.prepare_cached(
        "INSERT INTO users (id, name, name_key, password_hash, guest, admin, deactivated_at, created_at,
                            display_name, time_zone)
         VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, ?7, nullif(?8, ''), nullif(?9, ''))",
    )
    .and_then(|mut s| {
        s.execute(params![
            user.id,
            user.name,
            key,
            user.guest,
            user.admin,
            user.deactivated,
            user.created,
            user.display_name,
            user.time_zone
        ])
    })
    .map(drop)
    .map_err(refused)
}

/// Stores a channel; General, which the database has already, takes the
/// export's values.
fn insert_channel(c: &Connection, channel: &ChannelLine, keys: &ChannelKeys) -> Result<(), String> {
    c.prepare_cached(
        "INSERT INTO channels (id, name, name_key, look_key, dm_key, kind, created_by, created_at, last_seq, last_rev,
                               topic, description, archived_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, nullif(?11, ''), nullif(?12, ''), ?13)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,
             look_key = excluded.look_key, dm_key = excluded.dm_key, kind = excluded.kind,
             created_by = excluded.created_by, created_at = excluded.created_at,
             last_seq = excluded.last_seq, last_rev = excluded.last_rev, topic = excluded.topic,
             description = excluded.description, archived_at = excluded.archived_at",
    )
    .and_then(|mut s| {
        s.execute(params![
            channel.id,
            keys.name,
            keys.name_key,
            keys.look_key,
            keys.dm_key,
            ChannelKind::from(channel.kind).as_str(),
            channel.created_by,
            channel.created,
            channel.last_seq,
            channel.last_rev,
            channel.topic,
            channel.description,
            channel.archived
        ])
    })
    .map(drop)
    .map_err(refused)
}

fn insert_member(c: &Connection, member: &MemberLine) -> Result<(), String> {
    c.prepare_cached(
        "INSERT INTO members (channel_id, user_id, joined_at, read_seq, notify, added_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        let notify = NotifyLevel::from(member.notify).as_str();
        s.execute(params![
            member.channel,
            member.user,
            member.joined,
            member.read_seq,
            notify,
            member.added_by
        ])
    })
    .map(drop)
    .map_err(refused)
}

/// Stores a message, then (for a chat message that stands and mentions
/// someone) whom it mentions among the channel's members, by
/// `mentions::record` on the message as read back.
fn insert_message(c: &Connection, message: &MessageLine) -> Result<(), String> {
    let system = message.system.map(|system| (SystemKind::from(system.kind).as_str(), system.user));
    let deleted = Deletion::to_db(message.deleted.map(|by| by.deletion()));
    c.prepare_cached(
        "INSERT INTO messages (id, channel_id, seq, rev, sender_id, client_id, body, ts,
                               system_kind, system_user, edited_at, deleted, reply_to)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .and_then(|mut s| {
        s.execute(params![
            message.id,
            message.channel,
            message.seq,
            message.rev,
            message.sender,
            message.client_id,
            message.body,
            message.ts,
            system.map(|(kind, _)| kind),
            system.map(|(_, user)| user),
            message.edited_at,
            deleted,
            message.reply_to
        ])
    })
    .map_err(refused)?;
    if !mentions_someone(message) {
        return Ok(());
    }
    let stored = c
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.id = ?1"
        ))
        .and_then(|mut s| s.query_row([message.id], |row| rows::message(row)))
        .map_err(refused)?;
    mentions::record(c, &stored, &message.body).map_err(refused)?;
    Ok(())
}

/// Stores a reaction to a chat message that stands (a deleted message and
/// a system line take none).
fn insert_reaction(c: &Connection, reaction: &ReactionLine) -> Result<(), String> {
    let stored = c
        .prepare_cached(
            "INSERT INTO reactions (message_id, emoji, user_id, created_at)
             SELECT id, ?2, ?3, ?4 FROM messages WHERE id = ?1 AND system_kind IS NULL AND deleted = 0",
        )
        .and_then(|mut s| {
            s.execute(params![reaction.message, reaction.emoji, reaction.user, reaction.created])
        })
        .map_err(refused)?;
    if stored == 1 { Ok(()) } else { Err(no_message_to_react_to(reaction.message)) }
}

/// Writes the reaction summary of every message with reactions, as a
/// reaction's job does (`changes::summarize`).
fn summarize_reactions(c: &Connection) -> Result<(), TransferError> {
    let mut reacted =
        c.prepare("SELECT DISTINCT message_id FROM reactions ORDER BY message_id").map_err(backend)?;
    let mut ids = reacted.query([]).map_err(backend)?;
    while let Some(row) = ids.next().map_err(backend)? {
        let id = MessageId(row.get(0).map_err(backend)?);
        let summary = changes::summarize(c, id)?;
        c.prepare_cached("UPDATE messages SET reactions = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id.0, reactions_to_db(&summary)]))
            .map_err(backend)?;
    }
    Ok(())
}
