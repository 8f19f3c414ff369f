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

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::Serialize;

use crate::history::{Event, Op, Row};

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

/// Invocations and their outcomes: acks, answer times, silence.
fn check_operations(history: &[Event], bounds: Bounds, faults: &[Window], summary: &mut Summary) {
    let mut sent = BTreeSet::new();
    let mut acked: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut troubled = BTreeSet::new();
    // Invocations waiting for their outcome, per (client, client_id): the
    // time, node and connection of each.
    let mut waiting: HashMap<(usize, &str), VecDeque<(u64, usize)>> = HashMap::new();
    let mut sent_to: HashMap<&str, i64> = HashMap::new();
    let mut answers = Vec::new();
    for event in history {
        let (client, client_id, answered) = match &event.op {
            Op::SendInvoke { client, node, client_id, channel, .. } => {
                sent.insert(client_id.as_str());
                sent_to.insert(client_id, *channel);
                waiting.entry((*client, client_id)).or_default().push_back((event.t, *node));
                continue;
            }
            Op::SendOk { client, client_id, id, seq, channel, .. } => {
                summary.ok += 1;
                if sent_to.get(client_id.as_str()).is_some_and(|sent| sent != channel) {
                    summary
                        .inconsistent_acks
                        .push(format!("{client_id} acked in channel {channel}, sent to another"));
                }
                match acked.get(client_id.as_str()) {
                    Some(&previous) if previous != (*id, *seq) => summary.inconsistent_acks.push(format!(
                        "{client_id} acked as id {}/seq {} and id {id}/seq {seq}",
                        previous.0, previous.1
                    )),
                    Some(_) => {}
                    None => {
                        acked.insert(client_id, (*id, *seq));
                    }
                }
                (*client, client_id, true)
            }
            Op::SendFail { client, client_id, .. } => {
                summary.fail += 1;
                troubled.insert(client_id.as_str());
                (*client, client_id, true)
            }
            Op::SendInfo { client, client_id, .. } => {
                summary.info += 1;
                troubled.insert(client_id.as_str());
                (*client, client_id, false)
            }
            _ => continue,
        };
        let Some((invoked, node)) =
            waiting.get_mut(&(client, client_id.as_str())).and_then(VecDeque::pop_front)
        else {
            continue;
        };
        let waited = event.t.saturating_sub(invoked);
        if answered {
            answers.push(waited);
        }
        // No answer, or one later than the bound, is silence, unless the
        // client's link or its node was down meanwhile.
        if !answered && waited >= bounds.answer_ms || answered && waited > bounds.answer_ms {
            let excused = faults.iter().any(|fault| {
                overlaps(fault, invoked, invoked + bounds.answer_ms)
                    && (fault.cut_clients.contains(&client) || fault.silent_nodes.contains(&node))
            });
            if !excused {
                let outcome = if answered { "answered" } else { "no answer" };
                summary.silent.push(format!("{client_id} on n{}: {outcome} after {waited} ms", node + 1));
            }
        }
    }
    summary.sent = sent.len();
    summary.recovered = troubled.iter().filter(|id| acked.contains_key(*id)).count();
    for client_id in &sent {
        if !acked.contains_key(client_id) {
            summary.unacked.push((*client_id).to_owned());
        }
    }
    summary.answer_max_ms = answers.iter().copied().max().unwrap_or(0);
    summary.answer_p99_ms = percentile(&mut answers, 0.99);
}

