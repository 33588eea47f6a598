use std::time::Duration;

use bytes::Bytes;
use mqttsim_client::{Client, ClientConfig, Output, State};
use mqttsim_codec::{
    Ack, ConnAck, Disconnect, Packet, Properties, Property, Protocol, Publish, QoS, ReasonCode,
    SubAck, UnsubAck,
};
use proptest::prelude::*;

/// One thing that can happen to a client.
#[derive(Debug, Clone)]
enum Step {
    /// Any server packet at all, mostly nonsense.
    Server(Box<Packet>),
    /// A successful CONNACK, when one is awaited, with a session present flag and a 5.0 Receive
    /// Maximum (0: none).
    Accept(bool, u16),
    /// A well-behaved server answers one of the client's outstanding packets, chosen by index.
    Respond(usize),
    /// A well-formed PUBLISH from the server, when connected.
    Inbound(QoS, u16, bool),
    Advance(u16),
    /// The transport comes up; unless forced, only when the client is disconnected.
    TransportUp(bool),
    TransportDown,
    Publish(u8),
    Subscribe,
    Unsubscribe,
    Disconnect,
}

fn qos() -> impl Strategy<Value = QoS> {
    (0u8..3).prop_map(|q| QoS::from_u8(q).unwrap())
}

fn reason() -> impl Strategy<Value = ReasonCode> {
    prop_oneof![
        Just(ReasonCode::SUCCESS),
        Just(ReasonCode::NOT_AUTHORIZED),
        any::<u8>().prop_map(ReasonCode)
    ]
}

/// Small packet ids so that acknowledgements often hit messages in flight.
fn id() -> impl Strategy<Value = u16> {
    prop_oneof![4 => 0u16..8, 1 => any::<u16>()]
}

fn ack() -> impl Strategy<Value = Ack> {
    (id(), reason()).prop_map(|(packet_id, reason_code)| Ack {
        packet_id,
        reason_code,
        properties: Properties::new(),
    })
}

fn server_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        2 => (any::<bool>(), reason(), 0u16..4).prop_map(|(session_present, code, max)| {
            let mut properties = Properties::new();
            if max > 0 {
                properties.push(Property::ReceiveMaximum(max));
            }
            Packet::ConnAck(ConnAck {
                session_present,
                reason_code: if code.0 % 2 == 0 { ReasonCode::SUCCESS } else { code },
                properties,
            })
        }),
        3 => (qos(), id(), any::<bool>(), prop_oneof![Just(""), Just("t")]).prop_map(
            |(qos, packet_id, dup, topic)| Packet::Publish(Publish {
                dup,
                qos,
                retain: false,
                topic: topic.into(),
                packet_id,
                payload: Bytes::new(),
                properties: Properties::new(),
            })
        ),
        4 => ack().prop_map(Packet::PubAck),
        4 => ack().prop_map(Packet::PubRec),
        2 => ack().prop_map(Packet::PubRel),
        4 => ack().prop_map(Packet::PubComp),
        2 => (id(), prop::collection::vec(reason(), 0..3)).prop_map(|(packet_id, reason_codes)| {
            Packet::SubAck(SubAck { packet_id, reason_codes, properties: Properties::new() })
        }),
        1 => (id(), prop::collection::vec(reason(), 0..2)).prop_map(|(packet_id, reason_codes)| {
            Packet::UnsubAck(UnsubAck { packet_id, reason_codes, properties: Properties::new() })
        }),
        1 => Just(Packet::PingResp),
        1 => Just(Packet::PingReq),
        1 => reason().prop_map(|reason_code| Packet::Disconnect(Disconnect {
            reason_code,
            properties: Properties::new(),
        })),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    // Weighted so that connections live long enough to fill windows and reconnect with state;
    // nonsense packets and transport changes still come often enough to break them.
    prop_oneof![
        1 => server_packet().prop_map(|p| Step::Server(Box::new(p))),
        4 => (any::<bool>(), 0u16..4).prop_map(|(present, max)| Step::Accept(present, max)),
        10 => any::<usize>().prop_map(Step::Respond),
        3 => (qos(), 1u16..6, any::<bool>()).prop_map(|(q, id, dup)| Step::Inbound(q, id, dup)),
        3 => (0u16..5_000).prop_map(Step::Advance),
        4 => prop::bool::weighted(0.1).prop_map(Step::TransportUp),
        1 => Just(Step::TransportDown),
        6 => (0u8..3).prop_map(Step::Publish),
        1 => Just(Step::Subscribe),
        1 => Just(Step::Unsubscribe),
        1 => Just(Step::Disconnect),
    ]
}

fn config() -> impl Strategy<Value = ClientConfig> {
    (any::<bool>(), any::<bool>(), 0u16..5, 0usize..4, 0u16..20, 0u16..4).prop_map(
        |(v5, clean, max_inflight, max_queued, keep_alive, inbound)| {
            let mut config = ClientConfig::new("prop");
            config.protocol = if v5 { Protocol::V5 } else { Protocol::V311 };
            config.clean_session = clean;
            config.max_inflight = max_inflight;
            config.max_queued = max_queued;
            config.keep_alive = keep_alive;
            config.max_inbound_qos2 = inbound;
            config.connect_timeout = Duration::from_secs(3);
            config
        },
    )
}

