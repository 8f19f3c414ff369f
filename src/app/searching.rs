//! Search: a query parsed (`crate::search::query`), its names resolved
//! to ids as the searcher may see them, its days turned into times in
//! the searcher's UTC offset, then answered by the store, newest first,
//! with the ranges each hit matched.

use std::time::Instant;

use super::{App, RequestError};
use crate::model::{ChannelId, ChannelKind, ChannelView, Message, MessageId, User, UserName};
use crate::search::highlight::highlights;
use crate::search::query::{Day, Place, Query, day, parse_with};
use crate::store::MessageSearch;

/// Most hits one page holds.
pub const MAX_SEARCH_PAGE: u32 = 50;
/// Hits in a page when the request does not say.
pub const DEFAULT_SEARCH_PAGE: u32 = 20;
/// The furthest a UTC offset may be from UTC, in minutes (UTC+14:00).
const MAX_UTC_OFFSET_MINUTES: i32 = 14 * 60;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// What a client asks: the text it typed, and the same filters as fields
/// (for bots), which hold together with the typed ones.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    pub from: Option<String>,
    pub channel: Option<ChannelId>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub on: Option<String>,
    pub has_link: bool,
    pub is_mention: bool,
    /// The client's offset from UTC in minutes (east positive): what
    /// "on 2026-11-30" means for it.
    pub utc_offset_minutes: i32,
    /// The previous page's `next`, to read on from there.
    pub cursor: Option<String>,
    pub limit: u32,
}

impl SearchRequest {
    /// Whether any filter comes as a field.
    fn has_fields(&self) -> bool {
        self.from.is_some()
            || self.channel.is_some()
            || self.before.is_some()
            || self.after.is_some()
            || self.on.is_some()
            || self.has_link
            || self.is_mention
    }
}

/// One message found, as it stands, with the UTF-16 ranges of its body
/// that the query matched.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub message: Message,
    pub highlights: Vec<(usize, usize)>,
}

/// A page of hits, newest first, and where the next one starts.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    pub next: Option<String>,
}

/// The cursor of the page after the hit `last`: only older hits.
pub fn search_cursor_after(last: MessageId) -> String {
    last.0.to_string()
}

impl App {
    /// Searches the messages of the channels `user` is a member of now.
    pub async fn search(&self, user: &User, request: SearchRequest) -> Result<SearchPage, RequestError> {
        let started = Instant::now();
        // One at a time first, so a search refused for that spends nothing.
        let Some(_running) = self.rates.start_search(user.id) else {
            self.metrics.rate_limited_total.inc();
            return Err(RequestError::RateLimited);
        };
        if !self.rates.take_search(user.id, &self.limits) {
            self.metrics.rate_limited_total.inc();
            return Err(RequestError::RateLimited);
        }
        // Blank text is a query of the fields alone (a bot's `from`), if any.
        let typed = match request.query.trim() {
            "" => Query::default(),
            text => {
                parse_with(text, request.has_fields()).map_err(|error| RequestError::InvalidQuery(error.0))?
            }
        };
        let query = with_fields(typed, &request)?;
        if !(-MAX_UTC_OFFSET_MINUTES..=MAX_UTC_OFFSET_MINUTES).contains(&request.utc_offset_minutes) {
            return Err(RequestError::InvalidQuery(
                "utc_offset is minutes from UTC, at most 840 either way".into(),
            ));
        }
        let limit = request.limit.clamp(1, MAX_SEARCH_PAGE);
        let before = match request.cursor.as_deref() {
            None => None,
            Some(cursor) => Some(MessageId(
                cursor
                    .parse()
                    .map_err(|_| RequestError::InvalidQuery("cursor is not one this server gave".into()))?,
            )),
        };
        let (since, until) = time_range(&query, request.utc_offset_minutes);
        let search = MessageSearch {
            searcher: user.id,
            terms: query.terms.clone(),
            excluded: query.excluded.clone(),
            has_link: query.has_link,
            from: match &query.from {
                Some(name) => Some(self.user_named(name).await?),
                None => None,
            },
            channel: match (&query.place, request.channel) {
                (Some(place), _) => Some(self.place(user, place).await?),
                (None, Some(channel)) => Some(self.searchable_channel(user, channel).await?),
                (None, None) => None,
            },
            since,
            until,
            mentioning_searcher: query.is_mention,
            before,
            // One more than asked says whether there is a next page.
            limit: limit + 1,
        };
        let mut found = self.store.search(search).await?;
        let next = if found.len() > limit as usize {
            found.truncate(limit as usize);
            found.last().map(|message| search_cursor_after(message.id))
        } else {
            None
        };
        let hits = found
            .into_iter()
            .map(|message| SearchHit { highlights: highlights(&message.body, &query), message })
            .collect();
        self.metrics.searches_total.inc();
        self.metrics.search_seconds.observe(started.elapsed().as_secs_f64());
        Ok(SearchPage { hits, next })
    }

