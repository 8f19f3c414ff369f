//! Uploaded files' bytes: where they are kept, and what they are.
//!
//! [`Blobs`] stores whole files under keys the server makes (`f/<id>`,
//! `t/<id>`, `a/<user id>`), in a local folder ([`local`]) or in an
//! S3-compatible bucket ([`s3`]), and reads them back whole or by byte
//! range as a stream. An upload is first written to [`Blobs::scratch_dir`]
//! and handed over finished, so a reader never sees half a file.
//! [`sniff`] names a file's type from its first bytes and [`media`] reads
//! image headers and makes thumbnails.
//!
//! This module knows nothing of HTTP, users, channels or the database: which
//! file belongs to whom is the store's business, and checking a range
//! against the size is the caller's.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

mod local;
mod s3;
pub mod media;
pub mod sniff;

/// Where the files are kept, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilesLocation {
    /// A folder on this machine; created if missing.
    Local(PathBuf),
    /// A bucket, with keys under `prefix` (no leading or trailing `/`;
    /// empty for the bucket's root).
    S3 { bucket: String, prefix: String },
}

impl FilesLocation {
    /// `s3://bucket` or `s3://bucket/some/prefix` is a bucket; any other
    /// URL (`gs://...`, `https://...`) is refused rather than taken for a
    /// folder with a colon in its name; anything else is a folder path.
    pub fn parse(spec: &str) -> Result<Self, BlobError> {
        if spec.is_empty() {
            return Err(BlobError::Config("the files location is empty".into()));
        }
        if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(BlobError::Config(format!("{spec:?} names no bucket")));
            }
            // Credentials belong in S3Settings or the environment; a URL
            // with them would be echoed by `describe` into the logs.
            if bucket.contains('@') || bucket.contains(':') {
                return Err(BlobError::Config(
                    "the bucket name may not hold credentials or a port; \
                     give the endpoint and keys as S3 settings"
                        .into(),
                ));
            }
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty() && !is_valid_key(prefix) {
                return Err(BlobError::Config(format!(
                    "the prefix {prefix:?} may hold only letters, digits, '_', '-' and '/' between them"
                )));
            }
            return Ok(Self::S3 { bucket: bucket.into(), prefix: prefix.into() });
        }
        if let Some((scheme, _)) = spec.split_once("://")
            && !scheme.is_empty()
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(BlobError::Config(format!(
                "files location {scheme}://... is not supported: give a folder or s3://bucket/prefix"
            )));
        }
        Ok(Self::Local(PathBuf::from(spec)))
    }
}

/// How to reach S3. Unset fields fall back to the standard AWS environment
/// variables (AWS_ENDPOINT_URL, AWS_REGION / AWS_DEFAULT_REGION,
/// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), and
/// without keys there either, to the instance's or container's role.
#[derive(Clone, Default)]
pub struct S3Settings {
    /// For S3-compatible servers (MinIO, Garage, Ceph): `http(s)://host:port`.
    /// Requests then name the bucket in the path, not the host name.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// Written by hand so that the secret never reaches a log line.
impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Opens the storage `location` names. A local folder (and its scratch
/// folder) is created if missing; a bucket is asked for a listing, so a
/// wrong endpoint, key or bucket name fails here, at start, with a clear
/// error rather than at the first upload.
pub async fn open(location: &FilesLocation, s3: &S3Settings) -> Result<Arc<dyn Blobs>, BlobError> {
    match location {
        FilesLocation::Local(folder) => Ok(Arc::new(local::LocalBlobs::open(folder).await?)),
        FilesLocation::S3 { bucket, prefix } => Ok(Arc::new(s3::S3Blobs::open(bucket, prefix, s3).await?)),
    }
}

/// Whole files by key. Keys are `/`-separated segments of
/// `[A-Za-z0-9_-]`; anything else is refused with [`BlobError::Io`].
#[async_trait]
pub trait Blobs: Send + Sync + 'static {
    /// Stores the finished file at `path` (written in `scratch_dir()`) under
    /// `key`, replacing what was there, and consumes the file (local: a
    /// rename; S3: a streamed multipart upload from the file, never read
    /// whole into memory, then the file is removed). Readers see the old
    /// file or the new one, never a part.
    async fn put_file(&self, key: &str, path: &Path) -> Result<(), BlobError>;
    /// Reads `key` whole or a byte range (start inclusive, end exclusive;
    /// the caller checked it against the size) as a stream of chunks.
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobBody, BlobError>;
    /// Removes `key`; a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Where uploads are written while they arrive: inside the folder for
    /// Local (so put_file is a rename on the same filesystem), a temp dir
    /// for S3.
    fn scratch_dir(&self) -> &Path;
    /// Whether several nodes can share it (S3: true; a local folder: false).
    fn shared(&self) -> bool;
    /// For logs: the folder or s3://bucket/prefix (no credentials).
    fn describe(&self) -> String;
}

/// A stored file, or the part of it that was asked for.
pub struct BlobBody {
    /// The bytes this body will yield.
    pub size: u64,
    pub stream: BoxStream<'static, Result<bytes::Bytes, BlobError>>,
}

impl std::fmt::Debug for BlobBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobBody").field("size", &self.size).finish_non_exhaustive()
    }
}

