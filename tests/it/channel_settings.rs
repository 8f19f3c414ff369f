//! Channel settings over real sockets: topic and description, rename and
//! archive, each told live to every member's connections (on another node
//! too), with who may do what, and an archived channel read-only.

use natter::protocol::{ErrorCode, ServerMessage};
use serde_json::{Value, json};

use crate::harness::{Client, GENERAL, ServerMessageExt, TestServer, natter_user, unpack};
use crate::services::{fresh_postgres_database, redis_url};

async fn create(client: &mut Client, name: &str, private: bool) -> i64 {
    let reply = client.request(json!({"type": "create_channel", "name": name, "private": private})).await;
    unpack!(reply, ServerMessage::Channel { channel, .. } => channel.id)
}

async fn code_of(client: &mut Client, frame: Value) -> ErrorCode {
    let reply = client.request(frame.clone()).await;
    reply.error_code().unwrap_or_else(|| panic!("{frame} was not refused: {reply:?}"))
}

/// The `channel_updated` a change answers, as (name, topic, description, archived).
async fn update(client: &mut Client, frame: Value) -> (String, String, String, bool) {
    let reply = client.request(frame.clone()).await;
    unpack!(reply, ServerMessage::ChannelUpdated { name, topic, description, archived, .. } => (name, topic, description, archived))
}

/// The next `channel_updated` told (not answered) to `client` about `channel`.
async fn told(client: &mut Client, channel: i64) -> (String, String, bool) {
    let frame = client
        .recv_until("a channel_updated", |f| matches!(f, ServerMessage::ChannelUpdated { channel: id, reference: None, .. } if *id == channel))
        .await;
    unpack!(frame, ServerMessage::ChannelUpdated { name, topic, archived, .. } => (name, topic, archived))
}

#[tokio::test]
async fn members_set_a_topic_and_description_and_everyone_in_the_channel_hears_it() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let (mut carol, _) = server.user("carol").await;
    let plans = create(&mut alice, "plans", false).await;
    bob.request(json!({"type": "join", "channel": plans})).await;

    let got = update(&mut bob, json!({"type": "update_channel", "channel": plans, "topic": "  Ship it  ", "description": "Line one\r\nline two"})).await;
    assert_eq!(got, ("plans".into(), "Ship it".into(), "Line one\nline two".into(), false));
    assert_eq!(told(&mut alice, plans).await, ("plans".into(), "Ship it".into(), false));
    // Not a member of the public channel: refused; carol heard nothing.
    assert_eq!(
        code_of(&mut carol, json!({"type": "update_channel", "channel": plans, "topic": "mine"})).await,
        ErrorCode::NotMember
    );
    carol
        .assert_none("a change of a channel she is not in", |f| {
            matches!(f, ServerMessage::ChannelUpdated { .. })
        })
        .await;
    // The topic is part of the channel wherever it is shown.
    let listed = carol.request(json!({"type": "list_channels"})).await;
    let infos = unpack!(listed, ServerMessage::Channels { channels, .. } => channels);
    let info = infos.iter().find(|c| c.id == plans).unwrap();
    assert_eq!((info.topic.as_str(), info.description.as_str()), ("Ship it", "Line one\nline two"));
    let mut later = Client::connect(&server, &bob.token).await;
    let welcome = later.hello(json!({})).await;
    assert_eq!(welcome.channels.iter().find(|c| c.id == plans).unwrap().topic, "Ship it");

    for (frame, code) in [
        (json!({"type": "update_channel", "channel": plans, "topic": "two\nlines"}), ErrorCode::BadRequest),
        (
            json!({"type": "update_channel", "channel": plans, "topic": "x".repeat(251)}),
            ErrorCode::BadRequest,
        ),
        (
            json!({"type": "update_channel", "channel": plans, "description": "y".repeat(1001)}),
            ErrorCode::BadRequest,
        ),
        (json!({"type": "update_channel", "channel": plans}), ErrorCode::BadRequest),
        (json!({"type": "update_channel", "channel": 999, "topic": "t"}), ErrorCode::NotFound),
    ] {
        assert_eq!(code_of(&mut alice, frame.clone()).await, code, "{frame}");
    }
    let cleared = update(&mut alice, json!({"type": "update_channel", "channel": plans, "topic": ""})).await;
    assert_eq!(cleared.1, "", "an empty topic clears it");

    // A private channel one is not in does not exist for them.
    let hideout = create(&mut alice, "hideout", true).await;
    assert_eq!(
        code_of(&mut carol, json!({"type": "update_channel", "channel": hideout, "topic": "t"})).await,
        ErrorCode::NotFound
    );
    let dm = unpack!(alice.request(json!({"type": "open_dm", "user": "bob"})).await, ServerMessage::Channel { channel, .. } => channel.id);
    assert_eq!(
        code_of(&mut alice, json!({"type": "update_channel", "channel": dm, "topic": "t"})).await,
        ErrorCode::Forbidden
    );
}

