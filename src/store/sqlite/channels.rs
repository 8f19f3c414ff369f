//! Channels, direct messages, membership and read markers on SQLite. Each
//! public function is one job's work on a connection: the writer's (inside
//! the job's savepoint) for writes, a reader's for reads.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::rows::{self, VIEW_COLUMNS};
use super::super::{ChannelPage, StoreError, StoreResult};
use super::backend;
use crate::model::{
    Channel, ChannelId, ChannelKind, ChannelName, ChannelView, NotifyLevel, Seq, UserId, now_millis,
};

pub(super) fn load_channel(connection: &Connection, id: ChannelId) -> StoreResult<Option<Channel>> {
    connection
        .query_row("SELECT id, name, kind FROM channels WHERE id = ?1", [id.0], |row| rows::channel(row))
        .optional()
        .map_err(backend)
}

pub(super) fn create_channel(
    connection: &Connection,
    name: &ChannelName,
    kind: ChannelKind,
    creator: UserId,
    max_per_creator: u32,
) -> StoreResult<Channel> {
    // A public channel of that name, or a private one the creator is
    // already in; other private channels do not exist for them.
    let existing = connection
        .query_row(
            "SELECT c.id FROM channels c
             LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = ?2
             WHERE (c.name_key = ?1 OR c.look_key = ?3)
               AND (c.kind = 'public' OR (c.kind = 'private' AND m.user_id IS NOT NULL))
             ORDER BY c.kind = 'public' DESC LIMIT 1",
            params![name.key(), creator.0, name.look_key()],
            |row| row.get::<_, i64>(0),
        )
        .optional()
        .map_err(backend)?;
    if let Some(id) = existing {
        let channel = load_channel(connection, ChannelId(id))?.ok_or(StoreError::NoSuchChannel)?;
        return Err(StoreError::ChannelExists(channel));
    }
    let created: u32 = connection
        .query_row(
            "SELECT COUNT(*) FROM channels WHERE created_by = ?1 AND kind != 'dm'",
            [creator.0],
            |row| row.get(0),
        )
        .map_err(backend)?;
    if created >= max_per_creator {
        return Err(StoreError::LimitReached);
    }
    connection
        .execute(
            "INSERT INTO channels (name, name_key, look_key, kind, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![name.as_str(), name.key(), name.look_key(), kind.as_str(), creator.0, now_millis()],
        )
        .map_err(backend)?;
    let id = ChannelId(connection.last_insert_rowid());
    add_member_row(connection, id, creator, None)?;
    Ok(Channel { id, name: name.as_str().to_owned(), kind })
}

/// Finds or creates the DM of `people` (the opener first; see
/// `Store::open_dm`), and makes sure they are all its members.
pub(super) fn open_dm(connection: &Connection, people: &[UserId]) -> StoreResult<(Channel, bool)> {
    let key = super::super::dm_key(people);
    let existing = connection
        .query_row("SELECT id FROM channels WHERE dm_key = ?1", [&key], |row| row.get::<_, i64>(0))
        .optional()
        .map_err(backend)?;
    let created = existing.is_none();
    let id = match existing {
        Some(id) => ChannelId(id),
        None => {
            let names: Vec<String> = people
                .iter()
                .map(|user| {
                    connection
                        .query_row("SELECT name FROM users WHERE id = ?1", [user.0], |row| row.get(0))
                        .map_err(backend)
                })
                .collect::<StoreResult<_>>()?;
            connection
                .execute(
                    "INSERT INTO channels (name, dm_key, kind, created_by, created_at) VALUES (?1, ?2, 'dm', ?3, ?4)",
                    params![names.join(", "), key, people[0].0, now_millis()],
                )
                .map_err(backend)?;
            ChannelId(connection.last_insert_rowid())
        }
    };
    for person in people {
        add_member_row(connection, id, *person, None)?;
    }
    Ok((load_channel(connection, id)?.ok_or(StoreError::NoSuchChannel)?, created))
}

/// Adds a member of an existing channel; false if they already were one.
pub(super) fn add_member(
    connection: &Connection,
    channel: ChannelId,
    user: UserId,
    added_by: Option<UserId>,
) -> StoreResult<bool> {
    load_channel(connection, channel)?.ok_or(StoreError::NoSuchChannel)?;
    if is_member(connection, channel, user)? {
        return Ok(false);
    }
    // Checked in the job that adds: an archive cannot slip in between.
    if super::channel_settings::is_archived(connection, channel)? {
        return Err(StoreError::Archived);
    }
    add_member_row(connection, channel, user, added_by)
}

fn add_member_row(
    connection: &Connection,
    channel: ChannelId,
    user: UserId,
    added_by: Option<UserId>,
) -> StoreResult<bool> {
    let added = connection
        .execute(
            "INSERT OR IGNORE INTO members (channel_id, user_id, read_seq, joined_at, added_by)
             VALUES (?1, ?2, 0, ?3, ?4)",
            params![channel.0, user.0, now_millis(), added_by.map(|user| user.0)],
        )
        .map_err(backend)?;
    Ok(added == 1)
}

