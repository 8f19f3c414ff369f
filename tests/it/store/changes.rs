//! The conformance suite for messages that change: edits, deletions and the
//! rev stream. Every backend runs these same checks (one line per test at
//! the bottom), as for the rest of `store.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use natter::metrics::Metrics;
use natter::model::{ChannelId, ChannelKind, Deletion, Message, Rev, Seq, SystemKind, UserId, now_millis};
use natter::store::{Changed, MessageEdit, MessageRemoval, NewSystemLine, Store, StoreError};

use super::{GENERAL, channel_name, message, name};

pub(super) fn edit(
    channel: ChannelId,
    seq: i64,
    editor: UserId,
    body: &str,
    if_rev: Option<i64>,
) -> MessageEdit {
    MessageEdit {
        channel,
        seq: Seq(seq),
        editor,
        body: natter::model::MessageBody::parse(body.into()).unwrap(),
        if_rev: if_rev.map(Rev),
    }
}

fn removal(channel: ChannelId, seq: i64, by: UserId) -> MessageRemoval {
    MessageRemoval { channel, seq: Seq(seq), by }
}

fn system_line(channel: ChannelId, actor: UserId, kind: SystemKind, client_id: &str) -> NewSystemLine {
    NewSystemLine { channel, actor, kind, subject: actor, client_id: client_id.into() }
}

/// `(seq, rev)` of each message, in the order given.
fn seqs_and_revs(messages: &[Message]) -> Vec<(i64, i64)> {
    messages.iter().map(|m| (m.seq.0, m.rev.0)).collect()
}

async fn last_rev(store: &Arc<dyn Store>, channel: ChannelId, viewer: UserId) -> Rev {
    store.channel_view(channel, viewer).await.unwrap().last_rev
}

