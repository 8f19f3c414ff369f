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

/// What the tokenizer's output depends on besides natter's own code: the
/// Unicode tables of the Rust standard library (letters, digits, case),
/// of `unicode-normalization` (NFKC) and of `emojis` (which sequences are
/// one emoji). A stored index was made by the tokenizer of the fingerprint
/// stored with it; when they differ, the store indexes everything again
/// at start. SQLite's index must be told the exact terms a message was
/// indexed under to forget it, so an index made by another tokenizer
/// would come apart at the next edit.
pub fn tokenizer_fingerprint() -> String {
    use sha2::{Digest, Sha256};
    /// Raised whenever natter's tokenizer changes what it makes.
    const TOKENIZER_REVISION: u32 = 1;
    /// Texts whose terms change if anything the tokenizer depends on does
    /// (a case or width table, a composition, an emoji sequence, the link
    /// marker, the token cut), hashed with the emoji list: the
    /// fingerprint checks itself even when a revision was not raised.
    const PROBES: &[&str] = &[
        "Café CAFÉ naïve Ångström Αθήνα ΔΡΟΜΟΣ ёлка Straße İstanbul ǅ ﬁ",
        "ＡＢＣ ｶﾞｽ ㍻ ㍿ 我家在上海东边。회의록을 バッタと鈴虫 กินข้าว",
        "10.100.200.101 src/store/sqlite.rs **bold** https://example.com",
        "👍🏽 👨‍👩‍👧 🇫🇷 ❤ #️⃣ ²⃣ x\u{200B}y e\u{0301}",
    ];
    let mut digest = Sha256::new();
    for known in emojis::iter() {
        digest.update(known.as_str().as_bytes());
        digest.update([0]);
    }
    for probe in PROBES {
        digest.update(index_terms(probe).join(" ").as_bytes());
        // Long enough for the cap on terms to show.
        digest.update(index_terms(&probe.repeat(300)).len().to_le_bytes());
    }
    let (major, minor, update) = char::UNICODE_VERSION;
    let (n_major, n_minor, n_update) = unicode_normalization::UNICODE_VERSION;
    let digest: String = digest.finalize().iter().take(8).map(|byte| format!("{byte:02x}")).collect();
    format!(
        "natter {TOKENIZER_REVISION}; unicode {major}.{minor}.{update}; \
         nfkc {n_major}.{n_minor}.{n_update}; terms {digest}"
    )
}

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

/// Most terms one message is indexed under, the same on both stores:
/// under PostgreSQL's highest position (16,383). A body of at most 4,000
/// characters rarely comes near, but compatibility characters can expand
/// (㍿ is 株式会社): past it, the rest of the body is not searchable.
pub const MAX_INDEXED_TERMS: usize = 16_000;

/// The terms a message body is indexed under, in order (a phrase matches
/// tokens next to each other here): [`LINK_MARKER`] first if it carries a
/// link, then its tokens, at most [`MAX_INDEXED_TERMS`] in all.
pub fn index_terms(body: &str) -> Vec<String> {
    let mut terms = Vec::new();
    if has_link(body) {
        terms.push(LINK_MARKER.to_owned());
    }
    let room = MAX_INDEXED_TERMS - terms.len();
    terms.extend(tokens(body).into_iter().take(room).map(|token| {
        let mut term = token.text;
        term.truncate(index_form(&term).len());
        term
    }));
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
    fn a_link_puts_its_marker_first() {
        let terms = index_terms("go https://example.com");
        assert_eq!(terms.first().map(String::as_str), Some(LINK_MARKER));
        assert!(!index_terms("go home").contains(&LINK_MARKER.to_owned()));
    }

    #[test]
    fn a_body_is_indexed_under_at_most_max_indexed_terms() {
        let expanding = format!("{} https://x", "㍿".repeat(2_100));
        let terms = index_terms(&expanding);
        assert_eq!(terms.len(), MAX_INDEXED_TERMS);
        assert_eq!(terms[0], LINK_MARKER, "the link is found even so");
    }
}
