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
    Server(Box<Packet>),
    Advance(u16),
    TransportUp,
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
    prop_oneof![
        10 => server_packet().prop_map(|p| Step::Server(Box::new(p))),
        3 => (0u16..20_000).prop_map(Step::Advance),
        2 => Just(Step::TransportUp),
        1 => Just(Step::TransportDown),
        4 => (0u8..3).prop_map(Step::Publish),
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
        steps in prop::collection::vec(step(), 0..120),
    ) {
        let mut client = Client::new(config.clone());
        let mut now = Duration::ZERO;
        for step in steps {
            match step.clone() {
                Step::Server(packet) => client.handle_packet(now, *packet),
                Step::Advance(millis) => {
                    now += Duration::from_millis(u64::from(millis));
                    if client.poll_timeout().is_some_and(|t| t <= now) {
                        client.handle_timeout(now);
                    }
                }
                Step::TransportUp => client.handle_transport_up(now),
                Step::TransportDown => client.handle_transport_down(now),
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
            }
            let mut closed = false;
            let mut first = true;
            while let Some(output) = client.poll_output() {
                if std::mem::take(&mut first) && matches!(step, Step::TransportUp) {
                    prop_assert!(
                        matches!(output, Output::Send(Packet::Connect(_))),
                        "a new transport starts with CONNECT, not {:?}", output
                    );
                }
                match output {
                    Output::Send(Packet::Publish(p)) => {
                        prop_assert!(!closed, "PUBLISH after Close");
                        prop_assert_eq!(p.qos == QoS::AtMostOnce, p.packet_id == 0);
                    }
                    Output::Send(_) => prop_assert!(!closed, "packet after Close"),
                    Output::Close => closed = true,
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
