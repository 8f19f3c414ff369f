//! Slack's message markup as natter's text (the Markdown its UI shows):
//!
//! - `<@U123>` → `@name` (the author's natter name, so it mentions them);
//!   `<#C123|general>` → `#general`; `<!channel>`, `<!everyone>` →
//!   `@channel`; `<!here>` → `@here`; `<!subteam^S1|@team>` and
//!   `<!date^…|fallback>` → their label.
//! - `<https://x|label>` → `[label](https://x)`; `<https://x>` → `https://x`;
//!   `<mailto:a@b.c|a@b.c>` → `a@b.c`; in code, a link is its address.
//! - `*bold*` → `**bold**`, `~strike~` → `~~strike~~` (at word edges, on
//!   one line, outside code); `_italic_`, code and quotes are the same.
//! - `:shortcode:` (with `::skin-tone-2:` ... `-6`) → its emoji, when
//!   Unicode has it; a custom emoji's name stays as typed.
//! - `&amp;`, `&lt;`, `&gt;` → `&`, `<`, `>`.
//!
//! Pure functions on strings: who `U123` is comes from the caller.

use std::collections::HashMap;

/// Natter's names for Slack's ids, to write mentions with.
#[derive(Debug, Default)]
pub struct Directory {
    /// Slack user id → natter username.
    pub users: HashMap<String, String>,
    /// Slack conversation id → natter channel name.
    pub channels: HashMap<String, String>,
}

/// `raw` (a message's `text`, a topic) in natter's markup.
pub fn convert(raw: &str, directory: &Directory) -> String {
    expand(&restyle(raw), directory)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Code,
    /// Inside `<...>`, which [`expand`] rewrites whole; `in_code` when the
    /// token stands in code.
    Token {
        in_code: bool,
    },
}

/// Each character of `text` and what it is part of. A run of backticks
/// opens or closes code (inline or fenced), as natter's mentions read it.
/// `<` opens a token that the next `>` on its line closes (Slack writes a
/// typed `<` as `&lt;`, so any other is markup, in code too), or is text
/// when none does.
fn classify(chars: &[char]) -> Vec<Kind> {
    let mut kinds = vec![Kind::Plain; chars.len()];
    let mut in_code = false;
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        if c == '<'
            && let Some(length) = chars[index..].iter().position(|&c| c == '>' || c == '\n')
            && chars[index + length] == '>'
        {
            kinds[index..=index + length].fill(Kind::Token { in_code });
            index += length + 1;
            continue;
        }
        if c == '`' && (index == 0 || chars[index - 1] != '`') {
            in_code = !in_code;
        }
        if c == '`' || in_code {
            kinds[index] = Kind::Code;
        }
        index += 1;
    }
    kinds
}

/// Slack's `*bold*` and `~strike~` as Markdown's, and emoji shortcodes as
/// emoji, in plain text only (never in code or inside `<...>`).
fn restyle(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let kinds = classify(&chars);
    let mut doubled = vec![false; chars.len()];
    let mut index = 0;
    while index < chars.len() {
        let marker = chars[index];
        if kinds[index] == Kind::Plain
            && matches!(marker, '*' | '~')
            && opens(&chars, index)
            && let Some(close) = closer(&chars, &kinds, index)
        {
            doubled[index] = true;
            doubled[close] = true;
            index = close;
        }
        index += 1;
    }
    let mut out = String::with_capacity(raw.len() + 8);
    let mut index = 0;
    while index < chars.len() {
        if kinds[index] == Kind::Plain
            && chars[index] == ':'
            && let Some((emoji, length)) = shortcode(&chars[index..], &kinds[index..])
        {
            out.push_str(emoji);
            index += length;
            continue;
        }
        out.push(chars[index]);
        if doubled[index] {
            out.push(chars[index]);
        }
        index += 1;
    }
    out
}

