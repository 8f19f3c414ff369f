//! The session core both client protocols share: what a connection knows
//! of each channel it shows (its cursor), replays from the store, sends
//! awaiting their commit, the request budget, and how a session is told to
//! end. `ws.rs` and `socketio.rs` translate frames to calls on these and
//! the results back to frames.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio_util::sync::CancellationToken;

use super::AppState;
use crate::app::{Committing, FILL_PAGE, RequestError};
use crate::hub::{EndWatch, Ended, Registration};
use crate::limits::TokenBucket;
use crate::model::{ChannelId, Message, Seq, User};
use crate::store::Appended;

/// Messages of one connection awaiting their commit. At the bound the
/// session stops reading requests until commits catch up: the client's
/// sends wait in its socket (and TCP's window), not in server memory.
pub(super) const MAX_SENDS_IN_FLIGHT: usize = 256;

/// The last seq written to the client, per channel it is shown. Live
/// deliveries at or below it are skipped; a jump past it is filled from
/// the store first, so the client sees every seq once, in order.
#[derive(Default)]
pub(super) struct Cursors(HashMap<ChannelId, Seq>);

/// What to do with a live message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Not shown here, or shown already.
    Skip,
    /// Show it, after replaying the ones before it that never came live.
    FillThenShow,
    Show,
}

impl Cursors {
    pub(super) fn get(&self, channel: ChannelId) -> Option<Seq> {
        self.0.get(&channel).copied()
    }

    pub(super) fn set(&mut self, channel: ChannelId, seq: Seq) {
        self.0.insert(channel, seq);
    }

    /// Starts showing a channel from `seq` unless it is shown already.
    pub(super) fn start(&mut self, channel: ChannelId, seq: Seq) {
        self.0.entry(channel).or_insert(seq);
    }

    pub(super) fn stop(&mut self, channel: ChannelId) {
        self.0.remove(&channel);
    }

    /// What a live message means to this connection: a channel without a
    /// cursor is not shown here.
    pub(super) fn step(&self, message: &Message) -> Step {
        match self.get(message.channel) {
            None => Step::Skip,
            Some(cursor) if message.seq <= cursor => Step::Skip,
            Some(cursor) if message.seq.0 > cursor.0 + 1 => Step::FillThenShow,
            Some(_) => Step::Show,
        }
    }
}

/// Why a replay stopped early.
#[derive(Debug)]
pub(super) enum ReplayError {
    /// Storage failed.
    Unavailable,
}

/// A replay of one channel from the store: the messages after the cursor,
/// up to `until` (exclusive) or to the end, a page at a time. Each page
/// waits for the user's and the address's read budgets, like `history`:
/// a resume loop is slowed, never refused (it must finish to be correct).
pub(super) struct Replay<'a> {
    state: &'a AppState,
    user: &'a User,
    address: Option<IpAddr>,
    channel: ChannelId,
    until: Option<Seq>,
    done: bool,
}

impl<'a> Replay<'a> {
    pub(super) fn new(
        state: &'a AppState,
        user: &'a User,
        address: Option<IpAddr>,
        channel: ChannelId,
        until: Option<Seq>,
    ) -> Self {
        Self { state, user, address, channel, until, done: false }
    }

    /// The next page after `after` (the caller's cursor, moved as it writes
    /// each message); `None` when the replay is complete.
    pub(super) async fn next_page(&mut self, after: Seq) -> Result<Option<Vec<Message>>, ReplayError> {
        if self.done || self.until.is_some_and(|until| after.0 + 1 >= until.0) {
            return Ok(None);
        }
        if let Some(address) = self.address {
            self.state.reads.wait_for(self.user.id, address).await;
        }
        let page = match self.state.app.messages_after(self.user, self.channel, after).await {
            Ok(page) => page,
            Err(RequestError::Unavailable) => return Err(ReplayError::Unavailable),
            // Membership ended meanwhile: nothing more to replay.
            Err(_) => return Ok(None),
        };
        let until = self.until;
        self.done = page.len() < FILL_PAGE as usize
            || page.last().is_some_and(|last| until.is_some_and(|until| last.seq >= until));
        let page: Vec<Message> =
            page.into_iter().filter(|message| until.is_none_or(|until| message.seq < until)).collect();
        Ok(Some(page))
    }
}

/// A send awaiting its commit, with what the edge needs to answer it.
pub(super) struct SendOutcome<T> {
    pub(super) answer_to: T,
    pub(super) result: Result<Appended, RequestError>,
}

/// Sends awaiting their commits, answered in the order they were sent.
/// The queue exists only while sends are pending: an empty
/// `FuturesOrdered` still holds two allocations, and most connections
/// are idle most of the time.
pub(super) struct PendingSends<T> {
    pending: Option<FuturesOrdered<PendingSend<T>>>,
}

/// One send awaiting its commit.
type PendingSend<T> = Pin<Box<dyn Future<Output = SendOutcome<T>> + Send>>;

