//! The history of one run, Jepsen style: every invocation and outcome of
//! every client, every delivery, every fault and the final state read from
//! every node, each stamped with milliseconds since the run began (one
//! monotonic clock for everything, so times compare across clients).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// One recorded event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// Milliseconds since the run began.
    pub t: u64,
    #[serde(flatten)]
    pub op: Op,
}

/// A row of a channel's history as one node returned it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Row {
    pub seq: i64,
    pub id: i64,
    pub client_id: String,
    pub sender: String,
    /// The committing node's wall clock, in milliseconds.
    pub ts: i64,
    /// A system line (someone joined, left or was added): written by the
    /// server, so no client sent it.
    #[serde(default)]
    pub system: bool,
}

/// What happened. `client` is the workload client's index, `node` a node's
/// index (0 for n1), `conn` counts a client's connections from 0.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// A client connected and got `welcome`.
    Connect { client: usize, conn: u32, node: usize },
    /// A connection ended (`reason` says how).
    Close { client: usize, conn: u32, reason: String },
    /// A `send` went out.
    SendInvoke { client: usize, conn: u32, node: usize, channel: i64, client_id: String },
    /// Its `ack`: definitely stored, as `id`/`seq`.
    SendOk { client: usize, conn: u32, client_id: String, channel: i64, id: i64, seq: i64 },
    /// An error answer (`unavailable`, `rate_limited`...). Treated as
    /// ambiguous: a commit whose reply was lost may have happened.
    SendFail { client: usize, conn: u32, client_id: String, code: String },
    /// No answer: the client gave up waiting or the connection ended.
    SendInfo { client: usize, conn: u32, client_id: String, reason: String },
    /// A `message` delivered to a client.
    Recv { client: usize, conn: u32, channel: i64, seq: i64, id: i64, client_id: String },
    /// A `/healthz` probe's answer (`status` 0: none before the probe gave up).
    Health { node: usize, status: u16, ms: u64 },
    /// A fault began. The lists say who may legitimately go quiet meanwhile:
    /// `cut_clients` lost their link, `silent_nodes` are paused or dead,
    /// `store_cut_nodes` cannot reach PostgreSQL and must say so.
    FaultStart {
        name: String,
        cut_clients: Vec<usize>,
        silent_nodes: Vec<usize>,
        store_cut_nodes: Vec<usize>,
    },
    /// The fault ended (healed).
    FaultStop { name: String },
    /// A channel's whole history as `node` returned it at the end; `None`
    /// when the node could not be read.
    Final { node: usize, channel: i64, rows: Option<Vec<Row>> },
    /// A node process died or panicked without being told to.
    NodeDown { node: usize, why: String },
    /// Who a node shows online once the faults are healed and the traffic
    /// has drained, and which workload users were connected then.
    Online { node: usize, online: Vec<String>, connected: Vec<String> },
    /// A node's resident memory at the end of the run.
    NodeMemory { node: usize, rss_kib: u64 },
    /// After the presence records were wiped from Redis: how long until
    /// `node` showed every connected workload user online again (`None`:
    /// not within the probe's limit); `short` is how many of its answers
    /// before that missed someone (0: the wipe was never seen there).
    PresenceBack { node: usize, ms: Option<u64>, short: u32 },
}

/// A shared, append-only history.
#[derive(Clone)]
pub struct Recorder {
    start: Instant,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self { start: Instant::now(), events: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Milliseconds since the run began.
    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn record(&self, op: Op) {
        let event = Event { t: self.now(), op };
        self.events.lock().expect("history lock is never poisoned").push(event);
    }

    /// Everything recorded so far, in order.
    pub fn snapshot(&self) -> Vec<Event> {
        self.events.lock().expect("history lock is never poisoned").clone()
    }
}
