//! Which channel a bare name means to one user, for the protocols that
//! address channels by name (the Socket.IO edge).
//!
//! Channel names are not unique: public names are, but a private channel's
//! name only clashes with the channels its creator can see (a global rule
//! would reveal that a private channel of that name exists), and someone can
//! be added to a private channel named like one they already have. So each
//! user gets their own unambiguous names: among the channels they can see
//! that share a key (`ChannelName::key`), the plain name belongs to the one
//! they have been a member of the longest (a channel they are in always
//! wins over a public one they are not in; the oldest public one among
//! those), and every other one is shown, and resolved, as `name #id`. Being
//! added to a channel never takes a name someone already had: the newcomer
//! is always the suffixed one. The same rule builds listings and resolves
//! names, so a name never means a different channel than the one listed
//! under it.

use std::collections::HashMap;

use crate::model::{ChannelId, ChannelView};

/// The separator between a name and the id that disambiguates it.
const ID_SUFFIX: &str = " #";

/// Orders the candidates for a plain name: members first, earliest
/// membership first, then the oldest channel.
fn rank(view: &ChannelView) -> (bool, i64, ChannelId) {
    (!view.member, view.joined_at, view.channel.id)
}

/// The channel a plain name means among `same_key` (all the channels the
/// user can see whose names share one key), if any.
pub fn plain_owner(same_key: &[ChannelView]) -> Option<&ChannelView> {
    same_key.iter().min_by_key(|view| rank(view))
}

/// How `view` is named to a user who can see `same_key` (the channels that
/// share its key, `view` among them).
pub fn display_name(view: &ChannelView, same_key: &[ChannelView]) -> String {
    match plain_owner(same_key) {
        Some(owner) if owner.channel.id != view.channel.id => {
            format!("{}{ID_SUFFIX}{}", view.channel.name, view.channel.id)
        }
        _ => view.channel.name.clone(),
    }
}

/// Names every channel in `visible` for one user, in the order given. Two
/// channels share a name when any of their keys (`keys`, e.g. both name
/// keys of `ChannelName`) match, directly or through a third channel.
pub fn display_names(visible: &[ChannelView], keys: impl Fn(&ChannelView) -> Vec<String>) -> Vec<String> {
    // Union-find over the channels, joined wherever a key repeats.
    let mut parent: Vec<usize> = (0..visible.len()).collect();
    fn root(parent: &mut [usize], mut at: usize) -> usize {
        while parent[at] != at {
            parent[at] = parent[parent[at]];
            at = parent[at];
        }
        at
    }
    let mut first_with_key: HashMap<String, usize> = HashMap::new();
    for (index, view) in visible.iter().enumerate() {
        for key in keys(view) {
            if let Some(&other) = first_with_key.get(&key) {
                let (a, b) = (root(&mut parent, index), root(&mut parent, other));
                parent[a] = b;
            } else {
                first_with_key.insert(key, index);
            }
        }
    }
    let mut groups: HashMap<usize, Vec<ChannelView>> = HashMap::new();
    for (index, view) in visible.iter().enumerate() {
        groups.entry(root(&mut parent, index)).or_default().push(view.clone());
    }
    (0..visible.len())
        .map(|index| display_name(&visible[index], &groups[&root(&mut parent, index)]))
        .collect()
}

/// Splits `name #id` into the name and the id; `None` for a plain name.
pub fn split_id_suffix(raw: &str) -> Option<(&str, ChannelId)> {
    let (name, id) = raw.rsplit_once(ID_SUFFIX)?;
    let id: i64 = id.parse().ok()?;
    (!name.trim().is_empty() && id > 0).then_some((name, ChannelId(id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Channel, ChannelKind, Seq};

    fn view(id: i64, name: &str, kind: ChannelKind, member: bool) -> ChannelView {
        ChannelView {
            channel: Channel { id: ChannelId(id), name: name.into(), kind },
            last_seq: Seq(0),
            last_rev: crate::model::Rev(0),
            unread: 0,
            mentions: 0,
            notify: crate::model::NotifyLevel::All,
            read_seq: Seq(0),
            member,
            dm_members: Vec::new(),
            added_by: None,
            joined_at: if member { 1_000 + id } else { 0 },
            about: Default::default(),
        }
    }

    #[test]
    fn a_private_channel_keeps_its_name_beside_a_public_namesake() {
        // Alice's private "secret-plans" (5); Mallory's public one (12).
        let private = view(5, "secret-plans", ChannelKind::Private, true);
        let public = view(12, "secret-plans", ChannelKind::Public, false);
        let group = [private.clone(), public.clone()];
        assert_eq!(display_name(&private, &group), "secret-plans");
        assert_eq!(display_name(&public, &group), "secret-plans #12");
        assert_eq!(plain_owner(&group).map(|v| v.channel.id), Some(ChannelId(5)));
        // Order of arrival does not matter.
        assert_eq!(plain_owner(&[public, private]).map(|v| v.channel.id), Some(ChannelId(5)));
    }

    #[test]
    fn among_members_the_earliest_membership_keeps_the_plain_name() {
        let own = view(7, "board-room", ChannelKind::Private, true);
        let added = view(9, "Board-Room", ChannelKind::Private, true);
        let names = display_names(&[added.clone(), own.clone()], |_| vec!["board-room".into()]);
        assert_eq!(names, ["Board-Room #9", "board-room"]);
        // Being added later to an older channel of the name does not take
        // the name from the one the user had.
        let older_but_added_later = ChannelView {
            joined_at: own.joined_at + 60_000,
            ..view(6, "board-room", ChannelKind::Private, true)
        };
        let names = display_names(&[older_but_added_later, own], |_| vec!["board-room".into()]);
        assert_eq!(names, ["board-room #6", "board-room"]);
    }

    #[test]
    fn names_matching_by_either_key_are_one_group() {
        // "Ice" and "ice" share the first key, "Ice" and "lce" the second:
        // all three are one name, whichever key links them.
        let views = [
            view(3, "Ice", ChannelKind::Private, true),
            view(4, "ice", ChannelKind::Private, true),
            view(5, "lce", ChannelKind::Private, true),
        ];
        let keys = |view: &ChannelView| {
            vec![crate::model::name_key(&view.channel.name), crate::model::look_key(&view.channel.name)]
        };
        assert_eq!(display_names(&views, keys), ["Ice", "ice #4", "lce #5"]);
    }

    #[test]
    fn suffixes_parse_only_when_well_formed() {
        assert_eq!(split_id_suffix("secret-plans #12"), Some(("secret-plans", ChannelId(12))));
        assert_eq!(split_id_suffix("secret-plans"), None);
        assert_eq!(split_id_suffix("a #b"), None);
        assert_eq!(split_id_suffix(" #3"), None);
        assert_eq!(split_id_suffix("x #-3"), None);
    }
}
