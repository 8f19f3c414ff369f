//! `natter export` and `natter import`: a workspace built through the
//! store's API (an admin, a guest whose name passed on, a deactivated
//! account; public, private and DM channels; edits, deletions by the
//! sender and by an admin, reactions, replies, mentions, system lines)
//! comes back from an export into an empty database message by message,
//! channel by channel and member by member, searchable, and carries on
//! (new ids and seqs after the imported ones). What an import refuses is in
//! `transfer/refusals.rs`. Every check runs on SQLite and PostgreSQL (one
//! line per test at the bottom), and SQLite's export goes into PostgreSQL.

use std::path::Path;
use std::sync::Arc;

use natter::metrics::Metrics;
use natter::model::{
    ChannelId, ChannelKind, ChannelName, ChannelView, ClientId, Emoji, Message, MessageBody, NotifyLevel,
    Seq, SystemKind, UserId, UserName,
};
use natter::search::query::parse;
use natter::store::{
    ChannelUpdate, MessageEdit, MessageReaction, MessageRemoval, MessageSearch, NewMessage, NewSystemLine,
    Store,
};

/// What an import refuses, and that it then writes nothing.
mod refusals;

const GENERAL: ChannelId = ChannelId(1);

fn name(raw: &str) -> UserName {
    UserName::parse(raw).unwrap()
}

fn channel_name(raw: &str) -> ChannelName {
    ChannelName::parse(raw).unwrap()
}

async fn open(url: &str) -> Arc<dyn Store> {
    natter::store::open(url, Arc::new(Metrics::default())).await.unwrap()
}

fn post(
    channel: ChannelId,
    sender: UserId,
    client_id: &str,
    body: &str,
    reply_to: Option<i64>,
) -> NewMessage {
    NewMessage {
        channel,
        sender,
        client_id: ClientId::parse(client_id.into()).unwrap(),
        body: MessageBody::parse(body.into()).unwrap(),
        reply_to: reply_to.map(Seq),
        files: Vec::new(),
    }
}

fn react(channel: ChannelId, seq: Seq, user: UserId, emoji: &str) -> MessageReaction {
    MessageReaction { channel, seq, user, emoji: Emoji::parse(emoji).unwrap(), add: true }
}

/// The source workspace's channels and users, by id.
struct Workspace {
    users: Vec<UserId>,
    channels: Vec<ChannelId>,
    bob: UserId,
}

