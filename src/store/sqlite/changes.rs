//! Changes to stored messages on SQLite: edits, deletions and reactions
//! (each taking the channel's next rev, on the writer), and reading the rev
//! stream (the changes after a rev, where a replay by seq starts in it).

use rusqlite::{Connection, OptionalExtension, params};

use super::super::revs::{changes_after_sql, rev_before_sql};
use super::super::rows::{self, MESSAGE_COLUMNS, reactions_to_db};
use super::super::{Changed, MessageEdit, MessageReaction, MessageRemoval, StoreError, StoreResult};
use super::messages::query_messages;
use super::{accounts, backend, mentions, search};
use crate::model::{
    ChannelId, Deletion, MAX_REACTION_KINDS, Mentions, Message, MessageId, REACTION_NAMES_SHOWN, Reaction,
    Rev, Seq, UserId, now_millis,
};

/// A message as it stands, by its place in the channel.
fn message_at(connection: &Connection, channel: ChannelId, seq: Seq) -> StoreResult<Option<Message>> {
    connection
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
             WHERE m.channel_id = ?1 AND m.seq = ?2"
        ))
        .and_then(|mut s| s.query_row(params![channel.0, seq.0], |row| rows::message(row)).optional())
        .map_err(backend)
}

/// The message a member may change: refused when the one changing it is
/// not a member of the channel (first, so that no one learns which seqs of
/// a channel they cannot see hold messages), or when there is none at that
/// seq or it is a system line (the server's, not anyone's to change).
fn changeable(connection: &Connection, channel: ChannelId, seq: Seq, by: UserId) -> StoreResult<Message> {
    let member: bool = connection
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM members WHERE channel_id = ?1 AND user_id = ?2)")
        .and_then(|mut s| s.query_row(params![channel.0, by.0], |row| row.get(0)))
        .map_err(backend)?;
    if !member {
        return Err(StoreError::NotMember);
    }
    // Archived: read-only, for every change.
    if super::channel_settings::is_archived(connection, channel)? {
        return Err(StoreError::Archived);
    }
    let message = message_at(connection, channel, seq)?.filter(|message| message.system.is_none());
    message.ok_or(StoreError::NoSuchMessage)
}

/// Takes the channel's next rev. The writer holds the write lock, so the
/// rev taken here is the channel's alone.
fn next_rev(connection: &Connection, channel: ChannelId) -> StoreResult<Rev> {
    connection
        .prepare_cached("UPDATE channels SET last_rev = last_rev + 1 WHERE id = ?1 RETURNING last_rev")
        .and_then(|mut s| s.query_row(params![channel.0], |row| row.get(0)))
        .map(Rev)
        .map_err(backend)
}

pub(super) fn edit(connection: &Connection, edit: MessageEdit) -> StoreResult<Changed> {
    let mut message = changeable(connection, edit.channel, edit.seq, edit.editor)?;
    if message.deleted.is_some() {
        return Err(StoreError::NoSuchMessage);
    }
    if message.sender != edit.editor {
        return Err(StoreError::NotSender);
    }
    // The same body again is no change, whatever `if_rev` says: a retry of
    // an edit that landed is answered as done, not as a conflict with
    // itself.
    let body = edit.body.into_string();
    if body == message.body {
        return Ok(Changed { message, changed: false });
    }
    if edit.if_rev.is_some_and(|rev| rev != message.rev) {
        return Err(StoreError::Conflict(Box::new(message)));
    }
    let rev = next_rev(connection, edit.channel)?;
    let edited_at = now_millis();
    connection
        .prepare_cached("UPDATE messages SET body = ?2, edited_at = ?3, rev = ?4 WHERE id = ?1")
        .and_then(|mut s| s.execute(params![message.id.0, body, edited_at, rev.0]))
        .map_err(backend)?;
    message.mentions = mentions::record(connection, &message, &body)?;
    // Above the mark the next batch indexes the new body (`search`).
    if search::is_indexed(connection, message.id)? {
        search::unindex(connection, message.id, &message.body)?;
        search::index(connection, message.id, &body)?;
    }
    message.body = body;
    message.edited_at = Some(edited_at);
    message.rev = rev;
    Ok(Changed { message, changed: true })
}

