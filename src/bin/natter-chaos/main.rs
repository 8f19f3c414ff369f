//! `natter-chaos`: Jepsen-style fault tests of a three-node natter cluster.
//! It runs inside the test network that `scripts/chaos` builds (that script
//! starts it; it needs root), drives a workload of clients on every node,
//! injects faults through `scripts/chaos`' verbs, reads every channel back
//! from every node and judges the recorded history with a pure checker.
//!
//!   natter-chaos quick                  the quick profile, one fault each
//!   natter-chaos one NAME               one scenario by name (the quick ones,
//!                                       node-crash, postgres-crash, postgres-reset,
//!                                       loss-5-percent-long, bandwidth-256kbit,
//!                                       proxy-delay-100ms, proxy-delay-20ms, proxy-redis-stall,
//!                                       proxy-postgres-stall, s13-presence-wipe;
//!                                       several names run one after another)
//!   natter-chaos long --seed S --ticks N   seeded random faults, replayable
//!
//! Each scenario prints one JSON summary line; the history and node logs
//! stay in `$CHAOS_DIR`. Exit status 1 if any scenario is invalid.

mod checker;
mod client;
mod history;
mod nemesis;
mod proxy;

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand};
use futures_util::SinkExt;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::{Instant, sleep};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::checker::Bounds;
use crate::client::{Phase, Progress, Spec};
use crate::history::{Op, Recorder};
use crate::nemesis::Fault;

/// A send (or a health probe) must be answered within this. The slowest
/// honest `unavailable` waits for the batch in flight to fail (PostgreSQL's
/// TCP user timeout, 4 s) and then for its own batch's connection attempt
/// (3 s): 7 s, and 3 s of margin for a loaded CI machine.
const ANSWER_MS: u64 = 10_000;
/// A message must reach every connected client within this of the later of
/// its ack and a heal. After a heal the bus's next resubscription attempt
/// comes within its 2 s backoff, then the hub reads what it missed from the
/// store; healthy delivery takes milliseconds. 5 s leaves margin for a
/// loaded machine and is still well below the 11.5 s that TCP's
/// retransmission backoff alone took before the bus had a liveness check.
const STALENESS_MS: u64 = 5_000;
/// After the presence records vanish from Redis, every node must show every
/// connected user online again within this: each node rewrites its record
/// every third of the 15 s TTL (5 s) and reads the others' when notified,
/// plus 1 s (FAULTS.md, I5).
const PRESENCE_BACK_MS: u64 = 6_000;
/// How long the presence probe watches each node after a wipe: a node
/// reads the records at least every 5 s, so by then it has seen the wipe
/// and (within the bound) recovered.
const PRESENCE_PROBE_LIMIT: Duration = Duration::from_secs(15);
/// A node's resident memory must stay below this (queues are bounded).
const MAX_RSS_KIB: u64 = 1 << 20;

const CLIENTS: usize = 9;
const NODES: [Ipv4Addr; 3] =
    [Ipv4Addr::new(10, 77, 0, 21), Ipv4Addr::new(10, 77, 0, 22), Ipv4Addr::new(10, 77, 0, 23)];
const PROBE_SOURCE: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const PASSWORD: &str = "chaos-password";

/// Before the fault: healthy traffic to compare against.
const WARM_UP: Duration = Duration::from_secs(5);
/// After the heal, still sending: liveness.
const AFTER_HEAL: Duration = Duration::from_secs(10);
/// Longest the drain (no new sends; retries and deliveries finish) may take.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(about = "Jepsen-style fault tests for a natter cluster (run through scripts/chaos)")]
struct Cli {
    #[command(subcommand)]
    profile: Profile,
}

