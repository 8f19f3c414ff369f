//! Read connections for a SQLite file database, so reads never queue behind
//! the writer's batches and their fsyncs.
//!
//! In WAL mode readers see the last committed state without waiting for a
//! writer, and a write is answered only after its commit, so whatever a
//! client was told is stored is what a read finds. A few threads each own a
//! connection (`query_only`) and take jobs from one bounded queue. An
//! in-memory database cannot be shared between connections; it keeps
//! reading through the writer.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::super::queue::JobQueue;
use super::super::{Queued, StoreError, StoreResult};
use super::backend;

/// Read connections, one thread each. Two keep a read going while another
/// waits on the disk, without taking cores from the writer.
pub(super) const READERS: usize = 2;

/// Reads waiting for a reader. When full, new reads are refused at once
/// (`StoreError::Busy`, which clients see as `unavailable`), as writes are
/// when the writer's queue is: the same [`JobQueue`].
pub(super) const READ_QUEUE: usize = 4_096;

/// Searches have a reader of their own, so a slow one (up to
/// `SEARCH_TIME`) holds up only other searches, never history or channel
/// reads; sixteen may wait for it, past that a search is refused at once.
pub(super) const SEARCHERS: usize = 1;
pub(super) const SEARCH_QUEUE: usize = 16;

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

pub(super) struct Readers {
    jobs: JobQueue<ReadJob>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Readers {
    /// Opens `count` read connections to the database at `path` (which the
    /// writer has created and migrated) and starts their threads, named
    /// after `role`, with room for `queue` reads waiting.
    pub(super) fn open(path: &Path, count: usize, role: &str, queue: usize) -> StoreResult<Self> {
        let (jobs, receiver) = JobQueue::bounded(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let mut threads = Vec::with_capacity(count);
        for index in 0..count {
            let connection = Connection::open(path).map_err(backend)?;
            connection
                .execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;")
                .map_err(backend)?;
            super::schema::keep_plans_stable(&connection)?;
            let receiver = Arc::clone(&receiver);
            let thread = std::thread::Builder::new()
                .name(format!("natter-sqlite-{role}-{index}"))
                .spawn(move || run_reader(&connection, &receiver))
                .map_err(|e| StoreError::Backend(format!("cannot start a reader thread: {e}")))?;
            threads.push(thread);
        }
        Ok(Self { jobs, threads: Mutex::new(threads) })
    }

    /// Queues `op` for a reader; the future resolves with its result.
    pub(super) fn read<T, F>(&self, op: F) -> Queued<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.jobs.submit(|reply| -> ReadJob {
            Box::new(move |connection| {
                // A client gone (or a shutdown's queue) does not wait for it.
                if !reply.is_abandoned() {
                    reply.send(op(connection));
                }
            })
        })
    }

    /// Stops taking reads; the queued ones still finish. Returns the
    /// threads to join (see [`join`]).
    pub(super) fn stop(&self) -> Vec<std::thread::JoinHandle<()>> {
        self.jobs.close();
        std::mem::take(&mut *self.threads.lock().expect("reader threads lock is never poisoned"))
    }
}

/// Waits for stopped reader threads. Blocking: call from `spawn_blocking`.
pub(super) fn join(threads: Vec<std::thread::JoinHandle<()>>) {
    for thread in threads {
        if thread.join().is_err() {
            tracing::error!("a SQLite reader thread ended abnormally");
        }
    }
}

fn run_reader(connection: &Connection, jobs: &Mutex<mpsc::Receiver<ReadJob>>) {
    loop {
        // Held only while waiting for the next job, so readers take turns
        // at the queue but run their reads side by side.
        let job = jobs.lock().expect("reader queue lock is never poisoned").blocking_recv();
        match job {
            Some(job) => job(connection),
            None => return,
        }
    }
}
