//! The channels as every node holds them at the end: the same rows everywhere
//! (`divergent`, `unreadable`), seqs without gaps (`gaps`), every acked
//! message stored once (`lost`, `duplicated`) and nothing no client sent
//! (`unexpected`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Summary;
use crate::history::{Event, Op, Row};

/// The final histories: agreement, gap-free seqs, no loss or duplication.
pub(super) fn check_final_state(history: &[Event], summary: &mut Summary) {
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
