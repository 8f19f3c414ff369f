//! The group-commit writer every backend shares.
//!
//! Every write is a job on one bounded queue (`queue.rs`) in front of one
//! writer per store. The writer takes every job waiting (up to `max_batch`),
//! runs each in its own savepoint inside one transaction, commits once, and
//! only then answers them all: durability costs one commit (one fsync)
//! per batch rather than per job, and nothing is answered before it is
//! durable. A job that fails half-way leaves no trace (its savepoint is
//! rolled back) while the rest of its batch still commits. A backend may
//! run a job that provably cannot fail half-way without a savepoint; should
//! it fail after writing all the same, the backend says so and the batch
//! fails whole (SQLite's appends, `sqlite/writer.rs`).
//!
//! This module owns that policy and knows no SQL: what a transaction, a
//! savepoint and a commit are on a given database is the [`Backend`]'s
//! business, and so is what a job runs on. Closing the queue lets the
//! writer finish every job already queued before it stops.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::queue::Reply;
use super::{StoreError, StoreResult};
use crate::metrics::Metrics;

/// Jobs waiting for a store's writer. When it is full, new jobs are refused
/// at once (`StoreError::Busy`, which clients see as `unavailable` and
/// retry) rather than queueing without bound behind a slow disk or database.
pub const JOB_QUEUE: usize = 16_384;

/// Most jobs committed in one transaction. Bounds how long one batch holds
/// the writer (and, on PostgreSQL, its channels' row locks, which writers on
/// other nodes wait for) and how many answers wait on one commit.
pub const DEFAULT_MAX_BATCH: usize = 512;

/// A job on a writer's queue, as the writer sees it: the backend runs it,
/// and the writer can answer it with an error without running it.
pub(super) trait Job: Send + 'static {
    /// Answers the caller with `error`; the job never ran.
    fn fail(self, error: StoreError);
}

/// The result of a job that ran, waiting for its batch to commit.
pub(super) trait Completion: Send {
    fn succeeded(&self) -> bool;
    /// Answers the caller; `commit` says whether the batch is durable.
    fn finish(self: Box<Self>, commit: StoreResult<()>);
}

/// Holds a job's `result` until its batch's fate is known (see [`Completion`]).
pub(super) fn after_commit<T: Send + 'static>(
    reply: Reply<T>,
    result: StoreResult<T>,
) -> Box<dyn Completion> {
    Box::new(Ran { result, reply })
}

struct Ran<T> {
    result: StoreResult<T>,
    reply: Reply<T>,
}

impl<T: Send> Completion for Ran<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn finish(self: Box<Self>, commit: StoreResult<()>) {
        let answer = match (commit, self.result) {
            (Ok(()), result) => result,
            // The job's own error says more than the batch's.
            (Err(_), Err(job_error)) => Err(job_error),
            (Err(commit_error), Ok(_)) => Err(commit_error),
        };
        self.reply.send(answer);
    }
}

/// What became of a job the backend was asked to run in its own savepoint.
pub(super) enum Savepointed<J> {
    /// The savepoint could not be opened, so the job did not run; `error`
    /// aborts the batch.
    NotOpened { job: J, error: StoreError },
    /// The job ran. `savepoint` is the fate of the savepoint's own
    /// statements (or, for a job run without one, an error when it failed
    /// after writing); an error there aborts the batch.
    Ran { completion: Box<dyn Completion>, savepoint: StoreResult<()> },
}

