//! Receiving an upload's bytes: streamed from the request into a scratch
//! file beside the file store, counted and hashed on the way, and cut off
//! at the size limit, so no upload is ever held whole in memory. The
//! scratch file is removed whatever happens unless it is handed on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::model::FileId;

/// Longest an upload may go without a byte arriving before it is dropped:
/// a stalled client must not hold a scratch file and a slot for ever.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Past its first minute an upload must have averaged this many bytes a
/// second (a 100 MiB file then takes at most about 110 minutes), so a
/// trickle that never quite stalls cannot hold its slot indefinitely.
const MIN_BYTES_PER_SECOND: u64 = 16 * 1024;
const MIN_RATE_AFTER: Duration = Duration::from_secs(60);

/// How much of the start of a file is kept to tell its type.
pub(super) const HEAD_BYTES: usize = 512;

/// A scratch file that is removed when dropped, unless it was handed on.
pub(super) struct ScratchFile {
    path: PathBuf,
    keep: bool,
}

impl ScratchFile {
    pub(super) fn new(dir: &Path, suffix: &str) -> Self {
        let path = dir.join(format!("{}.{suffix}", FileId::generate().as_str()));
        Self { path, keep: false }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Hands the file on (to the file store, which consumes it): it is no
    /// longer this guard's to remove.
    pub(super) fn hand_on(mut self) -> PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        if !self.keep {
            // Missing already is fine: a failed write may not have made it.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// An upload received whole.
pub(super) struct Received {
    pub(super) file: ScratchFile,
    pub(super) size: u64,
    /// SHA-256 of the bytes, hex.
    pub(super) sha256: String,
    /// The first [`HEAD_BYTES`] bytes (fewer for a smaller file).
    pub(super) head: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum ReceiveError {
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the upload stalled or was cut off")]
    Interrupted,
    #[error("cannot write the upload: {0}")]
    Io(#[from] std::io::Error),
}

/// Streams `body` into a new scratch file in `dir`, refusing it as soon as
/// it passes `max_bytes`.
pub(super) async fn receive(body: Body, dir: &Path, max_bytes: u64) -> Result<Received, ReceiveError> {
    let file = ScratchFile::new(dir, "part");
    let mut out = tokio::fs::File::create(file.path()).await?;
    let mut stream = body.into_data_stream();
    let started = tokio::time::Instant::now();
    let (mut size, mut hash, mut head) = (0u64, Sha256::new(), Vec::with_capacity(HEAD_BYTES));
    loop {
        let chunk = match tokio::time::timeout(STALL_TIMEOUT, stream.next()).await {
            Err(_) | Ok(Some(Err(_))) => return Err(ReceiveError::Interrupted),
            Ok(None) => break,
            Ok(Some(Ok(chunk))) => chunk,
        };
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(ReceiveError::TooLarge(max_bytes));
        }
        let elapsed = started.elapsed();
        if elapsed > MIN_RATE_AFTER && size < elapsed.as_secs() * MIN_BYTES_PER_SECOND {
            return Err(ReceiveError::Interrupted);
        }
        if head.len() < HEAD_BYTES {
            let wanted = (HEAD_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..wanted]);
        }
        hash.update(&chunk);
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    // On disk before the row that names it can commit.
    out.sync_all().await?;
    drop(out);
    let sha256 = hash.finalize().iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(Received { file, size, sha256, head })
}
