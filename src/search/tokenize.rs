//! The tokenizer: the one place that decides what a searchable token is.
//!
//! Messages are tokenized when they are written and queries when they are
//! typed, by this same code, so a query finds a message exactly when the
//! query's tokens appear in the message's tokens. Nothing else in natter
//! splits text for search; the stores index the tokens this module returns
//! and never look at text themselves.
//!
//! The text is first normalised: NFKC (full-width and half-width forms,
//! ligatures and circled digits become their plain letters), full lowercase
//! (`char::to_lowercase`, so the result does not depend on context), and the
//! combining marks that follow a Latin, Greek or Cyrillic letter dropped, so
//! `café`, `CAFÉ` and `cafe` are one word. Marks after other letters are
//! kept and recomposed: they are part of the letter in Devanagari or Thai,
//! and `ｶﾞ` must stay `ガ`, not become `カ`. Invisible characters (zero-width
//! joiners and spaces, variation selectors, soft hyphens, bidi controls) are
//! dropped, because they change nothing a reader sees.
//!
//! Then the normalised text is cut into tokens:
//! - a run of letters, digits and marks of a script written with spaces
//!   (Latin, Greek, Cyrillic, Arabic, Hebrew, Devanagari, ...) is a word;
//! - a run of characters of a script written without spaces (Han, kana,
//!   Hangul, Bopomofo, Thai, Lao, Khmer, Myanmar) gives every character and
//!   every pair of neighbouring characters, in the order `c1, c1c2, c2,
//!   c2c3, c3, ...`; so a query run is a contiguous part of a message's
//!   tokens exactly when the message contains the run, and never across a
//!   comma or a space (`上海，海东` does not contain `上海东`). A character
//!   here is a code point after normalisation, a Thai vowel sign or a
//!   kana sound mark that did not compose included: that is what makes the
//!   containment exact, down to the code point;
//! - an emoji, with its skin tone, ZWJ sequence or flag, is a token;
//! - everything else (spaces, punctuation, symbols, private-use characters)
//!   separates tokens and is never part of one, so Markdown markup is never
//!   indexed and `10.100.200.101` is the four tokens `10 100 200 101`.
//!
//! A change between a script written with spaces and one without (`docker部署`)
//! ends a word or run; a change between two scripts written with spaces
//! (Latin letters followed by Cyrillic ones) does not, since knowing it
//! would take a full script table and buys nothing for search: queries are
//! cut the same way.

use unicode_normalization::char::{canonical_combining_class, decompose_compatible, is_combining_mark};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// One token of a text: its normalised form and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The normalised token: NFKC, full lowercase, Latin/Greek/Cyrillic
    /// diacritics folded. Only letters, digits, marks kept by the folding,
    /// and emoji; never ASCII punctuation or whitespace, never a
    /// private-use character.
    pub text: String,
    /// Byte range of the token in the original text: from the start of the
    /// first original character it came from to the end of the last, so
    /// `&text[start..end]` is what a reader sees (`ＡＢＣ` for `abc`).
    pub start: usize,
    pub end: usize,
    /// Whether a query may match this token by prefix: every character is
    /// a Latin, Greek or Cyrillic letter. Not numbers (`20` finding `2024`
    /// is noise), not mixed words like `v2`, not CJK (bigrams already find
    /// any part of a run), not emoji.
    pub prefixable: bool,
}

/// The tokens of `text`, in order: what is indexed for a message and what
/// a query term must match.
pub fn tokens(text: &str) -> Vec<Token> {
    let mut builder =
        TokenBuilder { tokens: Vec::with_capacity(text.len() / 4 + 1), current: Current::Nothing };
    for_each_unit(text, |unit| builder.push(unit));
    builder.finish()
}

