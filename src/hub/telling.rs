//! The hub's presence: who comes and goes (here, after the grace period,
//! and on other nodes), and telling connections at each presence interval
//! what they hear of it (every change, or in watched mode the changes of
//! the names they watch and the online list's first page, at most every
//! [`ONLINE_PAGE_EVERY`]), plus the lookups the edges make (the online
//! list, a page of it, whether a name is online).

use std::sync::Arc;
use std::time::Instant;

use super::presence::{self, Change};
use super::registry::ConnectionId;
use super::{
    Delivery, Event, Hub, HubRequest, ONLINE_PAGE_EVERY, OnlinePage, OnlineUsers, PRESENCE_BATCH_MAX, State,
};
use crate::model::UserId;

impl Hub {
    /// The grace period after a user's last connection ran out: unless a
    /// connection arrived since, they go offline here.
    pub fn expire_presence(&self, user: UserId, generation: u64) {
        let mut state = self.lock();
        if state.registry.is_connected(user) {
            return;
        }
        let Some(change) = state.presence.expire(user, generation) else { return };
        self.local_presence_changed(&mut state);
        if let Some(change) = change {
            self.announce_presence(&mut state, change);
        }
    }

    /// Takes the bus's latest view of who is online on other nodes and tells
    /// connections about everyone who came or went, cluster-wide.
    pub fn set_remote_presence(&self, remote: Vec<(UserId, String)>) {
        let mut state = self.lock();
        for change in state.presence.set_remote(remote) {
            self.announce_presence(&mut state, change);
        }
    }

    /// The users online now (including those within the grace period),
    /// sorted without case, and the number of the last change the list
    /// includes: a connection that shows the list skips the changes at or
    /// below it when their batch arrives. Built outside the lock from the
    /// list as of the last flush and the changes since, so a connection
    /// arriving in a login storm costs the lock O(changes in this
    /// interval), not O(everyone online).
    pub fn online_users(&self) -> OnlineUsers {
        let (told, untold, as_of) = {
            let mut state = self.lock();
            if state.told_stale {
                // O(online), once per interval at most, and only when a
                // connection that hears everyone came after an interval
                // with none.
                state.told = state.presence.names().into();
                state.told_stale = false;
            }
            (Arc::clone(&state.told), state.untold.name_changes(), state.presence.version())
        };
        OnlineUsers { names: presence::apply_changes(&told, &untold), as_of }
    }

    /// Tells connections the presence changes gathered since the last
    /// flush, and publishes this node's list on the bus if it changed. The
    /// driver calls it [`PRESENCE_INTERVAL`](super::PRESENCE_INTERVAL) after it was asked to
    /// ([`HubRequest::FlushPresence`]). Those who hear everyone get every
    /// change in one shared delivery; a watching connection gets the changes
    /// of the names it watches, and the online list's first page if that
    /// changed (one shared delivery for all of them).
    pub fn flush_presence(&self) {
        self.flush_presence_at(Instant::now());
    }

    /// [`Hub::flush_presence`] at a given time (the tests' clock).
    pub(crate) fn flush_presence_at(&self, now: Instant) {
        let mut state = self.lock();
        let untold = std::mem::take(&mut state.untold);
        if untold.local_changed {
            self.request(HubRequest::LocalPresence(state.presence.local_list()));
        }
        if !untold.changes.is_empty() {
            self.tell_changes(&mut state, &untold.changes);
        }
        self.tell_page(&mut state, now);
    }

    fn tell_changes(&self, state: &mut State, changes: &[Change]) {
        // The list of everyone is for those who hear everyone: with none
        // here, a flush costs O(those who hear a change), not O(online).
        state.told_stale = state.audience.everyone.is_empty();
        if !state.told_stale {
            state.told = state.presence.names().into();
        }
        let everyone: Vec<ConnectionId> = state.audience.everyone.iter().copied().collect();
        for batch in changes.chunks(PRESENCE_BATCH_MAX) {
            let delivery = Delivery::new(Event::Presence(batch.into()));
            self.offer_all(state, everyone.clone(), &delivery);
        }
        for (id, heard) in state.audience.watched_changes(changes) {
            for batch in heard.chunks(PRESENCE_BATCH_MAX) {
                self.offer_all(state, vec![id], &Delivery::new(Event::Presence(batch.into())));
            }
        }
    }

