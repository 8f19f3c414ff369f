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
use crate::model::{ChannelId, Message, MessageId, Rev, Seq, User};
use crate::store::Appended;

/// Messages of one connection awaiting their commit. At the bound the
/// session stops reading requests until commits catch up: the client's
/// sends wait in its socket (and TCP's window), not in server memory.
pub(super) const MAX_SENDS_IN_FLIGHT: usize = 256;

/// Where the client is in one channel it is shown: the last rev written
/// (changes are written in rev order), and `seq`: the client holds every
/// message up to it, which tells a new message from a change of one the
/// client holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cursor {
    pub(super) seq: Seq,
    pub(super) rev: Rev,
}

/// A channel's [`Cursor`] and the messages past its seq the client was
/// shown already: a replay goes in rev order, so a message edited while
/// the client was away comes after newer ones (seq 5, then seq 4 at its
/// edit's rev). Empty (and unallocated) but in the middle of such a replay;
/// boxed, so it costs every channel of every connection 8 bytes.
struct Position {
    cursor: Cursor,
    ahead: Option<Box<Ahead>>,
}

/// Seqs shown past a cursor, as sorted, disjoint, non-adjacent inclusive
/// ranges: a replay shows runs of new messages with a few gaps (the
/// messages edited since, which come later), so this holds one range per
/// gap, not one entry per message.
#[derive(Default)]
struct Ahead(Vec<(i64, i64)>);

impl Ahead {
    fn contains(&self, seq: i64) -> bool {
        let at = self.0.partition_point(|&(_, end)| end < seq);
        self.0.get(at).is_some_and(|&(start, _)| start <= seq)
    }

    fn insert(&mut self, seq: i64) {
        let at = self.0.partition_point(|&(_, end)| end < seq);
        let joins_before = at > 0 && self.0[at - 1].1 + 1 == seq;
        let joins_after = self.0.get(at).is_some_and(|&(start, _)| start == seq + 1);
        match (joins_before, joins_after) {
            (true, true) => {
                self.0[at - 1].1 = self.0[at].1;
                self.0.remove(at);
            }
            (true, false) => self.0[at - 1].1 = seq,
            (false, true) => self.0[at].0 = seq,
            (false, false) => self.0.insert(at, (seq, seq)),
        }
    }

    /// The end of the range that starts right after `seq`, taken out.
    fn take_following(&mut self, seq: i64) -> Option<i64> {
        let &(start, end) = self.0.first()?;
        (start == seq + 1).then(|| {
            self.0.remove(0);
            end
        })
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Each shown channel's [`Cursor`]. Live changes at or below its rev are
/// skipped; a jump past it is filled from the store first, so the client
/// sees every change once, in rev order (a change superseded meanwhile
/// comes as its message's later state).
#[derive(Default)]
pub(super) struct Cursors(HashMap<ChannelId, Position>);

/// What to do with a live change.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Not shown here, or shown already.
    Skip,
    /// Show it, after replaying the changes before it that never came live.
    FillThenShow,
    Show,
}

/// How a change is shown to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shown {
    /// A message past the client's highest seq: `message`.
    New,
    /// A message the client may hold changed: `update`.
    Update,
}

impl Cursors {
    pub(super) fn get(&self, channel: ChannelId) -> Option<Cursor> {
        self.0.get(&channel).map(|position| position.cursor)
    }

    pub(super) fn set(&mut self, channel: ChannelId, cursor: Cursor) {
        self.0.insert(channel, Position { cursor, ahead: None });
    }

    /// Starts showing a channel from `cursor` unless it is shown already.
    pub(super) fn start(&mut self, channel: ChannelId, cursor: Cursor) {
        self.0.entry(channel).or_insert(Position { cursor, ahead: None });
    }

    pub(super) fn stop(&mut self, channel: ChannelId) {
        self.0.remove(&channel);
    }

    /// What a live change means to this connection: a channel without a
    /// cursor is not shown here. `after` is the rev the hub delivered
    /// before it (revs in between were superseded): past the cursor, some
    /// change never came live and is read from the store first.
    pub(super) fn step(&self, message: &Message, after: Rev) -> Step {
        match self.get(message.channel) {
            None => Step::Skip,
            Some(cursor) if message.rev <= cursor.rev => Step::Skip,
            Some(cursor) if after > cursor.rev => Step::FillThenShow,
            Some(_) => Step::Show,
        }
    }

