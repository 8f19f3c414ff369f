//! Search on SQLite: an FTS5 index of every standing chat message's
//! tokens (`crate::search`), contentless (the text is in `messages` only)
//! with deletes that erase (`secure-delete`); and the query compiled to an
//! FTS5 expression.
//!
//! New messages are indexed in batches, not in their append's transaction
//! ([`index_pending`]: the messages past `search_progress`'s mark, in
//! batches queued every 50 ms while messages arrive (`indexing`), and
//! before every search all of them, so a search finds every message
//! acknowledged before it began). Each commit
//! that indexes writes a new FTS5 segment to the WAL, which cost durable
//! throughput far more than the indexing itself; batching writes one per
//! batch. Edits and deletions of messages at or below the mark change the
//! index in their own transaction (a deleted message's text leaves it at
//! once); above the mark there is nothing to change, as the batch will
//! index the message as it then stands. A contentless index is told what to forget: a
//! message leaves it with the terms of the body it was indexed with, which
//! the tokenizer makes again from the stored body; so the index remembers
//! the tokenizer that made it and is made again at start when this
//! build's differs ([`index_if_stale`]).
//! `contentless_delete` tables would not need them, but their deletions
//! leave the terms in the file as tombstoned entries, even with
//! `secure-delete`. The `ascii` tokenizer only splits the tokens
//! again at the spaces between them: every token is letters, digits and
//! non-ASCII characters, so FTS5 indexes exactly what natter's tokenizer
//! made.

use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::super::rows::{self, MESSAGE_COLUMNS};
use super::super::search::{IndexLanguage, IndexMatch, MessageSearch, SEARCH_TIME, row_conditions};
use super::super::{StoreError, StoreResult};
use super::backend;
use crate::model::{Message, MessageId};
use crate::search::{Term, index_form, index_terms, tokenizer_fingerprint};

/// Creates the index (a migration): empty until [`index_if_stale`] fills
/// it when a server opens the store. `search_state` says which tokenizer
/// made it.
pub(super) const CREATE_INDEX: &str = "
    CREATE VIRTUAL TABLE message_search USING fts5(
        terms, content = '', columnsize = 0, tokenize = 'ascii'
    );
    INSERT INTO message_search (message_search, rank) VALUES ('secure-delete', 1);
    CREATE TABLE search_state (tokenizer TEXT NOT NULL);";

/// Creates the mark below which every message is indexed (a migration),
/// unknown (NULL) until a server's start makes the index again
/// ([`index_if_stale`]): an earlier build may still be writing to the file
/// (an admin command of this build migrated it beside an older server),
/// indexing in each transaction without moving any mark.
pub(super) const CREATE_PROGRESS: &str = "
    CREATE TABLE search_progress (indexed_through INTEGER);
    INSERT INTO search_progress (indexed_through) VALUES (NULL);";

/// Messages indexed per statement page by [`index_pending`].
const INDEX_PAGE: u32 = 1_000;

/// The id through which every message has been indexed (or passed over,
/// as a system line or a deleted message); `None` until a server's start
/// has made the index. Message ids only grow (rows of `messages` are never
/// deleted: a deleted message stays as a tombstone), so a message above
/// it was never indexed.
fn indexed_through(connection: &Connection) -> StoreResult<Option<i64>> {
    connection
        .prepare_cached("SELECT indexed_through FROM search_progress")
        .and_then(|mut s| s.query_row([], |row| row.get(0)))
        .map_err(backend)
}

/// Whether the message is in the index as its body stands (or, deleted or
/// a system line, was passed over): whether an edit or deletion must
/// change the index.
pub(super) fn is_indexed(connection: &Connection, id: MessageId) -> StoreResult<bool> {
    Ok(indexed_through(connection)?.is_some_and(|mark| id.0 <= mark))
}

/// Whether messages past the mark await indexing (or the mark is unknown).
pub(super) fn is_behind(connection: &Connection) -> StoreResult<bool> {
    let last: i64 = connection
        .query_row("SELECT coalesce(max(id), 0) FROM messages", [], |row| row.get(0))
        .map_err(backend)?;
    Ok(indexed_through(connection)?.is_none_or(|mark| mark < last))
}