/// Builds a workspace with one of everything an export carries.
async fn build(store: &Arc<dyn Store>) -> Workspace {
    let ada = store.create_user(&name("Ada"), "hash-a").await.unwrap().id;
    store.set_admin(&name("ada"), true).await.unwrap();
    let bob = store.create_user(&name("bob"), "hash-b").await.unwrap().id;
    let carol = store.create_user(&name("carol"), "hash-c").await.unwrap().id;
    // A guest whose name passes on to a second guest: both are exported.
    let old_visitor = store.claim_guest(&name("visitor")).await.unwrap().id;
    let first_post = post(GENERAL, old_visitor, "v-1", "hi from the first visitor", None);
    store.append_message(first_post).await.unwrap();
    let visitor = store.claim_guest(&name("Visitor")).await.unwrap().id;
    // A session, which is never exported.
    store.create_session(bob, [5; 32], i64::MAX, &Default::default()).await.unwrap();

    let yogurt =
        store.create_channel(&channel_name("Yogurt"), ChannelKind::Public, ada, 10).await.unwrap().id;
    let secret =
        store.create_channel(&channel_name("secret"), ChannelKind::Private, ada, 10).await.unwrap().id;
    store.add_member(secret, bob, Some(ada)).await.unwrap();
    let added = NewSystemLine {
        channel: secret,
        actor: ada,
        kind: SystemKind::Added,
        subject: bob,
        client_id: "sys-added-bob".into(),
    };
    store.append_system(added).await.unwrap();
    let dm = store.open_dm(bob, &[ada]).await.unwrap().0.id;

    // General: mentions, a reply, an edit, reactions, deletions by the
    // sender and by an admin.
    let hello = store
        .append_message(post(GENERAL, ada, "a-1", "hello @bob and @channel, see the zebracorn", None))
        .await
        .unwrap()
        .message
        .seq;
    let answer = store.append_message(post(GENERAL, bob, "b-1", "@Ada agreed", Some(hello.0))).await;
    let answer = answer.unwrap().message.seq;
    let edit = MessageEdit {
        channel: GENERAL,
        seq: hello,
        editor: ada,
        body: MessageBody::parse("hello @bob and @channel, see the zebracorn (edited)".into()).unwrap(),
        if_rev: None,
    };
    store.edit_message(edit).await.unwrap();
    for (user, emoji) in [(bob, "👍"), (carol, "👍"), (ada, "🎉")] {
        store.react(react(GENERAL, hello, user, emoji)).await.unwrap();
    }
    store.react(react(GENERAL, answer, ada, "❤️")).await.unwrap();
    let oops = store.append_message(post(GENERAL, bob, "b-2", "oops, quokkaberry", None)).await.unwrap();
    store.react(react(GENERAL, oops.message.seq, carol, "😂")).await.unwrap();
    let removal = MessageRemoval { channel: GENERAL, seq: oops.message.seq, by: bob };
    store.delete_message(removal).await.unwrap();
    let rude = store.append_message(post(GENERAL, carol, "c-1", "something rude", None)).await.unwrap();
    let removal = MessageRemoval { channel: GENERAL, seq: rude.message.seq, by: ada };
    store.delete_message(removal).await.unwrap();
    store.append_message(post(GENERAL, visitor, "v-1", "hi from the second visitor", None)).await.unwrap();

    // Yogurt: carol joins and leaves again, with her system lines.
    store.add_member(yogurt, carol, None).await.unwrap();
    for (kind, client_id) in [(SystemKind::Joined, "sys-c-joined"), (SystemKind::Left, "sys-c-left")] {
        let line = NewSystemLine {
            channel: yogurt,
            actor: carol,
            kind,
            subject: carol,
            client_id: client_id.into(),
        };
        store.append_system(line).await.unwrap();
        if kind == SystemKind::Joined {
            store.append_message(post(yogurt, carol, "c-2", "plain yogurt is best", None)).await.unwrap();
        }
    }
    store.remove_member(yogurt, carol).await.unwrap();
    store.add_member(yogurt, bob, Some(ada)).await.unwrap();
    store.set_notify(yogurt, bob, NotifyLevel::Mentions).await.unwrap();

    // The private channel and the DM: mentions of a member and of someone
    // outside (text only), a private word.
    store.append_message(post(secret, ada, "a-2", "@bob @carol the plan: marmaladon", None)).await.unwrap();
    store.append_message(post(dm, bob, "b-3", "just us, @ada", None)).await.unwrap();
    store.append_message(post(dm, ada, "a-3", "indeed", Some(1))).await.unwrap();

    store.mark_read(GENERAL, bob, answer).await.unwrap();
    store.mark_read(dm, ada, Seq(1)).await.unwrap();
    // What the channels say about themselves, and an archived one.
    let described = ChannelUpdate {
        channel: yogurt,
        by: ada,
        name: None,
        topic: Some("All about yogurt".into()),
        description: Some("Plain,\nGreek and\tskyr".into()),
        archived: None,
    };
    store.update_channel(described).await.unwrap();
    let archive = ChannelUpdate {
        channel: secret,
        by: ada,
        name: None,
        topic: None,
        description: None,
        archived: Some(true),
    };
    assert!(store.update_channel(archive).await.unwrap().1.archived);
    store.set_deactivated(&name("carol"), true).await.unwrap();
    store.set_profile(ada, Some("Ada Lovelace".into()), Some("Europe/London".into())).await.unwrap();
    Workspace {
        users: vec![ada, bob, carol, old_visitor, visitor],
        channels: vec![GENERAL, yogurt, secret, dm],
        bob,
    }
}

/// Every message of `channel` as the store reads it.
async fn messages_of(store: &Arc<dyn Store>, channel: ChannelId) -> Vec<Message> {
    store.messages_after(channel, Seq(0), 1000).await.unwrap()
}

/// Every channel as every user sees it.
async fn views(store: &Arc<dyn Store>, workspace: &Workspace) -> Vec<ChannelView> {
    let mut views = Vec::new();
    for &channel in &workspace.channels {
        for &user in &workspace.users {
            views.push(store.channel_view(channel, user).await.unwrap());
        }
    }
    views
}

