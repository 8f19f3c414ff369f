//! The one list of error codes both client protocols answer with.

use serde::{Deserialize, Serialize};

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
    /// A file in `send`'s `files` that cannot be attached: unknown,
    /// uploaded by someone else or to another channel, or attached already.
    NoSuchFile,
    /// `send` with more files than a message may carry (10).
    TooManyFiles,
    /// `edit` with an `if_rev` that is no longer the message's rev.
    Conflict,
    /// The channel is archived: read-only until an admin unarchives it.
    Archived,
    /// A reaction that is not exactly one emoji.
    InvalidEmoji,
    /// A search that cannot run: empty, too long, too many terms, a bad
    /// filter or date, or a cursor this server did not give.
    InvalidQuery,
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
