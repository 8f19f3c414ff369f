//! Files people share: the id a file is known by, the metadata a message
//! carries of each attachment, and the rules for a file's name. The bytes
//! live in a file store (`crate::files`), the metadata in the database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::is_bidi_control;

/// Most files one message carries.
pub const MAX_FILES_PER_MESSAGE: usize = 10;

/// Longest file name kept, in bytes (what common file systems allow).
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// A file's id: 16 random bytes, URL-safe base64 (22 characters). Random,
/// not counted, so ids say nothing about how many files exist, and one
/// cannot be guessed from another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(String);

impl FileId {
    pub const LEN: usize = 22;

    /// A new id from the operating system's randomness.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system provides randomness");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// An id as a client or a row gives it: exactly 22 URL-safe base64
    /// characters, so it is also safe as part of a storage key or a path.
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = raw.len() == Self::LEN
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the file's bytes are kept in the file store.
    pub fn blob_key(&self) -> String {
        format!("f/{}", self.0)
    }

    /// Where its thumbnail is kept, if it has one.
    pub fn thumbnail_key(&self) -> String {
        format!("t/{}", self.0)
    }
}

/// A file attached to a message (or uploaded to be), as everyone who may
/// see it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: FileId,
    /// The name it was uploaded under, made safe ([`sanitise_file_name`]).
    pub name: String,
    pub size: u64,
    /// Worked out from the bytes, never from the name or the uploader's word.
    pub content_type: String,
    /// Width and height in pixels, for an image natter could read.
    pub dimensions: Option<(u32, u32)>,
    /// A thumbnail exists ([`FileId::thumbnail_key`]).
    pub thumbnail: bool,
}

/// A file name as an uploader gives it, made safe to show and to offer as
/// a download name: only its last path component (no `../`, no folders
/// of either kind of slash), without control or bidi characters (which
/// can disguise `exe.pdf` as `fdp.exe`), without leading dots (no hidden
/// or `..` names), cut to [`MAX_FILE_NAME_BYTES`] on a character
/// boundary; `file` when nothing is left.
pub fn sanitise_file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control() && !is_bidi_control(*c)).collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let mut name = String::new();
    for c in trimmed.chars() {
        if name.len() + c.len_utf8() > MAX_FILE_NAME_BYTES {
            break;
        }
        name.push(c);
    }
    if name.is_empty() { "file".to_owned() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_url_safe_and_checked() {
        let (a, b) = (FileId::generate(), FileId::generate());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), FileId::LEN);
        assert_eq!(FileId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(a.blob_key(), format!("f/{}", a.as_str()));
        assert!(FileId::parse("../../../../etc/passwd00").is_none());
        assert!(FileId::parse("short").is_none());
        assert!(FileId::parse(&"a".repeat(23)).is_none());
        assert!(FileId::parse("aaaaaaaaaaaaaaaaaaaa/a").is_none());
    }

    #[test]
    fn file_names_lose_paths_controls_and_leading_dots() {
        assert_eq!(sanitise_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitise_file_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(sanitise_file_name("C:\\Users\\me\\report.pdf"), "report.pdf");
        assert_eq!(sanitise_file_name(".."), "file");
        assert_eq!(sanitise_file_name(".bashrc"), "bashrc");
        assert_eq!(sanitise_file_name("a\u{202e}fdp.exe"), "afdp.exe");
        assert_eq!(sanitise_file_name("new\nline.txt"), "newline.txt");
        assert_eq!(sanitise_file_name("  "), "file");
        assert_eq!(sanitise_file_name("photo 1.png"), "photo 1.png");
        let long = sanitise_file_name(&"é".repeat(300));
        assert!(long.len() <= MAX_FILE_NAME_BYTES && long.chars().all(|c| c == 'é'));
    }
}
