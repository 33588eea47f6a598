//! The YAML scenario format: the model, its parser with located errors, and its JSON Schema.
//!
//! A scenario describes a whole simulated world: the broker, the sites and their links, the
//! device groups, the faults on the timeline and the properties the checker must verify. The
//! user's reference is `scenarios/README.md`.
//!
//! ```
//! use std::path::Path;
//! use mqttsim_verdict::scenario::parse_scenario;
//!
//! let yaml = r#"
//! name: tiny
//! seed: 7
//! duration: 10m
//! protocol: "3.1.1"
//! sites:
//!   - name: field
//!     link: { latency: 40ms, loss: 1% }
//! devices:
//!   - group: soil
//!     site: field
//!     count: 3
//!     client_id: "soil-{i:03}"
//!     publish:
//!       - { topic: "farm/{site}/{i}/moisture", qos: 1, every: 30s }
//! "#;
//! let scenario = parse_scenario(yaml, Path::new("tiny.yaml")).unwrap();
//! assert_eq!(scenario.device_count(), 3);
//! assert_eq!(scenario.devices[0].client_id(2), "soil-002");
//!
//! let err = parse_scenario(&yaml.replace("latency", "latncy"), Path::new("tiny.yaml")).unwrap_err();
//! assert!(err.to_string().contains("did you mean `latency`?"));
//! ```
//!
//! Modules:
//! - [`model`]: the serde types of every section, and accessors the simulator needs.
//! - [`units`]: durations, rates, event rates, bounds, QoS levels and the protocol version.
//! - [`template`]: client id and topic templates (`soil-{i:03}`).
//! - [`error`]: [`ScenarioError`] and the compiler-like [`Diagnostic`].
//! - `validate`: semantic checks after deserialisation (private).
//! - `source_map`: field paths to source locations (private).

pub mod error;
pub mod model;
mod source_map;
pub mod template;
pub mod units;
mod validate;

use std::path::Path;

use serde_saphyr::Error as YamlError;

pub use error::{Diagnostic, DiagnosticKind, ScenarioError};
pub use model::*;
pub use template::Template;
pub use units::{Bound, BoundOp, EventRate, ProtocolVersion, Qos, Ratio, TimeSpan};
pub use validate::{MAX_BURST, MAX_DEVICES, MAX_LATENCY, MAX_PAYLOAD, MAX_QUEUE};

use source_map::{Node, Prefer, SourceMap};

/// The largest scenario file accepted, in bytes.
pub const MAX_SOURCE_LEN: usize = 4 << 20;

/// Reads and parses the scenario file at `path`.
pub fn load_scenario(path: &Path) -> Result<Scenario, ScenarioError> {
    let io = |source| ScenarioError::Io { path: path.to_owned(), source };
    let bytes = std::fs::read(path).map_err(io)?;
    match String::from_utf8(bytes) {
        Ok(text) => parse_scenario(&text, path),
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let text = String::from_utf8_lossy(valid);
            let line = text.matches('\n').count() + 1;
            let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            Err(invalid(Diagnostic {
                kind: DiagnosticKind::Syntax,
                file: path.to_owned(),
                line,
                column,
                width: 1,
                field: None,
                message: "the file is not valid UTF-8".to_owned(),
                help: None,
                source_line: text.rsplit('\n').next().unwrap_or("").to_owned(),
            }))
        }
    }
}

