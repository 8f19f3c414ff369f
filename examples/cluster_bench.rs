//! Messages per second through one node and through two, on one PostgreSQL
//! and one Redis, and the delivery latency from a sender on one node to a
//! reader on the other.
//!
//! `cargo run --release --example cluster_bench -- POSTGRES_URL REDIS_URL [messages] [senders]`
//!
//! POSTGRES_URL names a server where a fresh database may be created for
//! each run (`scripts/test-services start` prints one). Every node runs in
//! this process, on the same cores as PostgreSQL and Redis: the figures
//! compare one node with two on one machine, they do not show what two
//! machines would.
//!
//! Senders (real WebSocket clients, spread over the nodes round robin) each
//! keep `WINDOW` sends in flight, as the crash test's senders do. One reader
//! per node counts General's messages; a run ends when every reader has all
//! of them. Latency is measured from just before a send to its arrival at a
//! reader on another node (on one node: the same node), in the same clock.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use natter::limits::Limits;
use natter::server::{Config, serve};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Sends one sender keeps unacknowledged in the throughput runs.
const WINDOW: usize = 16;

/// Messages of the unloaded latency run: one sender, one send at a time.
const PROBES: usize = 2_000;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let postgres = args.next().expect("usage: cluster_bench POSTGRES_URL REDIS_URL [messages] [senders]");
    let redis = args.next().expect("usage: cluster_bench POSTGRES_URL REDIS_URL [messages] [senders]");
    let messages: usize = args.next().map_or(20_000, |a| a.parse().expect("messages is a number"));
    let senders: usize = args.next().map_or(8, |a| a.parse().expect("senders is a number"));
    println!("{messages} messages from {senders} senders ({WINDOW} in flight each), one reader per node");
    println!(
        "{:<8} {:>12} {:>14} {:>14} {:>10}",
        "nodes", "messages/s", "latency p50 ms", "latency p99 ms", "samples"
    );
    for nodes in [1, 2] {
        let result = run(&postgres, &redis, nodes, messages, senders, WINDOW).await;
        print_row(&format!("{nodes}"), &result);
    }
    println!("unloaded: {PROBES} messages from one sender on node 0, one at a time, read on node 1");
    let result = run(&postgres, &redis, 2, PROBES, 1, 1).await;
    print_row("2", &result);
}

fn print_row(label: &str, result: &Outcome) {
    println!(
        "{label:<8} {:>12.0} {:>14.2} {:>14.2} {:>10}",
        result.rate,
        result.p50.as_secs_f64() * 1e3,
        result.p99.as_secs_f64() * 1e3,
        result.samples
    );
}

struct Outcome {
    rate: f64,
    p50: Duration,
    p99: Duration,
    samples: usize,
}

