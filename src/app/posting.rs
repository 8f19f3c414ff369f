//! Messages, system lines, typing and read markers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{App, RequestError};
use crate::bus::{BusEvent, SharedTake};
use crate::model::{
    ChannelId, ChannelKind, ClientId, FileId, MAX_FILES_PER_MESSAGE, Message, MessageBody, ReadMarker, Seq,
    SystemKind, User, UserId,
};
use crate::store::{Appended, NewMessage, NewSystemLine, StoreError};

/// A message queued in the store, resolving after its commit.
pub type Committing = Pin<Box<dyn Future<Output = Result<Appended, RequestError>> + Send>>;

impl App {
    /// Posts a message. The store job is queued before this returns, so one
    /// connection's messages keep their order. What follows the commit (fan-out
    /// and publishing) runs in its own task, so it happens even if the sender
    /// goes away before its ack; the returned future only reports the outcome.
    pub async fn post(
        self: &Arc<Self>,
        sender: &User,
        channel: ChannelId,
        client_id: ClientId,
        body: MessageBody,
        reply_to: Option<Seq>,
        mut files: Vec<FileId>,
    ) -> Committing {
        if files.len() > MAX_FILES_PER_MESSAGE {
            return Box::pin(std::future::ready(Err(RequestError::TooManyFiles)));
        }
        // The same file twice is attached once.
        let mut seen = std::collections::HashSet::new();
        files.retain(|file| seen.insert(file.clone()));
        let shared = self.cluster.is_shared();
        if shared && let Some(mut answer) = self.rates.unanswered_shared_take(sender.id) {
            // The previous send's shared take is still out: wait for its
            // answer (at most the bus's timeout), so that a user past the
            // cluster's allowance gets at most one send through per node.
            let _ = answer.changed().await;
        }
        if let Err(refused) = self.take_message_rate(sender) {
            return Box::pin(std::future::ready(Err(refused)));
        }
        if shared {
            self.check_shared_message_rate(sender.id);
        }
        let queued = self.store.append_message(NewMessage {
            channel,
            sender: sender.id,
            client_id,
            body,
            reply_to,
            files,
        });
        let app = Arc::clone(self);
        let committed = tokio::spawn(async move {
            let appended = match queued.await {
                Err(StoreError::NotMember) => return Err(app.refusal_for_non_member(channel).await),
                Err(StoreError::NoSuchMessage) => return Err(RequestError::NoSuchParent),
                Err(StoreError::NoSuchFile) => return Err(RequestError::NoSuchFile),
                other => other?,
            };
            if appended.created {
                app.metrics.messages_total.inc();
                app.announce(appended.message.clone());
            } else {
                // A repeat: if the first attempt's fan-out never ran (the
                // process died after the commit), this delivers it here; if
                // it did, the hub drops it as already delivered.
                app.hub.accept_message(appended.message.clone());
            }
            Ok(appended)
        });
        Box::pin(async move {
            committed.await.unwrap_or_else(|error| {
                tracing::error!(%error, "a commit follow-up task failed");
                Err(RequestError::Unavailable)
            })
        })
    }

    /// Takes one from the user's message rate (sends, edits, deletions and
    /// reactions share it), counting a refusal.
    pub(super) fn take_message_rate(&self, user: &User) -> Result<(), RequestError> {
        if self.rates.take_message(user.id, &self.limits) {
            return Ok(());
        }
        self.metrics.rate_limited_total.inc();
        Err(RequestError::RateLimited)
    }

    /// Hands a committed change (a new, edited, deleted or reacted-to
    /// message, or a system line) to this node's hub and to the other nodes.
    pub(super) fn announce(&self, message: Message) {
        self.hub.accept_message(message.clone());
        self.bus.publish(BusEvent::Message(Box::new(message)));
    }

    /// The cluster-wide bucket answers a round trip later; the send goes
    /// ahead (a send does not wait a round trip to Redis), and if the user
    /// has used up the cluster's allowance through other nodes, the sends
    /// after this one are refused: the next send waits for this answer.
    fn check_shared_message_rate(self: &Arc<Self>, user: UserId) {
        let app = Arc::clone(self);
        let answered = self.rates.expect_shared_take(user);
        tokio::spawn(async move {
            let bucket = format!("messages:{}", user.0);
            let (rate, burst) = (app.limits.messages_per_second, app.limits.message_burst);
            if let SharedTake::Denied { retry_after } = app.cluster.take_shared(&bucket, rate, burst).await {
                app.rates.throttle_until(user, std::time::Instant::now() + retry_after);
            }
            drop(answered);
        });
    }

    /// What a non-member is told: public channels say "join first"; private
    /// ones and DMs look exactly like channels that do not exist.
    pub(super) async fn refusal_for_non_member(&self, channel: ChannelId) -> RequestError {
        match self.store.channel(channel).await {
            Ok(Some(found)) if found.kind == ChannelKind::Public => RequestError::NotMember,
            Ok(_) => RequestError::NotFound,
            Err(error) => error.into(),
        }
    }

    /// Relays "typing" to the channel's other members, if `connection` hears
    /// the channel. Returns whether it was relayed.
    pub fn typing(&self, connection: crate::hub::ConnectionId, user: &User, channel: ChannelId) -> bool {
        if !self.hub.relay_typing(connection, user, channel) {
            return false;
        }
        self.bus.publish(BusEvent::Typing { channel, user: user.id, name: user.name.clone() });
        true
    }

    /// Moves the user's read marker and tells all of their connections.
    pub async fn mark_read(&self, user: &User, channel: ChannelId, seq: Seq) -> Result<(), RequestError> {
        match self.store.mark_read(channel, user.id, seq).await {
            Err(StoreError::NotMember) => return Err(self.refusal_for_non_member(channel).await),
            other => other?,
        };
        // The marker and what is unread after it, in one read after the
        // move (another device may have moved it further meanwhile), with
        // the newest seq they cover: a client adds only messages past it.
        let view = self.store.channel_view(channel, user.id).await?;
        let marker = ReadMarker {
            seq: view.read_seq,
            unread: view.unread,
            mentions: view.mentions,
            last_seq: view.last_seq,
        };
        self.hub.read_marker_moved(user.id, channel, marker);
        self.bus.publish(BusEvent::Read { channel, user: user.id, marker });
        Ok(())
    }

    /// Writes a system line ("carol joined", "mallory added carol") into the
    /// channel's stream and delivers it like a message, here and on the
    /// other nodes. Best effort: the membership change it describes is
    /// already stored, and a line that cannot be stored is only logged.
    pub(super) async fn record_line(
        &self,
        channel: ChannelId,
        actor: UserId,
        kind: SystemKind,
        subject: UserId,
    ) {
        // A line is a message its actor caused: it draws on their message
        // rate, so joining and leaving in a loop cannot flood a channel. Past
        // the rate the membership still changes; only the line is left out.
        if !self.rates.take_message(actor, &self.limits) {
            tracing::debug!(
                channel = channel.0,
                "a system line left out: its actor is over the message rate"
            );
            return;
        }
        let line = NewSystemLine { channel, actor, kind, subject, client_id: system_client_id() };
        match self.store.append_system(line).await {
            Ok(message) => self.announce(message),
            Err(error) => tracing::warn!(%error, channel = channel.0, "cannot record a system line"),
        }
    }
}

/// The idempotency key of a system line: random, so it never collides with
/// the keys its sender chooses (theirs are at most 64 characters too, but a
/// 128-bit random suffix is never guessed).
fn system_client_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sys-{hex}")
}