impl<T: Send + 'static> PendingSends<T> {
    pub(super) fn new() -> Self {
        Self { pending: None }
    }

    pub(super) fn push(&mut self, answer_to: T, committing: Committing) {
        let pending = self.pending.get_or_insert_with(FuturesOrdered::new);
        pending.push_back(Box::pin(async move { SendOutcome { answer_to, result: committing.await } }));
    }

    /// Whether the session may read another request.
    pub(super) fn has_room(&self) -> bool {
        self.pending.as_ref().map_or(0, FuturesOrdered::len) < MAX_SENDS_IN_FLIGHT
    }

    /// The next commit, in send order; never resolves while none is pending.
    pub(super) async fn next(&mut self) -> SendOutcome<T> {
        let Some(pending) = self.pending.as_mut() else {
            return std::future::pending().await;
        };
        match pending.next().await {
            Some(outcome) => {
                if pending.is_empty() {
                    self.pending = None;
                }
                outcome
            }
            None => std::future::pending().await,
        }
    }
}

/// What a connection may ask for besides sends: its own request rate, and
/// for reads, the budgets all of its user's and address's connections
/// share. Limits hit are logged once per connection, not once per request.
pub(super) struct RequestBudget {
    requests: TokenBucket,
    address: Option<IpAddr>,
    limits_hit: HashSet<&'static str>,
}

/// The kind of a request, for the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cost {
    /// Free of the request budget (sends have the message rate).
    Free,
    Request,
    /// A request that reads (history, lists, switching channel).
    Read,
}

impl RequestBudget {
    pub(super) fn new(state: &AppState, address: Option<IpAddr>) -> Self {
        let limits = state.app.limits();
        Self {
            requests: TokenBucket::new(limits.requests_per_second, limits.request_burst),
            address,
            limits_hit: HashSet::new(),
        }
    }

    /// Takes what a request costs; false (and the refusal counted) when
    /// the connection, its user or its address is over budget.
    pub(super) fn take(&mut self, state: &AppState, user: Option<&User>, cost: Cost) -> bool {
        let within = match cost {
            Cost::Free => true,
            Cost::Request => self.requests.try_take(),
            // The connection's own budget first: a connection past it must
            // not spend what its user's other connections and its address
            // share.
            Cost::Read => {
                self.requests.try_take()
                    && match (user, self.address) {
                        (Some(user), Some(address)) => state.reads.take(user.id, address),
                        _ => true,
                    }
            }
        };
        if !within {
            self.note_limit("request rate");
            state.app.count_rate_limited();
        }
        within
    }

    /// Logs the first time this connection hits each limit.
    pub(super) fn note_limit(&mut self, limit: &'static str) {
        if self.limits_hit.insert(limit) {
            tracing::info!(limit, address = ?self.address, "a client hit a limit");
        }
    }
}

/// Why the server ends a session on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    ShuttingDown,
    /// The hub dropped the connection for falling behind.
    TooSlow,
    /// The login session was ended (logout).
    SessionEnded,
}

/// What ends a session: one token (so a session watches one signal on
/// every wake) and, once registered, why the hub ended it.
#[derive(Clone)]
pub(super) struct EndSignals {
    ended: CancellationToken,
    watch: Option<EndWatch>,
}

impl EndSignals {
    /// Before the connection has a registration: only the shutdown.
    pub(super) fn unregistered(state: &AppState) -> Self {
        Self { ended: state.shutdown.clone(), watch: None }
    }

    /// A registration's end signal, a child of the shutdown's (see
    /// `hub::EndWatch`).
    pub(super) fn registered(registration: &Registration) -> Self {
        Self { ended: registration.end.ended.clone(), watch: Some(registration.end.clone()) }
    }

    /// [`EndSignals::ended`], owning its signals.
    pub(super) async fn into_ended(self) -> Ending {
        self.ended().await
    }

    /// Resolves when the session must end, saying why.
    pub(super) async fn ended(&self) -> Ending {
        self.ended.cancelled().await;
        match self.watch.as_ref().and_then(EndWatch::ended_by_hub) {
            Some(Ended::TooSlow) => Ending::TooSlow,
            Some(Ended::SessionEnded) => Ending::SessionEnded,
            None => Ending::ShuttingDown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MessageId, UserId};

    fn message(channel: u64, seq: u64) -> Message {
        Message {
            id: MessageId(seq as i64),
            channel: ChannelId(channel as i64),
            seq: Seq(seq as i64),
            sender: UserId(1),
            sender_name: "ann".into(),
            body: "hi".into(),
            ts: 0,
            client_id: format!("c-{seq}"),
            system: None,
        }
    }

    #[test]
    fn cursors_skip_what_was_shown_and_fill_jumps() {
        let mut cursors = Cursors::default();
        assert_eq!(cursors.step(&message(1, 1)), Step::Skip, "not shown here");
        cursors.start(ChannelId(1), Seq(5));
        cursors.start(ChannelId(1), Seq(2));
        assert_eq!(cursors.get(ChannelId(1)), Some(Seq(5)), "a cursor is not moved back by a start");
        assert_eq!(cursors.step(&message(1, 5)), Step::Skip);
        assert_eq!(cursors.step(&message(1, 6)), Step::Show);
        assert_eq!(cursors.step(&message(1, 9)), Step::FillThenShow);
        cursors.stop(ChannelId(1));
        assert_eq!(cursors.step(&message(1, 9)), Step::Skip);
    }
}