#[derive(Subcommand)]
enum Profile {
    /// The quick profile: each scenario once.
    Quick,
    /// One scenario by name: the quick profile's, or `node-crash`,
    /// `postgres-crash`, `postgres-reset`, `loss-5-percent-long`, `bandwidth-256kbit`,
    /// `proxy-delay-100ms`, `proxy-delay-20ms`, `proxy-redis-stall`, `proxy-postgres-stall`,
    /// `s13-presence-wipe`; several run one after another.
    One {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Seeded random faults, one workload throughout.
    Long {
        /// Replays a schedule; a random one is drawn (and printed) if absent.
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, default_value_t = 20)]
        ticks: usize,
        /// Seconds each fault lasts; as long again healed after it.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

fn node_address(node: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(NODES[node]), 3000)
}

struct Run {
    script: PathBuf,
    dir: PathBuf,
    users: Vec<(String, String)>,
    /// Listens throughout; nodes use it only in scenarios that are `proxied`.
    proxy: proxy::Proxy,
}

/// The fault proxy's links: node nK reaches PostgreSQL at 10.77.0.1:1543K
/// and Redis at 10.77.0.1:1637K (the ports `scripts/chaos restart NODE
/// proxied` gives it).
fn proxy_links() -> Vec<(String, SocketAddr, SocketAddr)> {
    let here = |port| SocketAddr::new(IpAddr::V4(PROBE_SOURCE), port);
    let postgres = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 77, 0, 10)), 5432);
    let redis = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 77, 0, 11)), 6379);
    let mut links = Vec::new();
    for node in 0..NODES.len() {
        let k = u16::try_from(node + 1).expect("three nodes");
        links.push((nemesis::link_name(node, "pg"), here(15430 + k), postgres));
        links.push((nemesis::link_name(node, "redis"), here(16370 + k), redis));
    }
    links
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let script = PathBuf::from(std::env::var("CHAOS_SCRIPT").unwrap_or_else(|_| "scripts/chaos".into()));
    let dir = PathBuf::from(std::env::var("CHAOS_DIR").unwrap_or_else(|_| "/tmp/natter-chaos".into()));
    let users = match register().await {
        Ok(users) => users,
        Err(error) => {
            eprintln!("natter-chaos: cannot register the workload's users: {error}");
            return ExitCode::FAILURE;
        }
    };
    let proxy = match proxy::Proxy::start(&proxy_links()).await {
        Ok(proxy) => proxy,
        Err(error) => {
            eprintln!("natter-chaos: cannot start the fault proxy: {error}");
            return ExitCode::FAILURE;
        }
    };
    let run = Run { script, dir, users, proxy };
    let scenarios: Vec<(String, Vec<Fault>)> = match cli.profile {
        Profile::Quick => nemesis::quick().into_iter().map(|f| (f.name.clone(), vec![f])).collect(),
        Profile::One { names } => {
            let mut chosen = Vec::new();
            for name in names {
                match nemesis::quick().into_iter().chain(nemesis::extra()).find(|f| f.name == name) {
                    Some(fault) => chosen.push((name, vec![fault])),
                    None => {
                        let names: Vec<String> =
                            nemesis::quick().into_iter().chain(nemesis::extra()).map(|f| f.name).collect();
                        eprintln!("natter-chaos: no scenario {name:?}; there are {}", names.join(", "));
                        return ExitCode::FAILURE;
                    }
                }
            }
            chosen
        }
        Profile::Long { seed, ticks, seconds } => {
            let seed = seed.unwrap_or_else(|| {
                let mut bytes = [0u8; 8];
                getrandom::fill(&mut bytes).expect("the operating system provides randomness");
                u64::from_le_bytes(bytes) % 1_000_000
            });
            eprintln!(
                "natter-chaos: long profile, seed {seed} (replay: scripts/chaos run long --seed {seed} --ticks {ticks} --seconds {seconds})"
            );
            vec![(format!("long-seed-{seed}"), nemesis::random_schedule(seed, ticks, seconds))]
        }
    };
    let mut all_valid = true;
    for (name, faults) in scenarios {
        let started = Instant::now();
        match run.scenario(&name, &faults).await {
            Ok(summary) => {
                all_valid &= summary.valid;
                let line =
                    json!({"scenario": name, "seconds": started.elapsed().as_secs(), "summary": summary});
                println!("{line}");
                let _ = fs::write(run.dir.join(&name).join("summary.json"), line.to_string());
            }
            Err(error) => {
                all_valid = false;
                println!("{}", json!({"scenario": name, "error": error}));
            }
        }
    }
    if all_valid { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Registers the workload's users, each from its own address on its home node.
async fn register() -> Result<Vec<(String, String)>, String> {
    let mut users = Vec::new();
    for index in 0..CLIENTS {
        let name = format!("c{index}");
        let body = json!({"username": name, "password": PASSWORD});
        let source = client_source(index);
        let (status, answer) = client::http(
            source,
            node_address(index / 3),
            "POST",
            "/api/register",
            Some(&body),
            Duration::from_secs(15),
        )
        .await?;
        if status != 201 {
            return Err(format!("register {name}: {status} {answer}"));
        }
        let value: serde_json::Value = serde_json::from_str(&answer).map_err(|e| e.to_string())?;
        let token = value["token"].as_str().ok_or("no token")?.to_owned();
        users.push((name, token));
    }
    Ok(users)
}

fn client_source(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 77, 0, 41 + u8::try_from(index).expect("fewer than 200 clients")))
}

