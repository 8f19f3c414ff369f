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

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::AsyncCommands;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{Bus, BusEvent, SharedTake};
use crate::model::{Channel, ChannelId, Seq, UserId};
use crate::protocol::{self, bus as wire};

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

/// Longest a shared-limit check waits for Redis before the node decides by
/// its own bucket alone: a slow Redis must not slow every send.
const SHARED_TAKE_TIMEOUT: Duration = Duration::from_millis(250);

/// The start both GCRA scripts share: Redis's clock, the arguments, and the
/// bucket's "theoretical arrival time" (never in the past); `$rest` decides.
macro_rules! gcra_script {
    ($rest:literal) => {
        concat!(
            r#"
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now_us)
if tat < now_us then tat = now_us end"#,
            $rest
        )
    };
}

/// A generic cell rate algorithm (GCRA) token bucket, atomic in Redis: the
/// key holds the "theoretical arrival time" in Redis's own clock, so node
/// clocks do not matter. ARGV: emission interval and burst tolerance (the
/// interval times the burst) in microseconds. Returns 0 when allowed, else microseconds until a token.
const TAKE_SCRIPT: &str = gcra_script!(
    r#"
local next_tat = tat + interval
local wait = next_tat - now_us - tolerance
if wait > 0 then return wait end
redis.call('SET', KEYS[1], next_tat, 'PX', math.ceil((next_tat - now_us) / 1000) + 1000)
return 0
"#
);

/// [`TAKE_SCRIPT`] without the taking: 0 when a token is there now, else
/// microseconds until one is.
const PEEK_SCRIPT: &str = gcra_script!(
    r#"
local wait = tat + interval - now_us - tolerance
if wait > 0 then return wait end
return 0
"#
);

/// Longest wait between attempts to resubscribe.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How often the subscriber PINGs Redis over its own subscription. A
/// subscription only receives, so without this a silent network (a
/// blackhole, a one-way partition, or Redis having dropped the client
/// meanwhile) would leave the node deaf with nothing to notice it.
const LIVENESS_PING_EVERY: Duration = Duration::from_secs(1);

/// A subscription whose PING is not answered within this is taken for dead:
/// the node resubscribes and catches up from the store.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest one attempt to (re)subscribe may take; connecting through a
/// blackhole would otherwise wait for the kernel's SYN retries (minutes).
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

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
    channel: String,
    cluster: String,
    /// For shared counters (multiplexed; the publisher task holds a clone).
    commands: redis::aio::ConnectionManager,
    outgoing: mpsc::Sender<String>,
    incoming: Mutex<Option<mpsc::Receiver<BusEvent>>>,
    /// The users shown online on this node, for the presence task.
    local_presence: watch::Sender<Vec<(UserId, String)>>,
    /// Cancelled by [`Bus::close`]: every task stops, presence withdrawn.
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
        let presence = Presence {
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
            channel: channel.clone(),
            node: node.clone(),
            received,
            presence_changed,
            stop: stop.clone(),
        };
        tokio::spawn(subscriber.run(first));
        let presence_task = Mutex::new(Some(tokio::spawn(presence.run())));
        Ok(Self {
            node,
            channel,
            cluster,
            commands,
            outgoing,
            incoming: Mutex::new(Some(incoming)),
            local_presence,
            stop,
            presence_task,
        })
    }

    /// This node's id on the bus.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The pub/sub channel this bus uses.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

/// A random id for this process, so it recognizes its own frames.
fn node_id() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn subscribe(client: &redis::Client, channel: &str) -> redis::RedisResult<redis::aio::PubSub> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub)
    };
    match tokio::time::timeout(SUBSCRIBE_TIMEOUT, attempt).await {
        Ok(subscribed) => subscribed,
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "subscribing timed out").into()),
    }
}

async fn publish_loop(
    mut connection: redis::aio::ConnectionManager,
    channel: String,
    mut frames: mpsc::Receiver<String>,
) {
    while let Some(frame) = frames.recv().await {
        let published: redis::RedisResult<i64> = connection.publish(&channel, frame).await;
        if let Err(error) = published {
            // Lost: receivers fill message gaps from the store.
            tracing::warn!(%error, "cannot publish to the bus");
        }
    }
}

