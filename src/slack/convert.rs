//! One conversation's Slack messages as the messages natter stores: in
//! time order, each with its author, body, edit time, thread parent and
//! reactions, or skipped, and every skip, cut and drop counted in a
//! [`Tally`] for the summary (nothing is lost without being told).
//!
//! Pure: the archive and the store are the caller's.

use std::collections::{BTreeMap, HashSet};

use sha2::{Digest, Sha256};

use super::SlackError;
use super::format::{SlackMessage, SlackTs};
use super::text::{Directory, convert, skin_tone};
use crate::model::{ClientId, Emoji, MAX_BODY_CHARS, MAX_REACTION_KINDS, MessageBody, is_bidi_control};

/// Subtypes that are Slack's own notices, not anyone's words: skipped
/// (and counted). Any other message with text or files is imported.
const NOTICES: &[&str] = &[
    "bot_add",
    "bot_remove",
    "channel_archive",
    "channel_convert_to_private",
    "channel_convert_to_public",
    "channel_join",
    "channel_leave",
    "channel_name",
    "channel_purpose",
    "channel_topic",
    "channel_unarchive",
    "group_archive",
    "group_join",
    "group_leave",
    "group_name",
    "group_purpose",
    "group_topic",
    "group_unarchive",
    "message_changed",
    "message_deleted",
    "pinned_item",
    "tombstone",
    "unpinned_item",
];

/// Who wrote something: a user of `users.json` (by Slack id), or nobody
/// natter knows (the placeholder account).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Author {
    Known(String),
    Placeholder,
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct Planned {
    pub ts: SlackTs,
    pub author: Author,
    /// Its body, in parts of at most `MAX_BODY_CHARS` (one, unless it was
    /// longer), each with its client id.
    pub parts: Vec<(ClientId, MessageBody)>,
    pub edited_at: Option<i64>,
    /// The `ts` of the thread's parent, for a reply whose parent is here.
    pub thread_parent: Option<SlackTs>,
    /// At most `MAX_REACTION_KINDS` emoji, one per author and emoji.
    pub reactions: Vec<(Emoji, Author)>,
}

/// What the conversion skipped, cut or dropped, over the whole export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Slack's notices skipped, by subtype.
    pub notices: BTreeMap<String, u64>,
    /// Messages with nothing to show (no text, file or attachment text).
    pub empty: u64,
    /// Messages longer than natter's limit, stored in several parts...
    pub split: u64,
    /// ...these many parts in all.
    pub parts: u64,
    /// Messages whose control or bidi characters were removed.
    pub cleaned: u64,
    /// Messages written by the placeholder account.
    pub unknown_authors: u64,
    /// Replies whose thread parent is not in the export: stored as messages.
    pub orphan_replies: u64,
    /// Reactions with an emoji Unicode does not have (a custom one).
    pub custom_reactions: u64,
    /// Reactions past the emoji a message may carry.
    pub reactions_over_limit: u64,
}

