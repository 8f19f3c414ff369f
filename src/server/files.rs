//! The HTTP side of shared files: uploads (`upload`, receiving the bytes in
//! `receive`), serving them (`download`) and people's pictures
//! (`avatars`). These routes stream bodies of up to the file size limit,
//! so they sit outside the small-body limit and the request timeout of
//! the rest of the API; uploads have a stall timeout of their own.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::AppState;
use super::api::ApiError;
use crate::app::RequestError;
use crate::files::Blobs;

mod admission;
mod avatars;
mod download;
mod receive;
mod upload;

pub(super) use admission::UploadsInFlight;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/files", post(upload::upload))
        .route("/api/files/{id}", get(download::file))
        .route("/api/files/{id}/thumb", get(download::thumbnail))
        .route("/api/files/{id}/{name}", get(download::file_named))
        .route("/api/avatar", post(avatars::set).delete(avatars::remove))
        .route("/api/avatars/{name}", get(avatars::get))
}

/// The file store, or the refusal of a node that has none (a cluster
/// node started without `--files s3://...`).
fn blobs(state: &AppState) -> Result<&Arc<dyn Blobs>, ApiError> {
    state.blobs.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "files_unavailable",
            "this server keeps no files (a cluster needs --files s3://...)",
        )
    })
}

/// The one answer for a file that does not exist, was deleted, or that
/// the asker may not see.
fn no_such_file() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_such_file", "no such file")
}

/// A refused or failed request of the file routes as an HTTP answer.
fn store_error(error: RequestError) -> ApiError {
    match error {
        RequestError::Archived => {
            ApiError::new(StatusCode::FORBIDDEN, "archived", "the channel is archived: it takes no new files")
        }
        RequestError::RateLimited => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "slow down")
        }
        other => {
            tracing::debug!(error = %other, "a file request failed");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the server could not do that now")
        }
    }
}
