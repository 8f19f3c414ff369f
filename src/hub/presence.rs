//! Who is shown online, cluster-wide: this node's users (each from their
//! first connection until the grace period after their last one ends) and
//! the other nodes' users, as the bus last reported them. Decides which
//! changes are news; the hub tells connections.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::model::{User, UserId};

struct Local {
    name: String,
    /// Bumped whenever a connection arrives, so a pending "go offline"
    /// (after the grace period) can tell it was overtaken.
    generation: u64,
}

/// How many recent changes are kept, to tell who was online right after
/// each of them (see [`Presence::names_after`]).
const RECENT_CHANGES: usize = 1024;

#[derive(Default)]
pub(super) struct Presence {
    /// Users shown online because of this node: connected, or within the
    /// grace period after their last connection.
    local: HashMap<UserId, Local>,
    /// Users shown online on other nodes; empty on a single node.
    remote: HashMap<UserId, String>,
    /// The number of the last change (0: none yet).
    version: u64,
    /// The latest changes, oldest first, with their numbers.
    recent: VecDeque<(u64, Change)>,
    /// Everyone shown online, by name without case and then as spelled
    /// (each change keeps it), so pages, counts and lookups never walk the
    /// whole list. The count covers a name shown twice (two users of one
    /// name, on two nodes during a handover), which must go offline twice.
    shown: BTreeMap<(String, String), u32>,
    /// The counts of `shown`, summed: how many are shown online.
    shown_total: usize,
}

/// The first names of the online list, how many are online, and the number
/// of the last change it includes: what a client in watched mode shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OnlinePage {
    /// At most [`ONLINE_PAGE`] names, sorted without case.
    pub names: Vec<String>,
    pub total: usize,
    pub version: u64,
}

/// Names in an [`OnlinePage`].
pub const ONLINE_PAGE: usize = 50;

/// A change of who is shown online, numbered in the order changes happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub name: String,
    pub online: bool,
    pub version: u64,
}

impl Presence {
    /// The number of the last change (0: none yet).
    pub(super) fn version(&self) -> u64 {
        self.version
    }

    /// Whether `user` is shown online because of this node.
    pub(super) fn is_local(&self, user: UserId) -> bool {
        self.local.contains_key(&user)
    }

    pub(super) fn generation(&self, user: UserId) -> Option<u64> {
        self.local.get(&user).map(|local| local.generation)
    }

    /// A connection of `user` arrived. Returns the change, if they were not
    /// shown online anywhere, and whether this node's list changed.
    pub(super) fn arrive(&mut self, user: &User) -> (Option<Change>, bool) {
        if let Some(local) = self.local.get_mut(&user.id) {
            local.generation += 1;
            return (None, false);
        }
        self.local.insert(user.id, Local { name: user.name.clone(), generation: 1 });
        let change = (!self.remote.contains_key(&user.id)).then(|| self.record(user.name.clone(), true));
        (change, true)
    }

    /// The grace period of `user` (no connection left) ran out. Unless a
    /// connection came since (`generation` moved on), they leave this node's
    /// list; the change says whether anyone should be told.
    pub(super) fn expire(&mut self, user: UserId, generation: u64) -> Option<Option<Change>> {
        if self.generation(user) != Some(generation) {
            return None;
        }
        let local = self.local.remove(&user)?;
        let still_shown = self.remote.contains_key(&user);
        Some((!still_shown).then(|| self.record(local.name, false)))
    }

    /// Takes the bus's latest view of the other nodes. Returns every change
    /// cluster-wide, departures then arrivals, each in name order, so every
    /// node tells the same story.
    pub(super) fn set_remote(&mut self, remote: Vec<(UserId, String)>) -> Vec<Change> {
        let remote: HashMap<UserId, String> = remote.into_iter().collect();
        let mut departed: Vec<String> = self
            .remote
            .iter()
            .filter(|(id, _)| !remote.contains_key(id) && !self.local.contains_key(id))
            .map(|(_, name)| name.clone())
            .collect();
        let mut arrived: Vec<String> = remote
            .iter()
            .filter(|(id, _)| !self.remote.contains_key(id) && !self.local.contains_key(id))
            .map(|(_, name)| name.clone())
            .collect();
        departed.sort_by_key(|name| name.to_ascii_lowercase());
        arrived.sort_by_key(|name| name.to_ascii_lowercase());
        self.remote = remote;
        let departures: Vec<Change> = departed.into_iter().map(|name| self.record(name, false)).collect();
        let arrivals: Vec<Change> = arrived.into_iter().map(|name| self.record(name, true)).collect();
        departures.into_iter().chain(arrivals).collect()
    }

