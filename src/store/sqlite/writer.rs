//! SQLite's side of the shared group-commit writer (`store/writer.rs`):
//! the write connection's transaction and savepoint statements, the jobs
//! it runs, and which of them need no savepoint ([`Undo`]). Which jobs share a batch, the order they run in and when
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

/// How a failed job is kept from leaving part of its writes behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Undo {
    /// It runs in a savepoint of its own, rolled back if it fails: for jobs
    /// that may refuse after writing (claiming a guest's name gives up the
    /// old holder's sessions before the insert that may find the name taken).
    Savepoint,
    /// It needs none: it only reads until it has decided to succeed, and
    /// each statement is atomic, so a refusal writes nothing. A statement
    /// failing after one of its writes took (which takes an I/O error, a
    /// full disk, no memory or a corrupt file) fails the whole batch
    /// instead. Appends are such jobs, and the savepoint's two statements
    /// and its copy of every page the job touches were a sixth of their cost.
    Unneeded,
}

/// Builds the job that runs `op` and answers `reply` after the commit.
pub(super) fn write_job<T, F>(op: F, undo: Undo, reply: Reply<T>) -> WriteJob
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    Box::new(Operation { op, undo, reply })
}

/// A type-erased operation for the writer.
pub(super) trait RunOnConnection: Send {
    /// How a failure of this operation is undone.
    fn undo(&self) -> Undo;
    /// Runs the operation inside the current transaction.
    fn run(self: Box<Self>, connection: &Connection) -> Box<dyn Completion>;
    /// Answers without running.
    fn fail(self: Box<Self>, error: StoreError);
}

struct Operation<T, F> {
    op: F,
    undo: Undo,
    reply: Reply<T>,
}

impl<T, F> RunOnConnection for Operation<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn undo(&self) -> Undo {
        self.undo
    }

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
        let outcome = match job.undo() {
            Undo::Unneeded => run_without_savepoint(connection, job),
            Undo::Savepoint => match execute_cached(connection, "SAVEPOINT job") {
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
            },
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

/// Runs a job that needs no savepoint ([`Undo::Unneeded`]) and checks that
/// it kept its side of that bargain: if it failed, it wrote nothing. SQLite
/// counts the rows changed by every statement that completed (a statement
/// that fails is undone, and changes nothing), so an unchanged count proves
/// a failed job left no trace; otherwise, or if a failing statement took
/// the transaction with it, the batch fails whole.
fn run_without_savepoint(connection: &Connection, job: WriteJob) -> Savepointed<WriteJob> {
    let changes_before = connection.total_changes();
    let completion = job.run(connection);
    let savepoint = if connection.is_autocommit() {
        Err(StoreError::Backend("a failed statement rolled the transaction back".into()))
    } else if !completion.succeeded() && connection.total_changes() != changes_before {
        Err(StoreError::Backend("a job without a savepoint failed after writing".into()))
    } else {
        Ok(())
    };
    Savepointed::Ran { completion, savepoint }
}

/// Runs one of the writer's own statements from the connection's statement
/// cache: they run several times per batch, and preparing them anew each
/// time would parse them each time.
fn execute_cached(connection: &Connection, sql: &str) -> StoreResult<()> {
    connection.prepare_cached(sql).and_then(|mut statement| statement.execute([])).map_err(backend)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The savepoint bargain on a real database: a job without a savepoint
    //! that fails before writing fails alone, and one that fails after
    //! writing takes its batch with it.

    use std::sync::Arc;

    use super::*;
    use crate::metrics::Metrics;
    use crate::store::Queued;
    use crate::store::queue::JobQueue;

    /// A job on table `t`: inserts each of `values`, then fails with a
    /// missing table if `then_fail`.
    fn insert(values: &'static [i64], then_fail: bool) -> impl FnOnce(&Connection) -> StoreResult<()> {
        move |connection| {
            for value in values {
                connection.execute("INSERT INTO t (x) VALUES (?1)", [value]).map_err(backend)?;
            }
            if then_fail {
                connection.execute("INSERT INTO missing (x) VALUES (1)", []).map_err(backend)?;
            }
            Ok(())
        }
    }

    type TestOp = Box<dyn FnOnce(&Connection) -> StoreResult<()> + Send>;

    /// Runs `jobs` in one batch on a fresh file database and returns their
    /// answers and the values of `t` that were committed.
    async fn run_batch(jobs: Vec<(Undo, TestOp)>) -> (Vec<StoreResult<()>>, Vec<i64>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("writer.db");
        let connection = Connection::open(&path).unwrap();
        connection.execute_batch("CREATE TABLE t (x INTEGER NOT NULL UNIQUE)").unwrap();
        let (queue, receiver) = JobQueue::bounded(16);
        let answers: Vec<Queued<()>> =
            jobs.into_iter().map(|(undo, op)| queue.submit(|reply| write_job(op, undo, reply))).collect();
        queue.close();
        // Every job is queued before the writer starts, so they share one batch.
        writer::run(SqliteWriter::new(connection), receiver, 16, Arc::new(Metrics::default())).await;
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await);
        }
        let committed = Connection::open(&path)
            .unwrap()
            .prepare("SELECT x FROM t ORDER BY x")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<Vec<i64>>>()
            .unwrap();
        (results, committed)
    }

    #[tokio::test]
    async fn a_job_without_savepoint_that_fails_before_writing_fails_alone() {
        let (answers, committed) = run_batch(vec![
            (Undo::Unneeded, Box::new(insert(&[1], false))),
            // A unique violation: the statement is undone and changes nothing.
            (Undo::Unneeded, Box::new(insert(&[1], false))),
            (Undo::Unneeded, Box::new(insert(&[], true))),
            (Undo::Unneeded, Box::new(insert(&[2], false))),
        ])
        .await;
        assert!(matches!(answers[..], [Ok(()), Err(_), Err(_), Ok(())]), "{answers:?}");
        assert_eq!(committed, [1, 2]);
    }

    #[tokio::test]
    async fn a_job_without_savepoint_that_fails_after_writing_fails_its_batch() {
        let (answers, committed) = run_batch(vec![
            (Undo::Unneeded, Box::new(insert(&[1], false))),
            (Undo::Unneeded, Box::new(insert(&[2], true))),
            (Undo::Savepoint, Box::new(insert(&[3], false))),
        ])
        .await;
        assert!(answers.iter().all(Result::is_err), "{answers:?}");
        assert!(
            matches!(&answers[1], Err(StoreError::Backend(text)) if text.contains("no such table")),
            "the failed job hears its own error: {answers:?}"
        );
        assert!(committed.is_empty(), "nothing of the batch is stored: {committed:?}");
    }

    #[tokio::test]
    async fn a_job_with_a_savepoint_that_fails_after_writing_fails_alone() {
        let (answers, committed) = run_batch(vec![
            (Undo::Unneeded, Box::new(insert(&[1], false))),
            (Undo::Savepoint, Box::new(insert(&[2], true))),
            (Undo::Unneeded, Box::new(insert(&[3], false))),
        ])
        .await;
        assert!(matches!(answers[..], [Ok(()), Err(_), Ok(())]), "{answers:?}");
        assert_eq!(committed, [1, 3]);
    }
}
