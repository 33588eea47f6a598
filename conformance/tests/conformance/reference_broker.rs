//! The whole suite against the project's own broker (core and net driver) inside turmoil: the
//! in-simulation target. Simulated time makes the run fast and deterministic, and the broker's
//! planted bugs show that the checks catch what they claim to.

use std::path::Path;

use mqttsim_broker::{BrokerConfig, PlantedBug};
use mqttsim_codec::Protocol;
use mqttsim_conformance::{Report, SuiteConfig, checks, run_against_reference};

use crate::matrix::{Expected, compare};

/// Runs the selected checks against a broker with `config` inside a turmoil simulation.
fn simulate(config: BrokerConfig, only: &[&str]) -> Report {
    let mut suite = SuiteConfig { seed: 7, ..SuiteConfig::default() };
    suite.selection.only = only.iter().map(|s| s.to_string()).collect();
    run_against_reference(config, &checks::all(), &suite).expect("the simulation runs to the end")
}

#[test]
fn the_reference_broker_in_simulation_matches_its_expectation() {
    let report = simulate(BrokerConfig::default(), &[]);
    eprintln!("{}", report.to_table());
    eprintln!("simulated time: {:?}", report.elapsed);
    assert!(report.cleanup.is_none(), "cleanup failed: {:?}", report.cleanup);
    let again = simulate(BrokerConfig::default(), &[]);
    assert_eq!(report.to_expectation(), again.to_expectation(), "a simulated run is deterministic");
    assert_eq!(report.elapsed, again.elapsed, "and takes the same simulated time");

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("expected");
    let v311 = report.for_protocol(Protocol::V311);
    let v5 = report.for_protocol(Protocol::V5);
    assert!(
        !v5.results
            .iter()
            .any(|r| r.verdict.reason().starts_with("the broker does not speak MQTT 5.0")),
        "the reference broker speaks MQTT 5.0"
    );
    let files = [
        (dir.join("reference-broker-sim.txt"), v311),
        (dir.join("5.0/reference-broker-sim.txt"), v5),
    ];
    for (path, report) in files {
        let actual = report.to_expectation();
        let expected = Expected::parse(&std::fs::read_to_string(&path).unwrap_or_default());
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&path, expected.updated(&actual)).unwrap();
            continue;
        }
        compare("the reference broker", &path, &expected, &actual);
        assert!(report.passed(), "the reference broker fails a check:\n{}", report.to_table());
    }
}

