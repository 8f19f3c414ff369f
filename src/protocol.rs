//! The wire types of the native protocol: what clients send over `/ws` and what
//! the server sends back, one JSON object per text frame, tagged by `"type"`.
//!
//! This is the only module that derives `Serialize`/`Deserialize` for what clients
//! see. It knows nothing of sockets, storage or the hub: conversions from domain
//! types live at the server edge. `docs/protocol.md` documents every message with
//! an example; a unit test below keeps the two in step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A correlation value chosen by the client. A reply or error to a request that
/// carried one echoes it, so clients can match answers to questions.
pub type Ref = serde_json::Value;

/// Everything a client may send.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Sent once after connecting: the last `seq` the client holds per channel
    /// (keys are channel ids as strings, as JSON demands). The server replays
    /// everything after those and then streams live messages.
    Hello {
        #[serde(default)]
        resume: BTreeMap<String, i64>,
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
    /// List the public channels, for browsing.
    ListChannels {
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
    /// "I am typing in this channel." Ephemeral, rate-limited, never stored.
    Typing { channel: i64 },
    /// Move this user's read marker in a channel forward to `seq`. Answered
    /// by a `read` to all of the user's connections, or an error.
    Read {
        channel: i64,
        seq: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Application-level liveness check; answered by `pong`.
    Ping {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
}

/// Everything the server may send.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame after `hello`: who you are, your channels, who is online.
    Welcome { user: UserInfo, channels: Vec<ChannelInfo>, online: Vec<String> },
    /// A stored message, live or replayed.
    Message(MessageInfo),
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
    /// The public channels, answering `list_channels`.
    Channels {
        channels: Vec<ChannelInfo>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A user came online or went offline.
    Presence { user: String, online: bool },
    /// A user is typing in a channel you are in.
    Typing { channel: i64, user: String },
    /// Your read marker moved (from this or another of your connections).
    Read { channel: i64, seq: i64 },
    /// A request failed. `code` is stable; `message` is for people.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `ping`.
    Pong {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
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
    /// This user's read marker: unread = `last_seq - read_seq`. 0 for non-members.
    pub read_seq: i64,
    /// Whether the receiving user is a member (false only in `channels` listings).
    pub member: bool,
    /// For direct messages: the two participants' names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
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
    /// The channel does not exist, or you may not see it.
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
    /// `client_id` is empty or too long.
    InvalidClientId,
    /// Too many requests; slow down.
    RateLimited,
    /// You hit a per-user cap (for example channels created).
    LimitReached,
    /// The server could not complete the request; nothing was stored.
    Unavailable,
}

/// Names of every client message type, as they appear in `"type"`. The protocol
/// documentation and the web UI are checked against this list.
pub const CLIENT_MESSAGE_TYPES: &[&str] = &[
    "hello",
    "send",
    "history",
    "create_channel",
    "list_channels",
    "join",
    "leave",
    "invite",
    "open_dm",
    "typing",
    "read",
    "ping",
];

/// Names of every server message type.
pub const SERVER_MESSAGE_TYPES: &[&str] = &[
    "welcome", "message", "ack", "history", "channel", "left", "channels", "presence", "typing", "read",
    "error", "pong",
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
    serde_json::from_value(value).map_err(|e| (ErrorCode::BadRequest, e.to_string()))
}

/// The `ref` of a frame that failed to parse, if it had one, so the error can
/// still be matched to its request.
pub fn reference_of(text: &str) -> Option<Ref> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("ref").cloned()
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
            r#"{"type":"history","channel":1}"#,
            r#"{"type":"create_channel","name":"n"}"#,
            r#"{"type":"list_channels"}"#,
            r#"{"type":"join","channel":1}"#,
            r#"{"type":"leave","channel":1}"#,
            r#"{"type":"invite","channel":1,"user":"u"}"#,
            r#"{"type":"open_dm","user":"u"}"#,
            r#"{"type":"typing","channel":1}"#,
            r#"{"type":"read","channel":1,"seq":1}"#,
            r#"{"type":"ping"}"#,
        ];
        assert_eq!(samples.len(), CLIENT_MESSAGE_TYPES.len());
        for (sample, name) in samples.iter().zip(CLIENT_MESSAGE_TYPES) {
            assert!(sample.contains(&format!("\"{name}\"")), "{sample} is not {name}");
            parse_client_message(sample).unwrap_or_else(|e| panic!("{sample}: {e:?}"));
        }
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
