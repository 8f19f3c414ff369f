//! What Slack's people and channels are called in natter: usernames made
//! from Slack's to natter's rules, deterministically (the same export
//! always gives every user the same name, which is how a second run finds
//! the accounts the first one made), and channel names cut to natter's.

use std::collections::HashSet;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::format::SlackUser;
use crate::model::{ChannelName, MAX_CHANNEL_NAME_CHARS, MAX_USER_NAME_CHARS, UserName};

/// The account that writes what an unknown or unnamed Slack author wrote
/// (a user `users.json` does not list, a bot without a user). It is
/// allotted its name before everyone else, so no Slack user takes it.
pub const PLACEHOLDER: &str = "slack-unknown";

/// natter usernames for `users`, in the same order, and the placeholder's.
///
/// A Slack username that natter accepts is kept as it is. Others are made
/// to fit ([`sanitize`]); one that leaves nothing becomes `slack-` and the
/// user's id. A name already given (compared without case) gets `-2`,
/// `-3`, ... (cut to fit 32 characters). Names natter accepts as they are
/// go first, so a user whose name needed no change never loses it to one
/// whose name was made to match it; within each group, by Slack user id.
pub fn usernames(users: &[SlackUser]) -> (Vec<UserName>, UserName) {
    let mut taken: HashSet<String> = HashSet::new();
    let placeholder = claim(&mut taken, PLACEHOLDER);
    let mut order: Vec<usize> = (0..users.len()).collect();
    order.sort_by(|&a, &b| {
        let needs_change = |index: usize| UserName::parse(&users[index].name).is_err();
        (needs_change(a), &users[a].id).cmp(&(needs_change(b), &users[b].id))
    });
    let mut names = vec![None; users.len()];
    for index in order {
        let base = sanitize(&users[index].name).unwrap_or_else(|| fallback(&users[index].id));
        names[index] = Some(claim(&mut taken, &base));
    }
    let names = names.into_iter().map(|name| name.expect("every user was given a name")).collect();
    (names, placeholder)
}

/// `base`, or the first of `base-2`, `base-3`, ... that is free; taken.
fn claim(taken: &mut HashSet<String>, base: &str) -> UserName {
    let mut candidate = base.to_owned();
    let mut number = 2_u64;
    while taken.contains(&candidate.to_ascii_lowercase()) {
        let suffix = format!("-{number}");
        let keep = MAX_USER_NAME_CHARS - suffix.len();
        candidate = format!("{}{suffix}", base.chars().take(keep).collect::<String>());
        number += 1;
    }
    taken.insert(candidate.to_ascii_lowercase());
    UserName::parse(&candidate).expect("sanitized names and their suffixes are valid usernames")
}

/// A Slack username made to fit natter's rules (1 to 32 ASCII letters,
/// digits, `_`, `.`, `-`): accents dropped (`josé` → `jose`), each run of
/// anything else (spaces, other scripts, punctuation) made one `_`, `_` cut
/// from both ends, the rest cut to 32 characters. `None` when nothing is
/// left.
pub fn sanitize(raw: &str) -> Option<String> {
    let mut name = String::new();
    let mut replaced = false;
    for c in raw.nfkd().filter(|&c| !is_combining_mark(c)) {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            name.push(c);
            replaced = false;
        } else if !replaced {
            name.push('_');
            replaced = true;
        }
    }
    let name: String = name.trim_matches('_').chars().take(MAX_USER_NAME_CHARS).collect();
    UserName::parse(&name).is_ok().then_some(name)
}

/// The name of a user whose Slack name leaves nothing: `slack-` and the
/// id, made to fit like a name.
fn fallback(id: &str) -> String {
    let id = sanitize(id).unwrap_or_else(|| "user".to_owned());
    format!("slack-{id}").chars().take(MAX_USER_NAME_CHARS).collect()
}

/// A channel's natter name from its Slack name: cut to 64 characters;
/// `slack-` and its id when natter refuses what is left (or there is none).
pub fn channel_name(name: &str, id: &str) -> ChannelName {
    let cut: String = name.chars().take(MAX_CHANNEL_NAME_CHARS).collect();
    ChannelName::parse(&cut).unwrap_or_else(|_| {
        let id = sanitize(id).unwrap_or_else(|| "channel".to_owned());
        ChannelName::parse(&format!("slack-{id}")).expect("a sanitized id makes a valid channel name")
    })
}

