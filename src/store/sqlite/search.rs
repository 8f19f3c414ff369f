//! Search on SQLite: an FTS5 index of every standing chat message's
//! tokens (`crate::search`), contentless (the text is in `messages` only)
//! with deletes that erase (`secure-delete`), written in the same
//! transaction as the message, edit or deletion; and the query compiled
//! to an FTS5 expression. A contentless index is told what to forget: a
//! message leaves it with the terms of the body it was indexed with, which
//! the tokenizer makes again from the stored body (so a release that
//! changes the tokenizer must rebuild the index, in a migration).
//! `contentless_delete` tables would not need them, but their deletions
//! leave the terms in the file as tombstoned entries, even with
//! `secure-delete`. The `ascii` tokenizer only splits the tokens
//! again at the spaces between them: every token is letters, digits and
//! non-ASCII characters, so FTS5 indexes exactly what natter's tokenizer
//! made.

use rusqlite::{Connection, params, params_from_iter};

use super::super::rows::{self, MESSAGE_COLUMNS};
use super::super::search::{MessageSearch, row_conditions};
use super::super::{StoreError, StoreResult};
use super::backend;
use crate::model::{Message, MessageId};
use crate::search::{Term, index_form, index_terms};

/// Creates the index (a migration's step).
pub(super) const CREATE_INDEX: &str = "
    CREATE VIRTUAL TABLE message_search USING fts5(
        terms, content = '', tokenize = 'ascii'
    );
    INSERT INTO message_search (message_search, rank) VALUES ('secure-delete', 1);";

/// Indexes a message's body under its id.
pub(super) fn index(connection: &Connection, id: MessageId, body: &str) -> StoreResult<()> {
    connection
        .prepare_cached("INSERT INTO message_search (rowid, terms) VALUES (?1, ?2)")
        .and_then(|mut s| s.execute(params![id.0, index_terms(body).join(" ")]))
        .map_err(backend)?;
    Ok(())
}

/// Takes a message, indexed with `body`, out of the index.
pub(super) fn unindex(connection: &Connection, id: MessageId, body: &str) -> StoreResult<()> {
    connection
        .prepare_cached("INSERT INTO message_search (message_search, rowid, terms) VALUES ('delete', ?1, ?2)")
        .and_then(|mut s| s.execute(params![id.0, index_terms(body).join(" ")]))
        .map_err(backend)?;
    Ok(())
}

/// Indexes every standing chat message again, from scratch; returns how
/// many. Runs on the writer, in one transaction.
pub(super) fn rebuild(connection: &Connection) -> StoreResult<u64> {
    connection
        .execute("INSERT INTO message_search (message_search) VALUES ('delete-all')", [])
        .map_err(backend)?;
    let mut statement = connection
        .prepare("SELECT id, body FROM messages WHERE system_kind IS NULL AND deleted = 0")
        .map_err(backend)?;
    let mut rows = statement.query([]).map_err(backend)?;
    let mut indexed = 0;
    while let Some(row) = rows.next().map_err(backend)? {
        let (id, body): (i64, String) = (row.get(0).map_err(backend)?, row.get(1).map_err(backend)?);
        index(connection, MessageId(id), &body)?;
        indexed += 1;
    }
    Ok(indexed)
}

/// One term as an FTS5 phrase: its tokens in double quotes (a token never
/// holds a quote), `*` after it for a prefix.
fn phrase(term: &Term) -> String {
    let tokens: Vec<&str> = term.tokens.iter().map(|token| index_form(token)).collect();
    format!("\"{}\"{}", tokens.join(" "), if term.prefix { "*" } else { "" })
}

fn any_of(terms: &[Term]) -> String {
    terms.iter().map(phrase).collect::<Vec<_>>().join(" OR ")
}

/// The FTS5 expression for `search`'s terms: what must match, less what
/// must not; `None` when it has no terms. With exclusions alone it is what
/// must not match.
fn expression(search: &MessageSearch) -> Option<String> {
    let required = search.required_terms();
    let all_of = required.iter().map(phrase).collect::<Vec<_>>().join(" AND ");
    match (required.is_empty(), search.excluded.is_empty()) {
        (true, true) => None,
        (true, false) => Some(any_of(&search.excluded)),
        (false, true) => Some(all_of),
        (false, false) => Some(format!("({all_of}) NOT ({})", any_of(&search.excluded))),
    }
}

/// Up to `search.limit` matching messages, newest first.
pub(super) fn search(connection: &Connection, search: &MessageSearch) -> StoreResult<Vec<Message>> {
    let expression = expression(search);
    let first = if expression.is_some() { 2 } else { 1 };
    let (mut conditions, values) = row_conditions(search, first, |n| format!("?{n}"));
    let excluded_only = search.required_terms().is_empty();
    let sql = if excluded_only {
        // Filters (and perhaps exclusions) alone: the messages drive.
        if expression.is_some() {
            conditions.push(
                "m.id NOT IN (SELECT rowid FROM message_search WHERE message_search MATCH ?1)".to_owned(),
            );
        }
        format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id \
             WHERE {} ORDER BY m.id DESC LIMIT {}",
            conditions.join(" AND "),
            search.limit
        )
    } else {
        // The index drives, newest first, so a page stops early.
        format!(
            "SELECT {MESSAGE_COLUMNS} FROM message_search \
             JOIN messages m ON m.id = message_search.rowid JOIN users u ON u.id = m.sender_id \
             WHERE message_search MATCH ?1 AND {} ORDER BY message_search.rowid DESC LIMIT {}",
            conditions.join(" AND "),
            search.limit
        )
    };
    let mut statement = connection.prepare_cached(&sql).map_err(backend)?;
    let parameters = expression
        .map(rusqlite::types::Value::from)
        .into_iter()
        .chain(values.into_iter().map(rusqlite::types::Value::from));
    statement
        .query_map(params_from_iter(parameters), |row| rows::message(row))
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|error| match error {
            // FTS5 refuses an expression it cannot parse; the parser
            // never makes one, so this is natter's bug, not the user's.
            rusqlite::Error::SqliteFailure(_, Some(message)) if message.contains("fts5") => {
                StoreError::Backend(format!("search expression refused: {message}"))
            }
            other => backend(other),
        })
}
