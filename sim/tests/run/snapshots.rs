//! The text trace of small canonical scenarios, as insta snapshots. Each tells a story worth
//! reading when it changes: see the comment at the top of each scenario file.

use crate::helpers::{run, scenario};

fn text_trace(path: &str) -> String {
    let s = scenario(path);
    let (records, _) = run(&s, None, None);
    let mut out = String::new();
    for r in &records {
        out.push_str(&r.to_text());
        out.push('\n');
    }
    out
}

#[test]
fn power_loss_versus_crash() {
    insta::assert_snapshot!(text_trace("sim/tests/scenarios/run/power-vs-crash.yaml"));
}

#[test]
fn blackout_and_will() {
    insta::assert_snapshot!(text_trace("sim/tests/scenarios/run/blackout-will.yaml"));
}

#[test]
fn durable_broker_restart() {
    insta::assert_snapshot!(text_trace("sim/tests/scenarios/run/broker-restart.yaml"));
}
