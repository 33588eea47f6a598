//! Each planted bug really changes behaviour, and the default broker has none of them.

use std::collections::BTreeSet;

use mqttsim_broker::{BrokerConfig, PlantedBug};
use mqttsim_codec::{Disconnect, Packet, Property};

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
        PlantedBug::ReceiveMaximumExceeded | PlantedBug::FlowQuotaLeak => {
            let c = connect5(
                "sub",
                false,
                vec![Property::SessionExpiryInterval(60), Property::ReceiveMaximum(2)],
            );
            let (sub, _) = h.connect5(c.clone());
            h.subscribe5(sub, &[("t", opts(Q1))], Vec::new());
            let sub = if bug == PlantedBug::FlowQuotaLeak {
                // Two resumptions, the second leaving no quota.
                h.lose(sub);
                let (again, _) = h.connect5(c.clone());
                h.lose(again);
                h.connect5(c).0
            } else {
                sub
            };
            let conn = h.client5("pub");
            for _ in 0..3 {
                h.publish(conn, "t", "x", Q1, false);
            }
            let got = h.publishes(sub).len();
            // [MQTT-3.3.4-9]: two unacknowledged at most; [MQTT-4.9.0-1]: but not none.
            if bug == PlantedBug::FlowQuotaLeak { got == 0 } else { got > 2 }
        }
        PlantedBug::TopicAliasLeak | PlantedBug::UserPropertiesDropped => {
            let sub = h.client5("sub");
            h.subscribe5(sub, &[("t", opts(Q0))], Vec::new());
            let conn = h.client5("pub");
            let properties =
                vec![Property::TopicAlias(1), Property::UserProperty("k".into(), "v".into())];
            h.send(conn, Packet::Publish(publish5("t", "x", Q0, 0, properties)));
            let got = h.publishes(sub);
            let props: Vec<&Property> = got.iter().flat_map(|p| p.properties.iter()).collect();
            match bug {
                // [MQTT-3.1.2-27]: no alias towards a client that allowed none.
                PlantedBug::TopicAliasLeak => {
                    props.iter().any(|p| matches!(p, Property::TopicAlias(_)))
                }
                // [MQTT-3.3.2-17]
                _ => !props.iter().any(|p| matches!(p, Property::UserProperty(..))),
            }
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
            "receive-maximum-exceeded",
            "flow-quota-leak",
            "topic-alias-leak",
            "user-properties-dropped",
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
