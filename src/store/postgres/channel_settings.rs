//! Changing a channel on PostgreSQL: one writer job reads what the rules
//! need (`store::channel_settings::check`), then renames, describes or
//! archives. The job locks the channel's row first (it is submitted with
//! the channel as its lock), so two changes of one channel take turns.

use tokio_postgres::Client;

use super::super::channel_settings::{ChannelUpdate, UpdateProbe, check};
use super::super::{StoreError, StoreResult};
use super::channels::load_channel;
use super::{backend, is_unique_violation};
use crate::model::{Channel, ChannelAbout, ChannelId, ChannelKind, ChannelName, UserId, now_millis};

async fn probe(c: &Client, update: &ChannelUpdate) -> StoreResult<Option<UpdateProbe>> {
    let row = c
        .query_opt(
            "SELECT c.kind, c.created_by, c.archived_at IS NOT NULL,
                    EXISTS (SELECT 1 FROM members WHERE channel_id = c.id AND user_id = $2),
                    EXISTS (SELECT 1 FROM users WHERE id = $2 AND admin AND deactivated_at IS NULL)
             FROM channels c WHERE c.id = $1",
            &[&update.channel.0, &update.by.0],
        )
        .await
        .map_err(backend)?;
    row.map(|row| {
        let kind: String = row.get(0);
        let kind = ChannelKind::from_db(&kind)
            .ok_or_else(|| StoreError::Backend(format!("unknown channel kind {kind:?}")))?;
        let created_by: Option<i64> = row.get(1);
        Ok(UpdateProbe {
            kind,
            created_by: created_by.map(UserId),
            archived: row.get(2),
            member: row.get(3),
            admin: row.get(4),
        })
    })
    .transpose()
}

/// The channel, if any, whose name `name` would clash with for `by` (see
/// the SQLite store's twin), other than the one being renamed.
async fn clash(c: &Client, name: &ChannelName, by: UserId, renamed: ChannelId) -> StoreResult<Option<i64>> {
    let row = c
        .query_opt(
            "SELECT c.id FROM channels c
             LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = $2
             WHERE (c.name_key = $1 OR c.look_key = $3) AND c.id <> $4
               AND (c.kind = 'public' OR (c.kind = 'private' AND m.user_id IS NOT NULL))
             ORDER BY c.kind = 'public' DESC LIMIT 1",
            &[&name.key(), &by.0, &name.look_key(), &renamed.0],
        )
        .await
        .map_err(backend)?;
    Ok(row.map(|row| row.get(0)))
}

async fn about(c: &Client, channel: ChannelId) -> StoreResult<ChannelAbout> {
    let row = c
        .query_one(
            "SELECT topic, description, archived_at IS NOT NULL FROM channels WHERE id = $1",
            &[&channel.0],
        )
        .await
        .map_err(backend)?;
    Ok(ChannelAbout {
        topic: row.get::<_, Option<String>>(0).unwrap_or_default(),
        description: row.get::<_, Option<String>>(1).unwrap_or_default(),
        archived: row.get(2),
    })
}

pub(super) async fn update_channel(
    c: &Client,
    update: &ChannelUpdate,
) -> StoreResult<(Channel, ChannelAbout)> {
    let probe = probe(c, update).await?.ok_or(StoreError::NoSuchChannel)?;
    check(update, &probe)?;
    if let Some(name) = &update.name {
        if let Some(existing) = clash(c, name, update.by, update.channel).await? {
            let channel = load_channel(c, ChannelId(existing)).await?.ok_or(StoreError::NoSuchChannel)?;
            return Err(StoreError::ChannelExists(channel));
        }
        let renamed = c
            .execute(
                "UPDATE channels SET name = $2, name_key = $3, look_key = $4 WHERE id = $1",
                &[&update.channel.0, &name.as_str(), &name.key(), &name.look_key()],
            )
            .await;
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
        c.execute("UPDATE channels SET topic = $2 WHERE id = $1", &[&update.channel.0, topic])
            .await
            .map_err(backend)?;
    }
    if let Some(description) = &update.description {
        c.execute("UPDATE channels SET description = $2 WHERE id = $1", &[&update.channel.0, description])
            .await
            .map_err(backend)?;
    }
    if let Some(archived) = update.archived {
        c.execute(
            "UPDATE channels SET archived_at = CASE WHEN $2 THEN coalesce(archived_at, $3) END WHERE id = $1",
            &[&update.channel.0, &archived, &now_millis()],
        )
        .await
        .map_err(backend)?;
    }
    let channel = load_channel(c, update.channel).await?.ok_or(StoreError::NoSuchChannel)?;
    Ok((channel, about(c, update.channel).await?))
}

/// Whether the channel is archived (for telling why a write was refused).
pub(super) async fn is_archived(c: &Client, channel: ChannelId) -> StoreResult<bool> {
    let row = c
        .query_opt("SELECT archived_at IS NOT NULL FROM channels WHERE id = $1", &[&channel.0])
        .await
        .map_err(backend)?;
    Ok(row.is_some_and(|row| row.get(0)))
}
