//! Property tests of a 5.0 client against a server that announces random limits and sends
//! random packets: no panic, and the client never exceeds the server's Receive Maximum or
//! Maximum Packet Size, never uses a QoS, RETAIN or topic alias the server ruled out
//! [MQTT-3.3.4-7, MQTT-3.2.2-15, MQTT-3.2.2-11, MQTT-3.2.2-14, MQTT-3.2.2-17, MQTT-3.2.2-18].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use mqttsim_client::{
    Client, ClientConfig, DisconnectOptions, LimitPolicy, MessageProperties, OfflineQos0, Output,
    State, SubscribeRequest,
};
use mqttsim_codec::{
    Ack, ConnAck, Disconnect, Packet, Properties, Property, Protocol, Publish, QoS, ReasonCode,
    RetainHandling, SubAck, SubscriptionOptions, UnsubAck, encoded_len,
};
use proptest::prelude::*;

use crate::props::answer;

/// What a server announces in CONNACK.
#[derive(Debug, Clone)]
struct Limits {
    receive_maximum: Option<u16>,
    maximum_packet_size: Option<u32>,
    topic_alias_maximum: Option<u16>,
    maximum_qos: Option<u8>,
    retain_available: Option<bool>,
}

impl Limits {
    fn properties(&self) -> Properties {
        let mut p = Properties::new();
        if let Some(v) = self.receive_maximum {
            p.push(Property::ReceiveMaximum(v));
        }
        if let Some(v) = self.maximum_packet_size {
            p.push(Property::MaximumPacketSize(v));
        }
        if let Some(v) = self.topic_alias_maximum {
            p.push(Property::TopicAliasMaximum(v));
        }
        if let Some(v) = self.maximum_qos {
            p.push(Property::MaximumQoS(v));
        }
        if let Some(v) = self.retain_available {
            p.push(Property::RetainAvailable(u8::from(v)));
        }
        p
    }

    /// The same limits read back from CONNACK properties, as a server would mean them.
    fn from_properties(properties: &Properties) -> Limits {
        let mut limits = Limits::none();
        for property in properties.iter() {
            match property {
                Property::ReceiveMaximum(v) => limits.receive_maximum = Some(*v),
                Property::MaximumPacketSize(v) => limits.maximum_packet_size = Some(*v),
                Property::TopicAliasMaximum(v) => limits.topic_alias_maximum = Some(*v),
                Property::MaximumQoS(v) => limits.maximum_qos = Some(*v),
                Property::RetainAvailable(v) => limits.retain_available = Some(*v != 0),
                _ => {}
            }
        }
        limits
    }

    fn none() -> Limits {
        Limits {
            receive_maximum: None,
            maximum_packet_size: None,
            topic_alias_maximum: None,
            maximum_qos: None,
            retain_available: None,
        }
    }
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        prop::option::of(1u16..5),
        prop::option::weighted(0.5, prop_oneof![1u32..8, 8u32..80, 80u32..400]),
        prop::option::of(0u16..4),
        prop::option::of(0u8..2),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(receive_maximum, maximum_packet_size, topic_alias_maximum, maximum_qos, retain)| {
                Limits {
                    receive_maximum,
                    maximum_packet_size,
                    topic_alias_maximum,
                    maximum_qos,
                    retain_available: retain,
                }
            },
        )
}

#[derive(Debug, Clone)]
enum Step {
    /// Any server packet, mostly nonsense.
    Server(Box<Packet>),
    /// A successful CONNACK with these limits, when one is awaited.
    Accept(bool, Limits),
    /// A well-behaved server answers one of the client's outstanding packets, with a code.
    Respond(usize, ReasonCode),
    /// A well-formed PUBLISH from the server, maybe with a topic alias.
    Inbound(QoS, u16, Option<u16>, bool),
    Advance(u16),
    TransportUp,
    TransportDown,
    /// topic index, QoS, RETAIN, payload size, Message Expiry Interval
    Publish(usize, u8, bool, usize, Option<u32>),
    Subscribe(bool, Option<u32>),
    Unsubscribe,
    Disconnect(ReasonCode),
}

const TOPICS: [&str; 4] = ["a", "b/long/topic/name", "c", "d/e"];

fn qos() -> impl Strategy<Value = QoS> {
    (0u8..3).prop_map(|q| QoS::from_u8(q).unwrap())
}

