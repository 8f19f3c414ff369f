//! Login throttling: a token bucket per client address slows guessing from
//! one place, and a lockout per username (doubling with every further
//! failure) slows guessing one account from many places. Unknown usernames
//! are locked out exactly like real ones, so a lockout reveals nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::limits::TokenBucket;

/// Login attempts allowed per client address: a burst, then one per refill.
const ADDRESS_BURST: f64 = 10.0;
const ADDRESS_REFILL: Duration = Duration::from_secs(6);
/// The first lockout; each further failure doubles it, up to the maximum.
const FIRST_LOCKOUT: Duration = Duration::from_secs(1);
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Entries kept before idle ones are forgotten, bounding memory.
const TRACKED: usize = 10_000;

struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

pub(super) struct LoginThrottle {
    failures_before_lockout: u32,
    per_address: HashMap<IpAddr, TokenBucket>,
    per_username: HashMap<String, Failures>,
}

impl LoginThrottle {
    pub(super) fn new(failures_before_lockout: u32) -> Self {
        Self { failures_before_lockout, per_address: HashMap::new(), per_username: HashMap::new() }
    }

    /// Whether an attempt from `address` on `username_key` may proceed.
    pub(super) fn allow(&mut self, address: IpAddr, username_key: &str) -> bool {
        let now = Instant::now();
        if self.per_address.len() >= TRACKED {
            self.per_address.retain(|_, bucket| !bucket.is_full());
        }
        let bucket = self
            .per_address
            .entry(address)
            .or_insert_with(|| TokenBucket::new(1.0 / ADDRESS_REFILL.as_secs_f64(), ADDRESS_BURST));
        if !bucket.try_take() {
            return false;
        }
        let locked = self
            .per_username
            .get(username_key)
            .and_then(|failures| failures.locked_until)
            .is_some_and(|until| until > now);
        !locked
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
        if let Some(beyond) = failures.count.checked_sub(self.failures_before_lockout) {
            let lockout = FIRST_LOCKOUT.saturating_mul(1 << beyond.min(20)).min(MAX_LOCKOUT);
            failures.locked_until = Some(now + lockout);
            if beyond == 0 {
                tracing::info!("a username is locked out after repeated failed logins");
            }
        }
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
        let mut throttle = LoginThrottle::new(3);
        let addresses: Vec<IpAddr> = (1..=5).map(|n| format!("127.0.0.{n}").parse().unwrap()).collect();
        for address in &addresses[..3] {
            assert!(throttle.allow(*address, "alice"));
            throttle.failed("alice");
        }
        assert!(!throttle.allow(addresses[3], "alice"), "locked from a fresh address too");
        assert!(throttle.allow(addresses[3], "bob"), "other names are unaffected");
        throttle.succeeded("alice");
        assert!(throttle.allow(addresses[4], "alice"));
    }

    #[test]
    fn limits_attempts_per_address() {
        let mut throttle = LoginThrottle::new(1000);
        let address: IpAddr = "127.0.0.9".parse().unwrap();
        let allowed = (0..20).filter(|n| throttle.allow(address, &format!("user{n}"))).count();
        assert_eq!(allowed, ADDRESS_BURST as usize);
    }
}
