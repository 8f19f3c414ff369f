//! `natter backup`: a consistent copy of a SQLite file database, made while
//! natter runs, with SQLite's online backup API.
//!
//! It only reads the source: it never creates, migrates or writes it. It
//! never replaces a file: the copy is made beside its destination under
//! another name, and takes the destination's name only once it is complete,
//! synced and checked, so a file at the destination is always a whole
//! backup. PostgreSQL has its own tools (`pg_dump`, docs/deployment.md).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::SqliteOptions;

/// How long the copy waits for a lock on the source before it gives up. In
/// WAL mode a reader waits for no writer; this covers the moments a reader
/// must wait all the same (recovery after a crash, a WAL reset).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The integrity check stops after this many problems; they are shown.
const PROBLEMS_SHOWN: u32 = 10;

/// What a finished backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackedUp {
    /// Rows of the copy's `messages` (system lines and deleted messages
    /// included).
    pub messages: u64,
    /// The copy's size in bytes.
    pub bytes: u64,
}

/// Why there is no backup. Nothing is left at the destination in any case.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{} already exists; natter backup never replaces a file: name a new one", .0.display())]
    Exists(PathBuf),
    #[error(
        "natter backup copies a SQLite database file; back up PostgreSQL with pg_dump \
         (see \"Backups\" in docs/deployment.md)"
    )]
    Postgres,
    #[error("sqlite::memory: lives only inside the process that opened it: there is no file to back up")]
    InMemory,
    /// A URL natter cannot read.
    #[error("{0}")]
    BadUrl(String),
    #[error("{} names no file", .0.display())]
    NotAFile(PathBuf),
    #[error("no database at {} (nothing was created there): check --database", .0.display())]
    NoSource(PathBuf),
    /// The copy did not finish (the source stayed locked, say).
    #[error("{0}")]
    Unfinished(String),
    #[error("the copy fails SQLite's integrity check, so the database itself is damaged: {0}")]
    Damaged(String),
    #[error("{what}: {error}")]
    Sqlite { what: String, error: rusqlite::Error },
    #[error("{what}: {error}")]
    Io { what: String, error: io::Error },
}

/// Copies the SQLite database at `database_url` (`sqlite://PATH`) to a new
/// file `file`, checks the copy and says what it holds. Blocking.
pub fn backup(database_url: &str, file: &Path) -> Result<BackedUp, BackupError> {
    let source = source_path(database_url)?;
    if fs::symlink_metadata(file).is_ok() {
        return Err(BackupError::Exists(file.to_owned()));
    }
    match fs::metadata(&source) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(BackupError::NoSource(source)),
        Err(error) => return Err(io_error(format!("cannot read {}", source.display()), error)),
        Ok(_) => {}
    }
    let partial = Partial::create(file)?;
    let messages = copy(&source, &partial.path)?;
    let synced = fs::File::open(&partial.path).and_then(|copy| {
        copy.sync_all()?;
        copy.metadata()
    });
    let bytes = synced.map_err(|e| io_error(format!("cannot sync {}", partial.path.display()), e))?.len();
    partial.place(file)?;
    Ok(BackedUp { messages, bytes })
}

/// The file a URL names; refuses what is not a SQLite file.
fn source_path(database_url: &str) -> Result<PathBuf, BackupError> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        return Err(BackupError::Postgres);
    }
    if !database_url.starts_with("sqlite:") {
        // Only the scheme is echoed: the rest of a URL may hold a password.
        let scheme = database_url.split(':').next().unwrap_or_default();
        return Err(BackupError::BadUrl(format!(
            "unsupported database scheme {scheme:?}: natter backup copies sqlite://PATH"
        )));
    }
    SqliteOptions::from_url(database_url).map_err(BackupError::BadUrl)?.path.ok_or(BackupError::InMemory)
}

/// Copies `source` into the empty file `partial`, leaves the copy in
/// rollback-journal mode, checks it and counts its messages.
fn copy(source: &Path, partial: &Path) -> Result<u64, BackupError> {
    // Read-only and without SQLITE_OPEN_CREATE: a missing file is an error,
    // never a new empty database. Neither connection reads URIs, so a path
    // starting with `file:` is a path.
    let from = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_error(format!("cannot open {}", source.display())))?;
    from.busy_timeout(BUSY_TIMEOUT).map_err(sqlite_error("cannot set a busy timeout"))?;
    let mut to = Connection::open_with_flags(
        partial,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_error(format!("cannot open {}", partial.display())))?;
    let copying = format!("cannot copy {}", source.display());
    let backup = Backup::new(&from, &mut to).map_err(sqlite_error(&copying))?;
    // One step (-1: all pages), so one read transaction and the copy is
    // the database as of one commit. Several steps would not do: SQLite's
    // documentation of sqlite3_backup_step says each step holds its shared
    // lock on the source only while it runs, and that once another
    // connection writes to the source the next step starts the backup
    // over, so with natter's writer committing all the time a backup in
    // small steps might never finish. In WAL mode this one long read
    // blocks no writer ("readers do not block writers", wal.html); the
    // server's checkpoints cannot start the WAL over while it reads, so
    // the -wal file may grow until the copy is done.
    match backup.step(-1).map_err(sqlite_error(&copying))? {
        StepResult::Done => {}
        StepResult::Busy | StepResult::Locked => {
            return Err(BackupError::Unfinished(format!(
                "{copying}: the database stayed locked for {} s; try again",
                BUSY_TIMEOUT.as_secs()
            )));
        }
        other => {
            return Err(BackupError::Unfinished(format!("{copying}: the copy stopped early ({other:?})")));
        }
    }
    drop(backup);
    drop(from);
    // The copied header says WAL, as the source's does (SQLite rewrites it
    // only for a destination in WAL mode), though every page is in the
    // file. DELETE makes it a plain single file: nothing beside it is ever
    // needed, and a read-only copy opens anywhere. natter switches a
    // restored file back to WAL when it opens it.
    let mode: String = to
        .query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))
        .map_err(sqlite_error("cannot leave WAL mode in the copy"))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(BackupError::Unfinished(format!("the copy stayed in journal mode {mode}")));
    }
    let problems = to
        .prepare(&format!("PRAGMA integrity_check({PROBLEMS_SHOWN})"))
        .and_then(|mut check| {
            check.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<Vec<String>>>()
        })
        .map_err(sqlite_error("cannot check the copy"))?;
    if problems != ["ok"] {
        return Err(BackupError::Damaged(problems.join("; ")));
    }
    let messages: i64 = to.query_row("SELECT count(*) FROM messages", [], |row| row.get(0)).map_err(
        sqlite_error(format!("cannot count messages: is {} a natter database?", source.display())),
    )?;
    to.close().map_err(|(_, e)| sqlite_error("cannot close the copy")(e))?;
    Ok(messages.try_into().expect("a count is never negative"))
}

