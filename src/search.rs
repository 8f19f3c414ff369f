//! Search: one tokenizer for indexing and for queries, on both stores.
//!
//! `tokenize` turns text (a message body or a query) into the tokens the
//! stores index: words of any script written with spaces, overlapping
//! bigrams plus single characters for scripts written without spaces, and
//! emoji. `query` parses what a user types into a [`query::Query`]; the
//! stores compile it to their own index language (FTS5 on SQLite,
//! `tsquery` on PostgreSQL) from the same tokens, so both find the same
//! messages. `highlight` finds, in a hit's body, the ranges the query
//! matched.

pub mod highlight;
pub mod query;
pub mod tokenize;

pub use query::{Query, QueryError, Term};
pub use tokenize::{Token, normalize, tokens};

/// A token no text or query can produce (tokens are letters, digits and
/// emoji; this starts with a private-use character), indexed for messages
/// that carry a link, so `has:link` is a term like any other.
pub const LINK_MARKER: &str = "\u{E000}link";

/// The longest token an index holds, in bytes: longer ones are cut (on a
/// character boundary) when indexed and when searched, alike. PostgreSQL
/// refuses lexemes over 2 KiB, and nobody searches for 200 bytes of one
/// word.
pub const MAX_TOKEN_BYTES: usize = 200;

/// `token` as an index holds it: cut to [`MAX_TOKEN_BYTES`].
pub fn index_form(token: &str) -> &str {
    if token.len() <= MAX_TOKEN_BYTES {
        return token;
    }
    let mut end = MAX_TOKEN_BYTES;
    while !token.is_char_boundary(end) {
        end -= 1;
    }
    &token[..end]
}

/// The terms a message body is indexed under, in order (a phrase matches
/// tokens next to each other here): its tokens, then [`LINK_MARKER`] if it
/// carries a link.
pub fn index_terms(body: &str) -> Vec<String> {
    let mut terms: Vec<String> =
        tokens(body).into_iter().map(|token| index_form(&token.text).to_owned()).collect();
    if has_link(body) {
        terms.push(LINK_MARKER.to_owned());
    }
    terms
}

/// Whether `body` carries a link: an `http://` or `https://` URL, bare or
/// in Markdown (`[text](https://...)`), in any case.
pub fn has_link(body: &str) -> bool {
    let bytes = body.as_bytes();
    memchr::memmem::find_iter(bytes, b"://").any(|at| {
        let scheme = &bytes[..at];
        let ends_with =
            |s: &[u8]| scheme.len() >= s.len() && scheme[scheme.len() - s.len()..].eq_ignore_ascii_case(s);
        let preceded_by_word =
            |len: usize| scheme.len() > len && scheme[scheme.len() - len - 1].is_ascii_alphanumeric();
        (ends_with(b"https") && !preceded_by_word(5)) || (ends_with(b"http") && !preceded_by_word(4))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_http_urls_anywhere_in_the_body() {
        assert!(has_link("see https://example.com"));
        assert!(has_link("[docs](HTTP://example.com/x)"));
        assert!(has_link("(http://a)"));
        assert!(!has_link("ftp://example.com"));
        assert!(!has_link("xhttps://example.com"));
        assert!(!has_link("no link: http or https"));
    }

    #[test]
    fn a_link_adds_its_marker_after_the_tokens() {
        let terms = index_terms("go https://example.com");
        assert_eq!(terms.last().map(String::as_str), Some(LINK_MARKER));
        assert!(!index_terms("go home").contains(&LINK_MARKER.to_owned()));
    }
}