async fn edits(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    let carol = store.create_user(&name("carol"), "h").await.unwrap();
    let first = store.append_message(message(GENERAL, alice.id, "a-1", "first")).await.unwrap();
    assert_eq!((first.message.seq, first.message.rev), (Seq(1), Rev(1)), "a new message takes a rev");
    assert_eq!((first.message.edited_at, first.message.deleted), (None, None));
    store.append_message(message(GENERAL, bob.id, "b-1", "bob's")).await.unwrap();

    // The sender edits: the channel's next rev, and the edit time.
    let before = now_millis();
    let Changed { message: edited, changed } =
        store.edit_message(edit(GENERAL, 1, alice.id, "first, edited", None)).await.unwrap();
    assert!(changed);
    assert_eq!((edited.seq, edited.rev, edited.body.as_str()), (Seq(1), Rev(3), "first, edited"));
    assert_eq!(
        (edited.id, edited.ts, edited.client_id.as_str()),
        (first.message.id, first.message.ts, "a-1")
    );
    assert!(edited.edited_at.is_some_and(|at| at >= before && at <= now_millis()), "{edited:?}");
    assert_eq!(edited.deleted, None);
    let view = store.channel_view(GENERAL, alice.id).await.unwrap();
    assert_eq!((view.last_seq, view.last_rev), (Seq(2), Rev(3)), "an edit takes a rev, not a seq");

    // Refusals, each taking no rev.
    let refused = store.edit_message(edit(GENERAL, 1, bob.id, "not bob's", None)).await;
    assert!(matches!(refused, Err(StoreError::NotSender)), "another member: {refused:?}");
    let refused = store.edit_message(edit(GENERAL, 99, alice.id, "nothing there", None)).await;
    assert!(matches!(refused, Err(StoreError::NoSuchMessage)), "a missing seq: {refused:?}");
    let private =
        store.create_channel(&channel_name("private"), ChannelKind::Private, alice.id, 10).await.unwrap();
    store.append_message(message(private.id, alice.id, "a-p1", "private")).await.unwrap();
    let refused = store.edit_message(edit(private.id, 1, carol.id, "not a member", None)).await;
    assert!(matches!(refused, Err(StoreError::NotMember)), "a non-member: {refused:?}");
    // A system line is nobody's to edit, not even its actor's.
    let joined =
        store.append_system(system_line(private.id, alice.id, SystemKind::Joined, "sys-1")).await.unwrap();
    assert_eq!(joined.seq, Seq(2));
    let refused = store.edit_message(edit(private.id, 2, alice.id, "rewritten history", None)).await;
    assert!(matches!(refused, Err(StoreError::NoSuchMessage)), "a system line: {refused:?}");
    assert_eq!(store.history(private.id, None, 10).await.unwrap()[1], joined, "the system line is untouched");
    // A stale if_rev: refused with the message as it stands.
    match store.edit_message(edit(GENERAL, 1, alice.id, "based on rev 1", Some(1))).await {
        Err(StoreError::Conflict(current)) => {
            assert_eq!((current.seq, current.rev, current.body.as_str()), (Seq(1), Rev(3), "first, edited"))
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(last_rev(&store, GENERAL, alice.id).await, Rev(3), "refusals take no rev");

    // The current if_rev is accepted.
    let again = store.edit_message(edit(GENERAL, 1, alice.id, "first, again", Some(3))).await.unwrap();
    assert!(again.changed);
    assert_eq!(again.message.rev, Rev(4));
    // The same body again changes nothing and takes no rev.
    let same = store.edit_message(edit(GENERAL, 1, alice.id, "first, again", None)).await.unwrap();
    assert!(!same.changed);
    assert_eq!((same.message.rev, same.message.body.as_str()), (Rev(4), "first, again"));
    assert_eq!(last_rev(&store, GENERAL, alice.id).await, Rev(4));
    let next = store.append_message(message(GENERAL, bob.id, "b-2", "after the edits")).await.unwrap();
    assert_eq!((next.message.seq, next.message.rev), (Seq(3), Rev(5)), "the same body left no gap");

    // History, replays and the rev stream show the message as it stands.
    let history = store.history(GENERAL, None, 10).await.unwrap();
    assert_eq!(history[0], again.message, "history reads back what the edit returned");
    assert_eq!(seqs_and_revs(&history), [(1, 4), (2, 2), (3, 5)]);
    assert_eq!(store.messages_after(GENERAL, Seq(0), 10).await.unwrap()[0].body, "first, again");
    let changes = store.changes_after(GENERAL, Rev(2), 10).await.unwrap();
    assert_eq!(seqs_and_revs(&changes), [(1, 4), (3, 5)]);
    assert_eq!(changes[0], again.message);
}

async fn deletes(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    let carol = store.create_user(&name("carol"), "h").await.unwrap();
    for (n, sender) in [alice.id, bob.id, alice.id, bob.id].into_iter().enumerate() {
        store
            .append_message(message(GENERAL, sender, &format!("m-{n}"), &format!("message {n}")))
            .await
            .unwrap();
    }

    // Its sender deletes a message: a tombstone at the next rev.
    let gone = store.delete_message(removal(GENERAL, 1, alice.id)).await.unwrap();
    assert!(gone.changed);
    let tombstone = gone.message;
    assert_eq!((tombstone.seq, tombstone.rev), (Seq(1), Rev(5)));
    assert_eq!((tombstone.body.as_str(), tombstone.deleted), ("", Some(Deletion::BySender)));
    assert_eq!((tombstone.sender, tombstone.client_id.as_str()), (alice.id, "m-0"), "who sent it stays");

    // Another member who is no admin may not.
    let refused = store.delete_message(removal(GENERAL, 2, carol.id)).await;
    assert!(matches!(refused, Err(StoreError::NotSender)), "{refused:?}");
    assert!(store.set_admin(&name("Carol"), true).await.unwrap(), "names are compared by key");
    assert!(!store.set_admin(&name("nobody"), true).await.unwrap(), "no such user");
    // An admin may delete anyone's message...
    let by_admin = store.delete_message(removal(GENERAL, 2, carol.id)).await.unwrap();
    assert!(by_admin.changed);
    assert_eq!((by_admin.message.rev, by_admin.message.deleted), (Rev(6), Some(Deletion::ByAdmin)));
    assert_eq!((by_admin.message.sender, by_admin.message.body.as_str()), (bob.id, ""));
    // ...but not edit it.
    let refused = store.edit_message(edit(GENERAL, 3, carol.id, "admin's words", None)).await;
    assert!(matches!(refused, Err(StoreError::NotSender)), "{refused:?}");

    // Deleting again changes nothing, whoever asks; the first deletion stands.
    for by in [alice.id, carol.id] {
        let twice = store.delete_message(removal(GENERAL, 1, by)).await.unwrap();
        assert!(!twice.changed);
        assert_eq!(twice.message, tombstone);
    }
    // A deleted message cannot be edited back.
    let refused = store.edit_message(edit(GENERAL, 1, alice.id, "back again", None)).await;
    assert!(matches!(refused, Err(StoreError::NoSuchMessage)), "{refused:?}");
    let refused = store.edit_message(edit(GENERAL, 1, alice.id, "back again", Some(5))).await;
    assert!(matches!(refused, Err(StoreError::NoSuchMessage)), "even at its rev: {refused:?}");
    // Missing seqs and system lines are no messages to delete, even for an admin.
    let refused = store.delete_message(removal(GENERAL, 99, carol.id)).await;
    assert!(matches!(refused, Err(StoreError::NoSuchMessage)), "{refused:?}");
    let line = store.append_system(system_line(GENERAL, bob.id, SystemKind::Joined, "sys-1")).await.unwrap();
    assert_eq!((line.seq, line.rev), (Seq(5), Rev(7)), "a system line takes a rev too");
    for by in [bob.id, carol.id] {
        let refused = store.delete_message(removal(GENERAL, 5, by)).await;
        assert!(matches!(refused, Err(StoreError::NoSuchMessage)), "{refused:?}");
    }
    // An admin outside a private channel is no member of it.
    let private =
        store.create_channel(&channel_name("private"), ChannelKind::Private, alice.id, 10).await.unwrap();
    store.append_message(message(private.id, alice.id, "p-1", "private")).await.unwrap();
    let refused = store.delete_message(removal(private.id, 1, carol.id)).await;
    assert!(matches!(refused, Err(StoreError::NotMember)), "{refused:?}");
    // An admin made a member again may delete only their own.
    assert!(store.set_admin(&name("carol"), false).await.unwrap());
    let refused = store.delete_message(removal(GENERAL, 3, carol.id)).await;
    assert!(matches!(refused, Err(StoreError::NotSender)), "{refused:?}");
    assert_eq!(last_rev(&store, GENERAL, alice.id).await, Rev(7), "refusals and repeats take no rev");

    let history = store.history(GENERAL, None, 10).await.unwrap();
    let shown: Vec<(&str, Option<Deletion>)> = history.iter().map(|m| (m.body.as_str(), m.deleted)).collect();
    assert_eq!(
        shown,
        [
            ("", Some(Deletion::BySender)),
            ("", Some(Deletion::ByAdmin)),
            ("message 2", None),
            ("message 3", None),
            ("bob joined", None)
        ]
    );
    assert_eq!(history[0], tombstone, "history reads back the tombstone");
    let changes = store.changes_after(GENERAL, Rev(4), 10).await.unwrap();
    assert_eq!(seqs_and_revs(&changes), [(1, 5), (2, 6), (5, 7)]);
}

/// A change that changed something: notes its rev and returns the message.
fn took(revs: &mut Vec<i64>, changed: Changed) -> Message {
    assert!(changed.changed, "{changed:?}");
    revs.push(changed.message.rev.0);
    changed.message
}

async fn the_rev_stream(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    let room = store.create_channel(&channel_name("room"), ChannelKind::Public, alice.id, 10).await.unwrap();
    assert_eq!(last_rev(&store, room.id, alice.id).await, Rev(0), "a new channel starts at rev 0");
    assert_eq!(store.rev_before(room.id, Seq(0)).await.unwrap(), Rev(0), "empty: the head");
    assert!(store.add_member(room.id, bob.id, None).await.unwrap());
    // Every rev handed out, from appends, edits and deletions that changed something.
    let mut revs = Vec::new();
    for n in 1..=5 {
        let appended =
            store.append_message(message(room.id, alice.id, &format!("r-{n}"), &format!("r{n}"))).await;
        revs.push(appended.unwrap().message.rev.0);
    }
    took(&mut revs, store.edit_message(edit(room.id, 2, alice.id, "r2 once", None)).await.unwrap());
    let second =
        took(&mut revs, store.edit_message(edit(room.id, 2, alice.id, "r2 twice", None)).await.unwrap());
    took(&mut revs, store.delete_message(removal(room.id, 4, alice.id)).await.unwrap());
    let sixth = store.append_message(message(room.id, bob.id, "r-6", "r6")).await.unwrap().message;
    assert_eq!((sixth.seq, sixth.rev), (Seq(6), Rev(9)), "seq and rev part ways after an edit");
    revs.push(sixth.rev.0);
    took(&mut revs, store.edit_message(edit(room.id, 1, alice.id, "r1 edited", None)).await.unwrap());
    let line = store.append_system(system_line(room.id, bob.id, SystemKind::Left, "sys-1")).await.unwrap();
    revs.push(line.rev.0);
    assert_eq!(revs, (1..=11).collect::<Vec<_>>(), "revs are gap-free and in commit order");
    let view = store.channel_view(room.id, alice.id).await.unwrap();
    assert_eq!((view.last_seq, view.last_rev), (Seq(7), Rev(11)));

    // Each message once, at its latest rev, in rev order; the first edit of
    // seq 2 (rev 6), superseded, is not there.
    let all = store.changes_after(room.id, Rev(0), 100).await.unwrap();
    assert_eq!(seqs_and_revs(&all), [(3, 3), (5, 5), (2, 7), (4, 8), (6, 9), (1, 10), (7, 11)]);
    assert_eq!(all[2], second, "as it stands now");
    assert_eq!(all[3].deleted, Some(Deletion::BySender));
    assert_eq!(
        seqs_and_revs(&store.changes_after(room.id, Rev(5), 100).await.unwrap()),
        [(2, 7), (4, 8), (6, 9), (1, 10), (7, 11)]
    );
    assert_eq!(seqs_and_revs(&store.changes_after(room.id, Rev(6), 2).await.unwrap()), [(2, 7), (4, 8)]);
    assert!(store.changes_after(room.id, Rev(11), 100).await.unwrap().is_empty());
    assert!(store.changes_after(GENERAL, Rev(0), 100).await.unwrap().is_empty(), "per channel");

    // Just before the lowest rev of any message past the seq; the head past the end.
    for (seq, expected) in [(0, 2), (1, 2), (2, 2), (3, 4), (4, 4), (5, 8), (6, 10), (7, 11), (100, 11)] {
        assert_eq!(store.rev_before(room.id, Seq(seq)).await.unwrap(), Rev(expected), "rev_before seq {seq}");
    }

    store.append_message(message(GENERAL, bob.id, "g-1", "in general")).await.unwrap();
    let heads: BTreeMap<ChannelId, Rev> = store.channel_heads().await.unwrap().into_iter().collect();
    assert_eq!(heads.get(&room.id), Some(&Rev(11)), "{heads:?}");
    assert_eq!(heads.get(&GENERAL), Some(&Rev(1)), "{heads:?}");
}

/// Appends, edits and deletions queued at once: every one that changed
/// something took its own rev, with no gaps, and the stream agrees.
async fn concurrent_changes_keep_revs_gap_free(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    for n in 0..20 {
        let sender = if n % 2 == 0 { alice.id } else { bob.id };
        store.append_message(message(GENERAL, sender, &format!("s-{n}"), "seed")).await.unwrap();
    }
    let ops = changes_to_queue(&store, alice.id, bob.id, 1..=20, "x", 3);
    let revs = collect_revs(ops).await;
    assert_gap_free(&store, GENERAL, alice.id, revs, 20).await;
}

/// A future of one queued change: the rev it took, if it changed anything.
type RevFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Option<i64>> + Send>>;

/// Queues (without awaiting) `edits` edits of each message at `seqs` by
/// its sender (alice sent the odd seqs, bob the even), each followed by an
/// append, and a deletion of every fourth one after its edits.
fn changes_to_queue(
    store: &Arc<dyn Store>,
    alice: UserId,
    bob: UserId,
    seqs: std::ops::RangeInclusive<i64>,
    prefix: &str,
    edits: usize,
) -> Vec<RevFuture> {
    let mut ops: Vec<RevFuture> = Vec::new();
    for seq in seqs {
        let sender = if seq % 2 == 1 { alice } else { bob };
        for round in 0..edits {
            let queued =
                store.edit_message(edit(GENERAL, seq, sender, &format!("{prefix} {seq} v{round}"), None));
            ops.push(Box::pin(async move {
                let changed = queued.await.expect("an edit of one's own message");
                changed.changed.then_some(changed.message.rev.0)
            }));
            let appended =
                store.append_message(message(GENERAL, sender, &format!("{prefix}-{seq}-{round}"), "new"));
            ops.push(Box::pin(async move {
                let appended = appended.await.expect("an append");
                appended.created.then_some(appended.message.rev.0)
            }));
        }
        if seq % 4 == 0 {
            let queued = store.delete_message(removal(GENERAL, seq, sender));
            ops.push(Box::pin(async move {
                let changed = queued.await.expect("a deletion of one's own message");
                changed.changed.then_some(changed.message.rev.0)
            }));
        }
    }
    ops
}

async fn collect_revs(ops: Vec<RevFuture>) -> Vec<i64> {
    let mut revs = Vec::new();
    for op in futures_util::future::join_all(ops).await {
        revs.extend(op);
    }
    revs
}

/// The revs answered (plus `before`, taken earlier as 1..=before) are
/// exactly 1..=N, N the channel's head, and the rev stream holds each
/// message once, at revs it was answered with.
async fn assert_gap_free(
    store: &Arc<dyn Store>,
    channel: ChannelId,
    viewer: UserId,
    answered: Vec<i64>,
    before: i64,
) {
    let mut revs: Vec<i64> = (1..=before).chain(answered).collect();
    revs.sort_unstable();
    let head = last_rev(store, channel, viewer).await.0;
    assert_eq!(revs, (1..=head).collect::<Vec<_>>(), "every rev answered once, none missing");
    let stream = store.changes_after(channel, Rev(0), 100_000).await.unwrap();
    assert!(stream.windows(2).all(|w| w[0].rev < w[1].rev), "in rev order");
    assert_eq!(stream.last().map(|m| m.rev.0), Some(head));
    let view = store.channel_view(channel, viewer).await.unwrap();
    assert_eq!(stream.len() as i64, view.last_seq.0, "each message once");
}

mod sqlite {
    use super::*;

    async fn memory_store() -> Arc<dyn Store> {
        natter::store::open("sqlite::memory:", Arc::new(Metrics::default())).await.unwrap()
    }

    async fn file_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        let url = format!("sqlite://{}", dir.path().join("changes.db").display());
        natter::store::open(&url, Arc::new(Metrics::default())).await.unwrap()
    }

    #[tokio::test]
    async fn edits_in_memory() {
        super::edits(memory_store().await).await;
    }

    #[tokio::test]
    async fn edits_on_file() {
        let dir = tempfile::tempdir().unwrap();
        super::edits(file_store(&dir).await).await;
    }

    #[tokio::test]
    async fn deletes_in_memory() {
        super::deletes(memory_store().await).await;
    }

    #[tokio::test]
    async fn deletes_on_file() {
        let dir = tempfile::tempdir().unwrap();
        super::deletes(file_store(&dir).await).await;
    }

    #[tokio::test]
    async fn the_rev_stream_on_file() {
        let dir = tempfile::tempdir().unwrap();
        super::the_rev_stream(file_store(&dir).await).await;
    }

    #[tokio::test]
    async fn concurrent_changes_keep_revs_gap_free_on_file() {
        let dir = tempfile::tempdir().unwrap();
        super::concurrent_changes_keep_revs_gap_free(file_store(&dir).await).await;
    }

    /// Whether `needle` occurs anywhere in the bytes of `path` (false when
    /// there is no such file).
    fn file_contains(path: &std::path::Path, needle: &str) -> bool {
        let Ok(bytes) = std::fs::read(path) else { return false };
        bytes.windows(needle.len()).any(|window| window == needle.as_bytes())
    }

    /// A deleted message's text, and the text it had before an edit, are
    /// gone from the database file, not only hidden: nothing of either is
    /// left in the main file or the WAL once the store is closed.
    #[tokio::test]
    async fn a_deleted_message_is_erased_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir).await;
        let alice = store.create_user(&name("alice"), "h").await.unwrap();
        let (original, edited, kept) =
            ("ORIGINAL-7f3a9c51e2-marker", "EDITED-2b8e1d64f0-marker", "KEPT-93c0aa17d5-marker");
        // Messages around it, and an edit that makes it longer: without
        // `secure_delete`, SQLite leaves the old cells' bytes in the page's
        // free space in this layout (checked by hand with secure_delete off).
        for n in 1..=10 {
            store
                .append_message(message(GENERAL, alice.id, &format!("f-{n}"), &format!("filler {n}")))
                .await
                .unwrap();
        }
        let padded = format!("{original} and a few more words");
        let seq =
            store.append_message(message(GENERAL, alice.id, "a-1", &padded)).await.unwrap().message.seq.0;
        for n in 11..=20 {
            store
                .append_message(message(GENERAL, alice.id, &format!("f-{n}"), &format!("filler {n}")))
                .await
                .unwrap();
        }
        store.append_message(message(GENERAL, alice.id, "a-2", kept)).await.unwrap();
        // And one deleted without an edit first, so that its deletion is
        // its first change (when the `first_rev` trigger rewrites the row).
        let unedited = "UNEDITED-5c1e7a09b3-marker";
        let body = format!("{unedited}, deleted as it was sent");
        let unedited_seq =
            store.append_message(message(GENERAL, alice.id, "a-3", &body)).await.unwrap().message.seq.0;
        let longer = format!("{edited}, now longer than it was before");
        assert!(store.edit_message(edit(GENERAL, seq, alice.id, &longer, None)).await.unwrap().changed);
        assert!(store.delete_message(removal(GENERAL, seq, alice.id)).await.unwrap().changed);
        assert!(store.delete_message(removal(GENERAL, unedited_seq, alice.id)).await.unwrap().changed);
        // Closing checkpoints the WAL into the main file.
        store.close().await;
        drop(store);

        let db = dir.path().join("changes.db");
        let wal = dir.path().join("changes.db-wal");
        // The search can find a body: the message that stands is there.
        assert!(file_contains(&db, kept) || file_contains(&wal, kept), "the kept body is in the file");
        let erased = [
            (original, "the text before the edit"),
            (edited, "the deleted text"),
            (unedited, "a deleted unedited text"),
        ];
        for (marker, what) in erased {
            assert!(!file_contains(&db, marker), "{what} ({marker}) is still in {}", db.display());
            assert!(!file_contains(&wal, marker), "{what} ({marker}) is still in {}", wal.display());
        }
        // And the file is whole and holds the tombstone.
        let connection = rusqlite::Connection::open(&db).unwrap();
        let check: String = connection.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
        assert_eq!(check, "ok");
        let (body, deleted): (String, i64) = connection
            .query_row("SELECT body, deleted FROM messages WHERE channel_id = 1 AND seq = ?1", [seq], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        assert_eq!((body.as_str(), deleted), ("", 1));
    }

    /// A database the previous release made (schema version 2, where every
    /// change was a new message) migrates in place: every message's rev is
    /// its seq, each channel's head rev its last seq, and the stream goes on
    /// from there.
    #[tokio::test]
    async fn a_previous_release_database_gets_revs_equal_to_seqs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        {
            let old = rusqlite::Connection::open(&path).unwrap();
            old.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
            old.execute_batch(include_str!("../fixtures/sqlite_v2.sql")).unwrap();
            old.execute_batch(
                "PRAGMA user_version = 2;
                 INSERT INTO users (id, name, name_key, password_hash, created_at) VALUES (1, 'alice', 'alice', 'h', 0);
                 INSERT INTO users (id, name, name_key, password_hash, created_at) VALUES (2, 'bob', 'bob', 'h', 0);
                 INSERT INTO members (channel_id, user_id, joined_at) VALUES (1, 1, 0), (1, 2, 0);
                 INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts) VALUES (1, 1, 1, 'a-1', 'one', 0);
                 INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts) VALUES (1, 2, 2, 'b-1', 'two', 0);
                 INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts) VALUES (1, 3, 1, 'a-2', 'three', 0);
                 UPDATE channels SET last_seq = 3 WHERE id = 1;",
            )
            .unwrap();
        }
        let url = format!("sqlite://{}", path.display());
        let store = natter::store::open(&url, Arc::new(Metrics::default())).await.expect("it migrates");
        let (alice, bob) = (UserId(1), UserId(2));
        let history = store.history(GENERAL, None, 10).await.unwrap();
        assert_eq!(seqs_and_revs(&history), [(1, 1), (2, 2), (3, 3)], "revs equal seqs");
        assert!(history.iter().all(|m| m.edited_at.is_none() && m.deleted.is_none()), "{history:?}");
        let view = store.channel_view(GENERAL, alice).await.unwrap();
        assert_eq!((view.last_seq, view.last_rev), (Seq(3), Rev(3)));
        assert!(store.channel_heads().await.unwrap().contains(&(GENERAL, Rev(3))));
        assert_eq!(seqs_and_revs(&store.changes_after(GENERAL, Rev(1), 10).await.unwrap()), [(2, 2), (3, 3)]);

        let appended = store.append_message(message(GENERAL, bob, "b-2", "four")).await.unwrap();
        assert_eq!((appended.message.seq, appended.message.rev), (Seq(4), Rev(4)));
        let edited = store.edit_message(edit(GENERAL, 2, bob, "two, edited", None)).await.unwrap();
        assert_eq!((edited.changed, edited.message.rev), (true, Rev(5)));
        assert!(store.set_admin(&name("alice"), true).await.unwrap(), "the admin flag is there");
        let deleted = store.delete_message(removal(GENERAL, 4, alice)).await.unwrap();
        assert_eq!((deleted.message.rev, deleted.message.deleted), (Rev(6), Some(Deletion::ByAdmin)));
        store.close().await;
        let version: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert!(version > 2, "migrated past the previous release's version: {version}");
    }
}

