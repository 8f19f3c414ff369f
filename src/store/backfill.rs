//! The store's side of history made elsewhere (`natter import --slack`):
//! accounts made without a password, and messages stored with the time,
//! edit time and reactions they had where they were written. A supertrait
//! of [`super::Store`], so backends keep it in a file of their own.
//!
//! Both calls are idempotent, as an import that is run again (or resumed
//! after a failure) needs: an account is found by its name, a message by
//! its sender's client id, and what is found is returned unchanged.

use async_trait::async_trait;

use super::{Appended, Queued, StoreResult};
use crate::model::{ChannelId, ClientId, Emoji, MessageBody, Seq, User, UserId, UserName};

/// An account to make for someone who wrote elsewhere.
#[derive(Debug, Clone)]
pub struct BackfillUser {
    pub name: UserName,
    /// Made an admin (only when the account is made now).
    pub admin: bool,
    /// Made deactivated (only when the account is made now): it keeps its
    /// messages but cannot log in.
    pub deactivated: bool,
}

/// A message as it was written elsewhere.
#[derive(Debug, Clone)]
pub struct BackfillMessage {
    pub channel: ChannelId,
    pub sender: UserId,
    /// The idempotency key: a message of this sender with this key is
    /// stored once, whatever its channel.
    pub client_id: ClientId,
    /// The text as it stands (after any edits).
    pub body: MessageBody,
    /// When it was written, ms since the epoch.
    pub ts: i64,
    /// When it was last edited, if ever.
    pub edited_at: Option<i64>,
    /// The seq of the message it replies to, in the same channel; it must
    /// be a chat message that stands.
    pub reply_to: Option<Seq>,
    /// Its reactions, in the order they were made, one per user and emoji
    /// (a repeat is ignored), of at most `MAX_REACTION_KINDS` emoji. Each
    /// is stored as made at `ts` plus its place in this list, in ms, so the
    /// order survives.
    pub reactions: Vec<(Emoji, UserId)>,
}

#[async_trait]
pub trait Backfill {
    /// Makes a registered account without a password (its owner sets one
    /// through a reset link) and makes it a member of General, unless an
    /// account holds the name (compared without case): then that one is
    /// returned as it is. The flag says whether it was made now.
    async fn backfill_user(&self, user: BackfillUser) -> StoreResult<(User, bool)>;

    /// Stores a message with its own time, edit time and reactions at the
    /// channel's next seq, taking one rev, as a sent message would (its
    /// mentions recorded, its reactions summed up, its body searchable).
    /// The sender need not be a member, and the channel may be archived:
    /// this is history. A message of this sender with this client id
    /// already stored is returned as it stands, and nothing is written
    /// (`created` false). Refused: a channel that does not exist
    /// (`NoSuchChannel`), a reply to a seq without a chat message that
    /// stands (`NoSuchMessage`), more emoji than a message may carry
    /// (`LimitReached`). Group-committed; queued before it returns.
    fn backfill_message(&self, message: BackfillMessage) -> Queued<Appended>;
}

/// Whether `reactions` holds more different emoji than a message may carry.
pub(super) fn too_many_kinds(reactions: &[(Emoji, UserId)]) -> bool {
    let mut kinds: Vec<&str> = reactions.iter().map(|(emoji, _)| emoji.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds.len() > crate::model::MAX_REACTION_KINDS
}
