//! Mentions on SQLite: whom a message's body mentions, resolved against
//! the channel's members and recorded with the message, at send and at
//! each edit, in the job that writes the body.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::StoreResult;
use super::super::rows::mentioned_to_db;
use super::backend;
use crate::model::{Mentions, Message, mentions_in};

/// Records whom `message` mentions now that its body is `body`, replacing
/// what it mentioned before; returns it. A name that is not a member of
/// the channel (in a private channel or not) is text, like an unknown one.
/// A body without mentions, replacing one without, costs no statement.
pub(super) fn record(connection: &Connection, message: &Message, body: &str) -> StoreResult<Mentions> {
    let (names, everyone) = mentions_in(body);
    if names.is_empty() && !everyone && message.mentions.is_empty() {
        return Ok(Mentions::default());
    }
    connection
        .prepare_cached("DELETE FROM mentions WHERE message_id = ?1")
        .and_then(|mut s| s.execute(params![message.id.0]))
        .map_err(backend)?;
    let mut member = connection
        .prepare_cached(
            "SELECT u.id, u.name FROM users u JOIN members mb ON mb.user_id = u.id AND mb.channel_id = ?1
             WHERE u.name_key = ?2",
        )
        .map_err(backend)?;
    let mut users = Vec::new();
    for name in names {
        let found: Option<(i64, String)> = member
            .query_row(params![message.channel.0, name.key()], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(backend)?;
        let Some((id, name)) = found else { continue };
        // One's own name is shown, but never counts as a mention of oneself.
        if id != message.sender.0 {
            connection
                .prepare_cached("INSERT OR IGNORE INTO mentions (user_id, message_id) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![id, message.id.0]))
                .map_err(backend)?;
        }
        users.push(name);
    }
    connection
        .prepare_cached("UPDATE messages SET mentioned = ?2, mentions_channel = ?3 WHERE id = ?1")
        .and_then(|mut s| s.execute(params![message.id.0, mentioned_to_db(&users), everyone]))
        .map_err(backend)?;
    Ok(Mentions { users, channel: everyone })
}

/// Forgets whom a deleted message mentioned.
pub(super) fn clear(connection: &Connection, message: &Message) -> StoreResult<()> {
    if message.mentions.is_empty() {
        return Ok(());
    }
    connection
        .prepare_cached("DELETE FROM mentions WHERE message_id = ?1")
        .and_then(|mut s| s.execute(params![message.id.0]))
        .map_err(backend)?;
    connection
        .prepare_cached("UPDATE messages SET mentioned = NULL, mentions_channel = 0 WHERE id = ?1")
        .and_then(|mut s| s.execute(params![message.id.0]))
        .map_err(backend)?;
    Ok(())
}
