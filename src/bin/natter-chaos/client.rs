//! The workload's clients: each a user on the native protocol that sends
//! with idempotent `client_id`s, records every invocation, outcome and
//! delivery, retries every unacknowledged send with the same `client_id`
//! (also on a new connection) and resumes each channel from the last seq it
//! holds. A client whose link dies reconnects, trying its home node first and
//! then the others.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{WebSocketStream, client_async};

use crate::history::{Op, Recorder, Row};

/// A client's WebSocket.
pub type Socket = WebSocketStream<TcpStream>;

/// How long one step of connecting (TCP, upgrade, `welcome`) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a client pings, so a dead link is noticed without a send.
const PING_EVERY: Duration = Duration::from_secs(2);
/// A connection without any frame for this long is given up.
const SILENCE_LIMIT: Duration = Duration::from_secs(10);
/// Pause before a failed send (an error answer) is sent again.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// What the scenario asks of its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Send new messages and retry pending ones.
    Run,
    /// Only retry pending ones.
    Drain,
    /// Close and stop.
    Stop,
}

/// One client's fixed identity and schedule.
#[derive(Debug, Clone)]
pub struct Spec {
    pub index: usize,
    /// Starts every `client_id`: the server keeps them per user forever, so
    /// each scenario needs its own.
    pub id_prefix: String,
    pub token: String,
    pub source: IpAddr,
    /// Nodes in the order to try them, home node first.
    pub nodes: Vec<(usize, SocketAddr)>,
    /// Channels the client belongs to, and those it sends to.
    pub channels: Vec<i64>,
    pub sends_to: Vec<i64>,
    /// Gap between two of its sends to one channel.
    pub send_every: Duration,
    /// Longest a send may go unanswered before the connection is given up.
    pub answer_limit: Duration,
}

/// What the scenario can see of a running client.
#[derive(Debug, Default)]
pub struct Progress {
    /// Whether the client holds a connection now (after `welcome`).
    pub connected: bool,
    /// The phase the client last acted on: the scenario waits for every
    /// client to have seen `Drain` before it trusts `pending`.
    pub seen: Option<Phase>,
    pub pending: usize,
    pub held: BTreeMap<i64, i64>,
}

struct Pending {
    client_id: String,
    channel: i64,
    /// When it went out on the current connection, if it did.
    sent_at: Option<Instant>,
    /// Not before this (after an error answer).
    not_before: Option<Instant>,
}

/// Runs a client until `phase` says stop.
pub async fn run(
    spec: Spec,
    history: Recorder,
    mut phase: watch::Receiver<Phase>,
    progress: Arc<Mutex<Progress>>,
) {
    let mut held: BTreeMap<i64, i64> = spec.channels.iter().map(|c| (*c, 0)).collect();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut sequence = 0u64;
    let mut conn = 0u32;
    let mut attempt = 0usize;
    let mut next_send = Instant::now() + spec.send_every;
    loop {
        if *phase.borrow() == Phase::Stop {
            return;
        }
        let (node, address) = spec.nodes[attempt % spec.nodes.len()];
        let connected = timeout(CONNECT_TIMEOUT * 2, connect(&spec, address, &held)).await;
        let mut socket = match connected {
            Ok(Ok(socket)) => socket,
            Ok(Err(_)) | Err(_) => {
                attempt += 1;
                tokio::select! {
                    _ = sleep(Duration::from_millis(300)) => {}
                    _ = phase.changed() => {}
                }
                continue;
            }
        };
        history.record(Op::Connect { client: spec.index, conn, node });
        progress.lock().expect("progress lock is never poisoned").connected = true;
        let mut session = Session {
            spec: &spec,
            history: &history,
            conn,
            node,
            held: &mut held,
            pending: &mut pending,
            sequence: &mut sequence,
            progress: &progress,
        };
        let reason = session.serve(&mut socket, &mut phase, &mut next_send).await;
        for job in pending.iter_mut() {
            if job.sent_at.take().is_some() {
                history.record(Op::SendInfo {
                    client: spec.index,
                    conn,
                    client_id: job.client_id.clone(),
                    reason: format!("connection ended: {reason}"),
                });
            }
        }
        progress.lock().expect("progress lock is never poisoned").connected = false;
        history.record(Op::Close { client: spec.index, conn, reason: reason.clone() });
        let _ = timeout(Duration::from_millis(200), socket.close(None)).await;
        conn += 1;
        if reason == "stopped" {
            return;
        }
        // Try the next node only if this one let us down at the transport.
        attempt += 1;
        sleep(Duration::from_millis(200)).await;
    }
}

struct Session<'a> {
    spec: &'a Spec,
    history: &'a Recorder,
    conn: u32,
    node: usize,
    held: &'a mut BTreeMap<i64, i64>,
    pending: &'a mut VecDeque<Pending>,
    sequence: &'a mut u64,
    progress: &'a Arc<Mutex<Progress>>,
}

