//! Property tests over generated packets of every type, for both versions.

use bytes::{Bytes, BytesMut};
use mqttsim_codec::{
    Ack, Auth, ConnAck, Connect, Disconnect, Packet, Properties, Property, Protocol, Publish, QoS,
    ReasonCode, RetainHandling, SubAck, Subscribe, SubscribeFilter, SubscriptionOptions, UnsubAck,
    Unsubscribe, Will, decode, encode, encoded_len,
};
use proptest::prelude::*;
use proptest::sample::select;

/// Raw material for one property; [`properties`] turns it into a valid property for a context.
type RawProperty = (u8, u32, String, Vec<u8>);

/// Properties a context allows, by identifier (5.0 table 2-4); `true` when it may repeat.
fn allowed(context: &str) -> &'static [(u8, bool)] {
    match context {
        "connect" => &[
            (0x11, false),
            (0x15, false),
            (0x16, false),
            (0x17, false),
            (0x19, false),
            (0x21, false),
            (0x22, false),
            (0x27, false),
            (0x26, true),
        ],
        "connack" => &[
            (0x11, false),
            (0x12, false),
            (0x13, false),
            (0x15, false),
            (0x16, false),
            (0x1A, false),
            (0x1C, false),
            (0x1F, false),
            (0x21, false),
            (0x22, false),
            (0x24, false),
            (0x25, false),
            (0x27, false),
            (0x28, false),
            (0x29, false),
            (0x2A, false),
            (0x26, true),
        ],
        "will" => &[
            (0x01, false),
            (0x02, false),
            (0x03, false),
            (0x08, false),
            (0x09, false),
            (0x18, false),
            (0x26, true),
        ],
        "publish" => &[
            (0x01, false),
            (0x02, false),
            (0x03, false),
            (0x08, false),
            (0x09, false),
            (0x0B, true),
            (0x23, false),
            (0x26, true),
        ],
        "ack" => &[(0x1F, false), (0x26, true)],
        "subscribe" => &[(0x0B, false), (0x26, true)],
        "unsubscribe" => &[(0x26, true)],
        "disconnect" => &[(0x11, false), (0x1C, false), (0x1F, false), (0x26, true)],
        "auth" => &[(0x15, false), (0x16, false), (0x1F, false), (0x26, true)],
        other => panic!("unknown context {other}"),
    }
}

fn make_property(id: u8, n: u32, s: String, b: Vec<u8>) -> Property {
    use Property::*;
    let flag = (n % 2) as u8;
    let non_zero_u16 = (n % 65_535) as u16 + 1;
    match id {
        0x01 => PayloadFormatIndicator(flag),
        0x02 => MessageExpiryInterval(n),
        0x03 => ContentType(s),
        0x08 => ResponseTopic(s),
        0x09 => CorrelationData(b.into()),
        0x0B => SubscriptionIdentifier(n % 268_435_455 + 1),
        0x11 => SessionExpiryInterval(n),
        0x12 => AssignedClientIdentifier(s),
        0x13 => ServerKeepAlive(n as u16),
        0x15 => AuthenticationMethod(s),
        0x16 => AuthenticationData(b.into()),
        0x17 => RequestProblemInformation(flag),
        0x18 => WillDelayInterval(n),
        0x19 => RequestResponseInformation(flag),
        0x1A => ResponseInformation(s),
        0x1C => ServerReference(s),
        0x1F => ReasonString(s),
        0x21 => ReceiveMaximum(non_zero_u16),
        0x22 => TopicAliasMaximum(n as u16),
        0x23 => TopicAlias(non_zero_u16),
        0x24 => MaximumQoS(flag),
        0x25 => RetainAvailable(flag),
        0x26 => UserProperty(s.clone(), s.chars().rev().collect()),
        0x27 => MaximumPacketSize(n.max(1)),
        0x28 => WildcardSubscriptionAvailable(flag),
        0x29 => SubscriptionIdentifierAvailable(flag),
        0x2A => SharedSubscriptionAvailable(flag),
        other => panic!("no property {other:#x}"),
    }
}

