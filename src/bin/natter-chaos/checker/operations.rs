//! Invocations and their outcomes: every send answered in time unless a fault
//! excuses the silence (`silent`), acked by the end (`unacked`), and never
//! acked twice in disagreement (`inconsistent_acks`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use super::{Bounds, Summary, Window, overlaps, percentile};
use crate::history::{Event, Op};

/// Invocations and their outcomes: acks, answer times, silence.
pub(super) fn check_operations(history: &[Event], bounds: Bounds, faults: &[Window], summary: &mut Summary) {
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
