//! Per-channel delivery order. Changes to a channel's messages (new ones,
//! edits, deletions) reach the hub in whatever order their commits finish,
//! and from other nodes with possible losses; each channel's [`Route`]
//! releases revs strictly in order. An early arrival waits in `pending`; a
//! gap asks for one fill from the store (the hub's driver reads it outside
//! the lock, after giving the gap time to close).
//!
//! A fill reads messages as they stand, so a change that a later one
//! superseded (an edit edited again) is not there: the fill says which
//! revs it covers, and a rev it covers that nobody has is passed over, as
//! its message comes at its later rev.
//!
//! The routes are split into [`SHARDS`] shards by channel, each behind its
//! own lock ([`RouteShards`]): a message's fan-out takes only its channel's
//! shard, so channels fan out in parallel on as many cores as there are,
//! and wait for the hub's lock (registrations, presence) only to drop a
//! connection found too slow, after the fan-out. A route holds its
//! subscribers' outlets, so fanning out needs nothing else. Deliveries
//! offered under the hub's lock alone (read markers, settings, channel
//! changes) are not ordered against a fan-out under way on another core;
//! nothing in the protocol orders them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::registry::{ConnectionId, Outlet};
use crate::model::{ChannelId, Message, Rev};

/// Route shards. A power of two well above the core counts natter meets
/// (a shard's lock is held for one channel's fan-out at a time), and small
/// enough that every-shard walks (heads, the tests' invariants) are cheap.
pub(super) const SHARDS: usize = 64;

/// The routes, by channel, in [`SHARDS`] locked shards. Lock order: the
/// hub's lock before a shard's, and one shard at a time.
pub(super) struct RouteShards(Box<[Mutex<Routes>]>);

impl RouteShards {
    pub(super) fn starting_at(heads: impl IntoIterator<Item = (ChannelId, Rev)>) -> Self {
        let shards: Box<[Mutex<Routes>]> = (0..SHARDS).map(|_| Mutex::new(Routes::default())).collect();
        for (channel, rev) in heads {
            lock(&shards[shard_of(channel)]).0.insert(channel, Route::new(rev));
        }
        Self(shards)
    }

    /// The shard that holds `channel`'s route, locked.
    pub(super) fn shard(&self, channel: ChannelId) -> MutexGuard<'_, Routes> {
        lock(&self.0[shard_of(channel)])
    }

    /// Every shard, each locked in turn.
    pub(super) fn each(&self) -> impl Iterator<Item = MutexGuard<'_, Routes>> {
        self.0.iter().map(lock)
    }

    pub(super) fn heads(&self) -> Vec<(ChannelId, Rev)> {
        let mut heads: Vec<_> = self.each().flat_map(|routes| routes.heads()).collect();
        heads.sort_unstable();
        heads
    }
}

fn shard_of(channel: ChannelId) -> usize {
    // Channel ids are sequential, so the low bits spread them evenly.
    (channel.0 as u64 % SHARDS as u64) as usize
}

fn lock(shard: &Mutex<Routes>) -> MutexGuard<'_, Routes> {
    // Nothing panics while holding a shard (but the tests' invariant
    // checks, which fail the test); a poisoned one is whole.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) struct Route {
    pub(super) subscribers: HashMap<ConnectionId, Arc<Outlet>>,
    /// The highest rev fanned out; the next one delivered is `delivered + 1`.
    pub(super) delivered: Rev,
    /// Changes that arrived ahead of their turn.
    pub(super) pending: BTreeMap<Rev, Message>,
    /// A fill is requested and not finished; a gap asks only once.
    pub(super) fill_requested: bool,
}

impl Route {
    fn new(delivered: Rev) -> Self {
        Self { subscribers: HashMap::new(), delivered, pending: BTreeMap::new(), fill_requested: false }
    }

