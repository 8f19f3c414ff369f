//! What a user types into search, parsed into terms and filters.
//!
//! This module owns the query language and its limits; it knows nothing
//! of the stores, which compile a [`Query`] to their own index language.
//! Terms are made of [`tokens`], the very tokenizer that indexes messages,
//! so a term is found exactly where the same words appear.
//!
//! The language, in short: chunks separated by whitespace, each one term
//! that must appear; `"a phrase"` keeps its words together; `-word` or
//! `-"a phrase"` must not appear; `from:`, `in:`, `before:`, `after:`,
//! `on:`, `has:link` and `is:mention` filter. Any other `key:value` is
//! ordinary text, so `http://x` and `10:30` search as text.

use super::tokenize::tokens;

/// The longest query, in bytes.
pub const MAX_QUERY_BYTES: usize = 500;
/// Most terms (words, phrases and exclusions, each counting one).
pub const MAX_TERMS: usize = 16;
/// Most tokens over all terms.
pub const MAX_TOKENS: usize = 64;
/// The shortest word matched by prefix: a shorter one (`a`, `de`) would
/// make the index merge the postings of a large share of its words, so it
/// is matched whole.
pub const MIN_PREFIX_CHARS: usize = 3;

/// A term: tokens that must appear in this order, next to each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub tokens: Vec<String>,
    /// The last token matches any token it begins (`deplo` finds deploy).
    pub prefix: bool,
}

/// A date filter's day, as typed (`YYYY-MM-DD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

/// Where to look: `in:#channel` or `in:@person` (their direct messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    Channel(String),
    Person(String),
}

/// A parsed query: every term must match, no excluded term may, and every
/// filter holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pub terms: Vec<Term>,
    pub excluded: Vec<Term>,
    /// `from:name`: the sender's name as typed (without `@`).
    pub from: Option<String>,
    pub place: Option<Place>,
    pub before: Option<Day>,
    pub after: Option<Day>,
    pub on: Option<Day>,
    pub has_link: bool,
    pub is_mention: bool,
}

impl Query {
    /// Whether any filter is set: a query of filters alone is valid (all
    /// of alice's messages in #ops), one of exclusions alone is not.
    pub fn has_filter(&self) -> bool {
        self.from.is_some()
            || self.place.is_some()
            || self.before.is_some()
            || self.after.is_some()
            || self.on.is_some()
            || self.has_link
            || self.is_mention
    }
}

/// Why a query cannot run, in words to show the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

impl QueryError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Parses `input`.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    parse_with(input, false)
}

/// Parses `input`, which is searched with filters given apart from it
/// (the request's fields) when `filtered`: then exclusions alone are a
/// query too.
pub fn parse_with(input: &str, filtered: bool) -> Result<Query, QueryError> {
    if input.len() > MAX_QUERY_BYTES {
        return Err(QueryError(format!("a query is at most {MAX_QUERY_BYTES} bytes")));
    }
    let mut query = Query::default();
    let mut last_term_may_be_prefix = false;
    for chunk in chunks(input) {
        if !chunk.quoted && !chunk.excluded && apply_filter(&mut query, chunk.text)? {
            continue;
        }
        let term_tokens = tokens(chunk.text);
        if term_tokens.is_empty() {
            continue;
        }
        let may_be_prefix = !chunk.quoted
            && !chunk.excluded
            && term_tokens.len() == 1
            && term_tokens[0].prefixable
            && term_tokens[0].text.chars().count() >= MIN_PREFIX_CHARS;
        let term = Term { tokens: term_tokens.into_iter().map(|token| token.text).collect(), prefix: false };
        if chunk.excluded {
            query.excluded.push(term);
        } else {
            query.terms.push(term);
            last_term_may_be_prefix = may_be_prefix;
        }
    }
    if last_term_may_be_prefix && let Some(last) = query.terms.last_mut() {
        last.prefix = true;
    }
    dedupe(&mut query.terms);
    dedupe(&mut query.excluded);
    check_limits(&query, filtered)?;
    Ok(query)
}

