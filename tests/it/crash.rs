//! Crash safety: SIGKILL the real binary while clients send as fast as they
//! can, again and again. Every acknowledged message must be stored exactly
//! once, seqs must stay gap-free, the database must pass an integrity check
//! after every kill, and resuming clients must all end with the same history.

use std::collections::{BTreeMap, HashMap};

use std::process::{Child, Command, Stdio};

use futures_util::{SinkExt, StreamExt};
use natter::protocol::http::SessionResponse;
use natter::protocol::{MessageInfo, ServerMessage};
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::harness::RECEIVE_TIMEOUT;

const NATTER: &str = env!("CARGO_BIN_EXE_natter");
const KILLS: usize = 5;
const SENDERS: usize = 3;
/// Sends a client keeps in flight: enough to keep the store's batches full.
const WINDOW: usize = 32;

struct Node {
    child: Child,
    base: String,
}

fn start(database: &str) -> Node {
    let mut child = Command::new(NATTER)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .args(["--messages-per-second", "1000000", "--message-burst", "1000000"])
        .env("NATTER_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start natter");
    let line = crate::harness::listening_line(&mut child);
    let base = line.trim().strip_prefix("natter listening on ").expect("listening line").to_owned();
    Node { child, base }
}

impl Node {
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }

    fn ws(&self, token: &str) -> String {
        format!("{}/ws?token={token}", self.base.replacen("http", "ws", 1))
    }
}

/// What one sender knows: acks it received (client id -> seq) and the
/// client ids it sent without seeing an ack.
#[derive(Default)]
struct Ledger {
    acked: HashMap<String, i64>,
    unacked: Vec<String>,
    next: usize,
}

/// Decodes a server text frame into the protocol's own type.
fn decode(text: &str) -> ServerMessage {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("a frame outside the protocol ({e}): {text}"))
}

