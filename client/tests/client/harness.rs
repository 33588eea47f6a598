//! An in-memory harness: a client, a fake clock, and compact descriptions of what came out.

use std::time::Duration;

use bytes::Bytes;
use mqttsim_client::{Client, ClientConfig, Event, Output, State};
use mqttsim_codec::{
    Ack, ConnAck, Disconnect, Packet, Properties, Property, Publish, QoS, ReasonCode,
    RetainHandling, SubAck, SubscriptionOptions, UnsubAck,
};

/// A client driven by a fake clock.
pub struct Harness {
    pub client: Client,
    pub now: Duration,
}

impl Harness {
    pub fn new(config: ClientConfig) -> Harness {
        Harness { client: Client::new(config), now: Duration::ZERO }
    }

    /// A 3.1.1 device with a persistent session and no keep alive, so timers stay quiet.
    pub fn device() -> ClientConfig {
        let mut config = ClientConfig::new("dev-1");
        config.keep_alive = 0;
        config
    }

    /// A 5.0 device with a persistent session and no keep alive.
    pub fn device_v5() -> ClientConfig {
        Harness::device().v5()
    }

    /// Transport up and CONNACK; returns what the CONNACK produced (CONNECT excluded).
    pub fn connect(&mut self, session_present: bool) -> Vec<String> {
        self.connect_with(session_present, Vec::new())
    }

    /// Transport up and a 5.0 CONNACK with these properties; returns what the CONNACK produced.
    pub fn connect_with(
        &mut self,
        session_present: bool,
        properties: Vec<Property>,
    ) -> Vec<String> {
        self.client.handle_transport_up(self.now);
        let connect = self.out();
        assert_eq!(connect.len(), 1, "transport up sends exactly CONNECT: {connect:?}");
        assert!(connect[0].starts_with("CONNECT"), "{connect:?}");
        self.recv(Packet::ConnAck(ConnAck {
            session_present,
            reason_code: ReasonCode::SUCCESS,
            properties: Properties(properties),
        }));
        assert_eq!(self.client.state(), State::Connected);
        self.out()
    }

    pub fn recv(&mut self, packet: Packet) {
        self.client.handle_packet(self.now, packet);
    }

    /// Moves the clock to `at` seconds and fires the timer if it is due.
    pub fn at(&mut self, at: f64) {
        self.now = Duration::from_secs_f64(at);
        if self.client.poll_timeout().is_some_and(|deadline| deadline <= self.now) {
            self.client.handle_timeout(self.now);
        }
    }

    pub fn publish(&mut self, topic: &str, qos: u8) -> u64 {
        let qos = QoS::from_u8(qos).unwrap();
        let payload = Bytes::from(topic.to_owned().into_bytes());
        self.client.publish(self.now, topic.into(), payload, qos, false).unwrap().0
    }

    /// Every output since the last call, described compactly.
    pub fn out(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.client.poll_output()).map(|o| describe(&o)).collect()
    }

    /// Every output since the last call, as it is.
    pub fn raw_out(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.client.poll_output()).collect()
    }

    /// Every event since the last call.
    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    /// Drops events so a test can look at the next ones only.
    pub fn clear(&mut self) {
        self.out();
        self.events();
    }
}

/// One line per output: the packet type and the fields that matter to the client, then its
/// 5.0 properties in brackets when it has some.
pub fn describe(output: &Output) -> String {
    let packet = match output {
        Output::Close => return "CLOSE".into(),
        Output::Send(packet) => packet,
    };
    let properties = match packet {
        Packet::Connect(c) => &c.properties,
        Packet::ConnAck(c) => &c.properties,
        Packet::Publish(p) => &p.properties,
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            &a.properties
        }
        Packet::Subscribe(s) => &s.properties,
        Packet::SubAck(s) => &s.properties,
        Packet::Unsubscribe(u) => &u.properties,
        Packet::UnsubAck(u) => &u.properties,
        Packet::Disconnect(d) => &d.properties,
        Packet::Auth(a) => &a.properties,
        Packet::PingReq | Packet::PingResp => return describe_packet(packet),
    };
    let mut line = describe_packet(packet);
    if !properties.is_empty() {
        line.push_str(&format!(" [{}]", describe_properties(properties)));
    }
    if let Packet::Connect(c) = packet
        && let Some(will) = &c.will
    {
        line.push_str(&format!(" will={} q{}", will.topic, will.qos.as_u8()));
        if will.retain {
            line.push_str(" retain");
        }
        if !will.properties.is_empty() {
            line.push_str(&format!(" [{}]", describe_properties(&will.properties)));
        }
    }
    line
}

