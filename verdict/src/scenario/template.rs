//! Templates for client ids and topics: `soil-{site}-{i:03}`.
//!
//! A template is literal text with placeholders in braces: `{i}` is the device's index in its
//! group (from 0), `{i:0N}` the same index zero-padded to at least `N` digits, `{group}` the group
//! name and `{site}` the site name. `{{` and `}}` stand for literal braces.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::error::closest;

/// The placeholders a template may use, for messages and suggestions.
pub const PLACEHOLDERS: [&str; 3] = ["i", "group", "site"];

/// The longest template accepted, in bytes.
pub const MAX_TEMPLATE_LEN: usize = 4096;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Index { width: usize },
    Group,
    Site,
}

impl Template {
    /// Parses a template; the error is a complete sentence for the user.
    pub fn parse(source: &str) -> Result<Template, String> {
        if source.len() > MAX_TEMPLATE_LEN {
            return Err(format!("template is longer than {MAX_TEMPLATE_LEN} bytes"));
        }
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                    chars.next();
                    text.push('}');
                }
                '}' => {
                    return Err(format!(
                        "template `{source}` has a `}}` without a matching `{{` at byte {at}; \
                         write `}}}}` for a literal brace"
                    ));
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, n) in chars.by_ref() {
                        if n == '}' {
                            closed = true;
                            break;
                        }
                        name.push(n);
                    }
                    if !closed {
                        return Err(format!(
                            "template `{source}` has an unclosed `{{`; write `{{{{` for a literal brace"
                        ));
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Self::placeholder(source, &name)?);
                }
                _ => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template { source: source.to_owned(), parts })
    }

    fn placeholder(source: &str, name: &str) -> Result<Part, String> {
        match name {
            "i" => return Ok(Part::Index { width: 0 }),
            "group" => return Ok(Part::Group),
            "site" => return Ok(Part::Site),
            _ => {}
        }
        if let Some(spec) = name.strip_prefix("i:") {
            let width = spec
                .strip_prefix('0')
                .filter(|w| !w.is_empty() && w.len() <= 2 && w.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|w| w.parse::<usize>().ok())
                .filter(|w| (1..=20).contains(w));
            return match width {
                Some(width) => Ok(Part::Index { width }),
                None => Err(format!(
                    "placeholder `{{{name}}}` in template `{source}` has a bad format: \
                     expected `{{i:0N}}` with N between 1 and 20, such as `{{i:03}}`"
                )),
            };
        }
        let hint = match closest(name, PLACEHOLDERS) {
            Some(best) => format!("; did you mean `{{{best}}}`?"),
            None => String::new(),
        };
        Err(format!(
            "unknown placeholder `{{{name}}}` in template `{source}`: expected {{i}}, {{i:0N}}, \
             {{group}} or {{site}}{hint}"
        ))
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the template uses the device index, so that it differs between devices.
    pub fn uses_index(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Index { .. }))
    }

    /// Whether the template contains no placeholder at all.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Expands the template for device `index` of `group` at `site`.
    pub fn expand(&self, index: usize, group: &str, site: &str) -> String {
        let mut out = String::with_capacity(self.source.len() + 8);
        self.expand_into(&mut out, index, group, site);
        out
    }

    /// Expands the template into `out`, after its current content.
    pub fn expand_into(&self, out: &mut String, index: usize, group: &str, site: &str) {
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Index { width } => {
                    let _ = write!(out, "{index:0width$}");
                }
                Part::Group => out.push_str(group),
                Part::Site => out.push_str(site),
            }
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Template;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a template string such as `soil-{i:03}`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Template, E> {
                Template::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl JsonSchema for Template {
    fn schema_name() -> Cow<'static, str> {
        "Template".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Text with placeholders: `{i}` (index in the group, from 0), `{i:03}` (zero-padded), `{group}`, `{site}`; `{{` and `}}` are literal braces.",
            "type": "string",
            "minLength": 1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion() {
        let cases = [
            ("soil-{i}", 7, "soil-7"),
            ("soil-{i:03}", 7, "soil-007"),
            ("soil-{i:03}", 12345, "soil-12345"),
            ("{site}/{group}/{i}", 2, "north/soil/2"),
            ("a{{b}}c", 0, "a{b}c"),
            ("plain", 3, "plain"),
        ];
        for (src, i, want) in cases {
            assert_eq!(Template::parse(src).unwrap().expand(i, "soil", "north"), want, "{src}");
        }
        assert!(Template::parse("x-{i}").unwrap().uses_index());
        assert!(!Template::parse("x-{site}").unwrap().uses_index());
    }

    #[test]
    fn errors() {
        let cases = [
            ("soil-{id}", "did you mean `{i}`?"),
            ("soil-{sit}", "did you mean `{site}`?"),
            ("soil-{i:3}", "bad format"),
            ("soil-{i:0}", "bad format"),
            ("soil-{i", "unclosed"),
            ("soil-}", "without a matching"),
            ("soil-{zzzzzz}", "expected {i}, {i:0N}, {group} or {site}"),
        ];
        for (src, want) in cases {
            let err = Template::parse(src).unwrap_err();
            assert!(err.contains(want), "{src}: {err}");
        }
    }
}
