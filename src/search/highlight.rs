//! Where a query matched in a hit, for the client to mark.
//!
//! The body is tokenized again with the same tokenizer the index used, and
//! each term is looked for as consecutive tokens, so what is marked is
//! exactly what made the message a hit (never a Markdown asterisk, never
//! half a word that only looks alike). Offsets go out in UTF-16 code units
//! because that is what the browser's strings count in.

use super::index_form;
use super::query::{Query, Term};
use super::tokenize::{Token, tokens};

/// Most ranges one hit carries: the client shows an excerpt around the
/// first, and a body of 2,000 one-character matches would otherwise make
/// a hit larger than a reply may be.
pub const MAX_HIGHLIGHTS: usize = 64;

/// The ranges of `body` that `query`'s terms matched, in UTF-16 code units
/// (what a browser's `String.prototype.slice` takes), in order and not
/// overlapping: ranges that overlap or touch are merged; the first
/// [`MAX_HIGHLIGHTS`] of them. Excluded terms are never marked.
pub fn highlights(body: &str, query: &Query) -> Vec<(usize, usize)> {
    let body_tokens = tokens(body);
    let mut byte_ranges: Vec<(usize, usize)> = Vec::new();
    for term in &query.terms {
        for first in term_matches(&body_tokens, term) {
            let last = &body_tokens[first + term.tokens.len() - 1];
            byte_ranges.push((body_tokens[first].start, last.end));
        }
    }
    byte_ranges.sort_unstable();
    let mut merged = merge(byte_ranges);
    merged.truncate(MAX_HIGHLIGHTS);
    to_utf16(body, &merged)
}

/// The index in `haystack` of the first token of each occurrence of
/// `term`: its tokens in order, next to each other, the last one by prefix
/// for a prefix term, each compared as the index holds it
/// ([`index_form`]). A term without tokens occurs nowhere.
pub fn term_matches<'a>(haystack: &'a [Token], term: &'a Term) -> impl Iterator<Item = usize> + 'a {
    let length = term.tokens.len().max(1);
    haystack
        .windows(length)
        .enumerate()
        .filter(move |(_, window)| is_occurrence(window, term))
        .map(|(index, _)| index)
}

fn is_occurrence(window: &[Token], term: &Term) -> bool {
    let Some((last, leading)) = term.tokens.split_last() else { return false };
    let Some((window_last, window_leading)) = window.split_last() else { return false };
    let (window_last, last) = (index_form(&window_last.text), index_form(last));
    let last_matches = if term.prefix { window_last.starts_with(last) } else { window_last == last };
    last_matches
        && window_leading
            .iter()
            .zip(leading)
            .all(|(token, wanted)| index_form(&token.text) == index_form(wanted))
}

/// Sorted byte ranges with overlapping or touching ones joined.
fn merge(sorted: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Byte ranges of `text` (sorted, on character boundaries) as UTF-16 code
/// unit ranges, in one pass over the text.
fn to_utf16(text: &str, byte_ranges: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut byte = 0;
    let mut unit = 0;
    let mut advance_to = |target: usize| {
        unit += text[byte..target].chars().map(char::len_utf16).sum::<usize>();
        byte = target;
        unit
    };
    byte_ranges.iter().map(|&(start, end)| (advance_to(start), advance_to(end))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::query::parse;
    use proptest::prelude::*;

    fn marked(body: &str, query: &str) -> Vec<String> {
        let utf16: Vec<u16> = body.encode_utf16().collect();
        highlights(body, &parse(query).expect("valid query"))
            .into_iter()
            .map(|(start, end)| String::from_utf16(&utf16[start..end]).expect("whole characters"))
            .collect()
    }

    #[test]
    fn words_and_phrases_are_marked_in_the_original_text() {
        assert_eq!(marked("The **Café** is open, café!", "cafe"), ["Café", "café"]);
        assert_eq!(marked("deploy failed, then deployed", "failed deploy"), ["deploy", "failed", "deployed"]);
        assert_eq!(marked("deploy failed, then deployed", "\"deploy failed\""), ["deploy failed"]);
        assert_eq!(marked("ping 10.100.200.101 now", "10.100.200.101"), ["10.100.200.101"]);
    }

    #[test]
    fn prefixes_mark_the_whole_word() {
        assert_eq!(marked("Deployment done", "deplo"), ["Deployment"]);
        assert!(marked("Deployment done", "\"deplo\"").is_empty());
    }

    #[test]
    fn unspaced_runs_mark_the_matched_characters() {
        assert_eq!(marked("我家在上海东边", "上海"), ["上海"]);
        assert_eq!(marked("バッタと鈴虫", "鈴虫"), ["鈴虫"]);
        assert_eq!(marked("회의록을 보냈어요", "회의"), ["회의"]);
        assert!(marked("上海，海东", "上海东").is_empty());
        assert_eq!(marked("ｶﾞｲﾄﾞ", "ガイド"), ["ｶﾞｲﾄﾞ"]);
    }

    #[test]
    fn offsets_count_utf16_units_and_ranges_merge() {
        let query = parse("deploy failed").expect("valid");
        assert_eq!(highlights("😀 deploy failed", &query), [(3, 9), (10, 16)]);
        let query = parse("\"deploy failed\"").expect("valid");
        assert_eq!(highlights("😀 deploy failed", &query), [(3, 16)]);
        let query = parse("上海 海东").expect("valid");
        assert_eq!(highlights("上海东", &query), [(0, 3)]);
    }

    #[test]
    fn excluded_terms_are_not_marked() {
        let query = parse("deploy -failed").expect("valid");
        assert_eq!(highlights("deploy failed", &query), [(0, 6)]);
    }

    #[test]
    fn term_matches_follow_the_prefix_flag() {
        let body = tokens("deployment failed");
        let exact = Term { tokens: vec!["deploy".into()], prefix: false };
        let prefix = Term { tokens: vec!["deploy".into()], prefix: true };
        assert_eq!(term_matches(&body, &exact).count(), 0);
        assert_eq!(term_matches(&body, &prefix).collect::<Vec<_>>(), [0]);
        assert_eq!(term_matches(&body, &Term { tokens: Vec::new(), prefix: false }).count(), 0);
    }

    #[test]
    fn a_hit_carries_at_most_max_highlights_ranges() {
        let body = "x ".repeat(200);
        let query = parse("x").expect("valid");
        assert_eq!(highlights(&body, &query).len(), MAX_HIGHLIGHTS);
    }

    #[test]
    fn tokens_longer_than_the_index_holds_are_marked_by_what_it_holds() {
        let long = "a".repeat(300);
        let query = parse(&format!("\"{}\"", "a".repeat(250))).expect("valid");
        assert_eq!(highlights(&long, &query), [(0, 300)]);
    }

    proptest! {
        /// Highlights are sorted, disjoint ranges inside the body, each on
        /// whole characters.
        #[test]
        fn highlights_are_ordered_ranges_of_the_body(
            body in "[a-cé上海东ｶﾞ😀 .]{0,30}",
            query in "[a-c上海东ガ]{1,4}",
        ) {
            let Ok(query) = parse(&query) else { return Ok(()) };
            let utf16: Vec<u16> = body.encode_utf16().collect();
            let mut previous_end = None;
            for (start, end) in highlights(&body, &query) {
                prop_assert!(start < end && end <= utf16.len());
                prop_assert!(previous_end.is_none_or(|previous| previous < start));
                prop_assert!(String::from_utf16(&utf16[start..end]).is_ok());
                previous_end = Some(end);
            }
        }
    }
}