/// Indexes the messages past the mark as they stand now (all of them, or
/// the first `limit` rows) and moves the mark past them; how many rows it
/// went past (system lines and deleted messages included). Runs on the
/// writer. With the mark unknown it does nothing: the server's start makes
/// the whole index ([`index_if_stale`]).
pub(super) fn index_pending(connection: &Connection, limit: Option<u32>) -> StoreResult<u64> {
    let mut seen = 0;
    let mut left = limit.unwrap_or(u32::MAX);
    while left > 0 {
        let page_rows = left.min(INDEX_PAGE);
        left -= page_rows;
        let Some(from) = indexed_through(connection)? else { return Ok(seen) };
        let page: Vec<(i64, Option<String>)> = connection
            .prepare_cached(
                "SELECT id, CASE WHEN system_kind IS NULL AND deleted = 0 THEN body END FROM messages \
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .and_then(|mut s| {
                s.query_map(params![from, page_rows], |row| Ok((row.get(0)?, row.get(1)?)))?.collect()
            })
            .map_err(backend)?;
        let Some(&(last, _)) = page.last() else { return Ok(seen) };
        for (id, body) in &page {
            if let Some(body) = body {
                index(connection, MessageId(*id), body)?;
            }
        }
        set_indexed_through(connection, last)?;
        seen += page.len() as u64;
        if page.len() < page_rows as usize {
            return Ok(seen);
        }
    }
    Ok(seen)
}

fn set_indexed_through(connection: &Connection, id: i64) -> StoreResult<()> {
    connection
        .prepare_cached("UPDATE search_progress SET indexed_through = ?1")
        .and_then(|mut s| s.execute([id]))
        .map(drop)
        .map_err(backend)
}

/// Indexes everything again when the index was made by another tokenizer
/// than this build's, or never filled (a database from before search).
/// Runs on the writer, in its job's transaction.
pub(super) fn index_if_stale(connection: &Connection) -> StoreResult<()> {
    // A database made while search was being written has no table yet.
    connection
        .execute_batch("CREATE TABLE IF NOT EXISTS search_state (tokenizer TEXT NOT NULL)")
        .map_err(backend)?;
    let stored: Option<String> = connection
        .query_row("SELECT tokenizer FROM search_state", [], |row| row.get(0))
        .optional()
        .map_err(backend)?;
    // An unknown mark (see `CREATE_PROGRESS`) is made anew with the index.
    if stored.as_deref() == Some(tokenizer_fingerprint().as_str()) && indexed_through(connection)?.is_some() {
        return Ok(());
    }
    let indexed = rebuild(connection)?;
    tracing::info!(indexed, "messages indexed for search by this build's tokenizer");
    Ok(())
}

/// What the index is given for a body: its terms, between spaces.
fn terms_of(body: &str) -> String {
    index_terms(body).join(" ")
}

/// Indexes a message's body under its id.
pub(super) fn index(connection: &Connection, id: MessageId, body: &str) -> StoreResult<()> {
    connection
        .prepare_cached("INSERT INTO message_search (rowid, terms) VALUES (?1, ?2)")
        .and_then(|mut s| s.execute(params![id.0, terms_of(body)]))
        .map_err(backend)?;
    Ok(())
}

/// Takes a message, indexed with `body`, out of the index.
pub(super) fn unindex(connection: &Connection, id: MessageId, body: &str) -> StoreResult<()> {
    connection
        .prepare_cached("INSERT INTO message_search (message_search, rowid, terms) VALUES ('delete', ?1, ?2)")
        .and_then(|mut s| s.execute(params![id.0, terms_of(body)]))
        .map_err(backend)?;
    Ok(())
}

/// Indexes every standing chat message again, from scratch, and records
/// this build's tokenizer as the index's; returns how many. Runs on the
/// writer, in one transaction.
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
    let last: i64 = connection
        .query_row("SELECT coalesce(max(id), 0) FROM messages", [], |row| row.get(0))
        .map_err(backend)?;
    set_indexed_through(connection, last)?;
    connection
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS search_state (tokenizer TEXT NOT NULL); DELETE FROM search_state",
        )
        .and_then(|()| {
            connection.execute("INSERT INTO search_state (tokenizer) VALUES (?1)", [tokenizer_fingerprint()])
        })
        .map_err(backend)?;
    Ok(indexed)
}

/// FTS5's query language: a term is a phrase in double quotes (a token
/// never holds a quote), `*` after it for a prefix.
struct Fts5;

impl IndexLanguage for Fts5 {
    fn phrase(term: &Term) -> String {
        let tokens: Vec<&str> = term.tokens.iter().map(|token| index_form(token)).collect();
        format!("\"{}\"{}", tokens.join(" "), if term.prefix { "*" } else { "" })
    }
    const AND: &'static str = " AND ";
    const OR: &'static str = " OR ";
    fn and_not(all: &str, any: &str) -> String {
        format!("({all}) NOT ({any})")
    }
}

/// How many SQLite steps between looks at the clock.
const STEPS_BETWEEN_CHECKS: i32 = 10_000;