fn reason() -> impl Strategy<Value = ReasonCode> {
    prop_oneof![
        4 => Just(ReasonCode::SUCCESS),
        1 => Just(ReasonCode::NO_MATCHING_SUBSCRIBERS),
        1 => Just(ReasonCode::QUOTA_EXCEEDED),
        1 => Just(ReasonCode::SERVER_BUSY),
        1 => any::<u8>().prop_map(ReasonCode),
    ]
}

fn id() -> impl Strategy<Value = u16> {
    prop_oneof![4 => 0u16..8, 1 => any::<u16>()]
}

fn ack_properties() -> impl Strategy<Value = Properties> {
    prop_oneof![
        4 => Just(Properties::new()),
        1 => Just(Properties(vec![Property::ReasonString("why".into())])),
        1 => Just(Properties(vec![Property::UserProperty("k".into(), "v".into())])),
    ]
}

fn ack() -> impl Strategy<Value = Ack> {
    (id(), reason(), ack_properties()).prop_map(|(packet_id, reason_code, properties)| Ack {
        packet_id,
        reason_code,
        properties,
    })
}

fn server_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        2 => (any::<bool>(), reason(), limits()).prop_map(|(session_present, code, limits)| {
            Packet::ConnAck(ConnAck {
                session_present,
                reason_code: if code.0 % 2 == 0 { ReasonCode::SUCCESS } else { code },
                properties: limits.properties(),
            })
        }),
        3 => (qos(), id(), prop_oneof![Just(""), Just("t")], prop::option::of(0u16..5)).prop_map(
            |(qos, packet_id, topic, alias)| Packet::Publish(Publish {
                dup: false,
                qos,
                retain: false,
                topic: topic.into(),
                packet_id,
                payload: Bytes::new(),
                properties: Properties(alias.map(Property::TopicAlias).into_iter().collect()),
            })
        ),
        4 => ack().prop_map(Packet::PubAck),
        4 => ack().prop_map(Packet::PubRec),
        2 => ack().prop_map(Packet::PubRel),
        4 => ack().prop_map(Packet::PubComp),
        2 => (id(), prop::collection::vec(reason(), 0..3), ack_properties()).prop_map(
            |(packet_id, reason_codes, properties)| {
                Packet::SubAck(SubAck { packet_id, reason_codes, properties })
            }
        ),
        1 => (id(), prop::collection::vec(reason(), 0..3)).prop_map(|(packet_id, reason_codes)| {
            Packet::UnsubAck(UnsubAck { packet_id, reason_codes, properties: Properties::new() })
        }),
        1 => Just(Packet::PingResp),
        1 => (reason(), any::<bool>()).prop_map(|(reason_code, expiry)| {
            let properties = if expiry {
                Properties(vec![Property::SessionExpiryInterval(0)])
            } else {
                Properties::new()
            };
            Packet::Disconnect(Disconnect { reason_code, properties })
        }),
        1 => Just(Packet::Auth(Default::default())),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => server_packet().prop_map(|p| Step::Server(Box::new(p))),
        4 => (any::<bool>(), limits()).prop_map(|(present, limits)| Step::Accept(present, limits)),
        10 => (any::<usize>(), reason()).prop_map(|(i, code)| Step::Respond(i, code)),
        3 => (qos(), 1u16..6, prop::option::of(1u16..4), any::<bool>())
            .prop_map(|(q, id, alias, named)| Step::Inbound(q, id, alias, named)),
        3 => (0u16..5_000).prop_map(Step::Advance),
        3 => Just(Step::TransportUp),
        1 => Just(Step::TransportDown),
        8 => (0..TOPICS.len(), 0u8..3, any::<bool>(), 0usize..120, prop::option::of(1u32..4))
            .prop_map(|(t, q, r, size, expiry)| Step::Publish(t, q, r, size, expiry)),
        1 => (any::<bool>(), prop::option::of(1u32..3)).prop_map(|(nl, id)| Step::Subscribe(nl, id)),
        1 => Just(Step::Unsubscribe),
        1 => reason().prop_map(Step::Disconnect),
    ]
}

