//! Who hears which presence change. A connection either hears every change
//! (the tutorial's clients, and native clients that ask for the whole list)
//! or watches: it hears the changes of the names it asked about, and the
//! online list's first page whenever that page changes. A change so costs
//! the hub O(those who hear it), plus one shared page per interval for the
//! watchers, however many people are online.

use std::collections::{HashMap, HashSet};

use super::presence::Change;
use super::registry::ConnectionId;

/// Names one connection may watch at once.
pub const WATCH_MAX: usize = 100;

#[derive(Default)]
pub(super) struct Audience {
    /// Connections told every change.
    pub(super) everyone: HashSet<ConnectionId>,
    /// Connections in watched mode, each with the names (lowercase) it
    /// watches; all of them hear the online list's first page.
    pub(super) watching: HashMap<ConnectionId, Vec<String>>,
    /// Watched names (lowercase) and who watches each.
    pub(super) watchers: HashMap<String, HashSet<ConnectionId>>,
}

impl Audience {
    pub(super) fn add(&mut self, id: ConnectionId, watched: bool) {
        if watched {
            self.watching.insert(id, Vec::new());
        } else {
            self.everyone.insert(id);
        }
    }

    pub(super) fn remove(&mut self, id: ConnectionId) {
        self.everyone.remove(&id);
        if let Some(names) = self.watching.remove(&id) {
            self.forget(id, &names);
        }
    }

    /// Replaces what a watching connection watches; a connection that hears
    /// everyone already hears these too. Names are compared without case.
    pub(super) fn watch(&mut self, id: ConnectionId, names: &[String]) {
        let Some(watched) = self.watching.get_mut(&id) else { return };
        let mut wanted: Vec<String> = names.iter().map(|name| name.to_ascii_lowercase()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let old = std::mem::replace(watched, wanted.clone());
        self.forget(id, &old);
        for name in wanted {
            self.watchers.entry(name).or_default().insert(id);
        }
    }

    fn forget(&mut self, id: ConnectionId, names: &[String]) {
        for name in names {
            if let Some(ids) = self.watchers.get_mut(name) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.watchers.remove(name);
                }
            }
        }
    }

    /// The changes each watching connection hears, in order, for those who
    /// watch any of the changed names. O(changes + what is heard).
    pub(super) fn watched_changes(&self, changes: &[Change]) -> HashMap<ConnectionId, Vec<Change>> {
        let mut heard: HashMap<ConnectionId, Vec<Change>> = HashMap::new();
        for change in changes {
            let Some(ids) = self.watchers.get(&change.name.to_ascii_lowercase()) else { continue };
            for id in ids {
                heard.entry(*id).or_default().push(change.clone());
            }
        }
        heard
    }
}
