//! The search conformance suite: the golden corpus
//! (`fixtures/search_corpus.json`) and what search must never show
//! (other people's private channels, channels left, deleted messages, old
//! text of edited ones), on every backend with the same expectations.

use std::sync::Arc;

use natter::model::{ChannelKind, MessageBody, Seq, UserId};
use natter::search::query::parse;
use natter::store::{MessageEdit, MessageRemoval, MessageSearch, Store};
use serde::Deserialize;

use super::changes::edit;
use super::{GENERAL, channel_name, message, name};

#[derive(Deserialize)]
struct Corpus {
    messages: Vec<CorpusMessage>,
    queries: Vec<CorpusQuery>,
}

#[derive(Deserialize)]
struct CorpusMessage {
    key: String,
    body: String,
}

#[derive(Deserialize)]
struct CorpusQuery {
    query: String,
    hits: Vec<String>,
}

/// The store-level search for `text` by `searcher` (terms, exclusions
/// and `has:link`; names resolved elsewhere).
fn search_for(searcher: UserId, text: &str) -> MessageSearch {
    let query = parse(text).unwrap_or_else(|error| panic!("{text:?} parses: {error}"));
    MessageSearch {
        searcher,
        terms: query.terms,
        excluded: query.excluded,
        has_link: query.has_link,
        limit: 100,
        ..MessageSearch::default()
    }
}

/// The client ids of what `searcher` finds for `text`, newest first.
async fn found(store: &Arc<dyn Store>, searcher: UserId, text: &str) -> Vec<String> {
    let hits = store.search(search_for(searcher, text)).await.unwrap();
    hits.into_iter().map(|message| message.client_id).collect()
}

async fn golden_corpus(store: Arc<dyn Store>) {
    let corpus: Corpus = serde_json::from_str(include_str!("../fixtures/search_corpus.json")).unwrap();
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    for entry in &corpus.messages {
        store.append_message(message(GENERAL, alice.id, &entry.key, &entry.body)).await.unwrap();
    }
    let mut wrong = Vec::new();
    for query in &corpus.queries {
        let got = found(&store, alice.id, &query.query).await;
        if got != query.hits {
            wrong.push(format!("{:?}: expected {:?}, found {got:?}", query.query, query.hits));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} queries differ:\n{}",
        wrong.len(),
        corpus.queries.len(),
        wrong.join("\n")
    );
    // Indexing again from the messages finds the same.
    assert_eq!(store.rebuild_search_index().await.unwrap(), corpus.messages.len() as u64);
    for query in &corpus.queries {
        assert_eq!(
            found(&store, alice.id, &query.query).await,
            query.hits,
            "after a rebuild: {:?}",
            query.query
        );
    }
}

async fn only_what_the_searcher_may_read(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    let private =
        store.create_channel(&channel_name("plans"), ChannelKind::Private, alice.id, 10).await.unwrap();
    store.append_message(message(private.id, alice.id, "secret", "the zebra plan")).await.unwrap();
    store.append_message(message(GENERAL, alice.id, "open", "a zebra in general")).await.unwrap();
    assert_eq!(found(&store, alice.id, "zebra").await, ["open", "secret"]);
    assert_eq!(found(&store, bob.id, "zebra").await, ["open"], "not in the private channel");
    let mut in_private = search_for(bob.id, "zebra");
    in_private.channel = Some(private.id);
    assert!(store.search(in_private).await.unwrap().is_empty());

    // Bob joins, finds it; leaves, and its hits go with him.
    store.add_member(private.id, bob.id, Some(alice.id)).await.unwrap();
    assert_eq!(found(&store, bob.id, "zebra").await, ["open", "secret"]);
    store.remove_member(private.id, bob.id).await.unwrap();
    assert_eq!(found(&store, bob.id, "zebra").await, ["open"]);

    // An edited message is found by its new text only; a deleted one never.
    let edit = MessageEdit {
        channel: GENERAL,
        seq: Seq(1),
        editor: alice.id,
        body: MessageBody::parse("a giraffe in general".into()).unwrap(),
        if_rev: None,
    };
    let general_seq = store.history(GENERAL, None, 10).await.unwrap().last().unwrap().seq;
    store.edit_message(MessageEdit { seq: general_seq, ..edit }).await.unwrap();
    assert_eq!(found(&store, alice.id, "zebra").await, ["secret"]);
    assert_eq!(found(&store, alice.id, "giraffe").await, ["open"]);
    store.delete_message(MessageRemoval { channel: private.id, seq: Seq(1), by: alice.id }).await.unwrap();
    assert!(found(&store, alice.id, "zebra").await.is_empty());
    assert!(found(&store, alice.id, "plan").await.is_empty());
    assert_eq!(store.rebuild_search_index().await.unwrap(), 1, "only the edited message stands");
    assert_eq!(found(&store, alice.id, "giraffe").await, ["open"]);
}

