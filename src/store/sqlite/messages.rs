//! The message stream on SQLite: appending messages and system lines (each
//! taking the channel's next seq), and reading history. Appends run on the
//! writer, inside their job's savepoint; reads on a reader.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::rows::{self, MESSAGE_COLUMNS};
use super::super::{Appended, NewMessage, NewSystemLine, StoreError, StoreResult};
use super::backend;
use super::channels::load_channel;
use crate::model::{ChannelId, Message, MessageId, Seq, SystemEvent, UserId, now_millis};

/// Appends a message if the sender is a member, taking the channel's next
/// seq; a `(sender, client_id)` already stored returns the original.
pub(super) fn append(connection: &Connection, new: NewMessage) -> StoreResult<Appended> {
    let client_id = new.client_id.into_string();
    let existing = connection
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
             WHERE m.sender_id = ?1 AND m.client_id = ?2"
        ))
        .and_then(|mut s| s.query_row(params![new.sender.0, client_id], |row| rows::message(row)).optional())
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
pub(super) fn append_system(connection: &Connection, line: NewSystemLine) -> StoreResult<Message> {
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
        .query_map(params![channel.0, bound, limit], |row| rows::message(row))
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)
}

/// Up to `limit` messages before `before`, the newest ones, oldest first.
pub(super) fn history(
    connection: &Connection,
    channel: ChannelId,
    before: i64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.channel_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3"
    );
    let mut newest_first = query_messages(connection, &sql, channel, before, limit)?;
    newest_first.reverse();
    Ok(newest_first)
}

pub(super) fn messages_after(
    connection: &Connection,
    channel: ChannelId,
    after: Seq,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.channel_id = ?1 AND m.seq > ?2 ORDER BY m.seq LIMIT ?3"
    );
    query_messages(connection, &sql, channel, after.0, limit)
}

pub(super) fn channel_heads(connection: &Connection) -> StoreResult<Vec<(ChannelId, Seq)>> {
    let mut statement = connection.prepare("SELECT id, last_seq FROM channels").map_err(backend)?;
    statement
        .query_map([], |row| Ok((ChannelId(row.get(0)?), Seq(row.get(1)?))))
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)
}