/// The subscriber task's state.
struct Subscriber {
    client: redis::Client,
    channel: String,
    node: String,
    received: mpsc::Sender<BusEvent>,
    /// Wakes the presence task when another node's record changed.
    presence_changed: Arc<Notify>,
    stop: CancellationToken,
}

impl Subscriber {
    async fn run(self, first: redis::aio::PubSub) {
        let mut subscription = Some(first);
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some(pubsub) = subscription.take() {
                backoff = Duration::from_millis(50);
                let (mut sink, mut messages) = pubsub.split();
                let mut liveness = tokio::time::interval(LIVENESS_PING_EVERY);
                liveness.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = self.received.closed() => return,
                        () = self.stop.cancelled() => return,
                        _ = liveness.tick() => {
                            let pong = tokio::time::timeout(LIVENESS_TIMEOUT, sink.ping::<redis::Value>()).await;
                            if !matches!(pong, Ok(Ok(_))) {
                                tracing::warn!(timeout = ?LIVENESS_TIMEOUT, "bus subscription did not answer PING");
                                break;
                            }
                        }
                        next = messages.next() => {
                            let Some(message) = next else { break };
                            let delivered = match decode(message.get_payload_bytes(), &self.node) {
                                Some(Decoded::Event(event)) => self.received.send(event).await.is_ok(),
                                Some(Decoded::PresenceChanged) => {
                                    self.presence_changed.notify_one();
                                    true
                                }
                                None => true,
                            };
                            if !delivered {
                                return;
                            }
                        }
                    }
                }
                tracing::warn!("bus subscription lost; resubscribing");
            }
            tokio::select! {
                () = self.received.closed() => return,
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match subscribe(&self.client, &self.channel).await {
                Ok(pubsub) => {
                    tracing::info!("bus subscription restored; catching up from the store");
                    subscription = Some(pubsub);
                    // Presence frames may have been lost too.
                    self.presence_changed.notify_one();
                    if self.received.send(BusEvent::Resync).await.is_err() {
                        return;
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot resubscribe to the bus yet"),
            }
        }
    }
}

/// The presence task's state.
struct Presence {
    connection: redis::aio::ConnectionManager,
    cluster: String,
    node: String,
    ttl: Duration,
    local: watch::Receiver<Vec<(UserId, String)>>,
    changed_elsewhere: Arc<Notify>,
    outgoing: mpsc::Sender<String>,
    received: mpsc::Sender<BusEvent>,
    stop: CancellationToken,
}

impl Presence {
    async fn run(mut self) {
        let mut heartbeat = tokio::time::interval(self.ttl / 3);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_told: Option<Vec<(UserId, String)>> = None;
        // Set while this node's record may have expired: the first write
        // that succeeds again tells the others to re-read at once.
        let mut record_lapsed = false;
        loop {
            let mut changed_here = false;
            tokio::select! {
                () = self.received.closed() => break,
                () = self.stop.cancelled() => break,
                _ = heartbeat.tick() => {}
                changed = self.local.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    changed_here = true;
                }
                () = self.changed_elsewhere.notified() => {}
            }
            let users = self.local.borrow_and_update().clone();
            match self.write(&users).await {
                Ok(()) if changed_here || record_lapsed => {
                    record_lapsed = false;
                    let frame = wire::Frame { node: self.node.clone(), event: wire::Event::PresenceChanged }
                        .to_json();
                    let _ = self.outgoing.try_send(frame);
                }
                Ok(()) => {}
                Err(error) => {
                    record_lapsed = true;
                    tracing::warn!(%error, "cannot write this node's presence");
                }
            }
            match self.read_others().await {
                Ok(others) if last_told.as_ref() != Some(&others) => {
                    last_told = Some(others.clone());
                    if self.received.send(BusEvent::RemotePresence(others)).await.is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cannot read the cluster's presence"),
            }
        }
        // The node is stopping: its users leave at once rather than at the
        // TTL, and the others hear of it.
        let withdrawn: redis::RedisResult<()> = redis::pipe()
            .del(self.key(&self.node))
            .ignore()
            .srem(self.nodes_key(), &self.node)
            .ignore()
            .publish(
                channel_name(&self.cluster),
                wire::Frame { node: self.node.clone(), event: wire::Event::PresenceChanged }.to_json(),
            )
            .ignore()
            .query_async(&mut self.connection)
            .await;
        if let Err(error) = withdrawn {
            tracing::warn!(%error, "cannot withdraw this node's presence; it expires with its TTL");
        }
    }

