//! Search on PostgreSQL: `messages.search`, a `tsvector` written from
//! natter's own tokens (`crate::search`) in the statement that stores,
//! edits or deletes the message (no text search parser, configuration,
//! locale or extension is involved), under a GIN index; and the query
//! compiled to a `tsquery` literal from the same tokens, so both stores
//! find the same messages.

use std::collections::HashMap;
use std::fmt::Write;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::super::rows::{self, MESSAGE_COLUMNS};
use super::super::search::{IndexLanguage, IndexMatch, MessageSearch, row_conditions};
use super::super::{StoreError, StoreResult};
use super::backend;
use super::connection::is_statement_timeout;
use super::schema::MIGRATION_LOCK;
use crate::model::Message;
use crate::search::{Term, index_form, index_terms, tokenizer_fingerprint};

/// Most positions PostgreSQL keeps per lexeme; later ones are dropped, so
/// a phrase among a token's 257th and later repeats in one message is not
/// found here, though SQLite finds it (documented in docs/protocol.md).
/// Positions themselves stay under PostgreSQL's highest, 16,383: a body
/// has at most `MAX_INDEXED_TERMS` terms.
const MAX_POSITIONS: usize = 256;

/// A lexeme quoted for a `tsvector` or `tsquery` literal.
fn quoted(lexeme: &str) -> String {
    format!("'{}'", lexeme.replace('\\', "\\\\").replace('\'', "''"))
}

/// The `tsvector` literal of a body: each term with its positions (from 1).
pub(super) fn tsvector(body: &str) -> String {
    let mut positions: HashMap<String, Vec<usize>> = HashMap::new();
    let mut order = Vec::new();
    for (index, term) in index_terms(body).into_iter().enumerate() {
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

/// PostgreSQL's `tsquery`: a term is its lexemes next to each other
/// (`<->`), the last by prefix (`:*`) for a prefix term.
struct TsQuery;

impl IndexLanguage for TsQuery {
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
    const AND: &'static str = " & ";
    const OR: &'static str = " | ";
    fn and_not(all: &str, any: &str) -> String {
        format!("{all} & !({any})")
    }
}

/// Up to `search.limit` matching messages, newest first. The connection's
/// statements are bounded by `SEARCH_TIME`.
pub(super) async fn search(c: &Client, search: &MessageSearch) -> StoreResult<Vec<Message>> {
    if search.is_empty_window() {
        return Ok(Vec::new());
    }
    let (query, condition) = match search.index_match::<TsQuery>() {
        IndexMatch::Nothing => (None, None),
        IndexMatch::Matching(query) => (Some(query), Some("m.search @@ $1::text::tsquery")),
        IndexMatch::NotMatching(query) => (Some(query), Some("NOT (m.search @@ $1::text::tsquery)")),
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
    let found = c.query(&sql, &parameters).await.map_err(|error| {
        if is_statement_timeout(&error) { StoreError::SearchTooLong } else { backend(error) }
    })?;
    found.iter().map(rows::message).collect()
}

/// Writes every message's search terms again, a page of messages at a
/// time, each page its own statement (standing chat messages by their
/// body; others none); returns how many were indexed. A page leaves alone
/// a message whose body changed since it was read (an edit or a deletion,
/// which wrote its own terms); a page that meets a deadlock with a
/// writer is tried again.
pub(super) async fn fill(c: &Client) -> Result<u64, tokio_postgres::Error> {
    let mut after = 0_i64;
    let mut indexed = 0;
    loop {
        let page = c
            .query(
                "SELECT id, body, system_kind IS NULL AND deleted = 0 FROM messages WHERE id > $1 \
                 ORDER BY id LIMIT 1000",
                &[&after],
            )
            .await?;
        let Some(last) = page.last() else { return Ok(indexed) };
        after = last.get(0);
        let ids: Vec<i64> = page.iter().map(|row| row.get(0)).collect();
        let bodies: Vec<&str> = page.iter().map(|row| row.get(1)).collect();
        let vectors: Vec<Option<String>> =
            page.iter().map(|row| row.get::<_, bool>(2).then(|| tsvector(row.get(1)))).collect();
        let mut tries = 0;
        let written = loop {
            let update = c
                .query(
                    "UPDATE messages m SET search = v.search::tsvector \
                     FROM unnest($1::bigint[], $2::text[], $3::text[]) AS v(id, body, search) \
                     WHERE m.id = v.id AND m.body = v.body RETURNING m.search IS NOT NULL",
                    &[&ids, &bodies, &vectors],
                )
                .await;
            match update {
                Err(error) if tries < 3 && error.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) => {
                    tries += 1
                }
                other => break other?,
            }
        };
        indexed += written.iter().filter(|row| row.get::<_, bool>(0)).count() as u64;
    }
}

/// Fills the search column again when it was filled by another tokenizer
/// than this build's, or never (a database from before search), then
/// records this build's. Beside the writer, on `c` (a connection of its
/// own without a statement bound), a page at a time: the nodes' writes go
/// on meanwhile; two nodes starting together both fill, to the same result.
pub(super) async fn index_if_stale(c: &Client) -> Result<(), tokio_postgres::Error> {
    let stored = in_state_transaction(c, "SELECT tokenizer FROM search_state LIMIT 1", &[]).await?;
    if stored.first().is_some_and(|row| row.get::<_, String>(0) == tokenizer_fingerprint()) {
        return Ok(());
    }
    let indexed = fill(c).await?;
    record_tokenizer(c).await?;
    tracing::info!(indexed, "messages indexed for search by this build's tokenizer");
    Ok(())
}

/// Makes `$1` (a tokenizer's fingerprint) the one the column was filled by.
pub(super) const RECORD_TOKENIZER: &str =
    "WITH cleared AS (DELETE FROM search_state) INSERT INTO search_state (tokenizer) VALUES ($1)";

/// Records this build's tokenizer as the one the column was filled by.
pub(super) async fn record_tokenizer(c: &Client) -> Result<(), tokio_postgres::Error> {
    in_state_transaction(c, RECORD_TOKENIZER, &[&tokenizer_fingerprint()]).await?;
    Ok(())
}

/// Runs `sql` on `search_state` (made if a database lacks it: one made
/// while search was being written) in a transaction under the migration
/// lock, so nodes starting together neither race to make the table nor
/// leave two rows.
async fn in_state_transaction(
    c: &Client,
    sql: &str,
    parameters: &[&(dyn ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    c.batch_execute("BEGIN").await?;
    let done = async {
        c.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        c.batch_execute("CREATE TABLE IF NOT EXISTS search_state (tokenizer TEXT NOT NULL)").await?;
        c.query(sql, parameters).await
    }
    .await;
    match done {
        Ok(rows) => {
            c.batch_execute("COMMIT").await?;
            Ok(rows)
        }
        Err(error) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(error)
        }
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
        assert_eq!(TsQuery::phrase(&term), "('a' <-> 'b':*)");
    }
}
