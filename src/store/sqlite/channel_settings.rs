//! Changing a channel on SQLite: one writer job reads what the rules need
//! (`store::channel_settings::check`), then renames, describes or archives.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::channel_settings::{ChannelUpdate, UpdateProbe, check};
use super::super::{StoreError, StoreResult};
use super::channels::load_channel;
use super::{backend, is_unique_violation};
use crate::model::{Channel, ChannelAbout, ChannelId, ChannelName, UserId, now_millis};

fn probe(connection: &Connection, update: &ChannelUpdate) -> StoreResult<Option<UpdateProbe>> {
    connection
        .query_row(
            "SELECT c.kind, c.created_by, c.archived_at IS NOT NULL,
                    EXISTS (SELECT 1 FROM members WHERE channel_id = c.id AND user_id = ?2),
                    EXISTS (SELECT 1 FROM users WHERE id = ?2 AND admin = 1 AND deactivated_at IS NULL)
             FROM channels c WHERE c.id = ?1",
            params![update.channel.0, update.by.0],
            |row| {
                let kind: String = row.get(0)?;
                Ok((kind, row.get::<_, Option<i64>>(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
            },
        )
        .optional()
        .map_err(backend)?
        .map(|(kind, created_by, archived, member, admin)| {
            let kind = crate::model::ChannelKind::from_db(&kind)
                .ok_or_else(|| StoreError::Backend(format!("unknown channel kind {kind:?}")))?;
            Ok(UpdateProbe { kind, created_by: created_by.map(UserId), archived, member, admin })
        })
        .transpose()
}

/// The channel, if any, whose name `name` would clash with for `by`: a
/// public one of that name or look, or a private one `by` is in (as for
/// creating a channel), other than the one being renamed.
fn clash(
    connection: &Connection,
    name: &ChannelName,
    by: UserId,
    renamed: ChannelId,
) -> StoreResult<Option<i64>> {
    connection
        .query_row(
            "SELECT c.id FROM channels c
             LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = ?2
             WHERE (c.name_key = ?1 OR c.look_key = ?3) AND c.id <> ?4
               AND (c.kind = 'public' OR (c.kind = 'private' AND m.user_id IS NOT NULL))
             ORDER BY c.kind = 'public' DESC LIMIT 1",
            params![name.key(), by.0, name.look_key(), renamed.0],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)
}

pub(super) fn about(connection: &Connection, channel: ChannelId) -> StoreResult<ChannelAbout> {
    connection
        .query_row(
            "SELECT topic, description, archived_at IS NOT NULL FROM channels WHERE id = ?1",
            [channel.0],
            |row| {
                Ok(ChannelAbout {
                    topic: row.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    description: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    archived: row.get(2)?,
                })
            },
        )
        .map_err(backend)
}

pub(super) fn update_channel(
    connection: &Connection,
    update: &ChannelUpdate,
) -> StoreResult<(Channel, ChannelAbout)> {
    let probe = probe(connection, update)?.ok_or(StoreError::NoSuchChannel)?;
    check(update, &probe)?;
    if let Some(name) = &update.name {
        if let Some(existing) = clash(connection, name, update.by, update.channel)? {
            let channel = load_channel(connection, ChannelId(existing))?.ok_or(StoreError::NoSuchChannel)?;
            return Err(StoreError::ChannelExists(channel));
        }
        let renamed = connection.execute(
            "UPDATE channels SET name = ?2, name_key = ?3, look_key = ?4 WHERE id = ?1",
            params![update.channel.0, name.as_str(), name.key(), name.look_key()],
        );
        match renamed {
            Ok(_) => {}
            // A public channel's name is unique by index too.
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::NotAllowed("a public channel of that name exists"));
            }
            Err(error) => return Err(backend(error)),
        }
    }
    if let Some(topic) = &update.topic {
        connection
            .execute("UPDATE channels SET topic = ?2 WHERE id = ?1", params![update.channel.0, topic])
            .map_err(backend)?;
    }
    if let Some(description) = &update.description {
        connection
            .execute(
                "UPDATE channels SET description = ?2 WHERE id = ?1",
                params![update.channel.0, description],
            )
            .map_err(backend)?;
    }
    if let Some(archived) = update.archived {
        connection
            .execute(
                "UPDATE channels SET archived_at = CASE WHEN ?2 THEN coalesce(archived_at, ?3) END WHERE id = ?1",
                params![update.channel.0, archived, now_millis()],
            )
            .map_err(backend)?;
    }
    let channel = load_channel(connection, update.channel)?.ok_or(StoreError::NoSuchChannel)?;
    Ok((channel, about(connection, update.channel)?))
}

/// Whether the channel is archived (for telling why a write was refused).
pub(super) fn is_archived(connection: &Connection, channel: ChannelId) -> StoreResult<bool> {
    connection
        .prepare_cached("SELECT archived_at IS NOT NULL FROM channels WHERE id = ?1")
        .and_then(|mut s| s.query_row([channel.0], |row| row.get(0)).optional())
        .map(|archived| archived.unwrap_or(false))
        .map_err(backend)
}