/// `text` normalised as the tokenizer sees it (NFKC, full lowercase,
/// folded diacritics, invisible characters dropped, emoji in their fully
/// qualified form), separators kept as they are. For a query `q` of
/// characters of scripts written without spaces only, a message's tokens
/// contain `q`'s tokens contiguously exactly when
/// `normalize(body).contains(&normalize(q))`: the contract the bigrams keep.
pub fn normalize(text: &str) -> String {
    let mut normalized = String::with_capacity(text.len());
    for_each_unit(text, |unit| match unit {
        Unit::Char { ch, .. } => normalized.push(ch),
        Unit::Emoji { text, .. } => normalized.push_str(text),
    });
    normalized
}

/// One piece of normalised text with the original byte range it came from.
/// A character produced by normalising several original characters (`ｶﾞ`
/// gives `ガ`), or several produced by one (`㍻` gives `平成`), carry the
/// range of all of them.
#[derive(Clone, Copy, Debug)]
enum Unit<'a> {
    Char { ch: char, start: usize, end: usize },
    Emoji { text: &'a str, start: usize, end: usize },
}

/// Walks `text` and hands each normalised character or emoji, in order, to
/// `emit`. Normalisation is done one segment at a time: a character and
/// the marks (or Hangul vowels and finals) that may combine with it, which
/// NFKC never joins to anything before or after, so normalising segment by
/// segment gives the same text as normalising the whole and lets every
/// output character know where it came from.
fn for_each_unit<'a>(text: &'a str, mut emit: impl FnMut(Unit<'a>)) {
    let mut normalizer = SegmentNormalizer { after_folded_letter: false, decomposed: String::new() };
    let mut position = 0;
    while let Some(first) = text[position..].chars().next() {
        if is_ignorable(first) {
            position += first.len_utf8();
            continue;
        }
        if let Some((end, emoji)) = emoji_at(text, position) {
            emit(Unit::Emoji { text: emoji, start: position, end });
            normalizer.after_folded_letter = false;
            position = end;
            continue;
        }
        let end = segment_end(text, position);
        normalizer.normalize(&text[position..end], position, &mut emit);
        position = end;
    }
}

/// Where the normalisation segment starting at `start` ends: after the
/// last character that may still combine with what came before it.
/// Invisible characters inside are skipped over (and dropped), so `カ`,
/// a zero-width joiner and `゙` still make `ガ`.
fn segment_end(text: &str, start: usize) -> usize {
    let mut chars = text[start..].char_indices();
    let Some((_, first)) = chars.next() else { return start };
    let mut end = start + first.len_utf8();
    for (offset, ch) in chars {
        if is_ignorable(ch) {
            continue;
        }
        if starts_segment(ch) {
            break;
        }
        end = start + offset + ch.len_utf8();
    }
    end
}

/// Whether NFKC can never join `ch` to the character before it: its full
/// compatibility decomposition starts with a character of combining class
/// 0 that composes with nothing before it (NFKC quick check "yes"). This
/// is the "boundary before" test of UAX #15.
fn starts_segment(ch: char) -> bool {
    if ch.is_ascii() || is_common_stable(ch) {
        return true;
    }
    let mut first = None;
    decompose_compatible(ch, |part| {
        first.get_or_insert(part);
    });
    let first = first.unwrap_or(ch);
    canonical_combining_class(first) == 0 && is_nfkc_quick(std::iter::once(first)) == IsNormalized::Yes
}

/// Normalises segments, remembering across them whether the last letter
/// was Latin, Greek or Cyrillic (a mark of class 0, such as a keycap or a
/// Devanagari vowel sign, starts a segment of its own but still follows
/// that letter).
struct SegmentNormalizer {
    after_folded_letter: bool,
    /// Scratch space reused for every segment, so that a message costs no
    /// allocation per character.
    decomposed: String,
}