#[tokio::test]
async fn a_rename_keeps_the_channel_and_is_for_its_creator_and_admins() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let plans = create(&mut alice, "plans", false).await;
    bob.request(json!({"type": "join", "channel": plans})).await;
    alice.post(plans, "before the rename", "a-1").await;
    create(&mut alice, "taken", false).await;

    assert_eq!(
        code_of(&mut bob, json!({"type": "update_channel", "channel": plans, "name": "bobs"})).await,
        ErrorCode::Forbidden
    );
    let renamed =
        update(&mut alice, json!({"type": "update_channel", "channel": plans, "name": "roadmap"})).await;
    assert_eq!(renamed.0, "roadmap");
    assert_eq!(told(&mut bob, plans).await.0, "roadmap");
    let history = bob.request(json!({"type": "history", "channel": plans})).await;
    let messages = unpack!(history, ServerMessage::History { messages, .. } => messages);
    assert_eq!(
        messages.iter().filter(|m| m.system.is_none()).map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["before the rename"],
        "same id, same history"
    );
    // The old name is free again, the new one taken.
    assert_ne!(create(&mut bob, "plans", false).await, plans, "a new channel under the old name");
    assert_eq!(
        code_of(&mut alice, json!({"type": "update_channel", "channel": plans, "name": "Taken"})).await,
        ErrorCode::ChannelExists
    );
    assert_eq!(
        code_of(&mut alice, json!({"type": "update_channel", "channel": plans, "name": ""})).await,
        ErrorCode::InvalidName
    );
    assert_eq!(
        code_of(&mut alice, json!({"type": "update_channel", "channel": GENERAL, "name": "Lobby"})).await,
        ErrorCode::Forbidden
    );

    // A creator who left is a creator no more.
    let (mut dora, _) = server.user("dora").await;
    let hers = create(&mut dora, "hers", false).await;
    alice.request(json!({"type": "join", "channel": hers})).await;
    dora.request(json!({"type": "leave", "channel": hers})).await;
    assert_eq!(
        code_of(&mut dora, json!({"type": "update_channel", "channel": hers, "name": "mine"})).await,
        ErrorCode::Forbidden
    );
    assert_eq!(
        code_of(&mut dora, json!({"type": "update_channel", "channel": hers, "archived": true})).await,
        ErrorCode::Forbidden
    );

    let (ok, output) = natter_user(&server, &["role", "bob", "admin"], "").await;
    assert!(ok, "{output}");
    let by_admin =
        update(&mut bob, json!({"type": "update_channel", "channel": plans, "name": "roadmap-2027"})).await;
    assert_eq!(by_admin.0, "roadmap-2027");
}

