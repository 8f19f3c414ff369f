//! The store conformance suite. Every backend runs these same checks; a new
//! backend adds one line per test at the bottom.

use std::collections::HashSet;
use std::sync::Arc;

use natter::metrics::Metrics;
use natter::model::{ChannelId, ChannelKind, ChannelName, ClientId, MessageBody, Rev, Seq, UserName};
use natter::store::{NewMessage, Store, StoreError};

/// Administration: deactivation, admins and the accounts page, on every backend.
mod accounts;
/// History made elsewhere (Slack imports): accounts and messages, on every backend.
mod backfill;
/// Edits, deletions and the rev stream, on every backend.
mod changes;
/// Reactions, replies, mentions and unread counts, on every backend.
mod extras;
/// The rev stream's reads against a model, and its migration, on every backend.
mod rev_reads;
/// Search: the golden corpus and permissions, on every backend.
mod search;
/// Shared files' metadata: uploads, attaching, fetching, deletion, on every backend.
mod files;

fn name(raw: &str) -> UserName {
    UserName::parse(raw).unwrap()
}

fn channel_name(raw: &str) -> ChannelName {
    ChannelName::parse(raw).unwrap()
}

fn message(channel: ChannelId, sender: natter::model::UserId, client_id: &str, body: &str) -> NewMessage {
    NewMessage {
        channel,
        sender,
        client_id: ClientId::parse(client_id.into()).unwrap(),
        body: MessageBody::parse(body.into()).unwrap(),
        reply_to: None,
        files: Vec::new(),
    }
}

const GENERAL: ChannelId = ChannelId(1);

async fn accounts_and_sessions(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("Alice"), "hash-a").await.unwrap();
    assert!(!alice.guest);
    assert!(matches!(store.create_user(&name("ALICE"), "hash-b").await, Err(StoreError::NameTaken)));
    let found = store.find_user("alice").await.unwrap().expect("found without case");
    assert_eq!((found.user.id, found.user.name.as_str()), (alice.id, "Alice"));
    assert_eq!(found.password_hash.as_deref(), Some("hash-a"));
    assert!(store.find_user("bob").await.unwrap().is_none());

    let guest = store.claim_guest(&name("visitor")).await.unwrap();
    assert!(guest.guest);
    store.create_session(guest.id, [9u8; 32], i64::MAX, &Default::default()).await.unwrap();
    let hideout =
        store.create_channel(&channel_name("hideout"), ChannelKind::Private, guest.id, 10).await.unwrap();
    let (dm, _) = store.open_dm(guest.id, &[alice.id]).await.unwrap();
    let first = NewMessage {
        channel: GENERAL,
        sender: guest.id,
        client_id: ClientId::parse("g-1".into()).unwrap(),
        body: MessageBody::parse("from the first visitor".into()).unwrap(),
        reply_to: None,
        files: Vec::new(),
    };
    store.append_message(first).await.unwrap();
    // The next claim gets the name as a new user: none of the previous
    // holder's sessions, channels, DMs or idempotency keys come with it.
    let next = store.claim_guest(&name("Visitor")).await.unwrap();
    assert_ne!(next.id, guest.id);
    assert_eq!(store.find_user("visitor").await.unwrap().unwrap().user.id, next.id);
    assert!(store.session_user([9u8; 32], 0).await.unwrap().is_none());
    assert!(!store.is_member(hideout.id, next.id).await.unwrap());
    assert!(store.is_member(GENERAL, next.id).await.unwrap());
    let (next_dm, created) = store.open_dm(next.id, &[alice.id]).await.unwrap();
    assert!(created && next_dm.id != dm.id, "a new DM, not the old holder's");
    let second = NewMessage {
        channel: GENERAL,
        sender: next.id,
        client_id: ClientId::parse("g-1".into()).unwrap(),
        body: MessageBody::parse("from the second visitor".into()).unwrap(),
        reply_to: None,
        files: Vec::new(),
    };
    assert!(
        store.append_message(second).await.unwrap().created,
        "the old holder's client ids do not collide"
    );
    // The old holder's message keeps its name.
    assert_eq!(store.history(GENERAL, None, 10).await.unwrap()[0].sender_name, "visitor");
    assert!(matches!(store.claim_guest(&name("alice")).await, Err(StoreError::NameTaken)));
    assert!(store.find_user("visitor").await.unwrap().unwrap().password_hash.is_none());

    let token = [7u8; 32];
    store.create_session(alice.id, token, 2_000, &Default::default()).await.unwrap();
    assert_eq!(store.session_user(token, 1_000).await.unwrap().map(|u| u.id), Some(alice.id));
    assert!(store.session_user(token, 2_000).await.unwrap().is_none(), "expired");
    assert!(store.session_user([8u8; 32], 1_000).await.unwrap().is_none());
    store.delete_session(token).await.unwrap();
    assert!(store.session_user(token, 1_000).await.unwrap().is_none());
    store.delete_session(token).await.unwrap();
}

