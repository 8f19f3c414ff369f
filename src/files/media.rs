//! Images: their size from the header, and thumbnails as PNG.
//!
//! Only the four inline formats (PNG, JPEG, GIF, WebP), told by their
//! bytes through [`super::sniff`]. An upload is hostile until decoded: the
//! pixel count its header claims is checked before any decoding, so a small
//! file that claims a huge picture (a decompression bomb) never gets its
//! buffer allocated, and the decoder runs under `image`'s limits as a
//! second guard. Everything here blocks and burns CPU: callers run it in
//! `spawn_blocking`.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::sniff;

/// The most pixels natter decodes (50 megapixels: a large camera photo).
/// A bigger image is stored and served, but gets no thumbnail.
pub const MAX_IMAGE_PIXELS: u64 = 50_000_000;

/// The longest side the decoder accepts: a panorama may be long and thin,
/// but no real image is wider than this within [`MAX_IMAGE_PIXELS`].
const MAX_IMAGE_SIDE: u32 = 50_000;

/// The decoder's allocation limit: [`MAX_IMAGE_PIXELS`] at the widest pixel
/// these formats decode to (16-bit RGBA, 8 bytes).
const MAX_DECODE_BYTES: u64 = MAX_IMAGE_PIXELS * 8;

/// How much of a JPEG is read to find its size: the JPEG decoder reads its
/// whole input into memory, and a header (with EXIF, ICC and XMP segments
/// of at most 64 KiB each) fits well within this.
const JPEG_HEADER_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("reading or writing an image file: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the thumbnail: {0}")]
    Encode(String),
}

/// What an image's header says.
struct Header {
    format: ImageFormat,
    width: u32,
    height: u32,
    orientation: Orientation,
}

impl Header {
    fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Width and height as shown: browsers apply a JPEG's EXIF rotation.
    fn shown_size(&self) -> (u32, u32) {
        match self.orientation {
            Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH => (self.height, self.width),
            _ => (self.width, self.height),
        }
    }
}

/// Width and height (as shown, after EXIF rotation) from the header alone,
/// without decoding; `None` when the file is not a PNG, JPEG, GIF or WebP
/// natter can read.
pub fn probe(path: &Path) -> Option<(u32, u32)> {
    read_header(path).ok().flatten().map(|header| header.shown_size())
}

/// Writes a PNG of the image at `path` to `out`, at most `max_side` pixels
/// on each side (never enlarged), and returns the original's width and
/// height (as shown). `Ok(None)`, with nothing written, when the file is not
/// a readable image or claims more than [`MAX_IMAGE_PIXELS`]; an error only
/// when a file cannot be read or written.
pub fn thumbnail(path: &Path, out: &Path, max_side: u32) -> Result<Option<(u32, u32)>, MediaError> {
    let Some(header) = read_header(path)? else { return Ok(None) };
    if header.pixels() > MAX_IMAGE_PIXELS {
        return Ok(None);
    }
    let Some(mut image) = decode(path, header.format)? else { return Ok(None) };
    image.apply_orientation(header.orientation);
    let thumb = if image.width() > max_side || image.height() > max_side {
        image.thumbnail(max_side, max_side)
    } else {
        image
    };
    thumb.save_with_format(out, ImageFormat::Png).map_err(|error| match error {
        image::ImageError::IoError(error) => MediaError::Io(error),
        other => MediaError::Encode(other.to_string()),
    })?;
    Ok(Some(header.shown_size()))
}

/// The format told by the file's first bytes, if it is one of the four.
fn format_of(file: &mut File) -> std::io::Result<Option<ImageFormat>> {
    let mut head = Vec::with_capacity(16);
    file.by_ref().take(16).read_to_end(&mut head)?;
    file.rewind()?;
    Ok(match sniff::content_type(&head) {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    })
}

fn read_header(path: &Path) -> std::io::Result<Option<Header>> {
    let mut file = File::open(path)?;
    let Some(format) = format_of(&mut file)? else { return Ok(None) };
    if format == ImageFormat::Jpeg {
        let mut start = Vec::new();
        file.take(JPEG_HEADER_BYTES).read_to_end(&mut start)?;
        Ok(header_from(Cursor::new(start), format))
    } else {
        Ok(header_from(BufReader::new(file), format))
    }
}

/// Reads the header only: the decoders parse it when made and decode
/// nothing until asked.
fn header_from(reader: impl BufRead + Seek, format: ImageFormat) -> Option<Header> {
    let mut decoder = ImageReader::with_format(reader, format).into_decoder().ok()?;
    let (width, height) = decoder.dimensions();
    // A broken EXIF block is no reason to refuse the picture.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Some(Header { format, width, height, orientation })
}

/// Decodes the first frame under the limits; `None` when the decoder
/// refuses or the data is broken.
fn decode(path: &Path, format: ImageFormat) -> std::io::Result<Option<DynamicImage>> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = ImageReader::with_format(BufReader::new(File::open(path)?), format);
    reader.limits(limits.clone());
    // `into_decoder` checks the dimensions against the limits; the output
    // buffer is reserved against them here, as `ImageReader::decode` does.
    let Ok(decoder) = reader.into_decoder() else { return Ok(None) };
    if limits.reserve(decoder.total_bytes()).is_err() {
        return Ok(None);
    }
    Ok(DynamicImage::from_decoder(decoder).ok())
}

#[cfg(test)]
mod tests;
