//! The Socket.IO endpoint seen from the wire: Engine.IO over a raw WebSocket,
//! so this suite needs no Node. The tutorial's own client is exercised by the
//! Node tests in `tests/socketio/` (`npm run test:socketio`).

use std::collections::VecDeque;

use futures_util::{SinkExt, StreamExt};
use natter::limits::Limits;
use natter::protocol::socketio::{Ack, ChannelHistory, ChatMessage, ErrorEvent, OnlineUsers};
use natter::protocol::{ErrorCode, ServerMessage};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::harness::{GENERAL, RECEIVE_TIMEOUT, TestServer, recv, test_limits, unpack};

/// The payload of the namespace connect answer (`40{...}`).
#[derive(Deserialize)]
struct Connected {
    sid: String,
}

/// The payload of a namespace connect refusal (`44{...}`).
#[derive(Deserialize)]
struct ConnectError {
    message: String,
}

/// A Socket.IO event packet's array: the event's name, then its one argument
/// (missing for events sent without one).
#[derive(Deserialize)]
struct EventPacket(String, #[serde(default)] Value);

/// The id of the channel a native reply announces.
fn channel_id(reply: ServerMessage) -> i64 {
    unpack!(reply, ServerMessage::Channel { channel, .. } => channel.id)
}

/// Whether a native frame is a message with this body.
fn message_with_body(frame: &ServerMessage, body: &str) -> bool {
    matches!(frame, ServerMessage::Message(message) if message.body == body)
}

/// A minimal Socket.IO v5 client over the WebSocket transport.
struct RawSocketIo {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Events read while looking for another, in arrival order, with their
    /// payloads as sent: each is decoded into its type when it is taken.
    backlog: VecDeque<(String, Value)>,
}

/// Decodes one event's payload into the type the test expects of it.
fn payload<T: DeserializeOwned>(event: &str, payload: &Value) -> T {
    serde_json::from_value(payload.clone()).unwrap_or_else(|e| {
        panic!("the {event:?} payload is not a {} ({e}): {payload}", std::any::type_name::<T>())
    })
}

/// Decodes a `42[...]` event packet's array.
fn event_packet(array: &str) -> (String, Value) {
    let EventPacket(name, payload) =
        serde_json::from_str(array).unwrap_or_else(|e| panic!("not an event packet ({e}): {array}"));
    (name, payload)
}

impl RawSocketIo {
    /// Opens the Engine.IO session; fails with the HTTP error if refused.
    async fn open(server: &TestServer, origin: Option<&str>) -> Result<Self, String> {
        Self::open_with(server, origin, None).await.map(|(socket, _)| socket)
    }

    /// As [`Self::open`], sending `cookie` as a browser would; also returns
    /// the `Set-Cookie` values of the handshake's answer.
    async fn open_with(
        server: &TestServer,
        origin: Option<&str>,
        cookie: Option<&str>,
    ) -> Result<(Self, Vec<String>), String> {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
        let mut request = url.into_client_request().unwrap();
        if let Some(origin) = origin {
            request.headers_mut().insert("Origin", origin.parse().unwrap());
        }
        if let Some(cookie) = cookie {
            request.headers_mut().insert("Cookie", cookie.parse().unwrap());
        }
        let (mut socket, response) =
            tokio_tungstenite::connect_async(request).await.map_err(|e| e.to_string())?;
        let set_cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect();
        let open = Self::next_text(&mut socket, "the Engine.IO open packet").await;
        assert!(open.starts_with("0{") && open.contains("\"sid\""), "open packet: {open}");
        Ok((Self { socket, backlog: VecDeque::new() }, set_cookies))
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
            let connected: Connected = serde_json::from_str(connected).unwrap();
            return Ok(connected.sid);
        }
        let refused = reply.strip_prefix("44").unwrap_or_else(|| panic!("connect answer: {reply}"));
        let refused: ConnectError = serde_json::from_str(refused).unwrap();
        Err(refused.message)
    }

    /// Emits with an acknowledgement id and returns the acknowledgement.
    async fn request(&mut self, id: u32, event: &str, payload: Value) -> Ack {
        let packet = format!("42{id}{}", json!([event, payload]));
        self.socket.send(WsMessage::text(packet)).await.unwrap();
        let prefix = format!("43{id}");
        loop {
            let text = Self::next_text(&mut self.socket, &format!("the ack of {event}")).await;
            if let Some(ack) = text.strip_prefix(&prefix) {
                let (ack,): (Ack,) =
                    serde_json::from_str(ack).unwrap_or_else(|e| panic!("the ack of {event} ({e}): {ack}"));
                return ack;
            }
            if let Some(array) = text.strip_prefix("42") {
                self.backlog.push_back(event_packet(array));
            }
        }
    }

    /// Waits until the server disconnects this socket (a Socket.IO
    /// disconnect packet or the end of the WebSocket); events before it stay
    /// readable.
    async fn disconnected(&mut self) {
        loop {
            let frame = tokio::time::timeout(RECEIVE_TIMEOUT, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for the server to disconnect"));
            match frame {
                None | Some(Err(_)) => return,
                Some(Ok(WsMessage::Close(_))) => return,
                Some(Ok(WsMessage::Text(text))) if text.as_str() == "41" || text.as_str() == "1" => return,
                Some(Ok(WsMessage::Text(text))) => {
                    if let Some(array) = text.as_str().strip_prefix("42") {
                        self.backlog.push_back(event_packet(array));
                    } else if text.as_str() == "2" {
                        self.socket.send(WsMessage::text("3")).await.unwrap();
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }

    async fn emit(&mut self, event: &str, payload: Value) {
        let packet = format!("42{}", json!([event, payload]));
        self.socket.send(WsMessage::text(packet)).await.unwrap();
    }

    /// The first unread `event` whose payload, decoded as a `T`, matches;
    /// waits at most [`RECEIVE_TIMEOUT`] for each packet. A payload of that
    /// event that is not a `T` fails the test.
    async fn take<T: DeserializeOwned>(&mut self, event: &str, matches: impl Fn(&T) -> bool) -> T {
        let position =
            self.backlog.iter().position(|(name, value)| name == event && matches(&payload(event, value)));
        if let Some(position) = position {
            return payload(event, &self.backlog.remove(position).expect("position is in range").1);
        }
        loop {
            let text = Self::next_text(&mut self.socket, &format!("the event {event:?}")).await;
            let Some(array) = text.strip_prefix("42") else { panic!("expected an event, got {text}") };
            let (name, value) = event_packet(array);
            if name == event {
                let decoded: T = payload(event, &value);
                if matches(&decoded) {
                    return decoded;
                }
            }
            self.backlog.push_back((name, value));
        }
    }

    /// The first unread `event`, whatever its payload.
    async fn next<T: DeserializeOwned>(&mut self, event: &str) -> T {
        self.take(event, |_: &T| true).await
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
    assert_eq!(
        sam.next::<OnlineUsers>("get online users").await,
        OnlineUsers::from([("alice".to_owned(), true)])
    );
    assert_eq!(sam.next::<String>("new user").await, "sam");
    let history: ChannelHistory = sam.next("user changed channel").await;
    assert_eq!(history, ChannelHistory { channel: "General".to_owned(), messages: vec![], has_more: false });
    assert!(alice.presence_of("sam").await, "sam comes online");

    sam.emit("new message", json!({"sender": "alice", "message": "from Socket.IO", "channel": "General"}))
        .await;
    let stored = alice.message_with_body("from Socket.IO").await;
    assert_eq!((stored.sender.as_str(), stored.seq), ("sam", 1));
    let shown: ChatMessage = sam.take("new message", |m: &ChatMessage| m.message == "from Socket.IO").await;
    assert_eq!(shown.id, stored.id);

    alice.post(GENERAL, "from /ws", "a-1").await;
    let shown: ChatMessage = sam.take("new message", |m: &ChatMessage| m.message == "from /ws").await;
    assert_eq!((shown.sender.as_str(), shown.channel.as_str()), ("alice", "General"));

    sam.emit("new message", json!({"message": "lost", "channel": "Nowhere"})).await;
    let error: ErrorEvent = sam.next("error").await;
    let expected = ErrorEvent {
        code: ErrorCode::NotFound,
        message: "no such channel".to_owned(),
        event: "new message".to_owned(),
    };
    assert_eq!(error, expected);
    alice.assert_none("a message to a missing channel", |f| message_with_body(f, "lost")).await;
}

/// Bob arrives, then Sam takes his name, most likely within one presence
/// interval: Sam's list shows Bob, and the batch that tells everyone else
/// about Bob does not tell Sam again (the tutorial's page would list him
/// twice). The next `new user` Sam hears is Carol's.
#[tokio::test]
async fn a_socket_hears_of_each_arrival_once() {
    let server = TestServer::start_with(test_limits(), true).await;
    let (_bob, _) = server.user("bob").await;
    let mut sam = RawSocketIo::open(&server, None).await.expect("the handshake");
    sam.join(json!({})).await.expect("guests are allowed");
    sam.emit("get online users", Value::Null).await;
    sam.emit("new user", json!("sam")).await;
    assert_eq!(
        sam.next::<OnlineUsers>("get online users").await,
        OnlineUsers::from([("bob".to_owned(), true)])
    );
    assert_eq!(sam.next::<String>("new user").await, "sam");
    let (_carol, _) = server.user("carol").await;
    assert_eq!(sam.next::<String>("new user").await, "carol", "bob was not announced again");
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
    assert_eq!(
        dana.next::<OnlineUsers>("get online users").await,
        OnlineUsers::from([("dana".to_owned(), true)])
    );
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
    dana.next::<ChannelHistory>("user changed channel").await;
    let (mut alice, _) = nodes[1].user("alice").await;

    dana.emit("new message", json!({"message": "from node 0", "channel": "General"})).await;
    let stored = alice.message_with_body("from node 0").await;
    assert_eq!((stored.sender.as_str(), stored.seq), ("dana", 1));
    alice.post(GENERAL, "from node 1", "a-1").await;
    let shown: ChatMessage = dana.take("new message", |m: &ChatMessage| m.message == "from node 1").await;
    assert_eq!((shown.sender.as_str(), shown.channel.as_str()), ("alice", "General"));
}

/// Hostile payloads for every tutorial event (and unknown events), through a
/// real socket: each is answered or refused, never crashes the socket or the
/// server, and the socket chats on afterwards. Also raw Socket.IO packets
/// that are not packets at all.
#[tokio::test]
async fn fuzz_socketio_payloads_are_answered_or_refused() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, TestRunner};

    // A request budget no run of this test can use up, so refusals say
    // something about the payload rather than the rate.
    let unbounded = Limits {
        requests_per_second: 1e6,
        request_burst: 1e6,
        reads_per_user_per_second: 1e6,
        reads_per_address_per_second: 1e6,
        ..test_limits()
    };
    let server = TestServer::start_with(unbounded, true).await;
    let (mut watcher, _) = server.user("watcher").await;
    let mut fuzzer = RawSocketIo::open(&server, None).await.expect("the handshake");
    fuzzer.join(json!({})).await.expect("guests are allowed");
    fuzzer.emit("new user", json!("fuzzer")).await;
    assert_eq!(fuzzer.next::<String>("new user").await, "fuzzer");

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
    assert_eq!(after.next::<String>("new user").await, "after");
    after.emit("new message", json!({"message": "after the storm", "channel": "General"})).await;
    assert_eq!(watcher.message_with_body("after the storm").await.sender, "after");
}

/// A public channel named like a user's private one must never capture what
/// that user types: each name means one channel for them, the one listed.
#[tokio::test]
async fn a_public_namesake_never_captures_a_private_channel() {
    let server = TestServer::start().await;
    let alice_token = server.register("alice").await;
    let mut alice_native = crate::harness::Client::connect(&server, &alice_token).await;
    alice_native.hello(json!({})).await;
    let private = alice_native
        .request(json!({"type": "create_channel", "name": "secret-plans", "private": true}))
        .await;
    let private_id = channel_id(private);
    let mut alice = RawSocketIo::open(&server, None).await.expect("the handshake");
    alice.join(json!({"token": alice_token})).await.expect("a session admits");

    // Mallory cannot see alice's channel, so she may make a public one of
    // that name; alice hears of it as "secret-plans #<id>".
    let (mut mallory, _) = server.user("mallory").await;
    let public = mallory.request(json!({"type": "create_channel", "name": "secret-plans"})).await;
    let public_id = channel_id(public);
    let public_name = format!("secret-plans #{public_id}");
    assert_eq!(alice.next::<String>("new channel").await, public_name);

    // After a reconnect (a fresh listing) each name appears once.
    alice.emit("get all channels", Value::Null).await;
    let listed: Vec<String> = alice.next("get all channels").await;
    assert_eq!(listed, ["General", "secret-plans", public_name.as_str()]);

    // The plain name is alice's private channel; what she types there stays there.
    alice.emit("user changed channel", json!("secret-plans")).await;
    assert_eq!(alice.next::<ChannelHistory>("user changed channel").await.channel, "secret-plans");
    alice.emit("new message", json!({"message": "for my eyes only", "channel": "secret-plans"})).await;
    let stored = alice_native.message_with_body("for my eyes only").await;
    assert_eq!(stored.channel, private_id);
    mallory.assert_none("alice's private message", |f| message_with_body(f, "for my eyes only")).await;
    let history = mallory.request(json!({"type": "history", "channel": public_id})).await;
    let messages = unpack!(history, ServerMessage::History { messages, .. } => messages);
    assert!(messages.is_empty(), "{messages:?}");

    // The suffixed name reaches the public channel, and is shown as such.
    alice.emit("user changed channel", json!(public_name)).await;
    assert_eq!(alice.next::<ChannelHistory>("user changed channel").await.channel, public_name);
    alice.emit("new message", json!({"message": "hello mallory", "channel": public_name})).await;
    assert_eq!(mallory.message_with_body("hello mallory").await.channel, public_id);
    let echoed: ChatMessage = alice.take("new message", |m: &ChatMessage| m.message == "hello mallory").await;
    assert_eq!(echoed.channel, public_name);
    // "Creating" the name again never switches her into a private channel
    // (it might be someone else's she was put in): it says the name exists.
    alice.emit("new channel", json!("Secret-Plans")).await;
    let error: ErrorEvent = alice.take("error", |e: &ErrorEvent| e.event == "new channel").await;
    assert_eq!(error.code, ErrorCode::ChannelExists, "{error:?}");
    // A public name is still the tutorial's "switch to it".
    alice.emit("new channel", json!("general")).await;
    assert_eq!(alice.next::<ChannelHistory>("user changed channel").await.channel, "General");
}

const LENA_BROWSER: &str = "natter_sio=1111111111111111111111111111111111111111111111111111111111111111";

/// A guest that lost its connection gets its name back only from the same
/// browser (its `natter_sio` cookie), never just from the same address.
#[tokio::test]
async fn a_lingering_guest_name_needs_the_browsers_secret() {
    let limits =
        natter::limits::Limits { presence_grace: std::time::Duration::from_secs(30), ..test_limits() };
    let server = TestServer::start_with(limits, true).await;
    // A browser without the cookie is given one on its first handshake.
    let (mut first_visit, set_cookies) =
        RawSocketIo::open_with(&server, None, None).await.expect("the handshake");
    let issued =
        set_cookies.iter().find(|c| c.starts_with("natter_sio=")).expect("a natter_sio cookie is set");
    assert!(issued.contains("HttpOnly") && issued.contains("SameSite=Strict"), "{issued}");
    first_visit.join(json!({})).await.expect("guests are allowed");

    let (mut lena, set_cookies) =
        RawSocketIo::open_with(&server, None, Some(LENA_BROWSER)).await.expect("the handshake");
    assert!(set_cookies.is_empty(), "a browser with a secret keeps it: {set_cookies:?}");
    lena.join(json!({})).await.expect("guests are allowed");
    lena.emit("new user", json!("lena")).await;
    assert_eq!(lena.next::<String>("new user").await, "lena");
    drop(lena);

    // Someone else at the same address (everyone here is 127.0.0.1), with
    // another browser's secret or none, within the grace period: refused.
    let other_browser = "natter_sio=2222222222222222222222222222222222222222222222222222222222222222";
    for cookie in [Some(other_browser), None] {
        let (mut stranger, _) = RawSocketIo::open_with(&server, None, cookie).await.expect("the handshake");
        stranger.join(json!({})).await.expect("guests are allowed");
        stranger.emit("new user", json!("lena")).await;
        let error: ErrorEvent = stranger.next("error").await;
        assert_eq!(error.code, ErrorCode::NameInUse, "{cookie:?}: {error:?}");
    }
    // Lena's browser gets her name back.
    let (mut back, _) =
        RawSocketIo::open_with(&server, None, Some(LENA_BROWSER)).await.expect("the handshake");
    back.join(json!({})).await.expect("guests are allowed");
    back.emit("new user", json!("lena")).await;
    assert_eq!(back.take("new user", |name: &String| name == "lena").await, "lena");
}

/// A guest socket that took a token in its `new user` acknowledgement is
/// closed when that token is logged out, like every other session's sockets.
#[tokio::test]
async fn logging_out_a_socketio_guests_token_closes_its_socket() {
    let server = TestServer::start_with(test_limits(), true).await;
    let mut guest = RawSocketIo::open(&server, None).await.expect("the handshake");
    guest.join(json!({})).await.expect("guests are allowed");
    let ack = guest.request(1, "new user", json!("visitor")).await;
    assert!(ack.ok, "{ack:?}");
    let token = ack.token.expect("a token in the ack");
    let logout = reqwest::Client::new()
        .post(server.url("/api/logout"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    guest.disconnected().await;
    let error: ErrorEvent = guest.next("error").await;
    assert_eq!(error.code, ErrorCode::Unauthorized, "{error:?}");
}

/// Being added to an older channel of the same name never takes the name
/// from the channel a Socket.IO user already had: theirs keeps it, the
/// newcomer is `name #id`, and what they type under the name stays theirs.
#[tokio::test]
async fn an_invite_into_an_older_namesake_never_takes_the_name() {
    let server = TestServer::start().await;
    let (mut mallory, _) = server.user("mallory").await;
    let trap =
        mallory.request(json!({"type": "create_channel", "name": "board-room", "private": true})).await;
    let trap_id = channel_id(trap);
    let carol_token = server.register("carol").await;
    let mut carol_native = crate::harness::Client::connect(&server, &carol_token).await;
    carol_native.hello(json!({})).await;
    let own =
        carol_native.request(json!({"type": "create_channel", "name": "Board-Room", "private": true})).await;
    let own_id = channel_id(own);
    assert!(own_id > trap_id, "mallory's channel is the older one");
    let mut carol = RawSocketIo::open(&server, None).await.expect("the handshake");
    carol.join(json!({"token": carol_token})).await.expect("a session admits");

    mallory.request(json!({"type": "invite", "channel": trap_id, "user": "carol"})).await;
    recv!(carol_native, "the invite", ServerMessage::Channel { channel, .. } if channel.id == trap_id => ());
    carol.emit("get all channels", Value::Null).await;
    let trap_name = format!("board-room #{trap_id}");
    let listed: Vec<String> = carol.next("get all channels").await;
    assert_eq!(listed, ["General", trap_name.as_str(), "Board-Room"]);
    carol.emit("user changed channel", json!("Board-Room")).await;
    assert_eq!(carol.next::<ChannelHistory>("user changed channel").await.channel, "Board-Room");
    carol.emit("new message", json!({"message": "our secret", "channel": "Board-Room"})).await;
    assert_eq!(carol_native.message_with_body("our secret").await.channel, own_id);
    mallory.assert_none("carol's message", |f| message_with_body(f, "our secret")).await;
}

/// A tutorial client "creating" a channel whose name means, to that user, a
/// private channel someone else put them in is told it exists, never moved
/// into it (what it typed there would be read by that channel's owner).
#[tokio::test]
async fn creating_over_socketio_never_lands_in_someone_elses_private_channel() {
    let server = TestServer::start().await;
    let (mut mallory, _) = server.user("mallory").await;
    let trap =
        mallory.request(json!({"type": "create_channel", "name": "board-room", "private": true})).await;
    let trap_id = channel_id(trap);
    let carol_token = server.register("carol").await;
    mallory.request(json!({"type": "invite", "channel": trap_id, "user": "carol"})).await;
    let mut carol = RawSocketIo::open(&server, None).await.expect("the handshake");
    carol.join(json!({"token": carol_token})).await.expect("a session admits");
    carol.emit("new channel", json!("Board-Room")).await;
    let error: ErrorEvent = carol.take("error", |e: &ErrorEvent| e.event == "new channel").await;
    assert_eq!(error.code, ErrorCode::ChannelExists, "{error:?}");
    carol.emit("new message", json!({"message": "Q3 numbers: confidential", "channel": "General"})).await;
    mallory
        .assert_none("anything carol typed", |f| {
            matches!(f, ServerMessage::Message(m) if m.channel == trap_id && m.body != "mallory added carol")
        })
        .await;
}
