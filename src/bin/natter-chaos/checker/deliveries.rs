//! What each client received: every seq once and in order (`missed`,
//! `redelivered`), all of them by the end (`undelivered`), and each soon
//! enough once nothing held it back (`stale`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Bounds, Summary, Window, overlaps, percentile};
use crate::history::{Event, Op};

/// Per client and channel: every seq once, in order, in good time.
pub(super) fn check_deliveries(history: &[Event], bounds: Bounds, faults: &[Window], summary: &mut Summary) {
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