/// `name` with ` 2`, ` 3`, ...: the `attempt`th name tried for a channel
/// whose name natter has for a channel of another kind (attempt 1 is the
/// name itself).
pub fn numbered_channel(name: &ChannelName, attempt: u32) -> ChannelName {
    if attempt <= 1 {
        return name.clone();
    }
    let suffix = format!(" {attempt}");
    let keep = MAX_CHANNEL_NAME_CHARS - suffix.chars().count();
    let base: String = name.as_str().chars().take(keep).collect();
    ChannelName::parse(&format!("{}{suffix}", base.trim_end()))
        .expect("a valid name cut and numbered stays valid")
}

/// A group DM's channel name: its members' names, by name, joined by
/// `, `, cut to 64 characters (ending in `...` when cut: a `…` would become
/// those three dots anyway, as channel names are NFKC-normalised).
pub fn group_name(members: &[&str], id: &str) -> ChannelName {
    let mut names: Vec<&str> = members.to_vec();
    names.sort_by_key(|name| name.to_ascii_lowercase());
    names.dedup();
    let joined = names.join(", ");
    if joined.chars().count() <= MAX_CHANNEL_NAME_CHARS {
        return channel_name(&joined, id);
    }
    let cut: String = joined.chars().take(MAX_CHANNEL_NAME_CHARS - 3).collect();
    channel_name(&format!("{}...", cut.trim_end_matches([',', ' '])), id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, name: &str) -> SlackUser {
        SlackUser { id: id.into(), name: name.into(), ..SlackUser::default() }
    }

    fn names(users: &[SlackUser]) -> Vec<String> {
        usernames(users).0.iter().map(|name| name.as_str().to_owned()).collect()
    }

    #[test]
    fn names_are_made_to_fit() {
        assert_eq!(sanitize("josé.garcía").as_deref(), Some("jose.garcia"));
        assert_eq!(sanitize("John Smith").as_deref(), Some("John_Smith"));
        assert_eq!(sanitize("  o'brien!! ").as_deref(), Some("o_brien"));
        assert_eq!(sanitize("山田"), None);
        assert_eq!(sanitize(""), None);
        assert_eq!(sanitize(&"a".repeat(40)).unwrap().len(), 32);
    }

    #[test]
    fn collisions_and_empty_names_fall_back_deterministically() {
        let users =
            [user("U3", "josé"), user("U2", "jose"), user("U1", "Jose"), user("U4", "山田"), user("U5", "")];
        // "jose" and "Jose" need no change: they go first, by id (U1, then U2).
        assert_eq!(names(&users), ["jose-3", "jose-2", "Jose", "slack-U4", "slack-U5"]);
        // The order of users.json does not matter.
        let mut reversed = users.clone();
        reversed.reverse();
        assert_eq!(names(&reversed), ["slack-U5", "slack-U4", "Jose", "jose-2", "jose-3"]);
        // Nobody takes the placeholder's name.
        let (given, placeholder) = usernames(&[user("U1", "slack-unknown")]);
        assert_eq!((given[0].as_str(), placeholder.as_str()), ("slack-unknown-2", PLACEHOLDER));
        // A suffix still fits 32 characters.
        let long = "b".repeat(32);
        assert_eq!(names(&[user("U1", &long), user("U2", &long.to_uppercase())])[1].len(), 32);
    }

    #[test]
    fn channel_names_fit() {
        assert_eq!(channel_name("general", "C1").as_str(), "general");
        assert_eq!(channel_name(&"x".repeat(80), "C1").as_str().len(), 64);
        assert_eq!(channel_name("", "C1").as_str(), "slack-C1");
        assert_eq!(numbered_channel(&channel_name("random", "C1"), 2).as_str(), "random 2");
        assert_eq!(group_name(&["carol", "Ada", "bob"], "G1").as_str(), "Ada, bob, carol");
        let long = group_name(&["a".repeat(30).as_str(), "b".repeat(30).as_str(), "c"], "G1");
        assert!(long.as_str().ends_with("b...") && long.as_str().chars().count() <= 64, "{long:?}");
    }
}