/// Sends as fast as the window allows until the connection dies. Starts by
/// resending everything still unacknowledged, with the same client ids.
/// Counts every ack in `acks`, so the killer can strike mid-stream.
async fn send_until_killed(url: String, name: String, ledger: &mut Ledger, acks: &watch::Sender<usize>) {
    let Ok((socket, _)) = tokio_tungstenite::connect_async(url).await else { return };
    let (mut sink, mut stream) = socket.split();
    if sink.send(WsMessage::text(json!({"type": "hello"}).to_string())).await.is_err() {
        return;
    }
    let mut queue: Vec<String> = std::mem::take(&mut ledger.unacked);
    let mut in_flight: Vec<String> = Vec::new();
    loop {
        while in_flight.len() < WINDOW {
            let client_id = queue.pop().unwrap_or_else(|| {
                ledger.next += 1;
                format!("{name}-{}", ledger.next)
            });
            let frame = json!({"type": "send", "channel": 1, "body": format!("body of {client_id}"), "client_id": client_id});
            in_flight.push(client_id);
            if sink.send(WsMessage::text(frame.to_string())).await.is_err() {
                ledger.unacked.extend(in_flight.drain(..).chain(queue.drain(..)));
                return;
            }
        }
        let frame = tokio::time::timeout(RECEIVE_TIMEOUT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for an ack (or the kill) as {name}"));
        match frame {
            Some(Ok(WsMessage::Text(text))) => match decode(text.as_str()) {
                ServerMessage::Ack { client_id, seq, .. } => {
                    in_flight.retain(|c| *c != client_id);
                    if let Some(earlier) = ledger.acked.insert(client_id.clone(), seq) {
                        assert_eq!(earlier, seq, "{client_id} acked twice with different seqs");
                    }
                    acks.send_modify(|count| *count += 1);
                }
                frame @ ServerMessage::Error { .. } => panic!("unexpected error: {frame:?}"),
                _ => {}
            },
            Some(Ok(_)) => {}
            _ => {
                ledger.unacked.extend(in_flight.drain(..).chain(queue.drain(..)));
                return;
            }
        }
    }
}

fn integrity_check(path: &std::path::Path) {
    let connection = rusqlite::Connection::open(path).expect("database opens after a kill");
    let verdict: String = connection.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(verdict, "ok");
}

/// Every message of General, by resuming from `after` on a fresh connection.
async fn resume_all(node: &Node, token: &str, after: i64, last_seq: i64) -> Vec<(i64, i64, String)> {
    let (mut socket, _) = tokio_tungstenite::connect_async(node.ws(token)).await.unwrap();
    let hello = json!({"type": "hello", "resume": {"1": after}});
    socket.send(WsMessage::text(hello.to_string())).await.unwrap();
    let mut seen = Vec::new();
    while seen.last().map_or(after, |(seq, _, _)| *seq) < last_seq {
        let frame = tokio::time::timeout(RECEIVE_TIMEOUT, socket.next())
            .await
            .unwrap_or_else(|_| {
                panic!("timed out waiting for the replay after seq {after} to reach {last_seq}")
            })
            .unwrap()
            .unwrap();
        let WsMessage::Text(text) = frame else { continue };
        if let ServerMessage::Message(MessageInfo { seq, id, client_id, .. }) = decode(text.as_str()) {
            seen.push((seq, id, client_id));
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_repeated_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let database = format!("sqlite://{}", path.display());
    let node = start(&database);
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for n in 0..SENDERS {
        let response = http
            .post(format!("{}/api/register", node.base))
            .json(&json!({"username": format!("sender{n}"), "password": "correct horse"}))
            .send()
            .await
            .unwrap();
        let session: SessionResponse = response.json().await.unwrap();
        tokens.push(session.token);
    }
    let mut ledgers: Vec<Ledger> = (0..SENDERS).map(|_| Ledger::default()).collect();
    let mut node = Some(node);
    for round in 0..KILLS {
        let current = node.take().unwrap_or_else(|| start(&database));
        let (acks, mut acks_seen) = watch::channel(0);
        let senders: Vec<_> = ledgers
            .iter_mut()
            .enumerate()
            .map(|(n, ledger)| send_until_killed(current.ws(&tokens[n]), format!("s{n}"), ledger, &acks))
            .collect();
        // Kill at a different point each round, mid-stream: once this
        // round's senders hold so many acks, with more sends in flight.
        let kill_at = 50 + 100 * round;
        let killer = async {
            tokio::time::timeout(RECEIVE_TIMEOUT, acks_seen.wait_for(|count| *count >= kill_at))
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {kill_at} acks in round {round}"))
                .expect("the senders hold the ack counter");
            current.kill();
        };
        tokio::join!(futures_util::future::join_all(senders), killer);
        integrity_check(&path);
    }

    // Restart once more; everyone resends what was never acknowledged.
    let node = start(&database);
    for (n, ledger) in ledgers.iter_mut().enumerate() {
        let unacked = std::mem::take(&mut ledger.unacked);
        let (mut socket, _) = tokio_tungstenite::connect_async(node.ws(&tokens[n])).await.unwrap();
        socket.send(WsMessage::text(json!({"type": "hello"}).to_string())).await.unwrap();
        for client_id in &unacked {
            let frame = json!({"type": "send", "channel": 1, "body": format!("body of {client_id}"), "client_id": client_id});
            socket.send(WsMessage::text(frame.to_string())).await.unwrap();
        }
        let mut pending = unacked.len();
        while pending > 0 {
            let frame = tokio::time::timeout(RECEIVE_TIMEOUT, socket.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {pending} acks of resent messages"));
            let Some(Ok(WsMessage::Text(text))) = frame else { panic!("connection lost: {frame:?}") };
            if let ServerMessage::Ack { client_id, seq, .. } = decode(text.as_str()) {
                ledger.acked.insert(client_id, seq);
                pending -= 1;
            }
        }
    }

    let acked: BTreeMap<String, i64> = ledgers.iter().flat_map(|l| l.acked.clone()).collect();
    assert!(acked.len() > 100, "the senders got going before the kills ({} acked)", acked.len());
    let last_seq = *acked.values().max().unwrap();
    let history = resume_all(&node, &tokens[0], 0, last_seq).await;
    // Gap-free seqs 1..=last, each stored once, every acknowledged message
    // present with the seq its ack named.
    assert_eq!(
        history.iter().map(|(seq, _, _)| *seq).collect::<Vec<_>>(),
        (1..=last_seq).collect::<Vec<_>>()
    );
    let stored: HashMap<&str, i64> =
        history.iter().map(|(seq, _, client_id)| (client_id.as_str(), *seq)).collect();
    assert_eq!(stored.len(), history.len(), "no client id stored twice");
    for (client_id, seq) in &acked {
        assert_eq!(stored.get(client_id.as_str()), Some(seq), "acked {client_id} stored at its seq");
    }
    // Resuming from different points brings every client to the same history.
    for (n, token) in tokens.iter().enumerate() {
        let from = (last_seq / (n as i64 + 2)).max(0);
        let tail = resume_all(&node, token, from, last_seq).await;
        assert_eq!(tail.as_slice(), &history[from as usize..], "client {n} resumed from {from}");
    }
    println!("{KILLS} kills survived; {} acknowledged messages checked; {last_seq} stored", acked.len());
    node.kill();
    integrity_check(&path);
}
