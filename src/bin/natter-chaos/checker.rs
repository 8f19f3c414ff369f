//! The checker: a pure function from a recorded history to a verdict, in
//! the manner of Jepsen's queue checker. It knows nothing of how the history
//! was made, so its unit tests feed it hand-made histories, valid and not.
//!
//! What it verifies (the invariants of `docs/deployment.md`, "Faults"):
//! - no acknowledged message lost: every `ack`ed `client_id` is on every node
//!   with the acked id and seq (`lost`);
//! - each `client_id` stored at most once (`duplicated`), nothing stored that
//!   no client sent (`unexpected`), no two acks for one `client_id` that
//!   disagree (`inconsistent_acks`);
//! - per channel, seqs 1..n with no gap or repeat (`gaps`), the same rows on
//!   every node (`divergent`), every node readable (`unreadable`);
//! - every client sees each channel's seqs exactly once and in order across
//!   all its connections (`missed`, `redelivered`), and by the end has seen
//!   them all (`undelivered`);
//! - liveness: every send is acknowledged by the end (`unacked`), and a
//!   message reaches every connected client within `staleness_ms` of the
//!   later of its ack, the heal of any fault in between, and the client's
//!   connection (`stale`);
//! - honest errors: a send is answered (ack or error) within `answer_ms`
//!   unless the client's own link or its node was cut or paused (`silent`),
//!   and a node cut off from PostgreSQL answers `/healthz` within
//!   `answer_ms`, with 503 once `answer_ms` has passed (`health`);
//! - presence converges: once healed and drained, every node shows every
//!   connected user online (`presence`; a user who just left may still show
//!   online within the grace period, so only the false offline is judged);
//!   After the presence records are wiped from Redis (a Redis clock jump
//!   expiring them), every node shows everyone online again within
//!   `presence_back_ms`;
//! - no node crashed or panicked (`crashed`), memory below a bound (`memory`).
//!
//! This module holds the verdict and what the checks share (the bounds,
//! the findings, the fault windows); each group of properties is checked in
//! its own submodule, in the order `check` runs them.

mod operations;
mod final_state;
mod deliveries;
mod health;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde::Serialize;

use self::deliveries::check_deliveries;
use self::final_state::check_final_state;
use self::health::check_health;
use self::operations::check_operations;
use crate::history::{Event, Op};

/// The bounds a run is judged against.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Longest a send or a health probe may wait for an answer.
    pub answer_ms: u64,
    /// Longest a message may take to reach a connected client once nothing
    /// stands in its way.
    pub staleness_ms: u64,
    /// Most resident memory a node may hold.
    pub max_rss_kib: u64,
    /// Longest a node may show connected users offline after their
    /// presence records vanished from Redis.
    pub presence_back_ms: u64,
}

/// How many examples of each finding the summary quotes.
const SAMPLE: usize = 8;

/// A kind of violation: how often, and the first few cases.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Found {
    pub count: usize,
    pub sample: Vec<String>,
}