    /// Numbers a change and remembers it.
    fn record(&mut self, name: String, online: bool) -> Change {
        self.version += 1;
        let change = Change { name, online, version: self.version };
        if self.recent.len() == RECENT_CHANGES {
            self.recent.pop_front();
        }
        self.recent.push_back((self.version, change.clone()));
        let key = (change.name.to_ascii_lowercase(), change.name.clone());
        if online {
            *self.shown.entry(key).or_default() += 1;
            self.shown_total += 1;
        } else if let Some(count) = self.shown.get_mut(&key) {
            *count -= 1;
            self.shown_total -= 1;
            if *count == 0 {
                self.shown.remove(&key);
            }
        }
        change
    }

    /// Names of everyone shown online right after change `version`, sorted
    /// without case: today's list with the later changes undone. A change
    /// too old to be remembered gets today's list.
    pub(super) fn names_after(&self, version: u64) -> Vec<String> {
        let mut names = self.names();
        for (_, change) in self.recent.iter().rev().take_while(|(number, _)| *number > version) {
            if change.online {
                if let Some(at) = names.iter().position(|name| *name == change.name) {
                    names.remove(at);
                }
            } else {
                names.push(change.name.clone());
            }
        }
        names.sort_by(|a, b| list_order(a).cmp(&list_order(b)));
        names
    }

    /// Names of everyone shown online, sorted without case.
    pub(super) fn names(&self) -> Vec<String> {
        let shown = self.shown.iter();
        shown.flat_map(|((_, name), count)| std::iter::repeat_n(name, *count as usize)).cloned().collect()
    }

    /// [`Presence::names`] counted again from who is here and elsewhere,
    /// for the hub's invariants.
    pub(super) fn names_recounted(&self) -> Vec<String> {
        let mut names: Vec<String> = self.local.values().map(|local| local.name.clone()).collect();
        let remote_only = self.remote.iter().filter(|(id, _)| !self.local.contains_key(id));
        names.extend(remote_only.map(|(_, name)| name.clone()));
        names.sort_by(|a, b| list_order(a).cmp(&list_order(b)));
        names
    }

    /// The online name spelled as its user spells it, if a user of this
    /// name (compared without case) is shown online.
    pub(super) fn online_as(&self, name: &str) -> Option<&str> {
        let key = name.to_ascii_lowercase();
        let ((found, spelled), _) = self.shown.range((key.clone(), String::new())..).next()?;
        (*found == key).then_some(spelled.as_str())
    }

    /// Whether a user of this name (compared without case) is shown online.
    pub(super) fn is_online(&self, name: &str) -> bool {
        self.online_as(name).is_some()
    }

    /// The first page of the online list, as of now.
    pub(super) fn first_page(&self) -> OnlinePage {
        OnlinePage {
            names: self.shown.keys().take(ONLINE_PAGE).map(|(_, name)| name.clone()).collect(),
            total: self.shown_total,
            version: self.version,
        }
    }

    /// Up to `limit` online names that start with `prefix` (lowercase) and
    /// come after the name `after` (as spelled: the last of the previous
    /// page) in [`list_order`], and whether more follow.
    pub(super) fn page(&self, prefix: &str, after: Option<&str>, limit: usize) -> (Vec<String>, bool) {
        use std::ops::Bound;
        let start = match after.map(|after| (after.to_ascii_lowercase(), after.to_owned())) {
            Some(after) if after.0.as_str() >= prefix => Bound::Excluded(after),
            _ => Bound::Included((prefix.to_owned(), String::new())),
        };
        let mut matching = self
            .shown
            .range((start, Bound::Unbounded))
            .map(|(key, _)| key)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(_, name)| name.clone());
        let names: Vec<String> = matching.by_ref().take(limit).collect();
        let has_more = matching.next().is_some();
        (names, has_more)
    }

    /// This node's users, for the bus's presence record.
    pub(super) fn local_list(&self) -> Vec<(UserId, String)> {
        self.local.iter().map(|(id, local)| (*id, local.name.clone())).collect()
    }
}

