//! The SVG plots, written by hand: plain elements, CSS classes from the page, no script.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::analysis::{Analysis, LATENCY_EDGES_MS, LatencyStats, Sequence, StepKind};
use super::v5::{SharedGroup, V5Facts, WillOutcome};
use super::{BINS, escape, millis, secs};

const WIDTH: u64 = 1120;
const LEFT: u64 = 170;
const PLOT: u64 = WIDTH - LEFT - 20;

fn x_of(a: &Analysis, t_us: u64) -> f64 {
    LEFT as f64 + (t_us.min(a.end_us) as f64 / a.end_us as f64) * PLOT as f64
}

/// A time axis with ticks at round intervals, at height `y`.
fn axis(out: &mut String, a: &Analysis, y: u64) {
    let total_s = a.end_us / 1_000_000;
    let step =
        [1u64, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 43_200, 86_400]
            .into_iter()
            .find(|s| total_s / s <= 12)
            .unwrap_or(86_400);
    let _ =
        writeln!(out, r#"<line class="axis" x1="{LEFT}" y1="{y}" x2="{}" y2="{y}"/>"#, LEFT + PLOT);
    let mut t = 0;
    while t <= total_s {
        let x = x_of(a, t * 1_000_000);
        let label = if step >= 60 { format!("{}m", t / 60) } else { format!("{t}s") };
        let _ = writeln!(
            out,
            r#"<line class="tick" x1="{x:.1}" y1="{y}" x2="{x:.1}" y2="{}"/><text class="tick" x="{x:.1}" y="{}">{label}</text>"#,
            y + 4,
            y + 16
        );
        t += step;
    }
}

fn fault_class(kind: &str) -> &'static str {
    match kind {
        "partition" | "blackout" => "f-cut",
        "loss-burst" => "f-loss",
        "flapping" | "flap" => "f-flap",
        "broker-restart" => "f-broker",
        _ => "f-device",
    }
}