/// Valid properties for `context` under `protocol` (always empty for 3.1.1).
fn properties(protocol: Protocol, context: &'static str) -> BoxedStrategy<Properties> {
    if protocol == Protocol::V311 {
        return Just(Properties::new()).boxed();
    }
    let raw = (any::<u8>(), any::<u32>(), text(), prop::collection::vec(any::<u8>(), 0..6));
    prop::collection::vec(raw, 0..5)
        .prop_map(move |raws: Vec<RawProperty>| {
            let table = allowed(context);
            let mut seen = Vec::new();
            let mut list = Vec::new();
            for (selector, n, s, b) in raws {
                let (id, repeats) = table[usize::from(selector) % table.len()];
                if seen.contains(&id) && !repeats {
                    continue;
                }
                seen.push(id);
                list.push(make_property(id, n, s, b));
            }
            Properties(list)
        })
        .boxed()
}

/// Short strings without U+0000, with some multi-byte characters.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _é€😀/-]{0,8}"
}

fn topic_name() -> impl Strategy<Value = String> {
    "[a-z$é]{1,3}(/[a-z0-9]{0,3}){0,3}"
}

fn topic_filter() -> impl Strategy<Value = String> {
    (prop::collection::vec(select(vec!["a", "bc", "+", "", "é"]), 1..4), any::<bool>()).prop_map(
        |(levels, hash)| {
            let mut filter = levels.join("/");
            if hash {
                filter.push_str("/#");
            }
            if filter.is_empty() { "#".to_string() } else { filter }
        },
    )
}

fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn packet_id() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

fn code(protocol: Protocol, v5_codes: &'static [u8]) -> BoxedStrategy<ReasonCode> {
    match protocol {
        Protocol::V31 | Protocol::V311 => Just(ReasonCode::SUCCESS).boxed(),
        Protocol::V5 => select(v5_codes).prop_map(ReasonCode).boxed(),
    }
}

fn connect(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let will = (topic_name(), bytes(8), qos(), any::<bool>(), properties(protocol, "will"))
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic: topic.into(),
            payload,
            qos,
            retain,
            properties,
        });
    (
        any::<bool>(),
        any::<u16>(),
        text(),
        prop::option::of(will),
        prop::option::of(text()),
        prop::option::of(bytes(8)),
        properties(protocol, "connect"),
    )
        .prop_map(
            move |(clean_start, keep_alive, client_id, will, username, password, properties)| {
                // 3.1.1 forbids a password without a user name [MQTT-3.1.2-22].
                let password =
                    if protocol == Protocol::V311 && username.is_none() { None } else { password };
                Packet::Connect(Connect {
                    protocol,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                })
            },
        )
}

fn connack(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let codes: BoxedStrategy<u8> = match protocol {
        Protocol::V31 | Protocol::V311 => {
            (0u8..=5).prop_map(|c| ReasonCode::from_v311_connack(c).unwrap().0).boxed()
        }
        Protocol::V5 => {
            select(&[0x00u8, 0x80, 0x84, 0x85, 0x86, 0x87, 0x88, 0x8A, 0x95, 0x9F][..]).boxed()
        }
    };
    (any::<bool>(), codes, properties(protocol, "connack")).prop_map(
        |(present, code, properties)| {
            Packet::ConnAck(ConnAck {
                session_present: present && code == 0,
                reason_code: ReasonCode(code),
                properties,
            })
        },
    )
}

fn publish(protocol: Protocol) -> impl Strategy<Value = Packet> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        packet_id(),
        bytes(64),
        properties(protocol, "publish"),
    )
        .prop_map(|(qos, dup, retain, topic, id, payload, properties)| {
            let at_most_once = qos == QoS::AtMostOnce;
            Packet::Publish(Publish {
                dup: dup && !at_most_once,
                qos,
                retain,
                topic: topic.into(),
                packet_id: if at_most_once { 0 } else { id },
                payload,
                properties,
            })
        })
}

