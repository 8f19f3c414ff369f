//! Mentions, unread counts and notification levels, over real sockets: the
//! server finds `@name` and `@channel`, counts what is unread for each
//! member, and keeps each member's level on all their devices.

use natter::protocol::{ChannelInfo, ErrorCode, NotifyLevel, ServerMessage};
use serde_json::json;

use crate::harness::{Client, GENERAL, ServerMessageExt, TestServer, recv, unpack};

/// The channel of that id as a fresh connection's welcome shows it.
async fn welcomed(server: &TestServer, token: &str, channel: i64) -> ChannelInfo {
    let mut client = Client::connect(server, token).await;
    let welcome = client.hello(json!({})).await;
    welcome.channels.into_iter().find(|info| info.id == channel).expect("the channel in the welcome")
}

#[tokio::test]
async fn mentions_are_members_named_in_the_body() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let (mut carol, _) = server.user("carol").await;
    alice.post(GENERAL, "@Bob, @carol and @nobody: @channel", "a-1").await;
    let seen = bob.message_with_body("@Bob, @carol and @nobody: @channel").await;
    assert_eq!(seen.mentions, ["bob", "carol"], "members, spelled as they spell themselves");
    assert!(seen.mentions_channel);

    // In a private channel, a non-member's name is plain text, like an unknown one.
    let reply = alice.request(json!({"type": "create_channel", "name": "plans", "private": true})).await;
    let private = unpack!(reply, ServerMessage::Channel { channel, .. } => channel.id);
    alice.request(json!({"type": "invite", "channel": private, "user": "bob"})).await;
    recv!(bob, "the invitation", ServerMessage::Channel { channel, .. } if channel.id == private => ());
    alice.post(private, "@bob @carol look", "a-2").await;
    let seen = bob.message_with_body("@bob @carol look").await;
    assert_eq!(seen.mentions, ["bob"], "carol is not in the channel");
    carol
        .assert_none(
            "the private message",
            |f| matches!(f, ServerMessage::Message(m) if m.channel == private),
        )
        .await;

    // An edit finds them again.
    let seq = seen.seq;
    let reply =
        alice.request(json!({"type": "edit", "channel": private, "seq": seq, "body": "never mind"})).await;
    let edited = unpack!(reply, ServerMessage::Changed { message, .. } => message);
    assert!(edited.mentions.is_empty(), "{edited:?}");
}

#[tokio::test]
async fn unread_and_mentions_are_counted_for_each_member() {
    let server = TestServer::start().await;
    let bob_token = server.register("bob").await;
    let (mut alice, _) = server.user("alice").await;
    let before = welcomed(&server, &bob_token, GENERAL).await;
    assert_eq!((before.unread, before.mentions), (0, 0));

    alice.post(GENERAL, "one", "a-1").await;
    alice.post(GENERAL, "hey @bob", "a-2").await;
    alice.post(GENERAL, "@channel lunch", "a-3").await;
    alice.post(GENERAL, "@bob @channel both", "a-4").await;
    let gone = alice.post(GENERAL, "@bob soon gone", "a-5").await.seq;
    alice.request(json!({"type": "delete", "channel": GENERAL, "seq": gone})).await;
    let after = welcomed(&server, &bob_token, GENERAL).await;
    assert_eq!((after.unread, after.mentions), (4, 3), "a deleted message counts for nothing");
    let alices = welcomed(&server, &alice.token, GENERAL).await;
    assert_eq!((alices.unread, alices.mentions), (0, 0), "one's own messages are read");

    // The read echo carries the counts after the marker.
    let mut bob = Client::connect(&server, &bob_token).await;
    bob.hello(json!({})).await;
    bob.send(json!({"type": "read", "channel": GENERAL, "seq": after.last_seq - 3})).await;
    let counts =
        recv!(bob, "the read echo", ServerMessage::Read { unread, mentions, .. } => (unread, mentions));
    assert_eq!(counts, (2, 2), "the last two are unread, both mention bob");
}

#[tokio::test]
async fn members_autocomplete_by_prefix_in_a_readable_channel() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    for name in ["bob", "Bobby", "bert", "carol"] {
        server.user(name).await;
    }
    let reply =
        alice.request(json!({"type": "members", "channel": GENERAL, "prefix": "BO", "limit": 10})).await;
    let (users, has_more) =
        unpack!(reply, ServerMessage::Members { users, has_more, .. } => (users, has_more));
    assert_eq!((users, has_more), (vec!["bob".to_owned(), "Bobby".to_owned()], false));
    let reply =
        alice.request(json!({"type": "members", "channel": GENERAL, "prefix": "b", "limit": 1})).await;
    let (users, has_more) =
        unpack!(reply, ServerMessage::Members { users, has_more, .. } => (users, has_more));
    assert_eq!((users, has_more), (vec!["bert".to_owned()], true));

    let reply = alice.request(json!({"type": "create_channel", "name": "secret", "private": true})).await;
    let private = unpack!(reply, ServerMessage::Channel { channel, .. } => channel.id);
    let (mut bob, _) = server.user("bob2").await;
    let reply = bob.request(json!({"type": "members", "channel": private})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::NotFound), "a private channel one is not in");
    let reply = alice.request(json!({"type": "members", "channel": GENERAL, "prefix": "<b>"})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::BadRequest));
}

#[tokio::test]
async fn a_notification_level_is_kept_and_synced_to_every_device() {
    let server = TestServer::start().await;
    let token = server.register("alice").await;
    let mut phone = Client::connect(&server, &token).await;
    phone.hello(json!({})).await;
    let mut laptop = Client::connect(&server, &token).await;
    laptop.hello(json!({})).await;
    phone.send(json!({"type": "notify", "channel": GENERAL, "level": "mentions"})).await;
    for device in [&mut phone, &mut laptop] {
        let level = recv!(device, "the new level", ServerMessage::Channel { channel, .. } if channel.id == GENERAL => channel.notify);
        assert_eq!(level, NotifyLevel::Mentions);
    }
    assert_eq!(welcomed(&server, &token, GENERAL).await.notify, NotifyLevel::Mentions, "kept");

    let reply = phone.request(json!({"type": "create_channel", "name": "elsewhere", "private": true})).await;
    let private = unpack!(reply, ServerMessage::Channel { channel, .. } => channel.id);
    let (mut bob, _) = server.user("bob").await;
    let reply = bob.request(json!({"type": "notify", "channel": private, "level": "none"})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::NotFound));
    let reply = bob.request(json!({"type": "notify", "channel": GENERAL, "level": "loud"})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::BadRequest));
}
