//! Abuse limits: each exceeded limit gets its error code or HTTP status, and
//! the rest of the server carries on.

use std::net::IpAddr;

use natter::protocol::{ErrorCode, ServerMessage};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{Client, GENERAL, TestServer, recv, test_limits};

fn client_from(address: &str) -> reqwest::Client {
    let address: IpAddr = address.parse().unwrap();
    reqwest::Client::builder().local_address(address).build().unwrap()
}

async fn login(http: &reqwest::Client, server: &TestServer, username: &str, password: &str) -> u16 {
    http.post(server.url("/api/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn login_attempts_are_throttled_per_address() {
    let server = TestServer::start().await;
    let http = client_from("127.0.0.11");
    let mut statuses = Vec::new();
    for n in 0..12 {
        statuses.push(login(&http, &server, &format!("user{n}"), "wrong password").await);
    }
    assert!(statuses[..10].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(&statuses[10..], &[429, 429]);
    // Another address is not affected.
    assert_eq!(login(&client_from("127.0.0.12"), &server, "user0", "wrong password").await, 401);
}

#[tokio::test]
async fn repeated_failures_lock_a_username_out_for_every_address_that_failed() {
    let server = TestServer::start().await;
    server.register("alice").await;
    // Five failures from five addresses: each address is far below its own
    // limit, but the name has reached its threshold.
    for n in 0..5 {
        let http = client_from(&format!("127.0.1.{}", n + 1));
        assert_eq!(login(&http, &server, "alice", "guess number one").await, 401);
    }
    let guesser = client_from("127.0.1.1");
    assert_eq!(
        login(&guesser, &server, "alice", "correct horse").await,
        429,
        "locked even with the password"
    );
    // An unknown name behaves the same, so a lockout reveals nothing.
    for n in 0..5 {
        let http = client_from(&format!("127.0.2.{}", n + 1));
        assert_eq!(login(&http, &server, "nobody", "guess number one").await, 401);
    }
    assert_eq!(login(&client_from("127.0.2.1"), &server, "nobody", "guess number two").await, 429);
    // The owner, from an address that never failed, is not locked out.
    assert_eq!(login(&client_from("127.0.1.9"), &server, "alice", "correct horse").await, 200);
    // After the first lockout (one second) the right password works again.
    // The lockout's expiry is what is tested, and the server announces it to
    // no one, so the test lets the second pass.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(login(&guesser, &server, "alice", "correct horse").await, 200);
}

#[tokio::test]
async fn connections_are_capped_per_address_and_in_total() {
    let mut limits = test_limits();
    limits.max_connections_per_ip = 2;
    limits.max_connections = 3;
    let server = TestServer::start_with(limits, false).await;
    let token = server.register("alice").await;
    let first = Client::connect(&server, &token).await;
    let _second = Client::connect(&server, &token).await;
    let refused = tokio_tungstenite::connect_async(format!("{}?token={token}", server.ws_url()))
        .await
        .expect_err("third from one address");
    assert!(refused.to_string().contains("429"), "{refused}");

    // From another loopback address there is room for one more, then the node is full.
    let from = |address: &str| {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{address}:0").parse().unwrap()).unwrap();
        socket
    };
    let request = || format!("{}?token={token}", server.ws_url()).into_client_request().unwrap();
    let stream = from("127.0.0.21").connect(server.addr).await.unwrap();
    let _third = tokio_tungstenite::client_async(request(), stream).await.expect("another address");
    let stream = from("127.0.0.22").connect(server.addr).await.unwrap();
    let refused = tokio_tungstenite::client_async(request(), stream).await.expect_err("node full");
    assert!(refused.to_string().contains("503"), "{refused}");

    // Closing one frees its place.
    first.close().await;
    let mut again = None;
    for _ in 0..50 {
        if let Ok((socket, _)) = tokio_tungstenite::connect_async(request()).await {
            again = Some(socket);
            break;
        }
        // The server tells no client when a closed connection's place is
        // released (just after its close frame), so the test retries.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a place is free again after a close");
}

#[tokio::test]
async fn typing_faster_than_the_limit_is_refused_and_not_relayed() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    alice.send(json!({"type": "typing", "channel": GENERAL})).await;
    alice.send(json!({"type": "typing", "channel": GENERAL})).await;
    let (code, message) = alice.next_error().await;
    assert_eq!(code, ErrorCode::RateLimited, "{message}");
    assert_eq!(recv!(bob, "alice's typing", ServerMessage::Typing { user, .. } => user), "alice");
    bob.assert_none("a second typing event", |f| matches!(f, ServerMessage::Typing { .. })).await;
    alice.post(GENERAL, "typing limits do not touch messages", "a-1").await;
}

#[tokio::test]
async fn a_protocol_violation_closes_with_1002() {
    let server = TestServer::start().await;
    let token = server.register("alice").await;
    // A hand-made upgrade, then an unmasked client frame: clients must mask.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /ws?token={token} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(crate::harness::RECEIVE_TIMEOUT, async {
        while !response.ends_with(b"\r\n\r\n") {
            response.push(stream.read_u8().await.unwrap());
        }
    })
    .await
    .expect("timed out waiting for the upgrade's answer");
    assert!(response.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&response));
    stream.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let mut frame = [0u8; 4];
    tokio::time::timeout(crate::harness::RECEIVE_TIMEOUT, stream.read_exact(&mut frame))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame[0], 0x88, "a close frame");
    assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1002);
}

#[tokio::test]
async fn account_creation_is_capped_per_address() {
    let mut limits = test_limits();
    limits.account_creations_per_minute = 3.0;
    let server = TestServer::start_with(limits, true).await;
    let http = client_from("127.0.0.31");
    let mut statuses = Vec::new();
    for n in 0..3 {
        let body = json!({"username": format!("user{n}"), "password": "correct horse"});
        statuses
            .push(http.post(server.url("/api/register")).json(&body).send().await.unwrap().status().as_u16());
    }
    let guest =
        http.post(server.url("/api/guest")).json(&json!({"username": "visitor"})).send().await.unwrap();
    statuses.push(guest.status().as_u16());
    assert_eq!(statuses, vec![201, 201, 201, 429], "guests and accounts share the budget");
    // Another address is not affected.
    let other = client_from("127.0.0.32");
    let body = json!({"username": "elsewhere", "password": "correct horse"});
    assert_eq!(other.post(server.url("/api/register")).json(&body).send().await.unwrap().status(), 201);
}
