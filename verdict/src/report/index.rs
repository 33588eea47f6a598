//! The `index.html` of a seed sweep: what the seeds exercised (coverage, and expectations some
//! seeds gave nothing to judge), then each seed, pass or fail, and the command that replays it.

use std::fmt::Write as _;

use crate::sweep::SeedResult;

use super::escape;

/// Renders the sweep's index page; `replay` gives the command that replays a seed.
pub fn render_explore_index(
    scenario: &str,
    results: &[SeedResult],
    replay: &dyn Fn(u64) -> String,
) -> String {
    let failing = results.iter().filter(|r| r.failed).count();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{name}: {failing} of {n} seeds failed</title>\n<style>\nbody {{ font: 14px/1.45 system-ui, sans-serif; color: #1d2433; max-width: 1100px; margin: 20px auto; padding: 0 24px; }}\ntable {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: 3px 14px 3px 0; border-bottom: 1px solid #eef0f3; }}\ncode {{ font: 12.5px ui-monospace, Menlo, monospace; }} .pass {{ color: #116329; }} .fail {{ color: #a4161a; font-weight: 600; }}\n</style>\n</head>\n<body>\n<h1>{name}</h1>\n<p id=\"tally\">{failing} of {n} seed(s) failed.</p>\n",
        name = escape(scenario),
        n = results.len()
    );
    // What the sweep exercised: each situation's total, and in how many seeds it happened.
    let mut total = crate::check::Coverage::default();
    for r in results {
        total.merge(&r.coverage);
    }
    let mut seeds_with: std::collections::BTreeMap<String, usize> = Default::default();
    for r in results {
        for (what, n) in r.coverage.items() {
            *seeds_with.entry(what).or_default() += usize::from(n > 0);
        }
    }
    out.push_str("<h2>Coverage</h2>\n<p>What the seeds went through, in all and in how many seeds.</p>\n<table id=\"coverage\">\n<tr><th>situation</th><th>times</th><th>seeds</th></tr>\n");
    for (what, n) in total.items() {
        let seeds = seeds_with.get(&what).copied().unwrap_or(0);
        let _ = writeln!(out, "<tr><td>{}</td><td>{n}</td><td>{seeds}</td></tr>", escape(&what));
    }
    out.push_str("</table>\n");
    let mut unexercised: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in results {
        for g in &r.not_exercised {
            *unexercised.entry(g.as_str()).or_default() += 1;
        }
    }
    if !unexercised.is_empty() {
        out.push_str("<h2>Not exercised</h2>\n<p>Expectations asked for that some seeds gave nothing to judge.</p>\n<table id=\"not-exercised\">\n<tr><th>expectation</th><th>seeds</th></tr>\n");
        for (g, n) in unexercised {
            let _ = writeln!(out, "<tr><td><code>{}</code></td><td>{n}</td></tr>", escape(g));
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Seeds</h2>\n<table id=\"seeds\">\n<tr><th>seed</th><th>result</th><th>violations</th><th>failed expectations</th><th>replay</th></tr>\n");
    // Failing seeds first, each group by seed.
    let mut rows: Vec<&SeedResult> = results.iter().collect();
    rows.sort_by_key(|r| (!r.failed, r.seed));
    for r in rows {
        let (class, text) = if r.failed { ("fail", "FAIL") } else { ("pass", "pass") };
        let what = match &r.error {
            Some(e) => format!("error: {e}"),
            None => r.failed_guarantees.join(", "),
        };
        let _ = writeln!(
            out,
            r#"<tr id="seed-{seed}"><td>{seed}</td><td class="{class}">{text}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>"#,
            r.violations,
            escape(&what),
            escape(&replay(r.seed)),
            seed = r.seed
        );
    }
    out.push_str("</table>\n</body>\n</html>\n");
    out
}
