//! Starts real natter servers on port 0 and talks to them with real clients:
//! reqwest for HTTP, tokio-tungstenite for `/ws`. Every receive has a timeout
//! that fails with what was expected.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use natter::limits::Limits;
use natter::server::{Config, serve};

/// How long any single expected event may take to arrive.
pub const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long "nothing more arrives" is watched for.
pub const QUIET_PERIOD: Duration = Duration::from_millis(300);

/// Limits for tests: generous rates, a short presence grace.
pub fn test_limits() -> Limits {
    Limits {
        messages_per_second: 10_000.0,
        message_burst: 10_000.0,
        presence_grace: Duration::from_millis(300),
        account_creations_per_minute: 10_000.0,
        ..Limits::default()
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// Keeps the database directory alive for restarts.
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server on a fresh SQLite file.
    pub async fn start() -> Self {
        Self::start_with(test_limits(), false).await
    }

    pub async fn start_with(limits: Limits, allow_guests: bool) -> Self {
        Self::start_config(Config { allow_guests, limits, ..Config::default() }).await
    }

    /// A server on a fresh SQLite file with this configuration (its
    /// `database_url` is replaced).
    pub async fn start_config(config: Config) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config =
            Config { database_url: format!("sqlite://{}", dir.path().join("natter.db").display()), ..config };
        let mut server =
            Self { addr: "127.0.0.1:0".parse().unwrap(), config, stop: None, task: None, _dir: dir };
        server.launch("127.0.0.1:0".parse().unwrap()).await;
        server
    }

    /// One node of a cluster: a shared PostgreSQL database and Redis. The
    /// cluster is named after the database, so tests sharing the Redis do
    /// not hear each other.
    pub async fn start_node(database_url: &str, redis_url: &str) -> Self {
        Self::start_node_with(database_url, redis_url, test_limits()).await
    }

    /// [`TestServer::start_node`] with these limits.
    pub async fn start_node_with(database_url: &str, redis_url: &str, limits: Limits) -> Self {
        let database = database_url.rsplit('/').next().expect("a database name").to_owned();
        let config = Config {
            database_url: database_url.to_owned(),
            redis_url: Some(redis_url.to_owned()),
            cluster_name: database,
            // Short, so a dead node's users leave within a test's patience.
            presence_ttl: Duration::from_secs(1),
            limits,
            ..Config::default()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server =
            Self { addr: "127.0.0.1:0".parse().unwrap(), config, stop: None, task: None, _dir: dir };
        server.launch("127.0.0.1:0".parse().unwrap()).await;
        server
    }

    async fn launch(&mut self, at: SocketAddr) {
        let listener = tokio::net::TcpListener::bind(at).await.expect("bind");
        self.addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let config = self.config.clone();
        self.task = Some(tokio::spawn(async move {
            serve(listener, config, async move {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        }));
        self.stop = Some(stop);
        self.wait_healthy().await;
    }

    async fn wait_healthy(&self) {
        let url = self.url("/healthz");
        for _ in 0..200 {
            if let Ok(response) = reqwest::get(&url).await
                && response.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server at {} never became healthy", self.addr);
    }

    /// Graceful stop, as on SIGTERM: returns once the server has exited.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("server stops within its drain time")
                .expect("server task did not panic");
        }
    }

    /// Stops and starts again on the same database and port.
    pub async fn restart(&mut self) {
        self.stop().await;
        let at = self.addr;
        self.launch(at).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Registers a user and returns their session token.
    pub async fn register(&self, name: &str) -> String {
        let response = reqwest::Client::new()
            .post(self.url("/api/register"))
            .json(&json!({"username": name, "password": "correct horse"}))
            .send()
            .await
            .expect("register request");
        assert_eq!(response.status(), 201, "registering {name}");
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().expect("token in register answer").to_owned()
    }

    /// Registers, connects and says hello: a ready client and its welcome.
    pub async fn user(&self, name: &str) -> (Client, Value) {
        let token = self.register(name).await;
        let mut client = Client::connect(self, &token).await;
        let welcome = client.hello(json!({})).await;
        (client, welcome)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub struct Client {
    pub token: String,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames read while looking for another one, in arrival order. Every
    /// receive looks here first, so nothing is lost by looking ahead.
    backlog: VecDeque<Value>,
    next_ref: u64,
}

impl Client {
    pub async fn connect(server: &TestServer, token: &str) -> Self {
        Self::connect_url(&server.ws_url(), token).await
    }

    /// Connects to a `/ws` URL that is not a test server's own (a proxy's).
    pub async fn connect_url(url: &str, token: &str) -> Self {
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket connects");
        Self { token: token.to_owned(), socket, backlog: VecDeque::new(), next_ref: 1 }
    }

    /// Says hello with resume points and returns the welcome.
    pub async fn hello(&mut self, resume: Value) -> Value {
        self.send(json!({"type": "hello", "resume": resume})).await;
        self.expect("welcome").await
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_raw(WsMessage::text(frame.to_string())).await;
    }

    pub async fn send_raw(&mut self, frame: WsMessage) {
        self.socket.send(frame).await.expect("send frame");
    }

    /// The next frame from the socket that is not a ping or pong.
    async fn read_frame(&mut self, waiting_for: &str) -> WsMessage {
        loop {
            let frame = tokio::time::timeout(RECEIVE_TIMEOUT, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {waiting_for}; unread: {:?}", self.backlog))
                .unwrap_or_else(|| panic!("connection ended while waiting for {waiting_for}"))
                .unwrap_or_else(|e| panic!("socket error while waiting for {waiting_for}: {e}"));
            if !matches!(frame, WsMessage::Ping(_) | WsMessage::Pong(_)) {
                return frame;
            }
        }
    }

    fn parse(frame: WsMessage, waiting_for: &str) -> Value {
        match frame {
            WsMessage::Text(text) => serde_json::from_str(text.as_str()).expect("server sends JSON"),
            other => panic!("expected a text frame while waiting for {waiting_for}, got {other:?}"),
        }
    }

    /// The first frame (unread so far) that matches; others stay unread.
    pub async fn take(&mut self, matches: impl Fn(&Value) -> bool, what: &str) -> Value {
        if let Some(position) = self.backlog.iter().position(&matches) {
            return self.backlog.remove(position).expect("position is in range");
        }
        loop {
            let frame = self.read_frame(what).await;
            let frame = Self::parse(frame, what);
            if matches(&frame) {
                return frame;
            }
            self.backlog.push_back(frame);
        }
    }

    /// The next non-JSON frame (a close, say); text frames before it stay unread.
    pub async fn recv_control(&mut self) -> WsMessage {
        loop {
            match self.read_frame("a control frame").await {
                WsMessage::Text(text) => {
                    self.backlog.push_back(serde_json::from_str(text.as_str()).expect("JSON"))
                }
                other => return other,
            }
        }
    }

    /// The next `message` frame, or the control frame (a close) that ends
    /// the stream of them. Other text frames stay unread.
    pub async fn recv_control_or_message(&mut self) -> Result<Value, WsMessage> {
        if let Some(position) = self.backlog.iter().position(|f| f["type"] == "message") {
            return Ok(self.backlog.remove(position).expect("position is in range"));
        }
        loop {
            match self.read_frame("a message or a close").await {
                WsMessage::Text(text) => {
                    let frame: Value = serde_json::from_str(text.as_str()).expect("JSON");
                    if frame["type"] == "message" {
                        return Ok(frame);
                    }
                    self.backlog.push_back(frame);
                }
                other => return Err(other),
            }
        }
    }

    /// Forgets every frame read but not taken.
    pub fn discard_unread(&mut self) {
        self.backlog.clear();
    }

    /// The first unread frame of `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        self.take(|frame| frame["type"] == kind, kind).await
    }

    /// Sends a request with a fresh `ref` and returns the reply that echoes it.
    pub async fn request(&mut self, mut frame: Value) -> Value {
        let reference = self.next_ref;
        self.next_ref += 1;
        frame["ref"] = json!(reference);
        self.send(frame.clone()).await;
        self.take(|reply| reply["ref"] == json!(reference), &format!("the reply to {frame}")).await
    }

    /// Sends a message and returns its ack; an error fails the test.
    pub async fn post(&mut self, channel: i64, body: &str, client_id: &str) -> Value {
        let request = json!({"type": "send", "channel": channel, "body": body, "client_id": client_id});
        let reply = self.request(request).await;
        assert_eq!(reply["type"], "ack", "send {client_id}: {reply}");
        reply
    }

    /// The first unread `message` frame.
    pub async fn next_message(&mut self) -> Value {
        self.expect("message").await
    }

    /// The first unread `message` frame with this body.
    pub async fn message_with_body(&mut self, body: &str) -> Value {
        self.take(|f| f["type"] == "message" && f["body"] == body, body).await
    }

    /// The first unread presence event about `user`.
    pub async fn presence_of(&mut self, user: &str) -> Value {
        self.take(|f| f["type"] == "presence" && f["user"] == user, "presence").await
    }

    /// Asserts that no matching frame is unread or arrives within the quiet period.
    pub async fn assert_none(&mut self, matches: impl Fn(&Value) -> bool, what: &str) {
        if let Some(frame) = self.backlog.iter().find(|f| matches(f)) {
            panic!("unexpected {what}: {frame}");
        }
        let deadline = tokio::time::Instant::now() + QUIET_PERIOD;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return,
                Ok(Some(Ok(WsMessage::Text(text)))) => {
                    let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                    assert!(!matches(&frame), "unexpected {what}: {frame}");
                    self.backlog.push_back(frame);
                }
                Ok(Some(Ok(_))) => {}
                Ok(other) => panic!("connection ended while watching for {what}: {other:?}"),
            }
        }
    }

    /// Asserts that no frame of `kind` is unread or arrives within the quiet period.
    pub async fn assert_no(&mut self, kind: &str) {
        self.assert_none(|frame| frame["type"] == kind, kind).await;
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        // Drain until the server's close arrives, so it has seen ours.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await;
    }
}

pub const GENERAL: i64 = 1;
