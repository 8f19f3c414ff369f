//! The message stream on PostgreSQL: appending messages and system lines
//! (each taking the channel's next seq and next rev under the channel row's
//! lock, which the batch took up front), and reading history and changes.
//! Appends run on the writer's connection inside their job's savepoint;
//! reads on the read connection. Edits and deletions are in `changes`.

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::super::revs::{changes_after_sql, rev_before_sql};
use super::super::rows::{self, MESSAGE_COLUMNS};
use super::super::{Appended, NewMessage, NewSystemLine, StoreError, StoreResult};
use super::channels::{is_member, load_channel};
use super::{backend, files, mentions};
use crate::model::{
    ChannelId, Mentions, Message, MessageId, Quote, Rev, Seq, SystemEvent, UserId, now_millis,
};

/// One statement with typed parameters, so an append costs one round trip
/// (pipelined with its savepoint): the idempotency lookup, the membership
/// check, the replied-to message (it must stand: not deleted, not a system
/// line), the seq and rev bump under the channel's row lock and the insert
/// (with the body's search terms, `$7`).
/// Returns the stored original's id (`existing`; read whole afterwards, as
/// it stands now) or the new row (`inserted`, with the quote of what it
/// replies to); no row means not a member, or no message to reply to.
/// A body that mentions someone takes one more (`mentions::record`).
const APPEND_SQL: &str = "
    WITH existing AS (
        SELECT m.id FROM messages m WHERE m.sender_id = $2::BIGINT AND m.client_id = $3::TEXT
    ), sender AS (
        SELECT u.name FROM members mb JOIN users u ON u.id = mb.user_id
        WHERE mb.channel_id = $1::BIGINT AND mb.user_id = $2::BIGINT
    ), parent AS (
        SELECT substr(p.body, 1, 400) AS excerpt, pu.name, p.files FROM messages p JOIN users pu ON pu.id = p.sender_id
        WHERE p.channel_id = $1::BIGINT AND p.seq = $6::BIGINT AND p.system_kind IS NULL AND p.deleted = 0
    ), bump AS (
        UPDATE channels SET last_seq = last_seq + 1, last_rev = last_rev + 1
        WHERE id = $1::BIGINT AND archived_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM existing) AND EXISTS (SELECT 1 FROM sender)
          AND ($6::BIGINT IS NULL OR EXISTS (SELECT 1 FROM parent))
        RETURNING last_seq, last_rev
    ), inserted AS (
        INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts, rev, reply_to, search)
        SELECT $1::BIGINT, last_seq, $2::BIGINT, $3::TEXT, $4::TEXT, $5::BIGINT, last_rev, $6::BIGINT,
               $7::TEXT::tsvector
        FROM bump
        RETURNING id, seq, rev
    )
    SELECT FALSE AS created, e.id, NULL::BIGINT, NULL::BIGINT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT
    FROM existing e
    UNION ALL
    SELECT TRUE, i.id, i.seq, i.rev, (SELECT name FROM sender), (SELECT excerpt FROM parent),
           (SELECT name FROM parent), (SELECT files FROM parent)
    FROM inserted i";

/// Appends a message if the sender is a member, taking the channel's next
/// seq; a `(sender, client_id)` already stored returns the original.
/// `search_terms` is the body's `tsvector` literal (`search::tsvector`).
pub(super) async fn append(c: &Client, new: NewMessage, search_terms: String) -> StoreResult<Appended> {
    let client_id = new.client_id.into_string();
    let body = new.body.into_string();
    let reply_to = new.reply_to.map(|parent| parent.0);
    let ts = now_millis();
    // The batch holds this channel's row lock from its start, so another
    // node's append of the same (sender, client_id) here either committed
    // before (and `existing` finds it) or waits for this batch. The same
    // client id sent to two different channels through two nodes at once
    // fails the second with a unique violation; its retry finds the first.
    // Typed parameters: no separate prepare round trip.
    let row = c
        .query_typed_opt(
            APPEND_SQL,
            &[
                (&new.channel.0, Type::INT8),
                (&new.sender.0, Type::INT8),
                (&client_id, Type::TEXT),
                (&body, Type::TEXT),
                (&ts, Type::INT8),
                (&reply_to, Type::INT8),
                (&search_terms, Type::TEXT),
            ],
        )
        .await
        .map_err(backend)?;
    let Some(row) = row else {
        return Err(match load_channel(c, new.channel).await? {
            None => StoreError::NoSuchChannel,
            // Told to members only: to others an archived channel stays as it was.
            Some(_)
                if super::channel_settings::is_archived(c, new.channel).await?
                    && is_member(c, new.channel, new.sender).await? =>
            {
                StoreError::Archived
            }
            Some(_) if reply_to.is_some() && is_member(c, new.channel, new.sender).await? => {
                StoreError::NoSuchMessage
            }
            Some(_) => StoreError::NotMember,
        });
    };
    let id = MessageId(row.get(1));
    if !row.get::<_, bool>(0) {
        // A retry: the original as it stands (edited or reacted to since,
        // perhaps), one more read on this rare path.
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.id = $1"
        );
        let original = c.query_one(&sql, &[&id.0]).await.map_err(backend)?;
        return Ok(Appended { message: rows::message(&original)?, created: false });
    }
    let reply_to = new.reply_to.map(|seq| Quote {
        seq,
        sender: row.get::<_, Option<String>>(6).unwrap_or_default(),
        excerpt: rows::quote_excerpt(
            &row.get::<_, Option<String>>(5).unwrap_or_default(),
            row.get::<_, Option<String>>(7).as_deref(),
        ),
    });
    let mut message = Message {
        id,
        channel: new.channel,
        seq: Seq(row.get(2)),
        sender: new.sender,
        sender_name: row.get(4),
        client_id,
        body,
        ts,
        system: None,
        rev: Rev(row.get(3)),
        edited_at: None,
        deleted: None,
        reactions: Vec::new(),
        reply_to,
        mentions: Mentions::default(),
        files: Vec::new(),
    };
    if !new.files.is_empty() {
        message.files = files::attach(c, id, new.channel, new.sender, &new.files).await?;
    }
    // Whom it mentions needs its id, so a second round trip, but only for
    // a body that mentions someone: otherwise `record` sends nothing.
    message.mentions = mentions::record(c, &message, &message.body).await?;
    Ok(Appended { message, created: true })
}

