//! `summary.md`: the verdict, the violations, the counts and latencies, and the replay command.

use std::fmt::Write as _;

use crate::check::Status;

use super::analysis::Analysis;
use super::v5::V5Facts;
use super::{millis, secs};

/// The most violations the summary lists.
const MAX_LISTED: usize = 10;

/// The most rows each MQTT 5.0 table of the summary lists (report.html lists more).
const MAX_V5_LISTED: usize = 20;

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
    if let Some(v5) = &a.v5 {
        v5_section(&mut out, v5);
    }
    if !a.fault_counts.is_empty() {
        out.push_str("\n## Faults\n\n");
        for (k, n) in &a.fault_counts {
            let _ = writeln!(out, "- {k}: {n}");
        }
    }
    out
}

/// "the first 20 of 34" or "all 12", and how many rows to list.
fn shown(listed: usize, total: usize) -> (usize, String) {
    let n = listed.min(MAX_V5_LISTED);
    let text = if n < total { format!("the first {n} of {total}") } else { format!("all {total}") };
    (n, text)
}

/// The MQTT 5.0 facts: Will Delay, session expiry, shared groups, message expiry.
fn v5_section(out: &mut String, v5: &V5Facts) {
    out.push_str("\n## MQTT 5.0\n\n");
    for line in v5.lines() {
        let _ = writeln!(out, "- {}", cell(&line));
    }
    if !v5.will_waits.is_empty() {
        let (n, which) = shown(v5.will_waits.len(), v5.will_wait_count);
        let _ = writeln!(out, "\n### Wills that waited ({which})\n");
        out.push_str("| device | connection ended | how | Will due | outcome | trace line |\n| --- | ---: | --- | --- | --- | ---: |\n");
        for w in &v5.will_waits[..n] {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&w.device),
                secs(w.closed_us),
                cell(&w.ended),
                w.due_text(),
                w.outcome_text(),
                w.line
            );
        }
    }
    if !v5.session_expiries.is_empty() {
        let (n, which) = shown(v5.session_expiries.len(), v5.session_expiry_count);
        let _ = writeln!(out, "\n### Sessions that expired ({which})\n");
        out.push_str("| device | last connection ended | session ended | owed pairs lost with it | next connection |\n| --- | ---: | ---: | ---: | --- |\n");
        for s in &v5.session_expiries[..n] {
            let next = s.next_text();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {next} |",
                cell(&s.device),
                secs(s.closed_us),
                secs(s.ended_us),
                s.lost_pairs
            );
        }
    }
    for g in &v5.shared {
        let _ = writeln!(out, "\n### Shared group `{}`\n", g.filter);
        out.push_str(
            "| member | copies | first to get | connections lost |\n| --- | ---: | ---: | ---: |\n",
        );
        for m in &g.members {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&m.device),
                m.copies,
                m.firsts,
                m.connections_lost
            );
        }
        if !g.after_leave.is_empty() {
            let (n, which) = shown(g.after_leave.len(), g.after_leave_count);
            let _ = writeln!(
                out,
                "\nMessages first delivered after a member's session ended ({which}):\n"
            );
            out.push_str("| message | QoS | accepted | member left | delivered to |\n| --- | ---: | ---: | --- | --- |\n");
            for m in &g.after_leave[..n] {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} at {} | {} at {} |",
                    cell(&m.message),
                    m.qos,
                    secs(m.accepted_us),
                    cell(&m.left.0),
                    secs(m.left.1),
                    cell(&m.to.0),
                    secs(m.to.1)
                );
            }
        }
        if !g.second_copies.is_empty() {
            let (n, which) = shown(g.second_copies.len(), g.second_copy_count);
            let _ = writeln!(out, "\nMessages that reached a second member ({which}):\n");
            out.push_str("| message | QoS | first to | then to | what let the broker move it |\n| --- | ---: | --- | --- | --- |\n");
            for s in &g.second_copies[..n] {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} at {} | {} at {} | {} |",
                    cell(&s.message),
                    s.qos,
                    cell(&s.first.0),
                    secs(s.first.1),
                    cell(&s.then.0),
                    secs(s.then.1),
                    cell(s.cause.as_deref().unwrap_or("nothing in the trace"))
                );
            }
        }
    }
    let e = &v5.expiry;
    if !e.expired.is_empty() {
        let (n, which) = shown(e.expired.len(), e.expired_count);
        let _ = writeln!(out, "\n### Pairs expired undelivered ({which})\n");
        out.push_str("| message | subscriber | QoS | published | interval | expired at |\n| --- | --- | ---: | ---: | ---: | ---: |\n");
        for p in &e.expired[..n] {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} s | {} |",
                cell(&p.message),
                cell(&p.subscriber),
                p.qos,
                secs(p.published_us),
                p.interval_s,
                secs(p.published_us.saturating_add(u64::from(p.interval_s) * 1_000_000))
            );
        }
    }
}