impl Found {
    fn push(&mut self, what: String) {
        self.count += 1;
        if self.sample.len() < SAMPLE {
            self.sample.push(what);
        }
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The verdict, printed as one JSON object per scenario.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub valid: bool,
    /// Distinct `client_id`s sent, acked, and events of each outcome.
    pub sent: usize,
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    /// Sends that failed or went unanswered at least once and were later acked.
    pub recovered: usize,
    pub lost: Found,
    pub duplicated: Found,
    pub unexpected: Found,
    pub inconsistent_acks: Found,
    pub divergent: Found,
    pub unreadable: Found,
    pub gaps: Found,
    pub missed: Found,
    pub redelivered: Found,
    pub undelivered: Found,
    pub unacked: Found,
    pub stale: Found,
    pub silent: Found,
    pub health: Found,
    pub presence: Found,
    pub crashed: Found,
    pub memory: Found,
    pub staleness_p99_ms: u64,
    pub staleness_max_ms: u64,
    pub answer_p99_ms: u64,
    pub answer_max_ms: u64,
    pub max_rss_kib: u64,
    /// The slowest node to show everyone online after a presence wipe.
    pub presence_back_max_ms: u64,
    /// Presence probe answers after a wipe that missed someone, over all
    /// nodes: 0 would mean no node ever showed the wipe.
    pub presence_short_answers: u32,
    /// Rows whose `ts` is earlier than the previous seq's: expected with
    /// skewed node clocks, and harmless because order is by seq. Not a
    /// violation; reported so the skew is seen to have taken effect.
    pub ts_backwards: usize,
}

/// A fault's time span and whom it excuses.
struct Window {
    start: u64,
    end: u64,
    cut_clients: Vec<usize>,
    silent_nodes: Vec<usize>,
    store_cut_nodes: Vec<usize>,
}

fn windows(history: &[Event]) -> Vec<Window> {
    let mut open: HashMap<&str, usize> = HashMap::new();
    let mut all = Vec::new();
    for event in history {
        match &event.op {
            Op::FaultStart { name, cut_clients, silent_nodes, store_cut_nodes } => {
                open.insert(name, all.len());
                all.push(Window {
                    start: event.t,
                    end: u64::MAX,
                    cut_clients: cut_clients.clone(),
                    silent_nodes: silent_nodes.clone(),
                    store_cut_nodes: store_cut_nodes.clone(),
                });
            }
            Op::FaultStop { name } => {
                if let Some(index) = open.remove(name.as_str()) {
                    all[index].end = event.t;
                }
            }
            _ => {}
        }
    }
    all
}

fn overlaps(window: &Window, from: u64, to: u64) -> bool {
    window.start <= to && window.end >= from
}

fn percentile(values: &mut [u64], p: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = ((values.len() as f64) * p).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// Judges a history.
pub fn check(history: &[Event], bounds: Bounds) -> Summary {
    let mut summary = Summary::default();
    let faults = windows(history);
    check_operations(history, bounds, &faults, &mut summary);
    check_final_state(history, &mut summary);
    check_deliveries(history, bounds, &faults, &mut summary);
    check_health(history, bounds, &faults, &mut summary);
    for event in history {
        match &event.op {
            Op::NodeDown { node, why } => summary.crashed.push(format!("n{} {why}", node + 1)),
            Op::Online { node, online, connected } => {
                let missing: Vec<&String> = connected.iter().filter(|user| !online.contains(user)).collect();
                if !missing.is_empty() {
                    summary
                        .presence
                        .push(format!("n{} shows {missing:?} offline though connected", node + 1));
                }
            }
            Op::PresenceBack { node, ms, short } => match ms {
                Some(ms) if *ms <= bounds.presence_back_ms => {
                    summary.presence_back_max_ms = summary.presence_back_max_ms.max(*ms);
                    summary.presence_short_answers += short;
                }
                Some(ms) => {
                    summary.presence_back_max_ms = summary.presence_back_max_ms.max(*ms);
                    summary
                        .presence
                        .push(format!("n{} showed everyone online again only after {ms} ms", node + 1));
                }
                None => summary.presence.push(format!("n{} never showed everyone online again", node + 1)),
            },
            Op::NodeMemory { node, rss_kib } => {
                summary.max_rss_kib = summary.max_rss_kib.max(*rss_kib);
                if *rss_kib > bounds.max_rss_kib {
                    summary.memory.push(format!("n{} {rss_kib} KiB", node + 1));
                }
            }
            _ => {}
        }
    }
    let findings = [
        &summary.lost,
        &summary.duplicated,
        &summary.unexpected,
        &summary.inconsistent_acks,
        &summary.divergent,
        &summary.unreadable,
        &summary.gaps,
        &summary.missed,
        &summary.redelivered,
        &summary.undelivered,
        &summary.unacked,
        &summary.stale,
        &summary.silent,
        &summary.health,
        &summary.presence,
        &summary.crashed,
        &summary.memory,
    ];
    summary.valid = findings.iter().all(|found| found.is_empty());
    summary
}
