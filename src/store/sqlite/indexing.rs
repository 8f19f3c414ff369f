//! When new messages are indexed for search on SQLite (`search` says why
//! not in their own transaction): a few small batches at a time, each
//! behind the appends queued before it, so the index is written once per
//! batch rather than once per commit and no batch holds the writer long.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Most time a new message waits to be indexed while messages arrive.
const INDEX_INTERVAL: Duration = Duration::from_millis(50);

/// Most messages one batch indexes: a few milliseconds of the writer.
pub(super) const ROWS_PER_JOB: u32 = 512;

/// Whether messages await indexing, and what arrived since the last
/// batches were queued.
pub(super) struct Indexing {
    pending: AtomicBool,
    since: Mutex<Since>,
}

struct Since {
    queued_at: Instant,
    appended: u64,
}

impl Indexing {
    pub(super) fn new() -> Self {
        Self { pending: false.into(), since: Mutex::new(Since { queued_at: Instant::now(), appended: 0 }) }
    }

    /// Notes a new message; how many batches to queue now (none until the
    /// interval has passed, then enough for what arrived meanwhile).
    pub(super) fn appended(&self) -> u64 {
        self.pending.store(true, Ordering::Release);
        let mut since = self.since.lock().expect("the indexing schedule is never poisoned");
        since.appended += 1;
        if since.queued_at.elapsed() < INDEX_INTERVAL {
            return 0;
        }
        let batches = since.appended.div_ceil(u64::from(ROWS_PER_JOB));
        *since = Since { queued_at: Instant::now(), appended: 0 };
        batches
    }

    /// Whether messages may await indexing; clears the note, as the caller
    /// (a search) queues a batch of everything after them.
    pub(super) fn take_pending(&self) -> bool {
        self.pending.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_due_after_the_interval_and_cover_what_arrived() {
        let indexing = Indexing::new();
        assert_eq!(indexing.appended(), 0, "not due yet");
        std::thread::sleep(INDEX_INTERVAL);
        assert_eq!(indexing.appended(), 1, "due: one batch for the two");
        let started = Instant::now();
        let mut queued = 0;
        for _ in 0..2 * ROWS_PER_JOB {
            queued += indexing.appended();
        }
        // Unless the machine stalled for the whole interval in the loop.
        if started.elapsed() < INDEX_INTERVAL {
            assert_eq!(queued, 0, "nothing due within the interval");
            std::thread::sleep(INDEX_INTERVAL);
            assert_eq!(indexing.appended(), 3, "1,025 messages: three batches");
        }
        assert!(indexing.take_pending());
        assert!(!indexing.take_pending());
    }
}