/// Messages changed right after they are sent, before any search (on
/// SQLite, before the batch that indexes new messages, which a search
/// runs first), and many sent at once: every search sees them as they
/// stand, and the index holds exactly the standing ones.
async fn changes_before_indexing(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let edited = store.append_message(message(GENERAL, alice.id, "e", "an okapi appears")).await.unwrap();
    let deleted = store.append_message(message(GENERAL, alice.id, "d", "a narwhal appears")).await.unwrap();
    store.edit_message(edit(GENERAL, edited.message.seq.0, alice.id, "a tapir appears", None)).await.unwrap();
    store
        .delete_message(MessageRemoval { channel: GENERAL, seq: deleted.message.seq, by: alice.id })
        .await
        .unwrap();
    let queued: Vec<_> = (0..300)
        .map(|n| store.append_message(message(GENERAL, alice.id, &format!("m-{n}"), &format!("quokka {n}"))))
        .collect();
    for append in queued {
        append.await.unwrap();
    }
    assert!(found(&store, alice.id, "okapi").await.is_empty(), "the old text of an edit");
    assert_eq!(found(&store, alice.id, "tapir").await, ["e"]);
    assert!(found(&store, alice.id, "narwhal").await.is_empty(), "a deleted message");
    let mut search = search_for(alice.id, "quokka");
    search.limit = 500;
    assert_eq!(
        store.search(search.clone()).await.unwrap().len(),
        300,
        "every message sent before the search"
    );

    // Now indexed: changes below the mark change the index in their own job.
    store
        .edit_message(edit(GENERAL, edited.message.seq.0, alice.id, "a wombat appears", None))
        .await
        .unwrap();
    let last = store.history(GENERAL, None, 1).await.unwrap()[0].seq;
    store.delete_message(MessageRemoval { channel: GENERAL, seq: last, by: alice.id }).await.unwrap();
    assert!(found(&store, alice.id, "tapir").await.is_empty());
    assert_eq!(found(&store, alice.id, "wombat").await, ["e"]);
    assert_eq!(store.search(search.clone()).await.unwrap().len(), 299);
    // Made again from the messages alone, the index answers the same.
    store.rebuild_search_index().await.unwrap();
    assert_eq!(store.search(search).await.unwrap().len(), 299);
    assert_eq!(found(&store, alice.id, "wombat").await, ["e"]);
    assert!(found(&store, alice.id, "tapir").await.is_empty());
}

/// Pages are newest first and go on from the last hit.
async fn pages_and_filters(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    for n in 0..5 {
        let sender = if n % 2 == 0 { alice.id } else { bob.id };
        store
            .append_message(message(GENERAL, sender, &format!("m{n}"), &format!("status {n}")))
            .await
            .unwrap();
    }
    let mut first = search_for(alice.id, "status");
    first.limit = 2;
    let page = store.search(first.clone()).await.unwrap();
    assert_eq!(page.iter().map(|m| m.client_id.as_str()).collect::<Vec<_>>(), ["m4", "m3"]);
    let next = store.search(MessageSearch { before: Some(page[1].id), ..first.clone() }).await.unwrap();
    assert_eq!(next.iter().map(|m| m.client_id.as_str()).collect::<Vec<_>>(), ["m2", "m1"]);
    let from_bob =
        store.search(MessageSearch { from: Some(bob.id), limit: 10, ..first.clone() }).await.unwrap();
    assert_eq!(from_bob.iter().map(|m| m.client_id.as_str()).collect::<Vec<_>>(), ["m3", "m1"]);
    // Filters alone, and exclusions with a filter.
    let filters_only =
        MessageSearch { searcher: alice.id, from: Some(bob.id), limit: 10, ..MessageSearch::default() };
    assert_eq!(store.search(filters_only.clone()).await.unwrap().len(), 2);
    let mut excluding = filters_only;
    excluding.excluded = search_for(alice.id, "3").terms;
    let left: Vec<String> = store.search(excluding).await.unwrap().into_iter().map(|m| m.client_id).collect();
    assert_eq!(left, ["m1"]);
    // A time window.
    let all = store.search(MessageSearch { limit: 10, ..first.clone() }).await.unwrap();
    let (newest, oldest) = (all[0].ts, all[4].ts);
    let window = MessageSearch { since: Some(oldest), until: Some(newest + 1), limit: 10, ..first.clone() };
    assert_eq!(store.search(window).await.unwrap().len(), 5);
    let empty =
        MessageSearch { since: Some(newest + 1), until: Some(newest + 1), limit: 10, ..first.clone() };
    assert!(store.search(empty).await.unwrap().is_empty(), "a window that holds nothing");

    // Mentions: by name, and @channel, as whom they mention sees them.
    store.append_message(message(GENERAL, alice.id, "to-bob", "status for @bob")).await.unwrap();
    store.append_message(message(GENERAL, alice.id, "to-all", "status for @channel")).await.unwrap();
    let mentioning =
        |searcher| MessageSearch { searcher, mentioning_searcher: true, limit: 10, ..first.clone() };
    let ids = |found: Vec<natter::model::Message>| found.into_iter().map(|m| m.client_id).collect::<Vec<_>>();
    assert_eq!(ids(store.search(mentioning(bob.id)).await.unwrap()), ["to-all", "to-bob"]);
    assert!(
        ids(store.search(mentioning(alice.id)).await.unwrap()).is_empty(),
        "her own mentions are not hers"
    );
}

