//! Channels, direct messages, membership and read markers on PostgreSQL.
//! Writes run on the writer's connection inside their job's savepoint;
//! reads on the read connection.

use tokio_postgres::{Client, Row};

use super::super::rows::{self, VIEW_COLUMNS};
use super::super::{ChannelPage, StoreError, StoreResult};
use super::{backend, is_unique_violation};
use crate::model::{
    Channel, ChannelId, ChannelKind, ChannelName, ChannelView, NotifyLevel, Seq, UserId, now_millis,
};

pub(super) async fn load_channel(c: &Client, id: ChannelId) -> StoreResult<Option<Channel>> {
    let row =
        c.query_opt("SELECT id, name, kind FROM channels WHERE id = $1", &[&id.0]).await.map_err(backend)?;
    row.as_ref().map(rows::channel).transpose()
}

pub(super) async fn create_channel(
    c: &Client,
    name: &ChannelName,
    kind: ChannelKind,
    creator: UserId,
    max_per_creator: u32,
) -> StoreResult<Channel> {
    // A public channel of that name, or a private one the creator is already
    // in; other private channels do not exist for them.
    let existing = c
        .query_opt(
            "SELECT c.id FROM channels c
             LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = $2
             WHERE (c.name_key = $1 OR c.look_key = $3)
               AND (c.kind = 'public' OR (c.kind = 'private' AND m.user_id IS NOT NULL))
             ORDER BY c.kind = 'public' DESC LIMIT 1",
            &[&name.key(), &creator.0, &name.look_key()],
        )
        .await
        .map_err(backend)?;
    if let Some(row) = existing {
        let channel = load_channel(c, ChannelId(row.get(0))).await?.ok_or(StoreError::NoSuchChannel)?;
        return Err(StoreError::ChannelExists(channel));
    }
    let created: i64 = c
        .query_one("SELECT COUNT(*) FROM channels WHERE created_by = $1 AND kind <> 'dm'", &[&creator.0])
        .await
        .map_err(backend)?
        .get(0);
    if created >= i64::from(max_per_creator) {
        return Err(StoreError::LimitReached);
    }
    let inserted = c
        .query_one(
            "INSERT INTO channels (name, name_key, look_key, kind, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&name.as_str(), &name.key(), &name.look_key(), &kind.as_str(), &creator.0, &now_millis()],
        )
        .await;
    let id = match inserted {
        Ok(row) => ChannelId(row.get(0)),
        // Another node created the public channel a moment ago; the job's
        // savepoint is rolled back, and the caller gets the same answer as
        // if it had come second on one node.
        Err(error) if is_unique_violation(&error) => {
            return Err(StoreError::Backend("a channel of that name was just created; try again".into()));
        }
        Err(error) => return Err(backend(error)),
    };
    add_member_row(c, id, creator, None).await?;
    Ok(Channel { id, name: name.as_str().to_owned(), kind })
}

/// Finds or creates the DM of `people` (the opener first; see
/// `Store::open_dm`), and makes sure they are all its members.
pub(super) async fn open_dm(c: &Client, people: &[UserId]) -> StoreResult<(Channel, bool)> {
    let key = super::super::dm_key(people);
    let mut names = Vec::with_capacity(people.len());
    for person in people {
        let row = c.query_opt("SELECT name FROM users WHERE id = $1", &[&person.0]).await.map_err(backend)?;
        names.push(row.ok_or_else(|| StoreError::Backend("no such user".into()))?.get::<_, String>(0));
    }
    // ON CONFLICT: two nodes opening the same DM at once both end up with it.
    let inserted = c
        .query_opt(
            "INSERT INTO channels (name, dm_key, kind, created_by, created_at) VALUES ($1, $2, 'dm', $3, $4)
             ON CONFLICT (dm_key) DO NOTHING RETURNING id",
            &[&names.join(", "), &key, &people[0].0, &now_millis()],
        )
        .await
        .map_err(backend)?;
    let created = inserted.is_some();
    let id = match inserted {
        Some(row) => ChannelId(row.get(0)),
        None => ChannelId(
            c.query_one("SELECT id FROM channels WHERE dm_key = $1", &[&key]).await.map_err(backend)?.get(0),
        ),
    };
    for person in people {
        add_member_row(c, id, *person, None).await?;
    }
    Ok((load_channel(c, id).await?.ok_or(StoreError::NoSuchChannel)?, created))
}

/// Adds a member of an existing channel; false if they already were one.
pub(super) async fn add_member(
    c: &Client,
    channel: ChannelId,
    user: UserId,
    added_by: Option<UserId>,
) -> StoreResult<bool> {
    load_channel(c, channel).await?.ok_or(StoreError::NoSuchChannel)?;
    if is_member(c, channel, user).await? {
        return Ok(false);
    }
    // Checked in the job that adds: an archive cannot slip in between.
    if super::channel_settings::is_archived(c, channel).await? {
        return Err(StoreError::Archived);
    }
    add_member_row(c, channel, user, added_by).await
}

async fn add_member_row(
    c: &Client,
    channel: ChannelId,
    user: UserId,
    added_by: Option<UserId>,
) -> StoreResult<bool> {
    let added = c
        .execute(
            "INSERT INTO members (channel_id, user_id, read_seq, joined_at, added_by) VALUES ($1, $2, 0, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&channel.0, &user.0, &now_millis(), &added_by.map(|user| user.0)],
        )
        .await
        .map_err(backend)?;
    Ok(added == 1)
}

pub(super) async fn remove_member(c: &Client, channel: ChannelId, user: UserId) -> StoreResult<bool> {
    let removed = c
        .execute("DELETE FROM members WHERE channel_id = $1 AND user_id = $2", &[&channel.0, &user.0])
        .await
        .map_err(backend)?;
    Ok(removed == 1)
}

