//! The external services some tests need: PostgreSQL and Redis, started by
//! `scripts/test-services` and named by `NATTER_TEST_POSTGRES_URL` and
//! `NATTER_TEST_REDIS_URL`.
//!
//! A test that needs one and finds its variable unset fails with a message
//! saying how to start them. Outside CI, `NATTER_TEST_SKIP_SERVICES=1` turns
//! that into a skip that says so on stderr; in CI (`CI=true`) nothing skips.

use std::sync::atomic::{AtomicU32, Ordering};

/// The base URL from `variable`, or `None` when the caller should skip.
fn service_url(variable: &str) -> Option<String> {
    if let Ok(url) = std::env::var(variable)
        && !url.is_empty()
    {
        return Some(url);
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let skip = std::env::var("NATTER_TEST_SKIP_SERVICES").is_ok_and(|v| v == "1");
    if skip && !in_ci {
        eprintln!("SKIPPED: {variable} is unset and NATTER_TEST_SKIP_SERVICES=1");
        return None;
    }
    panic!(
        "{variable} is unset: start the test services with \
         `eval \"$(scripts/test-services start | sed 's/^/export /')\"` \
         (or set NATTER_TEST_SKIP_SERVICES=1 outside CI to skip these tests)"
    );
}

/// A fresh, empty PostgreSQL database for one test; `None` to skip.
pub async fn fresh_postgres_database() -> Option<String> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let base = service_url("NATTER_TEST_POSTGRES_URL")?;
    let (client, connection) =
        tokio_postgres::connect(&base, tokio_postgres::NoTls).await.expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let name = format!("natter_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create a test database");
    let (prefix, _) = base.rsplit_once('/').expect("the URL names a database");
    Some(format!("{prefix}/{name}"))
}

/// The Redis URL; `None` to skip.
pub fn redis_url() -> Option<String> {
    service_url("NATTER_TEST_REDIS_URL")
}
