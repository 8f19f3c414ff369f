//! What the hub hands connections: a typed [`Event`] in a shared
//! [`Delivery`], which caches the event's encodings so that a hot channel
//! costs one encoding per message per protocol, however many receive it.
//! The hub never encodes: each edge fills its own slot of the cache.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::model::{Channel, ChannelId, ChannelView, Message, Seq};

/// What the hub tells connections.
#[derive(Debug, Clone)]
pub enum Event {
    Message(Message),
    /// Someone came online or went offline, cluster-wide. Only who changed:
    /// an edge that shows the whole list asks the hub for it.
    Presence {
        user: String,
        online: bool,
    },
    Typing {
        channel: ChannelId,
        user: String,
    },
    /// The receiving user is now a member of this channel.
    Joined(ChannelView),
    /// The receiving user is no longer a member of this channel.
    Left(ChannelId),
    /// The receiving user's read marker moved.
    Read {
        channel: ChannelId,
        seq: Seq,
    },
    /// A public channel now exists. Only connections registered with
    /// [`crate::hub::Interests::announcements`] receive it.
    ChannelCreated(Channel),
}

/// How many encodings a delivery can cache: one per edge that encodes
/// (the edges number their slots, below this).
pub const ENCODING_SLOTS: usize = 2;

/// One event on its way to many connections, with its encodings cached.
#[derive(Debug)]
pub struct Delivery {
    pub event: Event,
    encoded: [OnceLock<Bytes>; ENCODING_SLOTS],
}

impl Delivery {
    pub fn new(event: Event) -> Arc<Self> {
        Arc::new(Self { event, encoded: Default::default() })
    }

    /// The event as encoded by the edge that owns `slot`, encoding it on
    /// first use only. The bytes are shared, not copied, between recipients.
    pub fn encoded(&self, slot: usize, encode: impl FnOnce(&Event) -> String) -> Bytes {
        self.encoded[slot].get_or_init(|| Bytes::from(encode(&self.event))).clone()
    }

    /// Ephemeral deliveries are dropped, not queued, when a client is behind.
    pub(super) fn is_ephemeral(&self) -> bool {
        matches!(self.event, Event::Typing { .. })
    }
}
