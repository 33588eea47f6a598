//! The delay after failed authentication, per source address, so password guessing is slow.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

/// Addresses remembered at most; beyond it the one whose delay ends first is forgotten.
const MAX_ADDRESSES: usize = 65_536;

/// Failed authentications per source address and when the next CONNECT from it may be handled.
///
/// Each failure makes the next CONNECT from that address wait `base`, doubled for every further
/// failure, up to `max`; failures are forgotten once an address has been quiet for twice `max`.
/// A successful login does not reset the count, so a guesser holding one good account gains
/// nothing by mixing it in.
#[derive(Debug)]
pub(crate) struct AuthThrottle {
    base: Duration,
    max: Duration,
    addresses: BTreeMap<IpAddr, Failures>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// When the next CONNECT from the address may be handled.
    until: Instant,
}

impl AuthThrottle {
    pub(crate) fn new(base: Duration, max: Duration) -> AuthThrottle {
        AuthThrottle { base, max, addresses: BTreeMap::new() }
    }

    /// Records a refused CONNECT from `ip` at `now`.
    pub(crate) fn failed(&mut self, ip: IpAddr, now: Instant) {
        if self.base.is_zero() {
            return;
        }
        let forget_after = self.max * 2;
        let entry = self.addresses.entry(ip).or_insert(Failures { count: 0, until: now });
        if now.saturating_duration_since(entry.until) > forget_after {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        let delay = self.base.saturating_mul(1 << (entry.count - 1).min(16)).min(self.max);
        // Parallel guesses queue up behind each other.
        entry.until = entry.until.max(now) + delay;
        if self.addresses.len() > MAX_ADDRESSES {
            let first = self.addresses.iter().min_by_key(|(_, f)| f.until).map(|(ip, _)| *ip);
            if let Some(ip) = first {
                self.addresses.remove(&ip);
            }
        }
    }

    /// When a CONNECT from `ip` arriving at `now` may be handled, if it must wait.
    pub(crate) fn not_before(&self, ip: IpAddr, now: Instant) -> Option<Instant> {
        self.addresses.get(&ip).map(|f| f.until).filter(|&until| until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failures_double_the_wait_per_address_up_to_the_maximum() {
        let mut throttle = AuthThrottle::new(Duration::from_secs(1), Duration::from_secs(4));
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        let t0 = Instant::now();
        assert_eq!(throttle.not_before(a, t0), None);
        throttle.failed(a, t0);
        assert_eq!(throttle.not_before(a, t0), Some(t0 + Duration::from_secs(1)));
        assert_eq!(throttle.not_before(b, t0), None, "other addresses are not slowed");
        let t1 = t0 + Duration::from_secs(1);
        throttle.failed(a, t1);
        assert_eq!(throttle.not_before(a, t1), Some(t1 + Duration::from_secs(2)));
        let t2 = t1 + Duration::from_secs(2);
        throttle.failed(a, t2);
        throttle.failed(a, t2);
        // 4 s, then 4 s more (the maximum), queued behind each other.
        assert_eq!(throttle.not_before(a, t2), Some(t2 + Duration::from_secs(8)));
        // Quiet for twice the maximum after the last wait: forgotten.
        let later = t2 + Duration::from_secs(8 + 9);
        assert_eq!(throttle.not_before(a, later), None);
        throttle.failed(a, later);
        assert_eq!(throttle.not_before(a, later), Some(later + Duration::from_secs(1)));
    }
}
