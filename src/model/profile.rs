//! What people say about themselves beside their username: a display name
//! (shown next to it) and their time zone (so a profile card can show
//! their local time).

use super::is_bidi_control;

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// Longest time zone name (IANA names are far shorter).
pub const MAX_TIME_ZONE_CHARS: usize = 64;

/// A person's profile as others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// Empty when none is set.
    pub display_name: String,
    /// An IANA time zone name (`Europe/Berlin`); empty when unknown.
    pub time_zone: String,
    pub admin: bool,
    pub guest: bool,
}

/// A display name as given: trimmed, at most [`MAX_DISPLAY_NAME_CHARS`], no
/// control or bidi-control characters; empty clears it.
pub fn parse_display_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err("a display name must be at most 64 characters");
    }
    if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err("a display name must not contain control or bidi characters");
    }
    Ok(name.to_owned())
}

/// A time zone as given: an IANA-style name (`Area/Location`, ASCII
/// letters, digits, `_`, `-`, `+` and `/`), at most [`MAX_TIME_ZONE_CHARS`];
/// empty clears it. Whether the zone exists is the viewer's browser's
/// business: it is only ever handed to one.
pub fn parse_time_zone(raw: &str) -> Result<String, &'static str> {
    let zone = raw.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '/');
    if zone.len() > MAX_TIME_ZONE_CHARS || !zone.chars().all(allowed) {
        return Err("a time zone is an IANA name such as Europe/Berlin");
    }
    Ok(zone.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_and_time_zones_are_checked() {
        assert_eq!(parse_display_name("  Ada Lovelace ").unwrap(), "Ada Lovelace");
        assert_eq!(parse_display_name("").unwrap(), "");
        assert!(parse_display_name(&"é".repeat(65)).is_err());
        assert!(parse_display_name("a\u{202e}b").is_err());
        assert!(parse_display_name("a\nb").is_err());
        assert_eq!(
            parse_time_zone("America/Argentina/Buenos_Aires").unwrap(),
            "America/Argentina/Buenos_Aires"
        );
        assert_eq!(parse_time_zone("Etc/GMT+5").unwrap(), "Etc/GMT+5");
        assert!(parse_time_zone("Europe/Berlin<script>").is_err());
        assert!(parse_time_zone(&"a".repeat(65)).is_err());
    }
}
