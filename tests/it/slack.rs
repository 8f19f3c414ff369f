//! `natter import --slack`: the export of `slack/fixture.rs` goes into a
//! database that has an account and a message already, and comes out
//! message by message (bodies converted, authors, times, order, seqs,
//! replies, edits, reactions), channel by channel and account by account;
//! imported again, nothing changes. On SQLite and PostgreSQL (one line per
//! test at the bottom). What an import refuses is in `slack/hostile.rs`.

use std::path::Path;
use std::sync::Arc;

use natter::metrics::Metrics;
use natter::model::{ChannelId, ChannelKind, ChannelView, ClientId, Message, MessageBody, Seq, UserName};
use natter::slack::{Limits, NewAndFound, Summary};
use natter::store::{NewMessage, Store};

/// The export, written in code.
mod fixture;
/// What an import refuses, and that it then writes nothing.
mod hostile;

const GENERAL: ChannelId = ChannelId(1);

async fn open(url: &str) -> Arc<dyn Store> {
    natter::store::open(url, Arc::new(Metrics::default())).await.unwrap()
}

async fn import(url: &str, zip: &Path) -> Summary {
    natter::slack::import(url, zip, Limits::default()).await.unwrap()
}

/// A message as checked: seq, sender, body, time, the seq it replies to,
/// edit time.
type Line = (i64, String, String, i64, Option<i64>, Option<i64>);

fn line(seq: i64, sender: &str, body: &str, ts: i64, reply_to: Option<i64>, edited: Option<i64>) -> Line {
    (seq, sender.to_owned(), body.to_owned(), ts, reply_to, edited)
}

async fn messages_of(store: &Arc<dyn Store>, channel: ChannelId) -> Vec<Message> {
    store.messages_after(channel, Seq(0), 1000).await.unwrap()
}

async fn lines_of(store: &Arc<dyn Store>, channel: ChannelId) -> Vec<Line> {
    let messages = messages_of(store, channel).await;
    messages
        .iter()
        .map(|m| {
            (
                m.seq.0,
                m.sender_name.clone(),
                m.body.clone(),
                m.ts,
                m.reply_to.as_ref().map(|q| q.seq.0),
                m.edited_at,
            )
        })
        .collect()
}

/// Every channel ada is in, by name.
async fn channel(store: &Arc<dyn Store>, viewer: &str, name: &str) -> ChannelView {
    let viewer = store.find_user(viewer).await.unwrap().unwrap().user.id;
    let views = store.channels_of(viewer).await.unwrap();
    views.into_iter().find(|view| view.channel.name == name).unwrap_or_else(|| panic!("no channel {name}"))
}

/// Everything an import could change, to compare before and after.
async fn snapshot(
    store: &Arc<dyn Store>,
) -> (Vec<natter::store::Account>, Vec<Vec<Message>>, Vec<ChannelView>) {
    let accounts = store.accounts(None, 100).await.unwrap();
    let mut heads = store.channel_heads().await.unwrap();
    heads.sort();
    let mut messages = Vec::new();
    for (channel, _) in &heads {
        messages.push(messages_of(store, *channel).await);
    }
    let mut views = Vec::new();
    for account in &accounts {
        views.extend(store.channels_of(account.user.id).await.unwrap());
    }
    (accounts, messages, views)
}

