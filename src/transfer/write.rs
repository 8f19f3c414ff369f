//! Writing an export: a new or empty directory, one JSON Lines file per
//! kind of record, written as the store hands over its rows (nothing is
//! held but a write buffer per file), then synced, and `manifest.json` last.
//! An export that does not finish leaves nothing behind: its files go (and
//! the directory, if the export made it) when the writer is dropped
//! unfinished.
//!
//! The files are written with plain blocking writes, from whichever thread
//! reads the rows (a SQLite reader's own thread, or the export command's
//! task on PostgreSQL): an export is a command of its own, never part of a
//! serving process.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::format::{
    ChannelLine, Counts, FORMAT_VERSION, Manifest, MemberLine, MessageLine, ReactionLine, UserLine,
};
use super::{FILES, FileError, MANIFEST};
use crate::model::now_millis;

/// An export being written. Rows go to their file as they come; the store
/// hands them over in the order `docs/export.md` gives.
pub struct ExportWriter {
    dir: PathBuf,
    /// Whether this export made the directory (and so removes it if it
    /// does not finish).
    made_dir: bool,
    /// One per name in [`FILES`]; empty once finished.
    files: Vec<BufWriter<fs::File>>,
    counts: Counts,
    exported_at: i64,
    /// One line's JSON, reused.
    line: Vec<u8>,
    finished: bool,
}

impl ExportWriter {
    /// Starts an export into `dir`, which must be empty or not exist yet (it
    /// is made then, with its parents). The files are readable by their
    /// owner only: they hold every message.
    pub fn create(dir: &Path) -> Result<Self, FileError> {
        let made_dir = match fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(FileError::Directory {
                        path: dir.to_owned(),
                        reason: "is not empty; natter export writes only into a new or empty directory"
                            .into(),
                    });
                }
                false
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let mut builder = fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(dir).map_err(FileError::io(format!("cannot create {}", dir.display())))?;
                true
            }
            Err(error) if error.kind() == io::ErrorKind::NotADirectory => {
                return Err(FileError::Directory {
                    path: dir.to_owned(),
                    reason: "is not a directory".into(),
                });
            }
            Err(error) => return Err(FileError::io(format!("cannot read {}", dir.display()))(error)),
        };
        let mut writer = Self {
            dir: dir.to_owned(),
            made_dir,
            files: Vec::with_capacity(FILES.len()),
            counts: Counts::default(),
            exported_at: now_millis(),
            line: Vec::with_capacity(1024),
            finished: false,
        };
        for name in FILES {
            let file = new_file(&writer.dir.join(name))?;
            writer.files.push(BufWriter::with_capacity(64 * 1024, file));
        }
        Ok(writer)
    }

    pub fn user(&mut self, user: &UserLine) -> Result<(), FileError> {
        self.write(0, user)?;
        self.counts.users += 1;
        Ok(())
    }

    pub fn channel(&mut self, channel: &ChannelLine) -> Result<(), FileError> {
        self.write(1, channel)?;
        self.counts.channels += 1;
        Ok(())
    }

    pub fn member(&mut self, member: &MemberLine) -> Result<(), FileError> {
        self.write(2, member)?;
        self.counts.members += 1;
        Ok(())
    }

    pub fn message(&mut self, message: &MessageLine) -> Result<(), FileError> {
        self.write(3, message)?;
        self.counts.messages += 1;
        Ok(())
    }

    pub fn reaction(&mut self, reaction: &ReactionLine) -> Result<(), FileError> {
        self.write(4, reaction)?;
        self.counts.reactions += 1;
        Ok(())
    }

    fn write(&mut self, file: usize, record: &impl Serialize) -> Result<(), FileError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, record)
            .map_err(|error| FileError::file(FILES[file], format!("cannot encode a record: {error}")))?;
        self.line.push(b'\n');
        // The error's text is made only on failure: this runs once a row.
        self.files[file]
            .write_all(&self.line)
            .map_err(|error| FileError::io(format!("cannot write {}", FILES[file]))(error))
    }

    /// Completes the export: every file flushed and synced, then the
    /// manifest written and synced, then the directory. Returns the manifest.
    pub fn finish(mut self) -> Result<Manifest, FileError> {
        for (file, name) in std::mem::take(&mut self.files).into_iter().zip(FILES) {
            let file = file
                .into_inner()
                .map_err(|e| FileError::io(format!("cannot write {name}"))(e.into_error()))?;
            file.sync_all().map_err(FileError::io(format!("cannot sync {name}")))?;
        }
        let manifest = Manifest {
            format: FORMAT_VERSION,
            natter_version: env!("CARGO_PKG_VERSION").to_owned(),
            exported_at: self.exported_at,
            counts: self.counts,
        };
        let mut json = serde_json::to_vec_pretty(&manifest).expect("a manifest always encodes");
        json.push(b'\n');
        let mut file = new_file(&self.dir.join(MANIFEST))?;
        file.write_all(&json)
            .and_then(|()| file.sync_all())
            .map_err(FileError::io(format!("cannot write {MANIFEST}")))?;
        sync_directory(&self.dir).map_err(FileError::io(format!("cannot sync {}", self.dir.display())))?;
        self.finished = true;
        Ok(manifest)
    }
}

impl Drop for ExportWriter {
    /// An export that did not finish takes its files with it (and the
    /// directory it made), so no half export is ever found and imported.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.files.clear();
        for name in FILES.iter().chain([&MANIFEST]) {
            let _ = fs::remove_file(self.dir.join(name));
        }
        if self.made_dir {
            let _ = fs::remove_dir(&self.dir);
        }
    }
}

/// A new file, never one that exists, readable by its owner only.
fn new_file(path: &Path) -> Result<fs::File, FileError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(FileError::io(format!("cannot create {}", path.display())))
}

#[cfg(unix)]
fn sync_directory(directory: &Path) -> io::Result<()> {
    fs::File::open(directory)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_directory: &Path) -> io::Result<()> {
    Ok(())
}
