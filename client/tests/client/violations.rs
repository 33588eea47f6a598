use mqttsim_client::{CloseReason, Event, ProtocolViolation, State};
use mqttsim_codec::{
    Connect, Disconnect, Packet, PacketType, Properties, Protocol, ReasonCode, Subscribe,
};

use crate::harness::{Harness, connack, lines, puback, pubcomp, publish, pubrec, suback, unsuback};

/// A connected client with a QoS 1 message in flight as id 1, a QoS 2 one as id 2, a SUBSCRIBE
/// of two filters as id 3 and an UNSUBSCRIBE as id 4.
fn busy(protocol: Protocol) -> Harness {
    let mut config = Harness::device();
    config.protocol = protocol;
    config.max_inbound_qos2 = 2;
    let mut h = Harness::new(config);
    h.connect(false);
    h.publish("a", 1);
    h.publish("b", 2);
    let now = h.now;
    let qos = mqttsim_codec::QoS::AtMostOnce;
    h.client.subscribe(now, vec![("x".into(), qos), ("y".into(), qos)]).unwrap();
    h.client.unsubscribe(now, vec!["z".into()]).unwrap();
    h.clear();
    h
}

fn connect_packet() -> Packet {
    Packet::Connect(Connect {
        protocol: Protocol::V311,
        clean_start: true,
        keep_alive: 0,
        client_id: "evil".into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::new(),
    })
}

#[test]
fn unexpected_server_packets_close_with_a_typed_reason() {
    use ProtocolViolation::*;
    let cases: Vec<(Vec<Packet>, ProtocolViolation)> = vec![
        (vec![puback(9)], UnknownPacketId { packet: PacketType::PubAck, packet_id: 9 }),
        (vec![pubrec(9)], UnknownPacketId { packet: PacketType::PubRec, packet_id: 9 }),
        (vec![pubcomp(9)], UnknownPacketId { packet: PacketType::PubComp, packet_id: 9 }),
        (vec![puback(2)], WrongAck { packet: PacketType::PubAck, packet_id: 2, qos: 2 }),
        (vec![pubrec(1)], WrongAck { packet: PacketType::PubRec, packet_id: 1, qos: 1 }),
        (vec![pubcomp(2)], WrongAck { packet: PacketType::PubComp, packet_id: 2, qos: 2 }),
        (vec![pubcomp(1)], WrongAck { packet: PacketType::PubComp, packet_id: 1, qos: 1 }),
        (vec![puback(1), puback(1)], UnknownPacketId { packet: PacketType::PubAck, packet_id: 1 }),
        (vec![connack(false, ReasonCode::SUCCESS)], SecondConnAck),
        (vec![suback(3, &[0])], SubAckCount { expected: 2, got: 1 }),
        (vec![suback(3, &[0, 0, 0])], SubAckCount { expected: 2, got: 3 }),
        (vec![suback(4, &[0])], UnknownPacketId { packet: PacketType::SubAck, packet_id: 4 }),
        (vec![suback(1, &[0])], UnknownPacketId { packet: PacketType::SubAck, packet_id: 1 }),
        (vec![unsuback(3)], UnknownPacketId { packet: PacketType::UnsubAck, packet_id: 3 }),
        (vec![Packet::PingResp], UnsolicitedPingResp),
        (vec![Packet::PingReq], ClientOnlyPacket(PacketType::PingReq)),
        (vec![connect_packet()], ClientOnlyPacket(PacketType::Connect)),
        (
            vec![Packet::Subscribe(Subscribe {
                packet_id: 1,
                filters: vec![],
                properties: Properties::new(),
            })],
            ClientOnlyPacket(PacketType::Subscribe),
        ),
        (vec![Packet::Disconnect(Disconnect::default())], ClientOnlyPacket(PacketType::Disconnect)),
        (vec![Packet::Auth(Default::default())], ClientOnlyPacket(PacketType::Auth)),
        (vec![publish(1, 0, "t", false)], ZeroPacketId(1)),
        (vec![publish(2, 0, "t", false)], ZeroPacketId(2)),
        (vec![publish(0, 0, "", false)], EmptyTopic),
        (
            vec![publish(2, 1, "t", false), publish(2, 2, "t", false), publish(2, 3, "t", false)],
            TooManyInboundQos2(2),
        ),
    ];
    for (packets, violation) in cases {
        let mut h = busy(Protocol::V311);
        let last = packets.len() - 1;
        for (index, packet) in packets.into_iter().enumerate() {
            h.recv(packet);
            if index < last {
                assert_eq!(h.client.state(), State::Connected, "{violation:?}: step {index}");
                h.clear();
            }
        }
        assert_eq!(h.out(), lines(&["CLOSE"]), "{violation:?}");
        assert_eq!(
            h.events(),
            vec![Event::Closed { reason: CloseReason::Protocol(violation.clone()) }],
            "{violation:?}"
        );
        assert_eq!(h.client.state(), State::Disconnected);
    }
}

#[test]
fn v5_sends_disconnect_with_protocol_error_first() {
    let mut h = busy(Protocol::V5);
    h.recv(puback(9));
    assert_eq!(
        h.out(),
        vec![format!("DISCONNECT {:?}", ReasonCode::PROTOCOL_ERROR), "CLOSE".into()]
    );
}

#[test]
fn packets_before_connack_are_protocol_errors() {
    for packet in [publish(0, 0, "t", false), Packet::PingResp, puback(1)] {
        let kind = packet.packet_type();
        let mut h = Harness::new(Harness::device());
        h.client.handle_transport_up(h.now);
        h.clear();
        h.recv(packet);
        assert_eq!(h.out(), lines(&["CLOSE"]));
        assert_eq!(
            h.events(),
            vec![Event::Closed {
                reason: CloseReason::Protocol(ProtocolViolation::BeforeConnAck(kind))
            }]
        );
    }
}

#[test]
fn the_session_survives_a_protocol_error() {
    let mut h = busy(Protocol::V311);
    h.recv(puback(9));
    h.clear();
    assert_eq!(
        h.connect(true),
        lines(&[
            "PUBLISH q1 id=1 dup=1 a",
            "PUBLISH q2 id=2 dup=1 b",
            "SUBSCRIBE id=5 x:0,y:0",
            "UNSUBSCRIBE id=6 z",
        ])
    );
}
