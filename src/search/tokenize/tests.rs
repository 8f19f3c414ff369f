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
    let prefixable = |text: &str| tokens(text).into_iter().map(|token| token.prefixable).collect::<Vec<_>>();
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

    /// An all-ASCII text gives the same tokens by the fast path as through
    /// the normaliser: texts, ranges and prefixability.
    #[test]
    fn ascii_texts_tokenize_the_same_on_both_paths(text in "[ -~\t\n]{0,60}|[a-zA-Z0-9 ._@:/-]{0,60}") {
        prop_assert!(text.is_ascii());
        prop_assert_eq!(ascii_tokens(&text), tokens_of_any_text(&text));
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
