//! Resume after a disconnect and after a server restart: every missed message
//! exactly once, in order, then live ones.

use natter::protocol::{MessageInfo, ServerMessage};
use serde_json::json;

use crate::harness::{Client, GENERAL, TestServer, unpack};

/// The `history` reply to `request`: its messages and whether older ones exist.
async fn history(client: &mut Client, request: serde_json::Value) -> (Vec<MessageInfo>, bool) {
    let reply = client.request(request).await;
    unpack!(reply, ServerMessage::History { messages, has_more, .. } => (messages, has_more))
}

/// The id of the channel a `create_channel` request made.
async fn create(client: &mut Client, name: &str, private: bool) -> i64 {
    let reply = client.request(json!({"type": "create_channel", "name": name, "private": private})).await;
    unpack!(reply, ServerMessage::Channel { channel, .. } => channel.id)
}

#[tokio::test]
async fn a_reconnecting_client_gets_exactly_what_it_missed_then_live() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    alice.post(GENERAL, "before", "a-0").await;
    let last_seen = bob.next_message().await.seq;
    let token = bob.token.clone();
    bob.close().await;

    for n in 1..=50 {
        alice.post(GENERAL, &format!("missed {n}"), &format!("a-{n}")).await;
    }
    let mut bob = Client::connect(&server, &token).await;
    let welcome = bob.hello(json!({ GENERAL.to_string(): last_seen })).await;
    assert_eq!(welcome.channels[0].last_seq, 51);
    for n in 1..=50 {
        let message = bob.next_message().await;
        assert_eq!(message.seq, last_seen + n);
        assert_eq!(message.body, format!("missed {n}"));
    }
    alice.post(GENERAL, "live again", "a-live").await;
    let live = bob.next_message().await;
    assert_eq!((live.seq, live.body.as_str()), (52, "live again"));
    bob.assert_no_message().await;
}

#[tokio::test]
async fn resume_points_for_unreadable_channels_reveal_nothing() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let hidden = create(&mut alice, "hidden", true).await;
    alice.post(hidden, "secret", "a-1").await;
    let token = server.register("mallory").await;
    let mut mallory = Client::connect(&server, &token).await;
    mallory.hello(json!({ hidden.to_string(): 0, "999": 0, "junk": 3 })).await;
    mallory.assert_no_message().await;
}

#[tokio::test]
async fn everything_survives_a_restart_and_clients_resume() {
    let mut server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let plans = create(&mut alice, "plans", true).await;
    alice.request(json!({"type": "invite", "channel": plans, "user": "bob"})).await;
    alice.post(GENERAL, "one", "a-1").await;
    alice.post(plans, "two", "a-2").await;
    let (alice_token, bob_token) = (alice.token.clone(), bob.token.clone());
    let bob_seen = bob.next_message().await.seq;
    drop(alice);
    drop(bob);

    server.restart().await;

    // Sessions are still valid; users, channels and messages are all there.
    let mut alice = Client::connect(&server, &alice_token).await;
    let welcome = alice.hello(json!({})).await;
    let names: Vec<&str> = welcome.channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["General", "plans"]);
    let (messages, _) = history(&mut alice, json!({"type": "history", "channel": plans})).await;
    assert_eq!(messages[0].body, "alice added bob", "the invite's system line survives too");
    assert_eq!(messages[1].body, "two");
    alice.post(GENERAL, "three", "a-3").await;

    let mut bob = Client::connect(&server, &bob_token).await;
    bob.hello(json!({ GENERAL.to_string(): bob_seen, plans.to_string(): 0 })).await;
    let mut replayed = Vec::new();
    for _ in 0..3 {
        let message = bob.next_message().await;
        replayed.push((message.channel, message.body));
    }
    replayed.sort();
    assert_eq!(
        replayed,
        vec![(GENERAL, "three".to_owned()), (plans, "alice added bob".to_owned()), (plans, "two".to_owned())]
    );
    // Seqs continue after the restart without a gap.
    let ack = alice.post(GENERAL, "four", "a-4").await;
    assert_eq!(ack.seq, 3);
    // The duplicate check survives the restart too.
    assert_eq!(alice.post(GENERAL, "one", "a-1").await.seq, 1);
}

#[tokio::test]
async fn history_pages_backwards_by_seq() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    for n in 1..=120 {
        alice.post(GENERAL, &format!("m{n}"), &format!("a-{n}")).await;
    }
    let (latest, has_more) =
        history(&mut alice, json!({"type": "history", "channel": GENERAL, "limit": 50})).await;
    let seqs: Vec<i64> = latest.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (71..=120).collect::<Vec<_>>());
    assert!(has_more);
    let (older, has_more) =
        history(&mut alice, json!({"type": "history", "channel": GENERAL, "before": 71, "limit": 500})).await;
    let seqs: Vec<i64> = older.iter().map(|m| m.seq).collect();
    // The limit is capped at 200; only 70 are older.
    assert_eq!(seqs, (1..=70).collect::<Vec<_>>());
    assert!(!has_more);
}

#[tokio::test]
async fn a_resume_point_past_the_head_does_not_hide_new_messages() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    alice.post(GENERAL, "one", "a-1").await;
    // A client that remembers more than the server has (a restored database,
    // a confused client) must still see what comes next.
    let token = server.register("bob").await;
    let mut bob = Client::connect(&server, &token).await;
    bob.hello(json!({ GENERAL.to_string(): 500 })).await;
    alice.post(GENERAL, "two", "a-2").await;
    let message = bob.next_message().await;
    assert_eq!((message.body.as_str(), message.seq), ("two", 2));
}