async fn channels_and_membership(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    let general = store.channel(GENERAL).await.unwrap().expect("General exists from the start");
    assert_eq!((general.name.as_str(), general.kind), ("General", ChannelKind::Public));
    assert!(store.is_member(GENERAL, alice.id).await.unwrap(), "every user is in General");

    let yogurt =
        store.create_channel(&channel_name("Yogurt"), ChannelKind::Public, alice.id, 10).await.unwrap();
    match store.create_channel(&channel_name("yogurt"), ChannelKind::Private, bob.id, 10).await {
        Err(StoreError::ChannelExists(existing)) => assert_eq!(existing.id, yogurt.id),
        other => panic!("expected ChannelExists, got {other:?}"),
    }
    assert!(store.is_member(yogurt.id, alice.id).await.unwrap());
    assert!(!store.is_member(yogurt.id, bob.id).await.unwrap());
    let secret =
        store.create_channel(&channel_name("secret"), ChannelKind::Private, alice.id, 10).await.unwrap();
    // Lookup by name ignores case and returns the stored spelling; private
    // channels are found by their members only.
    let named = |views: Vec<natter::model::ChannelView>| -> Vec<(ChannelId, ChannelKind)> {
        views.into_iter().map(|v| (v.channel.id, v.channel.kind)).collect()
    };
    let found = store.channels_named(&channel_name("YOGURT"), bob.id).await.unwrap();
    assert_eq!(found.iter().map(|v| &v.channel).collect::<Vec<_>>(), [&yogurt]);
    assert_eq!(
        named(store.channels_named(&channel_name("general"), bob.id).await.unwrap()),
        [(GENERAL, ChannelKind::Public)]
    );
    assert_eq!(
        named(store.channels_named(&channel_name("Secret"), alice.id).await.unwrap()),
        [(secret.id, ChannelKind::Private)]
    );
    assert!(store.channels_named(&channel_name("Secret"), bob.id).await.unwrap().is_empty());
    assert!(store.channels_named(&channel_name("nowhere"), alice.id).await.unwrap().is_empty());
    // Look-alike names are the same name.
    match store.create_channel(&channel_name("Gеneral"), ChannelKind::Public, bob.id, 10).await {
        Err(StoreError::ChannelExists(existing)) => assert_eq!(existing.id, GENERAL),
        other => panic!("expected ChannelExists for a look-alike of General, got {other:?}"),
    }
    assert_eq!(
        named(store.channels_named(&channel_name("ＧＥＮＥＲＡＬ"), bob.id).await.unwrap()),
        [(GENERAL, ChannelKind::Public)]
    );
    assert!(matches!(
        store.create_channel(&channel_name("third"), ChannelKind::Public, alice.id, 2).await,
        Err(StoreError::LimitReached)
    ));
    // Private names collide only with the creator's own private channels, so
    // nobody learns another's private channel names by trying them.
    match store.create_channel(&channel_name("SECRET"), ChannelKind::Private, alice.id, 10).await {
        Err(StoreError::ChannelExists(existing)) => assert_eq!(existing.id, secret.id),
        other => panic!("expected ChannelExists, got {other:?}"),
    }
    let bobs_secret =
        store.create_channel(&channel_name("secret"), ChannelKind::Private, bob.id, 10).await.unwrap();
    assert_ne!(bobs_secret.id, secret.id);
    // A public channel may not take the name of a private one its creator
    // is in (that would be two channels of one name for them)...
    match store.create_channel(&channel_name("Secret"), ChannelKind::Public, bob.id, 10).await {
        Err(StoreError::ChannelExists(existing)) => assert_eq!(existing.id, bobs_secret.id),
        other => panic!("expected ChannelExists, got {other:?}"),
    }
    // ...but it may take one its creator cannot see: nothing is revealed.
    let carol = store.create_user(&name("carol"), "h").await.unwrap();
    let public_secret =
        store.create_channel(&channel_name("Secret"), ChannelKind::Public, carol.id, 10).await.unwrap();
    assert_eq!(public_secret.kind, ChannelKind::Public);
    match store.create_channel(&channel_name("secret"), ChannelKind::Private, alice.id, 10).await {
        Err(StoreError::ChannelExists(existing)) => {
            assert_eq!(existing.id, public_secret.id, "public names win")
        }
        other => panic!("expected ChannelExists, got {other:?}"),
    }
    // Alice can now name two channels "secret": both are found, oldest first.
    assert_eq!(
        named(store.channels_named(&channel_name("secret"), alice.id).await.unwrap()),
        [(secret.id, ChannelKind::Private), (public_secret.id, ChannelKind::Public)]
    );

    let page = |prefix: &str, after: Option<(&str, ChannelId)>, limit: u32| natter::store::ChannelPage {
        prefix: natter::model::name_key(prefix),
        after: after.map(|(name, id)| (name.to_owned(), id)),
        limit,
    };
    let public: Vec<(String, bool)> = store
        .public_channels(bob.id, page("", None, 100))
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.channel.name, v.member))
        .collect();
    let expected = [("General", true), ("Secret", false), ("Yogurt", false)];
    assert_eq!(public, expected.map(|(name, member)| (name.to_owned(), member)));
    // Pages: a limit, a cursor (the last key seen) and a prefix.
    let names = |views: Vec<natter::model::ChannelView>| -> Vec<String> {
        views.into_iter().map(|v| v.channel.name).collect()
    };
    assert_eq!(names(store.public_channels(bob.id, page("", None, 2)).await.unwrap()), ["General", "Secret"]);
    let after_secret = Some(("Secret", public_secret.id));
    assert_eq!(names(store.public_channels(bob.id, page("", after_secret, 2)).await.unwrap()), ["Yogurt"]);
    assert_eq!(names(store.public_channels(bob.id, page("YO", None, 10)).await.unwrap()), ["Yogurt"]);
    assert!(store.public_channels(bob.id, page("zz", None, 10)).await.unwrap().is_empty());

    assert!(store.add_member(yogurt.id, bob.id, Some(alice.id)).await.unwrap());
    assert!(!store.add_member(yogurt.id, bob.id, None).await.unwrap());
    assert!(matches!(store.add_member(ChannelId(999), bob.id, None).await, Err(StoreError::NoSuchChannel)));
    assert!(
        store.is_member(yogurt.id, alice.id).await.unwrap()
            && store.is_member(yogurt.id, bob.id).await.unwrap()
    );
    assert_eq!(store.channel_view(yogurt.id, bob.id).await.unwrap().added_by.as_deref(), Some("alice"));
    assert_eq!(store.channel_view(yogurt.id, alice.id).await.unwrap().added_by, None, "the creator joined");
    let of_bob: Vec<ChannelId> =
        store.channels_of(bob.id).await.unwrap().iter().map(|v| v.channel.id).collect();
    assert_eq!(of_bob, vec![GENERAL, yogurt.id, bobs_secret.id]);
    assert!(store.remove_member(yogurt.id, bob.id).await.unwrap());
    assert!(!store.remove_member(yogurt.id, bob.id).await.unwrap());

    let view = store.channel_view(secret.id, bob.id).await.unwrap();
    assert!(!view.member);
    assert!(matches!(store.channel_view(ChannelId(999), bob.id).await, Err(StoreError::NoSuchChannel)));

    let (dm, created) = store.open_dm(alice.id, &[bob.id]).await.unwrap();
    assert!(created);
    assert_eq!(dm.kind, ChannelKind::Direct);
    // A DM's display name is not an address.
    assert!(store.channels_named(&channel_name(&dm.name), alice.id).await.unwrap().is_empty());
    let (again, created_again) = store.open_dm(bob.id, &[alice.id]).await.unwrap();
    assert_eq!((again.id, created_again), (dm.id, false), "one DM per pair");
    let view = store.channel_view(dm.id, bob.id).await.unwrap();
    assert_eq!(view.dm_members, vec!["alice".to_owned(), "bob".to_owned()]);
    assert!(view.member);
    // A group DM is found by its set of people, whoever opens it.
    let dora = store.create_user(&name("dora"), "h").await.unwrap();
    let (group, created) = store.open_dm(alice.id, &[bob.id, dora.id]).await.unwrap();
    assert!(created && group.id != dm.id);
    assert_eq!(group.name, "alice, bob, dora");
    let (same, created_again) = store.open_dm(dora.id, &[alice.id, bob.id]).await.unwrap();
    assert_eq!((same.id, created_again), (group.id, false));
    let view = store.channel_view(group.id, dora.id).await.unwrap();
    assert_eq!(view.dm_members, ["alice", "bob", "dora"]);
    assert!(view.member);
    let public_ids: HashSet<ChannelId> = store
        .public_channels(bob.id, page("", None, 100))
        .await
        .unwrap()
        .iter()
        .map(|v| v.channel.id)
        .collect();
    assert!(!public_ids.contains(&dm.id) && !public_ids.contains(&secret.id));
}

