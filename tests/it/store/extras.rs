//! The conformance suite for what a message carries besides its body:
//! reactions, the quote of the message it replies to, whom it mentions, and
//! the unread and mention counts of a member's view. Every backend runs
//! these same checks (one line per test at the bottom).

use std::sync::Arc;

use natter::metrics::Metrics;
use natter::model::{
    ChannelKind, ClientId, Emoji, MAX_REACTION_KINDS, MessageBody, NotifyLevel, Quote, Reaction, Seq, UserId,
};
use natter::store::{MessageEdit, MessageReaction, MessageRemoval, NewMessage, Store, StoreError};

use super::{GENERAL, channel_name, message, name};

fn react(seq: i64, user: UserId, emoji: &str, add: bool) -> MessageReaction {
    MessageReaction { channel: GENERAL, seq: Seq(seq), user, emoji: Emoji::parse(emoji).unwrap(), add }
}

fn reply(sender: UserId, client_id: &str, body: &str, to: i64) -> NewMessage {
    NewMessage {
        channel: GENERAL,
        sender,
        client_id: ClientId::parse(client_id.into()).unwrap(),
        body: MessageBody::parse(body.into()).unwrap(),
        reply_to: Some(Seq(to)),
        files: Vec::new(),
    }
}

fn reaction(emoji: &str, users: &[&str]) -> Reaction {
    Reaction {
        emoji: emoji.into(),
        count: users.len() as u32,
        users: users.iter().map(|u| (*u).into()).collect(),
    }
}

async fn reactions(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    let seq = store.append_message(message(GENERAL, alice.id, "a-1", "hi")).await.unwrap().message.seq.0;

    let added = store.react(react(seq, bob.id, "👍", true)).await.unwrap();
    assert!(added.changed);
    assert_eq!((added.message.rev.0, added.message.reactions.clone()), (2, vec![reaction("👍", &["bob"])]));
    let again = store.react(react(seq, bob.id, "👍", true)).await.unwrap();
    assert!(!again.changed, "already there: no rev");
    assert_eq!(again.message.rev.0, 2);
    store.react(react(seq, alice.id, "👍", true)).await.unwrap();
    let both = store.react(react(seq, alice.id, "🎉", true)).await.unwrap().message;
    assert_eq!(both.reactions, [reaction("👍", &["bob", "alice"]), reaction("🎉", &["alice"])]);
    let taken = store.react(react(seq, bob.id, "👍", false)).await.unwrap();
    assert!(taken.changed);
    assert_eq!(taken.message.reactions, [reaction("👍", &["alice"]), reaction("🎉", &["alice"])]);
    assert!(!store.react(react(seq, bob.id, "👍", false)).await.unwrap().changed, "already gone");
    // Reads show them as they stand, and the rev stream has the latest.
    assert_eq!(store.history(GENERAL, None, 10).await.unwrap()[0].reactions, taken.message.reactions);
    let changes = store.changes_after(GENERAL, natter::model::Rev(1), 10).await.unwrap();
    assert_eq!(changes.iter().map(|m| (m.seq.0, m.rev.0)).collect::<Vec<_>>(), [(1, taken.message.rev.0)]);

    // At most MAX_REACTION_KINDS different emoji.
    let emoji = [
        "😀", "😃", "😄", "😁", "😆", "😅", "😂", "🤣", "😊", "😇", "🙂", "🙃", "😉", "😌", "😍", "🥰", "😘",
        "😗",
    ];
    for one in emoji {
        store.react(react(seq, alice.id, one, true)).await.unwrap();
    }
    let full = store.history(GENERAL, None, 1).await.unwrap().remove(0);
    assert_eq!(full.reactions.len(), MAX_REACTION_KINDS);
    let refused = store.react(react(seq, bob.id, "🤔", true)).await;
    assert!(matches!(refused, Err(StoreError::LimitReached)), "{refused:?}");
    assert!(store.react(react(seq, bob.id, "😀", true)).await.unwrap().changed, "a kind already there");

    // Not a member, no message, a deleted one.
    let private =
        store.create_channel(&channel_name("p"), ChannelKind::Private, alice.id, 10).await.unwrap().id;
    let in_private = store.append_message(message(private, alice.id, "a-p", "secret")).await.unwrap().message;
    let outsider =
        MessageReaction { channel: private, seq: in_private.seq, ..react(1, bob.id, "👍", true) };
    assert!(matches!(store.react(outsider).await, Err(StoreError::NotMember)));
    assert!(matches!(store.react(react(99, bob.id, "👍", true)).await, Err(StoreError::NoSuchMessage)));
    let deleted =
        store.delete_message(MessageRemoval { channel: GENERAL, seq: Seq(seq), by: alice.id }).await;
    assert!(deleted.unwrap().message.reactions.is_empty(), "a tombstone keeps no reactions");
    assert!(matches!(store.react(react(seq, bob.id, "👍", true)).await, Err(StoreError::NoSuchMessage)));
}