/// Properties in a compact form: `expiry=60 alias=1 k:v`.
pub fn describe_properties(properties: &Properties) -> String {
    let one = |p: &Property| match p {
        Property::PayloadFormatIndicator(v) => format!("utf8={v}"),
        Property::MessageExpiryInterval(v) => format!("expiry={v}"),
        Property::ContentType(v) => format!("content-type={v}"),
        Property::ResponseTopic(v) => format!("response-topic={v}"),
        Property::CorrelationData(v) => format!("correlation={}", String::from_utf8_lossy(v)),
        Property::SubscriptionIdentifier(v) => format!("sub-id={v}"),
        Property::SessionExpiryInterval(v) => format!("session-expiry={v}"),
        Property::ReceiveMaximum(v) => format!("receive-max={v}"),
        Property::MaximumPacketSize(v) => format!("max-packet={v}"),
        Property::TopicAliasMaximum(v) => format!("alias-max={v}"),
        Property::TopicAlias(v) => format!("alias={v}"),
        Property::WillDelayInterval(v) => format!("will-delay={v}"),
        Property::RequestResponseInformation(v) => format!("request-response={v}"),
        Property::RequestProblemInformation(v) => format!("request-problem={v}"),
        Property::ReasonString(v) => format!("reason={v:?}"),
        Property::UserProperty(k, v) => format!("{k}:{v}"),
        Property::ServerKeepAlive(v) => format!("server-keep-alive={v}"),
        Property::AssignedClientIdentifier(v) => format!("assigned-id={v}"),
        Property::MaximumQoS(v) => format!("max-qos={v}"),
        Property::RetainAvailable(v) => format!("retain-available={v}"),
        Property::WildcardSubscriptionAvailable(v) => format!("wildcards={v}"),
        Property::SubscriptionIdentifierAvailable(v) => format!("sub-ids={v}"),
        Property::SharedSubscriptionAvailable(v) => format!("shared={v}"),
        Property::ResponseInformation(v) => format!("response-info={v}"),
        Property::ServerReference(v) => format!("server-reference={v}"),
        other => format!("{other:?}"),
    };
    properties.iter().map(one).collect::<Vec<_>>().join(" ")
}

fn describe_options(options: &SubscriptionOptions) -> String {
    let mut text = options.qos.as_u8().to_string();
    if options.no_local {
        text.push_str("+nl");
    }
    if options.retain_as_published {
        text.push_str("+rap");
    }
    match options.retain_handling {
        RetainHandling::SendAtSubscribe => {}
        RetainHandling::SendIfNew => text.push_str("+rh1"),
        RetainHandling::DoNotSend => text.push_str("+rh2"),
    }
    text
}

fn describe_packet(packet: &Packet) -> String {
    match packet {
        Packet::Connect(c) => {
            format!("CONNECT id={} clean={} ka={}", c.client_id, c.clean_start as u8, c.keep_alive)
        }
        Packet::Publish(p) => {
            let mut line = format!(
                "PUBLISH q{} id={} dup={} {}",
                p.qos.as_u8(),
                p.packet_id,
                p.dup as u8,
                p.topic
            );
            if p.retain {
                line.push_str(" retain");
            }
            line
        }
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a)
            if a.reason_code != ReasonCode::SUCCESS =>
        {
            let name = format!("{:?}", packet.packet_type()).to_uppercase();
            format!("{name} {} {:?}", a.packet_id, a.reason_code)
        }
        Packet::PubAck(a) => format!("PUBACK {}", a.packet_id),
        Packet::PubRec(a) => format!("PUBREC {}", a.packet_id),
        Packet::PubRel(a) => format!("PUBREL {}", a.packet_id),
        Packet::PubComp(a) if a.reason_code == ReasonCode::SUCCESS => {
            format!("PUBCOMP {}", a.packet_id)
        }
        Packet::PubComp(a) => format!("PUBCOMP {} {:?}", a.packet_id, a.reason_code),
        Packet::Subscribe(s) => {
            let filters: Vec<String> = s
                .filters
                .iter()
                .map(|f| format!("{}:{}", f.filter, describe_options(&f.options)))
                .collect();
            format!("SUBSCRIBE id={} {}", s.packet_id, filters.join(","))
        }
        Packet::Unsubscribe(u) => format!("UNSUBSCRIBE id={} {}", u.packet_id, u.filters.join(",")),
        Packet::PingReq => "PINGREQ".into(),
        Packet::PingResp => "PINGRESP".into(),
        Packet::Disconnect(d) => format!("DISCONNECT {:?}", d.reason_code),
        Packet::ConnAck(c) => {
            format!("CONNACK present={} {:?}", c.session_present as u8, c.reason_code)
        }
        Packet::SubAck(s) => {
            let codes: Vec<String> =
                s.reason_codes.iter().map(|c| format!("{:02X}", c.0)).collect();
            format!("SUBACK id={} {}", s.packet_id, codes.join(","))
        }
        Packet::UnsubAck(u) => {
            let codes: Vec<String> =
                u.reason_codes.iter().map(|c| format!("{:02X}", c.0)).collect();
            format!("UNSUBACK id={} {}", u.packet_id, codes.join(","))
        }
        other => format!("{:?}", other.packet_type()),
    }
}

