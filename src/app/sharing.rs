//! Shared files and pictures: who may upload where and fetch what, and
//! keeping the file store tidy (the bytes of deleted messages' files and of
//! uploads never attached are removed after their rows say so, so a crash
//! between the two leaves work to finish, not bytes nobody can find).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{App, RequestError};
use crate::files::{BlobError, Blobs};
use crate::model::{Attachment, ChannelId, FileId, User, UserId, now_millis};
use crate::store::{NewUpload, StoreError};

/// How often the file store is tidied when no deletion asks for it sooner.
const TIDY_INTERVAL: Duration = Duration::from_secs(60);

/// Deleted files whose bytes are removed per round.
const TIDY_BATCH: u32 = 200;

impl App {
    /// Whether `user` may upload to `channel` now (a member): asked before
    /// the bytes are received, and again when the upload is recorded.
    pub async fn may_upload(&self, user: &User, channel: ChannelId) -> Result<(), RequestError> {
        match self.store.is_member(channel, user.id).await? {
            true => Ok(()),
            false => Err(RequestError::NotFound),
        }
    }

    /// Records an upload whose bytes are stored. A non-member gets
    /// `NotFound`, as for a channel that does not exist; past the quota
    /// `LimitReached`.
    pub async fn add_upload(&self, upload: NewUpload) -> Result<(), RequestError> {
        let size = i64::try_from(upload.file.size).unwrap_or(i64::MAX);
        match self.store.add_upload(upload).await {
            Ok(()) => {
                self.metrics.uploads_total.inc();
                // Counted here; the tidying rounds read the true total.
                self.metrics.files_stored_bytes.add(size);
                Ok(())
            }
            Err(StoreError::NotMember | StoreError::NoSuchChannel) => Err(RequestError::NotFound),
            Err(StoreError::LimitReached) => {
                Err(RequestError::LimitReached("your files would pass your quota"))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The file `id` if `viewer` may fetch it (see `Files::file_for`).
    pub async fn file_for(&self, viewer: &User, id: &FileId) -> Result<Option<Attachment>, RequestError> {
        Ok(self.store.file_for(id, viewer.id).await?)
    }

    /// Records that `user`'s picture is now the one stored (`true`) or
    /// that they have none; its new version.
    pub async fn set_avatar(&self, user: &User, present: bool) -> Result<Option<i64>, RequestError> {
        Ok(self.store.set_avatar(user.id, present).await?)
    }

    /// The user named `name` and their picture's version, if they have one.
    pub async fn avatar_of(&self, name: &str) -> Result<Option<(UserId, i64)>, RequestError> {
        Ok(self.store.avatar_of(name).await?)
    }

    /// Asks the tidying task to run now (a message with files was deleted).
    pub(super) fn files_deleted(&self) {
        self.tidy_files.notify_one();
    }

    /// Until `stop`: every minute, or sooner when a deletion asks, expires
    /// uploads never attached and removes deleted files' bytes, then their
    /// rows. Every node runs it; removing bytes twice is harmless.
    pub async fn keep_files_tidy(self: Arc<Self>, blobs: Arc<dyn Blobs>, stop: CancellationToken) {
        loop {
            self.tidy_files_once(blobs.as_ref()).await;
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.tidy_files.notified() => {}
                () = tokio::time::sleep(TIDY_INTERVAL) => {}
            }
        }
    }

    /// One round of [`keep_files_tidy`](Self::keep_files_tidy); how many
    /// files' bytes it removed.
    pub async fn tidy_files_once(&self, blobs: &dyn Blobs) -> usize {
        let ttl_ms = i64::try_from(self.limits.upload_ttl.as_millis()).unwrap_or(i64::MAX);
        if let Err(error) = self.store.expire_uploads(now_millis().saturating_sub(ttl_ms)).await {
            tracing::warn!(%error, "cannot expire old uploads; will try again");
        }
        let mut removed = 0;
        loop {
            let deleted = match self.store.deleted_files(TIDY_BATCH).await {
                Ok(deleted) => deleted,
                Err(error) => {
                    tracing::warn!(%error, "cannot list deleted files; will try again");
                    break;
                }
            };
            let mut gone = Vec::with_capacity(deleted.len());
            for file in &deleted {
                let mut keys = vec![file.id.blob_key()];
                if file.thumbnail {
                    keys.push(file.id.thumbnail_key());
                }
                let mut all_gone = true;
                for key in keys {
                    match blobs.delete(&key).await {
                        Ok(()) | Err(BlobError::NotFound) => {}
                        Err(error) => {
                            tracing::warn!(%error, key, "cannot remove a deleted file's bytes; will try again");
                            all_gone = false;
                        }
                    }
                }
                if all_gone {
                    gone.push(file.id.clone());
                }
            }
            if gone.is_empty() {
                break;
            }
            if let Err(error) = self.store.forget_files(&gone).await {
                tracing::warn!(%error, "cannot forget removed files; will try again");
                break;
            }
            removed += gone.len();
            if deleted.len() < TIDY_BATCH as usize {
                break;
            }
        }
        self.refresh_bytes_stored().await;
        removed
    }

    async fn refresh_bytes_stored(&self) {
        if let Ok(bytes) = self.store.bytes_stored().await {
            self.metrics.files_stored_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
    }
}