    /// Releases everything now in order, passing over the revs up to
    /// `covered` that a fill showed to be superseded.
    fn release(&mut self, covered: Rev) -> Vec<(Rev, Message)> {
        let mut ready = Vec::new();
        // The rev fanned out last: a pass-over does not move it.
        let mut after = self.delivered;
        loop {
            let next = Rev(self.delivered.0 + 1);
            if let Some(message) = self.pending.remove(&next) {
                self.delivered = next;
                ready.push((after, message));
                after = next;
            } else if next <= covered {
                let waiting = self.pending.keys().next().map_or(covered, |first| Rev(first.0 - 1));
                self.delivered = waiting.min(covered);
            } else {
                return ready;
            }
        }
    }
}

/// What accepting a change released.
pub(super) struct Released {
    /// Changes now in order, to fan out, each with the rev delivered
    /// before it.
    pub(super) ready: Vec<(Rev, Message)>,
    /// A gap opened: the store must fill it.
    pub(super) request_fill: bool,
}

#[derive(Default)]
pub(super) struct Routes(pub(super) HashMap<ChannelId, Route>);

impl Routes {
    #[cfg(test)]
    pub(super) fn starting_at(heads: impl IntoIterator<Item = (ChannelId, Rev)>) -> Self {
        Self(heads.into_iter().map(|(channel, rev)| (channel, Route::new(rev))).collect())
    }

    /// The channel's route; a channel the hub has not seen starts at `head`,
    /// so live delivery never replays history.
    fn route(&mut self, channel: ChannelId, head: Rev) -> &mut Route {
        self.0.entry(channel).or_insert_with(|| Route::new(head))
    }

    /// Subscribes a connection; returns the rev the route delivered last,
    /// from which on the connection hears every change.
    pub(super) fn subscribe(
        &mut self,
        channel: ChannelId,
        head: Rev,
        connection: ConnectionId,
        outlet: &Arc<Outlet>,
    ) -> Rev {
        let route = self.route(channel, head);
        route.subscribers.insert(connection, Arc::clone(outlet));
        route.delivered
    }

    pub(super) fn unsubscribe(&mut self, channel: ChannelId, connection: ConnectionId) {
        if let Some(route) = self.0.get_mut(&channel) {
            route.subscribers.remove(&connection);
        }
    }

    pub(super) fn subscribers(
        &self,
        channel: ChannelId,
    ) -> impl Iterator<Item = (ConnectionId, &Arc<Outlet>)> + '_ {
        self.0
            .get(&channel)
            .into_iter()
            .flat_map(|route| route.subscribers.iter().map(|(id, outlet)| (*id, outlet)))
    }

    /// Takes committed changes of one channel and releases everything now
    /// in order. `covered`: the changes are a read of the store, which
    /// holds every rev up to it or a later change of the same message.
    pub(super) fn accept(
        &mut self,
        channel: ChannelId,
        changes: Vec<Message>,
        covered: Option<Rev>,
    ) -> Released {
        let Some(first) = changes.first() else {
            return Released { ready: Vec::new(), request_fill: false };
        };
        let route = self.route(channel, Rev(first.rev.0 - 1));
        for change in changes {
            if change.rev > route.delivered {
                route.pending.insert(change.rev, change);
            }
        }
        let ready = route.release(covered.unwrap_or(route.delivered));
        let request_fill = !route.pending.is_empty() && !route.fill_requested;
        route.fill_requested |= request_fill;
        Released { ready, request_fill }
    }

    /// Where a requested fill reads from: the last delivered rev, while
    /// changes still wait behind a gap. `None` ends the fill.
    pub(super) fn fill_from(&mut self, channel: ChannelId) -> Option<Rev> {
        let route = self.0.get_mut(&channel)?;
        if route.pending.is_empty() {
            route.fill_requested = false;
            return None;
        }
        Some(route.delivered)
    }

    /// Each channel's last delivered rev, unsorted.
    pub(super) fn heads(&self) -> Vec<(ChannelId, Rev)> {
        self.0.iter().map(|(channel, route)| (*channel, route.delivered)).collect()
    }
}

#[cfg(test)]
mod tests {
    //! A route's order by rev, when changes arrive live with losses and
    //! fills read messages as they stand (superseded revs absent).

    use super::*;
    use crate::model::{MessageId, Seq, UserId};

    const CHANNEL: ChannelId = ChannelId(1);

