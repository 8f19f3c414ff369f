//! Shared files and pictures on SQLite (`store::Files`), and attaching
//! files to a message in its append. Writes run on the writer, each in its
//! job's savepoint (but attaching, which runs in the append's job and is
//! checked before the append writes anything); reads on a reader.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::super::files::{DeletedFile, Files, NewUpload};
use super::super::rows::{self, ATTACHMENT_COLUMNS};
use super::super::{StoreError, StoreResult};
use super::{SqliteStore, backend};
use crate::model::{Attachment, ChannelId, FileId, MessageId, UserId, now_millis};

fn add_upload(connection: &Connection, upload: &NewUpload) -> StoreResult<()> {
    let channel = upload.channel.0;
    let found: Option<(bool, bool)> = connection
        .query_row(
            "SELECT archived_at IS NOT NULL,
                    EXISTS (SELECT 1 FROM members WHERE channel_id = ?1 AND user_id = ?2)
             FROM channels WHERE id = ?1",
            params![channel, upload.uploader.0],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(backend)?;
    match found {
        None => return Err(StoreError::NoSuchChannel),
        Some((_, false)) => return Err(StoreError::NotMember),
        Some((true, true)) => return Err(StoreError::Archived),
        Some((false, true)) => {}
    }
    let held: i64 = connection
        .query_row(
            "SELECT coalesce(sum(size), 0) FROM files WHERE uploader = ?1 AND deleted_at IS NULL",
            [upload.uploader.0],
            |row| row.get(0),
        )
        .map_err(backend)?;
    let file = &upload.file;
    if u64::try_from(held).unwrap_or(0).saturating_add(file.size) > upload.quota_bytes {
        return Err(StoreError::LimitReached);
    }
    connection
        .execute(
            "INSERT INTO files (id, uploader, channel_id, name, size, content_type, sha256, width, height,
                                thumbnail, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                file.id.as_str(),
                upload.uploader.0,
                channel,
                file.name,
                i64::try_from(file.size).unwrap_or(i64::MAX),
                file.content_type,
                upload.sha256,
                file.dimensions.map(|(width, _)| width),
                file.dimensions.map(|(_, height)| height),
                file.thumbnail,
                now_millis()
            ],
        )
        .map(drop)
        .map_err(backend)
}

/// The uploads `ids`, in that order, if every one is the sender's, made
/// for `channel`, not attached and not deleted; `None` otherwise.
pub(super) fn attachable(
    connection: &Connection,
    channel: ChannelId,
    sender: UserId,
    ids: &[FileId],
) -> StoreResult<Option<Vec<Attachment>>> {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM files WHERE id = ?1 AND uploader = ?2 AND channel_id = ?3
               AND message_id IS NULL AND deleted_at IS NULL"
        ))
        .map_err(backend)?;
    let mut files = Vec::with_capacity(ids.len());
    for id in ids {
        let found = statement
            .query_row(params![id.as_str(), sender.0, channel.0], |row| rows::attachment(row, 0))
            .optional()
            .map_err(backend)?;
        match found {
            Some(file) => files.push(file),
            None => return Ok(None),
        }
    }
    Ok(Some(files))
}

/// Attaches checked uploads ([`attachable`]) to the message just stored.
pub(super) fn attach(connection: &Connection, message: MessageId, files: &[Attachment]) -> StoreResult<()> {
    connection
        .execute("UPDATE messages SET files = ?2 WHERE id = ?1", params![message.0, rows::files_to_db(files)])
        .map_err(backend)?;
    let mut statement =
        connection.prepare_cached("UPDATE files SET message_id = ?1 WHERE id = ?2").map_err(backend)?;
    for file in files {
        statement.execute(params![message.0, file.id.as_str()]).map_err(backend)?;
    }
    Ok(())
}