async fn main_round(url: &str, dir: &Path) {
    let zip = dir.join("export.zip");
    fixture::zip_up(&zip, &fixture::entries());
    // natter has dora already (with a password), who wrote in General.
    let store = open(url).await;
    let dora = store.create_user(&UserName::parse("dora").unwrap(), "hash-d").await.unwrap();
    let before = NewMessage {
        channel: GENERAL,
        sender: dora.id,
        client_id: ClientId::parse("d-1".into()).unwrap(),
        body: MessageBody::parse("before the import".into()).unwrap(),
        reply_to: None,
        files: Vec::new(),
    };
    store.append_message(before).await.unwrap();
    store.close().await;

    let summary = import(url, &zip).await;
    assert_eq!(summary.users, NewAndFound { new: 8, found: 1 }, "{summary}");
    assert_eq!(summary.channels, NewAndFound { new: 5, found: 1 }, "{summary}");
    assert_eq!(summary.messages, NewAndFound { new: 19, found: 0 }, "{summary}");
    assert_eq!(summary.reactions, 3);
    let tally = &summary.tally;
    assert_eq!(
        tally.notices.iter().map(|(k, n)| (k.as_str(), *n)).collect::<Vec<_>>(),
        [("channel_join", 1), ("channel_topic", 1)]
    );
    assert_eq!((tally.split, tally.parts, tally.cleaned, tally.unknown_authors), (1, 2, 1, 2));
    assert_eq!((tally.custom_reactions, tally.empty, tally.orphan_replies), (1, 0, 0));
    assert_eq!(summary.unlisted_folders, ["stray"]);
    let said = summary.to_string();
    assert!(
        said.contains("messages: 19 new, 0 already there") && said.contains("1 reactions with custom emoji"),
        "{said}"
    );

    let store = open(url).await;
    // Accounts: names made to fit natter's rules, clashes numbered; no
    // passwords but dora's own; Slack's admins and deleted users and bots.
    let accounts = store.accounts(None, 100).await.unwrap();
    let shown: Vec<(&str, bool, bool)> =
        accounts.iter().map(|a| (a.user.name.as_str(), a.admin, a.deactivated)).collect();
    assert_eq!(
        shown,
        [
            ("ada", true, false),
            ("bob", false, false),
            ("buildbot", false, true),
            ("carol", false, true),
            ("dora", false, false),
            ("jose.garcia", false, false),
            ("jose.garcia-2", false, false),
            ("slack-U08", false, false),
            ("slack-unknown", false, true),
        ]
    );
    assert_eq!(store.find_user("ada").await.unwrap().unwrap().password_hash, None);
    assert_eq!(store.find_user("dora").await.unwrap().unwrap().password_hash.as_deref(), Some("hash-d"));

    // General: Slack's #general, after dora's message, in time order.
    let essay = fixture::essay();
    let (essay_1, essay_2) = essay.split_at(essay.match_indices('\n').nth(80).unwrap().0);
    let day_1 = 1_614_556_800_000;
    let day_2 = 1_614_643_200_000;
    let general = lines_of(&store, GENERAL).await;
    assert_eq!(general[0].1, "dora");
    assert_eq!(
        general[1..],
        [
            line(
                2,
                "ada",
                "Welcome @channel! Read [the rules](https://example.com/rules) & say hi 👋",
                day_1,
                None,
                None
            ),
            line(
                3,
                "bob",
                "Hi @ada, **great** to be here ~~not~~",
                day_1 + 100_000,
                Some(2),
                Some(day_1 + 200_000)
            ),
            line(4, "slack-unknown", "GitHub:\nBuild passed", day_2, None, None),
            line(5, "slack-unknown", "who am I?", day_2 + 50_000, None, None),
            line(
                6,
                "jose.garcia-2",
                "Ça va? 日本語のテキスト 🎉 see #random and @slack-U08",
                day_2 + 100_000,
                None,
                None
            ),
            line(7, "ada", "here is the plan\n[file: plan.pdf]", day_2 + 200_000, None, None),
            line(8, "dora", "[file: photo.png]", day_2 + 300_000, None, None),
            line(9, "ada", essay_1, day_2 + 400_000, None, None),
            line(10, "ada", &essay_2[1..], day_2 + 400_000, None, None),
            line(11, "bob", "nice essay 👍🏼", day_2 + 500_000, Some(9), None),
            line(12, "buildbot", "Deploy finished", day_2 + 600_000, None, None),
        ]
    );
    let messages = messages_of(&store, GENERAL).await;
    let reactions = |seq: usize| {
        let reactions = &messages[seq - 1].reactions;
        reactions.iter().map(|r| (r.emoji.clone(), r.users.clone())).collect::<Vec<_>>()
    };
    assert_eq!(reactions(2), [("👍".to_owned(), vec!["bob".to_owned(), "jose.garcia-2".to_owned()])]);
    assert_eq!(reactions(9), [("🎉".to_owned(), vec!["bob".to_owned()])]);
    assert!(reactions(10).is_empty(), "a split message's reactions are on its first part");
    assert_eq!(messages[2].mentions.users, ["ada"], "mentions are recorded");
    assert_eq!(messages[1].client_id, "slack-C01-1614556800.000100");
    assert_eq!(messages[9].client_id, "slack-C01-1614643600.000000-2");
    // History is not news: members have read it.
    let view = store.channel_view(GENERAL, messages[1].sender).await.unwrap();
    assert_eq!((view.read_seq, view.unread, view.mentions), (Seq(12), 0, 0));

    // The other channels, their kinds, members, settings and messages.
    let random = channel(&store, "bob", "random").await;
    assert_eq!(random.channel.kind, ChannelKind::Public);
    assert_eq!(
        (random.about.topic.as_str(), random.about.description.as_str()),
        ("@bob's corner", "Anything & everything")
    );
    assert_eq!(
        lines_of(&store, random.channel.id).await,
        [
            line(1, "ada", "@bob 😄", day_1 + 1000, None, None),
            line(2, "jose.garcia", "bell and flipped", day_1 + 2000, None, None)
        ]
    );
    let old = channel(&store, "ada", "old-stuff").await;
    assert!(old.about.archived);
    assert_eq!(
        lines_of(&store, old.channel.id).await,
        [line(1, "carol", "archived history", 1_609_459_200_000, None, None)]
    );
    let secret = channel(&store, "bob", "secret").await;
    assert_eq!(secret.channel.kind, ChannelKind::Private);
    assert_eq!(
        lines_of(&store, secret.channel.id).await,
        [
            line(1, "ada", "the plan, @bob", day_1 + 100_000, None, None),
            line(2, "bob", "ok", day_1 + 101_000, Some(1), None)
        ]
    );
    let jose = store.find_user("jose.garcia-2").await.unwrap().unwrap().user.id;
    assert!(!store.is_member(secret.channel.id, jose).await.unwrap(), "private channels keep their members");
    let group = channel(&store, "jose.garcia", "ada, bob, jose.garcia").await;
    assert_eq!(group.channel.kind, ChannelKind::Private);
    assert_eq!(
        lines_of(&store, group.channel.id).await,
        [line(1, "jose.garcia", "group hello", day_1 + 170_000, None, None)]
    );
    let ada = store.find_user("ada").await.unwrap().unwrap().user.id;
    let bob = store.find_user("bob").await.unwrap().unwrap().user.id;
    let (dm, created) = store.open_dm(ada, &[bob]).await.unwrap();
    assert!(!created, "the DM was imported");
    assert_eq!(
        lines_of(&store, dm.id).await,
        [
            line(1, "bob", "psst", day_1 + 150_000, None, None),
            line(2, "ada", "yes?", day_1 + 160_000, None, None)
        ]
    );
    let before = snapshot(&store).await;
    store.close().await;

    // Again: nothing new, nothing changed.
    let again = import(url, &zip).await;
    assert_eq!(
        (again.users, again.channels, again.messages, again.reactions),
        (
            NewAndFound { new: 0, found: 9 },
            NewAndFound { new: 0, found: 6 },
            NewAndFound { new: 0, found: 19 },
            0
        )
    );
    let store = open(url).await;
    assert_eq!(snapshot(&store).await, before);
    store.close().await;
}

