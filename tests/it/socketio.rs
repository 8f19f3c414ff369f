//! The Socket.IO endpoint seen from the wire: Engine.IO over a raw WebSocket,
//! so this suite needs no Node. The tutorial's own client is exercised by the
//! Node tests in `tests/socketio/` (`npm run test:socketio`).

use std::collections::VecDeque;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::harness::{GENERAL, RECEIVE_TIMEOUT, TestServer, test_limits};

/// A minimal Socket.IO v5 client over the WebSocket transport.
struct RawSocketIo {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Events read while looking for another, in arrival order.
    backlog: VecDeque<(String, Value)>,
}

impl RawSocketIo {
    /// Opens the Engine.IO session; fails with the HTTP error if refused.
    async fn open(server: &TestServer, origin: Option<&str>) -> Result<Self, String> {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
        let mut request = url.into_client_request().unwrap();
        if let Some(origin) = origin {
            request.headers_mut().insert("Origin", origin.parse().unwrap());
        }
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| e.to_string())?;
        let open = Self::next_text(&mut socket, "the Engine.IO open packet").await;
        assert!(open.starts_with("0{") && open.contains("\"sid\""), "open packet: {open}");
        Ok(Self { socket, backlog: VecDeque::new() })
    }

    async fn next_text(socket: &mut WebSocketStream<MaybeTlsStream<TcpStream>>, what: &str) -> String {
        loop {
            let frame = tokio::time::timeout(RECEIVE_TIMEOUT, socket.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .unwrap_or_else(|| panic!("connection ended while waiting for {what}"))
                .unwrap_or_else(|e| panic!("socket error while waiting for {what}: {e}"));
            match frame {
                WsMessage::Text(text) if text.as_str() == "2" => {
                    // Engine.IO ping: answer, or the server drops us.
                    socket.send(WsMessage::text("3")).await.unwrap();
                }
                WsMessage::Text(text) => return text.as_str().to_owned(),
                WsMessage::Ping(_) | WsMessage::Pong(_) => {}
                other => panic!("unexpected frame while waiting for {what}: {other:?}"),
            }
        }
    }

    /// Joins the default namespace with `auth`: the socket id, or the
    /// `connect_error` message.
    async fn join(&mut self, auth: Value) -> Result<String, String> {
        self.socket.send(WsMessage::text(format!("40{auth}"))).await.unwrap();
        let reply = Self::next_text(&mut self.socket, "the namespace connect answer").await;
        if let Some(connected) = reply.strip_prefix("40") {
            let connected: Value = serde_json::from_str(connected).unwrap();
            return Ok(connected["sid"].as_str().unwrap().to_owned());
        }
        let refused = reply.strip_prefix("44").unwrap_or_else(|| panic!("connect answer: {reply}"));
        let refused: Value = serde_json::from_str(refused).unwrap();
        Err(refused["message"].as_str().unwrap().to_owned())
    }

    async fn emit(&mut self, event: &str, payload: Value) {
        let packet = format!("42{}", json!([event, payload]));
        self.socket.send(WsMessage::text(packet)).await.unwrap();
    }

    /// The first unread `event` whose payload matches.
    async fn take(&mut self, event: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(position) =
            self.backlog.iter().position(|(name, payload)| name == event && matches(payload))
        {
            return self.backlog.remove(position).unwrap().1;
        }
        loop {
            let text = Self::next_text(&mut self.socket, event).await;
            let Some(array) = text.strip_prefix("42") else { panic!("expected an event, got {text}") };
            let array: Value = serde_json::from_str(array).unwrap();
            let (name, payload) = (array[0].as_str().unwrap().to_owned(), array[1].clone());
            if name == event && matches(&payload) {
                return payload;
            }
            self.backlog.push_back((name, payload));
        }
    }
}

#[tokio::test]
async fn a_socketio_guest_and_a_native_user_share_the_hub() {
    let server = TestServer::start_with(test_limits(), true).await;
    let (mut alice, _) = server.user("alice").await;
    let mut sam = RawSocketIo::open(&server, None).await.expect("the handshake");
    sam.join(json!({})).await.expect("guests are allowed");
    sam.emit("get online users", Value::Null).await;
    sam.emit("user changed channel", json!("general")).await;
    sam.emit("new user", json!("sam")).await;
    assert_eq!(sam.take("get online users", |_| true).await, json!({"alice": true}));
    assert_eq!(sam.take("new user", |_| true).await, json!("sam"));
    let history = sam.take("user changed channel", |_| true).await;
    assert_eq!(history, json!({"channel": "General", "messages": [], "has_more": false}));
    assert_eq!(alice.presence_of("sam").await["online"], true);

    sam.emit("new message", json!({"sender": "alice", "message": "from Socket.IO", "channel": "General"}))
        .await;
    let stored = alice.message_with_body("from Socket.IO").await;
    assert_eq!((stored["sender"].as_str(), stored["seq"].as_i64()), (Some("sam"), Some(1)));
    let shown = sam.take("new message", |m| m["message"] == "from Socket.IO").await;
    assert_eq!(shown["id"], stored["id"]);

    alice.post(GENERAL, "from /ws", "a-1").await;
    let shown = sam.take("new message", |m| m["message"] == "from /ws").await;
    assert_eq!((shown["sender"].as_str(), shown["channel"].as_str()), (Some("alice"), Some("General")));

    sam.emit("new message", json!({"message": "lost", "channel": "Nowhere"})).await;
    let error = sam.take("error", |_| true).await;
    assert_eq!(error, json!({"code": "not_found", "message": "no such channel", "event": "new message"}));
    alice.assert_none(|f| f["body"] == "lost", "a message to a missing channel").await;
}