impl SegmentNormalizer {
    fn normalize<'a>(&mut self, segment: &str, start: usize, emit: &mut impl FnMut(Unit<'a>)) {
        let end = start + segment.len();
        if let [byte] = segment.as_bytes() {
            // ASCII alone: the common case, with nothing to decompose.
            let ch = char::from(byte.to_ascii_lowercase());
            self.after_folded_letter = ch.is_ascii_alphabetic();
            emit(Unit::Char { ch, start, end });
            return;
        }
        if let Some(ch) = single_stable_char(segment) {
            // A character NFKC and lowercasing leave alone (most of Han,
            // kana, Hangul and already lowercase letters): skip the
            // normalisation machinery.
            self.after_folded_letter = is_folded_letter(ch);
            emit(Unit::Char { ch, start, end });
            return;
        }
        self.decomposed.clear();
        let (decomposed, after_folded_letter) = (&mut self.decomposed, &mut self.after_folded_letter);
        for ch in segment.chars().filter(|&ch| !is_ignorable(ch)).nfkd() {
            for lower in ch.to_lowercase() {
                decompose_compatible(lower, |part| fold_into(part, decomposed, after_folded_letter));
            }
        }
        for ch in self.decomposed.chars().nfc() {
            emit(Unit::Char { ch, start, end });
        }
    }
}

/// The common ideographs, kana and Hangul syllables: each starts a
/// segment and, alone, normalises to itself (a voiced kana or a syllable
/// decomposes, then composes back). Knowing that saves the table lookups
/// for most of a Chinese, Japanese or Korean message.
fn is_common_stable(ch: char) -> bool {
    matches!(ch, '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}' | '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7A3}')
}

/// The character `segment` consists of, if it is one that normalisation
/// leaves as it is: not a mark, no decomposition (or one of
/// [`is_common_stable`]), and its own lowercase.
fn single_stable_char(segment: &str) -> Option<char> {
    let mut chars = segment.chars();
    let ch = chars.next()?;
    if chars.next().is_some() || is_combining_mark(ch) || ch == 'ς' {
        return None;
    }
    if is_common_stable(ch) {
        return Some(ch);
    }
    let mut lower = ch.to_lowercase();
    if lower.len() != 1 || lower.next() != Some(ch) {
        return None;
    }
    let mut unchanged = true;
    decompose_compatible(ch, |part| unchanged &= part == ch);
    unchanged.then_some(ch)
}

/// Appends one fully decomposed, lowercased character unless it is
/// invisible or a mark on a Latin, Greek or Cyrillic letter: the folding
/// that makes `é` an `e`, `ё` an `е` and `ά` an `α` (and `ς` a `σ`).
fn fold_into(ch: char, decomposed: &mut String, after_folded_letter: &mut bool) {
    if is_ignorable(ch) {
        return;
    }
    if is_combining_mark(ch) {
        if *after_folded_letter {
            return;
        }
    } else {
        *after_folded_letter = is_folded_letter(ch);
    }
    // Greek final sigma is only a spelling of σ; `char::to_lowercase`
    // gives σ for Σ wherever it stands, so ς typed in lowercase must meet it.
    decomposed.push(if ch == 'ς' { 'σ' } else { ch });
}

