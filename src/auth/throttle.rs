//! Throttling of the account endpoints.
//!
//! - A token bucket per client address, drawn on only by failed logins,
//!   slows guessing from one place; people signing in correctly from one
//!   office address never use it up. Another bucket slows mass account
//!   creation per address.
//! - A lockout per username and address (doubling with every further
//!   failure) stops guessing one account from one place.
//! - A lockout per username alone stops guessing one account from many
//!   places, but it holds only against addresses that have already failed
//!   for that name: the owner, signing in from an address of their own, is
//!   never locked out by someone else's failures. An attacker with many
//!   addresses so gets one guess per fresh address while the name is locked,
//!   and the name's schedule besides.
//!
//! Unknown usernames are locked out exactly like real ones, so a lockout
//! reveals nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::limits::AddressBuckets;

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
    /// The lock before the last failure set a new one, so a failure taken
    /// back (a right password, see `Throttle::succeeded`) leaves the lock as
    /// the real failures made it.
    earlier_lock: Option<Instant>,
}

pub(super) struct Throttle {
    failures_before_lockout: u32,
    failed_logins: AddressBuckets,
    creations: AddressBuckets,
    /// Keyed by lockout keys ([`pair_key`] and valid, lower-cased usernames;
    /// short by construction).
    failures: HashMap<String, Failures>,
}

/// The lockout key of one username tried from one address. Usernames
/// cannot contain `|`, so it never equals a username's key.
pub(super) fn pair_key(username_key: &str, address: IpAddr) -> String {
    format!("{username_key}|{}", crate::limits::address_key(address))
}

impl Throttle {
    pub(super) fn new(
        failures_before_lockout: u32,
        failed_logins_per_minute: f64,
        creations_per_minute: f64,
    ) -> Self {
        Self {
            failures_before_lockout,
            failed_logins: AddressBuckets::new(
                failed_logins_per_minute / 60.0,
                failed_logins_per_minute.max(1.0),
            ),
            creations: AddressBuckets::new(creations_per_minute / 60.0, creations_per_minute.max(1.0)),
            failures: HashMap::new(),
        }
    }

    /// Whether a login of `username_key` from `address` may proceed: the
    /// address has failed logins left and the name is not locked for it. If
    /// so, the attempt is counted as a failure at once, in the same step, so
    /// a burst of concurrent guesses is limited exactly as the same guesses
    /// one after another would be; [`Throttle::succeeded`] takes the count
    /// back when the password was right. Successful logins so never draw on
    /// anything.
    pub(super) fn begin_attempt(&mut self, username_key: &str, address: IpAddr) -> bool {
        if !self.failed_logins.has_token(address) || self.is_locked(username_key, address) {
            return false;
        }
        self.failed(username_key, address);
        true
    }

    /// Whether `username_key` is locked out for attempts from `address`.
    pub(super) fn is_locked(&self, username_key: &str, address: IpAddr) -> bool {
        let pair = pair_key(username_key, address);
        self.locked(&pair) || (self.failures.contains_key(&pair) && self.locked(username_key))
    }

    fn locked(&self, key: &str) -> bool {
        let now = Instant::now();
        self.failures.get(key).and_then(|failures| failures.locked_until).is_some_and(|until| until > now)
    }

    /// Whether an account (registered or guest) may be created from `address`.
    pub(super) fn allow_creation_from(&mut self, address: IpAddr) -> bool {
        self.creations.take(address)
    }

    /// Counts a failed login of `username_key` from `address`: against the
    /// address's budget, the pair's lockout and the name's.
    pub(super) fn failed(&mut self, username_key: &str, address: IpAddr) {
        self.failed_logins.take(address);
        self.count_failure(&pair_key(username_key, address));
        self.count_failure(username_key);
    }