async fn messages_sequence_and_idempotency(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    let private = store.create_channel(&channel_name("p"), ChannelKind::Private, alice.id, 10).await.unwrap();

    let first = store.append_message(message(GENERAL, alice.id, "a-1", "one")).await.unwrap();
    assert!(first.created);
    assert_eq!((first.message.seq, first.message.sender_name.as_str()), (Seq(1), "alice"));
    let repeat = store.append_message(message(GENERAL, alice.id, "a-1", "one again")).await.unwrap();
    assert!(!repeat.created);
    assert_eq!(repeat.message, first.message, "a repeat returns the original");
    // Client ids are per sender.
    let bobs = store.append_message(message(GENERAL, bob.id, "a-1", "bob's")).await.unwrap();
    assert_eq!(bobs.message.seq, Seq(2));

    assert!(matches!(
        store.append_message(message(private.id, bob.id, "b-2", "x")).await,
        Err(StoreError::NotMember)
    ));
    assert!(matches!(
        store.append_message(message(ChannelId(999), bob.id, "b-3", "x")).await,
        Err(StoreError::NoSuchChannel)
    ));
    // A private channel has its own sequence.
    let in_private = store.append_message(message(private.id, alice.id, "a-2", "p1")).await.unwrap();
    assert_eq!(in_private.message.seq, Seq(1));
    // System lines take the next seq like messages, need no membership (a
    // leaver's line is written after the leave), and read back as written.
    let line = natter::store::NewSystemLine {
        channel: private.id,
        actor: alice.id,
        kind: natter::model::SystemKind::Added,
        subject: bob.id,
        client_id: "sys-1".into(),
    };
    let added = store.append_system(line).await.unwrap();
    assert_eq!((added.seq, added.body.as_str()), (Seq(2), "alice added bob"));
    let left = natter::store::NewSystemLine {
        channel: private.id,
        actor: bob.id,
        kind: natter::model::SystemKind::Left,
        subject: bob.id,
        client_id: "sys-2".into(),
    };
    assert_eq!(
        store.append_system(left).await.unwrap().seq,
        Seq(3),
        "bob is no member, yet his line is stored"
    );
    let stored = store.history(private.id, None, 10).await.unwrap();
    let systems: Vec<Option<(natter::model::SystemKind, String)>> =
        stored.iter().map(|m| m.system.as_ref().map(|e| (e.kind, e.user_name.clone()))).collect();
    assert_eq!(
        systems,
        [
            None,
            Some((natter::model::SystemKind::Added, "bob".to_owned())),
            Some((natter::model::SystemKind::Left, "bob".to_owned()))
        ]
    );
    assert_eq!(stored[1], added, "read back as it was returned");

    // Many concurrent writers: seqs stay unique and gap-free, and one caller's
    // queued appends commit in the order it queued them.
    let queued: Vec<_> = (0..200)
        .map(|n| {
            let sender = if n % 2 == 0 { alice.id } else { bob.id };
            store.append_message(message(GENERAL, sender, &format!("c-{n}"), &format!("n{n}")))
        })
        .collect();
    let mut seqs = Vec::new();
    for (n, future) in queued.into_iter().enumerate() {
        let appended = future.await.unwrap();
        assert_eq!(appended.message.body, format!("n{n}"));
        seqs.push(appended.message.seq.0);
    }
    assert_eq!(seqs, (3..203).collect::<Vec<_>>(), "queue order is commit order");
    let heads: Vec<(ChannelId, Rev)> = store.channel_heads().await.unwrap();
    assert!(heads.contains(&(GENERAL, Rev(202))) && heads.contains(&(private.id, Rev(3))), "{heads:?}");

    let latest = store.history(GENERAL, None, 10).await.unwrap();
    assert_eq!(latest.iter().map(|m| m.seq.0).collect::<Vec<_>>(), (193..=202).collect::<Vec<_>>());
    let older = store.history(GENERAL, Some(Seq(3)), 10).await.unwrap();
    assert_eq!(older.iter().map(|m| m.seq.0).collect::<Vec<_>>(), vec![1, 2]);
    let after = store.messages_after(GENERAL, Seq(198), 3).await.unwrap();
    assert_eq!(after.iter().map(|m| m.seq.0).collect::<Vec<_>>(), vec![199, 200, 201]);
    assert!(store.messages_after(GENERAL, Seq(202), 10).await.unwrap().is_empty());

    assert_eq!(store.mark_read(GENERAL, bob.id, Seq(10)).await.unwrap(), Seq(10));
    assert_eq!(store.mark_read(GENERAL, bob.id, Seq(5)).await.unwrap(), Seq(10), "never backwards");
    assert_eq!(store.mark_read(GENERAL, bob.id, Seq(10_000)).await.unwrap(), Seq(202), "clamped to head");
    assert!(matches!(store.mark_read(private.id, bob.id, Seq(1)).await, Err(StoreError::NotMember)));
    let view = store.channel_view(GENERAL, bob.id).await.unwrap();
    assert_eq!((view.last_seq, view.read_seq), (Seq(202), Seq(202)));
    store.health().await.unwrap();
}

