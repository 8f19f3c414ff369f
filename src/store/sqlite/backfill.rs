//! History made elsewhere on SQLite (`store::Backfill`): accounts without
//! a password, and messages with their own times and reactions. Each call
//! is one job on the writer, in a savepoint of its own (a message writes
//! several rows, and a refused one leaves none).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::super::backfill::{Backfill, BackfillMessage, BackfillUser, too_many_kinds};
use super::super::rows::reactions_to_db;
use super::super::{Appended, Queued, StoreError, StoreResult};
use super::{SqliteStore, accounts, backend, changes, mentions, messages};
use crate::model::{MessageId, User, UserId, now_millis};

#[async_trait]
impl Backfill for SqliteStore {
    async fn backfill_user(&self, user: BackfillUser) -> StoreResult<(User, bool)> {
        self.submit(move |c| backfill_user(c, &user)).await
    }

    fn backfill_message(&self, message: BackfillMessage) -> Queued<Appended> {
        let queued = self.submit(move |c| backfill_message(c, message));
        // Indexed in a batch, as a sent message is (`search`).
        self.queue_indexing(self.indexing.appended());
        queued
    }
}

fn backfill_user(c: &Connection, user: &BackfillUser) -> StoreResult<(User, bool)> {
    let now = now_millis();
    let inserted = c
        .prepare_cached(
            "INSERT INTO users (name, name_key, password_hash, guest, admin, deactivated_at, created_at)
             VALUES (?1, ?2, NULL, 0, ?3, ?4, ?5) ON CONFLICT (name_key) DO NOTHING",
        )
        .and_then(|mut s| {
            let deactivated_at = user.deactivated.then_some(now);
            s.execute(params![user.name.as_str(), user.name.key(), user.admin, deactivated_at, now])
        })
        .map_err(backend)?;
    if inserted == 1 {
        let id = UserId(c.last_insert_rowid());
        accounts::join_general(c, id)?;
        return Ok((User { id, name: user.name.as_str().to_owned(), guest: false }, true));
    }
    let existing = c
        .query_row("SELECT id, name, guest FROM users WHERE name_key = ?1", [user.name.key()], |row| {
            Ok(User { id: UserId(row.get(0)?), name: row.get(1)?, guest: row.get(2)? })
        })
        .map_err(backend)?;
    Ok((existing, false))
}

fn backfill_message(c: &Connection, new: BackfillMessage) -> StoreResult<Appended> {
    let client_id = new.client_id.into_string();
    if let Some(message) = messages::stored_message(c, new.sender, &client_id)? {
        return Ok(Appended { message, created: false });
    }
    if too_many_kinds(&new.reactions) {
        return Err(StoreError::LimitReached);
    }
    let head: Option<(i64, i64)> = c
        .prepare_cached("SELECT last_seq, last_rev FROM channels WHERE id = ?1")
        .and_then(|mut s| s.query_row([new.channel.0], |row| Ok((row.get(0)?, row.get(1)?))).optional())
        .map_err(backend)?;
    let (last_seq, last_rev) = head.ok_or(StoreError::NoSuchChannel)?;
    if let Some(parent) = new.reply_to
        && messages::quote(c, new.channel, parent)?.is_none()
    {
        return Err(StoreError::NoSuchMessage);
    }
    let (seq, rev) = (last_seq + 1, last_rev + 1);
    let body = new.body.into_string();
    c.prepare_cached(
        "INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts, rev, reply_to, edited_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut s| {
        let parent = new.reply_to.map(|parent| parent.0);
        s.execute(params![
            new.channel.0,
            seq,
            new.sender.0,
            client_id,
            body,
            new.ts,
            rev,
            parent,
            new.edited_at
        ])
    })
    .map_err(backend)?;
    let id = MessageId(c.last_insert_rowid());
    messages::advance_head(c, new.channel, seq, rev)?;
    if !new.reactions.is_empty() {
        let mut insert = c
            .prepare_cached(
                "INSERT OR IGNORE INTO reactions (message_id, emoji, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(backend)?;
        for (offset, (emoji, user)) in (0_i64..).zip(&new.reactions) {
            insert.execute(params![id.0, emoji.as_str(), user.0, new.ts + offset]).map_err(backend)?;
        }
        let summary = changes::summarize(c, id)?;
        c.prepare_cached("UPDATE messages SET reactions = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id.0, reactions_to_db(&summary)]))
            .map_err(backend)?;
    }
    let mut message = messages::stored_message(c, new.sender, &client_id)?
        .ok_or_else(|| StoreError::Backend("a message just stored cannot be read back".into()))?;
    message.mentions = mentions::record(c, &message, &body)?;
    Ok(Appended { message, created: true })
}