/// The fault timeline: the broker, the violations, then one lane per device group.
pub(crate) fn timeline(a: &Analysis) -> String {
    let lane = 48u64;
    let top = 28u64;
    let height = top + 22 + 22 + lane * a.groups.len() as u64 + 30;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg id="fault-timeline" class="plot timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="fault timeline">"#
    );
    axis(&mut out, a, top - 12);
    let _ = writeln!(out, r#"<text class="lane" x="{}" y="{}">broker</text>"#, LEFT - 8, top + 14);
    // Device groups.
    let bar_w = PLOT as f64 / BINS as f64;
    for (i, g) in a.groups.iter().enumerate() {
        let y = top + 44 + lane * i as u64;
        let mid = y + lane / 2;
        let _ = writeln!(
            out,
            r#"<rect class="lane-bg{}" x="{LEFT}" y="{y}" width="{PLOT}" height="{lane}"/>"#,
            if i % 2 == 0 { "" } else { " odd" }
        );
        let _ = writeln!(
            out,
            r#"<text class="lane" x="{}" y="{}">{}</text><text class="lane sub" x="{}" y="{}">{} devices</text>"#,
            LEFT - 8,
            mid - 2,
            escape(&g.name),
            LEFT - 8,
            mid + 11,
            g.devices
        );
        for s in &g.faults {
            let (x1, x2) = (x_of(a, s.from_us), x_of(a, s.until_us));
            let _ = writeln!(
                out,
                r#"<rect class="{}" x="{x1:.1}" y="{y}" width="{:.1}" height="{lane}"><title>{} {} to {}</title></rect>"#,
                fault_class(&s.kind),
                (x2 - x1).max(1.5),
                escape(&s.kind),
                secs(s.from_us),
                secs(s.until_us)
            );
        }
        // MQTT 5.0: Wills waiting for their delay, a band along the lane's top.
        for s in &g.will_waits {
            let (x1, x2) = (x_of(a, s.from_us), x_of(a, s.until_us));
            let _ = writeln!(
                out,
                r#"<rect class="will-wait" x="{x1:.1}" y="{y}" width="{:.1}" height="4"><title>a Will waiting {} to {}</title></rect>"#,
                (x2 - x1).max(1.5),
                secs(s.from_us),
                secs(s.until_us)
            );
        }
        let max = g.connects.iter().chain(&g.disconnects).copied().max().unwrap_or(0).max(1);
        let half = (lane / 2 - 4) as f64;
        for b in 0..BINS {
            let x = LEFT as f64 + b as f64 * bar_w;
            let (c, d, w) = (g.connects[b], g.disconnects[b], g.wills[b]);
            let t = secs(b as u64 * a.bin_us);
            if c > 0 {
                let h = ((f64::from(c) / f64::from(max)).sqrt() * half).max(1.0);
                let _ = writeln!(
                    out,
                    r#"<rect class="connect" x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{t}: {c} connects</title></rect>"#,
                    mid as f64 - h,
                    bar_w - 1.0
                );
            }
            if d > 0 {
                let h = ((f64::from(d) / f64::from(max)).sqrt() * half).max(1.0);
                let _ = writeln!(
                    out,
                    r#"<rect class="disconnect" x="{x:.1}" y="{mid}" width="{:.1}" height="{h:.1}"><title>{t}: {d} disconnects</title></rect>"#,
                    bar_w - 1.0
                );
            }
            if w > 0 {
                let cx = x + bar_w / 2.0;
                let _ = writeln!(
                    out,
                    r#"<path class="will" d="M{cx:.1} {} l4 -6 h-8 z"><title>{t}: {w} Wills</title></path>"#,
                    y + 9
                );
            }
        }
        let _ = writeln!(
            out,
            r#"<line class="mid" x1="{LEFT}" y1="{mid}" x2="{}" y2="{mid}"/>"#,
            LEFT + PLOT
        );
    }
    // Broker restarts, over every lane.
    let y = top;
    for s in &a.broker {
        let (x1, x2) = (x_of(a, s.from_us), x_of(a, s.until_us));
        let _ = writeln!(
            out,
            r#"<rect class="f-broker" x="{x1:.1}" y="{y}" width="{:.1}" height="{height}"><title>broker down {} to {}</title></rect>"#,
            (x2 - x1).max(2.0),
            secs(s.from_us),
            secs(s.until_us),
            height = height - top - 30,
        );
    }
    // Violations, on top, each linking to its entry.
    let y = top + 22;
    let _ =
        writeln!(out, r#"<text class="lane" x="{}" y="{}">violations</text>"#, LEFT - 8, y + 14);
    for v in &a.violations {
        let Some(t) = v.t_us else { continue };
        let x = x_of(a, t);
        let _ = writeln!(
            out,
            r##"<a href="#v{n}"><g id="tl-v{n}" class="vmark"><line x1="{x:.1}" y1="{cy}" x2="{x:.1}" y2="{bottom}"/><circle cx="{x:.1}" cy="{cy}" r="6"/><text x="{x:.1}" y="{ty}">{n}</text><title>violation {n} ({g}) at {t}</title></g></a>"##,
            n = v.n,
            cy = y + 9,
            ty = y + 12,
            bottom = height - 30,
            g = escape(&v.guarantee),
            t = secs(t),
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A sequence diagram: lanes across, time going down.
pub(crate) fn sequence(s: &Sequence) -> String {
    let col = 230u64;
    let left = 96u64;
    let row = 24u64;
    let head = 44u64;
    let lanes = s.lanes.len() as u64;
    let width = left + col * lanes;
    let height = head + row * (s.steps.len() as u64 + 1) + 10;
    let cx = |lane: usize| left + col * lane as u64 + col / 2;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg id="{}" class="sequence" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="sequence diagram">"#,
        escape(&s.id)
    );
    let marker = format!("arrow-{}", escape(&s.id));
    let _ = writeln!(
        out,
        r#"<defs><marker id="{marker}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" class="arrowhead"/></marker></defs>"#
    );
    for (i, name) in s.lanes.iter().enumerate() {
        let x = cx(i);
        let _ = writeln!(
            out,
            r#"<rect class="actor" x="{}" y="6" width="{}" height="26" rx="5"/><text class="actor" x="{x}" y="24">{}</text><line class="lifeline" x1="{x}" y1="32" x2="{x}" y2="{}"/>"#,
            x - col / 2 + 12,
            col - 24,
            escape(&super::analysis::short(name, 28)),
            height - 4
        );
    }
    for (i, st) in s.steps.iter().enumerate() {
        let y = head + row * (i as u64 + 1);
        let _ = writeln!(
            out,
            r#"<text class="time" x="{}" y="{}">{}</text>"#,
            left - 8,
            y + 4,
            secs(st.t_us)
        );
        let label = escape(&st.label);
        match st.kind {
            StepKind::Arrow => {
                let (x1, x2) = (cx(st.from), cx(st.to));
                let _ = writeln!(
                    out,
                    r#"<line class="msg" x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" marker-end="url(#{marker})"/><text class="msg" x="{}" y="{}">{label}</text>"#,
                    (x1 + x2) / 2,
                    y - 4
                );
            }
            StepKind::Note | StepKind::Bad => {
                let x = cx(st.from);
                let class = if st.kind == StepKind::Bad { "note bad" } else { "note" };
                let _ = writeln!(
                    out,
                    r#"<rect class="{class}" x="{}" y="{}" width="{}" height="18" rx="3"/><text class="{class}" x="{x}" y="{}">{label}</text>"#,
                    x - col / 2 + 6,
                    y - 12,
                    col - 12,
                    y + 1
                );
            }
            StepKind::Fault => {
                let (x1, x2) =
                    (cx(st.from.min(st.to)) - col / 2 + 4, cx(st.from.max(st.to)) + col / 2 - 4);
                let _ = writeln!(
                    out,
                    r#"<rect class="note fault" x="{x1}" y="{}" width="{}" height="18" rx="3"/><text class="note fault" x="{}" y="{}">{label}</text>"#,
                    y - 12,
                    x2 - x1,
                    (x1 + x2) / 2,
                    y + 1
                );
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

/// The latency histograms, one panel per QoS.
pub(crate) fn latency(stats: &[LatencyStats; 3]) -> String {
    let panel = 360u64;
    let height = 190u64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg id="latency-plot" class="plot" viewBox="0 0 {w} {height}" width="{w}" height="{height}" role="img" aria-label="latency histograms">"#,
        w = panel * 3 + 20
    );
    let buckets = LATENCY_EDGES_MS.len() + 1;
    for (q, s) in stats.iter().enumerate() {
        let x0 = 20 + panel * q as u64;
        let plot_w = panel - 40;
        let base = height - 40;
        let _ = writeln!(
            out,
            r#"<text class="title" x="{}" y="16">QoS {q}: {} deliveries, p50 {} p99 {}</text>"#,
            x0 + plot_w / 2,
            s.samples,
            millis(s.p50_us),
            millis(s.p99_us)
        );
        let _ = writeln!(
            out,
            r#"<line class="axis" x1="{x0}" y1="{base}" x2="{}" y2="{base}"/>"#,
            x0 + plot_w
        );
        let max = s.histogram.iter().copied().max().unwrap_or(0).max(1);
        let bw = plot_w as f64 / buckets as f64;
        for (b, &n) in s.histogram.iter().enumerate() {
            let x = x0 as f64 + b as f64 * bw;
            let h = n as f64 / max as f64 * (base - 28) as f64;
            let range = match b {
                0 => format!("< {} ms", LATENCY_EDGES_MS[0]),
                b if b == buckets - 1 => format!("≥ {} ms", LATENCY_EDGES_MS[b - 1]),
                b => format!("{}–{} ms", LATENCY_EDGES_MS[b - 1], LATENCY_EDGES_MS[b]),
            };
            if n > 0 {
                let _ = writeln!(
                    out,
                    r#"<rect class="bar q{q}" x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{range}: {n}</title></rect>"#,
                    base as f64 - h,
                    bw - 1.5
                );
            }
        }
        for (b, label) in [(0usize, "1ms"), (4, "20ms"), (8, "500ms"), (12, "10s"), (15, "60s+")] {
            let x = x0 as f64 + b as f64 * bw + if b == 15 { bw / 2.0 } else { bw };
            let _ =
                writeln!(out, r#"<text class="tick" x="{x:.1}" y="{}">{label}</text>"#, base + 14);
        }
    }
    out.push_str("</svg>\n");
    out
}

/// Lines over simulated time: messages in flight, queued, and deliveries per bin.
pub(crate) fn flight(a: &Analysis) -> String {
    let height = 200u64;
    let base = height - 30;
    let top = 16u64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg id="flight-plot" class="plot" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="messages in flight and queued over time">"#
    );
    axis(&mut out, a, base);
    let series: [(&str, &[u64]); 3] =
        [("in-flight", &a.in_flight), ("queued", &a.queued), ("delivered", &a.deliveries)];
    let max = series.iter().flat_map(|(_, s)| s.iter()).copied().max().unwrap_or(0).max(1);
    let bin_w = PLOT as f64 / BINS as f64;
    for (class, s) in series {
        let mut points = String::new();
        for (b, &v) in s.iter().enumerate() {
            let x = LEFT as f64 + (b as f64 + 0.5) * bin_w;
            let y = base as f64 - v as f64 / max as f64 * (base - top) as f64;
            let _ = write!(points, "{x:.1},{y:.1} ");
        }
        let _ =
            writeln!(out, r#"<polyline class="series {class}" points="{}"/>"#, points.trim_end());
    }
    let _ = writeln!(
        out,
        r#"<text class="lane" x="{}" y="{}">{max}</text><text class="lane" x="{}" y="{base}">0</text>"#,
        LEFT - 8,
        top + 4,
        LEFT - 8
    );
    for (i, (class, label)) in [
        ("in-flight", "in flight (max per bin)"),
        ("queued", "queued (max per bin)"),
        ("delivered", "copies received per bin"),
    ]
    .iter()
    .enumerate()
    {
        let y = top + 4 + 16 * i as u64;
        let _ = writeln!(
            out,
            r#"<line class="series {class}" x1="20" y1="{}" x2="40" y2="{}"/><text class="legend" x="46" y="{}">{label}</text>"#,
            y + 30,
            y + 30,
            y + 34
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Stacked bars per effective QoS: delivered, allowed losses, lost, exempt pairs; duplicates
/// beside.
pub(crate) fn outcomes(a: &Analysis) -> String {
    let height = 130u64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg id="outcome-plot" class="plot" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="delivery outcomes per QoS">"#
    );
    for q in 0..3 {
        let c = a.counts(q);
        let y = 10 + 36 * q as u64;
        let total = (c.delivered + c.allowed_losses + c.lost + c.exempt).max(1);
        let _ = writeln!(
            out,
            r#"<text class="lane" x="{}" y="{}">QoS {q}: {} pairs</text>"#,
            LEFT - 8,
            y + 17,
            c.pairs
        );
        let mut x = LEFT as f64;
        for (class, n, what) in [
            ("delivered", c.delivered, "delivered"),
            ("allowed", c.allowed_losses, "allowed losses"),
            ("lost", c.lost, "lost"),
            ("exempt", c.exempt, "exempt"),
        ] {
            if n == 0 {
                continue;
            }
            let w = n as f64 / total as f64 * (PLOT - 330) as f64;
            let _ = writeln!(
                out,
                r#"<rect class="out {class}" x="{x:.1}" y="{y}" width="{w:.1}" height="24"><title>{what}: {n}</title></rect>"#
            );
            x += w;
        }
        let _ = writeln!(
            out,
            r#"<text class="legend" x="{}" y="{}">{} delivered · {} lost · {} allowed · {} exempt · {} dup.</text>"#,
            LEFT + PLOT - 320,
            y + 17,
            c.delivered,
            c.lost,
            c.allowed_losses,
            c.exempt,
            c.duplicates
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A lane's background at `y`, `height` high, the `i`-th (from 0), with a device's name.
fn named_lane(out: &mut String, y: u64, height: u64, i: u64, device: &str) {
    let _ = writeln!(
        out,
        r#"<rect class="lane-bg{}" x="{LEFT}" y="{y}" width="{PLOT}" height="{height}"/><text class="lane" x="{}" y="{}">{}</text>"#,
        if i.is_multiple_of(2) { "" } else { " odd" },
        LEFT - 8,
        y + height / 2 + 4,
        escape(&super::analysis::short(device, 24))
    );
}

/// The most device lanes the Will Delay and session expiry chart draws.
pub(crate) const MAX_DEVICE_LANES: usize = 40;

/// MQTT 5.0, one lane per device: each Will's wait (from the connection's end to the Will, the
/// reconnection that cancelled it, or the moment it was due) above, each expired session's
/// offline time (from its last connection's end to its expiry) below.
pub(crate) fn will_lanes(a: &Analysis, v5: &V5Facts) -> String {
    let mut devices: Vec<&str> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut firsts: Vec<(u64, &str)> = v5
        .will_waits
        .iter()
        .map(|w| (w.closed_us, w.device.as_str()))
        .chain(v5.session_expiries.iter().map(|s| (s.closed_us, s.device.as_str())))
        .collect();
    // By time; at the same time in list order (the Wills' in trace order), not by name.
    firsts.sort_by_key(|(t, _)| *t);
    for (_, d) in firsts {
        if seen.insert(d) {
            devices.push(d);
        }
    }
    let shown = devices.len().min(MAX_DEVICE_LANES);
    let lane = 24u64;
    let top = 36u64;
    let height = top + lane * shown as u64 + 12;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg id="will-delay-lanes" class="plot timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="Will Delay and session expiry per device">"#
    );
    axis(&mut out, a, 10);
    let lane_of: BTreeMap<&str, u64> =
        devices.iter().take(shown).enumerate().map(|(i, d)| (*d, i as u64)).collect();
    for (d, &i) in &lane_of {
        named_lane(&mut out, top + lane * i, lane, i, d);
    }
    for w in &v5.will_waits {
        let Some(&i) = lane_of.get(w.device.as_str()) else { continue };
        let y = top + lane * i + 3;
        let until = w.until_us(a.end_us);
        let (x1, x2) = (x_of(a, w.closed_us), x_of(a, until));
        let _ = writeln!(
            out,
            r#"<rect class="ww {}" x="{x1:.1}" y="{y}" width="{:.1}" height="9"><title>{}: connection ended {} at {}; Will due at {}; {}</title></rect>"#,
            w.outcome.class(),
            (x2 - x1).max(1.5),
            escape(&w.device),
            escape(&w.ended),
            secs(w.closed_us),
            w.due_text(),
            escape(&w.outcome_text())
        );
        if let WillOutcome::Published { at_us } = w.outcome {
            let _ = writeln!(
                out,
                r#"<path class="will" d="M{:.1} {} l4 -7 h-8 z"><title>{}: Will published at {}</title></path>"#,
                x_of(a, at_us),
                y + 9,
                escape(&w.device),
                secs(at_us)
            );
        }
    }
    for s in &v5.session_expiries {
        let Some(&i) = lane_of.get(s.device.as_str()) else { continue };
        let y = top + lane * i + 14;
        let (x1, x2) = (x_of(a, s.closed_us), x_of(a, s.ended_us));
        let _ = writeln!(
            out,
            r#"<rect class="sx" x="{x1:.1}" y="{y}" width="{:.1}" height="6"><title>{}: session offline from {}, expired at {}</title></rect><path class="sx-end" d="M{x2:.1} {} l-3 -3 m3 3 l3 -3 m-3 3 l-3 3 m3 -3 l3 3"/>"#,
            (x2 - x1).max(1.5),
            escape(&s.device),
            secs(s.closed_us),
            secs(s.ended_us),
            y + 3
        );
    }
    out.push_str("</svg>\n");
    out
}

/// MQTT 5.0, one lane per member of a shared-subscription group: the copies it received per
/// bin, the time it had no connection, and where a message reached a second member.
pub(crate) fn shared_lanes(a: &Analysis, n: usize, g: &SharedGroup) -> String {
    let lane = 30u64;
    let top = 36u64;
    let height = top + lane * g.members.len() as u64 + 12;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg id="shared-{n}" class="plot timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="copies per member of {}">"#,
        escape(&g.filter)
    );
    axis(&mut out, a, 10);
    let max = g.members.iter().flat_map(|m| m.bins.iter()).copied().max().unwrap_or(0).max(1);
    let bar_w = PLOT as f64 / BINS as f64;
    let mut lane_of = BTreeMap::new();
    for (i, m) in g.members.iter().enumerate() {
        lane_of.insert(m.device.as_str(), i as u64);
        let y = top + lane * i as u64;
        named_lane(&mut out, y, lane, i as u64, &m.device);
        for &(from, until) in &m.down {
            let (x1, x2) = (x_of(a, from), x_of(a, until));
            let _ = writeln!(
                out,
                r#"<rect class="down" x="{x1:.1}" y="{y}" width="{:.1}" height="{lane}"><title>{}: no connection from {} to {}</title></rect>"#,
                (x2 - x1).max(1.0),
                escape(&m.device),
                secs(from),
                secs(until)
            );
        }
        for (b, &c) in m.bins.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let h = ((f64::from(c) / f64::from(max)).sqrt() * (lane - 6) as f64).max(1.0);
            let x = LEFT as f64 + b as f64 * bar_w;
            let _ = writeln!(
                out,
                r#"<rect class="copies" x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{}: {c} copies from {}</title></rect>"#,
                (y + lane - 3) as f64 - h,
                bar_w - 1.0,
                escape(&m.device),
                secs(b as u64 * a.bin_us)
            );
        }
    }
    for m in &g.after_leave {
        let Some(&i) = lane_of.get(m.to.0.as_str()) else { continue };
        let y = top + lane * i;
        let x = x_of(a, m.to.1);
        let _ = writeln!(
            out,
            r#"<path class="moved" d="M{x:.1} {} l4 -6 h-8 z"><title>{} to {} at {}, after {}'s session ended at {}</title></path>"#,
            y + lane - 1,
            escape(&m.message),
            escape(&m.to.0),
            secs(m.to.1),
            escape(&m.left.0),
            secs(m.left.1)
        );
    }
    for s in &g.second_copies {
        let Some(&i) = lane_of.get(s.then.0.as_str()) else { continue };
        let y = top + lane * i;
        let x = x_of(a, s.then.1);
        let _ = writeln!(
            out,
            r#"<path class="second" d="M{x:.1} {} l4 6 h-8 z"><title>{} to {} at {}, after {} at {}</title></path>"#,
            y + 1,
            escape(&s.message),
            escape(&s.then.0),
            secs(s.then.1),
            escape(&s.first.0),
            secs(s.first.1)
        );
    }
    out.push_str("</svg>\n");
    out
}
