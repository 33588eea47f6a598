//! The statement manifest against the check table.

use std::collections::BTreeSet;

use mqttsim_codec::Protocol;
use mqttsim_conformance::checks;
use mqttsim_conformance::statements::{self, MQTT_311, Status, Testability, coverage};

#[test]
fn the_manifest_has_no_duplicates_and_well_formed_ids() {
    let mut seen = BTreeSet::new();
    for s in MQTT_311 {
        assert!(seen.insert(s.id), "{} appears twice in the manifest", s.id);
        let rest =
            s.id.strip_prefix("MQTT-").unwrap_or_else(|| panic!("{} lacks the MQTT- prefix", s.id));
        let (section, number) =
            rest.rsplit_once('-').unwrap_or_else(|| panic!("{} lacks a number", s.id));
        assert!(number.parse::<u32>().is_ok(), "{}", s.id);
        assert_eq!(section.split('.').count(), 3, "{}", s.id);
        assert!(section.split('.').all(|p| p.parse::<u32>().is_ok()), "{}", s.id);
        if let Testability::NotOverWire(why) = s.testability {
            assert!(!why.is_empty(), "{} is not testable without a reason", s.id);
        }
    }
    // Appendix B of the OASIS standard lists 141 statements.
    assert_eq!(MQTT_311.len(), 141);
}

#[test]
fn every_statement_a_check_cites_is_in_the_manifest() {
    let all = checks::all();
    let mut names = BTreeSet::new();
    for check in &all {
        assert!(names.insert(check.name), "two checks are named {}", check.name);
        assert!(!check.statements.is_empty(), "{} cites no statement", check.name);
        for id in check.statements {
            assert!(
                statements::find(check.protocol, id).is_some(),
                "{} cites {id}, which is not in the manifest",
                check.name
            );
        }
    }
}

#[test]
fn coverage_of_wire_testable_server_statements_is_at_least_85_percent() {
    let c = coverage(Protocol::V311, &checks::all());
    let not_yet: Vec<&str> =
        c.rows.iter().filter(|(_, s)| *s == Status::NotYet).map(|(s, _)| s.id).collect();
    println!(
        "coverage: {} of {} wire-testable server-side statements checked ({:.1}%); not yet: {not_yet:?}",
        c.server_checked,
        c.server_testable,
        c.percent()
    );
    assert!(c.percent() >= 85.0, "coverage {:.1}% is below 85%; not yet: {not_yet:?}", c.percent());
}