/// What a well-behaved server answers to a client packet, if anything.
pub fn answer(packet: &Packet) -> Option<Packet> {
    Some(match packet {
        Packet::Publish(p) if p.qos == QoS::AtLeastOnce => Packet::PubAck(Ack::new(p.packet_id)),
        Packet::Publish(p) if p.qos == QoS::ExactlyOnce => Packet::PubRec(Ack::new(p.packet_id)),
        Packet::PubRel(a) => Packet::PubComp(Ack::new(a.packet_id)),
        Packet::PubRec(a) => Packet::PubRel(Ack::new(a.packet_id)),
        Packet::Subscribe(s) => Packet::SubAck(SubAck {
            packet_id: s.packet_id,
            reason_codes: s.filters.iter().map(|_| ReasonCode::GRANTED_QOS_1).collect(),
            properties: Properties::new(),
        }),
        Packet::Unsubscribe(u) => Packet::UnsubAck(UnsubAck {
            packet_id: u.packet_id,
            reason_codes: u.filters.iter().map(|_| ReasonCode::SUCCESS).collect(),
            properties: Properties::new(),
        }),
        Packet::PingReq => Packet::PingResp,
        _ => return None,
    })
}

fn check_invariants(client: &Client, config: &ClientConfig) -> Result<(), TestCaseError> {
    let ids: Vec<u16> = client.inflight_packet_ids().collect();
    let max = usize::from(config.max_inflight.max(1));
    prop_assert!(ids.len() <= max, "{} in flight, max {}", ids.len(), max);
    prop_assert!(client.window() <= max);
    prop_assert!(!ids.contains(&0), "packet id 0 in flight: {ids:?}");
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    prop_assert_eq!(sorted.len(), ids.len(), "duplicate packet ids in flight: {:?}", ids);
    prop_assert!(client.queued_len() <= config.max_queued);
    prop_assert!(client.inbound_qos2_len() <= usize::from(config.max_inbound_qos2.max(1)));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_server_sequence_breaks_the_client(
        config in config(),
        steps in prop::collection::vec(step(), 0..200),
    ) {
        let mut client = Client::new(config.clone());
        let mut now = Duration::ZERO;
        // The answers a well-behaved server owes for what the client sent on this connection.
        let mut owed: Vec<Packet> = Vec::new();
        for step in steps {
            match step.clone() {
                Step::Server(packet) => client.handle_packet(now, *packet),
                Step::Accept(session_present, max) if client.state() == State::Connecting => {
                    let mut properties = Properties::new();
                    if max > 0 {
                        properties.push(Property::ReceiveMaximum(max));
                    }
                    let reason_code = ReasonCode::SUCCESS;
                    client.handle_packet(now, Packet::ConnAck(ConnAck {
                        session_present: session_present && !config.clean_session,
                        reason_code,
                        properties,
                    }));
                }
                Step::Inbound(qos, packet_id, dup) if client.state() == State::Connected => {
                    let packet_id = if qos == QoS::AtMostOnce { 0 } else { packet_id };
                    client.handle_packet(now, Packet::Publish(Publish {
                        dup: dup && qos != QoS::AtMostOnce,
                        qos,
                        retain: false,
                        topic: "in".into(),
                        packet_id,
                        payload: Bytes::new(),
                        properties: Properties::new(),
                    }));
                }
                Step::Respond(index) => {
                    if !owed.is_empty() {
                        let answer = owed.remove(index % owed.len());
                        client.handle_packet(now, answer);
                    }
                }
                Step::Advance(millis) => {
                    now += Duration::from_millis(u64::from(millis));
                    if client.poll_timeout().is_some_and(|t| t <= now) {
                        client.handle_timeout(now);
                    }
                }
                Step::TransportUp(force) if force || client.state() == State::Disconnected => {
                    owed.clear();
                    client.handle_transport_up(now);
                }
                Step::TransportDown => {
                    owed.clear();
                    client.handle_transport_down(now);
                }
                Step::Publish(q) => {
                    let qos = QoS::from_u8(q).unwrap();
                    client.publish(now, "p".into(), Bytes::new(), qos, false).unwrap();
                }
                Step::Subscribe => {
                    let _ = client.subscribe(now, vec![("s".into(), QoS::AtLeastOnce)]);
                }
                Step::Unsubscribe => {
                    let _ = client.unsubscribe(now, vec!["s".into()]);
                }
                Step::Disconnect => client.disconnect(now),
                Step::Accept(..) | Step::Inbound(..) | Step::TransportUp(_) => {}
            }
            let mut closed = false;
            let mut first = true;
            while let Some(output) = client.poll_output() {
                if std::mem::take(&mut first) && matches!(step, Step::TransportUp(_)) {
                    prop_assert!(
                        matches!(output, Output::Send(Packet::Connect(_))),
                        "a new transport starts with CONNECT, not {:?}", output
                    );
                }
                match output {
                    Output::Send(packet) => {
                        prop_assert!(!closed, "packet after Close");
                        if let Some(answer) = answer(&packet) {
                            owed.push(answer);
                        }
                        if let Packet::Publish(p) = packet {
                            prop_assert_eq!(p.qos == QoS::AtMostOnce, p.packet_id == 0);
                        }
                    }
                    Output::Close => {
                        closed = true;
                        owed.clear();
                    }
                }
            }
            if closed {
                prop_assert_eq!(client.state(), State::Disconnected);
            }
            while client.poll_event().is_some() {}
            check_invariants(&client, &config)?;
        }
    }
}
