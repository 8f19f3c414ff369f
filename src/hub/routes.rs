//! Per-channel delivery order. Messages reach the hub in whatever order
//! their commits finish, and from other nodes with possible losses; each
//! channel's [`Route`] releases seqs strictly in order. An early arrival
//! waits in `pending`; a gap asks for one fill from the store (the hub's
//! driver reads it outside the lock, after giving the gap time to close).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::registry::ConnectionId;
use crate::model::{ChannelId, Message, Seq};

pub(super) struct Route {
    pub(super) subscribers: HashSet<ConnectionId>,
    /// The highest seq fanned out; the next one delivered is `delivered + 1`.
    pub(super) delivered: Seq,
    /// Messages that arrived ahead of their turn.
    pub(super) pending: BTreeMap<Seq, Message>,
    /// A fill is requested and not finished; a gap asks only once.
    pub(super) fill_requested: bool,
}

impl Route {
    fn new(delivered: Seq) -> Self {
        Self { subscribers: HashSet::new(), delivered, pending: BTreeMap::new(), fill_requested: false }
    }
}

/// What accepting a message released.
pub(super) struct Released {
    /// Messages now in order, to fan out.
    pub(super) ready: Vec<Message>,
    /// A gap opened: the store must fill it.
    pub(super) request_fill: bool,
}

#[derive(Default)]
pub(super) struct Routes(pub(super) HashMap<ChannelId, Route>);

impl Routes {
    pub(super) fn starting_at(heads: impl IntoIterator<Item = (ChannelId, Seq)>) -> Self {
        Self(heads.into_iter().map(|(channel, seq)| (channel, Route::new(seq))).collect())
    }

    /// The channel's route; a channel the hub has not seen starts at `head`,
    /// so live delivery never replays history.
    fn route(&mut self, channel: ChannelId, head: Seq) -> &mut Route {
        self.0.entry(channel).or_insert_with(|| Route::new(head))
    }

    pub(super) fn subscribe(&mut self, channel: ChannelId, head: Seq, connection: ConnectionId) {
        self.route(channel, head).subscribers.insert(connection);
    }

    pub(super) fn unsubscribe(&mut self, channel: ChannelId, connection: ConnectionId) {
        if let Some(route) = self.0.get_mut(&channel) {
            route.subscribers.remove(&connection);
        }
    }

    pub(super) fn subscribers(&self, channel: ChannelId) -> impl Iterator<Item = ConnectionId> + '_ {
        self.0.get(&channel).into_iter().flat_map(|route| route.subscribers.iter().copied())
    }

    /// Takes a committed message and releases everything now in order.
    pub(super) fn accept(&mut self, message: Message) -> Released {
        let route = self.route(message.channel, Seq(message.seq.0 - 1));
        if message.seq <= route.delivered {
            return Released { ready: Vec::new(), request_fill: false };
        }
        route.pending.insert(message.seq, message);
        let mut ready = Vec::new();
        while let Some(next) = route.pending.remove(&Seq(route.delivered.0 + 1)) {
            route.delivered = next.seq;
            ready.push(next);
        }
        let request_fill = !route.pending.is_empty() && !route.fill_requested;
        route.fill_requested |= request_fill;
        Released { ready, request_fill }
    }

    /// Where a requested fill reads from: the last delivered seq, while
    /// messages still wait behind a gap. `None` ends the fill.
    pub(super) fn fill_from(&mut self, channel: ChannelId) -> Option<Seq> {
        let route = self.0.get_mut(&channel)?;
        if route.pending.is_empty() {
            route.fill_requested = false;
            return None;
        }
        Some(route.delivered)
    }

    pub(super) fn heads(&self) -> Vec<(ChannelId, Seq)> {
        let mut heads: Vec<_> = self.0.iter().map(|(channel, route)| (*channel, route.delivered)).collect();
        heads.sort_unstable();
        heads
    }
}
