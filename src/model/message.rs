//! A committed message as the store hands it out, and what it carries
//! besides its body: the quote of the message it replies to, its deletion,
//! and for a system line the event it records.

use super::{Attachment, ChannelId, Mentions, MessageId, Reaction, Rev, Seq, UserId};

/// A committed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub channel: ChannelId,
    pub seq: Seq,
    pub sender: UserId,
    pub sender_name: String,
    pub client_id: String,
    pub body: String,
    /// Commit time, milliseconds since the Unix epoch.
    pub ts: i64,
    /// Set for a system line (someone joined, left or was added), which the
    /// server writes into the channel's stream like a message, so history
    /// and resume carry it; `body` then says it in words.
    pub system: Option<SystemEvent>,
    /// The rev of the message's latest change (its creation, an edit or
    /// its deletion).
    pub rev: Rev,
    /// When the body was last edited, milliseconds since the epoch.
    pub edited_at: Option<i64>,
    /// Set once the message is deleted; `body` is then empty.
    pub deleted: Option<Deletion>,
    /// Its reactions, in the order each emoji was first used.
    pub reactions: Vec<Reaction>,
    /// The message it replies to, as that one stands now.
    pub reply_to: Option<Quote>,
    /// Whom it mentions (members of the channel when it was sent or last
    /// edited).
    pub mentions: Mentions,
    /// The files it carries, in the order they were attached; none once
    /// it is deleted.
    pub files: Vec<Attachment>,
}

/// Longest excerpt of a replied-to message shown with a reply, in
/// characters: its first line, cut here.
pub const QUOTE_CHARS: usize = 100;

/// The message a reply answers, as it stands: where it is, who wrote it,
/// and the start of its first line (empty once it is deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub seq: Seq,
    pub sender: String,
    pub excerpt: String,
}

impl Quote {
    /// The excerpt of a body: its first line with words on it, at most
    /// [`QUOTE_CHARS`]. Never empty for a message that stands (a body is
    /// never only blanks, and one beside files quotes a file instead), so
    /// an empty excerpt says the message is deleted.
    pub fn excerpt_of(body: &str) -> String {
        let line = body.lines().find(|line| !line.trim().is_empty()).unwrap_or_default();
        line.chars().take(QUOTE_CHARS).collect()
    }

    /// The excerpt of a message that carries files and no text: its first
    /// file's name, so it too is never empty while the message stands.
    pub fn excerpt_of_file(name: &str) -> String {
        format!("\u{1F4CE} {name}").chars().take(QUOTE_CHARS).collect()
    }
}

/// Who deleted a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Its sender.
    BySender,
    /// An admin of the workspace.
    ByAdmin,
}

impl Deletion {
    /// The `deleted` column: 0 for a message that stands.
    pub fn to_db(deletion: Option<Self>) -> i64 {
        match deletion {
            None => 0,
            Some(Deletion::BySender) => 1,
            Some(Deletion::ByAdmin) => 2,
        }
    }

    pub fn from_db(value: i64) -> Option<Self> {
        match value {
            1 => Some(Deletion::BySender),
            2 => Some(Deletion::ByAdmin),
            _ => None,
        }
    }
}

/// What a system line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemKind {
    /// The sender joined the channel.
    Joined,
    /// The sender left it.
    Left,
    /// The sender added `SystemEvent::user`.
    Added,
}

impl SystemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SystemKind::Joined => "joined",
            SystemKind::Left => "left",
            SystemKind::Added => "added",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "joined" => Some(SystemKind::Joined),
            "left" => Some(SystemKind::Left),
            "added" => Some(SystemKind::Added),
            _ => None,
        }
    }
}

/// A system line's event: its kind and whom it is about (the sender for
/// joins and leaves, the person added for additions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemEvent {
    pub kind: SystemKind,
    pub user_name: String,
}

impl SystemEvent {
    /// The line in words, as stored in the body: "carol joined",
    /// "mallory added carol", "carol left", "root removed carol" (someone
    /// who left by another's hand: an admin's).
    pub fn text(&self, actor: &str) -> String {
        match self.kind {
            SystemKind::Joined => format!("{actor} joined"),
            SystemKind::Left if self.user_name != actor => {
                format!("{actor} removed {}", self.user_name)
            }
            SystemKind::Left => format!("{actor} left"),
            SystemKind::Added => format!("{actor} added {}", self.user_name),
        }
    }
}