pub(super) async fn is_member(c: &Client, channel: ChannelId, user: UserId) -> StoreResult<bool> {
    let row = c
        .query_opt("SELECT 1 FROM members WHERE channel_id = $1 AND user_id = $2", &[&channel.0, &user.0])
        .await
        .map_err(backend)?;
    Ok(row.is_some())
}

/// Moves the read marker forward, clamped to the channel's head.
pub(super) async fn mark_read(c: &Client, channel: ChannelId, user: UserId, seq: Seq) -> StoreResult<Seq> {
    let marker = c
        .query_opt(
            "UPDATE members
             SET read_seq = GREATEST(read_seq, LEAST($3, (SELECT last_seq FROM channels WHERE id = $1)))
             WHERE channel_id = $1 AND user_id = $2
             RETURNING read_seq",
            &[&channel.0, &user.0, &seq.0],
        )
        .await
        .map_err(backend)?;
    marker.map(|row| Seq(row.get(0))).ok_or(StoreError::NotMember)
}

/// Sets a member's notification level; false when they are not a member.
pub(super) async fn set_notify(
    c: &Client,
    channel: ChannelId,
    user: UserId,
    level: NotifyLevel,
) -> StoreResult<bool> {
    let updated = c
        .execute(
            "UPDATE members SET notify = $3 WHERE channel_id = $1 AND user_id = $2",
            &[&channel.0, &user.0, &level.as_str()],
        )
        .await
        .map_err(backend)?;
    Ok(updated == 1)
}

/// Up to `limit` members whose name key lies in `[from, until)`, by name
/// key, in bytes ("C") as `accounts::list_users` orders the directory.
pub(super) async fn channel_members(
    c: &Client,
    channel: ChannelId,
    from: &str,
    until: &str,
    limit: u32,
) -> StoreResult<Vec<String>> {
    let found = c
        .query(
            "SELECT u.name FROM members mb JOIN users u ON u.id = mb.user_id
             WHERE mb.channel_id = $1 AND u.name_key COLLATE \"C\" >= $2 AND u.name_key COLLATE \"C\" < $3
             ORDER BY u.name_key COLLATE \"C\" LIMIT $4",
            &[&channel.0, &from, &until, &i64::from(limit)],
        )
        .await
        .map_err(backend)?;
    found.iter().map(|row| row.try_get(0).map_err(backend)).collect()
}

pub(super) async fn channels_named(
    c: &Client,
    name: &ChannelName,
    viewer: UserId,
) -> StoreResult<Vec<ChannelView>> {
    let found = c
        .query(
            &format!(
                "SELECT {VIEW_COLUMNS} FROM channels c
                 LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = $2
                 WHERE (c.name_key = $1 OR c.look_key = $3)
                   AND (c.kind = 'public' OR (c.kind = 'private' AND m.user_id IS NOT NULL))
                 ORDER BY c.id"
            ),
            &[&name.key(), &viewer.0, &name.look_key()],
        )
        .await
        .map_err(backend)?;
    views_from_rows(c, found).await
}

pub(super) async fn channel_view(c: &Client, channel: ChannelId, viewer: UserId) -> StoreResult<ChannelView> {
    let found = c
        .query(
            &format!(
                "SELECT {VIEW_COLUMNS} FROM channels c
                 LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = $1
                 WHERE c.id = $2"
            ),
            &[&viewer.0, &channel.0],
        )
        .await
        .map_err(backend)?;
    views_from_rows(c, found).await?.pop().ok_or(StoreError::NoSuchChannel)
}

pub(super) async fn channels_of(c: &Client, user: UserId) -> StoreResult<Vec<ChannelView>> {
    let found = c
        .query(
            &format!(
                "SELECT {VIEW_COLUMNS} FROM members m JOIN channels c ON c.id = m.channel_id
                 WHERE m.user_id = $1 ORDER BY c.id"
            ),
            &[&user.0],
        )
        .await
        .map_err(backend)?;
    views_from_rows(c, found).await
}

pub(super) async fn public_channels(
    c: &Client,
    viewer: UserId,
    page: ChannelPage,
) -> StoreResult<Vec<ChannelView>> {
    // `COLLATE "C"` compares names byte-wise, as SQLite does, so a
    // cursor means the same on both backends.
    let (after_name, after_id) = page.after.unwrap_or_default();
    let found = c
        .query(
            &format!(
                "SELECT {VIEW_COLUMNS} FROM channels c
                 LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = $1
                 WHERE c.kind = 'public'
                   AND (c.name COLLATE \"C\" > $2 OR (c.name = $2 AND c.id > $3))
                   AND left(c.name_key, char_length($4)) = $4
                 ORDER BY c.name COLLATE \"C\", c.id LIMIT $5"
            ),
            &[&viewer.0, &after_name, &after_id.0, &page.prefix, &i64::from(page.limit)],
        )
        .await
        .map_err(backend)?;
    views_from_rows(c, found).await
}

/// Completes the views of rows selecting [`VIEW_COLUMNS`].
async fn views_from_rows(c: &Client, found: Vec<Row>) -> StoreResult<Vec<ChannelView>> {
    let mut views = Vec::with_capacity(found.len());
    for row in found {
        let view = rows::view(&row)?;
        let dm_members = if view.needs_dm_members() {
            c.query(
                "SELECT u.name FROM members m JOIN users u ON u.id = m.user_id
                 WHERE m.channel_id = $1 ORDER BY u.name_key COLLATE \"C\"",
                &[&view.channel.id.0],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(|row| row.get(0))
            .collect()
        } else {
            Vec::new()
        };
        views.push(view.into_view(dm_members));
    }
    Ok(views)
}
