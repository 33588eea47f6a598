//! Failure messages: what failed, the trace's evidence, and the commands that replay it.

use std::fmt::{self, Write as _};
use std::path::Path;

use super::env::SEED_VAR;
use super::{Error, Guarantee, Run, Status, Verdict};

/// The violations shown in full per failed guarantee; the rest are counted.
pub(super) const VIOLATIONS_SHOWN: usize = 3;

/// The commands that replay one seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReplayLines {
    /// `mqtt-sim run FILE --seed N ...`.
    pub command: String,
    /// For a scenario given as text: the name to save it under first.
    pub saved_as: Option<String>,
    /// `MQTT_SIM_SEED=N cargo test ...`, when the test is known.
    pub cargo: Option<String>,
}

impl fmt::Display for ReplayLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "replay: {}", self.command)?;
        if let Some(name) = &self.saved_as {
            writeln!(f, "        (the scenario was given as text: save it as {name} first)")?;
        }
        if let Some(cargo) = &self.cargo {
            writeln!(f, "    or: {cargo}")?;
        }
        Ok(())
    }
}

/// The whole message of one failed run.
pub(super) fn failure(label: &str, seed: u64, verdict: &Verdict, replay: &ReplayLines) -> String {
    let failed: Vec<_> = verdict.outcomes.iter().filter(|o| o.status == Status::Fail).collect();
    let names: Vec<&str> = failed.iter().map(|o| o.guarantee.name()).collect();
    let mut out = format!(
        "{label}, seed {seed}: {} failed ({})\n",
        names.join(", "),
        violations(verdict.violation_count())
    );
    for outcome in &failed {
        let _ = writeln!(
            out,
            "  {:<w$} FAIL ({})",
            outcome.guarantee.name(),
            violations(outcome.violation_count),
            w = Guarantee::NAME_WIDTH
        );
        for v in outcome.violations.iter().take(VIOLATIONS_SHOWN) {
            for line in v.to_string().lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        let shown = outcome.violations.len().min(VIOLATIONS_SHOWN) as u64;
        let more = outcome.violation_count.saturating_sub(shown);
        if more > 0 {
            let _ = writeln!(out, "    ... and {more} more (the replay shows them all)");
        }
    }
    out.push_str("  (trace lines are numbered as in trace.txt and trace.jsonl)\n");
    let _ = write!(out, "{replay}");
    out
}

/// The message of a run (or sweep: `what` says which) that left guarantees it asks for with
/// nothing to judge.
pub(super) fn not_exercised(
    what: &str,
    idle: &[(Guarantee, &str)],
    replay: &ReplayLines,
) -> String {
    let names: Vec<&str> = idle.iter().map(|(g, _)| g.name()).collect();
    let mut out = format!("{what}: {} asked for but not exercised\n", names.join(", "));
    for (g, why) in idle {
        let _ =
            writeln!(out, "  {:<w$} NOT EXERCISED ({why})", g.name(), w = Guarantee::NAME_WIDTH);
    }
    out.push_str(
        "  (a guarantee with nothing to judge is not a pass: make the scenario exercise it, or \
         take it out of `expect:`)\n",
    );
    let _ = write!(out, "{replay}");
    out
}

/// `1 violation`, `3 violations`.
fn violations(n: u64) -> String {
    format!("{n} violation{}", if n == 1 { "" } else { "s" })
}

/// The failures of a sweep: the first in full, the others a line each.
#[derive(Debug, Default)]
pub(super) struct Failures {
    first: Option<String>,
    others: Vec<String>,
}

impl Failures {
    pub(super) fn failed_run(&mut self, run: &Run, replay: &ReplayLines) {
        if self.first.is_none() {
            self.first = Some(failure(&run.label, run.seed, &run.verdict, replay));
            return;
        }
        let names: Vec<&str> = run.failed_guarantees().iter().map(|g| g.name()).collect();
        self.others.push(format!(
            "seed {}: {} failed; replay: {}",
            run.seed,
            names.join(", "),
            replay.cargo.as_deref().unwrap_or(&replay.command)
        ));
    }

    pub(super) fn error(&mut self, seed: u64, error: &Error, replay: &ReplayLines) {
        if self.first.is_none() {
            let mut text = error.to_string();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            if let Some(cargo) = &replay.cargo {
                let _ = writeln!(text, "    or: {cargo}");
            }
            self.first = Some(text);
            return;
        }
        let first_line = error.to_string();
        let first_line = first_line.lines().next().unwrap_or_default().to_owned();
        self.others.push(format!(
            "seed {seed}: {first_line}; replay: {}",
            replay.cargo.as_deref().unwrap_or(&replay.command)
        ));
    }

    /// The message, if any seed failed; `ran` seeds were run, `chosen` says which variable
    /// chose them.
    pub(super) fn message(&self, label: &str, ran: usize, chosen: Option<&str>) -> Option<String> {
        let first = self.first.as_ref()?;
        if ran == 1 {
            let mut out = first.clone();
            if let Some(chosen) = chosen {
                let _ = writeln!(out, "  (the seed was chosen by {chosen})");
            }
            return Some(out);
        }
        let chosen = chosen.map(|c| format!(" (seeds chosen by {c})")).unwrap_or_default();
        let failed = 1 + self.others.len();
        let mut out =
            format!("{label}: {failed} of {ran} seeds failed{chosen}; the first:\n{first}");
        if !self.others.is_empty() {
            out.push_str("the other failing seeds:\n");
            for line in &self.others {
                let _ = writeln!(out, "  {line}");
            }
        }
        Some(out)
    }
}

/// `MQTT_SIM_SEED=N cargo test -p PACKAGE --test TARGET TEST -- --exact`, the line that runs
/// this seed alone in the test that is running now, when it can be told: the test from the
/// thread's name (the test harness names each test's thread after it), the package from
/// `CARGO_PKG_NAME` (which `cargo test` sets), the target from the test binary's name.
pub(super) fn cargo_test_command(seed: u64) -> Option<String> {
    let thread = std::thread::current();
    let package = std::env::var("CARGO_PKG_NAME").ok();
    let exe = std::env::current_exe().ok();
    cargo_line(seed, thread.name(), package.as_deref(), exe.as_deref())
}

/// [`cargo_test_command`] from what it reads.
pub(super) fn cargo_line(
    seed: u64,
    test: Option<&str>,
    package: Option<&str>,
    exe: Option<&Path>,
) -> Option<String> {
    // Doctests and `--test-threads=1` runs of old harnesses run on the main thread.
    let test = test.filter(|t| *t != "main" && !t.is_empty())?;
    let package = package.filter(|p| !p.is_empty())?;
    let stem = exe?.file_stem()?.to_str()?;
    // Cargo names a test binary `<target>-<16 hex digits>`.
    let target = match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name
        }
        _ => stem,
    };
    let selector = if target == package.replace('-', "_") {
        "--lib".to_owned()
    } else {
        format!("--test {target}")
    };
    Some(format!("{SEED_VAR}={seed} cargo test -p {package} {selector} {test} -- --exact"))
}