async fn replies(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    let parent = store.append_message(message(GENERAL, alice.id, "a-1", "\nthe plan\nin two lines")).await;
    let parent = parent.unwrap().message.seq.0;
    let answer = store.append_message(reply(bob.id, "b-1", "agreed", parent)).await.unwrap().message;
    let quote = Quote { seq: Seq(parent), sender: "alice".into(), excerpt: "the plan".into() };
    assert_eq!(answer.reply_to, Some(quote.clone()), "the first line with words on it");
    assert_eq!(store.history(GENERAL, None, 1).await.unwrap()[0].reply_to, Some(quote));
    let edit = MessageEdit {
        channel: GENERAL,
        seq: Seq(parent),
        editor: alice.id,
        body: MessageBody::parse("new plan".into()).unwrap(),
        if_rev: None,
    };
    store.edit_message(edit).await.unwrap();
    let read = store.history(GENERAL, None, 1).await.unwrap().remove(0);
    assert_eq!(read.reply_to.map(|q| q.excerpt), Some("new plan".into()), "the quote follows the edit");
    store.delete_message(MessageRemoval { channel: GENERAL, seq: Seq(parent), by: alice.id }).await.unwrap();
    let read = store.history(GENERAL, None, 1).await.unwrap().remove(0);
    assert_eq!(read.reply_to.map(|q| q.excerpt), Some(String::new()), "a deleted one quotes nothing");

    // No reply to a deleted or missing message; a retry is still the original.
    for (client_id, to) in [("b-2", parent), ("b-3", 99)] {
        let refused = store.append_message(reply(bob.id, client_id, "hm", to)).await;
        assert!(matches!(refused, Err(StoreError::NoSuchMessage)), "{to}: {refused:?}");
    }
    let retried = store.append_message(reply(bob.id, "b-1", "agreed", parent)).await.unwrap();
    assert!(!retried.created);
    assert_eq!(retried.message.seq, answer.seq);
    let head = store.channel_view(GENERAL, bob.id).await.unwrap();
    assert_eq!(head.last_seq, answer.seq, "refused replies took no seq");
}