    fn key(&self, node: &str) -> String {
        format!("{}:presence:{node}", self.cluster)
    }

    fn nodes_key(&self) -> String {
        format!("{}:nodes", self.cluster)
    }

    async fn write(&mut self, users: &[(UserId, String)]) -> redis::RedisResult<()> {
        let record = wire::PresenceRecord {
            users: users
                .iter()
                .map(|(id, name)| wire::PresenceUser { id: id.0, name: name.clone() })
                .collect(),
        };
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        redis::pipe()
            .cmd("SET")
            .arg(self.key(&self.node))
            .arg(record.to_json())
            .arg("PX")
            .arg(ttl_ms)
            .ignore()
            .sadd(self.nodes_key(), &self.node)
            .ignore()
            .query_async(&mut self.connection)
            .await
    }

    /// The users online on the other live nodes, sorted by id, once each.
    async fn read_others(&mut self) -> redis::RedisResult<Vec<(UserId, String)>> {
        let nodes: Vec<String> = self.connection.smembers(self.nodes_key()).await?;
        let others: Vec<String> = nodes.into_iter().filter(|n| *n != self.node).collect();
        if others.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = others.iter().map(|n| self.key(n)).collect();
        let records: Vec<Option<Vec<u8>>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut self.connection).await?;
        let mut users = Vec::new();
        for (node, record) in others.iter().zip(records) {
            match record {
                // Expired: the node died (or stopped) without cleaning up.
                None => {
                    let _: redis::RedisResult<()> = self.connection.srem(self.nodes_key(), node).await;
                }
                Some(bytes) => match wire::PresenceRecord::from_json(&bytes) {
                    Ok(record) => users.extend(record.users.into_iter().map(|u| (UserId(u.id), u.name))),
                    Err(error) => tracing::warn!(%error, "unreadable presence record"),
                },
            }
        }
        users.sort_by_key(|(id, _)| *id);
        users.dedup_by_key(|(id, _)| *id);
        Ok(users)
    }
}

/// What a frame from another node asks of this one.
enum Decoded {
    Event(BusEvent),
    PresenceChanged,
}

/// What a frame from another node asks; `None` for our own echo and for
/// frames this version cannot read.
fn decode(payload: &[u8], node: &str) -> Option<Decoded> {
    match wire::Frame::from_json(payload) {
        Ok(frame) if frame.node == node => None,
        Ok(frame) => Some(match from_wire(frame.event) {
            Some(event) => Decoded::Event(event),
            None => Decoded::PresenceChanged,
        }),
        Err(error) => {
            tracing::warn!(%error, "unreadable bus frame");
            None
        }
    }
}

fn to_wire(event: &BusEvent) -> Option<wire::Event> {
    Some(match event {
        BusEvent::Message(m) => {
            wire::Event::Message { message: protocol::convert::message_info(m), sender_id: m.sender.0 }
        }
        BusEvent::Joined { channel, user } => wire::Event::Joined { channel: channel.0, user: user.0 },
        BusEvent::Left { channel, user } => wire::Event::Left { channel: channel.0, user: user.0 },
        BusEvent::Typing { channel, user, name } => {
            wire::Event::Typing { channel: channel.0, user: user.0, name: name.clone() }
        }
        BusEvent::Read { channel, user, seq } => {
            wire::Event::Read { channel: channel.0, user: user.0, seq: seq.0 }
        }
        BusEvent::ChannelCreated(channel) => wire::Event::ChannelCreated {
            id: channel.id.0,
            name: channel.name.clone(),
            kind: protocol::convert::channel_kind(channel.kind),
        },
        BusEvent::Resync | BusEvent::RemotePresence(_) => return None,
    })
}