/// Parses and validates a scenario; `path` is only used in error messages.
pub fn parse_scenario(source: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let located = |kind, line, column, width, field, message, help| {
        invalid(Diagnostic {
            kind,
            file: path.to_owned(),
            line,
            column,
            width,
            field,
            message,
            help,
            source_line: source.lines().nth(line.max(1) - 1).unwrap_or("").to_owned(),
        })
    };
    if source.len() > MAX_SOURCE_LEN {
        return Err(located(
            DiagnosticKind::TooLarge,
            1,
            1,
            1,
            None,
            format!("the scenario is larger than {} MiB", MAX_SOURCE_LEN >> 20),
            None,
        ));
    }
    let (map, syntax) = SourceMap::build(source);
    if let Some(e) = syntax {
        let (line, column, help) = syntax_help(source, &e.message, e.line, e.column);
        let after = map.last_path_before(e.start);
        return Err(located(
            DiagnosticKind::Syntax,
            line,
            column,
            1,
            after,
            format!("invalid YAML: {}", e.message),
            Some(help.to_owned()),
        ));
    }
    let scenario: Scenario = match serde_saphyr::from_str(source) {
        Ok(s) => s,
        Err(e) => {
            let t = translate(&e, source);
            let (line, column, width, field) = match t.offset.and_then(|o| map.node_at(o, t.prefer))
            {
                Some(node) => {
                    let field = match &t.child {
                        Some(child) if node.path.is_empty() => Some(child.clone()),
                        Some(child) => Some(format!("{}.{child}", node.path)),
                        None => (!node.path.is_empty()).then(|| node.path.clone()),
                    };
                    let width = if t.prefer == Prefer::Map { 1 } else { node.len };
                    (node.line, node.column, width, field)
                }
                None => (t.line, t.column, 1, None),
            };
            let message = match (&t.number, field.as_deref().and_then(number_range)) {
                (Some(text), Some(range)) => format!("`{text}` is out of range: expected {range}"),
                _ => t.message,
            };
            return Err(located(t.kind, line, column, width, field, message, t.help));
        }
    };
    if let Err(issue) = validate::validate(&scenario) {
        let node: Option<&Node> = if issue.at_key {
            map.find_key(&issue.path).or_else(|| map.find(&issue.path))
        } else {
            map.find(&issue.path)
        };
        let (line, column, width) = node.map_or((1, 1, 1), |n| (n.line, n.column, n.len));
        return Err(located(
            DiagnosticKind::Semantic,
            line,
            column,
            width,
            Some(issue.path),
            issue.message,
            issue.help,
        ));
    }
    Ok(scenario)
}

/// A hint for a YAML syntax error, and a better position when we can find one.
fn syntax_help(
    source: &str,
    message: &str,
    line: usize,
    column: usize,
) -> (usize, usize, &'static str) {
    if message.contains("tab") {
        let tab = source.lines().enumerate().skip(line.max(1) - 1).find_map(|(i, l)| {
            let indent: String = l.chars().take_while(|c| c.is_whitespace()).collect();
            indent.find('\t').map(|col| (i + 1, indent[..col].chars().count() + 1))
        });
        if let Some((l, c)) = tab {
            return (l, c, "YAML indents with spaces; replace this tab with spaces");
        }
        return (line, column, "YAML indents with spaces; replace tabs with spaces");
    }
    if message.contains("flow") {
        return (line, column, "a `{` or `[` opened above is not closed, or a `,` is missing");
    }
    if message.contains("mapping values are not allowed") {
        return (
            line,
            column,
            "this `key: value` is indented differently from the fields beside it, or a value containing `: ` needs quotes",
        );
    }
    (line, column, "check the indentation, quotes and brackets on this line and the lines above")
}

/// A number with thousands separators (`1,000,000`).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The range of a whole-number field whose limit is narrower than its type's, by the field's
/// name (the last part of its path).
fn number_range(field: &str) -> Option<String> {
    let name = field.rsplit('.').next().unwrap_or(field);
    let name = name.split('[').next().unwrap_or(name);
    let thousands = |n: u32| thousands(u64::from(n));
    Some(match name {
        "count" => format!("1 to {}", thousands(validate::MAX_DEVICES)),
        "max_inflight" => "1 to 65,535".to_owned(),
        "max_queued" | "capacity" => format!("0 to {}", thousands(validate::MAX_QUEUE)),
        "payload_size" => format!("0 to {} bytes (1 MiB)", thousands(validate::MAX_PAYLOAD)),
        "size" if field.contains("burst") => format!("1 to {}", thousands(validate::MAX_BURST)),
        "max_retransmissions" => "1 to 64".to_owned(),
        _ => return None,
    })
}

fn invalid(d: Diagnostic) -> ScenarioError {
    ScenarioError::Invalid(Box::new(d))
}

/// A serde-saphyr error in our words.
struct Translated {
    kind: DiagnosticKind,
    message: String,
    help: Option<String>,
    offset: Option<usize>,
    line: usize,
    column: usize,
    prefer: Prefer,
    /// A field name to append to the located node's path (for a missing field).
    child: Option<String>,
    /// A whole number outside its type's range: its text, so that the message can give the
    /// field's own range once the field is known.
    number: Option<String>,
}

fn friendly_type(ty: &str) -> &str {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number",
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "bool" | "boolean" => "`true` or `false`",
        "string" | "str" => "a string",
        other => other,
    }
}

