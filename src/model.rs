//! The domain vocabulary: id newtypes, validated names and bodies, and the plain
//! records the store hands out. Everything else speaks in these types.
//!
//! Validation lives in the `parse` constructors, so a `UserName` or a
//! `MessageBody` in hand is always valid. No serde here: wire formats belong to
//! `protocol`, and conversions happen at the server edge.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A user account (registered or guest).
    UserId
);
id_type!(
    /// A channel: public, private or a direct-message pair.
    ChannelId
);
id_type!(
    /// A stored message, unique across all channels.
    MessageId
);
id_type!(
    /// A message's position in its channel: 1, 2, 3... with no gaps. 0 means
    /// "before the first message".
    Seq
);

/// The name of the channel every user belongs to and no one can leave.
pub const GENERAL: &str = "General";

/// Longest username, in characters.
pub const MAX_USER_NAME_CHARS: usize = 32;
/// Longest channel name, in characters, after trimming.
pub const MAX_CHANNEL_NAME_CHARS: usize = 64;
/// Longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 4000;
/// Longest idempotency key a client may choose.
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Password length bounds, in characters. The upper bound keeps hashing cost
/// bounded for hostile input.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=256;

/// A valid username: 1-32 ASCII letters, digits, `_`, `.` or `-`. Unique
/// without regard to case; [`UserName::key`] is the form compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.is_empty() {
            return Err("username must not be empty");
        }
        if raw.chars().count() > MAX_USER_NAME_CHARS {
            return Err("username must be at most 32 characters");
        }
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err("username may contain only letters, digits, '_', '.' and '-'");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive key that uniqueness is enforced on.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A valid channel name: trimmed, 1-64 characters, no control characters.
/// Unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelName(String);

impl ChannelName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("channel name must not be empty");
        }
        if trimmed.chars().count() > MAX_CHANNEL_NAME_CHARS {
            return Err("channel name must be at most 64 characters");
        }
        if trimmed.chars().any(char::is_control) {
            return Err("channel name must not contain control characters");
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A valid message body: 1-4000 characters, not only whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        if raw.trim().is_empty() {
            return Err("message must not be empty");
        }
        if raw.chars().count() > MAX_BODY_CHARS {
            return Err("message must be at most 4000 characters");
        }
        Ok(Self(raw))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A client-chosen idempotency key: 1-64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        if raw.is_empty() || raw.chars().count() > MAX_CLIENT_ID_CHARS {
            return Err("client_id must be 1 to 64 characters");
        }
        if raw.chars().any(char::is_control) {
            return Err("client_id must not contain control characters");
        }
        Ok(Self(raw))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Checks a password's length; its content is the user's business.
pub fn check_password(password: &str) -> Result<(), &'static str> {
    if PASSWORD_CHARS.contains(&password.chars().count()) {
        Ok(())
    } else {
        Err("password must be 8 to 256 characters")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub guest: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Public,
    Private,
    Direct,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Public => "public",
            ChannelKind::Private => "private",
            ChannelKind::Direct => "dm",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "public" => Some(ChannelKind::Public),
            "private" => Some(ChannelKind::Private),
            "dm" => Some(ChannelKind::Direct),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: ChannelId,
    pub name: String,
    pub kind: ChannelKind,
}

/// A channel as one user sees it: its head and that user's read marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelView {
    pub channel: Channel,
    pub last_seq: Seq,
    /// 0 when the viewer is not a member.
    pub read_seq: Seq,
    pub member: bool,
    /// For direct messages, both participants' names; empty otherwise.
    pub dm_members: Vec<String>,
}

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
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(UserName::parse("alice_1.b-c").is_ok());
        assert!(UserName::parse("").is_err());
        assert!(UserName::parse(&"a".repeat(32)).is_ok());
        assert!(UserName::parse(&"a".repeat(33)).is_err());
        assert!(UserName::parse("<script>").is_err());
        assert!(UserName::parse("émile").is_err());
        assert_eq!(UserName::parse("Alice").unwrap().key(), "alice");
    }

    #[test]
    fn channel_names_are_trimmed_and_bounded() {
        assert_eq!(ChannelName::parse("  Yogurt ").unwrap().as_str(), "Yogurt");
        assert!(ChannelName::parse("   ").is_err());
        assert!(ChannelName::parse(&"é".repeat(64)).is_ok());
        assert!(ChannelName::parse(&"é".repeat(65)).is_err());
        assert!(ChannelName::parse("a\u{0}b").is_err());
        assert_eq!(ChannelName::parse("ÉTÉ").unwrap().key(), "été");
    }

    #[test]
    fn bodies_count_characters_not_bytes() {
        assert!(MessageBody::parse("😀".repeat(4000)).is_ok());
        assert!(MessageBody::parse("a".repeat(4001)).is_err());
        assert!(MessageBody::parse(" \n ".into()).is_err());
    }

    #[test]
    fn client_ids_and_passwords() {
        assert!(ClientId::parse("x".repeat(64)).is_ok());
        assert!(ClientId::parse(String::new()).is_err());
        assert!(ClientId::parse("x".repeat(65)).is_err());
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
    }
}
