//! `POST /api/files`: an upload, streamed to the file store and recorded
//! for the uploader to attach to a message in that channel.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::admission::{receive_error, refuse_declared_length, require_octet_stream, unavailable};
use super::receive::{Received, ScratchFile, receive};
use super::{blobs, store_error};
use crate::app::RequestError;
use crate::files::{BlobError, Blobs, media, sniff};
use crate::model::{Attachment, ChannelId, FileId, User, sanitise_file_name};
use crate::protocol::convert::attachment_info;
use crate::protocol::http::UploadResponse;
use crate::server::AppState;
use crate::server::api::ApiError;
use crate::server::client::ReachedOverHttps;
use crate::server::own_account::signed_in;
use crate::store::NewUpload;

/// Longest side of a thumbnail, in pixels.
pub(super) const THUMBNAIL_SIDE: u32 = 400;

/// Images decoded at once, over every upload: each decode may take a core
/// and up to a few hundred megabytes (`files::media`), so many uploaders at
/// once wait their turn rather than exhaust the machine.
static DECODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// `?channel=ID&name=FILE_NAME`, read by hand so a malformed one gets the
/// API's JSON error.
#[derive(Deserialize)]
pub(in crate::server) struct UploadQuery {
    channel: Option<String>,
    name: Option<String>,
}

pub(in crate::server) async fn upload(
    State(state): State<AppState>,
    ReachedOverHttps(https): ReachedOverHttps,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (user, _) = signed_in(&state, &headers, https).await?;
    require_octet_stream(&headers)?;
    let channel = query.channel.and_then(|channel| channel.parse().ok()).map(ChannelId);
    let (Some(channel), Some(name)) = (channel, query.name) else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "give ?channel=ID&name=FILE_NAME"));
    };
    state.app.may_upload(&user, channel).await.map_err(upload_refusal)?;
    let max_bytes = state.app.limits().max_file_bytes;
    refuse_declared_length(&headers, max_bytes)?;
    let blobs = Arc::clone(blobs(&state)?);
    let slot = state.uploads.take(user.id)?;
    let received = receive(body, blobs.scratch_dir(), max_bytes).await.map_err(|error| {
        state.metrics.upload_failures_total.inc();
        receive_error(error)
    })?;
    // Every byte is here. What follows runs in a task of its own, so a
    // client that goes away now cannot stop it half-way (bytes stored
    // without their row, which nothing would ever remove); the slot is
    // given back when it ends.
    let metrics = Arc::clone(&state.metrics);
    let stored = tokio::spawn(async move {
        let stored = store_upload(&state, blobs.as_ref(), &user, channel, &name, received).await;
        drop(slot);
        stored
    })
    .await
    .unwrap_or_else(|error| {
        tracing::error!(%error, "an upload's task failed");
        Err(unavailable())
    });
    if stored.is_err() {
        metrics.upload_failures_total.inc();
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
    let keys = [id.blob_key(), id.thumbnail_key()];
    let stored = match dimensions {
        Some(_) => match put(blobs, &keys[1], thumbnail).await {
            Ok(()) => put(blobs, &keys[0], scratch).await,
            Err(error) => Err(error),
        },
        None => put(blobs, &keys[0], scratch).await,
    };
    if let Err(error) = stored {
        remove_stored(blobs, &keys).await;
        return Err(error);
    }
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
        remove_stored(blobs, &keys).await;
        return Err(upload_refusal(refused));
    }
    Ok(file)
}

/// Removes what an upload that failed had stored already.
async fn remove_stored(blobs: &dyn Blobs, keys: &[String]) {
    for key in keys {
        match blobs.delete(key).await {
            Ok(()) | Err(BlobError::NotFound) => {}
            // Left for good: there is no row to find it by.
            Err(error) => tracing::error!(%error, key, "cannot remove a failed upload's bytes"),
        }
    }
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
    let Ok(turn) = DECODES.acquire().await else { return None };
    // The turn goes with the decode, which runs on even if this is dropped.
    let made = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        media::thumbnail(&original, &out, side)
    })
    .await;
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
