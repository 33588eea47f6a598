//! The subscription index: a topic-level tree from filters to subscribing client identifiers.

use std::collections::BTreeMap;

use bytestring::ByteString;
use mqttsim_codec::QoS;

use crate::small_map::SmallMap;
use crate::tree::{Node, NodeValue, TopicTree};

/// Topic filters arranged by level, so routing a PUBLISH visits only the branches its topic name
/// can match instead of every subscription. Every operation is iterative (see [`crate::tree`]),
/// so a filter of 65,536 levels is as safe as a short one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SubscriptionIndex {
    tree: TopicTree<Subscribers>,
}

type Subscribers = SmallMap<ByteString, QoS>;

impl NodeValue for Subscribers {
    fn is_empty(&self) -> bool {
        SmallMap::is_empty(self)
    }
}

impl SubscriptionIndex {
    /// Adds or replaces the subscription of `client` to a valid `filter`.
    pub(crate) fn insert(&mut self, filter: &str, client: &ByteString, qos: QoS) {
        self.tree.entry(filter).insert(client.clone(), qos);
    }

    /// Removes the subscription of `client` to `filter`, if it exists.
    pub(crate) fn remove(&mut self, filter: &str, client: &str) -> Option<QoS> {
        self.tree.change(filter, |subscribers| subscribers.remove(client)).flatten()
    }

    /// The clients with a subscription matching a valid topic `name`, each once, with the
    /// highest QoS among its matching subscriptions.
    pub(crate) fn matches(&self, name: &str) -> BTreeMap<ByteString, QoS> {
        let levels: Vec<&str> = name.split('/').collect();
        let mut out: BTreeMap<ByteString, QoS> = BTreeMap::new();
        let mut add = |subscribers: &Subscribers| {
            for (client, &qos) in subscribers.iter() {
                // Overlapping subscriptions: one delivery at the highest QoS [MQTT-3.3.5-1].
                out.entry(client.clone()).and_modify(|q| *q = (*q).max(qos)).or_insert(qos);
            }
        };
        // (node, how many levels of the name it has matched). Wildcards at the first level never
        // match topics starting with '$' [MQTT-4.7.2-1].
        let mut stack: Vec<(&Node<Subscribers>, usize)> = vec![(self.tree.root(), 0)];
        while let Some((node, matched)) = stack.pop() {
            let wildcards = matched > 0 || !name.starts_with('$');
            if wildcards && let Some(hash) = node.child("#") {
                // "a/#" matches "a" and everything below it [MQTT-4.7.1-2].
                add(&hash.value);
            }
            let Some(level) = levels.get(matched) else {
                add(&node.value);
                continue;
            };
            if let Some(child) = node.child(level) {
                stack.push((child, matched + 1));
            }
            if wildcards && let Some(plus) = node.child("+") {
                stack.push((plus, matched + 1));
            }
        }
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

    #[test]
    fn a_filter_of_65536_levels_is_inserted_matched_and_removed() {
        let deepest = "/".repeat(65_535);
        let mut index = SubscriptionIndex::default();
        let client = ByteString::from_static("c");
        index.insert(&deepest, &client, QoS::AtLeastOnce);
        let hash = format!("{}#", "/".repeat(65_534));
        index.insert(&hash, &client, QoS::ExactlyOnce);
        assert_eq!(index.matches(&deepest).get("c"), Some(&QoS::ExactlyOnce));
        // 32,768 levels of `+` (65,535 bytes) match any name of 32,768 levels.
        let plus = vec!["+"; 32_768].join("/");
        let other = ByteString::from_static("d");
        index.insert(&plus, &other, QoS::AtMostOnce);
        assert_eq!(index.matches(&("x/".repeat(32_767) + "x")).get("d"), Some(&QoS::AtMostOnce));
        assert_eq!(index.clone(), index);
        assert!(!format!("{index:?}").is_empty());
        assert_eq!(index.remove(&deepest, "c"), Some(QoS::AtLeastOnce));
        assert_eq!(index.remove(&hash, "c"), Some(QoS::ExactlyOnce));
        assert_eq!(index.remove(&plus, "d"), Some(QoS::AtMostOnce));
        assert_eq!(index, SubscriptionIndex::default());
        index.insert(&deepest, &client, QoS::AtLeastOnce);
        drop(index);
    }
}