/// One database's side of the writer: its write connection's transactions
/// and savepoints, and how it runs a job. `begin`, `run_in_savepoint`,
/// `commit` and `roll_back` are called only within a batch, after its
/// `connect` succeeded.
pub(super) trait Backend: Send + 'static {
    type Job: Job;

    /// Longest one batch may take, from `begin` to the answer to `commit`;
    /// `None` for no bound. A batch that outlives it fails whole (its
    /// callers hear an error, though the commit may or may not have
    /// happened) and the connection is given up ([`Backend::abandon`]).
    const BATCH_DEADLINE: Option<Duration> = None;

    /// Makes sure there is a connection for the next batch, opening a new
    /// one if it was lost. An error fails the whole batch.
    fn connect(&mut self) -> impl Future<Output = StoreResult<()>> + Send {
        std::future::ready(Ok(()))
    }

    /// Gives up the connection of a batch that outlived its deadline.
    fn abandon(&mut self) {}

    /// Starts the batch's transaction, with whatever the batch needs first
    /// (PostgreSQL locks the channels its appends touch). On an error the
    /// backend has undone what it began, and every job fails with it.
    fn begin(&mut self, batch: &[Self::Job]) -> impl Future<Output = StoreResult<()>> + Send;

    /// Runs `job` inside a savepoint of its own, released when it
    /// succeeded and rolled back when it failed; or without one when the
    /// job cannot fail half-way, reporting `savepoint: Err` if it did.
    fn run_in_savepoint(&mut self, job: Self::Job) -> impl Future<Output = Savepointed<Self::Job>> + Send;

    /// Commits the batch (with whatever the last savepoint still needs).
    fn commit(&mut self) -> impl Future<Output = StoreResult<()>> + Send;

    /// Undoes a batch that failed or could not commit. Errors are not
    /// reported: after some failures the database has rolled back already.
    fn roll_back(&mut self) -> impl Future<Output = ()> + Send;

    /// Runs once, after the queue has closed and every job was answered.
    fn finish(&mut self) {}
}

/// The writer's loop: batches the queued jobs until the queue is closed
/// and empty, then calls [`Backend::finish`]. `max_batch` below 1 counts
/// as 1 (group commit off, for measurements).
pub(super) async fn run<B: Backend>(
    mut backend: B,
    mut jobs: mpsc::Receiver<B::Job>,
    max_batch: usize,
    metrics: Arc<Metrics>,
) {
    let max_batch = max_batch.max(1);
    let mut batch: Vec<B::Job> = Vec::with_capacity(max_batch);
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let size = batch.len();
        commit_batch(&mut backend, &mut batch).await;
        metrics.commit_batch_size.observe(size as f64);
        metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
    }
    // Every sender is gone and every queued job has been answered.
    backend.finish();
}

/// Runs one batch on a connection, within the backend's deadline; every
/// job in `batch` is answered (or, past the deadline, dropped unanswered)
/// when this returns.
async fn commit_batch<B: Backend>(backend: &mut B, batch: &mut Vec<B::Job>) {
    if let Err(error) = backend.connect().await {
        tracing::error!(%error, jobs = batch.len(), "no database connection; failing the batch");
        fail_all(batch, &error);
        return;
    }
    let Some(deadline) = B::BATCH_DEADLINE else {
        run_batch(backend, batch).await;
        return;
    };
    let size = batch.len();
    if tokio::time::timeout(deadline, run_batch(backend, batch)).await.is_err() {
        // The link stalled with the batch in flight (the kernel sees its
        // data acknowledged, so the TCP timeouts never fire). Jobs that ran
        // lose their answers with the dropped batch, and their callers hear
        // `unavailable`: the commit may or may not have happened, and a
        // retry with the same `client_id` stores it at most once. The
        // connection is given up; the next batch opens another.
        tracing::error!(jobs = size, "a batch outlived its deadline; giving up its connection");
        fail_all(batch, &StoreError::Backend("the database did not answer in time".into()));
        backend.abandon();
    }
}

async fn run_batch<B: Backend>(backend: &mut B, batch: &mut Vec<B::Job>) {
    if let Err(error) = backend.begin(batch).await {
        tracing::error!(%error, "cannot begin a transaction");
        fail_all(batch, &error);
        return;
    }
    let mut completions = Vec::with_capacity(batch.len());
    let mut batch_error = None;
    for job in batch.drain(..) {
        if batch_error.is_some() {
            job.fail(aborted());
            continue;
        }
        match backend.run_in_savepoint(job).await {
            Savepointed::NotOpened { job, error } => {
                batch_error = Some(error);
                job.fail(aborted());
            }
            Savepointed::Ran { completion, savepoint } => {
                if let Err(error) = savepoint {
                    batch_error = Some(error);
                }
                completions.push(completion);
            }
        }
    }
    let commit = match batch_error {
        None => backend.commit().await,
        Some(error) => Err(error),
    };
    if let Err(error) = &commit {
        tracing::error!(%error, jobs = completions.len(), "batch failed; nothing in it was stored");
        backend.roll_back().await;
    }
    for completion in completions {
        completion.finish(commit.clone());
    }
}

