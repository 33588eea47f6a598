//! Each planted bug really changes behaviour, and the default broker has none of them.

use std::collections::BTreeSet;

use mqttsim_broker::{BrokerConfig, PlantedBug};
use mqttsim_codec::{Disconnect, Packet, Property, RetainHandling, SubscriptionOptions};

use crate::harness::{
    Harness, Q0, Q1, Q2, connect, connect5, opts, payloads, publish, publish5, secs, will,
};

fn harness(bug: Option<PlantedBug>) -> Harness {
    let bugs: BTreeSet<PlantedBug> = bug.into_iter().collect();
    Harness::new(BrokerConfig { bugs, ..BrokerConfig::default() })
}

/// Runs the scenario that exposes `bug` and says whether the broker misbehaved.
fn misbehaves(bug: PlantedBug, enabled: bool) -> bool {
    let mut h = harness(enabled.then_some(bug));
    match bug {
        PlantedBug::ForgetInflightOnReconnect => {
            let sub = h.connect("sub", false);
            h.subscribe(sub, "t", Q1);
            let conn = h.connect("pub", true);
            h.publish(conn, "t", "x", Q1, false);
            h.take(sub);
            h.lose(sub);
            let back = h.connect("sub", false);
            // [MQTT-4.4.0-1]: the unacknowledged message must come back.
            h.publishes(back).is_empty()
        }
        PlantedBug::DuplicateQos2OnDup => {
            let sub = h.connect("sub", true);
            h.subscribe(sub, "t", Q0);
            let conn = h.connect("pub", true);
            let mut packet = publish("t", "x", Q2, false, 1);
            h.send(conn, Packet::Publish(packet.clone()));
            packet.dup = true;
            h.send(conn, Packet::Publish(packet));
            // [MQTT-4.3.3-2]
            h.publishes(sub).len() > 1
        }
        PlantedBug::WillAfterDisconnect
        | PlantedBug::NoWillOnKeepaliveTimeout
        | PlantedBug::NoWillOnTakeover => {
            let mut packet = connect("dev", true);
            packet.keep_alive = 5;
            packet.will = Some(will("w", "gone", Q0, false));
            let (conn, _) = h.connect_with(packet);
            match bug {
                PlantedBug::WillAfterDisconnect => {
                    h.send(conn, Packet::Disconnect(Disconnect::default()));
                    !h.wills().is_empty()
                }
                PlantedBug::NoWillOnKeepaliveTimeout => {
                    h.advance(secs(10));
                    h.wills().is_empty()
                }
                _ => {
                    h.connect("dev", true);
                    h.wills().is_empty()
                }
            }
        }
        PlantedBug::StaleRetained => {
            let conn = h.connect("pub", true);
            h.publish(conn, "t", "old", Q1, true);
            h.publish(conn, "t", "new", Q1, true);
            let sub = h.connect("sub", true);
            h.subscribe(sub, "t", Q1);
            // [MQTT-3.3.1-5]
            payloads(&h.publishes(sub)) != ["new"]
        }
        PlantedBug::DupFlagNotSet => {
            let sub = h.connect("sub", false);
            h.subscribe(sub, "t", Q1);
            let conn = h.connect("pub", true);
            h.publish(conn, "t", "x", Q1, false);
            h.take(sub);
            h.lose(sub);
            let back = h.connect("sub", false);
            // [MQTT-3.3.1-1]: a re-delivery carries DUP=1.
            h.publishes(back).iter().any(|p| !p.dup)
        }
        PlantedBug::RetainedDeleteNotForwarded => {
            let sub = h.connect("sub", true);
            h.subscribe(sub, "t", Q1);
            let conn = h.connect("pub", true);
            h.publish(conn, "t", "on", Q1, true);
            h.publish(conn, "t", "", Q1, true);
            // [MQTT-3.3.1-10]: the zero-byte retained PUBLISH is forwarded as usual.
            payloads(&h.publishes(sub)) != ["on", ""]
        }
        PlantedBug::RetainedDuplicated => {
            let conn = h.connect("pub", true);
            h.publish(conn, "t", "on", Q1, true);
            let sub = h.connect("sub", true);
            h.subscribe(sub, "t", Q1);
            // [MQTT-3.3.1-6]: the retained message is sent once per subscription.
            payloads(&h.publishes(sub)) != ["on"]
        }
        PlantedBug::Qos2DupFlagDrop => {
            let sub = h.connect("sub", true);
            h.subscribe(sub, "t", Q2);
            let conn = h.connect("pub", true);
            // The first attempt never arrived: the broker sees the resend first.
            let mut packet = publish("t", "x", Q2, false, 1);
            packet.dup = true;
            h.send(conn, Packet::Publish(packet));
            // [MQTT-4.3.3-2]: a QoS 2 message new to the broker is forwarded, DUP or not.
            h.publishes(sub).is_empty()
        }
        PlantedBug::ExpiryIgnoredQueued | PlantedBug::ExpiryNotDecremented => {
            let session = || vec![Property::SessionExpiryInterval(600)];
            let sub = h.connect5(connect5("sub", true, session())).0;
            h.subscribe(sub, "t", Q1);
            h.lose(sub);
            let publisher = h.client5("pub");
            let expiry = vec![Property::MessageExpiryInterval(10)];
            h.send(publisher, Packet::Publish(publish5("t", "x", Q1, 1, expiry)));
            h.advance(secs(if bug == PlantedBug::ExpiryIgnoredQueued { 11 } else { 4 }));
            let back = h.connect5(connect5("sub", false, session())).0;
            let got = h.publishes(back);
            match bug {
                // [MQTT-3.3.2-5]
                PlantedBug::ExpiryIgnoredQueued => !got.is_empty(),
                // [MQTT-3.3.2-6]: 6 s left.
                _ => got[0].properties.0 != [Property::MessageExpiryInterval(6)],
            }
        }
        PlantedBug::RetainedExpiryIgnored => {
            let publisher = h.client5("pub");
            let mut retained = publish5("t", "r", Q1, 1, vec![Property::MessageExpiryInterval(5)]);
            retained.retain = true;
            h.send(publisher, Packet::Publish(retained));
            h.advance(secs(6));
            let late = h.client5("late");
            h.subscribe(late, "t", Q1);
            // [MQTT-3.3.2-5]: the retained message expired.
            !h.publishes(late).is_empty()
        }
        PlantedBug::RetainHandlingIgnored => {
            let publisher = h.client5("pub");
            h.publish(publisher, "t", "r", Q1, true);
            let sub = h.client5("sub");
            let never =
                SubscriptionOptions { retain_handling: RetainHandling::DoNotSend, ..opts(Q1) };
            h.subscribe5(sub, &[("t", never)], Vec::new());
            // [MQTT-3.3.1-11]
            !h.publishes(sub).is_empty()
        }
        _ => unreachable!("a planted bug without a scenario: {bug}"),
    }
}

