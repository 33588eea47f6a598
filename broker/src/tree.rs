//! A topic-level tree that no topic can knock over: every operation is a loop, never recursion.
//!
//! A topic of 65,535 `/` characters is valid and has 65,536 (empty) levels, so a tree holding it
//! is 65,536 nodes deep. Recursive insertion, matching, removal, dropping, cloning, comparing or
//! printing would each overflow the stack at that depth; here each one walks with an explicit
//! stack or a path, and dropping a node first takes its children out (see [`Node`]'s `Drop`).

use std::fmt;

use crate::small_map::{Iter, SmallMap};

/// What a node holds: subscribers, or a retained message. A node whose value is empty and which
/// has no children is pruned.
pub(crate) trait NodeValue: Default {
    fn is_empty(&self) -> bool;
}

impl<T> NodeValue for Option<T> {
    fn is_empty(&self) -> bool {
        self.is_none()
    }
}

/// One level of a topic tree.
#[derive(Default)]
pub(crate) struct Node<V> {
    pub(crate) value: V,
    children: SmallMap<Box<str>, Node<V>>,
}

impl<V> Node<V> {
    /// The child for one level.
    pub(crate) fn child(&self, level: &str) -> Option<&Node<V>> {
        self.children.get(level)
    }

    /// The children in level order.
    pub(crate) fn children(&self) -> Iter<'_, Box<str>, Node<V>> {
        self.children.iter()
    }
}

impl<V> Drop for Node<V> {
    fn drop(&mut self) {
        // Each node on the stack has its children taken before it is dropped, so dropping it
        // never recurses more than one level.
        let mut stack = self.children.take_values();
        while let Some(mut node) = stack.pop() {
            stack.append(&mut node.children.take_values());
        }
    }
}

/// A tree of topic levels, each node holding a `V`.
#[derive(Default)]
pub(crate) struct TopicTree<V> {
    root: Node<V>,
}

impl<V: NodeValue> TopicTree<V> {
    /// The root, whose children are the first levels.
    pub(crate) fn root(&self) -> &Node<V> {
        &self.root
    }

    /// The node of a `/`-separated path, if it exists.
    pub(crate) fn get(&self, path: &str) -> Option<&Node<V>> {
        let mut node = &self.root;
        for level in path.split('/') {
            node = node.children.get(level)?;
        }
        Some(node)
    }

    /// The value of a path, creating the nodes on the way.
    pub(crate) fn entry(&mut self, path: &str) -> &mut V {
        let mut node = &mut self.root;
        for level in path.split('/') {
            node = node.children.get_or_insert_with(level, || (level.into(), Node::default()));
        }
        &mut node.value
    }

    /// Applies `change` to the value of an existing path, then prunes the nodes left empty.
    pub(crate) fn change<R>(&mut self, path: &str, change: impl FnOnce(&mut V) -> R) -> Option<R> {
        let mut node = &mut self.root;
        for level in path.split('/') {
            node = node.children.get_mut(level)?;
        }
        let result = change(&mut node.value);
        if node.value.is_empty() && node.children.is_empty() {
            self.prune(path);
        }
        Some(result)
    }

    /// Cuts off the longest chain of nodes at the end of `path` that hold nothing but the next
    /// node of the chain. The path exists and its last node is empty and childless.
    fn prune(&mut self, path: &str) {
        // The depth (1 = a first-level node) where the removable chain starts.
        let mut cut = None;
        let mut node = &self.root;
        let depth = path.split('/').count();
        for (i, level) in path.split('/').enumerate() {
            node = node.children.get(level).expect("the path exists");
            let last = i + 1 == depth;
            let removable =
                node.value.is_empty() && node.children.len() == if last { 0 } else { 1 };
            if !removable {
                cut = None;
            } else if cut.is_none() {
                cut = Some(i + 1);
            }
        }
        let Some(cut) = cut else { return };
        let mut parent = &mut self.root;
        let mut levels = path.split('/');
        for level in levels.by_ref().take(cut - 1) {
            parent = parent.children.get_mut(level).expect("the path exists");
        }
        let level = levels.next().expect("the cut is within the path");
        // Dropping the chain is iterative too.
        drop(parent.children.remove(level));
    }

    /// Every node with a value, with its path, in level order (depth first, parents first).
    pub(crate) fn entries(&self) -> Vec<(String, &V)> {
        let mut out = Vec::new();
        // (node, its level, depth below the root); `path` holds the levels of the current branch.
        let mut stack: Vec<(&Node<V>, &str, usize)> = Vec::new();
        let mut path: Vec<&str> = Vec::new();
        for (level, child) in self.root.children.iter().collect::<Vec<_>>().into_iter().rev() {
            stack.push((child, level, 1));
        }
        while let Some((node, level, depth)) = stack.pop() {
            path.truncate(depth - 1);
            path.push(level);
            if !node.value.is_empty() {
                out.push((path.join("/"), &node.value));
            }
            for (level, child) in node.children.iter().collect::<Vec<_>>().into_iter().rev() {
                stack.push((child, level, depth + 1));
            }
        }
        out
    }
}

impl<V: NodeValue + Clone> Clone for TopicTree<V> {
    fn clone(&self) -> TopicTree<V> {
        let mut copy = TopicTree::default();
        for (path, value) in self.entries() {
            *copy.entry(&path) = value.clone();
        }
        copy
    }
}

impl<V: NodeValue + PartialEq> PartialEq for TopicTree<V> {
    fn eq(&self, other: &TopicTree<V>) -> bool {
        // Empty nodes are always pruned, so equal contents mean equal trees.
        self.entries() == other.entries()
    }
}

impl<V: NodeValue + Eq> Eq for TopicTree<V> {}

impl<V: NodeValue + fmt::Debug> fmt::Debug for TopicTree<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 65,535 `/` characters: the longest topic, with the most levels (65,536).
    fn deepest() -> String {
        "/".repeat(65_535)
    }

    #[test]
    fn the_deepest_path_is_inserted_found_cloned_compared_removed_and_dropped() {
        let path = deepest();
        let mut tree: TopicTree<Option<u32>> = TopicTree::default();
        *tree.entry(&path) = Some(1);
        *tree.entry("a/b") = Some(2);
        assert_eq!(tree.get(&path).and_then(|n| n.value), Some(1));
        let copy = tree.clone();
        assert!(copy == tree);
        assert_eq!(tree.entries().len(), 2);
        assert!(!format!("{tree:?}").is_empty());
        assert_eq!(tree.change(&path, Option::take), Some(Some(1)));
        assert!(tree.get(&path).is_none());
        assert!(tree.get("").is_none(), "the whole empty chain is pruned");
        assert!(copy != tree);
        drop(copy);
        drop(tree);
    }

    #[test]
    fn pruning_keeps_nodes_that_hold_something() {
        let mut tree: TopicTree<Option<u32>> = TopicTree::default();
        *tree.entry("a") = Some(1);
        *tree.entry("a/b/c/d") = Some(2);
        *tree.entry("a/b/x") = Some(3);
        tree.change("a/b/c/d", Option::take);
        assert!(tree.get("a/b/c").is_none());
        assert!(tree.get("a/b/x").is_some());
        tree.change("a/b/x", Option::take);
        assert!(tree.get("a/b").is_none());
        assert_eq!(tree.get("a").and_then(|n| n.value), Some(1));
        tree.change("a", Option::take);
        assert!(tree == TopicTree::default());
        assert_eq!(tree.change("nothing/here", Option::take), None);
    }
}
