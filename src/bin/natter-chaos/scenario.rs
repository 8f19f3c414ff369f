//! One scenario: restart the cluster healthy, run the workload on every
//! node through the scenario's faults (applied and healed with
//! `scripts/chaos` verbs or the fault proxy), drain, and judge the recorded
//! history against the bounds below.

mod observe;

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::{Instant, sleep};
use tokio_tungstenite::tungstenite::Message as Frame;

use self::observe::presence_back;
use crate::checker::{self, Bounds};
use crate::client::{self, Phase, Progress, Spec};
use crate::cluster::{NODES, PROBE_SOURCE, client_source, node_address};
use crate::history::{Op, Recorder};
use crate::nemesis::{self, Fault};
use crate::proxy;

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
/// A node's resident memory must stay below this (queues are bounded).
const MAX_RSS_KIB: u64 = 1 << 20;

/// Before the fault: healthy traffic to compare against.
const WARM_UP: Duration = Duration::from_secs(5);
/// After the heal, still sending: liveness.
const AFTER_HEAL: Duration = Duration::from_secs(10);
/// Longest the drain (no new sends; retries and deliveries finish) may take.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// What every scenario of one invocation shares.
pub struct Run {
    pub script: PathBuf,
    pub dir: PathBuf,
    pub users: Vec<(String, String)>,
    /// Listens throughout; nodes use it only in scenarios that are `proxied`.
    pub proxy: proxy::Proxy,
}

impl Run {
    /// Runs the workload through `faults` in turn and judges the history.
    pub async fn scenario(&self, name: &str, faults: &[Fault]) -> Result<checker::Summary, String> {
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
