//! Channels: creating an existing name says so, private channels and DMs are invisible to
//! non-members on every path, invitations open them.

use serde_json::{Value, json};

use crate::harness::{Client, GENERAL, TestServer};

async fn create(client: &mut Client, name: &str, private: bool) -> Value {
    let reply = client.request(json!({"type": "create_channel", "name": name, "private": private})).await;
    assert_eq!(reply["type"], "channel", "creating {name}: {reply}");
    reply["channel"].clone()
}

fn names(listing: &Value) -> Vec<String> {
    listing["channels"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_private_channel_is_invisible_until_an_invite() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let secret = create(&mut alice, "secret plans", true).await;
    assert_eq!(secret["kind"], "private");
    let id = secret["id"].as_i64().unwrap();
    alice.post(id, "for alice only", "a-1").await;

    // Bob cannot list it, read it, post to it, join it, type in it or invite into it.
    let listing = bob.request(json!({"type": "list_channels"})).await;
    assert!(!names(&listing).contains(&"secret plans".to_owned()), "{listing}");
    for request in [
        json!({"type": "history", "channel": id}),
        json!({"type": "send", "channel": id, "body": "let me in", "client_id": "b-1"}),
        json!({"type": "join", "channel": id}),
        json!({"type": "invite", "channel": id, "user": "bob"}),
        json!({"type": "read", "channel": id, "seq": 1}),
    ] {
        let reply = bob.request(request.clone()).await;
        assert_eq!(reply["code"], "not_found", "{request} answered {reply}");
    }
    // Creating a channel of the same name tells Bob nothing: he simply gets
    // a new channel of his own, and then his own is the one that exists.
    let reply =
        bob.request(json!({"type": "create_channel", "name": "Secret Plans", "private": false})).await;
    assert_eq!(reply["type"], "channel", "{reply}");
    let bobs = reply["channel"]["id"].clone();
    assert_ne!(bobs, id);
    let reply = bob.request(json!({"type": "create_channel", "name": "Secret Plans", "private": true})).await;
    assert_eq!((&reply["code"], &reply["channel"]), (&json!("channel_exists"), &bobs), "{reply}");
    bob.send(json!({"type": "typing", "channel": id})).await;
    alice.assert_no("typing").await;
    // Alice's typing there does not reach Bob.
    alice.send(json!({"type": "typing", "channel": id})).await;
    bob.assert_no("typing").await;

    // After the invite Bob sees it, its history, and can post.
    let reply = alice.request(json!({"type": "invite", "channel": id, "user": "bob"})).await;
    assert_eq!(reply["type"], "channel", "{reply}");
    let joined = bob.take(|f| f["type"] == "channel" && f["channel"]["id"] == id, "the invite").await;
    assert_eq!(joined["channel"]["id"], id);
    assert_eq!(joined["channel"]["last_seq"], 1);
    let history = bob.request(json!({"type": "history", "channel": id})).await;
    assert_eq!(history["messages"][0]["body"], "for alice only");
    bob.post(id, "thanks for the invite", "b-2").await;
    let message = alice.message_with_body("thanks for the invite").await;
    assert_eq!(message["sender"], "bob");
    bob.send(json!({"type": "typing", "channel": id})).await;
    let typing = alice.expect("typing").await;
    assert_eq!(typing, json!({"type": "typing", "channel": id, "user": "bob"}));
}

#[tokio::test]
async fn direct_messages_are_for_two() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let (mut carol, _) = server.user("carol").await;
    let reply = alice.request(json!({"type": "open_dm", "user": "bob"})).await;
    assert_eq!(reply["channel"]["kind"], "dm", "{reply}");
    assert_eq!(reply["channel"]["members"], json!(["alice", "bob"]));
    let dm = reply["channel"]["id"].as_i64().unwrap();
    // Opening it again, from either side, finds the same channel.
    let again = bob.request(json!({"type": "open_dm", "user": "alice"})).await;
    assert_eq!(again["channel"]["id"], dm);

    alice.post(dm, "psst", "a-1").await;
    assert_eq!(bob.next_message().await["body"], "psst");
    carol.assert_no("message").await;
    for request in [
        json!({"type": "history", "channel": dm}),
        json!({"type": "send", "channel": dm, "body": "hi", "client_id": "c-1"}),
        json!({"type": "join", "channel": dm}),
    ] {
        assert_eq!(carol.request(request).await["code"], "not_found");
    }
    let reply = alice.request(json!({"type": "invite", "channel": dm, "user": "carol"})).await;
    assert_eq!(reply["code"], "forbidden", "{reply}");
    let reply = alice.request(json!({"type": "open_dm", "user": "nobody"})).await;
    assert_eq!(reply["code"], "unknown_user");
}