/// Whether the marker at `at` may open a span: at the start or after a
/// space or punctuation, and before something that is not a space or the
/// same marker.
fn opens(chars: &[char], at: usize) -> bool {
    let marker = chars[at];
    let before_ok = at == 0 || !(chars[at - 1].is_alphanumeric() || chars[at - 1] == marker);
    let after = chars.get(at + 1);
    before_ok && after.is_some_and(|&c| !c.is_whitespace() && c != marker)
}

/// The marker closing the span opened at `open`: the next one on the same
/// line, in plain text, after something that is not a space, and before
/// the end, a space or punctuation.
fn closer(chars: &[char], kinds: &[Kind], open: usize) -> Option<usize> {
    let marker = chars[open];
    for at in open + 2..chars.len() {
        if chars[at] == '\n' {
            return None;
        }
        if chars[at] != marker || kinds[at] != Kind::Plain {
            continue;
        }
        let after_ok = chars.get(at + 1).is_none_or(|&c| !(c.is_alphanumeric() || c == marker));
        if !chars[at - 1].is_whitespace() && after_ok {
            return Some(at);
        }
    }
    None
}

/// The emoji of the shortcode at the start of `chars` (`:name:`, perhaps
/// followed by `:skin-tone-N:`) and how many characters it took.
fn shortcode(chars: &[char], kinds: &[Kind]) -> Option<(&'static str, usize)> {
    let is_name = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-');
    let length = chars[1..].iter().take(64).take_while(|c| is_name(c)).count();
    if length == 0
        || chars.get(1 + length) != Some(&':')
        || kinds[..length + 2].iter().any(|&k| k != Kind::Plain)
    {
        return None;
    }
    let name: String = chars[1..=length].iter().collect();
    let emoji = emojis::get_by_shortcode(&name)?;
    let rest: String = chars[length + 2..].iter().take(13).collect();
    if let Some(tone) = rest.strip_prefix(":skin-tone-").and_then(|rest| rest.get(..2))
        && let Some(toned) = skin_tone(tone).and_then(|tone| emoji.with_skin_tone(tone))
    {
        return Some((toned.as_str(), length + 2 + 13));
    }
    Some((emoji.as_str(), length + 2))
}

/// Slack's skin tones 2 to 6 (as `N:`), lightest first.
pub fn skin_tone(tone: &str) -> Option<emojis::SkinTone> {
    use emojis::SkinTone;
    Some(match tone {
        "2:" => SkinTone::Light,
        "3:" => SkinTone::MediumLight,
        "4:" => SkinTone::Medium,
        "5:" => SkinTone::MediumDark,
        "6:" => SkinTone::Dark,
        _ => return None,
    })
}

/// Rewrites every `<...>` token and decodes the entities around them.
fn expand(text: &str, directory: &Directory) -> String {
    let chars: Vec<char> = text.chars().collect();
    let kinds = classify(&chars);
    let mut out = String::with_capacity(text.len());
    let mut plain = String::new();
    let mut index = 0;
    while index < chars.len() {
        let Kind::Token { in_code } = kinds[index] else {
            plain.push(chars[index]);
            index += 1;
            continue;
        };
        out.push_str(&decode(&plain));
        plain.clear();
        // Up to the token's `>`: two tokens may touch (`<a><b>`).
        let length = chars[index..].iter().position(|&c| c == '>').expect("a token ends in `>`") + 1;
        let inner: String = chars[index + 1..index + length - 1].iter().collect();
        out.push_str(&token(&inner, in_code, directory));
        index += length;
    }
    out.push_str(&decode(&plain));
    out
}

