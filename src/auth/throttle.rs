//! Throttling of the account endpoints. A token bucket per client address
//! slows password guessing and mass account creation from one place; a
//! lockout per username (doubling with every further failure) slows guessing
//! one account from many places. Unknown usernames are locked out exactly
//! like real ones, so a lockout reveals nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::limits::AddressBuckets;

/// Login attempts allowed per client address: a burst, then one per refill.
pub(super) const LOGIN_BURST: f64 = 10.0;
pub(super) const LOGIN_REFILL: Duration = Duration::from_secs(6);
/// The first lockout; each further failure doubles it, up to the maximum.
const FIRST_LOCKOUT: Duration = Duration::from_secs(1);
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Usernames tracked before unlocked ones are forgotten, bounding memory.
const TRACKED: usize = 10_000;

/// How long a username is locked after `failures` failures in a row: none
/// before the threshold, then the first lockout, doubling, up to the maximum.
fn lockout_after(failures: u32, threshold: u32) -> Option<Duration> {
    let beyond = failures.checked_sub(threshold)?;
    Some(FIRST_LOCKOUT.saturating_mul(1 << beyond.min(20)).min(MAX_LOCKOUT))
}

/// How long a cluster remembers a username's failures after the last one.
pub(super) const FAILURES_REMEMBERED: Duration = MAX_LOCKOUT;

struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

pub(super) struct Throttle {
    failures_before_lockout: u32,
    logins: AddressBuckets,
    creations: AddressBuckets,
    /// Keyed by valid, lower-cased usernames only (at most 32 bytes each).
    per_username: HashMap<String, Failures>,
}

impl Throttle {
    pub(super) fn new(failures_before_lockout: u32, creations_per_minute: f64) -> Self {
        Self {
            failures_before_lockout,
            logins: AddressBuckets::new(1.0 / LOGIN_REFILL.as_secs_f64(), LOGIN_BURST),
            creations: AddressBuckets::new(creations_per_minute / 60.0, creations_per_minute.max(1.0)),
            per_username: HashMap::new(),
        }
    }

    /// Whether a login attempt from `address` may proceed at all.
    pub(super) fn allow_login_from(&mut self, address: IpAddr) -> bool {
        self.logins.take(address)
    }

    /// Whether `username_key` is locked out now.
    pub(super) fn is_locked(&self, username_key: &str) -> bool {
        let now = Instant::now();
        self.per_username
            .get(username_key)
            .and_then(|failures| failures.locked_until)
            .is_some_and(|until| until > now)
    }

    /// Whether an account (registered or guest) may be created from `address`.
    pub(super) fn allow_creation_from(&mut self, address: IpAddr) -> bool {
        self.creations.take(address)
    }

    pub(super) fn failed(&mut self, username_key: &str) {
        let now = Instant::now();
        if self.per_username.len() >= TRACKED {
            self.per_username.retain(|_, failures| failures.locked_until.is_some_and(|until| until > now));
        }
        let failures = self
            .per_username
            .entry(username_key.to_owned())
            .or_insert(Failures { count: 0, locked_until: None });
        failures.count += 1;
        if let Some(lockout) = lockout_after(failures.count, self.failures_before_lockout) {
            failures.locked_until = Some(now + lockout);
            if failures.count == self.failures_before_lockout {
                tracing::info!("a username is locked out after repeated failed logins");
            }
        }
    }

    /// The lockout after `failures` failures in a row, if any.
    pub(super) fn lockout_for(&self, failures: u32) -> Option<Duration> {
        lockout_after(failures, self.failures_before_lockout)
    }

    pub(super) fn succeeded(&mut self, username_key: &str) {
        self.per_username.remove(username_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_a_username_after_repeated_failures_whatever_the_address() {
        let mut throttle = Throttle::new(3, 30.0);
        for _ in 0..3 {
            assert!(!throttle.is_locked("alice"));
            throttle.failed("alice");
        }
        assert!(throttle.is_locked("alice"));
        assert!(!throttle.is_locked("bob"), "other names are unaffected");
        throttle.succeeded("alice");
        assert!(!throttle.is_locked("alice"));
    }

    #[test]
    fn limits_attempts_and_creations_per_address() {
        let mut throttle = Throttle::new(1000, 5.0);
        let address: IpAddr = "127.0.0.9".parse().unwrap();
        assert_eq!((0..20).filter(|_| throttle.allow_login_from(address)).count(), LOGIN_BURST as usize);
        assert_eq!((0..20).filter(|_| throttle.allow_creation_from(address)).count(), 5);
        let elsewhere: IpAddr = "127.0.0.10".parse().unwrap();
        assert!(throttle.allow_login_from(elsewhere) && throttle.allow_creation_from(elsewhere));
    }
}
