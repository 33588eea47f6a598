//! `report.html`: one file, inline CSS and SVG, no script, nothing fetched.

use std::fmt::Write as _;

use crate::check::Status;

use super::analysis::Analysis;
use super::{escape, millis, secs, svg};

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2433; margin: 0; background: #f5f6f8; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 28px 60px; background: #fff; }
h1 { font-size: 24px; margin: 8px 0 2px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #e3e6eb; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.muted { color: #667085; } code, pre { font: 12.5px/1.4 ui-monospace, "SFMono-Regular", Menlo, monospace; }
pre { background: #f4f5f7; padding: 8px 10px; overflow-x: auto; border-radius: 4px; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 600; font-size: 12.5px; }
.pass { background: #dff5e4; color: #116329; } .fail { background: #fde2e1; color: #a4161a; } .skip { background: #eef0f3; color: #555e6c; }
table { border-collapse: collapse; margin: 6px 0; } th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #eef0f3; vertical-align: top; }
th { font-weight: 600; color: #475467; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.violation { border-left: 3px solid #d92d20; padding: 4px 12px; margin: 10px 0; background: #fffafa; }
.violation:target { background: #fff1c2; }
.facts { display: flex; gap: 28px; flex-wrap: wrap; margin: 10px 0; } .facts div b { display: block; font-size: 18px; }
svg { display: block; margin: 8px 0; max-width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #344054; }
svg text.lane { text-anchor: end; font-weight: 600; } svg text.lane.sub { font-weight: 400; fill: #667085; }
svg text.tick { text-anchor: middle; fill: #667085; } svg text.title { text-anchor: middle; font-weight: 600; }
svg .axis, svg .tick { stroke: #98a2b3; } svg .mid { stroke: #d0d5dd; stroke-width: 0.5; }
svg .lane-bg { fill: #fafbfc; } svg .lane-bg.odd { fill: #f2f4f7; }
svg .connect { fill: #12b76a; } svg .disconnect { fill: #f04438; } svg .will { fill: #2e90fa; }
svg .f-cut { fill: #7a5af8; opacity: .22; } svg .f-loss { fill: #f79009; opacity: .25; } svg .f-flap { fill: #eaaa08; opacity: .22; }
svg .f-device { fill: #f04438; opacity: .14; } svg .f-broker { fill: #101828; opacity: .12; }
svg .vmark circle { fill: #d92d20; } svg .vmark line { stroke: #d92d20; stroke-width: 1; stroke-dasharray: 2 2; opacity: .7; } svg .vmark text { fill: #fff; font-size: 9px; text-anchor: middle; font-weight: 700; }
svg .bar.q0 { fill: #98a2b3; } svg .bar.q1 { fill: #2e90fa; } svg .bar.q2 { fill: #7a5af8; }
svg .series { fill: none; stroke-width: 1.6; } svg .in-flight { stroke: #2e90fa; } svg .queued { stroke: #f79009; } svg .delivered { stroke: #12b76a; stroke-dasharray: 3 2; }
svg .out.delivered { fill: #12b76a; } svg .out.allowed { fill: #fdb022; } svg .out.lost { fill: #f04438; } svg .out.exempt { fill: #d0d5dd; }
svg rect.actor { fill: #eef4ff; stroke: #84adff; } svg text.actor { text-anchor: middle; font-weight: 600; }
svg .lifeline { stroke: #98a2b3; stroke-dasharray: 4 3; } svg line.msg { stroke: #344054; stroke-width: 1.2; }
svg text.msg { text-anchor: middle; } svg text.time { text-anchor: end; fill: #667085; font-variant-numeric: tabular-nums; }
svg rect.note { fill: #fffbeb; stroke: #fec84b; } svg text.note { text-anchor: middle; }
svg rect.note.bad { fill: #fef3f2; stroke: #fda29b; } svg rect.note.fault { fill: #f4f3ff; stroke: #bdb4fe; }
svg .arrowhead { fill: #344054; }
.legend-row span { display: inline-block; margin-right: 16px; } .sw { display: inline-block; width: 12px; height: 12px; vertical-align: -2px; margin-right: 4px; border-radius: 2px; }
"#;

fn status_badge(status: &Status) -> (&'static str, String) {
    match status {
        Status::Pass => ("pass", "pass".to_owned()),
        Status::Fail => ("fail", "FAIL".to_owned()),
        Status::NotChecked { reason } => ("skip", format!("not checked: {reason}")),
        Status::NotExercised { reason } => ("fail", format!("not exercised: {reason}")),
    }
}

/// Renders the page.
pub(crate) fn render(a: &Analysis) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let failed = a.verdict.failed();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n<title>{} seed {}: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&a.name),
        a.seed,
        if failed { "FAIL" } else { "pass" }
    );
    let _ = writeln!(
        out,
        r#"<h1>{} <span class="badge {}">{}</span></h1>"#,
        escape(&a.name),
        if failed { "fail" } else { "pass" },
        if failed {
            format!("FAIL · {} violations", a.verdict.violation_count())
        } else {
            "pass".to_owned()
        }
    );
    if !a.description.is_empty() {
        let _ = writeln!(out, r#"<p class="muted">{}</p>"#, escape(&a.description));
    }
    let _ = writeln!(
        out,
        r#"<div class="facts"><div>seed<b>{}</b></div><div>simulated<b>{}</b></div><div>trace records<b>{}</b></div><div>device groups<b>{}</b></div><div>faults<b>{}</b></div></div>"#,
        a.seed,
        secs(a.end_us),
        a.records,
        a.groups.len(),
        a.fault_counts.values().sum::<u64>()
    );
    let _ = writeln!(out, "<p>Replay: <code id=\"replay\">{}</code></p>", escape(&a.replay));

    // Verdict.
    out.push_str("<h2 id=\"verdict\">Verdict</h2>\n<table>\n<tr><th>expectation</th><th>status</th><th>violations</th><th>notes</th></tr>\n");
    for o in &a.verdict.outcomes {
        let (class, text) = status_badge(&o.status);
        let first = a.violations.iter().find(|v| v.guarantee == o.guarantee.name()).map(|v| v.n);
        let count = match first {
            Some(n) => format!(r##"<a href="#v{n}">{}</a>"##, o.violation_count),
            None => o.violation_count.to_string(),
        };
        let _ = writeln!(
            out,
            r#"<tr><td><code>{}</code></td><td><span class="badge {class}">{}</span></td><td class="n">{count}</td><td>{}</td></tr>"#,
            o.guarantee.name(),
            escape(&text),
            escape(&o.notes.join("; "))
        );
    }
    out.push_str("</table>\n");

    // Violations.
    if !a.violations.is_empty() {
        let _ = writeln!(out, "<h2 id=\"violations\">Violations</h2>");
        let shown = a.violations.len() as u64;
        if a.verdict.violation_count() > shown {
            let _ = writeln!(
                out,
                r#"<p class="muted">The first {shown} of {} violations (the checker keeps 20 per expectation).</p>"#,
                a.verdict.violation_count()
            );
        }
        for v in &a.violations {
            let at = v.t_us.map_or_else(|| "time unknown".to_owned(), secs);
            let timeline = if v.t_us.is_some() {
                format!(r##" · <a href="#tl-v{}">on the timeline</a>"##, v.n)
            } else {
                String::new()
            };
            let diagram = if v.message.is_some()
                && a.sequences.iter().any(|s| s.id == format!("seq-v{}", v.n))
            {
                format!(r##" · <a href="#seq-v{}">sequence</a>"##, v.n)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                r#"<div class="violation" id="v{n}"><b>{n}. [{}]</b> {} <span class="muted">at {at}{timeline}{diagram}</span><br>expected: {}<br>observed: {}"#,
                escape(&v.guarantee),
                escape(&v.title),
                escape(&v.expected),
                escape(&v.observed),
                n = v.n
            );
            if !v.trace.is_empty() {
                let _ = writeln!(out, "<pre>{}</pre>", escape(&v.trace.join("\n")));
            }
            out.push_str("</div>\n");
        }
    }

    // Timeline.
    out.push_str("<h2 id=\"timeline\">Faults, connects and Wills over simulated time</h2>\n");
    out.push_str(r#"<p class="legend-row"><span><i class="sw" style="background:#12b76a"></i>connects (up)</span><span><i class="sw" style="background:#f04438"></i>disconnects (down)</span><span><i class="sw" style="background:#2e90fa"></i>Wills</span><span><i class="sw" style="background:#7a5af8;opacity:.4"></i>partition / blackout</span><span><i class="sw" style="background:#f79009;opacity:.45"></i>loss burst</span><span><i class="sw" style="background:#eaaa08;opacity:.4"></i>flapping</span><span><i class="sw" style="background:#f04438;opacity:.3"></i>device faults</span><span><i class="sw" style="background:#101828;opacity:.25"></i>broker down</span></p>"#);
    out.push('\n');
    let _ = writeln!(
        out,
        r#"<p class="muted">{} bins of {}; bar heights grow with the square root of the count, scaled per group (hover a bar for its count).</p>"#,
        super::BINS,
        secs(a.bin_us)
    );
    out.push_str(&svg::timeline(a));
    if !a.fault_counts.is_empty() {
        out.push_str("<table><tr><th>fault</th><th>times</th></tr>\n");
        for (k, n) in &a.fault_counts {
            let _ = writeln!(out, r#"<tr><td>{}</td><td class="n">{n}</td></tr>"#, escape(k));
        }
        out.push_str("</table>\n");
    }

    // Sequence diagrams.
    out.push_str("<h2 id=\"sequences\">Sequence diagrams</h2>\n");
    if a.sequences.is_empty() {
        out.push_str("<p class=\"muted\">No device published or was named.</p>\n");
    }
    for s in &a.sequences {
        let _ = writeln!(out, "<h3>{}</h3>", escape(&s.title));
        if s.truncated {
            let _ = writeln!(
                out,
                r#"<p class="muted">A window of {} events; the trace has more.</p>"#,
                s.steps.len()
            );
        }
        out.push_str(&svg::sequence(s));
    }

    // Messages.
    out.push_str("<h2 id=\"latency\">Delivery latency (publish → first copy)</h2>\n");
    out.push_str("<p class=\"muted\">One sample per delivered pair of the counts table below, by effective QoS: from the publish (a Will: its publication) to the subscriber's first copy.</p>\n");
    out.push_str("<table><tr><th>QoS</th><th>delivered pairs</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\n");
    for (q, s) in a.latency.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<tr><td>{q}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            s.samples,
            millis(s.p50_us),
            millis(s.p90_us),
            millis(s.p99_us),
            millis(s.max_us)
        );
    }
    out.push_str("</table>\n");
    out.push_str(&svg::latency(&a.latency));
    out.push_str("<h2 id=\"flight\">Messages in flight and queued</h2>\n");
    out.push_str(&svg::flight(a));
    out.push_str("<h2 id=\"outcomes\">Deliveries, duplicates and losses per QoS</h2>\n");
    out.push_str(&svg::outcomes(a));
    let _ = writeln!(out, "<p class=\"muted\">{}</p>", escape(super::COUNTS_DEFINITION));
    out.push_str("<table id=\"counts\"><tr><th>QoS</th><th>published</th><th>accepted</th><th>pairs</th><th>delivered</th><th>duplicates</th><th>allowed loss</th><th>exempt</th><th>lost</th><th>not delivered</th></tr>\n");
    for q in 0..3 {
        let c = a.counts(q);
        let _ = writeln!(
            out,
            r#"<tr><td>{q}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{:.2}%</td></tr>"#,
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
    out.push_str("</table>\n");
    let reasons = a.verdict.reason_lines();
    if !reasons.is_empty() {
        out.push_str("<h2 id=\"undelivered\">Pairs not delivered, and why</h2>\n<ul>\n");
        for line in &reasons {
            let _ = writeln!(out, "<li>{}</li>", escape(line));
        }
        out.push_str("</ul>\n");
        let (shown, sentence) = super::undelivered_shown(a.verdict.undelivered.len());
        let _ = writeln!(out, r#"<p class="muted">{sentence}.</p>"#);
        out.push_str("<table id=\"undelivered-pairs\"><tr><th>message</th><th>publisher</th><th>topic</th><th>subscriber</th><th>QoS</th><th>reason</th><th>detail</th></tr>\n");
        for u in &a.verdict.undelivered[..shown] {
            let _ = writeln!(
                out,
                r#"<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td class="n">{}</td><td>{} ({})</td><td>{}</td></tr>"#,
                escape(&u.message.id),
                escape(&u.message.publisher),
                escape(&u.message.topic),
                escape(&u.subscriber),
                u.qos,
                u.reason,
                u.class.name(),
                escape(&u.detail)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2 id=\"coverage\">Coverage</h2>\n<p class=\"muted\">What the run went through.</p>\n<table><tr><th>situation</th><th>times</th></tr>\n");
    for (what, n) in a.verdict.coverage.items() {
        let _ = writeln!(out, r#"<tr><td>{}</td><td class="n">{n}</td></tr>"#, escape(&what));
    }
    out.push_str("</table>\n");
    out.push_str("<p class=\"muted\">Written by mqtt-sim from the trace; the same trace gives the same page.</p>\n</main>\n</body>\n</html>\n");
    out
}
