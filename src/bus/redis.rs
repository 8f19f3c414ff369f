//! The bus of a cluster: Redis pub/sub on one channel.
//!
//! Each node holds exactly two Redis connections for the bus, whatever its
//! number of clients: one subscribed to the cluster's channel, one (a reconnecting
//! connection manager) that publishes. The channel is named after the
//! cluster ([`channel_name`]). Events are JSON frames of
//! `protocol::bus`, tagged with the node's random id so a node drops its own
//! echo. Publishing never waits on Redis: frames go through a bounded queue to
//! a publisher task, in the order the hub published them.
//!
//! Presence: every node keeps a record of the users shown online on it in
//! `{cluster}:presence:{node}` with a TTL, rewritten on every change and every
//! third of the TTL, and listed in the set `{cluster}:nodes`. After a change
//! it publishes a `PresenceChanged` frame; every node then (and on every
//! heartbeat) reads the other nodes' records and hands the hub the union as
//! [`BusEvent::RemotePresence`]. A node that dies stops rewriting its record,
//! which expires: its users go offline everywhere within the TTL.
//!
//! Redis pub/sub delivers at most once: frames published while a subscriber
//! is reconnecting are lost to it. After every re-subscription the bus hands
//! the hub [`BusEvent::Resync`], and the hub reads what it missed from the
//! store, so committed messages are never lost, only late.
//!
//! The parts: this module (connecting, publishing), `subscription` (the
//! subscriber and publisher tasks), `presence` (the presence records),
//! `coordination` (shared rate limits, counts and locks: [`Cluster`](super::Cluster)),
//! `frames` (events to frames and back).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{Bus, BusEvent};
use crate::model::UserId;
use crate::protocol::bus as wire;

mod coordination;
mod frames;
mod presence;
mod subscription;

use frames::to_wire;
use presence::PresenceTask;
use subscription::{Subscriber, publish_loop, subscribe};

/// The Redis pub/sub channel every node of a cluster publishes to and
/// subscribes to, after the cluster's name: `{cluster}:bus`. Pub/sub ignores
/// Redis's numbered databases, so clusters sharing a Redis need their own names.
pub fn channel_name(cluster: &str) -> String {
    format!("{cluster}:bus")
}

/// Frames waiting to be published. When full (Redis down or slow), new
/// frames are dropped: other nodes recover lost messages from the store.
pub const OUTGOING_QUEUE: usize = 16_384;

/// Events received but not yet taken by the hub. When full, the subscriber
/// stops reading; Redis buffers for it up to its pub/sub output limit, then
/// drops the connection, and the resubscription's resync recovers.
pub const INCOMING_QUEUE: usize = 16_384;

/// How long a node's presence record outlives its last heartbeat, unless
/// configured otherwise: a dead node's users go offline within this.
pub const DEFAULT_PRESENCE_TTL: Duration = Duration::from_secs(15);

/// Both Redis connections close when data they sent stays unacknowledged
/// this long (`TCP_USER_TIMEOUT`), and probe an idle link with keepalive
/// (idle 2 s, 2 probes 1 s apart). Without it the command connection, whose
/// commands merely time out, rode out a partition on TCP's retransmission
/// backoff and came back many seconds after the network did, leaving the
/// node's presence record expired meanwhile. Closed, it reconnects.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(3);
const KEEPALIVE_IDLE: Duration = Duration::from_secs(2);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
const KEEPALIVE_RETRIES: u32 = 2;

fn tcp_settings() -> redis::io::tcp::TcpSettings {
    let keepalive = redis::io::tcp::socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_RETRIES);
    redis::io::tcp::TcpSettings::default().set_keepalive(keepalive).set_user_timeout(TCP_USER_TIMEOUT)
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to Redis: {0}")]
    Connect(String),
}

/// What a node needs to know to join its cluster in Redis.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prefix of the bus channel and every key: nodes of one cluster share
    /// it, clusters sharing a Redis must not.
    pub cluster: String,
    /// How long a node's presence record lives without a heartbeat.
    pub presence_ttl: Duration,
}

pub struct RedisBus {
    node: String,
    cluster: String,
    /// For shared counters (multiplexed; the publisher task holds a clone).
    commands: redis::aio::ConnectionManager,
    outgoing: mpsc::Sender<String>,
    incoming: Mutex<Option<mpsc::Receiver<BusEvent>>>,
    /// The users shown online on this node, for the presence task.
    local_presence: watch::Sender<Vec<(UserId, String)>>,
    /// Cancelled by [`Cluster::close`]: every task stops, presence withdrawn.
    stop: CancellationToken,
    presence_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl RedisBus {
    /// Connects both connections and starts the subscriber, publisher and
    /// presence tasks; fails if Redis cannot be reached now.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, BusError> {
        let channel = channel_name(&options.cluster);
        // The client's errors may quote the URL, password and all.
        let info = redis::IntoConnectionInfo::into_connection_info(url)
            .map_err(|_| BusError::Connect("invalid Redis URL".into()))?
            .set_tcp_settings(tcp_settings());
        let client = redis::Client::open(info).map_err(|_| BusError::Connect("invalid Redis URL".into()))?;
        let publisher =
            client.get_connection_manager().await.map_err(|e| BusError::Connect(e.to_string()))?;
        let first = subscribe(&client, &channel).await.map_err(|e| BusError::Connect(e.to_string()))?;
        let node = node_id();
        let (outgoing, to_publish) = mpsc::channel(OUTGOING_QUEUE);
        let (received, incoming) = mpsc::channel(INCOMING_QUEUE);
        let presence_changed = Arc::new(Notify::new());
        let stop = CancellationToken::new();
        let (local_presence, local) = watch::channel(Vec::new());
        let commands = publisher.clone();
        let cluster = options.cluster.clone();
        let presence = PresenceTask {
            connection: publisher.clone(),
            cluster: options.cluster,
            node: node.clone(),
            ttl: options.presence_ttl.max(Duration::from_millis(300)),
            local,
            changed_elsewhere: Arc::clone(&presence_changed),
            outgoing: outgoing.clone(),
            received: received.clone(),
            stop: stop.clone(),
        };
        tokio::spawn(publish_loop(publisher, channel.clone(), to_publish));
        let subscriber = Subscriber {
            client,
            channel,
            node: node.clone(),
            received,
            presence_changed,
            stop: stop.clone(),
        };
        tokio::spawn(subscriber.run(first));
        let presence_task = Mutex::new(Some(tokio::spawn(presence.run())));
        Ok(Self {
            node,
            cluster,
            commands,
            outgoing,
            incoming: Mutex::new(Some(incoming)),
            local_presence,
            stop,
            presence_task,
        })
    }
}

/// A random id for this process, so it recognizes its own frames.
fn node_id() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Bus for RedisBus {
    fn publish(&self, event: BusEvent) {
        let Some(event) = to_wire(&event) else { return };
        let frame = wire::Frame { node: self.node.clone(), event }.to_json();
        if self.outgoing.try_send(frame).is_err() {
            tracing::warn!("bus publish queue full; dropping an event");
        }
    }

    fn subscribe(&self) -> mpsc::Receiver<BusEvent> {
        self.incoming
            .lock()
            .expect("bus receiver lock is never poisoned")
            .take()
            // A second subscriber gets a closed receiver, as LocalBus gives.
            .unwrap_or_else(|| mpsc::channel(1).1)
    }
}
