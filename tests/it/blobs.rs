//! The file storage conformance suite: every `Blobs` backend runs these same
//! checks, a local temp folder and S3 (Moto, started by
//! `scripts/test-services` and named by `NATTER_TEST_S3_ENDPOINT` and
//! `NATTER_TEST_S3_BUCKET`), each test under a prefix of its own.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use natter::files::{self, BlobBody, BlobError, Blobs, FilesLocation, S3Settings};
use sha2::{Digest, Sha256};

use crate::services::{moto_settings, s3_service};

/// Long enough for 30 MB through Moto on a busy two-core machine.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// A 30 MB file: several S3 parts and many read chunks.
const BIG_FILE_BYTES: usize = 30 * 1000 * 1000;

async fn within<T>(what: &str, step: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP_TIMEOUT, step)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer in {STEP_TIMEOUT:?}"))
}

/// A prefix no other test (in this run or an earlier one) uses.
fn unique_prefix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("it/{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A fresh local store in a temp folder (kept alive by the returned guard).
async fn local() -> (Arc<dyn Blobs>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let location = FilesLocation::parse(dir.path().join("files").to_str().unwrap()).unwrap();
    let blobs = within("open a folder", files::open(&location, &S3Settings::default())).await.unwrap();
    (blobs, dir)
}

/// A fresh S3 store under a prefix of its own; `None` to skip.
async fn s3() -> Option<Arc<dyn Blobs>> {
    let (endpoint, bucket) = s3_service()?;
    let location = FilesLocation::parse(&format!("s3://{bucket}/{}", unique_prefix())).unwrap();
    Some(within("open the bucket", files::open(&location, &moto_settings(&endpoint))).await.unwrap())
}

/// Writes `bytes` as a finished upload in the scratch folder and stores it.
async fn put(blobs: &Arc<dyn Blobs>, key: &str, bytes: &[u8]) {
    let upload = blobs.scratch_dir().join(format!("upload-{}", unique_prefix().replace('/', "-")));
    std::fs::write(&upload, bytes).unwrap();
    within("put_file", blobs.put_file(key, &upload)).await.unwrap();
    assert!(!upload.exists(), "put_file consumes the upload");
}

async fn read_all(mut body: BlobBody) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(chunk) = within("the next chunk", body.stream.next()).await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(bytes.len() as u64, body.size, "the body yields the size it announced");
    bytes
}

async fn get(
    blobs: &Arc<dyn Blobs>,
    key: &str,
    range: Option<std::ops::Range<u64>>,
) -> Result<Vec<u8>, BlobError> {
    match within("get", blobs.get(key, range)).await {
        Ok(body) => Ok(read_all(body).await),
        Err(error) => Err(error),
    }
}

/// Not compressible, not periodic at any power of two: a byte out of place
/// changes the hash.
fn noise(length: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

async fn put_then_get_whole(blobs: Arc<dyn Blobs>) {
    put(&blobs, "f/AbC-_09", b"hello, files").await;
    assert_eq!(get(&blobs, "f/AbC-_09", None).await.unwrap(), b"hello, files");
    // Storing under the same key again replaces the file.
    put(&blobs, "f/AbC-_09", b"second").await;
    assert_eq!(get(&blobs, "f/AbC-_09", None).await.unwrap(), b"second");
    put(&blobs, "a/17", b"").await;
    assert_eq!(get(&blobs, "a/17", None).await.unwrap(), b"");
}

async fn get_a_range(blobs: Arc<dyn Blobs>) {
    put(&blobs, "f/range", b"0123456789").await;
    assert_eq!(get(&blobs, "f/range", Some(2..5)).await.unwrap(), b"234");
    assert_eq!(get(&blobs, "f/range", Some(0..1)).await.unwrap(), b"0");
    assert_eq!(get(&blobs, "f/range", Some(9..10)).await.unwrap(), b"9");
    assert_eq!(get(&blobs, "f/range", Some(0..10)).await.unwrap(), b"0123456789");
}

async fn a_missing_key_is_not_found(blobs: Arc<dyn Blobs>) {
    assert!(matches!(get(&blobs, "f/never", None).await, Err(BlobError::NotFound)));
    assert!(matches!(get(&blobs, "f/never", Some(0..1)).await, Err(BlobError::NotFound)));
    // Below a file, as if it were a folder (a local folder's path has one).
    put(&blobs, "f/file", b"x").await;
    assert!(matches!(get(&blobs, "f/file/below", None).await, Err(BlobError::NotFound)));
}

async fn delete_then_get_is_not_found(blobs: Arc<dyn Blobs>) {
    put(&blobs, "t/doomed", b"thumbnail").await;
    within("delete", blobs.delete("t/doomed")).await.unwrap();
    assert!(matches!(get(&blobs, "t/doomed", None).await, Err(BlobError::NotFound)));
}

async fn deleting_a_missing_key_is_ok(blobs: Arc<dyn Blobs>) {
    within("delete", blobs.delete("f/never-there")).await.unwrap();
    within("delete", blobs.delete("f/never/there/either")).await.unwrap();
    put(&blobs, "f/file", b"x").await;
    within("delete", blobs.delete("f/file/below")).await.unwrap();
}

async fn a_30_mb_file_round_trips(blobs: Arc<dyn Blobs>) {
    let original = noise(BIG_FILE_BYTES);
    put(&blobs, "f/big", &original).await;

    let body = within("get", blobs.get("f/big", None)).await.unwrap();
    assert_eq!(body.size, BIG_FILE_BYTES as u64);
    let mut stream = body.stream;
    let (mut hash, mut length, mut chunks) = (Sha256::new(), 0, 0);
    while let Some(chunk) = within("the next chunk", stream.next()).await {
        let chunk = chunk.unwrap();
        hash.update(&chunk);
        length += chunk.len();
        chunks += 1;
    }
    assert_eq!(length, BIG_FILE_BYTES);
    assert_eq!(hash.finalize(), Sha256::digest(&original), "the same bytes came back");
    assert!(chunks > 1, "streamed in chunks, not as one buffer");

    // A range across the boundary of S3's 8 MiB parts.
    let boundary = 8 * 1024 * 1024;
    let range = (boundary - 100) as u64..(boundary + 100) as u64;
    assert_eq!(get(&blobs, "f/big", Some(range)).await.unwrap(), original[boundary - 100..boundary + 100]);
}

async fn keys_outside_the_scheme_are_refused(blobs: Arc<dyn Blobs>) {
    let upload = blobs.scratch_dir().join("refused-upload");
    std::fs::write(&upload, b"not going anywhere").unwrap();
    for key in ["../escape", "f/../../escape", "/etc/natter", "", "f/", "f//x", "f/a b", "f/.hidden"] {
        assert!(matches!(blobs.put_file(key, &upload).await, Err(BlobError::Io(_))), "put {key:?}");
        assert!(matches!(blobs.get(key, None).await, Err(BlobError::Io(_))), "get {key:?}");
        assert!(matches!(blobs.delete(key).await, Err(BlobError::Io(_))), "delete {key:?}");
    }
    assert!(upload.exists(), "a refused put leaves the upload where it was");
}

/// Each check as a test on each backend: `blobs::local::NAME`, `blobs::s3::NAME`.
macro_rules! on_every_backend {
    ($($check:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $check() {
                    let (blobs, _dir) = super::local().await;
                    super::$check(blobs).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test]
                async fn $check() {
                    let Some(blobs) = super::s3().await else { return };
                    super::$check(blobs).await;
                }
            )*
        }
    };
}