impl Session<'_> {
    /// Serves one connection; returns why it ended.
    async fn serve(
        &mut self,
        socket: &mut Socket,
        phase: &mut watch::Receiver<Phase>,
        next_send: &mut Instant,
    ) -> String {
        let mut last_heard = Instant::now();
        let mut ping = tokio::time::interval(PING_EVERY);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            let current = *phase.borrow();
            if current == Phase::Stop {
                return "stopped".into();
            }
            let now = Instant::now();
            if current == Phase::Run && now >= *next_send {
                *next_send = now + self.spec.send_every;
                for &channel in &self.spec.sends_to {
                    *self.sequence += 1;
                    self.pending.push_back(Pending {
                        client_id: format!("{}c{}-{}", self.spec.id_prefix, self.spec.index, self.sequence),
                        channel,
                        sent_at: None,
                        not_before: None,
                    });
                }
            }
            self.publish_progress(current);
            if let Err(error) = self.send_due(socket, now).await {
                return format!("write failed: {error}");
            }
            if let Some(job) =
                self.pending.iter().find(|j| j.sent_at.is_some_and(|t| now - t >= self.spec.answer_limit))
            {
                self.history.record(Op::SendInfo {
                    client: self.spec.index,
                    conn: self.conn,
                    client_id: job.client_id.clone(),
                    reason: "timeout".into(),
                });
                let client_id = job.client_id.clone();
                if let Some(job) = self.pending.iter_mut().find(|j| j.client_id == client_id) {
                    job.sent_at = None;
                }
                return "a send went unanswered".into();
            }
            if now - last_heard >= SILENCE_LIMIT {
                return "silent link".into();
            }
            tokio::select! {
                _ = phase.changed() => {}
                _ = tick.tick() => {}
                _ = ping.tick() => {
                    if socket.send(Frame::text(r#"{"type":"ping"}"#)).await.is_err() {
                        return "ping failed".into();
                    }
                }
                frame = socket.next() => match frame {
                    Some(Ok(Frame::Text(text))) => {
                        last_heard = Instant::now();
                        self.handle(text.as_str());
                    }
                    Some(Ok(Frame::Close(close))) => {
                        return format!("closed by server: {}", close.map_or(0, |c| u16::from(c.code)));
                    }
                    Some(Ok(_)) => last_heard = Instant::now(),
                    Some(Err(error)) => return format!("read failed: {error}"),
                    None => return "connection ended".into(),
                },
            }
        }
    }

    fn publish_progress(&self, seen: Phase) {
        let mut progress = self.progress.lock().expect("progress lock is never poisoned");
        progress.seen = Some(seen);
        progress.pending = self.pending.len();
        progress.held.clone_from(self.held);
    }

    /// Sends every pending message not yet out on this connection.
    async fn send_due(&mut self, socket: &mut Socket, now: Instant) -> Result<(), String> {
        for job in self.pending.iter_mut() {
            if job.sent_at.is_some() || job.not_before.is_some_and(|t| now < t) {
                continue;
            }
            let frame = json!({
                "type": "send",
                "channel": job.channel,
                "body": format!("body of {}", job.client_id),
                "client_id": job.client_id,
                "ref": job.client_id,
            });
            self.history.record(Op::SendInvoke {
                client: self.spec.index,
                conn: self.conn,
                node: self.node,
                channel: job.channel,
                client_id: job.client_id.clone(),
            });
            job.sent_at = Some(now);
            socket.send(Frame::text(frame.to_string())).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn handle(&mut self, text: &str) {
        let Ok(frame) = serde_json::from_str::<Value>(text) else { return };
        let string = |key: &str| frame.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let number = |key: &str| frame.get(key).and_then(Value::as_i64).unwrap_or(-1);
        match frame.get("type").and_then(Value::as_str) {
            Some("ack") => {
                let client_id = string("client_id");
                if let Some(index) = self.pending.iter().position(|j| j.client_id == client_id) {
                    self.pending.remove(index);
                    self.history.record(Op::SendOk {
                        client: self.spec.index,
                        conn: self.conn,
                        client_id,
                        channel: number("channel"),
                        id: number("id"),
                        seq: number("seq"),
                    });
                }
            }
            Some("error") => {
                let client_id = frame.get("ref").and_then(Value::as_str).unwrap_or_default().to_owned();
                if let Some(job) =
                    self.pending.iter_mut().find(|j| j.client_id == client_id && j.sent_at.is_some())
                {
                    job.sent_at = None;
                    job.not_before = Some(Instant::now() + RETRY_AFTER);
                    self.history.record(Op::SendFail {
                        client: self.spec.index,
                        conn: self.conn,
                        client_id,
                        code: string("code"),
                    });
                }
            }
            Some("message") => {
                let channel = number("channel");
                let seq = number("seq");
                self.history.record(Op::Recv {
                    client: self.spec.index,
                    conn: self.conn,
                    channel,
                    seq,
                    id: number("id"),
                    client_id: string("client_id"),
                });
                if let Some(held) = self.held.get_mut(&channel) {
                    *held = (*held).max(seq);
                }
            }
            _ => {}
        }
    }
}

/// Opens a WebSocket from the client's own source address and resumes.
async fn connect(spec: &Spec, address: SocketAddr, held: &BTreeMap<i64, i64>) -> Result<Socket, String> {
    let mut socket = open(spec.source, address, &format!("/ws?token={}", spec.token)).await?;
    // Resuming from 0 replays a channel from its first message, so a client
    // misses nothing sent before its first connection either.
    let resume: serde_json::Map<String, Value> =
        held.iter().map(|(c, s)| (c.to_string(), json!(s))).collect();
    let hello = json!({"type": "hello", "resume": resume});
    socket.send(Frame::text(hello.to_string())).await.map_err(|e| e.to_string())?;
    await_frame(&mut socket, "welcome", |f| f["type"] == "welcome").await?;
    Ok(socket)
}

/// A WebSocket to `path` on `address`, from `source`.
pub async fn open(source: IpAddr, address: SocketAddr, path: &str) -> Result<Socket, String> {
    let stream = tcp(source, address).await?;
    let url = format!("ws://{address}{path}");
    let (socket, _) = timeout(CONNECT_TIMEOUT, client_async(url, stream))
        .await
        .map_err(|_| "upgrade timed out")?
        .map_err(|e| e.to_string())?;
    Ok(socket)
}

async fn tcp(source: IpAddr, address: SocketAddr) -> Result<TcpStream, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket.bind(SocketAddr::new(source, 0)).map_err(|e| format!("bind {source}: {e}"))?;
    let stream = timeout(CONNECT_TIMEOUT, socket.connect(address))
        .await
        .map_err(|_| format!("connect to {address} timed out"))?
        .map_err(|e| format!("connect to {address}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Reads frames until one matches, within [`CONNECT_TIMEOUT`]; `what` names
/// it in the error.
pub async fn await_frame(
    socket: &mut Socket,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Result<Value, String> {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        let frame = timeout(deadline.saturating_duration_since(Instant::now()), socket.next())
            .await
            .map_err(|_| format!("no {what} within {CONNECT_TIMEOUT:?}"))?;
        match frame {
            Some(Ok(Frame::Text(text))) => {
                let value: Value = serde_json::from_str(text.as_str()).map_err(|e| e.to_string())?;
                if matches(&value) {
                    return Ok(value);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(format!("waiting for {what}: {error}")),
            None => return Err(format!("connection ended waiting for {what}")),
        }
    }
}

/// One plain HTTP/1.1 request from `source`; returns status and body. The
/// whole exchange is bounded by `limit`.
pub async fn http(
    source: IpAddr,
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    limit: Duration,
) -> Result<(u16, String), String> {
    let exchange = async {
        let mut stream = tcp(source, address).await?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or("no status line")?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        Ok::<_, String>((status, body))
    };
    timeout(limit, exchange).await.map_err(|_| format!("{method} {path}: no answer within {limit:?}"))?
}

/// A channel's whole history as `address` returns it, oldest first.
pub async fn read_history(socket: &mut Socket, channel: i64) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut before: Option<i64> = None;
    for page in 0..1_000 {
        let mut request = json!({"type": "history", "channel": channel, "limit": 200, "ref": page});
        if let Some(before) = before {
            request["before"] = json!(before);
        }
        socket.send(Frame::text(request.to_string())).await.map_err(|e| e.to_string())?;
        let answer = await_frame(socket, "history", |f| f["ref"] == json!(page)).await?;
        if answer["type"] != "history" {
            return Err(format!("history of channel {channel}: {answer}"));
        }
        let messages = answer["messages"].as_array().cloned().unwrap_or_default();
        let mut page_rows: Vec<Row> = messages
            .iter()
            .map(|m| Row {
                seq: m["seq"].as_i64().unwrap_or(-1),
                id: m["id"].as_i64().unwrap_or(-1),
                client_id: m["client_id"].as_str().unwrap_or_default().to_owned(),
                sender: m["sender"].as_str().unwrap_or_default().to_owned(),
                ts: m["ts"].as_i64().unwrap_or(0),
                system: m.get("system").is_some_and(|system| !system.is_null()),
            })
            .collect();
        before = page_rows.first().map(|r| r.seq);
        page_rows.append(&mut rows);
        rows = page_rows;
        if answer["has_more"] != json!(true) || before.is_none() {
            return Ok(rows);
        }
    }
    Err(format!("history of channel {channel}: more than 1000 pages"))
}
