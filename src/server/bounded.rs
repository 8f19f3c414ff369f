//! Replies bounded in bytes as well as in count. A reply that outgrows what
//! the connection can buffer would drop the client instead of answering it
//! (the outgoing buffer holds a few frames of `limits::MAX_REPLY_BYTES`), so
//! every list a client can make the server send is cut to fit: history pages
//! stop early and say `has_more`, channel pages say `has_more`, and a long
//! `welcome` goes out in several frames.

use serde::Serialize;

use crate::limits::MAX_REPLY_BYTES;
use crate::protocol::{ChannelInfo, ServerMessage, UserInfo};

/// Room left in a reply for everything but its list: the type, the `ref`
/// (itself bounded by the frame limit, but never echoed at that size in
/// practice), `has_more`, the cursor.
const ENVELOPE_BYTES: usize = 4 * 1024;

/// The bytes a list may take in one reply.
pub(super) const LIST_BUDGET: usize = MAX_REPLY_BYTES - ENVELOPE_BYTES;

/// The length of an item's JSON, plus the comma that separates it.
pub(super) fn encoded_len<T: Serialize>(item: &T) -> usize {
    serde_json::to_vec(item).map_or(0, |bytes| bytes.len()) + 1
}

/// The longest run of the newest items (the last ones) whose JSON fits in
/// `budget`, and whether older ones were left out. Always keeps the newest
/// item: one message is far smaller than any budget.
pub(super) fn newest_within<T: Serialize>(mut items: Vec<T>, budget: usize) -> (Vec<T>, bool) {
    let mut used = 0;
    let mut keep = 0;
    for item in items.iter().rev() {
        used += encoded_len(item);
        if used > budget && keep > 0 {
            break;
        }
        keep += 1;
    }
    let dropped = items.len() - keep;
    (items.split_off(dropped), dropped > 0)
}

/// The longest run of the first items whose JSON fits in `budget` (at least
/// one), and the rest.
pub(super) fn first_within<T: Serialize>(mut items: Vec<T>, budget: usize) -> (Vec<T>, Vec<T>) {
    let mut used = 0;
    let mut keep = 0;
    for item in &items {
        used += encoded_len(item);
        if used > budget && keep > 0 {
            break;
        }
        keep += 1;
    }
    let rest = items.split_off(keep);
    (items, rest)
}

/// The welcome and, when its lists are long, the `welcome_more` frames that
/// carry the rest: channels first, then the online users, each frame within
/// the budget.
pub(super) fn welcome_frames(
    user: UserInfo,
    channels: Vec<ChannelInfo>,
    online: Vec<String>,
) -> Vec<ServerMessage> {
    let mut frames = Vec::new();
    let (mut channels, mut online) = (channels, online);
    loop {
        let (these_channels, rest_channels) = first_within(channels, LIST_BUDGET);
        let room = LIST_BUDGET.saturating_sub(these_channels.iter().map(encoded_len).sum());
        let (these_online, rest_online) =
            if room > 0 { first_within_or_none(online, room) } else { (Vec::new(), online) };
        let complete = rest_channels.is_empty() && rest_online.is_empty();
        frames.push(if frames.is_empty() {
            ServerMessage::Welcome {
                user: user.clone(),
                channels: these_channels,
                online: these_online,
                complete,
            }
        } else {
            ServerMessage::WelcomeMore { channels: these_channels, online: these_online, complete }
        });
        if complete {
            return frames;
        }
        (channels, online) = (rest_channels, rest_online);
    }
}

/// As [`first_within`], but may take nothing when even the first item does
/// not fit in what is left of a frame.
pub(super) fn first_within_or_none<T: Serialize>(items: Vec<T>, budget: usize) -> (Vec<T>, Vec<T>) {
    match items.first() {
        Some(first) if encoded_len(first) > budget => (Vec::new(), items),
        _ => first_within(items, budget),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(id: i64, name_len: usize) -> ChannelInfo {
        ChannelInfo {
            id,
            name: "x".repeat(name_len),
            kind: crate::protocol::ChannelKind::Private,
            last_seq: 0,
            last_rev: 0,
            unread: 0,
            mentions: 0,
            notify: crate::protocol::NotifyLevel::All,
            read_seq: 0,
            member: true,
            members: Vec::new(),
            added_by: None,
            topic: String::new(),
            description: String::new(),
            archived: false,
        }
    }

    #[test]
    fn history_keeps_the_newest_that_fit() {
        let items: Vec<String> = (0..100).map(|i| format!("{i:0>1000}")).collect();
        let (kept, more) = newest_within(items.clone(), 10_000);
        assert!(more);
        assert_eq!(kept.last(), items.last());
        assert!(kept.iter().map(encoded_len).sum::<usize>() <= 10_000);
        let (all, more) = newest_within(items[..3].to_vec(), 10_000);
        assert_eq!((all.len(), more), (3, false));
        let (one, more) = newest_within(vec!["y".repeat(20_000)], 10_000);
        assert_eq!((one.len(), more), (1, false), "one item always goes out");
    }

    #[test]
    fn a_huge_welcome_is_split_into_frames_that_each_fit_and_lose_nothing() {
        let channels: Vec<ChannelInfo> = (1..=2_000).map(|id| channel(id, 64)).collect();
        let online: Vec<String> = (0..5_000).map(|i| format!("user-{i}")).collect();
        let user = UserInfo { id: 1, name: "carol".into(), guest: false };
        let frames = welcome_frames(user, channels, online);
        assert!(frames.len() > 2);
        let (mut channel_count, mut online_count) = (0, 0);
        for (index, frame) in frames.iter().enumerate() {
            assert!(frame.to_json().len() <= MAX_REPLY_BYTES, "frame {index} is too big");
            let (channels, online, complete) = match frame {
                ServerMessage::Welcome { channels, online, complete, .. } => (channels, online, *complete),
                ServerMessage::WelcomeMore { channels, online, complete } => (channels, online, *complete),
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(complete, index + 1 == frames.len());
            channel_count += channels.len();
            online_count += online.len();
        }
        assert_eq!((channel_count, online_count), (2_000, 5_000));
    }

    #[test]
    fn a_small_welcome_is_one_complete_frame() {
        let user = UserInfo { id: 1, name: "carol".into(), guest: false };
        let frames = welcome_frames(user, vec![channel(1, 7)], vec!["carol".into()]);
        assert!(matches!(frames.as_slice(), [ServerMessage::Welcome { complete: true, .. }]));
    }
}
