//! In-memory login limits of one node: a token bucket per client address, and the lock-out of
//! names that are not users (so that "locked" does not tell an attacker which names exist).
//!
//! Both are pure state machines over a time in ms passed in by the caller (the store's clock),
//! so tests drive them with plain numbers. Both are bounded: when full they drop what no longer
//! matters (full buckets, expired locks), and if that is not enough, everything (a flood of
//! addresses or names then resets the limits rather than growing memory).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Most addresses tracked.
const MAX_ADDRESSES: usize = 100_000;
/// Most unknown names tracked.
const MAX_NAMES: usize = 10_000;

/// What an address is keyed by: IPv4 addresses whole, IPv6 by their /64 (one host usually has
/// a whole /64, and could otherwise use a new address for every attempt). IPv4-mapped IPv6
/// addresses count as their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct AddrKey(u128);

impl AddrKey {
    pub(super) fn of(addr: IpAddr) -> AddrKey {
        match addr {
            IpAddr::V4(v4) => AddrKey(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey(u128::from(u32::from(v4))),
                // Tagged with a bit no IPv4 key has, so the two spaces do not meet.
                None => AddrKey((u128::from(v6) & !((1u128 << 64) - 1)) | 1),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

/// A token bucket per address: `burst` attempts at once, refilled at `per_minute`.
#[derive(Debug)]
pub(super) struct AddressLimiter {
    burst: f64,
    per_ms: f64,
    buckets: Mutex<HashMap<AddrKey, Bucket>>,
}

impl AddressLimiter {
    pub(super) fn new(burst: u32, per_minute: u32) -> AddressLimiter {
        AddressLimiter {
            burst: f64::from(burst.max(1)),
            per_ms: f64::from(per_minute.max(1)) / 60_000.0,
            buckets: Mutex::default(),
        }
    }

    fn refilled(&self, b: Bucket, now_ms: i64) -> f64 {
        let elapsed = (now_ms - b.at_ms).max(0) as f64;
        (b.tokens + elapsed * self.per_ms).min(self.burst)
    }

    /// Takes one attempt for `addr` at `now_ms`: `Ok` if allowed, else `Err(ms until the next
    /// attempt is)`.
    pub(super) fn take(&self, addr: IpAddr, now_ms: i64) -> Result<(), i64> {
        let key = AddrKey::of(addr);
        // A panic while held cannot leave a half-made change (each is one map operation).
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let tokens = match buckets.get(&key) {
            Some(b) => self.refilled(*b, now_ms),
            None => self.burst,
        };
        if tokens < 1.0 {
            let wait = ((1.0 - tokens) / self.per_ms).ceil() as i64;
            return Err(wait.max(1));
        }
        if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(&key) {
            // A full bucket is the same as none.
            buckets.retain(|_, b| {
                (b.tokens + (now_ms - b.at_ms).max(0) as f64 * self.per_ms) < self.burst
            });
            if buckets.len() >= MAX_ADDRESSES {
                buckets.clear();
            }
        }
        buckets.insert(
            key,
            Bucket {
                tokens: tokens - 1.0,
                at_ms: now_ms,
            },
        );
        Ok(())
    }

    /// Addresses tracked (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct NameState {
    failures: u32,
    locked_until_ms: Option<i64>,
}

/// Failed logins of names that are not users, counted and locked exactly as the index does for
/// users (`UserIndex::record_login_failure`), but in this node's memory only.
#[derive(Debug, Default)]
pub(super) struct UnknownNames {
    names: Mutex<HashMap<String, NameState>>,
}

impl UnknownNames {
    /// When `name` is locked at `now_ms`: until when.
    pub(super) fn locked_until(&self, name: &str, now_ms: i64) -> Option<i64> {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names
            .get(name)
            .and_then(|s| s.locked_until_ms)
            .filter(|&until| until > now_ms)
    }

    /// Counts a failure; returns the lock if this one set it.
    pub(super) fn fail(
        &self,
        name: &str,
        now_ms: i64,
        max_failures: u32,
        lock_until_ms: i64,
    ) -> Option<i64> {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.len() >= MAX_NAMES && !names.contains_key(name) {
            names.retain(|_, s| s.locked_until_ms.is_some_and(|u| u > now_ms));
            if names.len() >= MAX_NAMES {
                names.clear();
            }
        }
        let s = names.entry(name.to_owned()).or_default();
        s.failures += 1;
        if s.failures >= max_failures.max(1) {
            s.failures = 0;
            s.locked_until_ms = Some(lock_until_ms);
            return Some(lock_until_ms);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_refill_rate() {
        let l = AddressLimiter::new(10, 10); // 10 at once, then one every 6 s
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..10 {
            assert_eq!(l.take(a, 0), Ok(()));
        }
        assert_eq!(l.take(a, 0), Err(6_000), "the 11th waits for a token");
        assert_eq!(l.take(b, 0), Ok(()), "another address has its own bucket");
        assert_eq!(l.take(a, 5_999), Err(1));
        assert_eq!(l.take(a, 6_000), Ok(()));
        assert!(l.take(a, 6_000).is_err());
        // A minute later the bucket is full again, and no fuller than the burst.
        for _ in 0..10 {
            assert_eq!(l.take(a, 600_000), Ok(()));
        }
        assert!(l.take(a, 600_000).is_err());
    }

    #[test]
    fn ipv6_hosts_are_limited_by_their_64() {
        let l = AddressLimiter::new(2, 1);
        let x: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let y: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(l.take(x, 0), Ok(()));
        assert_eq!(l.take(y, 0), Ok(()));
        assert!(l.take(x, 0).is_err(), "same /64");
        assert_eq!(l.take(other, 0), Ok(()));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(AddrKey::of(mapped), AddrKey::of(v4));
        assert_ne!(AddrKey::of("::c000:207".parse().unwrap()), AddrKey::of(v4));
        assert_eq!(l.len(), 2, "x and y share a bucket");
    }

    #[test]
    fn unknown_names_lock_like_users() {
        let u = UnknownNames::default();
        for _ in 0..4 {
            assert_eq!(u.fail("ghost", 0, 5, 900_000), None);
        }
        assert_eq!(u.locked_until("ghost", 0), None);
        assert_eq!(u.fail("ghost", 0, 5, 900_000), Some(900_000));
        assert_eq!(u.locked_until("ghost", 899_999), Some(900_000));
        assert_eq!(u.locked_until("ghost", 900_000), None, "the lock ends");
        assert_eq!(u.locked_until("other", 0), None);
    }
}