fn translate(e: &YamlError, source: &str) -> Translated {
    let location = e.location();
    let offset = location.map(|l| l.span().offset() as usize);
    let (line, column) = location.map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
    let mut t = Translated {
        kind: DiagnosticKind::InvalidValue,
        message: String::new(),
        help: None,
        offset,
        line,
        column,
        prefer: Prefer::Value,
        child: None,
        number: None,
    };
    let text_at = || {
        let start = offset.unwrap_or(0);
        let len = location.map_or(1, |l| l.span().len() as usize).max(1);
        source.chars().skip(start).take(len.min(80)).collect::<String>()
    };
    match e.without_snippet() {
        YamlError::SerdeUnknownField { field, expected, .. } => {
            t.kind = DiagnosticKind::UnknownField;
            t.prefer = Prefer::Key;
            t.message = format!("unknown field `{field}`");
            t.help = Some(error::suggestion(field, expected, "fields here"));
        }
        YamlError::SerdeUnknownVariant { variant, expected, .. } => {
            t.prefer = Prefer::Exact;
            t.message = format!("unknown value `{variant}`");
            t.help = Some(error::suggestion(variant, expected, "values"));
        }
        YamlError::SerdeMissingField { field, .. } => {
            t.kind = DiagnosticKind::MissingField;
            t.prefer = Prefer::Map;
            t.message = format!("missing field `{field}`");
            t.help = Some(format!("add `{field}: ...` to this mapping; see scenarios/README.md"));
            t.child = Some((*field).to_owned());
        }
        YamlError::SerdeInvalidType { unexpected, expected, .. } => {
            let unexpected = match unexpected.as_str() {
                "unit value" => "an empty value",
                other => other,
            };
            t.message = format!("expected {expected}, found {unexpected}");
        }
        YamlError::SerdeInvalidValue { unexpected, expected, .. } => {
            t.message = format!("invalid value {unexpected}: expected {expected}");
        }
        YamlError::SerdeInvalidLength { len, expected, .. } => {
            t.message = format!("invalid length {len}: expected {expected}");
        }
        YamlError::InvalidScalar { ty, .. } => {
            let text = text_at();
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            let max = match *ty {
                "u8" => Some(u64::from(u8::MAX)),
                "u16" => Some(u64::from(u16::MAX)),
                "u32" => Some(u64::from(u32::MAX)),
                "u64" => Some(u64::MAX),
                _ => None,
            };
            t.message = match max {
                Some(max) if digits(&text) => {
                    t.number = Some(text.clone());
                    format!("`{text}` is too large: at most {max}")
                }
                Some(_) if text.strip_prefix('-').is_some_and(digits) => {
                    t.number = Some(text.clone());
                    format!("`{text}` is negative: expected a whole number from 0")
                }
                _ => {
                    if ty.starts_with('u') || ty.starts_with('i') {
                        t.help = Some(
                            "whole numbers are written without quotes, units or decimals, such as `100`"
                                .to_owned(),
                        );
                    }
                    format!("`{text}` is not {}", friendly_type(ty))
                }
            };
        }
        YamlError::Message { msg, .. } => {
            t.message = msg.clone();
        }
        YamlError::DuplicateMappingKey { key, .. } => {
            t.kind = DiagnosticKind::DuplicateField;
            t.prefer = Prefer::Key;
            t.message = match key {
                Some(k) => format!("the field `{k}` is given twice"),
                None => "a key is given twice in this mapping".to_owned(),
            };
        }
        YamlError::Unexpected { expected, .. } => {
            t.message = match *expected {
                "mapping start" => "expected a mapping (`key: value` lines)".to_owned(),
                "sequence start" => "expected a list (lines starting with `- `)".to_owned(),
                other => format!("expected {other}"),
            };
        }
        YamlError::Eof { .. } => {
            t.kind = DiagnosticKind::MissingField;
            t.message = "the scenario is empty: expected a mapping with `name`, `seed`, `duration`, `protocol`, `sites` and `devices`".to_owned();
        }
        YamlError::NullIntoString { .. } => {
            t.message = "this value is empty, but a string is expected".to_owned();
        }
        YamlError::AliasError { error, .. } | YamlError::WithSnippet { error, .. } => {
            return translate(error, source);
        }
        YamlError::Budget { .. } => {
            t.kind = DiagnosticKind::TooLarge;
            t.message = "the scenario is too large or too deeply nested".to_owned();
        }
        YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. } => {
            t.kind = DiagnosticKind::TooLarge;
            t.message = "YAML aliases expand to too large a document".to_owned();
        }
        other => {
            t.kind = DiagnosticKind::Syntax;
            let rendered = other.to_string();
            let first = rendered.lines().next().unwrap_or("invalid YAML");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let first = match first.split_once(": ") {
                Some((head, rest)) if head.starts_with("line ") => rest,
                _ => first,
            };
            t.message = first.to_owned();
        }
    }
    t
}

/// The JSON Schema of the scenario format, as pretty-printed JSON with a final newline.
pub fn json_schema() -> String {
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Scenario>();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serialises");
    text.push('\n');
    text
}
