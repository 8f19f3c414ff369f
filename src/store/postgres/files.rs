//! Shared files and pictures on PostgreSQL (`store::Files`), and attaching
//! files to a message in its append. Writes run on the writer's
//! connection, each in its job's savepoint; reads on the read connection.

use async_trait::async_trait;
use tokio_postgres::Client;

use super::super::files::{DeletedFile, Files, NewUpload};
use super::super::rows::{self, ATTACHMENT_COLUMNS};
use super::super::{StoreError, StoreResult};
use super::{PostgresStore, backend};
use crate::model::{Attachment, ChannelId, FileId, MessageId, UserId, now_millis};

fn to_i64(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

async fn add_upload(c: &Client, upload: &NewUpload) -> StoreResult<()> {
    // The uploader's row lock: two uploads of theirs through two nodes
    // cannot both fit the quota by each seeing only the other's absence.
    // NO KEY: the rows that merely reference the user (their messages,
    // memberships, sessions) need not wait for it.
    c.execute("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", &[&upload.uploader.0])
        .await
        .map_err(backend)?;
    let found = c
        .query_opt(
            "SELECT archived_at IS NOT NULL,
                    EXISTS (SELECT 1 FROM members WHERE channel_id = $1 AND user_id = $2)
             FROM channels WHERE id = $1",
            &[&upload.channel.0, &upload.uploader.0],
        )
        .await
        .map_err(backend)?;
    match found.map(|row| (row.get::<_, bool>(0), row.get::<_, bool>(1))) {
        None => return Err(StoreError::NoSuchChannel),
        Some((_, false)) => return Err(StoreError::NotMember),
        Some((true, true)) => return Err(StoreError::Archived),
        Some((false, true)) => {}
    }
    let held: i64 = c
        .query_one(
            "SELECT coalesce(sum(size), 0)::BIGINT FROM files WHERE uploader = $1 AND deleted_at IS NULL",
            &[&upload.uploader.0],
        )
        .await
        .map_err(backend)?
        .get(0);
    let file = &upload.file;
    if u64::try_from(held).unwrap_or(0).saturating_add(file.size) > upload.quota_bytes {
        return Err(StoreError::LimitReached);
    }
    let (width, height) = match file.dimensions {
        Some((width, height)) => (Some(i64::from(width)), Some(i64::from(height))),
        None => (None, None),
    };
    c.execute(
        "INSERT INTO files (id, uploader, channel_id, name, size, content_type, sha256, width, height,
                            thumbnail, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &file.id.as_str(),
            &upload.uploader.0,
            &upload.channel.0,
            &file.name,
            &to_i64(file.size),
            &file.content_type,
            &upload.sha256,
            &width,
            &height,
            &file.thumbnail,
            &now_millis(),
        ],
    )
    .await
    .map(drop)
    .map_err(backend)
}

/// Attaches uploads `ids` to the message just stored, if every one is the
/// sender's, made for `channel`, not attached and not deleted; otherwise
/// `NoSuchFile`, and the job's savepoint undoes the append with it.
pub(super) async fn attach(
    c: &Client,
    message: MessageId,
    channel: ChannelId,
    sender: UserId,
    ids: &[FileId],
) -> StoreResult<Vec<Attachment>> {
    let id_texts: Vec<&str> = ids.iter().map(FileId::as_str).collect();
    let rows = c
        .query(
            &format!(
                "UPDATE files SET message_id = $1
                 WHERE id = ANY($2) AND uploader = $3 AND channel_id = $4
                   AND message_id IS NULL AND deleted_at IS NULL
                 RETURNING {ATTACHMENT_COLUMNS}"
            ),
            &[&message.0, &id_texts, &sender.0, &channel.0],
        )
        .await
        .map_err(backend)?;
    let mut found = rows.iter().map(|row| rows::attachment(row, 0)).collect::<Result<Vec<_>, _>>()?;
    if found.len() != ids.len() {
        return Err(StoreError::NoSuchFile);
    }
    // In the order the sender gave them.
    found.sort_by_key(|file| ids.iter().position(|id| *id == file.id));
    c.execute("UPDATE messages SET files = $2 WHERE id = $1", &[&message.0, &rows::files_to_db(&found)])
        .await
        .map_err(backend)?;
    Ok(found)
}

#[async_trait]
impl Files for PostgresStore {
    async fn add_upload(&self, upload: NewUpload) -> StoreResult<()> {
        self.submit(None, move |c| Box::pin(async move { add_upload(&c, &upload).await })).await
    }

    async fn file_for(&self, id: &FileId, viewer: UserId) -> StoreResult<Option<Attachment>> {
        let sql = format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM files WHERE id = $1 AND deleted_at IS NULL
               AND ((message_id IS NULL AND uploader = $2)
                 OR (message_id IS NOT NULL AND EXISTS (
                       SELECT 1 FROM members m WHERE m.channel_id = files.channel_id AND m.user_id = $2)))"
        );
        let row = self.read().await?.query_opt(&sql, &[&id.as_str(), &viewer.0]).await.map_err(backend)?;
        row.map(|row| rows::attachment(&row, 0)).transpose()
    }

    async fn expire_uploads(&self, before_ms: i64) -> StoreResult<u64> {
        self.submit(None, move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE files SET deleted_at = $2
                     WHERE message_id IS NULL AND deleted_at IS NULL AND created_at < $1",
                    &[&before_ms, &now_millis()],
                )
                .await
                .map_err(backend)
            })
        })
        .await
    }

    async fn deleted_files(&self, limit: u32) -> StoreResult<Vec<DeletedFile>> {
        let rows = self
            .read()
            .await?
            .query(
                "SELECT id, thumbnail FROM files WHERE deleted_at IS NOT NULL ORDER BY deleted_at LIMIT $1",
                &[&i64::from(limit)],
            )
            .await
            .map_err(backend)?;
        Ok(rows
            .iter()
            .filter_map(|row| Some(DeletedFile { id: FileId::parse(row.get(0))?, thumbnail: row.get(1) }))
            .collect())
    }

    async fn forget_files(&self, ids: &[FileId]) -> StoreResult<()> {
        let ids: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
        self.submit(None, move |c| {
            Box::pin(async move {
                c.execute("DELETE FROM files WHERE id = ANY($1) AND deleted_at IS NOT NULL", &[&ids])
                    .await
                    .map(drop)
                    .map_err(backend)
            })
        })
        .await
    }

    async fn bytes_stored(&self) -> StoreResult<u64> {
        let row = self
            .read()
            .await?
            .query_one("SELECT coalesce(sum(size), 0)::BIGINT FROM files WHERE deleted_at IS NULL", &[])
            .await
            .map_err(backend)?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    async fn set_avatar(&self, user: UserId, present: bool) -> StoreResult<Option<i64>> {
        let version = present.then(now_millis);
        self.submit(None, move |c| {
            Box::pin(async move {
                c.execute("UPDATE users SET avatar_at = $2 WHERE id = $1", &[&user.0, &version])
                    .await
                    .map(|_| version)
                    .map_err(backend)
            })
        })
        .await
    }

    async fn avatar_of(&self, name: &str) -> StoreResult<Option<(UserId, i64)>> {
        let row = self
            .read()
            .await?
            .query_opt(
                "SELECT id, avatar_at FROM users WHERE name_key = $1 AND avatar_at IS NOT NULL",
                &[&name.to_ascii_lowercase()],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|row| (UserId(row.get(0)), row.get(1))))
    }
}