/// Drops repeated terms, keeping the first of each: `deploy deploy` asks
/// for nothing more than `deploy`. A prefix term is also dropped when the
/// same word is asked for whole (`deploy x deploy`).
fn dedupe(terms: &mut Vec<Term>) {
    let mut index = 0;
    while index < terms.len() {
        let term = &terms[index];
        let asked_whole = |other: &Term| !other.prefix && other.tokens == term.tokens;
        let repeated = terms[..index].contains(term) || (term.prefix && terms.iter().any(asked_whole));
        if repeated {
            terms.remove(index);
        } else {
            index += 1;
        }
    }
}

fn check_limits(query: &Query, filtered: bool) -> Result<(), QueryError> {
    if query.terms.is_empty() && !query.has_filter() && !filtered {
        return Err(QueryError::new(if query.excluded.is_empty() {
            "the query is empty: type words to find, or a filter such as from:name"
        } else {
            "a query needs words to find or a filter, not only words to leave out"
        }));
    }
    let all_terms = query.terms.iter().chain(&query.excluded);
    if all_terms.clone().count() > MAX_TERMS {
        return Err(QueryError(format!("a query has at most {MAX_TERMS} words and phrases")));
    }
    if all_terms.map(|term| term.tokens.len()).sum::<usize>() > MAX_TOKENS {
        return Err(QueryError(format!(
            "the query is too long: at most {MAX_TOKENS} tokens (a word is one; \
             Chinese, Japanese, Korean or Thai text is about two a character)"
        )));
    }
    Ok(())
}

/// One whitespace-separated piece of a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Chunk<'a> {
    /// The text, without the leading `-` and without the quotes.
    text: &'a str,
    /// Written in double quotes: a phrase, never a filter, never a prefix.
    quoted: bool,
    /// Written with a leading `-`: must not appear.
    excluded: bool,
}

/// Splits `input` into chunks: runs of non-whitespace, except that a
/// chunk starting with `"` (or `-"`) runs to the next `"`, spaces
/// included, or to the end when the quote is never closed.
fn chunks(input: &str) -> Vec<Chunk<'_>> {
    let mut found = Vec::new();
    let mut rest = input.trim_start();
    while !rest.is_empty() {
        let (chunk, after) = next_chunk(rest);
        found.push(chunk);
        rest = after.trim_start();
    }
    found
}

/// The chunk at the start of `rest` (which starts with non-whitespace),
/// and what follows it.
fn next_chunk(rest: &str) -> (Chunk<'_>, &str) {
    let (excluded, body) = match rest.strip_prefix('-') {
        Some(body) if body.chars().next().is_some_and(|ch| !ch.is_whitespace()) => (true, body),
        _ => (false, rest),
    };
    if let Some(quoted) = body.strip_prefix('"') {
        let (text, after) = match quoted.split_once('"') {
            Some((text, after)) => (text, after),
            None => (quoted, ""),
        };
        return (Chunk { text, quoted: true, excluded }, after);
    }
    let end = body.find(char::is_whitespace).unwrap_or(body.len());
    (Chunk { text: &body[..end], quoted: false, excluded }, &body[end..])
}

/// Applies `chunk` to `query` if it is a filter (`key:value` with a key
/// natter knows, in any case) and says whether it was. A known key with a
/// bad value, or given twice, is an error rather than text: the user
/// clearly meant a filter.
fn apply_filter(query: &mut Query, chunk: &str) -> Result<bool, QueryError> {
    let Some((key, value)) = chunk.split_once(':') else { return Ok(false) };
    let key = key.to_ascii_lowercase();
    match key.as_str() {
        "from" => set_once(&mut query.from, "from", name(value, "from", '@')?),
        "in" => set_once(&mut query.place, "in", place(value)?),
        "before" => set_once(&mut query.before, "before", day(value, "before")?),
        "after" => set_once(&mut query.after, "after", day(value, "after")?),
        "on" => set_once(&mut query.on, "on", day(value, "on")?),
        "has" => set_flag(&mut query.has_link, "has", "link", value),
        "is" => set_flag(&mut query.is_mention, "is", "mention", value),
        _ => return Ok(false),
    }?;
    Ok(true)
}

