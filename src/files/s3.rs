//! Files in an S3 bucket (AWS or an S3-compatible server), under a prefix,
//! through the `object_store` crate: request signing, retries with backoff
//! and multipart uploads are its job. Several nodes can share one bucket.
//!
//! Uploads arrive in a private temp folder and are streamed from there in
//! parts, so memory per upload stays bounded whatever the file's size.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, RetryConfig, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::{BlobBody, BlobError, Blobs, S3Settings, check_key};

/// Bytes per part of a multipart upload, and the size up to which a file
/// goes up in one plain PUT instead (a multipart upload costs three
/// requests at least). S3 wants parts of 5 MiB or more, except the last.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Parts of one upload sent at once. With the part being filled and the
/// read chunk this bounds an upload's memory at about 3 parts (24 MiB).
const PARTS_IN_FLIGHT: usize = 2;

/// Bytes read from the scratch file at a time.
const READ_CHUNK_BYTES: usize = 1024 * 1024;

/// How long one request may take: a part is 8 MiB, which needs about
/// 0.5 MiB/s to go up in time.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Retries of a failed request (with backoff), and the time after which no
/// retry starts. Fewer than the crate's default (10 in 3 minutes), so a
/// wrong endpoint fails the start in seconds and a failing upload answers
/// its client within a minute.
const MAX_RETRIES: usize = 4;
const RETRY_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct S3Blobs {
    store: AmazonS3,
    bucket: String,
    prefix: String,
    scratch: PathBuf,
}

impl S3Blobs {
    pub(super) async fn open(bucket: &str, prefix: &str, settings: &S3Settings) -> Result<Self, BlobError> {
        let store = builder(settings)
            .with_bucket_name(bucket)
            .build()
            .map_err(|error| BlobError::Config(format!("s3://{bucket}: {error}")))?;
        let scratch =
            std::env::temp_dir().join(format!("natter-uploads-{}-{}", std::process::id(), random_hex()));
        tokio::fs::create_dir_all(&scratch).await.map_err(|error| {
            BlobError::Config(format!("cannot create the upload folder {}: {error}", scratch.display()))
        })?;
        let blobs = Self { store, bucket: bucket.into(), prefix: prefix.into(), scratch };
        // One page of a listing: fails on a wrong endpoint, region, key or
        // bucket (a HEAD of a missing key would answer 404 for a missing
        // bucket too), and needs no object to exist.
        let listing_prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        if let Some(Err(error)) = blobs.store.list(listing_prefix.as_ref()).next().await {
            return Err(BlobError::Config(format!("cannot use {}: {error}", blobs.describe())));
        }
        Ok(blobs)
    }

    fn location(&self, key: &str) -> Result<ObjectPath, BlobError> {
        check_key(key)?;
        let full = if self.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", self.prefix) };
        ObjectPath::parse(full).map_err(|error| BlobError::Io(error.to_string()))
    }

    /// Sends the file in parts of [`PART_BYTES`], at most
    /// [`PARTS_IN_FLIGHT`] at once; aborts the upload on failure so no
    /// parts are left behind to be billed.
    async fn upload_in_parts(
        &self,
        location: &ObjectPath,
        file: &mut tokio::fs::File,
    ) -> Result<(), BlobError> {
        let upload = self.store.put_multipart(location).await.map_err(store_error)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        match copy_into_parts(file, &mut writer).await {
            // `finish` aborts the upload itself when completing fails.
            Ok(()) => writer.finish().await.map(drop).map_err(store_error),
            Err(error) => {
                if let Err(abort_error) = writer.abort().await {
                    tracing::warn!(%abort_error, "could not abort a failed multipart upload");
                }
                Err(error)
            }
        }
    }
}

