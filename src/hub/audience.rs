//! Who hears which presence change. A connection either hears every change
//! (the tutorial's clients, and native clients that ask for the whole list)
//! or watches: it hears the changes of the names it asked about, and the
//! online list's first page when that page changes (at most every
//! `hub::ONLINE_PAGE_EVERY`). A change so costs the hub O(those who hear
//! it), plus one shared page every 2 s at most for the watchers, however
//! many people are online.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::presence::Change;
use super::registry::ConnectionId;

/// Names one connection may watch at once.
pub const WATCH_MAX: usize = 100;

#[derive(Default)]
pub(super) struct Audience {
    /// Connections told every change.
    pub(super) everyone: HashSet<ConnectionId>,
    /// Connections in watched mode, each with the names (lowercase, sorted)
    /// it watches, shared with `watchers`' keys; all of them hear the
    /// online list's first page.
    pub(super) watching: HashMap<ConnectionId, Vec<Arc<str>>>,
    /// Watched names (lowercase) and who watches each.
    pub(super) watchers: HashMap<Arc<str>, HashSet<ConnectionId>>,
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
    /// Only the difference touches `watchers`: a client that sends the same
    /// list again costs a sort and a comparison.
    pub(super) fn watch(&mut self, id: ConnectionId, names: &[String]) {
        let Some(watched) = self.watching.get_mut(&id) else { return };
        let mut wanted: Vec<String> = names.iter().map(|name| name.to_ascii_lowercase()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let old = std::mem::take(watched);
        let (kept, gone): (Vec<Arc<str>>, Vec<Arc<str>>) =
            old.into_iter().partition(|name| wanted.binary_search_by(|w| w.as_str().cmp(name)).is_ok());
        self.forget(id, &gone);
        let mut now = Vec::with_capacity(wanted.len());
        for name in wanted {
            if let Ok(at) = kept.binary_search_by(|k| (**k).cmp(name.as_str())) {
                now.push(Arc::clone(&kept[at]));
                continue;
            }
            let key = match self.watchers.get_key_value(name.as_str()) {
                Some((key, _)) => Arc::clone(key),
                None => Arc::from(name),
            };
            self.watchers.entry(Arc::clone(&key)).or_default().insert(id);
            now.push(key);
        }
        self.watching.insert(id, now);
    }

    fn forget(&mut self, id: ConnectionId, names: &[Arc<str>]) {
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
            let Some(ids) = self.watchers.get(change.name.to_ascii_lowercase().as_str()) else { continue };
            for id in ids {
                heard.entry(*id).or_default().push(change.clone());
            }
        }
        heard
    }
}
