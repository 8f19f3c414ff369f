//! `/healthz` of a node cut off from PostgreSQL: answered within the bound,
//! and with 503 once the bound has passed (`health`).

use super::{Bounds, Summary, Window};
use crate::history::{Event, Op};

/// A node cut off from PostgreSQL must say so, in time.
pub(super) fn check_health(history: &[Event], bounds: Bounds, faults: &[Window], summary: &mut Summary) {
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