mod postgres {
    use super::*;
    use crate::services::fresh_postgres_database;
    use natter::store::postgres::PostgresStore;

    async fn store_at(url: &str) -> Arc<dyn Store> {
        natter::store::open(url, Arc::new(Metrics::default())).await.unwrap()
    }

    #[tokio::test]
    async fn pg_edits() {
        let Some(url) = fresh_postgres_database().await else { return };
        super::edits(store_at(&url).await).await;
    }

    #[tokio::test]
    async fn pg_deletes() {
        let Some(url) = fresh_postgres_database().await else { return };
        super::deletes(store_at(&url).await).await;
    }

    #[tokio::test]
    async fn pg_the_rev_stream() {
        let Some(url) = fresh_postgres_database().await else { return };
        super::the_rev_stream(store_at(&url).await).await;
    }

    #[tokio::test]
    async fn pg_concurrent_changes_keep_revs_gap_free() {
        let Some(url) = fresh_postgres_database().await else { return };
        super::concurrent_changes_keep_revs_gap_free(store_at(&url).await).await;
    }

    /// Two nodes' stores on one database appending, editing and deleting in
    /// one channel at once: the revs they answer are exactly 1..=N.
    #[tokio::test]
    async fn pg_revs_stay_gap_free_across_two_nodes() {
        let Some(url) = fresh_postgres_database().await else { return };
        let node_a = store_at(&url).await;
        // A small batch on the second node, so the two interleave finely.
        let node_b: Arc<dyn Store> =
            Arc::new(PostgresStore::open_with(&url, 4, Arc::new(Metrics::default())).await.unwrap());
        let alice = node_a.create_user(&name("alice"), "h").await.unwrap();
        let bob = node_b.create_user(&name("bob"), "h").await.unwrap();
        let seeded = 40;
        for seq in 1..=seeded {
            // Alice sends the odd seqs, bob the even ones.
            let (store, sender) = if seq % 2 == 1 { (&node_a, alice.id) } else { (&node_b, bob.id) };
            store.append_message(message(GENERAL, sender, &format!("s-{seq}"), "seed")).await.unwrap();
        }
        // Each node edits and deletes half of the messages (both senders'
        // in each half) and appends, all at once, in the one channel.
        let from_a = super::changes_to_queue(&node_a, alice.id, bob.id, 1..=seeded / 2, "a", 3);
        let from_b = super::changes_to_queue(&node_b, alice.id, bob.id, seeded / 2 + 1..=seeded, "b", 3);
        let (revs_a, revs_b) = tokio::join!(super::collect_revs(from_a), super::collect_revs(from_b));
        assert!(revs_a.len() > 100 && revs_b.len() > 100, "both nodes changed things");
        let answered = revs_a.into_iter().chain(revs_b).collect();
        super::assert_gap_free(&node_b, GENERAL, alice.id, answered, seeded).await;
    }

