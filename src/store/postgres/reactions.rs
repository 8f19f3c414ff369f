//! Reactions on PostgreSQL, as on SQLite: one row per user, emoji and
//! message in `reactions` (the truth), and each message's summary in
//! `messages.reactions` (what every read returns), rewritten with each
//! change, which takes the channel's next rev like an edit.
//!
//! A reaction costs two round trips. The first pipelines three statements
//! behind the job's savepoint: the probe (`changes::probe`, which sees the
//! rows as they were), the write, guarded so that it changes nothing
//! unless the probe's answer lets it, and the summary as it stands after
//! the write. The second bumps the rev and stores the summary. The batch
//! holds the channel row's lock throughout, so no other node's reaction to
//! the message comes in between.

use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row};

use super::super::rows::{MESSAGE_COLUMNS, reactions_to_db};
use super::super::{Changed, MessageReaction, StoreError, StoreResult};
use super::backend;
use super::changes::{Parameter, changed, probe};
use crate::model::{MAX_REACTION_KINDS, REACTION_NAMES_SHOWN, Reaction, now_millis};

/// Adds the reaction `($3, $4)` at `$5` to the message at `($1, $2)` when
/// it is one a member may react to ($4 a member, the message neither a
/// system line nor deleted), the user has not reacted so already, and the
/// emoji is on the message or it has fewer than `$6` kinds: the probe's
/// refusals, so that a refused job writes nothing even before its savepoint
/// is rolled back. Returns a row for each reaction stored.
const ADD_SQL: &str = "
    INSERT INTO reactions (message_id, emoji, user_id, created_at)
    SELECT m.id, $3, $4,
           GREATEST($5, COALESCE((SELECT MAX(created_at) + 1 FROM reactions WHERE message_id = m.id), 0))
    FROM messages m
    WHERE m.channel_id = $1 AND m.seq = $2 AND m.system_kind IS NULL AND m.deleted = 0
      AND EXISTS (SELECT 1 FROM members WHERE channel_id = $1 AND user_id = $4)
      AND (EXISTS (SELECT 1 FROM reactions WHERE message_id = m.id AND emoji = $3)
           OR (SELECT COUNT(DISTINCT emoji) FROM reactions WHERE message_id = m.id) < $6)
    ON CONFLICT DO NOTHING
    RETURNING 1";

/// Takes back the reaction `($3, $4)` from the message at `($1, $2)`, on
/// the same terms as [`ADD_SQL`] but the limit. Returns a row for each
/// reaction removed.
const REMOVE_SQL: &str = "
    DELETE FROM reactions r USING messages m
    WHERE m.channel_id = $1 AND m.seq = $2 AND m.system_kind IS NULL AND m.deleted = 0
      AND EXISTS (SELECT 1 FROM members WHERE channel_id = $1 AND user_id = $4)
      AND r.message_id = m.id AND r.emoji = $3 AND r.user_id = $4
    RETURNING 1";

/// The reactions to the message at `($1, $2)`, as SQLite's store sums them
/// up: each emoji in the order it was first used (ties by emoji, in bytes,
/// as SQLite compares text), with its exact count and the names of the
/// first `$3` to use it.
pub(super) const SUMMARY_SQL: &str = r#"
    SELECT r.emoji, COUNT(*),
           ARRAY(SELECT u.name FROM reactions x JOIN users u ON u.id = x.user_id
                 WHERE x.message_id = r.message_id AND x.emoji = r.emoji
                 ORDER BY x.created_at, x.user_id LIMIT $3)
    FROM reactions r
    WHERE r.message_id = (SELECT id FROM messages WHERE channel_id = $1 AND seq = $2)
    GROUP BY r.message_id, r.emoji
    ORDER BY MIN(r.created_at), r.emoji COLLATE "C""#;

/// Decodes the rows of [`SUMMARY_SQL`].
pub(super) fn summary_of(rows: &[Row]) -> StoreResult<Vec<Reaction>> {
    rows.iter()
        .map(|row| {
            let count: i64 = row.try_get(1).map_err(backend)?;
            Ok(Reaction {
                emoji: row.try_get(0).map_err(backend)?,
                count: u32::try_from(count).map_err(|e| StoreError::Backend(e.to_string()))?,
                users: row.try_get(2).map_err(backend)?,
            })
        })
        .collect()
}

/// Adds or takes back a member's reaction; see `Store::react`.
pub(super) async fn react(c: &Client, reaction: MessageReaction) -> StoreResult<Changed> {
    let (channel, seq, user) = (reaction.channel, reaction.seq, reaction.user);
    let emoji = reaction.emoji.as_str();
    let (now, kinds, names) = (now_millis(), MAX_REACTION_KINDS as i64, REACTION_NAMES_SHOWN as i64);
    let mut write_parameters: Vec<Parameter<'_>> =
        vec![(&channel.0, Type::INT8), (&seq.0, Type::INT8), (&emoji, Type::TEXT), (&user.0, Type::INT8)];
    let write_sql = if reaction.add {
        write_parameters.extend([(&now as _, Type::INT8), (&kinds as _, Type::INT8)]);
        ADD_SQL
    } else {
        REMOVE_SQL
    };
    let summary_parameters: [Parameter<'_>; 3] =
        [(&channel.0, Type::INT8), (&seq.0, Type::INT8), (&names, Type::INT8)];
    // Sent in this order on the first poll (`join!` polls in order), and
    // run in this order: the probe sees the reactions before the write,
    // the summary after it.
    let (probed, written, summary) = tokio::join!(
        probe(c, channel, seq, user, Some(emoji)),
        c.query_typed(write_sql, &write_parameters),
        c.query_typed(SUMMARY_SQL, &summary_parameters),
    );
    // As on SQLite: a missing message or a system line, then who asks,
    // then a deleted message (which takes no reactions).
    let probed = probed?;
    if !probed.member {
        return Err(StoreError::NotMember);
    }
    if probed.message.deleted.is_some() {
        return Err(StoreError::NoSuchMessage);
    }
    let (written, summary) = (written.map_err(backend)?.len(), summary.map_err(backend)?);
    let message = probed.message;
    if probed.reacted == reaction.add {
        // Already there, or already gone: no rev is taken.
        return Ok(Changed { message, changed: false });
    }
    let new_kind = !message.reactions.iter().any(|existing| existing.emoji == emoji);
    if reaction.add && new_kind && message.reactions.len() >= MAX_REACTION_KINDS {
        return Err(StoreError::LimitReached);
    }
    if written != 1 {
        // The probe let it through, so the guard should have too: the
        // summary column and the table disagree.
        return Err(StoreError::Backend(format!("a reaction change wrote {written} rows, not 1")));
    }
    let reactions = summary_of(&summary)?;
    let sql = format!(
        "WITH bump AS (UPDATE channels SET last_rev = last_rev + 1 WHERE id = $1 RETURNING last_rev)
         UPDATE messages m SET reactions = $3, rev = bump.last_rev
         FROM bump, users u
         WHERE m.channel_id = $1 AND m.seq = $2 AND u.id = m.sender_id
         RETURNING {MESSAGE_COLUMNS}"
    );
    let column = reactions_to_db(&reactions);
    let parameters: [Parameter<'_>; 3] =
        [(&channel.0, Type::INT8), (&seq.0, Type::INT8), (&column, Type::TEXT)];
    changed(c, &sql, &parameters).await
}
