//! `POST /api/files`: an upload, streamed to the file store and recorded
//! for the uploader to attach to a message in that channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::receive::{ReceiveError, Received, ScratchFile, receive};
use super::{blobs, store_error};
use crate::app::RequestError;
use crate::files::{Blobs, media, sniff};
use crate::model::{Attachment, ChannelId, FileId, User, UserId, sanitise_file_name};
use crate::protocol::convert::attachment_info;
use crate::protocol::http::UploadResponse;
use crate::server::AppState;
use crate::server::api::ApiError;
use crate::server::client::ReachedOverHttps;
use crate::server::own_account::signed_in;
use crate::store::NewUpload;

/// Uploads one user may have in flight at once: each holds a scratch file
/// of up to the size limit, so this bounds the disk one user can take
/// before any quota counts it.
pub(crate) const UPLOADS_IN_FLIGHT_PER_USER: usize = 4;

/// Longest side of a thumbnail, in pixels.
pub(super) const THUMBNAIL_SIDE: u32 = 400;

#[derive(Deserialize)]
pub(in crate::server) struct UploadQuery {
    channel: Option<i64>,
    name: Option<String>,
}

/// Uploads in flight per user (see [`UPLOADS_IN_FLIGHT_PER_USER`]).
#[derive(Default)]
pub(in crate::server) struct UploadsInFlight(Mutex<HashMap<UserId, usize>>);

/// One upload's place among its user's in flight; given back on drop.
pub(super) struct UploadSlot {
    uploads: Arc<UploadsInFlight>,
    user: UserId,
}

impl UploadsInFlight {
    pub(super) fn take(self: &Arc<Self>, user: UserId) -> Option<UploadSlot> {
        let mut counts = self.0.lock().expect("upload counts are never poisoned");
        let count = counts.entry(user).or_default();
        if *count >= UPLOADS_IN_FLIGHT_PER_USER {
            return None;
        }
        *count += 1;
        Some(UploadSlot { uploads: Arc::clone(self), user })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut counts = self.uploads.0.lock().expect("upload counts are never poisoned");
        if let Some(count) = counts.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

/// Refuses the body types an HTML form can send, so no page elsewhere can
/// make a signed-in browser upload (the `SameSite=Strict` cookie already
/// stays home; this holds even without it).
pub(super) fn refuse_form_bodies(headers: &HeaderMap) -> Result<(), ApiError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let form = ["multipart/form-data", "application/x-www-form-urlencoded", "text/plain"];
    if form.contains(&media_type.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file's bytes as the body, with Content-Type: application/octet-stream",
        ));
    }
    Ok(())
}

/// Refuses a body whose declared length is over `max_bytes` before reading
/// any of it.
pub(super) fn refuse_declared_length(headers: &HeaderMap, max_bytes: u64) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > max_bytes => Err(too_large(max_bytes)),
        _ => Ok(()),
    }
}

pub(super) fn too_large(max_bytes: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "file_too_large",
        format!("a file may be at most {max_bytes} bytes"),
    )
}

pub(super) fn receive_error(error: ReceiveError) -> ApiError {
    match error {
        ReceiveError::TooLarge(max) => too_large(max),
        ReceiveError::Interrupted => {
            ApiError::new(StatusCode::BAD_REQUEST, "upload_interrupted", "the upload stalled or was cut off")
        }
        ReceiveError::Io(error) => {
            tracing::error!(%error, "cannot write an upload to scratch space");
            unavailable()
        }
    }
}

pub(super) fn unavailable() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the server could not store the file")
}

pub(super) fn too_many_uploads() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("at most {UPLOADS_IN_FLIGHT_PER_USER} uploads at once"),
    )
}

