//! Reading an export back: the manifest first (its format, and how many
//! lines each file holds), then the files one line at a time in the order a
//! database needs them: users, channels, members, messages, reactions.
//! Each line is held to [`MAX_LINE_BYTES`], parsed into its record and
//! checked (`check`) before it is handed on; a file that ends early, a
//! line cut short, or a count that differs from the manifest's is an
//! error naming the file (and the line).
//!
//! Reads block; the store's import calls it from its own thread (SQLite's
//! writer) or from the import command's task (PostgreSQL).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::de::DeserializeOwned;

use super::check::{ChannelKeys, Checker};
use super::format::{
    ChannelLine, Counts, FORMAT_VERSION, Manifest, MemberLine, MessageLine, ReactionLine, UserLine,
};
use super::{CHANNELS, FILES, FileError, MANIFEST, MAX_LINE_BYTES, MEMBERS, MESSAGES, USERS};

/// One checked record of an export.
#[derive(Debug, Clone)]
pub enum Record {
    /// A user, and the key their name is stored under.
    User(UserLine, String),
    Channel(ChannelLine, ChannelKeys),
    Member(MemberLine),
    Message(MessageLine),
    Reaction(ReactionLine),
}

/// A record and where it was read.
#[derive(Debug, Clone)]
pub struct Numbered {
    pub file: &'static str,
    /// From 1.
    pub line: u64,
    pub record: Record,
}

impl Numbered {
    /// The error for this line, which the database refused for `reason`.
    pub fn refuse(&self, reason: impl Into<String>) -> FileError {
        FileError::line(self.file, self.line, reason)
    }
}

/// An export being read, a record at a time ([`ImportReader::next_record`]).
pub struct ImportReader {
    manifest: Manifest,
    /// One per name in [`FILES`], opened up front, so a missing file is
    /// found before anything is imported.
    files: Vec<BufReader<File>>,
    /// The index in [`FILES`] of the file being read; `FILES.len()` once
    /// all are read.
    reading: usize,
    /// Lines read from it so far.
    line: u64,
    buffer: Vec<u8>,
    checker: Checker,
}

