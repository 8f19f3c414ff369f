//! Mentions: `@name` and `@channel` in a message's body, found by the
//! server at send and edit, so unread mention counts never depend on a
//! client.

use super::{MAX_USER_NAME_CHARS, UserName};

/// Names one message may mention (the first ones count; the rest are text).
pub const MAX_MENTIONS: usize = 50;

/// The word after `@` that mentions everyone in the channel. A user named
/// `channel` cannot be mentioned alone.
pub const CHANNEL_MENTION: &str = "channel";

/// Whom a message mentions: members by name (resolved by the store against
/// the channel's members), and whether it mentions the whole channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    pub users: Vec<String>,
    pub channel: bool,
}

impl Mentions {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && !self.channel
    }
}

/// The `@` words of a body: each a valid username (up to
/// [`MAX_MENTIONS`], the first spelling of each, compared without case),
/// and whether `@channel` is among them. An `@` inside a word (an email
/// address), after `/` or `@` (a URL's `/@name`, `@@name`), or inside code
/// (between backticks, as the UI's Markdown shows it) mentions no one.
pub fn mentions_in(body: &str) -> (Vec<UserName>, bool) {
    // Most bodies mention no one: a byte search settles them (the writer
    // runs this for every message it appends).
    if !body.contains('@') {
        return (Vec::new(), false);
    }
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let mut names: Vec<UserName> = Vec::new();
    let mut channel = false;
    let mut previous: Option<char> = None;
    let mut in_code = false;
    for (at, c) in body.char_indices() {
        // A run of backticks opens or closes code (inline or fenced).
        if c == '`' && previous != Some('`') {
            in_code = !in_code;
        }
        let starts =
            c == '@' && !in_code && !previous.is_some_and(|p| is_name_char(p) || matches!(p, '/' | '@'));
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &body[at + 1..];
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        // A name does not end in a dot: "thanks @bob." mentions bob.
        let word = rest[..end].trim_end_matches('.');
        if word.is_empty() || word.chars().count() > MAX_USER_NAME_CHARS {
            continue;
        }
        if word.eq_ignore_ascii_case(CHANNEL_MENTION) {
            channel = true;
        } else if let Ok(name) = UserName::parse(word)
            && names.len() < MAX_MENTIONS
            && !names.iter().any(|known| known.key() == name.key())
        {
            names.push(name);
        }
    }
    (names, channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(body: &str) -> (Vec<String>, bool) {
        let (names, channel) = mentions_in(body);
        (names.iter().map(|name| name.as_str().to_owned()).collect(), channel)
    }

    #[test]
    fn at_words_are_mentions() {
        assert_eq!(names("hi @bob and @Carol_1, @bob again"), (vec!["bob".into(), "Carol_1".into()], false));
        assert_eq!(names("thanks @bob."), (vec!["bob".into()], false), "a trailing dot ends the sentence");
        assert_eq!(names("@channel standup!"), (vec![], true));
        assert_eq!(names("mail me at bob@example.com"), (vec![], false), "not inside a word");
        assert_eq!(names("@ alone, @@bob"), (vec![], false), "not after another @");
        assert_eq!(names("see https://mastodon.social/@bob"), (vec![], false), "a URL's /@name");
        assert_eq!(
            names("`@bob` and ```\n@carol\n``` but @dave"),
            (vec!["dave".into()], false),
            "not in code"
        );
        assert_eq!(names(&format!("@{}", "a".repeat(33))), (vec![], false), "too long for a name");
        let many: String = (0..60).map(|n| format!("@u{n} ")).collect();
        assert_eq!(names(&many).0.len(), MAX_MENTIONS);
        assert_eq!(names("@BOB @bob"), (vec!["BOB".into()], false), "one per name, without case");
    }
}
