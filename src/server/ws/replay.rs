//! A session's start and its replays: the welcome, then each resumed
//! channel's missing changes in rev order (new messages as `message`,
//! changes to those the client holds as `update`, too many as `reset`);
//! and the fill of a jump in live delivery.

use std::collections::HashMap;

use super::{End, WsSession};
use crate::app::RequestError;
use crate::model::{ChannelId, ChannelView, Message, Rev, Seq};
use crate::protocol::ServerMessage;
use crate::server::convert::message_info;
use crate::server::session::{Cursor, Replay, ReplayError, Resume, Shown};

impl WsSession {
    /// Writes the welcome, then replays every resumed channel. Every channel
    /// gets a cursor: the client's resume point (never past the head, which
    /// a restored database or a confused client could ask for), or the head
    /// the welcome announced, so a jump in live delivery is always filled.
    /// `delivered`: per channel, the rev the hub had delivered when the
    /// connection subscribed; changes between the view's read and that are
    /// read from the store, as they never come live.
    pub(super) async fn start(
        &mut self,
        welcome: Vec<ServerMessage>,
        resume: HashMap<ChannelId, Resume>,
        channels: &[ChannelView],
        delivered: &HashMap<ChannelId, Rev>,
    ) -> Result<(), End> {
        for frame in welcome {
            self.write(frame.to_json().into()).await?;
        }
        for view in channels {
            let channel = view.channel.id;
            // Resume points for channels the user is not in are ignored, as
            // are unknown ones: nothing about them is revealed.
            match resume.get(&channel) {
                Some(point) => self.resume(view, *point).await?,
                None => self.cursors.set(channel, head_of(view)),
            }
            let behind = self.cursors.get(channel).is_some_and(|cursor| {
                delivered.get(&channel).is_some_and(|delivered| *delivered > cursor.rev)
            });
            if behind {
                // What the client holds, as it said (nothing below it).
                let held_from = match resume.get(&channel) {
                    Some(Resume::Held { held_from, .. }) => *held_from,
                    Some(Resume::After(seq)) => Seq(seq.0.saturating_add(1)),
                    None => Seq(0),
                };
                self.catch_up(channel, None, held_from).await?;
            }
        }
        self.flush().await
    }

    /// Replays what a client resuming at `point` lacks of one channel. A
    /// client that is up to date needs no read: anything newer than the
    /// head read for the welcome arrives live.
    async fn resume(&mut self, view: &ChannelView, point: Resume) -> Result<(), End> {
        let channel = view.channel.id;
        match point {
            Resume::After(seq) if seq < view.last_seq => {
                let rev = self.rev_before(view, seq).await?;
                self.cursors.set(channel, Cursor { seq, rev });
                // Only the messages after `seq`: the client asked for
                // nothing about the ones it holds.
                self.catch_up(channel, None, Seq(seq.0 + 1)).await
            }
            Resume::After(_) => {
                self.cursors.set(channel, head_of(view));
                Ok(())
            }
            Resume::Held { seq, rev, held_from } => {
                let mut cursor = Cursor { seq: seq.min(view.last_seq), rev: rev.min(view.last_rev) };
                // Every message past `seq` must come: a rev past the
                // creation of one the client does not hold (a resume point
                // no client can have) is taken back to before it.
                if cursor.seq < view.last_seq {
                    cursor.rev = cursor.rev.min(self.rev_before(view, cursor.seq).await?);
                }
                let missing = u64::try_from(view.last_rev.0 - cursor.rev.0).unwrap_or(0);
                if missing > self.state.app.limits().max_resume_changes {
                    self.cursors.set(channel, head_of(view));
                    let reset = ServerMessage::Reset {
                        channel: channel.0,
                        last_seq: view.last_seq.0,
                        last_rev: view.last_rev.0,
                    };
                    return self.write(reset.to_json().into()).await;
                }
                self.cursors.set(channel, cursor);
                if cursor.rev < view.last_rev {
                    self.catch_up(channel, None, held_from).await?;
                }
                Ok(())
            }
        }
    }

    /// Where a replay of the messages after `seq` starts in the channel's
    /// rev stream. (`&mut self`: the socket is not `Sync`, so a shared
    /// borrow held across the read would make the session's future not
    /// `Send`.)
    async fn rev_before(&mut self, view: &ChannelView, seq: Seq) -> Result<Rev, End> {
        match self.state.app.rev_before(&self.user, view.channel.id, seq).await {
            Ok(rev) => Ok(rev),
            Err(RequestError::Unavailable) => Err(End::Close(1011, "storage unavailable")),
            // Membership ended meanwhile: nothing to replay.
            Err(_) => Ok(view.last_rev),
        }
    }

    /// Writes the stored changes after this channel's cursor, up to rev
    /// `until` (exclusive) or to the end; changes of messages before
    /// `held_from` are passed over.
    pub(super) async fn catch_up(
        &mut self,
        channel: ChannelId,
        until: Option<Rev>,
        held_from: Seq,
    ) -> Result<(), End> {
        let state = self.state.clone();
        let user = self.user.clone();
        let mut replay = Replay::new(&state, &user, Some(self.address), channel, until);
        loop {
            let after = self.cursors.get(channel).map_or(Rev(0), |cursor| cursor.rev);
            match replay.next_page(after).await {
                Ok(Some(page)) => {
                    for message in &page {
                        self.write_change(message, held_from).await?;
                    }
                }
                Ok(None) => return Ok(()),
                Err(ReplayError::Unavailable) => return Err(End::Close(1011, "storage unavailable")),
            }
        }
    }

    async fn write_change(&mut self, message: &Message, held_from: Seq) -> Result<(), End> {
        let frame = match self.cursors.record(message, held_from) {
            None => return Ok(()),
            Some(Shown::New) => ServerMessage::Message(message_info(message)),
            Some(Shown::Update) => ServerMessage::Update(message_info(message)),
        };
        self.write(frame.to_json().into()).await
    }
}

/// A channel's cursor at the head its view announced.
pub(in crate::server) fn head_of(view: &ChannelView) -> Cursor {
    Cursor { seq: view.last_seq, rev: view.last_rev }
}
