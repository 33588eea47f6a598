//! The oracle's own routing table: which sessions' subscriptions match a topic, found through a
//! tree of filter levels, so that routing costs the topic's depth rather than the number of
//! subscriptions (10,000 devices with a filter each stay cheap).

use std::collections::BTreeMap;

/// Subscriptions by filter level; `+` is a child like any other level, `#` sits in its parent.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    root: Node,
    /// MQTT 5.0 shared subscriptions, apart from the tree: whole filter (`$share/g/a/+`) →
    /// (its inner filter, members: client id → granted QoS). A message matching one goes to
    /// one member of the group, not to every member (see `shared`).
    groups: BTreeMap<String, (String, BTreeMap<String, u8>)>,
}

/// The inner filter of a shared subscription's filter (`$share/g/a/+` → `a/+`), if it is one.
pub(crate) fn shared_inner(filter: &str) -> Option<&str> {
    match mqttsim_codec::topic::SharedFilter::parse(filter) {
        Some(Ok(shared)) => Some(shared.filter),
        _ => None,
    }
}

#[derive(Debug, Default)]
struct Node {
    children: BTreeMap<String, Node>,
    /// Filters ending exactly here: client id → granted QoS.
    exact: BTreeMap<String, u8>,
    /// Filters ending in `#` below this level.
    hash: BTreeMap<String, u8>,
}

impl Routes {
    /// Adds (or replaces) `device`'s subscription to `filter`.
    pub(crate) fn insert(&mut self, filter: &str, device: &str, granted: u8) {
        if let Some(inner) = shared_inner(filter) {
            let group = self
                .groups
                .entry(filter.to_owned())
                .or_insert_with(|| (inner.to_owned(), BTreeMap::new()));
            group.1.insert(device.to_owned(), granted);
            return;
        }
        let mut node = &mut self.root;
        for level in filter.split('/') {
            if level == "#" {
                node.hash.insert(device.to_owned(), granted);
                return;
            }
            node = node.children.entry(level.to_owned()).or_default();
        }
        node.exact.insert(device.to_owned(), granted);
    }

    /// Removes `device`'s subscription to `filter`, if it has one.
    pub(crate) fn remove(&mut self, filter: &str, device: &str) {
        if let Some(group) = self.groups.get_mut(filter) {
            group.1.remove(device);
            if group.1.is_empty() {
                self.groups.remove(filter);
            }
            return;
        }
        let mut node = &mut self.root;
        for level in filter.split('/') {
            if level == "#" {
                node.hash.remove(device);
                return;
            }
            match node.children.get_mut(level) {
                Some(child) => node = child,
                None => return,
            }
        }
        node.exact.remove(device);
    }

    /// Every device with a subscription matching `topic`, with the highest QoS granted among
    /// its matching subscriptions. Wildcards in the first level do not match `$` topics
    /// [MQTT-4.7.2-1].
    pub(crate) fn matches(&self, topic: &str) -> BTreeMap<&str, u8> {
        let levels: Vec<&str> = topic.split('/').collect();
        let mut out = BTreeMap::new();
        walk(&self.root, &levels, 0, topic.starts_with('$'), &mut out);
        out
    }
}

impl Routes {
    /// The shared subscription groups whose inner filter matches `topic`, each with its
    /// members and their granted QoS.
    pub(crate) fn groups_matching(&self, topic: &str) -> Vec<(&str, &BTreeMap<String, u8>)> {
        self.groups
            .iter()
            .filter(|(_, (inner, _))| mqttsim_codec::topic::matches(inner, topic))
            .map(|(filter, (_, members))| (filter.as_str(), members))
            .collect()
    }
}

fn walk<'a>(
    node: &'a Node,
    levels: &[&str],
    depth: usize,
    dollar: bool,
    out: &mut BTreeMap<&'a str, u8>,
) {
    let wildcards = !(dollar && depth == 0);
    if wildcards {
        add(out, &node.hash);
    }
    let Some(level) = levels.get(depth) else {
        add(out, &node.exact);
        return;
    };
    if let Some(child) = node.children.get(*level) {
        walk(child, levels, depth + 1, dollar, out);
    }
    if wildcards
        && *level != "+"
        && let Some(child) = node.children.get("+")
    {
        walk(child, levels, depth + 1, dollar, out);
    }
}

fn add<'a>(out: &mut BTreeMap<&'a str, u8>, subs: &'a BTreeMap<String, u8>) {
    for (device, &granted) in subs {
        let q = out.entry(device.as_str()).or_insert(granted);
        *q = (*q).max(granted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqttsim_codec::topic;

    /// The tree agrees with the codec's matching on every pair of a small set.
    #[test]
    fn agrees_with_the_codec() {
        let filters = ["#", "a/#", "a/+", "+/b", "a/b", "+", "a/+/c", "+/+/#", "$SYS/#", "a/b/#"];
        let topics = ["a", "a/b", "a/b/c", "b", "x/b", "a/", "$SYS/x", "$SYS", "a/x/c"];
        let mut routes = Routes::default();
        for (i, f) in filters.iter().enumerate() {
            routes.insert(f, &format!("d{i}"), 1);
        }
        for t in topics {
            let got: Vec<String> = routes.matches(t).keys().map(|d| d.to_string()).collect();
            let mut want: Vec<String> = filters
                .iter()
                .enumerate()
                .filter(|(_, f)| topic::matches(f, t))
                .map(|(i, _)| format!("d{i}"))
                .collect();
            want.sort();
            assert_eq!(got, want, "topic {t}");
        }
        routes.remove("a/#", "d1");
        assert!(!routes.matches("a/b").contains_key("d1"));
    }
}