fn ack(protocol: Protocol) -> impl Strategy<Value = Packet> {
    const PUB: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
    const REL: &[u8] = &[0x00, 0x92];
    let make = move |codes: &'static [u8]| {
        (packet_id(), code(protocol, codes), properties(protocol, "ack")).prop_map(
            |(packet_id, reason_code, properties)| Ack { packet_id, reason_code, properties },
        )
    };
    prop_oneof![
        make(PUB).prop_map(Packet::PubAck),
        make(PUB).prop_map(Packet::PubRec),
        make(REL).prop_map(Packet::PubRel),
        make(REL).prop_map(Packet::PubComp),
    ]
}

fn subscribe(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let options =
        (qos(), any::<bool>(), any::<bool>(), 0u8..3).prop_map(move |(qos, nl, rap, rh)| {
            if protocol == Protocol::V311 {
                return SubscriptionOptions { qos, ..SubscriptionOptions::default() };
            }
            let retain_handling = match rh {
                0 => RetainHandling::SendAtSubscribe,
                1 => RetainHandling::SendIfNew,
                _ => RetainHandling::DoNotSend,
            };
            SubscriptionOptions { qos, no_local: nl, retain_as_published: rap, retain_handling }
        });
    let entry =
        (topic_filter(), options).prop_map(|(filter, options)| SubscribeFilter { filter, options });
    (packet_id(), prop::collection::vec(entry, 1..4), properties(protocol, "subscribe")).prop_map(
        |(packet_id, filters, properties)| {
            Packet::Subscribe(Subscribe { packet_id, filters, properties })
        },
    )
}

fn suback(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let codes: &'static [u8] = match protocol {
        Protocol::V31 | Protocol::V311 => &[0x00, 0x01, 0x02, 0x80],
        Protocol::V5 => &[0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2],
    };
    (packet_id(), prop::collection::vec(select(codes), 1..5), properties(protocol, "ack")).prop_map(
        |(packet_id, codes, properties)| {
            Packet::SubAck(SubAck {
                packet_id,
                reason_codes: codes.into_iter().map(ReasonCode).collect(),
                properties,
            })
        },
    )
}

fn unsubscribe(protocol: Protocol) -> impl Strategy<Value = Packet> {
    (packet_id(), prop::collection::vec(topic_filter(), 1..4), properties(protocol, "unsubscribe"))
        .prop_map(|(packet_id, filters, properties)| {
            Packet::Unsubscribe(Unsubscribe { packet_id, filters, properties })
        })
}

fn unsuback(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let codes = select(&[0x00u8, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91][..]);
    (packet_id(), prop::collection::vec(codes, 1..5), properties(protocol, "ack")).prop_map(
        move |(packet_id, codes, properties)| {
            let reason_codes = match protocol {
                Protocol::V31 | Protocol::V311 => vec![],
                Protocol::V5 => codes.into_iter().map(ReasonCode).collect(),
            };
            Packet::UnsubAck(UnsubAck { packet_id, reason_codes, properties })
        },
    )
}

fn disconnect(protocol: Protocol) -> impl Strategy<Value = Packet> {
    const CODES: &[u8] = &[0x00, 0x04, 0x80, 0x81, 0x82, 0x8B, 0x8E, 0x93, 0x98, 0xA2];
    (code(protocol, CODES), properties(protocol, "disconnect")).prop_map(
        |(reason_code, properties)| Packet::Disconnect(Disconnect { reason_code, properties }),
    )
}

fn auth() -> impl Strategy<Value = Packet> {
    (select(&[0x00u8, 0x18, 0x19][..]), properties(Protocol::V5, "auth")).prop_map(
        |(code, properties)| Packet::Auth(Auth { reason_code: ReasonCode(code), properties }),
    )
}

