//! Reactions: one emoji per user per message, counted exactly.

/// Different emoji one message may carry; a new one past this is refused.
pub const MAX_REACTION_KINDS: usize = 20;

/// Names listed per emoji of a message (the first to react); the count is
/// always exact.
pub const REACTION_NAMES_SHOWN: usize = 50;

/// Exactly one emoji, as Unicode lists them (with its skin tone or other
/// variants), nothing else: no text, no two emoji, no lone modifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Emoji(String);

impl Emoji {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match emojis::get(raw) {
            Some(_) => Ok(Self(raw.to_owned())),
            None => Err("a reaction must be exactly one emoji"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One emoji on a message: how many reacted with it, and who (the first
/// [`REACTION_NAMES_SHOWN`], in the order they reacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub emoji: String,
    pub count: u32,
    pub users: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reaction_is_exactly_one_emoji() {
        for one in ["👍", "❤️", "👍🏽", "🏳️‍🌈", "👩‍💻"] {
            assert!(Emoji::parse(one).is_ok(), "{one}");
        }
        for not_one in ["", "a", "👍👍", ":+1:", "👍 ", "<b>", "🏽", "\u{200d}"] {
            assert!(Emoji::parse(not_one).is_err(), "{not_one:?}");
        }
    }
}