/// The final histories: agreement, gap-free seqs, no loss or duplication.
fn check_final_state(history: &[Event], summary: &mut Summary) {
    let sent: BTreeSet<&str> = history
        .iter()
        .filter_map(|event| match &event.op {
            Op::SendInvoke { client_id, .. } => Some(client_id.as_str()),
            _ => None,
        })
        .collect();
    let mut finals: BTreeMap<i64, BTreeMap<usize, &Vec<Row>>> = BTreeMap::new();
    for event in history {
        if let Op::Final { node, channel, rows } = &event.op {
            match rows {
                Some(rows) => {
                    finals.entry(*channel).or_default().insert(*node, rows);
                }
                None => summary.unreadable.push(format!("n{} channel {channel}", node + 1)),
            }
        }
    }
    for (channel, nodes) in &finals {
        let mut reference: Option<(usize, &Vec<Row>)> = None;
        for (&node, rows) in nodes {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for (index, row) in rows.iter().enumerate() {
                let expected = i64::try_from(index).unwrap_or(i64::MAX) + 1;
                if row.seq != expected {
                    summary.gaps.push(format!(
                        "n{} channel {channel}: seq {} where {expected} belongs",
                        node + 1,
                        row.seq
                    ));
                    break;
                }
            }
            if reference.is_none() {
                summary.ts_backwards += rows.windows(2).filter(|pair| pair[1].ts < pair[0].ts).count();
            }
            for row in rows.iter() {
                *counts.entry(&row.client_id).or_default() += 1;
                // System lines (joins, invites) are the server's own rows.
                if !row.system && !sent.contains(row.client_id.as_str()) {
                    summary.unexpected.push(format!(
                        "n{} channel {channel} seq {}: {}",
                        node + 1,
                        row.seq,
                        row.client_id
                    ));
                }
            }
            for (client_id, count) in counts {
                if count > 1 {
                    summary.duplicated.push(format!("{client_id} stored {count} times on n{}", node + 1));
                }
            }
            match reference {
                None => reference = Some((node, rows)),
                Some((first, first_rows)) if first_rows != *rows => summary.divergent.push(format!(
                    "channel {channel}: n{} and n{} differ ({} and {} rows)",
                    first + 1,
                    node + 1,
                    first_rows.len(),
                    rows.len()
                )),
                Some(_) => {}
            }
        }
    }
    for event in history {
        let Op::SendOk { client_id, channel, id, seq, .. } = &event.op else { continue };
        let Some(nodes) = finals.get(channel) else {
            summary.lost.push(format!("{client_id}: channel {channel} read from no node"));
            continue;
        };
        for (&node, rows) in nodes {
            let found = rows.iter().find(|row| row.client_id == *client_id);
            match found {
                Some(row) if row.id == *id && row.seq == *seq => {}
                Some(row) => summary.lost.push(format!(
                    "{client_id}: acked as seq {seq}, n{} has it at seq {}",
                    node + 1,
                    row.seq
                )),
                None => summary.lost.push(format!("{client_id} (seq {seq}) missing on n{}", node + 1)),
            }
        }
    }
}

