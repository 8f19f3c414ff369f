//! The wire types of the native protocol: what clients send over `/ws` and what
//! the server sends back, one JSON object per text frame, tagged by `"type"`.
//!
//! This is the only module that derives `Serialize`/`Deserialize` for what clients
//! see. It knows nothing of sockets, storage or the hub: conversions from domain
//! types live at the server edge, except for the values that travel on two
//! wires (to clients and over the bus), which convert once in [`convert`]. `docs/protocol.md` documents every message with
//! an example; a unit test below keeps the two in step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod convert;

/// A correlation value chosen by the client. A reply or error to a request that
/// carried one echoes it, so clients can match answers to questions.
pub type Ref = serde_json::Value;

/// Everything a client may send.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Sent once after connecting: where the client is, per channel (keys
    /// are channel ids as strings, as JSON demands): the last `seq` it
    /// holds, or `{seq, rev, held_from}` to also hear what changed in the
    /// messages it holds. The server replays what the client lacks and
    /// then streams live changes.
    Hello {
        #[serde(default)]
        resume: BTreeMap<String, ResumePoint>,
        /// Which presence the client hears (default: everyone).
        #[serde(default)]
        presence: PresenceMode,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Post a message. `client_id` is an idempotency key: resending the same one
    /// (also after a reconnect) never creates a second message.
    Send {
        channel: i64,
        body: String,
        client_id: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Replace the body of one of your messages. With `if_rev`, only if
    /// the message's latest change is still that rev (else `conflict`).
    /// Answered by `changed` (and every member gets an `update`).
    Edit {
        channel: i64,
        seq: i64,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_rev: Option<i64>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Delete one of your messages (an admin: anyone's). Its text is
    /// erased; members see a tombstone. Answered by `changed`.
    Delete {
        channel: i64,
        seq: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Fetch a page of history, newest first in selection but returned oldest
    /// first: the `limit` messages with `seq < before` (or the latest ones).
    History {
        channel: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Create a channel, or join it if a public one of that name exists.
    CreateChannel {
        name: String,
        #[serde(default)]
        private: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// List the public channels, for browsing: a page in name order, only
    /// those whose name starts with `prefix` (compared as names are, without
    /// case or look-alike letters), after the cursor `after` (the `next` of
    /// the previous page).
    ListChannels {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Join a public channel.
    Join {
        channel: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Leave a channel (not General, not a DM).
    Leave {
        channel: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Add a user (by name) to a channel the sender is a member of.
    Invite {
        channel: i64,
        user: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Open (or find) the direct-message channel with a user.
    OpenDm {
        user: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// "I am typing in this channel." Ephemeral, rate-limited, never stored;
    /// only a refusal is answered (with the `ref`).
    Typing {
        channel: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Move this user's read marker in a channel forward to `seq`. Answered
    /// by a `read` to all of the user's connections, or an error.
    Read {
        channel: i64,
        seq: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// One page of the user directory: the users whose name starts with
    /// `prefix` (compared without case), after the name `after`, by name, at
    /// most `limit` (default 50, at most 100). Answered by `users`.
    ListUsers {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        /// Only those online now (read from presence, not the database).
        #[serde(default)]
        online: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Watched presence: hear changes of these users from now on (replaces
    /// the previous list; at most 100 names). Answered by `watching`.
    Watch {
        users: Vec<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Application-level liveness check; answered by `pong`.
    Ping {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
}

/// Where a client is in one channel, in `hello`'s `resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ResumePoint {
    /// The last seq held: replay the messages after it.
    Seq(i64),
    /// The last seq and rev held, and the oldest seq held: replay the
    /// messages after `seq` and the latest state of every message from
    /// `held_from` to `seq` that changed after `rev`, in rev order.
    Rev {
        seq: i64,
        rev: i64,
        #[serde(default)]
        held_from: i64,
    },
}

/// Which presence a connection hears, chosen in `hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceMode {
    /// Every change, and the whole online list in `welcome`.
    #[default]
    Everyone,
    /// Changes of the users it `watch`es, and the online list's first page
    /// (`online_page`) whenever it changes.
    Watched,
}

/// Everything the server may send.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame after `hello`: who you are, your channels, who is online.
    /// Long lists are split to keep every frame small: then `complete` is
    /// false, and the rest follows in `welcome_more` frames before anything
    /// else.
    Welcome { user: UserInfo, channels: Vec<ChannelInfo>, online: Vec<String>, complete: bool },
    /// More channels and online users of a `welcome`; the last has `complete`.
    WelcomeMore { channels: Vec<ChannelInfo>, online: Vec<String>, complete: bool },
    /// A stored message, live or replayed.
    Message(MessageInfo),
    /// A message the client may hold changed (edited or deleted): this is
    /// its latest state. Keep, per channel and seq, the highest `rev`.
    Update(MessageInfo),
    /// Too much changed in this channel while the client was away to
    /// replay: drop what it holds of the channel and load its latest page.
    Reset { channel: i64, last_seq: i64, last_rev: i64 },
    /// Answer to `edit` and `delete`: the message as it stands now, and
    /// whether anything changed (not for the same body again, or a
    /// message deleted already).
    Changed {
        message: MessageInfo,
        changed: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// The message with this `client_id` is committed.
    Ack {
        client_id: String,
        channel: i64,
        id: i64,
        seq: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A page of history, oldest first. `has_more` says whether older ones exist.
    History {
        channel: i64,
        messages: Vec<MessageInfo>,
        has_more: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A channel you are a member of was created, joined, or you were added to it.
    Channel {
        channel: ChannelInfo,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// You are no longer a member of this channel.
    Left {
        channel: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A page of public channels, answering `list_channels`. `has_more`
    /// says another page follows; pass `next` as `after` to get it.
    Channels {
        channels: Vec<ChannelInfo>,
        has_more: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A page of the user directory, answering `list_users`, ordered by name
    /// without case. `has_more` says whether a page after the last name exists.
    Users {
        users: Vec<DirectoryUser>,
        has_more: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A user came online or went offline.
    Presence { user: String, online: bool },
    /// Watched presence: the first names of the online list (sorted without
    /// case) and how many are online. Without `users`, only the count
    /// changed: the names are those of the last page.
    OnlinePage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        users: Option<Vec<String>>,
        total: usize,
    },
    /// Answer to `watch`: whether each watched user is online now.
    Watching {
        users: Vec<DirectoryUser>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A user is typing in a channel you are in.
    Typing { channel: i64, user: String },
    /// Your read marker moved (from this or another of your connections).
    Read { channel: i64, seq: i64 },
    /// A request failed. `code` is stable; `message` is for people.
    Error {
        code: ErrorCode,
        message: String,
        /// With `channel_exists`: the id of the channel that has the name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<i64>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `ping`.
    Pong {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
}

/// One entry of the user directory.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct DirectoryUser {
    pub name: String,
    /// Online anywhere in the cluster now.
    pub online: bool,
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub guest: bool,
}

/// A channel as one member sees it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ChannelInfo {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    /// The seq of the newest message in the channel (0 when empty).
    pub last_seq: i64,
    /// The rev of the channel's latest change (0 when empty).
    pub last_rev: i64,
    /// This user's read marker: unread = `last_seq - read_seq`. 0 for non-members.
    pub read_seq: i64,
    /// Whether the receiving user is a member (false only in `channels` listings).
    pub member: bool,
    /// For direct messages: the two participants' names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Who added the receiving user to the channel; absent when they joined
    /// or created it themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Public,
    Private,
    Dm,
}

/// One stored message. `ts` is the server's commit time in milliseconds since
/// the Unix epoch; `seq` is gap-free per channel.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct MessageInfo {
    pub channel: i64,
    pub id: i64,
    pub seq: i64,
    pub sender: String,
    pub body: String,
    pub ts: i64,
    /// The sender's idempotency key, so the sender's other tabs can reconcile
    /// their pending copies too.
    pub client_id: String,
    /// Present on system lines (someone joined, left or was added): show
    /// them apart from chat. `body` says the same in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemInfo>,
    /// The rev of the message's latest change: of two copies of a message,
    /// the one with the higher rev is current.
    pub rev: i64,
    /// When the body was last edited (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// Present once the message is deleted (its `body` is then empty):
    /// by whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<DeletedBy>,
}

/// Who deleted a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletedBy {
    Sender,
    Admin,
}

/// What a system line records. `user` is whom it is about; `by` (only for
/// `added`) who did it, also the message's `sender`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SystemInfo {
    pub kind: SystemKind,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemKind {
    Joined,
    Left,
    Added,
}

/// Stable error codes. Clients branch on these; the text beside them may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON, or not a JSON object.
    BadJson,
    /// The object's `type` is missing or unknown.
    UnknownType,
    /// A field is missing, has the wrong type, or is not allowed.
    BadRequest,
    /// A binary frame: the protocol is JSON text only.
    BinaryNotSupported,
    /// `send` before `hello`, or a second `hello`.
    BadSequence,
    /// The channel does not exist, or you may not see it; for `edit` and
    /// `delete`, no message at that seq (or a system line; or, to edit, a
    /// deleted one).
    NotFound,
    /// The user does not exist.
    UnknownUser,
    /// You can see the channel but are not a member (join it first).
    NotMember,
    /// The action is not allowed (leaving General, inviting into a DM...).
    Forbidden,
    /// The message body is empty or longer than the limit.
    InvalidBody,
    /// A channel name is empty, too long or has control characters.
    InvalidName,
    /// A channel with that name exists and you can see it (`channel` says
    /// which); nothing was created.
    ChannelExists,
    /// The user you invited is a member already.
    AlreadyMember,
    /// `client_id` is empty or too long.
    InvalidClientId,
    /// Too many requests; slow down.
    RateLimited,
    /// You hit a per-user cap (for example channels created).
    LimitReached,
    /// `edit` with an `if_rev` that is no longer the message's rev.
    Conflict,
    /// The server could not complete the request; nothing was stored.
    Unavailable,
    /// Socket.IO: an event natter does not know.
    UnknownEvent,
    /// Socket.IO: a send before the socket has a name, or its session ended.
    Unauthorized,
    /// Socket.IO: `new user` on a server without `--allow-guests`.
    GuestsDisabled,
    /// Socket.IO: a guest name that breaks the username rules.
    InvalidUsername,
    /// Socket.IO: the name belongs to a registered account.
    NameTaken,
    /// Socket.IO: someone of that name is online now.
    NameInUse,
    /// Socket.IO: `new user` with another name on a socket that has one.
    AlreadyNamed,
    /// Socket.IO: the socket read too slowly and is being disconnected.
    TooSlow,
}

/// Names of every client message type, as they appear in `"type"`. The protocol
/// documentation and the web UI are checked against this list.
pub const CLIENT_MESSAGE_TYPES: &[&str] = &[
    "hello",
    "send",
    "edit",
    "delete",
    "history",
    "create_channel",
    "list_channels",
    "join",
    "leave",
    "invite",
    "open_dm",
    "typing",
    "read",
    "list_users",
    "watch",
    "ping",
];

/// Names of every server message type.
pub const SERVER_MESSAGE_TYPES: &[&str] = &[
    "welcome",
    "welcome_more",
    "message",
    "update",
    "reset",
    "changed",
    "ack",
    "history",
    "channel",
    "left",
    "channels",
    "users",
    "presence",
    "online_page",
    "watching",
    "typing",
    "read",
    "error",
    "pong",
];

/// The JSON bodies of the HTTP account API (`/api/...`).
pub mod http {
    use serde::{Deserialize, Serialize};

    use super::UserInfo;

    /// `POST /api/register` and `POST /api/login`.
    #[derive(Debug, Clone, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Credentials {
        pub username: String,
        pub password: String,
    }

    /// `POST /api/guest`.
    #[derive(Debug, Clone, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct GuestRequest {
        pub username: String,
    }

    /// Answer to register, login and guest.
    #[derive(Debug, Clone, Deserialize, Serialize)]
    pub struct SessionResponse {
        pub token: String,
        pub user: UserInfo,
    }

    /// Answer to `GET /api/me`.
    #[derive(Debug, Clone, Deserialize, Serialize)]
    pub struct MeResponse {
        pub user: UserInfo,
    }

    /// Every HTTP error: `{"error":{"code":"...","message":"..."}}`.
    #[derive(Debug, Clone, Deserialize, Serialize)]
    pub struct ErrorResponse {
        pub error: ErrorDetail,
    }

    #[derive(Debug, Clone, Deserialize, Serialize)]
    pub struct ErrorDetail {
        /// Stable: `bad_request`, `unsupported_media_type`, `invalid_username`,
        /// `invalid_password`, `name_taken`, `name_in_use`, `invalid_credentials`,
        /// `guests_disabled`, `unauthorized`, `rate_limited`, `unavailable`,
        /// and on `/ws` upgrades `forbidden_origin`, `too_many_connections`,
        /// `server_full`.
        pub code: String,
        pub message: String,
    }
}

/// The Socket.IO compatibility protocol at `/socket.io/`: the events of the
/// Make Chat tutorial app, with its names and payload shapes, plus the few
/// additions natter makes (an `error` event, acknowledgements, and ids on
/// messages). Every payload is a single JSON argument.
pub mod socketio {
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
}

/// What nodes tell each other over the bus (Redis pub/sub): one JSON object
/// per event, tagged with the sending node so it can ignore its own echo.
/// Messages travel as the same [`MessageInfo`] clients see, plus the sender's
/// id. Conversions from and to the hub's `BusEvent` live at the bus's edge
/// (`bus::redis`).
pub mod bus {
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
        },
        ChannelCreated {
            id: i64,
            name: String,
            kind: ChannelKind,
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
}

/// Close codes the server uses beyond the standard ones.
pub mod close_code {
    /// The client did not read fast enough; it should reconnect and resume.
    pub const TOO_SLOW: u16 = 4008;
    /// The session was revoked (logout) or expired.
    pub const UNAUTHORIZED: u16 = 4001;
}

/// Parses one text frame. The error says which stable code applies.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, (ErrorCode, String)> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| (ErrorCode::BadJson, format!("not JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err((ErrorCode::BadJson, "expected a JSON object".into()));
    };
    match object.get("type").and_then(|t| t.as_str()) {
        Some(kind) if CLIENT_MESSAGE_TYPES.contains(&kind) => {}
        Some(kind) => {
            let kind: String = kind.chars().take(40).collect();
            return Err((ErrorCode::UnknownType, format!("unknown type {kind:?}")));
        }
        None => return Err((ErrorCode::UnknownType, "missing string field \"type\"".into())),
    }
    if object.get("ref").is_some_and(|reference| !is_small_reference(reference)) {
        return Err((ErrorCode::BadRequest, format!("ref must be at most {MAX_REF_BYTES} bytes of JSON")));
    }
    serde_json::from_value(value).map_err(|e| (ErrorCode::BadRequest, e.to_string()))
}

/// Largest `ref` echoed, as JSON. Replies echo it, and a reply must stay
/// within its byte budget whatever the client chose.
pub const MAX_REF_BYTES: usize = 256;

fn is_small_reference(reference: &Ref) -> bool {
    serde_json::to_vec(reference).is_ok_and(|bytes| bytes.len() <= MAX_REF_BYTES)
}

/// The `ref` of a frame that failed to parse, if it had one (and it is not
/// too big to echo), so the error can still be matched to its request.
pub fn reference_of(text: &str) -> Option<Ref> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("ref").filter(|reference| is_small_reference(reference)).cloned()
}

impl ServerMessage {
    /// Encodes to the JSON text of one frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_send_with_ref() {
        let parsed =
            parse_client_message(r#"{"type":"send","channel":1,"body":"hi","client_id":"c1","ref":7}"#)
                .expect("valid send");
        assert_eq!(
            parsed,
            ClientMessage::Send {
                channel: 1,
                body: "hi".into(),
                client_id: "c1".into(),
                reference: Some(serde_json::json!(7)),
            }
        );
    }

    #[test]
    fn classifies_bad_input() {
        assert_eq!(parse_client_message("{oops").unwrap_err().0, ErrorCode::BadJson);
        assert_eq!(parse_client_message("[1,2]").unwrap_err().0, ErrorCode::BadJson);
        assert_eq!(parse_client_message(r#"{"type":"fly"}"#).unwrap_err().0, ErrorCode::UnknownType);
        assert_eq!(parse_client_message(r#"{"type":7}"#).unwrap_err().0, ErrorCode::UnknownType);
        assert_eq!(
            parse_client_message(r#"{"type":"send","channel":"x","body":"a","client_id":"c"}"#)
                .unwrap_err()
                .0,
            ErrorCode::BadRequest
        );
        assert_eq!(
            parse_client_message(r#"{"type":"ping","extra":1}"#).unwrap_err().0,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn type_lists_match_the_enums() {
        // Every listed client type must parse from a minimal object of that type,
        // proving the list names real variants.
        let samples = [
            r#"{"type":"hello"}"#,
            r#"{"type":"send","channel":1,"body":"b","client_id":"c"}"#,
            r#"{"type":"edit","channel":1,"seq":1,"body":"b"}"#,
            r#"{"type":"delete","channel":1,"seq":1}"#,
            r#"{"type":"history","channel":1}"#,
            r#"{"type":"create_channel","name":"n"}"#,
            r#"{"type":"list_channels"}"#,
            r#"{"type":"join","channel":1}"#,
            r#"{"type":"leave","channel":1}"#,
            r#"{"type":"invite","channel":1,"user":"u"}"#,
            r#"{"type":"open_dm","user":"u"}"#,
            r#"{"type":"typing","channel":1}"#,
            r#"{"type":"read","channel":1,"seq":1}"#,
            r#"{"type":"list_users"}"#,
            r#"{"type":"watch","users":["u"]}"#,
            r#"{"type":"ping"}"#,
        ];
        assert_eq!(samples.len(), CLIENT_MESSAGE_TYPES.len());
        for (sample, name) in samples.iter().zip(CLIENT_MESSAGE_TYPES) {
            assert!(sample.contains(&format!("\"{name}\"")), "{sample} is not {name}");
            parse_client_message(sample).unwrap_or_else(|e| panic!("{sample}: {e:?}"));
        }
    }

    #[test]
    fn resume_points_are_a_seq_or_a_rev_with_what_is_held() {
        let hello =
            r#"{"type":"hello","resume":{"1":41,"7":{"seq":3,"rev":5,"held_from":1},"8":{"seq":2,"rev":9}}}"#;
        let Ok(ClientMessage::Hello { resume, .. }) = parse_client_message(hello) else { panic!("{hello}") };
        assert_eq!(resume["1"], ResumePoint::Seq(41));
        assert_eq!(resume["7"], ResumePoint::Rev { seq: 3, rev: 5, held_from: 1 });
        assert_eq!(resume["8"], ResumePoint::Rev { seq: 2, rev: 9, held_from: 0 }, "all held by default");
        for bad in [r#"{"1":"x"}"#, r#"{"1":{"seq":3}}"#, r#"{"1":{"rev":3}}"#] {
            let hello = format!(r#"{{"type":"hello","resume":{bad}}}"#);
            assert_eq!(parse_client_message(&hello).unwrap_err().0, ErrorCode::BadRequest, "{hello}");
        }
    }

    #[test]
    fn docs_describe_every_socketio_event() {
        let docs = include_str!("../docs/protocol.md");
        let section = docs.split("## Socket.IO").nth(1).expect("docs/protocol.md has a Socket.IO section");
        for name in socketio::CLIENT_EVENTS.iter().chain(socketio::SERVER_EVENTS) {
            assert!(section.contains(&format!("`{name}`")), "docs/protocol.md does not describe `{name}`");
        }
    }

    #[test]
    fn socketio_payloads_have_the_tutorial_shapes() {
        let parsed: socketio::NewMessage = serde_json::from_value(serde_json::json!(
            {"sender": "mallory", "message": "hi", "channel": "General", "extra": 1}
        ))
        .expect("the tutorial's payload parses");
        assert_eq!(
            (parsed.channel.as_str(), parsed.message.as_str(), parsed.client_id),
            ("General", "hi", None)
        );
        let online: socketio::OnlineUsers = [("alice".to_owned(), true)].into();
        assert_eq!(serde_json::to_string(&online).unwrap(), r#"{"alice":true}"#);
        let error = socketio::ErrorEvent {
            code: ErrorCode::NameInUse,
            message: "m".into(),
            event: "new user".into(),
        };
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({"code": "name_in_use", "message": "m", "event": "new user"})
        );
        assert_eq!(
            serde_json::to_string(&socketio::Ack { ok: true, ..Default::default() }).unwrap(),
            r#"{"ok":true}"#
        );
    }

    #[test]
    fn docs_describe_every_message() {
        let docs = include_str!("../docs/protocol.md");
        for name in CLIENT_MESSAGE_TYPES.iter().chain(SERVER_MESSAGE_TYPES) {
            assert!(
                docs.contains(&format!("\"type\":\"{name}\"")),
                "docs/protocol.md has no example of {name}"
            );
        }
    }
}
