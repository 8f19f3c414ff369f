//! The web UI: files from `web/`, embedded in the binary (read from disk in
//! debug builds, so UI work needs no rebuild). No build step, no CDN.

use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web/"]
struct WebAssets;

pub(super) async fn static_file(method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response();
    }
    let path = match uri.path().trim_start_matches('/') {
        "" => "index.html",
        path => path,
    };
    match WebAssets::get(path) {
        Some(file) => {
            // Revalidate every time: after an upgrade the page and its modules
            // must come from the same build.
            (
                [
                    (header::CONTENT_TYPE, content_type(file.metadata.mimetype())),
                    (header::CACHE_CONTROL, "no-cache".to_owned()),
                ],
                file.data.into_owned(),
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The `Content-Type` of a file of `mime_type` (which rust-embed guesses from
/// its extension, `application/octet-stream` when it has no idea). The UI's
/// text files are UTF-8, and saying so keeps a browser from guessing.
fn content_type(mime_type: &str) -> String {
    if mime_type.starts_with("text/") { format!("{mime_type}; charset=utf-8") } else { mime_type.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ui_files_have_their_types_and_text_says_utf_8() {
        let type_of = |path: &str| content_type(WebAssets::get(path).expect(path).metadata.mimetype());
        assert_eq!(type_of("index.html"), "text/html; charset=utf-8");
        assert_eq!(type_of("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(type_of("style.css"), "text/css; charset=utf-8");
        assert_eq!(type_of("favicon.svg"), "image/svg+xml");
    }
}
