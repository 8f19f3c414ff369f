//! Bad input of every kind gets an error with a stable code, and the
//! connection (or at least everyone else's) carries on.

use natter::protocol::{ErrorCode, ServerMessage};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::harness::{Client, GENERAL, ServerMessageExt, TestServer, recv, test_limits, unpack};

async fn assert_usable(client: &mut Client) {
    let pong = client.request(json!({"type": "ping"})).await;
    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");
}

#[tokio::test]
async fn every_malformed_request_gets_its_error_code_and_the_connection_carries_on() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let cases: Vec<(String, ErrorCode)> = vec![
        ("{not json".into(), ErrorCode::BadJson),
        ("[1, 2, 3]".into(), ErrorCode::BadJson),
        ("\"just a string\"".into(), ErrorCode::BadJson),
        (json!({"no": "type"}).to_string(), ErrorCode::UnknownType),
        (json!({"type": "teleport"}).to_string(), ErrorCode::UnknownType),
        (json!({"type": 42}).to_string(), ErrorCode::UnknownType),
        (
            json!({"type": "send", "channel": "General", "body": "x", "client_id": "c"}).to_string(),
            ErrorCode::BadRequest,
        ),
        (json!({"type": "send", "channel": GENERAL, "client_id": "c"}).to_string(), ErrorCode::BadRequest),
        (
            json!({"type": "send", "channel": GENERAL, "body": 7, "client_id": "c"}).to_string(),
            ErrorCode::BadRequest,
        ),
        (json!({"type": "history", "channel": GENERAL, "limit": -1}).to_string(), ErrorCode::BadRequest),
        (
            json!({"type": "send", "channel": 999, "body": "x", "client_id": "c1"}).to_string(),
            ErrorCode::NotFound,
        ),
        (json!({"type": "history", "channel": 999}).to_string(), ErrorCode::NotFound),
        (json!({"type": "join", "channel": -5}).to_string(), ErrorCode::NotFound),
        (
            json!({"type": "send", "channel": GENERAL, "body": "", "client_id": "c2"}).to_string(),
            ErrorCode::InvalidBody,
        ),
        (
            json!({"type": "send", "channel": GENERAL, "body": "   ", "client_id": "c3"}).to_string(),
            ErrorCode::InvalidBody,
        ),
        (
            json!({"type": "send", "channel": GENERAL, "body": "x".repeat(4001), "client_id": "c4"})
                .to_string(),
            ErrorCode::InvalidBody,
        ),
        (
            json!({"type": "send", "channel": GENERAL, "body": "x", "client_id": ""}).to_string(),
            ErrorCode::InvalidClientId,
        ),
        (
            json!({"type": "send", "channel": GENERAL, "body": "x", "client_id": "c".repeat(65)}).to_string(),
            ErrorCode::InvalidClientId,
        ),
        (json!({"type": "create_channel", "name": "  "}).to_string(), ErrorCode::InvalidName),
        (json!({"type": "create_channel", "name": "x".repeat(65)}).to_string(), ErrorCode::InvalidName),
        (json!({"type": "create_channel", "name": "bell\u{7}"}).to_string(), ErrorCode::InvalidName),
        (json!({"type": "invite", "channel": GENERAL, "user": "ghost"}).to_string(), ErrorCode::UnknownUser),
        (json!({"type": "hello"}).to_string(), ErrorCode::BadSequence),
    ];
    for (frame, code) in cases {
        alice.send_raw(WsMessage::text(frame.clone())).await;
        let reply = alice
            .recv_until(&format!("the answer to {frame}"), |f| !matches!(f, ServerMessage::Presence { .. }))
            .await;
        let (got, message) = unpack!(reply, ServerMessage::Error { code, message, .. } => (code, message));
        assert_eq!(got, code, "{frame} answered {message}");
        assert!(!message.is_empty());
    }
    // A ref survives even when the rest of the request is wrong.
    alice.send(json!({"type": "send", "channel": "x", "ref": "r-9"})).await;
    let reference = recv!(alice, "the error for r-9", ServerMessage::Error { reference, .. } => reference);
    assert_eq!(reference, Some(json!("r-9")));
    alice.send_raw(WsMessage::binary(vec![1u8, 2, 3])).await;
    assert_eq!(alice.next_error().await.0, ErrorCode::BinaryNotSupported);
    assert_usable(&mut alice).await;
    // Nothing above stored anything.
    let history = alice.request(json!({"type": "history", "channel": GENERAL})).await;
    let messages = unpack!(history, ServerMessage::History { messages, .. } => messages);
    assert!(messages.is_empty(), "{messages:?}");
    assert_eq!(alice.post(GENERAL, "still fine", "ok-1").await.seq, 1);
}

#[tokio::test]
async fn requests_before_hello_are_refused_until_hello() {
    let server = TestServer::start().await;
    let token = server.register("alice").await;
    let mut alice = Client::connect(&server, &token).await;
    alice.send(json!({"type": "send", "channel": GENERAL, "body": "early", "client_id": "e"})).await;
    assert_eq!(alice.next_error().await.0, ErrorCode::BadSequence);
    assert_usable(&mut alice).await;
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
    let mut outcomes: Vec<ServerMessage> = Vec::new();
    while outcomes.len() < 10 {
        let what = format!("send outcome {}", outcomes.len() + 1);
        outcomes.push(
            flooder
                .recv_until(&what, |f| matches!(f, ServerMessage::Ack { .. } | ServerMessage::Error { .. }))
                .await,
        );
    }
    let acked = outcomes.iter().filter(|f| matches!(f, ServerMessage::Ack { .. })).count();
    let limited = outcomes.iter().filter(|f| f.error_code() == Some(ErrorCode::RateLimited)).count();
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
    let second_hello = json!("second-hello");
    let reply =
        alice.recv_until("the refusal of a second hello", |f| f.reference() == Some(&second_hello)).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::BadSequence), "{reply:?}");
    // The first typing event is relayed (no answer); the next within the
    // interval is refused, with its ref.
    alice.send(json!({"type": "typing", "channel": GENERAL, "ref": "t-1"})).await;
    alice.send(json!({"type": "typing", "channel": GENERAL, "ref": "t-2"})).await;
    let (first, second) = (json!("t-1"), json!("t-2"));
    let reply =
        alice.recv_until("the refusal of a second typing event", |f| f.reference() == Some(&second)).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::RateLimited), "{reply:?}");
    alice.assert_none("an answer to a relayed typing event", |f| f.reference() == Some(&first)).await;
}