    /// Moves the channel's cursor past a change about to be written, and
    /// says how to show it: a message the client was never shown is new;
    /// `None` for a change of a message older than `held_from`, which the
    /// client does not hold (its rev is passed all the same).
    pub(super) fn record(&mut self, message: &Message, held_from: Seq) -> Option<Shown> {
        let position = self
            .0
            .entry(message.channel)
            .or_insert(Position { cursor: Cursor { seq: Seq(0), rev: Rev(0) }, ahead: None });
        position.cursor.rev = position.cursor.rev.max(message.rev);
        let seq = message.seq;
        let shown =
            seq <= position.cursor.seq || position.ahead.as_ref().is_some_and(|ahead| ahead.contains(seq.0));
        if shown {
            return (seq >= held_from).then_some(Shown::Update);
        }
        if seq.0 == position.cursor.seq.0 + 1 {
            position.cursor.seq = seq;
            // Seqs shown ahead of it may follow on now.
            if let Some(end) = position.ahead.as_mut().and_then(|ahead| ahead.take_following(seq.0)) {
                position.cursor.seq = Seq(end);
            }
        } else {
            position.ahead.get_or_insert_with(Box::default).insert(seq.0);
        }
        if position.ahead.as_ref().is_some_and(|ahead| ahead.is_empty()) {
            position.ahead = None;
        }
        Some(Shown::New)
    }
}

/// Where `hello` says the client is in one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resume {
    /// It holds the messages up to this seq; it hears nothing of changes
    /// to them.
    After(Seq),
    /// It holds the messages from `held_from` to `seq` as of `rev`.
    Held { seq: Seq, rev: Rev, held_from: Seq },
}

/// Why a replay stopped early.
#[derive(Debug)]
pub(super) enum ReplayError {
    /// Storage failed.
    Unavailable,
}

/// A replay of one channel from the store: the changes after the cursor's
/// rev, up to `until` (exclusive) or to the end, a page at a time, in rev
/// order. Each page waits for the user's and the address's read budgets,
/// like `history`: a resume loop is slowed, never refused (it must finish
/// to be correct).
pub(super) struct Replay<'a> {
    state: &'a AppState,
    user: &'a User,
    address: Option<IpAddr>,
    channel: ChannelId,
    until: Option<Rev>,
    done: bool,
}

impl<'a> Replay<'a> {
    pub(super) fn new(
        state: &'a AppState,
        user: &'a User,
        address: Option<IpAddr>,
        channel: ChannelId,
        until: Option<Rev>,
    ) -> Self {
        Self { state, user, address, channel, until, done: false }
    }

    /// The next page after rev `after` (the caller's cursor, moved as it
    /// writes each change); `None` when the replay is complete.
    pub(super) async fn next_page(&mut self, after: Rev) -> Result<Option<Vec<Message>>, ReplayError> {
        if self.done || self.until.is_some_and(|until| after.0 + 1 >= until.0) {
            return Ok(None);
        }
        if let Some(address) = self.address {
            self.state.reads.wait_for(self.user.id, address).await;
        }
        let page = match self.state.app.changes_after(self.user, self.channel, after).await {
            Ok(page) => page,
            Err(RequestError::Unavailable) => return Err(ReplayError::Unavailable),
            // Membership ended meanwhile: nothing more to replay.
            Err(_) => return Ok(None),
        };
        let until = self.until;
        self.done = page.len() < FILL_PAGE as usize
            || page.last().is_some_and(|last| until.is_some_and(|until| last.rev >= until));
        let page: Vec<Message> =
            page.into_iter().filter(|message| until.is_none_or(|until| message.rev < until)).collect();
        Ok(Some(page))
    }
}

/// A send awaiting its commit, with what the edge needs to answer it.
pub(super) struct SendOutcome<T> {
    pub(super) answer_to: T,
    pub(super) result: Result<Stored, RequestError>,
}

/// Where a committed send was stored: all an ack says. Kept instead of the
/// whole message because the session's live loop reserves room for one
/// outcome in every idle connection's state (the message is 312 bytes).
#[derive(Debug, Clone, Copy)]
pub(super) struct Stored {
    pub(super) channel: ChannelId,
    pub(super) id: MessageId,
    pub(super) seq: Seq,
}

impl Stored {
    fn of(appended: &Appended) -> Self {
        let message = &appended.message;
        Self { channel: message.channel, id: message.id, seq: message.seq }
    }
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
        pending.push_back(Box::pin(async move {
            SendOutcome { answer_to, result: committing.await.map(|appended| Stored::of(&appended)) }
        }));
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

    /// The message at `seq` as of its change `rev`.
    fn change(channel: i64, seq: i64, rev: i64) -> Message {
        Message {
            id: MessageId(seq),
            channel: ChannelId(channel),
            seq: Seq(seq),
            sender: UserId(1),
            sender_name: "ann".into(),
            body: "hi".into(),
            ts: 0,
            client_id: format!("c-{seq}"),
            system: None,
            rev: Rev(rev),
            edited_at: None,
            deleted: None,
            reactions: Vec::new(),
            reply_to: None,
            mentions: Default::default(),
            files: Vec::new(),
        }
    }