    fn count_failure(&mut self, key: &str) {
        let now = Instant::now();
        if self.failures.len() >= TRACKED {
            self.failures.retain(|_, failures| failures.locked_until.is_some_and(|until| until > now));
        }
        let failures = self.failures.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            locked_until: None,
            earlier_lock: None,
        });
        failures.count += 1;
        failures.earlier_lock = failures.locked_until;
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

    /// A correct password from `address`, after [`Throttle::begin_attempt`]
    /// counted it as a failure: the address's token is given back, the pair
    /// starts afresh, and the name's count loses this attempt (and its lock,
    /// if this attempt alone set it). The name's earlier failures stay, or
    /// the owner signing in would hand whoever guesses from elsewhere a fresh
    /// set of tries.
    pub(super) fn succeeded(&mut self, username_key: &str, address: IpAddr) {
        self.failed_logins.refund(address);
        self.failures.remove(&pair_key(username_key, address));
        if let Some(failures) = self.failures.get_mut(username_key) {
            failures.count = failures.count.saturating_sub(1);
            failures.locked_until = failures.earlier_lock;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_from_one_address_never_lock_the_owner_out_elsewhere() {
        let mut throttle = Throttle::new(3, 1000.0, 30.0);
        let (attacker, owner): (IpAddr, IpAddr) = ("10.0.0.66".parse().unwrap(), "10.0.0.7".parse().unwrap());
        for _ in 0..3 {
            assert!(!throttle.is_locked("alice", attacker));
            throttle.failed("alice", attacker);
        }
        assert!(throttle.is_locked("alice", attacker), "the guessing address is locked");
        assert!(!throttle.is_locked("alice", owner), "the owner's address is not");
        assert!(!throttle.is_locked("bob", attacker), "other names are unaffected");
        throttle.succeeded("alice", owner);
        assert!(throttle.is_locked("alice", attacker), "the owner's success frees nobody else");
    }

    #[test]
    fn the_name_lock_holds_against_every_address_that_failed() {
        let mut throttle = Throttle::new(3, 1000.0, 30.0);
        let addresses: Vec<IpAddr> = (1..=3).map(|i| IpAddr::from([10, 0, 1, i])).collect();
        // One failure from each of three addresses: no pair reaches the
        // threshold, but the name does.
        for address in &addresses {
            throttle.failed("alice", *address);
        }
        for address in &addresses {
            assert!(throttle.is_locked("alice", *address), "{address} failed before: the name lock holds");
        }
        assert!(!throttle.is_locked("alice", IpAddr::from([10, 0, 1, 99])), "a fresh address gets its try");
    }

    #[test]
    fn only_failed_logins_draw_on_the_address_budget() {
        let mut throttle = Throttle::new(1000, 10.0, 5.0);
        let address: IpAddr = "127.0.0.9".parse().unwrap();
        // Successful logins (counted, then taken back) are unlimited.
        for _ in 0..100 {
            assert!(throttle.begin_attempt("alice", address));
            throttle.succeeded("alice", address);
        }
        for _ in 0..10 {
            assert!(throttle.begin_attempt("someone", address));
        }
        assert!(!throttle.begin_attempt("alice", address), "ten failures use up the budget");
        assert_eq!((0..20).filter(|_| throttle.allow_creation_from(address)).count(), 5);
        let elsewhere: IpAddr = "127.0.0.10".parse().unwrap();
        assert!(throttle.begin_attempt("alice", elsewhere) && throttle.allow_creation_from(elsewhere));
    }

    #[test]
    fn concurrent_attempts_are_counted_before_their_outcome() {
        // Attempts that have not finished yet count already: a burst of
        // guesses from one address stops at the lockout threshold, not at
        // whatever got through before the first answer.
        let mut throttle = Throttle::new(3, 1000.0, 30.0);
        let address: IpAddr = "10.0.0.66".parse().unwrap();
        let admitted = (0..20).filter(|_| throttle.begin_attempt("alice", address)).count();
        assert_eq!(admitted, 3);
        // The owner's right password elsewhere, mid-burst, takes back only its own count.
        let owner: IpAddr = "10.0.0.7".parse().unwrap();
        assert!(throttle.begin_attempt("alice", owner));
        throttle.succeeded("alice", owner);
        assert!(throttle.is_locked("alice", address), "the guesser stays locked");
        assert!(!throttle.is_locked("alice", owner));
    }
}