async fn run(
    postgres: &str,
    redis: &str,
    nodes: usize,
    messages: usize,
    senders: usize,
    window: usize,
) -> Outcome {
    let database = fresh_database(postgres).await;
    let cluster = database.rsplit('/').next().expect("a database name").to_owned();
    let mut addresses = Vec::new();
    for _ in 0..nodes {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        addresses.push(listener.local_addr().expect("address"));
        let config = Config {
            database_url: database.clone(),
            redis_url: Some(redis.to_owned()),
            cluster_name: cluster.clone(),
            limits: Limits {
                messages_per_second: 1e9,
                message_burst: 1e9,
                outbound_queue: 1 << 16,
                ..Limits::default()
            },
            ..Config::default()
        };
        tokio::spawn(
            async move { serve(listener, config, std::future::pending()).await.expect("node runs") },
        );
    }
    let http = reqwest::Client::new();
    for address in &addresses {
        wait_healthy(&http, *address).await;
    }
    let origin = Instant::now();

    // Readers first, one per node, so they see everything live.
    let mut readers = Vec::new();
    for (index, address) in addresses.iter().enumerate() {
        let token = register(&http, *address, &format!("reader{index}")).await;
        let socket = connect(*address, &token).await;
        readers.push(tokio::spawn(read_all(socket, index, nodes, messages, origin)));
    }
    let mut sender_sockets = Vec::new();
    for index in 0..senders {
        let node = index % nodes;
        let token = register(&http, addresses[node], &format!("sender{index}")).await;
        sender_sockets.push((node, connect(addresses[node], &token).await));
    }

    let started = Instant::now();
    let mut sending = Vec::new();
    for (index, (node, socket)) in sender_sockets.into_iter().enumerate() {
        let count = messages / senders + usize::from(index < messages % senders);
        sending.push(tokio::spawn(send_all(socket, index, node, count, window, origin)));
    }
    for task in sending {
        task.await.expect("sender finished");
    }
    let mut latencies = Vec::new();
    for reader in readers {
        latencies.extend(reader.await.expect("reader finished"));
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let percentile = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Outcome {
        rate: messages as f64 / elapsed.as_secs_f64(),
        p50: percentile(0.50),
        p99: percentile(0.99),
        samples: latencies.len(),
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(address: std::net::SocketAddr, token: &str) -> Socket {
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{address}/ws?token={token}")).await.expect("connect");
    socket.send(WsMessage::text(json!({"type": "hello"}).to_string())).await.expect("hello");
    loop {
        let frame = socket.next().await.expect("open").expect("frame");
        if let WsMessage::Text(text) = frame
            && serde_json::from_str::<Value>(text.as_str()).expect("JSON")["type"] == "welcome"
        {
            return socket;
        }
    }
}

/// Sends `count` messages with `window` in flight; each body says the
/// sender's node and the send time (microseconds since `origin`).
async fn send_all(
    mut socket: Socket,
    index: usize,
    node: usize,
    count: usize,
    window: usize,
    origin: Instant,
) {
    let (mut sent, mut acked) = (0, 0);
    while acked < count {
        while sent < count && sent - acked < window {
            let body = format!("{node} {}", origin.elapsed().as_micros());
            let frame =
                json!({"type": "send", "channel": 1, "body": body, "client_id": format!("s{index}-{sent}")});
            socket.send(WsMessage::text(frame.to_string())).await.expect("send");
            sent += 1;
        }
        let frame = socket.next().await.expect("open").expect("frame");
        if let WsMessage::Text(text) = frame {
            let frame: Value = serde_json::from_str(text.as_str()).expect("JSON");
            match frame["type"].as_str() {
                Some("ack") => acked += 1,
                Some("error") => panic!("send refused: {frame}"),
                _ => {}
            }
        }
    }
}

/// Reads General until `messages` arrived; returns the latencies of those
/// sent from another node (from any node, when there is only one).
async fn read_all(
    mut socket: Socket,
    node: usize,
    nodes: usize,
    messages: usize,
    origin: Instant,
) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let mut seen = 0;
    while seen < messages {
        let frame = socket.next().await.expect("open").expect("frame");
        let WsMessage::Text(text) = frame else { continue };
        let frame: Value = serde_json::from_str(text.as_str()).expect("JSON");
        if frame["type"] != "message" {
            continue;
        }
        seen += 1;
        let body = frame["body"].as_str().expect("body");
        let (from, sent_at) = body.split_once(' ').expect("node and time");
        let from: usize = from.parse().expect("node");
        if nodes == 1 || from != node {
            let sent_at = Duration::from_micros(sent_at.parse().expect("time"));
            latencies.push(origin.elapsed().saturating_sub(sent_at));
        }
    }
    latencies
}

async fn register(http: &reqwest::Client, address: std::net::SocketAddr, name: &str) -> String {
    let response = http
        .post(format!("http://{address}/api/register"))
        .json(&json!({"username": name, "password": "correct horse"}))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 201, "registering {name}");
    response.json::<Value>().await.expect("JSON")["token"].as_str().expect("token").to_owned()
}

async fn wait_healthy(http: &reqwest::Client, address: std::net::SocketAddr) {
    for _ in 0..400 {
        if let Ok(response) = http.get(format!("http://{address}/healthz")).send().await
            && response.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("node {address} never became healthy");
}

async fn fresh_database(base: &str) -> String {
    let (client, connection) =
        tokio_postgres::connect(base, tokio_postgres::NoTls).await.expect("PostgreSQL");
    tokio::spawn(connection);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    let name = format!("natter_bench_{nanos}");
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
    let (prefix, _) = base.rsplit_once('/').expect("the URL names a database");
    format!("{prefix}/{name}")
}
