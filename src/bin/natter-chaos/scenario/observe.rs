//! What a scenario reads from the cluster beside the workload's own events:
//! who each node shows online (after the run, and while presence recovers
//! from a wipe), every channel read back from every node, and nodes that
//! died, panicked or grew. All of it goes into the history for the checker.

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::SinkExt;
use tokio::time::{Instant, sleep};
use tokio_tungstenite::tungstenite::Message as Frame;

use super::Run;
use crate::client::{self, Progress};
use crate::cluster::{NODES, PROBE_SOURCE, node_address};
use crate::history::{Op, Recorder};
use crate::nemesis;

/// How long the presence probe watches each node after a wipe: a node
/// reads the records at least every 5 s, so by then it has seen the wipe
/// and (within the bound) recovered.
const PRESENCE_PROBE_LIMIT: Duration = Duration::from_secs(15);

impl Run {
    /// Records who each node shows online, beside who is connected. By now
    /// the last heal is at least `AFTER_HEAL` (10 s) behind: presence is
    /// rewritten every third of the TTL (5 s), so every node has converged.
    /// The probe is user c0, so c0 always shows online; the other eight are judged.
    pub(super) async fn record_presence(&self, history: &Recorder, progress: &[Arc<Mutex<Progress>>]) {
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
    pub(super) fn connected(&self, progress: &[Arc<Mutex<Progress>>]) -> Vec<String> {
        progress
            .iter()
            .zip(&self.users)
            .filter(|(shared, _)| shared.lock().expect("progress lock is never poisoned").connected)
            .map(|(_, (name, _))| name.clone())
            .collect()
    }

    /// Reads every channel back from every node (a few tries each).
    pub(super) async fn read_back(&self, history: &Recorder, channels: &[i64]) {
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
    pub(super) fn inspect_nodes(&self, history: &Recorder, panics_before: BTreeMap<usize, usize>) {
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
    pub(super) fn panics(&self) -> BTreeMap<usize, usize> {
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
pub(super) async fn presence_back(
    node: usize,
    path: &str,
    connected: &[String],
    since: Instant,
) -> (Option<u64>, u32) {
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