/// Marks a deleted message's files deleted (their bytes go later, see
/// `Files::deleted_files`) and empties its `files` column.
pub(super) fn delete_attached(connection: &Connection, message: MessageId) -> StoreResult<()> {
    connection
        .execute(
            "UPDATE files SET deleted_at = ?2 WHERE message_id = ?1 AND deleted_at IS NULL",
            params![message.0, now_millis()],
        )
        .map_err(backend)?;
    connection
        .execute("UPDATE messages SET files = NULL WHERE id = ?1", [message.0])
        .map(drop)
        .map_err(backend)
}

fn file_for(connection: &Connection, id: &FileId, viewer: UserId) -> StoreResult<Option<Attachment>> {
    connection
        .query_row(
            &format!(
                "SELECT {ATTACHMENT_COLUMNS} FROM files WHERE id = ?1 AND deleted_at IS NULL
                   AND ((message_id IS NULL AND uploader = ?2)
                     OR (message_id IS NOT NULL AND EXISTS (
                           SELECT 1 FROM members m WHERE m.channel_id = files.channel_id AND m.user_id = ?2)))"
            ),
            params![id.as_str(), viewer.0],
            |row| rows::attachment(row, 0),
        )
        .optional()
        .map_err(backend)
}

#[async_trait]
impl Files for SqliteStore {
    async fn add_upload(&self, upload: NewUpload) -> StoreResult<()> {
        self.submit(move |c| add_upload(c, &upload)).await
    }

    async fn file_for(&self, id: &FileId, viewer: UserId) -> StoreResult<Option<Attachment>> {
        let id = id.clone();
        self.read(move |c| file_for(c, &id, viewer)).await
    }

    async fn expire_uploads(&self, before_ms: i64) -> StoreResult<u64> {
        self.submit(move |c| {
            c.execute(
                "UPDATE files SET deleted_at = ?2
                 WHERE message_id IS NULL AND deleted_at IS NULL AND created_at < ?1",
                params![before_ms, now_millis()],
            )
            .map(|expired| expired as u64)
            .map_err(backend)
        })
        .await
    }

    async fn deleted_files(&self, limit: u32) -> StoreResult<Vec<DeletedFile>> {
        self.read(move |c| {
            let mut statement = c
                .prepare("SELECT id, thumbnail FROM files WHERE deleted_at IS NOT NULL ORDER BY deleted_at LIMIT ?1")
                .map_err(backend)?;
            let rows = statement
                .query_map([limit], |row| Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?)))
                .map_err(backend)?;
            let mut deleted = Vec::new();
            for row in rows {
                let (id, thumbnail) = row.map_err(backend)?;
                if let Some(id) = FileId::parse(&id) {
                    deleted.push(DeletedFile { id, thumbnail });
                }
            }
            Ok(deleted)
        })
        .await
    }

    async fn forget_files(&self, ids: &[FileId]) -> StoreResult<()> {
        let ids = ids.to_vec();
        self.submit(move |c| {
            let mut statement = c
                .prepare_cached("DELETE FROM files WHERE id = ?1 AND deleted_at IS NOT NULL")
                .map_err(backend)?;
            for id in &ids {
                statement.execute([id.as_str()]).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn bytes_stored(&self) -> StoreResult<u64> {
        self.read(|c| {
            c.query_row("SELECT coalesce(sum(size), 0) FROM files WHERE deleted_at IS NULL", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|bytes| u64::try_from(bytes).unwrap_or(0))
            .map_err(backend)
        })
        .await
    }

    async fn set_avatar(&self, user: UserId, present: bool) -> StoreResult<Option<i64>> {
        let version = present.then(now_millis);
        self.submit(move |c| {
            c.execute("UPDATE users SET avatar_at = ?2 WHERE id = ?1", params![user.0, version])
                .map(|_| version)
                .map_err(backend)
        })
        .await
    }

    async fn avatar_of(&self, name: &str) -> StoreResult<Option<(UserId, i64)>> {
        let key = name.to_ascii_lowercase();
        self.read(move |c| {
            c.query_row(
                "SELECT id, avatar_at FROM users WHERE name_key = ?1 AND avatar_at IS NOT NULL",
                [key],
                |row| Ok((UserId(row.get(0)?), row.get(1)?)),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }
}
