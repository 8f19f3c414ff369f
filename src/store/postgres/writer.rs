//! PostgreSQL's side of the shared group-commit writer (`store/writer.rs`):
//! one connection, reopened when lost; a transaction that first locks the
//! batch's channel rows in id order; a savepoint per job pipelined with the
//! job's own statements. Which jobs share a batch, the order they run in
//! and when their callers hear back are decided there, not here.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio_postgres::Client;

use super::super::queue::Reply;
use super::super::writer::{self, Backend, Completion, Savepointed, after_commit};
use super::super::{StoreError, StoreResult};
use super::backend;
use super::connection::connect;
use crate::model::ChannelId;

/// Longest one batch may take, from `BEGIN` to the answer to `COMMIT`, on
/// natter's side. A link that stalls without failing (its data acknowledged,
/// no answer coming) is caught by neither the TCP timeouts nor the server's
/// own bounds, which never see the statements; with this, and a connect
/// timeout after it, `unavailable` comes within the 10 s promised.
const BATCH_DEADLINE: Duration = Duration::from_secs(6);

/// A queued write: an operation on the write connection, its caller, and
/// the channel whose row it will update, if any.
pub(super) struct WriteJob {
    /// Locked up front with the rest of the batch's channels (see `begin`).
    lock: Option<ChannelId>,
    operation: Box<dyn RunOnClient>,
}

/// Builds the job that runs `op` and answers `reply` after the commit.
pub(super) fn write_job<T, F>(lock: Option<ChannelId>, op: F, reply: Reply<T>) -> WriteJob
where
    T: Send + 'static,
    F: FnOnce(Arc<Client>) -> BoxFuture<'static, StoreResult<T>> + Send + 'static,
{
    WriteJob { lock, operation: Box::new(Operation { op, reply }) }
}

impl writer::Job for WriteJob {
    fn fail(self, error: StoreError) {
        self.operation.fail(error);
    }
}

/// A type-erased operation for the writer.
trait RunOnClient: Send {
    /// Runs the operation inside the current transaction.
    fn run(self: Box<Self>, connection: Arc<Client>) -> BoxFuture<'static, Box<dyn Completion>>;
    /// Answers without running.
    fn fail(self: Box<Self>, error: StoreError);
}

struct Operation<T, F> {
    op: F,
    reply: Reply<T>,
}

impl<T, F> RunOnClient for Operation<T, F>
where
    T: Send + 'static,
    F: FnOnce(Arc<Client>) -> BoxFuture<'static, StoreResult<T>> + Send + 'static,
{
    fn run(self: Box<Self>, connection: Arc<Client>) -> BoxFuture<'static, Box<dyn Completion>> {
        let Operation { op, reply } = *self;
        Box::pin(async move { after_commit(reply, op(connection).await) })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        self.reply.send(Err(error));
    }
}

/// The write connection and the state of the batch on it.
pub(super) struct PostgresWriter {
    config: tokio_postgres::Config,
    /// `None` when lost or given up; the next batch reconnects.
    connection: Option<Arc<Client>>,
    /// How the previous job's savepoint ends; sent in front of the next
    /// job's savepoint (or the `COMMIT`), so each job costs one round trip
    /// more than its own statements rather than three.
    close_previous: Option<&'static str>,
}

impl PostgresWriter {
    /// A writer starting with `connection` (already open and migrated).
    pub(super) fn new(config: tokio_postgres::Config, connection: Client) -> Self {
        Self { config, connection: Some(Arc::new(connection)), close_previous: None }
    }

    fn client(&self) -> Arc<Client> {
        Arc::clone(self.connection.as_ref().expect("the writer connects before every batch"))
    }
}

impl Backend for PostgresWriter {
    type Job = WriteJob;

    const BATCH_DEADLINE: Option<Duration> = Some(BATCH_DEADLINE);

    async fn connect(&mut self) -> StoreResult<()> {
        if let Some(connection) = &self.connection
            && !connection.is_closed()
        {
            return Ok(());
        }
        self.connection = None;
        self.connection = Some(Arc::new(connect(&self.config).await?));
        Ok(())
    }

    fn abandon(&mut self) {
        self.connection = None;
    }

    fn begin(&mut self, batch: &[WriteJob]) -> impl Future<Output = StoreResult<()>> + Send {
        self.close_previous = None;
        let connection = self.client();
        // Collected before the future, which must not hold the batch: its
        // jobs are `Send` but not `Sync`.
        let mut locks: Vec<i64> = batch.iter().filter_map(|job| job.lock).map(|c| c.0).collect();
        locks.sort_unstable();
        locks.dedup();
        async move {
            let begun = async {
                connection.batch_execute("BEGIN").await?;
                if !locks.is_empty() {
                    // In id order on every node, so batches never deadlock each other.
                    connection
                        .execute(
                            "SELECT id FROM channels WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
                            &[&locks],
                        )
                        .await?;
                }
                Ok::<(), tokio_postgres::Error>(())
            }
            .await;
            if let Err(error) = begun {
                let _ = connection.batch_execute("ROLLBACK").await;
                return Err(backend(error));
            }
            Ok(())
        }
    }

    async fn run_in_savepoint(&mut self, job: WriteJob) -> Savepointed<WriteJob> {
        let connection = self.client();
        // The savepoint is pipelined with the job's first statement: the
        // connection sends requests in the order they are first polled, and
        // `join!` polls the savepoint first.
        let open = match self.close_previous.take() {
            Some(close) => format!("{close}; SAVEPOINT job"),
            None => "SAVEPOINT job".to_owned(),
        };
        let (opened, completion) =
            tokio::join!(connection.batch_execute(&open), job.operation.run(Arc::clone(&connection)));
        self.close_previous =
            Some(if completion.succeeded() { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" });
        Savepointed::Ran { completion, savepoint: opened.map_err(backend) }
    }

    async fn commit(&mut self) -> StoreResult<()> {
        let commit = match self.close_previous.take() {
            Some(close) => format!("{close}; COMMIT"),
            None => "COMMIT".to_owned(),
        };
        self.client().batch_execute(&commit).await.map_err(backend)
    }

    async fn roll_back(&mut self) {
        let _ = self.client().batch_execute("ROLLBACK").await;
    }
}
