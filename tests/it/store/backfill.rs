//! The conformance suite for history made elsewhere (`store::Backfill`):
//! accounts without a password, found by name the second time; messages
//! with their own times, edits, replies and reactions, idempotent by client
//! id, and what they are refused. Every backend runs these same checks (one
//! line per test at the bottom).

use std::sync::Arc;

use natter::metrics::Metrics;
use natter::model::{
    ChannelKind, ClientId, Emoji, MAX_REACTION_KINDS, MessageBody, Quote, Reaction, Seq, UserId,
};
use natter::search::query::parse;
use natter::store::{BackfillMessage, BackfillUser, ChannelUpdate, MessageSearch, Store, StoreError};

use super::{GENERAL, channel_name, name};

fn old(
    channel: natter::model::ChannelId,
    sender: UserId,
    client_id: &str,
    body: &str,
    ts: i64,
) -> BackfillMessage {
    BackfillMessage {
        channel,
        sender,
        client_id: ClientId::parse(client_id.into()).unwrap(),
        body: MessageBody::parse(body.into()).unwrap(),
        ts,
        edited_at: None,
        reply_to: None,
        reactions: Vec::new(),
    }
}

fn emoji(raw: &str) -> Emoji {
    Emoji::parse(raw).unwrap()
}

async fn accounts(store: Arc<dyn Store>) {
    let wanted = BackfillUser { name: name("Ada"), admin: true, deactivated: false };
    let (ada, created) = store.backfill_user(wanted.clone()).await.unwrap();
    assert!(created && !ada.guest && ada.name == "Ada");
    let found = store.find_user("ada").await.unwrap().unwrap();
    assert_eq!((found.user.id, found.password_hash, found.deactivated), (ada.id, None, false));
    assert!(store.is_admin(ada.id).await.unwrap());
    assert!(store.is_member(GENERAL, ada.id).await.unwrap(), "everyone is in General");
    // Found the second time, by name without case, and left as it is.
    let again = BackfillUser { name: name("ADA"), admin: false, deactivated: true };
    assert_eq!(store.backfill_user(again).await.unwrap(), (ada.clone(), false));
    assert!(
        store.is_admin(ada.id).await.unwrap() && !store.find_user("ada").await.unwrap().unwrap().deactivated
    );
    // An account made by someone else is found too, its password kept.
    let bob = store.create_user(&name("bob"), "hash-b").await.unwrap();
    let wanted = BackfillUser { name: name("bob"), admin: true, deactivated: false };
    assert_eq!(store.backfill_user(wanted).await.unwrap(), (bob.clone(), false));
    let found = store.find_user("bob").await.unwrap().unwrap();
    assert_eq!(found.password_hash.as_deref(), Some("hash-b"));
    assert!(!store.is_admin(bob.id).await.unwrap(), "not made an admin by an import");
    // A deactivated one keeps its messages but cannot log in.
    let wanted = BackfillUser { name: name("gone"), admin: false, deactivated: true };
    let (gone, _) = store.backfill_user(wanted).await.unwrap();
    assert!(store.find_user("gone").await.unwrap().unwrap().deactivated);
    assert_eq!(store.deactivated_since(0).await.unwrap(), [gone.id]);
}

