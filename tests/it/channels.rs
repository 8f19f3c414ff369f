//! Channels: creating an existing name says so, private channels and DMs are invisible to
//! non-members on every path, invitations open them.

use natter::protocol::{ChannelInfo, ChannelKind, ErrorCode, ServerMessage, SystemInfo, SystemKind};
use serde_json::json;

use crate::harness::{Client, GENERAL, ServerMessageExt, TestServer, recv, unpack};

async fn create(client: &mut Client, name: &str, private: bool) -> ChannelInfo {
    let reply = client.request(json!({"type": "create_channel", "name": name, "private": private})).await;
    unpack!(reply, ServerMessage::Channel { channel, .. } => channel)
}

/// The public channels a `list_channels` request answers with.
async fn listing(client: &mut Client) -> Vec<ChannelInfo> {
    let reply = client.request(json!({"type": "list_channels"})).await;
    unpack!(reply, ServerMessage::Channels { channels, .. } => channels)
}

fn names(channels: &[ChannelInfo]) -> Vec<String> {
    channels.iter().map(|channel| channel.name.clone()).collect()
}

/// The messages of a `history` reply.
async fn history(client: &mut Client, channel: i64) -> Vec<natter::protocol::MessageInfo> {
    let reply = client.request(json!({"type": "history", "channel": channel})).await;
    unpack!(reply, ServerMessage::History { messages, .. } => messages)
}

#[tokio::test]
async fn a_private_channel_is_invisible_until_an_invite() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let secret = create(&mut alice, "secret plans", true).await;
    assert_eq!(secret.kind, ChannelKind::Private);
    let id = secret.id;
    alice.post(id, "for alice only", "a-1").await;

    // Bob cannot list it, read it, post to it, join it, type in it or invite into it.
    let listed = listing(&mut bob).await;
    assert!(!names(&listed).contains(&"secret plans".to_owned()), "{listed:?}");
    for request in [
        json!({"type": "history", "channel": id}),
        json!({"type": "send", "channel": id, "body": "let me in", "client_id": "b-1"}),
        json!({"type": "join", "channel": id}),
        json!({"type": "invite", "channel": id, "user": "bob"}),
        json!({"type": "read", "channel": id, "seq": 1}),
    ] {
        let reply = bob.request(request.clone()).await;
        assert_eq!(reply.error_code(), Some(ErrorCode::NotFound), "{request} answered {reply:?}");
    }
    // Creating a channel of the same name tells Bob nothing: he simply gets
    // a new channel of his own, and then his own is the one that exists.
    let reply =
        bob.request(json!({"type": "create_channel", "name": "Secret Plans", "private": false})).await;
    let bobs = unpack!(reply, ServerMessage::Channel { channel, .. } => channel.id);
    assert_ne!(bobs, id);
    let reply = bob.request(json!({"type": "create_channel", "name": "Secret Plans", "private": true})).await;
    assert!(
        matches!(reply, ServerMessage::Error { code: ErrorCode::ChannelExists, channel: Some(existing), .. } if existing == bobs),
        "{reply:?}"
    );
    bob.send(json!({"type": "typing", "channel": id})).await;
    alice.assert_none("typing", |f| matches!(f, ServerMessage::Typing { .. })).await;
    // Alice's typing there does not reach Bob.
    alice.send(json!({"type": "typing", "channel": id})).await;
    bob.assert_none("typing", |f| matches!(f, ServerMessage::Typing { .. })).await;

    // After the invite Bob sees it, its history, and can post.
    let reply = alice.request(json!({"type": "invite", "channel": id, "user": "bob"})).await;
    assert!(matches!(reply, ServerMessage::Channel { .. }), "{reply:?}");
    let joined =
        recv!(bob, "the invite", ServerMessage::Channel { channel, .. } if channel.id == id => channel);
    assert_eq!(joined.last_seq, 1);
    assert_eq!(history(&mut bob, id).await[0].body, "for alice only");
    bob.post(id, "thanks for the invite", "b-2").await;
    let message = alice.message_with_body("thanks for the invite").await;
    assert_eq!(message.sender, "bob");
    bob.send(json!({"type": "typing", "channel": id})).await;
    let typing = recv!(alice, "typing", typing @ ServerMessage::Typing { .. } => typing);
    assert_eq!(typing, ServerMessage::Typing { channel: id, user: "bob".to_owned() });
}