/// The copy while it is made: a new file beside the destination (so it can
/// take the destination's name without crossing file systems), named so
/// that nobody takes it for a backup. Dropping it removes that name.
struct Partial {
    path: PathBuf,
}

impl Partial {
    fn create(file: &Path) -> Result<Self, BackupError> {
        let name = file.file_name().ok_or_else(|| BackupError::NotAFile(file.to_owned()))?;
        let mut partial_name = name.to_owned();
        partial_name.push(format!(".{}.partial", std::process::id()));
        let path = file.with_file_name(partial_name);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        // Its owner's alone: a backup holds password and session hashes.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path).map_err(|e| io_error(format!("cannot create {}", path.display()), e))?;
        Ok(Self { path })
    }

    /// Gives the copy the name `file`, never replacing a file there, and
    /// syncs the directory so the name survives a crash.
    fn place(self, file: &Path) -> Result<(), BackupError> {
        // A hard link fails if `file` exists, atomically: a file made there
        // since the first look is never replaced, as a rename would. The
        // partial name goes when `self` drops.
        match fs::hard_link(&self.path, file) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(BackupError::Exists(file.to_owned()));
            }
            // A file system without hard links: one more look, then rename.
            Err(_) if fs::symlink_metadata(file).is_ok() => return Err(BackupError::Exists(file.to_owned())),
            Err(_) => fs::rename(&self.path, file)
                .map_err(|e| io_error(format!("cannot rename the copy to {}", file.display()), e))?,
        }
        let directory =
            file.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
        sync_directory(directory).map_err(|e| io_error(format!("cannot sync {}", directory.display()), e))
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        // After a failure, the unfinished copy and whatever SQLite kept
        // beside it; after success, only the extra name of the placed copy.
        let _ = fs::remove_file(&self.path);
        for suffix in ["-journal", "-wal", "-shm"] {
            let mut beside = self.path.clone().into_os_string();
            beside.push(suffix);
            let _ = fs::remove_file(beside);
        }
    }
}

#[cfg(unix)]
fn sync_directory(directory: &Path) -> io::Result<()> {
    fs::File::open(directory)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_directory: &Path) -> io::Result<()> {
    Ok(())
}

fn sqlite_error(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> BackupError {
    let what = what.into();
    move |error| BackupError::Sqlite { what, error }
}

fn io_error(what: String, error: io::Error) -> BackupError {
    BackupError::Io { what, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL database with rows only in its WAL while `writer` stays open.
    fn wal_database(path: &Path) -> Connection {
        let writer = Connection::open(path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE messages (body TEXT);
                 INSERT INTO messages VALUES ('one'), ('two'), ('three');",
            )
            .unwrap();
        writer
    }

    fn journal_mode(path: &Path) -> String {
        let copy = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        copy.query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap()
    }

    #[test]
    fn copies_what_is_in_the_wal_into_one_plain_file() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("natter.db");
        let writer = wal_database(&source);
        let url = format!("sqlite://{}", source.display());
        let file = dir.path().join("copy.db");
        assert_eq!(backup(&url, &file).unwrap().messages, 3);
        assert_eq!(journal_mode(&file), "delete", "the copy needs no WAL");
        let mut names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["copy.db", "natter.db", "natter.db-shm", "natter.db-wal"], "no partial file left");

        // A stopped server's database: no WAL file beside it.
        drop(writer);
        let again = dir.path().join("again.db");
        assert_eq!(backup(&url, &again).unwrap().messages, 3);
        assert_eq!(journal_mode(&source), "wal", "the source is left as it was");
    }

    #[test]
    fn refuses_what_is_not_a_sqlite_file() {
        let file = Path::new("never-written.db");
        assert!(matches!(backup("postgres://u:secret@db/natter", file), Err(BackupError::Postgres)));
        assert!(matches!(backup("postgresql://db/natter", file), Err(BackupError::Postgres)));
        assert!(matches!(backup("sqlite::memory:", file), Err(BackupError::InMemory)));
        let other = backup("mysql://u:secret@db/natter", file).unwrap_err().to_string();
        assert!(other.contains("\"mysql\"") && !other.contains("secret"), "{other}");
        assert!(!file.exists());
    }
}