/// Exports `source` (built with [`build`]) to a new directory under
/// `dir`, imports it into the empty `target`, and compares them.
async fn round_trip(source_url: &str, target_url: &str, dir: &Path) {
    let source = open(source_url).await;
    let workspace = build(&source).await;
    let export_dir = dir.join("export");
    let manifest = natter::store::export(source_url, &export_dir).await.unwrap();
    let counts = manifest.counts;
    assert_eq!(
        (counts.users, counts.channels, counts.members, counts.messages, counts.reactions),
        (5, 4, 11, 13, 4),
        "{manifest:?}"
    );
    let imported = natter::store::import(target_url, &export_dir).await.unwrap();
    assert_eq!(imported, manifest.counts);
    let target = open(target_url).await;

    // Messages, one by one: bodies, senders, seqs, revs, times, edits,
    // deletions, reactions (the summary made again), replies, system
    // lines, mentions (recorded again against the members).
    for &channel in &workspace.channels {
        let (before, after) = (messages_of(&source, channel).await, messages_of(&target, channel).await);
        assert!(!before.is_empty());
        assert_eq!(after, before, "channel {channel}");
    }
    let general = messages_of(&target, GENERAL).await;
    assert_eq!(general[1].reactions.iter().map(|r| r.count).sum::<u32>(), 3, "{:?}", general[1]);
    assert!(general[1].edited_at.is_some() && general[2].reply_to.is_some());
    assert_eq!(general[1].mentions.users, ["bob"]);
    // Channels, memberships, read markers, unread and mention counts,
    // levels, who added whom, DM members.
    assert_eq!(views(&target, &workspace).await, views(&source, &workspace).await);
    assert_eq!(target.channel_heads().await.unwrap().len(), 4);
    // Accounts as they were, without passwords, sessions or logins.
    let mut accounts = source.accounts(None, 100).await.unwrap();
    for account in &mut accounts {
        account.last_login_ms = None;
    }
    assert_eq!(target.accounts(None, 100).await.unwrap(), accounts);
    for user in ["ada", "bob", "visitor"] {
        let found = target.find_user(user).await.unwrap().unwrap();
        assert_eq!(found.password_hash, None, "{user}");
        assert_eq!(found.user, source.find_user(user).await.unwrap().unwrap().user);
    }
    assert!(target.find_user("carol").await.unwrap().unwrap().deactivated);
    assert!(target.session_user([5; 32], 0).await.unwrap().is_none(), "no sessions");
    assert!(target.is_admin(workspace.users[0]).await.unwrap());
    let profile = target.profile(&name("ada")).await.unwrap().unwrap();
    assert_eq!(Some(profile), source.profile(&name("ada")).await.unwrap(), "display name and time zone too");

    // Search finds what stands, as it stands, and only for members.
    let search = |searcher: UserId, text: &str| MessageSearch {
        searcher,
        terms: parse(text).unwrap().terms,
        limit: 10,
        ..MessageSearch::default()
    };
    let found = target.search(search(workspace.bob, "zebracorn edited")).await.unwrap();
    assert_eq!(found, vec![general[1].clone()]);
    assert!(target.search(search(workspace.bob, "quokkaberry")).await.unwrap().is_empty(), "deleted");
    assert_eq!(target.search(search(workspace.bob, "marmaladon")).await.unwrap().len(), 1);
    let carol = workspace.users[2];
    assert!(target.search(search(carol, "marmaladon")).await.unwrap().is_empty(), "not her channel");

    // Names, keys and DMs still answer; new rows go after the imported ones.
    let found = target.channels_named(&channel_name("YOGURT"), workspace.bob).await.unwrap();
    assert_eq!(found.iter().map(|view| view.channel.id).collect::<Vec<_>>(), [workspace.channels[1]]);
    let (dm, created) = target.open_dm(workspace.users[0], &[workspace.bob]).await.unwrap();
    assert_eq!((dm.id, created), (workspace.channels[3], false));
    let next = target.append_message(post(GENERAL, workspace.bob, "b-after", "after", None)).await.unwrap();
    let last = general.last().unwrap();
    assert_eq!(next.message.seq.0, last.seq.0 + 1);
    assert!(next.message.id.0 > last.id.0 && next.message.rev.0 > last.rev.0);
    let dave = target.create_user(&name("dave"), "h").await.unwrap();
    assert!(dave.id.0 > workspace.users.iter().map(|user| user.0).max().unwrap());
    let created =
        target.create_channel(&channel_name("new"), ChannelKind::Public, dave.id, 10).await.unwrap();
    assert!(created.id.0 > workspace.channels.iter().map(|channel| channel.0).max().unwrap());
    source.close().await;
    target.close().await;
}

mod sqlite {
    use super::*;

    pub(super) fn url(dir: &Path, file: &str) -> String {
        format!("sqlite://{}", dir.join(file).display())
    }

    #[tokio::test]
    async fn a_workspace_survives_export_and_import() {
        let dir = tempfile::tempdir().unwrap();
        round_trip(&url(dir.path(), "source.db"), &url(dir.path(), "target.db"), dir.path()).await;
    }
}

mod postgres {
    use super::*;
    use crate::services::fresh_postgres_database;

    #[tokio::test]
    async fn pg_a_workspace_survives_export_and_import() {
        let Some(source) = fresh_postgres_database().await else { return };
        let Some(target) = fresh_postgres_database().await else { return };
        let dir = tempfile::tempdir().unwrap();
        round_trip(&source, &target, dir.path()).await;
    }

    #[tokio::test]
    async fn pg_a_sqlite_workspace_moves_to_postgres() {
        let Some(target) = fresh_postgres_database().await else { return };
        let dir = tempfile::tempdir().unwrap();
        round_trip(&super::sqlite::url(dir.path(), "source.db"), &target, dir.path()).await;
    }
}