impl Run {
    /// Runs the workload through `faults` in turn and judges the history.
    async fn scenario(&self, name: &str, faults: &[Fault]) -> Result<checker::Summary, String> {
        let out = self.dir.join(name);
        fs::create_dir_all(&out).map_err(|e| e.to_string())?;
        // Every scenario starts from a healthy cluster, so one scenario's
        // damage is not blamed on the next.
        let proxied = faults.iter().any(|fault| fault.proxied);
        self.proxy
            .set("all", |knobs| *knobs = proxy::Knobs { resets: knobs.resets, ..Default::default() })?;
        for node in 0..NODES.len() {
            let mut restart = vec!["restart".to_owned(), nemesis::node_name(node)];
            if proxied {
                restart.push("proxied".to_owned());
            }
            self.verb(&restart).await?;
        }
        let panics_before = self.panics();
        let channels = self.create_channels(name).await?;
        let history = Recorder::new();
        let (phase_tx, phase) = watch::channel(Phase::Run);
        let mut tasks = Vec::new();
        let mut progress = Vec::new();
        for (index, (_, token)) in self.users.iter().enumerate() {
            let home = index / 3;
            // Channel 0 everyone sends to; channel 1 only clients homed on
            // n2 and n3, so n1's clients only listen there and a deaf n1
            // cannot be masked by its own clients' traffic.
            let sends_to = if home == 0 { vec![channels[0]] } else { channels.clone() };
            let spec = Spec {
                index,
                id_prefix: format!("{name}/"),
                token: token.clone(),
                source: client_source(index),
                nodes: (0..3).map(|k| ((home + k) % 3, node_address((home + k) % 3))).collect(),
                channels: channels.clone(),
                sends_to,
                send_every: Duration::from_millis(1000),
                answer_limit: Duration::from_millis(ANSWER_MS),
            };
            let shared = Arc::new(Mutex::new(Progress::default()));
            progress.push(Arc::clone(&shared));
            tasks.push(tokio::spawn(client::run(spec, history.clone(), phase.clone(), shared)));
        }
        sleep(WARM_UP).await;
        let mut outcome = Ok(());
        for fault in faults {
            outcome = self.inflict(fault, &history, &phase_tx, &progress).await;
            if outcome.is_err() {
                break;
            }
            // Healed as long as it was broken between random ticks; one
            // fault alone is followed by AFTER_HEAL of healthy traffic.
            sleep(if faults.len() == 1 { AFTER_HEAL } else { fault.duration }).await;
        }
        phase_tx.send_replace(Phase::Drain);
        let drain_until = Instant::now() + DRAIN_LIMIT;
        while Instant::now() < drain_until && !drained(&history, &progress) {
            sleep(Duration::from_millis(200)).await;
        }
        self.record_presence(&history, &progress).await;
        phase_tx.send_replace(Phase::Stop);
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.read_back(&history, &channels).await;
        self.inspect_nodes(&history, panics_before);
        outcome?;
        let events = history.snapshot();
        let lines: Vec<String> =
            events.iter().map(|e| serde_json::to_string(e).expect("events serialize")).collect();
        fs::write(out.join("history.jsonl"), lines.join("\n") + "\n").map_err(|e| e.to_string())?;
        Ok(checker::check(
            &events,
            Bounds {
                answer_ms: ANSWER_MS,
                staleness_ms: STALENESS_MS,
                max_rss_kib: MAX_RSS_KIB,
                presence_back_ms: PRESENCE_BACK_MS,
            },
        ))
    }

