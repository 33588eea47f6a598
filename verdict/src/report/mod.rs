//! Reports people read: a self-contained HTML page, a Markdown summary and JUnit XML for CI.
//!
//! [`Analysis::build`] walks a trace once and aggregates it into bounded pieces (binned
//! timelines, latency histograms, sequence diagrams of a bounded window of events); the
//! renderers turn an analysis into text. Rendering is deterministic: the same trace, scenario
//! and verdict give the same bytes.
//!
//! Modules:
//! - `analysis`: the one pass over the trace: groups, fault spans, bins, latencies, sequences.
//! - `html`: `report.html`, inline CSS and SVG written by hand, no script, nothing fetched.
//! - `svg`: the SVG plots: fault timeline, sequence diagrams, histograms, line and bar charts.
//! - `markdown`: `summary.md`.
//! - `junit`: `junit.xml`, one test case per expectation.
//! - `index`: the `index.html` of a seed sweep.
//! - `v5`: the MQTT 5.0 facts: Will Delay waits, expired sessions, shared-subscription groups,
//!   expired messages.

mod analysis;
mod html;
mod index;
mod junit;
mod markdown;
mod svg;
mod v5;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use analysis::{
    Analysis, GroupRow, LATENCY_EDGES_MS, LatencyStats, Sequence, Span, Step, StepKind,
    ViolationRef,
};
pub use index::render_explore_index;
pub use v5::{
    AfterLeave, ExpiredPair, ExpiryFacts, MAX_MEMBERS, MAX_SHARED_GROUPS, MAX_V5_ROWS, Member,
    SecondCopy, SessionExpiry, SharedGroup, V5Facts, WillOutcome, WillWait,
};

use crate::check::Verdict;
use crate::scenario::Scenario;
use crate::trace::Record;

/// The number of time bins of timelines and over-time plots.
pub const BINS: usize = 120;

/// The most steps a sequence diagram shows.
pub const MAX_STEPS: usize = 48;

/// The most violations that get their own sequence diagram.
pub const MAX_VIOLATION_DIAGRAMS: usize = 6;

/// What a report is made of.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The scenario the run played (after any swarm variation).
    pub scenario: &'a Scenario,
    /// The whole trace, in time order.
    pub records: &'a [Record],
    /// The checker's verdict on the trace.
    pub verdict: &'a Verdict,
    /// The seed of the run.
    pub seed: u64,
    /// When the run ended.
    pub end: Duration,
    /// The command that replays the run.
    pub replay: &'a str,
    /// The device whose sequence diagram to draw (default: the device of the first violation,
    /// else the first publisher).
    pub device: Option<&'a str>,
}

/// A report could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JUnit XML could not be serialised.
    #[error("serialising junit.xml: {0}")]
    Junit(#[from] quick_junit::SerializeError),
}

/// The files a report was written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `report.html`.
    pub html: PathBuf,
    /// `summary.md`.
    pub markdown: PathBuf,
    /// `junit.xml`.
    pub junit: PathBuf,
}

/// Renders `report.html`.
pub fn render_html(analysis: &Analysis) -> String {
    html::render(analysis)
}

/// Renders `summary.md`.
pub fn render_markdown(analysis: &Analysis) -> String {
    markdown::render(analysis)
}

/// Renders `junit.xml`.
///
/// # Errors
///
/// Returns the XML writer's error.
pub fn render_junit(analysis: &Analysis) -> Result<String, ReportError> {
    junit::render(analysis)
}

/// Analyses `input` and writes `report.html`, `summary.md` and `junit.xml` into `dir`.
///
/// # Errors
///
/// Returns the first file that could not be written.
pub fn write_report(dir: &Path, input: &ReportInput<'_>) -> Result<ReportFiles, ReportError> {
    write_analysis(dir, &Analysis::build(input))
}

/// Writes `report.html`, `summary.md` and `junit.xml` of an analysis into `dir` (for a caller
/// that shows more of the analysis, such as the MQTT 5.0 lines `run` prints).
///
/// # Errors
///
/// Returns the first file that could not be written.
pub fn write_analysis(dir: &Path, analysis: &Analysis) -> Result<ReportFiles, ReportError> {
    let files = ReportFiles {
        html: dir.join("report.html"),
        markdown: dir.join("summary.md"),
        junit: dir.join("junit.xml"),
    };
    let write = |path: &Path, text: String| {
        std::fs::write(path, text)
            .map_err(|source| ReportError::Io { path: path.to_owned(), source })
    };
    write(&files.html, render_html(analysis))?;
    write(&files.markdown, render_markdown(analysis))?;
    write(&files.junit, render_junit(analysis)?)?;
    Ok(files)
}

/// Escapes text for HTML and XML content and attributes.
/// What the counts table means, said once for the markdown and HTML reports.
pub(crate) const COUNTS_DEFINITION: &str = "Messages count by the QoS they were published with; \
(message, subscriber) pairs by their effective QoS, the lower of the publish QoS and the granted \
QoS. A pair is delivered when the subscriber got at least one copy (forwarded, or with RETAIN=1 \
on a subscription); Wills count as messages. Every pair not delivered has one reason: an \
allowed loss (gone for a reason the standard allows), exempt (the guarantee did not, or not \
yet, cover it) or lost (a violation at QoS 1 and 2). The latencies are those of the delivered \
pairs, from the publish to the first copy.";

/// The most undelivered pairs the markdown and HTML reports list.
pub(crate) const MAX_UNDELIVERED_SHOWN: usize = 50;

/// How many of the `n` undelivered pairs a page lists, and the sentence that says so.
pub(crate) fn undelivered_shown(n: usize) -> (usize, String) {
    let shown = n.min(MAX_UNDELIVERED_SHOWN);
    let sentence = if shown < n {
        format!("The first {shown} of {n} (all are in verdict.json)")
    } else {
        format!("All {n} (also in verdict.json)")
    };
    (shown, sentence)
}

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Simulated time in seconds with millisecond precision.
pub(crate) fn secs(t_us: u64) -> String {
    format!("{}.{:03} s", t_us / 1_000_000, (t_us % 1_000_000) / 1000)
}

/// A latency in readable units.
pub(crate) fn millis(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else {
        format!("{:.1} ms", us as f64 / 1e3)
    }
}
