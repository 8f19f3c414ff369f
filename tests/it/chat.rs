//! Live messaging in General: order, seq, the sender from the session, and
//! idempotent sends.

use natter::protocol::http::SessionResponse;
use natter::protocol::{ChannelKind, ErrorCode, ServerMessage};
use serde_json::json;

use crate::harness::{Client, GENERAL, ServerMessageExt, TestServer, unpack};

#[tokio::test]
async fn two_users_chat_live_in_general_in_order() {
    let server = TestServer::start().await;
    // Register both, then log in over HTTP as a returning user would.
    server.register("alice").await;
    server.register("bob").await;
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for name in ["alice", "bob"] {
        let response = http
            .post(server.url("/api/login"))
            .json(&json!({"username": name, "password": "correct horse"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let session: SessionResponse = response.json().await.unwrap();
        assert_eq!(session.user.name, name);
        tokens.push(session.token);
    }
    let mut alice = Client::connect(&server, &tokens[0]).await;
    let welcome = alice.hello(json!({})).await;
    assert_eq!(welcome.user.name, "alice");
    assert_eq!(
        (welcome.channels[0].name.as_str(), welcome.channels[0].kind),
        ("General", ChannelKind::Public)
    );
    let mut bob = Client::connect(&server, &tokens[1]).await;
    bob.hello(json!({})).await;

    let ack = alice.post(GENERAL, "hello bob", "a-1").await;
    assert_eq!(ack.seq, 1);
    bob.post(GENERAL, "hi alice", "b-1").await;
    alice.post(GENERAL, "how are you?", "a-2").await;

    for client in [&mut alice, &mut bob] {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let message = client.next_message().await;
            assert!(message.ts > 1_700_000_000_000, "server timestamp: {message:?}");
            seen.push((message.seq, message.sender, message.body));
        }
        assert_eq!(
            seen,
            vec![
                (1, "alice".to_owned(), "hello bob".to_owned()),
                (2, "bob".to_owned(), "hi alice".to_owned()),
                (3, "alice".to_owned(), "how are you?".to_owned()),
            ]
        );
    }
}

#[tokio::test]
async fn the_sender_is_the_session_user_whatever_the_payload_says() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    // A spoofing attempt: an extra `sender` field is refused outright.
    let reply = alice
        .request(json!({"type": "send", "channel": GENERAL, "body": "x", "client_id": "c", "sender": "bob"}))
        .await;
    assert_eq!(reply.error_code(), Some(ErrorCode::BadRequest), "{reply:?}");
    alice.post(GENERAL, "honest", "c").await;
    let message = bob.next_message().await;
    assert_eq!(message.sender, "alice");
}

#[tokio::test]
async fn the_same_client_id_twice_stores_one_message_also_across_reconnects() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let first = alice.post(GENERAL, "once", "dup-1").await;
    let second = alice.post(GENERAL, "once", "dup-1").await;
    assert_eq!(first, second);

    // Reconnect and resend, as a client does when it never saw the ack.
    let token = alice.token.clone();
    alice.close().await;
    let mut alice = Client::connect(&server, &token).await;
    alice.hello(json!({})).await;
    let third = alice.post(GENERAL, "once", "dup-1").await;
    assert_eq!(first, third);

    assert_eq!(bob.next_message().await.body, "once");
    bob.assert_no_message().await;
    let history = bob.request(json!({"type": "history", "channel": GENERAL})).await;
    let messages = unpack!(history, ServerMessage::History { messages, .. } => messages);
    assert_eq!(messages.len(), 1, "{messages:?}");
}

#[tokio::test]
async fn a_users_other_connections_see_their_messages() {
    let server = TestServer::start().await;
    let (mut laptop, _) = server.user("alice").await;
    let mut phone = Client::connect(&server, &laptop.token).await;
    phone.hello(json!({})).await;
    laptop.post(GENERAL, "from my laptop", "l-1").await;
    let message = phone.next_message().await;
    assert_eq!(message.body, "from my laptop");
    assert_eq!(message.client_id, "l-1");
}

#[tokio::test]
async fn a_message_reaches_everyone_even_if_its_sender_vanishes_before_the_ack() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    alice
        .send(json!({"type": "send", "channel": GENERAL, "body": "sent and gone", "client_id": "gone-1"}))
        .await;
    // No close handshake, no waiting for the ack: the tab is simply gone.
    drop(alice);
    let message = bob.next_message().await;
    assert_eq!((message.body.as_str(), message.seq), ("sent and gone", 1));
}