    /// How many rows of `messages` hold `marker` in any column.
    async fn rows_with(client: &tokio_postgres::Client, marker: &str) -> i64 {
        let pattern = format!("%{marker}%");
        client
            .query_one("SELECT COUNT(*) FROM messages WHERE messages::text LIKE $1", &[&pattern])
            .await
            .unwrap()
            .get(0)
    }

    /// A deleted message's text (and its text before an edit) is no longer
    /// in any row. PostgreSQL keeps the dead row versions on disk (and in
    /// its WAL) until VACUUM reclaims them, and VACUUM does not zero the
    /// bytes it frees: what SQL can check is that no row, before and after
    /// VACUUM, holds either text.
    #[tokio::test]
    async fn pg_a_deleted_message_is_erased_from_the_table() {
        let Some(url) = fresh_postgres_database().await else { return };
        let store = store_at(&url).await;
        let alice = store.create_user(&name("alice"), "h").await.unwrap();
        let (original, edited, kept) =
            ("ORIGINAL-7f3a9c51e2-marker", "EDITED-2b8e1d64f0-marker", "KEPT-93c0aa17d5-marker");
        store.append_message(message(GENERAL, alice.id, "a-1", original)).await.unwrap();
        store.append_message(message(GENERAL, alice.id, "a-2", kept)).await.unwrap();
        assert!(store.edit_message(edit(GENERAL, 1, alice.id, edited, None)).await.unwrap().changed);
        assert!(store.delete_message(removal(GENERAL, 1, alice.id)).await.unwrap().changed);

        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        assert_eq!(rows_with(&client, kept).await, 1, "the query finds a body that stands");
        for pass in ["before VACUUM", "after VACUUM"] {
            if pass == "after VACUUM" {
                client.batch_execute("VACUUM messages").await.unwrap();
            }
            assert_eq!(rows_with(&client, original).await, 0, "the text before the edit, {pass}");
            assert_eq!(rows_with(&client, edited).await, 0, "the deleted text, {pass}");
        }
        let tombstone = store.history(GENERAL, None, 10).await.unwrap().remove(0);
        assert_eq!((tombstone.body.as_str(), tombstone.deleted), ("", Some(Deletion::BySender)));
    }
}
