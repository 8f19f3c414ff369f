//! Mentions on PostgreSQL, as on SQLite: whom a message's body mentions,
//! resolved against the channel's members and recorded with the message,
//! at send and at each edit, in the job that writes the body. Each change
//! is one statement with typed parameters (no prepare round trip), sent on
//! the first poll, so a caller can pipeline it with its own statements.

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::super::StoreResult;
use super::backend;
use super::changes::Parameter;
use crate::model::{Mentions, Message, mentions_in};

/// Replaces the mentions of message `$1` (in channel `$3`, sent by `$4`)
/// with the names whose keys are `$2` that are members of the channel, in
/// the order given, and sets `mentions_channel` to `$5`. A mention row is
/// written for every member named but the sender (one's own name is shown,
/// but never counts as a mention of oneself). The rows that stay are not
/// touched, so the delete and the insert never meet on one key.
/// `mentioned` is `rows::mentioned_to_db` of the names: joined by commas,
/// NULL for none (`string_agg` of no rows). Returns the names, in order.
const RECORD_SQL: &str = "
    WITH named AS (
        SELECT u.id, u.name, k.n
        FROM unnest($2::TEXT[]) WITH ORDINALITY AS k(key, n)
        JOIN users u ON u.name_key = k.key
        JOIN members mb ON mb.channel_id = $3::BIGINT AND mb.user_id = u.id
    ), unmentioned AS (
        DELETE FROM mentions WHERE message_id = $1::BIGINT AND user_id NOT IN (SELECT id FROM named)
    ), noted AS (
        INSERT INTO mentions (user_id, message_id)
        SELECT id, $1::BIGINT FROM named WHERE id <> $4::BIGINT
        ON CONFLICT DO NOTHING
    ), marked AS (
        UPDATE messages
        SET mentioned = (SELECT string_agg(name, ',' ORDER BY n) FROM named), mentions_channel = $5::BOOLEAN
        WHERE id = $1::BIGINT
    )
    SELECT name FROM named ORDER BY n";

/// Forgets whom message `$1` mentioned.
const CLEAR_SQL: &str = "
    WITH unmentioned AS (DELETE FROM mentions WHERE message_id = $1::BIGINT)
    UPDATE messages SET mentioned = NULL, mentions_channel = FALSE WHERE id = $1::BIGINT";

/// Records whom `message` mentions now that its body is `body`, replacing
/// what it mentioned before (`message.mentions`); returns it. A name that
/// is not a member of the channel (in a private channel or not) is text,
/// like an unknown one. A body without mentions, replacing one without,
/// costs no statement; otherwise one, sent on the first poll.
pub(super) async fn record(c: &Client, message: &Message, body: &str) -> StoreResult<Mentions> {
    let (names, everyone) = mentions_in(body);
    if names.is_empty() && !everyone && message.mentions.is_empty() {
        return Ok(Mentions::default());
    }
    let keys: Vec<String> = names.iter().map(|name| name.key()).collect();
    let parameters: [Parameter<'_>; 5] = [
        (&message.id.0, Type::INT8),
        (&keys, Type::TEXT_ARRAY),
        (&message.channel.0, Type::INT8),
        (&message.sender.0, Type::INT8),
        (&everyone, Type::BOOL),
    ];
    let found = c.query_typed(RECORD_SQL, &parameters).await.map_err(backend)?;
    let users = found.iter().map(|row| row.try_get(0).map_err(backend)).collect::<StoreResult<_>>()?;
    Ok(Mentions { users, channel: everyone })
}

/// Forgets whom a deleted message mentioned: no statement when it
/// mentioned no one; otherwise one, sent on the first poll.
pub(super) async fn clear(c: &Client, message: &Message) -> StoreResult<()> {
    if message.mentions.is_empty() {
        return Ok(());
    }
    c.query_typed(CLEAR_SQL, &[(&message.id.0, Type::INT8)]).await.map_err(backend)?;
    Ok(())
}
