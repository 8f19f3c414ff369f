//! The domain vocabulary: id newtypes, validated names and bodies, and the plain
//! records the store hands out. Everything else speaks in these types.
//!
//! Validation lives in the `parse` constructors, so a `UserName` or a
//! `MessageBody` in hand is always valid. No serde here: wire formats belong to
//! `protocol`, and conversions happen at the server edge.

use std::fmt;

mod about;
mod file;
mod mention;
mod message;
mod profile;
mod reaction;
mod workspace;

pub use about::{ChannelAbout, MAX_DESCRIPTION_CHARS, MAX_TOPIC_CHARS, parse_description, parse_topic};
pub use file::{Attachment, FileId, MAX_FILE_NAME_BYTES, MAX_FILES_PER_MESSAGE, sanitise_file_name};
pub use mention::{CHANNEL_MENTION, MAX_MENTIONS, Mentions, mentions_in};
pub use message::{Deletion, Message, QUOTE_CHARS, Quote, SystemEvent, SystemKind};
pub use profile::{MAX_DISPLAY_NAME_CHARS, Profile, parse_display_name, parse_time_zone};
pub use reaction::{Emoji, MAX_REACTION_KINDS, REACTION_NAMES_SHOWN, Reaction};
pub use workspace::{
    Invite, MAX_INVITE_HOURS, MAX_INVITE_USES, MAX_LIVE_INVITES, NewInvite, RegistrationMode,
};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
id_type!(
    /// The number of a change to a channel's messages: a new message, an
    /// edit or a deletion each take the channel's next one, with no gaps.
    /// `seq` says where a message stands; `rev` orders what happened to the
    /// channel's messages. A message carries the rev of its latest change.
    Rev
);

/// The name of the channel every user belongs to and no one can leave.
pub const GENERAL: &str = "General";
/// General's id: the first migration creates it first.
pub const GENERAL_ID: ChannelId = ChannelId(1);

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

/// A valid channel name: NFKC-normalised, trimmed, 1-64 characters, with
/// no control, bidi-control or other invisible characters, and something
/// visible in it. Unique without regard to case or look-alike letters:
/// [`ChannelName::key`] is the form compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelName(String);