async fn messages(store: Arc<dyn Store>) {
    let user = |raw: &str| BackfillUser { name: name(raw), admin: false, deactivated: false };
    let (ada, _) = store.backfill_user(user("ada")).await.unwrap();
    let (bob, _) = store.backfill_user(user("bob")).await.unwrap();
    let (carol, _) = store.backfill_user(user("carol")).await.unwrap();
    let channel =
        store.create_channel(&channel_name("past"), ChannelKind::Private, ada.id, 10).await.unwrap().id;
    store.add_member(channel, bob.id, None).await.unwrap();

    // Carol is not a member: history is stored all the same.
    let mut first = old(channel, carol.id, "slack-C1-1", "hello @bob, the zebracorn", 1_000_000);
    first.edited_at = Some(1_000_500);
    first.reactions =
        vec![(emoji("👍"), bob.id), (emoji("🎉"), ada.id), (emoji("👍"), carol.id), (emoji("👍"), bob.id)];
    let stored = store.backfill_message(first.clone()).await.unwrap();
    assert!(stored.created);
    let message = stored.message;
    assert_eq!((message.seq, message.ts, message.edited_at), (Seq(1), 1_000_000, Some(1_000_500)));
    assert_eq!((message.sender_name.as_str(), message.body.as_str()), ("carol", "hello @bob, the zebracorn"));
    assert_eq!(
        message.reactions,
        [
            Reaction { emoji: "👍".into(), count: 2, users: vec!["bob".into(), "carol".into()] },
            Reaction { emoji: "🎉".into(), count: 1, users: vec!["ada".into()] },
        ],
        "in the order given, a repeat ignored"
    );
    assert_eq!(message.mentions.users, ["bob"], "mentions of members are recorded");
    let mut reply = old(channel, ada.id, "slack-C1-2", "indeed", 900_000);
    reply.reply_to = Some(Seq(1));
    let reply = store.backfill_message(reply).await.unwrap().message;
    assert_eq!((reply.seq, reply.ts), (Seq(2), 900_000), "the next seq, whatever the time");
    let quote = Quote { seq: Seq(1), sender: "carol".into(), excerpt: "hello @bob, the zebracorn".into() };
    assert_eq!(reply.reply_to, Some(quote));
    let head = store.channel_view(channel, ada.id).await.unwrap();
    assert_eq!((head.last_seq, head.last_rev.0), (Seq(2), 2), "one rev each, reactions included");
    assert_eq!(store.messages_after(channel, Seq(0), 10).await.unwrap(), [message.clone(), reply.clone()]);

    // The same sender and client id again: the original, nothing written.
    let again = store.backfill_message(old(channel, carol.id, "slack-C1-1", "other text", 5)).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.message, message);
    assert_eq!(store.channel_view(channel, ada.id).await.unwrap().last_rev.0, 2);

    // Searchable, for members.
    let search = |searcher| MessageSearch {
        searcher,
        terms: parse("zebracorn").unwrap().terms,
        limit: 10,
        ..MessageSearch::default()
    };
    assert_eq!(store.search(search(bob.id)).await.unwrap(), std::slice::from_ref(&message));

    // An archived channel takes history too.
    let archive = ChannelUpdate {
        channel,
        by: ada.id,
        name: None,
        topic: None,
        description: None,
        archived: Some(true),
    };
    store.update_channel(archive).await.unwrap();
    let late = store.backfill_message(old(channel, bob.id, "slack-C1-3", "late", 1_100_000)).await.unwrap();
    assert_eq!(late.message.seq, Seq(3));

    // Refusals write nothing.
    let mut orphan = old(channel, bob.id, "slack-C1-4", "to nothing", 1);
    orphan.reply_to = Some(Seq(99));
    assert!(matches!(store.backfill_message(orphan).await, Err(StoreError::NoSuchMessage)));
    let nowhere = old(natter::model::ChannelId(999), bob.id, "slack-C9-1", "x", 1);
    assert!(matches!(store.backfill_message(nowhere).await, Err(StoreError::NoSuchChannel)));
    let mut crowded = old(GENERAL, bob.id, "slack-C1-5", "crowded", 1);
    let faces = emojis::Group::SmileysAndEmotion.emojis().take(MAX_REACTION_KINDS + 1);
    crowded.reactions = faces.map(|face| (emoji(face.as_str()), bob.id)).collect();
    assert!(matches!(store.backfill_message(crowded).await, Err(StoreError::LimitReached)));
    assert_eq!(store.channel_view(channel, ada.id).await.unwrap().last_seq, Seq(3));
    assert_eq!(store.channel_view(GENERAL, ada.id).await.unwrap().last_seq, Seq(0));
}

mod sqlite {
    async fn memory() -> std::sync::Arc<dyn natter::store::Store> {
        natter::store::open("sqlite::memory:", std::sync::Arc::new(super::Metrics::default())).await.unwrap()
    }

    #[tokio::test]
    async fn backfill_accounts() {
        super::accounts(memory().await).await;
    }

    #[tokio::test]
    async fn backfill_messages() {
        super::messages(memory().await).await;
    }
}

mod postgres {
    use crate::services::fresh_postgres_database;

    async fn store() -> Option<std::sync::Arc<dyn natter::store::Store>> {
        let url = fresh_postgres_database().await?;
        Some(natter::store::open(&url, std::sync::Arc::new(super::Metrics::default())).await.unwrap())
    }

    #[tokio::test]
    async fn pg_backfill_accounts() {
        let Some(store) = store().await else { return };
        super::accounts(store).await;
    }

    #[tokio::test]
    async fn pg_backfill_messages() {
        let Some(store) = store().await else { return };
        super::messages(store).await;
    }
}