/// Converts a conversation's messages (each day file's, named by its entry
/// in the zip for errors), in time order. Refused (naming the file and the
/// message): a `ts` or `edited.ts` that is not a Slack timestamp.
pub fn plan(
    conversation: &str,
    days: Vec<(String, Vec<SlackMessage>)>,
    directory: &Directory,
    tally: &mut Tally,
) -> Result<Vec<Planned>, SlackError> {
    let mut stamped = Vec::new();
    for (entry, messages) in days {
        for (index, message) in messages.into_iter().enumerate() {
            let bad = |what: &str, raw: &str| SlackError::Entry {
                entry: entry.clone(),
                reason: format!("message {}: {what} {raw:?} is not a Slack timestamp", index + 1),
            };
            let ts = SlackTs::parse(&message.ts).ok_or_else(|| bad("ts", &message.ts))?;
            let edited_at = match &message.edited {
                Some(edit) => {
                    Some(SlackTs::parse(&edit.ts).ok_or_else(|| bad("edited.ts", &edit.ts))?.millis())
                }
                None => None,
            };
            stamped.push((ts, edited_at, message));
        }
    }
    // Stable: messages of one ts keep the order they were read in.
    stamped.sort_by_key(|(ts, _, _)| *ts);
    let mut planned: Vec<Planned> = Vec::with_capacity(stamped.len());
    for (ts, edited_at, message) in stamped {
        if let Some(subtype) = message.subtype.as_deref().filter(|subtype| NOTICES.contains(subtype)) {
            *tally.notices.entry(subtype.to_owned()).or_default() += 1;
            continue;
        }
        let author = match message.user.as_deref() {
            Some(id) if directory.users.contains_key(id) => Author::Known(id.to_owned()),
            _ => Author::Placeholder,
        };
        let Some(body) = body_of(&message, &author, directory, tally) else {
            tally.empty += 1;
            continue;
        };
        if author == Author::Placeholder {
            tally.unknown_authors += 1;
        }
        let parts = split(&body);
        if parts.len() > 1 {
            tally.split += 1;
            tally.parts += parts.len() as u64;
        }
        let parts = parts
            .into_iter()
            .enumerate()
            .map(|(index, part)| {
                let body = MessageBody::parse(part).expect("a cleaned part within the limit is a valid body");
                (client_id(conversation, ts, index + 1), body)
            })
            .collect();
        let thread_parent =
            message.thread_ts.as_deref().and_then(SlackTs::parse).filter(|parent| *parent != ts);
        let reactions = reactions_of(&message, directory, tally);
        planned.push(Planned { ts, author, parts, edited_at, thread_parent, reactions });
    }
    let stored: HashSet<SlackTs> = planned.iter().map(|message| message.ts).collect();
    for message in &mut planned {
        if message.thread_parent.is_some_and(|parent| !stored.contains(&parent)) {
            message.thread_parent = None;
            tally.orphan_replies += 1;
        }
    }
    Ok(planned)
}

/// A message's text in natter's markup, its files as `[file: NAME]` lines,
/// and, when it has neither, its attachments' text; a placeholder's
/// message starts with the name Slack showed, when there is one. Control
/// and bidi characters are removed. `None` when nothing is left.
fn body_of(
    message: &SlackMessage,
    author: &Author,
    directory: &Directory,
    tally: &mut Tally,
) -> Option<String> {
    let mut lines = Vec::new();
    let text = convert(&message.text, directory);
    if !text.trim().is_empty() {
        lines.push(text);
    }
    for file in message.files.iter().chain(&message.file) {
        let name = file.name.as_deref().or(file.title.as_deref()).filter(|name| !name.trim().is_empty());
        lines.push(format!("[file: {}]", name.unwrap_or("unnamed")));
    }
    if lines.is_empty() {
        for attachment in &message.attachments {
            let text =
                [&attachment.fallback, &attachment.text, &attachment.title].into_iter().flatten().next();
            if let Some(text) = text.filter(|text| !text.trim().is_empty()) {
                lines.push(convert(text, directory));
            }
        }
    }
    if lines.is_empty() {
        return None;
    }
    let mut body = lines.join("\n");
    if *author == Author::Placeholder {
        let profile = message.user_profile.as_ref();
        let shown = [message.username.as_ref(), profile.and_then(|p| p.display_name.as_ref())]
            .into_iter()
            .chain([profile.and_then(|p| p.real_name.as_ref()), profile.and_then(|p| p.name.as_ref())])
            .flatten()
            .find(|name| !name.trim().is_empty());
        if let Some(name) = shown {
            body = format!("{}:\n{body}", name.trim());
        }
    }
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let removed = |c: char| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c);
    let kept: String = body.chars().filter(|&c| !removed(c)).collect();
    if kept.len() != body.len() {
        tally.cleaned += 1;
    }
    (!kept.trim().is_empty()).then_some(kept)
}

