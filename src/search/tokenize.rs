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

use crate::model::is_default_ignorable;
use emoji::emoji_at;

mod emoji;

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
    if text.is_ascii() {
        return ascii_tokens(text);
    }
    tokens_of_any_text(text)
}

/// [`tokens`] for any text, through the normaliser.
fn tokens_of_any_text(text: &str) -> Vec<Token> {
    let mut builder =
        TokenBuilder { tokens: Vec::with_capacity(text.len() / 4 + 1), current: Current::Nothing };
    for_each_unit(text, |unit| builder.push(unit));
    builder.finish()
}

/// [`tokens`] of an all-ASCII text, which the normaliser would pass through
/// one character at a time (no ASCII character combines with another, and
/// no emoji is ASCII alone): the runs of letters and digits, lowercased;
/// prefixable when all letters. The common case of every message indexed,
/// so it is done without the normaliser (a property test holds the two
/// paths equal).
fn ascii_tokens(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut position = 0;
    while position < bytes.len() {
        if !bytes[position].is_ascii_alphanumeric() {
            position += 1;
            continue;
        }
        let start = position;
        while position < bytes.len() && bytes[position].is_ascii_alphanumeric() {
            position += 1;
        }
        let word = &text[start..position];
        let prefixable = word.bytes().all(|byte| byte.is_ascii_alphabetic());
        tokens.push(Token { text: word.to_ascii_lowercase(), start, end: position, prefixable });
    }
    tokens
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
    let bytes = text.as_bytes();
    while let Some(first) = text[position..].chars().next() {
        if first.is_ascii() && bytes.get(position + 1).is_none_or(u8::is_ascii) {
            // ASCII followed by ASCII (or nothing): no mark, keycap or
            // variation selector can follow it, so it is its own segment
            // and normalises to its lowercase. Most of a Latin message.
            let ch = first.to_ascii_lowercase();
            normalizer.after_folded_letter = ch.is_ascii_alphabetic();
            emit(Unit::Char { ch, start: position, end: position + 1 });
            position += 1;
            continue;
        }
        // Invisible characters are dropped, not separators: a word typed
        // with a zero-width non-joiner (as in Persian) or an ideograph with
        // a variation selector equals the same typed without.
        if is_default_ignorable(first) {
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
        if is_default_ignorable(ch) {
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
        for ch in segment.chars().filter(|&ch| !is_default_ignorable(ch)).nfkd() {
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
    if is_default_ignorable(ch) {
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
    if ch.is_ascii() {
        return if ch.is_ascii_alphanumeric() { Class::Word } else { Class::Separator };
    }
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

#[cfg(test)]
mod tests;
