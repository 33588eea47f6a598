//! The subscription index: a topic-level tree from filters to subscribing client identifiers.

use std::collections::BTreeMap;

use bytestring::ByteString;
use mqttsim_codec::QoS;

use crate::small_map::SmallMap;

/// Topic filters arranged by level, so routing a PUBLISH visits only the branches its topic name
/// can match instead of every subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SubscriptionIndex {
    root: Node,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    subscribers: SmallMap<ByteString, QoS>,
    children: SmallMap<Box<str>, Node>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.subscribers.is_empty() && self.children.is_empty()
    }

    fn collect(&self, levels: &[&str], hide_wildcards: bool, out: &mut BTreeMap<ByteString, QoS>) {
        let mut add = |subscribers: &SmallMap<ByteString, QoS>| {
            for (client, &qos) in subscribers.iter() {
                // Overlapping subscriptions: one delivery at the highest QoS [MQTT-3.3.5-1].
                out.entry(client.clone()).and_modify(|q| *q = (*q).max(qos)).or_insert(qos);
            }
        };
        if !hide_wildcards && let Some(hash) = self.children.get("#") {
            // "a/#" matches "a" and everything below it [MQTT-4.7.1-2].
            add(&hash.subscribers);
        }
        match levels.split_first() {
            None => add(&self.subscribers),
            Some((level, rest)) => {
                if let Some(child) = self.children.get(*level) {
                    child.collect(rest, false, out);
                }
                if !hide_wildcards && let Some(plus) = self.children.get("+") {
                    plus.collect(rest, false, out);
                }
            }
        }
    }

    fn remove(&mut self, levels: &[&str], client: &str) -> Option<QoS> {
        match levels.split_first() {
            None => self.subscribers.remove(client),
            Some((level, rest)) => {
                let child = self.children.get_mut(*level)?;
                let removed = child.remove(rest, client);
                if child.is_empty() {
                    self.children.remove(*level);
                }
                removed
            }
        }
    }
}

impl SubscriptionIndex {
    /// Adds or replaces the subscription of `client` to a valid `filter`.
    pub(crate) fn insert(&mut self, filter: &str, client: &ByteString, qos: QoS) {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            node = node.children.get_or_insert_with(level, || (level.into(), Node::default()));
        }
        node.subscribers.insert(client.clone(), qos);
    }

    /// Removes the subscription of `client` to `filter`, if it exists.
    pub(crate) fn remove(&mut self, filter: &str, client: &str) -> Option<QoS> {
        let levels: Vec<&str> = filter.split('/').collect();
        self.root.remove(&levels, client)
    }

    /// The clients with a subscription matching a valid topic `name`, each once, with the
    /// highest QoS among its matching subscriptions.
    pub(crate) fn matches(&self, name: &str) -> BTreeMap<ByteString, QoS> {
        let levels: Vec<&str> = name.split('/').collect();
        let mut out = BTreeMap::new();
        // Wildcards at the first level never match topics starting with '$' [MQTT-4.7.2-1].
        self.root.collect(&levels, name.starts_with('$'), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_agrees_with_the_codec_matcher() {
        let filters = [
            "#",
            "+",
            "+/+",
            "/+",
            "a",
            "a/#",
            "a/+",
            "a/b",
            "a/+/c",
            "+/b/#",
            "$SYS/#",
            "$SYS/+",
            "+/monitor",
            "a//b",
            "a/+/+",
        ];
        let names = ["a", "a/b", "a/b/c", "/x", "$SYS/up", "$SYS", "x/monitor", "a//b", "a/"];
        let mut index = SubscriptionIndex::default();
        for (i, filter) in filters.iter().enumerate() {
            index.insert(filter, &ByteString::from(format!("c{i:02}")), QoS::AtMostOnce);
        }
        for name in names {
            let got: Vec<String> = index.matches(name).into_keys().map(String::from).collect();
            let expected: Vec<String> = (0..filters.len())
                .filter(|&i| mqttsim_codec::topic::matches(filters[i], name))
                .map(|i| format!("c{i:02}"))
                .collect();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn overlapping_subscriptions_give_one_entry_at_the_highest_qos() {
        let mut index = SubscriptionIndex::default();
        let client = ByteString::from_static("c");
        index.insert("a/+", &client, QoS::AtLeastOnce);
        index.insert("a/#", &client, QoS::ExactlyOnce);
        index.insert("a/b", &client, QoS::AtMostOnce);
        let matched = index.matches("a/b");
        assert_eq!(matched.into_iter().collect::<Vec<_>>(), [(client.clone(), QoS::ExactlyOnce)]);
    }

    #[test]
    fn removal_prunes_empty_branches() {
        let mut index = SubscriptionIndex::default();
        let client = ByteString::from_static("c");
        index.insert("a/b/c", &client, QoS::AtMostOnce);
        index.insert("a/b/c", &client, QoS::AtLeastOnce);
        assert_eq!(index.remove("a/b", "c"), None);
        assert_eq!(index.remove("a/b/c", "c"), Some(QoS::AtLeastOnce));
        assert_eq!(index, SubscriptionIndex::default());
    }
}
