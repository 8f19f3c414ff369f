//! The parts of a Slack export natter reads, as serde shapes: only the
//! fields it uses (docs/export.md, "Slack import", lists them), each
//! optional where Slack leaves it out; every other field is ignored. A
//! field of the wrong type is an error, which names the file.
//!
//! This is the only place that knows Slack's JSON.

use serde::Deserialize;

/// A member of the workspace (`users.json`, or `org_users.json` for an
/// Enterprise Grid organisation).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlackUser {
    /// `U...` or `W...`: what messages and conversations name them by.
    pub id: String,
    /// The username, unique in the workspace; natter's name is made from it.
    pub name: String,
    pub deleted: bool,
    pub is_bot: bool,
    pub is_app_user: bool,
    pub is_admin: bool,
    pub is_owner: bool,
    pub is_primary_owner: bool,
}

/// A channel, private channel or group DM (`channels.json`, `groups.json`,
/// `mpims.json`), or a DM (`dms.json`, which has only `id`, `created` and
/// `members`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlackConversation {
    /// `C...`, `G...` or `D...`; a DM's folder is named by it.
    pub id: String,
    /// A channel's folder is named by it; none for a DM.
    pub name: String,
    /// The user who made it.
    pub creator: String,
    pub is_archived: bool,
    /// The channel every member is in (`#general`, whatever it is called).
    pub is_general: bool,
    /// Its members now.
    pub members: Vec<String>,
    pub topic: Option<SlackText>,
    pub purpose: Option<SlackText>,
}

/// A topic or purpose.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlackText {
    pub value: String,
}

/// One message of a day file (`<folder>/YYYY-MM-DD.json`, an array of them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlackMessage {
    /// When it was posted: seconds since the epoch, a dot, microseconds.
    /// Unique in its conversation.
    pub ts: String,
    /// Its author; absent for some bots' messages.
    pub user: Option<String>,
    /// Its text, in Slack's markup.
    pub text: String,
    /// What kind of message, when not a plain one (`channel_join`,
    /// `bot_message`, `file_share`, `thread_broadcast`, ...).
    pub subtype: Option<String>,
    /// For a thread's replies (and its parent, where it equals `ts`): the
    /// `ts` of the thread's parent.
    pub thread_ts: Option<String>,
    /// Set when it was edited: when (the body is the text as edited).
    pub edited: Option<SlackEdit>,
    pub reactions: Vec<SlackReaction>,
    pub files: Vec<SlackFile>,
    /// Older exports' one file of a `file_share`.
    pub file: Option<SlackFile>,
    /// Link previews and bots' cards: read only when there is no text.
    pub attachments: Vec<SlackAttachment>,
    /// A bot's name, for messages without a `user`.
    pub username: Option<String>,
    /// The author as they were shown, on some exports' messages.
    pub user_profile: Option<SlackProfile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlackEdit {
    pub ts: String,
}

/// One emoji on a message: its name (`thumbsup`, `+1::skin-tone-2`, a
/// custom emoji's name) and who reacted with it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlackReaction {
    pub name: String,
    pub users: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlackFile {
    pub name: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlackAttachment {
    pub fallback: Option<String>,
    pub text: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlackProfile {
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub real_name: Option<String>,
}

/// A Slack timestamp (`1512085950.000216`): whole seconds and microseconds,
/// so messages sort exactly (two in one millisecond keep their order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlackTs {
    seconds: i64,
    micros: i64,
}

/// Latest time a timestamp may name: the year 5138, far past any export
/// and far inside what milliseconds in an `i64` hold.
const MAX_SECONDS: i64 = 100_000_000_000;

impl SlackTs {
    /// Parses `SECONDS[.FRACTION]`: digits only, at most 11 before the dot
    /// and 6 after it.
    pub fn parse(raw: &str) -> Option<Self> {
        let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
        let digits =
            |part: &str, most: usize| part.len() <= most && part.bytes().all(|byte| byte.is_ascii_digit());
        if whole.is_empty() || !digits(whole, 11) || !digits(fraction, 6) {
            return None;
        }
        let seconds: i64 = whole.parse().ok()?;
        // "5" after the dot is 500,000 microseconds.
        let micros = format!("{fraction:0<6}").parse().ok()?;
        (seconds <= MAX_SECONDS).then_some(Self { seconds, micros })
    }

    /// Milliseconds since the epoch (the microseconds cut off).
    pub fn millis(self) -> i64 {
        self.seconds * 1000 + self.micros / 1000
    }

    /// The canonical text, `SECONDS.MICROS`, whatever the spelling parsed:
    /// what client ids are made of.
    pub fn canonical(self) -> String {
        format!("{}.{:06}", self.seconds, self.micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_exactly() {
        let ts = SlackTs::parse("1512085950.000216").unwrap();
        assert_eq!(ts.millis(), 1_512_085_950_000);
        assert_eq!(ts.canonical(), "1512085950.000216");
        assert_eq!(SlackTs::parse("1512085950.5").unwrap().millis(), 1_512_085_950_500);
        assert_eq!(SlackTs::parse("1512085950").unwrap().canonical(), "1512085950.000000");
        assert!(SlackTs::parse("1512085950.000216") < SlackTs::parse("1512085950.000217"));
        for bad in ["", ".5", "abc", "1.2.3", "-1", "1e9", "1512085950.0000001", "999999999999", " 1"] {
            assert!(SlackTs::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored_and_wrong_types_refused() {
        let message: SlackMessage =
            serde_json::from_str(r#"{"ts":"1.0","text":"hi","blocks":[{"x":1}],"client_msg_id":"c"}"#)
                .unwrap();
        assert_eq!(message.text, "hi");
        assert!(serde_json::from_str::<SlackMessage>(r#"{"ts":"1.0","text":5}"#).is_err());
    }
}