impl ChannelName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        use unicode_normalization::UnicodeNormalization;
        // NFKC first, so fullwidth and other compatibility forms ("Ｇｅｎｅｒａｌ")
        // become the letters they stand for before anything is checked.
        let normalized: String = raw.nfkc().collect();
        let trimmed = normalized.trim();
        if trimmed.is_empty() {
            return Err("channel name must not be empty");
        }
        if trimmed.chars().count() > MAX_CHANNEL_NAME_CHARS {
            return Err("channel name must be at most 64 characters");
        }
        if trimmed.chars().any(char::is_control) {
            return Err("channel name must not contain control characters");
        }
        if trimmed.chars().any(is_bidi_control) {
            return Err("channel name must not contain bidi control characters");
        }
        if trimmed.chars().any(is_hidden_in_names) {
            return Err("channel name must not contain invisible characters");
        }
        if !trimmed.chars().any(|c| !c.is_whitespace() && !is_emoji_joiner(c)) {
            return Err("channel name must contain something visible");
        }
        // `name #12` is how a channel is told apart from a namesake where
        // names are the address (`app::names`); no channel may be called so.
        if trimmed
            .rsplit_once(" #")
            .is_some_and(|(_, id)| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
        {
            return Err("channel name must not end in \" #\" and a number");
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// A name as stored by an earlier release, which allowed names ending in
    /// `" #"` and a number: the same rules but that one, for looking such a
    /// channel up, never for creating one.
    pub fn parse_stored(raw: &str) -> Result<Self, &'static str> {
        match Self::parse(raw) {
            Err(why) if why.contains("\" #\"") => {
                use unicode_normalization::UnicodeNormalization;
                Ok(Self(raw.nfkc().collect::<String>().trim().to_owned()))
            }
            other => other,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key uniqueness and lookups use: the name lower-cased and reduced
    /// to its confusable skeleton (Unicode TS #39), so "Gеneral" with a
    /// Cyrillic "е", "GENERAL" and "General" all share one key.
    pub fn key(&self) -> String {
        name_key(&self.0)
    }

    /// A second key, the skeleton taken before lower-casing: lower-casing
    /// first turns a capital "I" into "i", which no longer looks like "l",
    /// so "GeneraI" would escape [`ChannelName::key`]. Two names clash when
    /// either key matches.
    pub fn look_key(&self) -> String {
        look_key(&self.0)
    }
}

/// See [`ChannelName::look_key`].
pub fn look_key(name: &str) -> String {
    unicode_security::skeleton(name).collect::<String>().to_lowercase()
}

/// The comparison key of a channel name (see [`ChannelName::key`]). Also
/// used by migrations to recompute the keys of names stored before.
pub fn name_key(name: &str) -> String {
    let lowered = name.to_lowercase();
    unicode_security::skeleton(&lowered).collect::<String>().to_lowercase()
}

/// Bidi embedding, override and isolate controls: they reorder what is shown
/// around them, so a name or a message could display differently from what
/// it says (the "Trojan Source" trick).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Unicode's default-ignorable characters (Default_Ignorable_Code_Point,
/// as they occur in text): soft hyphen, combining grapheme joiner, Hangul
/// fillers, zero-width space, non-joiner and joiner, bidi marks and
/// controls, word joiner, variation selectors, byte order mark, tags. They
/// change nothing a reader sees: names refuse them, search drops them.
pub fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Zero-width and other default-ignorable characters a name may not contain:
/// they make look-alike names that differ only invisibly. The emoji joiner
/// and variation selectors stay allowed (emoji need them); bidi controls are
/// refused before this, with their own reason.
fn is_hidden_in_names(c: char) -> bool {
    is_default_ignorable(c) && !is_emoji_joiner(c)
}

/// Invisible characters emoji sequences use; allowed, but not on their own.
fn is_emoji_joiner(c: char) -> bool {
    matches!(c, '\u{200D}' | '\u{FE00}'..='\u{FE0F}')
}

/// A valid message body: 1-4000 characters, not only whitespace. Line
/// breaks are normalised to `\n`; other control characters (NUL, ESC and so
/// ANSI escapes, DEL, C1) and bidi controls are refused, not stripped, so
/// the sender learns their text would not be shown as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        let raw = if raw.contains('\r') { raw.replace("\r\n", "\n").replace('\r', "\n") } else { raw };
        if raw.trim().is_empty() {
            return Err("message must not be empty");
        }
        let found = BodyScan::of(&raw);
        if found.chars > MAX_BODY_CHARS {
            return Err("message must be at most 4000 characters");
        }
        if found.control {
            return Err("message must not contain control characters other than line breaks and tabs");
        }
        if found.bidi {
            return Err("message must not contain bidi override or isolate characters");
        }
        Ok(Self(raw))
    }

    /// The body of a message that carries files: as [`parse`](Self::parse)
    /// has it, except that it may be empty (a file sent on its own).
    pub fn parse_beside_files(raw: String) -> Result<Self, &'static str> {
        if raw.trim().is_empty() { Ok(Self(String::new())) } else { Self::parse(raw) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// What [`MessageBody::parse`] checks a body for, found in one pass: every
/// send is parsed, so the common all-ASCII body is checked byte by byte
/// (ASCII holds no bidi controls, and its only controls are below 0x20 and
/// 0x7F) rather than decoded character by character three times over.
struct BodyScan {
    chars: usize,
    control: bool,
    bidi: bool,
}

impl BodyScan {
    fn of(text: &str) -> Self {
        let is_refused_control = |c: char| c.is_control() && c != '\n' && c != '\t';
        if text.is_ascii() {
            // A fold without early exit, which the compiler vectorizes.
            let refused = |byte: u8| (byte < 0x20 && byte != b'\n' && byte != b'\t') || byte == 0x7F;
            let control = text.bytes().fold(false, |found, byte| found | refused(byte));
            return Self { chars: text.len(), control, bidi: false };
        }
        let mut found = Self { chars: 0, control: false, bidi: false };
        for c in text.chars() {
            found.chars += 1;
            found.control |= is_refused_control(c);
            found.bidi |= is_bidi_control(c);
        }
        found
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
    /// The rev of the channel's latest change.
    pub last_rev: Rev,
    /// 0 when the viewer is not a member.
    pub read_seq: Seq,
    pub member: bool,
    /// For direct messages, both participants' names; empty otherwise.
    pub dm_members: Vec<String>,
    /// Who put the viewer in this channel; `None` when they joined (or
    /// created it) themselves.
    pub added_by: Option<String>,
    /// When the viewer's membership began, in milliseconds since the epoch;
    /// 0 when they are not a member.
    pub joined_at: i64,
    /// Messages after the viewer's read marker that are neither theirs, nor
    /// deleted, nor system lines.
    pub unread: u32,
    /// Of those, the ones that mention the viewer (by name or `@channel`).
    pub mentions: u32,
    /// When the viewer wants to be notified of the channel's messages.
    pub notify: NotifyLevel,
    /// Its topic, description and whether it is archived.
    pub about: ChannelAbout,
}

/// Where a member's read marker stands in a channel, and what is unread
/// after it (as [`ChannelView::unread`] and [`ChannelView::mentions`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadMarker {
    pub seq: Seq,
    pub unread: u32,
    pub mentions: u32,
    /// The channel's newest seq when the counts were taken: messages past
    /// it are not in them.
    pub last_seq: Seq,
}

/// A member's notification level for one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NotifyLevel {
    /// Every message (the default).
    #[default]
    All,
    /// Messages that mention them.
    Mentions,
    None,
}

impl NotifyLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyLevel::All => "all",
            NotifyLevel::Mentions => "mentions",
            NotifyLevel::None => "none",
        }
    }

    pub fn from_db(text: &str) -> Self {
        match text {
            "mentions" => NotifyLevel::Mentions,
            "none" => NotifyLevel::None,
            _ => NotifyLevel::All,
        }
    }
}