fn config() -> impl Strategy<Value = ClientConfig> {
    (
        (any::<bool>(), 0u16..6, 0usize..5, 0u16..20, 0u16..4),
        (0u16..4, 0u16..4, any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (clean, max_inflight, max_queued, keep_alive, inbound),
                (outbound_aliases, alias_maximum, refuse, problem, queue_qos0),
            )| {
                let mut config = ClientConfig::new("prop5").v5();
                config.clean_session = clean;
                config.max_inflight = max_inflight;
                config.max_queued = max_queued;
                config.keep_alive = keep_alive;
                config.max_inbound_qos2 = inbound;
                config.outbound_topic_aliases = outbound_aliases;
                config.topic_alias_maximum = alias_maximum;
                config.limit_policy =
                    if refuse { LimitPolicy::Refuse } else { LimitPolicy::Downgrade };
                config.request_problem_information = problem;
                config.offline_qos0 =
                    if queue_qos0 { OfflineQos0::Queue } else { OfflineQos0::Drop };
                config.connect_timeout = Duration::from_secs(3);
                config
            },
        )
}

/// The server's view of one connection: what it announced and what the client owes it.
#[derive(Debug)]
struct Server {
    limits: Limits,
    /// QoS 1 and 2 PUBLISHes received on this connection and not yet answered by PUBACK,
    /// PUBCOMP or a failed PUBREC: what Receive Maximum bounds.
    unacknowledged: BTreeSet<u16>,
    /// Topic aliases the client set up on this connection.
    aliases: BTreeMap<u16, String>,
}

impl Server {
    fn new() -> Server {
        Server { limits: Limits::none(), unacknowledged: BTreeSet::new(), aliases: BTreeMap::new() }
    }

    /// The server hands `packet` to the client.
    fn deliver(&mut self, packet: &Packet) {
        match packet {
            Packet::PubAck(a) | Packet::PubComp(a) => {
                self.unacknowledged.remove(&a.packet_id);
            }
            Packet::PubRec(a) if a.reason_code.is_error() => {
                self.unacknowledged.remove(&a.packet_id);
            }
            _ => {}
        }
    }