async fn user_directory(store: Arc<dyn Store>) {
    let names = |users: Vec<natter::model::User>| users.into_iter().map(|u| u.name).collect::<Vec<_>>();
    for raw in ["bob", "Alice", "al_x", "al.y", "al-z", "Albert", "carol", "zed"] {
        store.create_user(&name(raw), "h").await.unwrap();
    }
    // A guest holds a name until it passes on; the old holder is never listed.
    let first_visitor = store.claim_guest(&name("visitor")).await.unwrap();
    assert_eq!(names(store.list_users("vis", None, 10).await.unwrap()), ["visitor"]);
    let next_visitor = store.claim_guest(&name("visitor")).await.unwrap();
    let listed = store.list_users("", None, 100).await.unwrap();
    assert!(listed.iter().all(|u| u.id != first_visitor.id), "the guest whose name passed on is not listed");
    assert!(listed.iter().any(|u| u.id == next_visitor.id));

    // Ordered by the name without case (bytewise on the key), everyone once.
    assert_eq!(names(listed), ["al-z", "al.y", "al_x", "Albert", "Alice", "bob", "carol", "visitor", "zed"]);
    // A prefix is compared without case, and '_' is a character, not a wildcard.
    assert_eq!(
        names(store.list_users("al", None, 10).await.unwrap()),
        ["al-z", "al.y", "al_x", "Albert", "Alice"]
    );
    assert_eq!(names(store.list_users("al_", None, 10).await.unwrap()), ["al_x"]);
    assert!(store.list_users("nobody", None, 10).await.unwrap().is_empty());
    // Pages follow from the last name of the one before, and stop at `limit`.
    assert_eq!(names(store.list_users("al", None, 2).await.unwrap()), ["al-z", "al.y"]);
    assert_eq!(names(store.list_users("al", Some("al.y"), 2).await.unwrap()), ["al_x", "Albert"]);
    assert_eq!(names(store.list_users("al", Some("albert"), 2).await.unwrap()), ["Alice"]);
    assert_eq!(names(store.list_users("", Some("visitor"), 10).await.unwrap()), ["zed"]);
}