/// One `<...>` token's text (`inner` is what is between the brackets).
fn token(inner: &str, in_code: bool, directory: &Directory) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((target, label)) => (target, Some(decode(label))),
        None => (inner, None),
    };
    let label = label.filter(|label| !label.is_empty());
    if let Some(id) = target.strip_prefix('@') {
        let name = directory.users.get(id).cloned();
        return format!(
            "@{}",
            name.or(label.map(|l| l.trim_start_matches('@').to_owned())).unwrap_or(id.to_owned())
        );
    }
    if let Some(id) = target.strip_prefix('#') {
        let name = directory.channels.get(id).cloned();
        return format!("#{}", name.or(label).unwrap_or(id.to_owned()));
    }
    if let Some(command) = target.strip_prefix('!') {
        return match command {
            "channel" | "everyone" => "@channel".to_owned(),
            "here" => "@here".to_owned(),
            _ if command.starts_with("subteam^") => label.unwrap_or_else(|| "@group".to_owned()),
            _ => label.unwrap_or_else(|| command.split('^').next().unwrap_or_default().to_owned()),
        };
    }
    let url = decode(target);
    let address = url.strip_prefix("mailto:").unwrap_or(&url).to_owned();
    let Some(label) = label else { return address };
    let bare = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    if label == url || label == address || label == bare {
        return address;
    }
    let web = url.starts_with("https://") || url.starts_with("http://");
    if !web || in_code || label.contains(['[', ']']) || url.contains([' ', ')']) {
        return format!("{label} ({address})");
    }
    format!("[{label}]({url})")
}

/// Slack's three entities, decoded in one pass (`&amp;lt;` is `&lt;`).
fn decode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (entity, length) = if rest.starts_with("&amp;") {
            ('&', 5)
        } else if rest.starts_with("&lt;") {
            ('<', 4)
        } else if rest.starts_with("&gt;") {
            ('>', 4)
        } else {
            ('&', 1)
        };
        out.push(entity);
        rest = &rest[length..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> Directory {
        let mut directory = Directory::default();
        directory.users.insert("U1".into(), "ada".into());
        directory.channels.insert("C1".into(), "general".into());
        directory
    }

    fn check(raw: &str, expected: &str) {
        assert_eq!(convert(raw, &directory()), expected, "{raw:?}");
    }

    #[test]
    fn mentions_and_channels() {
        check("hi <@U1>, see <#C1|old-name>", "hi @ada, see #general");
        check("<@U9|bob> and <@U8>", "@bob and @U8");
        check("<#C9|random> <!channel> <!here> <!everyone>", "#random @channel @here @channel");
        check("<!subteam^S1|@devs> at <!date^1392734382^{date}|Feb 18, 2014>", "@devs at Feb 18, 2014");
    }

    #[test]
    fn links_and_entities() {
        check("<https://x.org/a?b=1&amp;c=2|the docs>", "[the docs](https://x.org/a?b=1&c=2)");
        check("<https://x.org>", "https://x.org");
        check("<https://x.org|x.org>", "https://x.org");
        check("<mailto:a@b.c|a@b.c>", "a@b.c");
        check("<mailto:a@b.c|write>", "write (a@b.c)");
        check("<https://x.org|[odd]>", "[odd] (https://x.org)");
        check("1 &lt; 2 &amp;&amp; 3 &gt; 2 &amp;lt; & ;", "1 < 2 && 3 > 2 &lt; & ;");
        check("`<https://x.org|docs>`", "`docs (https://x.org)`");
        check("a < b", "a < b");
    }

    #[test]
    fn styles_and_emoji() {
        check("*bold* and ~gone~ and _it_", "**bold** and ~~gone~~ and _it_");
        check("2*3*4 and a * b * c", "2*3*4 and a * b * c");
        check("*two\nlines*", "*two\nlines*");
        check("`*code*` ```\n*fenced*\n```", "`*code*` ```\n*fenced*\n```");
        check("*see <https://x.org|this>*", "**see [this](https://x.org)**");
        check(":tada: :+1::skin-tone-3: :partyparrot: 10:30:45", "🎉 👍🏼 :partyparrot: 10:30:45");
        check("`:tada:`", "`:tada:`");
        check("<https://x.org/:tada:/|link>", "[link](https://x.org/:tada:/)");
    }
}