#[tokio::test]
async fn creating_an_existing_channel_names_it_and_keeps_its_history() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let yogurt = create(&mut alice, "Yogurt", false).await;
    let id = yogurt["id"].as_i64().unwrap();
    alice.post(id, "first!", "a-1").await;
    // Bob sees it in the public listing without being a member.
    let listing = bob.request(json!({"type": "list_channels"})).await;
    let entry = listing["channels"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(entry["member"], false);
    // Posting before joining is refused with a clear code.
    let reply = bob.request(json!({"type": "send", "channel": id, "body": "x", "client_id": "b-0"})).await;
    assert_eq!(reply["code"], "not_member");
    // "Creating" it again (any case, padded) says it exists and which it
    // is; joining it then keeps its history.
    let again = bob.request(json!({"type": "create_channel", "name": "  yogurt "})).await;
    assert_eq!((&again["code"], &again["channel"]), (&json!("channel_exists"), &json!(id)), "{again}");
    assert_eq!(again["message"], "#Yogurt already exists");
    let joined = bob.request(json!({"type": "join", "channel": id})).await;
    assert_eq!((&joined["channel"]["name"], &joined["channel"]["last_seq"]), (&json!("Yogurt"), &json!(1)));
    // The join is a system line in the channel's stream, after the history.
    let line = alice.message_with_body("bob joined").await;
    assert_eq!(
        (&line["seq"], &line["sender"], &line["system"]),
        (&json!(2), &json!("bob"), &json!({"kind": "joined", "user": "bob"}))
    );
    let history = bob.request(json!({"type": "history", "channel": id})).await;
    let bodies: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["first!", "bob joined"]);
    bob.post(id, "second", "b-1").await;
    assert_eq!(alice.message_with_body("second").await["seq"], 3);
}

#[tokio::test]
async fn leaving_stops_delivery_and_general_cannot_be_left() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let id = create(&mut alice, "exercise", false).await["id"].as_i64().unwrap();
    bob.request(json!({"type": "join", "channel": id})).await;
    let reply = bob.request(json!({"type": "leave", "channel": id})).await;
    assert_eq!(reply, json!({"type": "left", "channel": id, "ref": reply["ref"]}));
    // Alice sees both as system lines; bob sees nothing after leaving.
    assert_eq!(alice.message_with_body("bob joined").await["system"]["kind"], "joined");
    let left = alice.message_with_body("bob left").await;
    assert_eq!(left["system"], json!({"kind": "left", "user": "bob"}));
    alice.post(id, "anyone?", "a-1").await;
    bob.assert_none(|f| f["type"] == "message" && f["body"] != "bob joined", "a message after leaving").await;
    let reply = bob.request(json!({"type": "leave", "channel": GENERAL})).await;
    assert_eq!(reply["code"], "forbidden");
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
    assert_eq!(reply["code"], "limit_reached", "{reply}");
    // Re-creating an existing one names it, whatever the cap.
    let reply = alice.request(json!({"type": "create_channel", "name": "one"})).await;
    assert_eq!(reply["code"], "channel_exists", "{reply}");
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
    assert_eq!(welcome["channels"][0]["last_seq"], 3);
    assert_eq!(welcome["channels"][0]["read_seq"], 0);
    bob.send(json!({"type": "read", "channel": GENERAL, "seq": 2})).await;
    assert_eq!(bob.expect("read").await, json!({"type": "read", "channel": GENERAL, "seq": 2}));
    assert_eq!(bob_phone.expect("read").await["seq"], 2);
    // Never backwards, never past the head.
    bob.send(json!({"type": "read", "channel": GENERAL, "seq": 1})).await;
    assert_eq!(bob.expect("read").await["seq"], 2);
    bob.send(json!({"type": "read", "channel": GENERAL, "seq": 99})).await;
    assert_eq!(bob.expect("read").await["seq"], 3);
    let mut bob_again = Client::connect(&server, &bob.token).await;
    let welcome = bob_again.hello(json!({})).await;
    assert_eq!(welcome["channels"][0]["read_seq"], 3);
}
