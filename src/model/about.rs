//! What a channel says about itself besides its name: a topic (one line, in
//! the header) and a description (a few lines, in its details), and whether
//! it is archived (read-only, hidden from the sidebar, still browsable).

use super::is_bidi_control;

/// Longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 250;

/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelAbout {
    /// Empty when none is set.
    pub topic: String,
    /// Empty when none is set.
    pub description: String,
    pub archived: bool,
}

/// A topic as given: at most [`MAX_TOPIC_CHARS`], one line, no control or
/// bidi-control characters; surrounding blanks are trimmed, and empty
/// clears it.
pub fn parse_topic(raw: &str) -> Result<String, &'static str> {
    let topic = raw.trim();
    if topic.chars().count() > MAX_TOPIC_CHARS {
        return Err("a topic must be at most 250 characters");
    }
    if topic.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err("a topic must be one line, without control or bidi characters");
    }
    Ok(topic.to_owned())
}

/// A description as given: at most [`MAX_DESCRIPTION_CHARS`], line breaks
/// and tabs allowed, no other control or bidi-control characters; empty
/// clears it.
pub fn parse_description(raw: &str) -> Result<String, &'static str> {
    let description = raw.replace("\r\n", "\n");
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err("a description must be at most 1000 characters");
    }
    if description.chars().any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)) {
        return Err("a description must not contain control characters other than line breaks and tabs");
    }
    Ok(description.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_one_short_line_and_descriptions_a_few() {
        assert_eq!(parse_topic("  Release week  ").unwrap(), "Release week");
        assert_eq!(parse_topic("").unwrap(), "", "empty clears it");
        assert!(parse_topic(&"x".repeat(250)).is_ok());
        assert!(parse_topic(&"x".repeat(251)).is_err());
        assert!(parse_topic("two\nlines").is_err());
        assert!(parse_topic("evil \u{202e}txt").is_err());
        assert_eq!(parse_description("a\r\nb\tc").unwrap(), "a\nb\tc");
        assert!(parse_description(&"é".repeat(1001)).is_err());
        assert!(parse_description("bell \u{7}").is_err());
    }
}