/// Every planted bug makes the check aimed at it fail, where the clean broker passes it.
#[test]
fn every_planted_bug_is_caught() {
    let catchers: &[(PlantedBug, &str)] = &[
        (PlantedBug::ForgetInflightOnReconnect, "qos1-redelivery-dup"),
        (PlantedBug::DuplicateQos2OnDup, "qos2-exactly-once"),
        (PlantedBug::WillAfterDisconnect, "will-not-after-disconnect"),
        (PlantedBug::NoWillOnKeepaliveTimeout, "will-on-keepalive-expiry"),
        (PlantedBug::StaleRetained, "retained-replaced-by-qos0"),
        (PlantedBug::NoWillOnTakeover, "will-on-takeover"),
        (PlantedBug::DupFlagNotSet, "qos1-redelivery-dup"),
        (PlantedBug::RetainedDeleteNotForwarded, "retained-cleared-by-empty"),
        (PlantedBug::RetainedDuplicated, "retained-on-subscribe"),
        (PlantedBug::Qos2DupFlagDrop, "qos2-dup-first-arrival"),
        (PlantedBug::SharedSubStaleMember, "v5-shared-member-left"),
        (PlantedBug::NoLocalIgnored, "v5-no-local"),
        (PlantedBug::NoWillAtSessionEnd, "v5-will-session-ends-first"),
        (PlantedBug::WillDelayIgnored, "v5-will-delay"),
        (PlantedBug::NoWillOnDelayedTakeover, "v5-will-takeover-session-ends"),
        (PlantedBug::SessionExpiryIgnored, "v5-session-expiry-elapses"),
        (PlantedBug::ExpiryIgnoredQueued, "v5-message-expiry-offline"),
        (PlantedBug::RetainedExpiryIgnored, "v5-retained-message-expiry"),
        (PlantedBug::ExpiryNotDecremented, "v5-message-expiry-counts-down"),
        (PlantedBug::RetainHandlingIgnored, "v5-retain-handling-2"),
        (PlantedBug::ReceiveMaximumExceeded, "v5-receive-maximum"),
        (PlantedBug::FlowQuotaLeak, "v5-send-quota-after-resumptions"),
        (PlantedBug::TopicAliasLeak, "v5-no-topic-alias-outbound"),
        (PlantedBug::UserPropertiesDropped, "v5-message-properties-forwarded"),
        (PlantedBug::WillPropertyLeak, "v5-will-properties"),
        (PlantedBug::MaximumPacketSizeIgnored, "v5-maximum-packet-size-outbound"),
        (PlantedBug::RetainAsPublishedIgnored, "v5-retain-as-published-1"),
        (PlantedBug::MaximumQosNotAnnounced, "v5-maximum-qos-announced"),
    ];
    // Bugs no conformance check can catch honestly, with the reason.
    let uncaught: &[(PlantedBug, &str)] = &[(
        PlantedBug::SharedSubRedispatchLoss,
        "QoS 1 redistribution after a member's session ends is a SHOULD without a statement id \
         (MQTT 5.0 §4.8.2): no statement to cite; the simulator's shared_redistribution catches it",
    )];
    assert_eq!(
        catchers.len() + uncaught.len(),
        PlantedBug::ALL.len(),
        "a planted bug has no catcher listed here"
    );
    check_readme_table(catchers, uncaught);
    let mut names: Vec<&str> = catchers.iter().map(|(_, c)| *c).collect();
    names.sort_unstable();
    names.dedup();
    let clean = simulate(BrokerConfig::default(), &names);
    for r in &clean.results {
        assert_eq!(
            r.verdict.label(),
            "PASS",
            "{} fails on the clean broker: {:?}",
            r.name,
            r.verdict
        );
    }
    for (bug, catcher) in catchers {
        let mut config = BrokerConfig::default();
        config.bugs.insert(*bug);
        let report = simulate(config, &[catcher]);
        let verdict = &report.results[0].verdict;
        assert_eq!(verdict.label(), "FAIL", "{bug:?} was not caught by {catcher}");
        eprintln!("{bug:?} caught by {catcher}: {}", verdict.reason());
    }
}

/// conformance/README.md lists every planted bug with the check that catches it and the
/// statements that check cites (the same list as above; rewrite it with
/// `UPDATE_EXPECT=1 cargo test -p mqttsim-conformance --test conformance every_planted_bug`).
fn check_readme_table(catchers: &[(PlantedBug, &str)], uncaught: &[(PlantedBug, &str)]) {
    let all = checks::all();
    let mut table = String::from(
        "| planted bug | caught by | statements the check cites |\n| --- | --- | --- |\n",
    );
    for (bug, catcher) in catchers {
        let check = all
            .iter()
            .find(|c| c.name == *catcher)
            .unwrap_or_else(|| panic!("no check named {catcher}"));
        let cited: Vec<String> = check.statements.iter().map(|s| format!("[{s}]")).collect();
        table.push_str(&format!("| `{}` | `{catcher}` | {} |\n", bug.name(), cited.join(" ")));
    }
    for (bug, why) in uncaught {
        table.push_str(&format!("| `{}` | none: {why} | |\n", bug.name()));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = "<!-- catchers:start (generated by tests/conformance/reference_broker.rs) -->\n";
    let end = "<!-- catchers:end -->";
    let (before, rest) = readme.split_once(start).expect("README.md has the catchers:start marker");
    let (_, after) = rest.split_once(end).expect("README.md has the catchers:end marker");
    let regenerated = format!("{before}{start}{table}{end}{after}");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &regenerated).unwrap();
        return;
    }
    assert!(
        readme == regenerated,
        "conformance/README.md's planted-bug table is not the list of this test; rerun with \
         UPDATE_EXPECT=1"
    );
}
