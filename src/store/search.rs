//! What both backends share for search: the request, its names resolved,
//! and the conditions on a message row that do not depend on the index.
//! Each backend compiles the terms into its own index language
//! (`sqlite/search.rs`: FTS5; `postgres/search.rs`: `tsquery`).

use crate::model::{ChannelId, MessageId, UserId};
use crate::search::Term;

/// A search, its names resolved: messages in channels `searcher` is a
/// member of now, newest first.
#[derive(Debug, Clone, Default)]
pub struct MessageSearch {
    pub searcher: UserId,
    /// Every one must match.
    pub terms: Vec<Term>,
    /// None may match.
    pub excluded: Vec<Term>,
    pub has_link: bool,
    pub from: Option<UserId>,
    pub channel: Option<ChannelId>,
    /// Sent at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Sent before this time (ms since the epoch).
    pub until: Option<i64>,
    /// Only messages that mention the searcher (by name or `@channel`).
    pub mentioning_searcher: bool,
    /// Only messages older than this one: the last of the previous page.
    pub before: Option<MessageId>,
    pub limit: u32,
}

impl MessageSearch {
    /// The terms that must match, with the link marker when `has:link`.
    pub(super) fn required_terms(&self) -> Vec<Term> {
        let mut terms = self.terms.clone();
        if self.has_link {
            terms.push(Term { tokens: vec![crate::search::LINK_MARKER.to_owned()], prefix: false });
        }
        terms
    }
}

/// The conditions on the message row `m` besides the index: the
/// searcher's channels, standing chat messages only, and the filters.
/// `placeholder(n)` writes the backend's n-th parameter (1-based), counted
/// from `first`; the returned values bind to them in order.
pub(super) fn row_conditions(
    search: &MessageSearch,
    first: usize,
    placeholder: impl Fn(usize) -> String,
) -> (Vec<String>, Vec<i64>) {
    let mut values = vec![search.searcher.0];
    let searcher = placeholder(first);
    let mut conditions = vec![
        format!("m.channel_id IN (SELECT channel_id FROM members WHERE user_id = {searcher})"),
        "m.system_kind IS NULL AND m.deleted = 0".to_owned(),
    ];
    let mut bind = |sql: &str, value: i64| {
        values.push(value);
        conditions.push(sql.replace('?', &placeholder(first + values.len() - 1)));
    };
    if let Some(before) = search.before {
        bind("m.id < ?", before.0);
    }
    if let Some(from) = search.from {
        bind("m.sender_id = ?", from.0);
    }
    if let Some(channel) = search.channel {
        bind("m.channel_id = ?", channel.0);
    }
    if let Some(since) = search.since {
        bind("m.ts >= ?", since);
    }
    if let Some(until) = search.until {
        bind("m.ts < ?", until);
    }
    if search.mentioning_searcher {
        conditions.push(format!(
            "(m.mentions_channel = TRUE OR EXISTS \
             (SELECT 1 FROM mentions x WHERE x.user_id = {searcher} AND x.message_id = m.id))"
        ));
    }
    (conditions, values)
}
