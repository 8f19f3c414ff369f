//! People's pictures: `POST /api/avatar` (an image, kept as a small PNG),
//! `DELETE /api/avatar`, and `GET /api/avatars/NAME` for anyone signed in.
//! Pictures are workspace-wide, like names: no channel governs them.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::admission::{receive_error, refuse_declared_length, require_octet_stream};
use super::download::FILE_CSP;
use super::receive::{ScratchFile, receive};
use super::upload::{make_thumbnail, put};
use super::{blobs, no_such_file, store_error};
use crate::files::{BlobError, sniff};
use crate::model::UserId;
use crate::protocol::http::AvatarResponse;
use crate::server::AppState;
use crate::server::api::ApiError;
use crate::server::client::ReachedOverHttps;
use crate::server::own_account::signed_in;

/// Largest picture accepted before it is made small.
pub(crate) const MAX_AVATAR_BYTES: u64 = 10 * 1024 * 1024;

/// Longest side of a stored picture, in pixels.
const AVATAR_SIDE: u32 = 256;

/// Where a user's picture is kept in the file store.
fn avatar_key(user: UserId) -> String {
    format!("a/{}", user.0)
}

pub(in crate::server) async fn set(
    State(state): State<AppState>,
    ReachedOverHttps(https): ReachedOverHttps,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (user, _) = signed_in(&state, &headers, https).await?;
    require_octet_stream(&headers)?;
    refuse_declared_length(&headers, MAX_AVATAR_BYTES)?;
    let blobs = blobs(&state)?;
    let _slot = state.uploads.take(user.id)?;
    let scratch = blobs.scratch_dir();
    let received = receive(body, scratch, MAX_AVATAR_BYTES).await.map_err(receive_error)?;
    let small = ScratchFile::new(scratch, "avatar.png");
    let readable = match sniff::is_inline_image(sniff::content_type(&received.head)) {
        true => make_thumbnail(received.file.path(), small.path(), AVATAR_SIDE).await,
        false => None,
    };
    if readable.is_none() {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_an_image",
            "a picture must be a PNG, JPEG, GIF or WebP image natter can read",
        ));
    }
    put(blobs.as_ref(), &avatar_key(user.id), small).await?;
    state.app.set_avatar(&user, true).await.map_err(store_error)?;
    Ok(Json(AvatarResponse { avatar: true }).into_response())
}

pub(in crate::server) async fn remove(
    State(state): State<AppState>,
    ReachedOverHttps(https): ReachedOverHttps,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (user, _) = signed_in(&state, &headers, https).await?;
    let blobs = blobs(&state)?;
    state.app.set_avatar(&user, false).await.map_err(store_error)?;
    match blobs.delete(&avatar_key(user.id)).await {
        Ok(()) | Err(BlobError::NotFound) => {}
        // The row says there is none, so it is never served; the bytes are
        // overwritten by the next picture.
        Err(error) => tracing::warn!(%error, "cannot remove a picture's bytes"),
    }
    Ok(Json(AvatarResponse { avatar: false }).into_response())
}

pub(in crate::server) async fn get(
    State(state): State<AppState>,
    ReachedOverHttps(https): ReachedOverHttps,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    signed_in(&state, &headers, https).await?;
    let (user, version) = state.app.avatar_of(&name).await.map_err(store_error)?.ok_or_else(no_such_file)?;
    let etag = format!("\"{version}\"");
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = match blobs(&state)?.get(&avatar_key(user), None).await {
            Ok(body) => body,
            Err(BlobError::NotFound) => return Err(no_such_file()),
            Err(error) => {
                tracing::error!(%error, "cannot read a picture");
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "cannot read it now",
                ));
            }
        };
        let mut response = Body::from_stream(body.stream).into_response();
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(body.size));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(FILE_CSP));
    // Checked again each time (cheap with the ETag), so a new picture
    // shows at once; never kept by a shared cache.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    Ok(response)
}
