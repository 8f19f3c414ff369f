//! Edits and deletions on PostgreSQL: each takes the channel's next rev
//! (`channels.last_rev`) under the channel row's lock, which the batch took
//! up front as for an append, so revs stay unique and gap-free across
//! nodes. Both run on the writer's connection inside their job's
//! savepoint, and each costs two round trips: a probe of the message and
//! of who asks, then one statement that bumps the rev and changes the row,
//! pipelined with the one that records (or clears) whom it mentions.
//! Reactions (in `reactions`) share the probe and that last statement.

use tokio_postgres::Client;
use tokio_postgres::types::{ToSql, Type};

use super::super::rows::{self, MESSAGE_COLUMNS};
use super::super::{Changed, MessageEdit, MessageRemoval, StoreError, StoreResult};
use super::{backend, mentions, search};
use crate::model::{ChannelId, Deletion, Mentions, Message, Seq, UserId, now_millis};

/// The message at `(channel, seq)` as [`MESSAGE_COLUMNS`], then whether it
/// is a system line, whether the asking user (`$3`) is a member of the
/// channel, whether they are an admin, and `reacted` (a boolean column:
/// whether they reacted with the emoji `$4`, or `FALSE` when no emoji is
/// asked about). No row when there is no such message.
fn probe_sql(reacted: &str) -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS}, (SELECT archived_at IS NOT NULL FROM channels WHERE id = $1),
                m.system_kind IS NOT NULL,
                EXISTS (SELECT 1 FROM members WHERE channel_id = $1 AND user_id = $3),
                COALESCE((SELECT admin AND deactivated_at IS NULL FROM users WHERE id = $3), FALSE),
                {reacted}
         FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.channel_id = $1 AND m.seq = $2"
    )
}

/// A typed statement parameter, as `Client::query_typed` takes them.
pub(super) type Parameter<'a> = (&'a (dyn ToSql + Sync), Type);

/// The probe's columns after [`MESSAGE_COLUMNS`], counted from the row's
/// end, so the message's columns may grow without renumbering these.
const ARCHIVED: usize = 5;
const IS_SYSTEM: usize = 4;
const IS_MEMBER: usize = 3;
const IS_ADMIN: usize = 2;
const REACTED: usize = 1;

/// A message and what the probe found out about it and its asker.
pub(super) struct Probed {
    pub(super) message: Message,
    /// Whether the asker is a member of the channel.
    pub(super) member: bool,
    /// Whether the asker is an admin.
    pub(super) admin: bool,
    /// Whether the asker reacted to the message with the emoji asked
    /// about; false when none was.
    pub(super) reacted: bool,
}

/// Reads the message at `(channel, seq)` and who `asker` is to it (and,
/// given an emoji, whether they reacted with it); a missing message or a
/// system line is [`StoreError::NoSuchMessage`], or `NotMember` for an
/// asker outside the channel, so that no one learns which seqs of a
/// channel they cannot see hold messages. The query is sent on the first
/// poll, so statements joined after it are pipelined behind it.
pub(super) async fn probe(
    c: &Client,
    channel: ChannelId,
    seq: Seq,
    asker: UserId,
    emoji: Option<&str>,
) -> StoreResult<Probed> {
    // Typed parameters: no separate prepare round trip, so the probe is
    // pipelined with the job's savepoint, as an append is.
    let mut parameters: Vec<Parameter<'_>> =
        vec![(&channel.0, Type::INT8), (&seq.0, Type::INT8), (&asker.0, Type::INT8)];
    let sql = match &emoji {
        Some(emoji) => {
            parameters.push((emoji, Type::TEXT));
            probe_sql(
                "EXISTS (SELECT 1 FROM reactions WHERE message_id = m.id AND emoji = $4 AND user_id = $3)",
            )
        }
        None => probe_sql("FALSE"),
    };
    let row = c.query_typed_opt(&sql, &parameters).await.map_err(backend)?;
    let flag =
        |row: &tokio_postgres::Row, from_end| row.try_get::<_, bool>(row.len() - from_end).map_err(backend);
    let row = match row {
        Some(row) if !flag(&row, IS_SYSTEM)? => row,
        // The rare path: one more read says which refusal.
        _ if !super::channels::is_member(c, channel, asker).await? => return Err(StoreError::NotMember),
        _ => return Err(StoreError::NoSuchMessage),
    };
    let flag = |from_end| flag(&row, from_end);
    let probed = Probed {
        message: rows::message(&row)?,
        member: flag(IS_MEMBER)?,
        admin: flag(IS_ADMIN)?,
        reacted: flag(REACTED)?,
    };
    // Archived: read-only, for every change. Told to members only: to
    // others the channel stays as it was.
    if probed.member && flag(ARCHIVED)? {
        return Err(StoreError::Archived);
    }
    Ok(probed)
}

