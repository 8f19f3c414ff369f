//! Read budgets shared by all of a user's and all of an address's
//! connections. Each connection has its own request budget too, but one
//! person (or one address) with a thousand connections would otherwise get
//! a thousand budgets: reads (history pages, channel lists, switching
//! channels) also draw on the user's and the address's buckets here, so
//! nobody can make the server read and send without bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::limits::{AddressBuckets, Limits, TRACKED_BUCKETS, TokenBucket};
use crate::model::UserId;

pub(super) struct ReadBudgets {
    per_user: (f64, f64),
    users: Mutex<HashMap<UserId, TokenBucket>>,
    addresses: Mutex<AddressBuckets>,
}

impl ReadBudgets {
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            per_user: (limits.reads_per_user_per_second, limits.reads_per_user_per_second * 2.0),
            users: Mutex::new(HashMap::new()),
            addresses: Mutex::new(AddressBuckets::new(
                limits.reads_per_address_per_second,
                limits.reads_per_address_per_second * 2.0,
            )),
        }
    }

    /// Takes one read from `user`'s and `address`'s budgets; false, and
    /// nothing taken from either, when one of them is spent.
    pub(super) fn take(&self, user: UserId, address: IpAddr) -> bool {
        let mut users = self.users.lock().expect("read budget lock is never poisoned");
        if users.len() >= TRACKED_BUCKETS {
            users.retain(|_, bucket| !bucket.is_full());
        }
        let (rate, burst) = self.per_user;
        let bucket = users.entry(user).or_insert_with(|| TokenBucket::new(rate, burst));
        if !bucket.has_token() {
            return false;
        }
        if !self.addresses.lock().expect("read budget lock is never poisoned").take(address) {
            return false;
        }
        bucket.try_take()
    }
}

impl ReadBudgets {
    /// Takes one read, waiting for the budgets to refill if they are spent:
    /// for reads that must happen (resume replays), which so slow down
    /// instead of failing.
    pub(super) async fn wait_for(&self, user: UserId, address: IpAddr) {
        while !self.take(user, address) {
            tokio::time::sleep(REFILL_WAIT).await;
        }
    }
}

/// How long a waiting read sleeps before it looks at the budgets again.
const REFILL_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_connections_share_one_user_and_one_address_budget() {
        let limits =
            Limits { reads_per_user_per_second: 5.0, reads_per_address_per_second: 8.0, ..Limits::default() };
        let budgets = ReadBudgets::new(&limits);
        let office: IpAddr = "10.1.1.1".parse().unwrap();
        let (alice, bob) = (UserId(1), UserId(2));
        assert_eq!((0..50).filter(|_| budgets.take(alice, office)).count(), 10, "alice's burst");
        assert_eq!((0..50).filter(|_| budgets.take(bob, office)).count(), 6, "what is left of the office's");
        let home: IpAddr = "10.2.2.2".parse().unwrap();
        assert!(!budgets.take(alice, home), "alice is spent wherever she is");
    }
}
