//! Opening a PostgreSQL connection with the bounds natter relies on: how
//! long connecting may take, how soon a silent or dead link is noticed, and
//! how long the server lets one statement or idle transaction run. Every
//! connection the store opens (the writer's and the reader's) comes from
//! [`connect`] with a configuration made by [`config`]. Also what the
//! connections answer: their errors as the store's, and their rows in the
//! shape the shared decoders read.

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Row};

use super::super::rows::Columns;
use super::super::{StoreError, StoreResult};

/// How long opening a connection may take before the job fails. With
/// PostgreSQL unreachable, a job can wait for the batch in flight to fail
/// (`TCP_USER_TIMEOUT`) and then for its own batch's connection attempt: 4 s
/// plus this stays well within the 10 s in which `unavailable` is promised.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection whose sent data goes unacknowledged this long is closed by
/// the kernel (`TCP_USER_TIMEOUT`), so a query or `COMMIT` in flight when
/// the network goes silent fails in seconds instead of after minutes of
/// retransmission. Such a commit may or may not have happened: the job is
/// answered `unavailable`, and the client's retry with the same `client_id`
/// stores it at most once.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(4);

/// TCP keepalive on every connection: an idle connection, or one waiting
/// for an answer whose request was acknowledged (so `TCP_USER_TIMEOUT` does
/// not apply), is found dead after about idle + interval x retries = 4 s.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(2);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
const KEEPALIVE_RETRIES: u32 = 2;

/// Server-side bounds, set per session. A node cut off in the middle of a
/// batch leaves its transaction holding channel rows locked; PostgreSQL
/// ends such an idle transaction after this, so other nodes' writers wait
/// for those rows at most this long.
const IDLE_IN_TRANSACTION_TIMEOUT_MS: u64 = 4_000;

/// Longest one statement (a lock wait included) may run on the server; longer
/// than the idle-in-transaction bound, so a writer waiting for the rows of a
/// vanished node gets them before it gives up.
const STATEMENT_TIMEOUT_MS: u64 = 8_000;

/// The configuration for `url`, with natter's timeouts and bounds added.
pub(super) fn config(url: &str) -> StoreResult<tokio_postgres::Config> {
    let mut config = tokio_postgres::Config::from_str(url)
        // The parser's message may quote the URL, password and all.
        .map_err(|_| StoreError::Backend("cannot parse the PostgreSQL URL".into()))?;
    config.connect_timeout(CONNECT_TIMEOUT);
    config.application_name("natter");
    config
        .tcp_user_timeout(TCP_USER_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES);
    let bounds = format!(
        "-c statement_timeout={STATEMENT_TIMEOUT_MS} \
         -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}"
    );
    // Keep whatever options the URL names; ours come after them.
    let options = match config.get_options() {
        Some(given) if !given.is_empty() => format!("{given} {bounds}"),
        _ => bounds,
    };
    config.options(options);
    Ok(config)
}

/// `config` with every statement bounded by `timeout` instead (zero: no
/// bound), for the search connection and for rebuilding the index.
pub(super) fn with_statement_timeout(
    config: &tokio_postgres::Config,
    timeout: Duration,
) -> tokio_postgres::Config {
    let mut config = config.clone();
    // The last `-c` of a name is the one in force.
    let bound = format!("-c statement_timeout={}", timeout.as_millis());
    let options = format!("{} {bound}", config.get_options().unwrap_or_default());
    config.options(options.trim_start());
    config
}

/// Whether PostgreSQL cancelled a statement for running past its
/// `statement_timeout`.
pub(super) fn is_statement_timeout(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::QUERY_CANCELED)
}

/// Opens a connection and drives it on its own task.
pub(super) async fn connect(config: &tokio_postgres::Config) -> StoreResult<Client> {
    // `connect_timeout` bounds the TCP connection only; a server (or link)
    // that accepts and then says nothing would hold the startup exchange
    // for ever, so the whole of it gets the same deadline.
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls))
        .await
        .map_err(|_| StoreError::Backend("PostgreSQL did not answer the connection in time".into()))?
        .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

pub(super) fn backend(error: tokio_postgres::Error) -> StoreError {
    if error.is_closed() {
        StoreError::Backend(format!("PostgreSQL connection lost: {error}"))
    } else {
        StoreError::Backend(error.to_string())
    }
}

pub(super) fn is_unique_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// PostgreSQL's rows in the shape the shared decoders read (`store/rows.rs`).
impl Columns for Row {
    type Error = StoreError;

    fn int(&self, index: usize) -> StoreResult<i64> {
        self.try_get(index).map_err(backend)
    }

    fn optional_int(&self, index: usize) -> StoreResult<Option<i64>> {
        self.try_get(index).map_err(backend)
    }

    fn text(&self, index: usize) -> StoreResult<String> {
        self.try_get(index).map_err(backend)
    }

    fn optional_text(&self, index: usize) -> StoreResult<Option<String>> {
        self.try_get(index).map_err(backend)
    }

    fn flag(&self, index: usize) -> StoreResult<bool> {
        self.try_get(index).map_err(backend)
    }

    fn invalid(&self, _index: usize, what: String) -> StoreError {
        StoreError::Backend(what)
    }
}