/// `body` in parts of at most `MAX_BODY_CHARS`, each cut after the last
/// line break (else space) in its second half, else at the limit; parts
/// with only blanks are left out (only blanks are lost).
fn split(body: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest: &str = body;
    while rest.chars().count() > MAX_BODY_CHARS {
        let limit = rest.char_indices().nth(MAX_BODY_CHARS).map_or(rest.len(), |(at, _)| at);
        let half = rest.char_indices().nth(MAX_BODY_CHARS / 2).map_or(0, |(at, _)| at);
        let window = &rest[..limit];
        let cut = window
            .rfind('\n')
            .filter(|&at| at >= half)
            .or_else(|| window.rfind(' ').filter(|&at| at >= half));
        let cut = cut.map_or(limit, |at| at + 1);
        parts.push(rest[..cut].trim_end_matches('\n').to_owned());
        rest = &rest[cut..];
    }
    parts.push(rest.to_owned());
    parts.retain(|part| !part.trim().is_empty());
    parts
}

/// The client id of part `part` (from 1) of the message at `ts` in
/// `conversation`: `slack-C123-1512085950.000216`, `-2` on for further
/// parts; an id that would not make a valid client id is hashed.
fn client_id(conversation: &str, ts: SlackTs, part: usize) -> ClientId {
    let suffix = if part > 1 { format!("-{part}") } else { String::new() };
    let ts = ts.canonical();
    ClientId::parse(format!("slack-{conversation}-{ts}{suffix}")).unwrap_or_else(|_| {
        let digest = Sha256::digest(conversation.as_bytes());
        let short: String = digest.iter().take(8).map(|byte| format!("{byte:02x}")).collect();
        ClientId::parse(format!("slack-{short}-{ts}{suffix}")).expect("a hashed client id is valid")
    })
}

/// A message's reactions natter can store: Unicode emoji (with Slack's
/// skin tones), at most `MAX_REACTION_KINDS` of them, each author once.
fn reactions_of(message: &SlackMessage, directory: &Directory, tally: &mut Tally) -> Vec<(Emoji, Author)> {
    let mut kinds: Vec<String> = Vec::new();
    let mut reactions: Vec<(Emoji, Author)> = Vec::new();
    for reaction in &message.reactions {
        let Some(emoji) = emoji_named(&reaction.name) else {
            tally.custom_reactions += reaction.users.len() as u64;
            continue;
        };
        if !kinds.contains(&emoji.as_str().to_owned()) {
            if kinds.len() == MAX_REACTION_KINDS {
                tally.reactions_over_limit += reaction.users.len() as u64;
                continue;
            }
            kinds.push(emoji.as_str().to_owned());
        }
        for user in &reaction.users {
            let author = match directory.users.contains_key(user) {
                true => Author::Known(user.clone()),
                false => Author::Placeholder,
            };
            if !reactions.iter().any(|(e, a)| *e == emoji && *a == author) {
                reactions.push((emoji.clone(), author));
            }
        }
    }
    reactions
}