pub(in crate::server) async fn upload(
    State(state): State<AppState>,
    ReachedOverHttps(https): ReachedOverHttps,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (user, _) = signed_in(&state, &headers, https).await?;
    refuse_form_bodies(&headers)?;
    let (Some(channel), Some(name)) = (query.channel, query.name) else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "give ?channel=ID&name=FILE_NAME"));
    };
    let channel = ChannelId(channel);
    state.app.may_upload(&user, channel).await.map_err(upload_refusal)?;
    let max_bytes = state.app.limits().max_file_bytes;
    refuse_declared_length(&headers, max_bytes)?;
    let blobs = blobs(&state)?;
    let _slot = state.uploads.take(user.id).ok_or_else(too_many_uploads)?;
    let received = receive(body, blobs.scratch_dir(), max_bytes).await.map_err(|error| {
        state.metrics.upload_failures_total.inc();
        receive_error(error)
    })?;
    let stored = store_upload(&state, blobs.as_ref(), &user, channel, &name, received).await;
    if stored.is_err() {
        state.metrics.upload_failures_total.inc();
    }
    let file = stored?;
    Ok((StatusCode::CREATED, Json(UploadResponse { file: attachment_info(&file) })).into_response())
}

/// Works out what the file is, makes its thumbnail, puts both in the file
/// store and records the upload; on a refusal the stored bytes go again.
async fn store_upload(
    state: &AppState,
    blobs: &dyn Blobs,
    user: &User,
    channel: ChannelId,
    name: &str,
    received: Received,
) -> Result<Attachment, ApiError> {
    let Received { file: scratch, size, sha256, head } = received;
    let id = FileId::generate();
    let content_type = sniff::content_type(&head);
    let thumbnail = ScratchFile::new(blobs.scratch_dir(), "thumb.png");
    let dimensions = match sniff::is_inline_image(content_type) {
        true => make_thumbnail(scratch.path(), thumbnail.path(), THUMBNAIL_SIDE).await,
        false => None,
    };
    if dimensions.is_some() {
        put(blobs, &id.thumbnail_key(), thumbnail).await?;
    }
    put(blobs, &id.blob_key(), scratch).await?;
    let file = Attachment {
        id: id.clone(),
        name: sanitise_file_name(name),
        size,
        content_type: content_type.to_owned(),
        dimensions,
        thumbnail: dimensions.is_some(),
    };
    let upload = NewUpload {
        file: file.clone(),
        uploader: user.id,
        channel,
        sha256,
        quota_bytes: state.app.limits().upload_quota_bytes,
    };
    if let Err(refused) = state.app.add_upload(upload).await {
        for key in [id.blob_key(), id.thumbnail_key()] {
            if let Err(error) = blobs.delete(&key).await {
                tracing::warn!(%error, key, "cannot remove a refused upload's bytes");
            }
        }
        return Err(upload_refusal(refused));
    }
    Ok(file)
}

/// Reads the image's size and writes its thumbnail, off the async threads
/// (decoding is CPU work); `None` when it is not an image natter can read,
/// or too many pixels to decode safely (then it is served as a download).
pub(super) async fn make_thumbnail(
    original: &std::path::Path,
    out: &std::path::Path,
    side: u32,
) -> Option<(u32, u32)> {
    let (original, out) = (original.to_owned(), out.to_owned());
    let made = tokio::task::spawn_blocking(move || media::thumbnail(&original, &out, side)).await;
    match made {
        Ok(Ok(dimensions)) => dimensions,
        Ok(Err(error)) => {
            tracing::debug!(%error, "an uploaded image could not be read; it is kept as a plain file");
            None
        }
        Err(error) => {
            tracing::error!(%error, "a thumbnail task failed");
            None
        }
    }
}

/// Hands a scratch file to the file store under `key`.
pub(super) async fn put(blobs: &dyn Blobs, key: &str, file: ScratchFile) -> Result<(), ApiError> {
    let path = file.hand_on();
    blobs.put_file(key, &path).await.map_err(|error| {
        // The store consumes the file on success only.
        let _ = std::fs::remove_file(&path);
        tracing::error!(%error, key, "cannot store an upload");
        unavailable()
    })
}

fn upload_refusal(error: RequestError) -> ApiError {
    match error {
        RequestError::NotFound | RequestError::NotMember => {
            ApiError::new(StatusCode::NOT_FOUND, "no_such_channel", "no such channel")
        }
        RequestError::LimitReached(why) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded", why)
        }
        other => store_error(other),
    }
}