#[test]
fn each_planted_bug_changes_behaviour_and_is_off_by_default() {
    assert!(BrokerConfig::default().bugs.is_empty());
    for bug in PlantedBug::ALL {
        assert!(!misbehaves(bug, false), "the default broker has {bug}");
        assert!(misbehaves(bug, true), "{bug} changes nothing");
    }
}

#[test]
fn planted_bugs_have_kebab_case_names() {
    let names: Vec<String> = PlantedBug::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        [
            "forget-inflight-on-reconnect",
            "duplicate-qos2-on-dup",
            "will-after-disconnect",
            "no-will-on-keepalive-timeout",
            "stale-retained",
            "no-will-on-takeover",
            "dup-flag-not-set",
            "retained-delete-not-forwarded",
            "retained-duplicated",
            "qos2-dup-flag-drop",
            "expiry-ignored-queued",
            "retained-expiry-ignored",
            "expiry-not-decremented",
            "retain-handling-ignored",
        ]
    );
    for bug in PlantedBug::ALL {
        assert_eq!(bug.to_string().parse::<PlantedBug>(), Ok(bug));
    }
    let error = "no-such-bug".parse::<PlantedBug>().unwrap_err();
    assert!(error.to_string().contains("stale-retained"), "{error}");
}

#[test]
fn forget_inflight_keeps_qos2_flows() {
    // The bug is about QoS 1 only: a QoS 2 message in flight is still resent.
    let mut h = harness(Some(PlantedBug::ForgetInflightOnReconnect));
    let sub = h.connect("sub", false);
    h.subscribe(sub, "t", Q2);
    let conn = h.connect("pub", true);
    h.publish(conn, "t", "x", Q2, false);
    h.take(sub);
    h.lose(sub);
    let back = h.connect("sub", false);
    assert_eq!(payloads(&h.publishes(back)), ["x"]);
}