#[tokio::test]
async fn without_guests_a_socket_needs_a_session() {
    let server = TestServer::start().await;
    let mut anonymous = RawSocketIo::open(&server, None).await.expect("the handshake");
    let refused = anonymous.join(json!({})).await.expect_err("no guests here");
    assert!(refused.starts_with("guests_disabled:"), "{refused}");
    let mut forged = RawSocketIo::open(&server, None).await.expect("the handshake");
    let refused = forged.join(json!({"token": "forged"})).await.expect_err("a bad token");
    assert!(refused.starts_with("unauthorized:"), "{refused}");

    let token = server.register("dana").await;
    let mut dana = RawSocketIo::open(&server, None).await.expect("the handshake");
    dana.join(json!({"token": token})).await.expect("a session admits");
    dana.emit("get online users", Value::Null).await;
    assert_eq!(dana.take("get online users", |_| true).await, json!({"dana": true}));
}

#[tokio::test]
async fn socketio_checks_the_origin_and_serves_the_official_client() {
    let server = TestServer::start_with(test_limits(), true).await;
    let foreign = RawSocketIo::open(&server, Some("http://evil.example")).await.err().expect("refused");
    assert!(foreign.contains("403"), "{foreign}");
    let same_origin = format!("http://{}", server.addr);
    RawSocketIo::open(&server, Some(&same_origin)).await.expect("the server's own pages may connect");

    let http = reqwest::Client::new();
    let handshake = server.url("/socket.io/?EIO=4&transport=polling");
    let refused = http.get(&handshake).header("Origin", "http://evil.example").send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let accepted = http.get(&handshake).header("Origin", &same_origin).send().await.unwrap();
    assert_eq!(accepted.status(), 200);
    assert!(accepted.text().await.unwrap().starts_with("0{"), "an Engine.IO open packet");

    let bundle = http.get(server.url("/socket.io/socket.io.js")).send().await.unwrap();
    assert_eq!(bundle.status(), 200);
    assert_eq!(bundle.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(bundle.text().await.unwrap().starts_with("/*!\n * Socket.IO v4."));
}

/// Socket.IO sockets register with the hub like native sessions, so natter's
/// own bus carries their traffic between nodes: no Socket.IO Redis adapter.
#[tokio::test]
async fn socketio_works_across_nodes() {
    let Some(database) = crate::services::fresh_postgres_database().await else { return };
    let Some(redis) = crate::services::redis_url() else { return };
    let nodes =
        [TestServer::start_node(&database, &redis).await, TestServer::start_node(&database, &redis).await];
    let token = nodes[0].register("dana").await;
    let mut dana = RawSocketIo::open(&nodes[0], None).await.expect("the handshake");
    dana.join(json!({"token": token})).await.expect("a session admits");
    dana.emit("user changed channel", json!("General")).await;
    dana.take("user changed channel", |_| true).await;
    let (mut alice, _) = nodes[1].user("alice").await;

    dana.emit("new message", json!({"message": "from node 0", "channel": "General"})).await;
    let stored = alice.message_with_body("from node 0").await;
    assert_eq!((stored["sender"].as_str(), stored["seq"].as_i64()), (Some("dana"), Some(1)));
    alice.post(GENERAL, "from node 1", "a-1").await;
    let shown = dana.take("new message", |m| m["message"] == "from node 1").await;
    assert_eq!((shown["sender"].as_str(), shown["channel"].as_str()), (Some("alice"), Some("General")));
}

/// Hostile payloads for every tutorial event (and unknown events), through a
/// real socket: each is answered or refused, never crashes the socket or the
/// server, and the socket chats on afterwards. Also raw Socket.IO packets
/// that are not packets at all.
#[tokio::test]
async fn fuzz_socketio_payloads_are_answered_or_refused() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, TestRunner};

    let server = TestServer::start_with(test_limits(), true).await;
    let (mut watcher, _) = server.user("watcher").await;
    let mut fuzzer = RawSocketIo::open(&server, None).await.expect("the handshake");
    fuzzer.join(json!({})).await.expect("guests are allowed");
    fuzzer.emit("new user", json!("fuzzer")).await;
    fuzzer.take("new user", |_| true).await;

    let events = proptest::sample::select(vec![
        "new user",
        "get online users",
        "new message",
        "new channel",
        "user changed channel",
        "get all channels",
        "get existing channels",
        "load channels",
        "disconnecting",
        "",
        "42",
    ]);
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(100);
    let mut runner = TestRunner::new(Config { cases, ..Config::default() });
    let strategy = (events, crate::fuzz::json_value());
    for _ in 0..cases {
        let (event, payload) = strategy.new_tree(&mut runner).expect("a case").current();
        fuzzer.emit(event, payload).await;
        // Stay within the request budget, so refusals say something about
        // the payload rather than the rate.
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    for garbage in
        ["4", "42", "42[", "42{}", "43[]", "41", "4x\"]", "40{\"token\":7}", "42[\"new message\",1,2,3]"]
    {
        fuzzer.socket.send(WsMessage::text(garbage)).await.unwrap();
    }
    // The server is fine, the watcher saw nothing odd, and the fuzzer's own
    // socket (if the garbage did not end it, which would be fair) still chats.
    assert_eq!(reqwest::get(server.url("/healthz")).await.unwrap().status(), 200);
    watcher.post(GENERAL, "still standing", "w-1").await;
    let mut after = RawSocketIo::open(&server, None).await.expect("a new handshake");
    after.join(json!({})).await.expect("guests are allowed");
    after.emit("new user", json!("after")).await;
    after.take("new user", |_| true).await;
    after.emit("new message", json!({"message": "after the storm", "channel": "General"})).await;
    assert_eq!(watcher.message_with_body("after the storm").await["sender"], "after");
}