/// Per client and channel: every seq once, in order, in good time.
fn check_deliveries(history: &[Event], bounds: Bounds, faults: &[Window], summary: &mut Summary) {
    let mut acked_at: HashMap<&str, u64> = HashMap::new();
    let mut connected_at: HashMap<(usize, u32), u64> = HashMap::new();
    let mut last: BTreeMap<(usize, i64), i64> = BTreeMap::new();
    let mut staleness = Vec::new();
    for event in history {
        match &event.op {
            Op::SendOk { client_id, .. } => {
                acked_at.entry(client_id).or_insert(event.t);
            }
            Op::Connect { client, conn, .. } => {
                connected_at.insert((*client, *conn), event.t);
            }
            Op::Recv { client, conn, channel, seq, client_id, .. } => {
                let previous = last.entry((*client, *channel)).or_insert(0);
                if *seq <= *previous {
                    summary.redelivered.push(format!("c{client} channel {channel} seq {seq}"));
                } else {
                    if *seq > *previous + 1 {
                        summary.missed.push(format!(
                            "c{client} channel {channel}: seqs {}..{} skipped",
                            *previous + 1,
                            seq - 1
                        ));
                    }
                    *previous = *seq;
                }
                if let Some(&acked) = acked_at.get(client_id.as_str()) {
                    // Nothing could deliver it before the later of its ack,
                    // the end of a fault in between, and this connection.
                    let mut ready = acked.max(connected_at.get(&(*client, *conn)).copied().unwrap_or(0));
                    for fault in faults {
                        if overlaps(fault, acked, event.t) {
                            ready = ready.max(fault.end.min(event.t));
                        }
                    }
                    let stale = event.t.saturating_sub(ready);
                    staleness.push(stale);
                    if stale > bounds.staleness_ms {
                        summary.stale.push(format!(
                            "c{client} got {client_id} (channel {channel} seq {seq}) {stale} ms late"
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    // By the end every client holds every channel's last seq.
    let mut final_last: BTreeMap<i64, i64> = BTreeMap::new();
    for event in history {
        if let Op::Final { channel, rows: Some(rows), .. } = &event.op {
            let top = rows.last().map_or(0, |row| row.seq);
            let entry = final_last.entry(*channel).or_insert(0);
            *entry = (*entry).max(top);
        }
    }
    let clients: BTreeSet<usize> = connected_at.keys().map(|(client, _)| *client).collect();
    for client in clients {
        for (&channel, &top) in &final_last {
            let held = last.get(&(client, channel)).copied().unwrap_or(0);
            if held < top {
                summary.undelivered.push(format!("c{client} channel {channel}: holds seq {held} of {top}"));
            }
        }
    }
    summary.staleness_max_ms = staleness.iter().copied().max().unwrap_or(0);
    summary.staleness_p99_ms = percentile(&mut staleness, 0.99);
}

/// A node cut off from PostgreSQL must say so, in time.
fn check_health(history: &[Event], bounds: Bounds, faults: &[Window], summary: &mut Summary) {
    for event in history {
        let Op::Health { node, status, ms } = &event.op else { continue };
        let began = event.t.saturating_sub(*ms);
        for fault in faults.iter().filter(|f| f.store_cut_nodes.contains(node)) {
            if !(fault.start..fault.end).contains(&began) {
                continue;
            }
            if *status == 0 || *ms > bounds.answer_ms {
                summary.health.push(format!("n{}: /healthz unanswered for {ms} ms while cut off", node + 1));
            } else if *status == 200 && began >= fault.start + bounds.answer_ms && event.t < fault.end {
                // A probe that began cut off but was answered after the heal
                // may rightly see a healthy store.
                summary.health.push(format!(
                    "n{}: /healthz 200 {} ms into a PostgreSQL partition",
                    node + 1,
                    began - fault.start
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds =
        Bounds { answer_ms: 10_000, staleness_ms: 5_000, max_rss_kib: 1 << 20, presence_back_ms: 6_000 };

    fn at(t: u64, op: Op) -> Event {
        Event { t, op }
    }

    fn row(seq: i64, client_id: &str) -> Row {
        Row {
            seq,
            id: 100 + seq,
            client_id: client_id.into(),
            sender: "c0".into(),
            ts: 1_000 * seq,
            system: false,
        }
    }

    fn invoke(t: u64, client: usize, node: usize, client_id: &str) -> Event {
        at(t, Op::SendInvoke { client, conn: 0, node, channel: 7, client_id: client_id.into() })
    }

    fn ok(t: u64, client: usize, client_id: &str, seq: i64) -> Event {
        at(t, Op::SendOk { client, conn: 0, client_id: client_id.into(), channel: 7, id: 100 + seq, seq })
    }

    fn recv(t: u64, client: usize, client_id: &str, seq: i64) -> Event {
        at(t, Op::Recv { client, conn: 0, channel: 7, seq, id: 100 + seq, client_id: client_id.into() })
    }

    fn finals(rows: &[Row]) -> Vec<Event> {
        (0..3).map(|node| at(9_000, Op::Final { node, channel: 7, rows: Some(rows.to_vec()) })).collect()
    }

    /// Two clients on two nodes, two messages, all delivered: valid.
    fn healthy() -> Vec<Event> {
        let mut history = vec![
            at(0, Op::Connect { client: 0, conn: 0, node: 0 }),
            at(0, Op::Connect { client: 1, conn: 0, node: 1 }),
            invoke(10, 0, 0, "c0-1"),
            ok(20, 0, "c0-1", 1),
            recv(21, 0, "c0-1", 1),
            recv(25, 1, "c0-1", 1),
            invoke(30, 1, 1, "c1-1"),
            ok(40, 1, "c1-1", 2),
            recv(41, 0, "c1-1", 2),
            recv(42, 1, "c1-1", 2),
        ];
        history.extend(finals(&[row(1, "c0-1"), row(2, "c1-1")]));
        history
    }

    #[test]
    fn a_healthy_history_is_valid() {
        let summary = check(&healthy(), BOUNDS);
        assert!(summary.valid, "{summary:?}");
        assert_eq!((summary.sent, summary.ok, summary.fail, summary.info), (2, 2, 0, 0));
        assert_eq!(summary.staleness_max_ms, 5);
        assert_eq!(summary.answer_max_ms, 10);
    }

    #[test]
    fn an_acked_message_missing_on_one_node_is_lost() {
        let mut history = healthy();
        history.retain(|e| !matches!(e.op, Op::Final { node: 2, .. }));
        history.push(at(9_000, Op::Final { node: 2, channel: 7, rows: Some(vec![row(1, "c0-1")]) }));
        let summary = check(&history, BOUNDS);
        assert!(!summary.valid);
        assert_eq!(summary.lost.count, 1, "{:?}", summary.lost);
        assert!(summary.lost.sample[0].contains("c1-1"), "{:?}", summary.lost);
        assert_eq!(summary.divergent.count, 1);
    }

    #[test]
    fn a_client_id_stored_twice_is_duplicated_and_an_unsent_one_unexpected() {
        let mut history = healthy();
        history.retain(|e| !matches!(e.op, Op::Final { .. }));
        history.extend(finals(&[row(1, "c0-1"), row(2, "c1-1"), row(3, "c0-1"), row(4, "ghost")]));
        let summary = check(&history, BOUNDS);
        assert!(!summary.valid);
        assert_eq!(summary.duplicated.count, 3, "once per node: {:?}", summary.duplicated);
        assert_eq!(summary.unexpected.count, 3, "{:?}", summary.unexpected);
        // Both clients stopped at seq 2 of 4.
        assert_eq!(summary.undelivered.count, 2);
    }

    #[test]
    fn a_system_line_is_the_servers_not_unexpected() {
        let with_last = |last: Row| {
            let mut history = healthy();
            history.retain(|e| !matches!(e.op, Op::Final { .. }));
            history.extend(finals(&[row(1, "c0-1"), row(2, "c1-1"), last]));
            check(&history, BOUNDS)
        };
        let line = Row { system: true, ..row(3, "sys-1") };
        assert_eq!(with_last(line).unexpected.count, 0);
        assert!(with_last(row(3, "sys-1")).unexpected.count > 0, "unmarked, the same row is unexpected");
    }

    #[test]
    fn a_seq_gap_in_the_final_history_is_reported() {
        let mut history = healthy();
        history.retain(|e| !matches!(e.op, Op::Final { .. }));
        let mut second = row(2, "c1-1");
        second.seq = 3;
        history.extend(finals(&[row(1, "c0-1"), second]));
        let summary = check(&history, BOUNDS);
        assert!(!summary.valid);
        assert_eq!(summary.gaps.count, 3);
        assert_eq!(summary.lost.count, 3, "acked at seq 2, stored at 3");
    }

    #[test]
    fn holes_and_repeats_in_a_clients_deliveries_are_reported() {
        let mut history = healthy();
        // Client 1 skips seq 1 on its first connection, then gets it again.
        history.retain(|e| !matches!(e.op, Op::Recv { client: 1, .. }));
        history.push(recv(50, 1, "c1-1", 2));
        history.push(recv(60, 1, "c0-1", 1));
        let summary = check(&history, BOUNDS);
        assert!(!summary.valid);
        assert_eq!(summary.missed.count, 1, "{:?}", summary.missed);
        assert_eq!(summary.redelivered.count, 1, "{:?}", summary.redelivered);
    }

    #[test]
    fn users_back_online_too_late_after_a_presence_wipe_are_a_presence_violation() {
        let mut history = healthy();
        history.push(at(200, Op::PresenceBack { node: 0, ms: Some(1_200), short: 4 }));
        assert!(check(&history, BOUNDS).valid, "within the bound");
        history.push(at(300, Op::PresenceBack { node: 1, ms: Some(6_500), short: 20 }));
        history.push(at(400, Op::PresenceBack { node: 2, ms: None, short: 80 }));
        let summary = check(&history, BOUNDS);
        assert!(!summary.valid);
        assert_eq!(summary.presence.count, 2, "{:?}", summary.presence);
        assert_eq!(summary.presence_back_max_ms, 6_500);
    }

    #[test]
    fn a_send_never_acked_is_unacked() {
        let mut history = healthy();
        history.push(invoke(100, 0, 0, "c0-2"));
        history.push(at(
            10_100,
            Op::SendInfo { client: 0, conn: 0, client_id: "c0-2".into(), reason: "timeout".into() },
        ));
        let summary = check(&history, BOUNDS);
        assert!(!summary.valid);
        assert_eq!(summary.unacked.sample, vec!["c0-2".to_owned()]);
        assert_eq!(summary.silent.count, 1, "no fault excuses the silence");
    }

    #[test]
    fn silence_is_excused_only_for_a_cut_client_or_a_paused_node() {
        let timed_out =
            |client| Op::SendInfo { client, conn: 0, client_id: "c0-2".into(), reason: "timeout".into() };
        let fault = |cut_clients, silent_nodes| Op::FaultStart {
            name: "f".into(),
            cut_clients,
            silent_nodes,
            store_cut_nodes: vec![],
        };
        let base = |op| {
            let mut history = healthy();
            history.push(at(90, op));
            history.push(invoke(100, 0, 0, "c0-2"));
            history.push(at(10_100, timed_out(0)));
            history.push(invoke(10_200, 0, 0, "c0-2"));
            history.push(ok(10_300, 0, "c0-2", 3));
            history.push(at(11_000, Op::FaultStop { name: "f".into() }));
            history
        };
        let cut = check(&base(fault(vec![0], vec![])), BOUNDS);
        assert_eq!(cut.silent.count, 0, "{:?}", cut.silent);
        assert_eq!(cut.recovered, 1);
        let paused = check(&base(fault(vec![], vec![0])), BOUNDS);
        assert_eq!(paused.silent.count, 0, "{:?}", paused.silent);
        let elsewhere = check(&base(fault(vec![1], vec![2])), BOUNDS);
        assert_eq!(elsewhere.silent.count, 1, "{:?}", elsewhere.silent);
    }

    #[test]
    fn late_delivery_is_stale_unless_a_fault_held_it_back() {
        let mut late = healthy();
        late.retain(|e| !matches!(e.op, Op::Recv { client: 1, .. }));
        late.push(recv(25, 1, "c0-1", 1));
        late.push(recv(7_000, 1, "c1-1", 2));
        let summary = check(&late, BOUNDS);
        assert_eq!(summary.stale.count, 1, "{:?}", summary.stale);
        assert!(!summary.valid);

        let mut held = late.clone();
        held.push(at(
            30,
            Op::FaultStart {
                name: "bus".into(),
                cut_clients: vec![],
                silent_nodes: vec![],
                store_cut_nodes: vec![],
            },
        ));
        held.push(at(6_000, Op::FaultStop { name: "bus".into() }));
        held.sort_by_key(|e| e.t);
        let summary = check(&held, BOUNDS);
        assert!(summary.valid, "{summary:?}");
        assert_eq!(summary.staleness_max_ms, 1_000);

        // A node that stays deaf long after the heal is stale again.
        let mut deaf = held.clone();
        deaf.retain(|e| !matches!(e.op, Op::Recv { client: 1, seq: 2, .. }));
        deaf.push(recv(12_000, 1, "c1-1", 2));
        let summary = check(&deaf, BOUNDS);
        assert_eq!(summary.stale.count, 1, "{:?}", summary.stale);
    }

    #[test]
    fn a_node_cut_off_from_postgres_must_answer_503_in_time() {
        let start = Op::FaultStart {
            name: "pg".into(),
            cut_clients: vec![],
            silent_nodes: vec![],
            store_cut_nodes: vec![0],
        };
        let judge = |probes: Vec<Event>| {
            let mut history = healthy();
            history.push(at(1_000, start.clone()));
            history.extend(probes);
            history.push(at(40_000, Op::FaultStop { name: "pg".into() }));
            history.sort_by_key(|e| e.t);
            check(&history, BOUNDS)
        };
        let honest = judge(vec![
            at(2_000, Op::Health { node: 0, status: 200, ms: 5 }),
            at(16_000, Op::Health { node: 0, status: 503, ms: 4_000 }),
            at(30_000, Op::Health { node: 1, status: 200, ms: 3 }),
        ]);
        assert!(honest.valid, "{honest:?}");
        let hung = judge(vec![at(27_000, Op::Health { node: 0, status: 0, ms: 15_000 })]);
        assert_eq!(hung.health.count, 1, "{:?}", hung.health);
        let lying = judge(vec![at(20_000, Op::Health { node: 0, status: 200, ms: 10 })]);
        assert_eq!(lying.health.count, 1, "{:?}", lying.health);
        let healed_meanwhile = judge(vec![at(40_500, Op::Health { node: 0, status: 200, ms: 1_000 })]);
        assert!(healed_meanwhile.valid, "answered after the heal: {:?}", healed_meanwhile.health);
    }

    #[test]
    fn a_connected_user_shown_offline_is_a_presence_violation() {
        let names = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let mut history = healthy();
        // c2 just left: still shown within the grace period, which is fine.
        history.push(at(
            9_500,
            Op::Online { node: 0, online: names(&["c0", "c1", "c2"]), connected: names(&["c0", "c1"]) },
        ));
        assert!(check(&history, BOUNDS).valid);
        history
            .push(at(9_500, Op::Online { node: 1, online: names(&["c0"]), connected: names(&["c0", "c1"]) }));
        let summary = check(&history, BOUNDS);
        assert_eq!(summary.presence.count, 1, "{:?}", summary.presence);
        assert!(!summary.valid);
    }

    #[test]
    fn a_crash_an_unreadable_node_and_disagreeing_acks_are_invalid() {
        let mut history = healthy();
        history.push(ok(50, 0, "c0-1", 5));
        history.push(invoke(70, 1, 1, "c1-9"));
        history.push(at(
            80,
            Op::SendOk { client: 1, conn: 0, client_id: "c1-9".into(), channel: 2, id: 1, seq: 1 },
        ));
        history.push(at(60, Op::NodeDown { node: 1, why: "exited".into() }));
        history.push(at(9_001, Op::Final { node: 0, channel: 8, rows: None }));
        let summary = check(&history, BOUNDS);
        assert!(!summary.valid);
        assert_eq!(summary.inconsistent_acks.count, 2, "{:?}", summary.inconsistent_acks);
        assert_eq!(summary.crashed.count, 1);
        assert_eq!(summary.unreadable.count, 1);
    }
}
