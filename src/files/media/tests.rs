//! Real images made with the `image` crate, and hostile ones made by hand.

use std::path::{Path, PathBuf};

use image::{ImageFormat, Rgb, RgbImage};

use super::{probe, thumbnail};

fn picture(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 128]))
}

fn saved(dir: &Path, name: &str, image: &RgbImage, format: ImageFormat) -> PathBuf {
    let path = dir.join(name);
    image.save_with_format(&path, format).unwrap();
    path
}

fn written(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The size of the picture at `path`, decoded (its format from its bytes).
fn decoded_size(path: &Path) -> (u32, u32) {
    let image = image::ImageReader::open(path).unwrap().with_guessed_format().unwrap().decode().unwrap();
    (image.width(), image.height())
}

/// CRC-32 (ISO-HDLC, as PNG chunks use), bit by bit: test data is tiny.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let mut covered = kind.to_vec();
    covered.extend_from_slice(data);
    chunk.extend_from_slice(&crc32(&covered).to_be_bytes());
    chunk
}

/// A well-formed PNG header claiming `width` x `height` RGBA pixels, with a
/// tiny IDAT (an empty zlib stream): some hundred bytes that would decode
/// to width * height * 4 bytes.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, no filter, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

#[test]
fn the_crc_is_png_s() {
    // The IEND chunk's CRC, as every PNG ends with it.
    assert_eq!(crc32(b"IEND"), 0xae42_6082);
}

#[test]
fn a_png_is_probed_and_thumbnailed() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path(), "photo", &picture(800, 600), ImageFormat::Png);
    assert_eq!(probe(&path), Some((800, 600)));

    let out = dir.path().join("thumb");
    assert_eq!(thumbnail(&path, &out, 400).unwrap(), Some((800, 600)));
    assert_eq!(decoded_size(&out), (400, 300));
    assert_eq!(std::fs::read(&out).unwrap()[..8], *b"\x89PNG\r\n\x1a\n");
}

#[test]
fn a_small_image_is_not_enlarged() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path(), "icon", &picture(120, 40), ImageFormat::Png);
    let out = dir.path().join("thumb");
    assert_eq!(thumbnail(&path, &out, 400).unwrap(), Some((120, 40)));
    assert_eq!(decoded_size(&out), (120, 40));
}

#[test]
fn jpeg_gif_and_webp_are_read_too() {
    let dir = tempfile::tempdir().unwrap();
    let image = picture(300, 900);
    for (name, format) in
        [("a.jpg", ImageFormat::Jpeg), ("a.gif", ImageFormat::Gif), ("a.webp", ImageFormat::WebP)]
    {
        let path = saved(dir.path(), name, &image, format);
        assert_eq!(probe(&path), Some((300, 900)), "{name}");
        let out = dir.path().join(format!("{name}.thumb"));
        assert_eq!(thumbnail(&path, &out, 300).unwrap(), Some((300, 900)), "{name}");
        assert_eq!(decoded_size(&out), (100, 300), "{name}");
    }
}

#[test]
fn what_is_not_an_image_gets_no_size_and_no_thumbnail() {
    let dir = tempfile::tempdir().unwrap();
    let text = written(dir.path(), "cat.png", b"this file is called cat.png but it is text\n");
    let svg = written(
        dir.path(),
        "x.svg",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>",
    );
    let empty = written(dir.path(), "empty.png", b"");
    let out = dir.path().join("thumb");
    for path in [&text, &svg, &empty] {
        assert_eq!(probe(path), None, "{}", path.display());
        assert_eq!(thumbnail(path, &out, 400).unwrap(), None, "{}", path.display());
    }
    assert!(!out.exists(), "nothing written");
}

#[test]
fn a_broken_image_body_gets_no_thumbnail() {
    let dir = tempfile::tempdir().unwrap();
    // A real header with its picture data missing.
    let path = written(dir.path(), "cut.png", &png_claiming(64, 64));
    assert_eq!(probe(&path), Some((64, 64)));
    assert_eq!(thumbnail(&path, &dir.path().join("thumb"), 400).unwrap(), None);
}

#[test]
fn a_missing_file_is_an_error_for_thumbnail() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(probe(&dir.path().join("gone")), None);
    assert!(thumbnail(&dir.path().join("gone"), &dir.path().join("thumb"), 400).is_err());
}

#[test]
fn a_png_bomb_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = png_claiming(100_000, 100_000);
    assert!(bomb.len() < 100, "a tiny file");
    let path = written(dir.path(), "bomb.png", &bomb);
    // Its header is read like any other...
    assert_eq!(probe(&path), Some((100_000, 100_000)));
    // ...but its 10 gigapixels (40 GB as RGBA) are over MAX_IMAGE_PIXELS
    // and never asked for.
    let out = dir.path().join("thumb");
    assert_eq!(thumbnail(&path, &out, 400).unwrap(), None);
    assert!(!out.exists());
}

#[test]
fn a_long_thin_png_under_the_pixel_limit_meets_the_decoder_limits() {
    // 60000 x 10 is few pixels, but wider than any side the decoder takes.
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), "strip.png", &png_claiming(60_000, 10));
    assert_eq!(thumbnail(&path, &dir.path().join("thumb"), 400).unwrap(), None);
}

#[test]
fn a_jpeg_claiming_huge_dimensions_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut jpeg = Vec::new();
    picture(16, 16).write_to(&mut std::io::Cursor::new(&mut jpeg), ImageFormat::Jpeg).unwrap();
    // Rewrite the frame header (SOF0: FF C0, length, precision, height,
    // width) to claim 65000 x 65000: about 4.2 gigapixels.
    let sof = jpeg.windows(2).position(|pair| pair == [0xff, 0xc0]).expect("a baseline JPEG has SOF0");
    jpeg[sof + 5..sof + 7].copy_from_slice(&65_000u16.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&65_000u16.to_be_bytes());
    let path = written(dir.path(), "bomb.jpg", &jpeg);
    assert_eq!(probe(&path), Some((65_000, 65_000)));
    let out = dir.path().join("thumb");
    assert_eq!(thumbnail(&path, &out, 400).unwrap(), None);
    assert!(!out.exists());
}

#[test]
fn the_decoder_limits_alone_refuse_a_bomb_too() {
    // The second guard, without the header check in front of it.
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), "bomb.png", &png_claiming(100_000, 100_000));
    assert!(super::decode(&path, ImageFormat::Png).unwrap().is_none());
}
