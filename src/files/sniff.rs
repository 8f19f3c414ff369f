//! A file's type from its first bytes, never from its name.
//!
//! The answer is sent as the file's `Content-Type`, so it must never be a
//! type a browser runs: no HTML, SVG, XML or script type can come out of
//! here. An HTML or SVG upload is plain text (or bytes); served with
//! `nosniff`, a browser shows it as text and runs nothing.

/// How many bytes of the file's start [`content_type`] looks at.
pub const SNIFF_BYTES: usize = 512;

/// The type of a file that starts with `head` (give it the first
/// [`SNIFF_BYTES`], or the whole file when shorter).
pub fn content_type(head: &[u8]) -> &'static str {
    let head = &head[..head.len().min(SNIFF_BYTES)];
    if let Some(found) = by_signature(head) {
        return found;
    }
    if is_utf8_text(head) { "text/plain" } else { "application/octet-stream" }
}

/// Whether a file of `content_type` is shown inline, in the page: the
/// raster formats every browser decodes safely and natter can thumbnail.
pub fn is_inline_image(content_type: &str) -> bool {
    matches!(content_type, "image/png" | "image/jpeg" | "image/gif" | "image/webp")
}

/// The formats told by a fixed signature. Every type here is inert data.
fn by_signature(head: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, signature: &[u8]| head.get(offset..offset + signature.len()) == Some(signature);
    let found = if at(0, b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if at(0, b"\xff\xd8\xff") {
        "image/jpeg"
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        "image/gif"
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        "image/webp"
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        "audio/wav"
    } else if at(0, b"%PDF-") {
        "application/pdf"
    } else if at(0, b"PK\x03\x04") || at(0, b"PK\x05\x06") {
        "application/zip"
    } else if at(0, b"\x1f\x8b\x08") {
        "application/gzip"
    } else if at(4, b"ftyp") {
        iso_media_type(head.get(8..12)?)
    } else if at(0, b"OggS") {
        "audio/ogg"
    } else if at(0, b"ID3") || is_mp3_frame(head) {
        "audio/mpeg"
    } else {
        return None;
    };
    Some(found)
}

/// ISO base media files (`....ftyp<brand>`) by their major brand: most are
/// MP4 video, but QuickTime, M4A audio and the AVIF and HEIC images share
/// the box.
fn iso_media_type(brand: &[u8]) -> &'static str {
    match brand {
        b"qt  " => "video/quicktime",
        b"M4A " | b"M4B " => "audio/mp4",
        b"avif" | b"avis" => "image/avif",
        b"heic" | b"heix" | b"mif1" | b"msf1" => "image/heic",
        _ => "video/mp4",
    }
}

/// An MPEG audio frame header for layer III (an MP3 without an ID3 tag):
/// eleven set sync bits, then a version that is not "reserved" and the
/// layer bits `01`.
fn is_mp3_frame(head: &[u8]) -> bool {
    match head {
        [0xff, second, ..] => {
            second & 0xe0 == 0xe0 && (second >> 3) & 0b11 != 0b01 && (second >> 1) & 0b11 == 0b01
        }
        _ => false,
    }
}

/// Valid UTF-8 without NUL. A sample cut in the middle of a character still
/// counts: only a broken sequence before the last three bytes disqualifies.
fn is_utf8_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // `error_len() == None`: the input ended inside a character.
        Err(error) => error.error_len().is_none() && head.len() - error.valid_up_to() < 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Types a browser would render or run, which must never come out.
    fn is_active(content_type: &str) -> bool {
        content_type.contains("html")
            || content_type.contains("xml")
            || content_type.contains("svg")
            || content_type.contains("script")
    }

    #[test]
    fn signatures() {
        let cases: &[(&[u8], &str)] = &[
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image/png"),
            (b"\xff\xd8\xff\xe0\0\x10JFIF\0", "image/jpeg"),
            (b"GIF89a\x01\0\x01\0", "image/gif"),
            (b"GIF87a\x01\0\x01\0", "image/gif"),
            (b"RIFF\x24\0\0\0WEBPVP8 ", "image/webp"),
            (b"RIFF\x24\0\0\0WAVEfmt ", "audio/wav"),
            (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "application/pdf"),
            (b"PK\x03\x04\x14\0\0\0\x08\0", "application/zip"),
            (b"\x1f\x8b\x08\0\0\0\0\0", "application/gzip"),
            (b"\0\0\0\x20ftypisom\0\0\x02\0", "video/mp4"),
            (b"\0\0\0\x14ftypqt  \0\0\0\0", "video/quicktime"),
            (b"\0\0\0\x1cftypavif\0\0\0\0", "image/avif"),
            (b"OggS\0\x02\0\0\0\0", "audio/ogg"),
            (b"ID3\x04\0\0\0\0\0\0", "audio/mpeg"),
            (b"\xff\xfb\x90\x64\0\0", "audio/mpeg"),
            (b"\x00\x01\x02\x03\xff\xfe", "application/octet-stream"),
        ];
        for (head, expected) in cases {
            assert_eq!(content_type(head), *expected, "{head:?}");
        }
    }

    #[test]
    fn text_is_plain_and_binary_is_bytes() {
        assert_eq!(content_type("Grüße, 世界\n".as_bytes()), "text/plain");
        assert_eq!(content_type(b"a\0b"), "application/octet-stream");
        assert_eq!(content_type(b"\xc3\x28 invalid"), "application/octet-stream");
        // UTF-16 (a BOM and NULs) is not taken for text it cannot be shown as.
        assert_eq!(content_type(b"\xff\xfeh\0i\0"), "application/octet-stream");
    }

    #[test]
    fn a_sample_cut_inside_a_character_is_still_text() {
        let mut text = "x".repeat(SNIFF_BYTES - 1).into_bytes();
        text.extend("€".as_bytes());
        assert_eq!(content_type(&text[..SNIFF_BYTES]), "text/plain");
    }

    #[test]
    fn html_and_svg_are_never_active_types() {
        let uploads: &[&[u8]] = &[
            b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
            b"<html><head><title>x</title></head></html>",
            b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            b"<svg onload=\"alert(1)\" xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"\xef\xbb\xbf<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            b"\xff\xfe<\0s\0v\0g\0>\0",
            b"<script>fetch('/api/files')</script>",
        ];
        for upload in uploads {
            let found = content_type(upload);
            assert!(!is_active(found), "{found} for {:?}", String::from_utf8_lossy(upload));
            assert!(found == "text/plain" || found == "application/octet-stream", "{found}");
            assert!(!is_inline_image(found));
        }
    }

    #[test]
    fn a_text_file_named_png_is_text() {
        // The name is never consulted: only the bytes, which are text.
        let pretend_png = b"this file is called cat.png but it is not a picture\n";
        assert_eq!(content_type(pretend_png), "text/plain");
        assert!(!is_inline_image(content_type(pretend_png)));
    }

    #[test]
    fn inline_images_are_the_four_raster_formats() {
        for inline in ["image/png", "image/jpeg", "image/gif", "image/webp"] {
            assert!(is_inline_image(inline));
        }
        for other in ["image/svg+xml", "image/avif", "text/plain", "application/pdf", "video/mp4"] {
            assert!(!is_inline_image(other));
        }
    }

    #[test]
    fn short_and_empty_heads_do_not_panic() {
        for length in 0..16 {
            let head = &b"\x89PNG\r\n\x1a\nRIFF....WEBP"[..length];
            let _ = content_type(head);
        }
        assert_eq!(content_type(b"\0\0\0\x08ftyp"), "application/octet-stream");
    }
}
