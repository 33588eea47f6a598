//! Each planted bug really changes behaviour, and the default broker has none of them.

use std::collections::BTreeSet;

use mqttsim_broker::{BrokerConfig, PlantedBug};
use mqttsim_codec::{
    Disconnect, Packet, Properties, Property, RetainHandling, SubscriptionOptions,
};

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
        PlantedBug::SharedSubRedispatchLoss => {
            let a = h.client5("a");
            h.subscribe5(a, &[("$share/g/t", opts(Q1))], Vec::new());
            let b = h.client5("b");
            h.subscribe5(b, &[("$share/g/t", opts(Q1))], Vec::new());
            let conn = h.client5("pub");
            // Round-robin: the first message goes to `a`, which never acknowledges it.
            h.publish(conn, "t", "held by a", Q1, false);
            h.take(a);
            h.take(b);
            h.lose(a);
            // A QoS 1 message of a member whose session ended goes to another (§4.8.2 SHOULD).
            payloads(&h.publishes(b)) != ["held by a"]
        }
        PlantedBug::SharedSubStaleMember => {
            let a = h.client5("a");
            h.subscribe5(a, &[("$share/g/t", opts(Q1))], Vec::new());
            let b = h.client5("b");
            h.subscribe5(b, &[("$share/g/t", opts(Q1))], Vec::new());
            h.lose(a);
            let conn = h.client5("pub");
            h.publish(conn, "t", "1", Q1, false);
            h.publish(conn, "t", "2", Q1, false);
            // [MQTT-4.5.0-1]: the member left gets every message.
            payloads(&h.publishes(b)) != ["1", "2"]
        }
        PlantedBug::NoLocalIgnored => {
            let conn = h.client5("dev");
            let no_local = SubscriptionOptions { no_local: true, ..opts(Q1) };
            h.subscribe5(conn, &[("t", no_local)], Vec::new());
            h.publish(conn, "t", "mine", Q1, false);
            // [MQTT-3.8.3-3] (the PUBACK says 0x10, no matching subscribers, without the bug)
            h.take(conn).iter().any(|p| matches!(p, Packet::Publish(_)))
        }
        PlantedBug::NoWillAtSessionEnd
        | PlantedBug::WillDelayIgnored
        | PlantedBug::NoWillOnDelayedTakeover => {
            // Will Delay 30 s; the session ends with the connection (expiry 0) or after 60 s.
            let expiry = if bug == PlantedBug::WillDelayIgnored { 60 } else { 0 };
            let mut packet = connect5("dev", false, vec![Property::SessionExpiryInterval(expiry)]);
            let mut w = will("w", "gone", Q0, false);
            w.properties = Properties(vec![Property::WillDelayInterval(30)]);
            packet.will = Some(w);
            let (conn, _) = h.connect_with(packet);
            match bug {
                PlantedBug::NoWillAtSessionEnd => {
                    // [MQTT-3.1.2-8]: the session ended at the close, so the Will goes out then.
                    h.lose(conn);
                    h.advance(secs(1));
                    h.wills().is_empty()
                }
                PlantedBug::WillDelayIgnored => {
                    // [MQTT-3.1.2-8]: not before the delay, with the session still there.
                    h.lose(conn);
                    h.advance(secs(1));
                    !h.wills().is_empty()
                }
                _ => {
                    // The takeover closes the old connection, which ends its session: the Will
                    // goes out [MQTT-3.1.2-8].
                    h.connect_with(connect5("dev", false, Vec::new()));
                    h.wills().is_empty()
                }
            }
        }
        PlantedBug::SessionExpiryIgnored => {
            let sub =
                h.connect_with(connect5("sub", false, vec![Property::SessionExpiryInterval(5)]));
            h.subscribe(sub.0, "t", Q1);
            h.lose(sub.0);
            h.advance(secs(10));
            let (_, ack) = h.connect_with(connect5("sub", false, Vec::new()));
            // [MQTT-3.2.2-3]: the session expired, so there is none to resume.
            ack.is_some_and(|a| a.session_present)
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
        PlantedBug::WillPropertyLeak => {
            let sub = h.client5("sub");
            h.subscribe5(sub, &[("w", opts(Q0))], Vec::new());
            let mut packet = connect5("dev", false, vec![Property::SessionExpiryInterval(60)]);
            let mut w = will("w", "gone", Q0, false);
            w.properties = Properties(vec![
                Property::WillDelayInterval(1),
                Property::ContentType("text/plain".into()),
            ]);
            packet.will = Some(w);
            let (conn, _) = h.connect_with(packet);
            h.lose(conn);
            h.advance(secs(2));
            let got = h.publishes(sub);
            // MQTT 5.0 §3.3.2.3: PUBLISH has no Will Delay Interval; the Content Type travels.
            assert!(
                got.iter()
                    .all(|p| p.properties.iter().any(|p| matches!(p, Property::ContentType(_))))
            );
            got.iter()
                .any(|p| p.properties.iter().any(|p| matches!(p, Property::WillDelayInterval(_))))
        }
        PlantedBug::MaximumPacketSizeIgnored => {
            let sub = h.connect5(connect5("sub", true, vec![Property::MaximumPacketSize(64)])).0;
            h.subscribe5(sub, &[("t", opts(Q1))], Vec::new());
            let conn = h.client5("pub");
            h.publish(conn, "t", &"x".repeat(100), Q1, false);
            h.publish(conn, "t", "small", Q1, false);
            let got = h.publishes(sub);
            // [MQTT-3.1.2-24]: the large one is discarded, the small one arrives.
            assert!(got.iter().any(|p| &p.payload[..] == b"small"));
            got.iter().any(|p| p.payload.len() == 100)
        }
        PlantedBug::RetainAsPublishedIgnored => {
            let sub = h.client5("sub");
            let rap = SubscriptionOptions { retain_as_published: true, ..opts(Q0) };
            h.subscribe5(sub, &[("t", rap)], Vec::new());
            let conn = h.client5("pub");
            h.publish(conn, "t", "kept", Q0, true);
            // [MQTT-3.3.1-13]
            !h.publishes(sub).iter().any(|p| p.retain)
        }
        PlantedBug::MaximumQosNotAnnounced => {
            let (conn, connack) = h.connect5(connect5("c", true, Vec::new()));
            let announced = connack.properties.iter().any(|p| matches!(p, Property::MaximumQoS(_)));
            h.publish(conn, "t", "x", Q2, false);
            // [MQTT-3.2.2-9]: a QoS it does not support must have been announced.
            !announced && h.closed(conn).is_some()
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
            "shared-sub-redispatch-loss",
            "shared-sub-stale-member",
            "no-local-ignored",
            "no-will-at-session-end",
            "will-delay-ignored",
            "no-will-on-delayed-takeover",
            "session-expiry-ignored",
            "expiry-ignored-queued",
            "retained-expiry-ignored",
            "expiry-not-decremented",
            "retain-handling-ignored",
            "receive-maximum-exceeded",
            "flow-quota-leak",
            "topic-alias-leak",
            "user-properties-dropped",
            "will-property-leak",
            "maximum-packet-size-ignored",
            "retain-as-published-ignored",
            "maximum-qos-not-announced",
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