fn set_once<T>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), QueryError> {
    if slot.is_some() {
        return Err(QueryError(format!("{key}: is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// A filter with one possible value (`has:link`), in any case.
fn set_flag(slot: &mut bool, key: &str, known_value: &str, value: &str) -> Result<(), QueryError> {
    if !value.eq_ignore_ascii_case(known_value) {
        return Err(QueryError(format!("{key}: knows only {key}:{known_value}")));
    }
    if *slot {
        return Err(QueryError(format!("{key}:{known_value} is given twice")));
    }
    *slot = true;
    Ok(())
}

/// A name after `key:`, without its `sigil` (`from:@alice` is alice).
fn name(value: &str, key: &str, sigil: char) -> Result<String, QueryError> {
    let name = value.strip_prefix(sigil).unwrap_or(value);
    if name.is_empty() {
        return Err(QueryError(format!("{key}: needs a name, such as {key}:alice")));
    }
    Ok(name.to_owned())
}

/// `in:#channel` and `in:channel` are a channel, `in:@person` a person's
/// direct messages.
fn place(value: &str) -> Result<Place, QueryError> {
    if value.starts_with('@') {
        return Ok(Place::Person(name(value, "in", '@')?));
    }
    let channel = value.strip_prefix('#').unwrap_or(value);
    if channel.is_empty() {
        return Err(QueryError::new("in: needs a channel or a person, such as in:#general or in:@alice"));
    }
    Ok(Place::Channel(channel.to_owned()))
}

/// A `YYYY-MM-DD` date that exists in the calendar; `key` names the
/// filter (or field) in the error.
pub fn day(value: &str, key: &str) -> Result<Day, QueryError> {
    let shape_error = || QueryError(format!("{key}: takes a date as YYYY-MM-DD, such as {key}:2024-03-15"));
    let mut parts = value.split('-');
    let (Some(year), Some(month), Some(day), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(shape_error());
    };
    let digits = |part: &str, length: usize| part.len() == length && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(year, 4) || !digits(month, 2) || !digits(day, 2) {
        return Err(shape_error());
    }
    let parsed = Day {
        year: year.parse().map_err(|_| shape_error())?,
        month: month.parse().map_err(|_| shape_error())?,
        day: day.parse().map_err(|_| shape_error())?,
    };
    if parsed.year == 0
        || !(1..=12).contains(&parsed.month)
        || !(1..=days_in_month(parsed.year, parsed.month)).contains(&parsed.day)
    {
        return Err(QueryError(format!("{key}: {value} is not a date")));
    }
    Ok(parsed)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn term(tokens: &[&str], prefix: bool) -> Term {
        Term { tokens: tokens.iter().map(|token| (*token).to_owned()).collect(), prefix }
    }

    fn error(input: &str) -> String {
        match parse(input) {
            Ok(query) => panic!("{input:?} parsed as {query:?}"),
            Err(QueryError(message)) => message,
        }
    }

    #[test]
    fn words_are_terms_and_the_last_single_word_is_a_prefix() {
        let query = parse("Deploy faile").expect("valid");
        assert_eq!(query.terms, [term(&["deploy"], false), term(&["faile"], true)]);
        assert!(parse("deploy 2024").expect("valid").terms.iter().all(|term| !term.prefix));
        assert!(!parse("deploy v2").expect("valid").terms[1].prefix);
        assert!(!parse("deploy 上海").expect("valid").terms[1].prefix);
        assert!(!parse("deploy \"faile\"").expect("valid").terms[1].prefix);
        assert!(parse("faile -deploy").expect("valid").terms[0].prefix);
    }

    #[test]
    fn a_chunk_of_several_tokens_is_one_phrase() {
        let query = parse("10.100.200.101 src/store/sqlite.rs docker部署 我家在上海").expect("valid");
        assert_eq!(
            query.terms,
            [
                term(&["10", "100", "200", "101"], false),
                term(&["src", "store", "sqlite", "rs"], false),
                term(&["docker", "部", "部署", "署"], false),
                term(&["我", "我家", "家", "家在", "在", "在上", "上", "上海", "海"], false),
            ]
        );
    }

    #[test]
    fn quotes_make_a_phrase_and_may_stay_open() {
        let query = parse("\"deploy failed\" \"on Friday").expect("valid");
        assert_eq!(query.terms, [term(&["deploy", "failed"], false), term(&["on", "friday"], false)]);
        assert_eq!(parse("\"from:alice\"").expect("valid").terms, [term(&["from", "alice"], false)]);
    }

    #[test]
    fn a_minus_excludes_a_word_or_a_phrase() {
        let query = parse("deploy -staging -\"dry run\" - x-ray").expect("valid");
        assert_eq!(query.terms, [term(&["deploy"], false), term(&["x", "ray"], false)]);
        assert_eq!(query.excluded, [term(&["staging"], false), term(&["dry", "run"], false)]);
    }

    #[test]
    fn filters_are_parsed() {
        let query = parse("FROM:@alice in:#ops before:2024-03-01 after:2024-02-29 has:link IS:Mention")
            .expect("valid");
        assert_eq!(query.from.as_deref(), Some("alice"));
        assert_eq!(query.place, Some(Place::Channel("ops".into())));
        assert_eq!(query.before, Some(Day { year: 2024, month: 3, day: 1 }));
        assert_eq!(query.after, Some(Day { year: 2024, month: 2, day: 29 }));
        assert!(query.has_link && query.is_mention && query.terms.is_empty());
        assert_eq!(parse("in:ops").expect("valid").place, Some(Place::Channel("ops".into())));
        assert_eq!(parse("in:@bob").expect("valid").place, Some(Place::Person("bob".into())));
        assert_eq!(parse("from:bob").expect("valid").from.as_deref(), Some("bob"));
        assert_eq!(parse("on:2000-02-29").expect("valid").on, Some(Day { year: 2000, month: 2, day: 29 }));
    }

    #[test]
    fn unknown_keys_are_text() {
        assert_eq!(
            parse("http://example.com").expect("valid").terms,
            [term(&["http", "example", "com"], false)]
        );
        assert_eq!(parse("10:30").expect("valid").terms, [term(&["10", "30"], false)]);
    }

    #[test]
    fn bad_filters_are_errors() {
        assert!(error("before:2023-02-29").contains("not a date"));
        assert!(error("on:2024-13-01").contains("not a date"));
        assert!(error("after:yesterday").contains("YYYY-MM-DD"));
        assert!(error("after:2024-3-1").contains("YYYY-MM-DD"));
        assert!(error("from:a from:b").contains("twice"));
        assert!(error("has:link has:link").contains("twice"));
        assert!(error("has:image").contains("has:link"));
        assert!(error("is:unread").contains("is:mention"));
        assert!(error("from:@").contains("needs a name"));
        assert!(error("in:#").contains("needs a channel"));
    }

    #[test]
    fn empty_and_exclusion_only_queries_are_errors() {
        assert!(error("").contains("empty"));
        assert!(error("  ** -- \"\" ").contains("empty"));
        assert!(error("-deploy").contains("not only words to leave out"));
        assert!(parse("-deploy from:alice").is_ok());
    }

    #[test]
    fn limits_are_enforced() {
        assert!(error(&"a".repeat(MAX_QUERY_BYTES + 1)).contains("bytes"));
        let words: Vec<String> = (0..=MAX_TERMS).map(|index| format!("w{index}")).collect();
        assert!(error(&words.join(" ")).contains("words and phrases"));
        assert!(parse(&words[..MAX_TERMS].join(" ")).is_ok());
        assert!(error(&"上海".repeat(20)).contains("tokens"));
        let long_exclusions: Vec<String> = (0..8).map(|index| format!("-{index}.b.c.d.e.f.g.h")).collect();
        assert!(error(&format!("x {}", long_exclusions.join(" "))).contains("tokens"));
    }

    #[test]
    fn repeated_terms_count_once() {
        let query = parse("deploy deploy x deploy -x -x").expect("valid");
        assert_eq!(query.terms, [term(&["deploy"], false), term(&["x"], false)]);
        assert_eq!(query.excluded, [term(&["x"], false)]);
    }

    proptest! {
        /// No input makes the parser panic; it answers a query or an error.
        #[test]
        fn parsing_never_panics(input in any::<String>()) {
            let _ = parse(&input);
        }

        #[test]
        fn parsing_query_like_text_never_panics(input in "[a-z:@#\"\\- 0-9上海.]{0,60}") {
            let _ = parse(&input);
        }
    }
}