/// The order of the online list: by name without case, then as spelled.
pub(super) fn list_order(name: &str) -> (String, &str) {
    (name.to_ascii_lowercase(), name)
}

/// `told` (names in [`list_order`]) with `changes` applied in order: the
/// last change of each name (as spelled) wins. O(told + changes log
/// changes).
pub(super) fn apply_changes(told: &[String], changes: &[(String, bool)]) -> Vec<String> {
    if changes.is_empty() {
        return told.to_vec();
    }
    let mut last: HashMap<&str, bool> = HashMap::new();
    for (name, online) in changes {
        last.insert(name, *online);
    }
    let mut arrived: Vec<(String, &str)> =
        last.iter().filter(|(_, online)| **online).map(|(name, _)| list_order(name)).collect();
    arrived.sort_unstable();
    let kept = told.iter().filter(|name| !last.contains_key(name.as_str()));
    // Merge two lists sorted by key.
    let mut names = Vec::with_capacity(told.len() + arrived.len());
    let mut arrived = arrived.into_iter().peekable();
    for name in kept {
        let key = list_order(name);
        while let Some((_, newcomer)) = arrived.next_if(|arrival| *arrival < key) {
            names.push(newcomer.to_owned());
        }
        names.push(name.clone());
    }
    names.extend(arrived.map(|(_, name)| name.to_owned()));
    names
}

#[cfg(test)]
mod tests {
    use super::{Presence, apply_changes};
    use crate::model::{User, UserId};

    #[test]
    fn two_spellings_of_one_name_are_both_kept() {
        let mut presence = Presence::default();
        presence.arrive(&User { id: UserId(1), name: "Bob".into(), guest: true });
        presence.set_remote(vec![(UserId(2), "bob".into()), (UserId(3), "ann".into())]);
        assert_eq!(presence.names(), ["ann", "Bob", "bob"]);
        assert_eq!(presence.first_page().total, 3);
        presence.expire(UserId(1), 1);
        assert_eq!(presence.names(), ["ann", "bob"]);
        assert_eq!(presence.names_after(presence.version()), ["ann", "bob"]);
        assert_eq!(presence.online_as("BOB"), Some("bob"));
        assert_eq!(presence.page("b", None, 5), (vec!["bob".to_owned()], false));
        assert_eq!(presence.page("", Some("ann"), 5), (vec!["bob".to_owned()], false));
        assert_eq!(presence.page("", None, 1), (vec!["ann".to_owned()], true));
        // Both spellings online: a page ending on one continues with the other.
        presence.arrive(&User { id: UserId(1), name: "Bob".into(), guest: true });
        assert_eq!(presence.page("b", Some("Bob"), 5), (vec!["bob".to_owned()], false));
        assert_eq!(presence.names_after(presence.version()), ["ann", "Bob", "bob"]);
        let told = ["ann".to_owned(), "Bob".to_owned(), "bob".to_owned()];
        assert_eq!(apply_changes(&told, &[("bob".into(), false)]), ["ann", "Bob"], "only that spelling left");
    }

    #[test]
    fn changes_apply_in_order_to_the_told_list() {
        let told: Vec<String> = ["ann", "Bob", "dave"].map(String::from).to_vec();
        let changes: Vec<(String, bool)> = vec![
            ("carl".into(), true),
            ("ann".into(), false),
            ("eve".into(), true),
            ("eve".into(), false),
            ("eve".into(), true),
            ("dave".into(), false),
            ("dave".into(), true),
            ("Aaron".into(), true),
            // Another user who spells the name otherwise (a guest name
            // passing between nodes) is another entry.
            ("Eve".into(), true),
        ];
        assert_eq!(apply_changes(&told, &changes), ["Aaron", "Bob", "carl", "dave", "Eve", "eve"]);
        assert_eq!(apply_changes(&told, &[]), told);
    }
}