#[tokio::test]
async fn an_archived_channel_is_read_only_until_an_admin_unarchives_it() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let (mut carol, _) = server.user("carol").await;
    let plans = create(&mut alice, "plans", false).await;
    bob.request(json!({"type": "join", "channel": plans})).await;
    alice.post(plans, "kept", "a-1").await;

    assert_eq!(
        code_of(&mut bob, json!({"type": "update_channel", "channel": plans, "archived": true})).await,
        ErrorCode::Forbidden
    );
    assert_eq!(
        code_of(&mut alice, json!({"type": "update_channel", "channel": GENERAL, "archived": true})).await,
        ErrorCode::Forbidden
    );
    let archived =
        update(&mut alice, json!({"type": "update_channel", "channel": plans, "archived": true})).await;
    assert!(archived.3);
    assert!(told(&mut bob, plans).await.2, "members hear it");

    let send = json!({"type": "send", "channel": plans, "body": "after", "client_id": "b-1"});
    assert_eq!(code_of(&mut bob, send.clone()).await, ErrorCode::Archived);
    assert_eq!(
        code_of(&mut alice, json!({"type": "edit", "channel": plans, "seq": 1, "body": "changed"})).await,
        ErrorCode::Archived
    );
    assert_eq!(
        code_of(&mut bob, json!({"type": "react", "channel": plans, "seq": 1, "emoji": "👍", "add": true}))
            .await,
        ErrorCode::Archived
    );
    assert_eq!(code_of(&mut carol, json!({"type": "join", "channel": plans})).await, ErrorCode::Archived);
    assert_eq!(
        code_of(&mut alice, json!({"type": "invite", "channel": plans, "user": "carol"})).await,
        ErrorCode::Archived
    );
    assert_eq!(
        code_of(&mut alice, json!({"type": "update_channel", "channel": plans, "topic": "t"})).await,
        ErrorCode::Archived
    );
    // A member joining again is answered as before, not refused.
    let again = bob.request(json!({"type": "join", "channel": plans})).await;
    assert!(matches!(again, ServerMessage::Channel { .. }), "{again:?}");
    // A private archived channel stays hidden from outsiders: a send is
    // answered as for a channel that does not exist.
    let hideout = create(&mut alice, "hideout", true).await;
    update(&mut alice, json!({"type": "update_channel", "channel": hideout, "archived": true})).await;
    let outsider = json!({"type": "send", "channel": hideout, "body": "hi", "client_id": "c-1"});
    assert_eq!(code_of(&mut carol, outsider).await, ErrorCode::NotFound);
    let missing = json!({"type": "send", "channel": 9999, "body": "hi", "client_id": "c-2"});
    assert_eq!(code_of(&mut carol, missing).await, ErrorCode::NotFound);
    // Still readable, also to a non-member (public).
    let history = carol.request(json!({"type": "history", "channel": plans})).await;
    let messages = unpack!(history, ServerMessage::History { messages, .. } => messages);
    assert_eq!(
        messages.iter().filter(|m| m.system.is_none()).map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["kept"]
    );
    // Its creator cannot bring it back; an admin can.
    assert_eq!(
        code_of(&mut alice, json!({"type": "update_channel", "channel": plans, "archived": false})).await,
        ErrorCode::Forbidden
    );
    let (ok, output) = natter_user(&server, &["role", "carol", "admin"], "").await;
    assert!(ok, "{output}");
    assert!(
        !update(&mut carol, json!({"type": "update_channel", "channel": plans, "archived": false})).await.3
    );
    bob.request(send).await;
}

#[tokio::test]
async fn cluster_a_change_on_one_node_reaches_members_on_another() {
    let (Some(database), Some(redis)) = (fresh_postgres_database().await, redis_url()) else { return };
    let node_a = TestServer::start_node(&database, &redis).await;
    let node_b = TestServer::start_node(&database, &redis).await;
    let (mut alice, _) = node_a.user("alice").await;
    let (mut bob, _) = node_b.user("bob").await;
    let plans = create(&mut alice, "plans", false).await;
    bob.request(json!({"type": "join", "channel": plans})).await;
    update(&mut alice, json!({"type": "update_channel", "channel": plans, "name": "roadmap", "topic": "Q3"}))
        .await;
    assert_eq!(told(&mut bob, plans).await, ("roadmap".into(), "Q3".into(), false));
    update(&mut alice, json!({"type": "update_channel", "channel": plans, "archived": true})).await;
    assert!(told(&mut bob, plans).await.2);
    let send = json!({"type": "send", "channel": plans, "body": "x", "client_id": "b-1"});
    assert_eq!(code_of(&mut bob, send).await, ErrorCode::Archived, "PostgreSQL refuses it too");
}
