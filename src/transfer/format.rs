//! The records of an export, one JSON object per line, as docs/export.md
//! documents them field by field. These are the only serde shapes of an
//! export: the store fills them from its rows and takes them back, and
//! nothing else of natter's is written. Every record refuses fields it does
//! not know, so a file of another format (or a newer one) is an error, not
//! a quiet loss; `Manifest::format` says which format a directory holds.
//!
//! Times are milliseconds since the Unix epoch, as the database keeps them.

use serde::{Deserialize, Serialize};

use crate::model::{ChannelKind, Deletion, NotifyLevel, SystemKind};

/// The format this build writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

/// `manifest.json`: what the directory holds, written once every other file
/// is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] of the build that wrote it.
    pub format: u32,
    /// The natter version that wrote it (`natter --version`).
    pub natter_version: String,
    /// When the export started: it holds everything committed before
    /// then (its one snapshot is taken moments later).
    pub exported_at: i64,
    /// Lines in each file.
    pub counts: Counts,
}

/// Lines in each file of an export (one record per line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub users: u64,
    pub channels: u64,
    pub members: u64,
    pub messages: u64,
    pub reactions: u64,
}

/// A line of `users.jsonl`: an account, without its password hash or
/// sessions (an imported account has no password until an admin issues
/// its owner a reset link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLine {
    pub id: i64,
    /// The username as its owner spelled it (unique without case among
    /// those who hold their names).
    pub name: String,
    /// A guest: signed in with a name only.
    pub guest: bool,
    pub admin: bool,
    /// When an admin deactivated the account; `null` while it is active.
    pub deactivated: Option<i64>,
    pub created: i64,
    /// False for a guest whose name passed on to a newer guest: the old
    /// account keeps its messages but answers to no name.
    pub holds_name: bool,
    /// The display name shown beside the username; absent when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Their time zone (an IANA name); absent when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub time_zone: String,
}

/// A channel's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Public,
    Private,
    /// A direct-message channel of two users.
    Dm,
}

impl From<ChannelKind> for Kind {
    fn from(kind: ChannelKind) -> Self {
        match kind {
            ChannelKind::Public => Kind::Public,
            ChannelKind::Private => Kind::Private,
            ChannelKind::Direct => Kind::Dm,
        }
    }
}

impl From<Kind> for ChannelKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Public => ChannelKind::Public,
            Kind::Private => ChannelKind::Private,
            Kind::Dm => ChannelKind::Direct,
        }
    }
}

/// A line of `channels.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelLine {
    /// 1 is General, which every workspace has.
    pub id: i64,
    /// The name shown; for a DM, its two users' names.
    pub name: String,
    pub kind: Kind,
    /// Who created it; `null` for General.
    pub created_by: Option<i64>,
    pub created: i64,
    /// The seq of its newest message (0: none); its messages are exactly
    /// seqs 1 to this.
    pub last_seq: i64,
    /// The rev of its latest change (a message, an edit, a deletion or a
    /// reaction).
    pub last_rev: i64,
    /// For a DM, the ids of its users (two, or up to eight for a group
    /// DM), smallest first; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_users: Option<Vec<i64>>,
    /// Its topic; absent when none is set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
    /// Its description; absent when none is set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// When it was archived (ms since the epoch); absent while it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<i64>,
}

/// A member's notification level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Notify {
    All,
    Mentions,
    None,
}

impl From<NotifyLevel> for Notify {
    fn from(level: NotifyLevel) -> Self {
        match level {
            NotifyLevel::All => Notify::All,
            NotifyLevel::Mentions => Notify::Mentions,
            NotifyLevel::None => Notify::None,
        }
    }
}

impl From<Notify> for NotifyLevel {
    fn from(level: Notify) -> Self {
        match level {
            Notify::All => NotifyLevel::All,
            Notify::Mentions => NotifyLevel::Mentions,
            Notify::None => NotifyLevel::None,
        }
    }
}

/// A line of `members.jsonl`: one user's membership of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberLine {
    pub channel: i64,
    pub user: i64,
    /// When the membership began.
    pub joined: i64,
    /// The read marker: the seq up to which they have read (0: nothing).
    pub read_seq: i64,
    pub notify: Notify,
    /// Who added them; `null` when they joined (or created it) themselves.
    pub added_by: Option<i64>,
}

/// Who deleted a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeletedBy {
    Sender,
    Admin,
}

impl DeletedBy {
    pub fn from_deletion(deletion: Option<Deletion>) -> Option<Self> {
        deletion.map(|deletion| match deletion {
            Deletion::BySender => DeletedBy::Sender,
            Deletion::ByAdmin => DeletedBy::Admin,
        })
    }

    pub fn deletion(self) -> Deletion {
        match self {
            DeletedBy::Sender => Deletion::BySender,
            DeletedBy::Admin => Deletion::ByAdmin,
        }
    }
}

/// What a system line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SystemAction {
    Joined,
    Left,
    Added,
}

impl From<SystemKind> for SystemAction {
    fn from(kind: SystemKind) -> Self {
        match kind {
            SystemKind::Joined => SystemAction::Joined,
            SystemKind::Left => SystemAction::Left,
            SystemKind::Added => SystemAction::Added,
        }
    }
}

impl From<SystemAction> for SystemKind {
    fn from(action: SystemAction) -> Self {
        match action {
            SystemAction::Joined => SystemKind::Joined,
            SystemAction::Left => SystemKind::Left,
            SystemAction::Added => SystemKind::Added,
        }
    }
}

/// The event of a system line: the sender joined or left, or added `user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemLine {
    pub kind: SystemAction,
    /// Whom it is about: the sender for `joined` and `left`, the one added
    /// for `added`.
    pub user: i64,
}

/// A line of `messages.jsonl`: a message or system line as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageLine {
    /// Unique across all channels.
    pub id: i64,
    pub channel: i64,
    /// Its place in the channel: 1, 2, 3... without gaps.
    pub seq: i64,
    /// The rev of its latest change.
    pub rev: i64,
    pub sender: i64,
    /// The sender's idempotency key (unique per sender).
    pub client_id: String,
    /// The text; empty once deleted; for a system line, the line in words.
    pub body: String,
    /// When it was stored.
    pub ts: i64,
    /// Set for a system line; `null` for a chat message.
    pub system: Option<SystemLine>,
    /// When its body was last edited; `null` if never.
    pub edited_at: Option<i64>,
    /// Who deleted it; `null` while it stands.
    pub deleted: Option<DeletedBy>,
    /// The seq of the message (in the same channel) it replies to.
    pub reply_to: Option<i64>,
}

/// A line of `reactions.jsonl`: one user's reaction with one emoji.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactionLine {
    /// The message's id.
    pub message: i64,
    pub emoji: String,
    pub user: i64,
    /// When they reacted; orders a message's reactions.
    pub created: i64,
}
