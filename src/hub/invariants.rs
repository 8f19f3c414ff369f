//! The hub's invariants: its parts (registry, presence, routes, audience)
//! agree with each other. Checked by the hub's tests after every step.

use super::Hub;
use super::presence;
use super::registry::Registry;
use super::routes::Route;
use crate::model::ChannelId;

impl Hub {
    /// Checks that the hub's parts agree with each other; panics with the
    /// first disagreement. Called by the hub's tests after every step.
    pub fn check_invariants(&self) {
        let state = self.lock();
        let registry = &state.registry;
        for (id, connection) in &registry.connections {
            assert!(
                registry.users.get(&connection.user).is_some_and(|ids| ids.contains(id)),
                "connection {id:?} is missing from its user's connections"
            );
            assert!(state.presence.is_local(connection.user), "connected user of {id:?} is not shown online");
            assert!(!connection.dropped || connection.channels.is_empty(), "dropped {id:?} kept channels");
            for channel in &connection.channels {
                let routes = self.routes.shard(*channel);
                assert!(
                    routes.0.get(channel).is_some_and(|route| route.subscribers.contains_key(id)),
                    "{id:?} says it hears {channel:?} but the route does not list it"
                );
            }
        }
        for (user, ids) in &registry.users {
            assert!(!ids.is_empty(), "user {user:?} kept an empty connection set");
            for id in ids {
                assert!(
                    registry.connections.get(id).is_some_and(|c| c.user == *user),
                    "user {user:?} lists {id:?}, which is not theirs"
                );
            }
        }
        for routes in self.routes.each() {
            for (channel, route) in &routes.0 {
                check_route(registry, *channel, route);
            }
        }
        for id in &state.announcements {
            assert!(
                registry.connections.get(id).is_some_and(|c| c.interests.announcements && !c.dropped),
                "{id:?} hears announcements it did not ask for, or is gone"
            );
        }
        let untold = &state.untold;
        assert!(
            untold.flush_requested || (untold.changes.is_empty() && !untold.local_changed),
            "presence changes wait with no flush requested"
        );
        assert!(
            untold.flush_requested || !state.page_waiting,
            "a page waits to be told with no flush requested"
        );
        if !state.told_stale {
            assert_eq!(
                presence::apply_changes(&state.told, &untold.name_changes()),
                state.presence.names(),
                "the told list and the untold changes do not make who is online"
            );
        }
        assert_eq!(
            state.presence.names(),
            state.presence.names_recounted(),
            "the online index disagrees with who is here and elsewhere"
        );
        let audience = &state.audience;
        for (id, connection) in &registry.connections {
            let everyone = audience.everyone.contains(id);
            let watching = audience.watching.contains_key(id);
            assert!(
                connection.dropped || everyone != watching,
                "{id:?} should be in exactly one presence audience"
            );
            assert!(everyone || watching || connection.dropped, "{id:?} hears no presence");
        }
        for id in audience.everyone.iter().chain(audience.watching.keys()) {
            assert!(
                registry.connections.get(id).is_some_and(|c| !c.dropped),
                "{id:?} hears presence but is gone or dropped"
            );
        }
        for (name, ids) in &audience.watchers {
            assert!(!ids.is_empty(), "{name} kept an empty watcher set");
            for id in ids {
                assert!(
                    audience.watching.get(id).is_some_and(|names| names.contains(name)),
                    "{id:?} is listed as watching {name} but does not"
                );
            }
        }
    }
}

/// A route lists only live, undropped connections that say they hear its
/// channel, each with its own outlet, and waits behind a gap only with a
/// fill requested.
fn check_route(registry: &Registry, channel: ChannelId, route: &Route) {
    for (id, outlet) in &route.subscribers {
        let connection = registry.connections.get(id);
        assert!(
            connection.is_some_and(|c| !c.dropped && c.channels.contains(&channel)),
            "route {channel:?} lists {id:?}, which is gone, dropped or not subscribed"
        );
        assert!(
            connection.is_some_and(|c| std::sync::Arc::ptr_eq(&c.outlet, outlet)),
            "route {channel:?} holds another outlet than {id:?}'s"
        );
    }
    if let Some((first, _)) = route.pending.first_key_value() {
        assert!(*first > route.delivered, "route {channel:?} holds {first:?} at or below its delivered seq");
        assert!(route.fill_requested, "route {channel:?} waits behind a gap with no fill requested");
    }
}
