//! Login throttling: failed secrets are counted per client id *and* source address, so that one
//! address guessing a key's secret is slowed down without locking the key's owner out from
//! another address.
//!
//! A check takes a failure slot before it starts and gives it back when the secret was right (or
//! when no check ran), in one atomic step per key: concurrent wrong secrets cannot all pass the
//! limit by reading the count before any of them has failed.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use moka::ops::compute::{CompResult, Op};
use moka::sync::Cache;

/// Failed checks allowed per client id and source within [`FAILURE_WINDOW`] before 429.
pub const MAX_FAILURES: u32 = 10;
/// How long failures are remembered after the last one.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

type LedgerKey = (String, IpAddr);

/// The failure counts of this replica.
#[derive(Debug, Clone)]
pub struct FailureLedger {
    counts: Cache<LedgerKey, u32>,
}

impl Default for FailureLedger {
    fn default() -> Self {
        Self {
            counts: Cache::builder()
                .time_to_live(FAILURE_WINDOW)
                .max_capacity(100_000)
                .build(),
        }
    }
}

/// The source a failure is counted against: an IPv6 client is counted by its /64, the block one
/// host usually has to itself (it could otherwise try every address of it).
fn source_of(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let block = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(block))
        }
        v4 => v4,
    }
}

impl FailureLedger {
    /// Takes a failure slot for a check of `client_id` from `address`; `None` while that pair
    /// has failed [`MAX_FAILURES`] times (429).
    pub fn reserve(&self, client_id: &str, address: IpAddr) -> Option<FailureSlot> {
        let key = (client_id.to_string(), source_of(address));
        let taken = self.counts.entry(key.clone()).and_compute_with(|entry| {
            match entry.map_or(0, |e| e.into_value()) {
                used if used >= MAX_FAILURES => Op::Nop,
                used => Op::Put(used + 1),
            }
        });
        matches!(taken, CompResult::Inserted(_) | CompResult::ReplacedWith(_)).then(|| {
            FailureSlot {
                ledger: self.clone(),
                key: Some(key),
            }
        })
    }

    fn give_back(&self, key: LedgerKey) {
        self.counts.entry(key).and_compute_with(|entry| {
            match entry.map_or(0, |e| e.into_value()) {
                0 => Op::Nop,
                1 => Op::Remove,
                used => Op::Put(used - 1),
            }
        });
    }
}

/// A reserved failure: given back when dropped, unless [`FailureSlot::keep`] recorded it.
#[derive(Debug)]
pub struct FailureSlot {
    ledger: FailureLedger,
    key: Option<LedgerKey>,
}

impl FailureSlot {
    /// The check failed: the failure stays counted.
    pub fn keep(mut self) {
        self.key = None;
    }
}

impl Drop for FailureSlot {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.ledger.give_back(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn failures_are_counted_per_client_id_and_source() {
        let ledger = FailureLedger::default();
        for _ in 0..MAX_FAILURES {
            ledger.reserve("K", ip("127.0.0.1")).unwrap().keep();
        }
        assert!(ledger.reserve("K", ip("127.0.0.1")).is_none());
        assert!(ledger.reserve("K", ip("127.0.0.2")).is_some());
        assert!(ledger.reserve("other", ip("127.0.0.1")).is_some());
    }

    #[test]
    fn slots_are_taken_before_the_check_and_given_back_on_success() {
        let ledger = FailureLedger::default();
        let pending: Vec<_> = (0..MAX_FAILURES)
            .map(|_| ledger.reserve("K", ip("10.1.1.1")).unwrap())
            .collect();
        // every slot is taken by a check still running: the next caller is refused at once
        assert!(ledger.reserve("K", ip("10.1.1.1")).is_none());
        drop(pending); // all of them succeeded
        for _ in 0..MAX_FAILURES {
            ledger.reserve("K", ip("10.1.1.1")).unwrap().keep();
        }
        assert!(ledger.reserve("K", ip("10.1.1.1")).is_none());
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_block() {
        let ledger = FailureLedger::default();
        for i in 0..MAX_FAILURES {
            ledger
                .reserve("K", ip(&format!("2001:db8:1:2::{i:x}")))
                .unwrap()
                .keep();
        }
        assert!(ledger.reserve("K", ip("2001:db8:1:2:ffff::1")).is_none());
        assert!(ledger.reserve("K", ip("2001:db8:1:3::1")).is_some());
        assert_eq!(source_of(ip("::ffff:127.0.0.2")), ip("127.0.0.2"));
    }
}
