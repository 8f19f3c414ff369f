//! Starts real natter servers on port 0 and talks to them with real clients:
//! reqwest for HTTP, tokio-tungstenite for `/ws`. Server frames are decoded
//! into the protocol's own types (`natter::protocol::ServerMessage`), so a
//! frame outside the protocol fails the test where it arrives. Every receive
//! has a timeout that fails naming what was awaited.

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
use natter::protocol::http::SessionResponse;
use natter::protocol::{ChannelInfo, ErrorCode, MessageInfo, Ref, ServerMessage, UserInfo};
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
        // Short, so a dead node's users leave within a test's patience.
        Self::start_node_with_ttl(database_url, redis_url, limits, Duration::from_secs(1)).await
    }

    /// [`TestServer::start_node_with`], whose presence records live `presence_ttl`
    /// unless refreshed.
    pub async fn start_node_with_ttl(
        database_url: &str,
        redis_url: &str,
        limits: Limits,
        presence_ttl: Duration,
    ) -> Self {
        let config = Config { presence_ttl, limits, ..Config::default() };
        Self::start_node_config(database_url, redis_url, config).await
    }

    /// One node of a cluster with this configuration (its database, Redis
    /// and cluster name are replaced).
    pub async fn start_node_config(database_url: &str, redis_url: &str, config: Config) -> Self {
        let database = database_url.rsplit('/').next().expect("a database name").to_owned();
        let config = Config {
            database_url: database_url.to_owned(),
            redis_url: Some(redis_url.to_owned()),
            cluster_name: database,
            ..config
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

    /// Waits for the first answer of `/healthz`. The listener is bound before
    /// the server starts, so the request waits in its backlog until the
    /// server accepts: no polling is needed.
    async fn wait_healthy(&self) {
        let url = self.url("/healthz");
        let response = tokio::time::timeout(RECEIVE_TIMEOUT, reqwest::get(&url))
            .await
            .unwrap_or_else(|_| panic!("timed out after {RECEIVE_TIMEOUT:?} waiting for {url} to answer"))
            .unwrap_or_else(|e| panic!("{url} did not answer (did the server fail to start?): {e}"));
        assert_eq!(response.status(), 200, "{url} answers healthy");
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

    /// The database the server runs on (a SQLite file's URL for
    /// [`TestServer::start`]), for `natter user ...` commands.
    pub fn database_url(&self) -> &str {
        &self.config.database_url
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
        let session: SessionResponse = response.json().await.expect("a session in the register answer");
        assert_eq!(session.user.name, name, "the account registered");
        session.token
    }

    /// Registers, connects and says hello: a ready client and its welcome.
    pub async fn user(&self, name: &str) -> (Client, Welcome) {
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

/// Unpacks `value` with `pattern`, or fails showing what came instead:
/// `unpack!(reply, ServerMessage::Ack { seq, .. } => seq)`.
macro_rules! unpack {
    ($value:expr, $pattern:pat $(if $guard:expr)? => $result:expr) => {
        match $value {
            $pattern $(if $guard)? => $result,
            #[allow(unreachable_patterns)]
            other => panic!("expected {}, got {other:?}", stringify!($pattern)),
        }
    };
}
pub(crate) use unpack;

/// Waits for the first unread frame that matches `pattern` and unpacks it:
/// `recv!(client, "bob's typing", ServerMessage::Typing { user, .. } if user == "bob" => ())`.
/// Fails after [`RECEIVE_TIMEOUT`] naming what was awaited.
macro_rules! recv {
    ($client:expr, $what:expr, $pattern:pat $(if $guard:expr)? => $result:expr) => {{
        #[allow(unused_variables)]
        let frame = $client.recv_until($what, |frame| matches!(frame, $pattern $(if $guard)?)).await;
        $crate::harness::unpack!(frame, $pattern $(if $guard)? => $result)
    }};
}
pub(crate) use recv;

/// What tests ask of any server frame.
pub trait ServerMessageExt {
    /// The `ref` a reply or error echoes.
    fn reference(&self) -> Option<&Ref>;
    /// The code of an `error`; `None` for anything else.
    fn error_code(&self) -> Option<ErrorCode>;
}

impl ServerMessageExt for ServerMessage {
    fn reference(&self) -> Option<&Ref> {
        match self {
            ServerMessage::Ack { reference, .. }
            | ServerMessage::History { reference, .. }
            | ServerMessage::Channel { reference, .. }
            | ServerMessage::Left { reference, .. }
            | ServerMessage::Channels { reference, .. }
            | ServerMessage::Users { reference, .. }
            | ServerMessage::Watching { reference, .. }
            | ServerMessage::Members { reference, .. }
            | ServerMessage::Changed { reference, .. }
            | ServerMessage::SearchResults { reference, .. }
            | ServerMessage::Accounts { reference, .. }
            | ServerMessage::AccountUpdated { reference, .. }
            | ServerMessage::InviteCreated { reference, .. }
            | ServerMessage::ChannelUpdated { reference, .. }
            | ServerMessage::MemberRemoved { reference, .. }
            | ServerMessage::Profile { reference, .. }
            | ServerMessage::ResetLink { reference, .. }
            | ServerMessage::Invites { reference, .. }
            | ServerMessage::InviteRevoked { reference, .. }
            | ServerMessage::Registration { reference, .. }
            | ServerMessage::Error { reference, .. }
            | ServerMessage::Pong { reference } => reference.as_ref(),
            ServerMessage::Welcome { .. }
            | ServerMessage::WelcomeMore { .. }
            | ServerMessage::Message(_)
            | ServerMessage::Update(_)
            | ServerMessage::Reset { .. }
            | ServerMessage::Presence { .. }
            | ServerMessage::OnlinePage { .. }
            | ServerMessage::Typing { .. }
            | ServerMessage::Read { .. } => None,
        }
    }

    fn error_code(&self) -> Option<ErrorCode> {
        match self {
            ServerMessage::Error { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A `welcome`, taken apart.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub user: UserInfo,
    pub channels: Vec<ChannelInfo>,
    pub online: Vec<String>,
    pub complete: bool,
}

/// An `ack`, taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    pub channel: i64,
    pub id: i64,
    pub seq: i64,
}

pub struct Client {
    pub token: String,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames read while looking for another one, in arrival order. Every
    /// receive looks here first, so nothing is lost by looking ahead.
    backlog: VecDeque<ServerMessage>,
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
        let (socket, _) = tokio::time::timeout(RECEIVE_TIMEOUT, tokio_tungstenite::connect_async(request))
            .await
            .unwrap_or_else(|_| panic!("timed out after {RECEIVE_TIMEOUT:?} waiting for {url} to accept"))
            .expect("websocket connects");
        Self { token: token.to_owned(), socket, backlog: VecDeque::new(), next_ref: 1 }
    }

    /// Says hello with resume points and returns the welcome.
    pub async fn hello(&mut self, resume: Value) -> Welcome {
        self.send(json!({"type": "hello", "resume": resume})).await;
        recv!(self, "the welcome", ServerMessage::Welcome { user, channels, online, complete } =>
            Welcome { user, channels, online, complete })
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
                .unwrap_or_else(|_| {
                    panic!(
                        "timed out after {} s waiting for {waiting_for}; unread: {:?}",
                        RECEIVE_TIMEOUT.as_secs(),
                        self.backlog
                    )
                })
                .unwrap_or_else(|| panic!("connection ended while waiting for {waiting_for}"))
                .unwrap_or_else(|e| panic!("socket error while waiting for {waiting_for}: {e}"));
            if !matches!(frame, WsMessage::Ping(_) | WsMessage::Pong(_)) {
                return frame;
            }
        }
    }

    /// Decodes a server text frame into the protocol's own type.
    fn decode(text: &str) -> ServerMessage {
        serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("the server sent a frame outside the protocol ({e}): {text}"))
    }

    /// The first frame (unread so far) that matches, waiting at most
    /// [`RECEIVE_TIMEOUT`] for each frame; others stay unread. `what` names
    /// what is awaited in the failure.
    pub async fn recv_until(
        &mut self,
        what: &str,
        matches: impl Fn(&ServerMessage) -> bool,
    ) -> ServerMessage {
        if let Some(position) = self.backlog.iter().position(&matches) {
            return self.backlog.remove(position).expect("position is in range");
        }
        loop {
            let frame = match self.read_frame(what).await {
                WsMessage::Text(text) => Self::decode(text.as_str()),
                other => panic!("expected a text frame while waiting for {what}, got {other:?}"),
            };
            if matches(&frame) {
                return frame;
            }
            self.backlog.push_back(frame);
        }
    }

    /// The next non-text frame (a close, say); text frames before it stay unread.
    pub async fn recv_control(&mut self) -> WsMessage {
        loop {
            match self.read_frame("a control frame").await {
                WsMessage::Text(text) => self.backlog.push_back(Self::decode(text.as_str())),
                other => return other,
            }
        }
    }

    /// The next `message` frame, or the control frame (a close) that ends
    /// the stream of them. Other text frames stay unread.
    pub async fn recv_control_or_message(&mut self) -> Result<MessageInfo, WsMessage> {
        if let Some(position) = self.backlog.iter().position(|f| matches!(f, ServerMessage::Message(_))) {
            let frame = self.backlog.remove(position).expect("position is in range");
            return Ok(unpack!(frame, ServerMessage::Message(message) => message));
        }
        loop {
            match self.read_frame("a message or a close").await {
                WsMessage::Text(text) => match Self::decode(text.as_str()) {
                    ServerMessage::Message(message) => return Ok(message),
                    other => self.backlog.push_back(other),
                },
                other => return Err(other),
            }
        }
    }

    /// Forgets every frame read but not taken.
    pub fn discard_unread(&mut self) {
        self.backlog.clear();
    }

    /// Sends a request with a fresh `ref` and returns the reply that echoes it.
    pub async fn request(&mut self, mut frame: Value) -> ServerMessage {
        let reference = json!(self.next_ref);
        self.next_ref += 1;
        frame["ref"] = reference.clone();
        self.send(frame.clone()).await;
        self.recv_until(&format!("the reply to {frame}"), |reply| reply.reference() == Some(&reference)).await
    }

    /// Sends a message and returns its ack; an error fails the test.
    pub async fn post(&mut self, channel: i64, body: &str, client_id: &str) -> Acked {
        let request = json!({"type": "send", "channel": channel, "body": body, "client_id": client_id});
        let reply = self.request(request).await;
        let ServerMessage::Ack { channel, id, seq, client_id: acked, .. } = reply else {
            panic!("send {client_id} answered {reply:?}");
        };
        assert_eq!(acked, client_id, "the ack names the message's client id");
        Acked { channel, id, seq }
    }

    /// The first unread `message` frame.
    pub async fn next_message(&mut self) -> MessageInfo {
        recv!(self, "a message", ServerMessage::Message(message) => message)
    }

    /// The first unread `message` frame with this body.
    pub async fn message_with_body(&mut self, body: &str) -> MessageInfo {
        recv!(self, &format!("the message {body:?}"), ServerMessage::Message(message) if message.body == body => message)
    }

    /// Whether the first unread presence event about `user` says online.
    pub async fn presence_of(&mut self, user: &str) -> bool {
        recv!(self, &format!("{user}'s presence"), ServerMessage::Presence { user: about, online } if about == user => online)
    }

    /// The first unread `error` frame: its code and text.
    pub async fn next_error(&mut self) -> (ErrorCode, String) {
        recv!(self, "an error", ServerMessage::Error { code, message, .. } => (code, message))
    }

    /// Asserts that no matching frame is unread or arrives within the quiet period.
    pub async fn assert_none(&mut self, what: &str, matches: impl Fn(&ServerMessage) -> bool) {
        if let Some(frame) = self.backlog.iter().find(|f| matches(f)) {
            panic!("unexpected {what}: {frame:?}");
        }
        let deadline = tokio::time::Instant::now() + QUIET_PERIOD;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return,
                Ok(Some(Ok(WsMessage::Text(text)))) => {
                    let frame = Self::decode(text.as_str());
                    assert!(!matches(&frame), "unexpected {what}: {frame:?}");
                    self.backlog.push_back(frame);
                }
                Ok(Some(Ok(_))) => {}
                Ok(other) => panic!("connection ended while watching for {what}: {other:?}"),
            }
        }
    }

    /// Asserts that no `message` frame is unread or arrives within the quiet period.
    pub async fn assert_no_message(&mut self) {
        self.assert_none("a message", |frame| matches!(frame, ServerMessage::Message(_))).await;
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

/// How long a started `natter` process has to print its listening line.
const LISTENING_LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// The first line a started `natter` process prints (it says where it
/// listens), read on a thread so that a process that neither prints nor
/// exits fails the test with a message instead of hanging it.
pub fn listening_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = sender.send(read);
    });
    match receiver.recv_timeout(LISTENING_LINE_TIMEOUT) {
        Ok(Ok(line)) => line,
        Ok(Err(error)) => panic!("cannot read natter's listening line: {error}"),
        Err(_) => panic!("timed out after {LISTENING_LINE_TIMEOUT:?} waiting for natter's listening line"),
    }
}

/// Runs `natter user ...` on `server`'s database (with `stdin` as its
/// input); its exit success and output.
pub async fn natter_user(server: &TestServer, arguments: &[&str], stdin: &str) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_natter"));
    command.arg("user").args(arguments).args(["--database", server.database_url()]);
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    })
    .await
    .unwrap()
}