/// The Unicode emoji of a Slack reaction name (`tada`, `+1::skin-tone-3`).
fn emoji_named(name: &str) -> Option<Emoji> {
    let (base, tone) = match name.split_once("::skin-tone-") {
        Some((base, tone)) => (base, Some(format!("{tone}:"))),
        None => (name, None),
    };
    let mut emoji = emojis::get_by_shortcode(base)?;
    if let Some(toned) = tone.as_deref().and_then(skin_tone).and_then(|tone| emoji.with_skin_tone(tone)) {
        emoji = toned;
    }
    Emoji::parse(emoji.as_str()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::format::{SlackEdit, SlackReaction};

    fn message(ts: &str, user: &str, text: &str) -> SlackMessage {
        SlackMessage { ts: ts.into(), user: Some(user.into()), text: text.into(), ..SlackMessage::default() }
    }

    fn directory() -> Directory {
        let mut directory = Directory::default();
        directory.users.insert("U1".into(), "ada".into());
        directory
    }

    #[test]
    fn messages_come_in_time_order_with_notices_skipped_and_orphans_counted() {
        let mut reply = message("3.0", "U1", "reply");
        reply.thread_ts = Some("1.0".into());
        let mut orphan = message("4.0", "U1", "orphan");
        orphan.thread_ts = Some("0.5".into());
        let mut joined = message("2.0", "U1", "<@U1> has joined");
        joined.subtype = Some("channel_join".into());
        let mut edited = message("1.0", "U9", "first");
        edited.edited = Some(SlackEdit { ts: "1.5".into() });
        let days = vec![("c/2.json".into(), vec![orphan, reply]), ("c/1.json".into(), vec![joined, edited])];
        let mut tally = Tally::default();
        let planned = plan("C1", days, &directory(), &mut tally).unwrap();
        let order: Vec<(String, &str)> =
            planned.iter().map(|m| (m.ts.canonical(), m.parts[0].1.as_str())).collect();
        assert_eq!(
            order,
            [("1.000000".into(), "first"), ("3.000000".into(), "reply"), ("4.000000".into(), "orphan")]
        );
        assert_eq!((planned[0].author.clone(), planned[0].edited_at), (Author::Placeholder, Some(1500)));
        assert_eq!(planned[1].thread_parent, SlackTs::parse("1.0"));
        assert_eq!(planned[2].thread_parent, None);
        assert_eq!((tally.notices["channel_join"], tally.orphan_replies, tally.unknown_authors), (1, 1, 1));
        assert_eq!(planned[0].parts[0].0, ClientId::parse("slack-C1-1.000000".into()).unwrap());
    }

    #[test]
    fn a_bad_timestamp_names_its_file_and_message() {
        let days = vec![("c/1.json".into(), vec![message("1.0", "U1", "ok"), message("soon", "U1", "x")])];
        let error = plan("C1", days, &directory(), &mut Tally::default()).unwrap_err().to_string();
        assert!(
            error.contains("c/1.json") && error.contains("message 2") && error.contains("soon"),
            "{error}"
        );
    }

    #[test]
    fn long_bodies_are_split_without_losing_text() {
        let body = format!("{}\n{}", "a".repeat(3000), "b ".repeat(1500));
        let parts = split(&body);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "a".repeat(3000), "cut at the line break");
        assert!(parts.iter().all(|part| part.chars().count() <= MAX_BODY_CHARS));
        let unbroken = "x".repeat(9000);
        assert_eq!(split(&unbroken).concat(), unbroken, "cut at the limit when there is no break");
        assert_eq!(split(&"é".repeat(4000)).len(), 1, "characters, not bytes");
    }

    #[test]
    fn reactions_keep_unicode_emoji_and_drop_custom_ones() {
        assert_eq!(emoji_named("+1::skin-tone-4").unwrap().as_str(), "👍🏽");
        assert_eq!(emoji_named("tada").unwrap().as_str(), "🎉");
        assert!(emoji_named("partyparrot").is_none());
        let mut reacted = message("1.0", "U1", "x");
        reacted.reactions = vec![
            SlackReaction { name: "thumbsup".into(), users: vec!["U1".into(), "U9".into()] },
            SlackReaction { name: "+1".into(), users: vec!["U1".into()] },
            SlackReaction { name: "partyparrot".into(), users: vec!["U1".into()] },
        ];
        let mut tally = Tally::default();
        let reactions = reactions_of(&reacted, &directory(), &mut tally);
        let thumbs = Emoji::parse("👍").unwrap();
        assert_eq!(reactions, [(thumbs.clone(), Author::Known("U1".into())), (thumbs, Author::Placeholder)]);
        assert_eq!(tally.custom_reactions, 1);
    }

    #[test]
    fn client_ids_that_would_not_fit_are_hashed() {
        let ts = SlackTs::parse("1.5").unwrap();
        assert_eq!(client_id("C1", ts, 2).into_string(), "slack-C1-1.500000-2");
        let hashed = client_id(&"C".repeat(100), ts, 1).into_string();
        assert!(hashed.starts_with("slack-") && hashed.len() <= 64, "{hashed}");
    }
}
