//! `summary.md`: the verdict, the violations, the counts and latencies, and the replay command.

use std::fmt::Write as _;

use crate::check::Status;

use super::analysis::Analysis;
use super::{millis, secs};

/// The most violations the summary lists.
const MAX_LISTED: usize = 10;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Renders the summary.
pub(crate) fn render(a: &Analysis) -> String {
    let mut out = String::new();
    let verdict = if a.verdict.failed() {
        format!("**FAIL** ({})", crate::check::verdict::violations(a.verdict.violation_count()))
    } else {
        "**pass**".to_owned()
    };
    let _ = writeln!(out, "# {}: {verdict}\n", a.name);
    let _ = writeln!(out, "- seed: {}", a.seed);
    let _ = writeln!(out, "- simulated: {}", secs(a.end_us));
    let _ = writeln!(out, "- trace records: {}", a.records);
    let _ = writeln!(out, "- replay: `{}`", a.replay);
    out.push_str(
        "\n## Expectations\n\n| expectation | status | violations |\n| --- | --- | ---: |\n",
    );
    for o in &a.verdict.outcomes {
        let status = match &o.status {
            Status::Pass => "pass".to_owned(),
            Status::Fail => "**FAIL**".to_owned(),
            Status::NotChecked { reason } => format!("not checked ({})", cell(reason)),
            Status::NotExercised { reason } => format!("**not exercised** ({})", cell(reason)),
        };
        let _ = writeln!(out, "| `{}` | {status} | {} |", o.guarantee.name(), o.violation_count);
    }
    if !a.violations.is_empty() {
        out.push_str("\n## Violations\n\n");
        for v in a.violations.iter().take(MAX_LISTED) {
            let at = v.t_us.map_or_else(|| "time unknown".to_owned(), secs);
            let _ = writeln!(out, "{}. `{}` {} at {at}", v.n, v.guarantee, cell(&v.title));
            let _ = writeln!(out, "   - expected: {}", cell(&v.expected));
            let _ = writeln!(out, "   - observed: {}", cell(&v.observed));
        }
        let more =
            a.verdict.violation_count().saturating_sub(MAX_LISTED.min(a.violations.len()) as u64);
        if more > 0 {
            let _ = writeln!(out, "\n…and {more} more (see report.html and verdict.json).");
        }
    }
    let _ = writeln!(out, "\n## Messages and pairs per QoS\n\n{}\n", super::COUNTS_DEFINITION);
    out.push_str("| QoS | published | accepted | pairs | delivered | duplicates | allowed loss | exempt | lost | not delivered |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for q in 0..3 {
        let c = a.counts(q);
        let _ = writeln!(
            out,
            "| {q} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2}% |",
            c.published,
            c.accepted,
            c.pairs,
            c.delivered,
            c.duplicates,
            c.allowed_losses,
            c.exempt,
            c.lost,
            c.undelivered_ratio(&[]) * 100.0
        );
    }
    let reasons = a.verdict.reason_lines();
    if !reasons.is_empty() {
        out.push_str("\n## Pairs not delivered\n\n");
        for line in &reasons {
            let _ = writeln!(out, "- {}", cell(line));
        }
        let (shown, sentence) = super::undelivered_shown(a.verdict.undelivered.len());
        let _ = writeln!(out, "\n{sentence}:\n");
        out.push_str("| message | publisher | topic | subscriber | QoS | reason | detail |\n| --- | --- | --- | --- | ---: | --- | --- |\n");
        for u in &a.verdict.undelivered[..shown] {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} ({}) | {} |",
                cell(&u.message.id),
                cell(&u.message.publisher),
                cell(&u.message.topic),
                cell(&u.subscriber),
                u.qos,
                u.reason,
                u.class.name(),
                cell(&u.detail)
            );
        }
    }
    out.push_str(
        "\n## Coverage\n\nWhat the run went through.\n\n| situation | times |\n| --- | ---: |\n",
    );
    for (what, n) in a.verdict.coverage.items() {
        let _ = writeln!(out, "| {} | {n} |", cell(&what));
    }
    out.push_str("\n## Delivery latency (publish → first copy)\n\nOne sample per delivered pair of the table above, by effective QoS: from the publish (a\nWill: its publication) to the subscriber's first copy.\n\n| QoS | delivered pairs | p50 | p90 | p99 | max |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (q, s) in a.latency.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {q} | {} | {} | {} | {} | {} |",
            s.samples,
            millis(s.p50_us),
            millis(s.p90_us),
            millis(s.p99_us),
            millis(s.max_us)
        );
    }
    if !a.fault_counts.is_empty() {
        out.push_str("\n## Faults\n\n");
        for (k, n) in &a.fault_counts {
            let _ = writeln!(out, "- {k}: {n}");
        }
    }
    out
}
