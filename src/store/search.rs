//! What both backends share for search: the request, its names resolved,
//! the conditions on a message row that do not depend on the index, and
//! how terms become an index query: each backend says how its index
//! language writes a phrase, AND, OR and AND NOT ([`IndexLanguage`]:
//! FTS5 in `sqlite/search.rs`, `tsquery` in `postgres/search.rs`), and
//! [`MessageSearch::index_match`] puts them together the same way for both.

use std::time::Duration;

use crate::model::{ChannelId, MessageId, UserId};
use crate::search::Term;

/// The longest one search may run in the store before it is stopped: a
/// query that must scan most of a large history (a rare filter, a word in
/// every message) is refused as too broad rather than holding the
/// connection searches share.
pub const SEARCH_TIME: Duration = Duration::from_secs(2);

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
    /// Only messages that mention the searcher (by name, or `@channel`
    /// from someone else).
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
            "((m.mentions_channel = TRUE AND m.sender_id <> {searcher}) OR EXISTS \
             (SELECT 1 FROM mentions x WHERE x.user_id = {searcher} AND x.message_id = m.id))"
        ));
    }
    (conditions, values)
}

/// How a backend writes terms in its index's query language.
pub(super) trait IndexLanguage {
    /// One term: its tokens next to each other, the last by prefix when
    /// the term says so.
    fn phrase(term: &Term) -> String;
    const AND: &'static str;
    const OR: &'static str;
    /// `all` must match and `any` must not.
    fn and_not(all: &str, any: &str) -> String;
}

/// What a search asks of the index.
pub(super) enum IndexMatch {
    /// Nothing: filters alone.
    Nothing,
    /// Messages matching this expression (terms, less exclusions).
    Matching(String),
    /// Messages not matching this expression (exclusions alone, with
    /// filters).
    NotMatching(String),
}

impl MessageSearch {
    /// The search's terms in `L`'s language.
    pub(super) fn index_match<L: IndexLanguage>(&self) -> IndexMatch {
        let join = |terms: &[Term], with: &str| terms.iter().map(L::phrase).collect::<Vec<_>>().join(with);
        let required = self.required_terms();
        match (required.is_empty(), self.excluded.is_empty()) {
            (true, true) => IndexMatch::Nothing,
            (true, false) => IndexMatch::NotMatching(join(&self.excluded, L::OR)),
            (false, true) => IndexMatch::Matching(join(&required, L::AND)),
            (false, false) => {
                IndexMatch::Matching(L::and_not(&join(&required, L::AND), &join(&self.excluded, L::OR)))
            }
        }
    }

    /// Whether the time window holds nothing (it ends before it begins, or
    /// begins after now), so the store need not look.
    pub(super) fn is_empty_window(&self) -> bool {
        let ends_first = matches!((self.since, self.until), (Some(since), Some(until)) if since >= until);
        ends_first || self.since.is_some_and(|since| since > crate::model::now_millis())
    }
}
