//! Per-user budgets of this node: messages (shared by all of a user's
//! connections, and held across nodes by the cluster's bucket),
//! invitations and searches. Bounded: past [`TRACKED_BUCKETS`] users, buckets that are
//! full again (their users idle) are forgotten, which changes nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::watch;

use crate::limits::{Limits, TRACKED_BUCKETS, TokenBucket};
use crate::model::UserId;

/// How many more invitations one user may receive per hour from everyone
/// than from any one inviter.
pub(super) const INVITATIONS_RECEIVED_FACTOR: f64 = 10.0;

struct MessageRate {
    bucket: TokenBucket,
    /// Set when the cluster's shared bucket for this user ran dry (the user
    /// sends through several nodes): sends are refused until then.
    shared_throttle_until: Option<Instant>,
    /// Closes when the cluster's bucket has answered this user's latest
    /// send (its sender is dropped then).
    shared_answer: Option<watch::Receiver<()>>,
}

#[derive(Default)]
pub(super) struct Rates {
    messages: Mutex<HashMap<UserId, MessageRate>>,
    /// Invitations still allowed, per inviter and invitee and per invitee,
    /// by bucket name (see `membership`).
    invitations: Mutex<HashMap<String, TokenBucket>>,
    searches: Mutex<HashMap<UserId, TokenBucket>>,
    /// Users with a search running on this node: one at a time each, so
    /// one user's slow searches cannot fill the search connection.
    searching: Mutex<HashSet<UserId>>,
}

/// A user's running search; dropping it ends it.
pub(super) struct RunningSearch<'a> {
    rates: &'a Rates,
    user: UserId,
}

impl Drop for RunningSearch<'_> {
    fn drop(&mut self) {
        self.rates.searching.lock().expect("running searches lock is never poisoned").remove(&self.user);
    }
}

impl Rates {
    fn messages(&self) -> MutexGuard<'_, HashMap<UserId, MessageRate>> {
        self.messages.lock().expect("message rates lock is never poisoned")
    }

    /// Takes one of `user`'s messages, unless their budget here or the
    /// cluster's is spent.
    pub(super) fn take_message(&self, user: UserId, limits: &Limits) -> bool {
        let mut rates = self.messages();
        if rates.len() >= TRACKED_BUCKETS {
            rates.retain(|_, rate| !rate.bucket.is_full());
        }
        let rate = rates.entry(user).or_insert_with(|| MessageRate {
            bucket: TokenBucket::new(limits.messages_per_second, limits.message_burst),
            shared_throttle_until: None,
            shared_answer: None,
        });
        rate.shared_throttle_until.is_none_or(|until| until <= Instant::now()) && rate.bucket.try_take()
    }

    /// Notes that a take from the cluster's bucket for `user` is out; it is
    /// answered when the returned sender is dropped.
    pub(super) fn expect_shared_take(&self, user: UserId) -> watch::Sender<()> {
        let (answered, answer) = watch::channel(());
        if let Some(rate) = self.messages().get_mut(&user) {
            rate.shared_answer = Some(answer);
        }
        answered
    }

    /// The answer still out for `user`'s latest take from the cluster's
    /// bucket, if there is one.
    pub(super) fn unanswered_shared_take(&self, user: UserId) -> Option<watch::Receiver<()>> {
        let mut rates = self.messages();
        let rate = rates.get_mut(&user)?;
        let answer = rate.shared_answer.take_if(|answer| answer.has_changed().is_ok())?;
        rate.shared_answer = Some(answer.clone());
        Some(answer)
    }

    /// The cluster's bucket for `user` is empty until `until`.
    pub(super) fn throttle_until(&self, user: UserId, until: Instant) {
        if let Some(rate) = self.messages().get_mut(&user) {
            rate.shared_throttle_until = Some(until);
        }
    }

    /// Starts a search for `user`, unless one of theirs is running.
    pub(super) fn start_search(&self, user: UserId) -> Option<RunningSearch<'_>> {
        let started = self.searching.lock().expect("running searches lock is never poisoned").insert(user);
        started.then_some(RunningSearch { rates: self, user })
    }

    /// Takes one of `user`'s searches, unless they are spent.
    pub(super) fn take_search(&self, user: UserId, limits: &Limits) -> bool {
        let mut searches = self.searches.lock().expect("search rates lock is never poisoned");
        if searches.len() >= TRACKED_BUCKETS {
            searches.retain(|_, bucket| !bucket.is_full());
        }
        let per_minute = limits.searches_per_minute;
        searches
            .entry(user)
            .or_insert_with(|| TokenBucket::new(per_minute / 60.0, per_minute.max(1.0)))
            .try_take()
    }

    /// Takes one token from each named bucket (`per_hour` each), only if
    /// every one of them has one.
    pub(super) fn take_invitations(&self, buckets: &[(String, f64)]) -> bool {
        let mut invitations = self.invitations.lock().expect("invitation rates lock is never poisoned");
        if invitations.len() >= TRACKED_BUCKETS {
            invitations.retain(|_, bucket| !bucket.is_full());
        }
        let has_tokens = buckets.iter().all(|(key, per_hour)| {
            invitations
                .entry(key.clone())
                .or_insert_with(|| TokenBucket::new(per_hour / 3600.0, per_hour.max(1.0)))
                .has_token()
        });
        if has_tokens {
            for (key, _) in buckets {
                invitations.get_mut(key).map(TokenBucket::try_take);
            }
        }
        has_tokens
    }
}
