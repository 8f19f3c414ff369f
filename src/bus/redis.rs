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
//! Redis pub/sub delivers at most once: frames published while a subscriber
//! is reconnecting are lost to it. After every re-subscription the bus hands
//! the hub [`BusEvent::Resync`], and the hub reads what it missed from the
//! store, so committed messages are never lost, only late.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::AsyncCommands;
use tokio::sync::mpsc;

use super::{Bus, BusEvent};
use crate::model::{Channel, ChannelId, ChannelKind, Message, MessageId, Seq, UserId};
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

/// Longest wait between attempts to resubscribe.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to Redis: {0}")]
    Connect(String),
}

pub struct RedisBus {
    node: String,
    channel: String,
    outgoing: mpsc::Sender<String>,
    incoming: Mutex<Option<mpsc::Receiver<BusEvent>>>,
}

impl RedisBus {
    /// Connects both connections for the cluster named `cluster`; fails if
    /// Redis cannot be reached now.
    pub async fn connect(url: &str, cluster: &str) -> Result<Self, BusError> {
        let channel = channel_name(cluster);
        // The client's errors may quote the URL, password and all.
        let client = redis::Client::open(url).map_err(|_| BusError::Connect("invalid Redis URL".into()))?;
        let publisher =
            client.get_connection_manager().await.map_err(|e| BusError::Connect(e.to_string()))?;
        let first = subscribe(&client, &channel).await.map_err(|e| BusError::Connect(e.to_string()))?;
        let node = node_id();
        let (outgoing, to_publish) = mpsc::channel(OUTGOING_QUEUE);
        let (received, incoming) = mpsc::channel(INCOMING_QUEUE);
        tokio::spawn(publish_loop(publisher, channel.clone(), to_publish));
        tokio::spawn(subscribe_loop(client, channel.clone(), first, node.clone(), received));
        Ok(Self { node, channel, outgoing, incoming: Mutex::new(Some(incoming)) })
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
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
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

async fn subscribe_loop(
    client: redis::Client,
    channel: String,
    first: redis::aio::PubSub,
    node: String,
    received: mpsc::Sender<BusEvent>,
) {
    let mut subscription = Some(first);
    let mut backoff = Duration::from_millis(50);
    loop {
        if let Some(mut pubsub) = subscription.take() {
            backoff = Duration::from_millis(50);
            let mut messages = pubsub.on_message();
            loop {
                tokio::select! {
                    () = received.closed() => return,
                    next = messages.next() => {
                        let Some(message) = next else { break };
                        let Some(event) = decode(message.get_payload_bytes(), &node) else { continue };
                        if received.send(event).await.is_err() {
                            return;
                        }
                    }
                }
            }
            tracing::warn!("bus subscription lost; resubscribing");
        }
        tokio::select! {
            () = received.closed() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        match subscribe(&client, &channel).await {
            Ok(pubsub) => {
                tracing::info!("bus subscription restored; catching up from the store");
                subscription = Some(pubsub);
                if received.send(BusEvent::Resync).await.is_err() {
                    return;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot resubscribe to the bus yet"),
        }
    }
}

/// The event in a frame from another node; `None` for our own echo and for
/// frames this version cannot read.
fn decode(payload: &[u8], node: &str) -> Option<BusEvent> {
    match wire::Frame::from_json(payload) {
        Ok(frame) if frame.node == node => None,
        Ok(frame) => Some(from_wire(frame.event)),
        Err(error) => {
            tracing::warn!(%error, "unreadable bus frame");
            None
        }
    }
}

fn to_wire(event: &BusEvent) -> Option<wire::Event> {
    Some(match event {
        BusEvent::Message(m) => wire::Event::Message {
            message: protocol::MessageInfo {
                channel: m.channel.0,
                id: m.id.0,
                seq: m.seq.0,
                sender: m.sender_name.clone(),
                body: m.body.clone(),
                ts: m.ts,
                client_id: m.client_id.clone(),
            },
            sender_id: m.sender.0,
        },
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
            kind: match channel.kind {
                ChannelKind::Public => protocol::ChannelKind::Public,
                ChannelKind::Private => protocol::ChannelKind::Private,
                ChannelKind::Direct => protocol::ChannelKind::Dm,
            },
        },
        BusEvent::Resync => return None,
    })
}

fn from_wire(event: wire::Event) -> BusEvent {
    match event {
        wire::Event::Message { message, sender_id } => BusEvent::Message(Message {
            id: MessageId(message.id),
            channel: ChannelId(message.channel),
            seq: Seq(message.seq),
            sender: UserId(sender_id),
            sender_name: message.sender,
            client_id: message.client_id,
            body: message.body,
            ts: message.ts,
        }),
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
            kind: match kind {
                protocol::ChannelKind::Public => ChannelKind::Public,
                protocol::ChannelKind::Private => ChannelKind::Private,
                protocol::ChannelKind::Dm => ChannelKind::Direct,
            },
        }),
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
        };
        let events = [
            BusEvent::Message(message),
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
            let decoded = decode(&frame("other", event), "me").expect("from another node");
            assert_eq!(format!("{decoded:?}"), format!("{event:?}"));
            assert!(decode(&frame("me", event), "me").is_none(), "own echo");
        }
        assert!(decode(b"not json", "me").is_none());
        assert!(to_wire(&BusEvent::Resync).is_none(), "resync is local");
    }
}