mod sqlite {
    use super::*;

    pub(super) fn url(dir: &Path) -> String {
        format!("sqlite://{}", dir.join("natter.db").display())
    }

    #[tokio::test]
    async fn a_slack_export_is_imported_once() {
        let dir = tempfile::tempdir().unwrap();
        main_round(&url(dir.path()), dir.path()).await;
    }

    /// An import that stopped half-way (here: an export holding only the
    /// first of its days) is carried on by the next, which stores only
    /// what is missing and ends where one import of the whole would.
    #[tokio::test]
    async fn an_import_stopped_half_way_carries_on() {
        let dir = tempfile::tempdir().unwrap();
        let (resumed, whole) = (dir.path().join("resumed"), dir.path().join("whole"));
        std::fs::create_dir_all(&resumed).unwrap();
        std::fs::create_dir_all(&whole).unwrap();
        let later = |name: &str| {
            name.contains("2021-03-02") || name.starts_with("D01/") || name.starts_with("secret/")
        };
        let first_part: Vec<_> = fixture::entries().into_iter().filter(|(name, _)| !later(name)).collect();
        let (part_zip, zip) = (dir.path().join("part.zip"), dir.path().join("export.zip"));
        fixture::zip_up(&part_zip, &first_part);
        fixture::zip_up(&zip, &fixture::entries());

        let first = import(&url(&resumed), &part_zip).await;
        assert_eq!(first.messages, NewAndFound { new: 6, found: 0 });
        let rest = import(&url(&resumed), &zip).await;
        assert_eq!((rest.messages, rest.channels.new), (NewAndFound { new: 13, found: 6 }, 0));
        import(&url(&whole), &zip).await;
        let (resumed, whole) = (open(&url(&resumed)).await, open(&url(&whole)).await);
        let ada = resumed.find_user("ada").await.unwrap().unwrap().user.id;
        let channels = resumed.channels_of(ada).await.unwrap();
        assert_eq!(channels.len(), 6);
        for view in channels {
            let name = view.channel.name.as_str();
            let other = channel(&whole, "ada", name).await;
            assert_eq!(
                lines_of(&resumed, view.channel.id).await,
                lines_of(&whole, other.channel.id).await,
                "{name}"
            );
        }
    }

    /// The command itself, as an operator runs it.
    #[tokio::test]
    async fn the_command_says_what_it_did() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("export.zip");
        fixture::zip_up(&zip, &fixture::entries());
        let database = url(dir.path());
        let run = move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
                .args(["import", "--slack"])
                .arg(&zip)
                .args(["--database", &database])
                .output()
                .unwrap()
        };
        let first = tokio::task::spawn_blocking(run.clone()).await.unwrap();
        let said = String::from_utf8_lossy(&first.stdout);
        assert!(first.status.success(), "{said} {}", String::from_utf8_lossy(&first.stderr));
        assert!(said.contains("users: 9 new, 0 already there") && said.contains("reset-password"), "{said}");
        let second = tokio::task::spawn_blocking(run).await.unwrap();
        let said = String::from_utf8_lossy(&second.stdout);
        assert!(said.contains("messages: 0 new, 19 already there"), "{said}");
    }
}

mod postgres {
    use super::*;
    use crate::services::fresh_postgres_database;

    #[tokio::test]
    async fn pg_a_slack_export_is_imported_once() {
        let Some(url) = fresh_postgres_database().await else { return };
        let dir = tempfile::tempdir().unwrap();
        main_round(&url, dir.path()).await;
    }
}
