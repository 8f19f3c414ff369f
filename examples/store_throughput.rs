//! Durable messages per second through the SQLite store, with group commit
//! and with one transaction per message.
//!
//! `cargo run --release --example store_throughput -- [messages] [writers]`
//!
//! Each writer is a task that appends and waits for the commit before its
//! next message, as a connection waiting for its ack does. Every append is on
//! disk (WAL, synchronous=FULL) when it resolves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use natter::metrics::Metrics;
use natter::model::{ChannelId, ClientId, MessageBody, UserName};
use natter::store::sqlite::{DEFAULT_MAX_BATCH, SqliteOptions, SqliteStore};
use natter::store::{NewMessage, Store};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let messages: usize = args.next().map_or(20_000, |a| a.parse().expect("messages is a number"));
    let writers: usize = args.next().map_or(64, |a| a.parse().expect("writers is a number"));
    println!("{messages} messages from {writers} concurrent writers, each waiting for its commit");
    println!("{:<28} {:>12} {:>10} {:>10} {:>10}", "mode", "messages/s", "p50 ms", "p99 ms", "avg batch");
    for (mode, max_batch) in [("group commit (batch <= 512)", DEFAULT_MAX_BATCH), ("one transaction each", 1)]
    {
        // One transaction per message is slow; measure it on fewer messages.
        let count = if max_batch == 1 { messages / 10 } else { messages };
        let (rate, p50, p99, batch) = run(count, writers, max_batch).await;
        println!(
            "{mode:<28} {rate:>12.0} {:>10.2} {:>10.2} {batch:>10.1}",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}

async fn run(messages: usize, writers: usize, max_batch: usize) -> (f64, Duration, Duration, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let metrics = Arc::new(Metrics::default());
    let options = SqliteOptions { path: Some(dir.path().join("bench.db")), max_batch };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(options, Arc::clone(&metrics)).expect("open"));
    let mut users = Vec::new();
    for n in 0..writers {
        let name = UserName::parse(&format!("writer{n}")).expect("valid name");
        users.push(store.create_user(&name, "not a real hash").await.expect("user").id);
    }
    let batches_before = metrics.commit_batch_size.count();
    let per_writer = messages / writers;
    let started = Instant::now();
    let tasks: Vec<_> = users
        .into_iter()
        .map(|user| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_writer);
                for n in 0..per_writer {
                    let message = NewMessage {
                        channel: ChannelId(1),
                        sender: user,
                        client_id: ClientId::parse(format!("m{n}")).expect("valid id"),
                        body: MessageBody::parse("x".repeat(256)).expect("valid body"),
                        reply_to: None,
                        files: Vec::new(),
                    };
                    let sent = Instant::now();
                    store.append_message(message).await.expect("append");
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(messages);
    for task in tasks {
        latencies.extend(task.await.expect("writer task"));
    }
    let elapsed = started.elapsed();
    let batches = metrics.commit_batch_size.count() - batches_before;
    store.close().await;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let total = latencies.len();
    (total as f64 / elapsed.as_secs_f64(), at(0.5), at(0.99), total as f64 / batches.max(1) as f64)
}
