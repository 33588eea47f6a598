//! The Will: published when the connection ends without DISCONNECT [MQTT-3.1.2-8], discarded on
//! DISCONNECT [MQTT-3.1.2-10] [MQTT-3.14.4-3].

use mqttsim_codec::{DecodeError, Disconnect, Packet};

use crate::harness::{Harness, Q0, Q1, Q2, connect, secs, will};

/// The ways a connection can end, and whether its Will must be published.
const ENDINGS: [(&str, bool); 6] = [
    ("disconnect", false),
    ("keepalive-timeout", true),
    ("connection-lost", true),
    ("protocol-violation", true),
    ("decode-error", true),
    ("takeover", true),
];

fn end(h: &mut Harness, conn: mqttsim_broker::ConnId, how: &str) {
    match how {
        "disconnect" => h.send(conn, Packet::Disconnect(Disconnect::default())),
        "keepalive-timeout" => h.advance(secs(100)),
        "connection-lost" => h.lose(conn),
        "protocol-violation" => h.send(conn, Packet::Connect(connect("dev", true))),
        "decode-error" => h.decode_error(conn, &DecodeError::ReservedPacketType),
        "takeover" => {
            h.connect("dev", true);
        }
        _ => unreachable!("unknown ending {how}"),
    }
}

#[test]
fn mqtt_3_1_2_8_will_published_unless_the_client_disconnected() {
    for (how, published) in ENDINGS {
        for (qos, retain) in [(Q0, false), (Q1, true), (Q2, false)] {
            let mut h = Harness::default();
            let watcher = h.connect("watcher", true);
            h.subscribe(watcher, "status/#", Q2);
            let mut packet = connect("dev", true);
            packet.keep_alive = 10;
            packet.will = Some(will("status/dev", "offline", qos, retain));
            let (conn, _) = h.connect_with(packet);
            h.take_events();
            end(&mut h, conn, how);
            let delivered = h.publishes(watcher);
            if !published {
                assert!(delivered.is_empty(), "{how}: [MQTT-3.14.4-3]");
                assert!(h.wills().is_empty(), "{how}");
                continue;
            }
            assert_eq!(h.wills(), ["dev"], "{how}");
            assert_eq!(delivered.len(), 1, "{how}");
            assert_eq!((delivered[0].qos, &*delivered[0].payload), (qos, &b"offline"[..]), "{how}");
            assert!(!delivered[0].retain, "{how}: RETAIN=0 to established subscriptions");
            // A retained Will is retained [MQTT-3.1.2-17].
            let late = h.connect("late", true);
            h.subscribe(late, "status/dev", Q2);
            assert_eq!(h.publishes(late).len(), usize::from(retain), "{how} retain {retain}");
        }
    }
}

#[test]
fn will_fires_once_and_goes_to_persistent_offline_sessions() {
    let mut h = Harness::default();
    let offline = h.connect("offline", false);
    h.subscribe(offline, "status/#", Q1);
    h.lose(offline);
    let mut packet = connect("dev", true);
    packet.will = Some(will("status/dev", "offline", Q1, false));
    let (conn, _) = h.connect_with(packet);
    h.lose(conn);
    h.lose(conn);
    let back = h.connect("offline", false);
    assert_eq!(h.receive(back), ["offline"]);
}