on_every_backend!(
    put_then_get_whole,
    get_a_range,
    a_missing_key_is_not_found,
    delete_then_get_is_not_found,
    deleting_a_missing_key_is_ok,
    a_30_mb_file_round_trips,
    keys_outside_the_scheme_are_refused,
);

#[tokio::test]
async fn a_local_folder_is_created_and_keeps_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("not/yet/there");
    let blobs = files::open(&FilesLocation::Local(folder.clone()), &S3Settings::default()).await.unwrap();
    assert!(blobs.scratch_dir().is_dir());
    assert!(blobs.scratch_dir().starts_with(&folder), "uploads arrive on the same filesystem");
    assert!(!blobs.shared());
    assert_eq!(blobs.describe(), folder.display().to_string());

    put(&blobs, "f/x", b"inside").await;
    assert_eq!(std::fs::read(folder.join("f/x")).unwrap(), b"inside");
    let upload = blobs.scratch_dir().join("escapee");
    std::fs::write(&upload, b"outside?").unwrap();
    assert!(blobs.put_file("../../escape", &upload).await.is_err());
    assert!(!dir.path().join("not/escape").exists() && !folder.join("../escape").exists());
    assert_entries(&folder, &[".scratch", "f"]);
}

fn assert_entries(folder: &Path, expected: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn a_bucket_is_shared_and_described_without_credentials() {
    let Some((endpoint, bucket)) = s3_service() else { return };
    let prefix = unique_prefix();
    let location = FilesLocation::parse(&format!("s3://{bucket}/{prefix}/")).unwrap();
    let blobs = within("open", files::open(&location, &moto_settings(&endpoint))).await.unwrap();
    assert!(blobs.shared());
    assert_eq!(blobs.describe(), format!("s3://{bucket}/{prefix}"));
    assert!(blobs.scratch_dir().is_dir());

    // Two nodes on one prefix see each other's files.
    let other_node = within("open", files::open(&location, &moto_settings(&endpoint))).await.unwrap();
    assert_ne!(blobs.scratch_dir(), other_node.scratch_dir(), "each keeps its own uploads");
    put(&blobs, "f/shared", b"from node a").await;
    assert_eq!(get(&other_node, "f/shared", None).await.unwrap(), b"from node a");
}

#[tokio::test]
async fn a_missing_bucket_fails_at_open() {
    let Some((endpoint, _)) = s3_service() else { return };
    let location = FilesLocation::parse("s3://natter-no-such-bucket/x").unwrap();
    let error =
        within("open", files::open(&location, &moto_settings(&endpoint))).await.err().expect("refused");
    assert!(matches!(error, BlobError::Config(_)), "{error}");
    assert!(error.to_string().contains("natter-no-such-bucket"), "{error}");
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_at_open() {
    let Some((_, bucket)) = s3_service() else { return };
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let settings = S3Settings {
        secret_access_key: Some("hunter2".into()),
        ..moto_settings(&format!("http://127.0.0.1:{port}"))
    };
    let location = FilesLocation::parse(&format!("s3://{bucket}")).unwrap();
    let error = within("open", files::open(&location, &settings)).await.err().expect("refused");
    assert!(matches!(error, BlobError::Config(_)), "{error}");
    assert!(!error.to_string().contains("hunter2"), "no secret in {error}");
}
