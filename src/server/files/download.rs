//! `GET /api/files/ID` and its thumbnail: a file served so that nothing in
//! it can act as part of natter's pages. Only images on a short list are
//! shown inline; everything else is a download. Every answer forbids
//! sniffing and scripts, and no shared cache may keep it.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{blobs, no_such_file, store_error};
use crate::files::{BlobError, sniff};
use crate::model::{Attachment, FileId};
use crate::server::AppState;
use crate::server::api::ApiError;
use crate::server::client::ReachedOverHttps;
use crate::server::own_account::signed_in;

/// No script, style, frame or plugin from the file's own origin, and a
/// sandbox even for a browser that renders it anyway.
pub(super) const FILE_CSP: &str = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox";

/// Files never change under their id: a browser may keep one for a day,
/// but only for its own user (`private`: no proxy or shared cache).
const FILE_CACHE: &str = "private, max-age=86400";

pub(in crate::server) async fn file(
    state: State<AppState>,
    https: ReachedOverHttps,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(state, https, &id, headers, Part::Original).await
}

/// `GET /api/files/ID/NAME`: the same, under a URL that ends in the name.
pub(in crate::server) async fn file_named(
    state: State<AppState>,
    https: ReachedOverHttps,
    Path((id, _name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(state, https, &id, headers, Part::Original).await
}

pub(in crate::server) async fn thumbnail(
    state: State<AppState>,
    https: ReachedOverHttps,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(state, https, &id, headers, Part::Thumbnail).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Original,
    Thumbnail,
}

async fn serve(
    State(state): State<AppState>,
    ReachedOverHttps(https): ReachedOverHttps,
    id: &str,
    headers: HeaderMap,
    part: Part,
) -> Result<Response, ApiError> {
    let (user, _) = signed_in(&state, &headers, https).await?;
    let id = FileId::parse(id).ok_or_else(no_such_file)?;
    let file = state.app.file_for(&user, &id).await.map_err(store_error)?.ok_or_else(no_such_file)?;
    if part == Part::Thumbnail && !file.thumbnail {
        return Err(no_such_file());
    }
    let key = match part {
        Part::Original => id.blob_key(),
        Part::Thumbnail => id.thumbnail_key(),
    };
    let size = match part {
        Part::Original => file.size,
        Part::Thumbnail => u64::MAX,
    };
    let range = match part {
        Part::Original => requested_range(&headers, size),
        Part::Thumbnail => Requested::Whole,
    };
    let range = match range {
        Requested::Unsatisfiable => return Ok(unsatisfiable(size)),
        Requested::Whole => None,
        Requested::Part(range) => Some(range),
    };
    let body = match blobs(&state)?.get(&key, range.clone()).await {
        Ok(body) => body,
        Err(BlobError::NotFound) => {
            tracing::warn!(key, "a file's row is there but its bytes are not");
            return Err(no_such_file());
        }
        Err(error) => {
            tracing::error!(%error, key, "cannot read a file");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "cannot read the file now",
            ));
        }
    };
    let status = if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let mut response = (status, Body::from_stream(body.stream)).into_response();
    let headers = response.headers_mut();
    set_file_headers(headers, &file, part);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.size));
    if let Some(range) = range {
        let content_range = format!("bytes {}-{}/{}", range.start, range.end - 1, size);
        if let Ok(value) = HeaderValue::from_str(&content_range) {
            headers.insert(header::CONTENT_RANGE, value);
        }
    }
    Ok(response)
}

