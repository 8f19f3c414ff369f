//! Checkpoints a SQLite file's write-ahead log on a thread of its own.
//!
//! SQLite's automatic checkpoint runs inside the COMMIT that crosses its
//! threshold, on the committing connection: the writer thread copies pages
//! into the database file and fsyncs it before that batch's answers go out
//! and before the next batch can begin, so every thousand pages or so one
//! batch of acknowledgements waits for it. Here a second connection runs
//! passive checkpoints (which never block the writer or readers) ten times a
//! second, and the writer's own automatic checkpoint is only a backstop for
//! a WAL this thread could not keep small (see `schema::configure`).
//! Durability is unchanged: a commit is durable once its WAL frames are
//! fsynced, which the writer still does at every commit.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::super::{StoreError, StoreResult};
use super::backend;

/// How often the WAL is checkpointed.
const INTERVAL: Duration = Duration::from_millis(100);

pub(super) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts checkpointing the database file at `path` (already in WAL mode).
    pub(super) fn start(path: &Path) -> StoreResult<Self> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(backend)?;
        connection.busy_timeout(Duration::from_secs(5)).map_err(backend)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("natter-checkpoint".into())
            .spawn(move || run(&connection, &stopped))
            .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self { stop, thread: Mutex::new(Some(thread)) })
    }

    /// Stops the thread and waits for it (a checkpoint under way finishes).
    pub(super) fn stop(&self) -> Option<JoinHandle<()>> {
        let (flag, wake) = &*self.stop;
        *flag.lock().expect("the checkpoint flag is never poisoned") = true;
        wake.notify_all();
        self.thread.lock().expect("the checkpoint thread lock is never poisoned").take()
    }
}

impl Drop for Checkpointer {
    /// A store dropped without `close` still ends the thread (without
    /// waiting for it).
    fn drop(&mut self) {
        drop(self.stop());
    }
}

fn run(connection: &Connection, stop: &(Mutex<bool>, Condvar)) {
    let (flag, wake) = stop;
    let mut stopped = flag.lock().expect("the checkpoint flag is never poisoned");
    while !*stopped {
        stopped = wake.wait_timeout(stopped, INTERVAL).expect("the checkpoint flag is never poisoned").0;
        if *stopped {
            break;
        }
        drop(stopped);
        // Passive: copies what no reader still needs and never waits for
        // the writer or a reader; what it leaves is taken next time.
        if let Err(error) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(%error, "a passive checkpoint failed; the next one tries again");
        }
        stopped = flag.lock().expect("the checkpoint flag is never poisoned");
    }
}
