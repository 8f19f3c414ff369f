//! Bad input of every kind gets an error with a stable code, and the
//! connection (or at least everyone else's) carries on.

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::harness::{Client, GENERAL, TestServer, test_limits};

async fn assert_usable(client: &mut Client) {
    let pong = client.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
}

#[tokio::test]
async fn every_malformed_request_gets_its_error_code_and_the_connection_carries_on() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "bad_json"),
        ("[1, 2, 3]".into(), "bad_json"),
        ("\"just a string\"".into(), "bad_json"),
        (json!({"no": "type"}).to_string(), "unknown_type"),
        (json!({"type": "teleport"}).to_string(), "unknown_type"),
        (json!({"type": 42}).to_string(), "unknown_type"),
        (
            json!({"type": "send", "channel": "General", "body": "x", "client_id": "c"}).to_string(),
            "bad_request",
        ),
        (json!({"type": "send", "channel": GENERAL, "client_id": "c"}).to_string(), "bad_request"),
        (json!({"type": "send", "channel": GENERAL, "body": 7, "client_id": "c"}).to_string(), "bad_request"),
        (json!({"type": "history", "channel": GENERAL, "limit": -1}).to_string(), "bad_request"),
        (json!({"type": "send", "channel": 999, "body": "x", "client_id": "c1"}).to_string(), "not_found"),
        (json!({"type": "history", "channel": 999}).to_string(), "not_found"),
        (json!({"type": "join", "channel": -5}).to_string(), "not_found"),
        (
            json!({"type": "send", "channel": GENERAL, "body": "", "client_id": "c2"}).to_string(),
            "invalid_body",
        ),
        (
            json!({"type": "send", "channel": GENERAL, "body": "   ", "client_id": "c3"}).to_string(),
            "invalid_body",
        ),
        (
            json!({"type": "send", "channel": GENERAL, "body": "x".repeat(4001), "client_id": "c4"})
                .to_string(),
            "invalid_body",
        ),
        (
            json!({"type": "send", "channel": GENERAL, "body": "x", "client_id": ""}).to_string(),
            "invalid_client_id",
        ),
        (
            json!({"type": "send", "channel": GENERAL, "body": "x", "client_id": "c".repeat(65)}).to_string(),
            "invalid_client_id",
        ),
        (json!({"type": "create_channel", "name": "  "}).to_string(), "invalid_name"),
        (json!({"type": "create_channel", "name": "x".repeat(65)}).to_string(), "invalid_name"),
        (json!({"type": "create_channel", "name": "bell\u{7}"}).to_string(), "invalid_name"),
        (json!({"type": "invite", "channel": GENERAL, "user": "ghost"}).to_string(), "unknown_user"),
        (json!({"type": "hello"}).to_string(), "bad_sequence"),
    ];
    for (frame, code) in cases {
        alice.send_raw(WsMessage::text(frame.clone())).await;
        let reply = alice.take(|f| f["type"] != "presence", "a reply").await;
        assert_eq!(reply["type"], "error", "{frame} answered {reply}");
        assert_eq!(reply["code"], code, "{frame} answered {reply}");
        assert!(!reply["message"].as_str().unwrap().is_empty());
    }
    // A ref survives even when the rest of the request is wrong.
    alice.send(json!({"type": "send", "channel": "x", "ref": "r-9"})).await;
    assert_eq!(alice.expect("error").await["ref"], "r-9");
    alice.send_raw(WsMessage::binary(vec![1u8, 2, 3])).await;
    assert_eq!(alice.expect("error").await["code"], "binary_not_supported");
    assert_usable(&mut alice).await;
    // Nothing above stored anything.
    let history = alice.request(json!({"type": "history", "channel": GENERAL})).await;
    assert_eq!(history["messages"], json!([]));
    assert_eq!(alice.post(GENERAL, "still fine", "ok-1").await["seq"], 1);
}

#[tokio::test]
async fn requests_before_hello_are_refused_until_hello() {
    let server = TestServer::start().await;
    let token = server.register("alice").await;
    let mut alice = Client::connect(&server, &token).await;
    alice.send(json!({"type": "send", "channel": GENERAL, "body": "early", "client_id": "e"})).await;
    assert_eq!(alice.expect("error").await["code"], "bad_sequence");
    assert_eq!(alice.request(json!({"type": "ping"})).await["type"], "pong");
    alice.hello(json!({})).await;
    alice.post(GENERAL, "now", "n").await;
}

async fn expect_close(client: &mut Client, code: u16) {
    match client.recv_control().await {
        WsMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), code, "close: {frame:?}"),
        other => panic!("expected close {code}, got {other:?}"),
    }
}

#[tokio::test]
async fn oversized_frames_close_with_1009_and_others_carry_on() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let huge = json!({"type": "send", "channel": GENERAL, "body": "x".repeat(70_000), "client_id": "big"});
    alice.send(huge).await;
    expect_close(&mut alice, 1009).await;
    bob.post(GENERAL, "unaffected", "b-1").await;
    assert_usable(&mut bob).await;
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    alice.send_raw(WsMessage::Frame(frame)).await;
    expect_close(&mut alice, 1007).await;
}

#[tokio::test]
async fn a_flood_is_rate_limited_without_touching_anyone_else() {
    let mut limits = test_limits();
    limits.messages_per_second = 2.0;
    limits.message_burst = 5.0;
    let server = TestServer::start_with(limits, false).await;
    let (mut flooder, _) = server.user("flooder").await;
    let (mut bob, _) = server.user("bob").await;
    for n in 0..10 {
        flooder
            .send(json!({"type": "send", "channel": GENERAL, "body": "spam", "client_id": format!("f-{n}")}))
            .await;
    }
    let mut outcomes: Vec<Value> = Vec::new();
    while outcomes.len() < 10 {
        outcomes.push(flooder.take(|f| f["type"] == "ack" || f["type"] == "error", "a send outcome").await);
    }
    let acked = outcomes.iter().filter(|f| f["type"] == "ack").count();
    let limited = outcomes.iter().filter(|f| f["code"] == "rate_limited").count();
    assert_eq!((acked, limited), (5, 5), "{outcomes:?}");
    // Bob is not limited by the flooder's budget.
    for n in 0..5 {
        bob.post(GENERAL, "normal", &format!("b-{n}")).await;
    }
    assert_usable(&mut flooder).await;
    let metrics = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("natter_rate_limited_total 5"), "{metrics}");
}

/// `hello` and `typing` take a `ref` like every other request, and their
/// refusals echo it.
#[tokio::test]
async fn hello_and_typing_refusals_echo_their_ref() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    alice.send(json!({"type": "hello", "ref": "second-hello"})).await;
    let reply = alice.take(|f| f["ref"] == "second-hello", "the refusal of a second hello").await;
    assert_eq!(reply["code"], "bad_sequence");
    // The first typing event is relayed (no answer); the next within the
    // interval is refused, with its ref.
    alice.send(json!({"type": "typing", "channel": GENERAL, "ref": "t-1"})).await;
    alice.send(json!({"type": "typing", "channel": GENERAL, "ref": "t-2"})).await;
    let reply = alice.take(|f| f["ref"] == "t-2", "the refusal of a second typing event").await;
    assert_eq!(reply["code"], "rate_limited");
    alice.assert_none(|f| f["ref"] == "t-1", "an answer to a relayed typing event").await;
}