pub(super) fn delete(connection: &Connection, removal: MessageRemoval) -> StoreResult<Changed> {
    let mut message = changeable(connection, removal.channel, removal.seq, removal.by)?;
    if message.deleted.is_some() {
        return Ok(Changed { message, changed: false });
    }
    let deletion = if message.sender == removal.by {
        Deletion::BySender
    } else if accounts::is_admin(connection, removal.by)? {
        Deletion::ByAdmin
    } else {
        return Err(StoreError::NotSender);
    };
    let rev = next_rev(connection, removal.channel)?;
    mentions::clear(connection, &message)?;
    if search::is_indexed(connection, message.id)? {
        search::unindex(connection, message.id, &message.body)?;
    }
    // The body is overwritten, not flagged: with `secure_delete` the old
    // text does not survive in the file either. A tombstone has no
    // reactions.
    connection
        .prepare_cached(
            "UPDATE messages SET body = '', deleted = ?2, rev = ?3, reactions = NULL, files = NULL WHERE id = ?1",
        )
        .and_then(|mut s| s.execute(params![message.id.0, Deletion::to_db(Some(deletion)), rev.0]))
        .map_err(backend)?;
    connection
        .prepare_cached("DELETE FROM reactions WHERE message_id = ?1")
        .and_then(|mut s| s.execute(params![message.id.0]))
        .map_err(backend)?;
    if !message.files.is_empty() {
        // Their bytes go after the commit (`Files::deleted_files`).
        super::files::delete_attached(connection, message.id)?;
    }
    message.body.clear();
    message.deleted = Some(deletion);
    message.rev = rev;
    message.reactions.clear();
    message.mentions = Mentions::default();
    message.files.clear();
    Ok(Changed { message, changed: true })
}

pub(super) fn react(connection: &Connection, reaction: MessageReaction) -> StoreResult<Changed> {
    let mut message = changeable(connection, reaction.channel, reaction.seq, reaction.user)?;
    if message.deleted.is_some() {
        return Err(StoreError::NoSuchMessage);
    }
    let emoji = reaction.emoji.as_str();
    let key = params![message.id.0, emoji, reaction.user.0];
    let present: bool = connection
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_id = ?3)",
        )
        .and_then(|mut s| s.query_row(key, |row| row.get(0)))
        .map_err(backend)?;
    if present == reaction.add {
        return Ok(Changed { message, changed: false });
    }
    let written = if reaction.add {
        let new_kind = !message.reactions.iter().any(|existing| existing.emoji == emoji);
        if new_kind && message.reactions.len() >= MAX_REACTION_KINDS {
            return Err(StoreError::LimitReached);
        }
        connection
            .prepare_cached(
                "INSERT INTO reactions (message_id, emoji, user_id, created_at) VALUES (?1, ?2, ?3,
                 MAX(?4, COALESCE((SELECT MAX(created_at) + 1 FROM reactions WHERE message_id = ?1), 0)))",
            )
            .and_then(|mut s| s.execute(params![message.id.0, emoji, reaction.user.0, now_millis()]))
    } else {
        connection
            .prepare_cached("DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_id = ?3")
            .and_then(|mut s| s.execute(key))
    };
    written.map_err(backend)?;
    let reactions = summarize(connection, message.id)?;
    let rev = next_rev(connection, reaction.channel)?;
    connection
        .prepare_cached("UPDATE messages SET reactions = ?2, rev = ?3 WHERE id = ?1")
        .and_then(|mut s| s.execute(params![message.id.0, reactions_to_db(&reactions), rev.0]))
        .map_err(backend)?;
    message.reactions = reactions;
    message.rev = rev;
    Ok(Changed { message, changed: true })
}

/// A message's reactions from the `reactions` table: each emoji in the
/// order it was first used, with its exact count and its first names.
pub(super) fn summarize(connection: &Connection, message: MessageId) -> StoreResult<Vec<Reaction>> {
    let kinds: Vec<(String, u32)> = connection
        .prepare_cached(
            "SELECT emoji, COUNT(*) FROM reactions WHERE message_id = ?1
             GROUP BY emoji ORDER BY MIN(created_at), emoji",
        )
        .and_then(|mut s| s.query_map(params![message.0], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
        .map_err(backend)?;
    let mut names = connection
        .prepare_cached(
            "SELECT u.name FROM reactions r JOIN users u ON u.id = r.user_id
             WHERE r.message_id = ?1 AND r.emoji = ?2 ORDER BY r.created_at, r.user_id LIMIT ?3",
        )
        .map_err(backend)?;
    kinds
        .into_iter()
        .map(|(emoji, count)| {
            let users = names
                .query_map(params![message.0, emoji, REACTION_NAMES_SHOWN as i64], |row| row.get(0))
                .and_then(Iterator::collect)
                .map_err(backend)?;
            Ok(Reaction { emoji, count, users })
        })
        .collect()
}

/// Up to `limit` messages whose latest rev is past `after`, in rev order
/// (`store::revs`).
pub(super) fn changes_after(
    connection: &Connection,
    channel: ChannelId,
    after: Rev,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let sql = changes_after_sql("?1", "?2", "?3");
    query_messages(connection, &sql, channel, after.0, limit)
}

/// Where a replay of the messages after `seq` starts (`store::revs`).
pub(super) fn rev_before(connection: &Connection, channel: ChannelId, seq: Seq) -> StoreResult<Rev> {
    connection
        .prepare_cached(&rev_before_sql("?1", "?2"))
        .and_then(|mut s| s.query_row(params![channel.0, seq.0], |row| row.get(0)))
        .map(Rev)
        .map_err(backend)
}
