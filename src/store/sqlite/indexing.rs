//! When new messages are indexed for search on SQLite (`search` says why
//! not in their own transaction): small batches, each behind the appends
//! queued before it, so the index is written once per batch rather than
//! once per commit and no batch holds the writer long; and before a search,
//! everything appended before it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often batches are queued while messages arrive.
const INDEX_INTERVAL: Duration = Duration::from_millis(50);

/// Most messages (or system lines, or deleted messages, which a batch
/// passes over) one batch takes: a few milliseconds of the writer.
pub(super) const ROWS_PER_JOB: u32 = 512;

/// What was appended and what is known to be indexed, as counts of this
/// process's appends, and when batches were last queued.
pub(super) struct Indexing {
    /// Appends so far (plus one at start when the database already had
    /// messages past the mark).
    appended: AtomicU64,
    /// The count of appends a finished catch-up (a search's) had covered.
    caught_up: AtomicU64,
    since: Mutex<Since>,
}

struct Since {
    queued_at: Instant,
    appended: u64,
}

impl Indexing {
    /// `behind`: messages past the mark are in the database already (left
    /// by a stop, an import, or another process).
    pub(super) fn new(behind: bool) -> Self {
        Self {
            appended: AtomicU64::new(u64::from(behind)),
            caught_up: AtomicU64::new(0),
            since: Mutex::new(Since { queued_at: Instant::now(), appended: 0 }),
        }
    }

    /// Notes a new row in `messages`, before its append is answered; how
    /// many batches to queue now (none until the interval has passed, then
    /// enough for what arrived meanwhile).
    pub(super) fn appended(&self) -> u64 {
        self.appended.fetch_add(1, Ordering::AcqRel);
        let mut since = self.since.lock().expect("the indexing schedule is never poisoned");
        since.appended += 1;
        if since.queued_at.elapsed() < INDEX_INTERVAL {
            return 0;
        }
        let batches = since.appended.div_ceil(u64::from(ROWS_PER_JOB));
        *since = Since { queued_at: Instant::now(), appended: 0 };
        batches
    }

    /// What a search must catch up to: `None` when a finished catch-up
    /// covered every append answered so far, else the count to pass to
    /// [`Indexing::caught_up_to`] once the catch-up has committed.
    pub(super) fn catch_up_target(&self) -> Option<u64> {
        let appended = self.appended.load(Ordering::Acquire);
        (self.caught_up.load(Ordering::Acquire) < appended).then_some(appended)
    }

    /// Records a committed catch-up (never backwards; one that failed is
    /// simply not recorded, so the next search tries again).
    pub(super) fn caught_up_to(&self, target: u64) {
        self.caught_up.fetch_max(target, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_due_after_the_interval_and_cover_what_arrived() {
        let indexing = Indexing::new(false);
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
    }

    #[test]
    fn a_search_catches_up_until_a_catch_up_has_committed() {
        let indexing = Indexing::new(false);
        assert_eq!(indexing.catch_up_target(), None, "nothing appended");
        indexing.appended();
        let first = indexing.catch_up_target().expect("one append to cover");
        // A second search before the first's catch-up commits still catches up.
        assert_eq!(indexing.catch_up_target(), Some(first));
        indexing.caught_up_to(first);
        assert_eq!(indexing.catch_up_target(), None);
        indexing.appended();
        let second = indexing.catch_up_target().expect("a new append");
        indexing.caught_up_to(first);
        assert_eq!(indexing.catch_up_target(), Some(second), "an older catch-up covers less");
        assert!(Indexing::new(true).catch_up_target().is_some(), "behind at start");
    }
}
