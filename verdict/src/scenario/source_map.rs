//! A map from field paths (`devices[2].publish[0].qos`) to source locations, built from the YAML
//! event stream, so that every error (from serde or from validation) can name both.

use serde_saphyr::granit_parser::{Event, Parser};

/// Where a node sits in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// Character offset of the node's first character.
    pub(crate) start: usize,
    /// Line, from 1.
    pub(crate) line: usize,
    /// Column in characters, from 1.
    pub(crate) column: usize,
    /// Length in characters, at least 1.
    pub(crate) len: usize,
    /// The field path, such as `devices[2].publish[0].qos`; empty for the document root.
    pub(crate) path: String,
    /// Whether this node is a mapping key or a value.
    pub(crate) role: Role,
    /// Whether this node is a mapping, a sequence or a scalar.
    pub(crate) kind: Kind,
    /// The nesting depth, 0 for the root.
    pub(crate) depth: usize,
    /// For a mapping or a sequence: the character offset where it ends.
    pub(crate) end: usize,
}

/// Whether a node is a mapping key or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Key,
    Value,
}

/// The shape of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Map,
    Seq,
    Scalar,
}

/// What an error is about, to choose among nodes that start at the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefer {
    /// A mapping key (unknown or duplicate field).
    Key,
    /// A value (wrong type or bad value).
    Value,
    /// The mapping that lacks a field.
    Map,
    /// Whatever node starts exactly there (an enum variant is a key or a value).
    Exact,
}

/// A YAML syntax error found while building the map.
#[derive(Debug, Clone)]
pub(crate) struct SyntaxError {
    pub(crate) message: String,
    pub(crate) start: usize,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

enum Frame {
    Map { path: String, key: Option<String>, node: usize },
    Seq { path: String, next: usize, node: usize },
}

/// The nodes of a document, in document order.
#[derive(Debug, Default)]
pub(crate) struct SourceMap {
    nodes: Vec<Node>,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

impl SourceMap {
    /// Builds the map; on a syntax error returns the nodes seen so far and the error.
    pub(crate) fn build(source: &str) -> (SourceMap, Option<SyntaxError>) {
        let mut map = SourceMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(source) {
            let (event, span) = match item {
                Ok(pair) => pair,
                Err(e) => {
                    let m = e.marker();
                    let error = SyntaxError {
                        message: e.info(),
                        start: m.index(),
                        line: m.line(),
                        column: m.col() + 1,
                    };
                    return (map, Some(error));
                }
            };
            let kind = match event {
                Event::Scalar(..) | Event::Alias(..) => Kind::Scalar,
                Event::MappingStart(..) => Kind::Map,
                Event::SequenceStart(..) => Kind::Seq,
                Event::MappingEnd | Event::SequenceEnd => {
                    if let Some(Frame::Map { node, .. } | Frame::Seq { node, .. }) = stack.pop() {
                        map.nodes[node].end = span.end.index();
                    }
                    continue;
                }
                _ => continue,
            };
            let (path, role) = match stack.last_mut() {
                None => (String::new(), Role::Value),
                Some(Frame::Seq { path, next, .. }) => {
                    *next += 1;
                    (format!("{path}[{}]", *next - 1), Role::Value)
                }
                Some(Frame::Map { path, key, .. }) => match key.take() {
                    Some(k) => (join(path, &k), Role::Value),
                    None => {
                        let name = match &event {
                            Event::Scalar(text, ..) => text.to_string(),
                            _ => "?".to_owned(),
                        };
                        let p = join(path, &name);
                        *key = Some(name);
                        (p, Role::Key)
                    }
                },
            };
            let len = span.end.index().saturating_sub(span.start.index()).max(1);
            map.nodes.push(Node {
                start: span.start.index(),
                line: span.start.line(),
                column: span.start.col() + 1,
                len: if kind == Kind::Scalar { len } else { 1 },
                path: path.clone(),
                role,
                kind,
                depth: stack.len(),
                end: span.end.index(),
            });
            let node = map.nodes.len() - 1;
            match kind {
                Kind::Map => stack.push(Frame::Map { path, key: None, node }),
                Kind::Seq => stack.push(Frame::Seq { path, next: 0, node }),
                Kind::Scalar => {}
            }
        }
        (map, None)
    }

    /// The node an error at character offset `start` is about.
    pub(crate) fn node_at(&self, start: usize, prefer: Prefer) -> Option<&Node> {
        let exact = self.nodes.iter().filter(|n| n.start == start);
        let chosen = match prefer {
            Prefer::Key => exact.filter(|n| n.role == Role::Key).min_by_key(|n| n.depth),
            Prefer::Value => exact.filter(|n| n.role == Role::Value).min_by_key(|n| n.depth),
            Prefer::Exact => exact.min_by_key(|n| n.depth),
            Prefer::Map => {
                return self
                    .nodes
                    .iter()
                    .filter(|n| {
                        n.kind == Kind::Map && n.start <= start && start < n.end.max(n.start + 1)
                    })
                    .max_by_key(|n| n.depth)
                    .or_else(|| self.nodes.first());
            }
        };
        let node = chosen.or_else(|| self.nodes.iter().rev().find(|n| n.start <= start))?;
        if prefer == Prefer::Value && node.role == Role::Key {
            // Serde reports some type errors at the key; point at the key's value instead.
            let value = self
                .nodes
                .iter()
                .find(|n| n.start > node.start && n.path == node.path && n.role == Role::Value);
            return Some(value.unwrap_or(node));
        }
        Some(node)
    }

    /// The node holding the value at `path`, or the nearest ancestor that exists in the source.
    pub(crate) fn find(&self, path: &str) -> Option<&Node> {
        let mut path = path;
        loop {
            let hit = self
                .nodes
                .iter()
                .find(|n| n.path == path && n.role == Role::Value)
                .or_else(|| self.nodes.iter().find(|n| n.path == path));
            if hit.is_some() {
                return hit;
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    /// The path of the last non-root node that starts before character offset `start`.
    pub(crate) fn last_path_before(&self, start: usize) -> Option<String> {
        self.nodes
            .iter()
            .rev()
            .find(|n| n.start < start && !n.path.is_empty())
            .map(|n| n.path.clone())
    }

    /// The key node of the field at `path`, if the source has one.
    pub(crate) fn find_key(&self, path: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.path == path && n.role == Role::Key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_positions() {
        let src = "a: 1\nb:\n  - x: 2\n    y: [3, 4]\n  - x: 5\n";
        let (map, err) = SourceMap::build(src);
        assert!(err.is_none());
        let n = map.find("b[0].y[1]").unwrap();
        assert_eq!((n.line, n.column), (4, 12));
        let n = map.find("b[1].x").unwrap();
        assert_eq!((n.line, n.column, n.role), (5, 8, Role::Value));
        let k = map.find_key("b[1].x").unwrap();
        assert_eq!((k.line, k.column), (5, 5));
        assert_eq!(map.find("b[1].zzz").unwrap().path, "b[1]");
    }

    #[test]
    fn syntax_error_is_reported() {
        let (_, err) = SourceMap::build("a: [1, 2\nb: 3\n");
        assert!(err.is_some());
    }
}