    /// Applies a fault, holds it (probing `/healthz` of nodes cut off from
    /// PostgreSQL), and heals it.
    async fn inflict(
        &self,
        fault: &Fault,
        history: &Recorder,
        phase: &watch::Sender<Phase>,
        progress: &[Arc<Mutex<Progress>>],
    ) -> Result<(), String> {
        eprintln!("natter-chaos: {} ({}) for {:?}", fault.name, fault.about, fault.duration);
        history.record(Op::FaultStart {
            name: fault.name.clone(),
            cut_clients: fault.cut_clients.clone(),
            silent_nodes: fault.silent_nodes.clone(),
            store_cut_nodes: fault.store_cut_nodes.clone(),
        });
        if fault.quiet {
            phase.send_replace(Phase::Drain);
        }
        for verb in &fault.start {
            self.verb(verb).await?;
        }
        let began = Instant::now();
        let until = began + fault.duration;
        let mut probes = Vec::new();
        if fault.presence_probe {
            let connected = self.connected(progress);
            for node in 0..NODES.len() {
                let history = history.clone();
                let path = format!("/ws?token={}", self.users[0].1);
                let connected = connected.clone();
                probes.push(tokio::spawn(async move {
                    let (ms, short) = presence_back(node, &path, &connected, began).await;
                    history.record(Op::PresenceBack { node, ms, short });
                }));
            }
        }
        for &node in &fault.store_cut_nodes {
            let history = history.clone();
            probes.push(tokio::spawn(async move {
                while Instant::now() < until {
                    let began = Instant::now();
                    let limit = Duration::from_millis(ANSWER_MS + 5_000);
                    let answer = client::http(
                        IpAddr::V4(PROBE_SOURCE),
                        node_address(node),
                        "GET",
                        "/healthz",
                        None,
                        limit,
                    )
                    .await;
                    let ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
                    history.record(Op::Health { node, status: answer.map_or(0, |(status, _)| status), ms });
                    sleep(Duration::from_secs(1)).await;
                }
            }));
        }
        tokio::time::sleep_until(until).await;
        for verb in &fault.stop {
            self.verb(verb).await?;
        }
        history.record(Op::FaultStop { name: fault.name.clone() });
        if fault.quiet {
            phase.send_replace(Phase::Run);
        }
        for probe in probes {
            let _ = tokio::time::timeout(Duration::from_secs(20), probe).await;
        }
        Ok(())
    }

    async fn verb(&self, verb: &[String]) -> Result<(), String> {
        if verb.first().is_some_and(|word| word == "proxy") {
            return self.proxy.apply(&verb[1..]);
        }
        let script = self.script.clone();
        let verb = verb.to_vec();
        tokio::task::spawn_blocking(move || nemesis::apply(&script, &verb))
            .await
            .map_err(|e| e.to_string())?
    }

