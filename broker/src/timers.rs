//! Deadlines keyed by something (a connection, a client identifier), ordered by time so the next
//! one is found without a scan and each key has at most one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// At most one deadline per key, ordered by (time, key) so that equal times fire in key order.
#[derive(Debug, Clone)]
pub(crate) struct Deadlines<K: Ord + Clone> {
    by_key: BTreeMap<K, Duration>,
    by_time: BTreeSet<(Duration, K)>,
}

impl<K: Ord + Clone> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines { by_key: BTreeMap::new(), by_time: BTreeSet::new() }
    }
}

impl<K: Ord + Clone> Deadlines<K> {
    /// Sets (or with `None` clears) the deadline of `key`.
    pub(crate) fn set(&mut self, key: &K, at: Option<Duration>) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_time.remove(&(old, key.clone()));
        }
        if let Some(at) = at {
            self.by_key.insert(key.clone(), at);
            self.by_time.insert((at, key.clone()));
        }
    }

    /// The earliest deadline.
    pub(crate) fn first(&self) -> Option<Duration> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest key whose deadline is at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Duration) -> Option<K> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.by_time.pop_first()?;
        self.by_key.remove(&key);
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_deadline_per_key_popped_in_time_then_key_order() {
        let mut d = Deadlines::default();
        d.set(&"b", Some(Duration::from_secs(5)));
        d.set(&"a", Some(Duration::from_secs(5)));
        d.set(&"c", Some(Duration::from_secs(9)));
        d.set(&"c", Some(Duration::from_secs(1)));
        d.set(&"b", None);
        assert_eq!(d.first(), Some(Duration::from_secs(1)));
        assert_eq!(d.pop_due(Duration::from_secs(4)), Some("c"));
        assert_eq!(d.pop_due(Duration::from_secs(4)), None);
        assert_eq!(d.pop_due(Duration::from_secs(5)), Some("a"));
        assert_eq!(d.first(), None);
    }
}
