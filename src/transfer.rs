//! `natter export` and `natter import` without a database: the export's
//! format (JSON Lines, one file per kind of record, and a manifest;
//! docs/export.md says what every field means), writing it to a directory
//! and reading it back with every line checked.
//!
//! `format` holds the records as they are written, the only serde shapes of
//! an export; `write` makes the directory's files; `read` reads them back a
//! line at a time, within the line limit, in the order a database needs
//! them (users before what names them, messages in seq order), and `check`
//! holds each line to the product's limits and to the lines before it.
//! This module knows no SQL: the store reads the rows for an export and
//! writes an import's, each in one transaction (`store::transfer`).

mod check;
mod format;
mod read;
mod write;

use std::io;
use std::path::PathBuf;

pub use check::ChannelKeys;
pub use format::{
    ChannelLine, Counts, DeletedBy, FORMAT_VERSION, Kind, Manifest, MemberLine, MessageLine, Notify,
    ReactionLine, SystemAction, SystemLine, UserLine,
};
pub use read::{ImportReader, Numbered, Record};
pub use write::ExportWriter;

/// The files of an export, in the order they are written and read.
pub const USERS: &str = "users.jsonl";
pub const CHANNELS: &str = "channels.jsonl";
pub const MEMBERS: &str = "members.jsonl";
pub const MESSAGES: &str = "messages.jsonl";
pub const REACTIONS: &str = "reactions.jsonl";
/// Written last, so an export without it is unfinished and is never imported.
pub const MANIFEST: &str = "manifest.json";

/// The record files, in the order they are written and read, and in the
/// order of [`Counts`]' fields.
const FILES: [&str; 5] = [USERS, CHANNELS, MEMBERS, MESSAGES, REACTIONS];

/// Longest line an import reads, in bytes. The longest line natter writes,
/// a message of 4,000 characters (at most 16,000 bytes of UTF-8, which JSON
/// keeps as it is) with its other fields, stays far under it; a longer one
/// is damage or a file that is not an export, and is refused before it is
/// held whole.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What is wrong with an export's directory or files, or with a line in
/// them. Nothing was written to the database when an import says so.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A line that cannot be imported: `file` is its name in the export's
    /// directory, `line` counts from 1.
    #[error("{file}:{line}: {reason}")]
    Line { file: &'static str, line: u64, reason: String },
    /// A whole file: missing, unreadable, or not holding what the manifest
    /// says.
    #[error("{file}: {reason}")]
    File { file: &'static str, reason: String },
    /// The directory itself (an export's destination that is not empty).
    #[error("{}: {reason}", path.display())]
    Directory { path: PathBuf, reason: String },
    #[error("{what}: {error}")]
    Io { what: String, error: io::Error },
}

impl FileError {
    pub(crate) fn line(file: &'static str, line: u64, reason: impl Into<String>) -> Self {
        FileError::Line { file, line, reason: reason.into() }
    }

    fn file(file: &'static str, reason: impl Into<String>) -> Self {
        FileError::File { file, reason: reason.into() }
    }

    fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let what = what.into();
        move |error| FileError::Io { what, error }
    }
}
