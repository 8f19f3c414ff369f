//! A stored message as clients and other nodes see it, and the values it
//! carries (a reply's quote, reactions, a system line's event).

use serde::{Deserialize, Serialize};

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
    /// Its reactions, each emoji in the order it was first used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionInfo>,
    /// For a reply: the message it answers, as that one stands now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<QuoteInfo>,
    /// The members it mentions by name (`@name`), as the server found them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// It mentions `@channel`: everyone in it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mentions_channel: bool,
    /// The files it carries, in order (`GET /api/files/ID` serves each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<AttachmentInfo>,
}

/// A file as messages and the upload API describe it. `type` is what
/// natter found in the bytes; `width` and `height` are there for images it
/// could read; `thumb` says `GET /api/files/ID/thumb` has a thumbnail.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AttachmentInfo {
    pub id: String,
    pub name: String,
    pub size: u64,
    #[serde(rename = "type")]
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default)]
    pub thumb: bool,
}

/// The message a reply answers: its seq, sender, and the start of its first
/// line (at most 100 characters; empty once it is deleted, then `deleted`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct QuoteInfo {
    pub seq: i64,
    pub sender: String,
    pub excerpt: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// One emoji on a message: the exact count, and the first 50 who reacted
/// with it, in order.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ReactionInfo {
    pub emoji: String,
    pub count: u32,
    pub users: Vec<String>,
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

/// A message a search found, and where in its body the query matched:
/// `[start, end)` ranges in UTF-16 code units (what a browser's
/// `String.prototype.slice` takes), in order.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SearchHitInfo {
    pub message: MessageInfo,
    pub highlights: Vec<[usize; 2]>,
}
