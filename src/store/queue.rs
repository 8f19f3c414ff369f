//! The bounded queue in front of every store worker: each backend's
//! group-commit writer and SQLite's read connections.
//!
//! It owns the two promises callers rely on: a job is refused at once
//! (`StoreError::Busy`) when the queue is full, rather than queueing without
//! bound behind a slow disk or database; and closing the queue stops new
//! jobs while the worker still takes and answers every job already queued.
//! What a job does, and when it is answered, is the worker's business.

use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot};

use super::{Queued, StoreError, StoreResult};

/// The sending side of a bounded job queue; the worker holds the receiver.
pub(super) struct JobQueue<J> {
    /// `None` once closed. The worker's receiver sees the queue end when
    /// this, the only sender, is dropped and the queued jobs are taken.
    sender: Mutex<Option<mpsc::Sender<J>>>,
}

impl<J> JobQueue<J> {
    /// A queue holding at most `capacity` jobs, and the worker's end of it.
    pub(super) fn bounded(capacity: usize) -> (Self, mpsc::Receiver<J>) {
        let (sender, receiver) = mpsc::channel(capacity);
        (Self { sender: Mutex::new(Some(sender)) }, receiver)
    }

    /// Queues the job `make` builds around its caller's [`Reply`], refusing
    /// it at once when the queue is full (`Busy`) or closed (`Closed`), and
    /// returns the future of its answer. The job is on the queue (or
    /// refused) when this returns, so jobs submitted in order by one caller
    /// reach the worker in that order.
    pub(super) fn submit<T: Send + 'static>(&self, make: impl FnOnce(Reply<T>) -> J) -> Queued<T> {
        let (reply, answer) = oneshot::channel();
        let job = make(Reply(reply));
        let queued = match self.sender.lock().expect("job queue lock is never poisoned").as_ref() {
            Some(sender) => match sender.try_send(job) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => Err(StoreError::Busy),
                Err(mpsc::error::TrySendError::Closed(_)) => Err(StoreError::Closed),
            },
            None => Err(StoreError::Closed),
        };
        Box::pin(async move {
            queued?;
            // A worker that ended without answering (its thread or task
            // died, or a batch was given up) leaves the caller `Closed`.
            answer.await.unwrap_or(Err(StoreError::Closed))
        })
    }

    /// Stops taking jobs. Those already queued are still taken and
    /// answered; the worker then finds the queue ended and stops.
    pub(super) fn close(&self) {
        drop(self.sender.lock().expect("job queue lock is never poisoned").take());
    }
}

/// The caller waiting for a job's answer.
pub(super) struct Reply<T>(oneshot::Sender<StoreResult<T>>);

impl<T> Reply<T> {
    /// Answers the caller. The caller may have gone away; the work is done
    /// either way, so that is not an error.
    pub(super) fn send(self, answer: StoreResult<T>) {
        let _ = self.0.send(answer);
    }

    /// Whether the caller has gone away: a read nobody waits for need not
    /// run (a write runs anyway: the caller may be gone, the work is not).
    pub(super) fn is_abandoned(&self) -> bool {
        self.0.is_closed()
    }
}
