//! MQTT 5.0 shared subscriptions: `$share/{group}/{filter}` groups, each message to one member.
//!
//! A group is keyed by its whole filter (`$share/g/a/#`), so groups of the same name over
//! different filters are distinct, as the standard has it. Members are kept in the order they
//! joined; each message goes to the next member in turn that is online, or, when none is, to
//! the next member in turn (whose persistent session queues it). Redistribution when a member
//! leaves is the broker's business (see `Broker`); this module only chooses.

use std::collections::BTreeMap;

use bytestring::ByteString;
use indexmap::IndexMap;
use mqttsim_codec::QoS;

use crate::index::SubscriptionIndex;

#[derive(Debug, Clone, Default)]
struct Group {
    /// Client identifier to granted QoS, in joining order.
    members: IndexMap<ByteString, QoS>,
    /// Where the round-robin continues.
    next: usize,
}

/// Every shared subscription group, and a topic tree from their filters to their keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedGroups {
    /// The inner filter of each group, with the group key standing in for a client.
    index: SubscriptionIndex,
    groups: BTreeMap<ByteString, Group>,
}

impl SharedGroups {
    /// Adds (or updates the QoS of) `client` in the group `key` whose inner filter is `filter`.
    pub(crate) fn join(&mut self, key: &ByteString, filter: &str, client: &ByteString, qos: QoS) {
        let group = self.groups.entry(key.clone()).or_insert_with(|| {
            self.index.insert(filter, key, QoS::AtMostOnce);
            Group::default()
        });
        group.members.insert(client.clone(), qos);
    }

    /// Removes `client` from the group `key`; a group without members is forgotten.
    pub(crate) fn leave(&mut self, key: &str, filter: &str, client: &str) {
        let Some(group) = self.groups.get_mut(key) else { return };
        if let Some(index) = group.members.get_index_of(client) {
            group.members.shift_remove_index(index);
            if group.next > index {
                group.next -= 1;
            }
        }
        if group.members.is_empty() {
            self.groups.remove(key);
            self.index.remove(filter, key);
        }
    }

    /// The keys of the groups whose filter matches a topic name, in key order.
    pub(crate) fn matching(&self, topic: &str) -> Vec<ByteString> {
        if self.groups.is_empty() {
            // The common case, and the hot path of every PUBLISH: no walk, no allocation.
            return Vec::new();
        }
        self.index.matches(topic).into_keys().collect()
    }

    /// Whether a member of group `key` other than `except` is online.
    pub(crate) fn has_online_member(
        &self,
        key: &str,
        online: impl Fn(&ByteString) -> bool,
        except: &str,
    ) -> bool {
        self.groups.get(key).is_some_and(|g| g.members.keys().any(|m| m != except && online(m)))
    }

    /// Chooses the member of group `key` for the next message: the next online one in turn,
    /// else the next one in turn; never `exclude`. `None` when no member is left.
    pub(crate) fn pick(
        &mut self,
        key: &str,
        online: impl Fn(&ByteString) -> bool,
        exclude: Option<&str>,
    ) -> Option<(ByteString, QoS)> {
        let group = self.groups.get_mut(key)?;
        let n = group.members.len();
        let start = group.next % n.max(1);
        let order = (0..n).map(|i| (start + i) % n);
        let eligible = |i: &usize| {
            let (client, _) = group.members.get_index(*i).expect("index below len");
            exclude != Some(client.as_ref())
        };
        let chosen = order
            .clone()
            .filter(eligible)
            .find(|&i| online(group.members.get_index(i).expect("index below len").0))
            .or_else(|| order.clone().find(eligible))?;
        group.next = chosen + 1;
        let (client, qos) = group.members.get_index(chosen).expect("index below len");
        Some((client.clone(), *qos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &'static str) -> ByteString {
        ByteString::from_static(s)
    }

    #[test]
    fn round_robin_prefers_online_members_and_skips_the_excluded() {
        let mut groups = SharedGroups::default();
        let key = id("$share/g/a/+");
        for client in ["c1", "c2", "c3"] {
            groups.join(&key, "a/+", &id(client), QoS::AtLeastOnce);
        }
        assert_eq!(groups.matching("a/b"), std::slice::from_ref(&key));
        assert!(groups.matching("b/b").is_empty());
        let all = |_: &ByteString| true;
        let picks: Vec<_> =
            (0..4).map(|_| groups.pick(&key, all, None).unwrap().0.to_string()).collect();
        assert_eq!(picks, ["c1", "c2", "c3", "c1"]);
        let only_c3 = |c: &ByteString| c == "c3";
        assert_eq!(groups.pick(&key, only_c3, None).unwrap().0, "c3");
        let none = |_: &ByteString| false;
        assert_eq!(groups.pick(&key, none, Some("c1")).unwrap().0, "c2");
        groups.leave(&key, "a/+", "c2");
        groups.leave(&key, "a/+", "c1");
        assert_eq!(groups.pick(&key, all, Some("c3")), None);
        groups.leave(&key, "a/+", "c3");
        assert!(groups.matching("a/b").is_empty());
    }
}