    async fn user_named(&self, name: &str) -> Result<crate::model::UserId, RequestError> {
        let name = UserName::parse(name)
            .map_err(|why| RequestError::InvalidQuery(format!("from: takes a user name: {why}")))?;
        let found = self.store.find_user(name.as_str()).await?.ok_or(RequestError::UnknownUser)?;
        Ok(found.user.id)
    }

    /// The channel `in:` names, if the searcher is a member: a private
    /// channel they are not in answers as one that does not exist.
    async fn place(&self, user: &User, place: &Place) -> Result<ChannelId, RequestError> {
        match place {
            Place::Channel(name) => {
                let channel = self.resolve_channel_name(user, name).await?;
                self.searchable_channel(user, channel.id).await
            }
            Place::Person(name) => {
                let wanted = name.to_lowercase();
                // The DM's other member; in a note to self, the searcher.
                let with = |view: &&ChannelView| {
                    let other = view.dm_members.iter().find(|member| **member != user.name);
                    other.unwrap_or(&user.name).to_lowercase() == wanted
                };
                let channels = self.store.channels_of(user.id).await?;
                // One-to-one DMs and notes to self only: a group DM is no
                // one person's.
                let dms = channels
                    .iter()
                    .filter(|view| view.channel.kind == ChannelKind::Direct && view.dm_members.len() <= 2);
                dms.into_iter().find(with).map(|view| view.channel.id).ok_or(RequestError::NotFound)
            }
        }
    }

    /// `channel`, if the searcher is a member of it now.
    async fn searchable_channel(&self, user: &User, channel: ChannelId) -> Result<ChannelId, RequestError> {
        if self.store.is_member(channel, user.id).await? {
            return Ok(channel);
        }
        Err(self.refusal_for_non_member(channel).await)
    }
}

/// `query` with the request's filter fields added; a filter given both
/// ways is refused, as one typed twice is.
fn with_fields(mut query: Query, request: &SearchRequest) -> Result<Query, RequestError> {
    let twice = |what: &str| RequestError::InvalidQuery(format!("{what} is given twice"));
    if let Some(from) = &request.from {
        if query.from.is_some() {
            return Err(twice("from"));
        }
        query.from = Some(from.strip_prefix('@').unwrap_or(from).to_owned());
    }
    if request.channel.is_some() && query.place.is_some() {
        return Err(twice("in"));
    }
    for (field, slot, name) in [
        (&request.before, &mut query.before, "before"),
        (&request.after, &mut query.after, "after"),
        (&request.on, &mut query.on, "on"),
    ] {
        if let Some(text) = field {
            if slot.is_some() {
                return Err(twice(name));
            }
            *slot = Some(day(text, name).map_err(|error| RequestError::InvalidQuery(error.0))?);
        }
    }
    query.has_link |= request.has_link;
    query.is_mention |= request.is_mention;
    // Exclusions alone would list everything else: refused, as typed.
    if query.terms.is_empty() && !query.has_filter() && !request.has_fields() {
        return Err(RequestError::InvalidQuery("search for at least one word or filter".into()));
    }
    Ok(query)
}

/// The times (ms since the epoch) the query's days stand for in the
/// client's offset: `before:` ends where that day starts, `after:` starts
/// where the next day starts, `on:` is the day.
fn time_range(query: &Query, utc_offset_minutes: i32) -> (Option<i64>, Option<i64>) {
    let start_of = |day: Day, plus_days: i64| {
        (days_from_civil(day) + plus_days) * DAY_MS - i64::from(utc_offset_minutes) * 60_000
    };
    let mut since = query.after.map(|day| start_of(day, 1));
    let mut until = query.before.map(|day| start_of(day, 0));
    if let Some(day) = query.on {
        since = since.max(Some(start_of(day, 0)));
        until = Some(until.map_or(start_of(day, 1), |until| until.min(start_of(day, 1))));
    }
    (since, until)
}

/// Days from 1970-01-01 to `day` in the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(day: Day) -> i64 {
    let (month, dom) = (i64::from(day.month), i64::from(day.day));
    let year = i64::from(day.year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + dom - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(year: i32, month: u32, day: u32) -> Day {
        Day { year, month, day }
    }

    #[test]
    fn days_count_from_the_epoch() {
        assert_eq!(days_from_civil(day(1970, 1, 1)), 0);
        assert_eq!(days_from_civil(day(2000, 3, 1)), 11_017);
        assert_eq!(days_from_civil(day(2026, 11, 30)), 20_787);
    }

    #[test]
    fn a_day_is_the_clients_day() {
        let query = Query { on: Some(day(1970, 1, 2)), ..Query::default() };
        // UTC+1: the day starts an hour before midnight UTC.
        assert_eq!(time_range(&query, 60), (Some(DAY_MS - 3_600_000), Some(2 * DAY_MS - 3_600_000)));
        let query = Query { before: Some(day(1970, 1, 3)), after: Some(day(1970, 1, 1)), ..Query::default() };
        assert_eq!(time_range(&query, 0), (Some(DAY_MS), Some(2 * DAY_MS)));
    }
}