/// What a job hears when an earlier job's failure aborted its batch.
fn aborted() -> StoreError {
    StoreError::Backend("transaction aborted".into())
}

fn fail_all<J: Job>(batch: &mut Vec<J>, error: &StoreError) {
    for job in batch.drain(..) {
        job.fail(error.clone());
    }
}

#[cfg(test)]
mod tests {
    //! The writer's policy against a fake database that records what it
    //! was asked to do.

    use std::sync::Mutex;

    use super::*;
    use crate::store::Queued;
    use crate::store::queue::JobQueue;

    /// A job whose own work yields `outcome`.
    struct FakeJob {
        outcome: StoreResult<u32>,
        reply: Reply<u32>,
    }

    impl Job for FakeJob {
        fn fail(self, error: StoreError) {
            self.reply.send(Err(error));
        }
    }

    #[derive(Default)]
    struct FakeDatabase {
        log: Arc<Mutex<Vec<&'static str>>>,
        /// The savepoint of the job with this index in its batch fails to open.
        savepoint_fails_at: Option<usize>,
        jobs_in_batch: usize,
        commit_fails: bool,
        commit_hangs: bool,
    }

    impl FakeDatabase {
        fn note(&self, step: &'static str) {
            self.log.lock().unwrap().push(step);
        }
    }

    impl Backend for FakeDatabase {
        type Job = FakeJob;

        async fn begin(&mut self, _batch: &[FakeJob]) -> StoreResult<()> {
            self.jobs_in_batch = 0;
            self.note("begin");
            Ok(())
        }

        async fn run_in_savepoint(&mut self, job: FakeJob) -> Savepointed<FakeJob> {
            let index = self.jobs_in_batch;
            self.jobs_in_batch += 1;
            if self.savepoint_fails_at == Some(index) {
                self.note("savepoint failed");
                return Savepointed::NotOpened { job, error: StoreError::Backend("no savepoint".into()) };
            }
            let completion = after_commit(job.reply, job.outcome);
            self.note(if completion.succeeded() { "released" } else { "rolled back to savepoint" });
            Savepointed::Ran { completion, savepoint: Ok(()) }
        }

        async fn commit(&mut self) -> StoreResult<()> {
            if self.commit_hangs {
                std::future::pending::<()>().await;
            }
            self.note("commit");
            if self.commit_fails { Err(StoreError::Backend("disk full".into())) } else { Ok(()) }
        }

        async fn roll_back(&mut self) {
            self.note("roll back");
        }

        fn abandon(&mut self) {
            self.note("abandon");
        }

        fn finish(&mut self) {
            self.note("finish");
        }
    }

    /// The same database with a batch deadline.
    struct SlowDatabase(FakeDatabase);

    impl Backend for SlowDatabase {
        type Job = FakeJob;
        const BATCH_DEADLINE: Option<Duration> = Some(Duration::from_millis(50));

        async fn begin(&mut self, batch: &[FakeJob]) -> StoreResult<()> {
            self.0.begin(batch).await
        }
        async fn run_in_savepoint(&mut self, job: FakeJob) -> Savepointed<FakeJob> {
            self.0.run_in_savepoint(job).await
        }
        async fn commit(&mut self) -> StoreResult<()> {
            self.0.commit().await
        }
        async fn roll_back(&mut self) {
            self.0.roll_back().await;
        }
        fn abandon(&mut self) {
            self.0.abandon();
        }
    }

    fn queue(jobs: &JobQueue<FakeJob>, outcome: StoreResult<u32>) -> Queued<u32> {
        jobs.submit(|reply| FakeJob { outcome, reply })
    }

    fn backend_error(answer: StoreResult<u32>) -> String {
        match answer {
            Err(StoreError::Backend(text)) => text,
            other => panic!("expected a backend error, got {other:?}"),
        }
    }

