//! The statement manifests against the check table.

use std::collections::BTreeSet;

use mqttsim_codec::Protocol;
use mqttsim_conformance::statements::{
    self, MQTT_50, MQTT_311, Role, Statement, Status, Testability, coverage,
};
use mqttsim_conformance::{Check, checks};

fn well_formed(manifest: &[Statement]) {
    let mut seen = BTreeSet::new();
    for s in manifest {
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
}

#[test]
fn the_manifests_have_no_duplicates_and_well_formed_ids() {
    well_formed(MQTT_311);
    well_formed(MQTT_50);
    // Appendix B of the OASIS standard lists 140 statements, plus one of the body text.
    assert_eq!(MQTT_311.len(), 141);
    // Appendix B of MQTT 5.0 lists 251, with no MQTT-2.2.1-1.
    assert_eq!(MQTT_50.len(), statements::APPENDIX_B_50);
    assert!(MQTT_50.iter().all(|s| s.protocol == Protocol::V5 && s.in_appendix_b));
    assert!(statements::find(Protocol::V5, "MQTT-2.2.1-1").is_none());
    // 118 bind the server, 88 both, 45 the client; 204 can be seen on the wire, of which the
    // three WebSocket statements need a WebSocket transport.
    let count = |role| MQTT_50.iter().filter(|s| s.role == role).count();
    assert_eq!((count(Role::Server), count(Role::Both), count(Role::Client)), (118, 88, 45));
    let wire = MQTT_50.iter().filter(|s| s.testability == Testability::Wire).count();
    assert_eq!(wire, 201);
}

#[test]
fn misprinted_ids_have_aliases_and_notes() {
    let s = statements::find(Protocol::V5, "MQTT-4.2-1").expect("the body's label of 4.2.0-1");
    assert_eq!(s.id, "MQTT-4.2.0-1");
    assert_eq!(statements::canonical(Protocol::V5, "mqtt-4.2-1"), "MQTT-4.2.0-1");
    for id in ["MQTT-3.3.1-10", "MQTT-3.1.3-10", "MQTT-3.2.2-8", "MQTT-3.2.2-19", "MQTT-3.2.2-20"] {
        let s = statements::find(Protocol::V5, id).unwrap();
        assert!(s.note.is_some(), "{id} has no note of its misprint");
    }
}

fn cited_in_manifest(all: &[Check]) {
    let mut names = BTreeSet::new();
    for check in all {
        assert!(names.insert(check.name), "two checks are named {}", check.name);
        assert!(!check.statements.is_empty(), "{} cites no statement", check.name);
        for id in check.statements {
            let s = statements::find(check.protocol, id).unwrap_or_else(|| {
                panic!(
                    "{} cites {id}, which is not in the {:?} manifest",
                    check.name, check.protocol
                )
            });
            assert_eq!(s.id, *id, "{} cites {id} by an alias", check.name);
            assert!(
                s.role.binds_server(),
                "{} cites {id}, which binds only the client",
                check.name
            );
        }
        for id in check.probes {
            let s = statements::find(check.protocol, id).unwrap_or_else(|| {
                panic!("{} probes {id}, which is not in the manifest", check.name)
            });
            assert_eq!(
                s.role,
                Role::Client,
                "{} probes {id}, which is not a client-only rule",
                check.name
            );
        }
    }
}

#[test]
fn every_statement_a_check_cites_is_in_the_manifest() {
    cited_in_manifest(&checks::all());
}

#[test]
fn coverage_of_wire_testable_server_statements() {
    for (protocol, least) in [(Protocol::V311, 85.0), (Protocol::V5, 99.0)] {
        let c = coverage(protocol, &checks::all());
        let not_yet: Vec<&str> =
            c.rows.iter().filter(|(_, s)| *s == Status::NotYet).map(|(s, _)| s.id).collect();
        println!(
            "{protocol:?} coverage: {} of {} wire-testable server-side statements checked ({:.1}%), \
             {} client rules probed; not yet: {not_yet:?}",
            c.server_checked,
            c.server_testable,
            c.percent(),
            c.client_probed
        );
        assert!(
            c.percent() >= least,
            "coverage {:.1}% is below {least}%; not yet: {not_yet:?}",
            c.percent()
        );
    }
    let c = coverage(Protocol::V5, &checks::all());
    assert!(c.server_checked >= 200, "only {} 5.0 server statements are checked", c.server_checked);
    assert!(c.client_probed >= 25, "only {} 5.0 client rules are probed", c.client_probed);
}
