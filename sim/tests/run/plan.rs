//! The plan: targets, start times and fault schedules drawn from the seed.

use std::path::Path;
use std::time::Duration;

use mqttsim_sim::plan::{LinkAction, Plan};
use mqttsim_sim::scenario::{FaultKind, Scenario, parse_scenario};

const FLEET: &str = r#"
name: plan
seed: 4
duration: 1h
protocol: "3.1.1"
sites:
  - { name: north, link: { latency: 10ms } }
  - { name: south, link: { latency: 10ms } }
devices:
  - { group: a, site: north, count: 40, client_id: "a-{i}", start: { at: 10s, stagger: 40s } }
  - { group: b, site: south, count: 20, client_id: "b-{i}" }
faults:
  - { kind: power-loss, target: { group: a, count: 5 }, at: 1m, for: 2m }
  - { kind: partition, target: { site: south, fraction: 25% }, at: 5m, for: 1m, every: 20m }
  - random: { kinds: [reboot, crash], rate: 30/h }
    target: { group: b }
    for: 30s
    at: 10m
    until: 40m
  - { kind: broker-restart, at: 30m, for: 45s, state: volatile }
"#;

fn fleet() -> Scenario {
    parse_scenario(FLEET, Path::new("plan.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

fn plan(seed: u64) -> Plan {
    Plan::new(&fleet(), seed, Duration::from_secs(3600)).unwrap()
}

#[test]
fn devices_start_evenly_over_the_stagger_window() {
    let p = plan(4);
    assert_eq!(p.devices.len(), 60);
    let a: Vec<Duration> = p.devices.iter().filter(|d| d.group == 0).map(|d| d.start).collect();
    assert_eq!(a[0], Duration::from_secs(10));
    assert_eq!(a[1], Duration::from_secs(11));
    assert_eq!(a[39], Duration::from_secs(49));
    assert!(p.devices.iter().filter(|d| d.group == 1).all(|d| d.start.is_zero()));
    // 60 devices fit on one host, whatever their sites.
    assert_eq!(p.hosts, ["devices"]);
    assert!(p.devices.iter().all(|d| d.host == 0));
}

#[test]
fn counted_and_fractional_targets_are_drawn_from_the_seed() {
    let p = plan(4);
    let powered: Vec<u64> = p
        .devices
        .iter()
        .filter(|d| d.faults.iter().any(|f| f.kind == FaultKind::PowerLoss))
        .map(|d| d.index)
        .collect();
    assert_eq!(powered.len(), 5);
    assert!(powered.iter().all(|&d| d < 40), "only group a: {powered:?}");
    let cut = &p.link_faults;
    assert_eq!(cut.len(), 3, "the partition repeats at 5, 25 and 45 min");
    assert!(cut.iter().all(|n| n.devices.len() == 5 && n.devices == cut[0].devices));
    assert!(cut[0].devices.iter().all(|&d| d >= 40), "only site south");
    for d in &cut[0].devices {
        let changes = &p.devices[*d as usize].link_faults;
        assert_eq!(changes.len(), 3);
        assert!(matches!(changes[0].action, LinkAction::Blackout(_)));
        assert_eq!(
            (changes[0].from, changes[0].until),
            (Duration::from_secs(300), Duration::from_secs(360))
        );
    }
    // The same seed draws the same devices; another seed, others.
    assert_eq!(plan(4), p);
    let other = plan(5);
    assert_ne!(other.link_faults[0].devices, cut[0].devices);
}

#[test]
fn a_random_mix_stays_in_its_window_at_about_its_rate() {
    let mut total = 0;
    for seed in 0..20 {
        let p = plan(seed);
        let faults: Vec<_> = p
            .devices
            .iter()
            .flat_map(|d| d.faults.iter())
            .filter(|f| f.kind != FaultKind::PowerLoss)
            .collect();
        for f in &faults {
            assert!(f.at >= Duration::from_secs(600) && f.at < Duration::from_secs(2400), "{f:?}");
            match f.kind {
                FaultKind::Reboot => assert_eq!(f.lasts, Some(Duration::from_secs(30))),
                FaultKind::Crash => assert_eq!(f.lasts, None, "a crash does not come back"),
                other => panic!("{other:?} is not in the mix"),
            }
        }
        total += faults.len();
        assert_eq!(p.restarts.len(), 1);
        assert_eq!(p.restarts[0].at, Duration::from_secs(1800));
    }
    // 30/h over 30 minutes: 15 per run on average.
    let mean = total as f64 / 20.0;
    assert!((11.0..19.0).contains(&mean), "mean {mean} faults per run");
}

#[test]
fn a_fleet_larger_than_one_host_is_split_over_several_hosts() {
    let yaml = r#"
name: big
seed: 1
duration: 1m
protocol: "3.1.1"
sites:
  - { name: tower, link: { latency: 10ms } }
  - { name: annex, link: { latency: 10ms } }
devices:
  - { group: big, site: tower, count: 25000, client_id: "big-{i}" }
  - { group: small, site: annex, count: 10, client_id: "small-{i}" }
"#;
    let scenario = parse_scenario(yaml, Path::new("big.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let p = Plan::new(&scenario, 1, Duration::from_secs(60)).unwrap();
    assert_eq!(p.hosts, ["devices", "devices-1", "devices-2"]);
    let mut per_host = [0usize; 3];
    for d in &p.devices {
        per_host[d.host] += 1;
    }
    assert_eq!(per_host, [8337, 8337, 8336], "round robin over the hosts in fleet order");
    assert!(per_host.iter().all(|&n| n <= mqttsim_sim::plan::MAX_DEVICES_PER_HOST));
    // The site, which links and faults follow, is the scenario's, not the host's.
    assert!(p.devices[..25_000].iter().all(|d| d.site == "tower"));
    assert!(p.devices[25_000..].iter().all(|d| d.site == "annex"));
    assert_eq!(p.devices[25_000].host, 25_000 % 3);
}

/// The scenario format names the broker's planted bugs itself (for its JSON Schema); every bug
/// the broker has must be nameable in a scenario, and map back to the same bug.
#[test]
fn every_planted_broker_bug_can_be_named_in_a_scenario() {
    for bug in mqttsim_broker::PlantedBug::ALL {
        let yaml = format!(
            "name: b\nseed: 1\nduration: 1m\nprotocol: \"3.1.1\"\nbroker: {{ bugs: [{bug}] }}\n\
             sites: [ {{ name: s }} ]\ndevices: [ {{ group: g, site: s, count: 1, client_id: d }} ]\n"
        );
        let scenario = parse_scenario(&yaml, Path::new("b.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let config = mqttsim_sim::run::broker_config(&scenario);
        assert_eq!(config.bugs.iter().copied().collect::<Vec<_>>(), [bug], "{bug}");
    }
}
