use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// C→S a username (log in as a guest); S→C someone came online.
pub const NEW_USER: &str = "new user";
/// C→S ask for the online users; S→C the answer, an [`OnlineUsers`] map.
pub const GET_ONLINE_USERS: &str = "get online users";
/// C→S [`NewMessage`]; S→C [`ChatMessage`] to the channel's viewers.
pub const NEW_MESSAGE: &str = "new message";
/// S→C [`MessageUpdated`] (natter's): a message of the channel on
/// screen was edited or deleted.
pub const MESSAGE_UPDATED: &str = "message updated";
/// C→S create a channel by name; S→C a public channel now exists.
pub const NEW_CHANNEL: &str = "new channel";
/// C→S switch to a channel by name; S→C its [`ChannelHistory`].
pub const USER_CHANGED_CHANNEL: &str = "user changed channel";
/// S→C someone went offline: the [`OnlineUsers`] still online.
pub const USER_HAS_LEFT: &str = "user has left";
/// S→C a request failed: an [`ErrorEvent`]. natter's addition.
pub const ERROR: &str = "error";
/// The names clients written from the tutorial use to list channels. Each
/// is answered under its own name with an array of channel names.
pub const CHANNEL_LIST_EVENTS: [&str; 3] = ["get all channels", "get existing channels", "load channels"];

/// Every event a client may emit.
pub const CLIENT_EVENTS: &[&str] = &[
    NEW_USER,
    GET_ONLINE_USERS,
    NEW_MESSAGE,
    NEW_CHANNEL,
    USER_CHANGED_CHANNEL,
    CHANNEL_LIST_EVENTS[0],
    CHANNEL_LIST_EVENTS[1],
    CHANNEL_LIST_EVENTS[2],
];

/// Every event the server emits.
pub const SERVER_EVENTS: &[&str] = &[
    NEW_USER,
    GET_ONLINE_USERS,
    NEW_MESSAGE,
    MESSAGE_UPDATED,
    NEW_CHANNEL,
    USER_CHANGED_CHANNEL,
    USER_HAS_LEFT,
    ERROR,
    CHANNEL_LIST_EVENTS[0],
    CHANNEL_LIST_EVENTS[1],
    CHANNEL_LIST_EVENTS[2],
];

/// The handshake's `auth` object: `io(url, {auth: {token}})`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Auth {
    #[serde(default)]
    pub token: Option<String>,
}

/// `new message` from a client. The tutorial's `sender` field is accepted
/// and ignored: the sender is the socket's user. Other extra fields are
/// ignored too, as tutorial variants add their own.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct NewMessage {
    pub channel: String,
    pub message: String,
    /// Optional idempotency key, as in the native protocol; one is made up
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// natter's: the seq of the message (in that channel) it replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
}

/// A stored message: `new message` to clients, and each entry of a
/// history. `sender`, `message` and `channel` are the tutorial's; `id`,
/// `seq` and `ts` are natter's, so clients can de-duplicate and order.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ChatMessage {
    pub sender: String,
    pub message: String,
    pub channel: String,
    pub id: i64,
    pub seq: i64,
    pub ts: i64,
}

/// `message updated` (natter's): a message of the channel on screen was
/// edited or deleted; `message` is its text now (empty once deleted).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct MessageUpdated {
    pub channel: String,
    pub id: i64,
    pub seq: i64,
    pub message: String,
    pub edited: bool,
    pub deleted: bool,
}

/// `user changed channel` to the requester: the latest page of the
/// channel's history, oldest first. `has_more` (natter's) says older
/// messages exist.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ChannelHistory {
    pub channel: String,
    pub messages: Vec<ChatMessage>,
    pub has_more: bool,
}

/// The online users as the tutorial's clients expect them: an object
/// keyed by username. The values are always `true`, never socket ids.
pub type OnlineUsers = BTreeMap<String, bool>;

/// The `error` event. Its codes are the native protocol's
/// [`super::ErrorCode`]: one vocabulary for both.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ErrorEvent {
    pub code: super::ErrorCode,
    pub message: String,
    /// The event whose request failed.
    pub event: String,
}

/// The acknowledgement of a request whose emit asked for one.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct Ack {
    pub ok: bool,
    /// Set when `ok` is false; the same as the `error` event's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<super::ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `new user`: who the socket now is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<super::UserInfo>,
    /// `new user` as a guest: a session token. Reconnecting with
    /// `auth: {token}` is this user again, from anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `new message`: where the message was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}