/// Text of CJK characters, kana, hangul and the separators between them
/// (after an `x`, as a body may not be blank).
fn unspaced_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let alphabet = prop::sample::select(vec![
        '上', '海', '东', '我', '家', 'カ', 'ー', 'か', '회', '의', '，', '。', ' ', 'ｶ',
    ]);
    prop::collection::vec(alphabet, 1..14).prop_map(|chars| std::iter::once('x').chain(chars).collect())
}

/// A query of those characters, with no separator in it.
fn unspaced_query() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let letters = prop::sample::select(vec!['上', '海', '东', '我', '家', 'カ', 'ー', 'か', '회', '의', 'ｶ']);
    prop::collection::vec(letters, 1..4).prop_map(|chars| chars.into_iter().collect())
}

/// For any query in scripts written without spaces, the store finds
/// exactly the messages whose normalised text contains the query's: every
/// hit contains it (precision) and every message that contains it is a hit
/// (recall). Each case writes its messages to a channel of its own.
fn unspaced_queries_find_exactly_what_contains_them(
    runtime: &tokio::runtime::Runtime,
    store: Arc<dyn Store>,
    cases: u32,
) {
    use natter::search::normalize;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let alice = runtime.block_on(store.create_user(&name("alice"), "h")).unwrap();
    let cases_run = std::cell::Cell::new(0);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let strategy = (prop::collection::vec(unspaced_text(), 1..12), unspaced_query());
    let result = runner.run(&strategy, |(bodies, query)| {
        let case = cases_run.get() + 1;
        cases_run.set(case);
        let found = runtime.block_on(async {
            let channel = store
                .create_channel(
                    &channel_name(&format!("case-{case}")),
                    ChannelKind::Public,
                    alice.id,
                    u32::MAX,
                )
                .await
                .unwrap();
            for (n, body) in bodies.iter().enumerate() {
                store
                    .append_message(message(channel.id, alice.id, &format!("c{case}-{n}"), body))
                    .await
                    .unwrap();
            }
            let search = MessageSearch { channel: Some(channel.id), ..search_for(alice.id, &query) };
            store.search(search).await.unwrap()
        });
        let mut found: Vec<String> = found.into_iter().map(|message| message.body).collect();
        let mut expected: Vec<String> =
            bodies.iter().filter(|body| normalize(body).contains(&normalize(&query))).cloned().collect();
        found.sort();
        expected.sort();
        prop_assert_eq!(found, expected, "query {:?}", query);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

mod sqlite {
    #[test]
    fn search_unspaced_queries_find_exactly_what_contains_them() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let store = runtime.block_on(memory());
        super::unspaced_queries_find_exactly_what_contains_them(&runtime, store, 64);
    }

    async fn memory() -> std::sync::Arc<dyn natter::store::Store> {
        natter::store::open("sqlite::memory:", std::sync::Arc::new(natter::metrics::Metrics::default()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn search_golden_corpus() {
        super::golden_corpus(memory().await).await;
    }

    #[tokio::test]
    async fn search_only_what_the_searcher_may_read() {
        super::only_what_the_searcher_may_read(memory().await).await;
    }

    #[tokio::test]
    async fn search_pages_and_filters() {
        super::pages_and_filters(memory().await).await;
    }

    #[tokio::test]
    async fn search_changes_before_indexing() {
        super::changes_before_indexing(memory().await).await;
    }

    /// A database the release before search made (schema version 2) is
    /// indexed by the migration: its messages are found at once.
    #[tokio::test]
    async fn search_finds_what_a_previous_release_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        {
            let old = rusqlite::Connection::open(&path).unwrap();
            old.execute_batch(include_str!("../fixtures/sqlite_v2.sql")).unwrap();
            old.execute_batch(
                "PRAGMA user_version = 2;
                 INSERT INTO users (id, name, name_key, password_hash, created_at) VALUES (1, 'alice', 'alice', 'h', 0);
                 INSERT INTO members (channel_id, user_id, joined_at) VALUES (1, 1, 0);
                 INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts) VALUES (1, 1, 1, 'a-1', '会议 at noon', 0);
                 INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts) VALUES (1, 2, 1, 'a-2', 'Café tomorrow', 0);
                 UPDATE channels SET last_seq = 2 WHERE id = 1;",
            )
            .unwrap();
        }
        let url = format!("sqlite://{}", path.display());
        let store = natter::store::open(&url, std::sync::Arc::new(natter::metrics::Metrics::default()))
            .await
            .unwrap();
        let alice = natter::model::UserId(1);
        assert_eq!(super::found(&store, alice, "会议").await, ["a-1"]);
        assert_eq!(super::found(&store, alice, "cafe").await, ["a-2"]);
        store.append_message(super::message(super::GENERAL, alice, "a-3", "cafe again")).await.unwrap();
        assert_eq!(super::found(&store, alice, "cafe").await, ["a-3", "a-2"]);
    }

    /// An index made by another tokenizer (another Unicode version, say)
    /// is made again when the store opens: an index that no longer holds
    /// what this build would make is never edited in place.
    #[tokio::test]
    async fn search_index_made_by_another_tokenizer_is_made_again_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.db");
        let url = format!("sqlite://{}", path.display());
        let open = || async {
            natter::store::open(&url, std::sync::Arc::new(natter::metrics::Metrics::default())).await.unwrap()
        };
        let store = open().await;
        let alice = store.create_user(&super::name("alice"), "h").await.unwrap();
        store
            .append_message(super::message(super::GENERAL, alice.id, "a-1", "the meeting notes"))
            .await
            .unwrap();
        store.close().await;
        {
            let file = rusqlite::Connection::open(&path).unwrap();
            file.execute("INSERT INTO message_search (message_search) VALUES ('delete-all')", []).unwrap();
            file.execute("UPDATE search_state SET tokenizer = 'an older tokenizer'", []).unwrap();
        }
        // An admin command (beside a server that may still run the older
        // build) leaves the index as it is.
        let admin =
            natter::store::open_for_admin(&url, std::sync::Arc::new(natter::metrics::Metrics::default()))
                .await
                .unwrap();
        admin.close().await;
        {
            let file = rusqlite::Connection::open(&path).unwrap();
            let stored: String =
                file.query_row("SELECT tokenizer FROM search_state", [], |row| row.get(0)).unwrap();
            assert_eq!(stored, "an older tokenizer");
        }
        let store = open().await;
        assert_eq!(super::found(&store, alice.id, "meeting").await, ["a-1"]);
        store.close().await;
        let file = rusqlite::Connection::open(&path).unwrap();
        let stored: String =
            file.query_row("SELECT tokenizer FROM search_state", [], |row| row.get(0)).unwrap();
        assert_eq!(stored, natter::search::tokenizer_fingerprint());
    }

    /// Whether `needle` occurs anywhere in the bytes of `path`.
    fn file_contains(path: &std::path::Path, needle: &str) -> bool {
        let Ok(bytes) = std::fs::read(path) else { return false };
        bytes.windows(needle.len()).any(|window| window == needle.as_bytes())
    }

    /// A deleted message's tokens are gone from the index in the file, not
    /// only marked deleted: the file (main and WAL) holds them after the
    /// message is stored, and not after it is deleted.
    #[tokio::test]
    async fn search_index_forgets_a_deleted_message_in_the_file() {
        use natter::model::Seq;
        use natter::store::MessageRemoval;

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("search.db").display());
        let open = || async {
            natter::store::open(&url, std::sync::Arc::new(natter::metrics::Metrics::default())).await.unwrap()
        };
        let (db, wal) = (dir.path().join("search.db"), dir.path().join("search.db-wal"));
        // A token no other term of the index begins like, so FTS5 stores it
        // whole rather than after a prefix it shares with its neighbour.
        let secret = "qwxzkvtokenmarker";
        let store = open().await;
        let alice = store.create_user(&super::name("alice"), "h").await.unwrap();
        for n in 0..20 {
            store
                .append_message(super::message(
                    super::GENERAL,
                    alice.id,
                    &format!("f-{n}"),
                    &format!("filler {n}"),
                ))
                .await
                .unwrap();
        }
        let seq = store
            .append_message(super::message(super::GENERAL, alice.id, "s", &format!("the {secret} here")))
            .await
            .unwrap()
            .message
            .seq;
        store
            .append_message(super::message(super::GENERAL, alice.id, "after", "filler after"))
            .await
            .unwrap();
        // A search indexes every message sent before it: the token is in
        // the index, not only in the message's row.
        assert_eq!(super::found(&store, alice.id, secret).await, ["s"]);
        store.close().await;
        assert!(file_contains(&db, secret) || file_contains(&wal, secret), "the check sees an indexed token");

        let store = open().await;
        store
            .delete_message(MessageRemoval { channel: super::GENERAL, seq: Seq(seq.0), by: alice.id })
            .await
            .unwrap();
        store.close().await;
        assert!(!file_contains(&db, secret), "the deleted message's token is still in {}", db.display());
        assert!(!file_contains(&wal, secret), "the deleted message's token is still in {}", wal.display());
    }
}

