//! Admission of WebSocket connections: a cap on the node's total and on each
//! client address. A permit is taken before the upgrade and released when the
//! session ends, however it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The node holds as many connections as it may.
    NodeFull,
    /// This address holds as many connections as it may.
    AddressFull,
}

pub(super) struct Admission {
    max_total: usize,
    max_per_address: usize,
    /// Open connections per address; the sum is the total.
    open: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// Holds one connection's place; dropping it frees the place.
pub(super) struct Permit {
    admission: Arc<Admission>,
    address: IpAddr,
}

impl Admission {
    pub(super) fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Self { max_total, max_per_address, open: Mutex::new(Counts::default()) })
    }

    pub(super) fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Permit, Refusal> {
        let mut counts = self.open.lock().expect("admission lock is never poisoned");
        if counts.total >= self.max_total {
            return Err(Refusal::NodeFull);
        }
        let from_address = counts.per_address.entry(address).or_insert(0);
        if *from_address >= self.max_per_address {
            return Err(Refusal::AddressFull);
        }
        *from_address += 1;
        counts.total += 1;
        Ok(Permit { admission: Arc::clone(self), address })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.admission.open.lock().expect("admission lock is never poisoned");
        counts.total -= 1;
        if let Some(from_address) = counts.per_address.get_mut(&self.address) {
            *from_address -= 1;
            if *from_address == 0 {
                counts.per_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_total_and_frees_on_drop() {
        let admission = Admission::new(3, 2);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).err(), Some(Refusal::AddressFull));
        let _third = admission.admit(b).unwrap();
        assert_eq!(admission.admit(b).err(), Some(Refusal::NodeFull));
        drop(first);
        assert!(admission.admit(a).is_ok());
        assert_eq!(admission.open.lock().unwrap().per_address.len(), 2);
    }
}