/// What callers branch on: a missing file (404), a bad setting (refuse to
/// start), anything else (500, logged). The strings are for logs and never
/// hold credentials.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no such file")]
    NotFound,
    #[error("bad file storage setting: {0}")]
    Config(String),
    #[error("file storage: {0}")]
    Io(String),
}

/// For reading a stored file: no file there (or a file where a folder of
/// its path should be) is NotFound.
impl From<std::io::Error> for BlobError {
    fn from(error: std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => Self::NotFound,
            _ => Self::Io(error.to_string()),
        }
    }
}

/// Whether `key` is `/`-separated, non-empty segments of `[A-Za-z0-9_-]`:
/// so never absolute, never `.` or `..`, never empty between slashes.
fn is_valid_key(key: &str) -> bool {
    key.split('/').all(|segment| {
        !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// Refuses a key that is not made of [`is_valid_key`]'s segments. The
/// server makes every key, so a bad one is a bug, reported as an I/O error.
fn check_key(key: &str) -> Result<(), BlobError> {
    if is_valid_key(key) { Ok(()) } else { Err(BlobError::Io(format!("refused the key {key:?}"))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            FilesLocation::parse("s3://bucket").unwrap(),
            FilesLocation::S3 { bucket: "bucket".into(), prefix: "".into() }
        );
        assert_eq!(
            FilesLocation::parse("s3://bucket/some/prefix/").unwrap(),
            FilesLocation::S3 { bucket: "bucket".into(), prefix: "some/prefix".into() }
        );
        assert_eq!(
            FilesLocation::parse("/var/lib/natter/files").unwrap(),
            FilesLocation::Local("/var/lib/natter/files".into())
        );
        assert_eq!(FilesLocation::parse("files").unwrap(), FilesLocation::Local("files".into()));
        for bad in ["", "s3://", "s3:///prefix", "gs://bucket", "s3://key:secret@bucket", "s3://bucket/../x"]
        {
            assert!(matches!(FilesLocation::parse(bad), Err(BlobError::Config(_))), "{bad:?} is refused");
        }
    }

    #[test]
    fn keys_are_plain_segments() {
        for good in ["f/AbC-_09", "a/17", "t/x"] {
            assert!(is_valid_key(good), "{good}");
        }
        for bad in ["", "/f/x", "f/", "f//x", "../x", "f/../x", ".", "f/.x", "f/x y", "f\\x", "f/é"] {
            assert!(!is_valid_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn settings_debug_hides_the_secret() {
        let settings = S3Settings { secret_access_key: Some("hunter2".into()), ..Default::default() };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