#[tokio::test]
async fn direct_messages_are_for_two() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let (mut carol, _) = server.user("carol").await;
    let reply = alice.request(json!({"type": "open_dm", "user": "bob"})).await;
    let channel = unpack!(reply, ServerMessage::Channel { channel, .. } => channel);
    assert_eq!(channel.kind, ChannelKind::Dm, "{channel:?}");
    assert_eq!(channel.members, ["alice", "bob"]);
    let dm = channel.id;
    // Opening it again, from either side, finds the same channel.
    let again = bob.request(json!({"type": "open_dm", "user": "alice"})).await;
    assert_eq!(unpack!(again, ServerMessage::Channel { channel, .. } => channel.id), dm);

    alice.post(dm, "psst", "a-1").await;
    assert_eq!(bob.next_message().await.body, "psst");
    carol.assert_no_message().await;
    for request in [
        json!({"type": "history", "channel": dm}),
        json!({"type": "send", "channel": dm, "body": "hi", "client_id": "c-1"}),
        json!({"type": "join", "channel": dm}),
    ] {
        assert_eq!(carol.request(request).await.error_code(), Some(ErrorCode::NotFound));
    }
    let reply = alice.request(json!({"type": "invite", "channel": dm, "user": "carol"})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::Forbidden), "{reply:?}");
    let reply = alice.request(json!({"type": "open_dm", "user": "nobody"})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::UnknownUser), "{reply:?}");
}

#[tokio::test]
async fn creating_an_existing_channel_names_it_and_keeps_its_history() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let yogurt = create(&mut alice, "Yogurt", false).await;
    let id = yogurt.id;
    alice.post(id, "first!", "a-1").await;
    // Bob sees it in the public listing without being a member.
    let listed = listing(&mut bob).await;
    let entry = listed.iter().find(|c| c.id == id).expect("Yogurt is listed");
    assert!(!entry.member, "{entry:?}");
    // Posting before joining is refused with a clear code.
    let reply = bob.request(json!({"type": "send", "channel": id, "body": "x", "client_id": "b-0"})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::NotMember), "{reply:?}");
    // "Creating" it again (any case, padded) says it exists and which it
    // is; joining it then keeps its history.
    let again = bob.request(json!({"type": "create_channel", "name": "  yogurt "})).await;
    let (code, message, channel) =
        unpack!(again, ServerMessage::Error { code, message, channel, .. } => (code, message, channel));
    assert_eq!((code, channel), (ErrorCode::ChannelExists, Some(id)));
    assert_eq!(message, "#Yogurt already exists");
    let joined = bob.request(json!({"type": "join", "channel": id})).await;
    let joined = unpack!(joined, ServerMessage::Channel { channel, .. } => channel);
    assert_eq!((joined.name.as_str(), joined.last_seq), ("Yogurt", 1));
    // The join is a system line in the channel's stream, after the history.
    let line = alice.message_with_body("bob joined").await;
    assert_eq!(
        (line.seq, line.sender.as_str(), line.system),
        (2, "bob", Some(SystemInfo { kind: SystemKind::Joined, user: "bob".to_owned(), by: None }))
    );
    let bodies: Vec<String> = history(&mut bob, id).await.into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, ["first!", "bob joined"]);
    bob.post(id, "second", "b-1").await;
    assert_eq!(alice.message_with_body("second").await.seq, 3);
}

#[tokio::test]
async fn leaving_stops_delivery_and_general_cannot_be_left() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let id = create(&mut alice, "exercise", false).await.id;
    bob.request(json!({"type": "join", "channel": id})).await;
    let reply = bob.request(json!({"type": "leave", "channel": id})).await;
    let reference = reply.reference().cloned();
    assert_eq!(reply, ServerMessage::Left { channel: id, reference });
    // Alice sees both as system lines; bob sees nothing after leaving.
    let joined = alice.message_with_body("bob joined").await;
    assert_eq!(joined.system.map(|system| system.kind), Some(SystemKind::Joined));
    let left = alice.message_with_body("bob left").await;
    assert_eq!(left.system, Some(SystemInfo { kind: SystemKind::Left, user: "bob".to_owned(), by: None }));
    alice.post(id, "anyone?", "a-1").await;
    bob.assert_none(
        "a message after leaving",
        |f| matches!(f, ServerMessage::Message(message) if message.body != "bob joined"),
    )
    .await;
    let reply = bob.request(json!({"type": "leave", "channel": GENERAL})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::Forbidden), "{reply:?}");
}

#[tokio::test]
async fn channel_creation_is_capped_per_user() {
    let mut limits = crate::harness::test_limits();
    limits.channels_per_user = 2;
    let server = TestServer::start_with(limits, false).await;
    let (mut alice, _) = server.user("alice").await;
    create(&mut alice, "one", false).await;
    create(&mut alice, "two", true).await;
    let reply = alice.request(json!({"type": "create_channel", "name": "three"})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::LimitReached), "{reply:?}");
    // Re-creating an existing one names it, whatever the cap.
    let reply = alice.request(json!({"type": "create_channel", "name": "one"})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::ChannelExists), "{reply:?}");
}