/// Appends a system line: no membership check (the server writes it, also
/// for someone who just left), otherwise like a message: the channel's next
/// seq and next rev. The batch holds the channel's row lock, as for a message.
pub(super) async fn append_system(c: &Client, line: NewSystemLine) -> StoreResult<Message> {
    let names = c
        .query("SELECT id, name FROM users WHERE id = $1 OR id = $2", &[&line.actor.0, &line.subject.0])
        .await
        .map_err(backend)?;
    let name_of = |user: UserId| {
        names
            .iter()
            .find(|row| row.get::<_, i64>(0) == user.0)
            .map(|row| row.get::<_, String>(1))
            .ok_or_else(|| StoreError::Backend("no such user".into()))
    };
    let (sender_name, subject_name) = (name_of(line.actor)?, name_of(line.subject)?);
    let event = SystemEvent { kind: line.kind, user_name: subject_name };
    let body = event.text(&sender_name);
    let ts = now_millis();
    let row = c
        .query_opt(
            "WITH bump AS (
                 UPDATE channels SET last_seq = last_seq + 1, last_rev = last_rev + 1 WHERE id = $1
                 RETURNING last_seq, last_rev
             )
             INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts, system_kind, system_user, rev)
             SELECT $1, last_seq, $2, $3, $4, $5, $6, $7, last_rev FROM bump
             RETURNING id, seq, rev",
            &[
                &line.channel.0,
                &line.actor.0,
                &line.client_id,
                &body,
                &ts,
                &line.kind.as_str(),
                &line.subject.0,
            ],
        )
        .await
        .map_err(backend)?
        .ok_or(StoreError::NoSuchChannel)?;
    Ok(Message {
        id: MessageId(row.get(0)),
        channel: line.channel,
        seq: Seq(row.get(1)),
        sender: line.actor,
        sender_name,
        client_id: line.client_id,
        body,
        ts,
        system: Some(event),
        rev: Rev(row.get(2)),
        edited_at: None,
        deleted: None,
        reactions: Vec::new(),
        reply_to: None,
        mentions: Default::default(),
        files: Vec::new(),
    })
}

/// Up to `limit` messages before `before`, the newest ones, oldest first.
pub(super) async fn history(
    c: &Client,
    channel: ChannelId,
    before: i64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.channel_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
    );
    let mut newest_first = query_messages(c, &sql, channel, before, limit).await?;
    newest_first.reverse();
    Ok(newest_first)
}

pub(super) async fn messages_after(
    c: &Client,
    channel: ChannelId,
    after: Seq,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.channel_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
    );
    query_messages(c, &sql, channel, after.0, limit).await
}

/// Up to `limit` messages whose latest change is past `after`, in rev
/// order, each as it stands now (`store::revs`).
pub(super) async fn changes_after(
    c: &Client,
    channel: ChannelId,
    after: Rev,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let sql = changes_after_sql("$1", "$2", "$3");
    query_messages(c, &sql, channel, after.0, limit).await
}

/// Where a replay of the messages after `seq` starts (`store::revs`).
pub(super) async fn rev_before(c: &Client, channel: ChannelId, seq: Seq) -> StoreResult<Rev> {
    let row = c.query_one(&rev_before_sql("$1", "$2"), &[&channel.0, &seq.0]).await.map_err(backend)?;
    Ok(Rev(row.try_get(0).map_err(backend)?))
}

async fn query_messages(
    c: &Client,
    sql: &str,
    channel: ChannelId,
    bound: i64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let found = c.query(sql, &[&channel.0, &bound, &i64::from(limit)]).await.map_err(backend)?;
    found.iter().map(rows::message).collect()
}

/// Every channel's latest rev.
pub(super) async fn channel_heads(c: &Client) -> StoreResult<Vec<(ChannelId, Rev)>> {
    let found = c.query("SELECT id, last_rev FROM channels", &[]).await.map_err(backend)?;
    Ok(found.iter().map(|row| (ChannelId(row.get(0)), Rev(row.get(1)))).collect())
}