    fn at(seq: i64, rev: i64) -> Cursor {
        Cursor { seq: Seq(seq), rev: Rev(rev) }
    }

    #[test]
    fn cursors_skip_what_was_shown_and_fill_jumps() {
        let mut cursors = Cursors::default();
        assert_eq!(cursors.step(&change(1, 1, 1), Rev(0)), Step::Skip, "not shown here");
        cursors.start(ChannelId(1), at(5, 7));
        cursors.start(ChannelId(1), at(2, 2));
        assert_eq!(cursors.get(ChannelId(1)), Some(at(5, 7)), "a cursor is not moved back by a start");
        assert_eq!(cursors.step(&change(1, 5, 7), Rev(6)), Step::Skip);
        assert_eq!(cursors.step(&change(1, 3, 6), Rev(5)), Step::Skip, "an older change of an older message");
        assert_eq!(cursors.step(&change(1, 6, 8), Rev(7)), Step::Show);
        assert_eq!(cursors.step(&change(1, 2, 8), Rev(7)), Step::Show, "an edit is the next rev too");
        assert_eq!(cursors.step(&change(1, 6, 9), Rev(8)), Step::FillThenShow, "rev 8 never came");
        assert_eq!(cursors.step(&change(1, 6, 10), Rev(7)), Step::Show, "revs 8 and 9 were superseded");
        cursors.stop(ChannelId(1));
        assert_eq!(cursors.step(&change(1, 6, 9), Rev(8)), Step::Skip);
    }

    #[test]
    fn a_message_never_shown_is_new_whatever_order_it_comes_in() {
        let mut cursors = Cursors::default();
        cursors.set(ChannelId(1), at(3, 3));
        // Seq 4 was edited while away: a replay in rev order brings 5 first.
        assert_eq!(cursors.record(&change(1, 5, 5), Seq(4)), Some(Shown::New));
        assert_eq!(cursors.get(ChannelId(1)), Some(at(3, 5)), "4 is still missing");
        assert_eq!(cursors.record(&change(1, 4, 6), Seq(4)), Some(Shown::New), "never shown: new");
        assert_eq!(cursors.get(ChannelId(1)), Some(at(5, 6)), "4 and 5 are held now");
        assert_eq!(cursors.record(&change(1, 5, 7), Seq(0)), Some(Shown::Update));
        assert!(cursors.0[&ChannelId(1)].ahead.is_none(), "nothing ahead is kept");
    }

    #[test]
    fn seqs_shown_ahead_are_kept_as_ranges() {
        let mut ahead = Ahead::default();
        for seq in [5, 7, 6, 10, 9, 12] {
            ahead.insert(seq);
        }
        assert_eq!(ahead.0, [(5, 7), (9, 10), (12, 12)]);
        assert!(ahead.contains(6) && ahead.contains(12) && !ahead.contains(8) && !ahead.contains(4));
        ahead.insert(11);
        ahead.insert(8);
        assert_eq!(ahead.0, [(5, 12)], "gaps closed merge their neighbours");
        assert_eq!(ahead.take_following(3), None);
        assert_eq!(ahead.take_following(4), Some(12));
        assert!(ahead.is_empty());
        // Thousands of new messages ahead of one edited message: one range.
        let mut cursors = Cursors::default();
        cursors.set(ChannelId(1), at(100, 100));
        for seq in 102..=4600 {
            assert_eq!(cursors.record(&change(1, seq, seq), Seq(0)), Some(Shown::New));
        }
        assert_eq!(cursors.0[&ChannelId(1)].ahead.as_ref().map(|ahead| ahead.0.len()), Some(1));
        assert_eq!(cursors.record(&change(1, 101, 4601), Seq(0)), Some(Shown::New), "never shown: new");
        assert_eq!(cursors.get(ChannelId(1)), Some(at(4600, 4601)));
    }

    #[test]
    fn a_change_is_new_past_the_highest_seq_and_an_update_below_it() {
        let mut cursors = Cursors::default();
        cursors.set(ChannelId(1), at(5, 7));
        assert_eq!(cursors.record(&change(1, 6, 8), Seq(0)), Some(Shown::New));
        assert_eq!(cursors.get(ChannelId(1)), Some(at(6, 8)));
        assert_eq!(cursors.record(&change(1, 3, 9), Seq(0)), Some(Shown::Update));
        assert_eq!(cursors.get(ChannelId(1)), Some(at(6, 9)), "an update moves the rev only");
        assert_eq!(cursors.record(&change(1, 2, 10), Seq(3)), None, "not held by the client");
        assert_eq!(cursors.get(ChannelId(1)), Some(at(6, 10)), "its rev is passed all the same");
        assert_eq!(cursors.record(&change(1, 3, 11), Seq(3)), Some(Shown::Update));
    }
}
