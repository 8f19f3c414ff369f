//! Files in a folder on this machine: a key is a relative path under it.
//!
//! Uploads arrive in a scratch folder inside it, so storing one is a rename
//! on the same filesystem: atomic, and no byte is copied. Keys never leave
//! the folder (they are checked segments, never `..` or absolute). Not for
//! several nodes: each would see only its own files.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{BlobBody, BlobError, Blobs, check_key};

/// The scratch folder's name inside the files folder. Keys are made of
/// `[A-Za-z0-9_-]` segments, so no key can name it.
const SCRATCH_FOLDER: &str = ".scratch";

/// Scratch files older than this when the server starts are left over from
/// a crash or a kill mid-upload and are removed. No upload takes a day, and
/// a younger file might be another process's by mistake: left alone.
const STALE_SCRATCH_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Bytes per chunk when a file is read out: big enough that a 100 MiB
/// download is not a million wakeups, small enough to sit in a socket buffer.
const READ_CHUNK_BYTES: usize = 64 * 1024;

pub(super) struct LocalBlobs {
    root: PathBuf,
    scratch: PathBuf,
}

impl LocalBlobs {
    pub(super) async fn open(folder: &Path) -> Result<Self, BlobError> {
        let root = folder.to_path_buf();
        let scratch = root.join(SCRATCH_FOLDER);
        tokio::fs::create_dir_all(&scratch).await.map_err(|error| {
            BlobError::Config(format!("cannot create the files folder {}: {error}", scratch.display()))
        })?;
        let stale_in = scratch.clone();
        let removed = tokio::task::spawn_blocking(move || remove_stale_files(&stale_in))
            .await
            .map_err(|error| BlobError::Io(error.to_string()))?;
        if removed > 0 {
            tracing::info!(removed, folder = %scratch.display(), "removed unfinished uploads left by an earlier run");
        }
        Ok(Self { root, scratch })
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

#[async_trait]
impl Blobs for LocalBlobs {
    async fn put_file(&self, key: &str, path: &Path) -> Result<(), BlobError> {
        let target = self.path_of(key)?;
        let source = path.to_path_buf();
        tokio::task::spawn_blocking(move || move_into_place(&source, &target))
            .await
            .map_err(|error| BlobError::Io(error.to_string()))?
            // Even a missing source is an I/O error here, not NotFound:
            // that is the caller's scratch file, not a stored one.
            .map_err(|error| BlobError::Io(format!("storing {}: {error}", path.display())))
    }

    async fn get(&self, key: &str, range: Option<std::ops::Range<u64>>) -> Result<BlobBody, BlobError> {
        let path = self.path_of(key)?;
        let mut file = tokio::fs::File::open(&path).await?;
        let metadata = file.metadata().await?;
        if !metadata.is_file() {
            return Err(BlobError::NotFound);
        }
        // The caller checked the range; clamping it anyway keeps `size`
        // equal to what the stream yields, as S3 answers a range past the end.
        let full = metadata.len();
        let (start, end) = match range {
            Some(range) => (range.start.min(full), range.end.min(full)),
            None => (0, full),
        };
        let size = end.saturating_sub(start);
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await?;
        }
        let chunks = tokio_util::io::ReaderStream::with_capacity(file.take(size), READ_CHUNK_BYTES)
            .map_err(|error| BlobError::Io(error.to_string()));
        Ok(BlobBody { size, stream: Box::pin(chunks) })
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await.map_err(BlobError::from) {
            Ok(()) | Err(BlobError::NotFound) => Ok(()),
            Err(error) => Err(error),
        }
    }

    fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    fn shared(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// Renames the finished upload to its key's path, durably: its bytes are
/// flushed before the rename and the rename itself after, so a power cut
/// leaves the old file or the whole new one, never an empty name.
fn move_into_place(source: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::File::open(source)?.sync_all()?;
    let folder = target.parent().expect("a key's path lies inside the files folder");
    std::fs::create_dir_all(folder)?;
    std::fs::rename(source, target)?;
    std::fs::File::open(folder)?.sync_all()
}

/// Removes the scratch folder's files older than [`STALE_SCRATCH_AGE`];
/// returns how many. Errors only skip a file: this is tidying.
fn remove_stale_files(scratch: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(scratch) else { return 0 };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let Ok(metadata) = entry.metadata() else { continue };
        let age = metadata.modified().ok().and_then(|modified| now.duration_since(modified).ok());
        if metadata.is_file()
            && age.is_some_and(|age| age > STALE_SCRATCH_AGE)
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}
