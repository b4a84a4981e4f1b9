//! Connection caps: how many connections are open, in all and per client address. A connection
//! over a cap is closed as soon as it is accepted, before any of its bytes are read, so a
//! client opening connections in a loop costs a descriptor for a moment and nothing else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The open connections, counted.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_address: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server's cap.
    Total,
    /// The client address's cap.
    Address,
}

/// One counted connection; dropping it uncounts it.
#[derive(Debug)]
pub struct Permit {
    limits: Arc<ConnectionLimits>,
    address: IpAddr,
}

impl ConnectionLimits {
    /// Caps of `max_total` connections, at most half of `fd_limit` (the open-file limit), and
    /// `max_per_address` per client address.
    pub fn new(max_total: usize, max_per_address: usize, fd_limit: Option<u64>) -> Self {
        let by_fds = fd_limit
            .and_then(|l| usize::try_from(l / 2).ok())
            .unwrap_or(usize::MAX)
            .max(1);
        ConnectionLimits {
            max_total: max_total.min(by_fds),
            max_per_address,
            open: Mutex::new(Open::default()),
        }
    }

    /// The effective server-wide cap.
    pub fn max_total(&self) -> usize {
        self.max_total
    }

    /// Counts a connection from `address`, unless a cap is reached.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Permit, Refused> {
        let address = canonical(address);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= self.max_total {
            return Err(Refused::Total);
        }
        let n = open.by_address.entry(address).or_insert(0);
        if *n >= self.max_per_address {
            return Err(Refused::Address);
        }
        *n += 1;
        open.total += 1;
        Ok(Permit {
            limits: Arc::clone(self),
            address,
        })
    }

    /// Connections open now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.open.lock().map(|o| o.total).unwrap_or(0)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

/// An IPv4 client reached over an IPv6 socket (`::ffff:a.b.c.d`) counts as its IPv4 address.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_and_release() {
        let l = Arc::new(ConnectionLimits::new(3, 2, None));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        let a1 = l.admit(a).unwrap();
        let _a2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).unwrap_err(), Refused::Address);
        let _b1 = l.admit(b).unwrap();
        assert_eq!(l.admit(c).unwrap_err(), Refused::Total);
        drop(a1);
        assert_eq!(l.open(), 2);
        // The mapped form and the plain form are one address.
        let _b2 = l.admit("10.0.0.2".parse().unwrap()).unwrap();
        assert_eq!(
            l.admit("10.0.0.2".parse().unwrap()).unwrap_err(),
            Refused::Total
        );
    }

    #[test]
    fn the_fd_limit_bounds_the_total() {
        assert_eq!(
            ConnectionLimits::new(10_000, 10, Some(256)).max_total(),
            128
        );
        assert_eq!(
            ConnectionLimits::new(100, 10, Some(1 << 20)).max_total(),
            100
        );
    }
}
