//! Cross-node fan-out. A node publishes what it committed or observed; every
//! other node receives it and delivers it to its own connections.
//!
//! One subscription per node, never one per socket. Events are published after
//! the store commit, and a node never receives its own events back. The hub
//! delivers locally by itself, so on a single node the bus has nothing to do:
//! [`LocalBus`] is that case. [`redis::RedisBus`] connects several nodes.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::model::{Channel, ChannelAbout, ChannelId, Message, ReadMarker, UserId};

pub mod redis;

/// What crosses between nodes.
#[derive(Debug, Clone)]
pub enum BusEvent {
    /// A committed change of a message (new, edited, deleted, reacted
    /// to). Receivers order by `rev` and fill gaps from the store. Boxed:
    /// a message is many times the size of the other events.
    Message(Box<Message>),
    /// `user` became a member of `channel`.
    Joined { channel: ChannelId, user: UserId },
    /// A member's settings for a channel changed: their connections on
    /// other nodes read the channel's view again.
    SettingsChanged { channel: ChannelId, user: UserId },
    /// `user` left `channel`.
    Left { channel: ChannelId, user: UserId },
    /// `user` is typing in `channel`.
    Typing { channel: ChannelId, user: UserId, name: String },
    /// `user`'s read marker in `channel` moved to `seq`.
    Read { channel: ChannelId, user: UserId, marker: ReadMarker },
    /// A public channel was created (announced to connections that asked).
    ChannelCreated(Channel),
    /// A channel was renamed, described or archived: how it stands now.
    ChannelChanged { channel: Channel, about: ChannelAbout, renamed: bool },
    /// An admin deactivated `user`: every connection of theirs closes.
    Deactivated { user: UserId },
    /// These login sessions ended (logout, a password change or reset):
    /// the connections opened with them close.
    SessionsEnded { sessions: Vec<[u8; 32]> },
    /// Never sent between nodes: the bus itself reports that it may have
    /// lost events (its subscription was re-established), so the hub catches
    /// every channel up from the store rather than waiting for a later
    /// message to reveal the gap.
    Resync,
    /// Never sent between nodes: the users online on the other nodes now,
    /// as the bus last read them (each node's heartbeat record, which
    /// expires with its TTL when the node dies).
    RemotePresence(Vec<(UserId, String)>),
}

/// The answer of a shared token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedTake {
    Allowed,
    /// Empty; the next token comes after this long.
    Denied {
        retry_after: Duration,
    },
}

/// Cross-node fan-out: publish and subscribe.
pub trait Bus: Send + Sync + 'static {
    /// Sends an event to every other node. Never waits: the event is queued
    /// for the bus's publisher. Best effort: a lost message event is
    /// recovered by the receivers' gap fill; ephemeral ones are just lost.
    fn publish(&self, event: BusEvent);

    /// The events from other nodes. Called once, by the hub's driver, at start.
    fn subscribe(&self) -> mpsc::Receiver<BusEvent>;
}

/// What the nodes of a cluster coordinate besides fan-out: presence
/// records, shared rate limits, failure counts and locks. Alone, a node has
/// no one to share with: every default answers as if it were the cluster.
#[async_trait]
pub trait Cluster: Send + Sync + 'static {
    /// The users shown online on this node changed to `online`. Must not
    /// block: the hub's driver calls it as presence changes.
    fn local_presence(&self, online: Vec<(UserId, String)>) {
        let _ = online;
    }

    /// Whether there are other nodes to share limits with. Alone, a node
    /// skips asking [`Cluster::take_shared`], whose answer it knows.
    fn is_shared(&self) -> bool {
        false
    }

    /// Takes one from the token bucket `bucket` that every node of the
    /// cluster shares (`per_second` refill, `burst` capacity). Nodes keep
    /// their own buckets too; this one holds the limit across nodes. Alone,
    /// a node has no one to share with and always gets `Allowed`.
    async fn take_shared(&self, bucket: &str, per_second: f64, burst: f64) -> SharedTake {
        let _ = (bucket, per_second, burst);
        SharedTake::Allowed
    }

    /// Whether [`Cluster::take_shared`] would allow one now, without taking it.
    async fn peek_shared(&self, bucket: &str, per_second: f64, burst: f64) -> SharedTake {
        let _ = (bucket, per_second, burst);
        SharedTake::Allowed
    }

    /// Counts one more failure under `key` in the cluster and returns the
    /// count (forgotten `forget_after` the last failure); `None` alone.
    async fn count_shared(&self, key: &str, forget_after: Duration) -> Option<u32> {
        let _ = (key, forget_after);
        None
    }

    /// Marks `key` locked for `duration` on every node.
    async fn lock_shared(&self, key: &str, duration: Duration) {
        let _ = (key, duration);
    }

    /// Whether some node locked `key` and the lock still runs.
    async fn is_locked_shared(&self, key: &str) -> bool {
        let _ = key;
        false
    }

    /// Forgets `key`'s count and lock everywhere.
    async fn clear_shared(&self, key: &str) {
        let _ = key;
    }

    /// The node is stopping: withdraw from the cluster (its users leave
    /// now, not at the presence TTL) and stop listening.
    async fn close(&self) {}
}

/// The bus of a single node: there is no one else to tell.
#[derive(Debug, Default)]
pub struct LocalBus;

impl Bus for LocalBus {
    fn publish(&self, _event: BusEvent) {}

    fn subscribe(&self) -> mpsc::Receiver<BusEvent> {
        // The sender is dropped at once: the receiver reports "closed" and the
        // hub's listener ends, as there will never be remote events.
        mpsc::channel(1).1
    }
}

impl Cluster for LocalBus {}
