//! Scenario errors: a typed error, and a compiler-like diagnostic naming the file, line, column
//! and field path, with the offending source line, a caret and a suggestion.

use std::fmt;
use std::path::PathBuf;

/// The most characters of a source line a diagnostic shows.
pub const MAX_EXCERPT: usize = 120;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("error: cannot read scenario `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid scenario.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

impl ScenarioError {
    /// The diagnostic, when the scenario was read but is invalid.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            ScenarioError::Invalid(d) => Some(d),
            ScenarioError::Io { .. } => None,
        }
    }
}

/// The category of a [`Diagnostic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// The file is not well-formed YAML.
    Syntax,
    /// A mapping has a field the format does not know.
    UnknownField,
    /// A mapping lacks a required field.
    MissingField,
    /// A mapping gives the same field twice.
    DuplicateField,
    /// A value has the wrong type or an invalid form.
    InvalidValue,
    /// The values are well-formed but inconsistent (unknown references, duplicates, ranges).
    Semantic,
    /// The file or a value is larger than the limits allow.
    TooLarge,
}

/// One problem in a scenario file, located precisely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The category.
    pub kind: DiagnosticKind,
    /// The file, as given by the caller.
    pub file: PathBuf,
    /// The line, from 1.
    pub line: usize,
    /// The column in characters, from 1.
    pub column: usize,
    /// How many characters the caret underlines, at least 1.
    pub width: usize,
    /// The field path, such as `devices[2].publish[0].qos`, when the problem is inside a field;
    /// for a syntax error, the last field read before it.
    pub field: Option<String>,
    /// What is wrong, as a sentence without a final period.
    pub message: String,
    /// How to fix it, when we can tell.
    pub help: Option<String>,
    /// The source line the problem is on, without its line break.
    pub source_line: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        writeln!(f, "error: {}", self.message)?;
        writeln!(f, "{pad}--> {}:{}:{}", self.file.display(), self.line, self.column)?;
        if !self.source_line.is_empty() || self.line > 0 {
            let chars: Vec<char> =
                self.source_line.chars().map(|c| if c == '\t' { ' ' } else { c }).collect();
            // A long line shows only a window around the column, marked with `…`.
            let column = self.column.max(1) - 1;
            let start = if chars.len() > MAX_EXCERPT {
                column.saturating_sub(MAX_EXCERPT / 3).min(chars.len() - MAX_EXCERPT)
            } else {
                0
            };
            let end = (start + MAX_EXCERPT).min(chars.len());
            let mut line: String = chars[start..end].iter().collect();
            let mut caret_at = column - start.min(column);
            if start > 0 {
                line.insert(0, '…');
                caret_at += 1;
            }
            if end < chars.len() {
                line.push('…');
            }
            let available = (end.saturating_sub(start)).saturating_sub(column - start.min(column));
            let width = self.width.clamp(1, available.max(1));
            writeln!(f, "{pad} |")?;
            writeln!(f, "{number} | {line}")?;
            writeln!(f, "{pad} | {}{}", " ".repeat(caret_at), "^".repeat(width))?;
        }
        if let Some(field) = &self.field {
            // A syntax error is not inside a field; the path says how far reading got.
            let label = if self.kind == DiagnosticKind::Syntax { "after field" } else { "field" };
            writeln!(f, "{pad} = {label}: {field}")?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "{pad} = help: {help}")?;
        }
        Ok(())
    }
}

/// The Levenshtein distance between two strings, in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), c), c))
        .filter(|&(d, c)| d <= limit && d < c.chars().count().max(word.chars().count()))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// A "did you mean" help text, with the list of valid names.
pub(crate) fn suggestion(word: &str, candidates: &[&str], what: &str) -> String {
    let list = candidates.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    match closest(word, candidates.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? The valid {what} are {list}"),
        None if candidates.is_empty() => format!("no {what} are defined"),
        None => format!("the valid {what} are {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_suggestions() {
        assert_eq!(edit_distance("latncy", "latency"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("latncy", ["latency", "loss", "jitter"]), Some("latency"));
        assert_eq!(closest("zzz", ["latency", "loss"]), None);
        assert_eq!(closest("Loss", ["latency", "loss"]), Some("loss"));
    }
}