    /// The message at `seq` as of its change `rev`.
    fn change(seq: i64, rev: i64) -> Message {
        Message {
            id: MessageId(seq),
            channel: CHANNEL,
            seq: Seq(seq),
            sender: UserId(1),
            sender_name: "ann".into(),
            client_id: format!("c-{seq}"),
            body: format!("{seq} as of {rev}"),
            ts: 0,
            system: None,
            rev: Rev(rev),
            edited_at: (rev > seq).then_some(rev),
            deleted: None,
            reactions: Vec::new(),
            reply_to: None,
            mentions: Default::default(),
            files: Vec::new(),
        }
    }

    fn revs(released: &Released) -> Vec<i64> {
        released.ready.iter().map(|(_, change)| change.rev.0).collect()
    }

    /// Each released change's rev and the rev it follows.
    fn follows(released: &Released) -> Vec<(i64, i64)> {
        released.ready.iter().map(|(after, change)| (change.rev.0, after.0)).collect()
    }

    fn live(routes: &mut Routes, seq: i64, rev: i64) -> Released {
        routes.accept(CHANNEL, vec![change(seq, rev)], None)
    }

    #[test]
    fn a_fill_passes_over_revs_a_later_change_superseded() {
        let mut routes = Routes::starting_at([(CHANNEL, Rev(0))]);
        // Revs: 1 new seq 1, 2 new seq 2, 3 edit of 1 (lost), 4 edit of 1
        // again, 5 new seq 3. Only 1, 4 and 5 arrive live.
        assert_eq!(revs(&live(&mut routes, 1, 1)), [1]);
        let waiting = live(&mut routes, 1, 4);
        assert!(waiting.ready.is_empty() && waiting.request_fill, "a gap asks for a fill");
        let still = live(&mut routes, 3, 5);
        assert!(still.ready.is_empty() && !still.request_fill, "one fill per gap");
        assert_eq!(routes.fill_from(CHANNEL), Some(Rev(1)));
        // The store holds seq 2 at rev 2, seq 1 at rev 4 and seq 3 at rev 5:
        // rev 3 is nowhere, as rev 4 superseded it.
        let filled = routes.accept(CHANNEL, vec![change(2, 2), change(1, 4), change(3, 5)], Some(Rev(5)));
        assert_eq!(revs(&filled), [2, 4, 5], "each rev once, in order, rev 3 passed over");
        assert_eq!(follows(&filled), [(2, 1), (4, 2), (5, 4)], "4 follows 2: nothing lies between them");
        assert_eq!(routes.fill_from(CHANNEL), None, "nothing waits: the fill is over");
        assert_eq!(routes.heads(), [(CHANNEL, Rev(5))]);
        assert!(revs(&live(&mut routes, 1, 3)).is_empty(), "a late superseded change is not delivered");
    }

    #[test]
    fn a_fill_page_closes_the_gap_up_to_its_last_rev_only() {
        let mut routes = Routes::starting_at([(CHANNEL, Rev(2))]);
        // Revs 3 and 4 lost; rev 7 arrives live; rev 4 was superseded by 6.
        assert!(live(&mut routes, 5, 7).request_fill);
        // A first page ends at rev 3: the gap up to 3 closes, 4-6 still wait.
        let first = routes.accept(CHANNEL, vec![change(3, 3)], Some(Rev(3)));
        assert_eq!(revs(&first), [3]);
        assert_eq!(routes.fill_from(CHANNEL), Some(Rev(3)), "the fill goes on");
        let second = routes.accept(CHANNEL, vec![change(4, 5), change(2, 6)], Some(Rev(6)));
        assert_eq!(revs(&second), [5, 6, 7], "rev 4 passed over, the live rev 7 released after the fill");
        assert_eq!(routes.fill_from(CHANNEL), None);
    }

    #[test]
    fn an_unseen_channel_starts_just_before_its_first_change() {
        let mut routes = Routes::default();
        assert_eq!(revs(&live(&mut routes, 8, 9)), [9], "live delivery never replays history");
        assert_eq!(revs(&live(&mut routes, 2, 10)), [10], "an edit of an older message follows in order");
    }
}
