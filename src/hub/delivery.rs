//! What the hub hands connections: a typed [`Event`] in a shared
//! [`Delivery`], which caches the event's encodings so that a hot channel
//! costs one encoding per message per protocol, however many receive it.
//! The hub never encodes: each edge fills its own slot of the cache.

use std::any::Any;
use std::sync::{Arc, OnceLock};

pub use super::presence::Change as PresenceChange;
use super::presence::OnlinePage;
use crate::model::{Channel, ChannelAbout, ChannelId, ChannelView, Message, ReadMarker, Rev};

/// What the hub tells connections.
#[derive(Debug, Clone)]
pub enum Event {
    /// A change of a message (new, edited, deleted, reacted to), and the
    /// rev the channel's stream delivered before it here: revs between the
    /// two were superseded (a fill passed over them), so a connection that
    /// holds `after` lacks nothing before this change.
    Message {
        message: Message,
        after: Rev,
    },
    /// People who came online or went offline, cluster-wide, in the order
    /// it happened: the changes of one presence interval, so a burst of
    /// arrivals costs each connection one delivery, not one per arrival
    /// (see [`crate::hub::PRESENCE_INTERVAL`]). Only who changed, and each
    /// change's number: an edge that shows the whole list asks the hub for
    /// it as it stood right after a change
    /// ([`crate::hub::Hub::online_users_after`]).
    Presence(Arc<[PresenceChange]>),
    /// The online list's first page changed (only connections that watch
    /// presence get it, at most once per presence interval): its names, or
    /// only the count (`names_changed` false: the names are those of the
    /// page told before, which every watcher holds).
    OnlinePage {
        page: Arc<OnlinePage>,
        names_changed: bool,
    },
    Typing {
        channel: ChannelId,
        user: String,
    },
    /// The receiving user is now a member of this channel.
    Joined(ChannelView),
    /// The receiving user is no longer a member of this channel.
    Left(ChannelId),
    /// The receiving user's settings for a channel (its notification
    /// level) changed, on this or another of their devices.
    Settings(ChannelView),
    /// The receiving user's read marker moved.
    Read {
        channel: ChannelId,
        marker: ReadMarker,
    },
    /// A public channel now exists. Only connections registered with
    /// [`crate::hub::Interests::announcements`] receive it.
    ChannelCreated(Channel),
    /// A channel was renamed, described, archived or unarchived: this is
    /// how it stands now (told to every connection in it).
    ChannelChanged(Box<(Channel, ChannelAbout)>),
}

/// How many encodings a delivery can cache: one per edge that encodes
/// (the edges number their slots, below this).
pub const ENCODING_SLOTS: usize = 2;

/// One event on its way to many connections, with its encodings cached.
#[derive(Debug)]
pub struct Delivery {
    pub event: Event,
    /// Each edge's encoding, in the edge's own type (for `/ws`, a frame
    /// already known to be UTF-8, so no recipient validates it again).
    encoded: [OnceLock<Box<dyn Any + Send + Sync>>; ENCODING_SLOTS],
}

impl Delivery {
    pub fn new(event: Event) -> Arc<Self> {
        Arc::new(Self { event, encoded: Default::default() })
    }

    /// The event as encoded by the edge that owns `slot`, encoding it on
    /// first use only. `T` should be cheap to clone (shared bytes): every
    /// recipient gets a clone. An edge always uses the same `T` for its slot
    /// and kind of event (a presence batch encodes to several frames).
    pub fn encoded<T: Clone + Send + Sync + 'static>(
        &self,
        slot: usize,
        encode: impl FnOnce(&Event) -> T,
    ) -> T {
        let cached = self.encoded[slot].get_or_init(|| Box::new(encode(&self.event)));
        cached.downcast_ref::<T>().expect("an edge uses one encoding type for its slot").clone()
    }

    /// Ephemeral deliveries are dropped, not queued, when a client is behind.
    pub(super) fn is_ephemeral(&self) -> bool {
        matches!(self.event, Event::Typing { .. })
    }
}