#[tokio::test]
async fn read_markers_reach_every_device_and_survive_reconnects() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    for n in 1..=3 {
        alice.post(GENERAL, &format!("m{n}"), &format!("a-{n}")).await;
    }
    let mut bob_phone = Client::connect(&server, &bob.token).await;
    let welcome = bob_phone.hello(json!({})).await;
    assert_eq!((welcome.channels[0].last_seq, welcome.channels[0].read_seq), (3, 0));
    bob.send(json!({"type": "read", "channel": GENERAL, "seq": 2})).await;
    // Alice's three messages: those after the marker are unread.
    let marker =
        |seq| ServerMessage::Read { channel: GENERAL, seq, unread: 3 - seq as u32, mentions: 0, last_seq: 3 };
    assert_eq!(recv!(bob, "the read marker", read @ ServerMessage::Read { .. } => read), marker(2));
    assert_eq!(
        recv!(bob_phone, "the read marker on the phone", read @ ServerMessage::Read { .. } => read),
        marker(2)
    );
    // Never backwards, never past the head.
    bob.send(json!({"type": "read", "channel": GENERAL, "seq": 1})).await;
    assert_eq!(recv!(bob, "the unmoved read marker", read @ ServerMessage::Read { .. } => read), marker(2));
    bob.send(json!({"type": "read", "channel": GENERAL, "seq": 99})).await;
    assert_eq!(
        recv!(bob, "the read marker at the head", read @ ServerMessage::Read { .. } => read),
        marker(3)
    );
    let mut bob_again = Client::connect(&server, &bob.token).await;
    let welcome = bob_again.hello(json!({})).await;
    assert_eq!(welcome.channels[0].read_seq, 3);
}

/// A group DM: found by its set of people whoever opens it, every one of
/// them told at once and hearing its messages; at most eight people; its
/// people fixed.
#[tokio::test]
async fn a_group_dm_of_three_is_one_channel_for_its_people() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let (mut carol, _) = server.user("carol").await;
    server.register("dave").await;
    let opened = alice.request(json!({"type": "open_dm", "users": ["bob", "Carol"]})).await;
    let info = unpack!(opened, ServerMessage::Channel { channel, .. } => channel);
    assert_eq!(
        (info.kind, info.members.clone()),
        (ChannelKind::Dm, vec!["alice".into(), "bob".into(), "carol".into()])
    );
    for (client, who) in [(&mut bob, "bob"), (&mut carol, "carol")] {
        let told = client
            .recv_until(
                "the group DM",
                |f| matches!(f, ServerMessage::Channel { channel, .. } if channel.id == info.id),
            )
            .await;
        assert!(matches!(told, ServerMessage::Channel { .. }), "{who}: {told:?}");
    }
    alice.post(info.id, "hello both", "a-1").await;
    assert_eq!(bob.message_with_body("hello both").await.channel, info.id);
    assert_eq!(carol.message_with_body("hello both").await.channel, info.id);
    // The same people, in another order, from another of them: the same channel.
    let again = carol.request(json!({"type": "open_dm", "users": ["alice", "bob", "alice"]})).await;
    assert_eq!(unpack!(again, ServerMessage::Channel { channel, .. } => channel.id), info.id);
    // One-to-one is another channel; a fourth person is another group.
    let pair = alice.request(json!({"type": "open_dm", "user": "bob"})).await;
    assert_ne!(unpack!(pair, ServerMessage::Channel { channel, .. } => channel.id), info.id);
    let bigger = alice.request(json!({"type": "open_dm", "users": ["bob", "carol", "dave"]})).await;
    assert_ne!(unpack!(bigger, ServerMessage::Channel { channel, .. } => channel.id), info.id);

    let nine: Vec<String> = (1..=8).map(|n| format!("p{n}")).collect();
    for (frame, code) in [
        (json!({"type": "open_dm", "users": nine}), ErrorCode::BadRequest),
        (json!({"type": "open_dm", "users": []}), ErrorCode::BadRequest),
        (json!({"type": "open_dm", "user": "bob", "users": ["carol"]}), ErrorCode::BadRequest),
        (json!({"type": "open_dm", "users": ["bob", "nobody"]}), ErrorCode::UnknownUser),
        (json!({"type": "open_dm", "users": ["bob", "alice"]}), ErrorCode::Forbidden),
        (json!({"type": "invite", "channel": info.id, "user": "dave"}), ErrorCode::Forbidden),
        (json!({"type": "leave", "channel": info.id}), ErrorCode::Forbidden),
    ] {
        let reply = alice.request(frame.clone()).await;
        assert_eq!(reply.error_code(), Some(code), "{frame}: {reply:?}");
    }
}
