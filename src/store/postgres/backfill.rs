//! History made elsewhere on PostgreSQL (`store::Backfill`), as on SQLite:
//! accounts without a password, and messages with their own times and
//! reactions. Each call is one job on the writer, in its savepoint; a
//! message's job names its channel, so the batch holds the channel row's
//! lock from the start and the seq and rev it takes are its own. Plain
//! statements, several round trips: an import is not the hot path.

use async_trait::async_trait;
use tokio_postgres::Client;

use super::super::backfill::{Backfill, BackfillMessage, BackfillUser, too_many_kinds};
use super::super::rows::{self, MESSAGE_COLUMNS, reactions_to_db};
use super::super::{Appended, Queued, StoreError, StoreResult};
use super::reactions::{SUMMARY_SQL, summary_of};
use super::{PostgresStore, backend, mentions, search};
use crate::model::{Message, REACTION_NAMES_SHOWN, User, UserId, now_millis};

#[async_trait]
impl Backfill for PostgresStore {
    async fn backfill_user(&self, user: BackfillUser) -> StoreResult<(User, bool)> {
        self.submit(None, move |c| Box::pin(async move { backfill_user(&c, &user).await })).await
    }

    fn backfill_message(&self, message: BackfillMessage) -> Queued<Appended> {
        let channel = message.channel;
        // Tokenized before the job is queued, not while the batch holds
        // the channel's row lock.
        let terms = search::tsvector(message.body.as_str());
        self.submit(Some(channel), move |c| {
            Box::pin(async move { backfill_message(&c, message, terms).await })
        })
    }
}

async fn backfill_user(c: &Client, user: &BackfillUser) -> StoreResult<(User, bool)> {
    let now = now_millis();
    let deactivated_at = user.deactivated.then_some(now);
    let inserted = c
        .query_opt(
            "INSERT INTO users (name, name_key, password_hash, guest, admin, deactivated_at, created_at)
             VALUES ($1, $2, NULL, FALSE, $3, $4, $5) ON CONFLICT (name_key) DO NOTHING RETURNING id",
            &[&user.name.as_str(), &user.name.key(), &user.admin, &deactivated_at, &now],
        )
        .await
        .map_err(backend)?;
    if let Some(row) = inserted {
        let id = UserId(row.get(0));
        c.execute(
            "INSERT INTO members (channel_id, user_id, read_seq, joined_at)
             SELECT id, $1, 0, $2 FROM channels WHERE id = 1
             ON CONFLICT DO NOTHING",
            &[&id.0, &now],
        )
        .await
        .map_err(backend)?;
        return Ok((User { id, name: user.name.as_str().to_owned(), guest: false }, true));
    }
    let row = c
        .query_one("SELECT id, name, guest FROM users WHERE name_key = $1", &[&user.name.key()])
        .await
        .map_err(backend)?;
    Ok((rows::user(&row)?, false))
}

/// The message `sender` stored under `client_id`, as it stands.
async fn stored(c: &Client, sender: UserId, client_id: &str) -> StoreResult<Option<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.sender_id = $1 AND m.client_id = $2"
    );
    let row = c.query_opt(&sql, &[&sender.0, &client_id]).await.map_err(backend)?;
    row.as_ref().map(rows::message).transpose()
}

async fn backfill_message(c: &Client, new: BackfillMessage, terms: String) -> StoreResult<Appended> {
    let client_id = new.client_id.into_string();
    if let Some(message) = stored(c, new.sender, &client_id).await? {
        return Ok(Appended { message, created: false });
    }
    if too_many_kinds(&new.reactions) {
        return Err(StoreError::LimitReached);
    }
    if let Some(parent) = new.reply_to {
        let stands = c
            .query_opt(
                "SELECT 1 FROM messages WHERE channel_id = $1 AND seq = $2 AND system_kind IS NULL AND deleted = 0",
                &[&new.channel.0, &parent.0],
            )
            .await
            .map_err(backend)?;
        if stands.is_none() {
            return Err(StoreError::NoSuchMessage);
        }
    }
    let body = new.body.into_string();
    let parent = new.reply_to.map(|parent| parent.0);
    let row = c
        .query_opt(
            "WITH bump AS (
                 UPDATE channels SET last_seq = last_seq + 1, last_rev = last_rev + 1 WHERE id = $1
                 RETURNING last_seq, last_rev
             )
             INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts, rev, reply_to, edited_at, search)
             SELECT $1, last_seq, $2, $3, $4, $5, last_rev, $6, $7, $8::TEXT::tsvector FROM bump
             RETURNING id, seq",
            &[&new.channel.0, &new.sender.0, &client_id, &body, &new.ts, &parent, &new.edited_at, &terms],
        )
        .await
        .map_err(backend)?
        .ok_or(StoreError::NoSuchChannel)?;
    let (id, seq): (i64, i64) = (row.get(0), row.get(1));
    if !new.reactions.is_empty() {
        let emoji: Vec<&str> = new.reactions.iter().map(|(emoji, _)| emoji.as_str()).collect();
        let users: Vec<i64> = new.reactions.iter().map(|(_, user)| user.0).collect();
        let times: Vec<i64> = (0_i64..).take(users.len()).map(|offset| new.ts + offset).collect();
        c.execute(
            "INSERT INTO reactions (message_id, emoji, user_id, created_at)
             SELECT $1, r.emoji, r.user_id, r.created_at
             FROM unnest($2::TEXT[], $3::BIGINT[], $4::BIGINT[]) AS r(emoji, user_id, created_at)
             ON CONFLICT DO NOTHING",
            &[&id, &emoji, &users, &times],
        )
        .await
        .map_err(backend)?;
        let names = REACTION_NAMES_SHOWN as i64;
        let summary = c.query(SUMMARY_SQL, &[&new.channel.0, &seq, &names]).await.map_err(backend)?;
        let column = reactions_to_db(&summary_of(&summary)?);
        c.execute("UPDATE messages SET reactions = $2 WHERE id = $1", &[&id, &column])
            .await
            .map_err(backend)?;
    }
    let mut message = stored(c, new.sender, &client_id)
        .await?
        .ok_or_else(|| StoreError::Backend("a message just stored cannot be read back".into()))?;
    message.mentions = mentions::record(c, &message, &body).await?;
    Ok(Appended { message, created: true })
}
