//! Which characters at a point of a text are one emoji: the longest
//! sequence the Unicode emoji list (the `emojis` crate) knows, in its fully
//! qualified form.

use unicode_normalization::char::decompose_compatible;

/// The most characters an emoji sequence can have (a kiss with two skin
/// tones is ten); the lookahead stops there.
const MAX_EMOJI_CHARS: usize = 12;

/// The emoji starting at byte `start` of `text`, if any: its end and its
/// fully qualified form. The longest sequence the Unicode emoji list knows
/// wins (`👨‍👩‍👧` is one emoji, not three); a pictograph the list does
/// not know yet is an emoji on its own.
pub(super) fn emoji_at(text: &str, start: usize) -> Option<(usize, &str)> {
    let rest = &text[start..];
    let first = rest.chars().next()?;
    if !may_start_emoji(first) {
        return None;
    }
    let ends = emoji_candidate_ends(rest);
    if first.is_ascii() && ends.len() == 1 {
        // A digit is an emoji only as a keycap sequence.
        return None;
    }
    for &end in ends.iter().rev() {
        if let Some(emoji) = emojis::get(&rest[..end])
            && (end > first.len_utf8() || stands_alone_as_emoji(first))
        {
            return Some((start + end, emoji.as_str()));
        }
    }
    let first_len = first.len_utf8();
    if ('\u{1F000}'..='\u{1FAFF}').contains(&first) && stands_alone_as_emoji(first) {
        return Some((start + first_len, &rest[..first_len]));
    }
    None
}

/// The byte lengths of the prefixes of `rest` that could be an emoji
/// sequence: the first character, then as far as characters that extend
/// emoji (joiners, variation selectors, keycaps, skin tones, tags, a
/// second regional indicator, whatever follows a joiner) continue.
fn emoji_candidate_ends(rest: &str) -> Vec<usize> {
    let mut ends = Vec::with_capacity(4);
    let mut previous: Option<char> = None;
    for (offset, ch) in rest.char_indices().take(MAX_EMOJI_CHARS) {
        let extends = match previous {
            None => true,
            Some('\u{200D}') => true,
            Some(previous) => {
                matches!(ch, '\u{200D}' | '\u{FE0E}' | '\u{FE0F}' | '\u{20E3}' | '\u{1F3FB}'..='\u{1F3FF}')
                    || ('\u{E0020}'..='\u{E007F}').contains(&ch)
                    || (ends.len() == 1 && is_regional_indicator(previous) && is_regional_indicator(ch))
            }
        };
        if !extends {
            break;
        }
        ends.push(offset + ch.len_utf8());
        previous = Some(ch);
    }
    ends
}

fn is_regional_indicator(ch: char) -> bool {
    ('\u{1F1E6}'..='\u{1F1FF}').contains(&ch)
}

/// Whether `ch` may begin an emoji: the code points Unicode marks as
/// emoji, in coarse blocks. Everything else skips the lookups. The `#` and
/// `*` keycaps are left out on purpose: a token never holds ASCII
/// punctuation (the stores' query languages give it meaning), and nobody
/// searches for them.
fn may_start_emoji(ch: char) -> bool {
    matches!(
        ch,
        '0'..='9'
            | '\u{00A9}'
            | '\u{00AE}'
            | '\u{203C}'
            | '\u{2049}'
            | '\u{2122}'
            | '\u{2139}'
            | '\u{2194}'..='\u{21AA}'
            | '\u{231A}'..='\u{23FF}'
            | '\u{24C2}'
            | '\u{25AA}'..='\u{25FE}'
            | '\u{2600}'..='\u{27BF}'
            | '\u{2934}'..='\u{2935}'
            | '\u{2B05}'..='\u{2B55}'
            | '\u{3030}'
            | '\u{303D}'
            | '\u{3297}'
            | '\u{3299}'
            | '\u{1F000}'..='\u{1FAFF}'
    )
}

/// Whether `ch` on its own, without a variation selector, is taken as an
/// emoji. Not when it is a letter or digit or normalises to text (`™` is
/// `tm`, `㊗` is `祝`, `‼` is `!!`): those stay text unless written with
/// the emoji variation selector. Symbols such as `❤` or `©` are emoji
/// either way, since as text they would only separate.
fn stands_alone_as_emoji(ch: char) -> bool {
    if ch.is_ascii() || ch.is_alphanumeric() {
        return false;
    }
    let mut unchanged = true;
    decompose_compatible(ch, |part| unchanged &= part == ch);
    unchanged
}