/// A PUBLISH from the server with 5.0 properties.
pub fn publish_with(qos: u8, packet_id: u16, topic: &str, properties: Vec<Property>) -> Packet {
    let Packet::Publish(mut p) = publish(qos, packet_id, topic, false) else { unreachable!() };
    p.properties = Properties(properties);
    Packet::Publish(p)
}

/// An acknowledgement with a reason code, by packet type.
pub fn ack_with(kind: mqttsim_codec::PacketType, id: u16, code: ReasonCode) -> Packet {
    let ack = Ack { packet_id: id, reason_code: code, properties: Properties::new() };
    match kind {
        mqttsim_codec::PacketType::PubAck => Packet::PubAck(ack),
        mqttsim_codec::PacketType::PubRec => Packet::PubRec(ack),
        mqttsim_codec::PacketType::PubRel => Packet::PubRel(ack),
        mqttsim_codec::PacketType::PubComp => Packet::PubComp(ack),
        other => panic!("{other:?} is not an acknowledgement"),
    }
}

/// A server DISCONNECT.
pub fn server_disconnect(code: ReasonCode, properties: Vec<Property>) -> Packet {
    Packet::Disconnect(Disconnect { reason_code: code, properties: Properties(properties) })
}

pub fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| s.to_string()).collect()
}

pub fn connack(session_present: bool, reason_code: ReasonCode) -> Packet {
    Packet::ConnAck(ConnAck { session_present, reason_code, properties: Properties::new() })
}

pub fn publish(qos: u8, packet_id: u16, topic: &str, dup: bool) -> Packet {
    Packet::Publish(Publish {
        dup,
        qos: QoS::from_u8(qos).unwrap(),
        retain: false,
        topic: topic.into(),
        packet_id,
        payload: Bytes::from_static(b"x"),
        properties: Properties::new(),
    })
}

pub fn puback(id: u16) -> Packet {
    Packet::PubAck(Ack::new(id))
}

pub fn pubrec(id: u16) -> Packet {
    Packet::PubRec(Ack::new(id))
}

pub fn pubrel(id: u16) -> Packet {
    Packet::PubRel(Ack::new(id))
}

pub fn pubcomp(id: u16) -> Packet {
    Packet::PubComp(Ack::new(id))
}

pub fn suback(id: u16, codes: &[u8]) -> Packet {
    Packet::SubAck(SubAck {
        packet_id: id,
        reason_codes: codes.iter().map(|&c| ReasonCode(c)).collect(),
        properties: Properties::new(),
    })
}

pub fn unsuback_v5(id: u16, codes: &[u8]) -> Packet {
    Packet::UnsubAck(UnsubAck {
        packet_id: id,
        reason_codes: codes.iter().map(|&c| ReasonCode(c)).collect(),
        properties: Properties::new(),
    })
}

pub fn unsuback(id: u16) -> Packet {
    Packet::UnsubAck(UnsubAck {
        packet_id: id,
        reason_codes: Vec::new(),
        properties: Properties::new(),
    })
}