async fn mentions_and_counts(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    let carol = store.create_user(&name("carol"), "h").await.unwrap();
    let private =
        store.create_channel(&channel_name("p"), ChannelKind::Private, alice.id, 10).await.unwrap().id;
    store.add_member(private, bob.id, Some(alice.id)).await.unwrap();
    let body = |text: &str| NewMessage {
        body: MessageBody::parse(text.into()).unwrap(),
        ..message(private, alice.id, "x", "x")
    };
    let named = store
        .append_message(NewMessage {
            client_id: ClientId::parse("a-1".into()).unwrap(),
            ..body("@BOB @carol @alice hi")
        })
        .await
        .unwrap()
        .message;
    assert_eq!(
        named.mentions.users,
        ["bob", "alice"],
        "members only, as they spell themselves; carol is not in"
    );
    assert!(!named.mentions.channel);
    let everyone = store
        .append_message(NewMessage {
            client_id: ClientId::parse("a-2".into()).unwrap(),
            ..body("@channel and @bob")
        })
        .await
        .unwrap()
        .message;
    assert!(everyone.mentions.channel);
    store
        .append_message(NewMessage { client_id: ClientId::parse("a-3".into()).unwrap(), ..body("plain") })
        .await
        .unwrap();
    store.append_message(message(private, bob.id, "b-1", "@alice mine")).await.unwrap();

    let bobs = store.channel_view(private, bob.id).await.unwrap();
    assert_eq!((bobs.unread, bobs.mentions), (3, 2), "not his own; @channel and @bob count once");
    let alices = store.channel_view(private, alice.id).await.unwrap();
    assert_eq!((alices.unread, alices.mentions), (1, 1), "her own mention of herself does not count");
    assert_eq!(store.channel_view(private, carol.id).await.unwrap().unread, 0, "not a member");

    // An edit finds them again; a deletion counts for nothing.
    let edit = MessageEdit {
        channel: private,
        seq: named.seq,
        editor: alice.id,
        body: MessageBody::parse("no one now".into()).unwrap(),
        if_rev: None,
    };
    assert!(store.edit_message(edit).await.unwrap().message.mentions.users.is_empty());
    store.delete_message(MessageRemoval { channel: private, seq: everyone.seq, by: alice.id }).await.unwrap();
    let bobs = store.channel_view(private, bob.id).await.unwrap();
    assert_eq!((bobs.unread, bobs.mentions), (2, 0));
    store.mark_read(private, bob.id, Seq(bobs.last_seq.0 - 1)).await.unwrap();
    let bobs = store.channel_view(private, bob.id).await.unwrap();
    assert_eq!((bobs.unread, bobs.mentions), (0, 0), "only his own is after the marker");

    // Levels and autocomplete.
    assert_eq!(bobs.notify, NotifyLevel::All);
    assert!(store.set_notify(private, bob.id, NotifyLevel::Mentions).await.unwrap());
    assert_eq!(store.channel_view(private, bob.id).await.unwrap().notify, NotifyLevel::Mentions);
    assert!(!store.set_notify(private, carol.id, NotifyLevel::None).await.unwrap(), "not a member");
    assert_eq!(store.channel_members(private, "", None, 10).await.unwrap(), ["alice", "bob"]);
    assert_eq!(store.channel_members(private, "b", None, 10).await.unwrap(), ["bob"]);
    assert_eq!(store.channel_members(GENERAL, "", None, 2).await.unwrap(), ["alice", "bob"]);
    // Pages continue after the last name of the one before.
    assert_eq!(store.channel_members(GENERAL, "", Some("alice"), 2).await.unwrap(), ["bob", "carol"]);
    assert_eq!(store.channel_members(GENERAL, "", Some("bob"), 1).await.unwrap(), ["carol"]);
    assert!(store.channel_members(GENERAL, "", Some("carol"), 5).await.unwrap().is_empty());
    assert_eq!(
        store.channel_members(GENERAL, "b", Some("a"), 5).await.unwrap(),
        ["bob"],
        "the prefix still holds"
    );
}

mod sqlite {
    async fn memory() -> std::sync::Arc<dyn natter::store::Store> {
        natter::store::open("sqlite::memory:", std::sync::Arc::new(super::Metrics::default())).await.unwrap()
    }

    #[tokio::test]
    async fn reactions() {
        super::reactions(memory().await).await;
    }

    #[tokio::test]
    async fn replies() {
        super::replies(memory().await).await;
    }

    #[tokio::test]
    async fn mentions_and_counts() {
        super::mentions_and_counts(memory().await).await;
    }
}

mod postgres {
    use crate::services::fresh_postgres_database;

    async fn store() -> Option<std::sync::Arc<dyn natter::store::Store>> {
        let url = fresh_postgres_database().await?;
        Some(natter::store::open(&url, std::sync::Arc::new(super::Metrics::default())).await.unwrap())
    }

    #[tokio::test]
    async fn pg_reactions() {
        let Some(store) = store().await else { return };
        super::reactions(store).await;
    }

    #[tokio::test]
    async fn pg_replies() {
        let Some(store) = store().await else { return };
        super::replies(store).await;
    }

    #[tokio::test]
    async fn pg_mentions_and_counts() {
        let Some(store) = store().await else { return };
        super::mentions_and_counts(store).await;
    }
}