/// The hub's event for a frame's; `None` for the presence signal, which the
/// bus handles itself.
fn from_wire(event: wire::Event) -> Option<BusEvent> {
    Some(match event {
        wire::Event::Message { message, sender_id } => {
            BusEvent::Message(protocol::convert::message_from_info(message, UserId(sender_id)))
        }
        wire::Event::Joined { channel, user } => {
            BusEvent::Joined { channel: ChannelId(channel), user: UserId(user) }
        }
        wire::Event::Left { channel, user } => {
            BusEvent::Left { channel: ChannelId(channel), user: UserId(user) }
        }
        wire::Event::Typing { channel, user, name } => {
            BusEvent::Typing { channel: ChannelId(channel), user: UserId(user), name }
        }
        wire::Event::Read { channel, user, seq } => {
            BusEvent::Read { channel: ChannelId(channel), user: UserId(user), seq: Seq(seq) }
        }
        wire::Event::ChannelCreated { id, name, kind } => BusEvent::ChannelCreated(Channel {
            id: ChannelId(id),
            name,
            kind: protocol::convert::channel_kind_from(kind),
        }),
        wire::Event::PresenceChanged => return None,
    })
}

impl RedisBus {
    /// Runs a GCRA bucket script ([`TAKE_SCRIPT`] or [`PEEK_SCRIPT`]) on
    /// `bucket` (`per_second` refill, `burst` capacity).
    async fn run_bucket_script(&self, script: &str, bucket: &str, per_second: f64, burst: f64) -> SharedTake {
        let interval_us = (1_000_000.0 / per_second.max(1e-6)).round();
        // A token is granted while the bucket's debt stays within `burst`
        // intervals: `burst` at once from full, then one per interval.
        let tolerance_us = interval_us * burst.max(1.0);
        let mut connection = self.commands.clone();
        let mut command = redis::cmd("EVAL");
        command
            .arg(script)
            .arg(1)
            .arg(format!("{}:rate:{bucket}", self.cluster))
            .arg(interval_us as i64)
            .arg(tolerance_us as i64);
        let call = command.query_async::<i64>(&mut connection);
        match tokio::time::timeout(SHARED_TAKE_TIMEOUT, call).await {
            Ok(Ok(0)) => SharedTake::Allowed,
            Ok(Ok(wait_us)) => {
                SharedTake::Denied { retry_after: Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)) }
            }
            // Without Redis the node's own buckets still hold.
            Ok(Err(error)) => {
                tracing::warn!(%error, "shared rate limit unavailable; using this node's own");
                SharedTake::Allowed
            }
            Err(_) => {
                tracing::warn!("shared rate limit timed out; using this node's own");
                SharedTake::Allowed
            }
        }
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, event: BusEvent) {
        let Some(event) = to_wire(&event) else { return };
        let frame = wire::Frame { node: self.node.clone(), event }.to_json();
        if self.outgoing.try_send(frame).is_err() {
            tracing::warn!("bus publish queue full; dropping an event");
        }
    }

    fn local_presence(&self, online: Vec<(UserId, String)>) {
        self.local_presence.send_replace(online);
    }

    async fn take_shared(&self, bucket: &str, per_second: f64, burst: f64) -> SharedTake {
        self.run_bucket_script(TAKE_SCRIPT, bucket, per_second, burst).await
    }

    async fn peek_shared(&self, bucket: &str, per_second: f64, burst: f64) -> SharedTake {
        self.run_bucket_script(PEEK_SCRIPT, bucket, per_second, burst).await
    }

    async fn count_shared(&self, key: &str, forget_after: Duration) -> Option<u32> {
        let mut connection = self.commands.clone();
        let forget_ms = u64::try_from(forget_after.as_millis()).unwrap_or(u64::MAX);
        let key = format!("{}:count:{key}", self.cluster);
        let mut pipe = redis::pipe();
        pipe.incr(&key, 1).pexpire(&key, i64::try_from(forget_ms).unwrap_or(i64::MAX)).ignore();
        let counted = pipe.query_async::<(u32,)>(&mut connection);
        match tokio::time::timeout(SHARED_TAKE_TIMEOUT, counted).await {
            Ok(Ok((count,))) => Some(count),
            Ok(Err(error)) => {
                tracing::warn!(%error, "shared counter unavailable; using this node's own");
                None
            }
            Err(_) => None,
        }
    }

    async fn lock_shared(&self, key: &str, duration: Duration) {
        let mut connection = self.commands.clone();
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1);
        let locked: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("{}:lock:{key}", self.cluster))
            .arg(1)
            .arg("PX")
            .arg(millis)
            .query_async(&mut connection)
            .await;
        if let Err(error) = locked {
            tracing::warn!(%error, "cannot share a lockout; it holds on this node only");
        }
    }

    async fn is_locked_shared(&self, key: &str) -> bool {
        let mut connection = self.commands.clone();
        let call = async {
            let exists: redis::RedisResult<bool> =
                connection.exists(format!("{}:lock:{key}", self.cluster)).await;
            exists
        };
        matches!(tokio::time::timeout(SHARED_TAKE_TIMEOUT, call).await, Ok(Ok(true)))
    }

    async fn clear_shared(&self, key: &str) {
        let mut connection = self.commands.clone();
        let cleared: redis::RedisResult<()> = redis::pipe()
            .del(format!("{}:count:{key}", self.cluster))
            .ignore()
            .del(format!("{}:lock:{key}", self.cluster))
            .ignore()
            .query_async(&mut connection)
            .await;
        if let Err(error) = cleared {
            tracing::warn!(%error, "cannot clear a shared lockout");
        }
    }

    async fn close(&self) {
        self.stop.cancel();
        let task = self.presence_task.lock().expect("presence task lock is never poisoned").take();
        if let Some(task) = task {
            // Bounded: a Redis that is down must not hold the shutdown.
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChannelKind, Message, MessageId};

    fn frame(node: &str, event: &BusEvent) -> Vec<u8> {
        wire::Frame { node: node.into(), event: to_wire(event).unwrap() }.to_json().into_bytes()
    }

    #[test]
    fn events_survive_the_wire_and_own_echo_is_dropped() {
        let message = Message {
            id: MessageId(7),
            channel: ChannelId(3),
            seq: Seq(42),
            sender: UserId(5),
            sender_name: "alice".into(),
            client_id: "c-1".into(),
            body: "hi \"there\"".into(),
            ts: 1_700_000_000_000,
            system: None,
        };
        let line = Message {
            seq: Seq(43),
            client_id: "sys-1".into(),
            body: "alice added carol".into(),
            system: Some(crate::model::SystemEvent {
                kind: crate::model::SystemKind::Added,
                user_name: "carol".into(),
            }),
            ..message.clone()
        };
        let events = [
            BusEvent::Message(message),
            BusEvent::Message(line),
            BusEvent::Joined { channel: ChannelId(3), user: UserId(5) },
            BusEvent::Left { channel: ChannelId(3), user: UserId(5) },
            BusEvent::Typing { channel: ChannelId(3), user: UserId(5), name: "alice".into() },
            BusEvent::Read { channel: ChannelId(3), user: UserId(5), seq: Seq(9) },
            BusEvent::ChannelCreated(Channel {
                id: ChannelId(4),
                name: "x".into(),
                kind: ChannelKind::Public,
            }),
        ];
        for event in &events {
            let Some(Decoded::Event(decoded)) = decode(&frame("other", event), "me") else {
                panic!("an event from another node")
            };
            assert_eq!(format!("{decoded:?}"), format!("{event:?}"));
            assert!(decode(&frame("me", event), "me").is_none(), "own echo");
        }
        assert!(decode(b"not json", "me").is_none());
        assert!(to_wire(&BusEvent::Resync).is_none(), "resync is local");
        let presence = wire::Frame { node: "other".into(), event: wire::Event::PresenceChanged }.to_json();
        assert!(matches!(decode(presence.as_bytes(), "me"), Some(Decoded::PresenceChanged)));
    }
}