    /// Queues `outcomes`, closes the queue, runs the writer to the end and
    /// returns the answers.
    async fn run_to_end<B: Backend<Job = FakeJob>>(
        backend: B,
        outcomes: Vec<StoreResult<u32>>,
        max_batch: usize,
    ) -> Vec<StoreResult<u32>> {
        let (jobs, receiver) = JobQueue::bounded(JOB_QUEUE);
        let answers: Vec<_> = outcomes.into_iter().map(|outcome| queue(&jobs, outcome)).collect();
        jobs.close();
        run(backend, receiver, max_batch, Arc::new(Metrics::default())).await;
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await);
        }
        results
    }

    #[tokio::test]
    async fn a_failed_job_is_rolled_back_to_its_savepoint_and_the_rest_commits() {
        let database = FakeDatabase::default();
        let log = Arc::clone(&database.log);
        let answers =
            run_to_end(database, vec![Ok(1), Err(StoreError::NotMember), Ok(3)], DEFAULT_MAX_BATCH).await;
        assert!(matches!(answers[..], [Ok(1), Err(StoreError::NotMember), Ok(3)]), "{answers:?}");
        assert_eq!(
            *log.lock().unwrap(),
            ["begin", "released", "rolled back to savepoint", "released", "commit", "finish"]
        );
    }

    #[tokio::test]
    async fn answers_wait_for_the_commit_and_share_its_fate() {
        let database = FakeDatabase { commit_fails: true, ..FakeDatabase::default() };
        let log = Arc::clone(&database.log);
        let answers = run_to_end(database, vec![Ok(1), Err(StoreError::NotMember)], DEFAULT_MAX_BATCH).await;
        let mut answers = answers.into_iter();
        assert_eq!(backend_error(answers.next().unwrap()), "disk full", "a job that ran is not durable");
        assert!(matches!(answers.next(), Some(Err(StoreError::NotMember))), "its own error says more");
        assert_eq!(
            *log.lock().unwrap(),
            ["begin", "released", "rolled back to savepoint", "commit", "roll back", "finish"]
        );
    }

    #[tokio::test]
    async fn a_savepoint_that_cannot_open_aborts_the_batch() {
        let database = FakeDatabase { savepoint_fails_at: Some(1), ..FakeDatabase::default() };
        let log = Arc::clone(&database.log);
        let answers = run_to_end(database, vec![Ok(1), Ok(2), Ok(3)], DEFAULT_MAX_BATCH).await;
        let texts: Vec<String> = answers.into_iter().map(backend_error).collect();
        assert_eq!(texts, ["no savepoint", "transaction aborted", "transaction aborted"]);
        assert_eq!(*log.lock().unwrap(), ["begin", "released", "savepoint failed", "roll back", "finish"]);
    }

    #[tokio::test]
    async fn jobs_are_committed_in_batches_of_at_most_max_batch() {
        let database = FakeDatabase::default();
        let log = Arc::clone(&database.log);
        let answers = run_to_end(database, (1..=5).map(Ok).collect(), 2).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        let commits = log.lock().unwrap().iter().filter(|step| **step == "commit").count();
        assert_eq!(commits, 3, "2 + 2 + 1");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_a_closed_one_drains_first() {
        let (jobs, receiver) = JobQueue::bounded(2);
        let queued = [queue(&jobs, Ok(1)), queue(&jobs, Ok(2))];
        // Nothing takes jobs yet: the third is refused without waiting.
        assert!(matches!(
            futures_util::FutureExt::now_or_never(queue(&jobs, Ok(3))),
            Some(Err(StoreError::Busy))
        ));
        jobs.close();
        assert!(matches!(
            futures_util::FutureExt::now_or_never(queue(&jobs, Ok(4))),
            Some(Err(StoreError::Closed))
        ));
        run(FakeDatabase::default(), receiver, DEFAULT_MAX_BATCH, Arc::new(Metrics::default())).await;
        let [first, second] = queued;
        assert!(matches!((first.await, second.await), (Ok(1), Ok(2))), "queued before close, so committed");
    }

    #[tokio::test]
    async fn a_batch_past_its_deadline_fails_and_gives_up_the_connection() {
        let database = SlowDatabase(FakeDatabase { commit_hangs: true, ..FakeDatabase::default() });
        let log = Arc::clone(&database.0.log);
        let answers = run_to_end(database, vec![Ok(1)], DEFAULT_MAX_BATCH).await;
        // The job ran, so its answer went with the dropped batch.
        assert!(matches!(answers[..], [Err(StoreError::Closed)]), "{answers:?}");
        assert_eq!(*log.lock().unwrap(), ["begin", "released", "abandon"]);
    }
}