/// Replaces a message's body, taking the channel's next rev; see
/// `Store::edit_message` for who may and what an unchanged body does.
pub(super) async fn edit(c: &Client, edit: MessageEdit) -> StoreResult<Changed> {
    let probed = probe(c, edit.channel, edit.seq, edit.editor, None).await?;
    // Membership first, as on SQLite: someone outside the channel does not
    // learn whether a message was deleted.
    if !probed.member {
        return Err(StoreError::NotMember);
    }
    // A deleted message cannot come back by being edited: for an edit it
    // is no message at all.
    if probed.message.deleted.is_some() {
        return Err(StoreError::NoSuchMessage);
    }
    let current = probed.message;
    if current.sender != edit.editor {
        return Err(StoreError::NotSender);
    }
    // The same body again is no change, whatever `if_rev` says: a retry of
    // an edit that landed is answered as done, not as a conflict with
    // itself.
    let body = edit.body.into_string();
    if body == current.body {
        // Nothing to tell anyone: no rev is taken.
        return Ok(Changed { message: current, changed: false });
    }
    if let Some(if_rev) = edit.if_rev
        && if_rev != current.rev
    {
        return Err(StoreError::Conflict(Box::new(current)));
    }
    let sql = format!(
        "WITH bump AS (UPDATE channels SET last_rev = last_rev + 1 WHERE id = $1 RETURNING last_rev)
         UPDATE messages m SET body = $3, edited_at = $4, rev = bump.last_rev, search = $5::TEXT::tsvector
         FROM bump, users u
         WHERE m.channel_id = $1 AND m.seq = $2 AND u.id = m.sender_id
         RETURNING {MESSAGE_COLUMNS}"
    );
    let now = now_millis();
    let terms = search::tsvector(&body);
    let parameters: [Parameter<'_>; 5] = [
        (&edit.channel.0, Type::INT8),
        (&edit.seq.0, Type::INT8),
        (&body, Type::TEXT),
        (&now, Type::INT8),
        (&terms, Type::TEXT),
    ];
    // Both sent on the first poll, in this order (`join!` polls in order):
    // the mentions as the new body says, then the body and the rev.
    let (recorded, changed) =
        tokio::join!(mentions::record(c, &current, &body), changed(c, &sql, &parameters));
    let (recorded, mut changed) = (recorded?, changed?);
    changed.message.mentions = recorded;
    Ok(changed)
}

/// Deletes a message, taking the channel's next rev; see
/// `Store::delete_message` for who may.
pub(super) async fn delete(c: &Client, removal: MessageRemoval) -> StoreResult<Changed> {
    let probed = probe(c, removal.channel, removal.seq, removal.by, None).await?;
    if !probed.member {
        return Err(StoreError::NotMember);
    }
    if probed.message.deleted.is_some() {
        return Ok(Changed { message: probed.message, changed: false });
    }
    let deletion = if probed.message.sender == removal.by {
        Deletion::BySender
    } else if probed.admin {
        Deletion::ByAdmin
    } else {
        return Err(StoreError::NotSender);
    };
    // The body is overwritten, not kept aside: a deleted message's text is
    // gone from the table (and, once vacuumed, from the files). A tombstone
    // has no reactions: their rows go in the same statement.
    let sql = format!(
        "WITH bump AS (UPDATE channels SET last_rev = last_rev + 1 WHERE id = $1 RETURNING last_rev),
              unreacted AS (DELETE FROM reactions WHERE message_id = $4),
              -- Its files' bytes go after the commit (`Files::deleted_files`).
              unfiled AS (UPDATE files SET deleted_at = $5 WHERE message_id = $4 AND deleted_at IS NULL)
         UPDATE messages m SET body = '', deleted = $3, rev = bump.last_rev, reactions = NULL, search = NULL,
                               files = NULL
         FROM bump, users u
         WHERE m.channel_id = $1 AND m.seq = $2 AND u.id = m.sender_id
         RETURNING {MESSAGE_COLUMNS}"
    );
    let deleted = Deletion::to_db(Some(deletion));
    let now = now_millis();
    let parameters: [Parameter<'_>; 5] = [
        (&removal.channel.0, Type::INT8),
        (&removal.seq.0, Type::INT8),
        (&deleted, Type::INT8),
        (&probed.message.id.0, Type::INT8),
        (&now, Type::INT8),
    ];
    // Pipelined as an edit's are: the mentions go first, then the body.
    let (cleared, changed) = tokio::join!(mentions::clear(c, &probed.message), changed(c, &sql, &parameters));
    let ((), mut changed) = (cleared?, changed?);
    changed.message.mentions = Mentions::default();
    Ok(changed)
}

/// Runs an update that bumps the rev and returns the changed message as
/// [`MESSAGE_COLUMNS`].
pub(super) async fn changed(c: &Client, sql: &str, parameters: &[Parameter<'_>]) -> StoreResult<Changed> {
    let row = c
        .query_typed_opt(sql, parameters)
        .await
        .map_err(backend)?
        // The probe found the row under the channel's lock a moment ago.
        .ok_or_else(|| StoreError::Backend("a probed message vanished".into()))?;
    Ok(Changed { message: rows::message(&row)?, changed: true })
}
