//! Slow and dead clients: a client that stops reading is closed with 4008
//! once its queue overflows, nobody else notices, and it resumes without
//! loss; a client that stops answering pings is dropped and goes offline.

use std::time::Duration;

use natter::protocol::ServerMessage;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::harness::{Client, GENERAL, TestServer, recv, test_limits};

const MESSAGES: i64 = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_and_resumes_without_loss() {
    let mut limits = test_limits();
    limits.outbound_queue = 32;
    let server = TestServer::start_with(limits, false).await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let (mut sleepy, _) = server.user("sleepy").await;

    // 3000 messages of 2000 characters: far more than socket buffers hold.
    let body = "z".repeat(2000);
    // Alice sends in windows and reads as she goes: she is in General too, and
    // a sender that stopped reading would be cut off like anyone else. Bob
    // reads along; the sleeper reads nothing.
    let mut bob_seen = 0;
    for window in 0..MESSAGES / 20 {
        for n in window * 20..(window + 1) * 20 {
            let frame =
                json!({"type": "send", "channel": GENERAL, "body": body, "client_id": format!("a-{n}")});
            alice.send(frame).await;
        }
        for n in window * 20..(window + 1) * 20 {
            let client_id = format!("a-{n}");
            recv!(alice, &format!("the ack of {client_id}"), ServerMessage::Ack { client_id: acked, .. } if *acked == client_id => ());
        }
        alice.discard_unread();
        for _ in 0..20 {
            bob_seen += 1;
            assert_eq!(bob.next_message().await.seq, bob_seen, "bob's delivery goes on, in order");
        }
    }
    // The sleeper wakes up: what was buffered, then a 4008 close.
    let mut last_seen = 0;
    let close = loop {
        match sleepy.recv_control_or_message().await {
            Ok(message) => {
                assert_eq!(message.seq, last_seen + 1, "in order, no gaps");
                last_seen += 1;
            }
            Err(close) => break close,
        }
    };
    match close {
        WsMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4008, "{frame:?}"),
        other => panic!("expected a 4008 close, got {other:?}"),
    }
    assert!(last_seen < MESSAGES, "the sleeper was cut off before the end");
    // Its last connection is gone, so after the grace period it is offline.
    assert!(bob.presence_of("sleepy").await, "sleepy came online");
    assert!(!bob.presence_of("sleepy").await, "sleepy goes offline");
    let metrics = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("natter_slow_client_closes_total 0"), "{metrics}");

    // It resumes from where it was and gets exactly the rest.
    let mut again = Client::connect(&server, &sleepy.token).await;
    again.hello(json!({ GENERAL.to_string(): last_seen })).await;
    for seq in last_seen + 1..=MESSAGES {
        assert_eq!(again.next_message().await.seq, seq);
    }
    again.assert_no_message().await;
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_dropped_and_goes_offline() {
    let mut limits = test_limits();
    limits.heartbeat_interval = Duration::from_millis(100);
    limits.idle_timeout = Duration::from_millis(500);
    let server = TestServer::start_with(limits, false).await;
    let (mut watcher, _) = server.user("watcher").await;
    let (zombie, _) = server.user("zombie").await;
    assert!(watcher.presence_of("zombie").await, "the zombie comes online");
    // The zombie's socket stays open but nothing reads it, so its pings go
    // unanswered, as with a peer that vanished without a FIN.
    assert!(!watcher.presence_of("zombie").await, "the zombie is dropped and goes offline");
    // The watcher, which reads (and so answers pings), is still connected.
    let pong = watcher.request(json!({"type": "ping"})).await;
    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");
    drop(zombie);
}