/// The headers every file answer carries.
fn set_file_headers(headers: &mut HeaderMap, file: &Attachment, part: Part) {
    // An image natter could not read (a decompression bomb, a broken
    // file) has no thumbnail, and is only ever downloaded.
    let inline = part == Part::Thumbnail || (file.thumbnail && sniff::is_inline_image(&file.content_type));
    let content_type = match part {
        Part::Thumbnail => "image/png",
        // A type natter found in the bytes; anything shown as a download
        // is still labelled truly, as nothing is rendered from it.
        Part::Original => &file.content_type,
    };
    let disposition = content_disposition(if inline { "inline" } else { "attachment" }, &file.name);
    let fixed = [
        (header::CONTENT_TYPE, content_type),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, FILE_CSP),
        (header::CACHE_CONTROL, FILE_CACHE),
        (header::ACCEPT_RANGES, if part == Part::Original { "bytes" } else { "none" }),
        (header::HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
    ];
    for (name, value) in fixed {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
}

/// `inline` or `attachment` with the name twice: an ASCII fallback (quotes,
/// backslashes and non-ASCII replaced) and the exact name, percent-encoded
/// as RFC 6266 / 8187 have it.
pub(super) fn content_disposition(kind: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect();
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[derive(Debug, PartialEq, Eq)]
enum Requested {
    Whole,
    Part(std::ops::Range<u64>),
    Unsatisfiable,
}

/// The one byte range a `Range` header asks for. Anything natter does not
/// serve as a range (several ranges, other units, nonsense) gets the whole
/// file, as HTTP allows; a range wholly past the end is unsatisfiable.
fn requested_range(headers: &HeaderMap, size: u64) -> Requested {
    let Some(value) = headers.get(header::RANGE).and_then(|value| value.to_str().ok()) else {
        return Requested::Whole;
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return Requested::Whole };
    if spec.contains(',') {
        return Requested::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else { return Requested::Whole };
    let range = match (start.trim(), end.trim()) {
        ("", "") => return Requested::Whole,
        // The last N bytes.
        ("", last) => match last.parse::<u64>() {
            Ok(0) => return Requested::Unsatisfiable,
            Ok(last) => size.saturating_sub(last)..size,
            Err(_) => return Requested::Whole,
        },
        (start, end) => {
            let Ok(start) = start.parse::<u64>() else { return Requested::Whole };
            let end = match end {
                "" => size,
                end => match end.parse::<u64>() {
                    Ok(end) if end >= start => end.saturating_add(1).min(size),
                    _ => return Requested::Whole,
                },
            };
            if start >= size {
                return Requested::Unsatisfiable;
            }
            start..end
        }
    };
    if range.is_empty() { Requested::Unsatisfiable } else { Requested::Part(range) }
}

fn unsatisfiable(size: u64) -> Response {
    let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> Requested {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        requested_range(&headers, size)
    }

    #[test]
    fn ranges_are_read_as_http_has_them() {
        assert_eq!(range("bytes=0-99", 1000), Requested::Part(0..100));
        assert_eq!(range("bytes=900-", 1000), Requested::Part(900..1000));
        assert_eq!(range("bytes=-100", 1000), Requested::Part(900..1000));
        assert_eq!(range("bytes=-5000", 1000), Requested::Part(0..1000));
        assert_eq!(range("bytes=990-5000", 1000), Requested::Part(990..1000));
        assert_eq!(range("bytes=1000-", 1000), Requested::Unsatisfiable);
        assert_eq!(range("bytes=-0", 1000), Requested::Unsatisfiable);
        assert_eq!(range("bytes=0-1,5-9", 1000), Requested::Whole);
        assert_eq!(range("items=0-1", 1000), Requested::Whole);
        assert_eq!(range("bytes=9-1", 1000), Requested::Whole);
        assert_eq!(range("bytes=x-1", 1000), Requested::Whole);
        assert_eq!(requested_range(&HeaderMap::new(), 1000), Requested::Whole);
    }

    #[test]
    fn download_names_are_quoted_safely() {
        assert_eq!(
            content_disposition("attachment", "a \"b\".txt"),
            "attachment; filename=\"a _b_.txt\"; filename*=UTF-8''a%20%22b%22.txt"
        );
        assert_eq!(
            content_disposition("inline", "é.png"),
            "inline; filename=\"_.png\"; filename*=UTF-8''%C3%A9.png"
        );
    }
}