/// Characters that change nothing a reader sees, dropped everywhere
/// (Unicode's Default_Ignorable_Code_Point): soft hyphen, combining
/// grapheme joiner, Hangul fillers, zero-width space, non-joiner and
/// joiner, bidi controls, word joiner, variation selectors, byte order
/// mark, tags. Dropping them rather than splitting at them keeps a word
/// typed with a zero-width non-joiner (as in Persian) or an ideograph with
/// a variation selector equal to the same word typed without.
fn is_ignorable(ch: char) -> bool {
    matches!(
        ch,
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

/// A letter of the Latin, Greek or Cyrillic script: the scripts whose
/// diacritics are folded and whose words may be matched by prefix.
fn is_folded_letter(ch: char) -> bool {
    ch.is_alphabetic()
        && matches!(
            ch,
            'a'..='z'
                | 'A'..='Z'
                | '\u{00AA}'
                | '\u{00BA}'
                | '\u{00C0}'..='\u{02AF}'
                | '\u{0370}'..='\u{03FF}'
                | '\u{0400}'..='\u{052F}'
                | '\u{1C80}'..='\u{1C8F}'
                | '\u{1D00}'..='\u{1DBF}'
                | '\u{1E00}'..='\u{1FFF}'
                | '\u{2C60}'..='\u{2C7F}'
                | '\u{2DE0}'..='\u{2DFF}'
                | '\u{A640}'..='\u{A69F}'
                | '\u{A720}'..='\u{A7FF}'
                | '\u{AB30}'..='\u{AB6F}'
                | '\u{10780}'..='\u{107BF}'
                | '\u{1DF00}'..='\u{1DFFF}'
                | '\u{1E030}'..='\u{1E08F}'
        )
}

/// A character of a script written without spaces between words: Han
/// (with its iteration marks and every extension block), Hiragana,
/// Katakana (with the prolonged sound mark), Bopomofo, Hangul, Thai, Lao,
/// Myanmar and Khmer. Half-width and circled forms are not listed: NFKC
/// has turned them into these by the time this is asked.
fn is_unspaced_script(ch: char) -> bool {
    matches!(
        ch,
        '\u{0E00}'..='\u{0EFF}'
            | '\u{1000}'..='\u{109F}'
            | '\u{1100}'..='\u{11FF}'
            | '\u{1780}'..='\u{17FF}'
            | '\u{19E0}'..='\u{19FF}'
            | '\u{2E80}'..='\u{2FDF}'
            | '\u{3005}'..='\u{3007}'
            | '\u{3021}'..='\u{3029}'
            | '\u{3031}'..='\u{3035}'
            | '\u{3038}'..='\u{303C}'
            | '\u{3041}'..='\u{30FF}'
            | '\u{3100}'..='\u{318F}'
            | '\u{31A0}'..='\u{31BF}'
            | '\u{31F0}'..='\u{31FF}'
            | '\u{3400}'..='\u{4DBF}'
            | '\u{4E00}'..='\u{9FFF}'
            | '\u{A960}'..='\u{A97F}'
            | '\u{A9E0}'..='\u{A9FF}'
            | '\u{AA60}'..='\u{AA7F}'
            | '\u{AC00}'..='\u{D7FF}'
            | '\u{F900}'..='\u{FAFF}'
            | '\u{1AFF0}'..='\u{1B16F}'
            | '\u{20000}'..='\u{3FFFF}'
    )
}

/// What a normalised character does to the token being built.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A letter or digit of a script written with spaces.
    Word,
    /// A letter or digit of a script written without spaces.
    Unspaced,
    /// A combining mark: it belongs to whatever it follows.
    Mark,
    Separator,
}

fn class_of(ch: char) -> Class {
    if is_combining_mark(ch) {
        Class::Mark
    } else if !ch.is_alphanumeric() {
        Class::Separator
    } else if is_unspaced_script(ch) {
        Class::Unspaced
    } else {
        Class::Word
    }
}

/// The token being built.
enum Current {
    Nothing,
    Word(Token),
    /// Inside a run of an unspaced script: the previous character, to
    /// pair with the next one.
    Run {
        previous: char,
        start: usize,
    },
}

/// Turns units into tokens. Runs emit their tokens as they go (each
/// character gives the pair it ends, then itself), words when they end.
struct TokenBuilder {
    tokens: Vec<Token>,
    current: Current,
}

impl TokenBuilder {
    fn push(&mut self, unit: Unit<'_>) {
        match unit {
            Unit::Emoji { text, start, end } => {
                self.end_token();
                self.tokens.push(Token { text: text.to_owned(), start, end, prefixable: false });
            }
            Unit::Char { ch, start, end } => match class_of(ch) {
                Class::Separator => self.end_token(),
                Class::Word => self.push_to_word(ch, start, end),
                Class::Unspaced => self.push_to_run(ch, start, end),
                Class::Mark => match self.current {
                    Current::Nothing => {}
                    Current::Word(_) => self.push_to_word(ch, start, end),
                    Current::Run { .. } => self.push_to_run(ch, start, end),
                },
            },
        }
    }

    fn push_to_word(&mut self, ch: char, start: usize, end: usize) {
        if let Current::Word(word) = &mut self.current {
            word.text.push(ch);
            word.end = end;
            word.prefixable &= is_folded_letter(ch);
            return;
        }
        self.end_token();
        self.current =
            Current::Word(Token { text: ch.to_string(), start, end, prefixable: is_folded_letter(ch) });
    }

    fn push_to_run(&mut self, ch: char, start: usize, end: usize) {
        if let Current::Run { previous, start: previous_start } = self.current {
            let pair: String = [previous, ch].into_iter().collect();
            self.tokens.push(Token { text: pair, start: previous_start, end, prefixable: false });
        } else {
            self.end_token();
        }
        self.tokens.push(Token { text: ch.to_string(), start, end, prefixable: false });
        self.current = Current::Run { previous: ch, start };
    }

    fn end_token(&mut self) {
        if let Current::Word(word) = std::mem::replace(&mut self.current, Current::Nothing) {
            self.tokens.push(word);
        }
    }

    fn finish(mut self) -> Vec<Token> {
        self.end_token();
        self.tokens
    }
}

/// The most characters an emoji sequence can have (a kiss with two skin
/// tones is ten); the lookahead stops there.
const MAX_EMOJI_CHARS: usize = 12;

/// The emoji starting at byte `start` of `text`, if any: its end and its
/// fully qualified form. The longest sequence the Unicode emoji list knows
/// wins (`👨‍👩‍👧` is one emoji, not three); a pictograph the list does
/// not know yet is an emoji on its own.
fn emoji_at(text: &str, start: usize) -> Option<(usize, &str)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn texts(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|token| token.text).collect()
    }

    /// Whether `needle` occurs in `haystack` as consecutive elements.
    fn contains_run(haystack: &[String], needle: &[String]) -> bool {
        !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
    }

    #[test]
    fn diacritics_and_case_fold_for_latin_greek_and_cyrillic() {
        assert_eq!(texts("café"), ["cafe"]);
        assert_eq!(texts("CAFÉ"), ["cafe"]);
        assert_eq!(texts("cafe\u{301}"), ["cafe"]);
        assert_eq!(texts("Ἀθῆναι"), ["αθηναι"]);
        assert_eq!(texts("ЁЛКА"), ["елка"]);
        assert_eq!(texts("İstanbul"), ["istanbul"]);
        assert_eq!(texts("Straße"), ["straße"]);
        assert_eq!(texts("ΟΔΟΣ οδός"), ["οδοσ", "οδοσ"]);
    }

    #[test]
    fn marks_of_other_scripts_are_kept() {
        assert_eq!(texts("हिन्दी"), ["हिन्दी"]);
        assert_eq!(texts("שָׁלוֹם"), ["שָׁלוֹם"]);
    }

    #[test]
    fn compatibility_forms_become_plain() {
        assert_eq!(texts("ＡＢＣ"), ["abc"]);
        assert_eq!(texts("ｶﾀｶﾅ"), texts("カタカナ"));
        assert_eq!(texts("ｶﾞ"), ["ガ"]);
        assert_eq!(texts("ガ"), ["ガ"]);
        assert_eq!(texts("ｶ\u{200D}ﾞ"), ["ガ"]);
        assert_eq!(texts("ﬁne ①"), ["fine", "1"]);
        assert_eq!(normalize("ＡＢＣ ｶﾀｶﾅ ｶﾞ"), "abc カタカナ ガ");
    }

    #[test]
    fn unspaced_runs_give_characters_and_pairs_in_order() {
        assert_eq!(texts("上海"), ["上", "上海", "海"]);
        assert_eq!(texts("東"), ["東"]);
        assert_eq!(texts("カタカナ"), ["カ", "カタ", "タ", "タカ", "カ", "カナ", "ナ"]);
        assert_eq!(texts("ラーメン")[..3], ["ラ", "ラー", "ー"]);
    }

    #[test]
    fn a_run_is_found_inside_a_longer_one() {
        let body = texts("我家在上海东边");
        assert!(contains_run(&body, &texts("上海")));
        assert!(contains_run(&body, &texts("上海东")));
        assert!(contains_run(&texts("회의록을 보냈어요"), &texts("회의")));
        assert!(contains_run(&texts("バッタと鈴虫"), &texts("鈴虫")));
        assert!(contains_run(&texts("ฉันกินข้าวแล้ว"), &texts("กินข้าว")));
        assert!(!contains_run(&texts("ฉันกินข้าวแล้ว"), &texts("กินแล้ว")));
    }

    #[test]
    fn a_run_is_never_found_across_a_break() {
        assert!(!contains_run(&texts("上海，海东"), &texts("上海东")));
        assert!(!contains_run(&texts("上海 海东"), &texts("上海东")));
        assert!(!contains_run(&texts("上海\n东"), &texts("上海东")));
    }

    #[test]
    fn a_change_of_script_ends_a_word() {
        assert_eq!(texts("docker部署"), ["docker", "部", "部署", "署"]);
        assert_eq!(texts("2024年"), ["2024", "年"]);
        assert_eq!(texts("v2"), ["v2"]);
    }

    #[test]
    fn emoji_are_tokens_of_their_own() {
        assert_eq!(texts("ok👍🏽!"), ["ok", "👍🏽"]);
        assert_eq!(texts("👨‍👩‍👧"), ["👨‍👩‍👧"]);
        assert_eq!(texts("vive la 🇫🇷🇩🇪"), ["vive", "la", "🇫🇷", "🇩🇪"]);
        assert_eq!(texts("❤ ❤️"), ["❤️", "❤️"]);
        assert_eq!(texts("上海😀东"), ["上", "上海", "海", "😀", "东"]);
        assert_eq!(texts("1️⃣ 1 #️⃣"), ["1️⃣", "1"]);
    }

    #[test]
    fn letter_like_symbols_stay_text_without_the_emoji_selector() {
        assert_eq!(texts("Acme™"), ["acmetm"]);
        assert_eq!(texts("™️"), ["™️"]);
    }

    #[test]
    fn punctuation_separates() {
        assert_eq!(texts("10.100.200.101"), ["10", "100", "200", "101"]);
        assert_eq!(texts("src/store/sqlite.rs"), ["src", "store", "sqlite", "rs"]);
        assert_eq!(
            texts("**bold** _it_ `code` [link](http://x.y) > quote ~~s~~"),
            ["bold", "it", "code", "link", "http", "x", "y", "quote", "s"]
        );
        assert_eq!(texts("a\u{E000}b"), ["a", "b"]);
        assert!(texts("!@#$%^&*()—…「」").is_empty());
    }

    #[test]
    fn invisible_characters_are_dropped() {
        assert_eq!(texts("zero\u{200B}width"), ["zerowidth"]);
        assert_eq!(texts("می\u{200C}خواهم"), ["میخواهم"]);
        assert_eq!(texts("葛\u{E0100}飾"), texts("葛飾"));
    }

    #[test]
    fn offsets_point_at_the_original_characters() {
        let text = "Hé ＡＢＣ, ｶﾞ上海 👍🏽 ㍻";
        let found = tokens(text);
        let originals: Vec<&str> = found.iter().map(|token| &text[token.start..token.end]).collect();
        assert_eq!(originals, ["Hé", "ＡＢＣ", "ｶﾞ", "ｶﾞ上", "上", "上海", "海", "👍🏽", "㍻", "㍻", "㍻"]);
        assert_eq!(found[8].text, "平");
        assert_eq!(found[9].text, "平成");
    }

    #[test]
    fn prefixable_means_latin_greek_or_cyrillic_letters_only() {
        let prefixable =
            |text: &str| tokens(text).into_iter().map(|token| token.prefixable).collect::<Vec<_>>();
        assert_eq!(prefixable("deploy Ελλάδα москва"), [true, true, true]);
        assert_eq!(prefixable("2024 v2 عربي 上海 👍"), [false, false, false, false, false, false, false]);
    }

    #[test]
    fn normalize_keeps_separators() {
        assert_eq!(normalize("Café, ＡＢＣ!"), "cafe, abc!");
        assert_eq!(normalize("上海，海东"), "上海,海东");
    }

    /// Characters of unspaced scripts, their compatibility forms, marks
    /// that combine with them, and separators: what the property tests
    /// draw from.
    const ALPHABET: &[char] = &[
        '上',
        '海',
        '东',
        '東',
        '京',
        '人',
        '々',
        '平',
        '成',
        '㍻',
        '葛',
        '\u{E0100}',
        'か',
        'が',
        'カ',
        'ガ',
        'ｶ',
        'ﾞ',
        'ﾟ',
        '\u{3099}',
        '\u{309A}',
        '゛',
        'は',
        'ぱ',
        'ー',
        'ｰ',
        '회',
        '의',
        '록',
        'ᄒ',
        'ᅬ',
        'ᆨ',
        'ㄱ',
        'ก',
        'ิ',
        'น',
        'ข',
        '้',
        '，',
        '。',
        ' ',
        '、',
        '・',
        '(',
        '\u{200D}',
        '\u{200B}',
        'a',
        '1',
        '①',
    ];

    fn from_alphabet(max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(ALPHABET), 0..max)
            .prop_map(|chars| chars.into_iter().collect())
    }

    /// Whether the normalised query is one unspaced run: the queries the
    /// substring contract is about.
    fn is_one_run(normalized: &str) -> bool {
        let mut chars = normalized.chars();
        chars.next().is_some_and(|first| class_of(first) == Class::Unspaced)
            && chars.all(|ch| matches!(class_of(ch), Class::Unspaced | Class::Mark))
    }

    fn check_substring_contract(body: &str, query: &str) -> Result<(), TestCaseError> {
        let normalized_query = normalize(query);
        if !is_one_run(&normalized_query) {
            return Ok(());
        }
        let found = contains_run(&texts(body), &texts(query));
        let contained = normalize(body).contains(&normalized_query);
        prop_assert_eq!(found, contained, "body {:?} query {:?}", body, query);
        Ok(())
    }

    proptest! {
        /// Precision and recall are both total for unspaced queries: a
        /// query's tokens are consecutive in a body's exactly when the
        /// normalised body contains the normalised query.
        #[test]
        fn unspaced_queries_match_exactly_the_bodies_containing_them(
            body in from_alphabet(24),
            query in from_alphabet(5),
            from in 0usize..24,
            length in 1usize..6,
        ) {
            check_substring_contract(&body, &query)?;
            let chars: Vec<char> = body.chars().collect();
            let from = from.min(chars.len());
            let cut: String = chars[from..(from + length).min(chars.len())].iter().collect();
            check_substring_contract(&body, &cut)?;
        }

        /// Tokens never hold a separator, and their ranges are character
        /// boundaries inside the text, in order.
        #[test]
        fn tokens_are_clean_and_point_into_the_text(text in "\\PC{0,40}|[a-zé上海ｶﾞ👍🏽 .,*_-]{0,40}") {
            let mut previous_start = 0;
            for token in tokens(&text) {
                prop_assert!(!token.text.is_empty());
                prop_assert!(!token.text.chars().any(|ch| ch.is_ascii_whitespace()
                    || ch.is_ascii_punctuation()
                    || ('\u{E000}'..='\u{F8FF}').contains(&ch)), "{:?}", token);
                prop_assert!(token.start < token.end && token.end <= text.len());
                prop_assert!(text.is_char_boundary(token.start) && text.is_char_boundary(token.end));
                prop_assert!(token.start >= previous_start);
                previous_start = token.start;
            }
        }

        /// Any string tokenizes and normalises without panicking, and
        /// normalising twice changes nothing more, except for a keycap on
        /// what only normalises to a digit (`²⃣`), an emoji the second
        /// time.
        #[test]
        fn any_text_tokenizes(text in any::<String>()) {
            let _ = tokens(&text);
            prop_assume!(!text.contains('\u{20E3}'));
            let once = normalize(&text);
            prop_assert_eq!(normalize(&once), once);
        }
    }
}
