//! The checker's self-test: each bug planted in the reference broker, run in a small scenario
//! that exposes it, is caught within 100 seeds, and the report names the guarantee it breaks;
//! the same scenario without the bug shows no violation. Each bug is also caught in a shipped
//! scenario that exercises what it breaks (whose correct runs the seed sweeps cover).

use std::path::Path;
use std::time::Duration;

use mqttsim_sim::check::{CheckOptions, Guarantee, Status, Verdict, check};
use mqttsim_sim::scenario::{BrokerBug, Scenario, TimeSpan, load_scenario, parse_scenario};
use mqttsim_sim::trace::{Collect, Packets, TraceSink};
use mqttsim_sim::{RunOptions, run};

/// A subscriber with a persistent session loses its link while QoS 1 messages are in flight to
/// it; on reconnection the broker must resend them.
const INFLIGHT: &str = r#"
name: inflight
seed: 1
duration: 100s
protocol: "3.1.1"
sites: [ { name: s, link: { latency: 100ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub",
      publish: [ { topic: "m/x", qos: 1, every: 200ms } ] }
  - { group: q, site: s, count: 1, client_id: "sub", clean_session: false, keepalive: 4s,
      reconnect: { initial: 1s, max: 2s },
      subscribe: [ { filter: "m/#", qos: 1 } ] }
faults:
  - { kind: blackout, target: { device: sub }, at: 20s, for: 10s }
expect: { qos1_at_least_once: true, ordering: true, liveness: { quiet_period: 30s } }
"#;

/// A QoS 2 publisher hears nothing from the broker for a while: its PUBLISHes arrive, their
/// PUBRECs do not, and it resends them with DUP after reconnecting.
const QOS2_DUP: &str = r#"
name: qos2-dup
seed: 1
duration: 80s
protocol: "3.1.1"
sites: [ { name: s, link: { latency: 50ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub", clean_session: false, keepalive: 4s,
      reconnect: { initial: 1s, max: 2s },
      publish: [ { topic: "m/x", qos: 2, every: 500ms } ] }
  - { group: q, site: s, count: 1, client_id: "sub", subscribe: [ { filter: "m/#", qos: 2 } ] }
faults:
  - { kind: blackout, direction: from-broker, target: { device: pub }, at: 20s, for: 10s }
expect: { qos2_exactly_once: true, ordering: true }
"#;

/// A device with a Will leaves politely, another loses power, a third reboots within its
/// keepalive (the new connection takes the session over).
const WILLS: &str = r#"
name: wills
seed: 1
duration: 90s
protocol: "3.1.1"
sites: [ { name: s, link: { latency: 20ms } } ]
devices:
  - { group: t, site: s, count: 3, client_id: "t{i}", clean_session: false, keepalive: 10s,
      reconnect: { initial: 1s, max: 2s },
      will: { topic: "will/{i}", payload: gone, qos: 1 } }
  - { group: m, site: s, count: 1, client_id: "monitor", subscribe: [ { filter: "will/#", qos: 1 } ] }
faults:
  - { kind: disconnect, target: { device: t0 }, at: 10s, for: 5s }
  - { kind: power-loss, target: { device: t1 }, at: 10s, for: 40s }
  - { kind: reboot, target: { device: t2 }, at: 10s, for: 2s }
expect: { wills: true, qos1_at_least_once: true }
"#;

/// A retained reading replaced every few seconds; a subscriber subscribes again on every
/// reconnection and must get the latest one.
const RETAINED: &str = r#"
name: retained
seed: 1
duration: 60s
protocol: "3.1.1"
sites: [ { name: s, link: { latency: 20ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub",
      publish: [ { topic: "r/x", qos: 1, retain: true, every: 3s } ] }
  - { group: q, site: s, count: 1, client_id: "sub", reconnect: { initial: 1s, max: 1s },
      subscribe: [ { filter: "r/#", qos: 1 } ] }
faults:
  - { kind: disconnect, target: { device: sub }, at: 10s, for: 2s, every: 10s, until: 50s }
expect: { retained: true }
"#;

/// The same, but only the subscriber's acknowledgements are lost (towards the broker): it has
/// the copies, the broker does not know, and resends them on the resumed session — with DUP=1.
const DUP_FLAG: &str = r#"
name: dup-flag
seed: 1
duration: 100s
protocol: "3.1.1"
sites: [ { name: s, link: { latency: 100ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub",
      publish: [ { topic: "m/x", qos: 1, every: 200ms } ] }
  - { group: q, site: s, count: 1, client_id: "sub", clean_session: false, keepalive: 4s,
      reconnect: { initial: 1s, max: 2s },
      subscribe: [ { filter: "m/#", qos: 1 } ] }
faults:
  - { kind: blackout, direction: to-broker, target: { device: sub }, at: 20s, for: 10s }
expect: { qos1_at_least_once: true }
"#;

/// A QoS 2 publisher's PUBLISHes do not reach the broker for a while; after reconnecting it
/// resends them with DUP=1, and the broker sees them for the first time.
const QOS2_DUP_FIRST: &str = r#"
name: qos2-dup-first
seed: 1
duration: 80s
protocol: "3.1.1"
sites: [ { name: s, link: { latency: 50ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub", clean_session: false, keepalive: 4s,
      reconnect: { initial: 1s, max: 2s },
      publish: [ { topic: "m/x", qos: 2, every: 500ms } ] }
  - { group: q, site: s, count: 1, client_id: "sub", subscribe: [ { filter: "m/#", qos: 2 } ] }
faults:
  - { kind: blackout, direction: to-broker, target: { device: pub }, at: 20s, for: 10s }
expect: { qos2_exactly_once: true }
"#;

/// A retained state set every 3 s and cleared (a zero-byte retained message) every 7 s, with a
/// subscriber listening throughout.
const RETAINED_CLEAR: &str = r#"
name: retained-clear
seed: 1
duration: 60s
protocol: "3.1.1"
sites: [ { name: s, link: { latency: 20ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub",
      publish: [ { topic: "r/x", qos: 1, retain: true, every: 3s },
                 { topic: "r/x", qos: 1, retain: true, payload_size: 0, every: 7s } ] }
  - { group: q, site: s, count: 1, client_id: "sub", subscribe: [ { filter: "r/#", qos: 1 } ] }
expect: { retained: true }
"#;

/// An MQTT 5.0 pool of three workers sharing a QoS 1 subscription; one loses power (its
/// session ends with its connection, so what it held must go to another worker) and comes
/// back; each worker also publishes on a topic it subscribes to with No Local.
const SHARED_POOL: &str = r#"
name: shared-pool
seed: 1
duration: 90s
protocol: "5.0"
sites: [ { name: s, link: { latency: 20ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub",
      publish: [ { topic: "in/x", qos: 1, every: 300ms } ] }
  - { group: w, site: s, count: 3, client_id: "w{i}", keepalive: 4s,
      reconnect: { initial: 1s, max: 2s },
      subscribe: [ { filter: "$share/pool/in/#", qos: 1 }, { filter: "st/#", qos: 1, no_local: true } ],
      publish: [ { topic: "st/w{i}", qos: 1, every: 5s } ] }
faults:
  - { kind: power-loss, target: { device: w0 }, at: 20s, for: 20s }
expect: { qos1_at_least_once: true, shared_subscriptions: true, shared_redistribution: true,
          no_local: true }
"#;

/// MQTT 5.0: a publisher sends QoS 1 readings that expire after 5 s and a retained status that
/// expires after 10 s; a subscriber with a persistent session is away for 20 s at a time and
/// subscribes again on every connection; a second one (Retain Handling 1) does too, and a third
/// (Retain Handling 2) restarts with a clean session.
const EXPIRY: &str = r#"
name: expiry
seed: 1
duration: 120s
protocol: "5.0"
sites: [ { name: s, link: { latency: 20ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub",
      publish: [ { topic: "m/x", qos: 1, every: 2s, expiry: 5s },
                 { topic: "r/x", qos: 1, retain: true, every: 15s, expiry: 10s } ] }
  - { group: q, site: s, count: 1, client_id: "sub", clean_session: false, session_expiry: 1h,
      reconnect: { initial: 1s, max: 1s },
      subscribe: [ { filter: "m/#", qos: 1 }, { filter: "r/#", qos: 1, resubscribe: on-connect } ] }
  - { group: h, site: s, count: 1, client_id: "panel", clean_session: false, session_expiry: 1h,
      reconnect: { initial: 1s, max: 1s },
      subscribe: [ { filter: "r/#", qos: 1, retain_handling: send-if-new, resubscribe: on-connect } ] }
  - { group: n, site: s, count: 1, client_id: "alarm", reconnect: { initial: 1s, max: 1s },
      subscribe: [ { filter: "r/#", qos: 1, retain_handling: never } ] }
faults:
  - { kind: disconnect, target: { device: sub }, at: 10s, for: 20s, every: 30s, until: 100s }
  - { kind: disconnect, target: { device: panel }, at: 12s, for: 3s, every: 9s, until: 100s }
  - { kind: disconnect, target: { device: alarm }, at: 12s, for: 3s, every: 9s, until: 100s }
expect: { qos1_at_least_once: true, retained: true, message_expiry: true }
"#;

/// MQTT 5.0: a subscriber that accepts two unacknowledged messages gets bursts of ten, QoS 1
/// and QoS 2; it loses its link now and then and resumes its session.
const RECEIVE_MAXIMUM: &str = r#"
name: receive-maximum
seed: 1
duration: 90s
protocol: "5.0"
sites: [ { name: s, link: { latency: 50ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub",
      publish: [ { topic: "m/1", qos: 1, every: 5s, burst: { size: 10, spacing: 10ms } },
                 { topic: "m/2", qos: 2, every: 5s, burst: { size: 10, spacing: 10ms } } ] }
  - { group: q, site: s, count: 1, client_id: "sub", clean_session: false, session_expiry: 1h,
      keepalive: 4s, reconnect: { initial: 1s, max: 2s }, receive_maximum: 2,
      subscribe: [ { filter: "m/#", qos: 2 } ] }
faults:
  - { kind: blackout, target: { device: sub }, at: 20s, for: 8s, every: 20s, until: 70s }
expect: { qos1_at_least_once: true, qos2_exactly_once: true, receive_maximum: true }
"#;

/// MQTT 5.0: a publisher using topic aliases and user properties, a subscriber that allows no
/// alias.
const PROPERTIES: &str = r#"
name: properties
seed: 1
duration: 30s
protocol: "5.0"
sites: [ { name: s, link: { latency: 20ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub", topic_aliases: 1,
      publish: [ { topic: "m/x", qos: 1, every: 1s, content_type: text/plain,
                   user_properties: [ { key: a, value: "1" }, { key: b, value: "{i}" } ] } ] }
  - { group: q, site: s, count: 1, client_id: "sub", subscribe: [ { filter: "m/#", qos: 1 } ] }
expect: { qos1_at_least_once: true, topic_aliases: true, message_properties: true }
"#;

/// MQTT 5.0: a device registers a Will with a Will Delay Interval and properties, and loses
/// power; a 5.0 and a 3.1.1 subscriber follow the Will topic.
const WILL_PROPERTIES: &str = r#"
name: will-properties
seed: 1
duration: 60s
protocol: "5.0"
sites: [ { name: s, link: { latency: 20ms } } ]
devices:
  - { group: t, site: s, count: 1, client_id: "t0", clean_session: false, session_expiry: 1m,
      keepalive: 4s, reconnect: { initial: 1s, max: 2s },
      will: { topic: "will/{i}", payload: gone, qos: 1, delay: 2s, expiry: 30s,
              payload_format: utf8, content_type: text/plain, response_topic: "ack/{i}",
              correlation_data: "c{i}", user_properties: [ { key: b, value: "1" }, { key: a, value: "2" } ] } }
  - { group: m, site: s, count: 1, client_id: "monitor", subscribe: [ { filter: "will/#", qos: 1 } ] }
  - { group: o, site: s, count: 1, client_id: "old", protocol: "3.1.1",
      subscribe: [ { filter: "will/#", qos: 1 } ] }
faults:
  - { kind: power-loss, target: { device: t0 }, at: 10s, for: 20s }
expect: { wills: true, message_expiry: true }
"#;

/// MQTT 5.0: a subscriber that accepts packets of 200 bytes at most, and messages of 32 and
/// 500 bytes.
const PACKET_SIZE: &str = r#"
name: packet-size
seed: 1
duration: 30s
protocol: "5.0"
sites: [ { name: s, link: { latency: 20ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub",
      publish: [ { topic: "m/small", qos: 1, every: 1s }, { topic: "m/large", qos: 1, payload_size: 500, every: 5s } ] }
  - { group: q, site: s, count: 1, client_id: "sub", maximum_packet_size: 200,
      reconnect: { initial: 1s, max: 1s }, subscribe: [ { filter: "m/#", qos: 1 } ] }
expect: { qos1_at_least_once: true, maximum_packet_size: true }
"#;

/// MQTT 5.0: a retained state published now and then; a mirror subscribes with Retain As
/// Published, a screen without it.
const RETAIN_AS_PUBLISHED: &str = r#"
name: retain-as-published
seed: 1
duration: 30s
protocol: "5.0"
sites: [ { name: s, link: { latency: 20ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub",
      publish: [ { topic: "m/x", qos: 1, retain: true, every: 2s } ] }
  - { group: q, site: s, count: 1, client_id: "mirror",
      subscribe: [ { filter: "m/#", qos: 1, retain_as_published: true } ] }
  - { group: v, site: s, count: 1, client_id: "screen", subscribe: [ { filter: "m/#", qos: 1 } ] }
expect: { qos1_at_least_once: true, retained: true, retain_as_published: true }
"#;

/// MQTT 5.0: a broker supporting QoS 0 and 1 only; a publisher's alarms are QoS 2.
const MAXIMUM_QOS: &str = r#"
name: maximum-qos
seed: 1
duration: 30s
protocol: "5.0"
broker: { maximum_qos: 1 }
sites: [ { name: s, link: { latency: 20ms } } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub",
      publish: [ { topic: "m/x", qos: 2, every: 2s } ] }
  - { group: q, site: s, count: 1, client_id: "sub", subscribe: [ { filter: "m/#", qos: 2 } ] }
expect: { qos1_at_least_once: true, maximum_qos: true }
"#;

fn scenario(yaml: &str, bug: Option<&str>) -> Scenario {
    // A scenario with broker settings of its own gets the bug among them.
    let yaml = match bug {
        Some(bug) if yaml.contains("\nbroker: { ") => {
            yaml.replace("\nbroker: { ", &format!("\nbroker: {{ bugs: [{bug}], "))
        }
        Some(bug) => format!("{yaml}broker: {{ bugs: [{bug}] }}\n"),
        None => yaml.to_owned(),
    };
    parse_scenario(&yaml, Path::new("bug.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

fn verdict(scenario: &Scenario, seed: u64) -> Verdict {
    // The packet level, which the Receive Maximum rule counts on, does not change the run.
    let packets = scenario.expect.receive_maximum == Some(true);
    let (mut events, mut tapped) = (Collect::default(), Packets(Collect::default()));
    let sink: &mut dyn TraceSink = if packets { &mut tapped } else { &mut events };
    let options = RunOptions { seed: Some(seed), trace: vec![sink], ..RunOptions::default() };
    run(scenario, options).expect("the run completes");
    let records = if packets { tapped.0.0 } else { events.0 };
    let options = CheckOptions {
        end: scenario.duration.get(),
        settle: Duration::from_secs(20),
        ..CheckOptions::default()
    };
    check(scenario, &records, &options)
}

/// Runs seeds 1.. until the verdict fails; returns the seed and the verdict.
fn first_failure(scenario: &Scenario) -> Option<(u64, Verdict)> {
    (1..=100).map(|seed| (seed, verdict(scenario, seed))).find(|(_, v)| v.failed())
}

fn caught(yaml: &str, bug: &str, guarantee: Guarantee) {
    let (seed, v) = first_failure(&scenario(yaml, Some(bug)))
        .unwrap_or_else(|| panic!("{bug} was not caught within 100 seeds"));
    assert_eq!(
        v.outcome(guarantee).status,
        Status::Fail,
        "{bug} (seed {seed}) should break {guarantee}:\n{}",
        v.to_text()
    );
    eprintln!("{bug}: caught at seed {seed}\n{}", v.to_text());
    // The correct broker keeps every promise on the same scenario and seed.
    let clean = verdict(&scenario(yaml, None), seed);
    assert!(!clean.failed(), "the correct broker fails seed {seed}:\n{}", clean.to_text());
}

#[test]
fn forget_inflight_on_reconnect_breaks_at_least_once() {
    caught(INFLIGHT, "forget-inflight-on-reconnect", Guarantee::Qos1AtLeastOnce);
}

#[test]
fn duplicate_qos2_on_dup_breaks_exactly_once() {
    caught(QOS2_DUP, "duplicate-qos2-on-dup", Guarantee::Qos2ExactlyOnce);
}

#[test]
fn will_after_disconnect_breaks_wills() {
    caught(WILLS, "will-after-disconnect", Guarantee::Wills);
}

#[test]
fn no_will_on_keepalive_timeout_breaks_wills() {
    caught(WILLS, "no-will-on-keepalive-timeout", Guarantee::Wills);
}

#[test]
fn no_will_on_takeover_breaks_wills() {
    caught(WILLS, "no-will-on-takeover", Guarantee::Wills);
}

#[test]
fn stale_retained_breaks_retained() {
    caught(RETAINED, "stale-retained", Guarantee::Retained);
}

#[test]
fn dup_flag_not_set_breaks_at_least_once() {
    caught(DUP_FLAG, "dup-flag-not-set", Guarantee::Qos1AtLeastOnce);
}

#[test]
fn qos2_dup_flag_drop_breaks_exactly_once() {
    caught(QOS2_DUP_FIRST, "qos2-dup-flag-drop", Guarantee::Qos2ExactlyOnce);
}

#[test]
fn retained_delete_not_forwarded_breaks_retained() {
    caught(RETAINED_CLEAR, "retained-delete-not-forwarded", Guarantee::Retained);
}

#[test]
fn retained_duplicated_breaks_retained() {
    caught(RETAINED, "retained-duplicated", Guarantee::Retained);
}

#[test]
fn shared_sub_redispatch_loss_breaks_shared_redistribution() {
    caught(SHARED_POOL, "shared-sub-redispatch-loss", Guarantee::SharedRedistribution);
}

#[test]
fn shared_sub_stale_member_breaks_shared_subscriptions() {
    caught(SHARED_POOL, "shared-sub-stale-member", Guarantee::SharedSubscriptions);
}

#[test]
fn no_local_ignored_breaks_no_local() {
    caught(SHARED_POOL, "no-local-ignored", Guarantee::NoLocal);
}

#[test]
fn expiry_ignored_queued_breaks_message_expiry() {
    caught(EXPIRY, "expiry-ignored-queued", Guarantee::MessageExpiry);
}

#[test]
fn retained_expiry_ignored_breaks_message_expiry() {
    caught(EXPIRY, "retained-expiry-ignored", Guarantee::MessageExpiry);
}

#[test]
fn expiry_not_decremented_breaks_message_expiry() {
    caught(EXPIRY, "expiry-not-decremented", Guarantee::MessageExpiry);
}

#[test]
fn retain_handling_ignored_breaks_retained() {
    caught(EXPIRY, "retain-handling-ignored", Guarantee::Retained);
}

#[test]
fn receive_maximum_exceeded_breaks_receive_maximum() {
    caught(RECEIVE_MAXIMUM, "receive-maximum-exceeded", Guarantee::ReceiveMaximum);
}

#[test]
fn flow_quota_leak_breaks_at_least_once() {
    caught(RECEIVE_MAXIMUM, "flow-quota-leak", Guarantee::Qos1AtLeastOnce);
}

#[test]
fn topic_alias_leak_breaks_topic_aliases() {
    caught(PROPERTIES, "topic-alias-leak", Guarantee::TopicAliases);
}

#[test]
fn user_properties_dropped_breaks_message_properties() {
    caught(PROPERTIES, "user-properties-dropped", Guarantee::MessageProperties);
}

#[test]
fn will_property_leak_breaks_wills() {
    caught(WILL_PROPERTIES, "will-property-leak", Guarantee::Wills);
}

#[test]
fn maximum_packet_size_ignored_breaks_maximum_packet_size() {
    caught(PACKET_SIZE, "maximum-packet-size-ignored", Guarantee::MaximumPacketSize);
}

#[test]
fn retain_as_published_ignored_breaks_retain_as_published() {
    caught(RETAIN_AS_PUBLISHED, "retain-as-published-ignored", Guarantee::RetainAsPublished);
}

#[test]
fn maximum_qos_not_announced_breaks_maximum_qos() {
    caught(MAXIMUM_QOS, "maximum-qos-not-announced", Guarantee::MaximumQos);
}

#[test]
fn the_correct_broker_passes_the_self_test_scenarios_on_a_few_seeds() {
    for yaml in [
        INFLIGHT,
        QOS2_DUP,
        WILLS,
        RETAINED,
        DUP_FLAG,
        QOS2_DUP_FIRST,
        RETAINED_CLEAR,
        SHARED_POOL,
        EXPIRY,
        RECEIVE_MAXIMUM,
        PROPERTIES,
        WILL_PROPERTIES,
        PACKET_SIZE,
        RETAIN_AS_PUBLISHED,
        MAXIMUM_QOS,
    ] {
        let s = scenario(yaml, None);
        for seed in 1..=3 {
            let v = verdict(&s, seed);
            assert!(!v.failed(), "{} seed {seed}:\n{}", s.name, v.to_text());
        }
    }
}

/// The same bugs in the shipped scenarios, where users meet them: each is caught within 100
/// seeds of the scenario shortened to `minutes`, under the guarantee it breaks, and the correct
/// broker passes the same scenario and seed. Returns the first failing seed.
fn caught_in_shipped(file: &str, minutes: u64, bug: BrokerBug, guarantee: Guarantee) -> u64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(file);
    let mut s = load_scenario(&path).unwrap_or_else(|e| panic!("{e}"));
    s.duration = TimeSpan(Duration::from_secs(60 * minutes));
    s.broker.bugs = vec![bug];
    let (seed, v) = first_failure(&s)
        .unwrap_or_else(|| panic!("{bug:?} was not caught in {file} within 100 seeds"));
    eprintln!("{bug:?} in {file}: caught at seed {seed}");
    assert_eq!(
        v.outcome(guarantee).status,
        Status::Fail,
        "{bug:?} in {file} (seed {seed}) should break {guarantee}:\n{}",
        v.to_text()
    );
    s.broker.bugs.clear();
    let clean = verdict(&s, seed);
    assert!(!clean.failed(), "the correct broker fails {file} seed {seed}:\n{}", clean.to_text());
    seed
}

#[test]
fn forget_inflight_on_reconnect_is_caught_in_flaky_farm() {
    caught_in_shipped(
        "flaky-farm.yaml",
        20,
        BrokerBug::ForgetInflightOnReconnect,
        Guarantee::Qos1AtLeastOnce,
    );
}

#[test]
fn duplicate_qos2_on_dup_is_caught_in_qos2_heavy_loss() {
    caught_in_shipped(
        "qos2-heavy-loss.yaml",
        10,
        BrokerBug::DuplicateQos2OnDup,
        Guarantee::Qos2ExactlyOnce,
    );
}

#[test]
fn will_bugs_are_caught_in_will_takeover() {
    for bug in [
        BrokerBug::WillAfterDisconnect,
        BrokerBug::NoWillOnKeepaliveTimeout,
        BrokerBug::NoWillOnTakeover,
    ] {
        caught_in_shipped("will-takeover.yaml", 10, bug, Guarantee::Wills);
    }
}

#[test]
fn will_delay_bugs_are_caught_in_will_takeover() {
    for bug in [
        BrokerBug::NoWillAtSessionEnd,
        BrokerBug::WillDelayIgnored,
        BrokerBug::NoWillOnDelayedTakeover,
    ] {
        caught_in_shipped("will-takeover.yaml", 10, bug, Guarantee::Wills);
    }
}

#[test]
fn session_expiry_ignored_is_caught_in_will_takeover() {
    caught_in_shipped(
        "will-takeover.yaml",
        10,
        BrokerBug::SessionExpiryIgnored,
        Guarantee::Sessions,
    );
}

#[test]
fn stale_retained_is_caught_in_will_takeover() {
    caught_in_shipped("will-takeover.yaml", 10, BrokerBug::StaleRetained, Guarantee::Retained);
}

#[test]
fn forget_inflight_on_reconnect_is_caught_in_intermittent_subscriber() {
    caught_in_shipped(
        "intermittent-subscriber.yaml",
        6,
        BrokerBug::ForgetInflightOnReconnect,
        Guarantee::Qos1AtLeastOnce,
    );
}

#[test]
fn dup_flag_not_set_is_caught_in_intermittent_subscriber() {
    caught_in_shipped(
        "intermittent-subscriber.yaml",
        20,
        BrokerBug::DupFlagNotSet,
        Guarantee::Qos1AtLeastOnce,
    );
}

#[test]
fn qos2_dup_flag_drop_is_caught_in_qos2_heavy_loss() {
    caught_in_shipped(
        "qos2-heavy-loss.yaml",
        10,
        BrokerBug::Qos2DupFlagDrop,
        Guarantee::Qos2ExactlyOnce,
    );
}

#[test]
fn retained_bugs_are_caught_in_will_takeover() {
    for bug in [BrokerBug::RetainedDeleteNotForwarded, BrokerBug::RetainedDuplicated] {
        caught_in_shipped("will-takeover.yaml", 10, bug, Guarantee::Retained);
    }
}

#[test]
fn shared_subscription_bugs_are_caught_in_shared_ingest() {
    let cases = [
        (BrokerBug::SharedSubRedispatchLoss, Guarantee::SharedRedistribution),
        (BrokerBug::SharedSubStaleMember, Guarantee::SharedSubscriptions),
        (BrokerBug::NoLocalIgnored, Guarantee::NoLocal),
    ];
    for (bug, guarantee) in cases {
        caught_in_shipped("shared-ingest.yaml", 10, bug, guarantee);
    }
}

#[test]
fn expiry_bugs_are_caught_in_sleepy_sensors() {
    for bug in [
        BrokerBug::ExpiryIgnoredQueued,
        BrokerBug::RetainedExpiryIgnored,
        BrokerBug::ExpiryNotDecremented,
    ] {
        caught_in_shipped("sleepy-sensors.yaml", 10, bug, Guarantee::MessageExpiry);
    }
}

#[test]
fn retain_handling_ignored_is_caught_in_sleepy_sensors() {
    caught_in_shipped(
        "sleepy-sensors.yaml",
        10,
        BrokerBug::RetainHandlingIgnored,
        Guarantee::Retained,
    );
}

#[test]
fn v5_flow_bugs_are_caught_in_device_management() {
    let cases = [
        (BrokerBug::ReceiveMaximumExceeded, Guarantee::ReceiveMaximum),
        (BrokerBug::FlowQuotaLeak, Guarantee::Qos2ExactlyOnce),
        (BrokerBug::TopicAliasLeak, Guarantee::TopicAliases),
        (BrokerBug::UserPropertiesDropped, Guarantee::MessageProperties),
    ];
    for (bug, guarantee) in cases {
        caught_in_shipped("device-management.yaml", 10, bug, guarantee);
    }
}

#[test]
fn will_property_and_packet_size_bugs_are_caught_in_alarm_panels() {
    let cases = [
        (BrokerBug::WillPropertyLeak, Guarantee::Wills),
        (BrokerBug::MaximumPacketSizeIgnored, Guarantee::MaximumPacketSize),
    ];
    for (bug, guarantee) in cases {
        caught_in_shipped("alarm-panels.yaml", 10, bug, guarantee);
    }
}

#[test]
fn retain_as_published_ignored_is_caught_in_retained_mirror() {
    caught_in_shipped(
        "retained-mirror.yaml",
        5,
        BrokerBug::RetainAsPublishedIgnored,
        Guarantee::RetainAsPublished,
    );
}

#[test]
fn maximum_qos_not_announced_is_caught_in_retained_mirror() {
    caught_in_shipped(
        "retained-mirror.yaml",
        5,
        BrokerBug::MaximumQosNotAnnounced,
        Guarantee::MaximumQos,
    );
}
