//! SQLite's side of the shared group-commit writer (`store/writer.rs`):
//! the write connection's transaction and savepoint statements, and the
//! jobs it runs. Which jobs share a batch, the order they run in and when
//! their callers hear back are decided there, not here.
//!
//! The writer loop runs on a thread of its own (see `SqliteStore::open`),
//! so the calls below may block on the disk without holding up the
//! server's async workers.

use std::future::Future;

use rusqlite::Connection;

use super::super::queue::Reply;
use super::super::writer::{self, Backend, Completion, Savepointed, after_commit};
use super::super::{StoreError, StoreResult};
use super::backend;

/// A queued write: an operation on the write connection and its caller.
pub(super) type WriteJob = Box<dyn RunOnConnection>;

/// Builds the job that runs `op` and answers `reply` after the commit.
pub(super) fn write_job<T, F>(op: F, reply: Reply<T>) -> WriteJob
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    Box::new(Operation { op, reply })
}

/// A type-erased operation for the writer.
pub(super) trait RunOnConnection: Send {
    /// Runs the operation inside the current transaction.
    fn run(self: Box<Self>, connection: &Connection) -> Box<dyn Completion>;
    /// Answers without running.
    fn fail(self: Box<Self>, error: StoreError);
}

struct Operation<T, F> {
    op: F,
    reply: Reply<T>,
}

impl<T, F> RunOnConnection for Operation<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn run(self: Box<Self>, connection: &Connection) -> Box<dyn Completion> {
        let result = (self.op)(connection);
        after_commit(self.reply, result)
    }

    fn fail(self: Box<Self>, error: StoreError) {
        self.reply.send(Err(error));
    }
}

impl writer::Job for WriteJob {
    fn fail(self, error: StoreError) {
        RunOnConnection::fail(self, error);
    }
}

/// Statements the write connection keeps prepared. Every write job's
/// statements fit, so the hot ones (an append's, the savepoint's) are never
/// evicted by a burst of rarer jobs and prepared again.
const STATEMENT_CACHE: usize = 64;

/// The write connection. Each call does its work at once (blocking on the
/// disk) and returns a future that is already complete.
pub(super) struct SqliteWriter {
    connection: Connection,
}

impl SqliteWriter {
    pub(super) fn new(connection: Connection) -> Self {
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Self { connection }
    }
}

impl Backend for SqliteWriter {
    type Job = WriteJob;

    fn begin(&mut self, _batch: &[WriteJob]) -> impl Future<Output = StoreResult<()>> + Send {
        // IMMEDIATE takes the write lock now, so no job meets a lock
        // upgrade failure half-way through.
        std::future::ready(execute_cached(&self.connection, "BEGIN IMMEDIATE"))
    }

    fn run_in_savepoint(&mut self, job: WriteJob) -> impl Future<Output = Savepointed<WriteJob>> + Send {
        let connection = &self.connection;
        let outcome = match execute_cached(connection, "SAVEPOINT job") {
            Err(error) => Savepointed::NotOpened { job, error },
            Ok(()) => {
                let completion = job.run(connection);
                let undone = if completion.succeeded() {
                    Ok(())
                } else {
                    execute_cached(connection, "ROLLBACK TO job")
                };
                let savepoint = undone.and_then(|()| execute_cached(connection, "RELEASE job"));
                Savepointed::Ran { savepoint, completion }
            }
        };
        std::future::ready(outcome)
    }

    fn commit(&mut self) -> impl Future<Output = StoreResult<()>> + Send {
        std::future::ready(execute_cached(&self.connection, "COMMIT"))
    }

    fn roll_back(&mut self) -> impl Future<Output = ()> + Send {
        // After some I/O errors SQLite has rolled back already; a failing
        // ROLLBACK then only says so.
        let _ = self.connection.execute_batch("ROLLBACK");
        std::future::ready(())
    }

    fn finish(&mut self) {
        // Fold the WAL back so the file is compact for the next start.
        if let Err(error) = self.connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
            tracing::warn!(%error, "checkpoint at shutdown failed");
        }
    }
}

/// Runs one of the writer's own statements from the connection's statement
/// cache: they run several times per batch, and preparing them anew each
/// time would parse them each time.
fn execute_cached(connection: &Connection, sql: &str) -> StoreResult<()> {
    connection.prepare_cached(sql).and_then(|mut statement| statement.execute([])).map_err(backend)?;
    Ok(())
}