/// Any valid packet for `protocol`.
fn packet(protocol: Protocol) -> BoxedStrategy<Packet> {
    let common = prop_oneof![
        connect(protocol),
        connack(protocol),
        publish(protocol),
        ack(protocol),
        subscribe(protocol),
        suback(protocol),
        unsubscribe(protocol),
        unsuback(protocol),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect(protocol),
    ];
    match protocol {
        Protocol::V31 | Protocol::V311 => common.boxed(),
        Protocol::V5 => prop_oneof![10 => common, 1 => auth()].boxed(),
    }
}

fn protocol_and_packet() -> impl Strategy<Value = (Protocol, Packet)> {
    prop_oneof![
        packet(Protocol::V311).prop_map(|p| (Protocol::V311, p)),
        packet(Protocol::V5).prop_map(|p| (Protocol::V5, p)),
    ]
}

fn encoded(packet: &Packet, protocol: Protocol) -> BytesMut {
    let mut buf = BytesMut::new();
    encode(packet, protocol, &mut buf).expect("a generated packet encodes");
    buf
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn every_valid_packet_round_trips((protocol, packet) in protocol_and_packet()) {
        let mut buf = encoded(&packet, protocol);
        let len = buf.len();
        prop_assert_eq!(encoded_len(&packet, protocol), Ok(len), "encoded_len measures the wire form");
        prop_assert_eq!(decode(&mut buf, protocol, len), Ok(Some(packet)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn every_strict_prefix_needs_more_bytes((protocol, packet) in protocol_and_packet()) {
        let wire = encoded(&packet, protocol);
        for cut in 0..wire.len() {
            let mut prefix = BytesMut::from(&wire[..cut]);
            prop_assert_eq!(decode(&mut prefix, protocol, wire.len()), Ok(None), "prefix of {}", cut);
            prop_assert_eq!(prefix.len(), cut, "an incomplete packet stays in the buffer");
        }
    }

    #[test]
    fn back_to_back_packets_decode_in_order(
        (protocol, first) in protocol_and_packet(),
        second in packet(Protocol::V5),
    ) {
        // Two packets of one connection: the second is re-generated for the first's version.
        let second = if protocol == Protocol::V5 { second } else { Packet::PingResp };
        let mut buf = encoded(&first, protocol);
        buf.extend_from_slice(&encoded(&second, protocol));
        prop_assert_eq!(decode(&mut buf, protocol, 1 << 20), Ok(Some(first)));
        prop_assert_eq!(decode(&mut buf, protocol, 1 << 20), Ok(Some(second)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn random_bytes_never_panic_and_stay_bounded(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..40),
        v5 in any::<bool>(),
        max in 2usize..64,
    ) {
        let protocol = if v5 { Protocol::V5 } else { Protocol::V311 };
        let mut buf = BytesMut::new();
        for chunk in chunks {
            buf.extend_from_slice(&chunk);
            loop {
                match decode(&mut buf, protocol, max) {
                    Ok(Some(packet)) => {
                        // Whatever decodes re-encodes, and decodes to itself again.
                        let mut again = BytesMut::new();
                        encode(&packet, protocol, &mut again).expect("a decoded packet encodes");
                        let len = again.len();
                        prop_assert_eq!(decode(&mut again, protocol, len), Ok(Some(packet)));
                    }
                    Ok(None) => {
                        prop_assert!(buf.len() < max + 5, "{} bytes held with max {}", buf.len(), max);
                        break;
                    }
                    Err(_) => {
                        // The connection would close: start over with a fresh buffer.
                        buf.clear();
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn mutated_valid_packets_never_panic(
        (protocol, packet) in protocol_and_packet(),
        index in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut wire = encoded(&packet, protocol).to_vec();
        let at = index.index(wire.len());
        wire[at] = byte;
        let len = wire.len();
        let mut buf = BytesMut::from(&wire[..]);
        if let Ok(Some(decoded)) = decode(&mut buf, protocol, len) {
            let mut again = BytesMut::new();
            encode(&decoded, protocol, &mut again).expect("a decoded packet encodes");
        }
    }
}
