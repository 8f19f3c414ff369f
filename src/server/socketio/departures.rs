//! Who may take a guest's name back after a reconnect.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::UserId;

/// Departures remembered for reclaim. When full, expired ones are dropped; if
/// none have expired, a new departure is not remembered and that guest's name
/// simply comes free after the grace period.
const MAX_DEPARTURES: usize = 10_000;

/// Remembers which browser (by the hash of its `natter_sio` cookie) each
/// named guest's last Socket.IO connection belonged to, so that browser, and
/// only it, can take the name back within the grace period. A client address
/// is no evidence: behind a proxy or in an office everyone shares one.
#[derive(Default)]
pub(super) struct Departures(Mutex<HashMap<UserId, Departure>>);

struct Departure {
    secret: [u8; 32],
    at: Instant,
}

impl Departures {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Departure>> {
        self.0.lock().expect("departures lock is never poisoned")
    }

    pub(super) fn record(&self, user: UserId, secret: [u8; 32], grace: Duration) {
        let mut departures = self.lock();
        if departures.len() >= MAX_DEPARTURES {
            departures.retain(|_, departure| departure.at.elapsed() < grace);
        }
        if departures.len() < MAX_DEPARTURES || departures.contains_key(&user) {
            departures.insert(user, Departure { secret, at: Instant::now() });
        }
    }

    /// Whether `user`'s last connection was this browser's, within `grace`.
    pub(super) fn is_recent(&self, user: UserId, secret: [u8; 32], grace: Duration) -> bool {
        self.lock().get(&user).is_some_and(|d| d.secret == secret && d.at.elapsed() < grace)
    }

    pub(super) fn forget(&self, user: UserId) {
        self.lock().remove(&user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departures_match_the_browser_secret_and_age() {
        let departures = Departures::default();
        let (user, home, elsewhere) = (UserId(7), [1u8; 32], [2u8; 32]);
        let grace = Duration::from_secs(5);
        assert!(!departures.is_recent(user, home, grace));
        departures.record(user, home, grace);
        assert!(departures.is_recent(user, home, grace));
        assert!(!departures.is_recent(user, elsewhere, grace));
        assert!(!departures.is_recent(user, home, Duration::ZERO), "expired");
        departures.forget(user);
        assert!(!departures.is_recent(user, home, grace));
    }
}
