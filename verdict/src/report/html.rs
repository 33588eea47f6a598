//! `report.html`: one file, inline CSS and SVG, no script, nothing fetched.

use std::fmt::Write as _;

use crate::check::Status;

use super::analysis::Analysis;
use super::v5::V5Facts;
use super::{escape, millis, secs, svg};

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2433; margin: 0; background: #f5f6f8; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 28px 60px; background: #fff; }
h1 { font-size: 24px; margin: 8px 0 2px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #e3e6eb; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; } h4 { font-size: 14px; margin: 14px 0 4px; } tr.missing td { color: #a4161a; }
#will-waits td:first-child, #session-expiries td:first-child, .members td:first-child { white-space: nowrap; }
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
svg .will-wait { fill: #2e90fa; opacity: .55; } svg .ww { opacity: .8; } svg .ww.published { fill: #2e90fa; } svg .ww.cancelled { fill: #12b76a; }
svg .ww.waiting { fill: #98a2b3; } svg .ww.missing { fill: #f04438; } svg .sx { fill: #7a5af8; opacity: .35; } svg .sx-end { stroke: #7a5af8; stroke-width: 1.6; fill: none; }
svg .down { fill: #101828; opacity: .08; } svg .copies { fill: #2e90fa; } svg .second { fill: #f79009; } svg .moved { fill: #7a5af8; }
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
    if a.groups.iter().any(|g| !g.will_waits.is_empty()) {
        out.push_str(r#"<p class="legend-row"><span><i class="sw" style="background:#2e90fa;opacity:.55"></i>a band along a group's top: Wills waiting for their Will Delay Interval (MQTT 5.0)</span></p>"#);
        out.push('\n');
    }
    out.push_str(&svg::timeline(a));
    if !a.fault_counts.is_empty() {
        out.push_str("<table><tr><th>fault</th><th>times</th></tr>\n");
        for (k, n) in &a.fault_counts {
            let _ = writeln!(out, r#"<tr><td>{}</td><td class="n">{n}</td></tr>"#, escape(k));
        }
        out.push_str("</table>\n");
    }

    if let Some(v5) = &a.v5 {
        v5_section(&mut out, a, v5);
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

/// "The first 50 of 340", "All 12" or "The one", for a bounded list.
fn listed(shown: usize, total: usize) -> String {
    match total {
        1 => "The one".to_owned(),
        _ if shown < total => format!("The first {shown} of {total}"),
        _ => format!("All {total}"),
    }
}

/// The MQTT 5.0 section: Will Delay, session expiry, shared groups, message expiry.
fn v5_section(out: &mut String, a: &Analysis, v5: &V5Facts) {
    out.push_str("<h2 id=\"v5\">MQTT 5.0: Will Delay, session expiry, shared subscriptions, message expiry</h2>\n");
    out.push_str("<p class=\"muted\">What the 5.0 devices' sessions did, as the checker read it from the trace (the verdict above judges it).</p>\n");

    out.push_str("<h3 id=\"will-delay\">Wills that waited</h3>\n");
    if v5.will_waits.is_empty() && v5.session_expiries.is_empty() {
        out.push_str("<p class=\"muted\">No 5.0 connection with a Will ended in a way that makes the Will wait, and no session expired.</p>\n");
    } else {
        out.push_str(r#"<p class="muted">A Will waits after a connection ends without DISCONNECT (with a Will Delay Interval) or with a DISCONNECT that keeps it (0x04): until the delay has passed or the session ends, whichever comes first; a reconnection with Clean Start 0 before then cancels it. Upper band per device: the wait, ending in the Will (<i class="sw" style="background:#2e90fa"></i>), a reconnection (<i class="sw" style="background:#12b76a"></i>), the end of the run (<i class="sw" style="background:#98a2b3"></i>) or a due Will the trace does not show (<i class="sw" style="background:#f04438"></i>). Lower band: an expired session's time offline, ending at its expiry (×).</p>"#);
        out.push('\n');
        out.push_str(&svg::will_lanes(a, v5));
        let devices: std::collections::BTreeSet<&str> = v5
            .will_waits
            .iter()
            .map(|w| w.device.as_str())
            .chain(v5.session_expiries.iter().map(|s| s.device.as_str()))
            .collect();
        if devices.len() > svg::MAX_DEVICE_LANES {
            let _ = writeln!(
                out,
                r#"<p class="muted">The first {} of {} devices are drawn; the tables list them all.</p>"#,
                svg::MAX_DEVICE_LANES,
                devices.len()
            );
        }
    }
    if !v5.will_waits.is_empty() {
        let _ = writeln!(
            out,
            r#"<p class="muted">{}: Wills that waited.</p>"#,
            listed(v5.will_waits.len(), v5.will_wait_count)
        );
        out.push_str("<table id=\"will-waits\"><tr><th>device</th><th>connection ended</th><th>how</th><th>Will Delay</th><th>session ends</th><th>Will due</th><th>outcome</th><th>trace line</th></tr>\n");
        for w in &v5.will_waits {
            let _ = writeln!(
                out,
                r#"<tr class="{}"><td>{}</td><td class="n">{}</td><td>{}</td><td class="n">{} s</td><td class="n">{}</td><td>{}</td><td>{}</td><td class="n">{}</td></tr>"#,
                w.outcome.class(),
                escape(&w.device),
                secs(w.closed_us),
                escape(&w.ended),
                w.delay_s,
                w.session_end_us.map_or_else(|| "never".to_owned(), secs),
                escape(&w.due_text()),
                escape(&w.outcome_text()),
                w.line
            );
        }
        out.push_str("</table>\n");
    }

    out.push_str("<h3 id=\"session-expiry\">Sessions that expired</h3>\n");
    if v5.ended_with_connection > 0 {
        let _ = writeln!(
            out,
            r#"<p class="muted">{} sessions ended with their connection (a Session Expiry Interval of 0).</p>"#,
            v5.ended_with_connection
        );
    }
    if v5.session_expiries.is_empty() {
        out.push_str("<p class=\"muted\">No 5.0 session expired after waiting offline.</p>\n");
    } else {
        let _ = writeln!(
            out,
            r#"<p class="muted">{}: sessions that ended when their Session Expiry Interval ran out after their connection closed. What they were owed is gone with them (<code>session-expired</code>); the next connection starts a new session.</p>"#,
            listed(v5.session_expiries.len(), v5.session_expiry_count)
        );
        out.push_str("<table id=\"session-expiries\"><tr><th>device</th><th>last connection ended</th><th>session ended</th><th>owed pairs lost with it</th><th>next connection</th><th>trace line</th></tr>\n");
        for s in &v5.session_expiries {
            let next = s.next_text();
            let _ = writeln!(
                out,
                r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{next}</td><td class="n">{}</td></tr>"#,
                escape(&s.device),
                secs(s.closed_us),
                secs(s.ended_us),
                s.lost_pairs,
                s.line
            );
        }
        out.push_str("</table>\n");
    }

    out.push_str("<h3 id=\"shared\">Shared subscriptions</h3>\n");
    if v5.shared.is_empty() {
        out.push_str("<p class=\"muted\">No device made a shared subscription.</p>\n");
    } else {
        out.push_str("<p class=\"muted\">Each message of a shared subscription goes to one member of its group, chosen by the broker. Per member: the copies it received over time (bars), the time it had no connection (shaded), the messages it got first after another member's session ended (purple marks) and those that reached it after another member had one (orange marks).</p>\n");
        if v5.shared_count > v5.shared.len() {
            let _ = writeln!(
                out,
                r#"<p class="muted">The first {} of {} groups.</p>"#,
                v5.shared.len(),
                v5.shared_count
            );
        }
    }
    for (n, g) in v5.shared.iter().enumerate() {
        let undelivered: Vec<String> =
            g.undelivered.iter().map(|(r, k)| format!("{k} {}", escape(r))).collect();
        let _ = writeln!(
            out,
            r#"<h4><code>{}</code></h4><p>{} members; {} of {} messages delivered to a member{}; {} first delivered after a member's session ended; {} to a second member.</p>"#,
            escape(&g.filter),
            g.member_count,
            g.delivered,
            g.pairs,
            if undelivered.is_empty() {
                String::new()
            } else {
                format!(" (not delivered: {})", undelivered.join(", "))
            },
            g.after_leave_count,
            g.second_copy_count
        );
        out.push_str(&svg::shared_lanes(a, n, g));
        if g.member_count > g.members.len() {
            let _ = writeln!(
                out,
                r#"<p class="muted">The first {} of {} members, by client id.</p>"#,
                g.members.len(),
                g.member_count
            );
        }
        out.push_str("<table class=\"members\"><tr><th>member</th><th>copies</th><th>first to get</th><th>connections lost</th></tr>\n");
        for m in &g.members {
            let _ = writeln!(
                out,
                r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
                escape(&m.device),
                m.copies,
                m.firsts,
                m.connections_lost
            );
        }
        out.push_str("</table>\n");
        if !g.after_leave.is_empty() {
            let _ = writeln!(
                out,
                r#"<p class="muted">{}: messages accepted while a member was in the group and first delivered after that member's session ended: the broker may have moved them to another member (the <code>shared_redistribution</code> expectation judges those it did not deliver).</p>"#,
                listed(g.after_leave.len(), g.after_leave_count)
            );
            out.push_str("<table class=\"after-leave\"><tr><th>message</th><th>QoS</th><th>accepted</th><th>member left</th><th>delivered to</th></tr>\n");
            for m in &g.after_leave {
                let _ = writeln!(
                    out,
                    r#"<tr><td><code>{}</code></td><td class="n">{}</td><td class="n">{}</td><td>{} at {}</td><td>{} at {}</td></tr>"#,
                    escape(&m.message),
                    m.qos,
                    secs(m.accepted_us),
                    escape(&m.left.0),
                    secs(m.left.1),
                    escape(&m.to.0),
                    secs(m.to.1)
                );
            }
            out.push_str("</table>\n");
        }
        if !g.second_copies.is_empty() {
            let _ = writeln!(
                out,
                r#"<p class="muted">{}: messages that reached a second member.</p>"#,
                listed(g.second_copies.len(), g.second_copy_count)
            );
            out.push_str("<table class=\"second-copies\"><tr><th>message</th><th>QoS</th><th>first to</th><th>then to</th><th>what let the broker move it</th></tr>\n");
            for s in &g.second_copies {
                let _ = writeln!(
                    out,
                    r#"<tr><td><code>{}</code></td><td class="n">{}</td><td>{} at {}</td><td>{} at {}</td><td>{}</td></tr>"#,
                    escape(&s.message),
                    s.qos,
                    escape(&s.first.0),
                    secs(s.first.1),
                    escape(&s.then.0),
                    secs(s.then.1),
                    escape(s.cause.as_deref().unwrap_or("nothing in the trace"))
                );
            }
            out.push_str("</table>\n");
        }
    }

    out.push_str("<h3 id=\"message-expiry\">Message expiry</h3>\n");
    let e = &v5.expiry;
    if e.messages == 0 {
        out.push_str(
            "<p class=\"muted\">No message was published with a Message Expiry Interval.</p>\n",
        );
        return;
    }
    let _ = writeln!(
        out,
        r#"<p>{} messages published with a Message Expiry Interval; {} copies delivered carrying one; {} (message, subscriber) pairs expired undelivered (<code>expired</code>).</p>"#,
        e.messages, e.copies, e.expired_count
    );
    if let Some((msg, sub, interval, left, at)) = &e.longest_wait {
        let _ = writeln!(
            out,
            r#"<p class="muted">The copy that waited longest: <code>{}</code> to {} at {}, published with {interval} s, delivered with {left} s left.</p>"#,
            escape(msg),
            escape(sub),
            secs(*at)
        );
    }
    if !e.expired.is_empty() {
        let _ = writeln!(
            out,
            r#"<p class="muted">{}: expired pairs.</p>"#,
            listed(e.expired.len(), e.expired_count)
        );
        out.push_str("<table id=\"expired-pairs\"><tr><th>message</th><th>subscriber</th><th>QoS</th><th>published</th><th>interval</th><th>expired at</th></tr>\n");
        for p in &e.expired {
            let _ = writeln!(
                out,
                r#"<tr><td><code>{}</code></td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{} s</td><td class="n">{}</td></tr>"#,
                escape(&p.message),
                escape(&p.subscriber),
                p.qos,
                secs(p.published_us),
                p.interval_s,
                secs(p.published_us.saturating_add(u64::from(p.interval_s) * 1_000_000))
            );
        }
        out.push_str("</table>\n");
    }
}
