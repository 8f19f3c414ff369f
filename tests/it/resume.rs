//! Resume after a disconnect and after a server restart: every missed message
//! exactly once, in order, then live ones.

use serde_json::json;

use crate::harness::{Client, GENERAL, TestServer};

#[tokio::test]
async fn a_reconnecting_client_gets_exactly_what_it_missed_then_live() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    alice.post(GENERAL, "before", "a-0").await;
    let last_seen = bob.next_message().await["seq"].as_i64().unwrap();
    let token = bob.token.clone();
    bob.close().await;

    for n in 1..=50 {
        alice.post(GENERAL, &format!("missed {n}"), &format!("a-{n}")).await;
    }
    let mut bob = Client::connect(&server, &token).await;
    let welcome = bob.hello(json!({ GENERAL.to_string(): last_seen })).await;
    assert_eq!(welcome["channels"][0]["last_seq"], 51);
    for n in 1..=50 {
        let message = bob.next_message().await;
        assert_eq!(message["seq"], last_seen + n);
        assert_eq!(message["body"], format!("missed {n}"));
    }
    alice.post(GENERAL, "live again", "a-live").await;
    let live = bob.next_message().await;
    assert_eq!((live["seq"].as_i64(), live["body"].as_str()), (Some(52), Some("live again")));
    bob.assert_no("message").await;
}

#[tokio::test]
async fn resume_points_for_unreadable_channels_reveal_nothing() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let reply = alice.request(json!({"type": "create_channel", "name": "hidden", "private": true})).await;
    let hidden = reply["channel"]["id"].as_i64().unwrap();
    alice.post(hidden, "secret", "a-1").await;
    let token = server.register("mallory").await;
    let mut mallory = Client::connect(&server, &token).await;
    mallory.hello(json!({ hidden.to_string(): 0, "999": 0, "junk": 3 })).await;
    mallory.assert_no("message").await;
}

#[tokio::test]
async fn everything_survives_a_restart_and_clients_resume() {
    let mut server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let reply = alice.request(json!({"type": "create_channel", "name": "plans", "private": true})).await;
    let plans = reply["channel"]["id"].as_i64().unwrap();
    alice.request(json!({"type": "invite", "channel": plans, "user": "bob"})).await;
    alice.post(GENERAL, "one", "a-1").await;
    alice.post(plans, "two", "a-2").await;
    let (alice_token, bob_token) = (alice.token.clone(), bob.token.clone());
    let bob_seen = bob.next_message().await["seq"].as_i64().unwrap();
    drop(alice);
    drop(bob);

    server.restart().await;

    // Sessions are still valid; users, channels and messages are all there.
    let mut alice = Client::connect(&server, &alice_token).await;
    let welcome = alice.hello(json!({})).await;
    let names: Vec<&str> =
        welcome["channels"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["General", "plans"]);
    let history = alice.request(json!({"type": "history", "channel": plans})).await;
    assert_eq!(history["messages"][0]["body"], "alice added bob", "the invite's system line survives too");
    assert_eq!(history["messages"][1]["body"], "two");
    alice.post(GENERAL, "three", "a-3").await;

    let mut bob = Client::connect(&server, &bob_token).await;
    bob.hello(json!({ GENERAL.to_string(): bob_seen, plans.to_string(): 0 })).await;
    let mut replayed = Vec::new();
    for _ in 0..3 {
        let message = bob.next_message().await;
        replayed.push((message["channel"].as_i64().unwrap(), message["body"].as_str().unwrap().to_owned()));
    }
    replayed.sort();
    assert_eq!(
        replayed,
        vec![(GENERAL, "three".to_owned()), (plans, "alice added bob".to_owned()), (plans, "two".to_owned())]
    );
    // Seqs continue after the restart without a gap.
    let ack = alice.post(GENERAL, "four", "a-4").await;
    assert_eq!(ack["seq"], 3);
    // The duplicate check survives the restart too.
    assert_eq!(alice.post(GENERAL, "one", "a-1").await["seq"], 1);
}

#[tokio::test]
async fn history_pages_backwards_by_seq() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    for n in 1..=120 {
        alice.post(GENERAL, &format!("m{n}"), &format!("a-{n}")).await;
    }
    let latest = alice.request(json!({"type": "history", "channel": GENERAL, "limit": 50})).await;
    let seqs: Vec<i64> =
        latest["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (71..=120).collect::<Vec<_>>());
    assert_eq!(latest["has_more"], true);
    let older =
        alice.request(json!({"type": "history", "channel": GENERAL, "before": 71, "limit": 500})).await;
    let seqs: Vec<i64> =
        older["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    // The limit is capped at 200; only 70 are older.
    assert_eq!(seqs, (1..=70).collect::<Vec<_>>());
    assert_eq!(older["has_more"], false);
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
    assert_eq!((message["body"].as_str(), message["seq"].as_i64()), (Some("two"), Some(2)));
}