    /// Tells watching connections the online list's first page if it
    /// changed, at most once per [`ONLINE_PAGE_EVERY`] (until then flushes
    /// are asked for, and the page waits); without the names when only the
    /// count changed.
    fn tell_page(&self, state: &mut State, now: Instant) {
        let page = state.presence.first_page();
        let names_changed = page.names != state.page_told.names;
        state.page_waiting = names_changed || page.total != state.page_told.total;
        if !state.page_waiting {
            return;
        }
        if state.page_told_at.is_some_and(|at| now.saturating_duration_since(at) < ONLINE_PAGE_EVERY) {
            self.flush_soon(state);
            return;
        }
        state.page_waiting = false;
        state.page_told_at = Some(now);
        let page = Arc::new(page);
        state.page_told = (*page).clone();
        let listeners: Vec<ConnectionId> = state.audience.watching.keys().copied().collect();
        self.offer_all(state, listeners, &Delivery::new(Event::OnlinePage { page, names_changed }));
    }

    /// Replaces the names a watching connection hears presence changes of
    /// (at most [`WATCH_MAX`](super::WATCH_MAX); the caller bounds them) and returns, for each
    /// name asked, whether they are online (spelled as their user spells it
    /// when they are), with the number of the last change that includes.
    pub fn watch_presence(&self, connection: ConnectionId, names: &[String]) -> (Vec<(String, bool)>, u64) {
        let mut state = self.lock();
        state.audience.watch(connection, names);
        let status = names
            .iter()
            .map(|name| match state.presence.online_as(name) {
                Some(shown) => (shown.to_owned(), true),
                None => (name.clone(), false),
            })
            .collect();
        (status, state.presence.version())
    }

    /// The online list's first page as watching connections were last
    /// told it (what a watching connection is welcomed with: the pages
    /// after it are told against it, so a page that says only the count
    /// changed is true for every watcher). O([`ONLINE_PAGE`](super::ONLINE_PAGE)) under the
    /// lock.
    pub fn online_page(&self) -> OnlinePage {
        self.lock().page_told.clone()
    }

    /// Up to `limit` online names that start with `prefix` (without case),
    /// after the name `after`, sorted without case, and whether more
    /// follow. O(limit + log online) under the lock.
    pub fn online_names(&self, prefix: &str, after: Option<&str>, limit: usize) -> (Vec<String>, bool) {
        let prefix = prefix.to_ascii_lowercase();
        self.lock().presence.page(&prefix, after, limit)
    }

    /// Names of the users online right after the presence change numbered
    /// `version` (see [`Event::Presence`]), sorted without case.
    pub fn online_users_after(&self, version: u64) -> Vec<String> {
        self.lock().presence.names_after(version)
    }

    /// Whether a user of this name (compared without case) is online
    /// anywhere in the cluster.
    pub fn is_online(&self, name: &str) -> bool {
        self.lock().presence.is_online(name)
    }

    /// Queues a change for the next flush: O(1) under the lock.
    pub(super) fn announce_presence(&self, state: &mut State, change: Change) {
        state.untold.changes.push(change);
        self.flush_soon(state);
    }

    /// This node's list changed: it is published at the next flush.
    pub(super) fn local_presence_changed(&self, state: &mut State) {
        state.untold.local_changed = true;
        self.flush_soon(state);
    }

    pub(super) fn flush_soon(&self, state: &mut State) {
        if !state.untold.flush_requested {
            state.untold.flush_requested = true;
            self.request(HubRequest::FlushPresence);
        }
    }
}