/// Most people in a direct message, its opener included.
pub const MAX_DM_PEOPLE: usize = 8;

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
        assert_eq!(ChannelName::parse("ÉTÉ").unwrap().key(), ChannelName::parse("été").unwrap().key());
    }

    #[test]
    fn look_alike_channel_names_share_a_key() {
        let general = ChannelName::parse("General").unwrap().key();
        for look_alike in ["Gеneral", "GENERAL", "Ｇｅｎｅｒａｌ", "Gen\u{0435}ral"] {
            assert_eq!(ChannelName::parse(look_alike).unwrap().key(), general, "{look_alike:?}");
        }
        assert_ne!(ChannelName::parse("Generals").unwrap().key(), general);
        assert_eq!(ChannelName::parse("Ｇｅｎｅｒａｌ").unwrap().as_str(), "General", "NFKC");
    }

    #[test]
    fn a_capital_i_cannot_pass_for_an_l() {
        let general = ChannelName::parse("General").unwrap();
        let fake = ChannelName::parse("GeneraI").unwrap();
        assert_ne!(fake.key(), general.key(), "the first key alone misses it");
        assert_eq!(fake.look_key(), general.look_key(), "the second key catches it");
        // Unrelated names keep distinct keys.
        let (mail, mall) = (ChannelName::parse("mail").unwrap(), ChannelName::parse("mall").unwrap());
        assert!(mail.key() != mall.key() && mail.look_key() != mall.look_key());
    }

    #[test]
    fn invisible_and_bidi_channel_names_are_refused() {
        for bad in
            ["Gen\u{200B}eral", "\u{202E}lareneG", "\u{200B}\u{200C}", "\u{2066}x\u{2069}", "a\u{FEFF}"]
        {
            assert!(ChannelName::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(ChannelName::parse("\u{200D}\u{FE0F}").is_err(), "joiners alone are invisible");
        assert!(ChannelName::parse("👩\u{200D}💻 devs").is_ok(), "emoji sequences are fine");
        assert!(ChannelName::parse("שלום").is_ok(), "right-to-left scripts are fine");
        assert!(ChannelName::parse("plans #12").is_err(), "reserved for telling namesakes apart");
        assert!(ChannelName::parse("plans #twelve").is_ok());
    }

    #[test]
    fn bodies_count_characters_not_bytes() {
        assert!(MessageBody::parse("😀".repeat(4000)).is_ok());
        assert!(MessageBody::parse("a".repeat(4001)).is_err());
        assert!(MessageBody::parse("é".repeat(4000)).is_ok());
        assert!(MessageBody::parse("é".repeat(4001)).is_err());
        assert!(MessageBody::parse(" \n ".into()).is_err());
    }

    #[test]
    fn bodies_refuse_control_and_bidi_characters_and_normalise_line_breaks() {
        assert_eq!(MessageBody::parse("a\r\nb\rc".into()).unwrap().into_string(), "a\nb\nc");
        assert!(MessageBody::parse("tab\tand\nline".into()).is_ok());
        for bad in ["nul\u{0}", "\u{1b}[31mred", "del\u{7f}", "c1\u{85}", "\u{202E}gnp.exe", "\u{2067}x"] {
            // Alone (all ASCII where it can be) and beside a non-ASCII
            // letter, so both of `BodyScan`'s paths see it.
            for text in [bad.to_owned(), format!("é {bad}")] {
                assert!(MessageBody::parse(text.clone()).is_err(), "{text:?} was accepted");
            }
        }
        assert!(MessageBody::parse("é tab\tand\nline".into()).is_ok());
        assert!(MessageBody::parse("مرحبا \u{200F} hi".into()).is_ok(), "marks are not controls");
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