pub(super) fn remove_member(connection: &Connection, channel: ChannelId, user: UserId) -> StoreResult<bool> {
    let removed = connection
        .execute("DELETE FROM members WHERE channel_id = ?1 AND user_id = ?2", params![channel.0, user.0])
        .map_err(backend)?;
    Ok(removed == 1)
}

pub(super) fn is_member(connection: &Connection, channel: ChannelId, user: UserId) -> StoreResult<bool> {
    connection
        .prepare_cached("SELECT 1 FROM members WHERE channel_id = ?1 AND user_id = ?2")
        .and_then(|mut s| s.exists(params![channel.0, user.0]))
        .map_err(backend)
}

/// Moves the read marker forward, clamped to the channel's head.
pub(super) fn mark_read(
    connection: &Connection,
    channel: ChannelId,
    user: UserId,
    seq: Seq,
) -> StoreResult<Seq> {
    let marker: Option<i64> = connection
        .query_row(
            "UPDATE members
             SET read_seq = MAX(read_seq, MIN(?3, (SELECT last_seq FROM channels WHERE id = ?1)))
             WHERE channel_id = ?1 AND user_id = ?2
             RETURNING read_seq",
            params![channel.0, user.0, seq.0],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    marker.map(Seq).ok_or(StoreError::NotMember)
}

pub(super) fn channels_named(
    connection: &Connection,
    key: &str,
    look: &str,
    viewer: UserId,
) -> StoreResult<Vec<ChannelView>> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM channels c
         LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = ?2
         WHERE (c.name_key = ?1 OR c.look_key = ?3)
           AND (c.kind = 'public' OR (c.kind = 'private' AND m.user_id IS NOT NULL))
         ORDER BY c.id"
    );
    query_views(connection, &sql, params![key, viewer.0, look])
}

pub(super) fn channel_view(
    connection: &Connection,
    channel: ChannelId,
    viewer: UserId,
) -> StoreResult<ChannelView> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM channels c
         LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = ?1
         WHERE c.id = ?2"
    );
    query_views(connection, &sql, params![viewer.0, channel.0])?.pop().ok_or(StoreError::NoSuchChannel)
}

pub(super) fn channels_of(connection: &Connection, user: UserId) -> StoreResult<Vec<ChannelView>> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM members m JOIN channels c ON c.id = m.channel_id
         WHERE m.user_id = ?1 ORDER BY c.id"
    );
    query_views(connection, &sql, params![user.0])
}

pub(super) fn public_channels(
    connection: &Connection,
    viewer: UserId,
    page: ChannelPage,
) -> StoreResult<Vec<ChannelView>> {
    // Names compare byte-wise (SQLite's default BINARY collation, `COLLATE
    // "C"` on PostgreSQL), so a cursor means the same on both backends.
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM channels c
         LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = ?1
         WHERE c.kind = 'public' AND (c.name > ?2 OR (c.name = ?2 AND c.id > ?3))
           AND substr(c.name_key, 1, length(?4)) = ?4
         ORDER BY c.name, c.id LIMIT ?5"
    );
    let (after_name, after_id) = page.after.unwrap_or_default();
    query_views(connection, &sql, params![viewer.0, after_name, after_id.0, page.prefix, page.limit])
}

/// Runs a query selecting [`VIEW_COLUMNS`] and completes each view.
fn query_views(
    connection: &Connection,
    sql: &str,
    parameters: impl rusqlite::Params,
) -> StoreResult<Vec<ChannelView>> {
    let mut statement = connection.prepare_cached(sql).map_err(backend)?;
    let mut found = statement.query(parameters).map_err(backend)?;
    let mut views = Vec::new();
    while let Some(row) = found.next().map_err(backend)? {
        let view = rows::view(row).map_err(backend)?;
        let dm_members =
            if view.needs_dm_members() { dm_member_names(connection, view.channel.id)? } else { Vec::new() };
        views.push(view.into_view(dm_members));
    }
    Ok(views)
}

fn dm_member_names(connection: &Connection, channel: ChannelId) -> StoreResult<Vec<String>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT u.name FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.channel_id = ?1 ORDER BY u.name_key",
        )
        .map_err(backend)?;
    statement
        .query_map([channel.0], |row| row.get(0))
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<String>>>()
        .map_err(backend)
}

/// Members whose name key is in `[from, until)`, by name key.
pub(super) fn channel_members(
    connection: &Connection,
    channel: ChannelId,
    from: &str,
    until: &str,
    limit: u32,
) -> StoreResult<Vec<String>> {
    connection
        .prepare_cached(
            "SELECT u.name FROM members mb JOIN users u ON u.id = mb.user_id
             WHERE mb.channel_id = ?1 AND u.name_key >= ?2 AND u.name_key < ?3 ORDER BY u.name_key LIMIT ?4",
        )
        .and_then(|mut s| s.query_map(params![channel.0, from, until, limit], |row| row.get(0))?.collect())
        .map_err(backend)
}

pub(super) fn set_notify(
    connection: &Connection,
    channel: ChannelId,
    user: UserId,
    level: NotifyLevel,
) -> StoreResult<bool> {
    connection
        .execute(
            "UPDATE members SET notify = ?3 WHERE channel_id = ?1 AND user_id = ?2",
            params![channel.0, user.0, level.as_str()],
        )
        .map(|updated| updated > 0)
        .map_err(backend)
}