async fn copy_into_parts(file: &mut tokio::fs::File, writer: &mut WriteMultipart) -> Result<(), BlobError> {
    loop {
        writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(store_error)?;
        let mut chunk = BytesMut::with_capacity(READ_CHUNK_BYTES);
        if file.read_buf(&mut chunk).await.map_err(scratch_error)? == 0 {
            return Ok(());
        }
        writer.put(chunk.freeze());
    }
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn put_file(&self, key: &str, path: &Path) -> Result<(), BlobError> {
        let location = self.location(key)?;
        let mut file = tokio::fs::File::open(path).await.map_err(scratch_error)?;
        let size = file.metadata().await.map_err(scratch_error)?.len();
        if size <= PART_BYTES as u64 {
            let mut bytes = Vec::with_capacity(PART_BYTES.min(size as usize));
            file.read_to_end(&mut bytes).await.map_err(scratch_error)?;
            self.store.put(&location, bytes.into()).await.map_err(store_error)?;
        } else {
            self.upload_in_parts(&location, &mut file).await?;
        }
        drop(file);
        if let Err(error) = tokio::fs::remove_file(path).await {
            tracing::warn!(%error, path = %path.display(), "stored, but could not remove the scratch file");
        }
        Ok(())
    }

    async fn get(&self, key: &str, range: Option<std::ops::Range<u64>>) -> Result<BlobBody, BlobError> {
        let location = self.location(key)?;
        let options = GetOptions::new().with_range(range);
        let result = self.store.get_opts(&location, options).await.map_err(store_error)?;
        let size = result.range.end - result.range.start;
        let stream = result.into_stream().map_err(store_error).boxed();
        Ok(BlobBody { size, stream })
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let location = self.location(key)?;
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(store_error(error)),
        }
    }

    fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    fn shared(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

impl Drop for S3Blobs {
    /// The scratch folder is this instance's alone; what is left in it are
    /// uploads that will never finish.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// The client settings: the AWS environment variables first, then what
/// `settings` gives over them.
fn builder(settings: &S3Settings) -> AmazonS3Builder {
    let client = ClientOptions::new().with_timeout(REQUEST_TIMEOUT);
    let retry = RetryConfig { max_retries: MAX_RETRIES, retry_timeout: RETRY_TIMEOUT, ..Default::default() };
    let mut builder = AmazonS3Builder::new().with_client_options(client).with_retry(retry);
    // A session token in the environment belongs to the environment's
    // keys; sent with keys given in settings it would fail every request.
    let keys_given = settings.access_key_id.is_some() || settings.secret_access_key.is_some();
    for (name, value) in std::env::vars_os() {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else { continue };
        if !name.starts_with("AWS_") {
            continue;
        }
        let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() else { continue };
        if keys_given && key == AmazonS3ConfigKey::Token {
            continue;
        }
        builder = builder.with_config(key, value);
    }
    if let Some(endpoint) = &settings.endpoint {
        // AWS_ENDPOINT_URL_S3 would otherwise win over the setting.
        builder = builder.with_endpoint(endpoint).with_config(AmazonS3ConfigKey::S3Endpoint, endpoint);
    }
    if let Some(region) = &settings.region {
        builder = builder.with_region(region);
    }
    if let Some(access_key_id) = &settings.access_key_id {
        builder = builder.with_access_key_id(access_key_id);
    }
    if let Some(secret_access_key) = &settings.secret_access_key {
        builder = builder.with_secret_access_key(secret_access_key);
    }
    // The crate refuses plain HTTP unless told; an operator who names an
    // http:// endpoint (a MinIO on the LAN, a test server) means it.
    let endpoint = builder
        .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
        .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint));
    if endpoint.is_some_and(|endpoint| endpoint.starts_with("http://")) {
        builder = builder.with_allow_http(true);
    }
    builder
}

fn store_error(error: object_store::Error) -> BlobError {
    match error {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => BlobError::Io(other.to_string()),
    }
}

/// An error reading the caller's scratch file: never NotFound, which would
/// say the stored file is missing.
fn scratch_error(error: std::io::Error) -> BlobError {
    BlobError::Io(format!("reading the upload: {error}"))
}

/// A name part no other instance in this process or another one picks.
fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