impl ImportReader {
    /// Opens the export in `dir`: reads and checks its manifest, and opens
    /// every file.
    pub fn open(dir: &Path) -> Result<Self, FileError> {
        let manifest = read_manifest(dir)?;
        let mut files = Vec::with_capacity(FILES.len());
        for name in FILES {
            let file = File::open(dir.join(name)).map_err(|error| match error.kind() {
                std::io::ErrorKind::NotFound => FileError::file(name, "missing: the export is incomplete"),
                _ => FileError::io(format!("cannot open {name}"))(error),
            })?;
            files.push(BufReader::with_capacity(64 * 1024, file));
        }
        Ok(Self { manifest, files, reading: 0, line: 0, buffer: Vec::new(), checker: Checker::default() })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The next record, checked; `None` after the last line of the last
    /// file, once every file has held the lines its manifest counts.
    pub fn next_record(&mut self) -> Result<Option<Numbered>, FileError> {
        while self.reading < FILES.len() {
            let file = FILES[self.reading];
            if !self.read_line()? {
                self.end_of_file()?;
                self.reading += 1;
                self.line = 0;
                continue;
            }
            let line = self.line;
            let refuse = |reason: String| FileError::line(file, line, reason);
            let record = match file {
                USERS => {
                    let user: UserLine = self.parse()?;
                    let key = self.checker.user(&user).map_err(refuse)?;
                    Record::User(user, key)
                }
                CHANNELS => {
                    let channel: ChannelLine = self.parse()?;
                    let keys = self.checker.channel(&channel, line).map_err(refuse)?;
                    Record::Channel(channel, keys)
                }
                MEMBERS => {
                    let member: MemberLine = self.parse()?;
                    self.checker.member(&member).map_err(refuse)?;
                    Record::Member(member)
                }
                MESSAGES => {
                    let message: MessageLine = self.parse()?;
                    self.checker.message(&message).map_err(refuse)?;
                    Record::Message(message)
                }
                _ => {
                    let reaction: ReactionLine = self.parse()?;
                    self.checker.reaction(&reaction).map_err(refuse)?;
                    Record::Reaction(reaction)
                }
            };
            return Ok(Some(Numbered { file, line, record }));
        }
        Ok(None)
    }

    /// Reads the next line of the current file into the buffer, without
    /// its line break; false at the end of the file.
    fn read_line(&mut self) -> Result<bool, FileError> {
        let file = FILES[self.reading];
        self.buffer.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let read = (&mut self.files[self.reading])
            .take(limit)
            .read_until(b'\n', &mut self.buffer)
            .map_err(|error| FileError::io(format!("cannot read {file}"))(error))?;
        if read == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buffer.pop() != Some(b'\n') {
            let reason = if read as u64 == limit {
                format!("the line is longer than {MAX_LINE_BYTES} bytes")
            } else {
                "the line is cut short (no line break at its end): the file is truncated".to_owned()
            };
            return Err(FileError::line(file, self.line, reason));
        }
        let expected = expected_lines(&self.manifest.counts, self.reading);
        if self.line > expected {
            return Err(FileError::line(file, self.line, format!("{MANIFEST} counts {expected} lines here")));
        }
        Ok(true)
    }

    fn parse<T: DeserializeOwned>(&self) -> Result<T, FileError> {
        let file = FILES[self.reading];
        serde_json::from_slice(&self.buffer)
            .map_err(|error| FileError::line(file, self.line, error.to_string()))
    }

    /// The checks at the end of the current file.
    fn end_of_file(&self) -> Result<(), FileError> {
        let file = FILES[self.reading];
        let expected = expected_lines(&self.manifest.counts, self.reading);
        if self.line != expected {
            return Err(FileError::file(
                file,
                format!(
                    "holds {} lines, but {MANIFEST} counts {expected}: the file is truncated or not of this export",
                    self.line
                ),
            ));
        }
        match file {
            CHANNELS => self.checker.channels_done().map_err(|reason| FileError::file(CHANNELS, reason)),
            MESSAGES => {
                self.checker.messages_done().map_err(|(line, reason)| FileError::line(CHANNELS, line, reason))
            }
            _ => Ok(()),
        }
    }
}

/// The lines the manifest counts for the file at `index` of [`FILES`].
fn expected_lines(counts: &Counts, index: usize) -> u64 {
    [counts.users, counts.channels, counts.members, counts.messages, counts.reactions][index]
}

fn read_manifest(dir: &Path) -> Result<Manifest, FileError> {
    let file = File::open(dir.join(MANIFEST)).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => {
            FileError::file(MANIFEST, format!("missing: {} holds no finished export", dir.display()))
        }
        _ => FileError::io(format!("cannot open {MANIFEST}"))(error),
    })?;
    let mut text = Vec::new();
    file.take(MAX_LINE_BYTES as u64 + 1)
        .read_to_end(&mut text)
        .map_err(FileError::io(format!("cannot read {MANIFEST}")))?;
    if text.len() > MAX_LINE_BYTES {
        return Err(FileError::file(MANIFEST, format!("longer than {MAX_LINE_BYTES} bytes")));
    }
    // The format first, so another format's manifest is named as such.
    let format = serde_json::from_slice::<serde_json::Value>(&text)
        .map_err(|error| FileError::file(MANIFEST, error.to_string()))?
        .get("format")
        .and_then(serde_json::Value::as_u64);
    if format != Some(u64::from(FORMAT_VERSION)) {
        let found = format.map_or_else(|| "none".to_owned(), |format| format.to_string());
        return Err(FileError::file(
            MANIFEST,
            format!("format {found}; this natter reads format {FORMAT_VERSION} only"),
        ));
    }
    serde_json::from_slice(&text).map_err(|error| FileError::file(MANIFEST, error.to_string()))
}
