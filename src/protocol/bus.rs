use serde::{Deserialize, Serialize};

use super::{ChannelKind, MessageInfo};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Frame {
    /// The publishing node's random id.
    pub node: String,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant, reason = "a frame is decoded, converted and dropped, never kept in bulk")]
pub enum Event {
    Message {
        #[serde(flatten)]
        message: MessageInfo,
        sender_id: i64,
    },
    Joined {
        channel: i64,
        user: i64,
    },
    SettingsChanged {
        channel: i64,
        user: i64,
    },
    Left {
        channel: i64,
        user: i64,
    },
    Typing {
        channel: i64,
        user: i64,
        name: String,
    },
    Read {
        channel: i64,
        user: i64,
        seq: i64,
        #[serde(default)]
        unread: u32,
        #[serde(default)]
        mentions: u32,
        #[serde(default)]
        last_seq: i64,
    },
    ChannelCreated {
        id: i64,
        name: String,
        kind: ChannelKind,
    },
    /// A channel was renamed, described or archived: how it stands now.
    ChannelChanged {
        id: i64,
        name: String,
        kind: ChannelKind,
        #[serde(default)]
        topic: String,
        #[serde(default)]
        description: String,
        #[serde(default)]
        archived: bool,
        #[serde(default)]
        renamed: bool,
    },
    /// An admin deactivated the user: their connections close.
    Deactivated {
        user: i64,
    },
    /// These login sessions ended (their keys, the tokens' hashes, in hex):
    /// the connections opened with them close.
    SessionsEnded {
        sessions: Vec<String>,
    },
    /// The sender's presence record changed; receivers read them again.
    PresenceChanged,
}

/// One node's heartbeat record in Redis (`{cluster}:presence:{node}`,
/// with a TTL): the users shown online on that node.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct PresenceRecord {
    pub users: Vec<PresenceUser>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PresenceUser {
    pub id: i64,
    pub name: String,
}

impl PresenceRecord {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("presence records always serialize")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

impl Frame {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("bus frames always serialize")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}
