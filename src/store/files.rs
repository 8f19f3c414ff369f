//! What the database knows of shared files and pictures (`Store`'s
//! [`Files`] part): who uploaded what to which channel, which message
//! carries it, and which files are deleted and wait for their bytes to be
//! removed from the file store. The bytes themselves are `crate::files`'
//! business; attaching files to a message happens in its append.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{Attachment, ChannelId, FileId, UserId};

/// A finished upload whose bytes are in the file store already.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub file: Attachment,
    pub uploader: UserId,
    pub channel: ChannelId,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// Most bytes the uploader may hold in files not deleted, this one
    /// included.
    pub quota_bytes: u64,
}

/// A deleted file whose bytes are still in the file store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedFile {
    pub id: FileId,
    pub thumbnail: bool,
}

#[async_trait]
pub trait Files: Send + Sync {
    /// Records an upload. Fails with `NoSuchChannel` or `NotMember` (told
    /// apart as for an append), `Archived`, or `LimitReached` when the
    /// uploader's files would pass `quota_bytes`.
    async fn add_upload(&self, upload: NewUpload) -> StoreResult<()>;

    /// The file `id` if `viewer` may fetch it now: attached to a message in
    /// a channel they are a member of, or their own upload not attached
    /// yet; never a deleted one. `None` is the same answer for all else.
    async fn file_for(&self, id: &FileId, viewer: UserId) -> StoreResult<Option<Attachment>>;

    /// Deletes uploads that were never attached and are older than
    /// `before_ms`; how many.
    async fn expire_uploads(&self, before_ms: i64) -> StoreResult<u64>;

    /// Up to `limit` deleted files whose bytes are still to be removed.
    async fn deleted_files(&self, limit: u32) -> StoreResult<Vec<DeletedFile>>;

    /// Forgets deleted files once their bytes are gone.
    async fn forget_files(&self, ids: &[FileId]) -> StoreResult<()>;

    /// Bytes held in files not deleted, over everyone.
    async fn bytes_stored(&self) -> StoreResult<u64>;

    /// Records that the user's picture changed now (`true`) or was removed;
    /// the new version (ms), if any.
    async fn set_avatar(&self, user: UserId, present: bool) -> StoreResult<Option<i64>>;

    /// The user holding `name` (compared without case) and the version of
    /// their picture, when they have one.
    async fn avatar_of(&self, name: &str) -> StoreResult<Option<(UserId, i64)>>;
}