    /// Checks one packet the client sent after CONNACK.
    fn check(&mut self, packet: &Packet, config: &ClientConfig) -> Result<(), TestCaseError> {
        if let Some(max) = self.limits.maximum_packet_size {
            let size = encoded_len(packet, Protocol::V5).unwrap();
            prop_assert!(size <= max as usize, "{size}-byte {packet:?} above the maximum {max}");
        }
        let Packet::Publish(p) = packet else { return Ok(()) };
        prop_assert_eq!(p.qos == QoS::AtMostOnce, p.packet_id == 0);
        let maximum_qos =
            self.limits.maximum_qos.map_or(QoS::ExactlyOnce, |q| QoS::from_u8(q).unwrap());
        prop_assert!(p.qos <= maximum_qos, "QoS {:?} above the maximum {:?}", p.qos, maximum_qos);
        if p.retain {
            prop_assert!(self.limits.retain_available != Some(false), "RETAIN not available");
        }
        for property in p.properties.iter() {
            prop_assert!(!matches!(property, Property::SubscriptionIdentifier(_)));
        }
        let allowed =
            self.limits.topic_alias_maximum.unwrap_or(0).min(config.outbound_topic_aliases);
        match p.properties.topic_alias() {
            Some(alias) => {
                prop_assert!((1..=allowed).contains(&alias), "alias {alias} outside 1..={allowed}");
                if p.topic.is_empty() {
                    prop_assert!(self.aliases.contains_key(&alias), "alias {alias} never set up");
                } else {
                    self.aliases.insert(alias, p.topic.to_string());
                }
            }
            None => prop_assert!(!p.topic.is_empty(), "empty topic without alias"),
        }
        if p.qos != QoS::AtMostOnce {
            self.unacknowledged.insert(p.packet_id);
            let receive_maximum = usize::from(self.limits.receive_maximum.unwrap_or(u16::MAX));
            prop_assert!(
                self.unacknowledged.len() <= receive_maximum,
                "{} unacknowledged, Receive Maximum {receive_maximum}",
                self.unacknowledged.len()
            );
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_v5_client_keeps_every_server_limit_and_never_panics(
        config in config(),
        steps in prop::collection::vec(step(), 0..200),
    ) {
        let mut client = Client::new(config.clone());
        let mut server = Server::new();
        let mut now = Duration::ZERO;
        let mut owed: Vec<Packet> = Vec::new();
        let mut codes: Vec<ReasonCode> = Vec::new();
        for step in steps {
            let mut delivered = None;
            match step {
                Step::Server(packet) => delivered = Some(*packet),
                Step::Accept(session_present, limits) if client.state() == State::Connecting => {
                    delivered = Some(Packet::ConnAck(ConnAck {
                        session_present: session_present && !config.clean_session,
                        reason_code: ReasonCode::SUCCESS,
                        properties: limits.properties(),
                    }));
                }
                Step::Respond(index, code) => {
                    if !owed.is_empty() {
                        let index = index % owed.len();
                        let mut answer = owed.remove(index);
                        if let Packet::PubAck(a) | Packet::PubRec(a) = &mut answer {
                            a.reason_code = code;
                        }
                        codes.push(code);
                        delivered = Some(answer);
                    }
                }
                Step::Inbound(qos, packet_id, alias, named) if client.state() == State::Connected => {
                    let packet_id = if qos == QoS::AtMostOnce { 0 } else { packet_id };
                    let topic = if named || alias.is_none() { "in" } else { "" };
                    delivered = Some(Packet::Publish(Publish {
                        dup: false,
                        qos,
                        retain: false,
                        topic: topic.into(),
                        packet_id,
                        payload: Bytes::new(),
                        properties: Properties(alias.map(Property::TopicAlias).into_iter().collect()),
                    }));
                }
                Step::Advance(millis) => {
                    now += Duration::from_millis(u64::from(millis));
                    if client.poll_timeout().is_some_and(|t| t <= now) {
                        client.handle_timeout(now);
                    }
                }
                Step::TransportUp => {
                    owed.clear();
                    server = Server::new();
                    client.handle_transport_up(now);
                }
                Step::TransportDown => {
                    owed.clear();
                    server = Server::new();
                    client.handle_transport_down(now);
                }
                Step::Publish(topic, q, retain, size, expiry) => {
                    let qos = QoS::from_u8(q).unwrap();
                    let properties = MessageProperties {
                        message_expiry_interval: expiry,
                        ..MessageProperties::default()
                    };
                    let payload = Bytes::from(vec![b'p'; size]);
                    client
                        .publish_with(now, TOPICS[topic].into(), payload, qos, retain, &properties)
                        .unwrap();
                }
                Step::Subscribe(no_local, identifier) => {
                    let options = SubscriptionOptions {
                        qos: QoS::AtLeastOnce,
                        no_local,
                        retain_as_published: no_local,
                        retain_handling: RetainHandling::SendIfNew,
                    };
                    let mut request = SubscribeRequest::new(vec![("s/#".into(), options)]);
                    request.identifier = identifier;
                    let _ = client.subscribe_with(now, request);
                }
                Step::Unsubscribe => {
                    let _ = client.unsubscribe(now, vec!["s/#".into()]);
                }
                Step::Disconnect(code) => {
                    let _ = client.disconnect_with(now, DisconnectOptions::reason(code));
                }
                Step::Accept(..) | Step::Inbound(..) => {}
            }
            if let Some(packet) = delivered {
                let was_connecting = client.state() == State::Connecting;
                server.deliver(&packet);
                let connack = match &packet {
                    Packet::ConnAck(c) if was_connecting => Some(c.properties.clone()),
                    _ => None,
                };
                client.handle_packet(now, packet);
                if let Some(properties) = connack
                    && client.state() == State::Connected
                {
                    server.limits = Limits::from_properties(&properties);
                }
            }
            let mut closed = false;
            while let Some(output) = client.poll_output() {
                match output {
                    Output::Send(packet) => {
                        prop_assert!(!closed, "packet after Close");
                        if !matches!(packet, Packet::Connect(_)) {
                            server.check(&packet, &config)?;
                        }
                        if let Some(answer) = answer(&packet) {
                            owed.push(answer);
                        }
                    }
                    Output::Close => {
                        closed = true;
                        owed.clear();
                        server = Server::new();
                    }
                }
            }
            if closed {
                prop_assert_eq!(client.state(), State::Disconnected);
            }
            while client.poll_event().is_some() {}
            prop_assert!(client.inflight_len() <= usize::from(config.max_inflight.max(1)));
            prop_assert!(client.queued_len() <= config.max_queued);
            prop_assert!(client.quota_used() <= client.window());
        }
    }
}
