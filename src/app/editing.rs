//! Messages that change: edits, deletions and reactions. Each stored change takes the
//! channel's next rev and then travels exactly like a new message (the hub
//! orders it by rev, the bus carries it, a lost one is a gap the store
//! fills), so every member converges on the message as it stands.

use std::sync::Arc;

use super::{App, RequestError};
use crate::model::{ChannelId, Emoji, MAX_REACTION_KINDS, MessageBody, Rev, Seq, User};
use crate::store::{Changed, MessageEdit, MessageReaction, MessageRemoval, Queued, StoreError};

/// Why a reaction with one more emoji is refused.
const TOO_MANY_KINDS: &str = "a message carries at most 20 different reactions";
const _: () = assert!(MAX_REACTION_KINDS == 20, "TOO_MANY_KINDS says 20");

impl App {
    /// Replaces the body of one of `editor`'s messages (see
    /// [`crate::store::Store::edit_message`] for the rules). Draws on the
    /// user's message rate, like a send.
    pub async fn edit(
        self: &Arc<Self>,
        editor: &User,
        channel: ChannelId,
        seq: Seq,
        body: MessageBody,
        if_rev: Option<Rev>,
    ) -> Result<Changed, RequestError> {
        self.take_message_rate(editor)?;
        let queued = self.store.edit_message(MessageEdit { channel, seq, editor: editor.id, body, if_rev });
        self.announce_change(channel, queued).await
    }

    /// Deletes a message: `by` its sender, or an admin.
    pub async fn delete(
        self: &Arc<Self>,
        by: &User,
        channel: ChannelId,
        seq: Seq,
    ) -> Result<Changed, RequestError> {
        self.take_message_rate(by)?;
        let queued = self.store.delete_message(MessageRemoval { channel, seq, by: by.id });
        let changed = self.announce_change(channel, queued).await?;
        if changed.changed {
            // Its files' bytes, if it had any, can go now.
            self.files_deleted();
        }
        Ok(changed)
    }

    /// Adds (`add`) or takes back `user`'s reaction with `emoji`.
    pub async fn react(
        self: &Arc<Self>,
        user: &User,
        channel: ChannelId,
        seq: Seq,
        emoji: Emoji,
        add: bool,
    ) -> Result<Changed, RequestError> {
        self.take_message_rate(user)?;
        let queued = self.store.react(MessageReaction { channel, seq, user: user.id, emoji, add });
        self.announce_change(channel, queued).await
    }

    /// Awaits the commit, then hands a change to the hub and the bus. The
    /// follow-up runs in its own task, so a committed change is announced
    /// even if the requester goes away before the answer.
    async fn announce_change(
        self: &Arc<Self>,
        channel: ChannelId,
        queued: Queued<Changed>,
    ) -> Result<Changed, RequestError> {
        let app = Arc::clone(self);
        let committed = tokio::spawn(async move {
            let changed = match queued.await {
                Err(StoreError::NotMember) => return Err(app.refusal_for_non_member(channel).await),
                Err(StoreError::LimitReached) => return Err(RequestError::LimitReached(TOO_MANY_KINDS)),
                other => other?,
            };
            if changed.changed {
                app.announce(changed.message.clone());
            }
            Ok(changed)
        });
        committed.await.unwrap_or_else(|error| {
            tracing::error!(%error, "a change's follow-up task failed");
            Err(RequestError::Unavailable)
        })
    }
}
