//! Search on PostgreSQL: `messages.search`, a `tsvector` written from
//! natter's own tokens (`crate::search`) in the statement that stores,
//! edits or deletes the message (no text search parser, configuration,
//! locale or extension is involved), under a GIN index; and the query
//! compiled to a `tsquery` literal from the same tokens, so both stores
//! find the same messages.

use std::collections::HashMap;
use std::fmt::Write;

use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use super::super::StoreResult;
use super::super::rows::{self, MESSAGE_COLUMNS};
use super::super::search::{MessageSearch, row_conditions};
use super::backend;
use crate::model::Message;
use crate::search::{Term, index_form, index_terms};

/// Most positions PostgreSQL keeps per lexeme; later ones are dropped (so
/// a phrase among a word's 257th and later repeats in one message is not
/// found here, though SQLite finds it).
const MAX_POSITIONS: usize = 256;
/// The highest position PostgreSQL stores; a body of at most
/// `MAX_BODY_CHARS` characters has fewer tokens than this.
const MAX_POSITION: usize = 16_383;

/// A lexeme quoted for a `tsvector` or `tsquery` literal.
fn quoted(lexeme: &str) -> String {
    format!("'{}'", lexeme.replace('\\', "\\\\").replace('\'', "''"))
}

/// The `tsvector` literal of a body: each term with its positions (from 1).
pub(super) fn tsvector(body: &str) -> String {
    let mut positions: HashMap<String, Vec<usize>> = HashMap::new();
    let mut order = Vec::new();
    for (index, term) in index_terms(body).into_iter().enumerate().take(MAX_POSITION) {
        let at = positions.entry(term.clone()).or_default();
        if at.is_empty() {
            order.push(term);
        }
        if at.len() < MAX_POSITIONS {
            at.push(index + 1);
        }
    }
    let mut literal = String::new();
    for term in order {
        let at: Vec<String> = positions[&term].iter().map(usize::to_string).collect();
        let _ = write!(literal, "{}:{} ", quoted(&term), at.join(","));
    }
    literal
}

/// One term as a `tsquery`: its lexemes next to each other (`<->`), the
/// last one by prefix (`:*`) for a prefix term.
fn phrase(term: &Term) -> String {
    let last = term.tokens.len().saturating_sub(1);
    let lexemes: Vec<String> = term
        .tokens
        .iter()
        .enumerate()
        .map(|(at, token)| {
            let lexeme = quoted(index_form(token));
            if term.prefix && at == last { format!("{lexeme}:*") } else { lexeme }
        })
        .collect();
    format!("({})", lexemes.join(" <-> "))
}

fn any_of(terms: &[Term]) -> String {
    terms.iter().map(phrase).collect::<Vec<_>>().join(" | ")
}

/// Up to `search.limit` matching messages, newest first.
pub(super) async fn search(c: &Client, search: &MessageSearch) -> StoreResult<Vec<Message>> {
    let required = search.required_terms();
    let all_of = required.iter().map(phrase).collect::<Vec<_>>().join(" & ");
    let (query, condition) = match (required.is_empty(), search.excluded.is_empty()) {
        (true, true) => (None, None),
        (true, false) => (Some(any_of(&search.excluded)), Some("NOT (m.search @@ $1::text::tsquery)")),
        (false, true) => (Some(all_of), Some("m.search @@ $1::text::tsquery")),
        (false, false) => (
            Some(format!("{all_of} & !({})", any_of(&search.excluded))),
            Some("m.search @@ $1::text::tsquery"),
        ),
    };
    let first = if query.is_some() { 2 } else { 1 };
    let (mut conditions, values) = row_conditions(search, first, |n| format!("${n}"));
    conditions.extend(condition.map(str::to_owned));
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id \
         WHERE {} ORDER BY m.id DESC LIMIT {}",
        conditions.join(" AND "),
        search.limit
    );
    let mut parameters: Vec<&(dyn ToSql + Sync)> = query.iter().map(|q| q as &(dyn ToSql + Sync)).collect();
    parameters.extend(values.iter().map(|value| value as &(dyn ToSql + Sync)));
    let found = c.query(&sql, &parameters).await.map_err(backend)?;
    found.iter().map(rows::message).collect()
}

/// Indexes every standing chat message again; returns how many. Runs in
/// the caller's transaction (a migration's, or its own).
pub(super) async fn rebuild(c: &Client) -> Result<u64, tokio_postgres::Error> {
    c.execute("UPDATE messages SET search = NULL WHERE search IS NOT NULL", &[]).await?;
    let mut after = 0_i64;
    let mut indexed = 0;
    loop {
        let page = c
            .query(
                "SELECT id, body FROM messages WHERE id > $1 AND system_kind IS NULL AND deleted = 0 \
                 ORDER BY id LIMIT 1000",
                &[&after],
            )
            .await?;
        let Some(last) = page.last() else { return Ok(indexed) };
        after = last.get(0);
        let ids: Vec<i64> = page.iter().map(|row| row.get(0)).collect();
        let vectors: Vec<String> = page.iter().map(|row| tsvector(row.get(1))).collect();
        c.execute(
            "UPDATE messages m SET search = v.search::tsvector \
             FROM unnest($1::bigint[], $2::text[]) AS v(id, search) WHERE m.id = v.id",
            &[&ids, &vectors],
        )
        .await?;
        indexed += ids.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tsvector_literal_holds_each_term_once_with_its_positions() {
        let literal = tsvector("a b a");
        assert!(literal.contains("'a':1,3"), "{literal}");
        assert!(literal.contains("'b':2"), "{literal}");
    }

    #[test]
    fn quotes_in_a_lexeme_cannot_end_the_literal() {
        assert_eq!(quoted("it's\\"), "'it''s\\\\'");
    }

    #[test]
    fn phrases_and_prefixes_compile_to_tsquery_operators() {
        let term = Term { tokens: vec!["a".into(), "b".into()], prefix: true };
        assert_eq!(phrase(&term), "('a' <-> 'b':*)");
    }
}
