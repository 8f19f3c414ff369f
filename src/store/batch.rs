//! What the group-committing writers of every backend share: a job that has
//! run inside the batch's transaction waits here for the batch's fate, and
//! only then answers its caller. Nothing is answered before it is durable.

use tokio::sync::oneshot;

use super::StoreResult;

/// The result of a job that ran, waiting for its batch to commit.
pub(super) trait Completion: Send {
    fn succeeded(&self) -> bool;
    /// Answers the caller; `commit` says whether the batch is durable.
    fn finish(self: Box<Self>, commit: StoreResult<()>);
}

/// A job's result and the caller to answer with it.
pub(super) struct Ran<T> {
    pub(super) result: StoreResult<T>,
    pub(super) reply: oneshot::Sender<StoreResult<T>>,
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
        // The caller may have gone away; the work is done either way.
        let _ = self.reply.send(answer);
    }
}