async fn close_finishes_queued_work(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let queued: Vec<_> =
        (0..50).map(|n| store.append_message(message(GENERAL, alice.id, &format!("q-{n}"), "x"))).collect();
    store.close().await;
    for future in queued {
        future.await.expect("queued before close, so committed");
    }
    assert!(matches!(store.health().await, Err(StoreError::Closed)));
}

mod sqlite {
    use super::*;

    async fn file_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        let url = format!("sqlite://{}", dir.path().join("conformance.db").display());
        natter::store::open(&url, Arc::new(Metrics::default())).await.unwrap()
    }

    async fn memory_store() -> Arc<dyn Store> {
        natter::store::open("sqlite::memory:", Arc::new(Metrics::default())).await.unwrap()
    }

    #[tokio::test]
    async fn accounts_and_sessions_on_file() {
        let dir = tempfile::tempdir().unwrap();
        super::accounts_and_sessions(file_store(&dir).await).await;
    }

    #[tokio::test]
    async fn accounts_and_sessions_in_memory() {
        super::accounts_and_sessions(memory_store().await).await;
    }

    #[tokio::test]
    async fn channels_and_membership_on_file() {
        let dir = tempfile::tempdir().unwrap();
        super::channels_and_membership(file_store(&dir).await).await;
    }

    #[tokio::test]
    async fn channels_and_membership_in_memory() {
        super::channels_and_membership(memory_store().await).await;
    }

    #[tokio::test]
    async fn messages_on_file() {
        let dir = tempfile::tempdir().unwrap();
        super::messages_sequence_and_idempotency(file_store(&dir).await).await;
    }

    #[tokio::test]
    async fn messages_in_memory() {
        super::messages_sequence_and_idempotency(memory_store().await).await;
    }

    #[tokio::test]
    async fn user_directory_in_memory() {
        super::user_directory(memory_store().await).await;
    }

    #[tokio::test]
    async fn close_finishes_queued_work_on_file() {
        let dir = tempfile::tempdir().unwrap();
        super::close_finishes_queued_work(file_store(&dir).await).await;
        // And the file reopens with everything in it.
        let reopened = file_store(&dir).await;
        assert_eq!(reopened.history(GENERAL, None, 100).await.unwrap().len(), 50);
    }

    /// Reads of a file database never queue behind the writer: with the
    /// writer held (another connection has the write lock, so the writer's
    /// next batch waits on it), a history read is answered while the append
    /// queued before it is still waiting.
    #[tokio::test]
    async fn reads_are_answered_while_the_writer_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir).await;
        let alice = store.create_user(&name("alice"), "h").await.unwrap();
        store.append_message(message(GENERAL, alice.id, "a-1", "before")).await.unwrap();

        let blocker = rusqlite::Connection::open(dir.path().join("conformance.db")).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut held = store.append_message(message(GENERAL, alice.id, "a-2", "held"));
        let history = tokio::time::timeout(crate::harness::RECEIVE_TIMEOUT, store.history(GENERAL, None, 10))
            .await
            .expect("the read is answered while the writer waits")
            .unwrap();
        assert_eq!(history.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["before"]);
        assert!(
            futures_util::FutureExt::now_or_never(&mut held).is_none(),
            "the append is still waiting for the writer: the read did not queue behind it"
        );
        blocker.execute_batch("ROLLBACK").unwrap();
        assert_eq!(held.await.unwrap().message.seq, Seq(2), "the held append commits once released");
    }

    /// A database the first release made, with look-alike channel names
    /// that release allowed, migrates in place: the older channel keeps its
    /// name, new users join the real General only, and everything else works.
    #[tokio::test]
    async fn a_first_release_database_with_look_alike_names_migrates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let old = rusqlite::Connection::open(&path).unwrap();
            old.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
            old.execute_batch(include_str!("fixtures/sqlite_v1.sql")).unwrap();
            old.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO users (id, name, name_key, password_hash, created_at) VALUES (1, 'alice', 'alice', 'h', 0);
                 INSERT INTO users (id, name, name_key, password_hash, created_at) VALUES (2, 'mallory', 'mallory', 'h', 0);
                 INSERT INTO members (channel_id, user_id, joined_at) VALUES (1, 1, 0), (1, 2, 0);
                 -- 'team' first, then mallory's 'tearn' (whose skeleton is the same) and
                 -- a private 'Gеneral' with a Cyrillic е, which the old release allowed.
                 INSERT INTO channels (id, name, name_key, kind, created_by, created_at) VALUES (2, 'team', 'team', 'public', 1, 0);
                 INSERT INTO channels (id, name, name_key, kind, created_by, created_at) VALUES (3, 'tearn', 'tearn', 'public', 2, 0);
                 INSERT INTO channels (id, name, name_key, kind, created_by, created_at) VALUES (4, 'Gеneral', 'gеneral', 'private', 2, 0);
                 -- A name this release no longer lets anyone create.
                 INSERT INTO channels (id, name, name_key, kind, created_by, created_at) VALUES (5, 'plans #2', 'plans #2', 'public', 1, 0);
                 INSERT INTO members (channel_id, user_id, joined_at) VALUES (2, 1, 0), (3, 2, 0), (4, 2, 0);
                 INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts) VALUES (2, 1, 1, 'a-1', 'kept', 0);
                 UPDATE channels SET last_seq = 1 WHERE id = 2;",
            )
            .unwrap();
        }
        let url = format!("sqlite://{}", path.display());
        let store = natter::store::open(&url, Arc::new(Metrics::default())).await.expect("it migrates");
        let alice = natter::model::UserId(1);
        // "team" and its look-alike share a key; the older channel holds it.
        let team: Vec<ChannelId> = store
            .channels_named(&channel_name("team"), alice)
            .await
            .unwrap()
            .iter()
            .map(|v| v.channel.id)
            .collect();
        assert_eq!(team, [ChannelId(2)]);
        match store.create_channel(&channel_name("team"), ChannelKind::Public, alice, 10).await {
            Err(StoreError::ChannelExists(existing)) => assert_eq!(existing.id, ChannelId(2)),
            other => panic!("expected the older channel to own the name, got {other:?}"),
        }
        // A new user is put in General only, never in the private look-alike.
        let bob = store.create_user(&name("bob"), "h").await.unwrap();
        let of_bob: Vec<ChannelId> =
            store.channels_of(bob.id).await.unwrap().iter().map(|v| v.channel.id).collect();
        assert_eq!(of_bob, [GENERAL]);
        // A name the old release allowed, ending in " #2", is still found
        // whole (it cannot be created any more).
        assert!(ChannelName::parse("plans #2").is_err());
        let legacy = ChannelName::parse_stored("plans #2").unwrap();
        let found: Vec<ChannelId> =
            store.channels_named(&legacy, alice).await.unwrap().iter().map(|v| v.channel.id).collect();
        assert_eq!(found, [ChannelId(5)]);
        // The old history is intact and the stream goes on.
        assert_eq!(store.history(ChannelId(2), None, 10).await.unwrap()[0].body, "kept");
        let next = store.append_message(message(ChannelId(2), alice, "a-2", "after")).await.unwrap();
        assert_eq!(next.message.seq, Seq(2));
    }

    #[tokio::test]
    async fn rejects_unknown_schemes_without_echoing_secrets() {
        let error = natter::store::open("mysql://root:hunter2@db/chat", Arc::new(Metrics::default()))
            .await
            .err()
            .expect("unsupported");
        let text = error.to_string();
        assert!(text.contains("mysql") && !text.contains("hunter2"), "{text}");
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
    async fn pg_accounts_and_sessions() {
        let Some(url) = fresh_postgres_database().await else { return };
        super::accounts_and_sessions(store_at(&url).await).await;
    }

    #[tokio::test]
    async fn pg_channels_and_membership() {
        let Some(url) = fresh_postgres_database().await else { return };
        super::channels_and_membership(store_at(&url).await).await;
    }

    #[tokio::test]
    async fn pg_messages() {
        let Some(url) = fresh_postgres_database().await else { return };
        super::messages_sequence_and_idempotency(store_at(&url).await).await;
    }

    #[tokio::test]
    async fn pg_user_directory() {
        let Some(url) = fresh_postgres_database().await else { return };
        super::user_directory(store_at(&url).await).await;
    }

    #[tokio::test]
    async fn pg_close_finishes_queued_work() {
        let Some(url) = fresh_postgres_database().await else { return };
        super::close_finishes_queued_work(store_at(&url).await).await;
        // And a new store on the database (a restarted node) finds it all;
        // migrations are not run twice.
        let reopened = store_at(&url).await;
        assert_eq!(reopened.history(GENERAL, None, 100).await.unwrap().len(), 50);
    }

    /// Two nodes' stores on one database, appending to one channel at once:
    /// seqs stay unique and gap-free, each node's own appends commit in the
    /// order it queued them, and a client id sent through both nodes is
    /// stored once.
    #[tokio::test]
    async fn pg_concurrent_writers_on_two_nodes() {
        let Some(url) = fresh_postgres_database().await else { return };
        let node_a = store_at(&url).await;
        // A small batch on the second node, so the two interleave finely.
        let node_b: Arc<dyn Store> =
            Arc::new(PostgresStore::open_with(&url, 4, Arc::new(Metrics::default())).await.unwrap());
        let alice = node_a.create_user(&name("alice"), "h").await.unwrap();
        let bob = node_b.create_user(&name("bob"), "h").await.unwrap();

        let per_node = 300;
        let queue = |store: Arc<dyn Store>, sender, prefix: &'static str| {
            let queued: Vec<_> = (0..per_node)
                .map(|n| store.append_message(message(GENERAL, sender, &format!("{prefix}-{n}"), prefix)))
                .collect();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for future in queued {
                    seqs.push(future.await.unwrap().message.seq.0);
                }
                seqs
            })
        };
        let from_a = queue(Arc::clone(&node_a), alice.id, "a");
        let from_b = queue(Arc::clone(&node_b), bob.id, "b");
        let (seqs_a, seqs_b) = (from_a.await.unwrap(), from_b.await.unwrap());
        assert!(seqs_a.windows(2).all(|w| w[0] < w[1]), "node a's queue order is its commit order");
        assert!(seqs_b.windows(2).all(|w| w[0] < w[1]), "node b's queue order is its commit order");
        let mut all: Vec<i64> = seqs_a.iter().chain(&seqs_b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (1..=2 * per_node).collect::<Vec<_>>(), "unique and gap-free");
        let stored = node_b.messages_after(GENERAL, Seq(0), 10_000).await.unwrap();
        assert_eq!(
            stored.iter().map(|m| m.seq.0).collect::<Vec<_>>(),
            (1..=2 * per_node).collect::<Vec<_>>()
        );

        // The same (sender, client_id) through both nodes at once: one row.
        let both = [
            node_a.append_message(message(GENERAL, alice.id, "twice", "x")),
            node_b.append_message(message(GENERAL, alice.id, "twice", "x")),
        ];
        let [first, second] = both;
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        assert_eq!(first.message.id, second.message.id);
        assert!(first.created != second.created, "exactly one created it");
        assert_eq!(node_a.channel_view(GENERAL, alice.id).await.unwrap().last_seq, Seq(2 * per_node + 1));
    }

    #[tokio::test]
    async fn pg_unreachable_database_is_a_clear_error() {
        // A port nothing listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("postgres://natter:hunter2@127.0.0.1:{port}/natter");
        let error = natter::store::open(&url, Arc::new(Metrics::default())).await.err().expect("fails");
        let text = error.to_string();
        assert!(text.contains("cannot connect to PostgreSQL") && !text.contains("hunter2"), "{text}");
    }
}