mod postgres {
    use crate::services::fresh_postgres_database;

    async fn store() -> Option<std::sync::Arc<dyn natter::store::Store>> {
        let url = fresh_postgres_database().await?;
        Some(
            natter::store::open(&url, std::sync::Arc::new(natter::metrics::Metrics::default()))
                .await
                .unwrap(),
        )
    }

    /// A column filled by another tokenizer (here: emptied, and recorded as
    /// an older one) is filled again when a server opens the store, and
    /// left alone by an admin command.
    #[tokio::test]
    async fn pg_search_index_made_by_another_tokenizer_is_made_again_at_start() {
        let Some(url) = fresh_postgres_database().await else { return };
        let metrics = || std::sync::Arc::new(natter::metrics::Metrics::default());
        let store = natter::store::open(&url, metrics()).await.unwrap();
        let alice = store.create_user(&super::name("alice"), "h").await.unwrap();
        store
            .append_message(super::message(super::GENERAL, alice.id, "a-1", "the meeting notes"))
            .await
            .unwrap();
        store.close().await;
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(
                "UPDATE messages SET search = NULL; UPDATE search_state SET tokenizer = 'an older tokenizer'",
            )
            .await
            .unwrap();
        let admin = natter::store::open_for_admin(&url, metrics()).await.unwrap();
        admin.close().await;
        let stored = |row: tokio_postgres::Row| row.get::<_, String>(0);
        let state = client.query("SELECT tokenizer FROM search_state", &[]).await.unwrap();
        assert_eq!(state.into_iter().map(stored).collect::<Vec<_>>(), ["an older tokenizer"]);
        let store = natter::store::open(&url, metrics()).await.unwrap();
        assert_eq!(super::found(&store, alice.id, "meeting").await, ["a-1"]);
        let state = client.query("SELECT tokenizer FROM search_state", &[]).await.unwrap();
        assert_eq!(
            state.into_iter().map(stored).collect::<Vec<_>>(),
            [natter::search::tokenizer_fingerprint()]
        );
    }

    #[test]
    fn pg_search_unspaced_queries_find_exactly_what_contains_them() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let Some(store) = runtime.block_on(store()) else { return };
        super::unspaced_queries_find_exactly_what_contains_them(&runtime, store, 32);
    }

    #[tokio::test]
    async fn pg_search_golden_corpus() {
        let Some(store) = store().await else { return };
        super::golden_corpus(store).await;
    }

    #[tokio::test]
    async fn pg_search_only_what_the_searcher_may_read() {
        let Some(store) = store().await else { return };
        super::only_what_the_searcher_may_read(store).await;
    }

    #[tokio::test]
    async fn pg_search_changes_before_indexing() {
        let Some(store) = store().await else { return };
        super::changes_before_indexing(store).await;
    }

    #[tokio::test]
    async fn pg_search_pages_and_filters() {
        let Some(store) = store().await else { return };
        super::pages_and_filters(store).await;
    }
}
