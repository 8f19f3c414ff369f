//! The values messages carry about users and channels: a directory entry,
//! the signed-in user, a channel as one member sees it.

use serde::{Deserialize, Serialize};

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
    /// Messages after `read_seq` that are neither yours, nor deleted, nor
    /// system lines; 0 for non-members.
    #[serde(default)]
    pub unread: u32,
    /// Of those, the ones that mention you (by name or `@channel`).
    #[serde(default)]
    pub mentions: u32,
    /// When you want to be notified of its messages (members only).
    #[serde(default)]
    pub notify: NotifyLevel,
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
    /// Its topic (one line, for the header); absent when none is set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
    /// Its description; absent when none is set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Archived: read-only, kept out of the sidebar, still readable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Public,
    Private,
    Dm,
}

/// A member's notification level for a channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevel {
    #[default]
    All,
    Mentions,
    None,
}

/// A person as a profile card shows them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ProfileInfo {
    pub name: String,
    /// Shown beside the username; absent when none is set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// An IANA time zone (`Europe/Berlin`), for their local time; absent
    /// when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub time_zone: String,
    pub role: super::Role,
    pub guest: bool,
    /// Online anywhere in the cluster now.
    pub online: bool,
}