    /// Creates the scenario's two channels and has every user join them.
    async fn create_channels(&self, name: &str) -> Result<Vec<i64>, String> {
        let mut ids = Vec::new();
        let mut socket = self.probe(0, 0).await?;
        for (index, suffix) in ["all", "listen"].iter().enumerate() {
            let request = json!({"type": "create_channel", "name": format!("{name}-{suffix}"), "private": false, "ref": index});
            socket.send(Frame::text(request.to_string())).await.map_err(|e| e.to_string())?;
            let answer = client::await_frame(&mut socket, "channel", |f| f["ref"] == json!(index)).await?;
            ids.push(answer["channel"]["id"].as_i64().ok_or_else(|| format!("create_channel: {answer}"))?);
        }
        for user in 1..self.users.len() {
            let mut socket = self.probe(user, user / 3).await?;
            for (index, id) in ids.iter().enumerate() {
                let request = json!({"type": "join", "channel": id, "ref": index});
                socket.send(Frame::text(request.to_string())).await.map_err(|e| e.to_string())?;
                let answer = client::await_frame(&mut socket, "join", |f| f["ref"] == json!(index)).await?;
                if answer["type"] == "error" {
                    return Err(format!("join: {answer}"));
                }
            }
        }
        Ok(ids)
    }

    /// A connection as `user` to `node`, after `welcome`.
    async fn probe(&self, user: usize, node: usize) -> Result<client::Socket, String> {
        let path = format!("/ws?token={}", self.users[user].1);
        let mut socket = client::open(IpAddr::V4(PROBE_SOURCE), node_address(node), &path).await?;
        socket.send(Frame::text(r#"{"type":"hello"}"#)).await.map_err(|e| e.to_string())?;
        client::await_frame(&mut socket, "welcome", |f| f["type"] == "welcome").await?;
        Ok(socket)
    }

    /// Records who each node shows online, beside who is connected. By now
    /// the last heal is at least `AFTER_HEAL` (10 s) behind: presence is
    /// rewritten every third of the TTL (5 s), so every node has converged.
    /// The probe is user c0, so c0 always shows online; the other eight are judged.
    async fn record_presence(&self, history: &Recorder, progress: &[Arc<Mutex<Progress>>]) {
        let connected = self.connected(progress);
        for node in 0..NODES.len() {
            let path = format!("/ws?token={}", self.users[0].1);
            let welcome = async {
                let mut socket = client::open(IpAddr::V4(PROBE_SOURCE), node_address(node), &path).await?;
                socket.send(Frame::text(r#"{"type":"hello"}"#)).await.map_err(|e| e.to_string())?;
                client::await_frame(&mut socket, "welcome", |f| f["type"] == "welcome").await
            };
            match welcome.await {
                Ok(welcome) => {
                    let online = welcome["online"]
                        .as_array()
                        .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
                        .unwrap_or_default();
                    history.record(Op::Online { node, online, connected: connected.clone() });
                }
                Err(error) => eprintln!("natter-chaos: presence on n{}: {error}", node + 1),
            }
        }
    }

    /// The workload users connected now.
    fn connected(&self, progress: &[Arc<Mutex<Progress>>]) -> Vec<String> {
        progress
            .iter()
            .zip(&self.users)
            .filter(|(shared, _)| shared.lock().expect("progress lock is never poisoned").connected)
            .map(|(_, (name, _))| name.clone())
            .collect()
    }

    /// Reads every channel back from every node (a few tries each).
    async fn read_back(&self, history: &Recorder, channels: &[i64]) {
        for node in 0..NODES.len() {
            let mut read = None;
            for _ in 0..5 {
                let attempt = async {
                    let mut socket = self.probe(0, node).await?;
                    let mut all = Vec::new();
                    for &channel in channels {
                        all.push((channel, client::read_history(&mut socket, channel).await?));
                    }
                    Ok::<_, String>(all)
                };
                match attempt.await {
                    Ok(all) => {
                        read = Some(all);
                        break;
                    }
                    Err(error) => {
                        eprintln!("natter-chaos: reading n{} back: {error}", node + 1);
                        sleep(Duration::from_secs(2)).await;
                    }
                }
            }
            match read {
                Some(all) => {
                    for (channel, rows) in all {
                        history.record(Op::Final { node, channel, rows: Some(rows) });
                    }
                }
                None => {
                    for &channel in channels {
                        history.record(Op::Final { node, channel, rows: None });
                    }
                }
            }
        }
    }

    /// Records nodes that died or panicked, restarts the dead, and records memory.
    fn inspect_nodes(&self, history: &Recorder, panics_before: BTreeMap<usize, usize>) {
        let panics_after = self.panics();
        for node in 0..NODES.len() {
            let before = panics_before.get(&node).copied().unwrap_or(0);
            if panics_after.get(&node).copied().unwrap_or(0) > before {
                history.record(Op::NodeDown { node, why: "panicked (see its log)".into() });
            }
            if !nemesis::alive(&self.script, node) {
                history.record(Op::NodeDown { node, why: "process gone".into() });
                let _ = nemesis::apply(&self.script, &["start".to_owned(), nemesis::node_name(node)]);
                continue;
            }
            if let Some(rss_kib) = self.rss_kib(node) {
                history.record(Op::NodeMemory { node, rss_kib });
            }
        }
    }

    /// Lines mentioning a panic in each node's log.
    fn panics(&self) -> BTreeMap<usize, usize> {
        (0..NODES.len())
            .map(|node| {
                let log = fs::read_to_string(self.dir.join(format!("{}.log", nemesis::node_name(node))))
                    .unwrap_or_default();
                (node, log.lines().filter(|line| line.contains("panicked")).count())
            })
            .collect()
    }

    fn rss_kib(&self, node: usize) -> Option<u64> {
        let pid = fs::read_to_string(self.dir.join(format!("{}.pid", nemesis::node_name(node)))).ok()?;
        let status = fs::read_to_string(format!("/proc/{}/status", pid.trim())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

/// Watches `node`'s view after the presence records were wiped: asks for
/// its welcome every 250 ms for `PRESENCE_PROBE_LIMIT` and returns the
/// milliseconds from `since` to the answer from which on every user in
/// `connected` showed online for good (`None`: the last answer still missed
/// someone), and how many answers missed someone. A node may notice the
/// wipe only when it next reads the records, so the first complete answer
/// alone would prove nothing; the watch runs its full length. The welcome
/// is the node's whole view, so one answer shows whether anyone is missing.
async fn presence_back(node: usize, path: &str, connected: &[String], since: Instant) -> (Option<u64>, u32) {
    let mut short = 0;
    let mut back = None;
    while since.elapsed() < PRESENCE_PROBE_LIMIT {
        let welcome = async {
            let mut socket = client::open(IpAddr::V4(PROBE_SOURCE), node_address(node), path).await?;
            socket.send(Frame::text(r#"{"type":"hello"}"#)).await.map_err(|e| e.to_string())?;
            client::await_frame(&mut socket, "welcome", |f| f["type"] == "welcome").await
        };
        if let Ok(welcome) = welcome.await {
            let online: Vec<&str> = welcome["online"]
                .as_array()
                .map(|names| names.iter().filter_map(|n| n.as_str()).collect())
                .unwrap_or_default();
            if connected.iter().all(|user| online.contains(&user.as_str())) {
                back = back.or(Some(u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)));
            } else {
                short += 1;
                back = None;
            }
        }
        sleep(Duration::from_millis(250)).await;
    }
    (back, short)
}

/// Whether every client has its sends acked and holds every acked seq.
fn drained(history: &Recorder, progress: &[Arc<Mutex<Progress>>]) -> bool {
    let mut top: BTreeMap<i64, i64> = BTreeMap::new();
    for event in history.snapshot() {
        if let Op::SendOk { channel, seq, .. } = event.op {
            let entry = top.entry(channel).or_insert(0);
            *entry = (*entry).max(seq);
        }
    }
    progress.iter().all(|shared| {
        let progress = shared.lock().expect("progress lock is never poisoned");
        progress.seen == Some(Phase::Drain)
            && progress.pending == 0
            && top.iter().all(|(channel, seq)| progress.held.get(channel).copied().unwrap_or(0) >= *seq)
    })
}