/// Up to `search.limit` matching messages, newest first; stopped past
/// [`SEARCH_TIME`].
pub(super) fn search(connection: &Connection, search: &MessageSearch) -> StoreResult<Vec<Message>> {
    search_within(connection, search, SEARCH_TIME)
}

/// [`search`], stopped past `time`.
fn search_within(
    connection: &Connection,
    search: &MessageSearch,
    time: Duration,
) -> StoreResult<Vec<Message>> {
    if search.is_empty_window() {
        return Ok(Vec::new());
    }
    let index_match = search.index_match::<Fts5>();
    let expression = match &index_match {
        IndexMatch::Nothing => None,
        IndexMatch::Matching(expression) | IndexMatch::NotMatching(expression) => Some(expression.clone()),
    };
    let first = if expression.is_some() { 2 } else { 1 };
    let (mut conditions, values) = row_conditions(search, first, |n| format!("?{n}"));
    let sql = match index_match {
        // The index drives, newest first, so a page stops early.
        IndexMatch::Matching(_) => format!(
            "SELECT {MESSAGE_COLUMNS} FROM message_search \
             JOIN messages m ON m.id = message_search.rowid JOIN users u ON u.id = m.sender_id \
             WHERE message_search MATCH ?1 AND {} ORDER BY message_search.rowid DESC LIMIT {}",
            conditions.join(" AND "),
            search.limit
        ),
        // Filters (and perhaps exclusions) alone: the messages drive.
        IndexMatch::NotMatching(_) | IndexMatch::Nothing => {
            if expression.is_some() {
                conditions.push(
                    "NOT EXISTS (SELECT 1 FROM message_search WHERE message_search MATCH ?1 AND rowid = m.id)"
                        .to_owned(),
                );
            }
            format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id \
                 WHERE {} ORDER BY m.id DESC LIMIT {}",
                conditions.join(" AND "),
                search.limit
            )
        }
    };
    let deadline = Instant::now() + time;
    connection
        .progress_handler(STEPS_BETWEEN_CHECKS, Some(move || Instant::now() > deadline))
        .map_err(backend)?;
    let found = run(connection, &sql, expression, values);
    // Cleared whatever the search did: the connection serves on.
    connection.progress_handler(STEPS_BETWEEN_CHECKS, None::<fn() -> bool>).map_err(backend)?;
    found
}

fn run(
    connection: &Connection,
    sql: &str,
    expression: Option<String>,
    values: Vec<i64>,
) -> StoreResult<Vec<Message>> {
    let mut statement = connection.prepare_cached(sql).map_err(backend)?;
    let parameters = expression
        .map(rusqlite::types::Value::from)
        .into_iter()
        .chain(values.into_iter().map(rusqlite::types::Value::from));
    statement
        .query_map(params_from_iter(parameters), |row| rows::message(row))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|error| match error {
            // The progress handler said stop.
            rusqlite::Error::SqliteFailure(failure, _)
                if failure.code == rusqlite::ErrorCode::OperationInterrupted =>
            {
                StoreError::SearchTooLong
            }
            other => backend(other),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChannelId, UserId};

    /// A search that runs past its time is stopped and says so, and the
    /// connection serves the next one.
    #[test]
    fn a_search_past_its_time_is_stopped() {
        let connection = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&connection).unwrap();
        connection
            .execute_batch(
                "INSERT INTO users (id, name, name_key, created_at) VALUES (1, 'alice', 'alice', 0);
                 INSERT INTO members (channel_id, user_id, joined_at) VALUES (1, 1, 0);",
            )
            .unwrap();
        for n in 1..=2_000 {
            connection
                .execute(
                    "INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts, rev) \
                     VALUES (1, ?1, 1, ?2, 'status report', 0, ?1)",
                    params![n, format!("c{n}")],
                )
                .unwrap();
            index(&connection, MessageId(connection.last_insert_rowid()), "status report").unwrap();
        }
        let query = crate::search::query::parse("status").unwrap();
        // No message sent that late (all were at 0), and no index on the
        // time to say so: the scan would read them all. (A missing sender,
        // tried before, the planner may answer from the sender index.)
        let search = MessageSearch {
            searcher: UserId(1),
            terms: query.terms,
            since: Some(1),
            channel: Some(ChannelId(1)),
            limit: 10,
            ..MessageSearch::default()
        };
        let stopped = search_within(&connection, &search, Duration::ZERO);
        assert!(matches!(stopped, Err(StoreError::SearchTooLong)), "{stopped:?}");
        let answered = search_within(&connection, &MessageSearch { since: None, ..search }, SEARCH_TIME);
        assert_eq!(answered.unwrap().len(), 10);
    }
}
