//! Reads: history pages, replays for resuming, and the user directory.

use super::{App, FILL_PAGE, MAX_DIRECTORY_PAGE, MAX_HISTORY_PAGE, RequestError};
use crate::model::{Channel, ChannelId, ChannelKind, Message, Rev, Seq, User, UserName};

/// Which page of history: the latest, before a seq (exclusive), after one
/// (exclusive), or around one (it and the messages on either side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryPage {
    Before(Option<Seq>),
    After(Seq),
    Around(Seq),
}

/// A page of history, oldest first.
#[derive(Debug, Clone)]
pub struct HistoryRead {
    pub messages: Vec<Message>,
    /// Older messages exist.
    pub has_more: bool,
    /// Newer messages exist.
    pub has_newer: bool,
}

impl App {
    /// A channel `user` may read: any public one, or one they are a member of.
    pub(super) async fn readable_channel(
        &self,
        user: &User,
        channel: ChannelId,
    ) -> Result<Channel, RequestError> {
        let found = self.store.channel(channel).await?.ok_or(RequestError::NotFound)?;
        if found.kind == ChannelKind::Public || self.store.is_member(channel, user.id).await? {
            Ok(found)
        } else {
            Err(RequestError::NotFound)
        }
    }

    /// A page of history, oldest first, and whether older and newer
    /// messages exist. `limit` is clamped to 1..=[`MAX_HISTORY_PAGE`].
    pub async fn history(
        &self,
        user: &User,
        channel: ChannelId,
        page: HistoryPage,
        limit: u32,
    ) -> Result<HistoryRead, RequestError> {
        self.readable_channel(user, channel).await?;
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        // Older ones first; the newer ones are read one past what is wanted,
        // so that one says whether newer exist.
        let (mut messages, newer_wanted, after) = match page {
            HistoryPage::Before(None) => (self.store.history(channel, None, limit).await?, 0, None),
            HistoryPage::Before(Some(before)) => {
                let older = self.store.history(channel, Some(before), limit).await?;
                (older, 0, Some(Seq(before.0.saturating_sub(1))))
            }
            HistoryPage::After(after) => (Vec::new(), limit, Some(after)),
            // The message itself and the older half, then the newer half.
            HistoryPage::Around(seq) => {
                let older =
                    self.store.history(channel, Some(Seq(seq.0.saturating_add(1))), limit / 2 + 1).await?;
                let wanted = limit.saturating_sub(u32::try_from(older.len()).unwrap_or(limit));
                (older, wanted, Some(seq))
            }
        };
        let mut newer = match after {
            Some(after) => self.store.messages_after(channel, after, newer_wanted + 1).await?,
            None => Vec::new(),
        };
        let has_newer = newer.len() > newer_wanted as usize;
        newer.truncate(newer_wanted as usize);
        messages.append(&mut newer);
        // Seqs are gap-free from 1: older ones exist exactly when the page
        // starts past 1 (an empty page says none).
        let has_more = messages.first().is_some_and(|oldest| oldest.seq.0 > 1);
        Ok(HistoryRead { messages, has_more, has_newer })
    }

    /// Up to [`FILL_PAGE`] changes after rev `after`, in rev order, for
    /// resuming and filling gaps; only for channels `user` may read.
    pub async fn changes_after(
        &self,
        user: &User,
        channel: ChannelId,
        after: Rev,
    ) -> Result<Vec<Message>, RequestError> {
        self.readable_channel(user, channel).await?;
        Ok(self.store.changes_after(channel, after, FILL_PAGE).await?)
    }

    /// Where a replay of the messages after `seq` starts in the channel's
    /// rev stream (see [`crate::store::Store::rev_before`]).
    pub async fn rev_before(&self, user: &User, channel: ChannelId, seq: Seq) -> Result<Rev, RequestError> {
        self.readable_channel(user, channel).await?;
        Ok(self.store.rev_before(channel, seq).await?)
    }

    /// One page of the user directory (names starting with `prefix`, after
    /// `after`, compared without case), each with whether they are online now,
    /// and whether more follow. Everyone may see everyone who holds a name (all
    /// are in General); a guest whose name passed on is never listed.
    pub async fn user_directory(
        &self,
        prefix: Option<&UserName>,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<(Vec<(String, bool)>, bool), RequestError> {
        let limit = limit.clamp(1, MAX_DIRECTORY_PAGE);
        let prefix_key = prefix.map(UserName::key).unwrap_or_default();
        let after_key = after.map(UserName::key);
        // One more than asked tells whether another page exists.
        let mut users = self.store.list_users(&prefix_key, after_key.as_deref(), limit + 1).await?;
        let has_more = users.len() > limit as usize;
        users.truncate(limit as usize);
        let page = users
            .into_iter()
            .map(|user| {
                let is_online = self.hub.is_online(&user.name);
                (user.name, is_online)
            })
            .collect();
        Ok((page, has_more))
    }

    /// Members of a channel `user` may read whose name starts with `prefix`
    /// (without case), by name, at most `limit` (clamped like a directory
    /// page), and whether more match: for mention autocomplete.
    pub async fn channel_members(
        &self,
        user: &User,
        channel: ChannelId,
        prefix: Option<&UserName>,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<(Vec<String>, bool), RequestError> {
        self.readable_channel(user, channel).await?;
        let limit = limit.clamp(1, MAX_DIRECTORY_PAGE);
        let prefix_key = prefix.map(UserName::key).unwrap_or_default();
        let after_key = after.map(UserName::key);
        let mut names =
            self.store.channel_members(channel, &prefix_key, after_key.as_deref(), limit + 1).await?;
        let has_more = names.len() > limit as usize;
        names.truncate(limit as usize);
        Ok((names, has_more))
    }

    /// A page of the users online now, cluster-wide, as
    /// [`App::user_directory`] pages everyone: read from presence, not the
    /// store.
    pub fn online_directory(
        &self,
        prefix: Option<&UserName>,
        after: Option<&UserName>,
        limit: u32,
    ) -> (Vec<String>, bool) {
        let limit = limit.clamp(1, MAX_DIRECTORY_PAGE);
        let prefix_key = prefix.map(UserName::key).unwrap_or_default();
        self.hub.online_names(&prefix_key, after.map(UserName::as_str), limit as usize)
    }
}
