//! What an upload must pass before its bytes are read: its declared type
//! and length, and a place among the uploads in flight (per user and on
//! the whole node), which bound the scratch disk and the work uploads can
//! take before any quota counts them. Also the answers for an upload
//! refused on the way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, header};

use super::receive::ReceiveError;
use crate::model::UserId;
use crate::server::api::ApiError;

/// Uploads one user may have in flight at once.
pub(crate) const UPLOADS_IN_FLIGHT_PER_USER: usize = 4;

/// Uploads one node receives at once, over everyone.
pub(crate) const UPLOADS_IN_FLIGHT: usize = 64;

/// Uploads in flight, per user and in all.
#[derive(Default)]
pub(in crate::server) struct UploadsInFlight(Mutex<Counts>);

#[derive(Default)]
struct Counts {
    total: usize,
    per_user: HashMap<UserId, usize>,
}

/// One upload's place; given back when dropped, which the upload's own
/// task does once everything it started is done.
pub(super) struct UploadSlot {
    uploads: Arc<UploadsInFlight>,
    user: UserId,
}

impl UploadsInFlight {
    pub(super) fn take(self: &Arc<Self>, user: UserId) -> Result<UploadSlot, ApiError> {
        let mut counts = self.0.lock().expect("upload counts are never poisoned");
        if counts.total >= UPLOADS_IN_FLIGHT {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the server is receiving too many files; try again shortly",
            ));
        }
        let mine = counts.per_user.get(&user).copied().unwrap_or(0);
        if mine >= UPLOADS_IN_FLIGHT_PER_USER {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("at most {UPLOADS_IN_FLIGHT_PER_USER} uploads at once"),
            ));
        }
        counts.total += 1;
        counts.per_user.insert(user, mine + 1);
        Ok(UploadSlot { uploads: Arc::clone(self), user })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut counts = self.uploads.0.lock().expect("upload counts are never poisoned");
        counts.total -= 1;
        if let Some(count) = counts.per_user.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                counts.per_user.remove(&self.user);
            }
        }
    }
}

/// Takes only `application/octet-stream` bodies. A cross-site request
/// with that type needs a CORS preflight, which natter never grants, so no
/// other page (not even one on a sibling subdomain, to which the
/// `SameSite` cookie still goes) can make a browser upload; a form, or a
/// `fetch` with no type or a "simple" one, is refused.
pub(super) fn require_octet_stream(headers: &HeaderMap) -> Result<(), ApiError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    if media_type.as_deref() != Some("application/octet-stream") {
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
        ReceiveError::Interrupted => ApiError::new(
            StatusCode::BAD_REQUEST,
            "upload_interrupted",
            "the upload stalled, was too slow or was cut off",
        ),
        ReceiveError::Io(error) => {
            tracing::error!(%error, "cannot write an upload to scratch space");
            unavailable()
        }
    }
}

pub(super) fn unavailable() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the server could not store the file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_user_and_in_all_and_given_back() {
        let uploads = Arc::new(UploadsInFlight::default());
        let mine: Vec<_> =
            (0..UPLOADS_IN_FLIGHT_PER_USER).map(|_| uploads.take(UserId(1)).ok().unwrap()).collect();
        assert!(uploads.take(UserId(1)).is_err(), "a fifth of one user's");
        drop(mine);
        let all: Vec<_> =
            (0..UPLOADS_IN_FLIGHT as i64).map(|user| uploads.take(UserId(user)).ok().unwrap()).collect();
        assert!(uploads.take(UserId(1_000)).is_err(), "one more than the node takes");
        drop(all);
        assert!(uploads.take(UserId(1)).is_ok());
    }

    #[test]
    fn only_octet_streams_are_taken() {
        let with = |value: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(value) = value {
                headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            }
            require_octet_stream(&headers).is_ok()
        };
        assert!(with(Some("application/octet-stream")));
        assert!(with(Some("Application/Octet-Stream; x=y")));
        for refused in [None, Some("text/plain"), Some("multipart/form-data; boundary=x"), Some("image/png")]
        {
            assert!(!with(refused), "{refused:?}");
        }
    }
}
